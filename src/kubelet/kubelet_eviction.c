/* SPDX-License-Identifier: Apache-2.0
 * kubelet_eviction.c - the kubelet's eviction manager (issue #21): every
 * housekeeping period it observes memory.available, nodefs.available and
 * inodesFree, imagefs.available and inodesFree and pid.available against
 * the --eviction-hard / --eviction-soft thresholds. When one is met, it
 * reclaims node-level resources first (for disk: every unused image), and
 * if that was not enough it evicts one pod, ranked as upstream's
 * rankMemoryPressure / rankDiskPressureFunc / rankPIDPressure: pods whose
 * usage exceeds their requests first, then lower priority, then larger
 * usage over the request. The pod's worker kills it (hard: no grace), marks
 * it Failed with reason Evicted and upstream's message, and frees its
 * writable layers and emptyDir volumes. A threshold once met stays met
 * until the signal is clear by --eviction-minimum-reclaim. */
#define LOG_COMPONENT "kubelet"

#include "kubelet/kubelet_eviction.h"

#include "kubelet/kubelet-internal.h"
#include "kubelet/kubelet_server-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CRITICAL_PRIORITY 2000000000LL /* system-cluster-critical and above: never evicted */

static const char *const signal_names[KEVICT_N] = {
    "memory.available",  "nodefs.available",   "nodefs.inodesFree",
    "imagefs.available", "imagefs.inodesFree", "pid.available",
};

const char *
kevict_signal_name(enum kevict_signal s)
{
    return signal_names[s];
}

static bool
is_disk(enum kevict_signal s)
{
    return s >= KEVICT_NODEFS && s <= KEVICT_IMAGEFS_INODES;
}

static bool
counts_items(enum kevict_signal s)
{
    return s == KEVICT_NODEFS_INODES || s == KEVICT_IMAGEFS_INODES || s == KEVICT_PID;
}

/* The resource the kubelet names in its message. */
static const char *
resource_name(enum kevict_signal s)
{
    if (s == KEVICT_MEMORY)
        return "memory";
    if (s == KEVICT_PID)
        return "pids";
    return counts_items(s) ? "inodes" : "ephemeral-storage";
}

int64_t
kevict_value_of(const struct kevict_value *v, int64_t cap)
{
    if (!v->set)
        return 0;
    return v->pct > 0 ? (int64_t)((double)cap * v->pct / 100.0) : v->qty;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int
signal_of(const char *name, size_t len)
{
    for (int s = 0; s < KEVICT_N; s++)
        if (strlen(signal_names[s]) == len && strncmp(signal_names[s], name, len) == 0)
            return s;
    return -1;
}

static int
value_parse(const char *s, enum kevict_signal sig, struct kevict_value *v, struct k3c_err *err)
{
    size_t len = strlen(s);
    char *end;

    *v = (struct kevict_value){.set = true};
    if (len > 0 && s[len - 1] == '%') {
        v->pct = strtod(s, &end);
        if (end != s + len - 1 || !(v->pct > 0 && v->pct <= 100))
            return k3c_err_set(err, K3C_E_INVALID, "%s: a percentage in (0, 100] wanted", s);
        return 0;
    }
    if (podspec_quantity_value(s, &v->qty, err) < 0 || v->qty < 0)
        return k3c_err_set(err, K3C_E_INVALID, "%s: a quantity or a percentage wanted", s);
    (void)sig;
    return 0;
}

/* A Go duration: "90s", "1m30s", "1h", "500ms". */
static int
duration_parse(const char *s, int64_t *ms, struct k3c_err *err)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"us", 0.001}, {"ns", 1e-6}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    const char *p = s;
    double total = 0;

    while (*p) {
        char *end;
        double n = strtod(p, &end);
        size_t i;

        if (end == p || !isfinite(n) || n < 0)
            return k3c_err_set(err, K3C_E_INVALID, "%s: a duration (1m30s) wanted", s);
        for (i = 0; i < K3C_ARRAY_SIZE(units); i++)
            if (strncmp(end, units[i].unit, strlen(units[i].unit)) == 0)
                break;
        if (i == K3C_ARRAY_SIZE(units))
            return k3c_err_set(err, K3C_E_INVALID, "%s: a duration (1m30s) wanted", s);
        total += n * units[i].ms;
        p = end + strlen(units[i].unit);
    }
    if (p == s)
        return k3c_err_set(err, K3C_E_INVALID, "empty duration");
    *ms = (int64_t)total;
    return 0;
}

/* One flag: entries "signal<value" (op '<') or "signal=value" (op '='),
 * comma-separated; each calls set(). */
static int
list_parse(const char *flag, const char *text, char op, struct kevict_config *c,
           int (*set)(struct kevict_config *c, enum kevict_signal s, const char *v,
                      struct k3c_err *err),
           struct k3c_err *err)
{
    _cleanup_free_ char *copy = k3c_xstrdup(text ? text : "");
    char *save = NULL;

    for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *o;
        int s;

        while (isspace((unsigned char)*e))
            e++;
        if (!*e)
            continue;
        o = strchr(e, op);
        s = o ? signal_of(e, (size_t)(o - e)) : -1;
        if (s < 0)
            return k3c_err_set(err, K3C_E_INVALID,
                               "--%s %s: want <signal>%c<value>, signal one of memory.available, "
                               "nodefs.available, nodefs.inodesFree, imagefs.available, "
                               "imagefs.inodesFree, pid.available",
                               flag, e, op);
        if (set(c, (enum kevict_signal)s, o + 1, err) < 0)
            return k3c_err_wrap(err, "--%s %s", flag, e);
    }
    return 0;
}

static int
set_hard(struct kevict_config *c, enum kevict_signal s, const char *v, struct k3c_err *err)
{
    return value_parse(v, s, &c->hard[s], err);
}

static int
set_soft(struct kevict_config *c, enum kevict_signal s, const char *v, struct k3c_err *err)
{
    return value_parse(v, s, &c->soft[s], err);
}

static int
set_reclaim(struct kevict_config *c, enum kevict_signal s, const char *v, struct k3c_err *err)
{
    return value_parse(v, s, &c->min_reclaim[s], err);
}

static int
set_grace(struct kevict_config *c, enum kevict_signal s, const char *v, struct k3c_err *err)
{
    return duration_parse(v, &c->soft_grace_ms[s], err);
}

int
kevict_config_parse(struct kevict_config *c, const char *hard, const char *soft,
                    const char *soft_grace, const char *min_reclaim, int max_pod_grace_s,
                    struct k3c_err *err)
{
    *c = (struct kevict_config){.max_pod_grace_s = max_pod_grace_s > 0 ? max_pod_grace_s : 0};
    for (int s = 0; s < KEVICT_N; s++)
        c->soft_grace_ms[s] = -1;
    if (list_parse("eviction-hard", hard ? hard : KEVICT_DEFAULT_HARD, '<', c, set_hard, err) < 0 ||
        list_parse("eviction-soft", soft, '<', c, set_soft, err) < 0 ||
        list_parse("eviction-soft-grace-period", soft_grace, '=', c, set_grace, err) < 0 ||
        list_parse("eviction-minimum-reclaim", min_reclaim, '=', c, set_reclaim, err) < 0)
        return -1;
    for (int s = 0; s < KEVICT_N; s++) {
        if (c->soft[s].set && c->soft_grace_ms[s] < 0)
            return k3c_err_set(
                err, K3C_E_INVALID,
                "--eviction-soft %s: no grace period in --eviction-soft-grace-period",
                signal_names[s]);
        if (!c->soft[s].set && c->soft_grace_ms[s] >= 0)
            return k3c_err_set(err, K3C_E_INVALID,
                               "--eviction-soft-grace-period %s: no soft threshold for it",
                               signal_names[s]);
    }
    return 0;
}

/* ---- observing -------------------------------------------------------------------------- */

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

static void
observe_fs(const char *path, struct kevict_obs *o, enum kevict_signal bytes,
           enum kevict_signal inodes)
{
    struct statvfs fs;

    if (statvfs(path, &fs) < 0 || fs.f_blocks == 0)
        return;
    o->have[bytes] = true;
    o->avail[bytes] = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
    o->cap[bytes] = (int64_t)fs.f_blocks * (int64_t)fs.f_frsize;
    if (fs.f_files > 0) {
        o->have[inodes] = true;
        o->avail[inodes] = (int64_t)fs.f_favail;
        o->cap[inodes] = (int64_t)fs.f_files;
    }
}

/* A node confined in a cgroup whose memory limit is below the machine's
 * memory (a container with its own cgroup namespace: the root it sees is its
 * cgroup) runs out at that limit, not at MemTotal: memory.available is the
 * limit minus the root's working set (usage minus inactive file cache), as
 * the kubelet computes it from the root cgroup (capacity - workingSet). */
static void
observe_memory_confined(struct kevict_obs *o)
{
    long long limit = kubelet_cgroup_memory_limit(), ws;

    if (limit <= 0 || limit >= o->cap[KEVICT_MEMORY])
        return;
    ws = kubelet_cgroup_working_set("");
    if (ws < 0)
        return;
    o->cap[KEVICT_MEMORY] = limit;
    o->avail[KEVICT_MEMORY] = ws < limit ? limit - ws : 0;
}

void
kevict_observe(const char *data_dir, struct kevict_obs *o)
{
    _cleanup_free_ char *images = k3c_xasprintf("%s/images", data_dir);
    long long avail = meminfo_kib("MemAvailable"), total = meminfo_kib("MemTotal");
    int pid_max = 0, threads = 0;
    FILE *f;

    *o = (struct kevict_obs){0};
    if (avail >= 0 && total > 0) {
        o->have[KEVICT_MEMORY] = true;
        o->avail[KEVICT_MEMORY] = avail * 1024;
        o->cap[KEVICT_MEMORY] = total * 1024;
        observe_memory_confined(o);
    }
    observe_fs(data_dir, o, KEVICT_NODEFS, KEVICT_NODEFS_INODES);
    observe_fs(k3c_file_exists(images) ? images : data_dir, o, KEVICT_IMAGEFS,
               KEVICT_IMAGEFS_INODES);
    if ((f = fopen("/proc/sys/kernel/pid_max", "re"))) {
        if (fscanf(f, "%d", &pid_max) != 1)
            pid_max = 0;
        fclose(f);
    }
    /* /proc/loadavg's fourth field: runnable/total scheduling entities */
    if (pid_max > 0 && (f = fopen("/proc/loadavg", "re"))) {
        if (fscanf(f, "%*s %*s %*s %*d/%d", &threads) == 1) {
            o->have[KEVICT_PID] = true;
            o->avail[KEVICT_PID] = pid_max - threads;
            o->cap[KEVICT_PID] = pid_max;
        }
        fclose(f);
    }
}

/* ---- thresholds met and the node's pressure --------------------------------------------- */

/* Bytes as resource.Quantity prints a BinarySI value: the largest exact
 * binary suffix ("100Mi", "1536Ki", "1234567"). */
static void
quantity_str(int64_t v, bool count, char *out, size_t len)
{
    static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    size_t i = 0;

    while (!count && v != 0 && v % 1024 == 0 && i + 1 < K3C_ARRAY_SIZE(suffix)) {
        v /= 1024;
        i++;
    }
    snprintf(out, len, "%lld%s", (long long)v, suffix[i]);
}

static bool
crossed(const struct kevict_value *t, const struct kevict_value *reclaim,
        const struct kevict_obs *o, enum kevict_signal s, bool was_met)
{
    if (!t->set || !o->have[s])
        return false;
    return o->avail[s] <
           kevict_value_of(t, o->cap[s]) + (was_met ? kevict_value_of(reclaim, o->cap[s]) : 0);
}

static void
describe(const struct kevict_value *t, const struct kevict_obs *o, enum kevict_signal s, char *out,
         size_t len)
{
    char avail[32], want[32];

    if (t->pct > 0) {
        snprintf(out, len, "%s %d%% < %g%%", signal_names[s],
                 (int)(o->avail[s] * 100 / (o->cap[s] ? o->cap[s] : 1)), t->pct);
        return;
    }
    quantity_str(o->avail[s], counts_items(s), avail, sizeof(avail));
    quantity_str(t->qty, counts_items(s), want, sizeof(want));
    snprintf(out, len, "%s %s < %s", signal_names[s], avail, want);
}

void
kevict_pressure_eval(const struct kevict_config *c, const struct kevict_obs *o, bool prev[KEVICT_N],
                     struct kevict_pressure *out)
{
    *out = (struct kevict_pressure){0};
    for (int i = 0; i < KEVICT_N; i++) {
        enum kevict_signal s = (enum kevict_signal)i;
        const struct kevict_value *t = NULL;
        char *msg;
        size_t len;
        bool *flag;

        if (crossed(&c->hard[s], &c->min_reclaim[s], o, s, prev[s]))
            t = &c->hard[s];
        else if (crossed(&c->soft[s], &c->min_reclaim[s], o, s, prev[s]))
            t = &c->soft[s];
        prev[s] = t != NULL;
        if (!t)
            continue;
        if (s == KEVICT_MEMORY) {
            flag = &out->memory, msg = out->memory_msg, len = sizeof(out->memory_msg);
        } else if (s == KEVICT_PID) {
            flag = &out->pid, msg = out->pid_msg, len = sizeof(out->pid_msg);
        } else {
            flag = &out->disk, msg = out->disk_msg, len = sizeof(out->disk_msg);
        }
        if (!*flag)
            describe(t, o, s, msg, len);
        *flag = true;
    }
}

int
kevict_transition_parse(const char *s, int64_t *ms, struct k3c_err *err)
{
    if (duration_parse(s ? s : KEVICT_DEFAULT_TRANSITION, ms, err) < 0)
        return k3c_err_wrap(err, "--eviction-pressure-transition-period");
    return 0;
}

static void
hold_one(int64_t *seen, char *last_msg, size_t len, int64_t period_ms, int64_t now, bool *flag,
         char *msg)
{
    if (*flag) {
        *seen = now;
        snprintf(last_msg, len, "%s", msg);
    } else if (*seen && now - *seen < period_ms) {
        *flag = true;
        snprintf(msg, len, "%s", last_msg);
    }
}

void
kevict_pressure_hold(struct kevict_transition *t, int64_t period_ms, int64_t now,
                     struct kevict_pressure *p)
{
    struct kevict_pressure *l = &t->last;

    hold_one(&t->seen_ms[0], l->memory_msg, sizeof(l->memory_msg), period_ms, now, &p->memory,
             p->memory_msg);
    hold_one(&t->seen_ms[1], l->disk_msg, sizeof(l->disk_msg), period_ms, now, &p->disk,
             p->disk_msg);
    hold_one(&t->seen_ms[2], l->pid_msg, sizeof(l->pid_msg), period_ms, now, &p->pid, p->pid_msg);
}

/* ---- ranking ---------------------------------------------------------------------------- */

static int
rank_cmp(const struct kubelet_evict_pod *a, const struct kubelet_evict_pod *b, enum kevict_signal s)
{
    if (s != KEVICT_PID) {
        bool ea = a->usage > a->request, eb = b->usage > b->request;

        if (ea != eb)
            return ea ? -1 : 1;
    }
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    if (s == KEVICT_PID) {
        if (a->usage != b->usage)
            return a->usage > b->usage ? -1 : 1;
    } else if (a->usage - a->request != b->usage - b->request)
        return a->usage - a->request > b->usage - b->request ? -1 : 1;
    return strcmp(a->name ? a->name : "", b->name ? b->name : "");
}

void
kubelet_eviction_rank(struct kubelet_evict_pod *v, size_t n, enum kevict_signal s)
{
    for (size_t i = 1; i < n; i++) {
        struct kubelet_evict_pod x = v[i];
        size_t j = i;

        for (; j > 0 && rank_cmp(&x, &v[j - 1], s) < 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* ---- the pods' usage -------------------------------------------------------------------- */

/* Bytes and inodes under dirfd, not crossing into other file systems (the
 * containers' overlay mounts, tmpfs volumes). Closes dirfd. */
static void
dir_usage(int dirfd, dev_t dev, int depth, int64_t *bytes, int64_t *inodes)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *e;

    if (!d) {
        close(dirfd);
        return;
    }
    while ((e = readdir(d))) {
        struct stat st;
        int fd;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
            continue;
        *bytes += (int64_t)st.st_blocks * 512;
        *inodes += 1;
        if (S_ISDIR(st.st_mode) && depth < 64 &&
            (fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
            dir_usage(fd, dev, depth + 1, bytes, inodes);
    }
    closedir(d);
}

static void
path_usage(const char *path, int64_t *bytes, int64_t *inodes)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return;
    }
    dir_usage(fd, st.st_dev, 0, bytes, inodes);
}

/* The pod's local storage: its directory (writable layers, emptyDir) and
 * its logs. */
static void
pod_disk_usage(struct kubelet *k, const char *uid, int64_t *bytes, int64_t *inodes)
{
    _cleanup_free_ char *dir = kubelet_pod_dir(k, uid);
    DIR *d = opendir(k->logs_dir);
    struct dirent *e;
    size_t ul = strlen(uid);

    path_usage(dir, bytes, inodes);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);

        if (l > ul + 1 && strcmp(e->d_name + l - ul, uid) == 0 && e->d_name[l - ul - 1] == '_') {
            _cleanup_free_ char *path = k3c_xasprintf("%s/%s", k->logs_dir, e->d_name);

            path_usage(path, bytes, inodes);
        }
    }
    if (d)
        closedir(d);
}

static int64_t
pod_pids(const char *uid)
{
    const char *const fmts[] = {"/sys/fs/cgroup" RUNTIME_CGROUP_PARENT "/%s/pids.current",
                                "/sys/fs/cgroup/pids" RUNTIME_CGROUP_PARENT "/%s/pids.current"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fmts); i++) {
        _cleanup_free_ char *path = k3c_xasprintf(fmts[i], uid);
        _cleanup_free_ char *text = NULL;
        struct k3c_err ignore = {0};

        if (k3c_read_file(path, &text, NULL, &ignore) == 0)
            return strtoll(text, NULL, 10);
    }
    return 0;
}

/* Sum of the app containers' requests of resource (bytes). */
static int64_t
requests_of(const json_t *pod, const char *resource)
{
    json_t *c;
    size_t i;
    int64_t sum = 0;

    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
    {
        json_t *q =
            json_object_get(json_object_get(json_object_get(c, "resources"), "requests"), resource);
        int64_t v = 0;
        struct k3c_err ignore = {0};

        if (q && podspec_quantity_json_value(q, &v, &ignore) == 0)
            sum += v;
    }
    return sum;
}

static bool
pod_finished_in_api(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

    return (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) ||
           json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp");
}

/* The node's pods that may be evicted, with their usage of s's resource. */
static struct kubelet_evict_pod *
candidates(struct kubelet *k, enum kevict_signal s, size_t *n_out)
{
    struct kubelet_evict_pod *v = NULL;
    size_t n = 0;

    pthread_mutex_lock(&k->lock);
    v = k3c_xcalloc(k->n_pods ? k->n_pods : 1, sizeof(*v));
    for (size_t i = 0; i < k->n_pods; i++) {
        struct kpod *p = k->pods[i];
        json_t *spec = json_object_get(p->pod, "spec");

        if (!p->pod || p->gone || p->evict_state || pod_finished_in_api(p->pod))
            continue;
        v[n] = (struct kubelet_evict_pod){
            .uid = k3c_xstrdup(p->uid),
            .ns = k3c_xstrdup(p->ns),
            .name = k3c_xstrdup(p->name),
            .pod = json_incref(p->pod),
            .priority = json_integer_value(json_object_get(spec, "priority")),
        };
        if (s == KEVICT_MEMORY)
            v[n].request = requests_of(p->pod, "memory");
        else if (is_disk(s) && !counts_items(s))
            v[n].request = requests_of(p->pod, "ephemeral-storage");
        if (v[n].priority >= CRITICAL_PRIORITY) {
            free(v[n].uid), free(v[n].ns), free(v[n].name), json_decref(v[n].pod);
            continue;
        }
        n++;
    }
    pthread_mutex_unlock(&k->lock);
    for (size_t i = 0; i < n; i++) {
        int64_t bytes = 0, inodes = 0;
        _cleanup_free_ char *cg = k3c_xasprintf("%s/%s", RUNTIME_CGROUP_PARENT, v[i].uid);

        if (s == KEVICT_MEMORY)
            v[i].usage = kubelet_cgroup_working_set(cg);
        else if (s == KEVICT_PID)
            v[i].usage = pod_pids(v[i].uid);
        else {
            pod_disk_usage(k, v[i].uid, &bytes, &inodes);
            v[i].usage = counts_items(s) ? inodes : bytes;
        }
        if (v[i].usage < 0)
            v[i].usage = 0;
    }
    *n_out = n;
    return v;
}

static void
candidates_free(struct kubelet_evict_pod *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].uid);
        free(v[i].ns);
        free(v[i].name);
        json_decref(v[i].pod);
    }
    free(v);
}

/* Upstream's evictionMessage: the resource, the threshold, and for memory
 * each container using more than it requested. */
static char *
eviction_message(enum kevict_signal s, int64_t threshold, const struct kevict_obs *o,
                 const struct kubelet_evict_pod *pod)
{
    struct k3c_buf b;
    char want[32], avail[32];
    json_t *c;
    size_t i;

    k3c_buf_init(&b);
    quantity_str(threshold, counts_items(s), want, sizeof(want));
    quantity_str(o->avail[s], counts_items(s), avail, sizeof(avail));
    k3c_buf_appendf(&b, "The node was low on resource: %s. Threshold quantity: %s, available: %s. ",
                    resource_name(s), want, avail);
    if (s != KEVICT_MEMORY)
        return k3c_buf_steal(&b, NULL);
    json_array_foreach(json_object_get(json_object_get(pod->pod, "spec"), "containers"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *q =
            json_object_get(json_object_get(json_object_get(c, "resources"), "requests"), "memory");
        _cleanup_free_ char *cg =
            k3c_xasprintf("%s/%s/%s", RUNTIME_CGROUP_PARENT, pod->uid, name ? name : "");
        int64_t req = 0, use = kubelet_cgroup_working_set(cg);
        struct k3c_err ignore = {0};
        char u[32], r[32];

        if (q)
            podspec_quantity_json_value(q, &req, &ignore);
        if (!name || use <= req)
            continue;
        quantity_str(use, false, u, sizeof(u));
        quantity_str(req, false, r, sizeof(r));
        k3c_buf_appendf(&b,
                        "Container %s was using %s, request is %s, has larger consumption of %s. ",
                        name, u, r, resource_name(s));
    }
    return k3c_buf_steal(&b, NULL);
}

/* ---- the manager -------------------------------------------------------------------------- */

int
kevict_thresholds_met(const struct kevict_config *c, const struct kevict_obs *o, bool met[KEVICT_N],
                      int64_t soft_since[KEVICT_N], int64_t now, bool *hard, int64_t *threshold)
{
    int found = -1;

    for (int i = 0; i < KEVICT_N; i++) {
        enum kevict_signal s = (enum kevict_signal)i;
        bool h = crossed(&c->hard[s], &c->min_reclaim[s], o, s, met[s]);
        bool soft = crossed(&c->soft[s], &c->min_reclaim[s], o, s, met[s]);

        if (!soft)
            soft_since[s] = 0;
        else if (!soft_since[s])
            soft_since[s] = now;
        soft = soft && now - soft_since[s] >= c->soft_grace_ms[s];
        met[s] = h || soft;
        if (found < 0 && (h || soft)) {
            found = i;
            *hard = h;
            *threshold = kevict_value_of(h ? &c->hard[s] : &c->soft[s], o->cap[s]);
        }
    }
    return found;
}

static int
threshold_met(struct kubelet *k, const struct kevict_obs *o, bool *hard, int64_t *threshold)
{
    return kevict_thresholds_met(&k->evict_cfg, o, k->evict_met, k->evict_soft_since, k3c_now_ms(),
                                 hard, threshold);
}

/* True while a pod asked to go has not gone yet (one eviction at a time,
 * as upstream waits for the pod's cleanup). */
static bool
eviction_pending(struct kubelet *k)
{
    bool pending = false;

    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n_pods && !pending; i++)
        pending = k->pods[i]->evict_state == 1;
    pthread_mutex_unlock(&k->lock);
    return pending;
}

static void
request_eviction(struct kubelet *k, const struct kubelet_evict_pod *pod, char *msg, int grace_s)
{
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n_pods; i++) {
        struct kpod *p = k->pods[i];

        if (strcmp(p->uid, pod->uid) == 0 && !p->evict_state) {
            p->evict_state = 1;
            p->evict_msg = msg;
            p->evict_grace_s = grace_s;
            p->dirty = true;
            msg = NULL;
            break;
        }
    }
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
    free(msg);
}

static int
soft_grace(const struct kevict_config *c, const json_t *pod)
{
    json_t *g = json_object_get(json_object_get(pod, "spec"), "terminationGracePeriodSeconds");
    int grace = g ? (int)json_integer_value(g) : KUBELET_DEFAULT_GRACE_S;

    return c->max_pod_grace_s > 0 && c->max_pod_grace_s < grace ? c->max_pod_grace_s : grace;
}

/* The pressure in o, held for the transition period (both the eviction
 * pass and the heartbeat observe; either one's sighting counts). */
static void
pressure_note(struct kubelet *k, const struct kevict_obs *o, struct kevict_pressure *out)
{
    pthread_mutex_lock(&k->lock);
    kevict_pressure_eval(&k->evict_cfg, o, k->cond_met, out);
    kevict_pressure_hold(&k->pressure_hold, k->pressure_transition_ms, k3c_now_ms(), out);
    pthread_mutex_unlock(&k->lock);
}

void
kubelet_eviction_pass(struct kubelet *k)
{
    struct kevict_obs o;
    struct kubelet_evict_pod *pods;
    size_t n = 0;
    int64_t threshold = 0;
    bool hard = false;
    int s;

    kevict_observe(k->data_dir, &o);
    pressure_note(k, &o, &(struct kevict_pressure){0});
    if (eviction_pending(k))
        return;
    s = threshold_met(k, &o, &hard, &threshold);
    if (s < 0)
        return;
    log_warn("eviction manager: attempting to reclaim %s (%s threshold %s crossed)",
             resource_name(s), hard ? "hard" : "soft", signal_names[s]);
    if (is_disk(s)) {
        /* node-level resources first: every unused image */
        kubelet_image_gc_unused(k);
        kevict_observe(k->data_dir, &o);
        s = threshold_met(k, &o, &hard, &threshold);
        if (s < 0) {
            log_info("eviction manager: unused images freed enough; no pod evicted");
            return;
        }
    }
    pods = candidates(k, (enum kevict_signal)s, &n);
    kubelet_eviction_rank(pods, n, (enum kevict_signal)s);
    if (n == 0)
        log_warn("eviction manager: no pod to evict for %s", resource_name(s));
    else {
        char *msg = eviction_message((enum kevict_signal)s, threshold, &o, &pods[0]);

        log_warn("eviction manager: evicting pod %s/%s (%s usage %lld, request %lld): %s",
                 pods[0].ns, pods[0].name, resource_name(s), (long long)pods[0].usage,
                 (long long)pods[0].request, msg);
        request_eviction(k, &pods[0], msg, hard ? 0 : soft_grace(&k->evict_cfg, pods[0].pod));
    }
    candidates_free(pods, n);
}

char *
kubelet_eviction_take(struct kpod *p, int *grace_s)
{
    char *msg = NULL;

    pthread_mutex_lock(&p->k->lock);
    if (p->evict_state == 1 && p->evict_msg) {
        msg = p->evict_msg;
        p->evict_msg = NULL;
        *grace_s = p->evict_grace_s;
    }
    pthread_mutex_unlock(&p->k->lock);
    return msg;
}

void
kubelet_eviction_done(struct kpod *p)
{
    pthread_mutex_lock(&p->k->lock);
    p->evict_state = 2;
    pthread_mutex_unlock(&p->k->lock);
}

void
kubelet_node_pressure(struct kubelet *k, struct kevict_pressure *out)
{
    struct kevict_obs o;

    kevict_observe(k->data_dir, &o);
    pressure_note(k, &o, out);
}
