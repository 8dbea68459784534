/* SPDX-License-Identifier: Apache-2.0
 * api-patch.h - the engines behind PATCH: RFC 6902 JSON Patch and Kubernetes
 * strategic merge patch. Pure functions on jansson values: inputs are
 * borrowed and never modified, the result is a new value. Thread: any. */
#ifndef K3C_API_PATCH_H
#define K3C_API_PATCH_H

#include <jansson.h>

#include "base/err.h"

/* How deep a strategic merge patch may nest (maps and lists both count).
 * Recursion follows the patch, so this bounds the stack for untrusted
 * input; 128 leaves room for CRDs with deeply nested openAPIV3Schema. */
#define API_PATCH_MAX_DEPTH 128
/* kube-apiserver refuses JSON patches with more operations (it answers 413;
 * we answer 400). */
#define API_JSON_PATCH_MAX_OPS 10000
/* Total bytes all "copy" operations of one patch may add (upstream's JSONPatchMaxCopyBytes). */
#define API_JSON_PATCH_MAX_COPY_BYTES (3 * 1024 * 1024)

/* Applies an RFC 6902 JSON Patch (ops: an array of operation objects) to a
 * copy of doc. Returns the patched document (caller json_decref()s), or NULL
 * with err set:
 *   K3C_E_BAD_REQUEST  ops is not an array of objects, too many operations,
 *                      an unknown "op", a missing "path"/"from"/"value", or a
 *                      pointer that is not RFC 6901 ("a/b", "~2").
 *   K3C_E_INVALID      the patch does not apply: a path that does not exist,
 *                      an array index out of bounds or not a number, a failed
 *                      "test", removing the root, moving a value into its own
 *                      child. kube-apiserver answers these 422 as well.
 * Operations apply in order; the first failure aborts the whole patch.
 * "test" compares numbers by value (1 == 1.0) and objects without regard to
 * member order. Duplicate members in an operation (RFC 6902 A.13) must be
 * rejected by the body decoder (JSON_REJECT_DUPLICATES). */
json_t *api_json_patch(const json_t *doc, const json_t *ops, struct k3c_err *err);

/* Resolves a "$ref" such as "#/components/schemas/io.k8s.api.core.v1.PodSpec"
 * to its schema object (borrowed, must outlive the call), or NULL. */
typedef const json_t *(*api_schema_resolve_fn)(const char *ref, void *ud);

/* Applies a strategic merge patch (k8s.io/apimachinery strategicpatch,
 * apply side, as kube-apiserver runs it) to a copy of original (an object;
 * NULL counts as {}). schema is the OpenAPI v3 schema of the object's type
 * (components.schemas[...] as kube-apiserver publishes it), followed through
 * "properties", "additionalProperties", "items", "$ref" and "allOf":[{"$ref"}]
 * with resolve(ref, ud). Field behaviour comes only from
 * "x-kubernetes-patch-strategy" (merge, replace, retainKeys, or a comma list)
 * and "x-kubernetes-patch-merge-key", as upstream: a list with only
 * "x-kubernetes-list-type": "map" is replaced, not merged, because clients
 * compute their patches the same way. With schema NULL (unknown types) maps
 * merge, lists are replaced and null deletes, like a JSON merge patch plus
 * directives.
 *
 * Semantics (upstream's, checked against its tests):
 *  - null deletes a key; maps merge recursively;
 *  - "$patch": "replace" in a map replaces it; "$patch": "delete" in a map
 *    leaves {} where the map existed and adds nothing where it did not;
 *  - "$retainKeys": [...] drops the other keys of the map (every non-null key
 *    of the patch must be listed);
 *  - merge lists of maps match elements by the merge key and merge them; new
 *    elements are added, {"<key>": v, "$patch": "delete"} deletes every match,
 *    an element {"$patch": "replace"} makes the list the patch's elements;
 *    merge lists of scalars are deduplicated unions;
 *  - order: elements named in the patch keep the patch's order, the others
 *    the stored order, interleaved by the stored order; elements the stored
 *    list did not have come before the stored ones they meet (upstream
 *    mergeSortedSlice), so a patch adding one container puts it first
 *    unless "$setElementOrder/<field>" says otherwise; that directive orders
 *    the result and must agree with the patch list's order;
 *  - "$deleteFromPrimitiveList/<field>": [...] removes those values first;
 *  - other lists are replaced; directives never reach the result.
 * Returns the patched object (caller json_decref()s), or NULL with err set:
 *   K3C_E_BAD_REQUEST  patch is not an object; a malformed directive (unknown
 *                      "$patch" value, "$patch": "merge" in a list, a
 *                      "$retainKeys" that misses a patched key, directives
 *                      that are not lists, "$setElementOrder" disagreeing with
 *                      the patch list); a merge-list element without its
 *                      merge key; elements of mixed kinds; nesting deeper
 *                      than API_PATCH_MAX_DEPTH.
 *   K3C_E_INVALID      a value whose JSON type contradicts the schema (an
 *                      object where the schema says list, ...). Upstream
 *                      reports this when decoding the patched object, as 422.
 * Messages name the field ("spec.template.spec.containers[1]: ..."). */
json_t *api_strategic_merge_patch(const json_t *original, const json_t *patch, const json_t *schema,
                                  api_schema_resolve_fn resolve, void *ud, struct k3c_err *err);

#endif
