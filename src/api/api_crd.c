/* SPDX-License-Identifier: Apache-2.0
 * api_crd.c - the registry of served custom resources and the CRD
 * controller (upstream's apiextensions-apiserver: the CRD handler's
 * storage map, the naming and establishing controllers, the finalizer that
 * deletes a CRD's objects, plus garbage collection of custom objects).
 *
 * The registry follows the customresourcedefinitions watch cache: a thread
 * reconciles it on every CRD event, and a request for an unknown custom
 * group first catches the registry up (so a CRD is served as soon as its
 * create returned). Entries are published on an append-only list that
 * readers walk without a lock; an entry is never freed before the server
 * stops, so a request may keep its resource pointer while the CRD changes.
 * Every server of an HA cluster runs the same controller; status writes
 * are compare-and-swap and idempotent. */
#define LOG_COMPONENT "crd"
#include "api/api-crd.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CRD_FINALIZER   "customresourcecleanup.apiextensions.k8s.io"
#define CRD_PREFIX      "/registry/customresourcedefinitions/"
#define CRD_POLL_MS     250
#define FIN_ORPHAN      "orphan"
#define FIN_FOREGROUND  "foregroundDeletion"
#define CRD_GC_EVERY_MS 3000

/* One etcd directory of custom objects and its watch cache, kept for the
 * server's life (a CRD deleted and created again finds it). */
struct crd_dir {
    char *dir;
    struct watch_cache *wc;
    struct wc_watcher *w; /* the controller thread's: deletions for the GC */
    struct crd_dir *next;
};

static struct {
    pthread_mutex_t mu; /* reconcile (the writers) */
    _Atomic(struct crd_entry *) head;
    struct crd_entry *tail;
    struct crd_dir *dirs;
    json_t *known;     /* CRD name -> fingerprint of what is registered */
    json_t *revs;      /* CRD name -> the revision reconciled (unchanged: not parsed again) */
    json_t *status_ok; /* CRD name -> the revision whose status was right (thread only) */
    struct api_server *srv;
    struct watch_cache *crd_wc;
    int64_t synced_rev;
    pthread_mutex_t fn_mu; /* owner_deleted_fn and its data */
    api_owner_deleted_fn owner_deleted_fn;
    void *owner_deleted_ud;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    size_t n_static;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER, .fn_mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- lookups (any thread) -------------------------------------------------- */

static size_t
n_static(void)
{
    size_t n = __atomic_load_n(&reg.n_static, __ATOMIC_RELAXED);

    if (n == 0) {
        while (api_resources[n].kind)
            n++;
        __atomic_store_n(&reg.n_static, n, __ATOMIC_RELAXED);
    }
    return n;
}

struct crd_entry *
crd_entry_of(const struct api_resource *r)
{
    uintptr_t p = (uintptr_t)r, lo = (uintptr_t)api_resources,
              hi = (uintptr_t)(api_resources + n_static() + 1);

    if (!r || (p >= lo && p < hi))
        return NULL;
    return (struct crd_entry *)r;
}

bool
api_resource_is_custom(const struct api_resource *r)
{
    return crd_entry_of(r) != NULL;
}

static struct crd_entry *
first_active(struct crd_entry *e)
{
    while (e && !atomic_load(&e->active))
        e = atomic_load(&e->next);
    return e;
}

const struct api_resource *
api_resource_next(const struct api_resource *r)
{
    struct crd_entry *e;

    if (!r)
        return api_resources;
    e = crd_entry_of(r);
    if (!e) {
        if (r[1].kind)
            return r + 1;
        e = first_active(atomic_load(&reg.head));
    } else {
        e = first_active(atomic_load(&e->next));
    }
    return e ? &e->res : NULL;
}

bool
api_resource_is_custom_served(void)
{
    return first_active(atomic_load(&reg.head)) != NULL;
}

static const struct api_resource *
find_active(const char *group, const char *version, const char *plural)
{
    for (struct crd_entry *e = first_active(atomic_load(&reg.head)); e;
         e = first_active(atomic_load(&e->next)))
        if (strcmp(e->res.group, group) == 0 && strcmp(e->res.version, version) == 0 &&
            strcmp(e->res.plural, plural) == 0)
            return &e->res;
    return NULL;
}

static void reconcile(void);

const struct api_resource *
api_crd_find(const char *group, const char *version, const char *plural)
{
    const struct api_resource *r = find_active(group, version, plural);
    struct k3c_err err = {0};

    /* CRD groups have a dot; catch up with etcd only for those (a miss is
     * rare: the first request after a CRD was made). */
    if (r || !reg.crd_wc || !strchr(group, '.'))
        return r;
    if (watch_cache_sync(reg.crd_wc, 0, 2000, &err) < 0)
        return NULL;
    if (watch_cache_revision(reg.crd_wc) == __atomic_load_n(&reg.synced_rev, __ATOMIC_ACQUIRE))
        return NULL;
    reconcile();
    return find_active(group, version, plural);
}

struct watch_cache *
api_crd_cache(const struct api_resource *r)
{
    struct crd_entry *e = crd_entry_of(r);

    return e ? e->wc : NULL;
}

/* ---- building entries ------------------------------------------------------ */

static const char *
s_at(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static char **
strv_of(const json_t *a)
{
    size_t i, n = json_array_size(a);
    char **v;
    json_t *x;

    if (n == 0)
        return NULL;
    v = k3c_xcalloc(n + 1, sizeof(*v));
    json_array_foreach(a, i, x)
    {
        v[i] = k3c_xstrdup(json_string_value(x) ?: "");
    }
    return v;
}

/* selectableFields' jsonPaths (".spec.color") as the field selector paths
 * the watch cache indexes ("spec.color"). */
static char **
selectable_fields(const json_t *version)
{
    const json_t *sf = json_object_get(version, "selectableFields");
    size_t i, n = json_array_size(sf);
    char **v = k3c_xcalloc(n + 1, sizeof(*v));
    json_t *f;

    json_array_foreach(sf, i, f)
    {
        const char *p = s_at(f, "jsonPath");

        v[i] = k3c_xstrdup(p && p[0] == '.' ? p + 1 : p ? p : "");
    }
    return v;
}

static struct watch_cache *
dir_cache(const char *dir, char *const *fields)
{
    _cleanup_free_ char *prefix = k3c_xasprintf("/registry/%s/", dir);
    struct k3c_err err = {0};
    struct crd_dir *d;

    for (d = reg.dirs; d; d = d->next)
        if (strcmp(d->dir, dir) == 0)
            return d->wc;
    d = k3c_xcalloc(1, sizeof(*d));
    d->dir = k3c_xstrdup(dir);
    d->wc = watch_cache_new(reg.srv->store, prefix, (const char *const *)fields, &err);
    if (!d->wc)
        log_warn("(%s) watch cache: %s", dir, err.msg);
    else if (!(d->w = watch_cache_subscribe(d->wc, 0, &err)))
        log_warn("(%s) watch: %s", dir, err.msg);
    d->next = reg.dirs;
    reg.dirs = d;
    return d->wc;
}

static void
entry_free(struct crd_entry *e)
{
    free(e->crd_name);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(e->strings); i++)
        free(e->strings[i]);
    k3c_strv_free(e->short_names);
    k3c_strv_free(e->categories);
    k3c_strv_free(e->field_selectors);
    free(e->store_dir);
    json_decref(e->schema);
    free(e->schema_name);
    json_decref(e->printer_columns);
    json_decref(e->scale);
    free(e->columns);
    free(e->deprecation);
    free(e);
}

static struct crd_entry *
entry_new(const json_t *crd, const json_t *version)
{
    const json_t *spec = json_object_get(crd, "spec"), *names = json_object_get(spec, "names");
    const json_t *subs = json_object_get(version, "subresources");
    struct crd_entry *e = k3c_xcalloc(1, sizeof(*e));
    const char *kind = s_at(names, "kind") ?: "";
    _cleanup_free_ char *lower = k3c_xstrdup(kind);

    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    e->crd_name = k3c_xstrdup(api_meta_str(crd, "name") ?: "");
    e->strings[0] = k3c_xstrdup(s_at(spec, "group") ?: "");
    e->strings[1] = k3c_xstrdup(s_at(version, "name") ?: "");
    e->strings[2] = k3c_xstrdup(kind);
    e->strings[3] = s_at(names, "listKind") ? k3c_xstrdup(s_at(names, "listKind"))
                                            : k3c_xasprintf("%sList", kind);
    e->strings[4] = k3c_xstrdup(s_at(names, "plural") ?: "");
    e->strings[5] = k3c_xstrdup(s_at(names, "singular") ?: lower);
    e->short_names = strv_of(json_object_get(names, "shortNames"));
    e->categories = strv_of(json_object_get(names, "categories"));
    e->field_selectors = selectable_fields(version);
    e->store_dir = k3c_xasprintf("%s/%s", e->strings[0], e->strings[4]);
    e->res = (struct api_resource){
        .group = e->strings[0],
        .version = e->strings[1],
        .kind = e->strings[2],
        .list_kind = e->strings[3],
        .plural = e->strings[4],
        .singular = e->strings[5],
        .short_names = (const char *const *)e->short_names,
        .categories = (const char *const *)e->categories,
        .namespaced = !s_at(spec, "scope") || strcmp(s_at(spec, "scope"), "Namespaced") == 0,
        .subresources = (json_object_get(subs, "status") ? API_SUB_STATUS : 0) |
                        (json_object_get(subs, "scale") ? API_SUB_SCALE : 0),
        .field_selectors = (const char *const *)e->field_selectors,
        .has_status = json_object_get(subs, "status") != NULL,
        .store_dir = e->store_dir,
    };
    if (json_is_true(json_object_get(version, "deprecated")))
        e->deprecation =
            s_at(version, "deprecationWarning")
                ? k3c_xstrdup(s_at(version, "deprecationWarning"))
                : k3c_xasprintf("%s/%s %s is deprecated", e->strings[0], e->strings[1], kind);
    e->printer_columns = json_incref(json_object_get(version, "additionalPrinterColumns"));
    e->scale = json_incref(json_object_get(subs, "scale"));
    crd_entry_build_schema(e, version);
    atomic_init(&e->active, true);
    atomic_init(&e->next, NULL);
    return e;
}

/* Kubernetes version priority (v1 > v1beta2 > v1beta1 > v1alpha1 > other,
 * the others alphabetically), for discovery's order and preferred version. */
static void
version_key(const char *v, int key[3])
{
    int major = 0, minor = 0, n = 0;
    char stage[8] = "";

    key[0] = 0;
    key[1] = key[2] = 0;
    if (sscanf(v, "v%d%n", &major, &n) == 1 && major > 0) {
        if (v[n] == '\0') {
            key[0] = 3;
        } else if (sscanf(v + n, "%5[a-z]%d", stage, &minor) == 2 &&
                   (strcmp(stage, "beta") == 0 || strcmp(stage, "alpha") == 0)) {
            key[0] = strcmp(stage, "beta") == 0 ? 2 : 1;
        } else {
            return;
        }
        key[1] = major;
        key[2] = minor;
    }
}

static int
cmp_versions(const void *a, const void *b)
{
    const char *va = s_at(*(json_t *const *)a, "name") ?: "";
    const char *vb = s_at(*(json_t *const *)b, "name") ?: "";
    int ka[3], kb[3];

    version_key(va, ka);
    version_key(vb, kb);
    for (int i = 0; i < 3; i++)
        if (ka[i] != kb[i])
            return kb[i] - ka[i];
    return strcmp(va, vb);
}

static void
publish(struct crd_entry *e)
{
    if (reg.tail)
        atomic_store(&reg.tail->next, e);
    else
        atomic_store(&reg.head, e);
    reg.tail = e;
}

static void
retire(const char *crd_name)
{
    for (struct crd_entry *e = atomic_load(&reg.head); e; e = atomic_load(&e->next))
        if (atomic_load(&e->active) && strcmp(e->crd_name, crd_name) == 0)
            atomic_store(&e->active, false);
}

/* Another served CRD of the group already has this plural or kind. */
static bool
names_conflict(const json_t *crd)
{
    const json_t *spec = json_object_get(crd, "spec"), *names = json_object_get(spec, "names");
    const char *name = api_meta_str(crd, "name") ?: "";
    const char *group = s_at(spec, "group") ?: "", *plural = s_at(names, "plural") ?: "";
    const char *kind = s_at(names, "kind") ?: "";

    for (struct crd_entry *e = first_active(atomic_load(&reg.head)); e;
         e = first_active(atomic_load(&e->next)))
        if (strcmp(e->crd_name, name) != 0 && strcmp(e->res.group, group) == 0 &&
            (strcmp(e->res.plural, plural) == 0 || strcmp(e->res.kind, kind) == 0))
            return true;
    return false;
}

static void
register_crd(const json_t *crd)
{
    const json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    size_t n = json_array_size(versions), k = 0;
    _cleanup_free_ const json_t **sorted = k3c_xcalloc(n + 1, sizeof(*sorted));
    struct watch_cache *wc = NULL;

    for (size_t i = 0; i < n; i++)
        if (json_is_true(json_object_get(json_array_get(versions, i), "served")))
            sorted[k++] = json_array_get(versions, i);
    qsort(sorted, k, sizeof(*sorted), cmp_versions);
    for (size_t i = 0; i < k; i++) {
        struct crd_entry *e = entry_new(crd, sorted[i]);

        if (!wc)
            wc = dir_cache(e->store_dir, e->field_selectors);
        e->wc = wc;
        if (!wc) {
            entry_free(e);
            continue;
        }
        publish(e);
    }
    log_info("(%s) serving %zu version(s)", api_meta_str(crd, "name") ?: "", k);
}

static char *
fingerprint(const json_t *crd)
{
    _cleanup_free_ char *spec =
        json_dumps(json_object_get(crd, "spec"), JSON_COMPACT | JSON_SORT_KEYS);

    return k3c_xasprintf("%s|%s|%s", api_meta_str(crd, "uid") ?: "",
                         api_meta_str(crd, "deletionTimestamp") ? "deleting" : "", spec ?: "");
}

struct snap {
    struct wc_entry **v;
    size_t n;
};

static void
snap_add(void *ud, struct wc_entry *e)
{
    struct snap *s = ud;

    s->v = k3c_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = wc_entry_ref(e);
}

static void
snap_fini(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        wc_entry_unref(s->v[i]);
    free(s->v);
}

/* Brings the registry in line with the CRDs the cache holds. */
static void
reconcile(void)
{
    struct snap s = {0};
    _cleanup_json_ json_t *seen = json_object();
    int64_t rev;
    const char *name;
    json_t *fp;
    void *tmp;

    pthread_mutex_lock(&reg.mu);
    rev = watch_cache_foreach(reg.crd_wc, CRD_PREFIX, snap_add, &s);
    for (size_t i = 0; i < s.n; i++) {
        _cleanup_json_ json_t *crd = NULL;
        _cleanup_free_ char *f = NULL;
        const char *n = s.v[i]->name;
        const char *was;

        json_object_set_new(seen, n, json_true());
        if (json_object_get(reg.known, n) &&
            json_integer_value(json_object_get(reg.revs, n)) == s.v[i]->revision)
            continue; /* registered from this very revision */
        crd = wc_entry_object(s.v[i]);
        if (!crd)
            continue;
        f = fingerprint(crd);
        json_object_set_new(reg.revs, n, json_integer(s.v[i]->revision));
        was = s_at(reg.known, n);
        if (was && strcmp(was, f) == 0)
            continue;
        retire(n);
        json_object_del(reg.known, n);
        if (api_meta_str(crd, "deletionTimestamp") || names_conflict(crd))
            continue; /* not served; retried when anything changes */
        register_crd(crd);
        json_object_set_new(reg.known, n, json_string(f));
    }
    json_object_foreach_safe(reg.known, tmp, name, fp)
    {
        if (!json_object_get(seen, name)) {
            retire(name);
            json_object_del(reg.known, name);
            json_object_del(reg.revs, name);
            log_info("(%s) no longer served", name);
        }
    }
    __atomic_store_n(&reg.synced_rev, rev, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&reg.mu);
    snap_fini(&s);
}

static bool
served_now(const char *crd_name)
{
    for (struct crd_entry *e = first_active(atomic_load(&reg.head)); e;
         e = first_active(atomic_load(&e->next)))
        if (strcmp(e->crd_name, crd_name) == 0)
            return true;
    return false;
}

/* ---- status ------------------------------------------------------------------ */

static json_t *
condition(const json_t *old_conds, const char *type, bool ok, const char *reason, const char *msg)
{
    const char *status = ok ? "True" : "False";
    const char *since = NULL;
    char now[32];
    size_t i;
    json_t *c;

    json_array_foreach(old_conds, i, c)
    {
        if (strcmp(s_at(c, "type") ?: "", type) == 0 &&
            strcmp(s_at(c, "status") ?: "", status) == 0)
            since = s_at(c, "lastTransitionTime");
    }
    k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
                     "lastTransitionTime", since ? since : now, "reason", reason, "message", msg);
}

static json_t *
accepted_names(const json_t *spec)
{
    json_t *n = json_deep_copy(json_object_get(spec, "names"));
    const char *kind = s_at(n, "kind") ?: "";

    if (!s_at(n, "listKind")) {
        _cleanup_free_ char *lk = k3c_xasprintf("%sList", kind);
        json_object_set_new(n, "listKind", json_string(lk));
    }
    if (!s_at(n, "singular")) {
        _cleanup_free_ char *s = k3c_xstrdup(kind);
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(n, "singular", json_string(s));
    }
    return n;
}

/* The status the CRD should have now (new). */
static json_t *
desired_status(const json_t *crd)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *old = json_object_get(crd, "status");
    const json_t *old_conds = json_object_get(old, "conditions");
    bool served = served_now(api_meta_str(crd, "name") ?: "");
    json_t *st = json_object(), *conds = json_array(), *stored = json_array();
    size_t i;
    json_t *v;

    json_array_append_new(conds, condition(old_conds, "NamesAccepted", served,
                                           served ? "NoConflicts" : "NameConflict",
                                           served ? "no conflicts found"
                                                  : "a resource of the group already has one of "
                                                    "these names"));
    json_array_append_new(
        conds,
        condition(old_conds, "Established", served, served ? "InitialNamesAccepted" : "NotAccepted",
                  served ? "the initial names have been accepted" : "not all names are accepted"));
    json_object_set_new(st, "conditions", conds);
    json_object_set_new(st, "acceptedNames",
                        served ? accepted_names(spec)
                               : json_pack("{s:s, s:s}", "plural", "", "kind", ""));
    json_array_foreach(json_object_get(old, "storedVersions"), i, v)
    {
        json_array_append(stored, v);
    }
    json_array_foreach(json_object_get(spec, "versions"), i, v)
    {
        const char *name = s_at(v, "name");
        bool have = false;
        size_t k;
        json_t *x;

        if (!json_is_true(json_object_get(v, "storage")) || !name)
            continue;
        json_array_foreach(stored, k, x)
        {
            have = have || strcmp(json_string_value(x) ?: "", name) == 0;
        }
        if (!have)
            json_array_append_new(stored, json_string(name));
    }
    json_object_set_new(st, "storedVersions", stored);
    return st;
}

/* Compare-and-swap write of a CRD as changed by fn; 0 also when it is
 * gone or changed meanwhile (the next event retries). */
static int
crd_write(const char *name, bool (*fn)(json_t *crd, void *ud), void *ud, bool delete_if_done)
{
    _cleanup_free_ char *key = k3c_xasprintf(CRD_PREFIX "%s", name);
    _cleanup_json_ json_t *crd = NULL;
    _cleanup_free_ char *text = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    size_t len = 0;

    if (store_get(reg.srv->store, key, &kv, &err) < 0)
        return 0;
    crd = api_object_from_kv(&kv, &err);
    if (!crd || !fn(crd, ud)) {
        store_kv_fini(&kv);
        return 0;
    }
    if (delete_if_done && api_meta_str(crd, "deletionTimestamp") &&
        json_array_size(json_object_get(api_meta(crd), "finalizers")) == 0) {
        if (store_delete(reg.srv->store, key, kv.mod_revision, NULL, NULL, &err) < 0)
            log_debug("(%s) delete: %s", name, err.msg);
        store_kv_fini(&kv);
        return 0;
    }
    text = api_object_encode(crd, &len);
    if (store_update(reg.srv->store, key, text, len, kv.mod_revision, 0, NULL, NULL, &err) < 0 &&
        err.kind != K3C_E_CONFLICT && err.kind != K3C_E_NOT_FOUND)
        log_warn("(%s) status: %s", name, err.msg);
    store_kv_fini(&kv);
    return 0;
}

static bool
set_status(json_t *crd, void *ud)
{
    json_t *want = ud;
    _cleanup_json_ json_t *cmp = json_deep_copy(json_object_get(crd, "status"));

    if (json_equal(cmp, want))
        return false;
    json_object_set(crd, "status", want);
    return true;
}

static bool
drop_finalizer(json_t *crd, void *ud)
{
    json_t *fins = json_object_get(api_meta(crd), "finalizers"), *left = json_array();
    size_t i;
    json_t *f;

    (void)ud;
    json_array_foreach(fins, i, f)
    {
        if (strcmp(json_string_value(f) ?: "", CRD_FINALIZER) != 0)
            json_array_append(left, f);
    }
    if (json_array_size(left) == json_array_size(fins)) {
        json_decref(left);
        return json_array_size(fins) == 0; /* nothing to drop; maybe delete */
    }
    if (json_array_size(left) == 0) {
        json_object_del(api_meta(crd), "finalizers");
        json_decref(left);
    } else {
        json_object_set_new(api_meta(crd), "finalizers", left);
    }
    return true;
}

/* The CRD's objects, all versions: deleted from etcd (upstream's
 * finalizer deletes them through the API; objects' own finalizers are not
 * waited for here: docs/crd.md). */
static int
delete_objects(const json_t *crd)
{
    const json_t *spec = json_object_get(crd, "spec");
    _cleanup_free_ char *prefix =
        k3c_xasprintf("/registry/%s/%s/", s_at(spec, "group") ?: "",
                      s_at(json_object_get(spec, "names"), "plural") ?: "");
    struct store_list l = {0};
    struct k3c_err err = {0};

    if (store_list(reg.srv->store, prefix, 0, NULL, 0, &l, &err) < 0) {
        log_warn("(%s) listing objects to delete: %s", api_meta_str(crd, "name"), err.msg);
        return -1;
    }
    for (size_t i = 0; i < l.n_items; i++) {
        k3c_err_clear(&err);
        if (store_delete(reg.srv->store, l.items[i].key, 0, NULL, NULL, &err) < 0 &&
            err.kind != K3C_E_NOT_FOUND)
            log_warn("deleting %s: %s", l.items[i].key, err.msg);
    }
    if (l.n_items)
        log_info("(%s) deleted %zu objects", api_meta_str(crd, "name"), l.n_items);
    store_list_fini(&l);
    return 0;
}

static void
sync_status(void)
{
    struct snap s = {0};

    watch_cache_foreach(reg.crd_wc, CRD_PREFIX, snap_add, &s);
    for (size_t i = 0; i < s.n && !atomic_load(&reg.stop); i++) {
        _cleanup_json_ json_t *crd = NULL;
        const char *name = s.v[i]->name;

        if (json_integer_value(json_object_get(reg.status_ok, name)) == s.v[i]->revision)
            continue;
        if (!(crd = wc_entry_object(s.v[i])))
            continue;
        if (api_meta_str(crd, "deletionTimestamp")) {
            bool ours = false;
            size_t k;
            json_t *f;

            json_array_foreach(json_object_get(api_meta(crd), "finalizers"), k, f)
            {
                ours = ours || strcmp(json_string_value(f) ?: "", CRD_FINALIZER) == 0;
            }
            if (ours && delete_objects(crd) == 0)
                crd_write(name, drop_finalizer, NULL, true);
            continue;
        }
        {
            _cleanup_json_ json_t *want = desired_status(crd);

            if (json_equal(want, json_object_get(crd, "status")))
                json_object_set_new(reg.status_ok, name, json_integer(s.v[i]->revision));
            else
                crd_write(name, set_status, want, false);
        }
    }
    snap_fini(&s);
}

/* ---- garbage collection of custom objects ----------------------------------- */

static const struct api_resource *
resource_for_kind(const char *api_version, const char *kind)
{
    char group[256] = "";
    const char *version = api_version, *slash = api_version ? strchr(api_version, '/') : NULL;

    if (!api_version || !kind)
        return NULL;
    if (slash) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - api_version), api_version);
        version = slash + 1;
    }
    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r))
        if (strcmp(r->kind, kind) == 0 && strcmp(r->group, group) == 0 &&
            strcmp(r->version, version) == 0)
            return r;
    return NULL;
}

/* 1 alive, 0 gone, -1 unknown (a kind not served, or etcd did not answer). */
static int
owner_alive(const json_t *ref, const char *ns)
{
    const struct api_resource *r = resource_for_kind(s_at(ref, "apiVersion"), s_at(ref, "kind"));
    const char *name = s_at(ref, "name"), *uid = s_at(ref, "uid");
    _cleanup_free_ char *key = NULL;
    _cleanup_json_ json_t *o = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};

    if (!r || !name || !uid)
        return -1;
    key = api_object_key(r, r->namespaced ? ns : NULL, name);
    if (store_get(reg.srv->store, key, &kv, &err) < 0)
        return err.kind == K3C_E_NOT_FOUND ? 0 : -1;
    o = api_object_from_kv(&kv, &err);
    store_kv_fini(&kv);
    return o && strcmp(api_meta_str(o, "uid") ?: "", uid) == 0;
}

static void
collect_one(struct wc_entry *we)
{
    _cleanup_json_ json_t *obj = wc_entry_object(we);
    const json_t *refs = json_object_get(api_meta(obj), "ownerReferences");
    const char *ns = api_meta_str(obj, "namespace");
    struct k3c_err err = {0};
    size_t i;
    json_t *ref;

    if (!obj || json_array_size(refs) == 0 || api_meta_str(obj, "deletionTimestamp"))
        return;
    json_array_foreach(refs, i, ref)
    {
        if (owner_alive(ref, ns) != 0)
            return;
    }
    if (json_array_size(json_object_get(api_meta(obj), "finalizers")) > 0) {
        _cleanup_free_ char *text = NULL;
        char now[32];
        size_t len = 0;

        k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
        json_object_set_new(api_meta(obj), "deletionTimestamp", json_string(now));
        text = api_object_encode(obj, &len);
        store_update(reg.srv->store, we->key, text, len, we->revision, 0, NULL, NULL, &err);
        return;
    }
    if (store_delete(reg.srv->store, we->key, we->revision, NULL, NULL, &err) == 0)
        log_info("%s: owners gone; deleted", we->key);
}

static struct crd_dir *
dirs_head(void)
{
    struct crd_dir *d;

    pthread_mutex_lock(&reg.mu); /* dirs are only ever prepended */
    d = reg.dirs;
    pthread_mutex_unlock(&reg.mu);
    return d;
}

static void
collect_garbage(void)
{
    for (struct crd_dir *d = dirs_head(); d && !atomic_load(&reg.stop); d = d->next) {
        _cleanup_free_ char *prefix = k3c_xasprintf("/registry/%s/", d->dir);
        struct snap s = {0};

        if (!d->wc)
            continue;
        watch_cache_foreach(d->wc, prefix, snap_add, &s);
        for (size_t i = 0; i < s.n; i++)
            if (wc_entry_json_has(s.v[i], "\"ownerReferences\""))
                collect_one(s.v[i]);
        snap_fini(&s);
    }
}

void
api_crd_set_owner_deleted_fn(api_owner_deleted_fn fn, void *ud)
{
    pthread_mutex_lock(&reg.fn_mu);
    reg.owner_deleted_fn = fn;
    reg.owner_deleted_ud = ud;
    pthread_mutex_unlock(&reg.fn_mu);
}

static bool
drop_cascade_finalizers(json_t *obj)
{
    json_t *fins = json_object_get(api_meta(obj), "finalizers"), *left = json_array();
    size_t i;
    json_t *f;

    json_array_foreach(fins, i, f)
    {
        const char *s = json_string_value(f) ?: "";

        if (strcmp(s, FIN_ORPHAN) != 0 && strcmp(s, FIN_FOREGROUND) != 0)
            json_array_append(left, f);
    }
    if (json_array_size(left) == json_array_size(fins)) {
        json_decref(left);
        return false;
    }
    json_object_set_new(api_meta(obj), "finalizers", left);
    return true;
}

/* A custom object deleted: the garbage collector looks at its dependents.
 * One being deleted with propagationPolicy Orphan or Foreground: the
 * in-process garbage collector does not follow custom kinds, so the policy
 * becomes Background (the finalizer is dropped; docs/crd.md). */
static void
on_custom_event(const struct wc_event *ev)
{
    _cleanup_json_ json_t *obj = wc_entry_object(ev->entry);
    const char *uid = obj ? api_meta_str(obj, "uid") : NULL;
    struct k3c_err err = {0};

    if (!uid)
        return;
    if (ev->type == WC_DELETED) {
        pthread_mutex_lock(&reg.fn_mu);
        if (reg.owner_deleted_fn)
            reg.owner_deleted_fn(reg.owner_deleted_ud, uid);
        pthread_mutex_unlock(&reg.fn_mu);
        return;
    }
    if (api_meta_str(obj, "deletionTimestamp") && drop_cascade_finalizers(obj)) {
        if (json_array_size(json_object_get(api_meta(obj), "finalizers")) == 0) {
            store_delete(reg.srv->store, ev->entry->key, ev->entry->revision, NULL, NULL, &err);
        } else {
            size_t len = 0;
            _cleanup_free_ char *text = api_object_encode(obj, &len);

            store_update(reg.srv->store, ev->entry->key, text, len, ev->entry->revision, 0, NULL,
                         NULL, &err);
        }
    }
}

/* Drains the custom objects' events (without waiting). */
static void
poll_dirs(void)
{
    for (struct crd_dir *d = dirs_head(); d && !atomic_load(&reg.stop); d = d->next) {
        struct k3c_err err = {0};
        struct wc_event ev;
        int rc;

        for (int n = 0; d->w && n < 1000; n++) {
            rc = wc_watcher_next(d->w, 0, &ev, &err);
            if (rc == 1) {
                on_custom_event(&ev);
                wc_event_fini(&ev);
                continue;
            }
            if (rc < 0) { /* fell behind: start again from now */
                wc_watcher_free(d->w);
                d->w = watch_cache_subscribe(d->wc, 0, &err);
            }
            break;
        }
    }
}

/* ---- the controller thread ------------------------------------------------- */

static void *
crd_thread(void *arg)
{
    struct wc_watcher *w = NULL;
    int64_t next_gc = k3c_now_ms() + CRD_GC_EVERY_MS;

    (void)arg;
    while (!atomic_load(&reg.stop)) {
        struct k3c_err err = {0};
        struct wc_event ev;
        int rc;

        if (!w) {
            w = watch_cache_subscribe(reg.crd_wc, 0, &err);
            reconcile();
            sync_status();
            if (!w) {
                k3c_sleep_ms(CRD_POLL_MS);
                continue;
            }
        }
        rc = wc_watcher_next(w, CRD_POLL_MS, &ev, &err);
        if (rc < 0) {
            wc_watcher_free(w);
            w = NULL;
            continue;
        }
        if (rc == 1)
            wc_event_fini(&ev);
        if (rc == 1 || watch_cache_revision(reg.crd_wc) != reg.synced_rev) {
            reconcile();
            sync_status();
        }
        poll_dirs();
        if (k3c_now_ms() >= next_gc) {
            sync_status(); /* retries a finalizer or status that failed */
            collect_garbage();
            next_gc = k3c_now_ms() + CRD_GC_EVERY_MS;
        }
    }
    wc_watcher_free(w);
    return NULL;
}

int
api_crd_start(struct api_server *srv, struct k3c_err *err)
{
    const struct api_resource *res =
        api_resource_find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    int rc;

    reg.srv = srv;
    reg.crd_wc = res ? api_cache_for(srv, res) : NULL;
    if (!reg.known) {
        reg.known = json_object();
        reg.revs = json_object();
        reg.status_ok = json_object();
    }
    if (!reg.crd_wc)
        return 0;
    atomic_store(&reg.stop, false);
    rc = pthread_create(&reg.thread, NULL, crd_thread, NULL);
    if (rc != 0)
        return k3c_err_sys(err, rc, "crd: pthread_create");
    reg.started = true;
    return 0;
}

void
api_crd_stop(struct api_server *srv)
{
    struct crd_entry *e;

    if (reg.srv != srv)
        return;
    atomic_store(&reg.stop, true);
    if (reg.started)
        pthread_join(reg.thread, NULL);
    reg.started = false;
    pthread_mutex_lock(&reg.mu);
    e = atomic_load(&reg.head);
    atomic_store(&reg.head, NULL);
    reg.tail = NULL;
    while (e) {
        struct crd_entry *next = atomic_load(&e->next);

        entry_free(e);
        e = next;
    }
    while (reg.dirs) {
        struct crd_dir *d = reg.dirs;

        reg.dirs = d->next;
        wc_watcher_free(d->w);
        watch_cache_free(d->wc);
        free(d->dir);
        free(d);
    }
    json_decref(reg.known);
    json_decref(reg.revs);
    json_decref(reg.status_ok);
    reg.known = reg.revs = reg.status_ok = NULL;
    reg.crd_wc = NULL;
    reg.srv = NULL;
    reg.synced_rev = 0;
    pthread_mutex_unlock(&reg.mu);
}

/* Request-side hooks ----------------------------------------------------------- */

void
api_crd_request_started(struct api_request *r)
{
    struct crd_entry *e = crd_entry_of(r->res);

    if (e && e->deprecation)
        api_warn(r, "%s", e->deprecation);
}
