/* SPDX-License-Identifier: Apache-2.0
 * legacytoken.c - upstream's token controller for legacy service-account
 * token Secrets (pkg/controller/serviceaccount/tokens_controller.go), only
 * for Secrets a user creates: type kubernetes.io/service-account-token with
 * the annotation kubernetes.io/service-account.name. It fills data.token (a
 * non-expiring legacy JWT, api_legacy_token_sign), data["ca.crt"] and
 * data.namespace and records the service account's uid in the annotation
 * kubernetes.io/service-account.uid; it deletes the Secret when the service
 * account is missing, has another uid, or is deleted. Keys are "ns/name"
 * of Secrets. */
#define LOG_COMPONENT "legacy-token"
#include "controllers/controllers.h"

#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "controllers/ctl-internal.h"

#include <string.h>

#define TOKEN_TYPE  "kubernetes.io/service-account-token"
#define SA_NAME_ANN "kubernetes.io/service-account.name"
#define SA_UID_ANN  "kubernetes.io/service-account.uid"

static bool
is_token_secret(const json_t *obj)
{
    const char *type = json_string_value(json_object_get(obj, "type"));

    return type && strcmp(type, TOKEN_TYPE) == 0;
}

static void
on_secret(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED && is_token_secret(obj))
        ctl_enqueue_object(c, obj);
}

struct sa_ref {
    struct ctl *c;
    const char *name;
};

static bool
enqueue_if_names(void *ud, const json_t *secret)
{
    const struct sa_ref *ref = ud;
    const char *sa = ctl_annotation(secret, SA_NAME_ANN);

    if (is_token_secret(secret) && sa && strcmp(sa, ref->name) == 0)
        ctl_enqueue_object(ref->c, secret);
    return true;
}

/* A service account changed or went: its token Secrets are looked at again. */
static void
on_serviceaccount(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const json_t *meta = json_object_get(obj ? obj : old, "metadata");
    struct sa_ref ref = {c, json_string_value(json_object_get(meta, "name"))};
    const char *ns = json_string_value(json_object_get(meta, "namespace"));

    (void)ev;
    if (ref.name && ns)
        ctl_list(c, "secrets", ns, NULL, enqueue_if_names, &ref);
}

/* The service account from the cache, else from the API (the cache may not
 * have one created a moment ago: upstream's fetchOnCacheMiss). 0 with *out
 * NULL when there is none. */
static int
service_account(struct ctl *c, const char *ns, const char *name, json_t **out, struct k3c_err *err)
{
    _cleanup_free_ char *path = NULL;
    long code;

    *out = ctl_get(c, "serviceaccounts", ns, name);
    if (*out)
        return 0;
    path = k3c_xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s", ns, name);
    code = ctl_api(c, "GET", path, NULL, NULL, out, err);
    if (code == 200)
        return 0;
    json_decref(*out);
    *out = NULL;
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return -1;
}

static bool
data_is(const json_t *data, const char *field, const char *b64)
{
    const char *have = json_string_value(json_object_get(data, field));

    return have && strcmp(have, b64) == 0;
}

static int
delete_secret(struct ctl *c, const char *ns, const char *name, const char *why, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/secrets/%s", ns, name);
    long code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);

    if (code == 200 || code == 202 || code == 404) {
        k3c_err_clear(err);
        log_info("(%s/%s) deleted: %s", ns, name, why);
        return 0;
    }
    return -1;
}

static int
sync_secret(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[256], name[256];
    _cleanup_json_ json_t *secret = NULL, *sa = NULL;
    _cleanup_free_ char *pem = NULL, *ca_b64 = NULL, *ns_b64 = NULL, *token = NULL;
    _cleanup_free_ char *token_b64 = NULL, *path = NULL;
    const char *sa_name, *want_uid, *uid;
    json_t *data, *meta;
    long code;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    secret = ctl_get(c, "secrets", ns, name);
    if (!secret || !is_token_secret(secret) || ctl_being_deleted(secret) ||
        !(sa_name = ctl_annotation(secret, SA_NAME_ANN)) || !*sa_name)
        return 0;
    if (service_account(c, ns, sa_name, &sa, err) < 0)
        return -1;
    want_uid = ctl_annotation(secret, SA_UID_ANN);
    uid = json_string_value(json_object_get(json_object_get(sa, "metadata"), "uid"));
    if (!sa || !uid || (want_uid && *want_uid && strcmp(want_uid, uid) != 0))
        return delete_secret(
            c, ns, name,
            sa ? "its service account has another uid" : "its service account does not exist", err);
    if (k3c_read_file(ctl_manager_config(ctl_manager(c))->ca_file, &pem, NULL, err) < 0)
        return -1;
    ca_b64 = k3c_base64_encode(pem, strlen(pem));
    ns_b64 = k3c_base64_encode(ns, strlen(ns));
    data = json_object_get(secret, "data");
    if (json_string_length(json_object_get(data, "token")) > 0 && data_is(data, "ca.crt", ca_b64) &&
        data_is(data, "namespace", ns_b64) && want_uid && strcmp(want_uid, uid) == 0)
        return 0;
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(secret, "data", data);
    }
    if (json_string_length(json_object_get(data, "token")) == 0) {
        token =
            api_legacy_token_sign(ctl_manager_server(ctl_manager(c)), ns, sa_name, uid, name, err);
        if (!token)
            return -1;
        token_b64 = k3c_base64_encode(token, strlen(token));
        json_object_set_new(data, "token", json_string(token_b64));
    }
    json_object_set_new(data, "ca.crt", json_string(ca_b64));
    json_object_set_new(data, "namespace", json_string(ns_b64));
    meta = json_object_get(secret, "metadata");
    if (!json_is_object(json_object_get(meta, "annotations")))
        json_object_set_new(meta, "annotations", json_object());
    json_object_set_new(json_object_get(meta, "annotations"), SA_UID_ANN, json_string(uid));
    path = k3c_xasprintf("/api/v1/namespaces/%s/secrets/%s", ns, name);
    code = ctl_api(c, "PUT", path, NULL, secret, NULL, err);
    if (code == 200) {
        log_info("(%s) token of service account %s written", key, sa_name);
        return 0;
    }
    if (code == 404) { /* gone meanwhile */
        k3c_err_clear(err);
        return 0;
    }
    return -1; /* a conflict is retried with the newer object */
}

static void
start(struct ctl *c)
{
    ctl_enqueue_all(c, "secrets");
}

static const struct ctl_watch watches[] = {
    {"secrets", on_secret},
    {"serviceaccounts", on_serviceaccount},
    {NULL, NULL},
};

const struct ctl_def ctl_def_legacy_token = {
    .name = "legacy-serviceaccount-token",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_secret,
    .start = start,
};
