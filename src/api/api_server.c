/* SPDX-License-Identifier: Apache-2.0
 * api_server.c - the API server's lifetime: TLS material, one watch cache
 * per resource, the built-in namespaces, health and metrics endpoints. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* libmicrohttpd closes a resumed stream's connection on its next pass
 * over it: the drain waits this long for that. */
#define API_DRAIN_CLOSE_MS 100

int api_http_start(struct api_server *srv, struct k3c_err *err);
void api_http_stop(struct api_server *srv);

static const char *const builtin_namespaces[] = {"default", "kube-system", "kube-public",
                                                 "kube-node-lease"};

static int
load_pem(const char *path, char **out, struct k3c_err *err)
{
    if (!path)
        return k3c_err_set(err, K3C_E_INVALID, "api: a TLS file is not configured");
    return k3c_read_file(path, out, NULL, err);
}

static int
start_caches(struct api_server *srv, struct k3c_err *err)
{
    size_t n = 0;

    while (api_resources[n].kind)
        n++;
    srv->n_resources = n;
    srv->caches = k3c_xcalloc(n, sizeof(*srv->caches));
    for (size_t i = 0; i < n; i++) {
        const struct api_resource *res = &api_resources[i];
        _cleanup_free_ char *prefix = k3c_xasprintf("/registry/%s/", res->plural);

        if (res->not_stored)
            continue;
        srv->caches[i] =
            watch_cache_new_with_rows(srv->store, prefix, res->field_selectors, res->row, err);
        if (!srv->caches[i])
            return k3c_err_wrap(err, "watch cache for %s", res->plural);
    }
    return 0;
}

static const char *
dup_or_null(const char *s)
{
    return s ? k3c_xstrdup(s) : NULL;
}

struct api_server *
api_server_new(const struct api_config *cfg, struct store *store, struct k3c_err *err)
{
    struct api_server *srv = k3c_xcalloc(1, sizeof(*srv));
    int64_t event_ttl_ms = 3600 * 1000;

    if (cfg->event_ttl && k3c_duration_parse_ms(cfg->event_ttl, &event_ttl_ms) < 0) {
        k3c_err_set(err, K3C_E_INVALID,
                    "--event-ttl \"%s\": not a duration (use a form like 1h, 30m or 90s)",
                    cfg->event_ttl);
        free(srv);
        return NULL;
    }
    srv->event_ttl_s = (event_ttl_ms + 999) / 1000;
    pthread_mutex_init(&srv->lease_lock, NULL);
    pthread_mutex_init(&srv->kubelet_cred_lock, NULL);
    pthread_mutex_init(&srv->metrics_fn_lock, NULL);
    srv->cfg = *cfg;
    /* Files read at request time (node join) and the secret: our copies. */
    srv->cfg.server_ca_cert_file = dup_or_null(cfg->server_ca_cert_file);
    srv->cfg.server_ca_key_file = dup_or_null(cfg->server_ca_key_file);
    srv->cfg.client_ca_file = dup_or_null(cfg->client_ca_file);
    srv->cfg.client_ca_key_file = dup_or_null(cfg->client_ca_key_file);
    srv->cfg.join_secret = dup_or_null(cfg->join_secret);
    srv->cfg.server_bootstrap_json = dup_or_null(cfg->server_bootstrap_json);
    srv->cfg.kubelet_client_cert_file = dup_or_null(cfg->kubelet_client_cert_file);
    srv->cfg.kubelet_client_key_file = dup_or_null(cfg->kubelet_client_key_file);
    srv->cfg.cluster_dns = dup_or_null(cfg->cluster_dns);
    srv->cfg.serving_cert_file = NULL; /* read once below */
    srv->cfg.serving_key_file = NULL;
    srv->cfg.token_file = NULL;
    srv->cfg.event_ttl = NULL; /* parsed into event_ttl_s */
    srv->cfg.max_body_bytes = cfg->max_body_bytes ? cfg->max_body_bytes : 3 * 1024 * 1024;
    srv->bind_address = k3c_xstrdup(cfg->bind_address ? cfg->bind_address : "0.0.0.0");
    srv->store = store;
    srv->started_s = k3c_wall_ms() / 1000;
    atomic_init(&srv->stopping, false);
    if (load_pem(cfg->serving_cert_file, &srv->cert_pem, err) < 0 ||
        load_pem(cfg->serving_key_file, &srv->key_pem, err) < 0 ||
        load_pem(cfg->client_ca_file, &srv->client_ca_pem, err) < 0 ||
        (cfg->token_file && api_tokens_load(srv, cfg->token_file, err) < 0) ||
        start_caches(srv, err) < 0) {
        api_server_free(srv);
        return NULL;
    }
    return srv;
}

int
api_server_start(struct api_server *srv, struct k3c_err *err)
{
    if (api_ensure_namespaces(srv, err) < 0)
        return -1;
    if (api_rbac_bootstrap(srv, err) < 0) /* issue #15 */
        return -1;
    if (api_crd_start(srv, err) < 0) /* custom resources (api_crd.c) */
        return -1;
    if (api_http_start(srv, err) < 0)
        return -1;
    log_info("listening on https://%s:%d", srv->bind_address, srv->cfg.port);
    return 0;
}

/* exec/attach relays notice `stopping` within a poll period and hand their
 * connections back; MHD's daemon must not stop under them. Bounded. */
static void
proxy_sessions_drain(struct api_server *srv)
{
    int64_t deadline = k3c_now_ms() + 5000;

    while (atomic_load(&srv->proxy_sessions) > 0 && k3c_now_ms() < deadline)
        k3c_sleep_ms(10);
    if (atomic_load(&srv->proxy_sessions) > 0)
        log_warn("%d exec/attach relays still open at shutdown", atomic_load(&srv->proxy_sessions));
}

bool
api_conn_draining(struct api_server *srv, int fd)
{
    unsigned addr = atomic_load(&srv->draining_addr);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (addr == 0 || fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&ss)->sin_addr.s_addr == addr;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

        return IN6_IS_ADDR_V4MAPPED(a) && memcmp(&a->s6_addr[12], &addr, 4) == 0;
    }
    return false;
}

void
api_server_drain_address(struct api_server *srv, const char *ip, int64_t max_ms)
{
    int64_t deadline = k3c_now_ms() + max_ms, left;
    struct in_addr a;

    if (!srv || !ip || inet_pton(AF_INET, ip, &a) != 1 || a.s_addr == 0)
        return;
    atomic_store(&srv->draining_addr, (unsigned)a.s_addr);
    api_http_loop_drain(srv->http_loop, max_ms);
    /* A resumed stream's connection is closed on libmicrohttpd's next pass
     * over it, which this short wait covers; nothing reports it. */
    left = deadline - k3c_now_ms();
    if (left > API_DRAIN_CLOSE_MS)
        left = API_DRAIN_CLOSE_MS;
    if (left > 0)
        k3c_sleep_ms(left);
    log_info("closed the API connections that came in on %s", ip);
}

void
api_server_drain_end(struct api_server *srv)
{
    if (srv)
        atomic_store(&srv->draining_addr, 0u);
}

void
api_server_free(struct api_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    proxy_sessions_drain(srv);
    api_metrics_fini(srv);
    api_http_stop(srv);
    api_proxy_fini(srv);
    api_crd_stop(srv);
    for (size_t i = 0; i < srv->n_resources; i++)
        watch_cache_free(srv->caches[i]);
    free(srv->caches);
    api_tokens_free(srv);
    api_rbac_free(srv);
    free((char *)srv->cfg.server_ca_cert_file);
    free((char *)srv->cfg.server_ca_key_file);
    free((char *)srv->cfg.client_ca_file);
    free((char *)srv->cfg.client_ca_key_file);
    free((char *)srv->cfg.join_secret);
    free((char *)srv->cfg.server_bootstrap_json);
    free((char *)srv->cfg.kubelet_client_cert_file);
    free((char *)srv->cfg.kubelet_client_key_file);
    free((char *)srv->cfg.cluster_dns);
    free(srv->bind_address);
    free(srv->cert_pem);
    free(srv->key_pem);
    free(srv->client_ca_pem);
    pthread_mutex_destroy(&srv->metrics_fn_lock);
    pthread_mutex_destroy(&srv->lease_lock);
    free(srv);
}

struct watch_cache *
api_cache_for(struct api_server *srv, const struct api_resource *res)
{
    size_t i;

    if (api_resource_is_custom(res))
        return api_crd_cache(res);
    i = (size_t)(res - api_resources);
    return i < srv->n_resources ? srv->caches[i] : NULL;
}

/* Creates a built-in object unless it exists: fills uid and timestamp,
 * runs the kind's allocate hook, stores it. */
static int
ensure_object(struct api_server *srv, const char *plural, json_t *obj, struct k3c_err *err)
{
    const struct api_resource *res = api_resource_find("", "v1", plural);
    _cleanup_free_ char *key =
        api_object_key(res, api_meta_str(obj, "namespace"), api_meta_str(obj, "name"));
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ json_t *causes = json_array();
    struct store_kv kv = {0};
    char uid[37], ts[32];
    size_t len = 0;

    if (store_get(srv->store, key, &kv, err) == 0) {
        store_kv_fini(&kv);
        return 0;
    }
    if (err->kind != K3C_E_NOT_FOUND)
        return -1;
    k3c_err_clear(err);
    k3c_uuid_new(uid);
    k3c_time_rfc3339(k3c_wall_ms() / 1000, ts, sizeof(ts));
    json_object_set_new(api_meta(obj), "uid", json_string(uid));
    json_object_set_new(api_meta(obj), "creationTimestamp", json_string(ts));
    if (res->hooks && res->hooks->allocate && res->hooks->allocate(srv, obj, causes, err) < 0)
        return -1;
    text = api_object_encode(obj, &len);
    if (store_create(srv->store, key, text, len, 0, NULL, err) < 0 && err->kind != K3C_E_EXISTS)
        return -1;
    k3c_err_clear(err);
    log_info("(%s %s) created", plural, key);
    return 0;
}

/* kube-system/kube-dns at the cluster DNS address, as K3s's CoreDNS
 * Service, so pods and tools find it by name. Each agent answers on that
 * address itself (src/dns/dns_node.c): no selector, no endpoints, and
 * the service proxy leaves it out. */
static int
ensure_kube_dns(struct api_server *srv, struct k3c_err *err)
{
    const char *ip = srv->cfg.cluster_dns ? srv->cfg.cluster_dns : "10.43.0.10";
    _cleanup_json_ json_t *svc = NULL;
    struct in_addr a;

    if (!*ip)
        return 0;
    if (inet_pton(AF_INET, ip, &a) != 1 || (ntohl(a.s_addr) & 0xffff0000u) != 0x0a2b0000u)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--cluster-dns %s is not an address of the Service range 10.43.0.0/16",
                           ip);
    svc = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}}, s:{s:s, s:s, "
        "s:[{s:s, s:i, s:s, s:i}, {s:s, s:i, s:s, s:i}]}}",
        "kind", "Service", "apiVersion", "v1", "metadata", "name", "kube-dns", "namespace",
        "kube-system", "labels", "k8s-app", "kube-dns", "kubernetes.io/cluster-service", "true",
        "kubernetes.io/name", "CoreDNS", "annotations", "k3c.io/node-local", "true", "spec", "type",
        "ClusterIP", "clusterIP", ip, "ports", "name", "dns", "port", 53, "protocol", "UDP",
        "targetPort", 53, "name", "dns-tcp", "port", 53, "protocol", "TCP", "targetPort", 53);
    if (ensure_object(srv, "services", svc, err) < 0)
        return k3c_err_wrap(err, "service kube-system/kube-dns");
    return 0;
}

int
api_ensure_namespaces(struct api_server *srv, struct k3c_err *err)
{
    _cleanup_json_ json_t *svc = NULL;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(builtin_namespaces); i++) {
        const char *name = builtin_namespaces[i];
        _cleanup_json_ json_t *ns = json_pack(
            "{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[s]}, s:{s:s}}", "kind", "Namespace", "apiVersion",
            "v1", "metadata", "name", name, "labels", "kubernetes.io/metadata.name", name, "spec",
            "finalizers", "kubernetes", "status", "phase", "Active");

        if (ensure_object(srv, "namespaces", ns, err) < 0)
            return k3c_err_wrap(err, "namespace %s", name);
    }
    /* The API's own Service: 10.43.0.1:443, the first SAN of the serving cert. */
    svc = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s, s:s, s:s, s:[{s:s, s:i, "
                    "s:s, s:i}]}}",
                    "kind", "Service", "apiVersion", "v1", "metadata", "name", "kubernetes",
                    "namespace", "default", "labels", "component", "apiserver", "provider",
                    "kubernetes", "spec", "type", "ClusterIP", "clusterIP", "10.43.0.1",
                    "sessionAffinity", "None", "ports", "name", "https", "port", 443, "protocol",
                    "TCP", "targetPort", srv->cfg.port);
    if (ensure_object(srv, "services", svc, err) < 0)
        return k3c_err_wrap(err, "service default/kubernetes");
    return ensure_kube_dns(srv, err);
}

/* ---- /healthz, /livez, /readyz, /metrics ------------------------------- */

static int
reply_text(struct api_request *r, unsigned code, const char *text, const char *type)
{
    struct MHD_Response *resp;
    int ret;

    resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int
serve_metrics(struct api_request *r)
{
    struct k3c_buf b;
    int ret;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b,
                    "# HELP apiserver_request_total Requests served.\n"
                    "# TYPE apiserver_request_total counter\n"
                    "apiserver_request_total %lld\n"
                    "# HELP apiserver_request_errors_total Requests answered with a 4xx/5xx.\n"
                    "# TYPE apiserver_request_errors_total counter\n"
                    "apiserver_request_errors_total %lld\n"
                    "# HELP apiserver_watches Active watch streams.\n"
                    "# TYPE apiserver_watches gauge\n"
                    "apiserver_watches %lld\n"
                    "# HELP process_resident_memory_bytes Resident memory.\n"
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %lld\n",
                    (long long)atomic_load(&r->srv->requests_total),
                    (long long)atomic_load(&r->srv->request_errors_total),
                    (long long)atomic_load(&r->srv->watches_active), k3c_rss_bytes());
    if (r->srv->http_loop) { /* api_http_loop.c (issue #20) */
        int workers, parked;

        api_http_loop_counts(r->srv->http_loop, &workers, &parked);
        k3c_buf_appendf(&b,
                        "# HELP k3c_api_workers Threads running API handlers, or idle "
                        "briefly after.\n# TYPE k3c_api_workers gauge\nk3c_api_workers %d\n"
                        "# HELP k3c_api_parked_streams Watch and log streams waiting with "
                        "nothing to send.\n# TYPE k3c_api_parked_streams gauge\n"
                        "k3c_api_parked_streams %d\n",
                        workers, parked);
    }
    for (size_t i = 0; i < r->srv->n_resources; i++)
        if (r->srv->caches[i])
            k3c_buf_appendf(&b, "k3c_watch_cache_revision{resource=\"%s\"} %" PRId64 "\n",
                            api_resources[i].plural, watch_cache_revision(r->srv->caches[i]));
    pthread_mutex_lock(&r->srv->metrics_fn_lock);
    if (r->srv->metrics_fn)
        r->srv->metrics_fn(r->srv->metrics_fn_data, &b);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(r->srv->metrics_more); i++)
        if (r->srv->metrics_more[i].fn)
            r->srv->metrics_more[i].fn(r->srv->metrics_more[i].data, &b);
    pthread_mutex_unlock(&r->srv->metrics_fn_lock);
    ret = reply_text(r, 200, b.data, "text/plain; version=0.0.4");
    k3c_buf_fini(&b);
    return ret;
}

/* An etcd alarm (NOSPACE: writes refused) makes the server unready; the
 * alarm is named to authenticated callers only, as upstream withholds
 * reasons from anonymous ones. */
static int
health_alarms(struct api_request *r)
{
    struct k3c_err err = {0};
    char alarms[256], text[512];
    int n = store_alarms(r->srv->store, alarms, sizeof(alarms), &err);

    if (n == 0)
        return reply_text(r, 200, "ok", "text/plain");
    snprintf(text, sizeof(text), "[-]etcd-alarm failed: %s\nreadyz check failed",
             !r->user.authenticated ? "reason withheld"
             : n < 0                ? err.msg
                                    : alarms);
    return reply_text(r, 503, text, "text/plain");
}

void
api_server_set_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data)
{
    pthread_mutex_lock(&srv->metrics_fn_lock);
    srv->metrics_fn = fn;
    srv->metrics_fn_data = data;
    pthread_mutex_unlock(&srv->metrics_fn_lock);
}

void
api_server_add_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data)
{
    pthread_mutex_lock(&srv->metrics_fn_lock);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(srv->metrics_more); i++)
        if (!srv->metrics_more[i].fn) {
            srv->metrics_more[i].fn = fn;
            srv->metrics_more[i].data = data;
            break;
        }
    pthread_mutex_unlock(&srv->metrics_fn_lock);
}

void
api_server_remove_metrics_fn(struct api_server *srv, api_metrics_fn fn, void *data)
{
    pthread_mutex_lock(&srv->metrics_fn_lock);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(srv->metrics_more); i++)
        if (srv->metrics_more[i].fn == fn && srv->metrics_more[i].data == data)
            srv->metrics_more[i].fn = NULL;
    pthread_mutex_unlock(&srv->metrics_fn_lock);
}

/* Returns an MHD result, or -1 when the path is not a health path. */
int
api_health_serve(struct api_request *r)
{
    const char *u = r->url;
    struct k3c_err err = {0};

    if (strcmp(u, "/metrics") == 0) {
        /* RBAC: system:monitoring, cluster-admin (api_rbac_bootstrap.c) */
        int denied = r->user.authenticated ? api_authorize_path(r) : -1;

        return !r->user.authenticated ? -1 : denied >= 0 ? denied : serve_metrics(r);
    }
    if (strcmp(u, "/livez") == 0 || strncmp(u, "/livez/", 7) == 0)
        return reply_text(r, 200, "ok", "text/plain");
    if (strcmp(u, "/healthz") == 0 || strcmp(u, "/readyz") == 0 || strncmp(u, "/readyz/", 8) == 0 ||
        strncmp(u, "/healthz/", 9) == 0) {
        /* Ready means the store answers a linearizable read (no quorum:
         * unready within the store's request timeout, never a hang). */
        if (store_ping(r->srv->store, &err) < 0)
            return reply_text(r, 503, "[-]etcd failed: reason withheld\nreadyz check failed",
                              "text/plain");
        return health_alarms(r);
    }
    return -1;
}
