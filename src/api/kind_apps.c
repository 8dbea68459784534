/* SPDX-License-Identifier: Apache-2.0
 * kind_apps.c - apps/v1 Deployment, ReplicaSet and DaemonSet: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/apps/deployment, apps/replicaset and apps/daemonset/strategy.go
 * (Kubernetes 1.32). Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_deployment[] = {
    COL_NAME,
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this deployment that have the desired "
     "template spec.",
     0},
    {"Available", "string", "",
     "Total number of available pods (ready for at least minReadySeconds) targeted by this "
     "deployment.",
     0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
     "ones affected by this deployment.",
     1},
    COL_END,
};

const struct api_column api_columns_replicaset[] = {
    COL_NAME,
    {"Desired", "integer", "",
     "Replicas is the number of desired replicas. This is a pointer to distinguish between "
     "explicit zero and unspecified. Defaults to 1. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Current", "integer", "",
     "Replicas is the most recently observed number of replicas. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Ready", "integer", "", "The number of ready replicas for this replica set.", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "Selector is a label query over pods that should match the replica count. If the selector "
     "is empty, it is defaulted to the labels present on the pod template. Label keys and values "
     "that must match in order to be controlled by this replica set. More "
     "info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

const struct api_column api_columns_daemonset[] = {
    COL_NAME,
    {"Desired", "integer", "",
     "The total number of nodes that should be running the daemon pod (including nodes correctly "
     "running the daemon pod). More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Current", "integer", "",
     "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
     "daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Ready", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and ready.",
     0},
    {"Up-to-date", "integer", "", "The total number of nodes that are running updated daemon pod",
     0},
    {"Available", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and available (ready for at least spec.minReadySeconds)",
     0},
    {"Node Selector", "string", "",
     "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which "
     "must match a node's labels for the pod to be scheduled on that node. More info: "
     "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
     0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "A label query over pods that are managed by the daemon set. Must match in order to be "
     "controlled. If empty, defaulted to labels on Pod template. More info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

json_t *
api_row_deployment(const json_t *obj, int64_t now_s)
{
    json_t *ready = json_sprintf("%lld/%lld", (long long)api_int_at(obj, "status.readyReplicas", 0),
                                 (long long)api_int_at(obj, "spec.replicas", 1));

    return json_pack("[o o I I o o o o]", api_name_cell(obj), ready,
                     api_int_at(obj, "status.updatedReplicas", 0),
                     api_int_at(obj, "status.availableReplicas", 0), api_age_cell(obj, now_s),
                     api_containers_cell(obj, "name"), api_containers_cell(obj, "image"),
                     api_selector_cell(api_json_path(obj, "spec.selector"), ""));
}

json_t *
api_row_replicaset(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I I I o o o o]", api_name_cell(obj), api_int_at(obj, "spec.replicas", 1),
                     api_int_at(obj, "status.replicas", 0),
                     api_int_at(obj, "status.readyReplicas", 0), api_age_cell(obj, now_s),
                     api_containers_cell(obj, "name"), api_containers_cell(obj, "image"),
                     api_selector_cell(api_json_path(obj, "spec.selector"), ""));
}

json_t *
api_row_daemonset(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I I I I I o o o o o]", api_name_cell(obj),
                     api_int_at(obj, "status.desiredNumberScheduled", 0),
                     api_int_at(obj, "status.currentNumberScheduled", 0),
                     api_int_at(obj, "status.numberReady", 0),
                     api_int_at(obj, "status.updatedNumberScheduled", 0),
                     api_int_at(obj, "status.numberAvailable", 0),
                     api_labels_cell(api_json_path(obj, "spec.template.spec.nodeSelector")),
                     api_age_cell(obj, now_s), api_containers_cell(obj, "name"),
                     api_containers_cell(obj, "image"),
                     api_selector_cell(api_json_path(obj, "spec.selector"), ""));
}

void
api_check_immutable_selector(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *sel = api_json_path(obj, "spec.selector");

    if (old && !json_equal((json_t *)sel, (json_t *)api_json_path(old, "spec.selector")))
        api_cause_invalid_selector(causes, "spec.selector", sel, api_msg_immutable);
}

/* ValidateDeploymentSpec / ValidateReplicaSetSpec / ValidateDaemonSetSpec:
 * a selector is required and must select the template; what = "deployment"
 * or "daemonset" for upstream's empty-selector message. */
static void
validate_workload(const json_t *obj, const json_t *old, const char *what, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");
    char detail[64];

    api_check_nonnegative(causes, obj, "spec.replicas");
    if (!json_is_object(sel)) {
        api_cause_required(causes, "spec.selector", NULL);
        return;
    }
    api_validate_label_selector(sel, "spec.selector", causes);
    if (api_selector_is_empty(sel)) {
        snprintf(detail, sizeof(detail), "empty selector is invalid for %s", what);
        api_cause_invalid_selector(causes, "spec.selector", sel, detail);
    } else {
        api_check_selector_matches_template(spec, causes);
    }
    api_validate_pod_template(spec, api_restart_always, causes);
    api_check_nonnegative(causes, obj, "spec.revisionHistoryLimit");
    api_check_nonnegative(causes, obj, "spec.minReadySeconds");
    api_check_immutable_selector(obj, old, causes);
}

void
api_validate_deployment(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "deployment", causes);
}

void
api_validate_replicaset(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "deployment", causes);
}

void
api_validate_daemonset(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "daemonset", causes);
}

void
api_defaults_deployment(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    json_t *strategy = api_ensure_object(spec, "strategy");

    api_default_take(spec, "replicas", json_integer(1));
    api_default_take(strategy, "type", json_string("RollingUpdate"));
    if (strcmp(api_or_empty(api_str_at(strategy, "type")), "RollingUpdate") == 0) {
        json_t *ru = api_ensure_object(strategy, "rollingUpdate");

        api_default_take(ru, "maxUnavailable", json_string("25%"));
        api_default_take(ru, "maxSurge", json_string("25%"));
    }
    api_default_take(spec, "revisionHistoryLimit", json_integer(10));
    api_default_take(spec, "progressDeadlineSeconds", json_integer(600));
    api_template_defaults(obj);
}

void
api_defaults_replicaset(json_t *obj)
{
    api_default_take(api_ensure_object(obj, "spec"), "replicas", json_integer(1));
    api_template_defaults(obj);
}

void
api_defaults_daemonset(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    json_t *strategy = api_ensure_object(spec, "updateStrategy");

    api_default_take(strategy, "type", json_string("RollingUpdate"));
    if (strcmp(api_or_empty(api_str_at(strategy, "type")), "RollingUpdate") == 0) {
        json_t *ru = api_ensure_object(strategy, "rollingUpdate");

        api_default_take(ru, "maxUnavailable", json_integer(1));
        api_default_take(ru, "maxSurge", json_integer(0));
    }
    api_default_take(spec, "revisionHistoryLimit", json_integer(10));
    api_template_defaults(obj);
}
