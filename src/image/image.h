/* SPDX-License-Identifier: Apache-2.0
 * image.h - the agent's image store: OCI distribution pulls, a content-addressed
 * blob store, layers unpacked once and shared, overlayfs root filesystems, and
 * imports of docker-save / OCI-layout tarballs for air-gapped nodes.
 *
 * On disk, under the store root (<data-dir>/agent/images):
 *   blobs/sha256/<hex>          content-addressed blobs, verified before they appear
 *   layers/sha256/<diffid hex>/ unpacked layers (whiteouts in overlayfs form)
 *   images/<escaped ref>.json   one record per reference: manifest, config, layers
 *   locks/, tmp/, imported/     per-digest lock files, staging, import stamps
 * A blob or layer directory exists only when complete (tmp + rename), so a
 * crash never leaves a half-written one. Per-digest flock(2) locks make
 * concurrent pulls (threads or processes) safe and download a blob once. */
#ifndef K3C_IMAGE_H
#define K3C_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* "sha256:" + 64 hex digits + NUL. */
#define IMAGE_DIGEST_LEN 72

/* ---- references ------------------------------------------------------- */

/* A parsed image reference, normalised as Docker does:
 * "busybox" -> docker.io / library/busybox / tag "latest". */
struct image_ref {
    char *domain; /* "docker.io", "127.0.0.1:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest"; NULL when only a digest was given */
    char *digest; /* "sha256:<hex>" or NULL */
};

/* Parses and normalises s. K3C_E_INVALID for a malformed reference or a
 * digest algorithm other than sha256. On success the caller owns *out
 * (image_ref_fini). Thread: any. */
int image_ref_parse(const char *s, struct image_ref *out, struct k3c_err *err);
void image_ref_fini(struct image_ref *r);
/* "docker.io/library/busybox:latest", "host/x@sha256:..." (tag and digest when
 * both were given). New string, caller free()s. */
char *image_ref_string(const struct image_ref *r);

/* ---- registry configuration (K3s registries.yaml) ---------------------- */

/* Settings for one registry host ("configs:" in registries.yaml). Strings
 * are copied by image_registries_set_host. */
struct image_registry_host {
    const char *username; /* basic auth, also sent to a bearer token realm; NULL: anonymous */
    const char *password;
    const char *ca_file; /* extra trust anchors; NULL: system */
    const char *cert_file, *key_file;
    bool insecure_skip_verify; /* accept any TLS certificate */
    bool plain_http;           /* the host's default endpoint is http://, not https:// */
};

/* Mirrors and per-host settings. Built once, then handed to a store;
 * immutable afterwards (so pulls share it without locks). Internally
 * reference counted: a pull holds its own reference while it runs. */
struct image_registries;

struct image_registries *image_registries_new(void);
/* Drops the caller's reference; NULL is a no-op. */
void image_registries_free(struct image_registries *r);
/* Appends endpoint ("https://mirror:5000", "http://10.0.0.1:5000") to the
 * mirrors of registry ("docker.io", or "*" for every registry). Pulls try the
 * mirrors in order, then the registry itself (docker.io ->
 * https://registry-1.docker.io). K3C_E_INVALID for a bad endpoint URL. */
int image_registries_add_mirror(struct image_registries *r, const char *registry,
                                const char *endpoint, struct k3c_err *err);
/* Sets (replaces) the settings for host ("mirror:5000", "docker.io"); an
 * endpoint uses the settings of its own host, the registry's default
 * endpoint also those of the registry name. */
int image_registries_set_host(struct image_registries *r, const char *host,
                              const struct image_registry_host *cfg, struct k3c_err *err);
/* Adds the contents of a K3s registries.yaml (mirrors.<reg>.endpoint,
 * configs.<host>.auth.{username,password,auth}, configs.<host>.tls.{ca_file,
 * cert_file,key_file,insecure_skip_verify}). K3C_E_NOT_FOUND if path does
 * not exist, K3C_E_INVALID (with line) for malformed content. */
int image_registries_load(struct image_registries *r, const char *path, struct k3c_err *err);

/* ---- image config ------------------------------------------------------ */

/* What the runtime needs from an image config blob ("config" in the OCI
 * image spec). String arrays are NULL-terminated; NULL when absent. */
struct image_config {
    char **entrypoint;
    char **cmd;
    char **env; /* "KEY=value" */
    char *working_dir;
    char *user;           /* "uid[:gid]" or names, as written */
    char **exposed_ports; /* "8080/tcp" */
    char *stop_signal;
    char *os, *architecture, *variant;
};

/* Parses an image config blob. K3C_E_INVALID if it is not one. */
int image_config_parse(const char *json, size_t len, struct image_config *out, struct k3c_err *err);
void image_config_fini(struct image_config *c);

/* ---- images ------------------------------------------------------------ */

struct image_layer {
    char digest[IMAGE_DIGEST_LEN];  /* the blob as stored (compressed) */
    char diff_id[IMAGE_DIGEST_LEN]; /* the uncompressed tar; names the layer directory */
    char *media_type;
    int64_t size; /* blob bytes */
};

/* An image record. Owned by the caller of the function that returned it;
 * free with image_free. */
struct image {
    char *ref;                              /* normalised reference it is known by */
    char *repo_digest;                      /* "docker.io/library/busybox@sha256:..." */
    char manifest_digest[IMAGE_DIGEST_LEN]; /* the platform manifest */
    char config_digest[IMAGE_DIGEST_LEN];   /* the image ID */
    size_t n_layers;
    struct image_layer *layers; /* base first */
    int64_t size;               /* sum of the layer blobs */
    struct image_config config;
};

void image_free(struct image *img);

/* ---- the store --------------------------------------------------------- */

struct image_store;

/* Opens (creating) a store at root. K3C_E_SYSTEM when it cannot be created. */
struct image_store *image_store_new(const char *root, struct k3c_err *err);
/* Only once no call on s is running. */
void image_store_free(struct image_store *s);
/* Replaces the registry configuration (consumes regs, NULL = none); pulls
 * already running keep the old one. Thread: any. */
void image_store_set_registries_take(struct image_store *s, struct image_registries *regs);

/* Pulls ref from its registry (or mirrors): the manifest (for an index the
 * entry for this node: linux/amd64 or linux/arm64/v8), the config and every
 * layer blob not yet stored, each verified against its digest, then unpacks
 * missing layers (verifying their diff IDs) and writes the record.
 * Returns the record (image_free), or NULL with:
 *   K3C_E_NOT_FOUND    unknown repository, tag or digest; access denied; no
 *                      manifest for this platform
 *   K3C_E_UNAVAILABLE  registry unreachable, 5xx, rate-limited
 *   K3C_E_INVALID      bad reference, digest mismatch, unsupported manifest
 *   K3C_E_SYSTEM       local I/O
 * Messages name the reference and the registry endpoint.
 * Thread: any; concurrent pulls are safe. Blocking: run on a worker. */
struct image *image_store_pull(struct image_store *s, const char *ref, struct k3c_err *err);
/* The local record for ref (no network); K3C_E_NOT_FOUND if not present. */
struct image *image_store_get(struct image_store *s, const char *ref, struct k3c_err *err);
/* All records, sorted by reference. *out is an array of n_out images; free
 * each with image_free and the array with free(). */
int image_store_list(struct image_store *s, struct image ***out, size_t *n_out,
                     struct k3c_err *err);
/* Removes the record for ref (blobs and layers stay until
 * image_store_prune). K3C_E_NOT_FOUND if absent. */
int image_store_remove(struct image_store *s, const char *ref, struct k3c_err *err);

/* Imports every tarball (*.tar, *.tar.gz, *.tgz, *.tar.zst, *.tar.lz4, ...)
 * directly in dir: docker-save archives (manifest.json + layer tars) and
 * OCI-layout archives (index.json + blobs/; names from the
 * io.containerd.image.name or org.opencontainers.image.ref.name annotation).
 * A tarball already imported with the same size and mtime is skipped.
 * Returns the number of images recorded, or -1 (the first failing
 * tarball's error; the others are still imported). Thread: any. */
int image_import_dir(struct image_store *s, const char *dir, struct k3c_err *err);
/* Imports one tarball; returns the number of images recorded. */
int image_import_file(struct image_store *s, const char *path, struct k3c_err *err);

/* Counters since image_store_new. */
struct image_store_stats {
    uint64_t manifests_fetched;
    uint64_t blobs_fetched; /* downloaded (config and layers) */
    uint64_t bytes_fetched;
    uint64_t blobs_reused; /* already present, not downloaded */
    uint64_t layers_unpacked;
    uint64_t layers_reused;
};
void image_store_stats(struct image_store *s, struct image_store_stats *out);

/* Paths inside the store (new strings, caller free()s), for the runtime and
 * for tests. */
char *image_store_blob_path(struct image_store *s, const char *digest);
char *image_store_layer_path(struct image_store *s, const char *diff_id);

/* ---- root filesystems -------------------------------------------------- */

/* Mounts an overlay for img at <container_dir>/rootfs (container_dir is
 * absolute, created if missing): lowerdir = its layers top-first,
 * upperdir/workdir = <container_dir>/upper, /work. Idempotent: an existing
 * mount is kept. *rootfs_out (caller free()s) is the mount point.
 * K3C_E_INVALID when the layer paths overflow the one-page mount data
 * (about 38 layers with the default data dir).
 * K3C_E_SYSTEM with sys_errno (EPERM without CAP_SYS_ADMIN); K3C_E_NOT_FOUND
 * if a layer is missing from the store. */
int image_rootfs_prepare(struct image_store *s, const struct image *img, const char *container_dir,
                         char **rootfs_out, struct k3c_err *err);
/* Unmounts <container_dir>/rootfs (if mounted) and removes rootfs, upper and
 * work; the rest of container_dir stays. */
int image_rootfs_release(const char *container_dir, struct k3c_err *err);

/* ---- garbage collection (issue #21, image_gc.c) ------------------------ */

/* Deletes the blobs and unpacked layers that no record references (after
 * image_store_remove of unused images), except those modified in the last
 * grace_s seconds (a pull may be about to record them) and layers an
 * overlay mount uses. *freed_out (may be NULL): bytes on disk freed.
 * Returns how many blobs and layers went, or -1. Thread: any. */
int image_store_prune(struct image_store *s, int64_t grace_s, int64_t *freed_out,
                      struct k3c_err *err);

/* ---- the archive helper (image_helper.c) ------------------------------- */

/* The hidden verb of the k3c binary that unpacks layers and stages
 * tarballs in a child process (libarchive is loaded there only). A program
 * that uses the image store must dispatch it to image_helper_main before
 * anything else: `if (argc > 1 && strcmp(argv[1], IMAGE_HELPER_VERB) == 0)
 * return image_helper_main(argc - 1, argv + 1);` */
#define IMAGE_HELPER_VERB "__image-archive"
int image_helper_main(int argc, char **argv);

#endif
