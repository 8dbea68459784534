/* SPDX-License-Identifier: Apache-2.0
 * api-wctext.h - the watch cache's object texts, kept compressed (zstd with
 * a dictionary trained per resource from the cached objects). */
#ifndef K3C_API_WCTEXT_H
#define K3C_API_WCTEXT_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A trained dictionary; reference counted by the texts packed with it. */
struct wc_dict;

/* One object's JSON as an entry keeps it. */
struct wc_text {
    unsigned char *data; /* a zstd frame, or the text itself (kind WC_TEXT_PLAIN) */
    uint32_t len;        /* bytes at data */
    uint32_t text_len;   /* the text's length */
    enum { WC_TEXT_PLAIN, WC_TEXT_ZSTD } kind;
    bool borrowed;        /* data is part of someone else's block (wc_text_move_into) */
    struct wc_dict *dict; /* a ref (frames packed with a dictionary), or NULL */
};

/* Per watch cache: the dictionary new texts get and when to train the next.
 * Used by one thread at a time (the cache's writer). */
struct wc_packer;

struct wc_packer *wc_packer_new(void);
void wc_packer_free(struct wc_packer *p);

/* Packs text: a zstd frame when that saves bytes (with the packer's
 * dictionary once it has one), else the text as is. Texts with a NUL byte
 * are fine. */
void wc_text_pack(struct wc_packer *p, const char *text, size_t len, struct wc_text *out);
void wc_text_fini(struct wc_text *t);
/* Moves src into *dst with its data copied to at (src->len bytes the caller
 * owns, e.g. the tail of one block with the entry); src's data is freed and
 * src is left empty. */
void wc_text_move_into(struct wc_text *dst, struct wc_text *src, void *at);

/* Appends the text's first `upto` bytes (SIZE_MAX: all of it) to out.
 * Returns 0, or -1 (K3C_E_INTERNAL, out unchanged) when the data is corrupt
 * or short. Any thread. */
int wc_text_read(const struct wc_text *t, size_t upto, struct k3c_buf *out, struct k3c_err *err);

/* Training. A dictionary is due after the first WC_TRAIN_FIRST texts worth
 * compressing, then each time four times as many as the last training saw
 * have been packed (up to every WC_TRAIN_MAX): objects change shape as a
 * cluster lives. The cache hands in samples (texts of its current objects);
 * texts packed before keep the dictionary they were packed with. */
#define WC_TRAIN_FIRST 64
#define WC_TRAIN_MAX   16384
bool wc_packer_train_due(const struct wc_packer *p);
/* Trains a dictionary from n samples (the texts back to back in samples,
 * their sizes in sizes); new texts use it. A sample set zstd cannot train
 * on (too few, too alike) gives a dictionary of the samples' raw content.
 * Returns 0, or -1 with err (the packer keeps its dictionary). */
int wc_packer_train(struct wc_packer *p, const char *samples, const size_t *sizes, size_t n,
                    struct k3c_err *err);
/* Not now (the cache holds too few objects for a dictionary to pay): due
 * again after as many packs as this time. */
void wc_packer_defer(struct wc_packer *p);
/* Trainings so far (tests, logs). */
unsigned wc_packer_trainings(const struct wc_packer *p);
/* The size of the current dictionary (0: none). */
size_t wc_packer_dict_size(const struct wc_packer *p);

#endif
