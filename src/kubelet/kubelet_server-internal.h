/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server-internal.h - state shared by kubelet_server.c (daemon,
 * auth, health, metrics, stats), kubelet_server_logs.c and
 * kubelet_server_exec.c. */
#ifndef K3C_KUBELET_SERVER_INTERNAL_H
#define K3C_KUBELET_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kubelet/kubelet_server.h"
#include "runtime/runtime.h"

struct MHD_Connection;

struct kubelet_server {
    char *bind_address, *logs_dir, *node_name;
    char *netns_dir; /* where pods' network namespaces are pinned (port-forward) */
    char *data_dir;  /* the node's, for /metrics (issue #21); NULL: none */
    char *cert_pem, *key_pem, *ca_pem;
    struct runtime *runtime;
    void *daemon; /* struct MHD_Daemon */
    int port;
    atomic_bool stopping;
    int64_t started_ms;
    /* exec threads (detached): free waits for them to end */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int exec_threads;
    /* /metrics */
    atomic_llong requests_total, unauthorized_total, forbidden_total, log_requests_total,
        exec_requests_total, exec_active;
    atomic_llong portforward_spdy_total, portforward_ws_total, portforward_conns_total;
};

/* One request: path segments after /containerLogs/ or /exec/. */
struct ks_target {
    char *ns, *pod, *container;
};

/* Queues a metav1.Status reply (Failure with reason for code, message).
 * Returns an MHD_Result. */
int ks_reply_status(struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A query parameter, NULL if absent. */
const char *ks_query(struct MHD_Connection *conn, const char *key);
/* "true"/"1" (or present without a value) -> true. */
bool ks_query_bool(struct MHD_Connection *conn, const char *key);

/* The newest running container (highest restart count) of ns/pod/container
 * among the runtime's containers, by annotations. NOT_FOUND if none runs. */
int ks_find_running(struct kubelet_server *s, const struct ks_target *t,
                    char id[RUNTIME_ID_MAX + 1], struct k3c_err *err);
/* The runtime id of an instance by the agreed convention: "k3c-" + 24 hex
 * of sha256("<uid>/<container>/<restartCount>"). */
void ks_container_id(const char *uid, const char *container, int restart_count,
                     char id[RUNTIME_ID_MAX + 1]);

/* GET /containerLogs/<ns>/<pod>/<container> (kubelet_server_logs.c). */
int ks_serve_logs(struct kubelet_server *s, struct MHD_Connection *conn, const struct ks_target *t);
/* GET /exec/<ns>/<pod>/<container> (or /attach/... with attach) with a
 * WebSocket upgrade (kubelet_server_exec.c). */
int ks_serve_exec(struct kubelet_server *s, struct MHD_Connection *conn, const struct ks_target *t,
                  bool attach);

/* "/portForward/<ns>/<pod>[/<uid>]" into new strings; false if not that. */
bool ks_parse_portforward(const char *url, char **ns, char **pod);
/* /portForward/... with an upgrade to SPDY/3.1 or a WebSocket tunnelling it
 * (kubelet_server_portforward.c). */
int ks_serve_portforward(struct kubelet_server *s, struct MHD_Connection *conn, const char *ns,
                         const char *pod);

/* CRI log line parsing (kubelet_server_logs.c), exposed for tests:
 * "<RFC3339Nano> <stream> <P|F> <content>". Fills *ts_ns (UTC), stream,
 * partial and the content (points into line, without the newline). */
struct cri_line {
    int64_t ts_ns;
    char ts[40]; /* the timestamp as upstream prints it (RFC3339Nano, UTC) */
    bool is_stderr, partial;
    const char *content;
    size_t content_len;
};
int cri_line_parse(const char *line, size_t len, struct cri_line *out);

/* The working set (usage minus inactive file cache) of a cgroup under the
 * cgroup root (rel "/k3c/<uid>[/<container>]"), v2 or v1; -1 when absent.
 * Also the eviction manager's memory usage (kubelet_eviction.c). */
long long kubelet_cgroup_working_set(const char *rel);

/* The memory limit (bytes) of the cgroup root this process sees, -1 when
 * it has none: v2's memory.max (absent at the real root, "max" when
 * unlimited), else v1's memory.limit_in_bytes (a huge number when
 * unlimited). A node confined in a cgroup of its own with a cgroup
 * namespace (a container, or e2e_eviction's memory phase) sees that
 * cgroup's limit: the eviction manager measures memory.available against
 * it (kubelet_eviction.c). */
long long kubelet_cgroup_memory_limit(void);

#endif
