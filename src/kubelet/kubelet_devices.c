/* SPDX-License-Identifier: Apache-2.0
 * kubelet_devices.c - a container's devices (issue #18): each extended
 * resource it asks for (limits, else requests, e.g. nvidia.com/gpu: 2) is
 * a CDI kind; the allocator (cdi/cdi.h) gives the container that many
 * devices no other container holds (the same ones again after a restart
 * of the container or of the agent: checkpointed), and their CDI edits are
 * applied to its config.json when the runtime builds it, with
 * NVIDIA_VISIBLE_DEVICES naming the GPUs. Also the RuntimeClass handler:
 * runc/crun take the node's runtime, nvidia takes nvidia-container-runtime
 * when installed (else the node's runtime: CDI already injects the GPUs).
 * A resource a device plugin serves goes to the plugin instead
 * (deviceplugin.h): same allocator, its answer applied as CDI edits. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "deviceplugin/deviceplugin.h"

#include <string.h>

/* A resource name the kubelet hands out as CDI devices: vendor/class,
 * not a kubernetes.io name (those are native resources). */
static bool
device_resource(const char *name)
{
    return cdi_kind_valid(name, true) && !strstr(name, "kubernetes.io/");
}

static int
take_resource(struct kpod *p, struct kctr *c, const char *res, int64_t n, struct kdevices *d,
              struct k3c_err *err)
{
    struct kubelet *k = p->k;
    _cleanup_free_ char *owner = k3c_xasprintf("%s/%s", p->uid, c->name);
    char **cands = NULL, **got = NULL;
    size_t have = 0, add = 0;
    int rc;

    if (k->devalloc && deviceplugin_serves(k->dp, res)) {
        if (!d->dp_edits)
            d->dp_edits = json_object();
        return deviceplugin_allocate(k->dp, k->devalloc, owner, res, n, d->dp_edits, &d->devices,
                                     err);
    }
    if (!k->cdi || !k->devalloc)
        return k3c_err_set(err, K3C_E_CONFLICT, "Insufficient %s: this node has no CDI devices",
                           res);
    cands = cdi_registry_devices(k->cdi, res);
    rc = cdi_alloc_take(k->devalloc, owner, res, n, cands, &got, err);
    k3c_strv_free(cands);
    if (rc < 0)
        return -1;
    while (d->devices && d->devices[have])
        have++;
    while (got[add])
        add++;
    d->devices = k3c_xrealloc(d->devices, (have + add + 1) * sizeof(char *));
    memcpy(d->devices + have, got, (add + 1) * sizeof(char *));
    free(got);
    return 0;
}

int
kubelet_devices_prepare(struct kpod *p, struct kctr *c, struct kdevices *d, struct k3c_err *err)
{
    const json_t *res = json_object_get(c->spec, "resources");
    const json_t *lim = json_object_get(res, "limits"), *req = json_object_get(res, "requests");
    const char *name;
    json_t *v;

    d->devices = NULL; /* nvidia_runtime is the handler's, set before */
    d->dp_edits = NULL;
    d->reg = p->k->cdi;
    /* Extended resources cannot be overcommitted: limits == requests,
     * and either alone names the amount. */
    json_object_foreach((json_t *)(lim ? lim : req), name, v)
    {
        const char *s = json_string_value(v);
        int64_t n = json_is_integer(v) ? json_integer_value(v) : (s ? strtoll(s, NULL, 10) : 0);

        if (!device_resource(name) || n <= 0)
            continue;
        if (take_resource(p, c, name, n, d, err) < 0) {
            kubelet_devices_fini(d);
            return -1;
        }
    }
    if (lim)
        json_object_foreach((json_t *)req, name,
                            v) if (device_resource(name) && !json_object_get(lim, name))
        {
            kubelet_devices_fini(d);
            return k3c_err_set(err, K3C_E_INVALID, "%s: a request without a limit", name);
        }
    if (d->devices)
        log_info("(pod %s/%s) %s gets devices %s%s", p->ns, p->name, c->name, d->devices[0],
                 d->devices[1] ? ", ..." : "");
    return 0;
}

/* "0,1": the names of the nvidia.com/gpu devices, or NULL. */
static char *
nvidia_visible(char *const *devices)
{
    char *out = NULL;

    for (size_t i = 0; devices && devices[i]; i++) {
        const char *pre = "nvidia.com/gpu=";
        char *next;

        if (strncmp(devices[i], pre, strlen(pre)) != 0)
            continue;
        next = out ? k3c_xasprintf("%s,%s", out, devices[i] + strlen(pre))
                   : k3c_xstrdup(devices[i] + strlen(pre));
        free(out);
        out = next;
    }
    return out;
}

/* The CDI edits of the devices; under nvidia-container-runtime the NVIDIA
 * ones are left to it (it injects what NVIDIA_VISIBLE_DEVICES names, from
 * the same driver files: applying both would mount them twice). */
static int
apply_devices(struct kdevices *d, json_t *cfg, struct k3c_err *err)
{
    char **mine = k3c_xcalloc(1, sizeof(char *));
    size_t n = 0;
    int rc;

    for (size_t i = 0; d->devices[i]; i++) {
        if (d->nvidia_runtime && strncmp(d->devices[i], "nvidia.com/", 11) == 0)
            continue;
        mine = k3c_xrealloc(mine, (n + 2) * sizeof(char *));
        mine[n++] = d->devices[i];
        mine[n] = NULL;
    }
    rc = n ? cdi_registry_apply(d->reg, cfg, mine, err) : 0;
    free(mine);
    return rc;
}

/* What device plugins answered: CDI edits, and annotations for the OCI
 * config (as CRI runtimes pass a container's annotations on). */
static int
apply_plugin_edits(const json_t *dp_edits, json_t *cfg, struct k3c_err *err)
{
    _cleanup_json_ json_t *edits = json_deep_copy(dp_edits);
    json_t *ann = json_object_get(edits, "annotations");

    if (ann) {
        json_t *cur = json_object_get(cfg, "annotations");

        if (!json_is_object(cur)) {
            cur = json_object();
            json_object_set_new(cfg, "annotations", cur);
        }
        json_object_update(cur, ann);
        json_object_del(edits, "annotations");
    }
    return cdi_edits_apply(cfg, edits, err);
}

int
kubelet_devices_edit(json_t *cfg, void *ud, struct k3c_err *err)
{
    struct kdevices *d = ud;
    _cleanup_free_ char *vis = NULL;
    _cleanup_json_ json_t *env = NULL;

    if (d->devices && apply_devices(d, cfg, err) < 0)
        return -1;
    if (d->dp_edits && apply_plugin_edits(d->dp_edits, cfg, err) < 0)
        return -1;
    vis = nvidia_visible(d->devices);
    /* Under nvidia-container-runtime a container without GPUs must not get
     * the image's NVIDIA_VISIBLE_DEVICES=all (as the device plugin does). */
    if (!vis && d->nvidia_runtime)
        vis = k3c_xstrdup("void");
    if (!vis)
        return 0;
    env = json_pack("{s:[s+]}", "env", "NVIDIA_VISIBLE_DEVICES=", vis);
    return cdi_edits_apply(cfg, env, err);
}

void
kubelet_devices_fini(struct kdevices *d)
{
    k3c_strv_free(d->devices);
    d->devices = NULL;
    json_decref(d->dp_edits);
    d->dp_edits = NULL;
}

void
kubelet_devices_release(struct kubelet *k, const char *uid, const char *ctr)
{
    _cleanup_free_ char *owner = k3c_xasprintf("%s/%s", uid, ctr ? ctr : "");
    int n;

    if (!k->devalloc)
        return;
    n = cdi_alloc_release(k->devalloc, owner);
    if (n > 0)
        log_info("(pod %s) %d devices freed%s%s", uid, n, ctr ? " by " : "", ctr ? ctr : "");
}

int
kubelet_runtime_handler(struct kpod *p, const char **path, bool *nvidia, struct k3c_err *err)
{
    struct kubelet *k = p->k;
    const char *rc = json_string_value(
        json_object_get(json_object_get(p->spec_pod, "spec"), "runtimeClassName"));
    _cleanup_free_ char *api = NULL;
    _cleanup_json_ json_t *obj = NULL;
    const char *handler;
    long st;

    *path = NULL;
    *nvidia = false;
    if (!rc || !*rc)
        return 0;
    api = k3c_xasprintf("/apis/node.k8s.io/v1/runtimeclasses/%s", rc);
    st = kubelet_api(k, "GET", api, NULL, NULL, &obj, err);
    if (st == 404) {
        k3c_err_clear(err);
        return k3c_err_set(err, K3C_E_NOT_FOUND, "RuntimeClass \"%s\" not found", rc);
    }
    if (st != 200)
        return -1;
    handler = json_string_value(json_object_get(obj, "handler"));
    if (!handler || strcmp(handler, "runc") == 0 || strcmp(handler, "crun") == 0 ||
        strcmp(handler, k->runtime_name) == 0)
        return 0;
    if (strcmp(handler, "nvidia") == 0 || strcmp(handler, "nvidia-cdi") == 0) {
        *path = strcmp(handler, "nvidia") == 0 ? k->nvidia_runtime : k->nvidia_cdi_runtime;
        *nvidia = *path != NULL;
        return 0;
    }
    /* containerd's words for a handler it has no runtime for */
    return k3c_err_set(err, K3C_E_INVALID,
                       "failed to get sandbox runtime: no runtime for \"%s\" is configured",
                       handler);
}
