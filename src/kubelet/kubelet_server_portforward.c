/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server_portforward.c - /portForward/<ns>/<pod>[/<uid>]: kubectl
 * port-forward's protocol, SPDY/3.1 streams, carried either
 *  - on the upgraded connection itself (Upgrade: SPDY/3.1, with
 *    X-Stream-Protocol-Version: portforward.k8s.io; every kubectl), or
 *  - tunnelled in WebSocket binary messages (subprotocol
 *    SPDY/3.1+portforward.k8s.io; kubectl >= 1.31 by default, 1.30 with
 *    KUBECTL_PORT_FORWARD_WEBSOCKETS=true), the bytes of the messages being
 *    one SPDY byte stream.
 * Each forwarded connection is a pair of client streams with headers
 * streamType (error|data), port and requestID. Once both are there the
 * session connects to 127.0.0.1:<port> in the pod's network namespace
 * (a socket made while this thread is in the namespace belongs to it) and
 * copies bytes both ways; a failure goes on the error stream as upstream's
 * "error forwarding port N to pod ...". One thread per session, one poll
 * loop over the client and every pod socket. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet_server-internal.h"
#include "kubelet/spdy.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define PF_WS_PROTOCOL "SPDY/3.1+portforward.k8s.io"
#define PF_PROTOCOL    "portforward.k8s.io"
#define PF_MAX_PAIRS   128
#define PF_POLL_MS     500
#define PF_OUT_MAX     (1 << 20) /* stop reading pods while this much waits for the client */
#define PF_INPUT_MAX   (4 << 20)
#define PF_WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* One forwarded connection: the client's error and data streams. */
struct pf_pair {
    char request_id[40];
    int port;
    uint32_t data_id, error_id;
    int fd; /* the pod-side socket, -1 before the connect and after the end */
    bool started, client_fin, shut_wr, pod_eof, done;
    struct k3c_buf to_pod;
};

struct pf_session {
    struct kubelet_server *srv;
    struct MHD_UpgradeResponseHandle *urh;
    int sock, conn_fd;
    bool ws;
    wslay_event_context_ptr wsctx;
    struct spdy_session *spdy;
    struct k3c_buf in, out;
    struct k3c_buf early;         /* bytes that came with the request (WebSocket frames) */
    char *ns, *pod, *uid, *netns; /* netns NULL: the host's (hostNetwork pod) */
    struct pf_pair *pairs[PF_MAX_PAIRS];
    bool broken; /* protocol error or the client left */
};

static void
pair_free(struct pf_pair *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    k3c_buf_fini(&p->to_pod);
    free(p);
}

static void
session_free(struct pf_session *x)
{
    for (size_t i = 0; i < PF_MAX_PAIRS; i++)
        pair_free(x->pairs[i]);
    if (x->wsctx)
        wslay_event_context_free(x->wsctx);
    spdy_session_free(x->spdy);
    k3c_buf_fini(&x->in);
    k3c_buf_fini(&x->out);
    k3c_buf_fini(&x->early);
    free(x->ns);
    free(x->pod);
    free(x->uid);
    free(x->netns);
    free(x);
}

/* ---- the pod side -------------------------------------------------------- */

/* A TCP connection to 127.0.0.1:port in the pod's network namespace. */
static int
connect_in_pod(struct pf_session *x, int port, struct k3c_err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int self = -1, target = -1, fd = -1, e;

    if (x->netns) {
        self = net_netns_open("/proc/thread-self/ns/net", err);
        target = self < 0 ? -1 : net_netns_open(x->netns, err);
        if (target < 0 || net_netns_enter(target, err) < 0) {
            if (self >= 0)
                close(self);
            if (target >= 0)
                close(target);
            return -1;
        }
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e = errno;
    if (x->netns) {
        struct k3c_err back = {0};

        if (net_netns_enter(self, &back) < 0) /* cannot happen; never stay in the pod's */
            log_error("port-forward: cannot return to the host namespace: %s", back.msg);
        close(self);
        close(target);
    }
    if (fd < 0)
        return k3c_err_sys(err, e, "socket");
    /* Loopback answers a connect at once: blocking is fine. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        char why[128];

        e = errno;
        close(fd);
        /* Go's wording ("connection refused"), as kubectl users know it. */
        snprintf(why, sizeof(why), "%s", strerror(e));
        why[0] = (char)tolower((unsigned char)why[0]);
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "dial tcp4 127.0.0.1:%d: connect: %s", port,
                           why);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Ends a pair towards the client: the error text (if any) and FIN on both
 * streams, as upstream's handler closes them when the forward returns. */
static void
pair_finish(struct pf_session *x, struct pf_pair *p, const char *error)
{
    if (p->done)
        return;
    spdy_write_data(&x->out, p->data_id, NULL, 0, true);
    spdy_write_data(&x->out, p->error_id, error, error ? strlen(error) : 0, true);
    p->done = true;
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

static void
pair_start(struct pf_session *x, struct pf_pair *p)
{
    struct k3c_err err = {0};

    p->started = true;
    atomic_fetch_add(&x->srv->portforward_conns_total, 1);
    p->fd = connect_in_pod(x, p->port, &err);
    if (p->fd < 0) {
        _cleanup_free_ char *msg =
            k3c_xasprintf("error forwarding port %d to pod %s/%s, uid %s: %s", p->port, x->ns,
                          x->pod, x->uid, err.msg);

        log_debug("port-forward: %s", msg);
        pair_finish(x, p, msg);
    }
}

/* ---- streams --------------------------------------------------------------- */

static struct pf_pair *
pair_by_stream(struct pf_session *x, uint32_t id, bool *is_data)
{
    for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
        struct pf_pair *p = x->pairs[i];

        if (p && (p->data_id == id || p->error_id == id)) {
            *is_data = p->data_id == id;
            return p;
        }
    }
    return NULL;
}

static struct pf_pair *
pair_by_request(struct pf_session *x, const char *request_id, int port)
{
    size_t free_slot = PF_MAX_PAIRS;

    for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
        struct pf_pair *p = x->pairs[i];

        if (p && !p->started && strcmp(p->request_id, request_id) == 0 && p->port == port)
            return p;
        if (!p && free_slot == PF_MAX_PAIRS)
            free_slot = i;
    }
    if (free_slot == PF_MAX_PAIRS)
        return NULL;
    x->pairs[free_slot] = k3c_xcalloc(1, sizeof(struct pf_pair));
    x->pairs[free_slot]->fd = -1;
    x->pairs[free_slot]->port = port;
    snprintf(x->pairs[free_slot]->request_id, sizeof(x->pairs[free_slot]->request_id), "%s",
             request_id);
    k3c_buf_init(&x->pairs[free_slot]->to_pod);
    return x->pairs[free_slot];
}

static void
on_syn_stream(struct pf_session *x, const struct spdy_frame *f)
{
    const char *type = spdy_header_get(f, "streamtype");
    const char *port_s = spdy_header_get(f, "port");
    const char *req = spdy_header_get(f, "requestid");
    char *end = NULL;
    long port = port_s ? strtol(port_s, &end, 10) : 0;
    struct pf_pair *p;

    if (!type || (strcmp(type, "data") != 0 && strcmp(type, "error") != 0) || !end || *end ||
        port < 1 || port > 65535) {
        spdy_write_rst(&x->out, f->stream_id, SPDY_RST_PROTOCOL_ERROR);
        return;
    }
    /* Clients before requestID pair streams by port; so do we then. */
    p = pair_by_request(x, req ? req : "", (int)port);
    if (!p || (strcmp(type, "data") == 0 ? p->data_id : p->error_id)) {
        spdy_write_rst(&x->out, f->stream_id, SPDY_RST_REFUSED_STREAM);
        return;
    }
    if (strcmp(type, "data") == 0)
        p->data_id = f->stream_id;
    else
        p->error_id = f->stream_id;
    spdy_write_syn_reply(x->spdy, &x->out, f->stream_id, false);
    if (p->data_id && p->error_id)
        pair_start(x, p);
}

static void
on_data(struct pf_session *x, const struct spdy_frame *f)
{
    bool is_data = false;
    struct pf_pair *p = pair_by_stream(x, f->stream_id, &is_data);

    if (!p || !is_data)
        return; /* the error stream carries nothing from the client */
    if (f->len && p->fd >= 0 && !p->client_fin)
        k3c_buf_append(&p->to_pod, f->data, f->len);
    if (f->flags & SPDY_FLAG_FIN)
        p->client_fin = true;
}

static void
on_rst(struct pf_session *x, const struct spdy_frame *f)
{
    bool is_data = false;
    struct pf_pair *p = pair_by_stream(x, f->stream_id, &is_data);

    if (p && p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    if (p)
        p->done = true; /* the client gave the stream up: no FIN owed */
}

static void
on_frame(struct pf_session *x, const struct spdy_frame *f)
{
    switch (f->type) {
    case SPDY_SYN_STREAM:
        on_syn_stream(x, f);
        break;
    case SPDY_DATA:
        on_data(x, f);
        break;
    case SPDY_RST_STREAM:
        on_rst(x, f);
        break;
    case SPDY_PING:
        spdy_write_ping(&x->out, f->value);
        break;
    case SPDY_GOAWAY:
        x->broken = true;
        break;
    default:
        break; /* SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do */
    }
}

/* Parses every complete frame in x->in. */
static void
consume_input(struct pf_session *x)
{
    size_t off = 0;

    while (!x->broken) {
        struct spdy_frame f;
        struct k3c_err err = {0};
        size_t used = 0;
        int rc = spdy_parse(x->spdy, (const uint8_t *)x->in.data + off, x->in.len - off, &used, &f,
                            &err);

        if (rc < 0) {
            log_debug("port-forward: %s", err.msg);
            spdy_write_goaway(&x->out, 0, SPDY_RST_PROTOCOL_ERROR);
            x->broken = true;
        }
        if (rc <= 0)
            break;
        on_frame(x, &f);
        spdy_frame_fini(&f);
        off += used;
    }
    k3c_buf_consume(&x->in, off);
    if (x->in.len > PF_INPUT_MAX)
        x->broken = true;
}

/* ---- the client side ------------------------------------------------------- */

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct pf_session *x = ud;
    ssize_t n;

    (void)flags;
    if (x->early.len) {
        n = (ssize_t)(x->early.len < len ? x->early.len : len);
        memcpy(buf, x->early.data, (size_t)n);
        k3c_buf_consume(&x->early, (size_t)n);
        return n;
    }
    n = recv(x->sock, buf, len, 0);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t
ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct pf_session *x = ud;
    ssize_t n = send(x->sock, data, len, MSG_NOSIGNAL);

    (void)flags;
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void
ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    struct pf_session *x = ud;

    (void)ctx;
    if (arg->opcode == WSLAY_BINARY_FRAME || arg->opcode == WSLAY_TEXT_FRAME)
        k3c_buf_append(&x->in, arg->msg, arg->msg_length);
    else if (arg->opcode == WSLAY_CONNECTION_CLOSE)
        x->broken = true;
}

/* Bytes waiting to go to the client. */
static size_t
pending_out(struct pf_session *x)
{
    return x->ws ? wslay_event_get_queued_msg_length(x->wsctx) + x->out.len : x->out.len;
}

static bool
want_write(struct pf_session *x)
{
    return x->ws ? wslay_event_want_write(x->wsctx) || x->out.len : x->out.len > 0;
}

/* Reads what the client sent; false once it is gone. */
static bool
client_read(struct pf_session *x)
{
    uint8_t buf[32768];
    ssize_t n;

    if (x->ws)
        return wslay_event_recv(x->wsctx) == 0 && !wslay_event_get_close_received(x->wsctx);
    n = recv(x->sock, buf, sizeof(buf), 0);
    if (n > 0) {
        k3c_buf_append(&x->in, buf, (size_t)n);
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static bool
client_write(struct pf_session *x)
{
    if (x->ws) {
        if (x->out.len) {
            struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME,
                                        .msg = (const uint8_t *)x->out.data,
                                        .msg_length = x->out.len};

            wslay_event_queue_msg(x->wsctx, &m); /* copies */
            k3c_buf_reset(&x->out);
        }
        return !wslay_event_want_write(x->wsctx) || wslay_event_send(x->wsctx) == 0;
    }
    while (x->out.len) {
        ssize_t n = send(x->sock, x->out.data, x->out.len, MSG_NOSIGNAL);

        if (n > 0) {
            k3c_buf_consume(&x->out, (size_t)n);
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
    return true;
}

/* ---- the loop -------------------------------------------------------------- */

static void
pump_pod(struct pf_session *x, struct pf_pair *p, short revents)
{
    if (p->fd < 0 || p->done)
        return;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !p->pod_eof) {
        char buf[32768];
        ssize_t n = read(p->fd, buf, sizeof(buf));

        if (n > 0)
            spdy_write_data(&x->out, p->data_id, buf, (size_t)n, false);
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            p->pod_eof = true;
    }
    if (p->to_pod.len) {
        ssize_t n = send(p->fd, p->to_pod.data, p->to_pod.len, MSG_NOSIGNAL);

        if (n > 0)
            k3c_buf_consume(&p->to_pod, (size_t)n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            p->pod_eof = true;
    }
    if (p->client_fin && !p->to_pod.len && !p->shut_wr) {
        shutdown(p->fd, SHUT_WR);
        p->shut_wr = true;
    }
    if (p->pod_eof)
        pair_finish(x, p, NULL);
}

static void
reap_pairs(struct pf_session *x)
{
    for (size_t i = 0; i < PF_MAX_PAIRS; i++)
        if (x->pairs[i] && x->pairs[i]->done) {
            pair_free(x->pairs[i]);
            x->pairs[i] = NULL;
        }
}

static void
session_loop(struct pf_session *x)
{
    while (!atomic_load(&x->srv->stopping) && !x->broken) {
        struct pollfd p[2 + PF_MAX_PAIRS];
        struct pf_pair *polled[PF_MAX_PAIRS];
        size_t n = 2;
        bool room = pending_out(x) < PF_OUT_MAX;

        p[0] = (struct pollfd){.fd = x->sock,
                               .events = (short)(POLLIN | (want_write(x) ? POLLOUT : 0))};
        p[1] = (struct pollfd){.fd = x->conn_fd, .events = POLLRDHUP};
        for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
            struct pf_pair *pr = x->pairs[i];

            if (!pr || pr->fd < 0 || pr->done)
                continue;
            polled[n - 2] = pr;
            p[n++] = (struct pollfd){.fd = pr->fd,
                                     .events = (short)((room && !pr->pod_eof ? POLLIN : 0) |
                                                       (pr->to_pod.len ? POLLOUT : 0))};
        }
        if (poll(p, n, PF_POLL_MS) < 0 && errno != EINTR)
            break;
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !client_read(x))
            break;
        if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
            break; /* MHD does not pass the client's close on: its socket says */
        consume_input(x);
        for (size_t i = 2; i < n; i++)
            pump_pod(x, polled[i - 2], p[i].revents);
        /* Data that came with the frames just parsed goes out now. */
        for (size_t i = 0; i < PF_MAX_PAIRS; i++)
            if (x->pairs[i] && x->pairs[i]->to_pod.len)
                pump_pod(x, x->pairs[i], 0);
        reap_pairs(x);
        if (!client_write(x))
            break;
    }
}

static void *
session_thread(void *arg)
{
    struct pf_session *x = arg;
    struct kubelet_server *s = x->srv;
    struct wslay_event_callbacks cb = {
        .recv_callback = ws_recv, .send_callback = ws_send, .on_msg_recv_callback = ws_on_msg};

    fcntl(x->sock, F_SETFL, fcntl(x->sock, F_GETFL) | O_NONBLOCK);
    if (!x->ws || wslay_event_context_server_init(&x->wsctx, &cb, x) == 0) {
        if (x->ws) {
            wslay_event_config_set_max_recv_msg_length(x->wsctx, 1 << 20);
            if (x->early.len && wslay_event_recv(x->wsctx) != 0)
                x->broken = true;
        } else {
            k3c_buf_append(&x->in, x->early.data, x->early.len);
            k3c_buf_reset(&x->early);
        }
        consume_input(x);
        client_write(x);
        session_loop(x);
    }
    if (x->conn_fd >= 0) /* see kubelet_server_exec.c: ends MHD's TLS relay */
        shutdown(x->conn_fd, SHUT_RD);
    MHD_upgrade_action(x->urh, MHD_UPGRADE_ACTION_CLOSE);
    session_free(x);
    atomic_fetch_sub(&s->exec_active, 1);
    pthread_mutex_lock(&s->lock);
    s->exec_threads--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void
on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
           size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct pf_session *x = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_attr_t attr;
    pthread_t t;

    (void)con_cls;
    x->sock = sock;
    x->conn_fd = ci ? ci->connect_fd : -1;
    x->urh = urh;
    k3c_buf_append(&x->early, extra_in, extra_in_size);
    pthread_mutex_lock(&x->srv->lock);
    x->srv->exec_threads++;
    pthread_mutex_unlock(&x->srv->lock);
    atomic_fetch_add(&x->srv->exec_active, 1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, session_thread, x) != 0) {
        log_warn("port-forward: cannot start a session thread");
        atomic_fetch_sub(&x->srv->exec_active, 1);
        pthread_mutex_lock(&x->srv->lock);
        x->srv->exec_threads--;
        pthread_mutex_unlock(&x->srv->lock);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        session_free(x);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the request ------------------------------------------------------------ */

static bool
header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    return v && strcasestr(v, token);
}

/* Is token one of the comma-separated values of every header name? */
struct token_search {
    const char *name, *token;
    bool found;
};

static enum MHD_Result
find_token(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct token_search *ts = cls;
    size_t n = strlen(ts->token);

    (void)kind;
    if (strcasecmp(key, ts->name) != 0 || !value)
        return MHD_YES;
    for (const char *p = value; (p = strstr(p, ts->token)); p += n)
        if ((p == value || p[-1] == ' ' || p[-1] == ',') &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            ts->found = true;
    return MHD_YES;
}

static bool
offers(struct MHD_Connection *conn, const char *header, const char *token)
{
    struct token_search ts = {.name = header, .token = token};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, find_token, &ts);
    return ts.found;
}

/* The pod's uid from its running containers, NULL when none runs here. */
static char *
pod_uid(struct kubelet_server *s, const char *ns, const char *pod)
{
    _cleanup_free_ struct runtime_status *list = NULL;
    struct k3c_err err = {0};
    size_t n = 0;

    if (!s->runtime || runtime_list(s->runtime, &list, &n, &err) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *a = NULL;

        if (list[i].state != RUNTIME_STATE_RUNNING)
            continue;
        a = runtime_annotations(s->runtime, list[i].id, &err);
        if (a &&
            strcmp(json_string_value(json_object_get(a, "io.kubernetes.pod.namespace")) ?: "",
                   ns) == 0 &&
            strcmp(json_string_value(json_object_get(a, "io.kubernetes.pod.name")) ?: "", pod) == 0)
            return k3c_xstrdup(json_string_value(json_object_get(a, "io.kubernetes.pod.uid"))
                                   ?: "");
    }
    return NULL;
}

bool
ks_parse_portforward(const char *url, char **ns, char **pod)
{
    static const char prefix[] = "/portForward/";
    _cleanup_free_ char *rest = NULL;
    char *save = NULL, *seg[3];
    int n = 0;

    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return false;
    rest = k3c_xstrdup(url + sizeof(prefix) - 1);
    for (char *p = strtok_r(rest, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (n == 3)
            return false;
        seg[n++] = p;
    }
    if (n < 2) /* the optional third segment is the pod's uid */
        return false;
    *ns = k3c_xstrdup(seg[0]);
    *pod = k3c_xstrdup(seg[1]);
    return true;
}

static char *
ws_accept_key(const char *key)
{
    _cleanup_free_ char *s = k3c_xasprintf("%s%s", key, PF_WS_GUID);
    unsigned char digest[20];

    gnutls_hash_fast(GNUTLS_DIG_SHA1, s, strlen(s), digest);
    return k3c_base64_encode(digest, sizeof(digest));
}

int
ks_serve_portforward(struct kubelet_server *s, struct MHD_Connection *conn, const char *ns,
                     const char *pod)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    bool ws = header_has(conn, "Upgrade", "websocket") && key;
    bool spdy = header_has(conn, "Upgrade", "SPDY/3.1");
    struct pf_session *x;
    struct MHD_Response *resp;
    struct net_pod_config nc = {.netns_dir = s->netns_dir};
    _cleanup_free_ char *accept = NULL;
    int ret;

    if (!header_has(conn, "Connection", "upgrade") || (!ws && !spdy))
        return ks_reply_status(conn, 400,
                               "port-forward needs an upgrade to SPDY/3.1 or to a WebSocket "
                               "with subprotocol " PF_WS_PROTOCOL);
    if (ws && !offers(conn, "Sec-WebSocket-Protocol", PF_WS_PROTOCOL))
        return ks_reply_status(conn, 400, "no supported subprotocol: want " PF_WS_PROTOCOL);
    if (spdy && !offers(conn, "X-Stream-Protocol-Version", PF_PROTOCOL))
        return ks_reply_status(conn, 403, "protocol not supported: want " PF_PROTOCOL);
    x = k3c_xcalloc(1, sizeof(*x));
    x->srv = s;
    x->sock = x->conn_fd = -1;
    x->ws = ws;
    k3c_buf_init(&x->in);
    k3c_buf_init(&x->out);
    k3c_buf_init(&x->early);
    x->ns = k3c_xstrdup(ns);
    x->pod = k3c_xstrdup(pod);
    x->uid = pod_uid(s, ns, pod);
    if (!x->uid) {
        session_free(x);
        return ks_reply_status(conn, 404, "pod %s/%s is not running on this node", ns, pod);
    }
    x->netns = net_pod_netns_path(&nc, x->uid);
    if (x->netns && !net_netns_is_pinned(x->netns)) {
        free(x->netns); /* hostNetwork: the host's namespace */
        x->netns = NULL;
    }
    x->spdy = spdy_session_new();
    resp = MHD_create_response_for_upgrade(on_upgrade, x);
    if (ws) {
        accept = ws_accept_key(key);
        MHD_add_response_header(resp, "Upgrade", "websocket");
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", PF_WS_PROTOCOL);
    } else {
        MHD_add_response_header(resp, "Upgrade", "SPDY/3.1");
        MHD_add_response_header(resp, "X-Stream-Protocol-Version", PF_PROTOCOL);
    }
    ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES)
        session_free(x);
    else
        atomic_fetch_add(ws ? &s->portforward_ws_total : &s->portforward_spdy_total, 1);
    return ret;
}
