/* SPDX-License-Identifier: Apache-2.0
 * kind_runtimeclass.c - node.k8s.io/v1 RuntimeClass (issue #18), the shape
 * of upstream's pkg/registry/node/runtimeclass/strategy.go: cluster-scoped,
 * no status; handler required, a DNS-1123 label and immutable; overhead
 * quantities and scheduling as given. Table: NAME HANDLER AGE. Agents map
 * the handler to a runtime (docs/gpu.md); the server creates `nvidia` and
 * `nvidia-cdi` once a node advertises nvidia.com/gpu. */
#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <string.h>

const struct api_column api_columns_runtimeclass[] = {
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although "
     "some resources may allow a client to request the generation of an appropriate name "
     "automatically. Name is primarily intended for creation idempotence and configuration "
     "definition. Cannot be updated. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
     0},
    {"Handler", "string", "",
     "handler specifies the underlying runtime and configuration that the CRI implementation "
     "will use to handle pods of this class.",
     0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when this object was "
     "created.",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

json_t *
api_row_runtimeclass(const json_t *obj, int64_t now_s)
{
    const char *name = json_string_value(api_json_path(obj, "metadata.name"));
    const char *handler = json_string_value(json_object_get(obj, "handler"));
    const char *created = json_string_value(api_json_path(obj, "metadata.creationTimestamp"));
    int64_t t = created ? k3c_time_parse_rfc3339(created) : -1;
    char age[32];

    if (t < 0)
        snprintf(age, sizeof(age), "<unknown>");
    else
        api_human_duration(now_s - t, age, sizeof(age));
    return json_pack("[s s s]", name ? name : "", handler ? handler : "", age);
}

void
api_validate_runtimeclass(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *h = json_object_get(obj, "handler");
    const char *handler = json_string_value(h);
    const json_t *sched = json_object_get(obj, "scheduling");

    if (!handler || !*handler)
        api_cause_add(causes, "FieldValueRequired", "handler", "Required value");
    else if (!api_is_dns1123_label(handler))
        api_cause_add(causes, "FieldValueInvalid", "handler",
                      "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower "
                      "case alphanumeric characters or '-', and must start and end with an "
                      "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                      "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                      handler);
    if (old && !json_equal(h, json_object_get(old, "handler")))
        api_cause_add(causes, "FieldValueInvalid", "handler", "Invalid value: \"%s\": %s",
                      handler ? handler : "", "field is immutable");
    if (sched && !json_is_object(sched))
        api_cause_add(causes, "FieldValueInvalid", "scheduling",
                      "Invalid value: must be an object");
}

/* ---- admission of pods (upstream's RuntimeClass admission plugin) ---------- */

static int
forbid_pod(struct api_request *r, const json_t *pod, const char *why)
{
    const char *name = json_string_value(api_json_path(pod, "metadata.name"));

    return api_reply_status_code(r, 403, "Forbidden", "pods \"%s\" is forbidden: %s",
                                 name ? name : "", why);
}

/* scheduling.nodeSelector merged into the pod's (a different value for one
 * key is a conflict), scheduling.tolerations added where the pod lacks them. */
static int
admit_scheduling(struct api_request *r, json_t *pod, const json_t *sched)
{
    json_t *spec = json_object_get(pod, "spec");
    json_t *sel = json_object_get(spec, "nodeSelector");
    json_t *tols = json_object_get(spec, "tolerations");
    const char *k;
    json_t *v;
    size_t i, j;
    const json_t *t, *have;

    json_object_foreach(json_object_get(sched, "nodeSelector"), k, v)
    {
        const char *cur = json_string_value(json_object_get(sel, k));

        if (cur && !json_equal(json_object_get(sel, k), v)) {
            char why[600];

            snprintf(why, sizeof(why),
                     "conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; "
                     "pod.spec.nodeSelector[%s] = %s",
                     k, json_string_value(v) ? json_string_value(v) : "", k, cur);
            return forbid_pod(r, pod, why);
        }
        if (!json_is_object(sel)) {
            sel = json_object();
            json_object_set_new(spec, "nodeSelector", sel);
        }
        json_object_set(sel, k, v);
    }
    json_array_foreach(json_object_get(sched, "tolerations"), i, t)
    {
        bool present = false;

        json_array_foreach(tols, j, have) present |= json_equal(have, t);
        if (present)
            continue;
        if (!json_is_array(tols)) {
            tols = json_array();
            json_object_set_new(spec, "tolerations", tols);
        }
        json_array_append(tols, (json_t *)t);
    }
    return -1;
}

int
api_runtimeclass_admit_pod(struct api_request *r, json_t *pod)
{
    const struct api_resource *res = api_resource_find("node.k8s.io", "v1", "runtimeclasses");
    const char *rc = json_string_value(api_json_path(pod, "spec.runtimeClassName"));
    _cleanup_free_ char *key = NULL;
    _cleanup_json_ json_t *obj = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    const json_t *fixed;

    if (!rc || !*rc || !res)
        return -1;
    key = api_object_key(res, NULL, rc);
    if (store_get(r->srv->store, key, &kv, &err) < 0) {
        if (err.kind == K3C_E_NOT_FOUND) {
            char why[400];

            snprintf(why, sizeof(why), "pod rejected: RuntimeClass \"%s\" not found", rc);
            return forbid_pod(r, pod, why);
        }
        return api_reply_store_error(r, &err);
    }
    obj = api_object_from_kv(&kv, &err);
    store_kv_fini(&kv);
    if (!obj)
        return api_reply_store_error(r, &err);
    fixed = api_json_path(obj, "overhead.podFixed");
    if (json_object_size(fixed) > 0) {
        const json_t *cur = api_json_path(pod, "spec.overhead");

        if (cur && !json_equal(cur, fixed))
            return forbid_pod(r, pod,
                              "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined "
                              "Overhead");
        json_object_set(json_object_get(pod, "spec"), "overhead", (json_t *)fixed);
    }
    if (json_is_object(json_object_get(obj, "scheduling")))
        return admit_scheduling(r, pod, json_object_get(obj, "scheduling"));
    return -1;
}
