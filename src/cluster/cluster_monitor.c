/* SPDX-License-Identifier: Apache-2.0
 * cluster_monitor.c - what every server keeps true while it runs:
 *  - its API server's endpoint lease (/registry/masterleases/<ip>, short
 *    TTL) and the `default/kubernetes` Endpoints and EndpointSlice built
 *    from the live leases (upstream's lease endpoint reconciler), so agents
 *    and in-cluster clients find every API server;
 *  - with embedded etcd: its own promotion while it is a learner, removal of
 *    a learner that never caught up (by the leader), the etcd role of its
 *    Node (annotation etcd.k3c.io/member = leader|voter|learner), the HA
 *    marker file, and the removal of the etcd member of a deleted Node
 *    (by the leader, only when the remaining members keep quorum; else an
 *    Event says why it was kept).
 * One thread; node deletions come from a store watch and are queued. */
#define LOG_COMPONENT "cluster"
#include "cluster/cluster.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MONITOR_TICK_MS       2000
#define MASTERLEASE_PREFIX    "/registry/masterleases/"
#define NODES_PREFIX          "/registry/nodes/"
#define MEMBER_ANNOTATION     "etcd.k3c.io/member"
#define MAX_PENDING_DELETIONS 16
#define MAX_LEARNERS_TRACKED  8

struct learner_seen {
    uint64_t id;
    int64_t since_ms;
};

struct cluster_monitor {
    struct cluster_monitor_config cfg; /* strings owned (copied) */
    struct etcd_tls_paths tls;         /* copy of cfg.tls when embedded */
    struct http_client *api;           /* the API on loopback, as admin */
    struct http_client *local_etcd;
    struct http_client *peers; /* cfg.peer_etcd_urls: member list while a learner */
    struct store_watch *node_watch;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* stopping, deleted[] */
    pthread_cond_t wake;
    bool stopping;
    char *deleted[MAX_PENDING_DELETIONS];
    size_t n_deleted;

    int64_t lease_id;
    char *lease_key;
    char *role_written; /* the annotation value last written */
    bool marker_written;
    struct learner_seen learners[MAX_LEARNERS_TRACKED];
};

/* ---- the API server's endpoint lease and default/kubernetes ---- */

/* Keeps this server's key under MASTERLEASE_PREFIX alive: a keep-alive
 * while the lease lives, else a new lease and the key put again. */
static int
lease_refresh(struct cluster_monitor *m, struct k3c_err *err)
{
    struct store_kv cur = {0};
    _cleanup_free_ char *value = NULL;
    int64_t ttl;

    if (m->lease_id && store_lease_keepalive(m->cfg.store, m->lease_id, &ttl, err) == 0)
        return 0;
    k3c_err_clear(err);
    if (store_lease_grant(m->cfg.store, m->cfg.lease_ttl_s, &m->lease_id, err) < 0)
        return -1;
    value = k3c_xasprintf("{\"ip\":\"%s\",\"port\":%d}", m->cfg.advertise_ip, m->cfg.api_port);
    if (store_create(m->cfg.store, m->lease_key, value, strlen(value), m->lease_id, NULL, err) == 0)
        return 0;
    if (err->kind != K3C_E_EXISTS)
        return -1;
    /* Our key from an earlier run, on a lease not yet expired. */
    k3c_err_clear(err);
    if (store_get(m->cfg.store, m->lease_key, &cur, err) < 0)
        return -1;
    store_update(m->cfg.store, m->lease_key, value, strlen(value), cur.mod_revision, m->lease_id,
                 NULL, NULL, err);
    store_kv_fini(&cur);
    return err->kind ? -1 : 0;
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The live API servers' addresses, sorted, as a JSON array of strings; the
 * port of the last one in *port (they all listen on the same one). */
static json_t *
live_servers(struct cluster_monitor *m, int *port, struct k3c_err *err)
{
    struct store_list l = {0};
    const char **ips;
    json_t *out;

    if (store_list(m->cfg.store, MASTERLEASE_PREFIX, 0, NULL, 0, &l, err) < 0)
        return NULL;
    ips = k3c_xcalloc(l.n_items + 1, sizeof(*ips));
    *port = m->cfg.api_port;
    for (size_t i = 0; i < l.n_items; i++) {
        ips[i] = l.items[i].key + strlen(MASTERLEASE_PREFIX);
        json_t *v = json_loads(l.items[i].value, 0, NULL);

        if (json_integer_value(json_object_get(v, "port")) > 0)
            *port = (int)json_integer_value(json_object_get(v, "port"));
        json_decref(v);
    }
    qsort(ips, l.n_items, sizeof(*ips), str_cmp);
    out = json_array();
    for (size_t i = 0; i < l.n_items; i++)
        json_array_append_new(out, json_string(ips[i]));
    free(ips);
    store_list_fini(&l);
    return out;
}

static json_t *
endpoints_subsets(const json_t *ips, int port)
{
    json_t *addrs = json_array(), *ip;
    size_t i;

    json_array_foreach(ips, i, ip) json_array_append_new(addrs, json_pack("{s:O}", "ip", ip));
    if (json_array_size(addrs) == 0) {
        json_decref(addrs);
        return json_array();
    }
    return json_pack("[{s:o, s:[{s:s, s:i, s:s}]}]", "addresses", addrs, "ports", "name", "https",
                     "port", port, "protocol", "TCP");
}

static json_t *
slice_endpoints(const json_t *ips)
{
    json_t *eps = json_array(), *ip;
    size_t i;

    json_array_foreach(ips, i, ip) json_array_append_new(
        eps, json_pack("{s:[O], s:{s:b}}", "addresses", ip, "conditions", "ready", 1));
    return eps;
}

/* PUTs obj over the current one (its resourceVersion) or POSTs it. */
static int
api_put(struct cluster_monitor *m, const char *coll, const char *name, json_t *obj,
        struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%s", coll, name);
    _cleanup_json_ json_t *cur = NULL;
    long st = http_client_json(m->api, "GET", path, NULL, NULL, &cur, err);

    if (st == 200) {
        json_object_set(json_object_get(obj, "metadata"), "resourceVersion",
                        json_object_get(json_object_get(cur, "metadata"), "resourceVersion"));
        k3c_err_clear(err);
        return http_client_json(m->api, "PUT", path, NULL, obj, NULL, err) == 200 ? 0 : -1;
    }
    if (st != 404)
        return -1;
    k3c_err_clear(err);
    return http_client_json(m->api, "POST", coll, NULL, obj, NULL, err) == 201 ? 0 : -1;
}

/* The addresses default/kubernetes lists now, as a sorted JSON array. */
static json_t *
listed_servers(struct cluster_monitor *m, int *port)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *ep = NULL;
    json_t *subset = NULL, *out = json_array(), *a;
    size_t i;

    *port = 0;
    if (http_client_json(m->api, "GET", "/api/v1/namespaces/default/endpoints/kubernetes", NULL,
                         NULL, &ep, &err) != 200)
        return out;
    subset = json_array_get(json_object_get(ep, "subsets"), 0);
    json_array_foreach(json_object_get(subset, "addresses"), i, a)
        json_array_append(out, json_object_get(a, "ip"));
    *port = (int)json_integer_value(
        json_object_get(json_array_get(json_object_get(subset, "ports"), 0), "port"));
    return out;
}

static void
endpoints_reconcile(struct cluster_monitor *m)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *live = NULL, *listed = NULL, *ep = NULL, *slice = NULL;
    int port, listed_port;

    if (lease_refresh(m, &err) < 0) {
        log_debug("endpoint lease: %s", err.msg);
        return;
    }
    live = live_servers(m, &port, &err);
    if (!live)
        return;
    listed = listed_servers(m, &listed_port);
    if (json_equal(live, listed) && listed_port == port)
        return;
    ep = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind", "Endpoints",
                   "metadata", "name", "kubernetes", "namespace", "default", "subsets",
                   endpoints_subsets(live, port));
    slice =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s, s:o, s:[{s:s, s:i, s:s}]}",
                  "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name",
                  "kubernetes", "namespace", "default", "labels", "kubernetes.io/service-name",
                  "kubernetes", "endpointslice.kubernetes.io/managed-by", "k3c-apiserver",
                  "addressType", "IPv4", "endpoints", slice_endpoints(live), "ports", "name",
                  "https", "port", port, "protocol", "TCP");
    if (api_put(m, "/api/v1/namespaces/default/endpoints", "kubernetes", ep, &err) < 0 ||
        api_put(m, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "kubernetes",
                slice, &err) < 0) {
        log_debug("default/kubernetes endpoints: %s", err.msg);
        return;
    }
    {
        _cleanup_free_ char *text = json_dumps(live, JSON_COMPACT);

        log_info("default/kubernetes endpoints: %s port %d", text, port);
    }
}

/* ---- etcd membership ---- */

static const char *
role_of(const struct etcd_status *st)
{
    if (st->learner)
        return "learner";
    return st->leader_id == st->member_id ? "leader" : "voter";
}

static void
annotate_role(struct cluster_monitor *m, const char *role)
{
    struct k3c_err err = {0};
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *patch = NULL;

    if (m->role_written && strcmp(m->role_written, role) == 0)
        return;
    path = k3c_xasprintf("/api/v1/nodes/%s", m->cfg.node_name);
    patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", MEMBER_ANNOTATION, role);
    if (http_client_json(m->api, "PATCH", path, "application/merge-patch+json", patch, NULL,
                         &err) != 200)
        return; /* no Node yet (or --disable-agent): next tick */
    free(m->role_written);
    m->role_written = k3c_xstrdup(role);
    log_info("etcd member %s is now %s", m->cfg.member_name, role);
}

/* A client for every member but this one (learners cannot serve the
 * membership calls). NULL when there is no other member. */
static struct http_client *
others_client(struct cluster_monitor *m, const struct etcd_members *ms, uint64_t self)
{
    const char **eps = k3c_xcalloc(ms->n + 1, sizeof(*eps));
    struct http_client *c = NULL;
    struct k3c_err err = {0};
    size_t n = 0;

    for (size_t i = 0; i < ms->n; i++)
        if (ms->v[i].id != self && ms->v[i].client_url[0] && !ms->v[i].learner)
            eps[n++] = ms->v[i].client_url;
    if (n)
        c = etcd_client_new(eps, &m->tls, &err);
    free(eps);
    return c;
}

static void
try_promote(struct cluster_monitor *m, const struct etcd_members *ms, uint64_t self)
{
    struct http_client *c = others_client(m, ms, self);
    struct k3c_err err = {0};

    if (!c)
        return;
    if (etcd_member_promote(c, self, &err) == 0)
        log_info("etcd member %s promoted from learner to voter", m->cfg.member_name);
    else
        log_debug("promotion of %s: %s", m->cfg.member_name, err.msg);
    http_client_free(c);
}

/* The leader removes a learner that has not caught up for the timeout. */
static void
expire_learners(struct cluster_monitor *m, const struct etcd_members *ms)
{
    int64_t now = k3c_now_ms();

    /* Forget learners that were promoted or removed. */
    for (size_t j = 0; j < MAX_LEARNERS_TRACKED; j++) {
        const struct etcd_member *m2 =
            m->learners[j].id ? etcd_members_find(ms, NULL, m->learners[j].id) : NULL;

        if (!m2 || !m2->learner)
            m->learners[j].id = 0;
    }
    for (size_t i = 0; i < ms->n; i++) {
        struct learner_seen *slot = NULL;
        struct k3c_err err = {0};

        if (!ms->v[i].learner)
            continue;
        for (size_t j = 0; j < MAX_LEARNERS_TRACKED && !slot; j++)
            if (m->learners[j].id == ms->v[i].id)
                slot = &m->learners[j];
        for (size_t j = 0; j < MAX_LEARNERS_TRACKED && !slot; j++)
            if (m->learners[j].id == 0) {
                slot = &m->learners[j];
                slot->id = ms->v[i].id;
                slot->since_ms = now;
            }
        if (!slot || now - slot->since_ms < (int64_t)m->cfg.learner_timeout_s * 1000)
            continue;
        log_warn("etcd learner %s (%" PRIx64 ") did not catch up in %d s: removing it",
                 ms->v[i].name[0] ? ms->v[i].name : ms->v[i].peer_url, ms->v[i].id,
                 m->cfg.learner_timeout_s);
        if (etcd_member_remove(m->local_etcd, ms->v[i].id, &err) < 0)
            log_warn("removing learner: %s", err.msg);
        slot->id = 0;
    }
}

static void
post_event(struct cluster_monitor *m, const char *node, const char *reason, const char *msg)
{
    struct k3c_err err = {0};
    char ts[40], name[128];
    unsigned char rnd[4];
    _cleanup_json_ json_t *ev = NULL;

    k3c_time_rfc3339(k3c_wall_ms() / 1000, ts, sizeof(ts));
    k3c_random_bytes(rnd, sizeof(rnd));
    snprintf(name, sizeof(name), "%.80s.%02x%02x%02x%02x", node, rnd[0], rnd[1], rnd[2], rnd[3]);
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}, s:s, "
                   "s:s, s:i}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                   "default", "involvedObject", "kind", "Node", "name", node, "apiVersion", "v1",
                   "reason", reason, "message", msg, "type", "Warning", "source", "component",
                   "k3c-etcd", "firstTimestamp", ts, "lastTimestamp", ts, "count", 1);
    http_client_json(m->api, "POST", "/api/v1/namespaces/default/events", NULL, ev, NULL, &err);
}

/* Members that answer, among the voters other than skip_id. */
static size_t
healthy_voters(struct cluster_monitor *m, const struct etcd_members *ms, uint64_t skip_id)
{
    size_t n = 0;

    for (size_t i = 0; i < ms->n; i++) {
        const char *eps[] = {ms->v[i].client_url, NULL};
        struct k3c_err err = {0};
        struct etcd_status st;
        struct http_client *c;

        if (ms->v[i].learner || ms->v[i].id == skip_id || !ms->v[i].client_url[0])
            continue;
        c = etcd_client_new(eps, &m->tls, &err);
        if (c && etcd_member_status(c, &st, &err) == 0 && st.leader_id)
            n++;
        http_client_free(c);
    }
    return n;
}

static void
remove_member_of(struct cluster_monitor *m, const struct etcd_members *ms, const char *node)
{
    _cleanup_free_ char *name = etcd_member_name_for(node);
    const struct etcd_member *gone = etcd_members_find(ms, name, 0);
    struct k3c_err err = {0};
    size_t voters = 0, healthy, quorum;
    char msg[512];

    if (!gone)
        return;
    for (size_t i = 0; i < ms->n; i++)
        voters += !ms->v[i].learner;
    healthy = healthy_voters(m, ms, gone->id);
    quorum = gone->learner ? voters / 2 + 1 : (voters - 1) / 2 + 1;
    if (healthy < quorum || voters <= 1) {
        snprintf(msg, sizeof(msg),
                 "etcd member %s kept: removing it would leave %zu healthy voter(s) of %zu, "
                 "below quorum %zu",
                 name, healthy, gone->learner ? voters : voters - 1, quorum);
        log_warn("%s", msg);
        post_event(m, node, "EtcdMemberRemovalRefused", msg);
        return;
    }
    if (etcd_member_remove(m->local_etcd, gone->id, &err) < 0) {
        snprintf(msg, sizeof(msg), "etcd member %s could not be removed: %s", name, err.msg);
        log_warn("%s", msg);
        post_event(m, node, "EtcdMemberRemovalFailed", msg);
        return;
    }
    log_info("node %s deleted: removed its etcd member %s (%" PRIx64 ")", node, name, gone->id);
}

static void
write_marker(struct cluster_monitor *m, size_t members)
{
    struct k3c_err err = {0};

    if (m->marker_written || members < 2 || !m->cfg.ha_marker)
        return;
    if (k3c_write_file(m->cfg.ha_marker, "ha\n", 3, 0600, &err) == 0)
        m->marker_written = true;
}

static void
membership_tick(struct cluster_monitor *m, char **deleted, size_t n_deleted)
{
    struct k3c_err err = {0};
    struct etcd_status st;
    struct etcd_members ms = {0};

    /* A learner cannot list the members: ask the store's other members. */
    if (etcd_member_status(m->local_etcd, &st, &err) < 0 ||
        etcd_member_list(st.learner && m->peers ? m->peers : m->local_etcd, &ms, &err) < 0) {
        log_debug("etcd status: %s", err.msg);
        return;
    }
    write_marker(m, ms.n);
    annotate_role(m, role_of(&st));
    if (st.learner)
        try_promote(m, &ms, st.member_id);
    if (st.leader_id && st.leader_id == st.member_id) {
        expire_learners(m, &ms);
        for (size_t i = 0; i < n_deleted; i++)
            remove_member_of(m, &ms, deleted[i]);
    }
    etcd_members_fini(&ms);
}

/* ---- node deletions (store watch thread) ---- */

static void
on_node_event(void *ud, const struct store_event *ev)
{
    struct cluster_monitor *m = ud;
    const char *name;

    if (ev->type != STORE_EVENT_DELETE)
        return;
    name = ev->kv->key + strlen(NODES_PREFIX);
    pthread_mutex_lock(&m->lock);
    if (m->n_deleted < MAX_PENDING_DELETIONS)
        m->deleted[m->n_deleted++] = k3c_xstrdup(name);
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
}

static void
on_node_watch_error(void *ud, const struct k3c_err *err)
{
    (void)ud;
    log_warn("node watch ended: %s (deleted nodes keep their etcd members until restart)",
             err->msg);
}

static const struct store_watch_ops node_watch_ops = {.on_event = on_node_event,
                                                      .on_error = on_node_watch_error};

/* ---- the thread ---- */

static void *
monitor_thread(void *arg)
{
    struct cluster_monitor *m = arg;

    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        char *deleted[MAX_PENDING_DELETIONS];
        size_t n = m->n_deleted;
        int64_t deadline = k3c_now_ms() + MONITOR_TICK_MS;

        memcpy(deleted, m->deleted, n * sizeof(*deleted));
        m->n_deleted = 0;
        pthread_mutex_unlock(&m->lock);
        endpoints_reconcile(m);
        if (m->local_etcd)
            membership_tick(m, deleted, n);
        for (size_t i = 0; i < n; i++)
            free(deleted[i]);
        pthread_mutex_lock(&m->lock);
        while (!m->stopping && m->n_deleted == 0 &&
               k3c_cond_wait_until(&m->wake, &m->lock, deadline))
            ;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static char *
dup_or_null(const char *s)
{
    return s ? k3c_xstrdup(s) : NULL;
}

static void
config_copy(struct cluster_monitor *m, const struct cluster_monitor_config *cfg)
{
    m->cfg = *cfg;
    m->cfg.api_url = dup_or_null(cfg->api_url);
    m->cfg.ca_file = dup_or_null(cfg->ca_file);
    m->cfg.cert_file = dup_or_null(cfg->cert_file);
    m->cfg.key_file = dup_or_null(cfg->key_file);
    m->cfg.node_name = dup_or_null(cfg->node_name);
    m->cfg.advertise_ip = dup_or_null(cfg->advertise_ip);
    m->cfg.local_etcd_url = dup_or_null(cfg->local_etcd_url);
    m->cfg.member_name = dup_or_null(cfg->member_name);
    m->cfg.ha_marker = dup_or_null(cfg->ha_marker);
    m->cfg.learner_timeout_s = cfg->learner_timeout_s > 0 ? cfg->learner_timeout_s : 600;
    m->cfg.lease_ttl_s = cfg->lease_ttl_s > 0 ? cfg->lease_ttl_s : 15;
    if (cfg->tls) {
        m->tls.ca_cert = k3c_xstrdup(cfg->tls->ca_cert);
        m->tls.client_cert = k3c_xstrdup(cfg->tls->client_cert);
        m->tls.client_key = k3c_xstrdup(cfg->tls->client_key);
    }
    m->lease_key = k3c_xasprintf(MASTERLEASE_PREFIX "%s", cfg->advertise_ip);
}

static bool
cfg_has_peers(const char *const *urls)
{
    return urls && urls[0];
}

static int
clients_new(struct cluster_monitor *m, struct k3c_err *err)
{
    const char *api[] = {m->cfg.api_url, NULL};
    const struct http_client_config hc = {.endpoints = api,
                                          .ca_file = m->cfg.ca_file,
                                          .cert_file = m->cfg.cert_file,
                                          .key_file = m->cfg.key_file,
                                          .request_timeout_ms = 5000};
    int64_t rev = 0;

    m->api = http_client_new(&hc, err);
    if (!m->api)
        return -1;
    if (!m->cfg.tls)
        return 0;
    {
        const char *eps[] = {m->cfg.local_etcd_url, NULL};

        m->local_etcd = etcd_client_new(eps, &m->tls, err);
    }
    if (cfg_has_peers(m->cfg.peer_etcd_urls))
        m->peers = etcd_client_new(m->cfg.peer_etcd_urls, &m->tls, err);
    if (!m->local_etcd || store_revision(m->cfg.store, &rev, err) < 0)
        return -1;
    m->node_watch = store_watch_start(m->cfg.store, NODES_PREFIX, rev + 1, &node_watch_ops, m, err);
    return m->node_watch ? 0 : -1;
}

struct cluster_monitor *
cluster_monitor_start(const struct cluster_monitor_config *cfg, struct k3c_err *err)
{
    struct cluster_monitor *m = k3c_xcalloc(1, sizeof(*m));
    int rc;

    pthread_mutex_init(&m->lock, NULL);
    k3c_cond_init(&m->wake);
    config_copy(m, cfg);
    if (clients_new(m, err) < 0) {
        cluster_monitor_stop(m);
        return NULL;
    }
    rc = pthread_create(&m->thread, NULL, monitor_thread, m);
    if (rc != 0) {
        k3c_err_sys(err, rc, "cluster monitor thread");
        cluster_monitor_stop(m);
        return NULL;
    }
    m->thread_started = true;
    return m;
}

static void
config_free(struct cluster_monitor *m)
{
    free((char *)m->cfg.api_url);
    free((char *)m->cfg.ca_file);
    free((char *)m->cfg.cert_file);
    free((char *)m->cfg.key_file);
    free((char *)m->cfg.node_name);
    free((char *)m->cfg.advertise_ip);
    free((char *)m->cfg.local_etcd_url);
    free((char *)m->cfg.member_name);
    free((char *)m->cfg.ha_marker);
    free(m->tls.ca_cert);
    free(m->tls.client_cert);
    free(m->tls.client_key);
}

void
cluster_monitor_stop(struct cluster_monitor *m)
{
    struct k3c_err err = {0};

    if (!m)
        return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        pthread_cond_broadcast(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    if (m->node_watch)
        store_watch_stop(m->node_watch);
    /* Leave default/kubernetes at once rather than after the lease TTL. */
    if (m->lease_id && store_lease_revoke(m->cfg.store, m->lease_id, &err) < 0)
        log_debug("revoking the endpoint lease: %s", err.msg);
    for (size_t i = 0; i < m->n_deleted; i++)
        free(m->deleted[i]);
    http_client_free(m->api);
    http_client_free(m->local_etcd);
    http_client_free(m->peers);
    free(m->lease_key);
    free(m->role_written);
    config_free(m);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
