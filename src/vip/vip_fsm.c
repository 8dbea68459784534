/* SPDX-License-Identifier: Apache-2.0
 * vip_fsm.c - the VIP election and its three threads. The election thread
 * alone writes the key (create-if-absent, renew by compare-and-swap,
 * replace a stale holder by compare-and-swap, release); the address thread
 * alone adds and removes the address, deciding on CLOCK_MONOTONIC with
 * vip_hold_allowed() (fencing); the status thread probes this server's
 * /readyz and publishes the Node annotation and Event. They share only the
 * fields under v->mu. Side effects go through vip_net.c and vip_kube.c. */
#define LOG_COMPONENT "vip"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "vip/vip-internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define VIP_KEY_PREFIX "/k3c/vip/"
/* How long release_key waits for the address thread to drain and drop. */
#define VIP_STEP_ASIDE_MAX_MS 2000
/* A drain (drain_budget) takes at most VIP_DRAIN_MAX_MS, ends at least
 * VIP_DRAIN_SLACK_MS (the address's removal, scheduling) before the fence
 * deadline, and is not tried with less than VIP_DRAIN_MIN_MS left. */
#define VIP_DRAIN_MAX_MS   500
#define VIP_DRAIN_SLACK_MS 300
#define VIP_DRAIN_MIN_MS   150

struct vip {
    /* immutable after vip_new */
    struct vip_timing t;
    char addr[16];
    int prefix;
    char *node_name, *identity, *key, *value;
    struct store *store;
    struct http_client *api;
    struct vip_net *net; /* used by the address thread only (and vip_new) */
    void (*drain)(void *ud, const char *address, int64_t max_ms);
    void *drain_ud;

    pthread_mutex_t mu; /* protects everything down to the threads */
    pthread_cond_t cond;
    struct vip_hold hold;   /* elected, sent_ms: election thread; api_ready: status thread */
    int64_t key_rev;        /* our key's mod_revision while elected */
    int64_t lease_id;       /* written by the election thread; the key's lease while elected */
    int64_t lease_alive_ms; /* election thread: last grant/keep-alive of the standby lease */
    bool key_present;       /* last seen state of the key (watch or reads) */
    int64_t seen_rev, seen_ms;
    char seen_holder[256], prev_holder[256];
    char last_other[256]; /* the last identity other than ours seen holding the key */
    bool watch_failed;
    uint64_t changes;    /* bumped with every broadcast, so no wake-up is missed */
    bool held;           /* the address is on the interface (address thread) */
    bool stepping_aside; /* release_key wants the address drained and dropped */
    uint64_t holder_gen; /* bumped on each acquisition; the status thread publishes it */

    /* LoadBalancer addresses held with the VIP (vip_lb.c; --servicelb-pool) */
    struct vip_lb *lb;
    char (*lb_want)[16]; /* under mu: what the Services ask for */
    size_t lb_n_want;
    uint64_t lb_gen;     /* under mu: bumped when lb_want changes */
    char (*lb_held)[16]; /* address thread only: on the interface now */
    size_t lb_n_held;

    atomic_llong acquisitions, fences, renew_failures;
    atomic_bool holding;
    struct store_watch *watch;
    pthread_t election_thr, address_thr, status_thr;
    bool started, stopped;
};

/* ---- observations of the key (watch thread) ---- */

/* "identity" of a key value; "" when it has none. */
static void
value_identity(const char *value, size_t len, char *out, size_t out_len)
{
    _cleanup_json_ json_t *j = json_loadb(value ? value : "", len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "identity"));

    snprintf(out, out_len, "%s", id ? id : "");
}

/* Records what the key is now. v->mu held. */
static void
observe_locked(struct vip *v, bool present, int64_t rev, const char *holder)
{
    /* An event older than our own write (a lagging watch) says nothing
     * about the key now. */
    if (v->hold.elected && rev < v->key_rev)
        return;
    v->key_present = present;
    v->seen_rev = present ? rev : 0;
    v->seen_ms = k3c_now_ms();
    snprintf(v->seen_holder, sizeof(v->seen_holder), "%s", present ? holder : "");
    if (present && strcmp(holder, v->identity) != 0)
        snprintf(v->last_other, sizeof(v->last_other), "%s", holder);
    if (v->hold.elected && (!present || strcmp(holder, v->identity) != 0)) {
        /* Someone replaced or deleted our key: stop holding at once. */
        v->hold.elected = false;
        log_warn("(vip %s) key %s %s: LEADER -> FOLLOWER", v->addr, v->key,
                 present ? "taken over" : "deleted");
    }
    v->changes++;
    pthread_cond_broadcast(&v->cond);
}

static void
on_watch_event(void *userdata, const struct store_event *ev)
{
    struct vip *v = userdata;
    char holder[256] = "";

    if (strcmp(ev->kv->key, v->key) != 0)
        return; /* /k3c/vip/10.0.0.10 also starts with /k3c/vip/10.0.0.1 */
    if (ev->type == STORE_EVENT_PUT)
        value_identity(ev->kv->value, ev->kv->value_len, holder, sizeof(holder));
    pthread_mutex_lock(&v->mu);
    observe_locked(v, ev->type == STORE_EVENT_PUT, ev->kv->mod_revision, holder);
    pthread_mutex_unlock(&v->mu);
}

static void
on_watch_error(void *userdata, const struct k3c_err *err)
{
    struct vip *v = userdata;

    log_warn("(vip %s) watch ended: %s; restarting it", v->addr, err->msg);
    pthread_mutex_lock(&v->mu);
    v->watch_failed = true;
    v->changes++;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->mu);
}

/* Reads the key and (re)starts the watch after it. Election thread. */
static int
watch_restart(struct vip *v, struct k3c_err *err)
{
    static const struct store_watch_ops ops = {.on_event = on_watch_event,
                                               .on_error = on_watch_error};
    struct store_kv kv = {0};
    char holder[256] = "";
    int64_t rev = 0;
    bool present;

    store_watch_stop(v->watch);
    v->watch = NULL;
    if (store_get(v->store, v->key, &kv, err) < 0 && err->kind != K3C_E_NOT_FOUND)
        return -1;
    present = err->kind != K3C_E_NOT_FOUND;
    k3c_err_clear(err);
    if (present)
        value_identity(kv.value, kv.value_len, holder, sizeof(holder));
    if (store_revision(v->store, &rev, err) < 0) {
        store_kv_fini(&kv);
        return -1;
    }
    pthread_mutex_lock(&v->mu);
    v->watch_failed = false;
    observe_locked(v, present, present ? kv.mod_revision : rev, holder);
    pthread_mutex_unlock(&v->mu);
    store_kv_fini(&kv);
    /* From the revision after our read: a change in between is replayed. */
    v->watch = store_watch_start(v->store, v->key, rev + 1, &ops, v, err);
    return v->watch ? 0 : -1;
}

/* ---- the election thread ---- */

/* prev: the holder before us (identity), as seen before our write: the
 * watch may already have delivered our own write. */
static void
become_leader(struct vip *v, int64_t sent_ms, int64_t rev, const char *prev, const char *how)
{
    pthread_mutex_lock(&v->mu);
    v->hold.elected = true;
    v->hold.sent_ms = sent_ms;
    v->key_rev = rev;
    snprintf(v->prev_holder, sizeof(v->prev_holder), "%s", prev);
    v->holder_gen++;
    v->changes++;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->mu);
    atomic_fetch_add(&v->acquisitions, 1);
    log_info("(vip %s) FOLLOWER -> LEADER (%s), lease %" PRId64 ", revision %" PRId64, v->addr, how,
             v->lease_id, rev);
}

static void
lose(struct vip *v, const char *why)
{
    pthread_mutex_lock(&v->mu);
    if (v->hold.elected)
        log_warn("(vip %s) LEADER -> FOLLOWER: %s", v->addr, why);
    v->hold.elected = false;
    v->changes++;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->mu);
}

/* Keeps a standby lease alive while following, so that taking over is
 * one write (create or CAS), not a grant and then a write. Returns the
 * send time of the last successful grant or keep-alive: the lease cannot
 * end before that + its TTL, and the TTL exceeds lease_ms by a second, so a
 * fence deadline counted from that time is never later than the lease.
 * -1 when there is no live lease. */
static int64_t
standby_lease(struct vip *v)
{
    struct k3c_err err = {0};
    int64_t now = k3c_now_ms(), id;

    if (v->lease_id && now - v->lease_alive_ms < v->t.renew_ms)
        return v->lease_alive_ms;
    if (v->lease_id && store_lease_keepalive(v->store, v->lease_id, NULL, &err) == 0) {
        v->lease_alive_ms = now;
        return now;
    }
    if (v->lease_id && err.kind != K3C_E_NOT_FOUND) {
        log_debug("(vip %s) standby lease: %s", v->addr, err.msg);
        return now - v->lease_alive_ms < 2 * v->t.renew_ms ? v->lease_alive_ms : -1;
    }
    if (store_lease_grant(v->store, vip_etcd_ttl_s(&v->t), &id, &err) < 0) {
        log_debug("(vip %s) lease: %s", v->addr, err.msg);
        return -1;
    }
    pthread_mutex_lock(&v->mu);
    v->lease_id = id;
    pthread_mutex_unlock(&v->mu);
    v->lease_alive_ms = now;
    return now;
}

/* One attempt to become the holder: create the key if it is absent, or
 * replace a holder not seen renewing for lease_ms (CAS on the revision we
 * saw, so a renewal in between wins). */
static void
follower_step(struct vip *v)
{
    struct k3c_err err = {0};
    bool present, ready, due;
    int64_t seen_rev, rev = 0, sent;
    char seen_holder[256], prev[256];

    pthread_mutex_lock(&v->mu);
    ready = v->hold.api_ready && !v->hold.stopping;
    pthread_mutex_unlock(&v->mu);
    if (!ready)
        return;
    sent = standby_lease(v);
    if (sent < 0)
        return;
    pthread_mutex_lock(&v->mu);
    present = v->key_present;
    seen_rev = v->seen_rev;
    due = vip_takeover_due(&v->t, v->seen_ms, k3c_now_ms());
    snprintf(seen_holder, sizeof(seen_holder), "%s", v->seen_holder);
    snprintf(prev, sizeof(prev), "%s", v->last_other);
    pthread_mutex_unlock(&v->mu);
    if (present && !due)
        return;
    if (!present) {
        if (store_create(v->store, v->key, v->value, strlen(v->value), v->lease_id, &rev, &err) ==
            0) {
            become_leader(v, sent, rev, prev, "key was free");
            return;
        }
    } else {
        if (store_update(v->store, v->key, v->value, strlen(v->value), seen_rev, v->lease_id, &rev,
                         NULL, &err) == 0) {
            log_info("(vip %s) holder %s not seen renewing for %" PRId64 " ms: replacing it",
                     v->addr, seen_holder, v->t.lease_ms);
            become_leader(v, sent, rev, prev, "stale holder replaced");
            return;
        }
    }
    log_debug("(vip %s) acquire: %s", v->addr, err.msg);
    if (err.kind == K3C_E_CONFLICT || err.kind == K3C_E_EXISTS || err.kind == K3C_E_NOT_FOUND) {
        /* Lost a race: the key changed, so its holder was just seen. */
        pthread_mutex_lock(&v->mu);
        v->seen_ms = k3c_now_ms();
        pthread_mutex_unlock(&v->mu);
    }
}

/* One renewal: keep the lease alive, then CAS the key on our revision. Only
 * when both succeed does sent_ms move on. */
static void
leader_step(struct vip *v)
{
    struct k3c_err err = {0};
    struct store_kv cur = {0};
    int64_t sent = k3c_now_ms(), rev = 0, rev_expect;
    char holder[256] = "";

    pthread_mutex_lock(&v->mu);
    rev_expect = v->key_rev;
    pthread_mutex_unlock(&v->mu);
    if (store_lease_keepalive(v->store, v->lease_id, NULL, &err) < 0) {
        if (err.kind == K3C_E_NOT_FOUND)
            lose(v, "lease expired");
        goto failed;
    }
    if (store_update(v->store, v->key, v->value, strlen(v->value), rev_expect, v->lease_id, &rev,
                     &cur, &err) == 0) {
        pthread_mutex_lock(&v->mu);
        if (v->hold.elected) {
            v->hold.sent_ms = sent;
            v->key_rev = rev;
            v->changes++;
            pthread_cond_broadcast(&v->cond);
        }
        pthread_mutex_unlock(&v->mu);
        return;
    }
    if (err.kind == K3C_E_CONFLICT) {
        value_identity(cur.value, cur.value_len, holder, sizeof(holder));
        if (strcmp(holder, v->identity) == 0) {
            /* Our own earlier write landed though its answer was lost. */
            pthread_mutex_lock(&v->mu);
            v->key_rev = cur.mod_revision;
            pthread_mutex_unlock(&v->mu);
        } else {
            lose(v, "another server holds the key");
        }
    } else if (err.kind == K3C_E_NOT_FOUND) {
        lose(v, "key deleted");
    }
failed:
    store_kv_fini(&cur);
    atomic_fetch_add(&v->renew_failures, 1);
    log_debug("(vip %s) renew: %s", v->addr, err.msg);
}

/* Hands the key over at once: revoking our lease deletes the key if, and
 * only if, it is still bound to that lease (a key another server took
 * carries its own lease), so a renewal racing with this cannot matter. */
static int
revoke_own_lease(struct vip *v, struct k3c_err *err)
{
    int64_t lease;

    pthread_mutex_lock(&v->mu);
    lease = v->lease_id;
    pthread_mutex_unlock(&v->mu);
    return store_lease_revoke(v->store, lease, err);
}

/* The address thread drains the API connections that came in on the
 * address and drops it; the key is released only then, since a follower
 * may take the address as soon as the key is gone. Bounded: a drop that
 * fails or an address thread that is stuck does not keep the key. */
static void
step_aside(struct vip *v, const char *why)
{
    int64_t deadline = k3c_now_ms() + VIP_STEP_ASIDE_MAX_MS;

    pthread_mutex_lock(&v->mu);
    v->stepping_aside = true; /* before the address thread sees the loss */
    pthread_mutex_unlock(&v->mu);
    lose(v, why);
    pthread_mutex_lock(&v->mu);
    while (v->held && k3c_now_ms() < deadline)
        k3c_cond_wait_until(&v->cond, &v->mu, deadline);
    v->stepping_aside = false;
    pthread_mutex_unlock(&v->mu);
}

/* Leader whose own API stopped answering. */
static void
release_key(struct vip *v, const char *why)
{
    struct k3c_err err = {0};

    step_aside(v, why);
    if (revoke_own_lease(v, &err) < 0)
        log_debug("(vip %s) release: %s", v->addr, err.msg);
    pthread_mutex_lock(&v->mu);
    v->lease_id = 0; /* a new standby lease is granted when ready again */
    pthread_mutex_unlock(&v->mu);
}

static void *
election_thread(void *arg)
{
    struct vip *v = arg;
    int64_t next = 0;

    for (;;) {
        struct k3c_err err = {0};
        bool elected, ready, restart, stopping;
        int64_t now = k3c_now_ms(), deadline;
        uint64_t changes;

        pthread_mutex_lock(&v->mu);
        changes = v->changes;
        elected = v->hold.elected;
        ready = v->hold.api_ready;
        restart = v->watch_failed || !v->watch;
        stopping = v->hold.stopping;
        pthread_mutex_unlock(&v->mu);
        if (stopping)
            break;
        if (restart && watch_restart(v, &err) < 0) {
            log_debug("(vip %s) watch: %s", v->addr, err.msg);
            pthread_mutex_lock(&v->mu);
            v->watch_failed = true;
            k3c_cond_wait_until(&v->cond, &v->mu, now + v->t.renew_ms);
            pthread_mutex_unlock(&v->mu);
            continue;
        }
        if (elected && !ready) {
            release_key(v, "own API server not ready");
        } else if (elected && now >= next) {
            next = now + v->t.renew_ms;
            leader_step(v);
        } else if (!elected) {
            follower_step(v);
            next = 0;
        }
        pthread_mutex_lock(&v->mu);
        if (v->hold.elected)
            deadline = next;
        else if (v->key_present)
            deadline = v->seen_ms + v->t.lease_ms;
        else
            deadline = k3c_now_ms() + v->t.renew_ms;
        if (!v->hold.elected && deadline > k3c_now_ms() + v->t.renew_ms)
            deadline = k3c_now_ms() + v->t.renew_ms;
        if (v->changes == changes)
            k3c_cond_wait_until(&v->cond, &v->mu, deadline);
        pthread_mutex_unlock(&v->mu);
    }
    return NULL;
}

/* ---- the address thread ---- */

static void
announce(struct vip *v)
{
    struct k3c_err err = {0};

    if (vip_net_garp(v->net, &err) < 0)
        log_warn("(vip %s) %s", v->addr, err.msg);
    for (size_t i = 0; i < v->lb_n_held; i++) {
        k3c_err_clear(&err);
        if (vip_net_extra_garp(v->net, v->lb_held[i], &err) < 0)
            log_warn("(vip %s) %s", v->addr, err.msg);
    }
}

static bool
lb_in(const char (*set)[16], size_t n, const char *ip)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], ip) == 0)
            return true;
    return false;
}

/* Makes the LoadBalancer addresses on the interface what the Services ask
 * for (keep) or none (!keep). Address thread, v->mu not held. */
static void
lb_apply(struct vip *v, bool keep)
{
    char(*want)[16] = NULL;
    size_t n_want = 0, n_held = 0;
    struct k3c_err err = {0};

    if (keep) {
        pthread_mutex_lock(&v->mu);
        n_want = v->lb_n_want;
        want = k3c_xcalloc(n_want ? n_want : 1, sizeof(*want));
        if (n_want)
            memcpy(want, v->lb_want, n_want * sizeof(*want));
        pthread_mutex_unlock(&v->mu);
    }
    for (size_t i = 0; i < v->lb_n_held; i++) {
        if (lb_in((const char(*)[16])want, n_want, v->lb_held[i])) {
            memmove(v->lb_held[n_held++], v->lb_held[i], sizeof(v->lb_held[0]));
            continue;
        }
        k3c_err_clear(&err);
        if (vip_net_extra_del(v->net, v->lb_held[i], &err) < 0) {
            log_error("(vip %s) %s", v->addr, err.msg);
            memmove(v->lb_held[n_held++], v->lb_held[i], sizeof(v->lb_held[0]));
        } else {
            log_info("(vip %s) load balancer address %s removed from %s", v->addr, v->lb_held[i],
                     vip_net_ifname(v->net));
        }
    }
    v->lb_n_held = n_held;
    for (size_t i = 0; i < n_want; i++) {
        if (lb_in((const char(*)[16])v->lb_held, v->lb_n_held, want[i]))
            continue;
        k3c_err_clear(&err);
        if (vip_net_extra_add(v->net, want[i], &err) < 0) {
            log_error("(vip %s) %s", v->addr, err.msg);
            continue;
        }
        v->lb_held = k3c_xrealloc(v->lb_held, (v->lb_n_held + 1) * sizeof(*v->lb_held));
        memcpy(v->lb_held[v->lb_n_held++], want[i], sizeof(want[0]));
        k3c_err_clear(&err);
        if (vip_net_extra_garp(v->net, want[i], &err) < 0)
            log_warn("(vip %s) %s", v->addr, err.msg);
        log_info("(vip %s) load balancer address %s added to %s, gratuitous ARP sent", v->addr,
                 want[i], vip_net_ifname(v->net));
    }
    free(want);
}

/* Renews the kernel lifetime of the held LoadBalancer addresses. */
static void
lb_refresh(struct vip *v)
{
    struct k3c_err err = {0};

    for (size_t i = 0; i < v->lb_n_held; i++) {
        k3c_err_clear(&err);
        if (vip_net_extra_add(v->net, v->lb_held[i], &err) < 0)
            log_warn("(vip %s) renew address lifetime: %s", v->addr, err.msg);
    }
}

/* vip_lb.c's informer: what the Services ask for now. */
static void
on_lb_changed(void *ud, const char (*addrs)[16], size_t n)
{
    struct vip *v = ud;

    pthread_mutex_lock(&v->mu);
    free(v->lb_want);
    v->lb_want = k3c_xcalloc(n ? n : 1, sizeof(*v->lb_want));
    if (n)
        memcpy(v->lb_want, addrs, n * sizeof(*addrs));
    v->lb_n_want = n;
    v->lb_gen++;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->mu);
}

/* How long the address may stay to drain the API connections that came in
 * on it (vip_config.drain) before it goes; 0: it goes at once. Only when
 * the holder steps aside while it keeps running (its own API not ready):
 * the key is still ours (release_key waits for the drop before it lets the
 * key go), and the drain ends VIP_DRAIN_SLACK_MS before the fence deadline,
 * after which a follower could take over. Never on a fence, a lost key or a
 * stop (the caller drains first). v->mu held. */
static int64_t
drain_budget(const struct vip *v, int64_t now)
{
    int64_t left;

    if (!v->drain || v->hold.stopping || v->hold.api_ready ||
        !(v->hold.elected || v->stepping_aside))
        return 0;
    left = vip_fence_deadline(&v->t, v->hold.sent_ms) - VIP_DRAIN_SLACK_MS - now;
    if (left < VIP_DRAIN_MIN_MS)
        return 0;
    return left < VIP_DRAIN_MAX_MS ? left : VIP_DRAIN_MAX_MS;
}

static void *
address_thread(void *arg)
{
    struct vip *v = arg;
    struct k3c_err err = {0};
    int64_t garp_t0 = 0, garp_next = 0, refresh_next = 0;
    int garp_n = 0;
    uint64_t lb_applied = 0; /* lb_gen last applied while holding */

    /* A VIP left behind by a crashed k3c: we hold nothing yet. */
    if (vip_net_del(v->net, &err) < 0)
        log_warn("(vip %s) %s", v->addr, err.msg);
    pthread_mutex_lock(&v->mu);
    for (;;) {
        int64_t now = k3c_now_ms(), deadline;
        bool allowed = vip_hold_allowed(&v->t, &v->hold, now);

        if (allowed && !v->held) {
            pthread_mutex_unlock(&v->mu);
            k3c_err_clear(&err);
            if (vip_net_add(v->net, &err) == 0)
                announce(v);
            pthread_mutex_lock(&v->mu);
            if (err.kind != K3C_E_NONE) {
                log_error("(vip %s) %s", v->addr, err.msg);
                k3c_cond_wait_until(&v->cond, &v->mu, now + v->t.renew_ms);
                continue;
            }
            v->held = true;
            atomic_store(&v->holding, true);
            lb_applied = v->lb_gen - 1; /* the LoadBalancer addresses follow */
            refresh_next = now + VIP_ADDR_REFRESH_MS;
            garp_t0 = now;
            garp_n = 0;
            garp_next = vip_garp_next(garp_t0, 0);
            log_info("(vip %s) added to %s (%s), gratuitous ARP sent", v->addr,
                     vip_net_ifname(v->net), vip_net_mac(v->net));
            continue; /* re-check: the state may have moved during the add */
        }
        if (!allowed && v->held) {
            const char *why = v->hold.stopping     ? "stopping"
                              : !v->hold.api_ready ? "own API server not ready"
                              : !v->hold.elected   ? "no longer elected"
                                                   : "renewal overdue (fenced)";
            bool fenced = v->hold.elected && !v->hold.stopping;
            int64_t drain_ms = drain_budget(v, now);

            pthread_mutex_unlock(&v->mu);
            lb_apply(v, false);
            if (drain_ms > 0)
                v->drain(v->drain_ud, v->addr, drain_ms);
            k3c_err_clear(&err);
            if (vip_net_del(v->net, &err) < 0)
                log_error("(vip %s) %s", v->addr, err.msg);
            if (drain_ms > 0)
                v->drain(v->drain_ud, NULL, 0);
            if (fenced)
                atomic_fetch_add(&v->fences, 1);
            log_info("(vip %s) removed from %s: %s", v->addr, vip_net_ifname(v->net), why);
            pthread_mutex_lock(&v->mu);
            if (err.kind == K3C_E_NONE) {
                v->held = false;
                atomic_store(&v->holding, false);
                pthread_cond_broadcast(&v->cond); /* step_aside waits for it */
            }
            continue;
        }
        if (v->hold.stopping && !v->held)
            break;
        if (v->held && lb_applied != v->lb_gen) {
            lb_applied = v->lb_gen;
            pthread_mutex_unlock(&v->mu);
            lb_apply(v, true);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        if (v->held && now >= refresh_next) {
            pthread_mutex_unlock(&v->mu);
            k3c_err_clear(&err);
            if (vip_net_add(v->net, &err) < 0)
                log_warn("(vip %s) renew address lifetime: %s", v->addr, err.msg);
            lb_refresh(v);
            pthread_mutex_lock(&v->mu);
            refresh_next = now + VIP_ADDR_REFRESH_MS;
            continue;
        }
        if (v->held && now >= garp_next) {
            pthread_mutex_unlock(&v->mu);
            announce(v);
            pthread_mutex_lock(&v->mu);
            garp_next = vip_garp_next(garp_t0, ++garp_n);
            continue;
        }
        if (v->held) {
            deadline = vip_fence_deadline(&v->t, v->hold.sent_ms);
            if (garp_next < deadline)
                deadline = garp_next;
            if (refresh_next < deadline)
                deadline = refresh_next;
        } else {
            deadline = now + 60000; /* woken by any change of v->hold */
        }
        k3c_cond_wait_until(&v->cond, &v->mu, deadline);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* ---- the status thread ---- */

static bool
probe_readyz(struct vip *v)
{
    struct http_response resp;
    struct k3c_err err = {0};
    bool ok;

    http_response_init(&resp);
    ok = http_client_request(v->api, "GET", "/readyz", NULL, NULL, 0, &resp, &err) == 0 &&
         resp.status == 200;
    http_response_fini(&resp);
    return ok;
}

static void *
status_thread(void *arg)
{
    struct vip *v = arg;
    uint64_t published = 0, evented = 0;
    int failures = 0, skip = 0;

    for (;;) {
        bool ok = probe_readyz(v), elected;
        uint64_t gen;
        char prev[256];
        struct k3c_err err = {0};

        failures = ok ? 0 : failures + 1;
        pthread_mutex_lock(&v->mu);
        if (ok && !v->hold.api_ready)
            log_info("(vip %s) own API server ready: taking part in the election", v->addr);
        else if (failures == VIP_READYZ_FAILURES && v->hold.api_ready)
            log_warn("(vip %s) own API server not ready %d times: not holding the VIP", v->addr,
                     failures);
        if (ok || failures >= VIP_READYZ_FAILURES) {
            if (v->hold.api_ready != ok) {
                v->changes++;
                pthread_cond_broadcast(&v->cond);
            }
            v->hold.api_ready = ok;
        }
        gen = v->holder_gen;
        elected = v->hold.elected && v->held;
        snprintf(prev, sizeof(prev), "%s", v->prev_holder);
        if (!v->hold.stopping)
            k3c_cond_wait_until(&v->cond, &v->mu,
                                k3c_now_ms() +
                                    (elected && gen != published ? 0 : VIP_READYZ_PERIOD_MS));
        if (v->hold.stopping) {
            pthread_mutex_unlock(&v->mu);
            break;
        }
        pthread_mutex_unlock(&v->mu);
        if (elected && gen != published && skip > 0) {
            skip--;
        } else if (elected && gen != published) {
            char *at = strrchr(prev, '_'); /* identity is <node>_<random> */

            if (at)
                *at = '\0';
            if (vip_kube_publish(v->api, v->addr, v->node_name, prev, gen != evented, &err) == 0)
                published = gen;
            else if (err.kind == K3C_E_NOT_FOUND)
                skip = 10; /* no Node yet (or --disable-agent): try again in ~5 s */
            else
                log_warn("(vip %s) publish holder: %s", v->addr, err.msg);
            evented = gen;
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

struct vip *
vip_new(const struct vip_config *cfg, struct k3c_err *err)
{
    struct vip *v = k3c_xcalloc(1, sizeof(*v));
    unsigned char rnd[4];
    struct store_config sc = {0};
    struct http_client_config hc = {0};
    const char *api_endpoints[] = {cfg->api_url, NULL};

    pthread_mutex_init(&v->mu, NULL);
    k3c_cond_init(&v->cond);
    v->t = cfg->timing;
    v->drain = cfg->drain;
    v->drain_ud = cfg->drain_ud;
    if (v->t.lease_ms == 0)
        vip_timing_default(&v->t);
    if (vip_timing_validate(&v->t, err) < 0 ||
        vip_parse_address(cfg->address, v->addr, &v->prefix, err) < 0)
        goto fail;
    v->net = vip_net_new(cfg->interface, cfg->node_ip, v->addr, v->prefix, err);
    if (!v->net)
        goto fail;
    k3c_random_bytes(rnd, sizeof(rnd));
    v->node_name = k3c_xstrdup(cfg->node_name);
    v->identity =
        k3c_xasprintf("%s_%02x%02x%02x%02x", cfg->node_name, rnd[0], rnd[1], rnd[2], rnd[3]);
    v->key = k3c_xasprintf(VIP_KEY_PREFIX "%s", v->addr);
    {
        _cleanup_json_ json_t *val =
            json_pack("{s:s, s:s, s:s, s:s}", "holder", cfg->node_name, "identity", v->identity,
                      "interface", vip_net_ifname(v->net), "mac", vip_net_mac(v->net));

        v->value = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS);
    }
    sc.endpoints = cfg->store_endpoints;
    sc.ca_file = cfg->store_ca;
    sc.cert_file = cfg->store_cert;
    sc.key_file = cfg->store_key;
    /* A renewal answered after the fence deadline is worthless: don't wait
     * longer, and let the election loop do the retrying. */
    sc.request_timeout_ms = (long)(v->t.lease_ms - v->t.margin_ms);
    sc.write_timeout_ms = sc.request_timeout_ms;
    sc.retry_timeout_ms = v->t.renew_ms;
    v->store = store_new(&sc, err);
    if (!v->store)
        goto fail;
    hc.endpoints = api_endpoints;
    hc.ca_file = cfg->api_ca;
    hc.cert_file = cfg->api_cert;
    hc.key_file = cfg->api_key;
    hc.connect_timeout_ms = VIP_READYZ_TIMEOUT_MS;
    hc.request_timeout_ms = VIP_READYZ_TIMEOUT_MS;
    v->api = http_client_new(&hc, err);
    if (!v->api)
        goto fail;
    if (cfg->lb_pool && *cfg->lb_pool && !(v->lb = vip_lb_new(cfg, v->addr, on_lb_changed, v, err)))
        goto fail;
    log_info("(vip %s/%d) on %s (%s): lease %" PRId64 " ms, renew every %" PRId64
             " ms, fence after %" PRId64 " ms without renewal, etcd lease %" PRId64 " s",
             v->addr, v->prefix, vip_net_ifname(v->net), vip_net_mac(v->net), v->t.lease_ms,
             v->t.renew_ms, v->t.lease_ms - v->t.margin_ms, vip_etcd_ttl_s(&v->t));
    return v;
fail:
    vip_free(v);
    return NULL;
}

int
vip_start(struct vip *v, struct k3c_err *err)
{
    if (vip_net_guard_start(v->net, err) < 0)
        return -1;
    if (pthread_create(&v->address_thr, NULL, address_thread, v) != 0)
        return k3c_err_set(err, K3C_E_SYSTEM, "vip: cannot start a thread");
    if (pthread_create(&v->status_thr, NULL, status_thread, v) != 0) {
        pthread_mutex_lock(&v->mu);
        v->hold.stopping = true;
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->address_thr, NULL);
        return k3c_err_set(err, K3C_E_SYSTEM, "vip: cannot start a thread");
    }
    if (pthread_create(&v->election_thr, NULL, election_thread, v) != 0) {
        pthread_mutex_lock(&v->mu);
        v->hold.stopping = true;
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->address_thr, NULL);
        pthread_join(v->status_thr, NULL);
        return k3c_err_set(err, K3C_E_SYSTEM, "vip: cannot start a thread");
    }
    v->started = true;
    if (v->lb && vip_lb_start(v->lb, err) < 0)
        return -1;
    return 0;
}

void
vip_stop(struct vip *v)
{
    struct k3c_err err = {0};
    bool elected;

    if (!v || !v->started || v->stopped)
        return;
    v->stopped = true;
    vip_lb_free(v->lb); /* no more changes from the Services */
    v->lb = NULL;
    pthread_mutex_lock(&v->mu);
    v->hold.stopping = true;
    v->changes++;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->mu);
    /* The address goes first: the key is released only when no one can
     * reach this host through the VIP any more. The election thread may
     * still be in a renewal: revoking the lease needs no revision, so the
     * next holder does not wait for that call to time out. */
    pthread_join(v->address_thr, NULL);
    vip_net_guard_stop(v->net);
    pthread_mutex_lock(&v->mu);
    elected = v->hold.elected;
    pthread_mutex_unlock(&v->mu);
    if (elected) {
        if (revoke_own_lease(v, &err) < 0)
            log_warn("(vip %s) release: %s", v->addr, err.msg);
        else
            log_info("(vip %s) LEADER -> stopped: key released", v->addr);
    }
    pthread_join(v->election_thr, NULL);
    if (!elected && v->lease_id)
        store_lease_revoke(v->store, v->lease_id, &err); /* the standby lease */
    store_watch_stop(v->watch);
    v->watch = NULL;
    pthread_join(v->status_thr, NULL);
}

void
vip_free(struct vip *v)
{
    if (!v)
        return;
    vip_stop(v);
    vip_lb_free(v->lb);
    free(v->lb_want);
    free(v->lb_held);
    http_client_free(v->api);
    store_free(v->store);
    vip_net_free(v->net);
    free(v->node_name);
    free(v->identity);
    free(v->key);
    free(v->value);
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

void
vip_metrics_append(struct vip *v, struct k3c_buf *b)
{
    k3c_buf_appendf(b,
                    "# HELP k3c_vip_holder 1 while this server holds the VIP on its interface.\n"
                    "# TYPE k3c_vip_holder gauge\n"
                    "k3c_vip_holder{vip=\"%s\"} %d\n"
                    "# HELP k3c_vip_acquisitions_total Times this server became the VIP holder.\n"
                    "# TYPE k3c_vip_acquisitions_total counter\n"
                    "k3c_vip_acquisitions_total{vip=\"%s\"} %lld\n"
                    "# HELP k3c_vip_fences_total Times the holder dropped the VIP while "
                    "still elected (renewal overdue or own API not ready).\n"
                    "# TYPE k3c_vip_fences_total counter\n"
                    "k3c_vip_fences_total{vip=\"%s\"} %lld\n"
                    "# HELP k3c_vip_renew_failures_total Failed renewals of the VIP key.\n"
                    "# TYPE k3c_vip_renew_failures_total counter\n"
                    "k3c_vip_renew_failures_total{vip=\"%s\"} %lld\n",
                    v->addr, atomic_load(&v->holding) ? 1 : 0, v->addr,
                    (long long)atomic_load(&v->acquisitions), v->addr,
                    (long long)atomic_load(&v->fences), v->addr,
                    (long long)atomic_load(&v->renew_failures));
}
