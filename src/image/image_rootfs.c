/* SPDX-License-Identifier: Apache-2.0
 * image_rootfs.c - a container's root filesystem: an overlay of the image's
 * shared, read-only layers (top-first lowerdir) with a private upper and
 * work directory in the container's directory. The layers are never
 * written; everything the container changes lands in its upper dir. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel copies mount data into one page (fs/namespace.c
 * copy_mount_options), so the whole option string must fit. */
#define MOUNT_DATA_MAX 4095

/* overlayfs splits lowerdir on ':' and options on ',': escape both (and
 * the escape character itself) with '\' (Documentation/filesystems/overlayfs.rst). */
static void
append_escaped(struct k3c_buf *b, const char *path)
{
    for (const char *p = path; *p; p++) {
        if (*p == ':' || *p == ',' || *p == '\\')
            k3c_buf_append(b, "\\", 1);
        k3c_buf_append(b, p, 1);
    }
}

static bool
is_mountpoint(const char *path)
{
    struct statx stx;

    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
        return false;
    if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
        return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    {
        _cleanup_free_ char *parent = k3c_xasprintf("%s/..", path);
        struct stat a, b;

        return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
    }
}

int
image_rootfs_prepare(struct image_store *s, const struct image *img, const char *container_dir,
                     char **rootfs_out, struct k3c_err *err)
{
    _cleanup_free_ char *rootfs = k3c_xasprintf("%s/rootfs", container_dir);
    _cleanup_free_ char *upper = k3c_xasprintf("%s/upper", container_dir);
    _cleanup_free_ char *work = k3c_xasprintf("%s/work", container_dir);
    struct k3c_buf opts;
    int rc = -1;

    if (is_mountpoint(rootfs)) {
        *rootfs_out = TAKE_PTR(rootfs);
        return 0;
    }
    if (k3c_mkdir_p(rootfs, 0755, err) < 0 || k3c_mkdir_p(upper, 0755, err) < 0 ||
        k3c_mkdir_p(work, 0700, err) < 0)
        return k3c_err_wrap(err, "image %s: rootfs", img->ref);
    k3c_buf_init(&opts);
    k3c_buf_append(&opts, "lowerdir=", 9);
    if (img->n_layers == 0) {
        /* overlayfs needs a lower layer; a scratch image has none. */
        _cleanup_free_ char *empty = k3c_xasprintf("%s/empty", container_dir);

        if (k3c_mkdir_p(empty, 0755, err) < 0)
            goto out;
        append_escaped(&opts, empty);
    }
    for (size_t i = img->n_layers; i-- > 0;) {
        _cleanup_free_ char *layer = image_store_layer_path(s, img->layers[i].diff_id);

        if (access(layer, F_OK) < 0) {
            k3c_err_set(err, K3C_E_NOT_FOUND, "image %s: layer %s is not unpacked in the store",
                        img->ref, img->layers[i].diff_id);
            goto out;
        }
        if (i != img->n_layers - 1)
            k3c_buf_append(&opts, ":", 1);
        append_escaped(&opts, layer);
    }
    k3c_buf_append(&opts, ",upperdir=", 10);
    append_escaped(&opts, upper);
    k3c_buf_append(&opts, ",workdir=", 9);
    append_escaped(&opts, work);
    if (opts.len > MOUNT_DATA_MAX) {
        k3c_err_set(err, K3C_E_INVALID,
                    "image %s: %zu layers make overlay options of %zu bytes (max %d)", img->ref,
                    img->n_layers, opts.len, MOUNT_DATA_MAX);
        goto out;
    }
    if (mount("overlay", rootfs, "overlay", 0, opts.data) < 0) {
        k3c_err_sys(err, errno, "image %s: mount overlay on %s", img->ref, rootfs);
        goto out;
    }
    log_debug("(image %s) rootfs %s: %zu layers", img->ref, rootfs, img->n_layers);
    *rootfs_out = TAKE_PTR(rootfs);
    rc = 0;
out:
    k3c_buf_fini(&opts);
    return rc;
}

int
image_rootfs_release(const char *container_dir, struct k3c_err *err)
{
    static const char *const parts[] = {"rootfs", "upper", "work", "empty"};
    _cleanup_free_ char *rootfs = k3c_xasprintf("%s/rootfs", container_dir);

    if (umount2(rootfs, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) {
        if (errno != EBUSY)
            return k3c_err_sys(err, errno, "unmount %s", rootfs);
        /* Still in use (a process that outlived its container): detach so
         * the mount goes away with its last user. */
        if (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            return k3c_err_sys(err, errno, "unmount %s", rootfs);
    }
    if (is_mountpoint(rootfs))
        return k3c_err_set(err, K3C_E_SYSTEM, "%s is still mounted", rootfs);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(parts); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", container_dir, parts[i]);

        if (image_rm_rf(p, err) < 0)
            return -1;
    }
    return 0;
}
