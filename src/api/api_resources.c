/* SPDX-License-Identifier: Apache-2.0
 * api_resources.c - the resource table: every kind the API server serves, as
 * `kubectl api-resources` reports it for Kubernetes 1.32 (names, short names,
 * scope, categories, subresources) plus its field selectors, table columns
 * and hooks. Adding a resource is adding a row here. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"

static const char *const categories_all[] = {"all", NULL};

static const char *const short_ns[] = {"ns", NULL};
static const char *const short_no[] = {"no", NULL};
static const char *const short_po[] = {"po", NULL};
static const char *const short_svc[] = {"svc", NULL};
static const char *const short_ep[] = {"ep", NULL};
static const char *const short_cm[] = {"cm", NULL};
static const char *const short_sa[] = {"sa", NULL};
static const char *const short_ev[] = {"ev", NULL};
static const char *const short_deploy[] = {"deploy", NULL};
static const char *const short_rs[] = {"rs", NULL};
static const char *const short_ds[] = {"ds", NULL};

/* Field selectors as upstream's registries' GetAttrs/ToSelectableFields list
 * them (metadata.name and metadata.namespace are implied). */
static const char *const fields_none[] = {NULL};
static const char *const fields_namespace[] = {"status.phase", NULL};
static const char *const fields_node[] = {"spec.unschedulable", NULL};
static const char *const fields_pod[] = {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.nominatedNodeName",
    "status.podIP",
    NULL,
};
static const char *const fields_secret[] = {"type", NULL};
/* "source" is source.component upstream (a computed field, not a path). */
static const char *const fields_event[] = {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    NULL,
};
static const char *const fields_replicaset[] = {"status.replicas", NULL};
static const char *const fields_job[] = {"status.successful", NULL};

const struct api_resource api_resources[] = {
    {
        .group = "",
        .version = "v1",
        .kind = "Namespace",
        .list_kind = "NamespaceList",
        .plural = "namespaces",
        .singular = "namespace",
        .short_names = short_ns,
        .namespaced = false,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_namespace,
        .columns = api_columns_namespace,
        .row = api_row_namespace,
        .defaults = api_defaults_namespace,
        .has_status = true,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Node",
        .list_kind = "NodeList",
        .plural = "nodes",
        .singular = "node",
        .short_names = short_no,
        .namespaced = false,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_node,
        .columns = api_columns_node,
        .row = api_row_node,
        .has_status = true,
        .status_on_create = true,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Pod",
        .list_kind = "PodList",
        .plural = "pods",
        .singular = "pod",
        .short_names = short_po,
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_pod,
        .columns = api_columns_pod,
        .row = api_row_pod,
        .validate = api_validate_pod,
        .defaults = api_defaults_pod,
        .has_status = true,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Service",
        .list_kind = "ServiceList",
        .plural = "services",
        .singular = "service",
        .short_names = short_svc,
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_none,
        .columns = api_columns_service,
        .row = api_row_service,
        .validate = api_validate_service,
        .defaults = api_defaults_service,
        .has_status = true,
        .hooks = &api_service_hooks,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Endpoints",
        .list_kind = "EndpointsList",
        .plural = "endpoints",
        .singular = "endpoints",
        .short_names = short_ep,
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_endpoints,
        .row = api_row_endpoints,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "ConfigMap",
        .list_kind = "ConfigMapList",
        .plural = "configmaps",
        .singular = "configmap",
        .short_names = short_cm,
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_configmap,
        .row = api_row_configmap,
        .validate = api_validate_configmap,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Secret",
        .list_kind = "SecretList",
        .plural = "secrets",
        .singular = "secret",
        .namespaced = true,
        .field_selectors = fields_secret,
        .columns = api_columns_secret,
        .row = api_row_secret,
        .validate = api_validate_secret,
        .defaults = api_defaults_secret,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "ServiceAccount",
        .list_kind = "ServiceAccountList",
        .plural = "serviceaccounts",
        .singular = "serviceaccount",
        .short_names = short_sa,
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_serviceaccount,
        .row = api_row_serviceaccount,
    },
    {
        .group = "",
        .version = "v1",
        .kind = "Event",
        .list_kind = "EventList",
        .plural = "events",
        .singular = "event",
        .short_names = short_ev,
        .namespaced = true,
        .field_selectors = fields_event,
        .columns = api_columns_event,
        .row = api_row_event,
        .ttl_lease = true,
    },
    {
        .group = "apps",
        .version = "v1",
        .kind = "Deployment",
        .list_kind = "DeploymentList",
        .plural = "deployments",
        .singular = "deployment",
        .short_names = short_deploy,
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS | API_SUB_SCALE,
        .field_selectors = fields_none,
        .columns = api_columns_deployment,
        .row = api_row_deployment,
        .validate = api_validate_deployment,
        .defaults = api_defaults_deployment,
        .has_status = true,
    },
    {
        .group = "apps",
        .version = "v1",
        .kind = "ReplicaSet",
        .list_kind = "ReplicaSetList",
        .plural = "replicasets",
        .singular = "replicaset",
        .short_names = short_rs,
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS | API_SUB_SCALE,
        .field_selectors = fields_replicaset,
        .columns = api_columns_replicaset,
        .row = api_row_replicaset,
        .validate = api_validate_replicaset,
        .defaults = api_defaults_replicaset,
        .has_status = true,
    },
    {
        .group = "apps",
        .version = "v1",
        .kind = "DaemonSet",
        .list_kind = "DaemonSetList",
        .plural = "daemonsets",
        .singular = "daemonset",
        .short_names = short_ds,
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_none,
        .columns = api_columns_daemonset,
        .row = api_row_daemonset,
        .validate = api_validate_daemonset,
        .defaults = api_defaults_daemonset,
        .has_status = true,
    },
    {
        .group = "batch",
        .version = "v1",
        .kind = "Job",
        .list_kind = "JobList",
        .plural = "jobs",
        .singular = "job",
        .categories = categories_all,
        .namespaced = true,
        .subresources = API_SUB_STATUS,
        .field_selectors = fields_job,
        .columns = api_columns_job,
        .row = api_row_job,
        .validate = api_validate_job,
        .defaults = api_defaults_job,
        .has_status = true,
    },
    {
        .group = "coordination.k8s.io",
        .version = "v1",
        .kind = "Lease",
        .list_kind = "LeaseList",
        .plural = "leases",
        .singular = "lease",
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_lease,
        .row = api_row_lease,
        .validate = api_validate_lease,
    },
    {
        .group = "discovery.k8s.io",
        .version = "v1",
        .kind = "EndpointSlice",
        .list_kind = "EndpointSliceList",
        .plural = "endpointslices",
        .singular = "endpointslice",
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_endpointslice,
        .row = api_row_endpointslice,
        .validate = api_validate_endpointslice,
    },
    /* rbac.authorization.k8s.io/v1 (kind_rbac.c; issue #15) */
    {
        .group = "rbac.authorization.k8s.io",
        .version = "v1",
        .kind = "Role",
        .list_kind = "RoleList",
        .plural = "roles",
        .singular = "role",
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_role,
        .row = api_row_role,
        .validate = api_validate_role,
    },
    {
        .group = "rbac.authorization.k8s.io",
        .version = "v1",
        .kind = "ClusterRole",
        .list_kind = "ClusterRoleList",
        .plural = "clusterroles",
        .singular = "clusterrole",
        .namespaced = false,
        .field_selectors = fields_none,
        .columns = api_columns_role,
        .row = api_row_role,
        .validate = api_validate_clusterrole,
    },
    {
        .group = "rbac.authorization.k8s.io",
        .version = "v1",
        .kind = "RoleBinding",
        .list_kind = "RoleBindingList",
        .plural = "rolebindings",
        .singular = "rolebinding",
        .namespaced = true,
        .field_selectors = fields_none,
        .columns = api_columns_rolebinding,
        .row = api_row_rolebinding,
        .validate = api_validate_rolebinding,
        .defaults = api_defaults_rolebinding,
    },
    {
        .group = "rbac.authorization.k8s.io",
        .version = "v1",
        .kind = "ClusterRoleBinding",
        .list_kind = "ClusterRoleBindingList",
        .plural = "clusterrolebindings",
        .singular = "clusterrolebinding",
        .namespaced = false,
        .field_selectors = fields_none,
        .columns = api_columns_rolebinding,
        .row = api_row_rolebinding,
        .validate = api_validate_clusterrolebinding,
        .defaults = api_defaults_rolebinding,
    },
    {.kind = NULL},
};

const struct api_resource *
api_resource_find(const char *group, const char *version, const char *plural)
{
    if (!group)
        group = "";
    if (!version || !plural)
        return NULL;
    for (const struct api_resource *r = api_resources; r->kind; r++) {
        if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
            strcmp(r->plural, plural) == 0)
            return r;
    }
    return NULL;
}

const char *
api_resource_api_version(const struct api_resource *r, char *buf, size_t len)
{
    if (r->group[0] == '\0')
        snprintf(buf, len, "%s", r->version);
    else
        snprintf(buf, len, "%s/%s", r->group, r->version);
    return buf;
}
