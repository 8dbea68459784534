/* SPDX-License-Identifier: Apache-2.0
 * fuzz_protobuf.c - Kubernetes protobuf request bodies (api_protobuf_decode):
 * the input is the body as POSTed with application/vnd.kubernetes.protobuf.
 * A decoded object must be a JSON object that serialises. */
#include "api/api-protobuf.h"
#include "fuzz.h"

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
    struct k3c_err err = {0};
    json_t *obj = api_protobuf_decode(data, size, &err);

    if (obj) {
        char *s = json_dumps(obj, JSON_COMPACT);

        FUZZ_CHECK(json_is_object(obj), "the decoded body is not an object");
        FUZZ_CHECK(s != NULL, "the decoded body does not serialise");
        free(s);
        json_decref(obj);
    } else {
        FUZZ_CHECK(err.kind == K3C_E_BAD_REQUEST, "a failure other than BAD_REQUEST");
    }
    return 0;
}
