/* SPDX-License-Identifier: Apache-2.0
 * dns_node.c - the agent's cluster DNS: four informers (Services,
 * EndpointSlices, Namespaces, Nodes, cluster-wide; their caches keep only
 * metadata, the zone keeps its own compact copy) feed the zone; the cluster DNS
 * address goes on a dummy interface (k3c-dns0) of the node's network
 * namespace, so each node's pods reach their own node's DNS through their
 * default route, with no DNAT and no cross-node hop; the server listens on
 * that address, port 53. The interface stays when the agent stops, as the
 * pods do: they keep resolving the moment the agent is back. */
#define LOG_COMPONENT "dns"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"

#define DNS_IFACE "k3c-dns0"

enum { SRC_SERVICES, SRC_SLICES, SRC_NAMESPACES, SRC_NODES, N_SRC };

struct dns_node;

struct dns_source {
    struct dns_node *node;
    int index;
    struct informer *inf;
};

struct dns_node {
    char *cluster_dns, *ifname;
    pthread_mutex_t addr_lock;
    atomic_bool addr_done;
    struct dns_zone *zone;
    struct dns_server *server;
    struct dns_source src[N_SRC];
    atomic_uint synced_mask;
};

static void
source_synced(void *ud)
{
    struct dns_source *s = ud;
    unsigned all = (1u << N_SRC) - 1;
    unsigned m = atomic_fetch_or(&s->node->synced_mask, 1u << s->index) | (1u << s->index);

    if (m == all) {
        dns_zone_set_synced(s->node->zone, true);
        log_debug("(dns) zone synced");
    }
}

/* Servers check each other's --cluster-dns at join; an agent can only
 * compare its own with the kube-dns Service the server made. */
static void
check_kube_dns(struct dns_node *d, const json_t *svc)
{
    const json_t *md = json_object_get(svc, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));

    if (ns && name && ip && strcmp(ns, "kube-system") == 0 && strcmp(name, "kube-dns") == 0 &&
        strcmp(ip, d->cluster_dns) != 0)
        log_warn("(dns) kube-system/kube-dns is %s but this node's --cluster-dns is %s: pods here "
                 "use %s; give every node the servers' value",
                 ip, d->cluster_dns, d->cluster_dns);
}

static void
svc_upsert(void *ud, const json_t *obj, const json_t *old)
{
    struct dns_node *d = ((struct dns_source *)ud)->node;

    (void)old;
    check_kube_dns(d, obj);
    dns_zone_service_upsert(d->zone, obj);
}

static void
svc_delete(void *ud, const json_t *obj)
{
    dns_zone_service_delete(((struct dns_source *)ud)->node->zone, obj);
}

static void
slice_upsert(void *ud, const json_t *obj, const json_t *old)
{
    (void)old;
    dns_zone_slice_upsert(((struct dns_source *)ud)->node->zone, obj);
}

static void
slice_delete(void *ud, const json_t *obj)
{
    dns_zone_slice_delete(((struct dns_source *)ud)->node->zone, obj);
}

static void
ns_upsert(void *ud, const json_t *obj, const json_t *old)
{
    (void)old;
    dns_zone_namespace_upsert(((struct dns_source *)ud)->node->zone, obj);
}

static void
ns_delete(void *ud, const json_t *obj)
{
    dns_zone_namespace_delete(((struct dns_source *)ud)->node->zone, obj);
}

static void
node_upsert(void *ud, const json_t *obj, const json_t *old)
{
    (void)old;
    dns_zone_node_upsert(((struct dns_source *)ud)->node->zone, obj);
}

static void
node_delete(void *ud, const json_t *obj)
{
    dns_zone_node_delete(((struct dns_source *)ud)->node->zone, obj);
}

static const struct informer_ops source_ops[N_SRC] = {
    {.on_upsert = svc_upsert, .on_delete = svc_delete, .on_synced = source_synced},
    {.on_upsert = slice_upsert, .on_delete = slice_delete, .on_synced = source_synced},
    {.on_upsert = ns_upsert, .on_delete = ns_delete, .on_synced = source_synced},
    {.on_upsert = node_upsert, .on_delete = node_delete, .on_synced = source_synced},
};

static const char *const source_paths[N_SRC] = {
    "/api/v1/services",
    "/apis/discovery.k8s.io/v1/endpointslices",
    "/api/v1/namespaces",
    "/api/v1/nodes",
};

static const char *const source_names[N_SRC] = {"dns services", "dns endpointslices",
                                                "dns namespaces", "dns nodes"};

/* A dummy link named ifname, up (made if missing). Returns its index, or
 * 0 when dummy links cannot be made here (no module). */
static int
dummy_link(struct nl_sock *sk, const char *ifname)
{
    struct rtnl_link *link = rtnl_link_alloc(), *cur = NULL;
    int idx = 0;

    rtnl_link_set_name(link, ifname);
    if (rtnl_link_set_type(link, "dummy") == 0) {
        rtnl_link_set_flags(link, IFF_UP);
        int rc = rtnl_link_add(sk, link, NLM_F_CREATE);
        if (rc < 0 && rc != -NLE_EXIST)
            log_warn("(dns) %s: %s", ifname, nl_geterror(rc));
    }
    rtnl_link_put(link);
    if (rtnl_link_get_kernel(sk, 0, ifname, &cur) == 0) {
        idx = rtnl_link_get_ifindex(cur);
        if (!(rtnl_link_get_flags(cur) & IFF_UP)) {
            struct rtnl_link *up = rtnl_link_alloc();
            rtnl_link_set_flags(up, IFF_UP);
            rtnl_link_change(sk, cur, up, 0);
            rtnl_link_put(up);
        }
        rtnl_link_put(cur);
    }
    return idx;
}

/* Puts ip/32 (/128) on a dummy interface, or on lo where dummy links
 * cannot be made. */
static int
add_address(const char *ifname, const char *ip, const char **used, struct k3c_err *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct nl_addr *local = NULL;
    struct rtnl_addr *addr = NULL;
    char cidr[80];
    int rc, idx;

    if (!sk)
        return k3c_err_set(err, K3C_E_SYSTEM, "netlink socket");
    rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sk);
        return k3c_err_set(err, K3C_E_SYSTEM, "netlink: %s", nl_geterror(rc));
    }
    idx = dummy_link(sk, ifname);
    *used = ifname;
    if (!idx) {
        log_warn("(dns) no dummy interface %s: putting %s on lo", ifname, ip);
        idx = (int)if_nametoindex("lo");
        *used = "lo";
    }
    snprintf(cidr, sizeof(cidr), "%s/%d", ip, strchr(ip, ':') ? 128 : 32);
    rc = nl_addr_parse(cidr, AF_UNSPEC, &local);
    if (rc == 0) {
        addr = rtnl_addr_alloc();
        rtnl_addr_set_ifindex(addr, idx);
        rtnl_addr_set_local(addr, local);
        rc = rtnl_addr_add(sk, addr, 0);
        if (rc == -NLE_EXIST)
            rc = 0;
    }
    rtnl_addr_put(addr);
    nl_addr_put(local);
    nl_socket_free(sk);
    if (rc < 0)
        return k3c_err_set(err, K3C_E_SYSTEM, "address %s on %s: %s", cidr, ifname,
                           nl_geterror(rc));
    return 0;
}

static char **
strv_dup(char *const *v)
{
    size_t n = 0;
    char **out;

    while (v && v[n])
        n++;
    if (!v)
        return NULL;
    out = k3c_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = k3c_xstrdup(v[i]);
    return out;
}

static char *
dup_opt(const char *s)
{
    return s ? k3c_xstrdup(s) : NULL;
}

struct dns_node_config *
dns_node_config_dup(const struct dns_node_config *cfg)
{
    struct dns_node_config *c = k3c_xcalloc(1, sizeof(*c));

    c->cluster_dns = dup_opt(cfg->cluster_dns);
    c->cluster_domain = dup_opt(cfg->cluster_domain);
    c->resolv_conf = dup_opt(cfg->resolv_conf);
    c->forward = strv_dup(cfg->forward);
    c->hosts_file = dup_opt(cfg->hosts_file);
    c->interface = dup_opt(cfg->interface);
    c->port = cfg->port;
    return c;
}

void
dns_node_config_free(struct dns_node_config *c)
{
    if (!c)
        return;
    free((char *)c->cluster_dns);
    free((char *)c->cluster_domain);
    free((char *)c->resolv_conf);
    for (size_t i = 0; c->forward && c->forward[i]; i++)
        free(c->forward[i]);
    free((char **)c->forward);
    free((char *)c->hosts_file);
    free((char *)c->interface);
    free(c);
}

struct dns_node *
dns_node_start(const struct dns_node_config *cfg, struct http_client *api, struct k3c_err *err)
{
    const char *domain = cfg->cluster_domain ? cfg->cluster_domain : "cluster.local";
    const char *ifname = cfg->interface ? cfg->interface : DNS_IFACE;
    struct dns_node *d = k3c_xcalloc(1, sizeof(*d));

    d->zone = dns_zone_new(domain, cfg->cluster_dns, err);
    if (!d->zone)
        goto fail;
    d->cluster_dns = k3c_xstrdup(cfg->cluster_dns);
    d->ifname = k3c_xstrdup(ifname);
    pthread_mutex_init(&d->addr_lock, NULL);
    struct dns_server_config sc = {.listen_ip = cfg->cluster_dns,
                                   .port = cfg->port,
                                   .zone = d->zone,
                                   .resolv_conf = cfg->resolv_conf,
                                   .forward = cfg->forward,
                                   .hosts_file = cfg->hosts_file};
    d->server = dns_server_new(&sc, err);
    if (!d->server || dns_server_start(d->server, err) < 0)
        goto fail;
    for (int i = 0; i < N_SRC; i++) {
        struct informer_config ic = {.client = api,
                                     .path = source_paths[i],
                                     .name = source_names[i],
                                     .ops = &source_ops[i],
                                     .userdata = &d->src[i],
                                     .cache_form = informer_metadata_form,
                                     .shared = true}; /* one watch with the proxy's */
        d->src[i].node = d;
        d->src[i].index = i;
        d->src[i].inf = informer_new(&ic, err);
        if (!d->src[i].inf || informer_start(d->src[i].inf, err) < 0)
            goto fail;
    }
    log_info("(dns) cluster DNS %s:%d, domain %s; the address goes on %s with the first pod",
             cfg->cluster_dns, dns_server_port(d->server), domain, ifname);
    return d;
fail:
    k3c_err_wrap(err, "cluster DNS");
    dns_node_stop(d);
    return NULL;
}

int
dns_node_ensure_address(struct dns_node *d, struct k3c_err *err)
{
    const char *used = d->ifname;
    int rc = 0;

    if (atomic_load(&d->addr_done))
        return 0;
    pthread_mutex_lock(&d->addr_lock);
    if (!atomic_load(&d->addr_done)) {
        rc = add_address(d->ifname, d->cluster_dns, &used, err);
        if (rc == 0) {
            atomic_store(&d->addr_done, true);
            log_info("(dns) %s on %s", d->cluster_dns, used);
        }
    }
    pthread_mutex_unlock(&d->addr_lock);
    return rc;
}

void
dns_node_stop(struct dns_node *d)
{
    if (!d)
        return;
    for (int i = 0; i < N_SRC; i++)
        informer_free(d->src[i].inf); /* callbacks write the zone: stop them first */
    dns_server_free(d->server);
    dns_zone_free(d->zone);
    if (d->ifname)
        pthread_mutex_destroy(&d->addr_lock);
    free(d->cluster_dns);
    free(d->ifname);
    free(d);
}
