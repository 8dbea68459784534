/* SPDX-License-Identifier: Apache-2.0
 * flannel-internal.h - what flannel.c asks of netlink (flannel_link.c) and
 * nftables (flannel_nft.c). Every call acts on the caller's network
 * namespace; a struct nl_sock is used by one thread at a time. */
#ifndef K3C_NET_FLANNEL_INTERNAL_H
#define K3C_NET_FLANNEL_INTERNAL_H

#include "net/flannel.h"

#include <stddef.h>

struct nl_sock;

struct nl_sock *flannel_nl_open(struct k3c_err *err);
void flannel_nl_close(struct nl_sock *sk);

/* The underlay: iface by name, or the interface holding node_ip. */
struct flannel_underlay {
    int ifindex;
    int mtu;
    bool loopback;
    char name[16];
};
int flannel_underlay_find(struct nl_sock *sk, const char *iface, const char *node_ip,
                          struct flannel_underlay *u, struct k3c_err *err);

/* Creates flannel.1 (VNI 1, port 8472, local node_ip, learning off, MTU
 * u->mtu - 50, on u) or adopts one with those parameters; a flannel.1 with
 * others is replaced. mac: in, the MAC for a new device; out, the device's.
 * Turns off TX checksum offload on it and sets it up. *ifindex gets its
 * index. */
int flannel_vxlan_ensure(struct nl_sock *sk, const struct flannel_underlay *u, const char *node_ip,
                         uint8_t mac[6], int *ifindex, struct k3c_err *err);
/* Gives ifindex exactly the address net/32 (others removed). */
int flannel_vxlan_address(struct nl_sock *sk, int ifindex, uint32_t net, struct k3c_err *err);
/* Deletes the link called name; a missing one is fine. */
int flannel_link_delete(struct nl_sock *sk, const char *name, struct k3c_err *err);

/* The entries of one remote node: vxlan: neighbour, FDB, onlink route via
 * dev (flannel.1); host-gw: a route via its public IP on dev (the
 * underlay). Add replaces what differs; delete ignores missing entries. */
int flannel_peer_add(struct nl_sock *sk, enum flannel_backend b, int dev,
                     const struct flannel_peer *p, struct k3c_err *err);
int flannel_peer_del(struct nl_sock *sk, enum flannel_backend b, int dev,
                     const struct flannel_peer *p, struct k3c_err *err);
/* Removes the entries nobody asked for: routes into the cluster CIDR
 * (cluster/cluster_prefix) through dev other than the peers' subnets, and
 * for vxlan the neighbours and FDB entries on dev that no peer has. Returns
 * how many were removed, or -1. */
int flannel_prune(struct nl_sock *sk, enum flannel_backend b, int dev, uint32_t cluster,
                  int cluster_prefix, const struct flannel_peer *peers, size_t n,
                  struct k3c_err *err);

/* Runs an nftables script (one transaction) through libnftables. */
int flannel_nft_run(const char *script, struct k3c_err *err);

#endif
