/* SPDX-License-Identifier: Apache-2.0
 * schema.h - structural schemas (apiextensions.k8s.io/v1 JSONSchemaProps, as
 * a CustomResourceDefinition version's openAPIV3Schema) applied to objects:
 * defaulting and validation with upstream's messages. Pure: no I/O, no
 * globals; any thread. Pruning of unknown fields is the API server's
 * (api_openapi_unknown_fields walks the same schema). docs/crd.md. */
#ifndef K3C_SCHEMA_H
#define K3C_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>

/* Fills every absent property that has a "default" in schema, at every
 * level of obj (in place), as upstream's structural defaulting does; a null
 * where the schema is not nullable and has a default becomes the default. */
void schema_default(const json_t *schema, json_t *obj);

/* Validates obj against schema and appends one cause per problem to causes
 * (a JSON array of {"reason","message","field"} as in a 422 Status):
 * types, formats, enum, pattern, minimum/maximum (exclusive), lengths,
 * items and properties counts, required, nullable, allOf/anyOf/oneOf/not,
 * x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields,
 * x-kubernetes-embedded-resource and the uniqueness of list-type set/map
 * items. With root set, the top-level apiVersion, kind and metadata are the
 * API server's to check and are skipped here. x-kubernetes-validations (CEL)
 * rules are not evaluated. Returns the number of causes added. */
size_t schema_validate(const json_t *schema, const json_t *obj, bool root, json_t *causes);

/* Whether a value of the given OpenAPI format ("date-time", "uuid",
 * "int32", ...) is well formed; unknown formats are. */
bool schema_format_ok(const char *format, const json_t *v);

#endif
