/* SPDX-License-Identifier: Apache-2.0
 * cmd_secrets_encrypt.c - `k3c secrets-encrypt status`, K3s's verb (issue
 * #15, docs/auth.md): whether this server encrypts Secrets at rest
 * (--secrets-encryption, read from the server's own flags and config file)
 * and the keys of <data-dir>/server/tls/encryption-config.json;
 * `k3c secrets-encrypt rotate-keys` (K3s's one-step rotation): a new key
 * writes, every Secret is re-encrypted with it, every server reloads it
 * (store_keyring.h). Also the server's side of it: server_secrets_keyring_start.
 * K3s's staged verbs (prepare/rotate/reencrypt) are not built. */
#define LOG_COMPONENT "server"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "cmd/server.h"
#include "etcd/etcd_ops.h"
#include "store/store.h"
#include "store/store_encrypt.h"
#include "store/store_keyring.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void
secrets_encrypt_usage(FILE *out)
{
    fprintf(out, "Usage: k3c secrets-encrypt status|rotate-keys [server flags]\n\n"
                 "  status       whether Secrets are encrypted at rest, and the keys\n"
                 "  rotate-keys  on a server: a new key encrypts from now on (the old one\n"
                 "               still decrypts), every server loads it, every Secret is\n"
                 "               re-encrypted with it (online)\n\n"
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
    /* rotate-keys runs every stage at once: a second key means it ran */
    printf("Current Rotation Stage: %s\n",
           store_encryption_key_count() > 1 ? "reencrypt_finished" : "start");
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

/* The cluster token's secret: --token, else <data-dir>/server/token. */
static char *
token_secret(const struct k3c_config *cfg, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/server/token", cfg->data_dir);
    _cleanup_free_ char *text = NULL;

    if (cfg->token && cfg->token[0])
        return etcd_token_secret(cfg->token);
    if (k3c_read_file(path, &text, NULL, err) < 0)
        return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    return etcd_token_secret(text);
}

struct store_keyring *
server_secrets_keyring_start(const struct k3c_config *cfg, struct store *s, struct k3c_err *err)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("%s/server/tls/" STORE_ENC_CONFIG_FILE, cfg->data_dir);
    _cleanup_free_ char *secret = token_secret(cfg, err);

    if (!secret)
        return NULL;
    return store_keyring_start(s, path, cfg->node_name, secret, cfg->secrets_encryption, err);
}

/* The store the server uses: the embedded etcd on loopback, or --datastore-endpoint. */
static struct store *
cli_store(const struct k3c_config *cfg, struct k3c_err *err)
{
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->etcd_client_port);
    _cleanup_free_ char *ca = k3c_xasprintf("%s/server/tls/server-ca.crt", cfg->data_dir);
    _cleanup_free_ char *cert = k3c_xasprintf("%s/server/tls/etcd/client.crt", cfg->data_dir);
    _cleanup_free_ char *key = k3c_xasprintf("%s/server/tls/etcd/client.key", cfg->data_dir);
    const char *endpoints[] = {cfg->datastore_endpoint ? cfg->datastore_endpoint : url, NULL};
    struct store_config sc = {.endpoints = endpoints,
                              .ca_file = cfg->datastore_endpoint ? cfg->datastore_cafile : ca,
                              .cert_file = cfg->datastore_endpoint ? cfg->datastore_certfile : cert,
                              .key_file = cfg->datastore_endpoint ? cfg->datastore_keyfile : key,
                              .retry_timeout_ms = 10000};

    return store_new(&sc, err);
}

static int
rotate_keys(const struct k3c_config *cfg)
{
    _cleanup_free_ char *path =
        k3c_xasprintf("%s/server/tls/" STORE_ENC_CONFIG_FILE, cfg->data_dir);
    _cleanup_free_ char *secret = NULL;
    struct store_keyring_rotation r = {0};
    struct k3c_err err = {0};
    struct store *s = NULL;
    int rc = K3C_EXIT_FAIL;

    if (!cfg->secrets_encryption) {
        fprintf(stderr, "k3c secrets-encrypt: secrets encryption is disabled on this server "
                        "(start it with --secrets-encryption)\n");
        return K3C_EXIT_FAIL;
    }
    if (!(secret = token_secret(cfg, &err)) || !(s = cli_store(cfg, &err)) ||
        store_keyring_rotate(s, path, secret, 60000, stdout, &r, &err) < 0) {
        fprintf(stderr, "k3c secrets-encrypt rotate-keys: %s\n", err.msg);
        goto out;
    }
    printf("rotated to key %s: %zu server(s) loaded it in %lld ms, %zu Secret(s) re-encrypted "
           "in %lld ms\n",
           r.key_name, r.servers, (long long)r.publish_ms, r.secrets, (long long)r.reencrypt_ms);
    rc = r.lagging ? K3C_EXIT_FAIL : K3C_EXIT_OK;
out:
    store_keyring_rotation_fini(&r);
    store_free(s);
    store_encryption_reset();
    return rc;
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
    if (argc < 2 || (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "rotate-keys") != 0)) {
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
        rc = strcmp(argv[1], "status") == 0 ? print_status(&cfg) : rotate_keys(&cfg);
    config_fini(&cfg);
    return rc;
}
