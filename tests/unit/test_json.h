/* SPDX-License-Identifier: Apache-2.0
 * test_json.h - JSON helpers of the cmocka unit tests (include after
 * <cmocka.h>): J() parses JSON written with ' for ", expect_json() compares
 * with such a text and prints both sides when they differ. */
#ifndef K3C_TEST_JSON_H
#define K3C_TEST_JSON_H

#include <jansson.h>

#include "base/cleanup.h"
#include "base/util.h"

/* Parses JSON written with ' for ". */
static inline json_t *
J(const char *s)
{
    _cleanup_free_ char *t = k3c_xstrdup(s);
    json_error_t jerr;
    json_t *v;

    for (char *c = t; *c; c++)
        if (*c == '\'')
            *c = '"';
    v = json_loads(t, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("bad test JSON (%s): %s", jerr.text, s);
    return v;
}

static inline void
expect_json(const char *name, const json_t *got, const char *want)
{
    _cleanup_json_ json_t *w = J(want);
    _cleanup_free_ char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    _cleanup_free_ char *ws = json_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!got || !json_equal((json_t *)got, w))
        fail_msg("%s:\n  want: %s\n  got:  %s", name, ws, g ? g : "(null)");
}

#endif
