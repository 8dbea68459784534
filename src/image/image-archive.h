/* SPDX-License-Identifier: Apache-2.0
 * image-archive.h - libarchive for the image code, loaded with dlopen.
 * libarchive brings libxml2, ICU and libstdc++ with it (~2.6 MiB of mapped
 * pages in every process that loads them), and only layer unpacking and
 * tarball import use it. Those run in a short-lived helper process (`k3c
 * __image-archive`, image_helper.c) that loads the library, so the
 * long-running agent and server never map it. Include this instead of
 * <archive.h>: each archive_* call below goes through the loaded table.
 * Not for use outside src/image/. */
#ifndef K3C_IMAGE_ARCHIVE_H
#define K3C_IMAGE_ARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "base/err.h"

/* The Debian package and soname the helper loads. */
#define IMAGE_ARCHIVE_SONAME  "libarchive.so.13"
#define IMAGE_ARCHIVE_PACKAGE "libarchive13"

#define IMAGE_ARCHIVE_FUNCS(X)                                                                     \
    X(archive_error_string)                                                                        \
    X(archive_set_error)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_free)                                                                           \
    X(archive_read_support_filter_gzip)                                                            \
    X(archive_read_support_filter_zstd)                                                            \
    X(archive_read_support_filter_bzip2)                                                           \
    X(archive_read_support_filter_xz)                                                              \
    X(archive_read_support_filter_lz4)                                                             \
    X(archive_read_support_format_raw)                                                             \
    X(archive_read_support_format_tar)                                                             \
    X(archive_read_support_format_gnutar)                                                          \
    X(archive_read_open_filename)                                                                  \
    X(archive_read_open)                                                                           \
    X(archive_read_next_header)                                                                    \
    X(archive_read_data)                                                                           \
    X(archive_read_data_block)                                                                     \
    X(archive_write_disk_new)                                                                      \
    X(archive_write_disk_set_options)                                                              \
    X(archive_write_header)                                                                        \
    X(archive_write_data_block)                                                                    \
    X(archive_write_finish_entry)                                                                  \
    X(archive_write_close)                                                                         \
    X(archive_write_free)                                                                          \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_copy_pathname)                                                                 \
    X(archive_entry_copy_hardlink)                                                                 \
    X(archive_entry_size)                                                                          \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_xattr_reset)                                                                   \
    X(archive_entry_xattr_next)                                                                    \
    X(archive_entry_xattr_clear)                                                                   \
    X(archive_entry_xattr_add_entry)

struct image_archive_api {
#define IMAGE_ARCHIVE_FIELD(f) __typeof__(f) *p_##f;
    IMAGE_ARCHIVE_FUNCS(IMAGE_ARCHIVE_FIELD)
#undef IMAGE_ARCHIVE_FIELD
};

/* Filled by image_archive_load; all NULL before. */
extern struct image_archive_api image_la;

/* Loads libarchive once (thread: the helper's main thread). Errors:
 * K3C_E_SYSTEM naming the missing library and its Debian package. */
int image_archive_load(struct k3c_err *err);

#ifndef IMAGE_ARCHIVE_NO_REDIRECT
#define archive_error_string               (image_la.p_archive_error_string)
#define archive_set_error                  (image_la.p_archive_set_error)
#define archive_read_new                   (image_la.p_archive_read_new)
#define archive_read_free                  (image_la.p_archive_read_free)
#define archive_read_support_filter_gzip   (image_la.p_archive_read_support_filter_gzip)
#define archive_read_support_filter_zstd   (image_la.p_archive_read_support_filter_zstd)
#define archive_read_support_filter_bzip2  (image_la.p_archive_read_support_filter_bzip2)
#define archive_read_support_filter_xz     (image_la.p_archive_read_support_filter_xz)
#define archive_read_support_filter_lz4    (image_la.p_archive_read_support_filter_lz4)
#define archive_read_support_format_raw    (image_la.p_archive_read_support_format_raw)
#define archive_read_support_format_tar    (image_la.p_archive_read_support_format_tar)
#define archive_read_support_format_gnutar (image_la.p_archive_read_support_format_gnutar)
#define archive_read_open_filename         (image_la.p_archive_read_open_filename)
#define archive_read_open                  (image_la.p_archive_read_open)
#define archive_read_next_header           (image_la.p_archive_read_next_header)
#define archive_read_data                  (image_la.p_archive_read_data)
#define archive_read_data_block            (image_la.p_archive_read_data_block)
#define archive_write_disk_new             (image_la.p_archive_write_disk_new)
#define archive_write_disk_set_options     (image_la.p_archive_write_disk_set_options)
#define archive_write_header               (image_la.p_archive_write_header)
#define archive_write_data_block           (image_la.p_archive_write_data_block)
#define archive_write_finish_entry         (image_la.p_archive_write_finish_entry)
#define archive_write_close                (image_la.p_archive_write_close)
#define archive_write_free                 (image_la.p_archive_write_free)
#define archive_entry_pathname             (image_la.p_archive_entry_pathname)
#define archive_entry_hardlink             (image_la.p_archive_entry_hardlink)
#define archive_entry_copy_pathname        (image_la.p_archive_entry_copy_pathname)
#define archive_entry_copy_hardlink        (image_la.p_archive_entry_copy_hardlink)
#define archive_entry_size                 (image_la.p_archive_entry_size)
#define archive_entry_filetype             (image_la.p_archive_entry_filetype)
#define archive_entry_xattr_reset          (image_la.p_archive_entry_xattr_reset)
#define archive_entry_xattr_next           (image_la.p_archive_entry_xattr_next)
#define archive_entry_xattr_clear          (image_la.p_archive_entry_xattr_clear)
#define archive_entry_xattr_add_entry      (image_la.p_archive_entry_xattr_add_entry)
#endif

#endif
