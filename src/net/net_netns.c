/* SPDX-License-Identifier: Apache-2.0
 * net_netns.c - named network namespaces as `ip netns` makes them (a nsfs
 * bind mount on <dir>/<name>) and net_run, the one way net/ starts a program:
 * fork, setns into a namespace, exec, feed stdin, collect stdout/stderr, and
 * SIGKILL the whole process group at a deadline. */
#define LOG_COMPONENT "net"
#include "net/net.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define RUN_OUTPUT_MAX (4u << 20)

extern char **environ;

bool
net_name_valid(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strlen(name);
    /* The CNI container-id rule (SPEC §3): alphanumerics first. */
    if (n == 0 || n > 200 || !isalnum((unsigned char)name[0]))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

char *
net_netns_path(const char *dir, const char *name)
{
    return k3c_xasprintf("%s/%s", dir, name);
}

/* Serialises the make-shared dance on a dir, so two first creations do not
 * bind the dir twice. A const-like sync primitive, not state. */
static pthread_mutex_t netns_dir_lock = PTHREAD_MUTEX_INITIALIZER;

/* As iproute2 ip/ipnetns.c netns_add: make dir a shared mount point (binding
 * it onto itself when it is not a mount point yet), so that a netns pin made
 * later shows in mount namespaces copied earlier (containers) and its umount
 * propagates to them, letting the namespace be freed. */
static int
netns_dir_prepare(const char *dir, struct k3c_err *err)
{
    int rc = 0;

    if (k3c_mkdir_p(dir, 0755, err) < 0)
        return -1;
    pthread_mutex_lock(&netns_dir_lock);
    for (int bound = 0;; bound++) {
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
            break;
        if (errno != EINVAL || bound) {
            rc = k3c_err_sys(err, errno, "make %s a shared mount", dir);
            break;
        }
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0) {
            rc = k3c_err_sys(err, errno, "bind %s onto itself", dir);
            break;
        }
    }
    pthread_mutex_unlock(&netns_dir_lock);
    return rc;
}

struct netns_pin {
    const char *path;
    int stage; /* 0 ok, 1 unshare failed, 2 mount failed */
    int errnum;
};

/* A short-lived thread: unshare() gives it (only it) a new network namespace,
 * which the bind mount keeps alive after the thread is gone. */
static void *
netns_pin_thread(void *arg)
{
    struct netns_pin *p = arg;

    if (unshare(CLONE_NEWNET) < 0) {
        p->stage = 1;
        p->errnum = errno;
        return NULL;
    }
    if (mount("/proc/thread-self/ns/net", p->path, "none", MS_BIND, NULL) < 0) {
        p->stage = 2;
        p->errnum = errno;
    }
    return NULL;
}

int
net_netns_create(const char *dir, const char *name, struct k3c_err *err)
{
    _cleanup_free_ char *path = NULL;
    struct netns_pin pin = {0};
    pthread_t t;
    int fd, rc;

    if (!net_name_valid(name))
        return k3c_err_set(err, K3C_E_INVALID, "netns name '%s' is invalid", name ? name : "");
    if (netns_dir_prepare(dir, err) < 0)
        return k3c_err_wrap(err, "netns %s", name);
    path = net_netns_path(dir, name);
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0 && errno == EEXIST)
        return k3c_err_set(err, K3C_E_EXISTS, "netns %s already exists", path);
    if (fd < 0)
        return k3c_err_sys(err, errno, "create %s", path);
    close(fd);

    pin.path = path;
    rc = pthread_create(&t, NULL, netns_pin_thread, &pin);
    if (rc != 0) {
        unlink(path);
        return k3c_err_sys(err, rc, "netns %s: start thread", name);
    }
    pthread_join(t, NULL);
    if (pin.stage != 0) {
        unlink(path);
        return k3c_err_sys(err, pin.errnum, "netns %s: %s", name,
                           pin.stage == 1 ? "unshare(CLONE_NEWNET)" : "bind mount");
    }
    log_debug("(netns %s) created", path);
    return 0;
}

int
net_netns_delete(const char *dir, const char *name, struct k3c_err *err)
{
    _cleanup_free_ char *path = NULL;

    if (!net_name_valid(name))
        return k3c_err_set(err, K3C_E_INVALID, "netns name '%s' is invalid", name ? name : "");
    path = net_netns_path(dir, name);
    /* MNT_DETACH as `ip netns del`: the pin goes now, even while a process
     * still has the file open. EINVAL: not (or no longer) a mount point. */
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return k3c_err_sys(err, errno, "umount %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return k3c_err_sys(err, errno, "remove %s", path);
    log_debug("(netns %s) deleted", path);
    return 0;
}

bool
net_netns_is_pinned(const char *path)
{
    struct statfs sfs;

    return statfs(path, &sfs) == 0 && (uint64_t)sfs.f_type == (uint64_t)NSFS_MAGIC;
}

int
net_netns_open(const char *path, struct k3c_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "netns %s does not exist", path);
    if (fd < 0)
        return k3c_err_sys(err, errno, "open netns %s", path);
    return fd;
}

int
net_netns_enter(int fd, struct k3c_err *err)
{
    if (setns(fd, CLONE_NEWNET) < 0)
        return k3c_err_sys(err, errno, "setns");
    return 0;
}

/* ---- net_run ---- */

/* What the child reports through its close-on-exec status pipe when it does
 * not reach the program: the step and errno. */
struct run_child_fail {
    int step; /* 1 setns, 2 exec */
    int errnum;
};

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
run_child(const struct net_run_opts *o, int nsfd, int in_r, int out_w, int err_w, int status_w,
          const sigset_t *empty, char *const *envp)
{
    struct run_child_fail f = {0};
    const int from[3] = {in_r, out_w, err_w};
    struct sigaction dfl = {.sa_handler = SIG_DFL};

    /* Its own process group, so a timeout kills what the program spawned
     * (portmap runs iptables) along with it. */
    setpgid(0, 0);
    sigaction(SIGPIPE, &dfl, NULL);
    sigprocmask(SIG_SETMASK, empty, NULL);
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) {
        f.step = 1;
        f.errnum = errno;
        goto fail;
    }
    for (int i = 0; i < 3; i++) {
        if (from[i] == i)
            fcntl(i, F_SETFD, 0);
        else
            dup2(from[i], i);
    }
    execve(o->argv[0], (char *const *)o->argv, envp);
    f.step = 2;
    f.errnum = errno;
fail:
    while (write(status_w, &f, sizeof(f)) < 0 && errno == EINTR)
        ;
    _exit(127);
}

static int
run_remaining_ms(int64_t deadline)
{
    int64_t left = deadline - k3c_now_ms();

    return left < 0 ? 0 : (int)left;
}

/* Reads what is there; returns 1 at EOF, 0 otherwise. Past the cap, output
 * is read and dropped so the child never blocks on a full pipe. */
static int
run_read(int fd, struct k3c_buf *b)
{
    char chunk[16384];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        if (b->len < RUN_OUTPUT_MAX)
            k3c_buf_append(b, chunk, (size_t)n);
    }
}

static void
run_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void
run_kill(pid_t pid)
{
    int status;

    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* The parent's ends of one run. */
struct run_io {
    int in_w, out_r, err_r, status_r;
    size_t written;
    struct k3c_buf out, errout;
};

/* Waits (bounded by the deadline) for the status pipe: EOF at the exec
 * (close-on-exec), or the step and errno where the child stopped short. */
static int
run_check_exec(const struct net_run_opts *o, pid_t pid, struct run_io *io, int64_t deadline,
               struct k3c_err *err)
{
    struct run_child_fail fail = {0};
    struct pollfd pfd = {.fd = io->status_r, .events = POLLIN};
    ssize_t n = -1;

    for (;;) {
        int left = run_remaining_ms(deadline);

        if (left == 0) {
            run_kill(pid);
            return k3c_err_set(err, K3C_E_TIMEOUT, "run %s: no exec after %d ms", o->argv[0],
                               o->timeout_ms);
        }
        if (poll(&pfd, 1, left) <= 0)
            continue;
        n = read(io->status_r, &fail, sizeof(fail));
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    if (n != (ssize_t)sizeof(fail))
        return 0;
    run_kill(pid);
    if (fail.step == 1)
        return k3c_err_sys(err, fail.errnum, "run %s: setns %s", o->argv[0], o->netns);
    if (fail.errnum == ENOENT)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "run %s: no such program", o->argv[0]);
    return k3c_err_sys(err, fail.errnum, "run %s: exec", o->argv[0]);
}

/* Feeds stdin and drains stdout/stderr until the child exits; each pass
 * waits at most 20 ms and then asks waitpid, since a grandchild may keep the
 * pipes open after the child is gone. Bounded by the deadline. */
static int
run_collect(const struct net_run_opts *o, pid_t pid, struct run_io *io, int64_t deadline,
            int *status, struct k3c_err *err)
{
    for (;;) {
        struct pollfd pfd[3];
        nfds_t nfds = 0;
        int left = run_remaining_ms(deadline), pr, wr;
        siginfo_t si;

        if (left == 0) {
            run_kill(pid);
            return k3c_err_set(err, K3C_E_TIMEOUT, "run %s: killed after %d ms", o->argv[0],
                               o->timeout_ms);
        }
        if (io->in_w >= 0)
            pfd[nfds++] = (struct pollfd){.fd = io->in_w, .events = POLLOUT};
        if (io->out_r >= 0)
            pfd[nfds++] = (struct pollfd){.fd = io->out_r, .events = POLLIN};
        if (io->err_r >= 0)
            pfd[nfds++] = (struct pollfd){.fd = io->err_r, .events = POLLIN};
        pr = poll(pfd, nfds, left < 20 ? left : 20);
        if (pr < 0 && errno != EINTR) {
            int e = errno;

            run_kill(pid);
            return k3c_err_sys(err, e, "run %s: poll", o->argv[0]);
        }
        for (nfds_t i = 0; pr > 0 && i < nfds; i++) {
            if (!pfd[i].revents)
                continue;
            if (pfd[i].fd == io->in_w) {
                ssize_t n = write(io->in_w, o->input + io->written, o->input_len - io->written);

                if (n > 0)
                    io->written += (size_t)n;
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || io->written == o->input_len)
                    run_close(&io->in_w);
            } else if (pfd[i].fd == io->out_r) {
                if (run_read(io->out_r, &io->out))
                    run_close(&io->out_r);
            } else if (run_read(io->err_r, &io->errout)) {
                run_close(&io->err_r);
            }
        }
        /* WNOWAIT: the zombie keeps pid (and so the group id) from being
         * reused until the group is killed below. */
        si.si_pid = 0;
        wr = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (wr == 0 && si.si_pid == pid)
            break;
        if (wr < 0 && errno != EINTR) {
            int e = errno;

            run_kill(pid);
            return k3c_err_sys(err, e, "run %s: waitid", o->argv[0]);
        }
    }
    /* What the program wrote before it exited is still in the pipes; what
     * it left running in its group goes with it. */
    if (io->out_r >= 0)
        run_read(io->out_r, &io->out);
    if (io->err_r >= 0)
        run_read(io->err_r, &io->errout);
    kill(-pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static int
run_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

int
net_run(const struct net_run_opts *o, struct net_run_result *r, struct k3c_err *err)
{
    _cleanup_close_ int nsfd = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, st[2] = {-1, -1};
    struct run_io io = {.in_w = -1, .out_r = -1, .err_r = -1, .status_r = -1};
    sigset_t empty, pipe_set, old_mask, pending;
    struct timespec zero = {0};
    char *const *envp = (char *const *)(o->envp ? (char **)o->envp : environ);
    int64_t deadline;
    int status = 0, rc = -1;
    pid_t pid;

    memset(r, 0, sizeof(*r));
    if (!o->argv || !o->argv[0] || o->argv[0][0] != '/' || o->timeout_ms <= 0)
        return k3c_err_set(err, K3C_E_INVALID, "run: need an absolute argv[0] and a timeout");
    if (o->netns) {
        nsfd = net_netns_open(o->netns, err);
        if (nsfd < 0)
            return k3c_err_wrap(err, "run %s", o->argv[0]);
    }
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        pipe2(st, O_CLOEXEC) < 0) {
        rc = k3c_err_sys(err, errno, "run %s: pipe", o->argv[0]);
        goto out;
    }
    k3c_buf_init(&io.out);
    k3c_buf_init(&io.errout);
    sigemptyset(&empty);
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    /* Writing to a child that exited raises SIGPIPE in this thread: block it
     * and take it back below, so the caller's process never dies of it. */
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    deadline = k3c_now_ms() + o->timeout_ms;
    pid = fork();
    if (pid < 0) {
        rc = k3c_err_sys(err, errno, "run %s: fork", o->argv[0]);
        goto restore;
    }
    if (pid == 0)
        run_child(o, nsfd, in[0], out[1], errp[1], st[1], &empty, envp);
    /* Also here, so that a kill right after fork reaches the group. */
    setpgid(pid, pid);
    run_close(&in[0]);
    run_close(&out[1]);
    run_close(&errp[1]);
    run_close(&st[1]);
    io.in_w = TAKE_FD(in[1]);
    io.out_r = TAKE_FD(out[0]);
    io.err_r = TAKE_FD(errp[0]);
    io.status_r = TAKE_FD(st[0]);
    if (run_check_exec(o, pid, &io, deadline, err) < 0)
        goto restore;
    fcntl(io.in_w, F_SETFL, O_NONBLOCK);
    fcntl(io.out_r, F_SETFL, O_NONBLOCK);
    fcntl(io.err_r, F_SETFL, O_NONBLOCK);
    if (!o->input || o->input_len == 0)
        run_close(&io.in_w);
    if (run_collect(o, pid, &io, deadline, &status, err) < 0)
        goto restore;
    r->exit_code = run_exit_code(status);
    r->out = k3c_buf_steal(&io.out, &r->out_len);
    r->errout = k3c_buf_steal(&io.errout, &r->errout_len);
    rc = 0;

restore:
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_mask, SIGPIPE))
        sigtimedwait(&pipe_set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    k3c_buf_fini(&io.out);
    k3c_buf_fini(&io.errout);
out:
    run_close(&io.in_w);
    run_close(&io.out_r);
    run_close(&io.err_r);
    run_close(&io.status_r);
    for (int i = 0; i < 2; i++) {
        run_close(&in[i]);
        run_close(&out[i]);
        run_close(&errp[i]);
        run_close(&st[i]);
    }
    return rc;
}

void
net_run_result_fini(struct net_run_result *r)
{
    free(r->out);
    free(r->errout);
    memset(r, 0, sizeof(*r));
}
