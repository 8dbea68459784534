/* SPDX-License-Identifier: Apache-2.0
 * podspec_probe.c - one attempt of a liveness/readiness/startup probe (exec
 * through the runtime, httpGet with libcurl, tcpSocket with a bounded
 * connect) and the per-probe state machine of pkg/kubelet/prober/worker.go
 * as a plain value: the caller schedules, this file decides. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podspec/podspec-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#define PROBE_USER_AGENT "kube-probe/1.32"
#define PROBE_OUTPUT_MAX 1024

const char *
podspec_probe_result_name(enum podspec_probe_result r)
{
    switch (r) {
    case PODSPEC_PROBE_SUCCESS:
        return "success";
    case PODSPEC_PROBE_FAILURE:
        return "failure";
    default:
        return "unknown";
    }
}

static int64_t
probe_int(const json_t *probe, const char *key, int64_t def)
{
    const json_t *v = json_object_get(probe, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static int64_t
probe_timeout_ms(const json_t *probe)
{
    int64_t t = probe_int(probe, "timeoutSeconds", 1);
    return (t < 1 ? 1 : t) * 1000;
}

static enum podspec_probe_result probe_msg(char *msg, size_t len, enum podspec_probe_result r,
                                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum podspec_probe_result
probe_msg(char *msg, size_t len, enum podspec_probe_result r, const char *fmt, ...)
{
    va_list ap;

    if (msg && len > 0) {
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Port of an httpGet/tcpSocket action: a number, or a named containerPort.
 * 0 when not resolvable. */
static int
probe_port(const json_t *action, const json_t *container)
{
    const json_t *port = json_object_get(action, "port");
    const char *name = json_string_value(port);
    size_t i;
    json_t *p;

    if (json_is_integer(port))
        return (int)json_integer_value(port);
    if (!name)
        return 0;
    if (name[0] >= '0' && name[0] <= '9')
        return atoi(name);
    json_array_foreach(json_object_get(container, "ports"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && strcmp(n, name) == 0)
            return (int)json_integer_value(json_object_get(p, "containerPort"));
    }
    return 0;
}

/* ---- exec ------------------------------------------------------------------ */

static enum podspec_probe_result
probe_exec(const json_t *action, const struct podspec_probe_target *t, int64_t timeout_ms,
           char *msg, size_t len)
{
    const json_t *cmd = json_object_get(action, "command");
    size_t n = json_array_size(cmd), i;
    _cleanup_free_ const char **argv = NULL;
    _cleanup_free_ char *out = NULL;
    struct k3c_err err = {0};
    int code = -1;
    json_t *s;

    if (n == 0 || !t->rt || !t->container_id)
        return probe_msg(msg, len, PODSPEC_PROBE_UNKNOWN, "exec probe without a command");
    argv = k3c_xcalloc(n + 1, sizeof(char *));
    json_array_foreach(cmd, i, s) argv[i] = json_string_value(s) ? json_string_value(s) : "";
    if (runtime_exec_sync(t->rt, t->container_id, argv, timeout_ms, &code, &out, &err) < 0) {
        /* upstream (ExecProbeTimeout): a timed-out exec probe fails */
        if (err.kind == K3C_E_TIMEOUT)
            return probe_msg(msg, len, PODSPEC_PROBE_FAILURE,
                             "command timed out after %" PRId64 "s", timeout_ms / 1000);
        return probe_msg(msg, len, PODSPEC_PROBE_UNKNOWN, "exec probe: %s", err.msg);
    }
    if (code == 0)
        return probe_msg(msg, len, PODSPEC_PROBE_SUCCESS, "%.*s", PROBE_OUTPUT_MAX, out ? out : "");
    return probe_msg(msg, len, PODSPEC_PROBE_FAILURE, "command failed with exit code %d: %.*s",
                     code, PROBE_OUTPUT_MAX, out ? out : "");
}

/* ---- httpGet ------------------------------------------------------------------ */

static size_t
discard_body(char *ptr, size_t size, size_t n, void *ud)
{
    size_t *total = ud;

    (void)ptr;
    *total += size * n;
    /* upstream reads at most 10 KiB of the body; we need none of it */
    return *total > 10240 ? 0 : size * n;
}

static enum podspec_probe_result
probe_http(const json_t *action, const struct podspec_probe_target *t, int64_t timeout_ms,
           char *msg, size_t len)
{
    const char *host = json_string_value(json_object_get(action, "host"));
    const char *path = json_string_value(json_object_get(action, "path"));
    const char *scheme = json_string_value(json_object_get(action, "scheme"));
    int port = probe_port(action, t->container);
    struct curl_slist *hdrs = NULL;
    bool https = scheme && strcasecmp(scheme, "HTTPS") == 0;
    bool ua = false, accept = false;
    size_t i, total = 0;
    long code = 0;
    json_t *h;

    if (!host || !*host)
        host = t->pod_ip;
    if (!host || !*host || port <= 0 || port > 65535)
        return probe_msg(msg, len, PODSPEC_PROBE_UNKNOWN, "httpGet: no host or port");
    if (!path || !*path)
        path = "/";
    bool v6 = strchr(host, ':') != NULL;
    _cleanup_free_ char *url =
        k3c_xasprintf("%s://%s%s%s:%d%s%s", https ? "https" : "http", v6 ? "[" : "", host,
                      v6 ? "]" : "", port, path[0] == '/' ? "" : "/", path);
    json_array_foreach(json_object_get(action, "httpHeaders"), i, h)
    {
        const char *n = json_string_value(json_object_get(h, "name"));
        const char *v = json_string_value(json_object_get(h, "value"));
        if (!n)
            continue;
        ua |= strcasecmp(n, "User-Agent") == 0;
        accept |= strcasecmp(n, "Accept") == 0;
        _cleanup_free_ char *line = k3c_xasprintf("%s: %s", n, v ? v : "");
        hdrs = curl_slist_append(hdrs, line);
    }
    if (!ua)
        hdrs = curl_slist_append(hdrs, "User-Agent: " PROBE_USER_AGENT);
    if (!accept)
        hdrs = curl_slist_append(hdrs, "Accept: */*");

    CURL *c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(hdrs);
        return probe_msg(msg, len, PODSPEC_PROBE_UNKNOWN, "httpGet: curl init failed");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* 3xx counts as success */
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &total);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code > 0))
        return probe_msg(msg, len, PODSPEC_PROBE_FAILURE, "Get \"%s\": %s", url,
                         curl_easy_strerror(rc));
    if (code >= 200 && code < 400)
        return probe_msg(msg, len, PODSPEC_PROBE_SUCCESS,
                         "HTTP probe succeeded with statuscode: %ld", code);
    return probe_msg(msg, len, PODSPEC_PROBE_FAILURE, "HTTP probe failed with statuscode: %ld",
                     code);
}

/* ---- tcpSocket ----------------------------------------------------------------- */

/* Non-blocking connect to one address, bounded by deadline_ms. */
static int
connect_one(const struct addrinfo *ai, int64_t deadline_ms)
{
    _cleanup_close_ int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int so_err = 0;
    socklen_t sl = sizeof(so_err);

    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    for (int spins = 0; spins < 1000; spins++) {
        int64_t left = deadline_ms - k3c_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0)
            return -ETIMEDOUT;
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &sl) < 0)
        return -errno;
    return -so_err;
}

static enum podspec_probe_result
probe_tcp(const json_t *action, const struct podspec_probe_target *t, int64_t timeout_ms, char *msg,
          size_t len)
{
    const char *host = json_string_value(json_object_get(action, "host"));
    int port = probe_port(action, t->container);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    int64_t deadline = k3c_now_ms() + timeout_ms;
    int rc = -EHOSTUNREACH;

    if (!host || !*host)
        host = t->pod_ip;
    if (!host || !*host || port <= 0 || port > 65535)
        return probe_msg(msg, len, PODSPEC_PROBE_UNKNOWN, "tcpSocket: no host or port");
    snprintf(service, sizeof(service), "%d", port);
    int g = getaddrinfo(host, service, &hints, &res);
    if (g != 0)
        return probe_msg(msg, len, PODSPEC_PROBE_FAILURE, "dial tcp %s:%d: %s", host, port,
                         gai_strerror(g));
    for (struct addrinfo *ai = res; ai && rc != 0; ai = ai->ai_next)
        rc = connect_one(ai, deadline);
    freeaddrinfo(res);
    if (rc == 0)
        return probe_msg(msg, len, PODSPEC_PROBE_SUCCESS, "tcp %s:%d connected", host, port);
    return probe_msg(msg, len, PODSPEC_PROBE_FAILURE, "dial tcp %s:%d: %s", host, port,
                     rc == -ETIMEDOUT ? "i/o timeout" : strerror(-rc));
}

enum podspec_probe_result
podspec_probe_run(const json_t *probe, const struct podspec_probe_target *target, char *msg,
                  size_t msg_len)
{
    int64_t timeout_ms = probe_timeout_ms(probe);
    const json_t *a;

    if (msg && msg_len)
        msg[0] = '\0';
    if ((a = json_object_get(probe, "exec")))
        return probe_exec(a, target, timeout_ms, msg, msg_len);
    if ((a = json_object_get(probe, "httpGet")))
        return probe_http(a, target, timeout_ms, msg, msg_len);
    if ((a = json_object_get(probe, "tcpSocket")))
        return probe_tcp(a, target, timeout_ms, msg, msg_len);
    if (json_object_get(probe, "grpc"))
        return probe_msg(msg, msg_len, PODSPEC_PROBE_UNKNOWN,
                         "grpc probes are not supported"); /* TODO(#5) */
    return probe_msg(msg, msg_len, PODSPEC_PROBE_UNKNOWN, "probe without a handler");
}

/* ---- state machine ------------------------------------------------------------ */

void
podspec_probe_state_init(struct podspec_probe_state *s, enum podspec_probe_kind kind,
                         const json_t *probe, int64_t started_ms)
{
    int64_t period = probe_int(probe, "periodSeconds", 10);
    int64_t delay = probe_int(probe, "initialDelaySeconds", 0);
    int64_t st = probe_int(probe, "successThreshold", 1);
    int64_t ft = probe_int(probe, "failureThreshold", 3);

    *s = (struct podspec_probe_state){.kind = kind};
    s->period_ms = (period < 1 ? 1 : period) * 1000;
    s->initial_delay_ms = (delay < 0 ? 0 : delay) * 1000;
    s->timeout_ms = probe_timeout_ms(probe);
    /* liveness and startup must have successThreshold 1 (validation) */
    s->success_threshold = kind == PODSPEC_PROBE_READINESS && st > 1 ? (int)st : 1;
    s->failure_threshold = ft < 1 ? 1 : (int)(ft > 1000000 ? 1000000 : ft);
    s->next_ms = started_ms + s->initial_delay_ms;
    s->result = kind == PODSPEC_PROBE_LIVENESS    ? PODSPEC_PROBE_SUCCESS
                : kind == PODSPEC_PROBE_READINESS ? PODSPEC_PROBE_FAILURE
                                                  : PODSPEC_PROBE_UNKNOWN;
}

bool
podspec_probe_due(const struct podspec_probe_state *s, int64_t now_ms)
{
    return !s->done && now_ms >= s->next_ms;
}

enum podspec_probe_result
podspec_probe_record(struct podspec_probe_state *s, enum podspec_probe_result attempt,
                     int64_t now_ms)
{
    s->next_ms = now_ms + s->period_ms;
    if (attempt == PODSPEC_PROBE_SUCCESS) {
        s->fail_run = 0;
        if (s->ok_run < s->success_threshold)
            s->ok_run++;
        if (s->ok_run >= s->success_threshold)
            s->result = PODSPEC_PROBE_SUCCESS;
    } else if (attempt == PODSPEC_PROBE_FAILURE) {
        s->ok_run = 0;
        if (s->fail_run < s->failure_threshold)
            s->fail_run++;
        if (s->fail_run >= s->failure_threshold)
            s->result = PODSPEC_PROBE_FAILURE;
    }
    /* a successful startup probe stops probing for this container instance */
    if (s->kind == PODSPEC_PROBE_STARTUP && s->result == PODSPEC_PROBE_SUCCESS)
        s->done = true;
    return s->result;
}
