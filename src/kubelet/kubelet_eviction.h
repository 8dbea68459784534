/* SPDX-License-Identifier: Apache-2.0
 * kubelet_eviction.h - the kubelet's eviction thresholds and the node
 * pressure they define (issue #21, docs/install.md "Eviction"). Public so
 * that the agent's Node conditions and the eviction manager read the same
 * thresholds. */
#ifndef K3C_KUBELET_EVICTION_H
#define K3C_KUBELET_EVICTION_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* The eviction signals, in the order the kubelet reclaims them. */
enum kevict_signal {
    KEVICT_MEMORY,        /* memory.available */
    KEVICT_NODEFS,        /* nodefs.available */
    KEVICT_NODEFS_INODES, /* nodefs.inodesFree */
    KEVICT_IMAGEFS,       /* imagefs.available */
    KEVICT_IMAGEFS_INODES,
    KEVICT_PID, /* pid.available */
    KEVICT_N
};

/* A quantity (bytes, inodes, PIDs) or a percentage of the capacity. */
struct kevict_value {
    bool set;
    double pct; /* > 0: percent of the capacity */
    int64_t qty;
};

struct kevict_config {
    struct kevict_value hard[KEVICT_N], soft[KEVICT_N], min_reclaim[KEVICT_N];
    int64_t soft_grace_ms[KEVICT_N];
    int max_pod_grace_s; /* soft evictions: at most this grace; 0: the pod's */
};

/* The kubelet's defaults (plus pid.available<5%, k3c's choice). */
#define KEVICT_DEFAULT_HARD                                                                        \
    "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,"      \
    "imagefs.inodesFree<5%,pid.available<5%"

/* Parses --eviction-hard, --eviction-soft, --eviction-soft-grace-period and
 * --eviction-minimum-reclaim (any may be NULL: hard NULL takes the
 * default, "" none). INVALID with the flag's name and the bad entry. */
int kevict_config_parse(struct kevict_config *c, const char *hard, const char *soft,
                        const char *soft_grace, const char *min_reclaim, int max_pod_grace_s,
                        struct k3c_err *err);

/* One observation of the signals on a node whose kubelet dir is data_dir
 * (nodefs) with its image store in data_dir/images (imagefs). */
struct kevict_obs {
    bool have[KEVICT_N];
    int64_t avail[KEVICT_N], cap[KEVICT_N];
};
void kevict_observe(const char *data_dir, struct kevict_obs *o);
const char *kevict_signal_name(enum kevict_signal s);
/* The threshold's quantity for a capacity. */
int64_t kevict_value_of(const struct kevict_value *v, int64_t cap);

/* The Node's pressure conditions: a signal is under pressure while one of
 * its thresholds (hard, or soft before its grace period ends) is crossed;
 * once crossed, until it is clear by the minimum reclaim (prev: the last
 * evaluation's pressure per signal, updated). */
struct kevict_pressure {
    bool memory, disk, pid;
    char memory_msg[128], disk_msg[160], pid_msg[128];
};
void kevict_pressure_eval(const struct kevict_config *c, const struct kevict_obs *o,
                          bool prev[KEVICT_N], struct kevict_pressure *out);

/* Upstream's evictionPressureTransitionPeriod: a pressure condition stays
 * on until the period has passed since the pressure was last observed (by
 * the eviction manager's pass or by a heartbeat), so a pass that ends the
 * pressure between two heartbeats still shows on the Node, and a node at
 * the edge of a threshold does not flap. */
#define KEVICT_DEFAULT_TRANSITION "5m"
struct kevict_transition {
    int64_t seen_ms[3];          /* memory, disk, pid: last observed; 0: never */
    struct kevict_pressure last; /* the messages of that observation */
};
/* Parses --eviction-pressure-transition-period (NULL: the default). */
int kevict_transition_parse(const char *s, int64_t *ms, struct k3c_err *err);
/* Records what p observed at now and turns on in p what was observed less
 * than period_ms ago, with its message. */
void kevict_pressure_hold(struct kevict_transition *t, int64_t period_ms, int64_t now,
                          struct kevict_pressure *p);

/* The eviction manager's test: the first signal (in reclaim order) whose
 * hard threshold is met, or whose soft one has been crossed since
 * soft_since (set here, 0: not crossed) for its grace period; -1 when none.
 * met: the last evaluation's (the minimum reclaim), updated. *hard and
 * *threshold (the threshold's quantity) describe the signal returned. */
int kevict_thresholds_met(const struct kevict_config *c, const struct kevict_obs *o,
                          bool met[KEVICT_N], int64_t soft_since[KEVICT_N], int64_t now, bool *hard,
                          int64_t *threshold);

/* The node's pressure now, with the kubelet's thresholds (the agent's Node
 * conditions). */
struct kubelet;
void kubelet_node_pressure(struct kubelet *k, struct kevict_pressure *out);

#endif
