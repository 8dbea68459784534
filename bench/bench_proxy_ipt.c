/* SPDX-License-Identifier: Apache-2.0
 * bench_proxy_ipt.c - the service proxy's iptables backend (issue #19)
 * next to its nftables one, in a private network namespace (root): 1,000
 * Services x 10 endpoints (argv[1], argv[2] change that), then
 *   - the models computed from the JSON (pure) and rendered to restore text,
 *   - the full sync: iptables-save, render, iptables-restore --noflush,
 *   - one endpoint of one Service changed (a partial sync: the shared
 *     chains and that Service's chains rewritten), median of 10,
 *   - the nftables backend's full sync of the same Services, for the ratio.
 * Prints figures, never fails. */
#include "net/ipt.h"
#include "net/proxy.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct proxy_rules_config cfg = {.node_name = "n1"};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static json_t *
service(int i)
{
    char name[32], ip[32];

    snprintf(name, sizeof(name), "svc-%d", i);
    snprintf(ip, sizeof(ip), "10.43.%d.%d", 1 + i / 250, 1 + i % 250);
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:[{s:s, s:i, s:s}]}}", "metadata", "namespace",
                     "bench", "name", name, "spec", "clusterIP", ip, "ports", "name", "http",
                     "port", 80, "protocol", "TCP");
}

static json_t *
slices(int i, int n_eps, int generation)
{
    json_t *eps = json_array();

    for (int e = 0; e < n_eps; e++) {
        int k = i * n_eps + e + (e == n_eps - 1 ? generation * 7919 : 0);
        char ip[32];

        snprintf(ip, sizeof(ip), "10.42.%d.%d", (k / 250) % 256, 2 + k % 250);
        json_array_append_new(eps, json_pack("{s:[s], s:s}", "addresses", ip, "nodeName", "n2"));
    }
    return json_pack("[{s:s, s:[{s:s, s:i, s:s}], s:o}]", "addressType", "IPv4", "ports", "name",
                     "http", "port", 8080, "protocol", "TCP", "endpoints", eps);
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int n_svc = argc > 1 ? atoi(argv[1]) : 1000, n_eps = argc > 2 ? atoi(argv[2]) : 10;
    enum { RUNS = 10 };
    struct k3c_err err = {0};
    _cleanup_json_ json_t *models = json_object();
    struct proxy_ipt *x;
    struct proxy_state *st;
    struct proxy_nft *n;
    struct k3c_buf text;
    double t0, t_model, t_render, t_full, t_nft, one[RUNS];
    _cleanup_free_ char *base = NULL, *all = NULL, *script = NULL;

    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        printf("bench_proxy_ipt: needs root (a private network namespace); skipped\n");
        return 0;
    }
    if (n_svc < 1 || n_eps < 1 || n_svc > 60000 || !ipt_program("restore", &err)) {
        fprintf(stderr, "bench_proxy_ipt: %s\n", err.msg[0] ? err.msg : "bad arguments");
        return 2;
    }
    x = proxy_ipt_new(NULL);
    t0 = now_ms();
    for (int i = 0; i < n_svc; i++) {
        _cleanup_json_ json_t *svc = service(i), *sl = slices(i, n_eps, 0);
        _cleanup_json_ json_t *m = proxy_service_model(&cfg, svc, sl);
        char key[64];

        snprintf(key, sizeof(key), "bench/svc-%d", i);
        json_object_set(models, key, m);
        proxy_ipt_set(x, key, m);
    }
    t_model = now_ms() - t0;
    k3c_buf_init(&text);
    t0 = now_ms();
    proxy_ipt_render(
        &text, &(struct proxy_ipt_input){
                   .models = models, .random_fully = true, .nat_save = "", .filter_save = ""});
    t_render = now_ms() - t0;
    t0 = now_ms();
    if (proxy_ipt_sync(x, true, &err) < 0)
        fprintf(stderr, "bench_proxy_ipt: full sync: %s\n", err.msg);
    t_full = now_ms() - t0;
    for (int r = 0; r < RUNS; r++) {
        int i = (r * 37) % n_svc;
        _cleanup_json_ json_t *svc = service(i), *sl = slices(i, n_eps, r + 1);
        _cleanup_json_ json_t *m = proxy_service_model(&cfg, svc, sl);
        char key[64];

        snprintf(key, sizeof(key), "bench/svc-%d", i);
        t0 = now_ms();
        proxy_ipt_set(x, key, m);
        if (proxy_ipt_sync(x, false, &err) < 0)
            fprintf(stderr, "bench_proxy_ipt: sync: %s\n", err.msg);
        one[r] = now_ms() - t0;
    }
    qsort(one, RUNS, sizeof(one[0]), cmp);
    proxy_ipt_cleanup(&err);
    proxy_ipt_free(x);

    /* nftables, the same Services, in the same namespace */
    n = proxy_nft_new(&err);
    st = proxy_state_new(NULL, NULL);
    t0 = now_ms();
    base = proxy_state_reset(st);
    for (int i = 0; i < n_svc; i++) {
        _cleanup_json_ json_t *svc = service(i), *sl = slices(i, n_eps, 0);
        _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
        char key[64];

        snprintf(key, sizeof(key), "bench/svc-%d", i);
        proxy_state_set(st, key, o);
    }
    all = proxy_state_take_script(st);
    script = k3c_xasprintf("%s%s", base, all);
    if (n && proxy_nft_run(n, script, &err) < 0)
        fprintf(stderr, "bench_proxy_ipt: nft: %s\n", err.msg);
    t_nft = now_ms() - t0;

    printf("bench_proxy_ipt: %d Services x %d endpoints, %s\n", n_svc, n_eps,
           ipt_program("restore", &err));
    printf("%-46s %8.1f ms\n", "models from JSON (pure)", t_model);
    printf("%-46s %8.1f ms   (%zu KiB of restore text)\n", "render (pure)", t_render,
           text.len / 1024);
    printf("%-46s %8.1f ms\n", "iptables full sync (save + render + restore)", t_full);
    printf("%-46s %8.1f ms median, %.1f ms worst of %d\n", "iptables: one endpoint changed",
           one[RUNS / 2], one[RUNS - 1], RUNS);
    printf("%-46s %8.1f ms   (iptables/nftables full sync: %.1fx)\n",
           "nftables full sync (objects + one transaction)", t_nft, t_nft > 0 ? t_full / t_nft : 0);
    k3c_buf_fini(&text);
    proxy_state_free(st);
    proxy_nft_free(n);
    return 0;
}
