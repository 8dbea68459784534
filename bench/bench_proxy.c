/* SPDX-License-Identifier: Apache-2.0
 * bench_proxy.c - the service proxy's rule programming (issue #13), in a
 * private network namespace (root): 1,000 Services x 10 endpoints (argv[1],
 * argv[2] change that) built from JSON as the API serves them, then
 *   - the objects computed from the JSON (pure),
 *   - the full sync: the table rebuilt in one nft transaction,
 *   - one endpoint of one Service changed with all those in place (the
 *     incremental path the watch takes), median and worst of 50,
 *   - one Service added and one deleted, likewise,
 *   - the first-packet latency: connect() to a ClusterIP (DNATed to a local
 *     listener on a veth) with 10 and with all the Services in the table, and without
 *     a table (the direct connect, a floor).
 * Goals: full < 1 s, incremental < 10 ms. Anchor: kube-proxy's nftables
 * mode needed ~141 ms to add 1 Service with 10,000 in place (its
 * partial-sync PR). Prints figures, never fails. */
#include "net/net.h"
#include "net/proxy.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct proxy_rules_config cfg = {.node_name = "n1"};

static json_t *
service(int i)
{
    char name[32], ip[32];

    snprintf(name, sizeof(name), "svc-%d", i);
    snprintf(ip, sizeof(ip), "10.43.%d.%d", 1 + i / 250, 1 + i % 250);
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:[{s:s, s:i, s:s, s:i}]}}", "metadata",
                     "namespace", i % 2 ? "team-a" : "team-b", "name", name, "spec", "type",
                     "ClusterIP", "clusterIP", ip, "ports", "name", "http", "port", 80, "protocol",
                     "TCP", "targetPort", 8080);
}

/* The Service's slice; generation shifts the last endpoint's address. */
static json_t *
slices(int i, int n_eps, int generation)
{
    json_t *eps = json_array();

    for (int e = 0; e < n_eps; e++) {
        int k = i * n_eps + e + (e == n_eps - 1 ? generation * 7919 : 0);
        char ip[32];

        snprintf(ip, sizeof(ip), "10.42.%d.%d", (k / 250) % 256, 2 + k % 250);
        json_array_append_new(eps, json_pack("{s:[s], s:s, s:{s:b}}", "addresses", ip, "nodeName",
                                             e % 3 ? "n2" : "n1", "conditions", "ready", 1));
    }
    return json_pack("[{s:s, s:[{s:s, s:i, s:s}], s:o}]", "addressType", "IPv4", "ports", "name",
                     "http", "port", 8080, "protocol", "TCP", "endpoints", eps);
}

static int
cmp_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
service_key(int i, char *key, size_t len)
{
    snprintf(key, len, "%s/svc-%d", i % 2 ? "team-a" : "team-b", i);
}

/* Runs one change set through the state and nft; returns the ms taken. */
static double
apply(struct proxy_state *st, struct proxy_nft *n, int i, json_t *objs)
{
    struct k3c_err err = {0};
    char key[64];
    double t0 = now_ms();
    _cleanup_free_ char *script = NULL;

    service_key(i, key, sizeof(key));
    proxy_state_set(st, key, objs);
    script = proxy_state_take_script(st);
    if (script && proxy_nft_run(n, script, &err) < 0)
        fprintf(stderr, "bench_proxy: %s\n", err.msg);
    return now_ms() - t0;
}

static void
report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_ms);
    printf("%-44s median %7.2f ms   worst %7.2f ms   (%d runs)\n", what, v[n / 2], v[n - 1], n);
}

/* ---- first-packet latency: connect() to a ClusterIP DNATed to a local
 * listener, with the table holding n Services (and without a table) ---- */

#define PROBE_IP      "10.43.250.250"
#define PROBE_PORT    18080
#define PROBE_BACKEND "10.99.0.1" /* on a veth of the private namespace */
#define PROBES        2000

static int
listener(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PROBE_PORT)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, PROBE_BACKEND, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0)
        return -1;
    return fd;
}

/* Median connect() time in microseconds to ip:port, or -1. */
static double
connect_us(int lfd, const char *ip, int port)
{
    static double t[PROBES];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    inet_pton(AF_INET, ip, &a.sin_addr);
    for (int i = 0; i < PROBES; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), afd;
        double t0 = now_ms();

        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            fprintf(stderr, "bench_proxy: connect %s:%d: %s\n", ip, port, strerror(errno));
            close(fd);
            return -1;
        }
        t[i] = (now_ms() - t0) * 1000.0;
        /* RST instead of TIME_WAIT: 2,000 probes reuse few ports */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        afd = accept(lfd, NULL, NULL);
        close(fd);
        if (afd >= 0)
            close(afd);
    }
    qsort(t, PROBES, sizeof(*t), cmp_ms);
    return t[PROBES / 2];
}

static json_t *
probe_service(void)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:[{s:i, s:s}]}}", "metadata", "namespace", "bench",
                     "name", "probe", "spec", "clusterIP", PROBE_IP, "ports", "port", 80,
                     "protocol", "TCP");
}

static json_t *
probe_slices(void)
{
    return json_pack("[{s:s, s:[{s:i, s:s}], s:[{s:[s], s:{s:b}}]}]", "addressType", "IPv4",
                     "ports", "port", PROBE_PORT, "protocol", "TCP", "endpoints", "addresses",
                     PROBE_BACKEND, "conditions", "ready", 1);
}

/* The table rebuilt with the first n Services and the probe; its latency. */
static double
latency_with(struct proxy_nft *n, json_t **objs, int count, int lfd)
{
    struct proxy_state *st = proxy_state_new(NULL, NULL);
    _cleanup_json_ json_t *ps = probe_service(), *sl = probe_slices();
    _cleanup_json_ json_t *po = proxy_service_objects(&cfg, ps, sl);
    _cleanup_free_ char *base = proxy_state_reset(st), *all = NULL, *script = NULL;
    struct k3c_err err = {0};
    double us;

    for (int i = 0; i < count; i++) {
        char key[64];

        service_key(i, key, sizeof(key));
        proxy_state_set(st, key, objs[i]);
    }
    proxy_state_set(st, "bench/probe", po);
    all = proxy_state_take_script(st);
    script = k3c_xasprintf("%s%s", base, all);
    if (proxy_nft_run(n, script, &err) < 0) {
        fprintf(stderr, "bench_proxy: probe table: %s\n", err.msg);
        proxy_state_free(st);
        return -1;
    }
    us = connect_us(lfd, PROBE_IP, 80);
    proxy_state_free(st);
    return us;
}

int
main(int argc, char **argv)
{
    int n_svc = argc > 1 ? atoi(argv[1]) : 1000, n_eps = argc > 2 ? atoi(argv[2]) : 10;
    enum { RUNS = 50 };
    struct k3c_err err = {0};
    json_t **svcs, **objs;
    struct proxy_state *st;
    struct proxy_nft *n;
    double t0, t_compute, t_full, inc[RUNS], add[RUNS], del[RUNS];
    _cleanup_free_ char *base = NULL, *all = NULL, *script = NULL;
    long long rss0, rss_objs, rss1, rss2, rss3, rss4;

    /* the scripts run in this binary as the `__nft` helper, as in k3c */
    if (argc > 1 && strcmp(argv[1], NET_NFT_HELPER_VERB) == 0)
        return net_nft_helper_main(argc - 1, argv + 1);
    net_nft_helper_enable();

    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        printf("bench_proxy: needs root (a private network namespace); skipped\n");
        return 0;
    }
    if (n_svc < 1 || n_eps < 1 || n_svc > 60000) {
        fprintf(stderr, "usage: bench_proxy [SERVICES [ENDPOINTS]]\n");
        return 2;
    }
    n = proxy_nft_new(&err);
    if (!n) {
        fprintf(stderr, "bench_proxy: %s\n", err.msg);
        return 1;
    }
    svcs = k3c_xcalloc((size_t)n_svc, sizeof(*svcs));
    objs = k3c_xcalloc((size_t)n_svc, sizeof(*objs));
    for (int i = 0; i < n_svc; i++)
        svcs[i] = service(i);
    rss0 = k3c_rss_bytes();

    t0 = now_ms();
    for (int i = 0; i < n_svc; i++) {
        _cleanup_json_ json_t *sl = slices(i, n_eps, 0);

        objs[i] = proxy_service_objects(&cfg, svcs[i], sl);
    }
    t_compute = now_ms() - t0;
    rss_objs = k3c_rss_bytes();

    st = proxy_state_new(NULL, NULL);
    t0 = now_ms();
    base = proxy_state_reset(st);
    for (int i = 0; i < n_svc; i++) {
        char key[64];

        service_key(i, key, sizeof(key));
        proxy_state_set(st, key, objs[i]);
    }
    all = proxy_state_take_script(st);
    script = k3c_xasprintf("%s%s", base, all);
    if (proxy_nft_run(n, script, &err) < 0)
        fprintf(stderr, "bench_proxy: full sync: %s\n", err.msg);
    t_full = now_ms() - t0;
    rss1 = k3c_rss_bytes();
    proxy_nft_drop_cache(n); /* as the proxy does when idle */
    rss2 = k3c_rss_bytes();

    for (int r = 0; r < RUNS; r++) {
        int i = (r * 37) % n_svc;
        _cleanup_json_ json_t *sl = slices(i, n_eps, r + 1);
        json_t *o;

        t0 = now_ms();
        o = proxy_service_objects(&cfg, svcs[i], sl);
        apply(st, n, i, o);
        inc[r] = now_ms() - t0; /* the objects' computation included */
        json_decref(o);
    }
    for (int r = 0; r < RUNS; r++) {
        int i = (r * 53) % n_svc;
        _cleanup_json_ json_t *sl = slices(i, n_eps, 0);
        _cleanup_json_ json_t *o = NULL;

        del[r] = apply(st, n, i, NULL);
        t0 = now_ms();
        o = proxy_service_objects(&cfg, svcs[i], sl);
        apply(st, n, i, o);
        add[r] = now_ms() - t0;
    }
    rss3 = k3c_rss_bytes(); /* nft's context kept, as while changes come */
    proxy_nft_drop_cache(n);
    rss4 = k3c_rss_bytes();

    printf("bench_proxy: %d Services x %d endpoints, table ip %s, libnftables\n", n_svc, n_eps,
           PROXY_TABLE);
    printf("%-44s %7.1f ms\n", "objects from JSON (pure)", t_compute);
    printf("%-44s %7.1f ms   (%zu objects, script %zu KiB)   goal < 1000 ms\n",
           "full sync (one transaction)", t_full, proxy_state_objects(st), strlen(script) / 1024);
    report("one endpoint changed (incremental)", inc, RUNS);
    report("one Service added", add, RUNS);
    report("one Service deleted", del, RUNS);
    printf("%-44s %7.1f MiB\n", "RSS: the objects (JSON)", (double)(rss_objs - rss0) / 1048576.0);
    printf("%-44s %7.1f MiB (%.1f MiB once nft's context is dropped)\n",
           "RSS: + state and full sync (nft)", (double)(rss1 - rss_objs) / 1048576.0,
           (double)(rss2 - rss_objs) / 1048576.0);
    printf("%-44s %7.1f MiB (%.1f MiB once idle: context dropped)\n",
           "RSS: + the same after the changes", (double)(rss3 - rss_objs) / 1048576.0,
           (double)(rss4 - rss_objs) / 1048576.0);
    printf("anchor: kube-proxy nftables, add 1 Service with 10,000 in place: ~141 ms; goals: "
           "full < 1 s, incremental < 10 ms\n");

    /* first-packet latency; in this private namespace a veth holds
     * the backend's address and the route to the Service range */
    if (system("ip link set lo up && ip link add k3cbench0 type veth peer name k3cbench1 && "
               "ip addr add " PROBE_BACKEND
               "/32 dev k3cbench0 && ip link set k3cbench0 up && ip link set k3cbench1 up && "
               "ip route add 10.43.0.0/16 dev k3cbench0") == 0) {
        _cleanup_close_ int lfd = listener();
        double direct = lfd >= 0 ? connect_us(lfd, PROBE_BACKEND, PROBE_PORT) : -1;
        double few = lfd >= 0 ? latency_with(n, objs, n_svc < 10 ? n_svc : 10, lfd) : -1;
        double many = lfd >= 0 ? latency_with(n, objs, n_svc, lfd) : -1;

        printf("%-44s %7.1f us (no table) / %.1f us (10 Services) / %.1f us (%d Services)\n",
               "connect() to a ClusterIP, median", direct, few, many, n_svc);
    } else {
        printf("first-packet latency: ip route failed; not measured\n");
    }

    proxy_nft_delete_table(n, PROXY_TABLE, &err);
    for (int i = 0; i < n_svc; i++) {
        json_decref(svcs[i]);
        json_decref(objs[i]);
    }
    free(svcs);
    free(objs);
    proxy_state_free(st);
    proxy_nft_free(n);
    return 0;
}
