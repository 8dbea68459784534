/* SPDX-License-Identifier: Apache-2.0
 * bench_ssa.c - the cost of managedFields (issue #17, docs/ssa.md): for a
 * Deployment (two containers, ports, env, volumes) and a Pod as kubelet
 * updates its status, the time to compute the managedFields of a create
 * (an Update entry), of a status update and of a server-side apply, next to
 * the time to encode the object for etcd; and the bytes managedFields add.
 * Prints figures (the best of 5 rounds), asserts nothing.
 *
 *   build-release/bench/bench_ssa [iterations per round]   (default 2000) */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "ssa/ssa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char deployment_json[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"default\",\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"}},"
    "\"spec\":{\"replicas\":3,\"revisionHistoryLimit\":10,\"progressDeadlineSeconds\":600,"
    "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"strategy\":{\"type\":\"RollingUpdate\","
    "\"rollingUpdate\":{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"}},\"template\":{"
    "\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"}},\"spec\":{\"containers\":["
    "{\"name\":\"nginx\",\"image\":\"nginx:1.27\",\"imagePullPolicy\":\"IfNotPresent\",\"ports\":"
    "[{\"containerPort\":80,\"protocol\":\"TCP\"},{\"containerPort\":443,\"protocol\":\"TCP\"}],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],\"resources\":"
    "{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}},\"volumeMounts\":[{\"name\":\"conf\","
    "\"mountPath\":\"/etc/nginx/conf.d\"}],\"terminationMessagePath\":\"/dev/termination-log\","
    "\"terminationMessagePolicy\":\"File\"},{\"name\":\"sidecar\",\"image\":\"envoy:1.29\","
    "\"args\":[\"-c\",\"/etc/envoy.yaml\"]}],\"volumes\":[{\"name\":\"conf\",\"configMap\":{"
    "\"name\":\"web-conf\"}}],\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\","
    "\"schedulerName\":\"default-scheduler\",\"terminationGracePeriodSeconds\":30,"
    "\"securityContext\":{}}}}}";

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

#define ROUNDS 5

static double
best(double a, double b)
{
    return a < b ? a : b;
}

static size_t
json_bytes(const json_t *v)
{
    _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT);

    return s ? strlen(s) : 0;
}

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const struct api_resource *r = api_resource_find("apps", "v1", "deployments");
    struct ssa_schema s = {api_openapi_kind_schema(r), api_openapi_resolve, NULL};
    struct ssa_manager m = {"kubectl-create", NULL, "apps/v1", "2026-12-06T10:00:00Z"};
    _cleanup_json_ json_t *obj = json_loads(deployment_json, 0, NULL);
    _cleanup_json_ json_t *mf = NULL, *scaled = NULL;
    struct k3c_err err = {0};
    double t, encode_us, create_us, update_us, apply_us;

    if (!r || !obj || n <= 0) {
        fprintf(stderr, "bench_ssa: setup failed\n");
        return 1;
    }
    scaled = json_deep_copy(obj);
    json_object_set_new(json_object_get(scaled, "spec"), "replicas", json_integer(5));
    /* The best of ROUNDS rounds: the machine is shared, the minimum is the
     * figure least disturbed by other work. */
    encode_us = create_us = update_us = apply_us = 1e30;
    for (int round = 0; round < ROUNDS; round++) {
        t = now_us();
        for (int i = 0; i < n; i++) {
            size_t len;
            char *text = api_object_encode(obj, &len);

            free(text);
        }
        encode_us = best(encode_us, (now_us() - t) / n);
        m.manager = "kubectl-create";
        t = now_us();
        for (int i = 0; i < n; i++) {
            json_decref(mf);
            mf = ssa_update(NULL, obj, NULL, &m, &s, &err);
        }
        create_us = best(create_us, (now_us() - t) / n);
        m.manager = "kubectl-scale";
        t = now_us();
        for (int i = 0; i < n; i++)
            json_decref(ssa_update(obj, scaled, mf, &m, &s, &err));
        update_us = best(update_us, (now_us() - t) / n);
        m.manager = "kubectl";
        t = now_us();
        for (int i = 0; i < n; i++) {
            struct ssa_apply_result res;

            if (ssa_apply(obj, scaled, NULL, &m, true, &s, &res, &err) == 0)
                ssa_apply_result_fini(&res);
        }
        apply_us = best(apply_us, (now_us() - t) / n);
    }
    printf("bench_ssa: Deployment of %zu bytes, best of %d rounds of %d\n", json_bytes(obj), ROUNDS,
           n);
    printf("  encode for etcd (reference)   %8.1f us\n", encode_us);
    printf("  managedFields of a create     %8.1f us  (%.2fx the encode)\n", create_us,
           create_us / encode_us);
    printf("  managedFields of an update    %8.1f us\n", update_us);
    printf("  server-side apply (merge+mf)  %8.1f us\n", apply_us);
    printf("  managedFields size            %8zu bytes (+%.0f%% of the object)\n", json_bytes(mf),
           100.0 * (double)json_bytes(mf) / (double)json_bytes(obj));
    return 0;
}
