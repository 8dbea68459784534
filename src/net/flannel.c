/* SPDX-License-Identifier: Apache-2.0
 * flannel.c - the pod network's lifecycle: set-up at agent start (underlay,
 * flannel.1, this Node's annotations) and the Node informer whose callbacks
 * program each remote node's entries and, for this node, the flannel.1
 * address and the masquerade rules. After start, the informer thread owns
 * the netlink socket and the peer table (one callback at a time). */
#define LOG_COMPONENT "flannel"
#include "net/flannel-internal.h"
#include "net/ipt.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CLUSTER_CIDR "10.42.0.0/16"

struct flannel {
    char *node_name, *node_ip, *iface, *cluster_cidr, *state_dir;
    enum flannel_backend backend;
    struct http_client *api;
    uint32_t cluster_net;
    int cluster_prefix;
    struct flannel_underlay underlay;
    bool active;   /* started with a backend that programs peers */
    int dev;       /* where peer entries go: flannel.1 or the underlay */
    int vxlan_dev; /* flannel.1's index, 0 when there is none */
    uint8_t mac[6];
    char mac_s[18];
    int pod_mtu;
    struct informer *nodes;

    /* Owned by the informer thread after start. */
    struct nl_sock *sk;
    char pod_cidr[20]; /* this node's, once known */
    struct flannel_peer *peers;
    size_t n_peers, cap_peers;
};

struct flannel *
flannel_new(const struct flannel_config *cfg, struct k3c_err *err)
{
    const char *cluster = cfg->cluster_cidr ? cfg->cluster_cidr : DEFAULT_CLUSTER_CIDR;
    struct flannel *f;
    uint32_t net;
    int prefix;

    if (!cfg->api || !cfg->node_name || !cfg->node_ip || !cfg->state_dir) {
        k3c_err_set(err, K3C_E_INVALID, "flannel: api, node name, node IP and state dir needed");
        return NULL;
    }
    if (flannel_cidr_parse(cluster, &net, &prefix, err) < 0) {
        k3c_err_wrap(err, "--cluster-cidr");
        return NULL;
    }
    f = k3c_xcalloc(1, sizeof(*f));
    f->node_name = k3c_xstrdup(cfg->node_name);
    f->node_ip = k3c_xstrdup(cfg->node_ip);
    f->iface = cfg->iface && *cfg->iface ? k3c_xstrdup(cfg->iface) : NULL;
    f->cluster_cidr = k3c_xstrdup(cluster);
    f->state_dir = k3c_xstrdup(cfg->state_dir);
    f->backend = cfg->backend;
    f->api = cfg->api;
    f->cluster_net = net;
    f->cluster_prefix = prefix;
    return f;
}

void
flannel_free(struct flannel *f)
{
    if (!f)
        return;
    informer_free(f->nodes);
    flannel_nl_close(f->sk);
    free(f->peers);
    free(f->node_name);
    free(f->node_ip);
    free(f->iface);
    free(f->cluster_cidr);
    free(f->state_dir);
    free(f);
}

int
flannel_pod_mtu(const struct flannel *f)
{
    return f ? f->pod_mtu : 0;
}

/* ---- the peer table (informer thread) ------------------------------------------ */

static struct flannel_peer *
peer_find(struct flannel *f, const char *name)
{
    for (size_t i = 0; i < f->n_peers; i++)
        if (strcmp(f->peers[i].name, name) == 0)
            return &f->peers[i];
    return NULL;
}

static void
peer_forget(struct flannel *f, struct flannel_peer *p)
{
    size_t i = (size_t)(p - f->peers);

    f->peers[i] = f->peers[--f->n_peers];
}

static void
peer_remove(struct flannel *f, struct flannel_peer *p, const char *why)
{
    struct k3c_err err = {0};

    if (flannel_peer_del(f->sk, f->backend, f->dev, p, &err) < 0)
        log_warn("(node %s) %s", p->name, err.msg);
    else
        log_info("(node %s) %s: removed route %s via %s", p->name, why, p->subnet,
                 f->backend == FLANNEL_BACKEND_VXLAN ? p->gateway : p->public_ip);
    peer_forget(f, p);
}

static void
peer_set(struct flannel *f, const struct flannel_peer *want)
{
    struct flannel_peer *have = peer_find(f, want->name);
    struct k3c_err err = {0};
    bool changed = !have || !flannel_peer_equal(have, want);

    if (have && changed)
        peer_remove(f, have, "changed");
    /* Written again on every update: NLM_F_REPLACE makes that harmless and
     * it puts back an entry someone deleted by hand. */
    if (flannel_peer_add(f->sk, f->backend, f->dev, want, &err) < 0) {
        log_warn("(node %s) %s", want->name, err.msg);
        return;
    }
    if (!changed)
        return;
    if (f->n_peers == f->cap_peers) {
        f->cap_peers = f->cap_peers ? f->cap_peers * 2 : 8;
        f->peers = k3c_xrealloc(f->peers, f->cap_peers * sizeof(*f->peers));
    }
    f->peers[f->n_peers++] = *want;
    if (f->backend == FLANNEL_BACKEND_VXLAN)
        log_info("(node %s) route %s via %s onlink, VTEP %s at %s", want->name, want->subnet,
                 want->gateway, want->vtep_mac, want->public_ip);
    else
        log_info("(node %s) route %s via %s", want->name, want->subnet, want->public_ip);
}

/* ---- this node ------------------------------------------------------------------- */

static void
self_update(struct flannel *f, const json_t *node)
{
    const char *cidr = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
    _cleanup_free_ char *script = NULL;
    struct k3c_err err = {0};
    uint32_t net;
    int prefix;

    if (!cidr || !*cidr || strcmp(cidr, f->pod_cidr) == 0)
        return;
    if (flannel_cidr_parse(cidr, &net, &prefix, &err) < 0 || strlen(cidr) >= sizeof(f->pod_cidr)) {
        log_warn("(node %s) podCIDR: %s", f->node_name, err.msg);
        return;
    }
    if (f->vxlan_dev && flannel_vxlan_address(f->sk, f->vxlan_dev, net, &err) < 0) {
        log_error("(node %s) %s", f->node_name, err.msg);
        return;
    }
    if (net_netfilter() == NET_NETFILTER_IPTABLES) { /* issue #19 */
        if (flannel_ipt_apply(f->cluster_cidr, cidr, &err) < 0) {
            log_error("(node %s) masquerade rules: %s", f->node_name, err.msg);
            return;
        }
    } else {
        script = flannel_nft_script(f->cluster_cidr, cidr);
        if (flannel_nft_run(script, &err) < 0) {
            log_error("(node %s) masquerade rules: %s", f->node_name, err.msg);
            return;
        }
    }
    snprintf(f->pod_cidr, sizeof(f->pod_cidr), "%s", cidr);
    log_info("(node %s) pod subnet %s of %s (%s), masquerade in %s", f->node_name, cidr,
             f->cluster_cidr, flannel_backend_name(f->backend),
             net_netfilter() == NET_NETFILTER_IPTABLES ? "iptables chains K3C-FLANNEL-*"
                                                       : "table ip " FLANNEL_NFT_TABLE);
}

/* ---- informer callbacks (informer thread) -------------------------------------------- */

static const char *
node_name(const json_t *node)
{
    return json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
}

static void
on_upsert(void *ud, const json_t *obj, const json_t *old)
{
    struct flannel *f = ud;
    const char *name = node_name(obj);
    struct flannel_peer want, *have;
    struct k3c_err err = {0};
    int rc;

    (void)old;
    if (!name)
        return;
    if (strcmp(name, f->node_name) == 0) {
        self_update(f, obj);
        return;
    }
    if (!f->active)
        return;
    rc = flannel_peer_from_node(obj, f->backend, &want, &err);
    if (rc < 0)
        log_warn("(node %s) %s", name, err.msg);
    if (rc == 1) {
        peer_set(f, &want);
        return;
    }
    have = peer_find(f, name);
    if (have)
        peer_remove(f, have, "no longer reachable by " FLANNEL_VXLAN_DEV);
}

static void
on_delete(void *ud, const json_t *obj)
{
    struct flannel *f = ud;
    const char *name = node_name(obj);
    struct flannel_peer *have = name ? peer_find(f, name) : NULL;

    if (have)
        peer_remove(f, have, "deleted");
}

/* After a (re)list: what an earlier run programmed for nodes that are gone
 * now was never announced as a delete. */
static void
on_synced(void *ud)
{
    struct flannel *f = ud;
    struct k3c_err err = {0};
    int n;

    if (!f->active)
        return;
    n = flannel_prune(f->sk, f->backend, f->dev, f->cluster_net, f->cluster_prefix, f->peers,
                      f->n_peers, &err);
    if (n > 0)
        log_info("(node %s) removed %d stale entries of nodes that are gone", f->node_name, n);
}

static const struct informer_ops node_ops = {
    .on_upsert = on_upsert,
    .on_delete = on_delete,
    .on_synced = on_synced,
};

/* ---- start ------------------------------------------------------------------------------ */

/* The VTEP MAC of an earlier run (state_dir/vtep-mac), else a new random
 * locally administered unicast one, as the kernel would pick. */
static void
vtep_mac_load(struct flannel *f)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/vtep-mac", f->state_dir);
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};

    if (k3c_read_file(path, &text, NULL, &err) == 0) {
        text[strcspn(text, "\n")] = '\0';
        if (flannel_mac_parse(text, f->mac))
            return;
    }
    k3c_random_bytes(f->mac, sizeof(f->mac));
    f->mac[0] = (uint8_t)((f->mac[0] & 0xfe) | 0x02);
}

static int
vtep_mac_save(struct flannel *f, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/vtep-mac", f->state_dir);
    char line[20];

    snprintf(line, sizeof(line), "%s\n", f->mac_s);
    if (k3c_mkdir_p(f->state_dir, 0700, err) < 0)
        return -1;
    return k3c_write_file(path, line, strlen(line), 0600, err);
}

static int
annotate_node(struct flannel *f, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", f->node_name);
    _cleanup_json_ json_t *patch = json_pack("{s:{s:o}}", "metadata", "annotations",
                                             flannel_annotations(f->backend, f->mac_s, f->node_ip)),
                          *ans = NULL;
    long st =
        http_client_json(f->api, "PATCH", path, "application/merge-patch+json", patch, &ans, err);

    return st == 200 ? 0 : k3c_err_wrap(err, "annotate node %s", f->node_name);
}

static int
setup_links(struct flannel *f, struct k3c_err *err)
{
    if (flannel_underlay_find(f->sk, f->iface, f->node_ip, &f->underlay, err) < 0)
        return -1;
    f->dev = f->underlay.ifindex;
    vtep_mac_load(f);
    flannel_mac_format(f->mac, f->mac_s);
    if (f->underlay.loopback) {
        /* One node alone (node IP on lo): no other node to reach. */
        log_info("(node %s) node IP %s is on loopback: single-node pod network, no routes to "
                 "other nodes",
                 f->node_name, f->node_ip);
        f->active = false;
        return 0;
    }
    if (f->backend == FLANNEL_BACKEND_HOST_GW) {
        /* A flannel.1 of an earlier vxlan run would keep stale routes. */
        f->pod_mtu = f->underlay.mtu;
        return flannel_link_delete(f->sk, FLANNEL_VXLAN_DEV, err);
    }
    if (flannel_vxlan_ensure(f->sk, &f->underlay, f->node_ip, f->mac, &f->vxlan_dev, err) < 0)
        return -1;
    flannel_mac_format(f->mac, f->mac_s);
    if (vtep_mac_save(f, err) < 0)
        return -1;
    f->dev = f->vxlan_dev;
    f->pod_mtu = f->underlay.mtu - FLANNEL_VXLAN_EXTRA;
    return 0;
}

/* A sysctl of the caller's network namespace: written in place, not
 * through k3c_write_file's temp file and rename. */
static int
ip_forward_on(struct k3c_err *err)
{
    _cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);

    if (fd < 0 || write(fd, "1\n", 2) != 2)
        return k3c_err_sys(err, errno, "enable IPv4 forwarding");
    return 0;
}

static int
start_informer(struct flannel *f, struct k3c_err *err)
{
    struct informer_config ic = {.client = f->api,
                                 .path = "/api/v1/nodes",
                                 .name = "nodes (flannel)",
                                 .ops = &node_ops,
                                 .userdata = f,
                                 .shared = true}; /* one watch with the DNS's */

    f->nodes = informer_new(&ic, err);
    if (!f->nodes)
        return -1;
    return informer_start(f->nodes, err);
}

int
flannel_start(struct flannel *f, struct k3c_err *err)
{
    if (f->backend == FLANNEL_BACKEND_NONE) {
        log_info("(node %s) flannel backend none: the pod network across nodes is left to "
                 "another CNI",
                 f->node_name);
        return 0;
    }
    f->sk = flannel_nl_open(err);
    if (!f->sk)
        return -1;
    f->active = true;
    if (setup_links(f, err) < 0)
        return k3c_err_wrap(err, "flannel %s", flannel_backend_name(f->backend));
    /* Pods reach other nodes through this host: forwarding must be on
     * before the first pod (the bridge plugin turns it on only then). */
    if (ip_forward_on(err) < 0)
        return -1;
    if (annotate_node(f, err) < 0)
        return -1;
    log_info("(node %s) flannel %s on %s (MTU %d), pods MTU %d", f->node_name,
             flannel_backend_name(f->backend), f->underlay.name, f->underlay.mtu, f->pod_mtu);
    return start_informer(f, err);
}
