/* SPDX-License-Identifier: Apache-2.0
 * proxy_ipt.c - the service proxy's iptables backend (issue #19): the model
 * of proxy_rules.c (proxy_service_model) rendered as iptables-restore text,
 * in the layout of kube-proxy's iptables mode with K3C- chain names:
 *
 *   nat    K3C-SERVICES   ClusterIP / external IP + port -> K3C-SVC-* or
 *                         K3C-EXT-*; last, local addresses -> K3C-NODEPORTS
 *          K3C-NODEPORTS  node port -> K3C-EXT-*
 *          K3C-SVC-<h>    sources outside the pod network marked for
 *                         masquerade; sessionAffinity (xt_recent); a random
 *                         endpoint (xt_statistic, probability 1/(n-i))
 *          K3C-EXT-<h>    externalTrafficPolicy Cluster (masquerade) or
 *                         Local (pods and the node: any endpoint; others:
 *                         this node's, else marked to drop)
 *          K3C-SEP-<h>    hairpin (the endpoint itself) marked; DNAT
 *          K3C-POSTROUTING masquerade what is marked 0x4000
 *   filter K3C-SERVICES / K3C-EXTERNAL-SERVICES  REJECT for services (node
 *                         ports) without endpoints; K3C-CLUSTER-IPS REJECT
 *                         for cluster IPs on ports no service has;
 *                         K3C-FIREWALL drops what K3C-MARK-DROP marked.
 *
 * <h> is 16 hex digits of a 64-bit FNV-1a hash of the port's name (iptables
 * chain names hold 28 characters). Each sync rewrites every K3C- chain of
 * the proxy in one iptables-restore --noflush run (one commit per table),
 * deletes the per-service chains that are gone (found in iptables-save, so
 * a restart cleans what a crash left) and inserts the jumps from the
 * built-in chains only when iptables-save lacks them. */
#define LOG_COMPONENT "proxy"
#include "net/ipt.h"
#include "net/proxy.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK_MASQ "0x4000"
#define MARK_DROP "0x8000"

static const struct ipt_jump nat_jumps[] = {
    {"PREROUTING", "", "K3C-SERVICES"},
    {"OUTPUT", "", "K3C-SERVICES"},
    {"POSTROUTING", "", "K3C-POSTROUTING"},
};

static const struct ipt_jump filter_jumps[] = {
    {"INPUT", "-m conntrack --ctstate NEW", "K3C-EXTERNAL-SERVICES"},
    {"INPUT", "-m conntrack --ctstate NEW", "K3C-SERVICES"},
    {"INPUT", "", "K3C-FIREWALL"},
    {"FORWARD", "-m conntrack --ctstate NEW", "K3C-SERVICES"},
    {"FORWARD", "-m conntrack --ctstate NEW", "K3C-CLUSTER-IPS"},
    {"FORWARD", "", "K3C-FIREWALL"},
    {"OUTPUT", "-m conntrack --ctstate NEW", "K3C-SERVICES"},
    {"OUTPUT", "-m conntrack --ctstate NEW", "K3C-CLUSTER-IPS"},
};

/* Per-service chains: what a sync deletes when no service has it. */
static const char *const per_service[] = {"K3C-SVC-", "K3C-EXT-", "K3C-SEP-"};

static void
chain_name(char out[32], const char *kind, const char *base, const char *ep)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *s = base; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    if (ep) {
        h = (h ^ '|') * 1099511628211ULL;
        for (const char *s = ep; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    snprintf(out, 32, "K3C-%s-%016" PRIx64, kind, h);
}

struct render {
    const char *cidr;
    bool random_fully;
    json_t *chains;                     /* every per-service chain: name -> true */
    json_t *declared;                   /* those rewritten now (the changed services') */
    struct k3c_buf *body;               /* &bodies, or &scratch for unchanged services */
    struct k3c_buf bodies;              /* nat per-service chain rules */
    struct k3c_buf scratch;             /* what unchanged services' chains hold: dropped */
    struct k3c_buf services, nodeports; /* nat */
    struct k3c_buf f_services, f_external, f_cluster_ips; /* filter */
};

static void
declare(struct render *r, const char *chain)
{
    json_object_set_new(r->chains, chain, json_true());
    if (r->body == &r->bodies)
        json_object_set_new(r->declared, chain, json_true());
}

/* The endpoint's chain (made once per sync), its name in sep. */
static void
endpoint_chain(struct render *r, const char *base, const char *proto, const json_t *ep,
               long affinity, char sep[32])
{
    const char *ip = json_string_value(json_array_get(ep, 0));
    int port = (int)json_integer_value(json_array_get(ep, 1));
    _cleanup_free_ char *id = k3c_xasprintf("%s:%d", ip, port);

    chain_name(sep, "SEP", base, id);
    if (json_object_get(r->chains, sep))
        return;
    declare(r, sep);
    k3c_buf_appendf(r->body, "-A %s -s %s/32 -j K3C-MARK-MASQ\n", sep, ip);
    if (affinity > 0)
        k3c_buf_appendf(r->body,
                        "-A %s -p %s -m recent --set --name %s --mask 255.255.255.255 "
                        "--rsource -j DNAT --to-destination %s\n",
                        sep, proto, sep, id);
    else
        k3c_buf_appendf(r->body, "-A %s -p %s -j DNAT --to-destination %s\n", sep, proto, id);
}

/* The rules of chain that pick one of eps: the one a client used last
 * (affinity), else a random one. */
static void
balance(struct render *r, const char *chain, const char *base, const char *proto, const json_t *eps,
        long affinity)
{
    size_t n = json_array_size(eps), i;
    char sep[32];
    json_t *ep;

    if (affinity > 0)
        json_array_foreach(eps, i, ep)
        {
            endpoint_chain(r, base, proto, ep, affinity, sep);
            k3c_buf_appendf(r->body,
                            "-A %s -m recent --rcheck --seconds %ld --reap --name %s "
                            "--mask 255.255.255.255 --rsource -j %s\n",
                            chain, affinity, sep, sep);
        }
    json_array_foreach(eps, i, ep)
    {
        endpoint_chain(r, base, proto, ep, affinity, sep);
        if (i + 1 < n)
            k3c_buf_appendf(r->body, "-A %s -m statistic --mode random --probability %.11f -j %s\n",
                            chain, 1.0 / (double)(n - i), sep);
        else
            k3c_buf_appendf(r->body, "-A %s -j %s\n", chain, sep);
    }
}

static void
render_port(struct render *r, const json_t *m, const json_t *pm)
{
    const char *base = json_string_value(json_object_get(pm, "base"));
    const char *proto = json_string_value(json_object_get(pm, "proto"));
    const char *cip = json_string_value(json_object_get(m, "cluster_ip"));
    int port = (int)json_integer_value(json_object_get(pm, "port"));
    int node_port = (int)json_integer_value(json_object_get(pm, "node_port"));
    long affinity = (long)json_integer_value(json_object_get(m, "affinity"));
    bool internal_local = json_is_true(json_object_get(m, "internal_local"));
    bool external_local = json_is_true(json_object_get(m, "external_local"));
    const json_t *cluster = json_object_get(pm, "cluster");
    const json_t *ext = json_object_get(pm, "external");
    const json_t *local = json_object_get(pm, "local");
    const json_t *eips = json_object_get(m, "external_ips");
    bool external = json_array_size(ext) > 0;
    char svc[32], extc[32];
    size_t i;
    json_t *ip;

    chain_name(svc, "SVC", base, NULL);
    chain_name(extc, "EXT", base, NULL);
    if (json_array_size(cluster)) {
        declare(r, svc);
        k3c_buf_appendf(r->body, "-A %s ! -s %s -j K3C-MARK-MASQ\n", svc, r->cidr);
        balance(r, svc, base, proto, cluster, affinity);
        k3c_buf_appendf(&r->services, "-A K3C-SERVICES -d %s/32 -p %s --dport %d -j %s\n", cip,
                        proto, port, svc);
    } else {
        k3c_buf_appendf(&r->f_services, "-A K3C-SERVICES -d %s/32 -p %s --dport %d -j REJECT\n",
                        cip, proto, port);
    }
    if (external && (json_array_size(eips) || node_port)) {
        if (!json_array_size(cluster)) { /* the ext chain may go to the svc chain */
            declare(r, svc);
            k3c_buf_appendf(r->body, "-A %s ! -s %s -j K3C-MARK-MASQ\n", svc, r->cidr);
            balance(r, svc, base, proto, ext, affinity);
        }
        declare(r, extc);
        if (!external_local) {
            k3c_buf_appendf(r->body, "-A %s -j K3C-MARK-MASQ\n", extc);
            if (internal_local)
                balance(r, extc, base, proto, ext, affinity);
            else
                k3c_buf_appendf(r->body, "-A %s -j %s\n", extc, svc);
        } else {
            k3c_buf_appendf(r->body,
                            "-A %1$s -s %2$s -j %3$s\n"
                            "-A %1$s -m addrtype --src-type LOCAL -j K3C-MARK-MASQ\n"
                            "-A %1$s -m addrtype --src-type LOCAL -j %3$s\n",
                            extc, r->cidr, svc);
            if (json_array_size(local))
                balance(r, extc, base, proto, local, affinity);
            else
                k3c_buf_appendf(r->body, "-A %s -j K3C-MARK-DROP\n", extc);
        }
    }
    json_array_foreach(eips, i, ip)
    {
        if (external)
            k3c_buf_appendf(&r->services, "-A K3C-SERVICES -d %s/32 -p %s --dport %d -j %s\n",
                            json_string_value(ip), proto, port, extc);
        else
            k3c_buf_appendf(&r->f_services, "-A K3C-SERVICES -d %s/32 -p %s --dport %d -j REJECT\n",
                            json_string_value(ip), proto, port);
    }
    if (node_port > 0) {
        if (external)
            k3c_buf_appendf(&r->nodeports, "-A K3C-NODEPORTS -p %s --dport %d -j %s\n", proto,
                            node_port, extc);
        else
            k3c_buf_appendf(&r->f_external,
                            "-A K3C-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL "
                            "-p %s --dport %d -j REJECT\n",
                            proto, node_port);
    }
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
append_buf(struct k3c_buf *out, const struct k3c_buf *b)
{
    if (b->len)
        k3c_buf_append(out, b->data, b->len);
}

void
proxy_ipt_render(struct k3c_buf *out, const struct proxy_ipt_input *in)
{
    struct render r = {.cidr = in->cluster_cidr ? in->cluster_cidr : PROXY_CLUSTER_CIDR,
                       .random_fully = in->random_fully,
                       .chains = json_object(),
                       .declared = json_object()};
    _cleanup_json_ json_t *old = json_object();
    struct k3c_buf *bufs[] = {&r.bodies,     &r.scratch,    &r.services,     &r.nodeports,
                              &r.f_services, &r.f_external, &r.f_cluster_ips};
    const json_t *models = in->models;
    const char *key, *name;
    json_t *m, *v;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(bufs); i++)
        k3c_buf_init(bufs[i]);
    /* sorted keys: the same services give the same text */
    {
        size_t n = 0, nkeys = json_object_size(models);
        _cleanup_free_ const char **keys = k3c_xcalloc(nkeys + 1, sizeof(*keys));

        json_object_foreach((json_t *)models, key, m) keys[n++] = key;
        qsort(keys, n, sizeof(*keys), str_cmp);
        for (size_t i = 0; i < n; i++) {
            size_t j;
            json_t *pm;

            m = json_object_get(models, keys[i]);
            r.body = !in->changed || json_object_get(in->changed, keys[i]) ? &r.bodies : &r.scratch;
            json_array_foreach(json_object_get(m, "ports"), j, pm) render_port(&r, m, pm);
            k3c_buf_reset(&r.scratch);
            k3c_buf_appendf(&r.f_cluster_ips, "-A K3C-CLUSTER-IPS -d %s/32 -j REJECT\n",
                            json_string_value(json_object_get(m, "cluster_ip")));
        }
    }
    /* ---- nat */
    k3c_buf_appendf(out, "*nat\n"
                         ":K3C-SERVICES - [0:0]\n"
                         ":K3C-NODEPORTS - [0:0]\n"
                         ":K3C-POSTROUTING - [0:0]\n"
                         ":K3C-MARK-MASQ - [0:0]\n"
                         ":K3C-MARK-DROP - [0:0]\n");
    json_object_foreach(r.declared, name, v) k3c_buf_appendf(out, ":%s - [0:0]\n", name);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(per_service); i++)
        ipt_save_chains(in->nat_save, per_service[i], old);
    if (in->applied)
        json_object_update(old, (json_t *)in->applied);
    json_object_foreach(old, name, v)
    {
        if (!json_object_get(r.chains, name))
            k3c_buf_appendf(out, ":%s - [0:0]\n", name);
    }
    k3c_buf_appendf(out,
                    "-A K3C-MARK-MASQ -j MARK --set-xmark " MARK_MASQ "/" MARK_MASQ "\n"
                    "-A K3C-MARK-DROP -j MARK --set-xmark " MARK_DROP "/" MARK_DROP "\n"
                    "-A K3C-POSTROUTING -m mark ! --mark " MARK_MASQ "/" MARK_MASQ " -j RETURN\n"
                    "-A K3C-POSTROUTING -j MARK --set-xmark 0x0/" MARK_MASQ "\n"
                    "-A K3C-POSTROUTING -j MASQUERADE%s\n",
                    in->random_fully ? " --random-fully" : "");
    append_buf(out, &r.bodies);
    append_buf(out, &r.services);
    k3c_buf_appendf(out, "-A K3C-SERVICES -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 "
                         "-j K3C-NODEPORTS\n");
    append_buf(out, &r.nodeports);
    json_object_foreach(old, name, v)
    {
        if (!json_object_get(r.chains, name))
            k3c_buf_appendf(out, "-X %s\n", name);
    }
    if (in->nat_save)
        ipt_jumps_ensure(out, in->nat_save, nat_jumps, K3C_ARRAY_SIZE(nat_jumps));
    k3c_buf_appendf(out, "COMMIT\n");
    /* ---- filter */
    k3c_buf_appendf(out, "*filter\n"
                         ":K3C-SERVICES - [0:0]\n"
                         ":K3C-EXTERNAL-SERVICES - [0:0]\n"
                         ":K3C-CLUSTER-IPS - [0:0]\n"
                         ":K3C-FIREWALL - [0:0]\n"
                         "-A K3C-FIREWALL -m mark --mark " MARK_DROP "/" MARK_DROP " -j DROP\n");
    append_buf(out, &r.f_services);
    append_buf(out, &r.f_external);
    append_buf(out, &r.f_cluster_ips);
    if (in->filter_save)
        ipt_jumps_ensure(out, in->filter_save, filter_jumps, K3C_ARRAY_SIZE(filter_jumps));
    k3c_buf_appendf(out, "COMMIT\n");
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bufs); i++)
        k3c_buf_fini(bufs[i]);
    if (in->chains_out)
        json_object_update(in->chains_out, r.chains);
    json_decref(r.chains);
    json_decref(r.declared);
}

/* ---- the applied state ------------------------------------------------------------ */

struct proxy_ipt {
    char *cidr;
    json_t *models;  /* service key -> model */
    json_t *changed; /* keys set since the last sync */
    json_t *applied; /* per-service chains of the last sync */
    bool dirty;
};

struct proxy_ipt *
proxy_ipt_new(const char *cluster_cidr)
{
    struct proxy_ipt *x = k3c_xcalloc(1, sizeof(*x));

    x->cidr = k3c_xstrdup(cluster_cidr ? cluster_cidr : PROXY_CLUSTER_CIDR);
    x->models = json_object();
    x->changed = json_object();
    x->applied = json_object();
    x->dirty = true;
    return x;
}

void
proxy_ipt_free(struct proxy_ipt *x)
{
    if (!x)
        return;
    json_decref(x->models);
    json_decref(x->changed);
    json_decref(x->applied);
    free(x->cidr);
    free(x);
}

void
proxy_ipt_set(struct proxy_ipt *x, const char *key, json_t *model)
{
    json_t *old = json_object_get(x->models, key);

    if (!model) {
        if (old) {
            json_object_del(x->models, key);
            x->dirty = true;
        }
        return;
    }
    if (!old || !json_equal(old, model)) {
        json_object_set(x->models, key, model);
        json_object_set_new(x->changed, key, json_true());
        x->dirty = true;
    }
}

void
proxy_ipt_reset(struct proxy_ipt *x)
{
    json_object_clear(x->models);
    x->dirty = true;
}

size_t
proxy_ipt_services(const struct proxy_ipt *x)
{
    return json_object_size(x->models);
}

/* A full sync reads both tables (stale chains a crash left, jumps someone
 * removed) and rewrites every chain; a partial one rewrites the shared
 * chains and the changed services' only, deletes what the last sync made
 * and no service has now, and reads nothing: at 1,000 Services the save
 * text alone is ~3 MiB. A failure makes the runner resync in full. */
int
proxy_ipt_sync(struct proxy_ipt *x, bool full, struct k3c_err *err)
{
    _cleanup_free_ char *nat = NULL, *filter = NULL;
    _cleanup_json_ json_t *chains = json_object();
    struct proxy_ipt_input in = {.models = x->models,
                                 .cluster_cidr = x->cidr,
                                 .random_fully = ipt_random_fully(),
                                 .changed = full ? NULL : x->changed,
                                 .applied = x->applied,
                                 .chains_out = chains};
    struct k3c_buf b;
    int rc;

    if (!full && !x->dirty)
        return 0;
    if (full) {
        nat = ipt_save("nat", err);
        filter = nat ? ipt_save("filter", err) : NULL;
        if (!filter)
            return -1;
        in.nat_save = nat;
        in.filter_save = filter;
    }
    k3c_buf_init(&b);
    proxy_ipt_render(&b, &in);
    rc = ipt_restore(b.data, err);
    k3c_buf_fini(&b);
    if (rc == 0) {
        x->dirty = false;
        json_object_clear(x->changed);
        json_object_clear(x->applied);
        json_object_update(x->applied, chains);
    }
    return rc;
}

int
proxy_ipt_cleanup(struct k3c_err *err)
{
    /* the pod network's chains (flannel_ipt.c) stay, as its nft table does */
    return ipt_remove_chains(IPT_PREFIX, "K3C-FLANNEL-", err);
}
