/* SPDX-License-Identifier: Apache-2.0
 * fuzz_store_watch.c - etcd watch messages (in HA a member on the LAN sends
 * them): store_watch_msg_split, the scanner that decodes the events without
 * jansson, against the jansson path it replaces. Whenever the split
 * succeeds, jansson must read the same message and find the same events
 * (type, every field of the kv) and the same rest. */
#include "fuzz.h"
#include "base/cleanup.h"
#include "store/store-internal.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void
check_kv(const struct store_kv *fast, const json_t *j)
{
    struct store_kv kv;
    struct k3c_err err = {0};

    FUZZ_CHECK(store_kv_from_json(j, &kv, &err) == 0, "split decoded a kv jansson's path refuses");
    FUZZ_CHECK(strcmp(fast->key, kv.key) == 0, "key differs");
    FUZZ_CHECK(fast->value_len == kv.value_len && memcmp(fast->value, kv.value, kv.value_len) == 0,
               "value differs");
    FUZZ_CHECK(fast->create_revision == kv.create_revision &&
                   fast->mod_revision == kv.mod_revision && fast->version == kv.version &&
                   fast->lease == kv.lease,
               "revisions differ");
    store_kv_fini(&kv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_watch_event *ev = NULL;
    size_t n = 0, i;
    json_t *rest = NULL, *whole, *events, *e;

    if (store_watch_msg_split((const char *)data, size, &rest, &ev, &n) < 0) {
        FUZZ_CHECK(!rest && !ev && n == 0, "a failed split left something behind");
        return 0;
    }
    whole = json_loadb((const char *)data, size, 0, NULL);
    FUZZ_CHECK(whole, "split a message jansson cannot read");
    events = json_object_get(json_object_get(whole, "result"), "events");
    FUZZ_CHECK(json_array_size(events) == n, "event count differs");
    json_array_foreach(events, i, e)
    {
        const char *type = json_string_value(json_object_get(e, "type"));

        FUZZ_CHECK(ev[i].deleted == (type && strcmp(type, "DELETE") == 0), "type differs");
        check_kv(&ev[i].kv, json_object_get(e, "kv"));
    }
    json_object_set_new(json_object_get(whole, "result"), "events", json_array());
    FUZZ_CHECK(json_equal(whole, rest), "the rest differs");
    json_decref(whole);
    json_decref(rest);
    store_watch_events_free(ev, n);
    return 0;
}
