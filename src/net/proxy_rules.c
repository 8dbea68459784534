/* SPDX-License-Identifier: Apache-2.0
 * proxy_rules.c - the pure part of the service proxy: what nftables objects
 * a Service and its EndpointSlices need, and the diff of two states as one
 * nft script. Layout (kube-proxy's nftables mode, with one change: the DNAT
 * to an endpoint is a numgen map in the service chain instead of a chain per
 * endpoint, and hairpin is a set of (endpoint . endpoint) pairs matched at
 * postrouting; endpoint chains exist only for sessionAffinity, which needs a
 * set per endpoint). 1,000 services x 10 endpoints are then ~1,000 chains,
 * not ~11,000, which is what keeps a full sync well under a second. */
#include "net/proxy.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the objects --------------------------------------------------- */

struct endpoint {
    char ip[INET_ADDRSTRLEN];
    int port;
    bool ready, serving, terminating, local;
};

struct endpoints {
    struct endpoint *v;
    size_t n, cap;
};

static const char *
str_at(const json_t *obj, const char *k1, const char *k2)
{
    const json_t *o = json_object_get(obj, k1);

    return json_string_value(k2 ? json_object_get(o, k2) : o);
}

static bool
is_ipv4(const char *s)
{
    struct in_addr a;

    return s && inet_pton(AF_INET, s, &a) == 1;
}

/* A condition that is absent counts as def (discovery/v1: ready and serving
 * "unknown" are to be read as true, terminating as false). */
static bool
condition(const json_t *conds, const char *name, bool def)
{
    const json_t *v = json_object_get(conds, name);

    return json_is_boolean(v) ? json_is_true(v) : def;
}

static void
endpoints_add(struct endpoints *e, const char *ip, int port, bool ready, bool serving,
              bool terminating, bool local)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].port == port && strcmp(e->v[i].ip, ip) == 0)
            return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->v = k3c_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n] = (struct endpoint){.port = port,
                                   .ready = ready,
                                   .serving = serving,
                                   .terminating = terminating,
                                   .local = local};
    snprintf(e->v[e->n].ip, sizeof(e->v[e->n].ip), "%s", ip);
    e->n++;
}

static bool
name_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *
protocol_of(const json_t *port)
{
    const char *p = str_at(port, "protocol", NULL);

    return p ? p : "TCP";
}

/* The port number a slice's port list gives the service
 * port named port_name with protocol proto; 0 when none. */
static int
port_in(const json_t *ports, const char *port_name, const char *proto)
{
    size_t i;
    json_t *p;

    json_array_foreach(ports, i, p)
    {
        if (name_eq(str_at(p, "name", NULL), port_name) && strcmp(protocol_of(p), proto) == 0)
            return (int)json_integer_value(json_object_get(p, "port"));
    }
    return 0;
}

static void
slice_endpoints(const json_t *slice, const char *port_name, const char *proto, const char *node,
                struct endpoints *out)
{
    const char *type = str_at(slice, "addressType", NULL);
    int port = port_in(json_object_get(slice, "ports"), port_name, proto);
    size_t i;
    json_t *ep;

    if (port <= 0 || port > 65535 || (type && strcmp(type, "IPv4") != 0))
        return;
    json_array_foreach(json_object_get(slice, "endpoints"), i, ep)
    {
        const json_t *conds = json_object_get(ep, "conditions");
        const char *ip = json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
        const char *ep_node = str_at(ep, "nodeName", NULL);
        bool ready = condition(conds, "ready", true);

        if (!is_ipv4(ip))
            continue;
        endpoints_add(out, ip, port, ready, condition(conds, "serving", ready),
                      condition(conds, "terminating", false),
                      node && ep_node && strcmp(node, ep_node) == 0);
    }
}

static int
endpoint_cmp(const void *a, const void *b)
{
    const struct endpoint *x = a, *y = b;
    struct in_addr ax, ay;

    inet_pton(AF_INET, x->ip, &ax);
    inet_pton(AF_INET, y->ip, &ay);
    if (ax.s_addr != ay.s_addr)
        return ntohl(ax.s_addr) < ntohl(ay.s_addr) ? -1 : 1;
    return x->port - y->port;
}

/* The endpoints traffic goes to (upstream's CategorizeEndpoints): the ready
 * ones; when there is none, those serving while terminating; only the
 * node's own with local_only. Sorted, so the rules do not depend on the
 * order of the slices. */
static void
endpoints_select(const struct endpoints *all, bool local_only, struct endpoints *out)
{
    for (int pass = 0; pass < 2 && out->n == 0; pass++)
        for (size_t i = 0; i < all->n; i++) {
            const struct endpoint *e = &all->v[i];
            bool usable = pass == 0 ? e->ready : e->serving && e->terminating;

            if (usable && (!local_only || e->local))
                endpoints_add(out, e->ip, e->port, e->ready, e->serving, e->terminating, e->local);
        }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), endpoint_cmp);
}

/* ---- building the objects ---------------------------------------------------- */

/* Names end up in nft's script text: only DNS labels (the API's rule for
 * namespaces, Service names and port names) may, so nothing a user puts in
 * an object can add a word to a rule. */
static bool
dns_label(const char *s)
{
    size_t n = 0;

    if (!s || !*s)
        return false;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
            return false;
    return n <= 63 && s[0] != '-' && s[n - 1] != '-';
}

bool
proxy_service_ignored(const json_t *svc)
{
    const json_t *spec = json_object_get(svc, "spec");
    const char *type = str_at(spec, "type", NULL);
    const char *ns = str_at(svc, "metadata", "namespace");
    const char *name = str_at(svc, "metadata", "name");

    if (!dns_label(ns) || !dns_label(name) || (type && strcmp(type, "ExternalName") == 0))
        return true;
    if (strcmp(ns, "kube-system") == 0 && strcmp(name, "kube-dns") == 0)
        return true;
    return !is_ipv4(str_at(spec, "clusterIP", NULL));
}

struct svc_ctx {
    const struct proxy_rules_config *cfg;
    const char *table, *cidr;
    json_t *objs;
    const char *cluster_ip;
    bool affinity;
    long affinity_timeout;
    bool internal_local, external_local;
    json_t *external_ips; /* array of strings: externalIPs and LoadBalancer ingress */
};

static void
obj_set(json_t *objs, const char *key, const char *body)
{
    json_object_set_new(objs, key, json_string(body));
}

static void
elem_set(json_t *objs, const char *map, const char *key, const char *value)
{
    _cleanup_free_ char *k = k3c_xasprintf("e:%s\t%s", map, key);

    obj_set(objs, k, value);
}

static void
lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* "dnat to ip:port", or a random choice among several. */
static void
append_dnat(struct k3c_buf *b, const char *proto, const struct endpoints *eps)
{
    if (eps->n == 1) {
        k3c_buf_appendf(b, "meta l4proto %s dnat to %s:%d\n", proto, eps->v[0].ip, eps->v[0].port);
        return;
    }
    k3c_buf_appendf(b, "meta l4proto %s dnat ip addr . port to numgen random mod %zu map { ", proto,
                    eps->n);
    for (size_t i = 0; i < eps->n; i++)
        k3c_buf_appendf(b, "%s%zu : %s . %d", i ? ", " : "", i, eps->v[i].ip, eps->v[i].port);
    k3c_buf_appendf(b, " }\n");
}

static void
buf_obj(json_t *objs, const char *prefix, const char *name, struct k3c_buf *b)
{
    _cleanup_free_ char *k = k3c_xasprintf("%s%s", prefix, name);

    obj_set(objs, k, b->len ? b->data : "");
    k3c_buf_reset(b);
}

/* The service chain of one port: masquerade for sources outside the pod
 * network, then (sessionAffinity) the endpoint a client used last, then a
 * random endpoint. */
static void
service_chain(struct svc_ctx *s, const char *base, const char *proto, const struct endpoints *eps)
{
    struct k3c_buf b;
    _cleanup_free_ char *chain = k3c_xasprintf("svc-%s", base);

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "ip saddr != %s jump mark-for-masquerade\n", s->cidr);
    if (!s->affinity) {
        append_dnat(&b, proto, eps);
        buf_obj(s->objs, "c:", chain, &b);
        k3c_buf_fini(&b);
        return;
    }
    /* Affinity: one chain and one timed set of clients per endpoint (the set
     * name carries the timeout, so a new timeout is a new set). */
    for (size_t i = 0; i < eps->n; i++)
        k3c_buf_appendf(&b, "ip saddr @aff-%s__%s/%d/%ld goto ep-%s__%s/%d\n", base, eps->v[i].ip,
                        eps->v[i].port, s->affinity_timeout, base, eps->v[i].ip, eps->v[i].port);
    k3c_buf_appendf(&b, "numgen random mod %zu vmap { ", eps->n);
    for (size_t i = 0; i < eps->n; i++)
        k3c_buf_appendf(&b, "%s%zu : goto ep-%s__%s/%d", i ? ", " : "", i, base, eps->v[i].ip,
                        eps->v[i].port);
    k3c_buf_appendf(&b, " }\n");
    buf_obj(s->objs, "c:", chain, &b);
    for (size_t i = 0; i < eps->n; i++) {
        struct endpoints one = {.v = &eps->v[i], .n = 1};
        _cleanup_free_ char *set = k3c_xasprintf("aff-%s__%s/%d/%ld", base, eps->v[i].ip,
                                                 eps->v[i].port, s->affinity_timeout);
        _cleanup_free_ char *ep = k3c_xasprintf("ep-%s__%s/%d", base, eps->v[i].ip, eps->v[i].port);
        _cleanup_free_ char *decl = k3c_xasprintf(
            "{ type ipv4_addr ; flags dynamic,timeout ; timeout %lds ; }", s->affinity_timeout);
        _cleanup_free_ char *set_key = k3c_xasprintf("s:%s", set);

        k3c_buf_appendf(&b, "update @%s { ip saddr }\n", set);
        append_dnat(&b, proto, &one);
        buf_obj(s->objs, "c:", ep, &b);
        obj_set(s->objs, set_key, decl);
    }
    k3c_buf_fini(&b);
}

/* The chain for traffic from outside (NodePort, externalIPs, LoadBalancer
 * IPs). Cluster policy: masquerade, then the service chain (which keeps
 * affinity) when it has the same endpoints. Local: pods and the node itself
 * may use any endpoint (upstream does the same); others only this node's,
 * unmasqueraded so the client's address is kept, or nothing. */
static void
external_chain(struct svc_ctx *s, const char *base, const char *proto,
               const struct endpoints *cluster, const struct endpoints *local)
{
    struct k3c_buf b;
    _cleanup_free_ char *chain = k3c_xasprintf("ext-%s", base);

    k3c_buf_init(&b);
    if (!s->external_local) {
        k3c_buf_appendf(&b, "jump mark-for-masquerade\n");
        if (s->internal_local)
            append_dnat(&b, proto, cluster);
        else
            k3c_buf_appendf(&b, "goto svc-%s\n", base);
    } else {
        k3c_buf_appendf(&b, "ip saddr %s goto svc-%s\n", s->cidr, base);
        k3c_buf_appendf(&b, "fib saddr type local jump mark-for-masquerade\n");
        k3c_buf_appendf(&b, "fib saddr type local goto svc-%s\n", base);
        if (local->n)
            append_dnat(&b, proto, local);
        else
            k3c_buf_appendf(&b, "drop\n");
    }
    buf_obj(s->objs, "c:", chain, &b);
    k3c_buf_fini(&b);
}

/* ---- the model (shared by the nft rules below and proxy_ipt.c) ---------------- */

static json_t *
endpoints_json(const struct endpoints *e)
{
    json_t *a = json_array();

    for (size_t i = 0; i < e->n; i++)
        json_array_append_new(a, json_pack("[si]", e->v[i].ip, e->v[i].port));
    return a;
}

static void
endpoints_from_json(const json_t *a, struct endpoints *out)
{
    size_t i;
    json_t *e;

    json_array_foreach(a, i, e)
    {
        const char *ip = json_string_value(json_array_get(e, 0));

        if (ip)
            endpoints_add(out, ip, (int)json_integer_value(json_array_get(e, 1)), true, true, false,
                          false);
    }
}

/* One service port's model, or NULL for a port the proxy cannot serve. */
static json_t *
port_model(const struct proxy_rules_config *cfg, const json_t *svc, const json_t *port,
           const json_t *slices, bool internal_local)
{
    const char *ns = str_at(svc, "metadata", "namespace");
    const char *name = str_at(svc, "metadata", "name");
    const char *pname = str_at(port, "name", NULL);
    int number = (int)json_integer_value(json_object_get(port, "port"));
    int node_port = (int)json_integer_value(json_object_get(port, "nodePort"));
    char proto[8];
    struct endpoints all = {0}, cluster = {0}, ext_all = {0}, local = {0};
    _cleanup_free_ char *base = NULL;
    json_t *m;
    size_t i;
    json_t *sl;

    snprintf(proto, sizeof(proto), "%s", protocol_of(port));
    if (strcmp(proto, "TCP") != 0 && strcmp(proto, "UDP") != 0 && strcmp(proto, "SCTP") != 0)
        return NULL;
    if (number <= 0 || number > 65535 || (pname && *pname && !dns_label(pname)))
        return NULL;
    json_array_foreach(slices, i, sl) slice_endpoints(sl, pname, proto, cfg->node_name, &all);
    lower(proto);
    base = pname && *pname ? k3c_xasprintf("%s/%s/%s/%s", ns, name, proto, pname)
                           : k3c_xasprintf("%s/%s/%s/%d", ns, name, proto, number);
    endpoints_select(&all, internal_local, &cluster);
    endpoints_select(&all, false, &ext_all);
    endpoints_select(&all, true, &local);
    m = json_pack("{ss ss si si so so so}", "base", base, "proto", proto, "port", number,
                  "node_port", node_port > 0 && node_port <= 65535 ? node_port : 0, "cluster",
                  endpoints_json(&cluster), "external", endpoints_json(&ext_all), "local",
                  endpoints_json(&local));
    free(all.v);
    free(cluster.v);
    free(ext_all.v);
    free(local.v);
    return m;
}

/* ---- nftables objects from the model ------------------------------------------ */

static void
service_port(struct svc_ctx *s, const json_t *pm)
{
    const char *base = json_string_value(json_object_get(pm, "base"));
    const char *proto = json_string_value(json_object_get(pm, "proto"));
    int number = (int)json_integer_value(json_object_get(pm, "port"));
    int node_port = (int)json_integer_value(json_object_get(pm, "node_port"));
    struct endpoints cluster = {0}, ext_all = {0}, local = {0};
    _cleanup_free_ char *key = NULL, *svc_goto = NULL, *ext_goto = NULL;
    size_t i;
    json_t *ip;

    endpoints_from_json(json_object_get(pm, "cluster"), &cluster);
    endpoints_from_json(json_object_get(pm, "external"), &ext_all);
    endpoints_from_json(json_object_get(pm, "local"), &local);
    svc_goto = k3c_xasprintf("goto svc-%s", base);
    ext_goto = k3c_xasprintf("goto ext-%s", base);

    /* ClusterIP */
    key = k3c_xasprintf("%s . %s . %d", s->cluster_ip, proto, number);
    if (cluster.n) {
        service_chain(s, base, proto, &cluster);
        elem_set(s->objs, "service-ips", key, svc_goto);
    } else {
        elem_set(s->objs, "no-endpoint-services", key, "goto reject-chain");
    }
    for (i = 0; i < cluster.n; i++) {
        _cleanup_free_ char *pair = k3c_xasprintf("%s . %s", cluster.v[i].ip, cluster.v[i].ip);

        elem_set(s->objs, "hairpin", pair, "");
    }

    /* From outside: externalIPs, LoadBalancer IPs, NodePort. With Local
     * policy but no local endpoint the chain drops (the service lives). */
    bool external = ext_all.n > 0;
    bool has_external = json_array_size(s->external_ips) > 0 || node_port > 0;

    if (external && has_external) {
        if (!cluster.n) /* ext chain may refer to svc chain: give it one */
            service_chain(s, base, proto, &ext_all);
        external_chain(s, base, proto, &ext_all, &local);
    }
    json_array_foreach(s->external_ips, i, ip)
    {
        _cleanup_free_ char *k =
            k3c_xasprintf("%s . %s . %d", json_string_value(ip), proto, number);

        if (external)
            elem_set(s->objs, "service-ips", k, ext_goto);
        else
            elem_set(s->objs, "no-endpoint-services", k, "goto reject-chain");
    }
    if (node_port > 0 && node_port <= 65535) {
        _cleanup_free_ char *k = k3c_xasprintf("%s . %d", proto, node_port);

        if (external)
            elem_set(s->objs, "service-nodeports", k, ext_goto);
        else
            elem_set(s->objs, "no-endpoint-nodeports", k, "goto reject-chain");
    }
    free(cluster.v);
    free(ext_all.v);
    free(local.v);
}

/* externalIPs and status.loadBalancer.ingress[].ip, IPv4, without repeats. */
static json_t *
external_ips(const json_t *svc)
{
    json_t *out = json_array();
    const json_t *lists[2] = {json_object_get(json_object_get(svc, "spec"), "externalIPs"), NULL};
    const json_t *ingress =
        json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"), "ingress");
    size_t i, j;
    json_t *v;

    json_array_foreach(lists[0], i, v)
    {
        if (is_ipv4(json_string_value(v)))
            json_array_append(out, v);
    }
    json_array_foreach(ingress, i, v)
    {
        const char *ip = str_at(v, "ip", NULL);
        bool seen = false;
        json_t *w;

        if (!is_ipv4(ip))
            continue;
        json_array_foreach(out, j, w) seen = seen || strcmp(json_string_value(w), ip) == 0;
        if (!seen)
            json_array_append_new(out, json_string(ip));
    }
    return out;
}

json_t *
proxy_service_model(const struct proxy_rules_config *cfg, const json_t *svc, const json_t *slices)
{
    const json_t *spec = json_object_get(svc, "spec");
    const json_t *timeout =
        json_object_get(json_object_get(json_object_get(spec, "sessionAffinityConfig"), "clientIP"),
                        "timeoutSeconds");
    const char *aff = str_at(spec, "sessionAffinity", NULL);
    const char *itp = str_at(spec, "internalTrafficPolicy", NULL);
    const char *etp = str_at(spec, "externalTrafficPolicy", NULL);
    bool internal_local = itp && strcmp(itp, "Local") == 0;
    long affinity = 0;
    json_t *ports, *m, *port;
    size_t i;

    if (proxy_service_ignored(svc))
        return NULL;
    if (aff && strcmp(aff, "ClientIP") == 0)
        affinity = json_is_integer(timeout) && json_integer_value(timeout) > 0
                       ? (long)json_integer_value(timeout)
                       : PROXY_AFFINITY_DEFS;
    ports = json_array();
    json_array_foreach(json_object_get(spec, "ports"), i, port)
    {
        json_t *pm = port_model(cfg, svc, port, slices, internal_local);

        if (pm)
            json_array_append_new(ports, pm);
    }
    /* externalTrafficPolicy applies to NodePort and LoadBalancer services
     * only (and to externalIPs, as upstream reads it). */
    m = json_pack("{ss sI sb sb so so}", "cluster_ip", str_at(spec, "clusterIP", NULL), "affinity",
                  (json_int_t)affinity, "internal_local", internal_local, "external_local",
                  etp && strcmp(etp, "Local") == 0, "external_ips", external_ips(svc), "ports",
                  ports);
    return m;
}

json_t *
proxy_service_objects(const struct proxy_rules_config *cfg, const json_t *svc, const json_t *slices)
{
    _cleanup_json_ json_t *m = proxy_service_model(cfg, svc, slices);
    struct svc_ctx s = {.cfg = cfg, .objs = json_object()};
    size_t i;
    json_t *pm;

    if (!m)
        return s.objs;
    s.table = cfg->table ? cfg->table : PROXY_TABLE;
    s.cidr = cfg->cluster_cidr ? cfg->cluster_cidr : PROXY_CLUSTER_CIDR;
    s.cluster_ip = json_string_value(json_object_get(m, "cluster_ip"));
    s.affinity_timeout = (long)json_integer_value(json_object_get(m, "affinity"));
    s.affinity = s.affinity_timeout > 0;
    s.internal_local = json_is_true(json_object_get(m, "internal_local"));
    s.external_local = json_is_true(json_object_get(m, "external_local"));
    s.external_ips = json_object_get(m, "external_ips");
    json_array_foreach(json_object_get(m, "ports"), i, pm) service_port(&s, pm);
    elem_set(s.objs, "cluster-ips", s.cluster_ip, "");
    return s.objs;
}

/* ---- the static part ------------------------------------------------------------ */

void
proxy_base_script(struct k3c_buf *b, const char *table, const char *cidr)
{
    const char *t = table ? table : PROXY_TABLE;

    (void)cidr;
    k3c_buf_appendf(
        b,
        "add table ip %1$s\n"
        "add map ip %1$s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n"
        "add map ip %1$s service-nodeports { type inet_proto . inet_service : verdict ; }\n"
        "add map ip %1$s no-endpoint-services "
        "{ type ipv4_addr . inet_proto . inet_service : verdict ; }\n"
        "add map ip %1$s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }\n"
        "add set ip %1$s cluster-ips { type ipv4_addr ; }\n"
        "add set ip %1$s hairpin { type ipv4_addr . ipv4_addr ; }\n"
        "add chain ip %1$s reject-chain\n"
        "add rule ip %1$s reject-chain reject\n"
        "add chain ip %1$s mark-for-masquerade\n"
        "add rule ip %1$s mark-for-masquerade meta mark set meta mark | " PROXY_MASQ_MARK "\n"
        "add chain ip %1$s masquerading\n"
        /* hairpin: a pod sent to its own Service and got itself */
        "add rule ip %1$s masquerading ct status dnat ip saddr . ip daddr @hairpin masquerade\n"
        "add rule ip %1$s masquerading meta mark & " PROXY_MASQ_MARK " == 0 return\n"
        "add rule ip %1$s masquerading meta mark set meta mark ^ " PROXY_MASQ_MARK "\n"
        "add rule ip %1$s masquerading masquerade fully-random\n"
        "add chain ip %1$s services\n"
        "add rule ip %1$s services ip daddr . meta l4proto . th dport vmap @service-ips\n"
        "add rule ip %1$s services fib daddr type local ip daddr != 127.0.0.0/8 "
        "meta l4proto . th dport vmap @service-nodeports\n"
        "add chain ip %1$s service-endpoints-check\n"
        "add rule ip %1$s service-endpoints-check "
        "ip daddr . meta l4proto . th dport vmap @no-endpoint-services\n"
        "add chain ip %1$s nodeport-endpoints-check\n"
        "add rule ip %1$s nodeport-endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 "
        "meta l4proto . th dport vmap @no-endpoint-nodeports\n"
        "add chain ip %1$s cluster-ips-check\n"
        "add rule ip %1$s cluster-ips-check ip daddr @cluster-ips reject\n"
        "add chain ip %1$s nat-prerouting { type nat hook prerouting priority -100 ; }\n"
        "add rule ip %1$s nat-prerouting jump services\n"
        "add chain ip %1$s nat-output { type nat hook output priority -100 ; }\n"
        "add rule ip %1$s nat-output jump services\n"
        "add chain ip %1$s nat-postrouting { type nat hook postrouting priority 100 ; }\n"
        "add rule ip %1$s nat-postrouting jump masquerading\n"
        "add chain ip %1$s filter-input { type filter hook input priority -110 ; }\n"
        "add rule ip %1$s filter-input ct state new jump nodeport-endpoints-check\n"
        "add rule ip %1$s filter-input ct state new jump service-endpoints-check\n"
        "add chain ip %1$s filter-forward { type filter hook forward priority -110 ; }\n"
        "add rule ip %1$s filter-forward ct state new jump service-endpoints-check\n"
        "add rule ip %1$s filter-forward ct state new jump cluster-ips-check\n"
        "add chain ip %1$s filter-output { type filter hook output priority -110 ; }\n"
        "add rule ip %1$s filter-output ct state new jump service-endpoints-check\n"
        "add chain ip %1$s filter-output-post-dnat "
        "{ type filter hook output priority -90 ; }\n"
        "add rule ip %1$s filter-output-post-dnat ct state new jump cluster-ips-check\n",
        t);
}

/* ---- the applied state and its diff ------------------------------------------- */

struct proxy_state {
    char *table, *cidr;
    json_t *services; /* key -> objects */
    json_t *elems;    /* "map\tkey" -> reference count */
    size_t n_objects;
    /* the pending transaction, in the order it must run */
    struct k3c_buf sets_add, chains_add, rules, elems_del, elems_add, chains_flush, chains_del,
        sets_del;
    /* elements queued per map ("map" -> ["key : value", ...]), written as one
     * command per map into elems_del/elems_add when the script is taken */
    json_t *queue_del, *queue_add;
};

struct proxy_state *
proxy_state_new(const char *table, const char *cluster_cidr)
{
    struct proxy_state *st = k3c_xcalloc(1, sizeof(*st));

    st->table = k3c_xstrdup(table ? table : PROXY_TABLE);
    st->cidr = k3c_xstrdup(cluster_cidr ? cluster_cidr : PROXY_CLUSTER_CIDR);
    st->services = json_object();
    st->elems = json_object();
    st->queue_del = json_object();
    st->queue_add = json_object();
    k3c_buf_init(&st->sets_add);
    k3c_buf_init(&st->chains_add);
    k3c_buf_init(&st->rules);
    k3c_buf_init(&st->elems_del);
    k3c_buf_init(&st->elems_add);
    k3c_buf_init(&st->chains_flush);
    k3c_buf_init(&st->chains_del);
    k3c_buf_init(&st->sets_del);
    return st;
}

static struct k3c_buf *
pending(struct proxy_state *st, size_t i)
{
    struct k3c_buf *all[] = {&st->sets_add,  &st->chains_add,   &st->rules,      &st->elems_del,
                             &st->elems_add, &st->chains_flush, &st->chains_del, &st->sets_del};

    return i < sizeof(all) / sizeof(all[0]) ? all[i] : NULL;
}

void
proxy_state_free(struct proxy_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; pending(st, i); i++)
        k3c_buf_fini(pending(st, i));
    json_decref(st->services);
    json_decref(st->elems);
    json_decref(st->queue_del);
    json_decref(st->queue_add);
    free(st->table);
    free(st->cidr);
    free(st);
}

/* Queues "map\tkey" with value ("" or NULL in a set, or for a delete). */
static void
elem_queue(json_t *queue, const char *mapkey, const char *value)
{
    const char *tab = strchr(mapkey, '\t');
    _cleanup_free_ char *map = NULL, *elem = NULL;
    json_t *list;

    if (!tab)
        return;
    map = k3c_xstrndup(mapkey, (size_t)(tab - mapkey));
    elem = value && *value ? k3c_xasprintf("%s : %s", tab + 1, value) : k3c_xstrdup(tab + 1);
    list = json_object_get(queue, map);
    if (!list) {
        list = json_array();
        json_object_set_new(queue, map, list);
    }
    json_array_append_new(list, json_string(elem));
}

/* One "<verb> element ip T map { e1, e2, ... }" per map. */
static void
elem_flush(struct k3c_buf *b, json_t *queue, const char *verb, const char *table)
{
    const char *map;
    json_t *list, *e;
    size_t i;

    json_object_foreach(queue, map, list)
    {
        k3c_buf_appendf(b, "%s element ip %s %s { ", verb, table, map);
        json_array_foreach(list, i, e)
            k3c_buf_appendf(b, "%s%s", i ? ", " : "", json_string_value(e));
        k3c_buf_appendf(b, " }\n");
    }
    json_object_clear(queue);
}

static void
chain_rules(struct k3c_buf *b, const char *table, const char *chain, const char *body)
{
    const char *line = body;

    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);

        if (len)
            k3c_buf_appendf(b, "add rule ip %s %s %.*s\n", table, chain, (int)len, line);
        line = nl ? nl + 1 : NULL;
    }
}

/* Elements of a set (value "") may be wanted by several services (a pod
 * behind two Services has one hairpin pair): counted. A map key belongs to
 * the first service that claims it (two Services with one externalIP and
 * port conflict); another's claim is ignored until the owner lets go, so an
 * element never points at a chain that is gone. */
static void
elem_add(struct proxy_state *st, const char *name, const char *value)
{
    json_t *cur = json_object_get(st->elems, name);

    if (!value || !*value) {
        json_int_t n = json_integer_value(cur);

        json_object_set_new(st->elems, name, json_integer(n + 1));
        if (n == 0)
            elem_queue(st->queue_add, name, NULL);
        return;
    }
    if (cur)
        return;
    json_object_set_new(st->elems, name, json_string(value));
    elem_queue(st->queue_add, name, value);
}

static void
elem_del(struct proxy_state *st, const char *name, const char *value)
{
    json_t *cur = json_object_get(st->elems, name);

    if (!value || !*value) {
        json_int_t n = json_integer_value(cur);

        if (n > 1) {
            json_object_set_new(st->elems, name, json_integer(n - 1));
            return;
        }
    } else if (!json_is_string(cur) || strcmp(json_string_value(cur), value) != 0) {
        return;
    }
    if (cur) {
        json_object_del(st->elems, name);
        elem_queue(st->queue_del, name, NULL);
    }
}

static void
obj_add(struct proxy_state *st, const char *key, const char *body)
{
    const char *name = key + 2;

    st->n_objects++;
    switch (key[0]) {
    case 'c':
        k3c_buf_appendf(&st->chains_add, "add chain ip %s %s\n", st->table, name);
        chain_rules(&st->rules, st->table, name, body);
        break;
    case 's':
        k3c_buf_appendf(&st->sets_add, "add set ip %s %s %s\n", st->table, name, body);
        break;
    case 'e':
        elem_add(st, name, body);
        break;
    }
}

static void
obj_del(struct proxy_state *st, const char *key, const char *body)
{
    const char *name = key + 2;

    st->n_objects--;
    switch (key[0]) {
    case 'c':
        k3c_buf_appendf(&st->chains_flush, "flush chain ip %s %s\n", st->table, name);
        k3c_buf_appendf(&st->chains_del, "delete chain ip %s %s\n", st->table, name);
        break;
    case 's':
        k3c_buf_appendf(&st->sets_del, "delete set ip %s %s\n", st->table, name);
        break;
    case 'e':
        elem_del(st, name, body);
        break;
    }
}

static void
obj_change(struct proxy_state *st, const char *key, const char *old, const char *body)
{
    const char *name = key + 2;

    switch (key[0]) {
    case 'c':
        k3c_buf_appendf(&st->chains_add, "flush chain ip %s %s\n", st->table, name);
        chain_rules(&st->rules, st->table, name, body);
        break;
    case 's': /* set names carry what their declaration says; not reached */
        break;
    case 'e':
        elem_del(st, name, old);
        elem_add(st, name, body);
        break;
    }
}

void
proxy_state_set(struct proxy_state *st, const char *key, const json_t *objs)
{
    json_t *old = json_object_get(st->services, key);
    const char *k;
    json_t *v;

    json_object_foreach(old, k, v)
    {
        if (!json_object_get(objs, k))
            obj_del(st, k, json_string_value(v));
    }
    json_object_foreach((json_t *)objs, k, v)
    {
        json_t *was = json_object_get(old, k);

        if (!was)
            obj_add(st, k, json_string_value(v));
        else if (!json_equal(was, v))
            obj_change(st, k, json_string_value(was), json_string_value(v));
    }
    if (json_object_size(objs))
        json_object_set(st->services, key, (json_t *)objs);
    else
        json_object_del(st->services, key);
}

char *
proxy_state_take_script(struct proxy_state *st)
{
    struct k3c_buf out;

    k3c_buf_init(&out);
    elem_flush(&st->elems_del, st->queue_del, "delete", st->table);
    elem_flush(&st->elems_add, st->queue_add, "add", st->table);
    for (size_t i = 0; pending(st, i); i++) {
        struct k3c_buf *b = pending(st, i);

        if (b->len)
            k3c_buf_append(&out, b->data, b->len);
        k3c_buf_reset(b);
    }
    if (!out.len) {
        k3c_buf_fini(&out);
        return NULL;
    }
    return k3c_buf_steal(&out, NULL);
}

char *
proxy_state_reset(struct proxy_state *st)
{
    struct k3c_buf out;

    for (size_t i = 0; pending(st, i); i++)
        k3c_buf_reset(pending(st, i));
    json_object_clear(st->services);
    json_object_clear(st->elems);
    json_object_clear(st->queue_del);
    json_object_clear(st->queue_add);
    st->n_objects = 0;
    k3c_buf_init(&out);
    k3c_buf_appendf(&out, "add table ip %s\ndelete table ip %s\n", st->table, st->table);
    proxy_base_script(&out, st->table, st->cidr);
    return k3c_buf_steal(&out, NULL);
}

size_t
proxy_state_services(const struct proxy_state *st)
{
    return json_object_size(st->services);
}

size_t
proxy_state_objects(const struct proxy_state *st)
{
    return st->n_objects;
}
