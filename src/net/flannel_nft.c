/* SPDX-License-Identifier: Apache-2.0
 * flannel_nft.c - runs the pod network's nftables scripts through
 * libnftables (Debian libnftables1): one context per call, so an idle agent
 * keeps no nftables state in memory; each script is one transaction. */
#include "net/flannel-internal.h"
#include "net/net.h"

#include <nftables/libnftables.h>
#include <string.h>

int
flannel_nft_run(const char *script, struct k3c_err *err)
{
    struct nft_ctx *nft;
    int rc;

    if (!net_nft_library_usable())
        return net_nft_program_run(script, NULL, err);
    nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft)
        return k3c_err_set(err, K3C_E_SYSTEM, "nftables: cannot create a context");
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    rc = nft_run_cmd_from_buffer(nft, script);
    if (rc != 0) {
        const char *msg = nft_ctx_get_error_buffer(nft);
        size_t len = msg ? strcspn(msg, "\n") : 0;

        k3c_err_set(err, K3C_E_SYSTEM, "nftables: %.*s", (int)len, len ? msg : "failed");
    }
    nft_ctx_free(nft);
    return rc != 0 ? -1 : 0;
}
