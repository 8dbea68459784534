/* SPDX-License-Identifier: Apache-2.0
 * api_handlers.c - the one generic path for every resource: URL parsing,
 * then get (from etcd), list (watch cache, or etcd when paginated), with
 * label/field selectors and server-side tables. Writes are in api_write.c,
 * watches in api_watch.c. Runs on the request's connection thread. */
#define LOG_COMPONENT "api"
#include "api/api-handlers.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

K3C_DEFINE_CLEANUP(struct label_selector *, label_selector_free)
K3C_DEFINE_CLEANUP(struct field_selector *, field_selector_free)

/* ---- URL ---------------------------------------------------------------- */

/* Splits the path after /api/v1/ or /apis/<g>/<v>/ into segments. */
static size_t
split_path(char *p, char *seg[], size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *s = strtok_r(p, "/", &save); s && n < max; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    return n;
}

/* Fills r->res, namespace, name, subresource. Returns 0, or -1 if the path
 * names no served resource. */
static int
parse_resource_path(struct api_request *r)
{
    char group[128] = "", version[64] = "";
    _cleanup_free_ char *rest = NULL;
    char *seg[8];
    size_t n, i = 0;
    int off = 0;

    if (strncmp(r->url, "/api/v1/", 8) == 0) {
        snprintf(version, sizeof(version), "v1");
        rest = k3c_xstrdup(r->url + 8);
    } else if (sscanf(r->url, "/apis/%127[^/]/%63[^/]/%n", group, version, &off) == 2 && off > 0) {
        rest = k3c_xstrdup(r->url + off);
    } else {
        return -1;
    }
    n = split_path(rest, seg, K3C_ARRAY_SIZE(seg));
    if (n >= 3 && strcmp(seg[0], "namespaces") == 0) {
        r->namespace = k3c_xstrdup(seg[1]);
        i = 2;
    }
    if (i >= n)
        return -1;
    r->res = api_resource_find(group, version, seg[i]);
    if (!r->res || n - i > 3) {
        /* /api/v1/namespaces/<ns>/status is the namespace's own subresource. */
        if (r->namespace && n == 3 && (r->res = api_resource_find(group, version, "namespaces"))) {
            r->name = TAKE_PTR(r->namespace);
            r->subresource = k3c_xstrdup(seg[2]);
            return 0;
        }
        return -1;
    }
    if (n - i >= 2)
        r->name = k3c_xstrdup(seg[i + 1]);
    if (n - i == 3)
        r->subresource = k3c_xstrdup(seg[i + 2]);
    return 0;
}

/* ---- selectors ---------------------------------------------------------- */

int
api_selectors_parse(struct api_request *r, struct api_selectors *sel, struct k3c_err *err)
{
    const char *ls = api_query(r, "labelSelector");
    const char *fs = api_query(r, "fieldSelector");

    memset(sel, 0, sizeof(*sel));
    sel->res = r->res;
    sel->namespace = r->namespace;
    if (ls && *ls && !(sel->labels = label_selector_parse(ls, err)))
        return -1;
    if (fs && *fs && !(sel->fields = field_selector_parse(fs, r->res->field_selectors, err))) {
        api_selectors_fini(sel);
        return -1;
    }
    return 0;
}

void
api_selectors_fini(struct api_selectors *sel)
{
    label_selector_free(sel->labels);
    field_selector_free(sel->fields);
    sel->labels = NULL;
    sel->fields = NULL;
}

struct entry_fields {
    const struct api_resource *res;
    const struct wc_entry *e;
};

static const char *
entry_field(void *ud, const char *field)
{
    struct entry_fields *f = ud;

    if (strcmp(field, "metadata.name") == 0)
        return f->e->name;
    if (strcmp(field, "metadata.namespace") == 0)
        return f->e->namespace;
    for (size_t i = 0; f->res->field_selectors && f->res->field_selectors[i]; i++)
        if (strcmp(f->res->field_selectors[i], field) == 0)
            return f->e->fields ? f->e->fields[i] : NULL;
    return NULL;
}

bool
api_selectors_match_entry(const struct api_selectors *sel, const struct wc_entry *e)
{
    struct entry_fields f = {sel->res, e};

    if (sel->namespace && sel->res->namespaced && strcmp(e->namespace, sel->namespace) != 0)
        return false;
    if (sel->labels && !label_selector_matches_entry(sel->labels, e))
        return false;
    return !sel->fields || field_selector_matches(sel->fields, entry_field, &f);
}

struct object_fields {
    const json_t *obj;
    char buf[64];
};

static const char *
object_field(void *ud, const char *field)
{
    struct object_fields *f = ud;

    return api_json_path_string(f->obj, field, f->buf, sizeof(f->buf));
}

static bool
match_object(const struct api_selectors *sel, const json_t *obj)
{
    struct object_fields f = {.obj = obj};

    if (sel->labels &&
        !label_selector_matches(sel->labels,
                                json_object_get(json_object_get(obj, "metadata"), "labels")))
        return false;
    return !sel->fields || field_selector_matches(sel->fields, object_field, &f);
}

/* ---- tables ------------------------------------------------------------- */

/* "meta.k8s.io/v1" or "meta.k8s.io/v1beta1" when Accept asks for a Table. */
const char *
api_table_wanted(struct api_request *r)
{
    const char *accept = api_header(r, "Accept");
    const char *as = accept ? strstr(accept, "as=Table") : NULL;

    if (!as)
        return NULL;
    return strstr(accept, "v=v1;") || strstr(accept, "v=v1,") || strstr(accept, "as=Table;v=v1")
               ? "meta.k8s.io/v1"
               : "meta.k8s.io/v1beta1";
}

json_t *
api_table_columns(const struct api_resource *res)
{
    json_t *cols = json_array();

    for (const struct api_column *c = res->columns; c && c->name; c++)
        json_array_append_new(cols, json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", c->name, "type",
                                              c->type, "format", c->format ? c->format : "",
                                              "description", c->description ? c->description : "",
                                              "priority", c->priority));
    return cols;
}

json_t *
api_table_row(struct api_request *r, const json_t *obj)
{
    const char *include = api_query(r, "includeObject");
    json_t *cells = api_resource_is_custom(r->res) ? api_crd_row(r->res, obj, k3c_wall_ms() / 1000)
                                                   : r->res->row(obj, k3c_wall_ms() / 1000);
    json_t *row = json_pack("{s:o}", "cells", cells);

    if (include && strcmp(include, "None") == 0)
        return row;
    if (include && strcmp(include, "Object") == 0)
        json_object_set(row, "object", (json_t *)obj);
    else
        json_object_set_new(row, "object",
                            json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata",
                                      "apiVersion", "meta.k8s.io/v1", "metadata",
                                      json_object_get(obj, "metadata")));
    return row;
}

bool
api_table_row_text(struct api_request *r, const struct wc_entry *e, int64_t now_s,
                   struct k3c_buf *out)
{
    const char *include = api_query(r, "includeObject");
    struct k3c_err err = {0};
    size_t mark = out->len;

    if (!e->row || api_resource_is_custom(r->res))
        return false;
    k3c_buf_append(out, "{\"cells\":", 9);
    api_table_render_cells(out, e->row, e->row_len, now_s);
    if (include && strcmp(include, "None") == 0) {
        k3c_buf_append(out, "}", 1);
    } else if (include && strcmp(include, "Object") == 0) {
        k3c_buf_append(out, ",\"object\":", 10);
        if (wc_entry_json(e, out, &err) < 0)
            goto unreadable;
        k3c_buf_append(out, "}", 1);
    } else {
        static const char partial[] = ",\"object\":{\"kind\":\"PartialObjectMetadata\","
                                      "\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":";

        k3c_buf_append(out, partial, sizeof(partial) - 1);
        if (wc_entry_metadata(e, out, &err) < 0)
            goto unreadable;
        k3c_buf_append(out, "}}", 2);
    }
    return true;
unreadable: /* the caller falls back to the object, which fails too */
    out->len = mark;
    out->data[mark] = '\0';
    return false;
}

static json_t *
table_new(struct api_request *r, const char *api_version, int64_t rev, const char *cont)
{
    char rv[32];
    json_t *t;

    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    t = json_pack("{s:s, s:s, s:{s:s}, s:o, s:[]}", "kind", "Table", "apiVersion", api_version,
                  "metadata", "resourceVersion", rv, "columnDefinitions", api_table_columns(r->res),
                  "rows");
    if (cont)
        json_object_set_new(json_object_get(t, "metadata"), "continue", json_string(cont));
    return t;
}

/* ---- get ---------------------------------------------------------------- */

int
api_reply_not_found(struct api_request *r)
{
    const char *group = r->res->group;

    if (group[0])
        return api_reply_status(r, K3C_E_NOT_FOUND, r->name, r->res->plural,
                                "%s.%s \"%s\" not found", r->res->plural, group, r->name);
    return api_reply_status(r, K3C_E_NOT_FOUND, r->name, r->res->plural, "%s \"%s\" not found",
                            r->res->plural, r->name);
}

int
api_reply_store_error(struct api_request *r, const struct k3c_err *err)
{
    if (err->kind == K3C_E_NOT_FOUND && r->name)
        return api_reply_not_found(r);
    if (err->kind == K3C_E_UNAVAILABLE || err->kind == K3C_E_TIMEOUT)
        log_warn("(%s %s) %s", r->method, r->url, err->msg);
    else if (err->kind == K3C_E_INTERNAL || err->kind == K3C_E_SYSTEM)
        log_error("(%s %s) %s", r->method, r->url, err->msg);
    if (err->kind == K3C_E_UNAVAILABLE && strstr(err->msg, "space exceeded"))
        return api_reply_status(r, err->kind, r->name, r->res ? r->res->plural : NULL,
                                "the datastore (etcd) is out of space (NOSPACE alarm; compaction "
                                "and defragmentation are running): %s",
                                err->msg);
    if (err->kind == K3C_E_UNAVAILABLE || err->kind == K3C_E_TIMEOUT)
        return api_reply_status(r, err->kind, r->name, r->res ? r->res->plural : NULL,
                                "the datastore (etcd) is unreachable or has lost quorum: %s",
                                err->msg);
    return api_reply_status(r, err->kind == K3C_E_NONE ? K3C_E_INTERNAL : err->kind, r->name,
                            r->res ? r->res->plural : NULL, "%s", err->msg);
}

/* Reads the object the URL names, straight from etcd (a quorum read). */
json_t *
api_read_object(struct api_request *r, int64_t *rev, struct k3c_err *err)
{
    _cleanup_free_ char *key = api_object_key(r->res, r->namespace, r->name);
    struct store_kv kv = {0};
    json_t *obj;

    if (store_get(r->srv->store, key, &kv, err) < 0)
        return NULL;
    obj = api_object_from_kv(&kv, err);
    if (rev)
        *rev = kv.mod_revision;
    store_kv_fini(&kv);
    return obj;
}

int
api_reply_object(struct api_request *r, unsigned status, json_t *obj)
{
    const char *tv = api_table_wanted(r);
    json_t *table;

    if ((r->res->convert_out || api_resource_is_custom(r->res)) && obj) {
        json_t *copy = json_deep_copy(obj); /* a copy: obj may be the caller's too */

        json_decref(obj);
        obj = copy;
        if (r->res->convert_out)
            r->res->convert_out(obj);
        api_crd_convert_out(r->res, obj);
    }
    if (!tv)
        return api_reply_json_take(r, status, obj);
    table = table_new(r, tv, strtoll(api_meta_str(obj, "resourceVersion") ?: "0", NULL, 10), NULL);
    json_array_append_new(json_object_get(table, "rows"), api_table_row(r, obj));
    json_decref(obj);
    return api_reply_json_take(r, status, table);
}

static int
handle_get(struct api_request *r)
{
    struct k3c_err err = {0};
    json_t *obj = api_read_object(r, NULL, &err);

    if (!obj)
        return api_reply_store_error(r, &err);
    return api_reply_object(r, 200, obj);
}

/* ---- list --------------------------------------------------------------- */

struct list_ctx {
    const struct api_selectors *sel;
    struct wc_entry **items;
    size_t n, cap;
};

static void
collect_entry(void *ud, struct wc_entry *e)
{
    struct list_ctx *c = ud;

    if (!api_selectors_match_entry(c->sel, e))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = k3c_xrealloc(c->items, c->cap * sizeof(*c->items));
    }
    c->items[c->n++] = wc_entry_ref(e);
}

static int
reply_list_text(struct api_request *r, struct list_ctx *c, int64_t rev, const char *cont)
{
    char apiv[128];
    struct k3c_buf b;
    struct MHD_Response *resp;
    struct k3c_err err = {0};
    size_t len;
    char *text;
    int ret;

    k3c_buf_init(&b);
    k3c_buf_appendf(
        &b,
        "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%" PRId64
        "\"%s%s%s},\"items\":[",
        r->res->list_kind, api_resource_api_version(r->res, apiv, sizeof(apiv)), rev,
        cont ? ",\"continue\":\"" : "", cont ? cont : "", cont ? "\"" : "");
    /* The cache keeps each object serialised: a list is concatenation. */
    for (size_t i = 0; i < c->n; i++) {
        size_t n = 0;
        _cleanup_free_ char *converted = api_crd_entry_json(r->res, c->items[i], &n);

        if (i)
            k3c_buf_append(&b, ",", 1);
        if (converted) { /* a custom object stored in another version */
            k3c_buf_append(&b, converted, n);
        } else if (wc_entry_json(c->items[i], &b, &err) < 0) {
            k3c_buf_fini(&b);
            return api_reply_store_error(r, &err);
        }
    }
    k3c_buf_append(&b, "]}", 2);
    text = k3c_buf_steal(&b, &len);
    r->reply_bytes = len;
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The Table as text: each row from the entry's cached cells (no parse), or
 * computed from the object when the entry has none. */
static int
reply_list_table_text(struct api_request *r, const char *tv, struct list_ctx *c, int64_t rev,
                      const char *cont)
{
    _cleanup_json_ json_t *head = table_new(r, tv, rev, cont);
    _cleanup_free_ char *head_text = json_dumps(head, JSON_COMPACT);
    int64_t now_s = k3c_wall_ms() / 1000;
    size_t head_len = head_text ? strlen(head_text) : 0;
    struct k3c_buf b;
    size_t len;
    char *text;

    /* head ends in "rows":[]} */
    if (head_len < 3 || strcmp(head_text + head_len - 3, "[]}") != 0)
        return api_reply_json_take(r, 200, json_incref(head));
    k3c_buf_init(&b);
    k3c_buf_append(&b, head_text, head_len - 2);
    for (size_t i = 0, n = 0; i < c->n; i++) {
        size_t mark = b.len;

        if (n)
            k3c_buf_append(&b, ",", 1);
        if (!api_table_row_text(r, c->items[i], now_s, &b)) {
            _cleanup_json_ json_t *obj = wc_entry_object(c->items[i]);
            _cleanup_json_ json_t *row = obj ? api_table_row(r, obj) : NULL;
            _cleanup_free_ char *row_text = row ? json_dumps(row, JSON_COMPACT) : NULL;

            if (!row_text) {
                b.len = mark;
                b.data[mark] = '\0';
                continue;
            }
            k3c_buf_append(&b, row_text, strlen(row_text));
        }
        n++;
    }
    k3c_buf_append(&b, "]}", 2);
    text = k3c_buf_steal(&b, &len);
    return api_reply_json_text_take(r, 200, text, len);
}

static int
reply_list_table(struct api_request *r, const char *tv, struct list_ctx *c, int64_t rev,
                 const char *cont)
{
    json_t *table;
    json_t *rows;

    if (!api_resource_is_custom(r->res))
        return reply_list_table_text(r, tv, c, rev, cont);
    table = table_new(r, tv, rev, cont);
    rows = json_object_get(table, "rows");
    for (size_t i = 0; i < c->n; i++) {
        _cleanup_json_ json_t *obj = wc_entry_object(c->items[i]);

        if (obj)
            json_array_append_new(rows, api_table_row(r, obj));
    }
    return api_reply_json_take(r, 200, table);
}

static void
list_ctx_fini(struct list_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        wc_entry_unref(c->items[i]);
    free(c->items);
}

/* Unpaginated lists come from the watch cache. resourceVersion "0" takes
 * the cache as it is; otherwise it first catches up with etcd (a
 * consistent read) or with the revision asked for. */
static int
list_from_cache(struct api_request *r, const struct api_selectors *sel)
{
    struct watch_cache *wc = api_cache_for(r->srv, r->res);
    const char *rv = api_query(r, "resourceVersion");
    _cleanup_free_ char *prefix = api_list_prefix(r->res, r->namespace);
    struct list_ctx c = {.sel = sel};
    struct k3c_err err = {0};
    const char *tv = api_table_wanted(r);
    int64_t rev;
    int ret;

    if (!(rv && strcmp(rv, "0") == 0) &&
        watch_cache_sync(wc, rv && *rv ? strtoll(rv, NULL, 10) : 0, 10000, &err) < 0)
        return api_reply_store_error(r, &err);
    rev = watch_cache_foreach(wc, prefix, collect_entry, &c);
    ret = tv ? reply_list_table(r, tv, &c, rev, NULL) : reply_list_text(r, &c, rev, NULL);
    list_ctx_fini(&c);
    return ret;
}

static json_t *
list_object(struct api_request *r, int64_t rev, const char *cont, int64_t remaining)
{
    char apiv[128], rv[32];
    json_t *l;

    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    l = json_pack("{s:s, s:s, s:{s:s}, s:[]}", "kind", r->res->list_kind, "apiVersion",
                  api_resource_api_version(r->res, apiv, sizeof(apiv)), "metadata",
                  "resourceVersion", rv, "items");
    if (cont) {
        json_object_set_new(json_object_get(l, "metadata"), "continue", json_string(cont));
        if (remaining > 0)
            json_object_set_new(json_object_get(l, "metadata"), "remainingItemCount",
                                json_integer(remaining));
    }
    return l;
}

struct page_ctx {
    struct list_ctx list;
    int64_t limit;
    bool more;
};

static bool
collect_page_entry(void *ud, struct wc_entry *e)
{
    struct page_ctx *p = ud;

    if (!api_selectors_match_entry(p->list.sel, e))
        return true;
    if ((int64_t)p->list.n == p->limit) {
        p->more = true; /* one more match exists: there is a next page */
        return false;
    }
    collect_entry(&p->list, e);
    return true;
}

/* A paginated list from the watch cache, when the cache still holds the
 * state the list started at: the first page after a consistent sync, a
 * next page only while the cache's revision is the token's (nothing under
 * the resource changed since). Returns -2 when the caller must use etcd. */
static int
list_page_from_cache(struct api_request *r, const struct api_selectors *sel, int64_t limit,
                     const char *cont)
{
    struct watch_cache *wc = api_cache_for(r->srv, r->res);
    _cleanup_free_ char *prefix = api_list_prefix(r->res, r->namespace);
    _cleanup_free_ char *start_rel = NULL, *after = NULL, *next = NULL;
    struct page_ctx p = {.list = {.sel = sel}, .limit = limit};
    struct k3c_err err = {0};
    const char *tv = api_table_wanted(r);
    int64_t want = 0, rev;
    int ret;

    if (cont) {
        if (store_continue_decode(cont, &want, &start_rel, &err) < 0)
            return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
        if (watch_cache_revision(wc) != want)
            return -2;
        after = k3c_xasprintf("%s%s", prefix, start_rel);
    } else if (watch_cache_sync(wc, 0, 10000, &err) < 0) {
        return api_reply_store_error(r, &err);
    }
    rev = watch_cache_foreach_after(wc, prefix, after, collect_page_entry, &p);
    if (cont && rev != want) {
        list_ctx_fini(&p.list); /* the cache moved on while we read it */
        return -2;
    }
    if (p.more && p.list.n > 0)
        next = store_continue_encode(rev, p.list.items[p.list.n - 1]->key + strlen(prefix));
    ret = tv ? reply_list_table(r, tv, &p.list, rev, next) : reply_list_text(r, &p.list, rev, next);
    list_ctx_fini(&p.list);
    return ret;
}

/* Paginated lists (limit/continue) read etcd at one revision. */
static int
list_from_store(struct api_request *r, const struct api_selectors *sel, int64_t limit,
                const char *cont)
{
    _cleanup_free_ char *prefix = api_list_prefix(r->res, r->namespace);
    struct store_list page = {0};
    struct k3c_err err = {0};
    const char *tv = api_table_wanted(r);
    json_t *out, *items;

    if (store_list(r->srv->store, prefix, limit, cont, 0, &page, &err) < 0) {
        if (err.kind == K3C_E_COMPACTED)
            return api_reply_status(r, K3C_E_COMPACTED, NULL, NULL,
                                    "The provided continue parameter is too old to display a "
                                    "consistent list result. You can start a new list without "
                                    "the continue parameter.");
        return api_reply_store_error(r, &err);
    }
    out = tv ? table_new(r, tv, page.revision, page.continue_token)
             : list_object(r, page.revision, page.continue_token, page.remaining);
    items = json_object_get(out, tv ? "rows" : "items");
    for (size_t i = 0; i < page.n_items; i++) {
        _cleanup_json_ json_t *obj = api_object_from_kv(&page.items[i], &err);

        if (!obj || !match_object(sel, obj))
            continue;
        api_crd_convert_out(r->res, obj);
        json_array_append_new(items, tv ? api_table_row(r, obj) : json_incref(obj));
    }
    store_list_fini(&page);
    return api_reply_json_take(r, 200, out);
}

static int
handle_list(struct api_request *r)
{
    _cleanup_(api_selectors_fini) struct api_selectors sel = {0};
    struct k3c_err err = {0};
    const char *limit = api_query(r, "limit");
    const char *cont = api_query(r, "continue");
    long long lim = limit ? strtoll(limit, NULL, 10) : 0;

    if (api_selectors_parse(r, &sel, &err) < 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
    if (api_query_true(r, "watch"))
        return api_handle_watch(r, &sel);
    if (lim < 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "limit must not be negative");
    if (lim > 0 || (cont && *cont)) {
        int ret = lim > 0 ? list_page_from_cache(r, &sel, lim, cont && *cont ? cont : NULL) : -2;

        if (ret != -2)
            return ret;
        return list_from_store(r, &sel, lim, cont && *cont ? cont : NULL);
    }
    return list_from_cache(r, &sel);
}

/* ---- dispatch ----------------------------------------------------------- */

static int
method_not_allowed(struct api_request *r)
{
    return api_reply_status_code(r, 405, "MethodNotAllowed",
                                 "the server does not allow this method on the requested resource");
}

int
api_handle_resource(struct api_request *r)
{
    const char *m = r->method;
    int ret;

    if (parse_resource_path(r) < 0)
        return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                "the server could not find the requested resource");
    if (r->namespace && !r->res->namespaced)
        return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                "the server could not find the requested resource");
    if (r->subresource && !api_subresource_served(r->res, r->subresource) && !api_proxy_handles(r))
        return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                "the server could not find the requested resource");
    if ((ret = api_authorize_resource(r)) >= 0)
        return ret;
    api_crd_request_started(r);
    if (api_proxy_handles(r))
        return api_proxy_serve(r);
    if (api_metrics_handles(r))
        return api_metrics_serve(r);
    if (!r->name) {
        if (strcmp(m, "GET") == 0)
            return handle_list(r);
        if (strcmp(m, "POST") == 0)
            return api_handle_create(r);
        if (strcmp(m, "DELETE") == 0)
            return api_handle_delete_collection(r);
        return method_not_allowed(r);
    }
    if (strcmp(m, "GET") == 0)
        return r->subresource ? api_handle_get_subresource(r) : handle_get(r);
    if (strcmp(m, "PUT") == 0)
        return api_handle_update(r);
    if (strcmp(m, "PATCH") == 0)
        return api_handle_patch(r);
    if (strcmp(m, "DELETE") == 0 && !r->subresource)
        return api_handle_delete(r);
    if (strcmp(m, "POST") == 0 && r->subresource &&
        (strcmp(r->subresource, "binding") == 0 || strcmp(r->subresource, "eviction") == 0))
        return api_handle_pod_post(r);
    return method_not_allowed(r);
}
