/* SPDX-License-Identifier: Apache-2.0
 * agent-internal.h - state shared by agent.c (node, lease, heartbeat) and
 * agent_join.c. The heartbeat thread owns the API client after start. */
#ifndef K3C_AGENT_INTERNAL_H
#define K3C_AGENT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "agent/agent.h"
#include "base/buf.h"
#include "client/client.h"
#include "kubelet/kubelet_eviction.h"
#include "net/flannel.h"
#include "net/ipt.h"

struct agent_paths {
    char *dir;
    char *server_ca;
    char *client_cert, *client_key;
    char *serving_cert, *serving_key;
    char *kubeconfig;
    char *client_ca; /* kubelet API clients must chain to it */
};

struct agent {
    char *server_url, *token, *node_name, *node_ip;
    char **labels, **taints;
    bool control_plane;
    bool etcd_member;
    int lease_renew_s, status_every_s;
    struct agent_paths paths;
    bool run_pods;
    struct kubelet_config kcfg; /* strings owned (char * in disguise) */
    struct kubelet *kubelet;
    int kubelet_port;                /* kubelet API; -1: not served */
    struct kubelet_server *kserver;  /* kubelet_server.h */
    struct runtime *kserver_runtime; /* its view of the containers (reads + exec) */
    struct flannel *flannel;         /* pod network across nodes; NULL without pods */
    struct flannel_config fcfg;      /* strings owned */
    struct dns_node_config *dns_cfg; /* cluster DNS (dns.h); NULL: none */
    struct dns_node *dns;

    struct http_client *api; /* node credentials; used by the heartbeat thread */
    bool run_proxy;
    bool proxy_without_pods; /* a --vip server: LoadBalancer addresses */
    char *cluster_cidr;
    struct proxy *proxy; /* net/proxy.h */
    char *servers_file;  /* <dir>/servers: the API servers learned (agent_servers.c) */
    char **servers;      /* heartbeat thread only */
    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* with wake: stop request */
    pthread_cond_t wake;
    bool stopping;
    bool run_netpol;
    struct netpol *netpol;         /* net/netpol.h */
    struct agent_storage *storage; /* local-path volumes' removal (agent-storage.h) */
    struct cdi_registry *cdi;      /* devices (issue #18, agent_devices.c); NULL without pods */
    struct deviceplugin *dp;       /* device plugins (agent_devices.c); NULL without pods */
    char *device_plugin_dir;       /* NULL: <data-dir>/agent/device-plugins */
    /* the netfilter backend (issue #19, agent_netfilter.c) */
    enum net_netfilter netfilter; /* the one asked for, unless netfilter_auto */
    bool netfilter_auto;
};

/* agent_servers.c: the API servers the agent fails over between. */
int agent_servers_init(struct agent *a, struct k3c_err *err);
void agent_servers_refresh(struct agent *a);

/* agent_devices.c: CDI devices as extended resources (issue #18). */
void agent_devices_init(struct agent *a, char *const *spec_dirs);
void agent_devices_fini(struct agent *a);
/* Adds {"nvidia.com/gpu": "2", ...} to a capacity object. */
void agent_devices_capacity(struct agent *a, json_t *cap);
/* Adds the GPU model label(s) (nvidia.com/gpu.product) to labels. */
void agent_devices_labels(struct agent *a, json_t *labels);
/* Device plugins (deviceplugin/deviceplugin.h) registering in dir (NULL:
 * <data-dir>/agent/device-plugins); a failure is logged, not fatal. */
void agent_devices_plugins_init(struct agent *a, const char *dir);
/* Sets the device plugins' healthy counts in an allocatable object. */
void agent_devices_allocatable(struct agent *a, json_t *alloc);
/* Rereads the spec directories; true when the devices changed (the labels
 * are patched then; the caller writes the status). */
bool agent_devices_refresh(struct agent *a);

/* agent_pressure.c (issue #21): the node's pressure conditions, measured
 * against the kubelet's eviction thresholds (the defaults when the node
 * runs no pods). */
void agent_pressure_measure(struct agent *a, struct kevict_pressure *p);

/* ---- kernel feature probes (agent_probe.c, issue #19) ---- */
enum {
    AGENT_PROBE_VXLAN = 1 << 0,
    AGENT_PROBE_NFTABLES = 1 << 1,
    AGENT_PROBE_BR_NETFILTER = 1 << 2,
    AGENT_PROBE_CGROUPS = 1 << 3,
    AGENT_PROBE_OVERLAY = 1 << 4,
    AGENT_PROBE_IPTABLES = 1 << 5, /* the iptables backend's modules */
};
struct agent_probe_env {
    const char *root;           /* prefix of every path read; NULL: "/" */
    const char *kernel_release; /* NULL: uname -r */
};
/* Appends one line "<feature>: <what is missing and what to do>" per
 * missing feature of what to report; returns how many. */
int agent_probe_kernel(const struct agent_probe_env *env, unsigned what, struct k3c_buf *report);
/* The probes on this system, each missing feature logged as an error. */
void agent_probe_log(const char *node_name, unsigned what);

/* ---- the netfilter backend (agent_netfilter.c, issue #19) ---- */
/* Sets the process's backend (net/ipt.h): the one asked for, or under auto
 * nftables when a probe transaction works, else iptables; one log line
 * says which and why. NOT_FOUND when neither can work. */
int agent_netfilter_choose(struct agent *a, struct k3c_err *err);

#endif
