/* SPDX-License-Identifier: Apache-2.0
 * proxy_nft.c - the proxy's scripts run through libnftables (Debian's
 * libnftables1): nft parses a whole script and commits it as one netlink
 * batch, so every sync is one atomic transaction. It acts on the calling
 * thread's network namespace. Thread: one at a time per proxy_nft. */
#include "net/ipt.h"
#include "net/net.h"
#include "net/proxy.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <malloc.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The context keeps nft's copy of the ruleset between transactions: with
 * it, a change to a table of 1,000 Services costs ~5 ms instead of ~18 ms
 * (nft fetches the whole table into a new context). It is also tens of MiB
 * at that size, so the proxy drops it when it goes idle
 * (proxy_nft_drop_cache); a new one costs ~25 us. */
struct proxy_nft {
    struct nft_ctx *ctx; /* NULL until the next run */
};

struct proxy_nft *
proxy_nft_new(struct k3c_err *err)
{
    struct nft_ctx *probe;

    if (!net_nft_library_usable())
        return k3c_xcalloc(1, sizeof(struct proxy_nft)); /* the nft program runs the scripts */
    probe = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!probe) {
        k3c_err_set(err, K3C_E_SYSTEM, "nftables: cannot make a context");
        return NULL;
    }
    nft_ctx_free(probe);
    return k3c_xcalloc(1, sizeof(struct proxy_nft));
}

void
proxy_nft_drop_cache(struct proxy_nft *n)
{
    if (n->ctx) {
        nft_ctx_free(n->ctx);
        n->ctx = NULL;
    }
    /* the parse of a large script leaves the heap fragmented */
    malloc_trim(0);
}

void
proxy_nft_free(struct proxy_nft *n)
{
    if (!n)
        return;
    if (n->ctx)
        nft_ctx_free(n->ctx);
    free(n);
}

/* nft's error text as one line: its message and the command it names. */
static int
nft_error(struct nft_ctx *ctx, struct k3c_err *err, const char *what)
{
    const char *e = nft_ctx_get_error_buffer(ctx);
    char line[200];
    size_t i = 0;

    for (; e && *e && i + 3 < sizeof(line); e++)
        if (*e != '\n')
            line[i++] = *e;
        else if (e[1] && e[1] != ' ' && e[1] != '^')
            i += (size_t)snprintf(line + i, sizeof(line) - i, " | ");
    line[i < sizeof(line) ? i : sizeof(line) - 1] = '\0';
    return k3c_err_set(err, K3C_E_SYSTEM, "nftables %s: %s", what, i ? line : "failed");
}

/* Runs cmd; *out (may be NULL) gets a copy of nft's output. */
static int
run(struct proxy_nft *n, const char *cmd, const char *what, char **out, struct k3c_err *err)
{
    if (!net_nft_library_usable())
        return net_nft_program_run(cmd, out, err);
    if (!n->ctx) {
        n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!n->ctx)
            return k3c_err_set(err, K3C_E_SYSTEM, "nftables: cannot make a context");
        nft_ctx_buffer_output(n->ctx);
        nft_ctx_buffer_error(n->ctx);
    }
    if (nft_run_cmd_from_buffer(n->ctx, cmd) != 0)
        return nft_error(n->ctx, err, what);
    if (out)
        *out = k3c_xstrdup(nft_ctx_get_output_buffer(n->ctx));
    return 0;
}

int
proxy_nft_run(struct proxy_nft *n, const char *script, struct k3c_err *err)
{
    return run(n, script, "transaction", NULL, err);
}

int
proxy_nft_delete_table(struct proxy_nft *n, const char *table, struct k3c_err *err)
{
    _cleanup_free_ char *cmd = k3c_xasprintf("add table ip %s\ndelete table ip %s\n", table, table);

    return run(n, cmd, "delete table", NULL, err);
}

char *
proxy_nft_list(struct proxy_nft *n, const char *table, struct k3c_err *err)
{
    _cleanup_free_ char *cmd = k3c_xasprintf("list table ip %s", table);
    char *out = NULL;

    if (run(n, cmd, "list", &out, err) < 0)
        return NULL;
    return out;
}

int
proxy_cleanup(const char *table, struct k3c_err *err)
{
    struct proxy_nft *n;
    int rc;

    if (net_netfilter() == NET_NETFILTER_IPTABLES) /* issue #19: no nftables to clean */
        return !table || strcmp(table, PROXY_TABLE) == 0 ? proxy_ipt_cleanup(err) : 0;
    n = proxy_nft_new(err);
    if (!n)
        return -1;
    rc = proxy_nft_delete_table(n, table ? table : PROXY_TABLE, err);
    proxy_nft_free(n);
    return rc;
}

int
proxy_nft_probe(struct k3c_err *err)
{
    _cleanup_free_ char *table = k3c_xasprintf("k3c-probe-%d", (int)getpid());
    struct proxy_nft *n = proxy_nft_new(err);
    int rc;

    if (!n)
        return -1;
    rc = proxy_nft_delete_table(n, table, err); /* adds it, then deletes it */
    proxy_nft_free(n);
    return rc;
}
