/* SPDX-License-Identifier: Apache-2.0
 * kind_job.c - batch/v1 Job: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/batch/job/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
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

const struct api_column api_columns_job[] = {
    COL_NAME,
    {"Status", "string", "", "Status of the job.", 0},
    {"Completions", "string", "",
     "The number of pods which reached phase Succeeded. The value increases monotonically for a "
     "given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
     0},
    {"Duration", "string", "", "Time required to complete the job.", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "A label query over pods that should match the pod count. Normally, the system sets this "
     "field for you. More info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

/* printJob's status: the first true condition in upstream's order. */
static const char *
job_status(const json_t *job)
{
    static const char *const order[][2] = {
        {"Complete", "Complete"},
        {"Failed", "Failed"},
        {NULL, "Terminating"},
        {"Suspended", "Suspended"},
        {"FailureTarget", "FailureTarget"},
        {"SuccessCriteriaMet", "SuccessCriteriaMet"},
    };
    const json_t *conditions = api_json_path(job, "status.conditions");

    for (size_t i = 0; i < K3C_ARRAY_SIZE(order); i++) {
        bool hit = order[i][0] ? api_condition_true(conditions, order[i][0])
                               : api_json_path(job, "metadata.deletionTimestamp") != NULL;

        if (hit)
            return order[i][1];
    }
    return "Running";
}

static json_t *
job_completions_cell(const json_t *job)
{
    long long succeeded = (long long)api_int_at(job, "status.succeeded", 0);
    json_int_t parallelism = api_int_at(job, "spec.parallelism", 0);

    if (json_is_integer(api_json_path(job, "spec.completions")))
        return json_sprintf("%lld/%lld", succeeded,
                            (long long)api_int_at(job, "spec.completions", 0));
    if (parallelism > 1)
        return json_sprintf("%lld/1 of %lld", succeeded, (long long)parallelism);
    return json_sprintf("%lld/1", succeeded);
}

static json_t *
job_duration_cell(const json_t *job, int64_t now_s)
{
    char buf[32];
    int64_t start = 0, end = now_s;

    if (!api_parse_time(api_str_at(job, "status.startTime"), &start))
        return json_string("");
    api_parse_time(api_str_at(job, "status.completionTime"), &end);
    return json_string(api_human_duration(end - start, buf, sizeof(buf)));
}

json_t *
api_row_job(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o o o o o o]", api_name_cell(obj), job_status(obj),
                     job_completions_cell(obj), job_duration_cell(obj, now_s),
                     api_age_cell(obj, now_s), api_containers_cell(obj, "name"),
                     api_containers_cell(obj, "image"),
                     api_selector_cell(api_json_path(obj, "spec.selector"), "<none>"));
}

static const char *const restart_job[] = {"OnFailure", "Never", NULL};

static const char *const completion_modes[] = {"NonIndexed", "Indexed", NULL};

/* ValidateJob. The selector is generated at create (api_defaults_job), so
 * it is checked only when present. */
void
api_validate_job(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");

    api_check_nonnegative(causes, obj, "spec.parallelism");
    api_check_nonnegative(causes, obj, "spec.completions");
    api_check_nonnegative(causes, obj, "spec.backoffLimit");
    if (json_is_object(sel)) {
        api_validate_label_selector(sel, "spec.selector", causes);
        if (!api_selector_is_empty(sel))
            api_check_selector_matches_template(spec, causes);
    }
    api_validate_pod_template(spec, restart_job, causes);
    api_validate_pod_failure_policy(spec, causes); /* kind_job_policy.c */
    api_check_enum(causes, "spec.completionMode", api_str_at(spec, "completionMode"),
                   completion_modes, false);
    if (!old)
        return;
    api_check_immutable_selector(obj, old, causes);
    if (!json_equal((json_t *)api_json_path(obj, "spec.completionMode"),
                    (json_t *)api_json_path(old, "spec.completionMode")))
        api_cause_invalid_str(causes, "spec.completionMode", api_str_at(spec, "completionMode"),
                              api_msg_immutable);
}

/* The job strategy's generateSelector: pods get job-name and controller-uid
 * labels (legacy and batch.kubernetes.io/ forms) and the selector picks the
 * uid. Only for a job with a uid, no selector and no manualSelector. */
static void
job_generate_selector(json_t *obj, json_t *spec)
{
    const char *name = api_str_at(obj, "metadata.name");
    const char *uid = api_str_at(obj, "metadata.uid");
    json_t *labels = NULL;

    if (api_is_empty(uid) || json_object_get(spec, "selector") ||
        json_is_true(json_object_get(spec, "manualSelector")))
        return;
    labels = api_ensure_object(api_ensure_object(api_ensure_object(spec, "template"), "metadata"),
                               "labels");
    api_default_take(labels, "job-name", json_string(api_or_empty(name)));
    api_default_take(labels, "batch.kubernetes.io/job-name", json_string(api_or_empty(name)));
    api_default_take(labels, "controller-uid", json_string(uid));
    api_default_take(labels, "batch.kubernetes.io/controller-uid", json_string(uid));
    json_object_set_new(
        spec, "selector",
        json_pack("{s:{s:s}}", "matchLabels", "batch.kubernetes.io/controller-uid", uid));
}

/* SetDefaults_Job. The template's restartPolicy gets SetDefaults_PodSpec's
 * Always like every pod template, which validation then rejects for a job
 * exactly as upstream does. */
void
api_defaults_job(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    bool had_labels = json_is_object(api_json_path(spec, "template.metadata.labels"));
    json_t *meta = api_ensure_object(obj, "metadata");

    if (!json_object_get(spec, "completions") && !json_object_get(spec, "parallelism"))
        api_default_take(spec, "completions", json_integer(1));
    api_default_take(spec, "parallelism", json_integer(1));
    api_default_take(spec, "backoffLimit",
                     json_integer(json_object_get(spec, "backoffLimitPerIndex") ? 2147483647 : 6));
    api_default_take(spec, "completionMode", json_string("NonIndexed"));
    api_default_take(spec, "suspend", json_false());
    api_default_take(
        spec, "podReplacementPolicy",
        json_string(json_object_get(spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed"));
    job_generate_selector(obj, spec);
    /* Upstream shares the template's label map with the job when the job
     * has none, so the job also shows the generated labels. */
    if (had_labels && json_object_size(json_object_get(meta, "labels")) == 0)
        json_object_set_new(meta, "labels",
                            json_deep_copy(api_json_path(spec, "template.metadata.labels")));
    api_template_defaults(obj);
}
