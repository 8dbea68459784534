/* SPDX-License-Identifier: Apache-2.0
 * kind_runtimeclass.c - node.k8s.io/v1 RuntimeClass (issue #18), the shape
 * of upstream's pkg/registry/node/runtimeclass/strategy.go: cluster-scoped,
 * no status; handler required, a DNS-1123 label and immutable; overhead
 * quantities and scheduling as given. Table: NAME HANDLER AGE. Agents map
 * the handler to a runtime (docs/gpu.md); the server creates `nvidia` and
 * `nvidia-cdi` once a node advertises nvidia.com/gpu. */
#include "api/api-internal.h"
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
