/* SPDX-License-Identifier: Apache-2.0
 * fuzz_dns_msg.c - the DNS message parser as any pod reaches it: the input
 * is one UDP/TCP payload sent to the node's cluster DNS. It is parsed as a
 * query (dns_query_parse) and, when valid, answered by a zone holding a
 * few Services, EndpointSlices and Namespaces (dns_zone_answer) and as an
 * error (dns_reply_error); every answer must walk cleanly and fit its
 * buffer. The input is also walked as an upstream answer (dns_msg_walk,
 * what the forwarder does to cap and age TTLs) and merged as the answer
 * for an ExternalName's target (dns_answer_is_cname, dns_reply_cname_chain). */
#include "dns/dns.h"
#include "fuzz.h"

static struct dns_zone *zone;

static const char *const objects[][2] = {
    {"ns", "{\"metadata\":{\"name\":\"default\"}}"},
    {"ns", "{\"metadata\":{\"name\":\"kube-system\"}}"},
    {"svc", "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"clusterIP\":"
            "\"10.43.1.1\",\"clusterIPs\":[\"10.43.1.1\",\"fd00::1\"],\"ports\":[{\"name\":"
            "\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}"},
    {"svc", "{\"metadata\":{\"namespace\":\"default\",\"name\":\"hl\"},\"spec\":{\"clusterIP\":"
            "\"None\",\"ports\":[{\"name\":\"http\",\"port\":8080}]}}"},
    {"svc", "{\"metadata\":{\"namespace\":\"default\",\"name\":\"ext\"},\"spec\":{\"type\":"
            "\"ExternalName\",\"externalName\":\"example.com\"}}"},
    {"slice", "{\"metadata\":{\"namespace\":\"default\",\"name\":\"hl-1\",\"labels\":{"
              "\"kubernetes.io/service-name\":\"hl\"}},\"endpoints\":[{\"addresses\":[\"10.42.0."
              "5\"],\"hostname\":\"web-0\"},{\"addresses\":[\"10.42.0.6\",\"fd00::6\"]}],"
              "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}"},
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct k3c_err err = {0};

    (void)argc;
    (void)argv;
    fuzz_quiet();
    zone = dns_zone_new("cluster.local", "10.43.0.10", &err);
    FUZZ_CHECK(zone, "zone");
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        json_t *o = json_loads(objects[i][1], 0, NULL);
        FUZZ_CHECK(o, "fixture");
        if (strcmp(objects[i][0], "ns") == 0)
            dns_zone_namespace_upsert(zone, o);
        else if (strcmp(objects[i][0], "svc") == 0)
            dns_zone_service_upsert(zone, o);
        else
            dns_zone_slice_upsert(zone, o);
        json_decref(o);
    }
    dns_zone_set_synced(zone, true);
    return 0;
}

static void
check_answer(const uint8_t *out, size_t n, size_t cap)
{
    FUZZ_CHECK(n <= cap, "answer fits its buffer");
    if (n)
        FUZZ_CHECK(dns_msg_walk(out, n, NULL, NULL) >= 0, "our answer walks cleanly");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[DNS_MSG_MAX], small[DNS_UDP_MIN];
    struct dns_query q;
    int rc = dns_query_parse(data, size, &q);

    dns_msg_walk(data, size, NULL, NULL);
    {
        struct dns_query ext = {.id = 1, .qtype = DNS_TYPE_A, .qclass = DNS_CLASS_IN};
        struct dns_name target;
        uint32_t ttl;
        dns_name_from_str(&ext.qname, "ext.default.svc.cluster.local");
        if (!dns_answer_is_cname(data, size, &target, &ttl))
            dns_name_from_str(&target, "example.com");
        check_answer(out, dns_reply_cname_chain(&ext, &target, 5, data, size, out, sizeof(out)),
                     sizeof(out));
        check_answer(small,
                     dns_reply_cname_chain(&ext, &target, 5, data, size, small, sizeof(small)),
                     sizeof(small));
    }
    if (rc < 0)
        return 0;
    check_answer(small,
                 dns_reply_error(&q, rc ? rc : DNS_RCODE_SERVFAIL, rc == 0, small, sizeof(small)),
                 sizeof(small));
    if (rc > 0)
        return 0;
    FUZZ_CHECK(q.qname.len >= 1 && q.qname.len <= DNS_NAME_MAX, "name length");
    check_answer(out, dns_zone_answer(zone, &q, out, sizeof(out)), sizeof(out));
    check_answer(small, dns_zone_answer(zone, &q, small, sizeof(small)), sizeof(small));
    char text[DNS_NAME_MAX * 4 + 1];
    dns_name_to_str(&q.qname, text, sizeof(text));
    struct dns_name back;
    if (dns_name_from_str(&back, text) == 0 && !strchr(text, '\\'))
        FUZZ_CHECK(dns_name_equal(&back, &q.qname), "name round trip");
    return 0;
}
