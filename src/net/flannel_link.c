/* SPDX-License-Identifier: Apache-2.0
 * flannel_link.c - the netlink side of the pod network (libnl-route): the
 * underlay lookup, the flannel.1 VXLAN device, and the neighbour, FDB and
 * route of each remote node. Entries are written with NLM_F_REPLACE, so
 * writing them again is harmless; deleting a missing one is not an error. */
#define LOG_COMPONENT "flannel"
#include "net/flannel-internal.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int
nl_fail(struct k3c_err *err, int nlerr, const char *what)
{
    return k3c_err_set(err, K3C_E_SYSTEM, "%s: %s", what, nl_geterror(nlerr));
}

struct nl_sock *
flannel_nl_open(struct k3c_err *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    int rc;

    if (!sk) {
        k3c_err_set(err, K3C_E_SYSTEM, "netlink: out of memory");
        return NULL;
    }
    rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        nl_fail(err, rc, "netlink connect");
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

void
flannel_nl_close(struct nl_sock *sk)
{
    if (sk)
        nl_socket_free(sk);
}

static struct nl_addr *
addr_v4(uint32_t host_order, int prefix)
{
    uint32_t be = htonl(host_order);
    struct nl_addr *a = nl_addr_build(AF_INET, &be, 4);

    if (a)
        nl_addr_set_prefixlen(a, prefix);
    return a;
}

static struct nl_addr *
addr_parse_v4(const char *s)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1)
        return NULL;
    return addr_v4(ntohl(a.s_addr), 32);
}

static int
underlay_from_link(struct rtnl_link *l, struct flannel_underlay *u)
{
    u->ifindex = rtnl_link_get_ifindex(l);
    u->mtu = (int)rtnl_link_get_mtu(l);
    u->loopback = (rtnl_link_get_flags(l) & IFF_LOOPBACK) != 0;
    snprintf(u->name, sizeof(u->name), "%s", rtnl_link_get_name(l));
    return 0;
}

/* The index of the interface that holds node_ip, or 0. */
static int
ifindex_of_address(struct nl_sock *sk, const char *node_ip, struct k3c_err *err)
{
    struct nl_cache *addrs = NULL;
    struct nl_addr *want = addr_parse_v4(node_ip);
    int rc, found = 0;

    if (!want)
        return k3c_err_set(err, K3C_E_INVALID, "node IP '%s' is not IPv4", node_ip);
    rc = rtnl_addr_alloc_cache(sk, &addrs);
    if (rc < 0) {
        nl_addr_put(want);
        return nl_fail(err, rc, "list addresses");
    }
    for (struct nl_object *o = nl_cache_get_first(addrs); o && !found; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct nl_addr *local = rtnl_addr_get_local(a);

        if (rtnl_addr_get_family(a) == AF_INET && local && nl_addr_cmp_prefix(local, want) == 0 &&
            nl_addr_get_len(local) == 4 &&
            memcmp(nl_addr_get_binary_addr(local), nl_addr_get_binary_addr(want), 4) == 0)
            found = rtnl_addr_get_ifindex(a);
    }
    nl_cache_free(addrs);
    nl_addr_put(want);
    if (!found)
        return k3c_err_set(err, K3C_E_NOT_FOUND,
                           "no interface has the node IP %s (set --flannel-iface)", node_ip);
    return found;
}

int
flannel_underlay_find(struct nl_sock *sk, const char *iface, const char *node_ip,
                      struct flannel_underlay *u, struct k3c_err *err)
{
    struct rtnl_link *l = NULL;
    int rc;

    if (iface && *iface) {
        rc = rtnl_link_get_kernel(sk, 0, iface, &l);
        if (rc < 0)
            return k3c_err_set(err, K3C_E_NOT_FOUND, "--flannel-iface %s: %s", iface,
                               nl_geterror(rc));
    } else {
        int ifindex = ifindex_of_address(sk, node_ip, err);

        if (ifindex < 0)
            return -1;
        rc = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
        if (rc < 0)
            return nl_fail(err, rc, "underlay link");
    }
    underlay_from_link(l, u);
    rtnl_link_put(l);
    return 0;
}

/* flannel turns off TX checksum offload on flannel.1: with it on, some
 * kernels (and NICs doing VXLAN offload) send inner packets with bad
 * checksums that the receiver drops (flannel #1279, k3s #5015). */
static int
tx_csum_off(const char *name, struct k3c_err *err)
{
    struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    ifr.ifr_data = (void *)&ev;
    rc = ioctl(fd, SIOCETHTOOL, &ifr);
    if (rc < 0)
        k3c_err_sys(err, errno, "%s: turn off tx checksum offload", name);
    close(fd);
    return rc < 0 ? -1 : 0;
}

/* True when l is a VXLAN device as flannel.1 should be. */
static bool
vxlan_matches(struct rtnl_link *l, const struct flannel_underlay *u, const char *node_ip)
{
    uint32_t id = 0, port = 0;
    struct nl_addr *local = NULL, *want = addr_parse_v4(node_ip);
    bool ok;

    ok = rtnl_link_is_vxlan(l) && rtnl_link_vxlan_get_id(l, &id) == 0 && id == FLANNEL_VXLAN_VNI &&
         rtnl_link_vxlan_get_port(l, &port) == 0 && port == FLANNEL_VXLAN_PORT &&
         rtnl_link_vxlan_get_local(l, &local) == 0 && want && nl_addr_cmp(local, want) == 0 &&
         rtnl_link_get_mtu(l) == (unsigned)(u->mtu - FLANNEL_VXLAN_EXTRA);
    if (local)
        nl_addr_put(local);
    if (want)
        nl_addr_put(want);
    return ok;
}

static int
vxlan_create(struct nl_sock *sk, const struct flannel_underlay *u, const char *node_ip,
             const uint8_t mac[6], struct k3c_err *err)
{
    struct rtnl_link *l = rtnl_link_vxlan_alloc();
    struct nl_addr *local = addr_parse_v4(node_ip), *ll = nl_addr_build(AF_LLC, mac, 6);
    int rc = -NLE_NOMEM;

    if (l && local && ll) {
        rtnl_link_set_name(l, FLANNEL_VXLAN_DEV);
        rtnl_link_set_mtu(l, (unsigned)(u->mtu - FLANNEL_VXLAN_EXTRA));
        rtnl_link_set_addr(l, ll);
        rtnl_link_vxlan_set_id(l, FLANNEL_VXLAN_VNI);
        rtnl_link_vxlan_set_port(l, FLANNEL_VXLAN_PORT);
        rtnl_link_vxlan_set_local(l, local);
        rtnl_link_vxlan_set_link(l, (uint32_t)u->ifindex);
        rtnl_link_vxlan_set_learning(l, 0);
        rc = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    }
    if (ll)
        nl_addr_put(ll);
    if (local)
        nl_addr_put(local);
    if (l)
        rtnl_link_put(l);
    return rc < 0 ? nl_fail(err, rc, "create " FLANNEL_VXLAN_DEV) : 0;
}

static int
link_up(struct nl_sock *sk, struct rtnl_link *l, struct k3c_err *err)
{
    struct rtnl_link *change = rtnl_link_alloc();
    int rc;

    rtnl_link_set_flags(change, IFF_UP);
    rc = rtnl_link_change(sk, l, change, 0);
    rtnl_link_put(change);
    return rc < 0 ? nl_fail(err, rc, "set " FLANNEL_VXLAN_DEV " up") : 0;
}

int
flannel_vxlan_ensure(struct nl_sock *sk, const struct flannel_underlay *u, const char *node_ip,
                     uint8_t mac[6], int *ifindex, struct k3c_err *err)
{
    struct rtnl_link *l = NULL;
    struct k3c_err csum_err = {0};
    struct nl_addr *ll;
    int rc = rtnl_link_get_kernel(sk, 0, FLANNEL_VXLAN_DEV, &l);

    if (rc == 0 && !vxlan_matches(l, u, node_ip)) {
        log_info("(link %s) parameters changed: recreating it", FLANNEL_VXLAN_DEV);
        rtnl_link_put(l);
        l = NULL;
        if (flannel_link_delete(sk, FLANNEL_VXLAN_DEV, err) < 0)
            return -1;
    }
    if (!l) {
        if (vxlan_create(sk, u, node_ip, mac, err) < 0)
            return -1;
        rc = rtnl_link_get_kernel(sk, 0, FLANNEL_VXLAN_DEV, &l);
        if (rc < 0)
            return nl_fail(err, rc, FLANNEL_VXLAN_DEV " after creating it");
        log_info("(link %s) created: VNI %d, port %d, local %s on %s, MTU %d", FLANNEL_VXLAN_DEV,
                 FLANNEL_VXLAN_VNI, FLANNEL_VXLAN_PORT, node_ip, u->name,
                 u->mtu - FLANNEL_VXLAN_EXTRA);
    }
    ll = rtnl_link_get_addr(l);
    if (ll && nl_addr_get_len(ll) == 6)
        memcpy(mac, nl_addr_get_binary_addr(ll), 6);
    *ifindex = rtnl_link_get_ifindex(l);
    rc = link_up(sk, l, err);
    rtnl_link_put(l);
    if (rc < 0)
        return -1;
    /* Where the ioctl does not exist (qemu-user emulation has no
     * SIOCETHTOOL) the network still works, as flannel's own does. */
    if (tx_csum_off(FLANNEL_VXLAN_DEV, &csum_err) < 0)
        log_warn(
            "%s; if pods on different nodes cannot talk, run `ethtool -K %s tx-checksum-ip-generic "
            "off` (docs/network.md)",
            csum_err.msg, FLANNEL_VXLAN_DEV);
    return 0;
}

int
flannel_vxlan_address(struct nl_sock *sk, int ifindex, uint32_t net, struct k3c_err *err)
{
    struct nl_cache *addrs = NULL;
    struct nl_addr *want = addr_v4(net, 32);
    struct rtnl_addr *a;
    bool have = false;
    int rc = rtnl_addr_alloc_cache(sk, &addrs);

    if (rc < 0) {
        nl_addr_put(want);
        return nl_fail(err, rc, "list addresses");
    }
    for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
        a = (struct rtnl_addr *)o;
        if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET)
            continue;
        if (nl_addr_cmp(rtnl_addr_get_local(a), want) == 0 && rtnl_addr_get_prefixlen(a) == 32)
            have = true;
        else
            rtnl_addr_delete(sk, a, 0);
    }
    nl_cache_free(addrs);
    rc = 0;
    if (!have) {
        a = rtnl_addr_alloc();
        rtnl_addr_set_ifindex(a, ifindex);
        rtnl_addr_set_local(a, want);
        rc = rtnl_addr_add(sk, a, 0);
        rtnl_addr_put(a);
    }
    nl_addr_put(want);
    return rc < 0 && rc != -NLE_EXIST ? nl_fail(err, rc, "address of " FLANNEL_VXLAN_DEV) : 0;
}

int
flannel_link_delete(struct nl_sock *sk, const char *name, struct k3c_err *err)
{
    struct rtnl_link *l = rtnl_link_alloc();
    int rc;

    rtnl_link_set_name(l, name);
    rc = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    if (rc < 0 && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV)
        return nl_fail(err, rc, name);
    return 0;
}

/* ---- per-peer entries -------------------------------------------------------- */

static struct rtnl_route *
peer_route(enum flannel_backend b, int dev, const struct flannel_peer *p)
{
    struct rtnl_route *r = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    struct nl_addr *dst = addr_v4(p->net, p->prefix);
    struct nl_addr *gw = addr_parse_v4(b == FLANNEL_BACKEND_VXLAN ? p->gateway : p->public_ip);

    rtnl_route_set_family(r, AF_INET);
    rtnl_route_set_table(r, RT_TABLE_MAIN);
    rtnl_route_set_protocol(r, RTPROT_BOOT); /* as flannel's (libnl says static) */
    rtnl_route_set_dst(r, dst);
    rtnl_route_nh_set_ifindex(nh, dev);
    rtnl_route_nh_set_gateway(nh, gw);
    /* The remote .0 is no neighbour of flannel.1 by address: onlink says
     * "send it there anyway" (the neighbour entry gives its MAC). */
    if (b == FLANNEL_BACKEND_VXLAN)
        rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
    rtnl_route_add_nexthop(r, nh);
    nl_addr_put(dst);
    nl_addr_put(gw);
    return r;
}

static struct rtnl_neigh *
peer_neigh(int dev, const struct flannel_peer *p, bool fdb)
{
    struct rtnl_neigh *n = rtnl_neigh_alloc();
    uint8_t mac[6];
    struct nl_addr *ll, *dst;

    flannel_mac_parse(p->vtep_mac, mac);
    ll = nl_addr_build(AF_LLC, mac, 6);
    dst = addr_parse_v4(fdb ? p->public_ip : p->gateway);
    rtnl_neigh_set_ifindex(n, dev);
    /* The family after the addresses: libnl refuses an address of another
     * family than the neighbour's, and an FDB entry's is AF_BRIDGE. */
    rtnl_neigh_set_lladdr(n, ll);
    rtnl_neigh_set_dst(n, dst);
    rtnl_neigh_set_family(n, fdb ? AF_BRIDGE : AF_INET);
    rtnl_neigh_set_state(n, NUD_PERMANENT);
    if (fdb)
        rtnl_neigh_set_flags(n, NTF_SELF);
    nl_addr_put(ll);
    nl_addr_put(dst);
    return n;
}

int
flannel_peer_add(struct nl_sock *sk, enum flannel_backend b, int dev, const struct flannel_peer *p,
                 struct k3c_err *err)
{
    struct rtnl_route *r;
    int rc;

    if (b == FLANNEL_BACKEND_VXLAN) {
        /* flannel's order: ARP, then FDB, then the route that uses them. */
        for (int fdb = 0; fdb <= 1; fdb++) {
            struct rtnl_neigh *n = peer_neigh(dev, p, fdb);

            rc = rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE);
            rtnl_neigh_put(n);
            if (rc < 0)
                return k3c_err_set(err, K3C_E_SYSTEM, "add %s: %s", fdb ? "FDB entry" : "neighbour",
                                   nl_geterror(rc));
        }
    }
    r = peer_route(b, dev, p);
    rc = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_route_put(r);
    if (rc < 0)
        return k3c_err_set(err, K3C_E_SYSTEM, "route %s: %s", p->subnet, nl_geterror(rc));
    return 0;
}

static bool
missing(int rc)
{
    return rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NOADDR || rc == -NLE_NODEV;
}

int
flannel_peer_del(struct nl_sock *sk, enum flannel_backend b, int dev, const struct flannel_peer *p,
                 struct k3c_err *err)
{
    struct rtnl_route *r = peer_route(b, dev, p);
    int rc = rtnl_route_delete(sk, r, 0), first = 0;

    rtnl_route_put(r);
    if (rc < 0 && !missing(rc))
        first = rc;
    if (b == FLANNEL_BACKEND_VXLAN) {
        for (int fdb = 1; fdb >= 0; fdb--) {
            struct rtnl_neigh *n = peer_neigh(dev, p, fdb);

            rc = rtnl_neigh_delete(sk, n, 0);
            rtnl_neigh_put(n);
            if (rc < 0 && !missing(rc) && !first)
                first = rc;
        }
    }
    if (first)
        return k3c_err_set(err, K3C_E_SYSTEM, "remove its entries: %s", nl_geterror(first));
    return 0;
}

/* ---- pruning what no peer asked for -------------------------------------------- */

static uint32_t
addr_host_order(struct nl_addr *a)
{
    uint32_t be = 0;

    if (a && nl_addr_get_len(a) == 4)
        memcpy(&be, nl_addr_get_binary_addr(a), 4);
    return ntohl(be);
}

static bool
in_cidr(uint32_t ip, uint32_t net, int prefix)
{
    uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);

    return (ip & mask) == net;
}

static int
prune_routes(struct nl_sock *sk, int dev, uint32_t cluster, int cprefix,
             const struct flannel_peer *peers, size_t n)
{
    struct nl_cache *routes = NULL;
    int removed = 0;

    if (rtnl_route_alloc_cache(sk, AF_INET, 0, &routes) < 0)
        return 0;
    for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
        struct rtnl_route *r = (struct rtnl_route *)o;
        struct nl_addr *dst = rtnl_route_get_dst(r);
        struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
        uint32_t d = addr_host_order(dst);
        int plen = dst ? (int)nl_addr_get_prefixlen(dst) : 0;
        bool wanted = false;

        if (rtnl_route_get_table(r) != RT_TABLE_MAIN || !nh ||
            rtnl_route_nh_get_ifindex(nh) != dev || !rtnl_route_nh_get_gateway(nh) ||
            plen <= cprefix || !in_cidr(d, cluster, cprefix))
            continue;
        for (size_t i = 0; i < n && !wanted; i++)
            wanted = peers[i].net == d && peers[i].prefix == plen;
        if (!wanted && rtnl_route_delete(sk, r, 0) == 0)
            removed++;
    }
    nl_cache_free(routes);
    return removed;
}

static int
prune_neighbours(struct nl_sock *sk, int dev, const struct flannel_peer *peers, size_t n)
{
    struct nl_cache *neighs = NULL;
    int removed = 0;

    /* AF_ITER: a plain dump leaves out the bridge family (the FDB). */
    if (rtnl_neigh_alloc_cache_flags(sk, &neighs, NL_CACHE_AF_ITER) < 0)
        return 0;
    for (struct nl_object *o = nl_cache_get_first(neighs); o; o = nl_cache_get_next(o)) {
        struct rtnl_neigh *ne = (struct rtnl_neigh *)o;
        int fam = rtnl_neigh_get_family(ne);
        struct nl_addr *ll = rtnl_neigh_get_lladdr(ne);
        char mac[18] = "";
        bool wanted = false;

        if (rtnl_neigh_get_ifindex(ne) != dev || (fam != AF_INET && fam != AF_BRIDGE) ||
            !(rtnl_neigh_get_state(ne) & NUD_PERMANENT) || !ll || nl_addr_get_len(ll) != 6)
            continue;
        flannel_mac_format(nl_addr_get_binary_addr(ll), mac);
        for (size_t i = 0; i < n && !wanted; i++)
            wanted = strcmp(peers[i].vtep_mac, mac) == 0;
        if (!wanted && rtnl_neigh_delete(sk, ne, 0) == 0)
            removed++;
    }
    nl_cache_free(neighs);
    return removed;
}

int
flannel_prune(struct nl_sock *sk, enum flannel_backend b, int dev, uint32_t cluster,
              int cluster_prefix, const struct flannel_peer *peers, size_t n, struct k3c_err *err)
{
    int removed = prune_routes(sk, dev, cluster, cluster_prefix, peers, n);

    (void)err;
    if (b == FLANNEL_BACKEND_VXLAN)
        removed += prune_neighbours(sk, dev, peers, n);
    return removed;
}
