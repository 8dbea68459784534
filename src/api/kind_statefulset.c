/* SPDX-License-Identifier: Apache-2.0
 * kind_statefulset.c - apps/v1 StatefulSet and ControllerRevision: table
 * columns and rows (pkg/printers/internalversion printStatefulSet,
 * printControllerRevision), validation (pkg/apis/apps/validation) and
 * defaults (SetDefaults_StatefulSet), the shape of upstream's
 * pkg/registry/apps/statefulset/strategy.go and controllerrevision
 * (Kubernetes 1.32). The controller is src/controllers/statefulset.c. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"

const struct api_column api_columns_statefulset[] = {
    COL_NAME,
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    COL_END,
};

json_t *
api_row_statefulset(const json_t *obj, int64_t now_s)
{
    json_t *ready = json_sprintf("%lld/%lld", (long long)api_int_at(obj, "status.readyReplicas", 0),
                                 (long long)api_int_at(obj, "spec.replicas", 1));

    return json_pack("[o o o o o]", api_name_cell(obj), ready, api_age_cell(obj, now_s),
                     api_containers_cell(obj, "name"), api_containers_cell(obj, "image"));
}

const struct api_column api_columns_controllerrevision[] = {
    COL_NAME,
    {"Controller", "string", "", "Controller of the object", 0},
    {"Revision", "string", "", "Revision indicates the revision of the state represented by Data.",
     0},
    COL_AGE,
    COL_END,
};

/* formatResourceName with kind: "statefulset.apps/web". */
static json_t *
controller_cell(const json_t *obj)
{
    const json_t *refs = api_json_path(obj, "metadata.ownerReferences");
    size_t i;
    const json_t *ref;
    char kind[128];

    json_array_foreach(refs, i, ref)
    {
        const char *api_version = api_or_empty(api_str_at(ref, "apiVersion"));
        const char *slash = strchr(api_version, '/');

        if (!json_is_true(json_object_get(ref, "controller")))
            continue;
        snprintf(kind, sizeof(kind), "%s", api_or_empty(api_str_at(ref, "kind")));
        for (char *p = kind; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        if (slash)
            return json_sprintf("%s.%.*s/%s", kind, (int)(slash - api_version), api_version,
                                api_or_empty(api_str_at(ref, "name")));
        return json_sprintf("%s/%s", kind, api_or_empty(api_str_at(ref, "name")));
    }
    return json_string("<none>");
}

json_t *
api_row_controllerrevision(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o I o]", api_name_cell(obj), controller_cell(obj),
                     api_int_at(obj, "revision", 0), api_age_cell(obj, now_s));
}

static const char *const pod_management_policies[] = {"OrderedReady", "Parallel", NULL};
static const char *const sts_update_types[] = {"RollingUpdate", "OnDelete", NULL};
static const char *const retention_policies[] = {"Retain", "Delete", NULL};

/* The spec fields an update may change (ValidateStatefulSetUpdate). */
static const char *const sts_mutable[] = {
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    NULL,
};

static void
check_sts_update(const json_t *obj, const json_t *old, json_t *causes)
{
    json_t *a = json_deep_copy(api_json_path(obj, "spec"));
    json_t *b = json_deep_copy(api_json_path(old, "spec"));

    for (size_t i = 0; sts_mutable[i]; i++) {
        json_object_del(a, sts_mutable[i]);
        json_object_del(b, sts_mutable[i]);
    }
    if (!json_equal(a, b))
        api_cause_forbidden(causes, "spec",
                            "updates to statefulset spec for fields other than 'replicas', "
                            "'ordinals', 'template', 'updateStrategy', "
                            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                            "forbidden");
    json_decref(a);
    json_decref(b);
}

void
api_validate_statefulset(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");
    const char *type = api_str_at(obj, "spec.updateStrategy.type");

    api_check_nonnegative(causes, obj, "spec.replicas");
    api_check_nonnegative(causes, obj, "spec.minReadySeconds");
    api_check_nonnegative(causes, obj, "spec.revisionHistoryLimit");
    api_check_nonnegative(causes, obj, "spec.ordinals.start");
    api_check_enum(causes, "spec.podManagementPolicy", api_str_at(spec, "podManagementPolicy"),
                   pod_management_policies, true);
    api_check_enum(causes, "spec.updateStrategy.type", type, sts_update_types, true);
    if (type && strcmp(type, "OnDelete") == 0 &&
        api_json_path(spec, "updateStrategy.rollingUpdate"))
        api_cause_invalid_str(causes, "spec.updateStrategy.rollingUpdate", "",
                              "only allowed for updateStrategy 'RollingUpdate'");
    api_check_nonnegative(causes, obj, "spec.updateStrategy.rollingUpdate.partition");
    api_check_enum(causes, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
                   api_str_at(spec, "persistentVolumeClaimRetentionPolicy.whenDeleted"),
                   retention_policies, false);
    api_check_enum(causes, "spec.persistentVolumeClaimRetentionPolicy.whenScaled",
                   api_str_at(spec, "persistentVolumeClaimRetentionPolicy.whenScaled"),
                   retention_policies, false);
    if (!json_is_object(sel)) {
        api_cause_required(causes, "spec.selector", NULL);
    } else {
        api_validate_label_selector(sel, "spec.selector", causes);
        if (api_selector_is_empty(sel))
            api_cause_invalid_selector(causes, "spec.selector", sel,
                                       "empty selector is invalid for statefulset");
        else
            api_check_selector_matches_template(spec, causes);
    }
    api_validate_pod_template(spec, api_restart_always, causes);
    if (old)
        check_sts_update(obj, old, causes);
}

/* SetDefaults_StatefulSet (StatefulSetAutoDeletePVC on, as in 1.32). */
void
api_defaults_statefulset(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    json_t *strategy = api_ensure_object(spec, "updateStrategy");
    json_t *retention = api_ensure_object(spec, "persistentVolumeClaimRetentionPolicy");

    api_default_take(spec, "podManagementPolicy", json_string("OrderedReady"));
    api_default_take(strategy, "type", json_string("RollingUpdate"));
    if (strcmp(api_or_empty(api_str_at(strategy, "type")), "RollingUpdate") == 0)
        api_default_take(api_ensure_object(strategy, "rollingUpdate"), "partition",
                         json_integer(0));
    api_default_take(retention, "whenDeleted", json_string("Retain"));
    api_default_take(retention, "whenScaled", json_string("Retain"));
    api_default_take(spec, "replicas", json_integer(1));
    api_default_take(spec, "revisionHistoryLimit", json_integer(10));
    api_template_defaults(obj);
}

void
api_validate_controllerrevision(const json_t *obj, const json_t *old, json_t *causes)
{
    api_check_nonnegative(causes, obj, "revision");
    if (old && !json_equal(api_json_path(obj, "data"), api_json_path(old, "data")))
        api_cause_invalid_str(causes, "data", "", api_msg_immutable);
}
