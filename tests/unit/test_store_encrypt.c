/* SPDX-License-Identifier: Apache-2.0
 * test_store_encrypt.c - Secrets at rest (store_encrypt.c): the key file is
 * made once and reloaded, Secrets are sealed in upstream's aescbc format
 * and open again for every length around the block size, other keys and
 * plaintext pass through, a missing or wrong key is an error, and a
 * decrypt-only setup reads but writes plaintext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "store/store_encrypt.h"

static char dir[] = "/tmp/k3c-test-enc-XXXXXX";

static char *
path_in(const char *name)
{
    return k3c_xasprintf("%s/%s", dir, name);
}

static void
test_roundtrip(void **state)
{
    _cleanup_free_ char *path = path_in("enc.json");
    struct k3c_err err = {0};
    const char *name = NULL;
    char data[100];

    (void)state;
    assert_int_equal(store_encryption_setup(path, true, true, &err), 0);
    assert_true(store_encryption_active(&name));
    assert_string_equal(name, "aescbckey");
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= 40; len++) {
        size_t n = 0, out_len;
        char *sealed = store_value_seal("/registry/secrets/ns/s", data, len, &n), *v;

        assert_non_null(sealed);
        assert_memory_equal(sealed, "k8s:enc:aescbc:v1:aescbckey:", 28);
        assert_int_equal((n - 28) % 16, 0);
        assert_true(n >= 28 + 16 + len + 1);
        if (len > 8)
            assert_null(memmem(sealed, n, data, len)); /* no plaintext */
        v = k3c_xmalloc(n);
        memcpy(v, sealed, n);
        out_len = n;
        assert_int_equal(store_value_open("/registry/secrets/ns/s", &v, &out_len, &err), 0);
        assert_int_equal(out_len, len);
        assert_memory_equal(v, data, len);
        free(v);
        free(sealed);
    }
    /* not a Secret: stored as is */
    size_t n = 0;
    assert_null(store_value_seal("/registry/configmaps/ns/c", data, 10, &n));
    /* plaintext read back as is (written before encryption was on) */
    char *plain = k3c_xstrdup("{\"kind\":\"Secret\"}");
    size_t plen = strlen(plain);
    assert_int_equal(store_value_open("/registry/secrets/ns/old", &plain, &plen, &err), 0);
    assert_string_equal(plain, "{\"kind\":\"Secret\"}");
    free(plain);
    store_encryption_reset();
}

static void
test_reload_and_decrypt_only(void **state)
{
    _cleanup_free_ char *path = path_in("enc2.json");
    _cleanup_free_ char *first = NULL, *again = NULL;
    struct k3c_err err = {0};
    size_t n = 0, len;
    char *sealed, *v;

    (void)state;
    assert_int_equal(store_encryption_setup(path, false, false, &err), 0); /* nothing yet */
    assert_false(store_encryption_active(NULL));
    assert_int_equal(store_encryption_setup(path, true, true, &err), 0);
    assert_int_equal(k3c_read_file(path, &first, NULL, &err), 0);
    sealed = store_value_seal("/registry/secrets/a/b", "hello", 5, &n);
    assert_non_null(sealed);
    /* a restart without the flag: same key, decrypts, writes plaintext */
    assert_int_equal(store_encryption_setup(path, true, false, &err), 0);
    assert_int_equal(k3c_read_file(path, &again, NULL, &err), 0);
    assert_string_equal(first, again);
    assert_false(store_encryption_active(NULL));
    assert_null(store_value_seal("/registry/secrets/a/b", "hello", 5, &len));
    v = k3c_xmalloc(n);
    memcpy(v, sealed, n);
    len = n;
    assert_int_equal(store_value_open("/registry/secrets/a/b", &v, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "hello", 5);
    free(v);
    /* another key: refused, never returned as garbage */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(store_encryption_setup(path, true, true, &err), 0);
    v = k3c_xmalloc(n);
    memcpy(v, sealed, n);
    len = n;
    k3c_err_clear(&err);
    int rc = store_value_open("/registry/secrets/a/b", &v, &len, &err);
    if (rc == 0) /* a wrong key almost never yields valid padding and the same text */
        assert_false(len == 5 && memcmp(v, "hello", 5) == 0);
    else
        assert_int_equal(err.kind, K3C_E_INTERNAL);
    free(v);
    /* a key name this server does not have */
    v = k3c_xstrdup("k8s:enc:aescbc:v1:other:0123456789abcdef0123456789abcdef");
    len = strlen(v);
    k3c_err_clear(&err);
    assert_int_equal(store_value_open("/registry/secrets/a/b", &v, &len, &err), -1);
    assert_non_null(strstr(err.msg, "\"other\""));
    free(v);
    free(sealed);
    store_encryption_reset();
}

static void
test_bad_config(void **state)
{
    _cleanup_free_ char *path = path_in("bad.json");
    struct k3c_err err = {0};
    const char *bad = "{\"resources\":[{\"providers\":[{\"aescbc\":{\"keys\":[{\"name\":\"k\","
                      "\"secret\":\"c2hvcnQ=\"}]}}]}]}";

    (void)state;
    store_encryption_reset();
    assert_int_equal(k3c_write_file(path, bad, strlen(bad), 0600, &err), 0);
    assert_int_equal(store_encryption_setup(path, true, true, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_false(store_encryption_active(NULL));
}

/* Sealed with the key state currently loaded, opened after switching. */
static char *
seal_now(const char *text, size_t *n)
{
    return store_value_seal("/registry/secrets/ns/s", text, strlen(text), n);
}

static void
assert_opens(char *sealed, size_t n, const char *want)
{
    struct k3c_err err = {0};
    char *v = k3c_xmalloc(n);
    size_t len = n;

    memcpy(v, sealed, n);
    assert_int_equal(store_value_open("/registry/secrets/ns/s", &v, &len, &err), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
    free(v);
}

/* rotate-keys (issue #15): the new key first, the old one kept for reading,
 * older ones dropped; what the old key sealed still opens after the reload */
static void
test_rotate(void **state)
{
    _cleanup_free_ char *path = path_in("rot.json"), *text = NULL, *r1 = NULL, *all1 = NULL;
    _cleanup_free_ char *n1 = NULL, *r2 = NULL, *all2 = NULL, *n2 = NULL, *old = NULL, *mid = NULL;
    struct k3c_err err = {0};
    const char *name = NULL;
    size_t on = 0, mn = 0;

    (void)state;
    assert_int_equal(store_encryption_setup(path, true, true, &err), 0);
    old = seal_now("sealed with the first key", &on);
    assert_int_equal(k3c_read_file(path, &text, NULL, &err), 0);
    r1 = store_encryption_config_rotate(text, 1786000000, &n1, &all1, &err);
    assert_non_null(r1);
    assert_string_equal(n1, "aescbckey-20260806T070640Z");
    assert_int_equal(store_encryption_load_json(r1, "r1", true, &err), 0);
    assert_int_equal(store_encryption_key_count(), 2);
    assert_true(store_encryption_active(&name));
    assert_string_equal(name, n1);
    assert_opens(old, on, "sealed with the first key");
    mid = seal_now("sealed with the second key", &mn);
    assert_memory_equal(mid, "k8s:enc:aescbc:v1:aescbckey-20260806T070640Z:", 45);
    /* the same second again: another name */
    r2 = store_encryption_config_rotate(r1, 1786000000, &n2, &all2, &err);
    assert_non_null(r2);
    assert_string_equal(n2, "aescbckey-20260806T070640Z-2");
    assert_non_null(strstr(all2, "\"aescbckey\"")); /* every key while re-encrypting */
    assert_null(strstr(r2, "\"aescbckey\""));       /* then only the last two */
    assert_int_equal(store_encryption_load_json(r2, "r2", true, &err), 0);
    assert_int_equal(store_encryption_key_count(), 2);
    assert_opens(mid, mn, "sealed with the second key");
    store_encryption_reset();
    unlink(path);
}

/* The configuration in etcd: sealed with the token's secret */
static void
test_wrap(void **state)
{
    struct k3c_err err = {0};
    size_t n = 0;
    _cleanup_free_ char *w = store_encryption_wrap("s3cret", "{\"k\":1}", &n, &err);
    _cleanup_free_ char *back = NULL, *bad = NULL;

    (void)state;
    assert_non_null(w);
    assert_memory_equal(w, "k8s:enc:aescbc:v1:k3c-token:", 28);
    back = store_encryption_unwrap("s3cret", w, n, &err);
    assert_non_null(back);
    assert_string_equal(back, "{\"k\":1}");
    bad = store_encryption_unwrap("other", w, n, &err); /* a wrong key: padding check fails */
    if (bad)
        assert_string_not_equal(bad, "{\"k\":1}");
    assert_null(store_encryption_unwrap("s3cret", "{\"k\":1}", 7, &err));
    assert_null(store_encryption_wrap("", "x", &n, &err));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),  cmocka_unit_test(test_reload_and_decrypt_only),
        cmocka_unit_test(test_bad_config), cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_wrap),
    };
    int rc;

    if (!mkdtemp(dir))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (const char *const *f = (const char *const[]){"enc.json", "enc2.json", "bad.json", NULL};
         *f; f++) {
        _cleanup_free_ char *p = path_in(*f);
        unlink(p);
    }
    rmdir(dir);
    return rc;
}
