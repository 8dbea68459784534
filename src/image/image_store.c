/* SPDX-License-Identifier: Apache-2.0
 * image_store.c - the on-disk image store: content-addressed blobs, unpacked
 * layers, and records. Invariant: a blob or layer path exists only once its
 * content is complete and verified (written in tmp/, then renamed), so
 * "exists" means "usable". Writers of one digest serialise on an flock(2)
 * lock file; readers need no lock. The struct's own mutex covers only the
 * registries pointer. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- digests ---- */

struct image_sha256 {
    gnutls_hash_hd_t h;
};

struct image_sha256 *
image_sha256_new(void)
{
    struct image_sha256 *h = k3c_xcalloc(1, sizeof(*h));

    /* Fails only on allocation failure: the xmalloc policy. */
    if (gnutls_hash_init(&h->h, GNUTLS_DIG_SHA256) < 0)
        abort();
    return h;
}

void
image_sha256_update(struct image_sha256 *h, const void *data, size_t len)
{
    gnutls_hash(h->h, data, len);
}

void
image_sha256_finish(struct image_sha256 *h, char out[IMAGE_DIGEST_LEN])
{
    unsigned char md[32];

    gnutls_hash_deinit(h->h, md);
    free(h);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

void
image_sha256_digest(const void *data, size_t len, char out[IMAGE_DIGEST_LEN])
{
    struct image_sha256 *h = image_sha256_new();

    image_sha256_update(h, data, len);
    image_sha256_finish(h, out);
}

/* ---- store ---- */

static const char *const store_dirs[] = {"blobs/sha256", "layers/sha256", "images",
                                         "locks",        "tmp",           "imported"};

/* Staging left behind by a crash; an hour is far longer than any live
 * download stalls (the transfer's own low-speed limit is 30 s), so another
 * process's live entry is never removed. */
static void
store_sweep_tmp(struct image_store *s)
{
    _cleanup_free_ char *tmp = k3c_xasprintf("%s/tmp", s->root);
    DIR *d = opendir(tmp);
    struct dirent *de;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((de = readdir(d))) {
        struct stat st;
        _cleanup_free_ char *p = NULL;
        struct k3c_err err = {0};

        if (de->d_name[0] == '.')
            continue;
        p = k3c_xasprintf("%s/%s", tmp, de->d_name);
        if (lstat(p, &st) == 0 && now - st.st_mtime > 3600 && image_rm_rf(p, &err) < 0)
            log_warn("(store %s) cannot remove stale %s: %s", s->root, p, err.msg);
    }
    closedir(d);
}

struct image_store *
image_store_new(const char *root, struct k3c_err *err)
{
    struct image_store *s;
    char real[PATH_MAX];

    if (k3c_mkdir_p(root, 0700, err) < 0)
        return NULL;
    if (!realpath(root, real)) {
        k3c_err_sys(err, errno, "image store %s", root);
        return NULL;
    }
    s = k3c_xcalloc(1, sizeof(*s));
    s->root = k3c_xstrdup(real);
    pthread_mutex_init(&s->lock, NULL);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(store_dirs); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", s->root, store_dirs[i]);

        if (k3c_mkdir_p(p, 0700, err) < 0) {
            k3c_err_wrap(err, "image store %s", root);
            image_store_free(s);
            return NULL;
        }
    }
    store_sweep_tmp(s);
    return s;
}

void
image_store_free(struct image_store *s)
{
    if (!s)
        return;
    image_registries_free(s->regs);
    pthread_mutex_destroy(&s->lock);
    free(s->root);
    free(s);
}

void
image_store_set_registries_take(struct image_store *s, struct image_registries *regs)
{
    struct image_registries *old;

    pthread_mutex_lock(&s->lock);
    old = s->regs;
    s->regs = regs;
    pthread_mutex_unlock(&s->lock);
    /* Registries are reference counted: a pull still using the old set
     * holds its own reference. */
    image_registries_free(old);
}

void
image_store_stats(struct image_store *s, struct image_store_stats *out)
{
    out->manifests_fetched = atomic_load(&s->manifests_fetched);
    out->blobs_fetched = atomic_load(&s->blobs_fetched);
    out->bytes_fetched = atomic_load(&s->bytes_fetched);
    out->blobs_reused = atomic_load(&s->blobs_reused);
    out->layers_unpacked = atomic_load(&s->layers_unpacked);
    out->layers_reused = atomic_load(&s->layers_reused);
}

char *
image_store_blob_path(struct image_store *s, const char *digest)
{
    return k3c_xasprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

char *
image_store_layer_path(struct image_store *s, const char *diff_id)
{
    return k3c_xasprintf("%s/layers/sha256/%s", s->root, diff_id + 7);
}

bool
image_store_has_blob(struct image_store *s, const char *digest)
{
    _cleanup_free_ char *p = image_store_blob_path(s, digest);

    return access(p, F_OK) == 0;
}

int
image_store_lock_digest(struct image_store *s, const char *digest, struct k3c_err *err)
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/locks/%s.lock", s->root, digest + 7);
    _cleanup_close_ int fd = -1;

    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return k3c_err_sys(err, errno, "lock %s", p);
    /* flock locks belong to the open file description, so two threads that
     * each open the file exclude each other as two processes do. */
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR)
            return k3c_err_sys(err, errno, "flock %s", p);
    }
    return TAKE_FD(fd);
}

char *
image_store_tmpfile(struct image_store *s, int *fd_out, struct k3c_err *err)
{
    char *p = k3c_xasprintf("%s/tmp/blob-XXXXXX", s->root);
    int fd = mkostemp(p, O_CLOEXEC);

    if (fd < 0) {
        k3c_err_sys(err, errno, "create temporary file in %s/tmp", s->root);
        free(p);
        return NULL;
    }
    *fd_out = fd;
    return p;
}

char *
image_store_tmpdir(struct image_store *s, struct k3c_err *err)
{
    char *p = k3c_xasprintf("%s/tmp/dir-XXXXXX", s->root);

    if (!mkdtemp(p)) {
        k3c_err_sys(err, errno, "create temporary directory in %s/tmp", s->root);
        free(p);
        return NULL;
    }
    return p;
}

static int
fsync_dir(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? -1 : fsync(fd);
}

int
image_store_admit_blob(struct image_store *s, const char *tmp_path, const char *digest,
                       struct k3c_err *err)
{
    _cleanup_free_ char *dst = image_store_blob_path(s, digest);
    _cleanup_free_ char *dir = k3c_xasprintf("%s/blobs/sha256", s->root);
    _cleanup_close_ int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);

    /* Durable before visible: a renamed blob that a crash left empty would
     * be trusted forever. */
    if (fd < 0 || fsync(fd) < 0 || fchmod(fd, 0644) < 0) {
        k3c_err_sys(err, errno, "blob %s: sync", digest);
        unlink(tmp_path);
        return -1;
    }
    if (rename(tmp_path, dst) < 0) {
        k3c_err_sys(err, errno, "blob %s: rename to %s", digest, dst);
        unlink(tmp_path);
        return -1;
    }
    fsync_dir(dir);
    return 0;
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int
image_store_put_blob(struct image_store *s, const char *data, size_t len,
                     char digest_out[IMAGE_DIGEST_LEN], struct k3c_err *err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;

    image_sha256_digest(data, len, digest_out);
    if (image_store_has_blob(s, digest_out))
        return 0;
    tmp = image_store_tmpfile(s, &fd, err);
    if (!tmp)
        return -1;
    if (write_all(fd, data, len) < 0) {
        k3c_err_sys(err, errno, "blob %s: write %s", digest_out, tmp);
        unlink(tmp);
        return -1;
    }
    return image_store_admit_blob(s, tmp, digest_out, err);
}

int
image_store_read_blob(struct image_store *s, const char *digest, size_t max, char **out,
                      size_t *len_out, struct k3c_err *err)
{
    _cleanup_free_ char *p = image_store_blob_path(s, digest);
    struct stat st;

    if (stat(p, &st) < 0) {
        if (errno == ENOENT)
            return k3c_err_set(err, K3C_E_NOT_FOUND, "blob %s is not in the store", digest);
        return k3c_err_sys(err, errno, "blob %s", p);
    }
    if ((size_t)st.st_size > max)
        return k3c_err_set(err, K3C_E_INVALID, "blob %s: %lld bytes, more than %zu", digest,
                           (long long)st.st_size, max);
    return k3c_read_file(p, out, len_out, err);
}

/* Writes a record atomically through tmp/ (k3c_write_file's tmp name is
 * per process, and two threads may commit the same reference). */
static int
store_write_atomic(struct image_store *s, const char *path, const char *data, size_t len,
                   struct k3c_err *err)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *tmp = image_store_tmpfile(s, &fd, err);

    if (!tmp)
        return -1;
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0 || fchmod(fd, 0600) < 0) {
        k3c_err_sys(err, errno, "write %s", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        k3c_err_sys(err, errno, "rename %s to %s", tmp, path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- layers ---- */

static int
store_ensure_layer(struct image_store *s, const struct image_descriptor *blob, const char *diff_id,
                   struct k3c_err *err)
{
    _cleanup_free_ char *dst = image_store_layer_path(s, diff_id);
    _cleanup_free_ char *src = image_store_blob_path(s, blob->digest);
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int lock = -1;
    int64_t t0;

    if (access(dst, F_OK) == 0) {
        atomic_fetch_add(&s->layers_reused, 1);
        return 0;
    }
    if (blob->media_type && strstr(blob->media_type, "encrypted"))
        return k3c_err_set(err, K3C_E_INVALID, "layer %s: encrypted layers (%s) are not supported",
                           blob->digest, blob->media_type);
    lock = image_store_lock_digest(s, diff_id, err);
    if (lock < 0)
        return -1;
    if (access(dst, F_OK) == 0) { /* another puller finished it while we waited */
        atomic_fetch_add(&s->layers_reused, 1);
        return 0;
    }
    tmp = image_store_tmpdir(s, err);
    if (!tmp)
        return -1;
    t0 = k3c_now_ms();
    if (image_layer_unpack(src, tmp, diff_id, err) < 0) {
        struct k3c_err e2 = {0};

        image_rm_rf(tmp, &e2);
        return k3c_err_wrap(err, "layer %s", blob->digest);
    }
    if (rename(tmp, dst) < 0) {
        int e = errno;
        struct k3c_err e2 = {0};

        image_rm_rf(tmp, &e2);
        return k3c_err_sys(err, e, "layer %s: rename to %s", blob->digest, dst);
    }
    atomic_fetch_add(&s->layers_unpacked, 1);
    log_debug("(layer %s) unpacked in %lld ms", diff_id, (long long)(k3c_now_ms() - t0));
    return 0;
}

/* ---- records ---- */

static char *
record_path(struct image_store *s, const char *ref)
{
    _cleanup_free_ char *esc = image_ref_escape(ref);

    return k3c_xasprintf("%s/images/%s.json", s->root, esc);
}

void
image_free(struct image *img)
{
    if (!img)
        return;
    free(img->ref);
    free(img->repo_digest);
    for (size_t i = 0; i < img->n_layers; i++)
        free(img->layers[i].media_type);
    free(img->layers);
    image_config_fini(&img->config);
    free(img);
}

static void
copy_digest(char dst[IMAGE_DIGEST_LEN], const char *src)
{
    snprintf(dst, IMAGE_DIGEST_LEN, "%s", src ? src : "");
}

/* Builds an image from a record and its config blob. */
static struct image *
image_from_record(struct image_store *s, json_t *rec, struct k3c_err *err)
{
    struct image *img = k3c_xcalloc(1, sizeof(*img));
    json_t *layers = json_object_get(rec, "layers");
    const char *ref = json_string_value(json_object_get(rec, "ref"));
    const char *repo = json_string_value(json_object_get(rec, "repoDigest"));
    const char *manifest = json_string_value(json_object_get(rec, "manifest"));
    const char *config = json_string_value(json_object_get(rec, "config"));
    _cleanup_free_ char *cfg = NULL;
    size_t cfg_len = 0;
    json_t *l;
    size_t i;

    if (!ref || !image_digest_valid(manifest) || !image_digest_valid(config) ||
        !json_is_array(layers)) {
        k3c_err_set(err, K3C_E_INVALID, "image record is malformed");
        goto fail;
    }
    img->ref = k3c_xstrdup(ref);
    img->repo_digest = k3c_xstrdup(repo ? repo : "");
    copy_digest(img->manifest_digest, manifest);
    copy_digest(img->config_digest, config);
    img->n_layers = json_array_size(layers);
    img->layers = k3c_xcalloc(img->n_layers + 1, sizeof(*img->layers));
    json_array_foreach(layers, i, l)
    {
        const char *d = json_string_value(json_object_get(l, "digest"));
        const char *diff = json_string_value(json_object_get(l, "diffID"));
        const char *mt = json_string_value(json_object_get(l, "mediaType"));

        if (!image_digest_valid(d) || !image_digest_valid(diff)) {
            k3c_err_set(err, K3C_E_INVALID, "image record %s: malformed layer %zu", ref, i);
            goto fail;
        }
        copy_digest(img->layers[i].digest, d);
        copy_digest(img->layers[i].diff_id, diff);
        img->layers[i].media_type = k3c_xstrdup(mt ? mt : "");
        img->layers[i].size = json_integer_value(json_object_get(l, "size"));
        img->size += img->layers[i].size;
    }
    if (image_store_read_blob(s, config, IMAGE_CONFIG_MAX, &cfg, &cfg_len, err) < 0 ||
        image_config_parse(cfg, cfg_len, &img->config, err) < 0) {
        k3c_err_wrap(err, "image %s: config %s", ref, config);
        goto fail;
    }
    return img;
fail:
    image_free(img);
    return NULL;
}

static struct image *
record_load(struct image_store *s, const char *path, const char *ref, struct k3c_err *err)
{
    _cleanup_json_ json_t *rec = NULL;
    json_error_t jerr;

    rec = json_load_file(path, 0, &jerr);
    if (!rec) {
        if (access(path, F_OK) < 0)
            k3c_err_set(err, K3C_E_NOT_FOUND, "image %s is not in the store", ref);
        else
            k3c_err_set(err, K3C_E_INVALID, "image record %s: %s", path, jerr.text);
        return NULL;
    }
    return image_from_record(s, rec, err);
}

struct image *
image_store_commit(struct image_store *s, const struct image_ref *ref, const char *manifest_digest,
                   const struct image_manifest *m, struct k3c_err *err)
{
    _cleanup_free_ char *name = image_ref_string(ref);
    _cleanup_free_ char *path = record_path(s, name);
    _cleanup_free_ char *cfg = NULL, *dump = NULL, *repo_digest = NULL;
    _cleanup_json_ json_t *rec = NULL;
    char **diff_ids = NULL;
    size_t cfg_len = 0, n_diff = 0;
    json_t *layers;
    char now[32];
    int rc = -1;

    if (image_store_read_blob(s, m->config.digest, IMAGE_CONFIG_MAX, &cfg, &cfg_len, err) < 0 ||
        image_config_diff_ids(cfg, cfg_len, &diff_ids, &n_diff, err) < 0) {
        k3c_err_wrap(err, "image %s: config %s", name, m->config.digest);
        return NULL;
    }
    if (n_diff != m->n_layers) {
        k3c_err_set(err, K3C_E_INVALID, "image %s: manifest has %zu layers, config %zu diff IDs",
                    name, m->n_layers, n_diff);
        goto out;
    }
    layers = json_array();
    for (size_t i = 0; i < m->n_layers; i++) {
        if (store_ensure_layer(s, &m->layers[i], diff_ids[i], err) < 0) {
            json_decref(layers);
            k3c_err_wrap(err, "image %s", name);
            goto out;
        }
        json_array_append_new(layers,
                              json_pack("{s:s, s:s, s:s, s:I}", "digest", m->layers[i].digest,
                                        "diffID", diff_ids[i], "mediaType",
                                        m->layers[i].media_type ? m->layers[i].media_type : "",
                                        "size", (json_int_t)m->layers[i].size));
    }
    k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
    repo_digest = k3c_xasprintf("%s/%s@%s", ref->domain, ref->path, manifest_digest);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "ref", name, "repoDigest", repo_digest,
                    "manifest", manifest_digest, "config", m->config.digest, "layers", layers,
                    "pulled", now);
    dump = json_dumps(rec, JSON_SORT_KEYS | JSON_INDENT(1));
    if (store_write_atomic(s, path, dump, strlen(dump), err) < 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < n_diff; i++)
        free(diff_ids[i]);
    free(diff_ids);
    if (rc < 0)
        return NULL;
    return image_from_record(s, rec, err);
}

struct image *
image_store_get(struct image_store *s, const char *ref, struct k3c_err *err)
{
    struct image_ref r = {0};
    _cleanup_free_ char *name = NULL, *path = NULL;

    if (image_ref_parse(ref, &r, err) < 0)
        return NULL;
    name = image_ref_string(&r);
    image_ref_fini(&r);
    path = record_path(s, name);
    return record_load(s, path, name, err);
}

int
image_store_remove(struct image_store *s, const char *ref, struct k3c_err *err)
{
    struct image_ref r = {0};
    _cleanup_free_ char *name = NULL, *path = NULL;

    if (image_ref_parse(ref, &r, err) < 0)
        return -1;
    name = image_ref_string(&r);
    image_ref_fini(&r);
    path = record_path(s, name);
    if (unlink(path) < 0) {
        if (errno == ENOENT)
            return k3c_err_set(err, K3C_E_NOT_FOUND, "image %s is not in the store", name);
        return k3c_err_sys(err, errno, "remove %s", path);
    }
    return 0;
}

static int
image_cmp(const void *a, const void *b)
{
    return strcmp((*(struct image *const *)a)->ref, (*(struct image *const *)b)->ref);
}

int
image_store_list(struct image_store *s, struct image ***out, size_t *n_out, struct k3c_err *err)
{
    _cleanup_free_ char *dir = k3c_xasprintf("%s/images", s->root);
    struct image **v = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return k3c_err_sys(err, errno, "list %s", dir);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        _cleanup_free_ char *p = NULL;
        struct k3c_err e2 = {0};
        struct image *img;

        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        p = k3c_xasprintf("%s/%s", dir, de->d_name);
        img = record_load(s, p, de->d_name, &e2);
        if (!img) {
            /* One bad record must not hide the others from the node status. */
            log_warn("(store %s) skipping record %s: %s", s->root, de->d_name, e2.msg);
            continue;
        }
        v = k3c_xrealloc(v, (n + 1) * sizeof(*v));
        v[n++] = img;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), image_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

/* ---- rm -rf ---- */

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int
image_rm_rf(const char *path, struct k3c_err *err)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : k3c_err_sys(err, errno, "remove %s", path);
    /* FTW_PHYS: symlinks are removed, never followed; FTW_MOUNT: never cross
     * into a mount left behind (an overlay still mounted somewhere). */
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return k3c_err_sys(err, errno, "remove %s", path);
    return 0;
}
