/* SPDX-License-Identifier: Apache-2.0
 * admission_match.c - which webhooks a request goes to: rules (upstream's
 * k8s.io/apiserver admission/plugin/webhook/predicates/rules), matchPolicy,
 * namespaceSelector and objectSelector. Pure. */
#include "admission/admission-internal.h"
#include "base/labels.h"

#include <string.h>

const char *
admission_op_name(enum admission_op op)
{
    switch (op) {
    case ADMISSION_CREATE:
        return "CREATE";
    case ADMISSION_UPDATE:
        return "UPDATE";
    case ADMISSION_DELETE:
        return "DELETE";
    case ADMISSION_CONNECT:
        return "CONNECT";
    }
    return "";
}

/* A list of strings containing want or "*". */
static bool
list_has(const json_t *list, const char *want)
{
    size_t i;
    const json_t *v;

    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);

        if (s && (strcmp(s, "*") == 0 || strcmp(s, want) == 0))
            return true;
    }
    return false;
}

/* "pods" matches pods only, "pods/status" its status, "pods/" "*" pods
 * and every subresource, "*" every main resource, "*" "/status" every
 * status, "*" "/" "*" everything (upstream's rules.Matcher). */
static bool
resource_matches(const json_t *list, const char *res, const char *sub)
{
    size_t i;
    const json_t *v;

    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v), *slash;
        size_t res_len;
        const char *rule_sub;

        if (!s)
            continue;
        slash = strchr(s, '/');
        res_len = slash ? (size_t)(slash - s) : strlen(s);
        rule_sub = slash ? slash + 1 : "";
        if (!((res_len == 1 && s[0] == '*') ||
              (strlen(res) == res_len && strncmp(s, res, res_len) == 0)))
            continue;
        if (strcmp(rule_sub, "*") == 0 || strcmp(rule_sub, sub) == 0)
            return true;
    }
    return false;
}

static bool
scope_matches(const json_t *rule, const struct admission_attrs *a)
{
    const char *scope = json_string_value(json_object_get(rule, "scope"));

    if (!scope || strcmp(scope, "*") == 0)
        return true;
    if (strcmp(scope, "Cluster") == 0)
        return a->namespace[0] == '\0';
    if (strcmp(scope, "Namespaced") == 0)
        return a->namespace[0] != '\0';
    return false;
}

bool
admission_rule_matches(const json_t *rule, const struct admission_attrs *a, const char *version)
{
    return list_has(json_object_get(rule, "operations"), admission_op_name(a->op)) &&
           list_has(json_object_get(rule, "apiGroups"), a->group) &&
           list_has(json_object_get(rule, "apiVersions"), version ? version : a->version) &&
           resource_matches(json_object_get(rule, "resources"), a->resource, a->subresource) &&
           scope_matches(rule, a);
}

static bool
any_rule_matches(const json_t *rules, const struct admission_attrs *a, const char *version)
{
    size_t i;
    const json_t *rule;

    json_array_foreach(rules, i, rule)
    {
        if (admission_rule_matches(rule, a, version))
            return true;
    }
    return false;
}

bool
admission_rules_match(const json_t *hook, const struct admission_attrs *a)
{
    const json_t *rules = json_object_get(hook, "rules");
    const char *policy = json_string_value(json_object_get(hook, "matchPolicy"));

    if (any_rule_matches(rules, a, NULL))
        return true;
    if (policy && strcmp(policy, "Exact") == 0)
        return false;
    for (size_t i = 0; a->served_versions && a->served_versions[i]; i++)
        if (strcmp(a->served_versions[i], a->version) != 0 &&
            any_rule_matches(rules, a, a->served_versions[i]))
            return true;
    return false;
}

/* An absent selector is the empty one, which matches everything. */
static bool
selector_matches(const json_t *sel, const json_t *labels)
{
    if (!sel || json_is_null(sel))
        return true;
    return k3c_label_selector_matches(sel, labels);
}

bool
admission_object_selector_matches(const json_t *hook, const json_t *obj, const json_t *old)
{
    const json_t *sel = json_object_get(hook, "objectSelector");

    if (!sel || json_is_null(sel) || json_object_size(sel) == 0)
        return true;
    /* an object that cannot have labels (no metadata: a CONNECT's options)
     * does not match, as upstream */
    if (json_is_object(json_object_get(obj, "metadata")) &&
        selector_matches(sel, json_object_get(json_object_get(obj, "metadata"), "labels")))
        return true;
    return json_is_object(json_object_get(old, "metadata")) &&
           selector_matches(sel, json_object_get(json_object_get(old, "metadata"), "labels"));
}

bool
admission_namespace_selector_matches(const json_t *hook, const json_t *labels)
{
    return selector_matches(json_object_get(hook, "namespaceSelector"), labels);
}
