/* SPDX-License-Identifier: Apache-2.0
 * vip-internal.h - the VIP's parts: pure fencing and timing rules
 * (vip_timing.c, unit tested), the address and ARP (vip_net.c), the
 * Kubernetes-side status: Event, node annotation (vip_kube.c). */
#ifndef K3C_VIP_INTERNAL_H
#define K3C_VIP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vip/vip.h"

/* ---- timing and fencing (pure) ---- */

/* INVALID unless 0 < renew, 0 < margin, 2 * renew <= lease - margin (the
 * holder gets at least two tries before it fences) and lease <= 60 s. */
int vip_timing_validate(const struct vip_timing *t, struct k3c_err *err);

/* The TTL in seconds of the etcd lease the key is bound to: at least
 * lease_ms (so the lease never ends before the holder fences), rounded up,
 * plus one second of slack; etcd may raise it to its own minimum. */
int64_t vip_etcd_ttl_s(const struct vip_timing *t);

/* When a holder whose last successful renewal was SENT at sent_ms must no
 * longer hold the address: sent + lease - margin. Measured from sending,
 * not from the answer, because a follower replaces the holder lease_ms after
 * it SAW the renewal, which is never before it was sent. */
int64_t vip_fence_deadline(const struct vip_timing *t, int64_t sent_ms);

/* True when a follower that last saw the key change at seen_ms may replace
 * its holder (compare-and-swap on that revision) at now_ms. */
bool vip_takeover_due(const struct vip_timing *t, int64_t seen_ms, int64_t now_ms);

/* The gratuitous ARP schedule: burst after takeover, then periodic. Returns
 * the time of the next announcement after the n-th one (n counts from 0 at
 * the takeover at t0_ms). */
int64_t vip_garp_next(int64_t t0_ms, int n);

/* The /readyz verdict: fails after this many failed probes in a row. */
#define VIP_READYZ_FAILURES 3
/* How often /readyz is probed, and how long one probe may take. */
#define VIP_READYZ_PERIOD_MS  500
#define VIP_READYZ_TIMEOUT_MS 1000

/* Whether the holder may keep (or put) the address on its interface. */
struct vip_hold {
    bool elected;    /* the key is ours */
    int64_t sent_ms; /* when the last successful renewal (or the acquiring write) was sent */
    bool api_ready;  /* the own API server answers /readyz */
    bool stopping;
};
bool vip_hold_allowed(const struct vip_timing *t, const struct vip_hold *h, int64_t now_ms);

/* ---- address and ARP (vip_net.c) ---- */

struct vip_net;

/* Resolves the interface (given, or the one holding node_ip), its index and
 * MAC. NOT_FOUND when no interface holds node_ip. */
struct vip_net *vip_net_new(const char *iface, const char *node_ip, const char *addr, int prefix,
                            struct k3c_err *err);
void vip_net_free(struct vip_net *n);
const char *vip_net_ifname(const struct vip_net *n);
const char *vip_net_mac(const struct vip_net *n); /* "aa:bb:..." */
/* The address's kernel lifetime (valid_lft), renewed every
 * VIP_ADDR_REFRESH_MS while held: the backstop for a frozen k3c (SIGSTOP,
 * a hung process), which the kernel strips of the VIP within the lifetime
 * (plus up to 1 s: the kernel checks lifetimes on whole seconds). */
#define VIP_ADDR_LIFETIME_S 3
#define VIP_ADDR_REFRESH_MS 1000
/* Adds the address or renews its lifetime; removes it (idempotent:
 * already there / already gone is success). */
int vip_net_add(struct vip_net *n, struct k3c_err *err);
int vip_net_del(struct vip_net *n, struct k3c_err *err);
/* Whether the interface has the address now. */
int vip_net_present(struct vip_net *n, bool *present, struct k3c_err *err);
/* Starts / stops the crash guard: a child process that removes the
 * address as soon as this process is gone without having stopped (SIGKILL,
 * a crash), so a dead k3c on a live host does not keep answering ARP for
 * the VIP. Stop (or free) ends it; the address is removed then too. */
int vip_net_guard_start(struct vip_net *n, struct k3c_err *err);
void vip_net_guard_stop(struct vip_net *n);
/* Sends one gratuitous ARP request (sender = target = the VIP) from the MAC. */
int vip_net_garp(struct vip_net *n, struct k3c_err *err);
/* LoadBalancer addresses held with the VIP ("a.b.c.d", /32 on the same
 * interface): add (or renew the lifetime), remove, announce. The crash
 * guard removes the ones held when k3c dies. */
int vip_net_extra_add(struct vip_net *n, const char *ip, struct k3c_err *err);
int vip_net_extra_del(struct vip_net *n, const char *ip, struct k3c_err *err);
int vip_net_extra_garp(struct vip_net *n, const char *ip, struct k3c_err *err);

/* ---- LoadBalancer addresses (vip_lb.c) ----
 * An informer on Services: the addresses of --servicelb-pool that
 * ServiceLB gave LoadBalancer Services (status.loadBalancer.ingress; the
 * VIP itself is held anyway). changed() gets the whole sorted set after
 * every change, on the informer's thread. */
struct ip4pool;
struct vip_lb;
typedef void vip_lb_changed_fn(void *ud, const char (*addrs)[16], size_t n);
struct vip_lb *vip_lb_new(const struct vip_config *cfg, const char *vip_addr,
                          vip_lb_changed_fn *changed, void *ud, struct k3c_err *err);
int vip_lb_start(struct vip_lb *l, struct k3c_err *err);
void vip_lb_free(struct vip_lb *l);
/* Pure: the pool's addresses in svc's ingress, when svc is a LoadBalancer
 * (not vip_addr); a new array of strings. */
json_t *vip_lb_service_addresses(const json_t *svc, const struct ip4pool *pool,
                                 const char *vip_addr);

/* ---- Kubernetes status (vip_kube.c) ---- */

struct http_client;
/* Posts an Event (reason VIPAcquired) on node when with_event, removes the
 * annotation vip.k3c.io/holder=<vip> from every other Node that carries it
 * and sets it on node. NOT_FOUND while node has no Node object (yet: the
 * server's own agent registers it; never: --disable-agent). */
int vip_kube_publish(struct http_client *api, const char *vip, const char *node,
                     const char *prev_holder, bool with_event, struct k3c_err *err);

#endif
