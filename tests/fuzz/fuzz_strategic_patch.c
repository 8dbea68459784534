/* SPDX-License-Identifier: Apache-2.0
 * fuzz_strategic_patch.c - strategic merge patch (api_strategic_merge_patch)
 * with the embedded apps/v1 Deployment schema, as PATCH with
 * application/strategic-merge-patch+json runs it. The input is the patch,
 * applied to a fixed Deployment; "<original>\0<patch>" replaces the
 * Deployment with <original> when that parses as an object. Checks that the
 * inputs are left as they were. */
#include "api/api-internal.h"
#include "api/api-patch.h"
#include "fuzz.h"

static const char fixed_deployment[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
    "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":"
    "\"5b1d2c9e-0d7a-4c55-9d0e-3f1c2b7a9e11\",\"resourceVersion\":\"42\",\"generation\":3,"
    "\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"},"
    "\"annotations\":{\"deployment.kubernetes.io/revision\":\"2\"},"
    "\"finalizers\":[\"example.com/a\",\"example.com/b\"]},"
    "\"spec\":{\"replicas\":3,\"revisionHistoryLimit\":10,"
    "\"selector\":{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\","
    "\"operator\":\"In\",\"values\":[\"frontend\",\"edge\"]}]},"
    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":\"25%\","
    "\"maxUnavailable\":1}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"}},"
    "\"spec\":{\"serviceAccountName\":\"web\",\"terminationGracePeriodSeconds\":30,"
    "\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox:1.36\",\"command\":[\"sh\",\"-c\","
    "\"true\"]}],"
    "\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.25\",\"args\":[\"-g\",\"daemon "
    "off;\"],"
    "\"ports\":[{\"name\":\"http\",\"containerPort\":80,\"protocol\":\"TCP\"},{\"name\":\"https\","
    "\"containerPort\":443,\"protocol\":\"TCP\"}],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"valueFrom\":{\"fieldRef\":"
    "{\"fieldPath\":\"metadata.name\"}}}],"
    "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"},\"requests\":{\"cpu\":"
    "\"100m\"}},"
    "\"volumeMounts\":[{\"name\":\"conf\",\"mountPath\":\"/etc/nginx/conf.d\"},{\"name\":\"cache\","
    "\"mountPath\":\"/var/cache/nginx\"}],"
    "\"readinessProbe\":{\"httpGet\":{\"path\":\"/\",\"port\":\"http\"},\"periodSeconds\":5}},"
    "{\"name\":\"sidecar\",\"image\":\"envoy:1.29\",\"env\":[{\"name\":\"A\",\"value\":\"2\"}]}],"
    "\"volumes\":[{\"name\":\"conf\",\"configMap\":{\"name\":\"web-conf\",\"items\":[{\"key\":"
    "\"default.conf\",\"path\":\"default.conf\"}]}},{\"name\":\"cache\",\"emptyDir\":{}}],"
    "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
    "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],"
    "\"imagePullSecrets\":[{\"name\":\"regcred\"}],"
    "\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":"
    "[{\"weight\":100,\"podAffinityTerm\":{\"topologyKey\":\"kubernetes.io/hostname\","
    "\"labelSelector\":{\"matchLabels\":{\"app\":\"web\"}}}}]}}}}},"
    "\"status\":{\"replicas\":3,\"readyReplicas\":2,\"observedGeneration\":3,"
    "\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"reason\":"
    "\"MinimumReplicasAvailable\"},{\"type\":\"Progressing\",\"status\":\"True\"}]}}";

static json_t *deployment;
static const json_t *schema;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct api_resource *r = api_resource_find("apps", "v1", "deployments");

    (void)argc;
    (void)argv;
    fuzz_quiet();
    deployment = json_loads(fixed_deployment, 0, NULL);
    schema = r ? api_openapi_kind_schema(r) : NULL;
    FUZZ_CHECK(deployment != NULL, "the fixed Deployment does not parse");
    FUZZ_CHECK(schema != NULL, "no schema for apps/v1 Deployment");
    /* The schema refers to others ($ref), which must resolve. */
    FUZZ_CHECK(api_openapi_resolve("#/components/schemas/io.k8s.api.core.v1.PodSpec", NULL),
               "io.k8s.api.core.v1.PodSpec does not resolve");
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    json_t *original = NULL, *patch, *orig_copy, *patch_copy, *out;
    const json_t *orig;
    struct k3c_err err = {0};

    if (fuzz_split(data, size, &a, &a_len, &b, &b_len)) {
        original = json_loadb((const char *)a, a_len, 0, NULL);
        patch = json_loadb((const char *)b, b_len, JSON_DECODE_ANY, NULL);
        if (!json_is_object(original)) {
            json_decref(original);
            original = NULL;
        }
    } else {
        patch = json_loadb((const char *)a, a_len, JSON_DECODE_ANY, NULL);
    }
    if (!patch) {
        json_decref(original);
        return 0;
    }
    orig = original ? original : deployment;
    orig_copy = json_deep_copy(orig);
    patch_copy = json_deep_copy(patch);
    out = api_strategic_merge_patch(orig, patch, schema, api_openapi_resolve, NULL, &err);
    if (out) {
        char *s = json_dumps(out, JSON_COMPACT);

        FUZZ_CHECK(json_is_object(out), "the result is not an object");
        FUZZ_CHECK(s != NULL, "the result does not serialise");
        free(s);
        json_decref(out);
    } else {
        FUZZ_CHECK(err.kind == K3C_E_BAD_REQUEST || err.kind == K3C_E_INVALID,
                   "a failure other than BAD_REQUEST or INVALID");
    }
    FUZZ_CHECK(json_equal(orig, orig_copy), "the original was modified");
    FUZZ_CHECK(json_equal(patch, patch_copy), "the patch was modified");
    json_decref(orig_copy);
    json_decref(patch_copy);
    json_decref(patch);
    json_decref(original);
    return 0;
}
