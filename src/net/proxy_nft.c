/* SPDX-License-Identifier: Apache-2.0
 * proxy_nft.c - the proxy's and the network policies' scripts, each one
 * nftables transaction, in a `k3c __nft --session` helper process
 * (net_nft_session.c): the agent maps no libnftables. The helper keeps nft's
 * copy of the ruleset between transactions: with it, a change to a table of
 * 1,000 Services costs ~4 ms instead of ~20 ms (nft fetches the whole table
 * into a new context). It is also tens of MiB at that size, so the proxy
 * ends the helper when it goes idle (proxy_nft_drop_cache); a new one costs
 * a process start (~6 ms). It acts on the network namespace of the thread
 * that ran the first script. Thread: one at a time per proxy_nft. */
#include "net/ipt.h"
#include "net/net.h"
#include "net/proxy.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct proxy_nft {
    struct net_nft_session *session;
};

struct proxy_nft *
proxy_nft_new(struct k3c_err *err)
{
    struct proxy_nft *n = k3c_xcalloc(1, sizeof(*n));

    (void)err;
    n->session = net_nft_session_new();
    return n;
}

void
proxy_nft_drop_cache(struct proxy_nft *n)
{
    net_nft_session_end(n->session);
    /* building a large script leaves the heap fragmented */
    malloc_trim(0);
}

void
proxy_nft_free(struct proxy_nft *n)
{
    if (!n)
        return;
    net_nft_session_free(n->session);
    free(n);
}

/* Runs cmd; *out (may be NULL) gets a copy of nft's output. */
static int
run(struct proxy_nft *n, const char *cmd, const char *what, char **out, struct k3c_err *err)
{
    return net_nft_session_run(n->session, cmd, what, out, err);
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
