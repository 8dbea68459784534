/* SPDX-License-Identifier: Apache-2.0
 * dl.h - a shared library loaded at run time, for the libraries that only
 * short-lived helper processes use (libarchive in `k3c __image-archive`,
 * libnftables in `k3c __nft`), so the long-running agent and server never
 * map them. */
#ifndef K3C_BASE_DL_H
#define K3C_BASE_DL_H

#include <stddef.h>

#include "base/err.h"

/* One function to look up: name, and where its address goes. */
struct k3c_dl_sym {
    const char *name;
    void **slot;
};

/* dlopens soname and fills every slot of syms. The handle stays open until
 * the process exits (a library may leave hooks behind, as libnftables does
 * with GMP's allocator). Not thread-safe: the caller serialises loads and
 * checks a slot to load once. Errors: K3C_E_SYSTEM "<what>: cannot load
 * <soname> (...)" or "<what>: <soname> lacks <name>", each naming the Debian
 * package; every slot is NULL then. */
int k3c_dl_load(const char *soname, const char *package, const char *what,
                const struct k3c_dl_sym *syms, size_t n, struct k3c_err *err);

#endif
