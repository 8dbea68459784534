/* SPDX-License-Identifier: Apache-2.0
 * api_http.c - libmicrohttpd glue: a small pool of MHD threads polls every
 * connection; each request's handler runs on a worker and a stream with
 * nothing to send is parked (api_http_loop.c). Request bodies are capped at
 * max_body_bytes (413); the reply helpers that every handler uses (JSON and
 * Kubernetes Status). */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "api/api-protobuf.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* MHD threads polling the connections (the handlers run on workers). */
#define API_HTTP_POLL_THREADS 2

const char *
api_query(struct api_request *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Go's strconv.ParseBool, as kube-apiserver parses watch=, allowWatchBookmarks=,
 * force=, orphanDependents= (the Python client sends "True"). */
int
api_query_bool(struct api_request *r, const char *key)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    const char *v = api_query(r, key);

    for (size_t i = 0; v && i < K3C_ARRAY_SIZE(yes); i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    return v ? -1 : 0;
}

bool
api_query_true(struct api_request *r, const char *key)
{
    return api_query_bool(r, key) == 1;
}

const char *
api_header(struct api_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *
api_body_object(struct api_request *r, struct k3c_err *err)
{
    const char *ct = api_header(r, "Content-Type");
    json_t *obj = NULL;

    if (ct && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0)
        obj = api_protobuf_decode(r->body.data, r->body.len, err);
    else
        obj = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

void
api_warn(struct api_request *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!r->warnings)
        r->warnings = json_array();
    json_array_append_new(r->warnings, json_string(msg));
}

/* RFC 7234 warn-code 299 with the message quoted, as kube-apiserver sends. */
static void
add_warnings(struct api_request *r, struct MHD_Response *resp)
{
    size_t i;
    json_t *w;

    json_array_foreach(r->warnings, i, w)
    {
        struct k3c_buf v;
        const char *m = json_string_value(w);

        k3c_buf_init(&v);
        k3c_buf_append(&v, "299 - \"", 7);
        for (; *m; m++) {
            if (*m == '"' || *m == '\\')
                k3c_buf_append(&v, "\\", 1);
            k3c_buf_append(&v, m, 1);
        }
        k3c_buf_append(&v, "\"", 1);
        MHD_add_response_header(resp, "Warning", v.data);
        k3c_buf_fini(&v);
    }
}

int
api_reply_json_take(struct api_request *r, unsigned status, json_t *body)
{
    _cleanup_json_ json_t *owned = body;
    size_t len = 0;
    char *text = api_json_dumps_compact(owned, &len);

    if (!text) {
        text = k3c_xstrdup("{}");
        len = 2;
    }
    return api_reply_json_text_take(r, status, text, len);
}

/* The reply path of every JSON answer; headers: name, value pairs, NULL-ended
 * (NULL: none beyond the usual). */
static int
reply_text_take(struct api_request *r, unsigned status, char *text, size_t len,
                const char *const *headers)
{
    struct MHD_Response *resp;
    int ret;

    r->reply_bytes = len;
    resp = MHD_create_response_from_buffer(r->reply_bytes, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    add_warnings(r, resp);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (status >= 400)
        atomic_fetch_add(&r->srv->request_errors_total, 1);
    return ret;
}

int
api_reply_json_text_take(struct api_request *r, unsigned status, char *text, size_t len)
{
    return reply_text_take(r, status, text, len, NULL);
}

static json_t *
status_object(unsigned code, const char *reason, const char *message)
{
    json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:I}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                           message, "code", (json_int_t)code);

    if (reason && *reason)
        json_object_set_new(st, "reason", json_string(reason));
    return st;
}

int
api_reply_status_code(struct api_request *r, unsigned code, const char *reason, const char *fmt,
                      ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return api_reply_json_take(r, code, status_object(code, reason, msg));
}

int
api_reply_status(struct api_request *r, enum k3c_errkind kind, const char *name,
                 const char *kind_plural, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    json_t *st;
    unsigned code = (unsigned)k3c_err_http_code(kind);

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st = status_object(code, k3c_err_reason(kind), msg);
    if (name || kind_plural) {
        json_t *details = json_object();

        if (name)
            json_object_set_new(details, "name", json_string(name));
        if (kind_plural)
            json_object_set_new(details, "kind", json_string(kind_plural));
        if (r->res && r->res->group[0])
            json_object_set_new(details, "group", json_string(r->res->group));
        json_object_set_new(st, "details", details);
    }
    return api_reply_json_take(r, code, st);
}

int
api_reply_invalid_take(struct api_request *r, const char *kind, const char *name, json_t *causes)
{
    _cleanup_json_ json_t *owned = causes;
    struct k3c_buf msg;
    size_t i, n = json_array_size(owned);
    json_t *cause, *st;

    /* Upstream: `Pod "x" is invalid: field: message` and with several causes
     * `[field: message, field2: message2]`. */
    k3c_buf_init(&msg);
    k3c_buf_appendf(&msg, "%s \"%s\" is invalid: %s", kind, name ? name : "", n > 1 ? "[" : "");
    json_array_foreach(owned, i, cause)
    {
        const char *field = json_string_value(json_object_get(cause, "field"));
        const char *m = json_string_value(json_object_get(cause, "message"));

        k3c_buf_appendf(&msg, "%s%s%s%s", i ? ", " : "", field ? field : "",
                        field && *field ? ": " : "", m ? m : "");
    }
    if (n > 1)
        k3c_buf_append(&msg, "]", 1);
    st = status_object(422, "Invalid", msg.data);
    k3c_buf_fini(&msg);
    json_object_set_new(st, "details",
                        json_pack("{s:s, s:s, s:O}", "name", name ? name : "", "kind",
                                  r->res ? r->res->plural : "", "causes", owned));
    if (r->res && r->res->group[0])
        json_object_set_new(json_object_get(st, "details"), "group", json_string(r->res->group));
    return api_reply_json_take(r, 422, st);
}

/* ---- dispatch ---------------------------------------------------------- */

static bool
is_public_path(const char *url)
{
    static const char *const open_paths[] = {"/version", "/healthz", "/livez", "/readyz"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(open_paths); i++)
        if (strcmp(url, open_paths[i]) == 0 ||
            (strncmp(url, open_paths[i], strlen(open_paths[i])) == 0 &&
             url[strlen(open_paths[i])] == '/'))
            return true;
    return false;
}

int api_health_serve(struct api_request *r); /* api_server.c */

static int
dispatch(struct api_request *r)
{
    int ret;

    if (r->body_too_large)
        return api_reply_status_code(r, 413, "RequestEntityTooLarge",
                                     "the server has received a request that is too large "
                                     "(limit %zu bytes)",
                                     r->srv->cfg.max_body_bytes);
    ret = api_join_serve(r);
    if (ret >= 0)
        return ret;
    api_authenticate(r);
    if (!r->user.authenticated && !is_public_path(r->url))
        return api_reply_status_code(r, 401, "Unauthorized", "Unauthorized");
    if ((ret = api_impersonate(r)) >= 0) /* RBAC (issue #15): api_review.c */
        return ret;
    ret = api_health_serve(r);
    if (ret >= 0)
        return ret;
    if ((ret = api_authorize_path(r)) >= 0)
        return ret;
    ret = api_discovery_serve(r);
    if (ret >= 0)
        return ret;
    ret = api_openapi_serve(r);
    if (ret >= 0)
        return ret;
    if ((ret = api_review_serve(r)) >= 0)
        return ret;
    return api_handle_resource(r);
}

/* Whether conn came in on the address being drained (api_server_drain_address). */
static bool
conn_draining(struct api_server *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    return ci && api_conn_draining(srv, ci->connect_fd);
}

/* 503 and close: the client retries, through another server or the VIP's
 * next holder (api_server_drain_address). */
static int
reply_draining(struct api_request *r)
{
    static const char *const headers[] = {"Retry-After", "1", MHD_HTTP_HEADER_CONNECTION, "close",
                                          NULL};
    _cleanup_json_ json_t *st =
        status_object(MHD_HTTP_SERVICE_UNAVAILABLE, k3c_err_reason(K3C_E_UNAVAILABLE),
                      "this API server is handing its address over to another server; retry");
    size_t len = 0;
    char *text = api_json_dumps_compact(st, &len);

    if (!text) { /* not reached: a Status is plain JSON */
        text = k3c_xstrdup("{}");
        len = 2;
    }
    return reply_text_take(r, MHD_HTTP_SERVICE_UNAVAILABLE, text, len, headers);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct api_request *r = *con_cls;

    (void)version;
    if (!r) {
        r = k3c_xcalloc(1, sizeof(*r));
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->url = url;
        k3c_buf_init(&r->body);
        *con_cls = r;
        atomic_fetch_add(&srv->requests_total, 1);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Keep reading past the limit (so the client gets the 413 instead of
         * a reset) but stop storing. */
        if (r->body.len + *upload_size > srv->cfg.max_body_bytes)
            r->body_too_large = true;
        else
            k3c_buf_append(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    /* Called again after the worker resumed the connection without a
     * reply queued: the handler failed. */
    if (r->dispatched)
        return MHD_NO;
    log_debug("%s %s (%s)", method, url, r->user.name[0] ? r->user.name : "-");
    if (atomic_load(&srv->draining_addr) && conn_draining(srv, conn))
        return reply_draining(r) == MHD_YES ? MHD_YES : MHD_NO;
    return api_http_loop_submit(srv->http_loop, r, dispatch) == MHD_YES ? MHD_YES : MHD_NO;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct api_request *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    /* A large reply (a list of thousands of objects) was freed just now:
     * hand its pages back to the kernel instead of keeping them in the
     * allocator for the next one. */
    if (r->reply_bytes >= API_TRIM_AFTER_BYTES)
        malloc_trim(0);
    k3c_buf_fini(&r->body);
    json_decref(r->warnings);
    free(r->namespace);
    free(r->name);
    free(r->subresource);
    free(r);
    *con_cls = NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = k3c_xcalloc(1, sizeof(struct api_conn));
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
    }
}

int
api_http_start(struct api_server *srv, struct k3c_err *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_TLS | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_UPGRADE; /* pods/exec (api_proxy.c) */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->cfg.port)};
    struct MHD_Daemon *d;

    if (inet_pton(AF_INET, srv->bind_address, &sa.sin_addr) != 1)
        return k3c_err_set(err, K3C_E_INVALID, "bind address %s is not an IPv4 address",
                           srv->bind_address);
    srv->http_loop = api_http_loop_new(srv);
    if (!srv->http_loop)
        return k3c_err_set(err, K3C_E_SYSTEM, "cannot start the API server's threads");
    d = MHD_start_daemon(
        flags, (uint16_t)srv->cfg.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem, MHD_OPTION_HTTPS_MEM_CERT,
        srv->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, srv->client_ca_pem, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_HTTP_POLL_THREADS, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(512 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
        MHD_OPTION_EXTERNAL_LOGGER, k3c_log_mhd, (void *)LOG_COMPONENT, MHD_OPTION_END);
    if (!d) {
        api_http_loop_free(srv->http_loop);
        srv->http_loop = NULL;
        return k3c_err_set(err, K3C_E_SYSTEM, "cannot listen on %s:%d (in use, or bad TLS files?)",
                           srv->bind_address, srv->cfg.port);
    }
    srv->daemon = d;
    return 0;
}

void
api_http_stop(struct api_server *srv)
{
    /* MHD must not stop with suspended connections: the loop resumes them
     * (their readers see `stopping` and end) and lets the workers finish. */
    api_http_loop_stop(srv->http_loop);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    api_http_loop_free(srv->http_loop);
    srv->http_loop = NULL;
}
