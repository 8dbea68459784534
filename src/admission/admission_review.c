/* SPDX-License-Identifier: Apache-2.0
 * admission_review.c - AdmissionReview v1 (admission.k8s.io/v1): the
 * request a webhook gets, and the checks on what it answers (upstream's
 * webhook/request.VerifyAdmissionResponse). A webhook is a pod: its reply
 * is untrusted input (tests/fuzz/fuzz_admission_review.c). Pure. */
#include "admission/admission-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* What a reply may hold: one patch and a few warnings of bounded size. */
#define MAX_REPLY_BYTES (8 * 1024 * 1024)
#define MAX_WARNINGS    64

static json_t *
group_version_kind(const struct admission_attrs *a)
{
    return json_pack("{s:s, s:s, s:s}", "group", a->kind_group ? a->kind_group : a->group,
                     "version", a->kind_version ? a->kind_version : a->version, "kind",
                     a->kind ? a->kind : "");
}

static json_t *
group_version_resource(const struct admission_attrs *a)
{
    return json_pack("{s:s, s:s, s:s}", "group", a->group, "version", a->version, "resource",
                     a->resource);
}

json_t *
admission_review_new(const char *uid, const struct admission_attrs *a, const char *name,
                     const char *user, const json_t *groups, const json_t *obj, const json_t *old,
                     const json_t *options)
{
    json_t *req = json_object();

    json_object_set_new(req, "uid", json_string(uid));
    json_object_set_new(req, "kind", group_version_kind(a));
    json_object_set_new(req, "resource", group_version_resource(a));
    json_object_set_new(req, "requestKind", group_version_kind(a));
    json_object_set_new(req, "requestResource", group_version_resource(a));
    if (a->subresource[0]) {
        json_object_set_new(req, "subResource", json_string(a->subresource));
        json_object_set_new(req, "requestSubResource", json_string(a->subresource));
    }
    if (name && *name)
        json_object_set_new(req, "name", json_string(name));
    if (a->namespace[0])
        json_object_set_new(req, "namespace", json_string(a->namespace));
    json_object_set_new(req, "operation", json_string(admission_op_name(a->op)));
    json_object_set_new(req, "userInfo",
                        json_pack("{s:s, s:o}", "username", user ? user : "", "groups",
                                  groups ? json_deep_copy(groups) : json_array()));
    json_object_set_new(req, "object", obj ? json_deep_copy(obj) : json_null());
    json_object_set_new(req, "oldObject", old ? json_deep_copy(old) : json_null());
    json_object_set_new(req, "dryRun", json_boolean(a->dry_run));
    if (options)
        json_object_set_new(req, "options", json_deep_copy(options));
    return json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                     "AdmissionReview", "request", req);
}

void
admission_response_fini(struct admission_response *resp)
{
    json_decref(resp->patch);
    json_decref(resp->warnings);
    memset(resp, 0, sizeof(*resp));
}

static int
read_status(const json_t *st, struct admission_response *out, struct k3c_err *err)
{
    const json_t *code = json_object_get(st, "code");
    const json_t *msg = json_object_get(st, "message");
    const json_t *reason = json_object_get(st, "reason");

    if (!st || json_is_null(st))
        return 0;
    if (!json_is_object(st))
        return k3c_err_set(err, K3C_E_INVALID, "response.status is not an object");
    if (code && !json_is_null(code)) {
        if (!json_is_integer(code) || json_integer_value(code) < 0 ||
            json_integer_value(code) > 599)
            return k3c_err_set(err, K3C_E_INVALID, "response.status.code is not an HTTP status");
        out->code = (unsigned)json_integer_value(code);
    }
    if (json_is_string(msg))
        snprintf(out->message, sizeof(out->message), "%s", json_string_value(msg));
    if (json_is_string(reason))
        snprintf(out->reason, sizeof(out->reason), "%s", json_string_value(reason));
    return 0;
}

static int
read_patch(const json_t *resp, struct admission_response *out, struct k3c_err *err)
{
    const json_t *patch = json_object_get(resp, "patch");
    const json_t *type = json_object_get(resp, "patchType");
    _cleanup_free_ char *raw = NULL;
    json_error_t jerr;
    size_t len = 0;

    if ((!patch || json_is_null(patch)) && (!type || json_is_null(type)))
        return 0;
    if (!json_is_string(type) || strcmp(json_string_value(type), "JSONPatch") != 0)
        return k3c_err_set(err, K3C_E_INVALID, "expected patchType JSONPatch, got \"%s\"",
                           json_is_string(type) ? json_string_value(type) : "");
    if (!json_is_string(patch))
        return k3c_err_set(err, K3C_E_INVALID, "response.patch is not a base64 string");
    raw = k3c_base64_decode(json_string_value(patch), &len);
    if (!raw)
        return k3c_err_set(err, K3C_E_INVALID, "response.patch is not valid base64");
    out->patch = json_loadb(raw, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(out->patch)) {
        json_decref(out->patch);
        out->patch = NULL;
        return k3c_err_set(err, K3C_E_INVALID, "response.patch is not a JSON patch (an array)");
    }
    return 0;
}

static int
read_warnings(const json_t *resp, struct admission_response *out, struct k3c_err *err)
{
    const json_t *w = json_object_get(resp, "warnings");
    size_t i;
    const json_t *v;

    if (!w || json_is_null(w))
        return 0;
    if (!json_is_array(w))
        return k3c_err_set(err, K3C_E_INVALID, "response.warnings is not a list");
    out->warnings = json_array();
    json_array_foreach(w, i, v)
    {
        if (!json_is_string(v))
            return k3c_err_set(err, K3C_E_INVALID, "response.warnings[%zu] is not a string", i);
        /* Blank warnings say nothing; past the limit they are dropped. */
        if (json_string_length(v) > 0 && json_array_size(out->warnings) < MAX_WARNINGS)
            json_array_append(out->warnings, (json_t *)v);
    }
    return 0;
}

int
admission_response_parse(const char *body, size_t len, const char *uid,
                         struct admission_response *out, struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = NULL;
    const json_t *resp, *allowed;
    const char *api_version, *kind, *got_uid;
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    if (len > MAX_REPLY_BYTES)
        return k3c_err_set(err, K3C_E_INVALID, "the response is larger than %d bytes",
                           MAX_REPLY_BYTES);
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc))
        return k3c_err_set(err, K3C_E_INVALID, "the response is not a JSON object: %s",
                           doc ? "not an object" : jerr.text);
    api_version = json_string_value(json_object_get(doc, "apiVersion"));
    kind = json_string_value(json_object_get(doc, "kind"));
    if (!api_version || !kind || strcmp(api_version, "admission.k8s.io/v1") != 0 ||
        strcmp(kind, "AdmissionReview") != 0)
        return k3c_err_set(err, K3C_E_INVALID,
                           "expected webhook response of admission.k8s.io/v1, "
                           "Kind=AdmissionReview, got %s, Kind=%s",
                           api_version ? api_version : "", kind ? kind : "");
    resp = json_object_get(doc, "response");
    if (!json_is_object(resp))
        return k3c_err_set(err, K3C_E_INVALID, "webhook response was absent");
    got_uid = json_string_value(json_object_get(resp, "uid"));
    if (!got_uid || strcmp(got_uid, uid) != 0)
        return k3c_err_set(err, K3C_E_INVALID, "expected response.uid=\"%s\", got \"%s\"", uid,
                           got_uid ? got_uid : "");
    allowed = json_object_get(resp, "allowed");
    if (!json_is_boolean(allowed))
        return k3c_err_set(err, K3C_E_INVALID, "response.allowed is not a boolean");
    out->allowed = json_is_true(allowed);
    if (read_status(json_object_get(resp, "status"), out, err) < 0 ||
        read_patch(resp, out, err) < 0 || read_warnings(resp, out, err) < 0) {
        admission_response_fini(out);
        return -1;
    }
    return 0;
}
