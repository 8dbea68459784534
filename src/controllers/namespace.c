/* SPDX-License-Identifier: Apache-2.0
 * namespace.c - namespace deletion (upstream's namespace-controller): a
 * namespace with a deletionTimestamp and the "kubernetes" finalizer has
 * every namespaced object in it deleted (one deletecollection per kind that
 * has any), is checked again each second until the API lists nothing in it,
 * and then gets the finalizer removed through namespaces/<n>/finalize, after
 * which the API server deletes it. Keys are namespace names. */
#define LOG_COMPONENT "namespace"
#include "controllers/controllers.h"
#include "controllers/lifecycle.h"

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

#define NS_RECHECK_MS 1000

static void
on_namespace(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED && ctl_being_deleted(obj))
        ctl_enqueue_object(c, obj);
}

static bool
spec_has_finalizer(const json_t *ns, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(json_object_get(ns, "spec"), "finalizers"), i, f)
    {
        if (json_string_value(f) && strcmp(json_string_value(f), name) == 0)
            return true;
    }
    return false;
}

struct ns_count {
    size_t all, live; /* live: not being deleted yet */
};

static bool
count_one(void *ud, const json_t *obj)
{
    struct ns_count *n = ud;

    n->all++;
    if (!ctl_being_deleted(obj))
        n->live++;
    return true;
}

/* Deletes everything of kind res in ns. The number left (cache view). */
static size_t
empty_kind(struct ctl *c, const struct api_resource *res, const char *ns)
{
    struct ns_count n = {0};
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *opts = NULL;
    struct k3c_err err = {0};

    ctl_list(c, res->plural, ns, NULL, count_one, &n);
    /* Custom resources have no informer here: the API deletes what is left. */
    if (n.live > 0 || api_resource_is_custom(res)) {
        path = lc_object_path(res, ns, NULL);
        opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                         "propagationPolicy", "Background");
        if (ctl_api(c, "DELETE", path, NULL, opts, NULL, &err) < 200 || err.kind)
            log_warn("(%s) deleting %s: %s", ns, res->plural, err.msg);
    }
    return n.all;
}

/* True if the API (not only the cache) lists nothing of any kind in ns. */
static bool
api_empty(struct ctl *c, const char *ns, struct k3c_err *err)
{
    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r)) {
        _cleanup_free_ char *path = NULL, *q = NULL;
        _cleanup_json_ json_t *list = NULL;

        if (!r->namespaced)
            continue;
        path = lc_object_path(r, ns, NULL);
        q = k3c_xasprintf("%s?limit=1", path);
        if (ctl_api(c, "GET", q, NULL, NULL, &list, err) != 200)
            return false;
        if (json_array_size(json_object_get(list, "items")) > 0)
            return false;
    }
    return true;
}

static int
finalize(struct ctl *c, const char *name, json_t *ns, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/finalize", name);
    json_t *spec = json_object_get(ns, "spec");
    json_t *left = json_array();
    size_t i;
    json_t *f;
    long code;

    json_array_foreach(json_object_get(spec, "finalizers"), i, f)
    {
        if (!json_string_value(f) || strcmp(json_string_value(f), "kubernetes") != 0)
            json_array_append(left, f);
    }
    json_object_set_new(spec, "finalizers", left);
    code = ctl_api(c, "PUT", path, NULL, ns, NULL, err);
    if (code == 200 || code == 404) {
        k3c_err_clear(err);
        log_info("(%s) emptied; finalized", name);
        return 0;
    }
    return -1;
}

static int
sync_namespace(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *ns = ctl_get(c, "namespaces", NULL, key);
    size_t left = 0;

    if (!ns || !ctl_being_deleted(ns) || !spec_has_finalizer(ns, "kubernetes"))
        return 0;
    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r))
        if (r->namespaced)
            left += empty_kind(c, r, key);
    if (left > 0 || !api_empty(c, key, err)) {
        k3c_err_clear(err);
        ctl_enqueue_after(c, key, NS_RECHECK_MS);
        return 0;
    }
    return finalize(c, key, ns, err);
}

static bool
enqueue_deleting(void *ud, const json_t *obj)
{
    if (ctl_being_deleted(obj))
        ctl_enqueue_object(ud, obj);
    return true;
}

static void
start(struct ctl *c)
{
    ctl_list(c, "namespaces", NULL, NULL, enqueue_deleting, c);
}

static const struct ctl_watch watches[] = {
    {"namespaces", on_namespace},
    {NULL, NULL},
};

const struct ctl_def ctl_def_namespace = {
    .name = "namespace",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_namespace,
    .start = start,
};
