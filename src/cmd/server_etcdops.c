/* SPDX-License-Identifier: Apache-2.0
 * server_etcdops.c - glue between `k3c server`'s settings and the etcd
 * operations (src/etcd/etcd_ops.h): paths under the data dir, the token's
 * secret, the maintenance thread, and --cluster-reset. */
#define LOG_COMPONENT "server"
#include "cmd/server_etcdops.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "cmd/server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
server_snapshot_config_init(struct etcd_snapshot_config *sc, const struct k3c_config *cfg)
{
    sc->client_url = k3c_xasprintf("https://127.0.0.1:%d", cfg->etcd_client_port);
    sc->ca_file = k3c_xasprintf("%s/server/tls/server-ca.crt", cfg->data_dir);
    sc->cert_file = k3c_xasprintf("%s/server/tls/etcd/client.crt", cfg->data_dir);
    sc->key_file = k3c_xasprintf("%s/server/tls/etcd/client.key", cfg->data_dir);
    sc->dir = cfg->etcd_snapshot_dir && cfg->etcd_snapshot_dir[0]
                  ? k3c_xstrdup(cfg->etcd_snapshot_dir)
                  : k3c_xasprintf("%s/server/db/snapshots", cfg->data_dir);
    sc->node_name = k3c_xstrdup(cfg->node_name);
}

void
server_snapshot_config_fini(struct etcd_snapshot_config *sc)
{
    free((char *)sc->client_url);
    free((char *)sc->ca_file);
    free((char *)sc->cert_file);
    free((char *)sc->key_file);
    free((char *)sc->dir);
    free((char *)sc->node_name);
    memset(sc, 0, sizeof(*sc));
}

/* The token's secret: --token, else the node token file; NULL when neither. */
static char *
token_secret(const struct k3c_config *cfg)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/server/token", cfg->data_dir);
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};

    if (cfg->token && cfg->token[0])
        return etcd_token_secret(cfg->token);
    if (k3c_read_file(path, &text, NULL, &err) < 0)
        return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    return text[0] ? etcd_token_secret(text) : NULL;
}

struct etcd_maint *
server_etcd_maint_start(const struct k3c_config *cfg, struct etcd *e, struct k3c_err *err)
{
    struct etcd_maint_config mc = {0};
    _cleanup_free_ char *api_url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/server/tls", cfg->data_dir);
    _cleanup_free_ char *secret = token_secret(cfg);
    struct api_tls_paths api;
    struct etcd_maint *m;
    struct k3c_err defrag_err = {0};

    server_snapshot_config_init(&mc.snap, cfg);
    if (etcd_defrag_if_bloated(mc.snap.client_url, mc.snap.ca_file, mc.snap.cert_file,
                               mc.snap.key_file, &defrag_err) < 0)
        log_warn("defragmentation at start: %s", defrag_err.msg);
    api_tls_paths_init(&api, tls_dir);
    mc.member_name = etcd_member_name(e);
    mc.api_url = api_url;
    mc.api_ca_file = api.server_ca_cert;
    mc.api_cert_file = api.admin_cert;
    mc.api_key_file = api.admin_key;
    mc.token_secret = secret;
    mc.cron = cfg->disable_etcd_snapshots ? NULL : cfg->etcd_snapshot_schedule_cron;
    mc.retention = cfg->etcd_snapshot_retention;
    mc.quota_bytes = cfg->etcd_quota_backend_bytes;
    m = etcd_maint_start(&mc, err);
    api_tls_paths_fini(&api);
    server_snapshot_config_fini(&mc.snap);
    return m;
}

/* Puts the restored data aside and the old data back after a refused
 * restore, so the server starts as it was. */
static void
restore_undo(const char *etcd_dir, const char *old_dir)
{
    _cleanup_free_ char *rejected =
        k3c_xasprintf("%s-rejected-%lld", etcd_dir, (long long)(k3c_wall_ms() / 1000));

    if (rename(etcd_dir, rejected) < 0)
        log_error("could not move the restored data %s aside: %s", etcd_dir, strerror(errno));
    else
        log_info("moved the refused restore to %s", rejected);
    if (old_dir && rename(old_dir, etcd_dir) < 0)
        log_error("could not move %s back to %s: %s", old_dir, etcd_dir, strerror(errno));
}

/* Starts etcd on its data, waits for it (or a stop signal), checks the
 * token after a restore, stops it. */
static int
reset_run_once(const struct k3c_config *cfg, struct etcd *e, const char *secret,
               const sigset_t *stop, struct k3c_err *err)
{
    struct etcd_snapshot_config sc;
    int rc = 0;

    if (etcd_start(e, err) < 0)
        return -1;
    for (int64_t deadline = k3c_now_ms() + 60000;;) {
        struct k3c_err wait_err = {0};

        if (etcd_wait_healthy(e, 500, &wait_err) == 0)
            break;
        if (cmd_wait_signal(stop, 100) > 0 || k3c_now_ms() > deadline) {
            etcd_stop(e);
            return k3c_err_set(err, K3C_E_TIMEOUT, "etcd did not become healthy: %s", wait_err.msg);
        }
    }
    if (secret) {
        server_snapshot_config_init(&sc, cfg);
        rc = etcd_token_hash_check(sc.client_url, sc.ca_file, sc.cert_file, sc.key_file, secret,
                                   err);
        server_snapshot_config_fini(&sc);
    }
    etcd_stop(e);
    return rc;
}

/* What the reset needs before etcd runs: tls/, db/ and logs/ (etcd's log). */
static int
reset_dirs(const struct k3c_config *cfg, struct k3c_err *err)
{
    static const char *const subdirs[] = {"tls", "db", "logs"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(subdirs); i++) {
        _cleanup_free_ char *d = k3c_xasprintf("%s/server/%s", cfg->data_dir, subdirs[i]);

        if (k3c_mkdir_p(d, 0700, err) < 0)
            return -1;
    }
    return 0;
}

int
server_cluster_reset(const struct k3c_config *cfg, struct etcd *e, const sigset_t *stop,
                     struct k3c_err *err)
{
    const char *restore = cfg->cluster_reset_restore_path;
    _cleanup_free_ char *etcd_dir = k3c_xasprintf("%s/server/db/etcd", cfg->data_dir);
    _cleanup_free_ char *member_dir = k3c_xasprintf("%s/member", etcd_dir);
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/server/tls", cfg->data_dir);
    _cleanup_free_ char *peer_url = NULL, *old_dir = NULL, *secret = NULL;
    struct etcd_tls_paths tls;
    int rc;

    if (!cfg->cluster_reset)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--cluster-reset-restore-path needs --cluster-reset");
    if (!restore && !k3c_file_exists(member_dir))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "no etcd data to reset in %s", etcd_dir);
    if (restore) {
        secret = token_secret(cfg);
        if (!secret)
            return k3c_err_set(err, K3C_E_INVALID,
                               "restoring a snapshot needs the token of the cluster it was taken "
                               "from: pass --token");
    }
    if (reset_dirs(cfg, err) < 0)
        return -1;
    etcd_tls_paths_init(&tls, tls_dir);
    rc = etcd_certs_ensure(&tls, cfg->node_name, cfg->node_ip, err);
    etcd_tls_paths_fini(&tls);
    if (rc < 0)
        return -1;
    if (restore) {
        peer_url = k3c_xasprintf("https://%s:%d", cfg->node_ip, cfg->etcd_peer_port);
        if (etcd_restore_snapshot(restore, etcd_dir, etcd_member_name(e), peer_url, &old_dir, err) <
            0)
            return -1;
    }
    if (reset_run_once(cfg, e, secret, stop, err) < 0) {
        if (restore)
            restore_undo(etcd_dir, old_dir);
        return k3c_err_wrap(err, "%s", restore ? "restore" : "cluster reset");
    }
    if (restore)
        log_info("etcd restored from %s%s%s", restore, old_dir ? "; the old data is in " : "",
                 old_dir ? old_dir : "");
    log_info("Managed etcd cluster membership has been reset, restart without --cluster-reset "
             "flag now. Backup and delete %s/server/db on each peer etcd server and rejoin the "
             "nodes",
             cfg->data_dir);
    return 0;
}
