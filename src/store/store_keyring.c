/* SPDX-License-Identifier: Apache-2.0
 * store_keyring.c - secrets encryption keys shared and rotated through etcd
 * (see store_keyring.h). */
#define LOG_COMPONENT "store"
#include "store/store_keyring.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store.h"
#include "store/store_encrypt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE         200
#define CAS_ATTEMPTS 8

struct store_keyring {
    struct store *s;
    char *path, *node, *secret;
    /* the configuration this server's keys were loaded from (not the file:
     * rotate-keys, on the same host, writes the file before this server
     * has reloaded) */
    char *loaded;
    bool encrypt;
    pthread_mutex_t mu; /* one reload at a time */
    struct store_watch *watch;
};

/* Writes key whatever it holds (get, then create or compare-and-swap). */
static int
put_any(struct store *s, const char *key, const void *value, size_t len, struct k3c_err *err)
{
    for (int i = 0; i < CAS_ATTEMPTS; i++) {
        struct store_kv kv = {0};
        struct k3c_err e = {0};
        int rc;

        if (store_get(s, key, &kv, &e) < 0 && e.kind != K3C_E_NOT_FOUND) {
            *err = e;
            return -1;
        }
        rc = kv.key ? store_update(s, key, value, len, kv.mod_revision, 0, NULL, NULL, &e)
                    : store_create(s, key, value, len, 0, NULL, &e);
        store_kv_fini(&kv);
        if (rc == 0)
            return 0;
        if (e.kind != K3C_E_CONFLICT && e.kind != K3C_E_EXISTS && e.kind != K3C_E_NOT_FOUND) {
            *err = e;
            return -1;
        }
    }
    return k3c_err_set(err, K3C_E_CONFLICT, "%s keeps changing", key);
}

static int
report_key(struct store_keyring *k, struct k3c_err *err)
{
    const char *name = NULL;
    _cleanup_free_ char *key = k3c_xasprintf("%s%s", STORE_KEYRING_SERVERS_PREFIX, k->node);

    store_encryption_active(&name);
    return put_any(k->s, key, name ? name : "", name ? strlen(name) : 0, err);
}

/* Takes the configuration text as this server's: the keys, then the file. */
static int
adopt(struct store_keyring *k, const char *text, struct k3c_err *err)
{
    _cleanup_free_ char *local = NULL;
    const char *name = NULL;
    struct k3c_err ignored = {0};

    pthread_mutex_lock(&k->mu);
    if (!k->loaded || strcmp(k->loaded, text) != 0) {
        if (store_encryption_load_json(text, STORE_KEYRING_CONFIG_KEY, k->encrypt, err) < 0 ||
            ((k3c_read_file(k->path, &local, NULL, &ignored) < 0 || strcmp(local, text) != 0) &&
             k3c_write_file(k->path, text, strlen(text), 0600, err) < 0)) {
            pthread_mutex_unlock(&k->mu);
            return -1;
        }
        free(k->loaded);
        k->loaded = k3c_xstrdup(text);
        store_encryption_active(&name);
        log_info("secrets encryption: keys reloaded from etcd, writing with %s",
                 name ? name : "(none)");
    }
    pthread_mutex_unlock(&k->mu);
    return report_key(k, err);
}

static int
adopt_wrapped(struct store_keyring *k, const char *data, size_t len, struct k3c_err *err)
{
    _cleanup_free_ char *text = store_encryption_unwrap(k->secret, data, len, err);

    return text ? adopt(k, text, err) : -1;
}

static void
on_event(void *userdata, const struct store_event *ev)
{
    struct store_keyring *k = userdata;
    struct k3c_err err = {0};

    if (ev->type != STORE_EVENT_PUT || strcmp(ev->kv->key, STORE_KEYRING_CONFIG_KEY) != 0)
        return;
    if (adopt_wrapped(k, ev->kv->value, ev->kv->value_len, &err) < 0)
        log_error("secrets encryption: cannot take the rotated keys: %s", err.msg);
}

static void
on_error(void *userdata, const struct k3c_err *err)
{
    (void)userdata;
    log_error("secrets encryption: the watch of the keys ended (%s); restart this server to "
              "take later rotations",
              err->msg);
}

/* etcd's copy, or the local file published as the first copy. */
static int
sync_at_start(struct store_keyring *k, struct k3c_err *err)
{
    struct store_kv kv = {0};
    struct k3c_err e = {0};
    _cleanup_free_ char *local = NULL, *wrapped = NULL;
    size_t len = 0;
    int rc;

    if (store_get(k->s, STORE_KEYRING_CONFIG_KEY, &kv, &e) == 0) {
        rc = adopt_wrapped(k, kv.value, kv.value_len, err);
        store_kv_fini(&kv);
        return rc;
    }
    if (e.kind != K3C_E_NOT_FOUND) {
        *err = e;
        return -1;
    }
    if (k3c_read_file(k->path, &local, NULL, err) < 0 ||
        !(wrapped = store_encryption_wrap(k->secret, local, &len, err)))
        return -1;
    if (store_create(k->s, STORE_KEYRING_CONFIG_KEY, wrapped, len, 0, NULL, &e) < 0) {
        if (e.kind == K3C_E_EXISTS) /* another server published first */
            return sync_at_start(k, err);
        *err = e;
        return -1;
    }
    return report_key(k, err);
}

struct store_keyring *
store_keyring_start(struct store *s, const char *path, const char *node, const char *token_secret,
                    bool encrypt, struct k3c_err *err)
{
    static const struct store_watch_ops ops = {.on_event = on_event, .on_error = on_error};
    struct store_keyring *k = k3c_xcalloc(1, sizeof(*k));
    int64_t rev = 0;

    k->s = s;
    k->path = k3c_xstrdup(path);
    k->node = k3c_xstrdup(node);
    k->secret = k3c_xstrdup(token_secret);
    k->encrypt = encrypt;
    pthread_mutex_init(&k->mu, NULL);
    /* the watch starts at the revision before the first read: a rotation
     * in between is seen twice, which is harmless; k->loaded is what
     * store_encryption_setup read */
    if (k3c_read_file(path, &k->loaded, NULL, err) < 0 || store_revision(s, &rev, err) < 0 ||
        sync_at_start(k, err) < 0 ||
        !(k->watch = store_watch_start(s, STORE_KEYRING_CONFIG_KEY, rev + 1, &ops, k, err))) {
        store_keyring_stop(k);
        return NULL;
    }
    return k;
}

void
store_keyring_stop(struct store_keyring *k)
{
    if (!k)
        return;
    if (k->watch)
        store_watch_stop(k->watch);
    pthread_mutex_destroy(&k->mu);
    free(k->path);
    free(k->loaded);
    free(k->node);
    if (k->secret)
        memset(k->secret, 0, strlen(k->secret));
    free(k->secret);
    free(k);
}

void
store_keyring_rotation_fini(struct store_keyring_rotation *r)
{
    free(r->key_name);
    free(r->lagging);
    memset(r, 0, sizeof(*r));
}

/* Waits until every server reports name; *lagging names those that did not. */
static int
wait_servers(struct store *s, const char *name, int64_t wait_ms, size_t *servers, char **lagging,
             struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + wait_ms;

    for (;;) {
        struct store_list l = {0};
        struct k3c_buf late;
        size_t ok = 0;

        k3c_buf_init(&late);

        if (store_list(s, STORE_KEYRING_SERVERS_PREFIX, 0, NULL, 0, &l, err) < 0)
            return -1;
        for (size_t i = 0; i < l.n_items; i++) {
            if (strcmp(l.items[i].value, name) == 0)
                ok++;
            else
                k3c_buf_appendf(&late, "%s%s", late.len ? ", " : "",
                                l.items[i].key + strlen(STORE_KEYRING_SERVERS_PREFIX));
        }
        store_list_fini(&l);
        *servers = ok;
        if (!late.len || k3c_now_ms() >= deadline) {
            *lagging = late.len ? k3c_buf_steal(&late, NULL) : NULL;
            k3c_buf_fini(&late);
            return 0;
        }
        k3c_buf_fini(&late);
        k3c_sleep_ms(200);
    }
}

/* Rewrites one Secret read as kv (decrypted) with the key now in front. */
static int
reencrypt_one(struct store *s, const struct store_kv *kv, struct k3c_err *err)
{
    struct store_kv cur = {0};
    const struct store_kv *v = kv;
    int rc = -1;

    for (int i = 0; i < CAS_ATTEMPTS; i++) {
        struct k3c_err e = {0};

        if (store_update(s, v->key, v->value, v->value_len, v->mod_revision, v->lease, NULL, &cur,
                         &e) == 0) {
            rc = 0;
            break;
        }
        if (e.kind == K3C_E_NOT_FOUND) { /* deleted meanwhile */
            rc = 0;
            break;
        }
        if (e.kind != K3C_E_CONFLICT) {
            *err = e;
            break;
        }
        /* written meanwhile (perhaps with an older key): again with what is there now */
        v = &cur;
    }
    if (rc < 0 && !err->msg[0])
        k3c_err_set(err, K3C_E_CONFLICT, "%s keeps changing", kv->key);
    store_kv_fini(&cur);
    return rc;
}

static int
reencrypt_all(struct store *s, size_t *count, struct k3c_err *err)
{
    _cleanup_free_ char *token = NULL;

    *count = 0;
    do {
        struct store_list l = {0};
        int rc = 0;

        if (store_list(s, "/registry/secrets/", PAGE, token, 0, &l, err) < 0)
            return -1;
        for (size_t i = 0; i < l.n_items && rc == 0; i++) {
            rc = reencrypt_one(s, &l.items[i], err);
            *count += rc == 0;
        }
        free(token);
        token = l.continue_token ? k3c_xstrdup(l.continue_token) : NULL;
        store_list_fini(&l);
        if (rc < 0)
            return -1;
    } while (token);
    return 0;
}

int
store_keyring_rotate(struct store *s, const char *path, const char *token_secret, int64_t wait_ms,
                     FILE *progress, struct store_keyring_rotation *out, struct k3c_err *err)
{
    struct store_kv kv = {0};
    struct k3c_err e = {0};
    _cleanup_free_ char *text = NULL, *rotated = NULL, *all = NULL, *wrapped = NULL;
    size_t len = 0;
    int64_t t0 = k3c_now_ms(), t1;
    int rc;

    memset(out, 0, sizeof(*out));
    /* etcd's copy is the truth; the local file before any server published one */
    if (store_get(s, STORE_KEYRING_CONFIG_KEY, &kv, &e) == 0)
        text = store_encryption_unwrap(token_secret, kv.value, kv.value_len, err);
    else if (e.kind == K3C_E_NOT_FOUND)
        k3c_read_file(path, &text, NULL, err);
    else
        *err = e;
    if (!text ||
        !(rotated = store_encryption_config_rotate(text, time(NULL), &out->key_name, &all, err))) {
        store_kv_fini(&kv);
        return -1;
    }
    /* this process reads with every key and writes with the new one */
    if (store_encryption_load_json(all, "the rotated configuration", true, err) < 0 ||
        !(wrapped = store_encryption_wrap(token_secret, rotated, &len, err))) {
        store_kv_fini(&kv);
        return -1;
    }
    memset(&e, 0, sizeof(e));
    rc = kv.key ? store_update(s, STORE_KEYRING_CONFIG_KEY, wrapped, len, kv.mod_revision, 0, NULL,
                               NULL, &e)
                : store_create(s, STORE_KEYRING_CONFIG_KEY, wrapped, len, 0, NULL, &e);
    store_kv_fini(&kv);
    if (rc < 0) {
        if (e.kind == K3C_E_CONFLICT || e.kind == K3C_E_EXISTS)
            return k3c_err_set(err, K3C_E_CONFLICT,
                               "the keys changed meanwhile (another rotation?); try again");
        *err = e;
        return -1;
    }
    if (k3c_write_file(path, rotated, strlen(rotated), 0600, err) < 0)
        return -1;
    if (progress)
        fprintf(progress, "new key %s published; waiting for every server to load it\n",
                out->key_name);
    if (wait_servers(s, out->key_name, wait_ms, &out->servers, &out->lagging, err) < 0)
        return -1;
    t1 = k3c_now_ms();
    out->publish_ms = t1 - t0;
    if (out->lagging && progress)
        fprintf(progress,
                "warning: no report of the new key from %s (down?); they take it from "
                "etcd when they start\n",
                out->lagging);
    if (reencrypt_all(s, &out->secrets, err) < 0)
        return -1;
    out->reencrypt_ms = k3c_now_ms() - t1;
    return 0;
}
