/* SPDX-License-Identifier: Apache-2.0
 * ctl-internal.h - how the pieces of the control-loop framework meet:
 * work queues (ctl_queue.c), informers (ctl_informer.c), leader election
 * (ctl_leader.c), API writes (ctl_api.c) and the manager (controller.c). */
#ifndef K3C_CONTROLLERS_CTL_INTERNAL_H
#define K3C_CONTROLLERS_CTL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "controllers/controller.h"

struct api_resource;
struct http_client;

/* ---- work queue (ctl_queue.c) -------------------------------------------- */

/* Back-off of a failing key: 5 ms doubling up to 60 s (upstream's
 * ItemExponentialFailureRateLimiter defaults). */
#define CTL_BACKOFF_BASE_MS 5
#define CTL_BACKOFF_MAX_MS  60000

struct ctl_queue;

struct ctl_queue *ctl_queue_new(void);
/* Frees the queue; nobody may use it any more. NULL is a no-op. */
void ctl_queue_free(struct ctl_queue *q);
/* Adds key now (no-op if it waits already; re-run after the current sync
 * if it is being processed). */
void ctl_queue_add(struct ctl_queue *q, const char *key);
/* Adds key after delay_ms; an earlier pending delayed add wins. */
void ctl_queue_add_after(struct ctl_queue *q, const char *key, int64_t delay_ms);
/* Adds key after its back-off (which doubles with each call until forget). */
void ctl_queue_add_rate_limited(struct ctl_queue *q, const char *key);
/* Resets key's back-off. */
void ctl_queue_forget(struct ctl_queue *q, const char *key);
/* Waits until a key is ready (returns it, a new string, marked processing),
 * until deadline_ms on k3c_now_ms()'s clock (NULL), or shutdown (NULL). */
char *ctl_queue_get(struct ctl_queue *q, int64_t deadline_ms);
/* Ends the processing of key (got from ctl_queue_get); re-queues it when it
 * was added meanwhile. */
void ctl_queue_done(struct ctl_queue *q, const char *key);
/* Makes every ctl_queue_get return NULL from now on. */
void ctl_queue_shutdown(struct ctl_queue *q);
bool ctl_queue_shutting_down(struct ctl_queue *q);
/* Keys ready now plus delayed ones (for tests). */
size_t ctl_queue_len(struct ctl_queue *q);
/* fn(ud) runs whenever a key is added (now or delayed), with the queue's
 * lock held: it may only note the fact (take its own lock, start a
 * thread), never call back into the queue. Set before any add. */
void ctl_queue_set_notify(struct ctl_queue *q, void (*fn)(void *ud), void *ud);

/* ---- informers (ctl_informer.c) ------------------------------------------- */

struct ctl_informer;

/* One dispatcher for resource (plural) over srv's watch cache. */
struct ctl_informer *ctl_informer_new(struct api_server *srv, const char *resource,
                                      struct k3c_err *err);
/* Registers handler for c (before start). Events reach it only while c runs. */
void ctl_informer_subscribe(struct ctl_informer *inf, struct ctl *c, ctl_handler_fn fn,
                            bool metadata_only);
int ctl_informer_start(struct ctl_informer *inf, struct k3c_err *err);
/* Waits until the first snapshot is in (true), or timeout/stop (false). */
bool ctl_informer_wait_synced(struct ctl_informer *inf, int timeout_ms);
const char *ctl_informer_resource(const struct ctl_informer *inf);
void ctl_informer_free(struct ctl_informer *inf);

/* The resource-table row for plural, or NULL. */
const struct api_resource *ctl_resource_find(const char *plural);

/* ---- the manager's pieces (controller.c) ---------------------------------- */

struct ctl {
    const struct ctl_def *def;
    struct ctl_manager *m;
    struct ctl_queue *q;  /* while running; NULL otherwise */
    pthread_mutex_t q_mu; /* guards q against start/stop */
    atomic_bool running;  /* informer events are delivered */
    bool has_worker;      /* started (ctl_start) and not stopped */
    /* The runner: a thread that exists only while the queue has work (and
     * always for a controller with a tick); see controller.c. */
    pthread_mutex_t run_mu; /* guards the run_* fields; after the queue's lock */
    pthread_cond_t run_cond;
    bool run_active, run_wanted, run_closed, run_started;
    int64_t run_next_tick;
    void *data;
};

/* ctl_manager_new with another table than ctl_def_table (tests, benchmarks). */
struct ctl_manager *ctl_manager_new_with(const struct ctl_config *cfg, struct api_server *srv,
                                         const struct ctl_def *const *defs, struct k3c_err *err);
/* True while c runs (leading and not stopping). */
bool ctl_running(struct ctl *c);
/* The manager's API client and the server. */
struct http_client *ctl_manager_http(struct ctl_manager *m);
struct api_server *ctl_manager_server(struct ctl_manager *m);
/* Starts or stops every controller of group (leader election calls these). */
void ctl_manager_group_start(struct ctl_manager *m, enum ctl_group g);
void ctl_manager_group_stop(struct ctl_manager *m, enum ctl_group g);
/* Blocks until every informer has its first snapshot; false on timeout. */
bool ctl_manager_wait_synced(struct ctl_manager *m, int timeout_ms);

/* ---- leader election (ctl_leader.c) --------------------------------------- */

struct ctl_elector;

/* An elector for kube-system/<lease>: while it holds the lease it keeps
 * group running in m. Starts a thread. */
struct ctl_elector *ctl_elector_new(struct ctl_manager *m, const char *lease, enum ctl_group g,
                                    struct k3c_err *err);
/* Stops the group, releases the lease if held, joins. NULL is a no-op. */
void ctl_elector_free(struct ctl_elector *e);
bool ctl_elector_leading(const struct ctl_elector *e);

/* ---- API (ctl_api.c) ------------------------------------------------------- */

/* The Event sender of a manager (ctl_api.c): a thread writing queued
 * events through http (borrowed; must outlive it). Free flushes what is
 * queued for up to 2 s. */
struct ctl_events;
struct ctl_events *ctl_events_new(struct http_client *http);
void ctl_events_free(struct ctl_events *ev);
struct ctl_events *ctl_manager_events(struct ctl_manager *m);

#endif
