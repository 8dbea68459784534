/* SPDX-License-Identifier: Apache-2.0
 * test_server.c - end-to-end tests of the k3c binary ($K3C_BIN): the command
 * line, config errors, and `k3c server` with its supervised etcd, driven with
 * signals and Debian's etcdctl. Each test gets a fresh temporary directory
 * and free loopback ports; every wait polls with a deadline, and teardown
 * kills k3c and any etcd left on its data dir, also after a failed assert. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "harness.h"

#define POLL_MS           50
#define CMD_TIMEOUT_MS    20000 /* one short command: k3c --help, etcdctl put... */
#define READY_TIMEOUT_MS  60000 /* k3c server start to "k3c server ready" */
#define EXIT_TIMEOUT_MS   30000 /* SIGTERM/SIGINT to k3c's exit */
#define HEAL_TIMEOUT_MS   30000 /* etcd SIGKILLed to a new, healthy etcd */
#define ORPHAN_TIMEOUT_MS 10000 /* k3c SIGKILLed to its etcd gone (PR_SET_PDEATHSIG) */
#define MAX_ARGS          32

extern char **environ;

static const char *k3c_bin;
static char **k3c_env; /* environ without K3C_* variables, so only our flags count */

/* The outcome of the last short command. */
struct cmd_result {
    int status; /* wait status; -1 when it ran past its timeout and was killed */
    char *out, *err;
};

struct fixture {
    char *dir;      /* temporary root, removed by teardown */
    char *data_dir; /* <dir>/data: k3c's --data-dir */
    char *config;   /* <dir>/config.yaml: a valid config file */
    char *ca_cert, *ca_key, *client_cert, *client_key;
    char *etcd_dir_arg; /* "--data-dir=<data>/server/db/etcd", as k3c passes it to etcd */
    char *endpoint;     /* https://127.0.0.1:<client port> */
    char client_port[16], peer_port[16];
    char *out_path, *err_path; /* where short commands write */
    struct cmd_result res;

    pid_t pid;     /* the running k3c server, or 0 */
    char *log;     /* its stderr */
    unsigned runs; /* servers started so far; names the log files */
};

/* ---- processes ---- */

/* Forks and execs argv with envp, stdin from /dev/null and stdout/stderr to
 * the two files. The child dies with this test (PR_SET_PDEATHSIG), so a
 * crashed test leaves no k3c behind; etcd follows k3c the same way. */
static pid_t
spawn(char *const argv[], char *const envp[], const char *out_path, const char *err_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    int in, out, err;

    if (pid != 0)
        return pid;
    /* The child: async-signal-safe calls only. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    in = open("/dev/null", O_RDONLY);
    out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0)
        _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    close_range(3, ~0U, 0);
    execvpe(argv[0], argv, envp);
    _exit(127);
}

/* Waits up to timeout_ms for pid to exit. */
static bool
wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(POLL_MS);
    }
}

static void
kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The exit code, or 128+signal as a shell shows it, or -1 after a timeout. */
static int
exit_code(int status)
{
    if (status == -1)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

static char *
slurp(const char *path)
{
    struct k3c_err err = {0};
    char *data = NULL;

    if (k3c_read_file(path, &data, NULL, &err) < 0)
        return NULL;
    return data;
}

static bool
file_contains(const char *path, const char *needle)
{
    _cleanup_free_ char *data = slurp(path);

    return data && strstr(data, needle);
}

static bool
is_zombie(const char *pid)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%s/stat", pid);
    _cleanup_free_ char *stat = slurp(path);
    const char *paren = stat ? strrchr(stat, ')') : NULL;

    /* "pid (comm) S ..."; a process gone meanwhile counts as a zombie. */
    return !paren || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

/* Counts the live etcd processes serving f's data dir (argv[0] named etcd and
 * k3c's --data-dir=<data>/server/db/etcd flag), and stores one pid in *one.
 * etcdctl never carries that flag, and k3c itself passes --data-dir apart. */
static int
find_etcd(const struct fixture *f, pid_t *one)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;
    int n = 0;

    if (one)
        *one = 0;
    if (!proc)
        return -1;
    while ((de = readdir(proc))) {
        _cleanup_free_ char *path = NULL, *cmdline = NULL;
        struct k3c_err err = {0};
        const char *base;
        bool ours = false;
        size_t len = 0;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        path = k3c_xasprintf("/proc/%s/cmdline", de->d_name);
        if (k3c_read_file(path, &cmdline, &len, &err) < 0 || len == 0)
            continue;
        base = strrchr(cmdline, '/');
        base = base ? base + 1 : cmdline;
        if (strcmp(base, "etcd") != 0)
            continue;
        for (size_t off = 0; off < len; off += strlen(cmdline + off) + 1)
            if (strcmp(cmdline + off, f->etcd_dir_arg) == 0)
                ours = true;
        if (!ours || is_zombie(de->d_name))
            continue;
        if (one && *one == 0)
            *one = (pid_t)atoi(de->d_name);
        n++;
    }
    closedir(proc);
    return n;
}

/* Polls until no etcd serves f's data dir. */
static bool
wait_no_etcd(const struct fixture *f, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    for (;;) {
        if (find_etcd(f, NULL) == 0)
            return true;
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(POLL_MS);
    }
}

/* ---- short commands ---- */

static void
cmd_result_fini(struct cmd_result *r)
{
    free(r->out);
    free(r->err);
    *r = (struct cmd_result){.status = -1};
}

/* Runs argv to completion (killed after timeout_ms); the result is in f->res. */
static void
run_cmd(struct fixture *f, char *const argv[], char *const envp[], int timeout_ms)
{
    pid_t pid;
    int status = -1;

    cmd_result_fini(&f->res);
    pid = spawn(argv, envp, f->out_path, f->err_path);
    assert_true(pid > 0);
    if (!wait_exit(pid, timeout_ms, &status)) {
        kill_and_reap(pid);
        status = -1;
    }
    f->res.status = status;
    f->res.out = slurp(f->out_path);
    f->res.err = slurp(f->err_path);
}

/* Fails, showing the last command's output, unless it exited with code. */
#define assert_exit(f, code) check_exit((f), (code), __FILE__, __LINE__)
static void
check_exit(const struct fixture *f, int code, const char *file, int line)
{
    int got = exit_code(f->res.status);

    if (got == code)
        return;
    print_error("stdout:\n%s\nstderr:\n%s\n", f->res.out ? f->res.out : "(none)",
                f->res.err ? f->res.err : "(none)");
    fail_msg("%s:%d: exit code %d, want %d", file, line, got, code);
}

#define assert_contains(text, needle) check_contains((text), (needle), __FILE__, __LINE__)
static void
check_contains(const char *text, const char *needle, const char *file, int line)
{
    if (text && strstr(text, needle))
        return;
    fail_msg("%s:%d: \"%s\" not found in:\n%s", file, line, needle, text ? text : "(nothing)");
}

/* Runs k3c with the given arguments (NULL-terminated) and envp. */
static void
run_k3c_env(struct fixture *f, char **envp, ...)
{
    char *argv[MAX_ARGS] = {(char *)k3c_bin};
    size_t n = 1;
    va_list ap;

    va_start(ap, envp);
    while ((argv[n] = va_arg(ap, char *)) != NULL)
        assert_true(++n < MAX_ARGS);
    va_end(ap);
    run_cmd(f, argv, envp, CMD_TIMEOUT_MS);
}

#define run_k3c(f, ...) run_k3c_env((f), k3c_env, __VA_ARGS__, NULL)

/* Runs etcdctl (API v3) against the server's etcd with the client
 * certificate k3c issued, as the documentation tells operators to. */
static void
etcdctl_v(struct fixture *f, ...)
{
    char *argv[MAX_ARGS] = {"etcdctl",
                            "--endpoints",
                            f->endpoint,
                            "--cacert",
                            f->ca_cert,
                            "--cert",
                            f->client_cert,
                            "--key",
                            f->client_key,
                            "--dial-timeout=2s",
                            "--command-timeout=5s"};
    size_t n = 0;
    va_list ap;

    while (argv[n])
        n++;
    va_start(ap, f);
    while ((argv[n] = va_arg(ap, char *)) != NULL)
        assert_true(++n < MAX_ARGS);
    va_end(ap);
    run_cmd(f, argv, environ, CMD_TIMEOUT_MS);
}

#define etcdctl(f, ...) etcdctl_v((f), __VA_ARGS__, NULL)

/* ---- the server ---- */

static void
dump_log(const struct fixture *f)
{
    _cleanup_free_ char *log = f->log ? slurp(f->log) : NULL;

    print_error("---- k3c server log %s ----\n%s\n----\n", f->log ? f->log : "",
                log ? log : "(none)");
}

static void
server_start(struct fixture *f)
{
    _cleanup_free_ char *out = NULL;
    char *argv[] = {(char *)k3c_bin,
                    "server",
                    "--config",
                    f->config,
                    "--data-dir",
                    f->data_dir,
                    "--node-name",
                    "e2e-node",
                    "--etcd-client-port",
                    f->client_port,
                    "--etcd-peer-port",
                    f->peer_port,
                    NULL};

    assert_int_equal(f->pid, 0);
    f->runs++;
    free(f->log);
    f->log = k3c_xasprintf("%s/k3c-%u.log", f->dir, f->runs);
    out = k3c_xasprintf("%s/k3c-%u.out", f->dir, f->runs);
    f->pid = spawn(argv, k3c_env, out, f->log);
    assert_true(f->pid > 0);
}

/* Polls the server's log for needle; gives up early if k3c exits. */
static bool
server_wait_log(struct fixture *f, const char *needle, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    for (;;) {
        int status;

        if (file_contains(f->log, needle))
            return true;
        if (f->pid > 0 && waitpid(f->pid, &status, WNOHANG) == f->pid) {
            print_error("k3c exited early, code %d\n", exit_code(status));
            f->pid = 0;
            return file_contains(f->log, needle);
        }
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(POLL_MS);
    }
}

static void
server_wait_ready(struct fixture *f)
{
    if (!server_wait_log(f, "k3c server ready", READY_TIMEOUT_MS)) {
        dump_log(f);
        fail_msg("k3c server not ready after %d ms", READY_TIMEOUT_MS);
    }
    /* And it is still running. */
    assert_int_equal(kill(f->pid, 0), 0);
}

/* Sends sig and checks an orderly stop: exit 0 in time, the goodbye line,
 * no sanitizer report, and no etcd left on the data dir. k3c reaps etcd
 * before it exits, so the last check needs no waiting. */
static void
server_stop_clean(struct fixture *f, int sig)
{
    _cleanup_free_ char *log = NULL;
    int status = -1;

    assert_true(f->pid > 0);
    assert_int_equal(kill(f->pid, sig), 0);
    if (!wait_exit(f->pid, EXIT_TIMEOUT_MS, &status)) {
        dump_log(f);
        fail_msg("k3c did not exit within %d ms of signal %d", EXIT_TIMEOUT_MS, sig);
    }
    f->pid = 0;
    log = slurp(f->log);
    if (exit_code(status) != 0) {
        dump_log(f);
        fail_msg("k3c exited with %d after signal %d, want 0", exit_code(status), sig);
    }
    assert_contains(log, "k3c server stopped");
    assert_null(strstr(log, "Sanitizer"));
    assert_null(strstr(log, "runtime error"));
    assert_int_equal(find_etcd(f, NULL), 0);
}

/* ---- fixture ---- */

static void
require_tools(void)
{
    _cleanup_free_ char *etcd = k3c_find_in_path("etcd");
    _cleanup_free_ char *etcdctl = k3c_find_in_path("etcdctl");

    if (!etcd || !etcdctl)
        fail_msg("these tests need etcd and etcdctl: apt-get install etcd-server etcd-client");
}

static int
group_setup(void **state)
{
    size_t n = 0;

    (void)state;
    k3c_bin = getenv("K3C_BIN");
    if (!k3c_bin || access(k3c_bin, X_OK) != 0) {
        fprintf(stderr, "K3C_BIN must name the k3c binary (got %s)\n", k3c_bin ? k3c_bin : "");
        return -1;
    }
    setenv("ETCDCTL_API", "3", 1);
    for (char **e = environ; *e; e++)
        n++;
    k3c_env = k3c_xcalloc(n + 1, sizeof(char *));
    n = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "K3C_", 4) != 0)
            k3c_env[n++] = *e;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    free(k3c_env);
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));
    struct k3c_err err = {0};
    _cleanup_free_ char *tls = NULL, *config = NULL;
    int cport = harness_free_port(), pport;

    f->res.status = -1;
    f->dir = harness_mkdtemp("e2e");
    if (!f->dir || cport <= 0) {
        free(f->dir);
        free(f);
        return -1;
    }
    do
        pport = harness_free_port();
    while (pport == cport);
    snprintf(f->client_port, sizeof(f->client_port), "%d", cport);
    snprintf(f->peer_port, sizeof(f->peer_port), "%d", pport);
    f->data_dir = k3c_xasprintf("%s/data", f->dir);
    f->config = k3c_xasprintf("%s/config.yaml", f->dir);
    tls = k3c_xasprintf("%s/server/tls", f->data_dir);
    f->ca_cert = k3c_xasprintf("%s/server-ca.crt", tls);
    f->ca_key = k3c_xasprintf("%s/server-ca.key", tls);
    f->client_cert = k3c_xasprintf("%s/etcd/client.crt", tls);
    f->client_key = k3c_xasprintf("%s/etcd/client.key", tls);
    f->etcd_dir_arg = k3c_xasprintf("--data-dir=%s/server/db/etcd", f->data_dir);
    f->endpoint = k3c_xasprintf("https://127.0.0.1:%d", cport);
    f->out_path = k3c_xasprintf("%s/cmd.out", f->dir);
    f->err_path = k3c_xasprintf("%s/cmd.err", f->dir);
    /* The API server gets a free port and writes its kubeconfig here, so the
     * test touches neither 6443 nor /etc/k3c. */
    /* In the root namespace: loopback only, and no pods (no bridge, pod
     * network, service-proxy tables or sysctls touched on the host). */
    config = k3c_xasprintf("# k3c e2e test\netcd-election-timeout: 1000\nnode-ip: 127.0.0.1\n"
                           "disable-pods: true\n"
                           "https-listen-port: %d\nbind-address: 127.0.0.1\n"
                           "write-kubeconfig: %s/kubeconfig.yaml\n",
                           harness_free_port(), f->dir);
    *state = f;
    if (k3c_write_file(f->config, config, strlen(config), 0600, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    pid_t pid;

    if (!f)
        return 0;
    if (f->pid > 0)
        kill_and_reap(f->pid);
    /* Whatever etcd is left (the test failed, or k3c was SIGKILLed). */
    for (int i = 0; i < 100 && find_etcd(f, &pid) > 0; i++) {
        kill(pid, SIGKILL);
        k3c_sleep_ms(POLL_MS);
    }
    if (getenv("K3C_KEEP_TEST_DIRS"))
        fprintf(stderr, "kept %s\n", f->dir);
    else
        harness_rm_rf(f->dir);
    cmd_result_fini(&f->res);
    free(f->dir);
    free(f->data_dir);
    free(f->config);
    free(f->ca_cert);
    free(f->ca_key);
    free(f->client_cert);
    free(f->client_key);
    free(f->etcd_dir_arg);
    free(f->endpoint);
    free(f->out_path);
    free(f->err_path);
    free(f->log);
    free(f);
    return 0;
}

/* ---- tests ---- */

/* Every server run below would otherwise fall back to /var/lib/k3c and the
 * standard ports if a flag were lost; these keep a wrong run harmless. */
#define SAFE_SERVER_FLAGS(f)                                                                       \
    "--config", (f)->config, "--data-dir", (f)->data_dir, "--etcd-client-port", (f)->client_port,  \
        "--etcd-peer-port", (f)->peer_port

static void
test_cli(void **state)
{
    struct fixture *f = *state;

    run_k3c(f, "--version");
    assert_exit(f, 0);
    assert_contains(f->res.out, "k3c version v");

    run_k3c(f, "help");
    assert_exit(f, 0);
    assert_contains(f->res.out, "server");
    assert_contains(f->res.out, "agent");

    run_k3c(f, "server", "--help");
    assert_exit(f, 0);
    assert_contains(f->res.out, "--data-dir");
    assert_contains(f->res.out, "--etcd-client-port");

    run_k3c(f, "server", SAFE_SERVER_FLAGS(f), "--etcd-binary", "k3c-no-such-etcd",
            "--no-such-flag");
    assert_exit(f, 2);
    assert_contains(f->res.err, "unknown flag");
    assert_contains(f->res.err, "--no-such-flag");

    run_k3c(f, "server", SAFE_SERVER_FLAGS(f), "--etcd-binary", "k3c-no-such-etcd", "stray");
    assert_exit(f, 2);

    run_k3c(f, "nosuchverb");
    assert_exit(f, 2);
    assert_contains(f->res.err, "nosuchverb");

    run_cmd(f, (char *[]){(char *)k3c_bin, NULL}, k3c_env, CMD_TIMEOUT_MS);
    assert_exit(f, 2);

    /* An agent needs to know where to join and with what. */
    run_k3c(f, "agent", "--config", f->config, "--data-dir", f->data_dir);
    assert_exit(f, 2);
    assert_contains(f->res.err, "--server and --token are required");

    /* None of these may have touched the data dir. */
    assert_false(k3c_file_exists(f->data_dir));
}

static void
write_text(const char *path, const char *text)
{
    struct k3c_err err = {0};

    if (k3c_write_file(path, text, strlen(text), 0600, &err) < 0)
        fail_msg("%s", err.msg);
}

static void
test_bad_config(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *missing = k3c_xasprintf("%s/no-such-config.yaml", f->dir);
    static const char *const bad[] = {
        "node-name: e2e-node\ndata-dir: [unclosed\n", /* YAML syntax */
        "node-name: e2e-node\nno-such-key: 1\n",      /* unknown key */
        "node-name: e2e-node\netcd-client-port: x\n", /* bad value */
    };

    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        _cleanup_free_ char *path = k3c_xasprintf("%s/bad-%zu.yaml", f->dir, i);
        _cleanup_free_ char *where = k3c_xasprintf("%s:2:", path);

        write_text(path, bad[i]);
        run_k3c(f, "server", "--config", path, "--data-dir", f->data_dir, "--etcd-binary",
                "k3c-no-such-etcd");
        assert_exit(f, 1);
        assert_contains(f->res.err, where);
    }
    /* An explicitly named config file that does not exist is an error too. */
    run_k3c(f, "server", "--config", missing, "--data-dir", f->data_dir, "--etcd-binary",
            "k3c-no-such-etcd");
    assert_exit(f, 1);
    assert_contains(f->res.err, missing);
    assert_false(k3c_file_exists(f->data_dir));
}

static void
test_missing_etcd(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *empty_bin = k3c_xasprintf("%s/empty-bin", f->dir);
    _cleanup_free_ char *path_var = k3c_xasprintf("PATH=%s", empty_bin);
    size_t n = 0;
    _cleanup_free_ char **env = NULL;

    /* A named binary that does not exist. */
    run_k3c(f, "server", SAFE_SERVER_FLAGS(f), "--etcd-binary", "k3c-no-such-etcd");
    assert_exit(f, 1);
    assert_contains(f->res.err, "k3c-no-such-etcd");
    assert_contains(f->res.err, "etcd-server");

    /* The default "etcd" with a PATH that has none. */
    assert_int_equal(mkdir(empty_bin, 0700), 0);
    for (char **e = k3c_env; *e; e++)
        n++;
    env = k3c_xcalloc(n + 2, sizeof(char *));
    n = 0;
    for (char **e = k3c_env; *e; e++)
        if (strncmp(*e, "PATH=", 5) != 0)
            env[n++] = *e;
    env[n] = path_var;
    run_k3c_env(f, env, "server", SAFE_SERVER_FLAGS(f), NULL);
    assert_exit(f, 1);
    assert_contains(f->res.err, "etcd-server");
    assert_int_equal(find_etcd(f, NULL), 0);
    /* Refused before anything was written: no CA, no data dir. */
    assert_false(k3c_file_exists(f->data_dir));
}

static void
assert_key_mode(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    if ((st.st_mode & 07777) != 0600)
        fail_msg("%s has mode %04o, want 0600", path, (unsigned)(st.st_mode & 07777));
}

static void
assert_file_exists(const char *path)
{
    if (!k3c_file_exists(path))
        fail_msg("%s does not exist", path);
}

static void
test_restart_same_data_dir(void **state)
{
    struct fixture *f = *state;
    static const char *const certs[] = {"server-ca.crt", "etcd/client.crt",
                                        "etcd/server-client.crt", "etcd/peer-server-client.crt"};
    static const char *const keys[] = {"server-ca.key", "etcd/client.key", "etcd/server-client.key",
                                       "etcd/peer-server-client.key"};
    _cleanup_free_ char *snap = k3c_xasprintf("%s/snap.db", f->data_dir);
    _cleanup_free_ char *ca1 = NULL, *ca2 = NULL;
    size_t lines = 0;
    struct stat st;

    require_tools();
    server_start(f);
    server_wait_ready(f);
    assert_true(file_contains(f->log, "created CA"));
    for (size_t i = 0; i < K3C_ARRAY_SIZE(certs); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/server/tls/%s", f->data_dir, certs[i]);
        assert_file_exists(p);
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(keys); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/server/tls/%s", f->data_dir, keys[i]);
        assert_key_mode(p);
    }
    ca1 = slurp(f->ca_cert);
    assert_non_null(ca1);
    assert_contains(ca1, "BEGIN CERTIFICATE");

    etcdctl(f, "put", "/k3c-e2e/marker", "hello");
    assert_exit(f, 0);
    assert_contains(f->res.out, "OK");
    server_stop_clean(f, SIGTERM);

    /* Second run: same CA, same data, same single member. */
    server_start(f);
    server_wait_ready(f);
    assert_false(file_contains(f->log, "created CA"));
    ca2 = slurp(f->ca_cert);
    assert_non_null(ca2);
    assert_string_equal(ca1, ca2);

    etcdctl(f, "get", "/k3c-e2e/marker", "--print-value-only");
    assert_exit(f, 0);
    assert_string_equal(f->res.out, "hello\n");

    etcdctl(f, "member", "list");
    assert_exit(f, 0);
    for (const char *p = f->res.out; p && *p; p++)
        lines += *p == '\n';
    if (lines != 1)
        fail_msg("member list has %zu lines, want 1:\n%s", lines, f->res.out);
    assert_contains(f->res.out, "e2e-node");

    etcdctl(f, "snapshot", "save", snap);
    assert_exit(f, 0);
    assert_int_equal(stat(snap, &st), 0);
    assert_true(st.st_size > 0);

    server_stop_clean(f, SIGINT);
}

static void
test_etcd_killed(void **state)
{
    struct fixture *f = *state;
    int64_t deadline;
    pid_t old = 0, now = 0;
    bool healed = false;

    require_tools();
    server_start(f);
    server_wait_ready(f);
    etcdctl(f, "put", "/k3c-e2e/survivor", "still-here");
    assert_exit(f, 0);
    assert_int_equal(find_etcd(f, &old), 1);
    assert_true(old > 0);

    assert_int_equal(kill(old, SIGKILL), 0);
    deadline = k3c_now_ms() + HEAL_TIMEOUT_MS;
    while (!healed && k3c_now_ms() < deadline) {
        k3c_sleep_ms(POLL_MS);
        if (find_etcd(f, &now) != 1 || now == old)
            continue;
        etcdctl(f, "endpoint", "health");
        healed = exit_code(f->res.status) == 0;
    }
    if (!healed) {
        dump_log(f);
        fail_msg("no healthy new etcd within %d ms (old pid %d, now %d)", HEAL_TIMEOUT_MS, (int)old,
                 (int)now);
    }
    /* k3c itself kept running through it. */
    assert_int_equal(kill(f->pid, 0), 0);

    etcdctl(f, "get", "/k3c-e2e/survivor", "--print-value-only");
    assert_exit(f, 0);
    assert_string_equal(f->res.out, "still-here\n");
    assert_true(file_contains(f->log, "exited unexpectedly"));

    server_stop_clean(f, SIGTERM);
}

static void
test_k3c_killed(void **state)
{
    struct fixture *f = *state;
    pid_t etcd = 0;
    int status = -1;

    require_tools();
    server_start(f);
    server_wait_ready(f);
    assert_int_equal(find_etcd(f, &etcd), 1);

    assert_int_equal(kill(f->pid, SIGKILL), 0);
    assert_true(wait_exit(f->pid, EXIT_TIMEOUT_MS, &status));
    f->pid = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (!wait_no_etcd(f, ORPHAN_TIMEOUT_MS))
        fail_msg("etcd (pid %d) outlived the SIGKILLed k3c by %d ms", (int)etcd, ORPHAN_TIMEOUT_MS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_etcd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_same_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k3c_killed, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
