/* SPDX-License-Identifier: Apache-2.0
 * test_api_object.c - object helpers: JSON merge patch against RFC 7386's
 * appendix A, storage encoding, keys, generated names, spec changes. */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* RFC 7386, Appendix A: original, patch, result. */
static const char *const rfc7386[][3] = {
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
};

static void
test_merge_patch_rfc7386(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc7386) / sizeof(rfc7386[0]); i++) {
        _cleanup_json_ json_t *target = json_loads(rfc7386[i][0], 0, NULL);
        _cleanup_json_ json_t *patch = json_loads(rfc7386[i][1], 0, NULL);
        _cleanup_json_ json_t *want = json_loads(rfc7386[i][2], 0, NULL);

        api_merge_patch(target, patch);
        if (!json_equal(target, want)) {
            _cleanup_free_ char *got = json_dumps(target, JSON_COMPACT | JSON_SORT_KEYS);

            fail_msg("case %zu: got %s, want %s", i, got, rfc7386[i][2]);
        }
    }
}

static void
test_encode_drops_resource_version(void **state)
{
    _cleanup_json_ json_t *obj =
        json_loads("{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"7\"}}", 0, NULL);
    _cleanup_free_ char *text = NULL;
    size_t len = 0;

    (void)state;
    text = api_object_encode(obj, &len);
    assert_null(strstr(text, "resourceVersion"));
    assert_int_equal(len, strlen(text));
    /* The caller's object is untouched. */
    assert_string_equal(api_meta_str(obj, "resourceVersion"), "7");
}

/* The split encoding gives json_dumps' bytes, with and without the version. */
static void
check_marked(const char *json)
{
    _cleanup_json_ json_t *obj = json_loads(json, 0, NULL);
    _cleanup_free_ char *plain = NULL, *marked = NULL, *with = NULL, *want = NULL;
    size_t len = 0, plain_len = 0, meta_end = 0, with_len = 0;

    assert_non_null(obj);
    plain = api_object_encode(obj, &plain_len);
    marked = api_object_encode_marked(obj, &len, &meta_end);
    assert_non_null(marked);
    assert_string_equal(marked, plain);
    assert_int_equal(len, plain_len);
    assert_int_equal(marked[meta_end], '}');
    with = api_object_text_with_version(marked, len, meta_end, 12345, &with_len);
    api_set_resource_version(obj, 12345);
    want = json_dumps(obj, JSON_COMPACT);
    assert_string_equal(with, want);
    assert_int_equal(with_len, strlen(want));
}

static void
test_encode_marked(void **state)
{
    _cleanup_json_ json_t *versioned =
        json_loads("{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"7\"}}", 0, NULL);
    _cleanup_json_ json_t *no_meta = json_loads("{\"kind\":\"A\"}", 0, NULL);
    size_t len = 0, meta_end = 0;

    (void)state;
    check_marked(
        "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"y\"}},"
        "\"data\":{\"k\":\"v\\n\\\"q\\u0001\\u00e9/\",\"n\":1.5,\"i\":-3,\"b\":[true,null,{}]}}");
    check_marked("{\"metadata\":{},\"spec\":{\"a\\\"b\":\"c\"}}");
    check_marked(
        "{\"spec\":{\"metadata\":{\"name\":\"inner\"}},\"metadata\":{\"name\":\"outer\"}}");
    /* Not for objects that carry a version or have no metadata. */
    assert_null(api_object_encode_marked(versioned, &len, &meta_end));
    assert_null(api_object_encode_marked(no_meta, &len, &meta_end));
}

static void
test_from_kv_sets_resource_version(void **state)
{
    struct store_kv kv = {.key = "/registry/pods/default/a",
                          .value = "{\"metadata\":{\"name\":\"a\"}}",
                          .mod_revision = 42};
    struct k3c_err err = {0};
    _cleanup_json_ json_t *obj = NULL;

    (void)state;
    kv.value_len = strlen(kv.value);
    obj = api_object_from_kv(&kv, &err);
    assert_non_null(obj);
    assert_string_equal(api_meta_str(obj, "resourceVersion"), "42");
    kv.value = "not json";
    kv.value_len = strlen(kv.value);
    assert_null(api_object_from_kv(&kv, &err));
    assert_int_equal(err.kind, K3C_E_INTERNAL);
}

static void
test_keys(void **state)
{
    const struct api_resource *pods = api_resource_find("", "v1", "pods");
    const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
    _cleanup_free_ char *a = api_object_key(pods, "default", "web");
    _cleanup_free_ char *b = api_object_key(nodes, NULL, "n1");
    _cleanup_free_ char *c = api_list_prefix(pods, NULL);
    _cleanup_free_ char *d = api_list_prefix(pods, "kube-system");

    (void)state;
    assert_string_equal(a, "/registry/pods/default/web");
    assert_string_equal(b, "/registry/nodes/n1");
    assert_string_equal(c, "/registry/pods/");
    assert_string_equal(d, "/registry/pods/kube-system/");
}

static void
test_generate_name(void **state)
{
    char a[64], b[64];

    (void)state;
    api_generate_name("web-", a, sizeof(a));
    api_generate_name("web-", b, sizeof(b));
    assert_int_equal(strlen(a), 9);
    assert_int_equal(strncmp(a, "web-", 4), 0);
    assert_int_equal(strspn(a + 4, "bcdfghjklmnpqrstvwxz2456789"), 5);
    /* 27^5 possibilities: two equal draws would be a broken generator. */
    assert_string_not_equal(a, b);
}

static void
test_spec_changed(void **state)
{
    _cleanup_json_ json_t *a = json_loads(
        "{\"metadata\":{\"labels\":{\"x\":\"1\"}},\"spec\":{\"r\":1},\"status\":{\"s\":1}}", 0,
        NULL);
    _cleanup_json_ json_t *b = json_loads(
        "{\"metadata\":{\"labels\":{\"x\":\"2\"}},\"spec\":{\"r\":1},\"status\":{\"s\":2}}", 0,
        NULL);
    _cleanup_json_ json_t *c = json_loads("{\"metadata\":{},\"spec\":{\"r\":2}}", 0, NULL);

    (void)state;
    assert_false(api_spec_changed(a, b));
    assert_true(api_spec_changed(a, c));
}

/* ---- compact JSON text (api_json_dump.c): json_dumps' bytes ---- */

/* The fast writer's text for v equals jansson's (both NULL where jansson
 * fails), whole and as a member. */
static void
check_dump(const json_t *v)
{
    _cleanup_free_ char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    struct k3c_buf b, m;
    bool ok;

    k3c_buf_init(&b);
    k3c_buf_append(&b, "x", 1); /* appends after what is there */
    ok = api_json_dump_compact(&b, v);
    if (!want) {
        assert_false(ok);
        assert_int_equal(b.len, 1);
    } else {
        assert_true(ok);
        assert_string_equal(b.data + 1, want);
        assert_int_equal(b.len - 1, strlen(want));
    }
    k3c_buf_fini(&b);
    if (json_is_object(v) || json_is_array(v)) {
        size_t len = 99;
        _cleanup_free_ char *text = api_json_dumps_compact(v, &len);

        if (want) {
            assert_non_null(text);
            assert_string_equal(text, want);
            assert_int_equal(len, strlen(want));
        } else {
            assert_null(text);
        }
    }
    k3c_buf_init(&m);
    ok = api_json_dump_member(&m, "k\"\n", 3, v);
    assert_int_equal(ok, want != NULL);
    if (want) {
        _cleanup_free_ char *with = k3c_xasprintf("\"k\\\"\\n\":%s", want);

        assert_string_equal(m.data, with);
    }
    k3c_buf_fini(&m);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* A string of ASCII, every control character, quotes, backslashes and valid
 * 2-, 3- and 4-byte UTF-8. */
static json_t *
random_string(void)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "/",
                                         "\"",
                                         "\\",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\n",
                                         "\t",
                                         "\b",
                                         "\f",
                                         "\r",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xef\xbf\xbf",
                                         "\xed\x9f\xbf",
                                         " "};
    char s[64] = "";
    size_t n = rng() % 12;

    for (size_t i = 0; i < n; i++)
        strcat(s, pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))]);
    if (rng() % 4 == 0) /* a control character of any value */
        s[strlen(s)] = (char)(1 + rng() % 31);
    return json_string(s);
}

static json_t *
random_tree(int depth)
{
    switch (rng() % (depth > 4 ? 6 : 8)) {
    case 0:
        return random_string();
    case 1:
        return json_integer((json_int_t)rng() - (json_int_t)(rng() % 3) * 2000000000LL);
    case 2:
        return json_real((double)(int32_t)rng() / 1000.0);
    case 3:
        return json_boolean(rng() % 2);
    case 4:
        return json_null();
    case 5:
        return json_string("");
    case 6: {
        json_t *a = json_array();

        for (size_t i = rng() % 5; i > 0; i--)
            json_array_append_new(a, random_tree(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();

        for (size_t i = rng() % 5; i > 0; i--) {
            json_t *k = random_string();

            json_object_set_new(o, json_string_value(k), random_tree(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

static void
test_json_dump_random(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        _cleanup_json_ json_t *v = random_tree(0);

        check_dump(v);
    }
}

static void
test_json_dump_edges(void **state)
{
    _cleanup_json_ json_t *ints =
        json_pack("[I,I,I,I,I]", (json_int_t)0, (json_int_t)-1, (json_int_t)INT64_MAX,
                  (json_int_t)INT64_MIN, (json_int_t)1000000007);
    _cleanup_json_ json_t *reals = json_pack("[f,f,f,f]", 0.1, -2.0, 1e300, 1.5e-7);
    _cleanup_json_ json_t *bad_value = json_object();
    _cleanup_json_ json_t *bad_key = json_object();
    _cleanup_json_ json_t *nul_key = json_object();
    _cleanup_json_ json_t *deep = json_array();
    _cleanup_json_ json_t *empty = json_pack("{s:{},s:[],s:s}", "o", "a", "s", "");
    json_t *at = deep;

    (void)state;
    check_dump(ints);
    check_dump(reals);
    check_dump(empty);
    check_dump(json_object_get(empty, "s"));
    /* Not UTF-8: jansson fails a value; a key it writes cut short. */
    json_object_set_new(bad_value, "k", json_stringn_nocheck("a\xc0\x80", 3));
    check_dump(bad_value);
    json_object_set_new(bad_value, "k", json_stringn_nocheck("\xed\xa0\x80", 3)); /* surrogate */
    check_dump(bad_value);
    json_object_set_new(bad_value, "k", json_stringn_nocheck("\xe2\x82", 2)); /* cut short */
    check_dump(bad_value);
    json_object_set_new(bad_value, "k", json_stringn_nocheck("\xf4\x90\x80\x80", 4));
    check_dump(bad_value);
    json_object_set_new_nocheck(bad_key, "a\xff", json_integer(1));
    json_object_set_new(bad_key, "b", json_integer(2));
    check_dump(bad_key);
    /* A NUL inside a string and inside a key. */
    json_object_setn_new(nul_key, "a\0b", 3, json_stringn("x\0y", 3));
    check_dump(nul_key);
    /* Deeper than the fast writer goes: jansson writes it. */
    for (int i = 0; i < 400; i++) {
        json_t *next = json_array();

        json_array_append_new(at, next);
        at = next;
    }
    json_array_append_new(at, json_string("bottom"));
    check_dump(deep);
}

/* k3c_json_loadb gives json_loadb's tree (same types, same key order) or
 * its error, for both flag sets it serves. */
static void
check_load(const char *text, size_t len)
{
    static const size_t flag_sets[] = {0, JSON_REJECT_DUPLICATES};

    for (size_t f = 0; f < 2; f++) {
        json_error_t want_err, got_err;
        _cleanup_json_ json_t *want = json_loadb(text, len, flag_sets[f], &want_err);
        _cleanup_json_ json_t *got = k3c_json_loadb(text, len, flag_sets[f], &got_err);

        if (!want) {
            assert_null(got);
            assert_string_equal(got_err.text, want_err.text);
            assert_int_equal(got_err.line, want_err.line);
            assert_int_equal(got_err.column, want_err.column);
            continue;
        }
        assert_non_null(got);
        assert_true(json_equal(got, want));
        {
            _cleanup_free_ char *a = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
            _cleanup_free_ char *b = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

            assert_string_equal(a, b);
        }
    }
}

static void
test_json_load_random(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        _cleanup_json_ json_t *v = random_tree(0);
        /* Compact, indented, escaped slashes and non-ASCII: each a text
         * clients may send. */
        static const size_t styles[] = {JSON_COMPACT, JSON_INDENT(2), JSON_ESCAPE_SLASH,
                                        JSON_ENSURE_ASCII | JSON_COMPACT};

        for (size_t st = 0; st < 4; st++) {
            _cleanup_free_ char *text = json_dumps(v, styles[st] | JSON_ENCODE_ANY);

            check_load(text, strlen(text));
        }
    }
}

static void
test_json_load_edges(void **state)
{
    static const char *const texts[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":1},\"c\":[1,{\"b\":2,\"b\":3}]}",
        "[01]",
        "[-]",
        "[-0]",
        "[1.5]",
        "[1e5]",
        "[1E+5,2]",
        "[123456789012345678]",
        "[1234567890123456789]",
        "[-9223372036854775808]",
        "[9223372036854775808]",
        "[\"\\u00e9\\ud83d\\ude00\"]",
        "[\"\\u0000\"]",
        "{\"a\\u0000b\":1}",
        "[\"a\\x\"]",
        "[\"a\\/b\\\"\\\\\\b\\f\\n\\r\\t\"]",
        "[\"\x01\"]",
        "[\"\x7f\"]",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
        "[\"\xc0\x80\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xe2\x82\"]",
        "[\"\xe2\x82",
        "[\"abc",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{}x",
        "  [ ] \n",
        "\t{ \"a\" : [ true , false , null ] }\r\n",
        "",
        "   ",
        "\"str\"",
        "12",
        "[truex]",
        "[tru]",
        "[nul]",
        "[True]",
        "{\"\":\"\"}",
        "{1:2}",
        "[1]\x00",
        "[\"a\x00b\"]",
        "\xef\xbb\xbf[]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_load(texts[i], strlen(texts[i]));
    check_load("[1]\0", 4);
    check_load("[\"a\0b\"]", 7);
    /* Deeper than the fast path goes; deeper than jansson allows. */
    for (int depth = 300; depth <= 2100; depth += 1800) {
        struct k3c_buf b;

        k3c_buf_init(&b);
        for (int i = 0; i < depth; i++)
            k3c_buf_append(&b, "[", 1);
        for (int i = 0; i < depth; i++)
            k3c_buf_append(&b, "]", 1);
        check_load(b.data, b.len);
        k3c_buf_fini(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch_rfc7386),
        cmocka_unit_test(test_encode_drops_resource_version),
        cmocka_unit_test(test_encode_marked),
        cmocka_unit_test(test_from_kv_sets_resource_version),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_generate_name),
        cmocka_unit_test(test_spec_changed),
        cmocka_unit_test(test_json_dump_random),
        cmocka_unit_test(test_json_dump_edges),
        cmocka_unit_test(test_json_load_random),
        cmocka_unit_test(test_json_load_edges),
    };

    return cmocka_run_group_tests_name("api_object", tests, NULL, NULL);
}
