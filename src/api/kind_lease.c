/* SPDX-License-Identifier: Apache-2.0
 * kind_lease.c - coordination.k8s.io Lease: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/coordination/lease/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_lease[] = {
    COL_NAME,
    {"Holder", "string", "",
     "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
     "Leader Election is used, the holder identity must be equal to the elected "
     "LeaseCandidate.metadata.name field.",
     0},
    COL_AGE,
    COL_END,
};

json_t *
api_row_lease(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o]", api_name_cell(obj),
                     api_or_else(api_str_at(obj, "spec.holderIdentity"), ""),
                     api_age_cell(obj, now_s));
}

void
api_validate_lease(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *duration = api_json_path(obj, "spec.leaseDurationSeconds");

    (void)old;
    if (json_is_integer(duration) && json_integer_value(duration) <= 0)
        api_cause_invalid_int(causes, "spec.leaseDurationSeconds", json_integer_value(duration),
                              "must be greater than 0");
    api_check_nonnegative(causes, obj, "spec.leaseTransitions");
}
