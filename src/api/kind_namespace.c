/* SPDX-License-Identifier: Apache-2.0
 * kind_namespace.c - Namespace: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/namespace/strategy.go (Kubernetes 1.32).
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

const struct api_column api_columns_namespace[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the namespace", 0},
    COL_AGE,
    COL_END,
};

json_t *
api_row_namespace(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o]", api_name_cell(obj),
                     api_or_else(api_str_at(obj, "status.phase"), ""), api_age_cell(obj, now_s));
}

void
api_defaults_namespace(json_t *obj)
{
    json_t *meta = api_ensure_object(obj, "metadata");
    const char *name = api_str_at(meta, "name");

    if (!api_is_empty(name))
        json_object_set_new(api_ensure_object(meta, "labels"), "kubernetes.io/metadata.name",
                            json_string(name));
    api_default_take(api_ensure_object(obj, "spec"), "finalizers", json_pack("[s]", "kubernetes"));
    api_default_take(api_ensure_object(obj, "status"), "phase", json_string("Active"));
}
