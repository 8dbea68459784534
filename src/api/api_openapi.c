/* SPDX-License-Identifier: Apache-2.0
 * api_openapi.c - the OpenAPI v3 schemas compiled into the binary
 * (the JSON files in schemas/, via scripts/embed-schemas): /openapi/v3 and its per
 * group-version documents, schema lookup for strategic merge patch and
 * kubectl explain, and unknown-field detection for fieldValidation.
 * Everything is built once, on first use, under pthread_once; afterwards it
 * is read-only and shared by all threads. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define REF_PREFIX     "#/components/schemas/"
#define MAX_GV_DOCS    32
#define MAX_WALK_DEPTH 64

extern const char api_schemas_json[];
extern const size_t api_schemas_json_len;

struct gv_doc {
    char gv_path[96]; /* "api/v1", "apis/apps/v1" */
    char *text;       /* the document */
    char hash[65];    /* sha256 of text, hex */
};

/* Set up once by openapi_load; read-only afterwards. */
static struct {
    json_t *schemas;            /* components.schemas */
    const json_t **kind_schema; /* per api_resources[] row */
    struct gv_doc docs[MAX_GV_DOCS];
    size_t n_docs;
    char *index_text;
} oa;

static pthread_once_t oa_once = PTHREAD_ONCE_INIT;
static pthread_once_t oa_docs_once = PTHREAD_ONCE_INIT;

static bool
gvk_matches(const json_t *schema, const struct api_resource *r)
{
    size_t i;
    json_t *g;

    json_array_foreach(json_object_get(schema, "x-kubernetes-group-version-kind"), i, g)
    {
        const char *group = json_string_value(json_object_get(g, "group"));
        const char *version = json_string_value(json_object_get(g, "version"));
        const char *kind = json_string_value(json_object_get(g, "kind"));

        if (group && version && kind && strcmp(group, r->group) == 0 &&
            strcmp(version, r->version) == 0 && strcmp(kind, r->kind) == 0)
            return true;
    }
    return false;
}

static void
openapi_load(void)
{
    json_error_t jerr;
    json_t *doc = json_loadb(api_schemas_json, api_schemas_json_len, 0, &jerr);
    size_t n = 0;

    if (!doc) {
        /* The data is generated at build time from checked files: this is a
         * build defect, not an input error. */
        log_error("embedded OpenAPI schemas do not parse: %s", jerr.text);
        doc = json_pack("{s:{s:{}}}", "components", "schemas");
    }
    oa.schemas = json_incref(json_object_get(json_object_get(doc, "components"), "schemas"));
    json_decref(doc);
    while (api_resources[n].kind)
        n++;
    oa.kind_schema = k3c_xcalloc(n, sizeof(*oa.kind_schema));
    for (size_t i = 0; i < n; i++) {
        const char *name;
        json_t *s;

        json_object_foreach(oa.schemas, name, s)
        {
            if (gvk_matches(s, &api_resources[i])) {
                oa.kind_schema[i] = s;
                break;
            }
        }
    }
}

const json_t *
api_openapi_schemas(void)
{
    pthread_once(&oa_once, openapi_load);
    return oa.schemas;
}

const json_t *
api_openapi_resolve(const char *ref, void *ud)
{
    (void)ud;
    if (!ref || strncmp(ref, REF_PREFIX, strlen(REF_PREFIX)) != 0)
        return NULL;
    return json_object_get(api_openapi_schemas(), ref + strlen(REF_PREFIX));
}

const json_t *
api_openapi_kind_schema(const struct api_resource *r)
{
    if (api_resource_is_custom(r)) /* a CRD version's schema (api_crd_serve.c) */
        return api_crd_kind_schema(r);
    api_openapi_schemas();
    return oa.kind_schema[r - api_resources];
}

/* A property schema may be {"$ref"}, {"allOf":[{"$ref"}]} or inline. */
static const json_t *
deref(const json_t *s)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    const json_t *all = json_object_get(s, "allOf");

    if (!ref && json_array_size(all) == 1)
        ref = json_string_value(json_object_get(json_array_get(all, 0), "$ref"));
    return ref ? api_openapi_resolve(ref, NULL) : s;
}

/* ---- unknown fields ------------------------------------------------------ */

static bool
open_ended(const json_t *s)
{
    return json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields"));
}

static void walk(const json_t *schema, json_t *v, struct k3c_buf *path, json_t *out, bool prune,
                 int depth);

static void
walk_object(const json_t *schema, json_t *v, struct k3c_buf *path, json_t *out, bool prune,
            int depth)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const char *key;
    json_t *child;
    void *tmp;

    json_object_foreach_safe(v, tmp, key, child)
    {
        size_t mark = path->len;
        const json_t *cs = json_object_get(props, key);

        if (!cs && json_is_object(addl))
            cs = addl;
        if (path->len) /* appends, not a printf per field: this runs on every write */
            k3c_buf_append(path, ".", 1);
        k3c_buf_append(path, key, strlen(key));
        if (cs) {
            walk(cs, child, path, out, prune, depth + 1);
        } else if (props || json_is_false(addl)) {
            /* A schema that lists its properties knows every key. */
            json_array_append_new(out, json_string(path->data));
            if (prune)
                json_object_del(v, key);
        }
        path->len = mark;
        path->data[mark] = '\0';
    }
}

static void
walk(const json_t *schema, json_t *v, struct k3c_buf *path, json_t *out, bool prune, int depth)
{
    schema = deref(schema);
    if (!schema || depth > MAX_WALK_DEPTH || open_ended(schema))
        return;
    if (json_is_object(v) && (json_object_get(schema, "properties") ||
                              json_object_get(schema, "additionalProperties"))) {
        walk_object(schema, v, path, out, prune, depth);
    } else if (json_is_array(v) && json_object_get(schema, "items")) {
        size_t i, mark = path->len;
        json_t *e;

        json_array_foreach(v, i, e)
        {
            k3c_buf_appendf(path, "[%zu]", i);
            walk(json_object_get(schema, "items"), e, path, out, prune, depth + 1);
            path->len = mark;
            path->data[mark] = '\0';
        }
    }
}

void
api_openapi_unknown_fields(const struct api_resource *r, json_t *obj, json_t *out, bool prune)
{
    const json_t *schema = api_openapi_kind_schema(r);
    struct k3c_buf path;

    if (!schema)
        return;
    k3c_buf_init(&path);
    k3c_buf_append(&path, "", 0);
    walk(schema, obj, &path, out, prune, 0);
    k3c_buf_fini(&path);
}

/* ---- documents ------------------------------------------------------------ */

static void
collect_refs(const json_t *v, json_t *names)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child)
        {
            if (strcmp(key, "$ref") == 0 && json_is_string(child) &&
                strncmp(json_string_value(child), REF_PREFIX, strlen(REF_PREFIX)) == 0)
                json_object_set_new(names, json_string_value(child) + strlen(REF_PREFIX),
                                    json_true());
            else
                collect_refs(child, names);
        }
    } else if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, child)
        {
            collect_refs(child, names);
        }
    }
}

/* Every schema reachable from the document's paths. */
static json_t *
reachable_components(const json_t *paths)
{
    json_t *names = json_object(), *out = json_object();
    size_t before;

    collect_refs(paths, names);
    do {
        const char *name;
        json_t *v;

        before = json_object_size(names);
        json_object_foreach(names, name, v)
        {
            const json_t *s = json_object_get(oa.schemas, name);

            if (s && !json_object_get(out, name)) {
                json_object_set(out, name, (json_t *)s);
                collect_refs(s, names);
            }
        }
    } while (json_object_size(names) != before);
    json_decref(names);
    return out;
}

static json_t *
param(const char *name, const char *in, const char *desc)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:b}}", "name", name, "in", in, "description", desc,
                     "schema", "type", "string", "uniqueItems", 1);
}

static json_t *
write_params(void)
{
    return json_pack("[o, o, o]",
                     param("dryRun", "query", "When present, modifications are not persisted."),
                     param("fieldManager", "query", "A name for the actor making the change."),
                     param("fieldValidation", "query",
                           "Ignore, Warn or Strict: what to do with unknown or duplicate fields."));
}

static json_t *
op(const struct api_resource *r, const char *action, const char *schema_name, bool writes)
{
    _cleanup_free_ char *ref = k3c_xasprintf(REF_PREFIX "%s", schema_name);
    json_t *o =
        json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:{s:s, s:{s:{s:{s:s}}}}}}", "x-kubernetes-action",
                  action, "x-kubernetes-group-version-kind", "group", r->group, "version",
                  r->version, "kind", r->kind, "responses", "200", "description", "OK", "content",
                  "application/json", "schema", "$ref", ref);

    json_object_set_new(o, "parameters", writes ? write_params() : json_array());
    if (writes)
        json_object_set_new(
            o, "requestBody",
            json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json", "schema", "$ref", ref));
    return o;
}

static void
add_resource_paths(json_t *paths, const struct api_resource *r, const char *schema_name)
{
    char base[160];
    _cleanup_free_ char *coll = NULL, *item = NULL, *status = NULL;

    if (r->group[0])
        snprintf(base, sizeof(base), "/apis/%s/%s", r->group, r->version);
    else
        snprintf(base, sizeof(base), "/api/%s", r->version);
    coll = r->namespaced ? k3c_xasprintf("%s/namespaces/{namespace}/%s", base, r->plural)
                         : k3c_xasprintf("%s/%s", base, r->plural);
    item = k3c_xasprintf("%s/{name}", coll);
    json_object_set_new(paths, coll,
                        json_pack("{s:o, s:o}", "get", op(r, "list", schema_name, false), "post",
                                  op(r, "post", schema_name, true)));
    json_object_set_new(paths, item,
                        json_pack("{s:o, s:o, s:o, s:o}", "get", op(r, "get", schema_name, false),
                                  "put", op(r, "put", schema_name, true), "patch",
                                  op(r, "patch", schema_name, true), "delete",
                                  op(r, "delete", schema_name, true)));
    if (r->subresources & API_SUB_STATUS) {
        status = k3c_xasprintf("%s/status", item);
        json_object_set_new(paths, status,
                            json_pack("{s:o, s:o, s:o}", "get", op(r, "get", schema_name, false),
                                      "put", op(r, "put", schema_name, true), "patch",
                                      op(r, "patch", schema_name, true)));
    }
}

static void
gv_path_of(const struct api_resource *r, char *buf, size_t len)
{
    if (r->group[0])
        snprintf(buf, len, "apis/%s/%s", r->group, r->version);
    else
        snprintf(buf, len, "api/%s", r->version);
}

/* The review kinds of this group/version (api_review.c): POST only. */
static void
add_review_paths(json_t *paths, const char *gv_path)
{
    for (const struct api_review_resource *v = api_review_resources; v->plural; v++) {
        struct api_resource r = {.group = v->group,
                                 .version = v->version,
                                 .kind = v->kind,
                                 .plural = v->plural,
                                 .namespaced = v->namespaced};
        _cleanup_free_ char *gv = k3c_xasprintf("apis/%s/%s", v->group, v->version);
        _cleanup_free_ char *path = NULL;
        const char *name;
        json_t *s;

        if (strcmp(gv, gv_path) != 0)
            continue;
        json_object_foreach(oa.schemas, name, s)
        {
            if (!gvk_matches(s, &r))
                continue;
            path = r.namespaced ? k3c_xasprintf("/%s/namespaces/{namespace}/%s", gv, r.plural)
                                : k3c_xasprintf("/%s/%s", gv, r.plural);
            json_object_set_new(paths, path,
                                json_pack("{s:o}", "post", op(&r, "post", name, true)));
            break;
        }
    }
}

static void
build_doc(struct gv_doc *d)
{
    json_t *paths = json_object();
    _cleanup_json_ json_t *doc = NULL;
    const char *name;
    json_t *s;

    for (size_t i = 0; api_resources[i].kind; i++) {
        char gv[96];

        gv_path_of(&api_resources[i], gv, sizeof(gv));
        if (strcmp(gv, d->gv_path) != 0 || !oa.kind_schema[i])
            continue;
        json_object_foreach(oa.schemas, name, s)
        {
            if (s == oa.kind_schema[i]) {
                add_resource_paths(paths, &api_resources[i], name);
                break;
            }
        }
    }
    add_review_paths(paths, d->gv_path);
    doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info", "title",
                    "Kubernetes", "version", "v1.32.0", "paths", paths, "components", "schemas",
                    reachable_components(paths));
    d->text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    pki_sha256_hex(d->text, strlen(d->text), d->hash);
}

static void
docs_build(void)
{
    struct k3c_buf idx;

    api_openapi_schemas();
    for (size_t i = 0; api_resources[i].kind; i++) {
        char gv[96];
        bool seen = false;

        gv_path_of(&api_resources[i], gv, sizeof(gv));
        for (size_t k = 0; k < oa.n_docs; k++)
            seen = seen || strcmp(oa.docs[k].gv_path, gv) == 0;
        if (!seen && oa.n_docs < MAX_GV_DOCS)
            snprintf(oa.docs[oa.n_docs++].gv_path, sizeof(oa.docs[0].gv_path), "%s", gv);
    }
    for (const struct api_review_resource *v = api_review_resources; v->plural; v++) {
        _cleanup_free_ char *gv = k3c_xasprintf("apis/%s/%s", v->group, v->version);
        bool seen = false;

        for (size_t k = 0; k < oa.n_docs; k++)
            seen = seen || strcmp(oa.docs[k].gv_path, gv) == 0;
        if (!seen && oa.n_docs < MAX_GV_DOCS)
            snprintf(oa.docs[oa.n_docs++].gv_path, sizeof(oa.docs[0].gv_path), "%s", gv);
    }
    k3c_buf_init(&idx);
    k3c_buf_append(&idx, "{\"paths\":{", 10);
    for (size_t k = 0; k < oa.n_docs; k++) {
        build_doc(&oa.docs[k]);
        k3c_buf_appendf(&idx, "%s\"%s\":{\"serverRelativeURL\":\"/openapi/v3/%s?hash=%s\"}",
                        k ? "," : "", oa.docs[k].gv_path, oa.docs[k].gv_path, oa.docs[k].hash);
    }
    k3c_buf_append(&idx, "}}", 2);
    oa.index_text = k3c_buf_steal(&idx, NULL);
}

/* An OpenAPI document with its ETag (304 for If-None-Match); text is
 * copied unless it outlives the response (persistent). */
int
api_openapi_reply(struct api_request *r, const char *text, const char *hash, bool persistent)
{
    const char *want = api_query(r, "hash");
    const char *inm = api_header(r, "If-None-Match");
    char etag[80];
    struct MHD_Response *resp;
    int ret;

    snprintf(etag, sizeof(etag), "\"%s\"", hash);
    if (inm && strcmp(inm, etag) == 0) {
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "ETag", etag);
        ret = MHD_queue_response(r->conn, 304, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    resp = MHD_create_response_from_buffer(
        strlen(text), (void *)text, persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", etag);
    /* A URL that carries the document's hash never changes. */
    MHD_add_response_header(resp, "Cache-Control",
                            want && strcmp(want, hash) == 0 ? "public, immutable"
                                                            : "no-cache, private");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
api_openapi_serve(struct api_request *r)
{
    const char *u = r->url;
    char hash[65];
    int ret;

    if (strcmp(r->method, "GET") != 0 || strncmp(u, "/openapi/", 9) != 0)
        return -1;
    if (strcmp(u, "/openapi/v2") == 0)
        return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                "the server serves OpenAPI v3 only: /openapi/v3");
    pthread_once(&oa_docs_once, docs_build);
    if ((ret = api_crd_openapi_serve(r, oa.index_text)) >= 0) /* custom group-versions */
        return ret;
    if (strcmp(u, "/openapi/v3") == 0 || strcmp(u, "/openapi/v3/") == 0) {
        pki_sha256_hex(oa.index_text, strlen(oa.index_text), hash);
        return api_openapi_reply(r, oa.index_text, hash, true);
    }
    for (size_t k = 0; k < oa.n_docs; k++)
        if (strncmp(u, "/openapi/v3/", 12) == 0 && strcmp(u + 12, oa.docs[k].gv_path) == 0)
            return api_openapi_reply(r, oa.docs[k].text, oa.docs[k].hash, true);
    return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                            "the server could not find the requested resource");
}

/* Custom resources (api_crd_serve.c): their schemas are not embedded, so
 * their documents are made on request from the schemas given. */
char *
api_openapi_custom_doc(const struct api_resource *const *res, const json_t *const *schemas,
                       const char *const *names, size_t n)
{
    json_t *paths = json_object(), *comps = json_object();
    _cleanup_json_ json_t *doc = NULL;

    api_openapi_schemas();
    for (size_t i = 0; i < n; i++) {
        add_resource_paths(paths, res[i], names[i]);
        json_object_set(comps, names[i], (json_t *)schemas[i]);
    }
    json_object_update_missing_new(comps, reachable_components(comps));
    doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info", "title",
                    "Kubernetes CRD Swagger", "version", "v0.1.0", "paths", paths, "components",
                    "schemas", comps);
    return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
}
