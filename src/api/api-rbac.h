/* SPDX-License-Identifier: Apache-2.0
 * api-rbac.h - the RBAC authorizer (api_rbac.c): rules of Roles and
 * ClusterRoles granted by RoleBindings and ClusterRoleBindings, evaluated
 * from an index rebuilt from the watch caches when they change (never a
 * store read per request); escalation prevention on writes of roles and
 * bindings; impersonation; the access reviews (api_review.c). The rule
 * matcher is pure and fuzzed (tests/fuzz/fuzz_rbac_rule.c). */
#ifndef K3C_API_RBAC_H
#define K3C_API_RBAC_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

struct api_server;
struct api_request;
struct api_user;

/* What a request asks (upstream's authorizer.Attributes). */
struct rbac_attrs {
    const char *verb; /* get list watch create update patch delete deletecollection ... */
    bool resource_request;
    const char *group;       /* "" core */
    const char *resource;    /* "pods" */
    const char *subresource; /* "log", or NULL/"" */
    const char *name;        /* NULL/"" for collections */
    const char *namespace;   /* NULL/"" for cluster scope */
    const char *path;        /* non-resource requests: "/healthz" */
};

/* Pure: whether one PolicyRule (JSON) allows a. */
bool rbac_rule_allows(const json_t *rule, const struct rbac_attrs *a);
/* Pure: whether a binding subject (JSON) names the user; binding_ns is the
 * RoleBinding's namespace (service accounts default to it), NULL for a
 * ClusterRoleBinding. */
bool rbac_subject_matches(const json_t *subject, const struct api_user *u, const char *binding_ns);

/* RBAC alone (no system:masters, no Node authorizer). */
bool api_rbac_allows(struct api_server *srv, const struct api_user *u, const struct rbac_attrs *a);
/* The whole chain: system:masters, then RBAC (the Node authorizer needs a
 * request; it runs in api_authorize_resource). */
bool api_authz_allows(struct api_server *srv, const struct api_user *u, const struct rbac_attrs *a);
/* Every rule the user holds in ns (NULL: cluster-wide rules only), as
 * SelfSubjectRulesReview's status {resourceRules, nonResourceRules}. */
json_t *api_rbac_rules_review(struct api_server *srv, const struct api_user *u, const char *ns);
/* Escalation prevention for a create/update of a role or binding (obj is
 * what would be stored): -1 when allowed or not an RBAC kind, else the 403
 * reply (queued). */
int api_rbac_admit(struct api_request *r, const json_t *obj);
/* Impersonate-User/-Group/-Uid headers: -1 when absent or allowed (r->user
 * replaced), else the 403 reply. */
int api_impersonate(struct api_request *r);
/* The reviews (authorization.k8s.io SelfSubjectAccessReview,
 * SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview;
 * authentication.k8s.io SelfSubjectReview): -1 when r is not one. */
int api_review_serve(struct api_request *r);
/* The upstream 403 for a. */
int api_reply_forbidden(struct api_request *r, const struct rbac_attrs *a);
void api_rbac_free(struct api_server *srv);

/* Service-account tokens (api_satoken.c). The signing key, kept with the
 * RBAC state (NULL until api_satoken.c loads it; set takes ownership). */
struct jwt_key;
const struct jwt_key *api_rbac_sa_key(struct api_server *srv);
void api_rbac_set_sa_key(struct api_server *srv, struct jwt_key *key);
/* Whether token is a valid service-account JWT of this cluster; fills u. */
bool api_satoken_authenticate(struct api_server *srv, const char *token, struct api_user *u);
/* A legacy service-account token (upstream's, iss kubernetes/serviceaccount,
 * no expiry) for the Secret secret of service account sa (uid sa_uid) in
 * ns, signed with the service-account key; caller frees. It authenticates
 * while the Secret holds it and the service account exists
 * (src/controllers/legacytoken.c fills the Secrets). */
char *api_legacy_token_sign(struct api_server *srv, const char *ns, const char *sa,
                            const char *sa_uid, const char *secret, struct k3c_err *err);
/* TokenRequest, TokenReview, OIDC discovery: -1 when r is none of them. */
int api_satoken_serve(struct api_request *r);
/* ServiceAccount admission of a new pod: serviceAccountName defaults to
 * "default"; unless automountServiceAccountToken is false (pod, then
 * service account) the projected kube-api-access-XXXXX volume (token,
 * ca.crt from kube-root-ca.crt, namespace) is added and mounted read-only
 * at /var/run/secrets/kubernetes.io/serviceaccount in every container. */
void api_sa_admit_pod(struct api_server *srv, json_t *pod);
/* Creates or reconciles the bootstrap policy (api_rbac_bootstrap.c). */
int api_rbac_bootstrap(struct api_server *srv, struct k3c_err *err);

#endif
