/* SPDX-License-Identifier: Apache-2.0
 * lab_proc.c - the processes of a lab's hosts: started detached (setsid)
 * inside a host's namespace (setns), found again by their pid file or by
 * the network namespace they live in (the host's, or one of its pods'),
 * which covers k3c, its etcd, conmon and the containers. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *
lab_self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

    if (n <= 0)
        return k3c_xstrdup("k3c");
    buf[n] = 0;
    return k3c_xstrdup(buf);
}

/* The caller's environment without K3C_* settings: only the lab's flags
 * count for the hosts' k3c. Borrowed strings; free() the array. */
static char **
env_without_k3c(void)
{
    size_t n = 0, k = 0;
    char **out;

    while (environ[n])
        n++;
    out = k3c_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "K3C_", 4) != 0)
            out[k++] = environ[i];
    return out;
}

pid_t
lab_spawn(const char *netns, const char *const *argv, const char *log, struct k3c_err *err)
{
    _cleanup_free_ char *nspath = netns ? lab_netns_path(netns) : NULL;
    _cleanup_free_ char **envp = env_without_k3c();
    _cleanup_close_ int nsfd = -1, logfd = -1, nullfd = -1;
    int pipefd[2], child_errno = 0;
    ssize_t got;
    pid_t pid;

    if (nspath) {
        nsfd = net_netns_open(nspath, err);
        if (nsfd < 0)
            return -1;
    }
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0)
        return k3c_err_sys(err, errno, "open %s", log);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0)
        return k3c_err_sys(err, errno, "open /dev/null");
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return k3c_err_sys(err, errno, "pipe");
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return k3c_err_sys(err, errno, "fork");
    }
    if (pid == 0) {
        /* Async-signal-safe calls only until exec. */
        int e;

        setsid();
        if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
            goto fail;
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            goto fail;
        execve(argv[0], (char *const *)argv, envp);
    fail:
        e = errno;
        while (write(pipefd[1], &e, sizeof(e)) < 0 && errno == EINTR)
            ;
        _exit(127);
    }
    close(pipefd[1]);
    do {
        got = read(pipefd[0], &child_errno, sizeof(child_errno));
    } while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    if (got == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        return k3c_err_sys(err, child_errno, "start %s in %s", argv[0], netns ? netns : "root");
    }
    return pid;
}

/* True when pid is alive (not a zombie) and its command line mentions want. */
static bool
pid_alive_with(pid_t pid, const char *want)
{
    _cleanup_free_ char *path = k3c_xasprintf("/proc/%d/cmdline", (int)pid);
    _cleanup_free_ char *stat_path = k3c_xasprintf("/proc/%d/stat", (int)pid);
    _cleanup_free_ char *cmd = NULL, *st = NULL;
    struct k3c_err err = {0};
    const char *close;
    size_t len;

    if (k3c_read_file(stat_path, &st, &len, &err) < 0)
        return false;
    close = strrchr(st, ')');
    if (!close || close[1] != ' ' || close[2] == 'Z' || close[2] == 'X')
        return false;
    if (k3c_read_file(path, &cmd, &len, &err) < 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (cmd[i] == 0)
            cmd[i] = ' ';
    return strstr(cmd, want) != NULL;
}

pid_t
lab_host_pid(const struct lab *l, const struct lab_host *h)
{
    _cleanup_free_ char *pidfile = lab_host_path(l, h, "k3c.pid");
    _cleanup_free_ char *data = lab_host_path(l, h, "data");
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    size_t len;
    long pid;

    if (k3c_read_file(pidfile, &text, &len, &err) < 0)
        return 0;
    pid = strtol(text, NULL, 10);
    if (pid <= 1 || !pid_alive_with((pid_t)pid, data))
        return 0;
    return (pid_t)pid;
}

struct ns_id {
    dev_t dev;
    ino_t ino;
};

/* The host's network namespace and those of its pods (pinned by the agent at
 * /run/netns/k3c-<pod uid>, the uids being the dirs under agent/pods). */
static size_t
host_namespaces(const struct lab *l, const struct lab_host *h, struct ns_id *ids, size_t max)
{
    _cleanup_free_ char *path = lab_netns_path(h->netns);
    _cleanup_free_ char *pods = lab_host_path(l, h, "data/agent/pods");
    struct stat st;
    size_t n = 0;
    DIR *d;
    struct dirent *e;

    if (stat(path, &st) == 0 && n < max)
        ids[n++] = (struct ns_id){st.st_dev, st.st_ino};
    d = opendir(pods);
    if (!d)
        return n;
    while ((e = readdir(d)) && n < max) {
        _cleanup_free_ char *p = NULL;

        if (e->d_name[0] == '.')
            continue;
        p = k3c_xasprintf("/run/netns/k3c-%s", e->d_name);
        if (stat(p, &st) == 0)
            ids[n++] = (struct ns_id){st.st_dev, st.st_ino};
    }
    closedir(d);
    return n;
}

int
lab_host_signal_all(const struct lab *l, const struct lab_host *h, int sig)
{
    struct ns_id ids[512];
    size_t n = host_namespaces(l, h, ids, K3C_ARRAY_SIZE(ids));
    DIR *d = opendir("/proc");
    struct dirent *e;
    int count = 0;

    if (!d || n == 0) {
        if (d)
            closedir(d);
        return 0;
    }
    while ((e = readdir(d))) {
        char path[64];
        struct stat st;
        long pid = strtol(e->d_name, NULL, 10);

        if (pid <= 1 || pid == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
        if (stat(path, &st) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (st.st_dev == ids[i].dev && st.st_ino == ids[i].ino) {
                if (kill((pid_t)pid, sig) == 0)
                    count++;
                break;
            }
        }
    }
    closedir(d);
    return count;
}

int
lab_exec(const struct lab *l, const struct lab_host *h, char *const *argv, struct k3c_err *err)
{
    _cleanup_free_ char *nspath = lab_netns_path(h->netns);
    _cleanup_close_ int nsfd = -1;
    int status;
    pid_t pid;

    (void)l;
    nsfd = net_netns_open(nspath, err);
    if (nsfd < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return k3c_err_sys(err, errno, "fork");
    if (pid == 0) {
        if (setns(nsfd, CLONE_NEWNET) < 0) {
            perror("k3c lab exec: setns");
            _exit(126);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "k3c lab exec: %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return k3c_err_sys(err, errno, "waitpid");
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
