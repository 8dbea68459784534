/* SPDX-License-Identifier: Apache-2.0
 * api_rbac_bootstrap.c - the bootstrap RBAC policy upstream ships
 * (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), trimmed to what a
 * k3c cluster serves, reconciled when the API server starts: missing roles
 * and bindings are created; an existing one whose
 * rbac.authorization.kubernetes.io/autoupdate annotation is not "false"
 * gets the rules, subjects and aggregation selectors it lacks (nothing is
 * removed, as upstream's reconcile without --remove-extra). Writes go
 * straight to the store with compare-and-swap, so several servers
 * starting at once agree. The rules of admin/edit/view are filled by the
 * clusterrole-aggregation controller (src/controllers/rbac_aggregation.c).
 *
 * k3c's own parts need no role of their own: the controllers and the
 * scheduler use the system:masters admin credential, agents their node
 * credential (the Node authorizer in api_auth.c). */
#define LOG_COMPONENT "rbac"
#include "api/api-internal.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"
#define AUTOUPDATE "rbac.authorization.kubernetes.io/autoupdate"
#define AGG_PREFIX "rbac.authorization.k8s.io/aggregate-to-"

/* One PolicyRule; lists are comma-separated; urls non-NULL for a
 * non-resource rule. */
struct brule {
    const char *groups, *resources, *verbs, *urls;
};

#define RW   "create,delete,deletecollection,patch,update"
#define READ "get,list,watch"
#define RULES_END                                                                                  \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }

static const struct brule rules_cluster_admin[] = {
    {"*", "*", "*", NULL},
    {NULL, NULL, "*", "*"},
    RULES_END,
};
static const struct brule rules_discovery[] = {
    {NULL, NULL, "get",
     "/api,/api/*,/apis,/apis/*,/healthz,/livez,/openapi,/openapi/*,/readyz,/version,/version/"},
    RULES_END,
};
static const struct brule rules_public_info[] = {
    {NULL, NULL, "get", "/healthz,/livez,/readyz,/version,/version/"},
    RULES_END,
};
static const struct brule rules_monitoring[] = {
    {NULL, NULL, "get",
     "/healthz,/healthz/*,/livez,/livez/*,/metrics,/metrics/slis,/readyz,/readyz/*"},
    RULES_END,
};
static const struct brule rules_issuer_discovery[] = {
    {NULL, NULL, "get",
     "/.well-known/openid-configuration,/.well-known/openid-configuration/,/openid/v1/jwks,"
     "/openid/v1/jwks/"},
    RULES_END,
};
static const struct brule rules_basic_user[] = {
    {"authorization.k8s.io", "selfsubjectaccessreviews,selfsubjectrulesreviews", "create", NULL},
    {"authentication.k8s.io", "selfsubjectreviews", "create", NULL},
    RULES_END,
};
static const struct brule rules_to_admin[] = {
    {"authorization.k8s.io", "localsubjectaccessreviews", "create", NULL},
    {RBAC_GROUP, "rolebindings,roles", RW ",get,list,watch", NULL},
    RULES_END,
};
static const struct brule rules_to_edit[] = {
    {"", "pods/attach,pods/exec,pods/portforward,pods/proxy,secrets,services/proxy", READ, NULL},
    {"", "serviceaccounts", "impersonate", NULL},
    {"", "pods,pods/attach,pods/exec,pods/portforward,pods/proxy", RW, NULL},
    {"", "pods/eviction", "create", NULL},
    {"",
     "configmaps,events,persistentvolumeclaims,replicationcontrollers,"
     "replicationcontrollers/scale,secrets,serviceaccounts,services,services/proxy",
     RW, NULL},
    {"", "serviceaccounts/token", "create", NULL},
    {"apps",
     "daemonsets,deployments,deployments/rollback,deployments/scale,replicasets,"
     "replicasets/scale,statefulsets,statefulsets/scale",
     RW, NULL},
    {"autoscaling", "horizontalpodautoscalers", RW, NULL},
    {"batch", "cronjobs,jobs", RW, NULL},
    {"networking.k8s.io", "ingresses,networkpolicies", RW, NULL},
    {"policy", "poddisruptionbudgets", RW, NULL},
    RULES_END,
};
static const struct brule rules_to_view[] = {
    {"",
     "configmaps,endpoints,persistentvolumeclaims,persistentvolumeclaims/status,pods,"
     "replicationcontrollers,replicationcontrollers/scale,serviceaccounts,services,"
     "services/status",
     READ, NULL},
    {"",
     "bindings,events,limitranges,namespaces/status,pods/log,pods/status,"
     "replicationcontrollers/status,resourcequotas,resourcequotas/status",
     READ, NULL},
    {"", "namespaces", READ, NULL},
    {"discovery.k8s.io", "endpointslices", READ, NULL},
    {"apps",
     "controllerrevisions,daemonsets,daemonsets/status,deployments,deployments/scale,"
     "deployments/status,replicasets,replicasets/scale,replicasets/status,statefulsets,"
     "statefulsets/scale,statefulsets/status",
     READ, NULL},
    {"autoscaling", "horizontalpodautoscalers,horizontalpodautoscalers/status", READ, NULL},
    {"batch", "cronjobs,cronjobs/status,jobs,jobs/status", READ, NULL},
    {"policy", "poddisruptionbudgets,poddisruptionbudgets/status", READ, NULL},
    {"networking.k8s.io", "ingresses,ingresses/status,networkpolicies", READ, NULL},
    RULES_END,
};

struct brole {
    const char *name;
    const struct brule *rules; /* NULL for an aggregated role */
    const char *label;         /* "admin": labelled aggregate-to-admin, or NULL */
    const char *aggregate;     /* "admin": aggregates aggregate-to-admin, or NULL */
};

static const struct brole bootstrap_roles[] = {
    {"cluster-admin", rules_cluster_admin, NULL, NULL},
    {"system:discovery", rules_discovery, NULL, NULL},
    {"system:public-info-viewer", rules_public_info, NULL, NULL},
    {"system:monitoring", rules_monitoring, NULL, NULL},
    {"system:basic-user", rules_basic_user, NULL, NULL},
    {"system:service-account-issuer-discovery", rules_issuer_discovery, NULL, NULL},
    {"admin", NULL, NULL, "admin"},
    {"edit", NULL, "admin", "edit"},
    {"view", NULL, "edit", "view"},
    {"system:aggregate-to-admin", rules_to_admin, "admin", NULL},
    {"system:aggregate-to-edit", rules_to_edit, "edit", NULL},
    {"system:aggregate-to-view", rules_to_view, "view", NULL},
};

struct bbinding {
    const char *name, *role, *groups; /* groups comma-separated */
};

static const struct bbinding bootstrap_bindings[] = {
    {"cluster-admin", "cluster-admin", "system:masters"},
    {"system:discovery", "system:discovery", "system:authenticated"},
    {"system:basic-user", "system:basic-user", "system:authenticated"},
    {"system:public-info-viewer", "system:public-info-viewer",
     "system:authenticated,system:unauthenticated"},
    {"system:monitoring", "system:monitoring", "system:monitoring"},
    {"system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
     "system:serviceaccounts"},
};

static json_t *
csv_array(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;

    /* "" is one empty item (the core API group), not an empty list. */
    while (p) {
        size_t n = strcspn(p, ",");

        json_array_append_new(a, json_stringn(p, n));
        p = p[n] == ',' ? p + n + 1 : NULL;
    }
    return a;
}

static json_t *
rules_json(const struct brule *rules)
{
    json_t *out = json_array();

    for (const struct brule *r = rules; r && r->verbs; r++) {
        json_t *j = json_object();

        if (r->urls) {
            json_object_set_new(j, "nonResourceURLs", csv_array(r->urls));
        } else {
            json_object_set_new(j, "apiGroups", csv_array(r->groups));
            json_object_set_new(j, "resources", csv_array(r->resources));
        }
        json_object_set_new(j, "verbs", csv_array(r->verbs));
        json_array_append_new(out, j);
    }
    return out;
}

static json_t *
bootstrap_meta(const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name, "labels",
                     "kubernetes.io/bootstrapping", "rbac-defaults", "annotations", AUTOUPDATE,
                     "true");
}

static json_t *
role_json(const struct brole *b)
{
    json_t *obj = json_pack("{s:s, s:s, s:o}", "apiVersion", RBAC_GROUP "/v1", "kind",
                            "ClusterRole", "metadata", bootstrap_meta(b->name));
    char key[128];

    if (b->label) {
        snprintf(key, sizeof(key), AGG_PREFIX "%s", b->label);
        json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), key,
                            json_string("true"));
    }
    if (b->aggregate) {
        snprintf(key, sizeof(key), AGG_PREFIX "%s", b->aggregate);
        json_object_set_new(
            obj, "aggregationRule",
            json_pack("{s:[{s:{s:s}}]}", "clusterRoleSelectors", "matchLabels", key, "true"));
    }
    json_object_set_new(obj, "rules", rules_json(b->rules));
    return obj;
}

static json_t *
binding_json(const struct bbinding *b)
{
    json_t *subjects = json_array(), *groups = csv_array(b->groups), *g = NULL;
    size_t i = 0;

    json_array_foreach(groups, i, g)
    {
        json_array_append_new(subjects, json_pack("{s:s, s:s, s:O}", "apiGroup", RBAC_GROUP, "kind",
                                                  "Group", "name", g));
    }
    json_decref(groups);
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:o}", "apiVersion", RBAC_GROUP "/v1",
                     "kind", "ClusterRoleBinding", "metadata", bootstrap_meta(b->name), "roleRef",
                     "apiGroup", RBAC_GROUP, "kind", "ClusterRole", "name", b->role, "subjects",
                     subjects);
}

static bool
array_contains(const json_t *a, const json_t *v)
{
    size_t i = 0;
    const json_t *x = NULL;

    json_array_foreach(a, i, x)
    {
        if (json_equal(x, v))
            return true;
    }
    return false;
}

/* Adds to have[field] what want[field] lists and have lacks; true if any. */
static bool
add_missing(json_t *have, const json_t *want, const char *field)
{
    json_t *list = json_object_get(have, field);
    size_t i = 0;
    const json_t *v = NULL;
    bool changed = false;

    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(have, field, list);
    }
    json_array_foreach(json_object_get(want, field), i, v)
    {
        if (!array_contains(list, v)) {
            json_array_append(list, (json_t *)v);
            changed = true;
        }
    }
    return changed;
}

/* What reconcile changes in an existing object; true if anything. */
static bool
reconcile(json_t *have, const json_t *want, bool binding)
{
    if (binding)
        return add_missing(have, want, "subjects");
    if (json_object_get(want, "aggregationRule")) {
        json_t *agg = json_object_get(have, "aggregationRule");

        if (!json_is_object(agg)) {
            agg = json_object();
            json_object_set_new(have, "aggregationRule", agg);
        }
        return add_missing(agg, json_object_get(want, "aggregationRule"), "clusterRoleSelectors");
    }
    return add_missing(have, want, "rules");
}

static int
ensure(struct api_server *srv, const char *plural, json_t *want, struct k3c_err *err)
{
    const struct api_resource *res = api_resource_find(RBAC_GROUP, "v1", plural);
    const char *name = api_meta_str(want, "name");
    _cleanup_free_ char *key = api_object_key(res, NULL, name);
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ json_t *have = NULL;
    struct store_kv kv = {0};
    char uid[37], ts[32];
    const char *auto_update = NULL;
    size_t len = 0;

    if (store_get(srv->store, key, &kv, err) == 0) {
        have = json_loadb(kv.value, kv.value_len, 0, NULL);
        auto_update = json_string_value(
            json_object_get(json_object_get(api_meta(have), "annotations"), AUTOUPDATE));
        if (!have || (auto_update && strcmp(auto_update, "false") == 0) ||
            !reconcile(have, want, strstr(plural, "bindings") != NULL)) {
            store_kv_fini(&kv);
            return 0;
        }
        text = api_object_encode(have, &len);
        if (store_update(srv->store, key, text, len, kv.mod_revision, 0, NULL, NULL, err) < 0 &&
            err->kind != K3C_E_CONFLICT) {
            store_kv_fini(&kv);
            return -1;
        }
        store_kv_fini(&kv);
        k3c_err_clear(err); /* a conflict: another server reconciled it */
        log_info("(%s %s) reconciled with the bootstrap policy", plural, name);
        return 0;
    }
    if (err->kind != K3C_E_NOT_FOUND)
        return -1;
    k3c_err_clear(err);
    k3c_uuid_new(uid);
    k3c_time_rfc3339(k3c_wall_ms() / 1000, ts, sizeof(ts));
    json_object_set_new(api_meta(want), "uid", json_string(uid));
    json_object_set_new(api_meta(want), "creationTimestamp", json_string(ts));
    text = api_object_encode(want, &len);
    if (store_create(srv->store, key, text, len, 0, NULL, err) < 0 && err->kind != K3C_E_EXISTS)
        return -1;
    k3c_err_clear(err);
    log_debug("(%s %s) created", plural, name);
    return 0;
}

int
api_rbac_bootstrap(struct api_server *srv, struct k3c_err *err)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bootstrap_roles); i++) {
        _cleanup_json_ json_t *obj = role_json(&bootstrap_roles[i]);

        if (ensure(srv, "clusterroles", obj, err) < 0)
            return k3c_err_wrap(err, "bootstrap clusterrole %s", bootstrap_roles[i].name);
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bootstrap_bindings); i++) {
        _cleanup_json_ json_t *obj = binding_json(&bootstrap_bindings[i]);

        if (ensure(srv, "clusterrolebindings", obj, err) < 0)
            return k3c_err_wrap(err, "bootstrap clusterrolebinding %s", bootstrap_bindings[i].name);
    }
    return 0;
}
