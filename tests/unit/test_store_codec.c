/* SPDX-License-Identifier: Apache-2.0
 * test_store_codec.c - pure parts of the store: range ends, gateway JSON
 * decoding, continue tokens. */
#include "base/cleanup.h"
#include "store/store-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void
test_prefix_end(void **state)
{
    _cleanup_free_ char *a = store_prefix_end("/registry/pods/");
    _cleanup_free_ char *b = store_prefix_end("a\xff");
    _cleanup_free_ char *c = store_prefix_end("");
    _cleanup_free_ char *d = store_prefix_end("\xff\xff");

    (void)state;
    assert_string_equal(a, "/registry/pods0"); /* '/' + 1 == '0' */
    assert_string_equal(b, "b");
    assert_string_equal(c, "");
    assert_string_equal(d, "");
}

static void
test_int64_string_or_number(void **state)
{
    _cleanup_json_ json_t *j = json_loads("{\"a\":\"9007199254740993\",\"b\":7}", 0, NULL);

    (void)state;
    assert_int_equal(store_json_int64(j, "a"), 9007199254740993LL);
    assert_int_equal(store_json_int64(j, "b"), 7);
    assert_int_equal(store_json_int64(j, "missing"), 0);
}

static void
test_kv_from_gateway_json(void **state)
{
    /* As the gateway sends it: base64 bytes, int64 as strings, zero values left out. */
    _cleanup_json_ json_t *j = json_loads("{\"key\":\"L2EvYg==\",\"create_revision\":\"2\","
                                          "\"mod_revision\":\"5\",\"version\":\"3\"}",
                                          0, NULL);
    struct store_kv kv;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(store_kv_from_json(j, &kv, &err), 0);
    assert_string_equal(kv.key, "/a/b");
    assert_string_equal(kv.value, "");
    assert_int_equal(kv.value_len, 0);
    assert_int_equal(kv.mod_revision, 5);
    assert_int_equal(kv.create_revision, 2);
    assert_int_equal(kv.version, 3);
    assert_int_equal(kv.lease, 0);
    store_kv_fini(&kv);
}

static void
test_kv_bad_base64(void **state)
{
    _cleanup_json_ json_t *j = json_loads("{\"key\":\"!!!\"}", 0, NULL);
    struct store_kv kv;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(store_kv_from_json(j, &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_INTERNAL);
}

static void
test_continue_roundtrip(void **state)
{
    _cleanup_free_ char *tok = store_continue_encode(42, "default/pod-7");
    _cleanup_free_ char *start = NULL;
    struct k3c_err err = {0};
    int64_t rev = 0;

    (void)state;
    assert_int_equal(store_continue_decode(tok, &rev, &start, &err), 0);
    assert_int_equal(rev, 42);
    assert_string_equal(start, "default/pod-7");
}

static void
test_continue_rejects_forgeries(void **state)
{
    static const char *const bad[] = {
        "not base64!", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ==", /* {"v":"meta.k8s.io/v1"}: no rv */
    };
    struct k3c_err err = {0};
    char *start = NULL;
    int64_t rev = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_continue_decode(bad[i], &rev, &start, &err), -1);
        assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    }
    {
        /* A start key that climbs out of the listed prefix. */
        _cleanup_free_ char *tok = store_continue_encode(5, "../secrets/x");

        assert_int_equal(store_continue_decode(tok, &rev, &start, &err), -1);
    }
    {
        _cleanup_free_ char *tok = store_continue_encode(0, "a");

        assert_int_equal(store_continue_decode(tok, &rev, &start, &err), -1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_end),
        cmocka_unit_test(test_int64_string_or_number),
        cmocka_unit_test(test_kv_from_gateway_json),
        cmocka_unit_test(test_kv_bad_base64),
        cmocka_unit_test(test_continue_roundtrip),
        cmocka_unit_test(test_continue_rejects_forgeries),
    };

    return cmocka_run_group_tests_name("store_codec", tests, NULL, NULL);
}
