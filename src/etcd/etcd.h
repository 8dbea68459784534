/* SPDX-License-Identifier: Apache-2.0
 * etcd.h - the etcd member that `k3c server` embeds: certificates, command
 * line, a supervisor thread that restarts it with backoff when it dies, a
 * health wait, and an orderly stop. The user never writes an etcd flag.
 * Only the supervisor thread forks and reaps etcd. */
#ifndef K3C_ETCD_ETCD_H
#define K3C_ETCD_ETCD_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

/* Files under <data-dir>/server/tls (paths built by etcd_tls_paths_init). */
struct etcd_tls_paths {
    char *ca_cert, *ca_key;         /* the cluster CA: server-ca.crt/.key */
    char *server_cert, *server_key; /* etcd/server-client.crt: etcd's serving cert */
    char *peer_cert, *peer_key;     /* etcd/peer-server-client.crt: member-to-member */
    char *client_cert, *client_key; /* etcd/client.crt: k3c (and etcdctl) as etcd client */
};

void etcd_tls_paths_init(struct etcd_tls_paths *p, const char *tls_dir);
void etcd_tls_paths_fini(struct etcd_tls_paths *p);

/* Creates the cluster CA on first use and (re)issues the etcd certificates
 * with SANs for node_ip, 127.0.0.1, localhost and node_name. Keys 0600. */
int etcd_certs_ensure(const struct etcd_tls_paths *p, const char *node_name, const char *node_ip,
                      struct k3c_err *err);

struct etcd_config {
    const char *binary;   /* "etcd" (searched in PATH) or a path */
    const char *data_dir; /* <data-dir>/server/db/etcd */
    const char *log_file; /* etcd's own output goes here (appended) */
    const struct etcd_tls_paths *tls;
    const char *node_name; /* the member name is derived from it */
    const char *node_ip;
    int client_port; /* 2379 */
    int peer_port;   /* 2380 */
    int heartbeat_interval_ms;
    int election_timeout_ms;
    long long quota_backend_bytes;
    const char *auto_compaction_mode;      /* "revision" or "periodic" */
    const char *auto_compaction_retention; /* "10000" revisions, or a duration */
    bool force_new_cluster;                /* --cluster-reset: etcd's --force-new-cluster */
};

struct etcd;

/* Validates cfg and finds the binary: a missing one is K3C_E_NOT_FOUND with
 * a message naming the Debian package to install. */
struct etcd *etcd_new(const struct etcd_config *cfg, struct k3c_err *err);
/* Stops etcd if it runs, then frees. */
void etcd_free(struct etcd *e);

/* Starts the supervisor thread, which starts etcd and restarts it with
 * backoff (1 s doubling to 30 s) whenever it exits. */
int etcd_start(struct etcd *e, struct k3c_err *err);
/* Waits until etcd answers /health with {"health":"true"}; TIMEOUT. */
int etcd_wait_healthy(struct etcd *e, int timeout_ms, struct k3c_err *err);
/* SIGTERM, up to 15 s for a clean exit, then SIGKILL; joins the supervisor.
 * Idempotent. */
void etcd_stop(struct etcd *e);

/* Thread: any. The running etcd's pid, or 0. */
pid_t etcd_pid(struct etcd *e);
/* Thread: any. How many times etcd was started (1 after the first start). */
unsigned etcd_start_count(struct etcd *e);
/* The client URL on loopback: "https://127.0.0.1:<client_port>". */
const char *etcd_client_url(const struct etcd *e);
/* The member name (node name made DNS-safe). */
const char *etcd_member_name(const struct etcd *e);

#endif
