/* SPDX-License-Identifier: Apache-2.0
 * runtime.c - container lifecycle over an OCI runtime (runc/crun) and conmon.
 * Everything a container needs after an agent restart is on disk: meta.json
 * (ids, pids with their /proc start times, runtime path and root) and the
 * files conmon writes (exits/<id>, oom). Status reads only those and /proc,
 * so polling it spawns nothing. Every spawned process is waited for with a
 * deadline and reaped; conmon double-forks, so its survivor is not ours. */
#define LOG_COMPONENT "runtime"
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUNTIME_CMD_TIMEOUT_MS 30000
#define RUNTIME_POLL_MS        20
#define RUNTIME_OUTPUT_MAX     (64 * 1024) /* captured command output is cut here */
#define RUNTIME_MAX_ARGS       64
#define RUNTIME_CGROUP_ROOT    "/sys/fs/cgroup"

struct runtime {
    char *name; /* "runc" / "crun" */
    char *path; /* the runtime binary */
    char *conmon;
    char *state_dir, *containers_dir, *exits_dir, *sockets_dir;
    char *root_dir; /* this runtime's --root */
    int cmd_timeout_ms;
};

/* What meta.json holds about one container. */
struct meta {
    char *runtime_path, *runtime_root, *cgroups_path, *log_path;
    char pod_uid[RUNTIME_NAME_MAX + 1];
    char name[RUNTIME_NAME_MAX + 1];
    int64_t created_ms, started_ms;
    pid_t conmon_pid, pid;
    unsigned long long conmon_start, pid_start; /* /proc/<pid>/stat field 22 */
};

/* One runtime the `auto` choice knows, in order of preference. */
struct runtime_kind {
    const char *name;
    bool probe_in_auto; /* must run a probe container before auto picks it */
};

static const struct runtime_kind runtime_kinds[] = {
    {"crun", true},
    {"runc", false},
};

static void
meta_fini(struct meta *m)
{
    free(m->runtime_path);
    free(m->runtime_root);
    free(m->cgroups_path);
    free(m->log_path);
    memset(m, 0, sizeof(*m));
}

/* ---- processes ---------------------------------------------------------- */

/* A pipe whose fds are CLOEXEC and >= 10, so the dup2s of a spawn can never
 * clobber a source fd that happens to be 0..3. */
static int
pipe_high(int p[2], struct k3c_err *err)
{
    int raw[2];

    if (pipe2(raw, O_CLOEXEC) < 0)
        return k3c_err_sys(err, errno, "pipe");
    for (int i = 0; i < 2; i++) {
        p[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 10);
        close(raw[i]);
    }
    if (p[0] < 0 || p[1] < 0) {
        int e = errno;

        if (p[0] >= 0)
            close(p[0]);
        if (p[1] >= 0)
            close(p[1]);
        return k3c_err_sys(err, e, "fcntl(F_DUPFD_CLOEXEC)");
    }
    return 0;
}

/* Spawns argv with fds[i] as fd i (i = 0..3; -1: /dev/null for 0..2, absent
 * for 3); every other fd is closed. env is PATH (the agent's) plus extra_env. */
static int
spawn_ex(const char *const *argv, const char *extra_env, const int fds[4], bool new_session,
         const char *tty_path, pid_t *pid_out, struct k3c_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    const char *path = getenv("PATH");
    _cleanup_free_ char *path_env =
        k3c_xasprintf("PATH=%s", path && *path ? path
                                               : "/usr/local/sbin:/usr/local/bin:"
                                                 "/usr/sbin:/usr/bin:/sbin:/bin");
    char *envp[3] = {path_env, (char *)extra_env, NULL};
    pid_t pid = -1;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < 4; i++) {
        if (tty_path && i < 3) {
            /* After setsid the first tty opened becomes the controlling one. */
            if (i == 0)
                posix_spawn_file_actions_addopen(&fa, 0, tty_path, O_RDWR, 0);
            else
                posix_spawn_file_actions_adddup2(&fa, 0, i);
        } else if (fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, fds[i], i);
        else if (i < 3)
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, fds[3] >= 0 ? 4 : 3);
    /* The child starts with default signal handling and nothing blocked, in
     * its own session when it must outlive us (signals to our group miss it). */
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        (new_session || tty_path ? POSIX_SPAWN_SETSID : 0));
    rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return k3c_err_sys(err, rc, "spawn %s", argv[0]);
    *pid_out = pid;
    return 0;
}

static int
spawn(const char *const *argv, const char *extra_env, const int fds[4], bool new_session,
      pid_t *pid_out, struct k3c_err *err)
{
    return spawn_ex(argv, extra_env, fds, new_session, NULL, pid_out, err);
}

/* Exit code of a wait status: the code, or 128+signal. */
static int
wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Reaps pid, waiting until deadline (CLOCK_MONOTONIC ms); past it the child
 * is SIGKILLed and reaped (returns -1 with K3C_E_TIMEOUT). */
static int
reap_until(pid_t pid, int64_t deadline, int *code, const char *what, struct k3c_err *err)
{
    int status = 0;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            *code = wait_status_code(status);
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return k3c_err_sys(err, errno, "waitpid %s", what);
        if (k3c_now_ms() >= deadline)
            break;
        k3c_sleep_ms(2);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return k3c_err_set(err, K3C_E_TIMEOUT, "%s: no exit within the deadline, killed", what);
}

/* Runs argv with stdin from /dev/null, stdout+stderr collected (up to
 * RUNTIME_OUTPUT_MAX) into *output (NULL: discarded), waiting up to
 * timeout_ms. *code gets the exit code (128+signal). */
static int
run_cmd(const char *const *argv, int64_t timeout_ms, int *code, char **output, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;
    int p[2] = {-1, -1};
    _cleanup_close_ int rd = -1;
    int fds[4] = {-1, -1, -1, -1};
    char *buf = k3c_xmalloc(RUNTIME_OUTPUT_MAX + 1);
    size_t len = 0;
    pid_t pid = -1;
    bool exited = false, eof = false;
    int status = 0;

    if (pipe_high(p, err) < 0) {
        free(buf);
        return -1;
    }
    rd = p[0];
    fds[1] = fds[2] = p[1];
    if (spawn(argv, NULL, fds, false, &pid, err) < 0) {
        close(p[1]);
        free(buf);
        return -1;
    }
    close(p[1]);
    fcntl(rd, F_SETFL, O_NONBLOCK);
    /* Read until the child has exited and the pipe is drained; a grandchild
     * holding the pipe open cannot keep us past the child's exit. */
    while (!eof) {
        struct pollfd pfd = {.fd = rd, .events = POLLIN};
        int64_t left = deadline - k3c_now_ms();

        if (left <= 0)
            break;
        if (!exited) {
            pid_t r = waitpid(pid, &status, WNOHANG);

            if (r == pid)
                exited = true;
        }
        if (poll(&pfd, 1, exited ? 0 : (int)(left < RUNTIME_POLL_MS ? left : RUNTIME_POLL_MS)) <
                0 &&
            errno != EINTR)
            break;
        for (;;) {
            char tmp[4096];
            ssize_t n = read(rd, tmp, sizeof(tmp));

            if (n > 0) {
                size_t take = (size_t)n;

                if (len + take > RUNTIME_OUTPUT_MAX)
                    take = RUNTIME_OUTPUT_MAX - len;
                memcpy(buf + len, tmp, take);
                len += take;
                continue;
            }
            if (n == 0)
                eof = true;
            break;
        }
        if (exited && !eof)
            break; /* drained what is there; the writer is not our child */
    }
    buf[len] = '\0';
    if (!exited) {
        if (reap_until(pid, deadline, code, argv[0], err) < 0) {
            k3c_err_wrap(err, "%s %s", argv[0], argv[1] ? argv[1] : "");
            free(buf);
            return -1;
        }
    } else {
        *code = wait_status_code(status);
    }
    if (output)
        *output = buf;
    else
        free(buf);
    return 0;
}

/* The last line of a command's output, without the trailing newline, for
 * error messages. Points into s. */
static const char *
last_line(char *s)
{
    size_t n = strlen(s);
    char *nl;

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    nl = strrchr(s, '\n');
    return nl ? nl + 1 : s;
}

/* Runs `<runtime> --root <root> <verb> args...`; a non-zero exit is
 * K3C_E_INTERNAL with the runtime's last output line. */
static int
runtime_cmd(const struct runtime *rt, const char *path, const char *root, const char *const *args,
            struct k3c_err *err)
{
    const char *argv[RUNTIME_MAX_ARGS];
    _cleanup_free_ char *out = NULL;
    size_t n = 0;
    int code = -1;

    argv[n++] = path;
    argv[n++] = "--root";
    argv[n++] = root;
    for (size_t i = 0; args[i] && n < RUNTIME_MAX_ARGS - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (run_cmd(argv, rt->cmd_timeout_ms, &code, &out, err) < 0)
        return -1;
    if (code != 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s %s: exit %d: %s", path, args[0], code,
                           last_line(out));
    return 0;
}

/* ---- /proc -------------------------------------------------------------- */

/* Start time (clock ticks since boot) of pid, 0 if it is gone or a zombie.
 * The pair (pid, start time) names a process across pid reuse. */
static unsigned long long
proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    _cleanup_close_ int fd = -1;
    ssize_t n;
    char *p;
    unsigned long long start = 0;
    char state = 0;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may contain spaces and parens: fields restart after the last ')'. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1,
                     " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                     "%*d %*d %*d %llu",
                     &state, &start) != 2)
        return 0;
    if (state == 'Z' || state == 'X') {
        /* Reaps it if it is ours (the agent as a subreaper); harmless otherwise. */
        waitpid(pid, NULL, WNOHANG);
        return 0;
    }
    return start;
}

static bool
proc_alive(pid_t pid, unsigned long long start)
{
    return pid > 0 && start != 0 && proc_start_time(pid) == start;
}

/* ---- files -------------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        log_warn("(runtime) remove %s: %s", path, strerror(errno));
    return 0;
}

/* rm -rf that follows no symlink and crosses no mount point. */
static void
rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static char *
container_dir(const struct runtime *rt, const char *id)
{
    return k3c_xasprintf("%s/%s", rt->containers_dir, id);
}

static char *
container_file(const struct runtime *rt, const char *id, const char *file)
{
    return k3c_xasprintf("%s/%s/%s", rt->containers_dir, id, file);
}

static int
read_int_file(const char *path, long long *out)
{
    struct k3c_err ignored = {0};
    _cleanup_free_ char *data = NULL;
    char *end = NULL;
    long long v;

    if (k3c_read_file(path, &data, NULL, &ignored) < 0)
        return -1;
    errno = 0;
    v = strtoll(data, &end, 10);
    if (errno || end == data)
        return -1;
    *out = v;
    return 0;
}

static int
json_write(const char *path, json_t *j, struct k3c_err *err)
{
    _cleanup_free_ char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);

    if (!s)
        return k3c_err_set(err, K3C_E_INTERNAL, "encode %s", path);
    return k3c_write_file(path, s, strlen(s), 0600, err);
}

static int
meta_write(const struct runtime *rt, const char *id, const struct meta *m, struct k3c_err *err)
{
    _cleanup_free_ char *path = container_file(rt, id, "meta.json");
    _cleanup_json_ json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:I, s:i, s:I}", "id", id, "pod_uid",
        m->pod_uid, "name", m->name, "runtime_path", m->runtime_path, "runtime_root",
        m->runtime_root, "cgroups_path", m->cgroups_path, "log_path", m->log_path, "created_ms",
        (json_int_t)m->created_ms, "started_ms", (json_int_t)m->started_ms, "conmon_pid",
        (int)m->conmon_pid, "conmon_start", (json_int_t)m->conmon_start, "pid", (int)m->pid,
        "pid_start", (json_int_t)m->pid_start);

    if (!j)
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) encode meta.json", id);
    return json_write(path, j, err);
}

static int
meta_read(const struct runtime *rt, const char *id, struct meta *m, struct k3c_err *err)
{
    _cleanup_free_ char *path = container_file(rt, id, "meta.json");
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    const char *pod_uid = "", *name = "", *rpath = NULL, *rroot = NULL, *cg = NULL, *log = NULL;
    json_int_t created = 0, started = 0, cstart = 0, pstart = 0;
    int cpid = 0, pid = 0;

    j = json_load_file(path, 0, &jerr);
    if (!j) {
        if (access(path, F_OK) < 0 && errno == ENOENT)
            return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id);
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) meta.json: %s", id, jerr.text);
    }
    if (json_unpack_ex(j, &jerr, 0, "{s?s, s?s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:I, s:i, s:I}",
                       "pod_uid", &pod_uid, "name", &name, "runtime_path", &rpath, "runtime_root",
                       &rroot, "cgroups_path", &cg, "log_path", &log, "created_ms", &created,
                       "started_ms", &started, "conmon_pid", &cpid, "conmon_start", &cstart, "pid",
                       &pid, "pid_start", &pstart) < 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) meta.json: %s", id, jerr.text);
    memset(m, 0, sizeof(*m));
    snprintf(m->pod_uid, sizeof(m->pod_uid), "%s", pod_uid);
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->runtime_path = k3c_xstrdup(rpath);
    m->runtime_root = k3c_xstrdup(rroot);
    m->cgroups_path = k3c_xstrdup(cg);
    m->log_path = k3c_xstrdup(log);
    m->created_ms = created;
    m->started_ms = started;
    m->conmon_pid = cpid;
    m->conmon_start = (unsigned long long)cstart;
    m->pid = pid;
    m->pid_start = (unsigned long long)pstart;
    return 0;
}

/* ---- cgroups ------------------------------------------------------------ */

/* Calls fn(hierarchy root) for each mounted hierarchy: /sys/fs/cgroup on a
 * unified (v2) host, each directory under it on v1/hybrid (cpu, memory, ...,
 * systemd, unified). Symlinks such as cpu -> cpu,cpuacct are skipped. */
static void
cgroup_roots_each(void (*fn)(const char *root, void *arg), void *arg)
{
    DIR *d;
    struct dirent *de;

    if (k3c_file_exists(RUNTIME_CGROUP_ROOT "/cgroup.controllers")) {
        fn(RUNTIME_CGROUP_ROOT, arg);
        return;
    }
    d = opendir(RUNTIME_CGROUP_ROOT);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        _cleanup_free_ char *root = NULL;

        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
            continue;
        root = k3c_xasprintf("%s/%s", RUNTIME_CGROUP_ROOT, de->d_name);
        fn(root, arg);
    }
    closedir(d);
}

struct cgroup_rm {
    const char *path; /* absolute cgroup path, e.g. /k3c/<pod>/<ctr> */
    int busy_errno;   /* first rmdir failure other than ENOENT */
    char busy_dir[PATH_MAX];
};

static void
cgroup_rmdir_one(const char *root, void *arg)
{
    struct cgroup_rm *c = arg;
    _cleanup_free_ char *dir = k3c_xasprintf("%s%s", root, c->path);

    /* EBUSY right after the last task exits is transient in v1. */
    for (int tries = 0; tries < 50; tries++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        k3c_sleep_ms(10);
    }
    if (!c->busy_errno) {
        c->busy_errno = errno;
        snprintf(c->busy_dir, sizeof(c->busy_dir), "%s", dir);
    }
}

static int
cgroup_remove(const char *path, struct k3c_err *err)
{
    struct cgroup_rm c = {.path = path};

    cgroup_roots_each(cgroup_rmdir_one, &c);
    if (c.busy_errno == ENOTEMPTY || c.busy_errno == EBUSY)
        return k3c_err_set(err, K3C_E_CONFLICT, "cgroup %s is still in use", c.busy_dir);
    if (c.busy_errno)
        return k3c_err_sys(err, c.busy_errno, "rmdir %s", c.busy_dir);
    return 0;
}

int
runtime_pod_cgroup_remove(const char *cgroup_parent, const char *pod_uid, struct k3c_err *err)
{
    const char *parent = cgroup_parent ? cgroup_parent : RUNTIME_CGROUP_PARENT;
    _cleanup_free_ char *path = NULL;

    if (!pod_uid || !*pod_uid || strchr(pod_uid, '/') || strcmp(pod_uid, "..") == 0 ||
        strcmp(pod_uid, ".") == 0 || parent[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "bad pod cgroup %s/%s", parent,
                           pod_uid ? pod_uid : "");
    path = k3c_xasprintf("%s/%s", strcmp(parent, "/") == 0 ? "" : parent, pod_uid);
    return cgroup_remove(path, err);
}

/* ---- host limits -------------------------------------------------------- */

/* True if this process holds cap in its effective set (/proc/self/status). */
static bool
have_capability(int cap)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long eff = 0;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            return (eff >> cap) & 1;
    return false;
}

/* The RLIMIT_NOFILE a container gets when the spec names none:
 * RUNTIME_NOFILE, but never above fs.nr_open, nor above our own hard limit
 * when we cannot raise it (no CAP_SYS_RESOURCE, e.g. inside a sandbox):
 * the runtime's setrlimit would fail with EPERM. */
static uint64_t
host_nofile_default(void)
{
    uint64_t n = RUNTIME_NOFILE;
    long long nr_open = 0;
    struct rlimit rl;

    if (read_int_file("/proc/sys/fs/nr_open", &nr_open) == 0 && nr_open > 0 &&
        (uint64_t)nr_open < n)
        n = (uint64_t)nr_open;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n &&
        !have_capability(CAP_SYS_RESOURCE))
        n = rl.rlim_max;
    return n;
}

/* ---- selection ---------------------------------------------------------- */

/* `<path> --version` exits 0 within the deadline. */
static bool
binary_works(const char *path, int timeout_ms)
{
    const char *argv[] = {path, "--version", NULL};
    struct k3c_err err = {0};
    int code = -1;

    return run_cmd(argv, timeout_ms, &code, NULL, &err) == 0 && code == 0;
}

/* Host directories the probe container sees (read-only), so it can run
 * `true` without an image; symlinks (merged /usr) are recreated instead. */
static const char *const probe_dirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64"};

/* Writes the probe bundle (rootfs of symlinks and read-only binds of the
 * host's /usr etc.) and runs it; the caller removes what is left. */
static int
probe_run(struct runtime *rt, const char *id, const char *bundle, struct k3c_err *err)
{
    _cleanup_free_ char *rootfs = k3c_xasprintf("%s/rootfs", bundle);
    _cleanup_free_ char *cfgpath = k3c_xasprintf("%s/config.json", bundle);
    _cleanup_json_ json_t *cfg = NULL;
    struct runtime_mount mounts[K3C_ARRAY_SIZE(probe_dirs)];
    size_t n_mounts = 0;
    const char *truebin = k3c_file_exists("/usr/bin/true") ? "/usr/bin/true" : "/bin/true";
    const char *args[] = {truebin, NULL};
    const char *run[] = {"run", "--bundle", bundle, id, NULL};
    struct runtime_spec spec = {.id = id,
                                .rootfs = rootfs,
                                .readonly_rootfs = true,
                                .args = args,
                                .hostname = "probe",
                                .resources = {.memory_limit_bytes = 64 << 20, .pids_limit = 64},
                                .nofile = host_nofile_default()};

    if (k3c_mkdir_p(rootfs, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(probe_dirs); i++) {
        char target[PATH_MAX];
        ssize_t n = readlink(probe_dirs[i], target, sizeof(target) - 1);
        _cleanup_free_ char *in = k3c_xasprintf("%s%s", rootfs, probe_dirs[i]);

        if (n > 0) {
            target[n] = '\0';
            if (symlink(target, in) < 0)
                return k3c_err_sys(err, errno, "symlink %s", in);
        } else if (k3c_file_exists(probe_dirs[i])) {
            mounts[n_mounts++] = (struct runtime_mount){.type = RUNTIME_MOUNT_BIND,
                                                        .source = probe_dirs[i],
                                                        .destination = probe_dirs[i],
                                                        .readonly = true};
        }
    }
    spec.mounts = mounts;
    spec.n_mounts = n_mounts;
    cfg = runtime_spec_to_oci(&spec, err);
    if (!cfg || json_write(cfgpath, cfg, err) < 0)
        return -1;
    return runtime_cmd(rt, rt->path, rt->root_dir, run, err);
}

int
runtime_probe(struct runtime *rt, struct k3c_err *err)
{
    _cleanup_free_ char *id = k3c_xasprintf("k3c-probe-%s-%d", rt->name, (int)getpid());
    _cleanup_free_ char *bundle = k3c_xasprintf("%s/%s", rt->state_dir, id);
    _cleanup_free_ char *cgpath = k3c_xasprintf("%s/%s", RUNTIME_CGROUP_PARENT, id);
    const char *del[] = {"delete", "--force", id, NULL};
    struct k3c_err ignored = {0};
    int rc;

    rm_rf(bundle);
    rc = probe_run(rt, id, bundle, err);
    if (rc < 0)
        k3c_err_wrap(err, "(runtime %s) probe container", rt->name);
    /* `run` removes the container when it exits; this is for a timeout. */
    if (rc < 0)
        runtime_cmd(rt, rt->path, rt->root_dir, del, &ignored);
    cgroup_remove(cgpath, &ignored);
    rm_rf(bundle);
    return rc;
}

const char *
runtime_name(const struct runtime *rt)
{
    return rt->name;
}

const char *
runtime_path(const struct runtime *rt)
{
    return rt->path;
}

const char *
runtime_exits_dir(const struct runtime *rt)
{
    return rt->exits_dir;
}

char *
runtime_attach_socket(const struct runtime *rt, const char *id)
{
    /* conmon links sockets/<id> to the bundle and listens on <bundle>/attach
     * (the short path keeps under the sun_path limit). */
    return k3c_xasprintf("%s/%s/attach", rt->sockets_dir, id);
}

void
runtime_free(struct runtime *rt)
{
    if (!rt)
        return;
    free(rt->name);
    free(rt->path);
    free(rt->conmon);
    free(rt->state_dir);
    free(rt->containers_dir);
    free(rt->exits_dir);
    free(rt->sockets_dir);
    free(rt->root_dir);
    free(rt);
}

/* Sets rt->name/path/root_dir for the named binary (a bare name or a path). */
static void
runtime_set_binary(struct runtime *rt, const char *name, char *path)
{
    const char *base = strrchr(name, '/');

    free(rt->name);
    free(rt->path);
    free(rt->root_dir);
    rt->name = k3c_xstrdup(base ? base + 1 : name);
    rt->path = path;
    rt->root_dir = k3c_xasprintf("%s/%s-root", rt->state_dir, rt->name);
}

static int
runtime_select(struct runtime *rt, const char *want, struct k3c_err *err)
{
    if (want && strcmp(want, "auto") != 0) {
        char *path = k3c_find_in_path(want);

        if (!path || !binary_works(path, rt->cmd_timeout_ms)) {
            free(path);
            return k3c_err_set(err, K3C_E_NOT_FOUND,
                               "OCI runtime %s not found or not working (`%s --version` "
                               "failed): install the Debian package `crun` or `runc`",
                               want, want);
        }
        runtime_set_binary(rt, want, path);
        return 0;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(runtime_kinds); i++) {
        const struct runtime_kind *k = &runtime_kinds[i];
        char *path = k3c_find_in_path(k->name);
        struct k3c_err perr = {0};

        if (!path)
            continue;
        if (!binary_works(path, rt->cmd_timeout_ms)) {
            log_warn("(runtime %s) `%s --version` failed, skipped", k->name, path);
            free(path);
            continue;
        }
        runtime_set_binary(rt, k->name, path);
        if (!k->probe_in_auto)
            return 0;
        if (runtime_probe(rt, &perr) == 0)
            return 0;
        log_warn("(runtime %s) not usable here, trying the next: %s", k->name, perr.msg);
    }
    return k3c_err_set(err, K3C_E_NOT_FOUND,
                       "no working OCI runtime: install the Debian package `crun` or `runc`");
}

struct runtime *
runtime_new(const struct runtime_config *cfg, struct k3c_err *err)
{
    struct runtime *rt = k3c_xcalloc(1, sizeof(*rt));
    const char *const dirs[] = {"containers", "exits", "sockets"};
    char **slots[] = {&rt->containers_dir, &rt->exits_dir, &rt->sockets_dir};

    if (!cfg->state_dir || cfg->state_dir[0] != '/') {
        runtime_free(rt);
        k3c_err_set(err, K3C_E_INVALID, "runtime state dir must be an absolute path");
        return NULL;
    }
    rt->cmd_timeout_ms = cfg->cmd_timeout_ms > 0 ? cfg->cmd_timeout_ms : RUNTIME_CMD_TIMEOUT_MS;
    rt->state_dir = k3c_xstrdup(cfg->state_dir);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(dirs); i++) {
        *slots[i] = k3c_xasprintf("%s/%s", rt->state_dir, dirs[i]);
        if (k3c_mkdir_p(*slots[i], 0700, err) < 0) {
            runtime_free(rt);
            return NULL;
        }
    }
    rt->conmon = k3c_find_in_path(cfg->conmon ? cfg->conmon : "conmon");
    if (!rt->conmon || !binary_works(rt->conmon, rt->cmd_timeout_ms)) {
        runtime_free(rt);
        k3c_err_set(err, K3C_E_NOT_FOUND,
                    "conmon not found or not working: install the Debian package `conmon`");
        return NULL;
    }
    if (runtime_select(rt, cfg->runtime, err) < 0) {
        runtime_free(rt);
        return NULL;
    }
    log_info("(runtime %s) using %s with %s, state in %s", rt->name, rt->path, rt->conmon,
             rt->state_dir);
    return rt;
}

/* ---- lifecycle ---------------------------------------------------------- */

const char *
runtime_state_name(enum runtime_state s)
{
    static const char *const names[] = {
        [RUNTIME_STATE_UNKNOWN] = "unknown",
        [RUNTIME_STATE_CREATED] = "created",
        [RUNTIME_STATE_RUNNING] = "running",
        [RUNTIME_STATE_STOPPED] = "stopped",
    };

    return (unsigned)s < K3C_ARRAY_SIZE(names) ? names[s] : "unknown";
}

/* Removes what a container left outside its bundle and then the bundle.
 * Best effort: used by delete and by a failed create. */
static void
container_remove_files(struct runtime *rt, const char *id, const struct meta *m)
{
    _cleanup_free_ char *dir = container_dir(rt, id);
    _cleanup_free_ char *exitf = k3c_xasprintf("%s/%s", rt->exits_dir, id);
    _cleanup_free_ char *sock = k3c_xasprintf("%s/%s", rt->sockets_dir, id);
    struct k3c_err cerr = {0};

    if (m && m->cgroups_path && cgroup_remove(m->cgroups_path, &cerr) < 0)
        log_warn("(container %s) %s", id, cerr.msg);
    unlink(exitf);
    unlink(sock);
    rm_rf(dir);
}

/* Waits until conmon (which writes the exit file, then exits) is gone. */
static bool
conmon_wait_gone(const struct meta *m, int64_t deadline)
{
    while (proc_alive(m->conmon_pid, m->conmon_start)) {
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(RUNTIME_POLL_MS);
    }
    return true;
}

/* Reads conmon's sync pipe: one JSON line {"data": pid} or {"data": -1,
 * "message": "..."} (conmon --api-version 1). */
static int
conmon_read_sync(int fd, int64_t deadline, const char *id, pid_t *pid, struct k3c_err *err)
{
    char buf[8192];
    size_t len = 0;
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    json_int_t data = 0;
    const char *msg = NULL;

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - k3c_now_ms();
        ssize_t n;

        if (memchr(buf, '\n', len))
            break;
        if (left <= 0)
            return k3c_err_set(err, K3C_E_TIMEOUT, "(container %s) conmon did not report", id);
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return k3c_err_sys(err, errno, "poll");
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return k3c_err_sys(err, errno, "read conmon sync pipe");
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf) - 1)
            break;
    }
    buf[len] = '\0';
    if (len == 0)
        return k3c_err_set(err, K3C_E_INTERNAL,
                           "(container %s) conmon exited without reporting (see its "
                           "conmon.log or syslog)",
                           id);
    j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!j || json_unpack(j, "{s:I, s?s}", "data", &data, "message", &msg) < 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) conmon said \"%.100s\"", id, buf);
    if (data <= 0) {
        _cleanup_free_ char *m = k3c_xstrdup(msg ? msg : "no message");

        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) create failed: %s", id,
                           last_line(m));
    }
    *pid = (pid_t)data;
    return 0;
}

/* conmon's command line (strings borrowed from the arguments). */
static void
conmon_argv(const struct runtime *rt, const struct runtime_spec *spec, const char *dir,
            const char *pidfile, const char *conmon_pidfile, const char *log_arg,
            const char *root_arg, const char **argv)
{
    size_t n = 0;

    argv[n++] = rt->conmon;
    argv[n++] = "--api-version";
    argv[n++] = "1";
    argv[n++] = "-c";
    argv[n++] = spec->id;
    argv[n++] = "-u";
    argv[n++] = spec->id;
    argv[n++] = "-n";
    argv[n++] = spec->name ? spec->name : spec->id;
    argv[n++] = "-r";
    argv[n++] = spec->runtime_path ? spec->runtime_path : rt->path;
    argv[n++] = "-b";
    argv[n++] = dir;
    argv[n++] = "-p";
    argv[n++] = pidfile;
    argv[n++] = "-P";
    argv[n++] = conmon_pidfile;
    argv[n++] = "-l";
    argv[n++] = log_arg;
    argv[n++] = "--exit-dir";
    argv[n++] = rt->exits_dir;
    argv[n++] = "-0"; /* persist dir: conmon writes `exit` and `oom` there */
    argv[n++] = dir;
    argv[n++] = "--socket-dir-path";
    argv[n++] = rt->sockets_dir;
    argv[n++] = "--runtime-arg";
    argv[n++] = root_arg;
    /* The monitor's stderr is /dev/null once it has forked; its later
     * complaints go to syslog where there is one. */
    if (k3c_file_exists("/dev/log"))
        argv[n++] = "--syslog";
    if (spec->tty)
        argv[n++] = "-t";
    if (spec->stdin_open)
        argv[n++] = "-i";
    argv[n] = NULL;
}

/* Writes config.json and the first meta.json, makes the log and runtime
 * root directories and drops a stale exit file (which would make the new
 * container look stopped) and socket link. */
static int
create_files(struct runtime *rt, const char *id, const char *dir, json_t *cfg, const struct meta *m,
             struct k3c_err *err)
{
    _cleanup_free_ char *cfgpath = k3c_xasprintf("%s/config.json", dir);
    _cleanup_free_ char *log_dir = k3c_xstrdup(m->log_path);
    _cleanup_free_ char *exitf = k3c_xasprintf("%s/%s", rt->exits_dir, id);
    _cleanup_free_ char *sock = k3c_xasprintf("%s/%s", rt->sockets_dir, id);

    *strrchr(log_dir, '/') = '\0';
    if (json_write(cfgpath, cfg, err) < 0 || meta_write(rt, id, m, err) < 0 ||
        (*log_dir && k3c_mkdir_p(log_dir, 0755, err) < 0) ||
        k3c_mkdir_p(rt->root_dir, 0700, err) < 0)
        return -1;
    unlink(exitf);
    unlink(sock);
    return 0;
}

/* Starts conmon, which runs `<rt> create` and reports the container's pid
 * on the sync pipe; fills the pids and start times of m. */
static int
conmon_spawn(struct runtime *rt, const struct runtime_spec *spec, const char *dir, struct meta *m,
             struct k3c_err *err)
{
    _cleanup_free_ char *pidfile = k3c_xasprintf("%s/pidfile", dir);
    _cleanup_free_ char *conmon_pidfile = k3c_xasprintf("%s/conmon.pid", dir);
    _cleanup_free_ char *conmon_log = k3c_xasprintf("%s/conmon.log", dir);
    _cleanup_free_ char *log_arg = k3c_xasprintf("k8s-file:%s", m->log_path);
    _cleanup_free_ char *root_arg = k3c_xasprintf("--root=%s", rt->root_dir);
    _cleanup_close_ int logfd = -1, sync_r = -1, sync_w = -1;
    const char *argv[RUNTIME_MAX_ARGS];
    int fds[4] = {-1, -1, -1, -1};
    int sync[2] = {-1, -1};
    int64_t deadline = k3c_now_ms() + rt->cmd_timeout_ms;
    pid_t conmon_main = -1;
    long long cpid = 0;
    int code = -1;

    logfd = open(conmon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return k3c_err_sys(err, errno, "open %s", conmon_log);
    if (pipe_high(sync, err) < 0)
        return -1;
    sync_r = sync[0];
    sync_w = sync[1];
    conmon_argv(rt, spec, dir, pidfile, conmon_pidfile, log_arg, root_arg, argv);
    fds[1] = fds[2] = logfd;
    fds[3] = sync_w;
    if (spawn(argv, "_OCI_SYNCPIPE=3", fds, true, &conmon_main, err) < 0)
        return -1;
    /* Only the monitor may hold the write end, so its death reads as EOF. */
    close(TAKE_FD(sync_w));
    /* conmon forks its monitor and exits at once; a non-zero exit is a bad
     * command line (its words are in conmon.log). */
    if (reap_until(conmon_main, deadline, &code, "conmon", err) < 0)
        return -1;
    if (code != 0) {
        _cleanup_free_ char *out = NULL;
        struct k3c_err ignored = {0};

        k3c_read_file(conmon_log, &out, NULL, &ignored);
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) conmon exited %d: %s", spec->id,
                           code, out ? last_line(out) : "");
    }
    if (read_int_file(conmon_pidfile, &cpid) == 0) {
        m->conmon_pid = (pid_t)cpid;
        m->conmon_start = proc_start_time(m->conmon_pid);
    }
    if (conmon_read_sync(sync_r, deadline, spec->id, &m->pid, err) < 0)
        return -1;
    /* Without conmon's identity the container could never be seen running. */
    if (m->conmon_start == 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "(container %s) conmon pid unknown or gone",
                           spec->id);
    m->pid_start = proc_start_time(m->pid);
    return 0;
}

/* Undoes a failed create: the runtime's state, a monitor that got as far as
 * creating, the cgroup and the files. */
static void
create_undo(struct runtime *rt, const char *id, const struct meta *m)
{
    const char *del[] = {"delete", "--force", id, NULL};
    struct k3c_err ignored = {0};

    runtime_cmd(rt, m->runtime_path ? m->runtime_path : rt->path, rt->root_dir, del, &ignored);
    if (proc_alive(m->conmon_pid, m->conmon_start)) {
        kill(m->conmon_pid, SIGKILL);
        conmon_wait_gone(m, k3c_now_ms() + 2000);
    }
    container_remove_files(rt, id, m);
}

int
runtime_create(struct runtime *rt, const struct runtime_spec *spec, struct k3c_err *err)
{
    _cleanup_json_ json_t *cfg = NULL;
    _cleanup_free_ char *dir = NULL;
    struct runtime_spec with_nofile = *spec;
    const char *id = spec->id;
    struct meta m = {0};

    if (!with_nofile.nofile)
        with_nofile.nofile = host_nofile_default();
    cfg = runtime_spec_to_oci(&with_nofile, err);
    if (!cfg)
        return -1;
    if (spec->edit_oci && spec->edit_oci(cfg, spec->edit_oci_ud, err) < 0)
        return -1;
    if (spec->log_path && spec->log_path[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) log path must be absolute", id);
    dir = container_dir(rt, id);
    /* mkdir claims the id atomically. */
    if (mkdir(dir, 0700) < 0) {
        if (errno == EEXIST)
            return k3c_err_set(err, K3C_E_EXISTS, "container %s already exists", id);
        return k3c_err_sys(err, errno, "mkdir %s", dir);
    }
    m.runtime_path = k3c_xstrdup(spec->runtime_path ? spec->runtime_path : rt->path);
    m.runtime_root = k3c_xstrdup(rt->root_dir);
    m.cgroups_path = runtime_spec_cgroup_path(spec);
    m.log_path =
        spec->log_path ? k3c_xstrdup(spec->log_path) : k3c_xasprintf("%s/container.log", dir);
    snprintf(m.pod_uid, sizeof(m.pod_uid), "%s", spec->pod_uid ? spec->pod_uid : "");
    snprintf(m.name, sizeof(m.name), "%s", spec->name ? spec->name : id);
    m.created_ms = k3c_wall_ms();
    if (create_files(rt, id, dir, cfg, &m, err) < 0 || conmon_spawn(rt, spec, dir, &m, err) < 0 ||
        meta_write(rt, id, &m, err) < 0) {
        create_undo(rt, id, &m);
        meta_fini(&m);
        return -1;
    }
    log_info("(container %s) created with %s, pid %d, conmon %d", id, rt->name, (int)m.pid,
             (int)m.conmon_pid);
    meta_fini(&m);
    return 0;
}

int
runtime_start(struct runtime *rt, const char *id, struct k3c_err *err)
{
    struct meta m = {0};
    const char *args[] = {"start", id, NULL};

    if (!runtime_id_valid(id))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
    if (meta_read(rt, id, &m, err) < 0)
        return -1;
    if (runtime_cmd(rt, m.runtime_path, m.runtime_root, args, err) < 0) {
        meta_fini(&m);
        return k3c_err_wrap(err, "(container %s) start", id);
    }
    m.started_ms = k3c_wall_ms();
    if (meta_write(rt, id, &m, err) < 0) {
        meta_fini(&m);
        return -1;
    }
    log_info("(container %s) started", id);
    meta_fini(&m);
    return 0;
}

int
runtime_run(struct runtime *rt, const struct runtime_spec *spec, struct k3c_err *err)
{
    struct k3c_err ignored = {0};

    if (runtime_create(rt, spec, err) < 0)
        return -1;
    if (runtime_start(rt, spec->id, err) < 0) {
        runtime_delete(rt, spec->id, &ignored);
        return -1;
    }
    return 0;
}

/* State from the files and /proc. conmon is checked before the exit file:
 * it writes the file and then exits, so "gone and no file" means it died
 * without recording an exit. */
static void
status_from_meta(struct runtime *rt, const char *id, const struct meta *m,
                 struct runtime_status *st)
{
    _cleanup_free_ char *exitf = k3c_xasprintf("%s/%s", rt->exits_dir, id);
    _cleanup_free_ char *oomf = container_file(rt, id, "oom");
    bool conmon_alive = proc_alive(m->conmon_pid, m->conmon_start);
    long long code = 0;
    struct stat sb;

    snprintf(st->pod_uid, sizeof(st->pod_uid), "%s", m->pod_uid);
    snprintf(st->name, sizeof(st->name), "%s", m->name);
    st->created_ms = m->created_ms;
    st->started_ms = m->started_ms;
    if (read_int_file(exitf, &code) == 0) {
        st->state = RUNTIME_STATE_STOPPED;
        st->exit_code = (int)code;
        if (stat(exitf, &sb) == 0)
            st->finished_ms =
                (int64_t)sb.st_mtim.tv_sec * 1000 + (int64_t)sb.st_mtim.tv_nsec / 1000000;
        st->oom_killed = k3c_file_exists(oomf);
        return;
    }
    if (!conmon_alive) {
        st->state = RUNTIME_STATE_STOPPED;
        st->exit_code = -1;
        return;
    }
    st->state = m->started_ms ? RUNTIME_STATE_RUNNING : RUNTIME_STATE_CREATED;
    st->pid = proc_alive(m->pid, m->pid_start) ? m->pid : 0;
}

int
runtime_status(struct runtime *rt, const char *id, struct runtime_status *out, struct k3c_err *err)
{
    struct meta m = {0};
    struct runtime_status st = {0};

    if (!runtime_id_valid(id))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
    if (meta_read(rt, id, &m, err) < 0)
        return -1;
    snprintf(st.id, sizeof(st.id), "%s", id);
    status_from_meta(rt, id, &m, &st);
    meta_fini(&m);
    *out = st;
    return 0;
}

int
runtime_list(struct runtime *rt, struct runtime_status **out, size_t *n_out, struct k3c_err *err)
{
    DIR *d = opendir(rt->containers_dir);
    struct dirent *de;
    struct runtime_status *v = NULL;
    size_t n = 0, cap = 0;

    if (!d)
        return k3c_err_sys(err, errno, "opendir %s", rt->containers_dir);
    while ((de = readdir(d)) != NULL) {
        struct k3c_err serr = {0};
        struct runtime_status st = {0};

        if (!runtime_id_valid(de->d_name))
            continue;
        if (runtime_status(rt, de->d_name, &st, &serr) < 0) {
            /* A create that died before meta.json: listed as unknown so the
             * caller deletes it. */
            log_debug("(container %s) %s", de->d_name, serr.msg);
            memset(&st, 0, sizeof(st));
            snprintf(st.id, sizeof(st.id), "%.*s", RUNTIME_ID_MAX, de->d_name);
            st.state = RUNTIME_STATE_UNKNOWN;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = k3c_xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = st;
    }
    closedir(d);
    *out = v;
    *n_out = n;
    return 0;
}

json_t *
runtime_annotations(struct runtime *rt, const char *id, struct k3c_err *err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *cfg = NULL;
    json_error_t jerr;
    json_t *ann;

    if (!runtime_id_valid(id)) {
        k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
        return NULL;
    }
    path = container_file(rt, id, "config.json");
    cfg = json_load_file(path, 0, &jerr);
    if (!cfg) {
        k3c_err_set(err, access(path, F_OK) < 0 ? K3C_E_NOT_FOUND : K3C_E_INTERNAL,
                    "(container %s) config.json: %s", id, jerr.text);
        return NULL;
    }
    ann = json_object_get(cfg, "annotations");
    return ann ? json_incref(ann) : json_object();
}

int
runtime_kill(struct runtime *rt, const char *id, int sig, struct k3c_err *err)
{
    struct meta m = {0};
    struct runtime_status st = {0};
    char signum[16];
    const char *args[] = {"kill", id, signum, NULL};
    int rc;

    if (!runtime_id_valid(id))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
    if (meta_read(rt, id, &m, err) < 0)
        return -1;
    status_from_meta(rt, id, &m, &st);
    if (st.state == RUNTIME_STATE_STOPPED) {
        meta_fini(&m);
        return 0;
    }
    snprintf(signum, sizeof(signum), "%d", sig);
    rc = runtime_cmd(rt, m.runtime_path, m.runtime_root, args, err);
    if (rc < 0) {
        /* It may have exited between the check and the kill. */
        memset(&st, 0, sizeof(st));
        status_from_meta(rt, id, &m, &st);
        if (st.state == RUNTIME_STATE_STOPPED) {
            k3c_err_clear(err);
            rc = 0;
        } else {
            k3c_err_wrap(err, "(container %s) kill %d", id, sig);
        }
    }
    meta_fini(&m);
    return rc;
}

/* Polls the status until STOPPED or the deadline. */
static bool
wait_stopped(struct runtime *rt, const char *id, int64_t deadline)
{
    for (;;) {
        struct runtime_status st = {0};
        struct k3c_err err = {0};

        if (runtime_status(rt, id, &st, &err) < 0 || st.state == RUNTIME_STATE_STOPPED)
            return true;
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(RUNTIME_POLL_MS);
    }
}

int
runtime_stop(struct runtime *rt, const char *id, int64_t grace_ms, struct k3c_err *err)
{
    if (runtime_kill(rt, id, SIGTERM, err) < 0)
        return -1;
    if (wait_stopped(rt, id, k3c_now_ms() + (grace_ms > 0 ? grace_ms : 0)))
        return 0;
    log_info("(container %s) still running after %" PRId64 " ms, SIGKILL", id, grace_ms);
    if (runtime_kill(rt, id, SIGKILL, err) < 0)
        return -1;
    if (!wait_stopped(rt, id, k3c_now_ms() + rt->cmd_timeout_ms))
        return k3c_err_set(err, K3C_E_TIMEOUT, "(container %s) still running after SIGKILL", id);
    return 0;
}

int
runtime_delete(struct runtime *rt, const char *id, struct k3c_err *err)
{
    _cleanup_free_ char *dir = NULL, *state = NULL;
    struct meta m = {0};
    struct runtime_status st = {0};
    struct k3c_err merr = {0};
    const char *args[] = {"delete", "--force", id, NULL};
    bool have_meta;

    if (!runtime_id_valid(id))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
    dir = container_dir(rt, id);
    if (access(dir, F_OK) < 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id);
    have_meta = meta_read(rt, id, &m, &merr) == 0;
    if (!have_meta) {
        /* A create that died half-way: this runtime's view is all there is. */
        m.runtime_path = k3c_xstrdup(rt->path);
        m.runtime_root = k3c_xstrdup(rt->root_dir);
    }
    status_from_meta(rt, id, &m, &st);
    if (have_meta && st.state != RUNTIME_STATE_STOPPED) {
        const char *kill_args[] = {"kill", id, "9", NULL};
        struct k3c_err kerr = {0};

        if (runtime_cmd(rt, m.runtime_path, m.runtime_root, kill_args, &kerr) < 0)
            log_debug("(container %s) %s", id, kerr.msg);
    }
    /* conmon reaps the container, writes the exit file and exits; files
     * removed before that would be written again. */
    if (have_meta && !conmon_wait_gone(&m, k3c_now_ms() + rt->cmd_timeout_ms)) {
        log_warn("(container %s) conmon %d did not exit, killing it", id, (int)m.conmon_pid);
        kill(m.conmon_pid, SIGKILL);
        conmon_wait_gone(&m, k3c_now_ms() + 2000);
    }
    if (runtime_cmd(rt, m.runtime_path, m.runtime_root, args, err) < 0) {
        /* Only an error if the runtime still has state for the id. */
        state = k3c_xasprintf("%s/%s", m.runtime_root, id);
        if (k3c_file_exists(state)) {
            meta_fini(&m);
            return k3c_err_wrap(err, "(container %s) delete", id);
        }
        k3c_err_clear(err);
    }
    container_remove_files(rt, id, have_meta ? &m : NULL);
    log_info("(container %s) deleted", id);
    meta_fini(&m);
    return 0;
}

/* ---- exec --------------------------------------------------------------- */

/* argv for `<rt> --root R exec <id> cmd...` into out (borrowed strings). */
static int
exec_argv(const struct meta *m, const char *id, const char *const *cmd, bool tty, const char **out,
          struct k3c_err *err)
{
    size_t n = 0;

    if (!cmd || !cmd[0])
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) exec: no command", id);
    out[n++] = m->runtime_path;
    out[n++] = "--root";
    out[n++] = m->runtime_root;
    out[n++] = "exec";
    if (tty)
        out[n++] = "--tty";
    out[n++] = id;
    for (size_t i = 0; cmd[i]; i++) {
        if (n >= RUNTIME_MAX_ARGS - 1)
            return k3c_err_set(err, K3C_E_INVALID, "(container %s) exec: too many arguments", id);
        out[n++] = cmd[i];
    }
    out[n] = NULL;
    return 0;
}

/* Reads the meta of a container that must be running for exec. */
static int
exec_meta(struct runtime *rt, const char *id, struct meta *m, struct k3c_err *err)
{
    struct runtime_status st = {0};

    if (!runtime_id_valid(id))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "container %s not found", id ? id : "");
    if (meta_read(rt, id, m, err) < 0)
        return -1;
    status_from_meta(rt, id, m, &st);
    if (st.state != RUNTIME_STATE_RUNNING) {
        meta_fini(m);
        return k3c_err_set(err, K3C_E_CONFLICT, "(container %s) exec: container is %s", id,
                           runtime_state_name(st.state));
    }
    return 0;
}

int
runtime_exec_start(struct runtime *rt, const char *id, const char *const *argv,
                   struct runtime_exec_proc *out, struct k3c_err *err)
{
    struct meta m = {0};
    const char *full[RUNTIME_MAX_ARGS];
    int in[2] = {-1, -1}, so[2] = {-1, -1}, se[2] = {-1, -1};
    int fds[4] = {-1, -1, -1, -1};
    pid_t pid = -1;
    int rc = -1;

    if (exec_meta(rt, id, &m, err) < 0)
        return -1;
    if (exec_argv(&m, id, argv, false, full, err) < 0 || pipe_high(in, err) < 0 ||
        pipe_high(so, err) < 0 || pipe_high(se, err) < 0)
        goto out;
    fds[0] = in[0];
    fds[1] = so[1];
    fds[2] = se[1];
    if (spawn(full, NULL, fds, false, &pid, err) < 0)
        goto out;
    *out = (struct runtime_exec_proc){.pid = pid,
                                      .stdin_fd = TAKE_FD(in[1]),
                                      .stdout_fd = TAKE_FD(so[0]),
                                      .stderr_fd = TAKE_FD(se[0])};
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (so[i] >= 0)
            close(so[i]);
        if (se[i] >= 0)
            close(se[i]);
    }
    meta_fini(&m);
    return rc;
}

/* A pty pair: the master (ours, CLOEXEC) sized cols x rows, and the path
 * of its slave. */
static int
pty_open(unsigned cols, unsigned rows, int *master_out, char *slave, size_t slave_len,
         struct k3c_err *err)
{
    struct winsize ws = {.ws_col = (unsigned short)(cols ? cols : 80),
                         .ws_row = (unsigned short)(rows ? rows : 24)};
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return k3c_err_sys(err, errno, "posix_openpt");
    if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, slave, slave_len) != 0 ||
        ioctl(fd, TIOCSWINSZ, &ws) < 0) {
        int e = errno;

        close(fd);
        return k3c_err_sys(err, e, "pty");
    }
    *master_out = fd;
    return 0;
}

int
runtime_exec_start_tty(struct runtime *rt, const char *id, const char *const *argv, unsigned cols,
                       unsigned rows, struct runtime_exec_proc *out, struct k3c_err *err)
{
    struct meta m = {0};
    const char *full[RUNTIME_MAX_ARGS];
    const int none[4] = {-1, -1, -1, -1};
    char slave[64];
    _cleanup_close_ int master = -1;
    pid_t pid = -1;
    int rc = -1;

    if (exec_meta(rt, id, &m, err) < 0)
        return -1;
    if (exec_argv(&m, id, argv, true, full, err) < 0 ||
        pty_open(cols, rows, &master, slave, sizeof(slave), err) < 0 ||
        spawn_ex(full, NULL, none, true, slave, &pid, err) < 0)
        goto out;
    out->pid = pid;
    out->tty = true;
    out->stdout_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    out->stdin_fd = TAKE_FD(master);
    out->stderr_fd = -1;
    rc = 0;
out:
    meta_fini(&m);
    return rc;
}

int
runtime_exec_resize(const struct runtime_exec_proc *p, unsigned cols, unsigned rows,
                    struct k3c_err *err)
{
    struct winsize ws = {.ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows};

    if (!p->tty || p->stdin_fd < 0)
        return k3c_err_set(err, K3C_E_INVALID, "exec: no terminal");
    if (ioctl(p->stdin_fd, TIOCSWINSZ, &ws) < 0)
        return k3c_err_sys(err, errno, "TIOCSWINSZ");
    return 0;
}

int
runtime_exec_wait(struct runtime_exec_proc *p, int64_t timeout_ms, int *exit_code,
                  struct k3c_err *err)
{
    int *fds[] = {&p->stdin_fd, &p->stdout_fd, &p->stderr_fd};
    int code = -1;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    if (p->pid <= 0)
        return k3c_err_set(err, K3C_E_INVALID, "exec: no process");
    if (reap_until(p->pid, k3c_now_ms() + timeout_ms, &code, "exec", err) < 0) {
        p->pid = 0;
        return -1;
    }
    p->pid = 0;
    *exit_code = code;
    return 0;
}

int
runtime_exec_sync(struct runtime *rt, const char *id, const char *const *argv, int64_t timeout_ms,
                  int *exit_code, char **output, struct k3c_err *err)
{
    struct meta m = {0};
    const char *full[RUNTIME_MAX_ARGS];
    int rc;

    if (exec_meta(rt, id, &m, err) < 0)
        return -1;
    rc = exec_argv(&m, id, argv, false, full, err);
    if (rc == 0)
        rc = run_cmd(full, timeout_ms, exit_code, output, err);
    meta_fini(&m);
    return rc;
}
