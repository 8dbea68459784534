/* SPDX-License-Identifier: Apache-2.0
 * server.h - pieces of `k3c server` kept apart from its main loop:
 * the API server's TLS files and the admin kubeconfig (server_tls.c). */
#ifndef K3C_CMD_SERVER_H
#define K3C_CMD_SERVER_H

#include "base/err.h"
#include "config/config.h"

#include <stdint.h>

struct api_tls_paths {
    char *server_ca_cert, *server_ca_key; /* signs serving certificates (also etcd's) */
    char *client_ca_cert, *client_ca_key; /* signs client certificates */
    char *serving_cert, *serving_key;     /* serving-kube-apiserver.crt */
    char *admin_cert, *admin_key;         /* client-admin.crt: system:admin, system:masters */
};

void api_tls_paths_init(struct api_tls_paths *p, const char *tls_dir);
void api_tls_paths_fini(struct api_tls_paths *p);
/* Both CAs, the serving certificate (SANs: localhost, kubernetes.*, the host
 * and node names, 127.0.0.1, 10.43.0.1, the node IP, --tls-san) and the
 * admin client certificate. */
int api_certs_ensure(const struct api_tls_paths *p, const struct k3c_config *cfg,
                     struct k3c_err *err);
/* Writes an admin kubeconfig for https://127.0.0.1:port with mode. */
int kubeconfig_write(const char *path, const char *mode, const struct api_tls_paths *p, int port,
                     struct k3c_err *err);
/* The same for https://host:port (the VIP's address, for --vip). */
int kubeconfig_write_host(const char *path, const char *mode, const struct api_tls_paths *p,
                          const char *host, int port, struct k3c_err *err);

/* Makes sure the node token file exists: K10<sha256 of server-ca.crt>::server:<secret>,
 * mode 0600. The secret is --token when given, else the file's, else new.
 * *secret_out (caller frees) is what joining nodes must present. */
int node_token_ensure(const char *path, const char *ca_cert, const char *given, char **secret_out,
                      struct k3c_err *err);

/* --vip (server_vip.c): starts the VIP election over the store at
 * etcd_url (NULL: --datastore-endpoint) once the API server answers, adds
 * its lines to /metrics and points --write-kubeconfig at the VIP. NULL
 * with err set on bad input. server_vip_stop releases the VIP (first thing
 * on shutdown) and frees it, after closing the API connections that came in
 * on it (api_server_drain_address); NULL is a no-op. */
struct vip;
struct api_server;
struct etcd_tls_paths;
struct vip *server_vip_start(const struct k3c_config *cfg, const char *tls_dir,
                             const char *etcd_url, const struct etcd_tls_paths *etls,
                             struct api_server *api, struct k3c_err *err);
void server_vip_stop(struct vip *v, struct api_server *api, const struct k3c_config *cfg);
/* --servicelb-pool (server_vip.c): INVALID unless it parses, --vip is set
 * (the VIP holder announces the pool's addresses) and this server runs the
 * service proxy (no --disable-agent, --disable-kube-proxy). */
int server_lb_pool_check(const struct k3c_config *cfg, struct k3c_err *err);

/* /metrics lines of the node (server_metrics.c, issue #21): certificate
 * expiry, the data dir's free space, the embedded etcd's database size.
 * Stop before api_server_free. */
struct server_metrics;
struct server_certmon;
/* certmon (borrowed, may be NULL) runs as a step of the same thread; free it
 * after server_metrics_stop. */
struct server_metrics *server_metrics_start(const struct k3c_config *cfg, bool embedded_etcd,
                                            struct api_server *api, struct server_certmon *certmon);
void server_metrics_stop(struct server_metrics *m);

/* Secrets encryption keys kept in step through etcd (issue #15,
 * cmd_secrets_encrypt.c, store_keyring.h): after the API server made the
 * token; stop with store_keyring_stop before the store is freed. */
struct store;
struct store_keyring;
struct store_keyring *server_secrets_keyring_start(const struct k3c_config *cfg, struct store *s,
                                                   struct k3c_err *err);
/* The certificate monitor (server_certmon.c): a Warning Event
 * CertificateExpirationWarning on this node while a certificate of the data
 * dir expires within PKI_RENEW_WINDOW_DAYS. The metrics thread runs its
 * step: a check when one is due (now_ms on k3c_now_ms's clock); returns
 * when the next is due. Free is NULL-safe. */
struct server_certmon *server_certmon_new(const struct k3c_config *cfg, struct k3c_err *err);
int64_t server_certmon_step(struct server_certmon *m, int64_t now_ms);
void server_certmon_free(struct server_certmon *m);

#endif
