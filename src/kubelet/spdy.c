/* SPDX-License-Identifier: Apache-2.0
 * spdy.c - SPDY/3.1 frames (draft-mbelshe-httpbis-spdy-00 with the 3.1
 * session window, which we neither send nor enforce): the 8-byte frame
 * header, the control frames Kubernetes' streams use, and header blocks
 * (a count, then length-prefixed names and values, zlib-compressed with
 * the spec's dictionary and a sync flush after each block). */
#include "kubelet/spdy.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define SPDY_VERSION     3
#define SPDY_HEAD        8
#define SPDY_MAX_CONTROL (256u * 1024)

struct spdy_session {
    z_stream in, out;
    bool in_ok, out_ok;
    unsigned char *dict;
    size_t dict_len;
};

/* The SPDY/3 header dictionary (spec section 2.6.10.1): these words, each
 * with a 4-byte big-endian length in front, then the tail as it is. */
static const char *const dict_words[] = {"options",
                                         "head",
                                         "post",
                                         "put",
                                         "delete",
                                         "trace",
                                         "accept",
                                         "accept-charset",
                                         "accept-encoding",
                                         "accept-language",
                                         "accept-ranges",
                                         "age",
                                         "allow",
                                         "authorization",
                                         "cache-control",
                                         "connection",
                                         "content-base",
                                         "content-encoding",
                                         "content-language",
                                         "content-length",
                                         "content-location",
                                         "content-md5",
                                         "content-range",
                                         "content-type",
                                         "date",
                                         "etag",
                                         "expect",
                                         "expires",
                                         "from",
                                         "host",
                                         "if-match",
                                         "if-modified-since",
                                         "if-none-match",
                                         "if-range",
                                         "if-unmodified-since",
                                         "last-modified",
                                         "location",
                                         "max-forwards",
                                         "pragma",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "range",
                                         "referer",
                                         "retry-after",
                                         "server",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "user-agent",
                                         "vary",
                                         "via",
                                         "warning",
                                         "www-authenticate",
                                         "method",
                                         "get",
                                         "status",
                                         "200 OK",
                                         "version",
                                         "HTTP/1.1",
                                         "url",
                                         "public",
                                         "set-cookie",
                                         "keep-alive",
                                         "origin"};
static const char dict_tail[] =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
    "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,"
    "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
build_dict(struct spdy_session *s)
{
    size_t n = sizeof(dict_tail) - 1, off = 0;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(dict_words); i++)
        n += 4 + strlen(dict_words[i]);
    s->dict = k3c_xmalloc(n);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(dict_words); i++) {
        size_t w = strlen(dict_words[i]);

        put32(s->dict + off, (uint32_t)w);
        memcpy(s->dict + off + 4, dict_words[i], w);
        off += 4 + w;
    }
    memcpy(s->dict + off, dict_tail, sizeof(dict_tail) - 1);
    s->dict_len = n;
}

struct spdy_session *
spdy_session_new(void)
{
    struct spdy_session *s = k3c_xcalloc(1, sizeof(*s));

    build_dict(s);
    s->in_ok = inflateInit(&s->in) == Z_OK;
    s->out_ok = deflateInit(&s->out, Z_DEFAULT_COMPRESSION) == Z_OK &&
                deflateSetDictionary(&s->out, s->dict, (uInt)s->dict_len) == Z_OK;
    return s;
}

void
spdy_session_free(struct spdy_session *s)
{
    if (!s)
        return;
    inflateEnd(&s->in);
    deflateEnd(&s->out);
    free(s->dict);
    free(s);
}

void
spdy_frame_fini(struct spdy_frame *f)
{
    for (size_t i = 0; i < f->n_headers; i++) {
        free(f->headers[i].name);
        free(f->headers[i].value);
    }
    f->n_headers = 0;
}

const char *
spdy_header_get(const struct spdy_frame *f, const char *name)
{
    for (size_t i = 0; i < f->n_headers; i++)
        if (strcasecmp(f->headers[i].name, name) == 0)
            return f->headers[i].value;
    return NULL;
}

/* ---- header blocks ------------------------------------------------------- */

/* Inflates one block (the session's stream goes on across blocks). */
static int
inflate_block(struct spdy_session *s, const uint8_t *in, size_t len, struct k3c_buf *out,
              struct k3c_err *err)
{
    uint8_t chunk[4096];

    if (!s->in_ok)
        return k3c_err_set(err, K3C_E_INTERNAL, "zlib inflate not initialised");
    s->in.next_in = (Bytef *)in;
    s->in.avail_in = (uInt)len;
    while (s->in.avail_in > 0) {
        int rc;

        s->in.next_out = chunk;
        s->in.avail_out = sizeof(chunk);
        rc = inflate(&s->in, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            if (inflateSetDictionary(&s->in, s->dict, (uInt)s->dict_len) != Z_OK)
                return k3c_err_set(err, K3C_E_INVALID, "header block: wrong zlib dictionary");
            rc = inflate(&s->in, Z_SYNC_FLUSH);
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return k3c_err_set(err, K3C_E_INVALID, "header block: zlib error %d", rc);
        k3c_buf_append(out, chunk, sizeof(chunk) - s->in.avail_out);
        if (out->len > SPDY_MAX_HEADER_BYTES)
            return k3c_err_set(err, K3C_E_INVALID, "header block longer than %u bytes",
                               SPDY_MAX_HEADER_BYTES);
        if (rc == Z_BUF_ERROR && s->in.avail_out != 0)
            break; /* no progress possible */
    }
    return 0;
}

static char *
take_string(const uint8_t **p, const uint8_t *end, bool lower)
{
    uint32_t n;
    char *str;

    if (end - *p < 4)
        return NULL;
    n = get32(*p);
    *p += 4;
    if ((size_t)(end - *p) < n)
        return NULL;
    str = k3c_xmalloc((size_t)n + 1);
    for (uint32_t i = 0; i < n; i++) {
        char c = (char)(*p)[i];

        str[i] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    str[n] = '\0';
    *p += n;
    return str;
}

static int
parse_headers(struct spdy_session *s, const uint8_t *block, size_t len, struct spdy_frame *f,
              struct k3c_err *err)
{
    struct k3c_buf plain;
    const uint8_t *p, *end;
    uint32_t count;
    int rc = -1;

    k3c_buf_init(&plain);
    if (inflate_block(s, block, len, &plain, err) < 0)
        goto out;
    if (plain.len < 4) {
        k3c_err_set(err, K3C_E_INVALID, "header block without a count");
        goto out;
    }
    p = (const uint8_t *)plain.data;
    end = p + plain.len;
    count = get32(p);
    p += 4;
    if (count > SPDY_MAX_HEADERS) {
        k3c_err_set(err, K3C_E_INVALID, "%u headers (at most %d)", count, SPDY_MAX_HEADERS);
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        char *name = take_string(&p, end, true), *value = name ? take_string(&p, end, false) : NULL;

        if (!value) {
            free(name);
            k3c_err_set(err, K3C_E_INVALID, "header block truncated");
            goto out;
        }
        f->headers[f->n_headers++] = (struct spdy_header){.name = name, .value = value};
    }
    rc = 0;
out:
    k3c_buf_fini(&plain);
    return rc;
}

static void
deflate_block(struct spdy_session *s, const uint8_t *in, size_t len, struct k3c_buf *out)
{
    uint8_t chunk[4096];

    if (!s->out_ok)
        return;
    s->out.next_in = (Bytef *)in;
    s->out.avail_in = (uInt)len;
    do {
        s->out.next_out = chunk;
        s->out.avail_out = sizeof(chunk);
        deflate(&s->out, Z_SYNC_FLUSH);
        k3c_buf_append(out, chunk, sizeof(chunk) - s->out.avail_out);
    } while (s->out.avail_out == 0);
}

static void
append32(struct k3c_buf *b, uint32_t v)
{
    uint8_t p[4];

    put32(p, v);
    k3c_buf_append(b, p, 4);
}

static void
header_block(struct spdy_session *s, const struct spdy_header *h, size_t n, struct k3c_buf *out)
{
    struct k3c_buf plain;

    k3c_buf_init(&plain);
    append32(&plain, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        append32(&plain, (uint32_t)strlen(h[i].name));
        k3c_buf_append(&plain, h[i].name, strlen(h[i].name));
        append32(&plain, (uint32_t)strlen(h[i].value));
        k3c_buf_append(&plain, h[i].value, strlen(h[i].value));
    }
    deflate_block(s, (const uint8_t *)plain.data, plain.len, out);
    k3c_buf_fini(&plain);
}

/* ---- frames -------------------------------------------------------------- */

static int
parse_control(struct spdy_session *s, const uint8_t *p, size_t len, struct spdy_frame *f,
              struct k3c_err *err)
{
    switch (f->type) {
    case SPDY_SYN_STREAM:
        if (len < 10)
            return k3c_err_set(err, K3C_E_INVALID, "SYN_STREAM of %zu bytes", len);
        f->stream_id = get32(p) & 0x7fffffff;
        return parse_headers(s, p + 10, len - 10, f, err);
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
        if (len < 4)
            return k3c_err_set(err, K3C_E_INVALID, "SYN_REPLY/HEADERS of %zu bytes", len);
        f->stream_id = get32(p) & 0x7fffffff;
        return parse_headers(s, p + 4, len - 4, f, err);
    case SPDY_RST_STREAM:
    case SPDY_GOAWAY:
    case SPDY_WINDOW_UPDATE:
        if (len < 8)
            return k3c_err_set(err, K3C_E_INVALID, "control frame %d of %zu bytes", f->type, len);
        f->stream_id = get32(p) & 0x7fffffff;
        f->value = get32(p + 4);
        return 0;
    case SPDY_PING:
        if (len != 4)
            return k3c_err_set(err, K3C_E_INVALID, "PING of %zu bytes", len);
        f->value = get32(p);
        return 0;
    default:
        return 0; /* SETTINGS and unknown types: the caller skips them */
    }
}

int
spdy_parse(struct spdy_session *s, const uint8_t *buf, size_t len, size_t *used,
           struct spdy_frame *f, struct k3c_err *err)
{
    uint32_t flen;

    memset(f, 0, sizeof(*f));
    if (len < SPDY_HEAD)
        return 0;
    flen = (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    f->flags = buf[4];
    if (buf[0] & 0x80) {
        unsigned version = ((unsigned)(buf[0] & 0x7f) << 8) | buf[1];

        if (version != SPDY_VERSION)
            return k3c_err_set(err, K3C_E_INVALID, "SPDY version %u (want 3)", version);
        if (flen > SPDY_MAX_CONTROL)
            return k3c_err_set(err, K3C_E_INVALID, "control frame of %u bytes", flen);
        if (len < SPDY_HEAD + flen)
            return 0;
        f->type = (enum spdy_type)((unsigned)buf[2] << 8 | buf[3]);
        if (f->type == SPDY_DATA)
            return k3c_err_set(err, K3C_E_INVALID, "control frame of type 0");
        if (parse_control(s, buf + SPDY_HEAD, flen, f, err) < 0) {
            spdy_frame_fini(f);
            return -1;
        }
    } else {
        if (flen > SPDY_MAX_DATA)
            return k3c_err_set(err, K3C_E_INVALID, "data frame of %u bytes", flen);
        if (len < SPDY_HEAD + flen)
            return 0;
        f->type = SPDY_DATA;
        f->stream_id = get32(buf) & 0x7fffffff;
        f->data = buf + SPDY_HEAD;
        f->len = flen;
    }
    *used = SPDY_HEAD + flen;
    return 1;
}

static void
control_head(struct k3c_buf *out, enum spdy_type type, uint8_t flags, size_t len)
{
    uint8_t h[SPDY_HEAD] = {0x80, SPDY_VERSION, 0, (uint8_t)type, flags};

    h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
    k3c_buf_append(out, h, sizeof(h));
}

void
spdy_write_syn_reply(struct spdy_session *s, struct k3c_buf *out, uint32_t stream_id, bool fin)
{
    struct k3c_buf block;

    k3c_buf_init(&block);
    header_block(s, NULL, 0, &block);
    control_head(out, SPDY_SYN_REPLY, fin ? SPDY_FLAG_FIN : 0, 4 + block.len);
    append32(out, stream_id & 0x7fffffff);
    k3c_buf_append(out, block.data, block.len);
    k3c_buf_fini(&block);
}

void
spdy_write_syn_stream(struct spdy_session *s, struct k3c_buf *out, uint32_t stream_id,
                      const struct spdy_header *headers, size_t n, bool fin)
{
    struct k3c_buf block;
    uint8_t pri[2] = {0, 0};

    k3c_buf_init(&block);
    header_block(s, headers, n, &block);
    control_head(out, SPDY_SYN_STREAM, fin ? SPDY_FLAG_FIN : 0, 10 + block.len);
    append32(out, stream_id & 0x7fffffff);
    append32(out, 0);
    k3c_buf_append(out, pri, 2);
    k3c_buf_append(out, block.data, block.len);
    k3c_buf_fini(&block);
}

void
spdy_write_data(struct k3c_buf *out, uint32_t stream_id, const void *data, size_t len, bool fin)
{
    uint8_t h[SPDY_HEAD];

    put32(h, stream_id & 0x7fffffff);
    h[4] = fin ? SPDY_FLAG_FIN : 0;
    h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
    k3c_buf_append(out, h, sizeof(h));
    if (len)
        k3c_buf_append(out, data, len);
}

void
spdy_write_rst(struct k3c_buf *out, uint32_t stream_id, uint32_t status)
{
    control_head(out, SPDY_RST_STREAM, 0, 8);
    append32(out, stream_id & 0x7fffffff);
    append32(out, status);
}

void
spdy_write_ping(struct k3c_buf *out, uint32_t id)
{
    control_head(out, SPDY_PING, 0, 4);
    append32(out, id);
}

void
spdy_write_goaway(struct k3c_buf *out, uint32_t last_good, uint32_t status)
{
    control_head(out, SPDY_GOAWAY, 0, 8);
    append32(out, last_good & 0x7fffffff);
    append32(out, status);
}
