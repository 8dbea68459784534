/* SPDX-License-Identifier: Apache-2.0
 * podspec-internal.h - helpers shared by the podspec_*.c files only. */
#ifndef K3C_PODSPEC_INTERNAL_H
#define K3C_PODSPEC_INTERNAL_H

#include "podspec/podspec.h"

/* Appends s (taken) to the NULL-terminated vector *v of *n entries. */
void podspec_strv_push(char ***v, size_t *n, char *s);
/* metadata.namespace, "default" when absent. Borrowed from pod. */
const char *podspec_pod_ns(const json_t *pod);
/* The ConfigMap (secret=false) or Secret name of ctx->pod's namespace: new
 * reference, or NULL; not found → K3C_E_NOT_FOUND 'configmap "x" not found'. */
json_t *podspec_fetch(const struct podspec_ctx *ctx, bool secret, const char *name,
                      struct k3c_err *err);
/* data[key] (secrets and binaryData base64-decoded): new buffer of *len_out
 * bytes (NUL-terminated), or NULL when the key is absent. */
char *podspec_obj_value(const json_t *obj, bool secret, const char *key, size_t *len_out);

#endif
