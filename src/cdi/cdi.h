/* SPDX-License-Identifier: Apache-2.0
 * cdi.h - the Container Device Interface (CDI, cncf-tags/container-device-
 * interface): device specs read from /etc/cdi and /var/run/cdi (YAML or
 * JSON, cdiVersion 0.3.0 to 1.1.0, unknown fields refused), their devices
 * counted as extended resources (nvidia.com/gpu), handed out to containers
 * (one owner per device, checkpointed) and their container edits applied
 * to a container's OCI config.json in CDI's order. See docs/gpu.md.
 *
 * Parsing and applying edits are pure (unit-tested, fuzzed). The registry
 * and the allocator carry a mutex each: any thread may call them. */
#ifndef K3C_CDI_H
#define K3C_CDI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CDI_DEFAULT_DIRS "/etc/cdi:/var/run/cdi"

/* ---- specs (pure) ------------------------------------------------------- */

/* Parses one spec file's text (JSON when name ends in ".json", else YAML,
 * which also reads JSON) and checks it: required fields, field types,
 * unknown fields, the kind's and device names' syntax, that cdiVersion is
 * 0.3.0-1.1.0 and covers the fields used. name is for messages. Returns the
 * spec as JSON (new reference) or NULL with INVALID "<name>: <field>: why". */
json_t *cdi_spec_parse(const char *text, size_t len, const char *name, struct k3c_err *err);
/* Checks a spec already in JSON form (what cdi_spec_parse does after
 * decoding). INVALID with the field's path. */
int cdi_spec_validate(const json_t *spec, struct k3c_err *err);
/* "vendor/class" syntax (dots in the class from 0.6.0 on: pass true). */
bool cdi_kind_valid(const char *kind, bool allow_class_dots);
/* A device name: letters, digits, '_', '-', '.', ':'; starts with a letter
 * (or a digit: pass true, 0.5.0 on), ends with a letter or digit. */
bool cdi_device_name_valid(const char *name, bool allow_leading_digit);

/* Applies one containerEdits object to an OCI config.json in CDI's way:
 * env replaced or appended by name; device nodes (type/major/minor from the
 * host path when missing; the process's uid/gid when unset) replace one at
 * the same path and get a cgroup allow rule; mounts replace one at the same
 * destination and the mount list is sorted parents first (stable); hooks
 * appended; additionalGids added; netDevices and intelRdt set. A missing
 * host device node is SYSTEM/INVALID. */
int cdi_edits_apply(json_t *oci, const json_t *edits, struct k3c_err *err);

/* ---- the registry: the spec directories --------------------------------- */

struct cdi_registry;

/* dirs: colon-separated lists, NULL-terminated, or NULL for
 * CDI_DEFAULT_DIRS; a later directory's device replaces an earlier one of
 * the same qualified name (as CDI's cache does). Nothing is read until
 * cdi_registry_refresh. */
struct cdi_registry *cdi_registry_new(char *const *dirs);
void cdi_registry_free(struct cdi_registry *r);
/* Rereads the directories when a file in them changed (names, sizes,
 * mtimes) since the last call. A bad file is logged once (file: field:
 * why) and skipped; conflicts (two files of one directory defining the same
 * device) are logged and the device left out. Returns true when the set of
 * devices changed. */
bool cdi_registry_refresh(struct cdi_registry *r);
/* {"nvidia.com/gpu": 2, ...}: per kind, the devices a container may be
 * given (the "all" alias left out unless it is the kind's only device;
 * devices with the same device nodes, as
 * an index and a UUID of one GPU, counted once); a kind seen before whose
 * devices are gone is 0. New reference. */
json_t *cdi_registry_resources(struct cdi_registry *r);
/* Those devices of kind as qualified names ("nvidia.com/gpu=0"), in spec
 * order; NULL-terminated, caller frees with k3c_strv_free. */
char **cdi_registry_devices(struct cdi_registry *r, const char *kind);
/* The model of kind's devices when a spec or device annotation names it
 * (nvidia.com/gpu.product, or "product"), for a node label; for
 * nvidia.com/gpu also from /proc/driver/nvidia. Made label-safe (spaces to
 * '-'). Caller frees; NULL when unknown. */
char *cdi_registry_product(struct cdi_registry *r, const char *kind);
/* Number of spec files skipped as broken in the last refresh. */
int cdi_registry_n_errors(struct cdi_registry *r);
/* Applies the edits of each qualified device (its spec's edits once per
 * spec, first, then the device's own), in order. NOT_FOUND for an unknown
 * device. */
int cdi_registry_apply(struct cdi_registry *r, json_t *oci, char *const *devices,
                       struct k3c_err *err);

/* ---- allocation: which container holds which device --------------------- */

struct cdi_alloc;

/* Loads the checkpoint at path (a missing file is an empty one). */
struct cdi_alloc *cdi_alloc_new(const char *path, struct k3c_err *err);
void cdi_alloc_free(struct cdi_alloc *a);
/* Gives owner ("<pod uid>/<container>") n devices of resource chosen from
 * candidates (cdi_registry_devices) that no other owner holds; an owner
 * that holds devices of resource already gets the same ones back (a
 * restarted container). *out: NULL-terminated qualified names (k3c_strv_free).
 * The checkpoint is written before returning. CONFLICT "Insufficient
 * <resource>: want N, M free" when there are too few. */
int cdi_alloc_take(struct cdi_alloc *a, const char *owner, const char *resource, int64_t n,
                   char *const *candidates, char ***out, struct k3c_err *err);
/* Those of candidates that no owner but owner holds, in order: an array
 * of candidates' own strings (free() only the array). */
char **cdi_alloc_unheld(struct cdi_alloc *a, const char *owner, char *const *candidates);
/* Frees what owner holds; an owner ending in '/' frees every container of
 * that pod. Returns the number of devices freed. */
int cdi_alloc_release(struct cdi_alloc *a, const char *owner);
/* Frees what owners of pods not in uids (NULL-terminated) hold: pods
 * that went away while the agent was down. Returns the devices freed. */
int cdi_alloc_retain(struct cdi_alloc *a, char *const *uids);
/* Devices held (all owners), for logs and tests. */
size_t cdi_alloc_n_held(struct cdi_alloc *a);

#endif
