/* SPDX-License-Identifier: Apache-2.0
 * ip4pool.c - IPv4 address pools from "CIDR,A-B,..." (see ip4pool.h). */
#include "base/ip4pool.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static bool
parse_ip(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

/* One part: "A", "A/N" or "A-B". */
static int
parse_part(char *part, uint32_t *lo, uint32_t *hi, struct k3c_err *err)
{
    char *slash = strchr(part, '/'), *dash = strchr(part, '-'), *end = NULL;

    if (slash) {
        long n;

        *slash = '\0';
        n = strtol(slash + 1, &end, 10);
        if (!parse_ip(part, lo) || end == slash + 1 || *end || n < 0 || n > 32)
            return k3c_err_set(err, K3C_E_INVALID, "'%s/%s' is not an IPv4 CIDR", part, slash + 1);
        if (n < 32) {
            uint32_t mask = n == 0 ? 0 : ~((1u << (32 - n)) - 1);

            *lo &= mask;
            *hi = *lo | ~mask;
        } else {
            *hi = *lo;
        }
        return 0;
    }
    if (dash) {
        *dash = '\0';
        if (!parse_ip(part, lo) || !parse_ip(dash + 1, hi))
            return k3c_err_set(err, K3C_E_INVALID, "'%s-%s' is not a range of IPv4 addresses", part,
                               dash + 1);
        if (*hi < *lo)
            return k3c_err_set(err, K3C_E_INVALID, "range %s-%s ends before it starts", part,
                               dash + 1);
        return 0;
    }
    if (!parse_ip(part, lo))
        return k3c_err_set(err, K3C_E_INVALID, "'%s' is not an IPv4 address, CIDR or range", part);
    *hi = *lo;
    return 0;
}

int
ip4pool_parse(const char *s, struct ip4pool *out, struct k3c_err *err)
{
    char buf[1024], *save = NULL;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return 0;
    if (strlen(s) >= sizeof(buf))
        return k3c_err_set(err, K3C_E_INVALID, "address pool too long (%zu characters)", strlen(s));
    strcpy(buf, s);
    for (char *part = strtok_r(buf, ", ", &save); part; part = strtok_r(NULL, ", ", &save)) {
        if (out->n == IP4POOL_MAX_RANGES)
            return k3c_err_set(err, K3C_E_INVALID, "address pool: more than %u parts",
                               IP4POOL_MAX_RANGES);
        if (parse_part(part, &out->r[out->n].lo, &out->r[out->n].hi, err) < 0)
            return -1;
        out->n++;
    }
    return 0;
}

bool
ip4pool_contains(const struct ip4pool *p, const char *ip)
{
    uint32_t a;

    if (!p || !ip || !parse_ip(ip, &a))
        return false;
    for (size_t i = 0; i < p->n; i++)
        if (a >= p->r[i].lo && a <= p->r[i].hi)
            return true;
    return false;
}
