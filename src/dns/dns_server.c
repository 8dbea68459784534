/* SPDX-License-Identifier: Apache-2.0
 * dns_server.c - the DNS listener: one loop thread with epoll over the UDP
 * socket, the TCP listener and its connections (RFC 7766 framing, idle
 * timeout), and the forwarder's upstream sockets. A query is answered from
 * the hosts file, then the cluster zone, then the forwarder (cache or
 * upstream). Cluster answers take microseconds under the zone's read lock;
 * upstream answers come back on the same loop when they arrive, so nothing
 * waits on a slow upstream. */
#define LOG_COMPONENT "dns"
#include "dns/dns-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"

#define TCP_MAX_CONNS 256
#define TCP_IDLE_MS   10000
#define TCP_QUERY_MAX 4096 /* queries are small; more is not a query */
#define UDP_BATCH     64   /* datagrams per wake-up before looking at TCP */
#define HOUSEKEEP_MS  2000 /* hosts file and resolv.conf change checks */

struct dns_tcp_conn {
    struct dns_ev ev; /* first: the epoll tag */
    struct dns_tcp_conn *prev, *next;
    int refs; /* the server's while open, one per query in flight */
    bool closed;
    int64_t last_ms;
    uint8_t rbuf[2 + TCP_QUERY_MAX];
    size_t rlen;
    struct k3c_buf wbuf;
};

struct dns_server {
    int epfd;
    struct dns_ev udp, tcp, stop;
    int port;
    struct dns_zone *zone;
    struct dns_hosts *hosts;
    struct dns_fwd *fwd;
    struct dns_tcp_conn *conns;
    size_t n_conns;
    pthread_t thread;
    bool running;
    uint8_t in[DNS_MSG_MAX];
    uint8_t out[DNS_MSG_MAX];
    uint8_t scratch[DNS_MSG_MAX]; /* a chased CNAME target's zone answer */
};

static int
ep_add(int epfd, struct dns_ev *ev, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = ev};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, ev->fd, &e);
}

static int
bind_socket(int type, const struct sockaddr_storage *ss, socklen_t len, struct k3c_err *err)
{
    int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return k3c_err_sys(err, errno, "dns socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* The node's DNS binds before its address exists (dns_node.c). */
    if (ss->ss_family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
    else
        setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
        int e = errno;
        close(fd);
        return k3c_err_sys(err, e, "dns bind");
    }
    if (type == SOCK_STREAM && listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return k3c_err_sys(err, e, "dns listen");
    }
    return fd;
}

static int
listen_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len,
            struct k3c_err *err)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (ip && inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return 0;
    }
    if (ip && inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    return k3c_err_set(err, K3C_E_INVALID, "dns listen address '%s' is not an IP address",
                       ip ? ip : "");
}

/* UDP and TCP on the same port; with port 0 the kernel picks the UDP
 * port and TCP takes the same (retried: another process may hold it). */
static int
bind_both(struct dns_server *s, const char *ip, int port, struct k3c_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;

    for (int attempt = 0; attempt < 20; attempt++) {
        if (listen_addr(ip, port, &ss, &len, err) < 0)
            return -1;
        s->udp.fd = bind_socket(SOCK_DGRAM, &ss, len, err);
        if (s->udp.fd < 0)
            return k3c_err_wrap(err, "%s:%d/udp", ip, port);
        struct sockaddr_storage got;
        socklen_t gl = sizeof(got);
        getsockname(s->udp.fd, (struct sockaddr *)&got, &gl);
        int p = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                               : ((struct sockaddr_in6 *)&got)->sin6_port);
        listen_addr(ip, p, &ss, &len, err);
        s->tcp.fd = bind_socket(SOCK_STREAM, &ss, len, err);
        if (s->tcp.fd >= 0) {
            s->port = p;
            return 0;
        }
        close(s->udp.fd);
        s->udp.fd = -1;
        if (port != 0)
            return k3c_err_wrap(err, "%s:%d/tcp", ip, port);
    }
    return -1;
}

struct dns_server *
dns_server_new(const struct dns_server_config *cfg, struct k3c_err *err)
{
    struct dns_server *s = k3c_xcalloc(1, sizeof(*s));
    int port = cfg->port == 0 ? 53 : cfg->port < 0 ? 0 : cfg->port;

    s->udp = (struct dns_ev){.kind = DNS_EV_UDP, .fd = -1};
    s->tcp = (struct dns_ev){.kind = DNS_EV_TCP_LISTEN, .fd = -1};
    s->stop = (struct dns_ev){.kind = DNS_EV_STOP, .fd = -1};
    s->zone = cfg->zone;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        k3c_err_sys(err, errno, "epoll");
        goto fail;
    }
    if (bind_both(s, cfg->listen_ip, port, err) < 0)
        goto fail;
    s->stop.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->stop.fd < 0 || ep_add(s->epfd, &s->udp, EPOLLIN) < 0 ||
        ep_add(s->epfd, &s->tcp, EPOLLIN) < 0 || ep_add(s->epfd, &s->stop, EPOLLIN) < 0) {
        k3c_err_sys(err, errno, "dns epoll");
        goto fail;
    }
    s->fwd = dns_fwd_new(cfg, s, s->epfd, err);
    if (!s->fwd)
        goto fail;
    if (cfg->hosts_file && *cfg->hosts_file)
        s->hosts = dns_hosts_new(cfg->hosts_file);
    return s;
fail:
    dns_server_free(s);
    return NULL;
}

int
dns_server_port(const struct dns_server *s)
{
    return s->port;
}

/* A truncated copy of msg: its header and question only, TC set. */
static size_t
truncated(const uint8_t *msg, size_t len, uint8_t *out)
{
    struct dns_name n;
    size_t off = DNS_HEADER_LEN;

    if (len < DNS_HEADER_LEN || dns_name_read(msg, len, &off, &n) < 0 || off + 4 > len)
        off = DNS_HEADER_LEN;
    else
        off += 4;
    memmove(out, msg, off);
    out[2] |= 0x02;
    out[4] = 0;
    out[5] = off > DNS_HEADER_LEN;
    memset(out + 6, 0, 6);
    return off;
}

/* noinline: inlined, gcc 12 -O3 sees the free() on paths that the hold in
 * tcp_event rules out and fails the release build with -Wuse-after-free. */
static __attribute__((noinline)) void
conn_unref(struct dns_server *s, struct dns_tcp_conn *c)
{
    (void)s;
    if (--c->refs > 0)
        return;
    k3c_buf_fini(&c->wbuf);
    free(c);
}

static void
conn_close(struct dns_server *s, struct dns_tcp_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    close(c->ev.fd);
    c->ev.fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    conn_unref(s, c);
}

static void
conn_flush(struct dns_server *s, struct dns_tcp_conn *c)
{
    while (c->wbuf.len) {
        ssize_t n = send(c->ev.fd, c->wbuf.data, c->wbuf.len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(s, c);
            return;
        }
        k3c_buf_consume(&c->wbuf, (size_t)n);
    }
    struct epoll_event e = {.events = EPOLLIN | (c->wbuf.len ? EPOLLOUT : 0), .data.ptr = &c->ev};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->ev.fd, &e);
}

void
dns_server_deliver(struct dns_server *s, const struct dns_client *c, const uint8_t *msg, size_t len)
{
    if (c->tcp) {
        uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
        if (c->conn->closed)
            return;
        k3c_buf_append(&c->conn->wbuf, l, 2);
        k3c_buf_append(&c->conn->wbuf, msg, len);
        conn_flush(s, c->conn);
        return;
    }
    uint8_t tbuf[DNS_UDP_MIN];
    if (len > c->udp_max) {
        size_t hl = truncated(msg, len > DNS_UDP_MIN ? DNS_UDP_MIN : len, tbuf);
        msg = tbuf;
        len = hl;
    }
    if (sendto(s->udp.fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)&c->addr, c->addr_len) <
        0)
        log_debug("(dns) send: %s", strerror(errno));
}

void
dns_client_hold(struct dns_client *c)
{
    if (c->tcp)
        c->conn->refs++;
}

void
dns_client_release(struct dns_server *s, struct dns_client *c)
{
    if (c->tcp && c->conn) {
        conn_unref(s, c->conn);
        c->conn = NULL;
    }
}

/* An ExternalName's CNAME answer for q (in s->out, n bytes): as CoreDNS,
 * the target's addresses are added, from the zone when it is a cluster
 * name, else through the forwarder (cache or upstream, then later).
 * Returns the length of the answer ready in s->out, or 0 when it will
 * come from the forwarder. */
static size_t
chase_cname(struct dns_server *s, const struct dns_query *q, size_t n, struct dns_client *c)
{
    struct dns_chase ch = {.orig = *q};
    uint8_t qbuf[DNS_NAME_MAX + 64];

    if (!dns_answer_is_cname(s->out, n, &ch.target, &ch.ttl) ||
        dns_name_equal(&ch.target, &q->qname))
        return n;
    struct dns_query tq = *q;
    tq.qname = ch.target;
    size_t tn = s->zone ? dns_zone_answer(s->zone, &tq, s->scratch, sizeof(s->scratch)) : 0;
    if (tn) {
        /* one level inside the zone; a longer chain is the client's to follow */
        size_t m =
            dns_reply_cname_chain(q, &ch.target, ch.ttl, s->scratch, tn, s->out, sizeof(s->out));
        return m ? m : n;
    }
    size_t ql = dns_query_encode(&tq, qbuf, sizeof(qbuf));
    if (!ql)
        return n;
    return dns_fwd_query_chase(s->fwd, &tq, qbuf, ql, c, &ch, s->out, sizeof(s->out));
}

/* One query from c: hosts, zone, forwarder; answers what is ready now. */
static void
handle_query(struct dns_server *s, const uint8_t *msg, size_t len, struct dns_client *c)
{
    struct dns_query q;
    size_t n = 0;
    int rc = dns_query_parse(msg, len, &q);

    if (rc < 0)
        return;
    c->udp_max = c->tcp ? DNS_MSG_MAX : q.udp_max;
    if (rc > 0)
        n = dns_reply_error(&q, rc, false, s->out, sizeof(s->out));
    if (!n && s->hosts)
        n = dns_hosts_answer(s->hosts, &q, s->out, sizeof(s->out));
    if (!n && s->zone) {
        n = dns_zone_answer(s->zone, &q, s->out, sizeof(s->out));
        if (n && (q.qtype == DNS_TYPE_A || q.qtype == DNS_TYPE_AAAA)) {
            n = chase_cname(s, &q, n, c);
            if (!n)
                return; /* the chased answer comes from the forwarder */
        }
    }
    if (!n)
        n = dns_fwd_query(s->fwd, &q, msg, len, c, s->out, sizeof(s->out));
    if (n)
        dns_server_deliver(s, c, s->out, n);
}

static void
udp_readable(struct dns_server *s)
{
    for (int i = 0; i < UDP_BATCH; i++) {
        struct dns_client c = {.addr_len = sizeof(c.addr)};
        ssize_t n =
            recvfrom(s->udp.fd, s->in, sizeof(s->in), 0, (struct sockaddr *)&c.addr, &c.addr_len);
        if (n < 0)
            return;
        handle_query(s, s->in, (size_t)n, &c);
    }
}

static void
tcp_accept(struct dns_server *s)
{
    for (;;) {
        int fd = accept4(s->tcp.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n_conns >= TCP_MAX_CONNS) {
            close(fd);
            continue;
        }
        struct dns_tcp_conn *c = k3c_xcalloc(1, sizeof(*c));
        c->ev = (struct dns_ev){.kind = DNS_EV_TCP_CONN, .fd = fd};
        c->refs = 1;
        c->last_ms = k3c_now_ms();
        k3c_buf_init(&c->wbuf);
        if (ep_add(s->epfd, &c->ev, EPOLLIN) < 0) {
            close(fd);
            k3c_buf_fini(&c->wbuf);
            free(c);
            continue;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
    }
}

static void
tcp_event(struct dns_server *s, struct dns_tcp_conn *c, uint32_t events)
{
    if (events & EPOLLOUT)
        conn_flush(s, c);
    if (c->closed || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    c->refs++; /* handle_query may close it */
    for (;;) {
        ssize_t n = recv(c->ev.fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(s, c);
            break;
        }
        c->rlen += (size_t)n;
        c->last_ms = k3c_now_ms();
        while (!c->closed && c->rlen >= 2) {
            size_t want = (size_t)(c->rbuf[0] << 8 | c->rbuf[1]);
            if (want > TCP_QUERY_MAX || want == 0) {
                conn_close(s, c);
                break;
            }
            if (c->rlen < 2 + want)
                break;
            struct dns_client cl = {.tcp = true, .conn = c};
            memcpy(s->in, c->rbuf + 2, want);
            memmove(c->rbuf, c->rbuf + 2 + want, c->rlen - 2 - want);
            c->rlen -= 2 + want;
            handle_query(s, s->in, want, &cl);
        }
        if (c->closed)
            break;
    }
    conn_unref(s, c);
}

static void
housekeep(struct dns_server *s, int64_t now)
{
    struct dns_tcp_conn *c = s->conns, *nx;

    for (; c; c = nx) {
        nx = c->next;
        if (now - c->last_ms > TCP_IDLE_MS)
            conn_close(s, c);
    }
    if (s->hosts)
        dns_hosts_reload(s->hosts);
    dns_fwd_reload(s->fwd);
}

static void *
loop_thread(void *arg)
{
    struct dns_server *s = arg;
    struct epoll_event evs[64];
    int64_t next_housekeep = k3c_now_ms() + HOUSEKEEP_MS;

    for (;;) {
        int64_t now = k3c_now_ms();
        int wait = dns_fwd_tick(s->fwd, now);
        if (now >= next_housekeep) {
            housekeep(s, now);
            next_housekeep = now + HOUSEKEEP_MS;
        }
        int until_hk = (int)(next_housekeep - now);
        if (wait < 0 || wait > until_hk)
            wait = until_hk;
        int n = epoll_wait(s->epfd, evs, 64, wait);
        for (int i = 0; i < n; i++) {
            struct dns_ev *ev = evs[i].data.ptr;
            switch (ev->kind) {
            case DNS_EV_STOP:
                return NULL;
            case DNS_EV_UDP:
                udp_readable(s);
                break;
            case DNS_EV_TCP_LISTEN:
                tcp_accept(s);
                break;
            case DNS_EV_TCP_CONN:
                tcp_event(s, (struct dns_tcp_conn *)ev, evs[i].events);
                break;
            case DNS_EV_UPSTREAM:
                dns_fwd_event(s->fwd, ev, evs[i].events);
                break;
            }
        }
    }
}

int
dns_server_start(struct dns_server *s, struct k3c_err *err)
{
    int rc = pthread_create(&s->thread, NULL, loop_thread, s);

    if (rc != 0)
        return k3c_err_sys(err, rc, "dns thread");
    pthread_setname_np(s->thread, "k3c-dns");
    s->running = true;
    return 0;
}

void
dns_server_free(struct dns_server *s)
{
    if (!s)
        return;
    if (s->running) {
        uint64_t one = 1;
        if (write(s->stop.fd, &one, sizeof(one)) < 0)
            log_warn("(dns) stop: %s", strerror(errno));
        pthread_join(s->thread, NULL);
    }
    while (s->conns)
        conn_close(s, s->conns);
    dns_fwd_free(s->fwd); /* after the conns: pending queries drop their refs */
    dns_hosts_free(s->hosts);
    if (s->udp.fd >= 0)
        close(s->udp.fd);
    if (s->tcp.fd >= 0)
        close(s->tcp.fd);
    if (s->stop.fd >= 0)
        close(s->stop.fd);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s);
}
