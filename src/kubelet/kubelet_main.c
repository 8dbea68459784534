/* SPDX-License-Identifier: Apache-2.0
 * kubelet_main.c - the pod manager: setup (image store, runtime, pod
 * network settings), adoption of the containers found at start, and the
 * list + watch of the pods bound to this node (fieldSelector
 * spec.nodeName=<node>, resumed by resourceVersion, relisted on 410 or a
 * broken stream). Each pod gets a detached worker thread
 * (kubelet_pod.c); pods that vanished while the agent was down get one
 * too, which tears them down. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static char *
dup_or(const char *s, const char *def)
{
    return s ? k3c_xstrdup(s) : def ? k3c_xstrdup(def) : NULL;
}

/* The runtime and the mounts want absolute paths; --data-dir may be relative. */
static char *
absolute_path(const char *path)
{
    char cwd[4096];

    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return k3c_xstrdup(path);
    return k3c_xasprintf("%s/%s", cwd, path);
}

struct kubelet *
kubelet_new(const struct kubelet_config *cfg, struct http_client *api, struct k3c_err *err)
{
    struct kubelet *k;

    if (!cfg->data_dir || !cfg->node_name || !api) {
        k3c_err_set(err, K3C_E_INVALID, "kubelet: data dir, node name and API client required");
        return NULL;
    }
    k = k3c_xcalloc(1, sizeof(*k));
    k->data_dir = absolute_path(cfg->data_dir);
    k->node_name = k3c_xstrdup(cfg->node_name);
    k->node_ip = dup_or(cfg->node_ip, "127.0.0.1");
    k->runtime_name = dup_or(cfg->runtime, "auto");
    k->pod_cidr = dup_or(cfg->pod_cidr, KUBELET_DEFAULT_CIDR);
    k->cni_bridge = dup_or(cfg->cni_bridge, NET_POD_BRIDGE);
    k->cni_bin_dir = dup_or(cfg->cni_bin_dir, NET_CNI_PATH);
    k->netns_dir = dup_or(cfg->netns_dir, NET_NETNS_DIR);
    k->registry_config = dup_or(cfg->registry_config, NULL);
    k->cluster_dns = dup_or(cfg->cluster_dns, NULL);
    k->cluster_domain = dup_or(cfg->cluster_domain, "cluster.local");
    k->resolv_conf = dup_or(cfg->resolv_conf, "/etc/resolv.conf");
    k->before_pod = cfg->before_pod;
    k->before_pod_ud = cfg->before_pod_ud;
    k->backoff_base_ms = cfg->crash_backoff_base_ms > 0 ? cfg->crash_backoff_base_ms : 10000;
    k->sync_period_ms = cfg->sync_period_ms > 0 ? cfg->sync_period_ms : 1000;
    /* upstream's token manager maxTTL; the environment variable lets tests
     * see a refresh within seconds (docs/auth.md) */
    k->token_max_age_s = getenv("K3C_KUBELET_TOKEN_MAX_AGE_S")
                             ? strtoll(getenv("K3C_KUBELET_TOKEN_MAX_AGE_S"), NULL, 10)
                             : 0;
    if (k->token_max_age_s <= 0)
        k->token_max_age_s = 24 * 3600;
    k->log_max_bytes =
        cfg->container_log_max_bytes > 0 ? cfg->container_log_max_bytes : 10LL * 1024 * 1024;
    k->log_max_files = cfg->container_log_max_files >= 2 ? cfg->container_log_max_files : 5;
    k->log_monitor_ms = cfg->container_log_monitor_ms > 0 ? cfg->container_log_monitor_ms : 10000;
    k->gc_high_pct = cfg->image_gc_high_pct > 0 ? cfg->image_gc_high_pct : 85;
    k->gc_low_pct = cfg->image_gc_low_pct > 0 ? cfg->image_gc_low_pct : 80;
    k->gc_period_ms = cfg->image_gc_period_ms > 0 ? cfg->image_gc_period_ms : 300000;
    /* blobs younger than two periods may belong to a pull in progress */
    k->gc_grace_s = k->gc_period_ms * 2 / 1000;
    k->mtu = cfg->mtu > 0 ? cfg->mtu : 0;
    k->evict_period_ms = cfg->eviction_period_ms > 0 ? cfg->eviction_period_ms : 10000;
    k->pods_dir = k3c_xasprintf("%s/pods", k->data_dir);
    k->logs_dir = k3c_xasprintf("%s/logs", k->data_dir);
    k->images_dir = k3c_xasprintf("%s/images", k->data_dir);
    k->cni_state_dir = k3c_xasprintf("%s/cni", k->data_dir);
    k->api = api;
    pthread_mutex_init(&k->lock, NULL);
    k3c_cond_init(&k->wake);
    if (kevict_config_parse(&k->evict_cfg, cfg->eviction_hard, cfg->eviction_soft,
                            cfg->eviction_soft_grace_period, cfg->eviction_minimum_reclaim,
                            cfg->eviction_max_pod_grace_s, err) < 0 ||
        kevict_transition_parse(cfg->eviction_pressure_transition_period,
                                &k->pressure_transition_ms, err) < 0) {
        kubelet_free(k);
        return NULL;
    }
    if (cfg->cdi) {
        _cleanup_free_ char *dir = k3c_xasprintf("%s/devices", k->data_dir);
        _cleanup_free_ char *cp = k3c_xasprintf("%s/checkpoint.json", dir);

        k->cdi = cfg->cdi;
        k->dp = cfg->deviceplugins;
        if (k3c_mkdir_p(dir, 0700, err) < 0 || !(k->devalloc = cdi_alloc_new(cp, err))) {
            kubelet_free(k);
            return NULL;
        }
        k->nvidia_runtime = k3c_find_in_path("nvidia-container-runtime");
        k->nvidia_cdi_runtime = k3c_find_in_path("nvidia-container-runtime.cdi");
    }
    return k;
}

bool
kubelet_stopping(struct kubelet *k)
{
    bool s;

    pthread_mutex_lock(&k->lock);
    s = k->stopping;
    pthread_mutex_unlock(&k->lock);
    return s;
}

bool
kubelet_pod_wait(struct kpod *p, int64_t deadline_ms)
{
    struct kubelet *k = p->k;
    bool stop;

    /* A worker's deepest call (sandbox, pull, container start, a TLS
     * handshake) leaves ~28 KiB of its stack touched; idle, it needs a few. */
    k3c_thread_stack_release();
    pthread_mutex_lock(&k->lock);
    while (!k->stopping && !p->dirty && k3c_now_ms() < deadline_ms)
        k3c_cond_wait_until(&k->wake, &k->lock, deadline_ms);
    stop = k->stopping;
    pthread_mutex_unlock(&k->lock);
    return stop;
}

long
kubelet_api(struct kubelet *k, const char *method, const char *path, const char *ctype,
            const json_t *body, json_t **out, struct k3c_err *err)
{
    return http_client_json(k->api, method, path, ctype, body, out, err);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int
kubelet_rmtree(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- the pod table ---------------------------------------------------------- */

static const char *
meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* Under k->lock. */
static struct kpod *
pod_find(struct kubelet *k, const char *uid)
{
    for (size_t i = 0; i < k->n_pods; i++)
        if (strcmp(k->pods[i]->uid, uid) == 0)
            return k->pods[i];
    return NULL;
}

/* Under k->lock: adds a pod and starts its worker. pod may be NULL (an
 * orphan to tear down). */
static void
pod_add(struct kubelet *k, const char *uid, const char *ns, const char *name, json_t *pod)
{
    struct kpod *p = k3c_xcalloc(1, sizeof(*p));
    pthread_attr_t attr;
    int rc;

    p->k = k;
    p->uid = k3c_xstrdup(uid);
    p->ns = k3c_xstrdup(ns ? ns : "");
    p->name = k3c_xstrdup(name ? name : uid);
    p->pod = json_incref(pod);
    p->gone = pod == NULL;
    if (k->n_pods == k->cap_pods) {
        k->cap_pods = k->cap_pods ? 2 * k->cap_pods : 16;
        k->pods = k3c_xrealloc(k->pods, k->cap_pods * sizeof(*k->pods));
    }
    k->pods[k->n_pods++] = p;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024); /* TLS, pulls and ASan need room */
    rc = pthread_create(&p->thread, &attr, kubelet_pod_thread, p);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_error("(pod %s/%s) worker thread: %s", p->ns, p->name, strerror(rc));
        k->n_pods--;
        json_decref(p->pod);
        free(p->uid);
        free(p->ns);
        free(p->name);
        free(p);
        return;
    }
}

/* Under k->lock: the API's view of one pod. */
static void
pod_upsert(struct kubelet *k, json_t *pod)
{
    const char *uid = meta_str(pod, "uid");
    struct kpod *p;

    if (!uid)
        return;
    informer_drop_managed_fields(pod); /* the worker never reads it */
    p = pod_find(k, uid);
    if (!p) {
        pod_add(k, uid, meta_str(pod, "namespace"), meta_str(pod, "name"), pod);
        return;
    }
    json_decref(p->pod);
    p->pod = json_incref(pod);
    p->dirty = true;
    pthread_cond_broadcast(&k->wake);
}

static void
pod_gone(struct kubelet *k, const char *uid)
{
    struct kpod *p = pod_find(k, uid);

    if (p && !p->gone) {
        p->gone = true;
        p->dirty = true;
        pthread_cond_broadcast(&k->wake);
    }
}

/* ---- setup and adoption -------------------------------------------------------- */

static void
adopt_scan(struct kubelet *k)
{
    struct runtime_status *st = NULL;
    size_t n = 0;
    struct k3c_err err = {0};

    if (runtime_list(k->rt, &st, &n, &err) < 0) {
        log_warn("listing containers: %s", err.msg);
        return;
    }
    k->adopt = k3c_xcalloc(n ? n : 1, sizeof(*k->adopt));
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *ann = runtime_annotations(k->rt, st[i].id, &err);
        const char *uid = json_string_value(json_object_get(ann, "io.kubernetes.pod.uid"));
        const char *name = json_string_value(json_object_get(ann, "io.kubernetes.container.name"));
        const char *rc =
            json_string_value(json_object_get(ann, "io.kubernetes.container.restartCount"));
        const char *init = json_string_value(json_object_get(ann, "io.kubernetes.container.init"));
        struct kadopt *a;

        if (!uid || !name) {
            k3c_err_clear(&err);
            continue;
        }
        a = &k->adopt[k->n_adopt++];
        snprintf(a->id, sizeof(a->id), "%s", st[i].id);
        a->uid = k3c_xstrdup(uid);
        a->name = k3c_xstrdup(name);
        a->restart_count = rc ? atoi(rc) : 0;
        a->init = init && strcmp(init, "true") == 0;
    }
    free(st);
    if (k->n_adopt)
        log_info("found %zu containers of earlier runs", k->n_adopt);
}

/* The Node's spec.podCIDR, when the server allocated one: true if set. */
static bool
node_pod_cidr(struct kubelet *k)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", k->node_name);
    _cleanup_json_ json_t *node = NULL;
    struct k3c_err err = {0};
    const char *cidr;

    if (kubelet_api(k, "GET", path, NULL, NULL, &node, &err) != 200)
        return false;
    cidr = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
    if (!cidr || !*cidr)
        return false;
    free(k->pod_cidr);
    k->pod_cidr = k3c_xstrdup(cidr);
    return true;
}

static bool manager_wait(struct kubelet *k, int64_t ms);

/* Waits up to KUBELET_CIDR_WAIT_MS for nodeipam to give the Node its
 * spec.podCIDR (milliseconds after the registration when the controllers
 * run): two nodes on the --pod-cidr fallback would hand out the same pod
 * IPs. Without the controllers the fallback is used after the wait. */
static void
wait_pod_cidr(struct kubelet *k)
{
    int64_t deadline = k3c_now_ms() + KUBELET_CIDR_WAIT_MS;

    while (!node_pod_cidr(k)) {
        if (k3c_now_ms() >= deadline) {
            log_warn("node %s has no spec.podCIDR after %d s: pods use --pod-cidr %s", k->node_name,
                     KUBELET_CIDR_WAIT_MS / 1000, k->pod_cidr);
            return;
        }
        if (manager_wait(k, 200))
            return;
    }
}

static int
setup(struct kubelet *k, struct k3c_err *err)
{
    _cleanup_free_ char *store_dir = k3c_xasprintf("%s/store", k->images_dir);
    _cleanup_free_ char *state_dir = k3c_xasprintf("%s/containers", k->data_dir);
    struct runtime_config rc = {.runtime = k->runtime_name, .state_dir = state_dir};
    int n;

    if (k3c_mkdir_p(k->pods_dir, 0700, err) < 0 || k3c_mkdir_p(k->logs_dir, 0755, err) < 0)
        return -1;
    k->images = image_store_new(store_dir, err);
    if (!k->images)
        return k3c_err_wrap(err, "image store");
    if (k->registry_config) {
        struct image_registries *regs = image_registries_new();

        if (image_registries_load(regs, k->registry_config, err) < 0) {
            image_registries_free(regs);
            return k3c_err_wrap(err, "--registry-config");
        }
        image_store_set_registries_take(k->images, regs);
    }
    n = image_import_dir(k->images, k->images_dir, err);
    if (n < 0) {
        log_warn("importing images from %s: %s", k->images_dir, err->msg);
        k3c_err_clear(err);
    } else if (n > 0) {
        log_info("imported %d images from %s", n, k->images_dir);
    }
    k->rt = runtime_new(&rc, err);
    if (!k->rt)
        return k3c_err_wrap(err, "container runtime");
    wait_pod_cidr(k);
    k->net = (struct net_pod_config){.pod_cidr = k->pod_cidr,
                                     .netns_dir = k->netns_dir,
                                     .state_dir = k->cni_state_dir,
                                     .plugin_path = k->cni_bin_dir,
                                     .bridge = k->cni_bridge,
                                     .mtu = k->mtu};
    adopt_scan(k);
    log_info("pods run with %s, pod network %s on bridge %s", runtime_name(k->rt), k->pod_cidr,
             k->cni_bridge);
    return 0;
}

/* Adds a teardown worker for each pod uid that has containers or a pod dir
 * but is no longer in the API. Under k->lock. */
static void
orphans_add(struct kubelet *k)
{
    DIR *d;
    struct dirent *e;

    for (size_t i = 0; i < k->n_adopt; i++)
        if (!pod_find(k, k->adopt[i].uid)) {
            log_info("(pod %s) gone from the API while the agent was down: removing",
                     k->adopt[i].uid);
            pod_add(k, k->adopt[i].uid, NULL, NULL, NULL);
        }
    d = opendir(k->pods_dir);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || pod_find(k, e->d_name) || !net_name_valid(e->d_name))
            continue;
        log_info("(pod %s) left over from an earlier run: removing", e->d_name);
        pod_add(k, e->d_name, NULL, NULL, NULL);
    }
    if (d)
        closedir(d);
}

/* ---- list + watch ------------------------------------------------------------------ */

static char *
pods_path(struct kubelet *k, const char *extra)
{
    return k3c_xasprintf("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s%s", k->node_name,
                         extra ? extra : "");
}

/* Lists the node's pods into the table; *rv gets the list's revision. */
static int
relist(struct kubelet *k, char **rv, bool first, struct k3c_err *err)
{
    _cleanup_free_ char *path = pods_path(k, NULL);
    _cleanup_json_ json_t *list = NULL;
    json_t *items, *pod;
    size_t i;

    if (kubelet_api(k, "GET", path, NULL, NULL, &list, err) != 200)
        return -1;
    items = json_object_get(list, "items");
    pthread_mutex_lock(&k->lock);
    for (size_t j = 0; j < k->n_pods; j++) {
        bool found = false;

        json_array_foreach(items, i, pod) if (meta_str(pod, "uid") &&
                                              strcmp(meta_str(pod, "uid"), k->pods[j]->uid) == 0)
            found = true;
        if (!found)
            pod_gone(k, k->pods[j]->uid);
    }
    json_array_foreach(items, i, pod) pod_upsert(k, pod);
    if (first)
        orphans_add(k);
    if (first && k->devalloc) { /* devices of pods that went while the agent was down */
        char **uids = k3c_xcalloc(k->n_pods + 1, sizeof(char *));

        for (size_t j = 0; j < k->n_pods; j++)
            uids[j] = k->pods[j]->uid;
        cdi_alloc_retain(k->devalloc, uids);
        free(uids);
    }
    pthread_mutex_unlock(&k->lock);
    free(*rv);
    *rv = k3c_xstrdup(meta_str(list, "resourceVersion") ? meta_str(list, "resourceVersion") : "0");
    return 0;
}

struct watch_ctx {
    struct kubelet *k;
    struct k3c_buf line;
    char **rv;
    bool expired; /* 410: relist */
};

static void
watch_event(struct watch_ctx *w, const char *text, size_t len)
{
    _cleanup_json_ json_t *ev = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    const char *rv = meta_str(obj, "resourceVersion");

    if (!type)
        return;
    if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));

        if (code == 410)
            w->expired = true;
        else
            log_warn("pod watch error: %s", json_string_value(json_object_get(obj, "message"))
                                                ? json_string_value(json_object_get(obj, "message"))
                                                : "?");
        w->expired = true;
        return;
    }
    if (rv) {
        free(*w->rv);
        *w->rv = k3c_xstrdup(rv);
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return;
    pthread_mutex_lock(&w->k->lock);
    if (strcmp(type, "DELETED") == 0) {
        if (meta_str(obj, "uid"))
            pod_gone(w->k, meta_str(obj, "uid"));
    } else {
        pod_upsert(w->k, obj);
    }
    pthread_mutex_unlock(&w->k->lock);
}

static int
watch_chunk(void *userdata, const char *data, size_t len)
{
    struct watch_ctx *w = userdata;
    char *nl;

    k3c_buf_append(&w->line, data, len);
    while (w->line.len && (nl = memchr(w->line.data, '\n', w->line.len))) {
        size_t n = (size_t)(nl - w->line.data);

        if (n)
            watch_event(w, w->line.data, n);
        k3c_buf_consume(&w->line, n + 1);
    }
    return w->expired || kubelet_stopping(w->k);
}

static bool
manager_wait(struct kubelet *k, int64_t ms)
{
    int64_t deadline = k3c_now_ms() + ms;
    bool stop;

    pthread_mutex_lock(&k->lock);
    while (!k->stopping && k3c_now_ms() < deadline)
        k3c_cond_wait_until(&k->wake, &k->lock, deadline);
    stop = k->stopping;
    pthread_mutex_unlock(&k->lock);
    return stop;
}

static void
watch_loop(struct kubelet *k)
{
    _cleanup_free_ char *rv = NULL;
    bool need_list = true, first = true, failing = false;
    struct k3c_err err = {0};

    while (!kubelet_stopping(k)) {
        struct watch_ctx w = {.k = k, .rv = &rv};
        _cleanup_free_ char *path = NULL, *extra = NULL;
        int rc;

        if (need_list) {
            if (relist(k, &rv, first, &err) < 0) {
                if (!failing) /* once per outage */
                    log_warn("listing pods: %s", err.msg);
                failing = true;
                k3c_err_clear(&err);
                if (manager_wait(k, 1000))
                    break;
                continue;
            }
            if (failing)
                log_info("listing pods again");
            first = false;
            failing = false;
            need_list = false;
        }
        extra =
            k3c_xasprintf("&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=%s",
                          rv ? rv : "0");
        path = pods_path(k, extra);
        k3c_buf_init(&w.line);
        rc = http_stream_run(k->stream, "GET", path, NULL, 0, watch_chunk, &w, &err);
        k3c_buf_fini(&w.line);
        if (w.expired) {
            need_list = true;
            continue;
        }
        if (rc < 0) {
            if (!kubelet_stopping(k))
                log_debug("pod watch ended: %s", err.msg);
            /* A broken connection (a server that died: the client moves to
             * the next one) resumes from rv without a relist; an HTTP
             * refusal (410 Gone among them) relists. */
            need_list = err.kind != K3C_E_UNAVAILABLE;
            k3c_err_clear(&err);
            if (manager_wait(k, 1000))
                break;
        }
    }
}

/* ---- exits ------------------------------------------------------------------------ */

/* conmon writes exits/<id> when a container exits: wake every pod worker so
 * the one that owns it reacts at once instead of at its next sync. */
static void *
exits_thread(void *arg)
{
    struct kubelet *k = arg;
    _cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    if (fd < 0 ||
        inotify_add_watch(fd, runtime_exits_dir(k->rt), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        log_warn("watching %s: %s (exits are noticed by polling)", runtime_exits_dir(k->rt),
                 strerror(errno));
        return NULL;
    }
    while (!kubelet_stopping(k)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};

        if (poll(&pfd, 1, 500) <= 0)
            continue;
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
        pthread_mutex_lock(&k->lock);
        for (size_t i = 0; i < k->n_pods; i++)
            k->pods[i]->dirty = true;
        pthread_cond_broadcast(&k->wake);
        pthread_mutex_unlock(&k->lock);
    }
    return NULL;
}

static void *
manager_thread(void *arg)
{
    struct kubelet *k = arg;
    struct k3c_err err = {0};

    while (setup(k, &err) < 0) {
        log_error("pods cannot run on this node: %s (retrying in 30 s)", err.msg);
        k3c_err_clear(&err);
        image_store_free(k->images);
        k->images = NULL;
        if (manager_wait(k, 30000))
            return NULL;
    }
    k->exits_running = pthread_create(&k->exits, NULL, exits_thread, k) == 0;
    k->logrotate_running = pthread_create(&k->logrotate, NULL, kubelet_logrotate_thread, k) == 0;
    watch_loop(k);
    if (k->exits_running)
        pthread_join(k->exits, NULL);
    if (k->logrotate_running)
        pthread_join(k->logrotate, NULL);
    return NULL;
}

int
kubelet_start(struct kubelet *k, struct k3c_err *err)
{
    int rc;

    k->stream = http_stream_new(k->api);
    rc = pthread_create(&k->thread, NULL, manager_thread, k);
    if (rc != 0)
        return k3c_err_sys(err, rc, "kubelet thread");
    k->running = true;
    return 0;
}

void
kubelet_free(struct kubelet *k)
{
    if (!k)
        return;
    if (k->running) {
        pthread_mutex_lock(&k->lock);
        k->stopping = true;
        pthread_cond_broadcast(&k->wake);
        pthread_mutex_unlock(&k->lock);
        http_stream_cancel(k->stream);
        pthread_join(k->thread, NULL);
        /* Workers remove themselves from the table when they end. */
        pthread_mutex_lock(&k->lock);
        while (k->n_pods > 0)
            k3c_cond_wait_until(&k->wake, &k->lock, k3c_now_ms() + 1000);
        pthread_mutex_unlock(&k->lock);
    }
    http_stream_free(k->stream);
    for (size_t i = 0; i < k->n_adopt; i++) {
        free(k->adopt[i].uid);
        free(k->adopt[i].name);
    }
    free(k->adopt);
    free(k->pods);
    cdi_alloc_free(k->devalloc);
    free(k->nvidia_runtime);
    free(k->nvidia_cdi_runtime);
    for (size_t i = 0; i < k->gc_n_seen; i++)
        free(k->gc_seen[i].ref);
    free(k->gc_seen);
    runtime_free(k->rt);
    image_store_free(k->images);
    free(k->data_dir);
    free(k->node_name);
    free(k->node_ip);
    free(k->runtime_name);
    free(k->pod_cidr);
    free(k->cni_bridge);
    free(k->cni_bin_dir);
    free(k->netns_dir);
    free(k->registry_config);
    free(k->cluster_dns);
    free(k->cluster_domain);
    free(k->resolv_conf);
    free(k->pods_dir);
    free(k->logs_dir);
    free(k->images_dir);
    free(k->cni_state_dir);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
