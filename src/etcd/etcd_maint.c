/* SPDX-License-Identifier: Apache-2.0
 * etcd_maint.c - the maintenance thread every `k3c server` with embedded
 * etcd runs. It owns everything in struct etcd_maint below `lock`'s fields:
 * - the NOSPACE alarm: checked every few seconds; while it is raised the
 *   member's history is compacted and its file defragmented whenever the
 *   revision moved (someone deleted objects), and the alarm is disarmed once
 *   the file is back under 80% of the quota. The API's /readyz reports the
 *   alarm by itself (store_alarms); Events are written once writes work again.
 * - scheduled snapshots (cron), pruned to the retention, and the ConfigMap
 *   kube-system/k3c-etcd-snapshots that lists this node's snapshot files. */
#define LOG_COMPONENT "etcd"
#include "etcd/etcd_ops-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAINT_ALARM_PERIOD_MS   5000
#define MAINT_SYNC_PERIOD_MS    30000 /* ConfigMap refresh (CLI-made snapshots too) */
#define MAINT_DEFRAG_MIN_FREE   (4LL << 20)
#define MAINT_DEFRAG_TIMEOUT_MS 300000 /* at start: a large file takes a while */
/* The thread's calls; a member without quorum answers alarm requests only
 * after etcd's own request timeout, and a stop waits for the call. */
#define MAINT_CALL_TIMEOUT_MS   10000
#define MAINT_DEFAULT_QUOTA     (2LL << 30)
#define SNAPSHOT_CONFIGMAP_PATH "/api/v1/namespaces/kube-system/configmaps/k3c-etcd-snapshots"
#define SCHEDULED_NAME          "etcd-snapshot"

struct etcd_maint {
    /* Set at start, read-only after. */
    char *client_url, *ca, *cert, *key, *dir, *node, *member;
    struct etcd_maint_config cfg; /* strings point at the copies above */
    struct etcd_cron cron;
    bool scheduled;
    struct http_client *etcd, *api;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* protects stopping; wake signals it */
    pthread_cond_t wake;
    bool stopping;

    /* The thread's own state. */
    bool alarm_raised;
    int64_t alarm_since_s, alarm_db_size, reclaim_rev;
    char *published; /* this node's entries as last written to the ConfigMap */
};

/* ---- defragmentation ------------------------------------------------------ */

static bool
bloated(int64_t size, int64_t in_use)
{
    int64_t free_bytes = size - in_use;

    return free_bytes >= MAINT_DEFRAG_MIN_FREE && free_bytes * 2 >= size;
}

static int
defrag_logged(struct http_client *c, const char *why, struct k3c_err *err)
{
    int64_t size = 0, in_use = 0, after = 0, t0 = k3c_now_ms();

    if (etcd_gw_db_size(c, &size, &in_use, NULL, err) < 0 || etcd_gw_defrag(c, err) < 0 ||
        etcd_gw_db_size(c, &after, &in_use, NULL, err) < 0)
        return k3c_err_wrap(err, "defragment");
    log_info("defragmented (%s): database %" PRId64 " -> %" PRId64 " bytes in %" PRId64 " ms", why,
             size, after, k3c_now_ms() - t0);
    return 0;
}

int
etcd_defrag_if_bloated(const char *client_url, const char *ca, const char *cert, const char *key,
                       struct k3c_err *err)
{
    struct http_client *c =
        etcd_gw_client_new(client_url, ca, cert, key, MAINT_DEFRAG_TIMEOUT_MS, err);
    int64_t size = 0, in_use = 0;
    int rc = 0;

    if (!c)
        return -1;
    if (etcd_gw_db_size(c, &size, &in_use, NULL, err) < 0)
        rc = -1;
    else if (bloated(size, in_use))
        rc = defrag_logged(c, "at start", err);
    else
        log_debug("database %" PRId64 " bytes, %" PRId64 " in use: no defragmentation", size,
                  in_use);
    http_client_free(c);
    return rc;
}

/* ---- Events ---------------------------------------------------------------- */

static void
post_event(struct etcd_maint *m, const char *type, const char *reason, const char *message)
{
    char ts[32], name[128];
    _cleanup_json_ json_t *ev = NULL;
    struct k3c_err err = {0};
    unsigned char rnd[4];

    k3c_time_rfc3339(k3c_wall_ms() / 1000, ts, sizeof(ts));
    k3c_random_bytes(rnd, sizeof(rnd));
    snprintf(name, sizeof(name), "%s.etcd.%02x%02x%02x%02x", m->member, rnd[0], rnd[1], rnd[2],
             rnd[3]);
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s, s:s}, s:s, "
                   "s:s, s:i}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                   "kube-system", "involvedObject", "apiVersion", "v1", "kind", "Node", "name",
                   m->node, "reason", reason, "message", message, "type", type, "source",
                   "component", "k3c-etcd", "host", m->node, "firstTimestamp", ts, "lastTimestamp",
                   ts, "count", 1);
    if (http_client_json(m->api, "POST", "/api/v1/namespaces/kube-system/events", NULL, ev, NULL,
                         &err) < 0 ||
        err.msg[0])
        log_warn("event %s: %s", reason, err.msg);
}

/* ---- the NOSPACE alarm ------------------------------------------------------ */

/* The member id this client talks to (from a status header). */
static int
own_member_id(struct etcd_maint *m, char *out, size_t len, struct k3c_err *err)
{
    _cleanup_json_ json_t *st = etcd_gw_call_take(m->etcd, "/v3/maintenance/status", NULL, err);
    const json_t *id = json_object_get(json_object_get(st, "header"), "member_id");

    if (!st)
        return -1;
    if (json_is_string(id))
        snprintf(out, len, "%s", json_string_value(id));
    else
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    return 0;
}

/* Whether a NOSPACE alarm of this member is raised. */
static int
nospace_raised(struct etcd_maint *m, const char *member_id, struct k3c_err *err)
{
    _cleanup_json_ json_t *r = etcd_gw_call_take(m->etcd, "/v3/maintenance/alarm",
                                                 json_pack("{s:s}", "action", "GET"), err);
    const json_t *a;
    size_t i;

    if (!r)
        return -1;
    json_array_foreach(json_object_get(r, "alarms"), i, a)
    {
        const json_t *id = json_object_get(a, "memberID");
        char idbuf[32];

        if (json_is_string(id))
            snprintf(idbuf, sizeof(idbuf), "%s", json_string_value(id));
        else
            snprintf(idbuf, sizeof(idbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        const char *kind = json_string_value(json_object_get(a, "alarm"));

        if (kind && strcmp(kind, "NOSPACE") == 0 && strcmp(idbuf, member_id) == 0)
            return 1;
    }
    return 0;
}

static int
nospace_disarm(struct etcd_maint *m, const char *member_id, struct k3c_err *err)
{
    _cleanup_json_ json_t *r =
        etcd_gw_call_take(m->etcd, "/v3/maintenance/alarm",
                          json_pack("{s:s, s:s, s:s}", "action", "DEACTIVATE", "memberID",
                                    member_id, "alarm", "NOSPACE"),
                          err);

    return r ? 0 : -1;
}

/* Compacts all history and defragments, when the revision moved since the
 * last try (deletes are the only writes etcd takes under NOSPACE). Returns
 * the file size after, or -1. */
static int64_t
reclaim(struct etcd_maint *m, struct k3c_err *err)
{
    int64_t size = 0, in_use = 0, rev = 0;
    _cleanup_json_ json_t *r = NULL;

    if (etcd_gw_db_size(m->etcd, &size, &in_use, &rev, err) < 0)
        return -1;
    if (rev == m->reclaim_rev)
        return size;
    m->reclaim_rev = rev;
    r = etcd_gw_call_take(m->etcd, "/v3/kv/compaction",
                          json_pack("{s:I, s:b}", "revision", (json_int_t)rev, "physical", 1), err);
    if (!r && !strstr(err->msg, "compacted"))
        return -1;
    k3c_err_clear(err);
    if (defrag_logged(m->etcd, "NOSPACE", err) < 0 ||
        etcd_gw_db_size(m->etcd, &size, &in_use, NULL, err) < 0)
        return -1;
    return size;
}

static void
alarm_check(struct etcd_maint *m)
{
    struct k3c_err err = {0};
    char member_id[32], msg[512];
    int64_t quota = m->cfg.quota_bytes > 0 ? m->cfg.quota_bytes : MAINT_DEFAULT_QUOTA;
    int64_t size, in_use, rev;
    int raised;

    if (own_member_id(m, member_id, sizeof(member_id), &err) < 0 ||
        (raised = nospace_raised(m, member_id, &err)) < 0) {
        log_debug("alarm check: %s", err.msg);
        return;
    }
    if (!raised) {
        m->alarm_raised = false;
        return;
    }
    if (!m->alarm_raised) {
        m->alarm_raised = true;
        m->alarm_since_s = k3c_wall_ms() / 1000;
        m->reclaim_rev = 0;
        m->alarm_db_size = etcd_gw_db_size(m->etcd, &size, &in_use, &rev, &err) == 0 ? size : 0;
        log_error("(member %s) NOSPACE alarm: database %" PRId64 " bytes, quota %" PRId64
                  "; etcd takes no writes until space is reclaimed (delete objects; k3c then "
                  "compacts, defragments and disarms the alarm)",
                  m->member, m->alarm_db_size, quota);
    }
    size = reclaim(m, &err);
    if (size < 0) {
        log_warn("(member %s) reclaiming space: %s", m->member, err.msg);
        return;
    }
    /* 20% headroom, so that a file that compaction shrank only a little
     * does not flap between raised and disarmed. */
    if (size > quota / 5 * 4)
        return;
    if (nospace_disarm(m, member_id, &err) < 0) {
        log_warn("(member %s) disarming NOSPACE: %s", m->member, err.msg);
        return;
    }
    m->alarm_raised = false;
    log_info("(member %s) NOSPACE alarm disarmed: database %" PRId64 " bytes of quota %" PRId64,
             m->member, size, quota);
    /* Only now can etcd store the Events. */
    snprintf(msg, sizeof(msg),
             "etcd member %s ran out of space (NOSPACE alarm since %" PRId64 ", database %" PRId64
             " bytes, quota %" PRId64 "); writes were refused",
             m->member, m->alarm_since_s, m->alarm_db_size, quota);
    post_event(m, "Warning", "EtcdNoSpace", msg);
    snprintf(msg, sizeof(msg),
             "etcd member %s: space reclaimed (compacted, defragmented to %" PRId64
             " bytes); NOSPACE alarm disarmed",
             m->member, size);
    post_event(m, "Normal", "EtcdNoSpaceCleared", msg);
}

/* ---- snapshots and their ConfigMap ------------------------------------------ */

/* This node's snapshot files as ConfigMap data: file name -> JSON. */
static json_t *
snapshot_entries(struct etcd_maint *m)
{
    struct etcd_snapshot_list l;
    struct k3c_err err = {0};
    json_t *data = json_object();

    if (etcd_snapshot_ls(&m->cfg.snap, &l, &err) < 0) {
        log_warn("list snapshots: %s", err.msg);
        return data;
    }
    for (size_t i = 0; i < l.n; i++) {
        _cleanup_json_ json_t *e = NULL;
        _cleanup_free_ char *loc = k3c_xasprintf("file://%s", l.items[i].path);
        _cleanup_free_ char *text = NULL;
        char ts[32];

        k3c_time_rfc3339(l.items[i].created, ts, sizeof(ts));
        e = json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", l.items[i].name, "nodeName", m->node,
                      "location", loc, "size", (json_int_t)l.items[i].size, "createdAt", ts);
        text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(data, l.items[i].name, json_string(text));
    }
    etcd_snapshot_list_fini(&l);
    return data;
}

/* Whether a ConfigMap value describes a snapshot of this node. */
static bool
entry_of_node(const char *value, const char *node)
{
    _cleanup_json_ json_t *e = json_loads(value ? value : "", 0, NULL);
    const char *n = json_string_value(json_object_get(e, "nodeName"));

    return n && strcmp(n, node) == 0;
}

/* Writes this node's entries into the ConfigMap, keeping other nodes'. */
static int
configmap_publish(struct etcd_maint *m, const json_t *mine, struct k3c_err *err)
{
    _cleanup_json_ json_t *cm = NULL;
    json_t *data;
    const char *k;
    json_t *v;
    void *tmp;
    long st = http_client_json(m->api, "GET", SNAPSHOT_CONFIGMAP_PATH, NULL, NULL, &cm, err);

    if (st == 404) {
        _cleanup_json_ json_t *fresh = json_pack(
            "{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
            "name", "k3c-etcd-snapshots", "namespace", "kube-system", "data", mine);

        k3c_err_clear(err);
        st = http_client_json(m->api, "POST", "/api/v1/namespaces/kube-system/configmaps", NULL,
                              fresh, NULL, err);
        return st >= 200 && st < 300 ? 0 : -1;
    }
    if (st != 200)
        return -1;
    data = json_object_get(cm, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(cm, "data", data);
    }
    json_object_foreach_safe(data, tmp, k, v)
    {
        if (entry_of_node(json_string_value(v), m->node) && !json_object_get(mine, k))
            json_object_del(data, k);
    }
    json_object_update(data, (json_t *)mine);
    st = http_client_json(m->api, "PUT", SNAPSHOT_CONFIGMAP_PATH, NULL, cm, NULL, err);
    return st == 200 ? 0 : -1;
}

static void
snapshots_sync(struct etcd_maint *m)
{
    _cleanup_json_ json_t *mine = snapshot_entries(m);
    _cleanup_free_ char *text = json_dumps(mine, JSON_COMPACT | JSON_SORT_KEYS);
    struct k3c_err err = {0};

    if (m->published && strcmp(m->published, text) == 0)
        return;
    if (configmap_publish(m, mine, &err) < 0) {
        log_debug("snapshot ConfigMap: %s", err.msg);
        return; /* the next round tries again */
    }
    free(m->published);
    m->published = TAKE_PTR(text);
}

static void
scheduled_snapshot(struct etcd_maint *m)
{
    struct k3c_err err = {0};
    int pruned;

    if (etcd_snapshot_save(&m->cfg.snap, SCHEDULED_NAME, NULL, &err) < 0) {
        log_error("scheduled snapshot: %s", err.msg);
        post_event(m, "Warning", "EtcdSnapshotFailed", err.msg);
        return;
    }
    pruned = etcd_snapshot_prune(&m->cfg.snap, SCHEDULED_NAME, m->cfg.retention, &err);
    if (pruned < 0)
        log_warn("pruning snapshots: %s", err.msg);
    else if (pruned > 0)
        log_info("pruned %d snapshot(s) beyond the retention of %d", pruned, m->cfg.retention);
}

/* ---- the thread ----------------------------------------------------------------- */

static int64_t
min_deadline(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void *
maint_thread(void *arg)
{
    struct etcd_maint *m = arg;
    int period = m->cfg.alarm_period_ms > 0 ? m->cfg.alarm_period_ms : MAINT_ALARM_PERIOD_MS;
    int64_t next_alarm = k3c_now_ms(), next_sync = k3c_now_ms();
    time_t next_snap = m->scheduled ? etcd_cron_next(&m->cron, time(NULL)) : -1;

    for (;;) {
        int64_t now = k3c_now_ms(), deadline = min_deadline(next_alarm, next_sync);
        bool stop;

        if (next_snap > 0)
            deadline = min_deadline(deadline, now + ((int64_t)next_snap - time(NULL)) * 1000);
        pthread_mutex_lock(&m->lock);
        while (!m->stopping && k3c_cond_wait_until(&m->wake, &m->lock, deadline))
            ;
        stop = m->stopping;
        pthread_mutex_unlock(&m->lock);
        if (stop)
            break;
        if (k3c_now_ms() >= next_alarm) {
            alarm_check(m);
            next_alarm = k3c_now_ms() + period;
        }
        if (next_snap > 0 && time(NULL) >= next_snap) {
            scheduled_snapshot(m);
            next_snap = etcd_cron_next(&m->cron, time(NULL));
            next_sync = 0;
        }
        if (k3c_now_ms() >= next_sync) {
            snapshots_sync(m);
            next_sync = k3c_now_ms() + MAINT_SYNC_PERIOD_MS;
        }
    }
    return NULL;
}

/* Stores sha256(secret) at ETCD_TOKEN_HASH_KEY unless a hash is there; a
 * different one is logged (the restore path refuses it: etcd_reset.c). */
static void
token_hash_record(struct etcd_maint *m)
{
    struct k3c_err err = {0};

    if (!m->cfg.token_secret)
        return;
    if (etcd_token_hash_check(m->client_url, m->ca, m->cert, m->key, m->cfg.token_secret, &err) < 0)
        log_warn("token check: %s", err.msg);
}

struct etcd_maint *
etcd_maint_start(const struct etcd_maint_config *cfg, struct k3c_err *err)
{
    struct etcd_maint *m = k3c_xcalloc(1, sizeof(*m));
    const char *endpoints[] = {cfg->api_url, NULL};
    const struct http_client_config api = {.endpoints = endpoints,
                                           .ca_file = cfg->api_ca_file,
                                           .cert_file = cfg->api_cert_file,
                                           .key_file = cfg->api_key_file};
    int rc;

    m->cfg = *cfg;
    m->client_url = k3c_xstrdup(cfg->snap.client_url);
    m->ca = k3c_xstrdup(cfg->snap.ca_file);
    m->cert = k3c_xstrdup(cfg->snap.cert_file);
    m->key = k3c_xstrdup(cfg->snap.key_file);
    m->dir = k3c_xstrdup(cfg->snap.dir);
    m->node = k3c_xstrdup(cfg->snap.node_name);
    m->member = k3c_xstrdup(cfg->member_name ? cfg->member_name : cfg->snap.node_name);
    m->cfg.snap = (struct etcd_snapshot_config){.client_url = m->client_url,
                                                .ca_file = m->ca,
                                                .cert_file = m->cert,
                                                .key_file = m->key,
                                                .dir = m->dir,
                                                .node_name = m->node};
    m->cfg.token_secret = NULL; /* used below, not kept */
    m->cfg.cron = NULL;
    m->cfg.api_url = m->cfg.api_ca_file = m->cfg.api_cert_file = m->cfg.api_key_file = NULL;
    pthread_mutex_init(&m->lock, NULL);
    k3c_cond_init(&m->wake);
    if (cfg->cron && cfg->cron[0]) {
        if (etcd_cron_parse(cfg->cron, &m->cron, err) < 0) {
            k3c_err_wrap(err, "--etcd-snapshot-schedule-cron");
            etcd_maint_stop(m);
            return NULL;
        }
        m->scheduled = true;
    }
    m->etcd = etcd_gw_client_new(m->client_url, m->ca, m->cert, m->key, MAINT_CALL_TIMEOUT_MS, err);
    m->api = m->etcd ? http_client_new(&api, err) : NULL;
    if (!m->api) {
        etcd_maint_stop(m);
        return NULL;
    }
    m->cfg.token_secret = cfg->token_secret;
    token_hash_record(m);
    m->cfg.token_secret = NULL;
    rc = pthread_create(&m->thread, NULL, maint_thread, m);
    if (rc != 0) {
        k3c_err_sys(err, rc, "etcd maintenance thread");
        etcd_maint_stop(m);
        return NULL;
    }
    m->thread_started = true;
    if (m->scheduled)
        log_info("etcd snapshots scheduled \"%s\" into %s, keeping %d", cfg->cron, m->dir,
                 m->cfg.retention);
    return m;
}

void
etcd_maint_stop(struct etcd_maint *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        pthread_cond_broadcast(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    http_client_free(m->etcd);
    http_client_free(m->api);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m->published);
    free(m->client_url);
    free(m->ca);
    free(m->cert);
    free(m->key);
    free(m->dir);
    free(m->node);
    free(m->member);
    free(m);
}
