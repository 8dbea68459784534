/* SPDX-License-Identifier: Apache-2.0
 * fuzz.h - what the libFuzzer targets in tests/fuzz share: quiet logging and
 * splitting an input in two at its first NUL. Each target defines
 * LLVMFuzzerTestOneInput and frees everything it allocates (LeakSanitizer
 * runs with libFuzzer). */
#ifndef K3C_FUZZ_H
#define K3C_FUZZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Stops the run (libFuzzer saves the input as a crash) when a property the
 * code promises does not hold. */
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, what);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Debug lines (protobuf's skipped fields, ...) would only slow the run. */
static inline void
fuzz_quiet(void)
{
    k3c_log_set_level(K3C_LOG_ERROR);
}

/* Splits data at its first NUL into a (before) and b (after). Returns false
 * (a = all of data, b empty) when there is no NUL. */
static inline bool
fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *a_len, const uint8_t **b,
           size_t *b_len)
{
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;

    *a = data;
    if (!nul) {
        *a_len = size;
        *b = data + size;
        *b_len = 0;
        return false;
    }
    *a_len = (size_t)(nul - data);
    *b = nul + 1;
    *b_len = size - *a_len - 1;
    return true;
}

/* A NUL-terminated copy of data (caller frees), or NULL when out of memory. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        if (size)
            memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
