/* SPDX-License-Identifier: Apache-2.0
 * test_runtime.c - containers for real: a busybox-static rootfs run by runc
 * and crun (each that works on this host) under conmon. Exit codes, CRI log
 * lines, stop with grace, env/cwd, mounts, cgroup limits, exec, and adoption
 * of a container whose creating process has exited. Root only (77 if not,
 * or if no runtime works); every wait has a deadline, and containers,
 * cgroups and temporary directories are removed even when a test fails. */
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "harness.h"

#include <errno.h>
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

#define WAIT_MS    20000 /* bound for every wait on a container */
#define MAX_IDS    32
#define MEMORY_MAX (64 << 20)

struct fixture {
    const char *rt_name; /* "runc" / "crun" */
    struct runtime *rt;  /* NULL: this runtime does not work here, tests skip */
    char *dir;           /* temporary root: state/, rootfs/, logs/, vol/ */
    char *state_dir, *rootfs;
    char pod_uid[64];
    char *ids[MAX_IDS]; /* every id a test created, deleted again at teardown */
    size_t n_ids;
};

static struct fixture fixtures[] = {{.rt_name = "runc"}, {.rt_name = "crun"}};

/* ---- helpers ------------------------------------------------------------ */

static int
make_rootfs(const char *rootfs)
{
    static const char *const applets[] = {"sh", "echo", "sleep", "cat", "pwd", "true", NULL};
    struct k3c_err err = {0};
    _cleanup_free_ char *work = k3c_xasprintf("%s/work", rootfs);

    if (k3c_mkdir_p(work, 0755, &err) < 0 || harness_busybox_rootfs(rootfs, applets, &err) < 0) {
        fprintf(stderr, "# rootfs: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
fixture_init(struct fixture *f)
{
    struct k3c_err err = {0};
    const struct runtime_config cfg = {
        .runtime = f->rt_name, .state_dir = NULL, .cmd_timeout_ms = WAIT_MS};
    struct runtime_config c = cfg;

    f->dir = harness_mkdtemp(f->rt_name);
    if (!f->dir)
        return -1;
    f->state_dir = k3c_xasprintf("%s/state", f->dir);
    f->rootfs = k3c_xasprintf("%s/rootfs", f->dir);
    snprintf(f->pod_uid, sizeof(f->pod_uid), "k3c-test-%d-%s", (int)getpid(), f->rt_name);
    if (make_rootfs(f->rootfs) < 0)
        return -1;
    c.state_dir = f->state_dir;
    f->rt = runtime_new(&c, &err);
    if (!f->rt) {
        fprintf(stderr, "# %s: %s\n", f->rt_name, err.msg);
        return 0;
    }
    if (runtime_probe(f->rt, &err) < 0) {
        fprintf(stderr, "# %s does not work here, its tests skip: %s\n", f->rt_name, err.msg);
        runtime_free(f->rt);
        f->rt = NULL;
    }
    return 0;
}

static void
fixture_fini(struct fixture *f)
{
    struct k3c_err err = {0};

    for (size_t i = 0; i < f->n_ids; i++) {
        if (f->rt && runtime_delete(f->rt, f->ids[i], &err) == 0)
            fprintf(stderr, "# cleaned up container %s\n", f->ids[i]);
        free(f->ids[i]);
    }
    f->n_ids = 0;
    if (runtime_pod_cgroup_remove(NULL, f->pod_uid, &err) < 0)
        fprintf(stderr, "# %s\n", err.msg);
    runtime_free(f->rt);
    f->rt = NULL;
    if (f->dir)
        harness_rm_rf(f->dir);
    free(f->dir);
    free(f->state_dir);
    free(f->rootfs);
    f->dir = f->state_dir = f->rootfs = NULL;
}

static void
track(struct fixture *f, const char *id)
{
    assert_true(f->n_ids < MAX_IDS);
    f->ids[f->n_ids++] = k3c_xstrdup(id);
}

static struct fixture *
fixture_or_skip(void **state)
{
    struct fixture *f = *state;

    if (!f->rt)
        skip();
    return f;
}

/* A spec for one test container; log at <dir>/logs/<id>.log. */
static struct runtime_spec
spec_for(struct fixture *f, const char *id, const char *const *args, char **log_out)
{
    *log_out = k3c_xasprintf("%s/logs/%s.log", f->dir, id);
    return (struct runtime_spec){
        .id = id,
        .pod_uid = f->pod_uid,
        .name = id,
        .rootfs = f->rootfs,
        .args = args,
        .hostname = id,
        .log_path = *log_out,
    };
}

static int
wait_state(struct runtime *rt, const char *id, enum runtime_state want, struct runtime_status *st)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    struct k3c_err err = {0};

    for (;;) {
        if (runtime_status(rt, id, st, &err) < 0) {
            fprintf(stderr, "# status %s: %s\n", id, err.msg);
            return -1;
        }
        if (st->state == want)
            return 0;
        if (k3c_now_ms() >= deadline)
            return -1;
        k3c_sleep_ms(20);
    }
}

/* True once the CRI log has a line ending in suffix ("stdout F hello"),
 * with a timestamp of the CRI form at its start. */
static bool
log_has(const char *path, const char *suffix)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    for (;;) {
        _cleanup_free_ char *data = NULL;
        struct k3c_err err = {0};

        if (k3c_read_file(path, &data, NULL, &err) == 0) {
            char *save = NULL;

            for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                size_t n = strlen(l), s = strlen(suffix);

                if (n > s + 20 && strcmp(l + n - s, suffix) == 0 && l[4] == '-' && l[10] == 'T' &&
                    l[n - s - 1] == ' ')
                    return true;
            }
        }
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(20);
    }
}

static bool
cgroup_v2(void)
{
    return k3c_file_exists("/sys/fs/cgroup/cgroup.controllers");
}

static char *
cgroup_file(const char *controller, const char *cgpath, const char *file)
{
    if (cgroup_v2())
        return k3c_xasprintf("/sys/fs/cgroup%s/%s", cgpath, file);
    return k3c_xasprintf("/sys/fs/cgroup/%s%s/%s", controller, cgpath, file);
}

static long long
read_ll(const char *path)
{
    _cleanup_free_ char *data = NULL;
    struct k3c_err err = {0};

    if (k3c_read_file(path, &data, NULL, &err) < 0)
        return -1;
    return strtoll(data, NULL, 10);
}

/* Runs to completion; returns the status. */
static void
run_to_exit(struct fixture *f, const struct runtime_spec *spec, struct runtime_status *st)
{
    struct k3c_err err = {0};

    track(f, spec->id);
    if (runtime_run(f->rt, spec, &err) < 0)
        fail_msg("run %s: %s", spec->id, err.msg);
    assert_int_equal(wait_state(f->rt, spec->id, RUNTIME_STATE_STOPPED, st), 0);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_echo_hello_logs_and_exit_zero(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"echo", "hello", NULL};
    _cleanup_free_ char *log = NULL, *dir = NULL, *cg = NULL, *cgpath = NULL;
    struct runtime_spec spec = spec_for(f, "echo", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};

    run_to_exit(f, &spec, &st);
    assert_int_equal(st.exit_code, 0);
    assert_false(st.oom_killed);
    assert_true(st.created_ms > 0);
    assert_true(st.started_ms >= st.created_ms);
    assert_true(st.finished_ms >= st.started_ms - 1000);
    assert_true(log_has(log, "stdout F hello"));
    /* Delete removes the bundle and the container's cgroup; the log stays. */
    assert_int_equal(runtime_delete(f->rt, "echo", &err), 0);
    dir = k3c_xasprintf("%s/containers/echo", f->state_dir);
    assert_false(k3c_file_exists(dir));
    cgpath = runtime_spec_cgroup_path(&spec);
    cg = cgroup_file("pids", cgpath, "");
    assert_false(k3c_file_exists(cg));
    assert_true(k3c_file_exists(log));
    assert_int_equal(runtime_status(f->rt, "echo", &st, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_int_equal(runtime_delete(f->rt, "echo", &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
}

static void
test_failing_command_records_exit_code(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sh", "-c", "echo oops >&2; exit 3", NULL};
    _cleanup_free_ char *log = NULL;
    struct runtime_spec spec = spec_for(f, "exit3", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};

    run_to_exit(f, &spec, &st);
    assert_int_equal(st.exit_code, 3);
    assert_true(log_has(log, "stderr F oops"));
    assert_int_equal(runtime_delete(f->rt, "exit3", &err), 0);
}

/* With a tty conmon owns the console; output still lands in the log. */
static void
test_tty_output_logged(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sh", "-c", "test -t 1 && echo is-a-tty", NULL};
    _cleanup_free_ char *log = NULL, *data = NULL;
    struct runtime_spec spec = spec_for(f, "tty", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};

    spec.tty = true;
    run_to_exit(f, &spec, &st);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(k3c_read_file(log, &data, NULL, &err), 0);
    assert_non_null(strstr(data, " stdout "));
    assert_non_null(strstr(data, "is-a-tty"));
    assert_int_equal(runtime_delete(f->rt, "tty", &err), 0);
}

static void
test_env_and_cwd(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sh", "-c",
                                "echo $FOO; pwd; echo host=$(cat /proc/sys/kernel/hostname)", NULL};
    const char *const env[] = {"FOO=bar baz", NULL};
    _cleanup_free_ char *log = NULL;
    struct runtime_spec spec = spec_for(f, "envcwd", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};

    spec.env = env;
    spec.cwd = "/work";
    run_to_exit(f, &spec, &st);
    assert_int_equal(st.exit_code, 0);
    assert_true(log_has(log, "stdout F bar baz"));
    assert_true(log_has(log, "stdout F /work"));
    assert_true(log_has(log, "stdout F host=envcwd"));
    assert_int_equal(runtime_delete(f->rt, "envcwd", &err), 0);
}

static void
test_bind_mount_and_readonly_rootfs(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sh", "-c",
                                "cat /data/f; echo x > /data/out && echo rw-ok; "
                                "(echo x > /cfg/y) 2>/dev/null || echo cfg-ro; "
                                "(echo x > /z) 2>/dev/null || echo root-ro",
                                NULL};
    _cleanup_free_ char *log = NULL, *vol = k3c_xasprintf("%s/vol", f->dir);
    _cleanup_free_ char *cfgvol = k3c_xasprintf("%s/cfgvol", f->dir);
    _cleanup_free_ char *file = k3c_xasprintf("%s/f", vol);
    _cleanup_free_ char *out = k3c_xasprintf("%s/out", vol);
    struct runtime_mount mounts[] = {
        {.type = RUNTIME_MOUNT_BIND, .source = vol, .destination = "/data"},
        {.type = RUNTIME_MOUNT_BIND, .source = cfgvol, .destination = "/cfg", .readonly = true},
    };
    struct runtime_spec spec = spec_for(f, "mounts", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};

    assert_int_equal(k3c_mkdir_p(vol, 0755, &err), 0);
    assert_int_equal(k3c_mkdir_p(cfgvol, 0755, &err), 0);
    assert_int_equal(k3c_write_file(file, "from-host\n", 10, 0644, &err), 0);
    spec.mounts = mounts;
    spec.n_mounts = K3C_ARRAY_SIZE(mounts);
    spec.readonly_rootfs = true;
    run_to_exit(f, &spec, &st);
    assert_int_equal(st.exit_code, 0);
    assert_true(log_has(log, "stdout F from-host"));
    assert_true(log_has(log, "stdout F rw-ok"));
    assert_true(log_has(log, "stdout F cfg-ro"));
    assert_true(log_has(log, "stdout F root-ro"));
    assert_true(k3c_file_exists(out));
    assert_int_equal(runtime_delete(f->rt, "mounts", &err), 0);
}

static void
test_limits_and_stop_with_grace(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sleep", "1000", NULL};
    _cleanup_free_ char *log = NULL, *cgpath = NULL, *mem = NULL, *pids = NULL, *cpu = NULL;
    _cleanup_free_ char *leaf = NULL;
    struct runtime_spec spec = spec_for(f, "sleeper", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};
    int64_t t0;

    spec.resources = (struct runtime_resources){.cpu_request_millicores = 500,
                                                .cpu_limit_millicores = 250,
                                                .memory_limit_bytes = MEMORY_MAX,
                                                .pids_limit = 50};
    track(f, "sleeper");
    if (runtime_run(f->rt, &spec, &err) < 0)
        fail_msg("run: %s", err.msg);
    assert_int_equal(wait_state(f->rt, "sleeper", RUNTIME_STATE_RUNNING, &st), 0);
    assert_true(st.pid > 0);
    assert_int_equal(kill(st.pid, 0), 0);

    cgpath = runtime_spec_cgroup_path(&spec);
    if (cgroup_v2()) {
        mem = cgroup_file("memory", cgpath, "memory.max");
        cpu = cgroup_file("cpu", cgpath, "cpu.max");
    } else {
        mem = cgroup_file("memory", cgpath, "memory.limit_in_bytes");
        cpu = cgroup_file("cpu", cgpath, "cpu.cfs_quota_us");
    }
    pids = cgroup_file("pids", cgpath, "pids.max");
    assert_int_equal(read_ll(mem), MEMORY_MAX);
    assert_int_equal(read_ll(pids), 50);
    assert_int_equal(read_ll(cpu), 25000);

    /* sleep as pid 1 ignores SIGTERM: the grace runs out, SIGKILL ends it. */
    t0 = k3c_now_ms();
    assert_int_equal(runtime_stop(f->rt, "sleeper", 1000, &err), 0);
    assert_true(k3c_now_ms() - t0 < 1000 + 5000);
    assert_int_equal(runtime_status(f->rt, "sleeper", &st, &err), 0);
    assert_int_equal(st.state, RUNTIME_STATE_STOPPED);
    assert_int_equal(st.exit_code, 128 + SIGKILL);
    assert_int_equal(st.pid, 0);
    /* Stopping a stopped container is fine. */
    assert_int_equal(runtime_stop(f->rt, "sleeper", 1000, &err), 0);
    assert_int_equal(runtime_delete(f->rt, "sleeper", &err), 0);
    leaf = cgroup_v2() ? k3c_xasprintf("/sys/fs/cgroup%s", cgpath)
                       : k3c_xasprintf("/sys/fs/cgroup/memory%s", cgpath);
    assert_false(k3c_file_exists(leaf));
}

static void
test_stop_honours_sigterm(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {
        "sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; sleep 1000 & wait", NULL};
    _cleanup_free_ char *log = NULL;
    struct runtime_spec spec = spec_for(f, "termer", args, &log);
    struct runtime_status st = {0};
    struct k3c_err err = {0};
    int64_t t0;

    track(f, "termer");
    if (runtime_run(f->rt, &spec, &err) < 0)
        fail_msg("run: %s", err.msg);
    assert_true(log_has(log, "stdout F ready"));
    t0 = k3c_now_ms();
    assert_int_equal(runtime_stop(f->rt, "termer", 30000, &err), 0);
    assert_true(k3c_now_ms() - t0 < 10000); /* well inside the grace */
    assert_int_equal(runtime_status(f->rt, "termer", &st, &err), 0);
    assert_int_equal(st.state, RUNTIME_STATE_STOPPED);
    assert_int_equal(st.exit_code, 0);
    assert_true(log_has(log, "stdout F bye"));
    assert_int_equal(runtime_delete(f->rt, "termer", &err), 0);
}

static void
test_failed_create_leaves_nothing(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"/bin/no-such-binary", NULL};
    _cleanup_free_ char *log = NULL, *dir = NULL;
    struct runtime_spec spec = spec_for(f, "broken", args, &log);
    struct runtime_status *all = NULL;
    size_t n = 0;
    struct k3c_err err = {0};

    track(f, "broken");
    assert_int_equal(runtime_run(f->rt, &spec, &err), -1);
    fprintf(stderr, "# expected failure: %s\n", err.msg);
    dir = k3c_xasprintf("%s/containers/broken", f->state_dir);
    assert_false(k3c_file_exists(dir));
    assert_int_equal(runtime_list(f->rt, &all, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(all[i].id, "broken");
    free(all);
    /* An id in use is refused. */
    {
        const char *const sleep_args[] = {"sleep", "1000", NULL};
        _cleanup_free_ char *log2 = NULL;
        struct runtime_spec s2 = spec_for(f, "dup", sleep_args, &log2);

        track(f, "dup");
        assert_int_equal(runtime_create(f->rt, &s2, &err), 0);
        assert_int_equal(runtime_create(f->rt, &s2, &err), -1);
        assert_int_equal(err.kind, K3C_E_EXISTS);
        assert_int_equal(runtime_delete(f->rt, "dup", &err), 0);
    }
}

/* The agent's stand-in: creates and starts a container, then exits. */
static void
create_in_child(struct fixture *f, const struct runtime_spec *spec)
{
    const struct runtime_config cfg = {
        .runtime = f->rt_name, .state_dir = f->state_dir, .cmd_timeout_ms = WAIT_MS};
    struct k3c_err err = {0};
    struct runtime *rt = runtime_new(&cfg, &err);
    int rc = rt ? runtime_run(rt, spec, &err) : -1;

    if (rc < 0)
        fprintf(stderr, "# child: %s\n", err.msg);
    runtime_free(rt);
    _exit(rc == 0 ? 0 : 1);
}

static void
test_adopt_after_creator_exits(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const char *const args[] = {"sh", "-c", "echo started; exec sleep 1000", NULL};
    const char *const annotations[] = {"io.kubernetes.pod.uid", f->pod_uid, NULL};
    const char *const exec_args[] = {"sh", "-c", "echo exec-$FOO; exit 7", NULL};
    const char *const env[] = {"FOO=ok", NULL};
    const struct runtime_config cfg = {
        .runtime = f->rt_name, .state_dir = f->state_dir, .cmd_timeout_ms = WAIT_MS};
    _cleanup_free_ char *log = NULL, *out = NULL;
    _cleanup_json_ json_t *ann = NULL;
    struct runtime_spec spec = spec_for(f, "survivor", args, &log);
    struct runtime_status *all = NULL, st = {0};
    struct runtime *rt2 = NULL;
    struct k3c_err err = {0};
    size_t n = 0;
    bool found = false;
    int64_t deadline = k3c_now_ms() + WAIT_MS;
    int status = 0, code = -1;
    pid_t child;

    spec.annotations = annotations;
    spec.env = env;
    track(f, "survivor");
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        create_in_child(f, &spec);
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);

        if (r == child)
            break;
        if (k3c_now_ms() >= deadline) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            fail_msg("creating process did not exit");
        }
        k3c_sleep_ms(10);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* A fresh runtime (the restarted agent) finds it still running. */
    rt2 = runtime_new(&cfg, &err);
    assert_non_null(rt2);
    assert_int_equal(runtime_list(rt2, &all, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].id, "survivor") != 0)
            continue;
        found = true;
        st = all[i];
    }
    free(all);
    assert_true(found);
    assert_int_equal(st.state, RUNTIME_STATE_RUNNING);
    assert_string_equal(st.pod_uid, f->pod_uid);
    assert_string_equal(st.name, "survivor");
    assert_true(st.pid > 0);
    assert_int_equal(kill(st.pid, 0), 0);
    assert_true(log_has(log, "stdout F started"));
    ann = runtime_annotations(rt2, "survivor", &err);
    assert_non_null(ann);
    assert_string_equal(json_string_value(json_object_get(ann, "io.kubernetes.pod.uid")),
                        f->pod_uid);

    /* exec into the adopted container: its env, our exit code. */
    assert_int_equal(runtime_exec_sync(rt2, "survivor", exec_args, WAIT_MS, &code, &out, &err), 0);
    assert_int_equal(code, 7);
    assert_non_null(strstr(out, "exec-ok"));
    {
        const char *const cat[] = {"cat", NULL};
        struct runtime_exec_proc p = {0};
        char buf[64] = {0};
        ssize_t r;

        assert_int_equal(runtime_exec_start(rt2, "survivor", cat, &p, &err), 0);
        assert_int_equal(write(p.stdin_fd, "piped\n", 6), 6);
        close(p.stdin_fd);
        p.stdin_fd = -1;
        r = read(p.stdout_fd, buf, sizeof(buf) - 1);
        assert_int_equal(r, 6);
        assert_string_equal(buf, "piped\n");
        assert_int_equal(runtime_exec_wait(&p, WAIT_MS, &code, &err), 0);
        assert_int_equal(code, 0);
    }

    assert_int_equal(runtime_stop(rt2, "survivor", 500, &err), 0);
    assert_int_equal(runtime_status(rt2, "survivor", &st, &err), 0);
    assert_int_equal(st.state, RUNTIME_STATE_STOPPED);
    assert_int_equal(runtime_exec_sync(rt2, "survivor", exec_args, WAIT_MS, &code, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_CONFLICT);
    assert_int_equal(runtime_delete(rt2, "survivor", &err), 0);
    runtime_free(rt2);
}

/* `auto` takes crun when it works here, else runc; an unknown runtime is
 * NOT_FOUND and names the Debian packages. */
static void
test_select_auto_and_unknown(void **state)
{
    _cleanup_free_ char *dir = harness_mkdtemp("select");
    struct runtime_config cfg = {.runtime = "auto", .cmd_timeout_ms = WAIT_MS};
    struct k3c_err err = {0};
    struct runtime *rt;

    (void)state;
    assert_non_null(dir);
    cfg.state_dir = dir;
    rt = runtime_new(&cfg, &err);
    assert_non_null(rt);
    assert_string_equal(runtime_name(rt), fixtures[1].rt ? "crun" : "runc");
    assert_int_equal(runtime_probe(rt, &err), 0);
    runtime_free(rt);
    cfg.runtime = "no-such-runtime";
    assert_null(runtime_new(&cfg, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "`crun` or `runc`"));
    harness_rm_rf(dir);
}

/* ---- main --------------------------------------------------------------- */

static int
setup_runc(void **state)
{
    *state = &fixtures[0];
    return 0;
}

static int
setup_crun(void **state)
{
    *state = &fixtures[1];
    return 0;
}

static int
teardown_group(void **state)
{
    fixture_fini(*state);
    return 0;
}

#define RUNTIME_TESTS                                                                              \
    {                                                                                              \
        cmocka_unit_test(test_echo_hello_logs_and_exit_zero),                                      \
            cmocka_unit_test(test_failing_command_records_exit_code),                              \
            cmocka_unit_test(test_env_and_cwd), cmocka_unit_test(test_tty_output_logged),          \
            cmocka_unit_test(test_bind_mount_and_readonly_rootfs),                                 \
            cmocka_unit_test(test_limits_and_stop_with_grace),                                     \
            cmocka_unit_test(test_stop_honours_sigterm),                                           \
            cmocka_unit_test(test_failed_create_leaves_nothing),                                   \
            cmocka_unit_test(test_adopt_after_creator_exits),                                      \
    }

int
main(void)
{
    const struct CMUnitTest runc_tests[] = RUNTIME_TESTS;
    const struct CMUnitTest crun_tests[] = RUNTIME_TESTS;
    const struct CMUnitTest select_tests[] = {cmocka_unit_test(test_select_auto_and_unknown)};
    struct k3c_err err = {0};
    int working = 0, rc = 0;

    if (geteuid() != 0) {
        fprintf(stderr, "# not root: skipped\n");
        return 77;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(fixtures); i++) {
        if (fixture_init(&fixtures[i]) < 0) {
            fprintf(stderr, "# fixture for %s failed\n", fixtures[i].rt_name);
            for (size_t j = 0; j <= i; j++)
                fixture_fini(&fixtures[j]);
            return 1;
        }
        working += fixtures[i].rt != NULL;
    }
    if (!working) {
        fprintf(stderr, "# neither runc nor crun works here: skipped\n");
        for (size_t i = 0; i < K3C_ARRAY_SIZE(fixtures); i++)
            fixture_fini(&fixtures[i]);
        return 77;
    }
    rc |= cmocka_run_group_tests_name("select", select_tests, NULL, NULL);
    rc |= cmocka_run_group_tests_name("runc", runc_tests, setup_runc, teardown_group);
    rc |= cmocka_run_group_tests_name("crun", crun_tests, setup_crun, teardown_group);
    /* The shared parent, if no one else uses it. */
    runtime_pod_cgroup_remove("/", "k3c", &err);
    return rc ? 1 : 0;
}
