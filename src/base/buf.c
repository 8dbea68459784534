/* SPDX-License-Identifier: Apache-2.0
 * buf.c - growable byte buffer. */
#include "base/buf.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
k3c_buf_init(struct k3c_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
k3c_buf_fini(struct k3c_buf *b)
{
    free(b->data);
    k3c_buf_init(b);
}

void
k3c_buf_reset(struct k3c_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static void
buf_reserve(struct k3c_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = k3c_xrealloc(b->data, cap);
    b->cap = cap;
}

void
k3c_buf_append(struct k3c_buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

char *
k3c_buf_extend(struct k3c_buf *b, size_t len)
{
    char *at;

    buf_reserve(b, len);
    at = b->data + b->len;
    b->len += len;
    b->data[b->len] = '\0';
    return at;
}

void
k3c_buf_appendf(struct k3c_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
k3c_buf_consume(struct k3c_buf *b, size_t n)
{
    if (n >= b->len) {
        k3c_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *
k3c_buf_steal(struct k3c_buf *b, size_t *len_out)
{
    char *d = b->data;

    if (!d)
        d = k3c_xstrdup("");
    if (len_out)
        *len_out = b->len;
    k3c_buf_init(b);
    return d;
}
