/* SPDX-License-Identifier: Apache-2.0
 * gc.c - the garbage collector (upstream's garbage-collector-controller) by
 * metadata.ownerReferences:
 *   - an object whose owners (matched by uid) are all gone is deleted
 *     (background); dangling references next to live owners are dropped;
 *   - an owner being deleted with the "orphan" finalizer (propagationPolicy
 *     Orphan) has the reference removed from its dependents, then loses the
 *     finalizer (and with it the last obstacle to its deletion);
 *   - an owner being deleted with "foregroundDeletion" has its dependents
 *     deleted (those with dependents of their own in the foreground too),
 *     waits until none with blockOwnerDeletion is left, then loses the
 *     finalizer.
 * An index owner uid -> dependents, kept from the informers' events (and
 * rebuilt by start()), finds the dependents of an owner without scanning.
 * Keys are "<plural>/<namespace>/<name>" (namespace empty when cluster-
 * scoped). Owner existence is checked in the cache and confirmed by the API
 * before anything is deleted, so a cache that lags never costs an object. */
#define LOG_COMPONENT "gc"
#include "controllers/controllers.h"
#include "controllers/lifecycle.h"

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GC_BUCKETS     1024
#define GC_RECHECK_MS  2000
#define FIN_ORPHAN     "orphan"
#define FIN_FOREGROUND "foregroundDeletion"

/* ---- index: owner uid -> dependent keys ---------------------------------- */

struct gc_dep {
    char *owner_uid;
    char *key;
    struct gc_dep *next;
};

/* File-static: one manager per process; handlers (informer threads) and the
 * worker share it under the lock. */
static struct {
    pthread_mutex_t mu;
    struct gc_dep *buckets[GC_BUCKETS];
} gc_index = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t
bucket_of(const char *uid)
{
    size_t h = 5381;

    for (const char *p = uid; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % GC_BUCKETS;
}

static void
index_add(const char *uid, const char *key)
{
    size_t b = bucket_of(uid);
    struct gc_dep *d;

    pthread_mutex_lock(&gc_index.mu);
    for (d = gc_index.buckets[b]; d; d = d->next)
        if (strcmp(d->owner_uid, uid) == 0 && strcmp(d->key, key) == 0)
            break;
    if (!d) {
        d = k3c_xcalloc(1, sizeof(*d));
        d->owner_uid = k3c_xstrdup(uid);
        d->key = k3c_xstrdup(key);
        d->next = gc_index.buckets[b];
        gc_index.buckets[b] = d;
    }
    pthread_mutex_unlock(&gc_index.mu);
}

static void
index_remove(const char *uid, const char *key)
{
    size_t b = bucket_of(uid);
    struct gc_dep **pp;

    pthread_mutex_lock(&gc_index.mu);
    for (pp = &gc_index.buckets[b]; *pp; pp = &(*pp)->next) {
        struct gc_dep *d = *pp;

        if (strcmp(d->owner_uid, uid) == 0 && strcmp(d->key, key) == 0) {
            *pp = d->next;
            free(d->owner_uid);
            free(d->key);
            free(d);
            break;
        }
    }
    pthread_mutex_unlock(&gc_index.mu);
}

/* The dependent keys of uid: a JSON array of strings (new). */
static json_t *
index_dependents(const char *uid)
{
    json_t *out = json_array();

    pthread_mutex_lock(&gc_index.mu);
    for (struct gc_dep *d = gc_index.buckets[bucket_of(uid)]; d; d = d->next)
        if (strcmp(d->owner_uid, uid) == 0)
            json_array_append_new(out, json_string(d->key));
    pthread_mutex_unlock(&gc_index.mu);
    return out;
}

static void
index_clear(void)
{
    pthread_mutex_lock(&gc_index.mu);
    for (size_t b = 0; b < GC_BUCKETS; b++) {
        while (gc_index.buckets[b]) {
            struct gc_dep *d = gc_index.buckets[b];

            gc_index.buckets[b] = d->next;
            free(d->owner_uid);
            free(d->key);
            free(d);
        }
    }
    pthread_mutex_unlock(&gc_index.mu);
}

/* ---- keys and lookups ------------------------------------------------------ */

static const char *
meta_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static const json_t *
owner_refs(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
}

static char *
object_key(const char *plural, const json_t *obj)
{
    const char *ns = meta_str(obj, "namespace");
    const char *name = meta_str(obj, "name");

    return k3c_xasprintf("%s/%s/%s", plural, ns ? ns : "", name ? name : "");
}

/* Splits "plural/ns/name". -1 when malformed. */
static int
key_split(const char *key, char *plural, size_t pl, char *ns, size_t nl, char *name, size_t ml)
{
    const char *a = strchr(key, '/'), *b = a ? strchr(a + 1, '/') : NULL;

    if (!a || !b || (size_t)(a - key) >= pl || (size_t)(b - a - 1) >= nl || strlen(b + 1) >= ml)
        return -1;
    snprintf(plural, pl, "%.*s", (int)(a - key), key);
    snprintf(ns, nl, "%.*s", (int)(b - a - 1), a + 1);
    snprintf(name, ml, "%s", b + 1);
    return 0;
}

static const struct api_resource *
resource_by_plural(const char *plural)
{
    for (const struct api_resource *r = api_resources; r->kind; r++)
        if (strcmp(r->plural, plural) == 0)
            return r;
    return NULL;
}

/* The key of the owner ref names, seen from a dependent in ns; NULL when
 * its kind is not served. */
static char *
owner_key(const json_t *ref, const char *ns)
{
    const struct api_resource *r =
        lc_resource_for_kind(json_string_value(json_object_get(ref, "apiVersion")),
                             json_string_value(json_object_get(ref, "kind")));
    const char *name = json_string_value(json_object_get(ref, "name"));

    if (!r || !name)
        return NULL;
    return k3c_xasprintf("%s/%s/%s", r->plural, r->namespaced && ns ? ns : "", name);
}

/* ---- events ---------------------------------------------------------------- */

static bool
has_ref_uid(const json_t *refs, const char *uid)
{
    size_t i;
    json_t *r;

    json_array_foreach(refs, i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));

        if (u && uid && strcmp(u, uid) == 0)
            return true;
    }
    return false;
}

static void
enqueue_owners(struct ctl *c, const json_t *refs, const char *ns)
{
    size_t i;
    json_t *r;

    json_array_foreach(refs, i, r)
    {
        _cleanup_free_ char *k = owner_key(r, ns);

        if (k)
            ctl_enqueue(c, k);
    }
}

static void
enqueue_dependents(struct ctl *c, const char *uid)
{
    _cleanup_json_ json_t *deps = index_dependents(uid);
    size_t i;
    json_t *d;

    json_array_foreach(deps, i, d)
    {
        ctl_enqueue(c, json_string_value(d));
    }
}

static void
on_object(struct ctl *c, const char *plural, enum ctl_event ev, const json_t *old,
          const json_t *obj)
{
    _cleanup_free_ char *key = object_key(plural, obj);
    const json_t *now_refs = ev == CTL_DELETED ? NULL : owner_refs(obj);
    const json_t *was_refs = ev == CTL_DELETED ? owner_refs(obj) : owner_refs(old);
    const char *uid = meta_str(obj, "uid");
    const char *ns = meta_str(obj, "namespace");
    bool refs_changed =
        !json_equal(now_refs ? now_refs : json_null(), was_refs ? was_refs : json_null());
    size_t i;
    json_t *r;

    json_array_foreach(was_refs, i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));

        if (u && !has_ref_uid(now_refs, u))
            index_remove(u, key);
    }
    json_array_foreach(now_refs, i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));

        if (u)
            index_add(u, key);
    }
    if (ev == CTL_DELETED) {
        if (uid)
            enqueue_dependents(c, uid);
        enqueue_owners(c, was_refs, ns); /* an owner may wait for it */
        return;
    }
    if ((ev == CTL_ADDED && json_array_size(now_refs) > 0) || refs_changed)
        ctl_enqueue(c, key);
    if (refs_changed)
        enqueue_owners(c, was_refs, ns);
    if (ctl_being_deleted(obj) &&
        (lc_has_finalizer(obj, FIN_ORPHAN) || lc_has_finalizer(obj, FIN_FOREGROUND)))
        ctl_enqueue(c, key);
    else if (ctl_being_deleted(obj) && !ctl_being_deleted(old))
        enqueue_owners(c, now_refs, ns);
}

#define GC_HANDLER(res)                                                                            \
    static void on_##res(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)   \
    {                                                                                              \
        on_object(c, #res, ev, old, obj);                                                          \
    }

GC_HANDLER(pods)
GC_HANDLER(services)
GC_HANDLER(endpoints)
GC_HANDLER(configmaps)
GC_HANDLER(secrets)
GC_HANDLER(serviceaccounts)
GC_HANDLER(deployments)
GC_HANDLER(replicasets)
GC_HANDLER(daemonsets)
GC_HANDLER(jobs)
GC_HANDLER(leases)
GC_HANDLER(endpointslices)
GC_HANDLER(nodes)
GC_HANDLER(namespaces)
GC_HANDLER(events)
GC_HANDLER(cronjobs)
GC_HANDLER(statefulsets)
GC_HANDLER(controllerrevisions)

/* on_object reads only metadata (owner references, finalizers, deletion). */
static const struct ctl_watch watches[] = {
    {"pods", on_pods, .metadata_only = true},
    {"services", on_services, .metadata_only = true},
    {"endpoints", on_endpoints, .metadata_only = true},
    {"configmaps", on_configmaps, .metadata_only = true},
    {"secrets", on_secrets, .metadata_only = true},
    {"serviceaccounts", on_serviceaccounts, .metadata_only = true},
    {"deployments", on_deployments, .metadata_only = true},
    {"replicasets", on_replicasets, .metadata_only = true},
    {"daemonsets", on_daemonsets, .metadata_only = true},
    {"jobs", on_jobs, .metadata_only = true},
    {"leases", on_leases, .metadata_only = true},
    {"endpointslices", on_endpointslices, .metadata_only = true},
    {"nodes", on_nodes, .metadata_only = true},
    {"namespaces", on_namespaces, .metadata_only = true},
    {"events", on_events, .metadata_only = true},
    {"cronjobs", on_cronjobs, .metadata_only = true},
    {"statefulsets", on_statefulsets, .metadata_only = true},
    {"controllerrevisions", on_controllerrevisions, .metadata_only = true},
    {NULL, NULL},
};

/* ---- writes ---------------------------------------------------------------- */

static char *
path_of(const char *plural, const char *ns, const char *name)
{
    const struct api_resource *r = resource_by_plural(plural);

    return r ? lc_object_path(r, ns, name) : NULL;
}

/* Merge-patches metadata.<field> = value (takes it; an empty list removes
 * the field, as upstream's omitempty does), guarded by obj's
 * resourceVersion. */
static int
patch_meta(struct ctl *c, const char *path, const json_t *obj, const char *field, json_t *value,
           struct k3c_err *err)
{
    if (json_is_array(value) && json_array_size(value) == 0) {
        json_decref(value);
        value = json_null();
    }
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:o, s:s}}", "metadata", field, value, "resourceVersion",
                  meta_str(obj, "resourceVersion") ?: "");
    long code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);

    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code == 200 ? 0 : -1;
}

static int
delete_object(struct ctl *c, const char *path, const json_t *obj, const char *policy,
              struct k3c_err *err)
{
    _cleanup_json_ json_t *opts =
        json_pack("{s:s, s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                  "propagationPolicy", policy, "preconditions", "uid", meta_str(obj, "uid") ?: "");
    long code = ctl_api(c, "DELETE", path, NULL, opts, NULL, err);

    if (code == 404 || code == 409) { /* gone, or a new object by that name */
        k3c_err_clear(err);
        return 0;
    }
    return code == 200 || code == 202 ? 0 : -1;
}

/* ---- sync ------------------------------------------------------------------ */

/* A dependent of uid, as the cache holds it (new), or NULL. */
static json_t *
get_dependent(struct ctl *c, const char *dep_key, const char *uid, char *path_out[1])
{
    char plural[64], ns[256], name[256];
    json_t *dep;

    if (key_split(dep_key, plural, sizeof(plural), ns, sizeof(ns), name, sizeof(name)) < 0)
        return NULL;
    dep = ctl_get(c, plural, ns, name);
    if (dep && !has_ref_uid(owner_refs(dep), uid)) {
        json_decref(dep);
        return NULL;
    }
    if (dep)
        path_out[0] = path_of(plural, ns, name);
    return dep;
}

static int
orphan_dependents(struct ctl *c, const char *path, const json_t *owner, struct k3c_err *err)
{
    const char *uid = meta_str(owner, "uid");
    _cleanup_json_ json_t *deps = index_dependents(uid);
    size_t i;
    json_t *d;

    json_array_foreach(deps, i, d)
    {
        _cleanup_free_ char *dpath = NULL;
        _cleanup_json_ json_t *dep = get_dependent(c, json_string_value(d), uid, &dpath);

        if (dep && dpath &&
            patch_meta(c, dpath, dep, "ownerReferences", lc_owner_refs_without(dep, uid), err) < 0)
            return -1;
    }
    log_debug("%s: orphaned %zu dependents", path, json_array_size(deps));
    return patch_meta(c, path, owner, "finalizers", lc_finalizers_without(owner, FIN_ORPHAN), err);
}

static bool
blocks_owner(const json_t *dep, const char *uid)
{
    size_t i;
    json_t *r;

    json_array_foreach(owner_refs(dep), i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));

        if (u && strcmp(u, uid) == 0)
            return json_is_true(json_object_get(r, "blockOwnerDeletion"));
    }
    return false;
}

static int
foreground_delete(struct ctl *c, const char *key, const char *path, const json_t *owner,
                  struct k3c_err *err)
{
    const char *uid = meta_str(owner, "uid");
    _cleanup_json_ json_t *deps = index_dependents(uid);
    size_t i, blocking = 0;
    json_t *d;

    json_array_foreach(deps, i, d)
    {
        _cleanup_free_ char *dpath = NULL;
        _cleanup_json_ json_t *dep = get_dependent(c, json_string_value(d), uid, &dpath);
        _cleanup_json_ json_t *grand = NULL;

        if (!dep || !dpath)
            continue;
        if (blocks_owner(dep, uid))
            blocking++;
        if (ctl_being_deleted(dep))
            continue;
        grand = index_dependents(meta_str(dep, "uid") ?: "");
        if (delete_object(c, dpath, dep, json_array_size(grand) ? "Foreground" : "Background",
                          err) < 0)
            return -1;
    }
    if (blocking > 0) {
        ctl_enqueue_after(c, key, GC_RECHECK_MS);
        return 0;
    }
    return patch_meta(c, path, owner, "finalizers", lc_finalizers_without(owner, FIN_FOREGROUND),
                      err);
}

/* 1: the owner named by ref exists (same uid); 0: it does not; -1: unknown
 * (the API could not say). The cache answers first; a miss is confirmed by
 * the API. */
static int
owner_alive(struct ctl *c, const json_t *ref, const char *ns, struct k3c_err *err)
{
    const struct api_resource *r =
        lc_resource_for_kind(json_string_value(json_object_get(ref, "apiVersion")),
                             json_string_value(json_object_get(ref, "kind")));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    _cleanup_json_ json_t *o = NULL, *live = NULL;
    _cleanup_free_ char *path = NULL;
    long code;

    if (!r || !name || !uid)
        return 1; /* a kind we do not serve: never collect on its account */
    o = ctl_get(c, r->plural, r->namespaced ? ns : NULL, name);
    if (o && meta_str(o, "uid") && strcmp(meta_str(o, "uid"), uid) == 0)
        return 1;
    path = lc_object_path(r, ns, name);
    code = ctl_api(c, "GET", path, NULL, NULL, &live, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (code != 200)
        return -1;
    return meta_str(live, "uid") && strcmp(meta_str(live, "uid"), uid) == 0;
}

static int
collect_if_orphaned(struct ctl *c, const char *path, const json_t *obj, struct k3c_err *err)
{
    const char *ns = meta_str(obj, "namespace");
    _cleanup_json_ json_t *keep = json_array();
    size_t i, n = json_array_size(owner_refs(obj));
    json_t *r;

    if (n == 0 || ctl_being_deleted(obj))
        return 0;
    json_array_foreach(owner_refs(obj), i, r)
    {
        int alive = owner_alive(c, r, ns, err);

        if (alive < 0)
            return -1;
        if (alive)
            json_array_append(keep, r);
    }
    if (json_array_size(keep) == n)
        return 0;
    if (json_array_size(keep) > 0)
        return patch_meta(c, path, obj, "ownerReferences", json_incref(keep), err);
    log_debug("%s: owners gone; deleting", path);
    return delete_object(c, path, obj, "Background", err);
}

static int
sync_object(struct ctl *c, const char *key, struct k3c_err *err)
{
    char plural[64], ns[256], name[256];
    _cleanup_json_ json_t *obj = NULL;
    _cleanup_free_ char *path = NULL;

    if (key_split(key, plural, sizeof(plural), ns, sizeof(ns), name, sizeof(name)) < 0)
        return 0;
    obj = ctl_get(c, plural, ns, name);
    path = path_of(plural, ns, name);
    if (!obj || !path)
        return 0;
    if (ctl_being_deleted(obj) && lc_has_finalizer(obj, FIN_ORPHAN))
        return orphan_dependents(c, path, obj, err);
    if (ctl_being_deleted(obj) && lc_has_finalizer(obj, FIN_FOREGROUND))
        return foreground_delete(c, key, path, obj, err);
    return collect_if_orphaned(c, path, obj, err);
}

struct start_scan {
    struct ctl *c;
    const char *plural;
};

static bool
scan_one(void *ud, const json_t *obj)
{
    struct start_scan *s = ud;

    on_object(s->c, s->plural, CTL_ADDED, NULL, obj);
    if (ctl_being_deleted(obj) &&
        (lc_has_finalizer(obj, FIN_ORPHAN) || lc_has_finalizer(obj, FIN_FOREGROUND))) {
        _cleanup_free_ char *key = object_key(s->plural, obj);

        ctl_enqueue(s->c, key);
    }
    return true;
}

/* A custom object is gone (api_crd.c): its dependents are looked at. */
static void
on_custom_owner_deleted(void *ud, const char *uid)
{
    enqueue_dependents(ud, uid);
}

static void
stop(struct ctl *c)
{
    (void)c;
    api_crd_set_owner_deleted_fn(NULL, NULL);
}

static void
start(struct ctl *c)
{
    api_crd_set_owner_deleted_fn(on_custom_owner_deleted, c);
    index_clear();
    for (const struct ctl_watch *w = watches; w->resource; w++) {
        struct start_scan s = {c, w->resource};

        ctl_list(c, w->resource, NULL, NULL, scan_one, &s);
    }
}

const struct ctl_def ctl_def_gc = {
    .name = "garbagecollector",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_object,
    .start = start,
    .stop = stop,
};
