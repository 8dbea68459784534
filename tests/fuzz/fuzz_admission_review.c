/* SPDX-License-Identifier: Apache-2.0
 * fuzz_admission_review.c - what an admission webhook answers
 * (admission_response_parse, issue #17): a webhook is a pod, so anyone who
 * can run one chooses these bytes. Checks that a parse either fails with
 * INVALID and leaves nothing behind, or gives a boolean answer whose patch
 * is a JSON array and whose warnings are strings; a patch is then applied
 * to a fixed object as the dispatcher would. */
#include "admission/admission-internal.h"
#include "api/api-patch.h"
#include "fuzz.h"

static const char object[] = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                             "\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[]}}";

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
    struct admission_response r;
    struct k3c_err err = {0};
    size_t i;
    json_t *w;

    if (admission_response_parse((const char *)data, size, "uid-1", &r, &err) < 0) {
        FUZZ_CHECK(err.kind == K3C_E_INVALID, "a bad reply is INVALID");
        FUZZ_CHECK(!r.patch && !r.warnings, "a failed parse keeps nothing");
        return 0;
    }
    FUZZ_CHECK(!r.patch || json_is_array(r.patch), "a patch is an array");
    json_array_foreach(r.warnings, i, w)
    {
        FUZZ_CHECK(json_is_string(w), "warnings are strings");
    }
    if (r.patch) {
        json_t *obj = json_loads(object, 0, NULL);
        struct k3c_err perr = {0};
        json_t *out = api_json_patch(obj, r.patch, &perr);

        json_decref(out);
        json_decref(obj);
    }
    admission_response_fini(&r);
    return 0;
}
