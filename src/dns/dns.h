/* SPDX-License-Identifier: Apache-2.0
 * dns.h - cluster DNS answered by each agent itself (issue #14): the wire
 * format (dns_msg.c), the cluster records from Services, EndpointSlices and
 * Namespaces with CoreDNS's kubernetes-plugin semantics (dns_zone.c), the
 * UDP+TCP server loop (dns_server.c), upstream forwarding with a bounded
 * cache (dns_forward.c), resolv.conf and hosts files (dns_resolv.c,
 * dns_hosts.c), and the agent's glue: informers and the k3c-dns0 address
 * (dns_node.c). See docs/dns.md. */
#ifndef K3C_DNS_DNS_H
#define K3C_DNS_DNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ---------------------------------------------------------------------------
 * Wire format (RFC 1035, RFC 6891 EDNS0). */

enum {
    DNS_TYPE_A = 1,
    DNS_TYPE_NS = 2,
    DNS_TYPE_CNAME = 5,
    DNS_TYPE_SOA = 6,
    DNS_TYPE_PTR = 12,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_SRV = 33,
    DNS_TYPE_OPT = 41,
    DNS_TYPE_ANY = 255,
    DNS_CLASS_IN = 1,
};

enum {
    DNS_RCODE_NOERROR = 0,
    DNS_RCODE_FORMERR = 1,
    DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3,
    DNS_RCODE_NOTIMP = 4,
    DNS_RCODE_REFUSED = 5,
};

#define DNS_HEADER_LEN   12
#define DNS_NAME_MAX     255 /* wire length, root label included */
#define DNS_UDP_MIN      512
#define DNS_EDNS_UDP_MAX 1232 /* what we advertise and accept (DNS flag day 2020) */
#define DNS_MSG_MAX      65535

/* A domain name in uncompressed wire form plus where each label starts. */
struct dns_name {
    uint8_t wire[DNS_NAME_MAX];
    uint8_t len;      /* bytes in wire, the root label included */
    uint8_t n_labels; /* not counting the root */
    uint8_t label_off[128];
};

/* A parsed query: the header, its one question and its EDNS0 OPT record. */
struct dns_query {
    uint16_t id;
    uint16_t flags;
    struct dns_name qname; /* as received (case kept) */
    uint16_t qtype, qclass;
    size_t question_end; /* offset just past the question */
    bool has_edns;
    bool edns_do;     /* DNSSEC OK bit */
    uint16_t udp_max; /* the largest UDP answer the client takes */
};

/* Parses a query. Returns 0, or a DNS rcode to answer (FORMERR, NOTIMP)
 * when the header could be read (id and flags are then set), or -1 when the
 * message is too short or is itself a response: drop it. Never reads past
 * len. Thread: any. */
int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q);

/* Reads the (possibly compressed) name at *off into out and moves *off
 * past it. -1 on a malformed name (loops, overlong, out of bounds). */
int dns_name_read(const uint8_t *msg, size_t len, size_t *off, struct dns_name *out);
/* Sets out from a presentation name ("a.b.c", trailing dot optional).
 * -1 if a label is empty or longer than 63 or the name longer than 255. */
int dns_name_from_str(struct dns_name *out, const char *s);
/* Writes the name as "a.b.c" (no trailing dot; "." for the root) into buf,
 * escaping bytes outside [A-Za-z0-9_-] as \DDD. */
void dns_name_to_str(const struct dns_name *n, char *buf, size_t cap);
/* Case-insensitive equality of two names. */
bool dns_name_equal(const struct dns_name *a, const struct dns_name *b);

/* A response under construction, with name compression. */
struct dns_builder {
    uint8_t *buf;
    size_t cap, len;
    uint16_t count[4]; /* answer/authority/additional by section, question */
    bool overflow;     /* something did not fit: the message is unusable */
    uint16_t n_ptrs;
    uint16_t ptrs[64]; /* offsets of names written, for compression */
};

enum dns_section { DNS_SEC_ANSWER, DNS_SEC_AUTHORITY, DNS_SEC_ADDITIONAL };

/* Starts a response to q in buf: header (QR, AA as given, RD copied, RA)
 * and the question. */
void dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap, const struct dns_query *q,
                      bool authoritative);
void dns_builder_rcode(struct dns_builder *b, int rcode);
/* Appends a record; rdata names given as dns_name are compressed. */
void dns_builder_a(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                   uint32_t ttl, const uint8_t addr[4]);
void dns_builder_aaaa(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                      uint32_t ttl, const uint8_t addr[16]);
/* CNAME, PTR and NS: one name as rdata. */
void dns_builder_name_rr(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                         uint16_t type, uint32_t ttl, const struct dns_name *target);
void dns_builder_srv(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                     uint32_t ttl, uint16_t prio, uint16_t weight, uint16_t port,
                     const struct dns_name *target);
void dns_builder_txt(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                     uint32_t ttl, const char *text);
void dns_builder_soa(struct dns_builder *b, enum dns_section s, const struct dns_name *zone,
                     uint32_t ttl, uint32_t serial, uint32_t minimum);
/* The EDNS0 OPT pseudo-record (additional section), advertising udp_max. */
void dns_builder_opt(struct dns_builder *b, uint16_t udp_max);
/* Finishes the header counts; returns the length or 0 on overflow. */
size_t dns_builder_finish(struct dns_builder *b);

/* A bare answer to q: header, question and, if q had one, OPT. Used for
 * errors (SERVFAIL, FORMERR) and for truncated UDP answers (tc). Returns the
 * length written to out (cap >= 512). */
size_t dns_reply_error(const struct dns_query *q, int rcode, bool tc, uint8_t *out, size_t cap);

/* Walks the records of a response: calls fn for each record outside the
 * OPT with its section, type, TTL offset in msg and rdata. Returns the
 * rcode, or -1 on a malformed message. Thread: any. */
typedef void (*dns_rr_fn)(void *ud, enum dns_section s, uint16_t type, size_t ttl_off,
                          const uint8_t *msg, size_t rdata_off, uint16_t rdlen);
int dns_msg_walk(const uint8_t *msg, size_t len, dns_rr_fn fn, void *ud);

/* Writes q as a query message (RD, and an OPT record when q has EDNS) into
 * out; returns its length (0 when it does not fit). */
size_t dns_query_encode(const struct dns_query *q, uint8_t *out, size_t cap);
/* True when resp answers with exactly one CNAME record and NOERROR (an
 * ExternalName answer to chase): its target and TTL. */
bool dns_answer_is_cname(const uint8_t *resp, size_t len, struct dns_name *target, uint32_t *ttl);
/* The answer to q (asked for a name whose CNAME points to target): the
 * CNAME, then the CNAME and address records of resp's answer section (an
 * answer for target), as CoreDNS's ExternalName answers read. Returns the
 * length, 0 when resp is malformed or nothing fits. */
size_t dns_reply_cname_chain(const struct dns_query *q, const struct dns_name *target, uint32_t ttl,
                             const uint8_t *resp, size_t resp_len, uint8_t *out, size_t cap);

/* ---------------------------------------------------------------------------
 * The cluster zone: records of Services, EndpointSlices and Namespaces, as
 * CoreDNS's kubernetes plugin serves them ("pods insecure", TTL 5). */

#define DNS_CLUSTER_TTL 5

struct dns_zone;

/* domain: the cluster domain ("cluster.local"); dns_ip: the cluster DNS
 * address (for ns.dns.<domain>), may be NULL. INVALID for a bad domain. */
struct dns_zone *dns_zone_new(const char *domain, const char *dns_ip, struct k3c_err *err);
void dns_zone_free(struct dns_zone *z);

/* Thread: any (a write lock). Objects are borrowed; what is kept is copied.
 * Malformed objects are ignored as far as they are malformed. */
void dns_zone_service_upsert(struct dns_zone *z, const json_t *svc);
void dns_zone_service_delete(struct dns_zone *z, const json_t *svc);
void dns_zone_slice_upsert(struct dns_zone *z, const json_t *slice);
void dns_zone_slice_delete(struct dns_zone *z, const json_t *slice);
void dns_zone_namespace_upsert(struct dns_zone *z, const json_t *ns);
void dns_zone_namespace_delete(struct dns_zone *z, const json_t *ns);
/* Nodes: "<node name>" answers its InternalIP(s), TTL 60, as K3s's
 * NodeHosts does (a one-label name, outside the cluster domain). */
void dns_zone_node_upsert(struct dns_zone *z, const json_t *node);
void dns_zone_node_delete(struct dns_zone *z, const json_t *node);
/* Until every source is synced the zone answers SERVFAIL. */
void dns_zone_set_synced(struct dns_zone *z, bool synced);

/* Answers q if the name belongs to the cluster zone or is a node's name:
 * writes a complete response into out (cap bytes, >= 512) and returns its
 * length. Returns 0 when the name is not the zone's (or a reverse name the
 * zone does not know: CoreDNS's fallthrough), so the caller forwards it.
 * Thread: any (a read lock). */
size_t dns_zone_answer(struct dns_zone *z, const struct dns_query *q, uint8_t *out, size_t cap);

/* Bytes the zone holds (for the benchmark). Thread: any. */
size_t dns_zone_memory(struct dns_zone *z);

/* ---------------------------------------------------------------------------
 * resolv.conf (dns_resolv.c): the parts a resolver and the kubelet use. */

struct dns_resolv {
    char **nameservers; /* NULL-terminated */
    char **search;      /* NULL-terminated */
    char **options;     /* NULL-terminated, e.g. "ndots:5" */
};

/* Parses resolv.conf text (last "search"/"domain" wins, as glibc does).
 * Never fails; unknown lines are skipped. */
void dns_resolv_parse(const char *text, struct dns_resolv *out);
/* Reads a file; NOT_FOUND/SYSTEM when it cannot be read. */
int dns_resolv_load(const char *path, struct dns_resolv *out, struct k3c_err *err);
void dns_resolv_fini(struct dns_resolv *r);
/* True for 127.0.0.0/8 and ::1 (stub resolvers such as systemd-resolved's
 * 127.0.0.53, unreachable from pods and from the DNS's own forwarding). */
bool dns_addr_is_loopback(const char *ip);

/* ---------------------------------------------------------------------------
 * The server (dns_server.c, dns_forward.c, dns_hosts.c). */

struct dns_server_config {
    const char *listen_ip; /* "10.43.0.10"; required */
    int port;              /* 0: 53; -1: any free port (tests, benchmarks) */
    struct dns_zone *zone; /* borrowed; may be NULL (forwarding only) */
    /* Upstreams: the nameservers of this file without loopback ones; NULL:
     * /etc/resolv.conf (then /run/systemd/resolve/resolv.conf when it lists
     * only stubs). None left: 8.8.8.8, as K3s does. */
    const char *resolv_conf;
    /* "domain=ip[:port][,ip[:port]...]" rules; "." replaces the default
     * upstreams. Loopback addresses are allowed here. May be NULL. */
    char *const *forward;
    const char *hosts_file;  /* /etc/hosts format, answered first (NodeHosts); may be NULL */
    int cache_entries;       /* 0: 10000 */
    int upstream_timeout_ms; /* per try; 0: 2000 */
};

struct dns_server;

/* Reads the configuration and binds the UDP and TCP sockets.
 * INVALID (bad rule or address), SYSTEM (bind). */
struct dns_server *dns_server_new(const struct dns_server_config *cfg, struct k3c_err *err);
/* Starts the loop thread. */
int dns_server_start(struct dns_server *s, struct k3c_err *err);
/* The port bound (useful with port -1). */
int dns_server_port(const struct dns_server *s);
/* Stops the thread and frees. NULL ok. */
void dns_server_free(struct dns_server *s);

/* ---------------------------------------------------------------------------
 * The agent's cluster DNS (dns_node.c): informers on Services,
 * EndpointSlices, Namespaces and Nodes feed a zone; the cluster DNS address goes
 * on a dummy interface of the node's network namespace; a server listens
 * there on port 53. */

struct http_client;

struct dns_node_config {
    const char *cluster_dns;    /* required */
    const char *cluster_domain; /* NULL: cluster.local */
    const char *resolv_conf;    /* NULL: /etc/resolv.conf */
    char *const *forward;       /* see dns_server_config */
    const char *hosts_file;
    const char *interface; /* NULL: k3c-dns0 */
    int port;              /* 0: 53 */
};

struct dns_node;

/* A copy of cfg that owns its strings (for a caller that starts later). */
struct dns_node_config *dns_node_config_dup(const struct dns_node_config *cfg);
void dns_node_config_free(struct dns_node_config *cfg);

/* Binds (IP_FREEBIND: the address need not exist yet), starts the
 * informers and the server. The address itself is added by
 * dns_node_ensure_address, which the kubelet calls before a pod starts:
 * a node that never runs a pod never changes its network namespace. api is
 * borrowed and must outlive the node DNS. */
struct dns_node *dns_node_start(const struct dns_node_config *cfg, struct http_client *api,
                                struct k3c_err *err);
/* Puts the cluster DNS address on k3c-dns0 (or lo) once; later calls
 * return at once. SYSTEM on a netlink failure (retried on the next call).
 * Thread: any. */
int dns_node_ensure_address(struct dns_node *d, struct k3c_err *err);
/* Stops the informers and the server; the address stays (pods keep
 * using it once the agent is back). NULL ok. */
void dns_node_stop(struct dns_node *d);

#endif
