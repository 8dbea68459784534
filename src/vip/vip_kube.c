/* SPDX-License-Identifier: Apache-2.0
 * vip_kube.c - who holds the VIP, as Kubernetes shows it: the annotation
 * vip.k3c.io/holder=<vip> on the holder's Node only (`k3c lab` and
 * `kubectl get nodes -o yaml` read it) and an Event when the VIP moves.
 * Best effort: the election never waits on these writes. */
#define LOG_COMPONENT "vip"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "vip/vip-internal.h"

#include <string.h>

#define VIP_ANNOTATION "vip.k3c.io/holder"

static int
annotate(struct http_client *api, const char *node, const char *value, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", node);
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:{s:o}}}", "metadata", "annotations", VIP_ANNOTATION,
                  value ? json_string(value) : json_null());

    if (http_client_json(api, "PATCH", path, "application/merge-patch+json", patch, NULL, err) <
            0 ||
        err->kind != K3C_E_NONE)
        return -1;
    return 0;
}

/* Removes the annotation for vip from every Node but keep. */
static int
unannotate_others(struct http_client *api, const char *vip, const char *keep, struct k3c_err *err)
{
    _cleanup_json_ json_t *list = NULL;
    const json_t *items, *item;
    size_t i;

    if (http_client_json(api, "GET", "/api/v1/nodes", NULL, NULL, &list, err) < 0 ||
        err->kind != K3C_E_NONE)
        return -1;
    items = json_object_get(list, "items");
    json_array_foreach(items, i, item)
    {
        const json_t *meta = json_object_get(item, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *val = json_string_value(
            json_object_get(json_object_get(meta, "annotations"), VIP_ANNOTATION));

        if (!name || !val || strcmp(val, vip) != 0 || strcmp(name, keep) == 0)
            continue;
        if (annotate(api, name, NULL, err) < 0 && err->kind != K3C_E_NOT_FOUND)
            return -1;
        k3c_err_clear(err);
    }
    return 0;
}

static void
post_event(struct http_client *api, const char *vip, const char *node, const char *prev)
{
    char now[40], name[128];
    unsigned char rnd[4];
    _cleanup_json_ json_t *ev = NULL;
    _cleanup_free_ char *msg = NULL;
    struct k3c_err err = {0};

    k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
    k3c_random_bytes(rnd, sizeof(rnd));
    snprintf(name, sizeof(name), "%s.vip.%02x%02x%02x%02x", node, rnd[0], rnd[1], rnd[2], rnd[3]);
    msg = prev && *prev ? k3c_xasprintf("VIP %s moved from %s to %s", vip, prev, node)
                        : k3c_xasprintf("VIP %s acquired by %s", vip, node);
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s, s:s}, "
                   "s:s, s:s, s:i, s:s, s:s}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                   "default", "involvedObject", "apiVersion", "v1", "kind", "Node", "name", node,
                   "reason", "VIPAcquired", "message", msg, "type", "Normal", "source", "component",
                   "k3c-vip", "host", node, "firstTimestamp", now, "lastTimestamp", now, "count", 1,
                   "reportingComponent", "k3c-vip", "reportingInstance", node);
    if (http_client_json(api, "POST", "/api/v1/namespaces/default/events", NULL, ev, NULL, &err) <
            0 ||
        err.kind != K3C_E_NONE)
        log_warn("(vip %s) event: %s", vip, err.msg);
}

int
vip_kube_publish(struct http_client *api, const char *vip, const char *node,
                 const char *prev_holder, bool with_event, struct k3c_err *err)
{
    if (with_event)
        post_event(api, vip, node, prev_holder);
    if (unannotate_others(api, vip, node, err) < 0)
        return k3c_err_wrap(err, "remove %s from other nodes", VIP_ANNOTATION);
    if (annotate(api, node, vip, err) < 0)
        return k3c_err_wrap(err, "annotate node %s", node);
    return 0;
}
