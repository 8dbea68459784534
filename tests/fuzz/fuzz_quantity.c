/* SPDX-License-Identifier: Apache-2.0
 * fuzz_quantity.c - canonical quantities (base/quantity.c, issue #15): any
 * API client writes any resources.limits value. The input is the quantity
 * text. Properties: the output is a bounded string that parses again;
 * canonicalizing it gives it back unchanged (idempotent) except where
 * upstream is not either: a binary-SI value that is a whole number but no
 * multiple of 1024 is written without a suffix ("312.5Ki" -> "320000"),
 * which then reads as decimal SI ("320k"). */
#include "base/quantity.h"
#include "base/util.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = k3c_xstrndup((const char *)data, size);
    char a[K3C_QUANTITY_MAX], b[K3C_QUANTITY_MAX];

    if (k3c_quantity_canonical(s, a)) {
        FUZZ_CHECK(memchr(a, '\0', sizeof(a)) && a[0], "bounded, non-empty");
        FUZZ_CHECK(k3c_quantity_canonical(a, b), "the canonical form parses");
        if (!strchr(s, 'i') || strchr(a, 'i'))
            FUZZ_CHECK(strcmp(a, b) == 0, "idempotent");
    }
    free(s);
    return 0;
}
