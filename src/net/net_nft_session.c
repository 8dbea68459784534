/* SPDX-License-Identifier: Apache-2.0
 * net_nft_session.c - a `k3c __nft --session` helper kept between scripts,
 * so nft's context (its copy of the ruleset) survives from one transaction
 * to the next: a change to a table of 1,000 Services costs ~4 ms instead of
 * the ~20 ms of a fresh helper, which fetches the whole table first. The
 * service proxy keeps one while changes come and ends it when it goes idle,
 * as it dropped its in-process context before (docs/proxy.md): an idle
 * agent has no nftables state and no helper.
 *
 * Protocol on the helper's stdin/stdout: "<length>\n<script>" in; "<status>
 * <output length> <error length>\n<output><error>" out (status 0 ok, 1 the
 * script failed). EOF on stdin ends the helper. */
#include "net/net.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SESSION_TIMEOUT_MS 30000

struct net_nft_session {
    pid_t pid; /* 0: none running */
    int to_child, from_child;
};

struct net_nft_session *
net_nft_session_new(void)
{
    struct net_nft_session *s = k3c_xcalloc(1, sizeof(*s));

    s->to_child = s->from_child = -1;
    return s;
}

void
net_nft_session_end(struct net_nft_session *s)
{
    if (!s || s->pid <= 0)
        return;
    close(s->to_child);
    close(s->from_child);
    kill(s->pid, SIGKILL); /* its state is a cache: nothing to finish */
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    s->to_child = s->from_child = -1;
}

void
net_nft_session_free(struct net_nft_session *s)
{
    net_nft_session_end(s);
    free(s);
}

static int
session_start(struct net_nft_session *s, struct k3c_err *err)
{
    char *const argv[] = {"/proc/self/exe", NET_NFT_HELPER_VERB, "--session", NULL};
    int in[2], out[2];
    sigset_t all, old;
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) < 0)
        return k3c_err_sys(err, errno, "nftables helper: pipe");
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return k3c_err_sys(err, errno, "nftables helper: pipe");
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        /* async-signal-safe calls only until exec */
        struct sigaction dfl = {.sa_handler = SIG_DFL};

        sigaction(SIGPIPE, &dfl, NULL);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        execv(argv[0], argv);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return k3c_err_sys(err, errno, "nftables helper: fork");
    }
    s->pid = pid;
    s->to_child = in[1];
    s->from_child = out[0];
    return 0;
}

/* Writes all of data; SIGPIPE (a helper that died) is blocked and taken
 * back, so it never ends the caller's process. */
static int
write_all(int fd, const char *data, size_t len)
{
    sigset_t pipe_set, old, pending;
    struct timespec zero = {0};
    int rc = 0;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE))
        sigtimedwait(&pipe_set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Reads until b holds want bytes (or, want 0, a whole first line). */
static int
read_until(int fd, struct k3c_buf *b, size_t want, int64_t deadline)
{
    char chunk[16384];

    while (want ? b->len < want : !memchr(b->data ? b->data : "", '\n', b->len)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - k3c_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return -1;
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        k3c_buf_append(b, chunk, (size_t)n);
    }
    return 0;
}

/* One exchange: 0, 1 (the script failed), -2 when the helper was gone
 * before it read the script, -1 when it did not answer (err set). */
static int
exchange(struct net_nft_session *s, const char *script, const char *what, char **out,
         struct k3c_err *err)
{
    _cleanup_free_ char *head = k3c_xasprintf("%zu\n", strlen(script));
    int64_t deadline = k3c_now_ms() + SESSION_TIMEOUT_MS;
    struct k3c_buf b;
    int status = -1, hl = 0, rc = -1;
    size_t out_len = 0, err_len = 0;

    if (write_all(s->to_child, head, strlen(head)) < 0 ||
        write_all(s->to_child, script, strlen(script)) < 0) {
        k3c_err_set(err, K3C_E_SYSTEM, "nftables helper: it exited");
        return -2;
    }
    k3c_buf_init(&b);
    if (read_until(s->from_child, &b, 0, deadline) < 0 ||
        sscanf(b.data, "%d %zu %zu\n%n", &status, &out_len, &err_len, &hl) != 3 || hl <= 0 ||
        read_until(s->from_child, &b, (size_t)hl + out_len + err_len, deadline) < 0) {
        k3c_err_set(err, K3C_E_SYSTEM, "nftables helper: no answer (exited or timed out)");
        goto done;
    }
    if (status == 0) {
        if (out)
            *out = k3c_xstrndup(b.data + hl, out_len);
        rc = 0;
    } else {
        _cleanup_free_ char *e = k3c_xstrndup(b.data + hl + out_len, err_len);

        net_nft_error(e, what, err);
        rc = 1;
    }
done:
    k3c_buf_fini(&b);
    return rc;
}

int
net_nft_session_run(struct net_nft_session *s, const char *script, const char *what, char **out,
                    struct k3c_err *err)
{
    int rc;

    if (!net_nft_helper_enabled() || !net_nft_library_usable())
        return net_nft_run(script, what, out, err);
    /* a kept helper that died since the last script gets one fresh start
     * (it never read this script; a helper that read it is not retried) */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool kept = s->pid > 0;

        if (!kept && session_start(s, err) < 0)
            return -1;
        rc = exchange(s, script, what, out, err);
        if (rc >= 0)
            return rc == 0 ? 0 : -1;
        net_nft_session_end(s);
        if (rc != -2 || !kept)
            return -1;
        k3c_err_clear(err);
    }
    return -1;
}
