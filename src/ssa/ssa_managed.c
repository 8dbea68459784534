/* SPDX-License-Identifier: Apache-2.0
 * ssa_managed.c - metadata.managedFields: who owns which fields after an
 * Apply or an Update, conflicts, and pruning of the fields an applier
 * dropped (structured-merge-diff's merge.Updater, with kube-apiserver's
 * managedfields entry format). */
#include "ssa/ssa-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    char *manager, *operation, *api_version, *time, *subresource;
    json_t *set;
    bool dirty; /* its set changed: time is now */
};

struct entries {
    struct entry *e;
    size_t n;
};

static void
entries_fini(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->e[i].manager);
        free(es->e[i].operation);
        free(es->e[i].api_version);
        free(es->e[i].time);
        free(es->e[i].subresource);
        json_decref(es->e[i].set);
    }
    free(es->e);
    es->e = NULL;
    es->n = 0;
}

static char *
dup_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return k3c_xstrdup(s ? s : "");
}

static struct entry *
entries_add(struct entries *es)
{
    struct entry *grown = realloc(es->e, (es->n + 1) * sizeof(*grown));

    if (!grown)
        abort();
    es->e = grown;
    memset(&es->e[es->n], 0, sizeof(es->e[es->n]));
    return &es->e[es->n++];
}

static int
entries_decode(const json_t *managed, struct entries *es, struct k3c_err *err)
{
    size_t i;
    json_t *m;

    if (managed && !json_is_array(managed) && !json_is_null(managed))
        return k3c_err_set(err, K3C_E_INVALID, "metadata.managedFields: must be a list");
    json_array_foreach(managed, i, m)
    {
        const char *op = json_string_value(json_object_get(m, "operation"));
        const char *type = json_string_value(json_object_get(m, "fieldsType"));
        const json_t *fields = json_object_get(m, "fieldsV1");
        struct entry *e;

        if (!json_is_object(m) || !op || (strcmp(op, "Apply") != 0 && strcmp(op, "Update") != 0))
            return k3c_err_set(err, K3C_E_INVALID,
                               "metadata.managedFields[%zu].operation: must be Apply or Update", i);
        if (type && strcmp(type, "FieldsV1") != 0)
            return k3c_err_set(err, K3C_E_INVALID,
                               "metadata.managedFields[%zu].fieldsType: must be FieldsV1", i);
        e = entries_add(es);
        e->manager = dup_str(m, "manager");
        e->operation = dup_str(m, "operation");
        e->api_version = dup_str(m, "apiVersion");
        e->time = dup_str(m, "time");
        e->subresource = dup_str(m, "subresource");
        e->set = fields ? ssa_set_from_fieldsv1(fields, err) : json_object();
        if (!e->set)
            return k3c_err_wrap(err, "metadata.managedFields[%zu].fieldsV1", i);
    }
    return 0;
}

static const char *
nz(const char *s)
{
    return s ? s : "";
}

/* The entry of m for op, added (empty) when missing. Apply entries are one
 * per manager; Update entries one per manager and apiVersion (upstream's
 * manager identifier). */
static struct entry *
entries_find(struct entries *es, const struct ssa_manager *m, const char *op)
{
    bool apply = strcmp(op, "Apply") == 0;
    struct entry *e;

    for (size_t i = 0; i < es->n; i++) {
        e = &es->e[i];
        if (strcmp(e->manager, nz(m->manager)) == 0 && strcmp(e->operation, op) == 0 &&
            strcmp(e->subresource, nz(m->subresource)) == 0 &&
            (apply || strcmp(e->api_version, nz(m->api_version)) == 0))
            return e;
    }
    e = entries_add(es);
    e->manager = k3c_xstrdup(nz(m->manager));
    e->operation = k3c_xstrdup(op);
    e->api_version = k3c_xstrdup(nz(m->api_version));
    e->time = k3c_xstrdup("");
    e->subresource = k3c_xstrdup(nz(m->subresource));
    e->set = json_object();
    e->dirty = true;
    return e;
}

static void
entry_set_replace(struct entry *e, json_t *set)
{
    if (!json_equal(e->set, set))
        e->dirty = true;
    json_decref(e->set);
    e->set = set;
}

static int
cmp_entry(const void *a, const void *b)
{
    const struct entry *p = a, *q = b;
    int c;

    if ((c = strcmp(p->operation, q->operation)) != 0)
        return c;
    if ((c = strcmp(p->time, q->time)) != 0)
        return c;
    if ((c = strcmp(p->manager, q->manager)) != 0)
        return c;
    if ((c = strcmp(p->api_version, q->api_version)) != 0)
        return c;
    return strcmp(p->subresource, q->subresource);
}

/* One managedFields entry, its members in kube-apiserver's order; takes
 * fields (fieldsV1). */
static json_t *
entry_json(const char *manager, const char *operation, const char *api_version, const char *time,
           json_t *fields, const char *subresource)
{
    json_t *j = json_object(); /* not json_pack: this runs on every write */

    json_object_set_new_nocheck(j, "manager", json_string(manager));
    json_object_set_new_nocheck(j, "operation", json_string(operation));
    json_object_set_new_nocheck(j, "apiVersion", json_string(api_version));
    if (*time)
        json_object_set_new_nocheck(j, "time", json_string(time));
    json_object_set_new_nocheck(j, "fieldsType", json_string_nocheck("FieldsV1"));
    json_object_set_new_nocheck(j, "fieldsV1", fields);
    if (*subresource)
        json_object_set_new_nocheck(j, "subresource", json_string(subresource));
    return j;
}

/* The managedFields list: entries owning nothing are dropped, the others
 * sorted as upstream sorts them (operation, time, manager). */
static json_t *
entries_encode(struct entries *es, const struct ssa_manager *m)
{
    json_t *out = json_array();

    for (size_t i = 0; i < es->n; i++) {
        struct entry *e = &es->e[i];

        if (e->dirty) {
            free(e->time);
            e->time = k3c_xstrdup(nz(m->time));
            if (strcmp(e->manager, nz(m->manager)) == 0) {
                free(e->api_version);
                e->api_version = k3c_xstrdup(nz(m->api_version));
            }
        }
    }
    if (es->n > 1)
        qsort(es->e, es->n, sizeof(*es->e), cmp_entry);
    for (size_t i = 0; i < es->n; i++) {
        struct entry *e = &es->e[i];

        if (ssa_set_empty(e->set))
            continue;
        json_array_append_new(out, entry_json(e->manager, e->operation, e->api_version, e->time,
                                              ssa_set_to_fieldsv1(e->set), e->subresource));
    }
    return out;
}

/* ---- what nobody owns ---------------------------------------------------- */

/* The fields no manager owns, as upstream's managedfields strip them from
 * every set: type and identity, and what the server sets. */
static const char *const unowned_meta[] = {
    "f:name",        "f:namespace",  "f:creationTimestamp", "f:selfLink",        "f:uid",
    "f:clusterName", "f:generation", "f:managedFields",     "f:resourceVersion",
};
/* The same, as ssa_added_fieldsv1 takes them (field names). */
static const char *const unowned_root_fields[] = {"apiVersion", "kind", NULL};
static const char *const unowned_meta_fields[] = {
    "name",        "namespace",  "creationTimestamp", "selfLink",        "uid",
    "clusterName", "generation", "managedFields",     "resourceVersion", NULL,
};
static const struct ssa_added_skip unowned_skip = {unowned_root_fields, unowned_meta_fields};

/* set less the unowned fields and everything under them. */
static json_t *
strip_unowned(json_t *set)
{
    json_t *meta = json_object_get(set, "f:metadata");

    for (size_t i = 0; i < K3C_ARRAY_SIZE(unowned_meta); i++)
        json_object_del(meta, unowned_meta[i]);
    json_object_del(set, "f:apiVersion");
    json_object_del(set, "f:kind");
    if (meta && json_object_size(meta) == 0)
        json_object_del(set, "f:metadata");
    return set;
}

/* A shallow copy of obj without metadata.managedFields, so that walks do not
 * visit it. */
static json_t *
without_managed(const json_t *obj)
{
    json_t *copy, *meta = json_object_get(obj, "metadata");

    if (!json_is_object(obj) || !json_is_object(meta) || !json_object_get(meta, "managedFields"))
        return json_incref((json_t *)obj); /* the walks never modify it */
    copy = json_copy((json_t *)obj);
    meta = json_copy(meta);
    json_object_del(meta, "managedFields");
    json_object_set_new(copy, "metadata", meta);
    return copy;
}

static int
compare_owned(const json_t *old, const json_t *new, const struct ssa_schema *s, json_t **changed,
              json_t **removed, struct k3c_err *err)
{
    _cleanup_json_ json_t *a = old ? without_managed(old) : NULL;
    _cleanup_json_ json_t *b = without_managed(new);

    if (ssa_compare(a, b, s, changed, removed, err) < 0)
        return -1;
    strip_unowned(*changed);
    strip_unowned(*removed);
    return 0;
}

/* ---- update -------------------------------------------------------------- */

/* A create that starts from no managedFields: its manager's entry owns
 * every field of the new object, so there is nothing to compare, and the
 * fieldsV1 comes from one walk (ssa_added_fieldsv1). The result is what the
 * general path below gives, byte for byte (test_ssa compares them). */
static json_t *
update_created(const json_t *new, const struct ssa_manager *m, const struct ssa_schema *s,
               struct k3c_err *err)
{
    json_t *fields = ssa_added_fieldsv1(new, s, &unowned_skip, err);
    json_t *out;

    if (!fields)
        return NULL;
    out = json_array();
    if (json_object_size(fields) == 0)
        json_decref(fields);
    else
        json_array_append_new(out, entry_json(nz(m->manager), "Update", nz(m->api_version),
                                              nz(m->time), fields, nz(m->subresource)));
    return out;
}

static bool
no_entries(const json_t *managed)
{
    return !managed || json_is_null(managed) ||
           (json_is_array(managed) && json_array_size(managed) == 0);
}

json_t *
ssa_update(const json_t *old, const json_t *new, const json_t *managed, const struct ssa_manager *m,
           const struct ssa_schema *s, struct k3c_err *err)
{
    if (!old && no_entries(managed))
        return update_created(new, m, s, err);
    return ssa_update_compared(old, new, managed, m, s, err);
}

json_t *
ssa_update_compared(const json_t *old, const json_t *new, const json_t *managed,
                    const struct ssa_manager *m, const struct ssa_schema *s, struct k3c_err *err)
{
    struct entries es = {0};
    _cleanup_json_ json_t *changed = NULL, *removed = NULL;
    struct entry *me;
    json_t *out = NULL;

    if (entries_decode(managed, &es, err) < 0 ||
        compare_owned(old, new, s, &changed, &removed, err) < 0)
        goto done;
    me = entries_find(&es, m, "Update");
    for (size_t i = 0; i < es.n; i++) {
        struct entry *e = &es.e[i];
        json_t *a, *b;

        if (e == me)
            continue;
        a = ssa_set_difference(e->set, changed);
        b = ssa_set_difference(a, removed);
        json_decref(a);
        entry_set_replace(e, b);
        /* Losing fields to another writer does not date an entry. */
        e->dirty = false;
    }
    {
        json_t *u = ssa_set_union(me->set, changed);

        entry_set_replace(me, ssa_set_difference(u, removed));
        json_decref(u);
    }
    out = entries_encode(&es, m);
done:
    entries_fini(&es);
    return out;
}

/* ---- apply --------------------------------------------------------------- */

/* The members of removed that the others own neither themselves nor below:
 * those go from the object. */
static json_t *
unowned_by(const json_t *removed, const json_t *others)
{
    json_t *out = json_object();
    const char *key;
    json_t *child;

    json_object_foreach((json_t *)removed, key, child)
    {
        const json_t *theirs = json_object_get(others, key);

        if (strcmp(key, ".") == 0)
            continue;
        if (json_object_get(child, ".") && ssa_set_empty(theirs)) {
            json_object_set(out, key, child);
        } else {
            json_t *sub = unowned_by(child, theirs);

            json_object_del(sub, ".");
            if (json_object_size(sub))
                json_object_set_new(out, key, sub);
            else
                json_decref(sub);
        }
    }
    return out;
}

/* How upstream names a manager in conflicts (its printManager). */
static char *
print_manager(const struct entry *e)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "\"%s\"", e->manager);
    if (*e->subresource)
        k3c_buf_appendf(&b, " with subresource \"%s\"", e->subresource);
    if (strcmp(e->operation, "Update") == 0)
        k3c_buf_appendf(&b, " using %s", e->api_version);
    return k3c_buf_steal(&b, NULL);
}

static void
add_path(const char *path, void *ud)
{
    json_array_append_new(ud, json_string(path));
}

static json_t *
conflicts_of(struct entries *es, const struct entry *me, const json_t *changed)
{
    json_t *conflicts = json_array();

    /* Entries are sorted already (operation, time, manager). */
    for (size_t i = 0; i < es->n; i++) {
        struct entry *e = &es->e[i];
        _cleanup_json_ json_t *both = NULL;
        _cleanup_free_ char *who = NULL;
        json_t *paths;

        if (e == me)
            continue;
        both = ssa_set_intersection(e->set, changed);
        if (ssa_set_empty(both))
            continue;
        who = print_manager(e);
        paths = json_array();
        ssa_set_foreach_path(both, add_path, paths);
        json_array_append_new(
            conflicts, json_pack("{s:s, s:o, s:O}", "manager", who, "paths", paths, "set", both));
    }
    if (json_array_size(conflicts) == 0) {
        json_decref(conflicts);
        return NULL;
    }
    return conflicts;
}

void
ssa_apply_result_fini(struct ssa_apply_result *res)
{
    json_decref(res->object);
    json_decref(res->managed_fields);
    json_decref(res->conflicts);
    memset(res, 0, sizeof(*res));
}

int
ssa_apply(const json_t *live, const json_t *config, const json_t *managed,
          const struct ssa_manager *m, bool force, const struct ssa_schema *s,
          struct ssa_apply_result *res, struct k3c_err *err)
{
    struct entries es = {0};
    _cleanup_json_ json_t *applied = NULL, *changed = NULL, *removed = NULL, *others = NULL;
    _cleanup_json_ json_t *dropped = NULL, *prune = NULL;
    struct entry *me;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (entries_decode(managed, &es, err) < 0)
        goto done;
    if (es.n > 1)
        qsort(es.e, es.n, sizeof(*es.e), cmp_entry);
    applied = ssa_set_from_object(config, s, err);
    if (!applied)
        goto done;
    strip_unowned(applied);
    res->object = ssa_merge(live, config, s, err);
    if (!res->object || compare_owned(live, res->object, s, &changed, &removed, err) < 0)
        goto done;
    me = entries_find(&es, m, "Apply");
    res->conflicts = force ? NULL : conflicts_of(&es, me, changed);
    if (res->conflicts) {
        json_decref(res->object);
        res->object = NULL;
        rc = 0;
        goto done;
    }
    others = json_object();
    for (size_t i = 0; i < es.n; i++) {
        struct entry *e = &es.e[i];
        json_t *u;

        if (e == me)
            continue;
        if (force) { /* --force-conflicts: the applier takes them */
            entry_set_replace(e, ssa_set_difference(e->set, changed));
            e->dirty = false;
        }
        u = ssa_set_union(others, e->set);
        json_decref(others);
        others = u;
    }
    /* Fields the applier set last time and not now go, unless a manager
     * (the applier too) still owns them or something under them. */
    {
        json_t *u = ssa_set_union(others, applied);

        json_decref(others);
        others = u;
    }
    dropped = ssa_set_difference(me->set, applied);
    prune = unowned_by(dropped, others);
    ssa_remove(res->object, prune, s);
    entry_set_replace(me, json_incref(applied));
    res->managed_fields = entries_encode(&es, m);
    rc = 0;
done:
    if (rc < 0) {
        json_decref(res->object);
        res->object = NULL;
    }
    entries_fini(&es);
    return rc;
}

json_t *
ssa_conflicts_less_last_applied(const json_t *conflicts, const json_t *last_applied,
                                const json_t *live, const struct ssa_schema *s)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *set = ssa_set_from_object(last_applied, s, &err);
    _cleanup_json_ json_t *changed = NULL, *removed = NULL, *a = NULL, *allowed = NULL;
    json_t *left;
    size_t i;
    json_t *c;

    if (!set || compare_owned(last_applied, live, s, &changed, &removed, &err) < 0)
        return NULL;
    /* Only fields whose live value is still the last-applied one. */
    a = ssa_set_difference(set, changed);
    allowed = ssa_set_difference(a, removed);
    left = json_array();
    json_array_foreach(conflicts, i, c)
    {
        json_t *rest = ssa_set_difference(json_object_get(c, "set"), allowed);
        json_t *paths;

        if (ssa_set_empty(rest)) {
            json_decref(rest);
            continue;
        }
        paths = json_array();
        ssa_set_foreach_path(rest, add_path, paths);
        json_array_append_new(left,
                              json_pack("{s:O, s:o, s:o}", "manager", json_object_get(c, "manager"),
                                        "paths", paths, "set", rest));
    }
    return left;
}

char *
ssa_conflict_message(const json_t *conflicts)
{
    struct k3c_buf b;
    size_t total = 0, i;
    json_t *c;

    json_array_foreach(conflicts, i, c)
    {
        total += json_array_size(json_object_get(c, "paths"));
    }
    k3c_buf_init(&b);
    if (total == 1) {
        c = json_array_get(conflicts, 0);
        k3c_buf_appendf(&b, "Apply failed with 1 conflict: conflict with %s: %s",
                        json_string_value(json_object_get(c, "manager")),
                        json_string_value(json_array_get(json_object_get(c, "paths"), 0)));
        return k3c_buf_steal(&b, NULL);
    }
    k3c_buf_appendf(&b, "Apply failed with %zu conflicts: ", total);
    json_array_foreach(conflicts, i, c)
    {
        size_t j;
        json_t *p;

        k3c_buf_appendf(&b, "%sconflicts with %s:", i ? "\n" : "",
                        json_string_value(json_object_get(c, "manager")));
        json_array_foreach(json_object_get(c, "paths"), j, p)
        {
            k3c_buf_appendf(&b, "\n- %s", json_string_value(p));
        }
    }
    return k3c_buf_steal(&b, NULL);
}
