/* SPDX-License-Identifier: Apache-2.0
 * install.h - k3c on a real machine under systemd (issue #21), as K3s's
 * install.sh, k3s-killall.sh and k3s-uninstall.sh: `k3c install` merges
 * flags into /etc/k3c/config.yaml and installs, enables and starts the unit;
 * `k3c killall` stops k3c and removes what its node left on the host;
 * `k3c uninstall` also removes units, config, data and the binary. Every
 * path is under opts->root (tests: a scratch dir; "" or NULL: /), and with
 * a root no systemctl runs. sd_notify speaks systemd's notify protocol. */
#ifndef K3C_INSTALL_INSTALL_H
#define K3C_INSTALL_INSTALL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "config/config.h"

struct install_opts {
    const char *root;   /* NULL or "": the real machine */
    bool no_start;      /* install and enable, but do not start or restart */
    const char *binary; /* the k3c to install (NULL: /proc/self/exe) */
    bool with_net;      /* with a root: killall still removes links and tables here */
    FILE *out;          /* what was done, for the user */
};

/* ---- config.yaml (install_config.c) ---------------------------------- */

/* Merges command-line flags (argv[0..argc), "--name value", "--name=value",
 * "-x value", booleans bare or "=true|false") into the YAML config text
 * `old` (NULL or "": none): a flag replaces its key (a repeated list flag
 * gives the whole list), other keys stay in their order. Returns the new
 * text (caller frees), or NULL with err for an unknown flag, a missing
 * value or a config that is not a flat mapping. */
char *install_config_merge(const char *old, enum config_role role, int argc, char **argv,
                           struct k3c_err *err);

/* ---- units and systemctl (install_unit.c) ----------------------------- */

/* "k3c.service" or "k3c-agent.service". */
const char *install_unit_name(enum config_role role);
/* The unit's text, running `binary server` or `binary agent`. Caller frees. */
char *install_unit_text(enum config_role role, const char *binary);

/* k3c install server|agent: argv[0] is the role ("server"/"agent"), the
 * rest the role's flags. Returns 0 or -1 with err. */
int install_run(const struct install_opts *opts, enum config_role role, int argc, char **argv,
                struct k3c_err *err);

/* ---- killall and uninstall (install_remove.c) ------------------------- */

/* Stops the units and every k3c server/agent (with a root: only those whose
 * command line names it), the containers and conmons of the node, unmounts
 * and removes pod network namespaces, cgroups, cni0/flannel.1/k3c-dns0 and
 * k3c's nftables tables. Says what it removed; nothing left is fine. */
int install_killall(const struct install_opts *opts, struct k3c_err *err);
/* killall, then disables and removes both units, the config dir, the data
 * dir (unless keep_data), pod logs and the installed binary. */
int install_uninstall(const struct install_opts *opts, bool keep_data, struct k3c_err *err);

/* ---- systemd's notify protocol (install_notify.c) --------------------- */

/* Sends state ("READY=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET
 * when set: one datagram on an AF_UNIX socket (a leading '@' names an
 * abstract socket), as sd_notify(3). Returns 1 sent, 0 no socket, -1 error
 * (logged; a service keeps running without its notification). */
int install_sd_notify(const char *state);

/* ---- the stored data format (install_format.c) ------------------------ */

/* The format this binary writes; raise it with a migration when the layout
 * of stored objects changes (docs/install.md, Upgrades). */
#define INSTALL_DATA_FORMAT     1
#define INSTALL_DATA_FORMAT_KEY "/k3c/data-format"

struct store;
/* Checks the cluster's data format in the store against current: writes it
 * when absent, raises an older one, refuses a newer one (-1, err says which
 * versions and what to do). */
int install_data_format_check(struct store *s, int current, struct k3c_err *err);

/* ---- certificates and node metrics (install_certs.c) ------------------- */

/* `k3c certificate check`: one line per certificate, expiry and residual. */
int install_certs_check(const char *data_dir, FILE *out, struct k3c_err *err);
/* `k3c certificate rotate`: refuses while k3c runs on data_dir (CONFLICT);
 * moves every leaf certificate and key to server/tls-backup-<time>/ and
 * keeps the CAs; the next start issues new leaves. */
int install_certs_rotate(const char *data_dir, FILE *out, struct k3c_err *err);
#endif
