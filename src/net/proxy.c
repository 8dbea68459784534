/* SPDX-License-Identifier: Apache-2.0
 * proxy.c - the agent's service proxy: two informers (Services,
 * EndpointSlices) mark the services they touch dirty; one thread owns the nft state, gathers the
 * dirty keys for batch_ms, computes their objects (proxy_rules.c) and commits the diff as one
 * transaction. A full resync (the table rebuilt from nothing, in one transaction) runs once every
 * informer has synced and after any failed transaction; the table is deleted when the proxy stops.
 */
#define LOG_COMPONENT "proxy"
#include "net/proxy.h"
#include "net/ipt.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROXY_RETRY_MS  1000
#define PROXY_IDLE_MS   10000 /* nft's context is dropped after this long without a sync */
#define LABEL_SERVICE   "kubernetes.io/service-name"
#define BRIDGE_NF_SYSCL "/proc/sys/net/bridge/bridge-nf-call-iptables"

struct proxy {
    char *node_name, *cidr, *table;
    int batch_ms;
    struct http_client *client;
    struct informer *services, *slices;

    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* dirty, full, stopping; never held across nft */
    pthread_cond_t wake;
    json_t *dirty; /* service keys "ns/name" -> true */
    bool full, stopping;

    /* owned by the thread */
    struct proxy_state *st;
    struct proxy_nft *nft; /* NULL under the iptables backend */
    struct proxy_ipt *ipt; /* the iptables backend (issue #19), else NULL */
};

/* ---- informer callbacks (under the informer's lock: mark and wake only) ---- */

static void
mark(struct proxy *p, const char *ns, const char *name)
{
    _cleanup_free_ char *key = NULL;

    if (!ns || !name)
        return;
    key = k3c_xasprintf("%s/%s", ns, name);
    pthread_mutex_lock(&p->lock);
    json_object_set_new(p->dirty, key, json_true());
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

static const char *
meta_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static void
on_service(void *ud, const json_t *obj, const json_t *old)
{
    (void)old;
    mark(ud, meta_str(obj, "namespace"), meta_str(obj, "name"));
}

static void
on_service_delete(void *ud, const json_t *obj)
{
    on_service(ud, obj, NULL);
}

static const char *
slice_service(const json_t *slice)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(slice, "metadata"), "labels"), LABEL_SERVICE));
}

static void
on_slice(void *ud, const json_t *obj, const json_t *old)
{
    mark(ud, meta_str(obj, "namespace"), slice_service(obj));
    if (old)
        mark(ud, meta_str(old, "namespace"), slice_service(old));
}

static void
on_slice_delete(void *ud, const json_t *obj)
{
    on_slice(ud, obj, NULL);
}

static const struct informer_ops service_ops = {on_service, on_service_delete, NULL};
static const struct informer_ops slice_ops = {on_slice, on_slice_delete, NULL};

/* ---- computing ------------------------------------------------------------ */

struct slice_index {
    json_t *want;       /* keys wanted (NULL: all) */
    json_t *by_service; /* key -> array of slices */
};

static void
index_slice(void *ud, const json_t *slice)
{
    struct slice_index *ix = ud;
    const char *svc = slice_service(slice), *ns = meta_str(slice, "namespace");
    _cleanup_free_ char *key = NULL;
    json_t *list;

    if (!svc || !ns)
        return;
    key = k3c_xasprintf("%s/%s", ns, svc);
    if (ix->want && !json_object_get(ix->want, key))
        return;
    list = json_object_get(ix->by_service, key);
    if (!list) {
        list = json_array();
        json_object_set_new(ix->by_service, key, list);
    }
    json_array_append(list, (json_t *)slice);
}

static void
collect_service_key(void *ud, const json_t *svc)
{
    _cleanup_free_ char *key =
        k3c_xasprintf("%s/%s", meta_str(svc, "namespace"), meta_str(svc, "name"));

    json_object_set_new(ud, key, json_true());
}

/* Sets the objects of every key in keys into the state. */
static void
compute(struct proxy *p, json_t *keys, bool all)
{
    struct proxy_rules_config rc = {
        .table = p->table, .node_name = p->node_name, .cluster_cidr = p->cidr};
    struct slice_index ix = {.want = all ? NULL : keys, .by_service = json_object()};
    const char *key;
    json_t *v;

    informer_foreach(p->slices, index_slice, &ix);
    json_object_foreach(keys, key, v)
    {
        char ns[256], name[256];
        const char *slash = strchr(key, '/');
        _cleanup_json_ json_t *svc = NULL, *objs = NULL;

        if (!slash || (size_t)(slash - key) >= sizeof(ns))
            continue;
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
        snprintf(name, sizeof(name), "%s", slash + 1);
        svc = informer_get(p->services, ns, name);
        if (p->ipt) {
            _cleanup_json_ json_t *model =
                svc ? proxy_service_model(&rc, svc, json_object_get(ix.by_service, key)) : NULL;

            proxy_ipt_set(p->ipt, key, model);
            continue;
        }
        if (svc)
            objs = proxy_service_objects(&rc, svc, json_object_get(ix.by_service, key));
        proxy_state_set(p->st, key, objs);
    }
    json_decref(ix.by_service);
}

/* The iptables backend: every sync rewrites the proxy's chains. */
static int
ipt_sync(struct proxy *p, json_t *keys, bool full, struct k3c_err *err)
{
    int64_t t0 = k3c_now_ms();

    if (full) {
        _cleanup_json_ json_t *all = json_object();

        informer_foreach(p->services, collect_service_key, all);
        proxy_ipt_reset(p->ipt);
        compute(p, all, true);
    } else {
        compute(p, keys, false);
    }
    if (proxy_ipt_sync(p->ipt, full, err) < 0)
        return k3c_err_wrap(err, "%s sync", full ? "full" : "partial");
    if (full)
        log_info("(iptables) full sync: %zu services in %" PRId64 " ms", proxy_ipt_services(p->ipt),
                 k3c_now_ms() - t0);
    return 0;
}

static int
full_sync(struct proxy *p, struct k3c_err *err)
{
    _cleanup_json_ json_t *keys = json_object();
    _cleanup_free_ char *base = proxy_state_reset(p->st), *svcs = NULL, *script = NULL;
    int64_t t0 = k3c_now_ms();

    informer_foreach(p->services, collect_service_key, keys);
    compute(p, keys, true);
    svcs = proxy_state_take_script(p->st);
    script = k3c_xasprintf("%s%s", base, svcs ? svcs : "");
    if (proxy_nft_run(p->nft, script, err) < 0)
        return k3c_err_wrap(err, "full sync");
    /* the whole script's parse stays in the context: tens of MiB at 1,000
     * Services, worth less than the one fetch the next change then makes */
    proxy_nft_drop_cache(p->nft);
    log_info("(table %s) full sync: %zu services, %zu objects in %" PRId64 " ms", p->table,
             proxy_state_services(p->st), proxy_state_objects(p->st), k3c_now_ms() - t0);
    return 0;
}

static int
partial_sync(struct proxy *p, json_t *keys, struct k3c_err *err)
{
    _cleanup_free_ char *script = NULL;
    int64_t t0 = k3c_now_ms();

    compute(p, keys, false);
    script = proxy_state_take_script(p->st);
    if (!script)
        return 0;
    if (proxy_nft_run(p->nft, script, err) < 0)
        return k3c_err_wrap(err, "sync of %zu services", json_object_size(keys));
    log_debug("(table %s) %zu services synced in %" PRId64 " ms", p->table, json_object_size(keys),
              k3c_now_ms() - t0);
    return 0;
}

/* The node's settings the proxy needs, set as K3s's agent sets them: IPv4
 * forwarding (NodePort and LoadBalancer traffic to another node's pod
 * leaves the way it came), and bridged pod-to-pod replies through the ip
 * hooks so they are un-DNATed (a Service backend on the same bridge as its
 * client). Both are per network namespace. */
static void
sysctl_on(const char *path, const char *why)
{
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    char v = 0;

    if (fd >= 0 && read(fd, &v, 1) == 1 && v == '1')
        return;
    if (fd < 0 || pwrite(fd, "1\n", 2, 0) != 2)
        log_warn("(proxy) %s not set: %s (%s)", path, why, strerror(errno));
}

static void
node_sysctls(void)
{
    sysctl_on("/proc/sys/net/ipv4/ip_forward",
              "NodePort and LoadBalancer traffic to other nodes' pods is dropped");
    sysctl_on(BRIDGE_NF_SYSCL, "br_netfilter missing? a Service backend may not answer a "
                               "client on the same bridge");
}

static bool
wait_synced(struct proxy *p)
{
    struct informer *all[] = {p->services, p->slices};

    for (size_t i = 0; i < 2; i++)
        while (!informer_wait_synced(all[i], 500)) {
            bool stop;

            pthread_mutex_lock(&p->lock);
            stop = p->stopping;
            pthread_mutex_unlock(&p->lock);
            if (stop)
                return false;
        }
    return true;
}

static void *
proxy_thread(void *arg)
{
    struct proxy *p = arg;
    int64_t idle_since = -1; /* last sync, while nft's context is kept */

    if (!wait_synced(p))
        return NULL;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        _cleanup_json_ json_t *keys = NULL;
        struct k3c_err err = {0};
        bool full = p->full;
        int rc;

        if (!full && json_object_size(p->dirty) == 0) {
            /* idle: after PROXY_IDLE_MS nft's copy of the ruleset goes */
            if (idle_since < 0) {
                pthread_cond_wait(&p->wake, &p->lock);
            } else if (!k3c_cond_wait_until(&p->wake, &p->lock, idle_since + PROXY_IDLE_MS)) {
                idle_since = -1;
                pthread_mutex_unlock(&p->lock);
                if (p->nft)
                    proxy_nft_drop_cache(p->nft);
                pthread_mutex_lock(&p->lock);
            }
            continue;
        }
        /* gather what else arrives for a moment: one transaction per batch */
        k3c_cond_wait_until(&p->wake, &p->lock, k3c_now_ms() + p->batch_ms);
        if (p->stopping)
            break;
        keys = p->dirty;
        p->dirty = json_object();
        p->full = false;
        pthread_mutex_unlock(&p->lock);
        if (p->ipt)
            rc = ipt_sync(p, keys, full, &err);
        else
            rc = full ? full_sync(p, &err) : partial_sync(p, keys, &err);
        idle_since = k3c_now_ms();
        pthread_mutex_lock(&p->lock);
        if (rc < 0) {
            log_warn("(table %s) %s; full resync in %d ms", p->table, err.msg, PROXY_RETRY_MS);
            p->full = true;
            k3c_cond_wait_until(&p->wake, &p->lock, k3c_now_ms() + PROXY_RETRY_MS);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------------- */

static struct informer *
informer_for(struct proxy *p, const char *path, const char *name, const struct informer_ops *ops,
             struct k3c_err *err)
{
    struct informer_config ic = {.client = p->client,
                                 .path = path,
                                 .name = name,
                                 .ops = ops,
                                 .userdata = p,
                                 .shared = true}; /* one watch with the DNS's */

    return informer_new(&ic, err);
}

struct proxy *
proxy_new(const struct proxy_config *cfg, struct k3c_err *err)
{
    struct proxy *p;

    if (!cfg->client || !cfg->node_name)
        return k3c_err_set(err, K3C_E_INVALID, "proxy: client and node name required"), NULL;
    p = k3c_xcalloc(1, sizeof(*p));
    p->client = cfg->client;
    p->node_name = k3c_xstrdup(cfg->node_name);
    p->cidr = k3c_xstrdup(cfg->cluster_cidr ? cfg->cluster_cidr : PROXY_CLUSTER_CIDR);
    p->table = k3c_xstrdup(cfg->table ? cfg->table : PROXY_TABLE);
    p->batch_ms = cfg->batch_ms > 0 ? cfg->batch_ms : 20;
    p->dirty = json_object();
    p->full = true;
    pthread_mutex_init(&p->lock, NULL);
    k3c_cond_init(&p->wake);
    p->st = proxy_state_new(p->table, p->cidr);
    if (net_netfilter() == NET_NETFILTER_IPTABLES)
        p->ipt = proxy_ipt_new(p->cidr);
    else
        p->nft = proxy_nft_new(err);
    if (p->nft || p->ipt)
        p->services = informer_for(p, "/api/v1/services", "services", &service_ops, err);
    if (p->services)
        p->slices = informer_for(p, "/apis/discovery.k8s.io/v1/endpointslices", "endpointslices",
                                 &slice_ops, err);
    if (!p->slices) {
        proxy_free(p);
        return NULL;
    }
    return p;
}

int
proxy_start(struct proxy *p, struct k3c_err *err)
{
    int rc;

    node_sysctls();
    if (informer_start(p->services, err) < 0 || informer_start(p->slices, err) < 0)
        return k3c_err_wrap(err, "service proxy");
    rc = pthread_create(&p->thread, NULL, proxy_thread, p);
    if (rc != 0)
        return k3c_err_sys(err, rc, "service proxy thread");
    p->running = true;
    if (p->ipt)
        log_info("(iptables) service proxy started for node %s", p->node_name);
    else
        log_info("(table %s) service proxy started for node %s", p->table, p->node_name);
    return 0;
}

void
proxy_free(struct proxy *p)
{
    struct k3c_err err = {0};

    if (!p)
        return;
    if (p->running) {
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    informer_free(p->slices);
    informer_free(p->services);
    if (p->running && p->ipt && proxy_ipt_cleanup(&err) < 0)
        log_warn("(iptables) K3C- chains not removed: %s", err.msg);
    else if (p->running && p->nft && proxy_nft_delete_table(p->nft, p->table, &err) < 0)
        log_warn("(table %s) not removed: %s", p->table, err.msg);
    proxy_nft_free(p->nft);
    proxy_ipt_free(p->ipt);
    proxy_state_free(p->st);
    json_decref(p->dirty);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->node_name);
    free(p->cidr);
    free(p->table);
    free(p);
}
