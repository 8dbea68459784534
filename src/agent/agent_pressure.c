/* SPDX-License-Identifier: Apache-2.0
 * agent_pressure.c - the Node's MemoryPressure, DiskPressure and PIDPressure
 * conditions from measurements, with the kubelet's default hard eviction
 * thresholds: memory.available < 100Mi (MemAvailable here, where the
 * kubelet subtracts the root cgroup's working set), nodefs.available < 10%,
 * nodefs.inodesFree < 5%, imagefs.available < 15% (the data dir and its
 * image dir). The kubelet has no default PID threshold; k3c reports
 * PIDPressure above 95 % of kernel.pid_max in use. Eviction and the
 * pressure taints are not built yet (docs/install.md). */
#include "agent/agent-internal.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#define MEMORY_AVAILABLE_MIN_KIB  (100LL * 1024)
#define NODEFS_AVAILABLE_MIN_PCT  10
#define NODEFS_INODES_MIN_PCT     5
#define IMAGEFS_AVAILABLE_MIN_PCT 15
#define PID_USED_MAX_PCT          95

static long long
meminfo_kib(const char *key)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long long v = -1;
    size_t len = strlen(key);

    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, len) == 0 && line[len] == ':') {
            sscanf(line + len + 1, "%lld", &v);
            break;
        }
    return v;
}

/* Percent of the file system at path still available (and of its inodes). */
static bool
fs_available(const char *path, int *pct, int *inodes_pct)
{
    struct statvfs fs;

    if (statvfs(path, &fs) < 0 || fs.f_blocks == 0)
        return false;
    *pct = (int)((unsigned long long)fs.f_bavail * 100 / fs.f_blocks);
    *inodes_pct = fs.f_files ? (int)((unsigned long long)fs.f_favail * 100 / fs.f_files) : 100;
    return true;
}

void
agent_pressure_measure(const char *data_dir, struct agent_pressure *p)
{
    _cleanup_free_ char *images = k3c_xasprintf("%s/images", data_dir);
    long long avail = meminfo_kib("MemAvailable");
    int pct, ipct, pid_max = 0, threads = 0;
    _cleanup_fclose_ FILE *f = NULL;

    *p = (struct agent_pressure){0};
    if (avail >= 0 && avail < MEMORY_AVAILABLE_MIN_KIB) {
        p->memory = true;
        snprintf(p->memory_msg, sizeof(p->memory_msg), "memory.available %lldKi < 100Mi", avail);
    }
    if (fs_available(data_dir, &pct, &ipct) &&
        (pct < NODEFS_AVAILABLE_MIN_PCT || ipct < NODEFS_INODES_MIN_PCT)) {
        p->disk = true;
        snprintf(p->disk_msg, sizeof(p->disk_msg),
                 "nodefs.available %d%% (< 10%%), inodesFree %d%% (< 5%%)", pct, ipct);
    }
    if (!p->disk && fs_available(images, &pct, &ipct) && pct < IMAGEFS_AVAILABLE_MIN_PCT) {
        p->disk = true;
        snprintf(p->disk_msg, sizeof(p->disk_msg), "imagefs.available %d%% < 15%%", pct);
    }
    if ((f = fopen("/proc/sys/kernel/pid_max", "re")) && fscanf(f, "%d", &pid_max) == 1) {
        fclose(f);
        /* /proc/loadavg's fourth field: runnable/total scheduling entities */
        f = fopen("/proc/loadavg", "re");
        if (f && fscanf(f, "%*s %*s %*s %*d/%d", &threads) == 1 && pid_max > 0 &&
            (long long)threads * 100 / pid_max > PID_USED_MAX_PCT) {
            p->pid = true;
            snprintf(p->pid_msg, sizeof(p->pid_msg), "%d of %d PIDs in use", threads, pid_max);
        }
    }
}
