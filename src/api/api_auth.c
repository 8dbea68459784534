/* SPDX-License-Identifier: Apache-2.0
 * api_auth.c - who is asking: a client certificate that chains to the
 * client CA (CN = user, O = groups, as kube-apiserver reads them) or a
 * bearer token from the static token file. Authorization is coarse for now:
 * system:masters may do everything, everyone else nothing (node rules come
 * with the agent). */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <string.h>

struct api_token {
    char *token;
    struct api_user user;
};

static void
user_add_group(struct api_user *u, const char *g)
{
    if (u->n_groups < (int)K3C_ARRAY_SIZE(u->groups))
        snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "%.127s", g);
}

/* Reads CN and every O from the verified peer certificate. */
static bool
user_from_cert(gnutls_session_t session, struct api_user *u)
{
    const gnutls_datum_t *chain;
    unsigned int n = 0, status = 0;
    gnutls_x509_crt_t crt = NULL;
    char buf[256];
    size_t len;
    bool ok = false;

    if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
        return false;
    chain = gnutls_certificate_get_peers(session, &n);
    if (!chain || n == 0 || gnutls_x509_crt_init(&crt) < 0)
        return false;
    if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) < 0)
        goto out;
    len = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &len) < 0)
        goto out;
    snprintf(u->name, sizeof(u->name), "%s", buf);
    for (unsigned i = 0;; i++) {
        len = sizeof(buf);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0, buf, &len) <
            0)
            break;
        user_add_group(u, buf);
    }
    ok = true;
out:
    gnutls_x509_crt_deinit(crt);
    return ok;
}

static bool
user_from_token(struct api_server *srv, const char *auth, struct api_user *u)
{
    const char *tok;

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    tok = auth + 7;
    while (*tok == ' ')
        tok++;
    for (size_t i = 0; i < srv->n_tokens; i++) {
        const char *want = srv->tokens[i].token;
        size_t a = strlen(want), b = strlen(tok);
        unsigned diff = (unsigned)(a ^ b);

        /* Constant time over the stored token's length. */
        for (size_t k = 0; k < a; k++)
            diff |= (unsigned)(want[k] ^ (k < b ? tok[k] : 0));
        if (diff == 0) {
            *u = srv->tokens[i].user;
            return true;
        }
    }
    return false;
}

void
api_authenticate(struct api_request *r)
{
    const union MHD_ConnectionInfo *ci;
    struct api_user u = {0};

    ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci && ci->tls_session && user_from_cert((gnutls_session_t)ci->tls_session, &u))
        u.authenticated = true;
    else if (user_from_token(r->srv, api_header(r, "Authorization"), &u))
        u.authenticated = true;
    if (u.authenticated)
        user_add_group(&u, "system:authenticated");
    r->user = u;
}

bool
api_authorize(const struct api_request *r)
{
    for (int i = 0; i < r->user.n_groups; i++)
        if (strcmp(r->user.groups[i], "system:masters") == 0)
            return true;
    return false;
}

/* One CSV field, with "quoted, fields" as kube-apiserver's token file has. */
static char *
csv_field(char **p)
{
    char *s = *p, *out;

    if (!s)
        return NULL;
    if (*s == '"') {
        char *end = strchr(s + 1, '"');

        if (!end)
            return NULL;
        out = k3c_xstrndup(s + 1, (size_t)(end - s - 1));
        s = end + 1;
        *p = *s == ',' ? s + 1 : NULL;
        return out;
    }
    out = k3c_xstrndup(s, strcspn(s, ","));
    s += strlen(out);
    *p = *s == ',' ? s + 1 : NULL;
    return out;
}

static int
token_parse_line(char *line, struct api_token *t)
{
    char *p = line;
    _cleanup_free_ char *uid = NULL, *groups = NULL;
    char *save = NULL;

    memset(t, 0, sizeof(*t));
    t->token = csv_field(&p);
    {
        _cleanup_free_ char *name = csv_field(&p);

        if (!t->token || !name || !*t->token || !*name) {
            free(t->token);
            t->token = NULL;
            return -1;
        }
        snprintf(t->user.name, sizeof(t->user.name), "%s", name);
    }
    uid = csv_field(&p);
    groups = csv_field(&p);
    for (char *g = groups ? strtok_r(groups, ",", &save) : NULL; g; g = strtok_r(NULL, ",", &save))
        user_add_group(&t->user, g);
    return 0;
}

int
api_tokens_load(struct api_server *srv, const char *path, struct k3c_err *err)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;
    int lineno = 0;

    if (k3c_read_file(path, &text, NULL, err) < 0)
        return k3c_err_wrap(err, "token file");
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct api_token t;

        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#')
            continue;
        if (token_parse_line(line, &t) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "%s:%d: want token,user,uid,\"groups\"", path,
                               lineno);
        srv->tokens = k3c_xrealloc(srv->tokens, (srv->n_tokens + 1) * sizeof(*srv->tokens));
        srv->tokens[srv->n_tokens++] = t;
    }
    return 0;
}

void
api_tokens_free(struct api_server *srv)
{
    for (size_t i = 0; i < srv->n_tokens; i++)
        free(srv->tokens[i].token);
    free(srv->tokens);
    srv->tokens = NULL;
    srv->n_tokens = 0;
}
