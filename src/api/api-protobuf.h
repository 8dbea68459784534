/* SPDX-License-Identifier: Apache-2.0
 * api-protobuf.h - decodes request bodies sent as Kubernetes protobuf
 * (application/vnd.kubernetes.protobuf, what client-go's typed clients and
 * so kubectl's generators POST) into the JSON object kube-apiserver would
 * have received. Decode only: replies stay JSON. */
#ifndef K3C_API_PROTOBUF_H
#define K3C_API_PROTOBUF_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* Decodes a Kubernetes protobuf body ("k8s\0" magic + runtime.Unknown
 * envelope) into the equivalent JSON object (with apiVersion and kind from the
 * envelope's TypeMeta). Returns a new reference (caller json_decref()s) or NULL
 * with err: K3C_E_BAD_REQUEST for malformed input, and K3C_E_BAD_REQUEST
 * naming the type for kinds not in the schema ("protobuf bodies for
 * <apiVersion>/<kind> are not supported; send JSON"). Field numbers a known
 * message does not list are skipped (logged at debug). data is untrusted:
 * every length is checked and nesting is limited. Thread: any. */
json_t *api_protobuf_decode(const void *data, size_t len, struct k3c_err *err);

#endif
