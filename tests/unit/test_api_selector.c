/* SPDX-License-Identifier: Apache-2.0
 * test_api_selector.c - label and field selectors against the behaviour of
 * k8s.io/apimachinery (grammar, matching, error messages), and
 * api_json_path_string. Table driven: one row per case. */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

K3C_DEFINE_CLEANUP(struct label_selector *, label_selector_free)
K3C_DEFINE_CLEANUP(struct field_selector *, field_selector_free)

/* ---- label selectors: parse + match ------------------------------------ */

struct label_case {
    const char *selector;
    const char *labels; /* JSON object, or NULL for an object without labels */
    bool match;
};

static const struct label_case label_cases[] = {
    /* everything */
    {"", "{\"a\":\"b\"}", true},
    {"", NULL, true},
    {"  \t ", "{}", true},
    /* equality */
    {"a=b", "{\"a\":\"b\"}", true},
    {"a==b", "{\"a\":\"b\"}", true},
    {"a=b", "{\"a\":\"c\"}", false},
    {"a=b", "{}", false},
    {"a=b", NULL, false},
    {"a=", "{\"a\":\"\"}", true},
    {"a=", "{\"a\":\"x\"}", false},
    {"a=", "{}", false},
    {"a==", "{\"a\":\"\"}", true},
    /* inequality matches objects without the key */
    {"a!=b", "{\"a\":\"b\"}", false},
    {"a!=b", "{\"a\":\"c\"}", true},
    {"a!=b", "{}", true},
    {"a!=b", NULL, true},
    /* set based */
    {"a in (b,c)", "{\"a\":\"c\"}", true},
    {"a in (b,c)", "{\"a\":\"d\"}", false},
    {"a in (b,c)", "{}", false},
    {"a in (b)", "{\"a\":\"b\"}", true},
    {"a notin (b,c)", "{\"a\":\"d\"}", true},
    {"a notin (b,c)", "{\"a\":\"b\"}", false},
    {"a notin (b,c)", "{}", true},
    {"a notin (b,c)", NULL, true},
    {"a in ()", "{\"a\":\"\"}", true},
    {"a in ()", "{\"a\":\"b\"}", false},
    {"a in (,b)", "{\"a\":\"\"}", true},
    {"a in (b,)", "{\"a\":\"\"}", true},
    {"a in (b,)", "{\"a\":\"b\"}", true},
    {"a in (b,b,c)", "{\"a\":\"c\"}", true},
    /* the keywords are plain identifiers where a key or value goes */
    {"in in (in)", "{\"in\":\"in\"}", true},
    {"notin notin (x)", "{\"notin\":\"y\"}", true},
    {"in=notin", "{\"in\":\"notin\"}", true},
    /* exists / does not exist */
    {"a", "{\"a\":\"\"}", true},
    {"a", "{\"b\":\"a\"}", false},
    {"a", NULL, false},
    {"!a", "{}", true},
    {"!a", NULL, true},
    {"!a", "{\"a\":\"x\"}", false},
    {"a,b", "{\"a\":\"1\",\"b\":\"2\"}", true},
    {"a,!b", "{\"a\":\"1\",\"b\":\"2\"}", false},
    /* several requirements are ANDed */
    {"a=b,c=d", "{\"a\":\"b\",\"c\":\"d\"}", true},
    {"a=b,c=d", "{\"a\":\"b\"}", false},
    {"x=1,x=2", "{\"x\":\"1\"}", false},
    {"a in (b,c),a notin (c)", "{\"a\":\"b\"}", true},
    {"a in (b,c),a notin (c)", "{\"a\":\"c\"}", false},
    {"env in (prod,qa),tier notin (frontend),!canary,app",
     "{\"env\":\"qa\",\"tier\":\"backend\",\"app\":\"x\"}", true},
    /* whitespace around every token */
    {"  a = b , c  in ( d , e ) ", "{\"a\":\"b\",\"c\":\"e\"}", true},
    {"a\t!=\tb,\n! c\r", "{\"a\":\"x\"}", true},
    {"a==b , b", "{\"a\":\"b\",\"b\":\"\"}", true},
    /* qualified keys and the full value charset */
    {"example.com/app=web", "{\"example.com/app\":\"web\"}", true},
    {"k8s.io/a_b.c-D=X.y_z-9", "{\"k8s.io/a_b.c-D\":\"X.y_z-9\"}", true},
    {"app=web", "{\"example.com/app\":\"web\"}", false},
    /* gt / lt compare integers; a value that is not one never matches */
    {"a>5", "{\"a\":\"10\"}", true},
    {"a>5", "{\"a\":\"5\"}", false},
    {"a>5", "{\"a\":\"x\"}", false},
    {"a>5", "{}", false},
    {"a<5", "{\"a\":\"-3\"}", true},
    {"a<5", "{\"a\":\"7\"}", false},
};

static void
test_label_parse_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(label_cases); i++) {
        const struct label_case *c = &label_cases[i];
        struct k3c_err err = {0};
        _cleanup_(label_selector_freep) struct label_selector *sel =
            label_selector_parse(c->selector, &err);
        _cleanup_json_ json_t *labels = c->labels ? json_loads(c->labels, 0, NULL) : NULL;

        if (!sel)
            fail_msg("case %zu '%s': parse failed: %s", i, c->selector, err.msg);
        assert_true(!c->labels || labels);
        if (label_selector_matches(sel, labels) != c->match)
            fail_msg("case %zu '%s' on %s: want %s", i, c->selector,
                     c->labels ? c->labels : "(no labels)", c->match ? "match" : "no match");
    }
}

/* ---- label selectors: errors ------------------------------------------- */

struct error_case {
    const char *selector;
    const char *msg; /* exact; a trailing '*' compares only what is before it */
};

#define REQ "unable to parse requirement: "
#define KEY_BAD                                                                                    \
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "          \
    "and end with an alphanumeric character"
#define K64 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
#define V64 "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"

static const struct error_case label_errors[] = {
    /* grammar */
    {"a in (b", REQ "found '', expected: ',' or ')'"},
    {"a in (b c)", REQ "found 'c', expected: ',' or ')'"},
    {"a in b", REQ "found 'b' expected: '('"},
    {"a in", REQ "found '' expected: '('"},
    {"a in (=)", REQ "found '=', expected: ',', ')' or identifier"},
    {"a in (b,=)", REQ "found '=', expected: ',', or identifier"},
    {"a notin (b),", "found '', expected: identifier after ','"},
    {"=b", "found '=', expected: !, identifier, or 'end of string'"},
    {",a", "found ',', expected: !, identifier, or 'end of string'"},
    {"(a)", "found '(', expected: !, identifier, or 'end of string'"},
    {"a b", REQ "found 'b', expected: in, notin, =, ==, !=, gt, lt"},
    {"a(b)", REQ "found '(', expected: in, notin, =, ==, !=, gt, lt"},
    {"a=b c", "found 'c', expected: ',' or 'end of string'"},
    {"a=b,", "found '', expected: identifier after ','"},
    {"a,,b", "found ',', expected: identifier after ','"},
    {"a=b;c=d", REQ "values[0][a]: Invalid value: \"b;c\": a valid label must be*"},
    {"a===b", REQ "found '=', expected: identifier"},
    {"a=(b)", REQ "found '(', expected: identifier"},
    {"!a=b", "found '=', expected: ',' or 'end of string'"},
    {"!", REQ "found '', expected: identifier"},
    {"!!a", REQ "found '!', expected: identifier"},
    /* keys */
    {K64 "=v",
     REQ "<nil>: Invalid value: \"" K64 "\": name part must be no more than 63 characters"},
    {"a$b=c", REQ "<nil>: Invalid value: \"a$b\": " KEY_BAD},
    {"-a", REQ "<nil>: Invalid value: \"-a\": " KEY_BAD},
    {"a.", REQ "<nil>: Invalid value: \"a.\": " KEY_BAD},
    {"a/", REQ "<nil>: Invalid value: \"a/\": name part must be non-empty; " KEY_BAD},
    {"/a", REQ "<nil>: Invalid value: \"/a\": prefix part must be non-empty"},
    {"Foo.com/a", REQ "<nil>: Invalid value: \"Foo.com/a\": prefix part a lowercase RFC 1123*"},
    {"a..b/c", REQ "<nil>: Invalid value: \"a..b/c\": prefix part a lowercase RFC 1123*"},
    {"a/b/c=d", REQ "<nil>: Invalid value: \"a/b/c\": a qualified name must consist*"},
    {"app:monolith", REQ "<nil>: Invalid value: \"app:monolith\": " KEY_BAD},
    /* values */
    {"a=-b", REQ "values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or*"},
    {"a=" V64, REQ "values[0][a]: Invalid value: \"" V64 "\": must be no more than 63 characters*"},
    {"a in (b,-c)", REQ "values[0][a]: Invalid value: \"-c\": *"}, /* the set is sorted */
    {"a in (b,c_)", REQ "values[1][a]: Invalid value: \"c_\": *"},
    {"a>x", REQ "values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an "
                "integer"},
    {"a<99999999999999999999", REQ "values[0]: Invalid value: \"99999999999999999999\": *"},
};

static void
assert_msg(size_t i, const char *input, const char *want, const char *got)
{
    size_t n = strlen(want);
    bool prefix = n > 0 && want[n - 1] == '*';

    if (prefix ? strncmp(got, want, n - 1) != 0 : strcmp(got, want) != 0)
        fail_msg("case %zu '%s':\n  want: %s\n  got:  %s", i, input, want, got);
}

static void
test_label_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(label_errors); i++) {
        const struct error_case *c = &label_errors[i];
        struct k3c_err err = {0};
        struct label_selector *sel = label_selector_parse(c->selector, &err);

        if (sel) {
            label_selector_free(sel);
            fail_msg("case %zu '%s': parsed, want an error", i, c->selector);
        }
        assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
        assert_msg(i, c->selector, c->msg, err.msg);
    }
}

static void
test_label_free_null(void **state)
{
    (void)state;
    label_selector_free(NULL);
    field_selector_free(NULL);
}

/* ---- field selectors --------------------------------------------------- */

struct fields {
    const char *name;
    const char *node; /* spec.nodeName; NULL when absent */
};

static const char *
get_field(void *ud, const char *field)
{
    const struct fields *f = ud;

    if (strcmp(field, "metadata.name") == 0)
        return f->name;
    if (strcmp(field, "metadata.namespace") == 0)
        return "default";
    if (strcmp(field, "spec.nodeName") == 0)
        return f->node;
    return NULL;
}

struct field_case {
    const char *selector;
    struct fields obj;
    bool match;
};

static const char *const pod_fields[] = {"spec.nodeName", "status.phase", NULL};

static const struct field_case field_cases[] = {
    {"", {"p1", "n1"}, true},
    {",", {"p1", "n1"}, true},
    {"metadata.name=p1", {"p1", "n1"}, true},
    {"metadata.name==p1", {"p1", "n1"}, true},
    {"metadata.name=p2", {"p1", "n1"}, false},
    {"metadata.name!=p1", {"p1", "n1"}, false},
    {"metadata.name!=p2", {"p1", "n1"}, true},
    {"metadata.namespace=default", {"p1", NULL}, true},
    {"metadata.namespace=default,metadata.name=p1", {"p1", NULL}, true},
    {"metadata.namespace=default,metadata.name=p2", {"p1", NULL}, false},
    /* an absent field compares as "" */
    {"spec.nodeName=", {"p1", NULL}, true},
    {"spec.nodeName==", {"p1", "n1"}, false},
    {"spec.nodeName!=", {"p1", "n1"}, true},
    {"spec.nodeName!=", {"p1", NULL}, false},
    {"status.phase=", {"p1", NULL}, true},
    {"status.phase=Running", {"p1", NULL}, false},
    {"spec.nodeName=n1,status.phase!=Failed", {"p1", "n1"}, true},
    /* escapes: \, \= \\ */
    {"metadata.name=a\\,b", {"a,b", NULL}, true},
    {"metadata.name=a\\,b", {"a", NULL}, false},
    {"metadata.name=a\\=b", {"a=b", NULL}, true},
    {"metadata.name=a\\\\b", {"a\\b", NULL}, true},
    {"metadata.name!=a\\,b,spec.nodeName=n\\=1", {"x", "n=1"}, true},
};

static void
test_field_parse_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(field_cases); i++) {
        const struct field_case *c = &field_cases[i];
        struct k3c_err err = {0};
        _cleanup_(field_selector_freep) struct field_selector *sel =
            field_selector_parse(c->selector, pod_fields, &err);
        struct fields obj = c->obj;

        if (!sel)
            fail_msg("case %zu '%s': parse failed: %s", i, c->selector, err.msg);
        if (field_selector_matches(sel, get_field, &obj) != c->match)
            fail_msg("case %zu '%s': want %s", i, c->selector, c->match ? "match" : "no match");
    }
}

static const struct error_case field_errors[] = {
    {"spec.foo=bar", "field label not supported: spec.foo"},
    {"metadata.name=a,spec.foo=bar", "field label not supported: spec.foo"},
    {"a = b", "field label not supported: a "},
    {"=b", "field label not supported: "},
    {"metadata.labels.app=x", "field label not supported: metadata.labels.app"},
    {"spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"},
    {"metadata.name=x,foo", "invalid selector: 'metadata.name=x,foo'; can't understand 'foo'"},
    /* upstream prints the rune with %v: its code point */
    {"metadata.name=a=b", "invalid field selector: unescaped character in value: 61"},
    {"metadata.name==a=b", "invalid field selector: unescaped character in value: 61"},
    {"metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"},
    {"metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"},
    {"metadata.name=\\\xc3\xa9", "invalid field selector: invalid escape sequence: \\\xc3\xa9"},
    /* every term is parsed before fields are checked */
    {"spec.foo=x,metadata.name=a=b", "invalid field selector: unescaped character in value: 61"},
};

static void
test_field_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(field_errors); i++) {
        const struct error_case *c = &field_errors[i];
        struct k3c_err err = {0};
        struct field_selector *sel = field_selector_parse(c->selector, pod_fields, &err);

        if (sel) {
            field_selector_free(sel);
            fail_msg("case %zu '%s': parsed, want an error", i, c->selector);
        }
        assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
        assert_msg(i, c->selector, c->msg, err.msg);
    }
}

static void
test_field_no_supported_list(void **state)
{
    struct k3c_err err = {0};
    struct field_selector *sel = field_selector_parse("spec.nodeName=n1", NULL, &err);
    _cleanup_(field_selector_freep) struct field_selector *ok =
        field_selector_parse("metadata.name=p1", NULL, &err);

    (void)state;
    assert_null(sel);
    assert_string_equal(err.msg, "field label not supported: spec.nodeName");
    assert_non_null(ok);
}

/* ---- api_json_path_string ---------------------------------------------- */

struct path_case {
    const char *path;
    const char *want; /* NULL: no string */
};

static const struct path_case path_cases[] = {
    {"metadata.name", "p"},
    {"metadata.labels.app", "web"},
    {"spec.nodeName", ""},
    {"spec.replicas", "3"},
    {"spec.neg", "-7"},
    {"spec.big", "9007199254740993"},
    {"spec.paused", "false"},
    {"spec.host", "true"},
    {"spec.ratio", "0.5"},
    {"spec.third", "0.1"},
    {"metadata", NULL},
    {"spec.list", NULL},
    {"spec.nothing", NULL},
    {"spec.missing", NULL},
    {"metadata.name.x", NULL},
    {"nope.deeper", NULL},
    {"", NULL},
    {"metadata.", NULL},
};

static const char path_obj[] =
    "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"web\"}},"
    "\"spec\":{\"nodeName\":\"\",\"replicas\":3,\"neg\":-7,\"big\":9007199254740993,"
    "\"paused\":false,\"host\":true,\"ratio\":0.5,\"third\":0.1,\"list\":[1],\"nothing\":null}}";

static void
test_json_path(void **state)
{
    _cleanup_json_ json_t *obj = json_loads(path_obj, 0, NULL);

    (void)state;
    assert_non_null(obj);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(path_cases); i++) {
        const struct path_case *c = &path_cases[i];
        char buf[32];
        const char *got = api_json_path_string(obj, c->path, buf, sizeof(buf));

        if (!c->want && got)
            fail_msg("case %zu '%s': want NULL, got '%s'", i, c->path, got);
        if (c->want && (!got || strcmp(got, c->want) != 0))
            fail_msg("case %zu '%s': want '%s', got '%s'", i, c->path, c->want, got ? got : "NULL");
    }
}

static void
test_json_path_storage(void **state)
{
    _cleanup_json_ json_t *obj = json_loads(path_obj, 0, NULL);
    char buf[32];
    char tiny[3];

    (void)state;
    /* strings point into the object, numbers into buf */
    assert_ptr_equal(api_json_path_string(obj, "metadata.name", buf, sizeof(buf)),
                     json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
    assert_ptr_equal(api_json_path_string(obj, "spec.replicas", buf, sizeof(buf)), buf);
    /* strings need no buffer; a number that does not fit gives NULL */
    assert_string_equal(api_json_path_string(obj, "metadata.name", NULL, 0), "p");
    assert_null(api_json_path_string(obj, "spec.replicas", NULL, 0));
    assert_string_equal(api_json_path_string(obj, "spec.neg", tiny, sizeof(tiny)), "-7");
    assert_null(api_json_path_string(obj, "spec.big", tiny, sizeof(tiny)));
    assert_null(api_json_path_string(obj, "spec.paused", tiny, sizeof(tiny)));
    /* a top-level value that is not an object has no paths */
    {
        _cleanup_json_ json_t *s = json_string("x");

        assert_null(api_json_path_string(s, "a", buf, sizeof(buf)));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_parse_match), cmocka_unit_test(test_label_errors),
        cmocka_unit_test(test_label_free_null),   cmocka_unit_test(test_field_parse_match),
        cmocka_unit_test(test_field_errors),      cmocka_unit_test(test_field_no_supported_list),
        cmocka_unit_test(test_json_path),         cmocka_unit_test(test_json_path_storage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
