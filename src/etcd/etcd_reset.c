/* SPDX-License-Identifier: Apache-2.0
 * etcd_reset.c - getting a cluster back: restoring a snapshot into a fresh
 * one-member data dir (with Debian's etcdctl: etcd 3.4 has no restore over
 * its API, and its restore rewrites the membership in the WAL, which only
 * the etcd code base does safely), and the token check that stops a
 * snapshot from one cluster being restored with another cluster's token. */
#define LOG_COMPONENT "etcd"
#include "etcd/etcd_ops-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *
etcd_token_secret(const char *token)
{
    const char *sep;

    if (strncmp(token, "K10", 3) != 0)
        return k3c_xstrdup(token);
    sep = strstr(token, "::server:");
    if (sep)
        return k3c_xstrdup(sep + strlen("::server:"));
    sep = strstr(token, "::");
    if (sep && strchr(sep + 2, ':'))
        return k3c_xstrdup(strchr(sep + 2, ':') + 1);
    return k3c_xstrdup(sep ? sep + 2 : token);
}

/* Runs argv (etcdctl) with its output appended to log_path; 0 when it exits 0. */
static int
run_logged(char *const argv[], const char *log_path, struct k3c_err *err)
{
    _cleanup_close_ int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid;
    int status = 0;

    if (log_fd < 0)
        return k3c_err_sys(err, errno, "open %s", log_path);
    pid = fork();
    if (pid < 0)
        return k3c_err_sys(err, errno, "fork");
    if (pid == 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        setenv("ETCDCTL_API", "3", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s failed (status 0x%x); its output is in %s",
                           argv[0], status, log_path);
    return 0;
}

int
etcd_restore_snapshot(const char *file, const char *data_dir, const char *member_name,
                      const char *peer_url, char **old_dir_out, struct k3c_err *err)
{
    _cleanup_free_ char *etcdctl = k3c_find_in_path("etcdctl");
    _cleanup_free_ char *old = NULL, *log_path = NULL, *name_arg = NULL, *dir_arg = NULL;
    _cleanup_free_ char *cluster_arg = NULL, *peer_arg = NULL;
    bool moved = false;

    if (!k3c_file_exists(file))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "snapshot %s not found", file);
    if (!etcdctl)
        return k3c_err_set(err, K3C_E_NOT_FOUND,
                           "etcdctl not found in PATH; install the Debian package etcd-client "
                           "(apt-get install etcd-client) to restore snapshots");
    if (k3c_file_exists(data_dir)) {
        old = k3c_xasprintf("%s-old-%lld", data_dir, (long long)(k3c_wall_ms() / 1000));
        if (rename(data_dir, old) < 0)
            return k3c_err_sys(err, errno, "move %s aside to %s", data_dir, old);
        moved = true;
        log_info("moved the old etcd data %s aside to %s", data_dir, old);
    }
    log_path = k3c_xasprintf("%s-restore.log", data_dir);
    name_arg = k3c_xasprintf("--name=%s", member_name);
    dir_arg = k3c_xasprintf("--data-dir=%s", data_dir);
    cluster_arg = k3c_xasprintf("--initial-cluster=%s=%s", member_name, peer_url);
    peer_arg = k3c_xasprintf("--initial-advertise-peer-urls=%s", peer_url);
    {
        char *argv[] = {etcdctl,      "snapshot", "restore",
                        (char *)file, name_arg,   dir_arg,
                        cluster_arg,  peer_arg,   "--initial-cluster-token=k3c",
                        NULL};

        if (run_logged(argv, log_path, err) < 0) {
            k3c_err_wrap(err, "restore %s", file);
            if (moved && rename(old, data_dir) < 0)
                log_error("could not move %s back to %s: %s", old, data_dir, strerror(errno));
            return -1;
        }
    }
    if (chmod(data_dir, 0700) < 0)
        log_warn("chmod %s: %s", data_dir, strerror(errno));
    log_info("restored %s into %s (member %s, %s)", file, data_dir, member_name, peer_url);
    if (old_dir_out)
        *old_dir_out = TAKE_PTR(old);
    return 0;
}

/* The stored hash, or NULL when there is none (err clear) or etcd failed. */
static char *
token_hash_get(struct http_client *c, struct k3c_err *err)
{
    _cleanup_free_ char *key = k3c_base64_encode(ETCD_TOKEN_HASH_KEY, strlen(ETCD_TOKEN_HASH_KEY));
    _cleanup_json_ json_t *r =
        etcd_gw_call_take(c, "/v3/kv/range", json_pack("{s:s}", "key", key), err);
    const char *v =
        json_string_value(json_object_get(json_array_get(json_object_get(r, "kvs"), 0), "value"));
    size_t n = 0;
    char *hash;

    if (!v)
        return NULL;
    hash = k3c_base64_decode(v, &n);
    if (hash)
        hash[n] = '\0';
    return hash;
}

/* Stores hash unless a value is there (one transaction). */
static int
token_hash_put(struct http_client *c, const char *hash, struct k3c_err *err)
{
    _cleanup_free_ char *key = k3c_base64_encode(ETCD_TOKEN_HASH_KEY, strlen(ETCD_TOKEN_HASH_KEY));
    _cleanup_free_ char *val = k3c_base64_encode(hash, strlen(hash));
    _cleanup_json_ json_t *r = etcd_gw_call_take(
        c, "/v3/kv/txn",
        json_pack("{s:[{s:s, s:s, s:s, s:i}], s:[{s:{s:s, s:s}}]}", "compare", "key", key, "target",
                  "CREATE", "result", "EQUAL", "create_revision", 0, "success", "request_put",
                  "key", key, "value", val),
        err);

    return r ? 0 : -1;
}

int
etcd_token_hash_check(const char *client_url, const char *ca, const char *cert, const char *key,
                      const char *secret, struct k3c_err *err)
{
    struct http_client *c = etcd_gw_client_new(client_url, ca, cert, key, 10000, err);
    _cleanup_free_ char *stored = NULL;
    char want[65];
    int rc = 0;

    if (!c)
        return -1;
    pki_sha256_hex(secret, strlen(secret), want);
    stored = token_hash_get(c, err);
    if (!stored && err->msg[0]) {
        rc = k3c_err_wrap(err, "read the token hash");
    } else if (!stored) {
        rc = token_hash_put(c, want, err);
        if (rc == 0)
            log_info("recorded the token's hash at %s", ETCD_TOKEN_HASH_KEY);
    } else if (!k3c_secret_equal(stored, want)) {
        rc = k3c_err_set(err, K3C_E_INVALID,
                         "this etcd data belongs to a cluster with a different token: start "
                         "with --token set to the token (or its secret) of the cluster the "
                         "snapshot was taken from");
    }
    http_client_free(c);
    return rc;
}
