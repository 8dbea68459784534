/* SPDX-License-Identifier: Apache-2.0
 * api_watchcache.c - an in-memory mirror of one etcd prefix for the API
 * server's reads and watches: a key-sorted map of immutable, refcounted
 * entries plus a ring of recent events, fed by one store watch.
 * Writers are the store watch thread (events) and the relister (the relist
 * after a compaction); they never overlap: the relister stops the watch
 * before it relists and starts a new one after. Readers: any thread. */
#define LOG_COMPONENT "watchcache"
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Events kept for watchers that start in the past or fall behind. */
#ifndef WC_RING_CAPACITY
#define WC_RING_CAPACITY 1024
#endif
/* Page size of the (re)list; every page is read at the first page's revision. */
#define WC_LIST_PAGE 500
/* How long sync waits for the watch to deliver a write before it checks the
 * cache against a list (events are usually a millisecond behind etcd). */
#define WC_SYNC_GRACE_MS 10
/* How often sync re-reads etcd's revision while waiting for a future one. */
#define WC_SYNC_POLL_MS          100
#define WC_RELIST_BACKOFF_MIN_MS 100
#define WC_RELIST_BACKOFF_MAX_MS 5000
/* A dictionary is trained on up to this many of the cache's objects (spread
 * over the keys), and up to this many bytes of them. */
#define WC_TRAIN_SAMPLES 128
#define WC_TRAIN_BYTES   (1024 * 1024)
/* A dictionary (~110 KB with its tables) pays only over many objects; a
 * resource with a few, often written (leases), keeps packing without one. */
#define WC_TRAIN_MIN_OBJECTS 64

/* Offers waiting for their event, at most; the oldest goes first. An offer
 * whose write failed, or whose event came before it, is dropped after
 * WC_OFFER_TTL_MS (its event, if any, then parses the stored bytes, as
 * without an offer). */
#define WC_OFFERS_MAX   32
#define WC_OFFER_TTL_MS 10000

/* Metadata objects kept for the informers, at most (a few KB each). */
#define WC_METAS_MAX 64

/* {"metadata": ...} of entry e (a ref), resourceVersion included. */
struct wc_meta {
    struct wc_entry *e;
    json_t *obj;
};

/* What a write is storing at key, parsed and serialised already. */
struct wc_offer {
    char *key;
    json_t *obj; /* a ref; nobody changes it any more */
    char *json;  /* the stored bytes: obj without its resourceVersion */
    size_t len;
    size_t meta_off, meta_end; /* metadata's braces in json */
    int64_t at_ms;
};

/* A set of entries sorted by key; each holds one ref. */
struct entry_map {
    struct wc_entry **v;
    size_t n, cap;
};

/* Locking. map_lock (a writer-preferring rwlock) guards map and skipped; mu
 * guards everything from rev down, and `changed` is broadcast on each change
 * of it. Order: map_lock before mu. rev and map_seq are written with both
 * held, so holding either one is enough to read them; the writer thread
 * reads the map without a lock (nobody else writes it).
 *
 * Lifetime. The cache is reference counted: watch_cache_new's caller holds
 * one ref and each watcher one more. watch_cache_free stops both threads,
 * wakes every watcher (whose next call returns -1 with UNAVAILABLE) and drops
 * the caller's ref; the memory goes with the last wc_watcher_free, so the
 * two may be called in either order. After watch_cache_free only
 * wc_watcher_next and wc_watcher_free may be called. */
struct watch_cache {
    /* Immutable after watch_cache_new. */
    struct store *store;
    char *prefix;
    char **index_fields;
    size_t n_fields;
    api_row_fn row; /* NULL: entries keep no table row */
    atomic_int refs;
    /* Packs the entries' JSON. Used by the writer of the moment (the store
     * watch thread or the relister, never both). */
    struct wc_packer *packer;

    pthread_rwlock_t map_lock;
    struct entry_map map;     /* what readers see */
    struct entry_map skipped; /* keys whose value is not a JSON object (key and
                               * revision only), so sync can account for them */

    pthread_mutex_t mu;
    pthread_cond_t changed; /* CLOCK_MONOTONIC */
    int64_t rev;            /* the revision the map reflects (both locks) */
    uint64_t map_seq;       /* bumped on every change of the map (both locks) */
    /* Grows by doubling up to WC_RING_CAPACITY: most resources see a few
     * events, and 42 full-size rings were 1.3 MB of an idle server. */
    struct wc_event *ring;
    size_t ring_cap;
    uint64_t head_seq;     /* sequence number of the next event */
    size_t ring_len;       /* the ring holds [head_seq - ring_len, head_seq) */
    int64_t window_rev;    /* every event after this revision is in the ring */
    uint64_t gen;          /* bumped on each relist; closes older watchers */
    int64_t verified_rev;  /* sync found the map equal to etcd at this revision */
    uint64_t verified_seq; /* ...while map_seq was this (see synced_locked) */
    bool stopping;

    /* Owned by the relister while relist is RELIST_RUNNING, else by
     * watch_cache_new / watch_cache_free. */
    struct store_watch *watch;

    /* Objects the write path offered (watch_cache_offer), waiting for their
     * event, oldest first; guarded by offer_mu. */
    pthread_mutex_t offer_mu;
    struct wc_offer *offers;
    size_t n_offers;
    /* For the informers (watch_cache_keep_metadata): the metadata of the
     * last entries built from offers, oldest first; guarded by offer_mu. */
    atomic_bool keep_meta;
    struct wc_meta *metas;
    size_t n_metas;

    /* Guarded by relister.mu. */
    enum { RELIST_NONE, RELIST_QUEUED, RELIST_RUNNING } relist;
    bool relist_again;  /* the new watch ended while the relist ran */
    bool relist_closed; /* watch_cache_free has begun: queue no more */
    bool relist_logged; /* this outage's failure is logged */
    int64_t relist_due_ms, relist_backoff_ms;
    struct watch_cache *relist_next; /* in relister.queue */
};

/* Used by one thread at a time (the HTTP handler serving the watch). */
struct wc_watcher {
    struct watch_cache *wc; /* holds a ref */
    uint64_t cursor;        /* sequence number of the next event to read */
    int64_t min_rev;        /* events at or before this revision are skipped */
    uint64_t gen;
    struct k3c_err closed; /* kind != K3C_E_NONE once closed */
};

/* An entry and what its destructor needs to know. */
struct entry_box {
    struct wc_entry e;
    uint32_t n_fields;
    bool name_owned; /* e.name is its own string, not the end of e.key */
    bool compact;    /* one block: every string and the text follow the box */
};

/* ---- giving memory back -------------------------------------------------- */

/* Building an entry parses the stored object and serialises it again; the
 * transient trees and texts of a burst of writes (10,000 pod creates) end up
 * as free chunks between the entries, which glibc keeps (~9 MB after that
 * burst). After a MB of objects, one short-lived thread hands the free
 * pages back (malloc_trim, a few ms) once the writers have been quiet for a
 * moment, or after a while of constant writes. No thread while nothing is
 * due: an idle server keeps its thread count. */
#define WC_TRIM_AFTER_BYTES (1024 * 1024)
#define WC_TRIM_QUIET_MS    250
#define WC_TRIM_MAX_WAIT_MS 2000

static struct {
    atomic_size_t built;         /* bytes of objects built since the last trim */
    atomic_int_fast64_t last_ms; /* when the last one was built */
    atomic_bool running;
} trimmer;

/* Trims every WC_TRIM_MAX_WAIT_MS while the writes go on, and once more
 * when they stop (what the burst's tail left), then ends. */
static void *
trimmer_thread(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3600; round++) { /* bounded: 2 h of constant writes */
        int64_t until = k3c_now_ms() + WC_TRIM_MAX_WAIT_MS, quiet = 0;

        for (;;) {
            int64_t now = k3c_now_ms();

            quiet = now - atomic_load(&trimmer.last_ms);
            if (quiet >= WC_TRIM_QUIET_MS || now >= until)
                break;
            k3c_sleep_ms(WC_TRIM_QUIET_MS - quiet);
        }
        atomic_store(&trimmer.built, 0);
        malloc_trim(0);
        if (quiet >= WC_TRIM_QUIET_MS)
            break;
    }
    atomic_store(&trimmer.running, false);
    return NULL;
}

/* Thread: a cache's writer. */
static void
trim_note_built(size_t bytes)
{
    pthread_attr_t attr;
    pthread_t t;

    atomic_store(&trimmer.last_ms, k3c_now_ms());
    if (atomic_fetch_add(&trimmer.built, bytes) + bytes < WC_TRIM_AFTER_BYTES ||
        atomic_exchange(&trimmer.running, true))
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, trimmer_thread, NULL) != 0)
        atomic_store(&trimmer.running, false); /* the next entry tries again */
    pthread_attr_destroy(&attr);
}

/* ---- entries ----------------------------------------------------------- */

static void
entry_destroy(struct wc_entry *e)
{
    struct entry_box *box = (struct entry_box *)e;

    if (box->compact) {
        wc_text_fini(&e->text); /* its dictionary ref; the data is in the block */
        free(box);
        return;
    }
    if (box->name_owned)
        free(e->name);
    free(e->key);
    free(e->namespace);
    wc_text_fini(&e->text);
    free(e->row);
    free(e->labels);
    free(e->fields); /* one block with the strings */
    free(box);
}

struct wc_entry *
wc_entry_ref(struct wc_entry *e)
{
    if (e)
        __atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
    return e;
}

struct wc_entry *
wc_entry_unref(struct wc_entry *e)
{
    if (e && __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
        entry_destroy(e);
    return NULL;
}

int
wc_entry_json(const struct wc_entry *e, struct k3c_buf *out, struct k3c_err *err)
{
    if (wc_text_read(&e->text, SIZE_MAX, out, err) == 0)
        return 0;
    log_error("%s: %s", e->key, err->msg);
    return -1;
}

int
wc_entry_metadata(const struct wc_entry *e, struct k3c_buf *out, struct k3c_err *err)
{
    size_t start = out->len;

    if (wc_text_read(&e->text, e->meta_off + e->meta_len, out, err) < 0) {
        log_error("%s: %s", e->key, err->msg);
        return -1;
    }
    /* Keep metadata's value: drop what comes before it. */
    memmove(out->data + start, out->data + start + e->meta_off, e->meta_len);
    out->len = start + e->meta_len;
    out->data[out->len] = '\0';
    return 0;
}

char *
wc_entry_json_dup(const struct wc_entry *e, size_t *len)
{
    struct k3c_err err = {0};
    struct k3c_buf b;

    k3c_buf_init(&b);
    if (wc_entry_json(e, &b, &err) < 0) {
        k3c_buf_fini(&b);
        return NULL;
    }
    if (!b.data) /* an empty text */
        k3c_buf_append(&b, "", 0);
    return k3c_buf_steal(&b, len);
}

bool
wc_entry_json_has(const struct wc_entry *e, const char *needle)
{
    size_t len = 0;
    _cleanup_free_ char *text = wc_entry_json_dup(e, &len);

    /* A text we cannot read: say yes, so that the caller parses (and fails). */
    return !text || memmem(text, len, needle, strlen(needle)) != NULL;
}

json_t *
wc_entry_object(const struct wc_entry *e)
{
    size_t len = 0;
    _cleanup_free_ char *text = wc_entry_json_dup(e, &len);

    return text ? k3c_json_loadb(text, len, 0, NULL) : NULL;
}

/* The last segment of the key: the object's name by the /registry layout. */
static const char *
key_basename(const char *key)
{
    const char *slash = strrchr(key, '/');

    return slash ? slash + 1 : key;
}

const char *
wc_entry_label(const struct wc_entry *e, const char *key)
{
    const char *p = e->labels;

    for (size_t i = 0; i < e->n_labels; i++) {
        const char *v = p + strlen(p) + 1;

        if (strcmp(p, key) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

json_t *
wc_entry_labels(const struct wc_entry *e)
{
    const char *p = e->labels;
    json_t *o;

    if (!e->labels)
        return NULL;
    o = json_object();
    for (size_t i = 0; i < e->n_labels; i++) {
        const char *v = p + strlen(p) + 1;

        json_object_set_new(o, p, json_string(v));
        p = v + strlen(v) + 1;
    }
    return o;
}

/* metadata.labels packed into one block: "key\0value\0" per label. */
static void
entry_pack_labels(struct wc_entry *e, const json_t *labels)
{
    const char *k = NULL;
    json_t *v = NULL;
    struct k3c_buf b;

    if (!json_is_object(labels))
        return;
    k3c_buf_init(&b);
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : "";

        k3c_buf_append(&b, k, strlen(k) + 1);
        k3c_buf_append(&b, s, strlen(s) + 1);
        e->n_labels++;
    }
    /* An empty object still gets a block: labels present, none set. */
    e->labels = k3c_xmalloc(b.len + 1);
    memcpy(e->labels, b.data ? b.data : "", b.len + (b.data ? 0 : 1));
    k3c_buf_fini(&b);
}

/* The index fields' values packed into one block: the pointers, then the
 * strings they point at. */
static void
entry_pack_fields(const struct watch_cache *wc, struct wc_entry *e, const json_t *obj)
{
    const char *vals[wc->n_fields + 1];
    char bufs[wc->n_fields + 1][64];
    size_t bytes = wc->n_fields * sizeof(char *);
    char *w;

    for (size_t i = 0; i < wc->n_fields; i++) {
        vals[i] = api_json_path_string(obj, wc->index_fields[i], bufs[i], sizeof(bufs[i]));
        bytes += vals[i] ? strlen(vals[i]) + 1 : 0;
    }
    e->fields = k3c_xmalloc(bytes);
    w = (char *)(e->fields + wc->n_fields);
    for (size_t i = 0; i < wc->n_fields; i++) {
        e->fields[i] = vals[i] ? memcpy(w, vals[i], strlen(vals[i]) + 1) : NULL;
        w += vals[i] ? strlen(vals[i]) + 1 : 0;
    }
}

static void
entry_extract(const struct watch_cache *wc, struct wc_entry *e, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    char *base = (char *)key_basename(e->key);
    struct entry_box *box = (struct entry_box *)e;

    e->namespace = k3c_xstrdup(ns ? ns : "");
    /* The name is almost always the key's last segment: share it. */
    box->name_owned = name && strcmp(name, base) != 0;
    e->name = box->name_owned ? k3c_xstrdup(name) : base;
    entry_pack_labels(e, json_object_get(md, "labels"));
    if (wc->n_fields > 0)
        entry_pack_fields(wc, e, obj);
}

/* json_dumps(obj, JSON_COMPACT), member by member so that it can note where
 * metadata's value is (table rows splice it in). NULL on failure; the text
 * is the caller's. */
static char *
entry_serialise(struct wc_entry *e, const json_t *obj)
{
    const char *k = NULL;
    size_t k_len = 0;
    json_t *v = NULL;
    struct k3c_buf b;
    bool first = true;
    char *text;
    size_t len;

    k3c_buf_init(&b);
    k3c_buf_append(&b, "{", 1);
    json_object_keylen_foreach((json_t *)obj, k, k_len, v)
    {
        size_t at;

        if (!first)
            k3c_buf_append(&b, ",", 1);
        first = false;
        at = b.len + strlen("\"metadata\":"); /* where metadata's value would start */
        if (!api_json_dump_member(&b, k, k_len, v))
            goto fail;
        if (strcmp(k, "metadata") == 0) {
            e->meta_off = at;
            e->meta_len = b.len - at;
        }
    }
    k3c_buf_append(&b, "}", 1);
    if (b.len > UINT32_MAX / 2) /* far past etcd's limit: not an object we stored */
        goto fail;
    text = k3c_buf_steal(&b, &len);
    e->json_len = (uint32_t)len;
    return text;
fail:
    k3c_buf_fini(&b);
    return NULL;
}

/* The row's cells, unless a string of the object holds the character the
 * row markers use (then tables compute the row at read time). */
static void
entry_row(const struct watch_cache *wc, struct wc_entry *e, const json_t *obj, const char *json)
{
    char *row;
    size_t len = 0;

    if (!wc->row || memmem(json, e->json_len, "\\u0001", 6))
        return;
    row = api_table_row_template(wc->row, obj, &len);
    if (!row)
        return;
    e->row = k3c_xrealloc(row, len + 1);
    e->row_len = len;
}

static size_t
labels_size(const struct wc_entry *e)
{
    const char *p = e->labels;

    if (!p)
        return 0;
    for (size_t i = 0; i < 2 * e->n_labels; i++)
        p += strlen(p) + 1;
    /* An empty set is one NUL (entry_pack_labels). */
    return e->n_labels ? (size_t)(p - e->labels) : 1;
}

/* Copies len bytes to *w (advanced past them); returns where they went. */
static char *
block_put(char **w, const void *data, size_t len)
{
    char *at = *w;

    memcpy(at, data, len);
    *w += len;
    return at;
}

/* The entry as one allocation: the box, the index fields' pointers, then
 * the key, namespace, name, labels, field values, row and packed text. An
 * entry is built once and read many times; one block instead of eight
 * saves the allocator's overhead on each (~100 bytes an entry) and keeps
 * an object's bytes together. tmp is freed. */
static struct wc_entry *
entry_compact(struct wc_entry *tmp)
{
    struct entry_box *tbox = (struct entry_box *)tmp, *box;
    size_t nf = tbox->n_fields, key_len = strlen(tmp->key) + 1;
    size_t ns_len = strlen(tmp->namespace) + 1;
    size_t name_len = tbox->name_owned ? strlen(tmp->name) + 1 : 0;
    size_t lab_len = labels_size(tmp), fields_len = 0;
    size_t row_len = tmp->row ? tmp->row_len + 1 : 0;
    struct wc_entry *e;
    char *w;

    for (size_t i = 0; i < nf; i++)
        fields_len += tmp->fields[i] ? strlen(tmp->fields[i]) + 1 : 0;
    box = k3c_xmalloc(sizeof(*box) + nf * sizeof(char *) + key_len + ns_len + name_len + lab_len +
                      fields_len + row_len + tmp->text.len);
    *box = *tbox;
    box->compact = true;
    e = &box->e;
    w = (char *)(box + 1);
    e->fields = nf ? (char **)w : NULL;
    w += nf * sizeof(char *);
    e->key = block_put(&w, tmp->key, key_len);
    e->namespace = block_put(&w, tmp->namespace, ns_len);
    e->name = name_len ? block_put(&w, tmp->name, name_len) : (char *)key_basename(e->key);
    e->labels = lab_len ? block_put(&w, tmp->labels, lab_len) : NULL;
    for (size_t i = 0; i < nf; i++)
        e->fields[i] =
            tmp->fields[i] ? block_put(&w, tmp->fields[i], strlen(tmp->fields[i]) + 1) : NULL;
    e->row = row_len ? block_put(&w, tmp->row, row_len) : NULL;
    wc_text_move_into(&e->text, &tmp->text, w);
    entry_destroy(tmp);
    return e;
}

/* The rest of an entry whose box has its key, revision and the text json
 * (json_len, meta_off, meta_len): obj's index values, row and packed text.
 * json is freed. */
static struct wc_entry *
entry_finish(const struct watch_cache *wc, struct wc_entry *e, const json_t *obj, char *json)
{
    entry_extract(wc, e, obj);
    entry_row(wc, e, obj, json);
    wc_text_pack(wc->packer, json, e->json_len, &e->text);
    free(json);
    trim_note_built(e->json_len);
    return entry_compact(e);
}

static struct wc_entry *
entry_new(const struct watch_cache *wc, const char *key, int64_t rev)
{
    struct entry_box *box = k3c_xcalloc(1, sizeof(*box));

    box->n_fields = wc->n_fields;
    box->e.refs = 1;
    box->e.revision = rev;
    box->e.key = k3c_xstrdup(key);
    return &box->e;
}

/* Builds the entry for obj at key as of revision rev. obj is modified: its
 * metadata.resourceVersion becomes rev. NULL if it cannot be serialised. */
static struct wc_entry *
entry_build(const struct watch_cache *wc, const char *key, json_t *obj, int64_t rev)
{
    struct wc_entry *e = entry_new(wc, key, rev);
    json_t *md = json_object_get(obj, "metadata");
    char rv[24];
    char *json;

    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    json_object_set_new(md, "resourceVersion", json_string(rv));
    json = entry_serialise(e, obj);
    if (!json) {
        entry_destroy(e);
        return NULL;
    }
    return entry_finish(wc, e, obj, json);
}

/* Keeps {"metadata": e's metadata} for the informers: a shallow copy of the
 * offered object's metadata (its members shared, read-only) with the
 * revision, so an informer that reads only metadata needs no unpacking and
 * no parse. Thread: the store watch's. */
static void
meta_keep(struct watch_cache *wc, struct wc_entry *e, const json_t *obj, int64_t rev)
{
    json_t *md = json_copy(json_object_get(obj, "metadata"));
    char rv[24];
    struct wc_meta m;

    if (!md)
        return;
    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    json_object_set_new(md, "resourceVersion", json_string(rv));
    m = (struct wc_meta){wc_entry_ref(e), json_pack("{s:o}", "metadata", md)};
    pthread_mutex_lock(&wc->offer_mu);
    if (wc->n_metas == WC_METAS_MAX) {
        wc_entry_unref(wc->metas[0].e);
        json_decref(wc->metas[0].obj);
        memmove(&wc->metas[0], &wc->metas[1], (wc->n_metas - 1) * sizeof(*wc->metas));
        wc->n_metas--;
    }
    if (!wc->metas)
        wc->metas = k3c_xcalloc(WC_METAS_MAX, sizeof(*wc->metas));
    wc->metas[wc->n_metas++] = m;
    pthread_mutex_unlock(&wc->offer_mu);
}

void
watch_cache_keep_metadata(struct watch_cache *wc)
{
    atomic_store(&wc->keep_meta, true);
}

json_t *
watch_cache_entry_metadata(struct watch_cache *wc, const struct wc_entry *e)
{
    json_t *obj = NULL;

    pthread_mutex_lock(&wc->offer_mu);
    for (size_t i = wc->n_metas; i-- > 0 && !obj;)
        if (wc->metas[i].e == e)
            obj = json_incref(wc->metas[i].obj);
    pthread_mutex_unlock(&wc->offer_mu);
    return obj;
}

static void
metas_clear(struct watch_cache *wc)
{
    for (size_t i = 0; i < wc->n_metas; i++) {
        wc_entry_unref(wc->metas[i].e);
        json_decref(wc->metas[i].obj);
    }
    free(wc->metas);
    wc->metas = NULL;
    wc->n_metas = 0;
}

/* The entry from what the write path offered: no parse, no serialisation
 * (the text is the stored one with the revision put into metadata, what
 * entry_serialise makes of it). */
static struct wc_entry *
entry_from_offer(struct watch_cache *wc, struct wc_offer *o, int64_t rev)
{
    struct wc_entry *e = entry_new(wc, o->key, rev);
    size_t len = 0;
    char *json = api_object_text_with_version(o->json, o->len, o->meta_end, rev, &len);

    if (len > UINT32_MAX / 2) {
        free(json);
        entry_destroy(e);
        return NULL;
    }
    e->json_len = (uint32_t)len;
    e->meta_off = (uint32_t)o->meta_off;
    e->meta_len = (uint32_t)(o->meta_end + (len - o->len) + 1 - o->meta_off);
    e = entry_finish(wc, e, o->obj, json);
    if (e && atomic_load(&wc->keep_meta))
        meta_keep(wc, e, o->obj, rev);
    return e;
}

static void
offer_fini(struct wc_offer *o)
{
    free(o->key);
    free(o->json);
    json_decref(o->obj);
}

/* Drops the offers past their time (the first ones are the oldest). offer_mu held. */
static void
offers_expire_locked(struct watch_cache *wc, int64_t now)
{
    size_t n = 0;

    while (n < wc->n_offers &&
           (wc->n_offers - n > WC_OFFERS_MAX - 1 || now - wc->offers[n].at_ms > WC_OFFER_TTL_MS))
        offer_fini(&wc->offers[n++]);
    if (n == 0)
        return;
    memmove(&wc->offers[0], &wc->offers[n], (wc->n_offers - n) * sizeof(*wc->offers));
    wc->n_offers -= n;
}

void
watch_cache_offer(struct watch_cache *wc, const char *key, json_t *obj, const char *json,
                  size_t len, size_t meta_off, size_t meta_end)
{
    int64_t now = k3c_now_ms();

    if (!wc || meta_off >= meta_end || meta_end >= len)
        return;
    pthread_mutex_lock(&wc->offer_mu);
    offers_expire_locked(wc, now);
    if (!wc->offers)
        wc->offers = k3c_xcalloc(WC_OFFERS_MAX, sizeof(*wc->offers));
    wc->offers[wc->n_offers++] = (struct wc_offer){.key = k3c_xstrdup(key),
                                                   .obj = json_incref(obj),
                                                   .json = memcpy(k3c_xmalloc(len), json, len),
                                                   .len = len,
                                                   .meta_off = meta_off,
                                                   .meta_end = meta_end,
                                                   .at_ms = now};
    pthread_mutex_unlock(&wc->offer_mu);
}

void
watch_cache_withdraw(struct watch_cache *wc, const char *key)
{
    size_t n = 0;

    if (!wc)
        return;
    pthread_mutex_lock(&wc->offer_mu);
    for (size_t i = 0; i < wc->n_offers; i++) {
        if (strcmp(wc->offers[i].key, key) == 0)
            offer_fini(&wc->offers[i]);
        else
            wc->offers[n++] = wc->offers[i];
    }
    wc->n_offers = n;
    pthread_mutex_unlock(&wc->offer_mu);
}

/* The offer of kv's very bytes at its key, if the write path made one (*o
 * filled, the caller's to finish). Thread: the store watch's. */
static bool
offer_take(struct watch_cache *wc, const struct store_kv *kv, struct wc_offer *o)
{
    bool found = false;
    size_t n = 0;

    pthread_mutex_lock(&wc->offer_mu);
    for (size_t i = 0; i < wc->n_offers; i++) {
        struct wc_offer *x = &wc->offers[i];

        if (!found && x->len == kv->value_len && strcmp(x->key, kv->key) == 0 &&
            memcmp(x->json, kv->value, x->len) == 0) {
            *o = *x;
            found = true;
        } else {
            wc->offers[n++] = *x;
        }
    }
    wc->n_offers = n;
    offers_expire_locked(wc, k3c_now_ms());
    if (wc->n_offers == 0) { /* an idle cache keeps no array */
        free(wc->offers);
        wc->offers = NULL;
    }
    pthread_mutex_unlock(&wc->offer_mu);
    return found;
}

/* The entry for a stored value; NULL (logged) if it is not a JSON object. */
static struct wc_entry *
entry_from_kv(const struct watch_cache *wc, const struct store_kv *kv)
{
    json_error_t jerr;
    _cleanup_json_ json_t *obj = k3c_json_loadb(kv->value, kv->value_len, 0, &jerr);

    if (!json_is_object(obj)) {
        log_warn("(watchcache %s) %s at revision %" PRId64 ": value is not a JSON object (%s); "
                 "skipped",
                 wc->prefix, kv->key, kv->mod_revision, obj ? "wrong type" : jerr.text);
        return NULL;
    }
    return entry_build(wc, kv->key, obj, kv->mod_revision);
}

/* old's object as of revision rev (a delete's revision). */
static struct wc_entry *
entry_at_revision(const struct watch_cache *wc, struct wc_entry *old, int64_t rev)
{
    _cleanup_json_ json_t *obj = wc_entry_object(old);
    struct wc_entry *e = obj ? entry_build(wc, old->key, obj, rev) : NULL;

    /* Unreachable in practice (old's text was produced by us); an event with
     * the last state's revision beats no event. */
    return e ? e : wc_entry_ref(old);
}

/* The placeholder for a key whose value is unreadable: key and revision. */
static struct wc_entry *
entry_skipped(const struct store_kv *kv)
{
    struct entry_box *box = k3c_xcalloc(1, sizeof(*box));

    box->e.refs = 1;
    box->e.key = k3c_xstrdup(kv->key);
    box->e.revision = kv->mod_revision;
    return &box->e;
}

/* ---- dictionaries ------------------------------------------------------ */

/* Trains the packer's next dictionary on objects of m (the writer's map:
 * the cache's, or the list being loaded). Thread: the writer. */
static void
cache_train(struct watch_cache *wc, const struct entry_map *m)
{
    size_t sizes[WC_TRAIN_SAMPLES], n = 0;
    size_t step = m->n > WC_TRAIN_SAMPLES ? m->n / WC_TRAIN_SAMPLES : 1;
    int64_t t0 = k3c_now_ms();
    struct k3c_err err = {0};
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (size_t i = 0; i < m->n && n < WC_TRAIN_SAMPLES && b.len < WC_TRAIN_BYTES; i += step) {
        size_t start = b.len;

        if (wc_text_read(&m->v[i]->text, SIZE_MAX, &b, &err) == 0)
            sizes[n++] = b.len - start;
    }
    if (wc_packer_train(wc->packer, b.data, sizes, n, &err) < 0)
        log_warn("(watchcache %s) no dictionary: %s", wc->prefix, err.msg);
    else
        log_debug("(watchcache %s) a %zu-byte dictionary from %zu objects (%zu bytes) in %" PRId64
                  " ms",
                  wc->prefix, wc_packer_dict_size(wc->packer), n, b.len, k3c_now_ms() - t0);
    k3c_buf_fini(&b);
}

static void
cache_train_if_due(struct watch_cache *wc, const struct entry_map *m)
{
    if (!wc_packer_train_due(wc->packer))
        return;
    if (m->n < WC_TRAIN_MIN_OBJECTS)
        wc_packer_defer(wc->packer);
    else
        cache_train(wc, m);
}

/* ---- entry maps (sorted arrays) ---------------------------------------- */

static void
entry_map_fini(struct entry_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        wc_entry_unref(m->v[i]);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Index of the first entry whose key is >= key. */
static size_t
entry_map_lower_bound(const struct entry_map *m, const char *key)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(m->v[mid]->key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct wc_entry *
entry_map_find(const struct entry_map *m, const char *key)
{
    size_t i = entry_map_lower_bound(m, key);

    return i < m->n && strcmp(m->v[i]->key, key) == 0 ? m->v[i] : NULL;
}

/* Stores e (takes its ref); returns the entry it replaced (with the map's
 * ref, for the caller to drop) or NULL. */
static struct wc_entry *
entry_map_put_take(struct entry_map *m, struct wc_entry *e)
{
    size_t i = entry_map_lower_bound(m, e->key);
    struct wc_entry *old;

    if (i < m->n && strcmp(m->v[i]->key, e->key) == 0) {
        old = m->v[i];
        m->v[i] = e;
        return old;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->v = k3c_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
    m->v[i] = e;
    m->n++;
    return NULL;
}

/* Appends e (takes its ref); the caller adds keys in increasing order. */
static void
entry_map_append_take(struct entry_map *m, struct wc_entry *e)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->v = k3c_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n++] = e;
}

/* Removes key; returns the removed entry (with the map's ref) or NULL. */
static struct wc_entry *
entry_map_remove(struct entry_map *m, const char *key)
{
    size_t i = entry_map_lower_bound(m, key);
    struct wc_entry *old;

    if (i >= m->n || strcmp(m->v[i]->key, key) != 0)
        return NULL;
    old = m->v[i];
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
    m->n--;
    return old;
}

/* ---- time -------------------------------------------------------------- */

/* Waits on changed until deadline_ms (CLOCK_MONOTONIC; INT64_MAX: no
 * deadline); mu held. Returns false once the deadline has passed. */
static bool
cache_wait_locked(struct watch_cache *wc, int64_t deadline_ms)
{
    if (deadline_ms == INT64_MAX) {
        pthread_cond_wait(&wc->changed, &wc->mu);
        return true;
    }
    return k3c_cond_wait_until(&wc->changed, &wc->mu, deadline_ms);
}

/* ---- revisions ----------------------------------------------------------- */

/* True if the map is etcd's state at rev or later: it has applied the
 * events up to rev, or sync found it equal to a list read at rev or later
 * and it has not changed since. The second does not move the cache's
 * revision: events of keys created and deleted in between may still be on
 * their way, and they must reach watchers in order, after what rev says.
 * mu held. */
static bool
synced_locked(const struct watch_cache *wc, int64_t rev)
{
    return wc->rev >= rev || (wc->verified_seq == wc->map_seq && wc->verified_rev >= rev);
}

static bool
cache_synced(struct watch_cache *wc, int64_t rev)
{
    bool ok;

    pthread_mutex_lock(&wc->mu);
    ok = synced_locked(wc, rev);
    pthread_mutex_unlock(&wc->mu);
    return ok;
}

/* Waits until the cache reaches rev or deadline_ms passes. */
static bool
cache_wait_synced(struct watch_cache *wc, int64_t rev, int64_t deadline_ms)
{
    bool ok;

    pthread_mutex_lock(&wc->mu);
    while (!synced_locked(wc, rev) && !wc->stopping)
        if (!cache_wait_locked(wc, deadline_ms))
            break;
    ok = synced_locked(wc, rev);
    pthread_mutex_unlock(&wc->mu);
    return ok;
}

int64_t
watch_cache_revision(struct watch_cache *wc)
{
    int64_t rev;

    pthread_mutex_lock(&wc->mu);
    rev = wc->rev;
    pthread_mutex_unlock(&wc->mu);
    return rev;
}

/* ---- the writers' side --------------------------------------------------- */

/* Doubles the ring, each event moving to its sequence number's new slot.
 * mu held. */
static void
ring_grow_locked(struct watch_cache *wc)
{
    size_t cap = wc->ring_cap ? wc->ring_cap * 2 : 16;
    struct wc_event *ring = k3c_xcalloc(cap, sizeof(*ring));

    for (uint64_t seq = wc->head_seq - wc->ring_len; seq < wc->head_seq; seq++)
        ring[seq % cap] = wc->ring[seq % wc->ring_cap];
    free(wc->ring);
    wc->ring = ring;
    wc->ring_cap = cap;
}

/* Moves *ev into the ring; an event it pushes out lands in *evicted. mu held. */
static void
ring_push_locked(struct watch_cache *wc, struct wc_event *ev, struct wc_event *evicted)
{
    struct wc_event *slot;

    if (wc->ring_len == wc->ring_cap && wc->ring_cap < WC_RING_CAPACITY)
        ring_grow_locked(wc);
    slot = &wc->ring[wc->head_seq % wc->ring_cap];
    if (wc->ring_len == wc->ring_cap) {
        *evicted = *slot;
        wc->window_rev = slot->revision;
    } else {
        wc->ring_len++;
    }
    *slot = *ev;
    memset(ev, 0, sizeof(*ev));
    wc->head_seq++;
}

/* One change to a key, as the store watch thread publishes it. */
struct cache_change {
    const char *key;
    struct wc_entry *cur;  /* the new state (ref taken); NULL: invisible now */
    struct wc_entry *skip; /* its placeholder if unreadable (ref taken) */
    struct wc_event ev;    /* for watchers (moved); no entry: none */
    int64_t rev;
};

static void
cache_apply(struct watch_cache *wc, struct cache_change *c)
{
    struct wc_event evicted = {0};
    struct wc_entry *old, *old_skip;

    pthread_rwlock_wrlock(&wc->map_lock);
    pthread_mutex_lock(&wc->mu);
    old = c->cur ? entry_map_put_take(&wc->map, c->cur) : entry_map_remove(&wc->map, c->key);
    old_skip = c->skip ? entry_map_put_take(&wc->skipped, c->skip)
                       : entry_map_remove(&wc->skipped, c->key);
    if (c->cur || old)
        wc->map_seq++;
    if (c->ev.entry)
        ring_push_locked(wc, &c->ev, &evicted);
    if (c->rev > wc->rev)
        wc->rev = c->rev;
    pthread_cond_broadcast(&wc->changed);
    pthread_mutex_unlock(&wc->mu);
    pthread_rwlock_unlock(&wc->map_lock);
    wc_entry_unref(old);
    wc_entry_unref(old_skip);
    wc_event_fini(&evicted);
}

static void (*_Atomic change_hook)(void);

void
watch_cache_set_change_hook(void (*fn)(void))
{
    atomic_store(&change_hook, fn);
}

static void (*_Atomic watch_hook)(void); /* the API server's parked watches */

void
watch_cache_set_watch_hook(void (*fn)(void))
{
    atomic_store(&watch_hook, fn);
}

static void
cache_changed(void)
{
    void (*fn)(void) = atomic_load(&change_hook);
    void (*wfn)(void) = atomic_load(&watch_hook);

    if (fn)
        fn();
    if (wfn)
        wfn();
}

/* Thread: the store watch's. The map, not etcd's prev_kv, decides between
 * ADDED and MODIFIED and provides prev, so watchers always agree with it. */
static void
cache_on_event(void *userdata, const struct store_event *sev)
{
    struct watch_cache *wc = userdata;
    const struct store_kv *kv = sev->kv;
    struct cache_change c = {.key = kv->key, .rev = kv->mod_revision};
    struct wc_entry *old;

    if (c.rev < wc->rev) {
        log_warn("(watchcache %s) %s: event at revision %" PRId64 " after %" PRId64 "; ignored",
                 wc->prefix, kv->key, c.rev, wc->rev);
        return;
    }
    old = entry_map_find(&wc->map, kv->key);
    if (sev->type == STORE_EVENT_PUT) {
        struct wc_offer o;

        if (offer_take(wc, kv, &o)) {
            c.cur = entry_from_offer(wc, &o, kv->mod_revision);
            offer_fini(&o);
        } else {
            c.cur = entry_from_kv(wc, kv);
        }
        if (!c.cur)
            c.skip = entry_skipped(kv);
    }
    c.ev.revision = c.rev;
    if (c.cur) {
        c.ev.type = old ? WC_MODIFIED : WC_ADDED;
        c.ev.entry = wc_entry_ref(c.cur);
        c.ev.prev = wc_entry_ref(old);
    } else if (old) {
        /* Deleted, or overwritten with a value we cannot read: either way
         * readers can no longer see the object. Kubernetes sends a deleted
         * object at the delete's resourceVersion. */
        c.ev.type = WC_DELETED;
        c.ev.entry = entry_at_revision(wc, old, c.rev);
        c.ev.prev = wc_entry_ref(old);
    }
    cache_apply(wc, &c);
    cache_changed();
    cache_train_if_due(wc, &wc->map);
}

static void relist_request(struct watch_cache *wc);

/* Thread: the store watch's. Its watch has ended; it must not stop itself,
 * so it hands the relist to the relister. */
static void
cache_on_error(void *userdata, const struct k3c_err *err)
{
    struct watch_cache *wc = userdata;

    log_warn("(watchcache %s) watch ended (%s); relisting", wc->prefix, err->msg);
    relist_request(wc);
}

static const struct store_watch_ops cache_watch_ops = {
    .on_event = cache_on_event,
    .on_error = cache_on_error,
};

/* What a list read: the objects and the unreadable keys, in key order. */
struct cache_snapshot {
    struct entry_map map, skipped;
    int64_t revision;
};

static void
cache_snapshot_fini(struct cache_snapshot *snap)
{
    entry_map_fini(&snap->map);
    entry_map_fini(&snap->skipped);
}

/* Reads every object under the prefix at one revision. */
static int
cache_list(struct watch_cache *wc, struct cache_snapshot *out, struct k3c_err *err)
{
    _cleanup_free_ char *token = NULL;

    memset(out, 0, sizeof(*out));
    do {
        struct store_list page;

        if (store_list(wc->store, wc->prefix, WC_LIST_PAGE, token, 0, &page, err) < 0) {
            cache_snapshot_fini(out);
            return -1;
        }
        out->revision = page.revision;
        for (size_t i = 0; i < page.n_items; i++) {
            struct wc_entry *e = entry_from_kv(wc, &page.items[i]);

            if (e)
                entry_map_append_take(&out->map, e);
            else
                entry_map_append_take(&out->skipped, entry_skipped(&page.items[i]));
        }
        cache_train_if_due(wc, &out->map);
        free(token);
        token = TAKE_PTR(page.continue_token);
        store_list_fini(&page);
    } while (token);
    return 0;
}

/* Replaces the maps with a list's (swapped: snap gets the old ones). The
 * ring restarts empty, and watchers from before are closed: they missed
 * what the compaction took. */
static void
cache_install(struct watch_cache *wc, struct cache_snapshot *snap)
{
    struct wc_event *dropped;
    size_t n_dropped;
    struct entry_map tmp;

    pthread_rwlock_wrlock(&wc->map_lock);
    pthread_mutex_lock(&wc->mu);
    tmp = wc->map;
    wc->map = snap->map;
    snap->map = tmp;
    tmp = wc->skipped;
    wc->skipped = snap->skipped;
    snap->skipped = tmp;
    dropped = wc->ring;
    n_dropped = wc->ring_cap;
    wc->ring = NULL;
    wc->ring_cap = 0;
    wc->ring_len = 0;
    wc->rev = wc->window_rev = snap->revision;
    wc->map_seq++;
    wc->gen++;
    pthread_cond_broadcast(&wc->changed);
    pthread_mutex_unlock(&wc->mu);
    pthread_rwlock_unlock(&wc->map_lock);
    for (size_t i = 0; i < n_dropped; i++)
        wc_event_fini(&dropped[i]);
    free(dropped);
}

/* Lists and installs the prefix, then watches it from the list's revision.
 * Thread: the relister (watch_cache_new's caller the first time). */
static int
cache_load(struct watch_cache *wc, struct k3c_err *err)
{
    struct cache_snapshot snap;
    size_t n;
    int64_t rev;

    if (cache_list(wc, &snap, err) < 0)
        return -1;
    n = snap.map.n;
    rev = snap.revision;
    cache_install(wc, &snap);
    cache_snapshot_fini(&snap);
    cache_changed();
    wc->watch = store_watch_start(wc->store, wc->prefix, rev + 1, &cache_watch_ops, wc, err);
    if (!wc->watch)
        return -1;
    log_info("(watchcache %s) %zu objects at revision %" PRId64, wc->prefix, n, rev);
    return 0;
}

/* ---- relists ------------------------------------------------------------ */

/* One thread relists every cache whose watch ended (a compaction; etcd lost
 * the history). It exists only while a relist is queued or running, so an
 * idle server has none (it used to be one thread per cache, all waiting).
 * A cache whose relist failed goes back in the queue with its backoff; the
 * queue is short (a few caches at most relist at once), so it is a list.
 * Lock order: relister.mu is never held while a cache's locks are taken
 * or a watch is stopped. */
static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* CLOCK_MONOTONIC: queued, or a relist ended */
    struct watch_cache *queue;
    bool thread_running;
} relister = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

static void
relister_init(void)
{
    k3c_cond_init(&relister.wake);
}

static void *relister_thread(void *arg);

/* relister.mu held. */
static void
relist_enqueue_locked(struct watch_cache *wc, int64_t due_ms)
{
    pthread_t t;
    pthread_attr_t attr;

    wc->relist = RELIST_QUEUED;
    wc->relist_due_ms = due_ms;
    wc->relist_next = relister.queue;
    relister.queue = wc;
    pthread_cond_broadcast(&relister.wake);
    if (relister.thread_running)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Without a thread the cache stays queued; the next request retries. */
    if (pthread_create(&t, &attr, relister_thread, NULL) == 0)
        relister.thread_running = true;
    else
        log_error("(watchcache %s) cannot start the relist thread", wc->prefix);
    pthread_attr_destroy(&attr);
}

/* relister.mu held. */
static void
relist_dequeue_locked(struct watch_cache *wc)
{
    for (struct watch_cache **p = &relister.queue; *p; p = &(*p)->relist_next)
        if (*p == wc) {
            *p = wc->relist_next;
            break;
        }
    wc->relist_next = NULL;
    wc->relist = RELIST_NONE;
}

/* Thread: any (the store watch's, from cache_on_error). */
static void
relist_request(struct watch_cache *wc)
{
    pthread_once(&relister.once, relister_init);
    pthread_mutex_lock(&relister.mu);
    if (wc->relist_closed)
        ;
    else if (wc->relist == RELIST_RUNNING)
        wc->relist_again = true;
    else if (wc->relist == RELIST_NONE)
        relist_enqueue_locked(wc, k3c_now_ms());
    pthread_mutex_unlock(&relister.mu);
}

/* Thread: the relister. Replaces the ended watch by a list and a new watch.
 * Returns false if that failed (the cache is then without a watch). */
static bool
cache_relist(struct watch_cache *wc)
{
    struct k3c_err err = {0};

    store_watch_stop(wc->watch);
    wc->watch = NULL;
    /* The old watch may have asked again before it stopped. */
    pthread_mutex_lock(&relister.mu);
    wc->relist_again = false;
    pthread_mutex_unlock(&relister.mu);
    if (cache_load(wc, &err) == 0)
        return true;
    store_watch_stop(wc->watch);
    wc->watch = NULL;
    /* Once per outage; the success is logged at info by cache_load. */
    if (!wc->relist_logged)
        log_warn("(watchcache %s) relist failed (%s); retrying", wc->prefix, err.msg);
    wc->relist_logged = true;
    return false;
}

/* relister.mu held. The queued cache due first, or NULL. */
static struct watch_cache *
relist_next_due_locked(void)
{
    struct watch_cache *first = NULL;

    for (struct watch_cache *wc = relister.queue; wc; wc = wc->relist_next)
        if (!first || wc->relist_due_ms < first->relist_due_ms)
            first = wc;
    return first;
}

/* relister.mu held. Files the result of wc's relist and wakes
 * watch_cache_free, which may be waiting for it. */
static void
relist_done_locked(struct watch_cache *wc, bool ok)
{
    int64_t now = k3c_now_ms();

    wc->relist = RELIST_NONE;
    if (wc->relist_closed) {
        ;
    } else if (!ok) {
        int64_t b =
            wc->relist_backoff_ms ? wc->relist_backoff_ms * 2 : WC_RELIST_BACKOFF_MIN_MS * 2;

        wc->relist_backoff_ms = b > WC_RELIST_BACKOFF_MAX_MS ? WC_RELIST_BACKOFF_MAX_MS : b;
        relist_enqueue_locked(wc, now + wc->relist_backoff_ms);
    } else {
        wc->relist_backoff_ms = 0;
        wc->relist_logged = false;
        if (wc->relist_again)
            relist_enqueue_locked(wc, now);
    }
    pthread_cond_broadcast(&relister.wake);
}

static void *
relister_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&relister.mu);
    for (;;) {
        struct watch_cache *wc = relist_next_due_locked();
        bool ok;

        if (!wc)
            break;
        if (wc->relist_due_ms > k3c_now_ms()) {
            k3c_cond_wait_until(&relister.wake, &relister.mu, wc->relist_due_ms);
            continue;
        }
        relist_dequeue_locked(wc);
        wc->relist = RELIST_RUNNING;
        pthread_mutex_unlock(&relister.mu);
        ok = cache_relist(wc);
        pthread_mutex_lock(&relister.mu);
        relist_done_locked(wc, ok);
    }
    relister.thread_running = false;
    pthread_mutex_unlock(&relister.mu);
    return NULL;
}

/* Takes wc out of the relister's hands: after it returns no relist runs or
 * starts, and wc->watch is the caller's. */
static void
relist_close(struct watch_cache *wc)
{
    pthread_once(&relister.once, relister_init);
    pthread_mutex_lock(&relister.mu);
    wc->relist_closed = true;
    if (wc->relist == RELIST_QUEUED)
        relist_dequeue_locked(wc);
    while (wc->relist == RELIST_RUNNING)
        pthread_cond_wait(&relister.wake, &relister.mu);
    pthread_mutex_unlock(&relister.mu);
}

/* ---- life cycle ---------------------------------------------------------- */

static void
cache_destroy(struct watch_cache *wc)
{
    entry_map_fini(&wc->map);
    entry_map_fini(&wc->skipped);
    for (size_t i = 0; i < wc->ring_cap; i++)
        wc_event_fini(&wc->ring[i]);
    free(wc->ring);
    for (size_t i = 0; i < wc->n_fields; i++)
        free(wc->index_fields[i]);
    free(wc->index_fields);
    free(wc->prefix);
    wc_packer_free(wc->packer);
    for (size_t i = 0; i < wc->n_offers; i++)
        offer_fini(&wc->offers[i]);
    free(wc->offers);
    metas_clear(wc);
    pthread_mutex_destroy(&wc->offer_mu);
    pthread_cond_destroy(&wc->changed);
    pthread_mutex_destroy(&wc->mu);
    pthread_rwlock_destroy(&wc->map_lock);
    free(wc);
}

static void
cache_unref(struct watch_cache *wc)
{
    if (atomic_fetch_sub_explicit(&wc->refs, 1, memory_order_acq_rel) == 1)
        cache_destroy(wc);
}

static struct watch_cache *
cache_alloc(struct store *s, const char *prefix, const char *const *index_fields, api_row_fn row)
{
    struct watch_cache *wc = k3c_xcalloc(1, sizeof(*wc));
    pthread_rwlockattr_t rwa;

    wc->store = s;
    wc->row = row;
    wc->prefix = k3c_xstrdup(prefix);
    wc->packer = wc_packer_new();
    while (index_fields && index_fields[wc->n_fields])
        wc->n_fields++;
    wc->index_fields = k3c_xcalloc(wc->n_fields + 1, sizeof(*wc->index_fields));
    for (size_t i = 0; i < wc->n_fields; i++)
        wc->index_fields[i] = k3c_xstrdup(index_fields[i]);
    atomic_init(&wc->refs, 1);
    /* glibc's default lets a steady stream of readers starve the watch. */
    pthread_rwlockattr_init(&rwa);
    pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&wc->map_lock, &rwa);
    pthread_rwlockattr_destroy(&rwa);
    pthread_mutex_init(&wc->mu, NULL);
    pthread_mutex_init(&wc->offer_mu, NULL);
    k3c_cond_init(&wc->changed);
    return wc;
}

struct watch_cache *
watch_cache_new(struct store *s, const char *prefix, const char *const *index_fields,
                struct k3c_err *err)
{
    return watch_cache_new_with_rows(s, prefix, index_fields, NULL, err);
}

struct watch_cache *
watch_cache_new_with_rows(struct store *s, const char *prefix, const char *const *index_fields,
                          api_row_fn row, struct k3c_err *err)
{
    struct watch_cache *wc = cache_alloc(s, prefix, index_fields, row);
    int rc = -1;

    /* A list can lose its revision to a compaction between two pages. */
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
        k3c_err_clear(err);
        rc = cache_load(wc, err);
        if (rc < 0 && err->kind != K3C_E_COMPACTED)
            break;
    }
    if (rc < 0) {
        store_watch_stop(wc->watch);
        cache_unref(wc);
        k3c_err_wrap(err, "watch cache %s", prefix);
        return NULL;
    }
    return wc;
}

void
watch_cache_free(struct watch_cache *wc)
{
    if (!wc)
        return;
    pthread_mutex_lock(&wc->mu);
    wc->stopping = true;
    pthread_cond_broadcast(&wc->changed);
    pthread_mutex_unlock(&wc->mu);
    cache_changed();
    relist_close(wc);
    /* No callback runs after this. */
    store_watch_stop(wc->watch);
    wc->watch = NULL;
    cache_unref(wc);
}

/* ---- readers ------------------------------------------------------------- */

int64_t
watch_cache_foreach(struct watch_cache *wc, const char *key_prefix,
                    void (*fn)(void *ud, struct wc_entry *e), void *ud)
{
    size_t plen = key_prefix ? strlen(key_prefix) : 0;
    int64_t rev;

    pthread_rwlock_rdlock(&wc->map_lock);
    for (size_t i = plen ? entry_map_lower_bound(&wc->map, key_prefix) : 0; i < wc->map.n; i++) {
        if (plen && strncmp(wc->map.v[i]->key, key_prefix, plen) != 0)
            break;
        fn(ud, wc->map.v[i]);
    }
    /* Written under both locks: the read lock is enough, and under it this
     * is the revision of exactly what fn saw. */
    rev = wc->rev;
    pthread_rwlock_unlock(&wc->map_lock);
    return rev;
}

int64_t
watch_cache_foreach_after(struct watch_cache *wc, const char *key_prefix, const char *start_after,
                          bool (*fn)(void *ud, struct wc_entry *e), void *ud)
{
    size_t plen = strlen(key_prefix), i;
    int64_t rev;

    pthread_rwlock_rdlock(&wc->map_lock);
    i = entry_map_lower_bound(&wc->map, start_after ? start_after : key_prefix);
    if (start_after && i < wc->map.n && strcmp(wc->map.v[i]->key, start_after) == 0)
        i++;
    for (; i < wc->map.n; i++) {
        if (strncmp(wc->map.v[i]->key, key_prefix, plen) != 0 || !fn(ud, wc->map.v[i]))
            break;
    }
    rev = wc->rev;
    pthread_rwlock_unlock(&wc->map_lock);
    return rev;
}

struct wc_entry *
watch_cache_get(struct watch_cache *wc, const char *key)
{
    struct wc_entry *e;

    pthread_rwlock_rdlock(&wc->map_lock);
    e = wc_entry_ref(entry_map_find(&wc->map, key));
    pthread_rwlock_unlock(&wc->map_lock);
    return e;
}

/* ---- sync ---------------------------------------------------------------- */

/* Waits until the map changes from seq or the cache reaches rev. */
static bool
sync_wait_change(struct watch_cache *wc, int64_t rev, uint64_t seq, int64_t deadline_ms)
{
    bool changed;

    pthread_mutex_lock(&wc->mu);
    while (wc->map_seq == seq && !synced_locked(wc, rev) && !wc->stopping)
        if (!cache_wait_locked(wc, deadline_ms))
            break;
    changed = wc->map_seq != seq || synced_locked(wc, rev);
    pthread_mutex_unlock(&wc->mu);
    return changed;
}

/* The cache's revision and key count (unreadable keys included: etcd
 * counts them), and the map_seq they belong to. */
static void
cache_state(struct watch_cache *wc, int64_t *rev, int64_t *count, uint64_t *seq)
{
    pthread_rwlock_rdlock(&wc->map_lock);
    pthread_mutex_lock(&wc->mu);
    *rev = wc->rev;
    *seq = wc->map_seq;
    pthread_mutex_unlock(&wc->mu);
    *count = (int64_t)(wc->map.n + wc->skipped.n);
    pthread_rwlock_unlock(&wc->map_lock);
}

/* Records that the map (still at seq) is etcd's state at rev. */
static bool
mark_verified(struct watch_cache *wc, int64_t want, int64_t rev, uint64_t seq)
{
    bool ok;

    pthread_mutex_lock(&wc->mu);
    if (wc->map_seq == seq && (wc->verified_seq != seq || wc->verified_rev < rev)) {
        wc->verified_rev = rev;
        wc->verified_seq = seq;
    }
    ok = synced_locked(wc, want);
    pthread_mutex_unlock(&wc->mu);
    return ok;
}

/* The store watch only reports writes under the prefix, while etcd's
 * revision moves with every write anywhere: an idle prefix never gets an
 * event at rev. Two small ranges at etcd's current revision L decide it
 * without moving any values: if the newest key under the prefix is not
 * newer than the cache's revision C, every key at L is one the cache holds
 * at C; if the counts also agree, the sets are equal, and the cache is
 * etcd's state at L. Otherwise events are on their way: check again as each arrives. */
static int
sync_verify(struct watch_cache *wc, int64_t rev, int64_t deadline_ms, struct k3c_err *err)
{
    for (;;) {
        int64_t crev, ccount, total = 0, newest = 0, at = 0;
        uint64_t seq;

        cache_state(wc, &crev, &ccount, &seq);
        if (crev >= rev)
            return 0;
        if (store_prefix_stats(wc->store, wc->prefix, 0, &total, &newest, &at, err) < 0)
            return k3c_err_wrap(err, "watch cache %s: sync", wc->prefix);
        if (newest <= crev && total == ccount && mark_verified(wc, rev, at, seq))
            return 0;
        if (!sync_wait_change(wc, rev, seq, deadline_ms))
            return k3c_err_set(err, K3C_E_TIMEOUT,
                               "watch cache %s: not at revision %" PRId64 " in time (at %" PRId64
                               ")",
                               wc->prefix, rev, watch_cache_revision(wc));
    }
}

int
watch_cache_sync(struct watch_cache *wc, int64_t rev, int timeout_ms, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;
    int64_t current = 0;

    if (rev > 0 && cache_synced(wc, rev))
        return 0;
    if (store_revision(wc->store, &current, err) < 0)
        return k3c_err_wrap(err, "watch cache %s: sync", wc->prefix);
    if (rev <= 0)
        rev = current;
    /* A write under the prefix: its event is usually here in a moment. */
    if (cache_wait_synced(wc, rev, k3c_now_ms() + WC_SYNC_GRACE_MS))
        return 0;
    /* A revision etcd has not reached yet: wait for events, or for etcd to
     * get there (upstream answers "Too large resource version" likewise). */
    while (rev > current) {
        if (cache_wait_synced(wc, rev, k3c_now_ms() + WC_SYNC_POLL_MS))
            return 0;
        if (k3c_now_ms() >= deadline)
            return k3c_err_set(err, K3C_E_TIMEOUT,
                               "too large resource version: %" PRId64 ", current: %" PRId64, rev,
                               current);
        if (store_revision(wc->store, &current, err) < 0)
            return k3c_err_wrap(err, "watch cache %s: sync", wc->prefix);
    }
    return sync_verify(wc, rev, deadline, err);
}

/* ---- watchers ------------------------------------------------------------ */

/* The sequence number of the first ring event after from_rev (the ring's
 * revisions never decrease). mu held. */
static uint64_t
ring_first_after_locked(const struct watch_cache *wc, int64_t from_rev)
{
    uint64_t lo = wc->head_seq - wc->ring_len, hi = wc->head_seq;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;

        if (wc->ring[mid % wc->ring_cap].revision <= from_rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct wc_watcher *
watch_cache_subscribe(struct watch_cache *wc, int64_t from_rev, struct k3c_err *err)
{
    struct wc_watcher *w = NULL;

    pthread_mutex_lock(&wc->mu);
    if (wc->stopping) {
        k3c_err_set(err, K3C_E_UNAVAILABLE, "watch cache %s is stopping", wc->prefix);
    } else if (from_rev > 0 && from_rev < wc->window_rev) {
        /* Upstream's wording, so clients recognise it. */
        k3c_err_set(err, K3C_E_COMPACTED, "too old resource version: %" PRId64 " (%" PRId64 ")",
                    from_rev, wc->window_rev);
    } else {
        w = k3c_xcalloc(1, sizeof(*w));
        w->wc = wc;
        w->gen = wc->gen;
        w->min_rev = from_rev > 0 ? from_rev : wc->rev;
        w->cursor = from_rev > 0 ? ring_first_after_locked(wc, from_rev) : wc->head_seq;
        atomic_fetch_add_explicit(&wc->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&wc->mu);
    return w;
}

/* Closes w for good if the cache stopped, relisted, or overwrote events w
 * has not read. mu held. */
static void
watcher_check_locked(struct wc_watcher *w)
{
    const struct watch_cache *wc = w->wc;

    if (w->closed.kind != K3C_E_NONE)
        return;
    if (wc->stopping)
        k3c_err_set(&w->closed, K3C_E_UNAVAILABLE, "watch cache %s stopped", wc->prefix);
    else if (w->gen != wc->gen)
        k3c_err_set(&w->closed, K3C_E_COMPACTED,
                    "watch cache %s relisted after a compaction; relist", wc->prefix);
    else if (w->cursor < wc->head_seq - wc->ring_len)
        k3c_err_set(&w->closed, K3C_E_COMPACTED,
                    "watcher fell more than %d events behind on %s; relist", WC_RING_CAPACITY,
                    wc->prefix);
}

/* Copies the next event for w into *ev: 1, 0 if there is none, -1 if w is
 * closed. mu held. */
static int
watcher_take_locked(struct wc_watcher *w, struct wc_event *ev)
{
    const struct watch_cache *wc = w->wc;

    watcher_check_locked(w);
    if (w->closed.kind != K3C_E_NONE)
        return -1;
    while (w->cursor < wc->head_seq) {
        const struct wc_event *e = &wc->ring[w->cursor++ % wc->ring_cap];

        if (e->revision <= w->min_rev)
            continue;
        ev->type = e->type;
        ev->entry = wc_entry_ref(e->entry);
        ev->prev = wc_entry_ref(e->prev);
        ev->revision = e->revision;
        return 1;
    }
    return 0;
}

int
wc_watcher_next(struct wc_watcher *w, int timeout_ms, struct wc_event *ev, struct k3c_err *err)
{
    struct watch_cache *wc = w->wc;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : k3c_now_ms() + timeout_ms;
    int rc;

    pthread_mutex_lock(&wc->mu);
    rc = watcher_take_locked(w, ev);
    while (rc == 0 && cache_wait_locked(wc, deadline))
        rc = watcher_take_locked(w, ev);
    /* A wake-up can race the deadline: look once more. */
    if (rc == 0)
        rc = watcher_take_locked(w, ev);
    if (rc < 0)
        *err = w->closed;
    pthread_mutex_unlock(&wc->mu);
    return rc;
}

void
wc_event_fini(struct wc_event *ev)
{
    wc_entry_unref(ev->entry);
    wc_entry_unref(ev->prev);
    memset(ev, 0, sizeof(*ev));
}

void
wc_watcher_free(struct wc_watcher *w)
{
    if (!w)
        return;
    cache_unref(w->wc);
    free(w);
}

bool
wc_watcher_ready(struct wc_watcher *w)
{
    struct watch_cache *wc = w->wc;
    bool ready;

    pthread_mutex_lock(&wc->mu);
    watcher_check_locked(w);
    ready = w->closed.kind != K3C_E_NONE || w->cursor < wc->head_seq;
    pthread_mutex_unlock(&wc->mu);
    return ready;
}
