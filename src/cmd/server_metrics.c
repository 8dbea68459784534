/* SPDX-License-Identifier: Apache-2.0
 * server_metrics.c - the server's operational lines on /metrics (issue
 * #21): each certificate's time to expiry and the data dir's free space
 * (pki_node_metrics_write), and the embedded etcd member's database size and
 * the part in use. A thread gathers them every SERVER_METRICS_PERIOD_MS
 * (a scrape must not wait on etcd); a scrape copies the last text. The same
 * thread runs the certificate monitor's hourly step (server_certmon.c). */
#define LOG_COMPONENT "server"

#include "cmd/server.h"

#include "api/api.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cmd/server_etcdops.h"
#include "etcd/etcd_ops.h"
#include "pki/pki.h"

#include <pthread.h>
#include <stdlib.h>

#define SERVER_METRICS_PERIOD_MS 15000

struct server_metrics {
    char *data_dir;
    bool etcd; /* embedded etcd to ask */
    struct etcd_snapshot_config etcd_cfg;
    struct api_server *api;
    struct server_certmon *certmon; /* borrowed, may be NULL */
    int64_t next_gather_ms;
    pthread_t thread;
    pthread_mutex_t lock; /* text, stopping */
    pthread_cond_t wake;
    bool stopping;
    char *text;
};

static void
gather(struct server_metrics *m)
{
    struct k3c_buf b;
    struct k3c_err err = {0};
    int64_t size = 0, in_use = 0;
    char *old;

    k3c_buf_init(&b);
    pki_node_metrics_write(m->data_dir, &b);
    if (m->etcd && etcd_db_sizes(m->etcd_cfg.client_url, m->etcd_cfg.ca_file, m->etcd_cfg.cert_file,
                                 m->etcd_cfg.key_file, &size, &in_use, &err) == 0)
        k3c_buf_appendf(&b,
                        "# HELP etcd_mvcc_db_total_size_in_bytes The embedded etcd member's "
                        "database file size.\n"
                        "# TYPE etcd_mvcc_db_total_size_in_bytes gauge\n"
                        "etcd_mvcc_db_total_size_in_bytes %lld\n"
                        "# HELP etcd_mvcc_db_total_size_in_use_in_bytes The part of it in use.\n"
                        "# TYPE etcd_mvcc_db_total_size_in_use_in_bytes gauge\n"
                        "etcd_mvcc_db_total_size_in_use_in_bytes %lld\n",
                        (long long)size, (long long)in_use);
    else if (m->etcd)
        log_debug("metrics: etcd status: %s", err.msg);
    pthread_mutex_lock(&m->lock);
    old = m->text;
    m->text = k3c_buf_steal(&b, NULL);
    pthread_mutex_unlock(&m->lock);
    free(old);
}

static void *
metrics_thread(void *arg)
{
    struct server_metrics *m = arg;
    bool stop = false;

    while (!stop) {
        int64_t now = k3c_now_ms(), deadline;

        if (now >= m->next_gather_ms) {
            gather(m);
            m->next_gather_ms = now + SERVER_METRICS_PERIOD_MS;
        }
        deadline = m->next_gather_ms;
        if (m->certmon) {
            int64_t due = server_certmon_step(m->certmon, now);

            deadline = due < deadline ? due : deadline;
        }
        pthread_mutex_lock(&m->lock);
        while (!m->stopping && k3c_cond_wait_until(&m->wake, &m->lock, deadline))
            ;
        stop = m->stopping;
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

static void
write_metrics(void *data, struct k3c_buf *b)
{
    struct server_metrics *m = data;

    pthread_mutex_lock(&m->lock);
    if (m->text)
        k3c_buf_appendf(b, "%s", m->text);
    pthread_mutex_unlock(&m->lock);
}

struct server_metrics *
server_metrics_start(const struct k3c_config *cfg, bool embedded_etcd, struct api_server *api,
                     struct server_certmon *certmon)
{
    struct server_metrics *m = k3c_xcalloc(1, sizeof(*m));

    m->data_dir = k3c_xstrdup(cfg->data_dir);
    m->etcd = embedded_etcd;
    if (embedded_etcd)
        server_snapshot_config_init(&m->etcd_cfg, cfg);
    m->api = api;
    m->certmon = certmon;
    pthread_mutex_init(&m->lock, NULL);
    k3c_cond_init(&m->wake);
    gather(m);
    m->next_gather_ms = k3c_now_ms() + SERVER_METRICS_PERIOD_MS;
    if (pthread_create(&m->thread, NULL, metrics_thread, m) != 0) {
        log_warn("metrics: no thread; certificate and disk figures stay as at start");
        m->thread = 0;
    }
    api_server_add_metrics_fn(api, write_metrics, m);
    return m;
}

void
server_metrics_stop(struct server_metrics *m)
{
    if (!m)
        return;
    api_server_remove_metrics_fn(m->api, write_metrics, m);
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    if (m->thread)
        pthread_join(m->thread, NULL);
    if (m->etcd)
        server_snapshot_config_fini(&m->etcd_cfg);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m->text);
    free(m->data_dir);
    free(m);
}
