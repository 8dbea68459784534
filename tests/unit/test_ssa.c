/* SPDX-License-Identifier: Apache-2.0
 * test_ssa.c - server-side apply (src/ssa/) against the behaviour of
 * sigs.k8s.io/structured-merge-diff as the Kubernetes documentation and its
 * tests describe it: the fieldsV1 codec, set operations, field sets from
 * objects with the real Deployment and ConfigMap schemas (schemas/),
 * the merge by list type, and the managedFields of Apply and Update:
 * conflicts, co-ownership, force, removal of dropped fields.
 * JSON in the tables uses ' for " to stay readable. */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "ssa/ssa-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_json.h"

static struct ssa_schema
schema_of(const char *group, const char *plural)
{
    const struct api_resource *r = api_resource_find(group, "v1", plural);
    struct ssa_schema s = {NULL, api_openapi_resolve, NULL};

    assert_non_null(r);
    s.root = api_openapi_kind_schema(r);
    assert_non_null(s.root);
    return s;
}

/* The fieldsV1 of an object's field set. */
static json_t *
fields_of(const char *obj, const struct ssa_schema *s)
{
    _cleanup_json_ json_t *o = J(obj);
    struct k3c_err err = {0};
    _cleanup_json_ json_t *set = ssa_set_from_object(o, s, &err);

    if (!set)
        fail_msg("field set of %s: %s", obj, err.msg);
    return ssa_set_to_fieldsv1(set);
}

/* ---- fieldsV1 and set operations ----------------------------------------- */

static void
test_fieldsv1_roundtrip(void **state)
{
    (void)state;
    /* Members without children are {}, with children ".": {}; "k:" keys are
     * made canonical (sorted, compact). */
    _cleanup_json_ json_t *in = J("{'f:metadata':{'f:labels':{'.':{},'f:app':{}}},"
                                  "'f:spec':{'f:ports':{'k:{\\'protocol\\': \\'TCP\\', "
                                  "\\'port\\': 80}':{'.':{},'f:port':{}}}}}");
    struct k3c_err err = {0};
    _cleanup_json_ json_t *set = ssa_set_from_fieldsv1(in, &err);
    _cleanup_json_ json_t *out = NULL;

    assert_non_null(set);
    out = ssa_set_to_fieldsv1(set);
    expect_json("roundtrip", out,
                "{'f:metadata':{'f:labels':{'.':{},'f:app':{}}},"
                "'f:spec':{'f:ports':{'k:{\\'port\\':80,\\'protocol\\':\\'TCP\\'}':"
                "{'.':{},'f:port':{}}}}}");
}

static void
test_fieldsv1_rejects(void **state)
{
    static const char *const bad[] = {
        "[]",         "{'x:a':{}}",  "{'f:a':1}",     "{'k:[1]':{}}",
        "{'k:{':{}}", "{'i:-1':{}}", "{'v:nope':{}}",
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        _cleanup_json_ json_t *in = J(bad[i]);
        struct k3c_err err = {0};
        _cleanup_json_ json_t *set = ssa_set_from_fieldsv1(in, &err);

        if (set)
            fail_msg("accepted bad fieldsV1 %s", bad[i]);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
}

/* Keys compare as text: the writer must give jansson's bytes. */
static void
test_canonical_json(void **state)
{
    static const char *const values[] = {
        "'plain'",
        "'with \\'quote\\''",
        "'back\\\\slash'",
        "'tab\\t'",
        "'ünï/cödé'",
        "42",
        "-7",
        "true",
        "null",
        "1.5",
        "{'b':1,'a':'x','c':null}",
        "{'k':{'n':1}}",
        "[1,'a']",
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(values); i++) {
        _cleanup_json_ json_t *v = J(values[i]);
        _cleanup_free_ char *mine = ssa_json_text(v);
        _cleanup_free_ char *theirs =
            json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        assert_string_equal(mine, theirs);
    }
}

static void
test_set_operations(void **state)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *fa = J("{'f:a':{},'f:b':{'f:c':{},'f:d':{}}}");
    _cleanup_json_ json_t *fb = J("{'f:b':{'f:d':{},'f:e':{}},'f:x':{}}");
    _cleanup_json_ json_t *a = ssa_set_from_fieldsv1(fa, &err);
    _cleanup_json_ json_t *b = ssa_set_from_fieldsv1(fb, &err);
    _cleanup_json_ json_t *u = ssa_set_union(a, b), *d = ssa_set_difference(a, b);
    _cleanup_json_ json_t *i = ssa_set_intersection(a, b);
    _cleanup_json_ json_t *ue = ssa_set_to_fieldsv1(u), *de = ssa_set_to_fieldsv1(d);
    _cleanup_json_ json_t *ie = ssa_set_to_fieldsv1(i);

    (void)state;
    expect_json("union", ue, "{'f:a':{},'f:b':{'f:c':{},'f:d':{},'f:e':{}},'f:x':{}}");
    expect_json("difference", de, "{'f:a':{},'f:b':{'f:c':{}}}");
    expect_json("intersection", ie, "{'f:b':{'f:d':{}}}");
    assert_true(ssa_set_empty(NULL));
    assert_false(ssa_set_empty(a));
}

static void
collect(const char *path, void *ud)
{
    json_array_append_new(ud, json_string(path));
}

static void
test_path_strings(void **state)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *f = J("{'f:spec':{'f:containers':{'k:{\\'name\\':\\'app\\'}':{'.':{},"
                                 "'f:image':{}}},'f:finalizers':{'v:\\'x\\'':{}},"
                                 "'f:ports':{'k:{\\'port\\':80,\\'protocol\\':\\'TCP\\'}':{}}}}");
    _cleanup_json_ json_t *set = ssa_set_from_fieldsv1(f, &err);
    _cleanup_json_ json_t *paths = json_array();

    (void)state;
    ssa_set_foreach_path(set, collect, paths);
    expect_json("paths", paths,
                "['.spec.containers[name=\\'app\\']', '.spec.containers[name=\\'app\\'].image',"
                "'.spec.finalizers[=\\'x\\']', '.spec.ports[port=80,protocol=\\'TCP\\']']");
}

/* ---- field sets from objects (the real schemas) ----------------------------- */

static const char *const DEPLOY =
    "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','labels':{'app':'web'},"
    "'finalizers':['x']},"
    "'spec':{'replicas':2,'selector':{'matchLabels':{'app':'web'}},'template':{'metadata':"
    "{'labels':{'app':'web'}},'spec':{'containers':[{'name':'app','image':'nginx',"
    "'args':['a','b'],'ports':[{'containerPort':80}],'env':[{'name':'A','value':'1'}]}]}}}}";

static void
test_fieldset_deployment(void **state)
{
    struct ssa_schema s = schema_of("apps", "deployments");
    _cleanup_json_ json_t *f = fields_of(DEPLOY, &s);

    (void)state;
    /* Containers keyed by name, ports by containerPort and protocol (its
     * default TCP fills the missing key), env by name; args and the
     * selector (x-kubernetes-map-type: atomic) are atomic; finalizers a
     * set; identity fields are in the set of the object (stripped only
     * in managedFields). */
    expect_json(
        "deployment", f,
        "{'f:apiVersion':{},'f:kind':{},'f:metadata':{'f:finalizers':{'v:\\'x\\'':{}},"
        "'f:labels':{'f:app':{}},'f:name':{}},'f:spec':{'f:replicas':{},'f:selector':{},"
        "'f:template':{'f:metadata':{'f:labels':{'f:app':{}}},'f:spec':{'f:containers':{"
        "'k:{\\'name\\':\\'app\\'}':{'.':{},'f:args':{},'f:env':{'k:{\\'name\\':\\'A\\'}':{'.':{},"
        "'f:name':{},'f:value':{}}},'f:image':{},'f:name':{},'f:ports':{"
        "'k:{\\'containerPort\\':80,\\'protocol\\':\\'TCP\\'}':{'.':{},'f:containerPort':{}}}}}}}}"
        "}");
}

static void
test_fieldset_missing_key(void **state)
{
    /* A key field without a default: the item cannot be named. */
    _cleanup_json_ json_t *root = J("{'type':'object','properties':{'l':{'type':'array',"
                                    "'x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':"
                                    "['k'],'items':{'type':'object','properties':{'k':{'type':"
                                    "'string'},'v':{'type':'string'}}}}}}");
    struct ssa_schema s = {root, NULL, NULL};
    _cleanup_json_ json_t *o = J("{'l':[{'v':'x'}]}");
    struct k3c_err err = {0};
    _cleanup_json_ json_t *set = ssa_set_from_object(o, &s, &err);

    (void)state;
    assert_null(set);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "omits key field \"k\""));
}

/* ---- merge ----------------------------------------------------------------- */

static json_t *
merged(const char *live, const char *config, const struct ssa_schema *s)
{
    _cleanup_json_ json_t *l = J(live), *c = J(config);
    struct k3c_err err = {0};
    json_t *m = ssa_merge(l, c, s, &err);

    if (!m)
        fail_msg("merge: %s", err.msg);
    return m;
}

static void
test_merge_by_list_type(void **state)
{
    struct ssa_schema s = schema_of("apps", "deployments");
    /* Associative list: matching items merge, new ones go last; atomic
     * list (args) replaced; map merged; null removes. */
    _cleanup_json_ json_t *m = merged(
        "{'metadata':{'labels':{'a':'1','b':'2'},'finalizers':['x']},'spec':{'template':{'spec':"
        "{'containers':[{'name':'app','image':'v1','args':['1','2']},{'name':'side','image':'s'}]}}"
        "}}",
        "{'metadata':{'labels':{'b':null,'c':'3'},'finalizers':['y','x']},'spec':{'template':{'"
        "spec':"
        "{'containers':[{'name':'new','image':'n'},{'name':'app','image':'v2','args':['3']}]}}}}",
        &s);

    (void)state;
    expect_json(
        "merge", m,
        "{'metadata':{'labels':{'a':'1','c':'3'},'finalizers':['x','y']},'spec':{'template':"
        "{'spec':{'containers':[{'name':'app','image':'v2','args':['3']},{'name':'side',"
        "'image':'s'},{'name':'new','image':'n'}]}}}}");
}

static void
test_merge_rejects_duplicates(void **state)
{
    struct ssa_schema s = schema_of("apps", "deployments");
    _cleanup_json_ json_t *c =
        J("{'spec':{'template':{'spec':{'containers':[{'name':'a'},{'name':'a'}]}}}}");
    struct k3c_err err = {0};
    _cleanup_json_ json_t *m = ssa_merge(NULL, c, &s, &err);

    (void)state;
    assert_null(m);
    assert_non_null(strstr(err.msg, "duplicate entries for key"));
}

/* ---- managedFields ------------------------------------------------------- */

static struct ssa_manager
mgr(const char *name)
{
    struct ssa_manager m = {name, NULL, "v1", "2026-12-06T10:00:00Z"};

    return m;
}

/* Applies config as manager over *live (replaced by the result) and its
 * managedFields *managed; returns the conflicts (NULL when none). */
static json_t *
apply(json_t **live, json_t **managed, const char *config, const char *manager, bool force)
{
    struct ssa_schema s = schema_of("", "configmaps");
    _cleanup_json_ json_t *c = J(config);
    struct ssa_manager m = mgr(manager);
    struct ssa_apply_result res;
    struct k3c_err err = {0};
    json_t *conflicts;

    if (ssa_apply(*live, c, *managed, &m, force, &s, &res, &err) < 0)
        fail_msg("apply: %s", err.msg);
    conflicts = json_incref(res.conflicts);
    if (!conflicts) {
        json_decref(*live);
        json_decref(*managed);
        *live = json_incref(res.object);
        *managed = json_incref(res.managed_fields);
    }
    ssa_apply_result_fini(&res);
    return conflicts;
}

/* The fieldsV1 manager owns in managed, or NULL. */
static const json_t *
owned_by(const json_t *managed, const char *manager, const char *op)
{
    size_t i;
    json_t *e;

    json_array_foreach(managed, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "manager")), manager) == 0 &&
            strcmp(json_string_value(json_object_get(e, "operation")), op) == 0)
            return json_object_get(e, "fieldsV1");
    }
    return NULL;
}

#define CM(data) "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c'},'data':" data "}"

static void
test_apply_conflicts_and_force(void **state)
{
    json_t *live = NULL, *managed = NULL, *conflicts;
    _cleanup_free_ char *msg = NULL;

    (void)state;
    assert_null(apply(&live, &managed, CM("{'a':'1','b':'2'}"), "alice", false));
    expect_json("alice owns a, b", owned_by(managed, "alice", "Apply"),
                "{'f:data':{'f:a':{},'f:b':{}}}");
    /* Same value: shared, no conflict. */
    assert_null(apply(&live, &managed, CM("{'a':'1'}"), "bob", false));
    expect_json("bob co-owns a", owned_by(managed, "bob", "Apply"), "{'f:data':{'f:a':{}}}");
    /* Another value: a conflict naming the field and the manager. */
    conflicts = apply(&live, &managed, CM("{'a':'9','b':'8'}"), "bob", false);
    assert_non_null(conflicts);
    msg = ssa_conflict_message(conflicts);
    assert_string_equal(msg,
                        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .data.a\n- "
                        ".data.b");
    json_decref(conflicts);
    /* --force-conflicts: bob takes a and b, alice keeps nothing. */
    assert_null(apply(&live, &managed, CM("{'a':'9','b':'8'}"), "bob", true));
    expect_json("forced", json_object_get(live, "data"), "{'a':'9','b':'8'}");
    assert_null(owned_by(managed, "alice", "Apply"));
    json_decref(live);
    json_decref(managed);
}

static void
test_apply_removes_dropped_fields(void **state)
{
    json_t *live = NULL, *managed = NULL;

    (void)state;
    assert_null(apply(&live, &managed, CM("{'a':'1','b':'2','c':'3'}"), "alice", false));
    assert_null(apply(&live, &managed, CM("{'c':'3'}"), "bob", false));
    /* alice drops b (nobody else owns it: removed) and c (bob owns it:
     * kept). */
    assert_null(apply(&live, &managed, CM("{'a':'1'}"), "alice", false));
    expect_json("pruned", json_object_get(live, "data"), "{'a':'1','c':'3'}");
    expect_json("alice", owned_by(managed, "alice", "Apply"), "{'f:data':{'f:a':{}}}");
    json_decref(live);
    json_decref(managed);
}

static void
test_update_takes_ownership(void **state)
{
    struct ssa_schema s = schema_of("", "configmaps");
    json_t *live = NULL, *managed = NULL;
    _cleanup_json_ json_t *next = NULL, *after = NULL, *conflicts = NULL;
    struct ssa_manager m = mgr("kubectl-edit");
    struct k3c_err err = {0};
    _cleanup_free_ char *msg = NULL;

    (void)state;
    assert_null(apply(&live, &managed, CM("{'a':'1','b':'2'}"), "alice", false));
    next = json_deep_copy(live);
    json_object_set_new(json_object_get(next, "data"), "a", json_string("5"));
    json_object_del(json_object_get(next, "data"), "b");
    after = ssa_update(live, next, managed, &m, &s, &err);
    assert_non_null(after);
    expect_json("editor", owned_by(after, "kubectl-edit", "Update"), "{'f:data':{'f:a':{}}}");
    /* alice lost a (changed) and b (removed). */
    assert_null(owned_by(after, "alice", "Apply"));
    json_decref(live);
    json_decref(managed);
    live = json_incref(next);
    managed = json_incref(after);
    conflicts = apply(&live, &managed, CM("{'a':'1'}"), "alice", false);
    assert_non_null(conflicts);
    msg = ssa_conflict_message(conflicts);
    assert_string_equal(msg,
                        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: "
                        ".data.a");
    json_decref(live);
    json_decref(managed);
}

static void
test_update_create_and_reset(void **state)
{
    struct ssa_schema s = schema_of("", "configmaps");
    _cleanup_json_ json_t *obj = J(CM("{'a':'1'}"));
    _cleanup_json_ json_t *bad = J("[{'manager':'x','operation':'Delete'}]");
    struct ssa_manager m = mgr("kubectl-create");
    struct k3c_err err = {0};
    _cleanup_json_ json_t *mf = ssa_update(NULL, obj, NULL, &m, &s, &err);
    _cleanup_json_ json_t *noop = NULL, *refused = NULL;

    (void)state;
    expect_json("create", mf,
                "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1','time':"
                "'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'.':{},"
                "'f:a':{}}}}]");
    /* An update that changes nothing adds no entry. */
    m.manager = "other";
    noop = ssa_update(obj, obj, mf, &m, &s, &err);
    assert_non_null(noop);
    assert_true(json_equal(noop, mf));
    refused = ssa_update(obj, obj, bad, &m, &s, &err);
    assert_null(refused);
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_apply_set_and_atomic(void **state)
{
    json_t *live = NULL, *managed = NULL;
    _cleanup_json_ json_t *before = NULL;

    (void)state;
    /* finalizers is a set: each value is a field; dropping one removes it. */
    assert_null(apply(&live, &managed,
                      "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','finalizers':"
                      "['a','b']}}",
                      "alice", false));
    expect_json("set owned", owned_by(managed, "alice", "Apply"),
                "{'f:metadata':{'f:finalizers':{'v:\\'a\\'':{},'v:\\'b\\'':{}}}}");
    assert_null(apply(&live, &managed,
                      "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','finalizers':"
                      "['a']}}",
                      "alice", false));
    expect_json("set pruned", json_object_get(json_object_get(live, "metadata"), "finalizers"),
                "['a']");
    /* The same configuration again changes nothing, not even the time. */
    before = json_deep_copy(managed);
    assert_null(apply(&live, &managed,
                      "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','finalizers':"
                      "['a']}}",
                      "alice", false));
    assert_true(json_equal(before, managed));
    json_decref(live);
    json_decref(managed);
}

static void
test_merge_atomic_and_deduced(void **state)
{
    struct ssa_schema s = schema_of("apps", "deployments");
    struct ssa_schema none = {NULL, NULL, NULL};
    /* selector is x-kubernetes-map-type: atomic: replaced, not merged. */
    _cleanup_json_ json_t *m = merged("{'spec':{'selector':{'matchLabels':{'app':'web'}}}}",
                                      "{'spec':{'selector':{'matchLabels':{'x':'1'}}}}", &s);
    /* Without a schema: maps merge, lists are replaced. */
    _cleanup_json_ json_t *d = merged("{'a':{'b':1,'l':[1,2]}}", "{'a':{'c':2,'l':[3]}}", &none);

    (void)state;
    expect_json("atomic map", m, "{'spec':{'selector':{'matchLabels':{'x':'1'}}}}");
    expect_json("deduced", d, "{'a':{'b':1,'c':2,'l':[3]}}");
}

static void
test_depth_bounded(void **state)
{
    struct k3c_err err = {0};
    struct ssa_schema s = {NULL, NULL, NULL};
    json_t *deep = json_string("x");
    _cleanup_json_ json_t *set = NULL, *m = NULL;

    (void)state;
    for (int i = 0; i < SSA_MAX_DEPTH + 10; i++)
        deep = json_pack("{s:o}", "a", deep);
    set = ssa_set_from_object(deep, &s, &err);
    assert_null(set);
    assert_int_equal(err.kind, K3C_E_INVALID);
    m = ssa_merge(NULL, deep, &s, &err);
    assert_null(m);
    json_decref(deep);
}

/* ---- managedFields, byte for byte (issue #20's shortcuts) ------------------- */

/* got as the API serialises it equals want (' for "), member order too. */
static void
expect_bytes(const char *name, const json_t *got, const char *want)
{
    _cleanup_free_ char *w = k3c_xstrdup(want);
    _cleanup_free_ char *g = got ? json_dumps(got, JSON_COMPACT) : NULL;

    for (char *c = w; *c; c++)
        if (*c == '\'')
            *c = '"';
    if (!g || strcmp(g, w) != 0) {
        /* In full: cmocka cuts long messages. */
        fprintf(stderr, "%s:\n  want: %s\n  got:  %s\n", name, w, g ? g : "(null)");
        fail_msg("%s: not the bytes expected", name);
    }
}

#define BENCH_CM                                                                                   \
    "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cm-1','namespace':'default',"       \
    "'labels':{'app':'bench'},'uid':'0a6e4d2c','creationTimestamp':'2026-12-06T10:00:00Z'},"       \
    "'data':{'value':'xxxx'}}"

static void
test_update_bytes_create(void **state)
{
    struct ssa_schema s = schema_of("", "configmaps");
    _cleanup_json_ json_t *cm = J(BENCH_CM);
    _cleanup_json_ json_t *pod =
        J("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p',"
          "'namespace':'d','labels':{'b':'2','a':'1'},'managedFields':"
          "null},'spec':{'containers':[{'name':'web','image':'nginx',"
          "'ports':[{'containerPort':80,'protocol':'TCP'},{'containerPort':"
          "53,'protocol':'UDP','name':'dns'}],'env':[{'name':'A','value':"
          "'1'}],'resources':{}}],'tolerations':[{'key':'k','operator':"
          "'Exists'}],'dnsPolicy':'ClusterFirst'}}");
    struct ssa_schema ps = schema_of("", "pods");
    struct ssa_manager m = mgr("kubectl-create");
    struct k3c_err err = {0};
    _cleanup_json_ json_t *a = NULL, *b = NULL, *c = NULL;

    (void)state;
    /* A create: one Update entry owning every field but identity. */
    a = ssa_update(NULL, cm, NULL, &m, &s, &err);
    expect_bytes("ConfigMap create", a,
                 "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1','time':"
                 "'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'.':{},"
                 "'f:value':{}},'f:metadata':{'f:labels':{'.':{},'f:app':{}}}}}]");
    /* On /status, without a time (a managedFields entry keeps what it is given). */
    m.subresource = "status";
    m.time = "";
    b = ssa_update(NULL, cm, json_null(), &m, &s, &err);
    expect_bytes("status create", b,
                 "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1',"
                 "'fieldsType':'FieldsV1','fieldsV1':{'f:data':{'.':{},'f:value':{}},"
                 "'f:metadata':{'f:labels':{'.':{},'f:app':{}}}},'subresource':'status'}]");
    m = mgr("kubelet");
    c = ssa_update(NULL, pod, NULL, &m, &ps, &err);
    expect_bytes(
        "pod create", c,
        "[{'manager':'kubelet','operation':'Update','apiVersion':'v1','time':'2026-12-06T10:00:"
        "00Z','fieldsType':'FieldsV1','fieldsV1':{'f:metadata':{'f:labels':{'.':{},'f:a':{},'f:"
        "b':{}}},'f:spec':{'f:containers':{'k:{\\'name\\':\\'web\\'}':{'.':{},'f:env':{'k:"
        "{\\'name\\':\\'A\\'}':{'.':{},'f:name':{},'f:value':{}}},'f:image':{},'f:name':{},'f:"
        "ports':{'k:{\\'containerPort\\':53,\\'protocol\\':\\'UDP\\'}':{'.':{},'f:"
        "containerPort':{},'f:name':{},'f:protocol':{}},'k:{\\'containerPort\\':80,\\'protocol\\'"
        ":\\'TCP\\'}':{'.':{},'f:containerPort':{},'f:protocol':{}}},'f:resources':{}}},'f:"
        "dnsPolicy':{},'f:tolerations':{}}}}]");
}

static void
test_update_bytes_updates(void **state)
{
    struct ssa_schema s = schema_of("", "configmaps");
    _cleanup_json_ json_t *cm = J(BENCH_CM);
    _cleanup_json_ json_t *next = NULL, *created = NULL, *same = NULL, *other = NULL;
    _cleanup_json_ json_t *changed = NULL;
    struct ssa_manager m = mgr("kubectl-create");
    struct k3c_err err = {0};

    (void)state;
    created = ssa_update(NULL, cm, NULL, &m, &s, &err);
    /* Nothing changed, same manager and another: the entry as it was. */
    m.time = "2026-12-06T11:00:00Z";
    same = ssa_update(cm, cm, created, &m, &s, &err);
    m.manager = "kubectl-edit";
    other = ssa_update(cm, cm, created, &m, &s, &err);
    expect_bytes("nothing changed", same,
                 "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1','time':"
                 "'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'.':{},"
                 "'f:value':{}},'f:metadata':{'f:labels':{'.':{},'f:app':{}}}}}]");
    expect_bytes("nothing changed, other manager", other,
                 "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1','time':"
                 "'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'.':{},"
                 "'f:value':{}},'f:metadata':{'f:labels':{'.':{},'f:app':{}}}}}]");
    /* Another manager changes a value and adds a label: it owns those. */
    next = json_deep_copy(cm);
    json_object_set_new(json_object_get(next, "data"), "value", json_string("yyyy"));
    json_object_set_new(json_object_get(json_object_get(next, "metadata"), "labels"), "tier",
                        json_string("web"));
    changed = ssa_update(cm, next, created, &m, &s, &err);
    expect_bytes("other manager", changed,
                 "[{'manager':'kubectl-create','operation':'Update','apiVersion':'v1','time':"
                 "'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{},"
                 "'f:metadata':{'f:labels':{'.':{},'f:app':{}}}}},{'manager':'kubectl-edit',"
                 "'operation':'Update','apiVersion':'v1','time':'2026-12-06T11:00:00Z',"
                 "'fieldsType':'FieldsV1','fieldsV1':{'f:data':{'f:value':{}},'f:metadata':{"
                 "'f:labels':{'f:tier':{}}}}}]");
}

static void
test_apply_bytes(void **state)
{
    json_t *live = NULL, *managed = NULL, *conflicts;

    (void)state;
    assert_null(apply(&live, &managed,
                      "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','labels':{"
                      "'x':'1'}},'data':{'b':'2','a':'1'}}",
                      "alice", false));
    expect_bytes("apply create", managed,
                 "[{'manager':'alice','operation':'Apply','apiVersion':'v1','time':'2026-12-06T10:"
                 "00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'f:a':{},'f:b':{}},"
                 "'f:metadata':{'f:labels':{'f:x':{}}}}}]");
    conflicts = apply(&live, &managed, CM("{'a':'9'}"), "bob", false);
    assert_non_null(conflicts);
    json_decref(conflicts);
    assert_null(apply(&live, &managed, CM("{'a':'9','c':'3'}"), "bob", true));
    expect_bytes("forced", managed,
                 "[{'manager':'alice','operation':'Apply','apiVersion':'v1','time':'2026-12-06T10:"
                 "00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{'f:b':{}},'f:metadata':{"
                 "'f:labels':{'f:x':{}}}}},{'manager':'bob','operation':'Apply','apiVersion':'v1',"
                 "'time':'2026-12-06T10:00:00Z','fieldsType':'FieldsV1','fieldsV1':{'f:data':{"
                 "'f:a':{},'f:c':{}}}}]");
    expect_bytes("forced object", live,
                 "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','labels':{'x':'1'}"
                 "},'data':{'b':'2','a':'9','c':'3'}}");
    /* alice drops b: nobody else owns it, it goes. */
    assert_null(apply(&live, &managed,
                      "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','labels':{"
                      "'x':'1'}}}",
                      "alice", false));
    expect_bytes("dropped", live,
                 "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','labels':{'x':'1'}"
                 "},'data':{'a':'9','c':'3'}}");
    json_decref(live);
    json_decref(managed);
}

/* Two results are the same bytes, or both failed with the same message. */
static void
expect_same(const char *name, const json_t *a, const char *err_a, const json_t *b,
            const char *err_b)
{
    _cleanup_free_ char *x = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    _cleanup_free_ char *y = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    if (!x && !y && strcmp(err_a, err_b) == 0)
        return;
    if (x && y && strcmp(x, y) == 0)
        return;
    fprintf(stderr, "%s:\n  fast:    %s (%s)\n  general: %s (%s)\n", name, x ? x : "NULL", err_a,
            y ? y : "NULL", err_b);
    fail_msg("%s: the shortcut and the general path differ", name);
}

/* Objects whose create the shortcut takes, with what makes it hard: nulls,
 * empty maps, managedFields in the body, duplicate and keyless list items,
 * key defaults, set values that need escapes or are reals, other shapes. */
static const struct {
    const char *plural, *obj;
} created[] = {
    {"configmaps", BENCH_CM},
    {"configmaps", "{'apiVersion':'v1','kind':'ConfigMap','metadata':{}}"},
    {"configmaps", "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'managedFields':null}}"},
    {"configmaps", "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'c','managedFields':"
                   "[{'manager':'x'}],'annotations':{},'labels':null},'data':{'a':null,'b':''}}"},
    {"configmaps", "{'kind':'ConfigMap','metadata':{'name':'c','finalizers':['a','a','b\\'c',"
                   "1.5,true,null,'\\u00e9'],'ownerReferences':[{'uid':'u1','name':'n','kind':"
                   "'K','apiVersion':'v1'},{'uid':'u1','name':'dup'},{'uid':'u2','controller':"
                   "true}]},'binaryData':{},'immutable':false}"},
    {"configmaps", "{'apiVersion':'v1','metadata':'not a map','data':['x']}"},
    {"configmaps", "'a string'"},
    {"configmaps", "{}"},
    {"pods", "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','generation':3,'uid':'u'},"
             "'spec':{'containers':[{'name':'a','ports':[{'containerPort':80},{'containerPort':"
             "80,'protocol':'TCP','name':'again'},{'containerPort':53,'protocol':'UDP'}]},{'name':"
             "'a','image':'dup'},{'name':'b','env':[{'name':'E','valueFrom':{'fieldRef':{"
             "'fieldPath':'x'}}}],'securityContext':{},'resources':{'limits':{'cpu':'1'}}}],"
             "'initContainers':[{'image':'no name'}],'volumes':[{'name':'v','emptyDir':{}}],"
             "'nodeSelector':{'a':'b'},'tolerations':[{'key':'k'}]},'status':{'phase':'Pending',"
             "'conditions':[{'type':'Ready','status':'True'}]}}"},
    {"services", "{'apiVersion':'v1','kind':'Service','metadata':{'name':'s'},'spec':{'ports':[{"
                 "'port':80,'targetPort':8080},{'port':80,'protocol':'UDP'}],'selector':{'a':"
                 "'b'},'clusterIPs':['10.43.0.1'],'type':'ClusterIP'}}"},
    {"deployments", DEPLOY},
};

static void
test_update_shortcut_same_bytes(void **state)
{
    const char *const managers[][3] = {
        {"kubectl-create", NULL, "2026-12-06T10:00:00Z"},
        {"kubelet", "status", "2026-12-06T10:00:00Z"},
        {"", "", ""},
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(created); i++) {
        bool apps = strcmp(created[i].plural, "deployments") == 0;
        struct ssa_schema kept = schema_of(apps ? "apps" : "", created[i].plural);
        struct ssa_schema read = kept;
        _cleanup_json_ json_t *obj = J(created[i].obj);
        _cleanup_json_ json_t *empty = json_array(), *null = json_null();
        const json_t *bases[] = {NULL, empty, null};

        kept.stable = true;
        for (size_t j = 0; j < K3C_ARRAY_SIZE(managers); j++)
            for (size_t k = 0; k < K3C_ARRAY_SIZE(bases); k++) {
                struct ssa_manager m = {managers[j][0], managers[j][1], "v1", managers[j][2]};
                struct k3c_err e1 = {0}, e2 = {0};
                _cleanup_json_ json_t *fast = ssa_update(NULL, obj, bases[k], &m, &kept, &e1);
                _cleanup_json_ json_t *general =
                    ssa_update_compared(NULL, obj, bases[k], &m, &read, &e2);
                char name[64];

                snprintf(name, sizeof(name), "create %zu, manager %zu, base %zu", i, j, k);
                expect_same(name, fast, e1.msg, general, e2.msg);
            }
    }
}

/* Kept schema rules (ssa_schema.stable) give what reading the schema gives:
 * updates from each object to the next and applies of each over the next. */
static void
test_kept_rules_same_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i + 1 < K3C_ARRAY_SIZE(created); i++) {
        bool apps = strcmp(created[i].plural, "deployments") == 0;
        struct ssa_schema kept = schema_of(apps ? "apps" : "", created[i].plural);
        struct ssa_schema read = kept;
        _cleanup_json_ json_t *old = J(created[i].obj), *new = J(created[i + 1].obj);
        struct ssa_manager m = mgr("kubectl-create");
        struct k3c_err e1 = {0}, e2 = {0};
        _cleanup_json_ json_t *mf = ssa_update(NULL, old, NULL, &m, &read, &e2);
        _cleanup_json_ json_t *a = NULL, *b = NULL;
        struct ssa_apply_result r1, r2;
        char name[64];

        kept.stable = true;
        m.manager = "kubectl-edit";
        a = ssa_update(old, new, mf, &m, &kept, &e1);
        b = ssa_update(old, new, mf, &m, &read, &e2);
        snprintf(name, sizeof(name), "update %zu", i);
        expect_same(name, a, e1.msg, b, e2.msg);
        if (!json_is_object(new))
            continue;
        m.manager = "alice";
        assert_int_equal(ssa_apply(old, new, mf, &m, false, &kept, &r1, &e1),
                         ssa_apply(old, new, mf, &m, false, &read, &r2, &e2));
        snprintf(name, sizeof(name), "apply %zu", i);
        expect_same(name, r1.object, e1.msg, r2.object, e2.msg);
        expect_same(name, r1.managed_fields, e1.msg, r2.managed_fields, e2.msg);
        expect_same(name, r1.conflicts, e1.msg, r2.conflicts, e2.msg);
        ssa_apply_result_fini(&r1);
        ssa_apply_result_fini(&r2);
    }
}

static void
test_update_shortcut_depth(void **state)
{
    struct ssa_schema s = {NULL, NULL, NULL, false};
    struct ssa_manager m = mgr("deep");
    struct k3c_err e1 = {0}, e2 = {0};
    json_t *deep = json_string("x");
    _cleanup_json_ json_t *a = NULL, *b = NULL;

    (void)state;
    for (int i = 0; i < SSA_MAX_DEPTH + 10; i++)
        deep = i % 2 ? json_pack("{s:o}", "a", deep) : json_pack("{s:o}", "metadata", deep);
    a = ssa_update(NULL, deep, NULL, &m, &s, &e1);
    b = ssa_update_compared(NULL, deep, NULL, &m, &s, &e2);
    assert_null(a);
    assert_int_equal(e1.kind, K3C_E_INVALID);
    expect_same("too deep", a, e1.msg, b, e2.msg);
    json_decref(deep);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fieldsv1_roundtrip),
        cmocka_unit_test(test_fieldsv1_rejects),
        cmocka_unit_test(test_canonical_json),
        cmocka_unit_test(test_set_operations),
        cmocka_unit_test(test_path_strings),
        cmocka_unit_test(test_fieldset_deployment),
        cmocka_unit_test(test_fieldset_missing_key),
        cmocka_unit_test(test_merge_by_list_type),
        cmocka_unit_test(test_merge_rejects_duplicates),
        cmocka_unit_test(test_apply_conflicts_and_force),
        cmocka_unit_test(test_apply_removes_dropped_fields),
        cmocka_unit_test(test_update_takes_ownership),
        cmocka_unit_test(test_update_create_and_reset),
        cmocka_unit_test(test_apply_set_and_atomic),
        cmocka_unit_test(test_merge_atomic_and_deduced),
        cmocka_unit_test(test_depth_bounded),
        cmocka_unit_test(test_update_bytes_create),
        cmocka_unit_test(test_update_bytes_updates),
        cmocka_unit_test(test_apply_bytes),
        cmocka_unit_test(test_update_shortcut_same_bytes),
        cmocka_unit_test(test_kept_rules_same_bytes),
        cmocka_unit_test(test_update_shortcut_depth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
