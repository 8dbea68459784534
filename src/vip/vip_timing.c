/* SPDX-License-Identifier: Apache-2.0
 * vip_timing.c - the VIP's fencing and timing rules as pure functions, so
 * the safety argument of docs/vip.md can be unit tested: a holder stops
 * holding (lease - margin) after it sent its last successful renewal; a
 * follower replaces it no earlier than lease after it saw that renewal. */
#include "vip/vip-internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIP_GARP_PERIOD_MS 10000

void
vip_timing_default(struct vip_timing *t)
{
    t->lease_ms = 1500;
    t->renew_ms = 250;
    t->margin_ms = 300;
}

int
vip_timing_validate(const struct vip_timing *t, struct k3c_err *err)
{
    if (t->renew_ms <= 0 || t->margin_ms <= 0 || t->lease_ms > 60000)
        return k3c_err_set(err, K3C_E_INVALID,
                           "VIP timing: renew (%lld ms) and margin (%lld ms) must be positive "
                           "and the lease (%lld ms) at most 60 s",
                           (long long)t->renew_ms, (long long)t->margin_ms, (long long)t->lease_ms);
    if (2 * t->renew_ms > t->lease_ms - t->margin_ms)
        return k3c_err_set(err, K3C_E_INVALID,
                           "VIP timing: lease (%lld ms) minus margin (%lld ms) must leave room "
                           "for two renewals of %lld ms",
                           (long long)t->lease_ms, (long long)t->margin_ms, (long long)t->renew_ms);
    return 0;
}

int64_t
vip_etcd_ttl_s(const struct vip_timing *t)
{
    return (t->lease_ms + 999) / 1000 + 1;
}

int64_t
vip_fence_deadline(const struct vip_timing *t, int64_t sent_ms)
{
    return sent_ms + t->lease_ms - t->margin_ms;
}

bool
vip_takeover_due(const struct vip_timing *t, int64_t seen_ms, int64_t now_ms)
{
    return now_ms >= seen_ms + t->lease_ms;
}

int64_t
vip_garp_next(int64_t t0_ms, int n)
{
    /* Several at takeover, spread over more than a second so a neighbour
     * that ignored one (its entry was just confirmed: neigh locktime) or
     * lost it still moves, then a slow refresh. */
    static const int64_t burst[] = {100, 300, 700, 1500};
    const int n_burst = (int)(sizeof(burst) / sizeof(burst[0]));

    if (n < 0)
        return t0_ms;
    if (n < n_burst)
        return t0_ms + burst[n];
    return t0_ms + burst[n_burst - 1] + (int64_t)(n - n_burst + 1) * VIP_GARP_PERIOD_MS;
}

bool
vip_hold_allowed(const struct vip_timing *t, const struct vip_hold *h, int64_t now_ms)
{
    return h->elected && h->api_ready && !h->stopping && now_ms < vip_fence_deadline(t, h->sent_ms);
}

int
vip_parse_address(const char *s, char addr[16], int *prefix, struct k3c_err *err)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    size_t len = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
    struct in_addr a;
    char *end = NULL;
    long p = 32;

    if (!s || len == 0 || len > 15)
        return k3c_err_set(err, K3C_E_INVALID, "--vip %s: want an IPv4 ADDR[/PREFIX]",
                           s ? s : "(null)");
    memcpy(addr, s, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, &a) != 1)
        return k3c_err_set(err, K3C_E_INVALID, "--vip %s: %s is not an IPv4 address", s, addr);
    if (slash) {
        p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 1 || p > 32)
            return k3c_err_set(err, K3C_E_INVALID, "--vip %s: prefix must be 1..32", s);
    }
    *prefix = (int)p;
    return 0;
}
