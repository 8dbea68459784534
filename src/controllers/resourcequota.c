/* SPDX-License-Identifier: Apache-2.0
 * resourcequota.c - the ResourceQuota status controller, after upstream's
 * pkg/controller/resourcequota (Kubernetes 1.32): for each quota,
 * status.hard is spec.hard and status.used what the namespace's objects
 * use of each name (src/quota/quota.c). A quota is recomputed when it is
 * made or its spec changes, when a pod, service, configmap, secret or
 * claim of its namespace goes (or a pod finishes, or a spec changes), and
 * every 60 s (object counts of other kinds). The
 * admission side (src/api/kind_quota.c) raises status.used on each create;
 * this loop brings it back down when objects go. */
#define LOG_COMPONENT "resourcequota"
#include "controllers/controller.h"
#include "controllers/controllers.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "quota/quota.h"

#define QUOTA_RESYNC_MS 60000

/* A new quota or a changed spec. Not status updates: each admitted create
 * writes one, and a recount from the cache then could miss the object
 * still being written (upstream ignores them too). */
static void
on_quota(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    if (ev == CTL_MODIFIED &&
        json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
        return;
    ctl_enqueue_object(c, obj);
}

static bool
enqueue_quota(void *ud, const json_t *quota)
{
    ctl_enqueue_object(ud, quota);
    return true;
}

static bool
finished(const json_t *pod)
{
    const char *phase = wl_str(pod, "status.phase");

    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* Replenishment, as upstream: the quotas of the namespace are recomputed
 * when a counted object goes, a pod finishes or a spec changes (a claim
 * resized, a service's type). Not on creates: the admission charged those
 * already, and a recount from the cache could miss one still being
 * written and hand its room out twice. */
static void
on_object(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    if (ev == CTL_ADDED)
        return;
    if (ev == CTL_MODIFIED && !(finished(obj) && !finished(old)) &&
        json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
        return;
    ctl_list(c, "resourcequotas", wl_str(obj, "metadata.namespace"), NULL, enqueue_quota, c);
}

static void
quota_start(struct ctl *c)
{
    ctl_enqueue_all(c, "resourcequotas");
}

static void
quota_tick(struct ctl *c)
{
    ctl_enqueue_all(c, "resourcequotas");
}

struct usage_ctx {
    const json_t *quota, *hard;
    const struct api_resource *res;
    json_t *usage;
};

static bool
add_object(void *ud, const json_t *obj)
{
    struct usage_ctx *x = ud;

    if (!ctl_being_deleted(obj) || strcmp(x->res->plural, "pods") == 0)
        if (quota_counts(x->quota, x->res->plural, obj))
            quota_usage_add(x->usage, x->hard, x->res->plural, x->res->group, obj);
    return true;
}

/* The namespaced kinds whose objects the names in hard count. */
static bool
resource_needed(const struct api_resource *r, const json_t *hard)
{
    _cleanup_json_ json_t *probe = json_object();
    _cleanup_json_ json_t *pod = json_pack("{s:{s:[{s:s}]}}", "spec", "containers", "name", "x");
    _cleanup_json_ json_t *svc =
        json_pack("{s:{s:s,s:[{}]}}", "spec", "type", "LoadBalancer", "ports");

    if (!r->namespaced || r->not_stored)
        return false;
    for (const struct api_resource *e = api_resources; e != r; e++)
        if (strcmp(e->plural, r->plural) == 0 && strcmp(e->group, r->group) == 0)
            return false; /* served in several versions: count once */
    /* an object of this kind would use some name of hard */
    quota_usage_add(probe, hard, r->plural, r->group,
                    strcmp(r->plural, "services") == 0 ? svc : pod);
    return json_object_size(probe) > 0;
}

static int
quota_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *quota = NULL, *usage = json_object();
    const json_t *hard;
    json_t *status, *used_out, *hard_out;
    const char *k;
    json_t *v;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    quota = ctl_get(c, "resourcequotas", ns, name);
    if (!quota || ctl_being_deleted(quota))
        return 0;
    hard = json_object_get(json_object_get(quota, "spec"), "hard");
    for (const struct api_resource *r = api_resources; r->kind; r++) {
        struct usage_ctx x = {quota, hard, r, usage};

        if (json_object_size(hard) && resource_needed(r, hard))
            ctl_list(c, r->plural, ns, NULL, add_object, &x);
    }
    status = json_object();
    hard_out = json_object();
    used_out = json_object();
    json_object_foreach((json_t *)hard, k, v)
    {
        int64_t h = 0;
        _cleanup_free_ char *hs = NULL, *us = NULL;

        if (!quota_parse(v, &h))
            continue;
        hs = quota_format(h, json_string_value(v));
        us = quota_format(json_integer_value(json_object_get(usage, k)), hs);
        json_object_set_new(hard_out, k, json_string(hs));
        json_object_set_new(used_out, k, json_string(us));
    }
    json_object_set_new(status, "hard", hard_out);
    json_object_set_new(status, "used", used_out);
    return wl_put_status(c, quota, "resourcequotas", status, err);
}

static const struct ctl_watch quota_watches[] = {
    {"resourcequotas", on_quota},
    {"pods", on_object},
    {"services", on_object},
    {"configmaps", on_object, .metadata_only = true}, /* no spec, no status */
    {"secrets", on_object, .metadata_only = true},    /* no spec, no status */
    {"persistentvolumeclaims", on_object},
    {NULL, NULL},
};

const struct ctl_def ctl_def_resourcequota = {
    .name = "resourcequota",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = quota_watches,
    .sync = quota_sync,
    .start = quota_start,
    .period_ms = QUOTA_RESYNC_MS,
    .tick = quota_tick,
};
