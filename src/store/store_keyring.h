/* SPDX-License-Identifier: Apache-2.0
 * store_keyring.h - the secrets encryption keys of an HA cluster, kept in
 * step through etcd (issue #15, `k3c secrets-encrypt rotate-keys`,
 * docs/auth.md). The EncryptionConfiguration lives in etcd at
 * STORE_KEYRING_CONFIG_KEY, wrapped with a key derived from the cluster
 * token's secret (store_encryption_wrap, as K3s keeps its bootstrap data);
 * every server watches it, writes it to its own encryption-config.json and
 * reloads its keys without a restart, then reports the key it writes with
 * under STORE_KEYRING_SERVERS_PREFIX<node>. A rotation publishes a new
 * configuration, waits for every server to report the new key, and
 * rewrites every Secret with it (compare-and-swap per Secret, online). */
#ifndef K3C_STORE_STORE_KEYRING_H
#define K3C_STORE_STORE_KEYRING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

struct store;

#define STORE_KEYRING_CONFIG_KEY     "/k3c/secrets-encryption/config"
#define STORE_KEYRING_SERVERS_PREFIX "/k3c/secrets-encryption/servers/"

/* A server's side: after store_encryption_setup loaded path, brings path
 * and etcd's copy together (publishes path when etcd has none, adopts
 * etcd's when it differs: a rotation made while this server was down),
 * reports node's key, and reloads on every later change. NULL with err set
 * on a store error. */
struct store_keyring;
struct store_keyring *store_keyring_start(struct store *s, const char *path, const char *node,
                                          const char *token_secret, bool encrypt,
                                          struct k3c_err *err);
void store_keyring_stop(struct store_keyring *k);

struct store_keyring_rotation {
    char *key_name;     /* the new write key */
    size_t secrets;     /* Secrets rewritten */
    size_t servers;     /* servers that reported the new key */
    char *lagging;      /* servers that did not within wait_ms ("a, b"), or NULL */
    int64_t publish_ms; /* until every server had the key */
    int64_t reencrypt_ms;
};
void store_keyring_rotation_fini(struct store_keyring_rotation *r);

/* `k3c secrets-encrypt rotate-keys`: path is this server's
 * encryption-config.json (the keys used when etcd has no copy yet).
 * progress (may be NULL) gets a line per stage. */
int store_keyring_rotate(struct store *s, const char *path, const char *token_secret,
                         int64_t wait_ms, FILE *progress, struct store_keyring_rotation *out,
                         struct k3c_err *err);

#endif
