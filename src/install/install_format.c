/* SPDX-License-Identifier: Apache-2.0
 * install_format.c - the version of the stored data format: one key in the
 * datastore, shared by every server of a cluster (embedded or external
 * etcd). A server writes it when there is none, raises an older one (the
 * place for future migrations), and refuses to start on a newer one: an
 * older binary must not write objects a newer one laid out differently. */
#define LOG_COMPONENT "store"

#include "install/install.h"

#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

static char *
format_value(int format)
{
    return k3c_xasprintf("{\"format\":%d,\"writtenBy\":\"v%s\"}", format, K3C_VERSION);
}

/* The format in a stored value, -1 when it is not one of ours. */
static int
format_parse(const char *value, char *by, size_t by_len)
{
    json_t *j = json_loads(value, 0, NULL);
    json_t *f = json_object_get(j, "format");
    const char *w = json_string_value(json_object_get(j, "writtenBy"));
    int format = json_is_integer(f) && json_integer_value(f) >= 0 && json_integer_value(f) < 1000000
                     ? (int)json_integer_value(f)
                     : -1;

    snprintf(by, by_len, "%s", w ? w : "an unknown k3c");
    json_decref(j);
    return format;
}

int
install_data_format_check(struct store *s, int current, struct k3c_err *err)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct store_kv kv = {0};
        char by[64];
        char *value = format_value(current);
        int stored, rc;

        if (store_get(s, INSTALL_DATA_FORMAT_KEY, &kv, err) < 0) {
            if (err->kind == K3C_E_UNAVAILABLE || err->kind == K3C_E_TIMEOUT) {
                /* quorum lost right after the store answered: the next
                 * start checks; refusing to start would not help */
                log_warn("data format not checked (%s)", err->msg);
                k3c_err_clear(err);
                free(value);
                return 0;
            }
            if (err->kind != K3C_E_NOT_FOUND) {
                free(value);
                return k3c_err_wrap(err, "data format %s", INSTALL_DATA_FORMAT_KEY);
            }
            rc = store_create(s, INSTALL_DATA_FORMAT_KEY, value, strlen(value), 0, NULL, err);
            free(value);
            if (rc == 0) {
                log_info("data format %d written (%s)", current, INSTALL_DATA_FORMAT_KEY);
                return 0;
            }
            if (err->kind == K3C_E_EXISTS)
                continue; /* another server wrote it first: read it */
            /* e.g. etcd's NOSPACE alarm: start anyway, write it next time */
            log_warn("data format %d not written to %s: %s", current, INSTALL_DATA_FORMAT_KEY,
                     err->msg);
            k3c_err_clear(err);
            return 0;
        }
        stored = format_parse(kv.value, by, sizeof(by));
        if (stored < 0 || stored > current) {
            rc = stored < 0 ? k3c_err_set(err, K3C_E_INVALID,
                                          "data format: %s holds \"%s\", not a format this k3c "
                                          "knows",
                                          INSTALL_DATA_FORMAT_KEY, kv.value)
                            : k3c_err_set(err, K3C_E_INVALID,
                                          "the cluster's data is in format %d (written by k3c "
                                          "%s); this k3c v%s reads formats up to %d: install a "
                                          "k3c at least as new as %s on this server "
                                          "(docs/install.md, Upgrades)",
                                          stored, by, K3C_VERSION, current, by);
            free(value);
            store_kv_fini(&kv);
            return rc;
        }
        if (stored == current) {
            log_info("data format %d (written by k3c %s)", stored, by);
            free(value);
            store_kv_fini(&kv);
            return 0;
        }
        /* older: raised by CAS once this binary's migrations (none yet) ran */
        rc = store_update(s, INSTALL_DATA_FORMAT_KEY, value, strlen(value), kv.mod_revision, 0,
                          NULL, NULL, err);
        free(value);
        store_kv_fini(&kv);
        if (rc == 0) {
            log_info("data format %d raised to %d", stored, current);
            return 0;
        }
        if (err->kind != K3C_E_CONFLICT) {
            log_warn("data format %s not raised to %d: %s", INSTALL_DATA_FORMAT_KEY, current,
                     err->msg);
            k3c_err_clear(err);
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_CONFLICT, "data format %s: changed under us 5 times",
                       INSTALL_DATA_FORMAT_KEY);
}
