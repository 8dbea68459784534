/* SPDX-License-Identifier: Apache-2.0
 * test_api_patch.c - RFC 6902 JSON Patch (the Appendix A examples and the
 * edges around them) and strategic merge patch against the behaviour of
 * k8s.io/apimachinery strategicpatch, with a small OpenAPI v3 fragment
 * (Deployment -> PodTemplateSpec -> PodSpec -> Container, Pod, Service).
 * JSON in the tables uses ' for " to stay readable. */
#include "api/api-patch.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_json.h"

/* ---- JSON Patch ------------------------------------------------------------ */

struct jp_case {
    const char *name;
    const char *doc;
    const char *ops;
    const char *want; /* NULL: the patch fails with kind */
    enum k3c_errkind kind;
};

static const struct jp_case jp_cases[] = {
    /* RFC 6902 Appendix A */
    {"A.1 add an object member", "{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
     "{'baz':'qux','foo':'bar'}"},
    {"A.2 add an array element", "{'foo':['bar','baz']}",
     "[{'op':'add','path':'/foo/1','value':'qux'}]", "{'foo':['bar','qux','baz']}"},
    {"A.3 remove an object member", "{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]",
     "{'foo':'bar'}"},
    {"A.4 remove an array element", "{'foo':['bar','qux','baz']}",
     "[{'op':'remove','path':'/foo/1'}]", "{'foo':['bar','baz']}"},
    {"A.5 replace a value", "{'baz':'qux','foo':'bar'}",
     "[{'op':'replace','path':'/baz','value':'boo'}]", "{'baz':'boo','foo':'bar'}"},
    {"A.6 move a value", "{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
     "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
     "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}"},
    {"A.7 move an array element", "{'foo':['all','grass','cows','eat']}",
     "[{'op':'move','from':'/foo/1','path':'/foo/3'}]", "{'foo':['all','cows','eat','grass']}"},
    {"A.8 test a value: success", "{'baz':'qux','foo':['a',2,'c']}",
     "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2}]",
     "{'baz':'qux','foo':['a',2,'c']}"},
    {"A.9 test a value: error", "{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]",
     NULL, K3C_E_INVALID},
    {"A.10 add a nested member object", "{'foo':'bar'}",
     "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
     "{'foo':'bar','child':{'grandchild':{}}}"},
    {"A.11 ignore unrecognized elements", "{'foo':'bar'}",
     "[{'op':'add','path':'/baz','value':'qux','xyz':123}]", "{'foo':'bar','baz':'qux'}"},
    {"A.12 add to a nonexistent target", "{'foo':'bar'}",
     "[{'op':'add','path':'/baz/bat','value':'qux'}]", NULL, K3C_E_INVALID},
    /* A.13 (duplicate 'op') is rejected by the body decoder: test_jp_duplicate_members */
    {"A.14 ~ escape ordering", "{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':10}]",
     "{'/':9,'~1':10}"},
    {"A.15 comparing strings and numbers", "{'/':9,'~1':10}",
     "[{'op':'test','path':'/~01','value':'10'}]", NULL, K3C_E_INVALID},
    {"A.16 add an array value", "{'foo':['bar']}",
     "[{'op':'add','path':'/foo/-','value':['abc','def']}]", "{'foo':['bar',['abc','def']]}"},

    /* add */
    {"add replaces an existing member", "{'a':1}", "[{'op':'add','path':'/a','value':2}]",
     "{'a':2}"},
    {"add at index == size appends", "{'a':[1]}", "[{'op':'add','path':'/a/1','value':2}]",
     "{'a':[1,2]}"},
    {"add past the end", "{'a':[1]}", "[{'op':'add','path':'/a/2','value':2}]", NULL,
     K3C_E_INVALID},
    {"add with a leading-zero index", "{'a':[1,2]}", "[{'op':'add','path':'/a/01','value':0}]",
     NULL, K3C_E_INVALID},
    {"add with a negative index", "{'a':[1,2]}", "[{'op':'add','path':'/a/-1','value':0}]", NULL,
     K3C_E_INVALID},
    {"add into a scalar", "{'a':1}", "[{'op':'add','path':'/a/b','value':2}]", NULL, K3C_E_INVALID},
    {"add the whole document", "{'a':1}", "[{'op':'add','path':'','value':[1]}]", "[1]"},
    {"add null is a value", "{}", "[{'op':'add','path':'/a','value':null}]", "{'a':null}"},
    {"add with ~1 in a member name", "{}", "[{'op':'add','path':'/a~1b~0c','value':1}]",
     "{'a/b~c':1}"},
    {"add an empty member name", "{}", "[{'op':'add','path':'/','value':1}]", "{'':1}"},
    /* remove */
    {"remove a missing member", "{'a':1}", "[{'op':'remove','path':'/b'}]", NULL, K3C_E_INVALID},
    {"remove the whole document", "{'a':1}", "[{'op':'remove','path':''}]", NULL, K3C_E_INVALID},
    {"remove with '-'", "{'a':[1]}", "[{'op':'remove','path':'/a/-'}]", NULL, K3C_E_INVALID},
    {"remove out of bounds", "{'a':[1]}", "[{'op':'remove','path':'/a/1'}]", NULL, K3C_E_INVALID},
    /* replace */
    {"replace the whole document", "{'a':1}", "[{'op':'replace','path':'','value':{'b':2}}]",
     "{'b':2}"},
    {"replace a missing member", "{'a':1}", "[{'op':'replace','path':'/b','value':2}]", NULL,
     K3C_E_INVALID},
    {"replace an array element", "{'a':[1,2]}", "[{'op':'replace','path':'/a/1','value':3}]",
     "{'a':[1,3]}"},
    {"replace at index == size", "{'a':[1,2]}", "[{'op':'replace','path':'/a/2','value':3}]", NULL,
     K3C_E_INVALID},
    /* move / copy */
    {"move into its own child", "{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a/b/c'}]",
     NULL, K3C_E_INVALID},
    {"move onto itself", "{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a'}]",
     "{'a':{'b':1}}"},
    {"move from a missing member", "{'a':1}", "[{'op':'move','from':'/x','path':'/y'}]", NULL,
     K3C_E_INVALID},
    {"move to a sibling whose name extends the source", "{'a':1}",
     "[{'op':'move','from':'/a','path':'/ab'}]", "{'ab':1}"},
    {"copy is deep", "{'a':{'b':1}}",
     "[{'op':'copy','from':'/a','path':'/c'},{'op':'add','path':'/c/x','value':2}]",
     "{'a':{'b':1},'c':{'b':1,'x':2}}"},
    {"copy an array element to the end", "{'a':[1,2]}",
     "[{'op':'copy','from':'/a/0','path':'/a/-'}]", "{'a':[1,2,1]}"},
    /* test */
    {"test numbers by value", "{'a':1}", "[{'op':'test','path':'/a','value':1.0}]", "{'a':1}"},
    {"test objects regardless of member order", "{'a':{'x':1,'y':[1,{'z':null}]}}",
     "[{'op':'test','path':'/a','value':{'y':[1,{'z':null}],'x':1}}]",
     "{'a':{'x':1,'y':[1,{'z':null}]}}"},
    {"test arrays in order", "{'a':[1,2]}", "[{'op':'test','path':'/a','value':[2,1]}]", NULL,
     K3C_E_INVALID},
    {"test a missing member", "{'a':1}", "[{'op':'test','path':'/b','value':1}]", NULL,
     K3C_E_INVALID},
    {"test the whole document", "{'a':1}", "[{'op':'test','path':'','value':{'a':1}}]", "{'a':1}"},
    {"test null against a missing member", "{}", "[{'op':'test','path':'/a','value':null}]", NULL,
     K3C_E_INVALID},
    /* all or nothing */
    {"a failing op voids the ones before", "{'a':1}",
     "[{'op':'add','path':'/b','value':2},{'op':'test','path':'/a','value':2}]", NULL,
     K3C_E_INVALID},
    {"empty patch", "{'a':1}", "[]", "{'a':1}"},
    /* malformed */
    {"unknown op", "{}", "[{'op':'frob','path':'/a'}]", NULL, K3C_E_BAD_REQUEST},
    {"op is not a string", "{}", "[{'op':1,'path':'/a'}]", NULL, K3C_E_BAD_REQUEST},
    {"missing op", "{}", "[{'path':'/a','value':1}]", NULL, K3C_E_BAD_REQUEST},
    {"missing path", "{}", "[{'op':'add','value':1}]", NULL, K3C_E_BAD_REQUEST},
    {"missing value", "{}", "[{'op':'add','path':'/a'}]", NULL, K3C_E_BAD_REQUEST},
    {"missing from", "{'a':1}", "[{'op':'copy','path':'/b'}]", NULL, K3C_E_BAD_REQUEST},
    {"operation is not an object", "{}", "[1]", NULL, K3C_E_BAD_REQUEST},
    {"pointer without a leading '/'", "{'a':1}", "[{'op':'remove','path':'a'}]", NULL,
     K3C_E_BAD_REQUEST},
    {"pointer with a bad escape", "{}", "[{'op':'add','path':'/a~2','value':1}]", NULL,
     K3C_E_BAD_REQUEST},
    {"pointer with a trailing '~'", "{}", "[{'op':'add','path':'/a~','value':1}]", NULL,
     K3C_E_BAD_REQUEST},
    {"patch is not an array", "{}", "{'op':'add','path':'/a','value':1}", NULL, K3C_E_BAD_REQUEST},
};

static void
test_jp_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(jp_cases); i++) {
        const struct jp_case *c = &jp_cases[i];
        struct k3c_err err = {0};
        _cleanup_json_ json_t *doc = J(c->doc);
        _cleanup_json_ json_t *ops = J(c->ops);
        _cleanup_json_ json_t *before = json_deep_copy(doc);
        _cleanup_json_ json_t *ops_before = json_deep_copy(ops);
        _cleanup_json_ json_t *out = api_json_patch(doc, ops, &err);

        if (c->want)
            expect_json(c->name, out, c->want);
        else if (out)
            fail_msg("%s: want an error, got a document", c->name);
        else if (err.kind != c->kind || !err.msg[0])
            fail_msg("%s: want %s, got %s (%s)", c->name, k3c_err_kind_name(c->kind),
                     k3c_err_kind_name(err.kind), err.msg);
        if (!json_equal(doc, before) || !json_equal(ops, ops_before))
            fail_msg("%s: the inputs were modified", c->name);
    }
}

/* A.13: a member given twice is ambiguous; the PATCH body decoder rejects it
 * before the patch engine runs. */
static void
test_jp_duplicate_members(void **state)
{
    const char *a13 = "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]";
    _cleanup_json_ json_t *ops = json_loads(a13, JSON_REJECT_DUPLICATES, NULL);

    (void)state;
    assert_null(ops);
}

static void
test_jp_too_many_ops(void **state)
{
    _cleanup_json_ json_t *ops = json_array();
    _cleanup_json_ json_t *doc = J("{'a':1}");
    _cleanup_json_ json_t *ok = NULL;
    _cleanup_json_ json_t *out = NULL;
    struct k3c_err err = {0};

    (void)state;
    for (int i = 0; i < API_JSON_PATCH_MAX_OPS; i++)
        json_array_append_new(ops, J("{'op':'test','path':'/a','value':1}"));
    ok = api_json_patch(doc, ops, &err);
    assert_non_null(ok);
    json_array_append_new(ops, J("{'op':'test','path':'/a','value':1}"));
    out = api_json_patch(doc, ops, &err);
    assert_null(out);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
}

static void
test_jp_error_message(void **state)
{
    _cleanup_json_ json_t *doc = J("{'a':[1]}");
    _cleanup_json_ json_t *ops =
        J("[{'op':'test','path':'/a/0','value':1},{'op':'add','path':'/a/5','value':2}]");
    _cleanup_json_ json_t *out = NULL;
    struct k3c_err err = {0};

    (void)state;
    out = api_json_patch(doc, ops, &err);
    assert_null(out);
    assert_string_equal(
        err.msg, "json patch operation 1: add /a/5: array index 5 is out of bounds (size 1)");
}

/* ---- strategic merge patch: schema ------------------------------------------ */

#define REF(name)   "{'$ref':'#/components/schemas/" name "'}"
#define ALLOF(name) "{'allOf':[" REF(name) "],'default':{}}"
#define STR         "{'type':'string'}"
#define MERGE_LIST(items, key)                                                                     \
    "{'type':'array','items':" items ",'x-kubernetes-patch-merge-key':'" key "',"                  \
    "'x-kubernetes-patch-strategy':'merge'}"

static const char
    schema_text[] =
        "{'components':{'schemas':{"
        "'io.k8s.api.apps.v1.Deployment':{'type':'object','properties':{"
        "  'apiVersion':" STR ",'kind':" STR ","
        "  'metadata':" ALLOF(
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") ","
                                                               "  'spec':" ALLOF(
                                                                   "io.k8s.api.apps.v1."
                                                                   "DeploymentSpec") "}},"
                                                                                     "'io.k8s.api."
                                                                                     "apps.v1."
                                                                                     "DeploymentSpe"
                                                                                     "c':{'type':'"
                                                                                     "object','"
                                                                                     "properties':{"
                                                                                     "  "
                                                                                     "'replicas':{'"
                                                                                     "type':'"
                                                                                     "integer','"
                                                                                     "format':'"
                                                                                     "int32'},"
                                                                                     "  "
                                                                                     "'strategy':{'"
                                                                                     "allOf':[" REF("io.k8s.api.apps.v1.DeploymentStrategy") "],"
                                                                                                                                             "    'x-kubernetes-patch-strategy':'retainKeys'},"
                                                                                                                                             "  'template':" ALLOF(
                                                                                                                                                 "io.k8s.api.core.v1.PodTemplateSpec") "}},"
                                                                                                                                                                                       "'io.k8s.api.apps.v1.DeploymentStrategy':{'type':'object','properties':{"
                                                                                                                                                                                       "  'type':" STR
                                                                                                                                                                                       ",'rollingUpdate':{'type':'object','properties':{"
                                                                                                                                                                                       "    'maxSurge':{'x-kubernetes-int-or-string':true},"
                                                                                                                                                                                       "    'maxUnavailable':{'x-kubernetes-int-or-string':true}}}}},"
                                                                                                                                                                                       "'io.k8s.api.core.v1.PodTemplateSpec':{'type':'object','properties':{"
                                                                                                                                                                                       "  'metadata':" ALLOF(
                                                                                                                                                                                           "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") ","
                                                                                                                                                                                                                                              "  'spec':" ALLOF(
                                                                                                                                                                                                                                                  "io.k8s.api.core.v1.PodSpec") "}},"
                                                                                                                                                                                                                                                                                "'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                "  'name':" STR
                                                                                                                                                                                                                                                                                ","
                                                                                                                                                                                                                                                                                "  'labels':{'type':'object','additionalProperties':{'type':'string','default':''}},"
                                                                                                                                                                                                                                                                                "  'finalizers':{'type':'array','items':{'type':'string','default':''},"
                                                                                                                                                                                                                                                                                "    'x-kubernetes-list-type':'set','x-kubernetes-patch-strategy':'merge'}}},"
                                                                                                                                                                                                                                                                                "'io.k8s.api.core.v1.PodSpec':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                "  'containers':{'type':'array','items':" ALLOF("io.k8s.api.core.v1.Container") ","
                                                                                                                                                                                                                                                                                                                                                                "    'x-kubernetes-list-map-keys':['name'],'x-kubernetes-list-type':'map',"
                                                                                                                                                                                                                                                                                                                                                                "    'x-kubernetes-patch-merge-key':'name','x-kubernetes-patch-strategy':'merge'},"
                                                                                                                                                                                                                                                                                                                                                                "  'volumes':{'type':'array','items':" ALLOF("io.k8s.api.core.v1.Volume") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                          "    'x-kubernetes-patch-merge-key':'name','x-kubernetes-patch-strategy':'merge,retainKeys'},"
                                                                                                                                                                                                                                                                                                                                                                                                                                          "  'tolerations':{'type':'array','items':" ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                              "io.k8s.api.core.v1.Toleration") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "    'x-kubernetes-list-type':'atomic'},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'gates':{'type':'array','items':{'type':'object','properties':{'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "    'x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name']},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'nodeSelector':{'type':'object','additionalProperties':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "}}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "'io.k8s.api.core.v1.Container':{'type':'object','required':['name'],'properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               ",'image':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'args':{'type':'array','items':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               ",'x-kubernetes-list-type':'atomic'},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'ports':" MERGE_LIST(ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "io.k8s.api.core.v1.ContainerPort"),
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "containerPort") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'env':" MERGE_LIST(ALLOF("io.k8s.api.core.v1.EnvVar"), "name") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "  'volumeMounts':" MERGE_LIST(ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "io.k8s.api.core.v1.VolumeMount"),
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "mountPath") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "  'resources':" ALLOF("io.k8s.api.core.v1.ResourceRequirements") "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.ContainerPort':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'containerPort':{'type':'integer'},'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        ",'protocol':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.EnvVar':{'type':'object','properties':{'name':" STR ",'value':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.VolumeMount':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        ",'mountPath':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.Volume':{'type':'object','properties':{'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'configMap':{'type':'object','properties':{'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'emptyDir':{'type':'object','properties':{'medium':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}}}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.Toleration':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'key':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        ",'value':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        ",'effect':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "'io.k8s.api.core.v1.ResourceRequirements':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  'limits':{'type':'object','additionalProperties':"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "    " ALLOF("io.k8s.apimachinery.pkg.api.resource.Quantity") "}}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "'io.k8s.apimachinery.pkg.api.resource.Quantity':{'oneOf':[{'type':'string'},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "  {'type':'number'}]},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "'io.k8s.api.core.v1.Pod':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "  'metadata':" ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "  'spec':" ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "io.k8s.api.core.v1.PodSpec") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'status':" ALLOF("io.k8s.api.core.v1.PodStatus") "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "'io.k8s.api.core.v1.PodStatus':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "  'conditions':" MERGE_LIST(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       ALLOF("io.k8s.api.core.v1.PodCondition"), "type") "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "'io.k8s.api.core.v1.PodCondition':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "  'type':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         ",'status':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "'io.k8s.api.core.v1.Service':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "  'spec':" ALLOF(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "io.k8s.api.core.v1.ServiceSpec") "}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "'io.k8s.api.core.v1.ServiceSpec':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  'ports':" MERGE_LIST(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   ALLOF("io.k8s.api.core.v1.ServicePort"), "port") ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "  'selector':{'type':'object','additionalProperties':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "}}},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "'io.k8s.api.core.v1.ServicePort':{'type':'object','properties':{"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "  'port':{'type':'integer'},'name':" STR
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    ","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "  'targetPort':{'x-kubernetes-int-or-string':true}}}"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "}}}";

#define SCHEMA_PREFIX "#/components/schemas/"

static const json_t *
resolve(const char *ref, void *ud)
{
    const json_t *schemas = json_object_get(json_object_get(ud, "components"), "schemas");

    if (strncmp(ref, SCHEMA_PREFIX, strlen(SCHEMA_PREFIX)) != 0)
        return NULL;
    return json_object_get(schemas, ref + strlen(SCHEMA_PREFIX));
}

static int
setup_schema(void **state)
{
    *state = J(schema_text);
    return 0;
}

static int
teardown_schema(void **state)
{
    json_decref(*state);
    return 0;
}

static const json_t *
schema_of(void *root, const char *type)
{
    _cleanup_free_ char *ref = NULL;

    if (!type)
        return NULL;
    ref = k3c_xasprintf(SCHEMA_PREFIX "%s", type);
    return resolve(ref, root);
}

/* ---- strategic merge patch: cases ------------------------------------------- */

struct smp_case {
    const char *name;
    const char *type; /* schema name, NULL: none */
    const char *orig;
    const char *patch;
    const char *want; /* NULL: the patch fails with kind, msg a substring */
    enum k3c_errkind kind;
    const char *msg;
};

#define DEPLOY  "io.k8s.api.apps.v1.Deployment"
#define POD     "io.k8s.api.core.v1.Pod"
#define SERVICE "io.k8s.api.core.v1.Service"
/* A Deployment whose pod spec is x. */
#define PODSPEC(x) "{'spec':{'template':{'spec':" x "}}}"
#define CTRS(x)    PODSPEC("{'containers':" x "}")
#define A1         "{'name':'a','image':'a:1'}"
#define B1         "{'name':'b','image':'b:1'}"
/* Container a with env e. */
#define ENV(e) CTRS("[{'name':'a','env':" e "}]")

static const struct smp_case smp_cases[] = {
    /* lists merged by key */
    {"change the image of one of two containers", DEPLOY, CTRS("[" A1 "," B1 "]"),
     CTRS("[{'name':'b','image':'b:2'}]"), CTRS("[" A1 ",{'name':'b','image':'b:2'}]")},
    {"a new container goes before the stored ones (upstream order)", DEPLOY,
     CTRS("[" A1 "," B1 "]"), CTRS("[{'name':'c','image':'c:1'}]"),
     CTRS("[{'name':'c','image':'c:1'}," A1 "," B1 "]")},
    {"$setElementOrder places a new container", DEPLOY, CTRS("[" A1 "," B1 "]"),
     PODSPEC("{'$setElementOrder/containers':[{'name':'a'},{'name':'b'},{'name':'c'}],"
             "'containers':[{'name':'c','image':'c:1'}]}"),
     CTRS("[" A1 "," B1 ",{'name':'c','image':'c:1'}]")},
    {"$setElementOrder alone reorders", DEPLOY, CTRS("[" A1 "," B1 "]"),
     PODSPEC("{'$setElementOrder/containers':[{'name':'b'},{'name':'a'}]}"),
     CTRS("[" B1 "," A1 "]")},
    {"$setElementOrder naming an element that is not there", DEPLOY,
     ENV("[{'name':'A'},{'name':'C'}]"),
     CTRS("[{'name':'a','$setElementOrder/env':[{'name':'C'},{'name':'B'},{'name':'A'}],"
          "'env':[{'name':'C','value':'3'},{'name':'A','value':'1'}]}]"),
     ENV("[{'name':'C','value':'3'},{'name':'A','value':'1'}]")},
    {"$setElementOrder disagreeing with the patch list", DEPLOY, CTRS("[" A1 "," B1 "]"),
     PODSPEC("{'$setElementOrder/containers':[{'name':'a'},{'name':'b'}],"
             "'containers':[{'name':'b','image':'x'},{'name':'a','image':'y'}]}"),
     NULL, K3C_E_BAD_REQUEST, "doesn't match $setElementOrder"},
    {"the patch's order wins among the elements it names", DEPLOY,
     ENV("[{'name':'A'},{'name':'B','value':'b'},{'name':'C'}]"),
     ENV("[{'name':'C','value':'c'},{'name':'A','value':'a'}]"),
     ENV("[{'name':'B','value':'b'},{'name':'C','value':'c'},{'name':'A','value':'a'}]")},
    {"env merged by name", DEPLOY, ENV("[{'name':'X','value':'1'},{'name':'Y','value':'2'}]"),
     ENV("[{'name':'Y','value':'3'},{'name':'Z','value':'4'}]"),
     ENV("[{'name':'X','value':'1'},{'name':'Y','value':'3'},{'name':'Z','value':'4'}]")},
    {"ports merged by containerPort", DEPLOY,
     CTRS("[{'name':'a','ports':[{'containerPort':80,'name':'http'},"
          "{'containerPort':443,'name':'https'}]}]"),
     CTRS("[{'name':'a','ports':[{'containerPort':80,'name':'web'}]}]"),
     CTRS("[{'name':'a','ports':[{'containerPort':80,'name':'web'},"
          "{'containerPort':443,'name':'https'}]}]")},
    {"delete a container with $patch delete", DEPLOY, CTRS("[" A1 "," B1 "]"),
     CTRS("[{'name':'a','$patch':'delete'}]"), CTRS("[" B1 "]")},
    {"$patch delete removes every duplicate", DEPLOY,
     ENV("[{'name':'A'},{'name':'A','value':'x'},{'name':'B'}]"),
     ENV("[{'name':'A','$patch':'delete'}]"), ENV("[{'name':'B'}]")},
    {"delete one container and change the other", DEPLOY, CTRS("[" A1 "," B1 "]"),
     CTRS("[{'name':'a','$patch':'delete'},{'name':'b','image':'b:2'}]"),
     CTRS("[{'name':'b','image':'b:2'}]")},
    {"$patch replace inside a list", DEPLOY, CTRS("[" A1 "," B1 "]"),
     CTRS("[{'name':'c','image':'c:1'},{'$patch':'replace'}]"),
     CTRS("[{'name':'c','image':'c:1'}]")},
    {"$patch replace alone empties a list", DEPLOY, CTRS("[" A1 "," B1 "]"),
     CTRS("[{'$patch':'replace'}]"), CTRS("[]")},
    {"nested merge keys", DEPLOY,
     PODSPEC("{'containers':[{'name':'a','ports':[{'containerPort':80}],"
             "'env':[{'name':'X','value':'1'}],'volumeMounts':[{'mountPath':'/a','name':'v1'}]}],"
             "'volumes':[{'name':'v1','emptyDir':{}}]}"),
     PODSPEC("{'$setElementOrder/volumes':[{'name':'v1'},{'name':'v2'}],"
             "'containers':[{'name':'a','ports':[{'containerPort':8080}],"
             "'env':[{'name':'X','value':'2'}],"
             "'$setElementOrder/volumeMounts':[{'mountPath':'/a'},{'mountPath':'/b'}],"
             "'volumeMounts':[{'mountPath':'/b','name':'v2'}]}],"
             "'volumes':[{'name':'v2','configMap':{'name':'cm'}}]}"),
     PODSPEC("{'containers':[{'name':'a','ports':[{'containerPort':8080},{'containerPort':80}],"
             "'env':[{'name':'X','value':'2'}],"
             "'volumeMounts':[{'mountPath':'/a','name':'v1'},{'mountPath':'/b','name':'v2'}]}],"
             "'volumes':[{'name':'v1','emptyDir':{}},{'name':'v2','configMap':{'name':'cm'}}]}")},
    {"merge keys compare numbers by value", SERVICE, "{'spec':{'ports':[{'port':80}]}}",
     "{'spec':{'ports':[{'port':80.0,'name':'http'}]}}",
     "{'spec':{'ports':[{'port':80.0,'name':'http'}]}}"},
    {"pod conditions merged by type", POD,
     "{'status':{'conditions':[{'type':'Ready','status':'False'},"
     "{'type':'PodScheduled','status':'True'}]}}",
     "{'status':{'conditions':[{'type':'Ready','status':'True'}]}}",
     "{'status':{'conditions':[{'type':'Ready','status':'True'},"
     "{'type':'PodScheduled','status':'True'}]}}"},
    {"service ports merged by port", SERVICE,
     "{'spec':{'ports':[{'port':80,'name':'http'},{'port':443,'name':'https'}]}}",
     "{'spec':{'ports':[{'port':443,'targetPort':8443}]}}",
     "{'spec':{'ports':[{'port':80,'name':'http'},"
     "{'port':443,'name':'https','targetPort':8443}]}}"},
    {"volumes: $retainKeys in an element (merge,retainKeys)", DEPLOY,
     PODSPEC("{'volumes':[{'name':'v','emptyDir':{}},{'name':'w','emptyDir':{}}]}"),
     PODSPEC("{'volumes':[{'name':'v','$retainKeys':['configMap','name'],"
             "'configMap':{'name':'cm'}}]}"),
     PODSPEC("{'volumes':[{'name':'v','configMap':{'name':'cm'}},{'name':'w','emptyDir':{}}]}")},

    /* lists that are replaced */
    {"an atomic list is replaced", DEPLOY, PODSPEC("{'tolerations':[{'key':'a'},{'key':'b'}]}"),
     PODSPEC("{'tolerations':[{'key':'c'}]}"), PODSPEC("{'tolerations':[{'key':'c'}]}")},
    {"list-type map without a patch strategy is replaced (as upstream)", DEPLOY,
     PODSPEC("{'gates':[{'name':'a'},{'name':'b'}]}"), PODSPEC("{'gates':[{'name':'b'}]}"),
     PODSPEC("{'gates':[{'name':'b'}]}")},
    {"an empty patch list leaves a merge list alone", DEPLOY, CTRS("[" A1 "]"), CTRS("[]"),
     CTRS("[" A1 "]")},
    {"an empty patch list empties an atomic list", DEPLOY, CTRS("[{'name':'a','args':['x','y']}]"),
     CTRS("[{'name':'a','args':[]}]"), CTRS("[{'name':'a','args':[]}]")},
    {"an empty patch list creates an empty list", DEPLOY, PODSPEC("{}"), CTRS("[]"), CTRS("[]")},
    {"null deletes a list", DEPLOY, CTRS("[" A1 "]"), CTRS("null"), PODSPEC("{}")},

    /* lists of scalars */
    {"finalizers: merge is a union", DEPLOY, "{'metadata':{'finalizers':['a','b','c']}}",
     "{'metadata':{'finalizers':['c','d']}}", "{'metadata':{'finalizers':['a','b','c','d']}}"},
    {"finalizers: duplicates collapse, new values first", DEPLOY,
     "{'metadata':{'finalizers':['a','a']}}", "{'metadata':{'finalizers':['b','b']}}",
     "{'metadata':{'finalizers':['b','a']}}"},
    {"finalizers: $deleteFromPrimitiveList", DEPLOY, "{'metadata':{'finalizers':['a','b','c']}}",
     "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b','x']}}",
     "{'metadata':{'finalizers':['a','c']}}"},
    {"finalizers: add, delete and order in one patch", DEPLOY,
     "{'metadata':{'finalizers':['1','2','3']}}",
     "{'metadata':{'$setElementOrder/finalizers':['1','2','4'],"
     "'$deleteFromPrimitiveList/finalizers':['3'],'finalizers':['4']}}",
     "{'metadata':{'finalizers':['1','2','4']}}"},
    {"$deleteFromPrimitiveList with no list adds nothing", DEPLOY, "{'metadata':{}}",
     "{'metadata':{'$deleteFromPrimitiveList/finalizers':['a']}}", "{'metadata':{}}"},
    {"$deleteFromPrimitiveList on an atomic list", DEPLOY,
     CTRS("[{'name':'a','args':['x','y','z']}]"),
     CTRS("[{'name':'a','$deleteFromPrimitiveList/args':['y']}]"),
     CTRS("[{'name':'a','args':['x','z']}]")},
    {"finalizers: patch order among named values", DEPLOY,
     "{'metadata':{'finalizers':['1','2','3']}}", "{'metadata':{'finalizers':['3','1']}}",
     "{'metadata':{'finalizers':['2','3','1']}}"},

    /* maps */
    {"null removes a label", DEPLOY, "{'metadata':{'labels':{'app':'x','tier':'y'}}}",
     "{'metadata':{'labels':{'tier':null,'new':'z'}}}",
     "{'metadata':{'labels':{'app':'x','new':'z'}}}"},
    {"null for a missing key is dropped", DEPLOY, "{'metadata':{}}",
     "{'metadata':{'labels':{'a':null,'b':'1'}}}", "{'metadata':{'labels':{'b':'1'}}}"},
    {"$patch replace on a map", DEPLOY, "{'metadata':{'labels':{'app':'x','tier':'y'}}}",
     "{'metadata':{'labels':{'$patch':'replace','new':'1'}}}",
     "{'metadata':{'labels':{'new':'1'}}}"},
    {"$patch delete on a map leaves {} (as upstream)", DEPLOY,
     PODSPEC("{'nodeSelector':{'disk':'ssd'}}"), PODSPEC("{'nodeSelector':{'$patch':'delete'}}"),
     PODSPEC("{'nodeSelector':{}}")},
    {"$patch delete on a missing map adds nothing", DEPLOY, PODSPEC("{}"),
     PODSPEC("{'nodeSelector':{'$patch':'delete'}}"), PODSPEC("{}")},
    {"$retainKeys drops the other keys", DEPLOY,
     "{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}}}}",
     "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate','rollingUpdate':null}}}",
     "{'spec':{'strategy':{'type':'Recreate'}}}"},
    {"$retainKeys must name every patched key", DEPLOY, "{'spec':{'strategy':{'type':'A'}}}",
     "{'spec':{'strategy':{'$retainKeys':['type'],'rollingUpdate':{'maxSurge':2}}}}", NULL,
     K3C_E_BAD_REQUEST, "spec.strategy: field rollingUpdate is missing from $retainKeys"},
    {"a retainKeys field merges without the directive", DEPLOY,
     "{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}}}}",
     "{'spec':{'strategy':{'rollingUpdate':{'maxSurge':'25%'}}}}",
     "{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':'25%'}}}}"},
    {"quantities take numbers and strings", DEPLOY, CTRS("[{'name':'a'}]"),
     CTRS("[{'name':'a','resources':{'limits':{'cpu':1,'memory':'1Gi'}}}]"),
     CTRS("[{'name':'a','resources':{'limits':{'cpu':1,'memory':'1Gi'}}}]")},

    /* directives never reach the result */
    {"directives in a new container are applied, not stored", DEPLOY, PODSPEC("{}"),
     CTRS("[{'name':'a','env':[{'name':'X','$patch':'delete'},{'name':'Y','value':'1'}],"
          "'$setElementOrder/env':[{'name':'Y'}],"
          "'ports':[{'containerPort':80},{'$patch':'replace'}],"
          "'resources':{'limits':{'cpu':null}}}]"),
     CTRS("[{'name':'a','env':[{'name':'Y','value':'1'}],'ports':[{'containerPort':80}],"
          "'resources':{'limits':{}}}]")},

    /* no schema: maps merge, lists are replaced */
    {"no schema: like a merge patch", NULL, "{'a':{'b':1,'c':2},'l':[1,2],'x':1}",
     "{'a':{'c':null,'d':3},'l':[3],'x':null}", "{'a':{'b':1,'d':3},'l':[3]}"},
    {"no schema: $patch replace", NULL, "{'m':{'a':1},'n':1}", "{'m':{'$patch':'replace','b':2}}",
     "{'m':{'b':2},'n':1}"},
    {"no schema: top-level $patch replace", NULL, "{'a':1}", "{'$patch':'replace','b':2}",
     "{'b':2}"},
    {"no schema: top-level $patch delete", NULL, "{'a':1}", "{'$patch':'delete'}", "{}"},
    {"no schema: a list element drops its directives", NULL, "{'l':[{'n':1}]}",
     "{'l':[{'n':2,'m':{'$patch':'delete'},'o':{'p':null}},{'$patch':'delete','n':3}]}",
     "{'l':[{'n':2,'o':{}}]}"},
    {"no schema: a type change replaces", NULL, "{'a':{'b':1},'c':[1]}", "{'a':[1],'c':{'d':1}}",
     "{'a':[1],'c':{'d':1}}"},

    /* type mismatches */
    {"an object where the schema says list", DEPLOY, CTRS("[" A1 "]"), CTRS("{'a':1}"), NULL,
     K3C_E_INVALID, "spec.template.spec.containers: expected a list, got an object"},
    {"a list where the schema says map", DEPLOY, "{'metadata':{'labels':{'a':'b'}}}",
     "{'metadata':{'labels':['a']}}", NULL, K3C_E_INVALID,
     "metadata.labels: expected an object, got a list"},
    {"an object where the schema says string", DEPLOY, CTRS("[" A1 "]"),
     CTRS("[{'name':'a','image':{'x':1}}]"), NULL, K3C_E_INVALID,
     "spec.template.spec.containers[0].image: expected a string, number or boolean, got an "
     "object"},
    {"a string where the schema says container", DEPLOY, CTRS("[" A1 "]"), CTRS("['a']"), NULL,
     K3C_E_INVALID, "spec.template.spec.containers[0]: expected an object, got a string"},
    {"a list where the schema says integer", DEPLOY, "{'spec':{}}", "{'spec':{'replicas':[1]}}",
     NULL, K3C_E_INVALID, "spec.replicas: expected"},

    /* malformed patches */
    {"an element without its merge key", DEPLOY, CTRS("[" A1 "]"), CTRS("[{'image':'x'}]"), NULL,
     K3C_E_BAD_REQUEST, "spec.template.spec.containers[0]: element does not contain the merge key"},
    {"a delete directive without the merge key", DEPLOY, CTRS("[" A1 "]"),
     CTRS("[{'$patch':'delete'}]"), NULL, K3C_E_BAD_REQUEST, "needs the merge key name"},
    {"$patch merge in a list", DEPLOY, CTRS("[" A1 "]"), CTRS("[{'name':'a','$patch':'merge'}]"),
     NULL, K3C_E_BAD_REQUEST, "merging lists cannot yet be specified"},
    {"an unknown $patch in a map", DEPLOY, "{'metadata':{}}",
     "{'metadata':{'labels':{'$patch':'frob'}}}", NULL, K3C_E_BAD_REQUEST,
     "metadata.labels: unknown \"$patch\" directive"},
    {"$patch merge in a map", NULL, "{'a':{}}", "{'a':{'$patch':'merge'}}", NULL, K3C_E_BAD_REQUEST,
     "unknown \"$patch\""},
    {"a $patch that is not a string", NULL, "{}", "{'$patch':1}", NULL, K3C_E_BAD_REQUEST, NULL},
    {"$retainKeys that is not a list", NULL, "{}", "{'$retainKeys':'a'}", NULL, K3C_E_BAD_REQUEST,
     NULL},
    {"$setElementOrder that is not a list", DEPLOY, CTRS("[" A1 "]"),
     PODSPEC("{'$setElementOrder/containers':{'name':'a'}}"), NULL, K3C_E_BAD_REQUEST, NULL},
    {"$setElementOrder entries without the merge key", DEPLOY, CTRS("[" A1 "]"),
     PODSPEC("{'$setElementOrder/containers':['a']}"), NULL, K3C_E_BAD_REQUEST, NULL},
    {"$deleteFromPrimitiveList that is not a list", DEPLOY, "{'metadata':{'finalizers':['a']}}",
     "{'metadata':{'$deleteFromPrimitiveList/finalizers':'a'}}", NULL, K3C_E_BAD_REQUEST, NULL},
    {"a merge list mixing objects and scalars", DEPLOY, "{'metadata':{'finalizers':['a']}}",
     "{'metadata':{'finalizers':[{'x':1}]}}", NULL, K3C_E_INVALID, "finalizers[0]: expected"},
    {"a merge list of lists", NULL, "{}", "{'l':[[1]]}", "{'l':[[1]]}"},
    {"the patch is not an object", NULL, "{}", "[]", NULL, K3C_E_BAD_REQUEST,
     "must be a JSON object"},
};

static void
check_smp_case(void *root, const struct smp_case *c)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *orig = J(c->orig);
    _cleanup_json_ json_t *patch = J(c->patch);
    _cleanup_json_ json_t *orig_before = json_deep_copy(orig);
    _cleanup_json_ json_t *patch_before = json_deep_copy(patch);
    _cleanup_json_ json_t *out =
        api_strategic_merge_patch(orig, patch, schema_of(root, c->type), resolve, root, &err);

    if (c->want)
        expect_json(c->name, out, c->want);
    else if (out)
        fail_msg("%s: want an error, got a result", c->name);
    else if (err.kind != c->kind)
        fail_msg("%s: want %s, got %s (%s)", c->name, k3c_err_kind_name(c->kind),
                 k3c_err_kind_name(err.kind), err.msg);
    else if (c->msg && !strstr(err.msg, c->msg))
        fail_msg("%s: message\n  want: ...%s...\n  got:  %s", c->name, c->msg, err.msg);
    if (!json_equal(orig, orig_before) || !json_equal(patch, patch_before))
        fail_msg("%s: the inputs were modified", c->name);
}

static void
test_smp_cases(void **state)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(smp_cases); i++)
        check_smp_case(*state, &smp_cases[i]);
}

/* Nesting is bounded: a patch 200 maps deep fails cleanly, 100 is fine. */
static json_t *
nested(int depth)
{
    json_t *v = json_integer(1);

    for (int i = 0; i < depth; i++) {
        json_t *o = json_object();

        json_object_set_new(o, "n", v);
        v = o;
    }
    return v;
}

static void
test_smp_depth_limit(void **state)
{
    _cleanup_json_ json_t *orig = json_object();
    _cleanup_json_ json_t *deep = nested(API_PATCH_MAX_DEPTH + 72);
    _cleanup_json_ json_t *ok = nested(100);
    _cleanup_json_ json_t *out = NULL;
    _cleanup_json_ json_t *out2 = NULL;
    struct k3c_err err = {0};

    (void)state;
    out = api_strategic_merge_patch(orig, deep, NULL, NULL, NULL, &err);
    assert_null(out);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "nested deeper than"));
    out2 = api_strategic_merge_patch(orig, ok, NULL, NULL, NULL, &err);
    assert_non_null(out2);
    assert_true(json_equal(out2, ok));
}

/* A NULL original is {}; a schema whose $ref cannot be resolved degrades to
 * schema-less merging instead of failing. */
static void
test_smp_null_original_and_dangling_ref(void **state)
{
    _cleanup_json_ json_t *patch = J("{'a':{'$patch':'replace','b':[1]}}");
    _cleanup_json_ json_t *schema = J("{'$ref':'#/components/schemas/nope'}");
    _cleanup_json_ json_t *out = NULL;
    struct k3c_err err = {0};

    out = api_strategic_merge_patch(NULL, patch, schema, resolve, *state, &err);
    expect_json("null original", out, "{'a':{'b':[1]}}");
}

/* Each copy of the root doubles the document: 40 of them would need
 * terabytes. The copy budget stops the patch early instead. */
static void
test_jp_copy_bomb_refused(void **state)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s}", "x", "0123456789abcdef0123456789abcdef");
    _cleanup_json_ json_t *ops = json_array();
    struct k3c_err err = {0};
    json_t *out;

    (void)state;
    for (int i = 0; i < 40; i++) {
        char path[16];

        snprintf(path, sizeof(path), "/a%d", i);
        json_array_append_new(ops,
                              json_pack("{s:s, s:s, s:s}", "op", "copy", "from", "", "path", path));
    }
    out = api_json_patch(doc, ops, &err);
    assert_null(out);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "copy operations"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jp_cases),
        cmocka_unit_test(test_jp_duplicate_members),
        cmocka_unit_test(test_jp_too_many_ops),
        cmocka_unit_test(test_jp_copy_bomb_refused),
        cmocka_unit_test(test_jp_error_message),
        cmocka_unit_test(test_smp_cases),
        cmocka_unit_test(test_smp_depth_limit),
        cmocka_unit_test(test_smp_null_original_and_dangling_ref),
    };

    return cmocka_run_group_tests_name("api_patch", tests, setup_schema, teardown_schema);
}
