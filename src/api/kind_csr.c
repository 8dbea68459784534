/* SPDX-License-Identifier: Apache-2.0
 * kind_csr.c - certificates.k8s.io/v1 CertificateSigningRequest (issue #15),
 * the shape of upstream's pkg/registry/certificates/certificates/strategy.go
 * and pkg/apis/certificates/validation:
 *   - create: spec.username and spec.groups come from the requesting user
 *     (what the client sends there is replaced); status is dropped; the
 *     request must be a PEM CERTIFICATE REQUEST whose signature verifies;
 *     signerName, usages required; expirationSeconds >= 600.
 *   - spec is immutable; /status cannot change the Approved/Denied
 *     conditions and a certificate, once set, stays.
 *   - PUT .../approval (`kubectl certificate approve|deny`): update on
 *     certificatesigningrequests/approval plus `approve` on
 *     signers/<signerName> (or the wildcard "<domain>/" + "*"), as upstream's approval admission;
 *     only the Approved/Denied conditions change.
 *   - a /status write that sets status.certificate needs `sign` on the signer
 *     (upstream's signing admission).
 *   - the built-in signers kubernetes.io/kube-apiserver-client and
 *     kubernetes.io/kube-apiserver-client-kubelet issue from the client CA
 *     (the CA the API server trusts for client certificates) when a request
 *     is approved: status.certificate is written in the same update as the
 *     Approved condition (upstream's csrsigning controller does it a moment
 *     later); a request the signer refuses gets a Failed condition.
 * Table: NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION. */
#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "api/api-kind.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CSR_PREFIX          "/apis/certificates.k8s.io/v1/certificatesigningrequests"
#define CSR_MIN_SECONDS     600
#define CSR_MAX_SECONDS     (365 * 24 * 3600) /* K3s's --cluster-signing-duration */
#define SIGNER_CLIENT       "kubernetes.io/kube-apiserver-client"
#define SIGNER_KUBELET      "kubernetes.io/kube-apiserver-client-kubelet"
#define CSR_UPDATE_ATTEMPTS 5

const struct api_column api_columns_csr[] = {
    COL_NAME,
    COL_AGE,
    {"SignerName", "string", "",
     "signerName indicates the requested signer, and is a qualified name.", 0},
    {"Requestor", "string", "", "Name of the user that created the request.", 0},
    {"RequestedDuration", "string", "",
     "expirationSeconds is the requested duration of validity of the issued certificate.", 0},
    {"Condition", "string", "", "Conditions applied to the request.", 0},
    COL_END,
};

static bool
has_condition(const json_t *obj, const char *type)
{
    size_t i;
    const json_t *c;

    json_array_foreach(api_json_path(obj, "status.conditions"), i, c)
    {
        const char *st = json_string_value(json_object_get(c, "status"));

        if (api_or_empty(json_string_value(json_object_get(c, "type")))[0] &&
            strcmp(json_string_value(json_object_get(c, "type")), type) == 0 &&
            (!st || strcmp(st, "True") == 0))
            return true;
    }
    return false;
}

json_t *
api_row_csr(const json_t *obj, int64_t now_s)
{
    const json_t *exp = api_json_path(obj, "spec.expirationSeconds");
    char duration[32] = "<none>", cond[64] = "";

    if (json_is_integer(exp))
        api_human_duration(json_integer_value(exp), duration, sizeof(duration));
    if (has_condition(obj, "Approved"))
        snprintf(cond, sizeof(cond), "Approved");
    else if (has_condition(obj, "Denied"))
        snprintf(cond, sizeof(cond), "Denied");
    if (has_condition(obj, "Failed"))
        snprintf(cond + strlen(cond), sizeof(cond) - strlen(cond), "%sFailed", cond[0] ? "," : "");
    if (api_str_at(obj, "status.certificate") && *api_str_at(obj, "status.certificate"))
        snprintf(cond + strlen(cond), sizeof(cond) - strlen(cond), "%sIssued", cond[0] ? "," : "");
    return json_pack("[o o s s s s]", api_name_cell(obj), api_age_cell(obj, now_s),
                     api_or_empty(api_str_at(obj, "spec.signerName")),
                     api_or_empty(api_str_at(obj, "spec.username")), duration,
                     cond[0] ? cond : "Pending");
}

/* ---- validation ---------------------------------------------------------------- */

/* A qualified name "<domain>/<path>" as upstream's validateSignerName. */
static void
check_signer_name(json_t *causes, const char *signer)
{
    const char *slash;

    if (!signer || !*signer) {
        api_cause_add(causes, "FieldValueRequired", "spec.signerName", "Required value");
        return;
    }
    slash = strchr(signer, '/');
    if (!slash || slash == signer || !slash[1] || strlen(signer) > 571) {
        api_cause_add(
            causes, "FieldValueInvalid", "spec.signerName",
            "Invalid value: \"%s\": must be a fully qualified domain and path of the form "
            "'example.com/signer-name'",
            signer);
        return;
    }
    _cleanup_free_ char *domain = k3c_xstrndup(signer, (size_t)(slash - signer));
    if (!api_is_dns1123_subdomain(domain))
        api_cause_add(causes, "FieldValueInvalid", "spec.signerName",
                      "Invalid value: \"%s\": the domain must be a DNS-1123 subdomain", signer);
}

static const char *const usages_known[] = {
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
    NULL,
};

static void
check_usages(json_t *causes, const json_t *usages)
{
    size_t i, j;
    const json_t *u, *v;
    struct fpath f;

    if (json_array_size(usages) == 0) {
        api_cause_add(causes, "FieldValueRequired", "spec.usages", "Required value");
        return;
    }
    json_array_foreach(usages, i, u)
    {
        api_fpath(&f, "spec.usages[%zu]", i);
        api_check_enum(causes, f.s, json_string_value(u), usages_known, true);
        json_array_foreach(usages, j, v)
        {
            if (j < i && json_equal(u, v)) {
                api_cause_duplicate(causes, f.s, api_or_empty(json_string_value(u)));
                break;
            }
        }
    }
}

/* The decoded spec.request, or NULL with a cause. */
static char *
request_pem(json_t *causes, const json_t *obj, size_t *len)
{
    const char *b64 = api_str_at(obj, "spec.request");
    char *pem;

    if (!b64 || !*b64) {
        api_cause_add(causes, "FieldValueRequired", "spec.request", "Required value");
        return NULL;
    }
    pem = k3c_base64_decode(b64, len);
    if (!pem)
        api_cause_add(causes, "FieldValueInvalid", "spec.request",
                      "Invalid value: not base64-encoded PEM data");
    return pem;
}

static void
check_request(json_t *causes, const json_t *obj)
{
    struct k3c_err err = {0};
    struct pki_csr_info info;
    size_t len = 0;
    _cleanup_free_ char *pem = request_pem(causes, obj, &len);

    if (!pem)
        return;
    if (!strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"))
        api_cause_add(causes, "FieldValueInvalid", "spec.request",
                      "Invalid value: PEM block type must be CERTIFICATE REQUEST");
    else if (pki_csr_parse(pem, len, &info, &err) < 0)
        api_cause_add(causes, "FieldValueInvalid", "spec.request", "Invalid value: %s", err.msg);
}

static void
check_certificate(json_t *causes, const json_t *obj, const json_t *old)
{
    const char *cert = api_str_at(obj, "status.certificate");
    const char *old_cert = api_str_at(old, "status.certificate");
    size_t len = 0;

    if (old_cert && *old_cert && (!cert || strcmp(cert, old_cert) != 0)) {
        api_cause_add(causes, "FieldValueForbidden", "status.certificate",
                      "Forbidden: updates may not modify existing certificate content");
        return;
    }
    if (!cert || !*cert)
        return;
    _cleanup_free_ char *pem = k3c_base64_decode(cert, &len);
    if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
        api_cause_add(causes, "FieldValueInvalid", "status.certificate",
                      "Invalid value: \"<certificate data>\": must contain at least one "
                      "CERTIFICATE PEM block");
    if (!has_condition(obj, "Approved"))
        api_cause_add(causes, "FieldValueInvalid", "status.certificate",
                      "Invalid value: \"<certificate data>\": certificate may only be set on an "
                      "approved request");
}

/* The approval conditions as a comparable string ("A" approved, "D" denied). */
static void
approval_state(const json_t *obj, char out[3])
{
    int n = 0;

    if (has_condition(obj, "Approved"))
        out[n++] = 'A';
    if (has_condition(obj, "Denied"))
        out[n++] = 'D';
    out[n] = '\0';
}

void
api_validate_csr(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *exp = api_json_path(obj, "spec.expirationSeconds");
    char now[3], before[3];

    if (old) {
        if (!json_equal(json_object_get(obj, "spec"), json_object_get(old, "spec")))
            api_cause_add(causes, "FieldValueForbidden", "spec",
                          "Forbidden: updates to spec are forbidden");
        approval_state(obj, now);
        approval_state(old, before);
        if (strcmp(now, before) != 0)
            api_cause_add(causes, "FieldValueForbidden", "status.conditions",
                          "Forbidden: Approved and Denied conditions change only through the "
                          "approval subresource");
        check_certificate(causes, obj, old);
        return;
    }
    check_request(causes, obj);
    check_signer_name(causes, api_str_at(obj, "spec.signerName"));
    check_usages(causes, api_json_path(obj, "spec.usages"));
    if (exp && (!json_is_integer(exp) || json_integer_value(exp) < CSR_MIN_SECONDS))
        api_cause_add(causes, "FieldValueInvalid", "spec.expirationSeconds",
                      "Invalid value: %lld: may not specify a duration less than 600 seconds (10 "
                      "minutes)",
                      json_is_integer(exp) ? (long long)json_integer_value(exp) : 0LL);
}

/* ---- the built-in signers ----------------------------------------------------------- */

static bool
usages_client_only(const json_t *usages, const char **bad)
{
    bool client = false;
    size_t i;
    const json_t *u;

    json_array_foreach(usages, i, u)
    {
        const char *s = api_or_empty(json_string_value(u));

        if (strcmp(s, "client auth") == 0)
            client = true;
        else if (strcmp(s, "digital signature") != 0 && strcmp(s, "key encipherment") != 0) {
            *bad = s;
            return false;
        }
    }
    if (!client)
        *bad = "(client auth missing)";
    return client;
}

/* Why the signer refuses the request (upstream's csrsigning validators), or
 * NULL when it signs. */
static const char *
signer_refuses(const char *signer, const json_t *usages, const struct pki_csr_info *info, char *why,
               size_t len)
{
    const char *bad = NULL;

    if (!usages_client_only(usages, &bad)) {
        snprintf(why, len, "invalid usage for client certificate: %s", bad);
        return why;
    }
    if (!info->common_name[0]) {
        snprintf(why, len, "subject CN is required");
        return why;
    }
    if (strcmp(signer, SIGNER_KUBELET) != 0)
        return NULL;
    if (strncmp(info->common_name, "system:node:", 12) != 0 || !info->common_name[12])
        snprintf(why, len, "subject CN must begin with \"system:node:\"");
    else if (info->n_organizations != 1 || strcmp(info->organizations[0], "system:nodes") != 0)
        snprintf(why, len, "subject O must be [\"system:nodes\"]");
    else if (info->has_sans)
        snprintf(why, len, "subjectAltNames are not allowed");
    else
        return NULL;
    return why;
}

static void
set_condition(json_t *obj, const char *type, const char *reason, const char *message)
{
    json_t *status = api_ensure_object(obj, "status");
    json_t *conds = json_object_get(status, "conditions");
    char now[32];

    k3c_time_rfc3339(time(NULL), now, sizeof(now));
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status",
                                           "True", "reason", reason, "message", message,
                                           "lastUpdateTime", now, "lastTransitionTime", now));
}

/* Signs an approved request of a built-in signer into status.certificate, or
 * marks it Failed. Other signers (and requests already issued or failed)
 * are left for their own signer. */
static void
sign_if_ours(struct api_server *srv, json_t *obj)
{
    const char *signer = api_or_empty(api_str_at(obj, "spec.signerName"));
    const json_t *exp = api_json_path(obj, "spec.expirationSeconds");
    struct k3c_err err = {0};
    struct pki_csr_info info;
    char why[256];
    size_t len = 0;
    _cleanup_free_ char *pem = NULL, *cert = NULL, *b64 = NULL;
    const char *orgs[K3C_ARRAY_SIZE(info.organizations) + 1] = {0};
    struct pki_leaf_spec spec = {.usage = PKI_USAGE_CLIENT};

    if ((strcmp(signer, SIGNER_CLIENT) != 0 && strcmp(signer, SIGNER_KUBELET) != 0) ||
        !has_condition(obj, "Approved") || has_condition(obj, "Failed") ||
        api_str_at(obj, "status.certificate"))
        return;
    pem = k3c_base64_decode(api_or_empty(api_str_at(obj, "spec.request")), &len);
    if (!pem || pki_csr_parse(pem, len, &info, &err) < 0) {
        set_condition(obj, "Failed", "SignerValidationFailure", "the request does not parse");
        return;
    }
    if (signer_refuses(signer, api_json_path(obj, "spec.usages"), &info, why, sizeof(why))) {
        set_condition(obj, "Failed", "SignerValidationFailure", why);
        return;
    }
    spec.common_name = info.common_name;
    spec.organization = info.n_organizations ? info.organizations[0] : NULL;
    for (int i = 1; i < info.n_organizations; i++)
        orgs[i - 1] = info.organizations[i];
    spec.more_organizations = orgs;
    spec.valid_seconds = CSR_MAX_SECONDS;
    if (json_is_integer(exp) && json_integer_value(exp) < CSR_MAX_SECONDS)
        spec.valid_seconds = (unsigned)json_integer_value(exp);
    if (!srv->cfg.client_ca_file || !srv->cfg.client_ca_key_file ||
        pki_sign_csr(srv->cfg.client_ca_file, srv->cfg.client_ca_key_file, pem, &spec, &cert,
                     &err) < 0) {
        log_warn("certificatesigningrequest %s: signing failed: %s", api_meta_str(obj, "name"),
                 err.msg[0] ? err.msg : "no client CA key");
        set_condition(obj, "Failed", "SigningError", "the signer could not sign the request");
        return;
    }
    b64 = k3c_base64_encode(cert, strlen(cert));
    json_object_set_new(api_ensure_object(obj, "status"), "certificate", json_string(b64));
    log_info("certificatesigningrequest %s: issued %s for CN=%s (%u s)", api_meta_str(obj, "name"),
             signer, info.common_name, spec.valid_seconds);
}

/* ---- requests ------------------------------------------------------------------------ */

/* IsAuthorizedForSignerName: verb on signers/<signerName>, or on
 * signers/<domain>/ followed by a star. */
static bool
may_for_signer(struct api_request *r, const char *verb, const char *signer)
{
    const char *slash = strchr(signer, '/');
    struct rbac_attrs a = {.verb = verb,
                           .resource_request = true,
                           .group = "certificates.k8s.io",
                           .resource = "signers",
                           .name = signer};

    if (api_authz_allows(r->srv, &r->user, &a))
        return true;
    if (!slash)
        return false;
    _cleanup_free_ char *wild = k3c_xasprintf("%.*s/*", (int)(slash - signer), signer);
    a.name = wild;
    return api_authz_allows(r->srv, &r->user, &a);
}

static int
forbid_signer(struct api_request *r, const char *verb, const char *signer)
{
    return api_reply_status_code(r, 403, "Forbidden",
                                 "certificatesigningrequests.certificates.k8s.io \"%s\" is "
                                 "forbidden: user not permitted to %s requests with signerName "
                                 "\"%s\"",
                                 r->name, verb, signer);
}

/* Only the Approved/Denied conditions of next replace those of obj. */
static void
take_approval(json_t *obj, const json_t *next)
{
    json_t *status = api_ensure_object(obj, "status");
    json_t *conds = json_array();
    size_t i;
    const json_t *c;
    char now[32];

    k3c_time_rfc3339(time(NULL), now, sizeof(now));
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *t = api_or_empty(json_string_value(json_object_get(c, "type")));

        if (strcmp(t, "Approved") != 0 && strcmp(t, "Denied") != 0)
            json_array_append(conds, (json_t *)c);
    }
    json_array_foreach(api_json_path(next, "status.conditions"), i, c)
    {
        const char *t = api_or_empty(json_string_value(json_object_get(c, "type")));
        json_t *copy;

        if (strcmp(t, "Approved") != 0 && strcmp(t, "Denied") != 0)
            continue;
        copy = json_deep_copy(c);
        if (!json_object_get(copy, "status"))
            json_object_set_new(copy, "status", json_string("True"));
        if (!json_string_value(json_object_get(copy, "lastUpdateTime")))
            json_object_set_new(copy, "lastUpdateTime", json_string(now));
        if (!json_string_value(json_object_get(copy, "lastTransitionTime")))
            json_object_set_new(copy, "lastTransitionTime", json_string(now));
        json_array_append_new(conds, copy);
    }
    json_object_set_new(status, "conditions", conds);
}

static int
approval_invalid(struct api_request *r, const json_t *obj, const json_t *old)
{
    json_t *causes = json_array();
    char now[3], before[3];

    approval_state(obj, now);
    approval_state(old, before);
    if (strcmp(now, "AD") == 0)
        api_cause_add(causes, "FieldValueInvalid", "status.conditions",
                      "Invalid value: Approved and Denied conditions are mutually exclusive");
    else if (before[0] && strcmp(now, before) != 0)
        api_cause_add(causes, "FieldValueForbidden", "status.conditions",
                      "Forbidden: updates may not remove a condition of type \"%s\"",
                      before[0] == 'A' ? "Approved" : "Denied");
    if (json_array_size(causes) == 0) {
        json_decref(causes);
        return -1;
    }
    return api_reply_invalid_take(r, "CertificateSigningRequest", r->name, causes);
}

/* PUT .../certificatesigningrequests/<name>/approval */
static int
serve_approval(struct api_request *r)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *next = api_body_object(r, &err);
    int ret;

    if (strcmp(r->method, "PUT") != 0)
        return api_reply_status_code(r, 405, "MethodNotAllowed",
                                     "the server does not allow this method on the requested "
                                     "resource");
    if ((ret = api_authorize_resource(r)) >= 0)
        return ret;
    if (!json_is_object(next))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "the body of the request is not a CertificateSigningRequest");
    for (int attempt = 0; attempt < CSR_UPDATE_ATTEMPTS; attempt++) {
        _cleanup_json_ json_t *obj = NULL, *old = NULL;
        _cleanup_free_ char *key = NULL, *text = NULL;
        struct k3c_err err = {0};
        const char *want = api_meta_str(next, "resourceVersion");
        const char *signer;
        int64_t rev = 0, new_rev = 0;
        size_t len = 0;

        old = api_read_object(r, &rev, &err);
        if (!old)
            return api_reply_store_error(r, &err);
        if (want && *want && strtoll(want, NULL, 10) != rev)
            return api_reply_status(r, K3C_E_CONFLICT, r->name, r->res->plural,
                                    "Operation cannot be fulfilled on "
                                    "certificatesigningrequests.certificates.k8s.io \"%s\": the "
                                    "object has been modified; please apply your changes to the "
                                    "latest version and try again",
                                    r->name);
        signer = api_or_empty(api_str_at(old, "spec.signerName"));
        if (!may_for_signer(r, "approve", signer))
            return forbid_signer(r, "approve", signer);
        obj = json_deep_copy(old);
        take_approval(obj, next);
        if ((ret = approval_invalid(r, obj, old)) >= 0)
            return ret;
        sign_if_ours(r->srv, obj);
        key = api_object_key(r->res, NULL, r->name);
        text = api_object_encode(obj, &len);
        if (store_update(r->srv->store, key, text, len, rev, 0, &new_rev, NULL, &err) == 0) {
            api_set_resource_version(obj, new_rev);
            return api_reply_object(r, 200, json_incref(obj));
        }
        if (err.kind != K3C_E_CONFLICT)
            return api_reply_store_error(r, &err);
    }
    return api_reply_status(r, K3C_E_CONFLICT, r->name, r->res->plural,
                            "certificatesigningrequest %s changed too often; try again", r->name);
}

/* A /status write that sets a certificate needs `sign` on the signer. */
static int
check_status_write(struct api_request *r)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *old = NULL;
    const char *signer;

    if (!r->body.data || !memmem(r->body.data, r->body.len, "certificate", 11))
        return -1;
    old = api_read_object(r, NULL, &err);
    if (!old)
        return -1; /* the generic path answers */
    signer = api_or_empty(api_str_at(old, "spec.signerName"));
    if (may_for_signer(r, "sign", signer))
        return -1;
    return forbid_signer(r, "sign", signer);
}

void
api_csr_admit_create(struct api_request *r, json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    json_t *groups = json_array();

    json_object_set_new(spec, "username", json_string(r->user.name));
    for (int i = 0; i < r->user.n_groups; i++)
        json_array_append_new(groups, json_string(r->user.groups[i]));
    json_object_set_new(spec, "groups", groups);
    json_object_del(spec, "uid");
    json_object_del(spec, "extra");
    if (r->user.uid[0])
        json_object_set_new(spec, "uid", json_string(r->user.uid));
    if (r->user.n_extra)
        json_object_set_new(spec, "extra", api_user_extra_json(&r->user));
}

int
api_csr_serve(struct api_request *r)
{
    const char *rest;
    char name[254];
    int n = 0;

    if (strncmp(r->url, CSR_PREFIX, strlen(CSR_PREFIX)) != 0)
        return -1;
    rest = r->url + strlen(CSR_PREFIX);
    if (sscanf(rest, "/%253[^/]/%n", name, &n) != 1 || n == 0)
        return -1;
    if (strcmp(rest + n, "approval") != 0 &&
        !(strcmp(rest + n, "status") == 0 &&
          (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "PATCH") == 0)))
        return -1;
    r->res = api_resource_find("certificates.k8s.io", "v1", "certificatesigningrequests");
    if (!r->res)
        return -1;
    free(r->name);
    free(r->subresource);
    r->name = k3c_xstrdup(name);
    r->subresource = k3c_xstrdup(rest + n);
    if (strcmp(r->subresource, "approval") == 0)
        return serve_approval(r);
    /* /status: the generic path parses the URL again and authorizes */
    {
        int ret = check_status_write(r);

        free(r->name);
        free(r->subresource);
        r->name = r->subresource = NULL;
        r->res = NULL;
        return ret;
    }
}
