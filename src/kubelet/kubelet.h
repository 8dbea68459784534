/* SPDX-License-Identifier: Apache-2.0
 * kubelet.h - the pod worker of the agent: it lists and watches the pods
 * bound to its node (fieldSelector spec.nodeName), and one worker thread per
 * pod brings the pod to its desired state with the image store (image.h),
 * the OCI runtime under conmon (runtime.h) and a CNI pod network
 * (net/net.h), then reports the pod's status. Containers outlive the agent
 * and are adopted again when it restarts. See docs/agent.md. */
#ifndef K3C_KUBELET_H
#define K3C_KUBELET_H

#include "base/err.h"

struct http_client;
struct cdi_registry;
struct deviceplugin;

/* Every pointer is borrowed for kubelet_new (copied). NULL/0 take the
 * defaults named. */
struct kubelet_config {
    const char *data_dir;        /* <data-dir>/agent; required */
    const char *node_name;       /* required */
    const char *node_ip;         /* status.hostIP; NULL: 127.0.0.1 */
    const char *runtime;         /* "runc", "crun", "auto" (NULL) */
    const char *pod_cidr;        /* when the Node has no spec.podCIDR; NULL: 10.42.0.0/24 */
    const char *cni_bridge;      /* NULL: cni0 */
    const char *cni_bin_dir;     /* plugin search path; NULL: /usr/lib/cni:/opt/cni/bin */
    const char *netns_dir;       /* NULL: /run/netns */
    const char *registry_config; /* K3s registries.yaml; NULL: none */
    int crash_backoff_base_ms;   /* CrashLoopBackOff start; 0: 10000 (max 300000) */
    int sync_period_ms;          /* how often a pod re-checks its containers; 0: 1000 */
    int mtu;                     /* pods' eth0 MTU (net/flannel.h); 0: the CNI default */
    /* pods' /etc/resolv.conf (issue #14, podspec_resolv_conf) */
    const char *cluster_dns;    /* NULL/"": ClusterFirst pods get the host's resolv.conf */
    const char *cluster_domain; /* NULL: cluster.local */
    const char *resolv_conf;    /* the host's, for dnsPolicy Default; NULL: /etc/resolv.conf */
    /* Called (any pod-worker thread) before each container of a pod starts:
     * the agent puts the cluster DNS address in place (dns_node_ensure_address).
     * May be NULL. */
    void (*before_pod)(void *ud);
    void *before_pod_ud;
    /* CDI devices handed to containers (issue #18); borrowed, must outlive
     * the kubelet. NULL: extended resources cannot be given out. */
    struct cdi_registry *cdi;
    /* Device plugins (deviceplugin/deviceplugin.h); borrowed like cdi.
     * NULL: none. */
    struct deviceplugin *deviceplugins;
    /* node housekeeping (issue #21): container log rotation, the kubelet's
     * containerLogMaxSize / containerLogMaxFiles (kubelet_logrotate.c) */
    long long container_log_max_bytes; /* 0: 10 MiB */
    int container_log_max_files;       /* 0: 5; at least 2 */
    int container_log_monitor_ms;      /* how often logs are checked; 0: 10000 */
    /* image garbage collection (kubelet_imagegc.c): the kubelet's
     * imageGCHighThresholdPercent / imageGCLowThresholdPercent */
    int image_gc_high_pct;  /* 0: 85 */
    int image_gc_low_pct;   /* 0: 80 */
    int image_gc_period_ms; /* 0: 300000 (the kubelet's 5 minutes) */
    /* eviction under node pressure (kubelet_eviction.h): the kubelet's
     * flags of the same names; borrowed for kubelet_new only */
    const char *eviction_hard; /* NULL: KEVICT_DEFAULT_HARD; "": none */
    const char *eviction_soft, *eviction_soft_grace_period, *eviction_minimum_reclaim;
    const char *eviction_pressure_transition_period; /* NULL: 5m (the kubelet's) */
    int eviction_max_pod_grace_s;                    /* soft evictions; 0: the pod's own */
    int eviction_period_ms;                          /* how often; 0: 10000 (the kubelet's) */
};

struct kubelet;

/* Checks the configuration; api (the node's credentials) is borrowed and
 * must outlive the kubelet. INVALID. */
struct kubelet *kubelet_new(const struct kubelet_config *cfg, struct http_client *api,
                            struct k3c_err *err);
/* Starts the pod manager thread: it opens the image store (importing the
 * tarballs in <data_dir>/images), selects the runtime, adopts the containers
 * it finds, then lists and watches the node's pods. Setup failures are
 * logged by that thread (pods then stay Pending), not returned. */
int kubelet_start(struct kubelet *k, struct k3c_err *err);
/* Stops the threads; containers keep running. NULL is a no-op. */
void kubelet_free(struct kubelet *k);

#endif
