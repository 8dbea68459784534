/* SPDX-License-Identifier: Apache-2.0
 * kubelet-internal.h - state shared by kubelet_main.c (pod table, list +
 * watch, adoption), kubelet_pod.c (one pod's worker: sandbox, images,
 * containers, restarts, probes, termination) and kubelet_status.c (the
 * pod status written back to the API).
 *
 * Threads: the manager thread owns the watch and the pod table (under
 * k->lock); each pod's worker thread owns everything in its struct kpod
 * except pod/gone/dirty, which the manager sets under k->lock. */
#ifndef K3C_KUBELET_INTERNAL_H
#define K3C_KUBELET_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cdi/cdi.h"
#include "image/image.h"
#include "kubelet/kubelet.h"
#include "kubelet/kubelet_eviction.h"
#include "podspec/podspec.h"
#include "runtime/runtime.h"
#include "client/client.h"
#include "net/net.h"

#define KUBELET_DEFAULT_CIDR     "10.42.0.0/24"
#define KUBELET_CIDR_WAIT_MS     10000 /* for the Node's spec.podCIDR at start */
#define KUBELET_BACKOFF_MAX_MS   300000
#define KUBELET_BACKOFF_RESET_MS 600000 /* a container that ran this long starts over */
#define KUBELET_DEFAULT_GRACE_S  30

enum kprobe_kind { KPROBE_LIVENESS, KPROBE_READINESS, KPROBE_STARTUP, KPROBE_N };

/* One container of the pod spec (init or app) and its current instance. */
struct kctr {
    const json_t *spec; /* borrowed from kpod.spec_pod */
    char *name;
    bool init;
    int restart_count;
    char id[RUNTIME_ID_MAX + 1]; /* current instance; "" when none */
    struct image *img;           /* image of the current instance */
    char *waiting_reason, *waiting_message;
    json_t *last_state; /* {"terminated": {...}} of the previous instance, or NULL */
    int64_t backoff_ms; /* next restart delay; 0: restart at once */
    int64_t next_start_ms;
    int64_t wait_ms; /* the current CrashLoopBackOff delay */
    int64_t pull_backoff_ms, next_pull_ms;
    bool done;        /* init container that exited 0; app container that will not restart */
    bool exited_seen; /* the current instance's exit has been handled */
    bool ready, started;
    struct runtime_status st; /* of the current instance, as last read */
    bool have_st;
    int64_t running_since_ms;           /* monotonic, for the liveness/backoff reset */
    const json_t *probe_spec[KPROBE_N]; /* borrowed; NULL: none */
    struct podspec_probe_state probes[KPROBE_N];
};

struct kubelet;

/* One pod bound to this node. */
struct kpod {
    struct kubelet *k;
    char *uid, *ns, *name;
    pthread_t thread;
    /* under k->lock */
    json_t *pod; /* latest from the API; NULL for an orphan found at start */
    bool gone;   /* no longer in the API */
    bool dirty;  /* pod changed since the worker last looked */
    /* worker-owned */
    json_t *spec_pod;  /* the pod the containers were built from */
    struct kctr *ctrs; /* init containers first */
    size_t n_ctrs, n_init;
    bool sandbox_ready;
    bool sandbox_released; /* finished pod: network given back, nothing runs again */
    char pod_ip[48];
    char start_time[32];
    char *written;       /* last status written, as compact text with sorted keys (a
                            tree would be ~10 KB a pod) */
    json_t *cond_times;  /* condition type -> {"status", "lastTransitionTime"} */
    bool failed_init;    /* an init container failed and will not restart */
    char *sandbox_error; /* why the pod network is not there yet */
    json_t *events;      /* queued for kubelet_events_flush */
    int64_t next_sandbox_ms;
    /* eviction (kubelet_eviction.c): evict_* under k->lock; evict_state 0
     * none, 1 asked (evict_msg for the worker to take), 2 evicted */
    int evict_state, evict_grace_s;
    char *evict_msg;
    char *evicted_msg;        /* worker-owned: the status message once evicted */
    bool evicted_adopted;     /* evicted before a restart: its status is left alone */
    int64_t token_refresh_ms; /* projected service-account tokens written again (0: none) */
};

/* An existing container found at start (adoption). */
struct kadopt {
    char id[RUNTIME_ID_MAX + 1];
    char *uid, *name;
    int restart_count;
    bool init;
};

struct kubelet {
    char *data_dir, *node_name, *node_ip, *runtime_name, *pod_cidr, *cni_bridge, *cni_bin_dir,
        *netns_dir, *registry_config;
    char *cluster_dns, *cluster_domain, *resolv_conf; /* pods' resolv.conf */
    void (*before_pod)(void *ud);
    void *before_pod_ud;
    int backoff_base_ms, sync_period_ms;
    int64_t token_max_age_s; /* upstream's maxTTL (24 h); K3C_KUBELET_TOKEN_MAX_AGE_S */
    int mtu;                 /* pods' eth0; 0: the CNI default */
    char *pods_dir, *logs_dir, *images_dir, *cni_state_dir;
    struct http_client *api;
    struct image_store *images;
    struct runtime *rt;
    struct net_pod_config net;

    pthread_t thread;
    bool running;
    pthread_t exits; /* inotify on the runtime's exits dir */
    bool exits_running;
    pthread_mutex_t lock; /* pods, adopt, stopping; with wake */
    pthread_cond_t wake;
    bool stopping;
    struct http_stream *stream;
    struct kpod **pods;
    size_t n_pods, cap_pods;
    struct kadopt *adopt;
    size_t n_adopt;
    /* devices (issue #18, kubelet_devices.c) */
    struct cdi_registry *cdi;                  /* borrowed from the agent; NULL: none */
    struct cdi_alloc *devalloc;                /* <data_dir>/devices/checkpoint.json */
    struct deviceplugin *dp;                   /* borrowed from the agent; NULL: none */
    char *nvidia_runtime, *nvidia_cdi_runtime; /* found at start; NULL: not installed */
    /* log rotation (kubelet_logrotate.c) */
    long long log_max_bytes;
    int log_max_files, log_monitor_ms;
    pthread_t logrotate;
    bool logrotate_running;
    /* image GC (kubelet_imagegc.c), housekeeping thread only */
    int gc_high_pct, gc_low_pct, gc_period_ms, gc_grace_s;
    struct kubelet_gc_seen *gc_seen;
    size_t gc_n_seen;
    /* eviction (kubelet_eviction.c): evict_* housekeeping thread only,
     * cond_met under lock */
    struct kevict_config evict_cfg;
    bool evict_met[KEVICT_N], cond_met[KEVICT_N];
    struct kevict_transition pressure_hold; /* under lock */
    int64_t pressure_transition_ms;
    int64_t evict_soft_since[KEVICT_N];
    int evict_period_ms;
};

/* kubelet_imagegc.c */
struct kubelet_gc_seen {
    char *ref;
    int64_t first_seen_ms, last_used_ms; /* wall clock; last_used 0: never in use */
};
struct kubelet_gc_image {
    const char *ref;
    int64_t size;
    int64_t last_used_ms, first_seen_ms;
    bool in_use;
};
/* Unused images in the order they go (least recently used first, never
 * used before used, then first seen, then name) until their sizes reach
 * want bytes: indices into imgs in order_out (n entries); returns how many. */
size_t kubelet_image_gc_select(const struct kubelet_gc_image *imgs, size_t n, int64_t want,
                               size_t *order_out);
/* One pass: measures the image file system and removes what it must. */
void kubelet_image_gc(struct kubelet *k);

/* One housekeeping pass of the image GC that removes every unused image
 * (the eviction manager's reclaim before it evicts for disk). */
void kubelet_image_gc_unused(struct kubelet *k);

/* kubelet_logrotate.c: one pass over the logs dir (rotate what is over
 * max_bytes, keep max_files per container log), and the thread doing it
 * every log_monitor_ms. */
void kubelet_logs_rotate(struct runtime *rt, const char *logs_dir, long long max_bytes,
                         int max_files);
void *kubelet_logrotate_thread(void *arg);

/* kubelet_main.c */
bool kubelet_stopping(struct kubelet *k);
/* Waits on the pod's wake-up or until deadline (monotonic ms); true when the
 * kubelet stops. */
bool kubelet_pod_wait(struct kpod *p, int64_t deadline_ms);
/* One API call; *out gets the parsed answer (may be NULL). Returns the HTTP
 * status, or -1 on transport failure. */
long kubelet_api(struct kubelet *k, const char *method, const char *path, const char *ctype,
                 const json_t *body, json_t **out, struct k3c_err *err);
/* Removes a directory tree (not crossing mounts). */
int kubelet_rmtree(const char *path);

/* kubelet_pod.c */
void *kubelet_pod_thread(void *arg);
/* "k3c-" + 24 hex of sha256("<uid>/<name>/<restart>"). */
void kubelet_container_id(const char *uid, const char *name, int restart, char out[29]);
char *kubelet_pod_dir(struct kubelet *k, const char *uid);

/* kubelet_devices.c: a container's CDI devices and runtime handler */
struct kdevices {
    struct cdi_registry *reg;
    char **devices; /* qualified CDI names; NULL: none */
    bool nvidia_runtime;
    json_t *dp_edits; /* device plugins' answers as CDI edits + "annotations"; NULL: none */
};
/* Allocates the devices of c's extended resources (CONFLICT "Insufficient
 * <resource>" when too few are free). */
int kubelet_devices_prepare(struct kpod *p, struct kctr *c, struct kdevices *d,
                            struct k3c_err *err);
/* runtime_spec.edit_oci: the CDI edits and NVIDIA_VISIBLE_DEVICES. */
int kubelet_devices_edit(json_t *cfg, void *ud, struct k3c_err *err);
void kubelet_devices_fini(struct kdevices *d);
/* Frees what container ctr of pod uid holds (ctr NULL: the whole pod). */
void kubelet_devices_release(struct kubelet *k, const char *uid, const char *ctr);
/* The pod's RuntimeClass handler: *path NULL for the node's runtime, else
 * nvidia-container-runtime's. NOT_FOUND / INVALID with upstream's words. */
int kubelet_runtime_handler(struct kpod *p, const char **path, bool *nvidia, struct k3c_err *err);

/* kubelet_status.c */
/* {"terminated": {exitCode, reason, startedAt, finishedAt, containerID}} of
 * c's current (stopped) instance: its state, or its lastState after a
 * restart (new reference). */
json_t *kubelet_terminated_state(const struct kctr *c);
/* The status of the pod as the worker sees it now (new reference). */
json_t *kubelet_pod_status(struct kpod *p);
/* PATCHes pods/<name>/status when the status changed since the last write,
 * or when the API's view (api_pod, may be NULL) disagrees on a condition. */
int kubelet_status_write(struct kpod *p, const json_t *api_pod, struct k3c_err *err);
/* Queues an Event about the pod (c: about that container; may be NULL);
 * type "Normal" or "Warning". kubelet_events_flush posts the queue (after
 * the status, so events do not delay it); failures are logged at debug. */
void kubelet_event(struct kpod *p, const struct kctr *c, const char *type, const char *reason,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void kubelet_events_flush(struct kpod *p);

/* kubelet_eviction.c: the eviction manager (issue #21) */
struct kubelet_evict_pod {
    char *uid, *ns, *name;
    json_t *pod;
    int64_t priority;
    int64_t usage, request; /* of the resource being reclaimed */
};
/* Orders v as the kubelet evicts for signal s: usage above requests
 * first (not for PIDs), lower priority, larger usage over the request. */
void kubelet_eviction_rank(struct kubelet_evict_pod *v, size_t n, enum kevict_signal s);
/* One pass of the manager: observe, reclaim, evict at most one pod. */
void kubelet_eviction_pass(struct kubelet *k);
/* The pod's worker: the message when the manager asked to evict the pod
 * (caller frees), with the grace period to use; NULL when not. */
char *kubelet_eviction_take(struct kpod *p, int *grace_s);
void kubelet_eviction_done(struct kpod *p);

#endif
