/* SPDX-License-Identifier: Apache-2.0
 * fuzz_jwt.c - the service-account token parser and verifier (jwt_parse,
 * jwt_verify in api_jwt.c): any client can send any bearer token. The
 * input is the token. Properties: parse and verify agree on what is
 * malformed; nothing the fuzzer makes verifies under a fresh key (no
 * forgery); a token this key signed verifies and gives its claims back. */
#include "api/api-jwt.h"
#include "base/util.h"
#include "fuzz.h"

static struct jwt_key *key;
static char *good; /* a token signed by key */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct k3c_err err = {0};
    char *pem = NULL;
    json_t *claims = json_pack("{s:s, s:i}", "sub", "system:serviceaccount:a:b", "exp", 4102444800);

    (void)argc;
    (void)argv;
    fuzz_quiet();
    pem = jwt_key_generate_pem(&err);
    key = pem ? jwt_key_from_pem(pem, &err) : NULL;
    free(pem);
    FUZZ_CHECK(key, "key");
    good = jwt_sign(key, claims, &err);
    FUZZ_CHECK(good, "sign");
    json_decref(claims);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = k3c_xstrndup((const char *)data, size);
    json_t *header = NULL, *claims = NULL, *verified = NULL;
    unsigned char sig[64];
    size_t signed_len = 0;
    struct k3c_err err = {0};
    int parsed = jwt_parse(token, &header, &claims, &signed_len, sig, &err);

    verified = jwt_verify(key, token, &err);
    FUZZ_CHECK(!verified || parsed == 0, "verified what does not parse");
    if (verified)
        FUZZ_CHECK(strcmp(token, good) == 0 || strncmp(token, good, signed_len) == 0,
                   "a token the fuzzer made verified");
    json_decref(header);
    json_decref(claims);
    json_decref(verified);
    free(token);
    /* the round trip */
    verified = jwt_verify(key, good, &err);
    FUZZ_CHECK(verified && json_object_get(verified, "sub"), "a signed token did not verify");
    json_decref(verified);
    return 0;
}
