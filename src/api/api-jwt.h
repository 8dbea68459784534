/* SPDX-License-Identifier: Apache-2.0
 * api-jwt.h - compact JWS (RFC 7515) with ES256 over GnuTLS, for the
 * service-account tokens (api_satoken.c): signing, and parsing plus
 * verification of untrusted tokens (fuzzed: tests/fuzz/fuzz_jwt.c). */
#ifndef K3C_API_JWT_H
#define K3C_API_JWT_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

struct jwt_key; /* an EC P-256 key pair (or a public key only) */

/* Generates a new P-256 private key as PEM (caller frees), NULL on failure. */
char *jwt_key_generate_pem(struct k3c_err *err);
/* Loads a PEM private key. */
struct jwt_key *jwt_key_from_pem(const char *pem, struct k3c_err *err);
void jwt_key_free(struct jwt_key *k);
/* The key id (base64url of the SHA-256 of the DER public key, as upstream). */
const char *jwt_key_id(const struct jwt_key *k);
/* The public key as one JWK {"use":"sig","kty":"EC","kid","crv","alg","x","y"}. */
json_t *jwt_key_jwk(const struct jwt_key *k);

/* header.claims.signature with {"alg":"ES256","kid":...}; caller frees. */
char *jwt_sign(const struct jwt_key *k, const json_t *claims, struct k3c_err *err);
/* Pure parse: splits a compact JWS, decodes header and claims (new
 * references), and returns the signing input length and the raw signature.
 * INVALID for anything malformed. */
int jwt_parse(const char *token, json_t **header, json_t **claims, size_t *signed_len,
              unsigned char sig[64], struct k3c_err *err);
/* Parses and checks the signature with k (alg ES256, kid of k). Returns the
 * claims (a new reference) or NULL with UNAUTHORIZED/INVALID. The claims'
 * meaning (exp, aud, iss) is the caller's. */
json_t *jwt_verify(const struct jwt_key *k, const char *token, struct k3c_err *err);

/* base64url without padding; caller frees. */
char *jwt_b64url_encode(const void *data, size_t len);
/* Decodes base64url (padding optional); NULL when not base64url. */
char *jwt_b64url_decode(const char *s, size_t n, size_t *len_out);

#endif
