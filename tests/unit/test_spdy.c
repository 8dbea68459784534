/* SPDX-License-Identifier: Apache-2.0
 * test_spdy.c - SPDY/3.1 framing (src/kubelet/spdy.c): frames written by
 * one session parse back in another, header blocks share one zlib stream
 * across frames, partial input waits, bad input is refused. Real kubectl
 * speaks to it in tests/e2e/test_portforward.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "kubelet/spdy.h"

struct pair {
    struct spdy_session *w, *r;
    struct k3c_buf b;
};

static int
setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));

    p->w = spdy_session_new();
    p->r = spdy_session_new();
    k3c_buf_init(&p->b);
    *state = p;
    return 0;
}

static int
teardown(void **state)
{
    struct pair *p = *state;

    spdy_session_free(p->w);
    spdy_session_free(p->r);
    k3c_buf_fini(&p->b);
    free(p);
    return 0;
}

static int
parse(struct pair *p, size_t *off, struct spdy_frame *f)
{
    struct k3c_err err = {0};
    size_t used = 0;
    int rc = spdy_parse(p->r, (const uint8_t *)p->b.data + *off, p->b.len - *off, &used, f, &err);

    if (rc == 1)
        *off += used;
    return rc;
}

static void
test_syn_streams_share_zlib(void **state)
{
    struct pair *p = *state;
    const struct spdy_header h1[] = {{"streamType", "error"}, {"port", "80"}, {"requestID", "0"}};
    const struct spdy_header h2[] = {{"streamType", "data"}, {"port", "80"}, {"requestID", "0"}};
    struct spdy_frame f;
    size_t off = 0;

    spdy_write_syn_stream(p->w, &p->b, 1, h1, 3, false);
    spdy_write_syn_stream(p->w, &p->b, 3, h2, 3, true);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_SYN_STREAM);
    assert_int_equal(f.stream_id, 1);
    assert_int_equal(f.n_headers, 3);
    assert_string_equal(f.headers[0].name, "streamtype"); /* lowercased */
    assert_string_equal(spdy_header_get(&f, "StreamType"), "error");
    assert_null(spdy_header_get(&f, "nope"));
    spdy_frame_fini(&f);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(f.flags & SPDY_FLAG_FIN, SPDY_FLAG_FIN);
    assert_string_equal(spdy_header_get(&f, "streamtype"), "data");
    spdy_frame_fini(&f);
    assert_int_equal(off, p->b.len);
    assert_int_equal(parse(p, &off, &f), 0);
}

static void
test_data_rst_ping_goaway(void **state)
{
    struct pair *p = *state;
    struct spdy_frame f;
    size_t off = 0;

    spdy_write_data(&p->b, 5, "hello", 5, false);
    spdy_write_data(&p->b, 5, NULL, 0, true);
    spdy_write_rst(&p->b, 7, SPDY_RST_CANCEL);
    spdy_write_ping(&p->b, 42);
    spdy_write_goaway(&p->b, 9, 0);
    spdy_write_syn_reply(p->w, &p->b, 11, false);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_DATA);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.data, "hello", 5);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.len, 0);
    assert_int_equal(f.flags, SPDY_FLAG_FIN);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_RST_STREAM);
    assert_int_equal(f.stream_id, 7);
    assert_int_equal(f.value, SPDY_RST_CANCEL);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_PING);
    assert_int_equal(f.value, 42);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_GOAWAY);
    assert_int_equal(f.stream_id, 9);
    assert_int_equal(parse(p, &off, &f), 1);
    assert_int_equal(f.type, SPDY_SYN_REPLY);
    assert_int_equal(f.stream_id, 11);
    assert_int_equal(f.n_headers, 0);
    spdy_frame_fini(&f);
}

static void
test_partial_input_waits(void **state)
{
    struct pair *p = *state;
    struct spdy_frame f;
    struct k3c_err err = {0};
    size_t used = 0;

    spdy_write_data(&p->b, 1, "abcdef", 6, false);
    for (size_t n = 0; n < p->b.len; n++)
        assert_int_equal(spdy_parse(p->r, (const uint8_t *)p->b.data, n, &used, &f, &err), 0);
    assert_int_equal(spdy_parse(p->r, (const uint8_t *)p->b.data, p->b.len, &used, &f, &err), 1);
    assert_int_equal(used, 14);
}

static void
test_bad_input_refused(void **state)
{
    struct pair *p = *state;
    struct spdy_frame f;
    struct k3c_err err = {0};
    size_t used = 0;
    const uint8_t v2[] = {0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1};
    const uint8_t huge[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff};
    const uint8_t short_ping[] = {0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x02, 0, 0};
    /* A SYN_STREAM whose header block is not zlib at all. */
    const uint8_t garbage[] = {0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0e, 0,   0,   0,
                               1,    0,    0,    0,    0,    0,    0,    'n',  'o', 't', 'z'};

    (void)p;
    assert_int_equal(spdy_parse(p->r, v2, sizeof(v2), &used, &f, &err), -1);
    assert_non_null(strstr(err.msg, "version"));
    assert_int_equal(spdy_parse(p->r, huge, sizeof(huge), &used, &f, &err), -1);
    assert_int_equal(spdy_parse(p->r, short_ping, sizeof(short_ping), &used, &f, &err), -1);
    assert_int_equal(spdy_parse(p->r, garbage, sizeof(garbage), &used, &f, &err), -1);
}

/* The dictionary is the spec's: 1423 bytes with zlib id 0xe3c6a7c2 (what a
 * peer's zlib header names). Checked through a stream our writer makes. */
static void
test_dictionary_id(void **state)
{
    struct pair *p = *state;
    const uint8_t *b;

    spdy_write_syn_reply(p->w, &p->b, 1, false);
    b = (const uint8_t *)p->b.data + 12; /* frame head, stream id */
    assert_true(b[1] & 0x20);            /* FDICT */
    assert_int_equal((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5],
                     0xe3c6a7c2u);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_syn_streams_share_zlib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_rst_ping_goaway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_input_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dictionary_id, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
