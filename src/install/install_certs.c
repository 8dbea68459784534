/* SPDX-License-Identifier: Apache-2.0
 * install_certs.c - the node's certificates for operators (issue #21):
 * their expiry (`k3c certificate check`, the servers' and kubelets'
 * /metrics) and `k3c certificate rotate`, K3s's semantics: with k3c
 * stopped, every leaf certificate and its key move to a backup directory,
 * the CAs stay; the next start issues new leaves from the same CAs (the
 * server's pki_ensure_leaf, the agent's join), so clients that trust the
 * CAs keep working. The listing is pki_certs_list (pki_expiry.c). */
#define LOG_COMPONENT "install"

#include "install/install-internal.h"

#include "pki/pki.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "364d", "23h", "-2d" (expired). */
static void
residual(int64_t s, char *out, size_t len)
{
    int64_t a = s < 0 ? -s : s;

    if (a >= 86400)
        snprintf(out, len, "%s%lldd", s < 0 ? "-" : "", (long long)(a / 86400));
    else if (a >= 3600)
        snprintf(out, len, "%s%lldh", s < 0 ? "-" : "", (long long)(a / 3600));
    else
        snprintf(out, len, "%s%llds", s < 0 ? "-" : "", (long long)a);
}

int
install_certs_check(const char *data_dir, FILE *out, struct k3c_err *err)
{
    struct pki_cert_info *v = NULL;
    size_t n = 0;
    int64_t now = k3c_wall_ms() / 1000;

    if (pki_certs_list(data_dir, &v, &n, err) < 0)
        return -1;
    if (n == 0) {
        pki_certs_free(v, n);
        return k3c_err_set(err, K3C_E_NOT_FOUND, "no certificates under %s", data_dir);
    }
    fprintf(out, "%-40s %-4s %-28s %-20s %s\n", "FILE", "CA", "COMMON NAME", "NOT AFTER",
            "RESIDUAL");
    for (size_t i = 0; i < n; i++) {
        char when[32], left[32];

        k3c_time_rfc3339(v[i].not_after, when, sizeof(when));
        residual(v[i].not_after - now, left, sizeof(left));
        fprintf(out, "%-40s %-4s %-28s %-20s %s%s\n", v[i].file, v[i].ca ? "yes" : "no",
                v[i].common_name, when, left,
                v[i].not_after - now < PKI_RENEW_WINDOW_DAYS * 86400 && !v[i].ca
                    ? " (renewed at the next start)"
                    : "");
    }
    pki_certs_free(v, n);
    return 0;
}

/* Moves data_dir/rel (and, for a .crt, its .key) under backup/rel. */
static int
move_to_backup(const char *data_dir, const char *backup, const char *rel, FILE *out,
               struct k3c_err *err)
{
    _cleanup_free_ char *from = k3c_xasprintf("%s/%s", data_dir, rel);
    _cleanup_free_ char *to = k3c_xasprintf("%s/%s", backup, rel);
    _cleanup_free_ char *dir = k3c_xstrdup(to);

    *strrchr(dir, '/') = '\0';
    if (k3c_mkdir_p(dir, 0700, err) < 0)
        return -1;
    if (rename(from, to) < 0)
        return errno == ENOENT
                   ? 0
                   : k3c_err_set(err, K3C_E_SYSTEM, "move %s to %s: %s", from, to, strerror(errno));
    fprintf(out, "moved %s\n", rel);
    return 0;
}

int
install_certs_rotate(const char *data_dir, FILE *out, struct k3c_err *err)
{
    struct install_opts o = {.root = data_dir};
    struct pki_cert_info *v = NULL;
    size_t n = 0, moved = 0;
    pid_t pids[8];
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    _cleanup_free_ char *backup = NULL;
    int rc = 0;

    /* k3c must be stopped: a running server keeps serving the old leaves
     * (with the default data dir, any k3c server or agent counts) */
    if (strcmp(data_dir, "/var/lib/k3c") == 0)
        o.root = NULL;
    if (install_find_procs(&o, data_dir, false, pids, K3C_ARRAY_SIZE(pids)) > 0)
        return k3c_err_set(err, K3C_E_CONFLICT,
                           "k3c is running on %s (pid %d): stop it first (systemctl stop k3c, "
                           "or k3c killall), then rotate and start it again",
                           data_dir, (int)pids[0]);
    if (pki_certs_list(data_dir, &v, &n, err) < 0)
        return -1;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    backup = k3c_xasprintf("%s/server/tls-backup-%s", data_dir, stamp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        _cleanup_free_ char *key = NULL;

        if (v[i].ca)
            continue;
        key = k3c_xstrdup(v[i].file);
        strcpy(key + strlen(key) - 4, ".key");
        rc = move_to_backup(data_dir, backup, v[i].file, out, err);
        if (rc == 0)
            rc = move_to_backup(data_dir, backup, key, out, err);
        moved++;
    }
    pki_certs_free(v, n);
    if (rc < 0)
        return -1;
    if (moved == 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "no leaf certificates under %s", data_dir);
    fprintf(out,
            "%zu leaf certificates moved to %s; the CAs are kept.\n"
            "Start k3c again: it issues new certificates from the same CAs.\n",
            moved, backup);
    return 0;
}
