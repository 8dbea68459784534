/* SPDX-License-Identifier: Apache-2.0
 * store_alarm.c - etcd's alarms (NOSPACE, CORRUPT) as the store reports
 * them: the API's /readyz is unready while one is raised, because etcd then
 * refuses every write. */
#include "base/cleanup.h"
#include "base/util.h"
#include "store/store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
store_alarms(struct store *s, char *out, size_t len, struct k3c_err *err)
{
    _cleanup_json_ json_t *resp = NULL;
    const json_t *a;
    size_t i, used = 0;
    int n = 0;

    /* Once, not retried: /readyz must answer within the request timeout. */
    resp = store_call_once(s, "/v3/maintenance/alarm", "{\"action\":\"GET\"}", false, err);
    if (!resp)
        return k3c_err_wrap(err, "read etcd alarms");
    if (len > 0)
        out[0] = '\0';
    json_array_foreach(json_object_get(resp, "alarms"), i, a)
    {
        const char *kind = json_string_value(json_object_get(a, "alarm"));
        /* A uint64, sent as a decimal string; printed as etcdctl does, in hex. */
        const char *id = json_string_value(json_object_get(a, "memberID"));
        unsigned long long member = id ? strtoull(id, NULL, 10) : 0;

        if (!kind || strcmp(kind, "NONE") == 0)
            continue;
        if (used < len) {
            int w = snprintf(out + used, len - used, "%s%s on member %llx", n ? ", " : "", kind,
                             member);
            used += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}
