/* SPDX-License-Identifier: Apache-2.0
 * pvbinder.c - the PersistentVolume controller (upstream's
 * persistentvolume-binder, pvc-protection and pv-protection controllers)
 * with K3s's built-in local-path provisioner (docs/storage.md).
 *
 * Keys: "pvc:<ns>/<name>", "pv:<name>" and "sc" (the default class).
 *   claims   bind to a matching Available volume (pvbinder_logic.c) or, when
 *            none fits and the class has a provisioner, get one: the
 *            local-path provisioner makes a hostPath volume on the node the
 *            scheduler chose (volume.kubernetes.io/selected-node) for a
 *            WaitForFirstConsumer class, pre-bound to the claim;
 *   volumes  Available when unclaimed, Bound, Released when their claim is
 *            gone; reclaim Retain keeps them, Delete deletes the object (a
 *            local-path volume keeps a finalizer until its node's agent
 *            removed the directory: agent/agent_storage.c);
 *   deletion a claim being deleted keeps kubernetes.io/pvc-protection while a
 *            pod that is not finished uses it; a volume keeps
 *            kubernetes.io/pv-protection while Bound. */
#define LOG_COMPONENT "pvbinder"
#include "controllers/controllers.h"
#include "controllers/pvbinder.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define LOCAL_PATH_CLASS "local-path"

static const char *
meta_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

/* obj.a.b (b may be NULL), borrowed. */
static const json_t *
at2(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return b ? json_object_get(v, b) : v;
}

static const char *
annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

static bool
str_is(const json_t *v, const char *s)
{
    return json_string_value(v) && strcmp(json_string_value(v), s) == 0;
}

static bool
has_finalizer(const json_t *obj, const char *f)
{
    size_t i;
    const json_t *v;

    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), f) == 0)
            return true;
    }
    return false;
}

static void
enqueue_claim(struct ctl *c, const char *ns, const char *name)
{
    char key[600];

    if (!ns || !name)
        return;
    snprintf(key, sizeof(key), "pvc:%s/%s", ns, name);
    ctl_enqueue(c, key);
}

static void
enqueue_volume(struct ctl *c, const char *name)
{
    char key[300];

    if (!name)
        return;
    snprintf(key, sizeof(key), "pv:%s", name);
    ctl_enqueue(c, key);
}

static bool
enqueue_listed_claim(void *ud, const json_t *pvc)
{
    if (!at2(pvc, "spec", "volumeName"))
        enqueue_claim(ud, meta_str(pvc, "namespace"), meta_str(pvc, "name"));
    return true;
}

static bool
enqueue_listed_volume(void *ud, const json_t *pv)
{
    enqueue_volume(ud, meta_str(pv, "name"));
    return true;
}

/* ---- informer handlers ---------------------------------------------------------- */

static void
on_claim(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const char *vol = json_string_value(at2(obj, "spec", "volumeName"));

    (void)old;
    enqueue_claim(c, meta_str(obj, "namespace"), meta_str(obj, "name"));
    /* a deleted claim releases its volume */
    if (ev == CTL_DELETED || vol)
        enqueue_volume(c, vol);
}

static void
on_volume(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *ref = at2(obj, "spec", "claimRef");

    (void)old, (void)ev;
    enqueue_volume(c, meta_str(obj, "name"));
    if (ref)
        enqueue_claim(c, json_string_value(json_object_get(ref, "namespace")),
                      json_string_value(json_object_get(ref, "name")));
    /* a volume that became Available may suit a waiting claim */
    if (!ref && ev != CTL_DELETED)
        ctl_enqueue(c, "claims");
}

static void
on_class(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old, (void)obj;
    if (ev == CTL_DELETED)
        ctl_enqueue(c, "sc");
}

/* A pod that ends or goes away may free a claim being deleted. */
static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    size_t i;
    const json_t *v;

    (void)old;
    if (ev != CTL_DELETED && !ctl_pod_finished(obj))
        return;
    json_array_foreach(at2(obj, "spec", "volumes"), i, v)
    {
        const char *claim = json_string_value(at2(v, "persistentVolumeClaim", "claimName"));

        if (claim)
            enqueue_claim(c, meta_str(obj, "namespace"), claim);
    }
}

/* ---- API writes ------------------------------------------------------------------- */

static long
patch(struct ctl *c, const char *path, const json_t *body, struct k3c_err *err)
{
    return ctl_api(c, "PATCH", path, "application/merge-patch+json", body, NULL, err);
}

static char *
claim_path(const json_t *pvc, const char *sub)
{
    return k3c_xasprintf("/api/v1/namespaces/%s/persistentvolumeclaims/%s%s",
                         meta_str(pvc, "namespace"), meta_str(pvc, "name"), sub);
}

static char *
volume_path(const char *name, const char *sub)
{
    return k3c_xasprintf("/api/v1/persistentvolumes/%s%s", name, sub);
}

/* Drops finalizer from obj's list (a merge patch with the rest of the list
 * and the resourceVersion it was read at, so a concurrent change conflicts). */
static int
remove_finalizer(struct ctl *c, const char *path, const json_t *obj, const char *finalizer,
                 struct k3c_err *err)
{
    _cleanup_json_ json_t *rest = json_array(), *body = NULL;
    size_t i;
    const json_t *v;
    long code;

    json_array_foreach(at2(obj, "metadata", "finalizers"), i, v)
    {
        if (!json_string_value(v) || strcmp(json_string_value(v), finalizer) != 0)
            json_array_append(rest, (json_t *)v);
    }
    body = json_pack("{s:{s:O, s:s}}", "metadata", "finalizers", rest, "resourceVersion",
                     meta_str(obj, "resourceVersion") ?: "");
    code = patch(c, path, body, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return code >= 200 && code < 300 ? 0 : -1;
}

static int
set_volume_phase(struct ctl *c, const json_t *pv, const char *phase, const char *reason,
                 const char *message, struct k3c_err *err)
{
    _cleanup_free_ char *path = volume_path(meta_str(pv, "name"), "/status");
    _cleanup_json_ json_t *body = NULL;
    char now[40];
    long code;

    if (str_is(at2(pv, "status", "phase"), phase) && !reason)
        return 0;
    ctl_now_rfc3339(now, sizeof(now));
    body = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "status", "phase", phase,
                     "lastPhaseTransitionTime", now, "reason", reason, "message", message);
    code = patch(c, path, body, err);
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (code >= 200 && code < 300)
        log_info("(pv %s) %s", meta_str(pv, "name"), phase);
    return code >= 200 && code < 300 ? 0 : -1;
}

/* ---- claims ----------------------------------------------------------------------- */

static bool
pod_uses_claim(void *ud, const json_t *pod)
{
    const char **claim = ud;
    size_t i;
    const json_t *v;

    if (ctl_pod_finished(pod))
        return true;
    json_array_foreach(at2(pod, "spec", "volumes"), i, v)
    {
        const char *name = json_string_value(at2(v, "persistentVolumeClaim", "claimName"));

        if (name && strcmp(name, *claim) == 0) {
            *claim = NULL; /* found: stop */
            return false;
        }
    }
    return true;
}

/* kubernetes.io/pvc-protection: released once no live pod uses the claim. */
static int
protect_claim(struct ctl *c, const json_t *pvc, struct k3c_err *err)
{
    const char *claim = meta_str(pvc, "name");
    _cleanup_free_ char *path = claim_path(pvc, "");

    if (!has_finalizer(pvc, "kubernetes.io/pvc-protection"))
        return 0;
    ctl_list(c, "pods", meta_str(pvc, "namespace"), NULL, pod_uses_claim, &claim);
    if (!claim)
        return 0; /* in use: a pod event brings us back */
    return remove_finalizer(c, path, pvc, "kubernetes.io/pvc-protection", err);
}

static json_t *
claim_ref(const json_t *pvc)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "PersistentVolumeClaim",
                     "apiVersion", "v1", "namespace", meta_str(pvc, "namespace"), "name",
                     meta_str(pvc, "name"), "uid", meta_str(pvc, "uid") ?: "", "resourceVersion",
                     meta_str(pvc, "resourceVersion") ?: "");
}

/* The volume side of a binding: claimRef (with the claim's uid) and Bound. */
static int
bind_volume(struct ctl *c, const json_t *pv, const json_t *pvc, struct k3c_err *err)
{
    const char *ref_uid = json_string_value(at2(at2(pv, "spec", "claimRef"), "uid", NULL));
    _cleanup_free_ char *path = volume_path(meta_str(pv, "name"), "");
    _cleanup_json_ json_t *body = NULL;
    long code;

    if (!ref_uid || strcmp(ref_uid, meta_str(pvc, "uid") ?: "") != 0) {
        body = json_pack("{s:{s:{s:s}}, s:{s:o}}", "metadata", "annotations",
                         "pv.kubernetes.io/bound-by-controller", "yes", "spec", "claimRef",
                         claim_ref(pvc));
        code = patch(c, path, body, err);
        if (code < 200 || code >= 300)
            return -1;
    }
    return set_volume_phase(c, pv, "Bound", NULL, NULL, err);
}

/* The claim side: volumeName, then status Bound with the volume's capacity
 * and access modes. */
static int
bind_claim(struct ctl *c, const json_t *pvc, const json_t *pv, struct k3c_err *err)
{
    const char *vol = json_string_value(at2(pvc, "spec", "volumeName"));
    _cleanup_free_ char *path = claim_path(pvc, ""), *spath = claim_path(pvc, "/status");
    _cleanup_json_ json_t *body = NULL, *status = NULL;
    long code;

    if (!vol || !*vol) {
        body = json_pack("{s:{s:{s:s, s:s}}, s:{s:s}}", "metadata", "annotations",
                         "pv.kubernetes.io/bind-completed", "yes",
                         "pv.kubernetes.io/bound-by-controller", "yes", "spec", "volumeName",
                         meta_str(pv, "name"));
        code = patch(c, path, body, err);
        if (code < 200 || code >= 300)
            return -1;
    }
    status = json_pack("{s:{s:s, s:O?, s:O?}}", "status", "phase", "Bound", "accessModes",
                       at2(pv, "spec", "accessModes"), "capacity", at2(pv, "spec", "capacity"));
    if (str_is(at2(pvc, "status", "phase"), "Bound") &&
        json_equal(at2(pvc, "status", "capacity"), at2(pv, "spec", "capacity")))
        return 0;
    code = patch(c, spath, status, err);
    if (code >= 200 && code < 300) {
        log_info("(pvc %s/%s) bound to %s", meta_str(pvc, "namespace"), meta_str(pvc, "name"),
                 meta_str(pv, "name"));
        return 0;
    }
    return -1;
}

static bool
collect(void *ud, const json_t *obj)
{
    json_array_append(ud, (json_t *)obj);
    return true;
}

/* The local-path provisioner: a hostPath volume on node for pvc. */
static int
provision_local(struct ctl *c, const json_t *pvc, const json_t *sc, const char *node,
                struct k3c_err *err)
{
    const struct ctl_config *cfg = ctl_manager_config(ctl_manager(c));
    const char *uid = meta_str(pvc, "uid"), *ns = meta_str(pvc, "namespace");
    const char *name = meta_str(pvc, "name");
    _cleanup_free_ char *pv_name = k3c_xasprintf("pvc-%s", uid);
    _cleanup_free_ char *dir = pvb_local_path(
        cfg->local_storage_path ? cfg->local_storage_path : "/var/lib/k3c/storage", uid, ns, name);
    _cleanup_json_ json_t *pv = NULL;
    const char *size = json_string_value(
        at2(at2(at2(pvc, "spec", "resources"), "requests", NULL), "storage", NULL));
    long code;

    pv = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}, s:[s]}, s:{s:{s:s}, s:O?, s:s, s:s, s:s, s:o, "
                   "s:{s:s, s:s}, s:{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}}}",
                   "apiVersion", "v1", "kind", "PersistentVolume", "metadata", "name", pv_name,
                   "annotations", PVB_PROVISIONED_BY, PVB_LOCAL_PATH_PROVISIONER, PVB_LOCAL_NODE,
                   node, "finalizers", PVB_CLEANUP_FINALIZER, "spec", "capacity", "storage",
                   size ? size : "0", "accessModes", at2(pvc, "spec", "accessModes"),
                   "persistentVolumeReclaimPolicy",
                   json_string_value(json_object_get(sc, "reclaimPolicy")) ?: "Delete",
                   "storageClassName", meta_str(sc, "name"), "volumeMode",
                   json_string_value(at2(pvc, "spec", "volumeMode")) ?: "Filesystem", "claimRef",
                   claim_ref(pvc), "hostPath", "path", dir, "type", "DirectoryOrCreate",
                   "nodeAffinity", "required", "nodeSelectorTerms", "matchExpressions", "key",
                   "kubernetes.io/hostname", "operator", "In", "values", node);
    if (!pv)
        return k3c_err_set(err, K3C_E_INTERNAL, "cannot build the volume of %s/%s", ns, name);
    code = ctl_api(c, "POST", "/api/v1/persistentvolumes", NULL, pv, NULL, err);
    if (code == 409) {
        k3c_err_clear(err);
        return 0;
    }
    if (code != 201) {
        ctl_event(c, pvc, "Warning", "ProvisioningFailed", "failed to provision volume: %s",
                  err->msg);
        return -1;
    }
    ctl_event(c, pvc, "Normal", "ProvisioningSucceeded", "Successfully provisioned volume %s",
              pv_name);
    log_info("(pvc %s/%s) provisioned %s at %s on %s", ns, name, pv_name, dir, node);
    return 0;
}

/* No volume matched: the class's provisioner makes one (ours), or the claim
 * waits (another provisioner, or none). */
static int
provision(struct ctl *c, const json_t *pvc, const json_t *sc, struct k3c_err *err)
{
    const char *prov = json_string_value(json_object_get(sc, "provisioner"));
    const char *node = annotation(pvc, PVB_SELECTED_NODE);
    const struct ctl_config *cfg = ctl_manager_config(ctl_manager(c));

    if (!prov || strcmp(prov, "kubernetes.io/no-provisioner") == 0) {
        ctl_event(c, pvc, "Normal", "FailedBinding",
                  "no persistent volumes available for this claim and no storage class is set");
        return 0;
    }
    if (strcmp(prov, PVB_LOCAL_PATH_PROVISIONER) != 0 || cfg->disable_local_storage) {
        ctl_event(c, pvc, "Normal", "ExternalProvisioning",
                  "Waiting for a volume to be created either by the external provisioner '%s' "
                  "or manually by the system administrator. If volume creation is delayed, "
                  "please verify that the provisioner is running and correctly registered.",
                  prov);
        return 0;
    }
    if (!node) {
        ctl_event(c, pvc, "Warning", "ProvisioningFailed",
                  "configuration error, no node was specified");
        return 0;
    }
    ctl_event(c, pvc, "Normal", "Provisioning",
              "External provisioner is provisioning volume for claim \"%s/%s\"",
              meta_str(pvc, "namespace"), meta_str(pvc, "name"));
    return provision_local(c, pvc, sc, node, err);
}

static int
sync_unbound_claim(struct ctl *c, const json_t *pvc, struct k3c_err *err)
{
    const char *cls = json_string_value(at2(pvc, "spec", "storageClassName"));
    const char *sel_node = annotation(pvc, PVB_SELECTED_NODE);
    _cleanup_json_ json_t *sc = cls && *cls ? ctl_get(c, "storageclasses", NULL, cls) : NULL;
    _cleanup_json_ json_t *pvs = json_array(), *node = NULL;
    const char *mode = json_string_value(json_object_get(sc, "volumeBindingMode"));
    bool wait = mode && strcmp(mode, "WaitForFirstConsumer") == 0;
    const json_t *pv;

    if (wait && !sel_node) {
        ctl_event(c, pvc, "Normal", "WaitForFirstConsumer",
                  "waiting for first consumer to be created before binding");
        return 0;
    }
    if (sel_node)
        node = ctl_get(c, "nodes", NULL, sel_node);
    ctl_list(c, "persistentvolumes", NULL, NULL, collect, pvs);
    pv = pvb_find_volume(pvs, pvc, wait ? node : NULL);
    if (pv) {
        if (bind_volume(c, pv, pvc, err) < 0)
            return -1;
        return bind_claim(c, pvc, pv, err);
    }
    if (cls && *cls && !sc) {
        ctl_event(c, pvc, "Warning", "ProvisioningFailed",
                  "storageclass.storage.k8s.io \"%s\" "
                  "not found",
                  cls);
        return 0;
    }
    if (!sc) {
        ctl_event(c, pvc, "Normal", "FailedBinding",
                  "no persistent volumes available for this claim and no storage class is set");
        return 0;
    }
    return provision(c, pvc, sc, err);
}

static int
set_claim_lost(struct ctl *c, const json_t *pvc, struct k3c_err *err)
{
    _cleanup_free_ char *path = claim_path(pvc, "/status");
    _cleanup_json_ json_t *body = json_pack("{s:{s:s}}", "status", "phase", "Lost");

    if (str_is(at2(pvc, "status", "phase"), "Lost"))
        return 0;
    ctl_event(c, pvc, "Warning", "ClaimLost",
              "Bound claim has lost its PersistentVolume. Data on "
              "the volume is lost!");
    return patch(c, path, body, err) / 100 == 2 ? 0 : -1;
}

static int
sync_claim(struct ctl *c, const char *ns, const char *name, struct k3c_err *err)
{
    _cleanup_json_ json_t *pvc = ctl_get(c, "persistentvolumeclaims", ns, name);
    _cleanup_json_ json_t *pv = NULL;
    const char *vol;

    if (!pvc)
        return 0;
    if (ctl_being_deleted(pvc))
        return protect_claim(c, pvc, err);
    vol = json_string_value(at2(pvc, "spec", "volumeName"));
    if (!vol || !*vol)
        return sync_unbound_claim(c, pvc, err);
    pv = ctl_get(c, "persistentvolumes", NULL, vol);
    if (!pv) {
        if (str_is(at2(pvc, "status", "phase"), "Bound"))
            return set_claim_lost(c, pvc, err);
        return 0; /* the user named a volume that is not there (yet) */
    }
    if (!pvb_volume_matches(pv, pvc, NULL, NULL, 0) &&
        !str_is(at2(at2(pv, "spec", "claimRef"), "uid", NULL), meta_str(pvc, "uid") ?: ""))
        return 0; /* bound elsewhere or unsuitable: stays Pending */
    if (bind_volume(c, pv, pvc, err) < 0)
        return -1;
    return bind_claim(c, pvc, pv, err);
}

/* ---- volumes ---------------------------------------------------------------------- */

static int
reclaim(struct ctl *c, const json_t *pv, struct k3c_err *err)
{
    const char *policy = json_string_value(at2(pv, "spec", "persistentVolumeReclaimPolicy"));
    const char *prov = annotation(pv, PVB_PROVISIONED_BY);
    _cleanup_free_ char *path = volume_path(meta_str(pv, "name"), "");
    long code;

    if (!policy || strcmp(policy, "Delete") != 0)
        return 0; /* Retain: stays Released for the administrator */
    if (!prov || strcmp(prov, PVB_LOCAL_PATH_PROVISIONER) != 0)
        return set_volume_phase(c, pv, "Failed", "VolumeFailedDelete",
                                "error getting deleter volume plugin for volume: no deletable "
                                "volume plugin matched",
                                err);
    code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
    if (code == 404 || (code >= 200 && code < 300)) {
        k3c_err_clear(err);
        log_info("(pv %s) deleted (reclaim policy Delete)", meta_str(pv, "name"));
        return 0;
    }
    return -1;
}

static int
sync_volume(struct ctl *c, const char *name, struct k3c_err *err)
{
    _cleanup_json_ json_t *pv = ctl_get(c, "persistentvolumes", NULL, name);
    _cleanup_json_ json_t *pvc = NULL;
    const json_t *ref;
    const char *ref_uid, *phase;

    if (!pv)
        return 0;
    phase = json_string_value(at2(pv, "status", "phase"));
    if (ctl_being_deleted(pv)) {
        _cleanup_free_ char *path = volume_path(name, "");

        if (has_finalizer(pv, "kubernetes.io/pv-protection") &&
            !(phase && strcmp(phase, "Bound") == 0))
            return remove_finalizer(c, path, pv, "kubernetes.io/pv-protection", err);
        return 0;
    }
    ref = at2(pv, "spec", "claimRef");
    if (!ref)
        return set_volume_phase(c, pv, "Available", NULL, NULL, err);
    ref_uid = json_string_value(json_object_get(ref, "uid"));
    pvc = ctl_get(c, "persistentvolumeclaims", json_string_value(json_object_get(ref, "namespace")),
                  json_string_value(json_object_get(ref, "name")));
    if (!ref_uid || !*ref_uid) /* pre-bound by the administrator: the claim's sync binds */
        return pvc ? 0 : set_volume_phase(c, pv, "Available", NULL, NULL, err);
    if (pvc && strcmp(meta_str(pvc, "uid") ?: "", ref_uid) == 0) {
        const char *vol = json_string_value(at2(pvc, "spec", "volumeName"));

        if (vol && strcmp(vol, name) == 0)
            return set_volume_phase(c, pv, "Bound", NULL, NULL, err);
        return 0; /* half-bound: the claim's sync finishes it */
    }
    /* The claim is gone. */
    if (!phase || strcmp(phase, "Released") != 0) {
        if (phase && strcmp(phase, "Failed") == 0)
            return 0;
        if (set_volume_phase(c, pv, "Released", NULL, NULL, err) < 0)
            return -1;
    }
    return reclaim(c, pv, err);
}

/* ---- the default class ------------------------------------------------------------- */

static int
ensure_local_path_class(struct ctl *c, struct k3c_err *err)
{
    _cleanup_json_ json_t *sc = NULL, *body = NULL;
    long code;

    if (ctl_manager_config(ctl_manager(c))->disable_local_storage)
        return 0;
    sc = ctl_get(c, "storageclasses", NULL, LOCAL_PATH_CLASS);
    if (sc)
        return 0;
    body = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:s, s:s, s:s}", "apiVersion",
                     "storage.k8s.io/v1", "kind", "StorageClass", "metadata", "name",
                     LOCAL_PATH_CLASS, "annotations", "storageclass.kubernetes.io/is-default-class",
                     "true", "provisioner", PVB_LOCAL_PATH_PROVISIONER, "reclaimPolicy", "Delete",
                     "volumeBindingMode", "WaitForFirstConsumer");
    code = ctl_api(c, "POST", "/apis/storage.k8s.io/v1/storageclasses", NULL, body, NULL, err);
    if (code == 201 || code == 409) {
        k3c_err_clear(err);
        if (code == 201)
            log_info("created the default StorageClass %s", LOCAL_PATH_CLASS);
        return 0;
    }
    return -1;
}

static int
pvb_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];

    if (strcmp(key, "sc") == 0)
        return ensure_local_path_class(c, err);
    if (strcmp(key, "claims") == 0) {
        ctl_list(c, "persistentvolumeclaims", NULL, NULL, enqueue_listed_claim, c);
        return 0;
    }
    if (strncmp(key, "pv:", 3) == 0)
        return sync_volume(c, key + 3, err);
    if (strncmp(key, "pvc:", 4) == 0) {
        ctl_key_split(key + 4, ns, sizeof(ns), name, sizeof(name));
        return sync_claim(c, ns, name, err);
    }
    return 0;
}

static void
start(struct ctl *c)
{
    ctl_enqueue(c, "sc");
    ctl_enqueue(c, "claims");
    ctl_list(c, "persistentvolumes", NULL, NULL, enqueue_listed_volume, c);
}

/* A periodic pass, as upstream's 15 s resync: what a missed event or a
 * failed write left behind is looked at again. */
static void
resync(struct ctl *c)
{
    ctl_enqueue(c, "claims");
    ctl_list(c, "persistentvolumes", NULL, NULL, enqueue_listed_volume, c);
}

static const struct ctl_watch watches[] = {
    {"persistentvolumeclaims", on_claim},
    {"persistentvolumes", on_volume},
    {"storageclasses", on_class},
    {"pods", on_pod},
    {NULL, NULL},
};

const struct ctl_def ctl_def_pvbinder = {
    .name = "pvbinder",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = pvb_sync,
    .period_ms = 15000,
    .tick = resync,
    .start = start,
};
