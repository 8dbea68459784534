/* SPDX-License-Identifier: Apache-2.0
 * etcd_gateway.c - one member's v3 JSON gateway for the maintenance calls
 * that the store does not make (status, defragment, alarms, snapshots). */
#include "etcd/etcd_ops-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct http_client *
etcd_gw_client_new(const char *url, const char *ca, const char *cert, const char *key,
                   long timeout_ms, struct k3c_err *err)
{
    const char *endpoints[] = {url, NULL};
    const struct http_client_config hc = {
        .endpoints = endpoints,
        .ca_file = ca,
        .cert_file = cert,
        .key_file = key,
        .connect_timeout_ms = 2000,
        .request_timeout_ms = timeout_ms,
    };

    return http_client_new(&hc, err);
}

json_t *
etcd_gw_call_take(struct http_client *c, const char *path, json_t *body, struct k3c_err *err)
{
    _cleanup_json_ json_t *req = body ? body : json_object();
    _cleanup_free_ char *text = json_dumps(req, JSON_COMPACT);
    struct http_response resp;
    json_t *answer = NULL;

    http_response_init(&resp);
    if (http_client_request(c, "POST", path, "application/json", text, strlen(text), &resp, err) <
        0) {
        http_response_fini(&resp);
        return NULL;
    }
    answer = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    if (resp.status != 200 || !answer) {
        const char *msg = json_string_value(json_object_get(answer, "message"));

        k3c_err_set(err, K3C_E_INTERNAL, "etcd %s: HTTP %ld: %s", path, resp.status,
                    msg ? msg : "unparsable answer");
        json_decref(answer);
        answer = NULL;
    }
    http_response_fini(&resp);
    return answer;
}

int64_t
etcd_gw_int(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

int
etcd_gw_db_size(struct http_client *c, int64_t *size, int64_t *in_use, int64_t *revision,
                struct k3c_err *err)
{
    _cleanup_json_ json_t *st = etcd_gw_call_take(c, "/v3/maintenance/status", NULL, err);

    if (!st)
        return -1;
    *size = etcd_gw_int(st, "dbSize");
    /* etcd before 3.4 has no dbSizeInUse: then nothing looks reclaimable. */
    *in_use = json_object_get(st, "dbSizeInUse") ? etcd_gw_int(st, "dbSizeInUse") : *size;
    if (revision)
        *revision = etcd_gw_int(json_object_get(st, "header"), "revision");
    return 0;
}

int
etcd_gw_defrag(struct http_client *c, struct k3c_err *err)
{
    _cleanup_json_ json_t *r = etcd_gw_call_take(c, "/v3/maintenance/defragment", NULL, err);

    return r ? 0 : -1;
}

/* ---- for /metrics (issue #21) ----------------------------------------------- */

int
etcd_db_sizes(const char *client_url, const char *ca, const char *cert, const char *key,
              int64_t *size, int64_t *in_use, struct k3c_err *err)
{
    struct http_client *c = etcd_gw_client_new(client_url, ca, cert, key, 2000, err);
    int rc;

    if (!c)
        return -1;
    rc = etcd_gw_db_size(c, size, in_use, NULL, err);
    http_client_free(c);
    return rc;
}
