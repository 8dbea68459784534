/* SPDX-License-Identifier: Apache-2.0
 * fuzz_json_patch.c - RFC 6902 JSON Patch (api_json_patch). The input is
 * "<doc>\0<ops>": both parsed with jansson; without a NUL the whole input is
 * the ops, applied to a fixed Pod-like document. Checks that the inputs are
 * left as they were (they are borrowed). */
#include "api/api-patch.h"
#include "fuzz.h"

static const char fixed_doc[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"default\",\"labels\":{\"app\":\"web\",\"a/b\":\"c~d\"},\"finalizers\":[\"x\",\"y\"]},"
    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":"
    "80}]}],\"tolerations\":[]},\"status\":{\"phase\":\"Pending\",\"n\":1,\"f\":1.5,\"t\":true,"
    "\"z\":null}}";

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
    json_t *doc, *ops, *doc_copy, *ops_copy, *out;
    struct k3c_err err = {0};

    if (fuzz_split(data, size, &a, &a_len, &b, &b_len)) {
        doc = json_loadb((const char *)a, a_len, JSON_DECODE_ANY, NULL);
        ops = json_loadb((const char *)b, b_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    } else {
        doc = json_loads(fixed_doc, 0, NULL);
        ops = json_loadb((const char *)a, a_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    }
    if (!doc || !ops) {
        json_decref(doc);
        json_decref(ops);
        return 0;
    }
    doc_copy = json_deep_copy(doc);
    ops_copy = json_deep_copy(ops);
    out = api_json_patch(doc, ops, &err);
    if (out) {
        /* The result must be a well-formed value jansson can print. */
        char *s = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);

        FUZZ_CHECK(s != NULL, "the result does not serialise");
        free(s);
        json_decref(out);
    } else {
        FUZZ_CHECK(err.kind == K3C_E_BAD_REQUEST || err.kind == K3C_E_INVALID,
                   "a failure other than BAD_REQUEST or INVALID");
    }
    FUZZ_CHECK(json_equal(doc, doc_copy), "doc was modified");
    FUZZ_CHECK(json_equal(ops, ops_copy), "ops were modified");
    json_decref(doc_copy);
    json_decref(ops_copy);
    json_decref(doc);
    json_decref(ops);
    return 0;
}
