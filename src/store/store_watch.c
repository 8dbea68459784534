/* SPDX-License-Identifier: Apache-2.0
 * store_watch.c - one thread per watch, streaming etcd's /v3/watch. The
 * thread owns everything in struct store_watch except the atomics; it
 * resumes from next_rev after any break, so delivery is exactly once and in
 * order. Messages are newline-delimited JSON objects. */
#define LOG_COMPONENT "store"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store-internal.h"

#include <inttypes.h>
#include <string.h>

#define WATCH_BUF_KEEP (256 * 1024) /* a larger idle message buffer is freed */

struct store_watch {
    struct store *store;
    char *prefix;
    struct store_watch_ops ops;
    void *userdata;
    struct http_stream *stream;
    pthread_t thread;

    /* Owned by the watch thread. */
    struct k3c_buf pending; /* bytes of a message not complete yet */
    bool ended;             /* a terminal error was reported */
    bool broken;            /* the connection broke and has not come back yet */

    atomic_llong next_rev; /* written by the watch thread, read by any */
    atomic_bool stopping;
    pthread_mutex_t lock; /* with wake: interrupts the backoff sleep */
    pthread_cond_t wake;
};

static void
deliver_event(struct store_watch *w, const json_t *ev, struct k3c_err *err)
{
    struct store_kv kv, prev;
    const json_t *prev_json = json_object_get(ev, "prev_kv");
    const char *type = json_string_value(json_object_get(ev, "type"));
    struct store_event out = {.type = STORE_EVENT_PUT, .kv = &kv, .prev = NULL};

    if (store_kv_from_json(json_object_get(ev, "kv"), &kv, err) < 0)
        return;
    /* proto3 JSON leaves the default enum value (PUT) out. */
    if (type && strcmp(type, "DELETE") == 0)
        out.type = STORE_EVENT_DELETE;
    if (prev_json && store_kv_from_json(prev_json, &prev, err) == 0)
        out.prev = &prev;
    w->ops.on_event(w->userdata, &out);
    if (out.prev)
        store_kv_fini(&prev);
    store_kv_fini(&kv);
}

static void
watch_fail(struct store_watch *w, struct k3c_err *err)
{
    w->ended = true;
    if (w->ops.on_error)
        w->ops.on_error(w->userdata, err);
}

/* Handles one message of the stream. Returns non-zero to end the stream. */
static int
handle_message(struct store_watch *w, const json_t *msg)
{
    const json_t *res = json_object_get(msg, "result");
    const json_t *events = json_object_get(res, "events");
    int64_t hdr_rev = store_json_int64(json_object_get(res, "header"), "revision");
    int64_t compact = store_json_int64(res, "compact_revision");
    struct k3c_err err = {0};
    size_t i;
    const json_t *ev;

    if (!res) {
        const char *m =
            json_string_value(json_object_get(json_object_get(msg, "error"), "message"));

        log_warn("(watch %s) stream error: %s", w->prefix, m ? m : "unknown");
        return 1;
    }
    if (compact > 0) {
        k3c_err_set(&err, K3C_E_COMPACTED,
                    "watch %s: revision %" PRId64 " was compacted (oldest kept %" PRId64 ")",
                    w->prefix, (int64_t)atomic_load(&w->next_rev), compact);
        watch_fail(w, &err);
        return 1;
    }
    if (w->broken && json_is_true(json_object_get(res, "created"))) {
        w->broken = false;
        log_info("(watch %s) resumed from revision %" PRId64, w->prefix,
                 (int64_t)atomic_load(&w->next_rev));
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        log_warn("(watch %s) cancelled by etcd; resuming", w->prefix);
        return 1;
    }
    json_array_foreach(events, i, ev)
    {
        int64_t rev = store_json_int64(json_object_get(ev, "kv"), "mod_revision");

        deliver_event(w, ev, &err);
        if (rev >= atomic_load(&w->next_rev))
            atomic_store(&w->next_rev, rev + 1);
    }
    /* A progress notification (no events, not the "created" answer) says
     * everything up to hdr_rev has been sent, so a resume may start after it.
     * The "created" answer's revision is etcd's current one, sent before the
     * backlog of a watch that starts in the past: it proves nothing. */
    if (json_array_size(events) == 0 && !json_is_true(json_object_get(res, "created")) &&
        hdr_rev >= atomic_load(&w->next_rev))
        atomic_store(&w->next_rev, hdr_rev + 1);
    return 0;
}

static int
on_stream_data(void *userdata, const char *data, size_t len)
{
    struct store_watch *w = userdata;
    char *nl;

    k3c_buf_append(&w->pending, data, len);
    while ((nl = memchr(w->pending.data, '\n', w->pending.len))) {
        size_t line = (size_t)(nl - w->pending.data);
        json_t *msg = json_loadb(w->pending.data, line, 0, NULL);
        int stop;

        k3c_buf_consume(&w->pending, line + 1);
        if (!msg) {
            log_warn("(watch %s) unparsable message; reconnecting", w->prefix);
            return 1;
        }
        stop = handle_message(w, msg);
        json_decref(msg);
        if (stop)
            return 1;
    }
    /* One message can carry thousands of events (a burst of writes): do not
     * keep megabytes of buffer for the quiet that follows. */
    if (w->pending.len == 0 && w->pending.cap > WATCH_BUF_KEEP) {
        k3c_buf_fini(&w->pending);
        k3c_buf_init(&w->pending);
    }
    return 0;
}

static char *
watch_request(const struct store_watch *w)
{
    _cleanup_free_ char *end = store_prefix_end(w->prefix);
    _cleanup_json_ json_t *req = NULL;
    int64_t from = atomic_load(&w->next_rev);
    json_t *create = json_pack("{s:o, s:o, s:b, s:b}", "key", store_json_b64(w->prefix),
                               "range_end", end[0] ? store_json_b64(end) : json_string("AA=="),
                               "prev_kv", 1, "progress_notify", 1);

    json_object_set_new(create, "start_revision", json_integer(from));
    req = json_pack("{s:o}", "create_request", create);
    return json_dumps(req, JSON_COMPACT);
}

/* Sleeps up to ms unless the watch is being stopped. */
static void
watch_backoff(struct store_watch *w, int64_t ms)
{
    int64_t deadline = k3c_now_ms() + ms;

    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->stopping) && k3c_cond_wait_until(&w->wake, &w->lock, deadline))
        ;
    pthread_mutex_unlock(&w->lock);
}

static void *
watch_thread(void *arg)
{
    struct store_watch *w = arg;
    int64_t backoff = 50;

    while (!atomic_load(&w->stopping) && !w->ended) {
        _cleanup_free_ char *req = watch_request(w);
        struct k3c_err err = {0};
        int64_t started = k3c_now_ms();
        int rc;

        k3c_buf_reset(&w->pending);
        rc = http_stream_run(w->stream, "POST", "/v3/watch", req, strlen(req), on_stream_data, w,
                             &err);
        if (atomic_load(&w->stopping) || w->ended)
            break;
        /* Logged once per outage; handle_message logs the recovery. */
        if (!w->broken)
            log_warn("(watch %s) interrupted (%s); resuming from revision %" PRId64, w->prefix,
                     rc < 0 ? err.msg : "stream ended", (int64_t)atomic_load(&w->next_rev));
        w->broken = true;
        /* A stream that ran a while was healthy: start the backoff over. */
        if (k3c_now_ms() - started > 5000)
            backoff = 50;
        watch_backoff(w, backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
    return NULL;
}

struct store_watch *
store_watch_start(struct store *s, const char *prefix, int64_t from_rev,
                  const struct store_watch_ops *ops, void *userdata, struct k3c_err *err)
{
    struct store_watch *w;
    int rc;

    /* "From now" is pinned to a revision before the thread starts, so even a
     * connection that breaks before etcd confirms the watch loses nothing. */
    if (from_rev <= 0) {
        if (store_revision(s, &from_rev, err) < 0)
            return NULL;
        from_rev++;
    }
    w = k3c_xcalloc(1, sizeof(*w));
    w->store = s;
    w->prefix = k3c_xstrdup(prefix);
    w->ops = *ops;
    w->userdata = userdata;
    w->stream = http_stream_new(s->http);
    k3c_buf_init(&w->pending);
    atomic_init(&w->next_rev, from_rev);
    atomic_init(&w->stopping, false);
    pthread_mutex_init(&w->lock, NULL);
    k3c_cond_init(&w->wake);
    rc = pthread_create(&w->thread, NULL, watch_thread, w);
    if (rc != 0) {
        k3c_err_sys(err, rc, "watch %s: start thread", prefix);
        http_stream_free(w->stream);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w->prefix);
        free(w);
        return NULL;
    }
    return w;
}

void
store_watch_stop(struct store_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stopping, true);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    http_stream_cancel(w->stream);
    pthread_join(w->thread, NULL);
    http_stream_free(w->stream);
    k3c_buf_fini(&w->pending);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->prefix);
    free(w);
}

void
store_watch_reset_connection(struct store_watch *w)
{
    http_stream_reset(w->stream);
}

int64_t
store_watch_next_revision(struct store_watch *w)
{
    return atomic_load(&w->next_rev);
}
