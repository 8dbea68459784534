/* SPDX-License-Identifier: Apache-2.0
 * api_auth.c - who is asking: a client certificate that chains to the
 * client CA (CN = user, O = groups, as kube-apiserver reads them) or a
 * bearer token from the static token file. Authorization: system:masters may
 * do everything; nodes (system:node:<name> in system:nodes) get upstream's
 * Node authorizer rules, in the parts k3c needs; everyone (nodes too, for
 * what the Node rules do not cover) then gets what RBAC grants (api_rbac.c). */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

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
    struct pki_subject sub;

    if (!pki_peer_subject(session, &sub))
        return false;
    snprintf(u->name, sizeof(u->name), "%s", sub.common_name);
    for (int i = 0; i < sub.n_organizations; i++)
        user_add_group(u, sub.organizations[i]);
    return true;
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
        if (k3c_secret_equal(srv->tokens[i].token, tok)) {
            *u = srv->tokens[i].user;
            return true;
        }
    }
    return false;
}

/* A service-account token (api_satoken.c). */
static bool
bearer_jwt(struct api_request *r, struct api_user *u)
{
    const char *auth = api_header(r, "Authorization");

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return api_satoken_authenticate(r->srv, auth, u);
}

/* The certificate of a connection does not change: verify it once (the
 * verification was a third of the server's CPU per request) and keep the
 * user in the connection's context. */
static bool
cert_user(struct api_request *r, struct api_user *u)
{
    const union MHD_ConnectionInfo *ctx =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct api_conn *c = ctx ? ctx->socket_context : NULL;
    const union MHD_ConnectionInfo *ci;

    if (c && c->cert_checked) {
        *u = c->cert_user;
        return c->has_cert_user;
    }
    ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    memset(u, 0, sizeof(*u));
    if (!(ci && ci->tls_session && user_from_cert((gnutls_session_t)ci->tls_session, u)))
        memset(u, 0, sizeof(*u));
    if (c) {
        c->cert_checked = true;
        c->has_cert_user = u->name[0] != '\0';
        c->cert_user = *u;
    }
    return u->name[0] != '\0';
}

void
api_authenticate(struct api_request *r)
{
    struct api_user u = {0};

    if (cert_user(r, &u))
        u.authenticated = true;
    else if (user_from_token(r->srv, api_header(r, "Authorization"), &u))
        u.authenticated = true;
    else if (bearer_jwt(r, &u))
        u.authenticated = true;
    if (u.authenticated) {
        user_add_group(&u, "system:authenticated");
    } else {
        /* Upstream's anonymous identity; k3c serves it only the paths the
         * bootstrap policy's system:public-info-viewer allows (api_http.c). */
        snprintf(u.name, sizeof(u.name), "system:anonymous");
        user_add_group(&u, "system:unauthenticated");
    }
    r->user = u;
}

/* /api/v1/<...> and /apis/<group>/<version>/<...> are resource requests
 * (authorized by api_authorize_resource once parsed); everything else
 * (discovery, /openapi, /version, /metrics) is a non-resource path. */
static bool
is_resource_path(const char *url)
{
    int want = strncmp(url, "/api/", 5) == 0 ? 3 : strncmp(url, "/apis/", 6) == 0 ? 4 : 0;
    int segments = 0;

    if (!want)
        return false;
    for (const char *p = url; *p; p++)
        if (*p == '/' && p[1] && p[1] != '/')
            segments++;
    return segments >= want;
}

static void
lower_verb(const char *method, char *out, size_t len)
{
    size_t i = 0;

    for (; method[i] && i + 1 < len; i++)
        out[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] - 'A' + 'a' : method[i]);
    out[i] = '\0';
}

int
api_authorize_path(struct api_request *r)
{
    char verb[16];
    struct rbac_attrs a = {.verb = verb, .path = r->url};

    if (is_resource_path(r->url))
        return -1;
    lower_verb(r->method, verb, sizeof(verb));
    if (strcmp(verb, "head") == 0)
        snprintf(verb, sizeof(verb), "get");
    if (api_authz_allows(r->srv, &r->user, &a))
        return -1;
    return api_reply_forbidden(r, &a);
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

/* ---- resource authorization --------------------------------------------- */

static bool
in_group(const struct api_user *u, const char *g)
{
    for (int i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], g) == 0)
            return true;
    return false;
}

/* The node name of a node credential (system:node:<name> in system:nodes). */
static const char *
node_of(const struct api_user *u)
{
    if (!in_group(u, "system:nodes") || strncmp(u->name, "system:node:", 12) != 0)
        return NULL;
    return u->name + 12;
}

static const char *
verb_of(struct api_request *r)
{
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
        return r->name ? "get" : api_query_true(r, "watch") ? "watch" : "list";
    if (strcmp(r->method, "POST") == 0)
        return "create";
    if (strcmp(r->method, "PUT") == 0)
        return "update";
    if (strcmp(r->method, "PATCH") == 0)
        return "patch";
    if (strcmp(r->method, "DELETE") == 0)
        return r->name ? "delete" : "deletecollection";
    return "unknown";
}

/* The name a request is about: from the URL, or for a create from the body. */
static const char *
target_name(const struct api_request *r, json_t **body)
{
    if (r->name)
        return r->name;
    *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    return json_string_value(json_object_get(json_object_get(*body, "metadata"), "name"));
}

/* The node a pod is bound to, read from the store; NULL if none/unknown. */
static char *
pod_node(const struct api_request *r)
{
    _cleanup_free_ char *key = api_object_key(r->res, r->namespace, r->name);
    _cleanup_json_ json_t *pod = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    const char *node;

    if (store_get(r->srv->store, key, &kv, &err) < 0)
        return NULL;
    pod = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_fini(&kv);
    node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    return node ? k3c_xstrdup(node) : NULL;
}

static bool
json_name_is(const json_t *ref, const char *field, const char *name)
{
    const char *v = json_string_value(json_object_get(ref, field));
    return v && strcmp(v, name) == 0;
}

/* Whether a container's env/envFrom names the ConfigMap or Secret. */
static bool
container_refers(const json_t *c, bool secret, const char *name)
{
    const char *key_ref = secret ? "secretKeyRef" : "configMapKeyRef";
    const char *from_ref = secret ? "secretRef" : "configMapRef";
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(c, "env"), i, e)
    {
        if (json_name_is(json_object_get(json_object_get(e, "valueFrom"), key_ref), "name", name))
            return true;
    }
    json_array_foreach(json_object_get(c, "envFrom"), i, e)
    {
        if (json_name_is(json_object_get(e, from_ref), "name", name))
            return true;
    }
    return false;
}

/* Whether a pod spec uses the ConfigMap or Secret: volumes (also projected
 * sources), container env/envFrom, imagePullSecrets (upstream's graph edges). */
static bool
pod_refers(const json_t *spec, bool secret, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    const char *kind = secret ? "secret" : "configMap";
    size_t i, k;
    json_t *v, *src;

    json_array_foreach(json_object_get(spec, "volumes"), i, v)
    {
        if (json_name_is(json_object_get(v, kind), secret ? "secretName" : "name", name))
            return true;
        json_array_foreach(json_object_get(json_object_get(v, "projected"), "sources"), k, src)
        {
            if (json_name_is(json_object_get(src, kind), "name", name))
                return true;
        }
    }
    for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++)
        json_array_foreach(json_object_get(spec, lists[l]), i, v)
        {
            if (container_refers(v, secret, name))
                return true;
        }
    if (secret)
        json_array_foreach(json_object_get(spec, "imagePullSecrets"), i, v)
        {
            if (json_name_is(v, "name", name))
                return true;
        }
    return false;
}

/* Upstream's Node authorizer for configmaps and secrets: a node may get
 * (or list/watch with fieldSelector metadata.name=<name>) only those that a
 * pod bound to it uses. Read from the store, not a cache, so a pod bound a
 * moment ago already counts. */
static bool
node_may_read_ref(struct api_request *r, const char *node, bool secret)
{
    const struct api_resource *pods = api_resource_find("", "v1", "pods");
    const char *name = r->name, *fs = NULL;
    _cleanup_free_ char *prefix = NULL;
    struct store_list list = {0};
    struct k3c_err err = {0};
    bool ok = false;

    if (!name) {
        fs = api_query(r, "fieldSelector");
        if (!fs || strncmp(fs, "metadata.name=", 14) != 0 || strchr(fs, ',') || !fs[14])
            return false;
        name = fs + 14;
    }
    if (!r->namespace || !pods)
        return false;
    prefix = api_list_prefix(pods, r->namespace);
    if (store_list(r->srv->store, prefix, 0, NULL, 0, &list, &err) < 0)
        return false;
    for (size_t i = 0; i < list.n_items && !ok; i++) {
        _cleanup_json_ json_t *pod =
            json_loadb(list.items[i].value, list.items[i].value_len, 0, NULL);
        const json_t *spec = json_object_get(pod, "spec");
        ok = json_name_is(spec, "nodeName", node) && pod_refers(spec, secret, name);
    }
    store_list_fini(&list);
    return ok;
}

/* storage (issue #16): whether the stored PersistentVolume r names is a
 * local-path volume of node (its agent drops the cleanup finalizer). */
static bool
node_owns_local_volume(const struct api_request *r, const char *node)
{
    _cleanup_free_ char *key = api_object_key(r->res, NULL, r->name);
    _cleanup_json_ json_t *pv = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    const json_t *ann;

    if (store_get(r->srv->store, key, &kv, &err) < 0)
        return false;
    pv = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_fini(&kv);
    ann = json_object_get(json_object_get(pv, "metadata"), "annotations");
    return json_name_is(ann, "local.path.provisioner/selected-node", node);
}

/* What a node may do (upstream's Node authorizer and NodeRestriction, in
 * the parts k3c needs): read (configmaps and secrets only those its pods
 * use), manage its own Node and Lease, report the status of and delete the
 * pods bound to it, and post events. */
static bool
node_may(struct api_request *r, const char *node)
{
    const char *plural = r->res->plural;
    _cleanup_json_ json_t *body = NULL;
    bool write = strcmp(r->method, "GET") != 0;
    bool core = r->res->group[0] == '\0';

    if (core && (strcmp(plural, "secrets") == 0 || strcmp(plural, "configmaps") == 0))
        return !write && node_may_read_ref(r, node, plural[0] == 's');
    if (!write && strcmp(plural, "networkpolicies") == 0) /* the agents' policy enforcement */
        return true;
    if (!write)
        return true;
    if (strcmp(plural, "nodes") == 0) {
        const char *name = target_name(r, &body);

        return name && strcmp(name, node) == 0 && strcmp(r->method, "DELETE") != 0;
    }
    if (strcmp(plural, "leases") == 0) {
        const char *name = target_name(r, &body);

        return r->namespace && strcmp(r->namespace, "kube-node-lease") == 0 && name &&
               strcmp(name, node) == 0;
    }
    if (strcmp(plural, "pods") == 0 && r->name &&
        ((r->subresource && strcmp(r->subresource, "status") == 0) ||
         strcmp(r->method, "DELETE") == 0)) {
        _cleanup_free_ char *bound = pod_node(r);

        return bound && strcmp(bound, node) == 0;
    }
    if (strcmp(plural, "events") == 0)
        return strcmp(r->method, "POST") == 0 || strcmp(r->method, "PATCH") == 0;
    if (strcmp(plural, "persistentvolumes") == 0 && r->name && !r->subresource &&
        strcmp(r->method, "PATCH") == 0)
        return node_owns_local_volume(r, node);
    return false;
}

/* The order upstream's kube-apiserver uses (--authorization-mode=Node,RBAC,
 * with system:masters before both). */
int
api_authorize_resource(struct api_request *r)
{
    struct rbac_attrs a = {.verb = verb_of(r),
                           .resource_request = true,
                           .group = r->res->group,
                           .resource = r->res->plural,
                           .subresource = r->subresource,
                           .name = r->name,
                           .namespace = r->namespace};
    const char *node;

    if (in_group(&r->user, "system:masters"))
        return -1;
    node = node_of(&r->user);
    if (node && node_may(r, node))
        return -1;
    if (api_rbac_allows(r->srv, &r->user, &a))
        return -1;
    return api_reply_forbidden(r, &a);
}
