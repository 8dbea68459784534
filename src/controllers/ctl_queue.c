/* SPDX-License-Identifier: Apache-2.0
 * ctl_queue.c - a controller's work queue, as client-go's workqueue: keys
 * are de-duplicated, a key being processed is re-run once after its sync
 * when it was added meanwhile, delayed adds wait in a min-heap, and failing
 * keys back off exponentially per key.
 *
 * Every key has one item in a hash table while the queue knows anything
 * about it (waiting, processing, delayed or failing); idle items are freed. */
#include "controllers/ctl-internal.h"

#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct item {
    char *key;
    struct item *hash_next;
    struct item *fifo_next;
    bool queued;     /* in the FIFO */
    bool processing; /* handed out by get, not yet done */
    bool dirty;      /* added while processing */
    int failures;    /* rate-limited adds since the last forget */
    int64_t due;     /* pending delayed add (0: none) */
    int pins;        /* heap entries pointing here */
};

struct delayed {
    int64_t due;
    struct item *it;
};

struct ctl_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct item **buckets;
    size_t n_buckets, n_items;
    struct item *head, *tail;
    size_t n_queued;
    struct delayed *heap;
    size_t heap_len, heap_cap;
    bool shutdown;
    void (*notify)(void *ud);
    void *notify_ud;
};

static uint64_t
key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void
table_grow(struct ctl_queue *q)
{
    size_t n = q->n_buckets * 2;
    struct item **b = k3c_xcalloc(n, sizeof(*b));

    for (size_t i = 0; i < q->n_buckets; i++) {
        struct item *it = q->buckets[i], *next;

        for (; it; it = next) {
            next = it->hash_next;
            it->hash_next = b[key_hash(it->key) % n];
            b[key_hash(it->key) % n] = it;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->n_buckets = n;
}

static struct item *
item_find(struct ctl_queue *q, const char *key, bool create)
{
    size_t i = key_hash(key) % q->n_buckets;
    struct item *it;

    for (it = q->buckets[i]; it; it = it->hash_next)
        if (strcmp(it->key, key) == 0)
            return it;
    if (!create)
        return NULL;
    if (q->n_items >= q->n_buckets * 2) {
        table_grow(q);
        i = key_hash(key) % q->n_buckets;
    }
    it = k3c_xcalloc(1, sizeof(*it));
    it->key = k3c_xstrdup(key);
    it->hash_next = q->buckets[i];
    q->buckets[i] = it;
    q->n_items++;
    return it;
}

/* Frees it when nothing refers to it any more. */
static void
item_release(struct ctl_queue *q, struct item *it)
{
    struct item **pp;

    if (it->queued || it->processing || it->dirty || it->failures || it->due || it->pins)
        return;
    for (pp = &q->buckets[key_hash(it->key) % q->n_buckets]; *pp; pp = &(*pp)->hash_next)
        if (*pp == it) {
            *pp = it->hash_next;
            break;
        }
    q->n_items--;
    free(it->key);
    free(it);
}

static void
fifo_push(struct ctl_queue *q, struct item *it)
{
    it->queued = true;
    it->fifo_next = NULL;
    if (q->tail)
        q->tail->fifo_next = it;
    else
        q->head = it;
    q->tail = it;
    q->n_queued++;
    pthread_cond_signal(&q->cond);
    if (q->notify)
        q->notify(q->notify_ud);
}

static struct item *
fifo_pop(struct ctl_queue *q)
{
    struct item *it = q->head;

    if (!it)
        return NULL;
    q->head = it->fifo_next;
    if (!q->head)
        q->tail = NULL;
    it->queued = false;
    q->n_queued--;
    return it;
}

static void
heap_push(struct ctl_queue *q, int64_t due, struct item *it)
{
    size_t i;

    if (q->heap_len == q->heap_cap) {
        q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 64;
        q->heap = k3c_xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
    }
    i = q->heap_len++;
    while (i > 0 && q->heap[(i - 1) / 2].due > due) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = (struct delayed){due, it};
    it->pins++;
}

static struct delayed
heap_pop(struct ctl_queue *q)
{
    struct delayed top = q->heap[0], last = q->heap[--q->heap_len];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= q->heap_len)
            break;
        if (c + 1 < q->heap_len && q->heap[c + 1].due < q->heap[c].due)
            c++;
        if (q->heap[c].due >= last.due)
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->heap_len > 0)
        q->heap[i] = last;
    top.it->pins--;
    return top;
}

static void
add_locked(struct ctl_queue *q, struct item *it)
{
    if (q->shutdown)
        return;
    if (it->processing)
        it->dirty = true;
    else if (!it->queued)
        fifo_push(q, it);
}

static void
add_after_locked(struct ctl_queue *q, const char *key, int64_t delay_ms)
{
    struct item *it = item_find(q, key, true);
    int64_t due = k3c_now_ms() + delay_ms;

    if (delay_ms <= 0) {
        add_locked(q, it);
        return;
    }
    if (q->shutdown || (it->due && it->due <= due) || it->queued)
        return;
    it->due = due;
    heap_push(q, due, it);
    pthread_cond_signal(&q->cond);
    if (q->notify)
        q->notify(q->notify_ud);
}

/* Moves delayed items that are due into the FIFO. */
static void
promote_due_locked(struct ctl_queue *q, int64_t now)
{
    while (q->heap_len > 0 && q->heap[0].due <= now) {
        struct delayed d = heap_pop(q);

        if (d.it->due == d.due) {
            d.it->due = 0;
            add_locked(q, d.it);
        }
        item_release(q, d.it);
    }
}

struct ctl_queue *
ctl_queue_new(void)
{
    struct ctl_queue *q = k3c_xcalloc(1, sizeof(*q));

    pthread_mutex_init(&q->mu, NULL);
    k3c_cond_init(&q->cond);
    q->n_buckets = 256;
    q->buckets = k3c_xcalloc(q->n_buckets, sizeof(*q->buckets));
    return q;
}

void
ctl_queue_free(struct ctl_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_buckets; i++) {
        struct item *it = q->buckets[i], *next;

        for (; it; it = next) {
            next = it->hash_next;
            free(it->key);
            free(it);
        }
    }
    free(q->buckets);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void
ctl_queue_add(struct ctl_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutdown)
        add_locked(q, item_find(q, key, true));
    pthread_mutex_unlock(&q->mu);
}

void
ctl_queue_add_after(struct ctl_queue *q, const char *key, int64_t delay_ms)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutdown)
        add_after_locked(q, key, delay_ms);
    pthread_mutex_unlock(&q->mu);
}

void
ctl_queue_add_rate_limited(struct ctl_queue *q, const char *key)
{
    struct item *it;
    int64_t delay = CTL_BACKOFF_BASE_MS;

    pthread_mutex_lock(&q->mu);
    if (!q->shutdown) {
        it = item_find(q, key, true);
        for (int i = 0; i < it->failures && delay < CTL_BACKOFF_MAX_MS; i++)
            delay *= 2;
        if (delay > CTL_BACKOFF_MAX_MS)
            delay = CTL_BACKOFF_MAX_MS;
        it->failures++;
        add_after_locked(q, key, delay);
    }
    pthread_mutex_unlock(&q->mu);
}

void
ctl_queue_forget(struct ctl_queue *q, const char *key)
{
    struct item *it;

    pthread_mutex_lock(&q->mu);
    it = item_find(q, key, false);
    if (it) {
        it->failures = 0;
        item_release(q, it);
    }
    pthread_mutex_unlock(&q->mu);
}

char *
ctl_queue_get(struct ctl_queue *q, int64_t deadline_ms)
{
    char *key = NULL;

    pthread_mutex_lock(&q->mu);
    while (!q->shutdown) {
        int64_t now = k3c_now_ms(), wake = deadline_ms;
        struct item *it;

        promote_due_locked(q, now);
        it = fifo_pop(q);
        if (it) {
            it->processing = true;
            key = k3c_xstrdup(it->key);
            break;
        }
        if (now >= deadline_ms)
            break;
        if (q->heap_len > 0 && q->heap[0].due < wake)
            wake = q->heap[0].due;
        k3c_cond_wait_until(&q->cond, &q->mu, wake);
    }
    pthread_mutex_unlock(&q->mu);
    return key;
}

void
ctl_queue_done(struct ctl_queue *q, const char *key)
{
    struct item *it;

    pthread_mutex_lock(&q->mu);
    it = item_find(q, key, false);
    if (it) {
        it->processing = false;
        if (it->dirty) {
            it->dirty = false;
            add_locked(q, it);
        }
        item_release(q, it);
    }
    pthread_mutex_unlock(&q->mu);
}

void
ctl_queue_set_notify(struct ctl_queue *q, void (*fn)(void *ud), void *ud)
{
    pthread_mutex_lock(&q->mu);
    q->notify = fn;
    q->notify_ud = ud;
    pthread_mutex_unlock(&q->mu);
}

void
ctl_queue_shutdown(struct ctl_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutdown = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

bool
ctl_queue_shutting_down(struct ctl_queue *q)
{
    bool s;

    pthread_mutex_lock(&q->mu);
    s = q->shutdown;
    pthread_mutex_unlock(&q->mu);
    return s;
}

size_t
ctl_queue_len(struct ctl_queue *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->n_queued + q->heap_len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
