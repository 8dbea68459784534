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

/* What of a Pod (or Namespace) the rules read: namespace, name, labels,
 * whether it has a usable IPv4 address and which, nodeName, hostNetwork and
 * the containers' ports (named ports). Two versions with equal projections
 * compute the same table, so the runner skips the recomputation for the
 * rest (status conditions, restarts, annotations: most Pod updates). A new
 * object; NULL obj gives null. */
json_t *netpol_relevant(const json_t *obj);

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
