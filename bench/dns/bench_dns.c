/* SPDX-License-Identifier: Apache-2.0
 * bench_dns.c - the cluster DNS (issue #14) on loopback: queries per second
 * and latency percentiles for cluster names and for cached upstream names,
 * per core of the server's loop thread, and the memory the DNS part holds
 * for 1,000 Services and 10,000 pods. The server is the real one
 * (dns_server.c + dns_zone.c + dns_forward.c) on 127.0.0.1; the load is one
 * client thread keeping WINDOW queries in flight over UDP. Prints figures,
 * never fails. Anchors (no CoreDNS on this machine): CoreDNS's scaling
 * guide, ~17k qps per core for cluster names, memory (pods+services)/1000 +
 * 54 MB.
 *
 *   bench_dns [seconds per phase (default 3)] */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "dns/dns.h"

#define N_SERVICES   1000
#define PODS_PER_SVC 10
#define N_NAMESPACES 10
#define N_UPSTREAM   200 /* distinct upstream names, all cached after warm-up */
#define WINDOW       32  /* queries in flight for the throughput runs */
#define MAX_SAMPLES  (1 << 22)

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* utime+stime of the thread named name in this process, in clock ticks. */
static long long
thread_cpu_ticks(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long long total = -1;

    while (d && (e = readdir(d))) {
        char path[300], comm[64] = "", buf[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0;
        /* fields after the comm: state ... utime(14) stime(15) */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            total = (long long)(ut + st);
    }
    if (d)
        closedir(d);
    return total;
}

static size_t
make_query(uint8_t *buf, uint16_t id, const char *name, uint16_t type)
{
    struct dns_name n;
    size_t o = DNS_HEADER_LEN;

    memset(buf, 0, DNS_HEADER_LEN);
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    buf[2] = 0x01;
    buf[5] = 1;
    if (dns_name_from_str(&n, name) < 0)
        return 0;
    memcpy(buf + o, n.wire, n.len);
    o += n.len;
    buf[o++] = (uint8_t)(type >> 8);
    buf[o++] = (uint8_t)type;
    buf[o++] = 0;
    buf[o++] = 1;
    return o;
}

/* ---- a fake upstream: A 192.0.2.1, TTL 300, for every name ---- */

struct upstream {
    int fd, port;
    volatile int stop;
    pthread_t thread;
};

static void *
upstream_thread(void *arg)
{
    struct upstream *u = arg;
    uint8_t in[1500], out[1500];

    while (!u->stop) {
        struct pollfd p = {.fd = u->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ssize_t n = recvfrom(u->fd, in, sizeof(in), 0, (struct sockaddr *)&ss, &sl);
        struct dns_query q;
        struct dns_builder b;
        if (n <= 0 || dns_query_parse(in, (size_t)n, &q) != 0)
            continue;
        dns_builder_init(&b, out, sizeof(out), &q, false);
        const uint8_t ip[4] = {192, 0, 2, 1};
        dns_builder_a(&b, DNS_SEC_ANSWER, &q.qname, 300, ip);
        size_t len = dns_builder_finish(&b);
        sendto(u->fd, out, len, 0, (struct sockaddr *)&ss, sl);
    }
    return NULL;
}

static void
upstream_start(struct upstream *u)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    u->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(u->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        perror("bind upstream");
    getsockname(u->fd, (struct sockaddr *)&sa, &sl);
    u->port = ntohs(sa.sin_port);
    pthread_create(&u->thread, NULL, upstream_thread, u);
}

/* ---- the zone ---- */

/* With keep, every object is also appended to keep (whole, or with meta_only
 * its metadata's namespace, name and resourceVersion): what the agent's
 * informers (client/informer.c) hold in their caches besides the zone. */
static bool meta_only;

static void
keep_obj(json_t *keep, json_t *obj)
{
    if (!keep)
        return;
    if (!meta_only) {
        json_array_append(keep, obj);
        return;
    }
    const json_t *m = json_object_get(obj, "metadata");
    json_array_append_new(keep, json_pack("{s:{s:O*, s:O*, s:s}}", "metadata", "namespace",
                                          json_object_get(m, "namespace"), "name",
                                          json_object_get(m, "name"), "resourceVersion", "123456"));
}

static void
load_zone(struct dns_zone *z, json_t *keep)
{
    char buf[4096];

    for (int n = 0; n < N_NAMESPACES; n++) {
        snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"ns%d\"}}", n);
        json_t *j = json_loads(buf, 0, NULL);
        dns_zone_namespace_upsert(z, j);
        keep_obj(keep, j);
        json_decref(j);
    }
    for (int s = 0; s < N_SERVICES; s++) {
        int ns = s % N_NAMESPACES;
        snprintf(
            buf, sizeof(buf),
            "{\"metadata\":{\"namespace\":\"ns%d\",\"name\":\"svc-%d\"},\"spec\":{\"clusterIP\":"
            "\"10.43.%d.%d\",\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}",
            ns, s, 1 + s / 250, 1 + s % 250);
        json_t *j = json_loads(buf, 0, NULL);
        dns_zone_service_upsert(z, j);
        keep_obj(keep, j);
        json_decref(j);
        json_t *slice =
            json_pack("{s:{s:s, s:s, s:{s:s}}, s:[], s:[{s:s, s:i, s:s}]}", "metadata", "namespace",
                      "", "name", "", "labels", "kubernetes.io/service-name", "", "endpoints",
                      "ports", "name", "http", "port", 8080, "protocol", "TCP");
        json_t *md = json_object_get(slice, "metadata");
        snprintf(buf, sizeof(buf), "ns%d", ns);
        json_object_set_new(md, "namespace", json_string(buf));
        snprintf(buf, sizeof(buf), "svc-%d-abcde", s);
        json_object_set_new(md, "name", json_string(buf));
        snprintf(buf, sizeof(buf), "svc-%d", s);
        json_object_set_new(json_object_get(md, "labels"), "kubernetes.io/service-name",
                            json_string(buf));
        for (int p = 0; p < PODS_PER_SVC; p++) {
            int i = s * PODS_PER_SVC + p;
            snprintf(buf, sizeof(buf), "10.42.%d.%d", i / 250, 1 + i % 250);
            json_array_append_new(json_object_get(slice, "endpoints"),
                                  json_pack("{s:[s], s:{s:b}, s:s}", "addresses", buf, "conditions",
                                            "ready", 1, "nodeName", "node-1"));
        }
        dns_zone_slice_upsert(z, slice);
        keep_obj(keep, slice);
        json_decref(slice);
    }
    dns_zone_set_synced(z, true);
}

/* ---- the load ---- */

struct result {
    long long queries, answered, errors;
    double seconds;
    double p50_us, p99_us, p999_us;
};

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sends queries from names[] (round robin) for seconds, window in flight
 * (1: each query waits for the previous answer, the latency run). */
static struct result
run_load(int port, char **names, size_t n_names, uint16_t type, double seconds, int window)
{
    struct result r = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int64_t sent_at[65536] = {0};
    int64_t *samples = malloc(MAX_SAMPLES * sizeof(int64_t));
    size_t n_samples = 0, next = 0;
    uint16_t id = 1;
    int inflight = 0;
    uint8_t q[512], a[4096];

    connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    while (now_ns() < end) {
        while (inflight < window) {
            size_t len = make_query(q, id, names[next++ % n_names], type);
            if (send(fd, q, len, 0) < 0)
                break;
            sent_at[id] = now_ns();
            id = (uint16_t)(id + 1 ? id + 1 : 1);
            inflight++;
            r.queries++;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            inflight = 0; /* lost datagrams: refill the window */
            continue;
        }
        for (;;) {
            ssize_t n = recv(fd, a, sizeof(a), 0);
            if (n < 0)
                break;
            if (n < DNS_HEADER_LEN)
                continue;
            uint16_t rid = (uint16_t)(a[0] << 8 | a[1]);
            int64_t t = sent_at[rid];
            inflight--;
            if (t && n_samples < MAX_SAMPLES)
                samples[n_samples++] = now_ns() - t;
            sent_at[rid] = 0;
            if ((a[3] & 0xF) == 0 && (a[6] | a[7]))
                r.answered++;
            else
                r.errors++;
        }
    }
    r.seconds = (double)(now_ns() - start) / 1e9;
    qsort(samples, n_samples, sizeof(int64_t), cmp_i64);
    if (n_samples) {
        r.p50_us = (double)samples[n_samples / 2] / 1000.0;
        r.p99_us = (double)samples[n_samples * 99 / 100] / 1000.0;
        r.p999_us = (double)samples[n_samples * 999 / 1000] / 1000.0;
    }
    free(samples);
    close(fd);
    return r;
}

static void
report(const char *what, struct result r, long long ticks)
{
    long hz = sysconf(_SC_CLK_TCK);
    double cpu_s = ticks > 0 ? (double)ticks / (double)hz : 0;
    double qps = (double)r.answered / r.seconds;

    printf("%-28s %9.0f qps  p50 %6.1f us  p99 %6.1f us  p99.9 %7.1f us  (%lld answered, %lld "
           "errors)\n",
           what, qps, r.p50_us, r.p99_us, r.p999_us, r.answered, r.errors);
    if (cpu_s > 0)
        printf("%-28s %9.0f qps per core of the server loop (%.2f s CPU in %.2f s)%s\n", "",
               (double)r.answered / cpu_s, cpu_s, r.seconds,
               cpu_s * 1.2 < r.seconds ? "  [loop not saturated: client-bound]" : "");
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    struct k3c_err err = {0};
    struct upstream up = {0};
    char rule[64];

    k3c_log_set_level(K3C_LOG_WARN);
    malloc_trim(0);
    long long rss0 = k3c_rss_bytes();
    struct dns_zone *z = dns_zone_new("cluster.local", "10.43.0.10", &err);
    load_zone(z, NULL);
    malloc_trim(0);
    long long rss1 = k3c_rss_bytes();
    printf("zone: %d Services, %d pods (endpoints), %d namespaces\n", N_SERVICES,
           N_SERVICES * PODS_PER_SVC, N_NAMESPACES);
    printf("memory: zone data %.2f MB (counted), process RSS +%.2f MB after loading "
           "(CoreDNS: ~%.0f MB by its formula)\n",
           (double)dns_zone_memory(z) / 1e6, (double)(rss1 - rss0) / 1e6,
           (N_SERVICES + N_SERVICES * PODS_PER_SVC) / 1000.0 + 54);

    upstream_start(&up);
    snprintf(rule, sizeof(rule), ".=127.0.0.1:%d", up.port);
    char *forward[] = {rule, NULL};
    struct dns_server_config sc = {
        .listen_ip = "127.0.0.1", .port = -1, .zone = z, .forward = forward};
    struct dns_server *s = dns_server_new(&sc, &err);
    if (!s || dns_server_start(s, &err) < 0) {
        fprintf(stderr, "bench_dns: %s\n", err.msg);
        return 1;
    }
    long long rss2 = k3c_rss_bytes();
    printf("memory: server (buffers, sockets, thread) +%.2f MB\n", (double)(rss2 - rss1) / 1e6);
    for (int pass = 0; pass < 2; pass++) {
        /* The zone plus what the informers' caches keep (jansson), in a
         * second zone that is then dropped: metadata only, as dns_node.c
         * asks (cache_metadata_only), then whole objects for comparison. */
        json_t *keep = json_array();
        struct dns_zone *z2 = dns_zone_new("cluster.local", NULL, &err);
        meta_only = pass == 0;
        malloc_trim(0);
        long long a = k3c_rss_bytes();
        load_zone(z2, keep);
        malloc_trim(0);
        long long b = k3c_rss_bytes();
        printf("memory: zone + informer caches (%s) +%.2f MB\n",
               meta_only ? "metadata only, as the agent runs them"
                         : "whole objects, for comparison",
               (double)(b - a) / 1e6);
        dns_zone_free(z2);
        json_decref(keep);
        malloc_trim(0);
    }
    int port = dns_server_port(s);

    char **cluster = calloc(N_SERVICES, sizeof(char *));
    for (int i = 0; i < N_SERVICES; i++)
        cluster[i] = k3c_xasprintf("svc-%d.ns%d.svc.cluster.local", i, i % N_NAMESPACES);
    char **ups = calloc(N_UPSTREAM, sizeof(char *));
    for (int i = 0; i < N_UPSTREAM; i++)
        ups[i] = k3c_xasprintf("host-%d.example.org", i);

    printf("throughput: one client thread, %d queries in flight; latency: one in flight\n", WINDOW);
    long long t0 = thread_cpu_ticks("k3c-dns");
    struct result r = run_load(port, cluster, N_SERVICES, DNS_TYPE_A, seconds, WINDOW);
    report("cluster names (A)", r, thread_cpu_ticks("k3c-dns") - t0);
    t0 = thread_cpu_ticks("k3c-dns");
    r = run_load(port, cluster, N_SERVICES, DNS_TYPE_A, seconds / 2, 1);
    report("  latency, cluster names", r, thread_cpu_ticks("k3c-dns") - t0);

    run_load(port, ups, N_UPSTREAM, DNS_TYPE_A, 0.5, WINDOW); /* warm the cache */
    t0 = thread_cpu_ticks("k3c-dns");
    r = run_load(port, ups, N_UPSTREAM, DNS_TYPE_A, seconds, WINDOW);
    report("cached upstream names (A)", r, thread_cpu_ticks("k3c-dns") - t0);
    t0 = thread_cpu_ticks("k3c-dns");
    r = run_load(port, ups, N_UPSTREAM, DNS_TYPE_A, seconds / 2, 1);
    report("  latency, cached upstream", r, thread_cpu_ticks("k3c-dns") - t0);

    malloc_trim(0);
    long long rss3 = k3c_rss_bytes();
    printf("memory: after the runs (cache of %d names; the bench's client, fake upstream and "
           "their thread stacks included) +%.2f MB over the start\n",
           N_UPSTREAM, (double)(rss3 - rss0) / 1e6);

    dns_server_free(s);
    up.stop = 1;
    pthread_join(up.thread, NULL);
    close(up.fd);
    dns_zone_free(z);
    for (int i = 0; i < N_SERVICES; i++)
        free(cluster[i]);
    for (int i = 0; i < N_UPSTREAM; i++)
        free(ups[i]);
    free(cluster);
    free(ups);
    return 0;
}
