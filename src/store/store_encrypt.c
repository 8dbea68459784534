/* SPDX-License-Identifier: Apache-2.0
 * store_encrypt.c - Secrets encrypted at rest with upstream's aescbc format
 * (see store_encrypt.h). GnuTLS does AES-256-CBC and the random bytes. */
#include "store/store_encrypt.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "store"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define ENC_KEY_LEN    32
#define ENC_BLOCK      16
#define ENC_MAX_KEYS   8
#define SECRETS_PREFIX "/registry/secrets/"

struct enc_key {
    char name[64];
    unsigned char bytes[ENC_KEY_LEN];
    size_t len; /* 16, 24 or 32 */
};

struct enc_state {
    struct enc_key keys[ENC_MAX_KEYS];
    size_t n;
    bool encrypt;
};

/* Published whole once set up (the store's threads may already run while a
 * joining server sets it up): readers see NULL or a complete state. */
static _Atomic(struct enc_state *) current;

static void
state_free(struct enc_state *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof(*st));
    free(st);
}

void
store_encryption_reset(void)
{
    state_free(atomic_exchange(&current, NULL));
}

bool
store_encryption_active(const char **key_name)
{
    const struct enc_state *st = atomic_load(&current);

    if (key_name)
        *key_name = st && st->n ? st->keys[0].name : NULL;
    return st && st->encrypt && st->n > 0;
}

static int
write_new_config(const char *path, struct k3c_err *err)
{
    unsigned char key[ENC_KEY_LEN];
    _cleanup_free_ char *b64 = NULL, *text = NULL;
    _cleanup_json_ json_t *doc = NULL;

    if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) < 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "no random bytes for the secrets encryption key");
    b64 = k3c_base64_encode(key, sizeof(key));
    memset(key, 0, sizeof(key));
    doc = json_pack("{s:s, s:s, s:[{s:[s], s:[{s:{s:[{s:s, s:s}]}}, {s:{}}]}]}", "kind",
                    "EncryptionConfiguration", "apiVersion", "apiserver.config.k8s.io/v1",
                    "resources", "resources", "secrets", "providers", "aescbc", "keys", "name",
                    "aescbckey", "secret", b64, "identity");
    text = json_dumps(doc, JSON_INDENT(2));
    if (!text)
        return k3c_err_set(err, K3C_E_INTERNAL, "cannot encode %s", path);
    return k3c_write_file(path, text, strlen(text), 0600, err);
}

static int
load_key(struct enc_state *st, const json_t *k, const char *path, struct k3c_err *err)
{
    const char *name = json_string_value(json_object_get(k, "name"));
    const char *secret = json_string_value(json_object_get(k, "secret"));
    struct enc_key *e = &st->keys[st->n];
    size_t len = 0;
    _cleanup_free_ char *raw = NULL;

    if (st->n >= ENC_MAX_KEYS)
        return k3c_err_set(err, K3C_E_INVALID, "%s: more than %d keys", path, ENC_MAX_KEYS);
    if (!name || !*name || strlen(name) >= sizeof(e->name) || strchr(name, ':') || !secret)
        return k3c_err_set(err, K3C_E_INVALID, "%s: an aescbc key needs a name and a secret", path);
    raw = k3c_base64_decode(secret, &len);
    if (!raw || (len != 16 && len != 24 && len != 32))
        return k3c_err_set(err, K3C_E_INVALID,
                           "%s: key %s is not 16, 24 or 32 base64-encoded bytes", path, name);
    snprintf(e->name, sizeof(e->name), "%s", name);
    memcpy(e->bytes, raw, len);
    e->len = len;
    memset(raw, 0, len);
    st->n++;
    return 0;
}

int
store_encryption_setup(const char *path, bool create, bool encrypt, struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = NULL;
    struct enc_state *st;
    json_error_t jerr;
    size_t i, j, k;
    json_t *res, *prov, *key;

    if (!k3c_file_exists(path)) {
        if (!create)
            return 0;
        if (write_new_config(path, err) < 0)
            return -1;
        log_info("secrets encryption: new key in %s", path);
    }
    doc = json_load_file(path, 0, &jerr);
    if (!json_is_object(doc))
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s", path, jerr.text);
    st = k3c_xcalloc(1, sizeof(*st));
    json_array_foreach(json_object_get(doc, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "providers"), j, prov)
        {
            json_array_foreach(json_object_get(json_object_get(prov, "aescbc"), "keys"), k, key)
            {
                if (load_key(st, key, path, err) < 0) {
                    state_free(st);
                    return -1;
                }
            }
        }
    }
    if (encrypt && st->n == 0) {
        state_free(st);
        return k3c_err_set(err, K3C_E_INVALID, "%s has no aescbc key", path);
    }
    st->encrypt = encrypt;
    state_free(atomic_exchange(&current, st)); /* set once per process outside tests */
    return 0;
}

static bool
is_secret_key(const char *key)
{
    return key && strncmp(key, SECRETS_PREFIX, strlen(SECRETS_PREFIX)) == 0;
}

static gnutls_cipher_algorithm_t
cbc_of(size_t key_len)
{
    return key_len == 16   ? GNUTLS_CIPHER_AES_128_CBC
           : key_len == 24 ? GNUTLS_CIPHER_AES_192_CBC
                           : GNUTLS_CIPHER_AES_256_CBC;
}

char *
store_value_seal(const char *key, const void *value, size_t len, size_t *out_len)
{
    const struct enc_state *st = atomic_load(&current);
    const struct enc_key *k;
    size_t plen, padded = (len / ENC_BLOCK + 1) * ENC_BLOCK;
    unsigned char *out, *iv, *body;
    gnutls_cipher_hd_t h = NULL;
    gnutls_datum_t kd, ivd;
    int rc;

    if (!st || !st->encrypt || st->n == 0 || !is_secret_key(key))
        return NULL;
    k = &st->keys[0];
    plen = strlen(STORE_ENC_PREFIX) + strlen(k->name) + 1;
    kd = (gnutls_datum_t){(unsigned char *)k->bytes, (unsigned)k->len};
    out = k3c_xmalloc(plen + ENC_BLOCK + padded);
    snprintf((char *)out, plen + 1, "%s%s:", STORE_ENC_PREFIX, k->name);
    iv = out + plen;
    body = iv + ENC_BLOCK;
    memcpy(body, value, len);
    memset(body + len, (int)(padded - len), padded - len); /* PKCS#7 */
    ivd = (gnutls_datum_t){iv, ENC_BLOCK};
    rc = gnutls_rnd(GNUTLS_RND_NONCE, iv, ENC_BLOCK);
    if (rc >= 0)
        rc = gnutls_cipher_init(&h, cbc_of(k->len), &kd, &ivd);
    if (rc >= 0)
        rc = gnutls_cipher_encrypt(h, body, padded);
    if (h)
        gnutls_cipher_deinit(h);
    if (rc < 0) {
        /* never store a Secret in the clear by accident: abort the write */
        log_error("secrets encryption failed: %s", gnutls_strerror(rc));
        abort();
    }
    *out_len = plen + ENC_BLOCK + padded;
    return (char *)out;
}

int
store_value_open(const char *key, char **value, size_t *len, struct k3c_err *err)
{
    const struct enc_state *st = atomic_load(&current);
    size_t pl = strlen(STORE_ENC_PREFIX), nl, clen;
    const char *v = *value, *colon;
    const struct enc_key *k = NULL;
    gnutls_cipher_hd_t h = NULL;
    gnutls_datum_t kd, ivd;
    unsigned char *plain;
    int rc;

    if (*len < pl || memcmp(v, STORE_ENC_PREFIX, pl) != 0)
        return 0; /* plaintext: the identity provider */
    colon = memchr(v + pl, ':', *len - pl);
    if (!colon)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: encrypted value without a key name", key);
    nl = (size_t)(colon - (v + pl));
    for (size_t i = 0; st && i < st->n && !k; i++)
        if (strlen(st->keys[i].name) == nl && memcmp(st->keys[i].name, v + pl, nl) == 0)
            k = &st->keys[i];
    if (!k)
        return k3c_err_set(err, K3C_E_INTERNAL,
                           "%s: encrypted with key \"%.*s\", which this server does not have "
                           "(secrets encryption configuration)",
                           key, (int)(nl < 64 ? nl : 64), v + pl);
    clen = *len - (size_t)(colon + 1 - v);
    if (clen < 2 * ENC_BLOCK || clen % ENC_BLOCK != 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: encrypted value has a bad length", key);
    kd = (gnutls_datum_t){(unsigned char *)k->bytes, (unsigned)k->len};
    ivd = (gnutls_datum_t){(unsigned char *)colon + 1, ENC_BLOCK};
    clen -= ENC_BLOCK;
    plain = k3c_xmalloc(clen + 1);
    memcpy(plain, colon + 1 + ENC_BLOCK, clen);
    rc = gnutls_cipher_init(&h, cbc_of(k->len), &kd, &ivd);
    if (rc >= 0)
        rc = gnutls_cipher_decrypt(h, plain, clen);
    if (h)
        gnutls_cipher_deinit(h);
    if (rc < 0 || plain[clen - 1] == 0 || plain[clen - 1] > ENC_BLOCK) {
        free(plain);
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: cannot decrypt with key \"%s\"", key, k->name);
    }
    clen -= plain[clen - 1];
    plain[clen] = '\0';
    free(*value);
    *value = (char *)plain;
    *len = clen;
    return 0;
}
