/* SPDX-License-Identifier: Apache-2.0
 * test_cdi.c - CDI specs (issue #18): parsing YAML and JSON, strict field
 * checking, name syntax, version rules; the edits applied to an OCI
 * config.json in CDI's order; the registry's directories (later wins,
 * conflicts, broken files, index/UUID counted once); the allocator and its
 * checkpoint. */
#include "cdi/cdi.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* What `nvidia-ctk cdi generate --device-name-strategy index
 * --device-name-strategy uuid` writes for one GPU, trimmed. */
static const char nvidia_yaml[] =
    "---\n"
    "cdiVersion: 0.5.0\n"
    "kind: nvidia.com/gpu\n"
    "devices:\n"
    "- name: \"0\"\n"
    "  containerEdits:\n"
    "    deviceNodes:\n"
    "    - path: /dev/nvidia0\n"
    "      hostPath: /dev/null\n"
    "- name: GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c\n"
    "  containerEdits:\n"
    "    deviceNodes:\n"
    "    - path: /dev/nvidia0\n"
    "      hostPath: /dev/null\n"
    "- name: \"1\"\n"
    "  containerEdits:\n"
    "    deviceNodes:\n"
    "    - path: /dev/nvidia1\n"
    "      hostPath: /dev/zero\n"
    "- name: all\n"
    "  containerEdits:\n"
    "    deviceNodes:\n"
    "    - path: /dev/nvidia0\n"
    "      hostPath: /dev/null\n"
    "    - path: /dev/nvidia1\n"
    "      hostPath: /dev/zero\n"
    "containerEdits:\n"
    "  env:\n"
    "  - NVIDIA_VISIBLE_DEVICES=void\n"
    "  deviceNodes:\n"
    "  - path: /dev/nvidiactl\n"
    "    hostPath: /dev/null\n"
    "  hooks:\n"
    "  - hookName: createContainer\n"
    "    path: /usr/bin/nvidia-cdi-hook\n"
    "    args: [nvidia-cdi-hook, update-ldcache]\n"
    "  mounts:\n"
    "  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14\n"
    "    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14\n"
    "    options: [ro, nosuid, nodev, bind]\n";

static json_t *
parse_ok(const char *text, const char *name)
{
    struct k3c_err err = {0};
    json_t *spec = cdi_spec_parse(text, strlen(text), name, &err);

    if (!spec)
        fail_msg("%s: %s", name, err.msg);
    return spec;
}

static void
parse_bad(const char *text, const char *name, const char *want)
{
    struct k3c_err err = {0};
    json_t *spec = cdi_spec_parse(text, strlen(text), name, &err);

    if (spec)
        fail_msg("%s parsed; want an error with \"%s\"", name, want);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void
test_parse_nvidia_ctk_yaml(void **state)
{
    _cleanup_json_ json_t *spec = parse_ok(nvidia_yaml, "nvidia.yaml");

    (void)state;
    assert_string_equal(json_string_value(json_object_get(spec, "kind")), "nvidia.com/gpu");
    assert_int_equal(json_array_size(json_object_get(spec, "devices")), 4);
    /* "0" stays a string (quoted), not the integer 0 */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(spec, "devices"), 0), "name")),
                        "0");
}

static void
test_parse_json_and_yaml_types(void **state)
{
    _cleanup_json_ json_t *j = parse_ok(
        "{\"cdiVersion\":\"0.3.0\",\"kind\":\"example.com/foo\",\"devices\":[{\"name\":\"dev1\","
        "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/foo\",\"type\":\"c\",\"major\":1,"
        "\"minor\":3,\"fileMode\":438}]}}]}",
        "foo.json");
    _cleanup_json_ json_t *y = parse_ok("cdiVersion: 0.3.0\nkind: example.com/foo\ndevices:\n"
                                        "- name: dev1\n  containerEdits:\n    deviceNodes:\n"
                                        "    - {path: /dev/foo, type: c, major: 1, minor: 3, "
                                        "fileMode: 0666}\n",
                                        "foo.yaml");

    (void)state;
    assert_true(json_equal(j, y)); /* YAML 0666 is octal 438, as Go's yaml reads it */
}

static void
test_parse_strict_fields(void **state)
{
    (void)state;
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    env: [A=1]\n    deviceNode: []\n",
              "typo.yaml", "devices[0].containerEdits.deviceNode: unknown field");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    deviceNodes:\n    - path: /dev/x\n      major: one\n",
              "type.yaml", "devices[0].containerEdits.deviceNodes[0].major: want an integer");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\n", "nodev.yaml", "devices: required");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits: {}\n",
              "empty.yaml", "devices[0].containerEdits: empty");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    env: [NOEQUALS]\n",
              "env.yaml", "want KEY=VALUE");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    hooks:\n    - {hookName: preStart, path: /bin/true}\n",
              "hook.yaml", "unknown hook");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    env: [A=1]\n- name: x\n  containerEdits:\n    env: [B=1]\n",
              "dup.yaml", "defined twice");
    parse_bad("devices: [unterminated\n", "broken.yaml", "broken.yaml: line");
    parse_bad("{\"cdiVersion\": ", "broken.json", "broken.json:1");
}

static void
test_names(void **state)
{
    (void)state;
    assert_true(cdi_kind_valid("nvidia.com/gpu", false));
    assert_true(cdi_kind_valid("vendor_1.example/class-a", false));
    assert_false(cdi_kind_valid("nvidia.com", false));
    assert_false(cdi_kind_valid("/gpu", false));
    assert_false(cdi_kind_valid("nvidia.com/gpu.mig", false));
    assert_true(cdi_kind_valid("nvidia.com/gpu.mig", true));
    assert_false(cdi_kind_valid("nvidia.com/gpu-", true));
    assert_false(cdi_kind_valid("1nvidia.com/gpu", true));
    assert_true(cdi_device_name_valid("GPU-4cf8db2d:0", false));
    assert_false(cdi_device_name_valid("0", false));
    assert_true(cdi_device_name_valid("0", true));
    assert_false(cdi_device_name_valid("gpu/0", true));
    assert_false(cdi_device_name_valid("gpu0-", true));
    assert_false(cdi_device_name_valid("", true));
}

static void
test_versions(void **state)
{
    (void)state;
    /* a name starting with a digit needs 0.5.0 */
    parse_bad("cdiVersion: 0.4.0\nkind: a.com/b\ndevices:\n- name: \"0\"\n  containerEdits:\n"
              "    env: [A=1]\n",
              "v.yaml", "cdiVersion: 0.4.0 is too old for a device name starting with a digit");
    parse_bad("cdiVersion: 0.3.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    mounts: [{hostPath: /a, containerPath: /a, type: bind}]\n",
              "v.yaml", "needs 0.4.0");
    parse_bad("cdiVersion: 0.5.0\nkind: a.com/b\nannotations: {a: b}\ndevices:\n- name: x\n"
              "  containerEdits:\n    env: [A=1]\n",
              "v.yaml", "needs 0.6.0");
    parse_bad("cdiVersion: 0.6.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    additionalGids: [44]\n",
              "v.yaml", "needs 0.7.0");
    parse_bad("cdiVersion: 1.0.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    netDevices: [{hostInterfaceName: eth1, name: net1}]\n",
              "v.yaml", "needs 1.1.0");
    parse_bad("cdiVersion: 0.2.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    env: [A=1]\n",
              "v.yaml", "not a CDI version");
    parse_bad("cdiVersion: 1.2.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n"
              "    env: [A=1]\n",
              "v.yaml", "not a CDI version");
    json_decref(parse_ok("cdiVersion: 1.1.0\nkind: a.com/b.c\nannotations: {a: b}\ndevices:\n"
                         "- name: \"0\"\n  containerEdits:\n    additionalGids: [44]\n"
                         "    netDevices: [{hostInterfaceName: eth1, name: net1}]\n",
                         "v110.yaml"));
}

static json_t *
oci_base(void)
{
    return json_loads("{\"process\":{\"user\":{\"uid\":1000,\"gid\":1000},\"env\":[\"PATH=/bin\","
                      "\"A=old\"]},\"mounts\":[{\"destination\":\"/proc\"},{\"destination\":"
                      "\"/dev\"},{\"destination\":\"/dev/pts\"},{\"destination\":\"/etc/hosts\"}],"
                      "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]"
                      "}}}",
                      0, NULL);
}

static void
test_edits_apply(void **state)
{
    _cleanup_json_ json_t *oci = oci_base();
    _cleanup_json_ json_t *edits = json_loads(
        "{\"env\":[\"A=new\",\"B=1\"],\"deviceNodes\":[{\"path\":\"/dev/gpu0\",\"hostPath\":"
        "\"/dev/null\",\"permissions\":\"rw\"}],\"mounts\":[{\"hostPath\":\"/opt/lib\","
        "\"containerPath\":\"/usr/lib/x/y\",\"options\":[\"ro\",\"bind\"]},{\"hostPath\":\"/tmp\","
        "\"containerPath\":\"/a\"}],\"hooks\":[{\"hookName\":\"createContainer\",\"path\":"
        "\"/bin/hook\",\"args\":[\"hook\",\"x\"]}],\"additionalGids\":[44,44]}",
        0, NULL);
    struct k3c_err err = {0};
    const json_t *env, *dev, *rule, *mounts;

    (void)state;
    assert_int_equal(cdi_edits_apply(oci, edits, &err), 0);
    env = json_object_get(json_object_get(oci, "process"), "env");
    assert_int_equal(json_array_size(env), 3);
    assert_string_equal(json_string_value(json_array_get(env, 1)), "A=new"); /* replaced in place */
    assert_string_equal(json_string_value(json_array_get(env, 2)), "B=1");   /* appended */
    dev = json_array_get(json_object_get(json_object_get(oci, "linux"), "devices"), 0);
    assert_string_equal(json_string_value(json_object_get(dev, "type")), "c");
    assert_int_equal(json_integer_value(json_object_get(dev, "major")), 1); /* /dev/null 1:3 */
    assert_int_equal(json_integer_value(json_object_get(dev, "minor")), 3);
    assert_int_equal(json_integer_value(json_object_get(dev, "uid")), 1000);
    rule = json_array_get(
        json_object_get(json_object_get(json_object_get(oci, "linux"), "resources"), "devices"), 1);
    assert_true(json_is_true(json_object_get(rule, "allow")));
    assert_string_equal(json_string_value(json_object_get(rule, "access")), "rw");
    assert_int_equal(json_integer_value(json_object_get(rule, "minor")), 3);
    /* parents first, stable: /proc /dev /a, then /dev/pts /etc/hosts, then /usr/lib/x/y */
    mounts = json_object_get(oci, "mounts");
    assert_int_equal(json_array_size(mounts), 6);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(mounts, 2), "destination")), "/a");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(mounts, 3), "destination")), "/dev/pts");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(mounts, 5), "destination")),
        "/usr/lib/x/y");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(oci, "hooks"), "createContainer"), 0),
            "path")),
        "/bin/hook");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(json_object_get(oci, "process"), "user"),
                                        "additionalGids")),
        1);
    /* applied again: the device node replaces itself, no duplicate */
    assert_int_equal(cdi_edits_apply(oci, edits, &err), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(oci, "linux"), "devices")), 1);
    assert_int_equal(json_array_size(json_object_get(oci, "mounts")), 6);
}

static void
test_edits_missing_host_device(void **state)
{
    _cleanup_json_ json_t *oci = oci_base();
    _cleanup_json_ json_t *edits =
        json_loads("{\"deviceNodes\":[{\"path\":\"/dev/nope-k3c-test\"}]}", 0, NULL);
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(cdi_edits_apply(oci, edits, &err), -1);
    assert_non_null(strstr(err.msg, "/dev/nope-k3c-test"));
}

static char *
tmpdir_new(void)
{
    char tmpl[] = "/tmp/k3c-cdi-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return k3c_xstrdup(d);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, name);
    struct k3c_err err = {0};

    assert_int_equal(k3c_write_file(p, text, strlen(text), 0644, &err), 0);
}

static void
rm_rf(const char *dir)
{
    _cleanup_free_ char *cmd = k3c_xasprintf("rm -rf '%s'", dir);

    assert_int_equal(system(cmd), 0);
}

static void
test_registry(void **state)
{
    _cleanup_free_ char *d1 = tmpdir_new(), *d2 = tmpdir_new();
    _cleanup_free_ char *dirs_s = k3c_xasprintf("%s:%s", d1, d2);
    char *dirs[] = {dirs_s, NULL};
    struct cdi_registry *r = NULL;
    _cleanup_json_ json_t *res = NULL, *oci = oci_base();
    char **devs = NULL;
    struct k3c_err err = {0};

    (void)state;
    write_file(d1, "nvidia.yaml", nvidia_yaml);
    write_file(d1, "broken.json", "{\"cdiVersion\": \"0.5.0\", \"kind\": \"x.com/y\"");
    write_file(d1, "ignored.txt", "not a spec");
    r = cdi_registry_new(dirs);
    assert_true(cdi_registry_refresh(r));
    assert_false(cdi_registry_refresh(r)); /* nothing changed */
    assert_int_equal(cdi_registry_n_errors(r), 1);
    res = cdi_registry_resources(r);
    /* "0" and its UUID are one GPU, "all" is an alias: 2 */
    assert_int_equal(json_integer_value(json_object_get(res, "nvidia.com/gpu")), 2);
    devs = cdi_registry_devices(r, "nvidia.com/gpu");
    assert_string_equal(devs[0], "nvidia.com/gpu=0");
    assert_string_equal(devs[1], "nvidia.com/gpu=1");
    assert_null(devs[2]);
    k3c_strv_free(devs);
    /* spec edits then device edits */
    char *want[] = {"nvidia.com/gpu=1", NULL};
    assert_int_equal(cdi_registry_apply(r, oci, want, &err), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(oci, "linux"), "devices")), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(oci, "linux"), "devices"), 1), "path")),
        "/dev/nvidia1");
    char *unknown[] = {"nvidia.com/gpu=7", NULL};
    assert_int_equal(cdi_registry_apply(r, oci, unknown, &err), -1);
    /* a later directory wins; a product annotation gives the model */
    write_file(d2, "override.yaml",
               "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\nannotations:\n  nvidia.com/gpu.product: "
               "NVIDIA RTX A6000\ndevices:\n- name: \"1\"\n  containerEdits:\n    env: [X=1]\n");
    assert_true(cdi_registry_refresh(r));
    _cleanup_free_ char *model = cdi_registry_product(r, "nvidia.com/gpu");
    assert_string_equal(model, "NVIDIA-RTX-A6000");
    /* two files of one directory defining the same device: left out */
    write_file(d2, "zz-conflict.yaml",
               "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
               "- name: \"1\"\n  containerEdits:\n    env: [Y=1]\n");
    assert_true(cdi_registry_refresh(r));
    json_decref(res);
    res = cdi_registry_resources(r);
    assert_int_equal(json_integer_value(json_object_get(res, "nvidia.com/gpu")), 1);
    /* a kind with only "all" (a Jetson's CSV-mode spec) has one device */
    write_file(d1, "jetson.yaml",
               "cdiVersion: 0.5.0\nkind: nvidia.com/igpu\ndevices:\n"
               "- name: all\n  containerEdits:\n    deviceNodes:\n"
               "    - {path: /dev/nvhost-gpu, hostPath: /dev/null}\n");
    assert_true(cdi_registry_refresh(r));
    json_decref(res);
    res = cdi_registry_resources(r);
    assert_int_equal(json_integer_value(json_object_get(res, "nvidia.com/igpu")), 1);
    devs = cdi_registry_devices(r, "nvidia.com/igpu");
    assert_string_equal(devs[0], "nvidia.com/igpu=all");
    k3c_strv_free(devs);
    _cleanup_free_ char *pj = k3c_xasprintf("%s/jetson.yaml", d1);
    assert_int_equal(unlink(pj), 0);
    /* every spec removed: the kind stays, at 0 */
    rm_rf(d2);
    _cleanup_free_ char *p1 = k3c_xasprintf("%s/nvidia.yaml", d1);
    assert_int_equal(unlink(p1), 0);
    assert_true(cdi_registry_refresh(r));
    json_decref(res);
    res = cdi_registry_resources(r);
    assert_true(json_is_integer(json_object_get(res, "nvidia.com/gpu")));
    assert_int_equal(json_integer_value(json_object_get(res, "nvidia.com/gpu")), 0);
    cdi_registry_free(r);
    rm_rf(d1);
    rm_rf(d2);
}

static void
test_alloc(void **state)
{
    _cleanup_free_ char *d = tmpdir_new();
    _cleanup_free_ char *cp = k3c_xasprintf("%s/checkpoint.json", d);
    char *cands[] = {"v.com/gpu=0", "v.com/gpu=1", "v.com/gpu=2", NULL};
    struct k3c_err err = {0};
    struct cdi_alloc *a;
    char **got = NULL, **again = NULL;

    (void)state;
    a = cdi_alloc_new(cp, &err);
    assert_non_null(a);
    assert_int_equal(cdi_alloc_take(a, "pod1/c", "v.com/gpu", 2, cands, &got, &err), 0);
    assert_string_equal(got[0], "v.com/gpu=0");
    assert_string_equal(got[1], "v.com/gpu=1");
    k3c_strv_free(got);
    assert_int_equal(cdi_alloc_take(a, "pod2/c", "v.com/gpu", 2, cands, &got, &err), -1);
    assert_non_null(strstr(err.msg, "Insufficient v.com/gpu"));
    k3c_err_clear(&err);
    assert_int_equal(cdi_alloc_take(a, "pod2/c", "v.com/gpu", 1, cands, &got, &err), 0);
    assert_string_equal(got[0], "v.com/gpu=2");
    k3c_strv_free(got);
    cdi_alloc_free(a);
    /* the checkpoint brings them back; the same owner gets the same ones */
    a = cdi_alloc_new(cp, &err);
    assert_non_null(a);
    assert_int_equal(cdi_alloc_n_held(a), 3);
    assert_int_equal(cdi_alloc_take(a, "pod2/c", "v.com/gpu", 1, cands, &again, &err), 0);
    assert_string_equal(again[0], "v.com/gpu=2");
    k3c_strv_free(again);
    char *live[] = {"pod1", "pod2", NULL}, *only1[] = {"pod1", NULL};
    assert_int_equal(cdi_alloc_retain(a, live), 0);
    assert_int_equal(cdi_alloc_retain(a, only1), 1); /* pod2 went while the agent was down */
    assert_int_equal(cdi_alloc_n_held(a), 2);
    assert_int_equal(cdi_alloc_release(a, "pod1/"), 2);
    assert_int_equal(cdi_alloc_release(a, "pod1/"), 0);
    assert_int_equal(cdi_alloc_take(a, "pod3/c", "v.com/gpu", 2, cands, &got, &err), 0);
    assert_string_equal(got[0], "v.com/gpu=0");
    assert_string_equal(got[1], "v.com/gpu=1");
    k3c_strv_free(got);
    cdi_alloc_free(a);
    rm_rf(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_nvidia_ctk_yaml),
        cmocka_unit_test(test_parse_json_and_yaml_types),
        cmocka_unit_test(test_parse_strict_fields),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_edits_apply),
        cmocka_unit_test(test_edits_missing_host_device),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_alloc),
    };

    k3c_log_set_level(K3C_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
