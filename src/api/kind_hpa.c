/* SPDX-License-Identifier: Apache-2.0
 * kind_hpa.c - autoscaling HorizontalPodAutoscaler (the shape of upstream's
 * pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go): the table
 * (NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE), defaults and
 * validation for autoscaling/v2, and autoscaling/v1 written as v2: one
 * storage version (v2) under /registry/horizontalpodautoscalers/. A v1
 * object (targetCPUUtilizationPercentage) is converted to v2 when it is
 * written, and single objects returned through autoscaling/v1 are
 * converted back (api_hpa_to_v1); v1 lists and watches show the stored v2
 * objects. */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>

#define HPA_DEFAULT_CPU_UTILIZATION 80

const struct api_column api_columns_hpa[] = {
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although some "
     "resources may allow a client to request the generation of an appropriate name "
     "automatically.",
     0},
    {"Reference", "string", "", "The scale target: kind/name", 0},
    {"Targets", "string", "", "Current and target value of each metric", 0},
    {"MinPods", "string", "", "The lower limit for the number of replicas", 0},
    {"MaxPods", "integer", "", "The upper limit for the number of replicas", 0},
    {"Replicas", "integer", "", "Current number of replicas of pods managed by this autoscaler", 0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when this object was "
     "created.",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

/* The current value of the metric named like spec_metric (same type and
 * resource name) in status.currentMetrics, or NULL. */
static const json_t *
current_of(const json_t *current, const char *type, const char *res)
{
    const char *member = strcmp(type, "ContainerResource") == 0 ? "containerResource" : "resource";
    json_t *m;
    size_t i;

    json_array_foreach(current, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "type"));
        const char *n = json_string_value(json_object_get(json_object_get(m, member), "name"));

        if (t && n && strcmp(t, type) == 0 && strcmp(n, res) == 0)
            return json_object_get(json_object_get(m, member), "current");
    }
    return NULL;
}

/* printer formatHPAMetrics: "cpu: 45%/50%", "memory: 12Mi/100Mi",
 * "<unknown>" for what has not been measured. */
static void
format_metric(struct k3c_buf *b, const json_t *m, const json_t *current)
{
    const char *type = json_string_value(json_object_get(m, "type")) ?: "";
    const json_t *src = json_object_get(
        m, strcmp(type, "ContainerResource") == 0 ? "containerResource" : "resource");
    const char *res = json_string_value(json_object_get(src, "name"));
    const json_t *target = json_object_get(src, "target");
    const char *ttype = json_string_value(json_object_get(target, "type")) ?: "";
    const json_t *cur;

    if (!res) {
        k3c_buf_appendf(b, "<unknown>/<unknown>");
        return;
    }
    cur = current_of(current, type, res);
    if (strcmp(ttype, "Utilization") == 0) {
        const json_t *u = json_object_get(cur, "averageUtilization");

        if (json_is_integer(u))
            k3c_buf_appendf(
                b, "%s: %lld%%/%lld%%", res, (long long)json_integer_value(u),
                (long long)json_integer_value(json_object_get(target, "averageUtilization")));
        else
            k3c_buf_appendf(
                b, "%s: <unknown>/%lld%%", res,
                (long long)json_integer_value(json_object_get(target, "averageUtilization")));
    } else {
        const char *v = json_string_value(json_object_get(cur, "averageValue"));

        k3c_buf_appendf(b, "%s: %s/%s", res, v ? v : "<unknown>",
                        json_string_value(json_object_get(target, "averageValue")) ?: "<unknown>");
    }
}

json_t *
api_row_hpa(const json_t *obj, int64_t now_s)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *ref = json_object_get(spec, "scaleTargetRef");
    const json_t *metrics = json_object_get(spec, "metrics");
    const json_t *current = json_object_get(json_object_get(obj, "status"), "currentMetrics");
    const json_t *min = json_object_get(spec, "minReplicas");
    const char *created =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "creationTimestamp"));
    struct k3c_buf targets;
    char minbuf[24], age[32], *ref_s;
    size_t i, shown = 0;
    json_t *m, *row;

    k3c_buf_init(&targets);
    json_array_foreach(metrics, i, m)
    {
        if (shown == 2) {
            k3c_buf_appendf(&targets, " + %zu more...", json_array_size(metrics) - 2);
            break;
        }
        if (shown++)
            k3c_buf_append(&targets, ", ", 2);
        format_metric(&targets, m, current);
    }
    if (!shown)
        k3c_buf_appendf(&targets, "<none>");
    if (json_is_integer(min))
        snprintf(minbuf, sizeof(minbuf), "%lld", (long long)json_integer_value(min));
    else
        snprintf(minbuf, sizeof(minbuf), "<unset>");
    if (created)
        api_human_duration(now_s - k3c_time_parse_rfc3339(created), age, sizeof(age));
    else
        snprintf(age, sizeof(age), "<unknown>");
    ref_s = k3c_xasprintf("%s/%s", json_string_value(json_object_get(ref, "kind")) ?: "",
                          json_string_value(json_object_get(ref, "name")) ?: "");
    row = json_pack(
        "[s, s, s#, s, I, I, s]",
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")) ?: "", ref_s,
        targets.data ? targets.data : "", targets.len, minbuf,
        json_integer_value(json_object_get(spec, "maxReplicas")),
        json_integer_value(json_object_get(json_object_get(obj, "status"), "currentReplicas")),
        age);
    free(ref_s);
    k3c_buf_fini(&targets);
    return row;
}

/* ---- defaults --------------------------------------------------------------- */

static void
default_rules(json_t *rules, int window, bool up)
{
    if (!json_object_get(rules, "stabilizationWindowSeconds"))
        json_object_set_new(rules, "stabilizationWindowSeconds", json_integer(window));
    if (!json_object_get(rules, "selectPolicy"))
        json_object_set_new(rules, "selectPolicy", json_string("Max"));
    if (json_array_size(json_object_get(rules, "policies")))
        return;
    json_object_set_new(
        rules, "policies",
        up ? json_pack("[{s:s, s:i, s:i}, {s:s, s:i, s:i}]", "type", "Pods", "value", 4,
                       "periodSeconds", 15, "type", "Percent", "value", 100, "periodSeconds", 15)
           : json_pack("[{s:s, s:i, s:i}]", "type", "Percent", "value", 100, "periodSeconds", 15));
}

void
api_defaults_hpa(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec"), *behavior;

    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "minReplicas"))
        json_object_set_new(spec, "minReplicas", json_integer(1));
    if (!json_array_size(json_object_get(spec, "metrics")))
        json_object_set_new(spec, "metrics",
                            json_pack("[{s:s, s:{s:s, s:{s:s, s:i}}}]", "type", "Resource",
                                      "resource", "name", "cpu", "target", "type", "Utilization",
                                      "averageUtilization", HPA_DEFAULT_CPU_UTILIZATION));
    behavior = json_object_get(spec, "behavior");
    if (json_is_object(behavior)) {
        if (!json_is_object(json_object_get(behavior, "scaleUp")))
            json_object_set_new(behavior, "scaleUp", json_object());
        if (!json_is_object(json_object_get(behavior, "scaleDown")))
            json_object_set_new(behavior, "scaleDown", json_object());
        default_rules(json_object_get(behavior, "scaleUp"), 0, true);
        default_rules(json_object_get(behavior, "scaleDown"), 300, false);
    }
}

/* autoscaling/v1: targetCPUUtilizationPercentage becomes a v2 cpu metric
 * and the object is stored as autoscaling/v2. */
void
api_defaults_hpa_v1(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    const json_t *pct = json_object_get(spec, "targetCPUUtilizationPercentage");
    int target = json_is_integer(pct) ? (int)json_integer_value(pct) : HPA_DEFAULT_CPU_UTILIZATION;

    /* Idempotent: an object converted already keeps its metrics. */
    if (json_is_object(spec) && (pct || !json_array_size(json_object_get(spec, "metrics")))) {
        json_object_set_new(spec, "metrics",
                            json_pack("[{s:s, s:{s:s, s:{s:s, s:i}}}]", "type", "Resource",
                                      "resource", "name", "cpu", "target", "type", "Utilization",
                                      "averageUtilization", target));
        json_object_del(spec, "targetCPUUtilizationPercentage");
    }
    json_object_del(json_object_get(obj, "status"), "currentCPUUtilizationPercentage");
    json_object_set_new(obj, "apiVersion", json_string("autoscaling/v2"));
    api_defaults_hpa(obj);
}

/* ---- validation ------------------------------------------------------------- */

static void
validate_rules(const json_t *rules, const char *field, json_t *causes)
{
    const json_t *w = json_object_get(rules, "stabilizationWindowSeconds");
    const char *sel = json_string_value(json_object_get(rules, "selectPolicy"));
    json_t *p;
    size_t i;

    if (!rules)
        return;
    if (json_is_integer(w) && (json_integer_value(w) < 0 || json_integer_value(w) > 3600))
        api_cause_add(causes, "FieldValueInvalid",
                      "spec.behavior.scaleUp.stabilizationWindowSeconds",
                      "Invalid value: %lld: must be less than or equal to 3600",
                      (long long)json_integer_value(w));
    if (sel && strcmp(sel, "Max") != 0 && strcmp(sel, "Min") != 0 && strcmp(sel, "Disabled") != 0)
        api_cause_add(causes, "FieldValueNotSupported", field,
                      "Unsupported value: \"%s\": supported values: \"Disabled\", \"Max\", "
                      "\"Min\"",
                      sel);
    json_array_foreach(json_object_get(rules, "policies"), i, p)
    {
        const char *t = json_string_value(json_object_get(p, "type")) ?: "";
        json_int_t period = json_integer_value(json_object_get(p, "periodSeconds"));

        if (strcmp(t, "Pods") != 0 && strcmp(t, "Percent") != 0)
            api_cause_add(causes, "FieldValueNotSupported", field,
                          "Unsupported value: \"%s\": supported values: \"Percent\", \"Pods\"", t);
        if (json_integer_value(json_object_get(p, "value")) <= 0)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: must be greater than zero");
        if (period <= 0 || period > 1800)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: %lld: must be greater than zero and less than or equal "
                          "to 1800",
                          (long long)period);
    }
}

static void
validate_metric(const json_t *m, size_t idx, json_t *causes)
{
    const char *type = json_string_value(json_object_get(m, "type")) ?: "";
    bool container = strcmp(type, "ContainerResource") == 0;
    const json_t *src = json_object_get(m, container ? "containerResource" : "resource");
    const json_t *target = json_object_get(src, "target");
    const char *ttype = json_string_value(json_object_get(target, "type")) ?: "";
    char field[96];

    snprintf(field, sizeof(field), "spec.metrics[%zu]", idx);
    if (strcmp(type, "Resource") != 0 && !container && strcmp(type, "Pods") != 0 &&
        strcmp(type, "Object") != 0 && strcmp(type, "External") != 0) {
        api_cause_add(causes, "FieldValueNotSupported", field,
                      "Unsupported value: \"%s\": supported values: \"ContainerResource\", "
                      "\"External\", \"Object\", \"Pods\", \"Resource\"",
                      type);
        return;
    }
    if (strcmp(type, "Resource") != 0 && !container)
        return; /* accepted; the controller reports it unsupported */
    if (!json_string_value(json_object_get(src, "name")))
        api_cause_add(causes, "FieldValueRequired", field,
                      "Required value: must specify a resource name");
    if (container && !json_string_value(json_object_get(src, "container")))
        api_cause_add(causes, "FieldValueRequired", field,
                      "Required value: must specify a container");
    if (strcmp(ttype, "Utilization") == 0) {
        if (json_integer_value(json_object_get(target, "averageUtilization")) <= 0)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: must be greater than 0 (target.averageUtilization)");
    } else if (strcmp(ttype, "AverageValue") == 0) {
        if (!json_string_value(json_object_get(target, "averageValue")))
            api_cause_add(causes, "FieldValueRequired", field,
                          "Required value: must set target.averageValue");
    } else {
        api_cause_add(causes, "FieldValueNotSupported", field,
                      "Unsupported value: \"%s\": a resource metric's target type must be "
                      "Utilization or AverageValue",
                      ttype);
    }
}

void
api_validate_hpa(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *ref = json_object_get(spec, "scaleTargetRef");
    const json_t *min = json_object_get(spec, "minReplicas");
    json_int_t max = json_integer_value(json_object_get(spec, "maxReplicas"));
    json_t *m;
    size_t i;

    (void)old;
    if (!json_string_value(json_object_get(ref, "kind")))
        api_cause_add(causes, "FieldValueRequired", "spec.scaleTargetRef.kind", "Required value");
    if (!json_string_value(json_object_get(ref, "name")))
        api_cause_add(causes, "FieldValueRequired", "spec.scaleTargetRef.name", "Required value");
    if (json_is_integer(min) && json_integer_value(min) < 1)
        api_cause_add(causes, "FieldValueInvalid", "spec.minReplicas",
                      "Invalid value: %lld: must be greater than or equal to 1",
                      (long long)json_integer_value(min));
    if (max < 1)
        api_cause_add(causes, "FieldValueInvalid", "spec.maxReplicas",
                      "Invalid value: %lld: must be greater than 0", (long long)max);
    else if (json_is_integer(min) && max < json_integer_value(min))
        api_cause_add(causes, "FieldValueInvalid", "spec.maxReplicas",
                      "Invalid value: %lld: must be greater than or equal to `minReplicas`",
                      (long long)max);
    json_array_foreach(json_object_get(spec, "metrics"), i, m) validate_metric(m, i, causes);
    validate_rules(json_object_get(json_object_get(spec, "behavior"), "scaleUp"),
                   "spec.behavior.scaleUp", causes);
    validate_rules(json_object_get(json_object_get(spec, "behavior"), "scaleDown"),
                   "spec.behavior.scaleDown", causes);
}

/* The stored v2 object as autoscaling/v1 shows it: the first cpu
 * Utilization metric as targetCPUUtilizationPercentage, its current value
 * as currentCPUUtilizationPercentage; what v1 cannot say is left out. */
void
api_hpa_to_v1(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec"), *status = json_object_get(obj, "status"), *m;
    size_t i;

    if (strcmp(json_string_value(json_object_get(obj, "apiVersion")) ?: "", "autoscaling/v1") == 0)
        return;
    json_object_set_new(obj, "apiVersion", json_string("autoscaling/v1"));
    json_array_foreach(json_object_get(spec, "metrics"), i, m)
    {
        const json_t *res = json_object_get(m, "resource");
        const json_t *target = json_object_get(res, "target");

        if (strcmp(json_string_value(json_object_get(res, "name")) ?: "", "cpu") == 0 &&
            strcmp(json_string_value(json_object_get(target, "type")) ?: "", "Utilization") == 0) {
            json_object_set(spec, "targetCPUUtilizationPercentage",
                            json_object_get(target, "averageUtilization"));
            break;
        }
    }
    json_array_foreach(json_object_get(status, "currentMetrics"), i, m)
    {
        const json_t *res = json_object_get(m, "resource");

        if (strcmp(json_string_value(json_object_get(res, "name")) ?: "", "cpu") == 0 &&
            json_object_get(json_object_get(res, "current"), "averageUtilization")) {
            json_object_set(status, "currentCPUUtilizationPercentage",
                            json_object_get(json_object_get(res, "current"), "averageUtilization"));
            break;
        }
    }
    json_object_del(spec, "metrics");
    json_object_del(spec, "behavior");
    json_object_del(status, "currentMetrics");
    json_object_del(status, "conditions");
}
