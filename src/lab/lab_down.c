/* SPDX-License-Identifier: Apache-2.0
 * lab_down.c - `k3c lab down`: removes everything a lab made, in the order
 * that lets each step work: the forwarder, the hosts' k3c (SIGTERM, then
 * SIGKILL for whatever is left in the host and pod namespaces), containers
 * (runc delete), mounts under the dir, pod namespaces and cgroups, the
 * host and LAN namespaces, the dir's files. Each step tolerates what an
 * earlier, interrupted down already removed, so down is safe to repeat. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"
#include "runtime/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOWN_TERM_WAIT_MS 15000
#define DOWN_KILL_WAIT_MS 10000

struct down_counts {
    int processes, containers, mounts, pod_netns, cgroups, netns;
    bool forwarder;
};

/* True for the programs a lab runs outside containers. */
static bool
lab_program(long pid)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%ld/comm", pid);
    _cleanup_free_ char *comm = NULL;
    struct k3c_err err = {0};
    size_t len;

    if (k3c_read_file(path, &comm, &len, &err) < 0)
        return false;
    comm[strcspn(comm, "\n")] = 0;
    return strcmp(comm, "k3c") == 0 || strcmp(comm, "etcd") == 0 || strcmp(comm, "conmon") == 0;
}

/* Signals the k3c, etcd and conmon processes whose command line mentions
 * needle (a shell tailing a log is left alone). */
static int
kill_by_cmdline(const char *needle, int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        long pid = strtol(e->d_name, NULL, 10);
        _cleanup_free_ char *path = NULL, *cmd = NULL;
        struct k3c_err err = {0};
        size_t len;

        if (pid <= 1 || pid == getpid() || !lab_program(pid))
            continue;
        path = k3c_xasprintf("/proc/%ld/cmdline", pid);
        if (k3c_read_file(path, &cmd, &len, &err) < 0 || len == 0)
            continue;
        for (size_t i = 0; i < len; i++)
            if (cmd[i] == 0)
                cmd[i] = ' ';
        if (strstr(cmd, needle) && kill((pid_t)pid, sig) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void
stop_forwarder(const char *dir, struct down_counts *c)
{
    _cleanup_free_ char *needle = k3c_xasprintf("lab forward --dir %s", dir);

    c->forwarder = kill_by_cmdline(needle, SIGKILL) > 0;
}

static bool
any_host_running(const struct lab *l)
{
    for (size_t i = 0; i < l->n_hosts; i++)
        if (lab_host_pid(l, &l->hosts[i]) > 0)
            return true;
    return false;
}

static void
stop_hosts(const struct lab *l, struct down_counts *c)
{
    _cleanup_free_ char *hosts_dir = k3c_xasprintf("%s/hosts/", l->dir);
    int64_t deadline = k3c_now_ms() + DOWN_TERM_WAIT_MS;

    /* SIGTERM first: each server stops its etcd member cleanly. */
    for (size_t i = 0; i < l->n_hosts; i++) {
        pid_t pid = lab_host_pid(l, &l->hosts[i]);

        if (pid > 0 && kill(pid, SIGTERM) == 0)
            c->processes++;
    }
    while (any_host_running(l) && k3c_now_ms() < deadline) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        k3c_sleep_ms(100);
    }
    /* Then whatever is left: containers, conmon, an etcd. */
    deadline = k3c_now_ms() + DOWN_KILL_WAIT_MS;
    for (;;) {
        int n = kill_by_cmdline(hosts_dir, SIGKILL);

        for (size_t i = 0; i < l->n_hosts; i++)
            n += lab_host_signal_all(l, &l->hosts[i], SIGKILL);
        c->processes += n;
        if (n == 0 || k3c_now_ms() > deadline)
            break;
        k3c_sleep_ms(100);
    }
}

static void
delete_containers(const struct lab *l, struct down_counts *c)
{
    for (size_t i = 0; i < l->n_hosts; i++) {
        _cleanup_free_ char *st = lab_host_path(l, &l->hosts[i], "data/agent/containers");
        struct runtime_config rc = {.runtime = "runc", .state_dir = st, .cmd_timeout_ms = 10000};
        struct runtime_status *list = NULL;
        struct runtime *rt;
        struct k3c_err err = {0};
        size_t n = 0;

        if (!k3c_file_exists(st))
            continue;
        rt = runtime_new(&rc, &err);
        if (!rt)
            continue;
        if (runtime_list(rt, &list, &n, &err) == 0) {
            for (size_t k = 0; k < n; k++) {
                k3c_err_clear(&err);
                if (runtime_delete(rt, list[k].id, &err) == 0)
                    c->containers++;
            }
            free(list);
        }
        runtime_free(rt);
    }
}

/* Unmounts every mount point under dir, deepest first. */
static void
unmount_under(const char *dir, struct down_counts *c)
{
    _cleanup_free_ char *text = NULL, *prefix = k3c_xasprintf("%s/", dir);
    struct k3c_err err = {0};
    char **points = NULL;
    size_t n = 0, len;

    if (k3c_read_file("/proc/self/mountinfo", &text, &len, &err) < 0)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char mp[PATH_MAX];

        /* "36 35 98:0 /mnt1 /mnt/parent rw ..." : the 5th field */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
            continue;
        if (strncmp(mp, prefix, strlen(prefix)) != 0)
            continue;
        points = k3c_xrealloc(points, (n + 1) * sizeof(*points));
        points[n++] = k3c_xstrdup(mp);
    }
    /* Later lines are mounted on top of earlier ones: undo in reverse. */
    for (size_t i = n; i-- > 0;) {
        if (umount2(points[i], MNT_DETACH) == 0)
            c->mounts++;
        free(points[i]);
    }
    free(points);
}

/* The pod's cgroup in a unified (v2) or any v1 hierarchy k3c uses. */
static bool
pod_cgroup_exists(const char *uid)
{
    static const char *const roots[] = {"", "/unified", "/memory", "/pids", "/cpu"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(roots); i++) {
        _cleanup_free_ char *p =
            k3c_xasprintf("/sys/fs/cgroup%s%s/%s", roots[i], RUNTIME_CGROUP_PARENT, uid);

        if (k3c_file_exists(p))
            return true;
    }
    return false;
}

static void
remove_pod_leftovers(const struct lab *l, struct down_counts *c)
{
    for (size_t i = 0; i < l->n_hosts; i++) {
        _cleanup_free_ char *pods = lab_host_path(l, &l->hosts[i], "data/agent/pods");
        DIR *d = opendir(pods);
        struct dirent *e;

        if (!d)
            continue;
        while ((e = readdir(d))) {
            _cleanup_free_ char *ns = NULL;
            struct k3c_err err = {0};

            if (e->d_name[0] == '.')
                continue;
            ns = k3c_xasprintf("k3c-%s", e->d_name);
            {
                _cleanup_free_ char *p = lab_netns_path(ns);

                if (k3c_file_exists(p) && net_netns_delete(NET_NETNS_DIR, ns, &err) == 0)
                    c->pod_netns++;
            }
            if (pod_cgroup_exists(e->d_name) &&
                runtime_pod_cgroup_remove(NULL, e->d_name, &err) == 0)
                c->cgroups++;
        }
        closedir(d);
    }
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void
remove_files(const char *dir)
{
    static const char *const leaves[] = {
        "hosts",         "lab.json",       "kubeconfig.yaml",  "forwarder.log",
        "forwarder.pid", "forwarder.port", "empty-config.yaml"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(leaves); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, leaves[i]);

        nftw(p, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    rmdir(dir); /* only when nothing else is in it */
}

int
lab_down(const char *dir_arg, FILE *out, struct k3c_err *err)
{
    _cleanup_free_ char *dir = lab_dir_resolve(dir_arg);
    struct down_counts c = {0};
    struct lab *l = k3c_xcalloc(1, sizeof(*l));
    struct k3c_err lerr = {0};
    char prefix[16];
    int n;

    if (geteuid() != 0) {
        free(l);
        return k3c_err_set(err, K3C_E_INVALID, "k3c lab needs root");
    }
    lab_prefix_of(dir, prefix);
    if (lab_load(l, dir, &lerr) < 0) {
        /* No state (never made, or removed by a previous down): still
         * sweep what the naming scheme says could be ours. */
        snprintf(l->dir, sizeof(l->dir), "%s", dir);
        snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
    }
    stop_forwarder(dir, &c);
    stop_hosts(l, &c);
    delete_containers(l, &c);
    unmount_under(dir, &c);
    remove_pod_leftovers(l, &c);
    n = lab_net_down(prefix, err);
    if (n < 0) {
        free(l);
        return k3c_err_wrap(err, "remove namespaces");
    }
    c.netns = n;
    remove_files(dir);
    free(l);
    if (!c.forwarder && c.processes == 0 && c.containers == 0 && c.mounts == 0 &&
        c.pod_netns == 0 && c.netns == 0 && c.cgroups == 0) {
        fprintf(out, "lab %s: nothing to remove\n", dir);
        return 0;
    }
    fprintf(out,
            "lab %s removed: %d processes signalled, %d containers, %d mounts, "
            "%d pod namespaces, %d pod cgroups, %d host/LAN namespaces, forwarder %s\n",
            dir, c.processes, c.containers, c.mounts, c.pod_netns, c.cgroups, c.netns,
            c.forwarder ? "stopped" : "not running");
    return 0;
}
