/* SPDX-License-Identifier: Apache-2.0
 * workload.c - pure decisions shared by the workload controllers: the
 * rollout arithmetic of upstream's deployment util, template hashes, the
 * ActivePods deletion order, DaemonSet node eligibility and Job counts.
 * Nothing here does I/O; see workload.h for each contract. */
#include "controllers/workload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

/* ---- small JSON readers ---------------------------------------------------- */

static const json_t *
path_get(const json_t *obj, const char *path)
{
    char part[128];
    const char *p = path;

    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (n >= sizeof(part))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        obj = json_object_get(obj, part);
        p += n + (dot ? 1 : 0);
    }
    return obj;
}

int64_t
wl_int(const json_t *obj, const char *path, int64_t def)
{
    const json_t *v = path_get(obj, path);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *
wl_str(const json_t *obj, const char *path)
{
    return json_string_value(path_get(obj, path));
}

int64_t
wl_time(const char *rfc3339)
{
    return rfc3339 ? k3c_time_parse_rfc3339(rfc3339) : -1;
}

/* ---- int-or-percent -------------------------------------------------------- */

int
wl_scaled_value(const json_t *v, int total, bool round_up, int def)
{
    const char *s = json_string_value(v);
    char *end = NULL;
    long pct;

    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (!s || !*s)
        return def;
    pct = strtol(s, &end, 10);
    if (end == s || strcmp(end, "%") != 0 || pct < 0)
        return def;
    if (round_up)
        return (int)((pct * total + 99) / 100);
    return (int)(pct * total / 100);
}

void
wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, int desired, int *surge_out,
              int *unavailable_out)
{
    int surge = wl_scaled_value(max_surge, desired, true, 0);
    int unavailable = wl_scaled_value(max_unavailable, desired, false, 0);

    if (surge == 0 && unavailable == 0)
        unavailable = 1;
    *surge_out = surge;
    *unavailable_out = unavailable;
}

/* ---- templates -------------------------------------------------------------- */

/* A copy of tmpl without the hash labels (upstream compares templates with
 * pod-template-hash removed). */
static json_t *
template_without_hash(const json_t *tmpl)
{
    json_t *copy = json_deep_copy(tmpl ? tmpl : json_object());
    json_t *labels = json_object_get(json_object_get(copy, "metadata"), "labels");

    if (!copy)
        copy = json_object();
    json_object_del(labels, WL_HASH_LABEL);
    json_object_del(labels, WL_DS_HASH_LABEL);
    return copy;
}

void
wl_template_hash(const json_t *tmpl, char out[11])
{
    wl_template_hash_collision(tmpl, -1, out);
}

void
wl_template_hash_collision(const json_t *tmpl, int64_t collision, char out[11])
{
    /* Upstream's SafeEncodeString alphabet: no vowels, no 0/1/3 (no words,
     * nothing that reads like another character). */
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    _cleanup_json_ json_t *copy = template_without_hash(tmpl);
    _cleanup_free_ char *text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */

    char extra[32] = "";

    if (collision >= 0)
        snprintf(extra, sizeof(extra), "/%lld", (long long)collision);
    for (const char *p = text ? text : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    for (const char *p = extra; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    for (int i = 0; i < 10; i++) {
        out[i] = alphabet[h % (sizeof(alphabet) - 1)];
        h /= sizeof(alphabet) - 1;
    }
    out[10] = '\0';
}

bool
wl_templates_equal(const json_t *a, const json_t *b)
{
    _cleanup_json_ json_t *ca = template_without_hash(a);
    _cleanup_json_ json_t *cb = template_without_hash(b);

    return json_equal(ca, cb);
}

json_t *
wl_pod_from_template(const json_t *tmpl, const char *ns, const char *prefix, json_t *owner_ref_take)
{
    const json_t *tmeta = json_object_get(tmpl, "metadata");
    json_t *meta = json_object();
    json_t *pod = json_object();
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    const char *copy_keys[] = {"labels", "annotations", "finalizers"};

    json_object_set_new(meta, "generateName", json_sprintf("%s-", prefix));
    json_object_set_new(meta, "namespace", json_string(ns));
    for (size_t i = 0; i < sizeof(copy_keys) / sizeof(copy_keys[0]); i++) {
        json_t *v = json_object_get(tmeta, copy_keys[i]);

        if (v)
            json_object_set_new(meta, copy_keys[i], json_deep_copy(v));
    }
    if (owner_ref_take)
        json_object_set_new(meta, "ownerReferences", json_pack("[o]", owner_ref_take));
    json_object_set_new(pod, "apiVersion", json_string("v1"));
    json_object_set_new(pod, "kind", json_string("Pod"));
    json_object_set_new(pod, "metadata", meta);
    json_object_set_new(pod, "spec", spec ? spec : json_object());
    return pod;
}

/* ---- pods ------------------------------------------------------------------- */

int64_t
wl_pod_ready_since(const json_t *pod)
{
    const json_t *conds = path_get(pod, "status.conditions");
    size_t i;
    json_t *c;

    json_array_foreach(conds, i, c)
    {
        const char *type = wl_str(c, "type");
        const char *st = wl_str(c, "status");
        int64_t t;

        if (!type || strcmp(type, "Ready") != 0)
            continue;
        if (!st || strcmp(st, "True") != 0)
            return -1;
        t = wl_time(wl_str(c, "lastTransitionTime"));
        return t < 0 ? 0 : t;
    }
    return -1;
}

bool
wl_pod_available(const json_t *pod, int64_t min_ready_s, int64_t now, int64_t *wait_s)
{
    int64_t since = wl_pod_ready_since(pod);

    if (since < 0)
        return false;
    if (min_ready_s <= 0 || since + min_ready_s <= now)
        return true;
    if (wait_s)
        *wait_s = since + min_ready_s - now;
    return false;
}

static int
phase_rank(const json_t *pod)
{
    const char *phase = wl_str(pod, "status.phase");

    if (!phase || strcmp(phase, "Pending") == 0)
        return 0;
    if (strcmp(phase, "Unknown") == 0)
        return 1;
    if (strcmp(phase, "Running") == 0)
        return 2;
    return 3;
}

static int64_t
restarts(const json_t *pod)
{
    const json_t *st = path_get(pod, "status.containerStatuses");
    int64_t max = 0;
    size_t i;
    json_t *c;

    json_array_foreach(st, i, c)
    {
        int64_t r = wl_int(c, "restartCount", 0);

        if (r > max)
            max = r;
    }
    return max;
}

static int
cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

/* The controller.kubernetes.io/pod-deletion-cost annotation (0 if absent
 * or not a number): cheaper pods go first. */
static int64_t
deletion_cost(const json_t *pod)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"),
                        "controller.kubernetes.io/pod-deletion-cost"));
    char *end = NULL;
    long long n;

    if (!v || !*v)
        return 0;
    n = strtoll(v, &end, 10);
    return *end ? 0 : n;
}

int
wl_pod_delete_cmp(const json_t *a, const json_t *b)
{
    bool a_bound = wl_str(a, "spec.nodeName") != NULL;
    bool b_bound = wl_str(b, "spec.nodeName") != NULL;
    int64_t ra = wl_pod_ready_since(a), rb = wl_pod_ready_since(b);
    int c;

    if (a_bound != b_bound)
        return a_bound ? 1 : -1;
    c = phase_rank(a) - phase_rank(b);
    if (c)
        return c;
    if ((ra >= 0) != (rb >= 0))
        return ra >= 0 ? 1 : -1;
    c = cmp_i64(deletion_cost(a), deletion_cost(b));
    if (c)
        return c;
    if (ra >= 0 && ra != rb)
        return cmp_i64(rb, ra); /* ready more recently goes first */
    c = cmp_i64(restarts(b), restarts(a));
    if (c)
        return c;
    return cmp_i64(wl_time(wl_str(b, "metadata.creationTimestamp")),
                   wl_time(wl_str(a, "metadata.creationTimestamp")));
}

static int
pod_qsort_cmp(const void *a, const void *b)
{
    return wl_pod_delete_cmp(*(const json_t *const *)a, *(const json_t *const *)b);
}

void
wl_pods_sort_for_delete(const json_t **pods, size_t n)
{
    if (n > 1)
        qsort(pods, n, sizeof(pods[0]), pod_qsort_cmp);
}

/* ---- deployment rollout ------------------------------------------------------ */

int
wl_new_rs_replicas(int replicas, int max_surge, int new_spec, int all_spec)
{
    int max_total = replicas + max_surge;
    int up;

    if (all_spec >= max_total)
        return new_spec;
    up = max_total - all_spec;
    if (up > replicas - new_spec)
        up = replicas - new_spec;
    return new_spec + up;
}

/* cleanupUnhealthyReplicas: scales down the unavailable part of old RSes,
 * oldest first, up to max. Returns how many. */
static int
scale_down_unhealthy(struct wl_rs *olds, size_t n, int max)
{
    int done = 0;

    for (size_t i = 0; i < n && done < max; i++) {
        int unhealthy = olds[i].spec - olds[i].available;
        int take;

        if (olds[i].spec == 0 || unhealthy <= 0)
            continue;
        take = unhealthy < max - done ? unhealthy : max - done;
        olds[i].spec -= take;
        done += take;
    }
    return done;
}

int
wl_scale_down_olds(int replicas, int max_unavailable, const struct wl_rs *new_rs,
                   struct wl_rs *olds, size_t n)
{
    int old_spec = 0, all_spec = new_rs ? new_rs->spec : 0;
    int available = new_rs ? new_rs->available : 0;
    int min_available = replicas - max_unavailable;
    int new_unavailable = new_rs ? new_rs->spec - new_rs->available : 0;
    int max_down, done, total;

    for (size_t i = 0; i < n; i++) {
        old_spec += olds[i].spec;
        available += olds[i].available;
    }
    all_spec += old_spec;
    if (old_spec == 0)
        return 0;
    if (new_unavailable < 0)
        new_unavailable = 0;
    max_down = all_spec - min_available - new_unavailable;
    if (max_down <= 0)
        return 0;
    done = scale_down_unhealthy(olds, n, max_down);
    /* scaleDownOldReplicaSetsForRollingUpdate: available pods may go while
     * at least minAvailable stay. */
    if (available <= min_available)
        return done;
    total = available - min_available;
    for (size_t i = 0, down = 0; i < n && (int)down < total; i++) {
        int take = olds[i].spec < total - (int)down ? olds[i].spec : total - (int)down;

        olds[i].spec -= take;
        down += (size_t)take;
        done += take;
    }
    return done;
}

static int
prop_cmp_newer(const void *a, const void *b)
{
    const struct wl_prop_rs *x = a, *y = b;

    if (x->spec != y->spec)
        return x->spec > y->spec ? -1 : 1;
    return cmp_i64(y->created, x->created);
}

static int
prop_cmp_older(const void *a, const void *b)
{
    const struct wl_prop_rs *x = a, *y = b;

    if (x->spec != y->spec)
        return x->spec > y->spec ? -1 : 1;
    return cmp_i64(x->created, y->created);
}

/* getReplicaSetFraction: how much rs grows (shrinks) for the new size. */
static int
rs_fraction(const struct wl_prop_rs *rs, int replicas, int max_surge, int status_replicas)
{
    int max_now = replicas + max_surge;
    int before = rs->max_before > 0 ? rs->max_before : status_replicas;
    double size;

    if (replicas == 0)
        return -rs->spec;
    if (before == 0)
        return 0;
    size = (double)rs->spec * max_now / before;
    return (int)(size + 0.5) - rs->spec; /* RoundToInt32: half away from zero */
}

void
wl_proportional_scale(struct wl_prop_rs *rs, size_t n, int replicas, int max_surge,
                      int status_replicas)
{
    int all = 0, allowed = replicas > 0 ? replicas + max_surge : 0, to_add, added = 0;

    for (size_t i = 0; i < n; i++)
        all += rs[i].spec;
    to_add = allowed - all;
    if (to_add != 0 && n > 1)
        qsort(rs, n, sizeof(*rs), to_add > 0 ? prop_cmp_newer : prop_cmp_older);
    for (size_t i = 0; i < n; i++) {
        int p = 0;

        if (to_add != 0 && rs[i].spec != 0 && to_add != added) {
            int frac = rs_fraction(&rs[i], replicas, max_surge, status_replicas);
            int left = to_add - added;

            p = to_add > 0 ? (frac < left ? frac : left) : (frac > left ? frac : left);
        }
        rs[i].out = rs[i].spec + p;
        added += p;
    }
    if (n > 0 && to_add != 0) {
        rs[0].out += to_add - added;
        if (rs[0].out < 0)
            rs[0].out = 0;
    }
}

/* ---- conditions --------------------------------------------------------------- */

json_t *
wl_condition_get(const json_t *status, const char *type)
{
    const json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;

    json_array_foreach(conds, i, c)
    {
        const char *t = wl_str(c, "type");

        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static bool
str_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool
wl_condition_set(json_t *status, const char *type, const char *st, const char *reason,
                 const char *msg, const char *now, bool with_update)
{
    json_t *c = wl_condition_get(status, type);
    json_t *conds = json_object_get(status, "conditions");
    bool changed;

    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    if (!c) {
        c = json_object();
        json_array_append_new(conds, c);
        json_object_set_new(c, "type", json_string(type));
    }
    changed = !str_same(wl_str(c, "status"), st) || !str_same(wl_str(c, "reason"), reason) ||
              !str_same(wl_str(c, "message"), msg);
    if (!str_same(wl_str(c, "status"), st) || !wl_str(c, "lastTransitionTime"))
        json_object_set_new(c, "lastTransitionTime", json_string(now));
    if (with_update && (changed || !wl_str(c, "lastUpdateTime")))
        json_object_set_new(c, "lastUpdateTime", json_string(now));
    json_object_set_new(c, "status", json_string(st));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(msg));
    return changed;
}

/* ---- daemonset ---------------------------------------------------------------- */

bool
wl_tolerates(const json_t *tol, const json_t *taint)
{
    const char *effect = wl_str(tol, "effect");
    const char *key = wl_str(tol, "key");
    const char *op = wl_str(tol, "operator");

    if (effect && *effect && !str_same(effect, wl_str(taint, "effect")))
        return false;
    if (key && *key && !str_same(key, wl_str(taint, "key")))
        return false;
    if (op && strcmp(op, "Exists") == 0)
        return true;
    /* operator Equal (the default); an empty key with Exists was above */
    if (!key || !*key)
        return false;
    return str_same(wl_str(tol, "value"), wl_str(taint, "value"));
}

static bool
has_toleration(const json_t *tols, const char *key, const char *effect)
{
    size_t i;
    json_t *t;

    json_array_foreach(tols, i, t)
    {
        if (str_same(wl_str(t, "key"), key) && str_same(wl_str(t, "effect"), effect))
            return true;
    }
    return false;
}

void
wl_daemon_tolerations_add(json_t *pod_spec)
{
    static const char *const auto_tols[][2] = {
        {"node.kubernetes.io/not-ready", "NoExecute"},
        {"node.kubernetes.io/unreachable", "NoExecute"},
        {"node.kubernetes.io/disk-pressure", "NoSchedule"},
        {"node.kubernetes.io/memory-pressure", "NoSchedule"},
        {"node.kubernetes.io/pid-pressure", "NoSchedule"},
        {"node.kubernetes.io/unschedulable", "NoSchedule"},
    };
    json_t *tols = json_object_get(pod_spec, "tolerations");

    if (!json_is_array(tols)) {
        tols = json_array();
        json_object_set_new(pod_spec, "tolerations", tols);
    }
    for (size_t i = 0; i < sizeof(auto_tols) / sizeof(auto_tols[0]); i++) {
        if (has_toleration(tols, auto_tols[i][0], auto_tols[i][1]))
            continue;
        json_array_append_new(tols, json_pack("{s:s,s:s,s:s}", "key", auto_tols[i][0], "operator",
                                              "Exists", "effect", auto_tols[i][1]));
    }
}

static bool
value_in(const json_t *values, const char *v)
{
    size_t i;
    json_t *x;

    json_array_foreach(values, i, x)
    {
        if (v && str_same(json_string_value(x), v))
            return true;
    }
    return false;
}

/* One NodeSelectorRequirement against value v (NULL: key absent). */
static bool
requirement_matches(const json_t *req, const char *v)
{
    const char *op = wl_str(req, "operator");
    const json_t *values = json_object_get(req, "values");
    const char *first = json_string_value(json_array_get(values, 0));

    if (!op)
        return false;
    if (strcmp(op, "In") == 0)
        return value_in(values, v);
    if (strcmp(op, "NotIn") == 0)
        return !value_in(values, v);
    if (strcmp(op, "Exists") == 0)
        return v != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return v == NULL;
    if ((strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) && v && first) {
        long long have = strtoll(v, NULL, 10), want = strtoll(first, NULL, 10);

        return op[0] == 'G' ? have > want : have < want;
    }
    return false;
}

static bool
term_matches(const json_t *term, const json_t *node)
{
    const json_t *labels = path_get(node, "metadata.labels");
    const json_t *exprs = json_object_get(term, "matchExpressions");
    const json_t *fields = json_object_get(term, "matchFields");
    size_t i;
    json_t *r;

    if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
        return false; /* an empty term matches nothing */
    json_array_foreach(exprs, i, r)
    {
        if (!requirement_matches(r, json_string_value(json_object_get(labels, wl_str(r, "key")))))
            return false;
    }
    json_array_foreach(fields, i, r)
    {
        const char *v =
            str_same(wl_str(r, "key"), "metadata.name") ? wl_str(node, "metadata.name") : NULL;

        if (!requirement_matches(r, v))
            return false;
    }
    return true;
}

static bool
affinity_matches(const json_t *pod_spec, const json_t *node)
{
    const json_t *terms = path_get(
        pod_spec,
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
    size_t i;
    json_t *t;

    if (!json_is_array(terms))
        return true;
    json_array_foreach(terms, i, t)
    {
        if (term_matches(t, node))
            return true;
    }
    return false;
}

static bool
node_selector_matches(const json_t *pod_spec, const json_t *node)
{
    const json_t *sel = json_object_get(pod_spec, "nodeSelector");
    const json_t *labels = path_get(node, "metadata.labels");
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)sel, k, v)
    {
        if (!str_same(json_string_value(json_object_get(labels, k)), json_string_value(v)) ||
            !json_object_get(labels, k))
            return false;
    }
    return true;
}

static bool
taints_tolerated(const json_t *pod_spec, const json_t *node, bool no_execute_only)
{
    const json_t *taints = path_get(node, "spec.taints");
    const json_t *tols = json_object_get(pod_spec, "tolerations");
    size_t i, j;
    json_t *taint, *tol;

    json_array_foreach(taints, i, taint)
    {
        const char *effect = wl_str(taint, "effect");
        bool ok = false;

        if (!effect || strcmp(effect, "PreferNoSchedule") == 0 ||
            (no_execute_only && strcmp(effect, "NoExecute") != 0))
            continue;
        json_array_foreach(tols, j, tol)
        {
            if (wl_tolerates(tol, taint)) {
                ok = true;
                break;
            }
        }
        if (!ok)
            return false;
    }
    return true;
}

/* The template's own spec.nodeName, if any, must be this node. */
static bool
node_name_matches(const json_t *pod_spec, const json_t *node)
{
    const char *want = wl_str(pod_spec, "nodeName");

    return !want || !*want || str_same(want, wl_str(node, "metadata.name"));
}

bool
wl_node_should_run(const json_t *node, const json_t *pod_spec)
{
    return node_name_matches(pod_spec, node) && node_selector_matches(pod_spec, node) &&
           affinity_matches(pod_spec, node) && taints_tolerated(pod_spec, node, false);
}

bool
wl_node_should_continue(const json_t *node, const json_t *pod_spec)
{
    return node_name_matches(pod_spec, node) && node_selector_matches(pod_spec, node) &&
           affinity_matches(pod_spec, node) && taints_tolerated(pod_spec, node, true);
}

void
wl_pin_to_node(json_t *pod_spec, const char *node_name)
{
    json_t *aff = json_object_get(pod_spec, "affinity");
    json_t *na;
    json_t *term = json_pack("{s:[{s:s,s:s,s:[s]}]}", "matchFields", "key", "metadata.name",
                             "operator", "In", "values", node_name);

    if (!json_is_object(aff)) {
        aff = json_object();
        json_object_set_new(pod_spec, "affinity", aff);
    }
    na = json_object_get(aff, "nodeAffinity");
    if (!json_is_object(na)) {
        na = json_object();
        json_object_set_new(aff, "nodeAffinity", na);
    }
    json_object_set_new(na, "requiredDuringSchedulingIgnoredDuringExecution",
                        json_pack("{s:[o]}", "nodeSelectorTerms", term));
}

const char *
wl_daemon_pod_node(const json_t *pod)
{
    const json_t *terms =
        path_get(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                      "nodeSelectorTerms");
    const char *n = wl_str(pod, "spec.nodeName");
    size_t i, j;
    json_t *t, *f;

    if (n && *n)
        return n;
    json_array_foreach(terms, i, t)
    {
        json_array_foreach(json_object_get(t, "matchFields"), j, f)
        {
            const json_t *values = json_object_get(f, "values");

            if (str_same(wl_str(f, "key"), "metadata.name") &&
                str_same(wl_str(f, "operator"), "In") && json_array_size(values) == 1)
                return json_string_value(json_array_get(values, 0));
        }
    }
    return NULL;
}

/* ---- job ------------------------------------------------------------------------ */

int
wl_job_want_active(const json_t *spec, const struct wl_job_counts *n)
{
    int64_t parallelism = wl_int(spec, "parallelism", 1);
    const json_t *completions = json_object_get(spec, "completions");

    if (parallelism < 0)
        parallelism = 0;
    if (json_is_integer(completions)) {
        int64_t left = json_integer_value(completions) - n->succeeded;

        if (left < 0)
            left = 0;
        return (int)(left < parallelism ? left : parallelism);
    }
    return n->succeeded > 0 ? 0 : (int)parallelism;
}

int64_t
wl_job_backoff_left(int failures, int64_t last_failure, int64_t now)
{
    int64_t delay = 10;

    if (failures <= 0 || last_failure < 0)
        return 0;
    for (int i = 1; i < failures && delay < 600; i++)
        delay *= 2;
    if (delay > 600)
        delay = 600;
    return last_failure + delay > now ? last_failure + delay - now : 0;
}

int64_t
wl_pod_finished_at(const json_t *pod)
{
    const json_t *st = json_object_get(pod, "status");
    int64_t best = -1;
    size_t i;
    json_t *cs, *c;

    json_array_foreach(json_object_get(st, "containerStatuses"), i, cs)
    {
        int64_t t = wl_time(wl_str(cs, "state.terminated.finishedAt"));

        if (t > best)
            best = t;
    }
    if (best >= 0)
        return best;
    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        if (str_same(wl_str(c, "type"), "Ready"))
            return wl_time(wl_str(c, "lastTransitionTime"));
    }
    return -1;
}

bool
wl_job_complete(const json_t *spec, const struct wl_job_counts *n)
{
    const json_t *completions = json_object_get(spec, "completions");

    if (json_is_integer(completions))
        return n->succeeded >= json_integer_value(completions);
    return n->succeeded > 0 && n->active == 0;
}

/* ---- expectations ------------------------------------------------------------- */

/* The entry for uid, or NULL; with create, a free (or expired, or the
 * oldest) slot made over to uid. Called with x->mu held. */
static struct wl_expect_entry *
expect_find(struct wl_expectations *x, const char *uid, bool create, int64_t now_ms)
{
    struct wl_expect_entry *free_slot = NULL;

    for (size_t i = 0; i < WL_EXPECT_MAX; i++) {
        struct wl_expect_entry *e = &x->e[i];

        if (e->uid[0] && strcmp(e->uid, uid) == 0)
            return e;
        if (!e->uid[0] || e->expire_ms <= now_ms || (e->adds <= 0 && e->dels <= 0))
            free_slot = free_slot ? free_slot : e;
        else if (!free_slot && i == WL_EXPECT_MAX - 1)
            free_slot = e; /* full: the last one goes (it expires anyway) */
    }
    if (!create || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    snprintf(free_slot->uid, sizeof(free_slot->uid), "%s", uid);
    return free_slot;
}

void
wl_expect(struct wl_expectations *x, const char *uid, int adds, int dels, int64_t now_ms)
{
    struct wl_expect_entry *e;

    if (!uid)
        return;
    pthread_mutex_lock(&x->mu);
    e = expect_find(x, uid, true, now_ms);
    if (e) {
        e->adds = adds;
        e->dels = dels;
        e->expire_ms = now_ms + WL_EXPECT_TIMEOUT;
    }
    pthread_mutex_unlock(&x->mu);
}

void
wl_expect_observe(struct wl_expectations *x, const char *uid, bool add)
{
    struct wl_expect_entry *e;

    if (!uid)
        return;
    pthread_mutex_lock(&x->mu);
    e = expect_find(x, uid, false, 0);
    if (e && add && e->adds > 0)
        e->adds--;
    else if (e && !add && e->dels > 0)
        e->dels--;
    pthread_mutex_unlock(&x->mu);
}

bool
wl_expect_satisfied(struct wl_expectations *x, const char *uid, int64_t now_ms)
{
    struct wl_expect_entry *e;
    bool ok;

    if (!uid)
        return true;
    pthread_mutex_lock(&x->mu);
    e = expect_find(x, uid, false, 0);
    ok = !e || (e->adds <= 0 && e->dels <= 0) || e->expire_ms <= now_ms;
    if (e && ok)
        e->uid[0] = '\0';
    pthread_mutex_unlock(&x->mu);
    return ok;
}
