/* SPDX-License-Identifier: Apache-2.0
 * podspec.h - what the kubelet derives from a Pod's spec before it runs a
 * container: resource quantities, the environment, volume directories and
 * mounts, probes, and the securityContext. Each part maps Kubernetes JSON to
 * the plain structs of runtime.h; none of it keeps state between calls except
 * the probe state machine, which is a value the caller owns.
 *
 * Errors surface to the user as CreateContainerConfigError (env, securityContext)
 * or FailedMount (volumes), so messages follow upstream's wording
 * ('configmap "x" not found', "couldn't find key k in ConfigMap ns/x").
 *
 * Thread: every function may be called from any thread; functions that do
 * I/O (fetch callbacks, volume files, probes) block and belong on a worker. */
#ifndef K3C_PODSPEC_H
#define K3C_PODSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"
#include "base/err.h"

/* ---- quantities (k8s.io/apimachinery resource.Quantity) ------------------
 * Accepts decimal numbers with an optional exponent ("1e3", "1.5E2") or
 * suffix: binary Ki Mi Gi Ti Pi Ei, decimal n u m "" k M G T P E. */

/* *milli_out = value * 1000, rounded up (as Quantity.MilliValue does).
 * K3C_E_INVALID for bad syntax or overflow of int64. */
int podspec_quantity_milli(const char *s, int64_t *milli_out, struct k3c_err *err);
/* *out = value, rounded up to an integer (Quantity.Value). */
int podspec_quantity_value(const char *s, int64_t *out, struct k3c_err *err);
/* As above for a JSON string or number (the API may store either). */
int podspec_quantity_json_milli(const json_t *v, int64_t *milli_out, struct k3c_err *err);
int podspec_quantity_json_value(const json_t *v, int64_t *out, struct k3c_err *err);

/* container.resources → runtime_resources: requests.cpu / limits.cpu in
 * millicores, limits.memory in bytes. As upstream, a missing cpu request
 * defaults to the cpu limit. pids_limit stays 0. K3C_E_INVALID for a bad
 * quantity ("resources.limits.memory: ..."). */
int podspec_container_resources(const json_t *container, struct runtime_resources *out,
                                struct k3c_err *err);

/* ---- shared context ------------------------------------------------------ */

/* Reads one object of the pod's namespace: kind_plural is "configmaps" or
 * "secrets". Returns a new reference, or NULL with err set; kind
 * K3C_E_NOT_FOUND means the object does not exist (optional refs tolerate
 * exactly that). The agent passes a wrapper of its API client; tests pass a
 * real server's client or a table. */
typedef json_t *(*podspec_fetch_fn)(void *ud, const char *kind_plural, const char *ns,
                                    const char *name, struct k3c_err *err);

/* What the kubelet knows about the pod beyond its JSON. All borrowed. */
struct podspec_ctx {
    const json_t *pod;      /* the Pod object (metadata, spec, status) */
    const char *pod_ip;     /* NULL: status.podIP */
    const char *host_ip;    /* NULL: status.hostIP */
    const char *node_name;  /* NULL: spec.nodeName */
    podspec_fetch_fn fetch; /* NULL: every configMap/secret ref is "not found" */
    void *fetch_ud;
    /* Node allocatable, for resourceFieldRef of a container without limits
     * (upstream falls back to the node's allocatable). 0 = unknown → 0. */
    int64_t node_cpu_millicores;
    int64_t node_memory_bytes;
    /* Service env vars ("K=V", NULL-terminated or NULL): may be referenced
     * by $(VAR) and are added when not defined by the container (upstream's
     * enableServiceLinks environment). */
    const char *const *service_env;
    /* A service-account token for the pod (projected serviceAccountToken
     * sources; issue #15): audience NULL for the API's, a new string or
     * NULL with err. NULL: such sources are skipped with a log line. */
    char *(*token)(void *ud, const json_t *pod, const char *audience, int64_t expiration_s,
                   struct k3c_err *err);
    void *token_ud;
};

/* NULL-terminated string vectors returned below; NULL is a no-op. */
void podspec_strv_free(char **v);
size_t podspec_strv_len(const char *const *v);

/* ---- environment ---------------------------------------------------------- */

/* The container's environment as upstream builds it, "K=V" entries:
 * image_env (the image config's Env, may be NULL) first, then envFrom
 * (configMapRef / secretRef, with prefix; keys that are not valid env names
 * are skipped), then env[] in order (value with $(VAR) expansion against the
 * vars defined so far plus service_env, "$$" → "$"; valueFrom configMapKeyRef,
 * secretKeyRef, fieldRef, resourceFieldRef), then service_env entries not yet
 * defined. A later definition of a name replaces the earlier one in place.
 * Errors (K3C_E_NOT_FOUND / K3C_E_INVALID), e.g. 'configmap "x" not found',
 * "couldn't find key k in Secret ns/x". Caller podspec_strv_free()s. */
char **podspec_env_build(const struct podspec_ctx *ctx, const json_t *container,
                         const char *const *image_env, struct k3c_err *err);

/* $(VAR) expansion as upstream's expansion.Expand: $(NAME) is replaced by
 * NAME's value in env ("K=V" list, last definition wins) or left as is when
 * undefined; "$$" → "$"; anything else copied. Returns a new string. */
char *podspec_expand(const char *s, const char *const *env);

/* The process argv: command/args resolved against the image's Entrypoint
 * and Cmd as upstream does (command set: command + args; only args: image
 * entrypoint + args; neither: entrypoint + cmd), each element expanded
 * with podspec_expand against env. K3C_E_INVALID when the result is empty.
 * Caller podspec_strv_free()s. */
char **podspec_container_args(const json_t *container, const char *const *image_entrypoint,
                              const char *const *image_cmd, const char *const *env,
                              struct k3c_err *err);

/* One fieldRef value (fieldPath as in env/downwardAPI): metadata.name,
 * metadata.namespace, metadata.uid, metadata.labels['k'],
 * metadata.annotations['k'], metadata.labels / metadata.annotations
 * (downwardAPI volumes only: "k=\"v\"" lines), spec.nodeName,
 * spec.serviceAccountName, status.podIP, status.podIPs, status.hostIP,
 * status.hostIPs. Returns a new string; K3C_E_INVALID for an unsupported path. */
char *podspec_field_ref(const struct podspec_ctx *ctx, const char *field_path, struct k3c_err *err);

/* resourceFieldRef (limits.cpu, limits.memory, requests.cpu,
 * requests.memory, limits.ephemeral-storage, requests.ephemeral-storage) of
 * the named container (NULL: container); divisor as in the API (default 1);
 * cpu is rounded up as upstream. Returns a new string. */
char *podspec_resource_field_ref(const struct podspec_ctx *ctx, const json_t *container,
                                 const json_t *ref, struct k3c_err *err);

/* ---- volumes ---------------------------------------------------------------
 * Layout: <pod_dir>/volumes/<name>. emptyDir is a directory (medium Memory:
 * a tmpfs mounted there on the host, sizeLimit as size, so all containers of
 * the pod share it); hostPath is used in place after its type check;
 * configMap / secret / downwardAPI / projected are written with upstream's
 * atomic writer layout (files in a "..<timestamp>" dir, "..data" symlink
 * swapped by rename, user-visible names are symlinks through ..data), so a
 * re-run of podspec_volumes_prepare updates them atomically. With
 * spec.securityContext.fsGroup, files are group-owned by it and get g+r,
 * emptyDir directories get it with the setgid bit (SetVolumeOwnership). */

enum podspec_volume_kind {
    PODSPEC_VOL_EMPTYDIR = 0,
    PODSPEC_VOL_EMPTYDIR_MEMORY,
    PODSPEC_VOL_HOSTPATH,
    PODSPEC_VOL_CONFIGMAP,
    PODSPEC_VOL_SECRET,
    PODSPEC_VOL_DOWNWARDAPI,
    PODSPEC_VOL_PROJECTED,
};

struct podspec_volume {
    char *name;
    enum podspec_volume_kind kind;
    char *host_path; /* absolute directory or file on the host */
    bool readonly;   /* configMap/secret/downwardAPI/projected: always mounted read-only */
};

struct podspec_volumes {
    struct podspec_volume *v;
    size_t n;
};

/* Prepares every volume of ctx->pod under pod_dir (created if missing).
 * Volume types not supported (persistentVolumeClaim, ...) → K3C_E_INVALID
 * naming the volume; projected serviceAccountToken sources are skipped with
 * a log line (TODO(#5)). Missing non-optional configMap/secret →
 * K3C_E_NOT_FOUND ('configmap "x" not found'). hostPath type mismatch →
 * K3C_E_INVALID ("hostPath type check failed: /x is not a directory").
 * Idempotent: call again to refresh configMap/secret contents. On success
 * *out is filled; free with podspec_volumes_fini. */
int podspec_volumes_prepare(const struct podspec_ctx *ctx, const char *pod_dir,
                            struct podspec_volumes *out, struct k3c_err *err);
void podspec_volumes_fini(struct podspec_volumes *vols);

/* Service-account token refresh (issue #15): seconds after writing the
 * pod's projected serviceAccountToken sources when the kubelet writes them
 * again, as upstream's token manager: at 80% of the shortest
 * expirationSeconds, or max_age_s (upstream's 24 h) if sooner; -1 when the
 * pod has no such source. */
int64_t podspec_token_refresh_after_s(const json_t *pod, int64_t max_age_s);
/* Rewrites (atomic writer) every projected volume of ctx->pod that holds a
 * serviceAccountToken source, with new tokens. Returns how many, -1 on error. */
int podspec_volumes_refresh_tokens(const struct podspec_ctx *ctx, const char *pod_dir,
                                   struct k3c_err *err);
/* The prepared volume called name, or NULL. */
const struct podspec_volume *podspec_volumes_find(const struct podspec_volumes *vols,
                                                  const char *name);

/* container.volumeMounts → runtime_mount array (all RUNTIME_MOUNT_BIND):
 * source = volume host path [+ "/" + subPath], destination = mountPath,
 * readonly = readOnly || the volume is read-only. subPath (and subPathExpr,
 * expanded against env) must be relative without ".." and must resolve
 * inside the volume; a missing subPath directory is created (as upstream).
 * Unknown volume name / bad path → K3C_E_INVALID. *out (and every string
 * in it) is owned by the caller: podspec_mounts_free(*out, *n_out). */
int podspec_volume_mounts(const struct podspec_volumes *vols, const json_t *container,
                          const char *const *env, struct runtime_mount **out, size_t *n_out,
                          struct k3c_err *err);
void podspec_mounts_free(struct runtime_mount *mounts, size_t n);

/* Removes <pod_dir>/volumes: unmounts tmpfs (and any other mount) found
 * below it first, never follows symlinks, never touches hostPath sources.
 * Missing is fine. K3C_E_SYSTEM if something stays. */
int podspec_volumes_cleanup(const char *pod_dir, struct k3c_err *err);

/* rm -rf of path that neither follows symlinks nor crosses mount points
 * (the agent's removal of local-path volumes). Missing is fine. */
int podspec_rm_tree(const char *path, struct k3c_err *err);

/* ---- probes ----------------------------------------------------------------*/

enum podspec_probe_result {
    PODSPEC_PROBE_UNKNOWN = 0, /* could not run (e.g. exec failed to start): ignored */
    PODSPEC_PROBE_SUCCESS,
    PODSPEC_PROBE_FAILURE,
};

enum podspec_probe_kind {
    PODSPEC_PROBE_LIVENESS = 0,
    PODSPEC_PROBE_READINESS,
    PODSPEC_PROBE_STARTUP,
};

const char *podspec_probe_result_name(enum podspec_probe_result r);

/* Where one attempt runs. All borrowed. */
struct podspec_probe_target {
    struct runtime *rt;       /* exec probes */
    const char *container_id; /* runtime id, exec probes */
    const char *pod_ip;       /* httpGet/tcpSocket default host */
    const json_t *container;  /* named ports (ports[].name → containerPort) */
};

/* Runs one attempt of probe (the JSON of livenessProbe etc.): exec (exit 0
 * = success), httpGet (status 200-399; scheme HTTPS without verification;
 * httpHeaders; host defaults to pod_ip), tcpSocket (connect), grpc →
 * UNKNOWN with a message. Bounded by timeoutSeconds (default 1). msg (may
 * be NULL) receives a short reason for events/logs, e.g. "HTTP probe failed
 * with statuscode: 500". Blocks. */
enum podspec_probe_result podspec_probe_run(const json_t *probe,
                                            const struct podspec_probe_target *target, char *msg,
                                            size_t msg_len);

/* The state machine of one probe of one container instance (a value; the
 * caller owns and serialises it). Upstream semantics: the first attempt at
 * started_ms + initialDelaySeconds, then every periodSeconds; the result
 * flips to SUCCESS after successThreshold consecutive successes and to
 * FAILURE after failureThreshold consecutive failures; UNKNOWN attempts are
 * ignored. Initial result: liveness SUCCESS, readiness FAILURE, startup
 * UNKNOWN. */
struct podspec_probe_state {
    enum podspec_probe_kind kind;
    int64_t initial_delay_ms, period_ms, timeout_ms;
    int success_threshold, failure_threshold;
    int64_t next_ms;      /* when the next attempt is due (monotonic ms) */
    int ok_run, fail_run; /* consecutive successes / failures */
    enum podspec_probe_result result;
    bool done; /* startup probe succeeded: no more attempts */
};

/* Reads the probe's timings (defaults 0/10/1/1/3; liveness and startup
 * require successThreshold 1). started_ms: when the container started, on
 * the clock the caller uses for now_ms (k3c_now_ms). */
void podspec_probe_state_init(struct podspec_probe_state *s, enum podspec_probe_kind kind,
                              const json_t *probe, int64_t started_ms);
/* True when an attempt should run now. */
bool podspec_probe_due(const struct podspec_probe_state *s, int64_t now_ms);
/* Records an attempt finished at now_ms, schedules the next one and returns
 * the probe's result after it (compare with the previous one to react:
 * liveness/startup FAILURE → kill the container; readiness → Ready). */
enum podspec_probe_result podspec_probe_record(struct podspec_probe_state *s,
                                               enum podspec_probe_result attempt, int64_t now_ms);

/* ---- securityContext ------------------------------------------------------- */

struct podspec_security {
    uint32_t uid, gid;
    uint32_t *groups; /* supplementalGroups + fsGroup, owned */
    size_t n_groups;
    bool privileged, readonly_rootfs, no_new_privileges;
    char **cap_add, **cap_drop; /* NULL-terminated or NULL, owned */
};

/* pod.spec.securityContext merged with container.securityContext (the
 * container wins): runAsUser / runAsGroup, else the image's USER
 * ("uid", "uid:gid", or names looked up in rootfs's /etc/passwd and
 * /etc/group when rootfs is not NULL; gid defaults to the user's primary
 * group there, else 0), supplementalGroups, fsGroup, privileged,
 * readOnlyRootFilesystem, capabilities, allowPrivilegeEscalation (false →
 * no_new_privileges; unset → allowed). runAsNonRoot with uid 0 →
 * K3C_E_INVALID ("container has runAsNonRoot and image will run as root").
 * Free with podspec_security_fini. */
int podspec_security_build(const json_t *pod, const json_t *container, const char *image_user,
                           const char *rootfs, struct podspec_security *out, struct k3c_err *err);
void podspec_security_fini(struct podspec_security *sec);
/* Copies the fields into spec (pointers borrowed from sec: keep sec alive
 * until the spec is used). */
void podspec_security_apply(const struct podspec_security *sec, struct runtime_spec *spec);

/* ---- DNS (podspec_dns.c) -------------------------------------------------- */

struct podspec_dns_config {
    const char *cluster_dns;    /* NULL/"": ClusterFirst falls back to the host's */
    const char *cluster_domain; /* NULL: cluster.local */
    const char *host_resolv;    /* the host's resolv.conf text (--resolv-conf); may be NULL */
};

/* The pod's /etc/resolv.conf by spec.dnsPolicy and spec.dnsConfig, as the
 * kubelet writes it (docs/dns.md). A new string (free()). */
char *podspec_resolv_conf(const json_t *pod, const struct podspec_dns_config *c);

#endif
