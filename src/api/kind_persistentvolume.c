/* SPDX-License-Identifier: Apache-2.0
 * kind_persistentvolume.c - v1 PersistentVolume (cluster-scoped, "pv"), as
 * upstream's pkg/registry/core/persistentvolume strategy: table columns of
 * kubectl 1.32, defaults (reclaim policy Retain, volumeMode Filesystem,
 * phase Pending), validation (access modes, capacity, exactly one volume
 * source, immutable source and node affinity) and the
 * kubernetes.io/pv-protection finalizer added at create (upstream's
 * StorageObjectInUseProtection admission). Also the helpers the claim's
 * file shares: access modes and storage quantities. */
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/buf.h"
#include "base/quantity.h"
#include "base/util.h"

#define DESC_NAME                                                                                  \
    "Name must be unique within a namespace. Is required when creating resources, although some "  \
    "resources may allow a client to request the generation of an appropriate name "               \
    "automatically. Name is primarily intended for creation idempotence and configuration "        \
    "definition. Cannot be updated. More info: "                                                   \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_AGE                                                                                   \
    "CreationTimestamp is a timestamp representing the server time when this object was "          \
    "created. It is not guaranteed to be set in happens-before order across separate "             \
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "     \
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "                      \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                            \
    "api-conventions.md#metadata"

const struct api_column api_columns_persistentvolume[] = {
    {"Name", "string", "name", DESC_NAME, 0},
    {"Capacity", "string", "",
     "capacity is the description of the persistent volume's resources "
     "and capacity.",
     0},
    {"Access Modes", "string", "", "accessModes contains all ways the volume can be mounted.", 0},
    {"Reclaim Policy", "string", "",
     "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released "
     "from its claim.",
     0},
    {"Status", "string", "",
     "phase indicates if a volume is available, bound to a claim, or "
     "released by a claim.",
     0},
    {"Claim", "string", "",
     "claimRef is part of a bi-directional binding between "
     "PersistentVolume and PersistentVolumeClaim.",
     0},
    {"StorageClass", "string", "",
     "storageClassName is the name of StorageClass to which this "
     "persistent volume belongs.",
     0},
    {"VolumeAttributesClass", "string", "",
     "Name of VolumeAttributesClass to which this persistent volume belongs.", 0},
    {"Reason", "string", "", "reason is a brief CamelCase string that describes any failure.", 0},
    {"Age", "string", "", DESC_AGE, 0},
    {"VolumeMode", "string", "",
     "volumeMode defines if a volume is intended to be used with a "
     "formatted filesystem or to remain in raw block state.",
     1},
    {NULL, NULL, NULL, NULL, 0},
};

/* ---- shared with the claim (api-internal.h) ------------------------------ */

static const char *const access_modes[] = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                                           "ReadWriteOncePod", NULL};

json_t *
api_storage_age_cell(const json_t *obj, int64_t now_s)
{
    const char *ts = json_string_value(api_json_path(obj, "metadata.creationTimestamp"));
    int64_t t = ts ? k3c_time_parse_rfc3339(ts) : -1;
    char buf[32];

    if (t < 0)
        return json_string("<unknown>");
    return json_string(api_human_duration(now_s - t, buf, sizeof(buf)));
}

static bool
has_mode(const json_t *modes, const char *mode)
{
    size_t i;
    const json_t *m;

    json_array_foreach(modes, i, m) if (json_string_value(m) &&
                                        strcmp(json_string_value(m), mode) == 0) return true;
    return false;
}

/* GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order, comma-joined. */
json_t *
api_storage_access_modes_cell(const json_t *modes)
{
    static const char *const order[][2] = {{"ReadWriteOnce", "RWO"},
                                           {"ReadOnlyMany", "ROX"},
                                           {"ReadWriteMany", "RWX"},
                                           {"ReadWriteOncePod", "RWOP"}};
    char buf[32] = "";

    for (size_t i = 0; i < K3C_ARRAY_SIZE(order); i++)
        if (has_mode(modes, order[i][0]))
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? "," : "",
                     order[i][1]);
    return json_string(buf);
}

/* A resource.Quantity's syntax (base/quantity.c's parser; a value past
 * int64 is still a quantity). */
bool
api_storage_quantity_valid(const char *s)
{
    int64_t v;

    return k3c_quantity_scaled(s, 0, &v) != K3C_QUANTITY_SYNTAX;
}

static void
cause(json_t *causes, const char *reason, const char *field, const char *msg)
{
    api_cause_add(causes, reason, field, "%s", msg);
}

static void
not_supported(json_t *causes, const char *field, const char *value, const char *const *supported)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "Unsupported value: \"%s\"", value);
    for (size_t i = 0; supported[i]; i++)
        k3c_buf_appendf(&b, "%s\"%s\"", i ? ", " : ": supported values: ", supported[i]);
    api_cause_add(causes, "FieldValueNotSupported", field, "%s", b.data);
    k3c_buf_fini(&b);
}

void
api_storage_check_enum(json_t *causes, const char *field, const json_t *v,
                       const char *const *supported)
{
    const char *s = json_string_value(v);

    if (!v)
        return;
    for (size_t i = 0; s && supported[i]; i++)
        if (strcmp(s, supported[i]) == 0)
            return;
    not_supported(causes, field, s ? s : "", supported);
}

/* ValidatePersistentVolumeSpec's and the claim's access-mode rules. */
void
api_storage_check_access_modes(json_t *causes, const char *field, const json_t *modes)
{
    size_t i;
    const json_t *m;
    char f[96];

    if (json_array_size(modes) == 0) {
        cause(causes, "FieldValueRequired", field, "Required value");
        return;
    }
    json_array_foreach(modes, i, m)
    {
        snprintf(f, sizeof(f), "%s", field);
        api_storage_check_enum(causes, f, m, access_modes);
    }
    if (has_mode(modes, "ReadWriteOncePod") && json_array_size(modes) > 1)
        cause(causes, "FieldValueForbidden", field,
              "Forbidden: may not use ReadWriteOncePod with other access modes");
}

/* A resource list that must hold a valid "storage" quantity and, when
 * only_storage, nothing else. */
void
api_storage_check_storage(json_t *causes, const char *field, const json_t *list, bool only_storage)
{
    const json_t *q = json_object_get(list, "storage");
    const char *key;
    const json_t *v;
    char f[128];

    snprintf(f, sizeof(f), "%s[storage]", field);
    if (!q) {
        cause(causes, "FieldValueRequired", only_storage ? field : f, "Required value");
        return;
    }
    if (!api_storage_quantity_valid(json_string_value(q)) || json_string_value(q)[0] == '-')
        api_cause_add(causes, "FieldValueInvalid", f,
                      "Invalid value: \"%s\": must be a non-negative quantity",
                      json_string_value(q) ? json_string_value(q) : "");
    json_object_foreach((json_t *)list, key, v) if (only_storage && strcmp(key, "storage") != 0)
    {
        const char *const storage_only[] = {"storage", NULL};

        snprintf(f, sizeof(f), "%s", field);
        not_supported(causes, f, key, storage_only);
    }
}

/* ---- the PersistentVolume ------------------------------------------------ */

/* The volume sources a PersistentVolumeSpec may carry. */
static const char *const pv_sources[] = {
    "hostPath",
    "local",
    "nfs",
    "csi",
    "iscsi",
    "fc",
    "rbd",
    "cephfs",
    "cinder",
    "glusterfs",
    "flexVolume",
    "azureFile",
    "azureDisk",
    "vsphereVolume",
    "quobyte",
    "flocker",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    NULL,
};

static json_t *
ensure_object(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(obj, key, v);
    }
    return v;
}

static void
default_string(json_t *obj, const char *key, const char *value)
{
    if (!json_is_string(json_object_get(obj, key)))
        json_object_set_new(obj, key, json_string(value));
}

void
api_defaults_persistentvolume(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");
    json_t *hp = json_object_get(spec, "hostPath");

    default_string(spec, "persistentVolumeReclaimPolicy", "Retain");
    default_string(spec, "volumeMode", "Filesystem");
    if (json_is_object(hp))
        default_string(hp, "type", "");
    default_string(ensure_object(obj, "status"), "phase", "Pending");
}

static const char *const reclaim_policies[] = {"Delete", "Recycle", "Retain", NULL};
static const char *const volume_modes[] = {"Block", "Filesystem", NULL};

static void
check_sources(const json_t *spec, json_t *causes)
{
    const char *found = NULL;

    for (size_t i = 0; pv_sources[i]; i++) {
        if (!json_object_get(spec, pv_sources[i]))
            continue;
        if (found) {
            api_cause_add(causes, "FieldValueForbidden", "spec",
                          "Forbidden: may not specify more than 1 volume type");
            return;
        }
        found = pv_sources[i];
    }
    if (!found) {
        api_cause_add(causes, "FieldValueRequired", "spec",
                      "Required value: must specify a volume "
                      "type");
        return;
    }
    if (strcmp(found, "hostPath") == 0 || strcmp(found, "local") == 0) {
        const char *path = json_string_value(api_json_path(json_object_get(spec, found), "path"));
        char f[32];

        snprintf(f, sizeof(f), "spec.%s.path", found);
        if (!path || !*path)
            api_cause_add(causes, "FieldValueRequired", f, "Required value");
        else if (strstr(path, ".."))
            api_cause_add(causes, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": must not contain '..'", path);
    }
    if (strcmp(found, "local") == 0 && !api_json_path(spec, "nodeAffinity.required"))
        api_cause_add(causes, "FieldValueRequired", "spec.nodeAffinity",
                      "Required value: Local volume requires node affinity");
}

/* The volume source, volumeMode and a node affinity once set do not change
 * (ValidatePersistentVolumeUpdate). */
static void
check_update(const json_t *spec, const json_t *old_spec, json_t *causes)
{
    const json_t *na = json_object_get(old_spec, "nodeAffinity");

    for (size_t i = 0; pv_sources[i]; i++) {
        const json_t *a = json_object_get(spec, pv_sources[i]);
        const json_t *b = json_object_get(old_spec, pv_sources[i]);

        if ((a || b) && !(a && b && json_equal(a, b))) {
            api_cause_add(causes, "FieldValueForbidden", "spec.persistentvolumesource",
                          "Forbidden: spec.persistentvolumesource is immutable after creation");
            break;
        }
    }
    if (!json_equal(json_object_get(spec, "volumeMode"), json_object_get(old_spec, "volumeMode")))
        api_cause_add(causes, "FieldValueInvalid", "spec.volumeMode",
                      "Invalid value: \"%s\": field is immutable",
                      json_string_value(json_object_get(spec, "volumeMode")));
    if (na && !json_equal(na, json_object_get(spec, "nodeAffinity")))
        api_cause_add(causes, "FieldValueForbidden", "spec.nodeAffinity",
                      "Forbidden: field is immutable once set");
}

void
api_validate_persistentvolume(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");

    api_storage_check_access_modes(causes, "spec.accessModes",
                                   json_object_get(spec, "accessModes"));
    api_storage_check_storage(causes, "spec.capacity", json_object_get(spec, "capacity"), true);
    api_storage_check_enum(causes, "spec.persistentVolumeReclaimPolicy",
                           json_object_get(spec, "persistentVolumeReclaimPolicy"),
                           reclaim_policies);
    api_storage_check_enum(causes, "spec.volumeMode", json_object_get(spec, "volumeMode"),
                           volume_modes);
    check_sources(spec, causes);
    if (old)
        check_update(spec, json_object_get(old, "spec"), causes);
}

/* Adds finalizer to obj's metadata.finalizers unless it is there. */
void
api_storage_add_finalizer(json_t *obj, const char *finalizer)
{
    json_t *meta = api_meta(obj);
    json_t *fins = json_object_get(meta, "finalizers");

    if (!json_is_array(fins)) {
        fins = json_array();
        json_object_set_new(meta, "finalizers", fins);
    }
    if (!has_mode(fins, finalizer))
        json_array_append_new(fins, json_string(finalizer));
}

static int
pv_allocate(struct api_server *srv, json_t *obj, json_t *causes, struct k3c_err *err)
{
    (void)srv, (void)causes, (void)err;
    api_storage_add_finalizer(obj, "kubernetes.io/pv-protection");
    return 0;
}

const struct api_hooks api_persistentvolume_hooks = {.allocate = pv_allocate};

json_t *
api_row_persistentvolume(const json_t *obj, int64_t now_s)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *claim = json_object_get(spec, "claimRef");
    const char *phase = json_string_value(api_json_path(obj, "status.phase"));
    const char *vac = json_string_value(json_object_get(spec, "volumeAttributesClassName"));
    const char *mode = json_string_value(json_object_get(spec, "volumeMode"));
    const char *reason = json_string_value(api_json_path(obj, "status.reason"));
    const char *cap = json_string_value(api_json_path(spec, "capacity.storage"));
    const char *policy = json_string_value(json_object_get(spec, "persistentVolumeReclaimPolicy"));
    const char *cls = json_string_value(json_object_get(spec, "storageClassName"));
    char claim_s[512] = "";

    if (claim)
        snprintf(claim_s, sizeof(claim_s), "%s/%s",
                 json_string_value(json_object_get(claim, "namespace")) ?: "",
                 json_string_value(json_object_get(claim, "name")) ?: "");
    if (api_json_path(obj, "metadata.deletionTimestamp"))
        phase = "Terminating";
    return json_pack("[s s o s s s s s s o s]",
                     json_string_value(api_json_path(obj, "metadata.name")) ?: "", cap ? cap : "0",
                     api_storage_access_modes_cell(json_object_get(spec, "accessModes")),
                     policy ?: "", phase ?: "", claim_s, cls ?: "", vac ?: "<unset>", reason ?: "",
                     api_storage_age_cell(obj, now_s), mode ?: "<unset>");
}
