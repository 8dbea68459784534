/* SPDX-License-Identifier: Apache-2.0
 * ssa_walk.c - the walks over objects by their schema: the field set of an
 * object, the comparison of two objects, the merge of an applied
 * configuration and the removal of fields (structured-merge-diff's
 * tofieldset.go, compare.go, merge.go and remove.go, on jansson values). */
#include "ssa/ssa-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* The path of the value being visited, as set elements. */
struct path {
    char *el[SSA_MAX_DEPTH + 1];
    int n;
};

static int
path_push(struct path *p, char *el, struct k3c_err *err)
{
    if (p->n >= SSA_MAX_DEPTH) {
        free(el);
        return k3c_err_set(err, K3C_E_INVALID, "object nested deeper than %d levels",
                           SSA_MAX_DEPTH);
    }
    p->el[p->n++] = el;
    return 0;
}

static void
path_pop(struct path *p)
{
    free(p->el[--p->n]);
}

static void
path_clear(struct path *p)
{
    while (p->n > 0)
        path_pop(p);
}

/* "f:<key>" (without printf: this runs for every field of every write). */
static char *
field_element(const char *key)
{
    size_t n = strlen(key);
    char *el = k3c_xmalloc(n + 3);

    memcpy(el, "f:", 2);
    memcpy(el + 2, key, n + 1);
    return el;
}

static bool
is_map_kind(enum ssa_kind k)
{
    return k == SSA_STRUCT || k == SSA_MAP;
}

static bool
is_list_kind(enum ssa_kind k)
{
    return k == SSA_LIST_SET || k == SSA_LIST_MAP;
}

/* ---- the field set of an object ------------------------------------------ */

struct fs_walk {
    const struct ssa_schema *s;
    struct path path;
    json_t *set;
};

static int fs_value(struct fs_walk *w, const json_t *schema, const json_t *v, struct k3c_err *err);

static int
fs_map(struct fs_walk *w, const struct ssa_type *t, const json_t *v, struct k3c_err *err)
{
    const char *key;
    json_t *child;

    json_object_foreach((json_t *)v, key, child)
    {
        bool declared;
        const json_t *cs = ssa_child_schema(w->s, t, key, &declared);

        if (path_push(&w->path, field_element(key), err) < 0 || fs_value(w, cs, child, err) < 0)
            return -1;
        if (json_is_null(child) || (json_is_object(child) && json_object_size(child) == 0) ||
            !declared)
            ssa_set_insert(w->set, w->path.el, w->path.n);
        path_pop(&w->path);
    }
    return 0;
}

static int
fs_list(struct fs_walk *w, const struct ssa_type *t, const json_t *v, struct k3c_err *err)
{
    bool declared;
    const json_t *items = ssa_child_schema(w->s, t, NULL, &declared);
    size_t i;
    json_t *item;

    json_array_foreach(v, i, item)
    {
        char *el = ssa_item_element(w->s, t, item, err);

        if (!el)
            return k3c_err_wrap(err, "element %zu", i);
        if (path_push(&w->path, el, err) < 0)
            return -1;
        if (t->kind == SSA_LIST_MAP && fs_value(w, items, item, err) < 0)
            return -1;
        ssa_set_insert(w->set, w->path.el, w->path.n);
        path_pop(&w->path);
    }
    return 0;
}

static int
fs_value(struct fs_walk *w, const json_t *schema, const json_t *v, struct k3c_err *err)
{
    struct ssa_type t = ssa_type_of(w->s, schema, v);

    if (json_is_null(v))
        return 0;
    if (is_map_kind(t.kind))
        return fs_map(w, &t, v, err);
    if (is_list_kind(t.kind))
        return fs_list(w, &t, v, err);
    ssa_set_insert(w->set, w->path.el, w->path.n);
    return 0;
}

json_t *
ssa_set_from_object(const json_t *obj, const struct ssa_schema *s, struct k3c_err *err)
{
    struct fs_walk w = {.s = s, .set = json_object()};

    if (fs_value(&w, s->root, obj, err) < 0) {
        path_clear(&w.path);
        json_decref(w.set);
        return NULL;
    }
    return w.set;
}

/* ---- comparison ---------------------------------------------------------- */

struct cmp_walk {
    const struct ssa_schema *s;
    struct path path;
    json_t *changed, *removed;
};

static int cmp_value(struct cmp_walk *w, const json_t *schema, const json_t *l, const json_t *r,
                     struct k3c_err *err);

static void
cmp_leaf(struct cmp_walk *w, const json_t *l, const json_t *r)
{
    if (!l && !r)
        return;
    if (!r)
        ssa_set_insert(w->removed, w->path.el, w->path.n);
    else if (!l || !json_equal((json_t *)l, (json_t *)r))
        ssa_set_insert(w->changed, w->path.el, w->path.n);
}

static int
cmp_field(struct cmp_walk *w, const struct ssa_type *t, const char *key, const json_t *l,
          const json_t *r, struct k3c_err *err)
{
    bool declared;
    const json_t *cs = ssa_child_schema(w->s, t, key, &declared);

    if (path_push(&w->path, field_element(key), err) < 0 || cmp_value(w, cs, l, r, err) < 0)
        return -1;
    path_pop(&w->path);
    return 0;
}

static int
cmp_map(struct cmp_walk *w, const struct ssa_type *t, bool pointer, const json_t *l,
        const json_t *r, struct k3c_err *err)
{
    const char *key;
    json_t *v;

    if (json_object_size(l) == 0 && json_object_size(r) == 0) {
        cmp_leaf(w, l, r); /* keeps an empty map's owner */
        return 0;
    }
    /* A map, or a struct held by pointer (its schema has no "default": {}),
     * that appears or goes is itself a field: upstream compares Go values,
     * where a struct held by value is never absent. */
    if ((t->kind == SSA_MAP || pointer) && w->path.n > 0 && (!l || !r))
        ssa_set_insert(l ? w->removed : w->changed, w->path.el, w->path.n);
    json_object_foreach((json_t *)l, key, v)
    {
        if (cmp_field(w, t, key, v, json_object_get(r, key), err) < 0)
            return -1;
    }
    json_object_foreach((json_t *)r, key, v)
    {
        if (!json_object_get(l, key) && cmp_field(w, t, key, NULL, v, err) < 0)
            return -1;
    }
    return 0;
}

/* Items by their path element; -1 when one lacks its key. */
static json_t *
index_items(const struct ssa_schema *s, const struct ssa_type *t, const json_t *list,
            struct k3c_err *err)
{
    json_t *idx = json_object();
    size_t i;
    json_t *item;

    json_array_foreach(list, i, item)
    {
        _cleanup_free_ char *el = ssa_item_element(s, t, item, err);

        if (!el) {
            json_decref(idx);
            return NULL;
        }
        if (!json_object_get(idx, el)) /* duplicates: the first counts */
            json_object_set(idx, el, item);
    }
    return idx;
}

static int
cmp_list(struct cmp_walk *w, const struct ssa_type *t, const json_t *l, const json_t *r,
         struct k3c_err *err)
{
    bool declared;
    const json_t *items = ssa_child_schema(w->s, t, NULL, &declared);
    _cleanup_json_ json_t *li = index_items(w->s, t, l, err);
    _cleanup_json_ json_t *ri = li ? index_items(w->s, t, r, err) : NULL;
    const char *el;
    json_t *v;

    if (!li || !ri) {
        /* Stored lists may break their own keys; compare them whole. */
        k3c_err_clear(err);
        cmp_leaf(w, l, r);
        return 0;
    }
    json_object_foreach(li, el, v)
    {
        json_t *rv = json_object_get(ri, el);

        if (path_push(&w->path, k3c_xstrdup(el), err) < 0)
            return -1;
        if (!rv)
            ssa_set_insert(w->removed, w->path.el, w->path.n);
        if (t->kind == SSA_LIST_MAP && cmp_value(w, items, v, rv, err) < 0)
            return -1;
        path_pop(&w->path);
    }
    json_object_foreach(ri, el, v)
    {
        if (json_object_get(li, el))
            continue;
        if (path_push(&w->path, k3c_xstrdup(el), err) < 0)
            return -1;
        ssa_set_insert(w->changed, w->path.el, w->path.n);
        if (t->kind == SSA_LIST_MAP && cmp_value(w, items, NULL, v, err) < 0)
            return -1;
        path_pop(&w->path);
    }
    return 0;
}

static int
cmp_value(struct cmp_walk *w, const json_t *schema, const json_t *l, const json_t *r,
          struct k3c_err *err)
{
    struct ssa_type t;

    if (json_is_null(l))
        l = NULL;
    if (json_is_null(r))
        r = NULL;
    t = ssa_type_of(w->s, schema, r ? r : l);
    /* The other side must have the same shape, else it is a leaf. */
    if (is_map_kind(t.kind) && (l ? json_is_object(l) : true) && (r ? json_is_object(r) : true))
        return cmp_map(w, &t, !t.by_value, l, r, err);
    if (is_list_kind(t.kind) && (l ? json_is_array(l) : true) && (r ? json_is_array(r) : true))
        return cmp_list(w, &t, l, r, err);
    cmp_leaf(w, l, r);
    return 0;
}

int
ssa_compare(const json_t *old, const json_t *new, const struct ssa_schema *s, json_t **changed,
            json_t **removed, struct k3c_err *err)
{
    struct cmp_walk w = {.s = s, .changed = json_object(), .removed = json_object()};

    if (cmp_value(&w, s->root, old, new, err) < 0) {
        path_clear(&w.path);
        json_decref(w.changed);
        json_decref(w.removed);
        return -1;
    }
    *changed = w.changed;
    *removed = w.removed;
    return 0;
}

/* ---- the fields of a new object, as fieldsV1 ----------------------------- */

/* What ssa_compare(NULL, obj) reports changed, written straight in fieldsV1
 * form with the keys in the order ssa_set_to_fieldsv1 writes them (sorted,
 * "." first): the managedFields entry of a create in one walk, with no set
 * form, no comparison and no re-encoding. Each rule below is cmp_value's
 * for an absent old value. */

enum add_role {
    ADD_OTHER,
    ADD_ROOT, /* the object: skip->root names fields nobody owns */
    ADD_META, /* the object's metadata: skip->meta, and no managedFields */
};

struct add_walk {
    const struct ssa_schema *s;
    const struct ssa_added_skip *skip;
    struct k3c_buf el; /* node_set_field's element */
};

static int add_value(struct add_walk *w, const json_t *schema, const json_t *v, int n, bool member,
                     enum add_role role, json_t **out, struct k3c_err *err);

/* The node of a path: {"."} first when the path is a member. */
static json_t *
node_new(bool member)
{
    json_t *node = json_object();

    if (member)
        json_object_set_new_nocheck(node, ".", json_object());
    return node;
}

/* NULL when nothing is under the path; a member without children is {}. */
static json_t *
node_done(json_t *node)
{
    size_t n = json_object_size(node);

    if (n == 0) {
        json_decref(node);
        return NULL;
    }
    if (n == 1 && json_object_get(node, "."))
        json_object_del(node, ".");
    return node;
}

static bool
listed(const char *const *names, const char *key)
{
    for (; names && *names; names++)
        if (strcmp(*names, key) == 0)
            return true;
    return false;
}

static int
depth_error(struct k3c_err *err)
{
    return k3c_err_set(err, K3C_E_INVALID, "object nested deeper than %d levels", SSA_MAX_DEPTH);
}

/* Sets node["f:<key>"] = child (taken), the element written in w->el. */
static void
node_set_field(struct add_walk *w, json_t *node, const char *key, json_t *child)
{
    k3c_buf_reset(&w->el);
    k3c_buf_append(&w->el, "f:", 2);
    k3c_buf_append(&w->el, key, strlen(key));
    /* nocheck: the key came from parsed JSON, valid UTF-8 already */
    json_object_setn_new_nocheck(node, w->el.data, w->el.len, child);
}

#define SMALL_MAP 16

/* The keys of obj (at most SMALL_MAP) in keys, sorted; returns how many.
 * ssa_sorted_keys without its allocation and qsort, for the small maps most
 * objects are made of. */
static size_t
sorted_keys_small(const json_t *obj, const char **keys)
{
    size_t n = 0;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t j = n++;

        (void)v;
        for (; j > 0 && strcmp(keys[j - 1], key) > 0; j--)
            keys[j] = keys[j - 1];
        keys[j] = key;
    }
    return n;
}

static int
add_map(struct add_walk *w, const struct ssa_type *t, bool pointer, const json_t *v, int n,
        bool member, enum add_role role, json_t **out, struct k3c_err *err)
{
    /* The metadata is walked as if it had no managedFields (without_managed). */
    const char *ignored = role == ADD_META ? "managedFields" : NULL;
    const char *const *skip = role == ADD_ROOT   ? w->skip->root
                              : role == ADD_META ? w->skip->meta
                                                 : NULL;
    size_t size = json_object_size(v) - (ignored && json_object_get(v, ignored) ? 1 : 0);
    size_t count;
    const char *few[SMALL_MAP];
    _cleanup_free_ const char **many = NULL;
    const char **keys;
    json_t *node;

    if (size == 0) { /* an empty map is a leaf */
        *out = n > 0 ? json_object() : NULL;
        return 0;
    }
    node = node_new(member || ((t->kind == SSA_MAP || pointer) && n > 0));
    keys = json_object_size(v) <= SMALL_MAP ? few : (many = ssa_sorted_keys(v, &count));
    if (keys == few)
        count = sorted_keys_small(v, few);
    for (size_t i = 0; i < count; i++) {
        bool declared;
        const json_t *cs, *child_v;
        json_t *child = NULL;
        bool unowned;

        if (ignored && strcmp(keys[i], ignored) == 0)
            continue;
        if (n >= SSA_MAX_DEPTH) {
            json_decref(node);
            return depth_error(err);
        }
        child_v = json_object_get(v, keys[i]);
        unowned = skip && listed(skip, keys[i]);
        /* A field nobody owns is walked only where it could nest too deep. */
        if (unowned && !json_is_object(child_v) && !json_is_array(child_v))
            continue;
        cs = ssa_child_schema(w->s, t, keys[i], &declared);
        if (add_value(w, cs, child_v, n + 1, false,
                      role == ADD_ROOT && strcmp(keys[i], "metadata") == 0 ? ADD_META : ADD_OTHER,
                      &child, err) < 0) {
            json_decref(node);
            return -1;
        }
        /* Fields nobody owns are walked (for the same errors) and dropped. */
        if (child && unowned)
            json_decref(child);
        else if (child)
            node_set_field(w, node, keys[i], child);
    }
    *out = node_done(node);
    return 0;
}

struct added_item {
    char *el;
    const json_t *item;
    size_t at;
};

static int
cmp_added_item(const void *a, const void *b)
{
    const struct added_item *p = a, *q = b;
    int c = strcmp(p->el, q->el);

    if (c)
        return c;
    return p->at < q->at ? -1 : p->at > q->at;
}

static void
added_items_free(struct added_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].el);
    free(items);
}

static int
add_list(struct add_walk *w, const struct ssa_type *t, const json_t *v, int n, bool member,
         json_t **out, struct k3c_err *err)
{
    bool declared;
    const json_t *schema = ssa_child_schema(w->s, t, NULL, &declared);
    size_t count = json_array_size(v), i;
    struct added_item *items = k3c_xcalloc(count + 1, sizeof(*items));
    json_t *node;

    for (i = 0; i < count; i++) {
        struct k3c_err ignore = {0};

        items[i].item = json_array_get(v, i);
        items[i].at = i;
        items[i].el = ssa_item_element(w->s, t, items[i].item, &ignore);
        if (!items[i].el) {
            /* Stored lists may break their own keys: the list is a leaf. */
            added_items_free(items, count);
            *out = n > 0 ? json_object() : NULL;
            return 0;
        }
    }
    qsort(items, count, sizeof(*items), cmp_added_item);
    node = node_new(member);
    for (i = 0; i < count; i++) {
        json_t *child = NULL;

        if (i > 0 && strcmp(items[i].el, items[i - 1].el) == 0)
            continue; /* duplicates: the first counts */
        if (n >= SSA_MAX_DEPTH) {
            added_items_free(items, count);
            json_decref(node);
            return depth_error(err);
        }
        if (t->kind == SSA_LIST_MAP) {
            if (add_value(w, schema, items[i].item, n + 1, true, ADD_OTHER, &child, err) < 0) {
                added_items_free(items, count);
                json_decref(node);
                return -1;
            }
        }
        json_object_set_new_nocheck(node, items[i].el, child ? child : json_object());
    }
    added_items_free(items, count);
    *out = node_done(node);
    return 0;
}

static int
add_value(struct add_walk *w, const json_t *schema, const json_t *v, int n, bool member,
          enum add_role role, json_t **out, struct k3c_err *err)
{
    struct ssa_type t;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    t = ssa_type_of(w->s, schema, v);
    if (is_map_kind(t.kind) && json_is_object(v))
        return add_map(w, &t, !t.by_value, v, n, member, role, out, err);
    if (is_list_kind(t.kind) && json_is_array(v))
        return add_list(w, &t, v, n, member, out, err);
    *out = n > 0 ? json_object() : NULL;
    return 0;
}

json_t *
ssa_added_fieldsv1(const json_t *obj, const struct ssa_schema *s, const struct ssa_added_skip *skip,
                   struct k3c_err *err)
{
    struct add_walk w = {.s = s, .skip = skip};
    json_t *out = NULL;
    int rc;

    k3c_buf_init(&w.el);
    rc = add_value(&w, s->root, obj, 0, false, ADD_ROOT, &out, err);
    k3c_buf_fini(&w.el);
    if (rc < 0)
        return NULL;
    return out ? out : json_object();
}

/* ---- merge --------------------------------------------------------------- */

/* A copy of v without null map values (the applier wants them unset). */
static json_t *
copy_without_nulls(const json_t *v, int depth)
{
    json_t *out;
    const char *key;
    json_t *child;
    size_t i;

    if (depth > SSA_MAX_DEPTH)
        return json_null();
    if (json_is_object(v)) {
        out = json_object();
        json_object_foreach((json_t *)v, key, child)
        {
            if (!json_is_null(child))
                json_object_set_new(out, key, copy_without_nulls(child, depth + 1));
        }
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, child)
        {
            json_array_append_new(out, copy_without_nulls(child, depth + 1));
        }
        return out;
    }
    return json_deep_copy(v);
}

/* The merge keeps the path it is at for its messages (upstream's
 * ".spec.template.spec.containers: duplicate entries for key ..."). */
struct merge_walk {
    const struct ssa_schema *s;
    struct k3c_buf where;
};

static json_t *merge_value(struct merge_walk *w, const json_t *schema, const json_t *live,
                           const json_t *config, int depth, struct k3c_err *err);

static const char *
where(struct merge_walk *w)
{
    return w->where.data && *w->where.data ? w->where.data : ".";
}

static json_t *
merge_map(struct merge_walk *w, const struct ssa_type *t, const json_t *live, const json_t *config,
          int depth, struct k3c_err *err)
{
    json_t *out = json_is_object(live) ? json_deep_copy(live) : json_object();
    size_t len = w->where.len;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)config, key, v)
    {
        bool declared;
        const json_t *cs = ssa_child_schema(w->s, t, key, &declared);
        json_t *m;

        if (json_is_null(v)) {
            json_object_del(out, key);
            continue;
        }
        k3c_buf_appendf(&w->where, ".%s", key);
        m = merge_value(w, cs, json_object_get(live, key), v, depth + 1, err);
        w->where.len = len;
        w->where.data[len] = '\0';
        if (!m) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, key, m);
    }
    return out;
}

/* The path elements of a list's items, as an object element -> index (the
 * first of duplicates; items without a key are left out). */
static json_t *
item_index(const struct ssa_schema *s, const struct ssa_type *t, const json_t *list)
{
    json_t *idx = json_object();
    size_t i;
    json_t *item;

    json_array_foreach(list, i, item)
    {
        struct k3c_err ignore = {0};
        _cleanup_free_ char *el = ssa_item_element(s, t, item, &ignore);

        if (el && !json_object_get(idx, el))
            json_object_set_new(idx, el, json_integer((json_int_t)i));
    }
    return idx;
}

/* Merges one configuration item into out (whose items idx indexes). */
static int
merge_item(struct merge_walk *w, const struct ssa_type *t, json_t *out, json_t *idx,
           const json_t *item, const char *el, int depth, struct k3c_err *err)
{
    bool declared;
    const json_t *items = ssa_child_schema(w->s, t, NULL, &declared);
    const json_t *at = json_object_get(idx, el);
    size_t len = w->where.len;
    json_t *m;

    if (!at) {
        json_object_set_new(idx, el, json_integer((json_int_t)json_array_size(out)));
        json_array_append_new(out, t->kind == SSA_LIST_SET ? json_deep_copy(item)
                                                           : copy_without_nulls(item, depth));
        return 0;
    }
    if (t->kind == SSA_LIST_SET)
        return 0;
    ssa_element_string(&w->where, el);
    m = merge_value(w, items, json_array_get(out, (size_t)json_integer_value(at)), item, depth + 1,
                    err);
    w->where.len = len;
    w->where.data[len] = '\0';
    if (!m)
        return -1;
    json_array_set_new(out, (size_t)json_integer_value(at), m);
    return 0;
}

static json_t *
merge_list(struct merge_walk *w, const struct ssa_type *t, const json_t *live, const json_t *config,
           int depth, struct k3c_err *err)
{
    _cleanup_json_ json_t *seen = json_object();
    json_t *out = json_is_array(live) ? json_deep_copy(live) : json_array();
    _cleanup_json_ json_t *idx = item_index(w->s, t, out);
    size_t i;
    json_t *item;

    json_array_foreach(config, i, item)
    {
        _cleanup_free_ char *el = ssa_item_element(w->s, t, item, err);

        if (!el) {
            json_decref(out);
            k3c_err_wrap(err, "%s: element %zu", where(w), i);
            return NULL;
        }
        if (json_object_get(seen, el)) {
            struct k3c_buf key;

            k3c_buf_init(&key);
            ssa_element_string(&key, el);
            k3c_err_set(err, K3C_E_INVALID, "%s: duplicate entries for key %s", where(w), key.data);
            k3c_buf_fini(&key);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(seen, el, json_true());
        if (merge_item(w, t, out, idx, item, el, depth, err) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *
merge_value(struct merge_walk *w, const json_t *schema, const json_t *live, const json_t *config,
            int depth, struct k3c_err *err)
{
    struct ssa_type t = ssa_type_of(w->s, schema, config);

    if (depth > SSA_MAX_DEPTH) {
        k3c_err_set(err, K3C_E_INVALID, "nested deeper than %d levels", SSA_MAX_DEPTH);
        return NULL;
    }
    if (is_map_kind(t.kind) && json_is_object(config))
        return merge_map(w, &t, live, config, depth, err);
    if (is_list_kind(t.kind) && json_is_array(config))
        return merge_list(w, &t, live, config, depth, err);
    return copy_without_nulls(config, depth);
}

json_t *
ssa_merge(const json_t *live, const json_t *config, const struct ssa_schema *s, struct k3c_err *err)
{
    struct merge_walk w = {.s = s};
    json_t *out;

    k3c_buf_init(&w.where);
    out = merge_value(&w, s->root, live, config, 0, err);
    k3c_buf_fini(&w.where);
    return out;
}

/* ---- removal ------------------------------------------------------------- */

/* The index of the item of list whose element is el, or -1 (a search per
 * removed item: removals are few and shift the indices). */
static long
find_item(const struct ssa_schema *s, const struct ssa_type *t, const json_t *list, const char *el)
{
    size_t i;
    json_t *item;

    json_array_foreach(list, i, item)
    {
        struct k3c_err ignore = {0};
        _cleanup_free_ char *mine = ssa_item_element(s, t, item, &ignore);

        if (mine && strcmp(mine, el) == 0)
            return (long)i;
    }
    return -1;
}

static void remove_value(const struct ssa_schema *s, const json_t *schema, json_t *v,
                         const json_t *set, int depth);

static void
remove_map(const struct ssa_schema *s, const struct ssa_type *t, json_t *v, const json_t *set,
           int depth)
{
    const char *el;
    json_t *child;

    json_object_foreach((json_t *)set, el, child)
    {
        const char *key = el + 2;
        json_t *cv = json_object_get(v, key);
        const json_t *cs;
        bool declared;

        if (strncmp(el, "f:", 2) != 0 || !cv)
            continue;
        cs = ssa_child_schema(s, t, key, &declared);
        if (json_object_get(child, ".")) {
            json_object_del(v, key);
            continue;
        }
        remove_value(s, cs, cv, child, depth + 1);
        /* A list or map emptied by the removal goes too, as Go's omitempty
         * drops it upstream. */
        if ((json_is_array(cv) && json_array_size(cv) == 0) ||
            (json_is_object(cv) && json_object_size(cv) == 0 &&
             ssa_type_of(s, cs, cv).kind == SSA_MAP))
            json_object_del(v, key);
    }
}

static void
remove_list(const struct ssa_schema *s, const struct ssa_type *t, json_t *v, const json_t *set,
            int depth)
{
    bool declared;
    const json_t *items = ssa_child_schema(s, t, NULL, &declared);
    const char *el;
    json_t *child;

    json_object_foreach((json_t *)set, el, child)
    {
        long at = find_item(s, t, v, el);

        if (at < 0)
            continue;
        if (json_object_get(child, "."))
            json_array_remove(v, (size_t)at);
        else if (t->kind == SSA_LIST_MAP)
            remove_value(s, items, json_array_get(v, (size_t)at), child, depth + 1);
    }
}

static void
remove_value(const struct ssa_schema *s, const json_t *schema, json_t *v, const json_t *set,
             int depth)
{
    struct ssa_type t = ssa_type_of(s, schema, v);

    if (depth > SSA_MAX_DEPTH)
        return;
    if (is_map_kind(t.kind) && json_is_object(v))
        remove_map(s, &t, v, set, depth);
    else if (is_list_kind(t.kind) && json_is_array(v))
        remove_list(s, &t, v, set, depth);
}

void
ssa_remove(json_t *obj, const json_t *set, const struct ssa_schema *s)
{
    remove_value(s, s->root, obj, set, 0);
}
