/* SPDX-License-Identifier: Apache-2.0
 * api_join.c - how a node joins (K3s's flow): it fetches the CA from
 * /cacerts without trusting it, checks its hash against the K10 token, then
 * POSTs certificate requests to /v1-k3c/node-certs with HTTP Basic
 * "node:<secret>". The server signs a client certificate
 * (CN=system:node:<name>, O=system:nodes) and a kubelet serving certificate.
 * The identity comes from the authenticated request, never from the CSRs. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <string.h>

#define JOIN_MAX_IPS 8

static int
reply_pem(struct api_request *r, const char *pem)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(pem), (void *)pem, MHD_RESPMEM_MUST_COPY);
    int ret;

    MHD_add_response_header(resp, "Content-Type", "application/x-pem-file");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* HTTP Basic with the token's secret. The user part of the token is
 * "server" in the server's token, "node" in a bare one; for node joins the
 * secret is what counts, server bootstrap needs user "server". */
static bool
join_authenticated(struct api_request *r, bool server_only)
{
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password(r->conn, &password);
    bool ok = user &&
              (strcmp(user, "server") == 0 || (!server_only && strcmp(user, "node") == 0)) &&
              r->srv->cfg.join_secret && k3c_secret_equal(r->srv->cfg.join_secret, password);

    MHD_free(user);
    MHD_free(password);
    return ok;
}

/* Valid IPv4/IPv6 literals from the request, up to JOIN_MAX_IPS. */
static size_t
request_ips(const json_t *req, const char *ips[JOIN_MAX_IPS + 2])
{
    size_t n = 0, i;
    json_t *v;
    unsigned char buf[16];

    json_array_foreach(json_object_get(req, "addresses"), i, v)
    {
        const char *ip = json_string_value(v);

        if (ip && n < JOIN_MAX_IPS &&
            (inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1))
            ips[n++] = ip;
    }
    ips[n] = NULL;
    return n;
}

static int
sign_node_certs(struct api_request *r, const json_t *req, const char *node)
{
    const struct api_config *c = &r->srv->cfg;
    _cleanup_free_ char *cn = k3c_xasprintf("system:node:%s", node);
    _cleanup_free_ char *client = NULL, *serving = NULL, *server_ca = NULL, *client_ca = NULL;
    const char *ips[JOIN_MAX_IPS + 2], *dns[] = {node, "localhost", NULL};
    struct pki_leaf_spec client_spec = {
        .common_name = cn, .organization = "system:nodes", .usage = PKI_USAGE_CLIENT};
    struct pki_leaf_spec serving_spec = {
        .common_name = node, .usage = PKI_USAGE_SERVER, .dns_sans = dns, .ip_sans = ips};
    struct k3c_err err = {0};
    const char *ccsr = json_string_value(json_object_get(req, "clientCSR"));
    const char *scsr = json_string_value(json_object_get(req, "servingCSR"));

    request_ips(req, ips);
    if (!ccsr || !scsr)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "clientCSR and servingCSR are required");
    if (pki_sign_csr(c->client_ca_file, c->client_ca_key_file, ccsr, &client_spec, &client, &err) <
            0 ||
        pki_sign_csr(c->server_ca_cert_file, c->server_ca_key_file, scsr, &serving_spec, &serving,
                     &err) < 0 ||
        k3c_read_file(c->server_ca_cert_file, &server_ca, NULL, &err) < 0 ||
        k3c_read_file(c->client_ca_file, &client_ca, NULL, &err) < 0)
        return api_reply_status(r,
                                err.kind == K3C_E_BAD_REQUEST ? K3C_E_BAD_REQUEST : K3C_E_INTERNAL,
                                NULL, NULL, "%s", err.msg);
    log_info("(node %s) joined: signed its client and serving certificates", node);
    return api_reply_json_take(r, 200,
                               json_pack("{s:s, s:s, s:s, s:s}", "clientCertificate", client,
                                         "servingCertificate", serving, "serverCA", server_ca,
                                         "clientCA", client_ca));
}

static int
serve_node_certs(struct api_request *r)
{
    _cleanup_json_ json_t *req = NULL;
    const char *node;

    if (strcmp(r->method, "POST") != 0)
        return api_reply_status_code(r, 405, "MethodNotAllowed", "use POST");
    if (!join_authenticated(r, false))
        return api_reply_status_code(r, 401, "Unauthorized",
                                     "the node token is wrong: check --token");
    req = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    node = json_string_value(json_object_get(req, "nodeName"));
    if (!node || !api_is_dns1123_subdomain(node))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "nodeName must be a lowercase RFC 1123 subdomain");
    return sign_node_certs(r, req, node);
}

/* The shared material a joining server needs (HA join). */
static int
serve_server_bootstrap(struct api_request *r)
{
    const char *json = r->srv->cfg.server_bootstrap_json;
    struct MHD_Response *resp;
    int ret;

    if (strcmp(r->method, "GET") != 0)
        return api_reply_status_code(r, 405, "MethodNotAllowed", "use GET");
    if (!json)
        return api_reply_status_code(r, 404, "NotFound",
                                     "this server does not serve bootstrap data (external "
                                     "datastore?)");
    if (!join_authenticated(r, true)) {
        log_warn("refused server bootstrap: wrong secret or not a server token");
        return api_reply_status_code(r, 401, "Unauthorized",
                                     "server bootstrap needs the server token (K10...::server:"
                                     "<secret>): check --token");
    }
    log_info("served server bootstrap data to a joining server");
    resp = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
api_join_serve(struct api_request *r)
{
    _cleanup_free_ char *pem = NULL;
    struct k3c_err err = {0};

    if (strcmp(r->url, "/cacerts") == 0) {
        if (k3c_read_file(r->srv->cfg.server_ca_cert_file, &pem, NULL, &err) < 0)
            return api_reply_status(r, K3C_E_INTERNAL, NULL, NULL, "%s", err.msg);
        return reply_pem(r, pem);
    }
    if (strcmp(r->url, "/v1-k3c/node-certs") == 0)
        return serve_node_certs(r);
    if (strcmp(r->url, "/v1-k3c/server-bootstrap") == 0)
        return serve_server_bootstrap(r);
    return -1;
}
