/* SPDX-License-Identifier: Apache-2.0
 * agent_probe.c - kernel features a node with pods needs, probed at start
 * so an old or trimmed kernel (a Jetson's L4T R32 is Linux 4.9 with cgroup
 * v1) gets one clear line per missing feature naming it and what to do,
 * instead of an obscure failure later (a netlink EOPNOTSUPP when flannel.1
 * is made, a pod that never starts). Read-only: nothing is loaded or
 * changed here.
 *
 * A module counts as available when /sys/module/<name> exists (loaded or
 * built in with parameters), or /lib/modules/<release>/modules.builtin or
 * modules.dep lists it (the kernel loads it on first use). Where the
 * modules directory is absent (a container, a stripped image) nothing can
 * be told, and nothing is reported. Paths are read under env->root, so
 * tests/unit/test_agent_probe.c runs the probes over a made-up tree. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

struct probe {
    const struct agent_probe_env *env;
    char release[256];
    struct k3c_buf *report;
    int missing;
};

static char *
path_of(const struct probe *p, const char *fmt, const char *arg)
{
    _cleanup_free_ char *rel = k3c_xasprintf(fmt, arg ? arg : "");

    return k3c_xasprintf("%s%s", p->env->root ? p->env->root : "", rel);
}

static char *
read_text(const struct probe *p, const char *fmt, const char *arg)
{
    _cleanup_free_ char *path = path_of(p, fmt, arg);
    struct k3c_err err = {0};
    char *text = NULL;

    if (k3c_read_file(path, &text, NULL, &err) < 0)
        return NULL;
    return text;
}

/* Whether a modules.dep/.builtin text lists ".../<name>.ko" (any
 * compression suffix) at the start of a line. */
static bool
lists_module(const char *text, const char *name)
{
    _cleanup_free_ char *needle = k3c_xasprintf("/%s.ko", name);

    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n'), *colon = strchr(line, ':');
        const char *stop = end ? end : line + strlen(line);
        const char *hit = strstr(line, needle);

        if (colon && colon < stop)
            stop = colon; /* modules.dep: "path: deps" */
        if (hit && hit < stop)
            return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

enum avail { AVAIL_YES, AVAIL_NO, AVAIL_UNKNOWN };

static enum avail
module_available(const struct probe *p, const char *name)
{
    _cleanup_free_ char *sys = path_of(p, "/sys/module/%s", name);
    _cleanup_free_ char *dep = NULL, *builtin = NULL;
    _cleanup_free_ char *dir = path_of(p, "/lib/modules/%s", p->release);

    if (k3c_file_exists(sys))
        return AVAIL_YES;
    if (!k3c_file_exists(dir))
        return AVAIL_UNKNOWN;
    dep = read_text(p, "/lib/modules/%s/modules.dep", p->release);
    builtin = read_text(p, "/lib/modules/%s/modules.builtin", p->release);
    if (!dep && !builtin)
        return AVAIL_UNKNOWN;
    return lists_module(dep, name) || lists_module(builtin, name) ? AVAIL_YES : AVAIL_NO;
}

static void missing(struct probe *p, const char *feature, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
missing(struct probe *p, const char *feature, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    k3c_buf_appendf(p->report, "%s: %s\n", feature, msg);
    p->missing++;
}

static void
probe_vxlan(struct probe *p)
{
    if (module_available(p, "vxlan") == AVAIL_NO)
        missing(p, "vxlan",
                "kernel %s has no VXLAN (module vxlan, CONFIG_VXLAN): the pod network across "
                "nodes (flannel.1) cannot be made; build the module, or use "
                "--flannel-backend=host-gw when all nodes share one L2 segment",
                p->release);
}

static void
probe_nftables(struct probe *p)
{
    /* nft_nat and nft_chain_nat (nft_chain_nat_ipv4 before 5.1) come with it */
    if (module_available(p, "nf_tables") == AVAIL_NO)
        missing(p, "nf_tables",
                "kernel %s has no nftables (module nf_tables, CONFIG_NF_TABLES): Services, "
                "masquerade and NetworkPolicy cannot be programmed; use "
                "--netfilter-backend iptables (or auto)",
                p->release);
}

/* The iptables backend's tables and matches (net/proxy_ipt.c): the ones a
 * trimmed kernel is likeliest to lack. */
static void
probe_iptables(struct probe *p)
{
    static const char *const need[] = {"ip_tables",    "iptable_nat",  "iptable_filter",
                                       "xt_addrtype",  "xt_conntrack", "xt_mark",
                                       "xt_statistic", "xt_recent"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(need); i++)
        if (module_available(p, need[i]) == AVAIL_NO)
            missing(p, "iptables",
                    "kernel %s has no module %s: the iptables backend's Service rules fail "
                    "to load (CONFIG_IP_NF_*/CONFIG_NETFILTER_XT_*)",
                    p->release, need[i]);
}

static void
probe_br_netfilter(struct probe *p)
{
    _cleanup_free_ char *sysctl = path_of(p, "/proc/sys/net/bridge/bridge-nf-call-iptables", NULL);
    enum avail a;

    if (k3c_file_exists(sysctl))
        return;
    a = module_available(p, "br_netfilter");
    if (a == AVAIL_NO)
        missing(p, "br_netfilter",
                "kernel %s has no br_netfilter (CONFIG_BRIDGE_NETFILTER): a pod's reply to a "
                "client on the same bridge (cni0) through a Service is not un-NATed",
                p->release);
    else
        missing(p, "br_netfilter",
                "module br_netfilter is not loaded (no /proc/sys/net/bridge): Service traffic "
                "between pods of this node breaks; load it (modprobe br_netfilter, and "
                "/etc/modules-load.d/ for boots)");
}

/* cgroup v2: cgroup.controllers of the root; v1: the enabled column of
 * /proc/cgroups. */
static void
probe_cgroups(struct probe *p)
{
    static const struct {
        const char *name, *config;
    } need[] = {
        {"cpu", "CONFIG_CGROUP_SCHED"}, {"memory", "CONFIG_MEMCG"}, {"pids", "CONFIG_CGROUP_PIDS"}};
    _cleanup_free_ char *v2 = read_text(p, "/sys/fs/cgroup/cgroup.controllers", NULL);
    _cleanup_free_ char *v1 = v2 ? NULL : read_text(p, "/proc/cgroups", NULL);

    if (!v2 && !v1) {
        missing(p, "cgroups",
                "neither /sys/fs/cgroup/cgroup.controllers (v2) nor /proc/cgroups "
                "(v1) can be read: is cgroupfs mounted?");
        return;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(need); i++) {
        bool found = false, enabled = false;

        if (v2) {
            _cleanup_free_ char *words = k3c_xasprintf(" %s ", v2);

            words[strcspn(words, "\n")] = ' ';
            {
                _cleanup_free_ char *w = k3c_xasprintf(" %s ", need[i].name);

                found = enabled = strstr(words, w) != NULL;
            }
        } else {
            for (const char *line = v1; line && *line;) {
                char name[64];
                int hier, num, en;

                if (sscanf(line, "%63s %d %d %d", name, &hier, &num, &en) == 4 &&
                    strcmp(name, need[i].name) == 0) {
                    found = true;
                    enabled = en == 1;
                }
                line = strchr(line, '\n');
                line = line ? line + 1 : NULL;
            }
        }
        if (!found)
            missing(p, "cgroups", "controller %s is missing (%s): pods' %s limits cannot be set",
                    need[i].name, need[i].config, need[i].name);
        else if (!enabled)
            missing(p, "cgroups",
                    "cgroup v1 controller %s is disabled: add cgroup_enable=%s to the kernel "
                    "command line (L4T: /boot/extlinux/extlinux.conf, APPEND)",
                    need[i].name, need[i].name);
    }
}

static void
probe_overlay(struct probe *p)
{
    _cleanup_free_ char *fs = read_text(p, "/proc/filesystems", NULL);

    if (fs && strstr(fs, "\toverlay\n"))
        return;
    if (module_available(p, "overlay") == AVAIL_NO)
        missing(p, "overlay",
                "kernel %s has no overlayfs (module overlay, CONFIG_OVERLAY_FS): container root "
                "filesystems cannot be mounted",
                p->release);
}

int
agent_probe_kernel(const struct agent_probe_env *env, unsigned what, struct k3c_buf *report)
{
    struct probe p = {.env = env, .report = report};
    struct utsname u;

    if (env->kernel_release)
        snprintf(p.release, sizeof(p.release), "%s", env->kernel_release);
    else if (uname(&u) == 0)
        snprintf(p.release, sizeof(p.release), "%s", u.release);
    if (what & AGENT_PROBE_VXLAN)
        probe_vxlan(&p);
    if (what & AGENT_PROBE_NFTABLES)
        probe_nftables(&p);
    if (what & AGENT_PROBE_IPTABLES)
        probe_iptables(&p);
    if (what & AGENT_PROBE_BR_NETFILTER)
        probe_br_netfilter(&p);
    if (what & AGENT_PROBE_CGROUPS)
        probe_cgroups(&p);
    if (what & AGENT_PROBE_OVERLAY)
        probe_overlay(&p);
    return p.missing;
}

void
agent_probe_log(const char *node_name, unsigned what)
{
    struct agent_probe_env env = {0};
    struct k3c_buf report;
    int n;

    k3c_buf_init(&report);
    n = agent_probe_kernel(&env, what, &report);
    if (n == 0) {
        log_debug("(node %s) kernel features: all present", node_name);
    } else {
        char *line = report.data, *nl;

        for (; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            log_error("(node %s) kernel feature missing: %s", node_name, line);
        }
    }
    k3c_buf_fini(&report);
}
