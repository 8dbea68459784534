/* SPDX-License-Identifier: Apache-2.0
 * test_api_object.c - object helpers: JSON merge patch against RFC 7386's
 * appendix A, storage encoding, keys, generated names, spec changes. */
#include "api/api-internal.h"
#include "base/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
    };

    return cmocka_run_group_tests_name("api_object", tests, NULL, NULL);
}
