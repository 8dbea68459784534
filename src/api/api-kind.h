/* SPDX-License-Identifier: Apache-2.0
 * api-kind.h - what the kind_*.c files share: the table cell helpers
 * (api_table.c) and the validation and defaulting helpers (api_validate.c)
 * their columns, rows, validation and defaults are written with. */
#ifndef K3C_API_KIND_H
#define K3C_API_KIND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* ---- table columns and cells (api_table.c) ------------------------------ */

#define DESC_NAME                                                                                  \
    "Name must be unique within a namespace. Is required when creating resources, although some "  \
    "resources may allow a client to request the generation of an appropriate name "               \
    "automatically. Name is primarily intended for creation idempotence and configuration "        \
    "definition. Cannot be updated. More info: "                                                   \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_AGE                                                                                   \
    "CreationTimestamp is a timestamp representing the server time when this object was created. " \
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "  \
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by "    \
    "the "                                                                                         \
    "system. Read-only. Null for lists. More info: "                                               \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                            \
    "api-conventions.md#metadata"
#define DESC_CONTAINERS "Names of each container in the template."
#define DESC_IMAGES     "Images referenced by each container in the template."
#define DESC_NODE_ADDRESSES                                                                        \
    "List of addresses reachable to the node. Queried from cloud provider, if available. More "    \
    "info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is "  \
    "declared as mergeable, but the merge key is not sufficiently unique, which can cause data "   \
    "corruption when it is merged. Callers should instead use a full-replacement patch. See "      \
    "https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change "   \
    "during the lifetime of a Node. However, there are some exceptions where this may not be "     \
    "possible, such as Pods that inherit a Node's address in its own status or consumers of the "  \
    "downward API (status.hostIP)."
#define DESC_LABEL_SELECTORS                                                                       \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
#define COL_NAME                                                                                   \
    {                                                                                              \
        "Name", "string", "name", DESC_NAME, 0                                                     \
    }
#define COL_AGE                                                                                    \
    {                                                                                              \
        "Age", "string", "", DESC_AGE, 0                                                           \
    }
#define COL_END                                                                                    \
    {                                                                                              \
        NULL, NULL, NULL, NULL, 0                                                                  \
    }

json_int_t api_int_at(const json_t *obj, const char *path, json_int_t dflt);

bool api_true_at(const json_t *obj, const char *path);

/* s unless it is NULL or empty. */
const char *api_or_else(const char *s, const char *dflt);

json_t *api_name_cell(const json_t *obj);

json_t *api_buf_cell(struct k3c_buf *b);

/* Parses RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed)
 * into Unix seconds. */
bool api_parse_time(const char *s, int64_t *out);

/* translateTimestampSince: "<unknown>" for an absent or unreadable time. */
json_t *api_since_cell(const char *ts, int64_t now_s);

json_t *api_age_cell(const json_t *obj, int64_t now_s);

/* layoutContainerCells: one member of each container, comma-joined. */
json_t *api_containers_cell(const json_t *obj, const char *member);

int api_cmp_str(const void *a, const void *b);

/* Keys of a JSON object, sorted; caller free()s the array (not the keys). */
const char **api_sorted_keys(const json_t *map, size_t *n_out);

/* labels.FormatLabels: "a=b,c=d" sorted by key, "<none>" when empty. */
json_t *api_labels_cell(const json_t *map);

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key;
 * "" for an empty or absent selector, or empty_text when given. */
json_t *api_selector_cell(const json_t *sel, const char *empty_text);

/* The joined list in b, or empty when there is none. */
json_t *api_list_cell(struct k3c_buf *b, const char *empty);

/* listWithMoreString: the first max items, then "+ N more..." for the rest. */
json_t *api_more_cell(struct k3c_buf *b, size_t shown, size_t count, size_t max, const char *empty);

/* A condition's status ("True", "False", "Unknown") by type, or NULL. */
const char *api_condition_status(const json_t *conditions, const char *type);

bool api_condition_true(const json_t *conditions, const char *type);

/* ---- validation and defaults (api_validate.c) ---------------------------- */

#define FIELD_LEN     512
#define MAX_DATA_SIZE (1024 * 1024)

struct msg_sink;

/* A field path ("spec.containers[0].name") built in place; a path longer
 * than FIELD_LEN (only a pathological key) is cut short. */
struct fpath {
    char s[FIELD_LEN];
};

extern const char api_msg_port_range[];

extern const char api_msg_immutable[];

const char *api_str_at(const json_t *obj, const char *path);

const char *api_or_empty(const char *s);

bool api_is_empty(const char *s);

const char *api_fpath(struct fpath *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void api_cause_invalid_str(json_t *causes, const char *field, const char *value,
                           const char *detail);

void api_cause_invalid_int(json_t *causes, const char *field, json_int_t value, const char *detail);

void api_cause_invalid_selector(json_t *causes, const char *field, const json_t *sel,
                                const char *detail);

void api_cause_required(json_t *causes, const char *field, const char *detail);

void api_cause_forbidden(json_t *causes, const char *field, const char *detail);

void api_cause_duplicate(json_t *causes, const char *field, const char *value);

void api_cause_too_long(json_t *causes, const char *field, long max);

/* field.NotSupported: `Unsupported value: "x": supported values: "a", "b"`. */
void api_cause_not_supported(json_t *causes, const char *field, const char *value,
                             const char *const *supported);

/* An enumerated string field: Required when absent (if required), else one
 * of supported. */
void api_check_enum(json_t *causes, const char *field, const char *value,
                    const char *const *supported, bool required);

void api_check_nonnegative(json_t *causes, const json_t *obj, const char *path);

void api_check_dns1123_label(const char *v, struct msg_sink *s);

void api_check_dns1123_subdomain(const char *v, struct msg_sink *s);

void api_check_dns1035_label(const char *v, struct msg_sink *s);

/* IsConfigMapKey: [-._a-zA-Z0-9]+, <= 253, not "." or "..", no "..". */
void api_check_config_key(const char *v, struct msg_sink *s);

/* Runs check on value and adds an Invalid cause at field per message. */
int api_check_field(json_t *causes, const char *field, const char *value,
                    void (*check)(const char *, struct msg_sink *));

/* ValidateLabels: qualified keys, valid values; all at field. */
void api_validate_labels(const json_t *labels, const char *field, json_t *causes);

/* ValidateAnnotations: keys are qualified names (case-insensitive), the
 * total size of keys and values at most 256 KiB. */
void api_validate_annotations(const json_t *annotations, const char *field, json_t *causes);

void api_validate_label_selector(const json_t *sel, const char *field, json_t *causes);

bool api_selector_is_empty(const json_t *sel);

/* "`selector` does not match template `labels`" at spec.template.metadata.labels. */
void api_check_selector_matches_template(const json_t *spec, json_t *causes);

extern const char *const api_restart_always[];

extern const char *const api_protocols[];

void api_check_port_number(json_t *causes, const char *field, const json_t *port, bool required);

/* ValidatePodTemplateSpec at spec.template, then the owner's restart rule. */
void api_validate_pod_template(const json_t *spec, const char *const *restart, json_t *causes);

void api_check_immutable_selector(const json_t *obj, const json_t *old, json_t *causes);

/* Sets obj[key] = value unless it is there already (not null); consumes value. */
void api_default_take(json_t *obj, const char *key, json_t *value);

/* obj[key] as an object, created when absent. NULL if obj is not an object. */
json_t *api_ensure_object(json_t *obj, const char *key);

void api_template_defaults(json_t *obj);

/* A LabelSelector JSON object ({matchLabels, matchExpressions}) against a
 * labels object; an empty selector matches everything. */
bool api_label_selector_matches(const json_t *sel, const json_t *labels);

#endif
