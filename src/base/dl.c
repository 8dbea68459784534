/* SPDX-License-Identifier: Apache-2.0
 * dl.c - a shared library loaded at run time (dl.h). */
#include "base/dl.h"

#include <dlfcn.h>

static void
clear_slots(const struct k3c_dl_sym *syms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *syms[i].slot = NULL;
}

int
k3c_dl_load(const char *soname, const char *package, const char *what,
            const struct k3c_dl_sym *syms, size_t n, struct k3c_err *err)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

    if (!h)
        return k3c_err_set(err, K3C_E_SYSTEM,
                           "%s: cannot load %s (%s); install the Debian package %s", what, soname,
                           dlerror(), package);
    for (size_t i = 0; i < n; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            clear_slots(syms, n);
            dlclose(h);
            return k3c_err_set(err, K3C_E_SYSTEM, "%s: %s lacks %s; install the Debian package %s",
                               what, soname, syms[i].name, package);
        }
    }
    return 0;
}
