/* SPDX-License-Identifier: Apache-2.0
 * kind_persistentvolumeclaim.c - v1 PersistentVolumeClaim ("pvc"), as
 * upstream's pkg/registry/core/persistentvolumeclaim strategy: table
 * columns of kubectl 1.32, defaults (volumeMode Filesystem, phase Pending),
 * validation (access modes, resources.requests.storage, the spec immutable
 * after creation but for the requests and a volumeName set once) and the
 * kubernetes.io/pvc-protection finalizer and the default StorageClass
 * (upstream's DefaultStorageClass admission) added at create. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#define DESC_NAME                                                                                  \
    "Name must be unique within a namespace. Is required when creating resources, although some "  \
    "resources may allow a client to request the generation of an appropriate name "               \
    "automatically. Name is primarily intended for creation idempotence and configuration "        \
    "definition. Cannot be updated. More info: "                                                   \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"

const struct api_column api_columns_persistentvolumeclaim[] = {
    {"Name", "string", "name", DESC_NAME, 0},
    {"Status", "string", "", "phase represents the current phase of PersistentVolumeClaim.", 0},
    {"Volume", "string", "",
     "volumeName is the binding reference to the PersistentVolume backing "
     "this claim.",
     0},
    {"Capacity", "string", "",
     "capacity represents the actual resources of the underlying "
     "volume.",
     0},
    {"Access Modes", "string", "",
     "accessModes contains the actual access modes the volume "
     "backing the PVC has.",
     0},
    {"StorageClass", "string", "",
     "storageClassName is the name of the StorageClass required by "
     "the claim.",
     0},
    {"VolumeAttributesClass", "string", "",
     "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.",
     0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when "
     "this object was created.",
     0},
    {"VolumeMode", "string", "",
     "volumeMode defines what type of volume is required by the "
     "claim.",
     1},
    {NULL, NULL, NULL, NULL, 0},
};

static const char *const volume_modes[] = {"Block", "Filesystem", NULL};

void
api_defaults_persistentvolumeclaim(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *status = json_object_get(obj, "status");

    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    if (!json_is_string(json_object_get(spec, "volumeMode")))
        json_object_set_new(spec, "volumeMode", json_string("Filesystem"));
    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(obj, "status", status);
    }
    if (!json_is_string(json_object_get(status, "phase")))
        json_object_set_new(status, "phase", json_string("Pending"));
}

/* The spec after creation: only resources.requests may change, and an
 * empty volumeName may be set (the binder's write). Compared on copies. */
static bool
spec_change_allowed(const json_t *spec, const json_t *old_spec)
{
    _cleanup_json_ json_t *a = json_deep_copy(spec), *b = json_deep_copy(old_spec);
    const char *old_volume = json_string_value(json_object_get(old_spec, "volumeName"));

    if (!a || !b)
        return json_equal(spec, old_spec);
    json_object_del(json_object_get(a, "resources"), "requests");
    json_object_del(json_object_get(b, "resources"), "requests");
    json_object_del(a, "volumeAttributesClassName");
    json_object_del(b, "volumeAttributesClassName");
    if (!old_volume || !*old_volume) {
        json_object_del(a, "volumeName");
        json_object_del(b, "volumeName");
    }
    /* storageClassName may be set once when it was unset (the default class). */
    if (!json_object_get(old_spec, "storageClassName"))
        json_object_del(a, "storageClassName");
    return json_equal(a, b);
}

void
api_validate_persistentvolumeclaim(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *cls = json_object_get(spec, "storageClassName");

    api_storage_check_access_modes(causes, "spec.accessModes",
                                   json_object_get(spec, "accessModes"));
    api_storage_check_storage(causes, "spec.resources", api_json_path(spec, "resources.requests"),
                              false);
    api_storage_check_enum(causes, "spec.volumeMode", json_object_get(spec, "volumeMode"),
                           volume_modes);
    if (json_string_value(cls) && *json_string_value(cls) &&
        !api_is_dns1123_subdomain(json_string_value(cls)))
        api_cause_add(causes, "FieldValueInvalid", "spec.storageClassName",
                      "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of "
                      "lower case alphanumeric characters, '-' or '.', and must start and end "
                      "with an alphanumeric character",
                      json_string_value(cls));
    if (old && !spec_change_allowed(spec, json_object_get(old, "spec")))
        api_cause_add(causes, "FieldValueForbidden", "spec",
                      "Forbidden: spec is immutable after creation except resources.requests and "
                      "volumeAttributesClassName for bound claims");
}

struct default_class {
    char name[256];
    char created[64];
};

/* The newest class annotated as default (GetDefaultClass's tie-break). */
static void
find_default(void *ud, struct wc_entry *e)
{
    struct default_class *d = ud;
    _cleanup_json_ json_t *sc = wc_entry_object(e);
    const char *created = json_string_value(api_json_path(sc, "metadata.creationTimestamp"));

    if (!api_storage_class_is_default(sc))
        return;
    if (d->name[0] && created && strcmp(created, d->created) < 0)
        return;
    snprintf(d->name, sizeof(d->name), "%s", e->name);
    snprintf(d->created, sizeof(d->created), "%s", created ? created : "");
}

static int
pvc_allocate(struct api_server *srv, json_t *obj, json_t *causes, struct k3c_err *err)
{
    const struct api_resource *sc = api_resource_find("storage.k8s.io", "v1", "storageclasses");
    struct watch_cache *wc = sc ? api_cache_for(srv, sc) : NULL;
    json_t *spec = json_object_get(obj, "spec");
    struct default_class d = {0};

    (void)causes, (void)err;
    api_storage_add_finalizer(obj, "kubernetes.io/pvc-protection");
    if (json_is_object(spec) && !json_object_get(spec, "storageClassName") && wc) {
        watch_cache_foreach(wc, "/registry/storageclasses/", find_default, &d);
        if (d.name[0])
            json_object_set_new(spec, "storageClassName", json_string(d.name));
    }
    return 0;
}

const struct api_hooks api_persistentvolumeclaim_hooks = {.allocate = pvc_allocate};

json_t *
api_row_persistentvolumeclaim(const json_t *obj, int64_t now_s)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *phase = json_string_value(api_json_path(obj, "status.phase"));
    const char *volume = json_string_value(json_object_get(spec, "volumeName"));
    const char *vac = json_string_value(json_object_get(spec, "volumeAttributesClassName"));
    const char *mode = json_string_value(json_object_get(spec, "volumeMode"));
    const char *cls = json_string_value(json_object_get(spec, "storageClassName"));
    const char *capacity = "";
    json_t *modes;

    if (api_json_path(obj, "metadata.deletionTimestamp"))
        phase = "Terminating";
    if (volume && *volume) {
        modes = api_storage_access_modes_cell(api_json_path(obj, "status.accessModes"));
        capacity = json_string_value(api_json_path(obj, "status.capacity.storage")) ?: "0";
    } else {
        modes = json_string("");
    }
    return json_pack("[s s s s o s s o s]",
                     json_string_value(api_json_path(obj, "metadata.name")) ?: "", phase ?: "",
                     volume ?: "", capacity, modes, cls ?: "", vac ?: "<unset>",
                     api_storage_age_cell(obj, now_s), mode ?: "<unset>");
}
