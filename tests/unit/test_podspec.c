/* SPDX-License-Identifier: Apache-2.0
 * test_podspec.c - pure parts of podspec: quantities, resources, env with
 * $(VAR) expansion and refs (a table stands in for the API), argv, fieldRef,
 * the probe state machine, securityContext and volumeMount mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "podspec/podspec.h"
#include "base/cleanup.h"
#include "base/util.h"

/* ---- quantities ---------------------------------------------------------- */

struct qcase {
    const char *s;
    int64_t milli, value;
};

static void
test_quantities(void **state)
{
    static const struct qcase ok[] = {
        {"100m", 100, 1},
        {"0.5", 500, 1},
        {"2", 2000, 2},
        {"128Mi", 128LL * 1024 * 1024 * 1000, 128LL * 1024 * 1024},
        {"1G", 1000000000000LL, 1000000000},
        {"1e3", 1000000, 1000},
        {"1.5Gi", 1610612736000LL, 1610612736},
        {"1Ki", 1024000, 1024},
        {"1k", 1000000, 1000},
        {"250u", 1, 1},
        {"0", 0, 0},
        {"+3", 3000, 3},
        {"-1", -1000, -1},
        {".5", 500, 1},
        {"1E", 0, 1000000000000000000LL},
        {"2E-3", 2, 1},
        {"1.001", 1001, 2},
        {"0.5Ki", 512000, 512},
        {"123456789012345678901234e-20", 1234568, 1235},
    };
    static const char *const bad[] = {"",     "abc",  "1x", "1.2.3", "Mi",
                                      "1 Mi", "1Gi2", "e3", "9Ei",   "1e100"};
    struct k3c_err err = {0};
    int64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(ok[i].s, "1E") == 0) { /* milli overflows int64 */
            assert_int_equal(podspec_quantity_milli(ok[i].s, &v, &err), -1);
        } else {
            assert_int_equal(podspec_quantity_milli(ok[i].s, &v, &err), 0);
            assert_int_equal(v, ok[i].milli);
        }
        assert_int_equal(podspec_quantity_value(ok[i].s, &v, &err), 0);
        assert_int_equal(v, ok[i].value);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        k3c_err_clear(&err);
        assert_int_equal(podspec_quantity_value(bad[i], &v, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    _cleanup_json_ json_t *n = json_integer(4);
    assert_int_equal(podspec_quantity_json_milli(n, &v, &err), 0);
    assert_int_equal(v, 4000);
}

static void
test_resources(void **state)
{
    struct runtime_resources r;
    struct k3c_err err = {0};

    (void)state;
    _cleanup_json_ json_t *c =
        json_pack("{s:{s:{s:s, s:s}, s:{s:s}}}", "resources", "limits", "cpu", "500m", "memory",
                  "64Mi", "requests", "memory", "32Mi");
    assert_int_equal(podspec_container_resources(c, &r, &err), 0);
    assert_int_equal(r.cpu_limit_millicores, 500);
    assert_int_equal(r.cpu_request_millicores, 500); /* defaulted from the limit */
    assert_int_equal(r.memory_limit_bytes, 64 * 1024 * 1024);
    _cleanup_json_ json_t *c2 = json_pack("{s:{s:{s:s}}}", "resources", "requests", "cpu", "0.25");
    assert_int_equal(podspec_container_resources(c2, &r, &err), 0);
    assert_int_equal(r.cpu_request_millicores, 250);
    assert_int_equal(r.cpu_limit_millicores, 0);
    assert_int_equal(r.memory_limit_bytes, 0);
    _cleanup_json_ json_t *c3 = json_pack("{s:{s:{s:s}}}", "resources", "limits", "memory", "lots");
    assert_int_equal(podspec_container_resources(c3, &r, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "resources.limits.memory"));
}

/* ---- env --------------------------------------------------------------------- */

/* A fake API: configmaps/default/cm and secrets/default/sec. */
static json_t *
table_fetch(void *ud, const char *kind, const char *ns, const char *name, struct k3c_err *err)
{
    int *calls = ud;

    (*calls)++;
    if (strcmp(ns, "default") == 0 && strcmp(kind, "configmaps") == 0 && strcmp(name, "cm") == 0)
        return json_pack("{s:{s:s, s:s, s:s}}", "data", "color", "blue", "size", "L", "bad key",
                         "x");
    if (strcmp(ns, "default") == 0 && strcmp(kind, "secrets") == 0 && strcmp(name, "sec") == 0)
        return json_pack("{s:{s:s}}", "data", "password", "aHVudGVyMg==" /* hunter2 */);
    k3c_err_set(err, K3C_E_NOT_FOUND, "%s %s/%s not found (test)", kind, ns, name);
    return NULL;
}

static json_t *
test_pod(void)
{
    return json_pack("{s:{s:s, s:s, s:s, s:{s:s}, s:{s:s}},"
                     " s:{s:s, s:[{s:s, s:{s:{s:s}}}]}, s:{s:s, s:s}}",
                     "metadata", "name", "web", "namespace", "default", "uid", "u-1", "labels",
                     "app", "web", "annotations", "note", "hi", "spec", "nodeName", "node1",
                     "containers", "name", "c", "resources", "limits", "memory", "64Mi", "status",
                     "podIP", "10.42.0.5", "hostIP", "192.168.1.2");
}

static const char *
env_get(char **env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

static void
test_expand(void **state)
{
    static const char *const env[] = {"A=1", "B=two", "A=3", NULL};
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"$(A)", "3"}, {"x$(B)y", "xtwoy"}, {"$$(A)", "$(A)"}, {"$(C)", "$(C)"},     {"$(A", "$(A"},
        {"$x", "$x"},  {"end$", "end$"},    {"$$$$", "$$"},    {"$(A)$(B)", "3two"}, {"", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *got = podspec_expand(cases[i].in, env);
        assert_string_equal(got, cases[i].out);
    }
}

static void
test_env_build(void **state)
{
    int calls = 0;
    struct k3c_err err = {0};
    _cleanup_json_ json_t *pod = test_pod();
    static const char *const svc[] = {"KUBERNETES_SERVICE_HOST=10.43.0.1", "FOO=svc", NULL};
    static const char *const image_env[] = {"PATH=/bin", "FOO=image", NULL};
    struct podspec_ctx ctx = {.pod = pod,
                              .fetch = table_fetch,
                              .fetch_ud = &calls,
                              .service_env = svc,
                              .node_cpu_millicores = 4000};
    (void)state;

    _cleanup_json_ json_t *c = json_loads(
        "{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"64Mi\"}},"
        "\"envFrom\":[{\"configMapRef\":{\"name\":\"cm\"},\"prefix\":\"CM_\"},"
        "             {\"secretRef\":{\"name\":\"missing\",\"optional\":true}}],"
        "\"env\":[{\"name\":\"FOO\",\"value\":\"bar\"},"
        "        {\"name\":\"BAZ\",\"value\":\"$(FOO)-$(CM_color)-$$(FOO)-$(NOPE)\"},"
        "        {\"name\":\"SVC\",\"value\":\"$(KUBERNETES_SERVICE_HOST)\"},"
        "        "
        "{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"sec\",\"key\":\"password\"}}}"
        ","
        "        "
        "{\"name\":\"SZ\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cm\",\"key\":\"size\"}}},"
        "        "
        "{\"name\":\"OPT\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cm\",\"key\":\"no\","
        "\"optional\":true}}},"
        "        {\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
        "        "
        "{\"name\":\"APP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['app']\"}}}"
        ","
        "        {\"name\":\"IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},"
        "        "
        "{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}}},"
        "        "
        "{\"name\":\"MEM\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":\"limits.memory\","
        "\"divisor\":\"1Mi\"}}},"
        "        "
        "{\"name\":\"CPU\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":\"limits.cpu\"}}}]}",
        0, NULL);
    assert_non_null(c);
    char **env = podspec_env_build(&ctx, c, image_env, &err);
    assert_non_null(env);
    assert_string_equal(env[0], "PATH=/bin");
    assert_string_equal(env[1], "FOO=bar"); /* image FOO replaced in place */
    assert_string_equal(env_get(env, "CM_color"), "blue");
    assert_null(env_get(env, "CM_bad key"));
    assert_string_equal(env_get(env, "BAZ"), "bar-blue-$(FOO)-$(NOPE)");
    assert_string_equal(env_get(env, "SVC"), "10.43.0.1");
    assert_string_equal(env_get(env, "PW"), "hunter2");
    assert_string_equal(env_get(env, "SZ"), "L");
    assert_null(env_get(env, "OPT"));
    assert_string_equal(env_get(env, "POD"), "web");
    assert_string_equal(env_get(env, "APP"), "web");
    assert_string_equal(env_get(env, "IP"), "10.42.0.5");
    assert_string_equal(env_get(env, "NODE"), "node1");
    assert_string_equal(env_get(env, "MEM"), "64");
    assert_string_equal(env_get(env, "CPU"), "4"); /* no limit: node allocatable */
    assert_string_equal(env_get(env, "KUBERNETES_SERVICE_HOST"), "10.43.0.1");
    podspec_strv_free(env);

    /* missing non-optional refs: upstream's messages */
    _cleanup_json_ json_t *c2 = json_loads("{\"env\":[{\"name\":\"X\",\"valueFrom\":{"
                                           "\"configMapKeyRef\":{\"name\":\"x\",\"key\":\"k\"}}}]}",
                                           0, NULL);
    assert_null(podspec_env_build(&ctx, c2, NULL, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "configmap \"x\" not found"));
    _cleanup_json_ json_t *c3 = json_loads("{\"env\":[{\"name\":\"X\",\"valueFrom\":{"
                                           "\"secretKeyRef\":{\"name\":\"sec\",\"key\":\"k\"}}}]}",
                                           0, NULL);
    assert_null(podspec_env_build(&ctx, c3, NULL, &err));
    assert_non_null(strstr(err.msg, "couldn't find key k in Secret default/sec"));
    _cleanup_json_ json_t *c4 =
        json_loads("{\"envFrom\":[{\"secretRef\":{\"name\":\"nope\"}}]}", 0, NULL);
    assert_null(podspec_env_build(&ctx, c4, NULL, &err));
    assert_non_null(strstr(err.msg, "secret \"nope\" not found"));
}

static void
test_field_refs(void **state)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *pod = test_pod();
    struct podspec_ctx ctx = {.pod = pod, .pod_ip = "10.42.0.9", .host_ip = "10.0.0.1"};
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"metadata.name", "web"},
        {"metadata.namespace", "default"},
        {"metadata.uid", "u-1"},
        {"metadata.labels['app']", "web"},
        {"metadata.labels['nope']", ""},
        {"metadata.annotations['note']", "hi"},
        {"metadata.labels", "app=\"web\""},
        {"spec.nodeName", "node1"},
        {"spec.serviceAccountName", "default"},
        {"status.podIP", "10.42.0.9"},
        {"status.hostIP", "10.0.0.1"},
        {"status.podIPs", "10.42.0.9"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *v = podspec_field_ref(&ctx, cases[i].path, &err);
        assert_non_null(v);
        assert_string_equal(v, cases[i].want);
    }
    assert_null(podspec_field_ref(&ctx, "spec.nope", &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_args(void **state)
{
    static const char *const ep[] = {"/entry", NULL};
    static const char *const cmd[] = {"serve", "--x", NULL};
    static const char *const env[] = {"PORT=80", NULL};
    struct k3c_err err = {0};
    char **v;

    (void)state;
    _cleanup_json_ json_t *c1 =
        json_pack("{s:[s], s:[s]}", "command", "/bin/sh", "args", "-c=$(PORT)$$");
    v = podspec_container_args(c1, ep, cmd, env, &err);
    assert_int_equal(podspec_strv_len((const char *const *)v), 2);
    assert_string_equal(v[0], "/bin/sh");
    assert_string_equal(v[1], "-c=80$");
    podspec_strv_free(v);
    _cleanup_json_ json_t *c2 = json_pack("{s:[s]}", "args", "x");
    v = podspec_container_args(c2, ep, cmd, env, &err);
    assert_int_equal(podspec_strv_len((const char *const *)v), 2);
    assert_string_equal(v[0], "/entry");
    assert_string_equal(v[1], "x");
    podspec_strv_free(v);
    _cleanup_json_ json_t *c3 = json_object();
    v = podspec_container_args(c3, ep, cmd, env, &err);
    assert_int_equal(podspec_strv_len((const char *const *)v), 3);
    podspec_strv_free(v);
    assert_null(podspec_container_args(c3, NULL, NULL, env, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

/* ---- probes ------------------------------------------------------------------------ */

static void
test_probe_state(void **state)
{
    struct podspec_probe_state s;

    (void)state;
    _cleanup_json_ json_t *p =
        json_pack("{s:i, s:i, s:i, s:i}", "initialDelaySeconds", 5, "periodSeconds", 2,
                  "successThreshold", 2, "failureThreshold", 3);
    podspec_probe_state_init(&s, PODSPEC_PROBE_READINESS, p, 1000);
    assert_int_equal(s.result, PODSPEC_PROBE_FAILURE); /* not ready until proven */
    assert_false(podspec_probe_due(&s, 5999));
    assert_true(podspec_probe_due(&s, 6000));
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_SUCCESS, 6000), PODSPEC_PROBE_FAILURE);
    assert_false(podspec_probe_due(&s, 7999));
    assert_true(podspec_probe_due(&s, 8000));
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_SUCCESS, 8000), PODSPEC_PROBE_SUCCESS);
    /* unknown attempts change nothing */
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_UNKNOWN, 10000), PODSPEC_PROBE_SUCCESS);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 12000), PODSPEC_PROBE_SUCCESS);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 14000), PODSPEC_PROBE_SUCCESS);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_SUCCESS, 16000),
                     PODSPEC_PROBE_SUCCESS); /* breaks the failure run */
    for (int i = 0; i < 2; i++)
        assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 18000 + i),
                         PODSPEC_PROBE_SUCCESS);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 20000), PODSPEC_PROBE_FAILURE);

    /* liveness: defaults (period 10s, threshold 3), starts as success,
     * successThreshold forced to 1 */
    _cleanup_json_ json_t *l = json_pack("{s:i}", "successThreshold", 5);
    podspec_probe_state_init(&s, PODSPEC_PROBE_LIVENESS, l, 0);
    assert_int_equal(s.result, PODSPEC_PROBE_SUCCESS);
    assert_int_equal(s.period_ms, 10000);
    assert_int_equal(s.timeout_ms, 1000);
    assert_int_equal(s.success_threshold, 1);
    assert_true(podspec_probe_due(&s, 0));
    podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 0);
    podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 10000);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_FAILURE, 20000), PODSPEC_PROBE_FAILURE);

    /* startup: unknown, then done after one success */
    podspec_probe_state_init(&s, PODSPEC_PROBE_STARTUP, NULL, 0);
    assert_int_equal(s.result, PODSPEC_PROBE_UNKNOWN);
    assert_int_equal(podspec_probe_record(&s, PODSPEC_PROBE_SUCCESS, 0), PODSPEC_PROBE_SUCCESS);
    assert_false(podspec_probe_due(&s, 1000000));
}

/* ---- securityContext ------------------------------------------------------------------ */

static void
test_security(void **state)
{
    struct podspec_security sec;
    struct runtime_spec spec = {0};
    struct k3c_err err = {0};

    (void)state;
    _cleanup_json_ json_t *pod =
        json_loads("{\"spec\":{\"securityContext\":{\"runAsUser\":1000,\"runAsGroup\":3000,"
                   "\"supplementalGroups\":[4000,4001],\"fsGroup\":2000}}}",
                   0, NULL);
    _cleanup_json_ json_t *c =
        json_loads("{\"securityContext\":{\"runAsUser\":1001,\"readOnlyRootFilesystem\":true,"
                   "\"allowPrivilegeEscalation\":false,"
                   "\"capabilities\":{\"add\":[\"NET_ADMIN\"],\"drop\":[\"ALL\"]}}}",
                   0, NULL);
    assert_int_equal(podspec_security_build(pod, c, "5:5", NULL, &sec, &err), 0);
    podspec_security_apply(&sec, &spec);
    assert_int_equal(spec.uid, 1001);
    assert_int_equal(spec.gid, 3000);
    assert_int_equal(spec.n_supplemental_gids, 3);
    assert_int_equal(spec.supplemental_gids[0], 4000);
    assert_int_equal(spec.supplemental_gids[2], 2000);
    assert_true(spec.readonly_rootfs);
    assert_true(spec.no_new_privileges);
    assert_false(spec.privileged);
    assert_string_equal(spec.cap_add[0], "NET_ADMIN");
    assert_null(spec.cap_add[1]);
    assert_string_equal(spec.cap_drop[0], "ALL");
    podspec_security_fini(&sec);

    /* image USER fallback, numeric and by name from the rootfs */
    _cleanup_json_ json_t *empty = json_object();
    assert_int_equal(podspec_security_build(empty, empty, "7:8", NULL, &sec, &err), 0);
    assert_int_equal(sec.uid, 7);
    assert_int_equal(sec.gid, 8);
    assert_false(sec.no_new_privileges);
    podspec_security_fini(&sec);
    char dir[] = "/tmp/test_podspec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *etc = k3c_xasprintf("%s/etc", dir);
    _cleanup_free_ char *passwd = k3c_xasprintf("%s/etc/passwd", dir);
    _cleanup_free_ char *group = k3c_xasprintf("%s/etc/group", dir);
    assert_int_equal(mkdir(etc, 0755), 0);
    const char pw[] = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n";
    const char gr[] = "root:x:0:\nstaff:x:50:\n";
    assert_int_equal(k3c_write_file(passwd, pw, strlen(pw), 0644, &err), 0);
    assert_int_equal(k3c_write_file(group, gr, strlen(gr), 0644, &err), 0);
    assert_int_equal(podspec_security_build(empty, empty, "www", dir, &sec, &err), 0);
    assert_int_equal(sec.uid, 33);
    assert_int_equal(sec.gid, 34);
    podspec_security_fini(&sec);
    assert_int_equal(podspec_security_build(empty, empty, "33:staff", dir, &sec, &err), 0);
    assert_int_equal(sec.uid, 33);
    assert_int_equal(sec.gid, 50);
    podspec_security_fini(&sec);
    assert_int_equal(podspec_security_build(empty, empty, "nobody", dir, &sec, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    unlink(passwd);
    unlink(group);
    rmdir(etc);
    rmdir(dir);

    /* runAsNonRoot against a root image */
    _cleanup_json_ json_t *nonroot =
        json_loads("{\"securityContext\":{\"runAsNonRoot\":true}}", 0, NULL);
    assert_int_equal(podspec_security_build(empty, nonroot, "", NULL, &sec, &err), -1);
    assert_non_null(strstr(err.msg, "runAsNonRoot"));
    /* privileged never gets no_new_privileges */
    _cleanup_json_ json_t *priv = json_loads(
        "{\"securityContext\":{\"privileged\":true,\"allowPrivilegeEscalation\":false}}", 0, NULL);
    assert_int_equal(podspec_security_build(empty, priv, NULL, NULL, &sec, &err), 0);
    assert_true(sec.privileged);
    assert_false(sec.no_new_privileges);
    podspec_security_fini(&sec);
}

/* ---- volumeMounts ---------------------------------------------------------------------- */

static void
test_volume_mounts(void **state)
{
    char dir[] = "/tmp/test_podspec_XXXXXX";
    struct k3c_err err = {0};
    struct runtime_mount *m = NULL;
    size_t n = 0;
    static const char *const env[] = {"POD=web", NULL};

    (void)state;
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *data = k3c_xasprintf("%s/data", dir);
    _cleanup_free_ char *cfg = k3c_xasprintf("%s/cfg", dir);
    assert_int_equal(mkdir(data, 0755), 0);
    assert_int_equal(mkdir(cfg, 0755), 0);
    struct podspec_volume v[] = {
        {.name = "data", .kind = PODSPEC_VOL_EMPTYDIR, .host_path = data},
        {.name = "cfg", .kind = PODSPEC_VOL_CONFIGMAP, .host_path = cfg, .readonly = true},
    };
    struct podspec_volumes vols = {v, 2};
    _cleanup_json_ json_t *c = json_loads(
        "{\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"},"
        "{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\"},"
        "{\"name\":\"data\",\"mountPath\":\"/logs\",\"subPath\":\"logs/a\",\"readOnly\":true},"
        "{\"name\":\"data\",\"mountPath\":\"/pod\",\"subPathExpr\":\"$(POD)\"}]}",
        0, NULL);
    assert_int_equal(podspec_volume_mounts(&vols, c, env, &m, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(m[0].destination, "/data");
    assert_false(m[0].readonly);
    assert_int_equal(m[0].type, RUNTIME_MOUNT_BIND);
    assert_true(m[1].readonly); /* configMap volumes are read-only */
    assert_true(m[2].readonly);
    _cleanup_free_ char *want = k3c_xasprintf("%s/logs/a", data);
    assert_string_equal(m[2].source, want);
    assert_true(k3c_file_exists(want)); /* created */
    _cleanup_free_ char *want2 = k3c_xasprintf("%s/web", data);
    assert_string_equal(m[3].source, want2);
    podspec_mounts_free(m, n);

    static const char *const bad[] = {
        "{\"volumeMounts\":[{\"name\":\"nope\",\"mountPath\":\"/x\"}]}",
        "{\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"rel\"}]}",
        "{\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"../etc\"}]}",
        "{\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"/etc\"}]}",
        "{\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"esc\"}]}",
    };
    _cleanup_free_ char *esc = k3c_xasprintf("%s/esc", data);
    assert_int_equal(symlink("/etc", esc), 0); /* a symlink out of the volume */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_json_ json_t *b = json_loads(bad[i], 0, NULL);
        k3c_err_clear(&err);
        assert_int_equal(podspec_volume_mounts(&vols, b, env, &m, &n, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    struct k3c_err ignored = {0};
    _cleanup_free_ char *pod_dir = k3c_xasprintf("%s", dir);
    /* reuse the cleanup: move both dirs under volumes/ and remove it all */
    _cleanup_free_ char *vdir = k3c_xasprintf("%s/volumes", dir);
    assert_int_equal(mkdir(vdir, 0755), 0);
    _cleanup_free_ char *moved = k3c_xasprintf("%s/data", vdir);
    _cleanup_free_ char *moved2 = k3c_xasprintf("%s/cfg", vdir);
    assert_int_equal(rename(data, moved), 0);
    assert_int_equal(rename(cfg, moved2), 0);
    assert_int_equal(podspec_volumes_cleanup(pod_dir, &ignored), 0);
    assert_false(k3c_file_exists(vdir));
    assert_true(k3c_file_exists("/etc/passwd")); /* the symlink was not followed */
    assert_int_equal(rmdir(dir), 0);
}

/* When the kubelet writes a pod's projected service-account tokens again:
 * 80% of the shortest expirationSeconds, capped by the max age. */
static void
test_token_refresh(void **state)
{
    (void)state;
    _cleanup_json_ json_t *none = json_loads("{\"spec\":{\"volumes\":[{\"name\":\"a\","
                                             "\"emptyDir\":{}}]}}",
                                             0, NULL);
    _cleanup_json_ json_t *two = json_loads(
        "{\"spec\":{\"volumes\":[{\"name\":\"a\",\"projected\":{\"sources\":["
        "{\"serviceAccountToken\":{\"path\":\"token\"}}]}},{\"name\":\"b\",\"projected\":"
        "{\"sources\":[{\"configMap\":{\"name\":\"x\"}},{\"serviceAccountToken\":"
        "{\"path\":\"t\",\"expirationSeconds\":600}}]}}]}}",
        0, NULL);

    assert_non_null(none);
    assert_non_null(two);
    assert_int_equal(podspec_token_refresh_after_s(none, 86400), -1);
    assert_int_equal(podspec_token_refresh_after_s(two, 86400), 480); /* 600 - 20% */
    assert_int_equal(podspec_token_refresh_after_s(two, 15), 15);
    json_object_del(json_array_get(json_object_get(json_object_get(two, "spec"), "volumes"), 1),
                    "projected");
    assert_int_equal(podspec_token_refresh_after_s(two, 86400), 3607 - 3607 / 5);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities),    cmocka_unit_test(test_resources),
        cmocka_unit_test(test_expand),        cmocka_unit_test(test_env_build),
        cmocka_unit_test(test_field_refs),    cmocka_unit_test(test_args),
        cmocka_unit_test(test_probe_state),   cmocka_unit_test(test_security),
        cmocka_unit_test(test_volume_mounts), cmocka_unit_test(test_token_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
