/* SPDX-License-Identifier: Apache-2.0
 * hpa.c - the HorizontalPodAutoscaler controller (autoscaling/v2): every
 * 15 s, for each HPA, reads its target's replicas and selector, the pods'
 * usage from metrics.k8s.io (served by this API server, api_metrics.c) and
 * their requests, computes the replicas each Resource/ContainerResource
 * metric wants (hpa_calc.c), takes the highest, stabilises and rate-limits
 * it as `behavior` says, scales the target (merge patch of spec.replicas)
 * and writes the status: currentMetrics, replicas, lastScaleTime and the
 * conditions AbleToScale, ScalingActive and ScalingLimited with upstream's
 * reasons. Recommendations and scale events are kept in memory per HPA, as
 * upstream's controller keeps them (a new leader starts without them). */
#define LOG_COMPONENT "hpa"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/hpa.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/quantity.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HPA_RESOURCE  "horizontalpodautoscalers"
#define HPA_PERIOD_MS 15000 /* --horizontal-pod-autoscaler-sync-period */
#define HPA_MAX_PODS  4096

/* In-memory state per HPA ("ns/name" -> struct hpa_memory). */
struct hpa_state {
    json_t *by_key; /* key -> integer (pointer to a heap struct hpa_memory) */
};

static struct hpa_memory *
memory_of(struct ctl *c, const char *key)
{
    struct hpa_state *st = ctl_data(c);
    json_t *v;
    struct hpa_memory *m;

    if (!st)
        return NULL;
    v = json_object_get(st->by_key, key);
    if (v)
        return (struct hpa_memory *)(uintptr_t)json_integer_value(v);
    m = k3c_xcalloc(1, sizeof(*m));
    json_object_set_new(st->by_key, key, json_integer((json_int_t)(uintptr_t)m));
    return m;
}

static void
forget(struct ctl *c, const char *key)
{
    struct hpa_state *st = ctl_data(c);
    json_t *v = st ? json_object_get(st->by_key, key) : NULL;

    if (v) {
        free((void *)(uintptr_t)json_integer_value(v));
        json_object_del(st->by_key, key);
    }
}

/* ---- quantities ---------------------------------------------------------- */

/* A Kubernetes quantity in milli-units, rounded up as MilliValue does
 * ("250m" -> 250, "1" -> 1000, "123456n" -> 1; base/quantity.c). -1 if
 * unreadable. */
static int64_t
quantity_milli(const char *q)
{
    int64_t m;

    return k3c_quantity_scaled(q, 3, &m) == 0 ? m : -1;
}

static void
format_milli(int64_t milli, bool cpu, char *buf, size_t len)
{
    if (cpu)
        snprintf(buf, len, "%lldm", (long long)milli);
    else if (milli % 1000 == 0)
        snprintf(buf, len, "%lld", (long long)(milli / 1000));
    else
        snprintf(buf, len, "%lldm", (long long)milli);
}

/* ---- the target ------------------------------------------------------------ */

static const char *
plural_of(const char *kind)
{
    if (strcmp(kind, "Deployment") == 0)
        return "deployments";
    if (strcmp(kind, "ReplicaSet") == 0)
        return "replicasets";
    if (strcmp(kind, "StatefulSet") == 0)
        return "statefulsets";
    return NULL;
}

struct pod_scan {
    const char *resource, *container; /* container: ContainerResource only */
    const json_t *metrics;            /* PodMetricsList items by name */
    struct hpa_pod pods[HPA_MAX_PODS];
    size_t n;
};

static int64_t
container_request(const json_t *c, const char *resource)
{
    const char *q = json_string_value(
        json_object_get(json_object_get(json_object_get(c, "resources"), "requests"), resource));

    return q ? quantity_milli(q) : -1;
}

static bool
collect_pod(void *ud, const json_t *pod)
{
    struct pod_scan *s = ud;
    const char *name = json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"));
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    const json_t *pm = name ? json_object_get(s->metrics, name) : NULL;
    struct hpa_pod *p;
    json_t *c;
    size_t i;

    if (ctl_being_deleted(pod) || ctl_pod_finished(pod) || s->n == HPA_MAX_PODS ||
        (phase && strcmp(phase, "Running") != 0 && strcmp(phase, "Pending") != 0))
        return true;
    p = &s->pods[s->n++];
    *p = (struct hpa_pod){.ready = ctl_pod_ready(pod), .has_metrics = pm != NULL};
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
    {
        const char *cname = json_string_value(json_object_get(c, "name"));
        int64_t req;

        if (s->container && (!cname || strcmp(cname, s->container) != 0))
            continue;
        req = container_request(c, s->resource);
        if (req < 0) {
            p->request = -1; /* upstream: "missing request for cpu" */
            break;
        }
        p->request += req;
    }
    json_array_foreach(json_object_get(pm, "containers"), i, c)
    {
        const char *cname = json_string_value(json_object_get(c, "name"));
        int64_t use = quantity_milli(
            json_string_value(json_object_get(json_object_get(c, "usage"), s->resource)));

        if (s->container && (!cname || strcmp(cname, s->container) != 0))
            continue;
        if (use > 0)
            p->usage += use;
    }
    return true;
}

/* PodMetrics of the namespace, by pod name. */
static json_t *
pod_metrics(struct ctl *c, const char *ns, struct k3c_err *err)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods", ns);
    _cleanup_json_ json_t *list = NULL;
    json_t *by_name = json_object(), *item;
    long code = ctl_api(c, "GET", path, NULL, NULL, &list, err);
    size_t i;

    if (code < 200 || code >= 300) {
        json_decref(by_name);
        return NULL;
    }
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));

        if (name)
            json_object_set(by_name, name, item);
    }
    return by_name;
}

/* ---- one metric -------------------------------------------------------------- */

struct metric_result {
    int replicas;       /* -1: failed */
    const char *reason; /* ScalingActive False reason on failure */
    char message[256];  /* ScalingActive message */
    json_t *current;    /* a currentMetrics entry */
    char name[32];      /* "cpu" */
};

static void
one_metric(struct ctl *c, const json_t *spec_metric, const char *ns, const json_t *selector,
           const json_t *metrics, int current, struct metric_result *out)
{
    const char *type = json_string_value(json_object_get(spec_metric, "type")) ?: "";
    bool container = strcmp(type, "ContainerResource") == 0;
    const json_t *src = json_object_get(spec_metric, container ? "containerResource" : "resource");
    const char *res = json_string_value(json_object_get(src, "name"));
    const json_t *target = json_object_get(src, "target");
    const char *ttype = json_string_value(json_object_get(target, "type")) ?: "";
    struct pod_scan *scan;
    const char *why = NULL;

    out->replicas = -1;
    if ((strcmp(type, "Resource") != 0 && !container) || !res) {
        out->reason = "FailedGetExternalMetric";
        snprintf(out->message, sizeof(out->message),
                 "the HPA was unable to compute the replica count: metric type %s is not "
                 "supported by k3c (Resource and ContainerResource are)",
                 type);
        return;
    }
    snprintf(out->name, sizeof(out->name), "%s", res);
    if (!metrics) {
        out->reason = container ? "FailedGetContainerResourceMetric" : "FailedGetResourceMetric";
        snprintf(out->message, sizeof(out->message),
                 "the HPA was unable to compute the replica count: failed to get %s utilization: "
                 "unable to get metrics for resource %s: no metrics returned from resource "
                 "metrics API",
                 res, res);
        return;
    }
    scan = k3c_xcalloc(1, sizeof(*scan));
    scan->resource = res;
    scan->container = container ? json_string_value(json_object_get(src, "container")) : NULL;
    scan->metrics = metrics;
    ctl_list(c, "pods", ns, selector, collect_pod, scan);
    if (strcmp(ttype, "Utilization") == 0) {
        int util = 0, want = (int)json_integer_value(json_object_get(target, "averageUtilization"));
        int64_t avg_total = 0, n = 0;

        out->replicas = hpa_utilization_replicas(scan->pods, scan->n, current, want,
                                                 strcmp(res, "cpu") == 0, &util, &why);
        for (size_t i = 0; i < scan->n; i++)
            if (scan->pods[i].has_metrics)
                avg_total += scan->pods[i].usage, n++;
        if (out->replicas >= 0) {
            char avg[32];

            format_milli(n ? avg_total / n : 0, strcmp(res, "cpu") == 0, avg, sizeof(avg));
            out->current = json_pack("{s:s, s:{s:s, s:{s:i, s:s}}}", "type", type,
                                     container ? "containerResource" : "resource", "name", res,
                                     "current", "averageUtilization", util, "averageValue", avg);
            if (container)
                json_object_set_new(json_object_get(out->current, "containerResource"), "container",
                                    json_string(scan->container ?: ""));
        }
    } else if (strcmp(ttype, "AverageValue") == 0) {
        int64_t avg = 0,
                want = quantity_milli(json_string_value(json_object_get(target, "averageValue")));

        out->replicas = hpa_average_value_replicas(scan->pods, scan->n, current, want,
                                                   strcmp(res, "cpu") == 0, &avg, &why);
        if (out->replicas >= 0) {
            char v[32];

            format_milli(avg, strcmp(res, "cpu") == 0, v, sizeof(v));
            out->current = json_pack("{s:s, s:{s:s, s:{s:s}}}", "type", type,
                                     container ? "containerResource" : "resource", "name", res,
                                     "current", "averageValue", v);
        }
    } else {
        why = "target type must be Utilization or AverageValue for a resource metric";
    }
    if (out->replicas < 0) {
        out->reason = container ? "FailedGetContainerResourceMetric" : "FailedGetResourceMetric";
        snprintf(out->message, sizeof(out->message),
                 "the HPA was unable to compute the replica count: failed to get %s utilization: "
                 "%s",
                 res, why ? why : "unknown error");
    } else {
        snprintf(out->message, sizeof(out->message),
                 "the HPA was able to successfully calculate a replica count from %s resource "
                 "utilization (percentage of request)",
                 res);
    }
    free(scan);
}

/* ---- behavior ------------------------------------------------------------------ */

static void
rules_from(const json_t *b, struct hpa_rules *r)
{
    const json_t *w = json_object_get(b, "stabilizationWindowSeconds");
    const char *sel = json_string_value(json_object_get(b, "selectPolicy"));
    const json_t *pols = json_object_get(b, "policies");
    json_t *p;
    size_t i;

    if (!b)
        return;
    if (json_is_integer(w))
        r->window_s = (int)json_integer_value(w);
    if (sel)
        r->select = strcmp(sel, "Min") == 0        ? HPA_SELECT_MIN
                    : strcmp(sel, "Disabled") == 0 ? HPA_SELECT_DISABLED
                                                   : HPA_SELECT_MAX;
    if (!json_is_array(pols))
        return;
    r->n_policies = 0;
    json_array_foreach(pols, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "type")) ?: "";

        if (r->n_policies == HPA_MAX_POLICIES)
            break;
        r->policies[r->n_policies++] = (struct hpa_policy){
            .percent = strcmp(t, "Percent") == 0,
            .value = (int)json_integer_value(json_object_get(p, "value")),
            .period_s = (int)json_integer_value(json_object_get(p, "periodSeconds"))};
    }
}

/* ---- status --------------------------------------------------------------------- */

/* Sets condition type in conds, keeping lastTransitionTime when the status
 * does not change. */
static void
set_condition(json_t *conds, const json_t *old_conds, const char *type, const char *status,
              const char *reason, const char *message)
{
    char now[40];
    const char *since = NULL;
    json_t *c;
    size_t i;

    ctl_now_rfc3339(now, sizeof(now));
    json_array_foreach(old_conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));

        if (t && s && strcmp(t, type) == 0 && strcmp(s, status) == 0)
            since = json_string_value(json_object_get(c, "lastTransitionTime"));
    }
    json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status",
                                           status, "lastTransitionTime", since ? since : now,
                                           "reason", reason, "message", message));
}

static int
write_status(struct ctl *c, const json_t *hpa, json_t *status, struct k3c_err *err)
{
    const json_t *meta = json_object_get(hpa, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    _cleanup_free_ char *path = k3c_xasprintf(
        "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers/%s/status", ns, name);
    _cleanup_json_ json_t *patch = json_pack("{s:O}", "status", status);
    long code;

    /* Unchanged: no write (and no watch event). */
    if (json_equal(json_object_get(hpa, "status"), status))
        return 0;
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    return code >= 200 && code < 300 ? 0 : -1;
}

/* ---- sync ------------------------------------------------------------------------- */

struct computed {
    int desired;
    json_t *current_metrics;
    const char *active_status, *active_reason;
    char active_message[256];
};

static void
compute(struct ctl *c, const json_t *spec, const char *ns, const json_t *selector, int current,
        struct computed *out)
{
    _cleanup_json_ json_t *metrics = NULL;
    struct k3c_err err = {0};
    const json_t *m;
    size_t i;

    out->desired = -1;
    out->current_metrics = json_array();
    out->active_status = "False";
    out->active_reason = "FailedGetResourceMetric";
    snprintf(out->active_message, sizeof(out->active_message), "%s",
             "the HPA was unable to compute the replica count: no metrics");
    metrics = pod_metrics(c, ns, &err);
    json_array_foreach(json_object_get(spec, "metrics"), i, m)
    {
        struct metric_result r = {0};

        one_metric(c, m, ns, selector, metrics, current, &r);
        if (r.current)
            json_array_append_new(out->current_metrics, r.current);
        if (r.replicas < 0) {
            /* upstream: one failing metric does not stop a scale up by others */
            if (out->desired < 0) {
                out->active_reason = r.reason;
                snprintf(out->active_message, sizeof(out->active_message), "%s", r.message);
            }
            continue;
        }
        if (r.replicas > out->desired) {
            out->desired = r.replicas;
            out->active_status = "True";
            out->active_reason = "ValidMetricFound";
            snprintf(out->active_message, sizeof(out->active_message), "%s", r.message);
        }
    }
}

static int
patch_replicas(struct ctl *c, const char *plural, const char *ns, const char *name, int replicas,
               struct k3c_err *err)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns, plural, name);
    _cleanup_json_ json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", replicas);
    long code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);

    return code >= 200 && code < 300 ? 0 : -1;
}

static int
sync_hpa(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256], now[40];
    _cleanup_json_ json_t *hpa = NULL, *target = NULL, *status = NULL;
    const json_t *spec, *ref, *old_status, *old_conds;
    const char *kind, *tname, *plural;
    struct hpa_memory *mem;
    struct hpa_rules up, down;
    struct hpa_decision d = {0};
    struct computed comp = {0};
    json_t *conds;
    int current, min, max, rc = 0;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    hpa = ctl_get(c, HPA_RESOURCE, ns, name);
    if (!hpa) {
        forget(c, key);
        return 0;
    }
    ctl_enqueue_after(c, key, HPA_PERIOD_MS);
    mem = memory_of(c, key);
    spec = json_object_get(hpa, "spec");
    ref = json_object_get(spec, "scaleTargetRef");
    kind = json_string_value(json_object_get(ref, "kind")) ?: "";
    tname = json_string_value(json_object_get(ref, "name")) ?: "";
    old_status = json_object_get(hpa, "status");
    old_conds = json_object_get(old_status, "conditions");
    min = json_is_integer(json_object_get(spec, "minReplicas"))
              ? (int)json_integer_value(json_object_get(spec, "minReplicas"))
              : 1;
    max = (int)json_integer_value(json_object_get(spec, "maxReplicas"));
    status = json_pack(
        "{s:I, s:i, s:i, s:[]}", "observedGeneration",
        json_integer_value(json_object_get(json_object_get(hpa, "metadata"), "generation")),
        "currentReplicas", 0, "desiredReplicas", 0, "conditions");
    if (json_object_get(old_status, "lastScaleTime"))
        json_object_set(status, "lastScaleTime", json_object_get(old_status, "lastScaleTime"));
    conds = json_object_get(status, "conditions");
    plural = plural_of(kind);
    target = plural ? ctl_get(c, plural, ns, tname) : NULL;
    if (!target) {
        set_condition(conds, old_conds, "AbleToScale", "False", "FailedGetScale",
                      plural ? "the HPA controller was unable to get the target's current scale: "
                               "not found"
                             : "the HPA controller was unable to get the target's current scale: "
                               "unsupported kind (Deployment, ReplicaSet, StatefulSet are)");
        return write_status(c, hpa, status, err);
    }
    current = (int)json_integer_value(json_object_get(json_object_get(target, "spec"), "replicas"));
    if (!json_is_integer(json_object_get(json_object_get(target, "spec"), "replicas")))
        current = 1;
    json_object_set_new(status, "currentReplicas",
                        json_integer(json_integer_value(
                            json_object_get(json_object_get(target, "status"), "replicas"))));
    hpa_rules_default(&up, &down);
    rules_from(json_object_get(json_object_get(spec, "behavior"), "scaleUp"), &up);
    rules_from(json_object_get(json_object_get(spec, "behavior"), "scaleDown"), &down);
    if (current == 0 && min != 0) {
        set_condition(conds, old_conds, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale");
        set_condition(conds, old_conds, "ScalingActive", "False", "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero");
        return write_status(c, hpa, status, err);
    }
    compute(c, spec, ns, json_object_get(json_object_get(target, "spec"), "selector"), current,
            &comp);
    json_object_set_new(status, "currentMetrics", comp.current_metrics);
    if (comp.desired < 0) {
        ctl_enqueue_after(c, key, 3000); /* metrics may just not be there yet */
        set_condition(conds, old_conds, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale");
        set_condition(conds, old_conds, "ScalingActive", "False", comp.active_reason,
                      comp.active_message);
        json_object_set_new(status, "desiredReplicas", json_integer(current));
        return write_status(c, hpa, status, err);
    }
    hpa_normalize(mem, k3c_wall_ms(), current, comp.desired, min, max, &up, &down, &d);
    json_object_set_new(status, "desiredReplicas", json_integer(d.replicas));
    if (d.replicas != current) {
        if (patch_replicas(c, plural, ns, tname, d.replicas, err) < 0) {
            set_condition(conds, old_conds, "AbleToScale", "False", "FailedUpdateScale",
                          "the HPA controller was unable to update the target scale");
            write_status(c, hpa, status, err);
            return -1;
        }
        hpa_record_scale(mem, k3c_wall_ms(), current, d.replicas);
        ctl_now_rfc3339(now, sizeof(now));
        json_object_set_new(status, "lastScaleTime", json_string(now));
        ctl_event(c, hpa, "Normal", "SuccessfulRescale", "New size: %d; reason: %s above target",
                  d.replicas, d.replicas > current ? "cpu resource utilization" : "All metrics");
        log_info("(hpa %s) %s/%s %d -> %d", key, kind, tname, current, d.replicas);
        set_condition(conds, old_conds, "AbleToScale", "True", "SucceededRescale",
                      "the HPA controller was able to update the target scale");
    } else if (d.stabilized_reason) {
        set_condition(conds, old_conds, "AbleToScale", "True", d.stabilized_reason,
                      "recent recommendations were higher than current one, applying the highest "
                      "recent recommendation");
    } else {
        set_condition(conds, old_conds, "AbleToScale", "True", "ReadyForNewScale",
                      "recommended size matches current size");
    }
    set_condition(conds, old_conds, "ScalingActive", comp.active_status, comp.active_reason,
                  comp.active_message);
    set_condition(conds, old_conds, "ScalingLimited", d.limited_reason ? "True" : "False",
                  d.limited_reason ? d.limited_reason : "DesiredWithinRange", d.limited_message);
    if (write_status(c, hpa, status, err) < 0)
        rc = -1;
    return rc;
}

static void
on_hpa(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_MODIFIED ||
        !json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
        ctl_enqueue_object(c, obj);
}

static void
start(struct ctl *c)
{
    struct hpa_state *st = ctl_data(c);

    if (!st) {
        st = k3c_xcalloc(1, sizeof(*st));
        st->by_key = json_object();
        ctl_set_data(c, st);
    }
    ctl_enqueue_all(c, HPA_RESOURCE);
}

static void
stop(struct ctl *c)
{
    struct hpa_state *st = ctl_data(c);
    const char *key;
    json_t *v, *tmp;

    if (!st)
        return;
    json_object_foreach_safe(st->by_key, tmp, key, v)
    {
        free((void *)(uintptr_t)json_integer_value(v));
        json_object_del(st->by_key, key);
    }
    json_decref(st->by_key);
    free(st);
    ctl_set_data(c, NULL);
}

static const struct ctl_watch watches[] = {
    {HPA_RESOURCE, on_hpa},
    {NULL, NULL},
};

const struct ctl_def ctl_def_hpa = {
    .name = "hpa",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_hpa,
    .start = start,
    .stop = stop,
};
