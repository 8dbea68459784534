/* SPDX-License-Identifier: Apache-2.0
 * ssa_set.c - field sets (set form, see ssa.h): the fieldsV1 codec, union,
 * difference, intersection and upstream's path notation. */
#include "ssa/ssa-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

bool
ssa_set_empty(const json_t *set)
{
    return !set || json_object_size(set) == 0;
}

/* ---- fieldsV1 ------------------------------------------------------------ */

/* "k:" and "v:" elements compare as strings, so their JSON is rewritten
 * canonically (compact, keys sorted). */
static char *
canonical_element(const char *key, struct k3c_err *err)
{
    json_t *v;
    char *out, *text;

    if (strcmp(key, ".") == 0)
        return k3c_xstrdup(key);
    if (strncmp(key, "f:", 2) == 0)
        return k3c_xstrdup(key);
    if (strncmp(key, "i:", 2) == 0) {
        char *end;
        long i = strtol(key + 2, &end, 10);

        if (key[2] == '\0' || *end || i < 0) {
            k3c_err_set(err, K3C_E_INVALID, "bad list index element %s", key);
            return NULL;
        }
        return k3c_xasprintf("i:%ld", i);
    }
    if (strncmp(key, "k:", 2) != 0 && strncmp(key, "v:", 2) != 0) {
        k3c_err_set(err, K3C_E_INVALID, "unknown path element %.64s", key);
        return NULL;
    }
    v = json_loads(key + 2, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!v || (key[0] == 'k' && !json_is_object(v))) {
        json_decref(v);
        k3c_err_set(err, K3C_E_INVALID, "bad path element %.64s", key);
        return NULL;
    }
    text = ssa_json_text(v);
    json_decref(v);
    out = k3c_xasprintf("%c:%s", key[0], text);
    free(text);
    return out;
}

static json_t *
decode(const json_t *fields, int depth, struct k3c_err *err)
{
    json_t *set, *child;
    const char *key;

    if (!json_is_object(fields)) {
        k3c_err_set(err, K3C_E_INVALID, "fieldsV1: not an object");
        return NULL;
    }
    if (depth > SSA_MAX_DEPTH) {
        k3c_err_set(err, K3C_E_INVALID, "fieldsV1: nested too deep");
        return NULL;
    }
    set = json_object();
    json_object_foreach((json_t *)fields, key, child)
    {
        _cleanup_free_ char *el = canonical_element(key, err);
        json_t *sub;

        if (!el) {
            json_decref(set);
            return NULL;
        }
        if (strcmp(el, ".") == 0) {
            if (depth > 0)
                json_object_set_new(set, ".", json_object());
            continue;
        }
        sub = decode(child, depth + 1, err);
        if (!sub) {
            json_decref(set);
            return NULL;
        }
        if (json_object_size(sub) == 0)
            json_object_set_new(sub, ".", json_object());
        /* Two spellings of one element (non-canonical JSON) merge. */
        if (json_object_get(set, el)) {
            json_t *u = ssa_set_union(json_object_get(set, el), sub);

            json_decref(sub);
            sub = u;
        }
        json_object_set_new(set, el, sub);
    }
    return set;
}

json_t *
ssa_set_from_fieldsv1(const json_t *fields, struct k3c_err *err)
{
    return decode(fields, 0, err);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted (caller frees the array, not the strings). */
const char **
ssa_sorted_keys(const json_t *obj, size_t *n)
{
    const char **keys = k3c_xcalloc(json_object_size(obj) + 1, sizeof(*keys));
    const char *key;
    json_t *v;
    size_t i = 0;

    json_object_foreach((json_t *)obj, key, v)
    {
        (void)v;
        keys[i++] = key;
    }
    qsort(keys, i, sizeof(*keys), cmp_str);
    *n = i;
    return keys;
}

static json_t *
encode(const json_t *set)
{
    json_t *out = json_object();
    size_t n;
    _cleanup_free_ const char **keys = ssa_sorted_keys(set, &n);

    for (size_t i = 0; i < n; i++) {
        const json_t *child = json_object_get(set, keys[i]);

        if (strcmp(keys[i], ".") == 0) {
            json_object_set_new(out, ".", json_object());
            continue;
        }
        json_object_set_new(out, keys[i], encode(child));
    }
    /* A member without children is written {}. */
    if (json_object_size(out) == 1 && json_object_get(out, "."))
        json_object_del(out, ".");
    return out;
}

json_t *
ssa_set_to_fieldsv1(const json_t *set)
{
    return set ? encode(set) : json_object();
}

/* ---- set operations ------------------------------------------------------ */

json_t *
ssa_set_union(const json_t *a, const json_t *b)
{
    json_t *out = a ? json_deep_copy(a) : json_object();
    const char *key;
    json_t *child;

    json_object_foreach((json_t *)b, key, child)
    {
        json_t *mine = json_object_get(out, key);

        if (strcmp(key, ".") == 0)
            json_object_set_new(out, ".", json_object());
        else if (!mine)
            json_object_set(out, key, child);
        else
            json_object_set_new(out, key, ssa_set_union(mine, child));
    }
    return out;
}

json_t *
ssa_set_difference(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *key;
    json_t *child;

    json_object_foreach((json_t *)a, key, child)
    {
        const json_t *theirs = json_object_get(b, key);

        if (strcmp(key, ".") == 0) {
            if (!theirs)
                json_object_set_new(out, ".", json_object());
        } else if (!theirs) {
            json_object_set(out, key, child);
        } else {
            json_t *d = ssa_set_difference(child, theirs);

            if (json_object_size(d))
                json_object_set_new(out, key, d);
            else
                json_decref(d);
        }
    }
    return out;
}

json_t *
ssa_set_intersection(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *key;
    json_t *child;

    json_object_foreach((json_t *)a, key, child)
    {
        const json_t *theirs = json_object_get(b, key);

        if (!theirs)
            continue;
        if (strcmp(key, ".") == 0) {
            json_object_set_new(out, ".", json_object());
        } else {
            json_t *i = ssa_set_intersection(child, theirs);

            if (json_object_size(i))
                json_object_set_new(out, key, i);
            else
                json_decref(i);
        }
    }
    return out;
}

/* Adds the path (elements el[0..n)) to set as a member. */
void
ssa_set_insert(json_t *set, char *const *el, int n)
{
    for (int i = 0; i < n; i++) {
        json_t *child = json_object_get(set, el[i]);

        if (!child) {
            child = json_object();
            json_object_set_new(set, el[i], child);
        }
        set = child;
    }
    if (n > 0)
        json_object_set_new(set, ".", json_object());
}

/* ---- path notation ------------------------------------------------------- */

/* One element as upstream's fieldpath.PathElement.String() writes it. */
void
ssa_element_string(struct k3c_buf *b, const char *el)
{
    if (strncmp(el, "f:", 2) == 0) {
        k3c_buf_appendf(b, ".%s", el + 2);
    } else if (strncmp(el, "i:", 2) == 0) {
        k3c_buf_appendf(b, "[%s]", el + 2);
    } else if (strncmp(el, "v:", 2) == 0) {
        k3c_buf_appendf(b, "[=%s]", el + 2);
    } else if (strncmp(el, "k:", 2) == 0) {
        _cleanup_json_ json_t *keys = json_loads(el + 2, 0, NULL);
        const char *key;
        json_t *v;
        bool first = true;

        k3c_buf_appendf(b, "[");
        json_object_foreach(keys, key, v)
        {
            _cleanup_free_ char *text = ssa_json_text(v);

            k3c_buf_appendf(b, "%s%s=%s", first ? "" : ",", key, text);
            first = false;
        }
        k3c_buf_appendf(b, "]");
    }
}

static void
foreach_path(const json_t *set, struct k3c_buf *prefix, int depth,
             void (*fn)(const char *path, void *ud), void *ud)
{
    size_t n, len = prefix->len;
    _cleanup_free_ const char **keys = ssa_sorted_keys(set, &n);

    if (depth > SSA_MAX_DEPTH)
        return;
    if (json_object_get(set, ".") && depth > 0)
        fn(prefix->data ? prefix->data : "", ud);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i], ".") == 0)
            continue;
        ssa_element_string(prefix, keys[i]);
        foreach_path(json_object_get(set, keys[i]), prefix, depth + 1, fn, ud);
        prefix->len = len;
        if (prefix->data)
            prefix->data[len] = '\0';
    }
}

void
ssa_set_foreach_path(const json_t *set, void (*fn)(const char *path, void *ud), void *ud)
{
    struct k3c_buf prefix;

    k3c_buf_init(&prefix);
    foreach_path(set, &prefix, 0, fn, ud);
    k3c_buf_fini(&prefix);
}

/* A string jansson writes as it is, between quotes. */
static bool
plain_string(const char *str)
{
    for (const unsigned char *c = (const unsigned char *)str; *c; c++)
        if (*c == '"' || *c == '\\' || *c < 0x20)
            return false;
    return true;
}

bool
ssa_append_string(struct k3c_buf *b, const char *str)
{
    size_t n = strlen(str);
    char *at;

    if (!plain_string(str))
        return false;
    at = k3c_buf_extend(b, n + 2);
    at[0] = '"';
    memcpy(at + 1, str, n);
    at[n + 1] = '"';
    return true;
}

/* An integer as "%lld" writes it, without printf (this runs for every list
 * item of every write). */
static void
append_integer(struct k3c_buf *b, json_int_t v)
{
    char digits[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[sizeof(digits) - 1 - n++] = '-';
    k3c_buf_append(b, digits + sizeof(digits) - n, n);
}

bool
ssa_append_scalar(struct k3c_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return ssa_append_string(b, json_string_value(v));
    case JSON_INTEGER:
        append_integer(b, json_integer_value(v));
        return true;
    case JSON_TRUE:
        k3c_buf_append(b, "true", 4);
        return true;
    case JSON_FALSE:
        k3c_buf_append(b, "false", 5);
        return true;
    case JSON_NULL:
        k3c_buf_append(b, "null", 4);
        return true;
    default:
        return false;
    }
}

/* The common cases (scalars, and objects of scalars such as list keys)
 * without json_dumps: this runs for every list item of every write. */
static bool
fast_text(struct k3c_buf *b, const json_t *v)
{
    size_t n, i;

    if (!json_is_object(v))
        return ssa_append_scalar(b, v);
    {
        _cleanup_free_ const char **keys = ssa_sorted_keys(v, &n);

        k3c_buf_append(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                k3c_buf_append(b, ",", 1);
            if (!ssa_append_string(b, keys[i]))
                return false;
            k3c_buf_append(b, ":", 1);
            if (!ssa_append_scalar(b, json_object_get(v, keys[i])))
                return false;
        }
        k3c_buf_append(b, "}", 1);
    }
    return true;
}

/* Compact JSON of any value, keys sorted; caller frees. */
char *
ssa_json_text(const json_t *v)
{
    struct k3c_buf b;
    char *s;

    k3c_buf_init(&b);
    if (fast_text(&b, v))
        return k3c_buf_steal(&b, NULL);
    k3c_buf_fini(&b);
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s ? s : k3c_xstrdup("null");
}
