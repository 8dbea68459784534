/* SPDX-License-Identifier: Apache-2.0
 * job_failure_policy.c - a Job's spec.podFailurePolicy (upstream's
 * pkg/controller/job/pod_failure_policy.go, Kubernetes 1.32): the first
 * rule a failed pod matches decides what its failure means. onExitCodes
 * matches a terminated container (of containerName, when given) whose
 * non-zero exit code is In (or NotIn) the values; onPodConditions matches
 * a pod condition of that type and status. Actions: FailJob fails the
 * whole job at once, Ignore does not count the failure toward
 * backoffLimit, Count counts it as usual (FailIndex: as Count, k3c has
 * no backoffLimitPerIndex). Pure; used by job.c. */
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>

static const char *
str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool
code_listed(const json_t *values, json_int_t code)
{
    const json_t *v;
    size_t i;

    json_array_foreach(values, i, v)
    {
        if (json_integer_value(v) == code)
            return true;
    }
    return false;
}

/* The container status a rule's onExitCodes matches, or NULL. */
static const json_t *
match_exit_codes(const json_t *req, const json_t *pod)
{
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    const char *only = str(req, "containerName");
    const char *op = str(req, "operator");
    bool in = op && strcmp(op, "In") == 0;
    const json_t *status = json_object_get(pod, "status");

    for (size_t l = 0; l < 2; l++) {
        const json_t *cs;
        size_t i;

        json_array_foreach(json_object_get(status, lists[l]), i, cs)
        {
            const json_t *term = json_object_get(json_object_get(cs, "state"), "terminated");
            json_int_t code;

            if (!json_is_object(term) || (only && strcmp(only, str(cs, "name") ?: "") != 0))
                continue;
            code = json_integer_value(json_object_get(term, "exitCode"));
            if (code == 0)
                continue;
            if (code_listed(json_object_get(req, "values"), code) == in)
                return cs;
        }
    }
    return NULL;
}

/* The pod condition a rule's onPodConditions matches, or NULL. */
static const json_t *
match_conditions(const json_t *patterns, const json_t *pod)
{
    const json_t *pat, *cond;
    size_t i, j;

    json_array_foreach(patterns, i, pat)
    {
        const char *want = str(pat, "status") ? str(pat, "status") : "True";

        json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), j, cond)
        {
            if (str(pat, "type") && str(cond, "type") &&
                strcmp(str(pat, "type"), str(cond, "type")) == 0 && str(cond, "status") &&
                strcmp(str(cond, "status"), want) == 0)
                return cond;
        }
    }
    return NULL;
}

const char *
wl_pod_failure_action(const json_t *policy, const json_t *pod, char *msg, size_t len)
{
    const json_t *rule;
    size_t i;
    const char *ns = wl_str(pod, "metadata.namespace"), *name = wl_str(pod, "metadata.name");

    if (len)
        msg[0] = '\0';
    json_array_foreach(json_object_get(policy, "rules"), i, rule)
    {
        const char *action = str(rule, "action");
        const json_t *cs = NULL, *cond = NULL;

        if (!action)
            continue;
        if (json_is_object(json_object_get(rule, "onExitCodes")))
            cs = match_exit_codes(json_object_get(rule, "onExitCodes"), pod);
        else
            cond = match_conditions(json_object_get(rule, "onPodConditions"), pod);
        if (cs)
            snprintf(msg, len,
                     "Container %s for pod %s/%s failed with exit code %lld matching %s rule at "
                     "index %zu",
                     str(cs, "name") ?: "", ns ?: "", name ?: "",
                     (long long)json_integer_value(json_object_get(
                         json_object_get(json_object_get(cs, "state"), "terminated"), "exitCode")),
                     action, i);
        else if (cond)
            snprintf(msg, len, "Pod %s/%s has condition %s matching %s rule at index %zu", ns ?: "",
                     name ?: "", str(cond, "type") ?: "", action, i);
        else
            continue;
        return action;
    }
    return NULL;
}
