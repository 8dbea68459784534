/* SPDX-License-Identifier: Apache-2.0
 * ctl_informer.c - informers over the API server's watch caches: one
 * dispatcher thread per watched resource, shared by every controller that
 * watches it. The dispatcher follows the cache's event ring, parses each
 * object once and hands it to the handlers of the controllers that run.
 *
 * The informer keeps a reference to each entry it has seen (no copy: the
 * cache's entries are immutable and reference counted), so that after the
 * cache relists (a compaction) or drops a slow watcher it can tell the
 * handlers what changed in between, deletions included. Reads (ctl_get,
 * ctl_list) go to the cache directly. */
#define LOG_COMPONENT "informer"
#include "controllers/ctl-internal.h"

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define INFORMER_POLL_MS      200
#define INFORMER_SYNC_STEP_MS 1000

struct subscriber {
    struct ctl *c;
    ctl_handler_fn fn;
};

struct ctl_informer {
    const struct api_resource *res;
    struct watch_cache *wc;
    struct subscriber *subs;
    size_t n_subs;
    /* what the handlers have been told: entry refs sorted by key */
    struct wc_entry **known;
    size_t n_known, cap_known;
    int64_t rev;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t synced_cond;
    bool synced;
};

const struct api_resource *
ctl_resource_find(const char *plural)
{
    for (const struct api_resource *r = api_resources; r->kind; r++)
        if (strcmp(r->plural, plural) == 0)
            return r;
    return NULL;
}

/* ---- what the handlers know ------------------------------------------------ */

/* Index of key in known, or where it would go (*found false). */
static size_t
known_find(const struct ctl_informer *inf, const char *key, bool *found)
{
    size_t lo = 0, hi = inf->n_known;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(inf->known[mid]->key, key);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void
known_put(struct ctl_informer *inf, struct wc_entry *e)
{
    bool found;
    size_t i = known_find(inf, e->key, &found);

    if (found) {
        wc_entry_unref(inf->known[i]);
        inf->known[i] = wc_entry_ref(e);
        return;
    }
    if (inf->n_known == inf->cap_known) {
        inf->cap_known = inf->cap_known ? inf->cap_known * 2 : 64;
        inf->known = k3c_xrealloc(inf->known, inf->cap_known * sizeof(*inf->known));
    }
    memmove(&inf->known[i + 1], &inf->known[i], (inf->n_known - i) * sizeof(*inf->known));
    inf->known[i] = wc_entry_ref(e);
    inf->n_known++;
}

static void
known_remove(struct ctl_informer *inf, const char *key)
{
    bool found;
    size_t i = known_find(inf, key, &found);

    if (!found)
        return;
    wc_entry_unref(inf->known[i]);
    memmove(&inf->known[i], &inf->known[i + 1], (inf->n_known - i - 1) * sizeof(*inf->known));
    inf->n_known--;
}

static void
known_clear(struct ctl_informer *inf)
{
    for (size_t i = 0; i < inf->n_known; i++)
        wc_entry_unref(inf->known[i]);
    free(inf->known);
    inf->known = NULL;
    inf->n_known = inf->cap_known = 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

static void
dispatch(struct ctl_informer *inf, enum ctl_event ev, const struct wc_entry *old,
         const struct wc_entry *obj)
{
    json_t *o = NULL, *n = NULL;

    for (size_t i = 0; i < inf->n_subs; i++) {
        struct subscriber *s = &inf->subs[i];

        if (!ctl_running(s->c))
            continue;
        if (!n) {
            n = wc_entry_object(obj);
            o = old ? wc_entry_object(old) : NULL;
            if (!n)
                break;
        }
        s->fn(s->c, ev, o, n);
    }
    json_decref(o);
    json_decref(n);
}

static void
apply_event(struct ctl_informer *inf, const struct wc_event *ev)
{
    switch (ev->type) {
    case WC_ADDED:
        known_put(inf, ev->entry);
        dispatch(inf, CTL_ADDED, NULL, ev->entry);
        break;
    case WC_MODIFIED:
        known_put(inf, ev->entry);
        dispatch(inf, CTL_MODIFIED, ev->prev, ev->entry);
        break;
    case WC_DELETED:
        known_remove(inf, ev->entry->key);
        dispatch(inf, CTL_DELETED, ev->prev, ev->entry);
        break;
    }
    inf->rev = ev->revision;
}

struct snapshot {
    struct wc_entry **v;
    size_t n, cap;
};

static void
snapshot_add(void *ud, struct wc_entry *e)
{
    struct snapshot *s = ud;

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = k3c_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = wc_entry_ref(e);
}

/* Reads the cache whole and tells the handlers how it differs from what
 * they know (both lists are in key order). */
static void
resync(struct ctl_informer *inf)
{
    struct snapshot s = {0};
    _cleanup_free_ char *prefix = api_list_prefix(inf->res, NULL);
    struct wc_entry **old = inf->known;
    size_t n_old = inf->n_known, i = 0, j = 0;

    inf->rev = watch_cache_foreach(inf->wc, prefix, snapshot_add, &s);
    inf->known = s.v;
    inf->n_known = s.n;
    inf->cap_known = s.cap;
    while (i < n_old || j < s.n) {
        int c = i >= n_old ? 1 : j >= s.n ? -1 : strcmp(old[i]->key, s.v[j]->key);

        if (c < 0) {
            dispatch(inf, CTL_DELETED, old[i], old[i]);
            i++;
        } else if (c > 0) {
            dispatch(inf, CTL_ADDED, NULL, s.v[j]);
            j++;
        } else {
            if (old[i]->revision != s.v[j]->revision)
                dispatch(inf, CTL_MODIFIED, old[i], s.v[j]);
            i++;
            j++;
        }
    }
    for (i = 0; i < n_old; i++)
        wc_entry_unref(old[i]);
    free(old);
}

static void
set_synced(struct ctl_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    inf->synced = true;
    pthread_cond_broadcast(&inf->synced_cond);
    pthread_mutex_unlock(&inf->mu);
}

/* Follows the cache from inf->rev until it closes the watcher or we stop. */
static void
follow(struct ctl_informer *inf)
{
    struct k3c_err err = {0};
    struct wc_watcher *w = watch_cache_subscribe(inf->wc, inf->rev, &err);

    if (!w) {
        log_warn("(%s) %s", inf->res->plural, err.msg);
        return;
    }
    while (!atomic_load(&inf->stop)) {
        struct wc_event ev = {0};
        int rc = wc_watcher_next(w, INFORMER_POLL_MS, &ev, &err);

        if (rc < 0) {
            if (!atomic_load(&inf->stop))
                log_info("(%s) %s", inf->res->plural, err.msg);
            break;
        }
        if (rc > 0) {
            apply_event(inf, &ev);
            wc_event_fini(&ev);
        }
    }
    wc_watcher_free(w);
}

static void *
informer_thread(void *arg)
{
    struct ctl_informer *inf = arg;
    struct k3c_err err = {0};

    while (!atomic_load(&inf->stop) &&
           watch_cache_sync(inf->wc, 0, INFORMER_SYNC_STEP_MS, &err) < 0)
        k3c_err_clear(&err);
    while (!atomic_load(&inf->stop)) {
        resync(inf);
        set_synced(inf);
        follow(inf);
        if (!atomic_load(&inf->stop))
            k3c_sleep_ms(50);
    }
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

struct ctl_informer *
ctl_informer_new(struct api_server *srv, const char *resource, struct k3c_err *err)
{
    const struct api_resource *res = ctl_resource_find(resource);
    struct ctl_informer *inf;

    if (!res) {
        k3c_err_set(err, K3C_E_INVALID, "informer: no resource %s", resource);
        return NULL;
    }
    inf = k3c_xcalloc(1, sizeof(*inf));
    inf->res = res;
    inf->wc = api_cache_for(srv, res);
    pthread_mutex_init(&inf->mu, NULL);
    k3c_cond_init(&inf->synced_cond);
    return inf;
}

void
ctl_informer_subscribe(struct ctl_informer *inf, struct ctl *c, ctl_handler_fn fn)
{
    inf->subs = k3c_xrealloc(inf->subs, (inf->n_subs + 1) * sizeof(*inf->subs));
    inf->subs[inf->n_subs++] = (struct subscriber){c, fn};
}

int
ctl_informer_start(struct ctl_informer *inf, struct k3c_err *err)
{
    int rc = pthread_create(&inf->thread, NULL, informer_thread, inf);

    if (rc != 0)
        return k3c_err_sys(err, rc, "informer %s: pthread_create", inf->res->plural);
    inf->started = true;
    return 0;
}

bool
ctl_informer_wait_synced(struct ctl_informer *inf, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;
    bool ok;

    pthread_mutex_lock(&inf->mu);
    while (!inf->synced && !atomic_load(&inf->stop) &&
           k3c_cond_wait_until(&inf->synced_cond, &inf->mu, deadline))
        ;
    ok = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return ok;
}

const char *
ctl_informer_resource(const struct ctl_informer *inf)
{
    return inf->res->plural;
}

void
ctl_informer_free(struct ctl_informer *inf)
{
    if (!inf)
        return;
    atomic_store(&inf->stop, true);
    pthread_mutex_lock(&inf->mu);
    pthread_cond_broadcast(&inf->synced_cond);
    pthread_mutex_unlock(&inf->mu);
    if (inf->started)
        pthread_join(inf->thread, NULL);
    known_clear(inf);
    free(inf->subs);
    pthread_cond_destroy(&inf->synced_cond);
    pthread_mutex_destroy(&inf->mu);
    free(inf);
}

/* ---- reads ----------------------------------------------------------------- */

json_t *
ctl_get(struct ctl *c, const char *resource, const char *ns, const char *name)
{
    const struct api_resource *res = ctl_resource_find(resource);
    _cleanup_free_ char *key = NULL;
    struct wc_entry *e;
    json_t *obj;

    if (!res || !name)
        return NULL;
    key = api_object_key(res, res->namespaced ? ns : NULL, name);
    e = watch_cache_get(api_cache_for(ctl_manager_server(ctl_manager(c)), res), key);
    if (!e)
        return NULL;
    obj = wc_entry_object(e);
    wc_entry_unref(e);
    return obj;
}

void
ctl_list(struct ctl *c, const char *resource, const char *ns, const json_t *selector,
         bool (*fn)(void *ud, const json_t *obj), void *ud)
{
    const struct api_resource *res = ctl_resource_find(resource);
    struct snapshot s = {0};
    _cleanup_free_ char *prefix = NULL;
    size_t i;

    if (!res)
        return;
    prefix = api_list_prefix(res, res->namespaced && ns && *ns ? ns : NULL);
    watch_cache_foreach(api_cache_for(ctl_manager_server(ctl_manager(c)), res), prefix,
                        snapshot_add, &s);
    for (i = 0; i < s.n; i++) {
        json_t *obj, *labels = selector ? wc_entry_labels(s.v[i]) : NULL;
        bool more = true, skip = selector && !ctl_selector_matches(selector, labels);

        json_decref(labels);
        if (skip)
            continue;
        obj = wc_entry_object(s.v[i]);
        if (obj)
            more = fn(ud, obj);
        json_decref(obj);
        if (!more)
            break;
    }
    for (i = 0; i < s.n; i++)
        wc_entry_unref(s.v[i]);
    free(s.v);
}
