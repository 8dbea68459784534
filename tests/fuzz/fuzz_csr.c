/* SPDX-License-Identifier: Apache-2.0
 * fuzz_csr.c - CertificateSigningRequest input (issue #15): any user who may
 * create a CSR sends any spec.request. The input is the decoded request
 * (PEM text or junk). Properties: pki_csr_parse never reads past the input
 * and gives NUL-terminated, bounded fields; parsing twice agrees; the API's
 * validation of a CSR carrying the input (base64 in spec.request) either
 * accepts it exactly when the parser does or names spec.request. */
#include "api/api-internal.h"
#include "base/util.h"
#include "fuzz.h"
#include "pki/pki.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static bool
causes_name_request(const json_t *causes)
{
    size_t i;
    const json_t *c;

    json_array_foreach(causes, i, c)
    {
        const char *f = json_string_value(json_object_get(c, "field"));

        if (f && strcmp(f, "spec.request") == 0)
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *pem = k3c_xstrndup((const char *)data, size); /* the API decodes to a string */
    struct pki_csr_info a, b;
    struct k3c_err err = {0};
    int rc = pki_csr_parse(pem, strlen(pem), &a, &err);
    char *b64;
    json_t *obj, *causes;

    k3c_err_clear(&err);
    FUZZ_CHECK(pki_csr_parse(pem, strlen(pem), &b, &err) == rc, "parse is deterministic");
    if (rc == 0) {
        FUZZ_CHECK(memchr(a.common_name, '\0', sizeof(a.common_name)), "CN terminated");
        FUZZ_CHECK(a.n_organizations >= 0 && a.n_organizations <= 8, "O count bounded");
        for (int i = 0; i < a.n_organizations; i++)
            FUZZ_CHECK(memchr(a.organizations[i], '\0', sizeof(a.organizations[i])),
                       "O terminated");
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0, "same result twice");
    }
    b64 = k3c_base64_encode(pem, strlen(pem));
    obj = json_pack("{s:{s:s, s:s, s:[s]}}", "spec", "request", b64, "signerName",
                    "example.com/signer", "usages", "client auth");
    causes = json_array();
    api_validate_csr(obj, NULL, causes);
    FUZZ_CHECK(
        causes_name_request(causes) ==
            (rc < 0 || !strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----") || strlen(pem) == 0),
        "validation refuses spec.request exactly when the parser does");
    json_decref(causes);
    json_decref(obj);
    free(b64);
    free(pem);
    return 0;
}
