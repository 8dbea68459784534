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
#include "ssa/ssa-internal.h"

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

/* bench_api's ConfigMap and pod (bench/bench_api.c), as their creates see
 * them: defaults filled, uid and creationTimestamp set. */
static const char configmap_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-000001\","
    "\"namespace\":\"default\",\"labels\":{\"app\":\"bench\"},\"uid\":"
    "\"0a6e4d2c-1b7f-4c3e-9d5a-2f8b6c1e7a90\",\"creationTimestamp\":\"2026-12-06T10:00:00Z\"},"
    "\"data\":{\"value\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}";

static const char pod_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7d9c5b8f6d-000001\","
    "\"namespace\":\"bench-1\",\"uid\":\"0a6e4d2c-1b7f-4c3e-9d5a-2f8b6c1e7a90\","
    "\"creationTimestamp\":\"2026-12-06T10:00:00Z\",\"labels\":{\"app.kubernetes.io/name\":"
    "\"web\",\"app.kubernetes.io/instance\":\"web-1\",\"pod-template-hash\":\"7d9c5b8f6d\","
    "\"tier\":\"frontend\"},\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":"
    "\"2024-05-01T10:00:00Z\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
    "\"registry.k8s.io/e2e-test-images/nginx:1.15-4\",\"imagePullPolicy\":\"IfNotPresent\","
    "\"args\":[\"--port=8080\",\"--log-level=info\"],\"ports\":[{\"name\":\"http\","
    "\"containerPort\":8080,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"POD_NAME\","
    "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},{\"name\":\"MODE\","
    "\"value\":\"production\"}],\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
    "\"64Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}},\"readinessProbe\":{"
    "\"httpGet\":{\"path\":\"/healthz\",\"port\":8080},\"periodSeconds\":10},\"volumeMounts\":"
    "[{\"name\":\"config\",\"mountPath\":\"/etc/web\",\"readOnly\":true}]}],\"volumes\":[{"
    "\"name\":\"config\",\"configMap\":{\"name\":\"web-config\"}}],\"restartPolicy\":"
    "\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
    "\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},\"tolerations\":[{\"key\":"
    "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
    "\"tolerationSeconds\":300}]}}";

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

/* The managedFields of a create of text (a group/v1 plural), defaults
 * filled: the best of ROUNDS rounds of n, in us, by ssa_update and (in
 * *general_us) by its general path that compares; *same tells whether both
 * give the same bytes. */
static double
create_cost(const char *group, const char *plural, const char *text, int n, double *general_us,
            bool *same)
{
    const struct api_resource *r = api_resource_find(group, "v1", plural);
    struct ssa_schema s = {api_openapi_kind_schema(r), api_openapi_resolve, NULL, true};
    struct ssa_manager m = {"kubectl-create", NULL, "v1", "2026-12-06T10:00:00Z"};
    _cleanup_json_ json_t *obj = json_loads(text, 0, NULL);
    _cleanup_json_ json_t *fast = NULL, *general = NULL;
    _cleanup_free_ char *a = NULL, *b = NULL;
    struct k3c_err err = {0};
    double cost = 1e30;

    *general_us = 1e30;
    if (!r || !obj)
        return -1;
    if (r->defaults)
        r->defaults(obj);
    for (int round = 0; round < ROUNDS; round++) {
        double t = now_us();

        for (int i = 0; i < n; i++)
            json_decref(ssa_update(NULL, obj, NULL, &m, &s, &err));
        cost = best(cost, (now_us() - t) / n);
        t = now_us();
        for (int i = 0; i < n; i++)
            json_decref(ssa_update_compared(NULL, obj, NULL, &m, &s, &err));
        *general_us = best(*general_us, (now_us() - t) / n);
    }
    fast = ssa_update(NULL, obj, NULL, &m, &s, &err);
    general = ssa_update_compared(NULL, obj, NULL, &m, &s, &err);
    a = fast ? json_dumps(fast, JSON_COMPACT) : NULL;
    b = general ? json_dumps(general, JSON_COMPACT) : NULL;
    *same = a && b && strcmp(a, b) == 0;
    return cost;
}

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const struct api_resource *r = api_resource_find("apps", "v1", "deployments");
    struct ssa_schema s = {api_openapi_kind_schema(r), api_openapi_resolve, NULL, true};
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
    {
        bool same_cm = false, same_pod = false;
        double cm_general, pod_general;
        double cm = create_cost("", "configmaps", configmap_json, n, &cm_general, &same_cm);
        double pod = create_cost("", "pods", pod_json, n, &pod_general, &same_pod);

        printf("  managedFields of bench_api's creates: ConfigMap %.1f us (compared: %.1f us), "
               "pod %.1f us (compared: %.1f us)%s\n",
               cm, cm_general, pod, pod_general,
               same_cm && same_pod ? "" : "  (DIFFERENT from the compared managedFields)");
    }
    return 0;
}
