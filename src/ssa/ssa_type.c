/* SPDX-License-Identifier: Apache-2.0
 * ssa_type.c - reading merge behaviour out of an OpenAPI v3 schema, the way
 * upstream's schema conversion (k8s.io/apimachinery managedfields
 * schemaconv) turns it into a structured-merge-diff type. */
#include "ssa/ssa-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
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
    struct ssa_type t = {SSA_SCALAR, NULL, NULL, NULL, NULL, NULL, NULL, false};

    if (json_is_object(value))
        t.kind = SSA_MAP;
    else if (json_is_array(value))
        t.kind = SSA_ATOMIC;
    return t;
}

static struct ssa_type
list_type(const json_t *schema)
{
    struct ssa_type t = {SSA_ATOMIC, schema, NULL, NULL, NULL, NULL, NULL, false};
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

/* What a schema says of the values under it, before it sees one: the
 * value can still deduce the type (RULE_NONE, RULE_DEDUCE) or contradict it. */
enum rule_kind {
    RULE_NONE,   /* no schema: the value's JSON type decides (deduced) */
    RULE_FIXED,  /* t as it is */
    RULE_DEDUCE, /* deduced, a scalar counting as a map */
};

struct type_rule {
    enum rule_kind kind;
    bool atomic_map; /* x-kubernetes-map-type: atomic */
    struct ssa_type t;
};

static struct type_rule
rule_of(const struct ssa_schema *s, const json_t *unresolved)
{
    struct type_rule r = {
        RULE_FIXED, false, {SSA_SCALAR, NULL, NULL, NULL, NULL, NULL, NULL, false}};
    const json_t *schema = resolve(s, unresolved);
    const char *type, *map_type;
    const json_t *props, *addl;

    r.t.by_value = json_object_get(unresolved, "default") != NULL;
    if (!schema) {
        r.kind = RULE_NONE;
        return r;
    }
    type = ext(schema, "type");
    props = json_object_get(schema, "properties");
    addl = json_object_get(schema, "additionalProperties");
    map_type = ext(schema, "x-kubernetes-map-type");
    r.t.schema = schema;
    if ((type && strcmp(type, "array") == 0) || json_object_get(schema, "items")) {
        r.t = list_type(schema);
    } else if (json_is_object(props) && json_object_size(props) > 0) {
        r.t.kind = SSA_STRUCT;
    } else if (json_is_object(addl)) {
        r.t.kind = SSA_MAP;
    } else if ((type && strcmp(type, "object") == 0) || json_is_true(addl) ||
               json_is_true(json_object_get(schema, "x-kubernetes-preserve-unknown-fields"))) {
        r.kind = RULE_DEDUCE;
        r.t.schema = NULL;
    }
    r.atomic_map = map_type && strcmp(map_type, "atomic") == 0;
    if (r.t.schema) { /* what ssa_child_schema reads */
        r.t.props = json_object_get(schema, "properties");
        r.t.addl = json_object_get(schema, "additionalProperties");
        r.t.items = json_object_get(schema, "items");
    }
    r.t.by_value = json_object_get(unresolved, "default") != NULL; /* list_type reset it */
    return r;
}

static struct ssa_type
rule_apply(const struct type_rule *r, const json_t *value)
{
    struct ssa_type t = r->t;

    if (r->kind == RULE_NONE) {
        t = deduced(value);
        t.by_value = r->t.by_value;
        return t;
    }
    if (r->kind == RULE_DEDUCE) {
        t.kind = deduced(value).kind;
        if (t.kind == SSA_SCALAR)
            t.kind = SSA_MAP;
    }
    if ((t.kind == SSA_STRUCT || t.kind == SSA_MAP) && r->atomic_map)
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

/* ---- the rules of stable schemas, kept --------------------------------------
 * Reading a rule is ten hash lookups (the $ref, then type, properties, ...);
 * every field of every write needs one. For schemas that live as long as the
 * process (ssa_schema.stable: the built-in OpenAPI documents) each rule is
 * read once and kept in a table shared by all threads: a slot, once set, is
 * never changed or freed, so readers need no lock. A full table just reads
 * the schema again. */

#define RULE_SLOTS  4096 /* schemas/ holds ~4,300 JSON objects; writes visit far fewer */
#define RULE_PROBES 8

struct kept_rule {
    const json_t *schema; /* unresolved: the key */
    ssa_resolve_fn resolve;
    struct type_rule rule;
};

static struct kept_rule *_Atomic kept[RULE_SLOTS];

static size_t
slot_of(const json_t *schema)
{
    uintptr_t p = (uintptr_t)schema;

    return (size_t)((p >> 4) ^ (p >> 16)) % RULE_SLOTS;
}

static const struct type_rule *
rule_kept(const struct ssa_schema *s, const json_t *schema)
{
    size_t at = slot_of(schema);
    struct kept_rule *fresh = NULL;

    for (int i = 0; i < RULE_PROBES; i++, at = (at + 1) % RULE_SLOTS) {
        struct kept_rule *k = atomic_load_explicit(&kept[at], memory_order_acquire);

        if (!k) {
            struct kept_rule *expected = NULL;

            if (!fresh) {
                fresh = k3c_xmalloc(sizeof(*fresh));
                fresh->schema = schema;
                fresh->resolve = s->resolve;
                fresh->rule = rule_of(s, schema);
            }
            if (atomic_compare_exchange_strong_explicit(&kept[at], &expected, fresh,
                                                        memory_order_acq_rel, memory_order_acquire))
                return &fresh->rule;
            k = expected; /* another thread took the slot */
        }
        if (k->schema == schema && k->resolve == s->resolve) {
            free(fresh);
            return &k->rule;
        }
    }
    free(fresh);
    return NULL;
}

struct ssa_type
ssa_type_of(const struct ssa_schema *s, const json_t *schema, const json_t *value)
{
    const struct type_rule *kept_one = s->stable && schema ? rule_kept(s, schema) : NULL;
    struct type_rule r;

    if (kept_one)
        return rule_apply(kept_one, value);
    r = rule_of(s, schema);
    return rule_apply(&r, value);
}

const json_t *
ssa_child_schema(const struct ssa_schema *s, const struct ssa_type *t, const char *key,
                 bool *declared)
{
    const json_t *child = NULL;

    (void)s;
    *declared = false;
    if (!t->schema)
        return NULL;
    if (!key)
        return t->items;
    child = json_object_get(t->props, key);
    if (child) {
        *declared = true;
        return child;
    }
    return json_is_object(t->addl) ? t->addl : NULL;
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

/* The "k:" element text of fields (n pairs, sorted by name here), written
 * as ssa_json_text writes the object of them; NULL when a value needs
 * jansson (escapes, reals). */
struct key_field {
    const char *name;
    const json_t *v;
};

/* "name":value; false when either needs jansson. */
static bool
append_member(struct k3c_buf *b, const char *name, const json_t *v)
{
    if (!ssa_append_string(b, name))
        return false;
    k3c_buf_append(b, ":", 1);
    return ssa_append_scalar(b, v);
}

static char *
key_text_fast(struct key_field *f, size_t n)
{
    struct k3c_buf b;

    /* Insertion sort: lists have one to three key fields. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(f[j - 1].name, f[j].name) > 0; j--) {
            struct key_field tmp = f[j];

            f[j] = f[j - 1];
            f[j - 1] = tmp;
        }
    k3c_buf_init(&b);
    k3c_buf_append(&b, "k:{", 3);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(f[i].name, f[i + 1].name) == 0)
            continue; /* a key named twice is one member */
        if (b.len > 3)
            k3c_buf_append(&b, ",", 1);
        if (!append_member(&b, f[i].name, f[i].v)) {
            k3c_buf_fini(&b);
            return NULL;
        }
    }
    k3c_buf_append(&b, "}", 1);
    return k3c_buf_steal(&b, NULL);
}

#define KEY_FIELDS_MAX 8

/* The i-th key field of the list type t (*field; NULL: none) and its value
 * in item, or its schema default when item leaves it out or null; NULL when
 * there is neither. */
static const json_t *
key_field_value(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item, size_t i,
                const char **field)
{
    const json_t *v;

    *field = t->keys ? json_string_value(json_array_get(t->keys, i)) : t->merge_key;
    if (!*field)
        return NULL;
    v = json_object_get(item, *field);
    return v && !json_is_null(v) ? v : key_default(s, t, *field);
}

static char *
key_element(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item,
            struct k3c_err *err)
{
    _cleanup_json_ json_t *keys = NULL;
    _cleanup_free_ char *text = NULL;
    size_t n = t->keys ? json_array_size(t->keys) : 1;
    struct key_field fields[KEY_FIELDS_MAX];
    size_t nfields = 0;
    char *fast;

    if (!json_is_object(item)) {
        k3c_err_set(err, K3C_E_INVALID,
                    "associative list with keys has an element that is not a map");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *field;
        const json_t *v = key_field_value(s, t, item, i, &field);

        if (!field)
            continue;
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
        if (nfields < KEY_FIELDS_MAX)
            fields[nfields] = (struct key_field){field, v};
        nfields++;
    }
    if (nfields <= KEY_FIELDS_MAX && (fast = key_text_fast(fields, nfields)))
        return fast;
    /* The general way: an object of the keys, its canonical JSON. */
    keys = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *field;
        const json_t *v = key_field_value(s, t, item, i, &field);

        if (field)
            json_object_set(keys, field, (json_t *)v);
    }
    text = ssa_json_text(keys);
    return k3c_xasprintf("k:%s", text);
}

char *
ssa_item_element(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item,
                 struct k3c_err *err)
{
    struct k3c_buf b;
    _cleanup_free_ char *text = NULL;

    if (t->kind == SSA_LIST_MAP)
        return key_element(s, t, item, err);
    if (json_is_object(item) || json_is_array(item)) {
        k3c_err_set(err, K3C_E_INVALID, "set list has an element that is not a scalar");
        return NULL;
    }
    k3c_buf_init(&b);
    k3c_buf_append(&b, "v:", 2);
    if (ssa_append_scalar(&b, item))
        return k3c_buf_steal(&b, NULL);
    k3c_buf_fini(&b);
    text = ssa_json_text(item);
    return k3c_xasprintf("v:%s", text);
}
