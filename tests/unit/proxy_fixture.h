/* SPDX-License-Identifier: Apache-2.0
 * proxy_fixture.h - the Service and EndpointSlices of the proxy's unit tests
 * (test_proxy.c: nftables, test_proxy_ipt.c: iptables; include after
 * <cmocka.h>): both backends render the same model, so they are fed the same
 * objects. */
#ifndef K3C_TEST_PROXY_FIXTURE_H
#define K3C_TEST_PROXY_FIXTURE_H

#include "base/cleanup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline json_t *
parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

/* default/web, port "http" 80 -> 8080; spec_extra is appended to spec. A
 * NodePort or LoadBalancer Service gets nodePort 30080. */
static inline json_t *
service(const char *spec_extra)
{
    _cleanup_free_ char *t = NULL;
    bool node_port = strstr(spec_extra, "NodePort") || strstr(spec_extra, "LoadBalancer");

    if (asprintf(&t,
                 "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{"
                 "\"clusterIP\":\"10.43.0.20\",\"ports\":[{\"name\":\"http\",\"port\":80,"
                 "\"protocol\":\"TCP\",\"targetPort\":8080%s}]%s}}",
                 node_port ? ",\"nodePort\":30080" : "", spec_extra) < 0)
        fail();
    return parse(t);
}

/* One slice of port "http" 8080: endpoints separated by ' ', each
 * "ip:node:ready:serving:terminating" (0/1), or "ip@node" for a ready one. */
static inline json_t *
slices(const char *eps)
{
    json_t *slice = parse("{\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,"
                          "\"protocol\":\"TCP\"}],\"endpoints\":[]}");
    _cleanup_free_ char *copy = strdup(eps);
    char *save = NULL;

    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char ip[32], node[32];
        int r = 1, s = 1, t = 0;

        if (sscanf(tok, "%31[^@]@%31s", ip, node) != 2 &&
            sscanf(tok, "%31[^:]:%31[^:]:%d:%d:%d", ip, node, &r, &s, &t) != 5)
            fail_msg("bad endpoint %s", tok);
        json_array_append_new(json_object_get(slice, "endpoints"),
                              json_pack("{s:[s], s:s, s:{s:b, s:b, s:b}}", "addresses", ip,
                                        "nodeName", node, "conditions", "ready", r, "serving", s,
                                        "terminating", t));
    }
    return json_pack("[o]", slice);
}

#endif
