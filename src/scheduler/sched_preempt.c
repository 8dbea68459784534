/* SPDX-License-Identifier: Apache-2.0
 * sched_preempt.c - preemption (kube-scheduler's DefaultPreemption
 * PostFilter plugin, trimmed): a pending pod that fits nowhere may evict
 * pods of lower priority. Per node: without every lower-priority pod, does
 * the pod fit? If so, pods are given back ("reprieved") from the highest
 * priority down, those whose eviction would break a PodDisruptionBudget
 * first, while the pod still fits; the rest are the victims. The node
 * chosen has the fewest budget violations, then the lowest highest victim
 * priority, the smallest sum of victim priorities, the fewest victims. The
 * pod gets status.nominatedNodeName, each victim the DisruptionTarget
 * condition, a Preempted event and a graceful delete; the pod is scheduled
 * once they are gone. A pod with preemptionPolicy Never preempts nothing,
 * and a pod nominated to a node where victims are still terminating waits
 * for them instead of preempting again. */
#define LOG_COMPONENT "scheduler"
#include "scheduler/scheduler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

static bool
fits(const struct sched_node *n, const struct sched_pod *p)
{
    const char *reasons[SCHED_MAX_EXT + 4];
    char taint[256];

    return sched_filter(n, p, reasons, K3C_ARRAY_SIZE(reasons), taint, sizeof(taint)) == 0;
}

/* Highest priority first; budget-violating ones before the others. */
static int
cmp_reprieve_order(const void *a, const void *b)
{
    const struct sched_victim *x = *(const struct sched_victim *const *)a;
    const struct sched_victim *y = *(const struct sched_victim *const *)b;

    if (x->pdb_violation != y->pdb_violation)
        return x->pdb_violation ? -1 : 1;
    return (x->priority < y->priority) - (x->priority > y->priority);
}

bool
sched_select_victims(struct sched_node *n, const struct sched_pod *p, struct sched_victim *cands,
                     size_t n_cands, size_t *violations)
{
    struct sched_victim **order;
    bool ok;

    *violations = 0;
    for (size_t i = 0; i < n_cands; i++) {
        cands[i].victim = true;
        sched_node_remove_pod(n, &cands[i].sp);
    }
    ok = fits(n, p);
    if (!ok) {
        for (size_t i = 0; i < n_cands; i++) {
            cands[i].victim = false;
            sched_node_add_pod(n, &cands[i].sp);
        }
        return false;
    }
    order = k3c_xcalloc(n_cands ? n_cands : 1, sizeof(*order));
    for (size_t i = 0; i < n_cands; i++)
        order[i] = &cands[i];
    qsort(order, n_cands, sizeof(*order), cmp_reprieve_order);
    for (size_t i = 0; i < n_cands; i++) {
        sched_node_add_pod(n, &order[i]->sp);
        if (fits(n, p)) {
            order[i]->victim = false; /* reprieved */
            continue;
        }
        sched_node_remove_pod(n, &order[i]->sp);
        *violations += order[i]->pdb_violation;
    }
    /* leave n as it was: every candidate counted again */
    for (size_t i = 0; i < n_cands; i++)
        if (cands[i].victim)
            sched_node_add_pod(n, &cands[i].sp);
    free(order);
    return true;
}

void
sched_preempt_score(const struct sched_victim *cands, size_t n_cands, size_t violations,
                    struct sched_preempt_score *out)
{
    memset(out, 0, sizeof(*out));
    out->violations = violations;
    out->max_priority = INT32_MIN;
    for (size_t i = 0; i < n_cands; i++) {
        if (!cands[i].victim)
            continue;
        out->n_victims++;
        out->sum_priority += cands[i].priority;
        if (cands[i].priority > out->max_priority)
            out->max_priority = cands[i].priority;
    }
}

bool
sched_preempt_better(const struct sched_preempt_score *a, const struct sched_preempt_score *b)
{
    if (a->violations != b->violations)
        return a->violations < b->violations;
    if (a->max_priority != b->max_priority)
        return a->max_priority < b->max_priority;
    if (a->sum_priority != b->sum_priority)
        return a->sum_priority < b->sum_priority;
    return a->n_victims < b->n_victims;
}

/* ---- against the cluster --------------------------------------------------------------- */

/* Set once this scheduler nominated a pod: until then no pod can be
 * nominated and sched_nominated_pods need not look. */
static atomic_bool nominated_any;

static int32_t
pod_priority(const json_t *pod)
{
    return (int32_t)json_integer_value(json_object_get(json_object_get(pod, "spec"), "priority"));
}

static const char *
str_at(const json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static bool
terminal(const json_t *pod)
{
    const char *phase = str_at(pod, "status", "phase");

    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static bool
deleting(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

static bool
collect(void *ud, const json_t *obj)
{
    json_array_append((json_t *)ud, (json_t *)obj);
    return true;
}

/* Evicting pod would take a budget below its minimum (disruptionsAllowed 0). */
static bool
violates_budget(const json_t *pod, const json_t *pdbs)
{
    const json_t *pdb;
    size_t i;
    const char *ns = str_at(pod, "metadata", "namespace");

    json_array_foreach(pdbs, i, pdb)
    {
        const json_t *sel = json_object_get(json_object_get(pdb, "spec"), "selector");
        const char *pns = str_at(pdb, "metadata", "namespace");

        if (!ns || !pns || strcmp(ns, pns) != 0 || !json_is_object(sel))
            continue;
        if (!ctl_selector_matches(sel, json_object_get(json_object_get(pod, "metadata"), "labels")))
            continue;
        if (json_integer_value(
                json_object_get(json_object_get(pdb, "status"), "disruptionsAllowed")) <= 0)
            return true;
    }
    return false;
}

struct node_plan {
    struct sched_node sim;
    struct sched_victim *cands;
    size_t n_cands;
    struct sched_preempt_score score;
    bool possible;
};

static void
plan_fini(struct node_plan *pl)
{
    for (size_t i = 0; i < pl->n_cands; i++)
        sched_pod_fini(&pl->cands[i].sp);
    free(pl->cands);
    sched_node_fini(&pl->sim);
}

/* Every pod of node (bound, not finished) into the simulation; those of
 * lower priority and not already going are the candidates. */
static void
plan_node(struct node_plan *pl, const json_t *node, const json_t *pods, const json_t *pdbs,
          const struct sched_pod *p, int32_t prio)
{
    const char *name = str_at(node, "metadata", "name");
    const json_t *pod;
    size_t i, violations = 0;

    memset(pl, 0, sizeof(*pl));
    sched_node_init(&pl->sim, node);
    pl->cands = k3c_xcalloc(json_array_size(pods) + 1, sizeof(*pl->cands));
    json_array_foreach(pods, i, pod)
    {
        const char *on = str_at(pod, "spec", "nodeName");
        struct sched_victim *v;

        if (!on || !name || strcmp(on, name) != 0 || terminal(pod))
            continue;
        if (deleting(pod) || pod_priority(pod) >= prio) {
            struct sched_pod sp;

            sched_pod_init(&sp, pod);
            sched_node_add_pod(&pl->sim, &sp);
            sched_pod_fini(&sp);
            continue;
        }
        v = &pl->cands[pl->n_cands++];
        sched_pod_init(&v->sp, pod);
        v->pod = pod;
        v->priority = pod_priority(pod);
        v->pdb_violation = violates_budget(pod, pdbs);
        sched_node_add_pod(&pl->sim, &v->sp);
    }
    pl->possible =
        pl->n_cands > 0 && sched_select_victims(&pl->sim, p, pl->cands, pl->n_cands, &violations);
    if (pl->possible)
        sched_preempt_score(pl->cands, pl->n_cands, violations, &pl->score);
}

/* The pod was nominated before and lower-priority pods there are still
 * terminating: wait for them (PodEligibleToPreemptOthers). */
static bool
victims_pending(const json_t *pod, const json_t *pods)
{
    const char *nominated = str_at(pod, "status", "nominatedNodeName");
    const json_t *q;
    size_t i;

    if (!nominated || !*nominated)
        return false;
    json_array_foreach(pods, i, q)
    {
        const char *on = str_at(q, "spec", "nodeName");

        if (on && strcmp(on, nominated) == 0 && deleting(q) && !terminal(q) &&
            pod_priority(q) < pod_priority(pod))
            return true;
    }
    return false;
}

static int
evict(struct ctl *c, const json_t *victim, const json_t *preemptor, const char *node,
      struct k3c_err *err)
{
    const char *ns = str_at(victim, "metadata", "namespace");
    const char *name = str_at(victim, "metadata", "name");
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s", ns, name);
    _cleanup_free_ char *status_path = k3c_xasprintf("%s/status", path);
    _cleanup_json_ json_t *patch = NULL;
    char now[32];
    long code;

    ctl_now_rfc3339(now, sizeof(now));
    patch =
        json_pack("{s:{s:[{s:s, s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type",
                  "DisruptionTarget", "status", "True", "reason", "PreemptionByScheduler",
                  "message", "default-scheduler: preempting to accommodate a higher priority pod",
                  "lastTransitionTime", now);
    ctl_api(c, "PATCH", status_path, "application/strategic-merge-patch+json", patch, NULL, err);
    k3c_err_clear(err);
    ctl_event(c, victim, "Normal", "Preempted", "Preempted by pod %s on node %s",
              str_at(preemptor, "metadata", "uid") ? str_at(preemptor, "metadata", "uid") : "",
              node);
    code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code >= 200 && code < 300 ? 0 : -1;
}

static int
nominate(struct ctl *c, const json_t *pod, const char *node, struct k3c_err *err)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("/api/v1/namespaces/%s/pods/%s/status", str_at(pod, "metadata", "namespace"),
                      str_at(pod, "metadata", "name"));
    _cleanup_json_ json_t *patch = json_pack("{s:{s:s}}", "status", "nominatedNodeName", node);
    long code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);

    return code >= 200 && code < 300 ? 0 : -1;
}

/* Rewrites msg's preemption part: "preemption: 0/N nodes are available:
 * K No preemption victims found for incoming pod, M Preemption is not
 * helpful for scheduling." */
static void
preemption_message(char *msg, size_t len, size_t n_nodes, size_t no_victims)
{
    char *cut = strstr(msg, ". preemption:");
    size_t off;

    if (!cut || no_victims == 0)
        return;
    off = (size_t)(cut - msg);
    if (no_victims == n_nodes)
        snprintf(msg + off, len - off,
                 ". preemption: 0/%zu nodes are available: %zu No preemption victims found for "
                 "incoming pod.",
                 n_nodes, no_victims);
    else
        snprintf(msg + off, len - off,
                 ". preemption: 0/%zu nodes are available: %zu No preemption victims found for "
                 "incoming pod, %zu Preemption is not helpful for scheduling.",
                 n_nodes, no_victims, n_nodes - no_victims);
}

int
sched_preempt(struct ctl *c, const json_t *pod, char *msg, size_t msg_len, struct k3c_err *err)
{
    const char *policy = str_at(pod, "spec", "preemptionPolicy");
    int32_t prio = pod_priority(pod);
    _cleanup_json_ json_t *nodes = json_array(), *pods = json_array(), *pdbs = json_array();
    struct node_plan *plans;
    struct sched_pod p;
    size_t n_nodes, no_victims = 0;
    ssize_t best = -1;
    int rc = 0;

    if (policy && strcmp(policy, "Never") == 0)
        return 0;
    ctl_list(c, "pods", NULL, NULL, collect, pods);
    if (victims_pending(pod, pods)) {
        char *cut = strstr(msg, ". preemption:");

        if (cut)
            snprintf(cut, msg_len - (size_t)(cut - msg),
                     ". preemption: not eligible due to a terminating pod on the nominated node.");
        return 1;
    }
    ctl_list(c, "nodes", NULL, NULL, collect, nodes);
    ctl_list(c, "poddisruptionbudgets", NULL, NULL, collect, pdbs);
    n_nodes = json_array_size(nodes);
    plans = k3c_xcalloc(n_nodes ? n_nodes : 1, sizeof(*plans));
    sched_pod_init(&p, pod);
    for (size_t i = 0; i < n_nodes; i++) {
        plan_node(&plans[i], json_array_get(nodes, i), pods, pdbs, &p, prio);
        if (!plans[i].possible) {
            /* would it fit on an empty node? then victims were just not enough */
            struct sched_node empty = {0};

            sched_node_init(&empty, json_array_get(nodes, i));
            no_victims += fits(&empty, &p);
            sched_node_fini(&empty);
            continue;
        }
        if (best < 0 || sched_preempt_better(&plans[i].score, &plans[best].score))
            best = (ssize_t)i;
    }
    if (best >= 0) {
        const char *node = plans[best].sim.name;

        atomic_store(&nominated_any, true);
        rc = nominate(c, pod, node, err) < 0 ? -1 : 1;
        for (size_t i = 0; rc > 0 && i < plans[best].n_cands; i++)
            if (plans[best].cands[i].victim &&
                evict(c, plans[best].cands[i].pod, pod, node, err) < 0)
                rc = -1;
        if (rc > 0) {
            char *cut = strstr(msg, ". preemption:");

            if (cut)
                snprintf(cut, msg_len - (size_t)(cut - msg), ".");
            log_info("%s/%s: preempting %zu pod(s) on %s", str_at(pod, "metadata", "namespace"),
                     str_at(pod, "metadata", "name"), (size_t)plans[best].score.n_victims, node);
        }
    } else {
        preemption_message(msg, msg_len, n_nodes, no_victims);
    }
    for (size_t i = 0; i < n_nodes; i++)
        plan_fini(&plans[i]);
    free(plans);
    sched_pod_fini(&p);
    return rc;
}

/* ---- the room kept for nominated pods (upstream's addNominatedPods) --------------------- */

struct nominated_ctx {
    const json_t *pod;
    int32_t prio;
    json_t *out;
};

static bool
collect_nominated(void *ud, const json_t *q)
{
    struct nominated_ctx *x = ud;
    const char *node = str_at(q, "status", "nominatedNodeName");
    const char *bound = str_at(q, "spec", "nodeName");

    if (!node || !*node || (bound && *bound) || deleting(q) || terminal(q) ||
        pod_priority(q) < x->prio)
        return true;
    if (strcmp(str_at(q, "metadata", "namespace") ?: "",
               str_at(x->pod, "metadata", "namespace") ?: "") == 0 &&
        strcmp(str_at(q, "metadata", "name") ?: "", str_at(x->pod, "metadata", "name") ?: "") == 0)
        return true;
    json_array_append(x->out, (json_t *)q);
    return true;
}

json_t *
sched_nominated_pods(struct ctl *c, const json_t *pod)
{
    struct nominated_ctx x = {pod, pod_priority(pod), json_array()};

    if (atomic_load(&nominated_any))
        ctl_list(c, "pods", NULL, NULL, collect_nominated, &x);
    return x.out;
}

size_t
sched_reserve(struct sched_node *const *nodes, size_t n, const json_t *nominated,
              struct sched_reservation **out)
{
    size_t k = 0, i;
    const json_t *q;

    *out = k3c_xcalloc(json_array_size(nominated) + 1, sizeof(**out));
    json_array_foreach(nominated, i, q)
    {
        const char *node = str_at(q, "status", "nominatedNodeName");

        for (size_t j = 0; j < n; j++) {
            if (strcmp(nodes[j]->name, node) != 0)
                continue;
            (*out)[k].node = nodes[j];
            sched_pod_init(&(*out)[k].sp, q);
            (*out)[k].sp.pod = NULL;
            sched_node_add_pod(nodes[j], &(*out)[k].sp);
            k++;
            break;
        }
    }
    return k;
}

void
sched_unreserve(struct sched_reservation *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sched_node_remove_pod(r[i].node, &r[i].sp);
        sched_pod_fini(&r[i].sp);
    }
    free(r);
}
