/* SPDX-License-Identifier: Apache-2.0
 * rootca.c - upstream's root-ca-cert-publisher: the ConfigMap
 * kube-root-ca.crt (data ca.crt: the server CA that signs the API's
 * serving certificate) in every active namespace, created with the
 * namespace and put back when deleted or changed. Pods read it through the
 * kube-api-access-* volume (api_satoken.c). Keys are namespace names. */
#define LOG_COMPONENT "root-ca-publisher"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

#define ROOT_CA_CM "kube-root-ca.crt"

static void
on_namespace(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED && !ctl_being_deleted(obj))
        ctl_enqueue_object(c, obj);
}

static void
on_configmap(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));

    (void)ev;
    (void)old;
    if (name && ns && strcmp(name, ROOT_CA_CM) == 0)
        ctl_enqueue(c, ns);
}

static int
sync_namespace(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *ns = ctl_get(c, "namespaces", NULL, key);
    _cleanup_json_ json_t *cm = NULL, *body = NULL;
    _cleanup_free_ char *pem = NULL, *path = NULL;
    const char *have = NULL;
    long code;

    if (!ns || ctl_being_deleted(ns))
        return 0;
    if (k3c_read_file(ctl_manager_config(ctl_manager(c))->ca_file, &pem, NULL, err) < 0)
        return -1;
    cm = ctl_get(c, "configmaps", key, ROOT_CA_CM);
    have = json_string_value(json_object_get(json_object_get(cm, "data"), "ca.crt"));
    if (have && strcmp(have, pem) == 0)
        return 0;
    body =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                  "metadata", "name", ROOT_CA_CM, "annotations", "kubernetes.io/description",
                  "Contains a CA bundle that can be used to verify the kube-apiserver when "
                  "using internal endpoints such as the internal service IP or "
                  "kubernetes.default.svc. No other usage is guaranteed across distributions "
                  "of Kubernetes clusters.",
                  "data", "ca.crt", pem);
    if (cm) {
        path = k3c_xasprintf("/api/v1/namespaces/%s/configmaps/" ROOT_CA_CM, key);
        code = ctl_api(c, "PUT", path, NULL, body, NULL, err);
    } else {
        path = k3c_xasprintf("/api/v1/namespaces/%s/configmaps", key);
        code = ctl_api(c, "POST", path, NULL, body, NULL, err);
    }
    if (code == 200 || code == 201) {
        log_debug("(%s) published %s", key, ROOT_CA_CM);
        return 0;
    }
    if (code == 403 || code == 404) { /* the namespace is going away */
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
    {"configmaps", on_configmap, .metadata_only = true},
    {NULL, NULL},
};

const struct ctl_def ctl_def_root_ca_publisher = {
    .name = "root-ca-publisher",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_namespace,
    .start = start,
};
