/* SPDX-License-Identifier: Apache-2.0
 * test_schema.c - structural schema defaulting and validation (src/schema/):
 * each keyword accepts what it should, refuses what it should with
 * upstream's field path, reason and message, and defaulting fills what is
 * absent at every level. */
#include "schema/schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char widget_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
    "\"metadata\":{\"type\":\"object\"},"
    "\"spec\":{\"type\":\"object\",\"required\":[\"color\"],\"properties\":{"
    "\"color\":{\"type\":\"string\",\"enum\":[\"red\",\"green\"]},"
    "\"size\":{\"type\":\"string\",\"default\":\"medium\",\"pattern\":\"^(small|medium)$\"},"
    "\"replicas\":{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":0,\"maximum\":10,"
    "\"default\":1},"
    "\"ratio\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true},"
    "\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"
    "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"digits\":{\"type\":\"string\",\"pattern\":\"^\\\\d+$\"},"
    "\"port\":{\"x-kubernetes-int-or-string\":true},"
    "\"note\":{\"type\":\"string\",\"nullable\":true},"
    "\"tags\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"set\",\"maxItems\":3,"
    "\"minItems\":1,\"items\":{\"type\":\"string\"}},"
    "\"ports\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\"},\"proto\":{\"type\":\"string\","
    "\"default\":\"TCP\"}}}},"
    "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"extra\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
    "\"template\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
    "\"x-kubernetes-preserve-unknown-fields\":true},"
    "\"choice\":{\"type\":\"object\",\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}],"
    "\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}}}"
    "}}}}";

static json_t *
load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    if (!v)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return v;
}

/* Validates spec (JSON text) under the widget schema; returns the causes. */
static json_t *
causes_for(const char *spec)
{
    json_t *schema = load(widget_schema), *obj = json_object(), *causes = json_array();

    json_object_set_new(obj, "apiVersion", json_string("e2e.k3c.io/v1"));
    json_object_set_new(obj, "kind", json_string("Widget"));
    json_object_set_new(obj, "metadata", load("{\"name\":\"w\",\"labels\":{\"x\":\"y\"}}"));
    json_object_set_new(obj, "spec", load(spec));
    schema_validate(schema, obj, true, causes);
    json_decref(obj);
    json_decref(schema);
    return causes;
}

/* One cause with exactly this field, reason and message. */
static void
expect_cause(const char *spec, const char *field, const char *reason, const char *message)
{
    json_t *causes = causes_for(spec);
    size_t i;
    json_t *c;
    char *all = json_dumps(causes, JSON_COMPACT);

    json_array_foreach(causes, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "field")), field) == 0 &&
            strcmp(json_string_value(json_object_get(c, "reason")), reason) == 0 &&
            strcmp(json_string_value(json_object_get(c, "message")), message) == 0) {
            free(all);
            json_decref(causes);
            return;
        }
    }
    fail_msg("no cause %s %s \"%s\" for %s; got %s", field, reason, message, spec, all);
}

static void
expect_valid(const char *spec)
{
    json_t *causes = causes_for(spec);
    char *all = json_dumps(causes, JSON_COMPACT);

    if (json_array_size(causes) != 0)
        fail_msg("%s: unexpected causes %s", spec, all);
    free(all);
    json_decref(causes);
}

static void
test_valid(void **state)
{
    (void)state;
    expect_valid("{\"color\":\"red\"}");
    expect_valid("{\"color\":\"green\",\"size\":\"small\",\"replicas\":10,\"ratio\":0.5,"
                 "\"name\":\"ab\",\"when\":\"2024-05-01T10:00:00Z\","
                 "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"digits\":\"42\","
                 "\"port\":8080,\"note\":null,\"tags\":[\"a\",\"b\"],"
                 "\"ports\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"labels\":{\"k\":\"v\"},"
                 "\"extra\":{\"x\":[1,{\"y\":2}]},"
                 "\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{}},"
                 "\"choice\":{\"a\":\"x\"}}");
    expect_valid("{\"color\":\"red\",\"port\":\"http\",\"replicas\":3.0}");
}

static void
test_types(void **state)
{
    (void)state;
    expect_cause(
        "{\"color\":\"red\",\"replicas\":\"two\"}", "spec.replicas", "FieldValueTypeInvalid",
        "Invalid value: \"string\": spec.replicas in body must be of type integer: \"two\"");
    expect_cause("{\"color\":\"red\",\"replicas\":1.5}", "spec.replicas", "FieldValueTypeInvalid",
                 "Invalid value: \"number\": spec.replicas in body must be of type integer: 1.5");
    expect_cause("{\"color\":\"red\",\"labels\":{\"k\":1}}", "spec.labels.k",
                 "FieldValueTypeInvalid",
                 "Invalid value: \"integer\": spec.labels.k in body must be of type string: 1");
    expect_cause("{\"color\":\"red\",\"port\":true}", "spec.port", "FieldValueTypeInvalid",
                 "Invalid value: \"boolean\": spec.port in body must be of type integer,string: "
                 "true");
    expect_cause("{\"color\":\"red\",\"size\":null}", "spec.size", "FieldValueTypeInvalid",
                 "Invalid value: \"null\": spec.size in body must be of type string: \"null\"");
    expect_cause("{\"color\":\"red\",\"replicas\":3000000000}", "spec.replicas",
                 "FieldValueInvalid",
                 "Invalid value: 3000000000: spec.replicas in body should be less than or equal "
                 "to 10");
}

static void
test_values(void **state)
{
    (void)state;
    expect_cause("{}", "spec.color", "FieldValueRequired", "Required value");
    expect_cause("{\"color\":\"blue\"}", "spec.color", "FieldValueNotSupported",
                 "Unsupported value: \"blue\": supported values: \"red\", \"green\"");
    expect_cause("{\"color\":\"red\",\"size\":\"huge\"}", "spec.size", "FieldValueInvalid",
                 "Invalid value: \"huge\": spec.size in body should match '^(small|medium)$'");
    expect_cause("{\"color\":\"red\",\"digits\":\"4x\"}", "spec.digits", "FieldValueInvalid",
                 "Invalid value: \"4x\": spec.digits in body should match '^\\d+$'");
    expect_cause("{\"color\":\"red\",\"replicas\":-1}", "spec.replicas", "FieldValueInvalid",
                 "Invalid value: -1: spec.replicas in body should be greater than or equal to 0");
    expect_cause("{\"color\":\"red\",\"ratio\":0}", "spec.ratio", "FieldValueInvalid",
                 "Invalid value: 0: spec.ratio in body should be greater than 0");
    expect_cause("{\"color\":\"red\",\"name\":\"a\"}", "spec.name", "FieldValueInvalid",
                 "Invalid value: \"a\": spec.name in body should be at least 2 chars long");
    expect_cause("{\"color\":\"red\",\"name\":\"abcdef\"}", "spec.name", "FieldValueTooLong",
                 "Too long: may not be more than 5 bytes");
    expect_cause("{\"color\":\"red\",\"when\":\"yesterday\"}", "spec.when", "FieldValueInvalid",
                 "Invalid value: \"yesterday\": spec.when in body must be of type date-time: "
                 "\"yesterday\"");
    expect_cause("{\"color\":\"red\",\"id\":\"not-a-uuid\"}", "spec.id", "FieldValueInvalid",
                 "Invalid value: \"not-a-uuid\": spec.id in body must be of type uuid: "
                 "\"not-a-uuid\"");
}

static void
test_lists_and_objects(void **state)
{
    (void)state;
    expect_cause("{\"color\":\"red\",\"tags\":[\"a\",\"a\"]}", "spec.tags[1]",
                 "FieldValueDuplicate", "Duplicate value: \"a\"");
    expect_cause("{\"color\":\"red\",\"tags\":[]}", "spec.tags", "FieldValueInvalid",
                 "Invalid value: 0: spec.tags in body should have at least 1 items");
    expect_cause("{\"color\":\"red\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "spec.tags",
                 "FieldValueTooMany", "Too many: 4: must have at most 3 items");
    expect_cause("{\"color\":\"red\",\"ports\":[{\"name\":\"a\",\"proto\":\"TCP\"},"
                 "{\"name\":\"a\",\"proto\":\"UDP\"}]}",
                 "spec.ports[1]", "FieldValueDuplicate", "Duplicate value: {\"name\":\"a\"}");
    expect_cause("{\"color\":\"red\",\"template\":{\"spec\":{}}}", "spec.template.apiVersion",
                 "FieldValueRequired", "Required value: must not be empty");
    expect_cause("{\"color\":\"red\",\"choice\":{\"a\":\"x\",\"b\":\"y\"}}", "spec.choice",
                 "FieldValueInvalid",
                 "Invalid value: \"\": spec.choice in body must validate one and only one schema "
                 "(oneOf)");
}

static void
test_defaults(void **state)
{
    json_t *schema = load(widget_schema);
    json_t *obj = load("{\"spec\":{\"color\":\"red\",\"size\":null,\"ports\":[{\"name\":\"a\"},"
                       "{\"name\":\"b\",\"proto\":\"UDP\"}]}}");
    json_t *want = load("{\"spec\":{\"color\":\"red\",\"size\":\"medium\",\"replicas\":1,"
                        "\"ports\":[{\"name\":\"a\",\"proto\":\"TCP\"},"
                        "{\"name\":\"b\",\"proto\":\"UDP\"}]}}");

    (void)state;
    schema_default(schema, obj);
    if (!json_equal(obj, want)) {
        char *got = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

        fail_msg("defaults: got %s", got);
    }
    json_decref(obj);
    json_decref(want);
    json_decref(schema);
}

static void
test_formats(void **state)
{
    json_t *v;

    (void)state;
    v = json_string("10.0.0.0/8");
    assert_true(schema_format_ok("cidr", v));
    json_decref(v);
    v = json_string("10.0.0.0/33");
    assert_false(schema_format_ok("cidr", v));
    json_decref(v);
    v = json_string("256.1.1.1");
    assert_false(schema_format_ok("ipv4", v));
    json_decref(v);
    v = json_string("fd00::1");
    assert_true(schema_format_ok("ipv6", v));
    json_decref(v);
    v = json_string("aGVsbG8=");
    assert_true(schema_format_ok("byte", v));
    json_decref(v);
    v = json_integer(1LL << 40);
    assert_false(schema_format_ok("int32", v));
    json_decref(v);
    v = json_string("anything");
    assert_true(schema_format_ok("no-such-format", v));
    json_decref(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),    cmocka_unit_test(test_types),
        cmocka_unit_test(test_values),   cmocka_unit_test(test_lists_and_objects),
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_formats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
