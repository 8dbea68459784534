/* SPDX-License-Identifier: Apache-2.0
 * test_store_codec.c - pure parts of the store: range ends, gateway JSON
 * decoding, watch messages split without jansson, continue tokens. */
#include "base/cleanup.h"
#include "store/store-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
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

/* The events of msg as the jansson path reads them. */
static size_t
jansson_events(const char *msg, struct store_watch_event **out)
{
    _cleanup_json_ json_t *j = json_loads(msg, 0, NULL);
    const json_t *events = json_object_get(json_object_get(j, "result"), "events");
    struct store_watch_event *v = calloc(json_array_size(events) + 1, sizeof(*v));
    struct k3c_err err = {0};
    size_t i;
    json_t *ev;

    assert_non_null(j);
    json_array_foreach(events, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));

        assert_int_equal(store_kv_from_json(json_object_get(ev, "kv"), &v[i].kv, &err), 0);
        v[i].deleted = type && strcmp(type, "DELETE") == 0;
    }
    *out = v;
    return json_array_size(events);
}

static void
assert_kv_equal(const struct store_kv *a, const struct store_kv *b)
{
    assert_string_equal(a->key, b->key);
    assert_int_equal(a->value_len, b->value_len);
    assert_memory_equal(a->value, b->value, a->value_len);
    assert_int_equal(a->value[a->value_len], '\0');
    assert_int_equal(a->create_revision, b->create_revision);
    assert_int_equal(a->mod_revision, b->mod_revision);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->lease, b->lease);
}

/* Splits msg; the events and the rest must be what jansson reads. */
static void
assert_split_like_jansson(const char *msg)
{
    struct store_watch_event *fast = NULL, *slow = NULL;
    size_t n_fast = 0, n_slow = jansson_events(msg, &slow);
    _cleanup_json_ json_t *rest = NULL, *whole = json_loads(msg, 0, NULL);
    json_t *res;

    assert_int_equal(store_watch_msg_split(msg, strlen(msg), &rest, &fast, &n_fast), 0);
    assert_int_equal(n_fast, n_slow);
    for (size_t i = 0; i < n_fast; i++) {
        assert_int_equal(fast[i].deleted, slow[i].deleted);
        assert_kv_equal(&fast[i].kv, &slow[i].kv);
    }
    /* the rest is the message with no events */
    res = json_object_get(whole, "result");
    json_object_set_new(res, "events", json_array());
    assert_true(json_equal(rest, whole));
    store_watch_events_free(fast, n_fast);
    store_watch_events_free(slow, n_slow);
}

static void
assert_no_split(const char *msg)
{
    struct store_watch_event *ev = (void *)1;
    size_t n = 1;
    json_t *rest = (void *)1;

    assert_int_equal(store_watch_msg_split(msg, strlen(msg), &rest, &ev, &n), -1);
    assert_null(rest);
    assert_null(ev);
    assert_int_equal(n, 0);
}

/* base64: "/registry/configmaps/default/a", {"a":"b"}, "/k", "old" */
#define K_A   "L3JlZ2lzdHJ5L2NvbmZpZ21hcHMvZGVmYXVsdC9h"
#define V_AB  "eyJhIjoiYiJ9"
#define K_K   "L2s="
#define V_OLD "b2xk"

static void
test_watch_split_events(void **state)
{
    (void)state;
    /* a create, as etcd's gateway writes it */
    assert_split_like_jansson(
        "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"7\","
        "\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":\"" K_A "\",\"create_revision\":\"7\","
        "\"mod_revision\":\"7\",\"version\":\"1\",\"value\":\"" V_AB "\"}}]}}");
    /* an update and a delete with prev_kv (skipped: the store's watch does not
     * ask for it), a lease, whitespace, integers as numbers, members etcd may
     * add (nested, with escaped quotes) in between */
    assert_split_like_jansson(
        " { \"result\" : { \"header\" : {\"revision\": 9 } , \"events\" : [ "
        "{ \"kv\" : { \"key\" : \"" K_K "\" , \"create_revision\" : 3 , \"mod_revision\" : "
        "\"8\", \"version\": \"2\", \"value\": \"" V_AB "\", \"lease\": \"-5\" } , "
        "\"prev_kv\": {\"key\":\"" K_K "\",\"create_revision\":\"3\",\"mod_revision\":\"3\","
        "\"version\":\"1\",\"value\":\"" V_OLD "\"}, \"extra\": {\"a\": [1, -20, true, false, "
        "null, \"q\"], \"b\": {}} },"
        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"" K_K "\",\"mod_revision\":\"9\"},"
        "\"prev_kv\":{\"key\":\"" K_K "\",\"value\":\"" V_AB "\"}} ] , \"watch_id\": \"0\" } }\n");
}

static void
test_watch_split_falls_back(void **state)
{
    (void)state;
    /* no events: created, progress notifications, errors, compaction */
    assert_no_split("{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}");
    assert_no_split("{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[]}}");
    assert_no_split("{\"error\":{\"grpc_code\":14,\"message\":\"unavailable\"}}");
    /* not etcd's shape: an escaped member name, a member twice, a revision
     * that is not an integer, bad base64, a kv that is not an object,
     * trailing bytes, a cut message */
    assert_no_split("{\"result\":{\"ev\\u0065nts\":[{\"kv\":{\"key\":\"" K_K "\"}}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\",\"key\":\"" K_K
                    "\"}}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K
                    "\",\"mod_revision\":\"7x\"}}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K
                    "\",\"mod_revision\":7.5}}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!!\"}}]}}");
    /* strings and numbers jansson would have to judge */
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"},\"x\":\"q\\\"\"}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K
                    "\"},\"x\":\"\xc3\xa9\"}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"},\"x\":2.5e3}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"},\"x\":01}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K
                    "\"},\"x\":12345678901234567890123}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":\"x\"}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"}}]}} x");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"}}]}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"}}],\"x\":tru}}");
    /* a word run into a number (fuzz_store_watch found "true0" taken as a value) */
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\",\"x\":true0}}]}}");
    assert_no_split("{\"result\":{\"events\":[{\"kv\":{\"key\":\"" K_K "\"},\"x\":null1}]}}");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_end),
        cmocka_unit_test(test_int64_string_or_number),
        cmocka_unit_test(test_kv_from_gateway_json),
        cmocka_unit_test(test_kv_bad_base64),
        cmocka_unit_test(test_watch_split_events),
        cmocka_unit_test(test_watch_split_falls_back),
        cmocka_unit_test(test_continue_roundtrip),
        cmocka_unit_test(test_continue_rejects_forgeries),
    };

    return cmocka_run_group_tests_name("store_codec", tests, NULL, NULL);
}
