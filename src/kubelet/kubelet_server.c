/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server.c - the kubelet's HTTPS API on 10250: libmicrohttpd with
 * one thread per connection (a followed log blocks its thread), client
 * certificates checked against the client CA, and the small endpoints
 * (/healthz, /metrics, /stats/summary). Logs and exec are in their own
 * files. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet_server-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS_APISERVER_CN "system:kube-apiserver"

/* ---- replies ------------------------------------------------------------ */

static int
reply_text(struct MHD_Connection *conn, unsigned code, const char *type, char *text_take)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text_take), text_take, MHD_RESPMEM_MUST_FREE);
    int ret;

    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const char *
reason_of(unsigned code)
{
    switch (code) {
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 503:
        return "ServiceUnavailable";
    default:
        return "InternalError";
    }
}

int
ks_reply_status(struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    _cleanup_json_ json_t *st = NULL;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                   "metadata", "status", "Failure", "message", msg, "reason", reason_of(code),
                   "code", (int)code);
    return reply_text(conn, code, "application/json", json_dumps(st, JSON_COMPACT));
}

const char *
ks_query(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

bool
ks_query_bool(struct MHD_Connection *conn, const char *key)
{
    const char *v = ks_query(conn, key);

    if (!v)
        return MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), NULL,
                                             NULL) == MHD_YES;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0';
}

/* ---- containers --------------------------------------------------------- */

void
ks_container_id(const char *uid, const char *container, int restart_count,
                char id[RUNTIME_ID_MAX + 1])
{
    _cleanup_free_ char *key = k3c_xasprintf("%s/%s/%d", uid, container, restart_count);
    char hex[65];

    pki_sha256_hex(key, strlen(key), hex);
    snprintf(id, RUNTIME_ID_MAX + 1, "k3c-%.24s", hex);
}

static const char *
annotation(const json_t *a, const char *key)
{
    const char *v = json_string_value(json_object_get(a, key));

    return v ? v : "";
}

int
ks_find_running(struct kubelet_server *s, const struct ks_target *t, char id[RUNTIME_ID_MAX + 1],
                struct k3c_err *err)
{
    _cleanup_free_ struct runtime_status *list = NULL;
    size_t n = 0;
    long best = -1;

    if (!s->runtime)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "this node runs no containers");
    if (runtime_list(s->runtime, &list, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *a = NULL;
        struct k3c_err ignore = {0};
        long rc;

        if (list[i].state != RUNTIME_STATE_RUNNING)
            continue;
        a = runtime_annotations(s->runtime, list[i].id, &ignore);
        if (!a || strcmp(annotation(a, "io.kubernetes.pod.namespace"), t->ns) != 0 ||
            strcmp(annotation(a, "io.kubernetes.pod.name"), t->pod) != 0 ||
            strcmp(annotation(a, "io.kubernetes.container.name"), t->container) != 0)
            continue;
        rc = strtol(annotation(a, "io.kubernetes.container.restartCount"), NULL, 10);
        if (rc > best) {
            best = rc;
            snprintf(id, RUNTIME_ID_MAX + 1, "%s", list[i].id);
        }
    }
    if (best < 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container \"%s\" in pod \"%s\" is not running",
                           t->container, t->pod);
    return 0;
}

/* ---- small endpoints ---------------------------------------------------- */

static int
serve_metrics(struct kubelet_server *s, struct MHD_Connection *conn)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b,
                    "# TYPE kubelet_http_requests_total counter\n"
                    "kubelet_http_requests_total %lld\n"
                    "# TYPE kubelet_http_unauthorized_total counter\n"
                    "kubelet_http_unauthorized_total %lld\n"
                    "# TYPE kubelet_http_forbidden_total counter\n"
                    "kubelet_http_forbidden_total %lld\n"
                    "# TYPE kubelet_container_log_requests_total counter\n"
                    "kubelet_container_log_requests_total %lld\n"
                    "# TYPE kubelet_exec_requests_total counter\n"
                    "kubelet_exec_requests_total %lld\n"
                    "# TYPE kubelet_exec_sessions gauge\n"
                    "kubelet_exec_sessions %lld\n"
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %lld\n",
                    atomic_load(&s->requests_total), atomic_load(&s->unauthorized_total),
                    atomic_load(&s->forbidden_total), atomic_load(&s->log_requests_total),
                    atomic_load(&s->exec_requests_total), atomic_load(&s->exec_active),
                    k3c_rss_bytes());
    k3c_buf_appendf(&b,
                    "# TYPE kubelet_port_forward_sessions_total counter\n"
                    "kubelet_port_forward_sessions_total{protocol=\"spdy\"} %lld\n"
                    "kubelet_port_forward_sessions_total{protocol=\"websocket\"} %lld\n"
                    "# TYPE kubelet_port_forward_connections_total counter\n"
                    "kubelet_port_forward_connections_total %lld\n",
                    atomic_load(&s->portforward_spdy_total), atomic_load(&s->portforward_ws_total),
                    atomic_load(&s->portforward_conns_total));
    if (s->data_dir) /* a few small files and a statvfs: no thread needed */
        pki_node_metrics_write(s->data_dir, &b);
    return reply_text(conn, 200, "text/plain; version=0.0.4", k3c_buf_steal(&b, NULL));
}

/* A number from a cgroup or /proc file: the value after key (NULL: the
 * first word). -1 when absent. */
static long long
read_number(const char *path, const char *key)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err ignore = {0};
    const char *p;

    if (k3c_read_file(path, &text, NULL, &ignore) < 0)
        return -1;
    if (!key)
        return strtoll(text, NULL, 10);
    for (p = text; (p = strstr(p, key)); p++)
        if ((p == text || p[-1] == '\n') && p[strlen(key)] == ' ')
            return strtoll(p + strlen(key) + 1, NULL, 10);
    return -1;
}

/* Cumulative CPU nanoseconds of a cgroup (rel: "/k3c/<uid>[/<container>]"):
 * cgroup v2's cpu.stat, else v1's cpuacct.usage. -1 when neither is there. */
static long long
cgroup_cpu_ns(const char *rel)
{
    _cleanup_free_ char *v2 = k3c_xasprintf("/sys/fs/cgroup%s/cpu.stat", rel);
    _cleanup_free_ char *v1 = k3c_xasprintf("/sys/fs/cgroup/cpuacct%s/cpuacct.usage", rel);
    long long usec = read_number(v2, "usage_usec");

    return usec >= 0 ? usec * 1000 : read_number(v1, NULL);
}

/* Memory usage and the inactive file cache of a cgroup (v2, else v1's
 * memory controller, whose memory.stat counts the subtree as total_*). */
static long long
cgroup_memory(const char *rel, long long *inactive)
{
    _cleanup_free_ char *cur = k3c_xasprintf("/sys/fs/cgroup%s/memory.current", rel);
    _cleanup_free_ char *stat = k3c_xasprintf("/sys/fs/cgroup%s/memory.stat", rel);
    _cleanup_free_ char *cur1 = k3c_xasprintf("/sys/fs/cgroup/memory%s/memory.usage_in_bytes", rel);
    _cleanup_free_ char *stat1 = k3c_xasprintf("/sys/fs/cgroup/memory%s/memory.stat", rel);
    long long mem = read_number(cur, NULL);

    if (mem >= 0) {
        *inactive = read_number(stat, "inactive_file");
        return mem;
    }
    *inactive = read_number(stat1, "total_inactive_file");
    return read_number(cur1, NULL);
}

long long
kubelet_cgroup_working_set(const char *rel)
{
    long long inactive = -1, mem = cgroup_memory(rel, &inactive);

    return inactive > 0 && inactive < mem ? mem - inactive : mem;
}

/* A limit file's number; -1 for "max", a missing file or no number. */
static long long
read_limit(const char *path)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err ignore = {0};
    char *end;
    long long v;

    if (k3c_read_file(path, &text, NULL, &ignore) < 0 || !isdigit((unsigned char)text[0]))
        return -1;
    v = strtoll(text, &end, 10);
    return end != text && v > 0 ? v : -1;
}

long long
kubelet_cgroup_memory_limit(void)
{
    long long v2 = read_limit("/sys/fs/cgroup/memory.max");

    if (v2 > 0 || k3c_file_exists("/sys/fs/cgroup/memory.max"))
        return v2;
    return read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
}

/* cpu and memory of a pod's or container's cgroup (rel under the cgroup
 * root), upstream's CPUStats/MemoryStats shape, cgroup v2 or v1; the
 * objects are left out when the files are not there. */
static void
cgroup_stats(const char *rel, const char *now, json_t *out)
{
    long long inactive = -1, ns = cgroup_cpu_ns(rel), mem = cgroup_memory(rel, &inactive);

    if (ns >= 0)
        json_object_set_new(
            out, "cpu",
            json_pack("{s:s, s:I}", "time", now, "usageCoreNanoSeconds", (json_int_t)ns));
    if (mem >= 0)
        json_object_set_new(
            out, "memory",
            json_pack("{s:s, s:I, s:I}", "time", now, "usageBytes", (json_int_t)mem,
                      "workingSetBytes",
                      (json_int_t)(inactive > 0 && inactive < mem ? mem - inactive : mem)));
}

static json_t *
node_stats(struct kubelet_server *s, const char *now)
{
    char start[32];
    long long total = read_number("/proc/meminfo", "MemTotal:");
    long long avail = read_number("/proc/meminfo", "MemAvailable:");
    _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
    unsigned long long v[8] = {0};
    json_t *node;

    k3c_time_rfc3339(s->started_ms / 1000, start, sizeof(start));
    node = json_pack("{s:s, s:s}", "nodeName", s->node_name, "startTime", start);
    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], &v[6], &v[7]) == 8) {
        unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        long hz = sysconf(_SC_CLK_TCK);

        json_object_set_new(node, "cpu",
                            json_pack("{s:s, s:I}", "time", now, "usageCoreNanoSeconds",
                                      (json_int_t)(busy * (1000000000ULL / (hz > 0 ? hz : 100)))));
    }
    if (total > 0 && avail >= 0)
        json_object_set_new(node, "memory",
                            json_pack("{s:s, s:I, s:I, s:I}", "time", now, "availableBytes",
                                      (json_int_t)avail * 1024, "usageBytes",
                                      (json_int_t)(total - avail) * 1024, "workingSetBytes",
                                      (json_int_t)(total - avail) * 1024));
    return node;
}

/* Adds one container to its pod's entry in pods (by uid). */
static void
pod_stats_add(json_t *pods, const struct runtime_status *st, const json_t *a, const char *now)
{
    const char *uid = annotation(a, "io.kubernetes.pod.uid");
    json_t *pod = json_object_get(pods, uid);
    _cleanup_free_ char *cg = k3c_xasprintf("%s/%s/%s", RUNTIME_CGROUP_PARENT, uid,
                                            annotation(a, "io.kubernetes.container.name"));
    char start[32];
    json_t *c;

    k3c_time_rfc3339(st->started_ms / 1000, start, sizeof(start));
    if (!pod) {
        _cleanup_free_ char *pod_cg = k3c_xasprintf("%s/%s", RUNTIME_CGROUP_PARENT, uid);

        pod = json_pack("{s:{s:s, s:s, s:s}, s:s, s:[]}", "podRef", "name",
                        annotation(a, "io.kubernetes.pod.name"), "namespace",
                        annotation(a, "io.kubernetes.pod.namespace"), "uid", uid, "startTime",
                        start, "containers");
        cgroup_stats(pod_cg, now, pod);
        json_object_set_new(pods, uid, pod);
    }
    c = json_pack("{s:s, s:s}", "name", annotation(a, "io.kubernetes.container.name"), "startTime",
                  start);
    cgroup_stats(cg, now, c);
    json_array_append_new(json_object_get(pod, "containers"), c);
}

static int
serve_stats(struct kubelet_server *s, struct MHD_Connection *conn)
{
    char now[32];
    _cleanup_json_ json_t *by_uid = json_object();
    _cleanup_free_ struct runtime_status *list = NULL;
    struct k3c_err err = {0};
    size_t n = 0;
    _cleanup_json_ json_t *summary = NULL;
    json_t *pods = json_array(), *pod;
    const char *uid;

    k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
    if (s->runtime && runtime_list(s->runtime, &list, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            _cleanup_json_ json_t *a = NULL;

            if (list[i].state != RUNTIME_STATE_RUNNING)
                continue;
            a = runtime_annotations(s->runtime, list[i].id, &err);
            if (a && *annotation(a, "io.kubernetes.pod.uid"))
                pod_stats_add(by_uid, &list[i], a, now);
        }
    }
    json_object_foreach(by_uid, uid, pod)
    {
        json_array_append(pods, pod);
    }
    summary = json_pack("{s:o, s:o}", "node", node_stats(s, now), "pods", pods);
    return reply_text(conn, 200, "application/json", json_dumps(summary, JSON_COMPACT));
}

/* ---- dispatch ----------------------------------------------------------- */

/* 0 when the peer may use the API, else the reply (401/403) queued. */
static int
authorize(struct kubelet_server *s, struct MHD_Connection *conn, int *ret)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    struct pki_subject sub;

    if (!ci || !pki_peer_subject(ci->tls_session, &sub)) {
        atomic_fetch_add(&s->unauthorized_total, 1);
        *ret = ks_reply_status(conn, 401, "Unauthorized");
        return -1;
    }
    if (strcmp(sub.common_name, KS_APISERVER_CN) == 0)
        return 0;
    for (int i = 0; i < sub.n_organizations; i++)
        if (strcmp(sub.organizations[i], "system:masters") == 0)
            return 0;
    atomic_fetch_add(&s->forbidden_total, 1);
    *ret = ks_reply_status(conn, 403,
                           "Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy)",
                           sub.common_name);
    return -1;
}

/* "/<prefix>/<ns>/<pod>/<container>" into t; false if the path is not that. */
static bool
parse_target(const char *url, const char *prefix, struct ks_target *t)
{
    size_t plen = strlen(prefix);
    char *seg[3], *save = NULL;
    _cleanup_free_ char *rest = NULL;
    int n = 0;

    if (strncmp(url, prefix, plen) != 0 || url[plen] != '/')
        return false;
    rest = k3c_xstrdup(url + plen + 1);
    for (char *p = strtok_r(rest, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (n == 3)
            return false;
        seg[n++] = p;
    }
    if (n != 3)
        return false;
    t->ns = k3c_xstrdup(seg[0]);
    t->pod = k3c_xstrdup(seg[1]);
    t->container = k3c_xstrdup(seg[2]);
    return true;
}

static void
target_fini(struct ks_target *t)
{
    free(t->ns);
    free(t->pod);
    free(t->container);
}

static int
dispatch(struct kubelet_server *s, struct MHD_Connection *conn, const char *url, const char *method)
{
    struct ks_target t = {0};
    _cleanup_free_ char *pf_ns = NULL, *pf_pod = NULL;
    int ret;

    if (strcmp(url, "/healthz") == 0)
        return reply_text(conn, 200, "text/plain", k3c_xstrdup("ok"));
    if (authorize(s, conn, &ret) < 0)
        return ret;
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return ks_reply_status(conn, 405, "method %s not allowed", method);
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(s, conn);
    if (strcmp(url, "/stats/summary") == 0 || strcmp(url, "/stats/summary/") == 0)
        return serve_stats(s, conn);
    if (ks_parse_portforward(url, &pf_ns, &pf_pod))
        return ks_serve_portforward(s, conn, pf_ns, pf_pod);
    if (parse_target(url, "/containerLogs", &t)) {
        atomic_fetch_add(&s->log_requests_total, 1);
        ret = ks_serve_logs(s, conn, &t);
    } else if (parse_target(url, "/exec", &t)) {
        atomic_fetch_add(&s->exec_requests_total, 1);
        ret = ks_serve_exec(s, conn, &t, false);
    } else if (parse_target(url, "/attach", &t)) {
        atomic_fetch_add(&s->exec_requests_total, 1);
        ret = ks_serve_exec(s, conn, &t, true);
    } else {
        ret = ks_reply_status(conn, 404, "the server could not find the requested resource");
    }
    target_fini(&t);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct kubelet_server *s = cls;

    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = s;
        atomic_fetch_add(&s->requests_total, 1);
        return MHD_YES;
    }
    if (*upload_size > 0) { /* no endpoint takes a body */
        *upload_size = 0;
        return MHD_YES;
    }
    log_debug("%s %s", method, url);
    return dispatch(s, conn, url, method) == MHD_YES ? MHD_YES : MHD_NO;
}

static int
listen_start(struct kubelet_server *s, int port, struct k3c_err *err)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    const union MHD_DaemonInfo *info;

    if (inet_pton(AF_INET, s->bind_address, &sa.sin_addr) != 1)
        return k3c_err_set(err, K3C_E_INVALID, "kubelet: bind address %s is not an IPv4 address",
                           s->bind_address);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, s->key_pem, MHD_OPTION_HTTPS_MEM_CERT,
        s->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, s->ca_pem, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(256 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
        MHD_OPTION_EXTERNAL_LOGGER, k3c_log_mhd, (void *)LOG_COMPONENT, MHD_OPTION_END);
    if (!s->daemon)
        return k3c_err_set(err, K3C_E_SYSTEM,
                           "kubelet: cannot listen on %s:%d (in use, or bad TLS files?)",
                           s->bind_address, port);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return 0;
}

struct kubelet_server *
kubelet_server_new(const struct kubelet_server_config *cfg, struct k3c_err *err)
{
    struct kubelet_server *s = k3c_xcalloc(1, sizeof(*s));

    s->bind_address = k3c_xstrdup(cfg->bind_address ? cfg->bind_address : "0.0.0.0");
    s->logs_dir = k3c_xstrdup(cfg->logs_dir ? cfg->logs_dir : "/var/log/pods");
    s->node_name = k3c_xstrdup(cfg->node_name ? cfg->node_name : "");
    s->data_dir = cfg->data_dir ? k3c_xstrdup(cfg->data_dir) : NULL;
    s->netns_dir = cfg->netns_dir ? k3c_xstrdup(cfg->netns_dir) : NULL;
    s->runtime = cfg->runtime;
    s->started_ms = k3c_wall_ms();
    pthread_mutex_init(&s->lock, NULL);
    k3c_cond_init(&s->idle);
    if (!cfg->cert_file || !cfg->key_file || !cfg->client_ca_file) {
        k3c_err_set(err, K3C_E_INVALID, "kubelet: serving certificate, key and client CA needed");
        goto fail;
    }
    if (k3c_read_file(cfg->cert_file, &s->cert_pem, NULL, err) < 0 ||
        k3c_read_file(cfg->key_file, &s->key_pem, NULL, err) < 0 ||
        k3c_read_file(cfg->client_ca_file, &s->ca_pem, NULL, err) < 0 ||
        listen_start(s, cfg->port, err) < 0)
        goto fail;
    log_info("kubelet API listening on https://%s:%d", s->bind_address, s->port);
    return s;
fail:
    kubelet_server_free(s);
    return NULL;
}

int
kubelet_server_port(const struct kubelet_server *s)
{
    return s->port;
}

void
kubelet_server_free(struct kubelet_server *s)
{
    int64_t deadline = k3c_now_ms() + 15000;

    if (!s)
        return;
    atomic_store(&s->stopping, true);
    /* Exec threads see `stopping` within their poll interval and end. */
    pthread_mutex_lock(&s->lock);
    while (s->exec_threads > 0 && k3c_cond_wait_until(&s->idle, &s->lock, deadline))
        ;
    pthread_mutex_unlock(&s->lock);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    free(s->bind_address);
    free(s->logs_dir);
    free(s->node_name);
    free(s->data_dir);
    free(s->netns_dir);
    free(s->cert_pem);
    free(s->key_pem);
    free(s->ca_pem);
    free(s);
}
