/* SPDX-License-Identifier: Apache-2.0
 * api_metrics.c - metrics.k8s.io/v1beta1 served by the API server itself,
 * as metrics-server would: NodeMetrics (nodes) and PodMetrics (pods,
 * namespaced), list and get, label selectors. A thread started on the
 * first request scrapes every node's kubelet /stats/summary (15 s apart,
 * 1.5 s while some node has only one sample) and keeps the last two
 * summaries of each node in memory; CPU usage is the rate between them
 * (cumulative usageCoreNanoSeconds over the window), memory the latest
 * working set. A pod or node with one sample only has no metrics yet. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_GROUP       "metrics.k8s.io"
#define METRICS_API_VERSION "metrics.k8s.io/v1beta1"
#define METRICS_INTERVAL_MS 15000 /* metrics-server's default resolution */
#define METRICS_RETRY_MS    1500  /* while a node has a single sample */
#define METRICS_TIMEOUT_MS  5000

struct api_metrics {
    struct api_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    /* node name -> {"prev": {"t": ms, "s": summary}, "cur": {...}} */
    json_t *nodes;
};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- scraping ---------------------------------------------------------------- */

struct node_list {
    json_t *nodes; /* array of Node objects */
};

static void
collect_node(void *ud, struct wc_entry *e)
{
    struct node_list *l = ud;
    json_t *obj = wc_entry_object(e);

    if (obj)
        json_array_append_new(l->nodes, obj);
}

static json_t *
list_nodes(struct api_server *srv)
{
    struct watch_cache *wc = api_cache_for(srv, api_resource_find("", "v1", "nodes"));
    struct node_list l = {.nodes = json_array()};

    if (wc)
        watch_cache_foreach(wc, "/registry/nodes/", collect_node, &l);
    return l.nodes;
}

static json_t *
scrape(struct api_server *srv, const json_t *node, struct k3c_err *err)
{
    _cleanup_free_ char *ip = NULL;
    struct k3c_buf body;
    json_t *summary = NULL;
    int port = 0;

    api_node_kubelet(node, &ip, &port);
    if (!ip)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "no InternalIP"), NULL;
    k3c_buf_init(&body);
    if (api_kubelet_get(srv, ip, port, "/stats/summary", METRICS_TIMEOUT_MS, &body, err) == 0) {
        summary = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        if (!summary)
            k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet %s: /stats/summary is not JSON", ip);
    }
    k3c_buf_fini(&body);
    return summary;
}

/* One round over every node; true when some node has a single sample. */
static bool
scrape_all(struct api_metrics *m)
{
    _cleanup_json_ json_t *nodes = list_nodes(m->srv);
    _cleanup_json_ json_t *seen = json_object();
    bool young = false;
    const char *name;
    json_t *node, *tmp;
    size_t i;

    json_array_foreach(nodes, i, node)
    {
        struct k3c_err err = {0};
        json_t *summary;
        json_t *slot;

        name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
        if (!name || atomic_load(&m->srv->stopping))
            continue;
        json_object_set_new(seen, name, json_true());
        summary = scrape(m->srv, node, &err);
        if (!summary) {
            log_debug("metrics: node %s: %s", name, err.msg);
            continue;
        }
        pthread_mutex_lock(&m->lock);
        slot = json_object_get(m->nodes, name);
        if (!slot) {
            slot = json_object();
            json_object_set_new(m->nodes, name, slot);
        }
        if (json_object_get(slot, "cur"))
            json_object_set(slot, "prev", json_object_get(slot, "cur"));
        json_object_set_new(slot, "cur",
                            json_pack("{s:I, s:o}", "t", (json_int_t)k3c_wall_ms(), "s", summary));
        young = young || !json_object_get(slot, "prev");
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_lock(&m->lock);
    json_object_foreach_safe(m->nodes, tmp, name, node)
    {
        if (!json_object_get(seen, name))
            json_object_del(m->nodes, name); /* the node is gone */
    }
    pthread_mutex_unlock(&m->lock);
    return young;
}

static void *
scrape_thread(void *arg)
{
    struct api_metrics *m = arg;

    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        int64_t wait_ms;

        pthread_mutex_unlock(&m->lock);
        wait_ms = scrape_all(m) ? METRICS_RETRY_MS : METRICS_INTERVAL_MS;
        pthread_mutex_lock(&m->lock);
        if (!m->stop)
            k3c_cond_wait_until(&m->wake, &m->lock, k3c_now_ms() + wait_ms);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* The collector, started on first use. */
static struct api_metrics *
metrics_get(struct api_server *srv)
{
    struct api_metrics *m;

    pthread_mutex_lock(&start_lock);
    m = srv->metrics;
    if (!m && !atomic_load(&srv->stopping)) {
        m = k3c_xcalloc(1, sizeof(*m));
        m->srv = srv;
        m->nodes = json_object();
        pthread_mutex_init(&m->lock, NULL);
        k3c_cond_init(&m->wake);
        if (pthread_create(&m->thread, NULL, scrape_thread, m) != 0) {
            log_warn("metrics: cannot start the scrape thread");
            json_decref(m->nodes);
            free(m);
            m = NULL;
        } else {
            log_info("metrics.k8s.io: scraping the kubelets every %d s",
                     METRICS_INTERVAL_MS / 1000);
            srv->metrics = m;
        }
    }
    pthread_mutex_unlock(&start_lock);
    return m;
}

void
api_metrics_fini(struct api_server *srv)
{
    struct api_metrics *m;

    pthread_mutex_lock(&start_lock);
    m = srv->metrics;
    srv->metrics = NULL;
    pthread_mutex_unlock(&start_lock);
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    json_decref(m->nodes);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}

/* ---- figures ------------------------------------------------------------------ */

/* Go's time.Duration text for a window ("15s", "14.998s", "1m0.5s"). */
static void
format_window(int64_t ms, char *buf, size_t len)
{
    char frac[8] = "";
    int64_t s = ms / 1000, rest = ms % 1000;

    if (rest) {
        snprintf(frac, sizeof(frac), ".%03lld", (long long)rest);
        for (size_t n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--)
            frac[n - 1] = '\0';
    }
    if (s >= 60)
        snprintf(buf, len, "%lldm%lld%ss", (long long)(s / 60), (long long)(s % 60), frac);
    else
        snprintf(buf, len, "%lld%ss", (long long)s, frac);
}

static json_int_t
usage_ns(const json_t *stats)
{
    return json_integer_value(
        json_object_get(json_object_get(stats, "cpu"), "usageCoreNanoSeconds"));
}

/* {"cpu": "<nanocores>n", "memory": "<KiB>Ki"} from two samples of one
 * cgroup's stats, NULL when either lacks CPU figures. */
static json_t *
usage(const json_t *prev, const json_t *cur, int64_t window_ms)
{
    const json_t *cpu_prev = json_object_get(json_object_get(prev, "cpu"), "usageCoreNanoSeconds");
    const json_t *cpu_cur = json_object_get(json_object_get(cur, "cpu"), "usageCoreNanoSeconds");
    json_int_t delta = usage_ns(cur) - usage_ns(prev);
    json_int_t ws =
        json_integer_value(json_object_get(json_object_get(cur, "memory"), "workingSetBytes"));
    char cpu[32], mem[32];

    if (!cpu_prev || !cpu_cur || window_ms <= 0)
        return NULL;
    if (delta < 0)
        delta = 0; /* a restarted cgroup */
    snprintf(cpu, sizeof(cpu), "%lldn", (long long)(delta * 1000 / window_ms));
    snprintf(mem, sizeof(mem), "%lldKi", (long long)(ws / 1024));
    return json_pack("{s:s, s:s}", "cpu", cpu, "memory", mem);
}

struct sample_pair {
    const json_t *prev, *cur; /* summaries */
    int64_t t_prev, t_cur;
};

static bool
sample_pair_of(const json_t *slot, struct sample_pair *p)
{
    const json_t *prev = json_object_get(slot, "prev"), *cur = json_object_get(slot, "cur");

    if (!prev || !cur)
        return false;
    p->prev = json_object_get(prev, "s");
    p->cur = json_object_get(cur, "s");
    p->t_prev = json_integer_value(json_object_get(prev, "t"));
    p->t_cur = json_integer_value(json_object_get(cur, "t"));
    return true;
}

static json_t *
metrics_meta(const char *ns, const char *name, const json_t *labels, int64_t now_ms)
{
    char ts[40];
    json_t *meta;

    k3c_time_rfc3339(now_ms / 1000, ts, sizeof(ts));
    meta = json_pack("{s:s, s:s}", "name", name, "creationTimestamp", ts);
    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    if (labels && json_object_size(labels))
        json_object_set(meta, "labels", (json_t *)labels);
    return meta;
}

static json_t *
node_item(const char *name, const struct sample_pair *p, const json_t *labels)
{
    int64_t window = p->t_cur - p->t_prev;
    json_t *u = usage(json_object_get(p->prev, "node"), json_object_get(p->cur, "node"), window);
    char ts[40], win[32];

    if (!u)
        return NULL;
    k3c_time_rfc3339(p->t_cur / 1000, ts, sizeof(ts));
    format_window(window, win, sizeof(win));
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}", "kind", "NodeMetrics", "apiVersion",
                     METRICS_API_VERSION, "metadata",
                     metrics_meta(NULL, name, labels, k3c_wall_ms()), "timestamp", ts, "window",
                     win, "usage", u);
}

static const json_t *
find_pod(const json_t *summary, const char *uid)
{
    size_t i;
    json_t *pod;

    json_array_foreach(json_object_get(summary, "pods"), i, pod)
    {
        const char *u = json_string_value(json_object_get(json_object_get(pod, "podRef"), "uid"));

        if (u && strcmp(u, uid) == 0)
            return pod;
    }
    return NULL;
}

static const json_t *
find_container(const json_t *pod, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(pod, "containers"), i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));

        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

/* A PodMetrics from the pod's entries in two summaries; NULL when some
 * container has no rate yet (metrics-server leaves such pods out). */
static json_t *
pod_item(const json_t *pod_cur, const json_t *pod_prev, const struct sample_pair *p,
         const json_t *labels)
{
    const json_t *ref = json_object_get(pod_cur, "podRef");
    int64_t window = p->t_cur - p->t_prev;
    json_t *containers = json_array(), *c;
    char ts[40], win[32];
    size_t i;

    json_array_foreach(json_object_get(pod_cur, "containers"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *u = name ? usage(find_container(pod_prev, name), c, window) : NULL;

        if (!u) {
            json_decref(containers);
            return NULL;
        }
        json_array_append_new(containers, json_pack("{s:s, s:o}", "name", name, "usage", u));
    }
    if (!json_array_size(containers)) {
        json_decref(containers);
        return NULL;
    }
    k3c_time_rfc3339(p->t_cur / 1000, ts, sizeof(ts));
    format_window(window, win, sizeof(win));
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}", "kind", "PodMetrics", "apiVersion",
                     METRICS_API_VERSION, "metadata",
                     metrics_meta(json_string_value(json_object_get(ref, "namespace")),
                                  json_string_value(json_object_get(ref, "name")), labels,
                                  k3c_wall_ms()),
                     "timestamp", ts, "window", win, "containers", containers);
}

/* ---- requests ------------------------------------------------------------------ */

bool
api_metrics_handles(const struct api_request *r)
{
    return r->res && strcmp(r->res->group, METRICS_GROUP) == 0;
}

/* The live object's labels (from the watch cache), or NULL when it is gone. */
static struct wc_entry *
live_entry(struct api_server *srv, const char *plural, const char *ns, const char *name)
{
    const struct api_resource *res = api_resource_find("", "v1", plural);
    _cleanup_free_ char *key = api_object_key(res, ns, name);
    struct watch_cache *wc = api_cache_for(srv, res);

    return wc ? watch_cache_get(wc, key) : NULL;
}

struct query {
    struct api_request *r;
    struct label_selector *sel;
    json_t *items;
};

static void
add_nodes(struct api_metrics *m, struct query *q)
{
    const char *name;
    json_t *slot;

    json_object_foreach(m->nodes, name, slot)
    {
        struct sample_pair p;
        struct wc_entry *e;
        _cleanup_json_ json_t *labels = NULL;
        json_t *item;

        if ((q->r->name && strcmp(q->r->name, name) != 0) || !sample_pair_of(slot, &p))
            continue;
        e = live_entry(m->srv, "nodes", NULL, name);
        if (e && (!q->sel || label_selector_matches_entry(q->sel, e)) &&
            (item = node_item(name, &p, labels = wc_entry_labels(e))))
            json_array_append_new(q->items, item);
        wc_entry_unref(e);
    }
}

static void
add_pods(struct api_metrics *m, struct query *q)
{
    const char *node;
    json_t *slot, *pod;
    size_t i;

    json_object_foreach(m->nodes, node, slot)
    {
        struct sample_pair p;

        if (!sample_pair_of(slot, &p))
            continue;
        json_array_foreach(json_object_get(p.cur, "pods"), i, pod)
        {
            const json_t *ref = json_object_get(pod, "podRef");
            const char *ns = json_string_value(json_object_get(ref, "namespace"));
            const char *name = json_string_value(json_object_get(ref, "name"));
            const char *uid = json_string_value(json_object_get(ref, "uid"));
            const json_t *prev = uid ? find_pod(p.prev, uid) : NULL;
            struct wc_entry *e;
            _cleanup_json_ json_t *labels = NULL;
            json_t *item;

            if (!ns || !name || !prev || (q->r->namespace && strcmp(q->r->namespace, ns) != 0) ||
                (q->r->name && strcmp(q->r->name, name) != 0))
                continue;
            e = live_entry(m->srv, "pods", ns, name);
            if (e && (!q->sel || label_selector_matches_entry(q->sel, e)) &&
                (item = pod_item(pod, prev, &p, labels = wc_entry_labels(e))))
                json_array_append_new(q->items, item);
            wc_entry_unref(e);
        }
    }
}

int
api_metrics_serve(struct api_request *r)
{
    struct api_metrics *m = metrics_get(r->srv);
    bool nodes = strcmp(r->res->plural, "nodes") == 0;
    const char *sel_text = api_query(r, "labelSelector");
    struct query q = {.r = r, .items = json_array()};
    struct k3c_err err = {0};
    json_t *body;

    if (strcmp(r->method, "GET") != 0 || r->subresource) {
        json_decref(q.items);
        return api_reply_status_code(r, 405, "MethodNotAllowed",
                                     "the server does not allow this method on the requested "
                                     "resource");
    }
    if (sel_text && *sel_text && !(q.sel = label_selector_parse(sel_text, &err))) {
        json_decref(q.items);
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
    }
    if (m) {
        pthread_mutex_lock(&m->lock);
        if (nodes)
            add_nodes(m, &q);
        else
            add_pods(m, &q);
        pthread_mutex_unlock(&m->lock);
    }
    label_selector_free(q.sel);
    if (r->name) {
        body = json_incref(json_array_get(q.items, 0));
        json_decref(q.items);
        if (!body)
            return api_reply_status(r, K3C_E_NOT_FOUND, r->name, r->res->plural,
                                    "%s.%s \"%s\" not found", r->res->plural, METRICS_GROUP,
                                    r->name);
        return api_reply_json_take(r, 200, body);
    }
    body = json_pack("{s:s, s:s, s:{}, s:o}", "kind", nodes ? "NodeMetricsList" : "PodMetricsList",
                     "apiVersion", METRICS_API_VERSION, "metadata", "items", q.items);
    return api_reply_json_take(r, 200, body);
}

/* ---- table columns (kubectl get nodes.metrics.k8s.io) ------------------------ */

const struct api_column api_columns_metrics_node[] = {
    {"Name", "string", "name", "Name of the node", 0},
    {"CPU", "string", "", "CPU usage over the window", 0},
    {"Memory", "string", "", "Working set", 0},
    {"Window", "string", "", "Time the CPU usage was measured over", 0},
    {NULL, NULL, NULL, NULL, 0},
};

const struct api_column api_columns_metrics_pod[] = {
    {"Name", "string", "name", "Name of the pod", 0},
    {"Containers", "integer", "", "Containers measured", 0},
    {"Window", "string", "", "Time the CPU usage was measured over", 0},
    {NULL, NULL, NULL, NULL, 0},
};

json_t *
api_row_metrics_node(const json_t *obj, int64_t now_s)
{
    const json_t *u = json_object_get(obj, "usage");

    (void)now_s;
    return json_pack("[s, s, s, s]",
                     json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"))
                         ?: "",
                     json_string_value(json_object_get(u, "cpu")) ?: "",
                     json_string_value(json_object_get(u, "memory")) ?: "",
                     json_string_value(json_object_get(obj, "window")) ?: "");
}

json_t *
api_row_metrics_pod(const json_t *obj, int64_t now_s)
{
    (void)now_s;
    return json_pack("[s, I, s]",
                     json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"))
                         ?: "",
                     (json_int_t)json_array_size(json_object_get(obj, "containers")),
                     json_string_value(json_object_get(obj, "window")) ?: "");
}
