/* SPDX-License-Identifier: Apache-2.0
 * netpol.h - NetworkPolicy enforcement (networking.k8s.io/v1) on the node
 * where the pods run, in one nftables table of the node's namespace,
 * "ip k3c-netpol" (docs/network.md, "NetworkPolicy"):
 *   netpol_rules.c  pure: policies, pods and namespaces -> the whole table
 *                   as one nft script (one atomic transaction);
 *   netpol.c        the agent's runner: informers on NetworkPolicies, Pods
 *                   and Namespaces, batching, the script applied when it
 *                   changed, a full retry after an error, the table removed
 *                   at stop.
 * Packets are judged in the forward hook, after the service proxy's DNAT
 * (so on the backend pod's IP and port, as upstream) and before its
 * masquerade; bridged pod-to-pod traffic reaches it through br_netfilter. */
#ifndef K3C_NET_NETPOL_H
#define K3C_NET_NETPOL_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "client/client.h"

#define NETPOL_TABLE "k3c-netpol"

/* ---- rules (netpol_rules.c), pure ---------------------------------------- */

/* The policies of one direction ("Ingress" or "Egress") that isolate pod
 * (a Pod object): an array of borrowed policies, empty when the pod is not
 * isolated in that direction. policies: every NetworkPolicy. */
json_t *netpol_selecting(const json_t *policies, const json_t *pod, const char *direction);

/* The rules of pod's chain for one direction, one nft rule body per line
 * ending in "return" (allowed traffic), or NULL when the pod is not
 * isolated in that direction. pods and namespaces: every Pod and Namespace
 * (for peers and, on egress, named ports). The caller appends the final
 * reject. Returns a new string (caller free()s). */
char *netpol_pod_rules(const json_t *policies, const json_t *pods, const json_t *namespaces,
                       const json_t *pod, const char *direction);

/* The whole table for the pods of node_name as one script: "add table;
 * delete table;" then the table, so applying it replaces what was there in
 * one transaction. Caller free()s. */
char *netpol_script(const char *table, const char *node_name, const json_t *policies,
                    const json_t *pods, const json_t *namespaces);

/* The model both renderers (nft here, iptables in netpol_ipt.c) read: a
 * pod's allowed traffic of one direction as entries, each an object
 *   {"ips": ["a.b.c.d", ...]?, "cidr": "a.b.c.d/n"?, "except": [cidr...]?,
 *    "proto": "tcp"|"udp"|"sctp"?, "dport": "80"|"80-90"?}
 * whose present fields all have to match (ips: the peer, source on
 * ingress, destination on egress, one of them; cidr and not any except).
 * ctx: what the computation for one node shares between its pods (peer
 * indexes, the per-rule cache). */
struct netpol_ctx;
struct netpol_ctx *netpol_ctx_new(const json_t *pods, const json_t *namespaces);
void netpol_ctx_free(struct netpol_ctx *cx);
/* The entries of pod for direction ("Ingress"/"Egress"), a new array, or
 * NULL when the pod is not isolated that way. */
json_t *netpol_pod_model(struct netpol_ctx *cx, const json_t *policies, const json_t *pod,
                         const char *direction);
/* The pod's IPv4 address (dotted), or false: none yet, host network,
 * finished. */
bool netpol_pod_ip(const json_t *pod, char out[16]);
/* Calls visit once per pod of node_name that has its own address (see
 * netpol_pod_ip), in the array's order; a later pod with an address already
 * seen (a finished pod whose IP was reused) is skipped. Both renderers walk
 * a node's pods with it. */
typedef void (*netpol_pod_visit)(const json_t *pod, const char *ip, void *data);
void netpol_foreach_node_pod(const char *node_name, const json_t *pods, netpol_pod_visit visit,
                             void *data);

/* What of a Pod (or Namespace) the rules read: namespace, name, labels,
 * whether it has a usable IPv4 address and which, nodeName, hostNetwork and
 * the containers' ports (named ports). Two versions with equal projections
 * compute the same table, so the runner skips the recomputation for the
 * rest (status conditions, restarts, annotations: most Pod updates). A new
 * object; NULL obj gives null. */
json_t *netpol_relevant(const json_t *obj);

/* ---- the iptables backend (netpol_ipt.c), pure ---------------------------- */

#define NETPOL_IPT_PREFIX "K3C-NP-"
#define NETPOL_IPT_CHAIN  "K3C-NP-FORWARD"

/* The filter-table chains for the pods of node_name: the declarations
 * (":K3C-NP-... - [0:0]") then the rules ("-A ..."). Caller free()s. */
char *netpol_ipt_rules(const char *node_name, const json_t *policies, const json_t *pods,
                       const json_t *namespaces);
/* The whole `iptables-restore --noflush` payload: "*filter", rules, the
 * deletion of the K3C-NP- chains of filter_save (iptables-save -t filter)
 * that rules no longer declares, FORWARD's jump made its first rule when it
 * is not (an ACCEPT above it, such as flannel's, would bypass policies),
 * "COMMIT". Caller free()s. */
char *netpol_ipt_payload(const char *rules, const char *filter_save);
/* Pure. Whether the first rule of FORWARD in filter_save is the jump to
 * K3C-NP-FORWARD. */
bool netpol_ipt_forward_first(const char *filter_save);

/* ---- the runner (netpol.c) ------------------------------------------------ */

struct netpol_config {
    struct http_client *client; /* borrowed (node credentials); must outlive it */
    const char *node_name;
    const char *table; /* NULL: NETPOL_TABLE */
    int batch_ms;      /* changes gathered into one transaction; 0: 50 */
};

struct netpol;

struct netpol *netpol_new(const struct netpol_config *cfg, struct k3c_err *err);
/* Starts the informers and the sync thread. */
int netpol_start(struct netpol *np, struct k3c_err *err);
/* Stops and removes the table. NULL is a no-op. */
void netpol_free(struct netpol *np);
/* Removes what an earlier run left (--disable-network-policy). */
int netpol_cleanup(const char *table, struct k3c_err *err);

#endif
