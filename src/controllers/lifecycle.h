/* SPDX-License-Identifier: Apache-2.0
 * lifecycle.h - the decisions of the lifecycle controllers (node lifecycle
 * and taint eviction, pod CIDRs, EndpointSlices/Endpoints, garbage
 * collection) as pure functions over JSON, so unit tests cover them without
 * a server (lifecycle_logic.c). The controllers that act on them:
 * nodelifecycle.c, nodeipam.c, endpoints.c, gc.c, namespace.c,
 * serviceaccount.c. */
#ifndef K3C_CONTROLLERS_LIFECYCLE_H
#define K3C_CONTROLLERS_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_resource;

#define LC_TAINT_NOT_READY   "node.kubernetes.io/not-ready"
#define LC_TAINT_UNREACHABLE "node.kubernetes.io/unreachable"

/* ---- node lifecycle ------------------------------------------------------ */

/* True if toleration tolerates taint (upstream's ToleratesTaint). */
bool lc_tolerates(const json_t *toleration, const json_t *taint);
/* The taints node should carry for its Ready status ("True", "False",
 * "Unknown" or NULL): the not-ready/unreachable NoSchedule+NoExecute pair
 * for False/Unknown, neither for True/NULL; other taints are kept as they
 * are, as are wanted ones already there (with their timeAdded). now is
 * the RFC 3339 timeAdded of new ones. Returns a new array, or NULL when
 * nothing changes. */
json_t *lc_node_taints_want(const json_t *taints, const char *ready_status, const char *now);
/* Marks the node status' Ready, MemoryPressure, DiskPressure and PIDPressure
 * conditions Unknown (reason NodeStatusUnknown, or NodeStatusNeverUpdated
 * when missing), as upstream does when the kubelet stops posting. True if
 * anything changed. */
bool lc_node_mark_unknown(json_t *status, const char *now);
/* The node's last heartbeat: the Lease's renewTime when there is a lease,
 * else the Ready condition's lastHeartbeatTime, else creationTimestamp
 * (borrowed string, or NULL). Compared as strings to notice renewals. */
const char *lc_node_heartbeat(const json_t *node, const json_t *lease);

/* When the taint manager must evict pod from a node with taints: -1 never
 * (no NoExecute taint it does not tolerate forever), 0 now (a NoExecute
 * taint it does not tolerate), else the Unix time in ms (the taint's
 * timeAdded + the smallest tolerationSeconds among the tolerations used). */
int64_t lc_eviction_time_ms(const json_t *pod, const json_t *taints);

/* ---- pod CIDRs ----------------------------------------------------------- */

struct lc_cidr {
    uint32_t base; /* host order */
    int prefix;    /* of the cluster CIDR: 16 */
    int mask;      /* of a node's range: 24 */
};

/* Parses "10.42.0.0/16" with node mask size mask. -1 when invalid (IPv4
 * only; mask must lie in prefix..30 and give at most 65536 ranges). */
int lc_cidr_parse(const char *cidr, int mask, struct lc_cidr *out);
size_t lc_cidr_count(const struct lc_cidr *c);
/* The index of "10.42.3.0/24" in c, or -1 when it is not one of c's ranges. */
long lc_cidr_index(const struct lc_cidr *c, const char *node_cidr);
void lc_cidr_format(const struct lc_cidr *c, size_t index, char *buf, size_t len);

/* ---- endpoints ----------------------------------------------------------- */

/* For a Service (with a selector) and its selected pods (a JSON array, in
 * any order): the endpoints grouped by their resolved ports, as an array of
 * {"ports": [EndpointPort...], "endpoints": [Endpoint...]} (discovery/v1
 * shapes, sorted by pod name). Pods finished or without an IP are left
 * out; a pod whose named targetPort is not among its container ports is
 * left out of that port. */
json_t *lc_endpoint_groups(const json_t *svc, const json_t *pods);
/* The legacy Endpoints subsets of those groups: ready endpoints in
 * addresses, not-ready and not terminating ones in notReadyAddresses. */
json_t *lc_endpoints_subsets(const json_t *groups);

/* ---- garbage collection -------------------------------------------------- */

/* The served resource of apiVersion + kind ("apps/v1", "ReplicaSet"), or
 * NULL. */
const struct api_resource *lc_resource_for_kind(const char *api_version, const char *kind);
bool lc_has_finalizer(const json_t *obj, const char *name);
/* obj's metadata.finalizers without name (a new array). */
json_t *lc_finalizers_without(const json_t *obj, const char *name);
/* obj's metadata.ownerReferences without those with uid (a new array). */
json_t *lc_owner_refs_without(const json_t *obj, const char *uid);
/* "/apis/apps/v1/namespaces/ns/replicasets/name" (name NULL: the
 * collection; ns ignored for cluster-scoped kinds). A new string. */
char *lc_object_path(const struct api_resource *r, const char *ns, const char *name);

/* lifecycle_pressure.c (issue #21): the taints node should carry for its
 * pressure conditions (status: the Node's status): memory-pressure,
 * disk-pressure, pid-pressure NoSchedule while MemoryPressure, DiskPressure,
 * PIDPressure is True; others kept. A new array, or NULL when nothing
 * changes. */
json_t *lc_node_pressure_taints_want(const json_t *taints, const json_t *status, const char *now);

#endif
