/* SPDX-License-Identifier: Apache-2.0
 * image-internal.h - what the image_*.c files share: digests, the store's
 * internals (locks, blob admission, commit of a record), manifests, registry
 * endpoints and the layer unpacker. Not for use outside src/image/. */
#ifndef K3C_IMAGE_INTERNAL_H
#define K3C_IMAGE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "image/image.h"

/* OCI and Docker media types (OCI image-spec media-types.md, Docker
 * registry API v2 "Manifest v2, Schema 2"). */
#define IMAGE_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar"

/* Limits on what we hold in memory (containerd uses the same 4 MiB). */
#define IMAGE_MANIFEST_MAX (4u << 20)
#define IMAGE_CONFIG_MAX   (16u << 20)

/* ---- digests (image_store.c) ---- */

struct image_sha256;
struct image_sha256 *image_sha256_new(void);
void image_sha256_update(struct image_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out and frees h. */
void image_sha256_finish(struct image_sha256 *h, char out[IMAGE_DIGEST_LEN]);
void image_sha256_digest(const void *data, size_t len, char out[IMAGE_DIGEST_LEN]);
/* "sha256:" followed by exactly 64 lower-case hex digits. */
bool image_digest_valid(const char *digest);

/* ---- store internals (image_store.c) ---- */

struct image_store {
    char *root;           /* realpath: the unpacker's symlink checks need a clean prefix */
    pthread_mutex_t lock; /* protects regs (the pointer, not the object) */
    struct image_registries *regs;
    atomic_uint_fast64_t manifests_fetched, blobs_fetched, bytes_fetched, blobs_reused,
        layers_unpacked, layers_reused;
};

/* Takes the per-digest lock (flock on locks/<hex>.lock); returns the fd to
 * close(), which releases it. Blocks while another thread/process holds it. */
int image_store_lock_digest(struct image_store *s, const char *digest, struct k3c_err *err);
/* A new temporary file in tmp/: returns its path (caller free()s) and sets
 * *fd_out (O_RDWR|O_CLOEXEC); NULL with err on failure. */
char *image_store_tmpfile(struct image_store *s, int *fd_out, struct k3c_err *err);
/* A new temporary directory in tmp/ (for staging imports). */
char *image_store_tmpdir(struct image_store *s, struct k3c_err *err);
bool image_store_has_blob(struct image_store *s, const char *digest);
/* Moves a verified file into blobs/ under digest (fsyncs it first). The
 * caller has checked the digest. If the blob already exists, tmp_path is
 * removed. */
int image_store_admit_blob(struct image_store *s, const char *tmp_path, const char *digest,
                           struct k3c_err *err);
/* Stores a small in-memory blob (a manifest). */
int image_store_put_blob(struct image_store *s, const char *data, size_t len,
                         char digest_out[IMAGE_DIGEST_LEN], struct k3c_err *err);
/* Reads a blob of at most max bytes. */
int image_store_read_blob(struct image_store *s, const char *digest, size_t max, char **out,
                          size_t *len_out, struct k3c_err *err);

/* ---- manifests (image_config.c) ---- */

struct image_descriptor {
    char digest[IMAGE_DIGEST_LEN];
    char *media_type;
    int64_t size;
};

/* A platform manifest (OCI image manifest or Docker schema 2). */
struct image_manifest {
    struct image_descriptor config;
    size_t n_layers;
    struct image_descriptor *layers;
};

enum image_manifest_kind {
    IMAGE_MANIFEST_UNKNOWN,
    IMAGE_MANIFEST_INDEX, /* OCI index or Docker manifest list */
    IMAGE_MANIFEST_IMAGE, /* OCI manifest or Docker schema 2 */
};

/* From the Content-Type (may be NULL) or, failing that, the body. */
enum image_manifest_kind image_manifest_kind(const char *content_type, json_t *body);
int image_manifest_parse(json_t *body, struct image_manifest *out, struct k3c_err *err);
void image_manifest_fini(struct image_manifest *m);
/* Picks this node's entry from an index: os linux, architecture from
 * uname (amd64, arm64 with variant v8 or none, ...). K3C_E_NOT_FOUND if
 * none matches. */
int image_index_select(json_t *index, const char *arch, const char *variant,
                       struct image_descriptor *out, struct k3c_err *err);
/* This node's OCI architecture and variant ("amd64", NULL / "arm64", "v8"). */
void image_platform_current(const char **arch, const char **variant);
void image_descriptor_fini(struct image_descriptor *d);
/* The rootfs.diff_ids of a config blob, NULL-terminated (free each and the
 * array). */
int image_config_diff_ids(const char *json, size_t len, char ***out, size_t *n_out,
                          struct k3c_err *err);

/* Unpacks the layers of m (blobs already stored, config blob too) and
 * records ref -> manifest_digest. Returns the new record. */
struct image *image_store_commit(struct image_store *s, const struct image_ref *ref,
                                 const char *manifest_digest, const struct image_manifest *m,
                                 struct k3c_err *err);

/* ---- references (image_ref.c) ---- */

/* The record file name for a normalised reference: bytes outside
 * [A-Za-z0-9._-] are %XX-escaped, so distinct references never collide. */
char *image_ref_escape(const char *ref);

/* ---- registries (image_registry.c) ---- */

struct image_endpoint {
    char *url;                      /* "https://registry-1.docker.io" (no trailing '/', no /v2) */
    char *host;                     /* "registry-1.docker.io" */
    struct image_registry_host cfg; /* borrowed from the registries */
};

/* The endpoints to try for registry domain, mirrors first, the registry's
 * own last. *out is an array of n; free with image_endpoints_free. */
int image_registries_endpoints(const struct image_registries *r, const char *domain,
                               struct image_endpoint **out, size_t *n_out, struct k3c_err *err);
void image_endpoints_free(struct image_endpoint *eps, size_t n);
struct image_registries *image_registries_ref(struct image_registries *r);

/* ---- auth (image_pull.c) ---- */

/* One WWW-Authenticate challenge (RFC 7235 §4.1; Docker token auth spec). */
struct image_auth_challenge {
    char scheme[16]; /* "bearer", "basic" (lower-cased) */
    char *realm, *service, *scope;
};

/* Parses the first challenge of a WWW-Authenticate value. -1 if malformed. */
int image_auth_challenge_parse(const char *header, struct image_auth_challenge *out);
void image_auth_challenge_fini(struct image_auth_challenge *c);

/* ---- layers (image_unpack.c) ---- */

/* Unpacks the layer blob at blob_path (tar; gzip, zstd, ... detected) into
 * the existing empty directory dest, safely (no absolute names, no "..", no
 * writes through symlinks), converting OCI whiteouts to overlayfs ones and
 * dropping trusted.overlay.* xattrs the tar itself carries. When diff_id is
 * not NULL, the uncompressed stream must hash to it (K3C_E_INVALID). */
int image_layer_unpack(const char *blob_path, const char *dest, const char *diff_id,
                       struct k3c_err *err);
/* The helper's side of image_layer_unpack: chdir(dest), then unpack. */
int image_layer_unpack_here(const char *blob_path, const char *dest, const char *diff_id,
                            struct k3c_err *err);

/* ---- the archive helper (image_helper.c, image_import.c) ---- */

/* Runs `k3c __image-archive ARGS...` (args NULL-terminated, at most 5) to
 * completion. On success *out (may be NULL) gets its stdout (free()). */
int image_helper_run(const char *const *args, char **out, struct k3c_err *err);
/* Whether `k3c __image-archive` runs here (probed once; false under
 * qemu-user emulation): else the callers do the work in this process,
 * after image_archive_load (image-archive.h). Thread: any. */
bool image_helper_usable(void);
/* The helper's side of a tarball import: streams every regular file of
 * the archive at path into staging/<its sha256 hex> and prints a
 * "FILE <digest> <size> <name>" line for each. */
int image_import_stage_here(const char *path, const char *staging, struct k3c_err *err);
/* rm -rf that never follows symlinks. Missing path is not an error. */
int image_rm_rf(const char *path, struct k3c_err *err);

#endif
