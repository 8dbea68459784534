/* SPDX-License-Identifier: Apache-2.0
 * util.c - allocation, clocks, files and base64. */
#include "base/util.h"
#include "base/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *
k3c_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        abort();
    return p;
}

void *
k3c_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        abort();
    return p;
}

void *
k3c_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        abort();
    return q;
}

char *
k3c_xstrdup(const char *s)
{
    char *d = strdup(s);

    if (!d)
        abort();
    return d;
}

char *
k3c_xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);

    if (!d)
        abort();
    return d;
}

const char *
k3c_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__arm__)
    return "arm";
#elif defined(__i386__)
    return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
#error "k3c_arch: unknown architecture"
#endif
}

const char *
k3c_arch_variant(void)
{
#if defined(__aarch64__)
    return "v8";
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
    return "v7";
#elif defined(__arm__)
    return "v6";
#else
    return NULL;
#endif
}

void
k3c_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

char *
k3c_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

static int64_t
clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
k3c_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t
k3c_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void
k3c_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int
k3c_mkdir_p(const char *path, mode_t mode, struct k3c_err *err)
{
    _cleanup_free_ char *p = k3c_xstrdup(path);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return k3c_err_sys(err, errno, "mkdir %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return k3c_err_sys(err, errno, "mkdir %s", p);
    return 0;
}

int
k3c_write_file(const char *path, const void *data, size_t len, mode_t mode, struct k3c_err *err)
{
    _cleanup_free_ char *tmp = k3c_xasprintf("%s.tmp.%d", path, (int)getpid());
    _cleanup_close_ int fd = -1;
    const char *p = data;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return k3c_err_sys(err, errno, "create %s", tmp);
    /* open() applies the umask; the mode asked for is the mode we want. */
    if (fchmod(fd, mode) < 0)
        return k3c_err_sys(err, errno, "chmod %s", tmp);
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            unlink(tmp);
            return k3c_err_sys(err, e, "write %s", tmp);
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        int e = errno;

        unlink(tmp);
        return k3c_err_sys(err, e, "fsync %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;

        unlink(tmp);
        return k3c_err_sys(err, e, "rename %s", path);
    }
    return 0;
}

int
k3c_read_file(const char *path, char **out, size_t *len_out, struct k3c_err *err)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *data = NULL;
    size_t len = 0, cap = 4096;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return k3c_err_sys(err, errno, "open %s", path);
    data = k3c_xmalloc(cap);
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            cap *= 2;
            data = k3c_xrealloc(data, cap);
        }
        n = read(fd, data + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return k3c_err_sys(err, errno, "read %s", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
    if (len_out)
        *len_out = len;
    *out = TAKE_PTR(data);
    return 0;
}

bool
k3c_file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

char *
k3c_find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    _cleanup_free_ char *copy = NULL;
    char *save = NULL;

    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? k3c_xstrdup(name) : NULL;
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    copy = k3c_xstrdup(path);
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *full = k3c_xasprintf("%s/%s", dir, name);

        if (access(full, X_OK) == 0)
            return full;
        free(full);
    }
    return NULL;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
k3c_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = k3c_xmalloc(4 * ((len + 2) / 3) + 1);
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* A table, not branches: decoding is on the path of every etcd read and of
 * snapshots (100 MB of base64 through the gateway). -1: not base64. */
static const signed char b64_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

char *
k3c_base64_decode(const char *s, size_t *len_out)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t n = strlen(s), o = 0, full;
    _cleanup_free_ char *out = NULL;

    if (n % 4 != 0)
        return NULL;
    out = k3c_xmalloc(n / 4 * 3 + 1);
    /* Every quad but the last has no padding. */
    full = n >= 4 ? n - 4 : 0;
    for (size_t i = 0; i < full; i += 4) {
        int a = b64_values[in[i]], b = b64_values[in[i + 1]], c = b64_values[in[i + 2]],
            d = b64_values[in[i + 3]];

        if ((a | b | c | d) < 0)
            return NULL;
        out[o++] = (char)(a << 2 | b >> 4);
        out[o++] = (char)((b & 15) << 4 | c >> 2);
        out[o++] = (char)((c & 3) << 6 | d);
    }
    if (n >= 4) {
        const unsigned char *q = in + full;
        bool pad2 = q[2] == '=', pad3 = q[3] == '=';
        int a = b64_values[q[0]], b = b64_values[q[1]], c = pad2 ? 0 : b64_values[q[2]],
            d = pad3 ? 0 : b64_values[q[3]];

        if ((a | b | c | d) < 0 || (pad2 && !pad3))
            return NULL;
        out[o++] = (char)(a << 2 | b >> 4);
        if (!pad2)
            out[o++] = (char)((b & 15) << 4 | c >> 2);
        if (!pad3)
            out[o++] = (char)((c & 3) << 6 | d);
    }
    out[o] = '\0';
    if (len_out)
        *len_out = o;
    return TAKE_PTR(out);
}

void
k3c_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            abort();
        p += r;
        n -= (size_t)r;
    }
}

void
k3c_uuid_format(unsigned char b[16], char out[37])
{
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void
k3c_uuid_new(char out[37])
{
    unsigned char b[16];

    k3c_random_bytes(b, sizeof(b));
    k3c_uuid_format(b, out);
}

void
k3c_time_rfc3339(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t
k3c_time_parse_rfc3339(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

    if (!end)
        return -1;
    return (int64_t)timegm(&tm);
}

long long
k3c_rss_bytes(void)
{
    long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");

    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

void
k3c_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

bool
k3c_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};

    if (k3c_now_ms() >= deadline_ms)
        return false;
    return pthread_cond_timedwait(c, m, &ts) != ETIMEDOUT;
}

bool
k3c_secret_equal(const char *want, const char *got)
{
    size_t a = strlen(want), b = got ? strlen(got) : 0;
    unsigned diff = (unsigned)(a ^ b);

    for (size_t i = 0; i < a; i++)
        diff |= (unsigned)(want[i] ^ (i < b ? got[i] : 0));
    return diff == 0;
}

/* Go's time.ParseDuration subset that Kubernetes flags use: one or more
 * <number><unit> with units h, m, s, ms ("1h", "90s", "1h30m", "500ms"). */
int
k3c_duration_parse_ms(const char *s, int64_t *ms_out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    int64_t total = 0;

    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms_out = 0;
        return 0;
    }
    while (*s) {
        int64_t n = 0;
        size_t i;

        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            if (n > INT64_MAX / 10 - 10)
                return -1;
            n = n * 10 + (*s++ - '0');
        }
        for (i = 0; i < K3C_ARRAY_SIZE(units); i++)
            if (strncmp(s, units[i].unit, strlen(units[i].unit)) == 0)
                break;
        if (i == K3C_ARRAY_SIZE(units) || n > (INT64_MAX - total) / units[i].ms)
            return -1;
        total += n * units[i].ms;
        s += strlen(units[i].unit);
    }
    *ms_out = total;
    return 0;
}

/* What stays below the caller's frame: the frames of the wait it makes
 * next (a lock, a condition wait, a poll) with room to spare. */
#define STACK_KEEP_BELOW (8 * 1024)

void
k3c_thread_stack_release(void)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, end;
    pthread_attr_t attr;
    size_t size = 0, guard = 0;
    void *addr = NULL;

    if (getpid() == gettid() || pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) != 0 ||
        pthread_attr_getguardsize(&attr, &guard) != 0)
        size = 0;
    pthread_attr_destroy(&attr);
    if (size == 0)
        return;
    /* the stack grows down to addr; stay clear of the guard below it */
    lo = ((uintptr_t)addr + guard + page - 1) & ~(page - 1);
    end = ((uintptr_t)__builtin_frame_address(0) - STACK_KEEP_BELOW) & ~(page - 1);
    if (end > lo && end < (uintptr_t)addr + size)
        madvise((void *)lo, end - lo, MADV_DONTNEED);
}
