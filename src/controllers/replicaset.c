/* SPDX-License-Identifier: Apache-2.0
 * replicaset.c - the ReplicaSet controller: keeps spec.replicas active pods
 * that match the selector and are controlled by the set (adopting matching
 * orphans, releasing pods that stopped matching), creates pods from
 * spec.template and deletes the cheapest extras (workload.c's order), and
 * writes status. Expectations keep a burst of creates or deletes from being
 * repeated before the informer has seen it. */
#define LOG_COMPONENT "replicaset"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

/* upstream's burstReplicas: at most this many creates or deletes per sync */
#define RS_BURST 500

/* Expectations outlive a controller's leadership term (they are keyed by
 * uid and expire); ctl_data has no free hook, so they live here, like a
 * pthread_once cache. */
static struct wl_expectations rs_expect = WL_EXPECTATIONS_INIT;

/* ---- informer handlers ------------------------------------------------------- */

static bool
has_deletion(const json_t *obj)
{
    return obj && wl_str(obj, "metadata.deletionTimestamp") != NULL;
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const char *uid = NULL;

    if (ev == CTL_ADDED) {
        uid = wl_enqueue_controller(c, obj, "ReplicaSet");
        if (uid)
            wl_expect_observe(&rs_expect, uid, true);
        else
            wl_enqueue_selecting(c, "replicasets", obj);
        return;
    }
    if (ev == CTL_DELETED) {
        uid = wl_enqueue_controller(c, obj, "ReplicaSet");
        if (uid && !has_deletion(obj))
            wl_expect_observe(&rs_expect, uid, false);
        return;
    }
    uid = wl_enqueue_controller(c, obj, "ReplicaSet");
    if (uid && has_deletion(obj) && !has_deletion(old))
        wl_expect_observe(&rs_expect, uid, false);
    if (old && !json_equal(ctl_controller_ref(old), ctl_controller_ref(obj)))
        wl_enqueue_controller(c, old, "ReplicaSet");
    if (!ctl_controller_ref(obj))
        wl_enqueue_selecting(c, "replicasets", obj);
}

static void
on_rs(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
rs_start(struct ctl *c)
{
    ctl_enqueue_all(c, "replicasets");
}

/* ---- claiming ------------------------------------------------------------------- */

/* The active pods rs controls after adopting matching orphans and
 * releasing pods that no longer match (a new array). */
static json_t *
claim_pods(struct ctl *c, const json_t *rs, const json_t *pods, struct k3c_err *err)
{
    const json_t *sel = json_object_get(json_object_get(rs, "spec"), "selector");
    const char *uid = wl_str(rs, "metadata.uid");
    json_t *mine = json_array();
    size_t i;
    json_t *p;

    json_array_foreach(pods, i, p)
    {
        const json_t *labels = json_object_get(json_object_get(p, "metadata"), "labels");
        bool matches = ctl_selector_matches(sel, labels);
        bool owned = ctl_is_controlled_by(p, uid);

        if (owned && !matches && !ctl_being_deleted(p)) {
            if (wl_claim(c, rs, p, "pods", false, err) < 0)
                log_warn("(replicaset %s) release pod %s: %s", wl_str(rs, "metadata.name"),
                         wl_str(p, "metadata.name"), err->msg);
            continue;
        }
        if (!owned && matches && !ctl_controller_ref(p) && !ctl_being_deleted(p) &&
            !ctl_pod_finished(p) && !ctl_being_deleted(rs)) {
            if (wl_claim(c, rs, p, "pods", true, err) < 0)
                continue; /* changed meanwhile: its update re-queues us */
            owned = true;
        }
        if (owned && matches && !ctl_pod_finished(p) && !ctl_being_deleted(p))
            json_array_append(mine, p);
    }
    k3c_err_clear(err);
    return mine;
}

/* ---- scaling ------------------------------------------------------------------- */

/* Creates n pods in upstream's slow-start batches (1, 2, 4, ...), stopping
 * at the first failure. Creates that never happen are observed at once. */
static int
create_pods(struct ctl *c, const json_t *rs, int n, struct k3c_err *err)
{
    const char *uid = wl_str(rs, "metadata.uid");
    const json_t *tmpl = json_object_get(json_object_get(rs, "spec"), "template");
    int done = 0, batch = 1;

    wl_expect(&rs_expect, uid, n, 0, k3c_now_ms());
    while (done < n) {
        int todo = batch < n - done ? batch : n - done;

        for (int i = 0; i < todo; i++) {
            json_t *pod = wl_pod_from_template(tmpl, wl_str(rs, "metadata.namespace"),
                                               wl_str(rs, "metadata.name"), ctl_owner_ref(rs));

            if (wl_create_pod(c, rs, pod, err) < 0) {
                for (int k = done + i; k < n; k++)
                    wl_expect_observe(&rs_expect, uid, true);
                return -1;
            }
        }
        done += todo;
        batch *= 2;
    }
    return 0;
}

static int
delete_pods(struct ctl *c, const json_t *rs, const json_t *active, int n, struct k3c_err *err)
{
    const char *uid = wl_str(rs, "metadata.uid");
    size_t count = json_array_size(active);
    _cleanup_free_ const json_t **v = k3c_xcalloc(count ? count : 1, sizeof(*v));
    int rc = 0;

    for (size_t i = 0; i < count; i++)
        v[i] = json_array_get(active, i);
    wl_pods_sort_for_delete(v, count);
    wl_expect(&rs_expect, uid, 0, n, k3c_now_ms());
    for (int i = 0; i < n && (size_t)i < count; i++) {
        if (wl_delete_pod(c, rs, v[i], err) < 0) {
            wl_expect_observe(&rs_expect, uid, false);
            rc = -1;
        }
    }
    return rc;
}

static int
manage_replicas(struct ctl *c, const json_t *rs, const json_t *active, struct k3c_err *err)
{
    int want = (int)wl_int(rs, "spec.replicas", 1);
    int diff = (int)json_array_size(active) - want;

    if (diff < 0)
        return create_pods(c, rs, -diff > RS_BURST ? RS_BURST : -diff, err);
    if (diff > 0)
        return delete_pods(c, rs, active, diff > RS_BURST ? RS_BURST : diff, err);
    return 0;
}

/* ---- status ------------------------------------------------------------------- */

static bool
labels_superset(const json_t *have, const json_t *want)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)want, k, v)
    {
        if (!json_equal(json_object_get(have, k), v))
            return false;
    }
    return true;
}

/* The new status; *wait_s gets the soonest a pod becomes available. */
static json_t *
rs_status(const json_t *rs, const json_t *active, int64_t *wait_s)
{
    const json_t *tlabels =
        json_object_get(json_object_get(json_object_get(rs, "spec"), "template"), "metadata");
    int64_t min_ready = wl_int(rs, "spec.minReadySeconds", 0), now = wl_now();
    json_t *status = json_deep_copy(json_object_get(rs, "status"));
    int labeled = 0, ready = 0, available = 0;
    size_t i;
    json_t *p;

    tlabels = json_object_get(tlabels, "labels");
    if (!json_is_object(status))
        status = json_object();
    json_array_foreach(active, i, p)
    {
        int64_t w = 0;

        if (labels_superset(json_object_get(json_object_get(p, "metadata"), "labels"), tlabels))
            labeled++;
        if (ctl_pod_ready(p))
            ready++;
        if (wl_pod_available(p, min_ready, now, &w))
            available++;
        else if (w > 0 && (*wait_s == 0 || w < *wait_s))
            *wait_s = w;
    }
    json_object_set_new(status, "replicas", json_integer((json_int_t)json_array_size(active)));
    json_object_set_new(status, "fullyLabeledReplicas", json_integer(labeled));
    json_object_set_new(status, "readyReplicas", json_integer(ready));
    json_object_set_new(status, "availableReplicas", json_integer(available));
    json_object_set_new(status, "observedGeneration",
                        json_integer(wl_int(rs, "metadata.generation", 0)));
    return status;
}

/* The ReplicaFailure condition: set (FailedCreate / FailedDelete, with the
 * error) when managing the replicas failed, removed once it works. */
static void
failure_condition(json_t *status, const char *failed, bool creating)
{
    json_t *conds = json_object_get(status, "conditions");
    char now[32];
    size_t i;
    json_t *c;

    if (failed) {
        if (!wl_condition_get(status, "ReplicaFailure")) {
            ctl_now_rfc3339(now, sizeof(now));
            wl_condition_set(status, "ReplicaFailure", "True",
                             creating ? "FailedCreate" : "FailedDelete", failed, now, false);
        }
        return;
    }
    json_array_foreach(conds, i, c)
    {
        if (strcmp(wl_str(c, "type") ? wl_str(c, "type") : "", "ReplicaFailure") == 0) {
            json_array_remove(conds, i);
            break;
        }
    }
    if (conds && json_array_size(conds) == 0)
        json_object_del(status, "conditions");
}

/* ---- sync ---------------------------------------------------------------------- */

static int
rs_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *rs = NULL;
    _cleanup_json_ json_t *pods = NULL;
    _cleanup_json_ json_t *active = NULL;
    struct k3c_err serr = {0};
    json_t *status;
    int64_t wait_s = 0;
    int rc = 0;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    rs = ctl_get(c, "replicasets", ns, name);
    if (!rs)
        return 0;
    pods = wl_list_pods(c, ns);
    active = claim_pods(c, rs, pods, err);
    if (!ctl_being_deleted(rs) &&
        wl_expect_satisfied(&rs_expect, wl_str(rs, "metadata.uid"), k3c_now_ms()))
        rc = manage_replicas(c, rs, active, err);
    status = rs_status(rs, active, &wait_s);
    failure_condition(status, rc < 0 ? err->msg : NULL,
                      (int)json_array_size(active) < wl_int(rs, "spec.replicas", 1));
    if (wl_put_status(c, rs, "replicasets", status, &serr) < 0 && rc == 0) {
        *err = serr;
        rc = -1;
    }
    if (wait_s > 0)
        ctl_enqueue_after(c, key, wait_s * 1000);
    return rc;
}

static const struct ctl_watch rs_watches[] = {
    {"replicasets", on_rs},
    {"pods", on_pod},
    {NULL, NULL},
};

const struct ctl_def ctl_def_replicaset = {
    .name = "replicaset",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = rs_watches,
    .sync = rs_sync,
    .start = rs_start,
};
