/* SPDX-License-Identifier: Apache-2.0
 * cronjob.c - the CronJob controller, after upstream's cronjob
 * controller v2 (pkg/controller/cronjob, Kubernetes 1.32): on each sync it
 * reconciles status.active with the Jobs the CronJob controls (finished
 * ones leave, lastSuccessfulTime follows the latest completion, vanished
 * ones are dropped), then, unless suspended, finds the most recent
 * unmet schedule time (base/cron.c, in spec.timeZone), skips it when it is
 * past startingDeadlineSeconds or already run, applies concurrencyPolicy
 * (Allow; Forbid skips while a job runs; Replace deletes the running ones)
 * and creates the Job <cronjob>-<minutes since the epoch> from
 * spec.jobTemplate; finally it deletes the oldest finished Jobs beyond
 * successfulJobsHistoryLimit / failedJobsHistoryLimit, writes status, and
 * comes back at the next schedule time. The job name is the lock against
 * running one time twice (a create that finds it exists does nothing). */
#define LOG_COMPONENT "cronjob"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/cron.h"
#include "base/log.h"
#include "base/util.h"

/* upstream's nextScheduleDelta: come back just after the time */
#define NEXT_SCHEDULE_DELTA_MS 100

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- informer handlers ---------------------------------------------------------- */

static void
on_cronjob(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_job(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    wl_enqueue_controller(c, obj, "CronJob");
}

static void
cronjob_start(struct ctl *c)
{
    ctl_enqueue_all(c, "cronjobs");
}

/* ---- one sync's view --------------------------------------------------------------- */

struct cjstate {
    const json_t *cj;
    const json_t *spec;
    json_t *status; /* being built (own) */
    json_t *jobs;   /* the jobs it controls (own array) */
    int64_t now;
    bool changed;
};

/* "Complete" or "Failed" when the job finished (IsJobFinished), else NULL. */
static const char *
job_finished(const json_t *job)
{
    static const char *const types[] = {"Complete", "Failed"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(types); i++) {
        const json_t *cond = wl_condition_get(json_object_get(job, "status"), types[i]);

        if (cond && strcmp(or_empty(wl_str(cond, "status")), "True") == 0)
            return types[i];
    }
    return NULL;
}

struct collect {
    const char *uid;
    json_t *out;
};

static bool
collect_job(void *ud, const json_t *job)
{
    struct collect *col = ud;

    if (ctl_is_controlled_by(job, col->uid))
        json_array_append(col->out, (json_t *)job);
    return true;
}

static json_t *
active_list(struct cjstate *st)
{
    json_t *a = json_object_get(st->status, "active");

    if (!json_is_array(a)) {
        json_object_set_new(st->status, "active", json_array());
        a = json_object_get(st->status, "active");
    }
    return a;
}

static bool
in_active(struct cjstate *st, const char *uid, const char *name)
{
    size_t i;
    json_t *ref;

    json_array_foreach(active_list(st), i, ref)
    {
        if ((uid && strcmp(or_empty(wl_str(ref, "uid")), uid) == 0) ||
            (name && strcmp(or_empty(wl_str(ref, "name")), name) == 0))
            return true;
    }
    return false;
}

static void
remove_active(struct cjstate *st, const char *uid)
{
    json_t *a = active_list(st);

    for (size_t i = 0; i < json_array_size(a); i++) {
        if (strcmp(or_empty(wl_str(json_array_get(a, i), "uid")), uid) == 0) {
            json_array_remove(a, i);
            st->changed = true;
            return;
        }
    }
}

static json_t *
job_ref(const json_t *job)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "Job", "apiVersion", "batch/v1",
                     "namespace", or_empty(wl_str(job, "metadata.namespace")), "name",
                     or_empty(wl_str(job, "metadata.name")), "uid",
                     or_empty(wl_str(job, "metadata.uid")), "resourceVersion",
                     or_empty(wl_str(job, "metadata.resourceVersion")));
}

/* The first half of syncCronJob: status.active and lastSuccessfulTime
 * follow the jobs. */
static void
reconcile_active(struct ctl *c, struct cjstate *st)
{
    size_t i;
    json_t *job;

    json_array_foreach(st->jobs, i, job)
    {
        const char *uid = wl_str(job, "metadata.uid");
        const char *done = job_finished(job);
        bool found = in_active(st, uid, NULL);

        if (!found && !done) {
            ctl_event(c, st->cj, "Warning", "UnexpectedJob",
                      "Saw a job that the controller did not create or forgot: %s",
                      or_empty(wl_str(job, "metadata.name")));
        } else if (found && done) {
            remove_active(st, uid);
            ctl_event(c, st->cj, "Normal", "SawCompletedJob",
                      "Saw completed job: %s, condition: %s",
                      or_empty(wl_str(job, "metadata.name")), done);
        }
        if (done && strcmp(done, "Complete") == 0) {
            const char *at = wl_str(job, "status.completionTime");
            const char *last = wl_str(st->status, "lastSuccessfulTime");

            if (at && (!last || wl_time(at) > wl_time(last))) {
                json_object_set_new(st->status, "lastSuccessfulTime", json_string(at));
                st->changed = true;
            }
        }
    }
    /* active jobs that no longer exist */
    for (size_t k = json_array_size(active_list(st)); k-- > 0;) {
        json_t *ref = json_array_get(active_list(st), k);
        bool exists = false;

        json_array_foreach(st->jobs, i, job)
        {
            if (strcmp(or_empty(wl_str(job, "metadata.uid")), or_empty(wl_str(ref, "uid"))) == 0)
                exists = true;
        }
        if (!exists) {
            ctl_event(c, st->cj, "Normal", "MissingJob", "Active job went missing: %s",
                      or_empty(wl_str(ref, "name")));
            json_array_remove(active_list(st), k);
            st->changed = true;
        }
    }
}

static int
delete_job(struct ctl *c, struct cjstate *st, const char *ns, const char *name, const char *uid,
           struct k3c_err *err)
{
    char path[768];
    _cleanup_json_ json_t *body = json_pack("{s:s,s:s,s:s}", "kind", "DeleteOptions", "apiVersion",
                                            "v1", "propagationPolicy", "Background");
    long code;

    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
    code = ctl_api(c, "DELETE", path, NULL, body, NULL, err);
    if (code == 404)
        k3c_err_clear(err);
    else if (code < 200 || code >= 300) {
        ctl_event(c, st->cj, "Warning", "FailedDelete", "Deleted job: %s", err->msg);
        return -1;
    }
    if (uid)
        remove_active(st, uid);
    ctl_event(c, st->cj, "Normal", "SuccessfulDelete", "Deleted job %s", name);
    return 0;
}

/* ---- scheduling ---------------------------------------------------------------------- */

static void
rfc3339(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* RFC 3339 with the zone's offset, as Go formats a time in a location. */
static void
rfc3339_in(const struct cron_tz *tz, int64_t t, char *buf, size_t len)
{
    int off = cron_tz_offset(tz, t);
    time_t w = (time_t)(t + off);
    struct tm tm;
    char date[32];

    if (off == 0) {
        rfc3339(t, buf, len);
        return;
    }
    gmtime_r(&w, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s%c%02d:%02d", date, off < 0 ? '-' : '+', abs(off) / 3600,
             abs(off) % 3600 / 60);
}

/* getJobFromTemplate2 */
static json_t *
job_from_template(const json_t *cj, const struct cron_tz *tz, int64_t scheduled)
{
    const json_t *tmpl = json_object_get(json_object_get(cj, "spec"), "jobTemplate");
    const json_t *tmeta = json_object_get(tmpl, "metadata");
    json_t *labels = json_deep_copy(json_object_get(tmeta, "labels"));
    json_t *annotations = json_deep_copy(json_object_get(tmeta, "annotations"));
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    char name[320], at[48];

    snprintf(name, sizeof(name), "%s-%lld", or_empty(wl_str(cj, "metadata.name")),
             (long long)(scheduled / 60));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    if (!json_is_object(annotations)) {
        json_decref(annotations);
        annotations = json_object();
    }
    rfc3339_in(tz, scheduled, at, sizeof(at));
    json_object_set_new(annotations, "batch.kubernetes.io/cronjob-scheduled-timestamp",
                        json_string(at));
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:o,s:[o]},s:o}", "apiVersion", "batch/v1", "kind",
                     "Job", "metadata", "name", name, "namespace",
                     or_empty(wl_str(cj, "metadata.namespace")), "labels", labels, "annotations",
                     annotations, "ownerReferences", ctl_owner_ref(cj), "spec",
                     spec ? spec : json_object());
}

/* Creates the job for scheduled; 0 done (or it existed), -1 with err. */
static int
create_job(struct ctl *c, struct cjstate *st, const struct cron_tz *tz, int64_t scheduled,
           struct k3c_err *err)
{
    _cleanup_json_ json_t *job = job_from_template(st->cj, tz, scheduled);
    _cleanup_json_ json_t *out = NULL;
    char path[512], at[40];
    const char *ns = or_empty(wl_str(st->cj, "metadata.namespace"));
    long code;

    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
    code = ctl_api(c, "POST", path, NULL, job, &out, err);
    if (code == 409) {
        _cleanup_json_ json_t *have = ctl_get(c, "jobs", ns, wl_str(job, "metadata.name"));

        k3c_err_clear(err);
        /* made by us before (the name is the lock) or by someone else */
        if (!have || !ctl_is_controlled_by(have, wl_str(st->cj, "metadata.uid")) ||
            in_active(st, wl_str(have, "metadata.uid"), NULL))
            return 0;
        json_decref(out);
        out = json_incref(have);
    } else if (code < 200 || code >= 300) {
        ctl_event(c, st->cj, "Warning", "FailedCreate", "Error creating job: %s", err->msg);
        return -1;
    } else {
        ctl_event(c, st->cj, "Normal", "SuccessfulCreate", "Created job %s",
                  or_empty(wl_str(out, "metadata.name")));
    }
    json_array_append_new(active_list(st), job_ref(out));
    rfc3339(scheduled, at, sizeof(at));
    json_object_set_new(st->status, "lastScheduleTime", json_string(at));
    st->changed = true;
    return 0;
}

/* The earliest time to look from: the last schedule, else creation. */
static int64_t
earliest_time(const struct cjstate *st)
{
    int64_t last = wl_time(wl_str(st->status, "lastScheduleTime"));

    return last >= 0 ? last : wl_time(wl_str(st->cj, "metadata.creationTimestamp"));
}

/* nextScheduleTimeDuration: ms until just after the next time. */
static int64_t
next_delay_ms(const struct cjstate *st, const struct cron_schedule *s, const struct cron_tz *tz)
{
    int64_t missed, earliest = earliest_time(st);
    int64_t recent = cron_most_recent(s, tz, earliest, st->now, &missed);
    int64_t next = cron_next(s, tz, recent >= 0 ? recent : earliest);

    if (next < 0)
        return -1;
    return (next - st->now) * 1000 + NEXT_SCHEDULE_DELTA_MS;
}

/* The second half of syncCronJob: start the job that is due, if any.
 * Returns the delay to come back after (ms, -1: none) or -2 on error. */
static int64_t
schedule(struct ctl *c, struct cjstate *st, struct k3c_err *err)
{
    const char *zone = wl_str(st->spec, "timeZone");
    const char *policy = or_empty(wl_str(st->spec, "concurrencyPolicy"));
    const json_t *deadline = json_object_get(st->spec, "startingDeadlineSeconds");
    struct cron_schedule s;
    struct cron_tz *tz;
    int64_t earliest = earliest_time(st), missed = 0, due, delay;
    char name[320];

    if (json_is_true(json_object_get(st->spec, "suspend")))
        return -1;
    tz = cron_tz_load(zone, err);
    if (!tz) {
        ctl_event(c, st->cj, "Warning", "UnknownTimeZone", "invalid timeZone: \"%s\": %s",
                  or_empty(zone), err->msg);
        k3c_err_clear(err);
        return -1;
    }
    if (cron_parse(wl_str(st->spec, "schedule"), &s, err) < 0) {
        ctl_event(c, st->cj, "Warning", "UnparseableSchedule", "unparseable schedule: \"%s\" : %s",
                  or_empty(wl_str(st->spec, "schedule")), err->msg);
        k3c_err_clear(err);
        cron_tz_free(tz);
        return -1;
    }
    if (json_is_integer(deadline) && st->now - json_integer_value(deadline) > earliest)
        earliest = st->now - json_integer_value(deadline);
    due = cron_most_recent(&s, tz, earliest, st->now, &missed);
    if (missed > 100)
        ctl_event(c, st->cj, "Warning", "TooManyMissedTimes",
                  "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                  "check clock skew");
    delay = next_delay_ms(st, &s, tz);
    if (due < 0)
        goto out;
    if (json_is_integer(deadline) && due + json_integer_value(deadline) < st->now) {
        char at[40];

        rfc3339(due, at, sizeof(at));
        ctl_event(c, st->cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: %s",
                  at);
        goto out;
    }
    snprintf(name, sizeof(name), "%s-%lld", or_empty(wl_str(st->cj, "metadata.name")),
             (long long)(due / 60));
    if (in_active(st, NULL, name) || wl_time(wl_str(st->status, "lastScheduleTime")) == due)
        goto out;
    if (strcmp(policy, "Forbid") == 0 && json_array_size(active_list(st)) > 0) {
        ctl_event(c, st->cj, "Normal", "JobAlreadyActive",
                  "Not starting job because prior execution is running and concurrency policy "
                  "is Forbid");
        goto out;
    }
    if (strcmp(policy, "Replace") == 0) {
        json_t *active = json_deep_copy(active_list(st));
        size_t i;
        json_t *ref;
        int failed = 0;

        json_array_foreach(active, i, ref)
        {
            failed |= delete_job(c, st, or_empty(wl_str(ref, "namespace")),
                                 or_empty(wl_str(ref, "name")), wl_str(ref, "uid"), err) < 0;
        }
        json_decref(active);
        if (failed) {
            cron_tz_free(tz);
            return -2;
        }
    }
    if (create_job(c, st, tz, due, err) < 0) {
        cron_tz_free(tz);
        return -2;
    }
    delay = next_delay_ms(st, &s, tz);
out:
    cron_tz_free(tz);
    return delay;
}

/* ---- history limits -------------------------------------------------------------------- */

/* byJobStartTime: by status.startTime (absent last), then name. */
static int
cmp_start(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    int64_t tx = wl_time(wl_str(x, "status.startTime")),
            ty = wl_time(wl_str(y, "status.startTime"));

    if (tx != ty) {
        if (tx < 0 || ty < 0)
            return tx < 0 ? 1 : -1;
        return tx < ty ? -1 : 1;
    }
    return strcmp(or_empty(wl_str(x, "metadata.name")), or_empty(wl_str(y, "metadata.name")));
}

static int
remove_oldest(struct ctl *c, struct cjstate *st, const char *kind, const char *limit_field,
              struct k3c_err *err)
{
    const json_t *limit = json_object_get(st->spec, limit_field);
    _cleanup_free_ const json_t **v = NULL;
    size_t n = 0, i;
    json_t *job;
    int failures = 0;

    if (!json_is_integer(limit))
        return 0;
    v = k3c_xcalloc(json_array_size(st->jobs) + 1, sizeof(*v));
    json_array_foreach(st->jobs, i, job)
    {
        const char *done = job_finished(job);

        if (done && strcmp(done, kind) == 0 && !ctl_being_deleted(job))
            v[n++] = job;
    }
    if ((int64_t)n <= json_integer_value(limit))
        return 0;
    qsort(v, n, sizeof(*v), cmp_start);
    for (i = 0; i < n - (size_t)json_integer_value(limit); i++)
        failures += delete_job(c, st, or_empty(wl_str(v[i], "metadata.namespace")),
                               or_empty(wl_str(v[i], "metadata.name")),
                               wl_str(v[i], "metadata.uid"), err) < 0;
    return failures;
}

/* ---- sync -------------------------------------------------------------------------------- */

static int
cronjob_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *cj = NULL;
    struct cjstate st = {0};
    struct collect col;
    struct k3c_err serr = {0};
    int64_t delay = -1;
    int failures = 0;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    cj = ctl_get(c, "cronjobs", ns, name);
    if (!cj || ctl_being_deleted(cj))
        return 0;
    st.cj = cj;
    st.spec = json_object_get(cj, "spec");
    st.now = wl_now();
    st.status = json_deep_copy(json_object_get(cj, "status"));
    if (!json_is_object(st.status)) {
        json_decref(st.status);
        st.status = json_object();
    }
    st.jobs = json_array();
    col.uid = wl_str(cj, "metadata.uid");
    col.out = st.jobs;
    ctl_list(c, "jobs", ns, NULL, collect_job, &col);
    reconcile_active(c, &st);
    delay = schedule(c, &st, err);
    if (delay == -2)
        failures++;
    failures += remove_oldest(c, &st, "Complete", "successfulJobsHistoryLimit", err);
    failures += remove_oldest(c, &st, "Failed", "failedJobsHistoryLimit", err);
    active_list(&st);
    if (wl_put_status(c, cj, "cronjobs", json_incref(st.status), &serr) < 0 && failures == 0) {
        *err = serr;
        failures = 1;
    }
    if (delay >= 0)
        ctl_enqueue_after(c, key, delay);
    json_decref(st.status);
    json_decref(st.jobs);
    return failures ? -1 : 0;
}

static const struct ctl_watch cronjob_watches[] = {
    {"cronjobs", on_cronjob},
    {"jobs", on_job},
    {NULL, NULL},
};

const struct ctl_def ctl_def_cronjob = {
    .name = "cronjob",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = cronjob_watches,
    .sync = cronjob_sync,
    .start = cronjob_start,
};
