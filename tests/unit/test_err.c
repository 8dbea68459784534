/* SPDX-License-Identifier: Apache-2.0
 * test_err.c - the error type: kinds, wrapping, Status reasons and codes. */
#include "base/err.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void
test_set_returns_minus_one(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(k3c_err_set(&err, K3C_E_NOT_FOUND, "pod %s", "a"), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_string_equal(err.msg, "pod a");
}

static void
test_wrap_prefixes_and_keeps_kind(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    k3c_err_set(&err, K3C_E_CONFLICT, "stale");
    assert_int_equal(k3c_err_wrap(&err, "update %s", "/pods/x"), -1);
    assert_string_equal(err.msg, "update /pods/x: stale");
    assert_int_equal(err.kind, K3C_E_CONFLICT);
}

static void
test_wrap_truncates_long_chains(void **state)
{
    struct k3c_err err = {0};
    char big[400];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    k3c_err_set(&err, K3C_E_INTERNAL, "%s", big);
    k3c_err_wrap(&err, "context");
    assert_int_equal(strncmp(err.msg, "context: xxx", 12), 0);
    assert_int_equal(strlen(err.msg), K3C_ERR_MSG_LEN - 1);
}

static void
test_sys_appends_strerror(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    k3c_err_sys(&err, ENOENT, "open %s", "/nope");
    assert_int_equal(err.kind, K3C_E_SYSTEM);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_string_equal(err.msg, "open /nope: No such file or directory");
}

static void
test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(k3c_err_http_code(K3C_E_NOT_FOUND), 404);
    assert_string_equal(k3c_err_reason(K3C_E_NOT_FOUND), "NotFound");
    assert_int_equal(k3c_err_http_code(K3C_E_EXISTS), 409);
    assert_string_equal(k3c_err_reason(K3C_E_EXISTS), "AlreadyExists");
    assert_int_equal(k3c_err_http_code(K3C_E_CONFLICT), 409);
    assert_string_equal(k3c_err_reason(K3C_E_CONFLICT), "Conflict");
    assert_int_equal(k3c_err_http_code(K3C_E_INVALID), 422);
    assert_int_equal(k3c_err_http_code(K3C_E_COMPACTED), 410);
    assert_string_equal(k3c_err_reason(K3C_E_COMPACTED), "Expired");
    assert_int_equal(k3c_err_http_code(K3C_E_UNAVAILABLE), 503);
    assert_int_equal(k3c_err_http_code((enum k3c_errkind)999), 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_minus_one),
        cmocka_unit_test(test_wrap_prefixes_and_keeps_kind),
        cmocka_unit_test(test_wrap_truncates_long_chains),
        cmocka_unit_test(test_sys_appends_strerror),
        cmocka_unit_test(test_status_mapping),
    };

    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
