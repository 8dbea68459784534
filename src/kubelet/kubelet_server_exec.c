/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server_exec.c - /exec/<ns>/<pod>/<container> over a WebSocket
 * (RFC 6455, wslay) with Kubernetes' channel subprotocols v5.channel.k8s.io
 * and v4.channel.k8s.io: every binary message starts with its channel byte,
 * 0 stdin, 1 stdout, 2 stderr, 3 the final metav1.Status, 4 terminal
 * resize ({"Width":w,"Height":h}), and in v5 255 = close (payload: the
 * channel, 0 = stdin). Clients before WebSocket (kubectl 1.27-1.29) speak
 * SPDY/3.1 with v4.channel.k8s.io instead: one stream per channel, opened
 * by the client with a streamType header (error, stdin, stdout, stderr,
 * resize); the command starts once every stream the query asks for is
 * there, and the streams end with FIN after the status (spdy.c frames).
 * /attach/... is the same session on conmon's attach socket instead of a new
 * process: the container's output from now on, its stdin when it has one.
 *
 * libmicrohttpd hands the upgraded connection over on its thread, which
 * must return so it can relay TLS; the session then runs on a thread of its
 * own: one poll loop over the socket and the process's fds. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet_server-internal.h"
#include "kubelet/spdy.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define EXEC_MAX_ARGS     256
#define EXEC_POLL_MS      200
#define EXEC_QUEUE_MAX    (1 << 20) /* stop reading output while this much waits to be sent */
#define EXEC_FLUSH_MS     5000      /* after the status: longest wait for the client to take it */
#define EXEC_STOP_WAIT_MS 5000      /* SIGTERM to SIGKILL when the client leaves */

enum { CH_STDIN = 0, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, CH_CLOSE = 255 };

struct exec_session {
    struct kubelet_server *srv;
    struct MHD_UpgradeResponseHandle *urh;
    int sock;
    int conn_fd; /* the client's TCP socket under MHD's TLS relay */
    char *extra;
    size_t extra_len, extra_off;
    bool v5, tty, want_stdin, want_stdout, want_stderr;
    bool attach; /* conmon's attach socket instead of an exec */
    char id[RUNTIME_ID_MAX + 1];
    char **argv;
    size_t argc;
    struct runtime_exec_proc proc;
    bool started;
    int out_fd, err_fd; /* -1 once at EOF */
    struct k3c_buf stdin_pending;
    bool stdin_close; /* close stdin once stdin_pending is written */
    bool exited, status_sent, peer_gone;
    int exit_code;
    wslay_event_context_ptr ws;
    /* SPDY/3.1 instead of a WebSocket: the client's stream per channel */
    bool spdy, sp_fin_sent, sp_gone;
    struct spdy_session *sp;
    struct k3c_buf sp_in, sp_out;
    uint32_t sp_stream[CH_RESIZE + 1];
};

static void
session_free(struct exec_session *x)
{
    for (size_t i = 0; i < x->argc; i++)
        free(x->argv[i]);
    free(x->argv);
    free(x->extra);
    k3c_buf_fini(&x->stdin_pending);
    if (x->ws)
        wslay_event_context_free(x->ws);
    spdy_session_free(x->sp);
    k3c_buf_fini(&x->sp_in);
    k3c_buf_fini(&x->sp_out);
    free(x);
}

/* ---- wslay callbacks ---------------------------------------------------- */

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct exec_session *x = ud;
    ssize_t n;

    (void)flags;
    if (x->extra_off < x->extra_len) {
        n = (ssize_t)(x->extra_len - x->extra_off < len ? x->extra_len - x->extra_off : len);
        memcpy(buf, x->extra + x->extra_off, (size_t)n);
        x->extra_off += (size_t)n;
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
    struct exec_session *x = ud;
    ssize_t n;

    (void)flags;
    n = send(x->sock, data, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void
queue_channel(struct exec_session *x, int ch, const void *data, size_t len)
{
    uint8_t *msg;
    struct wslay_event_msg m;

    if (x->spdy) {
        if (ch <= CH_RESIZE && x->sp_stream[ch] && len)
            spdy_write_data(&x->sp_out, x->sp_stream[ch], data, len, false);
        return;
    }
    msg = k3c_xmalloc(len + 1);
    m = (struct wslay_event_msg){.opcode = WSLAY_BINARY_FRAME, .msg = msg, .msg_length = len + 1};

    msg[0] = (uint8_t)ch;
    memcpy(msg + 1, data, len);
    wslay_event_queue_msg(x->ws, &m); /* copies */
    free(msg);
}

static void
on_resize(struct exec_session *x, const char *data, size_t len)
{
    _cleanup_json_ json_t *j = json_loadb(data, len, 0, NULL);
    struct k3c_err err = {0};
    json_int_t w = json_integer_value(json_object_get(j, "Width"));
    json_int_t h = json_integer_value(json_object_get(j, "Height"));

    if (x->tty && x->started && w > 0 && h > 0 && w < 65536 && h < 65536)
        runtime_exec_resize(&x->proc, (unsigned)w, (unsigned)h, &err);
}

static void
ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    struct exec_session *x = ud;
    const char *data = (const char *)arg->msg + 1;
    size_t len = arg->msg_length ? arg->msg_length - 1 : 0;

    (void)ctx;
    if (arg->opcode != WSLAY_BINARY_FRAME || arg->msg_length == 0)
        return;
    switch (arg->msg[0]) {
    case CH_STDIN:
        if (x->want_stdin && !x->stdin_close && !x->exited)
            k3c_buf_append(&x->stdin_pending, data, len);
        break;
    case CH_RESIZE:
        on_resize(x, data, len);
        break;
    case CH_CLOSE:
        if (x->v5 && len >= 1 && data[0] == CH_STDIN)
            x->stdin_close = true;
        break;
    default:
        break;
    }
}

/* ---- the process -------------------------------------------------------- */

static void
set_nonblock(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static char *
command_line(const struct exec_session *x)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (size_t i = 0; i < x->argc; i++)
        k3c_buf_appendf(&b, "%s%s", i ? " " : "", x->argv[i]);
    return k3c_buf_steal(&b, NULL);
}

/* The final message on the error channel, as the upstream kubelet sends it. */
static void
queue_status(struct exec_session *x, const char *failure)
{
    _cleanup_json_ json_t *st = NULL;
    _cleanup_free_ char *text = NULL;

    if (failure) {
        st = json_pack("{s:{}, s:s, s:s}", "metadata", "status", "Failure", "message", failure);
    } else if (x->exit_code == 0) {
        st = json_pack("{s:{}, s:s}", "metadata", "status", "Success");
    } else {
        _cleanup_free_ char *cmd = command_line(x);
        _cleanup_free_ char *msg = k3c_xasprintf("command terminated with non-zero exit code: "
                                                 "error executing command [%s], exit code %d",
                                                 cmd, x->exit_code);
        char code[16];

        snprintf(code, sizeof(code), "%d", x->exit_code);
        st = json_pack("{s:{}, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}}", "metadata", "status", "Failure",
                       "message", msg, "reason", "NonZeroExitCode", "details", "causes", "reason",
                       "ExitCode", "message", code);
    }
    text = json_dumps(st, JSON_COMPACT);
    queue_channel(x, CH_ERROR, text, strlen(text));
    x->status_sent = true;
}

/* The close frame goes after everything queued (wslay sends control frames
 * ahead of data). True once it is queued. */
static bool
close_after_data(struct exec_session *x)
{
    if (!wslay_event_get_close_sent(x->ws) && wslay_event_get_queued_msg_count(x->ws) == 0)
        wslay_event_queue_close(x->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
    return wslay_event_get_close_sent(x->ws) || wslay_event_get_queued_msg_count(x->ws) > 0;
}

/* Over once the status and our close frame are out and the client's close
 * frame is in. Closing with its frames still unread (stdin typed after the
 * command ended, say) resets the connection, and the reset can cost the
 * client the status still in flight on the way to it. */
static bool
session_done(struct exec_session *x)
{
    if (x->spdy) {
        if (x->status_sent && !x->sp_fin_sent) {
            /* Every stream of ours ends after the status, as upstream's. */
            for (int ch = 0; ch <= CH_RESIZE; ch++)
                if (x->sp_stream[ch])
                    spdy_write_data(&x->sp_out, x->sp_stream[ch], NULL, 0, true);
            x->sp_fin_sent = true;
        }
        /* As upstream's spdystream: the connection stays until the client
         * closes it. kubectl takes a close before it has read the status
         * for an empty error stream, which it reports as exit code 0. */
        return x->sp_fin_sent && x->sp_out.len == 0 && x->sp_gone;
    }
    return x->status_sent && close_after_data(x) && wslay_event_get_close_sent(x->ws) &&
           !wslay_event_want_write(x->ws) && !wslay_event_want_read(x->ws);
}

/* attach: out_fd is conmon's socket (packets: stream byte + data), and
 * stdin_fd a second fd of it when stdin is wanted. */
static int
start_attach(struct exec_session *x, struct k3c_err *err)
{
    _cleanup_free_ char *path = runtime_attach_socket(x->srv->runtime, x->id);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return k3c_err_set(err, K3C_E_INTERNAL, "attach socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        close(fd);
        return k3c_err_sys(err, e, "(container %s) attach", x->id);
    }
    x->started = true;
    x->proc.stdout_fd = x->out_fd = fd;
    x->proc.stdin_fd = x->want_stdin ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    set_nonblock(fd);
    set_nonblock(x->proc.stdin_fd);
    return 0;
}

static int
start_process(struct exec_session *x, struct k3c_err *err)
{
    int rc;

    if (x->attach)
        return start_attach(x, err);
    if (x->tty)
        rc = runtime_exec_start_tty(x->srv->runtime, x->id, (const char *const *)x->argv, 0, 0,
                                    &x->proc, err);
    else
        rc =
            runtime_exec_start(x->srv->runtime, x->id, (const char *const *)x->argv, &x->proc, err);
    if (rc < 0)
        return -1;
    x->started = true;
    x->out_fd = x->proc.stdout_fd;
    x->err_fd = x->proc.stderr_fd;
    if (!x->want_stdin && !x->tty) {
        close(x->proc.stdin_fd);
        x->proc.stdin_fd = -1;
    }
    set_nonblock(x->proc.stdin_fd);
    set_nonblock(x->out_fd);
    set_nonblock(x->err_fd);
    return 0;
}

/* Reads what fd has and sends it on ch; closes nothing, returns false at
 * EOF (EIO on a pty whose other side is gone). */
static bool
pump_output(struct exec_session *x, int fd, int ch, bool forward)
{
    char buf[32768];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0 && x->attach) {
        /* One conmon packet: the stream, then the data. */
        ch = buf[0] == 3 && !x->tty ? CH_STDERR : CH_STDOUT; /* conmon: 2 out, 3 err */
        forward = ch == CH_STDERR ? x->want_stderr : x->want_stdout;
        if (forward && n > 1)
            queue_channel(x, ch, buf + 1, (size_t)n - 1);
        return true;
    }
    if (n > 0) {
        if (forward)
            queue_channel(x, ch, buf, (size_t)n);
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static void
pump_stdin(struct exec_session *x)
{
    int fd = x->proc.stdin_fd;

    if (fd < 0)
        return;
    if (x->stdin_pending.len) {
        ssize_t n = write(fd, x->stdin_pending.data, x->stdin_pending.len);

        if (n > 0)
            k3c_buf_consume(&x->stdin_pending, (size_t)n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            k3c_buf_reset(&x->stdin_pending);
    }
    if (x->stdin_close && !x->stdin_pending.len && !x->tty) {
        close(x->proc.stdin_fd);
        x->proc.stdin_fd = -1;
    } else if (x->stdin_close && !x->stdin_pending.len && x->tty) {
        /* A terminal has no half-close: the master stays open for output. */
        x->stdin_close = false;
        x->want_stdin = false;
    }
}

static void
check_exit(struct exec_session *x)
{
    int status;

    if (x->attach && x->started && x->out_fd < 0) {
        x->exited = true; /* conmon closed the socket: the container is gone */
        return;
    }
    if (x->exited || x->out_fd >= 0 || x->err_fd >= 0 || x->proc.pid <= 0)
        return;
    if (waitpid(x->proc.pid, &status, WNOHANG) == x->proc.pid) {
        x->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        x->proc.pid = 0;
        x->exited = true;
    }
}

static void
process_end(struct exec_session *x)
{
    int *fds[] = {&x->proc.stdin_fd, &x->proc.stdout_fd, &x->proc.stderr_fd};
    struct k3c_err err = {0};
    int code;

    if (!x->started)
        return;
    if (x->proc.pid > 0) {
        /* The client left first: runc passes SIGTERM on to the process. */
        kill(x->proc.pid, SIGTERM);
        runtime_exec_wait(&x->proc, EXEC_STOP_WAIT_MS, &code, &err);
        return;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* ---- SPDY/3.1 (kubectl 1.27-1.29) ----------------------------------------- */

static int
spdy_channel_of(const char *type)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", "error", "resize"};

    for (int ch = 0; type && ch <= CH_RESIZE; ch++)
        if (strcmp(type, names[ch]) == 0)
            return ch;
    return -1;
}

/* Every stream the query asked for is open: the command may start. */
static bool
spdy_streams_ready(const struct exec_session *x)
{
    return x->sp_stream[CH_ERROR] && (!x->want_stdin || x->sp_stream[CH_STDIN]) &&
           (!x->want_stdout || x->sp_stream[CH_STDOUT]) &&
           (!x->want_stderr || x->sp_stream[CH_STDERR]) && (!x->tty || x->sp_stream[CH_RESIZE]);
}

static void start_or_fail(struct exec_session *x);

static void
spdy_on_frame(struct exec_session *x, const struct spdy_frame *f)
{
    int ch;

    switch (f->type) {
    case SPDY_SYN_STREAM:
        ch = spdy_channel_of(spdy_header_get(f, "streamtype"));
        if (ch < 0 || x->sp_stream[ch]) {
            spdy_write_rst(&x->sp_out, f->stream_id, SPDY_RST_PROTOCOL_ERROR);
            return;
        }
        x->sp_stream[ch] = f->stream_id;
        spdy_write_syn_reply(x->sp, &x->sp_out, f->stream_id, false);
        if (!x->started && !x->exited && spdy_streams_ready(x))
            start_or_fail(x);
        return;
    case SPDY_DATA:
        if (f->stream_id == x->sp_stream[CH_STDIN] && x->sp_stream[CH_STDIN]) {
            if (x->want_stdin && !x->stdin_close && !x->exited)
                k3c_buf_append(&x->stdin_pending, f->data, f->len);
            if (f->flags & SPDY_FLAG_FIN)
                x->stdin_close = true;
        } else if (f->stream_id == x->sp_stream[CH_RESIZE] && x->sp_stream[CH_RESIZE]) {
            on_resize(x, (const char *)f->data, f->len);
        }
        return;
    case SPDY_PING:
        spdy_write_ping(&x->sp_out, f->value);
        return;
    case SPDY_GOAWAY:
        x->sp_gone = true;
        return;
    default:
        return;
    }
}

/* Parses what came; false on a protocol error. */
static bool
spdy_consume(struct exec_session *x)
{
    size_t off = 0;
    bool ok = true;

    for (;;) {
        struct spdy_frame f;
        struct k3c_err err = {0};
        size_t used = 0;
        int rc = spdy_parse(x->sp, (const uint8_t *)x->sp_in.data + off, x->sp_in.len - off, &used,
                            &f, &err);

        if (rc < 0) {
            log_debug("exec: SPDY: %s", err.msg);
            ok = false;
        }
        if (rc <= 0)
            break;
        spdy_on_frame(x, &f);
        spdy_frame_fini(&f);
        off += used;
    }
    k3c_buf_consume(&x->sp_in, off);
    return ok && x->sp_in.len < (4u << 20);
}

/* ---- the client side, WebSocket or SPDY ------------------------------------ */

static size_t
out_pending(struct exec_session *x)
{
    return x->spdy ? x->sp_out.len : wslay_event_get_queued_msg_length(x->ws);
}

static bool
want_write(struct exec_session *x)
{
    return x->spdy ? x->sp_out.len > 0 : wslay_event_want_write(x->ws);
}

static bool
flush_out(struct exec_session *x)
{
    while (x->spdy && x->sp_out.len) {
        ssize_t n = send(x->sock, x->sp_out.data, x->sp_out.len, MSG_NOSIGNAL);

        if (n > 0) {
            k3c_buf_consume(&x->sp_out, (size_t)n);
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
    return x->spdy || !wslay_event_want_write(x->ws) || wslay_event_send(x->ws) == 0;
}

static bool
client_read(struct exec_session *x)
{
    char buf[32768];
    ssize_t n;

    if (!x->spdy)
        return wslay_event_recv(x->ws) == 0;
    n = recv(x->sock, buf, sizeof(buf), 0);
    if (n > 0) {
        k3c_buf_append(&x->sp_in, buf, (size_t)n);
        return spdy_consume(x);
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static void
start_or_fail(struct exec_session *x)
{
    struct k3c_err err = {0};

    if (start_process(x, &err) < 0) {
        queue_status(x, err.msg);
        x->exited = true;
    }
}

/* ---- the session loop --------------------------------------------------- */

static bool
ws_step(struct exec_session *x, short revents)
{
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !client_read(x))
        return false;
    return flush_out(x);
}

static void
session_loop(struct exec_session *x)
{
    int64_t flush_deadline = x->status_sent ? k3c_now_ms() + EXEC_FLUSH_MS : 0;

    if (x->spdy) {
        k3c_buf_append(&x->sp_in, x->extra, x->extra_len);
        x->extra_off = x->extra_len;
        if (!spdy_consume(x) || !flush_out(x))
            return;
    } else if (x->extra_len && wslay_event_recv(x->ws) != 0) {
        return;
    }
    while (!atomic_load(&x->srv->stopping)) {
        struct pollfd p[5] = {{.fd = x->sock},
                              {.fd = -1},
                              {.fd = -1},
                              {.fd = -1},
                              {.fd = x->conn_fd, .events = POLLRDHUP}};
        bool room = out_pending(x) < EXEC_QUEUE_MAX;

        p[0].events = (short)((x->spdy || wslay_event_want_read(x->ws) ? POLLIN : 0) |
                              (want_write(x) ? POLLOUT : 0));
        if (room && x->out_fd >= 0)
            p[1] = (struct pollfd){.fd = x->out_fd, .events = POLLIN};
        if (room && x->err_fd >= 0)
            p[2] = (struct pollfd){.fd = x->err_fd, .events = POLLIN};
        if (x->stdin_pending.len && x->proc.stdin_fd >= 0)
            p[3] = (struct pollfd){.fd = x->proc.stdin_fd, .events = POLLOUT};
        if (poll(p, 5, x->exited ? 20 : EXEC_POLL_MS) < 0 && errno != EINTR)
            break;
        /* MHD does not pass the client's close on to us: its socket says. */
        if (!ws_step(x, p[0].revents) || (p[4].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            x->peer_gone = !x->status_sent;
            break;
        }
        if (p[1].revents && !pump_output(x, x->out_fd, CH_STDOUT, x->want_stdout))
            x->out_fd = -1;
        if (p[2].revents && !pump_output(x, x->err_fd, CH_STDERR, x->want_stderr))
            x->err_fd = -1;
        pump_stdin(x);
        check_exit(x);
        if (x->exited && !x->status_sent) {
            queue_status(x, NULL);
            flush_deadline = k3c_now_ms() + EXEC_FLUSH_MS;
        }
        if (session_done(x) && x->spdy)
            flush_out(x);
        if (!flush_out(x))
            break;
        if (session_done(x))
            break;
        if (x->status_sent && k3c_now_ms() > flush_deadline)
            break;
        if ((x->spdy ? x->sp_gone : wslay_event_get_close_received(x->ws)) && !x->status_sent) {
            x->peer_gone = true;
            break;
        }
    }
}

static void *
session_thread(void *arg)
{
    struct exec_session *x = arg;
    struct kubelet_server *s = x->srv;
    struct wslay_event_callbacks cb = {
        .recv_callback = ws_recv, .send_callback = ws_send, .on_msg_recv_callback = ws_on_msg};
    set_nonblock(x->sock);
    atomic_fetch_add(&s->exec_active, 1);
    if (x->spdy) {
        session_loop(x); /* starts the command once its streams are open */
    } else if (wslay_event_context_server_init(&x->ws, &cb, x) == 0) {
        wslay_event_config_set_max_recv_msg_length(x->ws, 1 << 20);
        start_or_fail(x);
        session_loop(x);
    }
    if (x->peer_gone)
        log_debug("(container %s) exec: the client left before the command ended", x->id);
    process_end(x);
    /* MHD's TLS relay ends only once the remote side has also closed or
     * sent something, and a peer that waits for our end (the API server's
     * proxy) sends nothing: the connection would stay up for good. The
     * session reads nothing more, so shut the reading side, which ends the
     * relay. Before the close action: after it, the fd may be gone. */
    if (x->conn_fd >= 0)
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
    struct exec_session *x = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_attr_t attr;
    pthread_t t;

    (void)con_cls;
    x->sock = sock;
    x->conn_fd = ci ? ci->connect_fd : -1;
    x->urh = urh;
    if (extra_in_size) {
        x->extra = k3c_xmalloc(extra_in_size);
        memcpy(x->extra, extra_in, extra_in_size);
        x->extra_len = extra_in_size;
    }
    pthread_mutex_lock(&x->srv->lock);
    x->srv->exec_threads++;
    pthread_mutex_unlock(&x->srv->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, session_thread, x) != 0) {
        log_warn("exec: cannot start a session thread");
        pthread_mutex_lock(&x->srv->lock);
        x->srv->exec_threads--;
        pthread_mutex_unlock(&x->srv->lock);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        session_free(x);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the request -------------------------------------------------------- */

static enum MHD_Result
collect_command(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct exec_session *x = cls;

    (void)kind;
    if (strcmp(key, "command") == 0 && value && x->argc < EXEC_MAX_ARGS) {
        x->argv = k3c_xrealloc(x->argv, (x->argc + 2) * sizeof(*x->argv));
        x->argv[x->argc++] = k3c_xstrdup(value);
        x->argv[x->argc] = NULL;
    }
    return MHD_YES;
}

/* The subprotocol we speak from the client's list, or NULL. */
static const char *
pick_protocol(const char *offered)
{
    static const char *const ours[] = {"v5.channel.k8s.io", "v4.channel.k8s.io"};

    if (!offered)
        return NULL;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(ours); i++) {
        const char *p = offered;
        size_t n = strlen(ours[i]);

        while ((p = strstr(p, ours[i]))) {
            if ((p == offered || p[-1] == ' ' || p[-1] == ',') &&
                (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
                return ours[i];
            p += n;
        }
    }
    return NULL;
}

static char *
accept_key(const char *key)
{
    _cleanup_free_ char *s = k3c_xasprintf("%s%s", key, WS_GUID);
    unsigned char digest[20];

    gnutls_hash_fast(GNUTLS_DIG_SHA1, s, strlen(s), digest);
    return k3c_base64_encode(digest, sizeof(digest));
}

struct offer_search {
    const char *token;
    bool found;
};

static enum MHD_Result
find_offer(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct offer_search *o = cls;

    (void)kind;
    if (strcasecmp(key, "X-Stream-Protocol-Version") == 0 && value && strstr(value, o->token))
        o->found = true;
    return MHD_YES;
}

/* The client offers this X-Stream-Protocol-Version (one header per offer). */
static bool
offers_stream_protocol(struct MHD_Connection *conn, const char *token)
{
    struct offer_search o = {.token = token};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, find_offer, &o);
    return o.found;
}

static bool
header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    return v && strcasestr(v, token);
}

int
ks_serve_exec(struct kubelet_server *s, struct MHD_Connection *conn, const struct ks_target *t,
              bool attach)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *proto =
        pick_protocol(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"));
    struct exec_session *x;
    struct MHD_Response *resp;
    struct k3c_err err = {0};
    _cleanup_free_ char *accept = NULL;
    int ret;

    bool spdy =
        header_has(conn, "Upgrade", "SPDY/3.1") && header_has(conn, "Connection", "upgrade");

    if (spdy && !offers_stream_protocol(conn, "v4.channel.k8s.io"))
        return ks_reply_status(conn, 403,
                               "unable to upgrade: unable to negotiate protocol: want "
                               "v4.channel.k8s.io");
    if (!spdy && (!header_has(conn, "Upgrade", "websocket") ||
                  !header_has(conn, "Connection", "upgrade") || !key))
        return ks_reply_status(conn, 400, "exec needs a WebSocket or SPDY/3.1 upgrade");
    if (!proto && !spdy)
        return ks_reply_status(conn, 400,
                               "no supported subprotocol: want v5.channel.k8s.io or "
                               "v4.channel.k8s.io");
    x = k3c_xcalloc(1, sizeof(*x));
    x->srv = s;
    x->sock = x->conn_fd = -1;
    x->out_fd = x->err_fd = -1;
    x->proc.stdin_fd = x->proc.stdout_fd = x->proc.stderr_fd = -1;
    k3c_buf_init(&x->stdin_pending);
    x->v5 = proto && strncmp(proto, "v5", 2) == 0;
    x->spdy = spdy;
    if (spdy) {
        x->sp = spdy_session_new();
        k3c_buf_init(&x->sp_in);
        k3c_buf_init(&x->sp_out);
    }
    x->tty = ks_query_bool(conn, "tty");
    x->want_stdin = ks_query_bool(conn, "input") || ks_query_bool(conn, "stdin");
    x->want_stdout = ks_query_bool(conn, "output") || ks_query_bool(conn, "stdout");
    x->want_stderr = !x->tty && (ks_query_bool(conn, "error") || ks_query_bool(conn, "stderr"));
    x->attach = attach;
    if (!attach)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_command, x);
    if (x->argc == 0 && !attach) {
        session_free(x);
        return ks_reply_status(conn, 400, "you must specify at least 1 command");
    }
    if (!s->runtime || ks_find_running(s, t, x->id, &err) < 0) {
        session_free(x);
        return ks_reply_status(conn, 404, "%s", err.msg[0] ? err.msg : "no container runtime");
    }
    resp = MHD_create_response_for_upgrade(on_upgrade, x);
    if (spdy) {
        MHD_add_response_header(resp, "Upgrade", "SPDY/3.1");
        MHD_add_response_header(resp, "X-Stream-Protocol-Version", "v4.channel.k8s.io");
    } else {
        accept = accept_key(key);
        MHD_add_response_header(resp, "Upgrade", "websocket");
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", proto);
    }
    ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES)
        session_free(x);
    return ret;
}
