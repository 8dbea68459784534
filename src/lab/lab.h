/* SPDX-License-Identifier: Apache-2.0
 * lab.h - `k3c lab`: a whole k3c cluster on one Linux host out of network
 * namespaces (one per host, all joined to a bridge in a LAN namespace), real
 * `k3c server`/`k3c agent` processes, a loopback forwarder to the API, and
 * the chaos verbs; `k3c topology` and `k3c doctor` against any cluster.
 * Nothing is ever added to the root namespace's addresses or routes.
 * Everything here runs in the short-lived CLI process (one thread) except
 * lab_forward_run, the forwarder daemon. */
#ifndef K3C_LAB_LAB_H
#define K3C_LAB_LAB_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/err.h"

#define LAB_DEFAULT_DIR     "/var/lib/k3c-lab"
#define LAB_DEFAULT_SUBNET  "192.168.20.0/24"
#define LAB_DEFAULT_VIP     ".225"
#define LAB_DEFAULT_AGENTS  "gpu,edge"
#define LAB_MAX_HOSTS       16
#define LAB_API_PORT        6443
#define LAB_MAX_SERVER_ARGS 8

enum lab_role {
    LAB_ROLE_SERVER,
    LAB_ROLE_AGENT,
};

struct lab_host {
    char name[64];
    enum lab_role role;
    char ip[16];
    char netns[64];  /* name under /run/netns */
    char lan_if[16]; /* its cable: the bridge port in the LAN namespace */
    char label[80];  /* "gpu=true" for agent-only hosts, "" for servers */
};

/* One lab, as lab.json in its dir keeps it. */
struct lab {
    char dir[PATH_MAX];
    char prefix[16]; /* "k3l" + 6 hex of the dir's path: names unique per lab */
    char subnet[24]; /* "192.168.20.0/24" */
    int prefix_len;
    char router_ip[16]; /* the LAN namespace's address on the bridge (.1) */
    char vip[16];       /* "" for none */
    bool vip_flag;      /* servers were given --vip (their k3c has it) */
    char secret[40];    /* the cluster's token secret */
    int port;           /* the forwarder's port on 127.0.0.1, 0 until known */
    /* --server-arg: extra flags for every server ("--event-ttl=10m"), kept
     * for `start` */
    char server_args[LAB_MAX_SERVER_ARGS][128];
    size_t n_server_args;
    size_t n_hosts;
    struct lab_host hosts[LAB_MAX_HOSTS];
};

struct lab_options {
    const char *dir;    /* NULL: LAB_DEFAULT_DIR */
    int servers;        /* < 0: the default, 3 */
    const char *agents; /* comma-separated host names; NULL: LAB_DEFAULT_AGENTS; "": none */
    const char *subnet; /* NULL: LAB_DEFAULT_SUBNET */
    const char *vip;    /* ".225", a full IPv4 address or "none"; NULL: LAB_DEFAULT_VIP */
    const char *images; /* a directory of air-gap *.tar to give every host; NULL: none */
    int timeout_s;      /* how long `up` waits for nodes Ready; <= 0: 180 */
    const char *server_args[LAB_MAX_SERVER_ARGS]; /* --server-arg, repeatable */
    size_t n_server_args;
};

/* ---- the plan and its state (lab_plan.c) ---- */

/* The absolute form of dir (which need not exist), or NULL for the default. */
char *lab_dir_resolve(const char *dir);
/* Fills l from o: hosts, addresses, names. Errors: K3C_E_INVALID. */
int lab_plan(struct lab *l, const struct lab_options *o, struct k3c_err *err);
/* Reads <dir>/lab.json. Errors: K3C_E_NOT_FOUND (no lab there), K3C_E_INVALID. */
int lab_load(struct lab *l, const char *dir, struct k3c_err *err);
int lab_save(const struct lab *l, struct k3c_err *err);
const struct lab_host *lab_host_find(const struct lab *l, const char *name);
/* Per-host paths (new strings, caller free()s). */
char *lab_host_path(const struct lab *l, const struct lab_host *h, const char *leaf);
char *lab_netns_path(const char *name);
/* <dir>/kubeconfig.yaml: the host-side kubeconfig (through the forwarder). */
char *lab_kubeconfig_path(const struct lab *l);
/* The lab's prefix for a resolved dir. out holds 16 bytes. */
void lab_prefix_of(const char *dir, char out[16]);

/* ---- network (lab_net.c), with iproute2's ip inside the lab's namespaces ---- */

/* LAN namespace, bridge, one namespace per host with eth0 cabled to the bridge,
 * addresses and default routes via the router address. */
int lab_net_up(const struct lab *l, struct k3c_err *err);
/* Deletes the lab's namespaces (every /run/netns entry with its prefix).
 * Returns how many were removed. */
int lab_net_down(const char *prefix, struct k3c_err *err);
/* The host's cable: up (heal) or down (partition). */
int lab_net_cable(const struct lab *l, const struct lab_host *h, bool up, struct k3c_err *err);
/* 1 when the cable is in, 0 when out, -1 with err. */
int lab_net_cable_state(const struct lab *l, const struct lab_host *h, struct k3c_err *err);
/* Runs ip with argv inside netns (NULL: the caller's). */
int lab_ip(const char *netns, const char *const *args, struct k3c_err *err);

/* ---- processes (lab_proc.c) ---- */

/* Starts argv detached (setsid) inside netns (a /run/netns name; NULL: the
 * root namespace), stdout and stderr appended to log, K3C_* variables
 * dropped from the environment. Returns the pid or -1 with err. */
pid_t lab_spawn(const char *netns, const char *const *argv, const char *log, struct k3c_err *err);
/* The pid in the host's pid file when that process is alive, else 0. */
pid_t lab_host_pid(const struct lab *l, const struct lab_host *h);
/* Sends sig to every process of the host: those in its network namespace and
 * in its pods' namespaces (k3c, etcd, conmon, containers). Returns the count. */
int lab_host_signal_all(const struct lab *l, const struct lab_host *h, int sig);
/* The k3c binary that runs now (/proc/self/exe), a new string. */
char *lab_self_exe(void);
/* Runs argv inside the host's namespace in the foreground; returns its exit
 * status (128 + signal when killed), or -1 with err. */
int lab_exec(const struct lab *l, const struct lab_host *h, char *const *argv, struct k3c_err *err);

/* ---- lifecycle (lab_up.c, lab_down.c) ---- */

/* Creates and starts the lab, printing progress to out; a lab that is up
 * already is reported and left alone. Errors name the failing host and show
 * its log tail. */
int lab_up(const struct lab_options *o, FILE *out, struct k3c_err *err);
/* Starts a host's k3c (a server or agent) if it is not running. */
int lab_host_start(const struct lab *l, const struct lab_host *h, FILE *out, struct k3c_err *err);
/* SIGTERMs the host's k3c and waits for it to exit (SIGKILL after 30 s). */
int lab_host_stop(const struct lab *l, const struct lab_host *h, FILE *out, struct k3c_err *err);
/* Removes everything of the lab in dir; safe to repeat. */
int lab_down(const char *dir, FILE *out, struct k3c_err *err);
/* The lab's state: hosts, roles, IPs, processes, cables, and from the API
 * (when it answers) node Ready, etcd member state, the VIP holder. */
json_t *lab_status(const struct lab *l, struct k3c_err *err);
void lab_status_print(FILE *out, const json_t *status);

/* ---- the API forwarder (lab_forward.c) ---- */

/* Starts the forwarder daemon for l (k3c lab forward) and waits for its
 * port; sets l->port. */
int lab_forward_start(struct lab *l, struct k3c_err *err);
/* The daemon: listens on 127.0.0.1:<port from lab.json, or any> in the root
 * namespace, writes <dir>/forwarder.port, and relays each connection to the
 * VIP or the first server that accepts, connecting from inside the LAN
 * namespace. Runs until killed. */
int lab_forward_run(const char *dir, struct k3c_err *err);

/* ---- talking to a cluster (lab_kube.c) ---- */

struct lab_kube;
/* A client from a kubeconfig (the first cluster and user: certificate data
 * or files, or a bearer token). NULL with err. */
struct lab_kube *lab_kube_open(const char *kubeconfig, long timeout_ms, struct k3c_err *err);
void lab_kube_free(struct lab_kube *k);
/* GET path; the parsed reply (new reference) or NULL with err. */
json_t *lab_kube_get(struct lab_kube *k, const char *path, struct k3c_err *err);
/* The API server's URL from the kubeconfig (borrowed). */
const char *lab_kube_server(const struct lab_kube *k);
/* Whole-day days until the kubeconfig's client certificate and CA expire
 * (negative: expired); INT_MIN when there is no such certificate. */
void lab_kube_cert_days(const struct lab_kube *k, int *client_days, int *ca_days);

/* ---- k3c topology (topology.c) and k3c doctor (doctor.c) ---- */

/* The cluster's shape from its Nodes: {"vip": {...}, "servers": [...],
 * "agents": [...], "etcd": {...}}. New reference or NULL with err. */
json_t *topology_collect(struct lab_kube *k, struct k3c_err *err);
/* The same from a NodeList already fetched (pure; new reference). */
json_t *topology_from_nodes(const json_t *list, const char *server);
void topology_print(FILE *out, const json_t *topo);
/* Runs the checks, one line each; returns the number of problems found. */
int doctor_run(struct lab_kube *k, FILE *out, struct k3c_err *err);

#endif
