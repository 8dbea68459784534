/* SPDX-License-Identifier: Apache-2.0
 * kind_storageclass.c - storage.k8s.io/v1 StorageClass ("sc"), as
 * upstream's pkg/registry/storage/storageclass strategy: columns of kubectl
 * 1.32 (NAME carries " (default)" for the default class), defaults
 * (reclaimPolicy Delete, volumeBindingMode Immediate) and validation
 * (provisioner required, its parameters, provisioner, reclaim policy and
 * binding mode immutable). */
#include <string.h>

#include "api/api-internal.h"
#include "base/util.h"

const struct api_column api_columns_storageclass[] = {
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although some "
     "resources may allow a client to request the generation of an appropriate name "
     "automatically.",
     0},
    {"Provisioner", "string", "", "Indicates the type of the provisioner.", 0},
    {"ReclaimPolicy", "string", "", "Indicates the type of the reclaim policy.", 0},
    {"VolumeBindingMode", "string", "",
     "Indicates when volume binding and dynamic provisioning should occur", 0},
    {"AllowVolumeExpansion", "string", "",
     "Indicates whether the storage class allow volume expand", 0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when "
     "this object was created.",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

bool
api_storage_class_is_default(const json_t *sc)
{
    const json_t *ann = api_json_path(sc, "metadata.annotations");
    const char *v =
        json_string_value(json_object_get(ann, "storageclass.kubernetes.io/is-default-class"));
    const char *beta =
        json_string_value(json_object_get(ann, "storageclass.beta.kubernetes.io/is-default-class"));

    return (v && strcmp(v, "true") == 0) || (beta && strcmp(beta, "true") == 0);
}

void
api_defaults_storageclass(json_t *obj)
{
    if (!json_is_string(json_object_get(obj, "reclaimPolicy")))
        json_object_set_new(obj, "reclaimPolicy", json_string("Delete"));
    if (!json_is_string(json_object_get(obj, "volumeBindingMode")))
        json_object_set_new(obj, "volumeBindingMode", json_string("Immediate"));
}

static const char *const reclaim_policies[] = {"Delete", "Retain", NULL};
static const char *const binding_modes[] = {"Immediate", "WaitForFirstConsumer", NULL};

void
api_validate_storageclass(const json_t *obj, const json_t *old, json_t *causes)
{
    const char *prov = json_string_value(json_object_get(obj, "provisioner"));
    static const char *const fixed[] = {"parameters", "provisioner", "reclaimPolicy",
                                        "volumeBindingMode"};

    if (!prov || !*prov)
        api_cause_add(causes, "FieldValueRequired", "provisioner", "Required value");
    else if (strlen(prov) > 63 + 254)
        api_cause_add(causes, "FieldValueTooLong", "provisioner",
                      "Too long: may not be more than 317 bytes");
    api_storage_check_enum(causes, "reclaimPolicy", json_object_get(obj, "reclaimPolicy"),
                           reclaim_policies);
    api_storage_check_enum(causes, "volumeBindingMode", json_object_get(obj, "volumeBindingMode"),
                           binding_modes);
    for (size_t i = 0; old && i < K3C_ARRAY_SIZE(fixed); i++) {
        const json_t *a = json_object_get(obj, fixed[i]), *b = json_object_get(old, fixed[i]);

        if ((a || b) && !(a && b && json_equal(a, b)))
            api_cause_add(causes, "FieldValueForbidden", fixed[i],
                          "Forbidden: updates to %s are forbidden.", fixed[i]);
    }
}

json_t *
api_row_storageclass(const json_t *obj, int64_t now_s)
{
    const char *name = json_string_value(api_json_path(obj, "metadata.name"));
    const char *policy = json_string_value(json_object_get(obj, "reclaimPolicy"));
    const char *mode = json_string_value(json_object_get(obj, "volumeBindingMode"));
    const char *prov = json_string_value(json_object_get(obj, "provisioner"));
    bool expand = json_is_true(json_object_get(obj, "allowVolumeExpansion"));
    json_t *name_cell = api_storage_class_is_default(obj) ? json_sprintf("%s (default)", name ?: "")
                                                          : json_string(name ?: "");

    return json_pack("[o s s s b o]", name_cell, prov ?: "", policy ?: "Delete",
                     mode ?: "Immediate", expand, api_storage_age_cell(obj, now_s));
}
