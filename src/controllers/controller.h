/* SPDX-License-Identifier: Apache-2.0
 * controller.h - the control loops of `k3c server` (kube-controller-manager
 * and kube-scheduler in one process) and the machinery they share:
 *
 *   informers   read the API server's own watch caches (no second copy of
 *               any object) and tell controllers what changed;
 *   work queues one per controller: object keys ("ns/name" or "name"),
 *               de-duplicated, with delayed and rate-limited re-adds;
 *   writes      go over HTTPS to this server's own API (127.0.0.1), as
 *               system:admin, so they pass the same validation, defaults and
 *               admission as kubectl's (ARCHITECTURE.md, "Control loops");
 *   leadership  a Lease per loop group (kube-system/k3c-controllers,
 *               kube-system/k3c-scheduler): only its holder runs the loops;
 *               other servers stand by and take over when it expires.
 *
 * A controller is a table row (struct ctl_def); the manager starts one
 * thread per controller while it leads and stops them when it stops
 * leading. sync() is called with one key at a time; it reads the current
 * state from informers and makes the world match. Returning -1 re-queues
 * the key with back-off (5 ms doubling to 60 s); returning 0 forgets it.
 *
 * Thread: ctl_* calls are safe from any controller thread unless noted. */
#ifndef K3C_CONTROLLERS_CONTROLLER_H
#define K3C_CONTROLLERS_CONTROLLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct api_server;
struct wc_entry;

/* ---- configuration -------------------------------------------------------- */

struct ctl_config {
    const char *api_url;   /* "https://127.0.0.1:6443" */
    const char *ca_file;   /* server CA, to trust api_url */
    const char *cert_file; /* admin client certificate (system:masters) */
    const char *key_file;
    const char *identity; /* the Lease holderIdentity: node name + "_" + random */
    int lease_duration_s; /* 0: 15 */
    int renew_deadline_s; /* 0: 10 */
    int retry_period_s;   /* 0: 2 */
    /* node lifecycle */
    int node_monitor_grace_period_s;      /* 0: 40 */
    int default_not_ready_toleration_s;   /* 0: 300 */
    int default_unreachable_toleration_s; /* 0: 300 */
    const char *cluster_cidr;             /* NULL: "10.42.0.0/16" */
    int node_cidr_mask_size;              /* 0: 24 */
    bool disable_scheduler;               /* --disable-scheduler */
    bool disable_controllers;             /* --disable-controller-manager */
    bool disable_servicelb;               /* --disable servicelb */
    const char *servicelb_vip;            /* --vip ADDR[/PREFIX], may be NULL (borrowed) */
    const char *servicelb_pool;           /* --servicelb-pool, may be NULL (borrowed) */
    bool disable_local_storage;           /* --disable local-storage */
    const char *local_storage_path; /* --default-local-storage-path (NULL: /var/lib/k3c/storage) */
};

struct ctl_manager;

/* Builds the manager over srv's watch caches (borrowed; srv must outlive the
 * manager). Starts nothing. */
struct ctl_manager *ctl_manager_new(const struct ctl_config *cfg, struct api_server *srv,
                                    struct k3c_err *err);
/* Starts the informers and the two leader electors; controllers start when
 * this server wins a lease. */
int ctl_manager_start(struct ctl_manager *m, struct k3c_err *err);
/* Stops everything (gives the leases up so a standby takes over at once).
 * NULL is a no-op. */
void ctl_manager_free(struct ctl_manager *m);
const struct ctl_config *ctl_manager_config(const struct ctl_manager *m);

/* ---- controllers ---------------------------------------------------------- */

enum ctl_group {
    CTL_GROUP_CONTROLLERS, /* under the k3c-controllers lease */
    CTL_GROUP_SCHEDULER,   /* under the k3c-scheduler lease */
};

struct ctl;

/* What the informers tell a controller. The objects are the cache's parsed
 * JSON, borrowed for the call; old is NULL for ADDED, obj is the last state
 * for DELETED. Handlers run on the informer's thread: they must be quick
 * and only enqueue keys (ctl_enqueue*). */
enum ctl_event { CTL_ADDED, CTL_MODIFIED, CTL_DELETED };
typedef void (*ctl_handler_fn)(struct ctl *c, enum ctl_event ev, const json_t *old,
                               const json_t *obj);

struct ctl_watch {
    const char *resource; /* plural as in the resource table: "pods", "replicasets" */
    ctl_handler_fn handler;
    /* The handler reads nothing of the objects but their metadata: when
     * every handler of a resource says so, the informer parses only that
     * ({"metadata": ...}; the objects' other fields are absent). */
    bool metadata_only;
};

struct ctl_def {
    const char *name; /* "deployment", "replicaset", "scheduler", ... (log component) */
    enum ctl_group group;
    /* What to watch; terminated by {NULL}. Each handler enqueues keys. */
    const struct ctl_watch *watches;
    /* Reconciles one key of this controller's queue. */
    int (*sync)(struct ctl *c, const char *key, struct k3c_err *err);
    /* Optional: called every period_ms while leading (node lifecycle's
     * monitor pass, Job deadlines); 0 = never. */
    int period_ms;
    void (*tick)(struct ctl *c);
    /* Optional: called once when the controller starts leading, after the
     * informers are synced, before sync() (enqueue everything here). */
    void (*start)(struct ctl *c);
    /* Optional: called on the worker thread when the controller stops
     * leading or the manager stops, after its last sync (free ctl_data). */
    void (*stop)(struct ctl *c);
};

/* The table the manager runs: a pointer to each file's ctl_def_<name>
 * (controllers.h), terminated by NULL (controllers.c). */
extern const struct ctl_def *const ctl_def_table[];

const char *ctl_name(const struct ctl *c);
struct ctl_manager *ctl_manager(struct ctl *c);
/* The controller's private state; set it in start() (freed by the owner in
 * the next start() or never: controllers should keep state in the API). */
void *ctl_data(struct ctl *c);
void ctl_set_data(struct ctl *c, void *data);

/* ---- work queue ----------------------------------------------------------- */

/* Adds key once (a key already waiting is not added twice; a key being
 * synced is re-run after the current sync). */
void ctl_enqueue(struct ctl *c, const char *key);
/* "ns/name" (or "name" for cluster-scoped objects) of obj. */
void ctl_enqueue_object(struct ctl *c, const json_t *obj);
/* Adds key after delay_ms (earlier adds win). */
void ctl_enqueue_after(struct ctl *c, const char *key, int64_t delay_ms);
/* Enqueues every object of resource the informer holds (start hooks,
 * periodic resyncs). */
void ctl_enqueue_all(struct ctl *c, const char *resource);
/* Splits "ns/name" into its parts (ns "" for cluster-scoped). */
void ctl_key_split(const char *key, char *ns, size_t ns_len, char *name, size_t name_len);

/* ---- informers (reads) ---------------------------------------------------- */

/* The object resource/ns/name as the watch cache holds it (a new tree the
 * caller json_decref()s), or NULL. ns NULL or "" for cluster-scoped. */
json_t *ctl_get(struct ctl *c, const char *resource, const char *ns, const char *name);
/* Calls fn for every object of resource (in ns, or all when ns is NULL)
 * whose labels match selector (a label selector JSON object
 * {matchLabels, matchExpressions}; NULL matches all). obj is borrowed for
 * the call. fn returns false to stop. Objects are parsed outside the
 * cache's lock; fn may call ctl_* functions. */
void ctl_list(struct ctl *c, const char *resource, const char *ns, const json_t *selector,
              bool (*fn)(void *ud, const json_t *obj), void *ud);
/* True if the label selector JSON object matches labels (an object or NULL).
 * An empty selector {} matches everything; a NULL selector matches nothing
 * (upstream's LabelSelectorAsSelector rules). */
bool ctl_selector_matches(const json_t *selector, const json_t *labels);

/* ---- writes (through this server's API) ----------------------------------- */

/* One API request: method, path ("/api/v1/namespaces/default/pods"), body
 * (may be NULL), content_type NULL for JSON or e.g.
 * "application/strategic-merge-patch+json" / "application/merge-patch+json".
 * Returns the HTTP status (2xx success) with *out the reply body (may be
 * NULL to ignore; a new reference), or -1 with err when the server could
 * not be reached. A non-2xx status also fills err with the Status message and
 * the kind that matches the code (404 NOT_FOUND, 409 CONFLICT/EXISTS, ...). */
long ctl_api(struct ctl *c, const char *method, const char *path, const char *content_type,
             const json_t *body, json_t **out, struct k3c_err *err);
/* Records a core/v1 Event about obj (type "Normal" or "Warning"), as
 * upstream's recorder does: repeats of the same reason+message on the same
 * object bump count and lastTimestamp. Best effort, never fails. */
void ctl_event(struct ctl *c, const json_t *obj, const char *type, const char *reason,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- small helpers used by many controllers ------------------------------- */

/* RFC 3339 "now" (seconds) into buf. */
void ctl_now_rfc3339(char *buf, size_t len);
/* An ownerReference (controller: true, blockOwnerDeletion: true) to owner. */
json_t *ctl_owner_ref(const json_t *owner);
/* The value of obj's annotation name, or NULL (borrowed). Annotation keys
 * have dots and slashes, so a dotted path (wl_str) cannot name them. */
const char *ctl_annotation(const json_t *obj, const char *name);
/* The ownerReference with controller=true in obj, or NULL (borrowed). */
const json_t *ctl_controller_ref(const json_t *obj);
/* True if obj's controller ownerReference has uid. */
bool ctl_is_controlled_by(const json_t *obj, const char *uid);
/* Pod helpers: Ready condition true; phase Succeeded/Failed; being deleted. */
bool ctl_pod_ready(const json_t *pod);
bool ctl_pod_finished(const json_t *pod);
bool ctl_being_deleted(const json_t *obj);
/* Node helpers: Ready condition status ("True", "False", "Unknown"; NULL if none). */
const char *ctl_node_ready_status(const json_t *node);

#endif
