/* SPDX-License-Identifier: Apache-2.0
 * image_helper.c - the work that needs libarchive, in a child process.
 * Layer unpacking and tarball staging run in `k3c __image-archive` (the
 * same binary, /proc/self/exe), which loads libarchive with dlopen, does
 * one job and exits: the long-running agent and server never map
 * libarchive, libxml2, ICU or libstdc++ (docs/agent.md, "Memory, session 8").
 *
 * Where the helper cannot run (an arm64 agent under qemu-user: the
 * emulator execs the guest binary through binfmt_misc without the agent's
 * library root), a probe at first use says so once and the work runs in
 * this process, with libarchive loaded here.
 *
 * The child's stdout is the protocol, one line each:
 *   FILE <digest> <size> <name>   a staged archive member (stage only)
 *   ERR <kind> <message>          the job failed (then exit status 1)
 * Log lines go to stderr; the parent passes them on at debug level. */
#define LOG_COMPONENT "image"
#define IMAGE_ARCHIVE_NO_REDIRECT
#include "image/image-archive.h"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/dl.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A layer of several GB on a slow disk; the child is killed after this. */
#define HELPER_TIMEOUT_MS (60 * 60 * 1000)

struct image_archive_api image_la;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static int
archive_load_locked(struct k3c_err *err)
{
#define IMAGE_ARCHIVE_SYM(f) {#f, (void **)&image_la.p_##f},
    static const struct k3c_dl_sym syms[] = {IMAGE_ARCHIVE_FUNCS(IMAGE_ARCHIVE_SYM)};
#undef IMAGE_ARCHIVE_SYM

    if (image_la.p_archive_read_new)
        return 0;
    return k3c_dl_load(IMAGE_ARCHIVE_SONAME, IMAGE_ARCHIVE_PACKAGE, "images", syms,
                       K3C_ARRAY_SIZE(syms), err);
}

int
image_archive_load(struct k3c_err *err)
{
    int rc;

    pthread_mutex_lock(&load_lock);
    rc = archive_load_locked(err);
    pthread_mutex_unlock(&load_lock);
    return rc;
}

/* ---- the child ---- */

static int
helper_fail(const struct k3c_err *err)
{
    printf("ERR %d %s\n", (int)err->kind, err->msg);
    fflush(stdout);
    return 1;
}

int
image_helper_main(int argc, char **argv)
{
    struct k3c_err err = {0};

    /* argv[0] is IMAGE_HELPER_VERB */
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return 0;
    if (argc == 5 && strcmp(argv[1], "unpack") == 0) {
        if (image_archive_load(&err) < 0 ||
            image_layer_unpack_here(argv[2], argv[3], argv[4][0] ? argv[4] : NULL, &err) < 0)
            return helper_fail(&err);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "stage") == 0) {
        if (image_archive_load(&err) < 0 || image_import_stage_here(argv[2], argv[3], &err) < 0)
            return helper_fail(&err);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    fprintf(stderr,
            "k3c %s: an internal command of the image store\n"
            "usage: k3c %s unpack BLOB DEST DIFF_ID | stage TARBALL STAGING_DIR\n",
            IMAGE_HELPER_VERB, IMAGE_HELPER_VERB);
    return 2;
}

/* ---- the parent ---- */

/* The child's error line, or a message built from how it ended. */
static int
helper_error(const struct net_run_result *r, struct k3c_err *err)
{
    const char *line = r->out;

    while (line && *line) {
        int kind, off = 0;

        if (sscanf(line, "ERR %d %n", &kind, &off) == 1 && off > 0) {
            size_t len = strcspn(line + off, "\n");

            if (kind <= K3C_E_NONE || kind > K3C_E_SYSTEM)
                kind = K3C_E_INTERNAL;
            return k3c_err_set(err, (enum k3c_errkind)kind, "%.*s", (int)len, line + off);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return k3c_err_set(err, K3C_E_SYSTEM, "image helper exited with status %d: %.200s",
                       r->exit_code, r->errout && *r->errout ? r->errout : "no message");
}

/* Passes the child's log lines on (they already carry their own prefix). */
static void
helper_relay_log(const char *errout)
{
    while (errout && *errout) {
        size_t len = strcspn(errout, "\n");

        if (len)
            log_debug("(helper) %.*s", (int)len, errout);
        errout += len;
        if (*errout == '\n')
            errout++;
    }
}

static int run_helper(const char *const *args, char **out, struct k3c_err *err);

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool helper_runs;

static void
probe_helper(void)
{
    const char *args[] = {"probe", NULL};
    struct k3c_err err = {0};

    helper_runs = run_helper(args, NULL, &err) == 0;
    if (!helper_runs)
        log_warn("the image helper (%s) cannot run here (%s): layers and tarballs are unpacked "
                 "in this process",
                 IMAGE_HELPER_VERB, err.msg);
}

bool
image_helper_usable(void)
{
    pthread_once(&probe_once, probe_helper);
    return helper_runs;
}

int
image_helper_run(const char *const *args, char **out, struct k3c_err *err)
{
    return run_helper(args, out, err);
}

static int
run_helper(const char *const *args, char **out, struct k3c_err *err)
{
    const char *argv[8] = {"/proc/self/exe", IMAGE_HELPER_VERB};
    struct net_run_opts o = {.argv = argv, .timeout_ms = HELPER_TIMEOUT_MS};
    struct net_run_result r = {0};
    size_t n = 2;

    for (; *args && n < K3C_ARRAY_SIZE(argv) - 1; args++)
        argv[n++] = *args;
    if (net_run(&o, &r, err) < 0)
        return k3c_err_wrap(err, "image helper");
    helper_relay_log(r.errout);
    if (r.exit_code != 0) {
        helper_error(&r, err);
        net_run_result_fini(&r);
        return -1;
    }
    if (out)
        *out = TAKE_PTR(r.out);
    net_run_result_fini(&r);
    return 0;
}
