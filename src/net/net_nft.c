/* SPDX-License-Identifier: Apache-2.0
 * net_nft.c - nftables scripts, each one transaction, run where they cost
 * the long-running process nothing: in `k3c __nft` (the same binary,
 * /proc/self/exe), a short-lived child that loads libnftables with dlopen,
 * runs the script from its stdin and exits. The agent and the server never
 * map libnftables, libnftnl and libxtables (~1.1 MiB of the agent's RSS;
 * docs/agent.md, "Session 9: agent memory"); a sync pays one process start
 * (~6 ms) and nft's fetch of the table it changes.
 *
 * A program that is not k3c (a test or a bench that links the proxy) has no
 * such verb unless it dispatches it and says so (net_nft_helper_enable):
 * without that, scripts run in the calling process, libnftables loaded
 * there. libnftables talks to the kernel over a NETLINK_NETFILTER socket and,
 * when it cannot open one, prints "Unable to initialize Netlink socket" and
 * exit()s the whole process. That happens under qemu-user emulation (it
 * translates only a few netlink protocols; the arm64 edge node's tests run
 * there), so the socket is probed once and, where it fails, the nft program
 * gets the same script on stdin (still one transaction). */
#include "net/net.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/dl.h"
#include "base/util.h"

#include <errno.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NFT_PROGRAM    "/usr/sbin/nft"
#define NFT_TIMEOUT_MS 30000
#define NFT_SONAME     "libnftables.so.1"
#define NFT_PACKAGE    "libnftables1"

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool library_usable;
static bool helper_enabled;

static void
probe(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

    library_usable = fd >= 0 || (errno != EPROTONOSUPPORT && errno != EAFNOSUPPORT);
    if (fd >= 0)
        close(fd);
}

bool
net_nft_library_usable(void)
{
    pthread_once(&probe_once, probe);
    return library_usable;
}

void
net_nft_helper_enable(void)
{
    helper_enabled = true;
}

bool
net_nft_helper_enabled(void)
{
    return helper_enabled;
}

/* nft's error text as one line: its message and the command it names
 * (the lines that only underline the command are left out). */
int
net_nft_error(const char *e, const char *what, struct k3c_err *err)
{
    char line[200];
    size_t i = 0;

    for (; e && *e && i + 3 < sizeof(line); e++)
        if (*e != '\n')
            line[i++] = *e;
        else if (e[1] && e[1] != ' ' && e[1] != '^')
            i += (size_t)snprintf(line + i, sizeof(line) - i, " | ");
    line[i < sizeof(line) ? i : sizeof(line) - 1] = '\0';
    return k3c_err_set(err, K3C_E_SYSTEM, "nftables %s: %s", what, i ? line : "failed");
}

/* ---- libnftables, loaded with dlopen ---- */

#define NFT_FUNCS(X)                                                                               \
    X(nft_ctx_new)                                                                                 \
    X(nft_ctx_free)                                                                                \
    X(nft_ctx_buffer_output)                                                                       \
    X(nft_ctx_buffer_error)                                                                        \
    X(nft_ctx_get_output_buffer)                                                                   \
    X(nft_ctx_get_error_buffer)                                                                    \
    X(nft_run_cmd_from_buffer)

static struct {
#define NFT_PTR(f) __typeof__(f) *p_##f;
    NFT_FUNCS(NFT_PTR)
#undef NFT_PTR
} nft;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Loads libnftables once; the caller holds load_lock. */
static int
nft_load_locked(struct k3c_err *err)
{
#define NFT_SYM(f) {#f, (void **)&nft.p_##f},
    static const struct k3c_dl_sym syms[] = {NFT_FUNCS(NFT_SYM)};
#undef NFT_SYM

    if (nft.p_nft_ctx_new)
        return 0;
    return k3c_dl_load(NFT_SONAME, NFT_PACKAGE, "nftables", syms, K3C_ARRAY_SIZE(syms), err);
}

/* Runs script in this process. *out (may be NULL) gets nft's output;
 * *errout (may be NULL) its error text when the script failed. */
static int
run_here(const char *script, char **out, char **errout, struct k3c_err *err)
{
    struct nft_ctx *ctx;
    int rc;

    pthread_mutex_lock(&load_lock);
    rc = nft_load_locked(err);
    pthread_mutex_unlock(&load_lock);
    if (rc < 0)
        return -1;
    ctx = nft.p_nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return k3c_err_set(err, K3C_E_SYSTEM, "nftables: cannot make a context");
    nft.p_nft_ctx_buffer_output(ctx);
    nft.p_nft_ctx_buffer_error(ctx);
    rc = nft.p_nft_run_cmd_from_buffer(ctx, script);
    if (rc == 0 && out)
        *out = k3c_xstrdup(nft.p_nft_ctx_get_output_buffer(ctx));
    if (rc != 0 && errout)
        *errout = k3c_xstrdup(nft.p_nft_ctx_get_error_buffer(ctx));
    nft.p_nft_ctx_free(ctx);
    return rc == 0 ? 0 : 1;
}

/* ---- the helper process ---- */

/* `__nft --session`: scripts one after another on one context (the
 * protocol: net_nft_session.c), until EOF. */
static int
session_loop(void)
{
    struct k3c_err err = {0};
    struct nft_ctx *ctx;
    char line[64];
    int rc;

    pthread_mutex_lock(&load_lock);
    rc = nft_load_locked(&err);
    pthread_mutex_unlock(&load_lock);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    ctx = nft.p_nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return 2;
    nft.p_nft_ctx_buffer_output(ctx);
    nft.p_nft_ctx_buffer_error(ctx);
    while (fgets(line, sizeof(line), stdin)) {
        size_t len = strtoull(line, NULL, 10);
        _cleanup_free_ char *script = k3c_xmalloc(len + 1);
        const char *out, *e;

        if (fread(script, 1, len, stdin) != len)
            break;
        script[len] = '\0';
        rc = nft.p_nft_run_cmd_from_buffer(ctx, script);
        out = nft.p_nft_ctx_get_output_buffer(ctx);
        e = nft.p_nft_ctx_get_error_buffer(ctx);
        out = out ? out : "";
        e = e ? e : "";
        printf("%d %zu %zu\n%s%s", rc != 0, strlen(out), strlen(e), out, e);
        if (fflush(stdout) != 0)
            break;
    }
    nft.p_nft_ctx_free(ctx);
    return 0;
}

int
net_nft_helper_main(int argc, char **argv)
{
    _cleanup_free_ char *out = NULL, *errout = NULL;
    struct k3c_err err = {0};
    struct k3c_buf in;
    char chunk[16384];
    ssize_t n;
    int rc;

    if (argc == 2 && strcmp(argv[1], "--session") == 0)
        return session_loop();
    if (argc != 1) {
        fprintf(stderr,
                "k3c %s: an internal command of the agent's network parts\n"
                "usage: k3c %s [--session] < SCRIPT\n",
                NET_NFT_HELPER_VERB, NET_NFT_HELPER_VERB);
        return 2;
    }
    k3c_buf_init(&in);
    while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "reading the script: %s\n", strerror(errno));
            k3c_buf_fini(&in);
            return 2;
        }
        k3c_buf_append(&in, chunk, (size_t)n);
    }
    k3c_buf_append(&in, "", 1);
    rc = run_here(in.data, &out, &errout, &err);
    k3c_buf_fini(&in);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (out)
        fputs(out, stdout);
    if (errout)
        fputs(errout, stderr);
    return fflush(stdout) == 0 ? rc : 2;
}

static int
run_helper(const char *script, const char *what, char **out, struct k3c_err *err)
{
    const char *argv[] = {"/proc/self/exe", NET_NFT_HELPER_VERB, NULL};
    struct net_run_opts o = {
        .argv = argv, .input = script, .input_len = strlen(script), .timeout_ms = NFT_TIMEOUT_MS};
    struct net_run_result r = {0};
    int code;

    if (net_run(&o, &r, err) < 0)
        return k3c_err_wrap(err, "nftables helper");
    code = r.exit_code;
    if (code == 1)
        net_nft_error(r.errout, what, err);
    else if (code != 0)
        k3c_err_set(err, K3C_E_SYSTEM, "nftables helper exited with status %d: %.*s", code,
                    r.errout ? (int)strcspn(r.errout, "\n") : 0, r.errout ? r.errout : "");
    else if (out)
        *out = k3c_xstrdup(r.out ? r.out : "");
    net_run_result_fini(&r);
    return code == 0 ? 0 : -1;
}

int
net_nft_run(const char *script, const char *what, char **out, struct k3c_err *err)
{
    _cleanup_free_ char *errout = NULL;
    int rc;

    if (!net_nft_library_usable())
        return net_nft_program_run(script, out, err);
    if (helper_enabled)
        return run_helper(script, what, out, err);
    rc = run_here(script, out, &errout, err);
    if (rc > 0)
        net_nft_error(errout, what, err);
    return rc == 0 ? 0 : -1;
}

int
net_nft_program_run(const char *script, char **out, struct k3c_err *err)
{
    const char *argv[] = {NFT_PROGRAM, "-f", "-", NULL};
    struct net_run_opts o = {
        .argv = argv, .input = script, .input_len = strlen(script), .timeout_ms = NFT_TIMEOUT_MS};
    struct net_run_result r = {0};

    if (access(NFT_PROGRAM, X_OK) != 0)
        return k3c_err_set(err, K3C_E_SYSTEM,
                           "nftables: this process cannot open a netfilter netlink socket "
                           "(libnftables would exit) and %s is missing (Debian package nftables)",
                           NFT_PROGRAM);
    if (net_run(&o, &r, err) < 0)
        return -1;
    if (r.exit_code != 0) {
        size_t len = r.errout ? strcspn(r.errout, "\n") : 0;

        k3c_err_set(err, K3C_E_SYSTEM, "nftables (%s): %.*s", NFT_PROGRAM, (int)len,
                    len ? r.errout : "failed");
        net_run_result_fini(&r);
        return -1;
    }
    if (out)
        *out = k3c_xstrdup(r.out ? r.out : "");
    net_run_result_fini(&r);
    return 0;
}
