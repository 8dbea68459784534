/* SPDX-License-Identifier: Apache-2.0
 * ssa.h - server-side apply, as kube-apiserver does it with
 * sigs.k8s.io/structured-merge-diff: field sets and their fieldsV1 encoding,
 * the merge of an applied configuration into a live object, and the
 * managedFields bookkeeping of Apply and Update operations.
 *
 * Pure functions on jansson values: inputs are borrowed and never modified;
 * results are new values the caller owns. Thread: any.
 *
 * A field set is a JSON object in "set form": each key is a path element as
 * fieldsV1 spells it ("f:<field>", "k:<json of the key fields>",
 * "v:<json value>", "i:<index>") mapping to the child set; a child holding
 * the key "." is itself a member of the set. fieldsV1 (metav1.FieldsV1) is
 * the same tree where a member without children is written {}. */
#ifndef K3C_SSA_H
#define K3C_SSA_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

/* Deepest object, list or field path the functions below accept; deeper
 * input is refused (K3C_E_INVALID) so recursion stays bounded. */
#define SSA_MAX_DEPTH 100
/* Longest field manager name (upstream's validation). */
#define SSA_MANAGER_MAX 128

/* Resolves "#/components/schemas/..." to a schema object (borrowed). */
typedef const json_t *(*ssa_resolve_fn)(const char *ref, void *ud);

/* The OpenAPI v3 schema of the object's type. Merge behaviour comes from
 * x-kubernetes-list-type (atomic, set, map; absent means atomic),
 * x-kubernetes-list-map-keys, x-kubernetes-map-type, and, as upstream's
 * schema conversion, x-kubernetes-patch-strategy "merge" with or without
 * x-kubernetes-patch-merge-key on lists that lack a list-type. With root
 * NULL (or x-kubernetes-preserve-unknown-fields) the type is deduced from
 * the value: maps merge key by key, lists are atomic. */
struct ssa_schema {
    const json_t *root;
    ssa_resolve_fn resolve;
    void *ud;
    /* root and what resolve returns live as long as the process and never
     * change (the built-in OpenAPI documents, not a CRD's schema): what is
     * read from them is kept, keyed by their addresses */
    bool stable;
};

/* ---- field sets ---------------------------------------------------------- */

/* Decodes fieldsV1 into set form (keys of "k:" and "v:" elements are put in
 * canonical JSON). NULL with err set (K3C_E_INVALID) when it is malformed. */
json_t *ssa_set_from_fieldsv1(const json_t *fields, struct k3c_err *err);
/* Encodes a set as fieldsV1, children in sorted order. */
json_t *ssa_set_to_fieldsv1(const json_t *set);
bool ssa_set_empty(const json_t *set);
json_t *ssa_set_union(const json_t *a, const json_t *b);
/* Members of a that are not members of b. */
json_t *ssa_set_difference(const json_t *a, const json_t *b);
json_t *ssa_set_intersection(const json_t *a, const json_t *b);
/* Calls fn for each member in upstream's path notation
 * (".spec.template.spec.containers[name=\"app\"].image"). */
void ssa_set_foreach_path(const json_t *set, void (*fn)(const char *path, void *ud), void *ud);

/* The fields obj sets (structured-merge-diff ToFieldSet): scalars, atomic
 * lists and maps, list items, map entries, nulls and empty maps. */
json_t *ssa_set_from_object(const json_t *obj, const struct ssa_schema *s, struct k3c_err *err);

/* What changed from old to new (either may be NULL): *changed gets the
 * fields added or modified, *removed those gone. -1 with err set when a
 * list item lacks its key. */
int ssa_compare(const json_t *old, const json_t *new, const struct ssa_schema *s, json_t **changed,
                json_t **removed, struct k3c_err *err);

/* ---- merge ----------------------------------------------------------------- */

/* live (NULL: none) with config applied: maps merge key by key (null
 * removes), associative lists merge their items by key (new items go at
 * the end), sets add the new values, atomic values and scalars are
 * replaced. NULL with err set (K3C_E_INVALID) when config has a list item
 * without its key fields, duplicate keys, or nests too deep. */
json_t *ssa_merge(const json_t *live, const json_t *config, const struct ssa_schema *s,
                  struct k3c_err *err);
/* Removes the members of set from obj (in place). */
void ssa_remove(json_t *obj, const json_t *set, const struct ssa_schema *s);

/* ---- managedFields --------------------------------------------------------- */

/* Who writes, as a managedFields entry names it. */
struct ssa_manager {
    const char *manager;     /* fieldManager */
    const char *subresource; /* NULL or "" for the main resource */
    const char *api_version; /* of the object written */
    const char *time;        /* RFC 3339, now */
};

/* One conflict per other manager: {"manager": <entry as upstream prints
 * it>, "paths": [".spec.replicas", ...], "set": <the fields, set form>}. */
struct ssa_apply_result {
    json_t *object;         /* live with config merged and dropped fields pruned */
    json_t *managed_fields; /* the object's new metadata.managedFields */
    json_t *conflicts;      /* non-NULL (and object NULL) when another manager owns changed
                               fields and force is false */
};

/* Server-side apply of config (the applied configuration; apiVersion/kind
 * and metadata identity fields are not owned) over live (NULL to create)
 * whose managedFields are managed (an array, or NULL). Returns 0 and fills
 * res (caller frees its members), or -1 with err set. */
int ssa_apply(const json_t *live, const json_t *config, const json_t *managed,
              const struct ssa_manager *m, bool force, const struct ssa_schema *s,
              struct ssa_apply_result *res, struct k3c_err *err);
void ssa_apply_result_fini(struct ssa_apply_result *res);

/* managedFields after an Update operation (create, PUT, non-apply PATCH) of
 * m turned old (NULL on create) into new: m owns what it changed, the
 * others lose it, removed fields are nobody's. managed is the base (an
 * array or NULL). NULL with err set when managed is malformed. */
json_t *ssa_update(const json_t *old, const json_t *new, const json_t *managed,
                   const struct ssa_manager *m, const struct ssa_schema *s, struct k3c_err *err);

/* kubectl's move from client-side apply (upstream's lastAppliedManager):
 * conflicts (as ssa_apply returns them) less the fields last_applied (the
 * object in the last-applied-configuration annotation) sets to the value
 * they have in live. Returns the conflicts left (an empty array: none), or
 * NULL when last_applied cannot be read. */
json_t *ssa_conflicts_less_last_applied(const json_t *conflicts, const json_t *last_applied,
                                        const json_t *live, const struct ssa_schema *s);

/* The conflict message kube-apiserver answers with ("Apply failed with 1
 * conflict: conflict with \"mgr\" using apps/v1: .spec.replicas"); caller
 * frees. */
char *ssa_conflict_message(const json_t *conflicts);

#endif
