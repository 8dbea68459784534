/* SPDX-License-Identifier: Apache-2.0
 * pvbinder.h - the PersistentVolume binder (upstream's persistentvolume
 * controller with the built-in local-path provisioner; docs/storage.md):
 * the pure matching rules, separate so that unit tests reach them. */
#ifndef K3C_CONTROLLERS_PVBINDER_H
#define K3C_CONTROLLERS_PVBINDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "controllers/controller.h"

extern const struct ctl_def ctl_def_pvbinder;

#define PVB_LOCAL_PATH_PROVISIONER "rancher.io/local-path"
#define PVB_SELECTED_NODE          "volume.kubernetes.io/selected-node"
#define PVB_PROVISIONED_BY         "pv.kubernetes.io/provisioned-by"
/* The node a local-path volume lives on (its agent removes the directory). */
#define PVB_LOCAL_NODE "local.path.provisioner/selected-node"
/* Held by a local-path volume until its agent removed the directory. */
#define PVB_CLEANUP_FINALIZER "external-provisioner.volume.kubernetes.io/finalizer"

/* The storage request of a claim (spec.resources.requests.storage) or the
 * capacity of a volume (spec.capacity.storage) in bytes; -1 if absent or
 * malformed. */
int64_t pvb_claim_request(const json_t *pvc);
int64_t pvb_volume_capacity(const json_t *pv);
/* Whether the required NodeSelector (terms ORed; none: any node) admits
 * node (a Node object). */
bool pvb_node_selector_matches(const json_t *selector, const json_t *node);

/* Whether pv can be bound to pvc (upstream's findMatchingVolume checks):
 * not bound to another claim (a claimRef naming pvc pre-binds it), phase
 * Available (or pre-bound), same class and volumeMode, every requested
 * access mode offered, capacity >= request, the claim's label selector,
 * and, when node is not NULL, the volume's node affinity admits node.
 * why (may be NULL) gets a short reason when it cannot. */
bool pvb_volume_matches(const json_t *pv, const json_t *pvc, const json_t *node, char *why,
                        size_t why_len);
/* The best of pvs (a JSON array) for pvc: a volume pre-bound to the claim
 * or named by its spec.volumeName first, else the smallest that matches.
 * Borrowed from pvs; NULL if none. */
const json_t *pvb_find_volume(const json_t *pvs, const json_t *pvc, const json_t *node);

/* <dir>/pvc-<uid>_<ns>_<name>, as K3s's local-path provisioner names its
 * directories. A new string. */
char *pvb_local_path(const char *dir, const char *uid, const char *ns, const char *name);

#endif
