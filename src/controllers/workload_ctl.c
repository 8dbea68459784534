/* SPDX-License-Identifier: Apache-2.0
 * workload_ctl.c - the API side the workload controllers share: listing a
 * namespace's pods, creating and deleting pods with their events, adopting
 * and releasing pods by ownerReference, writing status subresources. */
#define LOG_COMPONENT "workloads"
#include "controllers/controller.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

int64_t
wl_now(void)
{
    return (int64_t)time(NULL);
}

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

static bool
collect(void *ud, const json_t *obj)
{
    json_array_append((json_t *)ud, (json_t *)obj);
    return true;
}

json_t *
wl_list_pods(struct ctl *c, const char *ns)
{
    json_t *arr = json_array();

    ctl_list(c, "pods", ns, NULL, collect, arr);
    return arr;
}

struct selecting {
    struct ctl *c;
    const json_t *labels;
};

static bool
enqueue_if_selecting(void *ud, const json_t *obj)
{
    struct selecting *s = ud;
    const json_t *sel = json_object_get(json_object_get(obj, "spec"), "selector");

    /* An empty selector selects nothing here (upstream ignores
     * controllers with an empty selector when matching orphans). */
    if (json_object_size(sel) > 0 && ctl_selector_matches(sel, s->labels))
        ctl_enqueue_object(s->c, obj);
    return true;
}

void
wl_enqueue_selecting(struct ctl *c, const char *resource, const json_t *obj)
{
    struct selecting s = {.c = c,
                          .labels = json_object_get(json_object_get(obj, "metadata"), "labels")};

    ctl_list(c, resource, wl_str(obj, "metadata.namespace"), NULL, enqueue_if_selecting, &s);
}

int
wl_create_pod(struct ctl *c, const json_t *owner, json_t *pod_take, struct k3c_err *err)
{
    _cleanup_json_ json_t *pod = pod_take;
    _cleanup_json_ json_t *out = NULL;
    _cleanup_free_ char *path =
        k3c_xasprintf("/api/v1/namespaces/%s/pods", or_empty(wl_str(pod, "metadata.namespace")));
    long code = ctl_api(c, "POST", path, NULL, pod, &out, err);

    if (code < 200 || code >= 300) {
        ctl_event(c, owner, "Warning", "FailedCreate", "Error creating: %s", err->msg);
        return -1;
    }
    ctl_event(c, owner, "Normal", "SuccessfulCreate", "Created pod: %s",
              or_empty(wl_str(out, "metadata.name")));
    return 0;
}

int
wl_delete_pod(struct ctl *c, const json_t *owner, const json_t *pod, struct k3c_err *err)
{
    const char *name = or_empty(wl_str(pod, "metadata.name"));
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s",
                                              or_empty(wl_str(pod, "metadata.namespace")), name);
    long code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);

    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (code < 200 || code >= 300) {
        ctl_event(c, owner, "Warning", "FailedDelete", "Error deleting: %s", err->msg);
        return -1;
    }
    ctl_event(c, owner, "Normal", "SuccessfulDelete", "Deleted pod: %s", name);
    return 0;
}

int
wl_claim(struct ctl *c, const json_t *owner, const json_t *obj, const char *plural, bool adopt,
         struct k3c_err *err)
{
    const char *uid = wl_str(owner, "metadata.uid");
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *refs = json_object_get(meta, "ownerReferences");
    json_t *keep = json_array();
    _cleanup_json_ json_t *patch = NULL;
    _cleanup_free_ char *path = wl_object_path(obj, plural);
    size_t i;
    json_t *r;
    long code;

    json_array_foreach(refs, i, r)
    {
        if (strcmp(or_empty(wl_str(r, "uid")), or_empty(uid)) != 0)
            json_array_append(keep, r);
    }
    if (adopt)
        json_array_append_new(keep, ctl_owner_ref(owner));
    /* A merge patch replaces the whole list (null removes it); the
     * resourceVersion makes it a compare-and-swap, as upstream's adoption
     * patch is guarded by the object's uid. */
    if (json_array_size(keep) == 0) {
        json_decref(keep);
        keep = json_null();
    }
    patch = json_pack("{s:{s:o,s:O*}}", "metadata", "ownerReferences", keep, "resourceVersion",
                      json_object_get(meta, "resourceVersion"));
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code >= 200 && code < 300 ? 0 : -1;
}

char *
wl_object_path(const json_t *obj, const char *plural)
{
    /* The workload controllers touch these kinds only. */
    static const char *const prefix[][2] = {
        {"pods", "/api/v1"},
        {"replicasets", "/apis/apps/v1"},
        {"deployments", "/apis/apps/v1"},
        {"daemonsets", "/apis/apps/v1"},
        {"jobs", "/apis/batch/v1"},
        {"cronjobs", "/apis/batch/v1"},
        {"statefulsets", "/apis/apps/v1"},
        {"controllerrevisions", "/apis/apps/v1"},
        {"poddisruptionbudgets", "/apis/policy/v1"},
    };
    const char *p = "/api/v1";

    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++) {
        if (strcmp(prefix[i][0], plural) == 0)
            p = prefix[i][1];
    }
    return k3c_xasprintf("%s/namespaces/%s/%s/%s", p, or_empty(wl_str(obj, "metadata.namespace")),
                         plural, or_empty(wl_str(obj, "metadata.name")));
}

int
wl_put_status(struct ctl *c, const json_t *obj, const char *plural, json_t *status_take,
              struct k3c_err *err)
{
    _cleanup_json_ json_t *status = status_take;
    _cleanup_json_ json_t *body = NULL;
    _cleanup_free_ char *base = NULL;
    _cleanup_free_ char *path = NULL;
    long code;

    if (json_equal(json_object_get(obj, "status"), status))
        return 0;
    body = json_deep_copy(obj);
    json_object_set(body, "status", status);
    base = wl_object_path(obj, plural);
    path = k3c_xasprintf("%s/status", base);
    code = ctl_api(c, "PUT", path, NULL, body, NULL, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code >= 200 && code < 300 ? 0 : -1;
}

const char *
wl_enqueue_controller(struct ctl *c, const json_t *obj, const char *kind)
{
    const json_t *ref = ctl_controller_ref(obj);
    const char *ns = wl_str(obj, "metadata.namespace");
    char key[512];

    if (!ref || strcmp(or_empty(wl_str(ref, "kind")), kind) != 0 || !wl_str(ref, "name"))
        return NULL;
    snprintf(key, sizeof(key), "%s/%s", or_empty(ns), wl_str(ref, "name"));
    ctl_enqueue(c, key);
    return wl_str(ref, "uid");
}
