/* SPDX-License-Identifier: Apache-2.0
 * store.c - the storage interface over etcd's v3 JSON gateway. Each call is
 * one POST; CAS writes are single etcd transactions. Unreachable etcd is
 * retried with exponential backoff and logged once per outage. */
#define LOG_COMPONENT "store"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store-internal.h"
#include "store/store_encrypt.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* gRPC status codes that the gateway puts in "code". */
enum grpc_code {
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_NOT_FOUND = 5,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNAVAILABLE = 14,
};

struct store *
store_new(const struct store_config *cfg, struct k3c_err *err)
{
    struct http_client_config hc = {
        .endpoints = cfg->endpoints,
        .ca_file = cfg->ca_file,
        .cert_file = cfg->cert_file,
        .key_file = cfg->key_file,
        .connect_timeout_ms = 1000,
        .request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 5000,
        /* etcd's gateway over HTTP/2 cost k3c ~15% and etcd ~15% more CPU
         * per create than HTTP/1.1 (bench_api; docs/api.md) */
        .http1 = true,
    };
    struct store *s;
    struct http_client *http = http_client_new(&hc, err), *http_write;

    if (!http)
        return NULL;
    hc.request_timeout_ms = cfg->write_timeout_ms > 0 ? cfg->write_timeout_ms : 2500;
    http_write = http_client_new(&hc, err);
    if (!http_write) {
        http_client_free(http);
        return NULL;
    }
    s = k3c_xcalloc(1, sizeof(*s));
    s->http = http;
    s->http_write = http_write;
    s->read_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 5000;
    s->write_timeout_ms = hc.request_timeout_ms;
    if (strncmp(cfg->endpoints[0], HTTP_UNIX_PREFIX, strlen(HTTP_UNIX_PREFIX)) == 0)
        s->grpc = store_grpc_new(cfg->endpoints[0] + strlen(HTTP_UNIX_PREFIX));
    s->retry_timeout_ms = cfg->retry_timeout_ms > 0 ? cfg->retry_timeout_ms : 30000;
    atomic_init(&s->outage, false);
    atomic_init(&s->outage_since_ms, 0);
    return s;
}

void
store_free(struct store *s)
{
    if (!s)
        return;
    http_client_free(s->http);
    http_client_free(s->http_write);
    store_grpc_free(s->grpc);
    free(s);
}

static void
outage_begin(struct store *s, const struct k3c_err *err)
{
    if (!atomic_exchange(&s->outage, true)) {
        atomic_store(&s->outage_since_ms, k3c_now_ms());
        log_warn("etcd unavailable (%s); retrying with backoff", err->msg);
    }
}

static void
outage_end(struct store *s)
{
    if (atomic_exchange(&s->outage, false))
        log_info("etcd reachable again after %" PRId64 " ms",
                 (int64_t)(k3c_now_ms() - atomic_load(&s->outage_since_ms)));
}

int
store_etcd_error(const char *what, int code, const char *msg, struct k3c_err *err)
{
    enum k3c_errkind kind = K3C_E_INTERNAL;

    switch (code) {
    case GRPC_OUT_OF_RANGE:
        kind = strstr(msg, "compacted") ? K3C_E_COMPACTED : K3C_E_BAD_REQUEST;
        break;
    case GRPC_NOT_FOUND:
        kind = K3C_E_NOT_FOUND;
        break;
    case GRPC_INVALID_ARGUMENT:
    case GRPC_FAILED_PRECONDITION:
        kind = K3C_E_BAD_REQUEST;
        break;
    case GRPC_UNAVAILABLE:
        kind = K3C_E_UNAVAILABLE;
        break;
    case GRPC_RESOURCE_EXHAUSTED:
        /* "database space exceeded" (the NOSPACE alarm): writes are refused
         * until compaction and defragmentation free space (the maintenance
         * thread does both); callers see 503 and may retry. A request past
         * etcd's gRPC message limit (its request limit + 512 KiB) will
         * never pass: "grpc: received message larger than max". */
        kind = strstr(msg, "larger than max") ? K3C_E_BAD_REQUEST : K3C_E_UNAVAILABLE;
        break;
    default:
        break;
    }
    return k3c_err_set(err, kind, "etcd %s: %s", what, msg);
}

/* Turns a gateway error body into an error kind. */
static int
gateway_error(const char *path, long status, const json_t *body, struct k3c_err *err)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    char what[128];

    snprintf(what, sizeof(what), "%s: HTTP %ld", path, status);
    return store_etcd_error(what, (int)store_json_int64(body, "code"), msg ? msg : "no message",
                            err);
}

/* One attempt: POST and parse. */
json_t *
store_call_once(struct store *s, const char *path, const char *text, bool write,
                struct k3c_err *err)
{
    struct http_response resp;
    json_t *body = NULL;
    json_error_t jerr;

    http_response_init(&resp);
    if (http_client_request(write ? s->http_write : s->http, "POST", path, "application/json", text,
                            strlen(text), &resp, err) < 0)
        goto out;
    body = k3c_json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
    if (!body) {
        k3c_err_set(err, K3C_E_INTERNAL, "etcd %s: HTTP %ld: unparsable answer: %s", path,
                    resp.status, jerr.text);
        goto out;
    }
    if (resp.status != 200) {
        gateway_error(path, resp.status, body, err);
        json_decref(body);
        body = NULL;
    }
out:
    http_response_fini(&resp);
    return body;
}

/* store_call_take on request text already encoded. */
static json_t *
call_text(struct store *s, const char *path, const char *text, bool idempotent, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + s->retry_timeout_ms;
    int64_t backoff = 50;

    for (;;) {
        json_t *body = store_call_once(s, path, text, !idempotent, err);
        bool retry;

        if (body) {
            outage_end(s);
            return body;
        }
        /* A write that might have reached etcd is not replayed: it could
         * apply twice. One that never left this host is safe to retry. */
        retry = err->kind == K3C_E_UNAVAILABLE && (idempotent || err->sys_errno == ENOTCONN) &&
                !http_client_stopping();
        if (!retry || k3c_now_ms() + backoff > deadline)
            return NULL;
        outage_begin(s, err);
        k3c_sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

json_t *
store_call_take(struct store *s, const char *path, json_t *req, bool idempotent,
                struct k3c_err *err)
{
    _cleanup_json_ json_t *owned = req;
    _cleanup_free_ char *text = json_dumps(owned, JSON_COMPACT);

    return call_text(s, path, text, idempotent, err);
}

/* A range request; key is key_len bytes (it may end in a NUL byte). */
static json_t *
range_request(const char *key, size_t key_len, const char *range_end, int64_t limit,
              int64_t revision)
{
    _cleanup_free_ char *k = k3c_base64_encode(key, key_len);
    json_t *req = json_object();

    json_object_set_new(req, "key", json_string_nocheck(k));
    if (range_end) {
        /* range_end "\0" means "every key >= key"; b64 of the one NUL byte. */
        json_object_set_new(req, "range_end",
                            range_end[0] ? store_json_b64(range_end) : json_string("AA=="));
    }
    if (limit > 0)
        json_object_set_new(req, "limit", json_integer(limit));
    if (revision > 0)
        json_object_set_new(req, "revision", json_integer(revision));
    return req;
}

/* Whether calls of client c (the reads' or the writes') go over gRPC on
 * the local member's socket (store_grpc.c): the store has it, and c is on
 * it (its first endpoint, until a failure moved c to another member). */
static bool
on_grpc(struct store *s, struct http_client *c)
{
    return s->grpc && http_client_current(c) == 0;
}

/* After a gRPC call of client c (an enum store_grpc_outcome): 0 done, -1
 * failed (err), 1 take the gateway. The call goes on as the gateway's own
 * attempt would: no connection (etcd restarting) and the gateway retries
 * and fails over to the other members; no answer and c moves to the next
 * member, where a write goes only if there is one (it may have applied
 * here). A read also takes the gateway when etcd answered UNAVAILABLE (no
 * leader yet): the gateway's reads wait that out with backoff. */
static int
grpc_outcome(struct store *s, struct http_client *c, bool read, int rc, struct k3c_err *err)
{
    if (rc == STORE_GRPC_DONE) {
        outage_end(s);
        return 0;
    }
    if (rc == STORE_GRPC_REFUSED && !(read && err->kind == K3C_E_UNAVAILABLE))
        return -1;
    if (rc == STORE_GRPC_NO_ANSWER && !http_client_fail_over(c, 0) && !read)
        return -1;
    log_debug("%s; the %s goes through the gateway", err->msg, read ? "read" : "write");
    k3c_err_clear(err);
    return 1;
}

int
store_get(struct store *s, const char *key, struct store_kv *out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;
    const json_t *kvs;
    bool found = false;
    int rc = 1;

    if (on_grpc(s, s->http))
        rc = grpc_outcome(s, s->http, true,
                          store_grpc_get(s->grpc, key, s->read_timeout_ms, out, &found, err), err);
    if (rc < 0)
        return k3c_err_wrap(err, "get %s", key);
    if (rc == 0)
        return found ? 0 : k3c_err_set(err, K3C_E_NOT_FOUND, "%s not found", key);
    resp =
        store_call_take(s, "/v3/kv/range", range_request(key, strlen(key), NULL, 0, 0), true, err);
    if (!resp)
        return k3c_err_wrap(err, "get %s", key);
    kvs = json_object_get(resp, "kvs");
    if (json_array_size(kvs) == 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "%s not found", key);
    return store_kv_from_json(json_array_get(kvs, 0), out, err);
}

void
store_list_fini(struct store_list *l)
{
    for (size_t i = 0; i < l->n_items; i++)
        store_kv_fini(&l->items[i]);
    free(l->items);
    free(l->continue_token);
    memset(l, 0, sizeof(*l));
}

static int
list_fill(const json_t *resp, struct store_list *out, struct k3c_err *err)
{
    const json_t *kvs = json_object_get(resp, "kvs");
    size_t n = json_array_size(kvs);

    out->items = k3c_xcalloc(n ? n : 1, sizeof(*out->items));
    for (size_t i = 0; i < n; i++) {
        if (store_kv_from_json(json_array_get(kvs, i), &out->items[i], err) < 0)
            return -1;
        out->n_items++;
    }
    return 0;
}

int
store_list(struct store *s, const char *prefix, int64_t limit, const char *continue_token,
           int64_t revision, struct store_list *out, struct k3c_err *err)
{
    _cleanup_free_ char *end = store_prefix_end(prefix);
    _cleanup_free_ char *start = NULL;
    _cleanup_json_ json_t *resp = NULL;
    size_t plen = strlen(prefix), start_len;

    memset(out, 0, sizeof(*out));
    if (continue_token) {
        _cleanup_free_ char *rel = NULL;

        if (store_continue_decode(continue_token, &revision, &rel, err) < 0)
            return -1;
        /* The token names the last key returned; the page starts after it. */
        start = k3c_xasprintf("%s%s", prefix, rel);
    }
    /* Page after the first: start just after the last key returned, which
     * is key + "\0" (the NUL byte is part of the key). An empty prefix
     * starts at "\0" too: etcd refuses an empty key. */
    start_len = start ? strlen(start) + 1 : (plen ? plen : 1);
    resp = store_call_take(s, "/v3/kv/range",
                           range_request(start ? start : prefix, start_len, end, limit, revision),
                           true, err);
    if (!resp)
        return k3c_err_wrap(err, "list %s", prefix);
    out->revision =
        revision > 0 ? revision : store_json_int64(json_object_get(resp, "header"), "revision");
    if (list_fill(resp, out, err) < 0) {
        store_list_fini(out);
        return -1;
    }
    if (json_is_true(json_object_get(resp, "more")) && out->n_items > 0) {
        const char *last = out->items[out->n_items - 1].key;

        out->continue_token = store_continue_encode(out->revision, last + plen);
        out->remaining = store_json_int64(resp, "count") - (int64_t)out->n_items;
    }
    return 0;
}

static int64_t
header_revision(const json_t *resp)
{
    return store_json_int64(json_object_get(resp, "header"), "revision");
}

void
store_txn_result_fini(struct store_txn_result *r)
{
    store_kv_fini(&r->kv);
    memset(r, 0, sizeof(*r));
}

/* t as the gateway's JSON, written as text: every string in it is base64
 * and every number an integer, so nothing needs escaping, and a tree plus
 * json_dumps of a kilobytes-long value cost more CPU than the rest of the
 * request. The failure branch ranges over the key, so a failed compare
 * tells "changed" (with the kv as it is) from "gone". */
static char *
txn_gateway_text(const struct store_txn *t)
{
    _cleanup_free_ char *k = k3c_base64_encode(t->key, strlen(t->key));
    bool create = t->compare == STORE_TXN_CREATE;
    struct k3c_buf req;

    k3c_buf_init(&req);
    k3c_buf_append(&req, "{\"compare\":[", 12);
    if (t->compare != STORE_TXN_ALWAYS)
        k3c_buf_appendf(
            &req, "{\"key\":\"%s\",\"target\":\"%s\",\"result\":\"EQUAL\",\"%s\":%" PRId64 "}", k,
            create ? "CREATE" : "MOD", create ? "create_revision" : "mod_revision", t->revision);
    if (t->value) {
        _cleanup_free_ char *v = k3c_base64_encode(t->value, t->len);

        k3c_buf_appendf(&req, "],\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"", k);
        k3c_buf_append(&req, v, strlen(v));
        k3c_buf_append(&req, "\"", 1);
        if (t->lease)
            k3c_buf_appendf(&req, ",\"lease\":%" PRId64, t->lease);
        k3c_buf_append(&req, "}}]", 3);
    } else {
        k3c_buf_appendf(
            &req, "],\"success\":[{\"request_delete_range\":{\"key\":\"%s\",\"prev_kv\":true}}]",
            k);
    }
    k3c_buf_appendf(&req, ",\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}", k);
    return k3c_buf_steal(&req, NULL);
}

static int
txn_gateway(struct store *s, const struct store_txn *t, struct store_txn_result *r,
            struct k3c_err *err)
{
    _cleanup_free_ char *text = txn_gateway_text(t);
    _cleanup_json_ json_t *resp = NULL;
    const json_t *op, *kv;

    memset(r, 0, sizeof(*r));
    resp = call_text(s, "/v3/kv/txn", text, false, err);
    if (!resp)
        return -1;
    r->succeeded = json_is_true(json_object_get(resp, "succeeded"));
    r->revision = header_revision(resp);
    op = json_array_get(json_object_get(resp, "responses"), 0);
    kv = json_array_get(json_object_get(json_object_get(op, "response_range"), "kvs"), 0);
    if (!kv)
        kv = json_array_get(
            json_object_get(json_object_get(op, "response_delete_range"), "prev_kvs"), 0);
    if (kv && t->want_kv) {
        if (store_kv_from_json(kv, &r->kv, err) < 0)
            return -1;
        r->has_kv = true;
    }
    return 0;
}

/* Runs t over gRPC on the local member's socket while the writes' client
 * is on it, else (or after a failure there, see grpc_outcome) through the
 * gateway. */
static int
txn_run(struct store *s, const struct store_txn *t, struct store_txn_result *r, struct k3c_err *err)
{
    int rc = 1;

    if (on_grpc(s, s->http_write))
        rc = grpc_outcome(s, s->http_write, false,
                          store_grpc_txn(s->grpc, t, s->write_timeout_ms, r, err), err);
    return rc <= 0 ? rc : txn_gateway(s, t, r, err);
}

/* A put of value (sealed first, for Secrets) if compare holds. */
static int
txn_put(struct store *s, enum store_txn_compare compare, int64_t revision, const char *key,
        const void *value, size_t len, int64_t lease, struct store_txn_result *r,
        struct k3c_err *err)
{
    size_t sealed_len = 0;
    _cleanup_free_ char *sealed = store_value_seal(key, value, len, &sealed_len);
    struct store_txn t = {
        .key = key,
        .compare = compare,
        .revision = revision,
        .value = sealed ? sealed : (value ? value : ""), /* NULL would be a delete */
        .len = sealed ? sealed_len : len,
        .lease = lease,
        .want_kv = compare != STORE_TXN_CREATE, /* a failed create needs no kv */
    };

    return txn_run(s, &t, r, err);
}

int
store_create(struct store *s, const char *key, const void *value, size_t len, int64_t lease,
             int64_t *rev_out, struct k3c_err *err)
{
    struct store_txn_result r;

    /* create_revision == 0 holds exactly when the key does not exist. */
    if (txn_put(s, STORE_TXN_CREATE, 0, key, value, len, lease, &r, err) < 0)
        return k3c_err_wrap(err, "create %s", key);
    if (!r.succeeded)
        return k3c_err_set(err, K3C_E_EXISTS, "%s already exists", key);
    if (rev_out)
        *rev_out = r.revision;
    return 0; /* want_kv was false: r holds no kv */
}

/* Sets CONFLICT or NOT_FOUND after a failed compare; the key as it is now
 * moves to *current (may be NULL). */
static int
compare_failed(struct store_txn_result *r, const char *op, const char *key, int64_t expect_rev,
               struct store_kv *current, struct k3c_err *err)
{
    int64_t now = r->kv.mod_revision;

    if (!r->has_kv)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "%s %s: not found", op, key);
    if (current) {
        *current = r->kv;
        memset(&r->kv, 0, sizeof(r->kv));
    }
    return k3c_err_set(err, K3C_E_CONFLICT,
                       "%s %s: revision %" PRId64 " is stale, the object is at %" PRId64, op, key,
                       expect_rev, now);
}

int
store_update(struct store *s, const char *key, const void *value, size_t len, int64_t expect_rev,
             int64_t lease, int64_t *rev_out, struct store_kv *current, struct k3c_err *err)
{
    struct store_txn_result r;
    int rc = 0;

    if (expect_rev <= 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "update %s: a revision to compare is required",
                           key);
    if (txn_put(s, STORE_TXN_MOD, expect_rev, key, value, len, lease, &r, err) < 0)
        return k3c_err_wrap(err, "update %s", key);
    if (!r.succeeded)
        rc = compare_failed(&r, "update", key, expect_rev, current, err);
    else if (rev_out)
        *rev_out = r.revision;
    store_txn_result_fini(&r);
    return rc;
}

int
store_delete(struct store *s, const char *key, int64_t expect_rev, struct store_kv *prev,
             int64_t *rev_out, struct k3c_err *err)
{
    struct store_txn t = {
        .key = key,
        .compare = expect_rev > 0 ? STORE_TXN_MOD : STORE_TXN_ALWAYS,
        .revision = expect_rev,
        .want_kv = true,
    };
    struct store_txn_result r;
    int rc = 0;

    if (txn_run(s, &t, &r, err) < 0)
        return k3c_err_wrap(err, "delete %s", key);
    if (!r.succeeded) {
        rc = compare_failed(&r, "delete", key, expect_rev, NULL, err);
    } else if (!r.has_kv) {
        rc = k3c_err_set(err, K3C_E_NOT_FOUND, "delete %s: not found", key);
    } else {
        if (prev) {
            *prev = r.kv;
            memset(&r.kv, 0, sizeof(r.kv));
        }
        if (rev_out)
            *rev_out = r.revision;
    }
    store_txn_result_fini(&r);
    return rc;
}

int
store_prefix_stats(struct store *s, const char *prefix, int64_t revision, int64_t *count_out,
                   int64_t *max_mod_out, int64_t *rev_out, struct k3c_err *err)
{
    _cleanup_free_ char *end = store_prefix_end(prefix);
    _cleanup_json_ json_t *counted = NULL, *newest = NULL;
    size_t plen = strlen(prefix);
    json_t *req = range_request(prefix, plen ? plen : 1, end, 0, revision);

    json_object_set_new(req, "count_only", json_true());
    counted = store_call_take(s, "/v3/kv/range", req, true, err);
    if (!counted)
        return k3c_err_wrap(err, "count %s", prefix);
    if (revision <= 0)
        revision = header_revision(counted);
    /* etcd ignores min/max_mod_revision with count_only, so the newest key
     * comes from a sort by mod_revision, keys only, one result. */
    req = range_request(prefix, plen ? plen : 1, end, 1, revision);
    json_object_set_new(req, "keys_only", json_true());
    json_object_set_new(req, "sort_order", json_string("DESCEND"));
    json_object_set_new(req, "sort_target", json_string("MOD"));
    newest = store_call_take(s, "/v3/kv/range", req, true, err);
    if (!newest)
        return k3c_err_wrap(err, "newest key of %s", prefix);
    *count_out = store_json_int64(counted, "count");
    *max_mod_out =
        store_json_int64(json_array_get(json_object_get(newest, "kvs"), 0), "mod_revision");
    if (rev_out)
        *rev_out = revision;
    return 0;
}

int
store_revision(struct store *s, int64_t *rev_out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;
    json_t *req;
    int rc = 1;

    if (on_grpc(s, s->http))
        rc = grpc_outcome(s, s->http, true,
                          store_grpc_revision(s->grpc, s->read_timeout_ms, rev_out, err), err);
    if (rc <= 0)
        return rc < 0 ? k3c_err_wrap(err, "read revision") : 0;
    /* A count-only range of one key is the cheapest way to read the header. */
    req = range_request("/", 1, NULL, 1, 0);
    json_object_set_new(req, "count_only", json_true());
    resp = store_call_take(s, "/v3/kv/range", req, true, err);
    if (!resp)
        return k3c_err_wrap(err, "read revision");
    *rev_out = header_revision(resp);
    return 0;
}

int
store_ping(struct store *s, struct k3c_err *err)
{
    _cleanup_json_ json_t *req = range_request("/", 1, NULL, 1, 0), *resp = NULL;
    _cleanup_free_ char *text = NULL;

    json_object_set_new(req, "count_only", json_true());
    text = json_dumps(req, JSON_COMPACT);
    resp = store_call_once(s, "/v3/kv/range", text, false, err);
    return resp ? 0 : -1;
}

int
store_compact(struct store *s, int64_t revision, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;

    resp = store_call_take(s, "/v3/kv/compaction",
                           json_pack("{s:I, s:b}", "revision", (json_int_t)revision, "physical", 0),
                           true, err);
    if (!resp)
        return k3c_err_wrap(err, "compact at %" PRId64, revision);
    return 0;
}

int
store_lease_grant(struct store *s, int64_t ttl_s, int64_t *id_out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;

    resp = store_call_take(s, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl_s),
                           false, err);
    if (!resp)
        return k3c_err_wrap(err, "grant lease");
    *id_out = store_json_int64(resp, "ID");
    return 0;
}

int
store_lease_keepalive(struct store *s, int64_t id, int64_t *ttl_out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;
    int64_t ttl;

    resp = store_call_take(s, "/v3/lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)id), true,
                           err);
    if (!resp)
        return k3c_err_wrap(err, "keep lease %" PRId64 " alive", id);
    /* The keep-alive stream answers {"result":{...,"TTL":n}}; no TTL means the
     * lease is gone. */
    ttl = store_json_int64(json_object_get(resp, "result"), "TTL");
    if (ttl <= 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "lease %" PRId64 " expired or unknown", id);
    if (ttl_out)
        *ttl_out = ttl;
    return 0;
}

int
store_lease_revoke(struct store *s, int64_t id, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;

    resp =
        store_call_take(s, "/v3/lease/revoke", json_pack("{s:I}", "ID", (json_int_t)id), true, err);
    if (!resp)
        return k3c_err_wrap(err, "revoke lease %" PRId64, id);
    return 0;
}
