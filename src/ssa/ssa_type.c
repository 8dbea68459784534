/* SPDX-License-Identifier: Apache-2.0
 * ssa_type.c - reading merge behaviour out of an OpenAPI v3 schema, the way
 * upstream's schema conversion (k8s.io/apimachinery managedfields
 * schemaconv) turns it into a structured-merge-diff type. */
#include "ssa/ssa-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <string.h>

#define MAX_REF_HOPS 16

/* Follows "$ref" and a single-entry "allOf":[{"$ref"}]. */
static const json_t *
resolve(const struct ssa_schema *s, const json_t *schema)
{
    for (int hops = 0; schema && hops < MAX_REF_HOPS; hops++) {
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        const json_t *all = json_object_get(schema, "allOf");

        if (!ref && json_array_size(all) == 1 && !json_object_get(schema, "properties"))
            ref = json_string_value(json_object_get(json_array_get(all, 0), "$ref"));
        if (!ref)
            return schema;
        schema = s->resolve ? s->resolve(ref, s->ud) : NULL;
    }
    return schema;
}

static const char *
ext(const json_t *schema, const char *name)
{
    return json_string_value(json_object_get(schema, name));
}

static struct ssa_type
deduced(const json_t *value)
{
    struct ssa_type t = {SSA_SCALAR, NULL, NULL, NULL};

    if (json_is_object(value))
        t.kind = SSA_MAP;
    else if (json_is_array(value))
        t.kind = SSA_ATOMIC;
    return t;
}

static struct ssa_type
list_type(const json_t *schema)
{
    struct ssa_type t = {SSA_ATOMIC, schema, NULL, NULL};
    const char *lt = ext(schema, "x-kubernetes-list-type");
    const char *strategy = ext(schema, "x-kubernetes-patch-strategy");

    if (lt && strcmp(lt, "map") == 0 &&
        json_array_size(json_object_get(schema, "x-kubernetes-list-map-keys")) > 0) {
        t.kind = SSA_LIST_MAP;
        t.keys = json_object_get(schema, "x-kubernetes-list-map-keys");
    } else if (lt && strcmp(lt, "set") == 0) {
        t.kind = SSA_LIST_SET;
    } else if (!lt && strategy && strstr(strategy, "merge")) {
        /* Built-in types published before list-type: the strategic merge
         * key is the list's key. */
        t.merge_key = ext(schema, "x-kubernetes-patch-merge-key");
        t.kind = t.merge_key ? SSA_LIST_MAP : SSA_LIST_SET;
    }
    return t;
}

struct ssa_type
ssa_type_of(const struct ssa_schema *s, const json_t *schema, const json_t *value)
{
    struct ssa_type t = {SSA_SCALAR, NULL, NULL, NULL};
    const char *type, *map_type;
    const json_t *props, *addl;

    schema = resolve(s, schema);
    if (!schema)
        return deduced(value);
    type = ext(schema, "type");
    props = json_object_get(schema, "properties");
    addl = json_object_get(schema, "additionalProperties");
    map_type = ext(schema, "x-kubernetes-map-type");
    t.schema = schema;
    if ((type && strcmp(type, "array") == 0) || json_object_get(schema, "items")) {
        t = list_type(schema);
    } else if (json_is_object(props) && json_object_size(props) > 0) {
        t.kind = SSA_STRUCT;
    } else if (json_is_object(addl)) {
        t.kind = SSA_MAP;
    } else if ((type && strcmp(type, "object") == 0) || json_is_true(addl) ||
               json_is_true(json_object_get(schema, "x-kubernetes-preserve-unknown-fields"))) {
        t = deduced(value);
        if (t.kind == SSA_SCALAR)
            t.kind = SSA_MAP;
    }
    if ((t.kind == SSA_STRUCT || t.kind == SSA_MAP) && map_type && strcmp(map_type, "atomic") == 0)
        t.kind = SSA_ATOMIC;
    /* A value whose JSON type contradicts the schema is a leaf. */
    if (value && !json_is_null(value)) {
        bool is_obj = t.kind == SSA_STRUCT || t.kind == SSA_MAP;
        bool is_list = t.kind == SSA_LIST_MAP || t.kind == SSA_LIST_SET;

        if ((is_obj && !json_is_object(value)) || (is_list && !json_is_array(value)))
            t.kind = SSA_ATOMIC;
    }
    return t;
}

const json_t *
ssa_child_schema(const struct ssa_schema *s, const struct ssa_type *t, const char *key,
                 bool *declared)
{
    const json_t *child = NULL, *addl;

    (void)s;
    *declared = false;
    if (!t->schema)
        return NULL;
    if (!key)
        return json_object_get(t->schema, "items");
    child = json_object_get(json_object_get(t->schema, "properties"), key);
    if (child) {
        *declared = true;
        return child;
    }
    addl = json_object_get(t->schema, "additionalProperties");
    return json_is_object(addl) ? addl : NULL;
}

/* A key field missing from an item takes the schema's default, as
 * structured-merge-diff does (ports' protocol defaults to TCP). */
static const json_t *
key_default(const struct ssa_schema *s, const struct ssa_type *t, const char *field)
{
    const json_t *items = resolve(s, json_object_get(t->schema, "items"));
    const json_t *f = json_object_get(json_object_get(items, "properties"), field);

    f = f ? resolve(s, f) : NULL;
    return json_object_get(f, "default");
}

static char *
key_element(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item,
            struct k3c_err *err)
{
    _cleanup_json_ json_t *keys = json_object();
    _cleanup_free_ char *text = NULL;
    size_t n = t->keys ? json_array_size(t->keys) : 1;

    if (!json_is_object(item)) {
        k3c_err_set(err, K3C_E_INVALID,
                    "associative list with keys has an element that is not a map");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *field = t->keys ? json_string_value(json_array_get(t->keys, i)) : t->merge_key;
        const json_t *v = field ? json_object_get(item, field) : NULL;

        if (!field)
            continue;
        if (!v || json_is_null(v))
            v = key_default(s, t, field);
        if (!v) {
            k3c_err_set(
                err, K3C_E_INVALID,
                "associative list with keys has an element that omits key field \"%s\" (and "
                "doesn't have default value)",
                field);
            return NULL;
        }
        if (json_is_object(v) || json_is_array(v)) {
            k3c_err_set(err, K3C_E_INVALID, "associative list key field \"%s\" is not a scalar",
                        field);
            return NULL;
        }
        json_object_set(keys, field, (json_t *)v);
    }
    text = ssa_json_text(keys);
    return k3c_xasprintf("k:%s", text);
}

char *
ssa_item_element(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item,
                 struct k3c_err *err)
{
    _cleanup_free_ char *text = NULL;

    if (t->kind == SSA_LIST_MAP)
        return key_element(s, t, item, err);
    if (json_is_object(item) || json_is_array(item)) {
        k3c_err_set(err, K3C_E_INVALID, "set list has an element that is not a scalar");
        return NULL;
    }
    text = ssa_json_text(item);
    return k3c_xasprintf("v:%s", text);
}
