/* SPDX-License-Identifier: Apache-2.0
 * controller.c - the manager: one informer per watched resource, one
 * work queue per running controller with a runner thread while it has work,
 * and a leader elector per group that starts and stops the group's
 * controllers.
 *
 * A controller's runner runs sync() for one key at a time and its tick()
 * between keys, so a controller never races itself. */
#define LOG_COMPONENT "controllers"
#include "controllers/ctl-internal.h"

#include "api/api-internal.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <stdlib.h>
#include <string.h>

#define CTL_SYNC_WAIT_MS      30000
#define CTL_HTTP_MAX_IDLE     2
#define CTL_LEASE_CONTROLLERS "k3c-controllers"
#define CTL_LEASE_SCHEDULER   "k3c-scheduler"

struct ctl_manager {
    struct ctl_config cfg;
    char *api_url, *ca_file, *cert_file, *key_file, *identity, *cluster_cidr;
    char *local_storage_path;
    struct api_server *srv;
    struct http_client *http;
    struct ctl_events *events;
    struct ctl_informer **informers;
    size_t n_informers;
    struct ctl *ctls;
    size_t n_ctls;
    struct ctl_elector *electors[2];
    pthread_mutex_t group_mu; /* serialises group start/stop */
};

/* ---- accessors -------------------------------------------------------------- */

const char *
ctl_name(const struct ctl *c)
{
    return c->def->name;
}

struct ctl_manager *
ctl_manager(struct ctl *c)
{
    return c->m;
}

void *
ctl_data(struct ctl *c)
{
    return c->data;
}

void
ctl_set_data(struct ctl *c, void *data)
{
    c->data = data;
}

bool
ctl_running(struct ctl *c)
{
    return atomic_load(&c->running);
}

const struct ctl_config *
ctl_manager_config(const struct ctl_manager *m)
{
    return &m->cfg;
}

struct http_client *
ctl_manager_http(struct ctl_manager *m)
{
    return m->http;
}

struct api_server *
ctl_manager_server(struct ctl_manager *m)
{
    return m->srv;
}

struct ctl_events *
ctl_manager_events(struct ctl_manager *m)
{
    return m->events;
}

/* ---- queue front ------------------------------------------------------------ */

void
ctl_enqueue(struct ctl *c, const char *key)
{
    pthread_mutex_lock(&c->q_mu);
    if (c->q)
        ctl_queue_add(c->q, key);
    pthread_mutex_unlock(&c->q_mu);
}

void
ctl_enqueue_after(struct ctl *c, const char *key, int64_t delay_ms)
{
    pthread_mutex_lock(&c->q_mu);
    if (c->q)
        ctl_queue_add_after(c->q, key, delay_ms);
    pthread_mutex_unlock(&c->q_mu);
}

void
ctl_enqueue_object(struct ctl *c, const json_t *obj)
{
    const char *ns =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    char *key;

    if (!name)
        return;
    key = ns && *ns ? k3c_xasprintf("%s/%s", ns, name) : k3c_xstrdup(name);
    ctl_enqueue(c, key);
    free(key);
}

void
ctl_key_split(const char *key, char *ns, size_t ns_len, char *name, size_t name_len)
{
    const char *slash = strchr(key, '/');

    if (!slash) {
        if (ns_len)
            ns[0] = '\0';
        snprintf(name, name_len, "%s", key);
        return;
    }
    snprintf(ns, ns_len, "%.*s", (int)(slash - key), key);
    snprintf(name, name_len, "%s", slash + 1);
}

/* ---- workers ------------------------------------------------------------------ */

static void
run_sync(struct ctl *c, struct ctl_queue *q, const char *key)
{
    struct k3c_err err = {0};

    if (c->def->sync(c, key, &err) < 0) {
        if (err.kind == K3C_E_CONFLICT)
            log_debug("(%s) %s: %s; retrying", c->def->name, key, err.msg);
        else
            log_warn("(%s) %s: %s; retrying", c->def->name, key, err.msg[0] ? err.msg : "failed");
        ctl_queue_add_rate_limited(q, key);
    } else {
        ctl_queue_forget(q, key);
    }
    ctl_queue_done(q, key);
}

/* ---- runners ------------------------------------------------------------------
 * A controller's work runs on its runner: a thread that exists while the
 * queue has keys (ready or delayed) and ends after CTL_RUNNER_LINGER_MS
 * without any; the queue's notify hook starts the next one. A controller
 * with a tick keeps its runner. At most one runner per controller at a
 * time, so a controller still never races itself. An idle server held a
 * thread per controller (23), each waiting on its empty queue. */
#define CTL_RUNNER_LINGER_MS 5000

static void *runner_thread(void *arg);

/* run_mu held. */
static void
runner_spawn_locked(struct ctl *c)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, runner_thread, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* The key waits for the next add or the next start. */
        log_error("(%s) cannot start its runner: %s", c->def->name, strerror(rc));
        return;
    }
    c->run_active = true;
}

/* The queue's notify hook (its lock held): a key came. */
static void
runner_kick(void *ud)
{
    struct ctl *c = ud;

    pthread_mutex_lock(&c->run_mu);
    if (c->run_active)
        c->run_wanted = true;
    else if (!c->run_closed)
        runner_spawn_locked(c);
    pthread_mutex_unlock(&c->run_mu);
}

/* The runner ends unless a key came since it last looked. */
static bool
runner_try_end(struct ctl *c, bool stopping)
{
    bool end = true;

    pthread_mutex_lock(&c->run_mu);
    if (c->run_wanted && !stopping && !c->run_closed) {
        c->run_wanted = false;
        end = false;
    } else {
        c->run_active = false;
        pthread_cond_broadcast(&c->run_cond); /* ctl_stop waits for it */
    }
    pthread_mutex_unlock(&c->run_mu);
    return end;
}

/* The first runner of a start: waits for the informers, runs start(). */
static void
runner_first(struct ctl *c, struct ctl_queue *q)
{
    if (!ctl_manager_wait_synced(c->m, CTL_SYNC_WAIT_MS))
        log_warn("(%s) informers not synced after %d s; starting anyway", c->def->name,
                 CTL_SYNC_WAIT_MS / 1000);
    if (c->def->start && !ctl_queue_shutting_down(q))
        c->def->start(c);
    c->run_next_tick = k3c_now_ms() + c->def->period_ms;
    c->run_started = true;
}

static void *
runner_thread(void *arg)
{
    struct ctl *c = arg;
    struct ctl_queue *q = c->q; /* freed only after the runner ended */
    bool ticks = c->def->tick && c->def->period_ms > 0;

    if (!c->run_started)
        runner_first(c, q);
    for (;;) {
        int64_t deadline = ticks ? c->run_next_tick : k3c_now_ms() + CTL_RUNNER_LINGER_MS;
        char *key;

        if (ctl_queue_shutting_down(q)) {
            if (runner_try_end(c, true))
                break;
            continue;
        }
        key = ctl_queue_get(q, deadline);
        if (key) {
            run_sync(c, q, key);
            free(key);
        }
        if (ticks && k3c_now_ms() >= c->run_next_tick && !ctl_queue_shutting_down(q)) {
            c->def->tick(c);
            c->run_next_tick = k3c_now_ms() + c->def->period_ms;
        }
        if (!key && !ticks && ctl_queue_len(q) == 0 && runner_try_end(c, false))
            break;
    }
    return NULL;
}

static bool
ctl_enabled(const struct ctl_manager *m, const struct ctl *c)
{
    if (c->def->group == CTL_GROUP_SCHEDULER)
        return !m->cfg.disable_scheduler;
    return !m->cfg.disable_controllers;
}

static void
ctl_start(struct ctl *c)
{
    int rc;

    if (c->has_worker)
        return;
    struct ctl_queue *q = ctl_queue_new();

    ctl_queue_set_notify(q, runner_kick, c);
    pthread_mutex_lock(&c->q_mu);
    c->q = q;
    pthread_mutex_unlock(&c->q_mu);
    atomic_store(&c->running, true);
    pthread_mutex_lock(&c->run_mu);
    c->run_closed = false;
    c->run_started = false;
    c->run_wanted = false;
    runner_spawn_locked(c);
    rc = c->run_active ? 0 : -1;
    pthread_mutex_unlock(&c->run_mu);
    if (rc != 0) {
        atomic_store(&c->running, false);
        pthread_mutex_lock(&c->q_mu);
        c->q = NULL;
        pthread_mutex_unlock(&c->q_mu);
        ctl_queue_free(q);
        return;
    }
    c->has_worker = true;
    log_info("(%s) started", c->def->name);
}

static void
ctl_stop(struct ctl *c)
{
    struct ctl_queue *q;

    atomic_store(&c->running, false);
    if (!c->has_worker)
        return;
    pthread_mutex_lock(&c->run_mu);
    c->run_closed = true; /* no new runner from here */
    pthread_mutex_unlock(&c->run_mu);
    ctl_queue_shutdown(c->q);
    pthread_mutex_lock(&c->run_mu);
    while (c->run_active)
        pthread_cond_wait(&c->run_cond, &c->run_mu);
    pthread_mutex_unlock(&c->run_mu);
    if (c->def->stop)
        c->def->stop(c);
    c->has_worker = false;
    pthread_mutex_lock(&c->q_mu);
    q = c->q;
    c->q = NULL;
    pthread_mutex_unlock(&c->q_mu);
    ctl_queue_free(q);
    log_info("(%s) stopped", c->def->name);
}

void
ctl_manager_group_start(struct ctl_manager *m, enum ctl_group g)
{
    pthread_mutex_lock(&m->group_mu);
    for (size_t i = 0; i < m->n_ctls; i++)
        if (m->ctls[i].def->group == g && ctl_enabled(m, &m->ctls[i]))
            ctl_start(&m->ctls[i]);
    pthread_mutex_unlock(&m->group_mu);
}

void
ctl_manager_group_stop(struct ctl_manager *m, enum ctl_group g)
{
    pthread_mutex_lock(&m->group_mu);
    /* Stop delivering first, for all of them, then join each. */
    for (size_t i = 0; i < m->n_ctls; i++)
        if (m->ctls[i].def->group == g)
            atomic_store(&m->ctls[i].running, false);
    for (size_t i = 0; i < m->n_ctls; i++)
        if (m->ctls[i].def->group == g)
            ctl_stop(&m->ctls[i]);
    pthread_mutex_unlock(&m->group_mu);
}

bool
ctl_manager_wait_synced(struct ctl_manager *m, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    for (size_t i = 0; i < m->n_informers; i++) {
        int64_t left = deadline - k3c_now_ms();

        if (!ctl_informer_wait_synced(m->informers[i], left > 0 ? (int)left : 0))
            return false;
    }
    return true;
}

/* ---- building ------------------------------------------------------------------ */

static struct ctl_informer *
informer_for(struct ctl_manager *m, const char *resource, struct k3c_err *err)
{
    struct ctl_informer *inf;

    for (size_t i = 0; i < m->n_informers; i++)
        if (strcmp(ctl_informer_resource(m->informers[i]), resource) == 0)
            return m->informers[i];
    inf = ctl_informer_new(m->srv, resource, err);
    if (!inf)
        return NULL;
    m->informers = k3c_xrealloc(m->informers, (m->n_informers + 1) * sizeof(*m->informers));
    m->informers[m->n_informers++] = inf;
    return inf;
}

static void
config_copy(struct ctl_manager *m, const struct ctl_config *cfg)
{
    m->cfg = *cfg;
    m->api_url = k3c_xstrdup(cfg->api_url ? cfg->api_url : "https://127.0.0.1:6443");
    m->ca_file = cfg->ca_file ? k3c_xstrdup(cfg->ca_file) : NULL;
    m->cert_file = cfg->cert_file ? k3c_xstrdup(cfg->cert_file) : NULL;
    m->key_file = cfg->key_file ? k3c_xstrdup(cfg->key_file) : NULL;
    m->cluster_cidr = k3c_xstrdup(cfg->cluster_cidr ? cfg->cluster_cidr : "10.42.0.0/16");
    if (cfg->identity) {
        m->identity = k3c_xstrdup(cfg->identity);
    } else {
        char id[37];

        k3c_uuid_new(id);
        m->identity = k3c_xstrdup(id);
    }
    m->cfg.api_url = m->api_url;
    m->cfg.ca_file = m->ca_file;
    m->cfg.cert_file = m->cert_file;
    m->cfg.key_file = m->key_file;
    m->cfg.identity = m->identity;
    m->cfg.cluster_cidr = m->cluster_cidr;
    m->local_storage_path = cfg->local_storage_path ? k3c_xstrdup(cfg->local_storage_path) : NULL;
    m->cfg.local_storage_path = m->local_storage_path;
#define DEFAULT(f, v)                                                                              \
    if (m->cfg.f <= 0)                                                                             \
    m->cfg.f = (v)
    DEFAULT(lease_duration_s, 15);
    DEFAULT(renew_deadline_s, 10);
    DEFAULT(retry_period_s, 2);
    DEFAULT(node_monitor_grace_period_s, 40);
    DEFAULT(default_not_ready_toleration_s, 300);
    DEFAULT(default_unreachable_toleration_s, 300);
    DEFAULT(node_cidr_mask_size, 24);
#undef DEFAULT
}

static int
build_ctls(struct ctl_manager *m, const struct ctl_def *const *defs, struct k3c_err *err)
{
    size_t n = 0;

    while (defs[n])
        n++;
    m->ctls = k3c_xcalloc(n ? n : 1, sizeof(*m->ctls));
    m->n_ctls = n;
    for (size_t i = 0; i < n; i++) {
        struct ctl *c = &m->ctls[i];

        c->def = defs[i];
        c->m = m;
        pthread_mutex_init(&c->q_mu, NULL);
        pthread_mutex_init(&c->run_mu, NULL);
        pthread_cond_init(&c->run_cond, NULL);
        for (const struct ctl_watch *w = defs[i]->watches; w && w->resource; w++) {
            struct ctl_informer *inf = informer_for(m, w->resource, err);

            if (!inf)
                return k3c_err_wrap(err, "controller %s", defs[i]->name);
            ctl_informer_subscribe(inf, c, w->handler, w->metadata_only);
        }
    }
    return 0;
}

struct ctl_manager *
ctl_manager_new_with(const struct ctl_config *cfg, struct api_server *srv,
                     const struct ctl_def *const *defs, struct k3c_err *err)
{
    struct ctl_manager *m = k3c_xcalloc(1, sizeof(*m));
    const char *endpoints[2];
    struct http_client_config hc = {0};

    config_copy(m, cfg);
    m->srv = srv;
    pthread_mutex_init(&m->group_mu, NULL);
    endpoints[0] = m->api_url;
    endpoints[1] = NULL;
    hc.endpoints = endpoints;
    hc.ca_file = m->ca_file;
    hc.cert_file = m->cert_file;
    hc.key_file = m->key_file;
    hc.request_timeout_ms = 30000;
    /* Each connection kept open is a thread of the API server: keep a few
     * (the pool kept one per concurrent write ever seen, ~8 idle). */
    hc.max_idle = CTL_HTTP_MAX_IDLE;
    m->http = http_client_new(&hc, err);
    if (m->http)
        m->events = ctl_events_new(m->http);
    if (!m->http || build_ctls(m, defs, err) < 0) {
        ctl_manager_free(m);
        return NULL;
    }
    return m;
}

struct ctl_manager *
ctl_manager_new(const struct ctl_config *cfg, struct api_server *srv, struct k3c_err *err)
{
    return ctl_manager_new_with(cfg, srv, ctl_def_table, err);
}

int
ctl_manager_start(struct ctl_manager *m, struct k3c_err *err)
{
    static const char *const leases[] = {CTL_LEASE_CONTROLLERS, CTL_LEASE_SCHEDULER};
    const bool disabled[] = {m->cfg.disable_controllers, m->cfg.disable_scheduler};

    for (size_t i = 0; i < m->n_informers; i++)
        if (ctl_informer_start(m->informers[i], err) < 0)
            return -1;
    for (int g = 0; g < 2; g++) {
        if (disabled[g])
            continue;
        m->electors[g] = ctl_elector_new(m, leases[g], (enum ctl_group)g, err);
        if (!m->electors[g])
            return -1;
    }
    log_info("%zu controllers, %zu informers; identity %s", m->n_ctls, m->n_informers, m->identity);
    return 0;
}

void
ctl_manager_free(struct ctl_manager *m)
{
    if (!m)
        return;
    for (int g = 0; g < 2; g++)
        ctl_elector_free(m->electors[g]);
    for (size_t i = 0; i < m->n_ctls; i++)
        ctl_stop(&m->ctls[i]);
    for (size_t i = 0; i < m->n_informers; i++)
        ctl_informer_free(m->informers[i]);
    for (size_t i = 0; i < m->n_ctls; i++) {
        pthread_mutex_destroy(&m->ctls[i].q_mu);
        pthread_mutex_destroy(&m->ctls[i].run_mu);
        pthread_cond_destroy(&m->ctls[i].run_cond);
    }
    free(m->informers);
    free(m->ctls);
    ctl_events_free(m->events);
    http_client_free(m->http);
    pthread_mutex_destroy(&m->group_mu);
    free(m->api_url);
    free(m->ca_file);
    free(m->cert_file);
    free(m->key_file);
    free(m->identity);
    free(m->cluster_cidr);
    free(m->local_storage_path);
    free(m);
}
