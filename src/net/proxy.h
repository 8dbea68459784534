/* SPDX-License-Identifier: Apache-2.0
 * proxy.h - the service proxy (kube-proxy's job, its nftables mode as the
 * model) in one nftables table of the node's namespace, "ip k3c-proxy":
 *   proxy_rules.c  pure: a Service and its EndpointSlices -> the nft objects
 *                  it needs (chains, sets, map elements), and the diff of two
 *                  such states as one nft script (one atomic transaction);
 *   proxy_nft.c    runs scripts through libnftables;
 *   proxy.c        the agent's runner: informers on Services and
 *                  EndpointSlices, batching, full resync at start and after
 *                  an error, the table removed at stop.
 * kube-system/kube-dns is left out: the DNS part serves the cluster DNS IP
 * on a local dummy interface of every node. */
#ifndef K3C_NET_PROXY_H
#define K3C_NET_PROXY_H

#include <jansson.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "client/client.h"

#define PROXY_TABLE         "k3c-proxy"
#define PROXY_CLUSTER_CIDR  "10.42.0.0/16"
#define PROXY_MASQ_MARK     "0x4000"
#define PROXY_AFFINITY_DEFS 10800 /* sessionAffinityConfig.clientIP.timeoutSeconds */

/* ---------------------------------------------------------------------------
 * Rules (proxy_rules.c), pure. A service's "objects" are a JSON object
 * mapping an object key to its body:
 *   "c:<chain>"          -> the chain's rules, one per line
 *   "s:<set>"            -> the set's declaration ("{ type ... ; }")
 *   "e:<map>\t<key>"     -> the element's value ("goto svc-..."; "" in a set)
 * Chains and sets are named after the service port
 * ("svc-<ns>/<name>/<proto>/<port name or number>"), so they belong to one
 * service; elements may be shared (hairpin pairs) and are reference-counted
 * by the state below. */

struct proxy_rules_config {
    const char *table;        /* NULL: PROXY_TABLE */
    const char *node_name;    /* for internal/externalTrafficPolicy Local */
    const char *cluster_cidr; /* pod sources not masqueraded; NULL: PROXY_CLUSTER_CIDR */
};

/* True for Services the proxy leaves alone: ExternalName, headless, no
 * ClusterIP, kube-system/kube-dns, and (as the API would refuse them)
 * namespaces or names that are not DNS labels: names become part of the
 * nft script. Thread: any (pure). */
bool proxy_service_ignored(const json_t *svc);

/* The model both backends render (nftables here, iptables in proxy_ipt.c):
 * what one Service and its EndpointSlices ask of the node, or NULL for an
 * ignored Service. A new object:
 *   {"cluster_ip": "10.43.0.20", "affinity": <ClientIP timeout s, 0: none>,
 *    "internal_local": bool, "external_local": bool,
 *    "external_ips": [externalIPs and LoadBalancer ingress IPs],
 *    "ports": [{"base": "<ns>/<name>/<proto>/<port name or number>",
 *               "proto": "tcp"|"udp"|"sctp", "port": n, "node_port": n or 0,
 *               "cluster":  [[ip, port], ...]  ClusterIP traffic's endpoints,
 *               "external": [...]  traffic from outside (policy Cluster),
 *               "local":    [...]  this node's (policy Local)}]}
 * Endpoint lists are sorted: ready ones, else serving-terminating ones.
 * Thread: any (pure). */
json_t *proxy_service_model(const struct proxy_rules_config *cfg, const json_t *svc,
                            const json_t *slices);

/* The objects of one Service: svc and its EndpointSlices (an array; may be
 * NULL; default/kubernetes' slice comes from the servers' cluster monitor).
 * Returns a new JSON object (empty for an ignored Service). Thread: any
 * (pure). */
json_t *proxy_service_objects(const struct proxy_rules_config *cfg, const json_t *svc,
                              const json_t *slices);

/* The static part of the table: the maps and sets the services fill, the
 * helper chains and the base chains hooked into nat and filter. Appends
 * "add ..." commands for table to b. Thread: any (pure). */
void proxy_base_script(struct k3c_buf *b, const char *table, const char *cluster_cidr);

/* The applied state: per service key ("ns/name") its objects, and a
 * reference count per element. One owner (the proxy's thread). */
struct proxy_state;

struct proxy_state *proxy_state_new(const char *table, const char *cluster_cidr);
void proxy_state_free(struct proxy_state *st);

/* Appends to the pending transaction what changes service key from its
 * applied objects to objs (borrowed; NULL or empty: the service is gone)
 * and records objs as applied. At most one call per key between two
 * proxy_state_take_script (the runner gathers the keys a batch touched). */
void proxy_state_set(struct proxy_state *st, const char *key, const json_t *objs);

/* The pending transaction as one script (caller free()s), or NULL when
 * nothing changed; the pending buffers are emptied. Order: new sets and
 * chains, chain contents, elements deleted then added, chains and sets
 * removed (flushed first, so no reference is left when they go). */
char *proxy_state_take_script(struct proxy_state *st);

/* Forgets everything (after a failed transaction the kernel's table is
 * unknown) and returns the script that recreates the table from nothing:
 * "add table; delete table;" then the base part. Callers then proxy_state_set
 * every service and append proxy_state_take_script's result. Caller free()s. */
char *proxy_state_reset(struct proxy_state *st);

/* Number of services with objects, and of objects in all. */
size_t proxy_state_services(const struct proxy_state *st);
size_t proxy_state_objects(const struct proxy_state *st);

/* ---------------------------------------------------------------------------
 * nftables (proxy_nft.c), through libnftables. */

struct proxy_nft;

struct proxy_nft *proxy_nft_new(struct k3c_err *err);
void proxy_nft_free(struct proxy_nft *n);
/* Runs script as one transaction. K3C_E_SYSTEM with nft's message. */
int proxy_nft_run(struct proxy_nft *n, const char *script, struct k3c_err *err);
/* Frees the nft context and with it nft's copy of the ruleset (tens of MiB
 * at 1,000 Services; kept between runs, it makes a change ~3x faster), and
 * trims the heap. The next run makes a new one and fetches what it needs. */
void proxy_nft_drop_cache(struct proxy_nft *n);
/* "delete table ip <table>" when it exists; 0 when it did not. */
int proxy_nft_delete_table(struct proxy_nft *n, const char *table, struct k3c_err *err);
/* Whether nf_tables works here (issue #19): adds and deletes an empty
 * table in one transaction. 0, or K3C_E_SYSTEM with nft's message. */
int proxy_nft_probe(struct k3c_err *err);
/* "list table ip <table>" as text (caller free()s), or NULL with err. */
char *proxy_nft_list(struct proxy_nft *n, const char *table, struct k3c_err *err);

/* ---------------------------------------------------------------------------
 * iptables (proxy_ipt.c, issue #19): the same model as K3C- chains through
 * iptables-restore --noflush (net/ipt.h), for kernels without nf_tables. */

struct proxy_ipt_input {
    const json_t *models;     /* service key -> proxy_service_model */
    const char *cluster_cidr; /* NULL: PROXY_CLUSTER_CIDR */
    bool random_fully;        /* MASQUERADE --random-fully (iptables >= 1.6.2) */
    /* iptables-save text of nat and filter: their per-service chains no
     * service has are deleted, the jumps they lack inserted. NULL: neither
     * (a partial sync trusts what the last one made). */
    const char *nat_save, *filter_save;
    const json_t *changed; /* keys whose own chains are rewritten; NULL: all */
    const json_t *applied; /* chains of the last sync (may be NULL); those gone are deleted */
    json_t *chains_out;    /* may be NULL; gets every per-service chain */
};

/* Pure. The restore text (tables nat and filter): the proxy's shared K3C-
 * chains and the changed services' chains rewritten, the chains gone
 * deleted, the missing jumps from the built-in chains inserted. */
void proxy_ipt_render(struct k3c_buf *out, const struct proxy_ipt_input *in);

struct proxy_ipt;

struct proxy_ipt *proxy_ipt_new(const char *cluster_cidr);
void proxy_ipt_free(struct proxy_ipt *x);
/* Records key's model (borrowed; NULL: the service is gone). */
void proxy_ipt_set(struct proxy_ipt *x, const char *key, json_t *model);
/* Forgets every model (before a full sync sets them all again). */
void proxy_ipt_reset(struct proxy_ipt *x);
size_t proxy_ipt_services(const struct proxy_ipt *x);
/* Applies the models when they changed since the last sync (always when
 * full, which also reads iptables-save for stale chains and missing jumps):
 * render, iptables-restore --noflush. */
int proxy_ipt_sync(struct proxy_ipt *x, bool full, struct k3c_err *err);
/* Removes the proxy's K3C- chains and the jumps to them. */
int proxy_ipt_cleanup(struct k3c_err *err);

/* ---------------------------------------------------------------------------
 * The runner (proxy.c). */

struct proxy_config {
    struct http_client *client; /* borrowed (node credentials); must outlive the proxy */
    const char *node_name;
    const char *cluster_cidr; /* NULL: PROXY_CLUSTER_CIDR */
    const char *table;        /* NULL: PROXY_TABLE */
    int batch_ms;             /* changes gathered into one transaction; 0: 20 */
};

struct proxy;

struct proxy *proxy_new(const struct proxy_config *cfg, struct k3c_err *err);
/* Starts the informers and the sync thread. */
int proxy_start(struct proxy *p, struct k3c_err *err);
/* Stops and removes the table. NULL is a no-op. */
void proxy_free(struct proxy *p);

/* Removes what a proxy left (agent started with --disable-kube-proxy,
 * uninstall). */
int proxy_cleanup(const char *table, struct k3c_err *err);

#endif
