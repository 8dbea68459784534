/* SPDX-License-Identifier: Apache-2.0
 * ctl_informer.c - informers over the API server's watch caches: one
 * informer per watched resource, shared by every controller that watches it,
 * and one thread (the loop) for all of them. The loop follows each cache's
 * event ring, parses each object once and hands it to the handlers of the
 * controllers that run; it sleeps until some cache changes (the watch
 * cache's change hook). It was a thread per resource (27), each waiting.
 *
 * The informer keeps a reference to each entry it has seen (no copy: the
 * cache's entries are immutable and reference counted), so that after the
 * cache relists (a compaction) or drops a slow watcher it can tell the
 * handlers what changed in between, deletions included. Reads (ctl_get,
 * ctl_list) go to the cache directly. */
#define LOG_COMPONENT "informer"
#include "controllers/ctl-internal.h"

#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define INFORMER_POLL_MS      200
#define INFORMER_SYNC_STEP_MS 1000

struct subscriber {
    struct ctl *c;
    ctl_handler_fn fn;
    bool metadata_only; /* the handler reads only the objects' metadata */
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
    /* Owned by the loop thread while the informer is in loop.v. */
    enum { INF_SYNC, INF_RESYNC, INF_FOLLOW } state;
    struct wc_watcher *watcher; /* INF_FOLLOW */
    int64_t due_ms;             /* INF_RESYNC: not before */
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

/* {"metadata": e's metadata}, or NULL if it cannot be read. Most of an
 * object (a ConfigMap's data, a Secret's) is outside its metadata: the
 * cache unpacks the text only up to metadata's end, and only metadata is
 * parsed. */
static json_t *
entry_metadata_object(const struct wc_entry *e)
{
    struct k3c_buf b;
    struct k3c_err err = {0};
    json_t *md = NULL;

    k3c_buf_init(&b);
    if (wc_entry_metadata(e, &b, &err) == 0)
        md = k3c_json_loadb(b.data, b.len, 0, NULL);
    k3c_buf_fini(&b);
    if (!json_is_object(md)) {
        json_decref(md);
        return NULL;
    }
    return json_pack("{s:o}", "metadata", md);
}

/* Whether every handler, running or not, reads only metadata. */
static bool
all_metadata_only(const struct ctl_informer *inf)
{
    for (size_t i = 0; i < inf->n_subs; i++)
        if (!inf->subs[i].metadata_only)
            return false;
    return inf->n_subs > 0;
}

/* Whether every running handler reads only metadata. */
static bool
metadata_is_enough(const struct ctl_informer *inf)
{
    for (size_t i = 0; i < inf->n_subs; i++)
        if (!inf->subs[i].metadata_only && ctl_running(inf->subs[i].c))
            return false;
    return true;
}

/* e as the handlers need it: whole, or its metadata alone (which the cache
 * may hold parsed already: watch_cache_keep_metadata). */
static json_t *
entry_parse(const struct ctl_informer *inf, bool metadata_only, const struct wc_entry *e)
{
    json_t *obj;

    if (!metadata_only)
        return wc_entry_object(e);
    obj = watch_cache_entry_metadata(inf->wc, e);
    return obj ? obj : entry_metadata_object(e);
}

static void
dispatch(struct ctl_informer *inf, enum ctl_event ev, const struct wc_entry *old,
         const struct wc_entry *obj)
{
    json_t *o = NULL, *n = NULL;
    bool parsed = false;

    for (size_t i = 0; i < inf->n_subs; i++) {
        struct subscriber *s = &inf->subs[i];

        if (!ctl_running(s->c))
            continue;
        if (!parsed) {
            bool meta = metadata_is_enough(inf);

            parsed = true;
            n = entry_parse(inf, meta, obj);
            o = old ? entry_parse(inf, meta, old) : NULL;
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

/* ---- the loop --------------------------------------------------------------- */

/* Events one informer handles before the loop moves to the next. */
#define INFORMER_BATCH 256
/* Pause after a cache closed its watcher (a relist, a slow reader). */
#define INFORMER_RESUBSCRIBE_MS 50
/* After a pass, the changes of the next few milliseconds gather for one pass
 * instead of waking the loop once each (under a burst of writes that was a
 * wake-up and a walk over every informer per event). */
#define INFORMER_COALESCE_MS 5

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* CLOCK_MONOTONIC: a change while idle, v changed, busy done */
    atomic_uint_fast64_t seq; /* bumped by every change hook call */
    atomic_bool idle;         /* the loop sleeps until a change: the hook must wake it */
    uint64_t v_gen;           /* bumped when v changes */
    struct ctl_informer **v;
    size_t n, cap;
    struct ctl_informer *busy; /* the one the loop is running now */
    bool thread_running;
} loop = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

static void
loop_init(void)
{
    k3c_cond_init(&loop.cond);
}

/* The watch cache's change hook: any thread, no cache lock held. Outside
 * the loop's idle wait the change only counts: the loop looks at the count
 * when its pass or its quiet period ends (the store of seq and the load of
 * idle here, and the reverse order in loop_wait_locked, are sequentially
 * consistent, so one of the two sides sees the other). */
static void
loop_cache_changed(void)
{
    atomic_fetch_add(&loop.seq, 1);
    if (!atomic_load(&loop.idle))
        return;
    pthread_mutex_lock(&loop.mu);
    pthread_cond_broadcast(&loop.cond);
    pthread_mutex_unlock(&loop.mu);
}

static void
informer_subscribe(struct ctl_informer *inf)
{
    struct k3c_err err = {0};

    resync(inf);
    set_synced(inf);
    inf->watcher = watch_cache_subscribe(inf->wc, inf->rev, &err);
    if (inf->watcher) {
        inf->state = INF_FOLLOW;
        return;
    }
    log_warn("(%s) %s", inf->res->plural, err.msg);
    inf->state = INF_RESYNC;
    inf->due_ms = k3c_now_ms() + INFORMER_RESUBSCRIBE_MS;
}

/* Handles the events the cache has for inf, up to a batch. Returns true if
 * inf may have more to do at once; lowers *wake_ms to when it wants to run
 * again otherwise. Thread: the loop. */
static bool
informer_step(struct ctl_informer *inf, int64_t *wake_ms)
{
    struct k3c_err err = {0};

    switch (inf->state) {
    case INF_SYNC:
        /* Once, at the start: the cache has caught up with etcd. */
        if (watch_cache_sync(inf->wc, 0, INFORMER_POLL_MS, &err) < 0)
            return true;
        informer_subscribe(inf);
        return true;
    case INF_RESYNC:
        if (k3c_now_ms() < inf->due_ms) {
            if (inf->due_ms < *wake_ms)
                *wake_ms = inf->due_ms;
            return false;
        }
        informer_subscribe(inf);
        return true;
    case INF_FOLLOW:
        break;
    }
    for (int i = 0; i < INFORMER_BATCH; i++) {
        struct wc_event ev = {0};
        int rc = wc_watcher_next(inf->watcher, 0, &ev, &err);

        if (rc == 0)
            return false;
        if (rc < 0) {
            log_info("(%s) %s", inf->res->plural, err.msg);
            wc_watcher_free(inf->watcher);
            inf->watcher = NULL;
            inf->state = INF_RESYNC;
            inf->due_ms = k3c_now_ms() + INFORMER_RESUBSCRIBE_MS;
            return true;
        }
        apply_event(inf, &ev);
        wc_event_fini(&ev);
    }
    return true;
}

/* After a pass that saw the changes up to seq: if it handled changes, the
 * quiet period first (the changes that come in it wait for its end); then,
 * if none came, sleep until one comes, wake_ms, or v changes. mu held. */
static void
loop_wait_locked(uint64_t seq, bool quiet, int64_t wake_ms)
{
    uint64_t gen = loop.v_gen;
    int64_t quiet_end = quiet ? k3c_now_ms() + INFORMER_COALESCE_MS : 0;

    if (quiet_end > wake_ms)
        quiet_end = wake_ms;
    while (gen == loop.v_gen && k3c_now_ms() < quiet_end)
        k3c_cond_wait_until(&loop.cond, &loop.mu, quiet_end);
    atomic_store(&loop.idle, true);
    while (atomic_load(&loop.seq) == seq && gen == loop.v_gen && k3c_now_ms() < wake_ms)
        k3c_cond_wait_until(&loop.cond, &loop.mu, wake_ms);
    atomic_store(&loop.idle, false);
}

/* Runs every informer until none is left (the thread then ends; the next
 * ctl_informer_start starts another). */
static void *
loop_thread(void *arg)
{
    uint64_t handled = 0; /* seq as of the last pass */

    (void)arg;
    pthread_mutex_lock(&loop.mu);
    while (loop.n > 0) {
        uint64_t seq = atomic_load(&loop.seq), gen = loop.v_gen;
        int64_t wake = k3c_now_ms() + INFORMER_POLL_MS;
        bool more = false;

        for (size_t i = 0; i < loop.n; i++) {
            struct ctl_informer *inf = loop.v[i];

            loop.busy = inf;
            pthread_mutex_unlock(&loop.mu);
            more |= informer_step(inf, &wake);
            pthread_mutex_lock(&loop.mu);
            loop.busy = NULL;
            pthread_cond_broadcast(&loop.cond); /* ctl_informer_free may wait */
        }
        /* More than a batch, or v changed under the walk: go again. */
        if (more || gen != loop.v_gen)
            continue;
        loop_wait_locked(seq, seq != handled, wake);
        handled = seq;
    }
    loop.thread_running = false;
    pthread_mutex_unlock(&loop.mu);
    return NULL;
}

/* loop.mu held. */
static int
loop_add_locked(struct ctl_informer *inf, struct k3c_err *err)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc = 0;

    if (!loop.thread_running) {
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &attr, loop_thread, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            return k3c_err_sys(err, rc, "informer %s: pthread_create", inf->res->plural);
        loop.thread_running = true;
    }
    if (loop.n == loop.cap) {
        loop.cap = loop.cap ? loop.cap * 2 : 32;
        loop.v = k3c_xrealloc(loop.v, loop.cap * sizeof(*loop.v));
    }
    loop.v[loop.n++] = inf;
    loop.v_gen++;
    pthread_cond_broadcast(&loop.cond);
    return 0;
}

/* Takes inf out of the loop; after it returns the loop no longer runs it. */
static void
loop_remove(struct ctl_informer *inf)
{
    pthread_mutex_lock(&loop.mu);
    for (size_t i = 0; i < loop.n; i++)
        if (loop.v[i] == inf) {
            memmove(&loop.v[i], &loop.v[i + 1], (loop.n - i - 1) * sizeof(*loop.v));
            loop.n--;
            loop.v_gen++;
            break;
        }
    while (loop.busy == inf)
        pthread_cond_wait(&loop.cond, &loop.mu);
    if (loop.n == 0) {
        free(loop.v);
        loop.v = NULL;
        loop.cap = 0;
    }
    pthread_cond_broadcast(&loop.cond);
    pthread_mutex_unlock(&loop.mu);
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
ctl_informer_subscribe(struct ctl_informer *inf, struct ctl *c, ctl_handler_fn fn,
                       bool metadata_only)
{
    inf->subs = k3c_xrealloc(inf->subs, (inf->n_subs + 1) * sizeof(*inf->subs));
    inf->subs[inf->n_subs++] = (struct subscriber){c, fn, metadata_only};
}

int
ctl_informer_start(struct ctl_informer *inf, struct k3c_err *err)
{
    int rc;

    pthread_once(&loop.once, loop_init);
    watch_cache_set_change_hook(loop_cache_changed);
    if (all_metadata_only(inf))
        watch_cache_keep_metadata(inf->wc);
    pthread_mutex_lock(&loop.mu);
    rc = loop_add_locked(inf, err);
    pthread_mutex_unlock(&loop.mu);
    if (rc < 0)
        return -1;
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
        loop_remove(inf);
    wc_watcher_free(inf->watcher);
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
