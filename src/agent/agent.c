/* SPDX-License-Identifier: Apache-2.0
 * agent.c - the Node object and its heartbeat. The Node carries labels,
 * taints, addresses, capacity, nodeInfo and conditions; a Lease in
 * kube-node-lease is renewed every lease_renew_s (10 s) and the status at
 * least every status_every_s (5 min), as the kubelet does. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "agent/agent-storage.h"
#include "kubelet/kubelet_server.h"
#include "net/proxy.h"
#include "net/netpol.h"
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"

#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define LEASE_DURATION_S 40
#define MAX_PODS         110
/* API connections kept open between requests: the pod workers write at
 * once only in bursts; each kept connection costs ~150 KiB (it was one per
 * concurrent request ever seen: 22 with 30 pods, ~3 MiB). */
#define AGENT_API_MAX_IDLE 4

static char **
strv_dup(char *const *v)
{
    size_t n = 0;
    char **out;

    while (v && v[n])
        n++;
    out = k3c_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = k3c_xstrdup(v[i]);
    return out;
}

static void
paths_init(struct agent_paths *p, const char *dir)
{
    p->dir = k3c_xstrdup(dir);
    p->server_ca = k3c_xasprintf("%s/server-ca.crt", dir);
    p->client_cert = k3c_xasprintf("%s/client-kubelet.crt", dir);
    p->client_key = k3c_xasprintf("%s/client-kubelet.key", dir);
    p->serving_cert = k3c_xasprintf("%s/serving-kubelet.crt", dir);
    p->serving_key = k3c_xasprintf("%s/serving-kubelet.key", dir);
    p->kubeconfig = k3c_xasprintf("%s/kubelet.kubeconfig", dir);
    p->client_ca = k3c_xasprintf("%s/client-ca.crt", dir);
}

static void
paths_fini(struct agent_paths *p)
{
    free(p->dir);
    free(p->server_ca);
    free(p->client_cert);
    free(p->client_key);
    free(p->serving_cert);
    free(p->serving_key);
    free(p->kubeconfig);
    free(p->client_ca);
}

/* "key=value:Effect" → {"key","value","effect"}; NULL if malformed. */
static json_t *
taint_parse(const char *s)
{
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
    _cleanup_free_ char *copy = k3c_xstrdup(s);
    char *colon = strrchr(copy, ':'), *eq;
    json_t *t;

    if (!colon)
        return NULL;
    *colon = '\0';
    for (size_t i = 0; i < K3C_ARRAY_SIZE(effects); i++) {
        if (strcmp(colon + 1, effects[i]) != 0)
            continue;
        eq = strchr(copy, '=');
        if (eq)
            *eq = '\0';
        if (!*copy)
            return NULL;
        t = json_pack("{s:s, s:s}", "key", copy, "effect", effects[i]);
        if (eq && eq[1])
            json_object_set_new(t, "value", json_string(eq + 1));
        return t;
    }
    return NULL;
}

static int
check_config(const struct agent_config *cfg, struct k3c_err *err)
{
    if (!cfg->server_url || !cfg->token || !cfg->data_dir || !cfg->node_name || !cfg->node_ip)
        return k3c_err_set(err, K3C_E_INVALID, "agent: --server and --token are required");
    for (size_t i = 0; cfg->labels && cfg->labels[i]; i++)
        if (!strchr(cfg->labels[i], '=') || cfg->labels[i][0] == '=')
            return k3c_err_set(err, K3C_E_INVALID, "--node-label %s: want key=value",
                               cfg->labels[i]);
    for (size_t i = 0; cfg->taints && cfg->taints[i]; i++) {
        json_t *t = taint_parse(cfg->taints[i]);

        if (!t)
            return k3c_err_set(err, K3C_E_INVALID,
                               "--node-taint %s: want key[=value]:NoSchedule|PreferNoSchedule|"
                               "NoExecute",
                               cfg->taints[i]);
        json_decref(t);
    }
    return 0;
}

static char *
dup_opt(const char *s)
{
    return s ? k3c_xstrdup(s) : NULL;
}

static void
kubelet_config_copy(struct kubelet_config *dst, const struct kubelet_config *src,
                    const struct agent *a)
{
    *dst = *src;
    dst->data_dir = a->paths.dir;
    dst->node_name = a->node_name;
    dst->node_ip = a->node_ip;
    dst->runtime = dup_opt(src->runtime);
    dst->pod_cidr = dup_opt(src->pod_cidr);
    dst->cni_bridge = dup_opt(src->cni_bridge);
    dst->cni_bin_dir = dup_opt(src->cni_bin_dir);
    dst->netns_dir = dup_opt(src->netns_dir);
    dst->registry_config = dup_opt(src->registry_config);
    dst->cluster_dns = dup_opt(src->cluster_dns);
    dst->cluster_domain = dup_opt(src->cluster_domain);
    dst->resolv_conf = dup_opt(src->resolv_conf);
}

static void
kubelet_config_fini(struct kubelet_config *c)
{
    free((char *)c->runtime);
    free((char *)c->pod_cidr);
    free((char *)c->cni_bridge);
    free((char *)c->cni_bin_dir);
    free((char *)c->netns_dir);
    free((char *)c->registry_config);
    free((char *)c->cluster_dns);
    free((char *)c->cluster_domain);
    free((char *)c->resolv_conf);
}

/* The pod network's settings; the informer's client and the node's name
 * and IP are set at start. */
static int
agent_flannel_config(struct agent *a, const struct agent_config *cfg, struct k3c_err *err)
{
    enum flannel_backend b = FLANNEL_BACKEND_VXLAN;

    if (cfg->flannel_backend && flannel_backend_parse(cfg->flannel_backend, &b, err) < 0)
        return k3c_err_wrap(err, "--flannel-backend");
    a->fcfg.backend = b;
    a->fcfg.iface = dup_opt(cfg->flannel_iface);
    a->fcfg.cluster_cidr = dup_opt(cfg->cluster_cidr);
    a->fcfg.state_dir = k3c_xasprintf("%s/flannel", cfg->data_dir);
    return 0;
}

/* The pod network across nodes, before the kubelet: pods take its MTU. A
 * node whose network cannot be set up still runs its pods (reachable on
 * this node only): logged, not returned. */
static void
agent_flannel_start(struct agent *a)
{
    struct k3c_err err = {0};

    a->fcfg.api = a->api;
    a->fcfg.node_name = a->node_name;
    a->fcfg.node_ip = a->node_ip;
    a->flannel = flannel_new(&a->fcfg, &err);
    if (a->flannel && flannel_start(a->flannel, &err) == 0) {
        a->kcfg.mtu = flannel_pod_mtu(a->flannel);
        return;
    }
    log_error("(node %s) no pod network to other nodes: %s", a->node_name, err.msg);
}

struct agent *
agent_new(const struct agent_config *cfg, struct k3c_err *err)
{
    struct agent *a;
    char hash[65];
    char *user = NULL, *secret = NULL;

    if (check_config(cfg, err) < 0 || agent_token_parse(cfg->token, hash, &user, &secret, err) < 0)
        return NULL;
    free(user);
    free(secret);
    a = k3c_xcalloc(1, sizeof(*a));
    a->server_url = k3c_xstrdup(cfg->server_url);
    a->token = k3c_xstrdup(cfg->token);
    a->node_name = k3c_xstrdup(cfg->node_name);
    a->node_ip = k3c_xstrdup(cfg->node_ip);
    a->labels = strv_dup(cfg->labels);
    a->taints = strv_dup(cfg->taints);
    a->control_plane = cfg->control_plane;
    a->etcd_member = cfg->etcd_member;
    a->lease_renew_s = cfg->lease_renew_s > 0 ? cfg->lease_renew_s : 10;
    a->status_every_s = cfg->status_every_s > 0 ? cfg->status_every_s : 300;
    paths_init(&a->paths, cfg->data_dir);
    if (cfg->pods)
        kubelet_config_copy(&a->kcfg, cfg->pods, a);
    a->run_pods = cfg->pods != NULL;
    a->run_proxy = cfg->proxy;
    a->proxy_without_pods = cfg->proxy_without_pods;
    a->run_netpol = cfg->network_policy;
    a->cluster_cidr = cfg->cluster_cidr ? k3c_xstrdup(cfg->cluster_cidr) : NULL;
    a->dns_cfg = cfg->pods && cfg->dns ? dns_node_config_dup(cfg->dns) : NULL;
    a->kubelet_port = cfg->kubelet_port ? cfg->kubelet_port : 10250;
    pthread_mutex_init(&a->lock, NULL);
    k3c_cond_init(&a->wake);
    if (a->run_pods)
        agent_devices_init(a, cfg->cdi_spec_dirs);
    a->device_plugin_dir = cfg->device_plugin_dir ? k3c_xstrdup(cfg->device_plugin_dir) : NULL;
    if (net_netfilter_parse(cfg->netfilter_backend, &a->netfilter, &a->netfilter_auto, err) < 0) {
        k3c_err_wrap(err, "--netfilter-backend");
        agent_free(a);
        return NULL;
    }
    if (a->run_pods && agent_flannel_config(a, cfg, err) < 0) {
        agent_free(a);
        return NULL;
    }
    return a;
}

void
agent_free(struct agent *a)
{
    if (!a)
        return;
    if (a->running) {
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    netpol_free(a->netpol);
    agent_storage_stop(a->storage); /* storage (issue #16) */
    proxy_free(a->proxy);
    free(a->cluster_cidr);
    free(a->device_plugin_dir);
    kubelet_server_free(a->kserver);
    flannel_free(a->flannel);
    free((char *)a->fcfg.iface);
    free((char *)a->fcfg.cluster_cidr);
    free((char *)a->fcfg.state_dir);
    runtime_free(a->kserver_runtime);
    kubelet_free(a->kubelet);
    agent_devices_fini(a);
    dns_node_stop(a->dns);
    dns_node_config_free(a->dns_cfg);
    kubelet_config_fini(&a->kcfg);
    http_client_free(a->api);
    k3c_strv_free(a->servers);
    free(a->servers_file);
    paths_fini(&a->paths);
    k3c_strv_free(a->labels);
    k3c_strv_free(a->taints);
    free(a->server_url);
    free(a->token);
    free(a->node_name);
    free(a->node_ip);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* ---- talking to the API ---------------------------------------------------- */

/* One API call; *out gets the parsed answer (may be NULL). Returns the HTTP
 * status, or -1 on transport failure. */
static long
api_call(struct agent *a, const char *method, const char *path, const json_t *body, json_t **out,
         struct k3c_err *err)
{
    return http_client_json(a->api, method, path, NULL, body, out, err);
}

/* ---- the Node ---------------------------------------------------------------- */

static void
now_rfc3339(char *buf, size_t len)
{
    k3c_time_rfc3339(k3c_wall_ms() / 1000, buf, len);
}

static long long
mem_total_kib(void)
{
    long long kib = 0;
    char line[128];
    FILE *f = fopen("/proc/meminfo", "re");

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %lld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void
os_image(char *buf, size_t len)
{
    char line[256];
    FILE *f = fopen("/etc/os-release", "re");

    snprintf(buf, len, "Linux");
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
            char *v = line + 12;

            v[strcspn(v, "\n")] = '\0';
            if (*v == '"') {
                v++;
                v[strcspn(v, "\"")] = '\0';
            }
            snprintf(buf, len, "%.100s", v);
            break;
        }
    }
    if (f)
        fclose(f);
}

static void
read_id(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");

    buf[0] = '\0';
    if (f && fgets(buf, (int)len, f))
        buf[strcspn(buf, "\n")] = '\0';
    if (f)
        fclose(f);
}

static json_t *
node_status(struct agent *a)
{
    struct utsname u;
    struct statvfs fs;
    char ts[32], os[128], mid[64], boot[64], mem[32], disk[32];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *cap, *alloc, *conds;
    struct kevict_pressure pr;
    char kubelet_version[128];

    /* The release and the commit (base/version.h): nodes of a rolling
     * upgrade show which build each runs. */
    snprintf(kubelet_version, sizeof(kubelet_version), "v1.32.0+k3c%s", k3c_version_full());
    agent_pressure_measure(a, &pr);
    uname(&u);
    os_image(os, sizeof(os));
    read_id("/etc/machine-id", mid, sizeof(mid));
    read_id("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
    now_rfc3339(ts, sizeof(ts));
    snprintf(mem, sizeof(mem), "%lldKi", mem_total_kib());
    if (statvfs(a->paths.dir, &fs) == 0)
        snprintf(disk, sizeof(disk), "%lluKi",
                 (unsigned long long)fs.f_blocks * fs.f_frsize / 1024);
    else
        snprintf(disk, sizeof(disk), "0");
    cap = json_pack("{s:I, s:s, s:I, s:s}", "cpu", (json_int_t)cpus, "memory", mem, "pods",
                    (json_int_t)MAX_PODS, "ephemeral-storage", disk);
    agent_devices_capacity(a, cap);
    alloc = json_deep_copy(cap);
    agent_devices_allocatable(a, alloc);
    conds = json_pack(
        "[{s:s, s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:s},"
        " {s:s, s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:s}]",
        "type", "MemoryPressure", "status", pr.memory ? "True" : "False", "reason",
        pr.memory ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory", "message",
        pr.memory ? pr.memory_msg : "kubelet has sufficient memory", "lastHeartbeatTime", ts,
        "lastTransitionTime", ts, "type", "DiskPressure", "status", pr.disk ? "True" : "False",
        "reason", pr.disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure", "message",
        pr.disk ? pr.disk_msg : "kubelet has no disk pressure", "lastHeartbeatTime", ts,
        "lastTransitionTime", ts, "type", "PIDPressure", "status", pr.pid ? "True" : "False",
        "reason", pr.pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID", "message",
        pr.pid ? pr.pid_msg : "kubelet has sufficient PID available", "lastHeartbeatTime", ts,
        "lastTransitionTime", ts, "type", "Ready", "status", "True", "reason", "KubeletReady",
        "message", "k3c agent is posting ready status", "lastHeartbeatTime", ts,
        "lastTransitionTime", ts);
    return json_pack("{s:o, s:o, s:o, s:[{s:s, s:s}, {s:s, s:s}], s:{s:{s:i}},"
                     " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
                     "capacity", cap, "allocatable", alloc, "conditions", conds, "addresses",
                     "type", "InternalIP", "address", a->node_ip, "type", "Hostname", "address",
                     a->node_name, "daemonEndpoints", "kubeletEndpoint", "Port",
                     a->kubelet_port > 0 ? a->kubelet_port : 0, "nodeInfo", "machineID", mid,
                     "systemUUID", mid, "bootID", boot, "kernelVersion", u.release, "osImage", os,
                     "containerRuntimeVersion", "k3c://" K3C_VERSION, "kubeletVersion",
                     kubelet_version, "kubeProxyVersion", "", "operatingSystem", "linux",
                     "architecture", k3c_arch());
}

static json_t *
node_labels(struct agent *a)
{
    json_t *labels;

    labels = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kubernetes.io/hostname", a->node_name,
                       "kubernetes.io/os", "linux", "kubernetes.io/arch", k3c_arch(),
                       "beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch", k3c_arch());
    if (a->control_plane) {
        json_object_set_new(labels, "node-role.kubernetes.io/control-plane", json_string("true"));
        json_object_set_new(labels, "node-role.kubernetes.io/master", json_string("true"));
    }
    if (a->etcd_member)
        json_object_set_new(labels, "node-role.kubernetes.io/etcd", json_string("true"));
    agent_devices_labels(a, labels);
    for (size_t i = 0; a->labels[i]; i++) {
        _cleanup_free_ char *kv = k3c_xstrdup(a->labels[i]);
        char *eq = strchr(kv, '=');

        *eq = '\0';
        json_object_set_new(labels, kv, json_string(eq + 1));
    }
    return labels;
}

static json_t *
node_object(struct agent *a)
{
    json_t *taints = json_array();

    for (size_t i = 0; a->taints[i]; i++)
        json_array_append_new(taints, taint_parse(a->taints[i]));
    return json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:o}, s:o}", "apiVersion", "v1", "kind", "Node",
                     "metadata", "name", a->node_name, "labels", node_labels(a), "spec", "taints",
                     taints, "status", node_status(a));
}

static int update_status(struct agent *a, struct k3c_err *err);

/* Creates the Node; after a restart it exists, so its labels are merged and
 * its status replaced. */
static int
register_node(struct agent *a, struct k3c_err *err)
{
    _cleanup_json_ json_t *node = node_object(a), *cur = NULL, *ans = NULL;
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", a->node_name);
    long st = api_call(a, "POST", "/api/v1/nodes", node, NULL, err);

    if (st == 201)
        return 0;
    if (st != 409)
        return -1;
    /* Read-modify-write; a server's cluster monitor may annotate the node
     * in between (409 Conflict): read again, a few times. */
    for (int attempt = 0; attempt < 5; attempt++) {
        k3c_err_clear(err);
        json_decref(cur);
        cur = NULL;
        json_decref(ans);
        ans = NULL;
        if (api_call(a, "GET", path, NULL, &cur, err) != 200)
            return -1;
        json_object_update(json_object_get(json_object_get(cur, "metadata"), "labels"),
                           json_object_get(json_object_get(node, "metadata"), "labels"));
        if (!json_object_get(json_object_get(cur, "metadata"), "labels"))
            json_object_set(json_object_get(cur, "metadata"), "labels",
                            json_object_get(json_object_get(node, "metadata"), "labels"));
        json_object_set(cur, "status", json_object_get(node, "status"));
        st = api_call(a, "PUT", path, cur, &ans, err);
        /* A PUT of the Node keeps its old status (as upstream's strategy):
         * the status subresource gets this binary's nodeInfo (kubeletVersion
         * after an upgrade) and conditions now, not at the next change. */
        if (st == 200)
            return update_status(a, err);
        if (st != 409)
            return -1;
    }
    return -1;
}

static int
update_status(struct agent *a, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s/status", a->node_name);
    _cleanup_json_ json_t *patch = json_pack("{s:o}", "status", node_status(a));
    _cleanup_free_ char *text = json_dumps(patch, JSON_COMPACT);
    struct http_response resp;
    int rc = -1;

    http_response_init(&resp);
    if (http_client_request(a->api, "PATCH", path, "application/merge-patch+json", text,
                            strlen(text), &resp, err) == 0) {
        rc = resp.status == 200 ? 0 : -1;
        if (rc < 0)
            k3c_err_set(err, K3C_E_INTERNAL, "node status: HTTP %ld", resp.status);
    }
    http_response_fini(&resp);
    return rc;
}

static void
micro_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.20s.%06dZ", base, (int)(ts.tv_nsec / 1000));
}

/* Renews (or creates) kube-node-lease/<node>. */
static int
renew_lease(struct agent *a, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf(
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", a->node_name);
    _cleanup_json_ json_t *lease = NULL, *ans = NULL;
    char now[40];
    long st;

    micro_time(now, sizeof(now));
    st = api_call(a, "GET", path, NULL, &lease, err);
    if (st == 404) {
        json_decref(lease);
        lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
                          "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                          a->node_name, "namespace", "kube-node-lease", "spec", "holderIdentity",
                          a->node_name, "leaseDurationSeconds", LEASE_DURATION_S, "renewTime", now);
        k3c_err_clear(err);
        return api_call(a, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                        lease, NULL, err) == 201
                   ? 0
                   : -1;
    }
    if (st != 200)
        return -1;
    json_object_set_new(json_object_get(lease, "spec"), "renewTime", json_string(now));
    return api_call(a, "PUT", path, lease, &ans, err) == 200 ? 0 : -1;
}

/* Waits up to s seconds; returns true when asked to stop. */
static bool
wait_or_stop(struct agent *a, int s)
{
    int64_t deadline = k3c_now_ms() + (int64_t)s * 1000;
    bool stop;

    pthread_mutex_lock(&a->lock);
    while (!a->stopping && k3c_cond_wait_until(&a->wake, &a->lock, deadline))
        ;
    stop = a->stopping;
    pthread_mutex_unlock(&a->lock);
    return stop;
}

/* False when the API server's copy of our Node is not Ready=True: the node
 * lifecycle controller marked it Unknown while our heartbeats were not
 * getting through. Transport errors count as agreeing (nothing to fix). */
static bool
server_sees_ready(struct agent *a)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", a->node_name);
    _cleanup_json_ json_t *node = NULL;
    struct k3c_err err = {0};
    const json_t *c;
    size_t i;

    if (api_call(a, "GET", path, NULL, &node, &err) != 200 || !node)
        return true;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *status = json_string_value(json_object_get(c, "status"));

        if (type && strcmp(type, "Ready") == 0)
            return status && strcmp(status, "True") == 0;
    }
    return false;
}

static void *
heartbeat_thread(void *arg)
{
    struct agent *a = arg;
    int64_t last_status = k3c_now_ms();
    bool failing = false;
    unsigned last_pressure = 0;

    do {
        struct k3c_err err = {0};
        int rc = renew_lease(a, &err);
        struct kevict_pressure pr;
        unsigned pressure;

        agent_pressure_measure(a, &pr);
        pressure = pr.memory | pr.disk << 1 | pr.pid << 2;

        if (rc == 0)
            agent_servers_refresh(a);
        /* Like the kubelet: status on change of what the server believes,
         * of a pressure condition, after an outage, and at least every
         * status_every_s. */
        if (rc == 0 && (failing || agent_devices_refresh(a) || !server_sees_ready(a) ||
                        pressure != last_pressure ||
                        k3c_now_ms() - last_status >= (int64_t)a->status_every_s * 1000)) {
            rc = update_status(a, &err);
            if (rc == 0) {
                last_status = k3c_now_ms();
                last_pressure = pressure;
            }
        }
        /* Logged once per outage, not on every beat. */
        if (rc < 0 && !failing)
            log_warn("(node %s) heartbeat failing: %s", a->node_name, err.msg);
        if (rc == 0 && failing)
            log_info("(node %s) heartbeat restored", a->node_name);
        failing = rc < 0;
    } while (!wait_or_stop(a, a->lease_renew_s));
    return NULL;
}

/* The kubelet API (logs, exec) on kubelet_port. A node that cannot serve it
 * still runs its pods: failures are logged, not returned. */
static void
kubelet_server_start(struct agent *a)
{
    _cleanup_free_ char *state = k3c_xasprintf("%s/containers", a->paths.dir);
    _cleanup_free_ char *logs = k3c_xasprintf("%s/logs", a->paths.dir);
    _cleanup_free_ char *node_dir = k3c_xstrdup(a->paths.dir); /* <data-dir>/agent */
    const char *name =
        a->kcfg.runtime && strcmp(a->kcfg.runtime, "auto") ? a->kcfg.runtime : "runc";
    struct runtime_config rc = {.runtime = name, .state_dir = state};
    struct kubelet_server_config kc = {.port = a->kubelet_port,
                                       .cert_file = a->paths.serving_cert,
                                       .key_file = a->paths.serving_key,
                                       .client_ca_file = a->paths.client_ca,
                                       .logs_dir = logs,
                                       .node_name = a->node_name,
                                       .netns_dir = a->kcfg.netns_dir,
                                       .data_dir = dirname(node_dir)};
    struct k3c_err err = {0};

    if (a->kubelet_port <= 0)
        return;
    if (a->run_pods) {
        /* Exec and the log followers only read the runtime's state (each
         * container's meta records its own runtime): any runtime will do. */
        a->kserver_runtime = runtime_new(&rc, &err);
        if (!a->kserver_runtime && strcmp(name, "runc") == 0) {
            rc.runtime = "crun";
            a->kserver_runtime = runtime_new(&rc, &err);
        }
        if (!a->kserver_runtime)
            log_warn("(node %s) kubelet API: no exec: %s", a->node_name, err.msg);
    }
    kc.runtime = a->kserver_runtime;
    a->kserver = kubelet_server_new(&kc, &err);
    if (!a->kserver)
        log_warn("(node %s) kubelet API not served (kubectl logs/exec will fail): %s", a->node_name,
                 err.msg);
}

/* The service proxy runs where pods do (a node without pods may share the
 * host's namespace with one that has them: it leaves nftables alone). */
static int
agent_proxy_start(struct agent *a, struct k3c_err *err)
{
    struct proxy_config pc = {
        .client = a->api, .node_name = a->node_name, .cluster_cidr = a->cluster_cidr};

    if (!a->run_proxy) {
        if (proxy_cleanup(NULL, err) < 0)
            log_warn("(node %s) service proxy table not removed: %s", a->node_name, err->msg);
        k3c_err_clear(err);
        return 0;
    }
    a->proxy = proxy_new(&pc, err);
    if (!a->proxy || proxy_start(a->proxy, err) < 0)
        return k3c_err_wrap(err, "service proxy of node %s", a->node_name);
    return 0;
}

/* NetworkPolicy enforcement, where pods run (as the proxy). */
static int
agent_netpol_start(struct agent *a, struct k3c_err *err)
{
    struct netpol_config nc = {.client = a->api, .node_name = a->node_name};

    if (!a->run_netpol) {
        if (netpol_cleanup(NULL, err) < 0)
            log_warn("(node %s) network policy table not removed: %s", a->node_name, err->msg);
        k3c_err_clear(err);
        return 0;
    }
    a->netpol = netpol_new(&nc, err);
    if (!a->netpol || netpol_start(a->netpol, err) < 0)
        return k3c_err_wrap(err, "network policy of node %s", a->node_name);
    return 0;
}

/* The kubelet's hook before a pod's containers start. */
static void
agent_before_pod(void *ud)
{
    struct agent *a = ud;
    struct k3c_err err = {0};

    if (a->dns && dns_node_ensure_address(a->dns, &err) < 0)
        log_warn("(node %s) %s", a->node_name, err.msg);
}

int
agent_start(struct agent *a, struct k3c_err *err)
{
    const char *endpoints[] = {a->server_url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = a->paths.server_ca,
                                    .cert_file = a->paths.client_cert,
                                    .key_file = a->paths.client_key,
                                    .max_idle = AGENT_API_MAX_IDLE,
                                    .download_buffer_size = 4 * 1024};
    int rc;

    a->api = http_client_new(&hc, err);
    if (!a->api || agent_servers_init(a, err) < 0)
        return -1;
    /* After the join: a node that could not join leaves nothing behind. */
    if (a->run_pods)
        agent_devices_plugins_init(a, a->device_plugin_dir);
    kubelet_server_start(a);
    if (register_node(a, err) < 0 || renew_lease(a, err) < 0)
        return k3c_err_wrap(err, "register node %s", a->node_name);
    rc = pthread_create(&a->thread, NULL, heartbeat_thread, a);
    if (rc != 0)
        return k3c_err_sys(err, rc, "heartbeat thread");
    a->running = true;
    log_info("(node %s) registered; heartbeat every %d s", a->node_name, a->lease_renew_s);
    if (a->dns_cfg) {
        /* Before the pods, so they resolve from their first moment. A node
         * without it still runs pods: logged, not returned. The address is
         * added with the first pod (agent_before_pod). */
        struct k3c_err derr = {0};
        a->dns = dns_node_start(a->dns_cfg, a->api, &derr);
        if (!a->dns)
            log_error("(node %s) %s: pods on this node cannot resolve names", a->node_name,
                      derr.msg);
    }
    if ((a->run_pods || a->proxy_without_pods) && agent_netfilter_choose(a, err) < 0)
        return k3c_err_wrap(err, "node %s", a->node_name);
    if (a->run_pods) {
        /* old kernels (issue #19): one clear line per missing feature */
        agent_probe_log(
            a->node_name,
            (a->fcfg.backend == FLANNEL_BACKEND_VXLAN ? AGENT_PROBE_VXLAN : 0) |
                (a->run_proxy || a->run_netpol
                     ? (net_netfilter() == NET_NETFILTER_IPTABLES ? AGENT_PROBE_IPTABLES
                                                                  : AGENT_PROBE_NFTABLES) |
                           AGENT_PROBE_BR_NETFILTER
                     : 0) |
                AGENT_PROBE_CGROUPS | AGENT_PROBE_OVERLAY);
        agent_flannel_start(a);
        a->kcfg.before_pod = agent_before_pod;
        a->kcfg.before_pod_ud = a;
        a->kcfg.cdi = a->cdi;
        a->kcfg.deviceplugins = a->dp;
        a->kubelet = kubelet_new(&a->kcfg, a->api, err);
        if (!a->kubelet || kubelet_start(a->kubelet, err) < 0)
            return k3c_err_wrap(err, "pods of node %s", a->node_name);
        /* storage (issue #16): local-path directories of deleted volumes */
        a->storage = agent_storage_start(a->api, a->node_name, err);
        if (!a->storage)
            return k3c_err_wrap(err, "local-path storage of node %s", a->node_name);
        if (agent_proxy_start(a, err) < 0)
            return -1;
        return agent_netpol_start(a, err);
    }
    if (a->proxy_without_pods)
        return agent_proxy_start(a, err);
    return 0;
}
