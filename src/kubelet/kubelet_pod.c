/* SPDX-License-Identifier: Apache-2.0
 * kubelet_pod.c - one pod's worker: the sandbox (netns + CNI, or the host
 * network), images (imagePullPolicy, ErrImagePull/ImagePullBackOff), init
 * containers in order then the app containers, restarts with
 * CrashLoopBackOff, probes, and termination (SIGTERM, grace period,
 * SIGKILL, teardown, then the pod object is deleted with uid
 * preconditions as the kubelet does). Exits are learned by polling each
 * instance's state every sync period (runtime_status spawns nothing). */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void
kubelet_container_id(const char *uid, const char *name, int restart, char out[29])
{
    _cleanup_free_ char *key = k3c_xasprintf("%s/%s/%d", uid, name, restart);
    char hex[65];

    pki_sha256_hex(key, strlen(key), hex);
    snprintf(out, 29, "k3c-%.24s", hex);
}

char *
kubelet_pod_dir(struct kubelet *k, const char *uid)
{
    return k3c_xasprintf("%s/%s", k->pods_dir, uid);
}

static char *
container_dir(struct kpod *p, const char *id)
{
    return k3c_xasprintf("%s/%s/containers/%s", p->k->pods_dir, p->uid, id);
}

static void set_waiting(struct kctr *c, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_waiting(struct kctr *c, const char *reason, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    free(c->waiting_reason);
    free(c->waiting_message);
    c->waiting_reason = reason ? k3c_xstrdup(reason) : NULL;
    c->waiting_message = NULL;
    if (fmt) {
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) >= 0)
            c->waiting_message = msg;
        va_end(ap);
    }
}

static int64_t
json_int_or(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

static const char *
restart_policy(const struct kpod *p)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(p->spec_pod, "spec"), "restartPolicy"));

    return s ? s : "Always";
}

static bool
host_network(const json_t *pod)
{
    return json_is_true(json_object_get(json_object_get(pod, "spec"), "hostNetwork"));
}

/* ---- building the pod's containers ------------------------------------------- */

static void
ctrs_build(struct kpod *p, json_t *pod)
{
    json_t *spec = json_object_get(pod, "spec");
    json_t *init = json_object_get(spec, "initContainers"),
           *app = json_object_get(spec, "containers");
    size_t n = json_array_size(init) + json_array_size(app), i, j = 0;
    json_t *c;

    p->spec_pod = json_incref(pod);
    p->ctrs = k3c_xcalloc(n ? n : 1, sizeof(*p->ctrs));
    p->n_init = json_array_size(init);
    p->n_ctrs = n;
    json_array_foreach(init, i, c)
    {
        p->ctrs[j].init = true;
        p->ctrs[j++].spec = c;
    }
    json_array_foreach(app, i, c) p->ctrs[j++].spec = c;
    for (i = 0; i < n; i++) {
        struct kctr *k = &p->ctrs[i];
        const char *name = json_string_value(json_object_get(k->spec, "name"));

        k->name = k3c_xstrdup(name ? name : "");
        if (!k->init) {
            k->probe_spec[KPROBE_LIVENESS] = json_object_get(k->spec, "livenessProbe");
            k->probe_spec[KPROBE_READINESS] = json_object_get(k->spec, "readinessProbe");
            k->probe_spec[KPROBE_STARTUP] = json_object_get(k->spec, "startupProbe");
        }
    }
}

static void
ctrs_free(struct kpod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        free(c->name);
        image_free(c->img);
        free(c->waiting_reason);
        free(c->waiting_message);
        json_decref(c->last_state);
    }
    free(p->ctrs);
    json_decref(p->spec_pod);
}

static struct kctr *
ctr_find(struct kpod *p, const char *name, bool init)
{
    for (size_t i = 0; i < p->n_ctrs; i++)
        if (p->ctrs[i].init == init && strcmp(p->ctrs[i].name, name) == 0)
            return &p->ctrs[i];
    return NULL;
}

/* Removes one instance: the container, its rootfs mount and directory. */
static void
instance_remove(struct kpod *p, const char *id)
{
    _cleanup_free_ char *dir = container_dir(p, id);
    struct k3c_err err = {0};

    if (runtime_delete(p->k->rt, id, &err) < 0 && err.kind != K3C_E_NOT_FOUND)
        log_warn("(pod %s/%s) delete container %s: %s", p->ns, p->name, id, err.msg);
    k3c_err_clear(&err);
    if (image_rootfs_release(dir, &err) < 0)
        log_warn("(pod %s/%s) release rootfs of %s: %s", p->ns, p->name, id, err.msg);
    kubelet_rmtree(dir);
}

static const char *
image_ref_of(const struct kctr *c)
{
    return json_string_value(json_object_get(c->spec, "image"));
}

static const enum podspec_probe_kind probe_kinds[KPROBE_N] = {
    [KPROBE_LIVENESS] = PODSPEC_PROBE_LIVENESS,
    [KPROBE_READINESS] = PODSPEC_PROBE_READINESS,
    [KPROBE_STARTUP] = PODSPEC_PROBE_STARTUP,
};

static const char *const probe_names[KPROBE_N] = {
    [KPROBE_LIVENESS] = "Liveness",
    [KPROBE_READINESS] = "Readiness",
    [KPROBE_STARTUP] = "Startup",
};

/* started_ms: monotonic start of the instance. */
static void
probes_reset(struct kctr *c, int64_t started_ms)
{
    for (int i = 0; i < KPROBE_N; i++)
        if (c->probe_spec[i])
            podspec_probe_state_init(&c->probes[i], probe_kinds[i], c->probe_spec[i], started_ms);
    c->started = !c->probe_spec[KPROBE_STARTUP];
    c->ready = false;
}

/* Containers of this pod left by an earlier run of the agent: the newest
 * instance of each container is adopted, older ones removed. */
static void
adopt(struct kpod *p)
{
    struct kubelet *k = p->k;
    struct runtime_status *st = NULL;
    size_t n = 0;
    struct k3c_err err = {0};
    bool any_app = false;

    if (runtime_list(k->rt, &st, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *ann = NULL;
        const char *name, *rc, *init;
        struct kctr *c;
        int restart;

        if (strcmp(st[i].pod_uid, p->uid) != 0)
            continue;
        ann = runtime_annotations(k->rt, st[i].id, &err);
        name = json_string_value(json_object_get(ann, "io.kubernetes.container.name"));
        rc = json_string_value(json_object_get(ann, "io.kubernetes.container.restartCount"));
        init = json_string_value(json_object_get(ann, "io.kubernetes.container.init"));
        c = name ? ctr_find(p, name, init && strcmp(init, "true") == 0) : NULL;
        restart = rc ? atoi(rc) : 0;
        k3c_err_clear(&err);
        if (!c) {
            instance_remove(p, st[i].id);
            continue;
        }
        if (c->id[0] && c->restart_count > restart) {
            instance_remove(p, st[i].id);
            continue;
        }
        if (c->id[0])
            instance_remove(p, c->id);
        snprintf(c->id, sizeof(c->id), "%s", st[i].id);
        c->restart_count = restart;
        c->st = st[i];
        c->have_st = true;
    }
    free(st);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        if (!c->id[0])
            continue;
        log_info("(pod %s/%s) adopted container %s (%s, restarts %d, %s)", p->ns, p->name, c->name,
                 c->id, c->restart_count, runtime_state_name(c->st.state));
        c->img = image_store_get(k->images, image_ref_of(c), &err);
        k3c_err_clear(&err);
        if (c->st.state == RUNTIME_STATE_RUNNING)
            c->running_since_ms = k3c_now_ms() - (k3c_wall_ms() - c->st.started_ms);
        probes_reset(c, c->running_since_ms);
        if (c->init && c->st.state == RUNTIME_STATE_STOPPED && c->st.exit_code == 0)
            c->done = true;
        if (!c->init)
            any_app = true;
    }
    for (size_t i = 0; any_app && i < p->n_init; i++)
        p->ctrs[i].done = true;
}

/* lastState and startTime from the status an earlier run wrote. */
static void
adopt_status(struct kpod *p, json_t *pod)
{
    json_t *status = json_object_get(pod, "status");
    const char *start = json_string_value(json_object_get(status, "startTime"));
    const char *lists[] = {"initContainerStatuses", "containerStatuses"};

    if (start)
        snprintf(p->start_time, sizeof(p->start_time), "%s", start);
    for (int l = 0; l < 2; l++) {
        json_t *cs;
        size_t i;

        json_array_foreach(json_object_get(status, lists[l]), i, cs)
        {
            const char *name = json_string_value(json_object_get(cs, "name"));
            struct kctr *c = name ? ctr_find(p, name, l == 0) : NULL;
            json_t *last = json_object_get(cs, "lastState");

            if (c && c->id[0] && json_object_get(last, "terminated"))
                c->last_state = json_incref(last);
        }
    }
}

/* ---- the sandbox -------------------------------------------------------------- */

static int
sandbox_adopt(struct kpod *p)
{
    _cleanup_free_ char *ns = net_pod_netns_path(&p->k->net, p->uid);
    _cleanup_free_ char *ipf = k3c_xasprintf("%s/%s/pod-ip", p->k->pods_dir, p->uid);
    _cleanup_free_ char *ip = NULL;
    struct k3c_err err = {0};

    if (!ns || !net_netns_is_pinned(ns) || k3c_read_file(ipf, &ip, NULL, &err) < 0)
        return -1;
    snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", ip);
    p->pod_ip[strcspn(p->pod_ip, "\n")] = '\0';
    p->sandbox_ready = true;
    return 0;
}

/* containers[].ports[] with a hostPort, for CNI portmap. Strings are
 * borrowed from spec_pod. */
static size_t
host_ports(struct kpod *p, struct net_port_mapping *out, size_t max)
{
    size_t n = 0;

    for (size_t i = p->n_init; i < p->n_ctrs; i++) {
        json_t *port;
        size_t j;

        json_array_foreach(json_object_get(p->ctrs[i].spec, "ports"), j, port)
        {
            const char *proto = json_string_value(json_object_get(port, "protocol"));
            int64_t hp = json_int_or(port, "hostPort", 0);

            if (hp <= 0 || n == max)
                continue;
            out[n++] = (struct net_port_mapping){
                .host_port = (int)hp,
                .container_port = (int)json_int_or(port, "containerPort", hp),
                .protocol = !proto || strcmp(proto, "TCP") == 0 ? "tcp"
                            : strcmp(proto, "UDP") == 0         ? "udp"
                                                                : "sctp",
                .host_ip = json_string_value(json_object_get(port, "hostIP"))};
        }
    }
    return n;
}

static int
sandbox_setup(struct kpod *p, struct k3c_err *err)
{
    struct kubelet *k = p->k;
    _cleanup_free_ char *dir = kubelet_pod_dir(k, p->uid);
    _cleanup_free_ char *ipf = k3c_xasprintf("%s/pod-ip", dir);
    struct net_port_mapping ports[64];
    struct net_pod_opts o = {.namespace = p->ns, .name = p->name, .ports = ports};
    struct net_pod_result res;

    o.n_ports = host_ports(p, ports, K3C_ARRAY_SIZE(ports));
    if (k3c_mkdir_p(dir, 0700, err) < 0)
        return -1;
    if (host_network(p->spec_pod)) {
        snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", k->node_ip);
        p->sandbox_ready = true;
        return 0;
    }
    if (net_pod_setup(&k->net, p->uid, &o, &res, err) < 0) {
        if (err->kind != K3C_E_EXISTS)
            return -1;
        /* A half-made sandbox of an earlier run: start over. */
        k3c_err_clear(err);
        if (net_pod_teardown(&k->net, p->uid, err) < 0 ||
            net_pod_setup(&k->net, p->uid, &o, &res, err) < 0)
            return -1;
    }
    snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", res.ip);
    if (k3c_write_file(ipf, res.ip, strlen(res.ip), 0600, err) < 0)
        return -1;
    p->sandbox_ready = true;
    log_info("(pod %s/%s) sandbox ready, IP %s", p->ns, p->name, p->pod_ip);
    return 0;
}

/* ---- images ----------------------------------------------------------------------- */

/* Upstream's default: Always for :latest or no tag, else IfNotPresent. */
static const char *
pull_policy(const struct kctr *c)
{
    const char *pol = json_string_value(json_object_get(c->spec, "imagePullPolicy"));
    struct image_ref r;
    struct k3c_err err = {0};
    bool latest;

    if (pol)
        return pol;
    if (!image_ref_of(c) || image_ref_parse(image_ref_of(c), &r, &err) < 0)
        return "IfNotPresent";
    latest = !r.digest && (!r.tag || strcmp(r.tag, "latest") == 0);
    image_ref_fini(&r);
    return latest ? "Always" : "IfNotPresent";
}

static int64_t
backoff_next(struct kubelet *k, int64_t cur)
{
    if (cur <= 0)
        return k->backoff_base_ms;
    return cur * 2 > KUBELET_BACKOFF_MAX_MS ? KUBELET_BACKOFF_MAX_MS : cur * 2;
}

static struct image *
ensure_image(struct kpod *p, struct kctr *c)
{
    struct kubelet *k = p->k;
    const char *ref = image_ref_of(c), *pol = pull_policy(c);
    struct k3c_err err = {0};
    struct image *img;
    int64_t now = k3c_now_ms();

    if (!ref) {
        set_waiting(c, "InvalidImageName", "no image given");
        return NULL;
    }
    if (strcmp(pol, "Always") != 0) {
        img = image_store_get(k->images, ref, &err);
        if (img) {
            kubelet_event(p, c, "Normal", "Pulled",
                          "Container image \"%s\" already present on machine", ref);
            return img;
        }
        k3c_err_clear(&err);
        if (strcmp(pol, "Never") == 0) {
            set_waiting(c, "ErrImageNeverPull",
                        "Container image \"%s\" is not present with pull policy of Never", ref);
            kubelet_event(p, c, "Warning", "ErrImageNeverPull", "%s", c->waiting_message);
            c->next_start_ms = now + k->backoff_base_ms;
            return NULL;
        }
    }
    kubelet_event(p, c, "Normal", "Pulling", "Pulling image \"%s\"", ref);
    img = image_store_pull(k->images, ref, &err);
    malloc_trim(0); /* a pull's buffers (TLS, decompression) are not needed again */
    if (img) {
        c->pull_backoff_ms = 0;
        kubelet_event(p, c, "Normal", "Pulled", "Successfully pulled image \"%s\" in %.3fs", ref,
                      (double)(k3c_now_ms() - now) / 1000);
        return img;
    }
    log_warn("(pod %s/%s) pull %s: %s", p->ns, p->name, ref, err.msg);
    set_waiting(c, err.kind == K3C_E_INVALID ? "InvalidImageName" : "ErrImagePull", "%s", err.msg);
    kubelet_event(p, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref, err.msg);
    kubelet_event(p, c, "Warning", "Failed", "Error: %s", c->waiting_reason);
    c->pull_backoff_ms = backoff_next(k, c->pull_backoff_ms);
    c->next_pull_ms = now + 2 * k->sync_period_ms; /* ErrImagePull shows this long */
    c->next_start_ms = now + c->pull_backoff_ms;
    return NULL;
}

/* ---- starting a container ------------------------------------------------------------ */

/* The API's configMaps and secrets for podspec (node credentials). */
static json_t *
fetch_object(void *ud, const char *plural, const char *ns, const char *name, struct k3c_err *err)
{
    struct kubelet *k = ud;
    _cleanup_free_ char *path = ns && *ns
                                    ? k3c_xasprintf("/api/v1/namespaces/%s/%s/%s", ns, plural, name)
                                    : k3c_xasprintf("/api/v1/%s/%s", plural, name);
    json_t *obj = NULL;
    long st = kubelet_api(k, "GET", path, NULL, NULL, &obj, err);

    if (st == 200)
        return obj;
    json_decref(obj);
    if (st == 404) {
        k3c_err_clear(err);
        k3c_err_set(err, K3C_E_NOT_FOUND, "%.*s \"%s\" not found", (int)strlen(plural) - 1, plural,
                    name);
    }
    return NULL;
}

/* A token for the pod's service account, bound to the pod (TokenRequest as
 * the node; issue #15). */
static char *
request_token(void *ud, const json_t *pod, const char *audience, int64_t expiration_s,
              struct k3c_err *err)
{
    struct kubelet *k = ud;
    const json_t *meta = json_object_get(pod, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    const char *sa =
        json_string_value(json_object_get(json_object_get(pod, "spec"), "serviceAccountName"));
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *body = NULL, *out = NULL;
    const char *token;
    long st;

    if (!ns || !name || !uid) {
        k3c_err_set(err, K3C_E_INVALID, "pod without namespace, name or uid");
        return NULL;
    }
    path = k3c_xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns,
                         sa && *sa ? sa : "default");
    body = json_pack("{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
                     "authentication.k8s.io/v1", "kind", "TokenRequest", "spec",
                     "expirationSeconds", (json_int_t)expiration_s, "boundObjectRef", "kind", "Pod",
                     "apiVersion", "v1", "name", name, "uid", uid);
    if (audience && *audience)
        json_object_set_new(json_object_get(body, "spec"), "audiences", json_pack("[s]", audience));
    st = kubelet_api(k, "POST", path, NULL, body, &out, err);
    token = json_string_value(json_object_get(json_object_get(out, "status"), "token"));
    if (st == 201 && token)
        return k3c_xstrdup(token);
    if (st >= 0 && !err->kind)
        k3c_err_set(err, K3C_E_UNAVAILABLE, "service account token: HTTP %ld", st);
    return NULL;
}

/* The API's own Service in every container, as upstream's kubelet adds it
 * for the master service (the official clients' in-cluster config reads
 * KUBERNETES_SERVICE_HOST/PORT). Not added where the container sets them. */
static char **
env_with_kubernetes_service(char **env)
{
    static const char *const vars[] = {
        "KUBERNETES_SERVICE_HOST=10.43.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "KUBERNETES_SERVICE_PORT_HTTPS=443",
        "KUBERNETES_PORT=tcp://10.43.0.1:443",
        "KUBERNETES_PORT_443_TCP=tcp://10.43.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO=tcp",
        "KUBERNETES_PORT_443_TCP_PORT=443",
        "KUBERNETES_PORT_443_TCP_ADDR=10.43.0.1",
    };
    size_t n = podspec_strv_len((const char *const *)env);

    for (size_t v = 0; v < K3C_ARRAY_SIZE(vars); v++) {
        size_t klen = strcspn(vars[v], "=") + 1;
        bool set = false;

        for (size_t i = 0; i < n && !set; i++)
            set = strncmp(env[i], vars[v], klen) == 0;
        if (set)
            continue;
        env = k3c_xrealloc(env, (n + 2) * sizeof(char *));
        env[n++] = k3c_xstrdup(vars[v]);
        env[n] = NULL;
    }
    return env;
}

/* HOSTNAME=<pod name> unless the container sets it (as containerd does). */
static char **
env_with_hostname(char **env, const char *name)
{
    size_t n = podspec_strv_len((const char *const *)env);

    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], "HOSTNAME=", 9) == 0)
            return env;
    env = k3c_xrealloc(env, (n + 2) * sizeof(char *));
    env[n] = k3c_xasprintf("HOSTNAME=%s", name);
    env[n + 1] = NULL;
    return env;
}

static char *
log_path(struct kpod *p, const struct kctr *c, struct k3c_err *err)
{
    _cleanup_free_ char *dir =
        k3c_xasprintf("%s/%s_%s_%s/%s", p->k->logs_dir, p->ns, p->name, p->uid, c->name);

    if (k3c_mkdir_p(dir, 0755, err) < 0)
        return NULL;
    return k3c_xasprintf("%s/%d.log", dir, c->restart_count);
}

/* The pod's /etc/resolv.conf by its dnsPolicy (podspec_dns.c). The host's
 * file is reread each time: it may change under a running node. */
static int
pod_resolv_file(struct kpod *p, const char *dir, char **resolv_file, struct k3c_err *err)
{
    struct kubelet *k = p->k;
    struct k3c_err ignored = {0};
    _cleanup_free_ char *host = NULL, *text = NULL;

    if (k->before_pod)
        k->before_pod(k->before_pod_ud);
    if (k3c_read_file(k->resolv_conf, &host, NULL, &ignored) < 0)
        host = NULL; /* no host resolv.conf: Default pods get an empty one, as upstream */
    struct podspec_dns_config dc = {
        .cluster_dns = k->cluster_dns, .cluster_domain = k->cluster_domain, .host_resolv = host};
    text = podspec_resolv_conf(p->spec_pod, &dc);
    *resolv_file = k3c_xasprintf("%s/etc-resolv.conf", dir);
    return k3c_write_file(*resolv_file, text, strlen(text), 0644, err);
}

/* /etc/hostname, /etc/hosts and /etc/resolv.conf for the pod. */
static int
pod_etc_files(struct kpod *p, char **hostname_file, char **hosts_file, char **resolv_file,
              struct k3c_err *err)
{
    _cleanup_free_ char *dir = kubelet_pod_dir(p->k, p->uid);
    _cleanup_free_ char *hn = k3c_xasprintf("%s\n", p->name);
    _cleanup_free_ char *hosts =
        k3c_xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n",
                      p->pod_ip[0] ? p->pod_ip : "127.0.1.1", p->name);

    *hostname_file = k3c_xasprintf("%s/etc-hostname", dir);
    *hosts_file = k3c_xasprintf("%s/etc-hosts", dir);
    if (k3c_mkdir_p(dir, 0700, err) < 0 ||
        k3c_write_file(*hostname_file, hn, strlen(hn), 0644, err) < 0 ||
        k3c_write_file(*hosts_file, hosts, strlen(hosts), 0644, err) < 0 ||
        pod_resolv_file(p, dir, resolv_file, err) < 0)
        return -1;
    return 0;
}

/* When the pod's projected service-account tokens are written again
 * (upstream's token manager: 80% of their TTL, at most token_max_age_s). */
static void
token_refresh_schedule(struct kpod *p)
{
    int64_t after = podspec_token_refresh_after_s(p->spec_pod, p->k->token_max_age_s);

    p->token_refresh_ms = after < 0 ? 0 : k3c_now_ms() + after * 1000;
}

/* Writes the tokens again in a running pod: the atomic writer swaps ..data,
 * so containers see the new token file (issue #15). On failure (the API
 * away, the service account gone) it tries again in 30 s: the old token
 * stays valid meanwhile, and a failing pod must not log every second. */
static void
token_refresh(struct kpod *p)
{
    struct podspec_ctx ctx = {.pod = p->spec_pod,
                              .pod_ip = p->pod_ip,
                              .host_ip = p->k->node_ip,
                              .node_name = p->k->node_name,
                              .fetch = fetch_object,
                              .fetch_ud = p->k,
                              .token = request_token,
                              .token_ud = p->k};
    _cleanup_free_ char *pod_dir = kubelet_pod_dir(p->k, p->uid);
    struct k3c_err err = {0};

    if (!p->token_refresh_ms || k3c_now_ms() < p->token_refresh_ms)
        return;
    if (podspec_volumes_refresh_tokens(&ctx, pod_dir, &err) < 0) {
        log_warn("(pod %s/%s) service-account token refresh: %s", p->ns, p->name, err.msg);
        p->token_refresh_ms = k3c_now_ms() + 30000;
        return;
    }
    log_info("(pod %s/%s) service-account token refreshed", p->ns, p->name);
    token_refresh_schedule(p);
}

/* Volumes, mounts, environment, argv, resources and securityContext of one
 * instance, then create + start. */
static int
start_instance(struct kpod *p, struct kctr *c, struct image *img, const char *id,
               struct k3c_err *err)
{
    struct kubelet *k = p->k;
    _cleanup_free_ char *dir = container_dir(p, id), *rootfs = NULL, *logp = NULL;
    _cleanup_free_ char *pod_dir = kubelet_pod_dir(k, p->uid);
    _cleanup_free_ char *hostname_file = NULL, *hosts_file = NULL, *netns = NULL;
    _cleanup_free_ char *resolv_file = NULL;
    _cleanup_free_ char *restart = k3c_xasprintf("%d", c->restart_count);
    struct podspec_ctx ctx = {.pod = p->spec_pod,
                              .pod_ip = p->pod_ip,
                              .host_ip = k->node_ip,
                              .node_name = k->node_name,
                              .fetch = fetch_object,
                              .fetch_ud = k,
                              .token = request_token,
                              .token_ud = k};
    struct podspec_volumes vols = {0};
    struct podspec_security sec = {0};
    struct runtime_mount *mounts = NULL;
    size_t n_mounts = 0;
    char **env = NULL, **args = NULL;
    bool hostnet = host_network(p->spec_pod), have_sec = false, mounted = false;
    const char *ann[] = {"io.kubernetes.pod.namespace",
                         p->ns,
                         "io.kubernetes.pod.name",
                         p->name,
                         "io.kubernetes.pod.uid",
                         p->uid,
                         "io.kubernetes.container.name",
                         c->name,
                         "io.kubernetes.container.restartCount",
                         restart,
                         c->init ? "io.kubernetes.container.init" : NULL,
                         "true",
                         NULL};
    const char *cwd = json_string_value(json_object_get(c->spec, "workingDir"));
    struct runtime_spec spec = {0};
    struct kdevices devs = {0};
    int rc = -1;

    if (kubelet_runtime_handler(p, &spec.runtime_path, &devs.nvidia_runtime, err) < 0 ||
        kubelet_devices_prepare(p, c, &devs, err) < 0)
        return -1;

    env = podspec_env_build(&ctx, c->spec, (const char *const *)img->config.env, err);
    if (!env)
        goto out;
    env = env_with_hostname(env, p->name);
    env = env_with_kubernetes_service(env);
    args =
        podspec_container_args(c->spec, (const char *const *)img->config.entrypoint,
                               (const char *const *)img->config.cmd, (const char *const *)env, err);
    if (!args || podspec_container_resources(c->spec, &spec.resources, err) < 0)
        goto out;
    if (podspec_volumes_prepare(&ctx, pod_dir, &vols, err) < 0) {
        k3c_err_wrap(err, "MountVolume.SetUp failed");
        goto out;
    }
    token_refresh_schedule(p);
    if (podspec_volume_mounts(&vols, c->spec, (const char *const *)env, &mounts, &n_mounts, err) <
            0 ||
        !(logp = log_path(p, c, err)) ||
        pod_etc_files(p, &hostname_file, &hosts_file, &resolv_file, err) < 0)
        goto out;
    if (image_rootfs_prepare(k->images, img, dir, &rootfs, err) < 0)
        goto out;
    mounted = true;
    if (podspec_security_build(p->spec_pod, c->spec, img->config.user, rootfs, &sec, err) < 0)
        goto out;
    have_sec = true;
    mounts = k3c_xrealloc(mounts, (n_mounts + 3) * sizeof(*mounts));
    mounts[n_mounts++] = (struct runtime_mount){.source = k3c_xstrdup(hostname_file),
                                                .destination = k3c_xstrdup("/etc/hostname")};
    mounts[n_mounts++] = (struct runtime_mount){.source = k3c_xstrdup(hosts_file),
                                                .destination = k3c_xstrdup("/etc/hosts")};
    mounts[n_mounts++] = (struct runtime_mount){.source = k3c_xstrdup(resolv_file),
                                                .destination = k3c_xstrdup("/etc/resolv.conf")};
    if (!hostnet)
        netns = net_pod_netns_path(&k->net, p->uid);
    spec.id = id;
    spec.pod_uid = p->uid;
    spec.name = c->name;
    spec.rootfs = rootfs;
    spec.args = (const char *const *)args;
    spec.env = (const char *const *)env;
    spec.cwd = cwd && *cwd ? cwd : img->config.working_dir;
    podspec_security_apply(&sec, &spec);
    spec.hostname = hostnet ? NULL : p->name;
    spec.ns.host_network = hostnet;
    spec.ns.net_path = netns;
    spec.mounts = mounts;
    spec.n_mounts = n_mounts;
    spec.annotations = ann;
    spec.log_path = logp;
    spec.tty = json_is_true(json_object_get(c->spec, "tty"));
    spec.stdin_open = json_is_true(json_object_get(c->spec, "stdin"));
    spec.edit_oci = kubelet_devices_edit;
    spec.edit_oci_ud = &devs;
    rc = runtime_run(k->rt, &spec, err);
out:
    if (rc < 0 && mounted) {
        struct k3c_err e2 = {0};

        image_rootfs_release(dir, &e2);
        kubelet_rmtree(dir);
    }
    if (have_sec)
        podspec_security_fini(&sec);
    podspec_mounts_free(mounts, n_mounts);
    podspec_volumes_fini(&vols);
    podspec_strv_free(env);
    podspec_strv_free(args);
    kubelet_devices_fini(&devs);
    return rc;
}

/* The pod network, made before the first container starts (or again
 * when a container must start and the sandbox is not there). */
static bool
ensure_sandbox(struct kpod *p)
{
    struct k3c_err err = {0};

    if (p->sandbox_ready)
        return true;
    if (k3c_now_ms() < p->next_sandbox_ms)
        return false;
    if (sandbox_setup(p, &err) < 0) {
        log_warn("(pod %s/%s) pod network: %s", p->ns, p->name, err.msg);
        if (!p->sandbox_error)
            kubelet_event(p, NULL, "Warning", "FailedCreatePodSandBox",
                          "Failed to create pod sandbox: %s", err.msg);
        free(p->sandbox_error);
        p->sandbox_error = k3c_xasprintf("Failed to create pod sandbox: %s", err.msg);
        p->next_sandbox_ms = k3c_now_ms() + 5000;
        return false;
    }
    free(p->sandbox_error);
    p->sandbox_error = NULL;
    return true;
}

/* Starts the next instance of c (restart_count as it is now). */
static void
start_container(struct kpod *p, struct kctr *c)
{
    struct kubelet *k = p->k;
    struct k3c_err err = {0};
    struct runtime_status st;
    struct image *img;
    char id[29];
    int64_t now = k3c_now_ms();
    int started;

    if (!ensure_sandbox(p))
        return;
    if (now < c->next_start_ms) {
        if (c->waiting_reason && strcmp(c->waiting_reason, "ErrImagePull") == 0 &&
            now >= c->next_pull_ms) {
            set_waiting(c, "ImagePullBackOff", "Back-off pulling image \"%s\"", image_ref_of(c));
            kubelet_event(p, c, "Normal", "BackOff", "%s", c->waiting_message);
        }
        return;
    }
    img = ensure_image(p, c);
    if (!img)
        return;
    kubelet_container_id(p->uid, c->name, c->restart_count, id);
    if (runtime_status(k->rt, id, &st, &err) == 0)
        instance_remove(p, id); /* half-made by an earlier run */
    k3c_err_clear(&err);
    started = start_instance(p, c, img, id, &err);
    if (started < 0 && err.kind == K3C_E_UNAVAILABLE &&
        strstr(err.msg, "MountVolume.SetUp failed")) {
        /* a claim not bound yet (storage, issue #16): wait in ContainerCreating */
        set_waiting(c, "ContainerCreating", "%s", err.msg);
        c->next_start_ms = now + 2000;
        kubelet_event(p, c, "Warning", "FailedMount", "%s", err.msg);
        image_free(img);
        return;
    }
    if (started < 0) {
        log_warn("(pod %s/%s) start %s: %s", p->ns, p->name, c->name, err.msg);
        set_waiting(c,
                    err.kind == K3C_E_INVALID || err.kind == K3C_E_NOT_FOUND
                        ? "CreateContainerConfigError"
                        : "RunContainerError",
                    "%s", err.msg);
        c->backoff_ms = backoff_next(k, c->backoff_ms);
        c->next_start_ms = now + c->backoff_ms;
        kubelet_event(p, c, "Warning", "Failed", "Error: %s", err.msg);
        image_free(img);
        return;
    }
    image_free(c->img);
    c->img = img;
    snprintf(c->id, sizeof(c->id), "%s", id);
    set_waiting(c, NULL, NULL);
    c->exited_seen = false;
    c->running_since_ms = k3c_now_ms();
    c->have_st = runtime_status(k->rt, id, &c->st, &err) == 0;
    probes_reset(c, c->running_since_ms);
    kubelet_event(p, c, "Normal", "Created", "Created container: %s", c->name);
    kubelet_event(p, c, "Normal", "Started", "Started container %s", c->name);
    log_info("(pod %s/%s) started %s%s (%s, restarts %d)", p->ns, p->name, c->init ? "init " : "",
             c->name, id, c->restart_count);
}

/* ---- exits, restarts, probes ------------------------------------------------------------ */

static void
handle_exit(struct kpod *p, struct kctr *c)
{
    struct kubelet *k = p->k;
    const char *policy = restart_policy(p);
    bool ok = c->st.exit_code == 0, restart;
    int64_t ran = c->st.finished_ms - c->st.started_ms;

    c->exited_seen = true;
    c->ready = false;
    log_info("(pod %s/%s) %s exited with %d", p->ns, p->name, c->name, c->st.exit_code);
    if (c->init) {
        if (ok) {
            c->done = true;
            kubelet_devices_release(k, p->uid, c->name);
            return;
        }
        restart = strcmp(policy, "Never") != 0;
        if (!restart)
            p->failed_init = true;
    } else {
        restart = strcmp(policy, "Always") == 0 || (strcmp(policy, "OnFailure") == 0 && !ok);
    }
    if (!restart) {
        c->done = true;
        kubelet_devices_release(k, p->uid, c->name);
        return;
    }
    json_decref(c->last_state);
    c->last_state = kubelet_terminated_state(c);
    if (ran >= KUBELET_BACKOFF_RESET_MS)
        c->backoff_ms = 0;
    c->wait_ms = c->backoff_ms;
    if (c->wait_ms > 0)
        kubelet_event(p, c, "Warning", "BackOff",
                      "Back-off restarting failed container %s in pod %s_%s(%s)", c->name, p->name,
                      p->ns, p->uid);
    c->next_start_ms = k3c_now_ms() + c->backoff_ms;
    c->backoff_ms = backoff_next(k, c->backoff_ms);
}

static void
kill_for_restart(struct kpod *p, struct kctr *c, const char *why)
{
    int64_t grace = json_int_or(json_object_get(p->spec_pod, "spec"),
                                "terminationGracePeriodSeconds", KUBELET_DEFAULT_GRACE_S);
    struct k3c_err err = {0};

    log_info("(pod %s/%s) %s %s: restarting it", p->ns, p->name, c->name, why);
    kubelet_event(p, c, "Normal", "Killing", "Container %s %s, will be restarted", c->name, why);
    if (runtime_stop(p->k->rt, c->id, grace * 1000, &err) < 0)
        log_warn("(pod %s/%s) stop %s: %s", p->ns, p->name, c->name, err.msg);
}

static void
run_probes(struct kpod *p, struct kctr *c)
{
    struct podspec_probe_target t = {
        .rt = p->k->rt, .container_id = c->id, .pod_ip = p->pod_ip, .container = c->spec};

    for (int i = 0; i < KPROBE_N; i++) {
        struct podspec_probe_state *s = &c->probes[i];
        enum podspec_probe_result r;
        char msg[256] = "";

        if (!c->probe_spec[i] || s->done || !podspec_probe_due(s, k3c_now_ms()))
            continue;
        if (i != KPROBE_STARTUP && !c->started)
            continue;
        r = podspec_probe_run(c->probe_spec[i], &t, msg, sizeof(msg));
        if (r == PODSPEC_PROBE_FAILURE && s->fail_run == 0)
            kubelet_event(p, c, "Warning", "Unhealthy", "%s probe failed: %s", probe_names[i], msg);
        r = podspec_probe_record(s, r, k3c_now_ms());
        if (i == KPROBE_STARTUP && r == PODSPEC_PROBE_SUCCESS)
            c->started = true;
        if (i != KPROBE_READINESS && r == PODSPEC_PROBE_FAILURE) {
            kill_for_restart(p, c,
                             i == KPROBE_STARTUP ? "failed its startup probe"
                                                 : "failed its liveness probe");
            return;
        }
    }
    c->ready = c->started && (!c->probe_spec[KPROBE_READINESS] ||
                              c->probes[KPROBE_READINESS].result == PODSPEC_PROBE_SUCCESS);
}

/* One step of one container towards its desired state. */
static void
step_container(struct kpod *p, struct kctr *c)
{
    struct kubelet *k = p->k;
    struct k3c_err err = {0};

    if (c->id[0]) {
        c->have_st = runtime_status(k->rt, c->id, &c->st, &err) == 0;
        if (!c->have_st) {
            /* Gone under us: count it as a failed run. */
            c->st.state = RUNTIME_STATE_STOPPED;
            c->st.exit_code = -1;
            c->have_st = true;
        }
        if (c->st.state == RUNTIME_STATE_RUNNING) {
            if (!c->init)
                run_probes(p, c);
            return;
        }
        if (c->st.state == RUNTIME_STATE_CREATED && !c->exited_seen) {
            c->st.state = RUNTIME_STATE_STOPPED;
            c->st.exit_code = -1;
        }
        if (!c->exited_seen)
            handle_exit(p, c);
        if (c->done || p->failed_init)
            return;
        if (k3c_now_ms() < c->next_start_ms) {
            set_waiting(c, "CrashLoopBackOff",
                        "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                        (long long)(c->wait_ms / 1000), c->name, p->name, p->ns, p->uid);
            return;
        }
        instance_remove(p, c->id);
        c->id[0] = '\0';
        c->have_st = false;
        c->restart_count++;
    }
    if (!c->done)
        start_container(p, c);
}

/* Every app container has run and will not run again (or an init container
 * failed for good): the pod is Succeeded or Failed. */
static bool
pod_finished(const struct kpod *p)
{
    if (p->failed_init)
        return true;
    for (size_t i = p->n_init; i < p->n_ctrs; i++)
        if (!p->ctrs[i].done)
            return false;
    return p->n_ctrs > p->n_init;
}

/* A finished pod gives its IP back (the containers and logs stay until the
 * pod is deleted), as the kubelet stops a finished pod's sandbox. */
static void
sandbox_release(struct kpod *p)
{
    struct k3c_err err = {0};

    p->sandbox_released = true;
    if (!p->sandbox_ready || host_network(p->spec_pod))
        return;
    if (net_pod_teardown(&p->k->net, p->uid, &err) < 0)
        log_warn("(pod %s/%s) pod network teardown: %s", p->ns, p->name, err.msg);
    p->sandbox_ready = false;
    log_info("(pod %s/%s) finished: pod network released", p->ns, p->name);
}

static void
sync_pod(struct kpod *p)
{
    struct kubelet *k = p->k;
    bool init_blocked = false;

    if (!p->start_time[0])
        k3c_time_rfc3339(k3c_wall_ms() / 1000, p->start_time, sizeof(p->start_time));
    if (p->failed_init || p->sandbox_released)
        return;
    for (size_t i = 0; i < p->n_init && !init_blocked; i++) {
        step_container(p, &p->ctrs[i]);
        init_blocked = !p->ctrs[i].done;
    }
    if (init_blocked || p->failed_init)
        return;
    for (size_t i = p->n_init; i < p->n_ctrs && !kubelet_stopping(k); i++)
        step_container(p, &p->ctrs[i]);
    if (p->sandbox_ready)
        token_refresh(p);
    if (pod_finished(p))
        sandbox_release(p);
}

/* ---- termination ---------------------------------------------------------------------- */

static int64_t
grace_seconds(const json_t *pod)
{
    json_t *meta = json_object_get(pod, "metadata");

    if (!pod)
        return 2;
    return json_int_or(meta, "deletionGracePeriodSeconds",
                       json_int_or(json_object_get(pod, "spec"), "terminationGracePeriodSeconds",
                                   KUBELET_DEFAULT_GRACE_S));
}

/* Stops every container of the pod: SIGTERM, up to grace seconds, SIGKILL. */
static void
stop_all(struct kpod *p, int64_t grace_s)
{
    struct kubelet *k = p->k;
    struct runtime_status *st = NULL;
    size_t n = 0;
    struct k3c_err err = {0};
    int64_t deadline = k3c_now_ms() + grace_s * 1000;
    bool running = true;

    if (runtime_list(k->rt, &st, &n, &err) < 0) {
        log_warn("(pod %s/%s) listing containers: %s", p->ns, p->name, err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].pod_uid, p->uid) == 0 && st[i].state == RUNTIME_STATE_RUNNING) {
            kubelet_event(p, NULL, "Normal", "Killing", "Stopping container %s", st[i].name);
            runtime_kill(k->rt, st[i].id, SIGTERM, &err);
        }
    while (running && k3c_now_ms() < deadline && !kubelet_stopping(k)) {
        running = false;
        for (size_t i = 0; i < n; i++) {
            struct runtime_status s;

            if (strcmp(st[i].pod_uid, p->uid) == 0 &&
                runtime_status(k->rt, st[i].id, &s, &err) == 0 && s.state == RUNTIME_STATE_RUNNING)
                running = true;
            k3c_err_clear(&err);
        }
        if (running)
            k3c_sleep_ms(100);
    }
    for (size_t i = 0; i < n && !kubelet_stopping(k); i++)
        if (strcmp(st[i].pod_uid, p->uid) == 0)
            instance_remove(p, st[i].id);
    free(st);
}

/* Removes the pod's log directories (<ns>_<name>_<uid>; any name for
 * orphans whose name is unknown). */
static void
remove_logs(struct kpod *p)
{
    DIR *d = opendir(p->k->logs_dir);
    struct dirent *e;
    size_t ul = strlen(p->uid);

    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);

        if (l > ul + 1 && strcmp(e->d_name + l - ul, p->uid) == 0 && e->d_name[l - ul - 1] == '_') {
            _cleanup_free_ char *path = k3c_xasprintf("%s/%s", p->k->logs_dir, e->d_name);

            kubelet_rmtree(path);
        }
    }
    if (d)
        closedir(d);
}

static void
terminate(struct kpod *p, json_t *pod, bool gone)
{
    struct kubelet *k = p->k;
    _cleanup_free_ char *dir = kubelet_pod_dir(k, p->uid);
    struct k3c_err err = {0};
    int64_t grace = grace_seconds(pod);

    log_info("(pod %s/%s) stopping (grace %llds)", p->ns, p->name, (long long)grace);
    stop_all(p, grace);
    if (kubelet_stopping(k))
        return;
    kubelet_devices_release(k, p->uid, NULL);
    if (!pod || !host_network(pod)) {
        if (net_pod_teardown(&k->net, p->uid, &err) < 0)
            log_warn("(pod %s/%s) pod network teardown: %s", p->ns, p->name, err.msg);
        k3c_err_clear(&err);
    }
    if (runtime_pod_cgroup_remove(NULL, p->uid, &err) < 0)
        log_debug("(pod %s/%s) pod cgroup: %s", p->ns, p->name, err.msg);
    k3c_err_clear(&err);
    if (podspec_volumes_cleanup(dir, &err) < 0)
        log_warn("(pod %s/%s) volumes: %s", p->ns, p->name, err.msg);
    k3c_err_clear(&err);
    kubelet_rmtree(dir);
    remove_logs(p);
    if (!gone && pod) {
        _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
        _cleanup_json_ json_t *body =
            json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                      "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
        long st = kubelet_api(k, "DELETE", path, NULL, body, NULL, &err);

        if (st != 200 && st != 404 && st != 409)
            log_warn("(pod %s/%s) delete: %s", p->ns, p->name, err.msg);
    }
    log_info("(pod %s/%s) removed", p->ns, p->name);
}

/* ---- eviction (kubelet_eviction.c asks) ----------------------------------------------- */

/* Kills the pod as the kubelet's killPodFunc does for an eviction (grace 0
 * for a hard threshold), frees its local storage (writable layers,
 * emptyDir volumes) and its network; the pod stays in the API as Failed,
 * reason Evicted, and nothing of it runs again on this node. */
static void
pod_evict(struct kpod *p, char *msg, int grace_s)
{
    _cleanup_free_ char *dir = kubelet_pod_dir(p->k, p->uid);
    struct k3c_err err = {0};
    int64_t now = k3c_wall_ms();

    log_warn("(pod %s/%s) evicted: %s", p->ns, p->name, msg);
    kubelet_event(p, NULL, "Warning", "Evicted", "%s", msg);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        if (c->id[0] && runtime_status(p->k->rt, c->id, &c->st, &err) == 0)
            c->have_st = true;
        k3c_err_clear(&err);
    }
    stop_all(p, grace_s);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        if (c->id[0] && c->have_st && c->st.state != RUNTIME_STATE_STOPPED) {
            c->st.state = RUNTIME_STATE_STOPPED;
            c->st.exit_code = 137; /* killed */
            c->st.finished_ms = now;
        }
        c->done = true;
    }
    if (podspec_volumes_cleanup(dir, &err) < 0)
        log_warn("(pod %s/%s) volumes: %s", p->ns, p->name, err.msg);
    sandbox_release(p);
    p->evicted_msg = msg;
    kubelet_eviction_done(p);
}

/* A pod evicted before the agent restarted stays evicted: it runs nothing
 * and its status (Failed, Evicted) is the API's. */
static void
adopt_evicted(struct kpod *p, const json_t *pod)
{
    json_t *st = json_object_get(pod, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *msg = json_string_value(json_object_get(st, "message"));

    if (!phase || strcmp(phase, "Failed") != 0 || !reason || strcmp(reason, "Evicted") != 0)
        return;
    p->evicted_msg = k3c_xstrdup(msg ? msg : "");
    p->evicted_adopted = true;
    p->sandbox_released = true;
    for (size_t i = 0; i < p->n_ctrs; i++)
        p->ctrs[i].done = true;
    kubelet_eviction_done(p);
}

/* ---- the worker ------------------------------------------------------------------------- */

static json_t *
snapshot(struct kpod *p, bool *gone)
{
    json_t *pod;

    pthread_mutex_lock(&p->k->lock);
    pod = json_incref(p->pod);
    *gone = p->gone;
    p->dirty = false;
    pthread_mutex_unlock(&p->k->lock);
    return pod;
}

static void
pod_finish(struct kpod *p)
{
    struct kubelet *k = p->k;

    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n_pods; i++)
        if (k->pods[i] == p) {
            k->pods[i] = k->pods[--k->n_pods];
            break;
        }
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
    ctrs_free(p);
    json_decref(p->pod);
    free(p->written);
    json_decref(p->cond_times);
    json_decref(p->events);
    free(p->sandbox_error);
    free(p->evict_msg);
    free(p->evicted_msg);
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p);
}

/* The pod's spec may change only in its containers' images (the API
 * refuses the rest): the worker takes the new spec, and a running container
 * whose image changed is restarted with it, as the kubelet does. */
static void
spec_update(struct kpod *p, json_t *pod)
{
    json_t *spec = json_object_get(pod, "spec");
    json_t *init = json_object_get(spec, "initContainers"),
           *app = json_object_get(spec, "containers");
    bool changed[p->n_ctrs + 1];
    json_t *old = p->spec_pod;

    if (pod == old || json_array_size(init) != p->n_init ||
        json_array_size(init) + json_array_size(app) != p->n_ctrs)
        return;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];
        json_t *n = json_array_get(c->init ? init : app, c->init ? i : i - p->n_init);
        const char *name = json_string_value(json_object_get(n, "name"));
        const char *img = json_string_value(json_object_get(n, "image"));

        if (!name || strcmp(name, c->name) != 0)
            return;
        changed[i] = img && image_ref_of(c) && strcmp(img, image_ref_of(c)) != 0;
    }
    p->spec_pod = json_incref(pod);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        c->spec = json_array_get(c->init ? init : app, c->init ? i : i - p->n_init);
        if (!c->init) {
            c->probe_spec[KPROBE_LIVENESS] = json_object_get(c->spec, "livenessProbe");
            c->probe_spec[KPROBE_READINESS] = json_object_get(c->spec, "readinessProbe");
            c->probe_spec[KPROBE_STARTUP] = json_object_get(c->spec, "startupProbe");
        }
    }
    json_decref(old);
    for (size_t i = p->n_init; i < p->n_ctrs; i++) {
        struct kctr *c = &p->ctrs[i];

        if (!changed[i])
            continue;
        c->next_start_ms = 0; /* a new image is not a crash: no back-off */
        c->pull_backoff_ms = 0;
        if (c->id[0] && c->have_st && c->st.state == RUNTIME_STATE_RUNNING)
            kill_for_restart(p, c, "definition changed");
    }
}

/* The next sync: one sync period from now, or earlier when a back-off ends. */
static int64_t
next_wake(struct kpod *p)
{
    int64_t now = k3c_now_ms(), at = now + p->k->sync_period_ms;

    if (p->token_refresh_ms > now && p->token_refresh_ms < at)
        at = p->token_refresh_ms;

    for (size_t i = 0; i < p->n_ctrs; i++) {
        const struct kctr *c = &p->ctrs[i];

        if (!c->done && c->next_start_ms > now && c->next_start_ms < at)
            at = c->next_start_ms;
    }
    return at;
}

void *
kubelet_pod_thread(void *arg)
{
    struct kpod *p = arg;
    bool gone;
    json_t *pod = snapshot(p, &gone);

    if (pod) {
        ctrs_build(p, pod);
        adopt(p);
        adopt_status(p, pod);
        adopt_evicted(p, pod);
        if (!host_network(pod))
            sandbox_adopt(p);
    }
    for (;;) {
        struct k3c_err err = {0};

        if (gone || json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp")) {
            terminate(p, pod, gone);
            kubelet_events_flush(p);
            break;
        }
        if (!p->evicted_msg) {
            int grace = 0;
            char *msg = kubelet_eviction_take(p, &grace);

            if (msg)
                pod_evict(p, msg, grace);
        }
        sync_pod(p);
        if (!p->evicted_adopted && kubelet_status_write(p, pod, &err) < 0)
            log_debug("(pod %s/%s) status: %s", p->ns, p->name, err.msg);
        kubelet_events_flush(p);
        if (kubelet_pod_wait(p, next_wake(p)))
            break;
        json_decref(pod);
        pod = snapshot(p, &gone);
        if (pod && !gone)
            spec_update(p, pod);
    }
    json_decref(pod);
    pod_finish(p);
    return NULL;
}
