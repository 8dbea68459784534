/* SPDX-License-Identifier: Apache-2.0
 * api_satoken.c - service-account tokens: the signing key
 * (<data-dir>/server/tls/service.key, made by the first server and shared
 * with joining servers through the HA bootstrap material), TokenRequest
 * (POST .../serviceaccounts/<name>/token) issuing bound ES256 JWTs as
 * upstream's (iss, aud, exp, iat, nbf, jti, sub and the kubernetes.io
 * claims naming the service account, and the pod and node when bound to a
 * pod), bearer-token authentication of those JWTs on every server (the
 * service account, and a bound pod, must still exist with the same uid),
 * TokenReview, and the OIDC discovery documents. */
#define LOG_COMPONENT "satoken"
#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "api/api-jwt.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <microhttpd.h>
#include <string.h>

#define SA_ISSUER         "https://kubernetes.default.svc.cluster.local"
#define SA_AUDIENCE_K3S   "k3s"
#define SA_KEY_FILE       "service.key"
#define SA_DEFAULT_EXPIRY 3600
#define SA_MIN_EXPIRY     600
#define SA_MAX_EXPIRY     (48 * 3600)
#define SA_PREFIX         "system:serviceaccount:"

int
api_sa_key_ensure(const char *tls_dir, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/" SA_KEY_FILE, tls_dir);
    _cleanup_free_ char *pem = NULL;

    if (k3c_file_exists(path))
        return 0;
    pem = jwt_key_generate_pem(err);
    if (!pem || k3c_write_file(path, pem, strlen(pem), 0600, err) < 0)
        return k3c_err_wrap(err, "service-account signing key %s", path);
    log_info("(key %s) created the service-account signing key", path);
    return 0;
}

/* The key next to the client CA's (loaded once; NULL if unreadable). */
static const struct jwt_key *
sa_key(struct api_server *srv)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    const struct jwt_key *k;

    pthread_mutex_lock(&lock);
    if (!api_rbac_sa_key(srv) && srv->cfg.client_ca_key_file) {
        _cleanup_free_ char *dir = k3c_xstrdup(srv->cfg.client_ca_key_file);
        _cleanup_free_ char *path = NULL, *pem = NULL;
        char *slash = strrchr(dir, '/');
        struct k3c_err err = {0};

        if (slash)
            *slash = '\0';
        path = k3c_xasprintf("%s/" SA_KEY_FILE, slash ? dir : ".");
        if (k3c_read_file(path, &pem, NULL, &err) == 0) {
            struct jwt_key *key = jwt_key_from_pem(pem, &err);

            if (key)
                api_rbac_set_sa_key(srv, key);
        }
        if (err.kind)
            log_warn("no service-account tokens: %s", err.msg);
    }
    k = api_rbac_sa_key(srv);
    pthread_mutex_unlock(&lock);
    return k;
}

/* The cached object at plural/ns/name (a new tree), or NULL. */
static json_t *
cached_object(struct api_server *srv, const char *plural, const char *ns, const char *name)
{
    const struct api_resource *res = api_resource_find("", "v1", plural);
    _cleanup_free_ char *key = NULL;
    struct wc_entry *e = NULL;
    json_t *obj = NULL;

    if (!res || !name)
        return NULL;
    key = api_object_key(res, ns, name);
    e = watch_cache_get(api_cache_for(srv, res), key);
    if (!e)
        return NULL;
    obj = wc_entry_object(e);
    wc_entry_unref(e);
    return obj;
}

static const char *
uid_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
}

static bool
str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool
audience_ok(const json_t *aud, const json_t *want)
{
    size_t i = 0, k = 0;
    const json_t *a = NULL, *w = NULL;

    if (json_is_string(aud))
        aud = json_pack("[O]", aud);
    else
        json_incref((json_t *)aud);
    json_array_foreach(aud, i, a)
    {
        json_array_foreach(want, k, w)
        {
            if (json_equal(a, w)) {
                json_decref((json_t *)aud);
                return true;
            }
        }
    }
    json_decref((json_t *)aud);
    return false;
}

/* Checks a token's claims against the cluster: issuer, audience, time, and
 * that what it is bound to still exists. Fills u. */
static bool
claims_user(struct api_server *srv, const json_t *claims, const json_t *audiences,
            struct api_user *u)
{
    const json_t *k8s = json_object_get(claims, "kubernetes.io");
    const json_t *sa = json_object_get(k8s, "serviceaccount");
    const json_t *pod = json_object_get(k8s, "pod");
    const char *ns = json_string_value(json_object_get(k8s, "namespace"));
    const char *name = json_string_value(json_object_get(sa, "name"));
    int64_t now = k3c_wall_ms() / 1000;
    _cleanup_json_ json_t *sa_obj = NULL, *pod_obj = NULL;

    if (!str_eq(json_string_value(json_object_get(claims, "iss")), SA_ISSUER) ||
        !audience_ok(json_object_get(claims, "aud"), audiences) || !ns || !name ||
        !json_is_integer(json_object_get(claims, "exp")) ||
        json_integer_value(json_object_get(claims, "exp")) <= now ||
        json_integer_value(json_object_get(claims, "nbf")) > now + 60)
        return false;
    sa_obj = cached_object(srv, "serviceaccounts", ns, name);
    if (!sa_obj || !str_eq(uid_of(sa_obj), json_string_value(json_object_get(sa, "uid"))))
        return false;
    if (pod) {
        pod_obj = cached_object(srv, "pods", ns, json_string_value(json_object_get(pod, "name")));
        if (!pod_obj || !str_eq(uid_of(pod_obj), json_string_value(json_object_get(pod, "uid"))))
            return false;
    }
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), SA_PREFIX "%.100s:%.100s", ns, name);
    snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "system:serviceaccounts");
    snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "system:serviceaccounts:%.100s", ns);
    u->authenticated = true;
    return true;
}

/* ---- legacy service-account token Secrets -------------------------------- */

/* Upstream's legacy token (pkg/serviceaccount/legacy.go): no expiry, no
 * audience, valid while its Secret (holding exactly this token) and the
 * service account exist. */
#define LEGACY_ISSUER   "kubernetes/serviceaccount"
#define LEGACY_CLAIM(x) "kubernetes.io/serviceaccount/" x
#define LEGACY_TYPE     "kubernetes.io/service-account-token"

char *
api_legacy_token_sign(struct api_server *srv, const char *ns, const char *sa, const char *sa_uid,
                      const char *secret, struct k3c_err *err)
{
    const struct jwt_key *k = sa_key(srv);
    _cleanup_json_ json_t *claims = NULL;

    if (!k) {
        k3c_err_set(err, K3C_E_INTERNAL, "no service-account signing key");
        return NULL;
    }
    claims =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "iss", LEGACY_ISSUER, LEGACY_CLAIM("namespace"),
                  ns, LEGACY_CLAIM("secret.name"), secret, LEGACY_CLAIM("service-account.name"), sa,
                  LEGACY_CLAIM("service-account.uid"), sa_uid, "sub",
                  json_sprintf(SA_PREFIX "%s:%s", ns, sa));
    if (!claims) {
        k3c_err_set(err, K3C_E_INVALID, "bad names for a legacy token");
        return NULL;
    }
    return jwt_sign(k, claims, err);
}

static bool
being_deleted(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

/* Upstream's legacy validator: the Secret still holds this very token and
 * the service account still has the uid the token names. */
static bool
legacy_user(struct api_server *srv, const json_t *claims, const char *token, struct api_user *u)
{
    const char *ns = json_string_value(json_object_get(claims, LEGACY_CLAIM("namespace")));
    const char *sec = json_string_value(json_object_get(claims, LEGACY_CLAIM("secret.name")));
    const char *sa =
        json_string_value(json_object_get(claims, LEGACY_CLAIM("service-account.name")));
    const char *uid =
        json_string_value(json_object_get(claims, LEGACY_CLAIM("service-account.uid")));
    _cleanup_json_ json_t *sec_obj = NULL, *sa_obj = NULL;
    _cleanup_free_ char *stored = NULL;
    const char *b64;
    size_t len = 0;

    if (!ns || !*ns || !sec || !*sec || !sa || !*sa || !uid || !*uid)
        return false;
    sec_obj = cached_object(srv, "secrets", ns, sec);
    b64 = json_string_value(json_object_get(json_object_get(sec_obj, "data"), "token"));
    if (!sec_obj || being_deleted(sec_obj) ||
        !str_eq(json_string_value(json_object_get(sec_obj, "type")), LEGACY_TYPE) || !b64 ||
        !(stored = k3c_base64_decode(b64, &len)) || len != strlen(token) ||
        !k3c_secret_equal(token, stored))
        return false;
    sa_obj = cached_object(srv, "serviceaccounts", ns, sa);
    if (!sa_obj || being_deleted(sa_obj) || !str_eq(uid_of(sa_obj), uid))
        return false;
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), SA_PREFIX "%.100s:%.100s", ns, sa);
    snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "system:serviceaccounts");
    snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "system:serviceaccounts:%.100s", ns);
    u->authenticated = true;
    return true;
}

static json_t *
default_audiences(void)
{
    return json_pack("[s, s]", SA_ISSUER, SA_AUDIENCE_K3S);
}

bool
api_satoken_authenticate(struct api_server *srv, const char *token, struct api_user *u)
{
    const struct jwt_key *k = NULL;
    _cleanup_json_ json_t *claims = NULL, *aud = NULL;
    struct k3c_err err = {0};

    if (!token || !strchr(token, '.') || !(k = sa_key(srv)))
        return false;
    claims = jwt_verify(k, token, &err);
    if (!claims)
        return false;
    if (str_eq(json_string_value(json_object_get(claims, "iss")), LEGACY_ISSUER))
        return legacy_user(srv, claims, token, u);
    aud = default_audiences();
    return claims_user(srv, claims, aud, u);
}

/* ---- TokenRequest --------------------------------------------------------- */

static json_t *
request_body(struct api_request *r, int *reply)
{
    struct k3c_err err = {0};
    json_t *obj = api_body_object(r, &err);

    if (!obj) {
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "the body of the request was in an unknown format%s%s",
                                  err.kind ? ": " : "", err.kind ? err.msg : "");
        return NULL;
    }
    return obj;
}

/* The kubernetes.io claim for sa (and pod/node when bound). */
static json_t *
k8s_claim(struct api_server *srv, const char *ns, const json_t *sa, const json_t *pod)
{
    json_t *c = json_pack("{s:s, s:{s:s, s:s}}", "namespace", ns, "serviceaccount", "name",
                          json_string_value(api_json_path(sa, "metadata.name")), "uid",
                          uid_of(sa) ? uid_of(sa) : "");
    const char *node = json_string_value(api_json_path(pod, "spec.nodeName"));

    if (!pod)
        return c;
    json_object_set_new(c, "pod",
                        json_pack("{s:s, s:s}", "name",
                                  json_string_value(api_json_path(pod, "metadata.name")), "uid",
                                  uid_of(pod) ? uid_of(pod) : ""));
    if (node) {
        _cleanup_json_ json_t *n = cached_object(srv, "nodes", NULL, node);

        json_object_set_new(
            c, "node",
            json_pack("{s:s, s:s}", "name", node, "uid", n && uid_of(n) ? uid_of(n) : ""));
    }
    return c;
}

/* A node (system:node:<name>) may ask tokens only for the service account
 * of a pod bound to it, bound to that pod (upstream's Node authorizer and
 * NodeRestriction). NULL: not a node request. */
static const char *
node_user(const struct api_user *u)
{
    for (int i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], "system:nodes") == 0 && strncmp(u->name, "system:node:", 12) == 0)
            return u->name + 12;
    return NULL;
}

static int
token_request(struct api_request *r, const char *ns, const char *name, const char *node)
{
    int reply = -1;
    _cleanup_json_ json_t *req = request_body(r, &reply);
    _cleanup_json_ json_t *sa = NULL, *pod = NULL, *claims = NULL, *aud = NULL;
    _cleanup_free_ char *token = NULL;
    const json_t *spec = NULL, *ref = NULL;
    const struct jwt_key *k = sa_key(r->srv);
    struct k3c_err err = {0};
    int64_t now = k3c_wall_ms() / 1000, exp_s = SA_DEFAULT_EXPIRY;
    bool extended = false;
    char jti[37], ts[32];

    if (!req)
        return reply;
    if (!k)
        return api_reply_status(r, K3C_E_UNAVAILABLE, NULL, NULL,
                                "the service-account signing key is not available");
    sa = cached_object(r->srv, "serviceaccounts", ns, name);
    if (!sa)
        return api_reply_status(r, K3C_E_NOT_FOUND, name, "serviceaccounts",
                                "serviceaccounts \"%s\" not found", name);
    spec = json_object_get(req, "spec");
    if (json_is_integer(json_object_get(spec, "expirationSeconds")))
        exp_s = json_integer_value(json_object_get(spec, "expirationSeconds"));
    if (exp_s < SA_MIN_EXPIRY) {
        json_t *causes = json_array();

        api_cause_add(causes, "FieldValueInvalid", "spec.expirationSeconds",
                      "Invalid value: %lld: may not specify a duration less than 10 minutes",
                      (long long)exp_s);
        return api_reply_invalid_take(r, "TokenRequest", name, causes);
    }
    if (exp_s > SA_MAX_EXPIRY)
        exp_s = SA_MAX_EXPIRY;
    ref = json_object_get(spec, "boundObjectRef");
    if (json_is_object(ref)) {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *uid = json_string_value(json_object_get(ref, "uid"));

        if (!str_eq(kind, "Pod"))
            return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                    "cannot bind token for %s; only Pod is supported here",
                                    kind ? kind : "\"\"");
        pod = cached_object(r->srv, "pods", ns, json_string_value(json_object_get(ref, "name")));
        if (!pod || (uid && *uid && !str_eq(uid, uid_of(pod))))
            return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                    "the bound pod does not exist (or has another uid)");
    }
    if (node && (!pod || !str_eq(json_string_value(api_json_path(pod, "spec.nodeName")), node) ||
                 !str_eq(json_string_value(api_json_path(pod, "spec.serviceAccountName")), name)))
        return api_reply_status_code(r, 403, "Forbidden",
                                     "serviceaccounts \"%s\" is forbidden: node \"%s\" may only "
                                     "request tokens bound to a pod bound to it that uses the "
                                     "service account",
                                     name, node);
    /* Upstream's --service-account-extend-token-expiration: the kubelet's
     * 3607 s pod tokens are valid a year, with a warnafter claim. */
    if (pod && exp_s == 3607)
        extended = true;
    aud = json_array_size(json_object_get(spec, "audiences"))
              ? json_deep_copy(json_object_get(spec, "audiences"))
              : default_audiences();
    k3c_uuid_new(jti);
    claims =
        json_pack("{s:O, s:I, s:I, s:s, s:s, s:o, s:I, s:o}", "aud", aud, "exp",
                  (json_int_t)(now + (extended ? 365 * 24 * 3600 : exp_s)), "iat", (json_int_t)now,
                  "iss", SA_ISSUER, "jti", jti, "kubernetes.io", k8s_claim(r->srv, ns, sa, pod),
                  "nbf", (json_int_t)now, "sub", json_sprintf(SA_PREFIX "%s:%s", ns, name));
    if (extended)
        json_object_set_new(json_object_get(claims, "kubernetes.io"), "warnafter",
                            json_integer(now + exp_s));
    token = jwt_sign(k, claims, &err);
    if (!token)
        return api_reply_status(r, K3C_E_INTERNAL, NULL, NULL, "%s", err.msg);
    k3c_time_rfc3339(now + exp_s, ts, sizeof(ts));
    json_object_set_new(req, "apiVersion", json_string("authentication.k8s.io/v1"));
    json_object_set_new(req, "kind", json_string("TokenRequest"));
    if (!json_is_object(json_object_get(req, "metadata")))
        json_object_set_new(req, "metadata", json_object());
    json_object_set_new(json_object_get(req, "metadata"), "name", json_string(name));
    json_object_set_new(json_object_get(req, "metadata"), "namespace", json_string(ns));
    if (!json_is_object(spec))
        json_object_set_new(req, "spec", json_object());
    json_object_set_new(json_object_get(req, "spec"), "audiences", json_incref(aud));
    json_object_set_new(json_object_get(req, "spec"), "expirationSeconds", json_integer(exp_s));
    json_object_set_new(req, "status",
                        json_pack("{s:s, s:s}", "token", token, "expirationTimestamp", ts));
    return api_reply_json_take(r, 201, json_incref(req));
}

/* ---- TokenReview ---------------------------------------------------------- */

static int
token_review(struct api_request *r)
{
    int reply = -1;
    _cleanup_json_ json_t *req = request_body(r, &reply);
    _cleanup_json_ json_t *claims = NULL, *want = NULL;
    const struct jwt_key *k = sa_key(r->srv);
    const char *token = NULL;
    struct api_user u = {0};
    struct k3c_err err = {0};
    json_t *status = NULL;

    if (!req)
        return reply;
    token = json_string_value(api_json_path(req, "spec.token"));
    want = json_array_size(api_json_path(req, "spec.audiences"))
               ? json_deep_copy(api_json_path(req, "spec.audiences"))
               : default_audiences();
    claims = k && token ? jwt_verify(k, token, &err) : NULL;
    if (claims && (str_eq(json_string_value(json_object_get(claims, "iss")), LEGACY_ISSUER)
                       ? legacy_user(r->srv, claims, token, &u)
                       : claims_user(r->srv, claims, want, &u))) {
        json_t *groups = json_array();

        for (int i = 0; i < u.n_groups; i++)
            json_array_append_new(groups, json_string(u.groups[i]));
        json_array_append_new(groups, json_string("system:authenticated"));
        status = json_pack("{s:b, s:{s:s, s:o}, s:O}", "authenticated", 1, "user", "username",
                           u.name, "groups", groups, "audiences", want);
    } else {
        status = json_pack("{s:b, s:{}, s:s}", "authenticated", 0, "user", "error",
                           "invalid bearer token");
    }
    json_object_set_new(req, "apiVersion", json_string("authentication.k8s.io/v1"));
    json_object_set_new(req, "kind", json_string("TokenReview"));
    json_object_set_new(req, "status", status);
    return api_reply_json_take(r, 201, json_incref(req));
}

/* ---- OIDC discovery ------------------------------------------------------- */

static int
oidc_configuration(struct api_request *r)
{
    const char *host = api_header(r, "Host");
    _cleanup_free_ char *jwks =
        k3c_xasprintf("https://%s/openid/v1/jwks", host && *host ? host : "kubernetes.default.svc");

    return api_reply_json_take(r, 200,
                               json_pack("{s:s, s:s, s:[s], s:[s], s:[s]}", "issuer", SA_ISSUER,
                                         "jwks_uri", jwks, "response_types_supported", "id_token",
                                         "subject_types_supported", "public",
                                         "id_token_signing_alg_values_supported", "ES256"));
}

static int
oidc_jwks(struct api_request *r)
{
    const struct jwt_key *k = sa_key(r->srv);
    json_t *keys = json_array();

    if (k)
        json_array_append_new(keys, jwt_key_jwk(k));
    return api_reply_json_take(r, 200, json_pack("{s:o}", "keys", keys));
}

/* ---- dispatch --------------------------------------------------------------- */

static bool
allowed(struct api_request *r, struct rbac_attrs *a, const char *group, const char *resource,
        const char *sub, const char *name, const char *ns)
{
    *a = (struct rbac_attrs){.verb = "create",
                             .resource_request = true,
                             .group = group,
                             .resource = resource,
                             .subresource = sub,
                             .name = name,
                             .namespace = ns};
    return api_authz_allows(r->srv, &r->user, a);
}

int
api_satoken_serve(struct api_request *r)
{
    const char *url = r->url;
    char ns[254], name[254];
    struct rbac_attrs a;
    int n = 0;

    if (strcmp(url, "/.well-known/openid-configuration") == 0 ||
        strcmp(url, "/.well-known/openid-configuration/") == 0)
        return oidc_configuration(r);
    if (strcmp(url, "/openid/v1/jwks") == 0 || strcmp(url, "/openid/v1/jwks/") == 0)
        return oidc_jwks(r);
    if (strcmp(url, "/apis/authentication.k8s.io/v1/tokenreviews") == 0) {
        if (strcmp(r->method, "POST") != 0)
            return -1;
        if (!allowed(r, &a, "authentication.k8s.io", "tokenreviews", NULL, NULL, NULL))
            return api_reply_forbidden(r, &a);
        return token_review(r);
    }
    if (sscanf(url, "/api/v1/namespaces/%253[^/]/serviceaccounts/%253[^/]/token%n", ns, name, &n) !=
            2 ||
        n == 0 || url[n] != '\0' || strcmp(r->method, "POST") != 0)
        return -1;
    if (allowed(r, &a, "", "serviceaccounts", "token", name, ns))
        return token_request(r, ns, name, NULL);
    if (node_user(&r->user))
        return token_request(r, ns, name, node_user(&r->user));
    return api_reply_forbidden(r, &a);
}

/* ---- ServiceAccount admission ---------------------------------------------- */

#define SA_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"

static bool
mounts_path(const json_t *container, const char *path)
{
    size_t i = 0;
    const json_t *m = NULL;

    json_array_foreach(json_object_get(container, "volumeMounts"), i, m)
    {
        if (str_eq(json_string_value(json_object_get(m, "mountPath")), path))
            return true;
    }
    return false;
}

static void
add_mount(json_t *spec, const char *list, const char *volume)
{
    size_t i = 0;
    json_t *c = NULL;

    json_array_foreach(json_object_get(spec, list), i, c)
    {
        json_t *mounts = json_object_get(c, "volumeMounts");

        if (!json_is_object(c) || mounts_path(c, SA_MOUNT_PATH))
            continue;
        if (!json_is_array(mounts)) {
            mounts = json_array();
            json_object_set_new(c, "volumeMounts", mounts);
        }
        json_array_append_new(mounts, json_pack("{s:s, s:b, s:s}", "name", volume, "readOnly", 1,
                                                "mountPath", SA_MOUNT_PATH));
    }
}

void
api_sa_admit_pod(struct api_server *srv, json_t *pod)
{
    json_t *spec = json_object_get(pod, "spec"), *volumes = NULL;
    const char *ns = json_string_value(api_json_path(pod, "metadata.namespace"));
    const char *sa_name = NULL;
    _cleanup_json_ json_t *sa = NULL;
    char name[64];

    if (!json_is_object(spec) || !ns)
        return;
    sa_name = json_string_value(json_object_get(spec, "serviceAccountName"));
    if (!sa_name || !*sa_name) {
        sa_name = "default";
        json_object_set_new(spec, "serviceAccountName", json_string(sa_name));
    }
    if (!json_object_get(spec, "serviceAccount"))
        json_object_set_new(spec, "serviceAccount", json_string(sa_name));
    sa = cached_object(srv, "serviceaccounts", ns, sa_name);
    if (json_is_false(json_object_get(spec, "automountServiceAccountToken")) ||
        (!json_object_get(spec, "automountServiceAccountToken") && sa &&
         json_is_false(json_object_get(sa, "automountServiceAccountToken"))))
        return;
    volumes = json_object_get(spec, "volumes");
    if (!json_is_array(volumes)) {
        volumes = json_array();
        json_object_set_new(spec, "volumes", volumes);
    }
    api_generate_name("kube-api-access-", name, sizeof(name));
    json_array_append_new(
        volumes, json_pack("{s:s, s:{s:i, s:[{s:{s:i, s:s}}, {s:{s:s, s:[{s:s, s:s}]}}, "
                           "{s:{s:[{s:s, s:{s:s, s:s}}]}}]}}",
                           "name", name, "projected", "defaultMode", 420, "sources",
                           "serviceAccountToken", "expirationSeconds", 3607, "path", "token",
                           "configMap", "name", "kube-root-ca.crt", "items", "key", "ca.crt",
                           "path", "ca.crt", "downwardAPI", "items", "path", "namespace",
                           "fieldRef", "apiVersion", "v1", "fieldPath", "metadata.namespace"));
    add_mount(spec, "initContainers", name);
    add_mount(spec, "containers", name);
}
