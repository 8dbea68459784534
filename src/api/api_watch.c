/* SPDX-License-Identifier: Apache-2.0
 * api_watch.c - watch streams: a chunked HTTP response of newline-separated
 * {"type","object"} events fed by the resource's watch cache. The content
 * reader runs on one of libmicrohttpd's few polling threads, so it never
 * waits: with nothing to send it parks the connection (api_http_park) until
 * the cache has something for it, a bookmark or the timeout is due, or the
 * client hangs up. */
#define LOG_COMPONENT "api"
#include "api/api-handlers.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_DEFAULT_TIMEOUT_S 1800
#define WATCH_BOOKMARK_EVERY_MS 30000
/* A stream that is behind takes the events already there up to about this
 * many bytes per send: one TLS record and one write for many events. */
#define WATCH_BATCH_BYTES (32 * 1024)

/* Used by whichever MHD thread serves the connection once the reply is
 * queued; the hub only calls watch_ready while the connection is parked. */
struct api_watch_stream {
    struct api_server *srv;
    const struct api_resource *res;
    struct api_request *req; /* for tables; valid while the connection lives */
    char *namespace;
    struct api_selectors sel; /* namespace points at our copy */
    struct wc_watcher *watcher;
    const char *table_version; /* NULL: plain objects */
    bool columns_sent;
    bool bookmarks;
    bool ended;
    int64_t deadline_ms, last_send_ms, revision;
    struct k3c_buf out; /* bytes to send */
    size_t out_off;
};

static void
watch_stream_free(void *cls)
{
    struct api_watch_stream *ws = cls;

    wc_watcher_free(ws->watcher);
    api_selectors_fini(&ws->sel);
    free(ws->namespace);
    k3c_buf_fini(&ws->out);
    atomic_fetch_sub(&ws->srv->watches_active, 1);
    free(ws);
}

/* A Table event from the entry's cached row, as the tree below would print
 * it; false if the entry keeps no row. */
static bool
append_table_event_text(struct api_watch_stream *ws, const char *type, const struct wc_entry *e)
{
    struct k3c_buf row;
    _cleanup_json_ json_t *cols = NULL;
    _cleanup_free_ char *cols_text = NULL;

    k3c_buf_init(&row);
    if (!api_table_row_text(ws->req, e, k3c_wall_ms() / 1000, &row)) {
        k3c_buf_fini(&row);
        return false;
    }
    /* Column definitions go with the first event only, as upstream does. */
    cols = ws->columns_sent ? json_array() : api_table_columns(ws->res);
    cols_text = json_dumps(cols, JSON_COMPACT);
    ws->columns_sent = true;
    k3c_buf_appendf(&ws->out,
                    "{\"type\":\"%s\",\"object\":{\"kind\":\"Table\",\"apiVersion\":\"%s\","
                    "\"metadata\":{\"resourceVersion\":\"%" PRId64 "\"},\"rows\":[",
                    type, ws->table_version, e->revision);
    k3c_buf_append(&ws->out, row.data, row.len);
    k3c_buf_appendf(&ws->out, "],\"columnDefinitions\":%s}}\n", cols_text ? cols_text : "[]");
    k3c_buf_fini(&row);
    return true;
}

/* Appends one event. Plain watches splice the cached JSON in as it is. */
static void
append_event(struct api_watch_stream *ws, const char *type, const struct wc_entry *e)
{
    if (!ws->table_version) {
        size_t n = 0;
        _cleanup_free_ char *converted = api_crd_entry_json(ws->res, e, &n);
        struct k3c_err err = {0};
        size_t mark = ws->out.len;

        k3c_buf_appendf(&ws->out, "{\"type\":\"%s\",\"object\":", type);
        if (converted) { /* a custom object stored in another version */
            k3c_buf_append(&ws->out, converted, n);
        } else if (wc_entry_json(e, &ws->out, &err) < 0) {
            ws->out.len = mark; /* unreadable (logged): no event beats a broken one */
            ws->out.data[mark] = '\0';
            return;
        }
        k3c_buf_append(&ws->out, "}\n", 2);
        return;
    }
    if (append_table_event_text(ws, type, e))
        return;
    {
        _cleanup_json_ json_t *obj = wc_entry_object(e);
        _cleanup_json_ json_t *ev = NULL;
        _cleanup_free_ char *text = NULL;
        char rv[32];
        json_t *table;

        if (!obj)
            return;
        snprintf(rv, sizeof(rv), "%" PRId64, e->revision);
        table = json_pack("{s:s, s:s, s:{s:s}, s:[o]}", "kind", "Table", "apiVersion",
                          ws->table_version, "metadata", "resourceVersion", rv, "rows",
                          api_table_row(ws->req, obj));
        /* Column definitions go with the first event only, as upstream does. */
        if (!ws->columns_sent) {
            json_object_set_new(table, "columnDefinitions", api_table_columns(ws->res));
            ws->columns_sent = true;
        } else {
            json_object_set_new(table, "columnDefinitions", json_array());
        }
        ev = json_pack("{s:s, s:o}", "type", type, "object", table);
        text = json_dumps(ev, JSON_COMPACT);
        k3c_buf_append(&ws->out, text, strlen(text));
        k3c_buf_append(&ws->out, "\n", 1);
    }
}

static void
append_bookmark(struct api_watch_stream *ws)
{
    char apiv[128];

    k3c_buf_appendf(&ws->out,
                    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
                    "\"metadata\":{\"resourceVersion\":\"%" PRId64 "\"}}}\n",
                    ws->res->kind, api_resource_api_version(ws->res, apiv, sizeof(apiv)),
                    ws->revision);
}

static void
append_error(struct api_watch_stream *ws, const struct k3c_err *err)
{
    unsigned code = (unsigned)k3c_err_http_code(err->kind);
    _cleanup_json_ json_t *ev =
        json_pack("{s:s, s:{s:s, s:s, s:{}, s:s, s:s, s:s, s:I}}", "type", "ERROR", "object",
                  "kind", "Status", "apiVersion", "v1", "metadata", "status", "Failure", "message",
                  err->msg, "reason", k3c_err_reason(err->kind), "code", (json_int_t)code);
    _cleanup_free_ char *text = json_dumps(ev, JSON_COMPACT);

    k3c_buf_append(&ws->out, text, strlen(text));
    k3c_buf_append(&ws->out, "\n", 1);
}

/* Applies Kubernetes' selector rules to a change: an object that starts or
 * stops matching is ADDED or DELETED for this watcher. */
static void
emit(struct api_watch_stream *ws, const struct wc_event *ev)
{
    bool now = api_selectors_match_entry(&ws->sel, ev->entry);
    bool before = ev->prev && api_selectors_match_entry(&ws->sel, ev->prev);

    ws->revision = ev->revision;
    switch (ev->type) {
    case WC_ADDED:
        if (now)
            append_event(ws, "ADDED", ev->entry);
        break;
    case WC_MODIFIED:
        if (now)
            append_event(ws, before ? "MODIFIED" : "ADDED", ev->entry);
        else if (before)
            append_event(ws, "DELETED", ev->entry);
        break;
    case WC_DELETED:
        if (now || before)
            append_event(ws, "DELETED", ev->entry);
        break;
    }
}

static bool
bookmark_due(const struct api_watch_stream *ws, int64_t now)
{
    return ws->bookmarks && now - ws->last_send_ms >= WATCH_BOOKMARK_EVERY_MS;
}

/* Fills ws->out with what is there now (up to about WATCH_BATCH_BYTES), or
 * marks the stream ended; never waits. */
static void
fill(struct api_watch_stream *ws)
{
    while (ws->out.len < WATCH_BATCH_BYTES && !ws->ended) {
        struct wc_event ev;
        struct k3c_err err = {0};
        int64_t now = k3c_now_ms();
        int rc;

        if (atomic_load(&ws->srv->stopping) || now >= ws->deadline_ms || ws->req->client_gone) {
            ws->ended = true;
            return;
        }
        rc = wc_watcher_next(ws->watcher, 0, &ev, &err);
        if (rc > 0) {
            emit(ws, &ev);
            wc_event_fini(&ev);
        } else if (rc < 0) {
            /* The cache dropped us (we fell behind, or it stopped): tell the
             * client to relist, as upstream does with 410 Expired. */
            if (err.kind == K3C_E_NONE)
                k3c_err_set(&err, K3C_E_COMPACTED, "watch closed");
            append_error(ws, &err);
            ws->ended = true;
        } else {
            /* The revision this watcher has seen every event up to, not the
             * cache's: a bookmark must not skip events still on the way. */
            if (ws->out.len == 0 && bookmark_due(ws, now))
                append_bookmark(ws);
            return;
        }
    }
}

/* Thread: the hub's, while the connection is parked. */
static bool
watch_ready(void *ud)
{
    struct api_watch_stream *ws = ud;
    int64_t now = k3c_now_ms();

    return atomic_load(&ws->srv->stopping) || now >= ws->deadline_ms || bookmark_due(ws, now) ||
           wc_watcher_ready(ws->watcher);
}

static ssize_t
watch_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_watch_stream *ws = cls;
    size_t n;

    (void)pos;
    if (ws->out_off >= ws->out.len) {
        k3c_buf_reset(&ws->out);
        ws->out_off = 0;
        fill(ws);
        if (ws->out.len == 0) {
            if (ws->ended)
                return ws->req->client_gone ? MHD_CONTENT_READER_END_WITH_ERROR
                                            : MHD_CONTENT_READER_END_OF_STREAM;
            return api_http_park(ws->req, -1, watch_ready, ws);
        }
    }
    n = ws->out.len - ws->out_off;
    if (n > max)
        n = max;
    memcpy(buf, ws->out.data + ws->out_off, n);
    ws->out_off += n;
    ws->last_send_ms = k3c_now_ms();
    return (ssize_t)n;
}

struct initial_ctx {
    struct api_watch_stream *ws;
};

static void
initial_entry(void *ud, struct wc_entry *e)
{
    struct api_watch_stream *ws = ((struct initial_ctx *)ud)->ws;

    if (api_selectors_match_entry(&ws->sel, e))
        append_event(ws, "ADDED", e);
}

/* resourceVersion unset or "0": synthetic ADDED events for what exists,
 * then changes after that snapshot. Otherwise: changes after the version. */
static int
start_watch(struct api_request *r, struct api_watch_stream *ws, struct k3c_err *err)
{
    struct watch_cache *wc = api_cache_for(r->srv, r->res);
    const char *rv = api_query(r, "resourceVersion");
    _cleanup_free_ char *prefix = api_list_prefix(r->res, r->namespace);
    struct initial_ctx ctx = {ws};
    int64_t from;

    if (rv && *rv && strcmp(rv, "0") != 0) {
        from = strtoll(rv, NULL, 10);
        if (from <= 0)
            return k3c_err_set(err, K3C_E_BAD_REQUEST, "invalid resourceVersion \"%s\"", rv);
        ws->watcher = watch_cache_subscribe(wc, from, err);
        ws->revision = from;
        return ws->watcher ? 0 : -1;
    }
    if (!rv && watch_cache_sync(wc, 0, 10000, err) < 0)
        return -1;
    from = watch_cache_foreach(wc, prefix, initial_entry, &ctx);
    ws->revision = from;
    ws->watcher = watch_cache_subscribe(wc, from, err);
    return ws->watcher ? 0 : -1;
}

int
api_handle_watch(struct api_request *r, const struct api_selectors *sel)
{
    struct api_watch_stream *ws = k3c_xcalloc(1, sizeof(*ws));
    const char *timeout = api_query(r, "timeoutSeconds");
    struct k3c_err err = {0};
    struct MHD_Response *resp;
    long long t = timeout ? strtoll(timeout, NULL, 10) : WATCH_DEFAULT_TIMEOUT_S;
    int ret;

    ws->srv = r->srv;
    ws->res = r->res;
    ws->req = r;
    ws->namespace = r->namespace ? k3c_xstrdup(r->namespace) : NULL;
    ws->sel = *sel;
    ws->sel.namespace = ws->namespace;
    /* The selectors now belong to the stream. */
    ((struct api_selectors *)sel)->labels = NULL;
    ((struct api_selectors *)sel)->fields = NULL;
    ws->table_version = api_table_wanted(r);
    ws->bookmarks = api_query_true(r, "allowWatchBookmarks");
    ws->deadline_ms = k3c_now_ms() + (t > 0 ? t : WATCH_DEFAULT_TIMEOUT_S) * 1000;
    ws->last_send_ms = k3c_now_ms();
    k3c_buf_init(&ws->out);
    atomic_fetch_add(&r->srv->watches_active, 1);
    if (start_watch(r, ws, &err) < 0) {
        watch_stream_free(ws);
        if (err.kind == K3C_E_COMPACTED)
            return api_reply_status(r, K3C_E_COMPACTED, NULL, NULL, "%s", err.msg);
        return api_reply_store_error(r, &err);
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, watch_reader, ws,
                                             watch_stream_free);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
