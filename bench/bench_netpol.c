/* SPDX-License-Identifier: Apache-2.0
 * bench_netpol.c - NetworkPolicy programming (issue #13): a cluster of
 * 5,000 pods in 50 namespaces (argv[1] changes the pod count), 110 of them
 * on this node, and 200 policies (argv[2]) mixing podSelector,
 * namespaceSelector, ipBlock with except, port ranges and named ports.
 * Measured: computing the node's table (pure; what every change costs),
 * its size, and applying it through libnftables in a private network
 * namespace (root): first, again after one pod's label changed (the
 * runner's path: the whole table replaced in one transaction), median and
 * worst of 20, in CPU time. Prints figures, never fails. */
#include "net/netpol.h"
#include "net/net.h"
#include "net/proxy.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static json_t *
pod(int i, int n_pods, int generation)
{
    char ns[32], name[32], ip[32], app[32];
    bool local = i % (n_pods / 110 > 0 ? n_pods / 110 : 1) == 0;

    snprintf(ns, sizeof(ns), "ns-%d", i % 50);
    snprintf(name, sizeof(name), "pod-%d", i);
    snprintf(ip, sizeof(ip), "10.42.%d.%d", (i / 250) % 256, 2 + i % 250);
    snprintf(app, sizeof(app), "app-%d", (i + (i == 0 ? generation : 0)) % 20);
    return json_pack("{s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s, s:[{s:s, s:[{s:s, s:i}]}]},"
                     " s:{s:s, s:s}}",
                     "metadata", "namespace", ns, "name", name, "labels", "app", app, "role",
                     i % 3 ? "client" : "server", "spec", "nodeName", local ? "n1" : "n2",
                     "containers", "name", "c", "ports", "name", "http", "containerPort",
                     8000 + i % 7, "status", "phase", "Running", "podIP", ip);
}

static json_t *
policy(int i)
{
    char ns[32], name[32], app[32], team[32];

    snprintf(ns, sizeof(ns), "ns-%d", i % 50);
    snprintf(name, sizeof(name), "pol-%d", i);
    snprintf(app, sizeof(app), "app-%d", i % 20);
    snprintf(team, sizeof(team), "team-%d", i % 5);
    return json_pack("{s:{s:s, s:s}, s:{s:{s:{s:s}}, s:[s,s], s:[{s:[{s:{s:{s:s}}}, {s:{s:{s:s}}},"
                     " {s:{s:s, s:[s]}}], s:[{s:s}, {s:i, s:i}]}], s:[{s:[{s:{}}], s:[{s:s}]}]}}",
                     "metadata", "namespace", ns, "name", name, "spec", "podSelector",
                     "matchLabels", "app", app, "policyTypes", "Ingress", "Egress", "ingress",
                     "from", "podSelector", "matchLabels", "role", "client", "namespaceSelector",
                     "matchLabels", "team", team, "ipBlock", "cidr", "192.168.0.0/16", "except",
                     "192.168.5.0/24", "ports", "port", "http", "port", 9000, "endPort", 9100,
                     "egress", "to", "podSelector", "ports", "port", "http");
}

static json_t *
all_pods(int n, int generation)
{
    json_t *a = json_array();

    for (int i = 0; i < n; i++)
        json_array_append_new(a, pod(i, n, generation));
    return a;
}

/* CPU time of this process (user + system: nft's netlink transaction runs
 * in the kernel on our behalf): on a shared, loaded machine wall-clock
 * times measure the neighbours. */
static int64_t
cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int n_pods = argc > 1 ? atoi(argv[1]) : 5000, n_pols = argc > 2 ? atoi(argv[2]) : 200;
    _cleanup_json_ json_t *pols = json_array(), *nss = json_array(), *pods = NULL;
    struct k3c_err err = {0};
    struct proxy_nft *n;
    long long compute[20], apply[20];
    int64_t t0;
    char *script;
    size_t lines = 0, chains = 0;

    /* the scripts run in this binary as the `__nft` helper, as in k3c */
    if (argc > 1 && strcmp(argv[1], NET_NFT_HELPER_VERB) == 0)
        return net_nft_helper_main(argc - 1, argv + 1);
    net_nft_helper_enable();

    for (int i = 0; i < n_pols; i++)
        json_array_append_new(pols, policy(i));
    for (int i = 0; i < 50; i++)
        json_array_append_new(nss, json_pack("{s:{s:s+, s:{s:s+}}}", "metadata", "name", "ns-",
                                             i % 50 ? "x" : "0", "labels", "team", "team-", "1"));
    pods = all_pods(n_pods, 0);
    t0 = cpu_ms();
    script = netpol_script("k3c-netpol-bench", "n1", pols, pods, nss);
    for (const char *p = script; *p; p++)
        lines += *p == '\n';
    for (const char *p = script; (p = strstr(p, "add chain")); p++)
        chains++;
    printf("netpol: %d pods (50 namespaces), %d policies: table computed in %lld CPU ms "
           "(%zu commands, %zu chains, %zu KiB)\n",
           n_pods, n_pols, (long long)(cpu_ms() - t0), lines, chains, strlen(script) / 1024);
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        printf("netpol: not root: nft figures skipped\n");
        free(script);
        return 0;
    }
    n = proxy_nft_new(&err);
    t0 = cpu_ms();
    if (!n || proxy_nft_run(n, script, &err) < 0) {
        printf("netpol: apply failed: %s\n", err.msg);
        free(script);
        proxy_nft_free(n);
        return 0;
    }
    printf("netpol: first apply %lld CPU ms\n", (long long)(cpu_ms() - t0));
    free(script);
    for (int g = 0; g < 20; g++) {
        json_decref(pods);
        pods = all_pods(n_pods, g + 1);
        t0 = cpu_ms();
        script = netpol_script("k3c-netpol-bench", "n1", pols, pods, nss);
        compute[g] = cpu_ms() - t0;
        proxy_nft_drop_cache(n);
        t0 = cpu_ms();
        if (proxy_nft_run(n, script, &err) < 0)
            printf("netpol: apply failed: %s\n", err.msg);
        apply[g] = cpu_ms() - t0;
        free(script);
    }
    qsort(compute, 20, sizeof(compute[0]), cmp_ll);
    qsort(apply, 20, sizeof(apply[0]), cmp_ll);
    printf("netpol: one pod relabelled: compute median %lld CPU ms (worst %lld), "
           "replace median %lld CPU ms (worst %lld)\n",
           compute[10], compute[19], apply[10], apply[19]);
    proxy_nft_delete_table(n, "k3c-netpol-bench", &err);
    proxy_nft_free(n);
    return 0;
}
