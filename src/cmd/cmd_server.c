/* SPDX-License-Identifier: Apache-2.0
 * cmd_server.c - `k3c server`: prepares the data dir and certificates,
 * starts the supervised etcd member, checks the store, then waits for
 * SIGTERM/SIGINT and shuts down in reverse order. Signals are blocked in
 * every thread and taken synchronously here with sigtimedwait. */
#define LOG_COMPONENT "server"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"
#include "cmd/cmd.h"
#include "install/install.h"
#include "agent/agent.h"
#include "api/api.h"
#include "client/client.h"
#include "cluster/cluster.h"
#include "cmd/server.h"
#include "cmd/server_etcdops.h"
#include "controllers/controller.h"
#include "etcd/etcd.h"
#include "store/store.h"
#include "store/store_encrypt.h"
#include "store/store_keyring.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SERVER_ETCD_READY_TIMEOUT_MS 60000
#define SERVER_JOIN_TIMEOUT_MS       120000 /* adding the etcd member */
#define SERVER_PROMOTE_TIMEOUT_MS    120000 /* learner to voter at start */
#define SERVER_SERVICE_CIDR          "10.43.0.0/16"

struct server_paths {
    char *server_dir, *tls_dir, *db_dir, *etcd_dir, *logs_dir, *etcd_log;
    char *ha_marker; /* db/ha: this member has been part of a multi-member cluster */
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
    p->ha_marker = k3c_xasprintf("%s/ha", p->db_dir);
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
    free(p->ha_marker);
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
 * passes (timeout_ms < 0: never; a member of a multi-member cluster waits
 * for quorum as long as it takes). Returns 1 healthy, 0 timeout, or
 * -signal. */
static int
wait_etcd_ready(struct etcd *e, const sigset_t *stop, int64_t timeout_ms)
{
    int64_t start = k3c_now_ms(), next_log = start + 10000;

    while (timeout_ms < 0 || k3c_now_ms() < start + timeout_ms) {
        struct k3c_err err = {0};
        int sig;

        if (etcd_wait_healthy(e, 500, &err) == 0)
            return 1;
        if (timeout_ms < 0 && k3c_now_ms() > next_log) {
            log_info("etcd member %s not healthy yet after %" PRId64
                     " s: waiting for the other servers (quorum)",
                     etcd_member_name(e), (k3c_now_ms() - start) / 1000);
            next_log = k3c_now_ms() + 30000;
        }
        sig = cmd_wait_signal(stop, 200);
        if (sig > 0)
            return -sig;
    }
    return 0;
}

/* A store over the etcd endpoints (the first is tried first), checked
 * with one read. */
static struct store *
open_store(const char *const *endpoints, const char *ca, const char *cert, const char *key,
           struct k3c_err *err)
{
    /* Retried for 5 s when unreachable: long enough for the supervisor to
     * restart a crashed local etcd, short enough that requests fail fast
     * when quorum is lost (the other endpoints are tried first). */
    const struct store_config sc = {.endpoints = endpoints,
                                    .ca_file = ca,
                                    .cert_file = cert,
                                    .key_file = key,
                                    .retry_timeout_ms = 5000};
    struct store *s = store_new(&sc, err);
    int64_t rev;

    if (!s)
        return NULL;
    if (store_revision(s, &rev, err) < 0) {
        store_free(s);
        return NULL;
    }
    log_info("store ready at %s, revision %" PRId64, endpoints[0], rev);
    return s;
}

static struct etcd *
etcd_from_config(const struct k3c_config *cfg, const struct server_paths *p,
                 const struct etcd_tls_paths *tls, const char *initial_cluster, struct k3c_err *err)
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
        .initial_cluster = initial_cluster,
        .force_new_cluster = cfg->cluster_reset,
    };

    return etcd_new(&ec, err);
}

/* The settings every server of one cluster must share (checked at join). */
static json_t *
shared_settings(const struct k3c_config *cfg)
{
    return cluster_settings_new(cfg->cluster_cidr, SERVER_SERVICE_CIDR, cfg->cluster_dns,
                                cfg->cluster_domain);
}

/* The bootstrap material joining servers fetch from this one (embedded
 * etcd only): the shared CAs, settings, this member's etcd client URL. */
static char *
bootstrap_json(const struct k3c_config *cfg, const struct server_paths *p, struct k3c_err *err)
{
    _cleanup_json_ json_t *settings = shared_settings(cfg);
    _cleanup_free_ char *url = k3c_xasprintf("https://%s:%d", cfg->node_ip, cfg->etcd_client_port);

    return cluster_bootstrap_json(p->tls_dir, settings, url, err);
}

/* Certificates, the API server on --https-listen-port, the kubeconfig. */
static struct api_server *
start_api(const struct k3c_config *cfg, const struct server_paths *p, struct store *s,
          struct k3c_err *err)
{
    struct api_tls_paths tls;
    struct api_config ac = {0};
    struct api_server *api = NULL;
    _cleanup_free_ char *token_path = NULL, *secret = NULL, *boot = NULL;

    api_tls_paths_init(&tls, p->tls_dir);
    token_path = k3c_xasprintf("%s/token", p->server_dir);
    if (api_certs_ensure(&tls, cfg, err) < 0 ||
        node_token_ensure(token_path, tls.server_ca_cert, cfg->token, &secret, err) < 0)
        goto out;
    if (!cfg->datastore_endpoint && !(boot = bootstrap_json(cfg, p, err)))
        goto out;
    ac.server_bootstrap_json = boot;
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
    ac.cluster_dns = cfg->cluster_dns;
    ac.event_ttl = cfg->event_ttl;
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
    _cleanup_free_ char *identity = NULL, *storage_path = NULL;
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
    for (size_t i = 0; cfg->disable && cfg->disable[i]; i++)
        cc.disable_servicelb = cc.disable_servicelb || strcmp(cfg->disable[i], "servicelb") == 0;
    /* storage (issue #16): the local-path provisioner */
    for (size_t i = 0; cfg->disable && cfg->disable[i]; i++)
        cc.disable_local_storage =
            cc.disable_local_storage || strcmp(cfg->disable[i], "local-storage") == 0;
    storage_path = cfg->default_local_storage_path && *cfg->default_local_storage_path
                       ? k3c_xstrdup(cfg->default_local_storage_path)
                       : k3c_xasprintf("%s/storage", cfg->data_dir);
    if (storage_path[0] != '/') { /* the nodes need an absolute path */
        char cwd[4096];

        if (getcwd(cwd, sizeof(cwd))) {
            char *abs = k3c_xasprintf("%s/%s", cwd, storage_path);

            free(storage_path);
            storage_path = abs;
        }
    }
    cc.local_storage_path = storage_path;
    /* ServiceLB addresses held with the VIP (issue #13) */
    cc.servicelb_vip = cfg->vip;
    cc.servicelb_pool = cfg->servicelb_pool;
    m = ctl_manager_new(&cc, api, err);
    api_tls_paths_fini(&tls);
    if (m && ctl_manager_start(m, err) < 0) {
        ctl_manager_free(m);
        m = NULL;
    }
    return m;
}

static bool
joining(const struct k3c_config *cfg)
{
    return cfg->server && *cfg->server && !cfg->cluster_init;
}

/* The bootstrap material from --server, retried with back-off while it
 * cannot be reached. 1: *out set; 0: unreachable but this member has data
 * (start it: a whole-cluster restart); -signal; -1 with err. */
static int
fetch_bootstrap(const struct k3c_config *cfg, bool have_data, const sigset_t *stop, json_t **out,
                struct k3c_err *err)
{
    int64_t backoff = 500;
    bool logged = false;

    for (;;) {
        int sig;

        if (cluster_bootstrap_fetch(cfg->server, cfg->token, out, err) == 0)
            return 1;
        if (err->kind != K3C_E_UNAVAILABLE)
            return -1;
        if (have_data) {
            log_info("cannot reach %s (%s); starting the existing etcd member", cfg->server,
                     err->msg);
            k3c_err_clear(err);
            return 0;
        }
        if (!logged)
            log_info("server %s not ready yet (%s); retrying", cfg->server, err->msg);
        logged = true;
        k3c_err_clear(err);
        sig = cmd_wait_signal(stop, backoff);
        if (sig > 0)
            return -sig;
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    }
}

/* Moves a data dir that no longer belongs to a member aside (kept, never
 * deleted: it may be someone's only copy). */
static int
move_aside(const char *dir, struct k3c_err *err)
{
    _cleanup_free_ char *to = k3c_xasprintf("%s.removed-%lld", dir, (long long)time(NULL));

    if (rename(dir, to) < 0)
        return k3c_err_sys(err, errno, "moving %s aside", dir);
    log_warn("this server is no longer an etcd member of the cluster: its old etcd data moved "
             "to %s; joining again",
             to);
    return 0;
}

/* HA join (--server on a server): bootstrap material, local certificates,
 * and the etcd member added as a learner. *initial_cluster is set when
 * etcd must start as a new member of the existing cluster. 0 ok, >0 the
 * signal that came first, -1 with err. */
static int
prepare_join(const struct k3c_config *cfg, const struct server_paths *p,
             const struct etcd_tls_paths *tls, const sigset_t *stop, char **initial_cluster,
             char **join_url, struct k3c_err *err)
{
    bool have_data = etcd_data_exists(p->etcd_dir);
    _cleanup_json_ json_t *boot = NULL, *mine = shared_settings(cfg);
    _cleanup_free_ char *name = etcd_member_name_for(cfg->node_name);
    _cleanup_free_ char *peer = k3c_xasprintf("https://%s:%d", cfg->node_ip, cfg->etcd_peer_port);
    const char *eps[] = {NULL, NULL};
    struct cluster_member_spec spec = {
        .tls = tls, .etcd_endpoints = eps, .name = name, .peer_url = peer};
    int st = fetch_bootstrap(cfg, have_data, stop, &boot, err);

    if (st <= 0)
        return st < -1 ? -st : st;
    if (cluster_bootstrap_apply(boot, p->tls_dir, mine, err) < 0 ||
        etcd_certs_ensure(tls, cfg->node_name, cfg->node_ip, err) < 0)
        return -1;
    eps[0] = cluster_bootstrap_etcd_url(boot);
    *join_url = k3c_xstrdup(eps[0]);
    if (have_data) {
        st = cluster_member_state(&spec, err);
        if (st != 0) {
            if (st < 0)
                log_warn("cannot check etcd membership (%s); starting the existing member",
                         err->msg);
            k3c_err_clear(err);
            return 0;
        }
        if (move_aside(p->etcd_dir, err) < 0)
            return -1;
    }
    log_info("joining the cluster of %s as etcd member %s (%s)", cfg->server, name, peer);
    return cluster_member_add(&spec, SERVER_JOIN_TIMEOUT_MS, initial_cluster, err);
}

/* The client URLs of the other voting members (NULL-terminated; caller
 * frees with k3c_strv_free), and this member's status in *st. */
static char **
other_voters(struct etcd *e, const struct etcd_tls_paths *tls, struct etcd_status *st)
{
    const char *local[] = {etcd_client_url(e), NULL};
    struct k3c_err err = {0};
    struct http_client *c = etcd_client_new(local, tls, &err);
    struct etcd_members m = {0};
    char **out;
    size_t n = 0;

    memset(st, 0, sizeof(*st));
    if (c && etcd_member_status(c, st, &err) == 0)
        etcd_member_list(c, &m, &err);
    http_client_free(c);
    out = k3c_xcalloc(m.n + 2, sizeof(*out));
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].id != st->member_id && m.v[i].client_url[0] && !m.v[i].learner)
            out[n++] = k3c_xstrdup(m.v[i].client_url);
    etcd_members_fini(&m);
    return out;
}

/* The store's endpoints: this member first, then the other voters (the
 * client fails over in order). A learner cannot serve reads and writes,
 * nor list the members: then join_url (the member joined through) comes
 * first and the learner last. */
static char **
store_endpoints(struct etcd *e, const struct etcd_tls_paths *tls, const char *join_url)
{
    struct etcd_status st;
    char **others = other_voters(e, tls, &st);
    size_t n = 0, k = 0;
    char **out;

    while (others[n])
        n++;
    out = k3c_xcalloc(n + 3, sizeof(*out));
    if (!st.learner) /* the local member over its unix socket: no TLS on either side */
        out[k++] = k3c_xstrdup(etcd_local_url(e));
    for (size_t i = 0; i < n; i++)
        out[k++] = others[i];
    if (n == 0 && st.learner && join_url)
        out[k++] = k3c_xstrdup(join_url);
    if (st.learner)
        out[k++] = k3c_xstrdup(etcd_local_url(e));
    free(others);
    return out;
}

/* A learner asks the member it joined through to promote it until it is
 * (it has caught up) or the time runs out; the member monitor keeps trying
 * after that. */
static void
wait_promoted(struct etcd *e, const struct etcd_tls_paths *tls, const char *join_url,
              const sigset_t *stop)
{
    int64_t deadline = k3c_now_ms() + SERVER_PROMOTE_TIMEOUT_MS;
    const char *local[] = {etcd_client_url(e), NULL}, *remote[] = {join_url, NULL};
    struct k3c_err err = {0};
    struct http_client *me = etcd_client_new(local, tls, &err);
    struct http_client *them = etcd_client_new(remote, tls, &err);
    bool done = false;

    while (me && them && !done && k3c_now_ms() < deadline) {
        struct etcd_status st = {0};

        k3c_err_clear(&err);
        if (etcd_member_status(me, &st, &err) == 0 && !st.learner)
            done = true;
        else if (st.member_id && etcd_member_promote(them, st.member_id, &err) == 0) {
            log_info("(member %s) promoted from learner to voter", etcd_member_name(e));
            done = true;
        } else
            log_debug("(member %s) not promoted yet: %s", etcd_member_name(e), err.msg);
        if (!done && cmd_wait_signal(stop, 500) > 0)
            break;
    }
    http_client_free(me);
    http_client_free(them);
    if (!done)
        log_warn("(member %s) still a learner after %d s; the member monitor keeps asking",
                 etcd_member_name(e), SERVER_PROMOTE_TIMEOUT_MS / 1000);
}

/* The member monitor: endpoint lease and default/kubernetes, and with
 * embedded etcd the membership chores (cluster/cluster.h). */
static struct cluster_monitor *
start_monitor(const struct k3c_config *cfg, const struct server_paths *p,
              const struct etcd_tls_paths *etls, struct etcd *e, struct store *s,
              struct k3c_err *err)
{
    struct api_tls_paths tls;
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);
    struct cluster_monitor_config mc = {.store = s,
                                        .api_url = url,
                                        .node_name = cfg->node_name,
                                        .advertise_ip = cfg->node_ip,
                                        .api_port = cfg->https_listen_port,
                                        .ha_marker = p->ha_marker,
                                        .learner_timeout_s = cfg->etcd_learner_timeout_s};
    struct cluster_monitor *m;
    struct etcd_status st;
    char **peers = e ? other_voters(e, etls, &st) : NULL;

    api_tls_paths_init(&tls, p->tls_dir);
    mc.peer_etcd_urls = (const char *const *)peers;
    mc.ca_file = tls.server_ca_cert;
    mc.cert_file = tls.admin_cert;
    mc.key_file = tls.admin_key;
    if (e) {
        mc.tls = etls;
        mc.local_etcd_url = etcd_client_url(e);
        mc.member_name = etcd_member_name(e);
    }
    m = cluster_monitor_start(&mc, err);
    api_tls_paths_fini(&tls);
    k3c_strv_free(peers);
    return m;
}

/* Starts the embedded etcd (joining the cluster of --server when asked)
 * and opens the store on it. 1: store open; 0: a signal came first; -1
 * with err. */
static int
start_embedded_store(const struct k3c_config *cfg, const struct server_paths *paths,
                     const struct etcd_tls_paths *tls, const sigset_t *stop, struct etcd **e,
                     struct store **s, struct k3c_err *err)
{
    _cleanup_free_ char *initial_cluster = NULL, *join_url = NULL;
    char **eps;
    bool ha;
    int ready;

    _cleanup_free_ char *etcd_bin = k3c_find_in_path(cfg->etcd_binary ? cfg->etcd_binary : "etcd");

    if (!etcd_bin) {
        /* etcd_new names the Debian package; fail before anything is written. */
        *e = etcd_from_config(cfg, paths, tls, NULL, err);
        return -1;
    }
    /* A refused join (wrong token, another cluster's settings) leaves
     * nothing behind: the data dir is made only once it is accepted. */
    if (joining(cfg)) {
        int st = prepare_join(cfg, paths, tls, stop, &initial_cluster, &join_url, err);

        if (st != 0) {
            if (st > 0)
                log_info("signal %d before joining; shutting down", st);
            return st > 0 ? 0 : -1;
        }
    }
    if (make_dirs(paths, err) < 0)
        return -1;
    ha = joining(cfg) || k3c_file_exists(paths->ha_marker);
    *e = etcd_from_config(cfg, paths, tls, initial_cluster, err);
    if (!*e || etcd_certs_ensure(tls, cfg->node_name, cfg->node_ip, err) < 0 ||
        etcd_start(*e, err) < 0)
        return -1;
    ready = wait_etcd_ready(*e, stop, ha ? -1 : SERVER_ETCD_READY_TIMEOUT_MS);
    if (ready < 0) {
        log_info("signal %d before etcd was ready; shutting down", -ready);
        return 0;
    }
    if (ready == 0)
        return k3c_err_set(err, K3C_E_TIMEOUT, "etcd not healthy after %d s; see %s",
                           SERVER_ETCD_READY_TIMEOUT_MS / 1000, paths->etcd_log);
    log_info("(member %s) healthy at %s", etcd_member_name(*e), etcd_client_url(*e));
    if (initial_cluster)
        wait_promoted(*e, tls, join_url, stop);
    eps = store_endpoints(*e, tls, join_url);
    *s = open_store((const char *const *)eps, tls->ca_cert, tls->client_cert, tls->client_key, err);
    k3c_strv_free(eps);
    return *s ? 1 : -1;
}

/* Secrets at rest (issue #15): every server keeps the key file (made by the
 * first, shared through the bootstrap material); --secrets-encryption turns
 * on encrypting writes, and without it the key still decrypts. */
static int
server_secrets_encryption(const struct k3c_config *cfg, const struct server_paths *p,
                          struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/" STORE_ENC_CONFIG_FILE, p->tls_dir);
    const char *key = NULL;

    if (store_encryption_setup(path, true, cfg->secrets_encryption, err) < 0)
        return -1;
    if (store_encryption_active(&key))
        log_info("secrets encryption: aescbc with key %s", key);
    return 0;
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
    struct cluster_monitor *mon = NULL;
    struct vip *vip = NULL;
    struct etcd_maint *maint = NULL;
    struct server_metrics *metrics = NULL;
    struct store_keyring *keyring = NULL;  /* issue #15: rotated secrets keys */
    struct server_certmon *certmon = NULL; /* issue #15: certificate expiry Events */
    int rc = K3C_EXIT_FAIL, sig;

    server_paths_init(&paths, cfg->data_dir);
    etcd_tls_paths_init(&tls, paths.tls_dir);
    log_info("k3c v%s server starting: node %s, ip %s, data dir %s", k3c_version_full(),
             cfg->node_name, cfg->node_ip, cfg->data_dir);
    if (server_lb_pool_check(cfg, &err) < 0) /* bad input: before anything starts */
        goto out;
    if (cfg->datastore_endpoint) {
        log_info("external datastore %s: no embedded etcd", cfg->datastore_endpoint);
        if (make_dirs(&paths, &err) < 0 ||
            !(s = open_store((const char *const[]){cfg->datastore_endpoint, NULL},
                             cfg->datastore_cafile, cfg->datastore_certfile, cfg->datastore_keyfile,
                             &err)))
            goto out;
    } else if (cfg->cluster_reset || cfg->cluster_reset_restore_path) {
        e = etcd_from_config(cfg, &paths, &tls, NULL, &err);
        if (e && server_cluster_reset(cfg, e, stop, &err) == 0)
            rc = K3C_EXIT_OK;
        goto out;
    } else {
        int st = start_embedded_store(cfg, &paths, &tls, stop, &e, &s, &err);

        if (st <= 0) {
            rc = st == 0 ? K3C_EXIT_OK : rc;
            goto out;
        }
    }
    if (install_data_format_check(s, INSTALL_DATA_FORMAT, &err) < 0 ||
        server_secrets_encryption(cfg, &paths, &err) < 0)
        goto out;
    /* the keys of the last rotation (etcd's copy) before the API reads a
     * Secret; the very first start has no token yet: after start_api */
    keyring = server_secrets_keyring_start(cfg, s, &err);
    k3c_err_clear(&err);
    api = start_api(cfg, &paths, s, &err);
    if (api && !keyring && !(keyring = server_secrets_keyring_start(cfg, s, &err))) {
        /* not fatal: this server keeps its own keys, as before rotation existed */
        log_error("secrets encryption keys not shared through etcd: %s", err.msg);
        k3c_err_clear(&err);
    }
    if (!api || !(ctl = start_controllers(cfg, &paths, api, &err)) ||
        !(mon = start_monitor(cfg, &paths, &tls, e, s, &err)))
        goto out;
    if (cfg->vip && !(vip = server_vip_start(cfg, paths.tls_dir, e ? etcd_client_url(e) : NULL,
                                             &tls, api, &err)))
        goto out;
    if (e && !(maint = server_etcd_maint_start(cfg, e, &err)))
        goto out;
    if (!(certmon = server_certmon_new(cfg, &err)))
        goto out;
    metrics = server_metrics_start(cfg, e != NULL, api, certmon);
    sig = cfg->disable_agent ? 0 : start_own_agent(cfg, &paths, stop, &agent, &err);
    if (sig < 0)
        goto out;
    if (sig == 0) {
        log_info("k3c server ready");
        install_sd_notify("READY=1\nSTATUS=k3c server ready");
        sig = cmd_wait_signal(stop, -1);
    }
    install_sd_notify("STOPPING=1");
    log_info("signal %d (%s): shutting down", sig, strsignal(sig));
    rc = K3C_EXIT_OK;
out:
    if (rc != K3C_EXIT_OK)
        log_error("%s", err.msg);
    server_vip_stop(vip, api, cfg); /* first: the next holder takes over at once */
    http_client_shutdown_begin();   /* no part waits out a request timeout from here */
    agent_free(agent);
    cluster_monitor_stop(mon);
    etcd_maint_stop(maint);
    server_metrics_stop(metrics);
    server_certmon_free(certmon);
    ctl_manager_free(ctl);
    api_server_free(api);
    store_keyring_stop(keyring);
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
