/* SPDX-License-Identifier: Apache-2.0
 * bench_api.c - the API server under load. Starts the real `k3c server`
 * (argv[1], else $K3C_BIN, else build/k3c) in a temporary data dir on free
 * loopback ports and measures, over HTTPS with keep-alive libcurl handles:
 * ConfigMap creates/s against raw etcd txn puts of the same bytes on the same
 * TLS etcd, and over the server's own unix socket to its etcd when it has one
 * (concurrency 1 and 16, rounds alternated, goal ratio >= 0.85), GET
 * latency, LIST of 10,000 pods (watch cache, paginated, Table; goal < 100 ms)
 * and the RSS of k3c (goal < 40 MB, issue #20) and its etcd. Prints figures; exits 0
 * whatever they are, 1 only if the server does not start (or cannot create
 * a single ConfigMap). */
#include "harness.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_CONC     16
#define BENCH_ROUNDS       8 /* per phase and side; the order alternates each round */
#define BENCH_DEFAULT_OPS  2000
#define BENCH_DEFAULT_PODS 10000
#define BENCH_WARMUP_OPS   64
#define BENCH_GETS         2000
#define BENCH_LISTS        5 /* runs of each unpaginated list */
#define BENCH_POKES        3 /* lists after an unrelated write */
#define BENCH_TABLES       3 /* runs of the Table list */
#define BENCH_WATCHERS     100
#define BENCH_FAN_WRITES   1000
#define BENCH_FAN_WAIT_S   120.0
#define BENCH_FAN_OPEN_S   120.0 /* for the watches to open (TLS handshakes on a busy box) */
#define BENCH_GOAL_FAN_MS  50.0
#define BENCH_LINE_HEAD    2048 /* bytes of a watch event kept to read it */
#define BENCH_WALKS        2    /* runs of the paginated walk */
#define BENCH_PAGE         500
#define BENCH_POD_NS       4 /* pods are spread over bench-0..bench-3 */
#define BENCH_VALUE_SIZE   1024
#define BENCH_BODY_MAX     8192
#define BENCH_READY_MS     60000
#define BENCH_STOP_MS      30000
#define BENCH_GOAL_RATIO   0.85 /* issue #20 */
#define BENCH_GOAL_LIST_MS 100.0
#define BENCH_GOAL_RSS_KIB (40 * 1000) /* 40 MB (issue #20) */
#define BENCH_RAW_PREFIX   "/bench/raw/configmaps/default/"
/* The raw side's keys that a watch follows (struct raw_watch). */
#define BENCH_WATCHED_PREFIX "/bench/watched/configmaps/default/"
#define BENCH_TABLE_ACCEPT                                                                         \
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s." \
    "io,application/json"

enum bench_side {
    SIDE_API,
    SIDE_RAW,
    SIDE_RAW_WATCHED, /* raw, on keys a watch follows */
    SIDE_RAW_UNIX,    /* raw over the server's local unix socket, when it has one */
    SIDE_RAW_GRPC,    /* store_create itself: gRPC on that socket, as the server writes */
    SIDE_COUNT,
};

enum bench_op {
    OP_CM_CREATE,
    OP_CM_GET,
    OP_POD_CREATE,
};

static const char *const side_names[] = {"api", "raw", "raw (watched)", "raw (unix)", "raw (gRPC)"};

extern char **environ;

/* One keep-alive connection: its own easy handle. */
struct conn {
    CURL *curl;
    struct curl_slist *headers;
    struct k3c_buf body;
    long status;
    double secs; /* the last request, from send to the last byte of the body */
    char errbuf[CURL_ERROR_SIZE];
};

/* The k3c server child and where it keeps things. */
struct server {
    char *dir, *data_dir, *config, *log, *kubeconfig;
    char *ca, *admin_cert, *admin_key, *etcd_cert, *etcd_key;
    char *api_url, *etcd_url;
    pid_t pid, etcd_pid;
    bool ready; /* it answered /readyz once */
};

/* A watch on BENCH_WATCHED_PREFIX through etcd's gateway, as an API
 * server's watch cache keeps one on every resource's keys: etcd then sends
 * an event for every create on that side too, as for the API's. What it
 * receives is counted and dropped. */
struct raw_watch {
    struct conn conn;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_size_t messages; /* lines of the stream: the "created" answer, then events */
    CURLcode rc;
    char *body;
};

struct bench {
    struct server srv;
    struct raw_watch watch;
    struct conn api[BENCH_MAX_CONC], raw[BENCH_MAX_CONC], raw_unix[BENCH_MAX_CONC];
    /* One store per thread on the unix socket (its own gRPC connection). */
    struct store *raw_grpc[BENCH_MAX_CONC];
    char *txn_url, *put_url, *range_url;
    /* The server's socket to its etcd (docs/etcd.md "The local socket"):
     * plain HTTP, no TLS on either side. NULL: this server has none. */
    char *unix_socket;
    char *raw_value; /* the bytes k3c stored for a ConfigMap: raw puts write them */
    size_t raw_value_len;
    char cm_value[BENCH_VALUE_SIZE + 1];
    size_t cm_c1; /* ConfigMaps created at concurrency 1 (the GETs read them) */
};

/* What one side accumulated over the rounds of a phase. */
struct tally {
    double secs, k3c_cpu, etcd_cpu;
    size_t ops, errors;
    double *lat; /* per operation, seconds; NULL: not recorded */
    char first_err[K3C_ERR_MSG_LEN];
};

/* One thread of a round: indexes first+tid, first+tid+conc, ... below first+count. */
struct worker {
    struct bench *b;
    enum bench_side side;
    enum bench_op op;
    const char *tag; /* names of the phase: cm-<tag>-N */
    int conc, tid;
    size_t first, count;
    double *lat; /* count entries, or NULL */
    pthread_barrier_t *start;
    size_t errors;
    struct k3c_err err;
};

/* A series of timed requests: milliseconds, sorted once the runs are done. */
struct series {
    double ms[16];
    size_t n;
    size_t bytes, items;
};

/* ---- clocks and /proc ---------------------------------------------------- */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user+system CPU seconds of pid, or 0 when it is gone. */
static double
proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    ssize_t n;
    _cleanup_close_ int fd = -1;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* After "pid (comm)": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The threads of pid now, and (if ctxsw) the context switches of those
 * threads so far (voluntary + involuntary, from each task's status). */
static long
proc_threads(pid_t pid, unsigned long long *ctxsw)
{
    char path[64];
    DIR *d;
    struct dirent *de;
    long n = 0;

    if (ctxsw)
        *ctxsw = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    if (pid <= 0 || !(d = opendir(path)))
        return -1;
    while ((de = readdir(d))) {
        char spath[400], line[256];
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        n++;
        snprintf(spath, sizeof(spath), "%s/%s/status", path, de->d_name);
        if (!ctxsw || !(f = fopen(spath, "re")))
            continue;
        while (fgets(line, sizeof(line), f)) {
            unsigned long long v;

            if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                *ctxsw += v;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* The value of a "Name:   N kB" line of /proc/<pid>/status, in KiB; -1 if none. */
static long
proc_status_kib(pid_t pid, const char *name)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%d/status", (int)pid);
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    size_t len = strlen(name);
    const char *p;

    if (pid <= 0 || k3c_read_file(path, &text, NULL, &err) < 0)
        return -1;
    for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == ':')
            return strtol(p + len + 1, NULL, 10);
    return -1;
}

/* The etcd that k3c pid forked: a process named etcd whose parent is pid. */
static pid_t
find_etcd_child(pid_t parent)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;

    if (!proc)
        return 0;
    while (!found && (de = readdir(proc))) {
        char path[300], buf[512];
        const char *p;
        int ppid = 0;
        ssize_t n;
        _cleanup_close_ int fd = -1;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (p && strstr(buf, "(etcd)") && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == parent)
            found = (pid_t)atoi(de->d_name);
    }
    closedir(proc);
    return found;
}

/* ---- HTTP connections ---------------------------------------------------- */

static size_t
collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    k3c_buf_append(userdata, data, size * nmemb);
    return size * nmemb;
}

static void
conn_set_accept(struct conn *c, const char *accept)
{
    char line[512];

    curl_slist_free_all(c->headers);
    snprintf(line, sizeof(line), "Accept: %s", accept);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    c->headers = curl_slist_append(c->headers, line);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
}

/* A handle with a client certificate that trusts only ca, kept alive. */
static void
conn_init(struct conn *c, const char *ca, const char *cert, const char *key)
{
    c->curl = curl_easy_init();
    if (!c->curl)
        abort();
    k3c_buf_init(&c->body);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c->curl, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c->curl, CURLOPT_SSLKEY, key);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    conn_set_accept(c, "application/json");
}

static void
conn_fini(struct conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    k3c_buf_fini(&c->body);
    memset(c, 0, sizeof(*c));
}

/* GET (body NULL) or POST; fills c->body, c->status and c->secs. Fails only
 * on transport errors. */
static int
conn_do(struct conn *c, const char *url, const char *body, size_t len, struct k3c_err *err)
{
    CURLcode rc;
    double t0;

    k3c_buf_reset(&c->body);
    c->status = 0;
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    t0 = now_s();
    rc = curl_easy_perform(c->curl);
    c->secs = now_s() - t0;
    if (rc != CURLE_OK)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "%s: %s (%s)", url, curl_easy_strerror(rc),
                           c->errbuf);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    return 0;
}

/* conn_do, then the status must be want and the body contain needle (if any). */
static int
conn_expect(struct conn *c, const char *url, const char *body, size_t len, long want,
            const char *needle, struct k3c_err *err)
{
    if (conn_do(c, url, body, len, err) < 0)
        return -1;
    if (c->status != want || (needle && (!c->body.data || !strstr(c->body.data, needle))))
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: HTTP %ld: %.160s", url, c->status,
                           c->body.data ? c->body.data : "");
    return 0;
}

/* ---- the k3c server -------------------------------------------------------- */

/* environ without K3C_* variables, so only our flags count. */
static char **
clean_env(void)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = k3c_xcalloc(n + 1, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "K3C_", 4) != 0)
            env[k++] = environ[i];
    return env;
}

/* Forks and execs argv, stdin from /dev/null, stdout and stderr to log. The
 * child dies with the benchmark (PR_SET_PDEATHSIG), and etcd with k3c. */
static pid_t
spawn(char *const argv[], char *const envp[], const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    int in, out;

    if (pid != 0)
        return pid;
    /* The child: async-signal-safe calls only. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    in = open("/dev/null", O_RDONLY);
    out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0)
        _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close_range(3, ~0U, 0);
    execve(argv[0], argv, envp);
    _exit(127);
}

static void
server_paths(struct server *s)
{
    const char *tls = "server/tls";

    s->data_dir = k3c_xasprintf("%s/data", s->dir);
    s->config = k3c_xasprintf("%s/config.yaml", s->dir);
    s->log = k3c_xasprintf("%s/k3c.log", s->dir);
    s->kubeconfig = k3c_xasprintf("%s/kubeconfig.yaml", s->dir);
    s->ca = k3c_xasprintf("%s/%s/server-ca.crt", s->data_dir, tls);
    s->admin_cert = k3c_xasprintf("%s/%s/client-admin.crt", s->data_dir, tls);
    s->admin_key = k3c_xasprintf("%s/%s/client-admin.key", s->data_dir, tls);
    s->etcd_cert = k3c_xasprintf("%s/%s/etcd/client.crt", s->data_dir, tls);
    s->etcd_key = k3c_xasprintf("%s/%s/etcd/client.key", s->data_dir, tls);
}

static void
server_paths_fini(struct server *s)
{
    char **fields[] = {&s->dir,        &s->data_dir, &s->config,     &s->log,
                       &s->kubeconfig, &s->ca,       &s->admin_cert, &s->admin_key,
                       &s->etcd_cert,  &s->etcd_key, &s->api_url,    &s->etcd_url};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* Three distinct free loopback ports: API, etcd client, etcd peer. */
static int
pick_ports(int ports[3])
{
    for (int i = 0; i < 3; i++) {
        do {
            ports[i] = harness_free_port();
        } while (ports[i] > 0 &&
                 ((i > 0 && ports[i] == ports[0]) || (i > 1 && ports[i] == ports[1])));
        if (ports[i] <= 0)
            return -1;
    }
    return 0;
}

/* The API server and its etcd alone: --disable-agent keeps the node agent
 * (its lease writes, runtime and network setup) out of the figures. */
static int
server_spawn(struct server *s, const char *bin, struct k3c_err *err)
{
    static const char config[] = "# bench_api: flags on the command line\nnode-ip: 127.0.0.1\n";
    char api_port[16], client_port[16], peer_port[16];
    int ports[3];
    _cleanup_free_ char **env = NULL;
    char *argv[] = {(char *)bin, "server", "--config", s->config, "--data-dir", s->data_dir,
                    "--node-name", "bench", "--etcd-client-port", client_port, "--etcd-peer-port",
                    peer_port, "--https-listen-port", api_port, "--bind-address", "127.0.0.1",
                    "--write-kubeconfig", s->kubeconfig, "--disable-agent",
                    /* No nodes: a scheduler would answer each of the 10,000 pods
                     * with a status write and an Event, which is not the API's cost. */
                    "--disable-scheduler", NULL};

    if (pick_ports(ports) < 0)
        return k3c_err_set(err, K3C_E_SYSTEM, "no free loopback port");
    snprintf(api_port, sizeof(api_port), "%d", ports[0]);
    snprintf(client_port, sizeof(client_port), "%d", ports[1]);
    snprintf(peer_port, sizeof(peer_port), "%d", ports[2]);
    s->api_url = k3c_xasprintf("https://127.0.0.1:%d", ports[0]);
    s->etcd_url = k3c_xasprintf("https://127.0.0.1:%d", ports[1]);
    if (k3c_write_file(s->config, config, strlen(config), 0600, err) < 0)
        return -1;
    env = clean_env();
    s->pid = spawn(argv, env, s->log);
    if (s->pid < 0)
        return k3c_err_sys(err, errno, "fork");
    return 0;
}

/* Prints the end of the server's log to stderr. */
static void
server_dump_log(const struct server *s)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    size_t len = 0;

    if (k3c_read_file(s->log, &text, &len, &err) < 0)
        return;
    fprintf(stderr, "---- %s (last 4 KiB) ----\n%s\n----\n", s->log,
            text + (len > 4096 ? len - 4096 : 0));
}

/* Describes how k3c ended (a waitpid status) in err; returns -1. */
static int
exit_err(int status, struct k3c_err *err)
{
    if (WIFSIGNALED(status))
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "k3c server died: signal %d (%s)",
                           WTERMSIG(status), strsignal(WTERMSIG(status)));
    return k3c_err_set(err, K3C_E_UNAVAILABLE, "k3c server exited with code %d",
                       WEXITSTATUS(status));
}

/* Waits for the kubeconfig (written once the API listens), then for
 * /readyz to answer 200 and for etcd's pid. */
static int
server_wait_ready(struct server *s, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + BENCH_READY_MS;
    _cleanup_free_ char *url = k3c_xasprintf("%s/readyz", s->api_url);
    struct conn c = {0};
    int rc = -1, status;

    while (k3c_now_ms() < deadline) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            exit_err(status, err);
            break;
        }
        if (k3c_file_exists(s->kubeconfig) && !c.curl)
            conn_init(&c, s->ca, s->admin_cert, s->admin_key);
        if (c.curl && conn_do(&c, url, NULL, 0, err) == 0 && c.status == 200) {
            s->etcd_pid = find_etcd_child(s->pid);
            s->ready = true;
            rc = 0;
            break;
        }
        k3c_sleep_ms(50);
    }
    if (rc < 0 && s->pid > 0)
        k3c_err_set(err, K3C_E_TIMEOUT, "k3c server not ready after %d s", BENCH_READY_MS / 1000);
    conn_fini(&c);
    return rc;
}

static int
server_start(struct server *s, const char *bin, struct k3c_err *err)
{
    s->dir = harness_mkdtemp("bench-api");
    if (!s->dir)
        return k3c_err_sys(err, errno, "mkdtemp");
    server_paths(s);
    if (server_spawn(s, bin, err) < 0)
        return -1;
    if (server_wait_ready(s, err) < 0) {
        server_dump_log(s);
        return -1;
    }
    return 0;
}

static bool
wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    while (k3c_now_ms() < deadline) {
        pid_t r = waitpid(pid, NULL, WNOHANG);

        if (r == pid || (r < 0 && errno != EINTR))
            return true;
        k3c_sleep_ms(20);
    }
    return false;
}

/* etcd is not our child: it is gone once /proc has no live process for it. */
static bool
etcd_gone(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    _cleanup_close_ int fd = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return !strstr(buf, "(etcd)") || !p || p[2] == 'Z' || p[2] == 'X';
}

/* True (after printing how, and the log) if k3c ended before we stopped it. */
static bool
server_died(struct server *s)
{
    struct k3c_err err = {0};
    int status = 0;

    if (s->pid <= 0 || waitpid(s->pid, &status, WNOHANG) != s->pid)
        return false;
    exit_err(status, &err);
    fprintf(stderr, "bench_api: %s during the run\n", err.msg);
    server_dump_log(s);
    s->pid = 0;
    return true;
}

/* SIGTERM, wait (SIGKILL after BENCH_STOP_MS), make sure etcd went too,
 * remove the directory. */
static void
server_stop(struct server *s)
{
    if (s->pid > 0 && !server_died(s)) {
        kill(s->pid, SIGTERM);
        if (!wait_exit(s->pid, BENCH_STOP_MS)) {
            fprintf(stderr, "bench_api: k3c did not stop in %d s; killing it\n",
                    BENCH_STOP_MS / 1000);
            kill(s->pid, SIGKILL);
            wait_exit(s->pid, BENCH_STOP_MS);
        }
    }
    if (s->etcd_pid > 0 && !harness_wait_for(etcd_gone, &s->etcd_pid, 10000)) {
        fprintf(stderr, "bench_api: etcd %d outlived k3c; killing it\n", (int)s->etcd_pid);
        kill(s->etcd_pid, SIGKILL);
    }
    if (s->ready && !k3c_file_exists(s->admin_cert))
        fprintf(stderr, "bench_api: %s lost its files during the run\n", s->dir);
    if (s->dir && getenv("K3C_BENCH_KEEP"))
        fprintf(stderr, "bench_api: kept %s (K3C_BENCH_KEEP)\n", s->dir);
    else if (s->dir)
        harness_rm_rf(s->dir);
    server_paths_fini(s);
}

/* ---- request bodies -------------------------------------------------------- */

static int
cm_body(const struct bench *b, const char *name, char *out, size_t size)
{
    return snprintf(out, size,
                    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                    "\"namespace\":\"default\",\"labels\":{\"app\":\"bench\"}},"
                    "\"data\":{\"value\":\"%s\"}}",
                    name, b->cm_value);
}

/* A Deployment-made web pod, about 1 KB of JSON. */
static int
pod_body(size_t i, char *out, size_t size)
{
    return snprintf(
        out, size,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7d9c5b8f6d-%06zu\","
        "\"namespace\":\"bench-%zu\",\"labels\":{\"app.kubernetes.io/name\":\"web\","
        "\"app.kubernetes.io/instance\":\"web-%zu\",\"pod-template-hash\":\"7d9c5b8f6d\","
        "\"tier\":\"frontend\"},\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":"
        "\"2024-05-01T10:00:00Z\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
        "\"registry.k8s.io/e2e-test-images/nginx:1.15-4\",\"imagePullPolicy\":\"IfNotPresent\","
        "\"args\":[\"--port=8080\",\"--log-level=info\"],\"ports\":[{\"name\":\"http\","
        "\"containerPort\":8080,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"POD_NAME\","
        "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},{\"name\":\"MODE\","
        "\"value\":"
        "\"production\"}],\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
        "\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}},\"readinessProbe\":{\"httpGet\":"
        "{\"path\":\"/healthz\",\"port\":8080},\"periodSeconds\":10},\"volumeMounts\":[{\"name\":"
        "\"config\",\"mountPath\":\"/etc/web\",\"readOnly\":true}]}],\"volumes\":[{\"name\":"
        "\"config\",\"configMap\":{\"name\":\"web-config\"}}],\"restartPolicy\":\"Always\","
        "\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
        "\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},\"tolerations\":[{\"key\":"
        "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
        "\"tolerationSeconds\":300}]}}",
        i, i % BENCH_POD_NS, i % 50);
}

/* ---- operations -------------------------------------------------------------- */

/* The transaction store_create sends: create_revision == 0 → put, else range. */
static int
raw_create(struct bench *b, struct conn *c, const char *url, const char *key, struct k3c_err *err)
{
    _cleanup_free_ char *k = k3c_base64_encode(key, strlen(key));
    _cleanup_free_ char *v = k3c_base64_encode(b->raw_value, b->raw_value_len);
    _cleanup_free_ char *body =
        k3c_xasprintf("{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                      "\"create_revision\":0}],\"success\":[{\"request_put\":{\"key\":\"%s\","
                      "\"value\":\"%s\"}}],\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                      k, k, v, k);

    return conn_expect(c, url, body, strlen(body), 200, "\"succeeded\":true", err);
}

/* The range request store_get sends. */
static int
raw_get(struct bench *b, struct conn *c, const char *key, struct k3c_err *err)
{
    _cleanup_free_ char *k = k3c_base64_encode(key, strlen(key));
    _cleanup_free_ char *body = k3c_xasprintf("{\"key\":\"%s\"}", k);

    return conn_expect(c, b->range_url, body, strlen(body), 200, "\"kvs\":[", err);
}

/* A plain put (no compare), for writes outside every watched prefix. */
static int
raw_put(struct bench *b, struct conn *c, const char *key, const char *value, struct k3c_err *err)
{
    _cleanup_free_ char *k = k3c_base64_encode(key, strlen(key));
    _cleanup_free_ char *v = k3c_base64_encode(value, strlen(value));
    _cleanup_free_ char *body = k3c_xasprintf("{\"key\":\"%s\",\"value\":\"%s\"}", k, v);

    return conn_expect(c, b->put_url, body, strlen(body), 200, "\"header\"", err);
}

static int
api_create_cm(struct bench *b, struct conn *c, const char *name, struct k3c_err *err)
{
    char body[BENCH_BODY_MAX], url[256];
    int n = cm_body(b, name, body, sizeof(body));

    snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps", b->srv.api_url);
    return conn_expect(c, url, body, (size_t)n, 201, NULL, err);
}

static int
api_get_cm(struct bench *b, struct conn *c, const char *name, struct k3c_err *err)
{
    char url[256];

    snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/configmaps/%s", b->srv.api_url, name);
    return conn_expect(c, url, NULL, 0, 200, NULL, err);
}

static int
api_create_pod(struct bench *b, struct conn *c, size_t i, struct k3c_err *err)
{
    char body[BENCH_BODY_MAX], url[256];
    int n = pod_body(i, body, sizeof(body));

    snprintf(url, sizeof(url), "%s/api/v1/namespaces/bench-%zu/pods", b->srv.api_url,
             i % BENCH_POD_NS);
    return conn_expect(c, url, body, (size_t)n, 201, NULL, err);
}

/* ---- the watch on the watched side's keys ------------------------------------- */

static size_t
watch_count(char *data, size_t size, size_t n, void *ud)
{
    struct raw_watch *w = ud;

    for (size_t i = 0; i < size * n; i++)
        if (data[i] == '\n')
            atomic_fetch_add(&w->messages, 1);
    return size * n;
}

static int
watch_until_stopped(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    struct raw_watch *w = ud;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&w->stop) ? 1 : 0;
}

static void *
watch_run(void *arg)
{
    struct raw_watch *w = arg;

    w->rc = curl_easy_perform(w->conn.curl);
    return NULL;
}

static void
raw_watch_start(struct bench *b)
{
    struct raw_watch *w = &b->watch;
    const struct server *s = &b->srv;
    _cleanup_free_ char *url = k3c_xasprintf("%s/v3/watch", s->etcd_url);
    char end[] = BENCH_WATCHED_PREFIX;
    _cleanup_free_ char *key = k3c_base64_encode(end, strlen(end));
    _cleanup_free_ char *key_end = NULL;

    end[strlen(end) - 1]++; /* the range: every key with the prefix */
    key_end = k3c_base64_encode(end, strlen(end));
    w->body =
        k3c_xasprintf("{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\"}}", key, key_end);
    conn_init(&w->conn, s->ca, s->etcd_cert, s->etcd_key);
    curl_easy_setopt(w->conn.curl, CURLOPT_URL, url);
    curl_easy_setopt(w->conn.curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(w->conn.curl, CURLOPT_TIMEOUT_MS, 0L); /* open until raw_watch_stop */
    curl_easy_setopt(w->conn.curl, CURLOPT_POSTFIELDS, w->body);
    curl_easy_setopt(w->conn.curl, CURLOPT_WRITEFUNCTION, watch_count);
    curl_easy_setopt(w->conn.curl, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->conn.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(w->conn.curl, CURLOPT_XFERINFOFUNCTION, watch_until_stopped);
    curl_easy_setopt(w->conn.curl, CURLOPT_XFERINFODATA, w);
    w->started = pthread_create(&w->thread, NULL, watch_run, w) == 0;
}

/* Stops the watch; prints what it received (the figure of its side means
 * something only if it was open throughout). */
static void
raw_watch_stop(struct bench *b)
{
    struct raw_watch *w = &b->watch;

    if (!w->started)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    printf("  (the watch on the watched keys received %zu messages; %s)\n",
           atomic_load(&w->messages),
           w->rc == CURLE_ABORTED_BY_CALLBACK ? "open until the end" : curl_easy_strerror(w->rc));
    conn_fini(&w->conn);
    free(w->body);
    w->started = false;
}

/* Creates write fresh names of the phase; GETs read the c=1 phase's objects
 * (API: the ConfigMaps, raw: the raw keys). */
static int
worker_op(struct worker *w, size_t i)
{
    struct bench *b = w->b;
    struct conn *c = w->side == SIDE_API        ? &b->api[w->tid]
                     : w->side == SIDE_RAW_UNIX ? &b->raw_unix[w->tid]
                                                : &b->raw[w->tid];
    char name[64], key[128];

    if (w->op == OP_POD_CREATE)
        return api_create_pod(b, c, i, &w->err);
    if (w->side == SIDE_RAW_GRPC) {
        snprintf(key, sizeof(key), "%sg-cm-%s-%08zu", BENCH_RAW_PREFIX, w->tag, i);
        return store_create(b->raw_grpc[w->tid], key, b->raw_value, b->raw_value_len, 0, NULL,
                            &w->err);
    }
    snprintf(name, sizeof(name), "cm-%s-%08zu", w->tag, w->op == OP_CM_GET ? i % b->cm_c1 : i);
    snprintf(key, sizeof(key), "%s%s%s",
             w->side == SIDE_RAW_WATCHED ? BENCH_WATCHED_PREFIX : BENCH_RAW_PREFIX,
             w->side == SIDE_RAW_UNIX ? "u-" : "", name);
    if (w->op == OP_CM_CREATE)
        return w->side == SIDE_API
                   ? api_create_cm(b, c, name, &w->err)
                   : raw_create(
                         b, c, w->side == SIDE_RAW_UNIX ? "http://localhost/v3/kv/txn" : b->txn_url,
                         key, &w->err);
    return w->side == SIDE_API ? api_get_cm(b, c, name, &w->err) : raw_get(b, c, key, &w->err);
}

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct k3c_err first = {0};

    pthread_barrier_wait(w->start);
    for (size_t i = w->first + (size_t)w->tid; i < w->first + w->count; i += (size_t)w->conc) {
        double t0 = now_s();
        int rc = worker_op(w, i);

        if (w->lat)
            w->lat[i - w->first] = now_s() - t0;
        if (rc == 0)
            continue;
        if (w->errors++ == 0)
            first = w->err;
    }
    w->err = first;
    return NULL;
}

/* Runs count operations on conc threads; the clock runs from the start
 * barrier to the last join. Adds the CPU time k3c and etcd spent meanwhile. */
static void
run_round(struct bench *b, enum bench_side side, enum bench_op op, const char *tag, int conc,
          size_t first, size_t count, struct tally *t)
{
    pthread_t th[BENCH_MAX_CONC];
    struct worker w[BENCH_MAX_CONC];
    pthread_barrier_t start;
    double t0, k0, e0;

    pthread_barrier_init(&start, NULL, (unsigned)conc + 1);
    for (int i = 0; i < conc; i++) {
        w[i] = (struct worker){.b = b,
                               .side = side,
                               .op = op,
                               .tag = tag,
                               .conc = conc,
                               .tid = i,
                               .first = first,
                               .count = count,
                               .lat = t->lat ? t->lat + t->ops : NULL,
                               .start = &start};
        if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
            abort();
    }
    k0 = proc_cpu_s(b->srv.pid);
    e0 = proc_cpu_s(b->srv.etcd_pid);
    pthread_barrier_wait(&start);
    t0 = now_s();
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    t->secs += now_s() - t0;
    t->k3c_cpu += proc_cpu_s(b->srv.pid) - k0;
    t->etcd_cpu += proc_cpu_s(b->srv.etcd_pid) - e0;
    t->ops += count;
    for (int i = 0; i < conc; i++) {
        if (w[i].errors > 0 && t->errors == 0)
            snprintf(t->first_err, sizeof(t->first_err), "%s", w[i].err.msg);
        t->errors += w[i].errors;
    }
    pthread_barrier_destroy(&start);
}

/* ops operations per side, in rounds whose order rotates (API first, then
 * raw first, ...) so that noise on the machine hits every side. Creates
 * also run raw on watched keys, and over the local unix socket when the
 * server has one. */
static void
run_phase(struct bench *b, enum bench_op op, const char *tag, int conc, size_t ops, bool lat,
          struct tally t[SIDE_COUNT])
{
    int sides = op != OP_CM_CREATE ? 2 : b->unix_socket ? 5 : 3;

    memset(t, 0, SIDE_COUNT * sizeof(*t));
    for (int s = 0; s < 2 && lat; s++)
        t[s].lat = k3c_xcalloc(ops, sizeof(double));
    for (size_t r = 0; r < BENCH_ROUNDS; r++) {
        size_t first = ops * r / BENCH_ROUNDS;
        size_t count = ops * (r + 1) / BENCH_ROUNDS - first;

        for (int k = 0; k < sides; k++) {
            enum bench_side side = (enum bench_side)(((int)r + k) % sides);

            run_round(b, side, op, tag, conc, first, count, &t[side]);
        }
    }
}

static void
tally_fini(struct tally t[SIDE_COUNT])
{
    for (int s = 0; s < SIDE_COUNT; s++) {
        free(t[s].lat);
        t[s].lat = NULL;
    }
}

/* ---- figures ---------------------------------------------------------------- */

static double
rate(const struct tally *t)
{
    return t->secs > 0 ? (double)(t->ops - t->errors) / t->secs : 0;
}

static double
per_op_us(double cpu_s, const struct tally *t)
{
    return t->ops ? cpu_s * 1e6 / (double)t->ops : 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values, nearest rank. */
static double
quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n + 0.999999);

    if (n == 0)
        return 0;
    return v[i == 0 ? 0 : (i > n ? n - 1 : i - 1)];
}

static const char *
verdict(bool ok)
{
    return ok ? "ok" : "MISS";
}

/* ---- phases ------------------------------------------------------------------- */

/* Opens every connection, creates the first ConfigMaps and takes the bytes
 * k3c stored for one of them as the raw side's value. */
static int
warm_up(struct bench *b, struct k3c_err *err)
{
    struct tally t[SIDE_COUNT] = {0};

    run_round(b, SIDE_API, OP_CM_CREATE, "warm", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS, &t[0]);
    if (t[0].errors > 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "warm-up create: %s", t[0].first_err);
    if (api_get_cm(b, &b->api[0], "cm-warm-00000000", err) < 0)
        return -1;
    b->raw_value_len = b->api[0].body.len;
    b->raw_value = k3c_xstrndup(b->api[0].body.data, b->raw_value_len);
    run_round(b, SIDE_RAW, OP_CM_CREATE, "warm", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS, &t[1]);
    if (t[1].errors > 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "warm-up raw create: %s", t[1].first_err);
    run_round(b, SIDE_RAW_WATCHED, OP_CM_CREATE, "warm", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS,
              &t[SIDE_RAW_WATCHED]);
    if (t[SIDE_RAW_WATCHED].errors > 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "warm-up raw create on watched keys: %s",
                           t[SIDE_RAW_WATCHED].first_err);
    if (b->unix_socket) {
        run_round(b, SIDE_RAW_UNIX, OP_CM_CREATE, "warm", BENCH_MAX_CONC, 0, BENCH_WARMUP_OPS,
                  &t[SIDE_RAW_UNIX]);
        if (t[SIDE_RAW_UNIX].errors > 0)
            return k3c_err_set(err, K3C_E_INTERNAL, "warm-up raw create over %s: %s",
                               b->unix_socket, t[SIDE_RAW_UNIX].first_err);
    }
    return 0;
}

/* An extra raw side under a create row (if it ran): its rate, the API's
 * ratio to it, etcd's CPU per op. */
static void
print_info_row(const char *label, double api_rate, const struct tally *t)
{
    double r;

    if (t->ops == 0)
        return;
    r = rate(t);
    printf("  %-27s %7.0f %7.3f  %-9s %21s %10.0f %7zu\n", label, r, r > 0 ? api_rate / r : 0,
           "(info)", "", per_op_us(t->etcd_cpu, t), t->errors);
}

static void
print_create_row(int conc, const struct tally t[SIDE_COUNT], double *ratio)
{
    double a = rate(&t[SIDE_API]), r = rate(&t[SIDE_RAW]);

    *ratio = r > 0 ? a / r : 0;
    printf("create   %4d %10.0f %10.0f %7.3f  >=%.2f %-4s %10.0f %10.0f %10.0f %5zu/%zu\n", conc, a,
           r, *ratio, BENCH_GOAL_RATIO, verdict(*ratio >= BENCH_GOAL_RATIO),
           per_op_us(t[SIDE_API].k3c_cpu, &t[SIDE_API]),
           per_op_us(t[SIDE_API].etcd_cpu, &t[SIDE_API]),
           per_op_us(t[SIDE_RAW].etcd_cpu, &t[SIDE_RAW]), t[SIDE_API].errors, t[SIDE_RAW].errors);
    print_info_row("raw on keys a watch follows", a, &t[SIDE_RAW_WATCHED]);
    print_info_row("raw over the unix socket", a, &t[SIDE_RAW_UNIX]);
    print_info_row("raw gRPC on the socket", a, &t[SIDE_RAW_GRPC]);
    for (int s = 0; s < SIDE_COUNT; s++)
        if (t[s].errors > 0)
            printf("         %s error: %s\n", side_names[s], t[s].first_err);
    fflush(stdout);
}

static void
print_get_row(const struct tally t[SIDE_COUNT])
{
    double a = rate(&t[SIDE_API]), r = rate(&t[SIDE_RAW]);

    printf("get      %4d %10.0f %10.0f %7.3f  %-9s %10.0f %10.0f %10.0f %5zu/%zu\n", 1, a, r,
           r > 0 ? a / r : 0, "(info)", per_op_us(t[SIDE_API].k3c_cpu, &t[SIDE_API]),
           per_op_us(t[SIDE_API].etcd_cpu, &t[SIDE_API]),
           per_op_us(t[SIDE_RAW].etcd_cpu, &t[SIDE_RAW]), t[SIDE_API].errors, t[SIDE_RAW].errors);
    for (int s = 0; s < 2; s++)
        if (t[s].errors > 0)
            printf("         %s error: %s\n", side_names[s], t[s].first_err);
}

/* ConfigMap creates at concurrency 1 and 16, then GETs at 1. Returns the
 * create ratios API/raw in ratio[] and the GET p50/p99 (API, raw) in get_ms[]. */
static void
bench_configmaps(struct bench *b, size_t ops, double ratio[2], double get_ms[4])
{
    static const int concs[] = {1, BENCH_MAX_CONC};
    struct tally t[SIDE_COUNT];

    printf("%-8s %4s %10s %10s %7s  %-9s %10s %10s %10s %8s\n", "op", "conc", "api ops/s",
           "raw ops/s", "ratio", "goal", "k3c us/op", "etcd us/a", "etcd us/r", "errors");
    for (size_t c = 0; c < K3C_ARRAY_SIZE(concs); c++) {
        size_t n = concs[c] == 1 ? ops : 2 * ops;
        char tag[16];

        snprintf(tag, sizeof(tag), "c%d", concs[c]);
        run_phase(b, OP_CM_CREATE, tag, concs[c], n, false, t);
        print_create_row(concs[c], t, &ratio[c]);
        if (concs[c] == 1)
            b->cm_c1 = n;
    }
    run_phase(b, OP_CM_GET, "c1", 1, BENCH_GETS, true, t);
    print_get_row(t);
    for (int s = 0; s < 2; s++) {
        qsort(t[s].lat, t[s].ops, sizeof(double), cmp_double);
        get_ms[2 * s] = quantile(t[s].lat, t[s].ops, 0.50) * 1e3;
        get_ms[2 * s + 1] = quantile(t[s].lat, t[s].ops, 0.99) * 1e3;
    }
    tally_fini(t);
}

static int
create_namespaces(struct bench *b, struct k3c_err *err)
{
    _cleanup_free_ char *url = k3c_xasprintf("%s/api/v1/namespaces", b->srv.api_url);

    for (int i = 0; i < BENCH_POD_NS; i++) {
        char body[256];
        int n = snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                         "\"bench-%d\"}}",
                         i);

        if (conn_expect(&b->api[0], url, body, (size_t)n, 201, NULL, err) < 0)
            return -1;
    }
    return 0;
}

/* Creates the pods at concurrency 16 and prints the rate. */
static void
bench_pod_creates(struct bench *b, size_t pods)
{
    struct tally t = {0};
    struct k3c_err err = {0};
    char body[BENCH_BODY_MAX];

    if (create_namespaces(b, &err) < 0) {
        printf("pods: cannot create namespaces: %s\n", err.msg);
        return;
    }
    run_round(b, SIDE_API, OP_POD_CREATE, "", BENCH_MAX_CONC, 0, pods, &t);
    printf("pods: %zu created (%d-byte bodies) at c=%d in %.1f s: %.0f pods/s, k3c %.0f us/pod, "
           "etcd %.0f us/pod, errors %zu\n",
           pods, pod_body(0, body, sizeof(body)), BENCH_MAX_CONC, t.secs, rate(&t),
           per_op_us(t.k3c_cpu, &t), per_op_us(t.etcd_cpu, &t), t.errors);
    if (t.errors > 0)
        printf("      first error: %s\n", t.first_err);
    fflush(stdout);
}

/* Items in a list or rows in a table; the continue token into *cont. */
static size_t
count_items(const struct k3c_buf *body, char **cont)
{
    _cleanup_json_ json_t *doc = json_loadb(body->data, body->len, 0, NULL);
    json_t *items = json_object_get(doc, "items");
    const char *c =
        json_string_value(json_object_get(json_object_get(doc, "metadata"), "continue"));

    if (cont)
        *cont = c && *c ? k3c_xstrdup(c) : NULL;
    if (!items)
        items = json_object_get(doc, "rows");
    return json_array_size(items);
}

static void
series_add(struct series *s, const struct conn *c)
{
    if (s->n < K3C_ARRAY_SIZE(s->ms))
        s->ms[s->n++] = c->secs * 1e3;
    s->bytes = c->body.len;
}

/* Runs GETs of path; before each, a raw etcd put outside every watched
 * prefix when poke is set. Counts the items of the first answer. */
static int
list_series(struct bench *b, const char *path, const char *accept, int runs, bool poke,
            struct series *s, struct k3c_err *err)
{
    _cleanup_free_ char *url = k3c_xasprintf("%s%s", b->srv.api_url, path);
    struct conn *c = &b->api[0];
    int rc = 0;

    memset(s, 0, sizeof(*s));
    conn_set_accept(c, accept);
    for (int i = 0; i < runs && rc == 0; i++) {
        if (poke && raw_put(b, &b->raw[0], "/bench/poke", "x", err) < 0)
            rc = -1;
        else if (conn_expect(c, url, NULL, 0, 200, NULL, err) < 0)
            rc = -1;
        else
            series_add(s, c);
        if (rc == 0 && i == 0)
            s->items = count_items(&c->body, NULL);
    }
    conn_set_accept(c, "application/json");
    qsort(s->ms, s->n, sizeof(double), cmp_double);
    return rc;
}

/* Walks ?limit=500 pages to the end; the total time of the requests. */
static int
list_walk(struct bench *b, double *ms, size_t *items, size_t *pages, size_t *bytes,
          struct k3c_err *err)
{
    _cleanup_free_ char *cont = NULL;
    struct conn *c = &b->api[0];

    *ms = 0;
    *items = *pages = *bytes = 0;
    do {
        _cleanup_free_ char *url = NULL;
        char *esc = cont ? curl_easy_escape(c->curl, cont, 0) : NULL;

        url = k3c_xasprintf("%s/api/v1/pods?limit=%d%s%s", b->srv.api_url, BENCH_PAGE,
                            esc ? "&continue=" : "", esc ? esc : "");
        curl_free(esc);
        free(cont);
        cont = NULL;
        if (conn_expect(c, url, NULL, 0, 200, NULL, err) < 0)
            return -1;
        *ms += c->secs * 1e3;
        *bytes += c->body.len;
        *items += count_items(&c->body, &cont);
        (*pages)++;
    } while (cont);
    return 0;
}

static double
series_median(const struct series *s)
{
    if (s->n == 0)
        return 0;
    return s->n % 2 ? s->ms[s->n / 2] : (s->ms[s->n / 2 - 1] + s->ms[s->n / 2]) / 2;
}

static void
print_series(const char *what, const struct series *s, size_t pods, bool goal)
{
    double median = series_median(s);

    printf("%-44s %9.1f %8.1f %4zu %7.1f %6zu  %s\n", what, median, s->n ? s->ms[0] : 0, s->n,
           (double)s->bytes / (1024.0 * 1024.0), s->items,
           goal ? (median < BENCH_GOAL_LIST_MS ? "<100 ok" : "<100 MISS") : "(info)");
    if (s->items != pods)
        printf("   ^ expected %zu items\n", pods);
}

/* BENCH_WALKS paginated walks, printed as one row. */
static void
bench_walks(struct bench *b, size_t pods)
{
    struct series walk = {0};
    struct k3c_err err = {0};
    size_t items = 0, pages = 0;

    for (int i = 0; i < BENCH_WALKS; i++) {
        double ms;

        if (list_walk(b, &ms, &items, &pages, &walk.bytes, &err) < 0) {
            printf("paginated list failed: %s\n", err.msg);
            return;
        }
        walk.ms[walk.n++] = ms;
        walk.items = items;
    }
    qsort(walk.ms, walk.n, sizeof(double), cmp_double);
    print_series("GET /api/v1/pods?limit=500, every page", &walk, pods, false);
    printf("   (%zu pages; ms is the sum of the page requests)\n", pages);
}

/* The LIST figures; returns the median of the plain list in ms. */
static double
bench_lists(struct bench *b, size_t pods)
{
    struct series plain = {0}, rv0 = {0}, poked = {0}, table = {0};
    struct k3c_err err = {0};

    printf("\n%-44s %9s %8s %4s %7s %6s  %s\n", "list of all pods", "median ms", "min ms", "runs",
           "MiB", "items", "goal");
    if (list_series(b, "/api/v1/pods", "application/json", BENCH_LISTS, false, &plain, &err) < 0 ||
        list_series(b, "/api/v1/pods?resourceVersion=0", "application/json", BENCH_LISTS, false,
                    &rv0, &err) < 0 ||
        list_series(b, "/api/v1/pods", "application/json", BENCH_POKES, true, &poked, &err) < 0) {
        printf("list failed: %s\n", err.msg);
        return 0;
    }
    print_series("GET /api/v1/pods (consistent, watch cache)", &plain, pods, true);
    print_series("GET /api/v1/pods?resourceVersion=0", &rv0, pods, false);
    print_series("GET /api/v1/pods after an unrelated etcd put", &poked, pods, false);
    bench_walks(b, pods);
    if (list_series(b, "/api/v1/pods", BENCH_TABLE_ACCEPT, BENCH_TABLES, false, &table, &err) < 0)
        printf("table list failed: %s\n", err.msg);
    else
        print_series("GET /api/v1/pods as Table (kubectl get)", &table, pods, false);
    if (plain.items)
        printf("   pods as stored: %.0f bytes each on average (list bytes / items)\n",
               (double)plain.bytes / (double)plain.items);
    fflush(stdout);
    return series_median(&plain);
}

static size_t env_count(const char *name, size_t dflt);

/* ---- watch fan-out --------------------------------------------------------- */

/* One watch stream: what arrived when, by resourceVersion. */
struct watcher {
    struct conn c;
    struct k3c_buf line; /* the event line being received */
    long long *rv;
    double *at;
    size_t n, cap;
};

/* The resourceVersion of the first "resourceVersion" in text: an event's
 * object's metadata, or a created object's. */
static long long
first_rv(const char *text)
{
    const char *p = strstr(text, "\"resourceVersion\":\"");

    return p ? strtoll(p + 19, NULL, 10) : -1;
}

static size_t
watcher_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    static const char added[] = "{\"type\":\"ADDED\"";
    struct watcher *w = userdata;
    size_t len = size * nmemb;
    double t = now_s();

    /* Only a line's head is kept: the type and the object's metadata.resourceVersion. */
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t part = nl ? (size_t)(nl - (data + i)) : len - i;

        if (w->line.len < BENCH_LINE_HEAD)
            k3c_buf_append(&w->line, data + i,
                           part < BENCH_LINE_HEAD - w->line.len ? part
                                                                : BENCH_LINE_HEAD - w->line.len);
        i += part + (nl ? 1 : 0);
        if (!nl)
            break;
        if (w->line.data && strncmp(w->line.data, added, sizeof(added) - 1) == 0) {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 1024;
                w->rv = k3c_xrealloc(w->rv, w->cap * sizeof(*w->rv));
                w->at = k3c_xrealloc(w->at, w->cap * sizeof(*w->at));
            }
            w->rv[w->n] = first_rv(w->line.data);
            w->at[w->n++] = t;
        }
        k3c_buf_reset(&w->line);
    }
    return len;
}

/* The writes: pod creates at c=1, each with its resourceVersion and the
 * time its response arrived. */
struct fan_writes {
    long long *rv;
    double *at;
    size_t n;
};

static double
write_time(const struct fan_writes *fw, long long rv)
{
    for (size_t lo = 0, hi = fw->n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;

        if (fw->rv[mid] == rv)
            return fw->at[mid];
        if (fw->rv[mid] < rv)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static size_t
watchers_events(const struct watcher *ws, int n)
{
    size_t total = 0;

    for (int i = 0; i < n; i++)
        total += ws[i].n;
    return total;
}

/* Drives the streams until every watcher has want events or the deadline. */
static void
watchers_pump(CURLM *m, struct watcher *ws, int n, size_t want, double deadline)
{
    int running = 1;

    while (running && now_s() < deadline && watchers_events(ws, n) < want * (size_t)n) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
}

/* The writer: creates the pods while a thread pumps the streams. */
struct pump {
    CURLM *m;
    struct watcher *ws;
    int n;
    size_t want;
    double deadline;
};

static void *
pump_thread(void *arg)
{
    struct pump *p = arg;

    watchers_pump(p->m, p->ws, p->n, p->want, p->deadline);
    return NULL;
}

static int
fan_create(struct bench *b, size_t i, struct fan_writes *fw, struct k3c_err *err)
{
    char body[BENCH_BODY_MAX], url[256];
    int n = snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"fan-%05zu\","
                     "\"labels\":{\"app\":\"fan\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                     "\"image\":\"registry.k8s.io/pause:3.10\"}]}}",
                     i);

    snprintf(url, sizeof(url), "%s/api/v1/namespaces/bench-0/pods", b->srv.api_url);
    if (conn_expect(&b->api[0], url, body, (size_t)n, 201, NULL, err) < 0)
        return -1;
    fw->at[fw->n] = now_s();
    fw->rv[fw->n++] = first_rv(b->api[0].body.data);
    return 0;
}

/* Sorts the writes by resourceVersion (they are, but be sure) keeping the pairs. */
static void
fan_writes_sort(struct fan_writes *fw)
{
    for (size_t i = 1; i < fw->n; i++)
        for (size_t j = i; j > 0 && fw->rv[j - 1] > fw->rv[j]; j--) {
            long long r = fw->rv[j];
            double t = fw->at[j];

            fw->rv[j] = fw->rv[j - 1];
            fw->at[j] = fw->at[j - 1];
            fw->rv[j - 1] = r;
            fw->at[j - 1] = t;
        }
}

static void
fan_report(const struct watcher *ws, int n, const struct fan_writes *fw, double secs, double all,
           double cpu, unsigned long long ctxsw)
{
    size_t total = watchers_events(ws, n), k = 0, early = 0, unknown = 0;
    double *lat = k3c_xcalloc(total + 1, sizeof(*lat));

    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < ws[i].n; j++) {
            double t = write_time(fw, ws[i].rv[j]);

            if (t < 0) {
                unknown++;
                continue;
            }
            if (ws[i].at[j] < t)
                early++; /* the event beat the response: 0 ms */
            lat[k++] = ws[i].at[j] > t ? (ws[i].at[j] - t) * 1e3 : 0;
        }
    qsort(lat, k, sizeof(*lat), cmp_double);
    printf("watch fan-out: %d watchers of /api/v1/pods, %zu pod creates at c=1 in %.1f s "
           "(%.0f/s), every event delivered %.1f s after the first create\n",
           n, fw->n, secs, secs > 0 ? (double)fw->n / secs : 0, all);
    printf("   events delivered %zu of %zu (%zu before the create's response, %zu unmatched)\n",
           total, fw->n * (size_t)n, early, unknown);
    printf("   delivery after the create's response: p50 %.2f ms, p99 %.2f ms, max %.2f ms  "
           "goal p99 < %.0f ms %s\n",
           quantile(lat, k, 0.50), quantile(lat, k, 0.99), k ? lat[k - 1] : 0, BENCH_GOAL_FAN_MS,
           verdict(k && quantile(lat, k, 0.99) < BENCH_GOAL_FAN_MS));
    printf("   k3c CPU %.2f s: %.0f us per write, %.1f us per event delivered\n", cpu,
           fw->n ? cpu * 1e6 / (double)fw->n : 0, total ? cpu * 1e6 / (double)total : 0);
    printf("   k3c context switches %llu: %.0f per write (threads alive at both ends)\n", ctxsw,
           fw->n ? (double)ctxsw / (double)fw->n : 0);
    free(lat);
}

/* The server's apiserver_watches gauge (/metrics), or -1. A watch counts
 * there once it is subscribed; its response headers may wait for its first
 * event, so the client cannot tell. */
static long long
server_watches(struct bench *b)
{
    _cleanup_free_ char *url = k3c_xasprintf("%s/metrics", b->srv.api_url);
    struct k3c_err err = {0};
    static const char gauge[] = "\napiserver_watches ";
    const char *p;

    if (conn_expect(&b->api[0], url, NULL, 0, 200, NULL, &err) < 0)
        return -1;
    p = strstr(b->api[0].body.data, gauge);
    return p ? strtoll(p + sizeof(gauge) - 1, NULL, 10) : -1;
}

/* BENCH_WATCHERS watches of every pod from the current revision, then
 * BENCH_FAN_WRITES creates; latency from each create's response to each
 * watcher's receipt of its ADDED event, and k3c's CPU meanwhile. */
static void
bench_fanout(struct bench *b)
{
    int n = (int)env_count("K3C_BENCH_WATCHERS", BENCH_WATCHERS);
    size_t writes = env_count("K3C_BENCH_FAN_WRITES", BENCH_FAN_WRITES);
    struct watcher *ws = k3c_xcalloc((size_t)n, sizeof(*ws));
    struct fan_writes fw = {k3c_xcalloc(writes, sizeof(long long)),
                            k3c_xcalloc(writes, sizeof(double)), 0};
    _cleanup_free_ char *list_url =
        k3c_xasprintf("%s/api/v1/namespaces/bench-0/pods?limit=1", b->srv.api_url);
    _cleanup_free_ char *watch_url = NULL;
    struct k3c_err err = {0};
    CURLM *m = curl_multi_init();
    struct pump p = {m, ws, n, writes, 0};
    pthread_t thread;
    double t0, t1, cpu0, opened = now_s(), deadline = opened + BENCH_FAN_OPEN_S;
    long long open = 0, before = server_watches(b);
    long threads0 = proc_threads(b->srv.pid, NULL);
    unsigned long long sw0 = 0, sw1 = 0;

    printf("\n");
    if (conn_expect(&b->api[0], list_url, NULL, 0, 200, NULL, &err) < 0) {
        printf("watch fan-out: list failed: %s\n", err.msg);
        goto out;
    }
    watch_url = k3c_xasprintf("%s/api/v1/pods?watch=1&resourceVersion=%lld", b->srv.api_url,
                              first_rv(b->api[0].body.data));
    for (int i = 0; i < n; i++) {
        conn_init(&ws[i].c, b->srv.ca, b->srv.admin_cert, b->srv.admin_key);
        k3c_buf_init(&ws[i].line);
        curl_easy_setopt(ws[i].c.curl, CURLOPT_URL, watch_url);
        curl_easy_setopt(ws[i].c.curl, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(ws[i].c.curl, CURLOPT_WRITEFUNCTION, watcher_data);
        curl_easy_setopt(ws[i].c.curl, CURLOPT_WRITEDATA, &ws[i]);
        curl_multi_add_handle(m, ws[i].c.curl);
    }
    while (open < n && now_s() < deadline) {
        int running = 0;
        double until = now_s() + 0.2;

        while (now_s() < until) {
            curl_multi_perform(m, &running);
            curl_multi_poll(m, NULL, 0, 50, NULL);
        }
        open = server_watches(b) - before;
    }
    if (open < n) {
        printf("watch fan-out: only %lld of %d watches opened in %.0f s\n", open, n,
               BENCH_FAN_OPEN_S);
        goto out;
    }
    printf("watch fan-out: %d watches opened in %.1f s; k3c threads: %ld (%ld before)\n", n,
           now_s() - opened, proc_threads(b->srv.pid, NULL), threads0);
    t0 = now_s();
    cpu0 = proc_cpu_s(b->srv.pid);
    proc_threads(b->srv.pid, &sw0);
    p.deadline = t0 + BENCH_FAN_WAIT_S;
    pthread_create(&thread, NULL, pump_thread, &p);
    for (size_t i = 0; i < writes; i++)
        if (fan_create(b, i, &fw, &err) < 0) {
            printf("watch fan-out: create %zu failed: %s\n", i, err.msg);
            break;
        }
    t1 = now_s();
    pthread_join(thread, NULL);
    fan_writes_sort(&fw);
    proc_threads(b->srv.pid, &sw1);
    fan_report(ws, n, &fw, t1 - t0, now_s() - t0, proc_cpu_s(b->srv.pid) - cpu0,
               sw1 > sw0 ? sw1 - sw0 : 0);
out:
    for (int i = 0; i < n; i++) {
        if (ws[i].c.curl)
            curl_multi_remove_handle(m, ws[i].c.curl);
        conn_fini(&ws[i].c);
        k3c_buf_fini(&ws[i].line);
        free(ws[i].rv);
        free(ws[i].at);
    }
    curl_multi_cleanup(m);
    free(ws);
    free(fw.rv);
    free(fw.at);
    fflush(stdout);
}

static void
print_rss(const char *what, pid_t pid, bool goal, long *rss_out)
{
    long rss = proc_status_kib(pid, "VmRSS"), hwm = proc_status_kib(pid, "VmHWM");

    if (rss_out)
        *rss_out = rss;
    printf("%-34s %9.1f %9.1f  %s\n", what, (double)rss / 1000.0, (double)hwm / 1000.0,
           goal ? (rss >= 0 && rss < BENCH_GOAL_RSS_KIB ? "<40 ok" : "<40 MISS") : "(info)");
}

/* ---- setup ---------------------------------------------------------------------- */

static size_t
env_count(const char *name, size_t dflt)
{
    const char *s = getenv(name);
    char *end = NULL;
    long long n;

    if (!s || !*s)
        return dflt;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || *end || n <= 0 || n > 10000000) {
        fprintf(stderr, "bench_api: ignoring bad %s '%s'\n", name, s);
        return dflt;
    }
    return (size_t)n;
}

/* A store whose one endpoint is the server's unix socket: its writes are
 * the gRPC calls the server's store makes. */
static struct store *
raw_grpc_store(const char *socket)
{
    _cleanup_free_ char *url = k3c_xasprintf("unix:%s", socket);
    const char *endpoints[] = {url, NULL};
    const struct store_config sc = {.endpoints = endpoints};
    struct k3c_err err = {0};
    struct store *s = store_new(&sc, &err);

    if (!s)
        exit_err(1, &err);
    return s;
}

static void
bench_conns_init(struct bench *b)
{
    const struct server *s = &b->srv;

    _cleanup_free_ char *sock = k3c_xasprintf("%s/server/db/etcd-client.sock:0", s->data_dir);
    struct stat st;

    if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
        b->unix_socket = TAKE_PTR(sock);
    for (int i = 0; i < BENCH_MAX_CONC; i++) {
        conn_init(&b->api[i], s->ca, s->admin_cert, s->admin_key);
        conn_init(&b->raw[i], s->ca, s->etcd_cert, s->etcd_key);
        /* HTTP/1.1 as the store speaks it (h2's framing costs etcd more) */
        curl_easy_setopt(b->raw[i].curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        conn_init(&b->raw_unix[i], s->ca, s->etcd_cert, s->etcd_key);
        if (b->unix_socket) {
            curl_easy_setopt(b->raw_unix[i].curl, CURLOPT_UNIX_SOCKET_PATH, b->unix_socket);
            b->raw_grpc[i] = raw_grpc_store(b->unix_socket);
        }
    }
    b->txn_url = k3c_xasprintf("%s/v3/kv/txn", s->etcd_url);
    b->put_url = k3c_xasprintf("%s/v3/kv/put", s->etcd_url);
    b->range_url = k3c_xasprintf("%s/v3/kv/range", s->etcd_url);
    for (size_t i = 0; i < BENCH_VALUE_SIZE; i++)
        b->cm_value[i] = (char)('a' + i % 26);
}

static void
bench_fini(struct bench *b)
{
    for (int i = 0; i < BENCH_MAX_CONC; i++) {
        conn_fini(&b->api[i]);
        conn_fini(&b->raw[i]);
        conn_fini(&b->raw_unix[i]);
        store_free(b->raw_grpc[i]);
    }
    free(b->unix_socket);
    free(b->txn_url);
    free(b->put_url);
    free(b->range_url);
    free(b->raw_value);
    server_stop(&b->srv);
}

static const char *
k3c_binary(int argc, char **argv)
{
    const char *env = getenv("K3C_BIN");

    if (argc > 1 && *argv[1])
        return argv[1];
    return env && *env ? env : "build/k3c";
}

/* Prints the goal line; returns how many of the four goals were met. */
static int
print_goals(const double ratio[2], double list_ms, long rss_kib)
{
    bool ok[4] = {ratio[0] >= BENCH_GOAL_RATIO, ratio[1] >= BENCH_GOAL_RATIO,
                  list_ms > 0 && list_ms < BENCH_GOAL_LIST_MS,
                  rss_kib >= 0 && rss_kib < BENCH_GOAL_RSS_KIB};

    printf("\ngoals: create ratio c=1 %.3f %s, c=16 %.3f %s; list %.1f ms %s; k3c RSS %.1f MB %s\n",
           ratio[0], verdict(ok[0]), ratio[1], verdict(ok[1]), list_ms, verdict(ok[2]),
           (double)rss_kib / 1000.0, verdict(ok[3]));
    return ok[0] + ok[1] + ok[2] + ok[3];
}

/* Everything after the server is up; returns the number of goals met. */
static int
run_all(struct bench *b, size_t ops, size_t pods)
{
    double ratio[2] = {0}, get_ms[4] = {0}, list_ms;
    long rss = -1;
    struct k3c_err err = {0};

    /* K3C_BENCH_FANOUT_ONLY=1: the watch fan-out alone, on an empty cluster. */
    if (getenv("K3C_BENCH_FANOUT_ONLY")) {
        if (create_namespaces(b, &err) < 0)
            printf("fan-out: cannot create namespaces: %s\n", err.msg);
        else
            bench_fanout(b);
        return 0;
    }

    raw_watch_start(b);
    bench_configmaps(b, ops, ratio, get_ms);
    raw_watch_stop(b);
    printf("\nget latency (c=1, %d GETs each)      p50 ms    p99 ms\n", BENCH_GETS);
    printf("%-34s %9.2f %9.2f\n", "api  GET configmaps/<name>", get_ms[0], get_ms[1]);
    printf("%-34s %9.2f %9.2f\n", "raw  etcd range of the same bytes", get_ms[2], get_ms[3]);
    printf("\n%-34s %9s %9s  %s\n", "rss", "now MB", "peak MB", "goal");
    print_rss("k3c before the pod creates", b->srv.pid, false, NULL);
    bench_pod_creates(b, pods);
    print_rss("k3c right after the pod creates", b->srv.pid, false, NULL);
    /* The figure the goal is about: the server settled (its cache has the
     * pods, the burst's transient memory is handed back; issue #20). */
    sleep(2);
    print_rss("k3c 2 s after the pod creates", b->srv.pid, true, &rss);
    /* K3C_BENCH_PAUSE_S=N: time to look at the server (gdb, smaps). */
    if (env_count("K3C_BENCH_PAUSE_S", 0) > 0) {
        printf("pausing %zu s: k3c server pid %d\n", env_count("K3C_BENCH_PAUSE_S", 0),
               (int)b->srv.pid);
        fflush(stdout);
        sleep((unsigned)env_count("K3C_BENCH_PAUSE_S", 0));
    }
    print_rss("etcd after the pod creates", b->srv.etcd_pid, false, NULL);
    list_ms = bench_lists(b, pods);
    printf("\n%-34s %9s %9s  %s\n", "rss", "now MB", "peak MB", "goal");
    print_rss("k3c after the lists", b->srv.pid, false, NULL);
    print_rss("etcd after the lists", b->srv.etcd_pid, false, NULL);
    bench_fanout(b);
    return print_goals(ratio, list_ms, rss);
}

static void
print_header(const struct bench *b, const char *bin, size_t ops)
{
    printf("bench/api: %s server (pid %d), API %s, etcd %s (pid %d, TLS)\n", bin, (int)b->srv.pid,
           b->srv.api_url, b->srv.etcd_url, (int)b->srv.etcd_pid);
    printf("ConfigMaps with a %d-byte data value, stored as %zu bytes of JSON; %zu creates per "
           "side at c=1, %zu at c=%d, %d rounds alternated\n",
           BENCH_VALUE_SIZE, b->raw_value_len, ops, 2 * ops, BENCH_MAX_CONC, BENCH_ROUNDS);
    printf(
        "api = POST /api/v1/namespaces/default/configmaps (HTTPS, client cert, keep-alive);\n"
        "raw = etcd /v3/kv/txn create-if-absent (store_create's request) of the same stored "
        "bytes under " BENCH_RAW_PREFIX ",\n"
        "      on the TLS etcd k3c supervises, with its etcd client certificate, HTTP/1.1 as the\n"
        "      store speaks it (etcd's JSON gateway behind TLS forwards each request to its own\n"
        "      gRPC port over TLS again);\n"
        "raw on keys a watch follows = the same txn under " BENCH_WATCHED_PREFIX ", which\n"
        "      a watch through the gateway follows, as k3c's store watch (any API server's watch\n"
        "      cache) follows the API's keys: etcd then sends an event per create on both sides;\n"
        "raw over the unix socket = the same txn through the gateway on the socket k3c's own\n"
        "      store uses (plain HTTP, no TLS on either side; only when this server has one);\n"
        "raw gRPC on the socket = store_create itself on that socket: etcd's KV/Txn over gRPC,\n"
        "      as k3c's store now writes (docs/store.md);\n"
        "us/op = CPU time per operation of k3c, and of etcd on the api (a) and raw (r) side\n\n");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    struct k3c_err err = {0};
    const char *bin = k3c_binary(argc, argv);
    size_t ops = env_count("K3C_BENCH_OPS", BENCH_DEFAULT_OPS);
    size_t pods = env_count("K3C_BENCH_PODS", BENCH_DEFAULT_PODS);
    double t0 = now_s();
    int met = 0, rc = 0;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (server_start(&b.srv, bin, &err) < 0) {
        fprintf(stderr, "bench_api: cannot start %s server: %s\n", bin, err.msg);
        bench_fini(&b);
        curl_global_cleanup();
        return 1;
    }
    bench_conns_init(&b);
    if (warm_up(&b, &err) < 0) {
        fprintf(stderr, "bench_api: the API server does not serve: %s\n", err.msg);
        server_dump_log(&b.srv);
        rc = 1;
    } else {
        print_header(&b, bin, ops);
        met = run_all(&b, ops, pods);
    }
    bench_fini(&b);
    if (rc == 0)
        printf("bench_api: %d of 4 goals met, total %.1f s\n", met, now_s() - t0);
    curl_global_cleanup();
    return rc;
}
