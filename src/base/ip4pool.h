/* SPDX-License-Identifier: Apache-2.0
 * ip4pool.h - a small set of IPv4 addresses written as a comma-separated
 * list of CIDRs and ranges ("192.168.20.224/28", "10.0.0.5-10.0.0.9"): the
 * server's `--servicelb-pool`, read by ServiceLB (which addresses a Service
 * may ask for) and by the VIP holder (which of them it announces). */
#ifndef K3C_BASE_IP4POOL_H
#define K3C_BASE_IP4POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define IP4POOL_MAX_RANGES 16u

struct ip4pool {
    size_t n;
    struct {
        uint32_t lo, hi; /* host byte order, inclusive */
    } r[IP4POOL_MAX_RANGES];
};

/* Parses s (NULL or "" is the empty pool). INVALID with a message naming
 * the bad part: not IPv4, a prefix over 32, a range whose end is below its
 * start, more than IP4POOL_MAX_RANGES parts. */
int ip4pool_parse(const char *s, struct ip4pool *out, struct k3c_err *err);
/* Whether the dotted IPv4 address ip is in the pool; false for anything
 * that is not a dotted IPv4 address. */
bool ip4pool_contains(const struct ip4pool *p, const char *ip);

#endif
