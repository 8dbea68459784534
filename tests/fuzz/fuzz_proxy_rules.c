/* SPDX-License-Identifier: Apache-2.0
 * fuzz_proxy_rules.c - a Service and its EndpointSlices (the input split at
 * its first NUL) through the service proxy's rule computation and diff.
 * Whatever a user writes into those objects, object names hold only the
 * characters of DNS labels, IPv4 addresses and numbers, no rule carries a
 * statement separator or a comment, and removing the service takes every
 * object it added back out. */
#include "net/proxy.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static bool
name_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-./_", *s)))
            return false;
    return true;
}

static void
check_objects(const json_t *objs)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)objs, key, v)
    {
        const char *body = json_string_value(v);

        FUZZ_CHECK(body, "an object without a body");
        FUZZ_CHECK(key[0] && key[1] == ':', "an object key without its kind");
        if (key[0] == 'c' || key[0] == 's') {
            FUZZ_CHECK(name_ok(key + 2), "a chain or set name with a foreign character");
        } else {
            const char *tab = strchr(key, '\t');

            FUZZ_CHECK(key[0] == 'e' && tab, "an element key without its map");
            FUZZ_CHECK(!strpbrk(tab + 1, ";#{}\n"), "an element key that could end a command");
        }
        if (key[0] == 'c' || key[0] == 'e')
            FUZZ_CHECK(!strpbrk(body, ";#"), "a rule or value that could add a command");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    const struct proxy_rules_config cfg = {.node_name = "n1"};
    json_t *svc, *slices, *objs;
    struct proxy_state *st;
    char *s;

    fuzz_split(data, size, &a, &a_len, &b, &b_len);
    svc = json_loadb((const char *)a, a_len, 0, NULL);
    slices = json_loadb((const char *)b, b_len, 0, NULL);
    objs = proxy_service_objects(&cfg, svc, json_is_array(slices) ? slices : NULL);
    check_objects(objs);
    st = proxy_state_new(NULL, NULL);
    free(proxy_state_reset(st));
    proxy_state_set(st, "ns/name", objs);
    free(proxy_state_take_script(st));
    proxy_state_set(st, "ns/name", NULL);
    s = proxy_state_take_script(st);
    FUZZ_CHECK(proxy_state_objects(st) == 0 && proxy_state_services(st) == 0,
               "objects left after the service went");
    FUZZ_CHECK((s != NULL) == (json_object_size(objs) > 0), "a removal without a script");
    free(s);
    proxy_state_free(st);
    json_decref(objs);
    json_decref(slices);
    json_decref(svc);
    return 0;
}
