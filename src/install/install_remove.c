/* SPDX-License-Identifier: Apache-2.0
 * install_remove.c - `k3c killall` and `k3c uninstall`, K3s's
 * k3s-killall.sh and k3s-uninstall.sh: stop k3c and remove what its node
 * left on the host, then (uninstall) what `k3c install` put there. Every
 * step says what it removed and finding nothing is fine: both run twice.
 * Links go through libnl and tables through net_nft_run, as in src/net/. */
#define LOG_COMPONENT "install"

#include "install/install-internal.h"

#include "base/cleanup.h"
#include "base/util.h"
#include "net/ipt.h"
#include "net/net.h"
#include "runtime/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <arpa/inet.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_WAIT_MS 30000

static void
closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

int
install_exec(const char *const *argv, bool quiet)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return 127;
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool
has_root(const struct install_opts *o)
{
    return o->root && *o->root;
}

static bool
systemd_here(const struct install_opts *o)
{
    _cleanup_free_ char *sc = k3c_find_in_path("systemctl");

    return !has_root(o) && sc && access("/run/systemd/system", F_OK) == 0;
}

/* ---- processes ---------------------------------------------------------- */

/* /proc/<pid>/cmdline with NULs as spaces; NULL when gone. */
static char *
proc_cmdline(const char *pid)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%s/cmdline", pid);
    char *data = NULL;
    size_t len = 0;
    struct k3c_err ignore = {0};

    if (k3c_read_file(path, &data, &len, &ignore) < 0)
        return NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (data[i] == '\0')
            data[i] = ' ';
    return data;
}

/* k3c server/agent processes (with a root: those whose command line names
 * it) or conmons of the data dir; pids into out (at most max). */
size_t
install_find_procs(const struct install_opts *o, const char *data_dir, bool conmon, pid_t *out,
                   size_t max)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    struct dirent *de;
    size_t n = 0;
    _cleanup_free_ char *needle = k3c_xasprintf("%s/agent/", data_dir);

    while (d && (de = readdir(d)) && n < max) {
        _cleanup_free_ char *cmd = NULL, *comm_path = NULL, *comm = NULL;
        struct k3c_err ignore = {0};
        pid_t pid = (pid_t)atoi(de->d_name);

        if (pid <= 0 || pid == getpid())
            continue;
        comm_path = k3c_xasprintf("/proc/%s/comm", de->d_name);
        if (k3c_read_file(comm_path, &comm, NULL, &ignore) < 0 || !(cmd = proc_cmdline(de->d_name)))
            continue;
        comm[strcspn(comm, "\n")] = '\0';
        if (conmon) {
            if (strcmp(comm, "conmon") == 0 && strstr(cmd, needle))
                out[n++] = pid;
            continue;
        }
        if (strcmp(comm, "k3c") != 0 || (!strstr(cmd, " server") && !strstr(cmd, " agent")))
            continue;
        if (has_root(o) && !strstr(cmd, o->root))
            continue;
        out[n++] = pid;
    }
    return n;
}

/* Alive and not a zombie (a zombie waits for its parent, not for us). */
static bool
proc_alive(pid_t pid)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%d/stat", (int)pid), *stat = NULL;
    struct k3c_err ignore = {0};
    const char *end;

    if (kill(pid, 0) != 0 || k3c_read_file(path, &stat, NULL, &ignore) < 0)
        return false;
    end = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return !(end && end[1] == ' ' && end[2] == 'Z');
}

static void
stop_k3c(const struct install_opts *o, const char *data_dir)
{
    pid_t pids[256];
    size_t n = install_find_procs(o, data_dir, false, pids, K3C_ARRAY_SIZE(pids));
    int64_t deadline = k3c_now_ms() + STOP_WAIT_MS;

    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    for (size_t i = 0; i < n; i++) {
        while (proc_alive(pids[i]) && k3c_now_ms() < deadline)
            k3c_sleep_ms(100);
        if (proc_alive(pids[i])) {
            kill(pids[i], SIGKILL);
            fprintf(o->out, "k3c process %d did not stop in %d s: killed\n", (int)pids[i],
                    STOP_WAIT_MS / 1000);
        } else {
            fprintf(o->out, "k3c process %d stopped\n", (int)pids[i]);
        }
    }
    if (n == 0)
        fprintf(o->out, "no k3c process running\n");
}

/* ---- containers, mounts, namespaces, cgroups ------------------------- */

static void
remove_containers(const struct install_opts *o, const char *data_dir)
{
    _cleanup_free_ char *st = k3c_xasprintf("%s/agent/containers", data_dir);
    _cleanup_free_ char *dir = k3c_xasprintf("%s/containers", st);
    _cleanup_(closedirp) DIR *d = opendir(dir);
    struct dirent *de;
    pid_t pids[1024];
    size_t n = 0, nc;

    while (d && (de = readdir(d))) {
        bool deleted = false;

        if (de->d_name[0] == '.')
            continue;
        for (size_t r = 0; r < 2; r++) {
            const char *rt = r ? "crun" : "runc";
            _cleanup_free_ char *rroot = k3c_xasprintf("%s/%s-root", st, rt);
            const char *argv[] = {rt, "--root", rroot, "delete", "--force", de->d_name, NULL};

            if (access(rroot, F_OK) == 0 && install_exec(argv, true) == 0)
                deleted = true;
        }
        n += deleted;
    }
    /* each conmon exits with its container; one left is ours by its arguments */
    nc = install_find_procs(o, data_dir, true, pids, K3C_ARRAY_SIZE(pids));
    for (size_t i = 0; i < nc; i++)
        kill(pids[i], SIGKILL);
    fprintf(o->out, "containers removed: %zu (conmon processes killed: %zu)\n", n, nc);
}

static int
mount_cmp(const void *a, const void *b)
{
    return -strcmp(*(char *const *)a, *(char *const *)b); /* deepest first */
}

/* Unmounts every mount under one of the prefixes (mountinfo's field 5). */
static size_t
unmount_under(const char *const *prefixes, size_t np)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], *mounts[4096];
    size_t n = 0, done = 0;

    while (f && n < K3C_ARRAY_SIZE(mounts) && fgets(line, sizeof(line), f)) {
        char mp[4096];

        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
            continue;
        for (size_t i = 0; i < np; i++)
            if (strncmp(mp, prefixes[i], strlen(prefixes[i])) == 0) {
                mounts[n++] = k3c_xstrdup(mp);
                break;
            }
    }
    qsort(mounts, n, sizeof(char *), mount_cmp);
    for (size_t i = 0; i < n; i++) {
        if (umount2(mounts[i], MNT_DETACH) == 0)
            done++;
        free(mounts[i]);
    }
    return done;
}

static void
remove_pod_state(const struct install_opts *o, const char *data_dir)
{
    _cleanup_free_ char *agent = k3c_xasprintf("%s/agent/", data_dir);
    _cleanup_free_ char *netns_dir = install_path(o, NET_NETNS_DIR);
    _cleanup_free_ char *netns_pfx = k3c_xasprintf("%s/k3c-", netns_dir);
    _cleanup_free_ char *pods = k3c_xasprintf("%s/agent/pods", data_dir);
    const char *prefixes[] = {agent, netns_pfx};
    _cleanup_(closedirp) DIR *nd = NULL, *pd = NULL;
    struct dirent *de;
    size_t mounts = unmount_under(prefixes, 2), ns = 0, cg = 0;

    nd = opendir(netns_dir);
    while (nd && (de = readdir(nd))) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", netns_dir, de->d_name);

        if (strncmp(de->d_name, "k3c-", 4) == 0 && unlink(p) == 0)
            ns++;
    }
    /* cgroups only of this node's pods: /k3c/<uid> (runtime.h) */
    pd = opendir(pods);
    while (pd && (de = readdir(pd))) {
        struct k3c_err ignore = {0};

        _cleanup_free_ char *cgdir =
            k3c_xasprintf("/sys/fs/cgroup%s/%s", RUNTIME_CGROUP_PARENT, de->d_name);

        if (de->d_name[0] != '.' && access(cgdir, F_OK) == 0 &&
            runtime_pod_cgroup_remove(NULL, de->d_name, &ignore) == 0)
            cg++;
    }
    fprintf(o->out,
            "mounts unmounted: %zu; pod network namespaces removed: %zu; pod cgroups "
            "removed: %zu\n",
            mounts, ns, cg);
    for (size_t i = 0; i < 4; i++) {
        static const char *const sub[] = {"pods", "cni", "containers", "logs"};
        _cleanup_free_ char *p = k3c_xasprintf("%s/agent/%s", data_dir, sub[i]);

        if (access(p, F_OK) == 0 && install_rm_rf(p) == 0)
            fprintf(o->out, "removed %s\n", p);
    }
}

/* ---- the node's network ----------------------------------------------- */

/* With a root (tests) the links and tables of this network namespace are
 * touched only with --with-net: a test runs killall in a network namespace
 * of its own (unshare), never in the host's. (Comparing with PID 1's
 * namespace would need /proc/1/ns/net, not readable in every container.) */
static bool
network_allowed(const struct install_opts *o)
{
    return !has_root(o) || o->with_net;
}

static void
remove_links(const struct install_opts *o, const char *bridge)
{
    const char *names[] = {bridge, "flannel.1", "k3c-dns0"};
    struct nl_sock *sk = nl_socket_alloc();

    if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0) {
        fprintf(o->out, "netlink unavailable: links not checked\n");
        nl_socket_free(sk);
        return;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(names); i++) {
        struct rtnl_link *l = NULL;

        if (rtnl_link_get_kernel(sk, 0, names[i], &l) < 0)
            continue;
        if (rtnl_link_delete(sk, l) == 0)
            fprintf(o->out, "link %s deleted\n", names[i]);
        rtnl_link_put(l);
    }
    nl_socket_free(sk);
}

/* The cluster DNS address on lo, where the kernel had no dummy link for
 * k3c-dns0 (docs/dns.md). */
static void
remove_dns_address(const struct install_opts *o, const char *dns)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct rtnl_addr *a = rtnl_addr_alloc();
    struct nl_addr *local = NULL;
    _cleanup_free_ char *cidr = dns && *dns ? k3c_xasprintf("%s/32", dns) : NULL;
    int lo;

    if (sk && a && cidr && nl_connect(sk, NETLINK_ROUTE) == 0 &&
        nl_addr_parse(cidr, AF_INET, &local) == 0 && (lo = (int)if_nametoindex("lo")) > 0) {
        rtnl_addr_set_ifindex(a, lo);
        rtnl_addr_set_local(a, local);
        rtnl_addr_set_prefixlen(a, 32);
        if (rtnl_addr_delete(sk, a, 0) == 0)
            fprintf(o->out, "cluster DNS address %s removed from lo\n", dns);
    }
    nl_addr_put(local);
    rtnl_addr_put(a);
    nl_socket_free(sk);
}

/* Jumps from the built-in chains to CNI-* chains (portmap's hostPort
 * rules), then those chains, in the nat and filter tables: the rules are
 * replayed with -D from `iptables -S`, which quotes them for a shell. */
static void
remove_cni_iptables(const struct install_opts *o)
{
    static const char *const tables[] = {"nat", "filter"};
    _cleanup_free_ char *ipt = k3c_find_in_path("iptables");
    size_t n = 0;

    if (!ipt)
        return;
    for (size_t t = 0; t < K3C_ARRAY_SIZE(tables); t++) {
        for (int pass = 0; pass < 3; pass++) {
            _cleanup_free_ char *list = k3c_xasprintf("iptables -t %s -S 2>/dev/null", tables[t]);
            FILE *f = popen(list, "re");
            char line[4096];

            while (f && fgets(line, sizeof(line), f)) {
                _cleanup_free_ char *cmd = NULL;
                const char *argv[] = {"sh", "-c", NULL, NULL};
                char chain[256];

                line[strcspn(line, "\n")] = '\0';
                if (pass == 0 && strncmp(line, "-A ", 3) == 0 && strstr(line, " -j CNI-") &&
                    strncmp(line + 3, "CNI-", 4) != 0)
                    cmd = k3c_xasprintf("iptables -t %s -D %s", tables[t], line + 3);
                else if (pass > 0 && sscanf(line, "-N %255s", chain) == 1 &&
                         strncmp(chain, "CNI-", 4) == 0)
                    cmd = k3c_xasprintf("iptables -t %s %s %s", tables[t], pass == 1 ? "-F" : "-X",
                                        chain);
                if (!cmd)
                    continue;
                argv[2] = cmd;
                if (install_exec(argv, true) == 0 && pass == 2)
                    n++;
            }
            if (f)
                pclose(f);
        }
    }
    if (n)
        fprintf(o->out, "iptables: %zu CNI chains removed\n", n);
}

/* The iptables backend's chains (issue #19, net/ipt.h): every K3C- chain
 * of the nat and filter tables and the jumps to them. */
static void
remove_k3c_iptables(const struct install_opts *o)
{
    struct k3c_err err = {0};
    int n = ipt_remove_chains(IPT_PREFIX, NULL, &err);

    if (n < 0)
        fprintf(o->out, "iptables: K3C- chains not removed: %s\n", err.msg);
    else if (n > 0)
        fprintf(o->out, "iptables: %d K3C- chains removed\n", n);
}

static void
remove_nft_tables(const struct install_opts *o)
{
    static const char *const tables[] = {"ip k3c-flannel", "ip k3c-proxy"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(tables); i++) {
        _cleanup_free_ char *list = k3c_xasprintf("list table %s", tables[i]);
        _cleanup_free_ char *del = k3c_xasprintf("delete table %s", tables[i]);
        _cleanup_free_ char *out = NULL;
        struct k3c_err err = {0};

        if (net_nft_run(list, "list", &out, &err) == 0 &&
            net_nft_run(del, "delete", NULL, &err) == 0)
            fprintf(o->out, "nftables table %s deleted\n", tables[i]);
    }
}

/* ---- configuration ----------------------------------------------------- */

/* data dir and bridge from the installed config (server keys, then agent). */
static void
read_settings(const struct install_opts *o, char **data_dir, char **bridge, char **dns)
{
    _cleanup_free_ char *path = install_path(o, INSTALL_CONFIG);
    enum config_role roles[] = {CONFIG_ROLE_SERVER, CONFIG_ROLE_AGENT};

    for (size_t i = 0; i < 2; i++) {
        struct k3c_config cfg = {.default_config_file = path};
        struct k3c_err ignore = {0};
        char *argv[] = {"killall", NULL}, *envp[] = {NULL};

        if (config_load(&cfg, roles[i], 1, argv, envp, &ignore) == CONFIG_OK) {
            *data_dir = install_path(o, cfg.data_dir);
            *bridge = k3c_xstrdup(cfg.cni_bridge);
            *dns = k3c_xstrdup(cfg.cluster_dns ? cfg.cluster_dns : "");
            config_fini(&cfg);
            return;
        }
    }
    *data_dir = install_path(o, "/var/lib/k3c");
    *bridge = k3c_xstrdup("cni0");
    *dns = k3c_xstrdup("10.43.0.10");
}

int
install_killall(const struct install_opts *o, struct k3c_err *err)
{
    _cleanup_free_ char *data_dir = NULL, *bridge = NULL, *dns = NULL;

    (void)err;
    read_settings(o, &data_dir, &bridge, &dns);
    if (systemd_here(o)) {
        const char *argv[] = {"systemctl", "stop", "k3c.service", "k3c-agent.service", NULL};

        install_exec(argv, true);
        fprintf(o->out, "systemctl stop k3c.service k3c-agent.service\n");
    }
    stop_k3c(o, data_dir);
    remove_containers(o, data_dir);
    remove_pod_state(o, data_dir);
    if (network_allowed(o)) {
        remove_links(o, bridge);
        remove_dns_address(o, dns);
        remove_nft_tables(o);
        remove_cni_iptables(o);
        remove_k3c_iptables(o);
    } else {
        fprintf(o->out, "(--root without --with-net: links and nftables kept)\n");
    }
    fprintf(o->out, "killall done; state kept in %s\n", data_dir);
    return 0;
}

/* ---- uninstall ------------------------------------------------------------ */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int
install_rm_rf(const char *path)
{
    if (strcmp(path, "/") == 0 || !*path)
        return -1;
    /* FTW_MOUNT: never into a file system still mounted below */
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return access(path, F_OK) == 0 ? -1 : 0;
}

static void
remove_path(const struct install_opts *o, const char *rel, bool under_root)
{
    _cleanup_free_ char *p = under_root ? install_path(o, rel) : k3c_xstrdup(rel);
    struct stat st;

    if (lstat(p, &st) < 0)
        return;
    if (install_rm_rf(p) == 0)
        fprintf(o->out, "removed %s\n", p);
    else
        fprintf(o->out, "could not remove all of %s\n", p);
}

int
install_uninstall(const struct install_opts *o, bool keep_data, struct k3c_err *err)
{
    _cleanup_free_ char *data_dir = NULL, *bridge = NULL, *dns = NULL;
    static const char *const units[] = {"k3c.service", "k3c-agent.service"};

    read_settings(o, &data_dir, &bridge, &dns);
    if (install_killall(o, err) < 0)
        return -1;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(units); i++) {
        _cleanup_free_ char *rel = k3c_xasprintf("%s/%s", INSTALL_UNIT_DIR, units[i]);
        _cleanup_free_ char *p = install_path(o, rel);

        if (access(p, F_OK) != 0)
            continue;
        if (systemd_here(o)) {
            const char *argv[] = {"systemctl", "disable", units[i], NULL};

            install_exec(argv, true);
        }
        remove_path(o, rel, true);
    }
    if (systemd_here(o)) {
        const char *argv[] = {"systemctl", "daemon-reload", NULL};

        install_exec(argv, true);
    }
    remove_path(o, INSTALL_CONFIG_DIR, true);
    if (keep_data)
        fprintf(o->out, "data kept in %s (--keep-data)\n", data_dir);
    else
        remove_path(o, data_dir, false);
    /* Debian's package owns /usr/bin/k3c: apt removes that one */
    remove_path(o, INSTALL_BIN, true);
    fprintf(o->out, "uninstall done\n");
    return 0;
}
