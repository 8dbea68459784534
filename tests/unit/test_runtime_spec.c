/* SPDX-License-Identifier: Apache-2.0
 * test_runtime_spec.c - config.json generation (runtime_spec_to_oci): the
 * process, mounts, namespaces, cgroup path and the kubelet's cpu/memory
 * arithmetic, Docker's defaults, capability add/drop and spec validation. */
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const args[] = {"/bin/sh", "-c", "echo $FOO", NULL};
static const char *const env[] = {"FOO=bar", "PATH=/bin", NULL};
static const char *const annotations[] = {"io.kubernetes.pod.uid", "1234",
                                          "io.kubernetes.container.name", "web", NULL};
static const uint32_t gids[] = {10, 20};
static const struct runtime_mount mounts[] = {
    {.type = RUNTIME_MOUNT_BIND,
     .source = "/var/lib/k3c/pods/1234/volumes/cfg",
     .destination = "/etc/cfg",
     .readonly = true},
    {.type = RUNTIME_MOUNT_BIND,
     .source = "/var/lib/k3c/pods/1234/volumes/data",
     .destination = "/data"},
    {.type = RUNTIME_MOUNT_TMPFS, .destination = "/cache", .tmpfs_size = 1048576},
    {.type = RUNTIME_MOUNT_BIND, .source = "/var/lib/k3c/pods/1234/shm", .destination = "/dev/shm"},
};

static struct runtime_spec
representative(void)
{
    return (struct runtime_spec){
        .id = "c0ffee-web",
        .pod_uid = "1234",
        .name = "web",
        .rootfs = "/var/lib/k3c/rootfs/c0ffee",
        .readonly_rootfs = true,
        .args = args,
        .env = env,
        .cwd = "/srv",
        .uid = 1000,
        .gid = 2000,
        .supplemental_gids = gids,
        .n_supplemental_gids = 2,
        .hostname = "web-0",
        .ns = {.net_path = "/var/run/netns/k3c-1234"},
        .mounts = mounts,
        .n_mounts = K3C_ARRAY_SIZE(mounts),
        .resources = {.cpu_request_millicores = 250,
                      .cpu_limit_millicores = 500,
                      .memory_limit_bytes = 128 << 20,
                      .pids_limit = 100},
        .annotations = annotations,
    };
}

static json_t *
find_by(json_t *array, const char *key, const char *value)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));

        if (s && strcmp(s, value) == 0)
            return v;
    }
    return NULL;
}

static bool
has_string(json_t *array, const char *value)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

static void
test_process_fields(void **state)
{
    struct runtime_spec spec = representative();
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = runtime_spec_to_oci(&spec, &err);
    json_t *proc, *user, *a, *rl;

    (void)state;
    assert_non_null(cfg);
    assert_string_equal(json_string_value(json_object_get(cfg, "ociVersion")), "1.0.2");
    proc = json_object_get(cfg, "process");
    a = json_object_get(proc, "args");
    assert_int_equal(json_array_size(a), 3);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "/bin/sh");
    assert_string_equal(json_string_value(json_array_get(a, 2)), "echo $FOO");
    a = json_object_get(proc, "env");
    assert_int_equal(json_array_size(a), 2); /* PATH given: no default added */
    assert_true(has_string(a, "FOO=bar"));
    assert_true(has_string(a, "PATH=/bin"));
    assert_string_equal(json_string_value(json_object_get(proc, "cwd")), "/srv");
    assert_false(json_is_true(json_object_get(proc, "terminal")));
    user = json_object_get(proc, "user");
    assert_int_equal(json_integer_value(json_object_get(user, "uid")), 1000);
    assert_int_equal(json_integer_value(json_object_get(user, "gid")), 2000);
    assert_int_equal(json_array_size(json_object_get(user, "additionalGids")), 2);
    rl = json_array_get(json_object_get(proc, "rlimits"), 0);
    assert_string_equal(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
    assert_int_equal(json_integer_value(json_object_get(rl, "hard")), RUNTIME_NOFILE);
    assert_int_equal(json_integer_value(json_object_get(rl, "soft")), RUNTIME_NOFILE);
    assert_string_equal(json_string_value(json_object_get(cfg, "hostname")), "web-0");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "root"), "path")),
                        "/var/lib/k3c/rootfs/c0ffee");
    assert_true(json_is_true(json_object_get(json_object_get(cfg, "root"), "readonly")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "annotations"),
                                                          "io.kubernetes.container.name")),
                        "web");
    assert_null(json_object_get(json_object_get(cfg, "linux"), "seccomp"));
}

static void
test_default_path_and_tty(void **state)
{
    struct runtime_spec spec = representative();
    const char *const no_path[] = {"A=1", NULL};
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = NULL;
    json_t *e;

    (void)state;
    spec.env = no_path;
    spec.tty = true;
    spec.cwd = NULL;
    cfg = runtime_spec_to_oci(&spec, &err);
    assert_non_null(cfg);
    e = json_object_get(json_object_get(cfg, "process"), "env");
    assert_int_equal(json_array_size(e), 3);
    assert_true(strncmp(json_string_value(json_array_get(e, 0)), "PATH=/usr/local/sbin:", 21) == 0);
    assert_true(has_string(e, "TERM=xterm"));
    assert_true(json_is_true(json_object_get(json_object_get(cfg, "process"), "terminal")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "process"), "cwd")),
                        "/");
}

static void
test_mounts(void **state)
{
    struct runtime_spec spec = representative();
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = runtime_spec_to_oci(&spec, &err);
    json_t *m, *mt;
    size_t i, shm = 0;

    (void)state;
    assert_non_null(cfg);
    m = json_object_get(cfg, "mounts");
    /* Defaults. */
    mt = find_by(m, "destination", "/proc");
    assert_non_null(mt);
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "proc");
    mt = find_by(m, "destination", "/dev");
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "tmpfs");
    assert_non_null(find_by(m, "destination", "/dev/pts"));
    assert_non_null(find_by(m, "destination", "/dev/mqueue"));
    mt = find_by(m, "destination", "/sys");
    assert_true(has_string(json_object_get(mt, "options"), "ro"));
    mt = find_by(m, "destination", "/sys/fs/cgroup");
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "cgroup");
    assert_true(has_string(json_object_get(mt, "options"), "ro"));
    /* Volumes become binds with the CRI default propagation. */
    mt = find_by(m, "destination", "/etc/cfg");
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "bind");
    assert_string_equal(json_string_value(json_object_get(mt, "source")),
                        "/var/lib/k3c/pods/1234/volumes/cfg");
    assert_true(has_string(json_object_get(mt, "options"), "rbind"));
    assert_true(has_string(json_object_get(mt, "options"), "rprivate"));
    assert_true(has_string(json_object_get(mt, "options"), "ro"));
    mt = find_by(m, "destination", "/data");
    assert_true(has_string(json_object_get(mt, "options"), "rw"));
    mt = find_by(m, "destination", "/cache");
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "tmpfs");
    assert_true(has_string(json_object_get(mt, "options"), "size=1048576"));
    /* A volume at /dev/shm replaces the default shm mount. */
    json_array_foreach(m, i, mt)
    {
        if (strcmp(json_string_value(json_object_get(mt, "destination")), "/dev/shm") == 0)
            shm++;
    }
    assert_int_equal(shm, 1);
    mt = find_by(m, "destination", "/dev/shm");
    assert_string_equal(json_string_value(json_object_get(mt, "type")), "bind");
}

static void
test_namespaces_and_paths(void **state)
{
    struct runtime_spec spec = representative();
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = runtime_spec_to_oci(&spec, &err);
    json_t *lx, *ns, *n;

    (void)state;
    assert_non_null(cfg);
    lx = json_object_get(cfg, "linux");
    ns = json_object_get(lx, "namespaces");
    assert_int_equal(json_array_size(ns), 5);
    n = find_by(ns, "type", "network");
    assert_string_equal(json_string_value(json_object_get(n, "path")), "/var/run/netns/k3c-1234");
    for (size_t i = 0; i < 4; i++) {
        const char *t[] = {"pid", "ipc", "uts", "mount"};

        n = find_by(ns, "type", t[i]);
        assert_non_null(n);
        assert_null(json_object_get(n, "path"));
    }
    assert_string_equal(json_string_value(json_object_get(lx, "cgroupsPath")), "/k3c/1234/web");
    assert_true(has_string(json_object_get(lx, "maskedPaths"), "/proc/kcore"));
    assert_true(has_string(json_object_get(lx, "maskedPaths"), "/sys/firmware"));
    assert_true(has_string(json_object_get(lx, "readonlyPaths"), "/proc/sys"));
    assert_true(has_string(json_object_get(lx, "readonlyPaths"), "/proc/sysrq-trigger"));

    /* hostNetwork: no network or uts namespace, no hostname. */
    json_decref(cfg);
    spec.ns = (struct runtime_namespaces){.host_network = true};
    cfg = runtime_spec_to_oci(&spec, &err);
    assert_non_null(cfg);
    ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");
    assert_int_equal(json_array_size(ns), 3);
    assert_null(find_by(ns, "type", "network"));
    assert_null(find_by(ns, "type", "uts"));
    assert_null(json_object_get(cfg, "hostname"));
}

static void
test_resources(void **state)
{
    struct runtime_spec spec = representative();
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = runtime_spec_to_oci(&spec, &err);
    json_t *res, *dev;

    (void)state;
    assert_non_null(cfg);
    res = json_object_get(json_object_get(cfg, "linux"), "resources");
    /* cpu.shares = millicores * 1024 / 1000; quota over a 100000us period. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")),
                     250 * 1024 / 1000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")),
                     50000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")),
                     100000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     128 << 20);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")),
                     100);
    dev = json_array_get(json_object_get(res, "devices"), 0);
    assert_false(json_is_true(json_object_get(dev, "allow")));
    assert_string_equal(json_string_value(json_object_get(dev, "access")), "rwm");

    /* No request and no limits: MinShares, no quota, no memory or pids. */
    json_decref(cfg);
    spec.resources = (struct runtime_resources){0};
    cfg = runtime_spec_to_oci(&spec, &err);
    res = json_object_get(json_object_get(cfg, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")),
                     RUNTIME_MIN_SHARES);
    assert_null(json_object_get(json_object_get(res, "cpu"), "quota"));
    assert_null(json_object_get(res, "memory"));
    assert_null(json_object_get(res, "pids"));

    /* 1m limit is raised to the kubelet's 1ms minimum quota; 2 cpus = 2048. */
    json_decref(cfg);
    spec.resources =
        (struct runtime_resources){.cpu_request_millicores = 2000, .cpu_limit_millicores = 1};
    cfg = runtime_spec_to_oci(&spec, &err);
    res = json_object_get(json_object_get(cfg, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")),
                     2048);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")),
                     1000);
}

static void
test_capabilities(void **state)
{
    struct runtime_spec spec = representative();
    const char *const add[] = {"NET_ADMIN", "CAP_SYS_TIME", NULL};
    const char *const drop[] = {"net_raw", "MKNOD", NULL};
    const char *const drop_all[] = {"ALL", NULL};
    const char *const bad[] = {"CAP_FLY", NULL};
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = runtime_spec_to_oci(&spec, &err);
    json_t *caps, *b;

    (void)state;
    caps = json_object_get(json_object_get(cfg, "process"), "capabilities");
    b = json_object_get(caps, "bounding");
    assert_int_equal(json_array_size(b), 14);
    assert_true(has_string(b, "CAP_CHOWN"));
    assert_true(has_string(b, "CAP_NET_BIND_SERVICE"));
    assert_true(has_string(b, "CAP_AUDIT_WRITE"));
    assert_false(has_string(b, "CAP_SYS_ADMIN"));
    assert_true(json_equal(b, json_object_get(caps, "effective")));
    assert_true(json_equal(b, json_object_get(caps, "permitted")));

    json_decref(cfg);
    spec.cap_add = add;
    spec.cap_drop = drop;
    cfg = runtime_spec_to_oci(&spec, &err);
    b = json_object_get(json_object_get(json_object_get(cfg, "process"), "capabilities"),
                        "bounding");
    assert_int_equal(json_array_size(b), 14);
    assert_true(has_string(b, "CAP_NET_ADMIN"));
    assert_true(has_string(b, "CAP_SYS_TIME"));
    assert_false(has_string(b, "CAP_NET_RAW"));
    assert_false(has_string(b, "CAP_MKNOD"));

    json_decref(cfg);
    spec.cap_drop = drop_all;
    cfg = runtime_spec_to_oci(&spec, &err);
    b = json_object_get(json_object_get(json_object_get(cfg, "process"), "capabilities"),
                        "bounding");
    assert_int_equal(json_array_size(b), 2);

    json_decref(cfg);
    spec.cap_add = bad;
    cfg = runtime_spec_to_oci(&spec, &err);
    assert_null(cfg);
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_privileged(void **state)
{
    struct runtime_spec spec = representative();
    struct k3c_err err = {0};
    _cleanup_json_ json_t *cfg = NULL;
    json_t *lx, *b, *sys;

    (void)state;
    spec.privileged = true;
    cfg = runtime_spec_to_oci(&spec, &err);
    assert_non_null(cfg);
    lx = json_object_get(cfg, "linux");
    assert_null(json_object_get(lx, "maskedPaths"));
    assert_null(json_object_get(lx, "readonlyPaths"));
    b = json_object_get(json_object_get(json_object_get(cfg, "process"), "capabilities"),
                        "bounding");
    assert_int_equal(json_array_size(b), 41);
    assert_true(has_string(b, "CAP_SYS_ADMIN"));
    sys = find_by(json_object_get(cfg, "mounts"), "destination", "/sys");
    assert_false(has_string(json_object_get(sys, "options"), "ro"));
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(json_object_get(lx, "resources"), "devices"), 0), "allow")));
}

static void
test_validation(void **state)
{
    struct runtime_spec spec;
    struct k3c_err err = {0};
    const char *const empty[] = {NULL};
    const char *const bad_env[] = {"NOEQUALS", NULL};
    const char *const odd[] = {"k", NULL};
    const struct runtime_mount rel = {
        .type = RUNTIME_MOUNT_BIND, .source = "rel", .destination = "/x"};
    const char *const bad_ids[] = {"", ".hidden", "a/b", "a b",
                                   "0123456789012345678901234567890123456789012345678901234567890"
                                   "12345"};

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad_ids); i++) {
        spec = representative();
        spec.id = bad_ids[i];
        assert_null(runtime_spec_to_oci(&spec, &err));
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    assert_true(runtime_id_valid("k3c_abc-1.2"));
    spec = representative();
    spec.args = empty;
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.rootfs = "relative/rootfs";
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.env = bad_env;
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.annotations = odd;
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.mounts = &rel;
    spec.n_mounts = 1;
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.pod_uid = "../escape";
    assert_null(runtime_spec_to_oci(&spec, &err));
    spec = representative();
    spec.ns.net_path = "netns";
    assert_null(runtime_spec_to_oci(&spec, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_cgroup_path(void **state)
{
    struct runtime_spec spec = representative();
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

    (void)state;
    a = runtime_spec_cgroup_path(&spec);
    assert_string_equal(a, "/k3c/1234/web");
    spec.pod_uid = NULL;
    spec.name = NULL;
    b = runtime_spec_cgroup_path(&spec);
    assert_string_equal(b, "/k3c/c0ffee-web");
    spec.cgroup_parent = "/";
    spec.pod_uid = "p";
    c = runtime_spec_cgroup_path(&spec);
    assert_string_equal(c, "/p/c0ffee-web");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_fields), cmocka_unit_test(test_default_path_and_tty),
        cmocka_unit_test(test_mounts),         cmocka_unit_test(test_namespaces_and_paths),
        cmocka_unit_test(test_resources),      cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_privileged),     cmocka_unit_test(test_validation),
        cmocka_unit_test(test_cgroup_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
