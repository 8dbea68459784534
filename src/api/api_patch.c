/* SPDX-License-Identifier: Apache-2.0
 * api_patch.c - RFC 6902 JSON Patch and Kubernetes strategic merge patch
 * (k8s.io/apimachinery/pkg/util/strategicpatch, apply side). Both work on a
 * private deep copy of the stored object and never touch their inputs; the
 * strategic merge recursion follows the patch and stops at
 * API_PATCH_MAX_DEPTH. */
#include "api/api-patch.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared ---------------------------------------------------------------- */

static bool value_equal(const json_t *a, const json_t *b);

static bool
object_equal(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *av;

    if (json_object_size(a) != json_object_size(b))
        return false;
    json_object_foreach((json_t *)a, key, av)
    {
        const json_t *bv = json_object_get(b, key);

        if (!bv || !value_equal(av, bv))
            return false;
    }
    return true;
}

static bool
array_equal(const json_t *a, const json_t *b)
{
    size_t n = json_array_size(a);

    if (n != json_array_size(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!value_equal(json_array_get(a, i), json_array_get(b, i)))
            return false;
    return true;
}

/* RFC 6902 §4.6 equality: numbers by value (1 == 1.0), objects regardless of
 * member order, arrays element by element. Also used for merge-key values. */
static bool
value_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(a))
        return object_equal(a, b);
    if (json_is_array(a))
        return array_equal(a, b);
    return json_equal(a, b);
}

static const char *
kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* ---- JSON Patch: RFC 6901 pointers ----------------------------------------- */

struct jptr {
    char **tok; /* unescaped reference tokens */
    size_t n;
};

static void
jptr_fini(struct jptr *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->tok[i]);
    free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

/* Copies one reference token of len bytes, turning ~1 into '/' and ~0 into
 * '~' (in that order of meaning, RFC 6901 §4: "~01" is "~1"). */
static char *
jptr_unescape(const char *s, size_t len)
{
    char *t = k3c_xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] != '~') {
            t[o++] = s[i];
            continue;
        }
        if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')) {
            free(t);
            return NULL;
        }
        t[o++] = s[i + 1] == '0' ? '~' : '/';
        i++;
    }
    t[o] = '\0';
    return t;
}

static int
jptr_parse(const char *s, struct jptr *p, struct k3c_err *err)
{
    size_t cap = 0;
    const char *cur = s + 1;

    p->tok = NULL;
    p->n = 0;
    if (*s == '\0')
        return 0;
    if (*s != '/')
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "JSON pointer \"%.64s\" must start with '/'", s);
    for (const char *c = s; *c; c++)
        cap += *c == '/';
    p->tok = k3c_xcalloc(cap, sizeof(*p->tok));
    for (;;) {
        const char *end = strchr(cur, '/');
        size_t len = end ? (size_t)(end - cur) : strlen(cur);
        char *t = jptr_unescape(cur, len);

        if (!t) {
            jptr_fini(p);
            return k3c_err_set(err, K3C_E_BAD_REQUEST,
                               "JSON pointer \"%.64s\": '~' must be followed by '0' or '1'", s);
        }
        p->tok[p->n++] = t;
        if (!end)
            return 0;
        cur = end + 1;
    }
}

/* An array index token (RFC 6901 §4): "0" or digits without a leading zero.
 * "-" names the slot after the last element and is valid only where end_ok;
 * so is an index equal to the size. */
static int
array_index(const char *tok, size_t size, bool end_ok, size_t *out, struct k3c_err *err)
{
    size_t len = strlen(tok);
    unsigned long long v;

    if (end_ok && strcmp(tok, "-") == 0) {
        *out = size;
        return 0;
    }
    if (len == 0 || len > 18 || strspn(tok, "0123456789") != len || (len > 1 && tok[0] == '0'))
        return k3c_err_set(err, K3C_E_INVALID, "\"%.64s\" is not an array index", tok);
    v = strtoull(tok, NULL, 10);
    if (v > size || (v == size && !end_ok))
        return k3c_err_set(err, K3C_E_INVALID, "array index %llu is out of bounds (size %zu)", v,
                           size);
    *out = (size_t)v;
    return 0;
}

/* The value named by the first n tokens of p (borrowed), or NULL with err. */
static json_t *
jptr_walk(json_t *root, const struct jptr *p, size_t n, struct k3c_err *err)
{
    json_t *cur = root;

    for (size_t i = 0; i < n; i++) {
        json_t *next = NULL;
        size_t idx = 0;

        if (json_is_object(cur))
            next = json_object_get(cur, p->tok[i]);
        else if (json_is_array(cur)) {
            if (array_index(p->tok[i], json_array_size(cur), false, &idx, err) < 0)
                return NULL;
            next = json_array_get(cur, idx);
        } else {
            k3c_err_set(err, K3C_E_INVALID, "\"%.64s\" is inside %s", p->tok[i], kind_name(cur));
            return NULL;
        }
        if (!next) {
            k3c_err_set(err, K3C_E_INVALID, "member \"%.64s\" does not exist", p->tok[i]);
            return NULL;
        }
        cur = next;
    }
    return cur;
}

/* ---- JSON Patch: operations ------------------------------------------------ */

struct jp_args {
    struct jptr path;
    struct jptr from;
    const json_t *value;
    size_t *copied; /* bytes the patch's copy operations have added so far */
};

/* RFC 6902 §4.1 add, consuming value in every case. */
static int
jp_put_take(json_t **root, const struct jptr *p, json_t *value, struct k3c_err *err)
{
    _cleanup_json_ json_t *v = value;
    json_t *parent;
    const char *last;
    size_t idx;

    if (p->n == 0) {
        json_decref(*root);
        *root = TAKE_PTR(v);
        return 0;
    }
    parent = jptr_walk(*root, p, p->n - 1, err);
    if (!parent)
        return -1;
    last = p->tok[p->n - 1];
    if (json_is_object(parent)) {
        if (json_object_set_new(parent, last, TAKE_PTR(v)) < 0)
            return k3c_err_set(err, K3C_E_BAD_REQUEST, "member name is not valid UTF-8");
        return 0;
    }
    if (!json_is_array(parent))
        return k3c_err_set(err, K3C_E_INVALID, "cannot add \"%.64s\" to %s", last,
                           kind_name(parent));
    if (array_index(last, json_array_size(parent), true, &idx, err) < 0)
        return -1;
    json_array_insert_new(parent, idx, TAKE_PTR(v));
    return 0;
}

/* Detaches the value at p and hands it out (a new reference). */
static int
jp_take_out(json_t **root, const struct jptr *p, json_t **out, struct k3c_err *err)
{
    json_t *parent;
    const char *last;
    json_t *v;
    size_t idx;

    if (p->n == 0)
        return k3c_err_set(err, K3C_E_INVALID, "cannot remove the whole document");
    parent = jptr_walk(*root, p, p->n - 1, err);
    if (!parent)
        return -1;
    last = p->tok[p->n - 1];
    if (json_is_object(parent)) {
        v = json_object_get(parent, last);
        if (!v)
            return k3c_err_set(err, K3C_E_INVALID, "member \"%.64s\" does not exist", last);
        *out = json_incref(v);
        json_object_del(parent, last);
        return 0;
    }
    if (!json_is_array(parent))
        return k3c_err_set(err, K3C_E_INVALID, "\"%.64s\" is inside %s", last, kind_name(parent));
    if (array_index(last, json_array_size(parent), false, &idx, err) < 0)
        return -1;
    *out = json_incref(json_array_get(parent, idx));
    json_array_remove(parent, idx);
    return 0;
}

static int
jp_add(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    return jp_put_take(root, &a->path, json_deep_copy(a->value), err);
}

static int
jp_remove(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    _cleanup_json_ json_t *gone = NULL;

    return jp_take_out(root, &a->path, &gone, err);
}

/* §4.3: the target must exist (for arrays an index below the size, no "-");
 * an object member keeps its place. */
static int
jp_replace(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    const struct jptr *p = &a->path;
    json_t *parent;
    const char *last;
    size_t idx;

    if (p->n == 0)
        return jp_put_take(root, p, json_deep_copy(a->value), err);
    parent = jptr_walk(*root, p, p->n - 1, err);
    if (!parent)
        return -1;
    last = p->tok[p->n - 1];
    if (json_is_object(parent)) {
        if (!json_object_get(parent, last))
            return k3c_err_set(err, K3C_E_INVALID, "member \"%.64s\" does not exist", last);
        json_object_set_new(parent, last, json_deep_copy(a->value));
        return 0;
    }
    if (!json_is_array(parent))
        return k3c_err_set(err, K3C_E_INVALID, "\"%.64s\" is inside %s", last, kind_name(parent));
    if (array_index(last, json_array_size(parent), false, &idx, err) < 0)
        return -1;
    json_array_set_new(parent, idx, json_deep_copy(a->value));
    return 0;
}

static bool
jptr_is_proper_prefix(const struct jptr *pre, const struct jptr *p)
{
    if (pre->n >= p->n)
        return false;
    for (size_t i = 0; i < pre->n; i++)
        if (strcmp(pre->tok[i], p->tok[i]) != 0)
            return false;
    return true;
}

static int
jp_move(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    json_t *v = NULL;

    if (jptr_is_proper_prefix(&a->from, &a->path))
        return k3c_err_set(err, K3C_E_INVALID, "cannot move a value into one of its children");
    if (jp_take_out(root, &a->from, &v, err) < 0)
        return -1;
    return jp_put_take(root, &a->path, v, err);
}

/* About the serialised size of v, counting at most up to limit. */
static size_t
json_size_bounded(const json_t *v, size_t limit)
{
    size_t n = 8, i;
    const char *key;
    json_t *child;

    if (json_is_string(v))
        return n + json_string_length(v);
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child)
        {
            n += strlen(key) + json_size_bounded(child, limit - (n < limit ? n : limit));
            if (n > limit)
                return n;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            n += json_size_bounded(child, limit - (n < limit ? n : limit));
            if (n > limit)
                return n;
        }
    }
    return n;
}

/* Copies can double the document per operation, so their total is capped
 * as kube-apiserver caps it (JSONPatchMaxCopyBytes). */
static int
jp_copy(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    json_t *v = jptr_walk(*root, &a->from, a->from.n, err);
    size_t size;

    if (!v)
        return -1;
    size = json_size_bounded(v, API_JSON_PATCH_MAX_COPY_BYTES);
    if (*a->copied + size > API_JSON_PATCH_MAX_COPY_BYTES)
        return k3c_err_set(err, K3C_E_BAD_REQUEST,
                           "the copy operations of this patch would add more than %d bytes",
                           API_JSON_PATCH_MAX_COPY_BYTES);
    *a->copied += size;
    return jp_put_take(root, &a->path, json_deep_copy(v), err);
}

static int
jp_test(json_t **root, const struct jp_args *a, struct k3c_err *err)
{
    json_t *v = jptr_walk(*root, &a->path, a->path.n, err);

    if (!v)
        return -1;
    if (!value_equal(v, a->value))
        return k3c_err_set(err, K3C_E_INVALID, "test failed: the value differs");
    return 0;
}

static const struct jp_op {
    const char *name;
    bool from;
    bool value;
    int (*apply)(json_t **root, const struct jp_args *a, struct k3c_err *err);
} jp_ops[] = {
    {"add", false, true, jp_add},         {"remove", false, false, jp_remove},
    {"replace", false, true, jp_replace}, {"move", true, false, jp_move},
    {"copy", true, false, jp_copy},       {"test", false, true, jp_test},
};

static const struct jp_op *
jp_op_find(const char *name)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(jp_ops); i++)
        if (strcmp(jp_ops[i].name, name) == 0)
            return &jp_ops[i];
    return NULL;
}

/* Reads the members an operation needs; a->path/from are parsed on success
 * and belong to the caller. */
static int
jp_args_parse(const json_t *op, const struct jp_op *o, struct jp_args *a, struct k3c_err *err)
{
    const json_t *path = json_object_get(op, "path");
    const json_t *from = json_object_get(op, "from");

    if (!json_is_string(path))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "missing \"path\"");
    if (o->from && !json_is_string(from))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "missing \"from\"");
    a->value = json_object_get(op, "value");
    if (o->value && !a->value)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "missing \"value\"");
    if (jptr_parse(json_string_value(path), &a->path, err) < 0)
        return -1;
    if (o->from && jptr_parse(json_string_value(from), &a->from, err) < 0) {
        jptr_fini(&a->path);
        return -1;
    }
    return 0;
}

static int
jp_apply_one(json_t **root, const json_t *op, size_t *copied, struct k3c_err *err)
{
    const struct jp_op *o;
    struct jp_args a = {.copied = copied};
    int rc;

    if (!json_is_object(op))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "an operation must be an object");
    if (!json_is_string(json_object_get(op, "op")))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "missing \"op\"");
    o = jp_op_find(json_string_value(json_object_get(op, "op")));
    if (!o)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "unknown op \"%.32s\"",
                           json_string_value(json_object_get(op, "op")));
    if (jp_args_parse(op, o, &a, err) < 0)
        return k3c_err_wrap(err, "%s", o->name);
    rc = o->apply(root, &a, err);
    if (rc < 0)
        k3c_err_wrap(err, "%s %.64s", o->name, json_string_value(json_object_get(op, "path")));
    jptr_fini(&a.path);
    jptr_fini(&a.from);
    return rc;
}

json_t *
api_json_patch(const json_t *doc, const json_t *ops, struct k3c_err *err)
{
    _cleanup_json_ json_t *root = NULL;
    size_t i, copied = 0;
    const json_t *op;

    if (!json_is_array(ops)) {
        k3c_err_set(err, K3C_E_BAD_REQUEST, "a JSON patch must be an array of operations");
        return NULL;
    }
    if (json_array_size(ops) > API_JSON_PATCH_MAX_OPS) {
        k3c_err_set(err, K3C_E_BAD_REQUEST, "a JSON patch may have at most %d operations, got %zu",
                    API_JSON_PATCH_MAX_OPS, json_array_size(ops));
        return NULL;
    }
    root = doc ? json_deep_copy(doc) : json_null();
    json_array_foreach(ops, i, op)
    {
        if (jp_apply_one(&root, op, &copied, err) < 0) {
            k3c_err_wrap(err, "json patch operation %zu", i);
            return NULL;
        }
    }
    return TAKE_PTR(root);
}

/* ---- strategic merge patch: schema ------------------------------------------ */

#define SMP_REF_HOPS 16

#define DIR_PATCH       "$patch"
#define DIR_RETAIN      "$retainKeys"
#define DIR_ORDER       "$setElementOrder/"
#define DIR_DELETE_PRIM "$deleteFromPrimitiveList/"

struct smp {
    api_schema_resolve_fn resolve;
    void *ud;
    struct k3c_err *err;
    size_t plen;
    char path[200]; /* the field being merged, for messages */
};

/* What the schema says about one field. */
struct smp_field {
    const json_t *schema;  /* resolved schema of the value, or NULL */
    const char *merge_key; /* x-kubernetes-patch-merge-key, or NULL */
    bool merge;            /* patch strategy includes "merge" */
    bool replace;          /* patch strategy includes "replace" */
};

enum smp_kind { SMP_ANY, SMP_OBJECT, SMP_ARRAY, SMP_SCALAR };

static int smp_fail(struct smp *s, enum k3c_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
smp_fail(struct smp *s, enum k3c_errkind kind, const char *fmt, ...)
{
    char msg[K3C_ERR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return k3c_err_set(s->err, kind, "%s: %s", s->plen ? s->path : "patch", msg);
}

/* Appends to the field path; returns the length to restore with path_pop. */
static size_t path_push(struct smp *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t
path_push(struct smp *s, const char *fmt, ...)
{
    size_t old = s->plen;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(s->path + old, sizeof(s->path) - old, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->plen = old + (size_t)n < sizeof(s->path) ? old + (size_t)n : sizeof(s->path) - 1;
    return old;
}

static void
path_pop(struct smp *s, size_t len)
{
    s->plen = len;
    s->path[len] = '\0';
}

static bool
schema_has_shape(const json_t *node)
{
    return json_object_get(node, "type") || json_object_get(node, "properties") ||
           json_object_get(node, "items") || json_object_get(node, "additionalProperties");
}

/* Follows "$ref" and a shape-less "allOf":[{"$ref":...}] (how OpenAPI v3
 * attaches a description or default to a reference) to the schema that
 * describes the value. NULL when unknown. */
static const json_t *
schema_deref(const struct smp *s, const json_t *node)
{
    for (int hop = 0; hop < SMP_REF_HOPS && json_is_object(node); hop++) {
        const json_t *ref = json_object_get(node, "$ref");
        const json_t *all = json_object_get(node, "allOf");

        if (json_is_string(ref))
            node = s->resolve ? s->resolve(json_string_value(ref), s->ud) : NULL;
        else if (json_array_size(all) > 0 && !schema_has_shape(node))
            node = json_array_get(all, 0);
        else
            return node;
    }
    return NULL;
}

/* An extension of a field: on the property itself, else on what it refers to. */
static const char *
schema_ext(const json_t *raw, const json_t *resolved, const char *name)
{
    const json_t *v = json_object_get(raw, name);

    if (!v)
        v = json_object_get(resolved, name);
    return json_string_value(v);
}

static void
field_from_node(const struct smp *s, const json_t *raw, struct smp_field *f)
{
    const char *strategy;

    memset(f, 0, sizeof(*f));
    f->schema = schema_deref(s, raw);
    f->merge_key = schema_ext(raw, f->schema, "x-kubernetes-patch-merge-key");
    strategy = schema_ext(raw, f->schema, "x-kubernetes-patch-strategy");
    while (strategy && *strategy) {
        size_t len = strcspn(strategy, ",");

        if (len == 5 && strncmp(strategy, "merge", 5) == 0)
            f->merge = true;
        else if (len == 7 && strncmp(strategy, "replace", 7) == 0)
            f->replace = true;
        strategy += len + (strategy[len] == ',');
    }
}

/* The field key of an object described by parent (resolved): a property, or
 * the value schema of a map (additionalProperties). */
static void
schema_field(const struct smp *s, const json_t *parent, const char *key, struct smp_field *f)
{
    const json_t *raw = json_object_get(json_object_get(parent, "properties"), key);

    if (!raw && json_is_object(json_object_get(parent, "additionalProperties")))
        raw = json_object_get(parent, "additionalProperties");
    field_from_node(s, raw, f);
}

static enum smp_kind
schema_kind(const json_t *sch)
{
    const char *type = json_string_value(json_object_get(sch, "type"));

    if (!sch || json_is_true(json_object_get(sch, "x-kubernetes-preserve-unknown-fields")))
        return SMP_ANY;
    if (json_is_true(json_object_get(sch, "x-kubernetes-int-or-string")))
        return SMP_SCALAR;
    if (!type)
        return json_object_get(sch, "properties") ||
                       json_is_object(json_object_get(sch, "additionalProperties"))
                   ? SMP_OBJECT
                   : SMP_ANY;
    if (strcmp(type, "object") == 0)
        return SMP_OBJECT;
    if (strcmp(type, "array") == 0)
        return SMP_ARRAY;
    return SMP_SCALAR;
}

/* Only the JSON type is checked (objects, lists, scalars): scalar types are
 * left to validation, since Quantity and IntOrString take both. */
static int
check_kind(struct smp *s, const json_t *schema, const json_t *v)
{
    enum smp_kind k = schema_kind(schema);
    const char *want = NULL;

    if (json_is_null(v))
        return 0;
    if (k == SMP_OBJECT && !json_is_object(v))
        want = "an object";
    else if (k == SMP_ARRAY && !json_is_array(v))
        want = "a list";
    else if (k == SMP_SCALAR && (json_is_object(v) || json_is_array(v)))
        want = "a string, number or boolean";
    if (!want)
        return 0;
    return smp_fail(s, K3C_E_INVALID, "expected %s, got %s", want, kind_name(v));
}

/* ---- strategic merge patch: lists ------------------------------------------- */

static int merge_map(struct smp *s, json_t *target, const json_t *patch, const json_t *schema,
                     int depth);

static bool
is_directive(const json_t *v, const char *which)
{
    const char *d = json_string_value(json_object_get(v, DIR_PATCH));

    return d && strcmp(d, which) == 0;
}

/* What identifies an element: its merge key, or the element itself. */
static const json_t *
elem_id(const json_t *v, const char *mk)
{
    return mk && json_is_object(v) ? json_object_get(v, mk) : v;
}

static bool
ids_equal(const json_t *a, const json_t *b)
{
    return a && b && value_equal(a, b);
}

static long
index_of(const json_t *list, const json_t *id, const char *mk)
{
    size_t n = json_array_size(list);

    if (!id)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (ids_equal(elem_id(json_array_get(list, i), mk), id))
            return (long)i;
    }
    return -1;
}

struct ord_item {
    json_t *v;
    long want; /* index in the wanted order, -1 if not named there */
    long srv;  /* index in the stored list, -1 if new */
    size_t pos;
};

static int
ord_by_want(const void *a, const void *b)
{
    const struct ord_item *x = a, *y = b;

    if (x->want != y->want)
        return x->want < y->want ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
ord_by_srv(const void *a, const void *b)
{
    const struct ord_item *x = a, *y = b;
    unsigned long xs = (unsigned long)x->srv, ys = (unsigned long)y->srv; /* -1 sorts last */

    if (xs != ys)
        return xs < ys ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Upstream normalizeElementOrder: elements named in order keep that order,
 * the others keep the stored order, and the two runs are interleaved by the
 * stored order; an element the stored list lacks goes before the stored
 * element it is compared with (mergeSortedSlice). */
static void
reorder(json_t *list, const json_t *order, const json_t *stored, const char *mk)
{
    size_t n = json_array_size(list), np = 0, ns = 0, i = 0, j = 0;
    _cleanup_free_ struct ord_item *items = NULL;
    _cleanup_free_ struct ord_item *rest = NULL;

    if (n < 2)
        return;
    items = k3c_xcalloc(n, sizeof(*items));
    rest = k3c_xcalloc(n, sizeof(*rest));
    for (size_t k = 0; k < n; k++) {
        json_t *v = json_array_get(list, k);
        const json_t *id = elem_id(v, mk);
        struct ord_item it = {json_incref(v), index_of(order, id, mk), index_of(stored, id, mk), k};

        if (it.want >= 0)
            items[np++] = it;
        else
            rest[ns++] = it;
    }
    qsort(items, np, sizeof(*items), ord_by_want);
    qsort(rest, ns, sizeof(*rest), ord_by_srv);
    json_array_clear(list);
    while (i < ns || j < np) {
        bool take_rest = j >= np || (i < ns && rest[i].srv >= 0 && items[j].srv >= 0 &&
                                     rest[i].srv < items[j].srv);

        json_array_append_new(list, take_rest ? rest[i++].v : items[j++].v);
    }
}

static void
remove_values(json_t *list, const json_t *values)
{
    for (size_t i = json_array_size(list); i-- > 0;)
        if (index_of(values, json_array_get(list, i), NULL) >= 0)
            json_array_remove(list, i);
}

static void
delete_matching(json_t *list, const char *mk, const json_t *id)
{
    for (size_t i = json_array_size(list); i-- > 0;) {
        const json_t *o = elem_id(json_array_get(list, i), mk);

        if (o && json_is_object(json_array_get(list, i)) && value_equal(o, id))
            json_array_remove(list, i);
    }
}

/* A copy of a patch value with directives applied against nothing: nulls and
 * directives vanish, nested merge lists are built as from empty. NULL (no
 * error) when the value asks to be dropped. */
static int
fresh_value(struct smp *s, const json_t *v, const json_t *schema, int depth, json_t **out)
{
    _cleanup_json_ json_t *o = NULL;

    *out = NULL;
    if (!json_is_object(v)) {
        *out = json_deep_copy(v);
        return 0;
    }
    if (json_object_get(v, DIR_PATCH))
        return 0; /* upstream removeDirectives drops marked elements */
    o = json_object();
    if (merge_map(s, o, v, schema, depth) < 0)
        return -1;
    *out = TAKE_PTR(o);
    return 0;
}

/* Splits a merge list patch into plain elements and the "$patch" elements,
 * applying the latter to work. Sets *replace for {"$patch": "replace"}. */
static int
apply_list_directives(struct smp *s, json_t *work, const json_t *patch, const char *mk,
                      json_t *plain, bool *replace)
{
    size_t i;
    const json_t *e;

    json_array_foreach(patch, i, e)
    {
        const json_t *d = json_object_get(e, DIR_PATCH);
        const char *dv = json_string_value(d);
        size_t mark;
        int rc = 0;

        if (!d) {
            json_array_append(plain, (json_t *)e);
            continue;
        }
        mark = path_push(s, "[%zu]", i);
        if (dv && strcmp(dv, "replace") == 0)
            *replace = true;
        else if (dv && strcmp(dv, "delete") == 0 && mk && json_object_get(e, mk))
            delete_matching(work, mk, json_object_get(e, mk));
        else if (dv && strcmp(dv, "delete") == 0)
            rc = smp_fail(s, K3C_E_BAD_REQUEST, "\"$patch\": \"delete\" needs the merge key %s",
                          mk ? mk : "(none: not a merge list of objects)");
        else if (dv && strcmp(dv, "merge") == 0)
            rc = smp_fail(s, K3C_E_BAD_REQUEST,
                          "merging lists cannot yet be specified in the patch");
        else
            rc = smp_fail(s, K3C_E_BAD_REQUEST, "unknown \"$patch\" directive in a list");
        path_pop(s, mark);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Lists of lists cannot merge, and a merge list holds either objects (then
 * it needs a merge key) or scalars. Returns 1 for objects, 0 for scalars. */
static int
list_elem_kind(struct smp *s, const json_t *a, const json_t *b, const char *mk)
{
    const json_t *lists[] = {a, b};
    size_t objects = 0, scalars = 0;

    for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++) {
        size_t i;
        const json_t *e;

        json_array_foreach(lists[l], i, e)
        {
            if (json_is_array(e))
                return smp_fail(s, K3C_E_BAD_REQUEST, "lists of lists cannot be merged");
            if (json_is_object(e))
                objects++;
            else
                scalars++;
        }
    }
    if (objects && scalars)
        return smp_fail(s, K3C_E_BAD_REQUEST, "list mixes objects and scalars");
    if (objects && !mk)
        return smp_fail(s, K3C_E_BAD_REQUEST, "cannot merge a list of objects without a merge key");
    return objects > 0;
}

static int
merge_elem(struct smp *s, json_t *work, const json_t *e, const struct smp_field *f,
           const json_t *items, int depth)
{
    const json_t *id = json_object_get(e, f->merge_key);
    json_t *found = NULL;
    json_t *fresh = NULL;
    size_t n = json_array_size(work);

    if (!id)
        return smp_fail(s, K3C_E_BAD_REQUEST, "element does not contain the merge key %s",
                        f->merge_key);
    for (size_t i = 0; i < n && !found; i++) {
        json_t *o = json_array_get(work, i);
        const json_t *oid = json_object_get(o, f->merge_key);

        if (oid && value_equal(oid, id))
            found = o;
    }
    if (found)
        return merge_map(s, found, e, items, depth);
    if (fresh_value(s, e, items, depth, &fresh) < 0)
        return -1;
    if (fresh)
        json_array_append_new(work, fresh);
    return 0;
}

/* Merges the plain patch elements into work (upstream mergeSlice). */
static int
merge_elems(struct smp *s, json_t *work, const json_t *plain, const struct smp_field *f,
            const json_t *items, int depth)
{
    _cleanup_json_ json_t *stored = json_copy(work);
    int objects = list_elem_kind(s, work, plain, f->merge_key);
    size_t i;
    const json_t *e;

    if (objects < 0)
        return -1;
    if (!objects) {
        _cleanup_json_ json_t *all = json_array();

        json_array_extend(all, work);
        json_array_extend(all, (json_t *)plain);
        json_array_clear(work);
        json_array_foreach(all, i, e)
        {
            if (index_of(work, e, NULL) < 0)
                json_array_append_new(work, json_deep_copy(e));
        }
    } else {
        json_array_foreach(plain, i, e)
        {
            size_t mark = path_push(s, "[%zu]", i);
            int rc = merge_elem(s, work, e, f, items, depth);

            path_pop(s, mark);
            if (rc < 0)
                return -1;
        }
    }
    reorder(work, plain, stored, objects ? f->merge_key : NULL);
    return 0;
}

/* The elements of a list that is replaced, cleaned of directives. */
static int
replace_elems(struct smp *s, json_t *work, const json_t *plain, const json_t *items, int depth)
{
    size_t i;
    const json_t *e;

    json_array_clear(work);
    json_array_foreach(plain, i, e)
    {
        size_t mark = path_push(s, "[%zu]", i);
        json_t *fresh = NULL;
        int rc = fresh_value(s, e, items, depth, &fresh);

        path_pop(s, mark);
        if (rc < 0)
            return -1;
        if (fresh)
            json_array_append_new(work, fresh);
    }
    return 0;
}

static int
check_elems(struct smp *s, const json_t *list, const json_t *items)
{
    size_t i;
    const json_t *e;

    json_array_foreach(list, i, e)
    {
        size_t mark = path_push(s, "[%zu]", i);
        int rc = check_kind(s, items, e);

        path_pop(s, mark);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* upstream validatePatchWithSetOrderList: the patch list's elements must
 * appear in $setElementOrder, in the same relative order. */
static int
check_order(struct smp *s, const json_t *plain, const json_t *order, const char *mk)
{
    size_t j = 0, n = json_array_size(order), i;
    const json_t *e;

    if (mk) {
        json_array_foreach(order, i, e)
        {
            if (!json_object_get(e, mk))
                return smp_fail(s, K3C_E_BAD_REQUEST,
                                "$setElementOrder entries must be objects with the merge key %s",
                                mk);
        }
    }
    if (n == 0)
        return 0;
    json_array_foreach(plain, i, e)
    {
        const json_t *id = elem_id(e, mk);

        while (j < n && !ids_equal(elem_id(json_array_get(order, j), mk), id))
            j++;
        if (j == n)
            return smp_fail(s, K3C_E_BAD_REQUEST,
                            "the order in the patch list doesn't match $setElementOrder");
        j++;
    }
    return 0;
}

/* The new value of a list field: cur is what is stored (any type, or NULL),
 * patch the patch's list (or NULL when only directives name the field).
 * *out stays NULL when there is no list either side. */
static int
merge_list(struct smp *s, const json_t *cur, const json_t *patch, const struct smp_field *f,
           const json_t *order, const json_t *dels, int depth, json_t **out)
{
    _cleanup_json_ json_t *work = NULL;
    _cleanup_json_ json_t *plain = json_array();
    const json_t *stored = json_is_array(cur) ? cur : NULL;
    struct smp_field item;
    bool replace = !f->merge;

    *out = NULL;
    if (depth > API_PATCH_MAX_DEPTH)
        return smp_fail(s, K3C_E_BAD_REQUEST, "nested deeper than %d levels", API_PATCH_MAX_DEPTH);
    if (dels && !json_is_array(dels))
        return smp_fail(s, K3C_E_BAD_REQUEST, "$deleteFromPrimitiveList must be a list");
    if (order && !json_is_array(order))
        return smp_fail(s, K3C_E_BAD_REQUEST, "$setElementOrder must be a list");
    if (!stored && !patch)
        return 0;
    field_from_node(s, json_object_get(f->schema, "items"), &item);
    work = stored ? json_copy((json_t *)stored) : json_array();
    if (dels)
        remove_values(work, dels);
    if (patch && f->merge &&
        apply_list_directives(s, work, patch, f->merge_key, plain, &replace) < 0)
        return -1;
    if (patch && !f->merge)
        json_array_extend(plain, (json_t *)patch);
    if (patch && check_elems(s, plain, item.schema) < 0)
        return -1;
    if (order && check_order(s, plain, order, f->merge_key) < 0)
        return -1;
    if (patch && replace && replace_elems(s, work, plain, item.schema, depth) < 0)
        return -1;
    if (patch && !replace && merge_elems(s, work, plain, f, item.schema, depth) < 0)
        return -1;
    if (order)
        reorder(work, order, stored, f->merge_key);
    *out = TAKE_PTR(work);
    return 0;
}

/* ---- strategic merge patch: maps -------------------------------------------- */

static bool
has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
is_directive_key(const char *key)
{
    return strcmp(key, DIR_PATCH) == 0 || strcmp(key, DIR_RETAIN) == 0 ||
           has_prefix(key, DIR_ORDER) || has_prefix(key, DIR_DELETE_PRIM);
}

/* The parallel directive "<prefix><field>" of the patch, or NULL. */
static const json_t *
sibling(const json_t *patch, const char *prefix, const char *field)
{
    char key[320];

    if ((size_t)snprintf(key, sizeof(key), "%s%s", prefix, field) >= sizeof(key))
        return NULL;
    return json_object_get(patch, key);
}

static bool
list_has_string(const json_t *list, const char *str)
{
    size_t i;
    const json_t *v;

    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), str) == 0)
            return true;
    }
    return false;
}

/* $retainKeys: keep only the listed keys of target. Every key the patch sets
 * must be listed (upstream ErrBadPatchFormatForRetainKeys). */
static int
apply_retain_keys(struct smp *s, json_t *target, const json_t *patch)
{
    const json_t *keep = json_object_get(patch, DIR_RETAIN);
    const char *key;
    json_t *v;
    void *tmp;
    size_t i;

    if (!keep)
        return 0;
    if (!json_is_array(keep))
        return smp_fail(s, K3C_E_BAD_REQUEST, "$retainKeys must be a list of field names");
    json_array_foreach(keep, i, v)
    {
        if (!json_is_string(v))
            return smp_fail(s, K3C_E_BAD_REQUEST, "$retainKeys must be a list of field names");
    }
    json_object_foreach((json_t *)patch, key, v)
    {
        if (!json_is_null(v) && !is_directive_key(key) && !list_has_string(keep, key))
            return smp_fail(s, K3C_E_BAD_REQUEST, "field %.64s is missing from $retainKeys", key);
    }
    json_object_foreach_safe(target, tmp, key, v)
    {
        if (!list_has_string(keep, key))
            json_object_del(target, key);
    }
    return 0;
}

/* Sets target[key] from an object in the patch. */
static int
merge_object_field(struct smp *s, json_t *target, const char *key, const json_t *val,
                   const struct smp_field *f, int depth)
{
    json_t *cur = json_object_get(target, key);
    _cleanup_json_ json_t *fresh = NULL;

    if (json_is_object(cur) && !f->replace)
        return merge_map(s, cur, val, f->schema, depth);
    /* upstream: a map marked for deletion that was not there stays absent;
     * one that was there becomes {} */
    if (!json_is_object(cur) && is_directive(val, "delete")) {
        json_object_del(target, key);
        return 0;
    }
    fresh = json_object();
    if (merge_map(s, fresh, val, f->schema, depth) < 0)
        return -1;
    json_object_set_new(target, key, TAKE_PTR(fresh));
    return 0;
}

/* One field of the patch: val is its value, or NULL when only its parallel
 * directives ($setElementOrder/, $deleteFromPrimitiveList/) name it. */
static int
merge_field_value(struct smp *s, json_t *target, const char *key, const json_t *val,
                  const json_t *patch, const struct smp_field *f, int depth)
{
    const json_t *order = sibling(patch, DIR_ORDER, key);
    const json_t *dels = sibling(patch, DIR_DELETE_PRIM, key);
    json_t *list = NULL;

    if (val && json_is_null(val)) {
        json_object_del(target, key);
        return 0;
    }
    if (val && check_kind(s, f->schema, val) < 0)
        return -1;
    if (val && json_is_object(val))
        return merge_object_field(s, target, key, val, f, depth);
    if (val && !json_is_array(val)) {
        json_object_set_new(target, key, json_deep_copy(val));
        return 0;
    }
    if (merge_list(s, json_object_get(target, key), val, f, order, dels, depth, &list) < 0)
        return -1;
    if (list)
        json_object_set_new(target, key, list);
    return 0;
}

static int
merge_field(struct smp *s, json_t *target, const char *key, const json_t *val, const json_t *patch,
            const json_t *schema, int depth)
{
    struct smp_field f;
    size_t mark = path_push(s, s->plen ? ".%.64s" : "%.64s", key);
    int rc;

    schema_field(s, schema, key, &f);
    rc = merge_field_value(s, target, key, val, patch, &f, depth);
    path_pop(s, mark);
    return rc;
}

/* One member of the patch. A parallel directive whose field is in the patch
 * too is handled with that field. */
static int
merge_member(struct smp *s, json_t *target, const json_t *patch, const char *key, const json_t *val,
             const json_t *schema, int depth)
{
    const char *field = NULL;

    if (strcmp(key, DIR_PATCH) == 0 || strcmp(key, DIR_RETAIN) == 0)
        return 0;
    if (has_prefix(key, DIR_ORDER))
        field = key + strlen(DIR_ORDER);
    else if (has_prefix(key, DIR_DELETE_PRIM))
        field = key + strlen(DIR_DELETE_PRIM);
    if (!field)
        return merge_field(s, target, key, val, patch, schema, depth);
    if (json_object_get(patch, field))
        return 0;
    /* both directives for one absent field: handle once, from the first */
    if (has_prefix(key, DIR_DELETE_PRIM) && sibling(patch, DIR_ORDER, field))
        return 0;
    return merge_field(s, target, field, NULL, patch, schema, depth);
}

static int
merge_map(struct smp *s, json_t *target, const json_t *patch, const json_t *schema, int depth)
{
    const json_t *d = json_object_get(patch, DIR_PATCH);
    const char *key;
    json_t *val;

    if (depth > API_PATCH_MAX_DEPTH)
        return smp_fail(s, K3C_E_BAD_REQUEST, "nested deeper than %d levels", API_PATCH_MAX_DEPTH);
    if (d && !json_is_string(d))
        return smp_fail(s, K3C_E_BAD_REQUEST, "\"$patch\" must be a string");
    if (d && strcmp(json_string_value(d), "delete") == 0) {
        json_object_clear(target);
        return 0;
    }
    if (d && strcmp(json_string_value(d), "replace") != 0)
        return smp_fail(s, K3C_E_BAD_REQUEST, "unknown \"$patch\" directive \"%.32s\" in a map",
                        json_string_value(d));
    if (d)
        json_object_clear(target);
    if (apply_retain_keys(s, target, patch) < 0)
        return -1;
    json_object_foreach((json_t *)patch, key, val)
    {
        if (merge_member(s, target, patch, key, val, schema, depth + 1) < 0)
            return -1;
    }
    return 0;
}

json_t *
api_strategic_merge_patch(const json_t *original, const json_t *patch, const json_t *schema,
                          api_schema_resolve_fn resolve, void *ud, struct k3c_err *err)
{
    struct smp s = {.resolve = resolve, .ud = ud, .err = err};
    _cleanup_json_ json_t *out = NULL;

    if (!json_is_object(patch)) {
        k3c_err_set(err, K3C_E_BAD_REQUEST, "a strategic merge patch must be a JSON object");
        return NULL;
    }
    if (original && !json_is_object(original)) {
        k3c_err_set(err, K3C_E_INTERNAL, "strategic merge patch: the stored value is %s",
                    kind_name(original));
        return NULL;
    }
    out = original ? json_deep_copy(original) : json_object();
    if (merge_map(&s, out, patch, schema_deref(&s, schema), 0) < 0)
        return NULL;
    return TAKE_PTR(out);
}
