/* SPDX-License-Identifier: Apache-2.0
 * flannel.h - the pod network across nodes, wire- and annotation-compatible
 * with flannel's kube subnet manager: a VXLAN device flannel.1 (VNI 1, UDP
 * 8472) with one neighbour, one FDB entry and one route per remote node
 * (vxlan backend), or one plain route per remote node (host-gw), plus
 * flannel's masquerade rules in the nftables table "ip k3c-flannel".
 * The Node objects say where each node's pods are (spec.podCIDR and the
 * flannel.alpha.coreos.com/ annotations); the agent follows them with an
 * informer and writes its own Node's annotations.
 *
 * flannel.c: lifecycle and the informer callbacks; flannel_node.c: the pure
 * parts (below); flannel_link.c: netlink (libnl-route); flannel_nft.c:
 * libnftables.
 * Everything acts on the caller's network namespace. */
#ifndef K3C_NET_FLANNEL_H
#define K3C_NET_FLANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "client/client.h"

#define FLANNEL_VXLAN_DEV   "flannel.1"
#define FLANNEL_VXLAN_VNI   1
#define FLANNEL_VXLAN_PORT  8472
#define FLANNEL_VXLAN_EXTRA 50 /* outer IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14 */
#define FLANNEL_NFT_TABLE   "k3c-flannel"
#define FLANNEL_ANN_PREFIX  "flannel.alpha.coreos.com/"

enum flannel_backend {
    FLANNEL_BACKEND_VXLAN,
    FLANNEL_BACKEND_HOST_GW,
    FLANNEL_BACKEND_NONE,
};

/* "vxlan", "host-gw", "none" -> *out; -1 with INVALID otherwise. */
int flannel_backend_parse(const char *s, enum flannel_backend *out, struct k3c_err *err);
const char *flannel_backend_name(enum flannel_backend b);

struct flannel_config {
    struct http_client *api;  /* node credentials; borrowed, must outlive */
    const char *node_name;    /* this node */
    const char *node_ip;      /* the underlay address: VXLAN local, public-ip */
    const char *iface;        /* underlay interface; NULL: the one holding node_ip */
    const char *cluster_cidr; /* NULL: 10.42.0.0/16 */
    const char *state_dir;    /* keeps the VTEP MAC across restarts (vtep-mac) */
    enum flannel_backend backend;
};

struct flannel;

/* Checks cfg (INVALID) and copies its strings. Does nothing to the host. */
struct flannel *flannel_new(const struct flannel_config *cfg, struct k3c_err *err);
/* Finds the underlay interface and its MTU, creates or adopts flannel.1
 * (vxlan), writes this Node's flannel annotations, then starts the Node
 * informer that programs the per-node entries and, once this node has a
 * podCIDR, the flannel.1 address and the masquerade rules. backend none:
 * does nothing. Errors: NOT_FOUND (no interface), SYSTEM (netlink), the
 * API's. */
int flannel_start(struct flannel *f, struct k3c_err *err);
/* The MTU pods should use: the underlay's minus 50 for vxlan, the
 * underlay's for host-gw, 0 (the CNI plugin's default) for none or before
 * start. */
int flannel_pod_mtu(const struct flannel *f);
/* Stops the informer; flannel.1, routes and rules stay so that running pods
 * keep their network across an agent restart (as flannel does; the
 * uninstall path, scripts/run-server --stop, removes flannel.1 and the
 * table). NULL ok. */
void flannel_free(struct flannel *f);

/* ---- pure parts (unit-tested) ---------------------------------------------- */

/* What one remote node needs on this one. */
struct flannel_peer {
    char name[254];
    char subnet[20];    /* its podCIDR, "10.42.2.0/24" */
    uint32_t net;       /* the subnet's network address, host order */
    int prefix;         /* its length */
    char gateway[16];   /* the subnet's network address ("10.42.2.0"): its VTEP */
    char public_ip[16]; /* flannel.alpha.coreos.com/public-ip, else the InternalIP */
    char vtep_mac[18];  /* "aa:bb:cc:dd:ee:ff" from backend-data; vxlan only */
};

/* The peer a Node object describes, for backend. Returns 1 and fills *p,
 * 0 when the node has nothing to program yet (no podCIDR, no public IP, for
 * vxlan no backend-data, or another backend-type), -1 with INVALID for a
 * malformed podCIDR, address, MAC or backend-data. Thread: any (pure). */
int flannel_peer_from_node(const json_t *node, enum flannel_backend backend, struct flannel_peer *p,
                           struct k3c_err *err);
/* True when a and b program the same entries. */
bool flannel_peer_equal(const struct flannel_peer *a, const struct flannel_peer *b);

/* The annotations flannel writes on its Node (a new object):
 * backend-data {"VNI":1,"VtepMAC":mac} (vxlan; "null" for host-gw),
 * backend-type, kube-subnet-manager "true", public-ip. */
json_t *flannel_annotations(enum flannel_backend backend, const char *vtep_mac,
                            const char *public_ip);

/* "a.b.c.d/n" -> network address (host order) and prefix; -1 with INVALID
 * for anything else (also host bits set). */
int flannel_cidr_parse(const char *cidr, uint32_t *net, int *prefix, struct k3c_err *err);
/* "aa:bb:cc:dd:ee:ff" (any case) -> 6 bytes; false when malformed. */
bool flannel_mac_parse(const char *s, uint8_t mac[6]);
/* 6 bytes -> "aa:bb:cc:dd:ee:ff" (out holds 18). */
void flannel_mac_format(const uint8_t mac[6], char out[18]);

/* The nftables script (one transaction) that (re)creates table ip
 * k3c-flannel with flannel's rules for cluster_cidr and this node's
 * pod_cidr: pod->pod never NATed, pod->outside masqueraded, host->remote
 * pod masqueraded, forwarding accepted to and from the cluster CIDR. A new
 * string (caller free()s). Thread: any (pure). */
char *flannel_nft_script(const char *cluster_cidr, const char *pod_cidr);

/* The same rules under the iptables backend (issue #19, flannel_ipt.c), as
 * iptables-restore --noflush text: chains K3C-FLANNEL-POSTRTG (nat) and
 * K3C-FLANNEL-FWD (filter) rewritten, the jumps to them from POSTROUTING
 * and FORWARD inserted when nat_save/filter_save (iptables-save text) lack
 * them. A new string. Thread: any (pure). */
char *flannel_ipt_script(const char *cluster_cidr, const char *pod_cidr, bool random_fully,
                         const char *nat_save, const char *filter_save);
/* Reads the tables, renders and applies flannel_ipt_script. */
int flannel_ipt_apply(const char *cluster_cidr, const char *pod_cidr, struct k3c_err *err);

#endif
