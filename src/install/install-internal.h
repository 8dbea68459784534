/* SPDX-License-Identifier: Apache-2.0
 * install-internal.h - what the files of src/install/ share. */
#ifndef K3C_INSTALL_INTERNAL_H
#define K3C_INSTALL_INTERNAL_H

#include "install/install.h"

#include <sys/types.h>

#define INSTALL_BIN        "/usr/local/bin/k3c"
#define INSTALL_PKG_BIN    "/usr/bin/k3c" /* Debian's package (make deb) */
#define INSTALL_CONFIG_DIR "/etc/k3c"
#define INSTALL_CONFIG     "/etc/k3c/config.yaml"
#define INSTALL_UNIT_DIR   "/etc/systemd/system"

/* path under o->root. Caller frees. */
char *install_path(const struct install_opts *o, const char *path);
/* Runs argv (searched in PATH) and waits; quiet: its stdout and stderr go
 * to /dev/null. Returns its exit status, 127 when it could not run. */
int install_exec(const char *const *argv, bool quiet);

/* rm -rf path, staying on its file system; refuses "/". 0 when gone. */
int install_rm_rf(const char *path);

/* k3c server/agent processes (with a root: those whose command line names
 * it), or with conmon the conmons of the data dir: pids into out (at most
 * max); returns how many. */
size_t install_find_procs(const struct install_opts *o, const char *data_dir, bool conmon,
                          pid_t *out, size_t max);

#endif
