/* SPDX-License-Identifier: Apache-2.0
 * fuzz_merge_patch.c - JSON merge patch (RFC 7386, api_merge_patch), as PATCH
 * with application/merge-patch+json and /scale run it. The input is the
 * patch (an object, as the server requires), applied to a copy of a fixed
 * Pod; "<target>\0<patch>" patches <target> when that parses as an object.
 * Checks that the patch is left as it was and that a merge patch is
 * idempotent (applying it again changes nothing). */
#include "api/api-internal.h"
#include "fuzz.h"

static const char fixed_pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"default\",\"labels\":{\"app\":\"web\"},\"annotations\":{\"a\":\"b\"}},"
    "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}],"
    "\"securityContext\":{\"runAsUser\":1000,\"sysctls\":[{\"name\":\"x\",\"value\":\"1\"}]}},"
    "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    json_t *target = NULL, *patch, *patch_copy, *again;

    if (fuzz_split(data, size, &a, &a_len, &b, &b_len)) {
        target = json_loadb((const char *)a, a_len, 0, NULL);
        patch = json_loadb((const char *)b, b_len, 0, NULL);
        if (!json_is_object(target)) {
            json_decref(target);
            target = NULL;
        }
    } else {
        patch = json_loadb((const char *)a, a_len, 0, NULL);
    }
    if (!target)
        target = json_loads(fixed_pod, 0, NULL);
    if (!json_is_object(patch) || !target) {
        json_decref(target);
        json_decref(patch);
        return 0;
    }
    patch_copy = json_deep_copy(patch);
    api_merge_patch(target, patch);
    FUZZ_CHECK(json_equal(patch, patch_copy), "the patch was modified");
    /* The result may share values with the patch (json_object_set): copy it
     * before patching again so the check cannot alias. */
    again = json_deep_copy(target);
    api_merge_patch(again, patch);
    FUZZ_CHECK(json_equal(again, target), "merge patch is not idempotent");
    FUZZ_CHECK(json_equal(patch, patch_copy), "the patch was modified");
    json_decref(again);
    json_decref(patch_copy);
    json_decref(target);
    json_decref(patch);
    return 0;
}
