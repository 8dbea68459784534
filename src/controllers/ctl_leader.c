/* SPDX-License-Identifier: Apache-2.0
 * ctl_leader.c - leader election over coordination.k8s.io/v1 Leases, as
 * client-go's leaderelection: the holder renews spec.renewTime every
 * retry period with a compare-and-swap on resourceVersion; a candidate
 * takes the lease over once the record has not changed for
 * leaseDurationSeconds of its own (monotonic) observation, so clocks of
 * different machines never meet. A holder that cannot renew within the
 * renew deadline stops its loops at once. On shutdown the holder clears
 * holderIdentity so a standby takes over at its next retry. */
#define LOG_COMPONENT "leader"
#include "controllers/ctl-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LEASE_NAMESPACE "kube-system"

struct ctl_elector {
    struct ctl_manager *m;
    /* its own client: requests time out within the renew deadline */
    struct http_client *http;
    char *lease;
    enum ctl_group group;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    bool last_step_ok; /* the last acquire/renew succeeded (elector thread only) */
    atomic_bool leading;
    /* the last record seen, and when it changed (k3c_now_ms) */
    char *observed;
    int64_t observed_ms;
    int64_t renewed_ms; /* last successful acquire or renew */
};

/* MicroTime: "2026-11-26T15:32:08.123456Z". */
static void
micro_time_now(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    char day[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.20s.%06uZ", day, (unsigned)(tv.tv_usec % 1000000));
}

static char *
lease_path(const struct ctl_elector *e, bool item)
{
    return k3c_xasprintf("/apis/coordination.k8s.io/v1/namespaces/" LEASE_NAMESPACE "/leases%s%s",
                         item ? "/" : "", item ? e->lease : "");
}

static const char *
spec_str(const json_t *lease, const char *field)
{
    return json_string_value(json_object_get(json_object_get(lease, "spec"), field));
}

/* Remembers when the record last changed. */
static void
observe(struct ctl_elector *e, const json_t *lease)
{
    const char *holder = spec_str(lease, "holderIdentity");
    const char *renew = spec_str(lease, "renewTime");
    _cleanup_free_ char *rec = k3c_xasprintf("%s|%s", holder ? holder : "", renew ? renew : "");

    if (!e->observed || strcmp(e->observed, rec) != 0) {
        free(e->observed);
        e->observed = TAKE_PTR(rec);
        e->observed_ms = k3c_now_ms();
    }
}

static int
create_lease(struct ctl_elector *e, const char *now, struct k3c_err *err)
{
    const struct ctl_config *cfg = ctl_manager_config(e->m);
    _cleanup_free_ char *path = lease_path(e, false);
    _cleanup_json_ json_t *body = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
        "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", e->lease, "namespace",
        LEASE_NAMESPACE, "spec", "holderIdentity", cfg->identity, "leaseDurationSeconds",
        cfg->lease_duration_s, "acquireTime", now, "renewTime", now, "leaseTransitions", 0);
    long st = http_client_json(e->http, "POST", path, NULL, body, NULL, err);

    return st >= 200 && st < 300 ? 0 : -1;
}

/* PUTs lease with spec changed to hold it (or release it); CAS on its
 * resourceVersion. */
static int
update_lease(struct ctl_elector *e, json_t *lease, bool release, const char *now,
             struct k3c_err *err)
{
    const struct ctl_config *cfg = ctl_manager_config(e->m);
    _cleanup_free_ char *path = lease_path(e, true);
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = spec_str(lease, "holderIdentity");
    bool mine = holder && strcmp(holder, cfg->identity) == 0;
    long st;

    if (!spec) {
        spec = json_object();
        json_object_set_new(lease, "spec", spec);
    }
    if (release) {
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    } else {
        if (!mine) {
            json_int_t tr = json_integer_value(json_object_get(spec, "leaseTransitions"));

            json_object_set_new(spec, "acquireTime", json_string(now));
            json_object_set_new(spec, "leaseTransitions",
                                json_integer(holder && *holder ? tr + 1 : tr));
        }
        json_object_set_new(spec, "holderIdentity", json_string(cfg->identity));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(cfg->lease_duration_s));
    }
    json_object_set_new(spec, "renewTime", json_string(now));
    st = http_client_json(e->http, "PUT", path, NULL, lease, NULL, err);
    return st >= 200 && st < 300 ? 0 : -1;
}

/* One attempt to acquire or renew: 0 when this server holds the lease. */
static int
try_acquire(struct ctl_elector *e, struct k3c_err *err)
{
    const struct ctl_config *cfg = ctl_manager_config(e->m);
    _cleanup_free_ char *path = lease_path(e, true);
    _cleanup_json_ json_t *lease = NULL;
    char now[40];
    const char *holder;
    long st;

    micro_time_now(now, sizeof(now));
    st = http_client_json(e->http, "GET", path, NULL, NULL, &lease, err);
    if (st == 404) {
        k3c_err_clear(err);
        return create_lease(e, now, err);
    }
    if (st != 200)
        return -1;
    observe(e, lease);
    holder = spec_str(lease, "holderIdentity");
    if (holder && *holder && strcmp(holder, cfg->identity) != 0) {
        json_int_t dur = json_integer_value(
            json_object_get(json_object_get(lease, "spec"), "leaseDurationSeconds"));

        if (dur <= 0)
            dur = cfg->lease_duration_s;
        if (k3c_now_ms() < e->observed_ms + dur * 1000)
            return k3c_err_set(err, K3C_E_CONFLICT, "held by %s", holder);
    }
    return update_lease(e, lease, false, now, err);
}

static void
release(struct ctl_elector *e)
{
    _cleanup_free_ char *path = lease_path(e, true);
    _cleanup_json_ json_t *lease = NULL;
    struct k3c_err err = {0};
    const char *holder;
    char now[40];

    /* Only a lease this holder could still renew: after a failed renewal
     * (no quorum, its API gone) a release would only wait for timeouts. */
    if (!e->last_step_ok)
        return;
    micro_time_now(now, sizeof(now));
    if (http_client_json(e->http, "GET", path, NULL, NULL, &lease, &err) != 200)
        return;
    holder = spec_str(lease, "holderIdentity");
    if (!holder || strcmp(holder, ctl_manager_config(e->m)->identity) != 0)
        return;
    if (update_lease(e, lease, true, now, &err) < 0)
        log_warn("(%s) release: %s", e->lease, err.msg);
    else
        log_info("(%s) released", e->lease);
}

static void
step(struct ctl_elector *e)
{
    const struct ctl_config *cfg = ctl_manager_config(e->m);
    struct k3c_err err = {0};
    bool ok = try_acquire(e, &err) == 0;

    e->last_step_ok = ok;

    if (ok) {
        e->renewed_ms = k3c_now_ms();
        if (!atomic_load(&e->leading)) {
            log_info("(%s) acquired by %s", e->lease, cfg->identity);
            atomic_store(&e->leading, true);
            ctl_manager_group_start(e->m, e->group);
        }
        return;
    }
    if (atomic_load(&e->leading)) {
        if (err.kind == K3C_E_CONFLICT ||
            k3c_now_ms() - e->renewed_ms > cfg->renew_deadline_s * 1000) {
            log_warn("(%s) lost: %s; stopping its loops", e->lease, err.msg);
            atomic_store(&e->leading, false);
            ctl_manager_group_stop(e->m, e->group);
        } else {
            log_info("(%s) renew failed: %s", e->lease, err.msg);
        }
    } else if (err.kind != K3C_E_CONFLICT) {
        log_debug("(%s) %s", e->lease, err.msg);
    }
}

static void *
elector_thread(void *arg)
{
    struct ctl_elector *e = arg;
    const struct ctl_config *cfg = ctl_manager_config(e->m);

    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        int64_t next;

        pthread_mutex_unlock(&e->mu);
        step(e);
        next = k3c_now_ms() + (int64_t)cfg->retry_period_s * 1000;
        pthread_mutex_lock(&e->mu);
        while (!e->stop && k3c_cond_wait_until(&e->cond, &e->mu, next))
            ;
    }
    pthread_mutex_unlock(&e->mu);
    if (atomic_load(&e->leading)) {
        atomic_store(&e->leading, false);
        ctl_manager_group_stop(e->m, e->group);
        release(e);
    }
    return NULL;
}

static struct http_client *
elector_client(struct ctl_manager *m, struct k3c_err *err)
{
    const struct ctl_config *cfg = ctl_manager_config(m);
    const char *endpoints[] = {cfg->api_url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = cfg->ca_file,
                                    .cert_file = cfg->cert_file,
                                    .key_file = cfg->key_file,
                                    .request_timeout_ms = cfg->renew_deadline_s * 1000L};

    if (hc.request_timeout_ms > (long)cfg->retry_period_s * 1000 * 2)
        hc.request_timeout_ms = (long)cfg->retry_period_s * 1000 * 2;
    return http_client_new(&hc, err);
}

struct ctl_elector *
ctl_elector_new(struct ctl_manager *m, const char *lease, enum ctl_group g, struct k3c_err *err)
{
    struct ctl_elector *e = k3c_xcalloc(1, sizeof(*e));
    int rc;

    e->m = m;
    e->http = elector_client(m, err);
    if (!e->http) {
        free(e);
        return NULL;
    }
    e->lease = k3c_xstrdup(lease);
    e->group = g;
    pthread_mutex_init(&e->mu, NULL);
    k3c_cond_init(&e->cond);
    rc = pthread_create(&e->thread, NULL, elector_thread, e);
    if (rc != 0) {
        k3c_err_sys(err, rc, "leader election %s: pthread_create", lease);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->mu);
        http_client_free(e->http);
        free(e->lease);
        free(e);
        return NULL;
    }
    return e;
}

bool
ctl_elector_leading(const struct ctl_elector *e)
{
    return e && atomic_load(&e->leading);
}

void
ctl_elector_free(struct ctl_elector *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
    free(e->observed);
    free(e->lease);
    http_client_free(e->http);
    free(e);
}
