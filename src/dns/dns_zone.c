/* SPDX-License-Identifier: Apache-2.0
 * dns_zone.c - the cluster zone: Services, EndpointSlices and Namespaces
 * kept in compact form (binary addresses, ports, endpoint hostnames) and
 * answered with the semantics of CoreDNS's kubernetes plugin as K3s
 * configures it ("pods insecure", "fallthrough in-addr.arpa ip6.arpa",
 * TTL 5): parse.go's name layout, findServices/findPods for NXDOMAIN vs
 * NODATA. Writers (the informer threads) take the write lock; the server
 * loop answers under the read lock. */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

/* ---------------------------------------------------------------------------
 * A small chained hash map with string keys. */

struct zmap_ent {
    struct zmap_ent *next;
    char *key;
    void *val;
};

struct zmap {
    struct zmap_ent **b;
    size_t nb, n;
};

static uint32_t
str_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void *
zmap_get(const struct zmap *m, const char *key)
{
    if (!m->nb)
        return NULL;
    for (struct zmap_ent *e = m->b[str_hash(key) & (m->nb - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

static void
zmap_grow(struct zmap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    struct zmap_ent **b = k3c_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < m->nb; i++) {
        struct zmap_ent *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t h = str_hash(e->key) & (nb - 1);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Sets key to val (key copied); the key must not be present. */
static void
zmap_put(struct zmap *m, const char *key, void *val)
{
    if (m->n + 1 > m->nb)
        zmap_grow(m);
    struct zmap_ent *e = k3c_xmalloc(sizeof(*e));
    size_t h = str_hash(key) & (m->nb - 1);
    e->key = k3c_xstrdup(key);
    e->val = val;
    e->next = m->b[h];
    m->b[h] = e;
    m->n++;
}

static void *
zmap_del(struct zmap *m, const char *key)
{
    if (!m->nb)
        return NULL;
    for (struct zmap_ent **pe = &m->b[str_hash(key) & (m->nb - 1)]; *pe; pe = &(*pe)->next) {
        struct zmap_ent *e = *pe;
        if (strcmp(e->key, key) != 0)
            continue;
        void *v = e->val;
        *pe = e->next;
        free(e->key);
        free(e);
        m->n--;
        return v;
    }
    return NULL;
}

static void
zmap_fini(struct zmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        struct zmap_ent *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------------------
 * The records. */

struct zaddr {
    uint8_t family; /* 4 or 6; 0: none */
    uint8_t ip[16];
};

enum { PROTO_TCP, PROTO_UDP, PROTO_SCTP };

struct zport {
    char *name;   /* "" when unnamed */
    int32_t port; /* -1: an EndpointSlice without ports (CoreDNS's placeholder) */
    uint8_t proto;
};

struct zep {
    struct zaddr addr;
    char *hostname; /* NULL: the dashed address */
};

struct zsvc;

struct zslice {
    char *key; /* ns/slice name */
    struct zsvc *svc;
    struct zslice *next; /* in svc->slices */
    struct zep *eps;
    size_t n_eps;
    struct zport *ports;
    size_t n_ports;
};

/* A Service, or the EndpointSlices of a Service not seen yet. */
struct zsvc {
    char *ns, *name;
    bool present; /* the Service object exists */
    bool headless;
    char *external_name; /* type ExternalName */
    struct zaddr ips[2];
    struct zport *ports;
    size_t n_ports;
    struct zslice *slices;
};

struct dns_zone {
    pthread_rwlock_t lock;
    char *domain;         /* lowercase, no trailing dot */
    struct dns_name zone; /* the same as a name */
    struct zaddr dns_ip;  /* for ns.dns.<domain> */
    bool synced;
    uint32_t serial;
    struct zmap services;   /* "ns/name" -> struct zsvc */
    struct zmap slices;     /* "ns/name" -> struct zslice */
    struct zmap namespaces; /* name -> (void *)1 */
    struct zmap nodes;      /* lowercase name -> struct znode */
};

struct znode {
    struct zaddr v4, v6; /* InternalIP of each family; family 0: none */
};

static bool
addr_parse(const char *s, struct zaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return false;
    if (inet_pton(AF_INET, s, out->ip) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->ip) == 1) {
        out->family = 6;
        return true;
    }
    return false;
}

struct dns_zone *
dns_zone_new(const char *domain, const char *dns_ip, struct k3c_err *err)
{
    struct dns_zone *z;
    struct dns_name n;

    if (!domain || !*domain || dns_name_from_str(&n, domain) < 0 || n.n_labels == 0) {
        k3c_err_set(err, K3C_E_INVALID, "cluster domain '%s' is not a domain name",
                    domain ? domain : "");
        return NULL;
    }
    z = k3c_xcalloc(1, sizeof(*z));
    pthread_rwlock_init(&z->lock, NULL);
    z->domain = k3c_xstrdup(domain);
    for (char *p = z->domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t l = strlen(z->domain);
    if (l && z->domain[l - 1] == '.')
        z->domain[l - 1] = 0;
    dns_name_from_str(&z->zone, z->domain);
    addr_parse(dns_ip, &z->dns_ip);
    z->serial = (uint32_t)time(NULL);
    return z;
}

static void
ports_free(struct zport *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].name);
    free(p);
}

static void
slice_free(void *v)
{
    struct zslice *sl = v;

    for (size_t i = 0; i < sl->n_eps; i++)
        free(sl->eps[i].hostname);
    free(sl->eps);
    ports_free(sl->ports, sl->n_ports);
    free(sl->key);
    free(sl);
}

static void
svc_clear(struct zsvc *s)
{
    ports_free(s->ports, s->n_ports);
    free(s->external_name);
    s->ports = NULL;
    s->n_ports = 0;
    s->external_name = NULL;
    s->headless = false;
    memset(s->ips, 0, sizeof(s->ips));
}

static void
svc_free(void *v)
{
    struct zsvc *s = v;

    svc_clear(s);
    free(s->ns);
    free(s->name);
    free(s);
}

void
dns_zone_free(struct dns_zone *z)
{
    if (!z)
        return;
    zmap_fini(&z->slices, slice_free);
    zmap_fini(&z->services, svc_free);
    zmap_fini(&z->namespaces, NULL);
    zmap_fini(&z->nodes, free);
    pthread_rwlock_destroy(&z->lock);
    free(z->domain);
    free(z);
}

static const char *
str_at(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static uint8_t
proto_parse(const char *p)
{
    if (p && strcasecmp(p, "UDP") == 0)
        return PROTO_UDP;
    if (p && strcasecmp(p, "SCTP") == 0)
        return PROTO_SCTP;
    return PROTO_TCP;
}

static struct zport *
ports_parse(const json_t *arr, size_t *n_out)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0, k = 0;
    struct zport *p = n ? k3c_xcalloc(n, sizeof(*p)) : NULL;
    const json_t *it;
    size_t i;

    json_array_foreach(arr, i, it)
    {
        json_t *port = json_object_get(it, "port");
        if (!json_is_integer(port))
            continue;
        const char *name = str_at(it, "name");
        p[k].name = k3c_xstrdup(name ? name : "");
        p[k].port = (int32_t)json_integer_value(port);
        p[k].proto = proto_parse(str_at(it, "protocol"));
        k++;
    }
    *n_out = k;
    return p;
}

static void
key_of(const json_t *obj, char *key, size_t cap, const char **ns, const char **name)
{
    const json_t *md = json_object_get(obj, "metadata");
    *ns = str_at(md, "namespace");
    *name = str_at(md, "name");
    snprintf(key, cap, "%s/%s", *ns ? *ns : "", *name ? *name : "");
}

/* The entry of Service ns/name, made when missing. Write lock held. */
static struct zsvc *
svc_get_or_add(struct dns_zone *z, const char *key, const char *ns, const char *name)
{
    struct zsvc *s = zmap_get(&z->services, key);

    if (s)
        return s;
    s = k3c_xcalloc(1, sizeof(*s));
    s->ns = k3c_xstrdup(ns);
    s->name = k3c_xstrdup(name);
    zmap_put(&z->services, key, s);
    return s;
}

/* Drops an entry that has neither a Service nor slices. Write lock held. */
static void
svc_gc(struct dns_zone *z, struct zsvc *s)
{
    char key[512];

    if (s->present || s->slices)
        return;
    snprintf(key, sizeof(key), "%s/%s", s->ns, s->name);
    zmap_del(&z->services, key);
    svc_free(s);
}

void
dns_zone_service_upsert(struct dns_zone *z, const json_t *svc)
{
    const json_t *spec = json_object_get(svc, "spec");
    const char *ns, *name, *type = str_at(spec, "type");
    char key[512];

    key_of(svc, key, sizeof(key), &ns, &name);
    if (!ns || !name)
        return;
    pthread_rwlock_wrlock(&z->lock);
    struct zsvc *s = svc_get_or_add(z, key, ns, name);
    svc_clear(s);
    s->present = true;
    if (type && strcmp(type, "ExternalName") == 0) {
        const char *ext = str_at(spec, "externalName");
        s->external_name = k3c_xstrdup(ext ? ext : "");
    }
    const json_t *ips = json_object_get(spec, "clusterIPs");
    const char *cip = str_at(spec, "clusterIP");
    if (json_array_size(ips) == 0 && cip) {
        addr_parse(cip, &s->ips[0]);
    } else {
        for (size_t i = 0, k = 0; i < json_array_size(ips) && k < 2; i++)
            if (addr_parse(json_string_value(json_array_get(ips, i)), &s->ips[k]))
                k++;
    }
    s->headless = !s->external_name && cip && strcasecmp(cip, "None") == 0;
    s->ports = ports_parse(json_object_get(spec, "ports"), &s->n_ports);
    z->serial++;
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_service_delete(struct dns_zone *z, const json_t *svc)
{
    const char *ns, *name;
    char key[512];

    key_of(svc, key, sizeof(key), &ns, &name);
    pthread_rwlock_wrlock(&z->lock);
    struct zsvc *s = zmap_get(&z->services, key);
    if (s) {
        svc_clear(s);
        s->present = false;
        svc_gc(z, s);
        z->serial++;
    }
    pthread_rwlock_unlock(&z->lock);
}

/* Unlinks slice sl from its Service entry. Write lock held. */
static void
slice_unlink(struct dns_zone *z, struct zslice *sl)
{
    struct zsvc *s = sl->svc;

    for (struct zslice **p = &s->slices; *p; p = &(*p)->next) {
        if (*p == sl) {
            *p = sl->next;
            break;
        }
    }
    svc_gc(z, s);
}

/* Ready endpoints only, as CoreDNS (a missing ready condition counts as
 * ready, per the EndpointSlice API). */
static struct zep *
endpoints_parse(const json_t *arr, size_t *n_out)
{
    size_t n = 0, cap = 0;
    struct zep *eps = NULL;
    const json_t *it;
    size_t i;

    json_array_foreach(arr, i, it)
    {
        const json_t *ready = json_object_get(json_object_get(it, "conditions"), "ready");
        if (json_is_false(ready))
            continue;
        const char *host = str_at(it, "hostname");
        const json_t *addrs = json_object_get(it, "addresses");
        for (size_t k = 0; k < json_array_size(addrs); k++) {
            struct zaddr a;
            if (!addr_parse(json_string_value(json_array_get(addrs, k)), &a))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                eps = k3c_xrealloc(eps, cap * sizeof(*eps));
            }
            eps[n].addr = a;
            eps[n].hostname = host && *host ? k3c_xstrdup(host) : NULL;
            n++;
        }
    }
    if (n && n < cap)
        eps = k3c_xrealloc(eps, n * sizeof(*eps));
    *n_out = n;
    return eps;
}

void
dns_zone_slice_upsert(struct dns_zone *z, const json_t *slice)
{
    const json_t *labels = json_object_get(json_object_get(slice, "metadata"), "labels");
    const char *svc_name = str_at(labels, "kubernetes.io/service-name");
    const char *ns, *name;
    char key[512], skey[512];

    key_of(slice, key, sizeof(key), &ns, &name);
    if (!ns || !name)
        return;
    struct zslice *sl = k3c_xcalloc(1, sizeof(*sl));
    sl->key = k3c_xstrdup(key);
    sl->eps = endpoints_parse(json_object_get(slice, "endpoints"), &sl->n_eps);
    sl->ports = ports_parse(json_object_get(slice, "ports"), &sl->n_ports);
    if (sl->n_ports == 0) {
        sl->ports = k3c_xcalloc(1, sizeof(*sl->ports));
        sl->ports[0] = (struct zport){.name = k3c_xstrdup(""), .port = -1};
        sl->n_ports = 1;
    }
    pthread_rwlock_wrlock(&z->lock);
    struct zslice *old = zmap_del(&z->slices, key);
    if (old) {
        slice_unlink(z, old);
        slice_free(old);
    }
    if (svc_name) {
        snprintf(skey, sizeof(skey), "%s/%s", ns, svc_name);
        struct zsvc *s = svc_get_or_add(z, skey, ns, svc_name);
        sl->svc = s;
        sl->next = s->slices;
        s->slices = sl;
        zmap_put(&z->slices, key, sl);
        sl = NULL;
    }
    z->serial++;
    pthread_rwlock_unlock(&z->lock);
    if (sl)
        slice_free(sl);
}

void
dns_zone_slice_delete(struct dns_zone *z, const json_t *slice)
{
    const char *ns, *name;
    char key[512];

    key_of(slice, key, sizeof(key), &ns, &name);
    pthread_rwlock_wrlock(&z->lock);
    struct zslice *sl = zmap_del(&z->slices, key);
    if (sl) {
        slice_unlink(z, sl);
        slice_free(sl);
        z->serial++;
    }
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_namespace_upsert(struct dns_zone *z, const json_t *ns)
{
    const char *name = str_at(json_object_get(ns, "metadata"), "name");

    if (!name)
        return;
    pthread_rwlock_wrlock(&z->lock);
    if (!zmap_get(&z->namespaces, name))
        zmap_put(&z->namespaces, name, (void *)1);
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_namespace_delete(struct dns_zone *z, const json_t *ns)
{
    const char *name = str_at(json_object_get(ns, "metadata"), "name");

    if (!name)
        return;
    pthread_rwlock_wrlock(&z->lock);
    zmap_del(&z->namespaces, name);
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_node_upsert(struct dns_zone *z, const json_t *node)
{
    const char *name = str_at(json_object_get(node, "metadata"), "name");
    const json_t *addrs = json_object_get(json_object_get(node, "status"), "addresses");
    struct znode n = {0};
    char key[256];
    size_t i;
    const json_t *a;

    if (!name || strlen(name) >= sizeof(key))
        return;
    for (i = 0; name[i]; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[i] = 0;
    json_array_foreach(addrs, i, a)
    {
        struct zaddr ad;
        const char *type = str_at(a, "type");
        if (!type || strcmp(type, "InternalIP") != 0 || !addr_parse(str_at(a, "address"), &ad))
            continue;
        struct zaddr *slot = ad.family == 4 ? &n.v4 : &n.v6;
        if (!slot->family)
            *slot = ad;
    }
    pthread_rwlock_wrlock(&z->lock);
    struct znode *cur = zmap_get(&z->nodes, key);
    if (!cur) {
        cur = k3c_xmalloc(sizeof(*cur));
        zmap_put(&z->nodes, key, cur);
    }
    *cur = n;
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_node_delete(struct dns_zone *z, const json_t *node)
{
    const char *name = str_at(json_object_get(node, "metadata"), "name");
    char key[256];
    size_t i;

    if (!name || strlen(name) >= sizeof(key))
        return;
    for (i = 0; name[i]; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[i] = 0;
    pthread_rwlock_wrlock(&z->lock);
    free(zmap_del(&z->nodes, key));
    pthread_rwlock_unlock(&z->lock);
}

void
dns_zone_set_synced(struct dns_zone *z, bool synced)
{
    pthread_rwlock_wrlock(&z->lock);
    z->synced = synced;
    pthread_rwlock_unlock(&z->lock);
}

size_t
dns_zone_memory(struct dns_zone *z)
{
    size_t total = sizeof(*z);

    pthread_rwlock_rdlock(&z->lock);
    total += (z->services.nb + z->slices.nb + z->namespaces.nb) * sizeof(void *);
    total += (z->services.n + z->slices.n + z->namespaces.n) * (sizeof(struct zmap_ent) + 32);
    for (size_t i = 0; i < z->services.nb; i++) {
        for (struct zmap_ent *e = z->services.b[i]; e; e = e->next) {
            struct zsvc *s = e->val;
            total += sizeof(*s) + strlen(s->ns) + strlen(s->name) + 2 +
                     s->n_ports * (sizeof(struct zport) + 16);
            for (struct zslice *sl = s->slices; sl; sl = sl->next) {
                total += sizeof(*sl) + strlen(sl->key) + 1 + sl->n_eps * sizeof(struct zep) +
                         sl->n_ports * (sizeof(struct zport) + 16);
                for (size_t k = 0; k < sl->n_eps; k++)
                    total += sl->eps[k].hostname ? strlen(sl->eps[k].hostname) + 1 : 0;
            }
        }
    }
    pthread_rwlock_unlock(&z->lock);
    return total;
}

/* ---------------------------------------------------------------------------
 * Answers. */

/* A label of the query, lowercased and NUL-terminated; false if it holds a
 * byte no Kubernetes name has (such a name cannot exist: NXDOMAIN). */
static bool
label_str(const struct dns_name *n, int i, char out[64])
{
    const uint8_t *l = n->wire + n->label_off[i];
    bool ok = true;

    for (int k = 0; k < l[0]; k++) {
        unsigned char c = (unsigned char)tolower(l[1 + k]);
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
            ok = false;
        out[k] = (char)c;
    }
    out[l[0]] = 0;
    return ok && l[0] > 0;
}

/* True if the last n labels of name equal the zone's labels. */
static bool
has_suffix(const struct dns_name *name, const struct dns_name *zone)
{
    if (name->n_labels < zone->n_labels)
        return false;
    size_t start = name->label_off[name->n_labels - zone->n_labels];
    if (name->len - start != zone->len)
        return false;
    for (size_t k = 0; k < zone->len; k++)
        if (tolower(name->wire[start + k]) != zone->wire[k])
            return false;
    return true;
}

/* One answer candidate, CoreDNS's msg.Service. */
struct zrec {
    const struct zaddr *addr; /* NULL for ExternalName */
    int32_t port;
    const char *endpoint; /* hostname of an endpoint record, or NULL */
    struct zaddr dashed;  /* when endpoint is the dashed address */
    bool dashed_host;
};

struct zreq {
    char port[64], proto[64], endpoint[64], service[64], ns[64];
    bool has_port, has_endpoint;
};

struct zans {
    struct dns_zone *z;
    const struct dns_query *q;
    struct dns_builder b;
    struct zrec recs[512];
    size_t n;
    const struct zsvc *svc;
};

static void
dashed(const struct zaddr *a, char *out, size_t cap)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, buf, sizeof(buf));
    for (char *p = buf; *p; p++)
        if (*p == '.' || *p == ':')
            *p = '-';
    snprintf(out, cap, "%s", buf);
}

static bool
port_matches(const struct zreq *r, const struct zport *p)
{
    static const char *const protos[] = {"tcp", "udp", "sctp"};

    if (!r->has_port)
        return true;
    return strcasecmp(r->port, p->name) == 0 && strcasecmp(r->proto, protos[p->proto]) == 0;
}

static void
add_rec(struct zans *a, const struct zaddr *addr, int32_t port, const char *endpoint,
        bool dashed_host)
{
    if (a->n >= sizeof(a->recs) / sizeof(a->recs[0]))
        return;
    a->recs[a->n++] =
        (struct zrec){.addr = addr, .port = port, .endpoint = endpoint, .dashed_host = dashed_host};
}

/* CoreDNS findServices: the records of one Service for request r. Returns
 * false for "no items" (NXDOMAIN). */
static bool
find_service(struct zans *a, const struct zsvc *s, const struct zreq *r)
{
    bool found = false;

    if (!s || !s->present)
        return false;
    a->svc = s;
    if (s->external_name) {
        if (r->has_port || r->has_endpoint)
            return false;
        add_rec(a, NULL, 0, NULL, false);
        return true;
    }
    if (s->headless || r->has_endpoint) {
        for (const struct zslice *sl = s->slices; sl; sl = sl->next) {
            for (size_t i = 0; i < sl->n_eps; i++) {
                const struct zep *ep = &sl->eps[i];
                if (r->has_endpoint) {
                    char d[64];
                    if (!ep->hostname)
                        dashed(&ep->addr, d, sizeof(d));
                    if (strcasecmp(r->endpoint, ep->hostname ? ep->hostname : d) != 0)
                        continue;
                }
                for (size_t k = 0; k < sl->n_ports; k++) {
                    if (!port_matches(r, &sl->ports[k]))
                        continue;
                    add_rec(a, &ep->addr, sl->ports[k].port, ep->hostname, !ep->hostname);
                    found = true;
                }
            }
        }
        return found;
    }
    for (size_t k = 0; k < s->n_ports; k++) {
        if (!port_matches(r, &s->ports[k]))
            continue;
        found = true;
        for (int i = 0; i < 2; i++)
            if (s->ips[i].family)
                add_rec(a, &s->ips[i], s->ports[k].port, NULL, false);
    }
    return found;
}

static size_t
finish(struct zans *a)
{
    if (a->q->has_edns)
        dns_builder_opt(&a->b, DNS_EDNS_UDP_MAX);
    size_t n = dns_builder_finish(&a->b);
    if (n == 0) /* larger than the buffer: the client retries over TCP */
        return dns_reply_error(a->q, DNS_RCODE_NOERROR, true, a->b.buf, a->b.cap);
    return n;
}

/* NXDOMAIN or NODATA: the zone's SOA in the authority section. */
static size_t
negative(struct zans *a, int rcode)
{
    dns_builder_rcode(&a->b, rcode);
    dns_builder_soa(&a->b, DNS_SEC_AUTHORITY, &a->z->zone, DNS_CLUSTER_TTL, a->z->serial,
                    DNS_CLUSTER_TTL);
    return finish(a);
}

static void
put_addr(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
         const struct zaddr *addr)
{
    if (addr->family == 4)
        dns_builder_a(b, s, owner, DNS_CLUSTER_TTL, addr->ip);
    else
        dns_builder_aaaa(b, s, owner, DNS_CLUSTER_TTL, addr->ip);
}

/* The name a record's SRV points at: <endpoint>.<svc>.<ns>.svc.<zone> or
 * <svc>.<ns>.svc.<zone>. */
static int
target_name(struct zans *a, const struct zrec *rec, struct dns_name *out)
{
    char buf[600], d[64];

    if (rec->endpoint || rec->dashed_host) {
        if (!rec->endpoint)
            dashed(rec->addr, d, sizeof(d));
        snprintf(buf, sizeof(buf), "%s.%s.%s.svc.%s", rec->endpoint ? rec->endpoint : d,
                 a->svc->name, a->svc->ns, a->z->domain);
    } else {
        snprintf(buf, sizeof(buf), "%s.%s.svc.%s", a->svc->name, a->svc->ns, a->z->domain);
    }
    return dns_name_from_str(out, buf);
}

static size_t
answer_records(struct zans *a)
{
    const struct dns_query *q = a->q;
    size_t answered = 0;

    if (a->svc->external_name) {
        struct dns_name target;
        if (dns_name_from_str(&target, a->svc->external_name) < 0)
            return negative(a, DNS_RCODE_NOERROR);
        if (q->qtype == DNS_TYPE_SRV) {
            dns_builder_srv(&a->b, DNS_SEC_ANSWER, &q->qname, DNS_CLUSTER_TTL, 0, 100, 0, &target);
            return finish(a);
        }
        if (q->qtype != DNS_TYPE_A && q->qtype != DNS_TYPE_AAAA && q->qtype != DNS_TYPE_CNAME)
            return negative(a, DNS_RCODE_NOERROR);
        dns_builder_name_rr(&a->b, DNS_SEC_ANSWER, &q->qname, DNS_TYPE_CNAME, DNS_CLUSTER_TTL,
                            &target);
        return finish(a);
    }
    if (q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_AAAA) {
        int fam = q->qtype == DNS_TYPE_A ? 4 : 6;
        for (size_t i = 0; i < a->n; i++) {
            const struct zaddr *ad = a->recs[i].addr;
            bool dup = false;
            if (ad->family != fam)
                continue;
            for (size_t k = 0; k < i && !dup; k++)
                dup = memcmp(a->recs[k].addr, ad, sizeof(*ad)) == 0;
            if (dup)
                continue;
            put_addr(&a->b, DNS_SEC_ANSWER, &q->qname, ad);
            answered++;
        }
    } else if (q->qtype == DNS_TYPE_SRV) {
        size_t n_ports = 0;
        for (size_t i = 0; i < a->n; i++)
            n_ports += a->recs[i].port >= 0;
        uint16_t weight = n_ports ? (uint16_t)(100 / n_ports) : 0;
        for (size_t i = 0; i < a->n; i++) {
            struct dns_name target;
            if (a->recs[i].port < 0 || target_name(a, &a->recs[i], &target) < 0)
                continue;
            dns_builder_srv(&a->b, DNS_SEC_ANSWER, &q->qname, DNS_CLUSTER_TTL, 0,
                            weight ? weight : 1, (uint16_t)a->recs[i].port, &target);
            answered++;
        }
        for (size_t i = 0; i < a->n; i++) {
            struct dns_name target;
            bool dup = false;
            for (size_t k = 0; k < i && !dup; k++)
                dup = memcmp(a->recs[k].addr, a->recs[i].addr, sizeof(struct zaddr)) == 0;
            if (!dup && a->recs[i].port >= 0 && target_name(a, &a->recs[i], &target) == 0)
                put_addr(&a->b, DNS_SEC_ADDITIONAL, &target, a->recs[i].addr);
        }
    }
    if (!answered)
        return negative(a, DNS_RCODE_NOERROR);
    return finish(a);
}

/* <dashed ip>.<ns>.pod.<zone> ("pods insecure"). */
static size_t
answer_pod(struct zans *a, const char *podname)
{
    char ip[64];
    struct zaddr addr;
    int dashes = 0;

    snprintf(ip, sizeof(ip), "%s", podname);
    for (char *p = ip; *p; p++)
        dashes += *p == '-';
    bool v4 = dashes == 3 && !strstr(podname, "--");
    for (char *p = ip; *p; p++)
        if (*p == '-')
            *p = v4 ? '.' : ':';
    if (!addr_parse(ip, &addr))
        return negative(a, DNS_RCODE_NXDOMAIN);
    int fam = a->q->qtype == DNS_TYPE_A ? 4 : a->q->qtype == DNS_TYPE_AAAA ? 6 : 0;
    if (addr.family != fam)
        return negative(a, DNS_RCODE_NOERROR);
    put_addr(&a->b, DNS_SEC_ANSWER, &a->q->qname, &addr);
    return finish(a);
}

/* The apex and its special names: SOA, NS, ns.dns, dns-version. */
static size_t
answer_special(struct zans *a, int rel, const char seg[][64])
{
    const struct dns_query *q = a->q;

    if (rel == 0) {
        if (q->qtype == DNS_TYPE_SOA) {
            dns_builder_soa(&a->b, DNS_SEC_ANSWER, &a->z->zone, DNS_CLUSTER_TTL, a->z->serial,
                            DNS_CLUSTER_TTL);
            return finish(a);
        }
        if (q->qtype == DNS_TYPE_NS) {
            char buf[300];
            struct dns_name ns;
            snprintf(buf, sizeof(buf), "ns.dns.%s", a->z->domain);
            if (dns_name_from_str(&ns, buf) == 0) {
                dns_builder_name_rr(&a->b, DNS_SEC_ANSWER, &q->qname, DNS_TYPE_NS, DNS_CLUSTER_TTL,
                                    &ns);
                if (a->z->dns_ip.family)
                    put_addr(&a->b, DNS_SEC_ADDITIONAL, &ns, &a->z->dns_ip);
                return finish(a);
            }
        }
        return negative(a, DNS_RCODE_NOERROR);
    }
    if (rel == 1 && strcmp(seg[0], "dns-version") == 0 && q->qtype == DNS_TYPE_TXT) {
        dns_builder_txt(&a->b, DNS_SEC_ANSWER, &q->qname, DNS_CLUSTER_TTL, "1.1.0");
        return finish(a);
    }
    if (rel == 2 && strcmp(seg[0], "ns") == 0 && strcmp(seg[1], "dns") == 0) {
        if (q->qtype == DNS_TYPE_A && a->z->dns_ip.family == 4) {
            put_addr(&a->b, DNS_SEC_ANSWER, &q->qname, &a->z->dns_ip);
            return finish(a);
        }
        return negative(a, DNS_RCODE_NOERROR);
    }
    return 0;
}

static const char *
strip_underscore(const char *s)
{
    return s[0] == '_' ? s + 1 : s;
}

/* parse.go: [endpoint | _port._proto].service.namespace.(svc|pod).zone */
static size_t
answer_forward_zone(struct zans *a)
{
    const struct dns_name *qn = &a->q->qname;
    int rel = qn->n_labels - a->z->zone.n_labels;
    char seg[5][64];

    if (rel > 5) /* too long: NXDOMAIN (search-list expansions land here) */
        return negative(a, DNS_RCODE_NXDOMAIN);
    for (int i = 0; i < rel; i++)
        if (!label_str(qn, i, seg[i]))
            return negative(a, DNS_RCODE_NXDOMAIN);
    size_t n = answer_special(a, rel, (const char(*)[64])seg);
    if (n)
        return n;
    const char *kind = seg[rel - 1];
    bool pod = strcmp(kind, "pod") == 0;
    if (!pod && strcmp(kind, "svc") != 0)
        return negative(a, DNS_RCODE_NXDOMAIN);
    if (rel == 1) /* svc.<zone>, pod.<zone> */
        return negative(a, DNS_RCODE_NOERROR);
    const char *ns = seg[rel - 2];
    if (!zmap_get(&a->z->namespaces, ns))
        return negative(a, DNS_RCODE_NXDOMAIN);
    if (rel == 2) /* an existing namespace */
        return negative(a, DNS_RCODE_NOERROR);
    if (pod)
        return rel == 3 ? answer_pod(a, seg[0]) : negative(a, DNS_RCODE_NXDOMAIN);

    struct zreq r = {0};
    snprintf(r.service, sizeof(r.service), "%s", seg[rel - 3]);
    snprintf(r.ns, sizeof(r.ns), "%s", ns);
    if (rel == 4) {
        r.has_endpoint = true;
        snprintf(r.endpoint, sizeof(r.endpoint), "%s", seg[0]);
    } else if (rel == 5) {
        r.has_port = true;
        snprintf(r.port, sizeof(r.port), "%.63s", strip_underscore(seg[0]));
        snprintf(r.proto, sizeof(r.proto), "%.63s", strip_underscore(seg[1]));
    }
    char key[200];
    snprintf(key, sizeof(key), "%s/%s", r.ns, r.service);
    if (!find_service(a, zmap_get(&a->z->services, key), &r))
        return negative(a, DNS_RCODE_NXDOMAIN);
    return answer_records(a);
}

/* The address of a reverse name (in-addr.arpa, ip6.arpa), or false. */
static bool
reverse_addr(const struct dns_name *n, struct zaddr *out)
{
    char seg[64];

    memset(out, 0, sizeof(*out));
    if (n->n_labels == 6) {
        if (!label_str(n, 4, seg) || strcmp(seg, "in-addr") != 0 || !label_str(n, 5, seg) ||
            strcmp(seg, "arpa") != 0)
            return false;
        for (int i = 0; i < 4; i++) {
            char *end;
            if (!label_str(n, i, seg) || !isdigit((unsigned char)seg[0]))
                return false;
            unsigned long v = strtoul(seg, &end, 10);
            if (*end || v > 255)
                return false;
            out->ip[3 - i] = (uint8_t)v;
        }
        out->family = 4;
        return true;
    }
    if (n->n_labels == 34) {
        if (!label_str(n, 32, seg) || strcmp(seg, "ip6") != 0 || !label_str(n, 33, seg) ||
            strcmp(seg, "arpa") != 0)
            return false;
        for (int i = 0; i < 32; i++) {
            const uint8_t *l = n->wire + n->label_off[i];
            if (l[0] != 1 || !isxdigit(l[1]))
                return false;
            int v = isdigit(l[1]) ? l[1] - '0' : tolower(l[1]) - 'a' + 10;
            int byte = 15 - i / 2;
            out->ip[byte] |= (uint8_t)(i % 2 ? v << 4 : v);
        }
        out->family = 6;
        return true;
    }
    return false;
}

/* CoreDNS serviceRecordForIP: a ClusterIP, then an endpoint address. A scan:
 * PTR queries are rare and the zone is small. 0: not known (fallthrough). */
static size_t
answer_ptr(struct zans *a, const struct zaddr *ip)
{
    char buf[600], d[64];
    struct dns_name target;

    buf[0] = 0;
    for (size_t i = 0; i < a->z->services.nb && !buf[0]; i++) {
        for (struct zmap_ent *e = a->z->services.b[i]; e && !buf[0]; e = e->next) {
            struct zsvc *s = e->val;
            for (int k = 0; k < 2 && s->present; k++)
                if (memcmp(&s->ips[k], ip, sizeof(*ip)) == 0)
                    snprintf(buf, sizeof(buf), "%s.%s.svc.%s", s->name, s->ns, a->z->domain);
        }
    }
    for (size_t i = 0; i < a->z->slices.nb && !buf[0]; i++) {
        for (struct zmap_ent *e = a->z->slices.b[i]; e && !buf[0]; e = e->next) {
            struct zslice *sl = e->val;
            for (size_t k = 0; k < sl->n_eps && !buf[0]; k++) {
                if (memcmp(&sl->eps[k].addr, ip, sizeof(*ip)) != 0)
                    continue;
                if (!sl->eps[k].hostname)
                    dashed(ip, d, sizeof(d));
                snprintf(buf, sizeof(buf), "%s.%s.%s.svc.%s",
                         sl->eps[k].hostname ? sl->eps[k].hostname : d, sl->svc->name, sl->svc->ns,
                         a->z->domain);
            }
        }
    }
    if (!buf[0] || dns_name_from_str(&target, buf) < 0)
        return 0;
    dns_builder_name_rr(&a->b, DNS_SEC_ANSWER, &a->q->qname, DNS_TYPE_PTR, DNS_CLUSTER_TTL,
                        &target);
    return finish(a);
}

/* A node's name (one label): its InternalIP of the asked family, NODATA
 * for the other, 0 for anything else. Read lock held. */
static size_t
answer_node(struct zans *a)
{
    const struct dns_query *q = a->q;
    char label[64];

    if (q->qname.n_labels != 1 || q->qclass != DNS_CLASS_IN || !a->z->nodes.n ||
        !label_str(&q->qname, 0, label))
        return 0;
    const struct znode *n = zmap_get(&a->z->nodes, label);
    if (!n)
        return 0;
    const struct zaddr *ad = q->qtype == DNS_TYPE_A      ? &n->v4
                             : q->qtype == DNS_TYPE_AAAA ? &n->v6
                                                         : NULL;
    if (ad && ad->family) {
        if (ad->family == 4)
            dns_builder_a(&a->b, DNS_SEC_ANSWER, &q->qname, 60, ad->ip);
        else
            dns_builder_aaaa(&a->b, DNS_SEC_ANSWER, &q->qname, 60, ad->ip);
    }
    return finish(a); /* NODATA when nothing was added */
}

size_t
dns_zone_answer(struct dns_zone *z, const struct dns_query *q, uint8_t *out, size_t cap)
{
    struct zaddr rev;
    size_t n = 0;
    struct zans answer; /* ~25 KiB of candidates on the caller's stack: no malloc per query */
    struct zans *a = &answer;

    bool mine = has_suffix(&q->qname, &z->zone);
    bool reverse = !mine && q->qtype == DNS_TYPE_PTR && reverse_addr(&q->qname, &rev);
    bool node = !mine && !reverse && q->qname.n_labels == 1;
    if (!mine && !reverse && !node)
        return 0;
    a->z = z;
    a->q = q;
    a->n = 0;
    a->svc = NULL;
    dns_builder_init(&a->b, out, cap, q, true);
    pthread_rwlock_rdlock(&z->lock);
    if (node) {
        n = answer_node(a);
    } else if (!z->synced) {
        n = mine ? dns_reply_error(q, DNS_RCODE_SERVFAIL, false, out, cap) : 0;
    } else if (reverse) {
        n = answer_ptr(a, &rev);
    } else if (q->qclass != DNS_CLASS_IN) {
        n = dns_reply_error(q, DNS_RCODE_REFUSED, false, out, cap);
    } else {
        n = answer_forward_zone(a);
    }
    pthread_rwlock_unlock(&z->lock);
    return n;
}
