/* SPDX-License-Identifier: Apache-2.0
 * test_store_watch.c - watches against a real etcd: every write seen once
 * and in order, resume after a cut connection and after etcd is killed and
 * restarted by the supervisor, compacted start revisions reported. */
#include "harness.h"
#include "base/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_EVENTS 2048

struct seen_event {
    enum store_event_type type;
    char key[64];
    char value[32];
    int64_t rev;
};

/* What a watch delivered; written by the watch thread, read by the test. */
struct recorder {
    pthread_mutex_t lock;
    struct seen_event ev[MAX_EVENTS];
    size_t n;
    enum k3c_errkind error;
};

struct fixture {
    struct harness_etcd *etcd;
    struct store *store;
    struct recorder rec;
};

static void
record_event(void *ud, const struct store_event *e)
{
    struct recorder *r = ud;

    pthread_mutex_lock(&r->lock);
    if (r->n < MAX_EVENTS) {
        struct seen_event *s = &r->ev[r->n++];

        s->type = e->type;
        snprintf(s->key, sizeof(s->key), "%s", e->kv->key);
        snprintf(s->value, sizeof(s->value), "%s", e->kv->value);
        s->rev = e->kv->mod_revision;
    }
    pthread_mutex_unlock(&r->lock);
}

static void
record_error(void *ud, const struct k3c_err *err)
{
    struct recorder *r = ud;

    pthread_mutex_lock(&r->lock);
    r->error = err->kind;
    pthread_mutex_unlock(&r->lock);
}

static const struct store_watch_ops recorder_ops = {.on_event = record_event,
                                                    .on_error = record_error};

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
    pthread_mutex_init(&f->rec.lock, NULL);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    harness_etcd_store_stop(f->etcd, f->store);
    pthread_mutex_destroy(&f->rec.lock);
    free(f);
    return 0;
}

/* Each test starts with an empty recorder. */
static int
reset_recorder(void **state)
{
    struct fixture *f = *state;

    pthread_mutex_lock(&f->rec.lock);
    f->rec.n = 0;
    f->rec.error = K3C_E_NONE;
    pthread_mutex_unlock(&f->rec.lock);
    return 0;
}

struct count_goal {
    struct recorder *rec;
    size_t want;
};

static bool
has_events(void *arg)
{
    struct count_goal *g = arg;
    bool ok;

    pthread_mutex_lock(&g->rec->lock);
    ok = g->rec->n >= g->want;
    pthread_mutex_unlock(&g->rec->lock);
    return ok;
}

static bool
has_error(void *arg)
{
    struct recorder *r = arg;
    bool ok;

    pthread_mutex_lock(&r->lock);
    ok = r->error != K3C_E_NONE;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Writes value i to key prefix+(i % keys) as create or update; returns the
 * revision. Keeps the per-key revision in revs. */
static int64_t
write_one(struct store *s, const char *prefix, int i, int keys, int64_t *revs)
{
    struct k3c_err err = {0};
    char key[64], val[32];
    int64_t rev = 0;
    int k = i % keys;

    snprintf(key, sizeof(key), "%s%02d", prefix, k);
    snprintf(val, sizeof(val), "v%d", i);
    if (revs[k] == 0)
        assert_int_equal(store_create(s, key, val, strlen(val), 0, &rev, &err), 0);
    else
        assert_int_equal(store_update(s, key, val, strlen(val), revs[k], 0, &rev, NULL, &err), 0);
    revs[k] = rev;
    return rev;
}

/* Every write i in [0, n) must appear exactly once, in order. */
static void
assert_sequence(struct recorder *r, const char *prefix, int n, int keys)
{
    pthread_mutex_lock(&r->lock);
    assert_int_equal(r->n, (size_t)n);
    for (int i = 0; i < n; i++) {
        char key[64], val[32];

        snprintf(key, sizeof(key), "%s%02d", prefix, i % keys);
        snprintf(val, sizeof(val), "v%d", i);
        assert_string_equal(r->ev[i].key, key);
        assert_string_equal(r->ev[i].value, val);
        assert_int_equal(r->ev[i].type, STORE_EVENT_PUT);
        if (i > 0)
            assert_true(r->ev[i].rev > r->ev[i - 1].rev);
    }
    pthread_mutex_unlock(&r->lock);
}

static void
test_every_write_once_in_order(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    int64_t revs[8] = {0};
    struct count_goal goal = {&f->rec, 200};
    struct store_watch *w;

    w = store_watch_start(f->store, "/w1/", 0, &recorder_ops, &f->rec, &err);
    assert_non_null(w);
    /* Writes outside the prefix must not be seen. */
    assert_int_equal(store_create(f->store, "/w1x", "no", 2, 0, NULL, &err), 0);
    for (int i = 0; i < 200; i++)
        write_one(f->store, "/w1/k", i, 8, revs);
    assert_true(harness_wait_for(has_events, &goal, 20000));
    store_watch_stop(w);
    assert_sequence(&f->rec, "/w1/k", 200, 8);
}

static void
test_delete_events_carry_key_and_revision(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct count_goal goal = {&f->rec, 2};
    struct store_watch *w;
    int64_t rev = 0;

    w = store_watch_start(f->store, "/w2/", 0, &recorder_ops, &f->rec, &err);
    assert_non_null(w);
    assert_int_equal(store_create(f->store, "/w2/a", "alive", 5, 0, &rev, &err), 0);
    assert_int_equal(store_delete(f->store, "/w2/a", rev, NULL, NULL, &err), 0);
    assert_true(harness_wait_for(has_events, &goal, 10000));
    store_watch_stop(w);
    assert_int_equal(f->rec.ev[1].type, STORE_EVENT_DELETE);
    assert_string_equal(f->rec.ev[1].key, "/w2/a");
    assert_string_equal(f->rec.ev[1].value, "");
    assert_true(f->rec.ev[1].rev > rev);
}

struct writer {
    struct store *s;
    int n;
    int64_t revs[8];
};

static void *
writer_thread(void *arg)
{
    struct writer *wr = arg;

    for (int i = 0; i < wr->n; i++)
        write_one(wr->s, "/w3/k", i, 8, wr->revs);
    return NULL;
}

static void
test_resume_after_connection_cut(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    struct writer wr = {.s = f->store, .n = 300};
    struct count_goal goal = {&f->rec, 300};
    struct store_watch *w;
    pthread_t th;

    w = store_watch_start(f->store, "/w3/", 0, &recorder_ops, &f->rec, &err);
    assert_non_null(w);
    assert_int_equal(pthread_create(&th, NULL, writer_thread, &wr), 0);
    /* Cut the watch's connection while the writer is busy, several times. */
    for (int cut = 0; cut < 5; cut++) {
        struct count_goal some = {&f->rec, (size_t)(cut + 1) * 40};

        assert_true(harness_wait_for(has_events, &some, 20000));
        store_watch_reset_connection(w);
    }
    pthread_join(th, NULL);
    assert_true(harness_wait_for(has_events, &goal, 20000));
    store_watch_stop(w);
    assert_sequence(&f->rec, "/w3/k", 300, 8);
}

static bool
new_etcd_healthy(void *arg)
{
    struct fixture *f = arg;
    struct k3c_err err = {0};

    return etcd_start_count(f->etcd->etcd) >= 2 && etcd_wait_healthy(f->etcd->etcd, 200, &err) == 0;
}

static void
test_resume_after_etcd_killed(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    int64_t revs[8] = {0};
    struct count_goal first = {&f->rec, 50}, all = {&f->rec, 100};
    struct store_watch *w;
    pid_t pid;

    w = store_watch_start(f->store, "/w4/", 0, &recorder_ops, &f->rec, &err);
    assert_non_null(w);
    for (int i = 0; i < 50; i++)
        write_one(f->store, "/w4/k", i, 8, revs);
    assert_true(harness_wait_for(has_events, &first, 20000));
    pid = etcd_pid(f->etcd->etcd);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* The supervisor restarts etcd; the watch reconnects on its own. */
    assert_true(harness_wait_for(new_etcd_healthy, f, 30000));
    for (int i = 50; i < 100; i++)
        write_one(f->store, "/w4/k", i, 8, revs);
    assert_true(harness_wait_for(has_events, &all, 30000));
    store_watch_stop(w);
    assert_sequence(&f->rec, "/w4/k", 100, 8);
}

static void
test_compacted_start_revision(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    int64_t revs[8] = {0}, old, now;
    struct store_watch *w;

    old = write_one(f->store, "/w5/k", 0, 8, revs);
    for (int i = 1; i < 10; i++)
        now = write_one(f->store, "/w5/k", i, 8, revs);
    assert_int_equal(store_compact(f->store, now, &err), 0);
    w = store_watch_start(f->store, "/w5/", old, &recorder_ops, &f->rec, &err);
    assert_non_null(w);
    assert_true(harness_wait_for(has_error, &f->rec, 10000));
    store_watch_stop(w);
    assert_int_equal(f->rec.error, K3C_E_COMPACTED);
    assert_int_equal(f->rec.n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_every_write_once_in_order, reset_recorder),
        cmocka_unit_test_setup(test_delete_events_carry_key_and_revision, reset_recorder),
        cmocka_unit_test_setup(test_resume_after_connection_cut, reset_recorder),
        cmocka_unit_test_setup(test_resume_after_etcd_killed, reset_recorder),
        cmocka_unit_test_setup(test_compacted_start_revision, reset_recorder),
    };

    return cmocka_run_group_tests_name("store_watch", tests, setup, teardown);
}
