/* SPDX-License-Identifier: Apache-2.0
 * api.h - the Kubernetes API server of k3c: HTTPS (libmicrohttpd + GnuTLS),
 * client-certificate and bearer-token authentication, discovery, and one
 * generic CRUD/list/watch path driven by the resource table. */
#ifndef K3C_API_API_H
#define K3C_API_API_H

#include <stddef.h>

#include "base/err.h"
#include "store/store.h"

struct api_config {
    const char *bind_address; /* "0.0.0.0" when NULL */
    int port;                 /* 6443 */
    const char *serving_cert_file, *serving_key_file;
    const char *client_ca_file; /* client certificates must chain to it */
    const char
        *token_file; /* static bearer tokens "token,user,uid,\"group1,group2\"", may be NULL */
    size_t max_body_bytes; /* 0: 3 MiB; larger bodies get 413 */
    /* Node join (api_join.c): the CAs that sign node certificates, and the
     * secret of the node token; joining is refused when it is NULL. */
    const char *server_ca_cert_file, *server_ca_key_file, *client_ca_key_file;
    const char *join_secret;
    /* pods/log and pods/exec (api_proxy.c): the client certificate shown to
     * kubelets (CN system:kube-apiserver, O system:masters). NULL: one is
     * minted in memory from client_ca_file + client_ca_key_file. Kubelet
     * serving certificates are checked against server_ca_cert_file. */
    const char *kubelet_client_cert_file, *kubelet_client_key_file;
    /* DefaultTolerationSeconds admission: tolerationSeconds of the
     * not-ready / unreachable NoExecute tolerations added to new pods
     * (0: 300). */
    int default_not_ready_toleration_s;
    int default_unreachable_toleration_s;
    /* HA join (api_join.c): what every server of the cluster shares (CAs
     * and their keys, settings that must match, this server's etcd
     * client URL), as JSON text, served at /v1-k3c/server-bootstrap only
     * to callers presenting the token's secret as user "server" (never to
     * node credentials or anonymous ones). NULL: not served (404). */
    const char *server_bootstrap_json;
    /* The kube-system/kube-dns Service's clusterIP (issue #14); NULL:
     * 10.43.0.10, "": no kube-dns Service. */
    const char *cluster_dns;
    /* --event-ttl: how long Events live ("1h"; NULL: 1h), as kube-apiserver. */
    const char *event_ttl;
};

struct api_server;

/* Builds the server over store (borrowed; must outlive the server) and
 * starts the watch caches. Does not listen yet. */
struct api_server *api_server_new(const struct api_config *cfg, struct store *store,
                                  struct k3c_err *err);
/* Ensures the built-in namespaces exist, then listens. */
int api_server_start(struct api_server *srv, struct k3c_err *err);
/* Stops listening, ends watches, frees. NULL is a no-op. */
void api_server_free(struct api_server *srv);
/* Before a VIP (ip, IPv4) is released: closes the connections that came in
 * on that address while it can still carry their FIN. A client that only
 * reads (a watch, a followed log) would otherwise wait on a connection whose
 * packets the next holder never answers. Their parked streams end with the
 * connection closed, and a request that comes on such a connection from now
 * on is answered 503 with "Connection: close", so the client retries
 * elsewhere. The address stays drained until api_server_drain_end (a holder
 * that steps aside and may hold the address again later). Returns within
 * max_ms (a holder that steps aside must drop the address in time). Thread:
 * any. */
void api_server_drain_address(struct api_server *srv, const char *ip, int64_t max_ms);
/* Requests on the drained address are served again (it is no longer ours,
 * or ours again). Thread: any. */
void api_server_drain_end(struct api_server *srv);

/* Lines another part appends to /metrics (the VIP's). fn runs on an HTTP
 * thread under a lock that api_server_set_metrics_fn also takes, so once it
 * returns with fn NULL, the old fn is no longer running. fn must not block.
 * Thread: any. */
struct k3c_buf;
typedef void (*api_metrics_fn)(void *data, struct k3c_buf *b);
void api_server_set_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data);
/* More of them, independent of that one (at most 4; issue #21's node
 * metrics): added, and removed by (fn, data) under the same lock. */
void api_server_add_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data);
void api_server_remove_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data);

/* The service-account signing key <tls_dir>/service.key, made when missing
 * (api_satoken.c; issue #15). */
int api_sa_key_ensure(const char *tls_dir, struct k3c_err *err);

#endif
