/* SPDX-License-Identifier: Apache-2.0
 * cmd_agent.c - `k3c agent --server URL --token K10...`: joins the cluster,
 * registers this node, heartbeats and runs the pods bound to it
 * (kubelet/kubelet.h) until SIGTERM/SIGINT. Pods need root; without it the
 * node only registers. */
#define LOG_COMPONENT "agent"
#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "cmd/cmd.h"
#include "install/install.h"
#include "kubelet/kubelet_eviction.h"
#include "net/net.h"
#include "podspec/podspec.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

K3C_DEFINE_CLEANUP(struct agent *, agent_free)

#define JOIN_BACKOFF_MIN_MS 500
#define JOIN_BACKOFF_MAX_MS 10000
#define JOIN_LOG_EVERY_MS   60000
/* malloc: blocks from this size get their own mapping (given back on free);
 * free space above this at the heap's top is given back. */
#define AGENT_MMAP_THRESHOLD (128 * 1024)
#define AGENT_TRIM_THRESHOLD (128 * 1024)
#define AGENT_TRIM_FIRST_MS  1000 /* the parts' first lists end after agent_start */
#define AGENT_TRIM_EVERY_MS  10000
#define AGENT_NO_TCACHE      "glibc.malloc.tcache_count=0"

/* glibc's per-thread cache (tcache) keeps up to 7 freed blocks of each
 * small size in every thread, outside the heap's free lists: malloc_trim
 * cannot give them back, and with a worker thread per pod it held ~45 KiB a
 * pod (1.4 MiB of the agent's RSS with 30 pods; docs/agent.md, "Session 9:
 * agent memory"). Only GLIBC_TUNABLES at process start turns it off, so the
 * agent execs itself once with it set, where it can: not under qemu-user,
 * where /proc/self/exe runs through binfmt_misc without the agent's library
 * root (the probe fails and the agent goes on with the cache). Children
 * (conmon, the helpers) inherit the setting; containers get only their own
 * environment. A tunable already naming tcache_count (ours after the exec,
 * or the user's) is left as it is. */
static void
reexec_without_tcache(int argc, char **argv)
{
    const char *old = getenv("GLIBC_TUNABLES");
    const char *probe_argv[] = {"/proc/self/exe", "--version", NULL};
    struct net_run_opts probe = {.argv = probe_argv, .timeout_ms = 10000};
    struct net_run_result r = {0};
    struct k3c_err err = {0};
    _cleanup_free_ char *saved = old ? k3c_xstrdup(old) : NULL, *value = NULL;
    _cleanup_free_ char **args = NULL;

    if (old && strstr(old, "glibc.malloc.tcache_count"))
        return;
    if (net_run(&probe, &r, &err) < 0 || r.exit_code != 0) {
        net_run_result_fini(&r);
        return;
    }
    net_run_result_fini(&r);
    value = saved && *saved ? k3c_xasprintf("%s:%s", saved, AGENT_NO_TCACHE)
                            : k3c_xstrdup(AGENT_NO_TCACHE);
    args = k3c_xcalloc((size_t)argc + 2, sizeof(*args));
    args[0] = program_invocation_name;
    memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
    setenv("GLIBC_TUNABLES", value, 1);
    execv("/proc/self/exe", args);
    log_warn("running with glibc's per-thread malloc caches: exec of /proc/self/exe: %s",
             strerror(errno));
    if (saved)
        setenv("GLIBC_TUNABLES", saved, 1);
    else
        unsetenv("GLIBC_TUNABLES");
}

/* Waits for a stop signal, giving the heap's free pages back to the
 * kernel once start-up has settled and then every AGENT_TRIM_EVERY_MS.
 * free() returns only the top of the heap; the holes that bursts leave
 * below live blocks (relists, pod starts, status writes, TLS handshakes)
 * stayed resident: 1.5-2 MiB of the agent's RSS (docs/agent.md, "Session 9:
 * agent memory"). A trim walks the free lists of a heap of a few MB. */
static int
wait_trimming_heap(const sigset_t *stop)
{
    int sig = cmd_wait_signal(stop, AGENT_TRIM_FIRST_MS);

    while (sig == 0) {
        malloc_trim(0);
        sig = cmd_wait_signal(stop, AGENT_TRIM_EVERY_MS);
    }
    return sig;
}

/* agent_join until it works, fails for good (wrong token, not a k3c
 * server) or a stop signal comes. Returns 0, -1 with err, or the signal. */
static int
join_with_retry(struct agent *a, const char *server_url, const sigset_t *stop, struct k3c_err *err)
{
    int64_t backoff = JOIN_BACKOFF_MIN_MS, next_log = 0;

    for (;;) {
        int sig;

        if (agent_join(a, err) == 0)
            return 0;
        if (err->kind != K3C_E_UNAVAILABLE)
            return -1;
        /* Once, then once a minute: an agent may wait long for its server. */
        if (k3c_now_ms() >= next_log) {
            log_warn("server %s not ready yet (%s); retrying", server_url, err->msg);
            next_log = k3c_now_ms() + JOIN_LOG_EVERY_MS;
        }
        sig = cmd_wait_signal(stop, backoff);
        if (sig > 0)
            return sig;
        backoff = backoff * 2 > JOIN_BACKOFF_MAX_MS ? JOIN_BACKOFF_MAX_MS : backoff * 2;
    }
}

int
cmd_run_agent(const struct k3c_config *cfg, const char *server_url, const char *token,
              bool control_plane, const sigset_t *stop, struct agent **out, struct k3c_err *err)
{
    _cleanup_free_ char *dir = k3c_xasprintf("%s/agent", cfg->data_dir);
    struct agent_config ac = {.server_url = server_url,
                              .token = token,
                              .data_dir = dir,
                              .node_name = cfg->node_name,
                              .node_ip = cfg->node_ip,
                              .labels = cfg->node_labels,
                              .taints = cfg->node_taints,
                              .control_plane = control_plane,
                              .etcd_member = control_plane && !cfg->datastore_endpoint,
                              .kubelet_port = cfg->kubelet_port,
                              .proxy = !cfg->disable_kube_proxy,
                              .flannel_backend = cfg->flannel_backend,
                              .flannel_iface = cfg->flannel_iface,
                              .cluster_cidr = cfg->cluster_cidr,
                              .network_policy = !cfg->disable_network_policy,
                              .cdi_spec_dirs = cfg->cdi_spec_dirs,
                              .proxy_without_pods = control_plane && cfg->vip && geteuid() == 0,
                              .device_plugin_dir = cfg->device_plugin_dir,
                              .netfilter_backend = cfg->netfilter_backend};
    struct kubelet_config kc = {
        .runtime = cfg->runtime,
        .pod_cidr = cfg->pod_cidr,
        .cni_bridge = cfg->cni_bridge,
        .cni_bin_dir = cfg->cni_bin_dir,
        .registry_config = cfg->registry_config,
        .crash_backoff_base_ms = cfg->crash_backoff_base_ms,
        .cluster_dns = cfg->cluster_dns,
        .cluster_domain = cfg->cluster_domain,
        .resolv_conf = cfg->resolv_conf,
        .container_log_max_files = cfg->container_log_max_files,
        .container_log_monitor_ms = cfg->container_log_monitor_interval_s * 1000,
        .image_gc_high_pct = cfg->image_gc_high_threshold,
        .image_gc_low_pct = cfg->image_gc_low_threshold,
        .image_gc_period_ms = cfg->image_gc_period_s * 1000,
        .eviction_hard = cfg->eviction_hard ? cfg->eviction_hard : "",
        .eviction_soft = cfg->eviction_soft,
        .eviction_soft_grace_period = cfg->eviction_soft_grace_period,
        .eviction_minimum_reclaim = cfg->eviction_minimum_reclaim,
        .eviction_pressure_transition_period = cfg->eviction_pressure_transition_period,
        .eviction_max_pod_grace_s = cfg->eviction_max_pod_grace_period};
    struct dns_node_config dc = {.cluster_dns = cfg->cluster_dns,
                                 .cluster_domain = cfg->cluster_domain,
                                 .resolv_conf = cfg->resolv_conf,
                                 .forward = cfg->dns_forward,
                                 .hosts_file = cfg->dns_hosts_file};
    _cleanup_(agent_freep) struct agent *a = NULL;
    int64_t log_max = 0;
    int sig;

    if (podspec_quantity_value(cfg->container_log_max_size, &log_max, err) < 0 || log_max < 1024)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--container-log-max-size %s: a size of at least 1Ki wanted",
                           cfg->container_log_max_size);
    kc.container_log_max_bytes = log_max;
    if (cfg->image_gc_low_threshold >= cfg->image_gc_high_threshold)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--image-gc-low-threshold %d must be below --image-gc-high-threshold %d",
                           cfg->image_gc_low_threshold, cfg->image_gc_high_threshold);
    if (kevict_config_parse(&(struct kevict_config){0}, kc.eviction_hard, kc.eviction_soft,
                            kc.eviction_soft_grace_period, kc.eviction_minimum_reclaim,
                            kc.eviction_max_pod_grace_s, err) < 0 ||
        kevict_transition_parse(kc.eviction_pressure_transition_period, &(int64_t){0}, err) < 0)
        return -1;
    if (!cfg->disable_pods && geteuid() == 0)
        ac.pods = &kc;
    else if (!cfg->disable_pods)
        log_warn("not running as root: node %s registers but runs no pods", cfg->node_name);
    if (!cfg->disable_dns && cfg->cluster_dns && *cfg->cluster_dns)
        ac.dns = &dc;
    /* A server that answers but cannot store (503: etcd without quorum or
     * out of space) is waited for as at join: the node registers once it
     * can. Anything else is fatal. */
    for (int64_t backoff = JOIN_BACKOFF_MIN_MS;;) {
        a = agent_new(&ac, err);
        if (!a)
            return -1;
        sig = join_with_retry(a, server_url, stop, err);
        if (sig != 0)
            return sig;
        if (agent_start(a, err) == 0)
            break;
        if (err->kind != K3C_E_UNAVAILABLE)
            return -1;
        log_warn("%s; retrying in %lld ms", err->msg, (long long)backoff);
        k3c_err_clear(err);
        agent_free(TAKE_PTR(a));
        sig = cmd_wait_signal(stop, backoff);
        if (sig > 0)
            return sig;
        backoff = backoff * 2 > JOIN_BACKOFF_MAX_MS ? JOIN_BACKOFF_MAX_MS : backoff * 2;
    }
    /* Start-up (key generation, TLS set-up, image imports) leaves several
     * MB of freed heap that the steady state never reuses: give it back. */
    malloc_trim(0);
    *out = TAKE_PTR(a);
    return 0;
}

int
cmd_agent(int argc, char **argv, char **envp)
{
    struct k3c_config cfg = {0};
    struct k3c_err err = {0};
    struct agent *a = NULL;
    sigset_t stop;
    int rc = cmd_load_config(&cfg, CONFIG_ROLE_AGENT, "agent", argc, argv, envp), sig;

    if (rc >= 0)
        goto out;
    if (!cfg.server || !cfg.token) {
        fprintf(stderr, "k3c agent: --server and --token are required\nRun 'k3c agent --help' "
                        "for usage.\n");
        rc = K3C_EXIT_USAGE;
        goto out;
    }
    reexec_without_tcache(argc, argv);
    /* One malloc arena: the agent's threads (a worker per pod, a watch
     * each) rarely allocate at once, and a second arena kept ~1 MiB of
     * free space of its own (docs/agent.md, "Memory, session 8"). */
    mallopt(M_ARENA_MAX, 1);
    /* Fixed thresholds: glibc raises both after a large block is freed
     * (the mmap threshold to its size, the trim threshold to twice that),
     * after which up to ~4 MiB of free space at the heap's top stayed
     * resident for good (docs/agent.md, "Session 9: agent memory"). */
    mallopt(M_MMAP_THRESHOLD, AGENT_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, AGENT_TRIM_THRESHOLD);
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    sig = cmd_run_agent(&cfg, cfg.server, cfg.token, false, &stop, &a, &err);
    if (sig < 0) {
        log_error("%s", err.msg);
        rc = K3C_EXIT_FAIL;
        goto out;
    }
    if (sig == 0) {
        log_info("k3c agent ready");
        install_sd_notify("READY=1\nSTATUS=k3c agent ready");
        sig = wait_trimming_heap(&stop);
    }
    install_sd_notify("STOPPING=1");
    log_info("signal %d (%s): shutting down", sig, strsignal(sig));
    http_client_shutdown_begin();
    agent_free(a);
    rc = K3C_EXIT_OK;
out:
    config_fini(&cfg);
    return rc;
}
