/* SPDX-License-Identifier: Apache-2.0
 * agent_devices.c - the node's CDI devices (issue #18) on its Node: one
 * extended resource per CDI kind in capacity and allocatable (the kubelet
 * hands the devices out, kubelet_devices.c), and the GPU model as the
 * label GPU feature discovery uses (nvidia.com/gpu.product). The spec
 * directories are checked on every heartbeat; a change is written at once.
 * Device plugins' resources (deviceplugin.h) too: all their devices in
 * capacity, the healthy ones of a live plugin in allocatable. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "cdi/cdi.h"
#include "deviceplugin/deviceplugin.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

void
agent_devices_init(struct agent *a, char *const *spec_dirs)
{
    a->cdi = cdi_registry_new(spec_dirs);
    cdi_registry_refresh(a->cdi);
}

void
agent_devices_plugins_init(struct agent *a, const char *dir)
{
    _cleanup_free_ char *def = k3c_xasprintf("%s/device-plugins", a->paths.dir);
    struct k3c_err err = {0};

    a->dp = deviceplugin_new(dir ? dir : def, &err);
    if (!a->dp)
        log_error("(node %s) device plugins cannot register: %s", a->node_name, err.msg);
}

void
agent_devices_fini(struct agent *a)
{
    deviceplugin_free(a->dp);
    a->dp = NULL;
    cdi_registry_free(a->cdi);
    a->cdi = NULL;
}

/* A kind is a resource name (and "<kind>.product" a label key) only with a
 * lower-case DNS vendor and a short class: CDI allows more (upper case,
 * '_'), which would get the Node refused; such kinds are left out. */
static bool
label_key_ok(const char *kind)
{
    const char *slash = strchr(kind, '/');

    if (!slash || slash == kind || slash - kind > 253 || strlen(slash + 1) + 8 > 63)
        return false;
    for (const char *p = kind; p < slash; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    return true;
}

/* {"res": n} into a capacity/allocatable object as quantities. */
static void
set_counts(json_t *obj, json_t *counts)
{
    const char *res;
    json_t *n;

    json_object_foreach(counts, res, n)
    {
        char buf[32];

        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(n));
        json_object_set_new(obj, res, json_string(buf));
    }
}

void
agent_devices_capacity(struct agent *a, json_t *cap)
{
    _cleanup_json_ json_t *res = NULL;
    _cleanup_json_ json_t *plugins = deviceplugin_resources(a->dp, false);
    const char *kind;
    json_t *n;

    set_counts(cap, plugins);
    if (!a->cdi)
        return;
    res = cdi_registry_resources(a->cdi);
    json_object_foreach(res, kind, n)
    {
        char buf[32];

        if (!label_key_ok(kind) || json_object_get(plugins, kind))
            continue; /* a device plugin's resource of the same name wins */
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(n));
        json_object_set_new(cap, kind, json_string(buf));
    }
}

void
agent_devices_allocatable(struct agent *a, json_t *alloc)
{
    _cleanup_json_ json_t *healthy = deviceplugin_resources(a->dp, true);

    set_counts(alloc, healthy);
}

void
agent_devices_labels(struct agent *a, json_t *labels)
{
    _cleanup_json_ json_t *res = NULL;
    const char *kind;
    json_t *n;

    if (!a->cdi)
        return;
    res = cdi_registry_resources(a->cdi);
    json_object_foreach(res, kind, n)
    {
        _cleanup_free_ char *model = cdi_registry_product(a->cdi, kind);
        _cleanup_free_ char *key = k3c_xasprintf("%s.product", kind);

        if (model && label_key_ok(kind))
            json_object_set_new(labels, key, json_string(model));
    }
}

bool
agent_devices_refresh(struct agent *a)
{
    _cleanup_json_ json_t *labels = NULL, *patch = NULL;
    _cleanup_free_ char *path = NULL, *text = NULL;
    struct http_response resp;
    struct k3c_err err = {0};

    bool plugins = deviceplugin_take_changed(a->dp);

    if (!a->cdi || !cdi_registry_refresh(a->cdi))
        return plugins;
    labels = json_object();
    agent_devices_labels(a, labels);
    if (json_object_size(labels) == 0)
        return true;
    patch = json_pack("{s:{s:O}}", "metadata", "labels", labels);
    path = k3c_xasprintf("/api/v1/nodes/%s", a->node_name);
    text = json_dumps(patch, JSON_COMPACT);
    http_response_init(&resp);
    if (http_client_request(a->api, "PATCH", path, "application/merge-patch+json", text,
                            strlen(text), &resp, &err) < 0 ||
        resp.status != 200)
        log_warn("(node %s) device labels: %s", a->node_name, err.msg[0] ? err.msg : "refused");
    http_response_fini(&resp);
    return true;
}
