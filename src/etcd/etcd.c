/* SPDX-License-Identifier: Apache-2.0
 * etcd.c - supervises one etcd member. The supervisor thread owns the child:
 * it forks, waits and restarts; etcd_stop asks it to finish through
 * `stopping` and a signal to the child. `lock` protects pid/stopping so a
 * stop never races a respawn. */
#define LOG_COMPONENT "etcd"
#include "etcd/etcd.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "pki/pki.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <limits.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define ETCD_BACKOFF_MIN_MS 1000
#define ETCD_BACKOFF_MAX_MS 30000
#define ETCD_HEALTHY_RUN_MS 60000 /* a run this long resets the backoff */
#define ETCD_STOP_GRACE_MS  15000
#define ETCD_MAX_ARGS       64
/* The server's own socket to its member, in the directory that holds the
 * data dir (etcd's working directory). etcd 3.4 wants "host:port" even in a
 * unix:// URL and makes the socket at that name relative to its working
 * directory, so the file is named "etcd-client.sock:0". */
#define ETCD_SOCKET_NAME "etcd-client.sock:0"

struct etcd {
    char *binary; /* full path */
    char *data_dir, *log_file, *node_ip, *member_name;
    char *client_url;       /* loopback client URL */
    char *run_dir;          /* etcd's working directory: the data dir's parent */
    char *socket_path;      /* run_dir/ETCD_SOCKET_NAME; NULL when too long for sun_path */
    char *local_url;        /* "unix:<socket_path>", else client_url */
    char *peer_url;         /* https://<node_ip>:<peer_port> */
    char *initial_cluster;  /* joining: every member, "name=url,..."; NULL: new */
    struct etcd_config cfg; /* strings point into the copies above / caller's tls */
    char *argv[ETCD_MAX_ARGS];
    struct http_client *health;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* protects pid, stopping; wake signals both */
    pthread_cond_t wake;
    pid_t pid;
    bool stopping;
    bool exited; /* the last child has been reaped */
    atomic_uint starts;
};

void
etcd_tls_paths_init(struct etcd_tls_paths *p, const char *tls_dir)
{
    p->ca_cert = k3c_xasprintf("%s/server-ca.crt", tls_dir);
    p->ca_key = k3c_xasprintf("%s/server-ca.key", tls_dir);
    p->server_cert = k3c_xasprintf("%s/etcd/server-client.crt", tls_dir);
    p->server_key = k3c_xasprintf("%s/etcd/server-client.key", tls_dir);
    p->peer_cert = k3c_xasprintf("%s/etcd/peer-server-client.crt", tls_dir);
    p->peer_key = k3c_xasprintf("%s/etcd/peer-server-client.key", tls_dir);
    p->client_cert = k3c_xasprintf("%s/etcd/client.crt", tls_dir);
    p->client_key = k3c_xasprintf("%s/etcd/client.key", tls_dir);
}

void
etcd_tls_paths_fini(struct etcd_tls_paths *p)
{
    char **fields[] = {&p->ca_cert,   &p->ca_key,   &p->server_cert, &p->server_key,
                       &p->peer_cert, &p->peer_key, &p->client_cert, &p->client_key};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

int
etcd_certs_ensure(const struct etcd_tls_paths *p, const char *node_name, const char *node_ip,
                  struct k3c_err *err)
{
    const char *ips[] = {"127.0.0.1", node_ip, NULL};
    const char *dns[] = {"localhost", node_name, NULL};
    const struct pki_leaf_spec server = {.common_name = "etcd-server",
                                         .usage = PKI_USAGE_SERVER | PKI_USAGE_CLIENT,
                                         .dns_sans = dns,
                                         .ip_sans = ips};
    const struct pki_leaf_spec peer = {.common_name = "etcd-peer",
                                       .usage = PKI_USAGE_SERVER | PKI_USAGE_CLIENT,
                                       .dns_sans = dns,
                                       .ip_sans = ips};
    const struct pki_leaf_spec client = {
        .common_name = "etcd-client", .organization = "k3c", .usage = PKI_USAGE_CLIENT};

    if (strcmp(node_ip, "127.0.0.1") == 0)
        ips[1] = NULL;
    if (pki_ensure_ca(p->ca_cert, p->ca_key, "k3c-server-ca", err) < 0)
        return -1;
    if (pki_ensure_leaf(p->ca_cert, p->ca_key, p->server_cert, p->server_key, &server, err) < 0 ||
        pki_ensure_leaf(p->ca_cert, p->ca_key, p->peer_cert, p->peer_key, &peer, err) < 0 ||
        pki_ensure_leaf(p->ca_cert, p->ca_key, p->client_cert, p->client_key, &client, err) < 0)
        return k3c_err_wrap(err, "etcd certificates");
    return 0;
}

/* etcd member names are free-form, but we keep them DNS-safe and stable. */
char *
etcd_member_name_for(const char *node_name)
{
    char *name = k3c_xstrdup(node_name);

    for (char *c = name; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
            *c = '-';
    }
    return name;
}

/* path made absolute against the current directory (etcd runs in run_dir). */
static char *
absolute_path(const char *path)
{
    char cwd[PATH_MAX];

    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return k3c_xstrdup(path);
    return k3c_xasprintf("%s/%s", cwd, path);
}

/* The data dir's parent and the socket in it; no socket when its path does
 * not fit a sockaddr_un (the server then uses TLS on loopback). */
static void
local_socket_init(struct etcd *e)
{
    const char *slash = strrchr(e->data_dir, '/');
    struct sockaddr_un sa;

    e->run_dir = slash == e->data_dir ? k3c_xstrdup("/")
                                      : k3c_xstrndup(e->data_dir, (size_t)(slash - e->data_dir));
    e->socket_path = k3c_xasprintf("%s/%s", e->run_dir, ETCD_SOCKET_NAME);
    if (strlen(e->socket_path) >= sizeof(sa.sun_path)) {
        free(e->socket_path);
        e->socket_path = NULL;
    }
    e->local_url = e->socket_path ? k3c_xasprintf(HTTP_UNIX_PREFIX "%s", e->socket_path)
                                  : k3c_xstrdup(e->client_url);
}

static void
build_argv(struct etcd *e)
{
    const struct etcd_config *c = &e->cfg;
    const struct etcd_tls_paths *t = c->tls;
    bool loopback_only = strcmp(e->node_ip, "127.0.0.1") == 0;
    /* etcd runs in run_dir: every path it is given is absolute */
    _cleanup_free_ char *ca = absolute_path(t->ca_cert);
    _cleanup_free_ char *cert = absolute_path(t->server_cert);
    _cleanup_free_ char *key = absolute_path(t->server_key);
    _cleanup_free_ char *peer_cert = absolute_path(t->peer_cert);
    _cleanup_free_ char *peer_key = absolute_path(t->peer_key);
    _cleanup_free_ char *local =
        e->socket_path ? k3c_xstrdup(",unix://" ETCD_SOCKET_NAME) : k3c_xstrdup("");
    size_t n = 0;

#define ARG(...) (e->argv[n++] = k3c_xasprintf(__VA_ARGS__))
    ARG("%s", e->binary);
    ARG("--name=%s", e->member_name);
    ARG("--data-dir=%s", e->data_dir);
    /* The unix socket is plain HTTP: no TLS on either side for the server's
     * own requests. Only the owner may connect to it (umask 077 below), and
     * it is not advertised, so no other member or client learns of it. */
    if (loopback_only)
        ARG("--listen-client-urls=https://127.0.0.1:%d%s", c->client_port, local);
    else
        ARG("--listen-client-urls=https://127.0.0.1:%d,https://%s:%d%s", c->client_port, e->node_ip,
            c->client_port, local);
    ARG("--advertise-client-urls=https://%s:%d", e->node_ip, c->client_port);
    ARG("--listen-peer-urls=https://%s:%d", e->node_ip, c->peer_port);
    ARG("--initial-advertise-peer-urls=https://%s:%d", e->node_ip, c->peer_port);
    if (e->initial_cluster) {
        ARG("--initial-cluster=%s", e->initial_cluster);
        ARG("--initial-cluster-state=existing");
    } else {
        ARG("--initial-cluster=%s=%s", e->member_name, e->peer_url);
        ARG("--initial-cluster-state=new");
    }
    ARG("--initial-cluster-token=k3c");
    ARG("--client-cert-auth");
    ARG("--trusted-ca-file=%s", ca);
    ARG("--cert-file=%s", cert);
    ARG("--key-file=%s", key);
    ARG("--peer-client-cert-auth");
    ARG("--peer-trusted-ca-file=%s", ca);
    ARG("--peer-cert-file=%s", peer_cert);
    ARG("--peer-key-file=%s", peer_key);
    ARG("--heartbeat-interval=%d", c->heartbeat_interval_ms);
    ARG("--election-timeout=%d", c->election_timeout_ms);
    /* A member back from a partition asks before it campaigns, so it cannot
     * depose a healthy leader (and with it the VIP holder's lease) by a term
     * bump alone. etcd 3.5 has this on by default; Debian 12 ships 3.4. */
    ARG("--pre-vote=true");
    ARG("--quota-backend-bytes=%lld", c->quota_backend_bytes);
    ARG("--auto-compaction-mode=%s", c->auto_compaction_mode);
    ARG("--auto-compaction-retention=%s", c->auto_compaction_retention);
    if (c->force_new_cluster)
        ARG("--force-new-cluster");
    ARG("--logger=zap");
    ARG("--log-outputs=stderr");
#undef ARG
    e->argv[n] = NULL;
}

static int
config_check(const struct etcd_config *cfg, struct k3c_err *err)
{
    if (!cfg->data_dir || !cfg->tls || !cfg->node_name || !cfg->node_ip || !cfg->log_file)
        return k3c_err_set(err, K3C_E_INVALID, "etcd: incomplete configuration");
    if (cfg->client_port <= 0 || cfg->peer_port <= 0 || cfg->client_port == cfg->peer_port)
        return k3c_err_set(err, K3C_E_INVALID, "etcd: client and peer ports must differ");
    if (cfg->heartbeat_interval_ms <= 0 ||
        cfg->election_timeout_ms < 5 * cfg->heartbeat_interval_ms)
        return k3c_err_set(err, K3C_E_INVALID,
                           "etcd: election timeout (%d ms) must be at least 5 heartbeats (%d ms)",
                           cfg->election_timeout_ms, cfg->heartbeat_interval_ms);
    return 0;
}

struct etcd *
etcd_new(const struct etcd_config *cfg, struct k3c_err *err)
{
    const char *endpoints[2] = {NULL, NULL};
    const char *bin = cfg->binary ? cfg->binary : "etcd";
    _cleanup_free_ char *path = NULL;
    struct http_client_config hc = {0};
    struct etcd *e;

    if (config_check(cfg, err) < 0)
        return NULL;
    path = k3c_find_in_path(bin);
    if (!path) {
        k3c_err_set(err, K3C_E_NOT_FOUND,
                    "etcd binary \"%s\" not found in PATH; install the Debian package "
                    "etcd-server (apt-get install etcd-server)",
                    bin);
        return NULL;
    }
    e = k3c_xcalloc(1, sizeof(*e));
    e->binary = TAKE_PTR(path);
    e->data_dir = absolute_path(cfg->data_dir);
    e->log_file = k3c_xstrdup(cfg->log_file);
    e->node_ip = k3c_xstrdup(cfg->node_ip);
    e->member_name = etcd_member_name_for(cfg->node_name);
    e->peer_url = k3c_xasprintf("https://%s:%d", cfg->node_ip, cfg->peer_port);
    e->initial_cluster = cfg->initial_cluster ? k3c_xstrdup(cfg->initial_cluster) : NULL;
    e->client_url = k3c_xasprintf("https://127.0.0.1:%d", cfg->client_port);
    local_socket_init(e);
    e->cfg = *cfg;
    e->cfg.data_dir = e->data_dir;
    e->cfg.auto_compaction_mode =
        cfg->auto_compaction_mode ? cfg->auto_compaction_mode : "revision";
    e->cfg.auto_compaction_retention =
        cfg->auto_compaction_retention ? cfg->auto_compaction_retention : "10000";
    e->cfg.quota_backend_bytes =
        cfg->quota_backend_bytes > 0 ? cfg->quota_backend_bytes : 2LL << 30;
    build_argv(e);
    endpoints[0] = e->client_url;
    hc.endpoints = endpoints;
    hc.ca_file = cfg->tls->ca_cert;
    hc.cert_file = cfg->tls->client_cert;
    hc.key_file = cfg->tls->client_key;
    hc.connect_timeout_ms = 1000;
    hc.request_timeout_ms = 2000;
    pthread_mutex_init(&e->lock, NULL);
    k3c_cond_init(&e->wake);
    atomic_init(&e->starts, 0);
    e->health = http_client_new(&hc, err);
    if (!e->health) {
        etcd_free(e);
        return NULL;
    }
    return e;
}

void
etcd_free(struct etcd *e)
{
    if (!e)
        return;
    etcd_stop(e);
    for (size_t i = 0; e->argv[i]; i++)
        free(e->argv[i]);
    http_client_free(e->health);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    free(e->binary);
    free(e->data_dir);
    free(e->log_file);
    free(e->node_ip);
    free(e->member_name);
    free(e->client_url);
    free(e->run_dir);
    free(e->socket_path);
    free(e->local_url);
    free(e->peer_url);
    free(e->initial_cluster);
    free(e);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
child_exec(struct etcd *e, int log_fd, pid_t parent)
{
    /* Die with k3c even if it is SIGKILLed: no orphaned etcd. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    /* Own process group: a Ctrl-C on k3c's terminal reaches k3c only, and k3c
     * stops etcd in order. */
    setpgid(0, 0);
    /* The local socket is made in the working directory with the umask's
     * mode: owner only (connecting needs write permission on it). */
    umask(077);
    if (chdir(e->run_dir) < 0)
        _exit(126);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close_range(3, ~0U, 0);
    execv(e->binary, e->argv);
    _exit(127);
}

/* A socket file left by an etcd that was killed makes the next one fail to
 * listen ("address already in use"). Removed unless something still
 * answers on it (another etcd using this data dir). */
static void
remove_stale_socket(const struct etcd *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    _cleanup_close_ int fd = -1;

    if (!e->socket_path || lstat(e->socket_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return;
    memcpy(sa.sun_path, e->socket_path, strlen(e->socket_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        log_warn("(member %s) something answers on %s; another etcd on this data dir?",
                 e->member_name, e->socket_path);
        return;
    }
    if (unlink(e->socket_path) == 0)
        log_info("(member %s) removed the stale socket %s", e->member_name, e->socket_path);
}

/* Forks etcd unless we are stopping. Returns its pid, 0 when stopping, -1 on error. */
static pid_t
spawn_locked(struct etcd *e)
{
    _cleanup_close_ int log_fd = -1;
    pid_t parent = getpid(), pid;

    if (e->stopping)
        return 0;
    remove_stale_socket(e);
    log_fd = open(e->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        log_error("(member %s) cannot open log %s: %s", e->member_name, e->log_file,
                  strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid == 0)
        child_exec(e, log_fd, parent);
    if (pid < 0) {
        log_error("(member %s) fork: %s", e->member_name, strerror(errno));
        return -1;
    }
    e->pid = pid;
    e->exited = false;
    atomic_fetch_add(&e->starts, 1);
    return pid;
}

static void
describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status 0x%x", status);
}

/* Waits up to ms unless a stop is asked for. Call with lock held. */
static void
backoff_wait_locked(struct etcd *e, int64_t ms)
{
    int64_t deadline = k3c_now_ms() + ms;

    while (!e->stopping && k3c_cond_wait_until(&e->wake, &e->lock, deadline))
        ;
}

static void *
supervisor_thread(void *arg)
{
    struct etcd *e = arg;
    int64_t backoff = ETCD_BACKOFF_MIN_MS;

    pthread_mutex_lock(&e->lock);
    for (;;) {
        int64_t started = k3c_now_ms();
        pid_t pid = spawn_locked(e);
        int status = 0;
        char why[64];

        if (pid == 0)
            break;
        pthread_mutex_unlock(&e->lock);
        if (pid > 0) {
            log_info("(member %s) started, pid %d", e->member_name, (int)pid);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            describe_status(status, why, sizeof(why));
        } else {
            snprintf(why, sizeof(why), "could not start");
        }
        pthread_mutex_lock(&e->lock);
        e->pid = 0;
        e->exited = true;
        pthread_cond_broadcast(&e->wake);
        if (e->stopping) {
            log_info("(member %s) stopped (%s)", e->member_name, why);
            break;
        }
        if (k3c_now_ms() - started > ETCD_HEALTHY_RUN_MS)
            backoff = ETCD_BACKOFF_MIN_MS;
        log_warn("(member %s) exited unexpectedly (%s); restarting in %lld ms, see %s",
                 e->member_name, why, (long long)backoff, e->log_file);
        backoff_wait_locked(e, backoff);
        backoff = backoff * 2 > ETCD_BACKOFF_MAX_MS ? ETCD_BACKOFF_MAX_MS : backoff * 2;
    }
    e->exited = true;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* True when a unix socket can be made in run_dir (not on every file system:
 * a shared folder of a VM, some network file systems). */
static bool
run_dir_takes_sockets(const struct etcd *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.k3c-probe-%d.sock", e->run_dir,
                     (int)getpid());
    bool ok;

    if (fd < 0 || n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return false;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (ok)
        unlink(sa.sun_path);
    return ok;
}

/* Without a socket the server reaches its member over TLS on loopback. */
static void
drop_local_socket(struct etcd *e)
{
    log_warn("(member %s) no unix socket can be made in %s: %s; the server uses %s", e->member_name,
             e->run_dir, strerror(errno), e->client_url);
    free(e->socket_path);
    e->socket_path = NULL;
    free(e->local_url);
    e->local_url = k3c_xstrdup(e->client_url);
    for (size_t i = 0; e->argv[i]; i++) {
        free(e->argv[i]);
        e->argv[i] = NULL;
    }
    build_argv(e);
}

int
etcd_start(struct etcd *e, struct k3c_err *err)
{
    int rc;

    if (k3c_mkdir_p(e->data_dir, 0700, err) < 0)
        return k3c_err_wrap(err, "etcd data dir");
    if (e->thread_started)
        return k3c_err_set(err, K3C_E_INTERNAL, "etcd already started");
    if (e->socket_path && !run_dir_takes_sockets(e))
        drop_local_socket(e);
    rc = pthread_create(&e->thread, NULL, supervisor_thread, e);
    if (rc != 0)
        return k3c_err_sys(err, rc, "etcd supervisor thread");
    e->thread_started = true;
    return 0;
}

/* etcd 3.4 answers /health false while any alarm is raised. A NOSPACE
 * alarm alone must not keep k3c from starting: the API is how space is
 * reclaimed (deletes work; the maintenance thread compacts, defragments
 * and disarms, etcd_maint.c). True when NOSPACE is the only alarm. */
static bool
only_nospace_alarm(struct etcd *e)
{
    static const char req[] = "{\"action\":\"GET\"}";
    struct http_response resp;
    struct k3c_err err = {0};
    _cleanup_json_ json_t *body = NULL;
    const json_t *alarms, *a;
    size_t i;
    bool only = false;

    http_response_init(&resp);
    if (http_client_request(e->health, "POST", "/v3/maintenance/alarm", "application/json", req,
                            sizeof(req) - 1, &resp, &err) == 0 &&
        resp.status == 200)
        body = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    http_response_fini(&resp);
    alarms = json_object_get(body, "alarms");
    json_array_foreach(alarms, i, a)
    {
        const char *kind = json_string_value(json_object_get(a, "alarm"));

        only = kind && strcmp(kind, "NOSPACE") == 0;
        if (!only)
            break;
    }
    return only;
}

static bool
health_ok(struct etcd *e)
{
    struct http_response resp;
    struct k3c_err err = {0};
    bool ok = false, alarmed = false;

    http_response_init(&resp);
    if (http_client_request(e->health, "GET", "/health", NULL, NULL, 0, &resp, &err) == 0) {
        ok = resp.status == 200 && resp.body.data && strstr(resp.body.data, "\"true\"");
        /* 503 {"health":"false"} */
        alarmed = !ok && resp.body.data && strstr(resp.body.data, "\"false\"");
    }
    http_response_fini(&resp);
    if (alarmed && only_nospace_alarm(e)) {
        log_warn("(member %s) up with a NOSPACE alarm: writes are refused until space is "
                 "reclaimed",
                 e->member_name);
        ok = true;
    }
    return ok;
}

int
etcd_wait_healthy(struct etcd *e, int timeout_ms, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    while (k3c_now_ms() < deadline) {
        if (health_ok(e))
            return 0;
        k3c_sleep_ms(100);
    }
    return k3c_err_set(err, K3C_E_TIMEOUT, "etcd at %s not healthy after %d ms; its log is %s",
                       e->client_url, timeout_ms, e->log_file);
}

void
etcd_stop(struct etcd *e)
{
    int64_t deadline;

    if (!e->thread_started)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->wake);
    if (e->pid > 0)
        kill(e->pid, SIGTERM);
    deadline = k3c_now_ms() + ETCD_STOP_GRACE_MS;
    while (!e->exited && k3c_cond_wait_until(&e->wake, &e->lock, deadline))
        ;
    if (!e->exited && e->pid > 0) {
        log_warn("(member %s) did not stop in %d ms; killing it", e->member_name,
                 ETCD_STOP_GRACE_MS);
        kill(e->pid, SIGKILL);
    }
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    e->thread_started = false;
}

pid_t
etcd_pid(struct etcd *e)
{
    pid_t pid;

    pthread_mutex_lock(&e->lock);
    pid = e->pid;
    pthread_mutex_unlock(&e->lock);
    return pid;
}

unsigned
etcd_start_count(struct etcd *e)
{
    return atomic_load(&e->starts);
}

const char *
etcd_client_url(const struct etcd *e)
{
    return e->client_url;
}

const char *
etcd_local_url(const struct etcd *e)
{
    return e->local_url;
}

const char *
etcd_member_name(const struct etcd *e)
{
    return e->member_name;
}

const char *
etcd_peer_url(const struct etcd *e)
{
    return e->peer_url;
}

bool
etcd_data_exists(const char *data_dir)
{
    _cleanup_free_ char *wal = k3c_xasprintf("%s/member/wal", data_dir);

    return k3c_file_exists(wal);
}
