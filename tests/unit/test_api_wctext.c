/* SPDX-License-Identifier: Apache-2.0
 * test_api_wctext.c - the watch cache's packed object texts (api_wctext.c):
 * every text reads back byte for byte (plain, zstd without and with a
 * trained dictionary, across dictionary rotations, after the packer is
 * gone), prefixes read back (what Table lists splice), pod-like objects pack
 * small once a dictionary is trained, and damaged or short data is a clear
 * error, not wrong bytes. */
#include "api/api-wctext.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* A pod of ~2-4 KB like the ones a ReplicaSet makes: mostly the same bytes,
 * a few that differ per object (name, uid, IPs, times). */
static char *
pod_text(unsigned i, unsigned shape)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(
        &b,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-%u-%08x\","
        "\"namespace\":\"ns-%u\",\"uid\":\"%08x-1f2e-4d3c-8b7a-%012x\","
        "\"resourceVersion\":\"%u\",\"labels\":{\"app\":\"web-%u\","
        "\"pod-template-hash\":\"7d9c5b8f6d\"},\"managedFields\":[",
        shape, i * 2654435761u, i % 7, i * 40503u, i * 977u, 1000 + i, shape);
    for (unsigned f = 0; f < 8; f++)
        k3c_buf_appendf(&b,
                        "%s{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
                        "\"apiVersion\":\"v1\",\"time\":\"2026-12-06T10:%02u:%02uZ\","
                        "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":"
                        "{\".\":{},\"f:app\":{}}},\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":"
                        "\\\"c%u\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}}}}",
                        f ? "," : "", i % 60, f, f);
    k3c_buf_appendf(&b,
                    "]},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"registry.k8s.io/"
                    "nginx:1.%u\",\"ports\":[{\"containerPort\":%u}]}],\"nodeName\":\"node-%u\"},"
                    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.42.%u.%u\"}}",
                    shape, 8000 + shape, i % 3, (i / 250) % 250, i % 250);
    return k3c_buf_steal(&b, NULL);
}

static void
assert_reads_back(const struct wc_text *t, const char *text)
{
    struct k3c_err err = {0};
    struct k3c_buf b;
    size_t len = strlen(text);

    k3c_buf_init(&b);
    k3c_buf_append(&b, "<", 1); /* reads append */
    assert_int_equal(wc_text_read(t, SIZE_MAX, &b, &err), 0);
    assert_int_equal(b.len, len + 1);
    assert_memory_equal(b.data + 1, text, len);
    assert_int_equal(b.data[b.len], '\0');
    /* prefixes, as a Table list asks for metadata */
    for (size_t upto = 0; upto <= len; upto += len / 7 + 1) {
        k3c_buf_reset(&b);
        assert_int_equal(wc_text_read(t, upto, &b, &err), 0);
        assert_int_equal(b.len, upto);
        assert_memory_equal(b.data, text, upto);
    }
    k3c_buf_fini(&b);
}

static void
train_on(struct wc_packer *p, unsigned n, unsigned shape)
{
    struct k3c_buf samples;
    size_t sizes[128];
    struct k3c_err err = {0};

    assert_true(n <= 128);
    k3c_buf_init(&samples);
    for (unsigned i = 0; i < n; i++) {
        _cleanup_free_ char *t = pod_text(i, shape);

        sizes[i] = strlen(t);
        k3c_buf_append(&samples, t, sizes[i]);
    }
    assert_int_equal(wc_packer_train(p, samples.data, sizes, n, &err), 0);
    k3c_buf_fini(&samples);
}

static void
test_plain_and_undictionaried(void **state)
{
    struct wc_packer *p = wc_packer_new();
    _cleanup_free_ char *pod = pod_text(1, 0);
    static const char small[] = "{\"kind\":\"Lease\"}";
    struct wc_text t;

    (void)state;
    wc_text_pack(p, small, strlen(small), &t);
    assert_int_equal(t.kind, WC_TEXT_PLAIN); /* too short to be worth a frame */
    assert_reads_back(&t, small);
    wc_text_fini(&t);

    wc_text_pack(p, "", 0, &t);
    assert_reads_back(&t, "");
    wc_text_fini(&t);

    wc_text_pack(p, pod, strlen(pod), &t); /* no dictionary yet: plain zstd */
    assert_int_equal(t.kind, WC_TEXT_ZSTD);
    assert_null(t.dict);
    assert_true(t.len < strlen(pod) / 2);
    assert_reads_back(&t, pod);
    wc_text_fini(&t);
    wc_packer_free(p);
}

/* Training is due after WC_TRAIN_FIRST texts, then after four times as many. */
static void
test_training_schedule(void **state)
{
    struct wc_packer *p = wc_packer_new();
    struct wc_text t;
    size_t plain_len = 0, dict_len = 0, pod_len = 0;

    (void)state;
    assert_false(wc_packer_train_due(p));
    for (unsigned i = 0; i < WC_TRAIN_FIRST; i++) {
        _cleanup_free_ char *pod = pod_text(i, 0);

        wc_text_pack(p, pod, strlen(pod), &t);
        if (i == 0) {
            plain_len = t.len;
            pod_len = strlen(pod);
        }
        wc_text_fini(&t);
    }
    assert_true(wc_packer_train_due(p));
    wc_packer_defer(p); /* too few objects: again after as many packs */
    assert_false(wc_packer_train_due(p));
    for (unsigned i = 0; i < WC_TRAIN_FIRST; i++) {
        _cleanup_free_ char *pod = pod_text(i, 0);

        wc_text_pack(p, pod, strlen(pod), &t);
        wc_text_fini(&t);
    }
    assert_true(wc_packer_train_due(p));
    assert_int_equal(wc_packer_trainings(p), 0);
    train_on(p, 100, 0);
    assert_false(wc_packer_train_due(p));
    assert_int_equal(wc_packer_trainings(p), 1);
    assert_true(wc_packer_dict_size(p) > 0);
    for (unsigned i = 0; i < 4 * WC_TRAIN_FIRST; i++) {
        _cleanup_free_ char *pod = pod_text(1000 + i, 0);

        assert_false(wc_packer_train_due(p));
        wc_text_pack(p, pod, strlen(pod), &t);
        assert_int_equal(t.kind, WC_TEXT_ZSTD);
        assert_non_null(t.dict);
        if (i == 0)
            dict_len = t.len;
        assert_reads_back(&t, pod);
        wc_text_fini(&t);
    }
    assert_true(wc_packer_train_due(p));
    /* The dictionary is what makes pods small: print the figures. */
    print_message("pod of %zu bytes: %zu packed alone, %zu with a %zu-byte dictionary\n", pod_len,
                  plain_len, dict_len, wc_packer_dict_size(p));
    assert_true(dict_len * 3 < plain_len);
    wc_packer_free(p);
}

/* A retrained dictionary replaces the packer's; texts packed before keep
 * theirs and read back, also after the packer is freed. */
static void
test_rotation(void **state)
{
    struct wc_packer *p = wc_packer_new();
    struct wc_text old[3], cur[3];
    char *texts[6];

    (void)state;
    train_on(p, 64, 0);
    for (unsigned i = 0; i < 3; i++) {
        texts[i] = pod_text(500 + i, 0);
        wc_text_pack(p, texts[i], strlen(texts[i]), &old[i]);
    }
    train_on(p, 64, 1); /* the objects changed shape */
    assert_int_equal(wc_packer_trainings(p), 2);
    for (unsigned i = 0; i < 3; i++) {
        texts[3 + i] = pod_text(600 + i, 1);
        wc_text_pack(p, texts[3 + i], strlen(texts[3 + i]), &cur[i]);
        assert_ptr_not_equal(cur[i].dict, old[i].dict);
        assert_ptr_equal(cur[i].dict, cur[0].dict);
    }
    wc_packer_free(p);
    for (unsigned i = 0; i < 3; i++) {
        assert_reads_back(&old[i], texts[i]);
        assert_reads_back(&cur[i], texts[3 + i]);
        wc_text_fini(&old[i]);
        wc_text_fini(&cur[i]);
        free(texts[i]);
        free(texts[3 + i]);
    }
}

/* Samples zstd cannot train on (one object) still give a dictionary. */
static void
test_train_few_samples(void **state)
{
    struct wc_packer *p = wc_packer_new();
    _cleanup_free_ char *pod = pod_text(7, 0);
    struct k3c_err err = {0};
    size_t size = strlen(pod);
    struct wc_text t;

    (void)state;
    assert_int_equal(wc_packer_train(p, pod, &size, 1, &err), 0);
    assert_true(wc_packer_dict_size(p) > 0);
    wc_text_pack(p, pod, size, &t);
    assert_int_equal(t.kind, WC_TEXT_ZSTD);
    assert_true(t.len < 64); /* the object is in the dictionary */
    assert_reads_back(&t, pod);
    wc_text_fini(&t);
    assert_int_equal(wc_packer_train(p, NULL, NULL, 0, &err), -1);
    assert_string_equal(err.msg, "no samples to train a dictionary on");
    assert_true(wc_packer_dict_size(p) > 0); /* kept */
    wc_packer_free(p);
}

static void
assert_unreadable(const struct wc_text *t, size_t upto)
{
    struct k3c_err err = {0};
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_append(&b, "keep", 4);
    assert_int_equal(wc_text_read(t, upto, &b, &err), -1);
    assert_int_equal(err.kind, K3C_E_INTERNAL);
    assert_non_null(strstr(err.msg, "stored object text is corrupt"));
    assert_string_equal(b.data, "keep"); /* nothing appended */
    k3c_buf_fini(&b);
}

static void
test_corrupt_and_short(void **state)
{
    struct wc_packer *p = wc_packer_new();
    _cleanup_free_ char *pod = pod_text(3, 0);
    struct wc_text t, bad;
    uint32_t len;

    (void)state;
    for (int with_dict = 0; with_dict < 2; with_dict++) {
        if (with_dict)
            train_on(p, 64, 0);
        wc_text_pack(p, pod, strlen(pod), &t);
        assert_int_equal(t.kind, WC_TEXT_ZSTD);
        len = t.len;

        bad = t; /* short: the frame cut */
        bad.len = len / 2;
        assert_unreadable(&bad, SIZE_MAX);
        bad.len = 0;
        assert_unreadable(&bad, SIZE_MAX);
        bad.len = len;
        bad.text_len = t.text_len + 1; /* says more than the frame holds */
        assert_unreadable(&bad, SIZE_MAX);

        t.data[len - 6] ^= 0x5a; /* damaged: the checksum catches it */
        assert_unreadable(&t, SIZE_MAX);
        t.data[len - 6] ^= 0x5a;
        t.data[0] ^= 0xff; /* not a zstd frame */
        assert_unreadable(&t, SIZE_MAX);
        assert_unreadable(&t, 10);
        t.data[0] ^= 0xff;
        assert_reads_back(&t, pod);
        wc_text_fini(&t);
    }
    wc_packer_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_undictionaried),
        cmocka_unit_test(test_training_schedule),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_train_few_samples),
        cmocka_unit_test(test_corrupt_and_short),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
