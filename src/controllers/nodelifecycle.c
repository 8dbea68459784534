/* SPDX-License-Identifier: Apache-2.0
 * nodelifecycle.c - node lifecycle and NoExecute taint eviction
 * (upstream's node-lifecycle-controller with its taint manager):
 *   - every second (tick) each node's heartbeat (its kube-node-lease Lease
 *     renewTime, else its Ready condition's lastHeartbeatTime) is compared
 *     with the last one seen; a node not heard from for
 *     node_monitor_grace_period_s (on this server's monotonic clock, from
 *     when the heartbeat was last seen to change, so clock skew and a new
 *     leader never shorten the grace) gets Ready, MemoryPressure,
 *     DiskPressure and PIDPressure Unknown ("Kubelet stopped posting node
 *     status.") and its pods Ready=False;
 *   - nodes carry node.kubernetes.io/unreachable (Ready Unknown) or
 *     /not-ready (Ready False) as NoSchedule and NoExecute taints, removed
 *     when the node is Ready again;
 *   - pods on a node with a NoExecute taint they do not tolerate are deleted
 *     at once, those tolerating it with tolerationSeconds once that has
 *     passed since the taint's timeAdded (their controllers replace them).
 * Events: NodeNotReady and NodeReady (node), TaintManagerEviction (pod). Keys are node
 * names (a node's change is looked at at once, not only at the tick). */
#define LOG_COMPONENT "nodelifecycle"
#include "controllers/controllers.h"
#include "controllers/lifecycle.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define NL_TICK_MS 1000

/* What was last seen of each node's heartbeat. File-static: one manager per
 * process, used by the worker thread only; reset by start(). */
struct nl_seen {
    char *name;
    char *heartbeat;
    int64_t seen_ms; /* k3c_now_ms() when heartbeat last changed */
    unsigned gen;
};

static struct {
    struct nl_seen *v;
    size_t n;
    unsigned gen;
} seen;

static void
seen_clear(void)
{
    for (size_t i = 0; i < seen.n; i++) {
        free(seen.v[i].name);
        free(seen.v[i].heartbeat);
    }
    free(seen.v);
    memset(&seen, 0, sizeof(seen));
}

/* Records node's heartbeat hb; returns when it last changed. */
static int64_t
seen_update(const char *name, const char *hb, int64_t now_ms)
{
    struct nl_seen *s = NULL;

    for (size_t i = 0; i < seen.n && !s; i++)
        if (strcmp(seen.v[i].name, name) == 0)
            s = &seen.v[i];
    if (!s) {
        seen.v = k3c_xrealloc(seen.v, (seen.n + 1) * sizeof(*seen.v));
        s = &seen.v[seen.n++];
        *s = (struct nl_seen){k3c_xstrdup(name), k3c_xstrdup(hb ? hb : ""), now_ms, 0};
    } else if (strcmp(s->heartbeat, hb ? hb : "") != 0) {
        free(s->heartbeat);
        s->heartbeat = k3c_xstrdup(hb ? hb : "");
        s->seen_ms = now_ms;
    }
    s->gen = seen.gen;
    return s->seen_ms;
}

/* Forgets nodes not seen in this tick (deleted). */
static void
seen_sweep(void)
{
    size_t j = 0;

    for (size_t i = 0; i < seen.n; i++) {
        if (seen.v[i].gen == seen.gen) {
            seen.v[j++] = seen.v[i];
            continue;
        }
        free(seen.v[i].name);
        free(seen.v[i].heartbeat);
    }
    seen.n = j;
}

static const char *
meta_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static int
grace_ms(struct ctl *c)
{
    int s = ctl_manager_config(ctl_manager(c))->node_monitor_grace_period_s;

    return (s > 0 ? s : 40) * 1000;
}

/* ---- pods of a node -------------------------------------------------------- */

struct node_pods {
    struct ctl *c;
    const char *node;
    const json_t *taints; /* for eviction; NULL when marking not ready */
    int64_t now_ms;
};

static bool
on_node_of(const json_t *pod, const char *node)
{
    const char *n = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));

    return n && strcmp(n, node) == 0;
}

static bool
mark_pod_not_ready(void *ud, const json_t *pod)
{
    struct node_pods *np = ud;
    _cleanup_json_ json_t *conds = NULL, *patch = NULL;
    _cleanup_free_ char *path = NULL;
    struct k3c_err err = {0};
    char now[32];
    size_t i;
    json_t *cond;

    if (!on_node_of(pod, np->node) || !ctl_pod_ready(pod))
        return true;
    ctl_now_rfc3339(now, sizeof(now));
    conds = json_deep_copy(json_object_get(json_object_get(pod, "status"), "conditions"));
    json_array_foreach(conds, i, cond)
    {
        const char *t = json_string_value(json_object_get(cond, "type"));

        if (t && (strcmp(t, "Ready") == 0 || strcmp(t, "ContainersReady") == 0)) {
            json_object_set_new(cond, "status", json_string("False"));
            json_object_set_new(cond, "lastTransitionTime", json_string(now));
        }
    }
    patch = json_pack("{s:{s:O}}", "status", "conditions", conds);
    path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s/status", meta_str(pod, "namespace"),
                         meta_str(pod, "name"));
    if (ctl_api(np->c, "PATCH", path, "application/strategic-merge-patch+json", patch, NULL,
                &err) != 200)
        log_debug("(%s) marking pod %s not ready: %s", np->node, meta_str(pod, "name"), err.msg);
    return true;
}

static bool
evict_if_due(void *ud, const json_t *pod)
{
    struct node_pods *np = ud;
    const json_t *taints;
    _cleanup_free_ char *path = NULL;
    struct k3c_err err = {0};
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    int64_t at;
    long code;

    if (!node || ctl_being_deleted(pod))
        return true;
    taints = json_object_get(np->taints, node);
    if (!taints)
        return true;
    at = lc_eviction_time_ms(pod, taints);
    if (at < 0 || at > np->now_ms)
        return true;
    path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s", meta_str(pod, "namespace"),
                         meta_str(pod, "name"));
    ctl_event(np->c, pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod %s/%s",
              meta_str(pod, "namespace"), meta_str(pod, "name"));
    code = ctl_api(np->c, "DELETE", path, NULL, NULL, NULL, &err);
    if (code == 200 || code == 404)
        log_info("(node %s) evicted pod %s/%s (NoExecute taint)", node, meta_str(pod, "namespace"),
                 meta_str(pod, "name"));
    else
        log_warn("(node %s) evicting pod %s: %s", node, meta_str(pod, "name"), err.msg);
    return true;
}

/* ---- one node -------------------------------------------------------------- */

static int
mark_unknown(struct ctl *c, const char *name, const json_t *node, struct k3c_err *err)
{
    _cleanup_json_ json_t *status = json_deep_copy(json_object_get(node, "status"));
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s/status", name);
    struct node_pods np = {c, name, NULL, 0};
    char now[32];

    if (!status)
        status = json_object();
    ctl_now_rfc3339(now, sizeof(now));
    if (!lc_node_mark_unknown(status, now))
        return 0;
    patch = json_pack("{s:{s:O}, s:{s:s}}", "status", "conditions",
                      json_object_get(status, "conditions"), "metadata", "resourceVersion",
                      meta_str(node, "resourceVersion") ?: "");
    if (ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err) != 200)
        return -1;
    log_info("(node %s) no heartbeat for %d s: Ready Unknown", name, grace_ms(c) / 1000);
    ctl_event(c, node, "Normal", "NodeNotReady", "Node %s status is now: NodeNotReady", name);
    ctl_list(c, "pods", NULL, NULL, mark_pod_not_ready, &np);
    return 0;
}

static int
update_taints(struct ctl *c, const char *name, const json_t *node, struct k3c_err *err)
{
    const json_t *taints = json_object_get(json_object_get(node, "spec"), "taints");
    const char *ready = ctl_node_ready_status(node);
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = NULL;
    json_t *want, *pressure;
    bool ready_changed;
    char now[32];

    ctl_now_rfc3339(now, sizeof(now));
    want = lc_node_taints_want(taints, ready, now);
    ready_changed = want != NULL;
    /* and the pressure conditions' taints (lifecycle_pressure.c) */
    pressure =
        lc_node_pressure_taints_want(want ? want : taints, json_object_get(node, "status"), now);
    if (pressure) {
        json_decref(want);
        want = pressure;
    }
    if (!want)
        return 0;
    path = k3c_xasprintf("/api/v1/nodes/%s", name);
    patch = json_pack("{s:{s:o}, s:{s:s}}", "spec", "taints", want, "metadata", "resourceVersion",
                      meta_str(node, "resourceVersion") ?: "");
    if (ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err) != 200)
        return -1;
    if (!ready_changed) {
        log_info("(node %s) pressure taints changed", name);
        return 0;
    }
    log_info("(node %s) Ready %s: taints now %s", name, ready ? ready : "missing",
             ready && strcmp(ready, "True") != 0 ? "not-ready/unreachable" : "cleared");
    if (ready && strcmp(ready, "True") == 0)
        ctl_event(c, node, "Normal", "NodeReady", "Node %s status is now: NodeReady", name);
    return 0;
}

/* Looks at one node: heartbeat, then taints. */
static int
monitor_node(struct ctl *c, const json_t *node, struct k3c_err *err)
{
    const char *name = meta_str(node, "name");
    _cleanup_json_ json_t *lease = NULL;
    int64_t now = k3c_now_ms(), last;
    const char *ready;

    if (!name)
        return 0;
    lease = ctl_get(c, "leases", "kube-node-lease", name);
    last = seen_update(name, lc_node_heartbeat(node, lease), now);
    ready = ctl_node_ready_status(node);
    if (now - last > grace_ms(c) && (!ready || strcmp(ready, "Unknown") != 0))
        return mark_unknown(c, name, node, err); /* taints follow when the cache has it */
    return update_taints(c, name, node, err);
}

static int
sync_node(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *node = ctl_get(c, "nodes", NULL, key);

    if (!node)
        return 0;
    return monitor_node(c, node, err);
}

struct tick_state {
    struct ctl *c;
    json_t *no_execute; /* node name -> taints, for nodes with a NoExecute taint */
};

static bool
has_no_execute(const json_t *taints)
{
    size_t i;
    json_t *t;

    json_array_foreach(taints, i, t)
    {
        const char *e = json_string_value(json_object_get(t, "effect"));

        if (e && strcmp(e, "NoExecute") == 0)
            return true;
    }
    return false;
}

static bool
tick_node(void *ud, const json_t *node)
{
    struct tick_state *ts = ud;
    const json_t *taints = json_object_get(json_object_get(node, "spec"), "taints");
    struct k3c_err err = {0};

    if (monitor_node(ts->c, node, &err) < 0 && err.kind != K3C_E_CONFLICT)
        log_warn("(node %s) %s", meta_str(node, "name"), err.msg);
    if (has_no_execute(taints) && meta_str(node, "name"))
        json_object_set(ts->no_execute, meta_str(node, "name"), (json_t *)taints);
    return true;
}

static void
tick(struct ctl *c)
{
    struct tick_state ts = {c, json_object()};

    seen.gen++;
    ctl_list(c, "nodes", NULL, NULL, tick_node, &ts);
    seen_sweep();
    if (json_object_size(ts.no_execute) > 0) {
        struct node_pods np = {c, NULL, ts.no_execute, k3c_wall_ms()};

        ctl_list(c, "pods", NULL, NULL, evict_if_due, &np);
    }
    json_decref(ts.no_execute);
}

static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED)
        ctl_enqueue_object(c, obj);
}

static void
start(struct ctl *c)
{
    (void)c;
    seen_clear();
}

static const struct ctl_watch watches[] = {
    {"nodes", on_node},
    {NULL, NULL},
};

const struct ctl_def ctl_def_nodelifecycle = {
    .name = "nodelifecycle",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_node,
    .period_ms = NL_TICK_MS,
    .tick = tick,
    .start = start,
};
