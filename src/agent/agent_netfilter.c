/* SPDX-License-Identifier: Apache-2.0
 * agent_netfilter.c - the node's netfilter backend (issue #19): nftables
 * where nf_tables works, iptables (legacy) on kernels without it, such as
 * a trimmed L4T R32 (Linux 4.9). Under auto the probe is one real
 * transaction (an empty table added and deleted), so a kernel that lists
 * the module but cannot load it, or a netns without the permission, counts
 * as what it is. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "base/log.h"
#include "net/ipt.h"
#include "net/proxy.h"

#include <stdlib.h>

/* The auto probe. K3C_TEST_NFTABLES_UNUSABLE=<why> makes it fail as it does
 * on a kernel without nf_tables: the one fault the tests cannot cause on a
 * kernel that has it (e2e_iptables starts one node so, to run the fallback). */
static int
nftables_probe(struct k3c_err *err)
{
    const char *why = getenv("K3C_TEST_NFTABLES_UNUSABLE");

    if (why && *why)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "%s (K3C_TEST_NFTABLES_UNUSABLE)", why);
    return proxy_nft_probe(err);
}

int
agent_netfilter_choose(struct agent *a, struct k3c_err *err)
{
    struct k3c_err nft = {0}, ipt = {0};

    if (!a->netfilter_auto) {
        if (a->netfilter == NET_NETFILTER_IPTABLES && !ipt_program("restore", err))
            return -1;
        net_netfilter_set(a->netfilter);
        log_info("(node %s) netfilter backend %s (--netfilter-backend %s)", a->node_name,
                 net_netfilter_name(a->netfilter), net_netfilter_name(a->netfilter));
        return 0;
    }
    if (nftables_probe(&nft) == 0) {
        net_netfilter_set(NET_NETFILTER_NFTABLES);
        log_info("(node %s) netfilter backend nftables (auto: an nftables transaction works)",
                 a->node_name);
        return 0;
    }
    if (!ipt_program("restore", &ipt))
        return k3c_err_set(err, K3C_E_NOT_FOUND,
                           "no netfilter backend: nftables does not work (%s) and %s", nft.msg,
                           ipt.msg);
    net_netfilter_set(NET_NETFILTER_IPTABLES);
    log_warn("(node %s) netfilter backend iptables (auto: nftables does not work here: %s); "
             "Services, masquerade and NetworkPolicy use %s chains K3C-*",
             a->node_name, nft.msg, ipt_program("restore", &ipt));
    return 0;
}
