/* SPDX-License-Identifier: Apache-2.0
 * dns_forward.c - names outside the cluster zone go to upstream servers:
 * the nameservers of resolv.conf (loopback stubs skipped, as K3s does) or
 * per-domain rules. Each query in flight has its own connected UDP socket
 * (a fresh source port and a random ID against spoofed answers), a
 * deadline per try, the next upstream on timeout, SERVFAIL or REFUSED, and
 * a TCP retry on the same upstream when the answer is truncated. All of it
 * is non-blocking on the server's loop, so a slow upstream delays only its
 * own queries. Answers are cached (success and denial, TTL capped at 30 s
 * as K3s's Corefile "cache 30"), bounded in entries with LRU eviction. */
#define LOG_COMPONENT "dns"
#include "dns/dns-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define CACHE_MAX_TTL    30
#define CACHE_DENIAL_TTL 5   /* denial without an SOA */
#define MAX_PENDING      512 /* each holds a socket: well inside RLIMIT_NOFILE */
#define MAX_TRIES        3
#define DEFAULT_UPSTREAM "8.8.8.8"
#define SYSTEMD_RESOLV   "/run/systemd/resolve/resolv.conf"
#define DEFAULT_RESOLV   "/etc/resolv.conf"

struct upstream {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[64];
};

struct fwd_rule {
    struct dns_name domain; /* lowercase; the root for the default */
    struct upstream *ups;
    size_t n_ups;
    size_t next; /* round robin start */
};

/* ---- cache ---- */

struct cache_ent {
    struct cache_ent *hnext;         /* hash chain */
    struct cache_ent *lprev, *lnext; /* LRU list, most recent first */
    int64_t stored_ms, expire_ms;
    uint8_t *key;
    size_t key_len;
    uint8_t *msg;
    size_t len;
};

struct cache {
    struct cache_ent **b;
    size_t nb, n, max;
    struct cache_ent *head, *tail;
};

/* ---- queries in flight ---- */

enum pend_state { PEND_UDP, PEND_TCP_CONNECT, PEND_TCP_WRITE, PEND_TCP_READ };

struct pending {
    struct dns_ev ev; /* first: the epoll tag */
    struct pending *prev, *next;
    enum pend_state state;
    struct dns_client client;
    uint16_t client_id, up_id;
    struct dns_name qname;
    uint16_t qtype, qclass;
    uint8_t key[DNS_NAME_MAX + 5];
    size_t key_len;
    uint8_t *query; /* with up_id */
    size_t query_len;
    struct fwd_rule *rule;
    size_t up; /* index in rule->ups */
    int tries;
    int64_t deadline;
    uint8_t *tcp_buf; /* 2-byte length + message */
    size_t tcp_have, tcp_want;
    struct dns_chase *chase; /* an ExternalName's target: answer chase->orig */
};

struct dns_fwd {
    struct dns_server *server;
    int epfd;
    int timeout_ms;
    char *resolv_path;
    bool resolv_default; /* no --resolv-conf: the host's file */
    struct stat resolv_st;
    struct fwd_rule *rules; /* rules[0]: the default (root) */
    size_t n_rules;
    bool root_rule_configured; /* a "." rule replaces resolv.conf */
    struct cache cache;
    struct pending *pend;
    size_t n_pend;
    uint8_t buf[DNS_MSG_MAX];
    uint8_t merge[DNS_MSG_MAX]; /* chased answers */
};

static uint16_t
rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* "ip", "ip:port", "[v6]:port". */
static int
upstream_parse(const char *s, struct upstream *u, struct k3c_err *err)
{
    char host[64], port[8] = "53";
    const char *colon = strrchr(s, ':');
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || (size_t)(end - s - 1) >= sizeof(host))
            return k3c_err_set(err, K3C_E_INVALID, "upstream '%s': bad address", s);
        snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
        if (end[1] == ':')
            snprintf(port, sizeof(port), "%s", end + 2);
    } else if (colon && strchr(s, ':') == colon) { /* one colon: IPv4 with a port */
        snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", s);
    }
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return k3c_err_set(err, K3C_E_INVALID, "upstream '%s': not an IP address[:port]", s);
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->len = res->ai_addrlen;
    snprintf(u->text, sizeof(u->text), "%s", s);
    freeaddrinfo(res);
    return 0;
}

static void
rule_push_upstream(struct fwd_rule *r, const struct upstream *u)
{
    r->ups = k3c_xrealloc(r->ups, (r->n_ups + 1) * sizeof(*r->ups));
    r->ups[r->n_ups++] = *u;
}

static void
name_lower(struct dns_name *n)
{
    for (size_t i = 0; i < n->len; i++)
        n->wire[i] = (uint8_t)tolower(n->wire[i]);
}

/* "domain=ip[:port][,ip[:port]...]" */
static int
rule_add(struct dns_fwd *f, const char *spec, struct k3c_err *err)
{
    const char *eq = strchr(spec, '=');
    struct fwd_rule r = {0};

    if (!eq || eq == spec || !eq[1])
        return k3c_err_set(err, K3C_E_INVALID,
                           "dns forward rule '%s': want DOMAIN=IP[:PORT][,IP[:PORT]...]", spec);
    _cleanup_free_ char *dom = k3c_xstrndup(spec, (size_t)(eq - spec));
    _cleanup_free_ char *list = k3c_xstrdup(eq + 1);
    if (dns_name_from_str(&r.domain, dom) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "dns forward rule '%s': bad domain", spec);
    name_lower(&r.domain);
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        struct upstream u;
        if (upstream_parse(a, &u, err) < 0) {
            free(r.ups);
            return k3c_err_wrap(err, "dns forward rule '%s'", spec);
        }
        rule_push_upstream(&r, &u);
    }
    if (r.n_ups == 0)
        return k3c_err_set(err, K3C_E_INVALID, "dns forward rule '%s': no upstream", spec);
    /* Repeating a domain adds servers to it; the first "." replaces the
     * resolv.conf upstreams. */
    struct fwd_rule *same = NULL;
    if (r.domain.n_labels == 0 && !f->root_rule_configured) {
        free(f->rules[0].ups);
        f->rules[0] = r;
        f->root_rule_configured = true;
        return 0;
    }
    for (size_t i = 0; i < f->n_rules && !same; i++)
        if (dns_name_equal(&f->rules[i].domain, &r.domain))
            same = &f->rules[i];
    if (same) {
        for (size_t i = 0; i < r.n_ups; i++)
            rule_push_upstream(same, &r.ups[i]);
        free(r.ups);
        return 0;
    }
    f->rules = k3c_xrealloc(f->rules, (f->n_rules + 1) * sizeof(*f->rules));
    f->rules[f->n_rules++] = r;
    return 0;
}

/* The default upstreams from resolv.conf, without loopback stubs. */
static void
resolv_upstreams(struct dns_fwd *f)
{
    struct fwd_rule *r = &f->rules[0];
    struct dns_resolv rc = {0};
    struct k3c_err err = {0};
    const char *path = f->resolv_path;

    if (f->root_rule_configured)
        return;
    free(r->ups);
    r->ups = NULL;
    r->n_ups = 0;
    for (int pass = 0; pass < 2 && r->n_ups == 0; pass++) {
        if (pass == 1) {
            if (!f->resolv_default || !k3c_file_exists(SYSTEMD_RESOLV))
                break;
            path = SYSTEMD_RESOLV;
        }
        if (dns_resolv_load(path, &rc, &err) < 0) {
            log_warn("(dns) %s", err.msg);
            continue;
        }
        for (size_t i = 0; rc.nameservers && rc.nameservers[i]; i++) {
            struct upstream u;
            if (dns_addr_is_loopback(rc.nameservers[i]))
                continue;
            if (upstream_parse(rc.nameservers[i], &u, &err) == 0)
                rule_push_upstream(r, &u);
        }
        dns_resolv_fini(&rc);
    }
    if (r->n_ups == 0) {
        struct upstream u;
        log_warn("(dns) %s lists no usable nameserver (loopback stubs are skipped): forwarding to "
                 "%s",
                 f->resolv_path, DEFAULT_UPSTREAM);
        upstream_parse(DEFAULT_UPSTREAM, &u, &err);
        rule_push_upstream(r, &u);
    }
    for (size_t i = 0; i < r->n_ups; i++)
        log_info("(dns) upstream %s", r->ups[i].text);
}

void
dns_fwd_reload(struct dns_fwd *f)
{
    struct stat st;

    if (f->root_rule_configured || stat(f->resolv_path, &st) < 0)
        return;
    if (st.st_mtim.tv_sec == f->resolv_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == f->resolv_st.st_mtim.tv_nsec && st.st_ino == f->resolv_st.st_ino &&
        st.st_size == f->resolv_st.st_size)
        return;
    f->resolv_st = st;
    resolv_upstreams(f);
}

struct dns_fwd *
dns_fwd_new(const struct dns_server_config *cfg, struct dns_server *s, int epfd,
            struct k3c_err *err)
{
    struct dns_fwd *f = k3c_xcalloc(1, sizeof(*f));

    f->server = s;
    f->epfd = epfd;
    f->timeout_ms = cfg->upstream_timeout_ms > 0 ? cfg->upstream_timeout_ms : 2000;
    f->resolv_default = !cfg->resolv_conf;
    f->resolv_path = k3c_xstrdup(cfg->resolv_conf ? cfg->resolv_conf : DEFAULT_RESOLV);
    f->rules = k3c_xcalloc(1, sizeof(*f->rules));
    f->n_rules = 1;
    dns_name_from_str(&f->rules[0].domain, ".");
    f->cache.max = cfg->cache_entries > 0 ? (size_t)cfg->cache_entries : 10000;
    for (size_t i = 0; cfg->forward && cfg->forward[i]; i++) {
        if (rule_add(f, cfg->forward[i], err) < 0) {
            dns_fwd_free(f);
            return NULL;
        }
    }
    dns_fwd_reload(f);
    if (!f->root_rule_configured && f->rules[0].n_ups == 0)
        resolv_upstreams(f); /* the file is missing: still the fallback */
    return f;
}

static void
cache_unlink(struct cache *c, struct cache_ent *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void
cache_push_front(struct cache *c, struct cache_ent *e)
{
    e->lnext = c->head;
    e->lprev = NULL;
    if (c->head)
        c->head->lprev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static uint32_t
key_hash(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

static struct cache_ent **
cache_slot(struct cache *c, const uint8_t *key, size_t n)
{
    struct cache_ent **pe = &c->b[key_hash(key, n) & (c->nb - 1)];
    for (; *pe; pe = &(*pe)->hnext)
        if ((*pe)->key_len == n && memcmp((*pe)->key, key, n) == 0)
            break;
    return pe;
}

static void
cache_remove(struct cache *c, struct cache_ent *e)
{
    struct cache_ent **pe = cache_slot(c, e->key, e->key_len);
    if (*pe == e)
        *pe = e->hnext;
    cache_unlink(c, e);
    c->n--;
    free(e->key);
    free(e->msg);
    free(e);
}

static void
cache_fini(struct cache *c)
{
    while (c->head)
        cache_remove(c, c->head);
    free(c->b);
}

static void
cache_put(struct cache *c, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
          uint32_t ttl, int64_t now)
{
    if (!c->nb) {
        c->nb = 1;
        while (c->nb < c->max)
            c->nb <<= 1;
        c->b = k3c_xcalloc(c->nb, sizeof(*c->b));
    }
    struct cache_ent **pe = cache_slot(c, key, key_len);
    if (*pe)
        cache_remove(c, *pe);
    while (c->n >= c->max && c->tail)
        cache_remove(c, c->tail);
    struct cache_ent *e = k3c_xcalloc(1, sizeof(*e));
    e->key = k3c_xmalloc(key_len);
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->msg = k3c_xmalloc(len);
    memcpy(e->msg, msg, len);
    e->len = len;
    e->stored_ms = now;
    e->expire_ms = now + (int64_t)ttl * 1000;
    pe = cache_slot(c, key, key_len);
    *pe = e;
    cache_push_front(c, e);
    c->n++;
}

static struct cache_ent *
cache_get(struct cache *c, const uint8_t *key, size_t key_len, int64_t now)
{
    if (!c->nb)
        return NULL;
    struct cache_ent *e = *cache_slot(c, key, key_len);
    if (!e)
        return NULL;
    if (e->expire_ms <= now) {
        cache_remove(c, e);
        return NULL;
    }
    cache_unlink(c, e);
    cache_push_front(c, e);
    return e;
}

/* The cache key: lowercase qname, type, class, EDNS and its DO bit (an
 * answer with an OPT record is not for a client that sent none). */
static size_t
make_key(const struct dns_query *q, uint8_t *key)
{
    for (size_t i = 0; i < q->qname.len; i++)
        key[i] = (uint8_t)tolower(q->qname.wire[i]);
    size_t n = q->qname.len;
    wr16(key + n, q->qtype);
    wr16(key + n + 2, q->qclass);
    key[n + 4] = (uint8_t)(q->edns_do | q->has_edns << 1);
    return n + 5;
}

struct ttl_scan {
    uint32_t min_ttl;
    bool any;
    bool soa;
    uint32_t soa_min;
    uint32_t age_s;
    uint8_t *w;       /* when set: lower each TTL by age_s, then cap it */
    uint32_t cap_ttl; /* with w: no TTL above this (0: no cap) */
};

static void
ttl_rr(void *ud, enum dns_section s, uint16_t type, size_t ttl_off, const uint8_t *msg,
       size_t rdata_off, uint16_t rdlen)
{
    struct ttl_scan *t = ud;
    uint32_t ttl = rd32(msg + ttl_off);

    if (t->w) {
        ttl = ttl > t->age_s ? ttl - t->age_s : 0;
        wr32(t->w + ttl_off, t->cap_ttl && ttl > t->cap_ttl ? t->cap_ttl : ttl);
        return;
    }
    if (type == DNS_TYPE_SOA && s == DNS_SEC_AUTHORITY && rdlen >= 20) {
        uint32_t m = rd32(msg + rdata_off + rdlen - 4);
        t->soa = true;
        t->soa_min = m < ttl ? m : ttl;
    }
    if (s == DNS_SEC_ANSWER && (!t->any || ttl < t->min_ttl)) {
        t->min_ttl = ttl;
        t->any = true;
    }
}

/* How long an upstream answer may be cached (0: not at all). */
static uint32_t
cache_ttl(const uint8_t *msg, size_t len)
{
    struct ttl_scan t = {0};
    int rcode = dns_msg_walk(msg, len, ttl_rr, &t);
    uint32_t ttl;

    if (rcode < 0 || (msg[2] & 0x02)) /* malformed or truncated */
        return 0;
    if (rcode == DNS_RCODE_NOERROR && t.any)
        ttl = t.min_ttl;
    else if (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN)
        ttl = t.soa ? t.soa_min : CACHE_DENIAL_TTL;
    else
        return 0;
    return ttl > CACHE_MAX_TTL ? CACHE_MAX_TTL : ttl;
}

/* A cached answer for q: its ID, the client's spelling of the name, TTLs
 * aged by the time in the cache. */
static size_t
from_cache(const struct cache_ent *e, const struct dns_query *q, int64_t now, uint8_t *out,
           size_t cap)
{
    struct ttl_scan t = {.w = out, .age_s = (uint32_t)((now - e->stored_ms) / 1000)};

    if (e->len > cap || e->len < (size_t)DNS_HEADER_LEN + q->qname.len)
        return 0;
    memcpy(out, e->msg, e->len);
    wr16(out, q->id);
    out[2] = (uint8_t)((out[2] & ~0x01) | ((q->flags >> 8) & 0x01)); /* RD as asked */
    memcpy(out + DNS_HEADER_LEN, q->qname.wire, q->qname.len);
    if (t.age_s)
        dns_msg_walk(e->msg, e->len, ttl_rr, &t);
    return e->len;
}

static struct fwd_rule *
rule_for(struct dns_fwd *f, const struct dns_name *qname)
{
    struct fwd_rule *best = &f->rules[0];

    for (size_t i = 1; i < f->n_rules; i++) {
        const struct dns_name *d = &f->rules[i].domain;
        if (d->n_labels > qname->n_labels || d->n_labels <= best->domain.n_labels)
            continue;
        size_t start = qname->label_off[qname->n_labels - d->n_labels];
        if (qname->len - start != d->len)
            continue;
        bool eq = true;
        for (size_t k = 0; k < d->len && eq; k++)
            eq = tolower(qname->wire[start + k]) == d->wire[k];
        if (eq)
            best = &f->rules[i];
    }
    return best;
}

static void
pend_close_fd(struct pending *p)
{
    if (p->ev.fd >= 0)
        close(p->ev.fd); /* also leaves the epoll set */
    p->ev.fd = -1;
}

static void
pend_free(struct dns_fwd *f, struct pending *p)
{
    pend_close_fd(p);
    if (p->prev)
        p->prev->next = p->next;
    else
        f->pend = p->next;
    if (p->next)
        p->next->prev = p->prev;
    f->n_pend--;
    dns_client_release(f->server, &p->client);
    free(p->query);
    free(p->tcp_buf);
    free(p->chase);
    free(p);
}

/* Answers the client (its ID restored) and forgets the query. */
static void
pend_finish(struct dns_fwd *f, struct pending *p, uint8_t *msg, size_t len)
{
    wr16(msg, p->client_id);
    if (p->chase) {
        size_t n = dns_reply_cname_chain(&p->chase->orig, &p->chase->target, p->chase->ttl, msg,
                                         len, f->merge, sizeof(f->merge));
        if (!n)
            n = dns_reply_error(&p->chase->orig, DNS_RCODE_SERVFAIL, false, f->merge,
                                sizeof(f->merge));
        msg = f->merge;
        len = n;
    }
    dns_server_deliver(f->server, &p->client, msg, len);
    pend_free(f, p);
}

static void
pend_fail(struct dns_fwd *f, struct pending *p)
{
    struct dns_query q = {.id = p->client_id,
                          .qname = p->qname,
                          .qtype = p->qtype,
                          .qclass = p->qclass,
                          .flags = rd16(p->query + 2)};
    size_t n = dns_reply_error(p->chase ? &p->chase->orig : &q, DNS_RCODE_SERVFAIL, false, f->buf,
                               sizeof(f->buf));

    dns_server_deliver(f->server, &p->client, f->buf, n);
    pend_free(f, p);
}

static int
ep_add(struct dns_fwd *f, struct pending *p, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = &p->ev};
    return epoll_ctl(f->epfd, EPOLL_CTL_ADD, p->ev.fd, &ev);
}

/* Sends the query over UDP to the current upstream. */
static int
try_udp(struct dns_fwd *f, struct pending *p)
{
    const struct upstream *u = &p->rule->ups[p->up];

    pend_close_fd(p);
    p->state = PEND_UDP;
    p->ev.fd = socket(u->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->ev.fd < 0)
        return -1;
    if (connect(p->ev.fd, (const struct sockaddr *)&u->addr, u->len) < 0 ||
        send(p->ev.fd, p->query, p->query_len, 0) < 0 || ep_add(f, p, EPOLLIN) < 0) {
        pend_close_fd(p);
        return -1;
    }
    p->deadline = k3c_now_ms() + f->timeout_ms;
    return 0;
}

/* The same upstream over TCP (RFC 7766), after a truncated UDP answer. */
static int
try_tcp(struct dns_fwd *f, struct pending *p)
{
    const struct upstream *u = &p->rule->ups[p->up];

    pend_close_fd(p);
    p->ev.fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->ev.fd < 0)
        return -1;
    free(p->tcp_buf);
    p->tcp_buf = k3c_xmalloc(2 + (p->query_len > DNS_MSG_MAX ? p->query_len : DNS_MSG_MAX));
    wr16(p->tcp_buf, (uint16_t)p->query_len);
    memcpy(p->tcp_buf + 2, p->query, p->query_len);
    p->tcp_have = 0;
    p->tcp_want = 2 + p->query_len;
    p->state = PEND_TCP_CONNECT;
    if (connect(p->ev.fd, (const struct sockaddr *)&u->addr, u->len) < 0 && errno != EINPROGRESS) {
        pend_close_fd(p);
        return -1;
    }
    if (ep_add(f, p, EPOLLOUT) < 0) {
        pend_close_fd(p);
        return -1;
    }
    p->deadline = k3c_now_ms() + f->timeout_ms;
    return 0;
}

/* The next upstream of the rule, or SERVFAIL after MAX_TRIES. */
static void
try_next(struct dns_fwd *f, struct pending *p)
{
    while (++p->tries < MAX_TRIES) {
        p->up = (p->up + 1) % p->rule->n_ups;
        if (try_udp(f, p) == 0)
            return;
    }
    pend_fail(f, p);
}

size_t
dns_fwd_query(struct dns_fwd *f, const struct dns_query *q, const uint8_t *msg, size_t len,
              const struct dns_client *c, uint8_t *out, size_t cap)
{
    return dns_fwd_query_chase(f, q, msg, len, c, NULL, out, cap);
}

size_t
dns_fwd_query_chase(struct dns_fwd *f, const struct dns_query *q, const uint8_t *msg, size_t len,
                    const struct dns_client *c, const struct dns_chase *chase, uint8_t *out,
                    size_t cap)
{
    int64_t now = k3c_now_ms();
    uint8_t key[DNS_NAME_MAX + 5];
    size_t key_len = make_key(q, key);
    struct cache_ent *e = cache_get(&f->cache, key, key_len, now);

    if (e) {
        size_t n = from_cache(e, q, now, chase ? f->merge : out, chase ? sizeof(f->merge) : cap);
        if (n && chase)
            n = dns_reply_cname_chain(&chase->orig, &chase->target, chase->ttl, f->merge, n, out,
                                      cap);
        if (n)
            return n;
    }
    if (f->n_pend >= MAX_PENDING)
        return dns_reply_error(chase ? &chase->orig : q, DNS_RCODE_SERVFAIL, false, out, cap);
    struct pending *p = k3c_xcalloc(1, sizeof(*p));
    if (chase) {
        p->chase = k3c_xmalloc(sizeof(*p->chase));
        *p->chase = *chase;
    }
    p->ev = (struct dns_ev){.kind = DNS_EV_UPSTREAM, .fd = -1};
    p->client = *c;
    dns_client_hold(&p->client);
    p->client_id = chase ? chase->orig.id : q->id;
    k3c_random_bytes(&p->up_id, sizeof(p->up_id));
    p->qname = q->qname;
    p->qtype = q->qtype;
    p->qclass = q->qclass;
    memcpy(p->key, key, key_len);
    p->key_len = key_len;
    p->query = k3c_xmalloc(len);
    memcpy(p->query, msg, len);
    p->query_len = len;
    wr16(p->query, p->up_id);
    p->rule = rule_for(f, &q->qname);
    p->up = p->rule->next++ % p->rule->n_ups;
    p->next = f->pend;
    if (f->pend)
        f->pend->prev = p;
    f->pend = p;
    f->n_pend++;
    if (try_udp(f, p) < 0)
        try_next(f, p);
    return 0;
}

/* An answer to p: its ID, a response, the same question. */
static bool
answer_matches(const struct pending *p, const uint8_t *msg, size_t len)
{
    struct dns_name n;
    size_t off = DNS_HEADER_LEN;

    if (len < DNS_HEADER_LEN || rd16(msg) != p->up_id || !(msg[2] & 0x80) || rd16(msg + 4) != 1)
        return false;
    if (dns_name_read(msg, len, &off, &n) < 0 || off + 4 > len)
        return false;
    return dns_name_equal(&n, &p->qname) && rd16(msg + off) == p->qtype &&
           rd16(msg + off + 2) == p->qclass;
}

static void
got_answer(struct dns_fwd *f, struct pending *p, uint8_t *msg, size_t len)
{
    int rcode = msg[3] & 0xF;

    if ((rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED) && p->tries + 1 < MAX_TRIES &&
        p->rule->n_ups > 1) {
        try_next(f, p);
        return;
    }
    uint32_t ttl = cache_ttl(msg, len);
    if (ttl) {
        /* As CoreDNS's cache: the first answer carries the capped TTLs too,
         * so a client never sees a TTL jump down on the next answer. */
        struct ttl_scan t = {.w = msg, .cap_ttl = CACHE_MAX_TTL};
        dns_msg_walk(msg, len, ttl_rr, &t);
        cache_put(&f->cache, p->key, p->key_len, msg, len, ttl, k3c_now_ms());
    }
    pend_finish(f, p, msg, len);
}

static void
udp_readable(struct dns_fwd *f, struct pending *p)
{
    for (;;) {
        ssize_t n = recv(p->ev.fd, f->buf, sizeof(f->buf), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            try_next(f, p); /* ICMP unreachable and the like */
            return;
        }
        if (!answer_matches(p, f->buf, (size_t)n))
            continue; /* stray or spoofed: keep waiting */
        if (f->buf[2] & 0x02) {
            if (try_tcp(f, p) < 0)
                try_next(f, p);
            return;
        }
        got_answer(f, p, f->buf, (size_t)n);
        return;
    }
}

static void
tcp_ready(struct dns_fwd *f, struct pending *p, uint32_t events)
{
    if (p->state == PEND_TCP_CONNECT) {
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        if (getsockopt(p->ev.fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0 || soerr) {
            try_next(f, p);
            return;
        }
        p->state = PEND_TCP_WRITE;
    }
    if (p->state == PEND_TCP_WRITE) {
        while (p->tcp_have < p->tcp_want) {
            ssize_t n =
                send(p->ev.fd, p->tcp_buf + p->tcp_have, p->tcp_want - p->tcp_have, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (n <= 0) {
                try_next(f, p);
                return;
            }
            p->tcp_have += (size_t)n;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->ev};
        epoll_ctl(f->epfd, EPOLL_CTL_MOD, p->ev.fd, &ev);
        p->state = PEND_TCP_READ;
        p->tcp_have = 0;
        p->tcp_want = 2;
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (;;) {
        ssize_t n = recv(p->ev.fd, p->tcp_buf + p->tcp_have, p->tcp_want - p->tcp_have, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            try_next(f, p);
            return;
        }
        p->tcp_have += (size_t)n;
        if (p->tcp_have < p->tcp_want)
            continue;
        if (p->tcp_want == 2) {
            p->tcp_want = 2 + (size_t)rd16(p->tcp_buf);
            if (p->tcp_want == 2) {
                try_next(f, p);
                return;
            }
            continue;
        }
        size_t len = p->tcp_want - 2;
        if (!answer_matches(p, p->tcp_buf + 2, len)) {
            try_next(f, p);
            return;
        }
        memcpy(f->buf, p->tcp_buf + 2, len);
        got_answer(f, p, f->buf, len);
        return;
    }
}

void
dns_fwd_event(struct dns_fwd *f, struct dns_ev *ev, uint32_t events)
{
    struct pending *p = (struct pending *)ev;

    if (p->state == PEND_UDP)
        udp_readable(f, p);
    else
        tcp_ready(f, p, events);
}

int
dns_fwd_tick(struct dns_fwd *f, int64_t now)
{
    int64_t next = -1;
    struct pending *p = f->pend, *nx;

    for (; p; p = nx) {
        nx = p->next;
        if (p->deadline <= now) {
            log_debug("(dns) upstream %s timed out", p->rule->ups[p->up].text);
            try_next(f, p); /* p is freed or has a later deadline now */
            nx = f->pend;   /* the list changed: rescan; ends as no deadline is past */
            next = -1;
            continue;
        }
        if (next < 0 || p->deadline < next)
            next = p->deadline;
    }
    return next < 0 ? -1 : (int)(next - now);
}

void
dns_fwd_free(struct dns_fwd *f)
{
    if (!f)
        return;
    while (f->pend)
        pend_free(f, f->pend);
    cache_fini(&f->cache);
    for (size_t i = 0; i < f->n_rules; i++)
        free(f->rules[i].ups);
    free(f->rules);
    free(f->resolv_path);
    free(f);
}
