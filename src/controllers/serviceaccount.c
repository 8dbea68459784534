/* SPDX-License-Identifier: Apache-2.0
 * serviceaccount.c - the ServiceAccount "default" in every active namespace
 * (upstream's serviceaccount-controller): created with the namespace and
 * again whenever it is deleted. Keys are namespace names. */
#define LOG_COMPONENT "serviceaccount"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

static void
on_namespace(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED && !ctl_being_deleted(obj))
        ctl_enqueue_object(c, obj);
}

static void
on_serviceaccount(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));

    (void)old;
    if (ev == CTL_DELETED && name && ns && strcmp(name, "default") == 0)
        ctl_enqueue(c, ns);
}

static int
sync_namespace(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *ns = ctl_get(c, "namespaces", NULL, key);
    _cleanup_json_ json_t *sa = NULL, *body = NULL;
    _cleanup_free_ char *path = NULL;
    long code;

    if (!ns || ctl_being_deleted(ns))
        return 0;
    sa = ctl_get(c, "serviceaccounts", key, "default");
    if (sa)
        return 0;
    path = k3c_xasprintf("/api/v1/namespaces/%s/serviceaccounts", key);
    body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
                     "metadata", "name", "default");
    code = ctl_api(c, "POST", path, NULL, body, NULL, err);
    if (code == 201) {
        log_debug("(%s) created ServiceAccount default", key);
        return 0;
    }
    /* 409: there already; 403/404: the namespace is going away. */
    if (code == 409 || code == 403 || code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return -1;
}

static void
start(struct ctl *c)
{
    ctl_enqueue_all(c, "namespaces");
}

static const struct ctl_watch watches[] = {
    {"namespaces", on_namespace},
    {"serviceaccounts", on_serviceaccount},
    {NULL, NULL},
};

const struct ctl_def ctl_def_serviceaccount = {
    .name = "serviceaccount",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_namespace,
    .start = start,
};
