/* SPDX-License-Identifier: Apache-2.0
 * spdy.h - SPDY/3.1 framing as Kubernetes' streaming protocols use it
 * (kubectl port-forward, and exec/attach before WebSocket): frames parsed
 * from a byte stream and written into a buffer, header blocks compressed
 * with zlib and the SPDY/3 dictionary (one zlib stream per direction for
 * the whole session, as the spec requires). No flow control: Go's
 * spdystream, kubectl's side, neither sends nor honours WINDOW_UPDATE.
 * No Debian package speaks SPDY any more (spdylay is gone), hence our own. */
#ifndef K3C_SPDY_H
#define K3C_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

enum spdy_type {
    SPDY_DATA = 0, /* not a control frame */
    SPDY_SYN_STREAM = 1,
    SPDY_SYN_REPLY = 2,
    SPDY_RST_STREAM = 3,
    SPDY_SETTINGS = 4,
    SPDY_PING = 6,
    SPDY_GOAWAY = 7,
    SPDY_HEADERS = 8,
    SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN            0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02
#define SPDY_RST_PROTOCOL_ERROR  1
#define SPDY_RST_REFUSED_STREAM  3
#define SPDY_RST_CANCEL          5
#define SPDY_MAX_DATA            (1u << 20) /* a longer frame is a protocol error */
#define SPDY_MAX_HEADERS         64
#define SPDY_MAX_HEADER_BYTES    (64u * 1024) /* decompressed header block */

struct spdy_header {
    char *name; /* lowercase, as SPDY/3 sends them */
    char *value;
};

struct spdy_frame {
    enum spdy_type type; /* SPDY_DATA for a data frame */
    uint8_t flags;
    uint32_t stream_id;  /* data, SYN_*, RST_STREAM, HEADERS, WINDOW_UPDATE; GOAWAY: last good */
    uint32_t value;      /* RST_STREAM/GOAWAY status, PING id, WINDOW_UPDATE delta */
    const uint8_t *data; /* data frame payload: points into the parsed input */
    size_t len;
    struct spdy_header headers[SPDY_MAX_HEADERS]; /* SYN_STREAM, SYN_REPLY, HEADERS */
    size_t n_headers;
};

struct spdy_session;

struct spdy_session *spdy_session_new(void);
void spdy_session_free(struct spdy_session *s);

/* Parses the next frame from buf[0..len). 1: a frame is in *f and *used
 * bytes were taken (call spdy_frame_fini); 0: more bytes are needed;
 * -1: protocol error (err says what), the session cannot go on. Unknown
 * control frame types come back with their type for the caller to skip. */
int spdy_parse(struct spdy_session *s, const uint8_t *buf, size_t len, size_t *used,
               struct spdy_frame *f, struct k3c_err *err);
void spdy_frame_fini(struct spdy_frame *f);
/* The value of header name (case-insensitive), NULL if absent. */
const char *spdy_header_get(const struct spdy_frame *f, const char *name);

/* Writers: append one frame to out. */
void spdy_write_syn_reply(struct spdy_session *s, struct k3c_buf *out, uint32_t stream_id,
                          bool fin);
void spdy_write_data(struct k3c_buf *out, uint32_t stream_id, const void *data, size_t len,
                     bool fin);
void spdy_write_rst(struct k3c_buf *out, uint32_t stream_id, uint32_t status);
void spdy_write_ping(struct k3c_buf *out, uint32_t id);
void spdy_write_goaway(struct k3c_buf *out, uint32_t last_good, uint32_t status);
/* SYN_STREAM with headers (for tests and a client side). */
void spdy_write_syn_stream(struct spdy_session *s, struct k3c_buf *out, uint32_t stream_id,
                           const struct spdy_header *headers, size_t n, bool fin);

#endif
