/* SPDX-License-Identifier: Apache-2.0
 * cluster.h - HA membership of `k3c server` with embedded etcd: the
 * bootstrap material every server shares, the join of a new server (CA
 * pinned by the token, settings checked, etcd member added as a learner and
 * promoted once caught up), and the monitor every server runs (learner
 * promotion and timeout, the node's etcd role, member removal when its
 * Node is deleted, and the `default/kubernetes` endpoints that list every
 * live API server). See docs/ha.md. */
#ifndef K3C_CLUSTER_CLUSTER_H
#define K3C_CLUSTER_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "etcd/etcd.h"

struct store;

/* ---- bootstrap (cluster_join.c) ---- */

/* The settings that every server of a cluster must share, as a JSON
 * object of "flag": "value" (the flag names users know). */
json_t *cluster_settings_new(const char *cluster_cidr, const char *service_cidr,
                             const char *cluster_dns, const char *cluster_domain);

/* What /v1-k3c/server-bootstrap serves: the CA files of tls_dir with their
 * keys, settings, and this server's etcd client URL. Caller frees. */
char *cluster_bootstrap_json(const char *tls_dir, const json_t *settings,
                             const char *etcd_client_url, struct k3c_err *err);

/* Fetches the bootstrap material from server_url: the CA is pinned by the
 * token's hash (a bare secret is accepted with a warning, as K3s does).
 * UNAVAILABLE (unreachable, 5xx), INVALID (CA hash mismatch, malformed
 * token), BAD_REQUEST (token refused). *out: the parsed answer. */
int cluster_bootstrap_fetch(const char *server_url, const char *token, json_t **out,
                            struct k3c_err *err);

/* Checks the fetched settings against local ones (INVALID naming the
 * first that differs) and writes the shared files into tls_dir (keys
 * 0600). A tls_dir that already holds a different CA is INVALID: the data
 * dir belongs to another cluster. */
int cluster_bootstrap_apply(const json_t *bootstrap, const char *tls_dir,
                            const json_t *local_settings, struct k3c_err *err);

/* The etcd client URL the bootstrap answer names. */
const char *cluster_bootstrap_etcd_url(const json_t *bootstrap);

/* ---- the etcd member of a joining server (cluster_join.c) ---- */

struct cluster_member_spec {
    const struct etcd_tls_paths *tls;
    const char *const *etcd_endpoints; /* members to ask, NULL-terminated */
    const char *name;                  /* this member's name */
    const char *peer_url;              /* this member's peer URL */
};

/* Whether name is a member with this peer URL: 1 yes, 0 no (not a member,
 * or its peer URL belongs to another member), -1 with err (unreachable). */
int cluster_member_state(const struct cluster_member_spec *spec, struct k3c_err *err);

/* Adds this server as a learner (retried while another learner is being
 * promoted, up to timeout_ms) and builds etcd's --initial-cluster for it
 * (every member, this one included). A stale entry with this peer URL (a
 * wiped data dir) is removed first. */
int cluster_member_add(const struct cluster_member_spec *spec, int64_t timeout_ms,
                       char **initial_cluster, struct k3c_err *err);

/* ---- the monitor (cluster_monitor.c) ---- */

struct cluster_monitor_config {
    struct store *store; /* borrowed: the API server's store */
    /* The API on loopback as the admin (node annotations, endpoints). */
    const char *api_url, *ca_file, *cert_file, *key_file;
    const char *node_name;    /* this server's Node */
    const char *advertise_ip; /* listed in default/kubernetes */
    int api_port;
    /* Embedded etcd only (NULL tls: an external datastore, no membership). */
    const struct etcd_tls_paths *tls;
    const char *local_etcd_url;
    const char *const *peer_etcd_urls; /* the other members at start (used at once) */
    const char *member_name;
    const char *ha_marker; /* file written once the cluster has had >1 member */
    int learner_timeout_s; /* 0: 600 */
    int lease_ttl_s;       /* the API server's endpoint lease; 0: 15 */
};

struct cluster_monitor;

struct cluster_monitor *cluster_monitor_start(const struct cluster_monitor_config *cfg,
                                              struct k3c_err *err);
/* Stops the thread, revokes this server's endpoint lease. NULL ok. */
void cluster_monitor_stop(struct cluster_monitor *m);

#endif
