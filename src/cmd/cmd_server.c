/* SPDX-License-Identifier: Apache-2.0
 * cmd_server.c - `k3c server`: prepares the data dir and certificates,
 * starts the supervised etcd member, checks the store, then waits for
 * SIGTERM/SIGINT and shuts down in reverse order. Signals are blocked in
 * every thread and taken synchronously here with sigtimedwait. */
#define LOG_COMPONENT "server"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "agent/agent.h"
#include "api/api.h"
#include "cmd/server.h"
#include "controllers/controller.h"
#include "etcd/etcd.h"
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define SERVER_ETCD_READY_TIMEOUT_MS 60000

struct server_paths {
    char *server_dir, *tls_dir, *db_dir, *etcd_dir, *logs_dir, *etcd_log;
};

static void
server_paths_init(struct server_paths *p, const char *data_dir)
{
    p->server_dir = k3c_xasprintf("%s/server", data_dir);
    p->tls_dir = k3c_xasprintf("%s/tls", p->server_dir);
    p->db_dir = k3c_xasprintf("%s/db", p->server_dir);
    p->etcd_dir = k3c_xasprintf("%s/etcd", p->db_dir);
    p->logs_dir = k3c_xasprintf("%s/logs", p->server_dir);
    p->etcd_log = k3c_xasprintf("%s/etcd.log", p->logs_dir);
}

static void
server_paths_fini(struct server_paths *p)
{
    free(p->server_dir);
    free(p->tls_dir);
    free(p->db_dir);
    free(p->etcd_dir);
    free(p->logs_dir);
    free(p->etcd_log);
}

static int
make_dirs(const struct server_paths *p, struct k3c_err *err)
{
    const char *dirs[] = {p->tls_dir, p->db_dir, p->logs_dir};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(dirs); i++)
        if (k3c_mkdir_p(dirs[i], 0700, err) < 0)
            return -1;
    return 0;
}

/* Polls etcd's health until it answers, a signal arrives or the timeout
 * passes. Returns 1 healthy, 0 timeout, or -signal. */
static int
wait_etcd_ready(struct etcd *e, const sigset_t *stop, int64_t timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    while (k3c_now_ms() < deadline) {
        struct k3c_err err = {0};
        int sig;

        if (etcd_wait_healthy(e, 500, &err) == 0)
            return 1;
        sig = cmd_wait_signal(stop, 200);
        if (sig > 0)
            return -sig;
    }
    return 0;
}

/* A store over the etcd at endpoint, checked with one read. */
static struct store *
open_store(const char *endpoint, const char *ca, const char *cert, const char *key,
           struct k3c_err *err)
{
    const char *endpoints[] = {endpoint, NULL};
    const struct store_config sc = {
        .endpoints = endpoints, .ca_file = ca, .cert_file = cert, .key_file = key};
    struct store *s = store_new(&sc, err);
    int64_t rev;

    if (!s)
        return NULL;
    if (store_revision(s, &rev, err) < 0) {
        store_free(s);
        return NULL;
    }
    log_info("store ready at %s, revision %" PRId64, endpoint, rev);
    return s;
}

static struct etcd *
etcd_from_config(const struct k3c_config *cfg, const struct server_paths *p,
                 const struct etcd_tls_paths *tls, struct k3c_err *err)
{
    const struct etcd_config ec = {
        .binary = cfg->etcd_binary,
        .data_dir = p->etcd_dir,
        .log_file = p->etcd_log,
        .tls = tls,
        .node_name = cfg->node_name,
        .node_ip = cfg->node_ip,
        .client_port = cfg->etcd_client_port,
        .peer_port = cfg->etcd_peer_port,
        .heartbeat_interval_ms = cfg->etcd_heartbeat_interval_ms,
        .election_timeout_ms = cfg->etcd_election_timeout_ms,
        .quota_backend_bytes = cfg->etcd_quota_backend_bytes,
        .auto_compaction_mode = cfg->etcd_auto_compaction_mode,
        .auto_compaction_retention = cfg->etcd_auto_compaction_retention,
    };

    return etcd_new(&ec, err);
}

/* Certificates, the API server on --https-listen-port, the kubeconfig. */
static struct api_server *
start_api(const struct k3c_config *cfg, const struct server_paths *p, struct store *s,
          struct k3c_err *err)
{
    struct api_tls_paths tls;
    struct api_config ac = {0};
    struct api_server *api = NULL;
    _cleanup_free_ char *token_path = NULL, *secret = NULL;

    api_tls_paths_init(&tls, p->tls_dir);
    token_path = k3c_xasprintf("%s/token", p->server_dir);
    if (api_certs_ensure(&tls, cfg, err) < 0 ||
        node_token_ensure(token_path, tls.server_ca_cert, cfg->token, &secret, err) < 0)
        goto out;
    ac.server_ca_cert_file = tls.server_ca_cert;
    ac.server_ca_key_file = tls.server_ca_key;
    ac.client_ca_key_file = tls.client_ca_key;
    ac.join_secret = secret;
    ac.bind_address = cfg->bind_address;
    ac.port = cfg->https_listen_port;
    ac.serving_cert_file = tls.serving_cert;
    ac.serving_key_file = tls.serving_key;
    ac.client_ca_file = tls.client_ca_cert;
    ac.token_file = cfg->token_file;
    ac.default_not_ready_toleration_s = cfg->default_not_ready_toleration_s;
    ac.default_unreachable_toleration_s = cfg->default_unreachable_toleration_s;
    api = api_server_new(&ac, s, err);
    if (!api)
        goto out;
    if (api_server_start(api, err) < 0 ||
        kubeconfig_write(cfg->write_kubeconfig, cfg->write_kubeconfig_mode, &tls,
                         cfg->https_listen_port, err) < 0) {
        api_server_free(api);
        api = NULL;
    }
out:
    api_tls_paths_fini(&tls);
    return api;
}

/* The server's own node, joined over loopback with its own token, like any
 * other node (K3s's "server + agent"). */
static int
start_own_agent(const struct k3c_config *cfg, const struct server_paths *p, const sigset_t *stop,
                struct agent **out, struct k3c_err *err)
{
    _cleanup_free_ char *token_path = k3c_xasprintf("%s/token", p->server_dir);
    _cleanup_free_ char *token = NULL;
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);

    if (k3c_read_file(token_path, &token, NULL, err) < 0)
        return -1;
    token[strcspn(token, "\r\n")] = '\0';
    return cmd_run_agent(cfg, url, token, true, stop, out, err);
}

/* The control loops over api's caches, writing back through the API on
 * loopback as the admin (K3s's embedded controller-manager and scheduler). */
static struct ctl_manager *
start_controllers(const struct k3c_config *cfg, const struct server_paths *p,
                  struct api_server *api, struct k3c_err *err)
{
    struct api_tls_paths tls;
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);
    _cleanup_free_ char *identity = NULL;
    unsigned char rnd[4];
    struct ctl_config cc = {0};
    struct ctl_manager *m;

    k3c_random_bytes(rnd, sizeof(rnd));
    identity = k3c_xasprintf("%s_%02x%02x%02x%02x", cfg->node_name, rnd[0], rnd[1], rnd[2], rnd[3]);
    api_tls_paths_init(&tls, p->tls_dir);
    cc.api_url = url;
    cc.ca_file = tls.server_ca_cert;
    cc.cert_file = tls.admin_cert;
    cc.key_file = tls.admin_key;
    cc.identity = identity;
    cc.lease_duration_s = cfg->leader_elect_lease_duration_s;
    cc.renew_deadline_s = cfg->leader_elect_renew_deadline_s;
    cc.retry_period_s = cfg->leader_elect_retry_period_s;
    cc.node_monitor_grace_period_s = cfg->node_monitor_grace_period_s;
    cc.default_not_ready_toleration_s = cfg->default_not_ready_toleration_s;
    cc.default_unreachable_toleration_s = cfg->default_unreachable_toleration_s;
    cc.cluster_cidr = cfg->cluster_cidr;
    cc.disable_scheduler = cfg->disable_scheduler;
    cc.disable_controllers = cfg->disable_controller_manager;
    m = ctl_manager_new(&cc, api, err);
    api_tls_paths_fini(&tls);
    if (m && ctl_manager_start(m, err) < 0) {
        ctl_manager_free(m);
        m = NULL;
    }
    return m;
}

/* Starts the embedded etcd and opens the store on it. 1: store open; 0:
 * a signal came first; -1 with err. */
static int
start_embedded_store(const struct k3c_config *cfg, const struct server_paths *paths,
                     const struct etcd_tls_paths *tls, const sigset_t *stop, struct etcd **e,
                     struct store **s, struct k3c_err *err)
{
    int ready;

    /* etcd_new finds the binary first: a missing etcd writes nothing. */
    *e = etcd_from_config(cfg, paths, tls, err);
    if (!*e || make_dirs(paths, err) < 0 ||
        etcd_certs_ensure(tls, cfg->node_name, cfg->node_ip, err) < 0 || etcd_start(*e, err) < 0)
        return -1;
    ready = wait_etcd_ready(*e, stop, SERVER_ETCD_READY_TIMEOUT_MS);
    if (ready < 0) {
        log_info("signal %d before etcd was ready; shutting down", -ready);
        return 0;
    }
    if (ready == 0)
        return k3c_err_set(err, K3C_E_TIMEOUT, "etcd not healthy after %d s; see %s",
                           SERVER_ETCD_READY_TIMEOUT_MS / 1000, paths->etcd_log);
    log_info("(member %s) healthy at %s", etcd_member_name(*e), etcd_client_url(*e));
    *s = open_store(etcd_client_url(*e), tls->ca_cert, tls->client_cert, tls->client_key, err);
    return *s ? 1 : -1;
}

/* Runs until a stop signal. Returns the exit code. */
static int
server_run(const struct k3c_config *cfg, const sigset_t *stop)
{
    struct server_paths paths;
    struct etcd_tls_paths tls;
    struct k3c_err err = {0};
    struct etcd *e = NULL;
    struct store *s = NULL;
    struct api_server *api = NULL;
    struct agent *agent = NULL;
    struct ctl_manager *ctl = NULL;
    struct vip *vip = NULL;
    int rc = K3C_EXIT_FAIL, sig;

    server_paths_init(&paths, cfg->data_dir);
    etcd_tls_paths_init(&tls, paths.tls_dir);
    log_info("k3c v%s server starting: node %s, ip %s, data dir %s", K3C_VERSION, cfg->node_name,
             cfg->node_ip, cfg->data_dir);
    if (cfg->datastore_endpoint) {
        log_info("external datastore %s: no embedded etcd", cfg->datastore_endpoint);
        if (make_dirs(&paths, &err) < 0 ||
            !(s = open_store(cfg->datastore_endpoint, cfg->datastore_cafile,
                             cfg->datastore_certfile, cfg->datastore_keyfile, &err)))
            goto out;
    } else {
        int st = start_embedded_store(cfg, &paths, &tls, stop, &e, &s, &err);

        if (st <= 0) {
            rc = st == 0 ? K3C_EXIT_OK : rc;
            goto out;
        }
    }
    api = start_api(cfg, &paths, s, &err);
    if (!api || !(ctl = start_controllers(cfg, &paths, api, &err)))
        goto out;
    if (cfg->vip && !(vip = server_vip_start(cfg, paths.tls_dir, e ? etcd_client_url(e) : NULL,
                                             &tls, api, &err)))
        goto out;
    sig = cfg->disable_agent ? 0 : start_own_agent(cfg, &paths, stop, &agent, &err);
    if (sig < 0)
        goto out;
    if (sig == 0) {
        log_info("k3c server ready");
        sig = cmd_wait_signal(stop, -1);
    }
    log_info("signal %d (%s): shutting down", sig, strsignal(sig));
    rc = K3C_EXIT_OK;
out:
    if (rc != K3C_EXIT_OK)
        log_error("%s", err.msg);
    server_vip_stop(vip, api); /* first: the next holder takes over at once */
    agent_free(agent);
    ctl_manager_free(ctl);
    api_server_free(api);
    store_free(s);
    etcd_free(e);
    etcd_tls_paths_fini(&tls);
    server_paths_fini(&paths);
    if (rc == K3C_EXIT_OK)
        log_info("k3c server stopped");
    return rc;
}

int
cmd_server(int argc, char **argv, char **envp)
{
    struct k3c_config cfg = {0};
    sigset_t stop;
    int rc = cmd_load_config(&cfg, CONFIG_ROLE_SERVER, "server", argc, argv, envp);

    if (rc >= 0) {
        config_fini(&cfg);
        return rc;
    }
    /* Block the stop signals before any thread exists, so every thread
     * inherits the mask and only sigtimedwait here sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    rc = server_run(&cfg, &stop);
    config_fini(&cfg);
    return rc;
}
