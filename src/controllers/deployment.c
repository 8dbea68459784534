/* SPDX-License-Identifier: Apache-2.0
 * deployment.c - the Deployment controller: one ReplicaSet per pod
 * template (named <deployment>-<hash>, the hash also in the RS's selector
 * and pod labels as pod-template-hash), rolled out by RollingUpdate
 * (maxSurge/maxUnavailable) or Recreate, with upstream's revision
 * annotations (which `kubectl rollout history/undo` read client-side),
 * revisionHistoryLimit cleanup, pause, and the status fields and
 * Available/Progressing conditions that `kubectl rollout status` reads.
 * The arithmetic lives in workload.c; this file reads and writes. */
#define LOG_COMPONENT "deployment"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define REASON_NEW_RS_CREATED "NewReplicaSetCreated"
#define REASON_FOUND_NEW_RS   "FoundNewReplicaSet"
#define REASON_RS_UPDATED     "ReplicaSetUpdated"
#define REASON_NEW_RS_AVAIL   "NewReplicaSetAvailable"
#define REASON_TIMED_OUT      "ProgressDeadlineExceeded"
#define REASON_PAUSED         "DeploymentPaused"
#define REASON_RESUMED        "DeploymentResumed"

/* One sync's view of a deployment and its replica sets. */
struct dstate {
    json_t *d;      /* the deployment (own copy) */
    json_t *status; /* the status being built (own) */
    json_t *rss;    /* every RS it controls, oldest first (own copies) */
    json_t *new_rs; /* borrowed from rss, or NULL */
    int replicas, surge, unavailable;
    bool recreate;
    char now[32];
};

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- informer handlers ------------------------------------------------------- */

static void
on_deployment(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_rs(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    if (!wl_enqueue_controller(c, obj, "Deployment") && ev != CTL_DELETED)
        wl_enqueue_selecting(c, "deployments", obj);
    if (old && !json_equal(ctl_controller_ref(old), ctl_controller_ref(obj)))
        wl_enqueue_controller(c, old, "Deployment");
}

/* A Recreate rollout waits for the old pods to be gone: a pod leaving
 * wakes its deployment. */
static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *ref = ctl_controller_ref(obj);
    _cleanup_json_ json_t *rs = NULL;

    (void)old;
    if (ev != CTL_DELETED || !ref || strcmp(or_empty(wl_str(ref, "kind")), "ReplicaSet") != 0)
        return;
    rs = ctl_get(c, "replicasets", wl_str(obj, "metadata.namespace"), wl_str(ref, "name"));
    if (rs)
        wl_enqueue_controller(c, rs, "Deployment");
}

static void
dep_start(struct ctl *c)
{
    ctl_enqueue_all(c, "deployments");
}

/* ---- replica sets ------------------------------------------------------------- */

static int64_t
revision_of(const json_t *rs)
{
    const char *r = ctl_annotation(rs, WL_ANN_REVISION);
    return r ? strtoll(r, NULL, 10) : 0;
}

static int
rs_spec(const json_t *rs)
{
    return (int)wl_int(rs, "spec.replicas", 1);
}

static int
rs_cmp_created(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t tx = wl_time(wl_str(x, "metadata.creationTimestamp"));
    int64_t ty = wl_time(wl_str(y, "metadata.creationTimestamp"));

    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(or_empty(wl_str(x, "metadata.name")), or_empty(wl_str(y, "metadata.name")));
}

static json_t *
array_sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    _cleanup_free_ json_t **v = k3c_xcalloc(n ? n : 1, sizeof(*v));
    json_t *out = json_array();

    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof(*v), cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    return out;
}

struct collect_rs {
    struct ctl *c;
    const json_t *d;
    json_t *out;
};

static bool
collect_rs(void *ud, const json_t *rs)
{
    struct collect_rs *s = ud;
    const json_t *sel = json_object_get(json_object_get(s->d, "spec"), "selector");
    const json_t *labels = json_object_get(json_object_get(rs, "metadata"), "labels");
    const char *uid = wl_str(s->d, "metadata.uid");
    bool matches = ctl_selector_matches(sel, labels);
    struct k3c_err err = {0};

    if (ctl_is_controlled_by(rs, uid)) {
        if (matches || ctl_being_deleted(rs))
            json_array_append_new(s->out, json_deep_copy(rs));
        else
            wl_claim(s->c, s->d, rs, "replicasets", false, &err);
        return true;
    }
    if (matches && !ctl_controller_ref(rs) && !ctl_being_deleted(rs) && !ctl_being_deleted(s->d) &&
        wl_claim(s->c, s->d, rs, "replicasets", true, &err) == 0)
        json_array_append_new(s->out, json_deep_copy(rs));
    return true;
}

/* Every RS the deployment controls (adopting orphans that match, releasing
 * ones that stopped matching), oldest first. */
static json_t *
list_rs(struct ctl *c, const json_t *d)
{
    struct collect_rs s = {.c = c, .d = d, .out = json_array()};
    json_t *sorted;

    ctl_list(c, "replicasets", wl_str(d, "metadata.namespace"), NULL, collect_rs, &s);
    sorted = array_sorted(s.out, rs_cmp_created);
    json_decref(s.out);
    return sorted;
}

static int
max_old_revision(const struct dstate *st)
{
    int64_t max = 0;
    size_t i;
    json_t *rs;

    json_array_foreach(st->rss, i, rs)
    {
        if (rs != st->new_rs && revision_of(rs) > max)
            max = revision_of(rs);
    }
    return (int)max;
}

/* Annotations of the deployment that upstream never copies to its RSes. */
static bool
skip_annotation(const char *k)
{
    static const char *const skip[] = {
        "kubectl.kubernetes.io/last-applied-configuration",
        WL_ANN_REVISION,
        WL_ANN_REV_HISTORY,
        WL_ANN_DESIRED,
        WL_ANN_MAX,
        "deprecated.deployment.rollback.to",
    };

    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        if (strcmp(k, skip[i]) == 0)
            return true;
    }
    return false;
}

/* The annotations a new RS gets, or the changes an existing one needs
 * (NULL keys to add nothing): the deployment's own annotations, the
 * revision (and the revision history when it moves), desired and max
 * replicas. Returns a new object, empty if nothing changes. */
static json_t *
rs_annotations(const struct dstate *st, const json_t *rs, int revision)
{
    const json_t *have =
        rs ? json_object_get(json_object_get(rs, "metadata"), "annotations") : NULL;
    const json_t *dann = json_object_get(json_object_get(st->d, "metadata"), "annotations");
    json_t *out = json_object();
    int64_t old_rev = rs ? revision_of(rs) : 0;
    const char *k;
    json_t *v;
    char buf[32];

    json_object_foreach((json_t *)dann, k, v)
    {
        if (!skip_annotation(k) && !json_equal(json_object_get(have, k), v))
            json_object_set(out, k, v);
    }
    if (old_rev < revision) {
        snprintf(buf, sizeof(buf), "%d", revision);
        json_object_set_new(out, WL_ANN_REVISION, json_string(buf));
        if (old_rev > 0) {
            const char *hist = json_string_value(json_object_get(have, WL_ANN_REV_HISTORY));

            json_object_set_new(out, WL_ANN_REV_HISTORY,
                                hist && *hist ? json_sprintf("%s,%lld", hist, (long long)old_rev)
                                              : json_sprintf("%lld", (long long)old_rev));
        }
    }
    snprintf(buf, sizeof(buf), "%d", st->replicas);
    if (strcmp(or_empty(json_string_value(json_object_get(have, WL_ANN_DESIRED))), buf) != 0)
        json_object_set_new(out, WL_ANN_DESIRED, json_string(buf));
    snprintf(buf, sizeof(buf), "%d", st->replicas + st->surge);
    if (strcmp(or_empty(json_string_value(json_object_get(have, WL_ANN_MAX))), buf) != 0)
        json_object_set_new(out, WL_ANN_MAX, json_string(buf));
    return out;
}

/* Scales rs to n (and refreshes its desired/max-replicas annotations) with
 * a merge patch; records ScalingReplicaSet. Updates rs in place. */
static int
scale_rs(struct ctl *c, struct dstate *st, json_t *rs, int n, struct k3c_err *err)
{
    _cleanup_json_ json_t *ann = rs_annotations(st, rs, 0);
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = wl_object_path(rs, "replicasets");
    int old = rs_spec(rs);
    const char *k;
    json_t *v;
    void *tmp;
    long code;

    /* only the replica annotations; the rest changes with the revision */
    json_object_foreach_safe(ann, tmp, k, v)
    {
        if (strcmp(k, WL_ANN_DESIRED) != 0 && strcmp(k, WL_ANN_MAX) != 0)
            json_object_del(ann, k);
    }
    if (old == n && json_object_size(ann) == 0)
        return 0;
    patch = json_pack("{s:{s:O},s:{s:i}}", "metadata", "annotations", ann, "spec", "replicas", n);
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code < 200 || code >= 300)
        return -1;
    json_object_set_new(json_object_get(rs, "spec"), "replicas", json_integer(n));
    if (old == n)
        return 0; /* only the annotations moved: not a scaling step */
    ctl_event(c, st->d, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s to %d from %d",
              n > old ? "up" : "down", or_empty(wl_str(rs, "metadata.name")), n, old);
    return 1;
}

/* Puts the deployment's revision annotation in line with its new RS (as
 * upstream's SetDeploymentRevision; `kubectl describe` shows it). */
static int
sync_deployment_revision(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    const json_t *ann = json_object_get(json_object_get(st->d, "metadata"), "annotations");
    const char *have = json_string_value(json_object_get(ann, WL_ANN_REVISION));
    char want[32];
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = NULL;
    long code;

    if (!st->new_rs)
        return 0;
    snprintf(want, sizeof(want), "%lld", (long long)revision_of(st->new_rs));
    if (have && strcmp(have, want) == 0)
        return 0;
    patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", WL_ANN_REVISION, want);
    path = wl_object_path(st->d, "deployments");
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    return code >= 200 && code < 300 ? 0 : -1;
}

/* Brings an existing new RS's annotations (revision, history, copied
 * deployment annotations) up to date. */
static int
update_new_rs(struct ctl *c, struct dstate *st, int revision, struct k3c_err *err)
{
    _cleanup_json_ json_t *ann = rs_annotations(st, st->new_rs, revision);
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = NULL;
    json_t *have;
    long code;

    int64_t min_ready = wl_int(st->d, "spec.minReadySeconds", 0);
    bool ready_differs = wl_int(st->new_rs, "spec.minReadySeconds", 0) != min_ready;

    json_object_del(ann, WL_ANN_DESIRED); /* scale_rs keeps these */
    json_object_del(ann, WL_ANN_MAX);
    if (json_object_size(ann) == 0 && !ready_differs)
        return 0;
    /* minReadySeconds follows the deployment's (upstream getNewReplicaSet) */
    patch = json_pack("{s:{s:O},s:{s:I}}", "metadata", "annotations", ann, "spec",
                      "minReadySeconds", (json_int_t)min_ready);
    path = wl_object_path(st->new_rs, "replicasets");
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code < 200 || code >= 300)
        return -1;
    have = json_object_get(json_object_get(st->new_rs, "metadata"), "annotations");
    if (!json_is_object(have)) {
        have = json_object();
        json_object_set_new(json_object_get(st->new_rs, "metadata"), "annotations", have);
    }
    json_object_update(have, ann);
    json_object_set_new(json_object_get(st->new_rs, "spec"), "minReadySeconds",
                        json_integer(min_ready));
    return 0;
}

static void
set_progressing(struct dstate *st, const char *status, const char *reason, const char *fmt,
                const char *name)
{
    char msg[512];

    snprintf(msg, sizeof(msg), fmt, name);
    wl_condition_set(st->status, "Progressing", status, reason, msg, st->now, true);
}

/* The RS for the deployment's current template: <name>-<hash>, its
 * selector and pod labels carrying the hash. */
static json_t *
new_rs_body(const struct dstate *st, int replicas, int revision)
{
    const json_t *spec = json_object_get(st->d, "spec");
    json_t *tmpl = json_deep_copy(json_object_get(spec, "template"));
    json_t *sel = json_deep_copy(json_object_get(spec, "selector"));
    json_t *tmeta, *labels, *ml;
    char hash[11];

    wl_template_hash_collision(tmpl, wl_int(st->status, "collisionCount", -1), hash);
    tmeta = json_object_get(tmpl, "metadata");
    if (!json_is_object(tmeta)) {
        tmeta = json_object();
        json_object_set_new(tmpl, "metadata", tmeta);
    }
    labels = json_object_get(tmeta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(tmeta, "labels", labels);
    }
    json_object_set_new(labels, WL_HASH_LABEL, json_string(hash));
    ml = json_object_get(sel, "matchLabels");
    if (!json_is_object(ml)) {
        ml = json_object();
        json_object_set_new(sel, "matchLabels", ml);
    }
    json_object_set_new(ml, WL_HASH_LABEL, json_string(hash));
    return json_pack(
        "{s:s,s:s,s:{s:s++,s:s,s:O,s:o,s:[o]},s:{s:i,s:I,s:o,s:o}}", "apiVersion", "apps/v1",
        "kind", "ReplicaSet", "metadata", "name", or_empty(wl_str(st->d, "metadata.name")), "-",
        hash, "namespace", or_empty(wl_str(st->d, "metadata.namespace")), "labels", labels,
        "annotations", rs_annotations(st, NULL, revision), "ownerReferences", ctl_owner_ref(st->d),
        "spec", "replicas", replicas, "minReadySeconds",
        (json_int_t)wl_int(spec, "minReadySeconds", 0), "selector", sel, "template", tmpl);
}

/* The new RS's name exists. Ours with this template: the informer has not
 * seen it yet (the retry finds it). Anything else is a hash collision:
 * status.collisionCount goes up and the next name differs (upstream). */
static void
name_taken(struct ctl *c, struct dstate *st, const char *name)
{
    _cleanup_json_ json_t *rs =
        ctl_get(c, "replicasets", wl_str(st->d, "metadata.namespace"), name);
    const json_t *tmpl = json_object_get(json_object_get(st->d, "spec"), "template");

    if (!rs || (ctl_is_controlled_by(rs, wl_str(st->d, "metadata.uid")) &&
                wl_templates_equal(json_object_get(json_object_get(rs, "spec"), "template"), tmpl)))
        return;
    json_object_set_new(st->status, "collisionCount",
                        json_integer(wl_int(st->status, "collisionCount", 0) + 1));
    log_info("(deployment %s) replica set name %s taken: collisionCount %lld",
             wl_str(st->d, "metadata.name"), name,
             (long long)wl_int(st->status, "collisionCount", 0));
}

static int
create_new_rs(struct ctl *c, struct dstate *st, int revision, struct k3c_err *err)
{
    int all = 0, n;
    size_t i;
    json_t *rs;
    _cleanup_json_ json_t *body = NULL;
    json_t *out = NULL;
    _cleanup_free_ char *path = k3c_xasprintf("/apis/apps/v1/namespaces/%s/replicasets",
                                              or_empty(wl_str(st->d, "metadata.namespace")));
    long code;

    json_array_foreach(st->rss, i, rs)
    {
        all += rs_spec(rs);
    }
    n = st->recreate ? st->replicas : wl_new_rs_replicas(st->replicas, st->surge, 0, all);
    body = new_rs_body(st, n, revision);
    code = ctl_api(c, "POST", path, NULL, body, &out, err);
    if (code < 200 || code >= 300) {
        json_decref(out);
        if (code == 409 && err->kind == K3C_E_EXISTS)
            name_taken(c, st, wl_str(body, "metadata.name"));
        return -1;
    }
    json_array_append_new(st->rss, out);
    st->new_rs = out;
    set_progressing(st, "True", REASON_NEW_RS_CREATED, "Created new replica set \"%s\"",
                    or_empty(wl_str(out, "metadata.name")));
    if (n > 0)
        ctl_event(c, st->d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s to %d from 0",
                  or_empty(wl_str(out, "metadata.name")), n);
    return 0;
}

/* getNewReplicaSet: finds the RS for the current template (bringing its
 * revision up to date) or, with create, makes it. */
static int
get_new_rs(struct ctl *c, struct dstate *st, bool create, struct k3c_err *err)
{
    const json_t *tmpl = json_object_get(json_object_get(st->d, "spec"), "template");
    size_t i;
    json_t *rs;
    int revision;

    st->new_rs = NULL;
    json_array_foreach(st->rss, i, rs)
    {
        if (wl_templates_equal(json_object_get(json_object_get(rs, "spec"), "template"), tmpl)) {
            st->new_rs = rs;
            break;
        }
    }
    revision = max_old_revision(st) + 1;
    if (st->new_rs) {
        if (update_new_rs(c, st, revision, err) < 0)
            return -1;
        if (!wl_condition_get(st->status, "Progressing"))
            set_progressing(st, "True", REASON_FOUND_NEW_RS, "Found new replica set \"%s\"",
                            or_empty(wl_str(st->new_rs, "metadata.name")));
        return 0;
    }
    return create ? create_new_rs(c, st, revision, err) : 0;
}

/* ---- status -------------------------------------------------------------------- */

struct dcounts {
    int spec, replicas, updated, ready, available;
};

static struct dcounts
count_rs(const struct dstate *st)
{
    struct dcounts n = {0};
    size_t i;
    json_t *rs;

    json_array_foreach(st->rss, i, rs)
    {
        n.spec += rs_spec(rs);
        n.replicas += (int)wl_int(rs, "status.replicas", 0);
        n.ready += (int)wl_int(rs, "status.readyReplicas", 0);
        n.available += (int)wl_int(rs, "status.availableReplicas", 0);
    }
    if (st->new_rs)
        n.updated = (int)wl_int(st->new_rs, "status.replicas", 0);
    return n;
}

/* calculateStatus: counts and the Available condition. */
static void
calculate_status(struct dstate *st)
{
    struct dcounts n = count_rs(st);
    int unavailable = n.spec - n.available;
    int max_unavailable = st->recreate ? 0 : st->unavailable;

    json_object_set_new(st->status, "observedGeneration",
                        json_integer(wl_int(st->d, "metadata.generation", 0)));
    json_object_set_new(st->status, "replicas", json_integer(n.replicas));
    json_object_set_new(st->status, "updatedReplicas", json_integer(n.updated));
    json_object_set_new(st->status, "readyReplicas", json_integer(n.ready));
    json_object_set_new(st->status, "availableReplicas", json_integer(n.available));
    json_object_set_new(st->status, "unavailableReplicas",
                        json_integer(unavailable < 0 ? 0 : unavailable));
    if (max_unavailable > st->replicas)
        max_unavailable = st->replicas;
    if (n.available >= st->replicas - max_unavailable)
        wl_condition_set(st->status, "Available", "True", "MinimumReplicasAvailable",
                         "Deployment has minimum availability.", st->now, true);
    else
        wl_condition_set(st->status, "Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.", st->now, true);
}

static bool
deployment_complete(const struct dstate *st)
{
    return wl_int(st->status, "updatedReplicas", 0) == st->replicas &&
           wl_int(st->status, "replicas", 0) == st->replicas &&
           wl_int(st->status, "availableReplicas", 0) == st->replicas &&
           wl_int(st->status, "observedGeneration", 0) >= wl_int(st->d, "metadata.generation", 0);
}

static bool
deployment_progressing(const struct dstate *st)
{
    const json_t *old = json_object_get(st->d, "status");
    int64_t old_old = wl_int(old, "replicas", 0) - wl_int(old, "updatedReplicas", 0);
    int64_t new_old = wl_int(st->status, "replicas", 0) - wl_int(st->status, "updatedReplicas", 0);

    return wl_int(st->status, "updatedReplicas", 0) > wl_int(old, "updatedReplicas", 0) ||
           new_old < old_old ||
           wl_int(st->status, "readyReplicas", 0) > wl_int(old, "readyReplicas", 0) ||
           wl_int(st->status, "availableReplicas", 0) > wl_int(old, "availableReplicas", 0);
}

/* Seconds until the Progressing condition times out (<= 0: it has). */
static int64_t
deadline_left(const struct dstate *st)
{
    const json_t *cond = wl_condition_get(st->status, "Progressing");
    int64_t deadline = wl_int(st->d, "spec.progressDeadlineSeconds", 600);
    int64_t from = wl_time(wl_str(cond, "lastUpdateTime"));

    if (from < 0)
        return deadline;
    return from + deadline - wl_time(st->now);
}

/* syncRolloutStatus: Progressing as upstream sets it; returns the seconds
 * after which the deadline must be checked again (0: no need). */
static int64_t
rollout_status(struct dstate *st)
{
    const json_t *cond;
    const char *reason;
    const char *name = st->new_rs ? or_empty(wl_str(st->new_rs, "metadata.name")) : "";
    bool complete_before;

    calculate_status(st);
    if (!json_is_integer(
            json_object_get(json_object_get(st->d, "spec"), "progressDeadlineSeconds")))
        return 0;
    cond = wl_condition_get(st->status, "Progressing");
    reason = or_empty(wl_str(cond, "reason"));
    complete_before =
        wl_int(st->status, "replicas", 0) == wl_int(st->status, "updatedReplicas", 0) &&
        strcmp(reason, REASON_NEW_RS_AVAIL) == 0;
    if (complete_before)
        return 0;
    if (deployment_complete(st)) {
        if (st->new_rs)
            set_progressing(st, "True", REASON_NEW_RS_AVAIL,
                            "ReplicaSet \"%s\" has successfully progressed.", name);
        else
            set_progressing(st, "True", REASON_NEW_RS_AVAIL,
                            "Deployment \"%s\" has successfully progressed.",
                            or_empty(wl_str(st->d, "metadata.name")));
        return 0;
    }
    if (deployment_progressing(st) && st->new_rs) {
        json_t *c;

        set_progressing(st, "True", REASON_RS_UPDATED, "ReplicaSet \"%s\" is progressing.", name);
        /* progress refreshes the deadline even when nothing else changes */
        c = wl_condition_get(st->status, "Progressing");
        json_object_set_new(c, "lastUpdateTime", json_string(st->now));
        return wl_int(st->d, "spec.progressDeadlineSeconds", 600) + 1;
    }
    if (cond && (strcmp(reason, REASON_TIMED_OUT) == 0 || deadline_left(st) <= 0)) {
        set_progressing(st, "False", REASON_TIMED_OUT,
                        "ReplicaSet \"%s\" has timed out progressing.", name);
        return 0;
    }
    return cond ? deadline_left(st) + 1 : 0;
}

/* checkPausedConditions: Unknown DeploymentPaused / DeploymentResumed. */
static void
paused_conditions(struct dstate *st)
{
    const json_t *cond = wl_condition_get(st->status, "Progressing");
    const char *reason = or_empty(wl_str(cond, "reason"));
    bool paused = json_is_true(json_object_get(json_object_get(st->d, "spec"), "paused"));

    if (!json_is_integer(
            json_object_get(json_object_get(st->d, "spec"), "progressDeadlineSeconds")) ||
        strcmp(reason, REASON_TIMED_OUT) == 0)
        return;
    if (paused && strcmp(reason, REASON_PAUSED) != 0)
        wl_condition_set(st->status, "Progressing", "Unknown", REASON_PAUSED,
                         "Deployment is paused", st->now, true);
    else if (!paused && strcmp(reason, REASON_PAUSED) == 0)
        wl_condition_set(st->status, "Progressing", "Unknown", REASON_RESUMED,
                         "Deployment is resumed", st->now, true);
}

/* ---- rollouts ------------------------------------------------------------------ */

static bool
is_old(const struct dstate *st, const json_t *rs)
{
    return rs != st->new_rs;
}

/* reconcileNewReplicaSet. Returns 1 if it scaled, 0 if not, -1. */
static int
reconcile_new_rs(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    int spec = rs_spec(st->new_rs), all = 0;
    size_t i;
    json_t *rs;

    if (spec == st->replicas)
        return scale_rs(c, st, st->new_rs, spec, err) < 0 ? -1 : 0;
    if (spec > st->replicas)
        return scale_rs(c, st, st->new_rs, st->replicas, err);
    json_array_foreach(st->rss, i, rs)
    {
        all += rs_spec(rs);
    }
    return scale_rs(c, st, st->new_rs, wl_new_rs_replicas(st->replicas, st->surge, spec, all), err);
}

/* reconcileOldReplicaSets through wl_scale_down_olds. */
static int
reconcile_old_rs(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    size_t n = json_array_size(st->rss), k = 0, i;
    _cleanup_free_ struct wl_rs *olds = k3c_xcalloc(n ? n : 1, sizeof(*olds));
    _cleanup_free_ json_t **refs = k3c_xcalloc(n ? n : 1, sizeof(*refs));
    struct wl_rs nrs = {0};
    json_t *rs;
    int scaled = 0;

    json_array_foreach(st->rss, i, rs)
    {
        if (!is_old(st, rs))
            continue;
        refs[k] = rs;
        olds[k++] = (struct wl_rs){rs_spec(rs), (int)wl_int(rs, "status.availableReplicas", 0), 0};
    }
    if (st->new_rs)
        nrs = (struct wl_rs){rs_spec(st->new_rs),
                             (int)wl_int(st->new_rs, "status.availableReplicas", 0), 0};
    if (wl_scale_down_olds(st->replicas, st->unavailable, st->new_rs ? &nrs : NULL, olds, k) == 0)
        return 0;
    for (i = 0; i < k; i++) {
        int r;

        if (olds[i].spec == rs_spec(refs[i]))
            continue;
        r = scale_rs(c, st, refs[i], olds[i].spec, err);
        if (r < 0)
            return -1;
        scaled |= r;
    }
    return scaled;
}

static int
rs_cmp_revision(const void *a, const void *b)
{
    int64_t x = revision_of(*(json_t *const *)a), y = revision_of(*(json_t *const *)b);

    return x < y ? -1 : x > y ? 1 : rs_cmp_created(a, b);
}

/* cleanupDeployment: deletes the oldest idle old RSes beyond
 * revisionHistoryLimit. */
static void
cleanup_old_rs(struct ctl *c, struct dstate *st)
{
    const json_t *limit = json_object_get(json_object_get(st->d, "spec"), "revisionHistoryLimit");
    _cleanup_json_ json_t *olds = json_array();
    _cleanup_json_ json_t *sorted = NULL;
    size_t i;
    json_t *rs;
    int64_t diff;

    if (!json_is_integer(limit))
        return;
    json_array_foreach(st->rss, i, rs)
    {
        if (is_old(st, rs) && !ctl_being_deleted(rs))
            json_array_append(olds, rs);
    }
    diff = (int64_t)json_array_size(olds) - json_integer_value(limit);
    if (diff <= 0)
        return;
    sorted = array_sorted(olds, rs_cmp_revision);
    for (i = 0; i < (size_t)diff; i++) {
        struct k3c_err err = {0};
        _cleanup_free_ char *path = NULL;

        rs = json_array_get(sorted, i);
        if (wl_int(rs, "status.replicas", 0) != 0 || rs_spec(rs) != 0 ||
            wl_int(rs, "metadata.generation", 0) > wl_int(rs, "status.observedGeneration", 0))
            continue;
        path = wl_object_path(rs, "replicasets");
        if (ctl_api(c, "DELETE", path, NULL, NULL, NULL, &err) < 0)
            log_warn("(deployment %s) delete old replica set %s: %s",
                     wl_str(st->d, "metadata.name"), wl_str(rs, "metadata.name"), err.msg);
    }
}

static int
rollout_rolling(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    int r;

    if (get_new_rs(c, st, true, err) < 0)
        return -1;
    r = reconcile_new_rs(c, st, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    r = reconcile_old_rs(c, st, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    calculate_status(st);
    if (deployment_complete(st))
        cleanup_old_rs(c, st);
    return 0;
}

struct old_pods {
    const struct dstate *st;
    bool running;
};

static bool
find_old_pod(void *ud, const json_t *pod)
{
    struct old_pods *o = ud;
    const json_t *ref = ctl_controller_ref(pod);
    size_t i;
    json_t *rs;

    if (!ref || ctl_pod_finished(pod))
        return true;
    json_array_foreach(o->st->rss, i, rs)
    {
        if (is_old(o->st, rs) &&
            strcmp(or_empty(wl_str(ref, "uid")), or_empty(wl_str(rs, "metadata.uid"))) == 0) {
            o->running = true;
            return false;
        }
    }
    return true;
}

static int
rollout_recreate(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    struct old_pods o = {.st = st};
    size_t i;
    json_t *rs;
    int scaled = 0;

    if (get_new_rs(c, st, false, err) < 0)
        return -1;
    json_array_foreach(st->rss, i, rs)
    {
        int r;

        if (!is_old(st, rs) || rs_spec(rs) == 0)
            continue;
        r = scale_rs(c, st, rs, 0, err);
        if (r < 0)
            return -1;
        scaled |= r;
    }
    if (scaled)
        return 0;
    json_array_foreach(st->rss, i, rs)
    {
        if (is_old(st, rs) && wl_int(rs, "status.replicas", 0) > 0)
            return 0;
    }
    ctl_list(c, "pods", wl_str(st->d, "metadata.namespace"), NULL, find_old_pod, &o);
    if (o.running)
        return 0;
    if (!st->new_rs && get_new_rs(c, st, true, err) < 0)
        return -1;
    if (scale_rs(c, st, st->new_rs, st->replicas, err) < 0)
        return -1;
    calculate_status(st);
    if (deployment_complete(st))
        cleanup_old_rs(c, st);
    return 0;
}

/* IsSaturated: the new RS has all replicas, sized for this count, and
 * they are available. */
static bool
new_rs_saturated(const struct dstate *st)
{
    const char *desired;

    if (!st->new_rs)
        return false;
    desired = ctl_annotation(st->new_rs, WL_ANN_DESIRED);
    return rs_spec(st->new_rs) == st->replicas && desired && atoi(desired) == st->replicas &&
           wl_int(st->new_rs, "status.availableReplicas", 0) == st->replicas;
}

/* A RollingUpdate deployment resized mid-rollout: every active RS grows
 * or shrinks in proportion (wl_proportional_scale), and all of them get
 * the new desired/max-replicas annotations. */
static int
scale_proportionally(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    size_t n = json_array_size(st->rss), k = 0, i;
    _cleanup_free_ struct wl_prop_rs *v = k3c_xcalloc(n ? n : 1, sizeof(*v));
    _cleanup_free_ json_t **refs = k3c_xcalloc(n ? n : 1, sizeof(*refs));
    json_t *rs;

    json_array_foreach(st->rss, i, rs)
    {
        const char *max = ctl_annotation(rs, WL_ANN_MAX);

        if (rs_spec(rs) <= 0)
            continue;
        refs[k] = rs;
        v[k] = (struct wl_prop_rs){.spec = rs_spec(rs),
                                   .max_before = max ? atoi(max) : 0,
                                   .created = wl_time(wl_str(rs, "metadata.creationTimestamp")),
                                   .tag = k};
        k++;
    }
    wl_proportional_scale(v, k, st->replicas, st->surge,
                          (int)wl_int(json_object_get(st->d, "status"), "replicas", 0));
    for (i = 0; i < k; i++) {
        json_t *target = refs[v[i].tag];

        if (scale_rs(c, st, target, v[i].out, err) < 0)
            return -1;
    }
    return 0;
}

/* sync: the scaling-only pass for paused deployments and scaling events
 * (upstream's scale(): one active RS, or the newest, takes the new size;
 * a saturated new RS lets the olds go to 0). */
static int
sync_scale(struct ctl *c, struct dstate *st, struct k3c_err *err)
{
    json_t *active = NULL, *rs;
    int n_active = 0;
    size_t i;

    if (get_new_rs(c, st, false, err) < 0)
        return -1;
    json_array_foreach(st->rss, i, rs)
    {
        if (rs_spec(rs) > 0) {
            active = rs;
            n_active++;
        }
    }
    if (n_active == 0)
        active = st->new_rs ? st->new_rs : json_array_get(st->rss, json_array_size(st->rss) - 1);
    if (n_active <= 1 && active)
        return scale_rs(c, st, active, st->replicas, err) < 0 ? -1 : 0;
    if (new_rs_saturated(st)) {
        json_array_foreach(st->rss, i, rs)
        {
            if (is_old(st, rs) && rs_spec(rs) > 0 && scale_rs(c, st, rs, 0, err) < 0)
                return -1;
        }
        return 0;
    }
    return st->recreate ? 0 : scale_proportionally(c, st, err);
}

/* isScalingEvent: an active RS was sized for another replica count. */
static bool
scaling_event(const struct dstate *st)
{
    char want[32];
    size_t i;
    json_t *rs;

    snprintf(want, sizeof(want), "%d", st->replicas);
    json_array_foreach(st->rss, i, rs)
    {
        const char *have = ctl_annotation(rs, WL_ANN_DESIRED);

        if (rs_spec(rs) > 0 && have && strcmp(have, want) != 0)
            return true;
    }
    return false;
}

/* ---- sync ---------------------------------------------------------------------- */

static void
dstate_fini(struct dstate *st)
{
    json_decref(st->d);
    json_decref(st->status);
    json_decref(st->rss);
}

static void
dstate_init(struct dstate *st, json_t *d_take)
{
    const json_t *spec = json_object_get(d_take, "spec");
    const json_t *ru = json_object_get(json_object_get(spec, "strategy"), "rollingUpdate");

    memset(st, 0, sizeof(*st));
    st->d = d_take;
    st->status = json_deep_copy(json_object_get(d_take, "status"));
    if (!json_is_object(st->status)) {
        json_decref(st->status);
        st->status = json_object();
    }
    st->replicas = (int)wl_int(spec, "replicas", 1);
    st->recreate = strcmp(or_empty(wl_str(spec, "strategy.type")), "Recreate") == 0;
    if (st->recreate) {
        st->surge = 0;
        st->unavailable = 0;
    } else {
        wl_fenceposts(json_object_get(ru, "maxSurge"), json_object_get(ru, "maxUnavailable"),
                      st->replicas, &st->surge, &st->unavailable);
    }
    ctl_now_rfc3339(st->now, sizeof(st->now));
}

static int
dep_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    struct dstate st;
    struct k3c_err serr = {0};
    json_t *d;
    int64_t recheck = 0;
    int rc;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    d = ctl_get(c, "deployments", ns, name);
    if (!d)
        return 0;
    dstate_init(&st, d);
    if (ctl_being_deleted(d)) {
        dstate_fini(&st);
        return 0;
    }
    st.rss = list_rs(c, d);
    paused_conditions(&st);
    if (json_is_true(json_object_get(json_object_get(d, "spec"), "paused")) || scaling_event(&st)) {
        rc = sync_scale(c, &st, err);
        if (rc == 0 && json_is_true(json_object_get(json_object_get(d, "spec"), "paused")))
            cleanup_old_rs(c, &st);
        calculate_status(&st);
    } else {
        rc = st.recreate ? rollout_recreate(c, &st, err) : rollout_rolling(c, &st, err);
        recheck = rollout_status(&st);
    }
    /* status first: the revision patch changes the resourceVersion */
    if (wl_put_status(c, d, "deployments", json_incref(st.status), &serr) < 0 && rc == 0) {
        *err = serr;
        rc = -1;
    }
    if (rc == 0 && sync_deployment_revision(c, &st, err) < 0)
        rc = -1;
    if (recheck > 0)
        ctl_enqueue_after(c, key, recheck * 1000);
    dstate_fini(&st);
    return rc;
}

static const struct ctl_watch dep_watches[] = {
    {"deployments", on_deployment},
    {"replicasets", on_rs},
    {"pods", on_pod},
    {NULL, NULL},
};

const struct ctl_def ctl_def_deployment = {
    .name = "deployment",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = dep_watches,
    .sync = dep_sync,
    .start = dep_start,
};
