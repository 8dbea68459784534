/* SPDX-License-Identifier: Apache-2.0
 * etcd_ops-internal.h - what the etcd_ops files share: calls to one member's
 * v3 JSON gateway over the one HTTP client (etcd_gateway.c). */
#ifndef K3C_ETCD_OPS_INTERNAL_H
#define K3C_ETCD_OPS_INTERNAL_H

#include <jansson.h>

#include "client/client.h"
#include "etcd/etcd_ops.h"

/* A client of exactly one member (no failover: maintenance is per member).
 * timeout_ms bounds each request: long for a defragment of a large file,
 * short where a stop must not wait on a member that lost its quorum. */
struct http_client *etcd_gw_client_new(const char *url, const char *ca, const char *cert,
                                       const char *key, long timeout_ms, struct k3c_err *err);
/* POSTs body (consumed; NULL: {}) to path and returns the parsed answer (a
 * new reference), or NULL with err: UNAVAILABLE when etcd cannot be reached,
 * INTERNAL with etcd's message otherwise. */
json_t *etcd_gw_call_take(struct http_client *c, const char *path, json_t *body,
                          struct k3c_err *err);
/* An int64 the gateway sends as a string or a number; 0 if absent. */
int64_t etcd_gw_int(const json_t *obj, const char *field);

/* maintenance/status: the file's size and the part of it in use. */
int etcd_gw_db_size(struct http_client *c, int64_t *size, int64_t *in_use, int64_t *revision,
                    struct k3c_err *err);
/* maintenance/defragment of the member c talks to. */
int etcd_gw_defrag(struct http_client *c, struct k3c_err *err);

#endif
