/* SPDX-License-Identifier: Apache-2.0
 * netpol.c - the agent's NetworkPolicy enforcement: three informers
 * (NetworkPolicies, Pods, Namespaces) mark the state dirty; one thread
 * gathers changes for batch_ms (a Pod or Namespace update counts only when
 * it changes what the rules read, netpol_relevant), computes the node's whole table
 * (netpol_rules.c) and, when it differs from the one applied, replaces it
 * in one nft transaction (proxy_nft.c runs it). A failed transaction is
 * retried from nothing a second later; the table is deleted at stop. The
 * table is small (a chain per isolated pod of this node), so rebuilding it
 * whole keeps the kernel's state exactly the computed one. */
#define LOG_COMPONENT "netpol"
#include "net/netpol.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"
#include "net/ipt.h"
#include "net/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NETPOL_RETRY_MS 1000
/* Under iptables another program (flannel's chains at a later podCIDR, an
 * administrator) may insert an ACCEPT above FORWARD's jump: checked this
 * often, the jump put back first. */
#define NETPOL_IPT_CHECK_MS 10000
#define BRIDGE_NF_SYSCTL    "/proc/sys/net/bridge/bridge-nf-call-iptables"

struct netpol {
    char *node_name, *table;
    int batch_ms;
    struct http_client *client;
    struct informer *policies, *pods, *namespaces;

    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* dirty, stopping */
    pthread_cond_t wake;
    bool dirty, stopping;

    /* owned by the thread */
    struct proxy_nft *nft; /* NULL under the iptables backend */
    char *applied;         /* the script last applied; NULL after an error */
};

static void
mark(struct netpol *np)
{
    pthread_mutex_lock(&np->lock);
    np->dirty = true;
    pthread_cond_signal(&np->wake);
    pthread_mutex_unlock(&np->lock);
}

static void
on_upsert(void *ud, const json_t *obj, const json_t *old)
{
    (void)obj;
    (void)old;
    mark(ud);
}

/* Pods and Namespaces: only a change the rules read (netpol_relevant)
 * recomputes the table; a Pod's status churn (conditions, restarts) does
 * not. */
static void
on_upsert_relevant(void *ud, const json_t *obj, const json_t *old)
{
    _cleanup_json_ json_t *a = netpol_relevant(obj), *b = netpol_relevant(old);

    if (!old || !json_equal(a, b))
        mark(ud);
}

static void
on_delete(void *ud, const json_t *obj)
{
    (void)obj;
    mark(ud);
}

static const struct informer_ops ops = {on_upsert, on_delete, NULL};
static const struct informer_ops relevant_ops = {on_upsert_relevant, on_delete, NULL};

static void
collect(void *ud, const json_t *obj)
{
    json_array_append(ud, (json_t *)obj);
}

static json_t *
snapshot(struct informer *inf)
{
    json_t *all = json_array();

    informer_foreach(inf, collect, all);
    return all;
}

/* Under iptables: the K3C-NP- chains of the filter table, rewritten in one
 * iptables-restore commit when they changed. */
static int
sync_chains(struct netpol *np, const json_t *policies, const json_t *pods, const json_t *namespaces,
            struct k3c_err *err)
{
    int64_t t0 = k3c_now_ms();
    char *rules = netpol_ipt_rules(np->node_name, policies, pods, namespaces);
    _cleanup_free_ char *save = ipt_save("filter", err), *payload = NULL;

    if (!save) {
        free(rules);
        return k3c_err_wrap(err, "chains %s*", NETPOL_IPT_PREFIX);
    }
    if (np->applied && strcmp(np->applied, rules) == 0 && netpol_ipt_forward_first(save)) {
        free(rules);
        return 0;
    }
    free(np->applied);
    np->applied = NULL;
    payload = netpol_ipt_payload(rules, save);
    if (ipt_restore(payload, err) < 0) {
        free(rules);
        return k3c_err_wrap(err, "chains %s*", NETPOL_IPT_PREFIX);
    }
    np->applied = rules;
    log_info("(iptables %s*) %zu policies, %zu pods: applied in %" PRId64 " ms", NETPOL_IPT_PREFIX,
             json_array_size(policies), json_array_size(pods), k3c_now_ms() - t0);
    return 0;
}

static int
sync_table(struct netpol *np, struct k3c_err *err)
{
    _cleanup_json_ json_t *policies = snapshot(np->policies), *pods = snapshot(np->pods),
                          *namespaces = snapshot(np->namespaces);
    int64_t t0 = k3c_now_ms();
    char *script;

    if (!np->nft)
        return sync_chains(np, policies, pods, namespaces, err);
    script = netpol_script(np->table, np->node_name, policies, pods, namespaces);

    if (np->applied && strcmp(np->applied, script) == 0) {
        free(script);
        return 0;
    }
    free(np->applied);
    np->applied = NULL;
    if (proxy_nft_run(np->nft, script, err) < 0) {
        free(script);
        return k3c_err_wrap(err, "table %s", np->table);
    }
    proxy_nft_drop_cache(np->nft);
    np->applied = script;
    log_info("(table %s) %zu policies, %zu pods: applied in %" PRId64 " ms", np->table,
             json_array_size(policies), json_array_size(pods), k3c_now_ms() - t0);
    return 0;
}

static bool
stopping(struct netpol *np)
{
    bool stop;

    pthread_mutex_lock(&np->lock);
    stop = np->stopping;
    pthread_mutex_unlock(&np->lock);
    return stop;
}

static bool
wait_synced(struct netpol *np)
{
    struct informer *all[] = {np->policies, np->pods, np->namespaces};

    for (size_t i = 0; i < 3; i++)
        while (!informer_wait_synced(all[i], 500))
            if (stopping(np))
                return false;
    return true;
}

static void *
netpol_thread(void *arg)
{
    struct netpol *np = arg;

    if (!wait_synced(np))
        return NULL;
    pthread_mutex_lock(&np->lock);
    np->dirty = true;
    while (!np->stopping) {
        struct k3c_err err = {0};
        int rc;

        if (!np->dirty && np->nft) {
            pthread_cond_wait(&np->wake, &np->lock);
            continue;
        }
        if (!np->dirty) {
            if (!k3c_cond_wait_until(&np->wake, &np->lock, k3c_now_ms() + NETPOL_IPT_CHECK_MS))
                np->dirty = true;
            continue;
        }
        /* gather what else arrives for a moment: one transaction per batch */
        k3c_cond_wait_until(&np->wake, &np->lock, k3c_now_ms() + np->batch_ms);
        if (np->stopping)
            break;
        np->dirty = false;
        pthread_mutex_unlock(&np->lock);
        rc = sync_table(np, &err);
        pthread_mutex_lock(&np->lock);
        if (rc < 0) {
            log_warn("%s; retrying from nothing in %d ms", err.msg, NETPOL_RETRY_MS);
            np->dirty = true;
            k3c_cond_wait_until(&np->wake, &np->lock, k3c_now_ms() + NETPOL_RETRY_MS);
        }
    }
    pthread_mutex_unlock(&np->lock);
    return NULL;
}

/* What the caches keep of a Pod and a Namespace: the fields the rules
 * (netpol_rules.c, netpol_ipt.c) and netpol_relevant read, where they read
 * them. A whole Pod tree is ~40 KB; this is ~1 KB. */
static json_t *
pod_cache_form(const json_t *pod)
{
    const json_t *md = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
    const json_t *st = json_object_get(pod, "status"), *c;
    json_t *ctrs = json_array();
    size_t i;

    json_array_foreach(json_object_get(spec, "containers"), i, c)
        json_array_append_new(ctrs, json_pack("{s:O*}", "ports", json_object_get(c, "ports")));
    return json_pack("{s:{s:O*, s:O*, s:O*, s:O*}, s:{s:O*, s:O*, s:o}, s:{s:O*, s:O*}}",
                     "metadata", "namespace", json_object_get(md, "namespace"), "name",
                     json_object_get(md, "name"), "labels", json_object_get(md, "labels"),
                     "resourceVersion", json_object_get(md, "resourceVersion"), "spec", "nodeName",
                     json_object_get(spec, "nodeName"), "hostNetwork",
                     json_object_get(spec, "hostNetwork"), "containers", ctrs, "status", "podIP",
                     json_object_get(st, "podIP"), "phase", json_object_get(st, "phase"));
}

static json_t *
namespace_cache_form(const json_t *ns)
{
    const json_t *md = json_object_get(ns, "metadata");

    return json_pack("{s:{s:O*, s:O*, s:O*}}", "metadata", "name", json_object_get(md, "name"),
                     "labels", json_object_get(md, "labels"), "resourceVersion",
                     json_object_get(md, "resourceVersion"));
}

static struct informer *
informer_for(struct netpol *np, const char *path, const char *name, struct k3c_err *err)
{
    struct informer_config ic = {.client = np->client,
                                 .path = path,
                                 .name = name,
                                 .ops = strcmp(name, "networkpolicies") == 0 ? &ops : &relevant_ops,
                                 .userdata = np,
                                 .shared = true}; /* namespaces: one watch with the DNS's */

    if (strcmp(name, "pods") == 0)
        ic.cache_form = pod_cache_form;
    else if (strcmp(name, "namespaces") == 0)
        ic.cache_form = namespace_cache_form;

    return informer_new(&ic, err);
}

struct netpol *
netpol_new(const struct netpol_config *cfg, struct k3c_err *err)
{
    struct netpol *np;

    if (!cfg->client || !cfg->node_name)
        return k3c_err_set(err, K3C_E_INVALID, "netpol: client and node name required"), NULL;
    np = k3c_xcalloc(1, sizeof(*np));
    np->client = cfg->client;
    np->node_name = k3c_xstrdup(cfg->node_name);
    np->table = k3c_xstrdup(cfg->table ? cfg->table : NETPOL_TABLE);
    np->batch_ms = cfg->batch_ms > 0 ? cfg->batch_ms : 50;
    pthread_mutex_init(&np->lock, NULL);
    k3c_cond_init(&np->wake);
    if (net_netfilter() == NET_NETFILTER_NFTABLES)
        np->nft = proxy_nft_new(err);
    if (np->nft || net_netfilter() == NET_NETFILTER_IPTABLES)
        np->policies =
            informer_for(np, "/apis/networking.k8s.io/v1/networkpolicies", "networkpolicies", err);
    if (np->policies)
        np->pods = informer_for(np, "/api/v1/pods", "pods", err);
    if (np->pods)
        np->namespaces = informer_for(np, "/api/v1/namespaces", "namespaces", err);
    if (!np->namespaces) {
        netpol_free(np);
        return NULL;
    }
    return np;
}

/* Pod to pod on one node is a bridged frame on cni0: it reaches the ip
 * family's forward hook only through br_netfilter. The service proxy turns
 * this on too; set here as well for --disable-kube-proxy. Per network
 * namespace. */
static void
bridge_nf_on(void)
{
    _cleanup_close_ int fd = open(BRIDGE_NF_SYSCTL, O_RDWR | O_CLOEXEC);
    char v = 0;

    if (fd >= 0 && read(fd, &v, 1) == 1 && v == '1')
        return;
    if (fd < 0 || pwrite(fd, "1\n", 2, 0) != 2)
        log_warn("%s not set (%s; br_netfilter not loaded?): traffic between pods of one node "
                 "is not policed",
                 BRIDGE_NF_SYSCTL, strerror(errno));
}

int
netpol_start(struct netpol *np, struct k3c_err *err)
{
    int rc;

    bridge_nf_on();
    if (informer_start(np->policies, err) < 0 || informer_start(np->pods, err) < 0 ||
        informer_start(np->namespaces, err) < 0)
        return k3c_err_wrap(err, "network policy");
    rc = pthread_create(&np->thread, NULL, netpol_thread, np);
    if (rc != 0)
        return k3c_err_sys(err, rc, "network policy thread");
    np->running = true;
    log_info("(table %s) network policy enforced for node %s", np->table, np->node_name);
    return 0;
}

void
netpol_free(struct netpol *np)
{
    struct k3c_err err = {0};

    if (!np)
        return;
    if (np->running) {
        pthread_mutex_lock(&np->lock);
        np->stopping = true;
        pthread_cond_broadcast(&np->wake);
        pthread_mutex_unlock(&np->lock);
        pthread_join(np->thread, NULL);
    }
    informer_free(np->namespaces);
    informer_free(np->pods);
    informer_free(np->policies);
    if (np->running && np->nft && proxy_nft_delete_table(np->nft, np->table, &err) < 0)
        log_warn("(table %s) not removed: %s", np->table, err.msg);
    if (np->running && !np->nft && ipt_remove_chains(NETPOL_IPT_PREFIX, NULL, &err) < 0)
        log_warn("(iptables %s*) not removed: %s", NETPOL_IPT_PREFIX, err.msg);
    proxy_nft_free(np->nft);
    free(np->applied);
    pthread_cond_destroy(&np->wake);
    pthread_mutex_destroy(&np->lock);
    free(np->node_name);
    free(np->table);
    free(np);
}

int
netpol_cleanup(const char *table, struct k3c_err *err)
{
    if (net_netfilter() == NET_NETFILTER_IPTABLES)
        return ipt_remove_chains(NETPOL_IPT_PREFIX, NULL, err) < 0 ? -1 : 0;
    return proxy_cleanup(table ? table : NETPOL_TABLE, err);
}
