/* SPDX-License-Identifier: Apache-2.0
 * config.h - k3c configuration, K3s-style: command-line flags, the same keys
 * in a YAML file (/etc/k3c/config.yaml or --config), and K3C_<FLAG>
 * environment variables (K3C_DATA_DIR for --data-dir). Precedence, highest
 * first: flags, environment, config file, built-in defaults.
 * One table of options (config.c) drives parsing, defaults and --help. */
#ifndef K3C_CONFIG_CONFIG_H
#define K3C_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "base/err.h"

/* Which subcommand is being configured; an option is accepted only by the
 * roles its table row names. */
enum config_role {
    CONFIG_ROLE_SERVER = 1 << 0,
    CONFIG_ROLE_AGENT = 1 << 1,
};

struct k3c_config {
    /* input, borrowed: the config file read when neither --config nor
     * K3C_CONFIG names one (NULL: /etc/k3c/config.yaml). Set it after
     * zeroing; config_fini keeps it. Lets tests avoid the real default. */
    const char *default_config_file;

    /* common */
    char *config_file;  /* --config; default /etc/k3c/config.yaml (missing default file is fine) */
    char *data_dir;     /* --data-dir, default /var/lib/k3c */
    char *node_name;    /* --node-name, default: hostname */
    char *node_ip;      /* --node-ip, default: the default route's interface address */
    bool debug;         /* --debug: log level debug */
    char *server;       /* --server URL (agent; server: join an existing cluster, later) */
    char *token;        /* --token */
    char **node_labels; /* --node-label, repeatable; NULL-terminated, may be NULL */
    char **node_taints; /* --node-taint, repeatable */
    /* pods (agent and the server's own agent) */
    char *runtime;             /* --runtime auto|runc|crun, default auto */
    char *pod_cidr;            /* --pod-cidr, default 10.42.0.0/24 (when the Node has none) */
    char *cni_bridge;          /* --cni-bridge, default cni0 */
    char *cni_bin_dir;         /* --cni-bin-dir, default /usr/lib/cni:/opt/cni/bin */
    char *registry_config;     /* --registry-config: registries.yaml */
    int crash_backoff_base_ms; /* --crash-backoff-base-ms, default 10000 */
    bool disable_pods;         /* --disable-pods */
    int kubelet_port;          /* --kubelet-port, default 10250 (kubelet API: logs, exec) */

    /* server */
    bool cluster_init;                    /* --cluster-init */
    bool disable_agent;                   /* --disable-agent */
    int https_listen_port;                /* --https-listen-port, default 6443 */
    char **tls_sans;                      /* --tls-san, repeatable */
    char *bind_address;                   /* --bind-address, default 0.0.0.0 */
    char *write_kubeconfig;               /* --write-kubeconfig, default /etc/k3c/k3c.yaml */
    char *write_kubeconfig_mode;          /* --write-kubeconfig-mode, default 0600 */
    char *token_file;                     /* --token-file: static bearer tokens */
    char *etcd_binary;                    /* --etcd-binary, default "etcd" from PATH */
    int etcd_client_port;                 /* --etcd-client-port, default 2379 */
    int etcd_peer_port;                   /* --etcd-peer-port, default 2380 */
    int etcd_heartbeat_interval_ms;       /* --etcd-heartbeat-interval, default 100 */
    int etcd_election_timeout_ms;         /* --etcd-election-timeout, default 1000 */
    int etcd_learner_timeout_s;           /* --etcd-learner-timeout, default 600 */
    long long etcd_quota_backend_bytes;   /* --etcd-quota-backend-bytes, default 2 GiB */
    char *etcd_auto_compaction_mode;      /* --etcd-auto-compaction-mode: revision|periodic */
    char *etcd_auto_compaction_retention; /* --etcd-auto-compaction-retention, default "10000" */
    /* external datastore (K3s's --datastore-endpoint for etcd): no embedded etcd */
    char *datastore_endpoint; /* --datastore-endpoint https://host:port, may be NULL */
    char *datastore_cafile, *datastore_certfile, *datastore_keyfile;
    /* control loops (issue #6) */
    bool disable_scheduler;               /* --disable-scheduler */
    bool disable_controller_manager;      /* --disable-controller-manager */
    int node_monitor_grace_period_s;      /* --node-monitor-grace-period, default 40 */
    int default_not_ready_toleration_s;   /* --default-not-ready-toleration-seconds, 300 */
    int default_unreachable_toleration_s; /* --default-unreachable-toleration-seconds, 300 */
    char *cluster_cidr;                   /* --cluster-cidr, default 10.42.0.0/16 */
    int leader_elect_lease_duration_s;    /* --leader-elect-lease-duration, default 15 */
    int leader_elect_renew_deadline_s;    /* --leader-elect-renew-deadline, default 10 */
    int leader_elect_retry_period_s;      /* --leader-elect-retry-period, default 2 */
    /* the service proxy and ServiceLB (issue #13) */
    bool disable_kube_proxy; /* --disable-kube-proxy */
    char **disable;          /* --disable servicelb, repeatable */
    /* pod network across nodes (issue #13; --cluster-cidr above is also the agent's) */
    char *flannel_backend;       /* --flannel-backend vxlan|host-gw|none, default vxlan */
    char *flannel_iface;         /* --flannel-iface, default: the interface holding --node-ip */
    bool disable_network_policy; /* --disable-network-policy (issue #13) */

    /* cluster DNS (issue #14); servers and agents must agree on the first two */
    char *cluster_dns;    /* --cluster-dns, default 10.43.0.10 */
    char *cluster_domain; /* --cluster-domain, default cluster.local */
    char *resolv_conf;    /* --resolv-conf: upstreams and pods' Default policy */
    char *dns_hosts_file; /* --dns-hosts-file: answered first (K3s NodeHosts) */
    char **dns_forward;   /* --dns-forward DOMAIN=IP[:PORT], repeatable */
    bool disable_dns;     /* --disable-dns: this node answers no cluster DNS */

    /* the API's virtual IP (issue #11, src/vip/) */
    char *vip;            /* --vip ADDR[/PREFIX], may be NULL */
    char *vip_interface;  /* --vip-interface; NULL: the one holding --node-ip */
    char *servicelb_pool; /* --servicelb-pool: LoadBalancer IPs held with the VIP (issue #13) */
    /* etcd operations (issue #10) */
    char *event_ttl;         /* --event-ttl, default "1h" */
    char *etcd_snapshot_dir; /* --etcd-snapshot-dir, default <data-dir>/server/db/snapshots */
    char *etcd_snapshot_schedule_cron; /* --etcd-snapshot-schedule-cron, twice a day */
    int etcd_snapshot_retention;       /* --etcd-snapshot-retention, default 5 */
    bool disable_etcd_snapshots;       /* --disable-etcd-snapshots */
    bool cluster_reset;                /* --cluster-reset */
    char *cluster_reset_restore_path;  /* --cluster-reset-restore-path FILE */
    /* storage (issue #16) */
    char *default_local_storage_path; /* --default-local-storage-path, default <data-dir>/storage */
    /* devices (issue #18) */
    char **cdi_spec_dirs;    /* --cdi-spec-dirs, repeatable; NULL: /etc/cdi:/var/run/cdi */
    char *device_plugin_dir; /* --device-plugin-dir; NULL: <data-dir>/agent/device-plugins */
    /* node housekeeping (issue #21): the kubelet's container log rotation */
    char *container_log_max_size;         /* --container-log-max-size, default 10Mi */
    int container_log_max_files;          /* --container-log-max-files, default 5 */
    int container_log_monitor_interval_s; /* --container-log-monitor-interval, default 10 */
    int image_gc_high_threshold;          /* --image-gc-high-threshold, percent, default 85 */
    int image_gc_low_threshold;           /* --image-gc-low-threshold, percent, default 80 */
    int image_gc_period_s;                /* --image-gc-period, default 300 */
    /* eviction under node pressure (issue #21, kubelet/kubelet_eviction.h) */
    char *eviction_hard;                       /* --eviction-hard, default the kubelet's */
    char *eviction_soft;                       /* --eviction-soft; NULL: none */
    char *eviction_soft_grace_period;          /* --eviction-soft-grace-period */
    char *eviction_minimum_reclaim;            /* --eviction-minimum-reclaim */
    char *eviction_pressure_transition_period; /* --eviction-pressure-transition-period */
    int eviction_max_pod_grace_period;         /* --eviction-max-pod-grace-period, 0: the pod's */
    /* identity (issue #15) */
    bool secrets_encryption; /* --secrets-encryption: Secrets encrypted at rest (aescbc) */
    /* edge nodes (issue #19): the rules' backend, auto|nftables|iptables */
    char *netfilter_backend; /* --netfilter-backend, default auto */
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,   /* --help/-h was given: caller prints config_usage and exits 0 */
    CONFIG_USAGE = -2, /* unknown flag, missing or bad value: exit 2 */
    CONFIG_ERROR = -1, /* config file unreadable or malformed: exit 1 */
};

/* Fills cfg for role from defaults, the config file, the environment (envp,
 * NULL-terminated "K=V" strings) and argv (argv[0] is the subcommand name,
 * options start at argv[1]). Positional arguments are refused. On failure
 * err says why; for a malformed file the message starts "<file>:<line>: ".
 * cfg must be zeroed before and released with config_fini.
 * Every field gets its default, also those of options of the other role.
 * Environment variables set to "" count as unset; K3C_* variables of the other
 * role or of no option are ignored, and so are file keys of the other role
 * (one config.yaml may serve server and agent). A missing file is an error
 * only when --config or K3C_CONFIG named it. On any result but CONFIG_OK cfg
 * is left empty (as after config_fini). */
enum config_result config_load(struct k3c_config *cfg, enum config_role role, int argc, char **argv,
                               char **envp, struct k3c_err *err);
/* Frees every field and zeroes cfg (keeping default_config_file), so it can
 * be loaded again. Safe on a zeroed or already released cfg. */
void config_fini(struct k3c_config *cfg);

/* --node-ip's default: the IPv4 address of the interface that holds the
 * default route, "127.0.0.1" without one. Caller frees. */
char *config_default_node_ip(void);
/* The default route's interface in a /proc/net/route table; false if none. */
bool config_route_default_iface(const char *route_table, char *iface, size_t len);

/* Prints the option list for role (flag, env var, default, help) to out. */
void config_usage(FILE *out, enum config_role role);

/* k3c install (src/install/) writes flags into config.yaml: the kind of the
 * option NAME (a long name without "--", or a one-letter short name) for
 * role, and its long name (the file key) in *key. CONFIG_OPT_UNKNOWN for no
 * such option, one of the other role, or one the file does not accept. */
enum config_opt_kind {
    CONFIG_OPT_UNKNOWN = 0,
    CONFIG_OPT_VALUE, /* string or number: one value */
    CONFIG_OPT_BOOL,
    CONFIG_OPT_LIST,
};
enum config_opt_kind config_option_kind(const char *name, enum config_role role, const char **key);

#endif
