/* SPDX-License-Identifier: Apache-2.0
 * server_etcdops.h - the etcd operations of `k3c server` and `k3c
 * etcd-snapshot` (server_etcdops.c): where the snapshot files and the etcd
 * client credentials are, the maintenance thread, and --cluster-reset. */
#ifndef K3C_CMD_SERVER_ETCDOPS_H
#define K3C_CMD_SERVER_ETCDOPS_H

#include <signal.h>

#include "config/config.h"
#include "etcd/etcd_ops.h"

/* Snapshot settings of cfg: the local member's loopback URL and client
 * certificate under <data-dir>/server/tls, --etcd-snapshot-dir (default
 * <data-dir>/server/db/snapshots), the node name. Release with _fini. */
void server_snapshot_config_init(struct etcd_snapshot_config *sc, const struct k3c_config *cfg);
void server_snapshot_config_fini(struct etcd_snapshot_config *sc);

/* After the API server is up: defragments a bloated database, records the
 * token hash, and starts the maintenance thread (NOSPACE alarm, scheduled
 * snapshots unless --disable-etcd-snapshots). NULL with err. */
struct etcd_maint *server_etcd_maint_start(const struct k3c_config *cfg, struct etcd *e,
                                           struct k3c_err *err);

/* `k3c server --cluster-reset [--cluster-reset-restore-path FILE]`: e was
 * built with force_new_cluster. Restores FILE first (old data moved aside,
 * token checked), starts etcd once as a one-member cluster, stops it and
 * says to restart without the flag. Returns 0 or -1 with err. */
int server_cluster_reset(const struct k3c_config *cfg, struct etcd *e, const sigset_t *stop,
                         struct k3c_err *err);

#endif
