/* SPDX-License-Identifier: Apache-2.0
 * test_deviceplugin.c - the kubelet's device-plugin API v1beta1 (issue
 * #18) against tests/deviceplugin/test_plugin.py, a plugin written with
 * the real gRPC library (python3-grpcio): registration, the devices and
 * their health from ListAndWatch, GetPreferredAllocation + Allocate +
 * PreStartContainer through the CDI allocator, a plugin killed and
 * started again, the kubelet's socket made anew (re-registration; the
 * last run's devices in capacity until then: its checkpoint), bad
 * registrations refused with gRPC's codes; and the Allocate answer's
 * checks (pure). No root needed. */
#include "deviceplugin/deviceplugin.h"
#include "grpc/grpc_conn.h"
#include "api.pb-c.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "cdi/cdi.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef TEST_PLUGIN
#error TEST_PLUGIN: the path of tests/deviceplugin/test_plugin.py
#endif

static char tmp[] = "/tmp/k3c-test-dp-XXXXXX";
static char *dir, *log_path, *bad_file;
static struct deviceplugin *dp;
static pid_t plugin_pid;

static pid_t
plugin_run(const char *const *extra, int out_fd)
{
    _cleanup_free_ char *mnt = k3c_xasprintf("%s/share", tmp);
    const char *argv[24] = {
        "/usr/bin/python3", TEST_PLUGIN, "--dir",       dir, "--log",      log_path,
        "--unhealthy-file", bad_file,    "--mount-src", mnt, "--dev-node", "/dev/null"};
    size_t n = 12;
    pid_t pid;

    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void
plugin_stop(int sig)
{
    if (plugin_pid > 0) {
        kill(plugin_pid, sig);
        waitpid(plugin_pid, NULL, 0);
    }
    plugin_pid = 0;
}

static long long
count(bool healthy, const char *res)
{
    _cleanup_json_ json_t *r = deviceplugin_resources(dp, healthy);
    json_t *v = json_object_get(r, res);

    return v ? json_integer_value(v) : -1;
}

/* Polls for capacity/allocatable, 30 s at most (python starts slowly on a
 * busy box). */
static bool
wait_counts(long long cap, long long alloc)
{
    for (int i = 0; i < 300; i++) {
        if (count(false, "example.com/foo") == cap && count(true, "example.com/foo") == alloc)
            return true;
        k3c_sleep_ms(100);
    }
    fprintf(stderr, "counts: %lld/%lld, want %lld/%lld\n", count(false, "example.com/foo"),
            count(true, "example.com/foo"), cap, alloc);
    return false;
}

static bool
log_has(const char *line)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};

    for (int i = 0; i < 100; i++) {
        free(text);
        text = NULL;
        if (k3c_read_file(log_path, &text, NULL, &err) == 0 && strstr(text, line))
            return true;
        k3c_err_clear(&err);
        k3c_sleep_ms(100);
    }
    return false;
}

static int
setup(void **state)
{
    struct k3c_err err = {0};
    _cleanup_free_ char *share = NULL;

    (void)state;
    if (!mkdtemp(tmp))
        return -1;
    dir = k3c_xasprintf("%s/device-plugins", tmp);
    log_path = k3c_xasprintf("%s/plugin.log", tmp);
    bad_file = k3c_xasprintf("%s/dev-0-unhealthy", tmp);
    share = k3c_xasprintf("%s/share", tmp);
    mkdir(share, 0755);
    dp = deviceplugin_new(dir, &err);
    if (!dp) {
        fprintf(stderr, "deviceplugin_new: %s\n", err.msg);
        return -1;
    }
    plugin_pid = plugin_run(NULL, -1);
    return 0;
}

static int
teardown(void **state)
{
    _cleanup_free_ char *cmd = k3c_xasprintf("rm -rf %s", tmp);

    (void)state;
    plugin_stop(SIGTERM);
    deviceplugin_free(dp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    free(dir);
    free(log_path);
    free(bad_file);
    return 0;
}

static void
test_register_and_health(void **state)
{
    (void)state;
    assert_true(wait_counts(3, 3));
    assert_true(deviceplugin_serves(dp, "example.com/foo"));
    assert_false(deviceplugin_serves(dp, "example.com/bar"));
    assert_true(deviceplugin_take_changed(dp));
    assert_false(deviceplugin_take_changed(dp));
    /* dev-0 unhealthy: out of allocatable, still in capacity */
    assert_int_equal(k3c_write_file(bad_file, "", 0, 0644, &(struct k3c_err){0}), 0);
    assert_true(wait_counts(3, 2));
    assert_true(deviceplugin_take_changed(dp));
    unlink(bad_file);
    assert_true(wait_counts(3, 3));
}

static const char *
env_of(const json_t *edits, const char *prefix)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(edits, "env"), i,
                       e) if (strncmp(json_string_value(e), prefix, strlen(prefix)) ==
                              0) return json_string_value(e);
    return NULL;
}

static void
test_allocate(void **state)
{
    _cleanup_free_ char *cp = k3c_xasprintf("%s/checkpoint.json", tmp);
    struct k3c_err err = {0};
    struct cdi_alloc *alloc = cdi_alloc_new(cp, &err);
    _cleanup_json_ json_t *e1 = json_object(), *e2 = json_object(), *e3 = json_object();
    char **cdi = NULL;

    (void)state;
    assert_non_null(alloc);
    assert_true(wait_counts(3, 3));
    /* the plugin prefers the highest-numbered free devices */
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid1/c", "example.com/foo", 1, e1, &cdi, &err), 0);
    assert_string_equal(env_of(e1, "FOO_DEVICES="), "FOO_DEVICES=dev-2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e1, "annotations"),
                                                          "example.com/foo.devices")),
                        "dev-2");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(e1, "mounts"), 0), "containerPath")),
                        "/var/run/foo");
    assert_string_equal(
        json_string_value(json_array_get(
            json_object_get(json_array_get(json_object_get(e1, "mounts"), 0), "options"), 1)),
        "ro");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(e1, "deviceNodes"), 0), "path")),
                        "/dev/foo0");
    assert_null(cdi);
    assert_true(log_has("GetPreferredAllocation available=dev-0,dev-1,dev-2 size=1 -> dev-2"));
    assert_true(log_has("PreStartContainer dev-2"));
    /* the same owner again (a restarted container): the same device */
    json_decref(e1);
    e1 = json_object();
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid1/c", "example.com/foo", 1, e1, &cdi, &err), 0);
    assert_string_equal(env_of(e1, "FOO_DEVICES="), "FOO_DEVICES=dev-2");
    /* a figure, not a check: a container start's three calls (preferred,
     * Allocate, PreStartContainer), each on a fresh connection */
    {
        int64_t t0 = k3c_now_ms();

        for (int i = 0; i < 20; i++) {
            json_decref(e1);
            e1 = json_object();
            assert_int_equal(
                deviceplugin_allocate(dp, alloc, "uid1/c", "example.com/foo", 1, e1, &cdi, &err),
                0);
        }
        printf("# deviceplugin_allocate: %.1f ms per container (3 calls)\n",
               (double)(k3c_now_ms() - t0) / 20);
    }
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid2/c", "example.com/foo", 2, e2, &cdi, &err), 0);
    assert_string_equal(env_of(e2, "FOO_DEVICES="), "FOO_DEVICES=dev-0,dev-1");
    assert_int_equal(cdi_alloc_n_held(alloc), 3);
    /* none left (two free for two: no preference asked) */
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid3/c", "example.com/foo", 1, e3, &cdi, &err), -1);
    assert_int_equal(err.kind, K3C_E_CONFLICT);
    assert_non_null(strstr(err.msg, "Insufficient example.com/foo"));
    k3c_err_clear(&err);
    /* freed: the device goes to the next owner */
    assert_int_equal(cdi_alloc_release(alloc, "uid2/"), 2);
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid3/c", "example.com/foo", 1, e3, &cdi, &err), 0);
    assert_string_equal(env_of(e3, "FOO_DEVICES="), "FOO_DEVICES=dev-1");
    /* a resource no plugin serves */
    assert_int_equal(
        deviceplugin_allocate(dp, alloc, "uid4/c", "example.com/bar", 1, e3, &cdi, &err), -1);
    assert_non_null(strstr(err.msg, "no device plugin serves it"));
    cdi_alloc_free(alloc);
}

static void
test_plugin_restart(void **state)
{
    (void)state;
    assert_true(wait_counts(3, 3));
    plugin_stop(SIGKILL);
    /* the stream ends: nothing allocatable, capacity kept */
    assert_true(wait_counts(3, 0));
    plugin_pid = plugin_run(NULL, -1);
    assert_true(wait_counts(3, 3));
}

static void
test_kubelet_restart(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    assert_true(wait_counts(3, 3));
    deviceplugin_free(dp);
    dp = deviceplugin_new(dir, &err);
    assert_non_null(dp);
    /* the plugin sees kubelet.sock made anew and registers again */
    assert_true(wait_counts(3, 3));
    /* with the plugin down: the last run's devices in capacity (the
     * checkpoint), none allocatable, until it registers */
    plugin_stop(SIGKILL);
    deviceplugin_free(dp);
    dp = deviceplugin_new(dir, &err);
    assert_non_null(dp);
    assert_int_equal(count(false, "example.com/foo"), 3);
    assert_int_equal(count(true, "example.com/foo"), 0);
    assert_true(deviceplugin_take_changed(dp));
    plugin_pid = plugin_run(NULL, -1);
    assert_true(wait_counts(3, 3));
}

static char *
register_once(const char *const *extra)
{
    char path[] = "/tmp/k3c-test-dp-out-XXXXXX";
    int fd = mkstemp(path);
    char *text = NULL;
    pid_t pid;

    assert_true(fd >= 0);
    pid = plugin_run(extra, fd);
    waitpid(pid, NULL, 0);
    close(fd);
    assert_int_equal(k3c_read_file(path, &text, NULL, &(struct k3c_err){0}), 0);
    unlink(path);
    return text;
}

static void
test_bad_registrations(void **state)
{
    const char *version[] = {"--register-once", "--version", "v1alpha1", NULL};
    const char *native[] = {"--register-once", "--resource", "kubernetes.io/foo", NULL};
    const char *noslash[] = {"--register-once", "--resource", "foo", NULL};
    const char *escape[] = {"--register-once", "--socket", "../x.sock", NULL};
    const char *nobody[] = {"--register-once", "--socket", "nobody.sock", NULL};
    char *out;

    (void)state;
    out = register_once(version);
    assert_non_null(strstr(out, "refused: INVALID_ARGUMENT: Unsupported version: v1alpha1"));
    free(out);
    out = register_once(native);
    assert_non_null(strstr(out, "refused: INVALID_ARGUMENT: invalid resource name"));
    free(out);
    out = register_once(noslash);
    assert_non_null(strstr(out, "refused: INVALID_ARGUMENT: invalid resource name"));
    free(out);
    out = register_once(escape);
    assert_non_null(strstr(out, "refused: INVALID_ARGUMENT: invalid endpoint"));
    free(out);
    out = register_once(nobody);
    assert_non_null(strstr(out, "refused: UNKNOWN: failed to dial device plugin"));
    free(out);
    /* the good plugin is still served */
    assert_true(deviceplugin_serves(dp, "example.com/foo"));
}

/* ---- the Allocate answer's checks (pure) -------------------------------- */

static int
edits_of(V1beta1__ContainerAllocateResponse *c, json_t *edits, char ***cdi, struct k3c_err *err)
{
    V1beta1__ContainerAllocateResponse *cs[] = {c};
    V1beta1__AllocateResponse r = V1BETA1__ALLOCATE_RESPONSE__INIT;
    uint8_t buf[4096];
    size_t len;

    r.n_container_responses = 1;
    r.container_responses = cs;
    len = v1beta1__allocate_response__pack(&r, buf);
    return deviceplugin_response_edits(buf, len, edits, cdi, err);
}

static void
test_response_checks(void **state)
{
    V1beta1__ContainerAllocateResponse c = V1BETA1__CONTAINER_ALLOCATE_RESPONSE__INIT;
    V1beta1__Mount m = V1BETA1__MOUNT__INIT;
    V1beta1__Mount *ms[] = {&m};
    V1beta1__CDIDevice d = V1BETA1__CDIDEVICE__INIT;
    V1beta1__CDIDevice *ds[] = {&d};
    V1beta1__ContainerAllocateResponse__EnvsEntry env =
        V1BETA1__CONTAINER_ALLOCATE_RESPONSE__ENVS_ENTRY__INIT;
    V1beta1__ContainerAllocateResponse__EnvsEntry *envs[] = {&env};
    _cleanup_json_ json_t *edits = json_object();
    struct k3c_err err = {0};
    char **cdi = NULL;
    uint8_t junk[] = {0x0a, 0xff, 0xff};

    (void)state;
    m.container_path = "/x";
    m.host_path = "relative";
    c.n_mounts = 1;
    c.mounts = ms;
    assert_int_equal(edits_of(&c, edits, &cdi, &err), -1);
    assert_non_null(strstr(err.msg, "mounts[0]: absolute paths wanted"));
    m.host_path = "/a/../etc";
    assert_int_equal(edits_of(&c, edits, &cdi, &err), -1);
    c.n_mounts = 0;
    env.key = "A=B";
    env.value = "x";
    c.n_envs = 1;
    c.envs = envs;
    assert_int_equal(edits_of(&c, edits, &cdi, &err), -1);
    assert_non_null(strstr(err.msg, "envs: bad name"));
    c.n_envs = 0;
    d.name = "not-a-cdi-name";
    c.n_cdi_devices = 1;
    c.cdi_devices = ds;
    assert_int_equal(edits_of(&c, edits, &cdi, &err), -1);
    d.name = "vendor.com/gpu=gpu0";
    assert_int_equal(edits_of(&c, edits, &cdi, &err), 0);
    assert_string_equal(cdi[0], "vendor.com/gpu=gpu0");
    assert_null(cdi[1]);
    k3c_strv_free(cdi);
    cdi = NULL;
    c.n_cdi_devices = 0;
    /* CDI's annotation form: the names go with the CDI devices */
    {
        V1beta1__ContainerAllocateResponse__AnnotationsEntry a =
            V1BETA1__CONTAINER_ALLOCATE_RESPONSE__ANNOTATIONS_ENTRY__INIT;
        V1beta1__ContainerAllocateResponse__AnnotationsEntry *as[] = {&a};

        a.key = "cdi.k8s.io/nvidia-device-plugin_x";
        a.value = "nvidia.com/gpu=GPU-1,nvidia.com/gpu=GPU-2";
        c.n_annotations = 1;
        c.annotations = as;
        assert_int_equal(edits_of(&c, edits, &cdi, &err), 0);
        assert_string_equal(cdi[0], "nvidia.com/gpu=GPU-1");
        assert_string_equal(cdi[1], "nvidia.com/gpu=GPU-2");
        assert_null(cdi[2]);
        k3c_strv_free(cdi);
        cdi = NULL;
        a.value = "no-kind";
        assert_int_equal(edits_of(&c, edits, &cdi, &err), -1);
        assert_non_null(strstr(err.msg, "is not vendor/class=name"));
        c.n_annotations = 0;
    }
    /* two container answers for one container, and junk */
    {
        V1beta1__ContainerAllocateResponse *cs[] = {&c, &c};
        V1beta1__AllocateResponse r = V1BETA1__ALLOCATE_RESPONSE__INIT;
        uint8_t buf[256];
        size_t len;

        r.n_container_responses = 2;
        r.container_responses = cs;
        len = v1beta1__allocate_response__pack(&r, buf);
        assert_int_equal(deviceplugin_response_edits(buf, len, edits, &cdi, &err), -1);
        assert_non_null(strstr(err.msg, "2 container responses"));
    }
    assert_int_equal(deviceplugin_response_edits(junk, sizeof(junk), edits, &cdi, &err), -1);
    assert_non_null(strstr(err.msg, "does not parse"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_checks), cmocka_unit_test(test_register_and_health),
        cmocka_unit_test(test_allocate),        cmocka_unit_test(test_bad_registrations),
        cmocka_unit_test(test_plugin_restart),  cmocka_unit_test(test_kubelet_restart),
    };

    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null") != 0 ||
        system("command -v protoc >/dev/null") != 0) {
        printf("SKIP: needs python3-grpcio, python3-protobuf and protoc\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
