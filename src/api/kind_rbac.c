/* SPDX-License-Identifier: Apache-2.0
 * kind_rbac.c - rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding
 * and ClusterRoleBinding: table columns and rows, defaults and validation,
 * in the shape of upstream's pkg/registry/rbac/<kind>/strategy.go and
 * pkg/apis/rbac/validation. Who may write them (escalation prevention) is
 * api_rbac.c's. */
#include "api/api-internal.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"

#define DESC_NAME_COL                                                                              \
    "Name must be unique within a namespace. Is required when creating resources, although some "  \
    "resources may allow a client to request the generation of an appropriate name "               \
    "automatically. Name is primarily intended for creation idempotence and configuration "        \
    "definition. Cannot be updated. More info: "                                                   \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_CREATED                                                                               \
    "CreationTimestamp is a timestamp representing the server time when this object was created."

const struct api_column api_columns_role[] = {
    {"Name", "string", "name", DESC_NAME_COL, 0},
    {"Created At", "date", "", DESC_CREATED, 0},
    {NULL, NULL, NULL, NULL, 0},
};

const struct api_column api_columns_rolebinding[] = {
    {"Name", "string", "name", DESC_NAME_COL, 0},
    {"Role", "string", "", "RoleRef references the role (kind/name) the binding grants.", 0},
    {"Age", "string", "", DESC_CREATED, 0},
    {"Users", "string", "", "Users holding the role.", 1},
    {"Groups", "string", "", "Groups holding the role.", 1},
    {"ServiceAccounts", "string", "", "Service accounts (namespace/name) holding the role.", 1},
    {NULL, NULL, NULL, NULL, 0},
};

static const char *
str_of(const json_t *obj, const char *path)
{
    const char *s = json_string_value(api_json_path(obj, path));
    return s ? s : "";
}

json_t *
api_row_role(const json_t *obj, int64_t now_s)
{
    (void)now_s;
    return json_pack("[s s]", str_of(obj, "metadata.name"),
                     str_of(obj, "metadata.creationTimestamp"));
}

/* RFC 3339 seconds (the API writes "2024-05-01T10:00:00Z"). */
static bool
parse_utc(const char *s, int64_t *out)
{
    struct tm tm = {0};

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* The subjects of one kind, comma-joined; service accounts as ns/name. */
static json_t *
subjects_cell(const json_t *obj, const char *kind)
{
    const json_t *subjects = json_object_get(obj, "subjects"), *s = NULL;
    struct k3c_buf b;
    size_t i = 0;
    json_t *cell;

    k3c_buf_init(&b);
    json_array_foreach(subjects, i, s)
    {
        if (strcmp(str_of(s, "kind"), kind) != 0)
            continue;
        if (b.len)
            k3c_buf_append(&b, ", ", 2);
        if (strcmp(kind, "ServiceAccount") == 0)
            k3c_buf_appendf(&b, "%s/%s", str_of(s, "namespace"), str_of(s, "name"));
        else
            k3c_buf_appendf(&b, "%s", str_of(s, "name"));
    }
    cell = json_stringn(b.data ? b.data : "", b.len);
    k3c_buf_fini(&b);
    return cell;
}

json_t *
api_row_rolebinding(const json_t *obj, int64_t now_s)
{
    char role[600], age[32] = "<unknown>";
    int64_t t = 0;

    snprintf(role, sizeof(role), "%s/%s", str_of(obj, "roleRef.kind"), str_of(obj, "roleRef.name"));
    if (parse_utc(str_of(obj, "metadata.creationTimestamp"), &t))
        api_human_duration(now_s - t, age, sizeof(age));
    return json_pack("[s s s o o o]", str_of(obj, "metadata.name"), role, age,
                     subjects_cell(obj, "User"), subjects_cell(obj, "Group"),
                     subjects_cell(obj, "ServiceAccount"));
}

/* ---- defaults (upstream's SetDefaults_RoleBinding / _Subject) ----------- */

static void
default_subjects(json_t *obj)
{
    size_t i = 0;
    json_t *s = NULL, *ref = json_object_get(obj, "roleRef");

    if (json_is_object(ref) && !json_string_value(json_object_get(ref, "apiGroup")))
        json_object_set_new(ref, "apiGroup", json_string(RBAC_GROUP));
    json_array_foreach(json_object_get(obj, "subjects"), i, s)
    {
        const char *kind = json_string_value(json_object_get(s, "kind"));

        if (!json_is_object(s) || !kind || json_string_value(json_object_get(s, "apiGroup")))
            continue;
        if (strcmp(kind, "ServiceAccount") == 0)
            json_object_set_new(s, "apiGroup", json_string(""));
        else if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0)
            json_object_set_new(s, "apiGroup", json_string(RBAC_GROUP));
    }
}

void
api_defaults_rolebinding(json_t *obj)
{
    default_subjects(obj);
}

/* ---- validation (pkg/apis/rbac/validation) ------------------------------ */

static bool
nonempty_array(const json_t *v)
{
    return json_is_array(v) && json_array_size(v) > 0;
}

static void
validate_rule(const json_t *rule, const char *field, bool namespaced, json_t *causes)
{
    bool has_urls = nonempty_array(json_object_get(rule, "nonResourceURLs"));
    char f[96];

    if (!nonempty_array(json_object_get(rule, "verbs"))) {
        snprintf(f, sizeof(f), "%s.verbs", field);
        api_cause_add(causes, "FieldValueRequired", f,
                      "Required value: verbs must contain at least one value");
    }
    if (has_urls) {
        snprintf(f, sizeof(f), "%s.nonResourceURLs", field);
        if (namespaced)
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: %s: namespaced rules cannot apply to non-resource URLs",
                          "[]string");
        else if (nonempty_array(json_object_get(rule, "apiGroups")) ||
                 nonempty_array(json_object_get(rule, "resources")))
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: %s: rules cannot apply to both regular resources and "
                          "non-resource URLs",
                          "[]string");
        return;
    }
    if (!nonempty_array(json_object_get(rule, "apiGroups"))) {
        snprintf(f, sizeof(f), "%s.apiGroups", field);
        api_cause_add(causes, "FieldValueRequired", f,
                      "Required value: resource rules must supply at least one api group");
    }
    if (!nonempty_array(json_object_get(rule, "resources"))) {
        snprintf(f, sizeof(f), "%s.resources", field);
        api_cause_add(causes, "FieldValueRequired", f,
                      "Required value: resource rules must supply at least one resource");
    }
}

static void
validate_rules(const json_t *obj, bool namespaced, json_t *causes)
{
    const json_t *rules = json_object_get(obj, "rules"), *rule = NULL;
    size_t i = 0;
    char f[32];

    if (rules && !json_is_array(rules) && !json_is_null(rules)) {
        api_cause_add(causes, "FieldValueInvalid", "rules", "Invalid value: must be a list");
        return;
    }
    json_array_foreach(rules, i, rule)
    {
        snprintf(f, sizeof(f), "rules[%zu]", i);
        validate_rule(rule, f, namespaced, causes);
    }
}

void
api_validate_role(const json_t *obj, const json_t *old, json_t *causes)
{
    (void)old;
    validate_rules(obj, true, causes);
}

void
api_validate_clusterrole(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *agg = json_object_get(obj, "aggregationRule");

    (void)old;
    validate_rules(obj, false, causes);
    if (json_is_object(agg) && !nonempty_array(json_object_get(agg, "clusterRoleSelectors")))
        api_cause_add(causes, "FieldValueRequired", "aggregationRule.clusterRoleSelectors",
                      "Required value: at least one clusterRoleSelector required if "
                      "aggregationRule is non-nil");
}

static void
validate_subject(const json_t *s, const char *field, bool cluster, json_t *causes)
{
    const char *kind = str_of(s, "kind"), *group = str_of(s, "apiGroup");
    char f[64];

    if (!*str_of(s, "name")) {
        snprintf(f, sizeof(f), "%s.name", field);
        api_cause_add(causes, "FieldValueRequired", f, "Required value");
    }
    snprintf(f, sizeof(f), "%s.kind", field);
    if (strcmp(kind, "ServiceAccount") == 0) {
        if (*group) {
            snprintf(f, sizeof(f), "%s.apiGroup", field);
            api_cause_add(causes, "FieldValueNotSupported", f,
                          "Unsupported value: \"%s\": supported values: \"\"", group);
        }
        if (cluster && !*str_of(s, "namespace")) {
            snprintf(f, sizeof(f), "%s.namespace", field);
            api_cause_add(causes, "FieldValueRequired", f, "Required value");
        }
    } else if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0) {
        if (strcmp(group, RBAC_GROUP) != 0) {
            snprintf(f, sizeof(f), "%s.apiGroup", field);
            api_cause_add(causes, "FieldValueNotSupported", f,
                          "Unsupported value: \"%s\": supported values: \"" RBAC_GROUP "\"", group);
        }
    } else {
        api_cause_add(causes, "FieldValueNotSupported", f,
                      "Unsupported value: \"%s\": supported values: \"ServiceAccount\", \"User\", "
                      "\"Group\"",
                      kind);
    }
}

static void
validate_binding(const json_t *obj, const json_t *old, bool cluster, json_t *causes)
{
    const json_t *ref = json_object_get(obj, "roleRef"), *s = NULL;
    const char *kind = str_of(obj, "roleRef.kind");
    size_t i = 0;
    char f[32];

    if (strcmp(str_of(obj, "roleRef.apiGroup"), RBAC_GROUP) != 0)
        api_cause_add(causes, "FieldValueNotSupported", "roleRef.apiGroup",
                      "Unsupported value: \"%s\": supported values: \"" RBAC_GROUP "\"",
                      str_of(obj, "roleRef.apiGroup"));
    if (cluster ? strcmp(kind, "ClusterRole") != 0
                : strcmp(kind, "Role") != 0 && strcmp(kind, "ClusterRole") != 0)
        api_cause_add(causes, "FieldValueNotSupported", "roleRef.kind",
                      "Unsupported value: \"%s\": supported values: %s", kind,
                      cluster ? "\"ClusterRole\"" : "\"Role\", \"ClusterRole\"");
    if (!*str_of(obj, "roleRef.name"))
        api_cause_add(causes, "FieldValueRequired", "roleRef.name", "Required value");
    if (old && !json_equal(ref, json_object_get(old, "roleRef")))
        api_cause_add(causes, "FieldValueInvalid", "roleRef",
                      "Invalid value: %s: cannot change roleRef", "rbac.RoleRef");
    json_array_foreach(json_object_get(obj, "subjects"), i, s)
    {
        snprintf(f, sizeof(f), "subjects[%zu]", i);
        validate_subject(s, f, cluster, causes);
    }
}

void
api_validate_rolebinding(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_binding(obj, old, false, causes);
}

void
api_validate_clusterrolebinding(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_binding(obj, old, true, causes);
}
