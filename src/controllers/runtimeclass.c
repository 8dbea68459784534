/* SPDX-License-Identifier: Apache-2.0
 * runtimeclass.c - the GPU RuntimeClasses (issue #18): once a node
 * advertises nvidia.com/gpu (its agent's CDI devices, docs/gpu.md), the
 * cluster gets the RuntimeClasses `nvidia` (handler nvidia) and
 * `nvidia-cdi` (handler nvidia-cdi) that upstream manifests name
 * (runtimeClassName: nvidia), as the NVIDIA GPU Operator would create them.
 * Created when missing, never changed or deleted: an operator's edits stay. */
#define LOG_COMPONENT "runtimeclass"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

static const char *const gpu_classes[] = {"nvidia", "nvidia-cdi"};

static bool
has_gpus(const json_t *node)
{
    const json_t *cap = json_object_get(json_object_get(node, "status"), "capacity");
    const char *n = json_string_value(json_object_get(cap, "nvidia.com/gpu"));

    return (n && *n && strcmp(n, "0") != 0) ||
           json_integer_value(json_object_get(cap, "nvidia.com/gpu")) > 0;
}

static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED && has_gpus(obj))
        ctl_enqueue_object(c, obj);
}

static int
ensure_class(struct ctl *c, const char *name, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/apis/node.k8s.io/v1/runtimeclasses/%s", name);
    _cleanup_json_ json_t *obj = NULL;
    long code = ctl_api(c, "GET", path, NULL, NULL, NULL, err);

    if (code == 200)
        return 0;
    if (code != 404)
        return -1;
    k3c_err_clear(err);
    obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:s}", "apiVersion", "node.k8s.io/v1", "kind",
                    "RuntimeClass", "metadata", "name", name, "labels",
                    "app.kubernetes.io/managed-by", "k3c", "handler", name);
    code = ctl_api(c, "POST", "/apis/node.k8s.io/v1/runtimeclasses", NULL, obj, NULL, err);
    if (code == 201)
        log_info("RuntimeClass %s created (a node has nvidia.com/gpu)", name);
    if (code == 201 || code == 409) {
        k3c_err_clear(err);
        return 0;
    }
    return -1;
}

static int
sync_node(struct ctl *c, const char *key, struct k3c_err *err)
{
    (void)key;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(gpu_classes); i++)
        if (ensure_class(c, gpu_classes[i], err) < 0)
            return -1;
    return 0;
}

static const struct ctl_watch watches[] = {
    {"nodes", on_node},
    {NULL, NULL},
};

const struct ctl_def ctl_def_runtimeclass = {
    .name = "runtimeclass",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_node,
};
