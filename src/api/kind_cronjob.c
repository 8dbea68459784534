/* SPDX-License-Identifier: Apache-2.0
 * kind_cronjob.c - batch/v1 CronJob: table columns and row
 * (pkg/printers/internalversion printCronJob), validation
 * (pkg/apis/batch/validation ValidateCronJob*) and defaults
 * (SetDefaults_CronJob), the shape of upstream's
 * pkg/registry/batch/cronjob/strategy.go (Kubernetes 1.32). Schedules are
 * parsed by base/cron.c; the controller is src/controllers/cronjob.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/cron.h"

const struct api_column api_columns_cronjob[] = {
    COL_NAME,
    {"Schedule", "string", "",
     "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0},
    {"Timezone", "string", "",
     "The time zone name for the given schedule, see "
     "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will "
     "default to the time zone of the kube-controller-manager process. The set of valid time "
     "zone names and the time zone offset is loaded from the system-wide time zone database by "
     "the API server during CronJob validation and the controller manager during execution. If "
     "no system-wide time zone database can be found a bundled version of the database is used "
     "instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to "
     "a change in host configuration, the controller will stop creating new new Jobs and will "
     "create a system event with the reason UnknownTimeZone. More information can be found in "
     "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
     0},
    {"Suspend", "boolean", "",
     "This flag tells the controller to suspend subsequent executions, it does not apply to "
     "already started executions.  Defaults to false.",
     0},
    {"Active", "integer", "", "A list of pointers to currently running jobs.", 0},
    {"Last Schedule", "string", "",
     "Information when was the last time the job was successfully scheduled.", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "A label query over pods that should match the pod count. Normally, the system sets this "
     "field for you. More info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

/* printBoolPtr: "<unset>" for an absent value. */
static const char *
bool_cell(const json_t *v)
{
    if (!json_is_boolean(v))
        return "<unset>";
    return json_is_true(v) ? "True" : "False";
}

json_t *
api_row_cronjob(const json_t *obj, int64_t now_s)
{
    const json_t *tmpl = api_json_path(obj, "spec.jobTemplate");
    const char *last = api_str_at(obj, "status.lastScheduleTime");
    const char *tz = api_str_at(obj, "spec.timeZone");

    return json_pack(
        "[o s s s I o o o o o]", api_name_cell(obj), api_or_empty(api_str_at(obj, "spec.schedule")),
        tz ? tz : "<none>", bool_cell(api_json_path(obj, "spec.suspend")),
        (json_int_t)json_array_size(api_json_path(obj, "status.active")),
        last ? api_since_cell(last, now_s) : json_string("<none>"), api_age_cell(obj, now_s),
        api_containers_cell(tmpl, "name"), api_containers_cell(tmpl, "image"),
        api_selector_cell(api_json_path(tmpl, "spec.selector"), "<none>"));
}

static const char *const concurrency_policies[] = {"Allow", "Forbid", "Replace", NULL};
static const char *const restart_job[] = {"OnFailure", "Never", NULL};

/* validateScheduleFormat: the parser's message, and no TZ= in the
 * schedule (allowed on update only when the old schedule had one). */
static void
validate_schedule(const json_t *obj, const json_t *old, json_t *causes)
{
    const char *schedule = api_str_at(obj, "spec.schedule");
    const char *old_schedule = old ? api_str_at(old, "spec.schedule") : NULL;
    bool allow_tz = old_schedule && strstr(old_schedule, "TZ");
    struct cron_schedule s;
    struct k3c_err err = {0};

    if (api_is_empty(schedule)) {
        api_cause_required(causes, "spec.schedule", "");
        return;
    }
    if (cron_parse(schedule, &s, &err) < 0)
        api_cause_invalid_str(causes, "spec.schedule", schedule, err.msg);
    if (strstr(schedule, "TZ")) {
        if (!allow_tz)
            api_cause_invalid_str(causes, "spec.schedule", schedule,
                                  "cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                  "instead");
        else if (api_json_path(obj, "spec.timeZone"))
            api_cause_invalid_str(causes, "spec.schedule", schedule,
                                  "cannot use both timeZone field and TZ or CRON_TZ in schedule");
    }
}

/* validateTimeZone */
static void
validate_time_zone(const json_t *obj, json_t *causes)
{
    const json_t *v = api_json_path(obj, "spec.timeZone");
    const char *tz = json_string_value(v);
    struct cron_tz *loaded;
    struct k3c_err err = {0};

    if (!v || json_is_null(v))
        return;
    if (api_is_empty(tz)) {
        api_cause_invalid_str(causes, "spec.timeZone", api_or_empty(tz),
                              "timeZone must be nil or non-empty string");
        return;
    }
    if (strcasecmp(tz, "Local") == 0) {
        api_cause_invalid_str(causes, "spec.timeZone", tz,
                              "timeZone must be an explicit time zone as defined in "
                              "https://www.iana.org/time-zones");
        return;
    }
    loaded = cron_tz_load(tz, &err);
    if (!loaded)
        api_cause_invalid_str(causes, "spec.timeZone", tz, err.msg);
    cron_tz_free(loaded);
}

void
api_validate_cronjob(const json_t *obj, const json_t *old, json_t *causes)
{
    const char *name = api_str_at(obj, "metadata.name");
    const json_t *job_spec = api_json_path(obj, "spec.jobTemplate.spec");

    /* Job names are <cronjob>-<minutes since epoch>: 63 - 11 */
    if (name && strlen(name) > 52)
        api_cause_invalid_str(causes, "metadata.name", name, "must be no more than 52 characters");
    validate_schedule(obj, old, causes);
    validate_time_zone(obj, causes);
    api_check_nonnegative(causes, obj, "spec.startingDeadlineSeconds");
    api_check_nonnegative(causes, obj, "spec.successfulJobsHistoryLimit");
    api_check_nonnegative(causes, obj, "spec.failedJobsHistoryLimit");
    api_check_enum(causes, "spec.concurrencyPolicy", api_str_at(obj, "spec.concurrencyPolicy"),
                   concurrency_policies, true);
    api_check_nonnegative(causes, obj, "spec.jobTemplate.spec.parallelism");
    api_check_nonnegative(causes, obj, "spec.jobTemplate.spec.completions");
    api_check_nonnegative(causes, obj, "spec.jobTemplate.spec.backoffLimit");
    if (json_is_object(json_object_get(job_spec, "selector")))
        api_validate_label_selector(json_object_get(job_spec, "selector"),
                                    "spec.jobTemplate.spec.selector", causes);
    /* The template's fields are checked as a Job's (named spec.template.*). */
    api_validate_pod_template(job_spec, restart_job, causes);
}

/* SetDefaults_CronJob, and SetDefaults_PodSpec on the job's pod template. */
void
api_defaults_cronjob(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    json_t *job = api_ensure_object(api_ensure_object(spec, "jobTemplate"), "spec");
    json_t *holder = json_pack("{s:O}", "spec", job);

    api_default_take(spec, "concurrencyPolicy", json_string("Allow"));
    api_default_take(spec, "suspend", json_false());
    api_default_take(spec, "successfulJobsHistoryLimit", json_integer(3));
    api_default_take(spec, "failedJobsHistoryLimit", json_integer(1));
    api_template_defaults(holder);
    json_decref(holder);
}
