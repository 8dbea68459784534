/* SPDX-License-Identifier: Apache-2.0
 * util.h - small helpers shared by every part: allocation that aborts on
 * OOM, clocks, files, base64. */
#ifndef K3C_BASE_UTIL_H
#define K3C_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "base/err.h"

#define K3C_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Abort on allocation failure (the only abort outside cmd/, as crun's xmalloc). */
void *k3c_xmalloc(size_t n);
void *k3c_xcalloc(size_t n, size_t size);
void *k3c_xrealloc(void *p, size_t n);
char *k3c_xstrdup(const char *s);
char *k3c_xstrndup(const char *s, size_t n);
char *k3c_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Frees a NULL-terminated array of strings and the strings; NULL is a no-op. */
void k3c_strv_free(char **v);

/* The platform this binary was built for, in the OCI/GOARCH spelling that
 * node labels and image indexes use: "amd64" (variant NULL), "arm64"
 * ("v8"), "arm" ("v7"/"v6"), ... Taken from the compiler, not uname: an arm64
 * k3c under qemu-user or a 32-bit userland on a 64-bit kernel runs the
 * binary's platform, whatever the kernel reports. */
const char *k3c_arch(void);
const char *k3c_arch_variant(void);

/* Milliseconds from CLOCK_MONOTONIC / CLOCK_REALTIME. */
int64_t k3c_now_ms(void);
int64_t k3c_wall_ms(void);
/* Sleeps for ms milliseconds (restarting on EINTR). */
void k3c_sleep_ms(int64_t ms);

/* A condition variable timed on CLOCK_MONOTONIC, so a wall-clock jump
 * neither shortens nor stretches a wait. */
void k3c_cond_init(pthread_cond_t *c);
/* Waits on c (m held) until deadline_ms on the k3c_now_ms() clock.
 * Returns false once the deadline has passed. */
bool k3c_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms);

/* Compares a secret with a candidate in time that depends only on the
 * secret's length. got may be NULL. */
bool k3c_secret_equal(const char *want, const char *got);

/* mkdir -p with mode for the directories it creates. */
int k3c_mkdir_p(const char *path, mode_t mode, struct k3c_err *err);
/* Writes data to path atomically (tmp file + fsync + rename) with mode. */
int k3c_write_file(const char *path, const void *data, size_t len, mode_t mode,
                   struct k3c_err *err);
/* Reads a whole file; caller free()s *out (NUL-terminated). */
int k3c_read_file(const char *path, char **out, size_t *len_out, struct k3c_err *err);
bool k3c_file_exists(const char *path);
/* Searches PATH for an executable; returns a new string or NULL. */
char *k3c_find_in_path(const char *name);

/* Cryptographically random bytes (getrandom); aborts if the kernel cannot
 * provide them. */
void k3c_random_bytes(void *buf, size_t n);
/* Formats 16 random bytes as an RFC 4122 version-4 UUID (sets the version
 * and variant bits in b). out holds 37 bytes. */
void k3c_uuid_format(unsigned char b[16], char out[37]);
/* A new random v4 UUID. */
void k3c_uuid_new(char out[37]);
/* "2026-11-26T15:32:08Z" for t (UTC). out holds at least 21 bytes. */
void k3c_time_rfc3339(int64_t t, char *out, size_t len);
/* Parses that form back; -1 if malformed. */
int64_t k3c_time_parse_rfc3339(const char *s);
/* Resident set size of this process in bytes (/proc/self/statm). */
long long k3c_rss_bytes(void);

/* Standard base64 (RFC 4648). Results are NUL-terminated; caller free()s. */
char *k3c_base64_encode(const void *data, size_t len);
/* Returns NULL on malformed input. */
char *k3c_base64_decode(const char *s, size_t *len_out);

/* Parses a Go-style duration ("1h", "90s", "1h30m", "500ms", "0") into
 * milliseconds; -1 when malformed. */
int k3c_duration_parse_ms(const char *s, int64_t *ms_out);

/* Gives the pages of the calling thread's stack below the caller's frame
 * (less a few KiB for the calls it makes next) back to the kernel: a
 * thread about to wait long keeps only what it uses while waiting, not
 * what its deepest call once touched; zero pages come back on demand.
 * Thread: any thread but the main one (a no-op there). */
void k3c_thread_stack_release(void);

#endif
