/* SPDX-License-Identifier: Apache-2.0
 * sched_volume.c - the scheduler's part of volume binding (upstream's
 * VolumeBinding plug-in, trimmed): a pod's PersistentVolumeClaims must
 * exist; a bound claim's volume node affinity restricts the nodes; an
 * unbound claim of a WaitForFirstConsumer class waits for this pod, which
 * picks the node and writes it to the claim's
 * volume.kubernetes.io/selected-node annotation before the pod is bound,
 * so that the provisioner makes the volume there; an unbound claim of an
 * Immediate class keeps the pod pending until the binder binds it. */
#define LOG_COMPONENT "scheduler"
#include "scheduler/scheduler.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "controllers/pvbinder.h"

static const json_t *
at2(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return b ? json_object_get(v, b) : v;
}

/* One claim of the pod: adds its volume's node affinity to selectors or
 * its name to delayed; 1 with msg when the pod must wait. */
static int
check_claim(struct ctl *c, const char *ns, const char *claim, json_t *selectors, json_t *delayed,
            char *msg, size_t len)
{
    _cleanup_json_ json_t *pvc = ctl_get(c, "persistentvolumeclaims", ns, claim);
    _cleanup_json_ json_t *pv = NULL, *sc = NULL;
    const char *vol, *cls, *mode;
    const json_t *req;

    if (!pvc) {
        snprintf(msg, len, "persistentvolumeclaim \"%s\" not found", claim);
        return 1;
    }
    if (at2(pvc, "metadata", "deletionTimestamp")) {
        snprintf(msg, len, "persistentvolumeclaim \"%s\" is being deleted", claim);
        return 1;
    }
    vol = json_string_value(at2(pvc, "spec", "volumeName"));
    if (vol && *vol) {
        pv = ctl_get(c, "persistentvolumes", NULL, vol);
        if (!pv) {
            snprintf(msg, len, "pvc(s) bound to non-existent pv(s)");
            return 1;
        }
        req = at2(at2(pv, "spec", "nodeAffinity"), "required", NULL);
        if (req)
            json_array_append(selectors, (json_t *)req);
        return 0;
    }
    cls = json_string_value(at2(pvc, "spec", "storageClassName"));
    sc = cls && *cls ? ctl_get(c, "storageclasses", NULL, cls) : NULL;
    mode = json_string_value(json_object_get(sc, "volumeBindingMode"));
    if (mode && strcmp(mode, "WaitForFirstConsumer") == 0) {
        json_array_append_new(delayed, json_string(claim));
        return 0;
    }
    snprintf(msg, len, "pod has unbound immediate PersistentVolumeClaims");
    return 1;
}

int
sched_pod_volumes(struct ctl *c, const json_t *pod, json_t **selectors, json_t **delayed, char *msg,
                  size_t len)
{
    const char *ns = json_string_value(at2(pod, "metadata", "namespace"));
    size_t i;
    const json_t *v;

    *selectors = json_array();
    *delayed = json_array();
    json_array_foreach(at2(pod, "spec", "volumes"), i, v)
    {
        const char *claim = json_string_value(at2(v, "persistentVolumeClaim", "claimName"));

        if (claim && check_claim(c, ns ? ns : "default", claim, *selectors, *delayed, msg, len))
            return 1;
    }
    return 0;
}

bool
sched_volumes_fit(const json_t *selectors, const json_t *node)
{
    size_t i;
    const json_t *sel;

    json_array_foreach(selectors, i, sel)
    {
        if (!pvb_node_selector_matches(sel, node))
            return false;
    }
    return true;
}

int
sched_volumes_select_node(struct ctl *c, const char *ns, const json_t *delayed, const char *node,
                          struct k3c_err *err)
{
    size_t i;
    const json_t *v;

    json_array_foreach(delayed, i, v)
    {
        _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/persistentvolumeclaims/%s",
                                                  ns, json_string_value(v));
        _cleanup_json_ json_t *body =
            json_pack("{s:{s:{s:s}}}", "metadata", "annotations", PVB_SELECTED_NODE, node);
        long code = ctl_api(c, "PATCH", path, "application/merge-patch+json", body, NULL, err);

        if (code < 200 || code >= 300)
            return -1;
        log_info("(pvc %s/%s) selected node %s", ns, json_string_value(v), node);
    }
    return 0;
}
