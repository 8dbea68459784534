/* SPDX-License-Identifier: Apache-2.0
 * etcd_cluster.c - etcd's cluster-membership and status calls (member
 * list/add/promote/remove, maintenance status) over its v3 JSON gateway
 * with the one HTTP client, for the HA join and the member monitor. IDs are
 * uint64 and travel as decimal strings, as the gateway writes them. */
#define LOG_COMPONENT "etcd"
#include "etcd/etcd.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct http_client *
etcd_client_new(const char *const *endpoints, const struct etcd_tls_paths *tls, struct k3c_err *err)
{
    const struct http_client_config hc = {.endpoints = endpoints,
                                          .ca_file = tls->ca_cert,
                                          .cert_file = tls->client_cert,
                                          .key_file = tls->client_key,
                                          .connect_timeout_ms = 1000,
                                          .request_timeout_ms = 5000};

    return http_client_new(&hc, err);
}

static uint64_t
json_u64(const json_t *v)
{
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    return 0;
}

/* POSTs req (stolen) to path; the parsed answer, or NULL with err. */
static json_t *
call(struct http_client *c, const char *path, json_t *req, struct k3c_err *err)
{
    _cleanup_json_ json_t *owned = req;
    _cleanup_free_ char *text = json_dumps(owned, JSON_COMPACT);
    struct http_response resp;
    json_t *body = NULL;

    http_response_init(&resp);
    if (http_client_request(c, "POST", path, "application/json", text, strlen(text), &resp, err) <
        0)
        goto out;
    body = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    if (resp.status != 200) {
        const char *msg = json_string_value(json_object_get(body, "message"));

        k3c_err_set(err, resp.status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_BAD_REQUEST,
                    "etcd %s: HTTP %ld: %s", path, resp.status,
                    msg ? msg : (resp.body.data ? resp.body.data : "no answer"));
        json_decref(body);
        body = NULL;
    } else if (!body) {
        k3c_err_set(err, K3C_E_INTERNAL, "etcd %s: unparsable answer", path);
    }
out:
    http_response_fini(&resp);
    return body;
}

static const char *
first_str(const json_t *arr)
{
    return json_string_value(json_array_get(arr, 0));
}

static void
members_parse(const json_t *arr, struct etcd_members *out)
{
    size_t i;
    json_t *m;

    out->n = json_array_size(arr);
    out->v = k3c_xcalloc(out->n ? out->n : 1, sizeof(*out->v));
    json_array_foreach(arr, i, m)
    {
        struct etcd_member *e = &out->v[i];
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *peer = first_str(json_object_get(m, "peerURLs"));
        const char *client = first_str(json_object_get(m, "clientURLs"));

        e->id = json_u64(json_object_get(m, "ID"));
        e->name = k3c_xstrdup(name ? name : "");
        e->peer_url = k3c_xstrdup(peer ? peer : "");
        e->client_url = k3c_xstrdup(client ? client : "");
        e->learner = json_is_true(json_object_get(m, "isLearner"));
    }
}

void
etcd_members_fini(struct etcd_members *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].peer_url);
        free(m->v[i].client_url);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

const struct etcd_member *
etcd_members_find(const struct etcd_members *m, const char *name, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if ((name && strcmp(m->v[i].name, name) == 0) || (id && m->v[i].id == id))
            return &m->v[i];
    return NULL;
}

int
etcd_member_list(struct http_client *c, struct etcd_members *out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = call(c, "/v3/cluster/member/list", json_object(), err);

    if (!resp)
        return -1;
    members_parse(json_object_get(resp, "members"), out);
    return 0;
}

int
etcd_member_add(struct http_client *c, const char *peer_url, bool learner, uint64_t *id_out,
                struct etcd_members *members_out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp =
        call(c, "/v3/cluster/member/add",
             json_pack("{s:[s], s:b}", "peerURLs", peer_url, "isLearner", learner), err);

    if (!resp)
        return -1;
    *id_out = json_u64(json_object_get(json_object_get(resp, "member"), "ID"));
    if (members_out)
        members_parse(json_object_get(resp, "members"), members_out);
    return 0;
}

static json_t *
id_request(uint64_t id)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, id);
    return json_pack("{s:s}", "ID", buf);
}

int
etcd_member_promote(struct http_client *c, uint64_t id, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = call(c, "/v3/cluster/member/promote", id_request(id), err);

    return resp ? 0 : -1;
}

int
etcd_member_remove(struct http_client *c, uint64_t id, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = call(c, "/v3/cluster/member/remove", id_request(id), err);

    return resp ? 0 : -1;
}

int
etcd_member_status(struct http_client *c, struct etcd_status *out, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = call(c, "/v3/maintenance/status", json_object(), err);

    if (!resp)
        return -1;
    out->member_id = json_u64(json_object_get(json_object_get(resp, "header"), "member_id"));
    out->leader_id = json_u64(json_object_get(resp, "leader"));
    out->learner = json_is_true(json_object_get(resp, "isLearner"));
    out->revision = (int64_t)json_u64(json_object_get(json_object_get(resp, "header"), "revision"));
    return 0;
}
