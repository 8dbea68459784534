/* SPDX-License-Identifier: Apache-2.0
 * servicelb.c - K3s's ServiceLB ("klipper-lb") without its pods: a Service
 * of type LoadBalancer gets, in status.loadBalancer.ingress, the IPs of the
 * nodes that serve it, and every node's service proxy (net/proxy.h) answers
 * on those IPs at the Service's ports. Which nodes, as K3s decides:
 *   - Ready nodes (K3s: those whose svclb pod runs);
 *   - when any node has the label svccontroller.k3s.cattle.io/enablelb=true,
 *     only those (an allow-list);
 *   - a Service labelled svccontroller.k3s.cattle.io/lbpool=P only on nodes
 *     with the same lbpool label;
 *   - externalTrafficPolicy Local: only nodes with a ready endpoint.
 * A node's ExternalIP is used when it has one, else its InternalIP. A
 * Service with spec.loadBalancerClass is left to that class's controller.
 * A Service that asks for an address (spec.loadBalancerIP, or kube-vip's
 * annotation kube-vip.io/loadbalancerIPs) gets exactly that one when it is
 * the server's --vip or in --servicelb-pool (the VIP's holder announces it,
 * vip/vip_lb.c), and none otherwise (a Warning Event says why).
 * `--disable servicelb` turns it off. Keys are "namespace/name". */
#define LOG_COMPONENT "servicelb"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/ip4pool.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define LABEL_ENABLELB "svccontroller.k3s.cattle.io/enablelb"
#define LABEL_LBPOOL   "svccontroller.k3s.cattle.io/lbpool"
#define LABEL_SERVICE  "kubernetes.io/service-name"
#define ANNOT_LB_IPS   "kube-vip.io/loadbalancerIPs"

static const char *
label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static const char *
spec_str(const json_t *svc, const char *key)
{
    return json_string_value(json_object_get(json_object_get(svc, "spec"), key));
}

static bool
is_ours(const json_t *svc)
{
    const char *type = spec_str(svc, "type");

    return type && strcmp(type, "LoadBalancer") == 0 && !spec_str(svc, "loadBalancerClass");
}

static void
on_service(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED)
        ctl_enqueue_object(c, obj);
}

static bool
enqueue_lb(void *ud, const json_t *svc)
{
    if (is_ours(svc))
        ctl_enqueue_object(ud, svc);
    return true;
}

/* A node came, went or changed: every LoadBalancer Service may change. */
static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    (void)obj;
    ctl_list(c, "services", NULL, NULL, enqueue_lb, c);
}

static void
on_slice(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const char *svc = label(obj, LABEL_SERVICE);
    const char *ns =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    _cleanup_free_ char *key = NULL;

    (void)ev;
    (void)old;
    if (!svc || !ns)
        return;
    key = k3c_xasprintf("%s/%s", ns, svc);
    ctl_enqueue(c, key);
}

struct node_scan {
    const json_t *svc;
    const char *pool;
    json_t *local_nodes; /* ETP Local: node names with a ready endpoint; else NULL */
    bool allow_list;     /* some node has enablelb=true */
    json_t *ips;         /* array of strings */
};

static bool
find_allow_list(void *ud, const json_t *node)
{
    struct node_scan *s = ud;
    const char *v = label(node, LABEL_ENABLELB);

    if (v && strcmp(v, "true") == 0)
        s->allow_list = true;
    return !s->allow_list;
}

static const char *
node_address(const json_t *node)
{
    const char *internal = NULL, *external = NULL;
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, a)
    {
        const char *type = json_string_value(json_object_get(a, "type"));
        const char *addr = json_string_value(json_object_get(a, "address"));

        if (type && strcmp(type, "ExternalIP") == 0 && !external)
            external = addr;
        else if (type && strcmp(type, "InternalIP") == 0 && !internal)
            internal = addr;
    }
    return external ? external : internal;
}

static bool
collect_node(void *ud, const json_t *node)
{
    struct node_scan *s = ud;
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
    const char *enable = label(node, LABEL_ENABLELB), *pool = label(node, LABEL_LBPOOL);
    const char *ready = ctl_node_ready_status(node), *ip = node_address(node);

    if (!name || !ip || !ready || strcmp(ready, "True") != 0 || ctl_being_deleted(node))
        return true;
    if (s->allow_list && !(enable && strcmp(enable, "true") == 0))
        return true;
    if (s->pool && !(pool && strcmp(pool, s->pool) == 0))
        return true;
    if (s->local_nodes && !json_object_get(s->local_nodes, name))
        return true;
    json_array_append_new(s->ips, json_string(ip));
    return true;
}

static bool
collect_local(void *ud, const json_t *slice)
{
    struct node_scan *s = ud;
    size_t i;
    json_t *ep;

    json_array_foreach(json_object_get(slice, "endpoints"), i, ep)
    {
        const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
        const char *node = json_string_value(json_object_get(ep, "nodeName"));

        if (node && (!ready || json_is_true(ready)))
            json_object_set_new(s->local_nodes, node, json_true());
    }
    return true;
}

static int
ip_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* The ingress list the Service should have, sorted. */
static json_t *
wanted_ingress(struct ctl *c, const json_t *svc, const char *ns, const char *name)
{
    struct node_scan s = {.svc = svc, .pool = label(svc, LABEL_LBPOOL), .ips = json_array()};
    const char *etp = spec_str(svc, "externalTrafficPolicy");
    json_t *out = json_array();
    json_t **v;
    size_t n;

    if (etp && strcmp(etp, "Local") == 0) {
        _cleanup_json_ json_t *sel = json_pack("{s:{s:s}}", "matchLabels", LABEL_SERVICE, name);

        s.local_nodes = json_object();
        ctl_list(c, "endpointslices", ns, sel, collect_local, &s);
    }
    ctl_list(c, "nodes", NULL, NULL, find_allow_list, &s);
    ctl_list(c, "nodes", NULL, NULL, collect_node, &s);
    n = json_array_size(s.ips);
    v = k3c_xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(s.ips, i);
    qsort(v, n, sizeof(*v), ip_cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(json_string_value(v[i]), json_string_value(v[i - 1])) != 0)
            json_array_append_new(out, json_pack("{s:O, s:s}", "ip", v[i], "ipMode", "VIP"));
    free(v);
    json_decref(s.ips);
    json_decref(s.local_nodes);
    return out;
}

/* The address the Service asks for: kube-vip's annotation (its first
 * entry), else spec.loadBalancerIP; "" when none. */
static void
requested_ip(const json_t *svc, char out[64])
{
    const char *a = ctl_annotation(svc, ANNOT_LB_IPS);
    const char *spec = spec_str(svc, "loadBalancerIP");
    const char *src = a && *a ? a : spec ? spec : "";
    size_t n = strcspn(src, ", ");

    snprintf(out, 64, "%.*s", (int)(n < 63 ? n : 63), src);
}

/* Whether ip is --vip's address or in --servicelb-pool. */
static bool
lb_ip_allowed(const struct ctl_config *cfg, const char *ip)
{
    struct ip4pool pool;
    struct k3c_err err = {0};
    const char *vip = cfg->servicelb_vip;
    size_t n = vip ? strcspn(vip, "/") : 0;

    if (vip && strlen(ip) == n && strncmp(vip, ip, n) == 0)
        return true;
    /* checked when the server started (server_lb_pool_check) */
    return ip4pool_parse(cfg->servicelb_pool, &pool, &err) == 0 && ip4pool_contains(&pool, ip);
}

/* The ingress of a Service that asks for an address: that address, or
 * nothing when it may not have it. */
static json_t *
requested_ingress(struct ctl *c, const json_t *svc, const char *ip)
{
    if (lb_ip_allowed(ctl_manager_config(ctl_manager(c)), ip))
        return json_pack("[{s:s, s:s}]", "ip", ip, "ipMode", "VIP");
    ctl_event(c, svc, "Warning", "AllocationFailed",
              "loadBalancerIP %s is neither the server's --vip nor in --servicelb-pool", ip);
    return json_array();
}

static int
sync_service(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *svc = NULL, *want = NULL, *patch = NULL;
    _cleanup_free_ char *path = NULL;
    const json_t *have;
    long code;

    if (ctl_manager_config(ctl_manager(c))->disable_servicelb)
        return 0;
    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    svc = ctl_get(c, "services", ns, name);
    if (!svc || ctl_being_deleted(svc))
        return 0;
    have =
        json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"), "ingress");
    if (!is_ours(svc)) {
        const char *type = spec_str(svc, "type");

        /* no longer a LoadBalancer: its ingress goes (a foreign class keeps its own) */
        if (json_array_size(have) == 0 || (type && strcmp(type, "LoadBalancer") == 0))
            return 0;
        want = json_array();
    } else {
        char ip[64];

        requested_ip(svc, ip);
        want = *ip ? requested_ingress(c, svc, ip) : wanted_ingress(c, svc, ns, name);
    }
    if ((have && json_equal(want, have)) ||
        (json_array_size(want) == 0 && json_array_size(have) == 0))
        return 0;
    path = k3c_xasprintf("/api/v1/namespaces/%s/services/%s/status", ns, name);
    patch = json_pack("{s:{s:{s:O}}}", "status", "loadBalancer", "ingress", want);
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (code < 200 || code >= 300)
        return -1;
    log_info("(service %s) load balancer ingress: %zu IPs", key, json_array_size(want));
    if (json_array_size(want))
        ctl_event(c, svc, "Normal", "UpdatedLoadBalancer", "Updated LoadBalancer with new IPs");
    return 0;
}

static void
start(struct ctl *c)
{
    ctl_list(c, "services", NULL, NULL, enqueue_lb, c);
}

static const struct ctl_watch watches[] = {
    {"services", on_service},
    {"nodes", on_node},
    {"endpointslices", on_slice},
    {NULL, NULL},
};

const struct ctl_def ctl_def_servicelb = {
    .name = "servicelb",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_service,
    .start = start,
};
