/* SPDX-License-Identifier: Apache-2.0
 * fuzz_spdy.c - the SPDY/3.1 frame parser as kubectl port-forward's peer
 * reaches it: the input is the byte stream a client sends after the
 * upgrade (or inside its WebSocket messages). Every frame is parsed until
 * the parser wants more or refuses; what it accepts must be consistent (a
 * frame never longer than what was left, at most SPDY_MAX_HEADERS headers,
 * lowercase names), and a SYN_STREAM's headers must come back unchanged
 * after our writer compresses them for another session. */
#include "kubelet/spdy.h"
#include "fuzz.h"

static void
check_round_trip(const struct spdy_frame *f)
{
    struct spdy_session *w = spdy_session_new(), *r = spdy_session_new();
    struct k3c_buf out;
    struct spdy_frame back;
    struct k3c_err err = {0};
    size_t used = 0;

    k3c_buf_init(&out);
    spdy_write_syn_stream(w, &out, f->stream_id, f->headers, f->n_headers, false);
    FUZZ_CHECK(spdy_parse(r, (const uint8_t *)out.data, out.len, &used, &back, &err) == 1,
               "our own SYN_STREAM parses");
    FUZZ_CHECK(used == out.len, "one frame");
    FUZZ_CHECK(back.type == SPDY_SYN_STREAM && back.stream_id == f->stream_id, "same stream");
    FUZZ_CHECK(back.n_headers == f->n_headers, "same header count");
    for (size_t i = 0; i < back.n_headers; i++) {
        FUZZ_CHECK(strcmp(back.headers[i].name, f->headers[i].name) == 0, "same name");
        FUZZ_CHECK(strcmp(back.headers[i].value, f->headers[i].value) == 0, "same value");
    }
    spdy_frame_fini(&back);
    k3c_buf_fini(&out);
    spdy_session_free(w);
    spdy_session_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spdy_session *s = spdy_session_new();
    size_t off = 0;

    fuzz_quiet();
    for (int frames = 0; frames < 1000; frames++) {
        struct spdy_frame f;
        struct k3c_err err = {0};
        size_t used = 0;
        int rc = spdy_parse(s, data + off, size - off, &used, &f, &err);

        if (rc <= 0) {
            FUZZ_CHECK(rc == 0 || err.msg[0], "a refusal says why");
            break;
        }
        FUZZ_CHECK(used >= 8 && used <= size - off, "frame within the input");
        FUZZ_CHECK(f.n_headers <= SPDY_MAX_HEADERS, "header count");
        for (size_t i = 0; i < f.n_headers; i++)
            for (const char *c = f.headers[i].name; *c; c++)
                FUZZ_CHECK(*c < 'A' || *c > 'Z', "lowercase names");
        if (f.type == SPDY_DATA)
            FUZZ_CHECK(f.data == data + off + 8 && f.len == used - 8, "data payload");
        if (f.type == SPDY_SYN_STREAM)
            check_round_trip(&f);
        spdy_frame_fini(&f);
        off += used;
    }
    spdy_session_free(s);
    return 0;
}
