/* SPDX-License-Identifier: Apache-2.0
 * test_dns.c - cluster DNS: the wire format (parse, build, compression,
 * hostile names), the zone from Service/EndpointSlice/Namespace JSON with
 * CoreDNS's NXDOMAIN/NODATA rules, resolv.conf, and the server on loopback
 * with a fake upstream (forwarding, cache, TCP fallback, SERVFAIL). */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "dns/dns.h"
#include "podspec/podspec.h"

/* ---------------------------------------------------------------------------
 * Helpers: a query on the wire and what an answer says. */

static size_t
make_query(uint8_t *buf, const char *name, uint16_t type, bool edns)
{
    struct dns_name n;
    size_t o = DNS_HEADER_LEN;

    memset(buf, 0, DNS_HEADER_LEN);
    buf[0] = 0x12;
    buf[1] = 0x34;
    buf[2] = 0x01; /* RD */
    buf[5] = 1;
    assert_int_equal(dns_name_from_str(&n, name), 0);
    memcpy(buf + o, n.wire, n.len);
    o += n.len;
    buf[o++] = (uint8_t)(type >> 8);
    buf[o++] = (uint8_t)type;
    buf[o++] = 0;
    buf[o++] = 1;
    if (edns) {
        buf[11] = 1;
        const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
        memcpy(buf + o, opt, sizeof(opt));
        o += sizeof(opt);
    }
    return o;
}

struct answer {
    int rcode;
    bool aa, tc;
    int n[3];
    int types[3][16];
    char text[3][16][320]; /* A/AAAA address, or target name, or SRV "port target" */
    uint32_t ttl[16];
};

static void
collect(void *ud, enum dns_section s, uint16_t type, size_t ttl_off, const uint8_t *msg,
        size_t rdata_off, uint16_t rdlen)
{
    struct answer *a = ud;
    int i = a->n[s]++;
    struct dns_name n;
    size_t off = rdata_off;
    char name[300];

    if (i >= 16)
        return;
    a->types[s][i] = type;
    if (s == DNS_SEC_ANSWER)
        a->ttl[i] = (uint32_t)msg[ttl_off] << 24 | (uint32_t)msg[ttl_off + 1] << 16 |
                    (uint32_t)msg[ttl_off + 2] << 8 | msg[ttl_off + 3];
    char *t = a->text[s][i];
    t[0] = 0;
    if (type == DNS_TYPE_A && rdlen == 4)
        inet_ntop(AF_INET, msg + rdata_off, t, 320);
    else if (type == DNS_TYPE_AAAA && rdlen == 16)
        inet_ntop(AF_INET6, msg + rdata_off, t, 320);
    else if (type == DNS_TYPE_CNAME || type == DNS_TYPE_PTR || type == DNS_TYPE_NS) {
        if (dns_name_read(msg, rdata_off + rdlen, &off, &n) == 0) {
            dns_name_to_str(&n, name, sizeof(name));
            snprintf(t, 320, "%s", name);
        }
    } else if (type == DNS_TYPE_SRV) {
        off += 6;
        if (dns_name_read(msg, rdata_off + rdlen, &off, &n) == 0) {
            dns_name_to_str(&n, name, sizeof(name));
            snprintf(t, 320, "%u %s", msg[rdata_off + 4] << 8 | msg[rdata_off + 5], name);
        }
    } else if (type == DNS_TYPE_TXT && rdlen > 0) {
        snprintf(t, 320, "%.*s", msg[rdata_off], (const char *)msg + rdata_off + 1);
    }
}

static struct answer
decode(const uint8_t *msg, size_t len)
{
    struct answer a = {0};

    assert_true(len >= DNS_HEADER_LEN);
    a.rcode = dns_msg_walk(msg, len, collect, &a);
    assert_true(a.rcode >= 0);
    a.aa = msg[2] & 0x04;
    a.tc = msg[2] & 0x02;
    return a;
}

/* ---------------------------------------------------------------------------
 * Wire format. */

static void
test_query_parse(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct dns_query q;
    size_t n = make_query(buf, "Web.Default.svc.cluster.local", DNS_TYPE_A, true);

    assert_int_equal(dns_query_parse(buf, n, &q), 0);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.qtype, DNS_TYPE_A);
    assert_int_equal(q.qname.n_labels, 5);
    assert_true(q.has_edns);
    assert_int_equal(q.udp_max, 1232);
    char s[300];
    dns_name_to_str(&q.qname, s, sizeof(s));
    assert_string_equal(s, "Web.Default.svc.cluster.local");

    n = make_query(buf, "a.b", DNS_TYPE_A, false);
    assert_int_equal(dns_query_parse(buf, n, &q), 0);
    assert_false(q.has_edns);
    assert_int_equal(q.udp_max, 512);
    buf[2] |= 0x80; /* a response: dropped */
    assert_int_equal(dns_query_parse(buf, n, &q), -1);
    buf[2] = 0x01;
    buf[5] = 2; /* two questions */
    assert_int_equal(dns_query_parse(buf, n, &q), DNS_RCODE_FORMERR);
    buf[5] = 1;
    buf[2] = 0x01 | (2 << 3); /* opcode STATUS */
    assert_int_equal(dns_query_parse(buf, n, &q), DNS_RCODE_NOTIMP);
    assert_int_equal(dns_query_parse(buf, 5, &q), -1);
}

static void
test_name_read_hostile(void **state)
{
    (void)state;
    struct dns_name n;
    size_t off;
    /* a pointer to itself */
    uint8_t loop[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12};
    off = 12;
    assert_int_equal(dns_name_read(loop, sizeof(loop), &off, &n), -1);
    /* a forward pointer */
    uint8_t fwd[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 14, 1, 'a', 0};
    off = 12;
    assert_int_equal(dns_name_read(fwd, sizeof(fwd), &off, &n), -1);
    /* a label running past the end */
    uint8_t trunc[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b'};
    off = 12;
    assert_int_equal(dns_name_read(trunc, sizeof(trunc), &off, &n), -1);
    /* a valid backward pointer */
    uint8_t ok[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 1, 'b', 0xC0, 12};
    off = 15;
    assert_int_equal(dns_name_read(ok, sizeof(ok), &off, &n), 0);
    assert_int_equal(off, sizeof(ok));
    char s[64];
    dns_name_to_str(&n, s, sizeof(s));
    assert_string_equal(s, "b.a");
    /* too long as text */
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(dns_name_from_str(&n, longname), -1);
    assert_int_equal(dns_name_from_str(&n, "a..b"), -1);
}

static void
test_builder_compresses(void **state)
{
    (void)state;
    uint8_t qb[512], out[512];
    struct dns_query q;
    struct dns_builder b;
    struct dns_name owner, target;
    size_t n = make_query(qb, "web.default.svc.cluster.local", DNS_TYPE_SRV, false);

    assert_int_equal(dns_query_parse(qb, n, &q), 0);
    dns_builder_init(&b, out, sizeof(out), &q, true);
    dns_name_from_str(&owner, "web.default.svc.cluster.local");
    dns_name_from_str(&target, "other.default.svc.cluster.local");
    const uint8_t ip[4] = {10, 43, 0, 1};
    dns_builder_a(&b, DNS_SEC_ANSWER, &owner, 5, ip);
    dns_builder_name_rr(&b, DNS_SEC_ANSWER, &owner, DNS_TYPE_CNAME, 5, &target);
    size_t len = dns_builder_finish(&b);
    /* header 12 + question 35 + A (2 + 10 + 4) + CNAME (2 + 10 + 6 "other" + 2) */
    assert_int_equal(len, 12 + 35 + 16 + 20);
    struct answer a = decode(out, len);
    assert_int_equal(a.n[0], 2);
    assert_string_equal(a.text[0][0], "10.43.0.1");
    assert_string_equal(a.text[0][1], "other.default.svc.cluster.local");

    /* overflow is reported, not written past cap */
    uint8_t tiny[40];
    dns_builder_init(&b, tiny, sizeof(tiny), &q, true);
    dns_builder_a(&b, DNS_SEC_ANSWER, &owner, 5, ip);
    assert_int_equal(dns_builder_finish(&b), 0);
}

/* ---------------------------------------------------------------------------
 * The zone. */

static json_t *
jload(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static void
feed(struct dns_zone *z, void (*fn)(struct dns_zone *, const json_t *), const char *s)
{
    json_t *j = jload(s);
    fn(z, j);
    json_decref(j);
}

static int
zone_setup(void **state)
{
    struct k3c_err err = {0};
    struct dns_zone *z = dns_zone_new("cluster.local", "10.43.0.10", &err);

    assert_non_null(z);
    feed(z, dns_zone_namespace_upsert, "{\"metadata\":{\"name\":\"default\"}}");
    feed(z, dns_zone_namespace_upsert, "{\"metadata\":{\"name\":\"other\"}}");
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"type\":"
         "\"ClusterIP\",\"clusterIP\":\"10.43.1.1\",\"clusterIPs\":[\"10.43.1.1\"],\"ports\":[{"
         "\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":53,"
         "\"protocol\":\"UDP\"}]}}");
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"dual\"},\"spec\":{\"clusterIP\":"
         "\"10.43.1.2\",\"clusterIPs\":[\"10.43.1.2\",\"fd00::2\"],\"ports\":[{\"port\":80}]}}");
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"hl\"},\"spec\":{\"clusterIP\":"
         "\"None\",\"ports\":[{\"name\":\"http\",\"port\":8080}]}}");
    feed(z, dns_zone_slice_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"hl-abc\",\"labels\":{\"kubernetes."
         "io/service-name\":\"hl\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10."
         "42.0.5\"],\"hostname\":\"web-0\",\"conditions\":{\"ready\":true}},{\"addresses\":[\"10."
         "42.0.6\"],\"conditions\":{\"ready\":true}},{\"addresses\":[\"10.42.0.7\"],\"conditions\":"
         "{\"ready\":false}}],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}");
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"empty-hl\"},\"spec\":{\"clusterIP\":"
         "\"None\"}}");
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"other\",\"name\":\"ext\"},\"spec\":{\"type\":"
         "\"ExternalName\",\"externalName\":\"example.com\"}}");
    feed(z, dns_zone_node_upsert,
         "{\"metadata\":{\"name\":\"Polynode-1\"},\"status\":{\"addresses\":[{\"type\":"
         "\"Hostname\",\"address\":\"polynode-1\"},{\"type\":\"InternalIP\",\"address\":"
         "\"192.168.20.221\"}]}}");
    dns_zone_set_synced(z, true);
    *state = z;
    return 0;
}

static int
zone_teardown(void **state)
{
    dns_zone_free(*state);
    return 0;
}

static struct answer
ask(struct dns_zone *z, const char *name, uint16_t type, size_t *len_out)
{
    uint8_t qb[512], out[4096];
    struct dns_query q;
    size_t n = make_query(qb, name, type, false);

    assert_int_equal(dns_query_parse(qb, n, &q), 0);
    size_t len = dns_zone_answer(z, &q, out, sizeof(out));
    if (len_out)
        *len_out = len;
    if (!len)
        return (struct answer){.rcode = -1};
    return decode(out, len);
}

static void
expect_nxdomain(struct dns_zone *z, const char *name, uint16_t type)
{
    struct answer a = ask(z, name, type, NULL);
    if (a.rcode != DNS_RCODE_NXDOMAIN)
        fail_msg("%s: rcode %d, want NXDOMAIN", name, a.rcode);
    assert_int_equal(a.n[0], 0);
    assert_int_equal(a.types[1][0], DNS_TYPE_SOA);
}

static void
expect_nodata(struct dns_zone *z, const char *name, uint16_t type)
{
    struct answer a = ask(z, name, type, NULL);
    if (a.rcode != DNS_RCODE_NOERROR || a.n[0] != 0)
        fail_msg("%s type %d: rcode %d, %d answers; want NODATA", name, type, a.rcode, a.n[0]);
    assert_int_equal(a.types[1][0], DNS_TYPE_SOA);
}

static void
test_zone_service(void **state)
{
    struct dns_zone *z = *state;
    struct answer a = ask(z, "web.default.svc.cluster.local", DNS_TYPE_A, NULL);

    assert_int_equal(a.rcode, 0);
    assert_true(a.aa);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "10.43.1.1");
    assert_int_equal(a.ttl[0], 5);
    /* case does not matter */
    a = ask(z, "WEB.Default.SVC.cluster.LOCAL", DNS_TYPE_A, NULL);
    assert_int_equal(a.n[0], 1);
    /* IPv4-only Service: AAAA is NODATA */
    expect_nodata(z, "web.default.svc.cluster.local", DNS_TYPE_AAAA);
    expect_nodata(z, "web.default.svc.cluster.local", DNS_TYPE_TXT);
    /* dual stack */
    a = ask(z, "dual.default.svc.cluster.local", DNS_TYPE_AAAA, NULL);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "fd00::2");
    /* NXDOMAIN vs NODATA as CoreDNS decides */
    expect_nxdomain(z, "nope.default.svc.cluster.local", DNS_TYPE_A);
    expect_nxdomain(z, "web.nons.svc.cluster.local", DNS_TYPE_A);
    expect_nodata(z, "default.svc.cluster.local", DNS_TYPE_A);
    expect_nxdomain(z, "nons.svc.cluster.local", DNS_TYPE_A);
    expect_nodata(z, "svc.cluster.local", DNS_TYPE_A);
    expect_nodata(z, "cluster.local", DNS_TYPE_A);
    expect_nxdomain(z, "foo.cluster.local", DNS_TYPE_A);
    /* a search-list expansion of a full name: too many labels */
    expect_nxdomain(z, "web.default.svc.cluster.local.default.svc.cluster.local", DNS_TYPE_A);
    /* not the zone's: forwarded */
    size_t len = 1;
    ask(z, "example.com", DNS_TYPE_A, &len);
    assert_int_equal(len, 0);
    ask(z, "cluster.localx", DNS_TYPE_A, &len);
    assert_int_equal(len, 0);
}

static void
test_zone_headless(void **state)
{
    struct dns_zone *z = *state;
    struct answer a = ask(z, "hl.default.svc.cluster.local", DNS_TYPE_A, NULL);

    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n[0], 2); /* the not-ready endpoint is left out */
    bool five = false, six = false;
    for (int i = 0; i < 2; i++) {
        five |= strcmp(a.text[0][i], "10.42.0.5") == 0;
        six |= strcmp(a.text[0][i], "10.42.0.6") == 0;
    }
    assert_true(five && six);
    a = ask(z, "web-0.hl.default.svc.cluster.local", DNS_TYPE_A, NULL);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "10.42.0.5");
    a = ask(z, "10-42-0-6.hl.default.svc.cluster.local", DNS_TYPE_A, NULL);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "10.42.0.6");
    expect_nxdomain(z, "10-42-0-7.hl.default.svc.cluster.local", DNS_TYPE_A);
    expect_nxdomain(z, "web-9.hl.default.svc.cluster.local", DNS_TYPE_A);
    /* a headless Service without endpoints: NXDOMAIN */
    expect_nxdomain(z, "empty-hl.default.svc.cluster.local", DNS_TYPE_A);
    /* endpoints come and go */
    feed(z, dns_zone_slice_delete,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"hl-abc\"}}");
    expect_nxdomain(z, "hl.default.svc.cluster.local", DNS_TYPE_A);
}

static void
test_zone_srv(void **state)
{
    struct dns_zone *z = *state;
    struct answer a = ask(z, "_http._tcp.web.default.svc.cluster.local", DNS_TYPE_SRV, NULL);

    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "80 web.default.svc.cluster.local");
    assert_int_equal(a.n[2], 1);
    assert_string_equal(a.text[2][0], "10.43.1.1");
    a = ask(z, "_dns._udp.web.default.svc.cluster.local", DNS_TYPE_SRV, NULL);
    assert_string_equal(a.text[0][0], "53 web.default.svc.cluster.local");
    expect_nxdomain(z, "_http._udp.web.default.svc.cluster.local", DNS_TYPE_SRV);
    expect_nxdomain(z, "_nope._tcp.web.default.svc.cluster.local", DNS_TYPE_SRV);
    /* SRV on the Service name: every port */
    a = ask(z, "web.default.svc.cluster.local", DNS_TYPE_SRV, NULL);
    assert_int_equal(a.n[0], 2);
    /* headless: one per endpoint, with its hostname */
    a = ask(z, "_http._tcp.hl.default.svc.cluster.local", DNS_TYPE_SRV, NULL);
    assert_int_equal(a.n[0], 2);
    bool named = false, dashed = false;
    for (int i = 0; i < 2; i++) {
        named |= strcmp(a.text[0][i], "8080 web-0.hl.default.svc.cluster.local") == 0;
        dashed |= strcmp(a.text[0][i], "8080 10-42-0-6.hl.default.svc.cluster.local") == 0;
    }
    assert_true(named && dashed);
    assert_int_equal(a.n[2], 2);
}

static void
test_zone_external_pod_ptr_txt(void **state)
{
    struct dns_zone *z = *state;
    struct answer a = ask(z, "ext.other.svc.cluster.local", DNS_TYPE_A, NULL);
    size_t len = 1;

    assert_int_equal(a.n[0], 1);
    assert_int_equal(a.types[0][0], DNS_TYPE_CNAME);
    assert_string_equal(a.text[0][0], "example.com");
    /* pods insecure */
    a = ask(z, "10-42-0-9.default.pod.cluster.local", DNS_TYPE_A, NULL);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "10.42.0.9");
    expect_nodata(z, "10-42-0-9.default.pod.cluster.local", DNS_TYPE_AAAA);
    expect_nxdomain(z, "10-42-0-9.nons.pod.cluster.local", DNS_TYPE_A);
    expect_nxdomain(z, "not-an-ip.default.pod.cluster.local", DNS_TYPE_A);
    expect_nodata(z, "default.pod.cluster.local", DNS_TYPE_A);
    /* reverse: a ClusterIP, an endpoint, and a fallthrough */
    a = ask(z, "1.1.43.10.in-addr.arpa", DNS_TYPE_PTR, NULL);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "web.default.svc.cluster.local");
    a = ask(z, "5.0.42.10.in-addr.arpa", DNS_TYPE_PTR, NULL);
    assert_string_equal(a.text[0][0], "web-0.hl.default.svc.cluster.local");
    ask(z, "9.9.9.9.in-addr.arpa", DNS_TYPE_PTR, &len);
    assert_int_equal(len, 0);
    a = ask(z, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
            DNS_TYPE_PTR, NULL);
    assert_string_equal(a.text[0][0], "dual.default.svc.cluster.local");
    /* dns-version, SOA, NS */
    a = ask(z, "dns-version.cluster.local", DNS_TYPE_TXT, NULL);
    assert_string_equal(a.text[0][0], "1.1.0");
    a = ask(z, "cluster.local", DNS_TYPE_SOA, NULL);
    assert_int_equal(a.types[0][0], DNS_TYPE_SOA);
    a = ask(z, "cluster.local", DNS_TYPE_NS, NULL);
    assert_string_equal(a.text[0][0], "ns.dns.cluster.local");
    assert_string_equal(a.text[2][0], "10.43.0.10");
}

/* Node names, as K3s's NodeHosts: one label, the InternalIP, TTL 60. */
static void
test_zone_nodes(void **state)
{
    struct dns_zone *z = *state;
    struct answer a = ask(z, "polynode-1", DNS_TYPE_A, NULL);
    size_t len = 1;

    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n[0], 1);
    assert_string_equal(a.text[0][0], "192.168.20.221");
    assert_int_equal(a.ttl[0], 60);
    a = ask(z, "POLYNODE-1", DNS_TYPE_AAAA, NULL);
    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n[0], 0);
    ask(z, "polynode-2", DNS_TYPE_A, &len);
    assert_int_equal(len, 0);
    ask(z, "polynode-1.example.org", DNS_TYPE_A, &len);
    assert_int_equal(len, 0);
    feed(z, dns_zone_node_delete, "{\"metadata\":{\"name\":\"polynode-1\"}}");
    ask(z, "polynode-1", DNS_TYPE_A, &len);
    assert_int_equal(len, 0);
}

static void
test_zone_changes_and_sync(void **state)
{
    struct dns_zone *z = *state;

    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"clusterIP\":"
         "\"10.43.9.9\",\"ports\":[{\"port\":80}]}}");
    struct answer a = ask(z, "web.default.svc.cluster.local", DNS_TYPE_A, NULL);
    assert_string_equal(a.text[0][0], "10.43.9.9");
    feed(z, dns_zone_service_delete, "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"}}");
    expect_nxdomain(z, "web.default.svc.cluster.local", DNS_TYPE_A);
    /* a Service without ports has no records (CoreDNS) */
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"noports\"},\"spec\":{\"clusterIP\":"
         "\"10.43.9.8\"}}");
    expect_nxdomain(z, "noports.default.svc.cluster.local", DNS_TYPE_A);
    feed(z, dns_zone_namespace_delete, "{\"metadata\":{\"name\":\"other\"}}");
    expect_nxdomain(z, "ext.other.svc.cluster.local", DNS_TYPE_A);
    /* not synced: SERVFAIL for the zone, reverse names fall through */
    dns_zone_set_synced(z, false);
    a = ask(z, "dual.default.svc.cluster.local", DNS_TYPE_A, NULL);
    assert_int_equal(a.rcode, DNS_RCODE_SERVFAIL);
    size_t len = 1;
    ask(z, "2.1.43.10.in-addr.arpa", DNS_TYPE_PTR, &len);
    assert_int_equal(len, 0);
    assert_true(dns_zone_memory(z) > 0);
}

static void
test_zone_truncates_udp(void **state)
{
    struct dns_zone *z = *state;
    char buf[600];
    /* 200 endpoints do not fit 512 bytes; the zone fills a larger buffer */
    json_t *slice = jload("{\"metadata\":{\"namespace\":\"default\",\"name\":\"big-1\",\"labels\":"
                          "{\"kubernetes.io/service-name\":\"big\"}},\"endpoints\":[]}");
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof(buf), "{\"addresses\":[\"10.42.%d.%d\"]}", i / 250, i % 250 + 1);
        json_array_append_new(json_object_get(slice, "endpoints"), jload(buf));
    }
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"big\"},\"spec\":{\"clusterIP\":"
         "\"None\"}}");
    dns_zone_slice_upsert(z, slice);
    json_decref(slice);
    size_t len = 0;
    struct answer a = ask(z, "big.default.svc.cluster.local", DNS_TYPE_A, &len);
    assert_int_equal(a.n[0], 200);
    assert_true(len > 512);
}

/* ---------------------------------------------------------------------------
 * resolv.conf */

static void
test_resolv(void **state)
{
    (void)state;
    struct dns_resolv r;

    dns_resolv_parse("# comment\nnameserver 127.0.0.53\nnameserver 192.168.1.1 # x\n"
                     "domain a.example\nsearch lan example.com\noptions edns0 trust-ad\n"
                     "nameserver ::1\n",
                     &r);
    assert_string_equal(r.nameservers[0], "127.0.0.53");
    assert_string_equal(r.nameservers[1], "192.168.1.1");
    assert_string_equal(r.nameservers[2], "::1");
    assert_null(r.nameservers[3]);
    assert_string_equal(r.search[0], "lan");
    assert_string_equal(r.search[1], "example.com");
    assert_null(r.search[2]);
    assert_string_equal(r.options[1], "trust-ad");
    dns_resolv_fini(&r);
    assert_true(dns_addr_is_loopback("127.0.0.53"));
    assert_true(dns_addr_is_loopback("::1"));
    assert_false(dns_addr_is_loopback("10.0.0.1"));
    assert_false(dns_addr_is_loopback("junk"));
}

/* ---------------------------------------------------------------------------
 * Pods' resolv.conf (podspec_dns.c) */

static char *
pod_resolv(const char *pod_json, const char *host)
{
    json_t *pod = jload(pod_json);
    struct podspec_dns_config c = {
        .cluster_dns = "10.43.0.10", .cluster_domain = "cluster.local", .host_resolv = host};
    char *s = podspec_resolv_conf(pod, &c);
    json_decref(pod);
    return s;
}

static void
test_pod_resolv_conf(void **state)
{
    (void)state;
    const char *host = "nameserver 127.0.0.53\nnameserver 192.168.20.1\nsearch lan.\n"
                       "options edns0 trust-ad\n";
    char *s;

    s = pod_resolv("{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"dnsPolicy\":"
                   "\"ClusterFirst\"}}",
                   host);
    assert_string_equal(s, "nameserver 10.43.0.10\n"
                           "search shop.svc.cluster.local svc.cluster.local cluster.local lan\n"
                           "options ndots:5\n");
    free(s);
    /* ClusterFirst on the host network: the host's (stub kept: same netns) */
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"hostNetwork\":true}}", host);
    assert_string_equal(s, "nameserver 127.0.0.53\nnameserver 192.168.20.1\nsearch lan\n"
                           "options edns0 trust-ad\n");
    free(s);
    /* ClusterFirstWithHostNet */
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"hostNetwork\":true,"
                   "\"dnsPolicy\":\"ClusterFirstWithHostNet\"}}",
                   host);
    assert_non_null(strstr(s, "nameserver 10.43.0.10\n"));
    free(s);
    /* Default in a pod network: loopback stubs left out */
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"dnsPolicy\":"
                   "\"Default\"}}",
                   host);
    assert_string_equal(s, "nameserver 192.168.20.1\nsearch lan\noptions edns0 trust-ad\n");
    free(s);
    /* None + dnsConfig; options merged by name */
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"dnsPolicy\":\"None\","
                   "\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\"],\"searches\":[\"x.example\"],"
                   "\"options\":[{\"name\":\"ndots\",\"value\":\"2\"},{\"name\":\"edns0\"}]}}}",
                   host);
    assert_string_equal(s, "nameserver 1.1.1.1\nsearch x.example\noptions ndots:2 edns0\n");
    free(s);
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"dnsConfig\":{"
                   "\"nameservers\":[\"10.43.0.10\",\"1.1.1.1\",\"2.2.2.2\",\"3.3.3.3\"],"
                   "\"options\":[{\"name\":\"ndots\",\"value\":\"1\"}]}}}",
                   "");
    /* duplicates dropped, at most 3 nameservers, the pod's ndots wins */
    assert_string_equal(s, "nameserver 10.43.0.10\nnameserver 1.1.1.1\nnameserver 2.2.2.2\n"
                           "search a.svc.cluster.local svc.cluster.local cluster.local\n"
                           "options ndots:1\n");
    free(s);
    /* search limits: 32 domains, 2048 characters */
    char big[8192] = "search";
    for (int i = 0; i < 40; i++)
        snprintf(big + strlen(big), sizeof(big) - strlen(big), " d%02d.%0100d.example", i, 0);
    s = pod_resolv("{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"dnsPolicy\":"
                   "\"Default\"}}",
                   big);
    char *line = strstr(s, "search ");
    assert_non_null(line);
    size_t words = 0;
    for (char *p = line; *p && *p != '\n'; p++)
        words += *p == ' ';
    assert_true(words <= 32);
    assert_true(strcspn(line + 7, "\n") <= 2048);
    free(s);
}

/* ---------------------------------------------------------------------------
 * The server on loopback with a fake upstream: UDP answers A 192.0.2.1
 * TTL 60; names starting with "big" get TC over UDP and the full answer
 * over TCP; "fail" gets SERVFAIL; "slow" is never answered. */

struct fake_up {
    int udp, tcp, port;
    int queries; /* every query seen, UDP and TCP */
    int tcp_queries;
    volatile bool stop;
    pthread_t thread;
};

static size_t
fake_answer(const uint8_t *q, size_t n, uint8_t *out, bool tc, bool *drop)
{
    struct dns_query pq;
    struct dns_builder b;
    char name[300];

    *drop = false;
    if (dns_query_parse(q, n, &pq) != 0) {
        *drop = true;
        return 0;
    }
    dns_name_to_str(&pq.qname, name, sizeof(name));
    if (strncmp(name, "slow", 4) == 0) {
        *drop = true;
        return 0;
    }
    dns_builder_init(&b, out, 4096, &pq, false);
    if (strncmp(name, "fail", 4) == 0) {
        dns_builder_rcode(&b, DNS_RCODE_SERVFAIL);
        return dns_builder_finish(&b);
    }
    if (strncmp(name, "nx", 2) == 0) {
        struct dns_name zone;
        dns_name_from_str(&zone, "example");
        dns_builder_rcode(&b, DNS_RCODE_NXDOMAIN);
        dns_builder_soa(&b, DNS_SEC_AUTHORITY, &zone, 300, 1, 120);
        return dns_builder_finish(&b);
    }
    if (strncmp(name, "big", 3) == 0 && tc) {
        size_t len = dns_builder_finish(&b);
        out[2] |= 0x02;
        return len;
    }
    int count = strncmp(name, "big", 3) == 0 ? 60 : 1;
    for (int i = 0; i < count; i++) {
        uint8_t ip[4] = {192, 0, 2, (uint8_t)(i + 1)};
        dns_builder_a(&b, DNS_SEC_ANSWER, &pq.qname, 60, ip);
    }
    return dns_builder_finish(&b);
}

static void *
fake_up_thread(void *arg)
{
    struct fake_up *u = arg;
    uint8_t in[4096], out[4096];

    while (!u->stop) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        bool drop;
        ssize_t n = recvfrom(u->udp, in, sizeof(in), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
        if (n > 0) {
            __atomic_add_fetch(&u->queries, 1, __ATOMIC_SEQ_CST);
            size_t len = fake_answer(in, (size_t)n, out, true, &drop);
            if (!drop)
                sendto(u->udp, out, len, 0, (struct sockaddr *)&ss, sl);
        }
        int c = accept4(u->tcp, NULL, NULL, SOCK_NONBLOCK);
        if (c >= 0) {
            uint8_t lb[2];
            size_t got = 0;
            int64_t deadline = k3c_now_ms() + 2000;
            while (got < 2 && k3c_now_ms() < deadline) {
                ssize_t r = recv(c, lb + got, 2 - got, 0);
                if (r > 0)
                    got += (size_t)r;
                else
                    usleep(1000);
            }
            size_t want = (size_t)(lb[0] << 8 | lb[1]);
            got = 0;
            while (got < want && want <= sizeof(in) && k3c_now_ms() < deadline) {
                ssize_t r = recv(c, in + got, want - got, 0);
                if (r > 0)
                    got += (size_t)r;
                else
                    usleep(1000);
            }
            __atomic_add_fetch(&u->queries, 1, __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&u->tcp_queries, 1, __ATOMIC_SEQ_CST);
            size_t len = fake_answer(in, got, out + 2, false, &drop);
            out[0] = (uint8_t)(len >> 8);
            out[1] = (uint8_t)len;
            if (!drop && send(c, out, len + 2, MSG_NOSIGNAL) < 0)
                fprintf(stderr, "fake upstream: send failed\n");
            close(c);
        }
        if (n <= 0 && c < 0)
            usleep(1000);
    }
    return NULL;
}

static void
fake_up_start(struct fake_up *u)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    memset(u, 0, sizeof(*u));
    u->udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(u->udp, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(u->udp, (struct sockaddr *)&sa, &sl);
    u->port = ntohs(sa.sin_port);
    u->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(u->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(u->tcp, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(u->tcp, 16), 0);
    pthread_create(&u->thread, NULL, fake_up_thread, u);
}

static void
fake_up_stop(struct fake_up *u)
{
    u->stop = true;
    pthread_join(u->thread, NULL);
    close(u->udp);
    close(u->tcp);
}

/* One UDP query to the server; the answer length (0: none in 5 s). */
static size_t
udp_ask(int port, const char *name, uint16_t type, bool edns, uint8_t *out, size_t cap)
{
    uint8_t q[512];
    size_t n = make_query(q, name, type, edns);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_true(sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)n);
    ssize_t r = recv(fd, out, cap, 0);
    close(fd);
    return r > 0 ? (size_t)r : 0;
}

static size_t
tcp_ask(int port, const char *name, uint16_t type, uint8_t *out, size_t cap)
{
    uint8_t q[514];
    size_t n = make_query(q + 2, name, type, false);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    q[0] = (uint8_t)(n >> 8);
    q[1] = (uint8_t)n;
    assert_true(send(fd, q, n + 2, 0) == (ssize_t)(n + 2));
    uint8_t lb[2];
    size_t got = 0, want;
    while (got < 2) {
        ssize_t r = recv(fd, lb + got, 2 - got, 0);
        if (r <= 0) {
            close(fd);
            return 0;
        }
        got += (size_t)r;
    }
    want = (size_t)(lb[0] << 8 | lb[1]);
    assert_true(want <= cap);
    got = 0;
    while (got < want) {
        ssize_t r = recv(fd, out + got, want - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got;
}

static void
test_server_forwarding(void **state)
{
    struct dns_zone *z = *state;
    struct fake_up up;
    struct k3c_err err = {0};
    char rule[64], hosts[] = "/tmp/k3c-test-dns-hosts-XXXXXX";
    uint8_t out[8192];

    fake_up_start(&up);
    snprintf(rule, sizeof(rule), ".=127.0.0.1:%d", up.port);
    char *forward[] = {rule, NULL};
    int hfd = mkstemp(hosts);
    assert_true(hfd >= 0);
    const char *htext = "192.168.20.221 polynode-1 # a node\nfd00::1 polynode-1\n";
    assert_true(write(hfd, htext, strlen(htext)) == (ssize_t)strlen(htext));
    close(hfd);
    struct dns_server_config sc = {.listen_ip = "127.0.0.1",
                                   .port = -1,
                                   .zone = z,
                                   .forward = forward,
                                   .hosts_file = hosts,
                                   .upstream_timeout_ms = 300};
    struct dns_server *s = dns_server_new(&sc, &err);
    assert_non_null(s);
    assert_int_equal(dns_server_start(s, &err), 0);
    int port = dns_server_port(s);

    /* a cluster name over UDP and TCP */
    struct answer a = decode(
        out, udp_ask(port, "dual.default.svc.cluster.local", DNS_TYPE_A, true, out, sizeof(out)));
    assert_string_equal(a.text[0][0], "10.43.1.2");
    a = decode(out, tcp_ask(port, "dual.default.svc.cluster.local", DNS_TYPE_A, out, sizeof(out)));
    assert_string_equal(a.text[0][0], "10.43.1.2");
    /* the hosts file first */
    a = decode(out, udp_ask(port, "polynode-1", DNS_TYPE_A, false, out, sizeof(out)));
    assert_string_equal(a.text[0][0], "192.168.20.221");
    assert_int_equal(a.ttl[0], 60);
    /* forwarded, then cached (the upstream sees it once) */
    a = decode(out, udp_ask(port, "www.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_int_equal(a.rcode, 0);
    assert_string_equal(a.text[0][0], "192.0.2.1");
    assert_int_equal(a.ttl[0], 30); /* capped */
    int seen = __atomic_load_n(&up.queries, __ATOMIC_SEQ_CST);
    a = decode(out, udp_ask(port, "WWW.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_string_equal(a.text[0][0], "192.0.2.1");
    assert_int_equal(__atomic_load_n(&up.queries, __ATOMIC_SEQ_CST), seen);
    assert_true(out[DNS_HEADER_LEN + 1] == 'W'); /* the client's spelling */
    /* denial cached too */
    a = decode(out, udp_ask(port, "nx.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
    seen = __atomic_load_n(&up.queries, __ATOMIC_SEQ_CST);
    a = decode(out, udp_ask(port, "nx.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
    assert_int_equal(__atomic_load_n(&up.queries, __ATOMIC_SEQ_CST), seen);
    /* truncated upstream answer: retried over TCP; the client over UDP
     * without EDNS gets TC, over TCP the whole answer */
    a = decode(out, udp_ask(port, "big.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_true(a.tc);
    assert_true(__atomic_load_n(&up.tcp_queries, __ATOMIC_SEQ_CST) >= 1);
    size_t len = tcp_ask(port, "big.example.org", DNS_TYPE_A, out, sizeof(out));
    a = decode(out, len);
    assert_int_equal(a.n[0], 60);
    /* ExternalName: the CNAME and the target's addresses, from upstream
     * (then its cache) or from the zone */
    for (int i = 0; i < 2; i++) {
        a = decode(out, udp_ask(port, "ext.other.svc.cluster.local", DNS_TYPE_A, i == 1, out,
                                sizeof(out)));
        assert_int_equal(a.rcode, 0);
        assert_int_equal(a.n[0], 2);
        assert_int_equal(a.types[0][0], DNS_TYPE_CNAME);
        assert_string_equal(a.text[0][0], "example.com");
        assert_int_equal(a.types[0][1], DNS_TYPE_A);
        assert_string_equal(a.text[0][1], "192.0.2.1");
    }
    feed(z, dns_zone_service_upsert,
         "{\"metadata\":{\"namespace\":\"default\",\"name\":\"alias\"},\"spec\":{\"type\":"
         "\"ExternalName\",\"externalName\":\"dual.default.svc.cluster.local\"}}");
    a = decode(out, tcp_ask(port, "alias.default.svc.cluster.local", DNS_TYPE_A, out, sizeof(out)));
    assert_int_equal(a.n[0], 2);
    assert_string_equal(a.text[0][0], "dual.default.svc.cluster.local");
    assert_string_equal(a.text[0][1], "10.43.1.2");
    /* a slow upstream does not hold back other queries */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    uint8_t q[512];
    size_t qn = make_query(q, "slow.example.org", DNS_TYPE_A, false);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sendto(fd, q, qn, 0, (struct sockaddr *)&sa, sizeof(sa));
    int64_t t0 = k3c_now_ms();
    a = decode(out, udp_ask(port, "fast.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_string_equal(a.text[0][0], "192.0.2.1");
    printf("# a query behind a silent upstream one: %lld ms\n", (long long)(k3c_now_ms() - t0));
    /* the silent one ends in SERVFAIL after its tries */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t r = recv(fd, out, sizeof(out), 0);
    assert_true(r > 0);
    a = decode(out, (size_t)r);
    assert_int_equal(a.rcode, DNS_RCODE_SERVFAIL);
    close(fd);
    /* upstream SERVFAIL passes through (one upstream: no other to try) */
    a = decode(out, udp_ask(port, "fail.example.org", DNS_TYPE_A, false, out, sizeof(out)));
    assert_int_equal(a.rcode, DNS_RCODE_SERVFAIL);
    /* garbage gets no answer; FORMERR for two questions */
    uint8_t junk[3] = {1, 2, 3};
    int jfd = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(jfd, junk, sizeof(junk), 0, (struct sockaddr *)&sa, sizeof(sa));
    close(jfd);
    dns_server_free(s);
    fake_up_stop(&up);
    unlink(hosts);
}

static void
test_server_bad_config(void **state)
{
    (void)state;
    struct k3c_err err = {0};
    char *bad[] = {"example.com", NULL};
    struct dns_server_config sc = {.listen_ip = "127.0.0.1", .port = -1, .forward = bad};

    assert_null(dns_server_new(&sc, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    char *bad2[] = {"example.com=not-an-ip", NULL};
    sc.forward = bad2;
    assert_null(dns_server_new(&sc, &err));
    sc.forward = NULL;
    sc.listen_ip = "nope";
    assert_null(dns_server_new(&sc, &err));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_name_read_hostile),
        cmocka_unit_test(test_builder_compresses),
        cmocka_unit_test_setup_teardown(test_zone_service, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_headless, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_srv, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_external_pod_ptr_txt, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_nodes, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_changes_and_sync, zone_setup, zone_teardown),
        cmocka_unit_test_setup_teardown(test_zone_truncates_udp, zone_setup, zone_teardown),
        cmocka_unit_test(test_resolv),
        cmocka_unit_test(test_pod_resolv_conf),
        cmocka_unit_test_setup_teardown(test_server_forwarding, zone_setup, zone_teardown),
        cmocka_unit_test(test_server_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
