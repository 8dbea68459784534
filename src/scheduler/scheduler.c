/* SPDX-License-Identifier: Apache-2.0
 * scheduler.c - the scheduler as a controller: informers keep a summary
 * per node (allocatable, requests of the pods bound to it, host ports,
 * pods per owner) and queue pending pods; sync() filters and scores the
 * nodes for one pod, assumes the pod on the winner (so the next pod sees
 * its requests before the informer does) and binds it through
 * pods/binding. A pod that fits nowhere gets PodScheduled=False
 * (Unschedulable, upstream's message) and a FailedScheduling event, and is
 * retried when a node changes or a pod goes away. */
#define LOG_COMPONENT "scheduler"
#include "scheduler/scheduler.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* A pod the scheduler counts on a node: bound (seen by the informer) or
 * assumed (bound by us, not yet seen). */
struct pod_rec {
    char *key;
    char *node;
    struct sched_pod sp; /* sp.pod is NULL: only the demands are kept */
};

struct binder_pool;

struct sched_state {
    struct binder_pool *pool; /* owned; stopped before the state is freed */
    struct sched_node **nodes;
    size_t n_nodes;
    struct pod_rec *pods;
    size_t n_pods;
    char **unsched; /* keys of pods that fit nowhere last time */
    size_t n_unsched;
};

static atomic_llong st_syncs, st_bound, st_unsched, st_decide, st_bind, st_event, st_status;

static long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
sched_stats_get(struct sched_stats *out)
{
    out->syncs = atomic_load(&st_syncs);
    out->bound = atomic_load(&st_bound);
    out->unschedulable = atomic_load(&st_unsched);
    out->decide_ns = atomic_load(&st_decide);
    out->bind_ns = atomic_load(&st_bind);
    out->event_ns = atomic_load(&st_event);
    out->status_ns = atomic_load(&st_status);
}

/* Guards every scheduler's state and ctl_data pointer: handlers run on the
 * informer threads, sync on the worker. */
static pthread_mutex_t sched_mu = PTHREAD_MUTEX_INITIALIZER;

static char *
object_key(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));

    if (!name)
        return NULL;
    return ns && *ns ? k3c_xasprintf("%s/%s", ns, name) : k3c_xstrdup(name);
}

/* ---- state ------------------------------------------------------------------- */

static struct sched_node *
node_find(struct sched_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_nodes; i++)
        if (strcmp(st->nodes[i]->name, name) == 0)
            return st->nodes[i];
    return NULL;
}

static struct pod_rec *
rec_find(struct sched_state *st, const char *key)
{
    for (size_t i = 0; i < st->n_pods; i++)
        if (strcmp(st->pods[i].key, key) == 0)
            return &st->pods[i];
    return NULL;
}

static void
rec_remove(struct sched_state *st, struct pod_rec *r)
{
    struct sched_node *n = node_find(st, r->node);

    if (n)
        sched_node_remove_pod(n, &r->sp);
    free(r->key);
    free(r->node);
    sched_pod_fini(&r->sp);
    *r = st->pods[--st->n_pods];
}

static void
rec_add(struct sched_state *st, const char *key, const char *node, const json_t *pod)
{
    struct pod_rec *r;
    struct sched_node *n;

    st->pods = k3c_xrealloc(st->pods, (st->n_pods + 1) * sizeof(*st->pods));
    r = &st->pods[st->n_pods++];
    r->key = k3c_xstrdup(key);
    r->node = k3c_xstrdup(node);
    sched_pod_init(&r->sp, pod);
    r->sp.pod = NULL;
    n = node_find(st, node);
    if (n)
        sched_node_add_pod(n, &r->sp);
}

static bool
unsched_remove(struct sched_state *st, const char *key)
{
    for (size_t i = 0; i < st->n_unsched; i++)
        if (strcmp(st->unsched[i], key) == 0) {
            free(st->unsched[i]);
            st->unsched[i] = st->unsched[--st->n_unsched];
            return true;
        }
    return false;
}

static void
unsched_add(struct sched_state *st, const char *key)
{
    for (size_t i = 0; i < st->n_unsched; i++)
        if (strcmp(st->unsched[i], key) == 0)
            return;
    st->unsched = k3c_xrealloc(st->unsched, (st->n_unsched + 1) * sizeof(*st->unsched));
    st->unsched[st->n_unsched++] = k3c_xstrdup(key);
}

/* Something freed room or a node changed: try the unschedulable again. */
static void
requeue_unsched(struct ctl *c, struct sched_state *st)
{
    for (size_t i = 0; i < st->n_unsched; i++)
        ctl_enqueue(c, st->unsched[i]);
}

static void
state_free(struct sched_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_nodes; i++) {
        sched_node_fini(st->nodes[i]);
        free(st->nodes[i]);
    }
    for (size_t i = 0; i < st->n_pods; i++) {
        free(st->pods[i].key);
        free(st->pods[i].node);
        sched_pod_fini(&st->pods[i].sp);
    }
    for (size_t i = 0; i < st->n_unsched; i++)
        free(st->unsched[i]);
    free(st->nodes);
    free(st->pods);
    free(st->unsched);
    free(st);
}

/* ---- informer handlers (sched_mu held) ------------------------------------------ */

static void
apply_node(struct sched_state *st, const json_t *node)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
    struct sched_node *n;

    if (!name)
        return;
    n = node_find(st, name);
    if (n) {
        sched_node_init(n, node);
        return;
    }
    n = k3c_xcalloc(1, sizeof(*n));
    sched_node_init(n, node);
    st->nodes = k3c_xrealloc(st->nodes, (st->n_nodes + 1) * sizeof(*st->nodes));
    st->nodes[st->n_nodes++] = n;
    for (size_t i = 0; i < st->n_pods; i++)
        if (strcmp(st->pods[i].node, name) == 0)
            sched_node_add_pod(n, &st->pods[i].sp);
}

static void
remove_node(struct sched_state *st, const json_t *node)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));

    for (size_t i = 0; name && i < st->n_nodes; i++)
        if (strcmp(st->nodes[i]->name, name) == 0) {
            sched_node_fini(st->nodes[i]);
            free(st->nodes[i]);
            st->nodes[i] = st->nodes[--st->n_nodes];
            return;
        }
}

/* True when a change to a node can make a pod fit that did not. */
static bool
node_changed(const json_t *old, const json_t *obj)
{
    const json_t *os = json_object_get(old, "status"), *ns = json_object_get(obj, "status");
    const char *ro = ctl_node_ready_status(old), *rn = ctl_node_ready_status(obj);

    if (!old)
        return true;
    if (!json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")) ||
        !json_equal(json_object_get(json_object_get(old, "metadata"), "labels"),
                    json_object_get(json_object_get(obj, "metadata"), "labels")) ||
        !json_equal(json_object_get(os, "allocatable"), json_object_get(ns, "allocatable")))
        return true;
    return (ro == NULL) != (rn == NULL) || (ro && rn && strcmp(ro, rn) != 0);
}

static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    struct sched_state *st;

    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    if (st) {
        if (ev == CTL_DELETED) {
            remove_node(st, obj);
        } else {
            apply_node(st, obj);
            if (node_changed(old, obj))
                requeue_unsched(c, st);
        }
    }
    pthread_mutex_unlock(&sched_mu);
}

/* Records where pod runs (or that it is gone); true if room was freed. */
static bool
apply_pod(struct sched_state *st, const char *key, const json_t *pod, bool deleted)
{
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    struct pod_rec *r = rec_find(st, key);
    bool counts = !deleted && node && *node && !ctl_pod_finished(pod);

    if (r && counts && strcmp(r->node, node) == 0)
        return false;
    if (r)
        rec_remove(st, r);
    if (counts)
        rec_add(st, key, node, pod);
    return r && !counts;
}

static void
on_pod(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    _cleanup_free_ char *key = object_key(obj);
    struct sched_state *st;

    (void)old;
    if (!key)
        return;
    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    if (st) {
        bool freed = apply_pod(st, key, obj, ev == CTL_DELETED);

        if (ev == CTL_DELETED || !sched_pod_is_ours(obj))
            unsched_remove(st, key);
        else
            ctl_enqueue(c, key);
        if (freed)
            requeue_unsched(c, st);
    }
    pthread_mutex_unlock(&sched_mu);
}

/* ---- start / stop ------------------------------------------------------------------ */

struct load_ctx {
    struct ctl *c;
    struct sched_state *st;
};

static bool
load_node(void *ud, const json_t *node)
{
    struct load_ctx *l = ud;

    apply_node(l->st, node);
    return true;
}

static bool
load_pod(void *ud, const json_t *pod)
{
    struct load_ctx *l = ud;
    _cleanup_free_ char *key = object_key(pod);

    if (!key)
        return true;
    apply_pod(l->st, key, pod, false);
    if (sched_pod_is_ours(pod))
        ctl_enqueue(l->c, key);
    return true;
}

static struct binder_pool *binder_pool_new(struct ctl *c);
static void binder_pool_free(struct binder_pool *p);

static void
sched_start(struct ctl *c)
{
    struct load_ctx l = {.c = c};
    struct binder_pool *old = NULL;

    pthread_mutex_lock(&sched_mu);
    if (ctl_data(c))
        old = TAKE_PTR(((struct sched_state *)ctl_data(c))->pool);
    pthread_mutex_unlock(&sched_mu);
    binder_pool_free(old);
    pthread_mutex_lock(&sched_mu);
    state_free(ctl_data(c));
    l.st = k3c_xcalloc(1, sizeof(*l.st));
    l.st->pool = binder_pool_new(c);
    ctl_set_data(c, l.st);
    /* Under the lock, so that events racing the lists apply after them
     * (every update is keyed and idempotent). */
    ctl_list(c, "nodes", NULL, NULL, load_node, &l);
    ctl_list(c, "pods", NULL, NULL, load_pod, &l);
    log_info("%zu nodes, %zu pods bound", l.st->n_nodes, l.st->n_pods);
    pthread_mutex_unlock(&sched_mu);
}

static void
sched_stop(struct ctl *c)
{
    struct binder_pool *pool = NULL;

    pthread_mutex_lock(&sched_mu);
    if (ctl_data(c))
        pool = TAKE_PTR(((struct sched_state *)ctl_data(c))->pool);
    pthread_mutex_unlock(&sched_mu);
    binder_pool_free(pool); /* binders may still take sched_mu */
    pthread_mutex_lock(&sched_mu);
    state_free(ctl_data(c));
    ctl_set_data(c, NULL);
    pthread_mutex_unlock(&sched_mu);
}

/* ---- sync ------------------------------------------------------------------------- */

/* The PodScheduled condition's message when it is False, or NULL. */
static const char *
unschedulable_message(const json_t *pod)
{
    const json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions");
    const json_t *c;
    size_t i;

    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));

        if (t && strcmp(t, "PodScheduled") == 0 && s && strcmp(s, "False") == 0)
            return json_string_value(json_object_get(c, "message"));
    }
    return NULL;
}

static int
report_unschedulable(struct ctl *c, const json_t *pod, const char *ns, const char *name,
                     const char *msg, struct k3c_err *err)
{
    const char *have = unschedulable_message(pod);
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *patch = NULL;
    char now[32];
    long st;

    if (have && strcmp(have, msg) == 0)
        return 0;
    ctl_now_rfc3339(now, sizeof(now));
    path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name);
    patch = json_pack("{s:{s:[{s:s, s:s, s:s, s:s, s:n, s:s}]}}", "status", "conditions", "type",
                      "PodScheduled", "status", "False", "reason", "Unschedulable", "message", msg,
                      "lastProbeTime", "lastTransitionTime", now);
    st = ctl_api(c, "PATCH", path, "application/strategic-merge-patch+json", patch, NULL, err);
    if (st == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (st < 200 || st >= 300)
        return -1;
    atomic_fetch_add(&st_unsched, 1);
    ctl_event(c, pod, "Warning", "FailedScheduling", "%s", msg);
    log_info("%s/%s: %s", ns, name, msg);
    return 0;
}

static long
bind(struct ctl *c, const char *ns, const char *name, const char *node, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    _cleanup_json_ json_t *body =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
                  "Binding", "metadata", "name", name, "namespace", ns, "target", "apiVersion",
                  "v1", "kind", "Node", "name", node);

    return ctl_api(c, "POST", path, NULL, body, NULL, err);
}

/* ---- binders ---------------------------------------------------------------------
 * Binding is an API write (an etcd round trip or two); like upstream's
 * asynchronous binding cycle, a pool of threads does it while the worker
 * goes on deciding for the next pods (they already see this one assumed). */

#define SCHED_BINDERS 16
/* A binder idle this long exits; the pool starts binders as jobs come, so an
 * idle scheduler holds no binder threads (it held 16). */
#define SCHED_BINDER_IDLE_MS 10000

struct bind_job {
    struct bind_job *next;
    char *key, *node;
    json_t *pod;
};

struct binder_pool {
    struct ctl *c;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC: a job, stop, or a binder exited */
    struct bind_job *head, *tail;
    bool stop;
    int n_jobs;         /* queued */
    int n_live, n_idle; /* binder threads (detached), and those waiting */
};

static void forget_assumed(struct ctl *c, const char *key, const char *ns, const char *name);

static void
bind_job_free(struct bind_job *j)
{
    free(j->key);
    free(j->node);
    json_decref(j->pod);
    free(j);
}

static void
bind_run(struct ctl *c, struct bind_job *j)
{
    char ns[256], name[256];
    struct k3c_err err = {0};
    long long t0 = now_ns(), t1;
    long st;

    ctl_key_split(j->key, ns, sizeof(ns), name, sizeof(name));
    st = bind(c, ns, name, j->node, &err);
    t1 = now_ns();
    atomic_fetch_add(&st_bind, t1 - t0);
    if (st >= 200 && st < 300) {
        atomic_fetch_add(&st_bound, 1);
        ctl_event(c, j->pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s", ns, name,
                  j->node);
        atomic_fetch_add(&st_event, now_ns() - t1);
        return;
    }
    forget_assumed(c, j->key, ns, name);
    if (st == 404 || st == 409)
        return; /* gone, or bound meanwhile: the informer brings the truth */
    log_warn("binding %s to %s: %s; retrying", j->key, j->node, err.msg);
    ctl_enqueue_after(c, j->key, 1000);
}

static void *
binder_thread(void *arg)
{
    struct binder_pool *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct bind_job *j;
        int64_t idle_until = k3c_now_ms() + SCHED_BINDER_IDLE_MS;
        bool timed_out = false;

        p->n_idle++;
        while (!p->stop && !p->head && !timed_out)
            timed_out = !k3c_cond_wait_until(&p->cond, &p->mu, idle_until);
        p->n_idle--;
        if (p->stop || !p->head)
            break;
        j = p->head;
        p->n_jobs--;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        bind_run(p->c, j);
        bind_job_free(j);
        pthread_mutex_lock(&p->mu);
    }
    p->n_live--;
    pthread_cond_broadcast(&p->cond); /* binder_pool_free waits for n_live 0 */
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static struct binder_pool *
binder_pool_new(struct ctl *c)
{
    struct binder_pool *p = k3c_xcalloc(1, sizeof(*p));

    p->c = c;
    pthread_mutex_init(&p->mu, NULL);
    k3c_cond_init(&p->cond);
    return p;
}

/* Starts a binder when none waits and the pool is not full. mu held.
 * Returns false when no binder exists to take a job. */
static bool
binder_ensure_locked(struct binder_pool *p)
{
    pthread_attr_t attr;
    pthread_t t;

    if (p->n_idle > p->n_jobs || p->n_live >= SCHED_BINDERS)
        return true;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, binder_thread, p) == 0)
        p->n_live++;
    pthread_attr_destroy(&attr);
    return p->n_live > 0;
}

/* Runs j on a binder (inline when there is none). */
static void
binder_submit(struct binder_pool *p, struct bind_job *j)
{
    if (p) {
        pthread_mutex_lock(&p->mu);
        if (!binder_ensure_locked(p)) {
            pthread_mutex_unlock(&p->mu);
            bind_run(p->c, j);
            bind_job_free(j);
            return;
        }
    } else {
        bind_run(NULL, j);
        bind_job_free(j);
        return;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->n_jobs++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

/* Stops the binders after their current job; queued jobs are dropped
 * (the pods stay pending and the next leader picks them up). */
static void
binder_pool_free(struct binder_pool *p)
{
    struct bind_job *j, *next;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    while (p->n_live > 0)
        pthread_cond_wait(&p->cond, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (j = p->head; j; j = next) {
        next = j->next;
        bind_job_free(j);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Decides under the lock; *node gets the winner (assumed there), or *msg
 * why none. Returns false when there is nothing to do. */
static bool
decide(struct ctl *c, const char *key, const json_t *pod, const json_t *volume_selectors,
       const json_t *nominated, char **node, char *msg, size_t len, struct binder_pool **pool)
{
    struct sched_reservation *held = NULL;
    size_t n_held;
    struct sched_state *st;
    struct sched_pod sp;
    bool todo = false;
    int best;

    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    if (st && !rec_find(st, key)) {
        todo = true;
        *pool = st->pool;
        sched_pod_init(&sp, pod);
        sp.volume_selectors = json_array_size(volume_selectors) ? volume_selectors : NULL;
        n_held = sched_reserve(st->nodes, st->n_nodes, nominated, &held); /* sched_preempt.c */
        best = sched_pick(st->nodes, st->n_nodes, &sp, msg, len);
        sched_unreserve(held, n_held);
        if (best >= 0) {
            *node = k3c_xstrdup(st->nodes[best]->name);
            rec_add(st, key, *node, pod);
            unsched_remove(st, key);
        } else {
            unsched_add(st, key);
        }
        sched_pod_fini(&sp);
    }
    pthread_mutex_unlock(&sched_mu);
    return todo;
}

/* The bind failed: drop the assumption and count the pod as the cache
 * has it now (the informer may have delivered its binding already). */
static void
forget_assumed(struct ctl *c, const char *key, const char *ns, const char *name)
{
    json_t *now = ctl_get(c, "pods", ns, name);
    struct sched_state *st;
    struct pod_rec *r;

    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    r = st ? rec_find(st, key) : NULL;
    if (r)
        rec_remove(st, r);
    if (st && now)
        apply_pod(st, key, now, false);
    pthread_mutex_unlock(&sched_mu);
    json_decref(now);
}

static int
sched_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256], msg[2048];
    _cleanup_json_ json_t *pod = NULL;
    _cleanup_free_ char *node = NULL;
    _cleanup_json_ json_t *vol_sel = NULL, *vol_delayed = NULL, *nominated = NULL;
    struct binder_pool *pool = NULL;
    struct bind_job *j;
    long long t0 = now_ns(), t1;
    int rc;

    atomic_fetch_add(&st_syncs, 1);
    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    pod = ctl_get(c, "pods", ns, name);
    if (!pod || !sched_pod_is_ours(pod))
        return 0;
    /* volume binding (sched_volume.c): claims that keep the pod waiting */
    if (sched_pod_volumes(c, pod, &vol_sel, &vol_delayed, msg, sizeof(msg)) > 0) {
        pthread_mutex_lock(&sched_mu);
        if (ctl_data(c))
            unsched_add(ctl_data(c), key);
        pthread_mutex_unlock(&sched_mu);
        return report_unschedulable(c, pod, ns, name, msg, err);
    }
    nominated = sched_nominated_pods(c, pod);
    if (!decide(c, key, pod, vol_sel, nominated, &node, msg, sizeof(msg), &pool))
        return 0;
    t1 = now_ns();
    atomic_fetch_add(&st_decide, t1 - t0);
    if (!node) {
        if (sched_preempt(c, pod, msg, sizeof(msg), err) < 0) { /* sched_preempt.c */
            log_warn("%s/%s: preemption: %s", ns, name, err->msg);
            k3c_err_clear(err);
        }
        rc = report_unschedulable(c, pod, ns, name, msg, err);
        atomic_fetch_add(&st_status, now_ns() - t1);
        return rc;
    }
    if (json_array_size(vol_delayed) > 0 &&
        sched_volumes_select_node(c, ns, vol_delayed, node, err) < 0) {
        forget_assumed(c, key, ns, name);
        return -1;
    }
    j = k3c_xcalloc(1, sizeof(*j));
    j->key = k3c_xstrdup(key);
    j->node = TAKE_PTR(node);
    j->pod = TAKE_PTR(pod);
    binder_submit(pool, j);
    return 0;
}

/* A claim changed (created, bound): pods waiting on one may fit now. */
static void
on_claim(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    struct sched_state *st;

    (void)ev, (void)old, (void)obj;
    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    if (st)
        requeue_unsched(c, st);
    pthread_mutex_unlock(&sched_mu);
}

static const struct ctl_watch sched_watches[] = {
    {"nodes", on_node},
    {"pods", on_pod},
    {"persistentvolumeclaims", on_claim},
    {NULL, NULL},
};

/* A safety net, as upstream's periodic flush of unschedulable pods: try
 * them all again now and then even if no event said anything changed. */
#define SCHED_RETRY_UNSCHEDULABLE_MS 60000

static void
sched_tick(struct ctl *c)
{
    struct sched_state *st;

    pthread_mutex_lock(&sched_mu);
    st = ctl_data(c);
    if (st)
        requeue_unsched(c, st);
    pthread_mutex_unlock(&sched_mu);
}

const struct ctl_def ctl_def_scheduler = {
    .name = "scheduler",
    .group = CTL_GROUP_SCHEDULER,
    .watches = sched_watches,
    .sync = sched_sync,
    .period_ms = SCHED_RETRY_UNSCHEDULABLE_MS,
    .tick = sched_tick,
    .start = sched_start,
    .stop = sched_stop,
};
