/* SPDX-License-Identifier: Apache-2.0
 * netpol_ipt.c - NetworkPolicy under the iptables backend (issue #19),
 * pure: the model of netpol_rules.c (netpol.h) rendered as filter-table
 * chains for `iptables-restore --noflush`. FORWARD jumps (first) to
 * K3C-NP-FORWARD, which returns established/related traffic, then jumps to
 * the egress chain of an isolated source pod (K3C-NP-E-<ip>) and the
 * ingress chain of an isolated destination pod (K3C-NP-I-<ip>). A pod chain
 * returns what an entry allows, one rule per peer IP (no ipset needed), an
 * ipBlock as its CIDR with each except as `-m iprange ! --src-range`, and
 * rejects the rest (icmp-admin-prohibited, as the nft table). The chains
 * only ever RETURN or REJECT: what they let through meets the rest of
 * FORWARD as before. */
#include "net/ipt.h"
#include "net/netpol.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORWARD_JUMP "-A FORWARD -j " NETPOL_IPT_CHAIN

/* "a.b.c.d/n" (as the model prints it) -> network and mask, host order. */
static bool
cidr_parse(const char *s, uint32_t *net, uint32_t *mask)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = s ? strchr(s, '/') : NULL;
    struct in_addr a;
    int n;

    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return false;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    n = atoi(slash + 1);
    if (inet_pton(AF_INET, ip, &a) != 1 || n < 0 || n > 32)
        return false;
    *mask = n == 0 ? 0 : ~0u << (32 - n);
    *net = ntohl(a.s_addr) & *mask;
    return true;
}

static bool
cidr_holds(const char *cidr, const char *ip)
{
    uint32_t net, mask;
    struct in_addr a;

    return cidr_parse(cidr, &net, &mask) && inet_pton(AF_INET, ip, &a) == 1 &&
           (ntohl(a.s_addr) & mask) == net;
}

/* Whether ip passes the entry's cidr and excepts (true without a cidr). */
static bool
ip_in_block(const json_t *e, const char *ip)
{
    const char *cidr = json_string_value(json_object_get(e, "cidr"));
    size_t i = 0;
    const json_t *ex = NULL;

    if (!cidr)
        return true;
    if (!cidr_holds(cidr, ip))
        return false;
    json_array_foreach(json_object_get(e, "except"), i, ex)
    {
        if (cidr_holds(json_string_value(ex), ip))
            return false;
    }
    return true;
}

/* " -m iprange ! --src-range first-last" for an except CIDR. */
static void
except_match(struct k3c_buf *b, const char *cidr, bool ingress)
{
    uint32_t net, mask;
    struct in_addr first, last;
    char a[INET_ADDRSTRLEN], z[INET_ADDRSTRLEN];

    if (!cidr_parse(cidr, &net, &mask))
        return;
    first.s_addr = htonl(net);
    last.s_addr = htonl(net | ~mask);
    inet_ntop(AF_INET, &first, a, sizeof(a));
    inet_ntop(AF_INET, &last, z, sizeof(z));
    k3c_buf_appendf(b, " -m iprange ! --%s-range %s-%s", ingress ? "src" : "dst", a, z);
}

/* " -p tcp -m tcp --dport 80:90" for the entry's port, or "". */
static void
port_match(struct k3c_buf *b, const json_t *e)
{
    const char *l4 = json_string_value(json_object_get(e, "proto"));
    const char *dport = json_string_value(json_object_get(e, "dport"));

    if (!l4)
        return;
    k3c_buf_appendf(b, " -p %s", l4);
    if (dport) {
        const char *dash = strchr(dport, '-');

        if (dash)
            k3c_buf_appendf(b, " -m %s --dport %.*s:%s", l4, (int)(dash - dport), dport, dash + 1);
        else
            k3c_buf_appendf(b, " -m %s --dport %s", l4, dport);
    }
}

/* The rules of one entry in chain: one per peer IP, or one for the
 * ipBlock (or anyone). */
static void
entry_rules(struct k3c_buf *b, const char *chain, const json_t *e, bool ingress)
{
    const json_t *ips = json_object_get(e, "ips"), *ip = NULL;
    const char *dir = ingress ? "-s" : "-d";
    size_t i = 0, j = 0;
    const json_t *ex = NULL;

    if (ips) {
        json_array_foreach(ips, i, ip)
        {
            if (!ip_in_block(e, json_string_value(ip)))
                continue;
            k3c_buf_appendf(b, "-A %s %s %s/32", chain, dir, json_string_value(ip));
            port_match(b, e);
            k3c_buf_appendf(b, " -j RETURN\n");
        }
        return;
    }
    k3c_buf_appendf(b, "-A %s", chain);
    if (json_object_get(e, "cidr")) {
        k3c_buf_appendf(b, " %s %s", dir, json_string_value(json_object_get(e, "cidr")));
        json_array_foreach(json_object_get(e, "except"), j, ex)
            except_match(b, json_string_value(ex), ingress);
    }
    port_match(b, e);
    k3c_buf_appendf(b, " -j RETURN\n");
}

/* A pod chain: declared in decl, filled in rules, jumped to from the
 * forward chain in jumps. */
static void
pod_chain(struct k3c_buf *decl, struct k3c_buf *jumps, struct k3c_buf *rules, const char *ip,
          const json_t *model, bool ingress)
{
    char chain[32];
    size_t i = 0;
    const json_t *e = NULL;

    snprintf(chain, sizeof(chain), "%s%c-%s", NETPOL_IPT_PREFIX, ingress ? 'I' : 'E', ip);
    k3c_buf_appendf(decl, ":%s - [0:0]\n", chain);
    k3c_buf_appendf(jumps, "-A %s %s %s/32 -j %s\n", NETPOL_IPT_CHAIN, ingress ? "-d" : "-s", ip,
                    chain);
    json_array_foreach(model, i, e) entry_rules(rules, chain, e, ingress);
    k3c_buf_appendf(rules, "-A %s -j REJECT --reject-with icmp-admin-prohibited\n", chain);
}

struct ipt_walk {
    struct netpol_ctx *cx;
    const json_t *policies;
    struct k3c_buf *decl, *egress, *ingress, *rules;
};

static void
ipt_pod(const json_t *pod, const char *ip, void *data)
{
    struct ipt_walk *w = data;
    _cleanup_json_ json_t *ing = netpol_pod_model(w->cx, w->policies, pod, "Ingress");
    _cleanup_json_ json_t *egr = netpol_pod_model(w->cx, w->policies, pod, "Egress");

    if (egr)
        pod_chain(w->decl, w->egress, w->rules, ip, egr, false);
    if (ing)
        pod_chain(w->decl, w->ingress, w->rules, ip, ing, true);
}

char *
netpol_ipt_rules(const char *node_name, const json_t *policies, const json_t *pods,
                 const json_t *namespaces)
{
    struct netpol_ctx *cx = netpol_ctx_new(pods, namespaces);
    struct k3c_buf decl, egress, ingress, rules;

    k3c_buf_init(&decl);
    k3c_buf_init(&egress);
    k3c_buf_init(&ingress);
    k3c_buf_init(&rules);
    k3c_buf_appendf(&decl, ":%s - [0:0]\n", NETPOL_IPT_CHAIN);
    struct ipt_walk w = {.cx = cx,
                         .policies = policies,
                         .decl = &decl,
                         .egress = &egress,
                         .ingress = &ingress,
                         .rules = &rules};
    netpol_foreach_node_pod(node_name, pods, ipt_pod, &w);
    k3c_buf_appendf(&decl, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n%s%s%s",
                    NETPOL_IPT_CHAIN, egress.data ? egress.data : "",
                    ingress.data ? ingress.data : "", rules.data ? rules.data : "");
    k3c_buf_fini(&egress);
    k3c_buf_fini(&ingress);
    k3c_buf_fini(&rules);
    netpol_ctx_free(cx);
    return k3c_buf_steal(&decl, NULL);
}

/* The lines of save that start the FORWARD chain's rules, one at a time. */
static const char *
next_forward_rule(const char *p)
{
    const char *hit = p ? strstr(p, "\n-A FORWARD ") : NULL;

    return hit ? hit + 1 : NULL;
}

static bool
is_forward_jump(const char *line)
{
    size_t n = strlen(FORWARD_JUMP);

    return strncmp(line, FORWARD_JUMP, n) == 0 && (line[n] == '\n' || line[n] == '\0');
}

static int
count_forward_jumps(const char *save)
{
    int n = 0;

    for (const char *p = next_forward_rule(save); p; p = next_forward_rule(p))
        n += is_forward_jump(p);
    return n;
}

bool
netpol_ipt_forward_first(const char *filter_save)
{
    const char *first = next_forward_rule(filter_save);

    return first && is_forward_jump(first);
}

char *
netpol_ipt_payload(const char *rules, const char *filter_save)
{
    _cleanup_json_ json_t *old = json_object(), *stale = json_array();
    struct k3c_buf b;
    const char *name = NULL;
    json_t *v = NULL;
    size_t i = 0;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "*filter\n%s", rules);
    /* chains of pods no longer isolated: nothing jumps to them any more
     * (the declared forward chain was just flushed); -X needs them empty */
    ipt_save_chains(filter_save ? filter_save : "", NETPOL_IPT_PREFIX, old);
    json_object_foreach(old, name, v)
    {
        _cleanup_free_ char *decl = k3c_xasprintf("\n:%s ", name);

        if (!strstr(rules, decl) && strncmp(rules, decl + 1, strlen(decl + 1)) != 0) {
            k3c_buf_appendf(&b, "-F %s\n", name);
            json_array_append_new(stale, json_string(name));
        }
    }
    json_array_foreach(stale, i, v) k3c_buf_appendf(&b, "-X %s\n", json_string_value(v));
    if (!netpol_ipt_forward_first(filter_save)) {
        for (int n = count_forward_jumps(filter_save); n > 0; n--)
            k3c_buf_appendf(&b, "-D FORWARD -j %s\n", NETPOL_IPT_CHAIN);
        k3c_buf_appendf(&b, "-I FORWARD 1 -j %s\n", NETPOL_IPT_CHAIN);
    }
    k3c_buf_appendf(&b, "COMMIT\n");
    return k3c_buf_steal(&b, NULL);
}
