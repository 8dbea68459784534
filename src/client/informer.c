/* SPDX-License-Identifier: Apache-2.0
 * informer.c - list + watch of one collection over the API, with a cache
 * keyed by namespace/name. A source (one thread, one connection) lists,
 * then watches from the list's resourceVersion; a broken stream resumes
 * from the last resourceVersion seen (no relist, so a server failover costs
 * one request); 410 Gone or an ERROR event relists and reconciles each
 * subscriber's cache (deletes for what vanished). An informer is one
 * subscriber: its own cache, callbacks and lock. Informers with `shared`
 * set and the same client, path and selectors subscribe to one source (the
 * agent's DNS, proxy, network policies and pod network watch Services,
 * EndpointSlices, Namespaces and Nodes: one connection each instead of
 * two); a subscriber that joins a running source makes it relist, so it
 * gets the whole collection while the others see only what changed.
 * Locks: share_lock, then a source's lock (its subscribers, stopping; held
 * while events are delivered), then an informer's (cache, synced,
 * stopping; callbacks run under it). */
#define LOG_COMPONENT "informer"
#include "client/informer.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#define INFORMER_RETRY_MS      1000
#define INFORMER_WATCH_TIMEOUT 300 /* seconds per watch request, as client-go */

struct informer_source {
    struct http_client *client;
    char *path, *name, *selectors; /* selectors: "&labelSelector=...&fieldSelector=..." */
    struct http_stream *stream;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool relist_wanted;     /* a subscriber joined */
    bool watching;          /* the thread is in (or entering) a watch request */
    struct informer **subs; /* under lock */
    size_t n_subs;
    bool shared;
    struct informer_source *next; /* in shared_sources, under share_lock */
    char *rv;                     /* resume point; thread-only */
};

struct informer {
    struct http_client *client;
    char *path, *name, *selectors;
    bool shared;
    const struct informer_ops *ops;
    void *userdata;
    struct informer_source *src; /* NULL until started */

    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, synced;
    json_t *cache; /* "ns/name" -> object */
    json_t *(*cache_form)(const json_t *obj);
};

static pthread_mutex_t share_lock = PTHREAD_MUTEX_INITIALIZER;
static struct informer_source *shared_sources;

static char *
selector_param(const char *name, const char *value)
{
    char *escaped, *out;

    if (!value || !*value)
        return k3c_xstrdup("");
    escaped = curl_easy_escape(NULL, value, 0);
    out = k3c_xasprintf("&%s=%s", name, escaped ? escaped : "");
    curl_free(escaped);
    return out;
}

struct informer *
informer_new(const struct informer_config *cfg, struct k3c_err *err)
{
    struct informer *inf;
    _cleanup_free_ char *ls = NULL, *fs = NULL;

    if (!cfg->client || !cfg->path || !cfg->ops || !cfg->ops->on_upsert || !cfg->ops->on_delete) {
        k3c_err_set(err, K3C_E_INVALID, "informer: client, path and callbacks are required");
        return NULL;
    }
    inf = k3c_xcalloc(1, sizeof(*inf));
    inf->client = cfg->client;
    inf->path = k3c_xstrdup(cfg->path);
    inf->name = k3c_xstrdup(cfg->name ? cfg->name : cfg->path);
    ls = selector_param("labelSelector", cfg->label_selector);
    fs = selector_param("fieldSelector", cfg->field_selector);
    inf->selectors = k3c_xasprintf("%s%s", ls, fs);
    inf->shared = cfg->shared;
    inf->ops = cfg->ops;
    inf->userdata = cfg->userdata;
    inf->cache = json_object();
    inf->cache_form = cfg->cache_form;
    pthread_mutex_init(&inf->lock, NULL);
    k3c_cond_init(&inf->wake);
    return inf;
}

static const char *
meta(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static char *
key_of(const json_t *obj)
{
    const char *ns = meta(obj, "namespace"), *name = meta(obj, "name");

    return name ? k3c_xasprintf("%s/%s", ns ? ns : "", name) : NULL;
}

static bool
source_stopping(struct informer_source *src)
{
    bool s;

    pthread_mutex_lock(&src->lock);
    s = src->stopping;
    pthread_mutex_unlock(&src->lock);
    return s;
}

/* Sleeps ms unless stopped or a subscriber joined; true when stopping. */
static bool
source_wait(struct informer_source *src, int64_t ms)
{
    int64_t deadline = k3c_now_ms() + ms;
    bool s;

    pthread_mutex_lock(&src->lock);
    while (!src->stopping && !src->relist_wanted &&
           k3c_cond_wait_until(&src->wake, &src->lock, deadline))
        ;
    s = src->stopping;
    pthread_mutex_unlock(&src->lock);
    return s;
}

json_t *
informer_metadata_form(const json_t *obj)
{
    const json_t *m = json_object_get(obj, "metadata");

    return json_pack("{s:{s:O*, s:O*, s:O*}}", "metadata", "namespace",
                     json_object_get(m, "namespace"), "name", json_object_get(m, "name"),
                     "resourceVersion", json_object_get(m, "resourceVersion"));
}

void
informer_drop_managed_fields(json_t *obj)
{
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

/* Under inf->lock: stores obj (a new reference is taken) and tells the user. */
static void
upsert_locked(struct informer *inf, json_t *obj)
{
    _cleanup_free_ char *key = key_of(obj);
    json_t *old;
    const char *old_rv, *new_rv;

    if (!key)
        return;
    informer_drop_managed_fields(obj);
    old = json_object_get(inf->cache, key);
    old_rv = meta(old, "resourceVersion");
    new_rv = meta(obj, "resourceVersion");
    if (old && old_rv && new_rv && strcmp(old_rv, new_rv) == 0)
        return; /* unchanged (a relist finding what the watch already gave) */
    json_incref(old);
    if (inf->cache_form)
        json_object_set_new(inf->cache, key, inf->cache_form(obj));
    else
        json_object_set(inf->cache, key, obj);
    inf->ops->on_upsert(inf->userdata, obj, old);
    json_decref(old);
}

static void
delete_locked(struct informer *inf, const char *key)
{
    json_t *old = json_object_get(inf->cache, key);

    if (!old)
        return;
    json_incref(old);
    json_object_del(inf->cache, key);
    inf->ops->on_delete(inf->userdata, old);
    json_decref(old);
}

/* Under the source's lock: one subscriber's cache made to match a list. */
static void
reconcile(struct informer *inf, json_t *items)
{
    _cleanup_json_ json_t *seen = json_object();
    const char *key;
    json_t *obj;
    void *tmp;
    size_t i;

    pthread_mutex_lock(&inf->lock);
    json_array_foreach(items, i, obj)
    {
        _cleanup_free_ char *k = key_of(obj);

        if (!k)
            continue;
        json_object_set(seen, k, json_true());
        upsert_locked(inf, obj);
    }
    json_object_foreach_safe(inf->cache, tmp, key, obj)
    {
        if (!json_object_get(seen, key))
            delete_locked(inf, key);
    }
    inf->synced = true;
    pthread_cond_broadcast(&inf->wake);
    if (inf->ops->on_synced)
        inf->ops->on_synced(inf->userdata);
    pthread_mutex_unlock(&inf->lock);
}

/* Lists the collection and reconciles every subscriber's cache with it. */
static int
relist(struct informer_source *src, struct k3c_err *err)
{
    _cleanup_free_ char *path = src->selectors[0]
                                    ? k3c_xasprintf("%s?%s", src->path, src->selectors + 1)
                                    : k3c_xstrdup(src->path);
    _cleanup_json_ json_t *list = NULL;
    const char *rv;

    /* cleared before the request, so a failing list waits between tries;
     * a subscriber that joins meanwhile is in the list delivered below */
    pthread_mutex_lock(&src->lock);
    src->relist_wanted = false;
    pthread_mutex_unlock(&src->lock);
    if (http_client_json(src->client, "GET", path, NULL, NULL, &list, err) != 200)
        return -1;
    rv = meta(list, "resourceVersion");
    pthread_mutex_lock(&src->lock);
    for (size_t i = 0; i < src->n_subs; i++)
        reconcile(src->subs[i], json_object_get(list, "items"));
    pthread_mutex_unlock(&src->lock);
    free(src->rv);
    src->rv = k3c_xstrdup(rv ? rv : "0");
    return 0;
}

struct watch_ctx {
    struct informer_source *src;
    struct k3c_buf line;
    bool relist; /* 410 Gone or another ERROR event */
};

static void
watch_event(struct watch_ctx *w, const char *text, size_t len)
{
    struct informer_source *src = w->src;
    _cleanup_json_ json_t *ev = k3c_json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    const char *rv = meta(obj, "resourceVersion");
    _cleanup_free_ char *key = NULL;

    if (!type)
        return;
    if (strcmp(type, "ERROR") == 0) {
        if (json_integer_value(json_object_get(obj, "code")) != 410)
            log_warn("(%s) watch error: %s", src->name,
                     json_string_value(json_object_get(obj, "message"))
                         ? json_string_value(json_object_get(obj, "message"))
                         : "?");
        w->relist = true;
        return;
    }
    if (rv) {
        free(src->rv);
        src->rv = k3c_xstrdup(rv);
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return;
    if (strcmp(type, "DELETED") == 0 && !(key = key_of(obj)))
        return;
    pthread_mutex_lock(&src->lock);
    for (size_t i = 0; i < src->n_subs; i++) {
        struct informer *inf = src->subs[i];

        pthread_mutex_lock(&inf->lock);
        if (key)
            delete_locked(inf, key);
        else
            upsert_locked(inf, obj);
        pthread_mutex_unlock(&inf->lock);
    }
    pthread_mutex_unlock(&src->lock);
}

static int
watch_chunk(void *userdata, const char *data, size_t len)
{
    struct watch_ctx *w = userdata;
    char *nl;
    bool stop;

    k3c_buf_append(&w->line, data, len);
    while (w->line.len && (nl = memchr(w->line.data, '\n', w->line.len))) {
        size_t n = (size_t)(nl - w->line.data);

        if (n)
            watch_event(w, w->line.data, n);
        k3c_buf_consume(&w->line, n + 1);
    }
    pthread_mutex_lock(&w->src->lock);
    stop = w->src->stopping || w->src->relist_wanted;
    pthread_mutex_unlock(&w->src->lock);
    return w->relist || stop;
}

/* One watch request from src->rv. 1: relist needed (an ERROR event, a new
 * subscriber, or the server refused the watch: 410 Gone as a status); 0:
 * ended, resume; -1 with err: transport failure or 5xx (resume after a
 * pause, maybe on another server of the client's list). */
static int
watch_once(struct informer_source *src, struct k3c_err *err)
{
    struct watch_ctx w = {.src = src};
    _cleanup_free_ char *path =
        k3c_xasprintf("%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s%s",
                      src->path, INFORMER_WATCH_TIMEOUT, src->rv, src->selectors);
    bool joined;
    int rc;

    pthread_mutex_lock(&src->lock);
    joined = src->relist_wanted;
    src->watching = !joined;
    pthread_mutex_unlock(&src->lock);
    if (joined)
        return 1;
    k3c_buf_init(&w.line);
    rc = http_stream_run(src->stream, "GET", path, NULL, 0, watch_chunk, &w, err);
    k3c_buf_fini(&w.line);
    pthread_mutex_lock(&src->lock);
    src->watching = false;
    joined = src->relist_wanted;
    pthread_mutex_unlock(&src->lock);
    if (w.relist || joined || (rc < 0 && err->kind != K3C_E_UNAVAILABLE))
        return 1;
    return rc < 0 ? -1 : 0;
}

static void *
source_thread(void *arg)
{
    struct informer_source *src = arg;
    bool need_list = true, failing = false;
    struct k3c_err err = {0};

    while (!source_stopping(src)) {
        int rc;

        if (need_list) {
            if (relist(src, &err) < 0) {
                if (!failing) /* once per outage */
                    log_warn("(%s) list: %s; retrying", src->name, err.msg);
                failing = true;
                k3c_err_clear(&err);
                if (source_wait(src, INFORMER_RETRY_MS))
                    break;
                continue;
            }
            if (failing)
                log_info("(%s) listed again", src->name);
            failing = need_list = false;
        }
        rc = watch_once(src, &err);
        if (rc == 1) {
            need_list = true;
            k3c_err_clear(&err);
        } else if (rc < 0) {
            /* Resume from the last resourceVersion (maybe on another server
             * of the client's list); a compacted one answers 410 → relist. */
            if (!source_stopping(src))
                log_debug("(%s) watch ended: %s", src->name, err.msg);
            k3c_err_clear(&err);
            if (source_wait(src, INFORMER_RETRY_MS))
                break;
        }
    }
    return NULL;
}

static void
source_free(struct informer_source *src)
{
    http_stream_free(src->stream);
    pthread_cond_destroy(&src->wake);
    pthread_mutex_destroy(&src->lock);
    free(src->subs);
    free(src->path);
    free(src->name);
    free(src->selectors);
    free(src->rv);
    free(src);
}

/* Under share_lock: a running shared source inf can join, or NULL. */
static struct informer_source *
shared_source_find(const struct informer *inf)
{
    for (struct informer_source *src = shared_sources; src; src = src->next)
        if (src->client == inf->client && strcmp(src->path, inf->path) == 0 &&
            strcmp(src->selectors, inf->selectors) == 0)
            return src;
    return NULL;
}

static void
source_add(struct informer_source *src, struct informer *inf)
{
    src->subs = k3c_xrealloc(src->subs, (src->n_subs + 1) * sizeof(*src->subs));
    src->subs[src->n_subs++] = inf;
    inf->src = src;
}

int
informer_start(struct informer *inf, struct k3c_err *err)
{
    struct informer_source *src;
    int rc;

    if (inf->src)
        return k3c_err_set(err, K3C_E_INTERNAL, "informer %s already started", inf->name);
    pthread_mutex_lock(&share_lock);
    src = inf->shared ? shared_source_find(inf) : NULL;
    if (src) {
        /* the source relists for the newcomer: whole list for it, only
         * what changed for the others */
        pthread_mutex_lock(&src->lock);
        source_add(src, inf);
        src->relist_wanted = true;
        pthread_cond_broadcast(&src->wake);
        if (src->watching) /* a quiet watch would not notice */
            http_stream_interrupt(src->stream);
        pthread_mutex_unlock(&src->lock);
        pthread_mutex_unlock(&share_lock);
        return 0;
    }
    src = k3c_xcalloc(1, sizeof(*src));
    src->client = inf->client;
    src->path = k3c_xstrdup(inf->path);
    src->name = k3c_xstrdup(inf->name);
    src->selectors = k3c_xstrdup(inf->selectors);
    src->shared = inf->shared;
    src->stream = http_stream_new(inf->client);
    pthread_mutex_init(&src->lock, NULL);
    k3c_cond_init(&src->wake);
    source_add(src, inf);
    rc = pthread_create(&src->thread, NULL, source_thread, src);
    if (rc != 0) {
        inf->src = NULL;
        pthread_mutex_unlock(&share_lock);
        source_free(src);
        return k3c_err_sys(err, rc, "informer %s thread", inf->name);
    }
    if (src->shared) {
        src->next = shared_sources;
        shared_sources = src;
    }
    pthread_mutex_unlock(&share_lock);
    return 0;
}

/* Takes inf off its source (after a delivery in progress returns); the
 * last subscriber stops and frees the source. */
static void
source_leave(struct informer_source *src, struct informer *inf)
{
    bool last;

    pthread_mutex_lock(&share_lock);
    pthread_mutex_lock(&src->lock);
    for (size_t i = 0; i < src->n_subs; i++)
        if (src->subs[i] == inf) {
            src->subs[i] = src->subs[--src->n_subs];
            break;
        }
    last = src->n_subs == 0;
    if (last) {
        src->stopping = true;
        pthread_cond_broadcast(&src->wake);
        for (struct informer_source **pp = &shared_sources; *pp; pp = &(*pp)->next)
            if (*pp == src) {
                *pp = src->next;
                break;
            }
    }
    pthread_mutex_unlock(&src->lock);
    pthread_mutex_unlock(&share_lock);
    if (!last)
        return;
    http_stream_cancel(src->stream);
    pthread_join(src->thread, NULL);
    source_free(src);
}

void
informer_free(struct informer *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->lock);
    inf->stopping = true;
    pthread_cond_broadcast(&inf->wake);
    pthread_mutex_unlock(&inf->lock);
    if (inf->src)
        source_leave(inf->src, inf);
    json_decref(inf->cache);
    pthread_cond_destroy(&inf->wake);
    pthread_mutex_destroy(&inf->lock);
    free(inf->path);
    free(inf->name);
    free(inf->selectors);
    free(inf);
}

void
informer_reset_connection(struct informer *inf)
{
    if (inf->src)
        http_stream_reset(inf->src->stream);
}

bool
informer_synced(struct informer *inf)
{
    bool s;

    pthread_mutex_lock(&inf->lock);
    s = inf->synced;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

bool
informer_wait_synced(struct informer *inf, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;
    bool s;

    pthread_mutex_lock(&inf->lock);
    while (!inf->synced && !inf->stopping && k3c_cond_wait_until(&inf->wake, &inf->lock, deadline))
        ;
    s = inf->synced;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

void
informer_foreach(struct informer *inf, void (*fn)(void *ud, const json_t *obj), void *ud)
{
    const char *key;
    json_t *obj;

    pthread_mutex_lock(&inf->lock);
    json_object_foreach(inf->cache, key, obj) fn(ud, obj);
    pthread_mutex_unlock(&inf->lock);
}

json_t *
informer_get(struct informer *inf, const char *ns, const char *name)
{
    _cleanup_free_ char *key = k3c_xasprintf("%s/%s", ns ? ns : "", name);
    json_t *obj;

    pthread_mutex_lock(&inf->lock);
    obj = json_incref(json_object_get(inf->cache, key));
    pthread_mutex_unlock(&inf->lock);
    return obj;
}
