/* SPDX-License-Identifier: Apache-2.0
 * cmd_secrets_encrypt.c - `k3c secrets-encrypt status`, K3s's verb (issue
 * #15, docs/auth.md): whether this server encrypts Secrets at rest
 * (--secrets-encryption, read from the server's own flags and config file)
 * and the keys of <data-dir>/server/tls/encryption-config.json. Rotation
 * (prepare/rotate/reencrypt) is not built. */
#include "base/cleanup.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "store/store_encrypt.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void
secrets_encrypt_usage(FILE *out)
{
    fprintf(out, "Usage: k3c secrets-encrypt status [server flags]\n\n"
                 "Whether Secrets are encrypted at rest, and the keys.\n\n"
                 "Flags: every `k3c server` flag, read as the server reads them\n"
                 "  (--data-dir DIR, --secrets-encryption, --config FILE)\n");
}

static int
print_status(const struct k3c_config *cfg)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("%s/server/tls/" STORE_ENC_CONFIG_FILE, cfg->data_dir);
    _cleanup_json_ json_t *doc = NULL;
    struct k3c_err err = {0};
    const char *active = NULL;
    size_t i, j, k;
    json_t *res, *prov, *key;

    if (store_encryption_setup(path, false, cfg->secrets_encryption, &err) < 0) {
        fprintf(stderr, "k3c secrets-encrypt: %s\n", err.msg);
        return K3C_EXIT_FAIL;
    }
    store_encryption_active(&active);
    printf("Encryption Status: %s\n", cfg->secrets_encryption && active ? "Enabled" : "Disabled");
    printf("Current Rotation Stage: start\n");
    doc = json_load_file(path, 0, NULL);
    if (!doc) {
        printf("No encryption keys (%s does not exist yet)\n", path);
        store_encryption_reset();
        return K3C_EXIT_OK;
    }
    printf("\nActive  Key Type  Name\n------  --------  ----\n");
    json_array_foreach(json_object_get(doc, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "providers"), j, prov)
        {
            json_array_foreach(json_object_get(json_object_get(prov, "aescbc"), "keys"), k, key)
            {
                const char *name = json_string_value(json_object_get(key, "name"));

                printf(" %s      AES-CBC   %s\n",
                       cfg->secrets_encryption && active && name && strcmp(name, active) == 0 ? "*"
                                                                                              : " ",
                       name ? name : "");
            }
        }
    }
    store_encryption_reset();
    return K3C_EXIT_OK;
}

int
cmd_secrets_encrypt(int argc, char **argv, char **envp)
{
    struct k3c_config cfg = {0};
    _cleanup_free_ char **rest = NULL;
    int n = 0, rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            secrets_encrypt_usage(stdout);
            return K3C_EXIT_OK;
        }
    }
    if (argc < 2 || strcmp(argv[1], "status") != 0) {
        if (argc >= 2)
            fprintf(stderr, "k3c secrets-encrypt: unknown or unsupported command \"%s\"\n",
                    argv[1]);
        secrets_encrypt_usage(stderr);
        return K3C_EXIT_USAGE;
    }
    rest = k3c_xcalloc((size_t)argc + 1, sizeof(char *));
    rest[n++] = argv[0];
    for (int i = 2; i < argc; i++)
        rest[n++] = argv[i];
    rc = cmd_load_config(&cfg, CONFIG_ROLE_SERVER, "secrets-encrypt", n, rest, envp);
    if (rc < 0)
        rc = print_status(&cfg);
    config_fini(&cfg);
    return rc;
}
