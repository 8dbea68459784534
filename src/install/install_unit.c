/* SPDX-License-Identifier: Apache-2.0
 * install_unit.c - `k3c install server|agent`: the binary, config.yaml,
 * the systemd unit, systemctl, and what to run on the next machine. */
#define LOG_COMPONENT "install"

#include "install/install.h"
#include "install/install-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
install_unit_name(enum config_role role)
{
    return role == CONFIG_ROLE_SERVER ? "k3c.service" : "k3c-agent.service";
}

/* As K3s's units: KillMode=process and Delegate=yes let the containers
 * (under conmon, in their own cgroups) outlive a restart of k3c, which
 * adopts them again; Type=notify waits for READY=1 (k3c sends it when the
 * API serves and its node runs, or the agent's node is registered);
 * TimeoutStartSec=0 because a joining server may wait long for its peers. */
char *
install_unit_text(enum config_role role, const char *binary)
{
    bool server = role == CONFIG_ROLE_SERVER;

    return k3c_xasprintf(
        "# Written by `k3c install %s` (docs/install.md); `k3c uninstall` removes it.\n"
        "[Unit]\n"
        "Description=k3c %s - lightweight Kubernetes-compatible cluster\n"
        "Documentation=man:k3c(8) file:///usr/share/doc/k3c/install.md\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "%s"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
        "\n"
        "[Service]\n"
        "Type=notify\n"
        "NotifyAccess=main\n"
        "EnvironmentFile=-/etc/default/%s\n"
        "KillMode=process\n"
        "Delegate=yes\n"
        "LimitNOFILE=1048576\n"
        "LimitNPROC=infinity\n"
        "LimitCORE=infinity\n"
        "TasksMax=infinity\n"
        "TimeoutStartSec=0\n"
        "TimeoutStopSec=60\n"
        "Restart=always\n"
        "RestartSec=5s\n"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "SyslogIdentifier=%s\n"
        "ExecStartPre=-/sbin/modprobe br_netfilter\n"
        "ExecStartPre=-/sbin/modprobe overlay\n"
        "ExecStart=%s %s\n",
        server ? "server" : "agent", server ? "server" : "agent",
        server ? "Conflicts=k3c-agent.service\n" : "Conflicts=k3c.service\n",
        server ? "k3c" : "k3c-agent", server ? "k3c" : "k3c-agent", binary,
        server ? "server" : "agent");
}

/* ---- paths under the root ----------------------------------------------- */

char *
install_path(const struct install_opts *o, const char *path)
{
    const char *root = o->root && *o->root ? o->root : "";

    return k3c_xasprintf("%s%s", root, path);
}

static bool
has_root(const struct install_opts *o)
{
    return o->root && *o->root;
}

/* Writes data to path (its directories made) when it differs; *changed says. */
static int
write_if_changed(const char *path, const char *data, size_t len, mode_t mode, bool *changed,
                 struct k3c_err *err)
{
    _cleanup_free_ char *old = NULL, *dir = k3c_xstrdup(path);
    size_t old_len = 0;
    struct k3c_err ignore = {0};

    *changed = false;
    if (k3c_read_file(path, &old, &old_len, &ignore) == 0 && old_len == len &&
        memcmp(old, data, len) == 0) {
        chmod(path, mode);
        return 0;
    }
    *strrchr(dir, '/') = '\0';
    if (k3c_mkdir_p(dir, 0755, err) < 0 || k3c_write_file(path, data, len, mode, err) < 0)
        return -1;
    *changed = true;
    return 0;
}

/* The k3c that ExecStart runs: Debian's package puts it in /usr/bin and
 * it stays there; any other binary is copied to /usr/local/bin/k3c. */
static int
install_binary(const struct install_opts *o, char **exec_path, bool *changed, struct k3c_err *err)
{
    char self[PATH_MAX];
    const char *src = o->binary;
    _cleanup_free_ char *dst = install_path(o, INSTALL_BIN), *data = NULL;
    size_t len = 0;

    if (!src) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n < 0)
            return k3c_err_sys(err, errno, "readlink /proc/self/exe");
        self[n] = '\0';
        src = self;
    }
    if (!has_root(o) && strcmp(src, INSTALL_PKG_BIN) == 0) {
        *exec_path = k3c_xstrdup(INSTALL_PKG_BIN);
        *changed = false;
        return 0;
    }
    *exec_path = k3c_xstrdup(INSTALL_BIN);
    if (strcmp(src, dst) == 0) {
        *changed = false;
        return 0;
    }
    if (k3c_read_file(src, &data, &len, err) < 0)
        return k3c_err_wrap(err, "the k3c binary");
    return write_if_changed(dst, data, len, 0755, changed, err);
}

/* Loads the merged config as `k3c <role>` will (no environment). */
static int
check_config(const char *path, enum config_role role, struct k3c_config *cfg, struct k3c_err *err)
{
    char *argv[] = {role == CONFIG_ROLE_SERVER ? "server" : "agent", "--config", (char *)path,
                    NULL};
    char *envp[] = {NULL};

    cfg->default_config_file = path;
    if (config_load(cfg, role, 3, argv, envp, err) != CONFIG_OK)
        return -1;
    if (role == CONFIG_ROLE_AGENT && (!cfg->server || !cfg->token))
        return k3c_err_set(err, K3C_E_INVALID,
                           "an agent needs --server and --token (flags or config.yaml)");
    return 0;
}

static int
write_config(const struct install_opts *o, enum config_role role, int argc, char **argv,
             struct k3c_config *cfg, bool *changed, struct k3c_err *err)
{
    _cleanup_free_ char *path = install_path(o, INSTALL_CONFIG), *old = NULL, *text = NULL;
    _cleanup_free_ char *tmp = NULL, *dir = install_path(o, INSTALL_CONFIG_DIR);
    struct k3c_err ignore = {0};
    size_t old_len = 0;

    if (k3c_read_file(path, &old, &old_len, &ignore) < 0 && ignore.sys_errno != ENOENT)
        return k3c_err_set(err, K3C_E_SYSTEM, "%s", ignore.msg);
    text = install_config_merge(old, role, argc, argv, err);
    if (!text)
        return k3c_err_wrap(err, "%s", path);
    tmp = k3c_xasprintf("%s.check.%d", path, (int)getpid());
    if (k3c_mkdir_p(dir, 0755, err) < 0 || k3c_write_file(tmp, text, strlen(text), 0600, err) < 0)
        return -1;
    if (check_config(tmp, role, cfg, err) < 0) {
        unlink(tmp);
        return k3c_err_wrap(err, "not written");
    }
    unlink(tmp);
    /* 0600: the token may be in it */
    return write_if_changed(path, text, strlen(text), 0600, changed, err);
}

static int
systemctl(const struct install_opts *o, const char *verb, const char *unit, struct k3c_err *err)
{
    const char *argv[] = {"systemctl", verb, unit, NULL};

    fprintf(o->out, "  systemctl %s %s\n", verb, unit ? unit : "");
    if (install_exec(argv, true) != 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "systemctl %s %s failed (journalctl -u %s)", verb,
                           unit ? unit : "", unit ? unit : "k3c");
    return 0;
}

static int
run_systemctl(const struct install_opts *o, const char *unit, bool changed, struct k3c_err *err)
{
    if (has_root(o)) {
        fprintf(o->out, "(--root: systemctl not run)\n");
        return 0;
    }
    _cleanup_free_ char *sc = k3c_find_in_path("systemctl");

    if (!sc || access("/run/systemd/system", F_OK) != 0) {
        fprintf(o->out, "systemd is not running here: start it with `%s`\n", unit);
        return 0;
    }
    if ((changed && systemctl(o, "daemon-reload", NULL, err) < 0) ||
        systemctl(o, "enable", unit, err) < 0)
        return -1;
    if (o->no_start)
        return 0;
    return systemctl(o, changed ? "restart" : "start", unit, err);
}

static void
print_next(const struct install_opts *o, enum config_role role, const struct k3c_config *cfg)
{
    _cleanup_free_ char *host = NULL;

    if (role == CONFIG_ROLE_AGENT) {
        fprintf(o->out, "\nk3c agent joins %s; see it with `kubectl get nodes`\n", cfg->server);
        return;
    }
    if (cfg->vip) {
        host = k3c_xstrdup(cfg->vip);
        if (strchr(host, '/'))
            *strchr(host, '/') = '\0';
    } else {
        host = k3c_xstrdup(cfg->node_ip);
    }
    fprintf(o->out,
            "\nkubeconfig: %s (export KUBECONFIG=%s)\n"
            "the join token is in %s/server/token on this server (root only)\n\n"
            "next server:  k3c install server --server https://%s:%d --token \"$TOKEN\"%s\n"
            "an agent:     k3c install agent --server https://%s:%d --token \"$TOKEN\"\n",
            cfg->write_kubeconfig, cfg->write_kubeconfig, cfg->data_dir, host,
            cfg->https_listen_port, cfg->vip ? " --vip <the same VIP>" : "", host,
            cfg->https_listen_port);
    if (!cfg->cluster_init && !cfg->server)
        fprintf(o->out, "(this server was not started with --cluster-init: other servers can "
                        "join only a server with --cluster-init; agents can)\n");
}

int
install_run(const struct install_opts *o, enum config_role role, int argc, char **argv,
            struct k3c_err *err)
{
    struct k3c_config cfg = {0};
    _cleanup_free_ char *exec_path = NULL, *unit_text = NULL, *unit_path = NULL;
    _cleanup_free_ char *unit_rel = NULL;
    bool bin_changed = false, cfg_changed = false, unit_changed = false;
    const char *unit = install_unit_name(role);
    int rc = -1;

    if (install_binary(o, &exec_path, &bin_changed, err) < 0)
        goto out;
    fprintf(o->out, "binary %s: %s\n", exec_path, bin_changed ? "installed" : "up to date");
    if (write_config(o, role, argc, argv, &cfg, &cfg_changed, err) < 0)
        goto out;
    fprintf(o->out, "config %s: %s\n", INSTALL_CONFIG, cfg_changed ? "written" : "unchanged");
    unit_text = install_unit_text(role, exec_path);
    unit_rel = k3c_xasprintf("%s/%s", INSTALL_UNIT_DIR, unit);
    unit_path = install_path(o, unit_rel);
    if (write_if_changed(unit_path, unit_text, strlen(unit_text), 0644, &unit_changed, err) < 0)
        goto out;
    fprintf(o->out, "unit %s: %s\n", unit_rel, unit_changed ? "written" : "unchanged");
    if (run_systemctl(o, unit, bin_changed || cfg_changed || unit_changed, err) < 0)
        goto out;
    print_next(o, role, &cfg);
    rc = 0;
out:
    config_fini(&cfg);
    return rc;
}
