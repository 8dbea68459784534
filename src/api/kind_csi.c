/* SPDX-License-Identifier: Apache-2.0
 * kind_csidriver.c - storage.k8s.io/v1 CSIDriver and VolumeAttachment,
 * served as readable objects (k3c runs no CSI drivers or attachers; a
 * driver's own controllers may use them): columns of kubectl 1.32,
 * upstream's defaults and the required fields. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/buf.h"
#include "base/util.h"

#define DESC_NAME "Name must be unique within a namespace."
#define DESC_AGE                                                                                   \
    "CreationTimestamp is a timestamp representing the server time when this object was created."

const struct api_column api_columns_csidriver[] = {
    {"Name", "string", "name", DESC_NAME, 0},
    {"AttachRequired", "boolean", "",
     "Indicates this CSI volume driver requires an attach "
     "operation",
     0},
    {"PodInfoOnMount", "boolean", "",
     "Indicates this CSI volume driver requires additional pod "
     "information during mount operations",
     0},
    {"StorageCapacity", "boolean", "",
     "Indicates this CSI volume driver supports storage "
     "capacity tracking",
     0},
    {"TokenRequests", "string", "",
     "Indicates the audiences of the service account tokens the "
     "driver wants",
     0},
    {"RequiresRepublish", "boolean", "",
     "Indicates the driver wants NodePublishVolume called "
     "periodically",
     0},
    {"Modes", "string", "", "Indicates volume lifecycle modes supported by the driver", 0},
    {"Age", "string", "", DESC_AGE, 0},
    {NULL, NULL, NULL, NULL, 0},
};

const struct api_column api_columns_volumeattachment[] = {
    {"Name", "string", "name", DESC_NAME, 0},
    {"Attacher", "string", "",
     "Attacher indicates the name of the volume driver that MUST "
     "handle this request.",
     0},
    {"PV", "string", "", "Name of the persistent volume to attach.", 0},
    {"Node", "string", "", "The node that the volume should be attached to.", 0},
    {"Attached", "boolean", "", "Indicates the volume is successfully attached.", 0},
    {"Age", "string", "", DESC_AGE, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static void
default_bool(json_t *obj, const char *key, bool value)
{
    if (!json_is_boolean(json_object_get(obj, key)))
        json_object_set_new(obj, key, json_boolean(value));
}

/* SetDefaults_CSIDriver. */
void
api_defaults_csidriver(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");

    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    default_bool(spec, "attachRequired", true);
    default_bool(spec, "podInfoOnMount", false);
    default_bool(spec, "storageCapacity", false);
    default_bool(spec, "requiresRepublish", false);
    default_bool(spec, "seLinuxMount", false);
    if (!json_is_string(json_object_get(spec, "fsGroupPolicy")))
        json_object_set_new(spec, "fsGroupPolicy", json_string("ReadWriteOnceWithFSType"));
    if (json_array_size(json_object_get(spec, "volumeLifecycleModes")) == 0)
        json_object_set_new(spec, "volumeLifecycleModes", json_pack("[s]", "Persistent"));
}

void
api_validate_csidriver(const json_t *obj, const json_t *old, json_t *causes)
{
    static const char *const modes[] = {"Persistent", "Ephemeral", NULL};
    static const char *const policies[] = {"File", "None", "ReadWriteOnceWithFSType", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    size_t i;
    const json_t *m;

    json_array_foreach(json_object_get(spec, "volumeLifecycleModes"), i, m)
        api_storage_check_enum(causes, "spec.volumeLifecycleModes", m, modes);
    api_storage_check_enum(causes, "spec.fsGroupPolicy", json_object_get(spec, "fsGroupPolicy"),
                           policies);
    if (old && !json_equal(json_object_get(spec, "attachRequired"),
                           api_json_path(old, "spec.attachRequired")))
        api_cause_add(causes, "FieldValueInvalid", "spec.attachRequired",
                      "Invalid value: %s: field is immutable",
                      json_is_true(json_object_get(spec, "attachRequired")) ? "true" : "false");
}

static json_t *
joined_cell(const json_t *arr, const char *member)
{
    struct k3c_buf b;
    size_t i;
    const json_t *v;
    json_t *cell;

    if (json_array_size(arr) == 0)
        return json_string("<unset>");
    k3c_buf_init(&b);
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(member ? json_object_get(v, member) : v);

        k3c_buf_appendf(&b, "%s%s", i ? "," : "", s ? s : "");
    }
    cell = json_string(b.data ? b.data : "");
    k3c_buf_fini(&b);
    return cell;
}

json_t *
api_row_csidriver(const json_t *obj, int64_t now_s)
{
    const json_t *spec = json_object_get(obj, "spec");

    return json_pack("[s b b b o b o o]",
                     json_string_value(api_json_path(obj, "metadata.name")) ?: "",
                     json_is_true(json_object_get(spec, "attachRequired")),
                     json_is_true(json_object_get(spec, "podInfoOnMount")),
                     json_is_true(json_object_get(spec, "storageCapacity")),
                     joined_cell(json_object_get(spec, "tokenRequests"), "audience"),
                     json_is_true(json_object_get(spec, "requiresRepublish")),
                     joined_cell(json_object_get(spec, "volumeLifecycleModes"), NULL),
                     api_storage_age_cell(obj, now_s));
}

void
api_validate_volumeattachment(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *src = json_object_get(spec, "source");
    bool pv = json_object_get(src, "persistentVolumeName") != NULL;
    bool inl = json_object_get(src, "inlineVolumeSpec") != NULL;

    if (!json_string_value(json_object_get(spec, "attacher")) ||
        !*json_string_value(json_object_get(spec, "attacher")))
        api_cause_add(causes, "FieldValueRequired", "spec.attacher", "Required value");
    if (!json_string_value(json_object_get(spec, "nodeName")) ||
        !*json_string_value(json_object_get(spec, "nodeName")))
        api_cause_add(causes, "FieldValueRequired", "spec.nodeName", "Required value");
    if (pv == inl)
        api_cause_add(causes, "FieldValueRequired", "spec.source",
                      "Required value: must specify exactly one of inlineVolumeSpec and "
                      "persistentVolumeName");
    if (old && !json_equal(spec, json_object_get(old, "spec")))
        api_cause_add(causes, "FieldValueInvalid", "spec", "Invalid value: field is immutable");
}

json_t *
api_row_volumeattachment(const json_t *obj, int64_t now_s)
{
    const json_t *spec = json_object_get(obj, "spec");

    return json_pack("[s s s s b o]", json_string_value(api_json_path(obj, "metadata.name")) ?: "",
                     json_string_value(json_object_get(spec, "attacher")) ?: "",
                     json_string_value(api_json_path(spec, "source.persistentVolumeName")) ?: "",
                     json_string_value(json_object_get(spec, "nodeName")) ?: "",
                     json_is_true(api_json_path(obj, "status.attached")),
                     api_storage_age_cell(obj, now_s));
}
