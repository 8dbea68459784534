/* SPDX-License-Identifier: Apache-2.0
 * kind_webhookconfig.c - admissionregistration.k8s.io/v1
 * MutatingWebhookConfiguration and ValidatingWebhookConfiguration (issue
 * #17), the shape of upstream's pkg/registry/admissionregistration strategies and
 * pkg/apis/admissionregistration/validation: cluster-scoped, no status; defaults (failurePolicy
 * Fail, matchPolicy Equivalent, timeoutSeconds 10, empty selectors, rule scope "*", service port
 * 443, reinvocationPolicy Never); validation of names, rules, client configs and policies.
 * matchConditions need CEL, which k3c does not have: they are refused. Table: NAME WEBHOOKS AGE.
 * The dispatcher that calls the webhooks is src/admission/ (docs/webhooks.md). */
#include "api/api-internal.h"
#include "base/util.h"

#include <stdarg.h>
#include <string.h>

const struct api_column api_columns_webhookconfig[] = {
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although "
     "some resources may allow a client to request the generation of an appropriate name "
     "automatically. Name is primarily intended for creation idempotence and configuration "
     "definition. Cannot be updated. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
     0},
    {"Webhooks", "integer", "",
     "Webhooks is a list of webhooks and the affected resources and "
     "operations.",
     0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when this object was "
     "created.",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

json_t *
api_row_webhookconfig(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I o]", api_name_cell(obj),
                     (json_int_t)json_array_size(json_object_get(obj, "webhooks")),
                     api_age_cell(obj, now_s));
}

/* ---- defaults ------------------------------------------------------------ */

static void
default_string(json_t *obj, const char *key, const char *value)
{
    if (!json_is_string(json_object_get(obj, key)))
        json_object_set_new(obj, key, json_string(value));
}

static void
defaults_webhook(json_t *hook, bool mutating)
{
    json_t *svc = (json_t *)api_json_path(hook, "clientConfig.service");
    size_t i;
    json_t *rule;

    default_string(hook, "failurePolicy", "Fail");
    default_string(hook, "matchPolicy", "Equivalent");
    if (mutating)
        default_string(hook, "reinvocationPolicy", "Never");
    if (!json_object_get(hook, "timeoutSeconds"))
        json_object_set_new(hook, "timeoutSeconds", json_integer(10));
    if (!json_is_object(json_object_get(hook, "namespaceSelector")))
        json_object_set_new(hook, "namespaceSelector", json_object());
    if (!json_is_object(json_object_get(hook, "objectSelector")))
        json_object_set_new(hook, "objectSelector", json_object());
    if (json_is_object(svc) && !json_object_get(svc, "port"))
        json_object_set_new(svc, "port", json_integer(443));
    json_array_foreach(json_object_get(hook, "rules"), i, rule)
    {
        if (json_is_object(rule))
            default_string(rule, "scope", "*");
    }
}

static void
defaults_config(json_t *obj, bool mutating)
{
    size_t i;
    json_t *hook;

    json_array_foreach(json_object_get(obj, "webhooks"), i, hook)
    {
        if (json_is_object(hook))
            defaults_webhook(hook, mutating);
    }
}

void
api_defaults_mutatingwebhookconfig(json_t *obj)
{
    defaults_config(obj, true);
}

void
api_defaults_validatingwebhookconfig(json_t *obj)
{
    defaults_config(obj, false);
}

/* ---- validation ---------------------------------------------------------- */

/* "Unsupported value" unless v is one of the NULL-terminated ok. */
static void
check_enum(const json_t *v, const char *field, const char *const *ok, json_t *causes)
{
    const char *s = json_string_value(v);
    char supported[256] = "";
    size_t used = 0;

    for (size_t i = 0; ok[i]; i++) {
        if (s && strcmp(s, ok[i]) == 0)
            return;
        used += (size_t)snprintf(supported + used, sizeof(supported) - used, "%s\"%s\"",
                                 i ? ", " : "", ok[i]);
        if (used >= sizeof(supported))
            used = sizeof(supported) - 1;
    }
    api_cause_add(causes, "FieldValueNotSupported", field,
                  "Unsupported value: \"%s\": supported values: %s", s ? s : "", supported);
}

/* The string members of list at field: required non-empty strings. */
static bool
check_string_list(const json_t *list, const char *field, const char *what, json_t *causes)
{
    size_t i;
    const json_t *v;

    if (json_array_size(list) == 0) {
        api_cause_add(causes, "FieldValueRequired", field, "Required value: %s", what);
        return false;
    }
    json_array_foreach(list, i, v)
    {
        if (!json_string_value(v) || (!*json_string_value(v) && strcmp(what, "apiGroups") != 0)) {
            api_cause_add(causes, "FieldValueRequired", field, "Required value: %s[%zu]", what, i);
            return false;
        }
    }
    return true;
}

/* "*" alone, or a list of the named operations. */
static void
check_operations(const json_t *ops, const char *field, json_t *causes)
{
    static const char *const ok[] = {"*", "CREATE", "UPDATE", "DELETE", "CONNECT", NULL};
    char f[256];
    size_t i;
    const json_t *op;

    if (!check_string_list(ops, field, "operations", causes))
        return;
    json_array_foreach(ops, i, op)
    {
        snprintf(f, sizeof(f), "%s[%zu]", field, i);
        check_enum(op, f, ok, causes);
        if (strcmp(json_string_value(op), "*") == 0 && json_array_size(ops) > 1)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: if '*' is present, must not specify other operations");
    }
}

/* "res", "res/sub", "*", "*" "/sub", "res/" "*", "*" "/" "*"; no duplicates. */
static void
check_resources(const json_t *list, const char *field, json_t *causes)
{
    char f[256];
    size_t i, j;
    const json_t *v;

    if (!check_string_list(list, field, "resources", causes))
        return;
    json_array_foreach(list, i, v)
    {
        const char *res = json_string_value(v), *slash = strchr(res, '/');

        snprintf(f, sizeof(f), "%s[%zu]", field, i);
        if (slash && (slash == res || !slash[1] || strchr(slash + 1, '/')))
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": must be a resource or resource/subresource", res);
        for (j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(list, j)), res) == 0)
                api_cause_add(causes, "FieldValueDuplicate", f, "Duplicate value: \"%s\"", res);
        if (strcmp(res, "*/*") == 0 && json_array_size(list) > 1)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: if '*/*' is present, must not specify other resources");
    }
}

static void
check_rules(const json_t *rules, const char *field, json_t *causes)
{
    static const char *const scopes[] = {"*", "Cluster", "Namespaced", NULL};
    char f[192];
    size_t i;
    const json_t *rule;

    json_array_foreach(rules, i, rule)
    {
        snprintf(f, sizeof(f), "%s[%zu].operations", field, i);
        check_operations(json_object_get(rule, "operations"), f, causes);
        snprintf(f, sizeof(f), "%s[%zu].apiGroups", field, i);
        check_string_list(json_object_get(rule, "apiGroups"), f, "apiGroups", causes);
        snprintf(f, sizeof(f), "%s[%zu].apiVersions", field, i);
        check_string_list(json_object_get(rule, "apiVersions"), f, "apiVersions", causes);
        snprintf(f, sizeof(f), "%s[%zu].resources", field, i);
        check_resources(json_object_get(rule, "resources"), f, causes);
        snprintf(f, sizeof(f), "%s[%zu].scope", field, i);
        check_enum(json_object_get(rule, "scope"), f, scopes, causes);
    }
}

static void
check_client_config(const json_t *cc, const char *field, json_t *causes)
{
    const char *url = json_string_value(json_object_get(cc, "url"));
    const json_t *svc = json_object_get(cc, "service");
    char f[192];

    if ((url != NULL) == (svc != NULL && !json_is_null(svc))) {
        api_cause_add(causes, "FieldValueRequired", field,
                      "Required value: exactly one of url or service is required");
        return;
    }
    if (url) {
        snprintf(f, sizeof(f), "%s.url", field);
        if (strncmp(url, "https://", 8) != 0)
            api_cause_add(causes, "FieldValueNotSupported", f,
                          "Unsupported value: \"%s\": supported values: \"https\"", url);
        else if (!url[8] || url[8] == '/')
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": host must be specified", url);
        else if (strpbrk(url, "?#"))
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": query parameters and fragments are not "
                          "allowed",
                          url);
        return;
    }
    {
        const char *name = json_string_value(json_object_get(svc, "name"));
        const char *ns = json_string_value(json_object_get(svc, "namespace"));
        const char *path = json_string_value(json_object_get(svc, "path"));
        const json_t *port = json_object_get(svc, "port");

        if (!name || !*name) {
            snprintf(f, sizeof(f), "%s.service.name", field);
            api_cause_add(causes, "FieldValueRequired", f,
                          "Required value: service name is "
                          "required");
        }
        if (!ns || !*ns) {
            snprintf(f, sizeof(f), "%s.service.namespace", field);
            api_cause_add(causes, "FieldValueRequired", f,
                          "Required value: service namespace is required");
        }
        if (path && path[0] != '/') {
            snprintf(f, sizeof(f), "%s.service.path", field);
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": must start with a '/'", path);
        }
        if (port && (!json_is_integer(port) || json_integer_value(port) < 1 ||
                     json_integer_value(port) > 65535)) {
            snprintf(f, sizeof(f), "%s.service.port", field);
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: %lld: port is not valid: must be between 1 and 65535, "
                          "inclusive",
                          (long long)json_integer_value(port));
        }
    }
}

/* Upstream's IsFullyQualifiedName: a DNS subdomain of three labels or more. */
static bool
fully_qualified(const char *name)
{
    const char *p = name;
    int dots = 0;

    if (!api_is_dns1123_subdomain(name))
        return false;
    while ((p = strchr(p, '.'))) {
        dots++;
        p++;
    }
    return dots >= 2;
}

static void
check_webhook(const json_t *hook, size_t idx, const json_t *all, bool mutating, json_t *causes)
{
    static const char *const failure[] = {"Fail", "Ignore", NULL};
    static const char *const match[] = {"Exact", "Equivalent", NULL};
    static const char *const side[] = {"None", "NoneOnDryRun", NULL};
    static const char *const reinvoke[] = {"Never", "IfNeeded", NULL};
    const char *name = json_string_value(json_object_get(hook, "name"));
    const json_t *t = json_object_get(hook, "timeoutSeconds");
    const json_t *versions = json_object_get(hook, "admissionReviewVersions");
    bool has_v1 = false;
    char f[128], p[64];
    size_t i;
    const json_t *v;

    snprintf(p, sizeof(p), "webhooks[%zu]", idx);
#define FIELD(sub) (snprintf(f, sizeof(f), "%s.%s", p, sub), f)
    if (!name || !*name)
        api_cause_add(causes, "FieldValueRequired", FIELD("name"), "Required value");
    else if (!fully_qualified(name))
        api_cause_add(causes, "FieldValueInvalid", FIELD("name"),
                      "Invalid value: \"%s\": should be a domain with at least three segments "
                      "separated by dots",
                      name);
    for (i = 0; name && i < idx; i++)
        if (json_equal(json_object_get(json_array_get(all, i), "name"),
                       json_object_get(hook, "name")))
            api_cause_add(causes, "FieldValueDuplicate", FIELD("name"), "Duplicate value: \"%s\"",
                          name);
    check_rules(json_object_get(hook, "rules"), FIELD("rules"), causes);
    check_enum(json_object_get(hook, "failurePolicy"), FIELD("failurePolicy"), failure, causes);
    check_enum(json_object_get(hook, "matchPolicy"), FIELD("matchPolicy"), match, causes);
    if (!json_object_get(hook, "sideEffects"))
        api_cause_add(causes, "FieldValueRequired", FIELD("sideEffects"),
                      "Required value: must specify one of None, NoneOnDryRun");
    else
        check_enum(json_object_get(hook, "sideEffects"), FIELD("sideEffects"), side, causes);
    if (mutating)
        check_enum(json_object_get(hook, "reinvocationPolicy"), FIELD("reinvocationPolicy"),
                   reinvoke, causes);
    if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 30)
        api_cause_add(causes, "FieldValueInvalid", FIELD("timeoutSeconds"),
                      "Invalid value: %lld: the timeout value must be between 1 and 30 seconds",
                      (long long)json_integer_value(t));
    json_array_foreach(versions, i, v)
    {
        has_v1 = has_v1 || (json_string_value(v) && strcmp(json_string_value(v), "v1") == 0);
    }
    if (json_array_size(versions) == 0)
        api_cause_add(causes, "FieldValueRequired", FIELD("admissionReviewVersions"),
                      "Required value: must specify one of v1, v1beta1");
    else if (!has_v1)
        api_cause_add(causes, "FieldValueInvalid", FIELD("admissionReviewVersions"),
                      "Invalid value: must include at least one of v1 (the only version k3c "
                      "sends)");
    check_client_config(json_object_get(hook, "clientConfig"), FIELD("clientConfig"), causes);
    api_validate_label_selector(json_object_get(hook, "namespaceSelector"),
                                FIELD("namespaceSelector"), causes);
    api_validate_label_selector(json_object_get(hook, "objectSelector"), FIELD("objectSelector"),
                                causes);
    if (json_array_size(json_object_get(hook, "matchConditions")) > 0)
        api_cause_add(causes, "FieldValueForbidden", FIELD("matchConditions"),
                      "Forbidden: matchConditions need CEL, which k3c does not support");
#undef FIELD
}

static void
validate_config(const json_t *obj, json_t *causes, bool mutating)
{
    const json_t *hooks = json_object_get(obj, "webhooks");
    size_t i;
    const json_t *hook;

    if (hooks && !json_is_array(hooks)) {
        api_cause_add(causes, "FieldValueInvalid", "webhooks", "Invalid value: must be a list");
        return;
    }
    json_array_foreach(hooks, i, hook)
    {
        if (!json_is_object(hook))
            api_cause_add(causes, "FieldValueInvalid", "webhooks",
                          "Invalid value: must be a list "
                          "of objects");
        else
            check_webhook(hook, i, hooks, mutating, causes);
    }
}

void
api_validate_mutatingwebhookconfig(const json_t *obj, const json_t *old, json_t *causes)
{
    (void)old;
    validate_config(obj, causes, true);
}

void
api_validate_validatingwebhookconfig(const json_t *obj, const json_t *old, json_t *causes)
{
    (void)old;
    validate_config(obj, causes, false);
}
