/* SPDX-License-Identifier: Apache-2.0
 * api_protobuf.c - Kubernetes protobuf request bodies to JSON, driven by one
 * schema table per message (field numbers from k8s.io/api and apimachinery
 * generated.proto). The JSON matches what encoding/json makes of the Go
 * struct: gogo-protobuf writes every non-pointer field, so a zero scalar is
 * dropped unless the field is a Go pointer or has no omitempty (PB_KEEP).
 * Invariants: every length is checked against its enclosing slice, nesting
 * is capped at PB_MAX_DEPTH, and no input makes us read outside data. */
#define LOG_COMPONENT "api"
#include "api/api-protobuf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PB_MAX_DEPTH 32
#define PB_MAX_FIELD ((1u << 29) - 1)
/* metav1.Time marshals years 0001..9999 only (Go's MarshalJSON refuses the rest). */
#define PB_MIN_SECONDS (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define PB_MAX_SECONDS 253402300799LL   /* 9999-12-31T23:59:59Z */

/* ---- wire format ---------------------------------------------------------- */

enum pb_wire {
    PB_WIRE_VARINT = 0,
    PB_WIRE_I64 = 1,
    PB_WIRE_LEN = 2,
    PB_WIRE_I32 = 5,
};

struct pb_reader {
    const uint8_t *p;
    const uint8_t *end;
};

/* One field as read off the wire: u holds a VARINT/I64/I32 value or a LEN
 * length, data/len the LEN payload (inside the reader's slice). */
struct pb_wire_field {
    uint32_t num;
    unsigned wire;
    uint64_t u;
    const uint8_t *data;
    size_t len;
};

static void
pb_reader_init(struct pb_reader *r, const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];

    /* An absent field is a NULL slice; NULL + 0 is not valid C. */
    r->p = data ? data : empty;
    r->end = r->p + (data ? len : 0);
}

static bool
pb_reader_done(const struct pb_reader *r)
{
    return r->p >= r->end;
}

static int
pb_read_varint(struct pb_reader *r, uint64_t *out, struct k3c_err *err)
{
    uint64_t v = 0;

    *out = 0; /* also on error: gcc -O3 cannot see that k3c_err_set returns -1 */
    /* At most 10 bytes; bits past 64 are dropped, as gogo-protobuf does. */
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (r->p >= r->end)
            return k3c_err_set(err, K3C_E_BAD_REQUEST, "truncated varint");
        b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_BAD_REQUEST, "varint longer than 10 bytes");
}

static int
pb_read_fixed(struct pb_reader *r, size_t n, uint64_t *out, struct k3c_err *err)
{
    uint64_t v = 0;

    if ((size_t)(r->end - r->p) < n)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "truncated %zu-byte field", n);
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 0;
}

static int
pb_read_field(struct pb_reader *r, struct pb_wire_field *f, struct k3c_err *err)
{
    uint64_t tag;

    if (pb_read_varint(r, &tag, err) < 0)
        return -1;
    if (tag >> 3 == 0 || tag >> 3 > PB_MAX_FIELD)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "invalid field number %" PRIu64, tag >> 3);
    *f = (struct pb_wire_field){.num = (uint32_t)(tag >> 3), .wire = (unsigned)(tag & 7)};
    switch (f->wire) {
    case PB_WIRE_VARINT:
        return pb_read_varint(r, &f->u, err);
    case PB_WIRE_I64:
        return pb_read_fixed(r, 8, &f->u, err);
    case PB_WIRE_I32:
        return pb_read_fixed(r, 4, &f->u, err);
    case PB_WIRE_LEN:
        if (pb_read_varint(r, &f->u, err) < 0)
            return -1;
        if (f->u > (uint64_t)(r->end - r->p))
            return k3c_err_set(err, K3C_E_BAD_REQUEST,
                               "field %" PRIu32 ": length %" PRIu64 " past the end", f->num, f->u);
        f->data = r->p;
        f->len = (size_t)f->u;
        r->p += f->len;
        return 0;
    default:
        /* 3 and 4 are proto2 groups, which no Kubernetes type uses. */
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "field %" PRIu32 ": unsupported wire type %u",
                           f->num, f->wire);
    }
}

/* ---- schema ------------------------------------------------------------------ */

enum pb_kind {
    PB_STRING,
    PB_BOOL,
    PB_INT32,
    PB_INT64,
    PB_BYTES,        /* base64 string, as encoding/json writes []byte */
    PB_MESSAGE,      /* JSON object decoded with sub */
    PB_INLINE,       /* sub's fields merged into the parent (an embedded Go struct) */
    PB_TIME,         /* metav1.Time {1 seconds, 2 nanos}: RFC 3339, whole seconds */
    PB_MICROTIME,    /* metav1.MicroTime: RFC 3339 with 6 fractional digits */
    PB_INTORSTRING,  /* intstr.IntOrString {1 type, 2 intVal, 3 strVal} */
    PB_QUANTITY,     /* resource.Quantity {1 string} */
    PB_FIELDSV1,     /* metav1.FieldsV1 {1 raw}: raw is JSON text */
    PB_MAP_STRING,   /* map<string,string>: repeated {1 key, 2 value} */
    PB_MAP_BYTES,    /* map<string,bytes> */
    PB_MAP_QUANTITY, /* map<string,Quantity> */
};

#define PB_REP  0x1u /* repeated: JSON array */
#define PB_KEEP 0x2u /* a present zero scalar is kept (Go pointer, or no omitempty) */

struct pb_message;

struct pb_field {
    uint32_t num;
    const char *json; /* NULL for PB_INLINE */
    enum pb_kind kind;
    unsigned flags;
    const struct pb_message *sub; /* PB_MESSAGE and PB_INLINE */
};

struct pb_message {
    const char *name;
    const struct pb_field *fields;
    size_t n_fields;
};

#define PB_FIELD(n, j, k, fl, m)                                                                   \
    {                                                                                              \
        .num = (n), .json = (j), .kind = (k), .flags = (fl), .sub = (m)                            \
    }
#define F_STR(n, j)       PB_FIELD(n, j, PB_STRING, 0, NULL)
#define F_STR_K(n, j)     PB_FIELD(n, j, PB_STRING, PB_KEEP, NULL)
#define F_STRS(n, j)      PB_FIELD(n, j, PB_STRING, PB_REP, NULL)
#define F_BOOL(n, j)      PB_FIELD(n, j, PB_BOOL, 0, NULL)
#define F_BOOL_K(n, j)    PB_FIELD(n, j, PB_BOOL, PB_KEEP, NULL)
#define F_I32(n, j)       PB_FIELD(n, j, PB_INT32, 0, NULL)
#define F_I32_K(n, j)     PB_FIELD(n, j, PB_INT32, PB_KEEP, NULL)
#define F_I32S(n, j)      PB_FIELD(n, j, PB_INT32, PB_REP, NULL)
#define F_I64(n, j)       PB_FIELD(n, j, PB_INT64, 0, NULL)
#define F_I64_K(n, j)     PB_FIELD(n, j, PB_INT64, PB_KEEP, NULL)
#define F_I64S(n, j)      PB_FIELD(n, j, PB_INT64, PB_REP, NULL)
#define F_MSG(n, j, m)    PB_FIELD(n, j, PB_MESSAGE, 0, &(m))
#define F_MSGS(n, j, m)   PB_FIELD(n, j, PB_MESSAGE, PB_REP, &(m))
#define F_INLINE(n, m)    PB_FIELD(n, NULL, PB_INLINE, 0, &(m))
#define F_TIME(n, j)      PB_FIELD(n, j, PB_TIME, 0, NULL)
#define F_MICRO(n, j)     PB_FIELD(n, j, PB_MICROTIME, 0, NULL)
#define F_IOS(n, j)       PB_FIELD(n, j, PB_INTORSTRING, 0, NULL)
#define F_QTY(n, j)       PB_FIELD(n, j, PB_QUANTITY, 0, NULL)
#define F_FIELDSV1(n, j)  PB_FIELD(n, j, PB_FIELDSV1, 0, NULL)
#define F_MAP_STR(n, j)   PB_FIELD(n, j, PB_MAP_STRING, 0, NULL)
#define F_MAP_BYTES(n, j) PB_FIELD(n, j, PB_MAP_BYTES, 0, NULL)
#define F_MAP_QTY(n, j)   PB_FIELD(n, j, PB_MAP_QUANTITY, 0, NULL)

/* Defines the message var from the field array var##_f. */
#define PB_MSG(var, name)                                                                          \
    static const struct pb_message var = {(name), var##_f, K3C_ARRAY_SIZE(var##_f)}

/* Leaves first: a table refers only to tables above it. */

/* ---- k8s.io/apimachinery/pkg/apis/meta/v1 ---- */

static const struct pb_field m_owner_reference_f[] = {
    F_STR_K(5, "apiVersion"), F_STR_K(1, "kind"),        F_STR_K(3, "name"),
    F_STR_K(4, "uid"),        F_BOOL_K(6, "controller"), F_BOOL_K(7, "blockOwnerDeletion"),
};
PB_MSG(m_owner_reference, "OwnerReference");

static const struct pb_field m_managed_fields_entry_f[] = {
    F_STR(1, "manager"),    F_STR(2, "operation"),     F_STR(3, "apiVersion"),  F_TIME(4, "time"),
    F_STR(6, "fieldsType"), F_FIELDSV1(7, "fieldsV1"), F_STR(8, "subresource"),
};
PB_MSG(m_managed_fields_entry, "ManagedFieldsEntry");

static const struct pb_field m_object_meta_f[] = {
    F_STR(1, "name"),
    F_STR(2, "generateName"),
    F_STR(3, "namespace"),
    F_STR(4, "selfLink"),
    F_STR(5, "uid"),
    F_STR(6, "resourceVersion"),
    F_I64(7, "generation"),
    F_TIME(8, "creationTimestamp"),
    F_TIME(9, "deletionTimestamp"),
    F_I64_K(10, "deletionGracePeriodSeconds"),
    F_MAP_STR(11, "labels"),
    F_MAP_STR(12, "annotations"),
    F_MSGS(13, "ownerReferences", m_owner_reference),
    F_STRS(14, "finalizers"),
    F_MSGS(17, "managedFields", m_managed_fields_entry),
};
PB_MSG(m_object_meta, "ObjectMeta");

static const struct pb_field m_label_selector_requirement_f[] = {
    F_STR_K(1, "key"),
    F_STR_K(2, "operator"),
    F_STRS(3, "values"),
};
PB_MSG(m_label_selector_requirement, "LabelSelectorRequirement");

static const struct pb_field m_label_selector_f[] = {
    F_MAP_STR(1, "matchLabels"),
    F_MSGS(2, "matchExpressions", m_label_selector_requirement),
};
PB_MSG(m_label_selector, "LabelSelector");

static const struct pb_field m_preconditions_f[] = {
    F_STR_K(1, "uid"),
    F_STR_K(2, "resourceVersion"),
};
PB_MSG(m_preconditions, "Preconditions");

static const struct pb_field m_delete_options_f[] = {
    F_I64_K(1, "gracePeriodSeconds"),
    F_MSG(2, "preconditions", m_preconditions),
    F_BOOL_K(3, "orphanDependents"),
    F_STR_K(4, "propagationPolicy"),
    F_STRS(5, "dryRun"),
};
PB_MSG(m_delete_options, "DeleteOptions");

static const struct pb_field m_condition_f[] = {
    F_STR_K(1, "type"),
    F_STR_K(2, "status"),
    F_I64(3, "observedGeneration"),
    F_TIME(4, "lastTransitionTime"),
    F_STR_K(5, "reason"),
    F_STR_K(6, "message"),
};
PB_MSG(m_condition, "Condition");

/* ---- k8s.io/api/core/v1: references and selectors ---- */

static const struct pb_field m_local_object_reference_f[] = {
    F_STR(1, "name"),
};
PB_MSG(m_local_object_reference, "LocalObjectReference");

static const struct pb_field m_object_reference_f[] = {
    F_STR(1, "kind"),       F_STR(2, "namespace"),       F_STR(3, "name"),      F_STR(4, "uid"),
    F_STR(5, "apiVersion"), F_STR(6, "resourceVersion"), F_STR(7, "fieldPath"),
};
PB_MSG(m_object_reference, "ObjectReference");

static const struct pb_field m_key_to_path_f[] = {
    F_STR_K(1, "key"),
    F_STR_K(2, "path"),
    F_I32_K(3, "mode"),
};
PB_MSG(m_key_to_path, "KeyToPath");

static const struct pb_field m_object_field_selector_f[] = {
    F_STR(1, "apiVersion"),
    F_STR_K(2, "fieldPath"),
};
PB_MSG(m_object_field_selector, "ObjectFieldSelector");

static const struct pb_field m_resource_field_selector_f[] = {
    F_STR(1, "containerName"),
    F_STR_K(2, "resource"),
    F_QTY(3, "divisor"),
};
PB_MSG(m_resource_field_selector, "ResourceFieldSelector");

/* ConfigMapKeySelector and SecretKeySelector share a layout. */
static const struct pb_field m_key_selector_f[] = {
    F_INLINE(1, m_local_object_reference),
    F_STR_K(2, "key"),
    F_BOOL_K(3, "optional"),
};
PB_MSG(m_key_selector, "KeySelector");

/* ConfigMapEnvSource and SecretEnvSource share a layout. */
static const struct pb_field m_env_source_f[] = {
    F_INLINE(1, m_local_object_reference),
    F_BOOL_K(2, "optional"),
};
PB_MSG(m_env_source, "EnvSource");

/* ---- core/v1: containers ---- */

static const struct pb_field m_env_var_source_f[] = {
    F_MSG(1, "fieldRef", m_object_field_selector),
    F_MSG(2, "resourceFieldRef", m_resource_field_selector),
    F_MSG(3, "configMapKeyRef", m_key_selector),
    F_MSG(4, "secretKeyRef", m_key_selector),
};
PB_MSG(m_env_var_source, "EnvVarSource");

static const struct pb_field m_env_var_f[] = {
    F_STR_K(1, "name"),
    F_STR(2, "value"),
    F_MSG(3, "valueFrom", m_env_var_source),
};
PB_MSG(m_env_var, "EnvVar");

static const struct pb_field m_env_from_source_f[] = {
    F_STR(1, "prefix"),
    F_MSG(2, "configMapRef", m_env_source),
    F_MSG(3, "secretRef", m_env_source),
};
PB_MSG(m_env_from_source, "EnvFromSource");

static const struct pb_field m_container_port_f[] = {
    F_STR(1, "name"),     F_I32(2, "hostPort"), F_I32_K(3, "containerPort"),
    F_STR(4, "protocol"), F_STR(5, "hostIP"),
};
PB_MSG(m_container_port, "ContainerPort");

static const struct pb_field m_resource_claim_f[] = {
    F_STR_K(1, "name"),
};
PB_MSG(m_resource_claim, "ResourceClaim");

static const struct pb_field m_resource_requirements_f[] = {
    F_MAP_QTY(1, "limits"),
    F_MAP_QTY(2, "requests"),
    F_MSGS(3, "claims", m_resource_claim),
};
PB_MSG(m_resource_requirements, "ResourceRequirements");

static const struct pb_field m_volume_mount_f[] = {
    F_STR_K(1, "name"),  F_BOOL(2, "readOnly"),          F_STR_K(3, "mountPath"),
    F_STR(4, "subPath"), F_STR_K(5, "mountPropagation"), F_STR(6, "subPathExpr"),
};
PB_MSG(m_volume_mount, "VolumeMount");

static const struct pb_field m_volume_device_f[] = {
    F_STR_K(1, "name"),
    F_STR_K(2, "devicePath"),
};
PB_MSG(m_volume_device, "VolumeDevice");

static const struct pb_field m_exec_action_f[] = {
    F_STRS(1, "command"),
};
PB_MSG(m_exec_action, "ExecAction");

static const struct pb_field m_http_header_f[] = {
    F_STR_K(1, "name"),
    F_STR_K(2, "value"),
};
PB_MSG(m_http_header, "HTTPHeader");

static const struct pb_field m_http_get_action_f[] = {
    F_STR(1, "path"),
    F_IOS(2, "port"),
    F_STR(3, "host"),
    F_STR(4, "scheme"),
    F_MSGS(5, "httpHeaders", m_http_header),
};
PB_MSG(m_http_get_action, "HTTPGetAction");

static const struct pb_field m_tcp_socket_action_f[] = {
    F_IOS(1, "port"),
    F_STR(2, "host"),
};
PB_MSG(m_tcp_socket_action, "TCPSocketAction");

static const struct pb_field m_grpc_action_f[] = {
    F_I32_K(1, "port"),
    F_STR_K(2, "service"),
};
PB_MSG(m_grpc_action, "GRPCAction");

static const struct pb_field m_probe_handler_f[] = {
    F_MSG(1, "exec", m_exec_action),
    F_MSG(2, "httpGet", m_http_get_action),
    F_MSG(3, "tcpSocket", m_tcp_socket_action),
    F_MSG(4, "grpc", m_grpc_action),
};
PB_MSG(m_probe_handler, "ProbeHandler");

static const struct pb_field m_probe_f[] = {
    F_INLINE(1, m_probe_handler),
    F_I32(2, "initialDelaySeconds"),
    F_I32(3, "timeoutSeconds"),
    F_I32(4, "periodSeconds"),
    F_I32(5, "successThreshold"),
    F_I32(6, "failureThreshold"),
    F_I64_K(7, "terminationGracePeriodSeconds"),
};
PB_MSG(m_probe, "Probe");

static const struct pb_field m_lifecycle_handler_f[] = {
    F_MSG(1, "exec", m_exec_action),
    F_MSG(2, "httpGet", m_http_get_action),
    F_MSG(3, "tcpSocket", m_tcp_socket_action),
};
PB_MSG(m_lifecycle_handler, "LifecycleHandler");

static const struct pb_field m_lifecycle_f[] = {
    F_MSG(1, "postStart", m_lifecycle_handler),
    F_MSG(2, "preStop", m_lifecycle_handler),
};
PB_MSG(m_lifecycle, "Lifecycle");

static const struct pb_field m_capabilities_f[] = {
    F_STRS(1, "add"),
    F_STRS(2, "drop"),
};
PB_MSG(m_capabilities, "Capabilities");

static const struct pb_field m_selinux_options_f[] = {
    F_STR(1, "user"),
    F_STR(2, "role"),
    F_STR(3, "type"),
    F_STR(4, "level"),
};
PB_MSG(m_selinux_options, "SELinuxOptions");

static const struct pb_field m_windows_options_f[] = {
    F_STR_K(1, "gmsaCredentialSpecName"),
    F_STR_K(2, "gmsaCredentialSpec"),
    F_STR_K(3, "runAsUserName"),
    F_BOOL_K(4, "hostProcess"),
};
PB_MSG(m_windows_options, "WindowsSecurityContextOptions");

static const struct pb_field m_seccomp_profile_f[] = {
    F_STR_K(1, "type"),
    F_STR_K(2, "localhostProfile"),
};
PB_MSG(m_seccomp_profile, "SeccompProfile");

static const struct pb_field m_security_context_f[] = {
    F_MSG(1, "capabilities", m_capabilities),
    F_BOOL_K(2, "privileged"),
    F_MSG(3, "seLinuxOptions", m_selinux_options),
    F_MSG(10, "windowsOptions", m_windows_options),
    F_I64_K(4, "runAsUser"),
    F_I64_K(8, "runAsGroup"),
    F_BOOL_K(5, "runAsNonRoot"),
    F_BOOL_K(6, "readOnlyRootFilesystem"),
    F_BOOL_K(7, "allowPrivilegeEscalation"),
    F_STR_K(9, "procMount"),
    F_MSG(11, "seccompProfile", m_seccomp_profile),
};
PB_MSG(m_security_context, "SecurityContext");

static const struct pb_field m_container_f[] = {
    F_STR_K(1, "name"),
    F_STR(2, "image"),
    F_STRS(3, "command"),
    F_STRS(4, "args"),
    F_STR(5, "workingDir"),
    F_MSGS(6, "ports", m_container_port),
    F_MSGS(19, "envFrom", m_env_from_source),
    F_MSGS(7, "env", m_env_var),
    F_MSG(8, "resources", m_resource_requirements),
    F_MSGS(9, "volumeMounts", m_volume_mount),
    F_MSGS(21, "volumeDevices", m_volume_device),
    F_MSG(10, "livenessProbe", m_probe),
    F_MSG(11, "readinessProbe", m_probe),
    F_MSG(22, "startupProbe", m_probe),
    F_MSG(12, "lifecycle", m_lifecycle),
    F_STR(13, "terminationMessagePath"),
    F_STR(20, "terminationMessagePolicy"),
    F_STR(14, "imagePullPolicy"),
    F_MSG(15, "securityContext", m_security_context),
    F_BOOL(16, "stdin"),
    F_BOOL(17, "stdinOnce"),
    F_BOOL(18, "tty"),
    F_STR_K(24, "restartPolicy"),
};
PB_MSG(m_container, "Container");

/* ---- core/v1: volumes ---- */

static const struct pb_field m_host_path_f[] = {
    F_STR_K(1, "path"),
    F_STR_K(2, "type"),
};
PB_MSG(m_host_path, "HostPathVolumeSource");

static const struct pb_field m_empty_dir_f[] = {
    F_STR(1, "medium"),
    F_QTY(2, "sizeLimit"),
};
PB_MSG(m_empty_dir, "EmptyDirVolumeSource");

static const struct pb_field m_secret_volume_f[] = {
    F_STR(1, "secretName"),
    F_MSGS(2, "items", m_key_to_path),
    F_I32_K(3, "defaultMode"),
    F_BOOL_K(4, "optional"),
};
PB_MSG(m_secret_volume, "SecretVolumeSource");

static const struct pb_field m_config_map_volume_f[] = {
    F_INLINE(1, m_local_object_reference),
    F_MSGS(2, "items", m_key_to_path),
    F_I32_K(3, "defaultMode"),
    F_BOOL_K(4, "optional"),
};
PB_MSG(m_config_map_volume, "ConfigMapVolumeSource");

static const struct pb_field m_pvc_volume_f[] = {
    F_STR_K(1, "claimName"),
    F_BOOL(2, "readOnly"),
};
PB_MSG(m_pvc_volume, "PersistentVolumeClaimVolumeSource");

static const struct pb_field m_nfs_volume_f[] = {
    F_STR_K(1, "server"),
    F_STR_K(2, "path"),
    F_BOOL(3, "readOnly"),
};
PB_MSG(m_nfs_volume, "NFSVolumeSource");

static const struct pb_field m_downward_api_file_f[] = {
    F_STR_K(1, "path"),
    F_MSG(2, "fieldRef", m_object_field_selector),
    F_MSG(3, "resourceFieldRef", m_resource_field_selector),
    F_I32_K(4, "mode"),
};
PB_MSG(m_downward_api_file, "DownwardAPIVolumeFile");

static const struct pb_field m_downward_api_volume_f[] = {
    F_MSGS(1, "items", m_downward_api_file),
    F_I32_K(2, "defaultMode"),
};
PB_MSG(m_downward_api_volume, "DownwardAPIVolumeSource");

static const struct pb_field m_downward_api_projection_f[] = {
    F_MSGS(1, "items", m_downward_api_file),
};
PB_MSG(m_downward_api_projection, "DownwardAPIProjection");

/* ConfigMapProjection and SecretProjection share a layout. */
static const struct pb_field m_key_projection_f[] = {
    F_INLINE(1, m_local_object_reference),
    F_MSGS(2, "items", m_key_to_path),
    F_BOOL_K(4, "optional"),
};
PB_MSG(m_key_projection, "KeyProjection");

static const struct pb_field m_sa_token_projection_f[] = {
    F_STR(1, "audience"),
    F_I64_K(2, "expirationSeconds"),
    F_STR_K(3, "path"),
};
PB_MSG(m_sa_token_projection, "ServiceAccountTokenProjection");

static const struct pb_field m_volume_projection_f[] = {
    F_MSG(1, "secret", m_key_projection),
    F_MSG(2, "downwardAPI", m_downward_api_projection),
    F_MSG(3, "configMap", m_key_projection),
    F_MSG(4, "serviceAccountToken", m_sa_token_projection),
};
PB_MSG(m_volume_projection, "VolumeProjection");

static const struct pb_field m_projected_volume_f[] = {
    F_MSGS(1, "sources", m_volume_projection),
    F_I32_K(2, "defaultMode"),
};
PB_MSG(m_projected_volume, "ProjectedVolumeSource");

static const struct pb_field m_volume_source_f[] = {
    F_MSG(1, "hostPath", m_host_path),
    F_MSG(2, "emptyDir", m_empty_dir),
    F_MSG(6, "secret", m_secret_volume),
    F_MSG(7, "nfs", m_nfs_volume),
    F_MSG(10, "persistentVolumeClaim", m_pvc_volume),
    F_MSG(16, "downwardAPI", m_downward_api_volume),
    F_MSG(19, "configMap", m_config_map_volume),
    F_MSG(26, "projected", m_projected_volume),
};
PB_MSG(m_volume_source, "VolumeSource");

static const struct pb_field m_volume_f[] = {
    F_STR_K(1, "name"),
    F_INLINE(2, m_volume_source),
};
PB_MSG(m_volume, "Volume");

/* ---- core/v1: scheduling ---- */

static const struct pb_field m_toleration_f[] = {
    F_STR(1, "key"),
    F_STR(2, "operator"),
    F_STR(3, "value"),
    F_STR(4, "effect"),
    F_I64_K(5, "tolerationSeconds"),
};
PB_MSG(m_toleration, "Toleration");

static const struct pb_field m_node_selector_requirement_f[] = {
    F_STR_K(1, "key"),
    F_STR_K(2, "operator"),
    F_STRS(3, "values"),
};
PB_MSG(m_node_selector_requirement, "NodeSelectorRequirement");

static const struct pb_field m_node_selector_term_f[] = {
    F_MSGS(1, "matchExpressions", m_node_selector_requirement),
    F_MSGS(2, "matchFields", m_node_selector_requirement),
};
PB_MSG(m_node_selector_term, "NodeSelectorTerm");

static const struct pb_field m_node_selector_f[] = {
    F_MSGS(1, "nodeSelectorTerms", m_node_selector_term),
};
PB_MSG(m_node_selector, "NodeSelector");

static const struct pb_field m_preferred_scheduling_term_f[] = {
    F_I32_K(1, "weight"),
    F_MSG(2, "preference", m_node_selector_term),
};
PB_MSG(m_preferred_scheduling_term, "PreferredSchedulingTerm");

static const struct pb_field m_node_affinity_f[] = {
    F_MSG(1, "requiredDuringSchedulingIgnoredDuringExecution", m_node_selector),
    F_MSGS(2, "preferredDuringSchedulingIgnoredDuringExecution", m_preferred_scheduling_term),
};
PB_MSG(m_node_affinity, "NodeAffinity");

static const struct pb_field m_pod_affinity_term_f[] = {
    F_MSG(1, "labelSelector", m_label_selector),
    F_STRS(2, "namespaces"),
    F_STR_K(3, "topologyKey"),
    F_MSG(4, "namespaceSelector", m_label_selector),
};
PB_MSG(m_pod_affinity_term, "PodAffinityTerm");

static const struct pb_field m_weighted_pod_affinity_term_f[] = {
    F_I32_K(1, "weight"),
    F_MSG(2, "podAffinityTerm", m_pod_affinity_term),
};
PB_MSG(m_weighted_pod_affinity_term, "WeightedPodAffinityTerm");

/* PodAffinity and PodAntiAffinity share a layout. */
static const struct pb_field m_pod_affinity_f[] = {
    F_MSGS(1, "requiredDuringSchedulingIgnoredDuringExecution", m_pod_affinity_term),
    F_MSGS(2, "preferredDuringSchedulingIgnoredDuringExecution", m_weighted_pod_affinity_term),
};
PB_MSG(m_pod_affinity, "PodAffinity");

static const struct pb_field m_affinity_f[] = {
    F_MSG(1, "nodeAffinity", m_node_affinity),
    F_MSG(2, "podAffinity", m_pod_affinity),
    F_MSG(3, "podAntiAffinity", m_pod_affinity),
};
PB_MSG(m_affinity, "Affinity");

static const struct pb_field m_topology_spread_constraint_f[] = {
    F_I32_K(1, "maxSkew"),           F_STR_K(2, "topologyKey"),
    F_STR_K(3, "whenUnsatisfiable"), F_MSG(4, "labelSelector", m_label_selector),
    F_I32_K(5, "minDomains"),        F_STR_K(6, "nodeAffinityPolicy"),
    F_STR_K(7, "nodeTaintsPolicy"),  F_STRS(8, "matchLabelKeys"),
};
PB_MSG(m_topology_spread_constraint, "TopologySpreadConstraint");

/* ---- core/v1: pods ---- */

static const struct pb_field m_sysctl_f[] = {
    F_STR_K(1, "name"),
    F_STR_K(2, "value"),
};
PB_MSG(m_sysctl, "Sysctl");

static const struct pb_field m_pod_security_context_f[] = {
    F_MSG(1, "seLinuxOptions", m_selinux_options),
    F_MSG(8, "windowsOptions", m_windows_options),
    F_I64_K(2, "runAsUser"),
    F_I64_K(6, "runAsGroup"),
    F_BOOL_K(3, "runAsNonRoot"),
    F_I64S(4, "supplementalGroups"),
    F_I64_K(5, "fsGroup"),
    F_MSGS(7, "sysctls", m_sysctl),
    F_STR_K(9, "fsGroupChangePolicy"),
    F_MSG(10, "seccompProfile", m_seccomp_profile),
};
PB_MSG(m_pod_security_context, "PodSecurityContext");

static const struct pb_field m_host_alias_f[] = {
    F_STR(1, "ip"),
    F_STRS(2, "hostnames"),
};
PB_MSG(m_host_alias, "HostAlias");

static const struct pb_field m_pod_dns_config_option_f[] = {
    F_STR(1, "name"),
    F_STR_K(2, "value"),
};
PB_MSG(m_pod_dns_config_option, "PodDNSConfigOption");

static const struct pb_field m_pod_dns_config_f[] = {
    F_STRS(1, "nameservers"),
    F_STRS(2, "searches"),
    F_MSGS(3, "options", m_pod_dns_config_option),
};
PB_MSG(m_pod_dns_config, "PodDNSConfig");

static const struct pb_field m_pod_readiness_gate_f[] = {
    F_STR_K(1, "conditionType"),
};
PB_MSG(m_pod_readiness_gate, "PodReadinessGate");

/* PodOS and PodSchedulingGate: a name only. */
static const struct pb_field m_named_f[] = {
    F_STR_K(1, "name"),
};
PB_MSG(m_named, "PodOS/PodSchedulingGate");

static const struct pb_field m_pod_spec_f[] = {
    F_MSGS(1, "volumes", m_volume),
    F_MSGS(20, "initContainers", m_container),
    F_MSGS(2, "containers", m_container),
    F_STR(3, "restartPolicy"),
    F_I64_K(4, "terminationGracePeriodSeconds"),
    F_I64_K(5, "activeDeadlineSeconds"),
    F_STR(6, "dnsPolicy"),
    F_MAP_STR(7, "nodeSelector"),
    F_STR(8, "serviceAccountName"),
    F_STR(9, "serviceAccount"),
    F_BOOL_K(21, "automountServiceAccountToken"),
    F_STR(10, "nodeName"),
    F_BOOL(11, "hostNetwork"),
    F_BOOL(12, "hostPID"),
    F_BOOL(13, "hostIPC"),
    F_BOOL_K(27, "shareProcessNamespace"),
    F_MSG(14, "securityContext", m_pod_security_context),
    F_MSGS(15, "imagePullSecrets", m_local_object_reference),
    F_STR(16, "hostname"),
    F_STR(17, "subdomain"),
    F_MSG(18, "affinity", m_affinity),
    F_STR(19, "schedulerName"),
    F_MSGS(22, "tolerations", m_toleration),
    F_MSGS(23, "hostAliases", m_host_alias),
    F_STR(24, "priorityClassName"),
    F_I32_K(25, "priority"),
    F_MSG(26, "dnsConfig", m_pod_dns_config),
    F_MSGS(28, "readinessGates", m_pod_readiness_gate),
    F_STR_K(29, "runtimeClassName"),
    F_BOOL_K(30, "enableServiceLinks"),
    F_STR_K(31, "preemptionPolicy"),
    F_MAP_QTY(32, "overhead"),
    F_MSGS(33, "topologySpreadConstraints", m_topology_spread_constraint),
    F_BOOL_K(35, "setHostnameAsFQDN"),
    F_MSG(36, "os", m_named),
    F_BOOL_K(37, "hostUsers"),
    F_MSGS(38, "schedulingGates", m_named),
};
PB_MSG(m_pod_spec, "PodSpec");

static const struct pb_field m_pod_condition_f[] = {
    F_STR_K(1, "type"),         F_STR_K(2, "status"),
    F_TIME(3, "lastProbeTime"), F_TIME(4, "lastTransitionTime"),
    F_STR(5, "reason"),         F_STR(6, "message"),
};
PB_MSG(m_pod_condition, "PodCondition");

static const struct pb_field m_pod_ip_f[] = {
    F_STR_K(1, "ip"),
};
PB_MSG(m_pod_ip, "PodIP");

/* Container statuses are left out: only the kubelet writes them. */
static const struct pb_field m_pod_status_f[] = {
    F_STR(1, "phase"),    F_MSGS(2, "conditions", m_pod_condition), F_STR(3, "message"),
    F_STR(4, "reason"),   F_STR(11, "nominatedNodeName"),           F_STR(5, "hostIP"),
    F_STR(6, "podIP"),    F_MSGS(12, "podIPs", m_pod_ip),           F_TIME(7, "startTime"),
    F_STR(9, "qosClass"),
};
PB_MSG(m_pod_status, "PodStatus");

static const struct pb_field m_pod_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_pod_spec),
    F_MSG(3, "status", m_pod_status),
};
PB_MSG(m_pod, "Pod");

static const struct pb_field m_pod_template_spec_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_pod_spec),
};
PB_MSG(m_pod_template_spec, "PodTemplateSpec");

/* ---- core/v1: services, endpoints ---- */

static const struct pb_field m_service_port_f[] = {
    F_STR(1, "name"),   F_STR(2, "protocol"),   F_STR_K(6, "appProtocol"),
    F_I32_K(3, "port"), F_IOS(4, "targetPort"), F_I32(5, "nodePort"),
};
PB_MSG(m_service_port, "ServicePort");

static const struct pb_field m_client_ip_config_f[] = {
    F_I32_K(1, "timeoutSeconds"),
};
PB_MSG(m_client_ip_config, "ClientIPConfig");

static const struct pb_field m_session_affinity_config_f[] = {
    F_MSG(1, "clientIP", m_client_ip_config),
};
PB_MSG(m_session_affinity_config, "SessionAffinityConfig");

static const struct pb_field m_service_spec_f[] = {
    F_MSGS(1, "ports", m_service_port),
    F_MAP_STR(2, "selector"),
    F_STR(3, "clusterIP"),
    F_STRS(18, "clusterIPs"),
    F_STR(4, "type"),
    F_STRS(5, "externalIPs"),
    F_STR(7, "sessionAffinity"),
    F_STR(8, "loadBalancerIP"),
    F_STRS(9, "loadBalancerSourceRanges"),
    F_STR(10, "externalName"),
    F_STR(11, "externalTrafficPolicy"),
    F_I32(12, "healthCheckNodePort"),
    F_BOOL(13, "publishNotReadyAddresses"),
    F_MSG(14, "sessionAffinityConfig", m_session_affinity_config),
    F_STRS(19, "ipFamilies"),
    F_STR_K(17, "ipFamilyPolicy"),
    F_BOOL_K(20, "allocateLoadBalancerNodePorts"),
    F_STR_K(21, "loadBalancerClass"),
    F_STR_K(22, "internalTrafficPolicy"),
};
PB_MSG(m_service_spec, "ServiceSpec");

static const struct pb_field m_port_status_f[] = {
    F_I32_K(1, "port"),
    F_STR_K(2, "protocol"),
    F_STR_K(3, "error"),
};
PB_MSG(m_port_status, "PortStatus");

static const struct pb_field m_load_balancer_ingress_f[] = {
    F_STR(1, "ip"),
    F_STR(2, "hostname"),
    F_MSGS(4, "ports", m_port_status),
};
PB_MSG(m_load_balancer_ingress, "LoadBalancerIngress");

static const struct pb_field m_load_balancer_status_f[] = {
    F_MSGS(1, "ingress", m_load_balancer_ingress),
};
PB_MSG(m_load_balancer_status, "LoadBalancerStatus");

static const struct pb_field m_service_status_f[] = {
    F_MSG(1, "loadBalancer", m_load_balancer_status),
    F_MSGS(2, "conditions", m_condition),
};
PB_MSG(m_service_status, "ServiceStatus");

static const struct pb_field m_service_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_service_spec),
    F_MSG(3, "status", m_service_status),
};
PB_MSG(m_service, "Service");

static const struct pb_field m_endpoint_address_f[] = {
    F_STR_K(1, "ip"),
    F_STR(3, "hostname"),
    F_STR_K(4, "nodeName"),
    F_MSG(2, "targetRef", m_object_reference),
};
PB_MSG(m_endpoint_address, "EndpointAddress");

static const struct pb_field m_core_endpoint_port_f[] = {
    F_STR(1, "name"),
    F_I32_K(2, "port"),
    F_STR(3, "protocol"),
    F_STR_K(4, "appProtocol"),
};
PB_MSG(m_core_endpoint_port, "EndpointPort");

static const struct pb_field m_endpoint_subset_f[] = {
    F_MSGS(1, "addresses", m_endpoint_address),
    F_MSGS(2, "notReadyAddresses", m_endpoint_address),
    F_MSGS(3, "ports", m_core_endpoint_port),
};
PB_MSG(m_endpoint_subset, "EndpointSubset");

static const struct pb_field m_endpoints_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSGS(2, "subsets", m_endpoint_subset),
};
PB_MSG(m_endpoints, "Endpoints");

/* ---- core/v1: configuration, namespaces, accounts, events, nodes ---- */

static const struct pb_field m_config_map_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_BOOL_K(4, "immutable"),
    F_MAP_STR(2, "data"),
    F_MAP_BYTES(3, "binaryData"),
};
PB_MSG(m_config_map, "ConfigMap");

static const struct pb_field m_secret_f[] = {
    F_MSG(1, "metadata", m_object_meta), F_BOOL_K(5, "immutable"), F_MAP_BYTES(2, "data"),
    F_MAP_STR(4, "stringData"),          F_STR(3, "type"),
};
PB_MSG(m_secret, "Secret");

static const struct pb_field m_namespace_spec_f[] = {
    F_STRS(1, "finalizers"),
};
PB_MSG(m_namespace_spec, "NamespaceSpec");

static const struct pb_field m_namespace_condition_f[] = {
    F_STR_K(1, "type"), F_STR_K(2, "status"), F_TIME(4, "lastTransitionTime"),
    F_STR(5, "reason"), F_STR(6, "message"),
};
PB_MSG(m_namespace_condition, "NamespaceCondition");

static const struct pb_field m_namespace_status_f[] = {
    F_STR(1, "phase"),
    F_MSGS(2, "conditions", m_namespace_condition),
};
PB_MSG(m_namespace_status, "NamespaceStatus");

static const struct pb_field m_namespace_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_namespace_spec),
    F_MSG(3, "status", m_namespace_status),
};
PB_MSG(m_namespace, "Namespace");

static const struct pb_field m_service_account_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSGS(2, "secrets", m_object_reference),
    F_MSGS(3, "imagePullSecrets", m_local_object_reference),
    F_BOOL_K(4, "automountServiceAccountToken"),
};
PB_MSG(m_service_account, "ServiceAccount");

static const struct pb_field m_event_source_f[] = {
    F_STR(1, "component"),
    F_STR(2, "host"),
};
PB_MSG(m_event_source, "EventSource");

static const struct pb_field m_event_series_f[] = {
    F_I32(1, "count"),
    F_MICRO(2, "lastObservedTime"),
};
PB_MSG(m_event_series, "EventSeries");

static const struct pb_field m_event_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "involvedObject", m_object_reference),
    F_STR(3, "reason"),
    F_STR(4, "message"),
    F_MSG(5, "source", m_event_source),
    F_TIME(6, "firstTimestamp"),
    F_TIME(7, "lastTimestamp"),
    F_I32(8, "count"),
    F_STR(9, "type"),
    F_MICRO(10, "eventTime"),
    F_MSG(11, "series", m_event_series),
    F_STR(12, "action"),
    F_MSG(13, "related", m_object_reference),
    F_STR_K(14, "reportingComponent"),
    F_STR_K(15, "reportingInstance"),
};
PB_MSG(m_event, "Event");

static const struct pb_field m_taint_f[] = {
    F_STR_K(1, "key"),
    F_STR(2, "value"),
    F_STR_K(3, "effect"),
    F_TIME(4, "timeAdded"),
};
PB_MSG(m_taint, "Taint");

static const struct pb_field m_node_spec_f[] = {
    F_STR(1, "podCIDR"),        F_STRS(7, "podCIDRs"),        F_STR(3, "providerID"),
    F_BOOL(4, "unschedulable"), F_MSGS(5, "taints", m_taint), F_STR(2, "externalID"),
};
PB_MSG(m_node_spec, "NodeSpec");

static const struct pb_field m_node_address_f[] = {
    F_STR_K(1, "type"),
    F_STR_K(2, "address"),
};
PB_MSG(m_node_address, "NodeAddress");

static const struct pb_field m_node_condition_f[] = {
    F_STR_K(1, "type"),
    F_STR_K(2, "status"),
    F_TIME(3, "lastHeartbeatTime"),
    F_TIME(4, "lastTransitionTime"),
    F_STR(5, "reason"),
    F_STR(6, "message"),
};
PB_MSG(m_node_condition, "NodeCondition");

static const struct pb_field m_daemon_endpoint_f[] = {
    F_I32_K(1, "Port"),
};
PB_MSG(m_daemon_endpoint, "DaemonEndpoint");

static const struct pb_field m_node_daemon_endpoints_f[] = {
    F_MSG(1, "kubeletEndpoint", m_daemon_endpoint),
};
PB_MSG(m_node_daemon_endpoints, "NodeDaemonEndpoints");

static const struct pb_field m_node_system_info_f[] = {
    F_STR_K(1, "machineID"),       F_STR_K(2, "systemUUID"),
    F_STR_K(3, "bootID"),          F_STR_K(4, "kernelVersion"),
    F_STR_K(5, "osImage"),         F_STR_K(6, "containerRuntimeVersion"),
    F_STR_K(7, "kubeletVersion"),  F_STR_K(8, "kubeProxyVersion"),
    F_STR_K(9, "operatingSystem"), F_STR_K(10, "architecture"),
};
PB_MSG(m_node_system_info, "NodeSystemInfo");

static const struct pb_field m_container_image_f[] = {
    F_STRS(1, "names"),
    F_I64(2, "sizeBytes"),
};
PB_MSG(m_container_image, "ContainerImage");

static const struct pb_field m_node_status_f[] = {
    F_MAP_QTY(1, "capacity"),
    F_MAP_QTY(2, "allocatable"),
    F_STR(3, "phase"),
    F_MSGS(4, "conditions", m_node_condition),
    F_MSGS(5, "addresses", m_node_address),
    F_MSG(6, "daemonEndpoints", m_node_daemon_endpoints),
    F_MSG(7, "nodeInfo", m_node_system_info),
    F_MSGS(8, "images", m_container_image),
    F_STRS(9, "volumesInUse"),
};
PB_MSG(m_node_status, "NodeStatus");

static const struct pb_field m_node_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_node_spec),
    F_MSG(3, "status", m_node_status),
};
PB_MSG(m_node, "Node");

/* ---- k8s.io/api/apps/v1 ---- */

/* RollingUpdateDeployment and RollingUpdateDaemonSet share a layout. */
static const struct pb_field m_rolling_update_f[] = {
    F_IOS(1, "maxUnavailable"),
    F_IOS(2, "maxSurge"),
};
PB_MSG(m_rolling_update, "RollingUpdate");

/* DeploymentStrategy and DaemonSetUpdateStrategy share a layout. */
static const struct pb_field m_update_strategy_f[] = {
    F_STR(1, "type"),
    F_MSG(2, "rollingUpdate", m_rolling_update),
};
PB_MSG(m_update_strategy, "DeploymentStrategy");

static const struct pb_field m_deployment_spec_f[] = {
    F_I32_K(1, "replicas"),
    F_MSG(2, "selector", m_label_selector),
    F_MSG(3, "template", m_pod_template_spec),
    F_MSG(4, "strategy", m_update_strategy),
    F_I32(5, "minReadySeconds"),
    F_I32_K(6, "revisionHistoryLimit"),
    F_BOOL(7, "paused"),
    F_I32_K(9, "progressDeadlineSeconds"),
};
PB_MSG(m_deployment_spec, "DeploymentSpec");

static const struct pb_field m_deployment_condition_f[] = {
    F_STR_K(1, "type"),          F_STR_K(2, "status"),
    F_TIME(6, "lastUpdateTime"), F_TIME(7, "lastTransitionTime"),
    F_STR(4, "reason"),          F_STR(5, "message"),
};
PB_MSG(m_deployment_condition, "DeploymentCondition");

static const struct pb_field m_deployment_status_f[] = {
    F_I64(1, "observedGeneration"),
    F_I32(2, "replicas"),
    F_I32(3, "updatedReplicas"),
    F_I32(7, "readyReplicas"),
    F_I32(4, "availableReplicas"),
    F_I32(5, "unavailableReplicas"),
    F_MSGS(6, "conditions", m_deployment_condition),
    F_I32_K(8, "collisionCount"),
};
PB_MSG(m_deployment_status, "DeploymentStatus");

static const struct pb_field m_deployment_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_deployment_spec),
    F_MSG(3, "status", m_deployment_status),
};
PB_MSG(m_deployment, "Deployment");

/* ReplicaSetCondition and DaemonSetCondition share a layout. */
static const struct pb_field m_workload_condition_f[] = {
    F_STR_K(1, "type"), F_STR_K(2, "status"), F_TIME(3, "lastTransitionTime"),
    F_STR(4, "reason"), F_STR(5, "message"),
};
PB_MSG(m_workload_condition, "ReplicaSetCondition");

static const struct pb_field m_replica_set_spec_f[] = {
    F_I32_K(1, "replicas"),
    F_I32(4, "minReadySeconds"),
    F_MSG(2, "selector", m_label_selector),
    F_MSG(3, "template", m_pod_template_spec),
};
PB_MSG(m_replica_set_spec, "ReplicaSetSpec");

static const struct pb_field m_replica_set_status_f[] = {
    F_I32_K(1, "replicas"),         F_I32(2, "fullyLabeledReplicas"),
    F_I32(4, "readyReplicas"),      F_I32(5, "availableReplicas"),
    F_I64(3, "observedGeneration"), F_MSGS(6, "conditions", m_workload_condition),
};
PB_MSG(m_replica_set_status, "ReplicaSetStatus");

static const struct pb_field m_replica_set_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_replica_set_spec),
    F_MSG(3, "status", m_replica_set_status),
};
PB_MSG(m_replica_set, "ReplicaSet");

static const struct pb_field m_daemon_set_spec_f[] = {
    F_MSG(1, "selector", m_label_selector),
    F_MSG(2, "template", m_pod_template_spec),
    F_MSG(3, "updateStrategy", m_update_strategy),
    F_I32(4, "minReadySeconds"),
    F_I32_K(6, "revisionHistoryLimit"),
};
PB_MSG(m_daemon_set_spec, "DaemonSetSpec");

static const struct pb_field m_daemon_set_status_f[] = {
    F_I32_K(1, "currentNumberScheduled"), F_I32_K(2, "numberMisscheduled"),
    F_I32_K(3, "desiredNumberScheduled"), F_I32_K(4, "numberReady"),
    F_I64(5, "observedGeneration"),       F_I32(6, "updatedNumberScheduled"),
    F_I32(7, "numberAvailable"),          F_I32(8, "numberUnavailable"),
    F_I32_K(9, "collisionCount"),         F_MSGS(10, "conditions", m_workload_condition),
};
PB_MSG(m_daemon_set_status, "DaemonSetStatus");

static const struct pb_field m_daemon_set_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_daemon_set_spec),
    F_MSG(3, "status", m_daemon_set_status),
};
PB_MSG(m_daemon_set, "DaemonSet");

/* ---- k8s.io/api/batch/v1 ---- */

static const struct pb_field m_on_exit_codes_f[] = {
    F_STR_K(1, "containerName"),
    F_STR_K(2, "operator"),
    F_I32S(3, "values"),
};
PB_MSG(m_on_exit_codes, "PodFailurePolicyOnExitCodesRequirement");

static const struct pb_field m_on_pod_conditions_f[] = {
    F_STR_K(1, "type"),
    F_STR_K(2, "status"),
};
PB_MSG(m_on_pod_conditions, "PodFailurePolicyOnPodConditionsPattern");

static const struct pb_field m_pod_failure_policy_rule_f[] = {
    F_STR_K(1, "action"),
    F_MSG(2, "onExitCodes", m_on_exit_codes),
    F_MSGS(3, "onPodConditions", m_on_pod_conditions),
};
PB_MSG(m_pod_failure_policy_rule, "PodFailurePolicyRule");

static const struct pb_field m_pod_failure_policy_f[] = {
    F_MSGS(1, "rules", m_pod_failure_policy_rule),
};
PB_MSG(m_pod_failure_policy, "PodFailurePolicy");

static const struct pb_field m_job_spec_f[] = {
    F_I32_K(1, "parallelism"),
    F_I32_K(2, "completions"),
    F_I64_K(3, "activeDeadlineSeconds"),
    F_MSG(11, "podFailurePolicy", m_pod_failure_policy),
    F_I32_K(7, "backoffLimit"),
    F_MSG(4, "selector", m_label_selector),
    F_BOOL_K(5, "manualSelector"),
    F_MSG(6, "template", m_pod_template_spec),
    F_I32_K(8, "ttlSecondsAfterFinished"),
    F_STR_K(9, "completionMode"),
    F_BOOL_K(10, "suspend"),
};
PB_MSG(m_job_spec, "JobSpec");

static const struct pb_field m_job_condition_f[] = {
    F_STR_K(1, "type"),         F_STR_K(2, "status"),
    F_TIME(3, "lastProbeTime"), F_TIME(4, "lastTransitionTime"),
    F_STR(5, "reason"),         F_STR(6, "message"),
};
PB_MSG(m_job_condition, "JobCondition");

static const struct pb_field m_uncounted_terminated_pods_f[] = {
    F_STRS(1, "succeeded"),
    F_STRS(2, "failed"),
};
PB_MSG(m_uncounted_terminated_pods, "UncountedTerminatedPods");

static const struct pb_field m_job_status_f[] = {
    F_MSGS(1, "conditions", m_job_condition),
    F_TIME(2, "startTime"),
    F_TIME(3, "completionTime"),
    F_I32(4, "active"),
    F_I32(5, "succeeded"),
    F_I32(6, "failed"),
    F_STR(7, "completedIndexes"),
    F_MSG(8, "uncountedTerminatedPods", m_uncounted_terminated_pods),
    F_I32_K(9, "ready"),
};
PB_MSG(m_job_status, "JobStatus");

static const struct pb_field m_job_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_job_spec),
    F_MSG(3, "status", m_job_status),
};
PB_MSG(m_job, "Job");

static const struct pb_field m_job_template_spec_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_job_spec),
};
PB_MSG(m_job_template_spec, "JobTemplateSpec");

static const struct pb_field m_cron_job_spec_f[] = {
    F_STR_K(1, "schedule"),
    F_STR_K(8, "timeZone"),
    F_I64_K(2, "startingDeadlineSeconds"),
    F_STR(3, "concurrencyPolicy"),
    F_BOOL_K(4, "suspend"),
    F_MSG(5, "jobTemplate", m_job_template_spec),
    F_I32_K(6, "successfulJobsHistoryLimit"),
    F_I32_K(7, "failedJobsHistoryLimit"),
};
PB_MSG(m_cron_job_spec, "CronJobSpec");

static const struct pb_field m_cron_job_status_f[] = {
    F_MSGS(1, "active", m_object_reference),
    F_TIME(4, "lastScheduleTime"),
    F_TIME(5, "lastSuccessfulTime"),
};
PB_MSG(m_cron_job_status, "CronJobStatus");

static const struct pb_field m_cron_job_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_cron_job_spec),
    F_MSG(3, "status", m_cron_job_status),
};
PB_MSG(m_cron_job, "CronJob");

/* ---- policy, authentication.k8s.io, coordination.k8s.io, discovery.k8s.io ---- */

static const struct pb_field m_eviction_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "deleteOptions", m_delete_options),
};
PB_MSG(m_eviction, "Eviction");

static const struct pb_field m_bound_object_reference_f[] = {
    F_STR(1, "kind"),
    F_STR(2, "apiVersion"),
    F_STR(3, "name"),
    F_STR(4, "uid"),
};
PB_MSG(m_bound_object_reference, "BoundObjectReference");

static const struct pb_field m_token_request_spec_f[] = {
    F_STRS(1, "audiences"),
    F_I64_K(4, "expirationSeconds"),
    F_MSG(3, "boundObjectRef", m_bound_object_reference),
};
PB_MSG(m_token_request_spec, "TokenRequestSpec");

static const struct pb_field m_token_request_status_f[] = {
    F_STR_K(1, "token"),
    F_TIME(2, "expirationTimestamp"),
};
PB_MSG(m_token_request_status, "TokenRequestStatus");

static const struct pb_field m_token_request_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_token_request_spec),
    F_MSG(3, "status", m_token_request_status),
};
PB_MSG(m_token_request, "TokenRequest");

static const struct pb_field m_lease_spec_f[] = {
    F_STR_K(1, "holderIdentity"), F_I32_K(2, "leaseDurationSeconds"), F_MICRO(3, "acquireTime"),
    F_MICRO(4, "renewTime"),      F_I32_K(5, "leaseTransitions"),
};
PB_MSG(m_lease_spec, "LeaseSpec");

static const struct pb_field m_lease_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_lease_spec),
};
PB_MSG(m_lease, "Lease");

static const struct pb_field m_endpoint_conditions_f[] = {
    F_BOOL_K(1, "ready"),
    F_BOOL_K(2, "serving"),
    F_BOOL_K(3, "terminating"),
};
PB_MSG(m_endpoint_conditions, "EndpointConditions");

static const struct pb_field m_for_zone_f[] = {
    F_STR_K(1, "name"),
};
PB_MSG(m_for_zone, "ForZone");

static const struct pb_field m_endpoint_hints_f[] = {
    F_MSGS(1, "forZones", m_for_zone),
};
PB_MSG(m_endpoint_hints, "EndpointHints");

static const struct pb_field m_endpoint_f[] = {
    F_STRS(1, "addresses"),
    F_MSG(2, "conditions", m_endpoint_conditions),
    F_STR_K(3, "hostname"),
    F_MSG(4, "targetRef", m_object_reference),
    F_MAP_STR(5, "deprecatedTopology"),
    F_STR_K(6, "nodeName"),
    F_STR_K(7, "zone"),
    F_MSG(8, "hints", m_endpoint_hints),
};
PB_MSG(m_endpoint, "Endpoint");

static const struct pb_field m_endpoint_port_f[] = {
    F_STR_K(1, "name"),
    F_STR_K(2, "protocol"),
    F_I32_K(3, "port"),
    F_STR_K(4, "appProtocol"),
};
PB_MSG(m_endpoint_port, "EndpointPort");

static const struct pb_field m_endpoint_slice_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_STR_K(4, "addressType"),
    F_MSGS(2, "endpoints", m_endpoint),
    F_MSGS(3, "ports", m_endpoint_port),
};
PB_MSG(m_endpoint_slice, "EndpointSlice");

/* ---- k8s.io/api/autoscaling/v1 (issue #16: kubectl autoscale sends it) ---- */

static const struct pb_field m_cross_version_object_reference_f[] = {
    F_STR_K(1, "kind"),
    F_STR_K(2, "name"),
    F_STR(3, "apiVersion"),
};
PB_MSG(m_cross_version_object_reference, "CrossVersionObjectReference");

static const struct pb_field m_hpa_v1_spec_f[] = {
    F_MSG(1, "scaleTargetRef", m_cross_version_object_reference),
    F_I32(2, "minReplicas"),
    F_I32_K(3, "maxReplicas"),
    F_I32(4, "targetCPUUtilizationPercentage"),
};
PB_MSG(m_hpa_v1_spec, "HorizontalPodAutoscalerSpec");

static const struct pb_field m_hpa_v1_status_f[] = {
    F_I64(1, "observedGeneration"),
    F_TIME(2, "lastScaleTime"),
    F_I32_K(3, "currentReplicas"),
    F_I32_K(4, "desiredReplicas"),
    F_I32(5, "currentCPUUtilizationPercentage"),
};
PB_MSG(m_hpa_v1_status, "HorizontalPodAutoscalerStatus");

static const struct pb_field m_hpa_v1_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_hpa_v1_spec),
    F_MSG(3, "status", m_hpa_v1_status),
};
PB_MSG(m_hpa_v1, "HorizontalPodAutoscaler");
/* ---- rbac.authorization.k8s.io, authorization.k8s.io (issue #15) ---- */

static const struct pb_field m_policy_rule_f[] = {
    F_STRS(1, "verbs"),         F_STRS(2, "apiGroups"),       F_STRS(3, "resources"),
    F_STRS(4, "resourceNames"), F_STRS(5, "nonResourceURLs"),
};
PB_MSG(m_policy_rule, "PolicyRule");

static const struct pb_field m_aggregation_rule_f[] = {
    F_MSGS(1, "clusterRoleSelectors", m_label_selector),
};
PB_MSG(m_aggregation_rule, "AggregationRule");

static const struct pb_field m_role_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSGS(2, "rules", m_policy_rule),
    F_MSG(3, "aggregationRule", m_aggregation_rule),
};
PB_MSG(m_role, "Role");

static const struct pb_field m_rbac_subject_f[] = {
    F_STR_K(1, "kind"),
    F_STR(2, "apiGroup"),
    F_STR_K(3, "name"),
    F_STR(4, "namespace"),
};
PB_MSG(m_rbac_subject, "Subject");

static const struct pb_field m_role_ref_f[] = {
    F_STR_K(1, "apiGroup"),
    F_STR_K(2, "kind"),
    F_STR_K(3, "name"),
};
PB_MSG(m_role_ref, "RoleRef");

static const struct pb_field m_role_binding_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSGS(2, "subjects", m_rbac_subject),
    F_MSG(3, "roleRef", m_role_ref),
};
PB_MSG(m_role_binding, "RoleBinding");

static const struct pb_field m_resource_attributes_f[] = {
    F_STR(1, "namespace"), F_STR(2, "verb"),        F_STR(3, "group"), F_STR(4, "version"),
    F_STR(5, "resource"),  F_STR(6, "subresource"), F_STR(7, "name"),
};
PB_MSG(m_resource_attributes, "ResourceAttributes");

static const struct pb_field m_non_resource_attributes_f[] = {
    F_STR(1, "path"),
    F_STR(2, "verb"),
};
PB_MSG(m_non_resource_attributes, "NonResourceAttributes");

static const struct pb_field m_access_review_spec_f[] = {
    F_MSG(1, "resourceAttributes", m_resource_attributes),
    F_MSG(2, "nonResourceAttributes", m_non_resource_attributes),
    F_STR(3, "user"),
    F_STRS(4, "groups"),
    F_STR(6, "uid"),
};
PB_MSG(m_access_review_spec, "SubjectAccessReviewSpec");

static const struct pb_field m_access_review_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_access_review_spec),
};
PB_MSG(m_access_review, "SubjectAccessReview");

static const struct pb_field m_rules_review_spec_f[] = {
    F_STR(1, "namespace"),
};
PB_MSG(m_rules_review_spec, "SelfSubjectRulesReviewSpec");

static const struct pb_field m_rules_review_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_rules_review_spec),
};
PB_MSG(m_rules_review, "SelfSubjectRulesReview");

static const struct pb_field m_self_subject_review_f[] = {
    F_MSG(1, "metadata", m_object_meta),
};
PB_MSG(m_self_subject_review, "SelfSubjectReview");

/* ---- networking.k8s.io/v1 Ingress, IngressClass; scheduling.k8s.io/v1
 * PriorityClass; v1 ResourceQuota (issue #16: kubectl create ingress,
 * priorityclass and quota send them) ---- */

static const struct pb_field m_typed_local_object_reference_f[] = {
    F_STR_K(1, "apiGroup"),
    F_STR_K(2, "kind"),
    F_STR_K(3, "name"),
};
PB_MSG(m_typed_local_object_reference, "TypedLocalObjectReference");

static const struct pb_field m_service_backend_port_f[] = {
    F_STR(1, "name"),
    F_I32(2, "number"),
};
PB_MSG(m_service_backend_port, "ServiceBackendPort");

static const struct pb_field m_ingress_service_backend_f[] = {
    F_STR_K(1, "name"),
    F_MSG(2, "port", m_service_backend_port),
};
PB_MSG(m_ingress_service_backend, "IngressServiceBackend");

static const struct pb_field m_ingress_backend_f[] = {
    F_MSG(3, "resource", m_typed_local_object_reference),
    F_MSG(4, "service", m_ingress_service_backend),
};
PB_MSG(m_ingress_backend, "IngressBackend");

static const struct pb_field m_http_ingress_path_f[] = {
    F_STR(1, "path"),
    F_MSG(2, "backend", m_ingress_backend),
    F_STR_K(3, "pathType"),
};
PB_MSG(m_http_ingress_path, "HTTPIngressPath");

static const struct pb_field m_http_ingress_rule_value_f[] = {
    F_MSGS(1, "paths", m_http_ingress_path),
};
PB_MSG(m_http_ingress_rule_value, "HTTPIngressRuleValue");

static const struct pb_field m_ingress_rule_value_f[] = {
    F_MSG(1, "http", m_http_ingress_rule_value),
};
PB_MSG(m_ingress_rule_value, "IngressRuleValue");

static const struct pb_field m_ingress_rule_f[] = {
    F_STR(1, "host"),
    F_INLINE(2, m_ingress_rule_value),
};
PB_MSG(m_ingress_rule, "IngressRule");

static const struct pb_field m_ingress_tls_f[] = {
    F_STRS(1, "hosts"),
    F_STR(2, "secretName"),
};
PB_MSG(m_ingress_tls, "IngressTLS");

static const struct pb_field m_ingress_spec_f[] = {
    F_MSG(1, "defaultBackend", m_ingress_backend),
    F_MSGS(2, "tls", m_ingress_tls),
    F_MSGS(3, "rules", m_ingress_rule),
    F_STR_K(4, "ingressClassName"),
};
PB_MSG(m_ingress_spec, "IngressSpec");

static const struct pb_field m_ingress_port_status_f[] = {
    F_I32_K(1, "port"),
    F_STR_K(2, "protocol"),
    F_STR_K(3, "error"),
};
PB_MSG(m_ingress_port_status, "IngressPortStatus");

static const struct pb_field m_ingress_lb_ingress_f[] = {
    F_STR(1, "ip"),
    F_STR(2, "hostname"),
    F_MSGS(4, "ports", m_ingress_port_status),
};
PB_MSG(m_ingress_lb_ingress, "IngressLoadBalancerIngress");

static const struct pb_field m_ingress_lb_status_f[] = {
    F_MSGS(1, "ingress", m_ingress_lb_ingress),
};
PB_MSG(m_ingress_lb_status, "IngressLoadBalancerStatus");

static const struct pb_field m_ingress_status_f[] = {
    F_MSG(1, "loadBalancer", m_ingress_lb_status),
};
PB_MSG(m_ingress_status, "IngressStatus");

static const struct pb_field m_ingress_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_ingress_spec),
    F_MSG(3, "status", m_ingress_status),
};
PB_MSG(m_ingress, "Ingress");

static const struct pb_field m_ingress_class_params_f[] = {
    F_STR_K(1, "apiGroup"), F_STR_K(2, "kind"),      F_STR_K(3, "name"),
    F_STR_K(4, "scope"),    F_STR_K(5, "namespace"),
};
PB_MSG(m_ingress_class_params, "IngressClassParametersReference");

static const struct pb_field m_ingress_class_spec_f[] = {
    F_STR(1, "controller"),
    F_MSG(2, "parameters", m_ingress_class_params),
};
PB_MSG(m_ingress_class_spec, "IngressClassSpec");

static const struct pb_field m_ingress_class_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_ingress_class_spec),
};
PB_MSG(m_ingress_class, "IngressClass");

static const struct pb_field m_priority_class_f[] = {
    F_MSG(1, "metadata", m_object_meta), F_I32_K(2, "value"),
    F_BOOL(3, "globalDefault"),          F_STR(4, "description"),
    F_STR_K(5, "preemptionPolicy"),
};
PB_MSG(m_priority_class, "PriorityClass");

static const struct pb_field m_scoped_requirement_f[] = {
    F_STR_K(1, "scopeName"),
    F_STR_K(2, "operator"),
    F_STRS(3, "values"),
};
PB_MSG(m_scoped_requirement, "ScopedResourceSelectorRequirement");

static const struct pb_field m_scope_selector_f[] = {
    F_MSGS(1, "matchExpressions", m_scoped_requirement),
};
PB_MSG(m_scope_selector, "ScopeSelector");

static const struct pb_field m_quota_spec_f[] = {
    F_MAP_QTY(1, "hard"),
    F_STRS(2, "scopes"),
    F_MSG(3, "scopeSelector", m_scope_selector),
};
PB_MSG(m_quota_spec, "ResourceQuotaSpec");

static const struct pb_field m_quota_status_f[] = {
    F_MAP_QTY(1, "hard"),
    F_MAP_QTY(2, "used"),
};
PB_MSG(m_quota_status, "ResourceQuotaStatus");

static const struct pb_field m_quota_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_quota_spec),
    F_MSG(3, "status", m_quota_status),
};
PB_MSG(m_quota, "ResourceQuota");
/* ---- certificates.k8s.io/v1 (issue #15; kubectl certificate approve) ---- */

static const struct pb_field m_csr_spec_f[] = {
    PB_FIELD(1, "request", PB_BYTES, 0, NULL),
    F_STR(2, "username"),
    F_STR(3, "uid"),
    F_STRS(4, "groups"),
    F_STRS(5, "usages"),
    F_STR_K(7, "signerName"),
    F_I32(8, "expirationSeconds"),
};
PB_MSG(m_csr_spec, "CertificateSigningRequestSpec");

static const struct pb_field m_csr_condition_f[] = {
    F_STR_K(1, "type"),
    F_STR(2, "reason"),
    F_STR(3, "message"),
    F_TIME(4, "lastUpdateTime"),
    F_TIME(5, "lastTransitionTime"),
    F_STR_K(6, "status"),
};
PB_MSG(m_csr_condition, "CertificateSigningRequestCondition");

static const struct pb_field m_csr_status_f[] = {
    F_MSGS(1, "conditions", m_csr_condition),
    PB_FIELD(2, "certificate", PB_BYTES, 0, NULL),
};
PB_MSG(m_csr_status, "CertificateSigningRequestStatus");

static const struct pb_field m_csr_f[] = {
    F_MSG(1, "metadata", m_object_meta),
    F_MSG(2, "spec", m_csr_spec),
    F_MSG(3, "status", m_csr_status),
};
PB_MSG(m_csr, "CertificateSigningRequest");

/* ---- top-level kinds ---- */

struct pb_root {
    const char *api_version; /* NULL: any (DeleteOptions is registered in every group) */
    const char *kind;
    const struct pb_message *msg;
};

static const struct pb_root pb_roots[] = {
    {"v1", "Pod", &m_pod},
    {"v1", "Service", &m_service},
    {"v1", "Endpoints", &m_endpoints},
    {"v1", "ConfigMap", &m_config_map},
    {"v1", "Secret", &m_secret},
    {"v1", "Namespace", &m_namespace},
    {"v1", "ServiceAccount", &m_service_account},
    {"v1", "Event", &m_event},
    {"v1", "Node", &m_node},
    {"apps/v1", "Deployment", &m_deployment},
    {"apps/v1", "ReplicaSet", &m_replica_set},
    {"apps/v1", "DaemonSet", &m_daemon_set},
    {"batch/v1", "Job", &m_job},
    {"batch/v1", "CronJob", &m_cron_job},
    {"policy/v1", "Eviction", &m_eviction},
    {"policy/v1beta1", "Eviction", &m_eviction},
    {"authentication.k8s.io/v1", "TokenRequest", &m_token_request},
    {"coordination.k8s.io/v1", "Lease", &m_lease},
    {"discovery.k8s.io/v1", "EndpointSlice", &m_endpoint_slice},
    {"autoscaling/v1", "HorizontalPodAutoscaler", &m_hpa_v1},
    {"rbac.authorization.k8s.io/v1", "Role", &m_role},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", &m_role},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", &m_role_binding},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &m_role_binding},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", &m_access_review},
    {"authorization.k8s.io/v1", "SubjectAccessReview", &m_access_review},
    {"authorization.k8s.io/v1", "LocalSubjectAccessReview", &m_access_review},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", &m_rules_review},
    {"authentication.k8s.io/v1", "SelfSubjectReview", &m_self_subject_review},
    {"networking.k8s.io/v1", "Ingress", &m_ingress},
    {"networking.k8s.io/v1", "IngressClass", &m_ingress_class},
    {"scheduling.k8s.io/v1", "PriorityClass", &m_priority_class},
    {"v1", "ResourceQuota", &m_quota},
    {"certificates.k8s.io/v1", "CertificateSigningRequest", &m_csr},
    {NULL, "DeleteOptions", &m_delete_options},
};

/* ---- decoding ---------------------------------------------------------------- */

struct pb_ctx {
    unsigned depth;
};

static int pb_decode_message(struct pb_ctx *c, const struct pb_message *m, const uint8_t *data,
                             size_t len, json_t *obj, struct k3c_err *err);

static const struct pb_field *
pb_find_field(const struct pb_message *m, uint32_t num)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].num == num)
            return &m->fields[i];
    }
    return NULL;
}

static bool
pb_kind_is_varint(enum pb_kind k)
{
    return k == PB_BOOL || k == PB_INT32 || k == PB_INT64;
}

static bool
pb_kind_is_map(enum pb_kind k)
{
    return k == PB_MAP_STRING || k == PB_MAP_BYTES || k == PB_MAP_QUANTITY;
}

static int
pb_want_wire(const struct pb_wire_field *w, unsigned want, struct k3c_err *err)
{
    if (w->wire != want)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "wire type %u, want %u", w->wire, want);
    return 0;
}

/* Scalars travel as VARINT (a repeated one may come packed, as LEN);
 * everything else is LEN. */
static int
pb_check_wire(const struct pb_field *f, const struct pb_wire_field *w, struct k3c_err *err)
{
    if (pb_kind_is_varint(f->kind) && (!(f->flags & PB_REP) || w->wire != PB_WIRE_LEN))
        return pb_want_wire(w, PB_WIRE_VARINT, err);
    return pb_want_wire(w, PB_WIRE_LEN, err);
}

static int
pb_string(const uint8_t *data, size_t len, json_t **out, struct k3c_err *err)
{
    /* json_stringn checks UTF-8; an embedded NUL is allowed, as in Go. */
    *out = json_stringn((const char *)data, len);
    if (!*out)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "string is not valid UTF-8");
    return 0;
}

static json_t *
pb_base64(const uint8_t *data, size_t len)
{
    _cleanup_free_ char *s = k3c_base64_encode(data, len);

    return json_string(s);
}

/* A scalar from a VARINT; *zero says whether omitempty would drop it. */
static json_t *
pb_varint_value(enum pb_kind kind, uint64_t u, bool *zero)
{
    switch (kind) {
    case PB_BOOL:
        *zero = u == 0;
        return json_boolean(u != 0);
    case PB_INT32: {
        int32_t v = (int32_t)(uint32_t)u; /* negative int32 is sign-extended on the wire */

        *zero = v == 0;
        return json_integer(v);
    }
    default: {
        int64_t v = (int64_t)u;

        *zero = v == 0;
        return json_integer(v);
    }
    }
}

/* RFC 3339 in UTC, as metav1.Time (whole seconds) or MicroTime (6 digits) marshal. */
static int
pb_format_time(int64_t secs, int64_t nanos, bool micro, json_t **out, struct k3c_err *err)
{
    time_t t = (time_t)secs;
    struct tm tm;
    char buf[40];
    int n;

    if (secs < PB_MIN_SECONDS || secs > PB_MAX_SECONDS)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "time %" PRId64 " is outside years 1..9999",
                           secs);
    if (nanos < 0 || nanos > 999999999)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "nanos %" PRId64 " out of range", nanos);
    if (!gmtime_r(&t, &tm))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "time %" PRId64 " out of range", secs);
    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (micro)
        snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06" PRId64 "Z", nanos / 1000);
    else
        snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
    *out = json_string(buf);
    return 0;
}

/* metav1.Time/MicroTime {1 seconds, 2 nanos}. An empty message is the zero
 * time, which marshals as null (time_proto.go). Time drops nanos on decode. */
static int
pb_decode_time(const struct pb_wire_field *w, bool micro, json_t **out, struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field f;
    int64_t secs = 0, nanos = 0;

    if (w->len == 0) {
        *out = json_null();
        return 0;
    }
    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_field(&r, &f, err) < 0)
            return -1;
        if (f.num != 1 && f.num != 2)
            continue;
        if (pb_want_wire(&f, PB_WIRE_VARINT, err) < 0)
            return -1;
        if (f.num == 1)
            secs = (int64_t)f.u;
        else
            nanos = (int32_t)(uint32_t)f.u;
    }
    return pb_format_time(secs, micro ? nanos : 0, micro, out, err);
}

/* intstr.IntOrString {1 type, 2 intVal, 3 strVal}: a JSON number or string. */
static int
pb_decode_intorstring(const struct pb_wire_field *w, json_t **out, struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field f;
    uint64_t type = 0;
    int32_t ival = 0;
    const uint8_t *sval = NULL;
    size_t slen = 0;

    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_field(&r, &f, err) < 0)
            return -1;
        if (f.num < 1 || f.num > 3)
            continue;
        if (pb_want_wire(&f, f.num == 3 ? PB_WIRE_LEN : PB_WIRE_VARINT, err) < 0)
            return -1;
        if (f.num == 1) {
            type = f.u;
        } else if (f.num == 2) {
            ival = (int32_t)(uint32_t)f.u;
        } else {
            sval = f.data;
            slen = f.len;
        }
    }
    if (type == 0) {
        *out = json_integer(ival);
        return 0;
    }
    if (type == 1)
        return pb_string(sval ? sval : (const uint8_t *)"", slen, out, err);
    return k3c_err_set(err, K3C_E_BAD_REQUEST, "IntOrString type %" PRIu64 " is neither 0 nor 1",
                       type);
}

/* The LEN payload of field num in a small message (Quantity, FieldsV1);
 * the last occurrence wins. Leaves *data NULL when absent. */
static int
pb_find_bytes(const struct pb_wire_field *w, uint32_t num, const uint8_t **data, size_t *len,
              struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field f;

    *data = NULL;
    *len = 0;
    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_field(&r, &f, err) < 0)
            return -1;
        if (f.num != num)
            continue;
        if (pb_want_wire(&f, PB_WIRE_LEN, err) < 0)
            return -1;
        *data = f.data;
        *len = f.len;
    }
    return 0;
}

/* resource.Quantity {1 string}; an empty message is the zero Quantity, "0". */
static int
pb_decode_quantity(const struct pb_wire_field *w, json_t **out, struct k3c_err *err)
{
    const uint8_t *s;
    size_t len;

    if (pb_find_bytes(w, 1, &s, &len, err) < 0)
        return -1;
    if (!s) {
        *out = json_string("0");
        return 0;
    }
    return pb_string(s, len, out, err);
}

/* metav1.FieldsV1 {1 raw}: raw is the JSON text itself. */
static int
pb_decode_fieldsv1(const struct pb_wire_field *w, json_t **out, struct k3c_err *err)
{
    const uint8_t *raw;
    size_t len;
    json_error_t jerr;

    if (pb_find_bytes(w, 1, &raw, &len, err) < 0)
        return -1;
    if (!raw || len == 0) {
        *out = json_null();
        return 0;
    }
    *out = json_loadb((const char *)raw, len, JSON_DECODE_ANY, &jerr);
    if (!*out)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "fieldsV1 is not JSON: %s", jerr.text);
    return 0;
}

/* The JSON value of one non-map, non-inline element. *zero is set for scalars
 * that omitempty would drop. */
static int
pb_decode_value(struct pb_ctx *c, const struct pb_field *f, const struct pb_wire_field *w,
                json_t **out, bool *zero, struct k3c_err *err)
{
    *zero = false;
    if (pb_kind_is_varint(f->kind)) {
        *out = pb_varint_value(f->kind, w->u, zero);
        return 0;
    }
    switch (f->kind) {
    case PB_STRING:
        *zero = w->len == 0;
        return pb_string(w->data, w->len, out, err);
    case PB_BYTES:
        *zero = w->len == 0;
        *out = pb_base64(w->data, w->len);
        return 0;
    case PB_TIME:
    case PB_MICROTIME:
        return pb_decode_time(w, f->kind == PB_MICROTIME, out, err);
    case PB_INTORSTRING:
        return pb_decode_intorstring(w, out, err);
    case PB_QUANTITY:
        return pb_decode_quantity(w, out, err);
    case PB_FIELDSV1:
        return pb_decode_fieldsv1(w, out, err);
    case PB_MESSAGE: {
        json_t *o = json_object();

        if (pb_decode_message(c, f->sub, w->data, w->len, o, err) < 0) {
            json_decref(o);
            return -1;
        }
        *out = o;
        return 0;
    }
    default:
        return k3c_err_set(err, K3C_E_INTERNAL, "kind %d is not a value", (int)f->kind);
    }
}

/* The object or array at obj[name], made when missing (or of another type). */
static json_t *
pb_child(json_t *obj, const char *name, bool array)
{
    json_t *v = json_object_get(obj, name);

    if (array ? json_is_array(v) : json_is_object(v))
        return v;
    v = array ? json_array() : json_object();
    json_object_set_new(obj, name, v);
    return v;
}

/* Puts v (consumed) where f says: appended for repeated fields, else set
 * (last one wins, as in protobuf), or dropped when omitempty would drop it. */
static void
pb_place(const struct pb_field *f, json_t *obj, json_t *v, bool zero)
{
    if (f->flags & PB_REP) {
        json_array_append_new(pb_child(obj, f->json, true), v);
    } else if (zero && !(f->flags & PB_KEEP)) {
        json_decref(v);
        json_object_del(obj, f->json);
    } else {
        json_object_set_new(obj, f->json, v);
    }
}

/* A repeated varint field sent packed: one LEN payload of varints. */
static int
pb_decode_packed(const struct pb_field *f, const struct pb_wire_field *w, json_t *obj,
                 struct k3c_err *err)
{
    json_t *arr = pb_child(obj, f->json, true);
    struct pb_reader r;
    uint64_t u;
    bool zero;

    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_varint(&r, &u, err) < 0)
            return -1;
        json_array_append_new(arr, pb_varint_value(f->kind, u, &zero));
    }
    return 0;
}

/* One map entry {1 key, 2 value} into the object obj[f->json]. */
static int
pb_decode_map_entry(const struct pb_field *f, const struct pb_wire_field *w, json_t *obj,
                    struct k3c_err *err)
{
    struct pb_wire_field e, val = {0};
    struct pb_reader r;
    const uint8_t *key = (const uint8_t *)"";
    size_t klen = 0;
    json_t *v = NULL;

    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_field(&r, &e, err) < 0)
            return -1;
        if (e.num != 1 && e.num != 2)
            continue;
        if (pb_want_wire(&e, PB_WIRE_LEN, err) < 0)
            return -1;
        if (e.num == 1) {
            key = e.data;
            klen = e.len;
        } else {
            val = e;
        }
    }
    if (f->kind == PB_MAP_STRING) {
        if (pb_string(val.data ? val.data : (const uint8_t *)"", val.len, &v, err) < 0)
            return -1;
    } else if (f->kind == PB_MAP_BYTES) {
        v = pb_base64(val.data ? val.data : (const uint8_t *)"", val.len);
    } else if (pb_decode_quantity(&val, &v, err) < 0) {
        return -1;
    }
    /* Consumes v even on failure; fails on a key that is not UTF-8. */
    if (json_object_setn_new(pb_child(obj, f->json, false), (const char *)key, klen, v) < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "map key is not valid UTF-8");
    return 0;
}

static int
pb_decode_field(struct pb_ctx *c, const struct pb_field *f, const struct pb_wire_field *w,
                json_t *obj, struct k3c_err *err)
{
    json_t *v = NULL;
    bool zero;

    if (pb_kind_is_map(f->kind))
        return pb_decode_map_entry(f, w, obj, err);
    if (f->kind == PB_INLINE)
        return pb_decode_message(c, f->sub, w->data, w->len, obj, err);
    if ((f->flags & PB_REP) && pb_kind_is_varint(f->kind) && w->wire == PB_WIRE_LEN)
        return pb_decode_packed(f, w, obj, err);
    /* A message seen twice merges, as protobuf specifies. */
    if (f->kind == PB_MESSAGE && !(f->flags & PB_REP))
        return pb_decode_message(c, f->sub, w->data, w->len, pb_child(obj, f->json, false), err);
    if (pb_decode_value(c, f, w, &v, &zero, err) < 0)
        return -1;
    pb_place(f, obj, v, zero);
    return 0;
}

static int
pb_decode_message(struct pb_ctx *c, const struct pb_message *m, const uint8_t *data, size_t len,
                  json_t *obj, struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field w;
    int rc = 0;

    if (c->depth >= PB_MAX_DEPTH)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "%s: nested deeper than %d", m->name,
                           PB_MAX_DEPTH);
    c->depth++;
    pb_reader_init(&r, data, len);
    while (rc == 0 && !pb_reader_done(&r)) {
        const struct pb_field *f;

        if (pb_read_field(&r, &w, err) < 0) {
            rc = k3c_err_wrap(err, "%s", m->name);
            break;
        }
        f = pb_find_field(m, w.num);
        if (!f) {
            log_debug("(protobuf %s) field %" PRIu32 " is not in the schema; skipped", m->name,
                      w.num);
            continue;
        }
        if (pb_check_wire(f, &w, err) < 0) {
            rc = k3c_err_wrap(err, "%s.%s", m->name, f->json ? f->json : "(inline)");
            break;
        }
        rc = pb_decode_field(c, f, &w, obj, err);
        /* Nested messages name themselves; a leaf names its field here. */
        if (rc < 0 && f->kind != PB_MESSAGE && f->kind != PB_INLINE)
            k3c_err_wrap(err, "%s.%s", m->name, f->json);
    }
    c->depth--;
    return rc;
}

/* ---- envelope ---------------------------------------------------------------- */

struct pb_slice {
    const uint8_t *data;
    size_t len;
};

/* runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding,
 * 4 contentType. (runtime.TypeMeta numbers them apiVersion first, unlike
 * metav1.TypeMeta.) */
struct pb_envelope {
    struct pb_slice api_version, kind, raw, content_encoding, content_type;
};

static int
pb_read_type_meta(const struct pb_wire_field *w, struct pb_envelope *env, struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field f;

    pb_reader_init(&r, w->data, w->len);
    while (!pb_reader_done(&r)) {
        if (pb_read_field(&r, &f, err) < 0)
            return -1;
        if (f.num != 1 && f.num != 2)
            continue;
        if (pb_want_wire(&f, PB_WIRE_LEN, err) < 0)
            return -1;
        *(f.num == 1 ? &env->api_version : &env->kind) = (struct pb_slice){f.data, f.len};
    }
    return 0;
}

static int
pb_read_envelope(const uint8_t *data, size_t len, struct pb_envelope *env, struct k3c_err *err)
{
    struct pb_reader r;
    struct pb_wire_field f;

    pb_reader_init(&r, data, len);
    while (!pb_reader_done(&r)) {
        struct pb_slice *dst = NULL;

        if (pb_read_field(&r, &f, err) < 0)
            return -1;
        if (f.num < 1 || f.num > 4)
            continue;
        if (pb_want_wire(&f, PB_WIRE_LEN, err) < 0)
            return -1;
        switch (f.num) {
        case 1:
            if (pb_read_type_meta(&f, env, err) < 0)
                return k3c_err_wrap(err, "typeMeta");
            continue;
        case 2:
            dst = &env->raw;
            break;
        case 3:
            dst = &env->content_encoding;
            break;
        default:
            dst = &env->content_type;
            break;
        }
        *dst = (struct pb_slice){f.data, f.len};
    }
    return 0;
}

static bool
pb_slice_is(const struct pb_slice *s, const char *str)
{
    return s->len == strlen(str) && (s->len == 0 || memcmp(s->data, str, s->len) == 0);
}

/* Untrusted bytes made safe for an error message (printable ASCII, bounded). */
static const char *
pb_printable(const struct pb_slice *s, char *buf, size_t size)
{
    size_t n = s->len < size - 1 ? s->len : size - 1;

    for (size_t i = 0; i < n; i++)
        buf[i] = s->data[i] >= 0x20 && s->data[i] < 0x7f ? (char)s->data[i] : '?';
    buf[n] = '\0';
    return buf;
}

static const struct pb_root *
pb_find_root(const struct pb_envelope *env)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(pb_roots); i++) {
        const struct pb_root *root = &pb_roots[i];

        if (pb_slice_is(&env->kind, root->kind) &&
            (!root->api_version || pb_slice_is(&env->api_version, root->api_version)))
            return root;
    }
    return NULL;
}

static int
pb_check_envelope(const struct pb_envelope *env, struct k3c_err *err)
{
    char buf[64];

    if (env->kind.len == 0 || env->api_version.len == 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "protobuf body names no apiVersion or kind");
    if (env->content_encoding.len > 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST,
                           "protobuf body content encoding %s is not supported",
                           pb_printable(&env->content_encoding, buf, sizeof(buf)));
    if (env->content_type.len > 0 &&
        !pb_slice_is(&env->content_type, "application/vnd.kubernetes.protobuf"))
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "protobuf body wraps content type %s",
                           pb_printable(&env->content_type, buf, sizeof(buf)));
    return 0;
}

json_t *
api_protobuf_decode(const void *data, size_t len, struct k3c_err *err)
{
    static const uint8_t magic[4] = {'k', '8', 's', 0};
    struct pb_envelope env = {0};
    struct pb_ctx ctx = {0};
    const struct pb_root *root;
    _cleanup_json_ json_t *obj = NULL;
    json_t *v = NULL;
    char av[64], kind[64];

    if (len < sizeof(magic) || memcmp(data, magic, sizeof(magic)) != 0) {
        k3c_err_set(err, K3C_E_BAD_REQUEST, "not a Kubernetes protobuf body (no k8s\\0 prefix)");
        return NULL;
    }
    if (pb_read_envelope((const uint8_t *)data + sizeof(magic), len - sizeof(magic), &env, err) <
        0) {
        k3c_err_wrap(err, "protobuf envelope");
        return NULL;
    }
    if (pb_check_envelope(&env, err) < 0)
        return NULL;
    pb_printable(&env.api_version, av, sizeof(av));
    pb_printable(&env.kind, kind, sizeof(kind));
    root = pb_find_root(&env);
    if (!root) {
        k3c_err_set(err, K3C_E_BAD_REQUEST,
                    "protobuf bodies for %s/%s are not supported; send JSON", av, kind);
        return NULL;
    }
    obj = json_object();
    /* kind matched the table; apiVersion did too unless the root takes any. */
    if (pb_string(env.api_version.data, env.api_version.len, &v, err) < 0) {
        k3c_err_wrap(err, "protobuf apiVersion");
        return NULL;
    }
    json_object_set_new(obj, "apiVersion", v);
    json_object_set_new(obj, "kind", json_string(root->kind));
    if (pb_decode_message(&ctx, root->msg, env.raw.data, env.raw.len, obj, err) < 0) {
        k3c_err_wrap(err, "protobuf %s/%s", av, kind);
        return NULL;
    }
    return TAKE_PTR(obj);
}
