/* SPDX-License-Identifier: Apache-2.0
 * admission-internal.h - the pure parts of the webhook dispatcher, tested
 * on their own (tests/unit/test_admission.c, tests/fuzz/fuzz_admission_review.c):
 * which webhooks a request matches (admission_match.c), the AdmissionReview
 * sent and the reply read back (admission_review.c), the HTTPS call
 * (admission_call.c). */
#ifndef K3C_ADMISSION_INTERNAL_H
#define K3C_ADMISSION_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "admission/admission.h"
#include "base/err.h"

/* What a request is, as rules see it. */
struct admission_attrs {
    enum admission_op op;
    const char *group;       /* "" for the core group */
    const char *version;     /* "v1" */
    const char *resource;    /* "pods" */
    const char *subresource; /* "" for the main resource */
    const char *namespace;   /* "" for cluster-scoped objects */
    /* The kind of the object sent (a subresource's: Scale, PodExecOptions),
     * with its group and version; NULL group/version: the resource's. */
    const char *kind, *kind_group, *kind_version;
    /* Every version the server serves this group and resource in (for
     * matchPolicy Equivalent), NULL-terminated; NULL: only version. */
    const char *const *served_versions;
    bool dry_run;
};

/* "CREATE", "UPDATE", "DELETE", "CONNECT". */
const char *admission_op_name(enum admission_op op);

/* One RuleWithOperations against the request (operations, apiGroups,
 * apiVersions, resources with "res/sub" and "*", scope), the request's
 * resource taken in version (NULL: a->version). */
bool admission_rule_matches(const json_t *rule, const struct admission_attrs *a,
                            const char *version);
/* Whether any rule of a webhook matches: exactly, or with matchPolicy
 * Equivalent (the default) through another version of the same group and
 * resource. */
bool admission_rules_match(const json_t *hook, const struct admission_attrs *a);
/* objectSelector: matches when the new or the old object's labels match
 * (an absent object, or one without metadata, does not); an empty or
 * absent selector matches. */
bool admission_object_selector_matches(const json_t *hook, const json_t *obj, const json_t *old);
/* namespaceSelector against labels (the namespace's, or a Namespace
 * object's own); an empty or absent selector matches. */
bool admission_namespace_selector_matches(const json_t *hook, const json_t *labels);

/* What a webhook answered. */
struct admission_response {
    bool allowed;
    json_t *patch;    /* the decoded JSONPatch operations, or NULL */
    json_t *warnings; /* strings, or NULL */
    unsigned code;    /* status.code (0: none given) */
    char reason[64];
    char message[512];
};

/* The AdmissionReview v1 request for a call (caller json_decref()s).
 * user is "name" plus groups (a JSON array of strings, borrowed); the kind
 * is a->kind in a->kind_group/kind_version; obj/old may be NULL; options is
 * the operation's Create/Update/DeleteOptions (borrowed, may be NULL). */
json_t *admission_review_new(const char *uid, const struct admission_attrs *a, const char *name,
                             const char *user, const json_t *groups, const json_t *obj,
                             const json_t *old, const json_t *options);
/* Reads a webhook's reply: an AdmissionReview v1 whose response.uid is
 * uid, allowed a boolean, patch (with patchType JSONPatch) base64 of a JSON
 * array, warnings strings. Anything else is INVALID with the reason in err
 * (the webhook's call then fails under its failurePolicy). A webhook may
 * send anything: every field is checked and sizes are bounded. */
int admission_response_parse(const char *body, size_t len, const char *uid,
                             struct admission_response *out, struct k3c_err *err);
void admission_response_fini(struct admission_response *resp);

/* Where and how to call: base ("https://host:port"), path ("/validate"),
 * the host name the certificate must carry, and for a Service the address
 * to connect to instead of resolving that name. */
struct admission_target {
    char base[320];
    char path[512];
    char resolve[320];  /* "host:port:address" for CURLOPT_RESOLVE, or "" */
    const char *ca_pem; /* caBundle decoded (PEM), or NULL: system trust */
    size_t ca_len;
    int timeout_s;
};

/* POSTs review to target; *reply gets the body of a 200 (caller free()s).
 * UNAVAILABLE/TIMEOUT/INTERNAL with the reason in err otherwise. */
int admission_call(const struct admission_target *t, const json_t *review, char **reply,
                   size_t *reply_len, struct k3c_err *err);
/* Splits "https://host[:port]/path" into t->base and t->path. INVALID. */
int admission_target_from_url(const char *url, struct admission_target *t, struct k3c_err *err);

#endif
