/* SPDX-License-Identifier: Apache-2.0
 * test_data_format.c - the stored data format against a real etcd: written
 * when absent, kept when equal, raised when older, a newer one and a
 * foreign value refused with a message that names both versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "install/install.h"
#include "store/store.h"

struct fixture {
    struct harness_etcd *etcd;
    struct store *store;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct k3c_err err = {0};

    if (!f || harness_etcd_store_start(&f->etcd, &f->store, &err) < 0) {
        print_error("etcd: %s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    harness_etcd_store_stop(f->etcd, f->store);
    free(f);
    return 0;
}

static void
put(struct store *s, const char *value)
{
    struct store_kv kv = {0};
    struct k3c_err err = {0};

    if (store_get(s, INSTALL_DATA_FORMAT_KEY, &kv, &err) == 0) {
        assert_int_equal(store_update(s, INSTALL_DATA_FORMAT_KEY, value, strlen(value),
                                      kv.mod_revision, 0, NULL, NULL, &err),
                         0);
        store_kv_fini(&kv);
    } else {
        assert_int_equal(
            store_create(s, INSTALL_DATA_FORMAT_KEY, value, strlen(value), 0, NULL, &err), 0);
    }
}

static int
stored_format(struct store *s)
{
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    const char *p;
    int f;

    assert_int_equal(store_get(s, INSTALL_DATA_FORMAT_KEY, &kv, &err), 0);
    p = strstr(kv.value, "\"format\":");
    assert_non_null(p);
    f = atoi(p + 9);
    store_kv_fini(&kv);
    return f;
}

static void
test_format(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};

    /* none: written */
    assert_int_equal(install_data_format_check(f->store, 2, &err), 0);
    assert_int_equal(stored_format(f->store), 2);
    /* equal: kept */
    assert_int_equal(install_data_format_check(f->store, 2, &err), 0);
    /* an older binary on newer data: refused, both versions named */
    assert_int_equal(install_data_format_check(f->store, 1, &err), -1);
    assert_non_null(strstr(err.msg, "data is in format 2 (written by k3c v" K3C_VERSION ")"));
    assert_non_null(strstr(err.msg, "reads formats up to 1"));
    assert_int_equal(stored_format(f->store), 2);
    /* older data: raised */
    put(f->store, "{\"format\":1,\"writtenBy\":\"v0.0.9\"}");
    assert_int_equal(install_data_format_check(f->store, 3, &err), 0);
    assert_int_equal(stored_format(f->store), 3);
    /* not ours */
    put(f->store, "garbage");
    assert_int_equal(install_data_format_check(f->store, 3, &err), -1);
    assert_non_null(strstr(err.msg, "not a format this k3c knows"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
