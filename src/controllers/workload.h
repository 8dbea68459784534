/* SPDX-License-Identifier: Apache-2.0
 * workload.h - the pure decisions of the workload controllers (Deployment,
 * ReplicaSet, DaemonSet, Job): rollout arithmetic, template hashes, pod
 * ranking, node eligibility, job bookkeeping. No I/O and no framework
 * calls, so tests/unit/test_workloads.c checks them directly.
 * Thread: any (no shared state). */
#ifndef K3C_CONTROLLERS_WORKLOAD_H
#define K3C_CONTROLLERS_WORKLOAD_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WL_HASH_LABEL      "pod-template-hash"
#define WL_DS_HASH_LABEL   "controller-revision-hash"
#define WL_ANN_REVISION    "deployment.kubernetes.io/revision"
#define WL_ANN_REV_HISTORY "deployment.kubernetes.io/revision-history"
#define WL_ANN_DESIRED     "deployment.kubernetes.io/desired-replicas"
#define WL_ANN_MAX         "deployment.kubernetes.io/max-replicas"

/* ---- small JSON readers ---------------------------------------------------- */

/* The integer at dotted path in obj ("spec.replicas"), or def. */
int64_t wl_int(const json_t *obj, const char *path, int64_t def);
/* The string at dotted path in obj, or NULL (borrowed). */
const char *wl_str(const json_t *obj, const char *path);
/* RFC 3339 seconds, or -1. */
int64_t wl_time(const char *rfc3339);

/* ---- int-or-percent and the rolling fenceposts ------------------------------ */

/* intstr.GetScaledValueFromIntOrPercent: an integer as is, "25%" of total
 * rounded up or down; def when v is missing or malformed. */
int wl_scaled_value(const json_t *v, int total, bool round_up, int def);
/* deployment util ResolveFenceposts: maxSurge rounds up, maxUnavailable
 * down; both 0 gives maxUnavailable 1. */
void wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, int desired,
                   int *surge_out, int *unavailable_out);

/* ---- templates -------------------------------------------------------------- */

/* A stable hash of the pod template JSON (keys sorted; the pod-template-hash
 * and controller-revision-hash labels left out): 10 chars of [a-z0-9]. */
void wl_template_hash(const json_t *tmpl, char out[11]);
/* The same with a Deployment's status.collisionCount mixed in (upstream
 * ComputeHash); collision < 0 is wl_template_hash. */
void wl_template_hash_collision(const json_t *tmpl, int64_t collision, char out[11]);
/* True if the two templates are equal once the hash labels are left out
 * (upstream EqualIgnoreHash). */
bool wl_templates_equal(const json_t *a, const json_t *b);
/* A new Pod from tmpl (a PodTemplateSpec) controlled by owner (ownerRef as
 * given, consumed), with generateName "<prefix>-" in owner's namespace.
 * Caller json_decref()s. */
json_t *wl_pod_from_template(const json_t *tmpl, const char *ns, const char *prefix,
                             json_t *owner_ref_take);

/* ---- pods ------------------------------------------------------------------- */

/* The Ready condition's lastTransitionTime when Ready=True, else -1. */
int64_t wl_pod_ready_since(const json_t *pod);
/* Ready for at least min_ready_s at now (upstream IsPodAvailable). When the
 * pod is ready but not yet for long enough, *wait_s (if not NULL) gets the
 * seconds left. */
bool wl_pod_available(const json_t *pod, int64_t min_ready_s, int64_t now, int64_t *wait_s);
/* Which of two pods to delete first when scaling down (upstream
 * ActivePods ordering): unassigned before assigned, Pending before Unknown
 * before Running, not ready before ready, lower pod-deletion-cost first,
 * ready for less time first, more restarts first, newer first. Returns <0
 * when a goes first. */
int wl_pod_delete_cmp(const json_t *a, const json_t *b);
/* qsort over an array of json_t * with wl_pod_delete_cmp. */
void wl_pods_sort_for_delete(const json_t **pods, size_t n);

/* ---- deployment rollout ------------------------------------------------------ */

/* One ReplicaSet as the rollout arithmetic sees it. */
struct wl_rs {
    int spec;      /* spec.replicas */
    int available; /* status.availableReplicas */
    int64_t created;
};

/* NewRSNewReplicas for RollingUpdate: the new RS's replica target given the
 * deployment's replicas, maxSurge and every RS's spec (all_spec includes
 * the new RS). */
int wl_new_rs_replicas(int replicas, int max_surge, int new_spec, int all_spec);
/* reconcileOldReplicaSets: lowers olds[i].spec (sorted oldest first) by
 * what the rollout may take down now: unhealthy replicas first, then
 * available ones while at least replicas - max_unavailable stay available.
 * Returns the number of replicas scaled down. */
int wl_scale_down_olds(int replicas, int max_unavailable, const struct wl_rs *new_rs,
                       struct wl_rs *olds, size_t n);

/* One active RS in a proportional scale. */
struct wl_prop_rs {
    int spec;        /* spec.replicas (> 0) */
    int max_before;  /* its max-replicas annotation, 0 if none */
    int64_t created; /* creation time, for the tie-breaks */
    int out;         /* the new size */
    size_t tag;      /* the caller's, left alone (rows get sorted) */
};

/* upstream's scale() for a RollingUpdate deployment resized mid-rollout:
 * spreads (replicas + max_surge) - sum(spec) over the active RSes in
 * proportion to their size (GetProportion), leftovers to the largest.
 * status_replicas stands in for a missing max-replicas annotation. Sorts
 * rs (larger first; newer first when adding, older when removing) and
 * sets each out. */
void wl_proportional_scale(struct wl_prop_rs *rs, size_t n, int replicas, int max_surge,
                           int status_replicas);

/* ---- conditions --------------------------------------------------------------- */

/* The condition of type in status.conditions (borrowed), or NULL. */
json_t *wl_condition_get(const json_t *status, const char *type);
/* Sets condition type in status (creating status.conditions): keeps
 * lastTransitionTime when status is unchanged, sets lastUpdateTime (when
 * with_update) and lastProbeTime never. Returns true if anything changed
 * besides the timestamps. */
bool wl_condition_set(json_t *status, const char *type, const char *st, const char *reason,
                      const char *msg, const char *now, bool with_update);

/* ---- daemonset ---------------------------------------------------------------- */

/* True if toleration tol tolerates taint (upstream ToleratesTaint). */
bool wl_tolerates(const json_t *tol, const json_t *taint);
/* The tolerations a DaemonSet pod gets on top of its template's
 * (AddOrUpdateDaemonPodTolerations): not-ready and unreachable NoExecute,
 * disk/memory/pid-pressure and unschedulable NoSchedule. Adds them to the
 * pod spec in place. */
void wl_daemon_tolerations_add(json_t *pod_spec);
/* True if a pod with pod_spec (tolerations already added) should run on
 * node: nodeSelector, required node affinity (labels and metadata.name
 * fields), NoSchedule/NoExecute taints tolerated. */
bool wl_node_should_run(const json_t *node, const json_t *pod_spec);
/* True if a pod already on node may stay (NodeShouldRunDaemonPod's second
 * answer): as wl_node_should_run, but only NoExecute taints count. */
bool wl_node_should_continue(const json_t *node, const json_t *pod_spec);
/* Sets spec.affinity.nodeAffinity required terms to pick node_name by
 * metadata.name (upstream ReplaceDaemonSetPodNodeNameNodeAffinity). */
void wl_pin_to_node(json_t *pod_spec, const char *node_name);
/* The node name a daemon pod is for: spec.nodeName, else its matchFields
 * metadata.name pin, else NULL (borrowed). */
const char *wl_daemon_pod_node(const json_t *pod);

/* ---- job ------------------------------------------------------------------------ */

struct wl_job_counts {
    int active, ready, succeeded, failed;
};

/* How many pods should run now: parallelism, capped by the completions
 * still needed (completions set), or 0 once one succeeded (work-queue
 * jobs without completions). */
int wl_job_want_active(const json_t *spec, const struct wl_job_counts *n);
/* upstream's pod failure back-off (DefaultJobPodFailureBackOff 10 s,
 * doubling per failure since the last success, MaxJobPodFailureBackOff
 * 10 min): seconds still to wait at now before a new pod (0: none). */
int64_t wl_job_backoff_left(int failures, int64_t last_failure, int64_t now);
/* When a finished pod finished: its containers' latest terminated
 * finishedAt, else the Ready condition's lastTransitionTime, else -1. */
int64_t wl_pod_finished_at(const json_t *pod);
/* True once the job has succeeded (completions reached; or, without
 * completions, one pod succeeded and none run). */
bool wl_job_complete(const json_t *spec, const struct wl_job_counts *n);

/* ---- expectations ------------------------------------------------------------- */

/* Upstream's ControllerExpectations: after a controller asks for creates or
 * deletes it waits until its informer has seen them (or 5 minutes passed)
 * before it counts pods again, so a burst is not repeated. Keyed by the
 * owner's uid. Thread: any (the informer thread observes, the controller
 * thread sets and checks). */
#define WL_EXPECT_MAX     512
#define WL_EXPECT_TIMEOUT 300000 /* ms */

struct wl_expect_entry {
    char uid[64];
    int adds, dels;
    int64_t expire_ms;
};

struct wl_expectations {
    pthread_mutex_t mu;
    struct wl_expect_entry e[WL_EXPECT_MAX];
};

#define WL_EXPECTATIONS_INIT                                                                       \
    {                                                                                              \
        .mu = PTHREAD_MUTEX_INITIALIZER                                                            \
    }

/* Expects adds creates and dels deletes for uid from now_ms on (replaces
 * what was expected). */
void wl_expect(struct wl_expectations *x, const char *uid, int adds, int dels, int64_t now_ms);
/* One create (add true) or delete of uid's was seen (or will never be). */
void wl_expect_observe(struct wl_expectations *x, const char *uid, bool add);
/* True when nothing is pending for uid (or it expired). */
bool wl_expect_satisfied(struct wl_expectations *x, const char *uid, int64_t now_ms);

/* ---- framework glue (workload_ctl.c; needs controller.h) ------------------------ */

struct ctl;
struct k3c_err;

/* Every pod in ns as a new JSON array (caller json_decref()s). */
json_t *wl_list_pods(struct ctl *c, const char *ns);
/* Enqueues every object of resource in obj's namespace whose selector
 * matches obj's labels (handlers mapping an orphan pod or set to its
 * candidate owners). */
void wl_enqueue_selecting(struct ctl *c, const char *resource, const json_t *obj);
/* Creates pod_take (consumed) for owner; records SuccessfulCreate (or
 * FailedCreate). Returns 0 or -1 with err. */
int wl_create_pod(struct ctl *c, const json_t *owner, json_t *pod_take, struct k3c_err *err);
/* Deletes pod (gone already is fine); records SuccessfulDelete. */
int wl_delete_pod(struct ctl *c, const json_t *owner, const json_t *pod, struct k3c_err *err);
/* Adopts (adopt true: adds a controller ownerReference to owner) or
 * releases (removes owner's reference) obj (of resource plural), guarded
 * by its resourceVersion. */
int wl_claim(struct ctl *c, const json_t *owner, const json_t *obj, const char *plural, bool adopt,
             struct k3c_err *err);
/* The API path of obj ("/apis/apps/v1/namespaces/ns/replicasets/name"),
 * from its apiVersion and the plural given. */
char *wl_object_path(const json_t *obj, const char *plural);
/* PUTs obj with status_take (consumed) to <path>/status unless the status
 * is unchanged. Returns 0 or -1 with err (CONFLICT: re-queue). */
int wl_put_status(struct ctl *c, const json_t *obj, const char *plural, json_t *status_take,
                  struct k3c_err *err);
/* Enqueues "ns/name" of obj's controller when its kind is kind; returns its
 * uid (borrowed from obj) or NULL. */
const char *wl_enqueue_controller(struct ctl *c, const json_t *obj, const char *kind);
/* Seconds since the epoch (wall clock). */
int64_t wl_now(void);

/* Job podFailurePolicy (job_failure_policy.c, issue #16): the action of
 * the first rule failed pod matches ("FailJob", "Ignore", "Count",
 * "FailIndex"), or NULL when none does; msg gets upstream's message. */
const char *wl_pod_failure_action(const json_t *policy, const json_t *pod, char *msg, size_t len);

/* ControllerRevision history of StatefulSets and DaemonSets (revisions.c,
 * issue #16). wl_revision_ensure: the revision holding owner's
 * spec.template among revisions (owned array; a new one is appended), made
 * (labelled hash_label=<hash>) or renumbered to the newest; its name in
 * name_out. wl_revisions_trim: deletes the oldest revisions not named in
 * keep (NULL-terminated) beyond spec.revisionHistoryLimit (10).
 * wl_revision_template: the template a revision holds (borrowed). */
int wl_revision_ensure(struct ctl *c, const json_t *owner, json_t *revisions,
                       const char *hash_label, char *name_out, size_t name_len,
                       struct k3c_err *err);
void wl_revisions_trim(struct ctl *c, const json_t *owner, json_t *revisions,
                       const char *const *keep);
json_t *wl_revision_template(const json_t *rev);

#endif
