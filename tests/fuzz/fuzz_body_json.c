/* SPDX-License-Identifier: Apache-2.0
 * fuzz_body_json.c - a JSON request body for a Pod, as create/update decode
 * it: jansson with JSON_REJECT_DUPLICATES (and again without, as the Warn
 * and Ignore field validation modes do), then api_openapi_unknown_fields with
 * prune. Checks that pruning leaves no unknown field behind, and that
 * k3c's JSON fast paths (issue #20), which create and update use, agree with
 * jansson byte for byte: k3c_json_loadb gives json_loadb's tree or its
 * error, api_json_dump_compact writes json_dumps' text. */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "fuzz.h"

/* k3c_json_loadb against json_loadb with flags, and the writer against
 * json_dumps on what was parsed. */
static void
check_fast_paths(const char *data, size_t size, size_t flags)
{
    json_error_t want_err, got_err;
    json_t *want = json_loadb(data, size, flags, &want_err);
    json_t *got = k3c_json_loadb(data, size, flags, &got_err);

    FUZZ_CHECK(!want == !got, "k3c_json_loadb and json_loadb disagree on success");
    if (!want) {
        FUZZ_CHECK(strcmp(want_err.text, got_err.text) == 0 && want_err.line == got_err.line &&
                       want_err.column == got_err.column,
                   "k3c_json_loadb's error is not jansson's");
        return;
    }
    FUZZ_CHECK(json_equal(want, got), "k3c_json_loadb built another tree");
    {
        char *a = json_dumps(want, JSON_COMPACT);
        struct k3c_buf b;

        k3c_buf_init(&b);
        FUZZ_CHECK(api_json_dump_compact(&b, got) == (a != NULL),
                   "api_json_dump_compact and json_dumps disagree on success");
        FUZZ_CHECK(!a || strcmp(a, b.data) == 0, "api_json_dump_compact wrote other bytes");
        free(a);
        k3c_buf_fini(&b);
    }
    json_decref(want);
    json_decref(got);
}

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

    check_fast_paths((const char *)data, size, JSON_REJECT_DUPLICATES);
    check_fast_paths((const char *)data, size, 0);
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
