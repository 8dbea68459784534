/* SPDX-License-Identifier: Apache-2.0
 * test_podspec.c - podspec against real things: a `k3c server` ($K3C_BIN,
 * without its agent) whose ConfigMaps and Secrets are read through the fetch
 * callback, with admin and node identities (static tokens), so the node
 * authorizer's rule for configmaps/secrets is checked too; volumes written
 * to a temporary pod dir (files, modes, atomic updates, tmpfs, cleanup);
 * httpGet/tcpSocket probes against a small HTTP server on 127.0.0.1; exec
 * probes in a busybox container under runc (root and a working runtime
 * only, else that test skips). Every wait has a deadline; the server, the
 * container and the directories are removed even when a test fails. */
#include "podspec/podspec.h"
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "client/client.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define READY_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS  30000
#define TMPFS_MAGIC_     0x01021994

#define ADMIN_TOKEN "podspec-admin-token"
#define NODE1_TOKEN "podspec-node1-token"
#define NODE2_TOKEN "podspec-node2-token"

struct env {
    char *dir;
    pid_t server;
    int port;
    struct http_client *client;
};

static struct env E;

/* ---- the server ------------------------------------------------------------ */

static pid_t
spawn_server(char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0)
        _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(argv[0], argv);
    _exit(127);
}

/* GET path as who (a bearer token); status into *status, body returned. */
static char *
api_call(const char *token, const char *method, const char *path, const char *body, long *status)
{
    _cleanup_free_ char *auth = k3c_xasprintf("Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    struct http_request req = {.method = method,
                               .path = path,
                               .headers = headers,
                               .body = body,
                               .body_len = body ? strlen(body) : 0};
    struct http_response resp;
    struct k3c_err err = {0};
    char *out = NULL;

    http_response_init(&resp);
    *status = 0;
    if (http_client_do(E.client, &req, &resp, &err) == 0) {
        *status = resp.status;
        out = k3c_buf_steal(&resp.body, NULL);
    }
    http_response_fini(&resp);
    return out ? out : k3c_xstrdup("");
}

static bool
server_ready(void *arg)
{
    long status = 0;
    _cleanup_free_ char *b =
        api_call(ADMIN_TOKEN, "GET", "/api/v1/namespaces/default", NULL, &status);
    (void)arg;
    return status == 200;
}

static void
stop_server(void)
{
    int64_t deadline = k3c_now_ms() + STOP_TIMEOUT_MS;

    if (E.server <= 0)
        return;
    kill(E.server, SIGTERM);
    while (waitpid(E.server, NULL, WNOHANG) == 0) {
        if (k3c_now_ms() > deadline) {
            kill(E.server, SIGKILL);
            waitpid(E.server, NULL, 0);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    E.server = 0;
}

static int
group_setup(void **state)
{
    const char *bin = getenv("K3C_BIN");
    struct k3c_err err = {0};
    char port[16], cport[16], pport[16];

    (void)state;
    E.dir = harness_mkdtemp("podspec");
    if (!bin || !E.dir)
        return -1;
    _cleanup_free_ char *tokens = k3c_xasprintf("%s/tokens.csv", E.dir);
    _cleanup_free_ char *cfg = k3c_xasprintf("%s/empty.yaml", E.dir);
    _cleanup_free_ char *data = k3c_xasprintf("%s/data", E.dir);
    _cleanup_free_ char *log = k3c_xasprintf("%s/k3c.log", E.dir);
    const char tok[] = ADMIN_TOKEN ",podspec-admin,1,\"system:masters\"\n" NODE1_TOKEN
                                   ",system:node:n1,2,\"system:nodes\"\n" NODE2_TOKEN
                                   ",system:node:n2,3,\"system:nodes\"\n";
    if (k3c_write_file(tokens, tok, strlen(tok), 0600, &err) < 0 ||
        k3c_write_file(cfg, "node-ip: 127.0.0.1\n", 19, 0644, &err) < 0)
        return -1;
    E.port = harness_free_port();
    snprintf(port, sizeof(port), "%d", E.port);
    snprintf(cport, sizeof(cport), "%d", harness_free_port());
    snprintf(pport, sizeof(pport), "%d", harness_free_port());
    char *const argv[] = {(char *)bin,          "server",    "--data-dir",          data,
                          "--bind-address",     "127.0.0.1", "--https-listen-port", port,
                          "--etcd-client-port", cport,       "--etcd-peer-port",    pport,
                          "--node-name",        "podspec",   "--token-file",        tokens,
                          "--config",           cfg,         "--disable-agent",     NULL};
    E.server = spawn_server(argv, log);
    if (E.server < 0)
        return -1;
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", E.port);
    const char *eps[] = {url, NULL};
    /* the test trusts its own server on loopback without pinning its CA */
    struct http_client_config cc = {.endpoints = eps, .insecure = true};
    E.client = http_client_new(&cc, &err);
    if (!E.client || !harness_wait_for(server_ready, NULL, READY_TIMEOUT_MS)) {
        fprintf(stderr, "# k3c server not ready; see %s\n", log);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    stop_server();
    http_client_free(E.client);
    if (E.dir)
        harness_rm_rf(E.dir);
    free(E.dir);
    return 0;
}

static void
create(const char *path, const char *body)
{
    long status = 0;
    _cleanup_free_ char *out = api_call(ADMIN_TOKEN, "POST", path, body, &status);
    if (status != 201)
        fprintf(stderr, "# POST %s: %ld %s\n", path, status, out);
    assert_int_equal(status, 201);
}

/* ---- the fetch callback: what the agent does with its client ---------------- */

static json_t *
api_fetch(void *ud, const char *kind, const char *ns, const char *name, struct k3c_err *err)
{
    const char *token = ud;
    long status = 0;
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/%s/%s", ns, kind, name);
    _cleanup_free_ char *body = api_call(token, "GET", path, NULL, &status);

    if (status == 200)
        return json_loads(body, 0, NULL);
    k3c_err_set(err, status == 404 ? K3C_E_NOT_FOUND : K3C_E_INTERNAL, "GET %s: %ld", path, status);
    return NULL;
}

static json_t *
pod_json(const char *node)
{
    json_t *pod = json_loads(
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
        " \"metadata\":{\"name\":\"ps\",\"namespace\":\"default\",\"labels\":{\"app\":\"ps\"}},"
        " \"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
        "   "
        "\"env\":[{\"name\":\"COLOR\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"app-config\","
        "\"key\":\"color\"}}},"
        "            "
        "{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"app-secret\",\"key\":"
        "\"password\"}}},"
        "            {\"name\":\"MSG\",\"value\":\"$(COLOR) sky\"}]}],"
        "  \"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"app-config\","
        "                 "
        "\"items\":[{\"key\":\"color\",\"path\":\"sub/dir/color\",\"mode\":384}]}},"
        "               {\"name\":\"all\",\"configMap\":{\"name\":\"app-config\"}},"
        "               "
        "{\"name\":\"sec\",\"secret\":{\"secretName\":\"app-secret\",\"defaultMode\":256}},"
        "               "
        "{\"name\":\"optional\",\"secret\":{\"secretName\":\"nope\",\"optional\":true}},"
        "               {\"name\":\"meta\",\"downwardAPI\":{\"items\":["
        "                  {\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
        "                  {\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}},"
        "               {\"name\":\"proj\",\"projected\":{\"sources\":["
        "                  "
        "{\"configMap\":{\"name\":\"app-config\",\"items\":[{\"key\":\"color\",\"path\":\"c\"}]}},"
        "                  {\"secret\":{\"name\":\"app-secret\"}},"
        "                  {\"serviceAccountToken\":{\"path\":\"token\"}},"
        "                  "
        "{\"downwardAPI\":{\"items\":[{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":\"metadata."
        "namespace\"}}]}}]}},"
        "               {\"name\":\"scratch\",\"emptyDir\":{}}]}}",
        0, NULL);
    assert_non_null(pod);
    if (node)
        json_object_set_new(json_object_get(pod, "spec"), "nodeName", json_string(node));
    return pod;
}

static void
objects_once(void)
{
    static bool done;

    if (done)
        return;
    create("/api/v1/namespaces/default/configmaps",
           "{\"metadata\":{\"name\":\"app-config\"},\"data\":{\"color\":\"blue\",\"size\":\"L\"}}");
    create("/api/v1/namespaces/default/configmaps",
           "{\"metadata\":{\"name\":\"other-config\"},\"data\":{\"x\":\"y\"}}");
    create("/api/v1/namespaces/default/secrets",
           "{\"metadata\":{\"name\":\"app-secret\"},\"data\":{\"password\":\"aHVudGVyMg==\"}}");
    done = true;
}

/* ---- env through the real API ------------------------------------------------------- */

static void
test_env_from_api(void **state)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *pod = pod_json(NULL);
    struct podspec_ctx ctx = {.pod = pod, .fetch = api_fetch, .fetch_ud = ADMIN_TOKEN};
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);

    (void)state;
    objects_once();
    char **env = podspec_env_build(&ctx, c, NULL, &err);
    assert_non_null(env);
    assert_int_equal(podspec_strv_len((const char *const *)env), 3);
    assert_string_equal(env[0], "COLOR=blue");
    assert_string_equal(env[1], "PW=hunter2");
    assert_string_equal(env[2], "MSG=blue sky");
    podspec_strv_free(env);

    _cleanup_json_ json_t *bad =
        json_loads("{\"env\":[{\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":"
                   "\"missing\",\"key\":\"k\"}}}]}",
                   0, NULL);
    assert_null(podspec_env_build(&ctx, bad, NULL, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "configmap \"missing\" not found"));
}

/* ---- node authorizer --------------------------------------------------------------- */

static long
status_of(const char *token, const char *method, const char *path, const char *body)
{
    long status = 0;
    _cleanup_free_ char *out = api_call(token, method, path, body, &status);
    return status;
}

static void
test_node_reads_only_its_refs(void **state)
{
    (void)state;
    objects_once();
    /* before any pod is bound to n1, nothing is readable */
    assert_int_equal(
        status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/configmaps/app-config", NULL),
        403);
    _cleanup_json_ json_t *pod = pod_json("n1");
    _cleanup_free_ char *body = json_dumps(pod, JSON_COMPACT);
    create("/api/v1/namespaces/default/pods", body);

    assert_int_equal(
        status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/configmaps/app-config", NULL),
        200);
    assert_int_equal(
        status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/secrets/app-secret", NULL), 200);
    /* a single-object list/watch, as newer kubelets do */
    assert_int_equal(status_of(NODE1_TOKEN, "GET",
                               "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%"
                               "3Dapp-config",
                               NULL),
                     200);
    /* not referenced by a pod of n1 */
    assert_int_equal(
        status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/configmaps/other-config", NULL),
        403);
    assert_int_equal(
        status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/kube-system/configmaps/app-config", NULL),
        403);
    /* lists, writes, and another node */
    assert_int_equal(status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/secrets", NULL),
                     403);
    assert_int_equal(status_of(NODE1_TOKEN, "GET", "/api/v1/secrets", NULL), 403);
    assert_int_equal(
        status_of(NODE1_TOKEN, "DELETE", "/api/v1/namespaces/default/configmaps/app-config", NULL),
        403);
    assert_int_equal(
        status_of(NODE2_TOKEN, "GET", "/api/v1/namespaces/default/configmaps/app-config", NULL),
        403);
    /* everything else a node reads is unchanged */
    assert_int_equal(status_of(NODE1_TOKEN, "GET", "/api/v1/namespaces/default/pods", NULL), 200);

    /* the fetch callback with the node's identity, as the agent uses it */
    struct k3c_err err = {0};
    struct podspec_ctx ctx = {.pod = pod, .fetch = api_fetch, .fetch_ud = NODE1_TOKEN};
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    char **env = podspec_env_build(&ctx, c, NULL, &err);
    assert_non_null(env);
    podspec_strv_free(env);
}

/* ---- volumes ------------------------------------------------------------------------ */

static char *
read_vol(const char *pod_dir, const char *rel)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/volumes/%s", pod_dir, rel);
    struct k3c_err err = {0};
    char *data = NULL;

    if (k3c_read_file(path, &data, NULL, &err) < 0)
        return NULL;
    return data;
}

static mode_t
mode_of(const char *pod_dir, const char *rel)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/volumes/%s", pod_dir, rel);
    struct stat st;

    return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void
assert_vol(const char *pod_dir, const char *rel, const char *want)
{
    _cleanup_free_ char *got = read_vol(pod_dir, rel);
    if (!got)
        fprintf(stderr, "# %s: missing\n", rel);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void
test_volumes(void **state)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *pod = pod_json(NULL);
    struct podspec_ctx ctx = {.pod = pod, .fetch = api_fetch, .fetch_ud = ADMIN_TOKEN};
    struct podspec_volumes vols = {0};
    _cleanup_free_ char *pod_dir = k3c_xasprintf("%s/pods/uid-1", E.dir);
    bool root = geteuid() == 0;

    (void)state;
    objects_once();
    if (root) /* memory-backed emptyDir needs mount(2) */
        json_array_append_new(json_object_get(json_object_get(pod, "spec"), "volumes"),
                              json_pack("{s:s, s:{s:s, s:s}}", "name", "mem", "emptyDir", "medium",
                                        "Memory", "sizeLimit", "8Mi"));
    if (podspec_volumes_prepare(&ctx, pod_dir, &vols, &err) < 0)
        fprintf(stderr, "# prepare: %s\n", err.msg);
    assert_int_equal(vols.n, root ? 8 : 7);

    assert_vol(pod_dir, "cfg/sub/dir/color", "blue");
    assert_int_equal(mode_of(pod_dir, "cfg/sub/dir/color"), 0600);
    assert_null(read_vol(pod_dir, "cfg/size")); /* items: only what is listed */
    assert_vol(pod_dir, "all/color", "blue");
    assert_vol(pod_dir, "all/size", "L");
    assert_int_equal(mode_of(pod_dir, "all/size"), 0644);
    assert_vol(pod_dir, "sec/password", "hunter2");
    assert_int_equal(mode_of(pod_dir, "sec/password"), 0400);
    assert_vol(pod_dir, "meta/labels", "app=\"ps\"");
    assert_vol(pod_dir, "meta/name", "ps");
    assert_vol(pod_dir, "proj/c", "blue");
    assert_vol(pod_dir, "proj/password", "hunter2");
    assert_vol(pod_dir, "proj/ns", "default");
    assert_null(read_vol(pod_dir, "proj/token")); /* skipped, logged */
    assert_int_equal(mode_of(pod_dir, "scratch"), 0777);
    assert_int_equal(mode_of(pod_dir, "optional"), 0755); /* optional and missing: empty */
    assert_true(podspec_volumes_find(&vols, "sec")->readonly);
    assert_false(podspec_volumes_find(&vols, "scratch")->readonly);
    if (root) {
        struct statfs sfs;
        _cleanup_free_ char *mem = k3c_xasprintf("%s/volumes/mem", pod_dir);
        assert_int_equal(statfs(mem, &sfs), 0);
        assert_int_equal((long)sfs.f_type, TMPFS_MAGIC_);
        assert_int_equal((long long)sfs.f_blocks * sfs.f_bsize, 8 << 20);
    }
    /* the user-visible name is a symlink through ..data */
    _cleanup_free_ char *link = k3c_xasprintf("%s/volumes/all/color", pod_dir);
    char target[256] = "";
    assert_true(readlink(link, target, sizeof(target) - 1) > 0);
    assert_string_equal(target, "..data/color");
    _cleanup_free_ char *data_link = k3c_xasprintf("%s/volumes/all/..data", pod_dir);
    char ts1[256] = "", ts2[256] = "";
    assert_true(readlink(data_link, ts1, sizeof(ts1) - 1) > 0);

    /* idempotent: nothing changed, nothing rewritten */
    podspec_volumes_fini(&vols);
    assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), 0);
    assert_true(readlink(data_link, ts2, sizeof(ts2) - 1) > 0);
    assert_string_equal(ts1, ts2);

    /* an update of the ConfigMap: a new version, swapped in, the old one gone */
    long status = 0;
    _cleanup_free_ char *out = api_call(
        ADMIN_TOKEN, "PUT", "/api/v1/namespaces/default/configmaps/app-config",
        "{\"metadata\":{\"name\":\"app-config\"},\"data\":{\"color\":\"green\"}}", &status);
    assert_int_equal(status, 200);
    podspec_volumes_fini(&vols);
    assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), 0);
    assert_vol(pod_dir, "all/color", "green");
    assert_null(read_vol(pod_dir, "all/size"));
    _cleanup_free_ char *size_link = k3c_xasprintf("%s/volumes/all/size", pod_dir);
    struct stat st;
    assert_int_equal(lstat(size_link, &st), -1); /* the stale symlink is pruned */
    memset(ts2, 0, sizeof(ts2));
    assert_true(readlink(data_link, ts2, sizeof(ts2) - 1) > 0);
    assert_string_not_equal(ts1, ts2);
    _cleanup_free_ char *old = k3c_xasprintf("%s/volumes/all/%s", pod_dir, ts1);
    assert_false(k3c_file_exists(old));
    out =
        (free(out), api_call(ADMIN_TOKEN, "PUT", "/api/v1/namespaces/default/configmaps/app-config",
                             "{\"metadata\":{\"name\":\"app-config\"},\"data\":{\"color\":"
                             "\"blue\",\"size\":\"L\"}}",
                             &status));
    assert_int_equal(status, 200);

    /* mounts of the prepared volumes */
    _cleanup_json_ json_t *c =
        json_loads("{\"volumeMounts\":[{\"name\":\"all\",\"mountPath\":\"/etc/app\"},"
                   "{\"name\":\"scratch\",\"mountPath\":\"/data\",\"subPath\":\"x\"}]}",
                   0, NULL);
    struct runtime_mount *m = NULL;
    size_t n = 0;
    assert_int_equal(podspec_volume_mounts(&vols, c, NULL, &m, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(m[0].readonly);
    assert_false(m[1].readonly);
    podspec_mounts_free(m, n);
    podspec_volumes_fini(&vols);

    /* errors: missing non-optional refs and hostPath type checks */
    _cleanup_json_ json_t *bad =
        json_loads("{\"metadata\":{\"name\":\"b\",\"namespace\":\"default\"},"
                   "\"spec\":{\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"nope\"}}]}}",
                   0, NULL);
    ctx.pod = bad;
    assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "configmap \"nope\" not found"));
    _cleanup_free_ char *hp = k3c_xasprintf("%s/hostdir/new", E.dir);
    _cleanup_free_ char *hfile = k3c_xasprintf("%s/hostfile", E.dir);
    assert_int_equal(k3c_write_file(hfile, "x", 1, 0644, &err), 0);
    _cleanup_json_ json_t *hostp = json_pack(
        "{s:{s:s, s:s}, s:{s:[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}]}}", "metadata", "name", "h",
        "namespace", "default", "spec", "volumes", "name", "d", "hostPath", "path", hp, "type",
        "DirectoryOrCreate", "name", "f", "hostPath", "path", hfile, "type", "File");
    ctx.pod = hostp;
    assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), 0);
    assert_true(k3c_file_exists(hp));
    assert_string_equal(podspec_volumes_find(&vols, "f")->host_path, hfile);
    podspec_volumes_fini(&vols);
    json_object_set_new(
        json_object_get(
            json_array_get(json_object_get(json_object_get(hostp, "spec"), "volumes"), 1),
            "hostPath"),
        "type", json_string("Directory"));
    assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), -1);
    assert_non_null(strstr(err.msg, "is not a directory"));

    /* fsGroup: files group-owned and group-readable, emptyDir setgid */
    if (root) {
        _cleanup_json_ json_t *fsg =
            json_pack("{s:{s:s, s:s}, s:{s:{s:i}, s:[{s:s, s:{s:s, s:i}}, {s:s, s:{}}]}}",
                      "metadata", "name", "g", "namespace", "default", "spec", "securityContext",
                      "fsGroup", 1234, "volumes", "name", "gs", "secret", "secretName",
                      "app-secret", "defaultMode", 0400, "name", "ge", "emptyDir");
        ctx.pod = fsg;
        assert_int_equal(podspec_volumes_prepare(&ctx, pod_dir, &vols, &err), 0);
        podspec_volumes_fini(&vols);
        _cleanup_free_ char *gs = k3c_xasprintf("%s/volumes/gs/password", pod_dir);
        assert_int_equal(stat(gs, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0440);
        assert_int_equal(st.st_gid, 1234);
        assert_int_equal(mode_of(pod_dir, "ge"), 02777);
    }

    /* cleanup: tmpfs unmounted, everything under volumes/ gone, hostPath kept */
    assert_int_equal(podspec_volumes_cleanup(pod_dir, &err), 0);
    _cleanup_free_ char *vdir = k3c_xasprintf("%s/volumes", pod_dir);
    assert_false(k3c_file_exists(vdir));
    assert_true(k3c_file_exists(hfile));
    assert_true(k3c_file_exists(hp));
}

/* ---- probes: httpGet / tcpSocket ------------------------------------------------------ */

#define MAX_HELD 8

struct http_srv {
    int fd, port;
    int stop_pipe[2];
    pthread_t thread;
    int held[MAX_HELD]; /* /hang connections, never answered */
    int n_held;
};

static void
srv_answer(struct http_srv *s, int c)
{
    char req[4096] = "";
    size_t len = 0;
    int64_t deadline = k3c_now_ms() + 2000;

    while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        int left = (int)(deadline - k3c_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(c, req + len, sizeof(req) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
    }
    req[len] = '\0';
    const char *code = "404 Not Found";
    if (strncmp(req, "GET /ok ", 8) == 0)
        code = "200 OK";
    else if (strncmp(req, "GET /fail ", 10) == 0)
        code = "500 Internal Server Error";
    else if (strncmp(req, "GET /redirect ", 14) == 0)
        code = "302 Found";
    else if (strncmp(req, "GET /hdr ", 9) == 0)
        code = strstr(req, "\r\nX-Probe: yes\r\n") && strstr(req, "kube-probe/")
                   ? "200 OK"
                   : "400 Bad Request";
    else if (strncmp(req, "GET /hang ", 10) == 0 && s->n_held < MAX_HELD) {
        s->held[s->n_held++] = c;
        return;
    }
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %s\r\nContent-Length: 2\r\nLocation: /ok\r\nConnection: "
                     "close\r\n\r\nok",
                     code);
    if (write(c, resp, (size_t)n) < 0)
        fprintf(stderr, "# http server: write: %s\n", strerror(errno));
    close(c);
}

static void *
srv_main(void *arg)
{
    struct http_srv *s = arg;

    for (int i = 0; i < 10000; i++) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, 5000) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            srv_answer(s, c);
    }
    return NULL;
}

static int
listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static enum podspec_probe_result
probe(const char *json, const json_t *container, char *msg)
{
    _cleanup_json_ json_t *p = json_loads(json, 0, NULL);
    struct podspec_probe_target t = {.pod_ip = "127.0.0.1", .container = container};

    assert_non_null(p);
    return podspec_probe_run(p, &t, msg, 256);
}

static void
test_probes_net(void **state)
{
    struct http_srv s = {.fd = -1};
    char msg[256], js[512];
    int closed_port = 0;

    (void)state;
    s.fd = listen_loopback(&s.port);
    assert_true(s.fd >= 0);
    assert_int_equal(pipe2(s.stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&s.thread, NULL, srv_main, &s), 0);
    int cfd = listen_loopback(&closed_port); /* a port nobody listens on after close */
    assert_true(cfd >= 0);
    close(cfd);
    _cleanup_json_ json_t *container =
        json_pack("{s:[{s:s, s:i}]}", "ports", "name", "http", "containerPort", s.port);

    snprintf(js, sizeof(js), "{\"httpGet\":{\"path\":\"/ok\",\"port\":%d}}", s.port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_SUCCESS);
    snprintf(js, sizeof(js), "{\"httpGet\":{\"path\":\"/fail\",\"port\":%d}}", s.port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_FAILURE);
    assert_string_equal(msg, "HTTP probe failed with statuscode: 500");
    snprintf(js, sizeof(js), "{\"httpGet\":{\"path\":\"/redirect\",\"port\":%d}}", s.port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_SUCCESS);
    snprintf(js, sizeof(js), "{\"httpGet\":{\"path\":\"/missing\",\"port\":\"http\"}}");
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_FAILURE); /* 404, named port */
    snprintf(js, sizeof(js),
             "{\"httpGet\":{\"path\":\"/hdr\",\"port\":\"http\",\"scheme\":\"HTTP\","
             "\"httpHeaders\":[{\"name\":\"X-Probe\",\"value\":\"yes\"}]}}");
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_SUCCESS);
    snprintf(js, sizeof(js), "{\"httpGet\":{\"path\":\"/ok\",\"port\":%d}}", closed_port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_FAILURE);
    /* timeoutSeconds bounds a server that never answers */
    snprintf(js, sizeof(js), "{\"timeoutSeconds\":1,\"httpGet\":{\"path\":\"/hang\",\"port\":%d}}",
             s.port);
    int64_t t0 = k3c_now_ms();
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_FAILURE);
    int64_t took = k3c_now_ms() - t0;
    fprintf(stderr, "# hung httpGet probe failed after %" PRId64 " ms (timeout 1 s)\n", took);
    assert_true(took >= 900 && took < 5000);
    /* tcpSocket */
    snprintf(js, sizeof(js), "{\"tcpSocket\":{\"port\":%d}}", s.port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_SUCCESS);
    assert_int_equal(probe("{\"tcpSocket\":{\"port\":\"http\"}}", container, msg),
                     PODSPEC_PROBE_SUCCESS);
    snprintf(js, sizeof(js), "{\"tcpSocket\":{\"host\":\"127.0.0.1\",\"port\":%d}}", closed_port);
    assert_int_equal(probe(js, container, msg), PODSPEC_PROBE_FAILURE);
    assert_non_null(strstr(msg, "refused"));
    assert_int_equal(probe("{\"tcpSocket\":{\"port\":\"nope\"}}", container, msg),
                     PODSPEC_PROBE_UNKNOWN);

    assert_int_equal(write(s.stop_pipe[1], "x", 1), 1);
    pthread_join(s.thread, NULL);
    for (int i = 0; i < s.n_held; i++)
        close(s.held[i]);
    close(s.fd);
    close(s.stop_pipe[0]);
    close(s.stop_pipe[1]);
}

/* ---- probes: exec in a real container ------------------------------------------------------ */

static int
make_rootfs(const char *rootfs)
{
    static const char *const applets[] = {"sh", "sleep", "true", "false", NULL};
    struct k3c_err err = {0};

    if (harness_busybox_rootfs(rootfs, applets, &err) < 0) {
        fprintf(stderr, "# rootfs: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void
test_probe_exec(void **state)
{
    struct k3c_err err = {0};
    char pod_uid[64], msg[256];

    (void)state;
    if (geteuid() != 0 || !k3c_file_exists("/bin/busybox")) {
        fprintf(stderr, "# exec probe needs root and /bin/busybox; skipped\n");
        skip();
    }
    _cleanup_free_ char *dir = k3c_xasprintf("%s/exec", E.dir);
    _cleanup_free_ char *state_dir = k3c_xasprintf("%s/state", dir);
    _cleanup_free_ char *rootfs = k3c_xasprintf("%s/rootfs", dir);
    assert_int_equal(make_rootfs(rootfs), 0);
    struct runtime_config rc = {.runtime = "runc", .state_dir = state_dir, .cmd_timeout_ms = 20000};
    struct runtime *rt = runtime_new(&rc, &err);
    if (!rt || runtime_probe(rt, &err) < 0) {
        fprintf(stderr, "# runc does not work here (%s); skipped\n", err.msg);
        runtime_free(rt);
        skip();
    }
    snprintf(pod_uid, sizeof(pod_uid), "k3c-podspec-%d", (int)getpid());
    const char *const args[] = {"/bin/sleep", "60", NULL};
    struct runtime_spec spec = {
        .id = "k3c-podspec-exec", .pod_uid = pod_uid, .name = "c", .rootfs = rootfs, .args = args};
    int rcode = runtime_run(rt, &spec, &err);
    if (rcode < 0)
        fprintf(stderr, "# run: %s\n", err.msg);
    if (rcode == 0) {
        struct podspec_probe_target t = {.rt = rt, .container_id = spec.id};
        _cleanup_json_ json_t *ok = json_loads("{\"exec\":{\"command\":[\"true\"]}}", 0, NULL);
        _cleanup_json_ json_t *bad =
            json_loads("{\"exec\":{\"command\":[\"sh\",\"-c\",\"echo no; exit 3\"]}}", 0, NULL);
        _cleanup_json_ json_t *slow =
            json_loads("{\"timeoutSeconds\":1,\"exec\":{\"command\":[\"sleep\",\"10\"]}}", 0, NULL);
        enum podspec_probe_result r1 = podspec_probe_run(ok, &t, msg, sizeof(msg));
        enum podspec_probe_result r2 = podspec_probe_run(bad, &t, msg, sizeof(msg));
        bool said_no = strstr(msg, "exit code 3") && strstr(msg, "no");
        int64_t t0 = k3c_now_ms();
        enum podspec_probe_result r3 = podspec_probe_run(slow, &t, msg, sizeof(msg));
        int64_t took = k3c_now_ms() - t0;
        fprintf(stderr, "# exec probe timeout after %" PRId64 " ms: %s\n", took, msg);
        runtime_delete(rt, spec.id, &err);
        runtime_pod_cgroup_remove(NULL, pod_uid, &err);
        runtime_free(rt);
        assert_int_equal(r1, PODSPEC_PROBE_SUCCESS);
        assert_int_equal(r2, PODSPEC_PROBE_FAILURE);
        assert_true(said_no);
        assert_int_equal(r3, PODSPEC_PROBE_FAILURE);
        assert_true(took < 8000);
        return;
    }
    runtime_free(rt);
    fail_msg("container did not start: %s", err.msg);
}

/* Last: the server (an ASan build in the sanitizer run) exits cleanly
 * and its log has no sanitizer report. */
static void
test_server_log_clean(void **state)
{
    _cleanup_free_ char *log = k3c_xasprintf("%s/k3c.log", E.dir);
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};

    (void)state;
    stop_server();
    assert_int_equal(k3c_read_file(log, &text, NULL, &err), 0);
    assert_null(strstr(text, "AddressSanitizer"));
    assert_null(strstr(text, "LeakSanitizer"));
    assert_null(strstr(text, "runtime error:"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_from_api), cmocka_unit_test(test_node_reads_only_its_refs),
        cmocka_unit_test(test_volumes),      cmocka_unit_test(test_probes_net),
        cmocka_unit_test(test_probe_exec),   cmocka_unit_test(test_server_log_clean),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
