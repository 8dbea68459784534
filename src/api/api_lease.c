/* SPDX-License-Identifier: Apache-2.0
 * api_lease.c - objects that expire (Events, --event-ttl) are written under
 * an etcd lease, as kube-apiserver does. One lease per time bucket is shared
 * by every object written in that bucket, so a busy cluster holds a handful
 * of leases, not one per Event; etcd deletes the objects with their lease. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <string.h>

#define LEASE_BUCKET_MIN_S 1
#define LEASE_BUCKET_MAX_S 60 /* kube-apiserver's leaseReuseDurationSeconds */

void
api_lease_bucket(int64_t ttl_s, int64_t now_s, int64_t *bucket_out, int64_t *lease_ttl_out)
{
    int64_t width = ttl_s / 20; /* 5% of the TTL */

    if (width < LEASE_BUCKET_MIN_S)
        width = LEASE_BUCKET_MIN_S;
    if (width > LEASE_BUCKET_MAX_S)
        width = LEASE_BUCKET_MAX_S;
    *bucket_out = now_s / width;
    *lease_ttl_out = ttl_s + width;
}

int
api_lease_for(struct api_server *srv, const struct api_resource *res, int64_t *lease_out,
              struct k3c_err *err)
{
    int64_t bucket, ttl, id = 0;

    *lease_out = 0;
    if (!res->ttl_lease || srv->event_ttl_s <= 0)
        return 0;
    api_lease_bucket(srv->event_ttl_s, k3c_wall_ms() / 1000, &bucket, &ttl);
    pthread_mutex_lock(&srv->lease_lock);
    if (srv->lease_bucket == bucket && srv->lease_id != 0)
        id = srv->lease_id;
    pthread_mutex_unlock(&srv->lease_lock);
    if (id) {
        *lease_out = id;
        return 0;
    }
    /* Granted outside the lock: two writers at a bucket's start may both
     * grant; the first one cached wins and the other lease expires empty. */
    if (store_lease_grant(srv->store, ttl, &id, err) < 0)
        return k3c_err_wrap(err, "lease for %s", res->plural);
    pthread_mutex_lock(&srv->lease_lock);
    if (srv->lease_bucket == bucket && srv->lease_id != 0) {
        id = srv->lease_id;
    } else {
        srv->lease_bucket = bucket;
        srv->lease_id = id;
        log_debug("lease %" PRId64 " (TTL %" PRId64 " s) for bucket %" PRId64, id, ttl, bucket);
    }
    pthread_mutex_unlock(&srv->lease_lock);
    *lease_out = id;
    return 0;
}

bool
api_lease_lost(struct api_server *srv, int64_t lease, const struct k3c_err *err)
{
    if (lease == 0 || err->kind != K3C_E_NOT_FOUND || !strstr(err->msg, "lease not found"))
        return false;
    pthread_mutex_lock(&srv->lease_lock);
    if (srv->lease_id == lease) {
        srv->lease_id = 0;
        log_info("lease %" PRId64
                 " is gone from etcd (a restored or reset cluster?); granting anew",
                 lease);
    }
    pthread_mutex_unlock(&srv->lease_lock);
    return true;
}
