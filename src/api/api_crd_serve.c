/* SPDX-License-Identifier: Apache-2.0
 * api_crd_serve.c - serving custom resources: the schema each version is
 * served with (OpenAPI v3, kubectl explain, unknown fields, server-side
 * apply), defaulting and validation of writes (src/schema/), Table rows from
 * additionalPrinterColumns (a JSONPath subset) and the /openapi/v3
 * documents of custom group-versions. docs/crd.md. */
#define LOG_COMPONENT "crd"
#include "api/api-crd.h"
#include "api/api-kind.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJECT_META_REF  "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
#define MAX_PATH_DEPTH   32
#define MAX_SCHEMA_DEPTH 64

/* ---- the served schema ----------------------------------------------------- */

static json_t *
type_meta_props(void)
{
    return json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "type", "string", "description",
        "APIVersion defines the versioned schema of this representation of an object.", "kind",
        "type", "string", "description",
        "Kind is a string value representing the REST resource this object represents.");
}

/* Walks the schema's structure (properties, items, additionalProperties):
 * an object that lists no fields and does not preserve unknown ones gets an
 * empty property list, so that pruning drops what it holds (upstream's
 * structural pruning); embedded resources get apiVersion, kind and
 * metadata. */
static void
prepare_node(json_t *s, int depth)
{
    json_t *props, *v;
    const char *key, *type;

    if (!json_is_object(s) || depth > MAX_SCHEMA_DEPTH)
        return;
    props = json_object_get(s, "properties");
    type = json_string_value(json_object_get(s, "type"));
    if (!props && type && strcmp(type, "object") == 0 &&
        !json_object_get(s, "additionalProperties") &&
        !json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields"))) {
        props = json_object();
        json_object_set_new(s, "properties", props);
    }
    if (json_is_true(json_object_get(s, "x-kubernetes-embedded-resource")) &&
        json_is_object(props)) {
        _cleanup_json_ json_t *tm = type_meta_props();

        json_object_update_missing(props, tm);
        if (!json_object_get(props, "metadata"))
            json_object_set_new(props, "metadata",
                                json_pack("{s:s, s:b}", "type", "object",
                                          "x-kubernetes-preserve-unknown-fields", 1));
    }
    json_object_foreach(props, key, v)
    {
        prepare_node(v, depth + 1);
    }
    prepare_node(json_object_get(s, "items"), depth + 1);
    prepare_node(json_object_get(s, "additionalProperties"), depth + 1);
}

/* "cert-manager.io" -> "io.cert-manager" (upstream's schema names). */
static char *
reversed_group(const char *group)
{
    struct k3c_buf b;
    const char *end = group + strlen(group);

    k3c_buf_init(&b);
    while (end > group) {
        const char *dot = end;

        while (dot > group && dot[-1] != '.')
            dot--;
        k3c_buf_appendf(&b, "%s%.*s", b.len ? "." : "", (int)(end - dot), dot);
        end = dot > group ? dot - 1 : group;
    }
    k3c_buf_append(&b, "", 0);
    return k3c_buf_steal(&b, NULL);
}

static void
build_columns(struct crd_entry *e)
{
    size_t i, n = json_array_size(e->printer_columns);
    json_t *c;

    e->columns = k3c_xcalloc(n + 3, sizeof(*e->columns));
    e->columns[0] = (struct api_column){"Name", "string", "name", DESC_NAME, 0};
    if (n == 0) {
        e->columns[1] = (struct api_column){"Age", "date", "", DESC_AGE, 0};
        return;
    }
    json_array_foreach(e->printer_columns, i, c)
    {
        e->columns[i + 1] = (struct api_column){
            json_string_value(json_object_get(c, "name")) ?: "",
            json_string_value(json_object_get(c, "type")) ?: "string",
            json_string_value(json_object_get(c, "format")) ?: "",
            json_string_value(json_object_get(c, "description")) ?: "",
            (int)json_integer_value(json_object_get(c, "priority")),
        };
    }
}

void
crd_entry_build_schema(struct crd_entry *e, const json_t *version)
{
    const json_t *given = json_object_get(json_object_get(version, "schema"), "openAPIV3Schema");
    _cleanup_free_ char *rg = reversed_group(e->res.group);
    json_t *s =
        json_is_object(given) ? json_deep_copy(given) : json_pack("{s:s}", "type", "object");
    json_t *props = json_object_get(s, "properties");
    _cleanup_json_ json_t *tm = type_meta_props();

    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(s, "properties", props);
    }
    prepare_node(s, 0);
    json_object_update_missing(props, tm);
    json_object_set_new(props, "metadata",
                        json_pack("{s:[{s:s}], s:s}", "allOf", "$ref", OBJECT_META_REF,
                                  "description", "Standard object's metadata."));
    json_object_set_new(s, "x-kubernetes-group-version-kind",
                        json_pack("[{s:s, s:s, s:s}]", "group", e->res.group, "version",
                                  e->res.version, "kind", e->res.kind));
    e->schema = s;
    e->schema_name = k3c_xasprintf("%s.%s.%s", rg, e->res.version, e->res.kind);
    build_columns(e);
    e->res.columns = e->columns;
}

const json_t *
api_crd_kind_schema(const struct api_resource *r)
{
    struct crd_entry *e = crd_entry_of(r);

    return e ? e->schema : NULL;
}

/* Structural defaulting, then validation (pruning ran before, in
 * check_fields, over the same schema). */
void
api_crd_prepare(const struct api_resource *r, json_t *obj, const json_t *old, json_t *causes)
{
    struct crd_entry *e = crd_entry_of(r);

    (void)old;
    if (!e)
        return;
    schema_default(e->schema, obj);
    schema_validate(e->schema, obj, true, causes);
}

/* Objects are stored in the version they were written in; with conversion
 * None a reply in another version only changes apiVersion. */
void
api_crd_convert_out(const struct api_resource *r, json_t *obj)
{
    char apiv[256];

    if (crd_entry_of(r) && json_is_object(obj))
        json_object_set_new(obj, "apiVersion",
                            json_string(api_resource_api_version(r, apiv, sizeof(apiv))));
}

char *
api_crd_entry_json(const struct api_resource *r, const struct wc_entry *e, size_t *len)
{
    char apiv[256], want[300];
    _cleanup_json_ json_t *obj = NULL;
    char *text;

    if (!crd_entry_of(r))
        return NULL;
    snprintf(want, sizeof(want), "\"apiVersion\":\"%s\"",
             api_resource_api_version(r, apiv, sizeof(apiv)));
    if (wc_entry_json_has(e, want) || !(obj = wc_entry_object(e)))
        return NULL;
    api_crd_convert_out(r, obj);
    text = json_dumps(obj, JSON_COMPACT);
    *len = text ? strlen(text) : 0;
    return text;
}

/* ---- scale ---------------------------------------------------------------- */

/* The first value at a simple path (".spec.replicas") as a new reference, or NULL. */
static json_t *
at_path(const json_t *obj, const char *path)
{
    _cleanup_json_ json_t *found = json_array();

    crd_jsonpath(obj, path, found);
    return json_incref(json_array_get(found, 0));
}

static const char *
scale_path(const struct crd_entry *e, const char *which)
{
    return json_string_value(json_object_get(e->scale, which));
}

json_t *
api_crd_scale_of(const struct api_resource *r, const json_t *obj)
{
    struct crd_entry *e = crd_entry_of(r);
    const json_t *meta = json_object_get(obj, "metadata");
    _cleanup_json_ json_t *spec_n = NULL, *status_n = NULL, *sel = NULL;

    if (!e || !e->scale)
        return NULL;
    spec_n = at_path(obj, scale_path(e, "specReplicasPath"));
    status_n = at_path(obj, scale_path(e, "statusReplicasPath"));
    if (scale_path(e, "labelSelectorPath"))
        sel = at_path(obj, scale_path(e, "labelSelectorPath"));
    return json_pack("{s:s, s:s, s:{s:O*, s:O*, s:O*, s:O*, s:O*}, s:{s:I}, s:{s:I, s:s}}", "kind",
                     "Scale", "apiVersion", "autoscaling/v1", "metadata", "name",
                     json_object_get(meta, "name"), "namespace", json_object_get(meta, "namespace"),
                     "uid", json_object_get(meta, "uid"), "resourceVersion",
                     json_object_get(meta, "resourceVersion"), "creationTimestamp",
                     json_object_get(meta, "creationTimestamp"), "spec", "replicas",
                     (json_int_t)json_integer_value(spec_n), "status", "replicas",
                     (json_int_t)json_integer_value(status_n), "selector",
                     json_is_string(sel) ? json_string_value(sel) : "");
}

json_t *
api_crd_replicas_parent(const struct api_resource *r, json_t *obj, const char **key)
{
    struct crd_entry *e = crd_entry_of(r);
    const char *path = e && e->scale ? scale_path(e, "specReplicasPath") : NULL;
    json_t *at = obj;

    if (!path || path[0] != '.')
        return NULL;
    /* ".spec.a.replicas": objects made along the way; the last step is the key */
    for (const char *p = path + 1;;) {
        const char *dot = strchr(p, '.');
        _cleanup_free_ char *step = NULL;

        if (!dot) {
            *key = p;
            return at;
        }
        step = k3c_xstrndup(p, (size_t)(dot - p));
        if (!(at = api_ensure_object(at, step)))
            return NULL;
        p = dot + 1;
    }
}

/* ---- JSONPath ---------------------------------------------------------------- */

static void eval(const json_t *v, const char *p, json_t *out, int depth);

/* A filter "?(@.a.b==\"x\")" on each element of v; p after the closing "]". */
static void
eval_filter(const json_t *v, const char *expr, size_t len, const char *rest, json_t *out, int depth)
{
    _cleanup_free_ char *e = k3c_xstrndup(expr, len);
    char *eq = strstr(e, "==");
    const char *want;
    size_t i;
    json_t *item;

    if (!eq || strncmp(e, "?(@", 3) != 0 || e[len - 1] != ')')
        return;
    e[len - 1] = '\0';
    *eq = '\0';
    want = eq + 2;
    if ((want[0] == '"' || want[0] == '\'') && strlen(want) >= 2) {
        ((char *)want)[strlen(want) - 1] = '\0';
        want++;
    }
    json_array_foreach((json_t *)v, i, item)
    {
        _cleanup_json_ json_t *got = json_array();
        const json_t *g;
        char buf[64];
        const char *gs;

        eval(item, e + 3, got, depth + 1);
        g = json_array_get(got, 0);
        gs = json_is_string(g) ? json_string_value(g)
             : json_is_integer(g)
                 ? (snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(g)), buf)
             : json_is_boolean(g) ? (json_is_true(g) ? "true" : "false")
                                  : NULL;
        if (gs && strcmp(gs, want) == 0)
            eval(item, rest, out, depth + 1);
    }
}

static void
eval_bracket(const json_t *v, const char *p, json_t *out, int depth)
{
    const char *close = strchr(p, ']');
    const char *rest;
    size_t len;

    if (!close)
        return;
    /* a filter may hold "]" only inside its quotes: find the ")]" */
    if (p[1] == '?') {
        const char *fc = strstr(p, ")]");

        if (!fc)
            return;
        close = fc + 1;
    }
    rest = close + 1;
    len = (size_t)(close - p - 1);
    if (len == 1 && p[1] == '*') {
        size_t i;
        const char *k;
        json_t *x;

        if (json_is_array(v))
            json_array_foreach((json_t *)v, i, x)
            {
                eval(x, rest, out, depth + 1);
            }
        else if (json_is_object(v))
            json_object_foreach((json_t *)v, k, x)
            {
                eval(x, rest, out, depth + 1);
            }
    } else if (p[1] == '?') {
        if (json_is_array(v))
            eval_filter(v, p + 1, len, rest, out, depth);
    } else if (p[1] == '\'' || p[1] == '"') {
        _cleanup_free_ char *k = len >= 2 ? k3c_xstrndup(p + 2, len - 2) : NULL;

        if (k && json_object_get(v, k))
            eval(json_object_get(v, k), rest, out, depth + 1);
    } else if (json_is_array(v)) {
        long idx = strtol(p + 1, NULL, 10);

        if (idx < 0)
            idx += (long)json_array_size(v);
        if (idx >= 0 && (size_t)idx < json_array_size(v))
            eval(json_array_get(v, (size_t)idx), rest, out, depth + 1);
    }
}

static void
eval(const json_t *v, const char *p, json_t *out, int depth)
{
    if (!v || depth > MAX_PATH_DEPTH)
        return;
    if (*p == '\0' || *p == '}') {
        json_array_append(out, (json_t *)v);
        return;
    }
    if (*p == '[') {
        eval_bracket(v, p, out, depth);
        return;
    }
    if (*p == '.') {
        size_t n = strcspn(p + 1, ".[}");
        _cleanup_free_ char *k = k3c_xstrndup(p + 1, n);

        if (n == 0) /* ".." recursive descent: not supported */
            return;
        eval(json_object_get(v, k), p + 1 + n, out, depth + 1);
        return;
    }
    /* a path without its leading dot ("spec.x") */
    {
        _cleanup_free_ char *dotted = k3c_xasprintf(".%s", p);

        eval(v, dotted, out, depth + 1);
    }
}

void
crd_jsonpath(const json_t *obj, const char *path, json_t *out)
{
    if (!path)
        return;
    if (path[0] == '{')
        path++;
    eval(obj, path, out, 0);
}

/* ---- rows ------------------------------------------------------------------ */

static json_t *
cell(const json_t *col, const json_t *values, int64_t now_s)
{
    const char *type = json_string_value(json_object_get(col, "type")) ?: "string";
    const json_t *first = json_array_get(values, 0);
    struct k3c_buf b;
    size_t i;
    json_t *v;

    if (!first)
        return json_null();
    if (strcmp(type, "date") == 0)
        return json_is_string(first) ? api_since_cell(json_string_value(first), now_s)
                                     : json_null();
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0)
        return json_incref((json_t *)first);
    k3c_buf_init(&b);
    json_array_foreach((json_t *)values, i, v)
    {
        if (json_is_string(v)) {
            k3c_buf_appendf(&b, "%s%s", i ? "," : "", json_string_value(v));
        } else {
            _cleanup_free_ char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

            k3c_buf_appendf(&b, "%s%s", i ? "," : "", t ? t : "");
        }
    }
    return api_buf_cell(&b);
}

json_t *
crd_row(const struct crd_entry *e, const json_t *obj, int64_t now_s)
{
    json_t *cells = json_pack("[o]", api_name_cell(obj));
    size_t i;
    json_t *col;

    if (json_array_size(e->printer_columns) == 0) {
        json_array_append_new(cells, api_age_cell(obj, now_s));
        return cells;
    }
    json_array_foreach(e->printer_columns, i, col)
    {
        _cleanup_json_ json_t *values = json_array();

        crd_jsonpath(obj, json_string_value(json_object_get(col, "jsonPath")), values);
        json_array_append_new(cells, cell(col, values, now_s));
    }
    return cells;
}

json_t *
api_crd_row(const struct api_resource *r, const json_t *obj, int64_t now_s)
{
    struct crd_entry *e = crd_entry_of(r);

    return e ? crd_row(e, obj, now_s) : NULL;
}

/* ---- /openapi/v3 ------------------------------------------------------------ */

static void
gv_path(const struct api_resource *r, char *buf, size_t len)
{
    snprintf(buf, len, "apis/%s/%s", r->group, r->version);
}

/* The document of one custom group-version (new text), or NULL. */
static char *
gv_doc(const char *want)
{
    const struct api_resource *rs[64];
    const json_t *schemas[64];
    const char *names[64];
    size_t n = 0;

    for (const struct api_resource *r = api_resource_next(NULL); r && n < 64;
         r = api_resource_next(r)) {
        struct crd_entry *e = crd_entry_of(r);
        char gv[320];

        if (!e)
            continue;
        gv_path(r, gv, sizeof(gv));
        if (strcmp(gv, want) != 0)
            continue;
        rs[n] = r;
        schemas[n] = e->schema;
        names[n] = e->schema_name;
        n++;
    }
    return n ? api_openapi_custom_doc(rs, schemas, names, n) : NULL;
}

static int
reply_text(struct api_request *r, const char *text)
{
    char hash[65];

    pki_sha256_hex(text, strlen(text), hash);
    return api_openapi_reply(r, text, hash, false);
}

/* The index: the built-in group-versions plus each served custom one. */
static char *
index_with_custom(const char *static_index)
{
    _cleanup_json_ json_t *idx = json_loads(static_index, 0, NULL);
    json_t *paths = json_object_get(idx, "paths");

    if (!json_is_object(paths))
        return k3c_xstrdup(static_index);
    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r)) {
        char gv[320], hash[65];
        _cleanup_free_ char *doc = NULL, *url = NULL;

        if (!crd_entry_of(r))
            continue;
        gv_path(r, gv, sizeof(gv));
        if (json_object_get(paths, gv) || !(doc = gv_doc(gv)))
            continue;
        pki_sha256_hex(doc, strlen(doc), hash);
        url = k3c_xasprintf("/openapi/v3/%s?hash=%s", gv, hash);
        json_object_set_new(paths, gv, json_pack("{s:s}", "serverRelativeURL", url));
    }
    return json_dumps(idx, JSON_COMPACT);
}

int
api_crd_openapi_serve(struct api_request *r, const char *static_index)
{
    const char *u = r->url;
    _cleanup_free_ char *text = NULL;

    if (strcmp(u, "/openapi/v3") == 0 || strcmp(u, "/openapi/v3/") == 0) {
        if (!api_resource_is_custom_served())
            return -1;
        text = index_with_custom(static_index);
        return reply_text(r, text);
    }
    if (strncmp(u, "/openapi/v3/apis/", 17) != 0 || !(text = gv_doc(u + 12)))
        return -1;
    return reply_text(r, text);
}
