/* SPDX-License-Identifier: Apache-2.0
 * test_watchcache.c - the API server's watch cache against a real etcd:
 * initial list in key order, prefix-scoped reads, events with prev, replay
 * from the ring, 410 for revisions before the ring, sync (read your writes,
 * idle prefixes, future revisions), slow watchers closed, relist after a
 * compaction cut the watch, and readers racing the writer. Each test uses its
 * own key prefix on one shared etcd. */
#include "harness.h"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* WC_RING_CAPACITY in api_watchcache.c. */
#define RING_CAPACITY 1024
#define WAIT_MS       10000

struct fixture {
    struct harness_etcd *etcd;
    struct store *store;
};

static int
setup(void **state)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));
    struct k3c_err err = {0};

    if (harness_etcd_store_start(&f->etcd, &f->store, &err) < 0) {
        print_error("%s\n", err.msg);
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

/* ---- writing ---------------------------------------------------------- */

static char *
pod_json(const char *ns, const char *name, const char *app, const char *node, int priority)
{
    return k3c_xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":\"%s\",\"labels\":{\"app\":\"%s\"}},"
                         "\"spec\":{\"nodeName\":\"%s\",\"priority\":%d}}",
                         name, ns, app, node, priority);
}

static int64_t
create_raw(struct store *s, const char *key, const char *value)
{
    struct k3c_err err = {0};
    int64_t rev = 0;

    if (store_create(s, key, value, strlen(value), 0, &rev, &err) < 0)
        fail_msg("create %s: %s", key, err.msg);
    return rev;
}

static int64_t
create_pod(struct store *s, const char *key, const char *name, int priority)
{
    char *v = pod_json("default", name, "web", "node-1", priority);
    int64_t rev = create_raw(s, key, v);

    free(v);
    return rev;
}

static int64_t
update_raw(struct store *s, const char *key, const char *value, int64_t expect)
{
    struct k3c_err err = {0};
    int64_t rev = 0;

    if (store_update(s, key, value, strlen(value), expect, 0, &rev, NULL, &err) < 0)
        fail_msg("update %s: %s", key, err.msg);
    return rev;
}

static int64_t
update_pod(struct store *s, const char *key, const char *name, int priority, int64_t expect)
{
    char *v = pod_json("default", name, "web", "node-1", priority);
    int64_t rev = update_raw(s, key, v, expect);

    free(v);
    return rev;
}

static int64_t
delete_key(struct store *s, const char *key)
{
    struct k3c_err err = {0};
    int64_t rev = 0;

    if (store_delete(s, key, 0, NULL, &rev, &err) < 0)
        fail_msg("delete %s: %s", key, err.msg);
    return rev;
}

/* ---- reading ---------------------------------------------------------- */

static struct watch_cache *
cache_new(struct fixture *f, const char *prefix, const char *const *fields)
{
    struct k3c_err err = {0};
    struct watch_cache *wc = watch_cache_new(f->store, prefix, fields, &err);

    if (!wc)
        print_error("watch_cache_new: %s\n", err.msg);
    assert_non_null(wc);
    return wc;
}

static void
assert_rv(const struct wc_entry *e, int64_t rev)
{
    json_t *obj = wc_entry_object(e);
    char want[24];

    assert_non_null(obj);
    snprintf(want, sizeof(want), "%" PRId64, rev);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")),
        want);
    assert_int_equal(e->revision, rev);
    json_decref(obj);
}

#define MAX_SEEN 64

struct seen {
    char keys[MAX_SEEN][64];
    int64_t revs[MAX_SEEN];
    size_t n;
};

static void
collect(void *ud, struct wc_entry *e)
{
    struct seen *s = ud;

    if (s->n < MAX_SEEN) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", e->key);
        s->revs[s->n++] = e->revision;
    }
}

/* The next event, which must come within WAIT_MS. */
static void
next_event(struct wc_watcher *w, struct wc_event *ev)
{
    struct k3c_err err = {0};
    int rc = wc_watcher_next(w, WAIT_MS, ev, &err);

    if (rc != 1)
        print_error("wc_watcher_next: %d %s\n", rc, err.msg);
    assert_int_equal(rc, 1);
}

static void
expect_event(struct wc_watcher *w, enum wc_event_type type, const char *key, int64_t rev,
             int64_t prev_rev)
{
    struct wc_event ev = {0};

    next_event(w, &ev);
    assert_int_equal(ev.type, type);
    assert_int_equal(ev.revision, rev);
    assert_string_equal(ev.entry->key, key);
    assert_rv(ev.entry, rev);
    if (prev_rev) {
        assert_non_null(ev.prev);
        assert_string_equal(ev.prev->key, key);
        assert_rv(ev.prev, prev_rev);
    } else {
        assert_null(ev.prev);
    }
    wc_event_fini(&ev);
}

static void
expect_no_event(struct wc_watcher *w, int timeout_ms)
{
    struct wc_event ev = {0};
    struct k3c_err err = {0};

    assert_int_equal(wc_watcher_next(w, timeout_ms, &ev, &err), 0);
}

static void
expect_closed(struct wc_watcher *w, enum k3c_errkind kind)
{
    struct wc_event ev = {0};
    struct k3c_err err = {0};

    assert_int_equal(wc_watcher_next(w, WAIT_MS, &ev, &err), -1);
    assert_int_equal(err.kind, kind);
}

static void
sync_ok(struct watch_cache *wc, int64_t rev)
{
    struct k3c_err err = {0};

    if (watch_cache_sync(wc, rev, WAIT_MS, &err) < 0)
        print_error("sync %" PRId64 ": %s\n", rev, err.msg);
    assert_int_equal(err.kind, K3C_E_NONE);
}

/* ---- tests ------------------------------------------------------------ */

/* The entry's text is json_dumps of its object, and meta_off/meta_len
 * frame metadata's value in it. */
static void
assert_entry_text(const struct wc_entry *e)
{
    _cleanup_json_ json_t *o = wc_entry_object(e);
    _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
    _cleanup_free_ char *meta = json_dumps(json_object_get(o, "metadata"), JSON_COMPACT);
    size_t len = 0;
    _cleanup_free_ char *json = wc_entry_json_dup(e, &len);
    struct k3c_err err = {0};
    struct k3c_buf b;

    assert_non_null(json);
    assert_int_equal(len, e->json_len);
    assert_string_equal(json, text);
    assert_int_equal(e->meta_len, strlen(meta));
    assert_memory_equal(json + e->meta_off, meta, e->meta_len);
    k3c_buf_init(&b);
    k3c_buf_append(&b, "x", 1);
    assert_int_equal(wc_entry_metadata(e, &b, &err), 0);
    assert_int_equal(b.len, 1 + e->meta_len);
    assert_memory_equal(b.data + 1, meta, e->meta_len);
    k3c_buf_fini(&b);
}

static void
test_initial_list(void **state)
{
    static const char *const fields[] = {"spec.nodeName", "spec.priority", "spec.missing", NULL};
    static const char *const order[] = {"/t1/pods/node-x", "/t1/pods/ns-a/a", "/t1/pods/ns-a/z",
                                        "/t1/pods/ns-b/b"};
    struct fixture *f = *state;
    struct seen all = {0}, ns_a = {0}, some = {0};
    int64_t revs[4], last, rev;
    char *v;
    struct watch_cache *wc;
    struct wc_entry *e;

    v = pod_json("ns-b", "b", "web", "n2", 1);
    revs[3] = create_raw(f->store, order[3], v);
    free(v);
    v = pod_json("ns-a", "z", "web", "n2", 2);
    revs[2] = create_raw(f->store, order[2], v);
    free(v);
    v = pod_json("ns-a", "a", "db", "n1", 7);
    revs[1] = create_raw(f->store, order[1], v);
    free(v);
    revs[0] =
        create_raw(f->store, order[0], "{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-x\"}}");
    create_raw(f->store, "/t1/pods/ns-a/bad", "not json");
    create_raw(f->store, "/t1/pods/ns-a/array", "[1,2]");
    last = create_raw(f->store, "/t1/podsx", "{\"metadata\":{\"name\":\"outside\"}}");

    wc = cache_new(f, "/t1/pods/", fields);
    rev = watch_cache_foreach(wc, NULL, collect, &all);
    assert_true(rev >= last);
    assert_int_equal(all.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(all.keys[i], order[i]);
        assert_int_equal(all.revs[i], revs[i]);
    }
    assert_int_equal(watch_cache_foreach(wc, "/t1/pods/ns-a/", collect, &ns_a), rev);
    assert_int_equal(ns_a.n, 2);
    assert_string_equal(ns_a.keys[0], order[1]);
    assert_string_equal(ns_a.keys[1], order[2]);
    watch_cache_foreach(wc, "/t1/pods/ns-c/", collect, &some);
    assert_int_equal(some.n, 0);
    watch_cache_foreach(wc, "/t1/pods/ns-", collect, &some);
    assert_int_equal(some.n, 3);

    e = watch_cache_get(wc, order[1]);
    assert_non_null(e);
    assert_rv(e, revs[1]);
    assert_string_equal(e->namespace, "ns-a");
    assert_string_equal(e->name, "a");
    assert_string_equal(wc_entry_label(e, "app"), "db");
    assert_null(wc_entry_label(e, "ap"));
    assert_string_equal(e->fields[0], "n1");
    assert_string_equal(e->fields[1], "7");
    assert_null(e->fields[2]);
    assert_entry_text(e);
    assert_null(e->row); /* this cache keeps no table rows */
    wc_entry_unref(e);

    e = watch_cache_get(wc, order[0]);
    assert_non_null(e);
    assert_string_equal(e->namespace, "");
    assert_string_equal(e->name, "node-x");
    assert_null(e->labels);
    assert_null(e->fields[0]);
    assert_rv(e, revs[0]);
    wc_entry_unref(e);

    assert_null(watch_cache_get(wc, "/t1/pods/ns-a/bad"));
    assert_null(watch_cache_get(wc, "/t1/podsx"));
    assert_null(watch_cache_get(wc, "/t1/pods/ns-a/missing"));
    watch_cache_free(wc);
}

static void
test_events(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc = cache_new(f, "/t2/", NULL);
    struct wc_watcher *w = watch_cache_subscribe(wc, 0, &err);
    int64_t a1, a2, a3, b1, b2, b3;
    struct wc_event ev = {0};
    struct wc_entry *e;

    assert_non_null(w);
    a1 = create_pod(f->store, "/t2/a", "a", 1);
    create_raw(f->store, "/t2x", "{}");
    a2 = update_pod(f->store, "/t2/a", "a", 2, a1);
    a3 = delete_key(f->store, "/t2/a");
    b1 = create_pod(f->store, "/t2/b", "b", 1);
    /* A value that is no JSON object hides the object: DELETED. */
    b2 = update_raw(f->store, "/t2/b", "garbage", b1);
    b3 = update_pod(f->store, "/t2/b", "b", 3, b2);

    expect_event(w, WC_ADDED, "/t2/a", a1, 0);
    expect_event(w, WC_MODIFIED, "/t2/a", a2, a1);
    /* The deleted object comes at the delete's revision. */
    next_event(w, &ev);
    assert_int_equal(ev.type, WC_DELETED);
    assert_int_equal(ev.revision, a3);
    assert_rv(ev.entry, a3);
    assert_string_equal(ev.entry->name, "a");
    assert_string_equal(ev.entry->namespace, "default");
    assert_rv(ev.prev, a2);
    wc_event_fini(&ev);
    expect_event(w, WC_ADDED, "/t2/b", b1, 0);
    expect_event(w, WC_DELETED, "/t2/b", b2, b1);
    expect_event(w, WC_ADDED, "/t2/b", b3, 0);
    expect_no_event(w, 100);

    assert_null(watch_cache_get(wc, "/t2/a"));
    e = watch_cache_get(wc, "/t2/b");
    assert_non_null(e);
    assert_rv(e, b3);
    wc_entry_unref(e);
    assert_true(watch_cache_revision(wc) >= b3);
    wc_watcher_free(w);
    watch_cache_free(wc);
}

static void
test_replay_from_ring(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc;
    struct wc_watcher *w;
    int64_t listed, revs[5];
    char key[32];

    create_pod(f->store, "/t3/pre", "pre", 0);
    wc = cache_new(f, "/t3/", NULL);
    listed = watch_cache_revision(wc);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "/t3/k%d", i);
        revs[i] = create_pod(f->store, key, key + 4, i);
    }
    sync_ok(wc, revs[4]);

    w = watch_cache_subscribe(wc, revs[1], &err);
    assert_non_null(w);
    for (int i = 2; i < 5; i++) {
        snprintf(key, sizeof(key), "/t3/k%d", i);
        expect_event(w, WC_ADDED, key, revs[i], 0);
    }
    expect_no_event(w, 0);
    wc_watcher_free(w);

    /* The list's own revision is the oldest one can start from. */
    w = watch_cache_subscribe(wc, listed, &err);
    assert_non_null(w);
    expect_event(w, WC_ADDED, "/t3/k0", revs[0], 0);
    wc_watcher_free(w);

    assert_null(watch_cache_subscribe(wc, listed - 1, &err));
    assert_int_equal(err.kind, K3C_E_COMPACTED);
    assert_non_null(strstr(err.msg, "too old resource version"));
    watch_cache_free(wc);
}

static void
test_sync(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc = cache_new(f, "/t4/", NULL);
    int64_t rev = 0, other, t0;
    struct wc_entry *e;

    /* Read your writes, with rev 0 (etcd's revision now) and explicit. */
    for (int i = 0; i < 20; i++) {
        rev = i == 0 ? create_pod(f->store, "/t4/k", "k", i)
                     : update_pod(f->store, "/t4/k", "k", i, rev);
        sync_ok(wc, i % 2 ? rev : 0);
        e = watch_cache_get(wc, "/t4/k");
        assert_non_null(e);
        assert_int_equal(e->revision, rev);
        wc_entry_unref(e);
    }
    /* A write elsewhere moves etcd's revision but sends this prefix no
     * event: sync must still return, at once. The cache's revision moves
     * only with its own events. */
    other = create_raw(f->store, "/t4-other/x", "{}");
    t0 = k3c_now_ms();
    sync_ok(wc, 0);
    sync_ok(wc, other);
    assert_true(k3c_now_ms() - t0 < 2000);
    assert_int_equal(watch_cache_revision(wc), rev);
    /* A change the watch has not delivered yet fails the comparison: sync
     * waits for it rather than answer from a stale map. */
    for (int i = 0; i < 5; i++) {
        other = create_raw(f->store, "/t4-other/x2", "{}");
        rev = update_pod(f->store, "/t4/k", "k", 100 + i, rev);
        delete_key(f->store, "/t4-other/x2");
        sync_ok(wc, 0);
        e = watch_cache_get(wc, "/t4/k");
        assert_int_equal(e->revision, rev);
        wc_entry_unref(e);
    }
    /* A deleted key in an otherwise idle prefix. */
    other = delete_key(f->store, "/t4/k");
    sync_ok(wc, 0);
    assert_null(watch_cache_get(wc, "/t4/k"));
    assert_true(watch_cache_revision(wc) >= other);

    /* A revision etcd has not reached: TIMEOUT after timeout_ms. */
    t0 = k3c_now_ms();
    assert_int_equal(watch_cache_sync(wc, other + 1000, 300, &err), -1);
    assert_int_equal(err.kind, K3C_E_TIMEOUT);
    assert_true(k3c_now_ms() - t0 >= 250);
    watch_cache_free(wc);
}

struct writer {
    struct store *s;
    int id, n;
    int64_t last;
};

static void *
writer_thread(void *arg)
{
    struct writer *wr = arg;
    char key[32], name[16];
    int64_t rev = 0;

    snprintf(key, sizeof(key), "/t5/k%d", wr->id);
    snprintf(name, sizeof(name), "k%d", wr->id);
    for (int i = 0; i < wr->n; i++)
        rev = i == 0 ? create_pod(wr->s, key, name, i) : update_pod(wr->s, key, name, i, rev);
    wr->last = rev;
    return NULL;
}

static void
test_slow_watcher_closed(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc = cache_new(f, "/t5/", NULL);
    struct wc_watcher *slow = watch_cache_subscribe(wc, 0, &err);
    int64_t first = watch_cache_revision(wc) + 1, last = 0;
    struct writer wr[4];
    pthread_t th[4];
    struct wc_watcher *w;
    struct wc_event ev = {0};

    assert_non_null(slow);
    /* More than the ring holds, from four writers to go faster. */
    for (int i = 0; i < 4; i++) {
        wr[i] = (struct writer){.s = f->store, .id = i, .n = (RING_CAPACITY + 100) / 4};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &wr[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        last = wr[i].last > last ? wr[i].last : last;
    }
    sync_ok(wc, last);
    expect_closed(slow, K3C_E_COMPACTED);
    expect_closed(slow, K3C_E_COMPACTED); /* and stays closed */
    wc_watcher_free(slow);

    /* The window moved past the first writes... */
    assert_null(watch_cache_subscribe(wc, first, &err));
    assert_int_equal(err.kind, K3C_E_COMPACTED);
    /* ...but recent ones replay. */
    w = watch_cache_subscribe(wc, last - 10, &err);
    assert_non_null(w);
    for (int i = 0; i < 10; i++) {
        next_event(w, &ev);
        assert_int_equal(ev.type, WC_MODIFIED);
        assert_int_equal(ev.revision, last - 9 + i);
        wc_event_fini(&ev);
    }
    expect_no_event(w, 0);
    wc_watcher_free(w);
    watch_cache_free(wc);
}

/* ---- relist ----------------------------------------------------------- */

struct converge {
    struct fixture *f;
    struct watch_cache *wc;
    const char *prefix;
};

static bool
new_etcd_healthy(void *arg)
{
    struct fixture *f = arg;
    struct k3c_err err = {0};

    return etcd_start_count(f->etcd->etcd) >= 2 && etcd_wait_healthy(f->etcd->etcd, 200, &err) == 0;
}

/* True when the cache holds exactly what etcd holds under the prefix. */
static bool
cache_matches_store(void *arg)
{
    struct converge *c = arg;
    struct k3c_err err = {0};
    struct store_list l;
    struct seen s = {0};
    bool ok;

    if (store_list(c->f->store, c->prefix, 0, NULL, 0, &l, &err) < 0)
        return false;
    watch_cache_foreach(c->wc, c->prefix, collect, &s);
    ok = s.n == l.n_items;
    for (size_t i = 0; ok && i < l.n_items; i++)
        ok = strcmp(s.keys[i], l.items[i].key) == 0 && s.revs[i] == l.items[i].mod_revision;
    store_list_fini(&l);
    return ok;
}

static void
test_relist_after_compaction(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc;
    struct wc_watcher *w;
    struct converge conv = {.f = f, .prefix = "/t6/"};
    struct store_kv kv;
    int64_t a, other = 0, before;
    pid_t pid;

    a = create_pod(f->store, "/t6/a", "a", 0);
    create_pod(f->store, "/t6/b", "b", 0);
    create_pod(f->store, "/t6/c", "c", 0);
    wc = conv.wc = cache_new(f, "/t6/", NULL);
    w = watch_cache_subscribe(wc, 0, &err);
    assert_non_null(w);
    before = watch_cache_revision(wc);
    /* An event through the store watch proves it is connected: etcd's
     * answer to a late connection could otherwise move its resume point
     * past the writes below. */
    expect_event(w, WC_ADDED, "/t6/c0", create_pod(f->store, "/t6/c0", "c0", 0), 0);

    /* Writes elsewhere, compacted: the cache's watch stays where it was,
     * before the compaction, so once the connection breaks it cannot
     * resume. */
    for (int i = 0; i < 5; i++)
        other = i == 0 ? create_raw(f->store, "/t6-other/x", "{}")
                       : update_raw(f->store, "/t6-other/x", "{}", other);
    assert_int_equal(store_compact(f->store, other, &err), 0);
    pid = etcd_pid(f->etcd->etcd);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_true(harness_wait_for(new_etcd_healthy, f, 30000));

    assert_int_equal(store_get(f->store, "/t6/a", &kv, &err), 0);
    assert_int_equal(kv.mod_revision, a);
    store_kv_fini(&kv);
    update_pod(f->store, "/t6/a", "a", 1, a);
    delete_key(f->store, "/t6/b");
    create_pod(f->store, "/t6/d", "d", 0);

    assert_true(harness_wait_for(cache_matches_store, &conv, 30000));
    /* Watchers from before the relist missed events: 410, relist. */
    expect_closed(w, K3C_E_COMPACTED);
    wc_watcher_free(w);
    assert_null(watch_cache_subscribe(wc, before, &err));
    assert_int_equal(err.kind, K3C_E_COMPACTED);

    /* The new watch delivers. */
    w = watch_cache_subscribe(wc, 0, &err);
    assert_non_null(w);
    expect_event(w, WC_ADDED, "/t6/e", create_pod(f->store, "/t6/e", "e", 0), 0);
    wc_watcher_free(w);
    watch_cache_free(wc);
}

/* ---- concurrency ------------------------------------------------------ */

#define RACE_EVENTS  300
#define RACE_READERS 3

struct race {
    struct watch_cache *wc;
    struct wc_watcher *w[RACE_READERS];
    size_t got[RACE_READERS];
    bool in_order[RACE_READERS];
    atomic_bool done;
};

struct race_arg {
    struct race *r;
    int i;
};

static void *
race_watcher(void *arg)
{
    struct race_arg *a = arg;
    struct race *r = a->r;
    int64_t prev = 0;

    r->in_order[a->i] = true;
    while (r->got[a->i] < RACE_EVENTS) {
        struct wc_event ev = {0};
        struct k3c_err err = {0};

        if (wc_watcher_next(r->w[a->i], WAIT_MS, &ev, &err) != 1)
            break;
        if (ev.revision <= prev || ev.entry->revision != ev.revision)
            r->in_order[a->i] = false;
        prev = ev.revision;
        r->got[a->i]++;
        wc_event_fini(&ev);
    }
    return NULL;
}

static void
count_entry(void *ud, struct wc_entry *e)
{
    size_t *n = ud;

    *n += e->json_len > 0;
}

static void *
race_lister(void *arg)
{
    struct race *r = arg;

    while (!atomic_load(&r->done)) {
        size_t n = 0;
        struct wc_entry *e = watch_cache_get(r->wc, "/t7/k3");

        watch_cache_foreach(r->wc, "/t7/", count_entry, &n);
        watch_cache_revision(r->wc);
        wc_entry_unref(e);
        sched_yield(); /* a race, not a starvation of the writer */
    }
    return NULL;
}

/* Write number i of the race: creates, updates and deletes over ten keys.
 * No assertions here (see the caller). */
static int
race_write(struct store *s, int i, int64_t revs[10], struct k3c_err *err)
{
    char key[16];
    int k = i % 10;
    _cleanup_free_ char *v = NULL;
    int64_t rev;

    snprintf(key, sizeof(key), "/t7/k%d", k);
    if (revs[k] != 0 && i % 7 == 0) {
        revs[k] = 0;
        return store_delete(s, key, 0, NULL, &rev, err);
    }
    v = pod_json("default", key + 4, "web", "node-1", i);
    if (revs[k] == 0)
        return store_create(s, key, v, strlen(v), 0, &revs[k], err);
    return store_update(s, key, v, strlen(v), revs[k], 0, &revs[k], NULL, err);
}

static void
test_readers_race_writer(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct race r = {.wc = cache_new(f, "/t7/", NULL)};
    struct race_arg args[RACE_READERS];
    pthread_t th[RACE_READERS], lister;
    int64_t revs[10] = {0};
    int write_rc = 0;

    atomic_init(&r.done, false);
    for (int i = 0; i < RACE_READERS; i++) {
        r.w[i] = watch_cache_subscribe(r.wc, 0, &err);
        assert_non_null(r.w[i]);
        args[i] = (struct race_arg){.r = &r, .i = i};
        assert_int_equal(pthread_create(&th[i], NULL, race_watcher, &args[i]), 0);
    }
    assert_int_equal(pthread_create(&lister, NULL, race_lister, &r), 0);
    for (int i = 0; i < RACE_EVENTS && write_rc == 0; i++)
        write_rc = race_write(f->store, i, revs, &err);
    /* Every thread is stopped before anything is asserted: an assertion
     * leaves the test, and the threads use this stack frame. */
    for (int i = 0; i < RACE_READERS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&r.done, true);
    pthread_join(lister, NULL);
    for (int i = 0; i < RACE_READERS; i++)
        wc_watcher_free(r.w[i]);
    watch_cache_free(r.wc);
    if (write_rc < 0)
        fail_msg("write: %s", err.msg);
    for (int i = 0; i < RACE_READERS; i++) {
        assert_int_equal(r.got[i], RACE_EVENTS);
        assert_true(r.in_order[i]);
    }
}

struct blocked {
    struct wc_watcher *w;
    atomic_bool waiting;
    int rc;
    struct k3c_err err;
};

static void *
blocked_next(void *arg)
{
    struct blocked *b = arg;
    struct wc_event ev = {0};

    atomic_store(&b->waiting, true);
    b->rc = wc_watcher_next(b->w, -1, &ev, &b->err);
    return NULL;
}

static bool
is_waiting(void *arg)
{
    struct blocked *b = arg;

    return atomic_load(&b->waiting);
}

/* watch_cache_free wakes a watcher blocked without a deadline; the watcher
 * may be freed after the cache. */
static void
test_free_wakes_watchers(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc = cache_new(f, "/t8/", NULL);
    struct blocked b = {.w = watch_cache_subscribe(wc, 0, &err)};
    pthread_t th;

    assert_non_null(b.w);
    atomic_init(&b.waiting, false);
    assert_int_equal(pthread_create(&th, NULL, blocked_next, &b), 0);
    /* Most likely blocked by now; a next() after the free returns -1 too. */
    assert_true(harness_wait_for(is_waiting, &b, WAIT_MS));
    watch_cache_free(wc);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err.kind, K3C_E_UNAVAILABLE);
    wc_watcher_free(b.w);
}

/* Offers (watch_cache_offer): the entry of a write whose stored bytes are
 * the offered ones is built from the offered object, not by parsing the
 * bytes; other bytes, or a withdrawn offer, are parsed as before. The
 * offered objects here differ from their texts in a label so that the test
 * can tell which one the entry came from (the API offers equal ones). */
static void
offer_pod(struct watch_cache *wc, const char *key, const char *name, const char *app, char **text,
          size_t *len)
{
    char *v = pod_json("default", name, "web", "node-1", 1);
    json_t *obj = json_loads(v, 0, NULL);
    size_t meta_off = 0, meta_end = 0;

    assert_non_null(obj);
    *text = api_object_encode_marked_at(obj, len, &meta_off, &meta_end);
    assert_non_null(*text);
    json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), "app",
                        json_string(app));
    watch_cache_offer(wc, key, obj, *text, *len, meta_off, meta_end);
    json_decref(obj);
    free(v);
}

/* The next event is key's at rev, with text (plus the revision) and label
 * app=<app>; the cache kept its metadata for the informers if kept. */
static void
expect_offered_entry(struct watch_cache *wc, struct wc_watcher *w, const char *key, int64_t rev,
                     const char *text, const char *app, bool kept)
{
    json_t *kept_md;
    struct wc_event ev = {0};
    _cleanup_free_ char *want = NULL, *have = NULL;
    size_t want_len = 0, have_len = 0;
    char rv[24];
    json_t *md;

    next_event(w, &ev);
    assert_string_equal(ev.entry->key, key);
    assert_rv(ev.entry, rev);
    assert_string_equal(wc_entry_label(ev.entry, "app"), app);
    /* The text is the stored one with the revision in metadata, and
     * metadata's place in it is right. */
    md = json_loads(text, 0, NULL);
    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    json_object_set_new(json_object_get(md, "metadata"), "resourceVersion", json_string(rv));
    want = json_dumps(md, JSON_COMPACT);
    want_len = strlen(want);
    have = wc_entry_json_dup(ev.entry, &have_len);
    assert_int_equal(have_len, want_len);
    assert_memory_equal(have, want, want_len);
    assert_int_equal(have[ev.entry->meta_off], '{');
    assert_int_equal(have[ev.entry->meta_off + ev.entry->meta_len - 1], '}');
    /* What the informers get instead of parsing: the offered object's
     * metadata with the revision. */
    kept_md = watch_cache_entry_metadata(wc, ev.entry);
    if (kept) {
        const json_t *m = json_object_get(kept_md, "metadata");

        assert_non_null(kept_md);
        assert_string_equal(json_string_value(json_object_get(m, "resourceVersion")), rv);
        assert_string_equal(json_string_value(json_object_get(m, "name")), ev.entry->name);
        assert_string_equal(json_string_value(json_object_get(json_object_get(m, "labels"), "app")),
                            app);
    } else {
        assert_null(kept_md);
    }
    json_decref(kept_md);
    json_decref(md);
    wc_event_fini(&ev);
}

static void
test_offers(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct watch_cache *wc = cache_new(f, "/t9/", NULL);
    struct wc_watcher *w = watch_cache_subscribe(wc, 0, &err);
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
    size_t a_len = 0, b_len = 0, c_len = 0;
    struct wc_event ev = {0};
    int64_t rev;

    assert_non_null(w);
    watch_cache_keep_metadata(wc);
    /* The bytes offered: the entry is the offered object's. */
    offer_pod(wc, "/t9/a", "a", "offered", &a, &a_len);
    rev = create_raw(f->store, "/t9/a", a);
    expect_offered_entry(wc, w, "/t9/a", rev, a, "offered", true);
    /* Other bytes at the key: parsed. */
    offer_pod(wc, "/t9/b", "b", "offered", &b, &b_len);
    rev = create_pod(f->store, "/t9/b", "b-other", 1);
    next_event(w, &ev);
    assert_string_equal(ev.entry->key, "/t9/b");
    assert_rv(ev.entry, rev);
    assert_string_equal(ev.entry->name, "b-other");
    assert_string_equal(wc_entry_label(ev.entry, "app"), "web");
    wc_event_fini(&ev);
    /* Withdrawn: parsed. */
    offer_pod(wc, "/t9/c", "c", "offered", &c, &c_len);
    watch_cache_withdraw(wc, "/t9/c");
    rev = create_raw(f->store, "/t9/c", c);
    expect_offered_entry(wc, w, "/t9/c", rev, c, "web", false);
    expect_no_event(w, 100);
    wc_watcher_free(w);
    watch_cache_free(wc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_list),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_replay_from_ring),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_slow_watcher_closed),
        cmocka_unit_test(test_readers_race_writer),
        cmocka_unit_test(test_free_wakes_watchers),
        cmocka_unit_test(test_relist_after_compaction),
        cmocka_unit_test(test_offers),
    };

    return cmocka_run_group_tests_name("watchcache", tests, setup, teardown);
}
