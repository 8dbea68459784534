/* SPDX-License-Identifier: Apache-2.0
 * kind_crd.c - apiextensions.k8s.io/v1 CustomResourceDefinition: table
 * columns, defaults and validation, in the shape of upstream's
 * apiextensions-apiserver/pkg/registry/customresourcedefinition/strategy.go
 * and apis/apiextensions/validation. What a CRD serves: api_crd.c. */
#include "api/api-internal.h"
#include "api/api-kind.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <ctype.h>
#include <string.h>

#define CRD_FINALIZER "customresourcecleanup.apiextensions.k8s.io"

const struct api_column api_columns_crd[] = {
    COL_NAME,
    {"Created At", "date", "", DESC_AGE, 0},
    COL_END,
};

json_t *
api_row_crd(const json_t *obj, int64_t now_s)
{
    const char *ts = api_str_at(obj, "metadata.creationTimestamp");

    (void)now_s;
    return json_pack("[o, s]", api_name_cell(obj), ts ? ts : "");
}

/* ---- defaults ---------------------------------------------------------------- */

static void
default_names(json_t *names)
{
    const char *kind = json_string_value(json_object_get(names, "kind"));

    if (!kind)
        return;
    if (!json_object_get(names, "singular")) {
        _cleanup_free_ char *s = k3c_xstrdup(kind);

        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(names, "singular", json_string(s));
    }
    if (!json_object_get(names, "listKind")) {
        _cleanup_free_ char *lk = k3c_xasprintf("%sList", kind);

        json_object_set_new(names, "listKind", json_string(lk));
    }
}

static void
add_finalizer(json_t *obj)
{
    json_t *meta = api_meta(obj), *fins = json_object_get(meta, "finalizers");
    size_t i;
    json_t *f;

    if (api_meta_str(obj, "deletionTimestamp"))
        return;
    json_array_foreach(fins, i, f)
    {
        if (strcmp(json_string_value(f) ?: "", CRD_FINALIZER) == 0)
            return;
    }
    if (!json_is_array(fins)) {
        fins = json_array();
        json_object_set_new(meta, "finalizers", fins);
    }
    json_array_append_new(fins, json_string(CRD_FINALIZER));
}

void
api_defaults_crd(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    size_t i;
    json_t *v;

    if (!spec)
        return;
    default_names(json_object_get(spec, "names"));
    api_default_take(spec, "conversion", json_pack("{s:s}", "strategy", "None"));
    json_array_foreach(json_object_get(spec, "versions"), i, v)
    {
        json_t *scale = json_object_get(json_object_get(v, "subresources"), "scale");

        (void)scale;
        api_default_take(v, "served", json_true());
    }
    add_finalizer(obj);
}

/* ---- validation -------------------------------------------------------------- */

static bool
is_lower_label(const char *s)
{
    return s && api_is_dns1123_label(s);
}

static void
validate_names(const json_t *names, const char *field, json_t *causes)
{
    static const char *const labels[] = {"plural", "singular"};
    struct fpath f;
    size_t i;
    json_t *sn;

    for (size_t k = 0; k < K3C_ARRAY_SIZE(labels); k++) {
        const char *v = api_str_at(names, labels[k]);

        api_fpath(&f, "%s.%s", field, labels[k]);
        if (api_is_empty(v) && k == 0)
            api_cause_required(causes, f.s, "");
        else if (!api_is_empty(v) && !is_lower_label(v))
            api_cause_invalid_str(causes, f.s, v,
                                  "a lowercase RFC 1123 label must consist of lower case "
                                  "alphanumeric characters or '-', and must start and end with an "
                                  "alphanumeric character");
    }
    if (api_is_empty(api_str_at(names, "kind")))
        api_cause_required(causes, api_fpath(&f, "%s.kind", field), "");
    if (api_is_empty(api_str_at(names, "listKind")))
        api_cause_required(causes, api_fpath(&f, "%s.listKind", field), "");
    json_array_foreach(json_object_get(names, "shortNames"), i, sn)
    {
        if (!is_lower_label(json_string_value(sn)))
            api_cause_invalid_str(causes, api_fpath(&f, "%s.shortNames[%zu]", field, i),
                                  json_string_value(sn),
                                  "a lowercase RFC 1123 label must consist of lower case "
                                  "alphanumeric characters or '-', and must start and end with an "
                                  "alphanumeric character");
    }
}

static void
validate_scale(const json_t *scale, const char *field, json_t *causes)
{
    const char *spec_path = api_str_at(scale, "specReplicasPath");
    const char *status_path = api_str_at(scale, "statusReplicasPath");
    struct fpath f;

    if (!scale)
        return;
    if (api_is_empty(spec_path))
        api_cause_required(causes, api_fpath(&f, "%s.specReplicasPath", field), "");
    else if (strncmp(spec_path, ".spec.", 6) != 0)
        api_cause_invalid_str(causes, api_fpath(&f, "%s.specReplicasPath", field), spec_path,
                              "should be a json path under .spec");
    if (api_is_empty(status_path))
        api_cause_required(causes, api_fpath(&f, "%s.statusReplicasPath", field), "");
    else if (strncmp(status_path, ".status.", 8) != 0)
        api_cause_invalid_str(causes, api_fpath(&f, "%s.statusReplicasPath", field), status_path,
                              "should be a json path under .status");
}

static void
validate_columns(const json_t *cols, const char *field, json_t *causes)
{
    static const char *const types[] = {"integer", "number", "string", "boolean", "date", NULL};
    size_t i;
    json_t *c;
    struct fpath f;

    json_array_foreach(cols, i, c)
    {
        if (api_is_empty(api_str_at(c, "name")))
            api_cause_required(causes, api_fpath(&f, "%s[%zu].name", field, i), "");
        api_check_enum(causes, api_fpath(&f, "%s[%zu].type", field, i), api_str_at(c, "type"),
                       types, true);
        if (api_is_empty(api_str_at(c, "jsonPath")))
            api_cause_required(causes, api_fpath(&f, "%s[%zu].jsonPath", field, i), "");
    }
}

/* The structural-schema rules upstream checks first: every specified field
 * has a type (but int-or-string and preserve-unknown-fields ones), and
 * properties and additionalProperties do not come together. */
static void
validate_structural(const json_t *s, const char *field, json_t *causes, int depth)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *items = json_object_get(s, "items");
    const json_t *addl = json_object_get(s, "additionalProperties");
    struct fpath f;
    const char *key;
    json_t *child;

    if (!json_is_object(s) || depth > 64)
        return;
    if (!api_str_at(s, "type") && !api_true_at(s, "x-kubernetes-int-or-string") &&
        !api_true_at(s, "x-kubernetes-preserve-unknown-fields"))
        api_cause_required(causes, api_fpath(&f, "%s.type", field),
                           "must not be empty for specified object fields");
    if (json_is_object(props) && json_object_size(props) > 0 && json_is_object(addl))
        api_cause_forbidden(causes, api_fpath(&f, "%s.additionalProperties", field),
                            "additionalProperties and properties are mutual exclusive");
    json_object_foreach((json_t *)props, key, child)
    {
        struct fpath sub;

        validate_structural(child, api_fpath(&sub, "%s.properties[%s]", field, key), causes,
                            depth + 1);
    }
    if (json_is_object(items)) {
        struct fpath sub;

        validate_structural(items, api_fpath(&sub, "%s.items", field), causes, depth + 1);
    }
    if (json_is_object(addl)) {
        struct fpath sub;

        validate_structural(addl, api_fpath(&sub, "%s.additionalProperties", field), causes,
                            depth + 1);
    }
}

static void
validate_version(const json_t *v, size_t i, json_t *causes)
{
    const char *name = api_str_at(v, "name");
    const json_t *schema = api_json_path(v, "schema.openAPIV3Schema");
    struct fpath f;

    if (api_is_empty(name))
        api_cause_required(causes, api_fpath(&f, "spec.versions[%zu].name", i), "");
    else if (!api_is_dns1123_label(name))
        api_cause_invalid_str(causes, api_fpath(&f, "spec.versions[%zu].name", i), name,
                              "a DNS-1035 label must consist of lower case alphanumeric "
                              "characters or '-', start with an alphabetic character, and end "
                              "with an alphanumeric character");
    if (!json_is_object(schema))
        api_cause_required(causes, api_fpath(&f, "spec.versions[%zu].schema.openAPIV3Schema", i),
                           "schemas are required");
    else if (!api_str_at(schema, "type") || strcmp(api_str_at(schema, "type"), "object") != 0)
        api_cause_invalid_str(
            causes, api_fpath(&f, "spec.versions[%zu].schema.openAPIV3Schema.type", i),
            api_or_empty(api_str_at(schema, "type")), "must be object at the root");
    if (json_is_object(schema)) {
        struct fpath sf;

        validate_structural(schema, api_fpath(&sf, "spec.versions[%zu].schema.openAPIV3Schema", i),
                            causes, 0);
    }
    validate_scale(api_json_path(v, "subresources.scale"),
                   api_fpath(&f, "spec.versions[%zu].subresources.scale", i), causes);
    validate_columns(json_object_get(v, "additionalPrinterColumns"),
                     api_fpath(&f, "spec.versions[%zu].additionalPrinterColumns", i), causes);
}

static void
validate_versions(const json_t *versions, json_t *causes)
{
    size_t i, storage = 0;
    json_t *v;
    struct fpath f;

    if (json_array_size(versions) == 0) {
        api_cause_required(causes, "spec.versions", "must have at least one version");
        return;
    }
    json_array_foreach(versions, i, v)
    {
        size_t k;
        json_t *w;

        validate_version(v, i, causes);
        storage += json_is_true(json_object_get(v, "storage"));
        json_array_foreach(versions, k, w)
        {
            if (k < i && api_str_at(v, "name") && api_str_at(w, "name") &&
                strcmp(api_str_at(v, "name"), api_str_at(w, "name")) == 0)
                api_cause_duplicate(causes, api_fpath(&f, "spec.versions[%zu].name", i),
                                    api_str_at(v, "name"));
        }
    }
    if (storage != 1)
        api_cause_invalid_int(causes, "spec.versions", (json_int_t)storage,
                              "must have exactly one version marked as storage version");
}

void
api_validate_crd(const json_t *obj, const json_t *old, json_t *causes)
{
    static const char *const scopes[] = {"Cluster", "Namespaced", NULL};
    static const char *const strategies[] = {"None", "Webhook", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    const char *group = api_str_at(spec, "group");
    const char *plural = api_str_at(spec, "names.plural");
    const char *name = api_meta_str(obj, "name");

    if (api_is_empty(group))
        api_cause_required(causes, "spec.group", "");
    else if (!strchr(group, '.') || !api_is_dns1123_subdomain(group))
        api_cause_invalid_str(causes, "spec.group", group,
                              "should be a domain with at least one dot");
    for (const struct api_resource *r = api_resources; group && r->kind; r++) {
        if (strcmp(r->group, group) == 0) { /* built-in groups stay the server's own */
            api_cause_invalid_str(causes, "spec.group", group,
                                  "is a group the API server serves itself");
            break;
        }
    }
    if (group && plural && name) {
        _cleanup_free_ char *want = k3c_xasprintf("%s.%s", plural, group);

        if (strcmp(want, name) != 0)
            api_cause_invalid_str(causes, "metadata.name", name,
                                  "must be spec.names.plural+\".\"+spec.group");
    }
    validate_names(json_object_get(spec, "names"), "spec.names", causes);
    api_check_enum(causes, "spec.scope", api_str_at(spec, "scope"), scopes, true);
    api_check_enum(causes, "spec.conversion.strategy", api_str_at(spec, "conversion.strategy"),
                   strategies, false);
    validate_versions(json_object_get(spec, "versions"), causes);
    if (old) {
        const char *old_scope = api_str_at(json_object_get(old, "spec"), "scope");
        const char *scope = api_str_at(spec, "scope");

        if (old_scope && scope && strcmp(old_scope, scope) != 0)
            api_cause_invalid_str(causes, "spec.scope", scope, api_msg_immutable);
    }
}
