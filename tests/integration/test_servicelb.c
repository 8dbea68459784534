/* SPDX-License-Identifier: Apache-2.0
 * test_servicelb.c - the ServiceLB controller (controllers/servicelb.c)
 * alone against a real etcd and an in-process API server, with Nodes
 * registered through the API: a LoadBalancer Service gets the Ready nodes'
 * IPs (ExternalIP before InternalIP, a NotReady node left out), the
 * enablelb allow-list, lbpool, externalTrafficPolicy Local (nodes with a
 * ready endpoint), a loadBalancerClass left alone, the ingress removed when
 * the type changes, and nothing at all with --disable servicelb; a Service
 * asking for the VIP or a --servicelb-pool address gets exactly it. */
#include "harness_api.h"

#include "base/util.h"
#include "client/client.h"
#include "controllers/controllers.h"
#include "controllers/ctl-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WAIT_MS 15000

static struct harness_api *H;
static const struct ctl_def *const table[] = {&ctl_def_servicelb, NULL};

static long
api(const char *method, const char *path, const char *ctype, const char *body_json, json_t **out)
{
    const char *endpoints[] = {H->url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = H->ca_file,
                                    .cert_file = H->admin_cert,
                                    .key_file = H->admin_key};
    struct k3c_err err = {0};
    struct http_client *c = http_client_new(&hc, &err);
    json_t *body = body_json ? json_loads(body_json, 0, NULL) : NULL;
    long st;

    assert_non_null(c);
    if (body_json && !body)
        fail_msg("bad JSON in the test: %s", body_json);
    st = http_client_json(c, method, path, ctype, body, out, &err);
    json_decref(body);
    http_client_free(c);
    return st;
}

static struct ctl_manager *
manager_new_with_pool(bool disable, const char *vip, const char *pool)
{
    struct ctl_config cfg = harness_api_ctl_config(H, "servicelb-test");
    struct k3c_err err = {0};
    struct ctl_manager *m;

    cfg.disable_scheduler = true;
    cfg.disable_servicelb = disable;
    cfg.servicelb_vip = vip;
    cfg.servicelb_pool = pool;
    m = ctl_manager_new_with(&cfg, H->srv, table, &err);
    assert_non_null(m);
    assert_int_equal(ctl_manager_start(m, &err), 0);
    return m;
}

static struct ctl_manager *
manager_new(bool disable)
{
    return manager_new_with_pool(disable, NULL, NULL);
}

static void
node(const char *name, const char *internal, const char *external, bool ready)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
             "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"%s\"}%s%s%s],"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
             name, internal, external ? ",{\"type\":\"ExternalIP\",\"address\":\"" : "",
             external ? external : "", external ? "\"}" : "", ready ? "True" : "False");
    assert_int_equal(api("POST", "/api/v1/nodes", NULL, body, NULL), 201);
}

static void
patch(const char *path, const char *merge)
{
    json_t *out = NULL;
    long st = api("PATCH", path, "application/merge-patch+json", merge, &out);

    if (st != 200) {
        char *text = json_dumps(out, 0);

        fail_msg("PATCH %s: %ld %s", path, st, text ? text : "");
    }
    json_decref(out);
}

/* The Service's ingress IPs, space separated ("" for none). */
static void
ingress_of(const char *name, char *out, size_t len)
{
    char path[256];
    json_t *svc = NULL, *in;
    size_t i;

    out[0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    if (api("GET", path, NULL, NULL, &svc) == 200) {
        json_array_foreach(
            json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"),
                            "ingress"),
            i, in)
        {
            size_t n = strlen(out);

            snprintf(out + n, len - n, "%s%s", n ? " " : "",
                     json_string_value(json_object_get(in, "ip")));
        }
    }
    json_decref(svc);
}

/* Waits until the ingress is want; fails with what it was. */
static void
wait_ingress(const char *name, const char *want)
{
    char have[256];
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    for (;;) {
        ingress_of(name, have, sizeof(have));
        if (strcmp(have, want) == 0)
            return;
        if (k3c_now_ms() > deadline)
            fail_msg("service %s: ingress \"%s\", want \"%s\"", name, have, want);
        k3c_sleep_ms(50);
    }
}

static void
service(const char *name, const char *extra)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"type\":\"LoadBalancer\",\"selector\":{\"app\":\"x\"},"
             "\"ports\":[{\"port\":80}]%s}}",
             name, extra);
    assert_int_equal(api("POST", "/api/v1/namespaces/default/services", NULL, body, NULL), 201);
}

static void
test_servicelb(void **state)
{
    struct ctl_manager *m = manager_new(false);
    char have[256];

    (void)state;
    node("n1", "192.0.2.1", NULL, true);
    node("n2", "192.0.2.2", "198.51.100.2", true);
    node("n3", "192.0.2.3", NULL, false);
    service("lb", "");
    /* Ready nodes only, ExternalIP when there is one, sorted */
    wait_ingress("lb", "192.0.2.1 198.51.100.2");

    /* allow-list */
    patch("/api/v1/nodes/n1",
          "{\"metadata\":{\"labels\":{\"svccontroller.k3s.cattle.io/enablelb\":\"true\"}}}");
    wait_ingress("lb", "192.0.2.1");
    patch("/api/v1/nodes/n1",
          "{\"metadata\":{\"labels\":{\"svccontroller.k3s.cattle.io/enablelb\":null}}}");
    wait_ingress("lb", "192.0.2.1 198.51.100.2");

    /* a NotReady node that becomes Ready joins */
    patch("/api/v1/nodes/n3/status", "{\"status\":{\"conditions\":[{\"type\":\"Ready\","
                                     "\"status\":\"True\"}]}}");
    wait_ingress("lb", "192.0.2.1 192.0.2.3 198.51.100.2");

    /* lbpool: only nodes of the Service's pool */
    patch("/api/v1/nodes/n3",
          "{\"metadata\":{\"labels\":{\"svccontroller.k3s.cattle.io/lbpool\":\"p1\"}}}");
    patch("/api/v1/namespaces/default/services/lb",
          "{\"metadata\":{\"labels\":{\"svccontroller.k3s.cattle.io/lbpool\":\"p1\"}}}");
    wait_ingress("lb", "192.0.2.3");

    /* externalTrafficPolicy Local: nodes with a ready endpoint */
    service("local", ",\"externalTrafficPolicy\":\"Local\"");
    wait_ingress("local", "");
    assert_int_equal(
        api("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", NULL,
            "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{"
            "\"name\":\"local-1\",\"labels\":{\"kubernetes.io/service-name\":\"local\"}},"
            "\"addressType\":\"IPv4\",\"ports\":[{\"port\":8080}],\"endpoints\":[{\"addresses\":["
            "\"10.42.1.5\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":true}},{\"addresses\":["
            "\"10.42.2.5\"],\"nodeName\":\"n2\",\"conditions\":{\"ready\":false}}]}",
            NULL),
        201);
    wait_ingress("local", "192.0.2.1");

    /* another class's Service is left alone; a type change empties ours */
    service("other", ",\"loadBalancerClass\":\"example.com/lb\"");
    patch("/api/v1/namespaces/default/services/lb", "{\"spec\":{\"type\":\"NodePort\"}}");
    wait_ingress("lb", "");
    ingress_of("other", have, sizeof(have));
    assert_string_equal(have, "");
    ctl_manager_free(m);

    /* --disable servicelb: a new Service gets nothing */
    m = manager_new(true);
    service("off", "");
    for (int64_t until = k3c_now_ms() + 2000; k3c_now_ms() < until; k3c_sleep_ms(100)) {
        ingress_of("off", have, sizeof(have));
        assert_string_equal(have, "");
    }
    ctl_manager_free(m);
}

/* --vip and --servicelb-pool: a Service asking for the VIP or a pool
 * address (spec.loadBalancerIP or kube-vip's annotation) gets exactly it; one
 * outside gets nothing and a Warning Event. */
static void
test_requested_ip(void **state)
{
    struct ctl_manager *m =
        manager_new_with_pool(false, "192.0.2.100/32", "192.0.2.200-192.0.2.210");
    json_t *events = NULL;
    char *text;

    (void)state;
    service("want-pool", ",\"loadBalancerIP\":\"192.0.2.205\"");
    wait_ingress("want-pool", "192.0.2.205");
    assert_int_equal(
        api("POST", "/api/v1/namespaces/default/services", NULL,
            "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"want-vip\","
            "\"annotations\":{\"kube-vip.io/loadbalancerIPs\":\"192.0.2.100\"}},\"spec\":{"
            "\"type\":\"LoadBalancer\",\"ports\":[{\"port\":81}]}}",
            NULL),
        201);
    wait_ingress("want-vip", "192.0.2.100");
    service("want-outside", ",\"loadBalancerIP\":\"192.0.2.211\"");
    /* a Service that asks for nothing still gets the node IPs */
    service("want-none", "");
    wait_ingress("want-none", "192.0.2.1 192.0.2.3 198.51.100.2");
    for (int64_t until = k3c_now_ms() + WAIT_MS;; k3c_sleep_ms(100)) {
        assert_int_equal(api("GET", "/api/v1/namespaces/default/events", NULL, NULL, &events), 200);
        text = json_dumps(events, 0);
        json_decref(events);
        if (strstr(text, "loadBalancerIP 192.0.2.211 is neither the server's --vip nor in "
                         "--servicelb-pool")) {
            free(text);
            break;
        }
        free(text);
        if (k3c_now_ms() > until)
            fail_msg("no AllocationFailed Event for want-outside");
    }
    wait_ingress("want-outside", "");
    /* the annotation wins over spec.loadBalancerIP; a change moves the ingress */
    patch("/api/v1/namespaces/default/services/want-pool",
          "{\"metadata\":{\"annotations\":{\"kube-vip.io/loadbalancerIPs\":\"192.0.2.210\"}}}");
    wait_ingress("want-pool", "192.0.2.210");
    ctl_manager_free(m);
}

static int
setup(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    H = harness_api_start(&err);
    if (!H) {
        fprintf(stderr, "harness: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    harness_api_stop(H);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servicelb),
        cmocka_unit_test(test_requested_ip),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
