/* SPDX-License-Identifier: Apache-2.0
 * hpa.h - the HorizontalPodAutoscaler's replica arithmetic (hpa_calc.c),
 * pure and unit-tested against upstream's documented behaviour: the
 * resource utilisation ratio with its 10% tolerance and the rules for pods
 * without metrics and unready pods (replica_calculator.go), the
 * stabilisation windows and the scaling policies of `behavior`
 * (horizontal.go). The controller is hpa.c. */
#ifndef K3C_CONTROLLERS_HPA_H
#define K3C_CONTROLLERS_HPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPA_TOLERANCE             0.1
#define HPA_DOWN_WINDOW_DEFAULT_S 300
#define HPA_MAX_RECOMMENDATIONS   64
#define HPA_MAX_EVENTS            64
#define HPA_MAX_POLICIES          8

/* One pod of the target, as the calculation sees it. */
struct hpa_pod {
    int64_t usage;   /* milli-units (CPU millicores, memory bytes*1000 ... any unit) */
    int64_t request; /* the sum of its containers' requests, same unit; <= 0: none */
    bool has_metrics;
    bool ready; /* Running and Ready (unready pods only matter for CPU) */
};

/* Replicas for a Utilization target (percent of request). Returns the
 * replica count, or -1 with *why set ("missing request", "no metrics").
 * *utilization is the measured average utilisation of the pods with
 * metrics (percent). cpu: unready pods are held back as upstream does. */
int hpa_utilization_replicas(const struct hpa_pod *pods, size_t n, int current_replicas,
                             int target_utilization, bool cpu, int *utilization, const char **why);
/* Replicas for an AverageValue target (usage per pod, same unit as usage). */
int hpa_average_value_replicas(const struct hpa_pod *pods, size_t n, int current_replicas,
                               int64_t target_average, bool cpu, int64_t *average,
                               const char **why);

/* behavior: the stabilisation window and rate policies of one direction. */
enum hpa_select { HPA_SELECT_MAX, HPA_SELECT_MIN, HPA_SELECT_DISABLED };
struct hpa_policy {
    bool percent; /* Percent, else Pods */
    int value;
    int period_s;
};
struct hpa_rules {
    int window_s;
    enum hpa_select select;
    struct hpa_policy policies[HPA_MAX_POLICIES];
    size_t n_policies;
};
/* Upstream's defaults: up: window 0, max of 100% and 4 pods per 15 s;
 * down: window 300 s, 100% per 15 s. */
void hpa_rules_default(struct hpa_rules *up, struct hpa_rules *down);

/* What the controller remembers per HPA (in memory, as upstream). */
struct hpa_recommendation {
    int64_t t_ms;
    int replicas;
};
struct hpa_event {
    int64_t t_ms;
    int change; /* > 0 scale up, < 0 scale down */
};
struct hpa_memory {
    struct hpa_recommendation recs[HPA_MAX_RECOMMENDATIONS];
    size_t n_recs;
    struct hpa_event events[HPA_MAX_EVENTS];
    size_t n_events;
};

/* The outcome of normalising a desired count. */
struct hpa_decision {
    int replicas;
    const char *limited_reason; /* ScalingLimited True reason, NULL when within range */
    const char *limited_message;
    const char *stabilized_reason; /* "ScaleDownStabilized" or NULL */
};

/* Stabilises desired (recorded in mem at now_ms) against the windows,
 * then applies the policies' rate limits and min/max. */
void hpa_normalize(struct hpa_memory *mem, int64_t now_ms, int current, int desired, int min,
                   int max, const struct hpa_rules *up, const struct hpa_rules *down,
                   struct hpa_decision *out);
/* Records a scale from current to replicas at now_ms (for the policies). */
void hpa_record_scale(struct hpa_memory *mem, int64_t now_ms, int current, int replicas);

#endif
