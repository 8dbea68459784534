/* SPDX-License-Identifier: Apache-2.0
 * sched_filter.c - the scheduler's pure parts: quantities, pod demands,
 * node summaries, filters, scores and upstream's FitError message. */
#include "scheduler/scheduler.h"

#include "base/quantity.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults upstream uses for scoring a pod that requests nothing. */
#define DEFAULT_CPU_M  100
#define DEFAULT_MEM    (200LL * 1024 * 1024)
#define MAX_NODE_SCORE 100

/* ---- quantities ----------------------------------------------------------- */

/* base/quantity.c's parser, saturating: a request past half the int64
 * range fits nowhere, and sums of such stay in range. */
bool
sched_quantity_milli(const char *s, int64_t *out)
{
    int rc = k3c_quantity_scaled(s, 3, out);

    if (rc == K3C_QUANTITY_RANGE)
        *out = s[0] == '-' ? -(INT64_MAX / 2) : INT64_MAX / 2;
    else if (rc < 0)
        return false;
    if (*out > INT64_MAX / 2)
        *out = INT64_MAX / 2;
    if (*out < -(INT64_MAX / 2))
        *out = -(INT64_MAX / 2);
    return true;
}

static int64_t
quantity_units(const json_t *q, bool milli)
{
    int64_t m = 0;

    if (json_is_integer(q))
        return json_integer_value(q) * (milli ? 1000 : 1);
    if (!sched_quantity_milli(json_string_value(q), &m))
        return 0;
    return milli ? m : (m + 999) / 1000;
}

/* ---- resources -------------------------------------------------------------- */

static int64_t *
res_ext(struct sched_res *r, const char *name, bool create)
{
    for (size_t i = 0; i < r->n_ext; i++)
        if (strcmp(r->ext[i].name, name) == 0)
            return &r->ext[i].v;
    if (!create || r->n_ext >= SCHED_MAX_EXT)
        return NULL;
    snprintf(r->ext[r->n_ext].name, sizeof(r->ext[0].name), "%s", name);
    r->ext[r->n_ext].v = 0;
    return &r->ext[r->n_ext++].v;
}

static int64_t
res_ext_get(const struct sched_res *r, const char *name)
{
    int64_t *v = res_ext((struct sched_res *)r, name, false);

    return v ? *v : 0;
}

/* Extended resources: a domain-qualified name (nvidia.com/gpu) or
 * hugepages-*; ephemeral-storage is tracked like them. */
static bool
is_extended(const char *name)
{
    return strchr(name, '/') || strncmp(name, "hugepages-", 10) == 0 ||
           strcmp(name, "ephemeral-storage") == 0;
}

void
sched_res_from_list(const json_t *list, struct sched_res *r)
{
    const char *k;
    json_t *v;

    memset(r, 0, sizeof(*r));
    json_object_foreach((json_t *)list, k, v)
    {
        if (strcmp(k, "cpu") == 0)
            r->cpu_m = quantity_units(v, true);
        else if (strcmp(k, "memory") == 0)
            r->mem = quantity_units(v, false);
        else if (strcmp(k, "pods") == 0)
            r->pods = quantity_units(v, false);
        else if (is_extended(k)) {
            int64_t *e = res_ext(r, k, true);

            if (e)
                *e = quantity_units(v, false);
        }
    }
}

static void
res_add(struct sched_res *a, const struct sched_res *b, int sign)
{
    a->cpu_m += sign * b->cpu_m;
    a->mem += sign * b->mem;
    a->pods += sign * b->pods;
    for (size_t i = 0; i < b->n_ext; i++) {
        int64_t *e = res_ext(a, b->ext[i].name, true);

        if (e)
            *e += sign * b->ext[i].v;
    }
}

static void
res_max(struct sched_res *a, const struct sched_res *b)
{
    if (b->cpu_m > a->cpu_m)
        a->cpu_m = b->cpu_m;
    if (b->mem > a->mem)
        a->mem = b->mem;
    for (size_t i = 0; i < b->n_ext; i++) {
        int64_t *e = res_ext(a, b->ext[i].name, true);

        if (e && b->ext[i].v > *e)
            *e = b->ext[i].v;
    }
}

/* A container's requests, with limits standing in for missing requests. */
static void
container_requests(const json_t *c, struct sched_res *r)
{
    const json_t *res = json_object_get(c, "resources");
    const json_t *req = json_object_get(res, "requests");
    const json_t *lim = json_object_get(res, "limits");
    json_t *merged = json_object();

    json_object_update(merged, (json_t *)lim);
    json_object_update(merged, (json_t *)req);
    sched_res_from_list(merged, r);
    json_decref(merged);
}

static void
pod_add_ports(struct sched_pod *p, const json_t *containers)
{
    const json_t *c, *port;
    size_t i, j;

    json_array_foreach(containers, i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, port)
        {
            json_int_t hp = json_integer_value(json_object_get(port, "hostPort"));
            const char *proto = json_string_value(json_object_get(port, "protocol"));
            const char *ip = json_string_value(json_object_get(port, "hostIP"));
            struct sched_port *sp;

            if (hp <= 0)
                continue;
            p->ports = k3c_xrealloc(p->ports, (p->n_ports + 1) * sizeof(*p->ports));
            sp = &p->ports[p->n_ports++];
            sp->port = (int)hp;
            snprintf(sp->proto, sizeof(sp->proto), "%s", proto && *proto ? proto : "TCP");
            snprintf(sp->ip, sizeof(sp->ip), "%s", ip && *ip ? ip : "0.0.0.0");
        }
    }
}

void
sched_pod_init(struct sched_pod *p, const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *c, *ref;
    struct sched_res sum = {0}, init = {0};
    size_t i;

    memset(p, 0, sizeof(*p));
    p->pod = pod;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        struct sched_res r;

        container_requests(c, &r);
        res_add(&sum, &r, 1);
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        struct sched_res r;

        container_requests(c, &r);
        res_max(&init, &r);
    }
    res_max(&sum, &init);
    if (json_is_object(json_object_get(spec, "overhead"))) {
        struct sched_res o;

        sched_res_from_list(json_object_get(spec, "overhead"), &o);
        res_add(&sum, &o, 1);
    }
    sum.pods = 1;
    p->req = sum;
    pod_add_ports(p, json_object_get(spec, "containers"));
    pod_add_ports(p, json_object_get(spec, "initContainers"));
    ref = ctl_controller_ref(pod);
    snprintf(p->owner_uid, sizeof(p->owner_uid), "%s",
             json_string_value(json_object_get(ref, "uid")) ?: "");
}

void
sched_pod_fini(struct sched_pod *p)
{
    free(p->ports);
    p->ports = NULL;
    p->n_ports = 0;
}

/* ---- node summaries ------------------------------------------------------------- */

void
sched_node_init(struct sched_node *n, const json_t *node)
{
    const json_t *status = json_object_get(node, "status");
    const json_t *alloc = json_object_get(status, "allocatable");
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));

    if (!alloc)
        alloc = json_object_get(status, "capacity");
    if (!n->name)
        n->name = k3c_xstrdup(name ? name : "");
    json_decref(n->node);
    n->node = json_incref((json_t *)node);
    sched_res_from_list(alloc, &n->alloc);
    if (!json_object_get(alloc, "pods"))
        n->alloc.pods = 110;
}

void
sched_node_fini(struct sched_node *n)
{
    free(n->name);
    json_decref(n->node);
    free(n->ports);
    free(n->owners);
    memset(n, 0, sizeof(*n));
}

static struct sched_owner *
owner_slot(struct sched_node *n, const char *uid, bool create)
{
    for (size_t i = 0; i < n->n_owners; i++)
        if (strcmp(n->owners[i].uid, uid) == 0)
            return &n->owners[i];
    if (!create)
        return NULL;
    n->owners = k3c_xrealloc(n->owners, (n->n_owners + 1) * sizeof(*n->owners));
    memset(&n->owners[n->n_owners], 0, sizeof(*n->owners));
    snprintf(n->owners[n->n_owners].uid, sizeof(n->owners[0].uid), "%s", uid);
    return &n->owners[n->n_owners++];
}

static int
owner_count(const struct sched_node *n, const char *uid)
{
    struct sched_owner *o = *uid ? owner_slot((struct sched_node *)n, uid, false) : NULL;

    return o ? o->count : 0;
}

void
sched_node_add_pod(struct sched_node *n, const struct sched_pod *p)
{
    res_add(&n->used, &p->req, 1);
    if (p->n_ports) {
        n->ports = k3c_xrealloc(n->ports, (n->n_ports + p->n_ports) * sizeof(*n->ports));
        memcpy(&n->ports[n->n_ports], p->ports, p->n_ports * sizeof(*p->ports));
        n->n_ports += p->n_ports;
    }
    if (p->owner_uid[0])
        owner_slot(n, p->owner_uid, true)->count++;
}

void
sched_node_remove_pod(struct sched_node *n, const struct sched_pod *p)
{
    struct sched_owner *o;

    res_add(&n->used, &p->req, -1);
    for (size_t i = 0; i < p->n_ports; i++)
        for (size_t j = 0; j < n->n_ports; j++)
            if (n->ports[j].port == p->ports[i].port &&
                strcmp(n->ports[j].proto, p->ports[i].proto) == 0 &&
                strcmp(n->ports[j].ip, p->ports[i].ip) == 0) {
                n->ports[j] = n->ports[--n->n_ports];
                break;
            }
    o = p->owner_uid[0] ? owner_slot(n, p->owner_uid, false) : NULL;
    if (o && --o->count <= 0)
        *o = n->owners[--n->n_owners];
}

/* ---- filters ---------------------------------------------------------------------- */

bool
sched_pod_is_ours(const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *sn = json_string_value(json_object_get(spec, "schedulerName"));
    const char *node = json_string_value(json_object_get(spec, "nodeName"));

    if (sn && *sn && strcmp(sn, "default-scheduler") != 0)
        return false;
    if (node && *node)
        return false;
    return !ctl_being_deleted(pod) && !ctl_pod_finished(pod);
}

bool
sched_tolerates(const json_t *tolerations, const json_t *taint)
{
    const char *tkey = json_string_value(json_object_get(taint, "key"));
    const char *tval = json_string_value(json_object_get(taint, "value"));
    const char *teff = json_string_value(json_object_get(taint, "effect"));
    const json_t *t;
    size_t i;

    json_array_foreach(tolerations, i, t)
    {
        const char *key = json_string_value(json_object_get(t, "key"));
        const char *op = json_string_value(json_object_get(t, "operator"));
        const char *val = json_string_value(json_object_get(t, "value"));
        const char *eff = json_string_value(json_object_get(t, "effect"));
        bool exists = op && strcmp(op, "Exists") == 0;

        if (eff && *eff && (!teff || strcmp(eff, teff) != 0))
            continue;
        if (key && *key && (!tkey || strcmp(key, tkey) != 0))
            continue;
        if ((!key || !*key) && !exists)
            continue;
        if (exists || strcmp(val ? val : "", tval ? tval : "") == 0)
            return true;
    }
    return false;
}

static bool
expr_matches_value(const json_t *expr, const char *v)
{
    const char *op = json_string_value(json_object_get(expr, "operator"));
    const json_t *values = json_object_get(expr, "values");
    const json_t *x;
    size_t i;
    bool in = false;

    if (!op)
        return false;
    json_array_foreach(values, i, x)
    {
        if (v && json_string_value(x) && strcmp(v, json_string_value(x)) == 0)
            in = true;
    }
    if (strcmp(op, "In") == 0)
        return in;
    if (strcmp(op, "NotIn") == 0)
        return !in;
    if (strcmp(op, "Exists") == 0)
        return v != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return v == NULL;
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
        const char *want = json_string_value(json_array_get(values, 0));
        char *e1, *e2;
        long long have, lim;

        if (!v || !want)
            return false;
        have = strtoll(v, &e1, 10);
        lim = strtoll(want, &e2, 10);
        if (*e1 || *e2 || !*v || !*want)
            return false;
        return op[0] == 'G' ? have > lim : have < lim;
    }
    return false;
}

/* One NodeSelectorTerm: its expressions on labels and fields, ANDed; a term
 * with neither matches nothing. */
static bool
term_matches(const json_t *term, const json_t *node)
{
    const json_t *meta = json_object_get(node, "metadata");
    const json_t *labels = json_object_get(meta, "labels");
    const json_t *exprs = json_object_get(term, "matchExpressions");
    const json_t *fields = json_object_get(term, "matchFields");
    const json_t *e;
    size_t i;

    if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
        return false;
    json_array_foreach(exprs, i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));

        if (!key || !expr_matches_value(e, json_string_value(json_object_get(labels, key))))
            return false;
    }
    json_array_foreach(fields, i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));

        if (!key || strcmp(key, "metadata.name") != 0 ||
            !expr_matches_value(e, json_string_value(json_object_get(meta, "name"))))
            return false;
    }
    return true;
}

bool
sched_node_affinity_matches(const json_t *pod, const json_t *node)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");
    const json_t *req = json_object_get(
        json_object_get(json_object_get(json_object_get(spec, "affinity"), "nodeAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution"),
        "nodeSelectorTerms");
    const char *k;
    json_t *v;
    const json_t *term;
    size_t i;

    json_object_foreach(json_object_get(spec, "nodeSelector"), k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));

        if (!have || !json_string_value(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    if (!json_is_array(req))
        return true;
    json_array_foreach(req, i, term)
    {
        if (term_matches(term, node))
            return true;
    }
    return false;
}

/* The taint a node that is not Ready carries (node lifecycle adds it;
 * assumed here too so that a node whose controller lags is avoided). */
static json_t *
readiness_taint(const json_t *node)
{
    const char *ready = ctl_node_ready_status(node);

    if (ready && strcmp(ready, "True") == 0)
        return NULL;
    return json_pack("{s:s, s:s}", "key",
                     ready && strcmp(ready, "False") == 0 ? "node.kubernetes.io/not-ready"
                                                          : "node.kubernetes.io/unreachable",
                     "effect", "NoSchedule");
}

/* First NoSchedule/NoExecute taint p does not tolerate, formatted, or
 * false. */
static bool
untolerated_taint(const json_t *node, const json_t *tolerations, char *buf, size_t len)
{
    const json_t *taints = json_object_get(json_object_get(node, "spec"), "taints");
    json_t *rt = readiness_taint(node);
    const json_t *t;
    size_t i;
    bool found = false;

    if (rt && !sched_tolerates(tolerations, rt)) {
        snprintf(buf, len, "node(s) had untolerated taint {%s: }",
                 json_string_value(json_object_get(rt, "key")));
        found = true;
    }
    json_decref(rt);
    if (found)
        return true;
    json_array_foreach(taints, i, t)
    {
        const char *eff = json_string_value(json_object_get(t, "effect"));
        const char *val = json_string_value(json_object_get(t, "value"));

        if (!eff || (strcmp(eff, "NoSchedule") != 0 && strcmp(eff, "NoExecute") != 0))
            continue;
        if (sched_tolerates(tolerations, t))
            continue;
        snprintf(buf, len, "node(s) had untolerated taint {%s: %s}",
                 json_string_value(json_object_get(t, "key")) ?: "", val ? val : "");
        return true;
    }
    return false;
}

static bool
ports_conflict(const struct sched_node *n, const struct sched_pod *p)
{
    for (size_t i = 0; i < p->n_ports; i++)
        for (size_t j = 0; j < n->n_ports; j++) {
            const struct sched_port *a = &p->ports[i], *b = &n->ports[j];

            if (a->port != b->port || strcmp(a->proto, b->proto) != 0)
                continue;
            if (strcmp(a->ip, "0.0.0.0") == 0 || strcmp(b->ip, "0.0.0.0") == 0 ||
                strcmp(a->ip, b->ip) == 0)
                return true;
        }
    return false;
}

/* NodeResourcesFit: every shortfall ("Too many pods", "Insufficient cpu"). */
static size_t
resource_reasons(const struct sched_node *n, const struct sched_pod *p, const char **reasons,
                 size_t max)
{
    static __thread char ext_reason[SCHED_MAX_EXT][128];
    size_t k = 0;

    if (n->used.pods + 1 > n->alloc.pods && k < max)
        reasons[k++] = "Too many pods";
    if (p->req.cpu_m > 0 && n->used.cpu_m + p->req.cpu_m > n->alloc.cpu_m && k < max)
        reasons[k++] = "Insufficient cpu";
    if (p->req.mem > 0 && n->used.mem + p->req.mem > n->alloc.mem && k < max)
        reasons[k++] = "Insufficient memory";
    for (size_t i = 0; i < p->req.n_ext && k < max; i++) {
        const char *name = p->req.ext[i].name;

        if (p->req.ext[i].v > 0 &&
            res_ext_get(&n->used, name) + p->req.ext[i].v > res_ext_get(&n->alloc, name)) {
            snprintf(ext_reason[i], sizeof(ext_reason[i]), "Insufficient %s", name);
            reasons[k++] = ext_reason[i];
        }
    }
    return k;
}

size_t
sched_filter(const struct sched_node *n, const struct sched_pod *p, const char **reasons,
             size_t max, char *taint_buf, size_t taint_len)
{
    const json_t *spec = json_object_get(p->pod, "spec");
    const json_t *tol = json_object_get(spec, "tolerations");
    const json_t *nspec = json_object_get(n->node, "spec");

    if (max == 0)
        return 0;
    if (json_is_true(json_object_get(nspec, "unschedulable"))) {
        json_t *t = json_pack("{s:s, s:s}", "key", "node.kubernetes.io/unschedulable", "effect",
                              "NoSchedule");
        bool ok = sched_tolerates(tol, t);

        json_decref(t);
        if (!ok) {
            reasons[0] = "node(s) were unschedulable";
            return 1;
        }
    }
    if (untolerated_taint(n->node, tol, taint_buf, taint_len)) {
        reasons[0] = taint_buf;
        return 1;
    }
    if (!sched_node_affinity_matches(p->pod, n->node)) {
        reasons[0] = "node(s) didn't match Pod's node affinity/selector";
        return 1;
    }
    if (p->volume_selectors && !sched_volumes_fit(p->volume_selectors, n->node)) {
        reasons[0] = "node(s) had volume node affinity conflict";
        return 1;
    }
    if (ports_conflict(n, p)) {
        reasons[0] = "node(s) didn't have free ports for the requested pod ports";
        return 1;
    }
    return resource_reasons(n, p, reasons, max);
}

/* ---- scores ------------------------------------------------------------------------- */

static int64_t
least_allocated(const struct sched_node *n, const struct sched_pod *p)
{
    int64_t cpu = p->req.cpu_m > 0 ? p->req.cpu_m : DEFAULT_CPU_M;
    int64_t mem = p->req.mem > 0 ? p->req.mem : DEFAULT_MEM;
    int64_t s = 0;

    if (n->alloc.cpu_m > 0 && n->used.cpu_m + cpu <= n->alloc.cpu_m)
        s += (n->alloc.cpu_m - n->used.cpu_m - cpu) * MAX_NODE_SCORE / n->alloc.cpu_m;
    if (n->alloc.mem > 0 && n->used.mem + mem <= n->alloc.mem)
        s += (int64_t)((long double)(n->alloc.mem - n->used.mem - mem) * MAX_NODE_SCORE /
                       n->alloc.mem);
    return s / 2;
}

static int64_t
preferred_affinity(const struct sched_node *n, const struct sched_pod *p)
{
    const json_t *pref = json_object_get(
        json_object_get(json_object_get(json_object_get(p->pod, "spec"), "affinity"),
                        "nodeAffinity"),
        "preferredDuringSchedulingIgnoredDuringExecution");
    const json_t *t;
    size_t i;
    int64_t sum = 0;

    json_array_foreach(pref, i, t)
    {
        if (term_matches(json_object_get(t, "preference"), n->node))
            sum += json_integer_value(json_object_get(t, "weight"));
    }
    return sum;
}

static int64_t
prefer_no_schedule(const struct sched_node *n, const struct sched_pod *p)
{
    const json_t *tol = json_object_get(json_object_get(p->pod, "spec"), "tolerations");
    const json_t *t;
    size_t i;
    int64_t count = 0;

    json_array_foreach(json_object_get(json_object_get(n->node, "spec"), "taints"), i, t)
    {
        const char *eff = json_string_value(json_object_get(t, "effect"));

        if (eff && strcmp(eff, "PreferNoSchedule") == 0 && !sched_tolerates(tol, t))
            count++;
    }
    return count;
}

struct raw_score {
    int64_t least, affinity, taints, spread;
};

/* Normalises each plugin's raw scores to 0..100 as upstream does, sums
 * them, and returns the best index (ties: fewer pods, then first). */
static int
best_node(struct sched_node *const *nodes, const int *fit, size_t n_fit,
          const struct raw_score *raw)
{
    int64_t max_aff = 0, max_taint = 0, max_spread = 0, best_score = -1;
    int best = -1;

    for (size_t i = 0; i < n_fit; i++) {
        if (raw[i].affinity > max_aff)
            max_aff = raw[i].affinity;
        if (raw[i].taints > max_taint)
            max_taint = raw[i].taints;
        if (raw[i].spread > max_spread)
            max_spread = raw[i].spread;
    }
    for (size_t i = 0; i < n_fit; i++) {
        int64_t s = raw[i].least;

        s += max_aff ? raw[i].affinity * MAX_NODE_SCORE / max_aff : 0;
        s += max_taint ? MAX_NODE_SCORE - raw[i].taints * MAX_NODE_SCORE / max_taint
                       : MAX_NODE_SCORE;
        s += max_spread ? (max_spread - raw[i].spread) * MAX_NODE_SCORE / max_spread
                        : MAX_NODE_SCORE;
        if (s > best_score ||
            (s == best_score && nodes[fit[i]]->used.pods < nodes[best]->used.pods)) {
            best_score = s;
            best = fit[i];
        }
    }
    return best;
}

/* ---- the FitError message --------------------------------------------------------- */

struct reason_count {
    char text[192];
    int count;
};

static void
count_reason(struct reason_count **v, size_t *n, const char *text)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].text, text) == 0) {
            (*v)[i].count++;
            return;
        }
    *v = k3c_xrealloc(*v, (*n + 1) * sizeof(**v));
    snprintf((*v)[*n].text, sizeof((*v)[0].text), "%s", text);
    (*v)[(*n)++].count = 1;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
fit_error(size_t n_nodes, struct reason_count *rc, size_t n_rc, char *msg, size_t len)
{
    char **parts;
    size_t off;

    if (n_nodes == 0) {
        snprintf(msg, len, "no nodes available to schedule pods");
        return;
    }
    parts = k3c_xcalloc(n_rc ? n_rc : 1, sizeof(*parts));
    for (size_t i = 0; i < n_rc; i++)
        parts[i] = k3c_xasprintf("%d %s", rc[i].count, rc[i].text);
    qsort(parts, n_rc, sizeof(*parts), cmp_str);
    off = (size_t)snprintf(msg, len, "0/%zu nodes are available: ", n_nodes);
    for (size_t i = 0; i < n_rc && off < len; i++)
        off += (size_t)snprintf(msg + off, len - off, "%s%s", i ? ", " : "", parts[i]);
    if (off < len)
        snprintf(msg + off, len - off,
                 ". preemption: 0/%zu nodes are available: %zu Preemption is not helpful for "
                 "scheduling.",
                 n_nodes, n_nodes);
    for (size_t i = 0; i < n_rc; i++)
        free(parts[i]);
    free(parts);
}

int
sched_pick(struct sched_node *const *nodes, size_t n, const struct sched_pod *p, char *msg,
           size_t msg_len)
{
    int *fit = k3c_xcalloc(n ? n : 1, sizeof(*fit));
    struct raw_score *raw = k3c_xcalloc(n ? n : 1, sizeof(*raw));
    struct reason_count *rc = NULL;
    size_t n_fit = 0, n_rc = 0;
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        const char *reasons[SCHED_MAX_EXT + 4];
        char taint[256];
        size_t k =
            sched_filter(nodes[i], p, reasons, K3C_ARRAY_SIZE(reasons), taint, sizeof(taint));

        if (k > 0) {
            for (size_t j = 0; j < k; j++)
                count_reason(&rc, &n_rc, reasons[j]);
            continue;
        }
        raw[n_fit].least = least_allocated(nodes[i], p);
        raw[n_fit].affinity = preferred_affinity(nodes[i], p);
        raw[n_fit].taints = prefer_no_schedule(nodes[i], p);
        raw[n_fit].spread = p->owner_uid[0] ? owner_count(nodes[i], p->owner_uid) : 0;
        fit[n_fit++] = (int)i;
    }
    if (n_fit > 0)
        best = best_node(nodes, fit, n_fit, raw);
    else
        fit_error(n, rc, n_rc, msg, msg_len);
    free(rc);
    free(raw);
    free(fit);
    return best;
}
