/* SPDX-License-Identifier: Apache-2.0
 * agent_join.c - joining: the CA is fetched without trusting it and pinned
 * by the hash in the K10 token before anything is sent or written; then
 * the node's keys are made here and only their CSRs leave the node. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "pki/pki.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

int
agent_token_parse(const char *token, char out_hash[65], char **user, char **secret,
                  struct k3c_err *err)
{
    const char *rest, *colon;

    if (!token || strncmp(token, "K10", 3) != 0 || strlen(token) < 3 + 64 + 2)
        return k3c_err_set(err, K3C_E_INVALID,
                           "the token must look like K10<sha256 of the CA>::<secret> (the "
                           "server writes it to <data-dir>/server/token)");
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)token[3 + i]))
            return k3c_err_set(err, K3C_E_INVALID, "the token's CA hash is not hex");
    if (strncmp(token + 67, "::", 2) != 0)
        return k3c_err_set(err, K3C_E_INVALID, "the token has no \"::\" after the CA hash");
    for (int i = 0; i < 64; i++)
        out_hash[i] = (char)tolower((unsigned char)token[3 + i]);
    out_hash[64] = '\0';
    rest = token + 69;
    colon = strchr(rest, ':');
    *user = colon ? k3c_xstrndup(rest, (size_t)(colon - rest)) : k3c_xstrdup("node");
    *secret = k3c_xstrdup(colon ? colon + 1 : rest);
    (*secret)[strcspn(*secret, "\r\n")] = '\0';
    if (!**secret) {
        free(*user);
        free(*secret);
        return k3c_err_set(err, K3C_E_INVALID, "the token has an empty secret");
    }
    return 0;
}

int
agent_fetch_ca(const char *server_url, const char *want_hash, char **pem, struct k3c_err *err)
{
    const char *endpoints[] = {server_url, NULL};
    struct http_client_config hc = {.endpoints = endpoints, .insecure = true};
    struct http_client *c = http_client_new(&hc, err);
    struct http_response resp;
    char got[65];
    int rc = -1;

    if (!c)
        return -1;
    http_response_init(&resp);
    if (http_client_request(c, "GET", "/cacerts", NULL, NULL, 0, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        /* 5xx: a server still starting, worth another try; anything else
         * says this is not a k3c server. */
        k3c_err_set(err, resp.status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_INVALID,
                    "%s/cacerts answered HTTP %ld%s", server_url, resp.status,
                    resp.status >= 500 ? "" : ": not a k3c server?");
        goto out;
    }
    pki_sha256_hex(resp.body.data ? resp.body.data : "", resp.body.len, got);
    if (strcmp(got, want_hash) != 0) {
        k3c_err_set(err, K3C_E_INVALID,
                    "the server's CA (sha256 %s) is not the one the token names (%s): wrong "
                    "server or wrong token; nothing was trusted or written",
                    got, want_hash);
        goto out;
    }
    *pem = k3c_buf_steal(&resp.body, NULL);
    rc = 0;
out:
    http_response_fini(&resp);
    http_client_free(c);
    return rc;
}

static int
request_certs(struct agent *a, const char *user, const char *secret, char **client_key,
              char **serving_key, json_t **answer, struct k3c_err *err)
{
    _cleanup_free_ char *auth = k3c_xasprintf("%s:%s", user, secret);
    _cleanup_free_ char *ccsr = NULL, *scsr = NULL, *cn = NULL, *text = NULL;
    const char *endpoints[] = {a->server_url, NULL};
    struct http_client_config hc = {
        .endpoints = endpoints, .ca_file = a->paths.server_ca, .basic_auth = auth};
    _cleanup_json_ json_t *req = NULL;
    struct http_client *c = NULL;
    struct http_response resp;
    int rc = -1;

    cn = k3c_xasprintf("system:node:%s", a->node_name);
    if (pki_csr_new(cn, "system:nodes", client_key, &ccsr, err) < 0 ||
        pki_csr_new(a->node_name, NULL, serving_key, &scsr, err) < 0)
        return -1;
    req = json_pack("{s:s, s:s, s:s, s:[s]}", "nodeName", a->node_name, "clientCSR", ccsr,
                    "servingCSR", scsr, "addresses", a->node_ip);
    text = json_dumps(req, JSON_COMPACT);
    c = http_client_new(&hc, err);
    if (!c)
        return -1;
    http_response_init(&resp);
    if (http_client_request(c, "POST", "/v1-k3c/node-certs", "application/json", text, strlen(text),
                            &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        k3c_err_set(err, resp.status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_BAD_REQUEST,
                    "the server refused to sign this node's certificates (HTTP %ld): %.200s",
                    resp.status, resp.body.data ? resp.body.data : "");
        goto out;
    }
    *answer = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    rc = *answer ? 0 : k3c_err_set(err, K3C_E_INTERNAL, "unparsable join answer");
out:
    http_response_fini(&resp);
    http_client_free(c);
    return rc;
}

static int
write_str(const char *path, const char *text, mode_t mode, struct k3c_err *err)
{
    return k3c_write_file(path, text, strlen(text), mode, err);
}

static int
write_kubeconfig(struct agent *a, struct k3c_err *err)
{
    _cleanup_free_ char *text = k3c_xasprintf(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: %s\n"
        "    server: %s\n  name: default\ncontexts:\n- context:\n    cluster: default\n"
        "    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n"
        "  user:\n    client-certificate: %s\n    client-key: %s\n",
        a->paths.server_ca, a->server_url, a->paths.client_cert, a->paths.client_key);

    return write_str(a->paths.kubeconfig, text, 0600, err);
}

/* Node certificates are renewed at start within this of their expiry (as
 * a server's own leaves, pki_ensure_leaf; issue #21). */
#define AGENT_RENEW_BEFORE_S ((long long)PKI_RENEW_WINDOW_DAYS * 86400)

/* True when the earlier join's client certificate expires soon (then the
 * node joins again for new ones). */
static bool
agent_certs_expiring(struct agent *a)
{
    struct k3c_err err = {0};
    int64_t not_after = 0, left;

    if (pki_cert_not_after(a->paths.client_cert, &not_after, &err) < 0) {
        log_warn("(node %s) %s: keeping the credentials of the earlier join", a->node_name,
                 err.msg);
        return false;
    }
    left = not_after - k3c_wall_ms() / 1000;
    if (left > AGENT_RENEW_BEFORE_S) {
        log_info("(node %s) using the credentials of an earlier join", a->node_name);
        return false;
    }
    log_info("(node %s) the node certificate expires in %lld days: joining again for new ones",
             a->node_name, (long long)(left / 86400));
    return true;
}

/* A renewal that failed: the old certificates are still valid, go on. */
static int
agent_keep_certs(struct agent *a, struct k3c_err *err)
{
    log_warn("(node %s) certificate renewal failed (%s): keeping the old ones until the next "
             "start",
             a->node_name, err->msg);
    k3c_err_clear(err);
    return 0;
}

int
agent_join(struct agent *a, struct k3c_err *err)
{
    _cleanup_free_ char *ca = NULL, *user = NULL, *secret = NULL, *ckey = NULL, *skey = NULL;
    _cleanup_json_ json_t *answer = NULL;
    char hash[65];
    bool renewing = false;

    if (agent_token_parse(a->token, hash, &user, &secret, err) < 0)
        return -1;
    if (k3c_file_exists(a->paths.client_cert) && k3c_file_exists(a->paths.kubeconfig)) {
        if (!agent_certs_expiring(a))
            return 0;
        renewing = true;
    }
    if (agent_fetch_ca(a->server_url, hash, &ca, err) < 0)
        return renewing ? agent_keep_certs(a, err) : -1;
    if (k3c_mkdir_p(a->paths.dir, 0700, err) < 0 ||
        write_str(a->paths.server_ca, ca, 0644, err) < 0)
        return -1;
    if (request_certs(a, user, secret, &ckey, &skey, &answer, err) < 0) {
        if (renewing)
            return agent_keep_certs(a, err);
        /* A refused join leaves nothing behind. */
        unlink(a->paths.server_ca);
        rmdir(a->paths.dir);
        return -1;
    }
    if (write_str(a->paths.client_key, ckey, 0600, err) < 0 ||
        write_str(a->paths.serving_key, skey, 0600, err) < 0 ||
        write_str(a->paths.client_cert,
                  json_string_value(json_object_get(answer, "clientCertificate")) ?: "", 0644,
                  err) < 0 ||
        write_str(a->paths.serving_cert,
                  json_string_value(json_object_get(answer, "servingCertificate")) ?: "", 0644,
                  err) < 0 ||
        write_str(a->paths.client_ca, json_string_value(json_object_get(answer, "clientCA")) ?: "",
                  0644, err) < 0 ||
        write_kubeconfig(a, err) < 0)
        return k3c_err_wrap(err, "write node credentials");
    log_info("(node %s) joined %s", a->node_name, a->server_url);
    return 0;
}
