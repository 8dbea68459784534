/* SPDX-License-Identifier: Apache-2.0
 * flannel_nft.c - runs the pod network's nftables scripts, each one
 * transaction, through net_nft_run (the `k3c __nft` helper process): an
 * idle agent keeps no nftables state in memory. */
#include "net/flannel-internal.h"
#include "net/net.h"

int
flannel_nft_run(const char *script, struct k3c_err *err)
{
    return net_nft_run(script, "transaction", NULL, err);
}
