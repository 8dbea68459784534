/* SPDX-License-Identifier: Apache-2.0
 * etcd.h - the etcd member that `k3c server` embeds: certificates, command
 * line, a supervisor thread that restarts it with backoff when it dies, a
 * health wait, and an orderly stop. The user never writes an etcd flag.
 * Only the supervisor thread forks and reaps etcd. */
#ifndef K3C_ETCD_ETCD_H
#define K3C_ETCD_ETCD_H

#include <stdbool.h>
#include <stdint.h>
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
    /* Joining an existing cluster (HA join): "name=peerURL,..." of every
     * member including this one, and state "existing". NULL: a new
     * one-member cluster. Both are ignored by etcd once its data exists. */
    const char *initial_cluster;
    bool force_new_cluster; /* --cluster-reset: etcd's --force-new-cluster */
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
/* The server's own way to its member: "unix:<dir of data_dir>/etcd-client.sock:0",
 * plain HTTP over a socket only its user can open (an http_client endpoint);
 * the client URL when that path is too long for a unix socket or (known
 * once etcd_start ran) its file system takes no sockets. */
const char *etcd_local_url(const struct etcd *e);
/* The member name (node name made DNS-safe). */
const char *etcd_member_name(const struct etcd *e);
/* This member's peer URL: "https://<node_ip>:<peer_port>". */
const char *etcd_peer_url(const struct etcd *e);
/* The member name etcd_new would use for node_name; caller frees. */
char *etcd_member_name_for(const char *node_name);
/* True when data_dir holds an etcd member (its WAL and snapshots). */
bool etcd_data_exists(const char *data_dir);

/* ---- cluster membership (etcd_cluster.c), over the v3 JSON gateway ---- */

struct http_client;

/* A client for the etcd endpoints ("https://ip:2379", NULL-terminated),
 * authenticated with the etcd client certificate of tls. */
struct http_client *etcd_client_new(const char *const *endpoints, const struct etcd_tls_paths *tls,
                                    struct k3c_err *err);

struct etcd_member {
    uint64_t id;
    char *name;       /* "" while an added member has not started yet */
    char *peer_url;   /* the first peer URL */
    char *client_url; /* the first client URL; "" until it started */
    bool learner;
};

struct etcd_members {
    struct etcd_member *v;
    size_t n;
};

void etcd_members_fini(struct etcd_members *m);
/* The member with this name (when name is not NULL) or this id; NULL. */
const struct etcd_member *etcd_members_find(const struct etcd_members *m, const char *name,
                                            uint64_t id);

int etcd_member_list(struct http_client *c, struct etcd_members *out, struct k3c_err *err);
/* Adds a member (a learner when learner is true); *members_out (may be
 * NULL) gets the member list including it. */
int etcd_member_add(struct http_client *c, const char *peer_url, bool learner, uint64_t *id_out,
                    struct etcd_members *members_out, struct k3c_err *err);
/* UNAVAILABLE while the learner has not caught up with the leader. */
int etcd_member_promote(struct http_client *c, uint64_t id, struct k3c_err *err);
int etcd_member_remove(struct http_client *c, uint64_t id, struct k3c_err *err);

struct etcd_status {
    uint64_t member_id; /* of the member that answered */
    uint64_t leader_id; /* 0: no leader */
    bool learner;
    int64_t revision;
};

/* The status of the member that answers (the client's current endpoint). */
int etcd_member_status(struct http_client *c, struct etcd_status *out, struct k3c_err *err);

#endif
