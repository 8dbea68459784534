/* SPDX-License-Identifier: Apache-2.0
 * test_admission.c - the webhook dispatcher's pure parts (issue #17): rule
 * matching (operations, groups, versions, resources and subresources with
 * "*", scope, matchPolicy), object and namespace selectors, the
 * AdmissionReview request, and the checks on a webhook's reply; plus the
 * webhook configurations' defaults and validation (kind_webhookconfig.c). */
#include "admission/admission-internal.h"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static json_t *
js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    if (!v)
        fail_msg("bad test JSON: %s: %s", text, e.text);
    return v;
}

static const struct admission_attrs pod_create = {.op = ADMISSION_CREATE,
                                                  .group = "",
                                                  .version = "v1",
                                                  .resource = "pods",
                                                  .subresource = "",
                                                  .namespace = "default"};

static bool
rule_matches(const char *rule, const struct admission_attrs *a)
{
    _cleanup_json_ json_t *r = js(rule);

    return admission_rule_matches(r, a, NULL);
}

static void
test_rule_operations_groups_versions(void **state)
{
    (void)state;
    assert_true(rule_matches("{\"operations\":[\"CREATE\"],\"apiGroups\":[\"\"],"
                             "\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}",
                             &pod_create));
    assert_true(rule_matches("{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],"
                             "\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}",
                             &pod_create));
    assert_false(rule_matches("{\"operations\":[\"UPDATE\",\"DELETE\"],\"apiGroups\":[\"\"],"
                              "\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}",
                              &pod_create));
    assert_false(rule_matches("{\"operations\":[\"CREATE\"],\"apiGroups\":[\"apps\"],"
                              "\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}",
                              &pod_create));
    assert_false(rule_matches("{\"operations\":[\"CREATE\"],\"apiGroups\":[\"\"],"
                              "\"apiVersions\":[\"v2\"],\"resources\":[\"pods\"]}",
                              &pod_create));
    assert_false(rule_matches("{\"operations\":[\"CREATE\"],\"apiGroups\":[\"\"],"
                              "\"apiVersions\":[\"v1\"],\"resources\":[\"services\"]}",
                              &pod_create));
    /* empty lists match nothing */
    assert_false(rule_matches("{\"operations\":[],\"apiGroups\":[\"\"],"
                              "\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}",
                              &pod_create));
}

static void
test_rule_subresources(void **state)
{
    struct admission_attrs status = pod_create;
    static const char *const fmt = "{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],"
                                   "\"apiVersions\":[\"*\"],\"resources\":[\"%s\"]}";
    static const struct {
        const char *res;
        bool main, status;
    } cases[] = {
        {"pods", true, false},      {"pods/status", false, true}, {"pods/*", true, true},
        {"*", true, false},         {"*/status", false, true},    {"*/*", true, true},
        {"pods/log", false, false}, {"services/*", false, false},
    };
    char rule[256];

    (void)state;
    status.subresource = "status";
    status.op = ADMISSION_UPDATE;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(rule, sizeof(rule), fmt, cases[i].res);
        if (rule_matches(rule, &pod_create) != cases[i].main)
            fail_msg("%s on pods: want %d", cases[i].res, cases[i].main);
        if (rule_matches(rule, &status) != cases[i].status)
            fail_msg("%s on pods/status: want %d", cases[i].res, cases[i].status);
    }
}

static void
test_rule_scope(void **state)
{
    struct admission_attrs node = {.op = ADMISSION_CREATE,
                                   .group = "",
                                   .version = "v1",
                                   .resource = "nodes",
                                   .subresource = "",
                                   .namespace = ""};
    const char *any = "{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],"
                      "\"resources\":[\"*\"],\"scope\":\"%s\"}";
    char rule[256];

    (void)state;
    snprintf(rule, sizeof(rule), any, "Cluster");
    assert_true(rule_matches(rule, &node));
    assert_false(rule_matches(rule, &pod_create));
    snprintf(rule, sizeof(rule), any, "Namespaced");
    assert_false(rule_matches(rule, &node));
    assert_true(rule_matches(rule, &pod_create));
    snprintf(rule, sizeof(rule), any, "*");
    assert_true(rule_matches(rule, &node));
    assert_true(rule_matches(rule, &pod_create));
}

static void
test_match_policy(void **state)
{
    static const char *const versions[] = {"v1", "v2", NULL};
    struct admission_attrs hpa = {.op = ADMISSION_CREATE,
                                  .group = "autoscaling",
                                  .version = "v2",
                                  .resource = "horizontalpodautoscalers",
                                  .subresource = "",
                                  .namespace = "default",
                                  .served_versions = versions};
    _cleanup_json_ json_t *equivalent =
        js("{\"rules\":[{\"operations\":[\"CREATE\"],\"apiGroups\":[\"autoscaling\"],"
           "\"apiVersions\":[\"v1\"],\"resources\":[\"horizontalpodautoscalers\"]}]}");
    _cleanup_json_ json_t *exact = json_deep_copy(equivalent);
    _cleanup_json_ json_t *unserved =
        js("{\"rules\":[{\"operations\":[\"CREATE\"],\"apiGroups\":[\"autoscaling\"],"
           "\"apiVersions\":[\"v2beta2\"],\"resources\":[\"horizontalpodautoscalers\"]}]}");

    (void)state;
    json_object_set_new(exact, "matchPolicy", json_string("Exact"));
    assert_true(admission_rules_match(equivalent, &hpa));
    assert_false(admission_rules_match(exact, &hpa));
    assert_false(admission_rules_match(unserved, &hpa));
}

static void
test_selectors(void **state)
{
    _cleanup_json_ json_t *hook = js("{\"objectSelector\":{\"matchLabels\":{\"team\":\"a\"}},"
                                     "\"namespaceSelector\":{\"matchExpressions\":[{\"key\":"
                                     "\"skip\",\"operator\":\"DoesNotExist\"}]}}");
    _cleanup_json_ json_t *empty = js("{\"objectSelector\":{},\"namespaceSelector\":{}}");
    _cleanup_json_ json_t *a = js("{\"metadata\":{\"labels\":{\"team\":\"a\"}}}");
    _cleanup_json_ json_t *b = js("{\"metadata\":{\"labels\":{\"team\":\"b\"}}}");
    _cleanup_json_ json_t *skip = js("{\"skip\":\"yes\"}");
    _cleanup_json_ json_t *other = js("{\"env\":\"prod\"}");

    (void)state;
    assert_true(admission_object_selector_matches(hook, a, NULL));
    assert_false(admission_object_selector_matches(hook, b, NULL));
    assert_true(admission_object_selector_matches(hook, b, a)); /* the old object matches */
    assert_true(admission_object_selector_matches(hook, NULL, a));
    assert_false(admission_object_selector_matches(hook, NULL, NULL));
    assert_true(admission_object_selector_matches(empty, NULL, NULL));
    {
        /* no metadata (a CONNECT's options): never matches a selector */
        _cleanup_json_ json_t *opts = js("{\"kind\":\"PodExecOptions\",\"command\":[\"sh\"]}");
        _cleanup_json_ json_t *absent = js("{\"objectSelector\":{\"matchExpressions\":[{\"key\":"
                                           "\"x\",\"operator\":\"DoesNotExist\"}]}}");

        assert_false(admission_object_selector_matches(absent, opts, NULL));
        assert_true(admission_object_selector_matches(absent, a, NULL));
    }
    assert_false(admission_namespace_selector_matches(hook, skip));
    assert_true(admission_namespace_selector_matches(hook, other));
    assert_true(admission_namespace_selector_matches(hook, NULL));
    assert_true(admission_namespace_selector_matches(empty, skip));
}

static void
test_review_request(void **state)
{
    struct admission_attrs a = pod_create;
    _cleanup_json_ json_t *obj = js("{\"metadata\":{\"name\":\"p\"}}");
    _cleanup_json_ json_t *groups = js("[\"system:masters\"]");
    _cleanup_json_ json_t *review = NULL;
    const json_t *req;

    (void)state;
    a.dry_run = true;
    a.kind = "Pod";
    review = admission_review_new("u-1", &a, "p", "admin", groups, obj, NULL, NULL);
    req = json_object_get(review, "request");
    assert_string_equal(json_string_value(json_object_get(review, "apiVersion")),
                        "admission.k8s.io/v1");
    assert_string_equal(json_string_value(json_object_get(req, "uid")), "u-1");
    assert_string_equal(json_string_value(json_object_get(req, "operation")), "CREATE");
    assert_string_equal(json_string_value(api_json_path(req, "kind.kind")), "Pod");
    assert_string_equal(json_string_value(api_json_path(req, "resource.resource")), "pods");
    assert_string_equal(json_string_value(json_object_get(req, "namespace")), "default");
    assert_string_equal(json_string_value(api_json_path(req, "userInfo.username")), "admin");
    assert_true(json_is_true(json_object_get(req, "dryRun")));
    assert_true(json_is_null(json_object_get(req, "oldObject")));
    assert_true(json_equal(json_object_get(req, "object"), obj));
    assert_null(json_object_get(req, "subResource"));
}

static int
parse(const char *body, struct admission_response *out, struct k3c_err *err)
{
    return admission_response_parse(body, strlen(body), "u-1", out, err);
}

static void
test_response_parse(void **state)
{
    struct admission_response r;
    struct k3c_err err = {0};
    /* [{"op":"add","path":"/a","value":1}] */
    const char *patch = "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d";
    char body[512];

    (void)state;
    assert_int_equal(parse("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                           "\"response\":{\"uid\":\"u-1\",\"allowed\":false,\"status\":{\"code\":"
                           "403,\"message\":\"no\",\"reason\":\"Forbidden\"},\"warnings\":[\"w\","
                           "\"\"]}}",
                           &r, &err),
                     0);
    assert_false(r.allowed);
    assert_int_equal(r.code, 403);
    assert_string_equal(r.message, "no");
    assert_string_equal(r.reason, "Forbidden");
    assert_int_equal(json_array_size(r.warnings), 1);
    admission_response_fini(&r);

    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
             "{\"uid\":\"u-1\",\"allowed\":true,\"patchType\":\"JSONPatch\",\"patch\":\"%s\"}}",
             patch);
    assert_int_equal(parse(body, &r, &err), 0);
    assert_true(r.allowed);
    assert_true(json_is_array(r.patch));
    assert_int_equal(json_array_size(r.patch), 1);
    admission_response_fini(&r);

    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":true}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"other\",\"allowed\":true}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":\"yes\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":true,\"patch\":\"W10=\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":true,\"patchType\":\"JSONPatch\","
        "\"patch\":\"e30=\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":true,\"warnings\":[1]}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"u-1\",\"allowed\":false,\"status\":{\"code\":\"x\"}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        k3c_err_clear(&err);
        if (parse(bad[i], &r, &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_null(r.patch);
    }
}

static void
test_target_from_url(void **state)
{
    struct admission_target t = {0};
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(admission_target_from_url("https://10.0.0.1:8443/hooks/v", &t, &err), 0);
    assert_string_equal(t.base, "https://10.0.0.1:8443");
    assert_string_equal(t.path, "/hooks/v");
    assert_int_equal(admission_target_from_url("https://example.org", &t, &err), 0);
    assert_string_equal(t.path, "/");
    assert_int_equal(admission_target_from_url("http://example.org/x", &t, &err), -1);
    assert_int_equal(admission_target_from_url("https:///x", &t, &err), -1);
}

static size_t
causes_of(const char *text, bool mutating, json_t **causes_out)
{
    _cleanup_json_ json_t *obj = js(text);
    json_t *causes = json_array();

    if (mutating) {
        api_defaults_mutatingwebhookconfig(obj);
        api_validate_mutatingwebhookconfig(obj, NULL, causes);
    } else {
        api_defaults_validatingwebhookconfig(obj);
        api_validate_validatingwebhookconfig(obj, NULL, causes);
    }
    *causes_out = causes;
    return json_array_size(causes);
}

static void
test_config_validation(void **state)
{
    _cleanup_json_ json_t *causes = NULL, *obj = NULL;
    const char *good =
        "{\"webhooks\":[{\"name\":\"deny.example.com\",\"sideEffects\":\"None\","
        "\"admissionReviewVersions\":[\"v1\"],\"clientConfig\":{\"service\":{\"namespace\":"
        "\"ns\",\"name\":\"svc\",\"path\":\"/validate\"}},\"rules\":[{\"operations\":["
        "\"CREATE\"],\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],\"resources\":"
        "[\"pods\",\"pods/status\"]}]}]}";

    (void)state;
    assert_int_equal(causes_of(good, true, &causes), 0);
    json_decref(causes);
    /* defaults */
    obj = js(good);
    api_defaults_mutatingwebhookconfig(obj);
    assert_string_equal(json_string_value(api_json_path(
                            json_array_get(json_object_get(obj, "webhooks"), 0), "failurePolicy")),
                        "Fail");
    {
        const json_t *h = json_array_get(json_object_get(obj, "webhooks"), 0);

        assert_int_equal(json_integer_value(json_object_get(h, "timeoutSeconds")), 10);
        assert_string_equal(json_string_value(json_object_get(h, "matchPolicy")), "Equivalent");
        assert_string_equal(json_string_value(json_object_get(h, "reinvocationPolicy")), "Never");
        assert_int_equal(json_integer_value(api_json_path(h, "clientConfig.service.port")), 443);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(h, "rules"), 0), "scope")),
                            "*");
    }
    static const struct {
        const char *text, *field;
    } bad[] = {
        {"{\"webhooks\":[{\"name\":\"short\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].name"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"Some\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].sideEffects"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"admissionReviewVersions\":[\"v1\"],"
         "\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].sideEffects"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"timeoutSeconds\":31,"
         "\"admissionReviewVersions\":[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].timeoutSeconds"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{}}]}",
         "webhooks[0].clientConfig"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"http://x/\"}}]}",
         "webhooks[0].clientConfig.url"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1beta1\"],\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].admissionReviewVersions"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"failurePolicy\":\"Maybe\","
         "\"admissionReviewVersions\":[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"}}]}",
         "webhooks[0].failurePolicy"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"},\"rules\":[{\"operations\":"
         "[\"PATCH\"],\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],\"resources\":[\"pods\"]}]}]}",
         "webhooks[0].rules[0].operations[0]"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"},\"matchConditions\":[{\"name\":"
         "\"m\",\"expression\":\"true\"}]}]}",
         "webhooks[0].matchConditions"},
        {"{\"webhooks\":[{\"name\":\"a.b.c\",\"sideEffects\":\"None\",\"admissionReviewVersions\":"
         "[\"v1\"],\"clientConfig\":{\"url\":\"https://x/\"}},{\"name\":\"a.b.c\","
         "\"sideEffects\":\"None\",\"admissionReviewVersions\":[\"v1\"],\"clientConfig\":{"
         "\"url\":\"https://x/\"}}]}",
         "webhooks[1].name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool found = false;
        size_t j;
        json_t *c;

        causes_of(bad[i].text, i % 2 == 0, &causes);
        json_array_foreach(causes, j, c)
        {
            found =
                found || strcmp(json_string_value(json_object_get(c, "field")), bad[i].field) == 0;
        }
        if (!found) {
            _cleanup_free_ char *got = json_dumps(causes, JSON_COMPACT);

            fail_msg("case %zu: no cause at %s: %s", i, bad[i].field, got);
        }
        json_decref(causes);
        causes = NULL;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_operations_groups_versions),
        cmocka_unit_test(test_rule_subresources),
        cmocka_unit_test(test_rule_scope),
        cmocka_unit_test(test_match_policy),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_review_request),
        cmocka_unit_test(test_response_parse),
        cmocka_unit_test(test_target_from_url),
        cmocka_unit_test(test_config_validation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
