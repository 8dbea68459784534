/* SPDX-License-Identifier: Apache-2.0
 * buf.h - a growable byte buffer, always NUL-terminated after len bytes.
 * Embedded: k3c_buf_init/k3c_buf_fini. Allocation failure aborts (xmalloc
 * policy: callers never check). */
#ifndef K3C_BASE_BUF_H
#define K3C_BASE_BUF_H

#include <stddef.h>

struct k3c_buf {
    char *data;
    size_t len;
    size_t cap;
};

void k3c_buf_init(struct k3c_buf *b);
void k3c_buf_fini(struct k3c_buf *b);
void k3c_buf_reset(struct k3c_buf *b);
void k3c_buf_append(struct k3c_buf *b, const void *data, size_t len);
void k3c_buf_appendf(struct k3c_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends len bytes for the caller to fill; returns where they start. */
char *k3c_buf_extend(struct k3c_buf *b, size_t len);
/* Drops the first n bytes. */
void k3c_buf_consume(struct k3c_buf *b, size_t n);
/* Hands the data out (caller free()s); the buffer is empty afterwards. */
char *k3c_buf_steal(struct k3c_buf *b, size_t *len_out);

#endif
