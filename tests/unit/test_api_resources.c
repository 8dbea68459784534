/* SPDX-License-Identifier: Apache-2.0
 * test_api_resources.c - the resource table, table rows (against what
 * kube-apiserver's printers print), validation causes and defaults.
 * Objects are written in JSON with ' for " to keep them readable. */
#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define NOW 1700000000 /* 2023-11-14T22:13:20Z */

/* Parses JSON written with ' for ", after substituting "%T-<secs>" with the
 * RFC 3339 time NOW - secs. */
static json_t *
obj(const char *text)
{
    _cleanup_free_ char *s = k3c_xmalloc(strlen(text) * 6 + 64);
    json_error_t jerr;
    json_t *o = NULL;
    char *w = s;

    for (const char *p = text; *p; p++) {
        if (strncmp(p, "%T-", 3) == 0) {
            char *end = NULL;
            time_t t = NOW - strtol(p + 3, &end, 10);
            struct tm tm;

            w += strftime(w, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
            p = end - 1;
            continue;
        }
        *w++ = *p == '\'' ? '"' : *p;
    }
    *w = '\0';
    o = json_loads(s, 0, &jerr);
    if (!o)
        fail_msg("bad test JSON: %s: %s", jerr.text, s);
    return o;
}

static const char *
cell(const json_t *row, size_t i)
{
    const char *s = json_string_value(json_array_get(row, i));

    if (!s)
        fail_msg("cell %zu is not a string", i);
    return s;
}

static json_int_t
icell(const json_t *row, size_t i)
{
    assert_true(json_is_integer(json_array_get(row, i)));
    return json_integer_value(json_array_get(row, i));
}

static const json_t *
cause_at(const json_t *causes, const char *field)
{
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(causes, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "field")) ?: "", field) == 0)
            return c;
    }
    fail_msg("no cause for %s in %s", field, json_dumps(causes, 0));
    return NULL;
}

static const char *
cause_message(const json_t *causes, const char *field, const char *reason)
{
    const json_t *c = cause_at(causes, field);

    assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
    return json_string_value(json_object_get(c, "message"));
}

/* Defaults then validates as the write path does (api_write.c: defaults,
 * api_validate_metadata, the kind's hook); returns the causes. */
static json_t *
check(const char *group, const char *plural, json_t *o)
{
    const struct api_resource *r = api_resource_find(group, "v1", plural);
    json_t *causes = json_array();

    assert_non_null(r);
    if (r->defaults)
        r->defaults(o);
    api_validate_metadata(o, r->namespaced, strcmp(plural, "namespaces") == 0, causes);
    if (r->validate)
        r->validate(o, NULL, causes);
    return causes;
}

/* ---- the table ---------------------------------------------------------- */

static void
test_find(void **state)
{
    const struct api_resource *pods = api_resource_find("", "v1", "pods");
    const struct api_resource *deploy = api_resource_find("apps", "v1", "deployments");
    char buf[64];

    (void)state;
    assert_non_null(pods);
    assert_string_equal(pods->kind, "Pod");
    assert_string_equal(pods->list_kind, "PodList");
    assert_string_equal(pods->singular, "pod");
    assert_string_equal(pods->short_names[0], "po");
    assert_null(pods->short_names[1]);
    assert_string_equal(pods->categories[0], "all");
    assert_true(pods->namespaced);
    assert_int_equal(pods->subresources, API_SUB_STATUS);
    assert_string_equal(api_resource_api_version(pods, buf, sizeof(buf)), "v1");
    assert_ptr_equal(api_resource_find(NULL, "v1", "pods"), pods);

    assert_non_null(deploy);
    assert_string_equal(deploy->kind, "Deployment");
    assert_string_equal(deploy->short_names[0], "deploy");
    assert_int_equal(deploy->subresources, API_SUB_STATUS | API_SUB_SCALE);
    assert_string_equal(api_resource_api_version(deploy, buf, sizeof(buf)), "apps/v1");

    assert_false(api_resource_find("", "v1", "namespaces")->namespaced);
    assert_false(api_resource_find("", "v1", "nodes")->namespaced);
    assert_null(api_resource_find("", "v1", "secrets")->short_names);
    assert_null(api_resource_find("", "v1", "configmaps")->categories);
    assert_string_equal(api_resource_find("", "v1", "endpoints")->singular, "endpoints");
    assert_non_null(api_resource_find("coordination.k8s.io", "v1", "leases"));
    assert_non_null(api_resource_find("discovery.k8s.io", "v1", "endpointslices"));

    assert_null(api_resource_find("", "v1", "po"));          /* short names are client-side */
    assert_null(api_resource_find("apps", "v1", "pods"));    /* wrong group */
    assert_null(api_resource_find("", "v1", "deployments")); /* wrong group */
    assert_null(api_resource_find("", "v2", "pods"));        /* wrong version */
    assert_null(api_resource_find("", "v1", "widgets"));
}

/* Every row: one cell per column, columns well formed, hooks present. */
static void
test_every_kind_is_consistent(void **state)
{
    (void)state;
    for (const struct api_resource *r = api_resources; r->kind; r++) {
        _cleanup_json_ json_t *empty = json_object();
        _cleanup_json_ json_t *row = r->row(empty, NOW);
        _cleanup_free_ char *list_kind = k3c_xasprintf("%sList", r->kind);
        size_t n = 0;

        for (const struct api_column *c = r->columns; c->name; c++, n++) {
            assert_non_null(c->type);
            assert_non_null(c->format);
            assert_non_null(c->description);
            assert_in_range(c->priority, 0, 1);
        }
        assert_non_null(row);
        assert_int_equal(json_array_size(row), n);
        assert_string_equal(r->list_kind, list_kind);
        assert_true(strcasecmp(r->singular, r->kind) == 0);
        assert_non_null(r->field_selectors);
        assert_int_equal(r->has_status, (r->subresources & API_SUB_STATUS) != 0);
        if (strcmp(r->plural, "events") != 0)
            assert_string_equal(r->columns[0].format, "name");
    }
}

/* ---- rows --------------------------------------------------------------- */

static void
test_pod_row_crashloop(void **state)
{
    _cleanup_json_ json_t *pod =
        obj("{'metadata':{'name':'web','creationTimestamp':'%T-3700'},"
            "'spec':{'nodeName':'n1','containers':[{'name':'a'},{'name':'b'}]},"
            "'status':{'phase':'Running','podIPs':[{'ip':'10.42.0.5'}],'containerStatuses':["
            "{'name':'a','ready':true,'restartCount':0,'state':{'running':{}}},"
            "{'name':'b','ready':false,'restartCount':5,"
            " 'state':{'waiting':{'reason':'CrashLoopBackOff'}},"
            " 'lastState':{'terminated':{'exitCode':1,'finishedAt':'%T-125'}}}]}}");
    _cleanup_json_ json_t *row = api_row_pod(pod, NOW);

    (void)state;
    assert_string_equal(cell(row, 0), "web");
    assert_string_equal(cell(row, 1), "1/2");
    assert_string_equal(cell(row, 2), "CrashLoopBackOff");
    assert_string_equal(cell(row, 3), "5 (2m5s ago)");
    assert_string_equal(cell(row, 4), "61m");
    assert_string_equal(cell(row, 5), "10.42.0.5");
    assert_string_equal(cell(row, 6), "n1");
    assert_string_equal(cell(row, 7), "<none>");
    assert_string_equal(cell(row, 8), "<none>");
}

static void
test_pod_row_status_reasons(void **state)
{
    static const struct {
        const char *pod, *ready, *status;
    } cases[] = {
        /* no status yet */
        {"{'spec':{'containers':[{'name':'a'}]}}", "0/1", "Pending"},
        {"{'metadata':{'deletionTimestamp':'%T-1'},'spec':{'containers':[{'name':'a'}]},"
         "'status':{'phase':'Running','containerStatuses':[{'ready':true,'state':{'running':{}}}]}"
         "}",
         "1/1", "Terminating"},
        {"{'metadata':{'deletionTimestamp':'%T-1'},'status':{'phase':'Running','reason':'NodeLost'}"
         "}",
         "0/0", "Unknown"},
        {"{'status':{'phase':'Succeeded','containerStatuses':[{'state':{'terminated':"
         "{'exitCode':0,'reason':'Completed'}}}]}}",
         "0/0", "Completed"},
        {"{'status':{'phase':'Failed','reason':'Evicted'}}", "0/0", "Evicted"},
        {"{'status':{'phase':'Running','containerStatuses':[{'state':{'terminated':"
         "{'exitCode':137,'signal':9}}}]}}",
         "0/0", "Signal:9"},
        {"{'spec':{'initContainers':[{'name':'i'}],'containers':[{'name':'a'}]},"
         "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i','state':{'running':{}}}]"
         "}}",
         "0/1", "Init:0/1"},
        {"{'spec':{'initContainers':[{'name':'i'}],'containers':[{'name':'a'}]},"
         "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i','state':"
         "{'terminated':{'exitCode':2}}}]}}",
         "0/1", "Init:ExitCode:2"},
        /* a sidecar (restartable init container) counts towards READY */
        {"{'spec':{'initContainers':[{'name':'s','restartPolicy':'Always'}],"
         "'containers':[{'name':'a'}]},'status':{'phase':'Running','initContainerStatuses':"
         "[{'name':'s','started':true,'ready':true,'state':{'running':{}}}],"
         "'containerStatuses':[{'name':'a','ready':true,'state':{'running':{}}}]}}",
         "2/2", "Running"},
        {"{'status':{'phase':'Pending','conditions':[{'type':'PodScheduled','status':'False',"
         "'reason':'SchedulingGated'}]}}",
         "0/0", "SchedulingGated"},
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(cases); i++) {
        _cleanup_json_ json_t *pod = obj(cases[i].pod);
        _cleanup_json_ json_t *row = api_row_pod(pod, NOW);

        assert_string_equal(cell(row, 1), cases[i].ready);
        assert_string_equal(cell(row, 2), cases[i].status);
        assert_string_equal(cell(row, 4), "<unknown>");
    }
}

static void
test_node_row(void **state)
{
    _cleanup_json_ json_t *node =
        obj("{'metadata':{'name':'n1','creationTimestamp':'%T-90000','labels':{"
            "'node-role.kubernetes.io/master':'true','node-role.kubernetes.io/control-plane':'',"
            "'kubernetes.io/hostname':'n1'}},'spec':{'unschedulable':true},"
            "'status':{'conditions':[{'type':'MemoryPressure','status':'False'},"
            "{'type':'Ready','status':'True'}],'addresses':[{'type':'Hostname','address':'n1'},"
            "{'type':'InternalIP','address':'192.168.1.10'}],'nodeInfo':{'kubeletVersion':"
            "'v1.32.0+k3c','osImage':'Debian GNU/Linux 12 (bookworm)'}}}");
    _cleanup_json_ json_t *bare = obj("{'metadata':{'name':'n2'},'status':{'conditions':"
                                      "[{'type':'Ready','status':'Unknown'}]}}");
    _cleanup_json_ json_t *new_node = obj("{'metadata':{'name':'n3'}}");
    _cleanup_json_ json_t *row = api_row_node(node, NOW);
    _cleanup_json_ json_t *row2 = api_row_node(bare, NOW);
    _cleanup_json_ json_t *row3 = api_row_node(new_node, NOW);

    (void)state;
    assert_string_equal(cell(row, 1), "Ready,SchedulingDisabled");
    assert_string_equal(cell(row, 2), "control-plane,master");
    assert_string_equal(cell(row, 3), "25h");
    assert_string_equal(cell(row, 4), "v1.32.0+k3c");
    assert_string_equal(cell(row, 5), "192.168.1.10");
    assert_string_equal(cell(row, 6), "<none>");
    assert_string_equal(cell(row, 7), "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(cell(row, 8), "<unknown>");
    assert_string_equal(cell(row2, 1), "NotReady");
    assert_string_equal(cell(row2, 2), "<none>");
    assert_string_equal(cell(row3, 1), "Unknown");
}

static void
test_deployment_row(void **state)
{
    _cleanup_json_ json_t *d =
        obj("{'metadata':{'name':'web','creationTimestamp':'%T-600'},'spec':{'replicas':3,"
            "'selector':{'matchLabels':{'app':'web'},'matchExpressions':[{'key':'tier',"
            "'operator':'In','values':['fe','be']},{'key':'canary','operator':'DoesNotExist'}]},"
            "'template':{'spec':{'containers':[{'name':'nginx','image':'nginx:1.25'},"
            "{'name':'log','image':'busybox'}]}}},"
            "'status':{'readyReplicas':2,'updatedReplicas':3,'availableReplicas':2}}");
    _cleanup_json_ json_t *row = api_row_deployment(d, NOW);

    (void)state;
    assert_string_equal(cell(row, 0), "web");
    assert_string_equal(cell(row, 1), "2/3");
    assert_int_equal(icell(row, 2), 3);
    assert_int_equal(icell(row, 3), 2);
    assert_string_equal(cell(row, 4), "10m");
    assert_string_equal(cell(row, 5), "nginx,log");
    assert_string_equal(cell(row, 6), "nginx:1.25,busybox");
    assert_string_equal(cell(row, 7), "app=web,!canary,tier in (be,fe)");
}

static void
test_other_rows(void **state)
{
    _cleanup_json_ json_t *svc =
        obj("{'metadata':{'name':'web'},'spec':{'type':'NodePort','clusterIPs':['10.43.0.10'],"
            "'ports':[{'port':80,'nodePort':30080,'protocol':'TCP'},{'port':53,'protocol':'UDP'}],"
            "'selector':{'b':'2','a':'1'}}}");
    _cleanup_json_ json_t *lb = obj("{'spec':{'type':'LoadBalancer','externalIPs':['1.2.3.4']},"
                                    "'status':{'loadBalancer':{'ingress':[{'ip':'5.6.7.8'}]}}}");
    _cleanup_json_ json_t *ep =
        obj("{'subsets':[{'addresses':[{'ip':'10.0.0.1'},{'ip':'10.0.0.2'},{'ip':'fd00::3'}],"
            "'ports':[{'port':80},{'port':443}]}]}");
    _cleanup_json_ json_t *ev = obj(
        "{'metadata':{'name':'web.1'},'type':'Warning','reason':'BackOff','message':' boom \\n',"
        "'involvedObject':{'kind':'Pod','name':'web','fieldPath':'spec.containers{b}'},"
        "'source':{'component':'kubelet','host':'n1'},'count':4,"
        "'firstTimestamp':'%T-300','lastTimestamp':'%T-30'}");
    _cleanup_json_ json_t *job =
        obj("{'spec':{'completions':3},'status':{'succeeded':1,'startTime':'%T-100',"
            "'conditions':[{'type':'Complete','status':'False'}]}}");
    _cleanup_json_ json_t *ds = obj("{'spec':{'template':{'spec':{'nodeSelector':"
                                    "{'kubernetes.io/os':'linux'}}}},'status':{'numberReady':2}}");
    _cleanup_json_ json_t *slice =
        obj("{'addressType':'IPv4','ports':[{'port':80},{'name':'x'}],"
            "'endpoints':[{'addresses':['10.0.0.1']},{'addresses':['10.0.0.2']}]}");
    _cleanup_json_ json_t *r1 = api_row_service(svc, NOW);
    _cleanup_json_ json_t *r2 = api_row_service(lb, NOW);
    _cleanup_json_ json_t *r3 = api_row_endpoints(ep, NOW);
    _cleanup_json_ json_t *r4 = api_row_event(ev, NOW);
    _cleanup_json_ json_t *r5 = api_row_job(job, NOW);
    _cleanup_json_ json_t *r6 = api_row_daemonset(ds, NOW);
    _cleanup_json_ json_t *r7 = api_row_endpointslice(slice, NOW);

    (void)state;
    assert_string_equal(cell(r1, 2), "10.43.0.10");
    assert_string_equal(cell(r1, 3), "<none>");
    assert_string_equal(cell(r1, 4), "80:30080/TCP,53/UDP");
    assert_string_equal(cell(r1, 6), "a=1,b=2");
    assert_string_equal(cell(r2, 2), "<none>");
    assert_string_equal(cell(r2, 3), "5.6.7.8,1.2.3.4");
    assert_string_equal(cell(r2, 4), "<none>");
    assert_string_equal(cell(r3, 1), "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...");
    assert_string_equal(cell(r4, 0), "30s");
    assert_string_equal(cell(r4, 1), "Warning");
    assert_string_equal(cell(r4, 3), "pod/web");
    assert_string_equal(cell(r4, 4), "spec.containers{b}");
    assert_string_equal(cell(r4, 5), "kubelet, n1");
    assert_string_equal(cell(r4, 6), "boom");
    assert_string_equal(cell(r4, 7), "5m");
    assert_int_equal(icell(r4, 8), 4);
    assert_string_equal(cell(r4, 9), "web.1");
    assert_string_equal(cell(r5, 1), "Running");
    assert_string_equal(cell(r5, 2), "1/3");
    assert_string_equal(cell(r5, 3), "100s");
    assert_string_equal(cell(r5, 7), "<none>");
    assert_int_equal(icell(r6, 3), 2);
    assert_string_equal(cell(r6, 6), "kubernetes.io/os=linux");
    assert_string_equal(cell(r7, 2), "80,x");
    assert_string_equal(cell(r7, 3), "10.0.0.1,10.0.0.2");
}

static void
test_human_duration(void **state)
{
    static const struct {
        int64_t secs;
        const char *want;
    } cases[] = {
        {-2, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {119, "119s"},
        {120, "2m"},
        {121, "2m1s"},
        {599, "9m59s"},
        {600, "10m"},
        {3 * 3600 - 1, "179m"},
        {3 * 3600, "3h"},
        {3 * 3600 + 60, "3h1m"},
        {8 * 3600 - 60, "7h59m"},
        {8 * 3600, "8h"},
        {48 * 3600 - 1, "47h"},
        {48 * 3600, "2d"},
        {49 * 3600, "2d1h"},
        {8 * 86400 - 3600, "7d23h"},
        {8 * 86400, "8d"},
        {730 * 86400 - 1, "729d"},
        {730 * 86400, "2y"},
        {731 * 86400, "2y1d"},
        {8 * 365 * 86400, "8y"},
        {9 * 365 * 86400 + 86400, "9y"},
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(cases); i++)
        assert_string_equal(api_human_duration(cases[i].secs, buf, sizeof(buf)), cases[i].want);
}

/* ---- validation --------------------------------------------------------- */

static void
test_bad_name(void **state)
{
    _cleanup_json_ json_t *cm = obj("{'metadata':{'name':'Foo_Bar','namespace':'default'}}");
    _cleanup_json_ json_t *causes = check("", "configmaps", cm);
    _cleanup_json_ json_t *ns = obj("{'metadata':{'name':'a.b'}}");
    _cleanup_json_ json_t *ns_causes = check("", "namespaces", ns);
    _cleanup_json_ json_t *nameless = obj("{'metadata':{'namespace':'default'}}");
    _cleanup_json_ json_t *nameless_causes = check("", "configmaps", nameless);

    (void)state;
    assert_int_equal(json_array_size(causes), 1);
    assert_string_equal(
        cause_message(causes, "metadata.name", "FieldValueInvalid"),
        "Invalid value: \"Foo_Bar\": a lowercase RFC 1123 subdomain must consist of lower case "
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    assert_string_equal(cause_message(ns_causes, "metadata.name", "FieldValueInvalid"),
                        "Invalid value: \"a.b\": must not contain dots");
    assert_string_equal(cause_message(nameless_causes, "metadata.name", "FieldValueRequired"),
                        "Required value: name or generateName is required");
    assert_true(api_is_dns1123_subdomain("a.b-c.d"));
    assert_false(api_is_dns1123_subdomain("a..b"));
    assert_false(api_is_dns1123_subdomain("-a"));
    assert_true(api_is_dns1123_label("my-name"));
    assert_false(api_is_dns1123_label("a.b"));
    assert_false(
        api_is_dns1123_label("a123456789012345678901234567890123456789012345678901234567890123"));
}

static void
test_bad_labels_and_namespace(void **state)
{
    _cleanup_json_ json_t *cm = obj("{'metadata':{'name':'x','labels':{'app':'bad value!',"
                                    "'-bad':'ok'}}}");
    _cleanup_json_ json_t *causes = json_array();
    _cleanup_json_ json_t *node = obj("{'metadata':{'name':'n1','namespace':'default'}}");
    _cleanup_json_ json_t *node_causes = check("", "nodes", node);

    (void)state;
    api_validate_metadata(cm, true, false, causes);
    assert_int_equal(json_array_size(causes), 3);
    assert_string_equal(cause_message(causes, "metadata.namespace", "FieldValueRequired"),
                        "Required value");
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 2), "message")),
                        "Invalid value: \"-bad\": name part must consist of alphanumeric "
                        "characters, '-', '_' or '.', and must start and end with an "
                        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 1), "message")),
                        "Invalid value: \"bad value!\": a valid label must be an empty string or "
                        "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                        "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                        "'12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    assert_string_equal(cause_message(node_causes, "metadata.namespace", "FieldValueForbidden"),
                        "Forbidden: not allowed on this type");
}

static void
test_pod_validation(void **state)
{
    _cleanup_json_ json_t *empty = obj("{'metadata':{'name':'p','namespace':'default'}}");
    _cleanup_json_ json_t *empty_causes = check("", "pods", empty);
    _cleanup_json_ json_t *dup =
        obj("{'metadata':{'name':'p','namespace':'default'},'spec':{'restartPolicy':'Sometimes',"
            "'containers':[{'name':'a','image':'x'},{'name':'a'},{'name':'B_1','image':'y'}]}}");
    _cleanup_json_ json_t *dup_causes = check("", "pods", dup);
    _cleanup_json_ json_t *good = obj("{'metadata':{'name':'p','namespace':'default'},"
                                      "'spec':{'containers':[{'name':'a','image':'nginx'}]}}");
    _cleanup_json_ json_t *good_causes = check("", "pods", good);

    (void)state;
    assert_int_equal(json_array_size(empty_causes), 1);
    assert_string_equal(cause_message(empty_causes, "spec.containers", "FieldValueRequired"),
                        "Required value");
    assert_string_equal(cause_message(dup_causes, "spec.containers[1].name", "FieldValueDuplicate"),
                        "Duplicate value: \"a\"");
    assert_string_equal(cause_message(dup_causes, "spec.containers[1].image", "FieldValueRequired"),
                        "Required value");
    cause_message(dup_causes, "spec.containers[2].name", "FieldValueInvalid");
    assert_string_equal(cause_message(dup_causes, "spec.restartPolicy", "FieldValueNotSupported"),
                        "Unsupported value: \"Sometimes\": supported values: \"Always\", "
                        "\"OnFailure\", \"Never\"");
    assert_int_equal(json_array_size(good_causes), 0);
}

static void
test_workload_validation(void **state)
{
    _cleanup_json_ json_t *mismatch =
        obj("{'metadata':{'name':'web','namespace':'default'},'spec':{'selector':{'matchLabels':"
            "{'app':'web'}},'template':{'metadata':{'labels':{'app':'other'}},"
            "'spec':{'containers':[{'name':'a','image':'nginx'}]}}}}");
    _cleanup_json_ json_t *mismatch_causes = check("apps", "deployments", mismatch);
    _cleanup_json_ json_t *nosel =
        obj("{'metadata':{'name':'web','namespace':'default'},'spec':{'replicas':-1,"
            "'template':{'spec':{'containers':[{'name':'a','image':'nginx'}]}}}}");
    _cleanup_json_ json_t *nosel_causes = check("apps", "replicasets", nosel);
    _cleanup_json_ json_t *job =
        obj("{'metadata':{'name':'pi','namespace':'default','uid':'u-1'},"
            "'spec':{'template':{'spec':{'containers':[{'name':'pi','image':'perl'}]}}}}");
    _cleanup_json_ json_t *job_causes = check("batch", "jobs", job);
    _cleanup_json_ json_t *old = obj("{'spec':{'selector':{'matchLabels':{'app':'old'}}}}");
    _cleanup_json_ json_t *upd_causes = json_array();

    (void)state;
    assert_int_equal(json_array_size(mismatch_causes), 1);
    assert_string_equal(
        cause_message(mismatch_causes, "spec.template.metadata.labels", "FieldValueInvalid"),
        "Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template "
        "`labels`");
    assert_string_equal(cause_message(nosel_causes, "spec.replicas", "FieldValueInvalid"),
                        "Invalid value: -1: must be greater than or equal to 0");
    cause_message(nosel_causes, "spec.selector", "FieldValueRequired");
    assert_int_equal(json_array_size(job_causes), 1);
    assert_string_equal(
        cause_message(job_causes, "spec.template.spec.restartPolicy", "FieldValueNotSupported"),
        "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"");
    api_validate_deployment(mismatch, old, upd_causes);
    assert_string_equal(cause_message(upd_causes, "spec.selector", "FieldValueInvalid"),
                        "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":"
                        "\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field "
                        "is immutable");
}

static void
test_service_and_data_validation(void **state)
{
    _cleanup_json_ json_t *svc = obj("{'metadata':{'name':'web','namespace':'default'},"
                                     "'spec':{'type':'Bogus','ports':[{'port':70000}]}}");
    _cleanup_json_ json_t *svc_causes = check("", "services", svc);
    _cleanup_json_ json_t *noports = obj("{'metadata':{'name':'1web','namespace':'default'}}");
    _cleanup_json_ json_t *noports_causes = check("", "services", noports);
    _cleanup_json_ json_t *sec = obj("{'metadata':{'name':'s','namespace':'default'},"
                                     "'data':{'ok':'aGk=','bad key':'aGk=','x':'!!!'}}");
    _cleanup_json_ json_t *sec_causes = check("", "secrets", sec);

    (void)state;
    assert_string_equal(cause_message(svc_causes, "spec.type", "FieldValueNotSupported"),
                        "Unsupported value: \"Bogus\": supported values: \"ClusterIP\", "
                        "\"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    assert_string_equal(cause_message(svc_causes, "spec.ports[0].port", "FieldValueInvalid"),
                        "Invalid value: 70000: must be between 1 and 65535, inclusive");
    cause_message(noports_causes, "spec.ports", "FieldValueRequired");
    cause_message(noports_causes, "metadata.name", "FieldValueInvalid"); /* DNS-1035 */
    assert_int_equal(json_array_size(sec_causes), 2);
    cause_message(sec_causes, "data[bad key]", "FieldValueInvalid");
    assert_string_equal(cause_message(sec_causes, "data[x]", "FieldValueInvalid"),
                        "Invalid value: illegal base64 data");
}

/* ---- defaults ----------------------------------------------------------- */

static void
test_pod_defaults(void **state)
{
    _cleanup_json_ json_t *pod =
        obj("{'spec':{'dnsPolicy':'Default','containers':[{'name':'a','image':'nginx'},"
            "{'name':'b','image':'nginx:1.25','ports':[{'containerPort':80}]},"
            "{'name':'c','image':'localhost:5000/app'},{'name':'d','image':'app@sha256:abc'},"
            "{'name':'e','image':'app:latest','imagePullPolicy':'Never'}]}}");
    json_t *spec = NULL;

    (void)state;
    api_defaults_pod(pod);
    spec = json_object_get(pod, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "restartPolicy")), "Always");
    assert_string_equal(json_string_value(json_object_get(spec, "dnsPolicy")), "Default");
    assert_string_equal(json_string_value(json_object_get(spec, "schedulerName")),
                        "default-scheduler");
    assert_int_equal(json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds")),
                     30);
    assert_true(json_is_true(json_object_get(spec, "enableServiceLinks")));
    assert_string_equal(json_string_value(api_json_path(pod, "status.phase")), "Pending");
    {
        static const char *const want[] = {"Always", "IfNotPresent", "Always", "IfNotPresent",
                                           "Never"};
        const json_t *cs = json_object_get(spec, "containers");

        for (size_t i = 0; i < K3C_ARRAY_SIZE(want); i++)
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(cs, i), "imagePullPolicy")),
                want[i]);
        assert_string_equal(
            json_string_value(api_json_path(json_array_get(cs, 0), "terminationMessagePath")),
            "/dev/termination-log");
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(json_array_get(cs, 1), "ports"), 0), "protocol")),
            "TCP");
    }
}

static void
test_other_defaults(void **state)
{
    _cleanup_json_ json_t *d = obj("{'spec':{'template':{'spec':{'containers':[{'name':'a',"
                                   "'image':'nginx'}]}}}}");
    _cleanup_json_ json_t *svc = obj("{'spec':{'ports':[{'port':80},{'port':53,'targetPort':"
                                     "'dns','protocol':'UDP'}]}}");
    _cleanup_json_ json_t *ns = obj("{'metadata':{'name':'team'}}");
    _cleanup_json_ json_t *sec = obj("{'stringData':{'a':'hi'},'data':{'b':'eA=='}}");
    _cleanup_json_ json_t *job =
        obj("{'metadata':{'name':'pi','uid':'u-1'},'spec':{'template':"
            "{'metadata':{'labels':{'x':'y'}},'spec':{'containers':[]}}}}");
    _cleanup_json_ json_t *want_d =
        obj("{'replicas':1,'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxUnavailable':"
            "'25%','maxSurge':'25%'}},'revisionHistoryLimit':10,'progressDeadlineSeconds':600}");
    const char *k = NULL;
    json_t *v = NULL;

    (void)state;
    api_defaults_deployment(d);
    json_object_foreach(want_d, k, v)
    {
        assert_true(json_equal(v, json_object_get(json_object_get(d, "spec"), k)));
    }
    assert_string_equal(json_string_value(api_json_path(d, "spec.template.spec.restartPolicy")),
                        "Always");

    api_defaults_service(svc);
    assert_string_equal(json_string_value(api_json_path(svc, "spec.type")), "ClusterIP");
    assert_string_equal(json_string_value(api_json_path(svc, "spec.sessionAffinity")), "None");
    {
        const json_t *ports = api_json_path(svc, "spec.ports");

        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(ports, 0), "targetPort")), 80);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(ports, 0), "protocol")), "TCP");
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(ports, 1), "targetPort")), "dns");
    }

    api_defaults_namespace(ns);
    assert_string_equal(json_string_value(api_json_path(ns, "status.phase")), "Active");
    assert_string_equal(json_string_value(json_array_get(api_json_path(ns, "spec.finalizers"), 0)),
                        "kubernetes");
    assert_string_equal(json_string_value(json_object_get(api_json_path(ns, "metadata.labels"),
                                                          "kubernetes.io/metadata.name")),
                        "team");

    api_defaults_secret(sec);
    assert_string_equal(json_string_value(json_object_get(sec, "type")), "Opaque");
    assert_null(json_object_get(sec, "stringData"));
    assert_string_equal(json_string_value(api_json_path(sec, "data.a")), "aGk=");
    assert_string_equal(json_string_value(api_json_path(sec, "data.b")), "eA==");

    api_defaults_job(job);
    assert_int_equal(json_integer_value(api_json_path(job, "spec.completions")), 1);
    assert_int_equal(json_integer_value(api_json_path(job, "spec.parallelism")), 1);
    assert_int_equal(json_integer_value(api_json_path(job, "spec.backoffLimit")), 6);
    assert_string_equal(json_string_value(api_json_path(job, "spec.completionMode")), "NonIndexed");
    assert_true(json_is_false(api_json_path(job, "spec.suspend")));
    assert_string_equal(
        json_string_value(json_object_get(api_json_path(job, "spec.selector.matchLabels"),
                                          "batch.kubernetes.io/controller-uid")),
        "u-1");
    assert_string_equal(json_string_value(api_json_path(job, "metadata.labels.job-name")), "pi");
    assert_string_equal(json_string_value(api_json_path(job, "metadata.labels.x")), "y");
}

/* The general parse (sscanf + timegm), what api_parse_time did for every
 * shape before its fixed-shape fast path. */
static bool
parse_time_slow(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int n = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        strcmp(s + n, "Z") != 0)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* The fast path gives timegm's value, out-of-range days and times too. */
static void
test_parse_time(void **state)
{
    static const char *const fixed[] = {
        "1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2023-02-29T12:00:00Z",
        "2024-02-30T25:61:60Z", "2000-12-31T00:00:00Z", "1900-03-01T00:00:00Z",
        "0000-01-01T00:00:00Z", "9999-12-31T99:99:99Z", "2026-01-00T00:00:00Z",
        "1969-12-31T23:59:59Z", "2100-02-28T24:00:00Z", "0001-03-01T00:00:00Z",
    };
    unsigned seed = 7;
    int64_t a = 0, b = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        assert_true(api_parse_time(fixed[i], &a));
        assert_true(parse_time_slow(fixed[i], &b));
        assert_int_equal(a, b);
    }
    for (int i = 0; i < 20000; i++) {
        char s[32];

        seed = seed * 1103515245u + 12345u;
        snprintf(s, sizeof(s), "%04u-%02u-%02uT%02u:%02u:%02uZ", 1 + (seed >> 8) % 9999,
                 1 + (seed >> 3) % 12, (seed >> 5) % 32, (seed >> 11) % 26, (seed >> 17) % 61,
                 (seed >> 23) % 61);
        assert_true(api_parse_time(s, &a));
        assert_true(parse_time_slow(s, &b));
        assert_int_equal(a, b);
    }
    /* The general shapes still parse: fractions, offsets, months out of range. */
    assert_true(api_parse_time("2024-05-01T10:00:00.123+02:00", &a));
    assert_int_equal(a, 1714557600 - 2 * 3600);
    assert_true(api_parse_time("2024-13-01T00:00:00Z", &a));
    assert_true(parse_time_slow("2024-13-01T00:00:00Z", &b));
    assert_int_equal(a, b);
    assert_false(api_parse_time("2024-05-01 10:00:00Z", &a));
    assert_false(api_parse_time("2024-05-01T10:00:00", &a));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_every_kind_is_consistent),
        cmocka_unit_test(test_pod_row_crashloop),
        cmocka_unit_test(test_pod_row_status_reasons),
        cmocka_unit_test(test_node_row),
        cmocka_unit_test(test_deployment_row),
        cmocka_unit_test(test_other_rows),
        cmocka_unit_test(test_human_duration),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_bad_name),
        cmocka_unit_test(test_bad_labels_and_namespace),
        cmocka_unit_test(test_pod_validation),
        cmocka_unit_test(test_workload_validation),
        cmocka_unit_test(test_service_and_data_validation),
        cmocka_unit_test(test_pod_defaults),
        cmocka_unit_test(test_other_defaults),
    };

    return cmocka_run_group_tests_name("api_resources", tests, NULL, NULL);
}
