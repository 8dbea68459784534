/* SPDX-License-Identifier: Apache-2.0
 * dns_msg.c - DNS wire format (RFC 1035 §4, RFC 6891): query parsing, name
 * reading with compression pointers, a response builder that compresses
 * names, and a record walker for upstream answers. Any pod can send these
 * bytes: every read is bounds-checked (tests/fuzz/fuzz_dns_msg.c). */
#include "dns/dns.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static uint16_t
rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int
dns_name_read(const uint8_t *msg, size_t len, size_t *off, struct dns_name *out)
{
    size_t pos = *off, end = 0;
    int jumps = 0;

    out->len = 0;
    out->n_labels = 0;
    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++jumps > 64)
                return -1;
            if (!end)
                end = pos + 2;
            size_t to = (size_t)(l & 0x3F) << 8 | msg[pos + 1];
            if (to >= pos) /* only backward pointers: no loops */
                return -1;
            pos = to;
            continue;
        }
        if (l & 0xC0) /* 0x40/0x80: extended label types, unsupported */
            return -1;
        if (l == 0) {
            if (out->len + 1 > DNS_NAME_MAX)
                return -1;
            out->wire[out->len++] = 0;
            *off = end ? end : pos + 1;
            return 0;
        }
        if (pos + 1 + l > len || out->len + 1 + l + 1 > DNS_NAME_MAX || out->n_labels >= 127)
            return -1;
        out->label_off[out->n_labels++] = out->len;
        memcpy(out->wire + out->len, msg + pos, 1 + (size_t)l);
        out->len += 1 + l;
        pos += 1 + l;
    }
}

int
dns_name_from_str(struct dns_name *out, const char *s)
{
    size_t n = strlen(s);

    out->len = 0;
    out->n_labels = 0;
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || (n == 1 && s[0] == '.')) {
        out->wire[out->len++] = 0;
        return 0;
    }
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '.')
            j++;
        size_t l = j - i;
        if (l == 0 || l > 63 || out->len + 1 + l + 1 > DNS_NAME_MAX || out->n_labels >= 127)
            return -1;
        out->label_off[out->n_labels++] = out->len;
        out->wire[out->len++] = (uint8_t)l;
        memcpy(out->wire + out->len, s + i, l);
        out->len += (uint8_t)l;
        i = j + 1;
    }
    out->wire[out->len++] = 0;
    return 0;
}

void
dns_name_to_str(const struct dns_name *n, char *buf, size_t cap)
{
    size_t o = 0;

    if (cap == 0)
        return;
    buf[0] = 0;
    if (n->n_labels == 0) {
        snprintf(buf, cap, ".");
        return;
    }
    for (int i = 0; i < n->n_labels; i++) {
        const uint8_t *l = n->wire + n->label_off[i];
        if (i && o + 1 < cap)
            buf[o++] = '.';
        for (int k = 1; k <= l[0]; k++) {
            unsigned char c = l[k];
            if (isalnum(c) || c == '-' || c == '_') {
                if (o + 1 < cap)
                    buf[o++] = (char)c;
            } else if (o + 4 < cap) {
                o += (size_t)snprintf(buf + o, cap - o, "\\%03u", c);
            }
        }
    }
    buf[o < cap ? o : cap - 1] = 0;
}

bool
dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (tolower(a->wire[i]) != tolower(b->wire[i]))
            return false;
    return true;
}

/* Skips a resource record at *off; fills its fixed fields. */
static int
rr_read(const uint8_t *msg, size_t len, size_t *off, uint16_t *type, size_t *ttl_off,
        size_t *rdata_off, uint16_t *rdlen)
{
    struct dns_name n;

    if (dns_name_read(msg, len, off, &n) < 0 || *off + 10 > len)
        return -1;
    *type = rd16(msg + *off);
    *ttl_off = *off + 4;
    *rdlen = rd16(msg + *off + 8);
    *rdata_off = *off + 10;
    if (*rdata_off + *rdlen > len)
        return -1;
    *off = *rdata_off + *rdlen;
    return 0;
}

int
dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
    memset(q, 0, sizeof(*q));
    if (len < DNS_HEADER_LEN)
        return -1;
    q->id = rd16(msg);
    q->flags = rd16(msg + 2);
    q->udp_max = DNS_UDP_MIN;
    if (q->flags & 0x8000) /* a response: never answer it (reflection loops) */
        return -1;
    if (((q->flags >> 11) & 0xF) != 0)
        return DNS_RCODE_NOTIMP;
    uint16_t qd = rd16(msg + 4), an = rd16(msg + 6), ns = rd16(msg + 8), ar = rd16(msg + 10);
    if (qd != 1)
        return DNS_RCODE_FORMERR;
    size_t off = DNS_HEADER_LEN;
    if (dns_name_read(msg, len, &off, &q->qname) < 0 || off + 4 > len)
        return DNS_RCODE_FORMERR;
    q->qtype = rd16(msg + off);
    q->qclass = rd16(msg + off + 2);
    off += 4;
    q->question_end = off;
    /* EDNS0: the OPT record in the additional section (RFC 6891 §6.1.1). */
    for (unsigned i = 0; i < (unsigned)an + ns + ar; i++) {
        uint16_t type, rdlen;
        size_t ttl_off, rdata_off, owner = off;
        if (rr_read(msg, len, &off, &type, &ttl_off, &rdata_off, &rdlen) < 0)
            return DNS_RCODE_FORMERR;
        if (type != DNS_TYPE_OPT)
            continue;
        if (i < (unsigned)an + ns || q->has_edns || msg[owner] != 0)
            return DNS_RCODE_FORMERR;
        q->has_edns = true;
        uint16_t size = rd16(msg + ttl_off - 2);
        q->udp_max = size < DNS_UDP_MIN ? DNS_UDP_MIN : size;
        if (q->udp_max > DNS_EDNS_UDP_MAX)
            q->udp_max = DNS_EDNS_UDP_MAX;
        q->edns_do = (msg[ttl_off + 2] & 0x80) != 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Builder. */

static bool
room(struct dns_builder *b, size_t n)
{
    if (b->overflow || b->len + n > b->cap) {
        b->overflow = true;
        return false;
    }
    return true;
}

/* Compares the wire name at msg offset o (possibly compressed) with the
 * label sequence of n starting at label i. */
static bool
wire_suffix_equal(const uint8_t *msg, size_t msg_len, size_t o, const struct dns_name *n, int i)
{
    struct dns_name w;
    size_t off = o;

    if (dns_name_read(msg, msg_len, &off, &w) < 0)
        return false;
    size_t start = n->label_off[i], rest = n->len - start;
    if (w.len != rest)
        return false;
    for (size_t k = 0; k < rest; k++)
        if (tolower(w.wire[k]) != tolower(n->wire[start + k]))
            return false;
    return true;
}

static void
put_name(struct dns_builder *b, const struct dns_name *n)
{
    for (int i = 0; i < n->n_labels; i++) {
        for (int p = 0; p < b->n_ptrs; p++) {
            if (!wire_suffix_equal(b->buf, b->len, b->ptrs[p], n, i))
                continue;
            if (!room(b, 2))
                return;
            wr16(b->buf + b->len, (uint16_t)(0xC000 | b->ptrs[p]));
            b->len += 2;
            return;
        }
        const uint8_t *l = n->wire + n->label_off[i];
        if (!room(b, 1 + (size_t)l[0]))
            return;
        if (b->len < 0x3FFF && b->n_ptrs < (uint16_t)(sizeof(b->ptrs) / sizeof(b->ptrs[0])))
            b->ptrs[b->n_ptrs++] = (uint16_t)b->len;
        memcpy(b->buf + b->len, l, 1 + (size_t)l[0]);
        b->len += 1 + l[0];
    }
    if (room(b, 1))
        b->buf[b->len++] = 0;
}

void
dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap, const struct dns_query *q,
                 bool authoritative)
{
    memset(b, 0, sizeof(*b));
    b->buf = buf;
    b->cap = cap;
    if (!room(b, DNS_HEADER_LEN))
        return;
    memset(buf, 0, DNS_HEADER_LEN);
    wr16(buf, q->id);
    /* QR, opcode 0, AA, RD copied, RA */
    uint16_t flags = 0x8000 | (authoritative ? 0x0400 : 0) | (q->flags & 0x0100) | 0x0080;
    wr16(buf + 2, flags);
    b->len = DNS_HEADER_LEN;
    if (q->qname.len) {
        put_name(b, &q->qname);
        if (room(b, 4)) {
            wr16(b->buf + b->len, q->qtype);
            wr16(b->buf + b->len + 2, q->qclass);
            b->len += 4;
            b->count[3] = 1;
        }
    }
}

void
dns_builder_rcode(struct dns_builder *b, int rcode)
{
    if (b->cap >= 4)
        b->buf[3] = (uint8_t)((b->buf[3] & 0xF0) | (rcode & 0xF));
}

/* Owner, type, class IN, TTL and a placeholder rdlength; returns the
 * rdlength offset or 0. */
static size_t
rr_start(struct dns_builder *b, enum dns_section s, const struct dns_name *owner, uint16_t type,
         uint32_t ttl)
{
    put_name(b, owner);
    if (!room(b, 10))
        return 0;
    wr16(b->buf + b->len, type);
    wr16(b->buf + b->len + 2, DNS_CLASS_IN);
    wr32(b->buf + b->len + 4, ttl);
    b->len += 10;
    b->count[s]++;
    return b->len - 2;
}

static void
rr_end(struct dns_builder *b, size_t rdlen_off)
{
    if (!b->overflow && rdlen_off)
        wr16(b->buf + rdlen_off, (uint16_t)(b->len - rdlen_off - 2));
}

static void
rr_bytes(struct dns_builder *b, enum dns_section s, const struct dns_name *owner, uint16_t type,
         uint32_t ttl, const void *data, size_t n)
{
    size_t o = rr_start(b, s, owner, type, ttl);
    if (o && room(b, n)) {
        memcpy(b->buf + b->len, data, n);
        b->len += n;
    }
    rr_end(b, o);
}

void
dns_builder_a(struct dns_builder *b, enum dns_section s, const struct dns_name *owner, uint32_t ttl,
              const uint8_t addr[4])
{
    rr_bytes(b, s, owner, DNS_TYPE_A, ttl, addr, 4);
}

void
dns_builder_aaaa(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                 uint32_t ttl, const uint8_t addr[16])
{
    rr_bytes(b, s, owner, DNS_TYPE_AAAA, ttl, addr, 16);
}

void
dns_builder_name_rr(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                    uint16_t type, uint32_t ttl, const struct dns_name *target)
{
    size_t o = rr_start(b, s, owner, type, ttl);
    if (o)
        put_name(b, target);
    rr_end(b, o);
}

void
dns_builder_srv(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                uint32_t ttl, uint16_t prio, uint16_t weight, uint16_t port,
                const struct dns_name *target)
{
    size_t o = rr_start(b, s, owner, DNS_TYPE_SRV, ttl);
    if (o && room(b, 6)) {
        wr16(b->buf + b->len, prio);
        wr16(b->buf + b->len + 2, weight);
        wr16(b->buf + b->len + 4, port);
        b->len += 6;
        /* RFC 3597 §4: the SRV target is never compressed. */
        for (int i = 0; i < target->n_labels && !b->overflow; i++) {
            const uint8_t *l = target->wire + target->label_off[i];
            if (room(b, 1 + (size_t)l[0])) {
                memcpy(b->buf + b->len, l, 1 + (size_t)l[0]);
                b->len += 1 + l[0];
            }
        }
        if (room(b, 1))
            b->buf[b->len++] = 0;
    }
    rr_end(b, o);
}

void
dns_builder_txt(struct dns_builder *b, enum dns_section s, const struct dns_name *owner,
                uint32_t ttl, const char *text)
{
    size_t n = strlen(text);
    size_t o = rr_start(b, s, owner, DNS_TYPE_TXT, ttl);

    if (n > 255)
        n = 255;
    if (o && room(b, 1 + n)) {
        b->buf[b->len++] = (uint8_t)n;
        memcpy(b->buf + b->len, text, n);
        b->len += n;
    }
    rr_end(b, o);
}

void
dns_builder_soa(struct dns_builder *b, enum dns_section s, const struct dns_name *zone,
                uint32_t ttl, uint32_t serial, uint32_t minimum)
{
    /* As CoreDNS: ns.dns.<zone> hostmaster.<zone> serial 7200 1800 86400 5 */
    char zs[DNS_NAME_MAX * 4 + 1], tmp[sizeof(zs) + 16];
    struct dns_name mname, rname;

    dns_name_to_str(zone, zs, sizeof(zs));
    snprintf(tmp, sizeof(tmp), "ns.dns.%s", zs);
    if (dns_name_from_str(&mname, tmp) < 0)
        mname = *zone;
    snprintf(tmp, sizeof(tmp), "hostmaster.%s", zs);
    if (dns_name_from_str(&rname, tmp) < 0)
        rname = *zone;
    size_t o = rr_start(b, s, zone, DNS_TYPE_SOA, ttl);
    if (o) {
        put_name(b, &mname);
        put_name(b, &rname);
        if (room(b, 20)) {
            wr32(b->buf + b->len, serial);
            wr32(b->buf + b->len + 4, 7200);
            wr32(b->buf + b->len + 8, 1800);
            wr32(b->buf + b->len + 12, 86400);
            wr32(b->buf + b->len + 16, minimum);
            b->len += 20;
        }
    }
    rr_end(b, o);
}

void
dns_builder_opt(struct dns_builder *b, uint16_t udp_max)
{
    if (!room(b, 11))
        return;
    uint8_t *p = b->buf + b->len;
    p[0] = 0; /* root owner */
    wr16(p + 1, DNS_TYPE_OPT);
    wr16(p + 3, udp_max);
    wr32(p + 5, 0); /* extended rcode, version 0, flags */
    wr16(p + 9, 0);
    b->len += 11;
    b->count[DNS_SEC_ADDITIONAL]++;
}

size_t
dns_builder_finish(struct dns_builder *b)
{
    if (b->overflow)
        return 0;
    wr16(b->buf + 4, b->count[3]);
    wr16(b->buf + 6, b->count[DNS_SEC_ANSWER]);
    wr16(b->buf + 8, b->count[DNS_SEC_AUTHORITY]);
    wr16(b->buf + 10, b->count[DNS_SEC_ADDITIONAL]);
    return b->len;
}

size_t
dns_reply_error(const struct dns_query *q, int rcode, bool tc, uint8_t *out, size_t cap)
{
    struct dns_builder b;

    dns_builder_init(&b, out, cap, q, false);
    dns_builder_rcode(&b, rcode);
    if (tc)
        out[2] |= 0x02;
    if (q->has_edns)
        dns_builder_opt(&b, DNS_EDNS_UDP_MAX);
    return dns_builder_finish(&b);
}

int
dns_msg_walk(const uint8_t *msg, size_t len, dns_rr_fn fn, void *ud)
{
    struct dns_name n;
    size_t off = DNS_HEADER_LEN;

    if (len < DNS_HEADER_LEN)
        return -1;
    uint16_t qd = rd16(msg + 4), cnt[3] = {rd16(msg + 6), rd16(msg + 8), rd16(msg + 10)};
    for (unsigned i = 0; i < qd; i++) {
        if (dns_name_read(msg, len, &off, &n) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    for (int s = 0; s < 3; s++) {
        for (unsigned i = 0; i < cnt[s]; i++) {
            uint16_t type, rdlen;
            size_t ttl_off, rdata_off;
            if (rr_read(msg, len, &off, &type, &ttl_off, &rdata_off, &rdlen) < 0)
                return -1;
            if (type != DNS_TYPE_OPT && fn)
                fn(ud, (enum dns_section)s, type, ttl_off, msg, rdata_off, rdlen);
        }
    }
    return msg[3] & 0xF;
}

size_t
dns_query_encode(const struct dns_query *q, uint8_t *out, size_t cap)
{
    struct dns_builder b;

    dns_builder_init(&b, out, cap, q, false);
    if (b.overflow)
        return 0;
    wr16(out + 2, 0x0100); /* a query: RD only */
    if (q->has_edns) {
        dns_builder_opt(&b, DNS_EDNS_UDP_MAX);
        if (!b.overflow && q->edns_do)
            out[b.len - 4] |= 0x80; /* the DO bit: high bit of the OPT flags */
    }
    return dns_builder_finish(&b);
}

bool
dns_answer_is_cname(const uint8_t *resp, size_t len, struct dns_name *target, uint32_t *ttl)
{
    struct dns_name n;
    size_t off = DNS_HEADER_LEN;
    uint16_t type, rdlen;
    size_t ttl_off, rdata_off;

    if (len < DNS_HEADER_LEN || (resp[3] & 0xF) != 0 || rd16(resp + 4) != 1 || rd16(resp + 6) != 1)
        return false;
    if (dns_name_read(resp, len, &off, &n) < 0 || off + 4 > len)
        return false;
    off += 4;
    if (rr_read(resp, len, &off, &type, &ttl_off, &rdata_off, &rdlen) < 0 || type != DNS_TYPE_CNAME)
        return false;
    size_t t = rdata_off;
    if (dns_name_read(resp, rdata_off + rdlen, &t, target) < 0)
        return false;
    *ttl = (uint32_t)resp[ttl_off] << 24 | (uint32_t)resp[ttl_off + 1] << 16 |
           (uint32_t)resp[ttl_off + 2] << 8 | resp[ttl_off + 3];
    return true;
}

size_t
dns_reply_cname_chain(const struct dns_query *q, const struct dns_name *target, uint32_t ttl,
                      const uint8_t *resp, size_t resp_len, uint8_t *out, size_t cap)
{
    struct dns_builder b;
    struct dns_name n;
    size_t off = DNS_HEADER_LEN;

    if (resp_len < DNS_HEADER_LEN || rd16(resp + 4) != 1)
        return 0;
    if (dns_name_read(resp, resp_len, &off, &n) < 0 || off + 4 > resp_len)
        return 0;
    off += 4;
    dns_builder_init(&b, out, cap, q, true);
    dns_builder_name_rr(&b, DNS_SEC_ANSWER, &q->qname, DNS_TYPE_CNAME, ttl, target);
    for (unsigned i = 0, an = rd16(resp + 6); i < an; i++) {
        struct dns_name owner, rname;
        uint16_t type, rdlen;
        size_t ttl_off, rdata_off, o = off;
        if (dns_name_read(resp, resp_len, &o, &owner) < 0 ||
            rr_read(resp, resp_len, &off, &type, &ttl_off, &rdata_off, &rdlen) < 0)
            return 0;
        uint32_t t = (uint32_t)resp[ttl_off] << 24 | (uint32_t)resp[ttl_off + 1] << 16 |
                     (uint32_t)resp[ttl_off + 2] << 8 | resp[ttl_off + 3];
        size_t r = rdata_off;
        if (type == DNS_TYPE_A && rdlen == 4)
            dns_builder_a(&b, DNS_SEC_ANSWER, &owner, t, resp + rdata_off);
        else if (type == DNS_TYPE_AAAA && rdlen == 16)
            dns_builder_aaaa(&b, DNS_SEC_ANSWER, &owner, t, resp + rdata_off);
        else if (type == DNS_TYPE_CNAME && dns_name_read(resp, rdata_off + rdlen, &r, &rname) == 0)
            dns_builder_name_rr(&b, DNS_SEC_ANSWER, &owner, DNS_TYPE_CNAME, t, &rname);
    }
    if (q->has_edns)
        dns_builder_opt(&b, DNS_EDNS_UDP_MAX);
    return dns_builder_finish(&b);
}
