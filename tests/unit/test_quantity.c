/* SPDX-License-Identifier: Apache-2.0
 * test_quantity.c - canonical quantities (base/quantity.c) against what
 * kube-apiserver returns for the same input (resource.Quantity.String()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/quantity.h"

static void
test_canonical(void **state)
{
    static const char *const cases[][2] = {
        {"0.5", "500m"},
        {"1", "1"},
        {"1000", "1k"},
        {"1500", "1500"},
        {"2000m", "2"},
        {"100m", "100m"},
        {"0.1", "100m"},
        {"1.001", "1001m"},
        {"-1.5", "-1500m"},
        {"+3", "3"},
        {".5", "500m"},
        {"0", "0"},
        {"0.000", "0"},
        {"-0", "0"},
        {"1Gi", "1Gi"},
        {"1024Mi", "1Gi"},
        {"1.5Gi", "1536Mi"},
        {"0.5Ki", "512"},
        {"1023", "1023"},
        {"10Gi", "10Gi"},
        {"128974848", "128974848"},
        {"129e6", "129e6"},
        {"129M", "129M"},
        {"123Mi", "123Mi"},
        {"1e3", "1e3"},
        {"1E3", "1e3"},
        {"1e-3", "1e-3"},
        {"1E", "1E"},
        {"1k", "1k"},
        {"1000k", "1M"},
        {"1000000000n", "1"},
        {"100n", "100n"},
        {"0.0000000001", "1n"},
        {"1.5u", "1500n"},
        {"2048", "2048"},
        {"1048576", "1048576"},
        {"110", "110"},
        {"12e2", "1200"},
        {"0.1Gi", "107374182400m"},
        {"1Ki", "1Ki"},
        {"312.5Ki", "320000"},
        {"1536", "1536"},
        {"4096Ki", "4Mi"},
        {"16E", "16E"},
    };
    static const char *const bad[] = {"",   "abc",  "1x",   "1.2.3",
                                      "Mi", "1 Mi", "1Gi2", "e3",
                                      "1e", "--1",  "1.5.", "1234567890123456789012"};
    char out[K3C_QUANTITY_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 0, sizeof(out));
        if (!k3c_quantity_canonical(cases[i][0], out))
            fail_msg("%s: not parsed", cases[i][0]);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("%s: got %s, want %s", cases[i][0], out, cases[i][1]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (k3c_quantity_canonical(bad[i], out))
            fail_msg("%s: accepted as %s", bad[i], out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_canonical)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
