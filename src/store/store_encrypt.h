/* SPDX-License-Identifier: Apache-2.0
 * store_encrypt.h - Secrets encrypted at rest (issue #15, --secrets-encryption,
 * docs/auth.md): values under /registry/secrets/ are written as upstream's
 * aescbc provider writes them, "k8s:enc:aescbc:v1:<key name>:" + a random
 * 16-byte IV + AES-CBC ciphertext of the PKCS#7-padded value, and read back
 * with any key of the configuration (by name); a value without the
 * "k8s:enc:" prefix is read as plaintext (upstream's identity provider), so
 * Secrets written before encryption was turned on stay readable.
 * The key file is K3s's: an apiserver.config.k8s.io/v1 EncryptionConfiguration
 * (JSON) with an aescbc provider; its first key encrypts.
 * State is process-wide and set once, before the store is used; the seal and
 * open calls are then safe from any thread. */
#ifndef K3C_STORE_STORE_ENCRYPT_H
#define K3C_STORE_STORE_ENCRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"

#define STORE_ENC_PREFIX "k8s:enc:aescbc:v1:"
/* The key file in <data-dir>/server/tls (K3s keeps it as server/cred/encryption-config.json). */
#define STORE_ENC_CONFIG_FILE "encryption-config.json"

/* Loads the configuration at path, writing a new one (a random 32-byte key
 * named aescbckey, mode 0600) when create and the file is missing. encrypt:
 * new writes of Secrets are encrypted; otherwise the keys only decrypt (a
 * server restarted without --secrets-encryption still reads what it wrote,
 * and writes plaintext again). A missing file without create is not an
 * error (nothing to decrypt with). */
int store_encryption_setup(const char *path, bool create, bool encrypt, struct k3c_err *err);
/* The same from the configuration's JSON text (origin names it in errors);
 * replaces the keys in use (a reload after a rotation: threads sealing or
 * opening at that moment finish with the old keys, which stay allocated). */
int store_encryption_load_json(const char *text, const char *origin, bool encrypt,
                               struct k3c_err *err);
/* How many keys are loaded. */
size_t store_encryption_key_count(void);
/* Whether new Secret writes are encrypted. */
bool store_encryption_encrypting(void);
/* Forgets the keys (tests). */
void store_encryption_reset(void);
/* Whether new Secret writes are encrypted, and the name of the key that does it. */
bool store_encryption_active(const char **key_name);

/* For store.c: the bytes to store for key, newly allocated, or NULL to store
 * value as it is (not a Secret, or encryption off). */
char *store_value_seal(const char *key, const void *value, size_t len, size_t *out_len);
/* For store.c: decrypts *value in place (replaced by a new buffer) when it is
 * encrypted. INTERNAL when no key of that name is loaded or it does not
 * decrypt. */
int store_value_open(const char *key, char **value, size_t *len, struct k3c_err *err);

/* ---- key rotation (store_keyring.h) ---- */

/* The configuration text with a new random 32-byte key named
 * aescbckey-<UTC time> in front (it encrypts from now on), the key that was
 * first kept after it (it still decrypts), any older key dropped. *new_name
 * gets the new key's name; *all_keys the same configuration that still holds
 * every older key (to read what is re-encrypted). All newly allocated. */
char *store_encryption_config_rotate(const char *text, time_t now, char **new_name, char **all_keys,
                                     struct k3c_err *err);
/* The configuration sealed for etcd with a key derived from the cluster
 * token's secret (PBKDF2-SHA256), in the aescbc format with key name
 * k3c-token, and back. */
char *store_encryption_wrap(const char *secret, const char *text, size_t *out_len,
                            struct k3c_err *err);
char *store_encryption_unwrap(const char *secret, const char *data, size_t len,
                              struct k3c_err *err);

#endif
