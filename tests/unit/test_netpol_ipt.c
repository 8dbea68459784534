/* SPDX-License-Identifier: Apache-2.0
 * test_netpol_ipt.c - NetworkPolicy under the iptables backend
 * (net/netpol_ipt.c): the chains and rules the model renders to, line by
 * line (forward chain and its jumps, one RETURN per peer IP, ports with
 * protocol and endPort, ipBlock excepts as iprange, egress named ports,
 * pods of other nodes left out) and the restore payload (stale chains
 * deleted, FORWARD's jump only when missing). */
#include "net/netpol.h"
#include "base/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *
parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        fail_msg("bad test JSON: %s (%s)", e.text, text);
    return j;
}

#define POD(ns, name, node, ip, labels, ports)                                                     \
    "{\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"" name "\",\"labels\":" labels "},"        \
    "\"spec\":{\"nodeName\":\"" node "\",\"containers\":[{\"name\":\"c\",\"ports\":" ports "}]},"  \
    "\"status\":{\"phase\":\"Running\",\"podIP\":\"" ip "\"}}"
#define PORT_HTTP(n) "[{\"name\":\"http\",\"containerPort\":" n "}]"

/* web and client on n1 (this node), far on n2 in namespace "other" */
static const char pods_json[] =
    "[" POD("default", "web", "n1", "10.42.0.5", "{\"app\":\"web\"}", PORT_HTTP("8080")) "," POD(
        "default", "client", "n1", "10.42.0.6", "{\"role\":\"client\"}",
        "[]") "," POD("other", "far", "n2", "10.42.1.7", "{\"role\":\"client\"}",
                      PORT_HTTP("9090")) "]";

static const char namespaces_json[] =
    "[{\"metadata\":{\"name\":\"default\",\"labels\":{}}},"
    "{\"metadata\":{\"name\":\"other\",\"labels\":{\"team\":\"b\"}}}]";

/* The rules for node n1 with the policies given (a JSON array of
 * {"metadata","spec"} objects). */
static char *
rules_with(const char *policies)
{
    _cleanup_json_ json_t *pods = parse(pods_json), *nss = parse(namespaces_json);
    _cleanup_json_ json_t *pols = parse(policies);

    return netpol_ipt_rules("n1", pols, pods, nss);
}

#define POLICY(ns, spec)                                                                           \
    "{\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"p\"},\"spec\":" spec "}"

/* How many lines of text are exactly line. */
static int
count_lines(const char *text, const char *line)
{
    size_t n = strlen(line);
    int count = 0;

    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (len == n && strncmp(p, line, n) == 0)
            count++;
        p = nl ? nl + 1 : NULL;
    }
    return count;
}

static void
assert_line(const char *text, const char *line)
{
    if (count_lines(text, line) != 1)
        fail_msg("line \"%s\" not (once) in:\n%s", line, text);
}

/* Where line is in text (it must be there). */
static size_t
pos(const char *text, const char *line)
{
    const char *p = strstr(text, line);

    assert_non_null(p);
    return (size_t)(p - text);
}

static void
test_no_policy(void **state)
{
    _cleanup_free_ char *r = rules_with("[]");

    (void)state;
    assert_string_equal(r,
                        ":K3C-NP-FORWARD - [0:0]\n"
                        "-A K3C-NP-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n");
}

static void
test_deny_all_ingress(void **state)
{
    _cleanup_free_ char *r =
        rules_with("[" POLICY("default", "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
                                         "\"policyTypes\":[\"Ingress\"]}") "]");

    (void)state;
    assert_line(r, ":K3C-NP-I-10.42.0.5 - [0:0]");
    assert_line(r, "-A K3C-NP-FORWARD -d 10.42.0.5/32 -j K3C-NP-I-10.42.0.5");
    assert_line(r, "-A K3C-NP-I-10.42.0.5 -j REJECT --reject-with icmp-admin-prohibited");
    /* established first; nothing returns from the pod's chain */
    assert_true(pos(r, "--ctstate RELATED,ESTABLISHED") < pos(r, "-A K3C-NP-FORWARD -d"));
    assert_null(strstr(r, "-A K3C-NP-I-10.42.0.5 -s"));
    assert_null(strstr(r, "K3C-NP-E-"));
}

static void
test_pod_peer_and_port(void **state)
{
    _cleanup_free_ char *r = rules_with(
        "[" POLICY("default", "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
                              "\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{"
                              "\"podSelector\":{\"matchLabels\":{\"role\":\"client\"}}}],"
                              "\"ports\":[{\"port\":8080}]}]}") "]");
    const char *allow =
        "-A K3C-NP-I-10.42.0.5 -s 10.42.0.6/32 -p tcp -m tcp --dport 8080 -j RETURN";

    (void)state;
    assert_line(r, allow);
    /* far matches the labels but lives in another namespace */
    assert_null(strstr(r, "10.42.1.7"));
    assert_true(pos(r, allow) < pos(r, "-A K3C-NP-I-10.42.0.5 -j REJECT"));
}

static void
test_namespace_peer_range_udp(void **state)
{
    _cleanup_free_ char *r = rules_with(
        "[" POLICY("default", "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
                              "\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{"
                              "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"b\"}}}],"
                              "\"ports\":[{\"protocol\":\"UDP\",\"port\":53,\"endPort\":60},"
                              "{\"protocol\":\"SCTP\"}]}]}") "]");

    (void)state;
    assert_line(r, "-A K3C-NP-I-10.42.0.5 -s 10.42.1.7/32 -p udp -m udp --dport 53:60 -j RETURN");
    assert_line(r, "-A K3C-NP-I-10.42.0.5 -s 10.42.1.7/32 -p sctp -j RETURN");
    assert_null(strstr(r, "-s 10.42.0.6/32"));
}

static void
test_ip_block_except(void **state)
{
    _cleanup_free_ char *r = rules_with(
        "[" POLICY("default", "{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],"
                              "\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\","
                              "\"except\":[\"10.1.0.0/16\",\"10.2.3.4/32\"]}}]}]}") "]");

    (void)state;
    /* both pods of n1 isolated both ways; egress allows nothing */
    assert_line(r, "-A K3C-NP-I-10.42.0.6 -s 10.0.0.0/8 -m iprange ! --src-range "
                   "10.1.0.0-10.1.255.255 -m iprange ! --src-range 10.2.3.4-10.2.3.4 -j RETURN");
    assert_line(r, "-A K3C-NP-FORWARD -s 10.42.0.5/32 -j K3C-NP-E-10.42.0.5");
    assert_line(r, "-A K3C-NP-E-10.42.0.6 -j REJECT --reject-with icmp-admin-prohibited");
    assert_null(strstr(r, "-A K3C-NP-E-10.42.0.6 -d"));
    /* egress jumps before ingress jumps, as the nft table's two maps */
    assert_true(pos(r, "-A K3C-NP-FORWARD -s ") < pos(r, "-A K3C-NP-FORWARD -d "));
}

static void
test_egress_named_port_in_block(void **state)
{
    _cleanup_free_ char *r = rules_with(
        "[" POLICY("default", "{\"podSelector\":{\"matchLabels\":{\"role\":\"client\"}},"
                              "\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{"
                              "\"cidr\":\"10.42.0.0/16\",\"except\":[\"10.42.1.0/24\"]}}],"
                              "\"ports\":[{\"port\":\"http\"}]}]}") "]");

    (void)state;
    /* web's http is 8080; far's (9090) is in the except */
    assert_line(r, "-A K3C-NP-E-10.42.0.6 -d 10.42.0.5/32 -p tcp -m tcp --dport 8080 -j RETURN");
    assert_null(strstr(r, "10.42.1.7"));
    assert_null(strstr(r, "9090"));
}

static void
test_other_nodes_left_out(void **state)
{
    _cleanup_free_ char *r =
        rules_with("[" POLICY("other", "{\"podSelector\":{},\"policyTypes\":[\"Ingress\"]}") "]");

    (void)state;
    /* far (n2) is isolated, but by n2; the policy is in its namespace */
    assert_null(strstr(r, "K3C-NP-I-"));
    {
        _cleanup_free_ char *d = rules_with(
            "[" POLICY("default", "{\"podSelector\":{},\"policyTypes\":[\"Ingress\"]}") "]");

        assert_line(d, ":K3C-NP-I-10.42.0.6 - [0:0]");
    }
}

static void
test_payload(void **state)
{
    _cleanup_free_ char *r =
        rules_with("[" POLICY("default", "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
                                         "\"policyTypes\":[\"Ingress\"]}") "]");
    const char *save = "*filter\n:FORWARD ACCEPT [0:0]\n:K3C-NP-FORWARD - [0:0]\n"
                       ":K3C-NP-I-10.42.0.5 - [0:0]\n:K3C-NP-I-10.42.0.9 - [0:0]\n"
                       ":K3C-SERVICES - [0:0]\nCOMMIT\n";
    const char *save_jump = "*filter\n:FORWARD ACCEPT [0:0]\n:K3C-NP-FORWARD - [0:0]\n"
                            "-A FORWARD -j K3C-NP-FORWARD\nCOMMIT\n";
    _cleanup_free_ char *p = netpol_ipt_payload(r, save), *q = netpol_ipt_payload(r, save_jump);

    (void)state;
    assert_int_equal(strncmp(p, "*filter\n", 8), 0);
    assert_line(p, "-F K3C-NP-I-10.42.0.9");
    assert_line(p, "-X K3C-NP-I-10.42.0.9");
    assert_true(pos(p, "-F K3C-NP-I-10.42.0.9") < pos(p, "-X K3C-NP-I-10.42.0.9"));
    assert_null(strstr(p, "-X K3C-NP-I-10.42.0.5"));
    assert_null(strstr(p, "-X K3C-NP-FORWARD"));
    assert_null(strstr(p, "K3C-SERVICES"));
    assert_line(p, "-I FORWARD 1 -j K3C-NP-FORWARD");
    assert_line(p, "COMMIT");
    assert_true(pos(p, "-X ") < pos(p, "COMMIT"));
    assert_null(strstr(q, "-I FORWARD"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_policy),
        cmocka_unit_test(test_deny_all_ingress),
        cmocka_unit_test(test_pod_peer_and_port),
        cmocka_unit_test(test_namespace_peer_range_udp),
        cmocka_unit_test(test_ip_block_except),
        cmocka_unit_test(test_egress_named_port_in_block),
        cmocka_unit_test(test_other_nodes_left_out),
        cmocka_unit_test(test_payload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
