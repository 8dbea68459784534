/* SPDX-License-Identifier: Apache-2.0
 * disruption.c - the PodDisruptionBudget status controller, after
 * upstream's pkg/controller/disruption (Kubernetes 1.32): for each budget,
 * the selected pods of its namespace; expectedPods from their controllers'
 * spec.replicas (ReplicaSet, StatefulSet; a pod
 * without one counts itself) when the budget is a percentage or
 * maxUnavailable, else the selected pods; desiredHealthy from minAvailable
 * (percentages round up) or expected - maxUnavailable; currentHealthy the
 * Ready pods not being deleted nor listed in disruptedPods (pods the
 * eviction API let go; entries leave when the pod goes or after 2 minutes);
 * disruptionsAllowed = currentHealthy - desiredHealthy (at least 0), and
 * the DisruptionAllowed condition. The eviction subresource (api_binding.c)
 * reads and decrements it. */
#define LOG_COMPONENT "disruption"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

/* upstream's DeletionTimeout: an eviction not seen through by then is forgotten */
#define DISRUPTED_TIMEOUT_S 120

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

static void
on_pdb(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

struct enqueue_ctx {
    struct ctl *c;
    const json_t *labels;
};

static bool
enqueue_if_selects(void *ud, const json_t *pdb)
{
    struct enqueue_ctx *x = ud;

    if (ctl_selector_matches(json_object_get(json_object_get(pdb, "spec"), "selector"), x->labels))
        ctl_enqueue_object(x->c, pdb);
    return true;
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    struct enqueue_ctx x = {c, json_object_get(json_object_get(obj, "metadata"), "labels")};

    (void)ev;
    ctl_list(c, "poddisruptionbudgets", wl_str(obj, "metadata.namespace"), NULL, enqueue_if_selects,
             &x);
    if (old) {
        x.labels = json_object_get(json_object_get(old, "metadata"), "labels");
        ctl_list(c, "poddisruptionbudgets", wl_str(old, "metadata.namespace"), NULL,
                 enqueue_if_selects, &x);
    }
}

static void
pdb_start(struct ctl *c)
{
    ctl_enqueue_all(c, "poddisruptionbudgets");
}

struct pods_ctx {
    const json_t *selector;
    json_t *out;
};

static bool
collect_pod(void *ud, const json_t *pod)
{
    struct pods_ctx *x = ud;

    /* an empty selector selects every pod in policy/v1 */
    if (json_object_size(x->selector) == 0 ||
        ctl_selector_matches(x->selector,
                             json_object_get(json_object_get(pod, "metadata"), "labels")))
        json_array_append(x->out, (json_t *)pod);
    return true;
}

/* The replicas of the pod's controller, or -1 when it has none we scale. */
static int64_t
controller_replicas(struct ctl *c, const json_t *pod, json_t *seen)
{
    const json_t *ref = ctl_controller_ref(pod);
    const char *kind = or_empty(wl_str(ref, "kind"));
    const char *uid = or_empty(wl_str(ref, "uid"));
    const char *plural = strcmp(kind, "ReplicaSet") == 0    ? "replicasets"
                         : strcmp(kind, "StatefulSet") == 0 ? "statefulsets"
                                                            : NULL;
    _cleanup_json_ json_t *owner = NULL;

    if (!ref || !plural)
        return -1;
    if (json_object_get(seen, uid))
        return 0; /* counted already */
    owner = ctl_get(c, plural, wl_str(pod, "metadata.namespace"), wl_str(ref, "name"));
    if (!owner)
        return -1;
    json_object_set_new(seen, uid, json_true());
    return wl_int(owner, "spec.replicas", 1);
}

static int
pdb_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256], now_s[32];
    _cleanup_json_ json_t *pdb = NULL, *pods = json_array(), *seen = json_object();
    json_t *status, *disrupted;
    const json_t *spec, *min, *max;
    struct pods_ctx px;
    int64_t now = wl_now(), expected = 0, desired = 0, healthy = 0, allowed;
    bool need_scale;
    size_t i;
    json_t *p;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    pdb = ctl_get(c, "poddisruptionbudgets", ns, name);
    if (!pdb || ctl_being_deleted(pdb))
        return 0;
    spec = json_object_get(pdb, "spec");
    min = json_object_get(spec, "minAvailable");
    max = json_object_get(spec, "maxUnavailable");
    px.selector = json_object_get(spec, "selector");
    px.out = pods;
    if (json_is_object(px.selector))
        ctl_list(c, "pods", ns, NULL, collect_pod, &px);
    status = json_deep_copy(json_object_get(pdb, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    disrupted = json_object_get(status, "disruptedPods");
    if (!json_is_object(disrupted)) {
        json_object_set_new(status, "disruptedPods", json_object());
        disrupted = json_object_get(status, "disruptedPods");
    }
    /* forget evictions that went through or timed out */
    {
        const char *k;
        json_t *v, *tmp;

        json_object_foreach_safe(disrupted, tmp, k, v)
        {
            bool present = false;

            json_array_foreach(pods, i, p)
            {
                if (strcmp(or_empty(wl_str(p, "metadata.name")), k) == 0 && !ctl_being_deleted(p))
                    present = true;
            }
            if (!present || wl_time(json_string_value(v)) + DISRUPTED_TIMEOUT_S < now)
                json_object_del(disrupted, k);
        }
    }
    need_scale = json_is_string(min) || max;
    json_array_foreach(pods, i, p)
    {
        if (ctl_pod_ready(p) && !ctl_being_deleted(p) &&
            !json_object_get(disrupted, or_empty(wl_str(p, "metadata.name"))))
            healthy++;
        if (need_scale) {
            int64_t r = controller_replicas(c, p, seen);

            expected += r < 0 ? 1 : r;
        } else {
            expected++;
        }
    }
    if (json_is_integer(min))
        desired = json_integer_value(min);
    else if (json_is_string(min))
        desired = wl_scaled_value(min, (int)expected, true, 0);
    else if (max) {
        desired = expected - wl_scaled_value(max, (int)expected, true, 0);
        if (desired < 0)
            desired = 0;
    }
    allowed = healthy - desired;
    if (allowed < 0)
        allowed = 0;
    ctl_now_rfc3339(now_s, sizeof(now_s));
    json_object_set_new(status, "observedGeneration",
                        json_integer(wl_int(pdb, "metadata.generation", 0)));
    json_object_set_new(status, "expectedPods", json_integer(expected));
    json_object_set_new(status, "desiredHealthy", json_integer(desired));
    json_object_set_new(status, "currentHealthy", json_integer(healthy));
    json_object_set_new(status, "disruptionsAllowed", json_integer(allowed));
    wl_condition_set(status, "DisruptionAllowed", allowed > 0 ? "True" : "False",
                     allowed > 0 ? "SufficientPods" : "InsufficientPods", "", now_s, false);
    {
        json_t *cond = wl_condition_get(status, "DisruptionAllowed");

        json_object_set_new(cond, "observedGeneration",
                            json_integer(wl_int(pdb, "metadata.generation", 0)));
        json_object_del(cond, "lastUpdateTime");
        json_object_del(cond, "lastProbeTime");
    }
    if (json_object_size(disrupted))
        ctl_enqueue_after(c, key, 10 * 1000);
    return wl_put_status(c, pdb, "poddisruptionbudgets", status, err);
}

static const struct ctl_watch pdb_watches[] = {
    {"poddisruptionbudgets", on_pdb},
    {"pods", on_pod},
    {NULL, NULL},
};

const struct ctl_def ctl_def_disruption = {
    .name = "disruption",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = pdb_watches,
    .sync = pdb_sync,
    .start = pdb_start,
};
