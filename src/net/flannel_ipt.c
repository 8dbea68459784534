/* SPDX-License-Identifier: Apache-2.0
 * flannel_ipt.c - the pod network's masquerade and forward rules under the
 * iptables backend (issue #19): flannel's own iptables rules
 * (pkg/trafficmngr/iptables) with K3C-FLANNEL- chain names, the same rules
 * flannel_nft_script writes to table ip k3c-flannel. */
#include "net/flannel.h"
#include "net/ipt.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>

static const struct ipt_jump nat_jumps[] = {{"POSTROUTING", "", "K3C-FLANNEL-POSTRTG"}};
static const struct ipt_jump filter_jumps[] = {{"FORWARD", "", "K3C-FLANNEL-FWD"}};

char *
flannel_ipt_script(const char *cluster_cidr, const char *pod_cidr, bool random_fully,
                   const char *nat_save, const char *filter_save)
{
    const char *rf = random_fully ? " --random-fully" : "";
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b,
                    "*nat\n"
                    ":K3C-FLANNEL-POSTRTG - [0:0]\n"
                    "-A K3C-FLANNEL-POSTRTG -s %1$s -d %1$s -j RETURN\n"
                    "-A K3C-FLANNEL-POSTRTG ! -s %1$s -d %2$s -j RETURN\n"
                    "-A K3C-FLANNEL-POSTRTG -s %1$s ! -d 224.0.0.0/4 -j MASQUERADE%3$s\n"
                    "-A K3C-FLANNEL-POSTRTG ! -s %1$s -d %1$s -j MASQUERADE%3$s\n",
                    cluster_cidr, pod_cidr, rf);
    ipt_jumps_ensure(&b, nat_save, nat_jumps, K3C_ARRAY_SIZE(nat_jumps));
    k3c_buf_appendf(&b,
                    "COMMIT\n"
                    "*filter\n"
                    ":K3C-FLANNEL-FWD - [0:0]\n"
                    "-A K3C-FLANNEL-FWD -s %1$s -j ACCEPT\n"
                    "-A K3C-FLANNEL-FWD -d %1$s -j ACCEPT\n",
                    cluster_cidr);
    ipt_jumps_ensure(&b, filter_save, filter_jumps, K3C_ARRAY_SIZE(filter_jumps));
    k3c_buf_appendf(&b, "COMMIT\n");
    return k3c_buf_steal(&b, NULL);
}

int
flannel_ipt_apply(const char *cluster_cidr, const char *pod_cidr, struct k3c_err *err)
{
    _cleanup_free_ char *nat = ipt_save("nat", err);
    _cleanup_free_ char *filter = nat ? ipt_save("filter", err) : NULL;
    _cleanup_free_ char *script = NULL;

    if (!filter)
        return -1;
    script = flannel_ipt_script(cluster_cidr, pod_cidr, ipt_random_fully(), nat, filter);
    return ipt_restore(script, err);
}
