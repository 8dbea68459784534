/* SPDX-License-Identifier: Apache-2.0
 * image_unpack.c - unpacks one layer blob with libarchive, safely. The work
 * runs in the image helper process (image_helper.c: libarchive is loaded
 * there only) with its working directory set to the layer directory, so
 * every name handed to libarchive is relative and its SECURE_NODOTDOT /
 * NOABSOLUTEPATHS / SYMLINKS checks confine the layer.
 * Two archive readers are chained: "raw" decompresses the blob and feeds
 * the tar reader while hashing, so the diff ID is checked in one pass.
 * OCI whiteouts (image-spec layer.md) become overlayfs ones. */
#define LOG_COMPONENT "image"
#include "image/image-archive.h"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_NAME     ".wh..wh..opq"
#define OVERLAY_OPAQUE  "trusted.overlay.opaque"

static const int extract_flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                 ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                 ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

struct chain {
    struct archive *raw; /* decompresses the blob */
    struct image_sha256 *hash;
    char buf[64 * 1024];
    bool eof;
};

/* The tar reader's read callback: uncompressed bytes from the raw reader,
 * hashed on the way. */
static la_ssize_t
chain_read(struct archive *tar, void *userdata, const void **out)
{
    struct chain *c = userdata;
    la_ssize_t n;

    if (c->eof)
        return 0;
    n = archive_read_data(c->raw, c->buf, sizeof(c->buf));
    if (n < 0) {
        archive_set_error(tar, EIO, "%s", archive_error_string(c->raw));
        return -1;
    }
    if (n == 0)
        c->eof = true;
    image_sha256_update(c->hash, c->buf, (size_t)n);
    *out = c->buf;
    return n;
}

/* Normalises an entry name to a clean relative path ("./a//b/" -> "a/b").
 * Returns false for absolute names and for any ".." component. An empty
 * result is the layer root. */
static bool
name_clean(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    if (in[0] == '/')
        return false;
    while (*in) {
        const char *e = strchr(in, '/');
        size_t len = e ? (size_t)(e - in) : strlen(in);

        if (len == 2 && in[0] == '.' && in[1] == '.')
            return false;
        if (len > 0 && !(len == 1 && in[0] == '.')) {
            if (o + len + 2 > outlen)
                return false;
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, in, len);
            o += len;
        }
        in += len;
        while (*in == '/')
            in++;
    }
    out[o] = '\0';
    return true;
}

/* Opens directory path (relative to the cwd, the layer root) one component
 * at a time with O_NOFOLLOW, creating missing ones, so a symlink inside the
 * layer can never redirect us outside it. */
static int
open_dir_secure(const char *path, struct k3c_err *err)
{
    _cleanup_free_ char *p = k3c_xstrdup(path);
    int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *save = NULL;

    if (dfd < 0)
        return k3c_err_sys(err, errno, "open layer root");
    for (char *comp = strtok_r(p, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST) {
                close(dfd);
                return k3c_err_sys(err, errno, "mkdir %s", path);
            }
            fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        close(dfd);
        if (fd < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                return k3c_err_set(err, K3C_E_INVALID, "%s: a component is a symlink or file",
                                   path);
            return k3c_err_sys(err, errno, "open %s", path);
        }
        dfd = fd;
    }
    return dfd;
}

/* ".wh.<name>" -> a 0/0 character device <name> (overlayfs whiteout). */
static int
make_whiteout(const char *dir, const char *name, struct k3c_err *err)
{
    _cleanup_close_ int dfd = open_dir_secure(dir, err);

    if (dfd < 0)
        return -1;
    if (mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0)) < 0) {
        if (errno != EEXIST)
            return k3c_err_sys(err, errno, "whiteout %s/%s", dir, name);
        /* The same layer also had the entry (not valid, but seen): the
         * whiteout wins, as with containerd. */
        if (unlinkat(dfd, name, 0) < 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
            return k3c_err_sys(err, errno, "whiteout %s/%s", dir, name);
        if (mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
            return k3c_err_sys(err, errno, "whiteout %s/%s", dir, name);
    }
    return 0;
}

static int
make_opaque(const char *dir, struct k3c_err *err)
{
    _cleanup_close_ int dfd = open_dir_secure(dir, err);

    if (dfd < 0)
        return -1;
    if (fsetxattr(dfd, OVERLAY_OPAQUE, "y", 1, 0) < 0)
        return k3c_err_sys(err, errno, "opaque directory %s", *dir ? dir : "/");
    return 0;
}

/* Drops the trusted.overlay.* attributes a layer carries: only the
 * conversion above may steer overlayfs (redirects, metacopy, opaque). */
static void
filter_xattrs(struct archive_entry *e)
{
    const char *name;
    const void *value;
    size_t size;
    bool bad = false;
    struct {
        char *name;
        void *value;
        size_t size;
    } keep[64];
    size_t n = 0;

    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
        if (strncmp(name, "trusted.overlay.", 16) == 0)
            bad = true;
    if (!bad)
        return;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (strncmp(name, "trusted.overlay.", 16) == 0 || n >= K3C_ARRAY_SIZE(keep))
            continue;
        keep[n].name = k3c_xstrdup(name);
        keep[n].value = k3c_xmalloc(size ? size : 1);
        memcpy(keep[n].value, value, size);
        keep[n].size = size;
        n++;
    }
    archive_entry_xattr_clear(e);
    for (size_t i = 0; i < n; i++) {
        archive_entry_xattr_add_entry(e, keep[i].name, keep[i].value, keep[i].size);
        free(keep[i].name);
        free(keep[i].value);
    }
}

static int
copy_data(struct archive *in, struct archive *out, const char *name, struct k3c_err *err)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(in, &buf, &size, &off);

        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return k3c_err_set(err, K3C_E_INVALID, "%s: %s", name, archive_error_string(in));
        if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN)
            return k3c_err_set(err, K3C_E_SYSTEM, "%s: %s", name, archive_error_string(out));
    }
}

/* One entry: whiteouts are converted, everything else is written by
 * libarchive with its secure flags. opaque collects the directories to
 * mark once everything is written. */
static int
unpack_entry(struct archive *tar, struct archive *disk, struct archive_entry *e, char ***opaque,
             size_t *n_opaque, struct k3c_err *err)
{
    const char *raw_name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    char name[4096], target[4096];
    const char *base;
    int r;

    if (!raw_name || !name_clean(raw_name, name, sizeof(name)))
        return k3c_err_set(err, K3C_E_INVALID, "entry \"%.200s\" escapes the layer",
                           raw_name ? raw_name : "(null)");
    if (name[0] == '\0')
        return 0; /* the layer root: its directory is ours */
    base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(base, WHITEOUT_PREFIX, 4) == 0) {
        _cleanup_free_ char *dir = k3c_xstrndup(name, (size_t)(base - name));

        if (dir[0] && dir[strlen(dir) - 1] == '/')
            dir[strlen(dir) - 1] = '\0';
        if (strcmp(base, OPAQUE_NAME) == 0) {
            *opaque = k3c_xrealloc(*opaque, (*n_opaque + 1) * sizeof(char *));
            (*opaque)[(*n_opaque)++] = TAKE_PTR(dir);
            return 0;
        }
        if (strncmp(base, ".wh..wh.", 8) == 0)
            return 0; /* aufs metadata (.wh..wh.plnk, .wh..wh.aufs): no meaning here */
        if (base[4] == '\0' || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0)
            return k3c_err_set(err, K3C_E_INVALID, "whiteout \"%.200s\" names nothing", name);
        return make_whiteout(dir, base + 4, err);
    }
    archive_entry_copy_pathname(e, name);
    if (link) {
        if (!name_clean(link, target, sizeof(target)) || target[0] == '\0')
            return k3c_err_set(err, K3C_E_INVALID,
                               "hard link \"%.100s\" -> \"%.100s\" escapes the layer", name, link);
        archive_entry_copy_hardlink(e, target);
    }
    filter_xattrs(e);
    r = archive_write_header(disk, e);
    if (r < ARCHIVE_WARN)
        return k3c_err_set(err, K3C_E_INVALID, "%.200s: %s", name, archive_error_string(disk));
    if (r == ARCHIVE_WARN)
        log_debug("(layer) %s: %s", name, archive_error_string(disk));
    if (archive_entry_size(e) > 0 && copy_data(tar, disk, name, err) < 0)
        return -1;
    r = archive_write_finish_entry(disk);
    if (r < ARCHIVE_WARN)
        return k3c_err_set(err, K3C_E_SYSTEM, "%.200s: %s", name, archive_error_string(disk));
    return 0;
}

/* Runs with the cwd at the layer root. */
static int
unpack_here(const char *blob_path, const char *diff_id, struct k3c_err *err)
{
    struct archive *tar = NULL, *disk = NULL;
    struct archive_entry *e;
    struct chain *c = k3c_xcalloc(1, sizeof(*c));
    char **opaque = NULL;
    size_t n_opaque = 0;
    char got[IMAGE_DIGEST_LEN];
    int rc = -1, r;

    c->hash = image_sha256_new();
    c->raw = archive_read_new();
    /* Only the compressions images use (OCI: gzip, zstd; docker load also
     * took bzip2 and xz): filter_all could run external decompressors. */
    archive_read_support_filter_gzip(c->raw);
    archive_read_support_filter_zstd(c->raw);
    archive_read_support_filter_bzip2(c->raw);
    archive_read_support_filter_xz(c->raw);
    archive_read_support_format_raw(c->raw);
    if (archive_read_open_filename(c->raw, blob_path, 64 * 1024) != ARCHIVE_OK ||
        archive_read_next_header(c->raw, &e) != ARCHIVE_OK) {
        k3c_err_set(err, K3C_E_INVALID, "open %s: %s", blob_path, archive_error_string(c->raw));
        goto out;
    }
    tar = archive_read_new();
    archive_read_support_format_tar(tar);
    archive_read_support_format_gnutar(tar);
    if (archive_read_open(tar, c, NULL, chain_read, NULL) != ARCHIVE_OK) {
        k3c_err_set(err, K3C_E_INVALID, "%s: %s", blob_path, archive_error_string(tar));
        goto out;
    }
    disk = archive_write_disk_new();
    archive_write_disk_set_options(disk, extract_flags);
    /* No lookup functions: owners stay the numeric ids of the tar, never
     * names resolved against this host's /etc/passwd. */
    while ((r = archive_read_next_header(tar, &e)) != ARCHIVE_EOF) {
        if (r < ARCHIVE_WARN) {
            k3c_err_set(err, K3C_E_INVALID, "%s", archive_error_string(tar));
            goto out;
        }
        if (unpack_entry(tar, disk, e, &opaque, &n_opaque, err) < 0)
            goto out;
    }
    /* The tar reader stops at the end-of-archive blocks; the diff ID covers
     * the whole stream, padding included. */
    for (;;) {
        const void *dummy;
        la_ssize_t n = chain_read(tar, c, &dummy);

        if (n < 0) {
            k3c_err_set(err, K3C_E_INVALID, "%s", archive_error_string(tar));
            goto out;
        }
        if (n == 0)
            break;
    }
    /* Directory times and modes are fixed up here, after their contents. */
    if (archive_write_close(disk) < ARCHIVE_WARN) {
        k3c_err_set(err, K3C_E_SYSTEM, "%s", archive_error_string(disk));
        goto out;
    }
    for (size_t i = 0; i < n_opaque; i++)
        if (make_opaque(opaque[i], err) < 0)
            goto out;
    image_sha256_finish(c->hash, got);
    c->hash = NULL;
    if (diff_id && strcmp(got, diff_id) != 0) {
        k3c_err_set(err, K3C_E_INVALID, "diff ID mismatch: content is %s, config says %s", got,
                    diff_id);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n_opaque; i++)
        free(opaque[i]);
    free(opaque);
    if (disk)
        archive_write_free(disk);
    if (tar)
        archive_read_free(tar);
    archive_read_free(c->raw);
    if (c->hash)
        image_sha256_finish(c->hash, got);
    free(c);
    return rc;
}

int
image_layer_unpack_here(const char *blob_path, const char *dest, const char *diff_id,
                        struct k3c_err *err)
{
    if (chdir(dest) < 0)
        return k3c_err_sys(err, errno, "chdir %s", dest);
    return unpack_here(blob_path, diff_id, err);
}

/* Where the helper cannot run: the same work on a thread of this process
 * that has its own working directory (unshare(CLONE_FS)), so the chdir is
 * invisible to every other thread. The thread ends with the job. */
struct unpack_job {
    const char *blob_path, *dest, *diff_id;
    struct k3c_err err;
    int rc;
};

static void *
unpack_thread(void *arg)
{
    struct unpack_job *job = arg;

    if (unshare(CLONE_FS) < 0) {
        job->rc = k3c_err_sys(&job->err, errno, "unshare(CLONE_FS)");
        return NULL;
    }
    job->rc = image_layer_unpack_here(job->blob_path, job->dest, job->diff_id, &job->err);
    return NULL;
}

static int
unpack_in_process(const char *blob_path, const char *dest, const char *diff_id, struct k3c_err *err)
{
    struct unpack_job job = {.blob_path = blob_path, .dest = dest, .diff_id = diff_id, .rc = -1};
    pthread_t t;
    int e;

    if (image_archive_load(err) < 0)
        return -1;
    e = pthread_create(&t, NULL, unpack_thread, &job);
    if (e != 0)
        return k3c_err_sys(err, e, "start unpack thread");
    pthread_join(t, NULL);
    if (job.rc < 0)
        *err = job.err;
    return job.rc;
}

int
image_layer_unpack(const char *blob_path, const char *dest, const char *diff_id,
                   struct k3c_err *err)
{
    const char *args[] = {"unpack", blob_path, dest, diff_id ? diff_id : "", NULL};

    /* The helper chdirs to dest (relative to the working directory it
     * inherits) before it opens the blob. */
    if (blob_path[0] != '/')
        return k3c_err_set(err, K3C_E_INTERNAL, "layer blob path %s is not absolute", blob_path);
    if (!image_helper_usable())
        return unpack_in_process(blob_path, dest, diff_id, err);
    return image_helper_run(args, NULL, err);
}
