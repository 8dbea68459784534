/* SPDX-License-Identifier: Apache-2.0
 * lab_forward.c - how the host reaches a lab's API without an address or a
 * route in the root namespace: `k3c lab forward` listens on 127.0.0.1 in the
 * root namespace and, for each connection, a thread enters the LAN
 * namespace (setns affects only that thread), connects to the VIP or the
 * first server that accepts, and relays bytes both ways (TLS end to end:
 * the servers' certificates carry 127.0.0.1). */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FWD_CONNECT_TIMEOUT_MS 1000
#define FWD_START_TIMEOUT_MS   10000
#define FWD_BUF                65536

/* Shared by the connection threads: l is read-only after start; preferred
 * is the target that worked last, tried first. */
struct fwd {
    struct lab l;
    int lan_fd;
    char targets[LAB_MAX_HOSTS + 1][16];
    int n_targets;
    atomic_int preferred;
};

struct fwd_conn {
    struct fwd *f;
    int client;
};

static int
connect_timeout(const char *ip, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd p;
    int fd, soerr = 0;
    socklen_t len = sizeof(soerr);

    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        goto fail;
    p = (struct pollfd){.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1)
        goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
        goto fail;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
fail:
    close(fd);
    return -1;
}

/* Called in the LAN namespace. */
static int
fwd_connect(struct fwd *f)
{
    int first = atomic_load(&f->preferred);

    for (int k = 0; k < f->n_targets; k++) {
        int i = (first + k) % f->n_targets;
        int fd = connect_timeout(f->targets[i], LAB_API_PORT, FWD_CONNECT_TIMEOUT_MS);

        if (fd >= 0) {
            atomic_store(&f->preferred, i);
            return fd;
        }
    }
    return -1;
}

/* Copies what is readable on from to to; false on EOF or an error. */
static bool
relay_once(int from, int to, char *buf)
{
    ssize_t n = read(from, buf, FWD_BUF);

    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *
fwd_conn_thread(void *arg)
{
    struct fwd_conn *c = arg;
    _cleanup_free_ char *buf = k3c_xmalloc(FWD_BUF);
    int up = -1;
    bool open_c = true, open_u = true;

    if (setns(c->f->lan_fd, CLONE_NEWNET) == 0)
        up = fwd_connect(c->f);
    if (up < 0) {
        log_warn("(forward) no server of the lab accepts connections");
        goto out;
    }
    while (open_c || open_u) {
        struct pollfd p[2] = {{.fd = open_c ? c->client : -1, .events = POLLIN},
                              {.fd = open_u ? up : -1, .events = POLLIN}};

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents && !relay_once(c->client, up, buf)) {
            open_c = false;
            shutdown(up, SHUT_WR);
        }
        if (p[1].revents && !relay_once(up, c->client, buf)) {
            open_u = false;
            shutdown(c->client, SHUT_WR);
        }
        if (((p[0].revents | p[1].revents) & (POLLERR | POLLNVAL)))
            break;
    }
out:
    if (up >= 0)
        close(up);
    close(c->client);
    free(c);
    return NULL;
}

static int
fwd_listen(int port, int *port_out, struct k3c_err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        k3c_err_sys(err, errno, "listen on 127.0.0.1:%d", port);
        close(fd);
        return -1;
    }
    *port_out = ntohs(sa.sin_port);
    return fd;
}

int
lab_forward_run(const char *dir, struct k3c_err *err)
{
    _cleanup_free_ struct fwd *f = k3c_xcalloc(1, sizeof(*f));
    _cleanup_free_ char *lan = NULL, *portfile = NULL;
    _cleanup_close_ int lfd = -1;
    char text[16];
    int port = 0;

    signal(SIGPIPE, SIG_IGN);
    if (lab_load(&f->l, dir, err) < 0)
        return -1;
    if (f->l.vip_flag && f->l.vip[0])
        memcpy(f->targets[f->n_targets++], f->l.vip, sizeof(f->l.vip));
    for (size_t i = 0; i < f->l.n_hosts; i++)
        if (f->l.hosts[i].role == LAB_ROLE_SERVER)
            memcpy(f->targets[f->n_targets++], f->l.hosts[i].ip, sizeof(f->l.hosts[i].ip));
    lan = k3c_xasprintf("/run/netns/%s-lan", f->l.prefix);
    f->lan_fd = net_netns_open(lan, err);
    if (f->lan_fd < 0)
        return -1;
    lfd = fwd_listen(f->l.port, &port, err);
    if (lfd < 0)
        return -1;
    portfile = k3c_xasprintf("%s/forwarder.port", f->l.dir);
    snprintf(text, sizeof(text), "%d\n", port);
    if (k3c_write_file(portfile, text, strlen(text), 0644, err) < 0)
        return -1;
    log_info("(forward) 127.0.0.1:%d -> %s:%d in %s-lan", port, f->targets[0], LAB_API_PORT,
             f->l.prefix);
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        struct fwd_conn *conn;
        pthread_attr_t attr;
        pthread_t t;

        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            return k3c_err_sys(err, errno, "accept");
        }
        conn = k3c_xmalloc(sizeof(*conn));
        *conn = (struct fwd_conn){.f = f, .client = c};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&t, &attr, fwd_conn_thread, conn) != 0) {
            close(c);
            free(conn);
        }
        pthread_attr_destroy(&attr);
    }
}

int
lab_forward_start(struct lab *l, struct k3c_err *err)
{
    _cleanup_free_ char *self = lab_self_exe();
    _cleanup_free_ char *log = k3c_xasprintf("%s/forwarder.log", l->dir);
    _cleanup_free_ char *portfile = k3c_xasprintf("%s/forwarder.port", l->dir);
    _cleanup_free_ char *pidfile = k3c_xasprintf("%s/forwarder.pid", l->dir);
    const char *argv[] = {self, "lab", "forward", "--dir", l->dir, NULL};
    int64_t deadline = k3c_now_ms() + FWD_START_TIMEOUT_MS;
    char text[32];
    pid_t pid;

    unlink(portfile);
    pid = lab_spawn(NULL, argv, log, err);
    if (pid < 0)
        return -1;
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (k3c_write_file(pidfile, text, strlen(text), 0644, err) < 0)
        return -1;
    while (k3c_now_ms() < deadline) {
        _cleanup_free_ char *p = NULL;
        struct k3c_err e2 = {0};
        size_t len;

        if (k3c_read_file(portfile, &p, &len, &e2) == 0) {
            l->port = (int)strtol(p, NULL, 10);
            return 0;
        }
        if (kill(pid, 0) < 0)
            break;
        k3c_sleep_ms(50);
    }
    return k3c_err_set(err, K3C_E_INTERNAL, "the API forwarder did not start (see %s)", log);
}
