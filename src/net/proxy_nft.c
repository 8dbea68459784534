/* SPDX-License-Identifier: Apache-2.0
 * proxy_nft.c - the proxy's scripts run through libnftables (Debian's
 * libnftables1): nft parses a whole script and commits it as one netlink
 * batch, so every sync is one atomic transaction. The context belongs to
 * one thread (the proxy's); it acts on the calling thread's namespace. */
#include "net/proxy.h"

#include "base/util.h"

#include <malloc.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

struct proxy_nft {
    struct nft_ctx *ctx;
};

struct proxy_nft *
proxy_nft_new(struct k3c_err *err)
{
    struct proxy_nft *n = k3c_xcalloc(1, sizeof(*n));

    n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!n->ctx) {
        free(n);
        k3c_err_set(err, K3C_E_SYSTEM, "nftables: cannot make a context");
        return NULL;
    }
    nft_ctx_buffer_output(n->ctx);
    nft_ctx_buffer_error(n->ctx);
    return n;
}

void
proxy_nft_free(struct proxy_nft *n)
{
    if (!n)
        return;
    nft_ctx_free(n->ctx);
    free(n);
}

/* nft's error text, trimmed to its first lines (the whole script would be
 * echoed around a parse error). */
static int
nft_error(struct proxy_nft *n, struct k3c_err *err, const char *what)
{
    const char *e = nft_ctx_get_error_buffer(n->ctx);
    char line[200];
    size_t i = 0;

    /* one log line: nft's message and the command it names, joined */
    for (; e && *e && i + 3 < sizeof(line); e++)
        if (*e != '\n')
            line[i++] = *e;
        else if (e[1] && e[1] != ' ' && e[1] != '^')
            i += (size_t)snprintf(line + i, sizeof(line) - i, " | ");
    line[i < sizeof(line) ? i : sizeof(line) - 1] = '\0';
    return k3c_err_set(err, K3C_E_SYSTEM, "nftables %s: %s", what, i ? line : "failed");
}

int
proxy_nft_run(struct proxy_nft *n, const char *script, struct k3c_err *err)
{
    if (nft_run_cmd_from_buffer(n->ctx, script) != 0)
        return nft_error(n, err, "transaction");
    return 0;
}

void
proxy_nft_drop_cache(struct proxy_nft *n)
{
    struct nft_ctx *fresh = nft_ctx_new(NFT_CTX_DEFAULT);

    if (!fresh)
        return;
    nft_ctx_free(n->ctx);
    n->ctx = fresh;
    nft_ctx_buffer_output(n->ctx);
    nft_ctx_buffer_error(n->ctx);
    /* the parse of a large script leaves the heap fragmented */
    malloc_trim(0);
}

int
proxy_nft_delete_table(struct proxy_nft *n, const char *table, struct k3c_err *err)
{
    char *cmd = k3c_xasprintf("add table ip %s\ndelete table ip %s\n", table, table);
    int rc = proxy_nft_run(n, cmd, err);

    free(cmd);
    return rc;
}

char *
proxy_nft_list(struct proxy_nft *n, const char *table, struct k3c_err *err)
{
    char *cmd = k3c_xasprintf("list table ip %s", table);
    int rc = nft_run_cmd_from_buffer(n->ctx, cmd);

    free(cmd);
    if (rc != 0) {
        nft_error(n, err, "list");
        return NULL;
    }
    return k3c_xstrdup(nft_ctx_get_output_buffer(n->ctx));
}

int
proxy_cleanup(const char *table, struct k3c_err *err)
{
    struct proxy_nft *n = proxy_nft_new(err);
    int rc;

    if (!n)
        return -1;
    rc = proxy_nft_delete_table(n, table ? table : PROXY_TABLE, err);
    proxy_nft_free(n);
    return rc;
}
