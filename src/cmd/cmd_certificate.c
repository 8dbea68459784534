/* SPDX-License-Identifier: Apache-2.0
 * cmd_certificate.c - `k3c certificate check|rotate [--data-dir DIR]`
 * (issue #21, src/install/install_certs.c), K3s's `k3s certificate`. */
#include "cmd/cmd.h"
#include "install/install.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_DATA_DIR "/var/lib/k3c"

static void
usage(FILE *out)
{
    fprintf(out, "Usage: k3c certificate check|rotate [--data-dir DIR]\n\n"
                 "  check   list the node's certificates (server/tls, server/tls/etcd, agent)\n"
                 "          with their expiry; leaves expiring within 120 days are renewed at\n"
                 "          the next start\n"
                 "  rotate  with k3c stopped: move every leaf certificate and key to\n"
                 "          <data-dir>/server/tls-backup-<time>/, keep the CAs; the next start\n"
                 "          issues new ones from the same CAs\n\n"
                 "  --data-dir DIR  default " DEFAULT_DATA_DIR "\n");
}

int
cmd_certificate(int argc, char **argv, char **envp)
{
    const char *data_dir = DEFAULT_DATA_DIR, *verb = NULL;
    struct k3c_err err = {0};
    int rc;

    (void)envp;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return K3C_EXIT_OK;
        } else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            data_dir = argv[++i];
        else if (strncmp(argv[i], "--data-dir=", 11) == 0)
            data_dir = argv[i] + 11;
        else if (!verb && (strcmp(argv[i], "check") == 0 || strcmp(argv[i], "rotate") == 0))
            verb = argv[i];
        else {
            fprintf(stderr, "k3c certificate: unexpected argument %s\n", argv[i]);
            usage(stderr);
            return K3C_EXIT_USAGE;
        }
    }
    if (!verb) {
        usage(stderr);
        return K3C_EXIT_USAGE;
    }
    rc = strcmp(verb, "check") == 0 ? install_certs_check(data_dir, stdout, &err)
                                    : install_certs_rotate(data_dir, stdout, &err);
    if (rc < 0) {
        fprintf(stderr, "k3c certificate %s: %s\n", verb, err.msg);
        return K3C_EXIT_FAIL;
    }
    return K3C_EXIT_OK;
}
