/* SPDX-License-Identifier: Apache-2.0
 * fuzz_ssa_fieldsv1.c - the fieldsV1 decoder (src/ssa/) and managedFields
 * as a client may send them in any write: the input is a managedFields
 * list (or one fieldsV1 object) run through ssa_set_from_fieldsv1 and
 * ssa_update over a fixed ConfigMap. Checks that a decoded set encodes and
 * decodes to itself, that set operations agree with each other, that the
 * canonical JSON of keys is jansson's, and that the inputs are left as
 * they were. */
#include "api/api-internal.h"
#include "fuzz.h"
#include "ssa/ssa-internal.h"

static struct ssa_schema schema;
static json_t *old_cm, *new_cm;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct api_resource *r = api_resource_find("", "v1", "configmaps");

    (void)argc;
    (void)argv;
    fuzz_quiet();
    FUZZ_CHECK(r != NULL, "no v1 configmaps");
    schema = (struct ssa_schema){api_openapi_kind_schema(r), api_openapi_resolve, NULL};
    old_cm =
        json_loads("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
                   "\"labels\":{\"a\":\"1\"}},\"data\":{\"x\":\"1\",\"y\":\"2\"}}",
                   0, NULL);
    new_cm =
        json_loads("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
                   "\"labels\":{\"b\":\"1\"}},\"data\":{\"x\":\"9\",\"z\":\"3\"}}",
                   0, NULL);
    FUZZ_CHECK(old_cm && new_cm, "the fixed ConfigMaps do not parse");
    return 0;
}

static void
check_set(const json_t *fields)
{
    struct k3c_err err = {0};
    json_t *set = ssa_set_from_fieldsv1(fields, &err), *enc, *again, *u, *d, *i;

    if (!set) {
        FUZZ_CHECK(err.kind == K3C_E_INVALID, "a failure other than INVALID");
        return;
    }
    enc = ssa_set_to_fieldsv1(set);
    again = ssa_set_from_fieldsv1(enc, &err);
    FUZZ_CHECK(again && json_equal(set, again), "encode then decode changed the set");
    u = ssa_set_union(set, again);
    d = ssa_set_difference(set, again);
    i = ssa_set_intersection(set, again);
    FUZZ_CHECK(json_equal(u, set), "s | s != s");
    FUZZ_CHECK(ssa_set_empty(d), "s - s is not empty");
    FUZZ_CHECK(json_equal(i, set) || ssa_set_empty(set), "s & s != s");
    json_decref(set);
    json_decref(enc);
    json_decref(again);
    json_decref(u);
    json_decref(d);
    json_decref(i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *copy, *out;
    struct ssa_manager m = {"fuzz", NULL, "v1", "2026-01-01T00:00:00Z"};
    struct k3c_err err = {0};
    size_t n;
    json_t *e;

    if (!in)
        return 0;
    copy = json_deep_copy(in);
    {
        /* Keys are compared as text: the fast writer must match jansson. */
        char *mine = ssa_json_text(in);
        char *theirs = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        FUZZ_CHECK(mine && theirs && strcmp(mine, theirs) == 0,
                   "ssa_json_text differs from jansson");
        free(mine);
        free(theirs);
    }
    if (json_is_object(in))
        check_set(in);
    json_array_foreach(in, n, e)
    {
        check_set(json_object_get(e, "fieldsV1"));
    }
    out = ssa_update(old_cm, new_cm, in, &m, &schema, &err);
    if (out) {
        FUZZ_CHECK(json_is_array(out), "managedFields is not a list");
        json_decref(out);
    } else {
        FUZZ_CHECK(err.kind == K3C_E_INVALID, "a failure other than INVALID");
    }
    FUZZ_CHECK(json_equal(in, copy), "the input was modified");
    json_decref(copy);
    json_decref(in);
    return 0;
}
