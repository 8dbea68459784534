/* SPDX-License-Identifier: Apache-2.0
 * dp_allocate.c - a container's devices from a plugin (deviceplugin.h):
 * which devices (the CDI allocator's checkpoint decides, in the order the
 * plugin prefers), then Allocate and PreStartContainer on the plugin's
 * socket, and the answer as CDI container edits, so that kubelet_devices.c
 * applies it with the CDI devices' edits in one place. */
#define LOG_COMPONENT "deviceplugin"
#include "deviceplugin/deviceplugin-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cdi/cdi.h"

#include <string.h>

#define CALL_TIMEOUT_MS       30000
#define CDI_ANNOTATION_PREFIX "cdi.k8s.io/" /* upstream gives PreStartContainer 30 s */

/* ---- the answer as edits (pure) ----------------------------------------- */

static json_t *
edits_list(json_t *edits, const char *key)
{
    json_t *l = json_object_get(edits, key);

    if (!json_is_array(l)) {
        l = json_array();
        json_object_set_new(edits, key, l);
    }
    return l;
}

/* Appends item (NULL: a string was not UTF-8) to edits' list key. */
static int
append(json_t *edits, const char *key, json_t *item, struct k3c_err *err)
{
    if (!item)
        return k3c_err_set(err, K3C_E_INVALID, "%s: not UTF-8", key);
    json_array_append_new(edits_list(edits, key), item);
    return 0;
}

/* An absolute path without ".." components. */
static bool
abs_path(const char *p)
{
    size_t n = p ? strlen(p) : 0;

    return n > 0 && p[0] == '/' && !strstr(p, "/../") && !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

/* Appends a qualified CDI device name (vendor/class=name) to *names. */
static int
add_cdi_name(const char *name, const char *where, char ***names, struct k3c_err *err)
{
    const char *eq = name ? strchr(name, '=') : NULL;
    _cleanup_free_ char *kind = eq ? k3c_xstrndup(name, (size_t)(eq - name)) : NULL;
    size_t have = 0;

    if (!kind || !cdi_kind_valid(kind, true) || !cdi_device_name_valid(eq + 1, true))
        return k3c_err_set(err, K3C_E_INVALID, "%s: \"%s\" is not vendor/class=name", where,
                           name ? name : "");
    while (*names && (*names)[have])
        have++;
    *names = k3c_xrealloc(*names, (have + 2) * sizeof(char *));
    (*names)[have] = k3c_xstrdup(name);
    (*names)[have + 1] = NULL;
    return 0;
}

/* CDI's annotation form (what NVIDIA's plugin sends with
 * --device-list-strategy=cdi-annotations, and containerd and CRI-O read):
 * "cdi.k8s.io/<anything>": "vendor/class=a,vendor/class=b". */
static int
add_cdi_names(const char *list, const char *where, char ***names, struct k3c_err *err)
{
    _cleanup_free_ char *copy = k3c_xstrdup(list);
    char *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (add_cdi_name(tok, where, names, err) < 0)
            return -1;
    return 0;
}

static int
add_container_response(const V1beta1__ContainerAllocateResponse *r, json_t *edits,
                       char ***cdi_devices, struct k3c_err *err)
{
    json_t *ann = json_object_get(edits, "annotations");

    for (size_t i = 0; i < r->n_envs; i++) {
        const char *k = r->envs[i]->key, *v = r->envs[i]->value;
        _cleanup_free_ char *kv = k3c_xasprintf("%s=%s", k ? k : "", v ? v : "");

        if (!k || !*k || strchr(k, '='))
            return k3c_err_set(err, K3C_E_INVALID, "envs: bad name \"%s\"", k ? k : "");
        if (append(edits, "env", json_string(kv), err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_mounts; i++) {
        const V1beta1__Mount *m = r->mounts[i];

        if (!abs_path(m->container_path) || !abs_path(m->host_path))
            return k3c_err_set(err, K3C_E_INVALID, "mounts[%zu]: absolute paths wanted", i);
        if (append(edits, "mounts",
                   json_pack("{s:s, s:s, s:s, s:[s, s]}", "hostPath", m->host_path, "containerPath",
                             m->container_path, "type", "bind", "options", "rbind",
                             m->read_only ? "ro" : "rw"),
                   err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_devices; i++) {
        const V1beta1__DeviceSpec *d = r->devices[i];
        const char *perm = d->permissions && *d->permissions ? d->permissions : "rwm";

        if (!abs_path(d->container_path) || !abs_path(d->host_path))
            return k3c_err_set(err, K3C_E_INVALID, "devices[%zu]: absolute paths wanted", i);
        if (strspn(perm, "rwm") != strlen(perm))
            return k3c_err_set(err, K3C_E_INVALID, "devices[%zu]: permissions \"%s\"", i, perm);
        if (append(edits, "deviceNodes",
                   json_pack("{s:s, s:s, s:s}", "path", d->container_path, "hostPath", d->host_path,
                             "permissions", perm),
                   err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_annotations; i++) {
        const char *k = r->annotations[i]->key, *v = r->annotations[i]->value;

        if (!k || !*k)
            return k3c_err_set(err, K3C_E_INVALID, "annotations: empty key");
        if (!ann) {
            ann = json_object();
            json_object_set_new(edits, "annotations", ann);
        }
        if (json_object_set_new(ann, k, json_string(v ? v : "")) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "annotations: not UTF-8");
        if (strncmp(k, CDI_ANNOTATION_PREFIX, strlen(CDI_ANNOTATION_PREFIX)) == 0 &&
            add_cdi_names(v ? v : "", k, cdi_devices, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_cdi_devices; i++)
        if (add_cdi_name(r->cdi_devices[i]->name, "cdi_devices", cdi_devices, err) < 0)
            return -1;
    return 0;
}

int
deviceplugin_response_edits(const uint8_t *msg, size_t len, json_t *edits, char ***cdi_devices,
                            struct k3c_err *err)
{
    V1beta1__AllocateResponse *r = v1beta1__allocate_response__unpack(NULL, len, msg);
    int rc;

    if (!r)
        return k3c_err_set(err, K3C_E_INVALID, "AllocateResponse does not parse");
    if (r->n_container_responses != 1)
        rc = k3c_err_set(err, K3C_E_INVALID, "AllocateResponse: %zu container responses, want 1",
                         r->n_container_responses);
    else
        rc = add_container_response(r->container_responses[0], edits, cdi_devices, err);
    v1beta1__allocate_response__free_unpacked(r, NULL);
    return rc;
}

/* ---- the calls ---------------------------------------------------------- */

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(m);
    buf = k3c_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* The candidates in the plugin's preferred order: its choice among the
 * free ones first, then the rest. On a failed call, as they were. */
static char **
preferred_order(const struct dp_snapshot *snap, struct cdi_alloc *alloc, const char *owner,
                int64_t n, char **cands)
{
    _cleanup_free_ char **avail = cdi_alloc_unheld(alloc, owner, cands);
    V1beta1__ContainerPreferredAllocationRequest creq =
        V1BETA1__CONTAINER_PREFERRED_ALLOCATION_REQUEST__INIT;
    V1beta1__ContainerPreferredAllocationRequest *creqs[] = {&creq};
    V1beta1__PreferredAllocationRequest req = V1BETA1__PREFERRED_ALLOCATION_REQUEST__INIT;
    V1beta1__PreferredAllocationResponse *r;
    _cleanup_free_ uint8_t *buf = NULL, *resp = NULL;
    size_t len, resp_len, k = 0, total = 0;
    struct k3c_err err = {0};
    char **out;

    while (avail[creq.n_available_deviceids])
        creq.n_available_deviceids++;
    if ((int64_t)creq.n_available_deviceids <= n)
        return cands; /* nothing to choose */
    creq.available_deviceids = avail;
    creq.allocation_size = (int32_t)n;
    req.n_container_requests = 1;
    req.container_requests = creqs;
    buf = pack(&req.base, &len);
    if (grpc_unary(snap->sock, "/v1beta1.DevicePlugin/GetPreferredAllocation", buf, len,
                   CALL_TIMEOUT_MS, &resp, &resp_len, &err) < 0) {
        log_warn("%s: allocating without it", err.msg);
        return cands;
    }
    r = v1beta1__preferred_allocation_response__unpack(NULL, resp_len, resp);
    if (!r || r->n_container_responses != 1) {
        log_warn("GetPreferredAllocation: a bad answer: allocating without it");
        if (r)
            v1beta1__preferred_allocation_response__free_unpacked(r, NULL);
        return cands;
    }
    while (cands[total])
        total++;
    out = k3c_xcalloc(total + 1, sizeof(char *));
    /* the preferred ones that are candidates, then every other candidate */
    for (size_t i = 0; i < r->container_responses[0]->n_deviceids; i++)
        for (size_t j = 0; j < total; j++)
            if (cands[j] && strcmp(cands[j], r->container_responses[0]->deviceids[i]) == 0) {
                out[k++] = cands[j];
                cands[j] = NULL;
            }
    for (size_t j = 0; j < total; j++)
        if (cands[j])
            out[k++] = cands[j];
    v1beta1__preferred_allocation_response__free_unpacked(r, NULL);
    free(cands);
    return out;
}

static int
allocate_call(const struct dp_snapshot *snap, char **ids, json_t *edits, char ***cdi_devices,
              struct k3c_err *err)
{
    V1beta1__ContainerAllocateRequest creq = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
    V1beta1__ContainerAllocateRequest *creqs[] = {&creq};
    V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
    _cleanup_free_ uint8_t *buf = NULL, *resp = NULL;
    size_t len, resp_len;

    while (ids[creq.n_devices_ids])
        creq.n_devices_ids++;
    creq.devices_ids = ids;
    req.n_container_requests = 1;
    req.container_requests = creqs;
    buf = pack(&req.base, &len);
    if (grpc_unary(snap->sock, "/v1beta1.DevicePlugin/Allocate", buf, len, CALL_TIMEOUT_MS, &resp,
                   &resp_len, err) < 0)
        return -1;
    if (deviceplugin_response_edits(resp, resp_len, edits, cdi_devices, err) < 0)
        return k3c_err_wrap(err, "Allocate");
    return 0;
}

static int
pre_start_call(const struct dp_snapshot *snap, char **ids, struct k3c_err *err)
{
    V1beta1__PreStartContainerRequest req = V1BETA1__PRE_START_CONTAINER_REQUEST__INIT;
    _cleanup_free_ uint8_t *buf = NULL, *resp = NULL;
    size_t len, resp_len;

    while (ids[req.n_devices_ids])
        req.n_devices_ids++;
    req.devices_ids = ids;
    buf = pack(&req.base, &len);
    return grpc_unary(snap->sock, "/v1beta1.DevicePlugin/PreStartContainer", buf, len,
                      CALL_TIMEOUT_MS, &resp, &resp_len, err);
}

int
deviceplugin_allocate(struct deviceplugin *dp, struct cdi_alloc *alloc, const char *owner,
                      const char *resource, int64_t n, json_t *edits, char ***cdi_devices,
                      struct k3c_err *err)
{
    struct dp_snapshot snap;
    char **cands, **got = NULL;
    int rc = -1;

    if (!dp || !alloc || dp_endpoint_snapshot(dp, resource, &snap) < 0)
        return k3c_err_set(err, K3C_E_CONFLICT, "Insufficient %s: no device plugin serves it",
                           resource);
    cands = TAKE_PTR(snap.healthy);
    if (snap.preferred)
        cands = preferred_order(&snap, alloc, owner, n, cands);
    if (cdi_alloc_take(alloc, owner, resource, n, cands, &got, err) == 0 &&
        allocate_call(&snap, got, edits, cdi_devices, err) == 0 &&
        (!snap.pre_start || pre_start_call(&snap, got, err) == 0)) {
        log_info("(resource %s) %s gets %s%s", resource, owner, got[0], got[1] ? ", ..." : "");
        rc = 0;
    }
    k3c_strv_free(cands);
    k3c_strv_free(got);
    dp_snapshot_fini(&snap);
    return rc;
}
