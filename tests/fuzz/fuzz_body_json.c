/* SPDX-License-Identifier: Apache-2.0
 * fuzz_body_json.c - a JSON request body for a Pod, as create/update decode
 * it: jansson with JSON_REJECT_DUPLICATES (and again without, as the Warn
 * and Ignore field validation modes do), then api_openapi_unknown_fields with
 * prune. Checks that pruning leaves no unknown field behind. */
#include "api/api-internal.h"
#include "fuzz.h"

static const struct api_resource *pod_res;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    pod_res = api_resource_find("", "v1", "pods");
    FUZZ_CHECK(pod_res && api_openapi_kind_schema(pod_res), "no schema for v1 Pod");
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    json_t *unknown, *left;

    if (!obj && strstr(jerr.text, "duplicate object key"))
        obj = json_loadb((const char *)data, size, 0, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    unknown = json_array();
    left = json_array();
    api_openapi_unknown_fields(pod_res, obj, unknown, true);
    api_openapi_unknown_fields(pod_res, obj, left, false);
    FUZZ_CHECK(json_array_size(left) == 0, "prune left unknown fields behind");
    json_decref(left);
    json_decref(unknown);
    json_decref(obj);
    return 0;
}
