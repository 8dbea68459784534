/* SPDX-License-Identifier: Apache-2.0
 * api_review.c - asking the authorizer instead of trying: the
 * authorization.k8s.io/v1 reviews (SelfSubjectAccessReview for `kubectl
 * auth can-i`, SubjectAccessReview, LocalSubjectAccessReview,
 * SelfSubjectRulesReview for `can-i --list`), authentication.k8s.io/v1
 * SelfSubjectReview (`kubectl auth whoami`), and impersonation (the
 * Impersonate-* headers of `kubectl --as/--as-group`, each allowed by the
 * impersonate verb on users, groups, uids, serviceaccounts or userextras,
 * as upstream's WithImpersonation filter). Reviews are created, answered
 * and never stored. */
#define LOG_COMPONENT "rbac"
#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "api/api-protobuf.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <microhttpd.h>
#include <string.h>
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#define AUTHZ_PREFIX "/apis/authorization.k8s.io/v1/"
#define AUTHN_PREFIX "/apis/authentication.k8s.io/v1/"

static void
user_add_group(struct api_user *u, const char *g)
{
    for (int i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], g) == 0)
            return;
    if (u->n_groups < (int)K3C_ARRAY_SIZE(u->groups))
        snprintf(u->groups[u->n_groups++], sizeof(u->groups[0]), "%.127s", g);
}

/* The groups a user of this name gets besides those asked for: service
 * accounts are in system:serviceaccounts[:<ns>]; everyone but anonymous
 * in system:authenticated. */
static void
user_add_implied_groups(struct api_user *u)
{
    if (strncmp(u->name, "system:serviceaccount:", 22) == 0) {
        const char *ns = u->name + 22;
        char g[160];

        user_add_group(u, "system:serviceaccounts");
        snprintf(g, sizeof(g), "system:serviceaccounts:%.*s", (int)strcspn(ns, ":"), ns);
        user_add_group(u, g);
    }
    if (strcmp(u->name, "system:anonymous") != 0)
        user_add_group(u, "system:authenticated");
}

/* ---- impersonation ------------------------------------------------------ */

json_t *
api_user_extra_json(const struct api_user *u)
{
    json_t *extra = json_object();

    for (int i = 0; i < u->n_extra; i++) {
        json_t *vals = json_object_get(extra, u->extra[i].key);

        if (!vals) {
            vals = json_array();
            json_object_set_new(extra, u->extra[i].key, vals);
        }
        json_array_append_new(vals, json_string(u->extra[i].value));
    }
    return extra;
}

struct imp_headers {
    const char *user, *uid;
    const char *groups[8];
    int n_groups;
    const char *extra_keys[8], *extra_values[8]; /* keys as sent, after the prefix */
    int n_extra;
    bool too_many;
};

#define EXTRA_PREFIX "Impersonate-Extra-"

/* An Impersonate-Extra-<key> header's key: percent-decoded and lower-cased
 * (upstream unescapes it; HTTP header names are case-insensitive). False
 * when it is empty, malformed or too long. */
static bool
extra_key(const char *raw, char *out, size_t len)
{
    size_t n = 0;

    for (const char *p = raw; *p; p++) {
        unsigned c = (unsigned char)*p;

        if (c == '%') {
            unsigned v;

            if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
                sscanf(p + 1, "%2x", &v) != 1)
                return false;
            c = v;
            p += 2;
        }
        if (n + 1 >= len || c < 0x20 || c == 0x7f)
            return false;
        out[n++] = (char)tolower((int)c);
    }
    out[n] = '\0';
    return n > 0;
}

static enum MHD_Result
imp_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct imp_headers *h = cls;

    (void)kind;
    if (!key || !value)
        return MHD_YES;
    if (strcasecmp(key, "Impersonate-User") == 0)
        h->user = value;
    else if (strcasecmp(key, "Impersonate-Uid") == 0)
        h->uid = value;
    else if (strcasecmp(key, "Impersonate-Group") == 0) {
        if (h->n_groups < (int)K3C_ARRAY_SIZE(h->groups))
            h->groups[h->n_groups++] = value;
        else
            h->too_many = true;
    } else if (strncasecmp(key, EXTRA_PREFIX, strlen(EXTRA_PREFIX)) == 0) {
        if (h->n_extra < (int)K3C_ARRAY_SIZE(h->extra_keys)) {
            h->extra_keys[h->n_extra] = key + strlen(EXTRA_PREFIX);
            h->extra_values[h->n_extra++] = value;
        } else {
            h->too_many = true;
        }
    }
    return MHD_YES;
}

/* May the real user impersonate `name` as a `resource` (users, groups, uids,
 * serviceaccounts)? Replies 403 when not. */
static int
may_impersonate_sub(struct api_request *r, const char *group, const char *resource, const char *sub,
                    const char *name, const char *ns)
{
    struct rbac_attrs a = {.verb = "impersonate",
                           .resource_request = true,
                           .group = group,
                           .resource = resource,
                           .subresource = sub,
                           .name = name,
                           .namespace = ns};

    if (api_authz_allows(r->srv, &r->user, &a))
        return -1;
    return api_reply_forbidden(r, &a);
}

static int
may_impersonate(struct api_request *r, const char *resource, const char *name, const char *ns)
{
    return may_impersonate_sub(r, "", resource, NULL, name, ns);
}

/* Impersonate-Extra-<key>: `impersonate` on userextras/<key> named by the
 * value (group authentication.k8s.io, as upstream); copied into u. */
static int
impersonate_extras(struct api_request *r, const struct imp_headers *h, struct api_user *u)
{
    int ret;

    for (int i = 0; i < h->n_extra; i++) {
        char key[sizeof(u->extra[0].key)];

        if (!extra_key(h->extra_keys[i], key, sizeof(key)) ||
            strlen(h->extra_values[i]) >= sizeof(u->extra[0].value))
            return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                    "invalid Impersonate-Extra header \"%.64s\"", h->extra_keys[i]);
        if ((ret = may_impersonate_sub(r, "authentication.k8s.io", "userextras", key,
                                       h->extra_values[i], NULL)) >= 0)
            return ret;
        snprintf(u->extra[u->n_extra].key, sizeof(u->extra[0].key), "%s", key);
        snprintf(u->extra[u->n_extra].value, sizeof(u->extra[0].value), "%s", h->extra_values[i]);
        u->n_extra++;
    }
    return -1;
}

int
api_impersonate(struct api_request *r)
{
    struct imp_headers h = {0};
    struct api_user u = {0};
    int ret;

    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, imp_header, &h);
    if (!h.user && (h.n_groups || h.uid || h.n_extra))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "requested impersonation of groups, uid or extra without "
                                "impersonating a user");
    if (!h.user)
        return -1;
    if (!r->user.authenticated)
        return api_reply_status_code(r, 401, "Unauthorized", "Unauthorized");
    if (h.too_many)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "too many impersonated groups or extras (at most %zu each)",
                                K3C_ARRAY_SIZE(h.groups));
    if (strncmp(h.user, "system:serviceaccount:", 22) == 0 && strchr(h.user + 22, ':')) {
        const char *ns = h.user + 22, *name = strchr(ns, ':') + 1;
        _cleanup_free_ char *nsd = k3c_xstrndup(ns, (size_t)(name - 1 - ns));

        ret = may_impersonate(r, "serviceaccounts", name, nsd);
    } else {
        ret = may_impersonate(r, "users", h.user, NULL);
    }
    if (ret >= 0)
        return ret;
    for (int i = 0; i < h.n_groups; i++)
        if ((ret = may_impersonate(r, "groups", h.groups[i], NULL)) >= 0)
            return ret;
    /* uids and userextras are in group authentication.k8s.io upstream */
    if (h.uid &&
        (ret = may_impersonate_sub(r, "authentication.k8s.io", "uids", NULL, h.uid, NULL)) >= 0)
        return ret;
    if ((ret = impersonate_extras(r, &h, &u)) >= 0)
        return ret;
    log_debug("%s impersonates %s", r->user.name, h.user);
    snprintf(u.name, sizeof(u.name), "%s", h.user);
    if (h.uid)
        snprintf(u.uid, sizeof(u.uid), "%s", h.uid);
    for (int i = 0; i < h.n_groups; i++)
        user_add_group(&u, h.groups[i]);
    user_add_implied_groups(&u);
    u.authenticated = true;
    r->user = u;
    return -1;
}

/* ---- reviews ------------------------------------------------------------ */

static const char *
str_in(const json_t *obj, const char *field)
{
    const char *s = json_string_value(json_object_get(obj, field));
    return s ? s : "";
}

/* The spec's resourceAttributes/nonResourceAttributes as attrs (borrowed
 * from spec); false when neither is given. */
static bool
attrs_from_spec(const json_t *spec, struct rbac_attrs *a)
{
    const json_t *ra = json_object_get(spec, "resourceAttributes");
    const json_t *na = json_object_get(spec, "nonResourceAttributes");

    memset(a, 0, sizeof(*a));
    if (json_is_object(ra)) {
        a->resource_request = true;
        a->verb = str_in(ra, "verb");
        a->group = str_in(ra, "group");
        a->resource = str_in(ra, "resource");
        a->subresource = str_in(ra, "subresource");
        a->name = str_in(ra, "name");
        a->namespace = str_in(ra, "namespace");
        return true;
    }
    if (json_is_object(na)) {
        a->verb = str_in(na, "verb");
        a->path = str_in(na, "path");
        return true;
    }
    return false;
}

static json_t *
read_body(struct api_request *r, const char *kind, int *reply)
{
    const char *ct = api_header(r, "Content-Type");
    struct k3c_err err = {0};
    json_error_t jerr = {.text = "not a JSON object"};
    json_t *obj = NULL;

    /* client-go's typed clients (kubectl auth can-i, whoami) send protobuf. */
    if (ct && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0) {
        obj = api_protobuf_decode(r->body.data, r->body.len, &err);
        if (!obj) {
            *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
            return NULL;
        }
    } else {
        obj = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        *reply =
            api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                             "the body of the request was in an unknown format: %s", jerr.text);
        return NULL;
    }
    json_object_set_new(obj, "kind", json_string(kind));
    if (!json_is_object(json_object_get(obj, "metadata")))
        json_object_set_new(obj, "metadata", json_object());
    json_object_set_new(json_object_get(obj, "metadata"), "creationTimestamp", json_null());
    return obj;
}

static int
reply_invalid_spec(struct api_request *r, const char *kind, const char *detail)
{
    json_t *causes = json_array();

    api_cause_add(causes, "FieldValueRequired", "spec.resourceAttributes", "Required value: %s",
                  detail);
    return api_reply_invalid_take(r, kind, "", causes);
}

/* SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview. */
static int
access_review(struct api_request *r, const char *kind, const char *group_version, bool self,
              const char *local_ns)
{
    int reply = -1;
    _cleanup_json_ json_t *obj = read_body(r, kind, &reply);
    const json_t *spec = NULL;
    struct rbac_attrs a;
    struct api_user subject = {0};
    bool allowed;

    if (!obj)
        return reply;
    json_object_set_new(obj, "apiVersion", json_string(group_version));
    spec = json_object_get(obj, "spec");
    if (!attrs_from_spec(spec, &a))
        return reply_invalid_spec(r, kind,
                                  "exactly one of nonResourceAttributes or resourceAttributes "
                                  "must be specified");
    if (local_ns && strcmp(a.namespace ? a.namespace : "", local_ns) != 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "spec.resourceAttributes.namespace must match namespace: %s",
                                local_ns);
    if (self) {
        subject = r->user;
    } else {
        size_t i = 0;
        const json_t *g = NULL;

        snprintf(subject.name, sizeof(subject.name), "%s", str_in(spec, "user"));
        json_array_foreach(json_object_get(spec, "groups"), i, g)
        {
            if (json_string_value(g) && subject.n_groups < (int)K3C_ARRAY_SIZE(subject.groups))
                snprintf(subject.groups[subject.n_groups++], sizeof(subject.groups[0]), "%.127s",
                         json_string_value(g));
        }
        subject.authenticated = true;
    }
    allowed = api_authz_allows(r->srv, &subject, &a);
    json_object_set_new(obj, "status", json_pack("{s:b}", "allowed", allowed));
    return api_reply_json_take(r, 201, json_incref(obj));
}

static int
rules_review(struct api_request *r)
{
    int reply = -1;
    _cleanup_json_ json_t *obj = read_body(r, "SelfSubjectRulesReview", &reply);
    const char *ns = NULL;

    if (!obj)
        return reply;
    json_object_set_new(obj, "apiVersion", json_string("authorization.k8s.io/v1"));
    ns = str_in(json_object_get(obj, "spec"), "namespace");
    json_object_set_new(obj, "status", api_rbac_rules_review(r->srv, &r->user, ns));
    return api_reply_json_take(r, 201, json_incref(obj));
}

static int
self_subject_review(struct api_request *r)
{
    int reply = -1;
    _cleanup_json_ json_t *obj = read_body(r, "SelfSubjectReview", &reply);
    json_t *groups = json_array();

    if (!obj) {
        json_decref(groups);
        return reply;
    }
    json_object_set_new(obj, "apiVersion", json_string("authentication.k8s.io/v1"));
    for (int i = 0; i < r->user.n_groups; i++)
        json_array_append_new(groups, json_string(r->user.groups[i]));
    json_object_set_new(
        obj, "status",
        json_pack("{s:{s:s, s:o}}", "userInfo", "username", r->user.name, "groups", groups));
    if (r->user.uid[0])
        json_object_set_new(json_object_get(json_object_get(obj, "status"), "userInfo"), "uid",
                            json_string(r->user.uid));
    if (r->user.n_extra)
        json_object_set_new(json_object_get(json_object_get(obj, "status"), "userInfo"), "extra",
                            api_user_extra_json(&r->user));
    return api_reply_json_take(r, 201, json_incref(obj));
}

/* Whether the caller may create this review kind (the system:basic-user
 * role grants the self reviews to everyone authenticated). */
static int
may_create(struct api_request *r, const char *group, const char *resource, const char *ns)
{
    struct rbac_attrs a = {.verb = "create",
                           .resource_request = true,
                           .group = group,
                           .resource = resource,
                           .namespace = ns};

    if (api_authz_allows(r->srv, &r->user, &a))
        return -1;
    return api_reply_forbidden(r, &a);
}

const struct api_review_resource api_review_resources[] = {
    {"authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
     false},
    {"authentication.k8s.io", "v1", "tokenreviews", "tokenreview", "TokenReview", false},
    {"authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview",
     "LocalSubjectAccessReview", true},
    {"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
     "SelfSubjectAccessReview", false},
    {"authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
     "SelfSubjectRulesReview", false},
    {"authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview",
     "SubjectAccessReview", false},
    {NULL, NULL, NULL, NULL, NULL, false},
};

int
api_review_serve(struct api_request *r)
{
    const char *url = r->url, *rest = NULL;
    char ns[254] = "";
    int ret;

    if ((ret = api_satoken_serve(r)) >= 0)
        return ret;
    if ((ret = api_csr_serve(r)) >= 0) /* kind_csr.c */
        return ret;
    if (strncmp(url, AUTHN_PREFIX, strlen(AUTHN_PREFIX)) == 0) {
        if (strcmp(url + strlen(AUTHN_PREFIX), "selfsubjectreviews") != 0)
            return -1;
        if (strcmp(r->method, "POST") != 0)
            return api_reply_status_code(r, 405, "MethodNotAllowed",
                                         "the server does not allow this method on the requested "
                                         "resource");
        if ((ret = may_create(r, "authentication.k8s.io", "selfsubjectreviews", NULL)) >= 0)
            return ret;
        return self_subject_review(r);
    }
    if (strncmp(url, AUTHZ_PREFIX, strlen(AUTHZ_PREFIX)) != 0)
        return -1;
    rest = url + strlen(AUTHZ_PREFIX);
    if (strncmp(rest, "namespaces/", 11) == 0) {
        size_t n = strcspn(rest + 11, "/");

        if (n == 0 || n >= sizeof(ns) || strcmp(rest + 11 + n, "/localsubjectaccessreviews") != 0)
            return -1;
        snprintf(ns, sizeof(ns), "%.*s", (int)n, rest + 11);
        rest = "localsubjectaccessreviews";
    }
    if (strcmp(rest, "selfsubjectaccessreviews") != 0 &&
        strcmp(rest, "selfsubjectrulesreviews") != 0 && strcmp(rest, "subjectaccessreviews") != 0 &&
        strcmp(rest, "localsubjectaccessreviews") != 0)
        return -1;
    if (strcmp(r->method, "POST") != 0)
        return api_reply_status_code(r, 405, "MethodNotAllowed",
                                     "the server does not allow this method on the requested "
                                     "resource");
    if ((ret = may_create(r, "authorization.k8s.io", rest, ns[0] ? ns : NULL)) >= 0)
        return ret;
    if (strcmp(rest, "selfsubjectaccessreviews") == 0)
        return access_review(r, "SelfSubjectAccessReview", "authorization.k8s.io/v1", true, NULL);
    if (strcmp(rest, "subjectaccessreviews") == 0)
        return access_review(r, "SubjectAccessReview", "authorization.k8s.io/v1", false, NULL);
    if (strcmp(rest, "localsubjectaccessreviews") == 0)
        return access_review(r, "LocalSubjectAccessReview", "authorization.k8s.io/v1", false, ns);
    return rules_review(r);
}
