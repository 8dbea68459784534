/* SPDX-License-Identifier: Apache-2.0
 * kubelet_logrotate.c - container log rotation, as the kubelet's
 * ContainerLogManager: every monitor interval, the log of each running
 * container (<logs>/<ns>_<pod>_<uid>/<container>/<restart>.log) that is
 * over containerLogMaxSize is renamed to <restart>.log.<YYYYmmdd-HHMMSS>
 * and its conmon reopens a new, empty file at the path (the control FIFO,
 * runtime_reopen_log); rotated files beyond containerLogMaxFiles - 1 are
 * removed, oldest first. conmon's own --log-size-max is not used: it
 * truncates in place and the lines are gone. The log reader follows the
 * path across a rotation (kubelet_server_logs.c). The same housekeeping
 * thread runs the image GC (kubelet_imagegc.c) every image GC period. */
#define LOG_COMPONENT "kubelet"

#include "kubelet/kubelet-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROTATED_MAX 64 /* rotated files of one log considered at once */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest "<log>.<stamp>" files in dir until keep are left. */
static int
prune_rotated(const char *dir, const char *log, int keep)
{
    _cleanup_free_ char *prefix = k3c_xasprintf("%s.", log);
    char *names[ROTATED_MAX];
    size_t n = 0, removed = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return 0;
    while ((de = readdir(d)) && n < ROTATED_MAX)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
            !strstr(de->d_name + strlen(prefix), ".tmp"))
            names[n++] = k3c_xstrdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(char *), name_cmp); /* the stamp sorts by time */
    for (size_t i = 0; i < n; i++) {
        if (n - i > (size_t)keep) {
            _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, names[i]);

            if (unlink(p) == 0)
                removed++;
        }
        free(names[i]);
    }
    return (int)removed;
}

/* Rotates dir/<n>.log of container id when it is over max_bytes. */
static void
rotate_one(struct runtime *rt, const char *dir, const char *log, const char *id,
           long long max_bytes, int max_files)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%s", dir, log), *rotated = NULL;
    struct runtime_status st;
    struct k3c_err err = {0};
    struct stat sb;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    if (stat(path, &sb) < 0 || sb.st_size <= max_bytes)
        return;
    if (runtime_status(rt, id, &st, &err) < 0 || st.state != RUNTIME_STATE_RUNNING)
        return; /* an exited container's log is kept whole (logs --previous) */
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    rotated = k3c_xasprintf("%s.%s", path, stamp);
    if (access(rotated, F_OK) == 0)
        return; /* rotated this second already */
    if (rename(path, rotated) < 0) {
        log_warn("log rotation: rename %s: %s", path, strerror(errno));
        return;
    }
    if (runtime_reopen_log(rt, id, &err) < 0) {
        /* nobody writes it any more: put it back */
        if (access(path, F_OK) != 0)
            rename(rotated, path);
        log_debug("log rotation of %s undone: %s", path, err.msg);
        return;
    }
    log_debug("log %s rotated at %lld bytes", path, (long long)sb.st_size);
    prune_rotated(dir, log, max_files - 1);
}

/* One container's log dir: dir/<restart>.log files of container cname. */
static void
rotate_container(struct runtime *rt, const char *dir, const char *uid, const char *cname,
                 long long max_bytes, int max_files)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *logs[16];
    size_t n = 0;

    if (!d)
        return;
    while ((de = readdir(d)) && n < K3C_ARRAY_SIZE(logs)) {
        char *end = NULL;
        long restart = strtol(de->d_name, &end, 10);

        if (end != de->d_name && strcmp(end, ".log") == 0 && restart >= 0 && restart < INT_MAX)
            logs[n++] = k3c_xstrdup(de->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char id[32];

        kubelet_container_id(uid, cname, atoi(logs[i]), id);
        rotate_one(rt, dir, logs[i], id, max_bytes, max_files);
        free(logs[i]);
    }
}

void
kubelet_logs_rotate(struct runtime *rt, const char *logs_dir, long long max_bytes, int max_files)
{
    DIR *pods = opendir(logs_dir);
    struct dirent *pe;

    while (pods && (pe = readdir(pods))) {
        const char *uid = strrchr(pe->d_name, '_');
        _cleanup_free_ char *pdir = NULL;
        DIR *cs;
        struct dirent *ce;

        if (pe->d_name[0] == '.' || !uid)
            continue;
        uid++;
        pdir = k3c_xasprintf("%s/%s", logs_dir, pe->d_name);
        cs = opendir(pdir);
        while (cs && (ce = readdir(cs))) {
            _cleanup_free_ char *cdir = NULL;

            if (ce->d_name[0] == '.')
                continue;
            cdir = k3c_xasprintf("%s/%s", pdir, ce->d_name);
            rotate_container(rt, cdir, uid, ce->d_name, max_bytes, max_files);
        }
        if (cs)
            closedir(cs);
    }
    if (pods)
        closedir(pods);
}

void *
kubelet_logrotate_thread(void *arg)
{
    struct kubelet *k = arg;

    int64_t next_gc = k3c_now_ms() + k->gc_period_ms;
    int64_t next_evict = k3c_now_ms() + k->evict_period_ms;

    log_info("container logs rotate at %lld bytes, %d files per container (checked every %d ms); "
             "image GC above %d%% down to %d%% disk use (checked every %d ms)",
             k->log_max_bytes, k->log_max_files, k->log_monitor_ms, k->gc_high_pct, k->gc_low_pct,
             k->gc_period_ms);
    while (!kubelet_stopping(k)) {
        int64_t deadline = k3c_now_ms() + k->log_monitor_ms;

        kubelet_logs_rotate(k->rt, k->logs_dir, k->log_max_bytes, k->log_max_files);
        if (k3c_now_ms() >= next_gc) {
            kubelet_image_gc(k);
            next_gc = k3c_now_ms() + k->gc_period_ms;
        }
        if (k3c_now_ms() >= next_evict) {
            kubelet_eviction_pass(k);
            next_evict = k3c_now_ms() + k->evict_period_ms;
        }
        if (next_gc < deadline)
            deadline = next_gc;
        if (next_evict < deadline)
            deadline = next_evict;
        pthread_mutex_lock(&k->lock);
        while (!k->stopping && k3c_now_ms() < deadline)
            k3c_cond_wait_until(&k->wake, &k->lock, deadline);
        pthread_mutex_unlock(&k->lock);
    }
    return NULL;
}
