/* SPDX-License-Identifier: Apache-2.0
 * dns-internal.h - what the server loop (dns_server.c), the forwarder
 * (dns_forward.c) and the hosts file (dns_hosts.c) share. Everything here
 * runs on the server's one loop thread. */
#ifndef K3C_DNS_INTERNAL_H
#define K3C_DNS_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns.h"

/* The first member of everything registered with the loop's epoll. */
enum dns_ev_kind { DNS_EV_UDP, DNS_EV_TCP_LISTEN, DNS_EV_TCP_CONN, DNS_EV_UPSTREAM, DNS_EV_STOP };
struct dns_ev {
    enum dns_ev_kind kind;
    int fd;
};

struct dns_tcp_conn;

/* Where an answer goes: a UDP peer or a TCP connection (a reference). */
struct dns_client {
    bool tcp;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct dns_tcp_conn *conn;
    uint16_t udp_max;
};

struct dns_server;

/* Sends an answer to c (truncated with TC when it is larger than a UDP
 * client takes). Does not release c. */
void dns_server_deliver(struct dns_server *s, const struct dns_client *c, const uint8_t *msg,
                        size_t len);
/* Takes a reference on c's connection (for a pending upstream query). */
void dns_client_hold(struct dns_client *c);
/* Drops it. */
void dns_client_release(struct dns_server *s, struct dns_client *c);

/* ---- forwarder and cache (dns_forward.c) ---- */
struct dns_fwd;

struct dns_fwd *dns_fwd_new(const struct dns_server_config *cfg, struct dns_server *s, int epfd,
                            struct k3c_err *err);
void dns_fwd_free(struct dns_fwd *f);
/* Answers q from the cache (returns the length written to out) or sends
 * it upstream (returns 0; the answer reaches c later through
 * dns_server_deliver). */
size_t dns_fwd_query(struct dns_fwd *f, const struct dns_query *q, const uint8_t *msg, size_t len,
                     const struct dns_client *c, uint8_t *out, size_t cap);

/* What a chased query answers: the client's own question, whose name is a
 * CNAME to the forwarded one (an ExternalName Service). */
struct dns_chase {
    struct dns_query orig;
    struct dns_name target;
    uint32_t ttl;
};
/* As dns_fwd_query for the CNAME target q (msg: q encoded); the answer the
 * client gets is dns_reply_cname_chain of chase->orig. */
size_t dns_fwd_query_chase(struct dns_fwd *f, const struct dns_query *q, const uint8_t *msg,
                           size_t len, const struct dns_client *c, const struct dns_chase *chase,
                           uint8_t *out, size_t cap);
/* An upstream socket is ready. */
void dns_fwd_event(struct dns_fwd *f, struct dns_ev *ev, uint32_t events);
/* Times out tries; returns ms until the next deadline (or -1: none). */
int dns_fwd_tick(struct dns_fwd *f, int64_t now_ms);
/* Rereads resolv.conf when it changed. */
void dns_fwd_reload(struct dns_fwd *f);

/* ---- hosts file (dns_hosts.c) ---- */
struct dns_hosts;

struct dns_hosts *dns_hosts_new(const char *path);
void dns_hosts_free(struct dns_hosts *h);
/* Rereads the file when its mtime or size changed. */
void dns_hosts_reload(struct dns_hosts *h);
/* A complete answer for a name in the file (A/AAAA, NODATA for other
 * address types), or 0 to go on. */
size_t dns_hosts_answer(struct dns_hosts *h, const struct dns_query *q, uint8_t *out, size_t cap);

#endif
