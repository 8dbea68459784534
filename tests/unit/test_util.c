/* SPDX-License-Identifier: Apache-2.0
 * test_util.c - base64, buffers, files and the log level. */
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/dl.h"
#include "base/log.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void
test_base64_rfc4648_vectors(void **state)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(vec); i++) {
        _cleanup_free_ char *enc = k3c_base64_encode(vec[i][0], strlen(vec[i][0]));
        size_t len = 0;
        _cleanup_free_ char *dec = k3c_base64_decode(vec[i][1], &len);

        assert_string_equal(enc, vec[i][1]);
        assert_non_null(dec);
        assert_int_equal(len, strlen(vec[i][0]));
        assert_memory_equal(dec, vec[i][0], len);
    }
}

static void
test_base64_binary_roundtrip_and_garbage(void **state)
{
    unsigned char all[256];
    size_t len = 0;

    (void)state;
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    {
        _cleanup_free_ char *enc = k3c_base64_encode(all, sizeof(all));
        _cleanup_free_ char *dec = k3c_base64_decode(enc, &len);

        assert_int_equal(len, sizeof(all));
        assert_memory_equal(dec, all, sizeof(all));
    }
    assert_null(k3c_base64_decode("abc", NULL));  /* not a multiple of 4 */
    assert_null(k3c_base64_decode("ab!d", NULL)); /* bad character */
    assert_null(k3c_base64_decode("a=bc", NULL)); /* padding in the middle */
    assert_null(k3c_base64_decode("ab=c", NULL)); /* data after padding */
}

static void
test_buf_append_consume_steal(void **state)
{
    struct k3c_buf b;
    size_t len = 0;
    char *s;

    (void)state;
    k3c_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        k3c_buf_appendf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 2000);
    k3c_buf_consume(&b, 1990);
    assert_string_equal(b.data, "5,6,7,8,9,");
    s = k3c_buf_steal(&b, &len);
    assert_int_equal(len, 10);
    assert_null(b.data);
    free(s);
    k3c_buf_fini(&b);
}

static void
test_write_file_mode_and_read_back(void **state)
{
    char dir[] = "/tmp/k3c-util-XXXXXX";
    struct k3c_err err = {0};
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    {
        _cleanup_free_ char *sub = k3c_xasprintf("%s/a/b/c", dir);
        _cleanup_free_ char *file = k3c_xasprintf("%s/key", sub);
        _cleanup_free_ char *back = NULL;
        size_t len = 0;

        assert_int_equal(k3c_mkdir_p(sub, 0700, &err), 0);
        assert_int_equal(k3c_write_file(file, "secret", 6, 0600, &err), 0);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(k3c_read_file(file, &back, &len, &err), 0);
        assert_string_equal(back, "secret");
        assert_int_equal(k3c_read_file("/nonexistent/k3c", &back, &len, &err), -1);
        assert_int_equal(err.kind, K3C_E_SYSTEM);
        assert_non_null(strstr(err.msg, "/nonexistent/k3c"));
        unlink(file);
        rmdir(sub);
    }
    {
        _cleanup_free_ char *c = k3c_xasprintf("%s/a/b", dir);
        _cleanup_free_ char *b = k3c_xasprintf("%s/a", dir);

        rmdir(c);
        rmdir(b);
    }
    assert_int_equal(rmdir(dir), 0);
}

static void
test_find_in_path(void **state)
{
    _cleanup_free_ char *sh = k3c_find_in_path("sh");

    (void)state;
    assert_non_null(sh);
    assert_null(k3c_find_in_path("k3c-no-such-program-anywhere"));
}

static void
test_secret_equal(void **state)
{
    (void)state;
    assert_true(k3c_secret_equal("s3cret", "s3cret"));
    assert_false(k3c_secret_equal("s3cret", "s3cre"));
    assert_false(k3c_secret_equal("s3cret", "s3cret!"));
    assert_false(k3c_secret_equal("s3cret", "S3cret"));
    assert_false(k3c_secret_equal("s3cret", NULL));
    assert_false(k3c_secret_equal("s3cret", ""));
}

static void
test_cond_wait_until_deadline(void **state)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    int64_t t0 = k3c_now_ms();

    (void)state;
    k3c_cond_init(&c);
    pthread_mutex_lock(&m);
    /* Nobody signals: the wait ends at the deadline, not before, and a
     * deadline already past returns at once. */
    while (k3c_cond_wait_until(&c, &m, t0 + 50))
        ;
    assert_true(k3c_now_ms() - t0 >= 50);
    assert_false(k3c_cond_wait_until(&c, &m, t0));
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&c);
}

static void
test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(k3c_log_level_parse("debug"), K3C_LOG_DEBUG);
    assert_int_equal(k3c_log_level_parse("loud"), -1);
    k3c_log_set_level(K3C_LOG_WARN);
    assert_true(k3c_log_enabled(K3C_LOG_ERROR));
    assert_false(k3c_log_enabled(K3C_LOG_INFO));
    k3c_log_set_level(K3C_LOG_INFO);
}

/* k3c_thread_stack_release: the pages a deep call touched below the
 * caller's frame leave the thread's RSS; the caller's own frame survives. */
struct stack_probe {
    uintptr_t lo, hi;     /* the deep call's buffer */
    size_t before, after; /* its resident pages */
    int canary;
};

static size_t
resident_pages(uintptr_t lo, uintptr_t hi)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = lo & ~((uintptr_t)page - 1);
    size_t n = (hi - start + (uintptr_t)page - 1) / (uintptr_t)page, count = 0;
    unsigned char *vec = calloc(n, 1);

    assert_int_equal(mincore((void *)start, n * (size_t)page, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    free(vec);
    return count;
}

static __attribute__((noinline)) void
touch_deep(struct stack_probe *sp)
{
    volatile char buf[256 * 1024];

    for (size_t i = 0; i < sizeof(buf); i += 512)
        buf[i] = 1;
    sp->lo = (uintptr_t)&buf[0];
    sp->hi = (uintptr_t)&buf[sizeof(buf) - 1];
}

static void *
stack_release_thread(void *arg)
{
    struct stack_probe *sp = arg;
    volatile int canary = 42;

    touch_deep(sp);
    sp->before = resident_pages(sp->lo, sp->hi);
    k3c_thread_stack_release();
    sp->after = resident_pages(sp->lo, sp->hi);
    sp->canary = canary;
    return NULL;
}

static void
test_thread_stack_release(void **state)
{
    struct stack_probe sp = {0};
    pthread_t t;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, stack_release_thread, &sp), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sp.canary, 42);
    assert_true(sp.before >= 60); /* 64 pages touched */
    assert_true(sp.after <= 8);   /* all but the margin near the caller's frame */
    k3c_thread_stack_release();   /* the main thread: a no-op */
}

/* k3c_dl_load: every slot filled from a library that has them; a missing
 * symbol or library is an error naming the package, with no slot left set. */
static void
test_dl_load(void **state)
{
    size_t (*my_strlen)(const char *) = NULL;
    void *(*my_memcpy)(void *, const void *, size_t) = NULL, *missing = NULL;
    const struct k3c_dl_sym good[] = {{"strlen", (void **)&my_strlen},
                                      {"memcpy", (void **)&my_memcpy}};
    const struct k3c_dl_sym bad[] = {{"strlen", (void **)&my_strlen},
                                     {"k3c_no_such_function", &missing}};
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(k3c_dl_load("libc.so.6", "libc6", "test", good, 2, &err), 0);
    assert_non_null(my_strlen);
    assert_non_null(my_memcpy);
    assert_int_equal(my_strlen("k3c"), 3);

    assert_int_equal(k3c_dl_load("libc.so.6", "libc6", "test", bad, 2, &err), -1);
    assert_int_equal(err.kind, K3C_E_SYSTEM);
    assert_non_null(strstr(err.msg, "test: libc.so.6 lacks k3c_no_such_function"));
    assert_non_null(strstr(err.msg, "install the Debian package libc6"));
    assert_null(my_strlen); /* cleared with the rest */
    assert_null(missing);

    k3c_err_clear(&err);
    assert_int_equal(k3c_dl_load("libk3c-absent.so.9", "k3c-absent", "test", good, 2, &err), -1);
    assert_non_null(strstr(err.msg, "test: cannot load libk3c-absent.so.9"));
    assert_non_null(strstr(err.msg, "install the Debian package k3c-absent"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_base64_binary_roundtrip_and_garbage),
        cmocka_unit_test(test_buf_append_consume_steal),
        cmocka_unit_test(test_write_file_mode_and_read_back),
        cmocka_unit_test(test_find_in_path),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_cond_wait_until_deadline),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_thread_stack_release),
        cmocka_unit_test(test_dl_load),
    };

    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
