/* SPDX-License-Identifier: Apache-2.0
 * csrcleaner.c - upstream's csrcleaner (issue #15): CertificateSigningRequests
 * do not pile up. A request is deleted 1 h after it was approved, denied or
 * failed (from that condition's lastUpdateTime), or 24 h after creation
 * while still pending. Upstream also deletes an issued request whose
 * certificate expired; k3c's signers issue at least 10 minutes and approved
 * requests go after 1 h anyway, so only certificates shorter than that stay
 * listed a little longer. Keys are CSR names. */
#define LOG_COMPONENT "csrcleaner"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>
#include <time.h>

#define CSR_DONE_TTL_S    3600
#define CSR_PENDING_TTL_S (24 * 3600)

int64_t
csr_cleanup_at(const json_t *csr)
{
    const json_t *conds = json_object_get(json_object_get(csr, "status"), "conditions");
    const char *created =
        json_string_value(json_object_get(json_object_get(csr, "metadata"), "creationTimestamp"));
    int64_t at = -1;
    size_t i;
    const json_t *c;

    json_array_foreach(conds, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        const char *when = json_string_value(json_object_get(c, "lastUpdateTime"));
        int64_t t;

        if (!type || (strcmp(type, "Approved") != 0 && strcmp(type, "Denied") != 0 &&
                      strcmp(type, "Failed") != 0))
            continue;
        if (st && strcmp(st, "True") != 0)
            continue;
        t = when ? k3c_time_parse_rfc3339(when) : -1;
        if (t < 0 && created)
            t = k3c_time_parse_rfc3339(created);
        if (t >= 0 && (at < 0 || t + CSR_DONE_TTL_S < at))
            at = t + CSR_DONE_TTL_S;
    }
    if (at < 0 && created && k3c_time_parse_rfc3339(created) >= 0)
        at = k3c_time_parse_rfc3339(created) + CSR_PENDING_TTL_S;
    return at;
}

static void
on_csr(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev != CTL_DELETED)
        ctl_enqueue_object(c, obj);
}

static int
sync_csr(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *csr = ctl_get(c, "certificatesigningrequests", NULL, key);
    _cleanup_free_ char *path = NULL;
    int64_t at, now = (int64_t)time(NULL);
    long code;

    if (!csr || ctl_being_deleted(csr))
        return 0;
    at = csr_cleanup_at(csr);
    if (at < 0)
        return 0;
    if (at > now) {
        ctl_enqueue_after(c, key, (at - now) * 1000 + 1000);
        return 0;
    }
    path = k3c_xasprintf("/apis/certificates.k8s.io/v1/certificatesigningrequests/%s", key);
    code = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
    if (code == 200 || code == 202 || code == 404) {
        k3c_err_clear(err);
        log_info("deleted certificatesigningrequest %s (expired)", key);
        return 0;
    }
    return -1;
}

static void
start(struct ctl *c)
{
    ctl_enqueue_all(c, "certificatesigningrequests");
}

static const struct ctl_watch watches[] = {
    {"certificatesigningrequests", on_csr},
    {NULL, NULL},
};

const struct ctl_def ctl_def_csrcleaner = {
    .name = "csrcleaner",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_csr,
    .start = start,
};
