/* SPDX-License-Identifier: Apache-2.0
 * kind_job_policy.c - validation of a Job's spec.podFailurePolicy
 * (pkg/apis/batch/validation, Kubernetes 1.32): restartPolicy Never, at
 * most 20 rules, each with a supported action and exactly one of
 * onExitCodes (a known container, In or NotIn, 1..255 ordered unique
 * values, no 0 for In) and onPodConditions (a type, status True, False or
 * Unknown). The controller side is src/controllers/job_failure_policy.c. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"

#define MAX_RULES  20
#define MAX_VALUES 255

static const char *const actions[] = {"Count", "FailIndex", "FailJob", "Ignore", NULL};
static const char *const operators[] = {"In", "NotIn", NULL};
static const char *const statuses[] = {"False", "True", "Unknown", NULL};

static bool
container_named(const json_t *spec, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    const json_t *pod = api_json_path(spec, "template.spec");
    const json_t *c;
    size_t i;

    for (size_t l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(pod, lists[l]), i, c)
        {
            if (strcmp(api_or_empty(api_str_at(c, "name")), name) == 0)
                return true;
        }
    }
    return false;
}

static void
validate_exit_codes(const json_t *spec, const json_t *req, const char *at, json_t *causes)
{
    const char *name = api_str_at(req, "containerName");
    const char *op = api_str_at(req, "operator");
    const json_t *values = json_object_get(req, "values");
    const json_t *v;
    size_t i, n = json_array_size(values);
    struct fpath f;

    if (name && !container_named(spec, name))
        api_cause_invalid_str(causes, api_fpath(&f, "%s.containerName", at), name,
                              "must be one of the container or initContainer names in the pod "
                              "template");
    api_check_enum(causes, api_fpath(&f, "%s.operator", at), op, operators, true);
    if (n == 0 || n > MAX_VALUES)
        api_cause_add(causes, "FieldValueInvalid", api_fpath(&f, "%s.values", at),
                      "Invalid value: %s: at least one value is required, and at most %d are "
                      "allowed",
                      n ? "[...]" : "[]int32(nil)", MAX_VALUES);
    json_array_foreach(values, i, v)
    {
        json_int_t code = json_integer_value(v);

        api_fpath(&f, "%s.values[%zu]", at, i);
        for (size_t j = 0; j < i; j++)
            if (json_integer_value(json_array_get(values, j)) == code) {
                api_cause_add(causes, "FieldValueDuplicate", f.s, "Duplicate value: %lld",
                              (long long)code);
                break;
            }
        if (op && strcmp(op, "In") == 0 && code == 0)
            api_cause_invalid_int(causes, f.s, code, "must not be 0 for the In operator");
        if (i > 0 && json_integer_value(json_array_get(values, i - 1)) > code)
            api_cause_invalid_int(causes, f.s, code, "must be ordered");
    }
}

static void
validate_rule(const json_t *spec, const json_t *rule, const char *at, json_t *causes)
{
    const char *action = api_str_at(rule, "action");
    const json_t *codes = json_object_get(rule, "onExitCodes");
    const json_t *conds = json_object_get(rule, "onPodConditions");
    const json_t *c;
    size_t i;
    struct fpath f;

    if (action && strcmp(action, "FailIndex") == 0 &&
        !json_is_integer(json_object_get(spec, "backoffLimitPerIndex")))
        api_cause_invalid_str(causes, api_fpath(&f, "%s.action", at), action,
                              "requires the backoffLimitPerIndex to be set");
    else
        api_check_enum(causes, api_fpath(&f, "%s.action", at), action, actions, true);
    if (json_is_object(codes))
        validate_exit_codes(spec, codes, api_fpath(&f, "%s.onExitCodes", at), causes);
    json_array_foreach(conds, i, c)
    {
        if (api_is_empty(api_str_at(c, "type")))
            api_cause_required(causes, api_fpath(&f, "%s.onPodConditions[%zu].type", at, i), NULL);
        api_check_enum(causes, api_fpath(&f, "%s.onPodConditions[%zu].status", at, i),
                       api_str_at(c, "status"), statuses, false);
    }
    if (json_is_object(codes) && json_array_size(conds) > 0)
        api_cause_add(causes, "FieldValueInvalid", at,
                      "Invalid value: specifying both OnExitCodes and OnPodConditions is not "
                      "supported");
    if (!json_is_object(codes) && json_array_size(conds) == 0)
        api_cause_add(causes, "FieldValueInvalid", at,
                      "Invalid value: specifying one of OnExitCodes and OnPodConditions is "
                      "required");
}

void
api_validate_pod_failure_policy(const json_t *spec, json_t *causes)
{
    const json_t *policy = json_object_get(spec, "podFailurePolicy");
    const char *restart = api_str_at(spec, "template.spec.restartPolicy");
    const json_t *rules = json_object_get(policy, "rules");
    const json_t *r;
    size_t i;
    struct fpath f;

    if (!json_is_object(policy))
        return;
    if (!restart || strcmp(restart, "Never") != 0)
        api_cause_invalid_str(causes, "spec.template.spec.restartPolicy", api_or_empty(restart),
                              "only \"Never\" is supported when podFailurePolicy is specified");
    if (json_array_size(rules) > MAX_RULES)
        api_cause_add(causes, "FieldValueTooMany", "spec.podFailurePolicy.rules",
                      "Too many: %zu: must have at most %d items", json_array_size(rules),
                      MAX_RULES);
    json_array_foreach(rules, i, r)
        validate_rule(spec, r, api_fpath(&f, "spec.podFailurePolicy.rules[%zu]", i), causes);
}
