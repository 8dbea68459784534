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
#include <time.h>

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
    struct enc_state *retired; /* the states this one replaced (see publish) */
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

/* Publishes st. A reload (a key rotation) may run while other threads
 * still seal or open with the old state, so the old one is never freed
 * while the process runs: it hangs off the new one (a few hundred bytes
 * per rotation) and is freed by store_encryption_reset. */
static void
publish(struct enc_state *st)
{
    struct enc_state *old = atomic_exchange(&current, st);

    if (st)
        st->retired = old;
    else
        while (old) {
            struct enc_state *next = old->retired;

            state_free(old);
            old = next;
        }
}

void
store_encryption_reset(void)
{
    publish(NULL);
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

static struct enc_state *
state_from_json(const json_t *doc, const char *origin, struct k3c_err *err)
{
    struct enc_state *st = k3c_xcalloc(1, sizeof(*st));
    size_t i, j, k;
    json_t *res, *prov, *key;

    json_array_foreach(json_object_get(doc, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "providers"), j, prov)
        {
            json_array_foreach(json_object_get(json_object_get(prov, "aescbc"), "keys"), k, key)
            {
                if (load_key(st, key, origin, err) < 0) {
                    state_free(st);
                    return NULL;
                }
            }
        }
    }
    return st;
}

static int
setup_from_doc(const json_t *doc, const char *origin, bool encrypt, struct k3c_err *err)
{
    struct enc_state *st = state_from_json(doc, origin, err);

    if (!st)
        return -1;
    if (encrypt && st->n == 0) {
        state_free(st);
        return k3c_err_set(err, K3C_E_INVALID, "%s has no aescbc key", origin);
    }
    st->encrypt = encrypt;
    publish(st);
    return 0;
}

int
store_encryption_setup(const char *path, bool create, bool encrypt, struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = NULL;
    json_error_t jerr;

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
    return setup_from_doc(doc, path, encrypt, err);
}

int
store_encryption_load_json(const char *text, const char *origin, bool encrypt, struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = NULL;
    json_error_t jerr;

    doc = json_loads(text, 0, &jerr);
    if (!json_is_object(doc))
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s", origin, jerr.text);
    return setup_from_doc(doc, origin, encrypt, err);
}

size_t
store_encryption_key_count(void)
{
    const struct enc_state *st = atomic_load(&current);

    return st ? st->n : 0;
}

bool
store_encryption_encrypting(void)
{
    const struct enc_state *st = atomic_load(&current);

    return st && st->encrypt;
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

/* "k8s:enc:aescbc:v1:<name>:" + IV + AES-CBC(PKCS#7(value)) with k. */
static char *
aescbc_seal(const struct enc_key *k, const void *value, size_t len, size_t *out_len)
{
    size_t plen = strlen(STORE_ENC_PREFIX) + strlen(k->name) + 1;
    size_t padded = (len / ENC_BLOCK + 1) * ENC_BLOCK;
    gnutls_datum_t kd = {(unsigned char *)k->bytes, (unsigned)k->len}, ivd;
    unsigned char *out, *iv, *body;
    gnutls_cipher_hd_t h = NULL;
    int rc;

    out = k3c_xmalloc(plen + ENC_BLOCK + padded + 1);
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
    out[*out_len] = '\0';
    return (char *)out;
}

/* The body after "<prefix><name>:" (IV + ciphertext), decrypted with k into
 * a new NUL-terminated buffer. */
static int
aescbc_open(const struct enc_key *k, const char *key, const unsigned char *body, size_t clen,
            char **out, size_t *out_len, struct k3c_err *err)
{
    gnutls_datum_t kd = {(unsigned char *)k->bytes, (unsigned)k->len};
    gnutls_datum_t ivd = {(unsigned char *)body, ENC_BLOCK};
    gnutls_cipher_hd_t h = NULL;
    unsigned char *plain;
    int rc;

    if (clen < 2 * ENC_BLOCK || clen % ENC_BLOCK != 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: encrypted value has a bad length", key);
    clen -= ENC_BLOCK;
    plain = k3c_xmalloc(clen + 1);
    memcpy(plain, body + ENC_BLOCK, clen);
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
    *out = (char *)plain;
    *out_len = clen;
    return 0;
}

char *
store_value_seal(const char *key, const void *value, size_t len, size_t *out_len)
{
    const struct enc_state *st = atomic_load(&current);

    if (!st || !st->encrypt || st->n == 0 || !is_secret_key(key))
        return NULL;
    return aescbc_seal(&st->keys[0], value, len, out_len);
}

int
store_value_open(const char *key, char **value, size_t *len, struct k3c_err *err)
{
    const struct enc_state *st = atomic_load(&current);
    size_t pl = strlen(STORE_ENC_PREFIX), nl, plen;
    const char *v = *value, *colon;
    const struct enc_key *k = NULL;
    char *plain = NULL;

    if (!is_secret_key(key) || *len < pl || memcmp(v, STORE_ENC_PREFIX, pl) != 0)
        return 0; /* plaintext (the identity provider), or not a Secret */
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
    if (aescbc_open(k, key, (const unsigned char *)colon + 1, *len - (size_t)(colon + 1 - v),
                    &plain, &plen, err) < 0)
        return -1;
    free(*value);
    *value = plain;
    *len = plen;
    return 0;
}

/* ---- key rotation (store_keyring.c) ---- */

/* The key that wraps the configuration in etcd: PBKDF2-SHA256 of the
 * cluster token's secret (as K3s encrypts its bootstrap data). */
#define WRAP_KEY_NAME "k3c-token"
#define WRAP_SALT     "k3c secrets encryption configuration"
#define WRAP_ROUNDS   4096

static int
wrap_key(const char *secret, struct enc_key *k, struct k3c_err *err)
{
    gnutls_datum_t pass = {(unsigned char *)secret, (unsigned)strlen(secret)};
    gnutls_datum_t salt = {(unsigned char *)WRAP_SALT, (unsigned)strlen(WRAP_SALT)};

    memset(k, 0, sizeof(*k));
    snprintf(k->name, sizeof(k->name), "%s", WRAP_KEY_NAME);
    k->len = ENC_KEY_LEN;
    if (!secret || !*secret ||
        gnutls_pbkdf2(GNUTLS_MAC_SHA256, &pass, &salt, WRAP_ROUNDS, k->bytes, k->len) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "no token secret to derive the wrapping key from");
    return 0;
}

char *
store_encryption_wrap(const char *secret, const char *text, size_t *out_len, struct k3c_err *err)
{
    struct enc_key k;
    char *out;

    if (wrap_key(secret, &k, err) < 0)
        return NULL;
    out = aescbc_seal(&k, text, strlen(text), out_len);
    memset(&k, 0, sizeof(k));
    return out;
}

char *
store_encryption_unwrap(const char *secret, const char *data, size_t len, struct k3c_err *err)
{
    const char *head = STORE_ENC_PREFIX WRAP_KEY_NAME ":";
    size_t hl = strlen(head), plen;
    struct enc_key k;
    char *plain = NULL;
    int rc;

    if (len < hl || memcmp(data, head, hl) != 0)
        return k3c_err_set(err, K3C_E_INVALID, "not a wrapped encryption configuration"), NULL;
    if (wrap_key(secret, &k, err) < 0)
        return NULL;
    rc = aescbc_open(&k, "encryption configuration", (const unsigned char *)data + hl, len - hl,
                     &plain, &plen, err);
    memset(&k, 0, sizeof(k));
    if (rc < 0)
        return NULL;
    if (strlen(plain) != plen) {
        free(plain);
        return k3c_err_set(err, K3C_E_INVALID, "wrapped encryption configuration holds a NUL"),
               NULL;
    }
    return plain;
}

/* The aescbc key list of doc (NULL when it has none). */
static json_t *
aescbc_keys(json_t *doc)
{
    size_t i, j;
    json_t *res, *prov;

    json_array_foreach(json_object_get(doc, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "providers"), j, prov)
        {
            json_t *keys = json_object_get(json_object_get(prov, "aescbc"), "keys");

            if (json_is_array(keys))
                return keys;
        }
    }
    return NULL;
}

static bool
has_key_named(json_t *keys, const char *name)
{
    size_t i;
    json_t *k;

    json_array_foreach(keys, i, k)
    {
        if (json_is_string(json_object_get(k, "name")) &&
            strcmp(json_string_value(json_object_get(k, "name")), name) == 0)
            return true;
    }
    return false;
}

char *
store_encryption_config_rotate(const char *text, time_t now, char **new_name, char **all_keys,
                               struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_free_ char *b64 = NULL;
    unsigned char raw[ENC_KEY_LEN];
    char stamp[32], name[64];
    json_t *keys;
    struct tm tm;
    char *out;

    doc = json_loads(text, 0, NULL);
    keys = doc ? aescbc_keys(doc) : NULL;
    if (!keys || json_array_size(keys) == 0)
        return k3c_err_set(err, K3C_E_INVALID, "the encryption configuration has no aescbc key"),
               NULL;
    /* K3s names a rotated key aescbckey-<RFC 3339 time>; without the colons,
     * which the stored prefix uses as its separator */
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof(name), "aescbckey-%s", stamp);
    for (int i = 2; has_key_named(keys, name) && i < 100; i++)
        snprintf(name, sizeof(name), "aescbckey-%s-%d", stamp, i);
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "no random bytes for a new key"), NULL;
    b64 = k3c_base64_encode(raw, sizeof(raw));
    memset(raw, 0, sizeof(raw));
    json_array_insert_new(keys, 0, json_pack("{s:s, s:s}", "name", name, "secret", b64));
    *all_keys = json_dumps(doc, JSON_INDENT(2));
    json_array_remove(keys, 0);
    /* the new key writes, the one it replaces still reads (whatever a server
     * that has not reloaded yet writes with it); older keys go: the
     * re-encryption that follows leaves nothing under them */
    while (json_array_size(keys) > 1)
        json_array_remove(keys, json_array_size(keys) - 1);
    json_array_insert_new(keys, 0, json_pack("{s:s, s:s}", "name", name, "secret", b64));
    out = json_dumps(doc, JSON_INDENT(2));
    if (!out || !*all_keys) {
        free(out);
        free(*all_keys);
        *all_keys = NULL;
        return k3c_err_set(err, K3C_E_INTERNAL, "cannot encode the encryption configuration"), NULL;
    }
    *new_name = k3c_xstrdup(name);
    return out;
}
