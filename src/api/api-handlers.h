/* SPDX-License-Identifier: Apache-2.0
 * api-handlers.h - shared by the request handlers (api_handlers.c reads,
 * api_write.c writes, api_watch.c watches). */
#ifndef K3C_API_HANDLERS_H
#define K3C_API_HANDLERS_H

#include "api/api-internal.h"

/* What a list or watch filters on. namespace is borrowed from the request. */
struct api_selectors {
    const struct api_resource *res;
    const char *namespace; /* NULL: all namespaces */
    struct label_selector *labels;
    struct field_selector *fields;
};

int api_selectors_parse(struct api_request *r, struct api_selectors *sel, struct k3c_err *err);
void api_selectors_fini(struct api_selectors *sel);
bool api_selectors_match_entry(const struct api_selectors *sel, const struct wc_entry *e);

/* Table output: the apiVersion asked for, or NULL for plain JSON. */
const char *api_table_wanted(struct api_request *r);
json_t *api_table_columns(const struct api_resource *res);
json_t *api_table_row(struct api_request *r, const json_t *obj);
struct k3c_buf;
/* Appends api_table_row's row as text from e's cached cells (no parse);
 * false if e has none (a custom resource, or a row not kept). */
bool api_table_row_text(struct api_request *r, const struct wc_entry *e, int64_t now_s,
                        struct k3c_buf *out);

/* Replies with obj (consumed), as a one-row Table when asked. */
int api_reply_object(struct api_request *r, unsigned status, json_t *obj);
int api_reply_not_found(struct api_request *r);
/* Maps a store error to its Status (404 with the object's name, ...). */
int api_reply_store_error(struct api_request *r, const struct k3c_err *err);
/* The object named by the URL, read from etcd; *rev gets its revision. */
json_t *api_read_object(struct api_request *r, int64_t *rev, struct k3c_err *err);

bool api_subresource_served(const struct api_resource *res, const char *sub);
int api_handle_get_subresource(struct api_request *r);
int api_handle_scale(struct api_request *r);
/* PUT of a namespace's /finalize (api_write.c). */
int api_handle_finalize(struct api_request *r);
int api_handle_create(struct api_request *r);
int api_handle_update(struct api_request *r);
int api_handle_patch(struct api_request *r);
int api_handle_delete(struct api_request *r);
int api_handle_delete_collection(struct api_request *r);
/* POST of pods/binding and pods/eviction (api_binding.c). */
int api_handle_pod_post(struct api_request *r);
/* Deletes the object named by r as DELETE would, with options a
 * DeleteOptions object (borrowed, may be NULL): the pod's grace period,
 * preconditions, propagationPolicy (api_write.c, for pods/eviction). */
int api_delete_with_options(struct api_request *r, const json_t *options, struct k3c_err *err);
int api_handle_watch(struct api_request *r, const struct api_selectors *sel);

#endif
