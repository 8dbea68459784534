/* SPDX-License-Identifier: Apache-2.0
 * bench_store.c - puts/s and gets/s through the store layer against a real
 * TLS etcd, next to a raw libcurl client that sends the same gateway requests
 * (1 KiB values, concurrency 1 and 16, rounds alternated in one run), and the
 * ratio store/raw (goal >= 0.9). Prints figures; exits 0 whatever they are. */
#include "harness.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_VALUE_SIZE  1024
#define BENCH_MAX_CONC    16
#define BENCH_ROUNDS      8 /* per phase and side; the order alternates each round */
#define BENCH_DEFAULT_OPS 2000
#define BENCH_WARMUP_OPS  64
#define BENCH_BODY_MAX    4096

enum bench_side {
    SIDE_STORE,
    SIDE_RAW,
};

enum bench_op {
    OP_PUT,
    OP_GET,
};

static const char *const side_names[] = {"store", "raw"};
static const char *const op_names[] = {"put", "get"};

/* A raw client connection: its own easy handle, kept alive across requests. */
struct raw_conn {
    CURL *curl;
    struct curl_slist *headers;
    struct k3c_buf body;
};

struct bench {
    struct harness_etcd *etcd;
    struct store *store;
    struct raw_conn raw[BENCH_MAX_CONC];
    char *txn_url, *range_url;
    char value[BENCH_VALUE_SIZE];
};

/* One thread of a round: indexes first+tid, first+tid+conc, ... below first+count. */
struct worker {
    struct bench *b;
    enum bench_side side;
    enum bench_op op;
    const char *ns; /* key namespace of the phase */
    int conc, tid;
    size_t first, count;
    pthread_barrier_t *start;
    size_t errors;
    struct k3c_err err; /* the first error */
    double cpu_s;       /* this thread's user+system CPU time in the loop */
};

/* What one side accumulated over the rounds of a phase. */
struct tally {
    double secs, cpu_s;
    size_t ops, errors;
    char first_err[K3C_ERR_MSG_LEN];
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
thread_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static size_t
collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    k3c_buf_append(userdata, data, size * nmemb);
    return size * nmemb;
}

/* The options src/client sets on every handle (handle_setup), set once here
 * instead of per request. Like the client, it leaves CURLOPT_CAPATH at
 * libcurl's default, so each new connection also loads the system CA dir. */
static void
raw_conn_init(struct raw_conn *c, const struct harness_etcd *h)
{
    c->curl = curl_easy_init();
    if (!c->curl)
        abort();
    k3c_buf_init(&c->body);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CAINFO, h->tls.ca_cert);
    curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL); /* as src/client does */
    curl_easy_setopt(c->curl, CURLOPT_SSLCERT, h->tls.client_cert);
    curl_easy_setopt(c->curl, CURLOPT_SSLKEY, h->tls.client_key);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->body);
}

static void
raw_conn_fini(struct raw_conn *c)
{
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    k3c_buf_fini(&c->body);
}

/* POSTs body; the answer must be HTTP 200 and contain want. */
static int
raw_post(struct raw_conn *c, const char *url, const char *body, int len, const char *want,
         struct k3c_err *err)
{
    CURLcode rc;
    long status = 0;

    k3c_buf_reset(&c->body);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "raw %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || !c->body.data || !strstr(c->body.data, want))
        return k3c_err_set(err, K3C_E_INTERNAL, "raw %s: HTTP %ld: %.120s", url, status,
                           c->body.data ? c->body.data : "");
    return 0;
}

/* The transaction store_create sends: create_revision == 0, else read the key. */
static int
raw_put(struct bench *b, struct raw_conn *c, const char *key, struct k3c_err *err)
{
    char body[BENCH_BODY_MAX];
    char *k = k3c_base64_encode(key, strlen(key));
    char *v = k3c_base64_encode(b->value, sizeof(b->value));
    int n = snprintf(body, sizeof(body),
                     "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                     "\"create_revision\":0}],\"success\":[{\"request_put\":{\"key\":\"%s\","
                     "\"value\":\"%s\"}}],\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                     k, k, v, k);

    free(k);
    free(v);
    if (n < 0 || n >= (int)sizeof(body))
        return k3c_err_set(err, K3C_E_INTERNAL, "raw put %s: request too long", key);
    return raw_post(c, b->txn_url, body, n, "\"succeeded\":true", err);
}

/* The range request store_get sends. */
static int
raw_get(struct bench *b, struct raw_conn *c, const char *key, struct k3c_err *err)
{
    char body[BENCH_BODY_MAX];
    char *k = k3c_base64_encode(key, strlen(key));
    int n = snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k);

    free(k);
    if (n < 0 || n >= (int)sizeof(body))
        return k3c_err_set(err, K3C_E_INTERNAL, "raw get %s: request too long", key);
    return raw_post(c, b->range_url, body, n, "\"kvs\":[", err);
}

static int
store_get_one(struct store *s, const char *key, struct k3c_err *err)
{
    struct store_kv kv;

    if (store_get(s, key, &kv, err) < 0)
        return -1;
    store_kv_fini(&kv);
    return 0;
}

/* Puts write the side's own fresh keys; gets of both sides read the keys
 * the store side put in the same namespace. */
static int
worker_op(struct worker *w, size_t i)
{
    struct bench *b = w->b;
    char key[128];

    if (w->op == OP_PUT)
        snprintf(key, sizeof(key), "%s/%s/%08zu", w->ns, side_names[w->side], i);
    else
        snprintf(key, sizeof(key), "%s/store/%08zu", w->ns, i);
    if (w->side == SIDE_RAW && w->op == OP_PUT)
        return raw_put(b, &b->raw[w->tid], key, &w->err);
    if (w->side == SIDE_RAW)
        return raw_get(b, &b->raw[w->tid], key, &w->err);
    if (w->op == OP_PUT)
        return store_create(b->store, key, b->value, sizeof(b->value), 0, NULL, &w->err);
    return store_get_one(b->store, key, &w->err);
}

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct k3c_err first = {0};
    double cpu0;

    pthread_barrier_wait(w->start);
    cpu0 = thread_cpu_s();
    for (size_t i = w->first + (size_t)w->tid; i < w->first + w->count; i += (size_t)w->conc) {
        if (worker_op(w, i) == 0)
            continue;
        if (w->errors++ == 0)
            first = w->err;
    }
    w->cpu_s = thread_cpu_s() - cpu0;
    w->err = first;
    return NULL;
}

/* Runs count operations on conc threads; the clock runs from the start
 * barrier to the last join, so thread creation is not measured. */
static void
run_round(struct bench *b, enum bench_side side, enum bench_op op, const char *ns, int conc,
          size_t first, size_t count, struct tally *t)
{
    pthread_t th[BENCH_MAX_CONC];
    struct worker w[BENCH_MAX_CONC];
    pthread_barrier_t start;
    double t0;

    pthread_barrier_init(&start, NULL, (unsigned)conc + 1);
    for (int i = 0; i < conc; i++) {
        w[i] = (struct worker){.b = b,
                               .side = side,
                               .op = op,
                               .ns = ns,
                               .conc = conc,
                               .tid = i,
                               .first = first,
                               .count = count,
                               .start = &start};
        if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
            abort();
    }
    pthread_barrier_wait(&start);
    t0 = now_s();
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    t->secs += now_s() - t0;
    t->ops += count;
    for (int i = 0; i < conc; i++) {
        if (w[i].errors > 0 && t->errors == 0)
            snprintf(t->first_err, sizeof(t->first_err), "%s", w[i].err.msg);
        t->errors += w[i].errors;
        t->cpu_s += w[i].cpu_s;
    }
    pthread_barrier_destroy(&start);
}

/* ops operations per side, in rounds whose order alternates (store first,
 * then raw first, ...) so that noise on the machine hits both sides. */
static void
run_phase(struct bench *b, enum bench_op op, const char *ns, int conc, size_t ops,
          struct tally t[2])
{
    memset(t, 0, 2 * sizeof(*t));
    for (size_t r = 0; r < BENCH_ROUNDS; r++) {
        size_t first = ops * r / BENCH_ROUNDS;
        size_t count = ops * (r + 1) / BENCH_ROUNDS - first;
        enum bench_side a = r % 2 ? SIDE_RAW : SIDE_STORE;
        enum bench_side z = r % 2 ? SIDE_STORE : SIDE_RAW;

        run_round(b, a, op, ns, conc, first, count, &t[a]);
        run_round(b, z, op, ns, conc, first, count, &t[z]);
    }
}

static double
rate(const struct tally *t)
{
    return t->secs > 0 ? (double)(t->ops - t->errors) / t->secs : 0;
}

/* Client CPU time (all its threads) per operation, in microseconds. */
static double
cpu_us(const struct tally *t)
{
    return t->ops ? t->cpu_s * 1e6 / (double)t->ops : 0;
}

static void
print_row(enum bench_op op, int conc, const struct tally t[2])
{
    double s = rate(&t[SIDE_STORE]), r = rate(&t[SIDE_RAW]);

    printf("%-4s %4d %12.0f %12.0f %7.3f %12.1f %12.1f %7zu/%zu\n", op_names[op], conc, s, r,
           r > 0 ? s / r : 0, cpu_us(&t[SIDE_STORE]), cpu_us(&t[SIDE_RAW]), t[SIDE_STORE].errors,
           t[SIDE_RAW].errors);
    for (int i = 0; i < 2; i++)
        if (t[i].errors > 0)
            printf("     %s error: %s\n", side_names[i], t[i].first_err);
    fflush(stdout);
}

/* Opens every raw connection and fills the store's handle pool (16 live
 * connections each), and lets etcd settle, before anything is timed. */
static void
warm_up(struct bench *b)
{
    struct tally t[2] = {0};

    for (int side = SIDE_STORE; side <= SIDE_RAW; side++) {
        run_round(b, side, OP_PUT, "/bench/warmup", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS, &t[side]);
        run_round(b, side, OP_GET, "/bench/warmup", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS, &t[side]);
    }
}

/* argv[1], else $K3C_BENCH_OPS, else the default: operations per side at
 * concurrency 1; concurrency 16 runs twice as many. */
static size_t
bench_ops(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("K3C_BENCH_OPS");
    char *end = NULL;
    long long n;

    if (!s || !*s)
        return BENCH_DEFAULT_OPS;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || *end || n <= 0 || n > 10000000) {
        fprintf(stderr, "bench_store: ignoring bad operation count '%s'\n", s);
        return BENCH_DEFAULT_OPS;
    }
    return (size_t)n;
}

static int
bench_init(struct bench *b, struct k3c_err *err)
{
    const char *url;

    if (harness_etcd_store_start(&b->etcd, &b->store, err) < 0)
        return -1;
    url = etcd_client_url(b->etcd->etcd);
    b->txn_url = k3c_xasprintf("%s/v3/kv/txn", url);
    b->range_url = k3c_xasprintf("%s/v3/kv/range", url);
    for (int i = 0; i < BENCH_MAX_CONC; i++)
        raw_conn_init(&b->raw[i], b->etcd);
    for (size_t i = 0; i < sizeof(b->value); i++)
        b->value[i] = (char)('a' + i % 26);
    return 0;
}

static void
bench_fini(struct bench *b)
{
    if (b->txn_url) {
        for (int i = 0; i < BENCH_MAX_CONC; i++)
            raw_conn_fini(&b->raw[i]);
    }
    free(b->txn_url);
    free(b->range_url);
    harness_etcd_store_stop(b->etcd, b->store);
}

static void
run_all(struct bench *b, size_t ops)
{
    static const int concs[] = {1, BENCH_MAX_CONC};
    struct tally t[2];

    printf("%-4s %4s %12s %12s %7s %12s %12s %9s\n", "op", "conc", "store ops/s", "raw ops/s",
           "ratio", "store us/op", "raw us/op", "errors");
    for (size_t c = 0; c < K3C_ARRAY_SIZE(concs); c++) {
        size_t n = concs[c] == 1 ? ops : 2 * ops;
        char ns[32];

        snprintf(ns, sizeof(ns), "/bench/c%d", concs[c]);
        run_phase(b, OP_PUT, ns, concs[c], n, t);
        print_row(OP_PUT, concs[c], t);
        run_phase(b, OP_GET, ns, concs[c], n, t);
        print_row(OP_GET, concs[c], t);
    }
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    struct k3c_err err = {0};
    struct rusage ru;
    size_t ops = bench_ops(argc, argv);
    double t0 = now_s();

    k3c_log_set_level(K3C_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (bench_init(&b, &err) < 0) {
        fprintf(stderr, "bench_store: cannot start etcd or its client: %s\n", err.msg);
        bench_fini(&b);
        return 1;
    }
    printf("bench/store: etcd %s (TLS), %d-byte values, %zu ops per side at c=1, %zu at c=%d\n",
           etcd_client_url(b.etcd->etcd), BENCH_VALUE_SIZE, ops, 2 * ops, BENCH_MAX_CONC);
    printf("ratio = store/raw ops/s; goal >= 0.900 (the store layer costs under 10%%);\n"
           "us/op = client CPU time (user+system, the benchmark's threads) per operation;\n"
           "errors = store/raw\n\n");
    warm_up(&b);
    run_all(&b, ops);
    bench_fini(&b);
    getrusage(RUSAGE_SELF, &ru);
    printf("\nmax RSS %ld KiB, total %.1f s\n", ru.ru_maxrss, now_s() - t0);
    curl_global_cleanup();
    return 0;
}
