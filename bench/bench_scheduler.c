/* SPDX-License-Identifier: Apache-2.0
 * bench_scheduler.c - the scheduler under load, in one process: a real etcd
 * (harness), the API server over it (harness_api), 100 nodes registered
 * through the API, then
 *   1. raw creates: N pods (default 1,000) that no scheduler handles
 *      (schedulerName "none"), created by BENCH_CONC client threads: pods/s;
 *   2. scheduling: the same clients create N pending pods, then the
 *      scheduler starts (the real ctl_def_scheduler under the manager,
 *      leader election included); time from its start until every pod is
 *      bound (read from the API server's watch cache): pods/s, and where
 *      the scheduler's time went (filter+score on the worker thread, POST
 *      binding on the binder threads, whose per-pod times overlap; Events
 *      are queued and written by the manager's event thread).
 * Goal: >= 500 pods/s scheduled and bound. Prints figures; exits 0 whatever
 * they are, 1 only when the setup fails or pods stay unbound.
 * Usage: bench_scheduler [PODS] [NODES]. */
#include "harness_api.h"

#include "api/api-internal.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "controllers/ctl-internal.h"
#include "scheduler/scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_CONC         8
#define BENCH_PODS         1000
#define BENCH_NODES        100
#define BENCH_BIND_WAIT_MS 120000
#define BENCH_GOAL_PODS_S  500.0

static struct harness_api *H;

static struct http_client *
client_new(void)
{
    const char *endpoints[] = {H->url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = H->ca_file,
                                    .cert_file = H->admin_cert,
                                    .key_file = H->admin_key};
    struct k3c_err err = {0};

    return http_client_new(&hc, &err);
}

static long
post(struct http_client *c, const char *path, const char *body)
{
    struct http_response resp;
    struct k3c_err err = {0};
    long st = -1;

    http_response_init(&resp);
    if (http_client_request(c, "POST", path, "application/json", body, strlen(body), &resp, &err) ==
        0)
        st = resp.status;
    http_response_fini(&resp);
    return st;
}

static int
register_nodes(int n)
{
    struct http_client *c = client_new();
    char body[2048];
    int ok = 0;

    for (int i = 0; c && i < n; i++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%03d\","
                 "\"labels\":{\"kubernetes.io/hostname\":\"node-%03d\",\"zone\":\"z%d\"}},"
                 "\"status\":{\"capacity\":{\"cpu\":\"32\",\"memory\":\"64Gi\",\"pods\":\"110\"},"
                 "\"allocatable\":{\"cpu\":\"32\",\"memory\":\"64Gi\",\"pods\":\"110\"},"
                 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                 i, i, i % 3);
        if (post(c, "/api/v1/nodes", body) == 201)
            ok++;
    }
    http_client_free(c);
    return ok;
}

struct creator {
    pthread_t thread;
    const char *prefix, *scheduler;
    int from, to;
    atomic_int *created;
};

static void *
creator_thread(void *arg)
{
    struct creator *cr = arg;
    struct http_client *c = client_new();
    char body[1024];

    for (int i = cr->from; c && i < cr->to; i++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s-%05d\","
                 "\"labels\":{\"app\":\"%s\"}},\"spec\":{\"schedulerName\":\"%s\","
                 "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":{"
                 "\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]}}",
                 cr->prefix, i, cr->prefix, cr->scheduler);
        if (post(c, "/api/v1/namespaces/default/pods", body) == 201)
            atomic_fetch_add(cr->created, 1);
    }
    http_client_free(c);
    return NULL;
}

/* Creates n pods prefix-<i> with BENCH_CONC threads; returns ms taken. */
static int64_t
create_pods(const char *prefix, const char *scheduler, int n, int *created)
{
    struct creator cr[BENCH_CONC];
    atomic_int count = 0;
    int64_t t0 = k3c_now_ms();

    for (int t = 0; t < BENCH_CONC; t++) {
        cr[t] = (struct creator){.prefix = prefix,
                                 .scheduler = scheduler,
                                 .from = n * t / BENCH_CONC,
                                 .to = n * (t + 1) / BENCH_CONC,
                                 .created = &count};
        pthread_create(&cr[t].thread, NULL, creator_thread, &cr[t]);
    }
    for (int t = 0; t < BENCH_CONC; t++)
        pthread_join(cr[t].thread, NULL);
    *created = atomic_load(&count);
    return k3c_now_ms() - t0;
}

struct bound_count {
    const char *prefix;
    size_t node_field;
    int bound;
};

static void
count_bound(void *ud, struct wc_entry *e)
{
    struct bound_count *bc = ud;
    const char *node = e->fields ? e->fields[bc->node_field] : NULL;

    if (strncmp(e->name, bc->prefix, strlen(bc->prefix)) == 0 && node && *node)
        bc->bound++;
}

static int
bound_pods(const char *prefix)
{
    const struct api_resource *res = ctl_resource_find("pods");
    struct bound_count bc = {.prefix = prefix};

    for (size_t i = 0; res->field_selectors[i]; i++)
        if (strcmp(res->field_selectors[i], "spec.nodeName") == 0)
            bc.node_field = i;
    watch_cache_foreach(api_cache_for(H->srv, res), "/registry/pods/default/", count_bound, &bc);
    return bc.bound;
}

static struct ctl_manager *
scheduler_start(void)
{
    static const struct ctl_def *const table[] = {&ctl_def_scheduler, NULL};
    struct ctl_config cfg = harness_api_ctl_config(H, "bench");
    struct k3c_err err = {0};
    struct ctl_manager *m;

    cfg.disable_controllers = true;
    m = ctl_manager_new_with(&cfg, H->srv, table, &err);
    if (!m || ctl_manager_start(m, &err) < 0) {
        fprintf(stderr, "scheduler: %s\n", err.msg);
        ctl_manager_free(m);
        return NULL;
    }
    return m;
}

static void
print_stats(const struct sched_stats *s, double wall_ms)
{
    double n = s->bound ? (double)s->bound : 1;

    printf("  scheduler: %lld syncs, %lld bound, %lld unschedulable\n", s->syncs, s->bound,
           s->unschedulable);
    printf("  per bound pod: filter+score %.3f ms (worker thread), POST binding %.3f ms (on %d "
           "binder threads, %.1f in flight on average), queueing the Scheduled event %.3f ms\n",
           s->decide_ns / 1e6 / n, s->bind_ns / 1e6 / n, 16, s->bind_ns / 1e6 / wall_ms,
           s->event_ns / 1e6 / n);
    printf("  worker thread busy %.0f%% of the wall time; the rest is the API server's write "
           "rate (a binding costs about what a create does; the events are written after, by "
           "the manager's event thread)\n",
           s->decide_ns / 1e6 / wall_ms * 100);
}

int
main(int argc, char **argv)
{
    int pods = argc > 1 ? atoi(argv[1]) : BENCH_PODS;
    int nodes = argc > 2 ? atoi(argv[2]) : BENCH_NODES;
    struct k3c_err err = {0};
    struct ctl_manager *m;
    struct sched_stats stats;
    int created = 0, bound = 0, rc = 1;
    int64_t raw_ms, t0, create_ms, bind_ms;

    k3c_log_set_level(K3C_LOG_WARN);
    H = harness_api_start(&err);
    if (!H) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    printf("bench_scheduler: %d pods, %d nodes, %d client threads\n", pods, nodes, BENCH_CONC);
    if (register_nodes(nodes) != nodes) {
        fprintf(stderr, "could not register %d nodes\n", nodes);
        goto out;
    }
    raw_ms = create_pods("raw", "none", pods, &created);
    printf("raw pod creates:        %d in %lld ms = %.0f pods/s\n", created, (long long)raw_ms,
           created * 1000.0 / (raw_ms ? raw_ms : 1));
    /* The pending pods first, then the scheduler: its own throughput, not
     * the creates'. */
    create_ms = create_pods("sched", "default-scheduler", pods, &created);
    printf("pending pod creates:    %d in %lld ms = %.0f pods/s\n", created, (long long)create_ms,
           created * 1000.0 / (create_ms ? create_ms : 1));
    t0 = k3c_now_ms();
    m = scheduler_start();
    if (!m)
        goto out;
    while ((bound = bound_pods("sched-")) < created && k3c_now_ms() - t0 < BENCH_BIND_WAIT_MS)
        k3c_sleep_ms(5);
    bind_ms = k3c_now_ms() - t0;
    sched_stats_get(&stats);
    printf("scheduled and bound:    %d/%d in %lld ms = %.0f pods/s, from the scheduler's start "
           "(leader election included) [goal >= %.0f]\n",
           bound, created, (long long)bind_ms, bound * 1000.0 / (bind_ms ? bind_ms : 1),
           BENCH_GOAL_PODS_S);
    print_stats(&stats, (double)bind_ms);
    ctl_manager_free(m);
    rc = bound == created && created == pods ? 0 : 1;
out:
    harness_api_stop(H);
    return rc;
}
