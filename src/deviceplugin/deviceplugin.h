/* SPDX-License-Identifier: Apache-2.0
 * deviceplugin.h - the kubelet's device-plugin API v1beta1 (issue #18,
 * docs/gpu.md): the Registration service on <dir>/kubelet.sock, and for
 * each registered plugin its ListAndWatch stream (the devices and their
 * health) and, when a container asks for the resource, GetPreferredAllocation,
 * Allocate and PreStartContainer. gRPC over HTTP/2 (libnghttp2) with
 * protobuf-c messages; NVIDIA's, Intel's and other plugins work unmodified.
 *
 * One thread serves the socket and follows the streams; the calls a pod
 * start makes run on the caller's thread. Which container holds which
 * device is the CDI allocator's checkpoint (cdi/cdi.h): one for both. */
#ifndef K3C_DEVICEPLUGIN_H
#define K3C_DEVICEPLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct cdi_alloc;
struct deviceplugin;

/* Serves <dir>/kubelet.sock (the directory made; an old socket replaced,
 * which tells running plugins to register again). */
struct deviceplugin *deviceplugin_new(const char *dir, struct k3c_err *err);
void deviceplugin_free(struct deviceplugin *dp);

/* {"example.com/foo": n}: per registered resource, all its devices
 * (capacity) or the healthy ones of a plugin that is connected
 * (allocatable). New reference. */
json_t *deviceplugin_resources(struct deviceplugin *dp, bool healthy_only);
/* True once after the devices or their health changed. */
bool deviceplugin_take_changed(struct deviceplugin *dp);
/* True when a registered plugin serves resource. */
bool deviceplugin_serves(struct deviceplugin *dp, const char *resource);

/* Gives owner ("<pod uid>/<container>") n healthy devices of resource
 * through alloc (the same ones back for an owner that holds them), the
 * plugin's preferred ones first when it offers GetPreferredAllocation,
 * then calls Allocate (and PreStartContainer when the plugin asked for it)
 * and merges the answer into edits, a CDI containerEdits object ("env",
 * "mounts", "deviceNodes") plus "annotations"; CDI device names the plugin
 * returned (cdi_devices, or CDI's "cdi.k8s.io/..." annotations) are appended
 * to *cdi_devices (NULL-terminated, k3c_strv_free).
 * CONFLICT "Insufficient <resource>: ..." when too few are free. */
int deviceplugin_allocate(struct deviceplugin *dp, struct cdi_alloc *alloc, const char *owner,
                          const char *resource, int64_t n, json_t *edits, char ***cdi_devices,
                          struct k3c_err *err);

/* Merges one ContainerAllocateResponse (protobuf bytes) into edits as
 * above; pure, for the fuzzer. INVALID on a bad message or path. */
int deviceplugin_response_edits(const uint8_t *msg, size_t len, json_t *edits, char ***cdi_devices,
                                struct k3c_err *err);

#endif
