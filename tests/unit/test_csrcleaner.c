/* SPDX-License-Identifier: Apache-2.0
 * test_csrcleaner.c - when the csrcleaner deletes a CertificateSigningRequest:
 * 1 h after approval, denial or failure, 24 h after creation while pending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "controllers/controllers.h"

static void
test_deadlines(void **state)
{
    const char *meta =
        "\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"}";
    int64_t created = k3c_time_parse_rfc3339("2026-01-01T00:00:00Z");
    int64_t approved = k3c_time_parse_rfc3339("2026-01-01T02:00:00Z");
    _cleanup_free_ char *pending = k3c_xasprintf("{%s}", meta);
    _cleanup_free_ char *done =
        k3c_xasprintf("{%s,\"status\":{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\","
                      "\"lastUpdateTime\":\"2026-01-01T02:00:00Z\"}]}}",
                      meta);
    _cleanup_free_ char *other = k3c_xasprintf(
        "{%s,\"status\":{\"conditions\":[{\"type\":\"Custom\",\"status\":\"True\"}]}}", meta);
    _cleanup_free_ char *no_time = k3c_xasprintf(
        "{%s,\"status\":{\"conditions\":[{\"type\":\"Denied\",\"status\":\"True\"}]}}", meta);
    _cleanup_json_ json_t *p = json_loads(pending, 0, NULL), *d = json_loads(done, 0, NULL);
    _cleanup_json_ json_t *o = json_loads(other, 0, NULL), *n = json_loads(no_time, 0, NULL);
    _cleanup_json_ json_t *bare = json_loads("{\"metadata\":{\"name\":\"x\"}}", 0, NULL);

    (void)state;
    assert_true(created > 0 && approved > created);
    assert_int_equal(csr_cleanup_at(p), created + 24 * 3600);
    assert_int_equal(csr_cleanup_at(d), approved + 3600);
    assert_int_equal(csr_cleanup_at(o), created + 24 * 3600); /* still pending */
    assert_int_equal(csr_cleanup_at(n), created + 3600);      /* no time: from creation */
    assert_int_equal(csr_cleanup_at(bare), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_deadlines)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
