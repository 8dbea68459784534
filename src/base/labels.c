/* SPDX-License-Identifier: Apache-2.0
 * labels.c - metav1.LabelSelector matching over JSON objects (labels.h). */
#include "base/labels.h"

#include <string.h>

static bool
values_contain(const json_t *values, const char *v)
{
    size_t i;
    const json_t *x;

    json_array_foreach(values, i, x)
    {
        if (v && json_is_string(x) && strcmp(json_string_value(x), v) == 0)
            return true;
    }
    return false;
}

static bool
expression_matches(const json_t *expr, const json_t *labels)
{
    const char *key = json_string_value(json_object_get(expr, "key"));
    const char *op = json_string_value(json_object_get(expr, "operator"));
    const json_t *values = json_object_get(expr, "values");
    const char *v;

    if (!key || !op)
        return false;
    v = json_string_value(json_object_get(labels, key));
    if (strcmp(op, "In") == 0)
        return values_contain(values, v);
    if (strcmp(op, "NotIn") == 0)
        return !values_contain(values, v);
    if (strcmp(op, "Exists") == 0)
        return v != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return v == NULL;
    return false;
}

bool
k3c_label_selector_matches(const json_t *selector, const json_t *labels)
{
    const json_t *ml, *exprs, *v, *e;
    const char *k;
    size_t i;

    if (!selector || !json_is_object(selector))
        return false;
    ml = json_object_get(selector, "matchLabels");
    json_object_foreach((json_t *)ml, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));

        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    exprs = json_object_get(selector, "matchExpressions");
    json_array_foreach(exprs, i, e)
    {
        if (!expression_matches(e, labels))
            return false;
    }
    return true;
}
