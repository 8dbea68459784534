/* SPDX-License-Identifier: Apache-2.0
 * job.c - the Job controller: runs up to parallelism pods until
 * completions succeeded (or, without completions, until one succeeded and
 * none run), fails the job past backoffLimit (failed pods; container
 * restarts with restartPolicy OnFailure) or activeDeadlineSeconds,
 * deletes it ttlSecondsAfterFinished after it finished, and writes status
 * (active/ready/succeeded/failed, startTime, completionTime, conditions).
 * Pods come from the template, whose job-name and controller-uid labels
 * the API's Job defaults put there. Counts never go down when finished
 * pods are removed (upstream tracks them with finalizers). */
#define LOG_COMPONENT "job"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

static struct wl_expectations job_expect = WL_EXPECTATIONS_INIT;

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- informer handlers ------------------------------------------------------- */

static void
on_job(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const char *uid = wl_enqueue_controller(c, obj, "Job");
    bool del_now = obj && wl_str(obj, "metadata.deletionTimestamp");
    bool del_before = old && wl_str(old, "metadata.deletionTimestamp");

    if (!uid)
        return;
    if (ev == CTL_ADDED)
        wl_expect_observe(&job_expect, uid, true);
    else if ((ev == CTL_DELETED && !del_now) || (ev == CTL_MODIFIED && del_now && !del_before))
        wl_expect_observe(&job_expect, uid, false);
}

static void
job_start(struct ctl *c)
{
    ctl_enqueue_all(c, "jobs");
}

/* ---- one sync's view ------------------------------------------------------------ */

struct jstate {
    const json_t *job;
    const json_t *spec;
    json_t *status; /* being built (own) */
    json_t *active; /* the running pods (own array) */
    struct wl_job_counts n;
    int terminating;  /* pods being deleted, not finished */
    int new_failures; /* failed pods that finished after the last success */
    int64_t last_failure;
    int64_t restarts;   /* container restarts of running pods */
    char fail_job[512]; /* a podFailurePolicy FailJob rule's message, or "" */
    int64_t now;
    char now_s[32];
    /* completionMode Indexed: per index 0..n_idx-1, 1 succeeded, 2 running */
    char *idx;
    int64_t n_idx;
};

#define INDEX_ANNOTATION "batch.kubernetes.io/job-completion-index"
#define MAX_INDEXES      100000

static bool
is_indexed(const json_t *spec)
{
    return strcmp(or_empty(wl_str(spec, "completionMode")), "Indexed") == 0;
}

/* The completion index a pod of an Indexed job carries, or -1. */
static int64_t
pod_index(const json_t *pod, int64_t n_idx)
{
    const json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    const char *v = json_string_value(json_object_get(ann, INDEX_ANNOTATION));
    char *end = NULL;
    long long i;

    if (!v || !*v)
        return -1;
    i = strtoll(v, &end, 10);
    return *end || i < 0 || i >= n_idx ? -1 : i;
}

/* Marks the indexes of status.completedIndexes ("1,3-5") done. */
static void
parse_completed(struct jstate *st)
{
    const char *p = wl_str(st->status, "completedIndexes");

    while (p && *p) {
        char *end = NULL;
        long long lo = strtoll(p, &end, 10), hi = lo;

        if (end == p)
            return;
        p = end;
        if (*p == '-') {
            hi = strtoll(p + 1, &end, 10);
            p = end;
        }
        for (long long i = lo; i <= hi && i < st->n_idx; i++)
            if (i >= 0)
                st->idx[i] = 1;
        if (*p == ',')
            p++;
        else
            return;
    }
}

/* completedIndexes in upstream's compressed form: "0-2,4". */
static json_t *
completed_string(const struct jstate *st)
{
    struct k3c_buf b;
    json_t *out;

    k3c_buf_init(&b);
    for (int64_t i = 0; i < st->n_idx; i++) {
        int64_t j = i;

        if (st->idx[i] != 1)
            continue;
        while (j + 1 < st->n_idx && st->idx[j + 1] == 1)
            j++;
        if (j == i)
            k3c_buf_appendf(&b, "%s%lld", b.len ? "," : "", (long long)i);
        else
            k3c_buf_appendf(&b, "%s%lld-%lld", b.len ? "," : "", (long long)i, (long long)j);
        i = j;
    }
    out = json_stringn(b.data ? b.data : "", b.len);
    k3c_buf_fini(&b);
    return out;
}

static bool
is_finished(const json_t *status)
{
    const json_t *c = wl_condition_get(status, "Complete");
    const json_t *f = wl_condition_get(status, "Failed");

    return (c && strcmp(or_empty(wl_str(c, "status")), "True") == 0) ||
           (f && strcmp(or_empty(wl_str(f, "status")), "True") == 0);
}

static int64_t
pod_restarts(const json_t *pod)
{
    const char *keys[] = {"initContainerStatuses", "containerStatuses"};
    int64_t sum = 0;

    for (size_t k = 0; k < 2; k++) {
        size_t i;
        json_t *cs;

        json_array_foreach(json_object_get(json_object_get(pod, "status"), keys[k]), i, cs)
        {
            sum += wl_int(cs, "restartCount", 0);
        }
    }
    return sum;
}

/* Claims the job's pods (adopting orphans the selector picks) and counts. */
static void
count_pods(struct ctl *c, struct jstate *st, struct k3c_err *err)
{
    _cleanup_json_ json_t *all = wl_list_pods(c, wl_str(st->job, "metadata.namespace"));
    const json_t *sel = json_object_get(st->spec, "selector");
    const char *uid = wl_str(st->job, "metadata.uid");
    int succeeded = 0, failed = 0, n_fail_at = 0;
    int64_t fail_at[64], last_success = -1;
    size_t i;
    json_t *p;

    st->active = json_array();
    json_array_foreach(all, i, p)
    {
        const char *phase = or_empty(wl_str(p, "status.phase"));
        bool matches =
            ctl_selector_matches(sel, json_object_get(json_object_get(p, "metadata"), "labels"));
        bool owned = ctl_is_controlled_by(p, uid);

        if (!owned && matches && !ctl_controller_ref(p) && !ctl_being_deleted(p) &&
            wl_claim(c, st->job, p, "pods", true, err) == 0)
            owned = true;
        if (!owned || !matches)
            continue;
        if (st->idx) {
            int64_t i = pod_index(p, st->n_idx);

            if (i >= 0 && strcmp(phase, "Succeeded") == 0)
                st->idx[i] = 1;
            else if (i >= 0 && st->idx[i] == 0 && strcmp(phase, "Failed") != 0 &&
                     !ctl_being_deleted(p))
                st->idx[i] = 2;
        }
        if (strcmp(phase, "Succeeded") == 0) {
            int64_t t = wl_pod_finished_at(p);

            succeeded++;
            if (t > last_success)
                last_success = t;
        } else if (strcmp(phase, "Failed") == 0) {
            char why[512];
            const char *action = wl_pod_failure_action(
                json_object_get(st->spec, "podFailurePolicy"), p, why, sizeof(why));

            if (action && strcmp(action, "Ignore") == 0)
                continue; /* not counted toward backoffLimit (job_failure_policy.c) */
            if (action && strcmp(action, "FailJob") == 0 && !st->fail_job[0])
                snprintf(st->fail_job, sizeof(st->fail_job), "%s", why);
            failed++;
            if (n_fail_at < 64)
                fail_at[n_fail_at++] = wl_pod_finished_at(p);
        } else if (ctl_being_deleted(p))
            st->terminating++;
        else {
            json_array_append(st->active, p);
            st->n.active++;
            st->n.ready += ctl_pod_ready(p);
            st->restarts += pod_restarts(p);
        }
    }
    k3c_err_clear(err);
    st->last_failure = -1;
    for (int k = 0; k < n_fail_at; k++) {
        if (fail_at[k] < 0 || fail_at[k] <= last_success)
            continue;
        st->new_failures++;
        if (fail_at[k] > st->last_failure)
            st->last_failure = fail_at[k];
    }
    st->n.succeeded = (int)wl_int(st->status, "succeeded", 0);
    st->n.failed = (int)wl_int(st->status, "failed", 0);
    if (st->idx) {
        /* an index succeeds once, however many of its pods did */
        succeeded = 0;
        for (int64_t i = 0; i < st->n_idx; i++)
            succeeded += st->idx[i] == 1;
    }
    if (succeeded > st->n.succeeded)
        st->n.succeeded = succeeded;
    if (failed > st->n.failed)
        st->n.failed = failed;
}

/* ---- writes --------------------------------------------------------------------- */

static int
delete_active(struct ctl *c, struct jstate *st, int n, struct k3c_err *err)
{
    size_t count = json_array_size(st->active);
    _cleanup_free_ const json_t **v = k3c_xcalloc(count ? count : 1, sizeof(*v));
    const char *uid = wl_str(st->job, "metadata.uid");
    int failures = 0;

    for (size_t i = 0; i < count; i++)
        v[i] = json_array_get(st->active, i);
    wl_pods_sort_for_delete(v, count);
    if (n > (int)count)
        n = (int)count;
    wl_expect(&job_expect, uid, 0, n, k3c_now_ms());
    for (int i = 0; i < n; i++) {
        if (wl_delete_pod(c, st->job, v[i], err) < 0) {
            wl_expect_observe(&job_expect, uid, false);
            failures++;
        }
    }
    return failures;
}

/* An Indexed job's pod for index i: the annotation and label, the
 * JOB_COMPLETION_INDEX variable in every container, hostname <job>-<i>. */
static void
set_index(json_t *pod, const char *job, int64_t i)
{
    json_t *meta = json_object_get(pod, "metadata");
    json_t *spec = json_object_get(pod, "spec");
    const char *keys[] = {"initContainers", "containers"};
    char v[32];

    snprintf(v, sizeof(v), "%lld", (long long)i);
    if (!json_is_object(json_object_get(meta, "annotations")))
        json_object_set_new(meta, "annotations", json_object());
    if (!json_is_object(json_object_get(meta, "labels")))
        json_object_set_new(meta, "labels", json_object());
    json_object_set_new(json_object_get(meta, "annotations"), INDEX_ANNOTATION, json_string(v));
    json_object_set_new(json_object_get(meta, "labels"), INDEX_ANNOTATION, json_string(v));
    json_object_set_new(meta, "generateName", json_sprintf("%s-%s-", or_empty(job), v));
    json_object_set_new(spec, "hostname", json_sprintf("%s-%s", or_empty(job), v));
    for (size_t k = 0; k < 2; k++) {
        size_t j;
        json_t *c;

        json_array_foreach(json_object_get(spec, keys[k]), j, c)
        {
            if (!json_is_array(json_object_get(c, "env")))
                json_object_set_new(c, "env", json_array());
            json_array_append_new(
                json_object_get(c, "env"),
                json_pack("{s:s,s:s}", "name", "JOB_COMPLETION_INDEX", "value", v));
        }
    }
}

static int
create_pods(struct ctl *c, struct jstate *st, int n, struct k3c_err *err)
{
    const char *uid = wl_str(st->job, "metadata.uid");
    int failures = 0;

    int64_t next_idx = 0;

    wl_expect(&job_expect, uid, n, 0, k3c_now_ms());
    for (int i = 0; i < n; i++) {
        json_t *pod = wl_pod_from_template(
            json_object_get(st->spec, "template"), wl_str(st->job, "metadata.namespace"),
            wl_str(st->job, "metadata.name"), ctl_owner_ref(st->job));

        if (st->idx) {
            while (next_idx < st->n_idx && st->idx[next_idx] != 0)
                next_idx++;
            if (next_idx == st->n_idx) {
                json_decref(pod);
                for (int k = i; k < n; k++)
                    wl_expect_observe(&job_expect, uid, true);
                return failures;
            }
            set_index(pod, wl_str(st->job, "metadata.name"), next_idx);
            st->idx[next_idx++] = 2;
        }

        if (wl_create_pod(c, st->job, pod, err) < 0) {
            for (int k = i; k < n; k++)
                wl_expect_observe(&job_expect, uid, true);
            return failures + 1;
        }
    }
    return failures;
}

/* ---- decisions ------------------------------------------------------------------- */

/* The reason the job fails now (NULL: it does not), with its message. */
static const char *
failure_reason(const struct jstate *st, const char **msg)
{
    int64_t backoff = wl_int(st->spec, "backoffLimit", 6);
    int64_t deadline = wl_int(st->spec, "activeDeadlineSeconds", -1);
    int64_t start = wl_time(wl_str(st->status, "startTime"));
    bool on_failure =
        strcmp(or_empty(wl_str(st->spec, "template.spec.restartPolicy")), "OnFailure") == 0;

    if (st->fail_job[0]) {
        *msg = st->fail_job;
        return "PodFailurePolicy";
    }
    if (st->n.failed > backoff ||
        (on_failure && (backoff == 0 ? st->restarts > 0 : st->restarts >= backoff))) {
        *msg = "Job has reached the specified backoff limit";
        return "BackoffLimitExceeded";
    }
    if (deadline >= 0 && start >= 0 && start + deadline <= st->now) {
        *msg = "Job was active longer than specified deadline";
        return "DeadlineExceeded";
    }
    return NULL;
}

static void
finish(struct ctl *c, struct jstate *st, bool ok, const char *reason, const char *msg)
{
    if (ok) {
        wl_condition_set(st->status, "SuccessCriteriaMet", "True", reason, msg, st->now_s, false);
        wl_condition_set(st->status, "Complete", "True", reason, msg, st->now_s, false);
        json_object_set_new(st->status, "completionTime", json_string(st->now_s));
        ctl_event(c, st->job, "Normal", "Completed", "Job completed");
    } else {
        wl_condition_set(st->status, "FailureTarget", "True", reason, msg, st->now_s, false);
        wl_condition_set(st->status, "Failed", "True", reason, msg, st->now_s, false);
        ctl_event(c, st->job, "Warning", reason, "%s", msg);
    }
    /* lastProbeTime, as upstream's job conditions carry it */
    json_object_set_new(wl_condition_get(st->status, ok ? "Complete" : "Failed"), "lastProbeTime",
                        json_string(st->now_s));
}

/* Deletes a finished job ttlSecondsAfterFinished after it finished, or
 * comes back then. */
static int
handle_ttl(struct ctl *c, const char *key, const json_t *job, struct k3c_err *err)
{
    const json_t *status = json_object_get(job, "status");
    const json_t *ttl = json_object_get(json_object_get(job, "spec"), "ttlSecondsAfterFinished");
    const json_t *cond = wl_condition_get(status, "Complete");
    int64_t done, left;
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *body = NULL;
    long code;

    if (!json_is_integer(ttl) || ctl_being_deleted(job))
        return 0;
    if (!cond || strcmp(or_empty(wl_str(cond, "status")), "True") != 0)
        cond = wl_condition_get(status, "Failed");
    done = wl_time(wl_str(status, "completionTime"));
    if (done < 0)
        done = wl_time(wl_str(cond, "lastTransitionTime"));
    left = (done < 0 ? 0 : done) + json_integer_value(ttl) - wl_now();
    if (left > 0) {
        ctl_enqueue_after(c, key, left * 1000);
        return 0;
    }
    path = wl_object_path(job, "jobs");
    body = json_pack("{s:s,s:s,s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                     "propagationPolicy", "Background");
    code = ctl_api(c, "DELETE", path, NULL, body, NULL, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code >= 200 && code < 300 ? 0 : -1;
}

static void
write_counts(struct jstate *st)
{
    json_object_set_new(st->status, "active", json_integer(st->n.active));
    json_object_set_new(st->status, "ready", json_integer(st->n.ready));
    json_object_set_new(st->status, "succeeded", json_integer(st->n.succeeded));
    json_object_set_new(st->status, "failed", json_integer(st->n.failed));
    json_object_set_new(st->status, "terminating", json_integer(st->terminating));
    if (st->idx)
        json_object_set_new(st->status, "completedIndexes", completed_string(st));
    if (!json_object_get(st->status, "uncountedTerminatedPods"))
        json_object_set_new(st->status, "uncountedTerminatedPods", json_object());
}

/* Creates or deletes pods toward the wanted active count; fails or
 * completes the job. Returns the number of failed writes. */
static int
reconcile(struct ctl *c, const char *key, struct jstate *st, struct k3c_err *err)
{
    const char *msg = NULL;
    const char *reason = failure_reason(st, &msg);
    int64_t deadline = wl_int(st->spec, "activeDeadlineSeconds", -1);
    int want, failures = 0;

    if (reason) {
        failures = delete_active(c, st, st->n.active, err);
        st->n.active = 0;
        finish(c, st, false, reason, msg);
        return failures;
    }
    if (wl_job_complete(st->spec, &st->n)) {
        failures = delete_active(c, st, st->n.active, err);
        st->n.active = 0;
        finish(c, st, true, "CompletionsReached", "Reached expected number of succeeded pods");
        return failures;
    }
    if (deadline >= 0) {
        int64_t left = wl_time(wl_str(st->status, "startTime")) + deadline - st->now;

        ctl_enqueue_after(c, key, (left > 0 ? left : 0) * 1000 + 500);
    }
    if (!wl_expect_satisfied(&job_expect, wl_str(st->job, "metadata.uid"), k3c_now_ms()))
        return 0;
    want = wl_job_want_active(st->spec, &st->n);
    if (st->n.active < want) {
        int64_t wait = wl_job_backoff_left(st->new_failures, st->last_failure, st->now);

        /* upstream's back-off before replacing failed pods */
        if (wait > 0)
            ctl_enqueue_after(c, key, wait * 1000);
        else
            failures += create_pods(c, st, want - st->n.active, err);
    } else if (st->n.active > want)
        failures += delete_active(c, st, st->n.active - want, err);
    return failures;
}

static int
job_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *job = NULL;
    struct jstate st = {0};
    struct k3c_err serr = {0};
    int failures = 0;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    job = ctl_get(c, "jobs", ns, name);
    if (!job)
        return 0;
    if (is_finished(json_object_get(job, "status")))
        return handle_ttl(c, key, job, err);
    if (ctl_being_deleted(job))
        return 0;
    st.job = job;
    st.spec = json_object_get(job, "spec");
    st.now = wl_now();
    ctl_now_rfc3339(st.now_s, sizeof(st.now_s));
    st.status = json_deep_copy(json_object_get(job, "status"));
    if (!json_is_object(st.status)) {
        json_decref(st.status);
        st.status = json_object();
    }
    if (is_indexed(st.spec) && json_is_integer(json_object_get(st.spec, "completions"))) {
        st.n_idx = wl_int(st.spec, "completions", 0);
        if (st.n_idx > MAX_INDEXES)
            st.n_idx = MAX_INDEXES;
        st.idx = k3c_xcalloc(st.n_idx ? (size_t)st.n_idx : 1, 1);
        parse_completed(&st);
    }
    count_pods(c, &st, err);
    if (json_is_true(json_object_get(st.spec, "suspend"))) {
        failures = delete_active(c, &st, st.n.active, err);
        st.n.active = 0;
        wl_condition_set(st.status, "Suspended", "True", "JobSuspended", "Job suspended", st.now_s,
                         false);
    } else {
        if (!wl_str(st.status, "startTime"))
            json_object_set_new(st.status, "startTime", json_string(st.now_s));
        failures = reconcile(c, key, &st, err);
    }
    write_counts(&st);
    if (wl_put_status(c, job, "jobs", json_incref(st.status), &serr) < 0 && failures == 0) {
        *err = serr;
        failures = 1;
    }
    if (is_finished(st.status) && failures == 0)
        ctl_enqueue(c, key); /* the TTL, if any, counts from now */
    json_decref(st.status);
    json_decref(st.active);
    free(st.idx);
    return failures ? -1 : 0;
}

static const struct ctl_watch job_watches[] = {
    {"jobs", on_job},
    {"pods", on_pod},
    {NULL, NULL},
};

const struct ctl_def ctl_def_job = {
    .name = "job",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = job_watches,
    .sync = job_sync,
    .start = job_start,
};
