/* SPDX-License-Identifier: Apache-2.0
 * grpc_conn.c - gRPC over HTTP/2 on unix sockets (see grpc_conn.h): libnghttp2
 * does HTTP/2 (framing, HPACK, flow control, SETTINGS and PING answers),
 * this file does gRPC's part: the request headers, the length-prefixed
 * messages and the grpc-status trailers. One struct per stream serves both
 * ends. */
#define LOG_COMPONENT "grpc"
#include "grpc/grpc_conn.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct grpc_stream {
    struct grpc_conn *conn;
    struct grpc_stream *next, **prevp; /* the connection's streams */
    int32_t id;
    struct k3c_buf in; /* received bytes not yet cut into messages */
    uint8_t *out;      /* the framed message to send */
    size_t out_len, out_off;
    char *method; /* server: the request's :path */
    bool bad;     /* a message too large or compressed */
    /* server: the answer's status; client: what the trailers said */
    int status;
    bool have_status;
    char *message;
    /* client */
    grpc_msg_fn on_msg;
    grpc_end_fn on_end;
    void *ud;
    bool ended;
};

struct grpc_conn {
    int fd;
    nghttp2_session *session;
    bool server;
    grpc_handler_fn handler;
    void *handler_ud;
    /* ours, since nghttp2_session_del frees its streams without a callback */
    struct grpc_stream *streams;
};

static void
stream_free(struct grpc_stream *s)
{
    if (!s)
        return;
    if (s->next)
        s->next->prevp = s->prevp;
    *s->prevp = s->next;
    k3c_buf_fini(&s->in);
    free(s->out);
    free(s->method);
    free(s->message);
    free(s);
}

static struct grpc_stream *
stream_new(struct grpc_conn *c, int32_t id)
{
    struct grpc_stream *s = k3c_xcalloc(1, sizeof(*s));

    s->conn = c;
    s->id = id;
    k3c_buf_init(&s->in);
    s->next = c->streams;
    if (s->next)
        s->next->prevp = &s->next;
    s->prevp = &c->streams;
    c->streams = s;
    return s;
}

/* The framed message: flag 0 (not compressed), length, bytes. */
static void
stream_set_out(struct grpc_stream *s, const uint8_t *msg, size_t len)
{
    s->out = k3c_xmalloc(len + 5);
    s->out[0] = 0;
    s->out[1] = (uint8_t)(len >> 24);
    s->out[2] = (uint8_t)(len >> 16);
    s->out[3] = (uint8_t)(len >> 8);
    s->out[4] = (uint8_t)len;
    if (len)
        memcpy(s->out + 5, msg, len);
    s->out_len = len + 5;
    s->out_off = 0;
}

/* Cuts the complete messages off s->in and hands each to fn. False when
 * one is compressed (we never offer compression) or too large. */
static bool
stream_take_messages(struct grpc_stream *s,
                     void (*fn)(struct grpc_stream *, const uint8_t *, size_t))
{
    while (s->in.len >= 5) {
        const uint8_t *p = (const uint8_t *)s->in.data;
        uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];

        if (p[0] != 0 || len > GRPC_MAX_MSG)
            return false;
        if (s->in.len < 5 + (size_t)len)
            break;
        fn(s, p + 5, len);
        k3c_buf_consume(&s->in, 5 + (size_t)len);
    }
    return true;
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static ssize_t
send_cb(nghttp2_session *session, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct grpc_conn *c = ud;
    ssize_t n;

    (void)session;
    (void)flags;
    if (c->fd < 0)
        return (ssize_t)len; /* fed by the fuzzer: nobody reads */
    n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return NGHTTP2_ERR_WOULDBLOCK;
    return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static ssize_t
read_out_cb(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *data_flags,
            nghttp2_data_source *source, void *ud)
{
    struct grpc_stream *s = source->ptr;
    size_t n = s->out_len - s->out_off;

    (void)ud;
    if (n > length)
        n = length;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off < s->out_len)
        return (ssize_t)n;
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->conn->server) {
        /* the status follows as trailers */
        nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};

        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(session, id, tr, 1) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

static int
begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct grpc_conn *c = ud;

    if (!c->server || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id,
                                         stream_new(c, frame->hd.stream_id));
    return 0;
}

static int
header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

    (void)flags;
    (void)ud;
    if (!s || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (s->conn->server) {
        if (namelen == 5 && memcmp(name, ":path", 5) == 0 && !s->method)
            s->method = k3c_xstrndup((const char *)value, valuelen);
        return 0;
    }
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        _cleanup_free_ char *v = k3c_xstrndup((const char *)value, valuelen);
        char *end;
        long st = strtol(v, &end, 10);

        s->status = *v && !*end && st >= 0 && st <= 16 ? (int)st : GRPC_UNKNOWN;
        s->have_status = true;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        free(s->message);
        s->message = k3c_xstrndup((const char *)value, valuelen);
    } else if (namelen == 7 && memcmp(name, ":status", 7) == 0 &&
               !(valuelen == 3 && memcmp(value, "200", 3) == 0)) {
        s->status = GRPC_UNKNOWN;
        s->have_status = true;
        free(s->message);
        s->message = k3c_xasprintf("HTTP status %.*s", (int)(valuelen > 3 ? 3 : valuelen), value);
    }
    return 0;
}

static void
deliver_msg(struct grpc_stream *s, const uint8_t *msg, size_t len)
{
    if (s->on_msg && !s->ended)
        s->on_msg(s->ud, msg, len);
}

static int
data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *ud)
{
    struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, id);

    (void)flags;
    (void)ud;
    if (!s || s->bad)
        return 0;
    if (s->in.len + len > GRPC_MAX_MSG + 5) {
        s->bad = true;
    } else {
        k3c_buf_append(&s->in, data, len);
        /* a client delivers each message of a stream as it completes */
        if (!s->conn->server && !stream_take_messages(s, deliver_msg))
            s->bad = true;
    }
    if (s->bad)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
    return 0;
}

/* Server: keeps the one request message of a unary call in s->out. */
static void
take_request(struct grpc_stream *s, const uint8_t *msg, size_t len)
{
    if (s->out) { /* a second message in a unary call */
        s->bad = true;
        return;
    }
    stream_set_out(s, msg, len); /* held here until the handler has read it */
}

static int
submit_trailers_only(nghttp2_session *session, struct grpc_stream *s, int status, const char *msg)
{
    char st[12];
    nghttp2_nv hdrs[4] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)st, 11, 0, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)msg, 12, msg ? strlen(msg) : 0,
         NGHTTP2_NV_FLAG_NONE},
    };

    snprintf(st, sizeof(st), "%d", status);
    hdrs[2].valuelen = strlen(st);
    return nghttp2_submit_response(session, s->id, hdrs, msg ? 4 : 3, NULL);
}

/* Server: the whole request is in; call the handler and answer. */
static int
serve_request(nghttp2_session *session, struct grpc_stream *s)
{
    struct grpc_conn *c = s->conn;
    _cleanup_free_ uint8_t *resp = NULL;
    _cleanup_free_ char *message = NULL;
    size_t resp_len = 0;
    int status;
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_out_cb};
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };

    if (!stream_take_messages(s, take_request) || s->bad || s->in.len != 0 || !s->out)
        return submit_trailers_only(session, s, GRPC_INTERNAL, "one request message wanted");
    if (!s->method)
        return submit_trailers_only(session, s, GRPC_UNIMPLEMENTED, "no method");
    status = c->handler(c->handler_ud, s->method, s->out + 5, s->out_len - 5, &resp, &resp_len,
                        &message);
    free(s->out);
    s->out = NULL;
    if (status != GRPC_OK)
        return submit_trailers_only(session, s, status, message);
    stream_set_out(s, resp, resp_len);
    return nghttp2_submit_response(session, s->id, hdrs, 2, &dp);
}

static int
frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct grpc_conn *c = ud;
    struct grpc_stream *s;

    if (!c->server || (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    return serve_request(session, s) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void
stream_end(struct grpc_stream *s, int status, const char *message)
{
    if (s->ended)
        return;
    s->ended = true;
    if (s->on_end)
        s->on_end(s->ud, status, message);
}

static int
stream_close_cb(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, id);

    (void)ud;
    if (!s)
        return 0;
    if (!s->conn->server) {
        if (s->bad)
            stream_end(s, GRPC_RESOURCE_EXHAUSTED, "message too large or compressed");
        else if (s->have_status)
            stream_end(s, s->status, s->message);
        else
            stream_end(s, GRPC_UNAVAILABLE,
                       error_code ? nghttp2_http2_strerror(error_code)
                                  : "stream closed without status");
    }
    nghttp2_session_set_stream_user_data(session, id, NULL);
    stream_free(s);
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static struct grpc_conn *
conn_new(int fd, bool server)
{
    struct grpc_conn *c = k3c_xcalloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs;
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};

    c->fd = fd;
    c->server = server;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
    if (server)
        nghttp2_session_server_new(&c->session, cbs, c);
    else
        nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1);
    return c;
}

struct grpc_conn *
grpc_conn_server_new(int fd, grpc_handler_fn handler, void *ud)
{
    struct grpc_conn *c = conn_new(fd, true);

    c->handler = handler;
    c->handler_ud = ud;
    return c;
}

struct grpc_conn *
grpc_conn_client_new(int fd)
{
    return conn_new(fd, false);
}

void
grpc_conn_free(struct grpc_conn *c)
{
    if (!c)
        return;
    while (c->streams) {
        struct grpc_stream *s = c->streams;

        stream_end(s, GRPC_UNAVAILABLE, "connection closed");
        stream_free(s);
    }
    nghttp2_session_del(c->session);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

int
grpc_conn_fd(const struct grpc_conn *c)
{
    return c->fd;
}

short
grpc_conn_events(const struct grpc_conn *c)
{
    return POLLIN | (nghttp2_session_want_write(c->session) ? POLLOUT : 0);
}

static int
conn_send(struct grpc_conn *c, struct k3c_err *err)
{
    int rv = nghttp2_session_send(c->session);

    if (rv != 0)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "HTTP/2: %s", nghttp2_strerror(rv));
    return 0;
}

int
grpc_conn_feed(struct grpc_conn *c, const uint8_t *data, size_t len, struct k3c_err *err)
{
    ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);

    if (rv < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "HTTP/2: %s", nghttp2_strerror((int)rv));
    return conn_send(c, err);
}

int
grpc_conn_io(struct grpc_conn *c, struct k3c_err *err)
{
    uint8_t buf[16384];

    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0)
            return k3c_err_sys(err, errno, "read");
        if (n == 0)
            return k3c_err_set(err, K3C_E_UNAVAILABLE, "connection closed by the peer");
        if (grpc_conn_feed(c, buf, (size_t)n, err) < 0)
            return -1;
    }
    if (conn_send(c, err) < 0)
        return -1;
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "HTTP/2 session over");
    return 0;
}

bool
grpc_conn_usable(struct grpc_conn *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    struct k3c_err err = {0};

    if (c->streams)
        return false;
    if (poll(&pfd, 1, 0) > 0 && grpc_conn_io(c, &err) < 0)
        return false;
    return nghttp2_session_check_request_allowed(c->session) != 0;
}

int
grpc_call_start(struct grpc_conn *c, const char *method, const uint8_t *req, size_t len,
                grpc_msg_fn on_msg, grpc_end_fn on_end, void *ud, struct k3c_err *err)
{
    struct grpc_stream *s = stream_new(c, 0);
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_out_cb};
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)method, 5, strlen(method), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"user-agent", (uint8_t *)"k3c", 10, 3, NGHTTP2_NV_FLAG_NONE},
    };
    int32_t id;

    s->on_msg = on_msg;
    s->on_end = on_end;
    s->ud = ud;
    stream_set_out(s, req, len);
    id = nghttp2_submit_request(c->session, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp, s);
    if (id < 0) {
        stream_free(s);
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "HTTP/2 request: %s", nghttp2_strerror(id));
    }
    s->id = id;
    return c->fd >= 0 ? conn_send(c, err) : 0;
}

/* ---- a blocking unary call ---------------------------------------------- */

struct unary {
    struct k3c_buf resp;
    int n_msgs;
    bool done;
    int status;
    char *message;
};

static void
unary_msg(void *ud, const uint8_t *msg, size_t len)
{
    struct unary *u = ud;

    u->n_msgs++;
    k3c_buf_append(&u->resp, msg, len);
}

static void
unary_end(void *ud, int status, const char *message)
{
    struct unary *u = ud;

    u->done = true;
    u->status = status;
    u->message = message ? k3c_xstrdup(message) : NULL;
}

static int
unary_wait(struct grpc_conn *c, struct unary *u, int timeout_ms, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    while (!u->done) {
        struct pollfd pfd = {.fd = c->fd, .events = grpc_conn_events(c)};
        int64_t left = deadline - k3c_now_ms();
        int n;

        if (left <= 0)
            return k3c_err_set(err, K3C_E_TIMEOUT, "no answer in %d ms", timeout_ms);
        n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR)
            return k3c_err_sys(err, errno, "poll");
        if (n > 0 && grpc_conn_io(c, err) < 0) {
            if (!u->done)
                return -1;
            k3c_err_clear(err); /* the answer came before the close */
        }
    }
    return 0;
}

/* The calls still open on c end without telling their callers. */
static void
detach_calls(struct grpc_conn *c)
{
    for (struct grpc_stream *s = c->streams; s; s = s->next) {
        s->ended = true;
        s->on_msg = NULL;
        s->on_end = NULL;
    }
}

int
grpc_conn_unary(struct grpc_conn *c, const char *method, const uint8_t *req, size_t len,
                int timeout_ms, int *status, char **message, uint8_t **resp, size_t *resp_len,
                struct k3c_err *err)
{
    struct unary u = {0};
    int rc = -1;

    *resp = NULL;
    *resp_len = 0;
    *message = NULL;
    k3c_buf_init(&u.resp);
    if (grpc_call_start(c, method, req, len, unary_msg, unary_end, &u, err) < 0 ||
        unary_wait(c, &u, timeout_ms, err) < 0) {
        detach_calls(c); /* the call may still be open: it must not reach u */
        goto out;
    }
    rc = 0;
    *status = u.status;
    *message = u.message;
    u.message = NULL;
    if (u.status == GRPC_OK && u.n_msgs != 1) {
        *status = GRPC_INTERNAL;
        *message = k3c_xasprintf("%d response messages, want 1", u.n_msgs);
    } else if (u.status == GRPC_OK) {
        *resp_len = u.resp.len;
        *resp = (uint8_t *)k3c_buf_steal(&u.resp, NULL);
    }
out:
    k3c_buf_fini(&u.resp);
    free(u.message);
    return rc;
}

int
grpc_unary(const char *path, const char *method, const uint8_t *req, size_t len, int timeout_ms,
           uint8_t **resp, size_t *resp_len, struct k3c_err *err)
{
    _cleanup_free_ char *message = NULL;
    struct grpc_conn *c;
    int fd, status, rc = -1;

    *resp = NULL;
    *resp_len = 0;
    fd = grpc_unix_connect(path, err);
    if (fd < 0)
        return k3c_err_wrap(err, "%s", method);
    c = grpc_conn_client_new(fd);
    if (grpc_conn_unary(c, method, req, len, timeout_ms, &status, &message, resp, resp_len, err) <
        0)
        k3c_err_wrap(err, "%s", method);
    else if (status != GRPC_OK)
        k3c_err_set(err, status == GRPC_UNAVAILABLE ? K3C_E_UNAVAILABLE : K3C_E_INVALID,
                    "%s: rpc error: code = %d desc = %s", method, status, message ? message : "");
    else
        rc = 0;
    grpc_conn_free(c);
    return rc;
}

/* ---- unix sockets -------------------------------------------------------- */

static int
unix_addr(const char *path, struct sockaddr_un *sa, struct k3c_err *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return k3c_err_set(err, K3C_E_INVALID, "%s: socket path too long", path);
    strcpy(sa->sun_path, path);
    return 0;
}

int
grpc_unix_connect(const char *path, struct k3c_err *err)
{
    struct sockaddr_un sa;
    int fd;

    if (unix_addr(path, &sa, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    /* a local connect completes at once (or is refused) */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        close(fd);
        return k3c_err_sys(err, e, "dial %s", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int
grpc_unix_listen(const char *path, struct k3c_err *err)
{
    struct sockaddr_un sa;
    int fd;

    if (unix_addr(path, &sa, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;

        close(fd);
        return k3c_err_sys(err, e, "listen on %s", path);
    }
    return fd;
}
