/* SPDX-License-Identifier: Apache-2.0
 * test_proxy.c - the pure part of the service proxy (net/proxy_rules.c):
 * Services and EndpointSlices to nftables objects (ClusterIP, NodePort,
 * externalIPs, LoadBalancer IPs, traffic policies, affinity, fallback to
 * serving-terminating endpoints, ignored services) and the diff of two
 * states as one script (only what changed; shared elements counted). */
#include "net/proxy.h"
#include "base/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_fixture.h"

static const struct proxy_rules_config cfg = {.node_name = "n1"};

static const char *
obj(const json_t *objs, const char *key)
{
    return json_string_value(json_object_get(objs, key));
}

#define SVC_CHAIN "c:svc-default/web/tcp/http"
#define EXT_CHAIN "c:ext-default/web/tcp/http"

static void
test_cluster_ip_two_endpoints(void **state)
{
    _cleanup_json_ json_t *svc = service(""), *sl = slices("10.42.1.9:n2:1:1:0 10.42.0.5:n1:1:1:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);

    (void)state;
    assert_string_equal(obj(o, SVC_CHAIN),
                        "ip saddr != 10.42.0.0/16 jump mark-for-masquerade\n"
                        "meta l4proto tcp dnat ip addr . port to numgen random mod 2 map "
                        "{ 0 : 10.42.0.5 . 8080, 1 : 10.42.1.9 . 8080 }\n");
    assert_string_equal(obj(o, "e:service-ips\t10.43.0.20 . tcp . 80"),
                        "goto svc-default/web/tcp/http");
    assert_non_null(obj(o, "e:cluster-ips\t10.43.0.20"));
    assert_non_null(obj(o, "e:hairpin\t10.42.0.5 . 10.42.0.5"));
    assert_non_null(obj(o, "e:hairpin\t10.42.1.9 . 10.42.1.9"));
    assert_null(obj(o, "e:no-endpoint-services\t10.43.0.20 . tcp . 80"));
    assert_null(obj(o, EXT_CHAIN)); /* no NodePort, no external IP */
    assert_int_equal(json_object_size(o), 5);
}

static void
test_no_endpoints_rejects(void **state)
{
    _cleanup_json_ json_t *svc = service(""), *sl = slices("10.42.0.5:n1:0:0:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *o2 = proxy_service_objects(&cfg, svc, NULL);

    (void)state;
    assert_string_equal(obj(o, "e:no-endpoint-services\t10.43.0.20 . tcp . 80"),
                        "goto reject-chain");
    assert_null(obj(o, SVC_CHAIN));
    assert_null(obj(o, "e:service-ips\t10.43.0.20 . tcp . 80"));
    assert_non_null(obj(o, "e:cluster-ips\t10.43.0.20")); /* unused ports refused */
    assert_true(json_equal(o, o2));
}

static void
test_serving_terminating_fallback(void **state)
{
    /* .5 terminating but serving, .6 terminating and not serving. */
    _cleanup_json_ json_t *svc = service(""), *sl = slices("10.42.0.5:n1:0:1:1 10.42.0.6:n1:0:0:1");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *sl2 = slices("10.42.0.5:n1:0:1:1 10.42.0.7:n1:1:1:0");
    _cleanup_json_ json_t *o2 = proxy_service_objects(&cfg, svc, sl2);

    (void)state;
    assert_non_null(strstr(obj(o, SVC_CHAIN), "dnat to 10.42.0.5:8080"));
    assert_null(strstr(obj(o, SVC_CHAIN), "10.42.0.6"));
    /* a ready one wins over the terminating ones */
    assert_non_null(strstr(obj(o2, SVC_CHAIN), "dnat to 10.42.0.7:8080"));
    assert_null(strstr(obj(o2, SVC_CHAIN), "10.42.0.5"));
}

static void
test_node_port_and_external_ips(void **state)
{
    _cleanup_json_ json_t *svc = service(",\"type\":\"NodePort\",\"externalIPs\":[\"192.0.2.7\"]");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *none = proxy_service_objects(&cfg, svc, NULL);

    (void)state;
    assert_string_equal(obj(o, EXT_CHAIN),
                        "jump mark-for-masquerade\ngoto svc-default/web/tcp/http\n");
    assert_string_equal(obj(o, "e:service-nodeports\ttcp . 30080"),
                        "goto ext-default/web/tcp/http");
    assert_string_equal(obj(o, "e:service-ips\t192.0.2.7 . tcp . 80"),
                        "goto ext-default/web/tcp/http");
    assert_string_equal(obj(none, "e:no-endpoint-nodeports\ttcp . 30080"), "goto reject-chain");
    assert_string_equal(obj(none, "e:no-endpoint-services\t192.0.2.7 . tcp . 80"),
                        "goto reject-chain");
    assert_null(obj(none, EXT_CHAIN));
}

static void
test_load_balancer_ingress(void **state)
{
    _cleanup_json_ json_t *svc = service(",\"type\":\"LoadBalancer\"");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0");
    _cleanup_json_ json_t *o = NULL;

    (void)state;
    json_object_set_new(svc, "status",
                        parse("{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.168.9.2\"},"
                              "{\"ip\":\"192.168.9.3\"},{\"hostname\":\"x\"}]}}"));
    o = proxy_service_objects(&cfg, svc, sl);
    assert_string_equal(obj(o, "e:service-ips\t192.168.9.2 . tcp . 80"),
                        "goto ext-default/web/tcp/http");
    assert_string_equal(obj(o, "e:service-ips\t192.168.9.3 . tcp . 80"),
                        "goto ext-default/web/tcp/http");
}

static void
test_external_traffic_policy_local(void **state)
{
    _cleanup_json_ json_t *svc =
        service(",\"type\":\"NodePort\",\"externalTrafficPolicy\":\"Local\"");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0 10.42.1.9:n2:1:1:0");
    _cleanup_json_ json_t *remote = slices("10.42.1.9:n2:1:1:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *o2 = proxy_service_objects(&cfg, svc, remote);

    (void)state;
    assert_string_equal(obj(o, EXT_CHAIN), "ip saddr 10.42.0.0/16 goto svc-default/web/tcp/http\n"
                                           "fib saddr type local jump mark-for-masquerade\n"
                                           "fib saddr type local goto svc-default/web/tcp/http\n"
                                           "meta l4proto tcp dnat to 10.42.0.5:8080\n");
    /* no local endpoint: outside clients dropped, the service still lives */
    assert_non_null(strstr(obj(o2, EXT_CHAIN), "\ndrop\n"));
    assert_string_equal(obj(o2, "e:service-nodeports\ttcp . 30080"),
                        "goto ext-default/web/tcp/http");
}

static void
test_internal_traffic_policy_local(void **state)
{
    _cleanup_json_ json_t *svc = service(",\"internalTrafficPolicy\":\"Local\"");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0 10.42.1.9:n2:1:1:0");
    _cleanup_json_ json_t *remote = slices("10.42.1.9:n2:1:1:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *o2 = proxy_service_objects(&cfg, svc, remote);

    (void)state;
    assert_non_null(strstr(obj(o, SVC_CHAIN), "dnat to 10.42.0.5:8080"));
    assert_null(strstr(obj(o, SVC_CHAIN), "10.42.1.9"));
    assert_non_null(obj(o2, "e:no-endpoint-services\t10.43.0.20 . tcp . 80"));
}

static void
test_session_affinity(void **state)
{
    _cleanup_json_ json_t *svc =
        service(",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{"
                "\"timeoutSeconds\":60}}");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0 10.42.0.6:n1:1:1:0");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    const char *chain = obj(o, SVC_CHAIN);

    (void)state;
    assert_non_null(strstr(chain, "ip saddr @aff-default/web/tcp/http__10.42.0.5/8080/60 goto "
                                  "ep-default/web/tcp/http__10.42.0.5/8080\n"));
    assert_non_null(strstr(chain, "numgen random mod 2 vmap { 0 : goto "
                                  "ep-default/web/tcp/http__10.42.0.5/8080, 1 : goto "
                                  "ep-default/web/tcp/http__10.42.0.6/8080 }"));
    assert_string_equal(obj(o, "c:ep-default/web/tcp/http__10.42.0.6/8080"),
                        "update @aff-default/web/tcp/http__10.42.0.6/8080/60 { ip saddr }\n"
                        "meta l4proto tcp dnat to 10.42.0.6:8080\n");
    assert_string_equal(obj(o, "s:aff-default/web/tcp/http__10.42.0.6/8080/60"),
                        "{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }");
}

static void
test_ignored_services(void **state)
{
    _cleanup_json_ json_t *dns =
        parse("{\"metadata\":{\"namespace\":\"kube-system\",\"name\":\"kube-dns\"},\"spec\":{"
              "\"clusterIP\":\"10.43.0.10\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]}}");
    _cleanup_json_ json_t *headless = service("");
    _cleanup_json_ json_t *ext = service(",\"type\":\"ExternalName\"");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, dns, NULL);

    (void)state;
    json_object_set_new(json_object_get(headless, "spec"), "clusterIP", json_string("None"));
    assert_true(proxy_service_ignored(dns));
    assert_true(proxy_service_ignored(headless));
    assert_true(proxy_service_ignored(ext));
    assert_int_equal(json_object_size(o), 0);
}

/* default/kubernetes: selectorless; its slice (written by the servers'
 * cluster monitor) has no nodeName and names every live API server. */
static void
test_kubernetes_udp_sctp(void **state)
{
    _cleanup_json_ json_t *svc =
        parse("{\"metadata\":{\"namespace\":\"default\",\"name\":\"kubernetes\"},\"spec\":{"
              "\"clusterIP\":\"10.43.0.1\",\"ports\":[{\"name\":\"https\",\"port\":443,"
              "\"protocol\":\"TCP\"}]}}");
    _cleanup_json_ json_t *sl =
        parse("[{\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"https\",\"port\":6443,"
              "\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"192.168.20.222\"]},"
              "{\"addresses\":[\"192.168.20.221\"],\"conditions\":{\"ready\":true}}]}]");
    _cleanup_json_ json_t *o = proxy_service_objects(&cfg, svc, sl);
    _cleanup_json_ json_t *udp = parse(
        "{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\"},\"spec\":{\"clusterIP\":\"10.43.1.1\","
        "\"ports\":[{\"port\":53,\"protocol\":\"UDP\"},{\"port\":9,\"protocol\":\"SCTP\"}]}}");
    _cleanup_json_ json_t *uo = proxy_service_objects(&cfg, udp, NULL);

    (void)state;
    /* conditions absent: ready; sorted by address */
    assert_non_null(strstr(obj(o, "c:svc-default/kubernetes/tcp/https"),
                           "{ 0 : 192.168.20.221 . 6443, 1 : 192.168.20.222 . 6443 }"));
    assert_non_null(obj(uo, "e:no-endpoint-services\t10.43.1.1 . udp . 53"));
    assert_non_null(obj(uo, "e:no-endpoint-services\t10.43.1.1 . sctp . 9"));
}

/* Whatever a Service or a slice says, no word of it reaches the script
 * except names that are DNS labels, numbers and IPv4 addresses. */
static void
test_hostile_fields_stay_out(void **state)
{
    _cleanup_json_ json_t *bad_name = service(""), *bad_port = service("");
    _cleanup_json_ json_t *sl = slices("10.42.0.5:n1:1:1:0");
    _cleanup_json_ json_t *o1 = NULL, *o2 = NULL, *o3 = NULL;
    json_t *port;

    (void)state;
    json_object_set_new(json_object_get(bad_name, "metadata"), "name",
                        json_string("x; flush ruleset"));
    o1 = proxy_service_objects(&cfg, bad_name, sl);
    assert_int_equal(json_object_size(o1), 0);
    port = json_array_get(json_object_get(json_object_get(bad_port, "spec"), "ports"), 0);
    json_object_set_new(port, "name", json_string("http\nadd rule ip t c drop"));
    o2 = proxy_service_objects(&cfg, bad_port, sl);
    assert_null(obj(o2, SVC_CHAIN));
    assert_int_equal(json_object_size(o2), 1); /* only its ClusterIP */
    /* endpoint addresses that are not IPv4, ports out of range */
    json_object_set_new(json_object_get(bad_name, "metadata"), "name", json_string("web"));
    json_object_set_new(json_array_get(json_object_get(json_array_get(sl, 0), "ports"), 0), "port",
                        json_integer(70000));
    o3 = proxy_service_objects(&cfg, bad_name, sl);
    assert_non_null(obj(o3, "e:no-endpoint-services\t10.43.0.20 . tcp . 80"));
}

/* ---- the diff ---- */

static void
test_state_diff_only_what_changed(void **state)
{
    _cleanup_json_ json_t *svc = service(""),
                          *sl1 = slices("10.42.0.5:n1:1:1:0 10.42.0.6:n1:1:1:0");
    _cleanup_json_ json_t *sl2 = slices("10.42.0.5:n1:1:1:0 10.42.0.7:n1:1:1:0");
    _cleanup_json_ json_t *o1 = proxy_service_objects(&cfg, svc, sl1);
    _cleanup_json_ json_t *o2 = proxy_service_objects(&cfg, svc, sl2);
    struct proxy_state *st = proxy_state_new(NULL, NULL);
    _cleanup_free_ char *reset = proxy_state_reset(st);
    _cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;

    (void)state;
    assert_non_null(strstr(reset, "add table ip k3c-proxy\ndelete table ip k3c-proxy\n"));
    assert_non_null(strstr(reset, "hook prerouting priority -100"));
    proxy_state_set(st, "default/web", o1);
    s1 = proxy_state_take_script(st);
    assert_non_null(strstr(s1, "add chain ip k3c-proxy svc-default/web/tcp/http\n"));
    assert_non_null(strstr(s1, "add element ip k3c-proxy service-ips { 10.43.0.20 . tcp . 80 : "
                               "goto svc-default/web/tcp/http }\n"));
    assert_true(strstr(s1, "add chain") < strstr(s1, "add rule"));
    assert_true(strstr(s1, "add rule") < strstr(s1, "add element"));
    assert_int_equal(proxy_state_services(st), 1);
    assert_int_equal(proxy_state_objects(st), 5);

    /* same objects again: nothing to do */
    proxy_state_set(st, "default/web", o1);
    assert_null(proxy_state_take_script(st));

    /* one endpoint replaced: the chain is rewritten, hairpin pairs follow */
    proxy_state_set(st, "default/web", o2);
    s2 = proxy_state_take_script(st);
    assert_string_equal(
        s2, "flush chain ip k3c-proxy svc-default/web/tcp/http\n"
            "add rule ip k3c-proxy svc-default/web/tcp/http ip saddr != 10.42.0.0/16 jump "
            "mark-for-masquerade\n"
            "add rule ip k3c-proxy svc-default/web/tcp/http meta l4proto tcp dnat ip addr . port "
            "to numgen random mod 2 map { 0 : 10.42.0.5 . 8080, 1 : 10.42.0.7 . 8080 }\n"
            "delete element ip k3c-proxy hairpin { 10.42.0.6 . 10.42.0.6 }\n"
            "add element ip k3c-proxy hairpin { 10.42.0.7 . 10.42.0.7 }\n");

    /* all endpoints gone: reject instead, the chain goes last */
    proxy_state_set(st, "default/web", NULL);
    s3 = proxy_state_take_script(st);
    assert_non_null(
        strstr(s3, "delete element ip k3c-proxy service-ips { 10.43.0.20 . tcp . 80 }"));
    assert_true(strstr(s3, "delete element") < strstr(s3, "flush chain"));
    assert_true(strstr(s3, "flush chain") < strstr(s3, "delete chain"));
    assert_int_equal(proxy_state_services(st), 0);
    assert_int_equal(proxy_state_objects(st), 0);
    s4 = proxy_state_take_script(st);
    assert_null(s4);
    proxy_state_free(st);
}

static void
test_state_shared_elements_counted(void **state)
{
    _cleanup_json_ json_t *a = service(""), *b = service(""), *sl = slices("10.42.0.5:n1:1:1:0");
    _cleanup_json_ json_t *oa = NULL, *ob = NULL;
    struct proxy_state *st = proxy_state_new("t1", NULL);
    _cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL;

    (void)state;
    json_object_set_new(json_object_get(b, "metadata"), "name", json_string("other"));
    json_object_set_new(json_object_get(b, "spec"), "clusterIP", json_string("10.43.0.21"));
    oa = proxy_service_objects(&cfg, a, sl);
    ob = proxy_service_objects(&cfg, b, sl);
    proxy_state_set(st, "default/web", oa);
    proxy_state_set(st, "default/other", ob);
    s1 = proxy_state_take_script(st);
    /* one hairpin pair for two services */
    assert_non_null(strstr(s1, "add element ip t1 hairpin { 10.42.0.5 . 10.42.0.5 }"));
    assert_null(strstr(strstr(s1, "hairpin {") + 1, "hairpin {"));
    proxy_state_set(st, "default/web", NULL);
    s2 = proxy_state_take_script(st);
    assert_null(strstr(s2, "hairpin"));
    proxy_state_set(st, "default/other", NULL);
    s3 = proxy_state_take_script(st);
    assert_non_null(strstr(s3, "delete element ip t1 hairpin { 10.42.0.5 . 10.42.0.5 }"));
    proxy_state_free(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_ip_two_endpoints),
        cmocka_unit_test(test_no_endpoints_rejects),
        cmocka_unit_test(test_serving_terminating_fallback),
        cmocka_unit_test(test_node_port_and_external_ips),
        cmocka_unit_test(test_load_balancer_ingress),
        cmocka_unit_test(test_external_traffic_policy_local),
        cmocka_unit_test(test_internal_traffic_policy_local),
        cmocka_unit_test(test_session_affinity),
        cmocka_unit_test(test_ignored_services),
        cmocka_unit_test(test_kubernetes_udp_sctp),
        cmocka_unit_test(test_hostile_fields_stay_out),
        cmocka_unit_test(test_state_diff_only_what_changed),
        cmocka_unit_test(test_state_shared_elements_counted),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
