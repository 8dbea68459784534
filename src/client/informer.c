/* SPDX-License-Identifier: Apache-2.0
 * informer.c - list + watch of one collection over the API, with a cache
 * keyed by namespace/name. One thread: list, then watch from the list's
 * resourceVersion; a broken stream resumes from the last resourceVersion
 * seen (no relist, so a server failover costs one request); 410 Gone or an
 * ERROR event relists and reconciles the cache (deletes for what vanished).
 * The lock protects cache, synced and stopping; callbacks run under it. */
#define LOG_COMPONENT "informer"
#include "client/informer.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#define INFORMER_RETRY_MS      1000
#define INFORMER_WATCH_TIMEOUT 300 /* seconds per watch request, as client-go */

struct informer {
    struct http_client *client;
    char *path, *name, *selectors; /* selectors: "&labelSelector=...&fieldSelector=..." */
    const struct informer_ops *ops;
    void *userdata;
    struct http_stream *stream;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, synced;
    json_t *cache; /* "ns/name" -> object */
    json_t *(*cache_form)(const json_t *obj);
    char *rv; /* resume point; thread-only */
};

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
stopping(struct informer *inf)
{
    bool s;

    pthread_mutex_lock(&inf->lock);
    s = inf->stopping;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

/* Sleeps ms unless stopped; true when stopping. */
static bool
wait_or_stop(struct informer *inf, int64_t ms)
{
    int64_t deadline = k3c_now_ms() + ms;
    bool s;

    pthread_mutex_lock(&inf->lock);
    while (!inf->stopping && k3c_cond_wait_until(&inf->wake, &inf->lock, deadline))
        ;
    s = inf->stopping;
    pthread_mutex_unlock(&inf->lock);
    return s;
}

/* Under lock: stores obj (a new reference is taken) and tells the user. */
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

/* Lists the collection and reconciles the cache with it. */
static int
relist(struct informer *inf, struct k3c_err *err)
{
    _cleanup_free_ char *path = inf->selectors[0]
                                    ? k3c_xasprintf("%s?%s", inf->path, inf->selectors + 1)
                                    : k3c_xstrdup(inf->path);
    _cleanup_json_ json_t *list = NULL, *seen = json_object();
    json_t *items, *obj;
    const char *key, *rv;
    void *tmp;
    size_t i;

    if (http_client_json(inf->client, "GET", path, NULL, NULL, &list, err) != 200)
        return -1;
    items = json_object_get(list, "items");
    rv = meta(list, "resourceVersion");
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
    free(inf->rv);
    inf->rv = k3c_xstrdup(rv ? rv : "0");
    return 0;
}

struct watch_ctx {
    struct informer *inf;
    struct k3c_buf line;
    bool relist; /* 410 Gone or another ERROR event */
};

static void
watch_event(struct watch_ctx *w, const char *text, size_t len)
{
    struct informer *inf = w->inf;
    _cleanup_json_ json_t *ev = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    const char *rv = meta(obj, "resourceVersion");

    if (!type)
        return;
    if (strcmp(type, "ERROR") == 0) {
        if (json_integer_value(json_object_get(obj, "code")) != 410)
            log_warn("(%s) watch error: %s", inf->name,
                     json_string_value(json_object_get(obj, "message"))
                         ? json_string_value(json_object_get(obj, "message"))
                         : "?");
        w->relist = true;
        return;
    }
    if (rv) {
        free(inf->rv);
        inf->rv = k3c_xstrdup(rv);
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return;
    pthread_mutex_lock(&inf->lock);
    if (strcmp(type, "DELETED") == 0) {
        _cleanup_free_ char *key = key_of(obj);

        if (key)
            delete_locked(inf, key);
    } else {
        upsert_locked(inf, obj);
    }
    pthread_mutex_unlock(&inf->lock);
}

static int
watch_chunk(void *userdata, const char *data, size_t len)
{
    struct watch_ctx *w = userdata;
    char *nl;

    k3c_buf_append(&w->line, data, len);
    while (w->line.len && (nl = memchr(w->line.data, '\n', w->line.len))) {
        size_t n = (size_t)(nl - w->line.data);

        if (n)
            watch_event(w, w->line.data, n);
        k3c_buf_consume(&w->line, n + 1);
    }
    return w->relist || stopping(w->inf);
}

/* One watch request from inf->rv. 1: relist needed (an ERROR event, or the
 * server refused the watch: 410 Gone as a status); 0: ended, resume; -1
 * with err: transport failure or 5xx (resume after a pause, maybe on
 * another server of the client's list). */
static int
watch_once(struct informer *inf, struct k3c_err *err)
{
    struct watch_ctx w = {.inf = inf};
    _cleanup_free_ char *path =
        k3c_xasprintf("%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s%s",
                      inf->path, INFORMER_WATCH_TIMEOUT, inf->rv, inf->selectors);
    int rc;

    k3c_buf_init(&w.line);
    rc = http_stream_run(inf->stream, "GET", path, NULL, 0, watch_chunk, &w, err);
    k3c_buf_fini(&w.line);
    if (w.relist || (rc < 0 && err->kind != K3C_E_UNAVAILABLE))
        return 1;
    return rc < 0 ? -1 : 0;
}

static void *
informer_thread(void *arg)
{
    struct informer *inf = arg;
    bool need_list = true, failing = false;
    struct k3c_err err = {0};

    while (!stopping(inf)) {
        int rc;

        if (need_list) {
            if (relist(inf, &err) < 0) {
                if (!failing) /* once per outage */
                    log_warn("(%s) list: %s; retrying", inf->name, err.msg);
                failing = true;
                k3c_err_clear(&err);
                if (wait_or_stop(inf, INFORMER_RETRY_MS))
                    break;
                continue;
            }
            if (failing)
                log_info("(%s) listed again", inf->name);
            failing = need_list = false;
        }
        rc = watch_once(inf, &err);
        if (rc == 1) {
            need_list = true;
            k3c_err_clear(&err);
        } else if (rc < 0) {
            /* Resume from the last resourceVersion (maybe on another server
             * of the client's list); a compacted one answers 410 → relist. */
            if (!stopping(inf))
                log_debug("(%s) watch ended: %s", inf->name, err.msg);
            k3c_err_clear(&err);
            if (wait_or_stop(inf, INFORMER_RETRY_MS))
                break;
        }
    }
    return NULL;
}

int
informer_start(struct informer *inf, struct k3c_err *err)
{
    int rc;

    if (inf->thread_started)
        return k3c_err_set(err, K3C_E_INTERNAL, "informer %s already started", inf->name);
    inf->stream = http_stream_new(inf->client);
    rc = pthread_create(&inf->thread, NULL, informer_thread, inf);
    if (rc != 0)
        return k3c_err_sys(err, rc, "informer %s thread", inf->name);
    inf->thread_started = true;
    return 0;
}

void
informer_free(struct informer *inf)
{
    if (!inf)
        return;
    if (inf->thread_started) {
        pthread_mutex_lock(&inf->lock);
        inf->stopping = true;
        pthread_cond_broadcast(&inf->wake);
        pthread_mutex_unlock(&inf->lock);
        http_stream_cancel(inf->stream);
        pthread_join(inf->thread, NULL);
    }
    http_stream_free(inf->stream);
    json_decref(inf->cache);
    pthread_cond_destroy(&inf->wake);
    pthread_mutex_destroy(&inf->lock);
    free(inf->path);
    free(inf->name);
    free(inf->selectors);
    free(inf->rv);
    free(inf);
}

void
informer_reset_connection(struct informer *inf)
{
    if (inf->stream)
        http_stream_reset(inf->stream);
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
