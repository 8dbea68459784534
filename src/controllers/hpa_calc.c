/* SPDX-License-Identifier: Apache-2.0
 * hpa_calc.c - the HorizontalPodAutoscaler's arithmetic, following the
 * algorithm upstream documents for the controller (kubernetes.io "Horizontal
 * Pod Autoscaling": desiredReplicas = ceil(currentReplicas * current /
 * desired), a 10% tolerance, missing metrics counted as 100% on a scale
 * down and 0% on a scale up, unready pods as 0% on a scale up, no scale
 * when that reverses the direction; stabilisation windows and policies). */
#include "controllers/hpa.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the ratio ------------------------------------------------------------ */

/* Usage values per pod after the upstream adjustments; usage of a pod to
 * leave out is < 0. */
struct sample {
    int64_t usage, request;
    bool counted;
};

static bool
ratio_of(const struct sample *s, size_t n, int64_t target, bool utilization, double *ratio,
         int64_t *measured, const char **why)
{
    int64_t usage = 0, requests = 0, pods = 0;

    for (size_t i = 0; i < n; i++) {
        if (!s[i].counted)
            continue;
        if (utilization && s[i].request <= 0) {
            *why = "missing request";
            return false;
        }
        usage += s[i].usage;
        requests += s[i].request;
        pods++;
    }
    if (!pods) {
        *why = "no metrics returned for the pods (pods might be unready)";
        return false;
    }
    if (utilization) {
        *measured = usage * 100 / requests;
        *ratio = (double)*measured / (double)target;
    } else {
        *measured = usage / pods;
        *ratio = (double)usage / ((double)target * (double)pods);
    }
    return true;
}

static int
replicas_for(const struct hpa_pod *pods, size_t n, int current, int64_t target, bool utilization,
             bool cpu, int64_t *measured, const char **why)
{
    struct sample *s = calloc(n ? n : 1, sizeof(*s));
    size_t ready = 0, missing = 0, unready = 0, counted = 0;
    double ratio = 0, new_ratio = 0;
    int result = -1;

    for (size_t i = 0; i < n; i++) {
        s[i].request = pods[i].request;
        s[i].usage = pods[i].usage;
        if (!pods[i].has_metrics) {
            missing++;
        } else if (cpu && !pods[i].ready) {
            unready++;
        } else {
            s[i].counted = true;
            ready++;
        }
    }
    if (target <= 0) {
        *why = "invalid target";
        goto out;
    }
    if (!ratio_of(s, n, target, utilization, &ratio, measured, why))
        goto out;
    if (!missing && !(unready && ratio > 1.0)) {
        result = fabs(1.0 - ratio) <= HPA_TOLERANCE ? current : (int)ceil(ratio * (double)ready);
        goto out;
    }
    /* Missing metrics: 100% (or the target, if higher) of request on the
     * way down, nothing on the way up; unready pods: nothing on the way up. */
    for (size_t i = 0; i < n; i++) {
        if (!pods[i].has_metrics && ratio < 1.0) {
            int64_t fallback = utilization ? (target > 100 ? target : 100) : target;

            s[i].usage = utilization ? s[i].request * fallback / 100 : fallback;
            s[i].counted = true;
        } else if (!pods[i].has_metrics && ratio > 1.0) {
            s[i].usage = 0;
            s[i].counted = true;
        } else if (pods[i].has_metrics && cpu && !pods[i].ready && ratio > 1.0) {
            s[i].usage = 0;
            s[i].counted = true;
        }
        counted += s[i].counted;
    }
    {
        int64_t ignored = 0;

        if (!ratio_of(s, n, target, utilization, &new_ratio, &ignored, why))
            goto out;
    }
    if (fabs(1.0 - new_ratio) <= HPA_TOLERANCE || (ratio < 1.0 && new_ratio > 1.0) ||
        (ratio > 1.0 && new_ratio < 1.0)) {
        result = current;
        goto out;
    }
    result = (int)ceil(new_ratio * (double)counted);
    if ((new_ratio < 1.0 && result > current) || (new_ratio > 1.0 && result < current))
        result = current;
out:
    free(s);
    return result;
}

int
hpa_utilization_replicas(const struct hpa_pod *pods, size_t n, int current_replicas,
                         int target_utilization, bool cpu, int *utilization, const char **why)
{
    int64_t measured = 0;
    int r = replicas_for(pods, n, current_replicas, target_utilization, true, cpu, &measured, why);

    *utilization = (int)measured;
    return r;
}

int
hpa_average_value_replicas(const struct hpa_pod *pods, size_t n, int current_replicas,
                           int64_t target_average, bool cpu, int64_t *average, const char **why)
{
    return replicas_for(pods, n, current_replicas, target_average, false, cpu, average, why);
}

/* ---- behavior ---------------------------------------------------------------- */

void
hpa_rules_default(struct hpa_rules *up, struct hpa_rules *down)
{
    *up = (struct hpa_rules){.window_s = 0,
                             .select = HPA_SELECT_MAX,
                             .policies = {{true, 100, 15}, {false, 4, 15}},
                             .n_policies = 2};
    *down = (struct hpa_rules){.window_s = HPA_DOWN_WINDOW_DEFAULT_S,
                               .select = HPA_SELECT_MAX,
                               .policies = {{true, 100, 15}},
                               .n_policies = 1};
}

/* Replicas added (up) or removed (!up) within the last period_s. */
static int
changed_within(const struct hpa_memory *mem, int64_t now_ms, int period_s, bool up)
{
    int sum = 0;

    for (size_t i = 0; i < mem->n_events; i++) {
        const struct hpa_event *e = &mem->events[i];

        if (e->t_ms > now_ms - (int64_t)period_s * 1000 && (up ? e->change > 0 : e->change < 0))
            sum += up ? e->change : -e->change;
    }
    return sum;
}

static int
scale_up_limit(const struct hpa_memory *mem, int64_t now_ms, int current, const struct hpa_rules *r)
{
    int result = r->select == HPA_SELECT_MIN ? INT_MAX : INT_MIN;

    if (r->select == HPA_SELECT_DISABLED || !r->n_policies)
        return current;
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct hpa_policy *p = &r->policies[i];
        int start = current - changed_within(mem, now_ms, p->period_s, true) +
                    changed_within(mem, now_ms, p->period_s, false);
        int proposed =
            p->percent ? (int)ceil((double)start * (1.0 + p->value / 100.0)) : start + p->value;

        result = r->select == HPA_SELECT_MIN ? (proposed < result ? proposed : result)
                                             : (proposed > result ? proposed : result);
    }
    return result;
}

static int
scale_down_limit(const struct hpa_memory *mem, int64_t now_ms, int current,
                 const struct hpa_rules *r)
{
    /* "Max" picks the policy allowing the biggest change: the fewest replicas. */
    int result = r->select == HPA_SELECT_MIN ? INT_MIN : INT_MAX;

    if (r->select == HPA_SELECT_DISABLED || !r->n_policies)
        return current;
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct hpa_policy *p = &r->policies[i];
        int start = current + changed_within(mem, now_ms, p->period_s, false) -
                    changed_within(mem, now_ms, p->period_s, true);
        int proposed =
            p->percent ? (int)((double)start * (1.0 - p->value / 100.0)) : start - p->value;

        result = r->select == HPA_SELECT_MIN ? (proposed > result ? proposed : result)
                                             : (proposed < result ? proposed : result);
    }
    return result;
}

/* Upstream's stabilizeRecommendationWithBehaviors: the highest
 * recommendation within the down window caps a scale down, the lowest
 * within the up window caps a scale up. Records desired. */
static int
stabilize(struct hpa_memory *mem, int64_t now_ms, int current, int desired,
          const struct hpa_rules *up, const struct hpa_rules *down)
{
    int64_t up_cutoff = now_ms - (int64_t)up->window_s * 1000;
    int64_t down_cutoff = now_ms - (int64_t)down->window_s * 1000;
    int up_rec = desired, down_rec = desired, rec = current;
    size_t old = mem->n_recs;

    for (size_t i = 0; i < mem->n_recs; i++) {
        const struct hpa_recommendation *r = &mem->recs[i];

        if (r->t_ms > up_cutoff && r->replicas < up_rec)
            up_rec = r->replicas;
        if (r->t_ms > down_cutoff && r->replicas > down_rec)
            down_rec = r->replicas;
        if (r->t_ms < up_cutoff && r->t_ms < down_cutoff)
            old = i;
    }
    if (rec < up_rec)
        rec = up_rec;
    if (rec > down_rec)
        rec = down_rec;
    if (old < mem->n_recs) {
        mem->recs[old] = (struct hpa_recommendation){now_ms, desired};
    } else if (mem->n_recs < HPA_MAX_RECOMMENDATIONS) {
        mem->recs[mem->n_recs++] = (struct hpa_recommendation){now_ms, desired};
    } else {
        memmove(mem->recs, mem->recs + 1, (HPA_MAX_RECOMMENDATIONS - 1) * sizeof(mem->recs[0]));
        mem->recs[HPA_MAX_RECOMMENDATIONS - 1] = (struct hpa_recommendation){now_ms, desired};
    }
    return rec;
}

void
hpa_normalize(struct hpa_memory *mem, int64_t now_ms, int current, int desired, int min, int max,
              const struct hpa_rules *up, const struct hpa_rules *down, struct hpa_decision *out)
{
    int stabilized = stabilize(mem, now_ms, current, desired, up, down);

    *out = (struct hpa_decision){.replicas = stabilized};
    if (stabilized != desired)
        out->stabilized_reason = stabilized > desired ? "ScaleDownStabilized" : "ScaleUpStabilized";
    if (stabilized > current) {
        int limit = scale_up_limit(mem, now_ms, current, up), allowed = max;

        if (limit < current)
            limit = current;
        if (allowed > limit) {
            allowed = limit;
            out->limited_reason = "ScaleUpLimit";
            out->limited_message = "the desired replica count is increasing faster than the "
                                   "maximum scale rate";
        } else {
            out->limited_reason = "TooManyReplicas";
            out->limited_message = "the desired replica count is more than the maximum replica "
                                   "count";
        }
        if (stabilized > allowed) {
            out->replicas = allowed;
        } else {
            out->replicas = stabilized;
            out->limited_reason = NULL;
        }
    } else if (stabilized < current) {
        int limit = scale_down_limit(mem, now_ms, current, down), allowed = min;

        if (limit > current)
            limit = current;
        if (allowed < limit) {
            allowed = limit;
            out->limited_reason = "ScaleDownLimit";
            out->limited_message = "the desired replica count is decreasing faster than the "
                                   "maximum scale rate";
        } else {
            out->limited_reason = "TooFewReplicas";
            out->limited_message = "the desired replica count is less than the minimum replica "
                                   "count";
        }
        if (stabilized < allowed) {
            out->replicas = allowed;
        } else {
            out->replicas = stabilized;
            out->limited_reason = NULL;
        }
    } else {
        out->replicas = stabilized < min ? min : stabilized > max ? max : stabilized;
        if (out->replicas != stabilized) {
            out->limited_reason = stabilized < min ? "TooFewReplicas" : "TooManyReplicas";
            out->limited_message = stabilized < min ? "the desired replica count is less than "
                                                      "the minimum replica count"
                                                    : "the desired replica count is more than "
                                                      "the maximum replica count";
        }
    }
    if (!out->limited_reason)
        out->limited_message = "the desired count is within the acceptable range";
}

void
hpa_record_scale(struct hpa_memory *mem, int64_t now_ms, int current, int replicas)
{
    struct hpa_event e = {now_ms, replicas - current};

    if (e.change == 0)
        return;
    if (mem->n_events == HPA_MAX_EVENTS) {
        memmove(mem->events, mem->events + 1, (HPA_MAX_EVENTS - 1) * sizeof(mem->events[0]));
        mem->n_events--;
    }
    mem->events[mem->n_events++] = e;
}
