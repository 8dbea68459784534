/* SPDX-License-Identifier: Apache-2.0
 * daemonset.c - the DaemonSet controller: one pod per eligible node (node
 * selector, required node affinity, taints against the template's
 * tolerations plus upstream's automatic DaemonSet ones; Ready is not
 * required). Pods are created bound (spec.nodeName) and also carry the
 * matchFields metadata.name affinity upstream uses. RollingUpdate replaces
 * pods whose controller-revision-hash differs, at most maxUnavailable at a
 * time; OnDelete waits for the user. Status as `kubectl rollout status ds`
 * reads it. Each template is kept in a ControllerRevision (revisions.c)
 * for `kubectl rollout history/undo ds`. */
#define LOG_COMPONENT "daemonset"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- informer handlers ------------------------------------------------------- */

static void
on_ds(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    if (!wl_enqueue_controller(c, obj, "DaemonSet") && ev != CTL_DELETED)
        wl_enqueue_selecting(c, "daemonsets", obj);
    if (old && !json_equal(ctl_controller_ref(old), ctl_controller_ref(obj)))
        wl_enqueue_controller(c, old, "DaemonSet");
}

/* Heartbeats change a node's status all the time; only what decides
 * eligibility (labels, taints, the node itself) wakes every DaemonSet. */
static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    if (ev == CTL_MODIFIED &&
        json_equal(json_object_get(json_object_get(old, "metadata"), "labels"),
                   json_object_get(json_object_get(obj, "metadata"), "labels")) &&
        json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
        return;
    ctl_enqueue_all(c, "daemonsets");
}

static void
ds_start(struct ctl *c)
{
    ctl_enqueue_all(c, "daemonsets");
}

/* ---- one sync's view ------------------------------------------------------------ */

struct dsstate {
    const json_t *ds;
    json_t *pod_spec; /* the template's spec with the automatic tolerations */
    json_t *pods;     /* the pods the set controls (claimed) */
    json_t *nodes;
    char hash[11];
    int64_t min_ready, now, wait_s;
};

static bool
collect(void *ud, const json_t *obj)
{
    json_array_append((json_t *)ud, (json_t *)obj);
    return true;
}

/* The pods the set controls, adopting matching orphans and releasing
 * pods that stopped matching. */
static json_t *
claim_pods(struct ctl *c, const json_t *ds, struct k3c_err *err)
{
    _cleanup_json_ json_t *all = wl_list_pods(c, wl_str(ds, "metadata.namespace"));
    const json_t *sel = json_object_get(json_object_get(ds, "spec"), "selector");
    const char *uid = wl_str(ds, "metadata.uid");
    json_t *mine = json_array();
    size_t i;
    json_t *p;

    json_array_foreach(all, i, p)
    {
        bool matches =
            ctl_selector_matches(sel, json_object_get(json_object_get(p, "metadata"), "labels"));
        bool owned = ctl_is_controlled_by(p, uid);

        if (owned && !matches && !ctl_being_deleted(p)) {
            wl_claim(c, ds, p, "pods", false, err);
            continue;
        }
        if (!owned && matches && !ctl_controller_ref(p) && !ctl_being_deleted(p) &&
            !ctl_being_deleted(ds) && wl_claim(c, ds, p, "pods", true, err) == 0)
            owned = true;
        if (owned && matches)
            json_array_append(mine, p);
    }
    k3c_err_clear(err);
    return mine;
}

/* The pods on node: running ones (not being deleted, not failed) first,
 * oldest first; counts of each kind. */
struct node_pods {
    const json_t *running[8];
    int n_running, n_deleting, n_failed;
    const json_t *failed[8];
};

static void
pods_on_node(const struct dsstate *st, const char *node, struct node_pods *np)
{
    size_t i;
    json_t *p;

    memset(np, 0, sizeof(*np));
    json_array_foreach(st->pods, i, p)
    {
        const char *phase = or_empty(wl_str(p, "status.phase"));

        if (strcmp(or_empty(wl_daemon_pod_node(p)), node) != 0)
            continue;
        if (ctl_being_deleted(p))
            np->n_deleting++;
        else if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0) {
            if (np->n_failed < 8)
                np->failed[np->n_failed] = p;
            np->n_failed++;
        } else if (np->n_running < 8) {
            /* the list is in creation order from the cache; keep the oldest first */
            np->running[np->n_running++] = p;
        }
    }
}

static bool
pod_is_current(const struct dsstate *st, const json_t *pod)
{
    const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");

    return strcmp(or_empty(json_string_value(json_object_get(labels, WL_DS_HASH_LABEL))),
                  st->hash) == 0;
}

static bool
pod_available(struct dsstate *st, const json_t *pod)
{
    int64_t w = 0;

    if (wl_pod_available(pod, st->min_ready, st->now, &w))
        return true;
    if (w > 0 && (st->wait_s == 0 || w < st->wait_s))
        st->wait_s = w;
    return false;
}

/* ---- writes --------------------------------------------------------------------- */

static int
create_daemon_pod(struct ctl *c, const struct dsstate *st, const char *node, struct k3c_err *err)
{
    const json_t *tmpl = json_object_get(json_object_get(st->ds, "spec"), "template");
    json_t *pod = wl_pod_from_template(tmpl, wl_str(st->ds, "metadata.namespace"),
                                       wl_str(st->ds, "metadata.name"), ctl_owner_ref(st->ds));
    json_t *meta = json_object_get(pod, "metadata");
    json_t *labels = json_object_get(meta, "labels");
    json_t *spec = json_object_get(pod, "spec");
    char gen[32];

    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(meta, "labels", labels);
    }
    snprintf(gen, sizeof(gen), "%lld", (long long)wl_int(st->ds, "metadata.generation", 1));
    json_object_set_new(labels, WL_DS_HASH_LABEL, json_string(st->hash));
    json_object_set_new(labels, "pod-template-generation", json_string(gen));
    wl_daemon_tolerations_add(spec);
    wl_pin_to_node(spec, node);
    json_object_set_new(spec, "nodeName", json_string(node));
    return wl_create_pod(c, st->ds, pod, err);
}

/* Creates or deletes so each node has exactly the one pod it should.
 * Returns the number of failed writes. */
static int
manage_nodes(struct ctl *c, struct dsstate *st, struct k3c_err *err)
{
    size_t i;
    json_t *node;
    int failures = 0;

    json_array_foreach(st->nodes, i, node)
    {
        const char *name = or_empty(wl_str(node, "metadata.name"));
        bool should = wl_node_should_run(node, st->pod_spec);
        /* NoSchedule taints keep new pods off but let running ones stay */
        int keep = should || wl_node_should_continue(node, st->pod_spec) ? 1 : 0;
        struct node_pods np;

        pods_on_node(st, name, &np);
        for (int k = 0; k < np.n_failed && k < 8; k++)
            failures += wl_delete_pod(c, st->ds, np.failed[k], err) < 0;
        if (should && np.n_running == 0 && np.n_deleting == 0 && np.n_failed == 0)
            failures += create_daemon_pod(c, st, name, err) < 0;
        for (int k = keep; k < np.n_running; k++)
            failures += wl_delete_pod(c, st->ds, np.running[k], err) < 0;
    }
    return failures;
}

/* RollingUpdate: deletes old pods (their replacements come with the next
 * sync), unavailable ones freely, available ones while fewer than
 * maxUnavailable nodes are without an available pod. */
static int
rolling_update(struct ctl *c, struct dsstate *st, int desired, struct k3c_err *err)
{
    const json_t *ru = json_object_get(
        json_object_get(json_object_get(st->ds, "spec"), "updateStrategy"), "rollingUpdate");
    int max_unavailable = wl_scaled_value(json_object_get(ru, "maxUnavailable"), desired, true, 1);
    _cleanup_json_ json_t *candidates = json_array();
    int unavailable = 0, failures = 0;
    size_t i;
    json_t *node;

    if (max_unavailable <= 0)
        max_unavailable = 1;
    json_array_foreach(st->nodes, i, node)
    {
        struct node_pods np;

        if (!wl_node_should_run(node, st->pod_spec))
            continue;
        pods_on_node(st, or_empty(wl_str(node, "metadata.name")), &np);
        if (np.n_running == 0) {
            unavailable++;
            continue;
        }
        if (pod_is_current(st, np.running[0])) {
            if (!pod_available(st, np.running[0]))
                unavailable++;
        } else if (!pod_available(st, np.running[0])) {
            failures += wl_delete_pod(c, st->ds, np.running[0], err) < 0;
        } else {
            json_array_append(candidates, (json_t *)np.running[0]);
        }
    }
    json_array_foreach(candidates, i, node)
    {
        if (unavailable >= max_unavailable)
            break;
        failures += wl_delete_pod(c, st->ds, node, err) < 0;
        unavailable++;
    }
    return failures;
}

static json_t *
ds_status(struct dsstate *st, int *desired_out)
{
    json_t *status = json_deep_copy(json_object_get(st->ds, "status"));
    int desired = 0, current = 0, miss = 0, ready = 0, available = 0, updated = 0;
    size_t i;
    json_t *node;

    if (!json_is_object(status))
        status = json_object();
    json_array_foreach(st->nodes, i, node)
    {
        struct node_pods np;
        bool should = wl_node_should_run(node, st->pod_spec);

        pods_on_node(st, or_empty(wl_str(node, "metadata.name")), &np);
        if (!should) {
            miss += np.n_running > 0;
            continue;
        }
        desired++;
        if (np.n_running == 0)
            continue;
        current++;
        ready += ctl_pod_ready(np.running[0]);
        available += pod_available(st, np.running[0]);
        updated += pod_is_current(st, np.running[0]);
    }
    json_object_set_new(status, "desiredNumberScheduled", json_integer(desired));
    json_object_set_new(status, "currentNumberScheduled", json_integer(current));
    json_object_set_new(status, "numberMisscheduled", json_integer(miss));
    json_object_set_new(status, "numberReady", json_integer(ready));
    json_object_set_new(status, "numberAvailable", json_integer(available));
    json_object_set_new(status, "updatedNumberScheduled", json_integer(updated));
    json_object_set_new(status, "numberUnavailable", json_integer(desired - available));
    json_object_set_new(status, "observedGeneration",
                        json_integer(wl_int(st->ds, "metadata.generation", 0)));
    *desired_out = desired;
    return status;
}

/* ---- revisions (revisions.c): `kubectl rollout history/undo ds` ------------------ */

struct owned {
    const char *uid;
    json_t *out;
};

static bool
collect_owned(void *ud, const json_t *obj)
{
    struct owned *o = ud;

    if (ctl_is_controlled_by(obj, o->uid))
        json_array_append(o->out, (json_t *)obj);
    return true;
}

/* The revision of the current template exists (a rollback renumbers the
 * older one); the oldest beyond revisionHistoryLimit go. */
static int
revisions_sync(struct ctl *c, const json_t *ds, struct k3c_err *err)
{
    struct owned o = {or_empty(wl_str(ds, "metadata.uid")), json_array()};
    _cleanup_json_ json_t *revisions = o.out;
    char current[320];
    const char *keep[] = {current, NULL};

    ctl_list(c, "controllerrevisions", wl_str(ds, "metadata.namespace"), NULL, collect_owned, &o);
    if (wl_revision_ensure(c, ds, revisions, WL_DS_HASH_LABEL, current, sizeof(current), err) < 0)
        return -1;
    wl_revisions_trim(c, ds, revisions, keep);
    return 0;
}

/* ---- sync ---------------------------------------------------------------------- */

static int
ds_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *ds = NULL;
    struct dsstate st = {0};
    struct k3c_err serr = {0};
    int failures = 0, desired = 0;
    json_t *status;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    ds = ctl_get(c, "daemonsets", ns, name);
    if (!ds)
        return 0;
    st.ds = ds;
    st.now = wl_now();
    st.min_ready = wl_int(ds, "spec.minReadySeconds", 0);
    wl_template_hash(json_object_get(json_object_get(ds, "spec"), "template"), st.hash);
    st.pod_spec = json_deep_copy(
        json_object_get(json_object_get(json_object_get(ds, "spec"), "template"), "spec"));
    if (!st.pod_spec)
        st.pod_spec = json_object();
    wl_daemon_tolerations_add(st.pod_spec);
    st.nodes = json_array();
    ctl_list(c, "nodes", NULL, NULL, collect, st.nodes);
    st.pods = claim_pods(c, ds, err);
    if (!ctl_being_deleted(ds)) {
        failures = revisions_sync(c, ds, err) < 0;
        failures += manage_nodes(c, &st, err);
        status = ds_status(&st, &desired);
        json_decref(status);
        if (strcmp(or_empty(wl_str(ds, "spec.updateStrategy.type")), "RollingUpdate") == 0)
            failures += rolling_update(c, &st, desired, err);
    }
    status = ds_status(&st, &desired);
    if (wl_put_status(c, ds, "daemonsets", status, &serr) < 0 && failures == 0) {
        *err = serr;
        failures = 1;
    }
    if (st.wait_s > 0)
        ctl_enqueue_after(c, key, st.wait_s * 1000);
    json_decref(st.pod_spec);
    json_decref(st.pods);
    json_decref(st.nodes);
    return failures ? -1 : 0;
}

static const struct ctl_watch ds_watches[] = {
    {"daemonsets", on_ds},
    {"pods", on_pod},
    {"nodes", on_node},
    {NULL, NULL},
};

const struct ctl_def ctl_def_daemonset = {
    .name = "daemonset",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = ds_watches,
    .sync = ds_sync,
    .start = ds_start,
};
