/* SPDX-License-Identifier: Apache-2.0
 * config.c - k3c configuration from flags, K3C_* environment, a YAML file and
 * defaults. One table of options (keepalived-style) drives every layer and
 * --help; each value records the layer that set it, so a lower layer never
 * overwrites a higher one (flags > env > file > defaults). */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#define CONFIG_DEFAULT_FILE "/etc/k3c/config.yaml"

enum opt_type {
    OPT_STRING, /* char * */
    OPT_INT,    /* int, within [min, max] */
    OPT_LLONG,  /* long long, within [min, max] */
    OPT_BOOL,   /* bool */
    OPT_LIST,   /* char **, NULL-terminated; repeatable and comma separated */
};

/* Where a value came from, lowest first. */
enum opt_level {
    LEVEL_NONE = 0,
    LEVEL_DEFAULT,
    LEVEL_FILE,
    LEVEL_ENV,
    LEVEL_FLAG,
};

#define OPT_NOFILE (1u << 0) /* not accepted as a config file key (--config) */

struct config_option {
    const char *name; /* flag without "--"; also the file key */
    char short_name;  /* -x alias, or 0 */
    enum opt_type type;
    size_t offset; /* into struct k3c_config */
    const char *def;
    char *(*def_fn)(void); /* computed default, when def is NULL */
    unsigned roles;
    unsigned flags;
    long long min, max;         /* OPT_INT, OPT_LLONG */
    const char *const *choices; /* OPT_STRING: allowed values, NULL-terminated */
    const char *metavar;
    const char *help;
};

static char *default_node_name(void);
static char *default_node_ip(void);

static const char *const compaction_modes[] = {"revision", "periodic", NULL};
static const char *const runtimes[] = {"auto", "runc", "crun", NULL};
static const char *const flannel_backends[] = {"vxlan", "host-gw", "none", NULL};
static const char *const netfilter_backends[] = {"auto", "nftables", "iptables", NULL};

#define OFF(field) offsetof(struct k3c_config, field)
#define ROLE_S     CONFIG_ROLE_SERVER
#define ROLE_ANY   (CONFIG_ROLE_SERVER | CONFIG_ROLE_AGENT)

static const struct config_option options[] = {
    {.name = "config",
     .short_name = 'c',
     .type = OPT_STRING,
     .offset = OFF(config_file),
     .def = CONFIG_DEFAULT_FILE,
     .roles = ROLE_ANY,
     .flags = OPT_NOFILE,
     .metavar = "FILE",
     .help = "YAML config file"},
    {.name = "data-dir",
     .short_name = 'd',
     .type = OPT_STRING,
     .offset = OFF(data_dir),
     .def = "/var/lib/k3c",
     .roles = ROLE_ANY,
     .metavar = "DIR",
     .help = "data directory"},
    {.name = "node-name",
     .type = OPT_STRING,
     .offset = OFF(node_name),
     .def_fn = default_node_name,
     .roles = ROLE_ANY,
     .metavar = "NAME",
     .help = "node name, default the host name"},
    {.name = "node-ip",
     .type = OPT_STRING,
     .offset = OFF(node_ip),
     .def_fn = default_node_ip,
     .roles = ROLE_ANY,
     .metavar = "IP",
     .help = "IP address to advertise for the node, default the address of the interface that "
             "holds the default route (127.0.0.1 without one)"},
    {.name = "debug",
     .type = OPT_BOOL,
     .offset = OFF(debug),
     .roles = ROLE_ANY,
     .help = "turn on debug logs"},
    {.name = "server",
     .short_name = 's',
     .type = OPT_STRING,
     .offset = OFF(server),
     .roles = ROLE_ANY,
     .metavar = "URL",
     .help = "server to join, https://host:6443, waited for until it answers (agent; on a server: "
             "join that server's HA cluster)"},
    {.name = "token",
     .short_name = 't',
     .type = OPT_STRING,
     .offset = OFF(token),
     .roles = ROLE_ANY,
     .metavar = "TOKEN",
     .help = "join token: the K10... token (agent), or the secret of the node token (server)"},
    {.name = "node-label",
     .type = OPT_LIST,
     .offset = OFF(node_labels),
     .roles = ROLE_ANY,
     .metavar = "K=V",
     .help = "node label, applied at registration, repeatable"},
    {.name = "node-taint",
     .type = OPT_LIST,
     .offset = OFF(node_taints),
     .roles = ROLE_ANY,
     .metavar = "K=V:EFFECT",
     .help = "node taint, applied at registration, repeatable"},
    {.name = "cluster-init",
     .type = OPT_BOOL,
     .offset = OFF(cluster_init),
     .roles = ROLE_S,
     .help = "initialise a new cluster with embedded etcd that other servers may join"},
    {.name = "disable-agent",
     .type = OPT_BOOL,
     .offset = OFF(disable_agent),
     .roles = ROLE_S,
     .help = "do not run a local agent (no node, no pods on this server)"},
    {.name = "https-listen-port",
     .type = OPT_INT,
     .offset = OFF(https_listen_port),
     .def = "6443",
     .roles = ROLE_S,
     .min = 1,
     .max = 65535,
     .metavar = "PORT",
     .help = "API server HTTPS port"},
    {.name = "tls-san",
     .type = OPT_LIST,
     .offset = OFF(tls_sans),
     .roles = ROLE_S,
     .metavar = "NAME",
     .help = "extra hostname or IP in the serving certificate, repeatable"},
    {.name = "bind-address",
     .type = OPT_STRING,
     .offset = OFF(bind_address),
     .def = "0.0.0.0",
     .roles = ROLE_S,
     .metavar = "IP",
     .help = "IPv4 address the API server listens on"},
    {.name = "write-kubeconfig",
     .short_name = 'o',
     .type = OPT_STRING,
     .offset = OFF(write_kubeconfig),
     .def = "/etc/k3c/k3c.yaml",
     .roles = ROLE_S,
     .metavar = "FILE",
     .help = "where to write the admin kubeconfig"},
    {.name = "write-kubeconfig-mode",
     .type = OPT_STRING,
     .offset = OFF(write_kubeconfig_mode),
     .def = "0600",
     .roles = ROLE_S,
     .metavar = "MODE",
     .help = "file mode of the admin kubeconfig (octal)"},
    {.name = "token-file",
     .type = OPT_STRING,
     .offset = OFF(token_file),
     .roles = ROLE_S,
     .metavar = "FILE",
     .help = "static bearer tokens: token,user,uid,\"group1,group2\" per line"},
    {.name = "etcd-binary",
     .type = OPT_STRING,
     .offset = OFF(etcd_binary),
     .def = "etcd",
     .roles = ROLE_S,
     .metavar = "PATH",
     .help = "etcd executable"},
    {.name = "etcd-client-port",
     .type = OPT_INT,
     .offset = OFF(etcd_client_port),
     .def = "2379",
     .roles = ROLE_S,
     .min = 1,
     .max = 65535,
     .metavar = "PORT",
     .help = "etcd client port"},
    {.name = "etcd-peer-port",
     .type = OPT_INT,
     .offset = OFF(etcd_peer_port),
     .def = "2380",
     .roles = ROLE_S,
     .min = 1,
     .max = 65535,
     .metavar = "PORT",
     .help = "etcd peer port"},
    {.name = "etcd-heartbeat-interval",
     .type = OPT_INT,
     .offset = OFF(etcd_heartbeat_interval_ms),
     .def = "100",
     .roles = ROLE_S,
     .min = 1,
     .max = 50000,
     .metavar = "MS",
     .help = "etcd heartbeat interval in milliseconds"},
    /* etcd refuses an election timeout above 50 s (etcdmain/config.go). */
    {.name = "etcd-election-timeout",
     .type = OPT_INT,
     .offset = OFF(etcd_election_timeout_ms),
     .def = "1000",
     .roles = ROLE_S,
     .min = 1,
     .max = 50000,
     .metavar = "MS",
     .help = "etcd election timeout in milliseconds"},
    {.name = "etcd-learner-timeout",
     .type = OPT_INT,
     .offset = OFF(etcd_learner_timeout_s),
     .def = "600",
     .roles = ROLE_S,
     .min = 1,
     .max = 86400,
     .metavar = "S",
     .help = "an etcd learner not promoted within this many seconds is removed by the leader"},
    /* 0 lets etcd pick its own default. */
    {.name = "etcd-quota-backend-bytes",
     .type = OPT_LLONG,
     .offset = OFF(etcd_quota_backend_bytes),
     .def = "2147483648",
     .roles = ROLE_S,
     .min = 0,
     .max = LLONG_MAX,
     .metavar = "BYTES",
     .help = "etcd backend size quota"},
    {.name = "etcd-auto-compaction-mode",
     .type = OPT_STRING,
     .offset = OFF(etcd_auto_compaction_mode),
     .def = "revision",
     .roles = ROLE_S,
     .choices = compaction_modes,
     .metavar = "MODE",
     .help = "etcd auto compaction mode: revision|periodic"},
    {.name = "etcd-auto-compaction-retention",
     .type = OPT_STRING,
     .offset = OFF(etcd_auto_compaction_retention),
     .def = "10000",
     .roles = ROLE_S,
     .metavar = "N",
     .help = "etcd auto compaction retention"},
    {.name = "runtime",
     .type = OPT_STRING,
     .offset = OFF(runtime),
     .def = "auto",
     .roles = ROLE_ANY,
     .choices = runtimes,
     .metavar = "NAME",
     .help = "OCI runtime for pods: auto|runc|crun (auto: crun when it works here)"},
    {.name = "pod-cidr",
     .type = OPT_STRING,
     .offset = OFF(pod_cidr),
     .def = "10.42.0.0/24",
     .roles = ROLE_ANY,
     .metavar = "CIDR",
     .help = "pod network of this node when its Node has no spec.podCIDR"},
    {.name = "cni-bridge",
     .type = OPT_STRING,
     .offset = OFF(cni_bridge),
     .def = "cni0",
     .roles = ROLE_ANY,
     .metavar = "NAME",
     .help = "bridge of the pod network"},
    {.name = "cni-bin-dir",
     .type = OPT_STRING,
     .offset = OFF(cni_bin_dir),
     .def = "/usr/lib/cni:/opt/cni/bin",
     .roles = ROLE_ANY,
     .metavar = "DIRS",
     .help = "where the CNI plugins are (colon separated)"},
    {.name = "registry-config",
     .type = OPT_STRING,
     .offset = OFF(registry_config),
     .roles = ROLE_ANY,
     .metavar = "FILE",
     .help = "registry mirrors and credentials (K3s registries.yaml format)"},
    {.name = "crash-backoff-base-ms",
     .type = OPT_INT,
     .offset = OFF(crash_backoff_base_ms),
     .def = "10000",
     .min = 100,
     .max = 300000,
     .roles = ROLE_ANY,
     .metavar = "MS",
     .help = "first CrashLoopBackOff/ImagePullBackOff delay, doubling to 300 s (for tests)"},
    {.name = "kubelet-port",
     .type = OPT_INT,
     .offset = OFF(kubelet_port),
     .def = "10250",
     .min = 1,
     .max = 65535,
     .roles = ROLE_ANY,
     .metavar = "PORT",
     .help = "port of the kubelet API (logs, exec)"},
    {.name = "disable-pods",
     .type = OPT_BOOL,
     .offset = OFF(disable_pods),
     .roles = ROLE_ANY,
     .help = "register the node but run no pods"},
    {.name = "datastore-endpoint",
     .type = OPT_STRING,
     .offset = OFF(datastore_endpoint),
     .roles = ROLE_S,
     .metavar = "URL",
     .help = "external etcd (https://host:port) instead of the embedded one"},
    {.name = "datastore-cafile",
     .type = OPT_STRING,
     .offset = OFF(datastore_cafile),
     .roles = ROLE_S,
     .metavar = "FILE",
     .help = "CA of the external etcd"},
    {.name = "datastore-certfile",
     .type = OPT_STRING,
     .offset = OFF(datastore_certfile),
     .roles = ROLE_S,
     .metavar = "FILE",
     .help = "client certificate for the external etcd"},
    {.name = "datastore-keyfile",
     .type = OPT_STRING,
     .offset = OFF(datastore_keyfile),
     .roles = ROLE_S,
     .metavar = "FILE",
     .help = "client key for the external etcd"},
    {.name = "disable-scheduler",
     .type = OPT_BOOL,
     .offset = OFF(disable_scheduler),
     .roles = ROLE_S,
     .help = "do not run the scheduler"},
    {.name = "disable-controller-manager",
     .type = OPT_BOOL,
     .offset = OFF(disable_controller_manager),
     .roles = ROLE_S,
     .help = "do not run the controllers"},
    {.name = "node-monitor-grace-period",
     .type = OPT_INT,
     .offset = OFF(node_monitor_grace_period_s),
     .def = "40",
     .roles = ROLE_S,
     .min = 1,
     .max = 86400,
     .metavar = "SECONDS",
     .help = "seconds without a node heartbeat before it is NotReady"},
    {.name = "default-not-ready-toleration-seconds",
     .type = OPT_INT,
     .offset = OFF(default_not_ready_toleration_s),
     .def = "300",
     .roles = ROLE_S,
     .min = 1,
     .max = 31536000,
     .metavar = "SECONDS",
     .help = "default toleration of node.kubernetes.io/not-ready:NoExecute"},
    {.name = "default-unreachable-toleration-seconds",
     .type = OPT_INT,
     .offset = OFF(default_unreachable_toleration_s),
     .def = "300",
     .roles = ROLE_S,
     .min = 1,
     .max = 31536000,
     .metavar = "SECONDS",
     .help = "default toleration of node.kubernetes.io/unreachable:NoExecute"},
    {.name = "cluster-cidr",
     .type = OPT_STRING,
     .offset = OFF(cluster_cidr),
     .def = "10.42.0.0/16",
     .roles = ROLE_ANY,
     .metavar = "CIDR",
     .help = "pod network; each node gets a /24 of it (agents: what flannel and the service "
             "proxy do not masquerade)"},
    {.name = "leader-elect-lease-duration",
     .type = OPT_INT,
     .offset = OFF(leader_elect_lease_duration_s),
     .def = "15",
     .roles = ROLE_S,
     .min = 1,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "leader election lease duration"},
    {.name = "leader-elect-renew-deadline",
     .type = OPT_INT,
     .offset = OFF(leader_elect_renew_deadline_s),
     .def = "10",
     .roles = ROLE_S,
     .min = 1,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "leader stops its loops when it cannot renew for this long"},
    {.name = "leader-elect-retry-period",
     .type = OPT_INT,
     .offset = OFF(leader_elect_retry_period_s),
     .def = "2",
     .roles = ROLE_S,
     .min = 1,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "leader election retry and renew period"},
    /* the service proxy and ServiceLB (issue #13) */
    {.name = "disable-kube-proxy",
     .type = OPT_BOOL,
     .offset = OFF(disable_kube_proxy),
     .roles = ROLE_ANY,
     .help = "do not run the service proxy (and remove its nftables table)"},
    {.name = "disable",
     .type = OPT_LIST,
     .offset = OFF(disable),
     .roles = ROLE_S,
     .metavar = "NAME",
     .help = "do not run a packaged component: servicelb, local-storage; repeatable"},
    /* The pod network across nodes (issue #13, net/flannel.h). */
    {.name = "flannel-backend",
     .type = OPT_STRING,
     .offset = OFF(flannel_backend),
     .def = "vxlan",
     .roles = ROLE_ANY,
     .choices = flannel_backends,
     .metavar = "NAME",
     .help = "pod network across nodes: vxlan (flannel.1, UDP 8472), host-gw (routes via the "
             "nodes, one L2 segment) or none (another CNI's job)"},
    {.name = "flannel-iface",
     .type = OPT_STRING,
     .offset = OFF(flannel_iface),
     .roles = ROLE_ANY,
     .metavar = "NAME",
     .help = "interface of the pod network's underlay (default: the one holding --node-ip)"},
    /* cluster DNS (issue #14, docs/dns.md) */
    {.name = "cluster-dns",
     .type = OPT_STRING,
     .offset = OFF(cluster_dns),
     .def = "10.43.0.10",
     .roles = ROLE_ANY,
     .metavar = "IP",
     .help = "cluster DNS address: the kube-dns Service (server) and pods' nameserver (every "
             "node); servers and agents must agree"},
    {.name = "cluster-domain",
     .type = OPT_STRING,
     .offset = OFF(cluster_domain),
     .def = "cluster.local",
     .roles = ROLE_ANY,
     .metavar = "DOMAIN",
     .help = "cluster domain; servers and agents must agree"},
    {.name = "resolv-conf",
     .type = OPT_STRING,
     .offset = OFF(resolv_conf),
     .roles = ROLE_ANY,
     .metavar = "FILE",
     .help =
         "resolv.conf for upstream DNS and pods with dnsPolicy Default, default /etc/resolv.conf "
         "(loopback nameservers skipped)"},
    {.name = "dns-hosts-file",
     .type = OPT_STRING,
     .offset = OFF(dns_hosts_file),
     .roles = ROLE_ANY,
     .metavar = "FILE",
     .help = "hosts file the cluster DNS answers first (like K3s's NodeHosts), reread on change"},
    {.name = "dns-forward",
     .type = OPT_LIST,
     .offset = OFF(dns_forward),
     .roles = ROLE_ANY,
     .metavar = "DOMAIN=IP[:PORT]",
     .help = "send names under DOMAIN to IP (repeat for more servers; '.' replaces resolv.conf)"},
    {.name = "disable-dns",
     .type = OPT_BOOL,
     .offset = OFF(disable_dns),
     .roles = ROLE_ANY,
     .help = "this node answers no cluster DNS (its pods still get it in resolv.conf)"},
    {.name = "vip",
     .type = OPT_STRING,
     .offset = OFF(vip),
     .roles = ROLE_S,
     .metavar = "ADDR[/PREFIX]",
     .help = "virtual IP of the API: one server holds it, elected through etcd (docs/vip.md)"},
    {.name = "vip-interface",
     .type = OPT_STRING,
     .offset = OFF(vip_interface),
     .roles = ROLE_S,
     .metavar = "IFACE",
     .help = "interface for --vip, default the one holding --node-ip"},
    /* ServiceLB addresses held with the VIP (issue #13, docs/vip.md) */
    {.name = "servicelb-pool",
     .type = OPT_STRING,
     .offset = OFF(servicelb_pool),
     .roles = ROLE_S,
     .metavar = "CIDR|A-B[,...]",
     .help = "addresses a LoadBalancer Service may ask for (loadBalancerIP), held with --vip"},
    /* etcd operations (issue #10): Event TTL, snapshots, cluster reset. */
    {.name = "event-ttl",
     .type = OPT_STRING,
     .offset = OFF(event_ttl),
     .def = "1h",
     .roles = ROLE_S,
     .metavar = "DURATION",
     .help = "how long Events are kept (etcd lease), e.g. 1h, 30m, 90s"},
    {.name = "etcd-snapshot-dir",
     .type = OPT_STRING,
     .offset = OFF(etcd_snapshot_dir),
     .roles = ROLE_S,
     .metavar = "DIR",
     .help = "where etcd snapshots go, default <data-dir>/server/db/snapshots"},
    {.name = "etcd-snapshot-schedule-cron",
     .type = OPT_STRING,
     .offset = OFF(etcd_snapshot_schedule_cron),
     .def = "0 */12 * * *",
     .roles = ROLE_S,
     .metavar = "SPEC",
     .help = "when to snapshot etcd: cron 'min hour dom month dow' (a leading seconds field is "
             "allowed), local time"},
    {.name = "etcd-snapshot-retention",
     .type = OPT_INT,
     .offset = OFF(etcd_snapshot_retention),
     .def = "5",
     .roles = ROLE_S,
     .min = 1,
     .max = 100000,
     .metavar = "N",
     .help = "scheduled snapshots kept per node (older ones are deleted)"},
    {.name = "disable-etcd-snapshots",
     .type = OPT_BOOL,
     .offset = OFF(disable_etcd_snapshots),
     .roles = ROLE_S,
     .help = "take no scheduled etcd snapshots"},
    {.name = "cluster-reset",
     .type = OPT_BOOL,
     .offset = OFF(cluster_reset),
     .roles = ROLE_S,
     .flags = OPT_NOFILE,
     .help = "make this etcd member a one-member cluster with its data, then exit"},
    {.name = "cluster-reset-restore-path",
     .type = OPT_STRING,
     .offset = OFF(cluster_reset_restore_path),
     .roles = ROLE_S,
     .flags = OPT_NOFILE,
     .metavar = "FILE",
     .help = "with --cluster-reset: restore this etcd snapshot first (old data moved aside)"},
    /* NetworkPolicy enforcement (issue #13, net/netpol.h) */
    {.name = "disable-network-policy",
     .type = OPT_BOOL,
     .offset = OFF(disable_network_policy),
     .roles = ROLE_ANY,
     .help = "do not enforce NetworkPolicies (and remove their nftables table)"},
    /* storage (issue #16, docs/storage.md) */
    {.name = "default-local-storage-path",
     .type = OPT_STRING,
     .offset = OFF(default_local_storage_path),
     .roles = ROLE_S,
     .metavar = "DIR",
     .help = "where the local-path provisioner puts volumes on the nodes, default "
             "<data-dir>/storage"},
    /* devices (issue #18, docs/gpu.md) */
    {.name = "cdi-spec-dirs",
     .type = OPT_LIST,
     .offset = OFF(cdi_spec_dirs),
     .roles = ROLE_ANY,
     .metavar = "DIR[:DIR]",
     .help = "CDI spec directories, later wins (repeatable; default /etc/cdi:/var/run/cdi)"},
    {.name = "device-plugin-dir",
     .type = OPT_STRING,
     .offset = OFF(device_plugin_dir),
     .roles = ROLE_ANY,
     .metavar = "DIR",
     .help = "where device plugins register (kubelet.sock), default "
             "<data-dir>/agent/device-plugins; /var/lib/kubelet/device-plugins for upstream "
             "DaemonSets"},
    /* node housekeeping (issue #21) */
    {.name = "container-log-max-size",
     .type = OPT_STRING,
     .offset = OFF(container_log_max_size),
     .def = "10Mi",
     .roles = ROLE_ANY,
     .metavar = "QUANTITY",
     .help = "a container's log is rotated above this size (kubelet's containerLogMaxSize)"},
    {.name = "container-log-max-files",
     .type = OPT_INT,
     .offset = OFF(container_log_max_files),
     .def = "5",
     .min = 2,
     .max = 1000,
     .roles = ROLE_ANY,
     .metavar = "N",
     .help = "log files kept per container, the current one included"},
    {.name = "container-log-monitor-interval",
     .type = OPT_INT,
     .offset = OFF(container_log_monitor_interval_s),
     .def = "10",
     .min = 1,
     .max = 3600,
     .roles = ROLE_ANY,
     .metavar = "SECONDS",
     .help = "how often container logs are checked for rotation"},
    {.name = "image-gc-high-threshold",
     .type = OPT_INT,
     .offset = OFF(image_gc_high_threshold),
     .def = "85",
     .min = 1,
     .max = 100,
     .roles = ROLE_ANY,
     .metavar = "PERCENT",
     .help = "disk use of the image file system above which unused images are removed"},
    {.name = "image-gc-low-threshold",
     .type = OPT_INT,
     .offset = OFF(image_gc_low_threshold),
     .def = "80",
     .min = 1,
     .max = 100,
     .roles = ROLE_ANY,
     .metavar = "PERCENT",
     .help = "disk use the image GC brings it down to"},
    {.name = "image-gc-period",
     .type = OPT_INT,
     .offset = OFF(image_gc_period_s),
     .def = "300",
     .min = 1,
     .max = 86400,
     .roles = ROLE_ANY,
     .metavar = "SECONDS",
     .help = "how often the image file system's use is checked"},
    /* eviction under node pressure (issue #21) */
    {.name = "eviction-hard",
     .type = OPT_STRING,
     .offset = OFF(eviction_hard),
     .def = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,"
            "imagefs.available<15%,imagefs.inodesFree<5%,pid.available<5%",
     .roles = ROLE_ANY,
     .metavar = "SIGNAL<VALUE,...",
     .help = "hard eviction thresholds (the kubelet's; \"\" for none)"},
    {.name = "eviction-soft",
     .type = OPT_STRING,
     .offset = OFF(eviction_soft),
     .roles = ROLE_ANY,
     .metavar = "SIGNAL<VALUE,...",
     .help = "soft eviction thresholds, each with a grace period"},
    {.name = "eviction-soft-grace-period",
     .type = OPT_STRING,
     .offset = OFF(eviction_soft_grace_period),
     .roles = ROLE_ANY,
     .metavar = "SIGNAL=DURATION,...",
     .help = "how long a soft threshold must be met before a pod is evicted"},
    {.name = "eviction-minimum-reclaim",
     .type = OPT_STRING,
     .offset = OFF(eviction_minimum_reclaim),
     .roles = ROLE_ANY,
     .metavar = "SIGNAL=VALUE,...",
     .help = "how much above its threshold a signal must get back before pressure ends"},
    {.name = "eviction-pressure-transition-period",
     .type = OPT_STRING,
     .offset = OFF(eviction_pressure_transition_period),
     .def = "5m",
     .roles = ROLE_ANY,
     .metavar = "DURATION",
     .help = "how long a pressure condition stays after the pressure was last seen"},
    {.name = "eviction-max-pod-grace-period",
     .type = OPT_INT,
     .offset = OFF(eviction_max_pod_grace_period),
     .def = "0",
     .min = 0,
     .max = 86400,
     .roles = ROLE_ANY,
     .metavar = "SECONDS",
     .help = "the longest grace period a soft eviction gives (0: the pod's own)"},
    {.name = "secrets-encryption",
     .type = OPT_BOOL,
     .offset = OFF(secrets_encryption),
     .roles = ROLE_S,
     .help = "encrypt Secrets at rest in etcd (aescbc, key shared by the servers)"},
    /* edge nodes (issue #19, net/ipt.h) */
    {.name = "netfilter-backend",
     .type = OPT_STRING,
     .offset = OFF(netfilter_backend),
     .def = "auto",
     .roles = ROLE_ANY,
     .choices = netfilter_backends,
     .metavar = "NAME",
     .help = "Service, masquerade and NetworkPolicy rules: nftables, iptables (legacy, for "
             "kernels without nf_tables; no NetworkPolicy) or auto (nftables when it works)"},
};

#define N_OPTIONS K3C_ARRAY_SIZE(options)

/* One config_load call. */
struct loader {
    struct k3c_config *cfg;
    enum config_role role;
    unsigned char level[N_OPTIONS]; /* enum opt_level of each option's value */
    struct k3c_err *err;
};

/* A parsed value, before it is stored. */
struct opt_value {
    char *s;
    long long n;
    bool b;
    char **list;
};

/* ---- string lists ---- */

static size_t
strv_len(char **v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

/* Appends s, taking it. */
static void
strv_push(char ***v, char *s)
{
    size_t n = strv_len(*v);

    *v = k3c_xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = s;
    (*v)[n + 1] = NULL;
}

/* Appends the comma-separated items of text, trimmed; empty items are skipped. */
static void
strv_push_split(char ***v, const char *text)
{
    const char *p = text;

    for (;;) {
        const char *end = strchrnul(p, ',');
        const char *b = p, *e = end;

        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b)
            strv_push(v, k3c_xstrndup(b, (size_t)(e - b)));
        if (*end == '\0')
            break;
        p = end + 1;
    }
}

/* Moves every item of src to the end of *dst and frees src. */
static void
strv_extend_take(char ***dst, char **src)
{
    for (size_t i = 0; src && src[i]; i++)
        strv_push(dst, src[i]);
    free(src);
}

/* ---- the table ---- */

static char *
default_node_name(void)
{
    char host[HOST_NAME_MAX + 1] = "";

    if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
        return k3c_xstrdup("localhost");
    /* Node names are DNS-1123 subdomains, which are lower case. */
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return k3c_xstrdup(host);
}

/* The interface of the IPv4 default route in a /proc/net/route table
 * (lowest metric wins); false when there is none. */
bool
config_route_default_iface(const char *route_table, char *iface, size_t len)
{
    unsigned long best_metric = ~0UL;
    const char *line = route_table;
    bool found = false;

    while (line && *line) {
        char name[IF_NAMESIZE + 1];
        unsigned long dest, gw, flags, refcnt, use, metric, mask;

        if (sscanf(line, "%16s %lx %lx %lx %lu %lu %lu %lx", name, &dest, &gw, &flags, &refcnt,
                   &use, &metric, &mask) == 8 &&
            dest == 0 && mask == 0 && (flags & 0x1) /* RTF_UP */ && metric < best_metric) {
            best_metric = metric;
            snprintf(iface, len, "%s", name);
            found = true;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return found;
}

/* K3s's default node IP: the first IPv4 address of the interface that
 * holds the default route; 127.0.0.1 on a host without one. */
char *
config_default_node_ip(void)
{
    _cleanup_free_ char *table = NULL;
    struct k3c_err err = {0};
    char iface[IF_NAMESIZE + 1], ip[INET_ADDRSTRLEN] = "";
    struct ifaddrs *ifs = NULL;

    if (k3c_read_file("/proc/net/route", &table, NULL, &err) < 0 ||
        !config_route_default_iface(table, iface, sizeof(iface)) || getifaddrs(&ifs) < 0)
        return k3c_xstrdup("127.0.0.1");
    for (struct ifaddrs *i = ifs; i && !ip[0]; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && strcmp(i->ifa_name, iface) == 0)
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof(ip));
    freeifaddrs(ifs);
    return k3c_xstrdup(ip[0] ? ip : "127.0.0.1");
}

static char *
default_node_ip(void)
{
    return config_default_node_ip();
}

static const struct config_option *
find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static const struct config_option *
find_short(char c)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].short_name != 0 && options[i].short_name == c)
            return &options[i];
    return NULL;
}

/* "data-dir" -> "K3C_DATA_DIR". */
static void
env_name(const struct config_option *o, char *buf, size_t size)
{
    char *p;

    snprintf(buf, size, "K3C_%s", o->name);
    for (p = buf; *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
}

static const char *
role_name(unsigned roles)
{
    return roles & CONFIG_ROLE_SERVER ? "server" : "agent";
}

static void *
opt_field(struct k3c_config *cfg, const struct config_option *o)
{
    return (char *)cfg + o->offset;
}

/* ---- parsing one value ---- */

static int
parse_bool(const char *who, const char *text, bool *out, struct k3c_err *err)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_INVALID, "%s: \"%s\" is not a boolean (true or false)", who,
                       text);
}

static int
parse_number(const struct config_option *o, const char *who, const char *text, long long *out,
             struct k3c_err *err)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || isspace((unsigned char)*text))
        return k3c_err_set(err, K3C_E_INVALID, "%s: \"%s\" is not a number", who, text);
    if (errno == ERANGE || n < o->min || n > o->max)
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s is out of range (%lld..%lld)", who, text,
                           o->min, o->max);
    *out = n;
    return 0;
}

static int
check_choice(const struct config_option *o, const char *who, const char *text, struct k3c_err *err)
{
    struct k3c_buf allowed;
    int r;

    if (!o->choices)
        return 0;
    for (size_t i = 0; o->choices[i]; i++)
        if (strcmp(o->choices[i], text) == 0)
            return 0;
    k3c_buf_init(&allowed);
    for (size_t i = 0; o->choices[i]; i++)
        k3c_buf_appendf(&allowed, "%s%s", i ? "|" : "", o->choices[i]);
    r = k3c_err_set(err, K3C_E_INVALID, "%s: \"%s\" must be one of %s", who, text, allowed.data);
    k3c_buf_fini(&allowed);
    return r;
}

/* Parses text for o into v; who names the source in messages ("--data-dir",
 * "K3C_DATA_DIR", "data-dir"). Lists split text on commas. */
static int
opt_parse(const struct config_option *o, const char *who, const char *text, struct opt_value *v,
          struct k3c_err *err)
{
    if (o->type == OPT_LIST) {
        strv_push_split(&v->list, text);
        return 0;
    }
    if (text[0] == '\0')
        return k3c_err_set(err, K3C_E_INVALID, "%s: empty value", who);
    switch (o->type) {
    case OPT_BOOL:
        return parse_bool(who, text, &v->b, err);
    case OPT_INT:
    case OPT_LLONG:
        return parse_number(o, who, text, &v->n, err);
    default:
        if (check_choice(o, who, text, err) < 0)
            return -1;
        v->s = k3c_xstrdup(text);
        return 0;
    }
}

static void
opt_value_fini(struct opt_value *v)
{
    free(v->s);
    k3c_strv_free(v->list);
    *v = (struct opt_value){0};
}

/* Stores v (taking what it owns) unless a higher layer already set o. A list
 * appended at the level that set it grows; otherwise it is replaced. */
static void
opt_store(struct loader *ld, const struct config_option *o, enum opt_level level,
          struct opt_value *v, bool append)
{
    size_t idx = (size_t)(o - options);
    void *field = opt_field(ld->cfg, o);

    if (ld->level[idx] > level)
        return;
    switch (o->type) {
    case OPT_STRING:
        free(*(char **)field);
        *(char **)field = TAKE_PTR(v->s);
        break;
    case OPT_INT:
        *(int *)field = (int)v->n;
        break;
    case OPT_LLONG:
        *(long long *)field = v->n;
        break;
    case OPT_BOOL:
        *(bool *)field = v->b;
        break;
    case OPT_LIST:
        if (!append || ld->level[idx] != level) {
            k3c_strv_free(*(char ***)field);
            *(char ***)field = NULL;
        }
        strv_extend_take((char ***)field, TAKE_PTR(v->list));
        break;
    }
    ld->level[idx] = (unsigned char)level;
}

static int
opt_set_text(struct loader *ld, const struct config_option *o, enum opt_level level,
             const char *who, const char *text, bool append)
{
    struct opt_value v = {0};

    if (opt_parse(o, who, text, &v, ld->err) < 0) {
        opt_value_fini(&v);
        return -1;
    }
    opt_store(ld, o, level, &v, append);
    opt_value_fini(&v);
    return 0;
}

/* ---- flags ---- */

static bool
is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Looks up the flag in arg ("--name[=v]", "-x[=v]", Go-style "-name[=v]"). */
static const struct config_option *
flag_lookup(const char *arg, size_t *namelen)
{
    const char *name = arg + (arg[1] == '-' ? 2 : 1);

    *namelen = strcspn(name, "=");
    if (arg[1] != '-' && *namelen == 1)
        return find_short(name[0]);
    return find_long(name, *namelen);
}

/* Handles argv[*i], consuming the next argument as its value if needed. */
static enum config_result
parse_flag(struct loader *ld, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    char who[128];
    size_t namelen;
    const struct config_option *o = flag_lookup(arg, &namelen);
    const char *eq;
    const char *value;

    snprintf(who, sizeof(who), "%.*s", (int)(namelen + (arg[1] == '-' ? 2 : 1)), arg);
    if (!o) {
        k3c_err_set(ld->err, K3C_E_INVALID, "unknown flag %s", who);
        return CONFIG_USAGE;
    }
    if (!(o->roles & ld->role)) {
        k3c_err_set(ld->err, K3C_E_INVALID, "flag %s is only valid for k3c %s", who,
                    role_name(o->roles));
        return CONFIG_USAGE;
    }
    eq = strchr(arg, '=');
    if (eq)
        value = eq + 1;
    else if (o->type == OPT_BOOL)
        value = "true";
    else if (*i + 1 < argc)
        value = argv[++*i];
    else {
        k3c_err_set(ld->err, K3C_E_INVALID, "flag %s needs a value", who);
        return CONFIG_USAGE;
    }
    if (opt_set_text(ld, o, LEVEL_FLAG, who, value, true) < 0)
        return CONFIG_USAGE;
    return CONFIG_OK;
}

static enum config_result
parse_flags(struct loader *ld, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        enum config_result r;

        if (is_help(arg))
            return CONFIG_HELP;
        if (strcmp(arg, "--") == 0 && i + 1 == argc)
            break;
        if (strcmp(arg, "--") == 0)
            arg = argv[++i];
        else if (arg[0] == '-' && arg[1] != '\0') {
            r = parse_flag(ld, argc, argv, &i);
            if (r != CONFIG_OK)
                return r;
            continue;
        }
        k3c_err_set(ld->err, K3C_E_INVALID, "unexpected argument \"%s\"", arg);
        return CONFIG_USAGE;
    }
    return CONFIG_OK;
}

/* ---- environment ---- */

/* The option whose K3C_ variable entry ("K3C_DATA_DIR=/x") sets, or NULL. */
static const struct config_option *
env_lookup(const char *entry, const char **value)
{
    char name[128];

    for (size_t i = 0; i < N_OPTIONS; i++) {
        size_t len;

        env_name(&options[i], name, sizeof(name));
        len = strlen(name);
        if (strncmp(entry, name, len) == 0 && entry[len] == '=') {
            *value = entry + len + 1;
            return &options[i];
        }
    }
    return NULL;
}

static enum config_result
parse_env(struct loader *ld, char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *value = NULL;
        const struct config_option *o = env_lookup(envp[i], &value);
        char who[128];

        if (!o || !(o->roles & ld->role) || value[0] == '\0')
            continue;
        env_name(o, who, sizeof(who));
        if (opt_set_text(ld, o, LEVEL_ENV, who, value, false) < 0)
            return CONFIG_USAGE;
    }
    return CONFIG_OK;
}

/* ---- config file ---- */

static void
parser_cleanup(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static void
document_cleanup(yaml_document_t *d)
{
    yaml_document_delete(d);
}

/* One file being read. */
struct file_ctx {
    struct loader *ld;
    const char *path;
    yaml_document_t *doc;
};

/* Sets "<file>:<line>: <what> \"<name>\"" (the name part only if name is set). */
static int
file_error(struct file_ctx *fc, const yaml_node_t *node, const char *what, const char *name)
{
    return k3c_err_set(fc->ld->err, K3C_E_INVALID, "%s:%zu: %s%s%s%s", fc->path,
                       node->start_mark.line + 1, what, name ? " \"" : "", name ? name : "",
                       name ? "\"" : "");
}

static bool
scalar_is_null(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;

    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0);
}

/* Parses one scalar of key o into v; errors carry the node's line. */
static int
file_scalar(struct file_ctx *fc, const struct config_option *o, const yaml_node_t *n,
            struct opt_value *v)
{
    if (n->type != YAML_SCALAR_NODE)
        return file_error(fc, n, "expected a plain value for", o->name);
    if (scalar_is_null(n))
        return file_error(fc, n, "no value for", o->name);
    if (opt_parse(o, o->name, (const char *)n->data.scalar.value, v, fc->ld->err) < 0)
        return k3c_err_wrap(fc->ld->err, "%s:%zu", fc->path, n->start_mark.line + 1);
    return 0;
}

/* Parses the value node of key o: a scalar, or a sequence of scalars for a list. */
static int
file_value(struct file_ctx *fc, const struct config_option *o, const yaml_node_t *n,
           struct opt_value *v)
{
    if (n->type == YAML_MAPPING_NODE)
        return file_error(fc, n, "a mapping is not a valid value for", o->name);
    if (n->type == YAML_SCALAR_NODE)
        return file_scalar(fc, o, n, v);
    if (o->type != OPT_LIST)
        return file_error(fc, n, "expected one value, not a list, for", o->name);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        if (file_scalar(fc, o, yaml_document_get_node(fc->doc, *it), v) < 0)
            return -1;
    }
    return 0;
}

/* Applies one "key: value" pair. A trailing "+" on a list key appends (K3s). */
static int
file_entry(struct file_ctx *fc, const yaml_node_t *key, const yaml_node_t *val)
{
    const char *name;
    size_t len;
    bool append;
    const struct config_option *o;
    struct opt_value v = {0};
    int r;

    if (key->type != YAML_SCALAR_NODE)
        return file_error(fc, key, "keys must be option names", NULL);
    name = (const char *)key->data.scalar.value;
    len = key->data.scalar.length;
    append = len > 1 && name[len - 1] == '+';
    o = find_long(name, append ? len - 1 : len);
    if (!o || (o->flags & OPT_NOFILE))
        return file_error(fc, key, "unknown key", name);
    if (append && o->type != OPT_LIST)
        return file_error(fc, key, "\"+\" appends only to list options, not", name);
    if (!(o->roles & fc->ld->role))
        return 0;
    r = file_value(fc, o, val, &v);
    if (r == 0)
        opt_store(fc->ld, o, LEVEL_FILE, &v, append);
    opt_value_fini(&v);
    return r;
}

/* libyaml's problem mark is where parsing stopped; when that is the end of
 * the input, the line where the unfinished construct began (context mark) is
 * the one to fix. */
static int
file_syntax_error(struct file_ctx *fc, const yaml_parser_t *p, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot parse YAML";
    bool at_eof = p->problem_mark.index >= len;

    if (p->context && at_eof)
        return k3c_err_set(fc->ld->err, K3C_E_INVALID, "%s:%zu: %s %s (at end of file)", fc->path,
                           p->context_mark.line + 1, problem, p->context);
    if (p->context)
        return k3c_err_set(fc->ld->err, K3C_E_INVALID, "%s:%zu: %s %s started at line %zu",
                           fc->path, p->problem_mark.line + 1, problem, p->context,
                           p->context_mark.line + 1);
    return k3c_err_set(fc->ld->err, K3C_E_INVALID, "%s:%zu: %s", fc->path, p->problem_mark.line + 1,
                       problem);
}

/* Applies the top-level mapping of data (the file's contents). */
static int
file_parse(struct file_ctx *fc, const char *data, size_t len)
{
    __attribute__((cleanup(parser_cleanup))) yaml_parser_t parser = {0};
    __attribute__((cleanup(document_cleanup))) yaml_document_t doc = {0};
    yaml_node_t *root;

    if (!yaml_parser_initialize(&parser))
        return k3c_err_set(fc->ld->err, K3C_E_INTERNAL, "%s: out of memory", fc->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc))
        return file_syntax_error(fc, &parser, len);
    fc->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (!root)
        return 0; /* empty file */
    if (root->type != YAML_MAPPING_NODE)
        return file_error(fc, root, "expected a mapping of option names to values", NULL);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        if (file_entry(fc, yaml_document_get_node(&doc, p->key),
                       yaml_document_get_node(&doc, p->value)) < 0)
            return -1;
    }
    return 0;
}

/* Reads the file --config/K3C_CONFIG named, else the default one if it exists. */
static enum config_result
load_file(struct loader *ld)
{
    const struct config_option *o = find_long("config", strlen("config"));
    bool explicit = ld->level[o - options] != LEVEL_NONE;
    struct file_ctx fc = {.ld = ld};
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    if (!explicit) {
        const char *def = ld->cfg->default_config_file ? ld->cfg->default_config_file : o->def;

        if (opt_set_text(ld, o, LEVEL_DEFAULT, o->name, def, false) < 0)
            return CONFIG_ERROR;
    }
    fc.path = ld->cfg->config_file;
    if (k3c_read_file(fc.path, &data, &len, ld->err) < 0) {
        if (!explicit && ld->err->sys_errno == ENOENT) {
            k3c_err_clear(ld->err);
            return CONFIG_OK;
        }
        return CONFIG_ERROR;
    }
    return file_parse(&fc, data, len) < 0 ? CONFIG_ERROR : CONFIG_OK;
}

/* ---- defaults and checks ---- */

static void
apply_defaults(struct loader *ld)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct config_option *o = &options[i];
        struct opt_value v = {0};

        if (ld->level[i] != LEVEL_NONE)
            continue;
        if (o->def_fn)
            v.s = o->def_fn();
        else if (!o->def || opt_parse(o, o->name, o->def, &v, ld->err) < 0)
            continue; /* no default, or a table bug that the unit tests catch */
        opt_store(ld, o, LEVEL_DEFAULT, &v, false);
        opt_value_fini(&v);
    }
}

static enum config_result
validate(struct loader *ld)
{
    const struct k3c_config *c = ld->cfg;

    /* etcd refuses an election timeout under five heartbeats (etcdmain/config.go). */
    if ((long long)c->etcd_election_timeout_ms < 5LL * c->etcd_heartbeat_interval_ms) {
        k3c_err_set(ld->err, K3C_E_INVALID,
                    "--etcd-election-timeout (%d ms) must be at least 5 times "
                    "--etcd-heartbeat-interval (%d ms)",
                    c->etcd_election_timeout_ms, c->etcd_heartbeat_interval_ms);
        return CONFIG_USAGE;
    }
    return CONFIG_OK;
}

static enum config_result
load_layers(struct loader *ld, int argc, char **argv, char **envp)
{
    enum config_result r;

    /* Highest layer first: the flags and env name the file, and opt_store
     * keeps what a higher layer set. */
    r = parse_flags(ld, argc, argv);
    if (r == CONFIG_OK)
        r = parse_env(ld, envp);
    if (r == CONFIG_OK)
        r = load_file(ld);
    if (r != CONFIG_OK)
        return r;
    apply_defaults(ld);
    return validate(ld);
}

enum config_result
config_load(struct k3c_config *cfg, enum config_role role, int argc, char **argv, char **envp,
            struct k3c_err *err)
{
    struct loader ld = {.cfg = cfg, .role = role, .err = err};
    enum config_result r;

    k3c_err_clear(err);
    r = load_layers(&ld, argc, argv, envp);
    if (r != CONFIG_OK)
        config_fini(cfg);
    return r;
}

void
config_fini(struct k3c_config *cfg)
{
    const char *def_file = cfg->default_config_file;

    for (size_t i = 0; i < N_OPTIONS; i++) {
        void *field = opt_field(cfg, &options[i]);

        if (options[i].type == OPT_STRING)
            free(*(char **)field);
        else if (options[i].type == OPT_LIST)
            k3c_strv_free(*(char ***)field);
    }
    *cfg = (struct k3c_config){.default_config_file = def_file};
}

/* ---- usage ---- */

/* "  -d, --data-dir DIR" or "      --debug". */
static void
usage_left(const struct config_option *o, char *buf, size_t size)
{
    char shortf[8] = "    ";

    if (o->short_name)
        snprintf(shortf, sizeof(shortf), "-%c, ", o->short_name);
    snprintf(buf, size, "  %s--%s%s%s", shortf, o->name, o->metavar ? " " : "",
             o->metavar ? o->metavar : "");
}

void
config_usage(FILE *out, enum config_role role)
{
    char left[128];
    int width = (int)strlen("  -h, --help");

    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!(options[i].roles & role))
            continue;
        usage_left(&options[i], left, sizeof(left));
        if ((int)strlen(left) > width)
            width = (int)strlen(left);
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct config_option *o = &options[i];
        char env[128];

        if (!(o->roles & role))
            continue;
        usage_left(o, left, sizeof(left));
        env_name(o, env, sizeof(env));
        fprintf(out, "%-*s  %s (env %s%s%s)\n", width, left, o->help, env,
                o->def ? ", default " : "", o->def ? o->def : "");
    }
    fprintf(out, "%-*s  %s\n", width, "  -h, --help", "show this help");
}

enum config_opt_kind
config_option_kind(const char *name, enum config_role role, const char **key)
{
    const struct config_option *o =
        strlen(name) == 1 ? find_short(name[0]) : find_long(name, strlen(name));

    if (!o || !(o->roles & role) || (o->flags & OPT_NOFILE))
        return CONFIG_OPT_UNKNOWN;
    *key = o->name;
    switch (o->type) {
    case OPT_BOOL:
        return CONFIG_OPT_BOOL;
    case OPT_LIST:
        return CONFIG_OPT_LIST;
    default:
        return CONFIG_OPT_VALUE;
    }
}
