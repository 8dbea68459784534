/* SPDX-License-Identifier: Apache-2.0
 * net.h - pod networking of the agent: named network namespaces and bounded
 * process execution inside them (net_netns.c), CNI 1.0 plugin invocation and
 * the pod-network API the kubelet uses (net_cni.c). Everything that changes
 * links or addresses runs inside a "host" namespace given by path, so tests
 * never touch the root namespace. */
#ifndef K3C_NET_NET_H
#define K3C_NET_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* ---------------------------------------------------------------------------
 * Network namespaces (net_netns.c), compatible with `ip netns`: a namespace
 * is pinned by bind-mounting its nsfs file onto <dir>/<name>. */

#define NET_NETNS_DIR "/run/netns"

/* True for a usable namespace, network or pod uid name (and CNI container
 * id): 1..200 of [A-Za-z0-9_.-], starting with a letter or digit. */
bool net_name_valid(const char *name);

/* "<dir>/<name>" as a new string (caller free()s). */
char *net_netns_path(const char *dir, const char *name);

/* Creates a new, empty network namespace pinned at <dir>/<name>. dir is
 * created (mkdir -p) and, as `ip netns add` does, made a shared mount so the
 * pin propagates to (and is released from) later mount namespaces; tests
 * that use their own dir umount2(dir, MNT_DETACH) when done.
 * Errors: K3C_E_INVALID (bad name), K3C_E_EXISTS, K3C_E_SYSTEM.
 * Thread: any. */
int net_netns_create(const char *dir, const char *name, struct k3c_err *err);

/* Unpins and removes <dir>/<name> (umount + unlink). A missing namespace is
 * not an error, so delete is idempotent. The namespace itself goes away when
 * the last process or fd using it does. Errors: K3C_E_INVALID, K3C_E_SYSTEM.
 * Thread: any. */
int net_netns_delete(const char *dir, const char *name, struct k3c_err *err);

/* True when path is a pinned network namespace (an nsfs mount). */
bool net_netns_is_pinned(const char *path);

/* Opens a namespace file (O_RDONLY | O_CLOEXEC); returns the fd (caller
 * close()s). Errors: K3C_E_NOT_FOUND, K3C_E_SYSTEM. */
int net_netns_open(const char *path, struct k3c_err *err);

/* Moves the calling thread (only it) into the network namespace fd. To come
 * back, open "/proc/thread-self/ns/net" first and enter that.
 * Errors: K3C_E_SYSTEM. Thread: any (affects the caller only). */
int net_netns_enter(int fd, struct k3c_err *err);

/* One bounded program run, optionally inside a network namespace. */
struct net_run_opts {
    const char *const *argv; /* argv[0] is an absolute path */
    const char *const *envp; /* NULL: inherit the caller's environment */
    const char *netns;       /* namespace path to setns into; NULL: the caller's */
    const char *input;       /* written to stdin; NULL: empty stdin */
    size_t input_len;
    int timeout_ms; /* > 0; the whole process group is SIGKILLed at the deadline */
};

struct net_run_result {
    int exit_code; /* 0..255, or 128 + signal number when killed by a signal */
    char *out;     /* stdout, NUL-terminated (at most 4 MiB kept) */
    size_t out_len;
    char *errout; /* stderr, likewise */
    size_t errout_len;
};

/* Runs o->argv to completion. Returns 0 once the program ran and exited,
 * whatever its exit code; r is then filled and owned by the caller
 * (net_run_result_fini). Errors: K3C_E_TIMEOUT (killed at the deadline),
 * K3C_E_NOT_FOUND (no such program or namespace), K3C_E_INVALID,
 * K3C_E_SYSTEM; r holds nothing to free then.
 * Thread: any; SIGPIPE from a child that stops reading is absorbed. */
int net_run(const struct net_run_opts *o, struct net_run_result *r, struct k3c_err *err);
void net_run_result_fini(struct net_run_result *r);

/* ---------------------------------------------------------------------------
 * nftables (net_nft.c). net_nft_run runs one script as one transaction:
 * in the `k3c __nft` helper process (libnftables is never loaded by the
 * agent or the server), in this process where the program cannot be that
 * helper (tests, benches: libnftables loaded here with dlopen), or through
 * the nft program where no netfilter netlink socket opens (qemu-user;
 * libnftables would exit the process). *out (may be NULL) gets nft's
 * output; errors read "nftables <what>: <nft's message>". Thread: any; it
 * acts on the calling thread's network namespace. */
#define NET_NFT_HELPER_VERB "__nft"
int net_nft_run(const char *script, const char *what, char **out, struct k3c_err *err);
/* A program whose main dispatches NET_NFT_HELPER_VERB to
 * net_nft_helper_main (k3c's does) calls this once at start: scripts then
 * run in the helper. */
void net_nft_helper_enable(void);
/* The helper: the script on stdin; output on stdout, nft's errors on
 * stderr; exit status 0, 1 (the script failed) or 2 (no libnftables). */
int net_nft_helper_main(int argc, char **argv);
bool net_nft_library_usable(void);
int net_nft_program_run(const char *script, char **out, struct k3c_err *err);
bool net_nft_helper_enabled(void);
/* nft's error text (may be NULL) as one "nftables <what>: ..." line in err;
 * returns -1. */
int net_nft_error(const char *errtext, const char *what, struct k3c_err *err);

/* A helper kept between scripts (net_nft_session.c), so nft's copy of the
 * ruleset survives from one transaction to the next; started at the first
 * run, ended by net_nft_session_end (the next run starts another). Where
 * the helper is not used (see net_nft_run), runs go to net_nft_run. Thread:
 * one at a time per session; the helper stays in the network namespace of
 * the thread that started it. */
struct net_nft_session;
struct net_nft_session *net_nft_session_new(void);
int net_nft_session_run(struct net_nft_session *s, const char *script, const char *what, char **out,
                        struct k3c_err *err);
void net_nft_session_end(struct net_nft_session *s);
void net_nft_session_free(struct net_nft_session *s); /* NULL ok */

/* ---------------------------------------------------------------------------
 * CNI 1.0 (net_cni.c): https://www.cni.dev/docs/spec/ (SPEC.md v1.0.0). */

#define NET_CNI_SPEC_VERSION "1.0.0"
#define NET_CNI_PATH         "/usr/lib/cni:/opt/cni/bin"
#define NET_CNI_TIMEOUT_MS   10000
#define NET_CNI_MAX          8 /* interfaces, ips and routes kept from one result */

enum net_cni_cmd {
    NET_CNI_ADD,
    NET_CNI_DEL,
    NET_CNI_CHECK,
    NET_CNI_VERSION,
};

/* "ADD", "DEL", "CHECK", "VERSION". */
const char *net_cni_cmd_name(enum net_cni_cmd cmd);

/* The runtime side of one invocation (SPEC §3 "Execution Protocol"). */
struct net_cni_runtime {
    const char *container_id; /* CNI_CONTAINERID */
    const char *netns;        /* CNI_NETNS; NULL or "" for DEL of a gone netns */
    const char *ifname;       /* CNI_IFNAME */
    const char *plugin_path;  /* CNI_PATH and where plugins are looked up; NULL: NET_CNI_PATH */
    const char *host_netns;   /* setns into this before exec; NULL: the caller's netns */
    const char *args;         /* CNI_ARGS ("K=V;K=V"); NULL: none */
    const json_t *capability_args; /* {"portMappings": [...]}; NULL: none */
    int timeout_ms;                /* per plugin exec; <= 0: NET_CNI_TIMEOUT_MS */
};

struct net_cni_iface {
    char name[64];
    char mac[32];
    char sandbox[256]; /* empty for host-side interfaces */
};

struct net_cni_ip {
    char address[64]; /* CIDR, "10.42.7.2/24" */
    char gateway[48]; /* may be empty */
    int interface;    /* index into interfaces, -1 when absent */
};

struct net_cni_route {
    char dst[64];
    char gw[48];
};

/* The parts of a CNI result (SPEC §5.1) that k3c uses; entries beyond
 * NET_CNI_MAX are dropped. */
struct net_cni_result {
    char cni_version[16];
    size_t n_interfaces;
    struct net_cni_iface interfaces[NET_CNI_MAX];
    size_t n_ips;
    struct net_cni_ip ips[NET_CNI_MAX];
    size_t n_routes;
    struct net_cni_route routes[NET_CNI_MAX];
};

/* Parses a success result. Errors: K3C_E_INVALID (not an object, wrong field
 * types, an interface index out of range). Thread: any (pure). */
int net_cni_result_parse(const json_t *j, struct net_cni_result *r, struct k3c_err *err);

/* Turns a failed plugin run into err and returns -1. stdout is parsed as the
 * SPEC §5.2 error object {cniVersion, code, msg, details}; the message is
 * "<plugin> <CMD>: <msg>: <details> (CNI code N)". Kinds by code: 1, 2, 4, 6,
 * 7 -> K3C_E_INVALID; 3 -> K3C_E_NOT_FOUND; 11 -> K3C_E_UNAVAILABLE; others
 * -> K3C_E_INTERNAL. Without an error object the last stderr line and the
 * exit code are reported (K3C_E_INTERNAL). out and errout may be NULL.
 * Thread: any (pure). */
int net_cni_plugin_error(struct k3c_err *err, const char *plugin, enum net_cni_cmd cmd,
                         int exit_code, const char *out, const char *errout);

/* Checks a network configuration list (SPEC §1): cniVersion and name are
 * strings, plugins a non-empty array of objects whose "type" is a valid
 * plugin name. Errors: K3C_E_INVALID. Thread: any (pure). */
int net_cni_list_validate(const json_t *list, struct k3c_err *err);

/* The configuration given to plugin i of list on stdin (SPEC §4 "Deriving
 * execution configuration"): a copy of plugins[i] with the list's name and
 * cniVersion, runtimeConfig holding those capability_args the plugin declares
 * in "capabilities", and prevResult when prev_result is not NULL. Returns a
 * new reference, or NULL with err set (K3C_E_INVALID). Thread: any (pure). */
json_t *net_cni_plugin_conf(const json_t *list, size_t i, const json_t *prev_result,
                            const json_t *capability_args, struct k3c_err *err);

/* The plugin binary <dir>/<type> in the first dir of the colon-separated
 * path that has it executable; a new string (caller free()s) or NULL with
 * err set (K3C_E_NOT_FOUND, K3C_E_INVALID for a bad type). */
char *net_cni_find_plugin(const char *path, const char *type, struct k3c_err *err);

/* Runs one plugin: the binary named by conf's "type", with the CNI_*
 * environment of rt and conf on stdin, inside rt->host_netns. On success
 * *result (when not NULL) gets the parsed stdout JSON for ADD and VERSION
 * (a new reference) and NULL for DEL and CHECK. Errors: those of
 * net_cni_find_plugin and net_cni_plugin_error, K3C_E_TIMEOUT, K3C_E_SYSTEM.
 * Thread: any. */
int net_cni_exec(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, const json_t *conf,
                 json_t **result, struct k3c_err *err);

/* Runs a whole list (SPEC §4): ADD in order, each plugin getting the previous
 * one's result as prevResult, *result is the last one's (new reference); DEL
 * in reverse order with prev_result (the cached ADD result, may be NULL),
 * going on past a failing plugin so that later ones still release what they
 * hold, and reporting the first failure; CHECK in order with prev_result
 * (required; skipped when the list says disableCheck). result may be NULL.
 * Thread: any. */
int net_cni_list_exec(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, const json_t *list,
                      const json_t *prev_result, json_t **result, struct k3c_err *err);

/* ---------------------------------------------------------------------------
 * The pod network (net_cni.c): one netns per pod, a loopback network for lo
 * and the list bridge -> portmap for eth0. */

#define NET_POD_IFNAME    "eth0"
#define NET_POD_BRIDGE    "cni0"
#define NET_POD_NETWORK   "k3c"
#define NET_POD_STATE_DIR "/var/lib/k3c/agent/cni"

/* Node-level settings; every pointer is borrowed for the call. NULL fields
 * take the defaults named. */
struct net_pod_config {
    const char *pod_cidr;    /* the node's podCIDR, "10.42.N.0/24"; required */
    const char *host_netns;  /* path of the host namespace; NULL: the caller's */
    const char *netns_dir;   /* where pod namespaces are pinned; NET_NETNS_DIR */
    const char *state_dir;   /* IPAM (<state>/ipam) and result cache (<state>/results);
                                NET_POD_STATE_DIR */
    const char *plugin_path; /* NET_CNI_PATH */
    const char *bridge;      /* NET_POD_BRIDGE */
    const char *network;     /* network name; NET_POD_NETWORK */
    int mtu;                 /* <= 0: the plugin's default */
    int timeout_ms;          /* per plugin exec; <= 0: NET_CNI_TIMEOUT_MS */
};

/* A hostPort of a pod (portmap's portMappings capability). */
struct net_port_mapping {
    int host_port;
    int container_port;
    const char *protocol; /* "tcp" (NULL), "udp" or "sctp" */
    const char *host_ip;  /* NULL: all addresses */
};

/* Per-pod extras; the whole struct may be NULL. */
struct net_pod_opts {
    const char *namespace; /* K8S_POD_NAMESPACE in CNI_ARGS, when set */
    const char *name;      /* K8S_POD_NAME */
    const struct net_port_mapping *ports;
    size_t n_ports;
};

struct net_pod_result {
    char netns[256]; /* path of the pod's namespace */
    char ip[48];     /* "10.42.7.2" */
    char cidr[64];   /* "10.42.7.2/24" */
    char gateway[48];
    char mac[32]; /* of eth0 */
};

/* The default list for cfg: bridge (cfg->bridge, isGateway, ipMasq false,
 * hairpinMode, host-local IPAM over pod_cidr with dataDir <state>/ipam and
 * route 0.0.0.0/0) then portmap (capabilities portMappings). Returns a new
 * reference, or NULL with err set (K3C_E_INVALID: missing or malformed
 * pod_cidr, bad names). Thread: any (pure). */
json_t *net_pod_conflist(const struct net_pod_config *cfg, struct k3c_err *err);

/* Path of the pod's namespace, <netns_dir>/k3c-<pod_uid> (caller free()s),
 * or NULL when pod_uid is not a valid name. */
char *net_pod_netns_path(const struct net_pod_config *cfg, const char *pod_uid);

/* Creates the pod's netns, brings lo up (loopback plugin) and runs the list's
 * ADD with container id pod_uid and ifname eth0; caches what DEL needs under
 * <state>/results; fills *res. On any failure what was done is undone (DEL,
 * netns removed) before returning. Errors: K3C_E_INVALID (cfg, pod_uid),
 * K3C_E_EXISTS (the pod's netns is already there: tear down first), the
 * plugin errors of net_cni_exec. Thread: any; distinct pods may be set up
 * concurrently. */
int net_pod_setup(const struct net_pod_config *cfg, const char *pod_uid,
                  const struct net_pod_opts *opts, struct net_pod_result *res, struct k3c_err *err);

/* Runs the list's DEL (with the cached config and result when there are),
 * the loopback DEL, then deletes the netns and the cache. Idempotent: a pod
 * that is already gone gives 0. On a plugin failure the netns is still
 * deleted and the first error returned; calling again retries the DEL.
 * Thread: any. */
int net_pod_teardown(const struct net_pod_config *cfg, const char *pod_uid, struct k3c_err *err);

/* Runs the list's CHECK against the cached result. Errors: K3C_E_NOT_FOUND
 * (no cached result), the plugin errors. Thread: any. */
int net_pod_check(const struct net_pod_config *cfg, const char *pod_uid, struct k3c_err *err);

#endif
