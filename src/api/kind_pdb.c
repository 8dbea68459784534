/* SPDX-License-Identifier: Apache-2.0
 * kind_pdb.c - policy/v1 PodDisruptionBudget: table columns and row
 * (pkg/printers/internalversion printPodDisruptionBudget), validation
 * (pkg/apis/policy/validation), the shape of upstream's
 * pkg/registry/policy/poddisruptionbudget/strategy.go (Kubernetes 1.32).
 * The status is kept by src/controllers/disruption.c; the eviction
 * subresource that honours it is in api_binding.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"

const struct api_column api_columns_pdb[] = {
    COL_NAME,
    {"Min Available", "string", "", "The minimum number of pods that must be available.", 0},
    {"Max Unavailable", "string", "", "The maximum number of pods that may be unavailable.", 0},
    {"Allowed Disruptions", "integer", "",
     "Calculated number of pods that may be disrupted at this time.", 0},
    COL_AGE,
    COL_END,
};

/* intstr.String(): the integer or the string; "N/A" when absent. */
static json_t *
int_or_string_cell(const json_t *v)
{
    if (json_is_integer(v))
        return json_sprintf("%lld", (long long)json_integer_value(v));
    if (json_is_string(v))
        return json_string(json_string_value(v));
    return json_string("N/A");
}

json_t *
api_row_pdb(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o o I o]", api_name_cell(obj),
                     int_or_string_cell(api_json_path(obj, "spec.minAvailable")),
                     int_or_string_cell(api_json_path(obj, "spec.maxUnavailable")),
                     api_int_at(obj, "status.disruptionsAllowed", 0), api_age_cell(obj, now_s));
}

static const char *const eviction_policies[] = {"IfHealthyBudget", "AlwaysAllow", NULL};

/* ValidatePositiveIntOrPercent and IsNotMoreThan100Percent */
static void
check_int_or_percent(const json_t *obj, const char *path, json_t *causes)
{
    const json_t *v = api_json_path(obj, path);
    const char *s = json_string_value(v);
    char *end = NULL;
    long pct;

    if (!v || json_is_null(v))
        return;
    if (json_is_integer(v)) {
        api_check_nonnegative(causes, obj, path);
        return;
    }
    pct = s ? strtol(s, &end, 10) : -1;
    if (!s || end == s || strcmp(end, "%") != 0) {
        api_cause_invalid_str(causes, path, s ? s : "",
                              "a valid percent string must be a numeric string followed by an "
                              "ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                              "'[0-9]+%')");
        return;
    }
    if (pct < 0)
        api_cause_invalid_str(causes, path, s, "must be greater than or equal to 0");
    else if (pct > 100)
        api_cause_invalid_str(causes, path, s, "must not be greater than 100%");
}

void
api_validate_pdb(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *sel = api_json_path(obj, "spec.selector");

    (void)old;
    if (api_json_path(obj, "spec.minAvailable") && api_json_path(obj, "spec.maxUnavailable"))
        api_cause_invalid_str(causes, "spec", "",
                              "minAvailable and maxUnavailable cannot be both set");
    check_int_or_percent(obj, "spec.minAvailable", causes);
    check_int_or_percent(obj, "spec.maxUnavailable", causes);
    if (json_is_object(sel))
        api_validate_label_selector(sel, "spec.selector", causes);
    api_check_enum(causes, "spec.unhealthyPodEvictionPolicy",
                   api_str_at(obj, "spec.unhealthyPodEvictionPolicy"), eviction_policies, false);
}
