/* SPDX-License-Identifier: Apache-2.0
 * endpoints.c - EndpointSlices and Endpoints for Services with a selector
 * (upstream's endpointslice-controller and endpoints-controller in one
 * loop): the selected pods with an IP, grouped by their resolved ports
 * (lifecycle.h, lc_endpoint_groups), become one EndpointSlice per group
 * (labels kubernetes.io/service-name and endpointslice.kubernetes.io/
 * managed-by, owned by the Service so the garbage collector removes them
 * with it) and one legacy Endpoints object named after the Service (ready
 * pods in addresses, the others in notReadyAddresses; deleted with the
 * Service). Services without a selector (default/kubernetes among them) and
 * ExternalName Services are left alone. Keys are "namespace/service". */
#define LOG_COMPONENT "endpoints"
#include "controllers/controllers.h"
#include "controllers/lifecycle.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define MANAGED_BY    "endpointslice-controller.k8s.io"
#define LABEL_SERVICE "kubernetes.io/service-name"
#define LABEL_MANAGED "endpointslice.kubernetes.io/managed-by"
#define SLICES_MAX    64

/* True if the Service selector (a plain map) selects labels; an empty or
 * missing selector selects nothing. */
static bool
selects(const json_t *selector, const json_t *labels)
{
    const char *k;
    json_t *v;

    if (json_object_size(selector) == 0)
        return false;
    json_object_foreach((json_t *)selector, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));

        if (!have || !json_string_value(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

static const json_t *
svc_selector(const json_t *svc)
{
    return json_object_get(json_object_get(svc, "spec"), "selector");
}

static const json_t *
labels_of(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "labels");
}

struct pod_event {
    struct ctl *c;
    const json_t *old, *obj;
};

static bool
enqueue_if_selects(void *ud, const json_t *svc)
{
    struct pod_event *pe = ud;

    if (selects(svc_selector(svc), labels_of(pe->obj)) ||
        (pe->old && selects(svc_selector(svc), labels_of(pe->old))))
        ctl_enqueue_object(pe->c, svc);
    return true;
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    struct pod_event pe = {c, old, obj};
    const char *ns =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));

    (void)ev;
    ctl_list(c, "services", ns, NULL, enqueue_if_selects, &pe);
}

static void
on_service(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static void
on_slice(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *svc = json_string_value(json_object_get(labels_of(obj), LABEL_SERVICE));
    const char *by = json_string_value(json_object_get(labels_of(obj), LABEL_MANAGED));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    char key[512];

    (void)old;
    /* Someone deleted one of ours: put it back. (Not on changes: our own
     * writes would come back here.) */
    if (ev != CTL_DELETED || !svc || !ns || !by || strcmp(by, MANAGED_BY) != 0)
        return;
    snprintf(key, sizeof(key), "%s/%s", ns, svc);
    ctl_enqueue(c, key);
}

struct pod_list {
    const json_t *selector;
    json_t *pods;
};

static bool
collect_pod(void *ud, const json_t *pod)
{
    struct pod_list *l = ud;

    if (selects(l->selector, labels_of(pod)))
        json_array_append(l->pods, (json_t *)pod);
    return true;
}

struct slice_list {
    json_t *v[SLICES_MAX];
    size_t n;
};

static bool
collect_slice(void *ud, const json_t *slice)
{
    struct slice_list *l = ud;

    if (l->n < SLICES_MAX)
        l->v[l->n++] = json_deep_copy(slice);
    return true;
}

static int
by_name(const void *a, const void *b)
{
    const json_t *sa = *(json_t *const *)a, *sb = *(json_t *const *)b;
    const char *na = json_string_value(json_object_get(json_object_get(sa, "metadata"), "name"));
    const char *nb = json_string_value(json_object_get(json_object_get(sb, "metadata"), "name"));

    return strcmp(na ? na : "", nb ? nb : "");
}

static json_t *
slice_new(const json_t *svc, const char *ns, const char *name, const json_t *group)
{
    json_t *s =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:[o]}, s:s, s:O, s:O}", "apiVersion",
                  "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "generateName", "",
                  "namespace", ns, "labels", LABEL_SERVICE, name, LABEL_MANAGED, MANAGED_BY,
                  "ownerReferences", ctl_owner_ref(svc), "addressType", "IPv4", "endpoints",
                  json_object_get(group, "endpoints"), "ports", json_object_get(group, "ports"));
    _cleanup_free_ char *gen = k3c_xasprintf("%s-", name);

    json_object_set_new(json_object_get(s, "metadata"), "generateName", json_string(gen));
    return s;
}

static bool
slice_matches(const json_t *have, const json_t *want)
{
    const json_t *hl = labels_of(have), *wl = labels_of(want);
    const json_t *he = json_object_get(have, "endpoints"), *hp = json_object_get(have, "ports");
    _cleanup_json_ json_t *empty = json_array();

    return json_equal(he ? he : empty, json_object_get(want, "endpoints")) &&
           json_equal(hp ? hp : empty, json_object_get(want, "ports")) &&
           json_equal(json_object_get(hl, LABEL_SERVICE), json_object_get(wl, LABEL_SERVICE)) &&
           json_equal(json_object_get(hl, LABEL_MANAGED), json_object_get(wl, LABEL_MANAGED));
}

/* Creates, updates or deletes slice i (have may be NULL; want may be NULL). */
static int
write_slice(struct ctl *c, const char *ns, json_t *have, json_t *want, struct k3c_err *err)
{
    _cleanup_free_ char *coll =
        k3c_xasprintf("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", ns);
    _cleanup_free_ char *path = NULL;
    const char *hname =
        have ? json_string_value(json_object_get(json_object_get(have, "metadata"), "name")) : NULL;
    long code;

    if (!have)
        return ctl_api(c, "POST", coll, NULL, want, NULL, err) == 201 ? 0 : -1;
    path = k3c_xasprintf("%s/%s", coll, hname ? hname : "");
    if (!want) {
        code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
        if (code == 404)
            k3c_err_clear(err);
        return code == 200 || code == 404 ? 0 : -1;
    }
    if (slice_matches(have, want))
        return 0;
    json_object_set(json_object_get(want, "metadata"), "name",
                    json_object_get(json_object_get(have, "metadata"), "name"));
    json_object_del(json_object_get(want, "metadata"), "generateName");
    json_object_set(json_object_get(want, "metadata"), "resourceVersion",
                    json_object_get(json_object_get(have, "metadata"), "resourceVersion"));
    return ctl_api(c, "PUT", path, NULL, want, NULL, err) == 200 ? 0 : -1;
}

static int
sync_slices(struct ctl *c, const json_t *svc, const char *ns, const char *name,
            const json_t *groups, struct k3c_err *err)
{
    _cleanup_json_ json_t *sel =
        json_pack("{s:{s:s, s:s}}", "matchLabels", LABEL_SERVICE, name, LABEL_MANAGED, MANAGED_BY);
    _cleanup_json_ json_t *placeholder = NULL;
    struct slice_list have = {0};
    size_t want_n = json_array_size(groups);
    int rc = 0;

    ctl_list(c, "endpointslices", ns, sel, collect_slice, &have);
    qsort(have.v, have.n, sizeof(have.v[0]), by_name);
    if (want_n == 0) /* upstream keeps one empty slice for a Service without endpoints */
        placeholder = json_pack("{s:[], s:[]}", "endpoints", "ports");
    for (size_t i = 0; i < (want_n ? want_n : 1) || i < have.n; i++) {
        const json_t *g = want_n ? json_array_get(groups, i) : (i == 0 ? placeholder : NULL);
        _cleanup_json_ json_t *want = g ? slice_new(svc, ns, name, g) : NULL;

        if (rc == 0 && write_slice(c, ns, i < have.n ? have.v[i] : NULL, want, err) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < have.n; i++)
        json_decref(have.v[i]);
    return rc;
}

static int
sync_endpoints(struct ctl *c, const char *ns, const char *name, const json_t *groups,
               struct k3c_err *err)
{
    _cleanup_json_ json_t *have = ctl_get(c, "endpoints", ns, name);
    _cleanup_json_ json_t *subsets = lc_endpoints_subsets(groups);
    _cleanup_json_ json_t *want = NULL;
    _cleanup_free_ char *coll = k3c_xasprintf("/api/v1/namespaces/%s/endpoints", ns);
    _cleanup_free_ char *path = k3c_xasprintf("%s/%s", coll, name);
    const json_t *hs = json_object_get(have, "subsets");
    _cleanup_json_ json_t *empty = json_array();

    if (have && json_equal(hs ? hs : empty, subsets))
        return 0;
    want = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion", "v1", "kind", "Endpoints",
                     "metadata", "name", name, "namespace", ns, "subsets", subsets);
    if (!have)
        return ctl_api(c, "POST", coll, NULL, want, NULL, err) == 201 ? 0 : -1;
    json_object_set(json_object_get(want, "metadata"), "resourceVersion",
                    json_object_get(json_object_get(have, "metadata"), "resourceVersion"));
    if (labels_of(have))
        json_object_set(json_object_get(want, "metadata"), "labels", (json_t *)labels_of(have));
    return ctl_api(c, "PUT", path, NULL, want, NULL, err) == 200 ? 0 : -1;
}

/* The Service is gone: its Endpoints go too (slices follow by ownerReference). */
static int
delete_endpoints(struct ctl *c, const char *ns, const char *name, struct k3c_err *err)
{
    _cleanup_json_ json_t *have = ctl_get(c, "endpoints", ns, name);
    _cleanup_free_ char *path = NULL;
    long code;

    if (!have)
        return 0;
    path = k3c_xasprintf("/api/v1/namespaces/%s/endpoints/%s", ns, name);
    code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
    if (code == 404)
        k3c_err_clear(err);
    return code == 200 || code == 404 ? 0 : -1;
}

static bool
is_external_name(const json_t *svc)
{
    const char *type = json_string_value(json_object_get(json_object_get(svc, "spec"), "type"));

    return type && strcmp(type, "ExternalName") == 0;
}

static int
sync_service(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *svc = NULL, *pods = NULL, *groups = NULL;
    struct pod_list pl;
    int rc;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    svc = ctl_get(c, "services", ns, name);
    if (!svc)
        return delete_endpoints(c, ns, name, err);
    if (json_object_size(svc_selector(svc)) == 0 || ctl_being_deleted(svc) || is_external_name(svc))
        return 0;
    pods = json_array();
    pl = (struct pod_list){svc_selector(svc), pods};
    ctl_list(c, "pods", ns, NULL, collect_pod, &pl);
    groups = lc_endpoint_groups(svc, pods);
    rc = sync_slices(c, svc, ns, name, groups, err);
    if (rc == 0)
        rc = sync_endpoints(c, ns, name, groups, err);
    if (rc < 0 && err->kind != K3C_E_CONFLICT && err->kind != K3C_E_NOT_FOUND)
        ctl_event(c, svc, "Warning", "FailedToUpdateEndpoint",
                  "Failed to update endpoint %s/%s: %s", ns, name, err->msg);
    return rc;
}

static void
start(struct ctl *c)
{
    ctl_enqueue_all(c, "services");
}

static const struct ctl_watch watches[] = {
    {"services", on_service},
    {"pods", on_pod},
    {"endpointslices", on_slice},
    {NULL, NULL},
};

const struct ctl_def ctl_def_endpoints = {
    .name = "endpoints",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_service,
    .start = start,
};
