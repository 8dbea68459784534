/* SPDX-License-Identifier: Apache-2.0
 * ssa-internal.h - shared by the files of src/ssa/. */
#ifndef K3C_SSA_INTERNAL_H
#define K3C_SSA_INTERNAL_H

#include "ssa/ssa.h"

#include "base/buf.h"

#include <stddef.h>

/* How a value merges, from its schema (and the value, when deduced). */
enum ssa_kind {
    SSA_SCALAR,   /* a leaf */
    SSA_ATOMIC,   /* a list or map replaced as a whole */
    SSA_STRUCT,   /* an object with declared "properties" */
    SSA_MAP,      /* a granular map: additionalProperties, or deduced */
    SSA_LIST_SET, /* x-kubernetes-list-type: set */
    SSA_LIST_MAP, /* x-kubernetes-list-type: map, items keyed by keys */
};

struct ssa_type {
    enum ssa_kind kind;
    const json_t *schema;  /* resolved; NULL when deduced */
    const json_t *keys;    /* SSA_LIST_MAP: the key field names (an array), */
    const char *merge_key; /* or the one x-kubernetes-patch-merge-key */
    /* schema's properties, additionalProperties and items (NULL: none, or
     * no schema), read once for ssa_child_schema */
    const json_t *props, *addl, *items;
    bool by_value; /* the unresolved schema has a "default": a struct held by
                      value upstream, never absent */
};

/* The type of value (may be NULL) under schema (may be NULL). */
struct ssa_type ssa_type_of(const struct ssa_schema *s, const json_t *schema, const json_t *value);
/* The schema of field key of a struct or map, or of list items (key NULL);
 * NULL when deduced. *declared tells whether key is a declared property. */
const json_t *ssa_child_schema(const struct ssa_schema *s, const struct ssa_type *t,
                               const char *key, bool *declared);
/* The path element of a list item ("k:{...}", "v:..."), or NULL with err
 * set when the item lacks a key field or has the wrong shape. Caller
 * frees. */
char *ssa_item_element(const struct ssa_schema *s, const struct ssa_type *t, const json_t *item,
                       struct k3c_err *err);

/* Fields ssa_added_fieldsv1 leaves out (NULL-terminated lists, or NULL):
 * of the object, and of its metadata. */
struct ssa_added_skip {
    const char *const *root;
    const char *const *meta;
};

/* The fieldsV1 (as ssa_set_to_fieldsv1 writes it) of the fields
 * ssa_compare(NULL, obj) finds changed, with obj's metadata.managedFields
 * and the fields skip names left out: what a create owns, in one walk.
 * NULL with err set when obj nests too deep. */
json_t *ssa_added_fieldsv1(const json_t *obj, const struct ssa_schema *s,
                           const struct ssa_added_skip *skip, struct k3c_err *err);

/* ssa_update without its shortcut for creates: compares old and new
 * (test_ssa checks that both give the same bytes). */
json_t *ssa_update_compared(const json_t *old, const json_t *new, const json_t *managed,
                            const struct ssa_manager *m, const struct ssa_schema *s,
                            struct k3c_err *err);

/* Adds the path el[0..n) to set as a member. */
void ssa_set_insert(json_t *set, char *const *el, int n);
/* Appends el in upstream's path notation (".f", "[name=\"x\"]", "[=v]"). */
void ssa_element_string(struct k3c_buf *b, const char *el);
/* Append a string between quotes, or a scalar, as jansson writes it; false
 * (b partly written) for what needs jansson: escapes, reals, containers. */
bool ssa_append_string(struct k3c_buf *b, const char *str);
bool ssa_append_scalar(struct k3c_buf *b, const json_t *v);
/* Compact JSON of any value, keys sorted; caller frees. */
char *ssa_json_text(const json_t *v);
/* The keys of obj, sorted (caller frees the array, not the strings). */
const char **ssa_sorted_keys(const json_t *obj, size_t *n);

#endif
