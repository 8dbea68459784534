/* SPDX-License-Identifier: Apache-2.0
 * test_netpol.c - NetworkPolicy compilation (net/netpol_rules.c): which
 * policies isolate a pod, peers (podSelector, namespaceSelector, both,
 * ipBlock with except), ports (number, endPort, protocol, named ports on
 * ingress and egress), deny-all, pods of other nodes left out, API strings
 * never written as nft text; then the whole script against the kernel
 * through libnftables in a private network namespace (root only; skipped
 * otherwise). */
#include "net/netpol.h"
#include "net/proxy.h"
#include "base/cleanup.h"
#include "base/labels.h"

#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define P_WEB        POD("default", "web", "n1", "10.42.0.5", "{\"app\":\"web\"}", PORT_HTTP("8080"))
#define P_CLIENT     POD("default", "client", "n1", "10.42.0.6", "{\"role\":\"client\"}", "[]")
#define P_FAR        POD("other", "far", "n2", "10.42.1.7", "{\"role\":\"client\"}", PORT_HTTP("9090"))
#define PORT_HTTP(n) "[{\"name\":\"http\",\"containerPort\":" n "}]"

/* web and client on n1 (this node), far on n2 in namespace "other" */
static const char pods_json[] = "[" P_WEB "," P_CLIENT "," P_FAR "]";

static const char namespaces_json[] =
    "[{\"metadata\":{\"name\":\"default\",\"labels\":{\"kubernetes.io/metadata.name\":"
    "\"default\"}}},{\"metadata\":{\"name\":\"other\",\"labels\":{\"team\":\"b\"}}}]";

static json_t *
policy(const char *ns, const char *spec)
{
    _cleanup_free_ char *t = NULL;

    assert_true(asprintf(&t, "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"p\"},\"spec\":%s}", ns,
                         spec) > 0);
    return parse(t);
}

/* The rules of pod index i for direction with the one policy given. */
static char *
rules_for(const char *spec, size_t i, const char *direction)
{
    _cleanup_json_ json_t *pods = parse(pods_json), *nss = parse(namespaces_json);
    _cleanup_json_ json_t *pols = json_array();

    json_array_append_new(pols, policy("default", spec));
    return netpol_pod_rules(pols, pods, nss, json_array_get(pods, i), direction);
}

static void
test_selector(void **state)
{
    _cleanup_json_ json_t *labels = parse("{\"a\":\"1\",\"b\":\"2\"}");
    _cleanup_json_ json_t *s1 = parse("{\"matchLabels\":{\"a\":\"1\"}}");
    _cleanup_json_ json_t *s2 =
        parse("{\"matchExpressions\":[{\"key\":\"b\",\"operator\":\"In\",\"values\":[\"3\",\"2\"]},"
              "{\"key\":\"c\",\"operator\":\"DoesNotExist\"}]}");
    _cleanup_json_ json_t *s3 =
        parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\",\"values\":[\"1\"]}]}");
    _cleanup_json_ json_t *empty = json_object();

    (void)state;
    assert_true(k3c_label_selector_matches(s1, labels));
    assert_true(k3c_label_selector_matches(s2, labels));
    assert_false(k3c_label_selector_matches(s3, labels));
    assert_true(k3c_label_selector_matches(empty, NULL));
    assert_false(k3c_label_selector_matches(NULL, labels));
}

static void
test_not_isolated(void **state)
{
    (void)state;
    /* selects app=web only; Ingress only: egress of web and anything of client is open */
    const char *spec = "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
                       "\"policyTypes\":[\"Ingress\"]}";
    _cleanup_free_ char *client = rules_for(spec, 1, "Ingress");
    _cleanup_free_ char *egress = rules_for(spec, 0, "Egress");

    assert_null(client);
    assert_null(egress);
}

static void
test_deny_all(void **state)
{
    _cleanup_free_ char *r =
        rules_for("{\"podSelector\":{},\"policyTypes\":[\"Ingress\"]}", 0, "Ingress");

    (void)state;
    assert_non_null(r);
    assert_string_equal(r, ""); /* isolated, nothing allowed */
}

static void
test_pod_selector_and_port(void **state)
{
    _cleanup_free_ char *r = rules_for(
        "{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},\"policyTypes\":[\"Ingress\"],"
        "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"role\":\"client\"}}}],"
        "\"ports\":[{\"protocol\":\"TCP\",\"port\":8080},{\"protocol\":\"UDP\",\"port\":53,"
        "\"endPort\":60}]}]}",
        0, "Ingress");

    (void)state;
    /* only default/client: other/far is in another namespace */
    assert_string_equal(r, "ip saddr { 10.42.0.6 } meta l4proto tcp th dport 8080 return\n"
                           "ip saddr { 10.42.0.6 } meta l4proto udp th dport 53-60 return\n");
}

static void
test_namespace_selector(void **state)
{
    _cleanup_free_ char *ns_only =
        rules_for("{\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":["
                  "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"b\"}}}]}]}",
                  0, "Ingress");
    _cleanup_free_ char *both = rules_for(
        "{\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":["
        "{\"namespaceSelector\":{},\"podSelector\":{\"matchLabels\":{\"role\":\"client\"}}}]}]}",
        0, "Ingress");
    _cleanup_free_ char *none =
        rules_for("{\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":["
                  "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"zzz\"}}}]}]}",
                  0, "Ingress");

    (void)state;
    assert_string_equal(ns_only, "ip saddr { 10.42.1.7 } return\n");
    assert_string_equal(both, "ip saddr { 10.42.0.6, 10.42.1.7 } return\n");
    assert_string_equal(none, ""); /* a peer that names no pod allows nothing */
}

static void
test_ip_block(void **state)
{
    _cleanup_free_ char *r =
        rules_for("{\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":["
                  "{\"ipBlock\":{\"cidr\":\"192.168.5.9/24\",\"except\":[\"192.168.5.0/28\","
                  "\"192.168.5.64/26\"]}},{\"ipBlock\":{\"cidr\":\"fd00::/8\"}}]}]}",
                  0, "Ingress");

    (void)state;
    /* the host bits are cleared; the IPv6 block has no place in the ip table */
    assert_string_equal(
        r, "ip saddr 192.168.5.0/24 ip saddr != { 192.168.5.0/28, 192.168.5.64/26 } return\n");
}

static void
test_named_ports(void **state)
{
    const char *spec = "{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],"
                       "\"ingress\":[{\"ports\":[{\"port\":\"http\"}]}],"
                       "\"egress\":[{\"ports\":[{\"port\":\"http\"}]}]}";
    _cleanup_free_ char *web_in = rules_for(spec, 0, "Ingress");
    _cleanup_free_ char *client_in = rules_for(spec, 1, "Ingress");
    _cleanup_free_ char *client_out = rules_for(spec, 1, "Egress");

    (void)state;
    /* ingress: the target pod's own port; a pod without it allows nothing */
    assert_string_equal(web_in, "meta l4proto tcp th dport 8080 return\n");
    assert_string_equal(client_in, "");
    /* egress: resolved on each destination pod */
    assert_non_null(strstr(client_out, "ip daddr { 10.42.0.5 } meta l4proto tcp th dport 8080 "
                                       "return\n"));
    assert_non_null(strstr(client_out, "ip daddr { 10.42.1.7 } meta l4proto tcp th dport 9090 "
                                       "return\n"));
}

static void
test_union_of_policies(void **state)
{
    _cleanup_json_ json_t *pods = parse(pods_json), *nss = parse(namespaces_json);
    _cleanup_json_ json_t *pols = json_array();
    _cleanup_free_ char *r = NULL;

    (void)state;
    json_array_append_new(pols, policy("default", "{\"podSelector\":{},\"policyTypes\":"
                                                  "[\"Ingress\"],\"ingress\":[{\"ports\":"
                                                  "[{\"port\":80}]}]}"));
    json_array_append_new(pols, policy("default", "{\"podSelector\":{},\"policyTypes\":"
                                                  "[\"Ingress\"],\"ingress\":[{\"ports\":"
                                                  "[{\"port\":81}]}]}"));
    /* a policy of another namespace does not select default's pods */
    json_array_append_new(pols, policy("other", "{\"podSelector\":{},\"policyTypes\":"
                                                "[\"Ingress\"]}"));
    r = netpol_pod_rules(pols, pods, nss, json_array_get(pods, 0), "Ingress");
    assert_string_equal(r, "meta l4proto tcp th dport 80 return\n"
                           "meta l4proto tcp th dport 81 return\n");
}

static void
test_hostile_strings(void **state)
{
    _cleanup_json_ json_t *pods =
        parse("[" POD("default", "x", "n1", "10.42.0.5; flush ruleset", "{}", "[]") "]");
    _cleanup_json_ json_t *nss = json_array(), *pols = json_array();
    _cleanup_free_ char *script = NULL, *r = NULL;

    (void)state;
    json_array_append_new(pols, policy("default", "{\"podSelector\":{},\"policyTypes\":"
                                                  "[\"Ingress\"],\"ingress\":[{\"from\":"
                                                  "[{\"ipBlock\":{\"cidr\":\"1.2.3.0/24 } "
                                                  "accept\"}}],\"ports\":[{\"protocol\":"
                                                  "\"ICMP\"}]}]}"));
    script = netpol_script("t", "n1", pols, pods, nss);
    assert_null(strstr(script, "flush"));
    assert_null(strstr(script, "ing-")); /* a pod without a valid IP has no chain */
    json_array_set_new(pods, 0,
                       parse(POD("default", "x", "n1", "10.42.0.5", "{}",
                                 "[{\"name\":\"a\",\"containerPort\":"
                                 "\"80 accept\"}]")));
    r = netpol_pod_rules(pols, pods, nss, json_array_get(pods, 0), "Ingress");
    assert_string_equal(r, "");
}

static void
test_script_local_pods_only(void **state)
{
    _cleanup_json_ json_t *pods = parse(pods_json), *nss = parse(namespaces_json);
    _cleanup_json_ json_t *pols = json_array();
    _cleanup_free_ char *s = NULL;

    (void)state;
    json_array_append_new(pols, policy("default", "{\"podSelector\":{},\"policyTypes\":"
                                                  "[\"Ingress\",\"Egress\"]}"));
    json_array_append_new(pols, policy("other", "{\"podSelector\":{},\"policyTypes\":"
                                                "[\"Ingress\"]}"));
    s = netpol_script("k3c-netpol-t", "n1", pols, pods, nss);
    assert_non_null(strstr(s, "add element ip k3c-netpol-t ingress { 10.42.0.5 : jump "
                              "ing-10.42.0.5 }"));
    assert_non_null(strstr(s, "add element ip k3c-netpol-t egress { 10.42.0.6 : jump "
                              "egr-10.42.0.6 }"));
    assert_null(strstr(s, "10.42.1.7")); /* n2's pod: enforced on n2 */
    assert_non_null(strstr(s, "forward ct state established,related accept"));
}

/* The whole script through libnftables, in a private network namespace. */
static void
test_script_in_kernel(void **state)
{
    _cleanup_json_ json_t *pods = parse(pods_json), *nss = parse(namespaces_json);
    _cleanup_json_ json_t *pols = json_array();
    _cleanup_free_ char *s = NULL, *listed = NULL;
    struct k3c_err err = {0};
    struct proxy_nft *n;

    (void)state;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "test_netpol: not root; kernel check skipped\n");
        skip();
    }
    json_array_append_new(
        pols,
        policy("default", "{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],"
                          "\"ingress\":[{\"from\":[{\"podSelector\":{}},{\"ipBlock\":{\"cidr\":"
                          "\"10.0.0.0/8\",\"except\":[\"10.1.0.0/16\"]}}],\"ports\":[{\"port\":"
                          "\"http\"},{\"port\":80,\"endPort\":90},{\"protocol\":\"SCTP\"}]}],"
                          "\"egress\":[{\"to\":[{\"namespaceSelector\":{}}],\"ports\":[{\"port\":"
                          "\"http\",\"protocol\":\"TCP\"},{\"port\":53,\"protocol\":\"UDP\"}]}]}"));
    s = netpol_script("k3c-netpol-t", "n1", pols, pods, nss);
    n = proxy_nft_new(&err);
    assert_non_null(n);
    if (proxy_nft_run(n, s, &err) < 0)
        fail_msg("%s\nscript:\n%s", err.msg, s);
    /* applying it again replaces the table in one transaction */
    if (proxy_nft_run(n, s, &err) < 0)
        fail_msg("second run: %s", err.msg);
    listed = proxy_nft_list(n, "k3c-netpol-t", &err);
    assert_non_null(listed);
    assert_non_null(strstr(listed, "chain ing-10.42.0.5"));
    assert_non_null(strstr(listed, "dport 80-90"));
    assert_int_equal(proxy_nft_delete_table(n, "k3c-netpol-t", &err), 0);
    proxy_nft_free(n);
}

/* A Pod's status churn leaves the projection alone; what the rules read
 * changes it. */
static void
test_relevant(void **state)
{
    _cleanup_json_ json_t *a = parse(P_WEB), *b = parse(P_WEB);
    _cleanup_json_ json_t *pa = NULL, *pb = NULL, *pn = NULL;

    (void)state;
    pa = netpol_relevant(a);
    json_object_set_new(json_object_get(b, "status"), "conditions",
                        parse("[{\"type\":\"Ready\"}]"));
    json_object_set_new(json_object_get(b, "metadata"), "resourceVersion", json_string("9"));
    pb = netpol_relevant(b);
    assert_true(json_equal(pa, pb));
    json_decref(pb);
    json_object_set_new(json_object_get(json_object_get(b, "metadata"), "labels"), "app",
                        json_string("other"));
    pb = netpol_relevant(b);
    assert_false(json_equal(pa, pb));
    json_decref(pb);
    json_decref(b);
    b = parse(P_WEB);
    json_object_set_new(json_object_get(b, "status"), "phase", json_string("Succeeded"));
    pb = netpol_relevant(b); /* a finished pod has no address in the rules */
    assert_false(json_equal(pa, pb));
    assert_true(json_is_null(json_object_get(pb, "ip")));
    pn = netpol_relevant(NULL);
    assert_true(json_is_null(pn));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector),           cmocka_unit_test(test_not_isolated),
        cmocka_unit_test(test_deny_all),           cmocka_unit_test(test_pod_selector_and_port),
        cmocka_unit_test(test_namespace_selector), cmocka_unit_test(test_ip_block),
        cmocka_unit_test(test_named_ports),        cmocka_unit_test(test_union_of_policies),
        cmocka_unit_test(test_hostile_strings),    cmocka_unit_test(test_script_local_pods_only),
        cmocka_unit_test(test_script_in_kernel),   cmocka_unit_test(test_relevant),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
