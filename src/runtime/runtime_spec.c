/* SPDX-License-Identifier: Apache-2.0
 * runtime_spec.c - struct runtime_spec -> OCI runtime-spec 1.0 config.json.
 * Pure: nothing here touches the host, so every field is unit-tested. The
 * defaults are Docker's/containerd's (moby oci/defaults.go, caps/defaults.go);
 * cpu and memory follow the kubelet's MilliCPUToShares / MilliCPUToQuota. */
#define LOG_COMPONENT "runtime"
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#define RUNTIME_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Linux capabilities by number (include/uapi/linux/capability.h), up to
 * CAP_CHECKPOINT_RESTORE (40). */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

/* Docker's default set (moby oci/caps/defaults.go). */
static const char *const cap_default[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* The default mounts; `ro_unless_privileged` adds "ro" for unprivileged containers. */
struct default_mount {
    const char *destination, *type, *source;
    const char *options[8];
    bool ro_unless_privileged;
};

static const struct default_mount default_mounts[] = {
    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}, false},
    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}, false},
    {"/dev/pts",
     "devpts",
     "devpts",
     {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
     false},
    {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}, false},
    {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}, false},
    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev"}, true},
    {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime"}, true},
};

bool
runtime_id_valid(const char *id)
{
    size_t n;

    if (!id)
        return false;
    n = strlen(id);
    if (n == 0 || n > RUNTIME_ID_MAX || id[0] == '.' || id[0] == '-' || id[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A cgroup path component: no slashes, not "." or "..". */
static bool
cgroup_component_valid(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strlen(s) <= RUNTIME_NAME_MAX;
}

char *
runtime_spec_cgroup_path(const struct runtime_spec *spec)
{
    const char *parent = spec->cgroup_parent ? spec->cgroup_parent : RUNTIME_CGROUP_PARENT;
    const char *leaf = spec->name ? spec->name : spec->id;
    size_t plen = strlen(parent);

    /* "/" as parent must not give "//pod". */
    while (plen > 0 && parent[plen - 1] == '/')
        plen--;
    if (spec->pod_uid)
        return k3c_xasprintf("%.*s/%s/%s", (int)plen, parent, spec->pod_uid, leaf);
    return k3c_xasprintf("%.*s/%s", (int)plen, parent, leaf);
}

static int
cap_index(const char *name)
{
    const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(cap_names); i++)
        if (strcasecmp(cap_names[i] + 4, bare) == 0)
            return (int)i;
    return -1;
}

static int
caps_compute(const struct runtime_spec *spec, uint64_t *out, struct k3c_err *err)
{
    uint64_t set = 0;

    if (spec->privileged) {
        *out = (UINT64_C(1) << K3C_ARRAY_SIZE(cap_names)) - 1;
        return 0;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(cap_default); i++)
        set |= UINT64_C(1) << cap_index(cap_default[i]);
    for (const char *const *c = spec->cap_drop; c && *c; c++) {
        int idx;

        if (strcasecmp(*c, "ALL") == 0) {
            set = 0;
            continue;
        }
        idx = cap_index(*c);
        if (idx < 0)
            return k3c_err_set(err, K3C_E_INVALID, "unknown capability %s in drop", *c);
        set &= ~(UINT64_C(1) << idx);
    }
    for (const char *const *c = spec->cap_add; c && *c; c++) {
        int idx;

        if (strcasecmp(*c, "ALL") == 0) {
            set = (UINT64_C(1) << K3C_ARRAY_SIZE(cap_names)) - 1;
            continue;
        }
        idx = cap_index(*c);
        if (idx < 0)
            return k3c_err_set(err, K3C_E_INVALID, "unknown capability %s in add", *c);
        set |= UINT64_C(1) << idx;
    }
    *out = set;
    return 0;
}

static json_t *
caps_json(uint64_t set)
{
    json_t *a = json_array();

    for (size_t i = 0; i < K3C_ARRAY_SIZE(cap_names); i++)
        if (set & (UINT64_C(1) << i))
            json_array_append_new(a, json_string(cap_names[i]));
    return a;
}

static json_t *
strv_json(const char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int
validate(const struct runtime_spec *spec, struct k3c_err *err)
{
    if (!runtime_id_valid(spec->id))
        return k3c_err_set(err, K3C_E_INVALID, "container id \"%s\" is not valid",
                           spec->id ? spec->id : "");
    if (spec->pod_uid && !cgroup_component_valid(spec->pod_uid))
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) bad pod uid", spec->id);
    if (spec->name && !cgroup_component_valid(spec->name))
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) bad container name", spec->id);
    if (spec->cgroup_parent && spec->cgroup_parent[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) cgroup parent must be absolute",
                           spec->id);
    if (!spec->rootfs || spec->rootfs[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) rootfs must be an absolute path",
                           spec->id);
    if (!spec->args || !spec->args[0] || !spec->args[0][0])
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) no command", spec->id);
    if (spec->cwd && spec->cwd[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) cwd must be absolute", spec->id);
    for (const char *const *e = spec->env; e && *e; e++)
        if (!strchr(*e, '=') || (*e)[0] == '=')
            return k3c_err_set(err, K3C_E_INVALID, "(container %s) env \"%s\" is not K=V", spec->id,
                               *e);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct runtime_mount *m = &spec->mounts[i];

        if (!m->destination || m->destination[0] != '/')
            return k3c_err_set(err, K3C_E_INVALID,
                               "(container %s) mount %zu: destination "
                               "must be absolute",
                               spec->id, i);
        if (m->type == RUNTIME_MOUNT_BIND && (!m->source || m->source[0] != '/'))
            return k3c_err_set(err, K3C_E_INVALID,
                               "(container %s) mount %s: source must be "
                               "an absolute host path",
                               spec->id, m->destination);
        if (m->type != RUNTIME_MOUNT_BIND && m->type != RUNTIME_MOUNT_TMPFS)
            return k3c_err_set(err, K3C_E_INVALID, "(container %s) mount %s: unknown type",
                               spec->id, m->destination);
    }
    {
        const char *const paths[] = {spec->ns.net_path, spec->ns.ipc_path, spec->ns.uts_path,
                                     spec->ns.pid_path};

        for (size_t i = 0; i < K3C_ARRAY_SIZE(paths); i++)
            if (paths[i] && paths[i][0] != '/')
                return k3c_err_set(err, K3C_E_INVALID,
                                   "(container %s) namespace path %s is not absolute", spec->id,
                                   paths[i]);
    }
    {
        const char *const *a = spec->annotations;
        size_t n = 0;

        while (a && a[n])
            n++;
        if (n % 2)
            return k3c_err_set(err, K3C_E_INVALID,
                               "(container %s) annotations must be "
                               "key/value pairs",
                               spec->id);
    }
    if (spec->resources.cpu_request_millicores < 0 || spec->resources.cpu_limit_millicores < 0 ||
        spec->resources.memory_limit_bytes < 0 || spec->resources.pids_limit < 0)
        return k3c_err_set(err, K3C_E_INVALID, "(container %s) negative resource limit", spec->id);
    return 0;
}

static bool
mount_overridden(const struct runtime_spec *spec, const char *dest)
{
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (strcmp(spec->mounts[i].destination, dest) == 0)
            return true;
    return false;
}

static json_t *
mounts_json(const struct runtime_spec *spec)
{
    json_t *a = json_array();

    for (size_t i = 0; i < K3C_ARRAY_SIZE(default_mounts); i++) {
        const struct default_mount *d = &default_mounts[i];
        json_t *opts;

        if (mount_overridden(spec, d->destination))
            continue;
        opts = json_array();
        for (size_t j = 0; j < K3C_ARRAY_SIZE(d->options) && d->options[j]; j++)
            json_array_append_new(opts, json_string(d->options[j]));
        if (d->ro_unless_privileged && !spec->privileged)
            json_array_append_new(opts, json_string("ro"));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "destination", d->destination,
                                           "type", d->type, "source", d->source, "options", opts));
    }
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct runtime_mount *m = &spec->mounts[i];
        json_t *opts;

        if (m->type == RUNTIME_MOUNT_TMPFS) {
            opts = json_pack("[s, s, s]", "nosuid", "nodev", "mode=1777");
            if (m->tmpfs_size > 0) {
                _cleanup_free_ char *size = k3c_xasprintf("size=%" PRIu64, m->tmpfs_size);

                json_array_append_new(opts, json_string(size));
            }
            if (m->readonly)
                json_array_append_new(opts, json_string("ro"));
            json_array_append_new(a,
                                  json_pack("{s:s, s:s, s:s, s:o}", "destination", m->destination,
                                            "type", "tmpfs", "source", "tmpfs", "options", opts));
            continue;
        }
        /* CRI's default propagation (PROPAGATION_PRIVATE) is rprivate. */
        opts = json_pack("[s, s, s]", "rbind", "rprivate", m->readonly ? "ro" : "rw");
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "destination", m->destination,
                                           "type", "bind", "source", m->source, "options", opts));
    }
    return a;
}

static json_t *
namespaces_json(const struct runtime_spec *spec)
{
    struct {
        const char *type, *path;
        bool host;
    } const ns[] = {
        {"pid", spec->ns.pid_path, spec->ns.host_pid},
        {"network", spec->ns.net_path, spec->ns.host_network},
        {"ipc", spec->ns.ipc_path, spec->ns.host_ipc},
        {"uts", spec->ns.uts_path, spec->ns.host_network}, /* hostNetwork shares the host name */
        {"mount", NULL, false},
    };
    json_t *a = json_array();

    for (size_t i = 0; i < K3C_ARRAY_SIZE(ns); i++) {
        if (ns[i].host)
            continue; /* absent from the list = the runtime's (host's) namespace */
        if (ns[i].path)
            json_array_append_new(a,
                                  json_pack("{s:s, s:s}", "type", ns[i].type, "path", ns[i].path));
        else
            json_array_append_new(a, json_pack("{s:s}", "type", ns[i].type));
    }
    return a;
}

static json_t *
resources_json(const struct runtime_spec *spec)
{
    const struct runtime_resources *r = &spec->resources;
    json_t *res = json_object();
    json_t *cpu = json_object();
    int64_t shares = r->cpu_request_millicores * 1024 / 1000;

    json_object_set_new(res, "devices",
                        json_pack("[{s:b, s:s}]", "allow", spec->privileged, "access", "rwm"));
    if (shares < RUNTIME_MIN_SHARES)
        shares = RUNTIME_MIN_SHARES;
    json_object_set_new(cpu, "shares", json_integer(shares));
    if (r->cpu_limit_millicores > 0) {
        int64_t quota = r->cpu_limit_millicores * RUNTIME_CPU_PERIOD / 1000;

        if (quota < 1000) /* the kubelet's MinQuotaPeriod: 1ms */
            quota = 1000;
        json_object_set_new(cpu, "quota", json_integer(quota));
        json_object_set_new(cpu, "period", json_integer(RUNTIME_CPU_PERIOD));
    }
    json_object_set_new(res, "cpu", cpu);
    if (r->memory_limit_bytes > 0)
        json_object_set_new(res, "memory",
                            json_pack("{s:I}", "limit", (json_int_t)r->memory_limit_bytes));
    if (r->pids_limit > 0)
        json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)r->pids_limit));
    return res;
}

static json_t *
process_json(const struct runtime_spec *spec, uint64_t caps)
{
    json_t *env = json_array();
    json_t *gids = json_array();
    json_t *user;
    json_t *capj;
    bool have_path = false, have_term = false;
    uint64_t nofile = spec->nofile ? spec->nofile : RUNTIME_NOFILE;
    size_t nargs = 0;

    for (const char *const *e = spec->env; e && *e; e++) {
        have_path |= strncmp(*e, "PATH=", 5) == 0;
        have_term |= strncmp(*e, "TERM=", 5) == 0;
        json_array_append_new(env, json_string(*e));
    }
    if (!have_path)
        json_array_insert_new(env, 0, json_string(RUNTIME_DEFAULT_PATH));
    if (spec->tty && !have_term)
        json_array_append_new(env, json_string("TERM=xterm"));
    for (size_t i = 0; i < spec->n_supplemental_gids; i++)
        json_array_append_new(gids, json_integer(spec->supplemental_gids[i]));
    user = json_pack("{s:I, s:I}", "uid", (json_int_t)spec->uid, "gid", (json_int_t)spec->gid);
    if (json_array_size(gids) > 0)
        json_object_set(user, "additionalGids", gids);
    json_decref(gids);
    capj = json_pack("{s:o, s:o, s:o}", "bounding", caps_json(caps), "effective", caps_json(caps),
                     "permitted", caps_json(caps));
    while (spec->args[nargs])
        nargs++;
    return json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:[{s:s, s:I, s:I}], s:b, s:i}", "terminal",
                     spec->tty, "user", user, "args", strv_json(spec->args, nargs), "env", env,
                     "cwd", spec->cwd ? spec->cwd : "/", "capabilities", capj, "rlimits", "type",
                     "RLIMIT_NOFILE", "hard", (json_int_t)nofile, "soft", (json_int_t)nofile,
                     "noNewPrivileges", spec->no_new_privileges, "oomScoreAdj",
                     spec->oom_score_adj);
}

json_t *
runtime_spec_to_oci(const struct runtime_spec *spec, struct k3c_err *err)
{
    _cleanup_json_ json_t *cfg = NULL;
    _cleanup_free_ char *cgpath = NULL;
    json_t *linux_ = NULL;
    json_t *ann = json_object();
    uint64_t caps = 0;

    if (validate(spec, err) < 0 || caps_compute(spec, &caps, err) < 0) {
        json_decref(ann);
        return NULL;
    }
    for (const char *const *a = spec->annotations; a && a[0]; a += 2)
        json_object_set_new(ann, a[0], json_string(a[1]));
    cgpath = runtime_spec_cgroup_path(spec);
    linux_ = json_pack("{s:o, s:s, s:o}", "namespaces", namespaces_json(spec), "cgroupsPath",
                       cgpath, "resources", resources_json(spec));
    if (!spec->privileged) {
        json_object_set_new(linux_, "maskedPaths",
                            strv_json(masked_paths, K3C_ARRAY_SIZE(masked_paths)));
        json_object_set_new(linux_, "readonlyPaths",
                            strv_json(readonly_paths, K3C_ARRAY_SIZE(readonly_paths)));
    }
    cfg = json_pack("{s:s, s:o, s:{s:s, s:b}, s:o, s:o, s:o}", "ociVersion", "1.0.2", "process",
                    process_json(spec, caps), "root", "path", spec->rootfs, "readonly",
                    spec->readonly_rootfs, "mounts", mounts_json(spec), "linux", linux_,
                    "annotations", ann);
    if (!cfg) {
        k3c_err_set(err, K3C_E_INTERNAL, "(container %s) config.json: json_pack failed", spec->id);
        return NULL;
    }
    /* A hostname needs a UTS namespace of the container's own. */
    if (spec->hostname && !spec->ns.uts_path && !spec->ns.host_network)
        json_object_set_new(cfg, "hostname", json_string(spec->hostname));
    return TAKE_PTR(cfg);
}
