/* SPDX-License-Identifier: Apache-2.0
 * store_grpc.c - the store's writes as etcd's own gRPC calls (KV/Txn) over
 * the local member's unix socket, and its reads of one key (KV/Range)
 * (docs/store.md, "Writes over gRPC").
 *
 * Why: etcd's JSON gateway decodes the JSON, calls etcd's own gRPC server
 * over a second connection, and encodes the answer back; for a ConfigMap
 * create that doubled etcd's CPU (~900 us against ~480 us a txn at c=1,
 * docs/api.md). The messages are protobuf-c's from etcd_kv.proto, the
 * calls grpc/'s; the gateway stays for lists, watches, leases and every
 * endpoint that is not the local socket.
 *
 * A connection carries one call at a time; idle ones wait in a small pool
 * for the next write, so the workers that write at once each have one. */
#define LOG_COMPONENT "store"
#include "base/cleanup.h"
#include "base/util.h"
#include "grpc/grpc_conn.h"
#include "store/store-internal.h"
#include "store/store_encrypt.h"
#include "etcd_kv.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STORE_GRPC_IDLE_MAX 8 /* the API server's workers, with room to spare */
#define STORE_GRPC_TXN      "/etcdserverpb.KV/Txn"
#define STORE_GRPC_RANGE    "/etcdserverpb.KV/Range"

struct store_grpc {
    char *path;
    pthread_mutex_t lock;
    struct grpc_conn *idle[STORE_GRPC_IDLE_MAX];
    size_t n_idle;
};

struct store_grpc *
store_grpc_new(const char *path)
{
    struct store_grpc *g = k3c_xcalloc(1, sizeof(*g));

    g->path = k3c_xstrdup(path);
    pthread_mutex_init(&g->lock, NULL);
    return g;
}

void
store_grpc_free(struct store_grpc *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_idle; i++)
        grpc_conn_free(g->idle[i]);
    pthread_mutex_destroy(&g->lock);
    free(g->path);
    free(g);
}

/* An idle connection that can take a call, else a new one; NULL (err)
 * when the socket takes no connection. */
static struct grpc_conn *
conn_take(struct store_grpc *g, struct k3c_err *err)
{
    int fd;

    for (;;) {
        struct grpc_conn *c = NULL;

        pthread_mutex_lock(&g->lock);
        if (g->n_idle > 0)
            c = g->idle[--g->n_idle];
        pthread_mutex_unlock(&g->lock);
        if (!c)
            break;
        if (grpc_conn_usable(c))
            return c;
        grpc_conn_free(c); /* etcd closed it (restarted) or sent GOAWAY */
    }
    fd = grpc_unix_connect(g->path, err);
    return fd < 0 ? NULL : grpc_conn_client_new(fd);
}

static void
conn_give_back(struct store_grpc *g, struct grpc_conn *c)
{
    pthread_mutex_lock(&g->lock);
    if (g->n_idle < STORE_GRPC_IDLE_MAX) {
        g->idle[g->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&g->lock);
    grpc_conn_free(c);
}

/* A message in protobuf's wire format (malloc'd). */
static uint8_t *
message_pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *out;

    *len = protobuf_c_message_get_packed_size(m);
    out = k3c_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, out);
    return out;
}

/* One call of method with the message req on a connection of the pool;
 * on DONE *answer is etcd's answer, a message of answer_type (free it with
 * protobuf_c_message_free_unpacked). An enum store_grpc_outcome. */
static int
grpc_call(struct store_grpc *g, const char *method, const ProtobufCMessage *req,
          const ProtobufCMessageDescriptor *answer_type, long timeout_ms, ProtobufCMessage **answer,
          struct k3c_err *err)
{
    _cleanup_free_ char *message = NULL;
    _cleanup_free_ uint8_t *packed = NULL, *resp = NULL;
    size_t packed_len, resp_len = 0;
    struct grpc_conn *c = conn_take(g, err);
    int status;

    *answer = NULL;
    if (!c)
        return STORE_GRPC_NOT_SENT;
    packed = message_pack(req, &packed_len);
    if (grpc_conn_unary(c, method, packed, packed_len, (int)timeout_ms, &status, &message, &resp,
                        &resp_len, err) < 0) {
        grpc_conn_free(c);
        err->kind = K3C_E_UNAVAILABLE;
        k3c_err_wrap(err, "etcd %s", method);
        return STORE_GRPC_NO_ANSWER;
    }
    conn_give_back(g, c);
    if (status != GRPC_OK) {
        store_etcd_error(method, status, message ? message : "no message", err);
        return STORE_GRPC_REFUSED;
    }
    *answer = protobuf_c_message_unpack(answer_type, NULL, resp_len, resp);
    if (!*answer) {
        k3c_err_set(err, K3C_E_INTERNAL, "etcd %s: unparsable answer (%zu bytes)", method,
                    resp_len);
        return STORE_GRPC_REFUSED;
    }
    return STORE_GRPC_DONE;
}

/* The Txn call of t: *answer an Etcd__TxnResponse on DONE. The failure
 * branch ranges over the key, so a failed compare tells "changed" (with
 * the kv as it is) from "gone". */
static int
txn_call(struct store_grpc *g, const struct store_txn *t, long timeout_ms,
         ProtobufCMessage **answer, struct k3c_err *err)
{
    ProtobufCBinaryData key = {.len = strlen(t->key), .data = (uint8_t *)t->key};
    Etcd__Compare cmp = ETCD__COMPARE__INIT, *cmps[] = {&cmp};
    Etcd__PutRequest put = ETCD__PUT_REQUEST__INIT;
    Etcd__DeleteRangeRequest del = ETCD__DELETE_RANGE_REQUEST__INIT;
    Etcd__RangeRequest range = ETCD__RANGE_REQUEST__INIT;
    Etcd__RequestOp ok = ETCD__REQUEST_OP__INIT, fail = ETCD__REQUEST_OP__INIT;
    Etcd__RequestOp *oks[] = {&ok}, *fails[] = {&fail};
    Etcd__TxnRequest req = ETCD__TXN_REQUEST__INIT;

    cmp.key = key;
    cmp.result = ETCD__COMPARE__COMPARE_RESULT__EQUAL;
    if (t->compare == STORE_TXN_CREATE) {
        cmp.target = ETCD__COMPARE__COMPARE_TARGET__CREATE;
        cmp.target_union_case = ETCD__COMPARE__TARGET_UNION_CREATE_REVISION;
        cmp.create_revision = t->revision;
    } else {
        cmp.target = ETCD__COMPARE__COMPARE_TARGET__MOD;
        cmp.target_union_case = ETCD__COMPARE__TARGET_UNION_MOD_REVISION;
        cmp.mod_revision = t->revision;
    }
    if (t->value) {
        put.key = key;
        put.value.data = (uint8_t *)t->value;
        put.value.len = t->len;
        put.lease = t->lease;
        ok.request_case = ETCD__REQUEST_OP__REQUEST_REQUEST_PUT;
        ok.request_put = &put;
    } else {
        del.key = key;
        del.prev_kv = 1;
        ok.request_case = ETCD__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        ok.request_delete_range = &del;
    }
    range.key = key;
    fail.request_case = ETCD__REQUEST_OP__REQUEST_REQUEST_RANGE;
    fail.request_range = &range;
    if (t->compare != STORE_TXN_ALWAYS) {
        req.n_compare = 1;
        req.compare = cmps;
    }
    req.n_success = 1;
    req.success = oks;
    req.n_failure = 1;
    req.failure = fails;
    return grpc_call(g, STORE_GRPC_TXN, &req.base, &etcd__txn_response__descriptor, timeout_ms,
                     answer, err);
}

/* A KeyValue as the store's kv: the key NUL-terminated, the value opened
 * (Secrets decrypted) and NUL-terminated. */
static int
kv_from_pb(const Etcd__KeyValue *pb, struct store_kv *kv, struct k3c_err *err)
{
    memset(kv, 0, sizeof(*kv));
    kv->key = k3c_xmalloc(pb->key.len + 1);
    memcpy(kv->key, pb->key.data, pb->key.len);
    kv->key[pb->key.len] = '\0';
    kv->value = k3c_xmalloc(pb->value.len + 1);
    if (pb->value.len)
        memcpy(kv->value, pb->value.data, pb->value.len);
    kv->value[pb->value.len] = '\0';
    kv->value_len = pb->value.len;
    if (store_value_open(kv->key, &kv->value, &kv->value_len, err) < 0) {
        store_kv_fini(kv);
        return -1;
    }
    kv->create_revision = pb->create_revision;
    kv->mod_revision = pb->mod_revision;
    kv->version = pb->version;
    kv->lease = pb->lease;
    return 0;
}

/* The kv the answer carries: the failure branch's range, or the delete's
 * previous kv; NULL for a put or a key that is not there. */
static const Etcd__KeyValue *
answer_kv(const Etcd__TxnResponse *resp)
{
    const Etcd__ResponseOp *op = resp->n_responses > 0 ? resp->responses[0] : NULL;

    if (!op)
        return NULL;
    if (op->response_case == ETCD__RESPONSE_OP__RESPONSE_RESPONSE_RANGE && op->response_range &&
        op->response_range->n_kvs > 0)
        return op->response_range->kvs[0];
    if (op->response_case == ETCD__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE &&
        op->response_delete_range && op->response_delete_range->n_prev_kvs > 0)
        return op->response_delete_range->prev_kvs[0];
    return NULL;
}

/* The answer of a txn as the store's result. */
static int
txn_result(const Etcd__TxnResponse *resp, bool want_kv, struct store_txn_result *r,
           struct k3c_err *err)
{
    const Etcd__KeyValue *kv = want_kv ? answer_kv(resp) : NULL;
    int rc = 0;

    r->succeeded = resp->succeeded;
    r->revision = resp->header ? resp->header->revision : 0;
    if (kv) {
        rc = kv_from_pb(kv, &r->kv, err);
        r->has_kv = rc == 0;
    }
    return rc;
}

int
store_grpc_txn(struct store_grpc *g, const struct store_txn *t, long timeout_ms,
               struct store_txn_result *r, struct k3c_err *err)
{
    ProtobufCMessage *answer = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = txn_call(g, t, timeout_ms, &answer, err);
    if (rc == STORE_GRPC_DONE &&
        txn_result((const Etcd__TxnResponse *)answer, t->want_kv, r, err) < 0)
        rc = STORE_GRPC_REFUSED;
    if (answer)
        protobuf_c_message_free_unpacked(answer, NULL);
    return rc;
}

/* A Range call: *answer (protobuf_c_message_free_unpacked) on DONE. */
static int
range_call(struct store_grpc *g, const Etcd__RangeRequest *range, long timeout_ms,
           Etcd__RangeResponse **answer, struct k3c_err *err)
{
    return grpc_call(g, STORE_GRPC_RANGE, &range->base, &etcd__range_response__descriptor,
                     timeout_ms, (ProtobufCMessage **)answer, err);
}

int
store_grpc_get(struct store_grpc *g, const char *key, long timeout_ms, struct store_kv *kv,
               bool *found, struct k3c_err *err)
{
    Etcd__RangeRequest range = ETCD__RANGE_REQUEST__INIT;
    Etcd__RangeResponse *answer = NULL;
    int rc;

    *found = false;
    range.key.data = (uint8_t *)key;
    range.key.len = strlen(key);
    rc = range_call(g, &range, timeout_ms, &answer, err);
    if (rc != STORE_GRPC_DONE)
        return rc;
    if (answer->n_kvs > 0) {
        if (kv_from_pb(answer->kvs[0], kv, err) < 0)
            rc = STORE_GRPC_REFUSED;
        else
            *found = true;
    }
    protobuf_c_message_free_unpacked(&answer->base, NULL);
    return rc;
}

int
store_grpc_revision(struct store_grpc *g, long timeout_ms, int64_t *rev, struct k3c_err *err)
{
    Etcd__RangeRequest range = ETCD__RANGE_REQUEST__INIT;
    Etcd__RangeResponse *answer = NULL;
    int rc;

    /* a count of one key: the cheapest request whose answer has a header */
    range.key.data = (uint8_t *)"/";
    range.key.len = 1;
    range.limit = 1;
    range.count_only = 1;
    rc = range_call(g, &range, timeout_ms, &answer, err);
    if (rc != STORE_GRPC_DONE)
        return rc;
    *rev = answer->header ? answer->header->revision : 0;
    protobuf_c_message_free_unpacked(&answer->base, NULL);
    return rc;
}
