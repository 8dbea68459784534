/* SPDX-License-Identifier: Apache-2.0
 * api_jwt.c - compact JWS with ES256 (ECDSA P-256, SHA-256) through
 * GnuTLS. JWS carries the signature as raw r||s (32 bytes each); GnuTLS
 * signs and verifies DER, so the two are converted with
 * gnutls_encode/decode_rs_value. Tokens come from anyone who can reach the
 * API: every length is checked before use and nothing is trusted before
 * the signature is. */
#include "api/api-jwt.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#define JWT_MAX_LEN 16384

struct jwt_key {
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
    char kid[64];
};

char *
jwt_b64url_encode(const void *data, size_t len)
{
    char *s = k3c_base64_encode(data, len);

    for (char *p = s; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=') {
            *p = '\0';
            break;
        }
    }
    return s;
}

char *
jwt_b64url_decode(const char *s, size_t n, size_t *len_out)
{
    _cleanup_free_ char *std = NULL;
    size_t i;

    if (n > JWT_MAX_LEN || n % 4 == 1)
        return NULL;
    std = k3c_xcalloc(1, n + 4);
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return NULL;
        std[i] = c;
    }
    while (i % 4)
        std[i++] = '=';
    return k3c_base64_decode(std, len_out);
}

char *
jwt_key_generate_pem(struct k3c_err *err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_datum_t out = {0};
    char *pem = NULL;
    int rc = gnutls_x509_privkey_init(&key);

    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out);
    if (rc >= 0)
        pem = k3c_xstrndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (!pem)
        k3c_err_set(err, K3C_E_INTERNAL, "service-account key: %s", gnutls_strerror(rc));
    return pem;
}

static int
key_id(struct jwt_key *k)
{
    gnutls_datum_t der = {0};
    unsigned char digest[32];
    _cleanup_free_ char *b64 = NULL;
    int rc = gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_DER, &der);

    if (rc < 0)
        return rc;
    rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest);
    gnutls_free(der.data);
    if (rc < 0)
        return rc;
    b64 = jwt_b64url_encode(digest, sizeof(digest));
    snprintf(k->kid, sizeof(k->kid), "%s", b64);
    return 0;
}

struct jwt_key *
jwt_key_from_pem(const char *pem, struct k3c_err *err)
{
    struct jwt_key *k = k3c_xcalloc(1, sizeof(*k));
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    int rc = gnutls_privkey_init(&k->priv);

    if (rc >= 0)
        rc = gnutls_privkey_import_x509_raw(k->priv, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc >= 0 && gnutls_privkey_get_pk_algorithm(k->priv, NULL) != GNUTLS_PK_ECDSA)
        rc = GNUTLS_E_UNKNOWN_PK_ALGORITHM;
    if (rc >= 0)
        rc = gnutls_pubkey_init(&k->pub);
    if (rc >= 0)
        rc = gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0);
    if (rc >= 0)
        rc = key_id(k);
    if (rc < 0) {
        jwt_key_free(k);
        k3c_err_set(err, K3C_E_INVALID, "service-account key: %s (want an EC P-256 key)",
                    gnutls_strerror(rc));
        return NULL;
    }
    return k;
}

void
jwt_key_free(struct jwt_key *k)
{
    if (!k)
        return;
    if (k->pub)
        gnutls_pubkey_deinit(k->pub);
    if (k->priv)
        gnutls_privkey_deinit(k->priv);
    free(k);
}

const char *
jwt_key_id(const struct jwt_key *k)
{
    return k->kid;
}

json_t *
jwt_key_jwk(const struct jwt_key *k)
{
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {0}, y = {0};
    _cleanup_free_ char *xs = NULL, *ys = NULL;

    if (gnutls_pubkey_export_ecc_raw2(k->pub, &curve, &x, &y, GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
        return NULL;
    xs = jwt_b64url_encode(x.data, x.size);
    ys = jwt_b64url_encode(y.data, y.size);
    gnutls_free(x.data);
    gnutls_free(y.data);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "use", "sig", "kty", "EC", "kid",
                     k->kid, "crv", "P-256", "alg", "ES256", "x", xs, "y", ys);
}

/* A DER (r, s) integer as exactly 32 big-endian bytes. */
static bool
fixed32(const gnutls_datum_t *v, unsigned char out[32])
{
    const unsigned char *p = v->data;
    size_t n = v->size;

    while (n > 32 && *p == 0) {
        p++;
        n--;
    }
    if (n > 32)
        return false;
    memset(out, 0, 32 - n);
    memcpy(out + 32 - n, p, n);
    return true;
}

char *
jwt_sign(const struct jwt_key *k, const json_t *claims, struct k3c_err *err)
{
    _cleanup_json_ json_t *header = json_pack("{s:s, s:s}", "alg", "ES256", "kid", k->kid);
    _cleanup_free_ char *h = json_dumps(header, JSON_COMPACT);
    _cleanup_free_ char *c = json_dumps(claims, JSON_COMPACT);
    _cleanup_free_ char *hb = jwt_b64url_encode(h, strlen(h));
    _cleanup_free_ char *cb = jwt_b64url_encode(c, strlen(c));
    _cleanup_free_ char *input = k3c_xasprintf("%s.%s", hb, cb);
    _cleanup_free_ char *sb = NULL;
    gnutls_datum_t data = {(unsigned char *)input, (unsigned)strlen(input)};
    gnutls_datum_t sig = {0}, r = {0}, s = {0};
    unsigned char raw[64];
    bool ok = false;

    if (gnutls_privkey_sign_data2(k->priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig) >= 0 &&
        gnutls_decode_rs_value(&sig, &r, &s) >= 0)
        ok = fixed32(&r, raw) && fixed32(&s, raw + 32);
    gnutls_free(sig.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    if (!ok) {
        k3c_err_set(err, K3C_E_INTERNAL, "signing a service-account token failed");
        return NULL;
    }
    sb = jwt_b64url_encode(raw, sizeof(raw));
    return k3c_xasprintf("%s.%s", input, sb);
}

static json_t *
decode_part(const char *s, size_t n)
{
    size_t len = 0;
    _cleanup_free_ char *raw = jwt_b64url_decode(s, n, &len);
    json_t *v = raw ? json_loadb(raw, len, JSON_REJECT_DUPLICATES, NULL) : NULL;

    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int
jwt_parse(const char *token, json_t **header, json_t **claims, size_t *signed_len,
          unsigned char sig[64], struct k3c_err *err)
{
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    _cleanup_free_ char *raw_sig = NULL;
    size_t sig_len = 0;

    *header = *claims = NULL;
    if (strlen(token) > JWT_MAX_LEN || !dot1 || !dot2 || strchr(dot2 + 1, '.'))
        return k3c_err_set(err, K3C_E_INVALID, "not a compact JWS");
    raw_sig = jwt_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    if (!raw_sig || sig_len != 64)
        return k3c_err_set(err, K3C_E_INVALID, "bad ES256 signature encoding");
    memcpy(sig, raw_sig, 64);
    *header = decode_part(token, (size_t)(dot1 - token));
    *claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!*header || !*claims) {
        json_decref(*header);
        json_decref(*claims);
        *header = *claims = NULL;
        return k3c_err_set(err, K3C_E_INVALID, "bad JWS header or claims");
    }
    *signed_len = (size_t)(dot2 - token);
    return 0;
}

json_t *
jwt_verify(const struct jwt_key *k, const char *token, struct k3c_err *err)
{
    _cleanup_json_ json_t *header = NULL;
    json_t *claims = NULL;
    unsigned char sig[64];
    size_t signed_len = 0;
    gnutls_datum_t r = {sig, 32}, s = {sig + 32, 32}, der = {0};
    gnutls_datum_t data;
    const char *alg, *kid;
    int rc;

    if (jwt_parse(token, &header, &claims, &signed_len, sig, err) < 0)
        return NULL;
    alg = json_string_value(json_object_get(header, "alg"));
    kid = json_string_value(json_object_get(header, "kid"));
    if (!alg || strcmp(alg, "ES256") != 0 || (kid && strcmp(kid, k->kid) != 0)) {
        json_decref(claims);
        k3c_err_set(err, K3C_E_INVALID, "token not signed by this cluster's key");
        return NULL;
    }
    data = (gnutls_datum_t){(unsigned char *)token, (unsigned)signed_len};
    rc = gnutls_encode_rs_value(&der, &r, &s);
    if (rc >= 0)
        rc = gnutls_pubkey_verify_data2(k->pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der);
    gnutls_free(der.data);
    if (rc < 0) {
        json_decref(claims);
        k3c_err_set(err, K3C_E_INVALID, "bad token signature");
        return NULL;
    }
    return claims;
}
