/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server.h - the kubelet's own HTTPS API (port 10250), as the API
 * server's pods/log and pods/exec proxy and tools reach it:
 *   /healthz                               "ok", no credentials needed
 *   /metrics                               a few Prometheus counters
 *   /stats/summary                         node + pods (cgroup files, /proc)
 *   /containerLogs/<ns>/<pod>/<container>  follow, tailLines, sinceSeconds,
 *                                          sinceTime, timestamps, limitBytes,
 *                                          previous
 *   /exec/<ns>/<pod>/<container>           WebSocket (v5/v4.channel.k8s.io),
 *                                          command=...&stdin&stdout&stderr&tty
 *   /attach/<ns>/<pod>/<container>         the same, on the running container
 * Client-certificate authentication against the cluster's client CA; only
 * system:masters and the API server's identity (CN system:kube-apiserver)
 * may use anything but /healthz (403 otherwise, 401 without a certificate).
 *
 * Containers are found by their OCI annotations (io.kubernetes.pod.namespace,
 * .pod.name, .pod.uid, .container.name, .container.restartCount), logs under
 * <logs_dir>/<ns>_<pod>_<uid>/<container>/<restartCount>.log in CRI format.
 * Thread: one thread per connection (libmicrohttpd) plus one per exec. */
#ifndef K3C_KUBELET_SERVER_H
#define K3C_KUBELET_SERVER_H

#include "base/err.h"

struct runtime;

struct kubelet_server_config {
    const char *bind_address;   /* "0.0.0.0" when NULL */
    int port;                   /* 10250; 0 picks a free one (kubelet_server_port) */
    const char *cert_file;      /* the node's kubelet serving certificate */
    const char *key_file;       /* and its key */
    const char *client_ca_file; /* client certificates must chain to it */
    const char *logs_dir;       /* <data-dir>/agent/logs */
    struct runtime *runtime;    /* borrowed, outlives the server; NULL: no exec */
    const char *node_name;      /* for /stats/summary */
    const char *netns_dir;      /* pods' network namespaces (port-forward); NULL: /run/netns */
    const char
        *data_dir; /* the node's: certificate expiry and free space on /metrics; NULL: none */
};

struct kubelet_server;

/* Reads the TLS files and listens. SYSTEM (port in use), INVALID (config). */
struct kubelet_server *kubelet_server_new(const struct kubelet_server_config *cfg,
                                          struct k3c_err *err);
/* The port it listens on. */
int kubelet_server_port(const struct kubelet_server *s);
/* Stops listening; ends follows and execs (their processes are killed).
 * NULL is a no-op. */
void kubelet_server_free(struct kubelet_server *s);

#endif
