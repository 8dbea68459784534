/* SPDX-License-Identifier: Apache-2.0
 * runtime.h - containers for the agent: an OCI runtime (runc or crun) driven
 * with a generated config.json, each container watched by its own conmon
 * (as CRI-O does), so stdout/stderr land in a CRI-format log, exit codes are
 * recorded, and containers outlive the agent. All state is on disk under
 * runtime_config.state_dir; a restarted agent adopts what it finds there.
 *
 * Layout of state_dir:
 *   containers/<id>/  bundle: config.json, meta.json, pidfile, conmon.pid,
 *                     conmon.log, exit + oom (conmon's persist dir)
 *   exits/<id>        exit code written by conmon (inotify-able)
 *   sockets/<id>      conmon's attach-socket symlink
 *   <runtime>-root/   the runtime's --root (one per runtime binary)
 *
 * Thread: struct runtime is immutable after runtime_new, so every call may
 * come from any thread; calls on the same container id must be serialised by
 * the caller (the kubelet's per-pod worker). Calls that spawn processes
 * block for a bounded time (runtime_config.cmd_timeout_ms) and reap what they
 * spawn: run them on a workq worker, not on a loop thread.
 *
 * conmon double-forks, so monitors are children of init. An agent that runs
 * as pid 1 or as a child subreaper inherits them and must reap orphans
 * (runtime_status reaps a zombie monitor it finds, if it is ours). */
#ifndef K3C_RUNTIME_H
#define K3C_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define RUNTIME_ID_MAX        64      /* [A-Za-z0-9][A-Za-z0-9_.-]*, like runc's check */
#define RUNTIME_NAME_MAX      128     /* pod uid / container name kept in the status */
#define RUNTIME_CPU_PERIOD    100000  /* CFS period (us) used for millicore quotas */
#define RUNTIME_MIN_SHARES    2       /* kubelet's MinShares (no cpu request) */
#define RUNTIME_NOFILE        1048576 /* default RLIMIT_NOFILE soft = hard */
#define RUNTIME_CGROUP_PARENT "/k3c"

/* ---- container spec (filled by the kubelet from a Pod) ------------------ */

enum runtime_mount_type {
    RUNTIME_MOUNT_BIND = 0, /* source is a host path (emptyDir, configMap, secret, hostPath...) */
    RUNTIME_MOUNT_TMPFS,    /* emptyDir medium Memory */
};

struct runtime_mount {
    enum runtime_mount_type type;
    const char *source;      /* BIND: absolute host path; TMPFS: ignored */
    const char *destination; /* absolute path in the container */
    bool readonly;
    uint64_t tmpfs_size; /* TMPFS: size in bytes, 0 = kernel default */
};

/* Namespace wiring. For each kind: `host` shares the host's namespace; else a
 * non-NULL path (e.g. /var/run/netns/<pod>) joins that namespace; else a new
 * one is created. The UTS hostname is only set when a new UTS ns is made. */
struct runtime_namespaces {
    const char *net_path, *ipc_path, *uts_path, *pid_path;
    bool host_network, host_ipc, host_pid;
};

struct runtime_resources {
    int64_t cpu_request_millicores; /* cpu.shares = m*1024/1000 (min 2); 0 -> 2 */
    int64_t cpu_limit_millicores;   /* quota = m*100000/1000 per 100000us; 0 = none */
    int64_t memory_limit_bytes;     /* 0 = none */
    int64_t pids_limit;             /* 0 = none */
};

struct runtime_spec {
    const char *id;            /* runtime id, see runtime_id_valid() */
    const char *pod_uid;       /* cgroup: <cgroup_parent>/<pod_uid>/<name>; NULL: .../<id> */
    const char *name;          /* container name; NULL = id */
    const char *cgroup_parent; /* absolute cgroup path; NULL = RUNTIME_CGROUP_PARENT */
    const char *rootfs;        /* absolute path of the prepared root filesystem */
    bool readonly_rootfs;
    const char *const *args; /* entrypoint + cmd resolved, NULL-terminated, non-empty */
    const char *const *env;  /* "K=V", NULL-terminated or NULL; PATH is added if absent */
    const char *cwd;         /* NULL = "/" */
    uint32_t uid, gid;
    const uint32_t *supplemental_gids;
    size_t n_supplemental_gids;
    const char *hostname; /* NULL = none */
    struct runtime_namespaces ns;
    const struct runtime_mount *mounts; /* after the defaults; same destination replaces one */
    size_t n_mounts;
    struct runtime_resources resources;
    /* Capabilities: Docker's default set, then drop ("ALL" drops all), then add.
     * Names with or without "CAP_". NULL-terminated lists or NULL. */
    const char *const *cap_add;
    const char *const *cap_drop;
    bool privileged; /* all capabilities, no masked/read-only paths, /sys rw, all devices */
    bool no_new_privileges;
    bool tty, stdin_open;
    int oom_score_adj;
    /* RLIMIT_NOFILE soft = hard. 0: RUNTIME_NOFILE in config.json from
     * runtime_spec_to_oci; runtime_create lowers that default to what this
     * host allows (fs.nr_open, our hard limit without CAP_SYS_RESOURCE). */
    uint64_t nofile;
    const char *const *annotations; /* key, value, key, value, ..., NULL */
    const char *log_path;           /* CRI log file; NULL = containers/<id>/container.log */
    /* Devices (issue #18): called by runtime_create on the finished
     * config.json before it is written (CDI edits); NULL: none. */
    int (*edit_oci)(json_t *cfg, void *ud, struct k3c_err *err);
    void *edit_oci_ud;
    /* This container's OCI runtime binary (a RuntimeClass handler such as
     * nvidia-container-runtime, runc-compatible); NULL: the runtime's own. */
    const char *runtime_path;
};

/* True if id is usable as a runtime id and a file name. Thread: any. */
bool runtime_id_valid(const char *id);

/* The cgroupsPath the spec gets ("/k3c/<pod_uid>/<name>"); caller free()s.
 * Pure. */
char *runtime_spec_cgroup_path(const struct runtime_spec *spec);

/* Builds the OCI runtime-spec 1.0 config.json for spec. Pure: reads nothing
 * from the host. Defaults follow Docker/containerd: mounts /proc, /dev
 * (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, /sys (ro), /sys/fs/cgroup (ro);
 * Docker's masked and read-only paths; Docker's 14 default capabilities;
 * RLIMIT_NOFILE; devices deny-all (the runtime adds the standard ones).
 * No seccomp profile is set: containers run unconfined by seccomp
 * (TODO(#5): RuntimeDefault profile).
 * Returns a new reference, or NULL with K3C_E_INVALID. */
json_t *runtime_spec_to_oci(const struct runtime_spec *spec, struct k3c_err *err);

/* ---- the runtime -------------------------------------------------------- */

struct runtime_config {
    const char *runtime;   /* "runc", "crun", "auto" (NULL) or a path to either */
    const char *state_dir; /* e.g. /run/k3c/containers; created if missing */
    const char *conmon;    /* NULL = "conmon" from PATH */
    int cmd_timeout_ms;    /* bound for each runtime/conmon command; 0 = 30000 */
};

struct runtime;

/* Selects the runtime and prepares state_dir. "auto" takes crun when
 * `crun --version` works and a throwaway probe container (the host's /usr,
 * read-only, running `true` in new namespaces and a cgroup) runs; otherwise
 * runc. A named runtime is checked with `<rt> --version` only.
 * Errors: K3C_E_NOT_FOUND when no runtime or conmon is installed (the message
 * names the Debian packages), K3C_E_SYSTEM for state_dir. Free with
 * runtime_free. */
struct runtime *runtime_new(const struct runtime_config *cfg, struct k3c_err *err);
/* Runs a throwaway container with rt (host /usr etc. read-only, `true`, new
 * namespaces, a cgroup with memory and pids limits) and removes it: proof
 * that the runtime works on this host (crun refuses hybrid cgroups, for
 * one). K3C_E_INTERNAL with the runtime's words if not. */
int runtime_probe(struct runtime *rt, struct k3c_err *err);
/* NULL is a no-op. Containers keep running. */
void runtime_free(struct runtime *rt);
/* "runc" or "crun", and the binary's path. Borrowed from rt. */
const char *runtime_name(const struct runtime *rt);
const char *runtime_path(const struct runtime *rt);
/* Where conmon writes <id> on exit; watch it with inotify to learn of exits. */
const char *runtime_exits_dir(const struct runtime *rt);
/* conmon's attach socket of a container (SOCK_SEQPACKET): each packet it
 * sends is one byte of stream (2 stdout, 3 stderr) and the data; what is
 * written to it goes to the container's stdin when it was created with
 * stdin_open. Caller free()s. */
char *runtime_attach_socket(const struct runtime *rt, const char *id);

/* ---- container lifecycle ------------------------------------------------ */

enum runtime_state {
    RUNTIME_STATE_UNKNOWN = 0,
    RUNTIME_STATE_CREATED, /* runtime create done, process not started */
    RUNTIME_STATE_RUNNING,
    RUNTIME_STATE_STOPPED,
};

struct runtime_status {
    char id[RUNTIME_ID_MAX + 1];
    char pod_uid[RUNTIME_NAME_MAX + 1];
    char name[RUNTIME_NAME_MAX + 1];
    enum runtime_state state;
    /* STOPPED: the exit status (128+signal when killed by one), or -1 when
     * conmon died without recording it. */
    int exit_code;
    bool oom_killed;
    pid_t pid;           /* container init on the host; 0 when not running */
    int64_t created_ms;  /* wall clock (ms since the epoch) */
    int64_t started_ms;  /* 0 until started */
    int64_t finished_ms; /* 0 until stopped (the exit file's mtime) */
};

const char *runtime_state_name(enum runtime_state s);

/* Writes the bundle and creates the container under a new conmon (which
 * double-forks and outlives the caller); the process waits to be started.
 * Errors: K3C_E_INVALID (spec), K3C_E_EXISTS (id in use), K3C_E_TIMEOUT,
 * K3C_E_INTERNAL (runtime/conmon failed; message has the runtime's words).
 * On failure nothing is left behind. */
int runtime_create(struct runtime *rt, const struct runtime_spec *spec, struct k3c_err *err);
/* `<rt> start`. Errors: K3C_E_NOT_FOUND, K3C_E_TIMEOUT, K3C_E_INTERNAL. */
int runtime_start(struct runtime *rt, const char *id, struct k3c_err *err);
/* create + start; on a failed start the container is deleted again. */
int runtime_run(struct runtime *rt, const struct runtime_spec *spec, struct k3c_err *err);

/* Reads the state from disk and /proc (spawns nothing). K3C_E_NOT_FOUND if
 * the id is unknown. */
int runtime_status(struct runtime *rt, const char *id, struct runtime_status *out,
                   struct k3c_err *err);
/* Every container in state_dir (adoption after an agent restart). *out is an
 * array of *n_out statuses; caller free()s it. */
int runtime_list(struct runtime *rt, struct runtime_status **out, size_t *n_out,
                 struct k3c_err *err);
/* The container's annotations as stored in its config.json (new reference),
 * e.g. to map an adopted container back to its pod. */
json_t *runtime_annotations(struct runtime *rt, const char *id, struct k3c_err *err);

/* Sends sig to the container's init. A stopped container is not an error. */
int runtime_kill(struct runtime *rt, const char *id, int sig, struct k3c_err *err);
/* SIGTERM, waits up to grace_ms for the exit, then SIGKILL and waits up to
 * cmd_timeout_ms more. K3C_E_TIMEOUT if it still runs. */
int runtime_stop(struct runtime *rt, const char *id, int64_t grace_ms, struct k3c_err *err);
/* Kills (SIGKILL) if needed, waits for conmon, `<rt> delete --force`, removes
 * the container's cgroup, bundle, exit file and socket link. The log file
 * stays (the kubelet rotates/removes it). Unknown id: K3C_E_NOT_FOUND. */
int runtime_delete(struct runtime *rt, const char *id, struct k3c_err *err);
/* Removes the pod-level cgroup <cgroup_parent>/<pod_uid> (NULL parent =
 * RUNTIME_CGROUP_PARENT) in every hierarchy once its containers are deleted.
 * Missing is fine; K3C_E_CONFLICT while a hierarchy still has children. */
int runtime_pod_cgroup_remove(const char *cgroup_parent, const char *pod_uid, struct k3c_err *err);

/* ---- exec ----------------------------------------------------------------
 * `<rt> exec` as a child of the caller (not under conmon) (TODO(#5): exec
 * timeouts should go through `conmon --exec` so a killed exec leaves no
 * process behind). K3C_E_CONFLICT unless the container is running. */

struct runtime_exec_proc {
    pid_t pid;                          /* the `<rt> exec` process, caller's child */
    int stdin_fd, stdout_fd, stderr_fd; /* ours: write / read / read; CLOEXEC */
    bool tty;                           /* stdin_fd, stdout_fd: the pty master; stderr_fd -1 */
};

/* Starts argv (NULL-terminated) in the running container id with three
 * pipes. Reap with runtime_exec_wait. */
int runtime_exec_start(struct runtime *rt, const char *id, const char *const *argv,
                       struct runtime_exec_proc *out, struct k3c_err *err);
/* Starts argv with a terminal: `<rt> exec --tty` runs in its own session
 * with a pty we allocate (cols x rows; 0: 80x24) as its controlling terminal
 * and stdio, as CRI-O does; the runtime puts it in raw mode and relays it
 * to the container's own console, and passes size changes on (SIGWINCH).
 * Not --console-socket: runc only takes that with --detach, and a detached
 * exec's exit code is lost. stdin_fd/stdout_fd are two fds of the master
 * (read gives EIO once the process has gone). Reap with runtime_exec_wait. */
int runtime_exec_start_tty(struct runtime *rt, const char *id, const char *const *argv,
                           unsigned cols, unsigned rows, struct runtime_exec_proc *out,
                           struct k3c_err *err);
/* Sets the terminal size of a tty exec. */
int runtime_exec_resize(const struct runtime_exec_proc *p, unsigned cols, unsigned rows,
                        struct k3c_err *err);
/* Closes the caller's fds (read stdout/stderr to EOF first), then waits up to
 * timeout_ms for the exec process (SIGKILL and K3C_E_TIMEOUT after that) and
 * reaps it; *exit_code gets its status (128+signal when killed). */
int runtime_exec_wait(struct runtime_exec_proc *p, int64_t timeout_ms, int *exit_code,
                      struct k3c_err *err);
/* exec with stdin from /dev/null, stdout+stderr collected into *output (may
 * be NULL; caller free()s), bounded by timeout_ms (exec probes). */
int runtime_exec_sync(struct runtime *rt, const char *id, const char *const *argv,
                      int64_t timeout_ms, int *exit_code, char **output, struct k3c_err *err);

#endif
