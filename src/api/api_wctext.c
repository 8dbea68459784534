/* SPDX-License-Identifier: Apache-2.0
 * api_wctext.c - compressed object texts for the watch cache.
 *
 * The cache keeps every object's JSON (most of the API server's memory: a
 * pod with its managedFields is ~4 KB). Objects of one resource share most
 * of their bytes (field names, defaults, managedFields of one controller),
 * which a zstd dictionary trained on them captures: a pod packs to a few
 * hundred bytes. Decompression (~1 GB/s) happens on every read that needs
 * the text; it writes straight into the reply's buffer.
 *
 * Contexts: compression and decompression contexts come from small pools
 * (any thread may read; the writer of each cache packs), so an idle server
 * keeps at most a few. */
#define LOG_COMPONENT "watchcache"
#include "api/api-wctext.h"
#include "base/log.h"
#include "base/util.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

/* Texts shorter than these stay as they are: a frame has ~10 bytes of
 * header, and without a dictionary short texts do not compress. */
#define WC_PACK_MIN_DICT  64
#define WC_PACK_MIN_PLAIN 1024
/* Level 1: with a dictionary it packed pods as small as level 3 did, and
 * its dictionary tables are 64 KB where level 3's are 424 KB (each trained
 * resource keeps one). */
#define WC_PACK_LEVEL 1
/* Dictionary size: objects are a few KB, and most of what repeats between
 * them fits. Bigger dictionaries packed pods barely smaller. */
#define WC_DICT_CAPACITY (16 * 1024)
#define WC_POOL_MAX      8
#define WC_SCRATCH_KEEP  (64 * 1024)

struct wc_dict {
    int refs; /* atomic */
    size_t size;
    ZSTD_CDict *cdict; /* freed when a newer dictionary takes over */
    ZSTD_DDict *ddict;
};

struct wc_packer {
    struct wc_dict *dict; /* a ref, or NULL before the first training */
    /* Where frames are compressed before they are copied out at their
     * size: a frame's bound is the text's size, and a block that large
     * shrunk in place would leave a hole for each entry. */
    unsigned char *scratch;
    size_t scratch_cap;
    size_t packs;    /* texts worth compressing packed since the last training */
    size_t train_at; /* packs at which the next training is due */
    unsigned trainings;
};

/* ---- context pools ------------------------------------------------------ */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static ZSTD_DCtx *dpool[WC_POOL_MAX];
static ZSTD_CCtx *cpool[WC_POOL_MAX];
static size_t n_dpool, n_cpool;

static ZSTD_DCtx *
dctx_get(void)
{
    ZSTD_DCtx *d = NULL;

    pthread_mutex_lock(&pool_mu);
    if (n_dpool > 0)
        d = dpool[--n_dpool];
    pthread_mutex_unlock(&pool_mu);
    return d ? d : ZSTD_createDCtx(); /* NULL: out of memory */
}

static void
dctx_put(ZSTD_DCtx *d)
{
    if (!d)
        return;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    pthread_mutex_lock(&pool_mu);
    if (n_dpool < WC_POOL_MAX) {
        dpool[n_dpool++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    ZSTD_freeDCtx(d);
}

static ZSTD_CCtx *
cctx_get(void)
{
    ZSTD_CCtx *c = NULL;

    pthread_mutex_lock(&pool_mu);
    if (n_cpool > 0)
        c = cpool[--n_cpool];
    pthread_mutex_unlock(&pool_mu);
    return c ? c : ZSTD_createCCtx(); /* NULL: out of memory */
}

static void
cctx_put(ZSTD_CCtx *c)
{
    if (!c)
        return;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    pthread_mutex_lock(&pool_mu);
    if (n_cpool < WC_POOL_MAX) {
        cpool[n_cpool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    ZSTD_freeCCtx(c);
}

/* ---- dictionaries ------------------------------------------------------- */

static struct wc_dict *
dict_ref(struct wc_dict *d)
{
    if (d)
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
    return d;
}

static void
dict_unref(struct wc_dict *d)
{
    if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    ZSTD_freeCDict(d->cdict);
    ZSTD_freeDDict(d->ddict);
    free(d);
}

/* A dictionary over content (freed here: zstd copies it). NULL if zstd
 * rejects it. zstd's
 * stable API only: a CDict made without a source size is sized for small
 * inputs (zstd assumes 513 bytes), which is what the cache packs. */
static struct wc_dict *
dict_new(void *content, size_t size)
{
    struct wc_dict *d = k3c_xcalloc(1, sizeof(*d));

    d->refs = 1;
    d->size = size;
    d->cdict = ZSTD_createCDict(content, size, WC_PACK_LEVEL);
    d->ddict = ZSTD_createDDict(content, size);
    free(content);
    if (!d->cdict || !d->ddict) {
        dict_unref(d);
        return NULL;
    }
    return d;
}

/* ---- packing ------------------------------------------------------------ */

struct wc_packer *
wc_packer_new(void)
{
    struct wc_packer *p = k3c_xcalloc(1, sizeof(*p));

    p->train_at = WC_TRAIN_FIRST;
    return p;
}

void
wc_packer_free(struct wc_packer *p)
{
    if (!p)
        return;
    dict_unref(p->dict);
    free(p->scratch);
    free(p);
}

static void
text_plain(const char *text, size_t len, struct wc_text *out)
{
    out->kind = WC_TEXT_PLAIN;
    out->data = k3c_xmalloc(len + 1);
    memcpy(out->data, text, len);
    out->data[len] = '\0';
    out->len = (uint32_t)len;
}

/* The frame for text, or 0 if zstd failed or it would not be smaller. */
static size_t
text_compress(struct wc_packer *p, const char *text, size_t len, unsigned char *dst, size_t cap)
{
    ZSTD_CCtx *c = cctx_get();
    size_t n;

    if (!c)
        return 0;
    /* The dictionary is known from the entry: its ID in every frame would
     * be 4 bytes for nothing. The checksum makes a damaged frame an error
     * rather than wrong bytes. */
    ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    if (p->dict)
        ZSTD_CCtx_refCDict(c, p->dict->cdict);
    else
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, WC_PACK_LEVEL);
    n = ZSTD_compress2(c, dst, cap, text, len);
    cctx_put(c);
    return ZSTD_isError(n) || n >= len ? 0 : n;
}

void
wc_text_pack(struct wc_packer *p, const char *text, size_t len, struct wc_text *out)
{
    size_t cap = ZSTD_compressBound(len), n;

    memset(out, 0, sizeof(*out));
    out->text_len = (uint32_t)len;
    if (len < (p->dict ? WC_PACK_MIN_DICT : WC_PACK_MIN_PLAIN) || len > UINT32_MAX / 2) {
        if (len >= WC_PACK_MIN_DICT)
            p->packs++;
        text_plain(text, len, out);
        return;
    }
    p->packs++;
    if (cap > p->scratch_cap) {
        free(p->scratch);
        p->scratch = k3c_xmalloc(cap);
        p->scratch_cap = cap;
    }
    n = text_compress(p, text, len, p->scratch, cap);
    if (n == 0) {
        text_plain(text, len, out);
    } else {
        out->kind = WC_TEXT_ZSTD;
        out->data = k3c_xmalloc(n);
        memcpy(out->data, p->scratch, n);
        out->len = (uint32_t)n;
        out->dict = dict_ref(p->dict);
    }
    /* An odd huge object does not pin its buffer. */
    if (p->scratch_cap > WC_SCRATCH_KEEP) {
        free(p->scratch);
        p->scratch = NULL;
        p->scratch_cap = 0;
    }
}

void
wc_text_move_into(struct wc_text *dst, struct wc_text *src, void *at)
{
    *dst = *src;
    if (src->len)
        memcpy(at, src->data, src->len);
    dst->data = at;
    dst->borrowed = true;
    if (!src->borrowed)
        free(src->data);
    memset(src, 0, sizeof(*src));
}

void
wc_text_fini(struct wc_text *t)
{
    if (!t->borrowed)
        free(t->data);
    dict_unref(t->dict);
    memset(t, 0, sizeof(*t));
}

/* ---- reading ------------------------------------------------------------ */

static int
text_corrupt(struct k3c_err *err, const struct wc_text *t, const char *why)
{
    return k3c_err_set(err, K3C_E_INTERNAL,
                       "watch cache: stored object text is corrupt (%u bytes packed, %u expected "
                       "unpacked): %s",
                       t->len, t->text_len, why);
}

/* The first upto bytes of the frame into dst (streaming: stops early). */
static size_t
frame_read_prefix(ZSTD_DCtx *d, const struct wc_text *t, char *dst, size_t upto)
{
    ZSTD_inBuffer in = {t->data, t->len, 0};
    ZSTD_outBuffer o = {dst, upto, 0};

    if (t->dict)
        ZSTD_DCtx_refDDict(d, t->dict->ddict);
    while (o.pos < upto) {
        size_t r = ZSTD_decompressStream(d, &o, &in);

        if (ZSTD_isError(r))
            return r;
        if (r == 0 || (in.pos == in.size && o.pos < o.size))
            break;
    }
    return o.pos;
}

int
wc_text_read(const struct wc_text *t, size_t upto, struct k3c_buf *out, struct k3c_err *err)
{
    size_t want = upto < t->text_len ? upto : t->text_len, start = out->len, n;
    ZSTD_DCtx *d;
    char *dst;

    if (t->kind == WC_TEXT_PLAIN) {
        k3c_buf_append(out, t->data, want);
        return 0;
    }
    if (!t->data || t->len == 0)
        return text_corrupt(err, t, "no data");
    d = dctx_get();
    if (!d)
        return k3c_err_set(err, K3C_E_INTERNAL, "watch cache: out of memory (zstd context)");
    dst = k3c_buf_extend(out, want);
    if (want == t->text_len)
        n = t->dict ? ZSTD_decompress_usingDDict(d, dst, want, t->data, t->len, t->dict->ddict)
                    : ZSTD_decompressDCtx(d, dst, want, t->data, t->len);
    else
        n = frame_read_prefix(d, t, dst, want);
    dctx_put(d);
    if (ZSTD_isError(n) || n != want) {
        out->len = start;
        out->data[start] = '\0';
        return text_corrupt(err, t, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short data");
    }
    return 0;
}

/* ---- training ----------------------------------------------------------- */

bool
wc_packer_train_due(const struct wc_packer *p)
{
    return p->packs >= p->train_at;
}

void
wc_packer_defer(struct wc_packer *p)
{
    p->packs = 0;
}

unsigned
wc_packer_trainings(const struct wc_packer *p)
{
    return p->trainings;
}

size_t
wc_packer_dict_size(const struct wc_packer *p)
{
    return p->dict ? p->dict->size : 0;
}

/* The samples' last bytes as a raw-content dictionary (zstd's fallback for
 * sample sets it cannot train on: the most recent objects, verbatim). */
static void *
dict_raw_content(const char *samples, const size_t *sizes, size_t n, size_t *size)
{
    size_t total = 0, take;
    void *content;

    for (size_t i = 0; i < n; i++)
        total += sizes[i];
    take = total < WC_DICT_CAPACITY ? total : WC_DICT_CAPACITY;
    if (take < 8)
        return NULL;
    content = k3c_xmalloc(take);
    memcpy(content, samples + total - take, take);
    *size = take;
    return content;
}

int
wc_packer_train(struct wc_packer *p, const char *samples, const size_t *sizes, size_t n,
                struct k3c_err *err)
{
    void *content = k3c_xmalloc(WC_DICT_CAPACITY);
    size_t size = ZDICT_trainFromBuffer(content, WC_DICT_CAPACITY, samples, sizes, (unsigned)n);
    struct wc_dict *d;

    p->packs = 0;
    if (p->train_at < WC_TRAIN_MAX)
        p->train_at *= 4;
    if (ZDICT_isError(size)) {
        free(content);
        content = dict_raw_content(samples, sizes, n, &size);
        if (!content)
            return k3c_err_set(err, K3C_E_INVALID, "no samples to train a dictionary on");
    } else {
        content = k3c_xrealloc(content, size);
    }
    d = dict_new(content, size);
    if (!d)
        return k3c_err_set(err, K3C_E_INTERNAL, "zstd rejected a %zu-byte dictionary", size);
    /* The old one stays with the texts packed with it; it packs no more. */
    if (p->dict) {
        ZSTD_freeCDict(p->dict->cdict);
        p->dict->cdict = NULL;
    }
    dict_unref(p->dict);
    p->dict = d;
    p->trainings++;
    return 0;
}
