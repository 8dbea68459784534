/* SPDX-License-Identifier: Apache-2.0
 * vip.h - the API server's virtual IP (`k3c server --vip ADDR[/PREFIX]`):
 * every server given the same VIP takes part in an election through the
 * store; exactly one holds the address on its interface, announces it with
 * gratuitous ARP, and drops it (fencing) before anyone else can take it
 * over. See docs/vip.md for the timing and the safety argument. */
#ifndef K3C_VIP_VIP_H
#define K3C_VIP_VIP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

/* Election timing, all in milliseconds (see vip_timing_validate). */
struct vip_timing {
    int64_t lease_ms;  /* a holder not seen renewing for this long is replaced */
    int64_t renew_ms;  /* the holder renews this often */
    int64_t margin_ms; /* the holder drops the address this long before lease_ms */
};

/* The defaults: lease 1500, renew 250, margin 300 (docs/vip.md). */
void vip_timing_default(struct vip_timing *t);

struct vip_config {
    const char *address;   /* "ADDR[/PREFIX]", IPv4; /32 when no prefix */
    const char *interface; /* NULL: the one holding node_ip */
    const char *node_ip;
    const char *node_name;
    struct vip_timing timing;           /* zeroed: the defaults */
    const char *const *store_endpoints; /* etcd client URLs, NULL-terminated */
    const char *store_ca, *store_cert, *store_key;
    const char *api_url;                     /* this server's API, e.g. https://127.0.0.1:6443 */
    const char *api_ca, *api_cert, *api_key; /* admin client: /readyz, Events, annotations */
    const char *lb_pool; /* --servicelb-pool: LoadBalancer addresses held with the VIP; NULL none */
    /* Called by the address thread when the holder steps aside while it
     * keeps running (its own API server not ready): with the address before
     * it goes (close the connections that came in on it, refuse new
     * requests on it), then with NULL once it is gone. Not on a fence (the
     * address must go at once) nor on vip_stop (the caller drains first).
     * Returns within max_ms. NULL: nothing is drained. */
    void (*drain)(void *ud, const char *address, int64_t max_ms);
    void *drain_ud;
};

struct vip;

/* Checks the config (address, interface, timing) and opens the VIP's own
 * store connection; starts nothing. INVALID for bad input. */
struct vip *vip_new(const struct vip_config *cfg, struct k3c_err *err);
/* Starts the election, address and status threads. */
int vip_start(struct vip *v, struct k3c_err *err);
/* Drops the address (if held), releases the election key so the next holder
 * takes over at once, and stops the threads. Safe to call twice. */
void vip_stop(struct vip *v);
/* vip_stop, then frees v. NULL is a no-op. */
void vip_free(struct vip *v);

/* Appends the VIP's Prometheus lines (k3c_vip_holder, k3c_vip_transitions_total,
 * ...) to b. Thread: any. */
void vip_metrics_append(struct vip *v, struct k3c_buf *b);

/* Parses "ADDR[/PREFIX]" (IPv4) into the dotted address and prefix length.
 * INVALID with a message naming the value. */
int vip_parse_address(const char *s, char addr[16], int *prefix, struct k3c_err *err);

#endif
