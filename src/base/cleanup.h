/* SPDX-License-Identifier: Apache-2.0
 * cleanup.h - scope-bound cleanup (systemd/crun style). Always initialise a
 * guarded variable to NULL or -1; hand ownership out with TAKE_PTR/TAKE_FD. */
#ifndef K3C_BASE_CLEANUP_H
#define K3C_BASE_CLEANUP_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
k3c_freep(void *p)
{
    free(*(void **)p);
}

static inline void
k3c_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

static inline void
k3c_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void
k3c_json_decrefp(json_t **j)
{
    json_decref(*j);
}

#define _cleanup_free_   __attribute__((cleanup(k3c_freep)))
#define _cleanup_close_  __attribute__((cleanup(k3c_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(k3c_fclosep)))
#define _cleanup_json_   __attribute__((cleanup(k3c_json_decrefp)))

/* Declares a cleanup for one pointer type: K3C_DEFINE_CLEANUP(struct store *, store_free)
 * gives _cleanup_(store_freep). */
#define K3C_DEFINE_CLEANUP(type, func)                                                             \
    __attribute__((unused)) static inline void func##p(type *p)                                    \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }
#define _cleanup_(f) __attribute__((cleanup(f)))

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tf = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _tf;                                                                                       \
    })

#endif
