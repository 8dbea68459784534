/* SPDX-License-Identifier: Apache-2.0
 * agent-storage.h - the node's part of the local-path provisioner
 * (agent_storage.c, docs/storage.md): removes the directories of deleted
 * local-path volumes of this node. */
#ifndef K3C_AGENT_STORAGE_H
#define K3C_AGENT_STORAGE_H

#include "base/err.h"
#include "client/client.h"

struct agent_storage;

/* Follows the PersistentVolumes through api (borrowed; must outlive it). */
struct agent_storage *agent_storage_start(struct http_client *api, const char *node_name,
                                          struct k3c_err *err);
/* Stops and frees. NULL is a no-op. */
void agent_storage_stop(struct agent_storage *s);

#endif
