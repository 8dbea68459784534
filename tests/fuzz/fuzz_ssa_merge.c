/* SPDX-License-Identifier: Apache-2.0
 * fuzz_ssa_merge.c - server-side apply (ssa_apply) with the embedded
 * apps/v1 Deployment schema, as PATCH with application/apply-patch+yaml
 * runs it: the input is the applied configuration, applied over a fixed
 * Deployment owned by two managers; "<live>\0<config>" replaces the
 * Deployment with <live>. Applies twice (the second time with the first
 * result, by another manager, forced) and checks the results serialise,
 * that a conflict-free apply gives an object and managedFields, and that
 * the inputs are left as they were. The configuration is also created: the
 * create shortcut (with kept schema rules) must give the general path's
 * bytes (issue #20). */
#include "api/api-internal.h"
#include "fuzz.h"
#include "ssa/ssa-internal.h"

static const char fixed_deployment[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"app\":\"web\"},\"finalizers\":[\"a\"],\"managedFields\":[{\"manager\":"
    "\"kubectl\","
    "\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"
    "{\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{"
    "\\\"name\\\":"
    "\\\"app\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}}}}}},{\"manager\":\"kubectl-edit\","
    "\"operation\":\"Update\",\"apiVersion\":\"apps/v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"
    "{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}}}}]},"
    "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":"
    "{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"app\","
    "\"image\":\"nginx\",\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],\"env\":[{"
    "\"name\":"
    "\"A\",\"value\":\"1\"}]},{\"name\":\"side\",\"image\":\"envoy\",\"args\":[\"-c\"]}],"
    "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}}}";

static json_t *deployment;
static struct ssa_schema schema;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct api_resource *r = api_resource_find("apps", "v1", "deployments");

    (void)argc;
    (void)argv;
    fuzz_quiet();
    FUZZ_CHECK(r != NULL, "no apps/v1 deployments");
    schema = (struct ssa_schema){api_openapi_kind_schema(r), api_openapi_resolve, NULL};
    deployment = json_loads(fixed_deployment, 0, NULL);
    FUZZ_CHECK(deployment != NULL, "the fixed Deployment does not parse");
    return 0;
}

/* Applies config over live as manager; returns the object (or NULL). */
static json_t *
apply_once(const json_t *live, const json_t *config, const char *manager, bool force)
{
    struct ssa_manager m = {manager, NULL, "apps/v1", "2026-01-01T00:00:00Z"};
    struct ssa_apply_result res;
    struct k3c_err err = {0};
    json_t *managed = json_object_get(json_object_get(live, "metadata"), "managedFields");
    json_t *out = NULL;

    if (ssa_apply(live, config, managed, &m, force, &schema, &res, &err) < 0) {
        FUZZ_CHECK(err.kind == K3C_E_INVALID, "a failure other than INVALID");
        return NULL;
    }
    if (res.conflicts) {
        char *msg = ssa_conflict_message(res.conflicts);

        FUZZ_CHECK(!force, "a forced apply has conflicts");
        FUZZ_CHECK(msg && strncmp(msg, "Apply failed with ", 18) == 0, "bad conflict message");
        free(msg);
    } else {
        char *s = json_dumps(res.object, JSON_COMPACT | JSON_ENCODE_ANY);

        FUZZ_CHECK(s != NULL, "the result does not serialise");
        FUZZ_CHECK(json_is_array(res.managed_fields), "managedFields is not a list");
        free(s);
        out = json_incref(res.object);
        if (json_is_object(out))
            json_object_set(json_object_get(out, "metadata"), "managedFields", res.managed_fields);
    }
    ssa_apply_result_fini(&res);
    return out;
}

/* The managedFields of a create of obj: ssa_update's shortcut and the
 * general path give the same bytes, or fail alike. */
static void
check_create(const json_t *obj)
{
    struct ssa_manager m = {"creator", NULL, "apps/v1", "2026-01-01T00:00:00Z"};
    struct ssa_schema kept = schema;
    struct k3c_err e1 = {0}, e2 = {0};
    json_t *a, *b;
    char *x, *y;

    kept.stable = true;
    a = ssa_update(NULL, obj, NULL, &m, &kept, &e1);
    b = ssa_update_compared(NULL, obj, NULL, &m, &schema, &e2);
    x = a ? json_dumps(a, JSON_COMPACT) : NULL;
    y = b ? json_dumps(b, JSON_COMPACT) : NULL;
    FUZZ_CHECK((!a && !b && strcmp(e1.msg, e2.msg) == 0) || (x && y && strcmp(x, y) == 0),
               "a create's managedFields differ between the shortcut and the general path");
    free(x);
    free(y);
    json_decref(a);
    json_decref(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    json_t *live = NULL, *config, *live_copy, *config_copy, *first, *second;
    const json_t *base;

    if (fuzz_split(data, size, &a, &a_len, &b, &b_len)) {
        live = json_loadb((const char *)a, a_len, 0, NULL);
        config = json_loadb((const char *)b, b_len, JSON_DECODE_ANY, NULL);
    } else {
        config = json_loadb((const char *)a, a_len, JSON_DECODE_ANY, NULL);
    }
    if (!config) {
        json_decref(live);
        return 0;
    }
    base = live ? live : deployment;
    check_create(config);
    live_copy = json_deep_copy(base);
    config_copy = json_deep_copy(config);
    first = apply_once(base, config, "kubectl", false);
    second = apply_once(first ? first : base, config, "other", true);
    FUZZ_CHECK(json_equal(base, live_copy), "the live object was modified");
    FUZZ_CHECK(json_equal(config, config_copy), "the configuration was modified");
    json_decref(first);
    json_decref(second);
    json_decref(live_copy);
    json_decref(config_copy);
    json_decref(config);
    json_decref(live);
    return 0;
}
