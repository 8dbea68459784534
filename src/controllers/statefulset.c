/* SPDX-License-Identifier: Apache-2.0
 * statefulset.c - the StatefulSet controller, after upstream's
 * pkg/controller/statefulset (Kubernetes 1.32), one sync per set:
 *
 *   revisions  the template is kept in a ControllerRevision
 *              <set>-<hash> (data {"spec":{"template":{...,"$patch":
 *              "replace"}}}, as upstream, so `kubectl rollout undo` applies
 *              it); an equal older revision is renumbered to the newest;
 *              beyond revisionHistoryLimit the oldest unused ones go;
 *   pods       <set>-<ordinal> for ordinals [start, start+replicas), with
 *              hostname = pod name, subdomain = serviceName, the labels
 *              controller-revision-hash, statefulset.kubernetes.io/pod-name
 *              and apps.kubernetes.io/pod-index, and a PVC
 *              <template>-<set>-<ordinal> per volumeClaimTemplate (created
 *              through the API, deleted per persistentVolumeClaimRetention
 *              Policy); OrderedReady creates in ordinal order, each after
 *              the previous is Running and Ready, and removes from the
 *              highest ordinal down, one at a time; Parallel does not wait;
 *   updates    RollingUpdate deletes the highest-ordinal pod not at the
 *              update revision, down to the partition, one at a time and
 *              only while the others are healthy; pods below the partition
 *              are recreated at the current revision; OnDelete only
 *              recreates deleted pods (at the update revision);
 *   status     replicas, ready/available/current/updatedReplicas,
 *              current/updateRevision (current := update once every pod is
 *              updated and ready), observedGeneration, collisionCount. */
#define LOG_COMPONENT "statefulset"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define REVISION_LABEL  "controller-revision-hash"
#define POD_NAME_LABEL  "statefulset.kubernetes.io/pod-name"
#define POD_INDEX_LABEL "apps.kubernetes.io/pod-index"
#define MAX_ORDINALS    10000

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- informer handlers ---------------------------------------------------------- */

static void
on_set(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_owned(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    wl_enqueue_controller(c, obj, "StatefulSet");
}

static void
sts_start(struct ctl *c)
{
    ctl_enqueue_all(c, "statefulsets");
}

/* ---- one sync's view ------------------------------------------------------------ */

struct ststate {
    const json_t *set;
    const json_t *spec;
    const char *ns, *name, *uid;
    json_t *pods;                       /* owned, by ordinal: object ordinal -> pod (own) */
    json_t *condemned;                  /* owned pods outside the range (own array) */
    json_t *revisions;                  /* owned ControllerRevisions (own array) */
    json_t *update_tmpl, *current_tmpl; /* borrowed from revisions or spec */
    char update_rev[320], current_rev[320];
    int64_t start, replicas, now;
    bool monotonic;
};

struct collect {
    const char *uid;
    json_t *out;
};

static bool
collect_owned(void *ud, const json_t *obj)
{
    struct collect *col = ud;

    if (ctl_is_controlled_by(obj, col->uid))
        json_array_append(col->out, (json_t *)obj);
    return true;
}

static json_t *
list_owned(struct ctl *c, const char *resource, const struct ststate *st)
{
    struct collect col = {st->uid, json_array()};

    ctl_list(c, resource, st->ns, NULL, collect_owned, &col);
    return col.out;
}

/* The ordinal of <set>-<n>, or -1. */
static int64_t
ordinal_of(const struct ststate *st, const json_t *pod)
{
    const char *name = or_empty(wl_str(pod, "metadata.name"));
    size_t n = strlen(st->name);
    char *end = NULL;
    long long v;

    if (strncmp(name, st->name, n) != 0 || name[n] != '-' || !name[n + 1])
        return -1;
    v = strtoll(name + n + 1, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static bool
pod_healthy(const json_t *pod)
{
    return strcmp(or_empty(wl_str(pod, "status.phase")), "Running") == 0 && ctl_pod_ready(pod) &&
           !ctl_being_deleted(pod);
}

/* ---- revisions -------------------------------------------------------------------- */

/* The update revision (revisions.c makes or renumbers it) and the current
 * one status names, with their templates. */
static int
revisions_sync(struct ctl *c, struct ststate *st, struct k3c_err *err)
{
    const char *current = wl_str(st->set, "status.currentRevision");
    json_t *rev;
    size_t i;

    if (wl_revision_ensure(c, st->set, st->revisions, "controller.kubernetes.io/hash",
                           st->update_rev, sizeof(st->update_rev), err) < 0)
        return -1;
    st->update_tmpl = json_object_get(st->spec, "template");
    snprintf(st->current_rev, sizeof(st->current_rev), "%s", st->update_rev);
    st->current_tmpl = st->update_tmpl;
    json_array_foreach(st->revisions, i, rev)
    {
        if (current && strcmp(or_empty(wl_str(rev, "metadata.name")), current) == 0) {
            snprintf(st->current_rev, sizeof(st->current_rev), "%s", current);
            st->current_tmpl = wl_revision_template(rev);
        }
    }
    return 0;
}

/* Deletes the oldest revisions neither current nor update beyond
 * revisionHistoryLimit. */
static void
revisions_trim(struct ctl *c, struct ststate *st)
{
    const char *keep[] = {st->update_rev, st->current_rev, NULL};

    wl_revisions_trim(c, st->set, st->revisions, keep);
}

/* ---- pods and claims ------------------------------------------------------------------ */

static void
claim_name(const struct ststate *st, const json_t *tmpl, int64_t ord, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%s-%lld", or_empty(wl_str(tmpl, "metadata.name")), st->name,
             (long long)ord);
}

/* Creates the PVCs of ordinal ord that do not exist (through the API: the
 * kind is served when the storage part is built in). */
static int
claims_ensure(struct ctl *c, struct ststate *st, int64_t ord, struct k3c_err *err)
{
    const json_t *tmpls = json_object_get(st->spec, "volumeClaimTemplates");
    size_t i;
    json_t *t;

    json_array_foreach(tmpls, i, t)
    {
        char name[512], path[640];
        _cleanup_json_ json_t *pvc = NULL;
        json_t *labels;
        long code;

        claim_name(st, t, ord, name, sizeof(name));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s", st->ns,
                 name);
        if (ctl_api(c, "GET", path, NULL, NULL, NULL, err) == 200)
            continue;
        k3c_err_clear(err);
        labels =
            json_deep_copy(json_object_get(json_object_get(st->spec, "selector"), "matchLabels"));
        if (!json_is_object(labels)) {
            json_decref(labels);
            labels = json_object();
        }
        json_object_update(labels, json_object_get(json_object_get(t, "metadata"), "labels"));
        pvc = json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:O}", "apiVersion", "v1", "kind",
                        "PersistentVolumeClaim", "metadata", "name", name, "namespace", st->ns,
                        "labels", labels, "spec", json_object_get(t, "spec"));
        if (strcmp(or_empty(wl_str(st->spec, "persistentVolumeClaimRetentionPolicy.whenDeleted")),
                   "Delete") == 0)
            json_object_set_new(json_object_get(pvc, "metadata"), "ownerReferences",
                                json_pack("[o]", ctl_owner_ref(st->set)));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims", st->ns);
        code = ctl_api(c, "POST", path, NULL, pvc, NULL, err);
        if (code == 409) {
            k3c_err_clear(err);
            continue;
        }
        if (code < 200 || code >= 300) {
            ctl_event(c, st->set, "Warning", "FailedCreate",
                      "create Claim %s for Pod %s-%lld in StatefulSet %s failed error: %s", name,
                      st->name, (long long)ord, st->name, err->msg);
            return -1;
        }
        ctl_event(c, st->set, "Normal", "SuccessfulCreate",
                  "create Claim %s for Pod %s-%lld in StatefulSet %s success", name, st->name,
                  (long long)ord, st->name);
    }
    return 0;
}

/* whenScaled Delete: the claims of a removed ordinal go with it. */
static void
claims_delete(struct ctl *c, struct ststate *st, int64_t ord)
{
    const json_t *tmpls = json_object_get(st->spec, "volumeClaimTemplates");
    size_t i;
    json_t *t;
    struct k3c_err err = {0};

    if (strcmp(or_empty(wl_str(st->spec, "persistentVolumeClaimRetentionPolicy.whenScaled")),
               "Delete") != 0)
        return;
    json_array_foreach(tmpls, i, t)
    {
        char name[512], path[640];

        claim_name(st, t, ord, name, sizeof(name));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s", st->ns,
                 name);
        ctl_api(c, "DELETE", path, NULL, NULL, NULL, &err);
        k3c_err_clear(&err);
    }
}

/* newVersionedStatefulSetPod */
static json_t *
new_pod(struct ststate *st, int64_t ord)
{
    const json_t *ru =
        json_object_get(json_object_get(st->spec, "updateStrategy"), "rollingUpdate");
    bool rolling = strcmp(or_empty(wl_str(st->spec, "updateStrategy.type")), "RollingUpdate") == 0;
    bool at_current = rolling && ord < wl_int(ru, "partition", 0);
    const json_t *tmpl = at_current ? st->current_tmpl : st->update_tmpl;
    json_t *clean = json_deep_copy(tmpl);
    json_t *pod, *meta, *labels, *spec, *vols;
    const json_t *claims = json_object_get(st->spec, "volumeClaimTemplates");
    char name[320], idx[32];
    size_t i;
    json_t *t;

    json_object_del(clean, "$patch");
    pod = wl_pod_from_template(clean, st->ns, st->name, ctl_owner_ref(st->set));
    json_decref(clean);
    snprintf(name, sizeof(name), "%s-%lld", st->name, (long long)ord);
    snprintf(idx, sizeof(idx), "%lld", (long long)ord);
    meta = json_object_get(pod, "metadata");
    json_object_del(meta, "generateName");
    json_object_set_new(meta, "name", json_string(name));
    labels = json_object_get(meta, "labels");
    if (!json_is_object(labels)) {
        json_object_set_new(meta, "labels", json_object());
        labels = json_object_get(meta, "labels");
    }
    json_object_set_new(labels, REVISION_LABEL,
                        json_string(at_current ? st->current_rev : st->update_rev));
    json_object_set_new(labels, POD_NAME_LABEL, json_string(name));
    json_object_set_new(labels, POD_INDEX_LABEL, json_string(idx));
    spec = json_object_get(pod, "spec");
    json_object_set_new(spec, "hostname", json_string(name));
    if (wl_str(st->spec, "serviceName"))
        json_object_set_new(spec, "subdomain", json_string(wl_str(st->spec, "serviceName")));
    vols = json_object_get(spec, "volumes");
    if (json_array_size(claims) && !json_is_array(vols)) {
        json_object_set_new(spec, "volumes", json_array());
        vols = json_object_get(spec, "volumes");
    }
    json_array_foreach(claims, i, t)
    {
        const char *vname = or_empty(wl_str(t, "metadata.name"));
        char claim[512];
        size_t k;
        json_t *v;

        claim_name(st, t, ord, claim, sizeof(claim));
        /* the claim replaces a template volume of the same name */
        for (k = json_array_size(vols); k-- > 0;) {
            v = json_array_get(vols, k);
            if (strcmp(or_empty(wl_str(v, "name")), vname) == 0)
                json_array_remove(vols, k);
        }
        json_array_append_new(vols, json_pack("{s:s,s:{s:s}}", "name", vname,
                                              "persistentVolumeClaim", "claimName", claim));
    }
    return pod;
}

/* ---- the update loop (updateStatefulSet) ------------------------------------------------ */

/* rollingUpdate.maxUnavailable of the replicas, rounded down, at least 1
 * (getStatefulSetMaxUnavailable). */
static int
max_unavailable(const struct ststate *st, const json_t *ru)
{
    int n = wl_scaled_value(json_object_get(ru, "maxUnavailable"), (int)st->replicas, false, 1);

    return n < 1 ? 1 : n;
}

/* maxUnavailable > 1 (upstream's MaxUnavailableStatefulSet): with the
 * pods already unhealthy counted, delete up to maxUnavailable pods not at
 * the update revision at once, highest ordinal first, down to the
 * partition. */
static int
rolling_update_many(struct ctl *c, struct ststate *st, const json_t *ru, int64_t end,
                    struct k3c_err *err)
{
    int budget = max_unavailable(st, ru);
    int64_t partition = wl_int(ru, "partition", 0);
    char key[32];

    for (int64_t ord = st->start; ord < end; ord++) {
        json_t *pod;

        snprintf(key, sizeof(key), "%lld", (long long)ord);
        pod = json_object_get(st->pods, key);
        if (!pod || !pod_healthy(pod))
            budget--;
    }
    for (int64_t ord = end - 1; budget > 0 && ord >= st->start && ord >= partition; ord--) {
        json_t *pod;

        snprintf(key, sizeof(key), "%lld", (long long)ord);
        pod = json_object_get(st->pods, key);
        if (!pod || ctl_being_deleted(pod) ||
            strcmp(or_empty(wl_str(pod, "metadata.labels." REVISION_LABEL)), st->update_rev) == 0)
            continue;
        if (wl_delete_pod(c, st->set, pod, err) < 0)
            return -1;
        budget--;
    }
    return 0;
}

/* Returns 0 (done or waiting) or -1 with err. */
static int
pods_sync(struct ctl *c, struct ststate *st, struct k3c_err *err)
{
    const json_t *ru =
        json_object_get(json_object_get(st->spec, "updateStrategy"), "rollingUpdate");
    int64_t end = st->start + st->replicas;
    size_t i;
    char key[32];

    /* create, replace failed pods, wait for each (OrderedReady) */
    for (int64_t ord = st->start; ord < end; ord++) {
        json_t *pod;

        snprintf(key, sizeof(key), "%lld", (long long)ord);
        pod = json_object_get(st->pods, key);
        if (pod && ctl_pod_finished(pod) && !ctl_being_deleted(pod)) {
            if (wl_delete_pod(c, st->set, pod, err) < 0)
                return -1;
            if (st->monotonic)
                return 0;
            continue;
        }
        if (!pod) {
            if (claims_ensure(c, st, ord, err) < 0 ||
                wl_create_pod(c, st->set, new_pod(st, ord), err) < 0)
                return -1;
            if (st->monotonic)
                return 0;
            continue;
        }
        if (st->monotonic && !pod_healthy(pod))
            return 0;
    }
    /* condemned pods, highest ordinal first */
    for (size_t k = json_array_size(st->condemned); k-- > 0;) {
        json_t *pod = json_array_get(st->condemned, k);

        if (ctl_being_deleted(pod)) {
            if (st->monotonic)
                return 0;
            continue;
        }
        if (st->monotonic) {
            const char *kk;
            json_t *p;

            json_object_foreach(st->pods, kk, p)
            {
                if (!pod_healthy(p))
                    return 0;
            }
        }
        if (wl_delete_pod(c, st->set, pod, err) < 0)
            return -1;
        claims_delete(c, st, ordinal_of(st, pod));
        if (st->monotonic)
            return 0;
    }
    (void)i;
    if (strcmp(or_empty(wl_str(st->spec, "updateStrategy.type")), "RollingUpdate") != 0)
        return 0;
    if (max_unavailable(st, ru) > 1)
        return rolling_update_many(c, st, ru, end, err);
    /* rolling update: the highest ordinal not at the update revision */
    for (int64_t ord = end - 1; ord >= st->start && ord >= wl_int(ru, "partition", 0); ord--) {
        json_t *pod;

        snprintf(key, sizeof(key), "%lld", (long long)ord);
        pod = json_object_get(st->pods, key);
        if (!pod)
            return 0;
        if (strcmp(or_empty(wl_str(pod, "metadata.labels." REVISION_LABEL)), st->update_rev) != 0 &&
            !ctl_being_deleted(pod))
            return wl_delete_pod(c, st->set, pod, err);
        if (!pod_healthy(pod))
            return 0;
    }
    return 0;
}

/* ---- status ------------------------------------------------------------------------------- */

static json_t *
status_build(struct ststate *st)
{
    json_t *status = json_deep_copy(json_object_get(st->set, "status"));
    int64_t min_ready = wl_int(st->spec, "minReadySeconds", 0);
    int n = 0, ready = 0, available = 0, current = 0, updated = 0;
    const char *k;
    json_t *pod;
    size_t i;

    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    json_object_foreach(st->pods, k, pod)
    {
        const char *rev = or_empty(wl_str(pod, "metadata.labels." REVISION_LABEL));
        int64_t wait = 0;

        n++;
        ready += pod_healthy(pod);
        available += pod_healthy(pod) && wl_pod_available(pod, min_ready, st->now, &wait);
        current += strcmp(rev, st->current_rev) == 0;
        updated += strcmp(rev, st->update_rev) == 0;
    }
    json_array_foreach(st->condemned, i, pod)
    {
        n++;
    }
    /* completeRollingUpdate */
    if (strcmp(or_empty(wl_str(st->spec, "updateStrategy.type")), "RollingUpdate") == 0 &&
        updated == n && ready == n && n == st->replicas) {
        snprintf(st->current_rev, sizeof(st->current_rev), "%s", st->update_rev);
        current = updated;
    }
    json_object_set_new(status, "observedGeneration",
                        json_integer(wl_int(st->set, "metadata.generation", 0)));
    json_object_set_new(status, "replicas", json_integer(n));
    json_object_set_new(status, "readyReplicas", json_integer(ready));
    json_object_set_new(status, "availableReplicas", json_integer(available));
    json_object_set_new(status, "currentReplicas", json_integer(current));
    json_object_set_new(status, "updatedReplicas", json_integer(updated));
    json_object_set_new(status, "currentRevision", json_string(st->current_rev));
    json_object_set_new(status, "updateRevision", json_string(st->update_rev));
    if (!json_object_get(status, "collisionCount"))
        json_object_set_new(status, "collisionCount", json_integer(0));
    return status;
}

/* ---- sync -------------------------------------------------------------------------------- */

static void
split_pods(struct ctl *c, struct ststate *st, struct k3c_err *err)
{
    _cleanup_json_ json_t *all = wl_list_pods(c, st->ns);
    const json_t *sel = json_object_get(st->spec, "selector");
    size_t i;
    json_t *p;
    char key[32];

    json_array_foreach(all, i, p)
    {
        bool owned = ctl_is_controlled_by(p, st->uid);
        int64_t ord = ordinal_of(st, p);

        if (!owned && !ctl_controller_ref(p) && !ctl_being_deleted(p) && ord >= 0 &&
            ctl_selector_matches(sel, json_object_get(json_object_get(p, "metadata"), "labels")) &&
            wl_claim(c, st->set, p, "pods", true, err) == 0)
            owned = true;
        if (!owned)
            continue;
        if (ord >= st->start && ord < st->start + st->replicas) {
            snprintf(key, sizeof(key), "%lld", (long long)ord);
            json_object_set(st->pods, key, p);
        } else {
            json_array_append(st->condemned, p);
        }
    }
    k3c_err_clear(err);
}

static int
cmp_ordinal(const void *a, const void *b, void *ud)
{
    const struct ststate *st = ud;
    int64_t x = ordinal_of(st, *(const json_t *const *)a),
            y = ordinal_of(st, *(const json_t *const *)b);

    return x < y ? -1 : x > y;
}

static void
sort_condemned(struct ststate *st)
{
    size_t n = json_array_size(st->condemned);
    _cleanup_free_ json_t **v = k3c_xcalloc(n + 1, sizeof(*v));
    json_t *sorted = json_array();

    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(st->condemned, i);
    qsort_r(v, n, sizeof(*v), cmp_ordinal, st);
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    json_decref(st->condemned);
    st->condemned = sorted;
}

static int
sts_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *set = NULL;
    struct ststate st = {0};
    struct k3c_err serr = {0};
    int rc = 0;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    set = ctl_get(c, "statefulsets", ns, name);
    if (!set || ctl_being_deleted(set))
        return 0;
    st.set = set;
    st.spec = json_object_get(set, "spec");
    st.ns = ns;
    st.name = name;
    st.uid = or_empty(wl_str(set, "metadata.uid"));
    st.now = wl_now();
    st.start = wl_int(st.spec, "ordinals.start", 0);
    st.replicas = wl_int(st.spec, "replicas", 1);
    if (st.replicas > MAX_ORDINALS)
        st.replicas = MAX_ORDINALS;
    st.monotonic = strcmp(or_empty(wl_str(st.spec, "podManagementPolicy")), "Parallel") != 0;
    st.pods = json_object();
    st.condemned = json_array();
    st.revisions = list_owned(c, "controllerrevisions", &st);
    split_pods(c, &st, err);
    sort_condemned(&st);
    if (revisions_sync(c, &st, err) < 0)
        rc = -1;
    else {
        rc = pods_sync(c, &st, err);
        revisions_trim(c, &st);
        if (wl_put_status(c, set, "statefulsets", status_build(&st), &serr) < 0 && rc == 0) {
            *err = serr;
            rc = -1;
        }
    }
    /* minReadySeconds: come back when a pod becomes available */
    if (wl_int(st.spec, "minReadySeconds", 0) > 0)
        ctl_enqueue_after(c, key, 1000);
    json_decref(st.pods);
    json_decref(st.condemned);
    json_decref(st.revisions);
    return rc;
}

static const struct ctl_watch sts_watches[] = {
    {"statefulsets", on_set},
    {"pods", on_owned},
    {"controllerrevisions", on_owned},
    {NULL, NULL},
};

const struct ctl_def ctl_def_statefulset = {
    .name = "statefulset",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = sts_watches,
    .sync = sts_sync,
    .start = sts_start,
};
