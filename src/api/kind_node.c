/* SPDX-License-Identifier: Apache-2.0
 * kind_node.c - Node: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/node/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_node[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    COL_AGE,
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", DESC_NODE_ADDRESSES, 1},
    {"External-IP", "string", "", DESC_NODE_ADDRESSES, 1},
    {"OS-Image", "string", "",
     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1},
    {"Kernel-Version", "string", "",
     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1},
    {"Container-Runtime", "string", "",
     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
     "containerd://1.4.2).",
     1},
    COL_END,
};

#define NODE_ROLE_PREFIX "node-role.kubernetes.io/"

/* findNodeRoles: node-role.kubernetes.io/<role> keys and the legacy
 * kubernetes.io/role=<role> label, sorted and unique. */
static json_t *
node_roles_cell(const json_t *labels)
{
    size_t n = 0, shown = 0;
    _cleanup_free_ const char **keys = api_sorted_keys(labels, &n);
    _cleanup_free_ const char **roles = k3c_xcalloc(n + 1, sizeof(*roles));
    struct k3c_buf b;

    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(json_object_get(labels, keys[i]));

        if (strncmp(keys[i], NODE_ROLE_PREFIX, strlen(NODE_ROLE_PREFIX)) == 0 &&
            keys[i][strlen(NODE_ROLE_PREFIX)])
            roles[shown++] = keys[i] + strlen(NODE_ROLE_PREFIX);
        else if (strcmp(keys[i], "kubernetes.io/role") == 0 && v && *v)
            roles[shown++] = v;
    }
    if (shown == 0)
        return json_string("<none>");
    qsort(roles, shown, sizeof(*roles), api_cmp_str);
    k3c_buf_init(&b);
    for (size_t i = 0; i < shown; i++) {
        if (i > 0 && strcmp(roles[i], roles[i - 1]) == 0)
            continue;
        k3c_buf_appendf(&b, "%s%s", b.len ? "," : "", roles[i]);
    }
    return api_buf_cell(&b);
}

static json_t *
node_status_cell(const json_t *obj)
{
    const char *ready = api_condition_status(api_json_path(obj, "status.conditions"), "Ready");
    struct k3c_buf b;

    k3c_buf_init(&b);
    if (!ready)
        k3c_buf_appendf(&b, "Unknown");
    else
        k3c_buf_appendf(&b, "%s", strcmp(ready, "True") == 0 ? "Ready" : "NotReady");
    if (api_true_at(obj, "spec.unschedulable"))
        k3c_buf_appendf(&b, ",SchedulingDisabled");
    return api_buf_cell(&b);
}

static const char *
node_address(const json_t *obj, const char *type)
{
    size_t i = 0;
    const json_t *a = NULL;

    json_array_foreach(api_json_path(obj, "status.addresses"), i, a)
    {
        if (strcmp(api_or_else(api_str_at(a, "type"), ""), type) == 0)
            return api_or_else(api_str_at(a, "address"), "");
    }
    return "<none>";
}

json_t *
api_row_node(const json_t *obj, int64_t now_s)
{
    return json_pack(
        "[o o o o s s s s s s]", api_name_cell(obj), node_status_cell(obj),
        node_roles_cell(api_json_path(obj, "metadata.labels")), api_age_cell(obj, now_s),
        api_or_else(api_str_at(obj, "status.nodeInfo.kubeletVersion"), ""),
        node_address(obj, "InternalIP"), node_address(obj, "ExternalIP"),
        api_or_else(api_str_at(obj, "status.nodeInfo.osImage"), "<unknown>"),
        api_or_else(api_str_at(obj, "status.nodeInfo.kernelVersion"), "<unknown>"),
        api_or_else(api_str_at(obj, "status.nodeInfo.containerRuntimeVersion"), "<unknown>"));
}
