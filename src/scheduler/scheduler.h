/* SPDX-License-Identifier: Apache-2.0
 * scheduler.h - the default scheduler of k3c (kube-scheduler's default
 * profile, trimmed): a controller in CTL_GROUP_SCHEDULER that places
 * pending pods (schedulerName default-scheduler or unset, no nodeName) on
 * nodes and binds them through pods/binding.
 *
 * Filters, in upstream's order, each node stopping at its first failure:
 * NodeUnschedulable (spec.unschedulable unless tolerated), TaintToleration
 * (NoSchedule/NoExecute; a node that is not Ready carries the not-ready or
 * unreachable taint), NodeAffinity (nodeSelector and required node
 * affinity), NodePorts (hostPort conflicts), NodeResourcesFit (cpu, memory,
 * pods and extended resources against allocatable, init containers' max
 * rule). Scores: least allocated, preferred node affinity, PreferNoSchedule
 * taints, and spreading pods of one controller across nodes.
 *
 * The pure functions below are what the controller runs; they take node
 * summaries that the controller keeps current from the informers. */
#ifndef K3C_SCHEDULER_SCHEDULER_H
#define K3C_SCHEDULER_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controllers/controller.h"

extern const struct ctl_def ctl_def_scheduler;

#define SCHED_MAX_EXT 8

/* Resource amounts: cpu in millicores, memory in bytes, pods and extended
 * resources (nvidia.com/gpu, ...) in units. */
struct sched_res {
    int64_t cpu_m, mem, pods;
    size_t n_ext;
    struct {
        char name[96];
        int64_t v;
    } ext[SCHED_MAX_EXT];
};

struct sched_port {
    int port;
    char proto[8];
    char ip[48];
};

struct sched_owner {
    char uid[64];
    int count;
};

/* What the scheduler knows about one node. */
struct sched_node {
    char *name;
    json_t *node; /* the Node object (a reference) */
    struct sched_res alloc;
    struct sched_res used; /* requests of the pods on it (used.pods: their count) */
    struct sched_port *ports;
    size_t n_ports;
    struct sched_owner *owners; /* pods per controller owner uid */
    size_t n_owners;
};

/* A pod's demands. */
struct sched_pod {
    const json_t *pod;
    struct sched_res req;
    struct sched_port *ports;
    size_t n_ports;
    char owner_uid[64]; /* "" when no controller */
    /* The node affinities (NodeSelectors) of the volumes bound to the pod's
     * claims (sched_pod_volumes), borrowed; NULL: none. */
    const json_t *volume_selectors;
};

/* Parses a resource quantity ("100m", "2", "1.5", "128Mi", "1G", "2e3")
 * into thousandths, rounded up. False if malformed. */
bool sched_quantity_milli(const char *s, int64_t *out);
/* Reads a resource list ({"cpu":"2","memory":"1Gi",...}) into r (pods too). */
void sched_res_from_list(const json_t *list, struct sched_res *r);
/* The pod's effective requests (sum of containers, at least each init
 * container; a limit stands in for a missing request) and host ports. */
void sched_pod_init(struct sched_pod *p, const json_t *pod);
void sched_pod_fini(struct sched_pod *p);

/* Node summaries: set (or reset) from a Node object; pods added and
 * removed as they are bound and go away. */
void sched_node_init(struct sched_node *n, const json_t *node);
void sched_node_fini(struct sched_node *n);
void sched_node_add_pod(struct sched_node *n, const struct sched_pod *p);
void sched_node_remove_pod(struct sched_node *n, const struct sched_pod *p);

/* Runs the filters for p on n. NULL if n fits, else why not, upstream's
 * words ("node(s) were unschedulable", "Insufficient cpu", ...); several
 * resource shortfalls go to reasons[] (up to max), the count returned. */
size_t sched_filter(const struct sched_node *n, const struct sched_pod *p, const char **reasons,
                    size_t max, char *taint_buf, size_t taint_len);
/* Picks the best node for p among nodes[0..n). Returns its index, or -1
 * with msg filled with upstream's FitError text ("0/3 nodes are available:
 * 1 Insufficient cpu, 2 node(s) were unschedulable. preemption: ..."). */
int sched_pick(struct sched_node *const *nodes, size_t n, const struct sched_pod *p, char *msg,
               size_t msg_len);

/* Where the scheduler's time goes, summed over every sync since start
 * (nanoseconds; for benchmarks). Thread: any. */
struct sched_stats {
    long long syncs, bound, unschedulable;
    long long decide_ns; /* filter + score under the lock */
    long long bind_ns;   /* POST pods/binding */
    long long event_ns;  /* the Scheduled / FailedScheduling events */
    long long status_ns; /* PodScheduled=False status patches */
};
void sched_stats_get(struct sched_stats *out);

/* Pod-level helpers. */
bool sched_pod_is_ours(const json_t *pod); /* default-scheduler, unbound, alive */
bool sched_tolerates(const json_t *tolerations, const json_t *taint);
bool sched_node_affinity_matches(const json_t *pod, const json_t *node);

/* Volume binding (sched_volume.c): the pod's claims. 0 with *selectors
 * (the bound volumes' node affinities) and *delayed (names of unbound
 * WaitForFirstConsumer claims), both new arrays; 1 with msg when the pod
 * cannot be scheduled yet (a missing claim, an unbound Immediate one). */
int sched_pod_volumes(struct ctl *c, const json_t *pod, json_t **selectors, json_t **delayed,
                      char *msg, size_t len);
/* Whether node satisfies every selector (VolumeBinding's filter). */
bool sched_volumes_fit(const json_t *selectors, const json_t *node);
/* Writes volume.kubernetes.io/selected-node=node on each delayed claim. */
int sched_volumes_select_node(struct ctl *c, const char *ns, const json_t *delayed,
                              const char *node, struct k3c_err *err);

/* ---- preemption (sched_preempt.c, issue #16) ---------------------------- */

/* A pod of lower priority on a node, a possible victim. */
struct sched_victim {
    const json_t *pod; /* borrowed */
    struct sched_pod sp;
    int32_t priority;
    bool pdb_violation; /* its eviction would break a PodDisruptionBudget */
    bool victim;        /* out: to be evicted */
};
/* On n (counting every pod of the node, the candidates too) the victims
 * among cands that let p fit, fewest first by reprieving from the highest
 * priority down (budget-violating pods first). False when p does not fit
 * even without every candidate. n is left as it was; *violations counts
 * the victims whose eviction breaks a budget. */
bool sched_select_victims(struct sched_node *n, const struct sched_pod *p,
                          struct sched_victim *cands, size_t n_cands, size_t *violations);
struct sched_preempt_score {
    size_t violations, n_victims;
    int32_t max_priority;
    int64_t sum_priority;
};
void sched_preempt_score(const struct sched_victim *cands, size_t n_cands, size_t violations,
                         struct sched_preempt_score *out);
/* a is the better node to preempt on (pickOneNodeForPreemption's order). */
bool sched_preempt_better(const struct sched_preempt_score *a, const struct sched_preempt_score *b);
/* For a pod that fits nowhere: 1 when it was nominated to a node whose
 * victims are (or are being) evicted, 0 when preemption cannot help (msg's
 * preemption part then says why), -1 with err when the API failed. */
int sched_preempt(struct ctl *c, const json_t *pod, char *msg, size_t msg_len, struct k3c_err *err);

/* The room preemption made is kept for the pods nominated to a node:
 * sched_nominated_pods lists the pending pods nominated somewhere with a
 * priority >= pod's (new array; empty until this scheduler nominated
 * one); sched_reserve counts them on their nodes for one decision,
 * sched_unreserve takes them off again. */
struct sched_reservation {
    struct sched_node *node;
    struct sched_pod sp;
};
json_t *sched_nominated_pods(struct ctl *c, const json_t *pod);
size_t sched_reserve(struct sched_node *const *nodes, size_t n, const json_t *nominated,
                     struct sched_reservation **out);
void sched_unreserve(struct sched_reservation *r, size_t n);

#endif
