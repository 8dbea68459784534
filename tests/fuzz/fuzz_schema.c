/* SPDX-License-Identifier: Apache-2.0
 * fuzz_schema.c - structural schema defaulting and validation (src/schema/)
 * as the API server runs them on every custom object written: any user who
 * may create a CRD chooses the schema, any user who may write its objects
 * chooses the object. Input "<schema>\0<object>"; without a NUL the input is
 * the object under a fixed schema. Checks that validation leaves the object
 * as it was, that every cause has a reason, message and field, and that
 * defaulting is idempotent. */
#include "fuzz.h"
#include "schema/schema.h"

static const char fixed_schema[] =
    "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"required\":[\"a\"],"
    "\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^[a-z]+(\\\\d)*$\",\"maxLength\":8,"
    "\"enum\":[\"x\",\"yy\"]},\"n\":{\"type\":\"integer\",\"minimum\":1,\"default\":3},"
    "\"l\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"k\"],\"items\":{\"type\":\"object\",\"properties\":"
    "{\"k\":{\"type\":\"string\"},\"v\":{\"default\":{\"z\":1}}}}},"
    "\"s\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"set\",\"items\":{}},"
    "\"m\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\",\"format\":\"int32\"}"
    "},"
    "\"o\":{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":\"string\","
    "\"format\":\"cidr\"}]},\"i\":{\"x-kubernetes-int-or-string\":true}}}}}";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    json_t *schema, *obj, *copy, *causes, *once, *c;
    size_t i;

    if (fuzz_split(data, size, &a, &a_len, &b, &b_len)) {
        schema = json_loadb((const char *)a, a_len, 0, NULL);
        obj = json_loadb((const char *)b, b_len, JSON_DECODE_ANY, NULL);
    } else {
        schema = json_loads(fixed_schema, 0, NULL);
        obj = json_loadb((const char *)a, a_len, JSON_DECODE_ANY, NULL);
    }
    if (!json_is_object(schema) || !obj) {
        json_decref(schema);
        json_decref(obj);
        return 0;
    }
    copy = json_deep_copy(obj);
    causes = json_array();
    schema_validate(schema, obj, true, causes);
    FUZZ_CHECK(json_equal(obj, copy), "validation modified the object");
    json_array_foreach(causes, i, c)
    {
        FUZZ_CHECK(json_string_value(json_object_get(c, "reason")) &&
                       json_string_value(json_object_get(c, "message")) &&
                       json_string_value(json_object_get(c, "field")),
                   "a cause without reason, message or field");
    }
    schema_default(schema, obj);
    once = json_deep_copy(obj);
    schema_default(schema, obj);
    FUZZ_CHECK(json_equal(obj, once), "defaulting is not idempotent");
    json_decref(once);
    json_decref(causes);
    json_decref(copy);
    json_decref(obj);
    json_decref(schema);
    return 0;
}
