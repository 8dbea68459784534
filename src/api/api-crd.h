/* SPDX-License-Identifier: Apache-2.0
 * api-crd.h - what the CustomResourceDefinition files share (api_crd.c: the
 * registry of served custom resources and its controller; api_crd_serve.c:
 * their rows, schemas, writes and OpenAPI documents). docs/crd.md. */
#ifndef K3C_API_CRD_H
#define K3C_API_CRD_H

#include "api/api-internal.h"

#include <stdatomic.h>

/* One served group/version/plural of a CRD, as one generation of the CRD's
 * spec defines it. Immutable once published but for `active`; kept until
 * the server stops (requests may still hold the pointer), so a CRD update
 * publishes new entries and retires the old ones. */
struct crd_entry {
    struct api_resource res; /* first: an api_resource pointer to a custom resource is ours */
    char *crd_name;          /* "certificates.cert-manager.io" */
    char *strings[6];        /* group, version, kind, list_kind, plural, singular (owned) */
    char **short_names, **categories, **field_selectors;
    char *store_dir;   /* "<group>/<plural>" */
    json_t *schema;    /* the served schema: the version's + apiVersion, kind, metadata, gvk */
    char *schema_name; /* "io.cert-manager.v1.Certificate" */
    json_t *printer_columns;    /* additionalPrinterColumns (NULL: Age only) */
    struct api_column *columns; /* Name + the printer columns */
    char *deprecation;          /* the Warning for a deprecated version, or NULL */
    json_t *scale;              /* subresources.scale (its paths), or NULL */
    struct watch_cache *wc;     /* shared by the CRD's versions (borrowed) */
    atomic_bool active;
    _Atomic(struct crd_entry *) next;
};

/* The entry behind a resource pointer, or NULL for a built-in. */
struct crd_entry *crd_entry_of(const struct api_resource *r);

/* api_crd_serve.c */
json_t *crd_row(const struct crd_entry *e, const json_t *obj, int64_t now_s);
/* Builds e->schema, e->schema_name and e->columns from a CRD version. */
void crd_entry_build_schema(struct crd_entry *e, const json_t *version);
/* A JSONPath (".spec.a", ".status.conditions[?(@.type==\"Ready\")].status",
 * "[0]", "[*]", "['k']") over obj: every value found, appended to out. */
void crd_jsonpath(const json_t *obj, const char *path, json_t *out);

#endif
