/* SPDX-License-Identifier: Apache-2.0
 * agent.h - the node agent (k3c's kubelet): it joins the cluster with the
 * node token, registers its Node and keeps it alive with a Lease in
 * kube-node-lease. Running pods (images, runtime, pod network) builds on
 * image.h, runtime.h and net/net.h. */
#ifndef K3C_AGENT_AGENT_H
#define K3C_AGENT_AGENT_H

#include <stdbool.h>

#include "dns/dns.h"
#include "kubelet/kubelet.h"
#include "base/err.h"

struct agent_config {
    const char *server_url; /* https://<server>:6443 */
    const char *token;      /* K10<ca sha256>::<user>:<secret> */
    const char *data_dir;   /* <data-dir>/agent: certificates, kubeconfig */
    const char *node_name;
    const char *node_ip;
    char *const *labels; /* "k=v", NULL-terminated, may be NULL */
    char *const *taints; /* "k=v:Effect", NULL-terminated, may be NULL */
    bool control_plane;  /* a server's own agent: node-role labels */
    bool etcd_member;    /* ... of a server with embedded etcd: the etcd role label */
    int lease_renew_s;   /* 0: 10 */
    int status_every_s;  /* 0: 300 */
    int kubelet_port;    /* kubelet API (kubelet_server.h): 0: 10250, -1: none */
    /* Running pods: the kubelet settings (data_dir, node_name and node_ip
     * are taken from above). NULL: this node runs no pods. */
    const struct kubelet_config *pods;
    /* The service proxy (net/proxy.h), on nodes that run pods: false
     * (--disable-kube-proxy) removes what an earlier run left. */
    bool proxy;
    /* The pod network across nodes (net/flannel.h), with pods only:
     * "vxlan" (NULL), "host-gw" or "none"; the underlay interface (NULL:
     * the one holding node_ip); the cluster's pod CIDR (NULL: 10.42.0.0/16),
     * also the sources the service proxy does not masquerade. */
    const char *flannel_backend;
    const char *flannel_iface;
    const char *cluster_cidr;
    /* This node's cluster DNS (dns/dns.h, issue #14), with pods only.
     * NULL: none. */
    const struct dns_node_config *dns;
    /* NetworkPolicy enforcement (net/netpol.h), with pods only: false
     * (--disable-network-policy) removes what an earlier run left. */
    bool network_policy;
    /* CDI spec directories (issue #18, cdi/cdi.h), with pods only:
     * colon-separated lists, NULL-terminated; NULL: /etc/cdi, /var/run/cdi. */
    char *const *cdi_spec_dirs;
    /* The service proxy also without pods: a --vip server may hold
     * LoadBalancer addresses (--servicelb-pool) and must answer on them. */
    bool proxy_without_pods;
    /* Where device plugins register (kubelet.sock), with pods only; NULL:
     * <data_dir>/device-plugins. */
    const char *device_plugin_dir;
    /* The netfilter backend (issue #19, net/ipt.h): "auto" (NULL),
     * "nftables" or "iptables". */
    const char *netfilter_backend;
};

struct agent;

/* Checks the configuration (token format, labels, taints). INVALID. */
struct agent *agent_new(const struct agent_config *cfg, struct k3c_err *err);
/* Fetches the CA, checks its hash against the token (nothing is trusted or
 * written before that), obtains the node's client and serving certificates
 * and writes them with a kubeconfig under data_dir. Reuses what an earlier
 * join left. UNAVAILABLE (server unreachable), INVALID (CA hash mismatch),
 * BAD_REQUEST (token refused). */
int agent_join(struct agent *a, struct k3c_err *err);
/* Registers the Node (or updates it after a restart) and starts the
 * heartbeat thread and, when configured, the pod worker (kubelet.h). */
int agent_start(struct agent *a, struct k3c_err *err);
/* Stops the heartbeat and the pod worker; the Node stays (its Lease
 * lapses) and containers keep running. NULL is a no-op. */
void agent_free(struct agent *a);

/* Parses "K10<64 hex>::[user:]secret". out_hash holds 65 bytes, *secret is
 * the caller's to free. INVALID with a message for anything else. */
int agent_token_parse(const char *token, char out_hash[65], char **user, char **secret,
                      struct k3c_err *err);
/* GET server_url/cacerts over unverified TLS; *pem (caller frees) is set
 * only when the body's sha256 is want_hash. UNAVAILABLE (unreachable or
 * 5xx), INVALID (hash mismatch: nothing is trusted; or not a k3c server). */
int agent_fetch_ca(const char *server_url, const char *want_hash, char **pem, struct k3c_err *err);

#endif
