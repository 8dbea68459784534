/* SPDX-License-Identifier: Apache-2.0
 * test_kubelet_server.c - the kubelet API on a free port, for real: busybox
 * containers under runc/crun + conmon writing CRI logs where the agent puts
 * them, certificates from a throwaway CA, and libcurl as the HTTPS client.
 * Logs (tail, timestamps, previous, limitBytes, since, follow that ends when
 * the container exits, partial lines), exec over a WebSocket this test
 * speaks itself (v5.channel.k8s.io: output, stderr, stdin + close, exit
 * codes in the status channel, a tty with resize), 401 and 403. Root only
 * (77 otherwise, or when no runtime works). Every wait has a deadline;
 * containers, cgroups and files are removed even when a test fails. */
#include "kubelet/kubelet_server-internal.h"
#include "kubelet/kubelet_server.h"
#include "runtime/runtime.h"
#include "api/api.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "harness.h"
#include "pki/pki.h"

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 20000
#define NS      "default"

struct fx {
    char *dir, *logs, *rootfs;
    char *ca, *ca_key, *srv_cert, *srv_key, *admin_cert, *admin_key, *node_cert, *node_key;
    char pod_uid[64];
    struct runtime *rt;
    struct kubelet_server *ks;
    int port;
    char *ids[16];
    size_t n_ids;
    /* the API server that proxies pods/log and pods/exec to us */
    struct harness_etcd *etcd;
    struct store *store;
    struct api_server *api;
    int api_port;
};

static struct fx F;

/* ---- fixture ------------------------------------------------------------ */

static int
make_rootfs(const char *rootfs)
{
    static const char *const applets[] = {"sh",   "echo", "sleep", "cat",
                                          "stty", "tty",  "true",  NULL};
    struct k3c_err err = {0};

    if (harness_busybox_rootfs(rootfs, applets, &err) < 0) {
        fprintf(stderr, "# rootfs: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
make_certs(void)
{
    const char *const ips[] = {"127.0.0.1", NULL};
    const struct pki_leaf_spec srv = {
        .common_name = "node1", .usage = PKI_USAGE_SERVER, .ip_sans = ips};
    const struct pki_leaf_spec admin = {
        .common_name = "system:admin", .organization = "system:masters", .usage = PKI_USAGE_CLIENT};
    const struct pki_leaf_spec node = {.common_name = "system:node:node2",
                                       .organization = "system:nodes",
                                       .usage = PKI_USAGE_CLIENT};
    struct k3c_err err = {0};

    F.ca = k3c_xasprintf("%s/ca.crt", F.dir);
    F.ca_key = k3c_xasprintf("%s/ca.key", F.dir);
    F.srv_cert = k3c_xasprintf("%s/kubelet.crt", F.dir);
    F.srv_key = k3c_xasprintf("%s/kubelet.key", F.dir);
    F.admin_cert = k3c_xasprintf("%s/admin.crt", F.dir);
    F.admin_key = k3c_xasprintf("%s/admin.key", F.dir);
    F.node_cert = k3c_xasprintf("%s/node.crt", F.dir);
    F.node_key = k3c_xasprintf("%s/node.key", F.dir);
    if (pki_ensure_ca(F.ca, F.ca_key, "test-ca", &err) < 0 ||
        pki_ensure_leaf(F.ca, F.ca_key, F.srv_cert, F.srv_key, &srv, &err) < 0 ||
        pki_ensure_leaf(F.ca, F.ca_key, F.admin_cert, F.admin_key, &admin, &err) < 0 ||
        pki_ensure_leaf(F.ca, F.ca_key, F.node_cert, F.node_key, &node, &err) < 0) {
        fprintf(stderr, "# pki: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* 1: ready, 0: skip (no runtime), -1: failed. */
static int
fixture_init(void)
{
    struct k3c_err err = {0};
    _cleanup_free_ char *state = NULL;
    struct runtime_config rc = {.runtime = "auto", .cmd_timeout_ms = WAIT_MS};
    struct kubelet_server_config kc = {.bind_address = "127.0.0.1", .node_name = "node1"};

    F.dir = harness_mkdtemp("kubelet-server");
    if (!F.dir)
        return -1;
    F.logs = k3c_xasprintf("%s/logs", F.dir);
    F.rootfs = k3c_xasprintf("%s/rootfs", F.dir);
    state = k3c_xasprintf("%s/state", F.dir);
    snprintf(F.pod_uid, sizeof(F.pod_uid), "k3c-ks-%d", (int)getpid());
    if (make_rootfs(F.rootfs) < 0 || make_certs() < 0 || k3c_mkdir_p(F.logs, 0755, &err) < 0)
        return -1;
    rc.state_dir = state;
    F.rt = runtime_new(&rc, &err);
    if (!F.rt || runtime_probe(F.rt, &err) < 0) {
        fprintf(stderr, "# no working runtime: %s\n", err.msg);
        return 0;
    }
    kc.cert_file = F.srv_cert;
    kc.key_file = F.srv_key;
    kc.client_ca_file = F.ca;
    kc.logs_dir = F.logs;
    kc.runtime = F.rt;
    F.ks = kubelet_server_new(&kc, &err);
    if (!F.ks) {
        fprintf(stderr, "# kubelet server: %s\n", err.msg);
        return -1;
    }
    F.port = kubelet_server_port(F.ks);
    return 1;
}

/* etcd + an API server whose Node "node1" points at our kubelet port. */
static int
api_init(void)
{
    struct k3c_err err = {0};
    struct api_config ac = {.bind_address = "127.0.0.1",
                            .serving_cert_file = F.srv_cert,
                            .serving_key_file = F.srv_key,
                            .client_ca_file = F.ca,
                            .client_ca_key_file = F.ca_key,
                            .server_ca_cert_file = F.ca,
                            .server_ca_key_file = F.ca_key};
    _cleanup_free_ char *node = k3c_xasprintf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node1\"},"
        "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],"
        "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":%d}}}}",
        F.port);
    const char *pods[][2] = {
        {"logs", "{\"name\":\"c\"}"},
        {"exec", "{\"name\":\"c\"}"},
        {"two", "{\"name\":\"a\"},{\"name\":\"b\"}"},
        {"attach", "{\"name\":\"c\"}"},
    };

    if (harness_etcd_store_start(&F.etcd, &F.store, &err) < 0) {
        fprintf(stderr, "# etcd: %s\n", err.msg);
        return -1;
    }
    ac.port = harness_free_port();
    F.api_port = ac.port;
    F.api = api_server_new(&ac, F.store, &err);
    if (!F.api || api_server_start(F.api, &err) < 0 ||
        store_create(F.store, "/registry/nodes/node1", node, strlen(node), 0, NULL, &err) < 0) {
        fprintf(stderr, "# api: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(pods); i++) {
        _cleanup_free_ char *key = k3c_xasprintf("/registry/pods/%s/%s", NS, pods[i][0]);
        _cleanup_free_ char *pod = k3c_xasprintf(
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
            "\"namespace\":\"%s\"},\"spec\":{\"nodeName\":\"node1\",\"containers\":[%s]}}",
            pods[i][0], NS, pods[i][1]);

        if (store_create(F.store, key, pod, strlen(pod), 0, NULL, &err) < 0) {
            fprintf(stderr, "# pod: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

static void
fixture_fini(void)
{
    struct k3c_err err = {0};

    api_server_free(F.api);
    harness_etcd_store_stop(F.etcd, F.store);
    kubelet_server_free(F.ks);
    for (size_t i = 0; i < F.n_ids; i++) {
        if (F.rt)
            runtime_delete(F.rt, F.ids[i], &err);
        free(F.ids[i]);
    }
    runtime_pod_cgroup_remove(NULL, F.pod_uid, &err);
    runtime_free(F.rt);
    if (F.dir)
        harness_rm_rf(F.dir);
    free(F.dir);
    free(F.logs);
    free(F.rootfs);
    free(F.ca);
    free(F.ca_key);
    free(F.srv_cert);
    free(F.srv_key);
    free(F.admin_cert);
    free(F.admin_key);
    free(F.node_cert);
    free(F.node_key);
}

/* Starts instance `restart` of container `name` of pod `pod` as the agent
 * would (id, log path, annotations); returns its id (borrowed). */
static const char *
start_container(const char *pod, const char *name, int restart, const char *script)
{
    const char *const args[] = {"/bin/sh", "-c", script, NULL};
    char id[RUNTIME_ID_MAX + 1], rs[16];
    _cleanup_free_ char *uid = k3c_xasprintf("%s-%s", F.pod_uid, pod);
    _cleanup_free_ char *dir = k3c_xasprintf("%s/%s_%s_%s/%s", F.logs, NS, pod, uid, name);
    _cleanup_free_ char *log = k3c_xasprintf("%s/%d.log", dir, restart);
    _cleanup_free_ char *cgname = k3c_xasprintf("%s-%s-%d", pod, name, restart);
    struct k3c_err err = {0};
    const char *ann[] = {"io.kubernetes.pod.namespace",
                         NS,
                         "io.kubernetes.pod.name",
                         pod,
                         "io.kubernetes.pod.uid",
                         uid,
                         "io.kubernetes.container.name",
                         name,
                         "io.kubernetes.container.restartCount",
                         rs,
                         NULL};
    struct runtime_spec spec = {.pod_uid = F.pod_uid,
                                .name = cgname,
                                .rootfs = F.rootfs,
                                .args = args,
                                .hostname = "ks-test",
                                .annotations = ann,
                                .log_path = log};

    snprintf(rs, sizeof(rs), "%d", restart);
    ks_container_id(uid, name, restart, id);
    spec.id = id;
    assert_int_equal(k3c_mkdir_p(dir, 0755, &err), 0);
    assert_true(F.n_ids < K3C_ARRAY_SIZE(F.ids));
    F.ids[F.n_ids++] = k3c_xstrdup(id);
    if (runtime_run(F.rt, &spec, &err) < 0)
        fail_msg("run %s: %s", id, err.msg);
    return F.ids[F.n_ids - 1];
}

static void
wait_stopped(const char *id)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    struct runtime_status st;
    struct k3c_err err = {0};

    for (;;) {
        assert_int_equal(runtime_status(F.rt, id, &st, &err), 0);
        if (st.state == RUNTIME_STATE_STOPPED)
            return;
        if (k3c_now_ms() > deadline)
            fail_msg("%s did not stop", id);
        k3c_sleep_ms(20);
    }
}

/* ---- HTTPS -------------------------------------------------------------- */

static size_t
collect(char *p, size_t size, size_t n, void *ud)
{
    k3c_buf_append(ud, p, size * n);
    return size * n;
}

enum who { ANON, ADMIN, NODE };

static int use_port; /* 0: the kubelet; else the API server */

static CURL *
curl_for(const char *path, enum who who, char **url_out)
{
    CURL *c = curl_easy_init();

    *url_out = k3c_xasprintf("https://127.0.0.1:%d%s", use_port ? use_port : F.port, path);
    curl_easy_setopt(c, CURLOPT_URL, *url_out);
    curl_easy_setopt(c, CURLOPT_CAINFO, F.ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    if (who != ANON) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, who == ADMIN ? F.admin_cert : F.node_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, who == ADMIN ? F.admin_key : F.node_key);
    }
    return c;
}

/* GET path; returns the status code, body in *body (caller frees). */
static long
get(const char *path, enum who who, char **body)
{
    _cleanup_free_ char *url = NULL;
    CURL *c = curl_for(path, who, &url);
    struct k3c_buf b;
    long code = 0;
    CURLcode rc;

    k3c_buf_init(&b);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    *body = k3c_buf_steal(&b, NULL);
    if (!*body)
        *body = k3c_xstrdup("");
    return code;
}

static char *
logs_path(const char *pod, const char *container, const char *query)
{
    return k3c_xasprintf("/containerLogs/%s/%s/%s%s%s", NS, pod, container, query ? "?" : "",
                         query ? query : "");
}

static void
assert_logs(const char *pod, const char *query, const char *want)
{
    _cleanup_free_ char *path = logs_path(pod, "c", query);
    _cleanup_free_ char *body = NULL;

    long code = get(path, ADMIN, &body);

    if (code != 200)
        fail_msg("GET %s: %ld %s", path, code, body);
    assert_string_equal(body, want);
}

/* ---- tests: auth and small endpoints ------------------------------------ */

static void
test_auth_health_metrics(void **state)
{
    _cleanup_free_ char *b1 = NULL, *b2 = NULL, *b3 = NULL, *b4 = NULL, *b5 = NULL;
    _cleanup_json_ json_t *stats = NULL;

    (void)state;
    assert_int_equal(get("/healthz", ANON, &b1), 200);
    assert_string_equal(b1, "ok");
    assert_int_equal(get("/containerLogs/default/x/c", ANON, &b2), 401);
    assert_int_equal(get("/exec/default/x/c?command=true", NODE, &b3), 403);
    assert_int_equal(get("/metrics", ADMIN, &b4), 200);
    assert_non_null(strstr(b4, "kubelet_http_unauthorized_total 1\n"));
    assert_non_null(strstr(b4, "kubelet_http_forbidden_total 1\n"));
    assert_int_equal(get("/stats/summary", ADMIN, &b5), 200);
    stats = json_loads(b5, 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(stats, "node"), "nodeName")), "node1");
    assert_true(json_is_array(json_object_get(stats, "pods")));
}

static void
test_cri_line_parse(void **state)
{
    struct cri_line l;
    const char *a = "2024-01-02T03:04:05.120000000Z stdout P hel\n";
    const char *b = "2024-01-02T05:04:05.5+02:00 stderr F lo world\n";

    (void)state;
    assert_int_equal(cri_line_parse(a, strlen(a), &l), 0);
    assert_true(l.partial);
    assert_false(l.is_stderr);
    assert_string_equal(l.ts, "2024-01-02T03:04:05.12Z");
    assert_int_equal(l.content_len, 3);
    assert_memory_equal(l.content, "hel", 3);
    assert_int_equal(cri_line_parse(b, strlen(b), &l), 0);
    assert_true(l.is_stderr);
    assert_false(l.partial);
    assert_string_equal(l.ts, "2024-01-02T03:04:05.5Z");
    assert_int_equal(cri_line_parse("garbage\n", 8, &l), -1);
    assert_int_equal(cri_line_parse("2024-01-02T03:04:05Z stdin F x", 30, &l), -1);
}

/* ---- tests: logs -------------------------------------------------------- */

static void
test_logs_previous_tail_timestamps_limit(void **state)
{
    _cleanup_free_ char *b = NULL, *p = NULL;
    const char *id0 = start_container("logs", "c", 0, "echo one; echo two; echo three; exit 1");
    const char *id1;

    (void)state;
    wait_stopped(id0);
    id1 = start_container("logs", "c", 1, "echo four; echo five");
    wait_stopped(id1);
    assert_logs("logs", NULL, "four\nfive\n");
    assert_logs("logs", "previous=true", "one\ntwo\nthree\n");
    assert_logs("logs", "previous=true&tailLines=2", "two\nthree\n");
    assert_logs("logs", "tailLines=0", "");
    assert_logs("logs", "previous=true&limitBytes=5", "one\nt");
    assert_logs("logs", "sinceTime=2200-01-01T00:00:00Z", "");
    assert_logs("logs", "sinceSeconds=3600", "four\nfive\n");
    p = logs_path("logs", "c", "timestamps=true&tailLines=1");
    assert_int_equal(get(p, ADMIN, &b), 200);
    /* "2026-11-26T17:50:36.123456789Z five\n" */
    assert_true(strlen(b) > 26);
    assert_true(b[4] == '-' && b[10] == 'T');
    assert_non_null(strstr(b, "Z five\n"));
    free(p);
    free(b);
    p = logs_path("logs", "nosuch", NULL);
    assert_int_equal(get(p, ADMIN, &b), 400);
    assert_non_null(strstr(b, "is waiting to start"));
    free(p);
    free(b);
    p = logs_path("logs", "c", "tailLines=x");
    assert_int_equal(get(p, ADMIN, &b), 400);
}

static void
test_logs_partial_lines_joined(void **state)
{
    _cleanup_free_ char *dir = k3c_xasprintf("%s/%s_partial_uid-p/c", F.logs, NS);
    _cleanup_free_ char *file = k3c_xasprintf("%s/0.log", dir);
    const char *text = "2024-01-01T00:00:00.000000001Z stdout P hello \n"
                       "2024-01-01T00:00:00.000000002Z stdout F world\n"
                       "2024-01-01T00:00:01Z stderr F second\n";
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(k3c_mkdir_p(dir, 0755, &err), 0);
    assert_int_equal(k3c_write_file(file, text, strlen(text), 0644, &err), 0);
    assert_logs("partial", NULL, "hello world\nsecond\n");
    assert_logs("partial", "sinceTime=2024-01-01T00:00:01Z", "second\n");
}

struct follow {
    struct k3c_buf body;
    long code;
    int64_t done_ms;
    pthread_t t;
};

static void *
follow_thread(void *arg)
{
    struct follow *fo = arg;
    _cleanup_free_ char *p = logs_path("follow", "c", "follow=true");
    _cleanup_free_ char *url = NULL;
    CURL *c = curl_for(p, ADMIN, &url);

    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &fo->body);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &fo->code);
    curl_easy_cleanup(c);
    fo->done_ms = k3c_now_ms();
    return NULL;
}

static bool
file_has(void *arg)
{
    _cleanup_free_ char *data = NULL;
    struct k3c_err err = {0};

    return k3c_read_file(arg, &data, NULL, &err) == 0 && strstr(data, "ready");
}

/* follow: lines written after the request arrive, and the stream ends once
 * the container exits. The container waits for a file we create. */
static void
test_logs_follow_ends_with_container(void **state)
{
    _cleanup_free_ char *go = k3c_xasprintf("%s/work-go", F.rootfs);
    _cleanup_free_ char *uid = k3c_xasprintf("%s-follow", F.pod_uid);
    _cleanup_free_ char *log = k3c_xasprintf("%s/%s_follow_%s/c/0.log", F.logs, NS, uid);
    struct follow fo = {0};
    struct k3c_err err = {0};
    int64_t exited_ms;
    const char *id = start_container(
        "follow", "c", 0,
        "echo ready; i=0; while [ ! -e /work-go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); "
        "done; echo after; exit 0");

    (void)state;
    assert_true(harness_wait_for(file_has, log, WAIT_MS));
    k3c_buf_init(&fo.body);
    assert_int_equal(pthread_create(&fo.t, NULL, follow_thread, &fo), 0);
    /* The follower has the first line before the container goes on. */
    for (int64_t d = k3c_now_ms() + WAIT_MS; k3c_now_ms() < d;) {
        if (__atomic_load_n(&fo.body.len, __ATOMIC_SEQ_CST) > 0)
            break;
        k3c_sleep_ms(20);
    }
    assert_int_equal(k3c_write_file(go, "", 0, 0644, &err), 0);
    wait_stopped(id);
    exited_ms = k3c_now_ms();
    pthread_join(fo.t, NULL);
    assert_int_equal(fo.code, 200);
    assert_string_equal(fo.body.data, "ready\nafter\n");
    /* Ends within a poll interval or two of the exit, not at a timeout. */
    assert_true(fo.done_ms - exited_ms < 3000);
    k3c_buf_fini(&fo.body);
}

/* ---- WebSocket client ---------------------------------------------------- */

struct ws {
    CURL *c;
    curl_socket_t fd;
    struct k3c_buf in;
};

static int
ws_wait(struct ws *w, short ev, int64_t deadline)
{
    struct pollfd p = {.fd = w->fd, .events = ev};
    int64_t left = deadline - k3c_now_ms();

    if (left <= 0)
        return -1;
    return poll(&p, 1, (int)left) > 0 ? 0 : -1;
}

static void
ws_send_raw(struct ws *w, const void *data, size_t len)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    size_t off = 0;

    while (off < len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(w->c, (const char *)data + off, len - off, &n);

        if (rc == CURLE_AGAIN) {
            assert_int_equal(ws_wait(w, POLLOUT, deadline), 0);
            continue;
        }
        assert_int_equal(rc, CURLE_OK);
        off += n;
    }
}

/* Reads more into w->in; false at EOF or the deadline. */
static bool
ws_fill(struct ws *w, int64_t deadline)
{
    char buf[16384];

    for (;;) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(w->c, buf, sizeof(buf), &n);

        if (rc == CURLE_AGAIN) {
            if (ws_wait(w, POLLIN, deadline) < 0)
                return false;
            continue;
        }
        if (rc != CURLE_OK || n == 0)
            return false;
        k3c_buf_append(&w->in, buf, n);
        return true;
    }
}

static void
ws_open(struct ws *w, const char *path)
{
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *req = NULL;
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    char *end;

    memset(w, 0, sizeof(*w));
    k3c_buf_init(&w->in);
    w->c = curl_for("/", ADMIN, &url);
    curl_easy_setopt(w->c, CURLOPT_CONNECT_ONLY, 1L);
    assert_int_equal(curl_easy_perform(w->c), CURLE_OK);
    curl_easy_getinfo(w->c, CURLINFO_ACTIVESOCKET, &w->fd);
    req = k3c_xasprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n\r\n",
                        path);
    ws_send_raw(w, req, strlen(req));
    while (!(end = strstr(w->in.data ? w->in.data : "", "\r\n\r\n")))
        assert_true(ws_fill(w, deadline));
    if (strncmp(w->in.data, "HTTP/1.1 101", 12) != 0)
        fail_msg("no upgrade: %s", w->in.data);
    assert_non_null(strstr(w->in.data, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_non_null(strcasestr(w->in.data, "Sec-WebSocket-Protocol: v5.channel.k8s.io"));
    k3c_buf_consume(&w->in, (size_t)(end + 4 - w->in.data));
}

/* A masked binary frame: channel byte + data. */
static void
ws_send_channel(struct ws *w, int ch, const char *data, size_t len)
{
    unsigned char hdr[8], mask[4] = {0x11, 0x22, 0x33, 0x44};
    size_t n = len + 1, h = 0;
    _cleanup_free_ unsigned char *p = k3c_xmalloc(n);

    assert_true(n < 65536);
    hdr[h++] = 0x82;
    if (n < 126) {
        hdr[h++] = (unsigned char)(0x80 | n);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    }
    p[0] = (unsigned char)ch;
    memcpy(p + 1, data, len);
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[i % 4];
    ws_send_raw(w, hdr, h);
    ws_send_raw(w, mask, 4);
    ws_send_raw(w, p, n);
}

/* Next frame: returns its opcode (-1 at EOF/deadline), payload in out. */
static int
ws_next(struct ws *w, struct k3c_buf *out, int64_t deadline)
{
    for (;;) {
        const unsigned char *d = (const unsigned char *)w->in.data;
        size_t have = w->in.len, h = 2, n;

        if (have >= 2) {
            n = d[1] & 0x7f;
            if (n == 126 && have >= 4) {
                n = (size_t)d[2] << 8 | d[3];
                h = 4;
            } else if (n == 127 && have >= 10) {
                n = 0;
                for (int i = 0; i < 8; i++)
                    n = n << 8 | d[2 + i];
                h = 10;
            }
            if ((d[1] & 0x7f) < 126 || h > 2) {
                if (have >= h + n) {
                    int op = d[0] & 0x0f;

                    k3c_buf_reset(out);
                    k3c_buf_append(out, d + h, n);
                    k3c_buf_consume(&w->in, h + n);
                    return op;
                }
            }
        }
        if (!ws_fill(w, deadline))
            return -1;
    }
}

static void
ws_close(struct ws *w)
{
    curl_easy_cleanup(w->c);
    k3c_buf_fini(&w->in);
}

struct exec_result {
    struct k3c_buf out, err;
    json_t *status;
    bool closed;
};

/* Reads frames until the close frame: stdout, stderr, the status. */
static void
ws_collect(struct ws *w, struct exec_result *r, const char *until_out)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    struct k3c_buf f;

    k3c_buf_init(&f);
    for (;;) {
        int op = ws_next(w, &f, deadline);

        if (op < 0 || op == 8) {
            r->closed = op == 8;
            break;
        }
        if (op != 2 || f.len == 0)
            continue;
        if (f.data[0] == 1)
            k3c_buf_append(&r->out, f.data + 1, f.len - 1);
        else if (f.data[0] == 2)
            k3c_buf_append(&r->err, f.data + 1, f.len - 1);
        else if (f.data[0] == 3)
            r->status = json_loadb(f.data + 1, f.len - 1, 0, NULL);
        if (until_out && r->out.data && strstr(r->out.data, until_out))
            break;
    }
    k3c_buf_fini(&f);
}

static void
result_fini(struct exec_result *r)
{
    k3c_buf_fini(&r->out);
    k3c_buf_fini(&r->err);
    json_decref(r->status);
}

static const char *
status_str(const json_t *st, const char *field)
{
    return json_string_value(json_object_get(st, field));
}

/* ---- tests: exec -------------------------------------------------------- */

static void
start_exec_pod(void)
{
    static bool started;

    if (!started)
        start_container("exec", "c", 0, "exec sleep 1000");
    started = true;
}

static void
test_exec_output_and_exit_code(void **state)
{
    struct ws w;
    struct exec_result r = {0};
    const json_t *cause;

    (void)state;
    start_exec_pod();
    ws_open(&w,
            "/exec/default/exec/c?command=sh&command=-c&command=echo+hi%3B+echo+oops+%3E%262%3B+"
            "exit+3&stdout=true&stderr=true");
    ws_collect(&w, &r, NULL);
    ws_close(&w);
    assert_true(r.closed);
    assert_string_equal(r.out.data, "hi\n");
    assert_string_equal(r.err.data, "oops\n");
    assert_non_null(r.status);
    assert_string_equal(status_str(r.status, "status"), "Failure");
    assert_string_equal(status_str(r.status, "reason"), "NonZeroExitCode");
    cause = json_array_get(json_object_get(json_object_get(r.status, "details"), "causes"), 0);
    assert_string_equal(status_str(cause, "reason"), "ExitCode");
    assert_string_equal(status_str(cause, "message"), "3");
    result_fini(&r);

    memset(&r, 0, sizeof(r));
    ws_open(&w, "/exec/default/exec/c?command=cat&stdin=true&stdout=true&stderr=true");
    ws_send_channel(&w, 0, "ping\n", 5);
    ws_send_channel(&w, 255, "\0", 1); /* v5: close stdin */
    ws_collect(&w, &r, NULL);
    ws_close(&w);
    assert_string_equal(r.out.data, "ping\n");
    assert_string_equal(status_str(r.status, "status"), "Success");
    result_fini(&r);
}

static void
test_exec_tty_and_resize(void **state)
{
    struct ws w;
    struct exec_result r = {0};
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    (void)state;
    start_exec_pod();
    ws_open(&w, "/exec/default/exec/c?command=sh&command=-c&command=tty+%3E%2Fdev%2Fnull+%26%26+"
                "echo+is-a-tty%3B+while+read+x%3B+do+stty+size%3B+done&stdin=true&stdout=true&"
                "tty=true");
    ws_collect(&w, &r, "is-a-tty");
    if (!r.out.data || !strstr(r.out.data, "is-a-tty"))
        fail_msg("no tty: out=%s status=%s", r.out.data ? r.out.data : "",
                 r.status ? json_dumps(r.status, 0) : "-");
    ws_send_channel(&w, 4, "{\"Width\":100,\"Height\":40}", 25);
    /* The size reaches the container's own terminal through the runtime's
     * SIGWINCH relay: ask until it shows. */
    while (!strstr(r.out.data, "40 100") && k3c_now_ms() < deadline) {
        ws_send_channel(&w, 0, "\r", 1);
        struct exec_result more = {0};
        ws_collect(&w, &more, "\n");
        if (more.out.data)
            k3c_buf_append(&r.out, more.out.data, more.out.len);
        result_fini(&more);
        if (more.closed)
            break;
    }
    assert_non_null(strstr(r.out.data, "40 100"));
    ws_send_channel(&w, 0, "\x04", 1); /* ^D: read fails, the loop and sh end (0) */
    ws_collect(&w, &r, NULL);
    ws_close(&w);
    assert_non_null(r.status);
    assert_string_equal(status_str(r.status, "status") ?: "-", "Success");
    result_fini(&r);
}

static void
test_exec_errors(void **state)
{
    _cleanup_free_ char *b1 = NULL, *b2 = NULL;

    (void)state;
    assert_int_equal(get("/exec/default/nosuch/c?command=true", ADMIN, &b1), 400);
    assert_non_null(strstr(b1, "WebSocket"));
    assert_int_equal(get("/nothing", ADMIN, &b2), 404);
}

/* attach: the output the running container writes from now on, then the
 * container's exit ends the session with Success. */
static void
test_attach_output_until_exit(void **state)
{
    struct ws w;
    struct exec_result r = {0};
    const char *id = start_container(
        "attach", "c", 0,
        "i=0; while [ $i -lt 100 ] && [ ! -e /work-stop ]; do echo tick-$i; echo err-$i >&2; "
        "i=$((i+1)); sleep 0.1; done");
    _cleanup_free_ char *stop = k3c_xasprintf("%s/work-stop", F.rootfs);
    struct k3c_err err = {0};

    (void)state;
    use_port = F.api_port; /* through the API server's proxy */
    ws_open(&w, "/api/v1/namespaces/default/pods/attach/attach?stdout=true&stderr=true");
    ws_collect(&w, &r, "tick-");
    if (!r.out.data || !strstr(r.out.data, "tick-"))
        fail_msg("attach: out=%s err=%s closed=%d status=%s", r.out.data ?: "", r.err.data ?: "",
                 r.closed, r.status ? json_dumps(r.status, 0) : "-");
    assert_int_equal(k3c_write_file(stop, "", 0, 0644, &err), 0);
    wait_stopped(id);
    ws_collect(&w, &r, NULL);
    ws_close(&w);
    use_port = 0;
    assert_true(r.closed);
    assert_non_null(r.err.data);
    assert_non_null(strstr(r.err.data, "err-"));
    assert_non_null(r.status);
    assert_string_equal(status_str(r.status, "status") ?: "-", "Success");
    result_fini(&r);
}

/* ---- tests: the API server's proxy ---------------------------------------- */

static void
test_api_pods_log(void **state)
{
    _cleanup_free_ char *b1 = NULL, *b2 = NULL, *b3 = NULL, *b4 = NULL, *b5 = NULL;

    (void)state;
    use_port = F.api_port;
    assert_int_equal(
        get("/api/v1/namespaces/default/pods/logs/log?previous=true&tailLines=2", ADMIN, &b1), 200);
    assert_string_equal(b1, "two\nthree\n");
    assert_int_equal(get("/api/v1/namespaces/default/pods/logs/log?container=c", ADMIN, &b2), 200);
    assert_string_equal(b2, "four\nfive\n");
    assert_int_equal(get("/api/v1/namespaces/default/pods/nosuch/log", ADMIN, &b3), 404);
    assert_int_equal(get("/api/v1/namespaces/default/pods/two/log", ADMIN, &b4), 400);
    assert_non_null(strstr(b4, "a container name must be specified for pod two, choose one of: "
                               "[a b]"));
    assert_int_equal(get("/api/v1/namespaces/default/pods/logs/log", NODE, &b5), 403);
    use_port = 0;
}

static void
test_api_pods_exec(void **state)
{
    struct ws w;
    struct exec_result r = {0};
    const json_t *cause;

    (void)state;
    start_exec_pod();
    use_port = F.api_port;
    ws_open(&w, "/api/v1/namespaces/default/pods/exec/exec?command=sh&command=-c&command=echo+"
                "via-api%3B+exit+7&stdout=true&stderr=true");
    ws_collect(&w, &r, NULL);
    ws_close(&w);
    use_port = 0;
    assert_string_equal(r.out.data, "via-api\n");
    assert_non_null(r.status);
    cause = json_array_get(json_object_get(json_object_get(r.status, "details"), "causes"), 0);
    assert_string_equal(status_str(cause, "message") ?: "-", "7");
    result_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cri_line_parse),
        cmocka_unit_test(test_auth_health_metrics),
        cmocka_unit_test(test_logs_previous_tail_timestamps_limit),
        cmocka_unit_test(test_logs_partial_lines_joined),
        cmocka_unit_test(test_logs_follow_ends_with_container),
        cmocka_unit_test(test_exec_output_and_exit_code),
        cmocka_unit_test(test_exec_tty_and_resize),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_api_pods_log),
        cmocka_unit_test(test_api_pods_exec),
        cmocka_unit_test(test_attach_output_until_exit),
    };
    int rc;

    if (geteuid() != 0) {
        fprintf(stderr, "# not root: skipped\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = fixture_init();
    if (rc > 0 && api_init() < 0)
        rc = -1;
    if (rc <= 0) {
        fixture_fini();
        curl_global_cleanup();
        return rc == 0 ? 77 : 1;
    }
    rc = cmocka_run_group_tests_name("kubelet_server", tests, NULL, NULL);
    fixture_fini();
    curl_global_cleanup();
    {
        struct k3c_err err = {0};

        runtime_pod_cgroup_remove("/", "k3c", &err);
    }
    return rc ? 1 : 0;
}
