/* SPDX-License-Identifier: Apache-2.0
 * kubelet_server_logs.c - /containerLogs/<ns>/<pod>/<container>: reads the
 * CRI-format files conmon writes (<logs>/<ns>_<pod>_<uid>/<c>/<n>.log),
 * joins partial ("P") lines, applies tailLines / sinceSeconds / sinceTime /
 * timestamps / limitBytes / previous, and with follow=true keeps reading
 * (inotify, with a poll fallback), moves on to a newer restart's file, and
 * ends once the container has exited and its file is drained. The body is
 * streamed by a libmicrohttpd content reader on the connection's thread. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet_server-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_WAIT_MS  500   /* follow: longest wait before re-checking the container */
#define LOG_CHUNK    65536 /* content reader block */
#define LOG_NS_PER_S 1000000000LL

/* ---- CRI lines ---------------------------------------------------------- */

/* "2024-01-01T00:00:00.123456789Z" or "...+02:00" -> ns since the epoch
 * (UTC); *end after it. -1 if malformed. */
static int64_t
parse_time_ns(const char *s, const char **end)
{
    struct tm tm = {0};
    int n = 0;
    int64_t frac = 0, scale = LOG_NS_PER_S, t;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    t = (int64_t)timegm(&tm) * LOG_NS_PER_S + frac;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p[1] && p[2] && p[3] == ':' && p[4] && p[5]) {
        int off =
            ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

        t -= (*p == '+' ? 1 : -1) * (int64_t)off * LOG_NS_PER_S;
        p += 6;
    } else {
        return -1;
    }
    *end = p;
    return t;
}

/* RFC3339Nano as Go prints it in UTC: trailing zeros of the fraction dropped. */
static void
format_time_ns(int64_t ns, char *out, size_t len)
{
    time_t sec = (time_t)(ns / LOG_NS_PER_S);
    long frac = (long)(ns % LOG_NS_PER_S);
    struct tm tm;
    char digits[16];
    int n;

    gmtime_r(&sec, &tm);
    n = (int)strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        int d = snprintf(digits, sizeof(digits), "%09ld", frac);

        while (d > 0 && digits[d - 1] == '0')
            digits[--d] = '\0';
        n += snprintf(out + n, len - (size_t)n, ".%s", digits);
    }
    snprintf(out + n, len - (size_t)n, "Z");
}

int
cri_line_parse(const char *line, size_t len, struct cri_line *out)
{
    const char *p, *end = line + len;

    memset(out, 0, sizeof(*out));
    if (len && line[len - 1] == '\n')
        end--;
    out->ts_ns = parse_time_ns(line, &p);
    if (out->ts_ns < 0 || p >= end || *p != ' ')
        return -1;
    format_time_ns(out->ts_ns, out->ts, sizeof(out->ts));
    p++;
    if (end - p >= 7 && strncmp(p, "stdout ", 7) == 0) {
        p += 7;
    } else if (end - p >= 7 && strncmp(p, "stderr ", 7) == 0) {
        out->is_stderr = true;
        p += 7;
    } else {
        return -1;
    }
    if (p >= end || (*p != 'P' && *p != 'F'))
        return -1;
    out->partial = *p == 'P';
    p++;
    if (p < end && *p == ' ')
        p++;
    else if (p != end)
        return -1;
    out->content = p;
    out->content_len = (size_t)(end - p);
    return 0;
}

/* ---- files -------------------------------------------------------------- */

struct log_opts {
    bool follow, timestamps, previous;
    long long tail;        /* -1: all */
    int64_t since_ns;      /* 0: all */
    long long limit_bytes; /* -1: no limit */
};

/* <logs>/<ns>_<pod>_<uid>: the pod directory whose container dir holds
 * the newest file (a pod recreated under the same name has a new uid). */
static char *
find_pod_dir(struct kubelet_server *s, const struct ks_target *t, char **uid_out)
{
    _cleanup_free_ char *prefix = k3c_xasprintf("%s_%s_", t->ns, t->pod);
    DIR *d = opendir(s->logs_dir);
    struct dirent *de;
    char *best = NULL;
    time_t best_mtime = 0;

    if (!d)
        return NULL;
    while ((de = readdir(d))) {
        _cleanup_free_ char *cdir = NULL;
        struct stat st;

        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || !de->d_name[strlen(prefix)])
            continue;
        cdir = k3c_xasprintf("%s/%s/%s", s->logs_dir, de->d_name, t->container);
        if (stat(cdir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (!best || st.st_mtime > best_mtime) {
            free(best);
            free(*uid_out);
            best = k3c_xstrdup(cdir);
            *uid_out = k3c_xstrdup(de->d_name + strlen(prefix));
            best_mtime = st.st_mtime;
        }
    }
    closedir(d);
    return best;
}

/* The highest "<n>.log" in dir below `below` (INT_MAX: any); -1 if none. */
static int
newest_file(const char *dir, int below)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int best = -1;

    if (!d)
        return -1;
    while ((de = readdir(d))) {
        char *end = NULL;
        long n = strtol(de->d_name, &end, 10);

        if (end == de->d_name || strcmp(end, ".log") != 0 || n < 0 || n >= below)
            continue;
        if (n > best)
            best = (int)n;
    }
    closedir(d);
    return best;
}

/* Offset where the last `lines` lines of f begin (scanning backwards). */
static off_t
tail_offset(FILE *f, long long lines)
{
    char block[8192];
    struct stat st;
    off_t pos;
    long long seen = 0;

    if (fstat(fileno(f), &st) < 0 || lines < 0)
        return 0;
    pos = st.st_size;
    if (lines == 0)
        return pos;
    /* A final newline ends the last line; it does not start a new one. */
    if (pos > 0 && pread(fileno(f), block, 1, pos - 1) == 1 && block[0] == '\n')
        pos--;
    while (pos > 0) {
        size_t n = (size_t)(pos < (off_t)sizeof(block) ? pos : (off_t)sizeof(block));
        ssize_t got = pread(fileno(f), block, n, pos - (off_t)n);

        if (got != (ssize_t)n)
            return 0;
        for (size_t i = n; i-- > 0;) {
            if (block[i] == '\n' && ++seen == lines)
                return pos - (off_t)n + (off_t)i + 1;
        }
        pos -= (off_t)n;
    }
    return 0;
}

/* ---- the stream --------------------------------------------------------- */

struct log_stream {
    struct kubelet_server *srv;
    int conn_fd;
    struct log_opts o;
    char *dir, *uid, *container;
    int n; /* the file being read: <dir>/<n>.log */
    FILE *f;
    int inotify_fd;
    struct k3c_buf out;     /* formatted, not yet handed to MHD */
    struct k3c_buf partial; /* joined content of "P" lines */
    char *line;
    size_t line_cap;
    long long sent;
    bool done;
    bool rotated_drained; /* the rotated-away file was read to its end once more */
};

static void
stream_free(void *cls)
{
    struct log_stream *ls = cls;

    if (ls->f)
        fclose(ls->f);
    if (ls->inotify_fd >= 0)
        close(ls->inotify_fd);
    k3c_buf_fini(&ls->out);
    k3c_buf_fini(&ls->partial);
    free(ls->line);
    free(ls->dir);
    free(ls->uid);
    free(ls->container);
    free(ls);
}

static FILE *
open_log(const char *dir, int n)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%d.log", dir, n);

    return fopen(path, "re");
}

static void
emit(struct log_stream *ls, const struct cri_line *l)
{
    if (l->partial) {
        k3c_buf_append(&ls->partial, l->content, l->content_len);
        return;
    }
    if (ls->o.timestamps)
        k3c_buf_appendf(&ls->out, "%s ", l->ts);
    k3c_buf_append(&ls->out, ls->partial.data ? ls->partial.data : "", ls->partial.len);
    k3c_buf_append(&ls->out, l->content, l->content_len);
    k3c_buf_append(&ls->out, "\n", 1);
    k3c_buf_reset(&ls->partial);
}

/* Reads complete lines until some output is ready or the file ends.
 * Returns 1 on output, 0 at the end of the file. */
static int
read_lines(struct log_stream *ls)
{
    while (ls->out.len == 0) {
        off_t at = ftello(ls->f);
        ssize_t n = getline(&ls->line, &ls->line_cap, ls->f);
        struct cri_line l;

        if (n <= 0) {
            clearerr(ls->f);
            return 0;
        }
        if (ls->line[n - 1] != '\n' && ls->o.follow) {
            /* conmon is still writing it: read it again when it is whole. */
            fseeko(ls->f, at, SEEK_SET);
            return 0;
        }
        if (cri_line_parse(ls->line, (size_t)n, &l) < 0)
            continue;
        if (ls->o.since_ns && l.ts_ns < ls->o.since_ns)
            continue;
        emit(ls, &l);
    }
    return 1;
}

static bool
container_running(struct log_stream *ls)
{
    char id[RUNTIME_ID_MAX + 1];
    struct runtime_status st;
    struct k3c_err err = {0};

    if (!ls->srv->runtime)
        return true;
    ks_container_id(ls->uid, ls->container, ls->n, id);
    if (runtime_status(ls->srv->runtime, id, &st, &err) < 0)
        return false;
    return st.state == RUNTIME_STATE_RUNNING || st.state == RUNTIME_STATE_CREATED;
}

/* The client went away (EOF or error on its socket). */
static bool
client_gone(struct log_stream *ls, short revents)
{
    char c;

    if (revents & (POLLHUP | POLLERR | POLLRDHUP))
        return true;
    if (revents & POLLIN)
        return recv(ls->conn_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    return false;
}

/* The log path holds another file than the one being read: rotated
 * (kubelet_logrotate.c); conmon has switched once the new file is there. */
static bool
path_rotated(struct log_stream *ls)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%d.log", ls->dir, ls->n);
    struct stat a, b;

    return fstat(fileno(ls->f), &a) == 0 && stat(path, &b) == 0 &&
           (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file after the one being read, once it was rotated away: the next
 * rotated "<n>.log.<stamp>" (a reader that fell behind by more than one
 * rotation reads them in order; one already pruned is gone), else the
 * log path itself. NULL if none opens. */
static FILE *
open_after_rotation(struct log_stream *ls)
{
    _cleanup_free_ char *prefix = k3c_xasprintf("%d.log.", ls->n);
    char *names[64];
    size_t n = 0, next = 0;
    struct stat cur, st;
    DIR *d = opendir(ls->dir);
    struct dirent *de;
    FILE *f = NULL;

    if (!d || fstat(fileno(ls->f), &cur) < 0) {
        if (d)
            closedir(d);
        return open_log(ls->dir, ls->n);
    }
    while ((de = readdir(d)) && n < K3C_ARRAY_SIZE(names))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && !strstr(de->d_name, ".tmp"))
            names[n++] = k3c_xstrdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(char *), name_cmp);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", ls->dir, names[i]);

        if (stat(p, &st) == 0 && st.st_ino == cur.st_ino && st.st_dev == cur.st_dev)
            next = i + 1;
    }
    if (next < n) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", ls->dir, names[next]);

        f = fopen(p, "re");
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return f ? f : open_log(ls->dir, ls->n);
}

/* follow at the end of the file: a rotation, a newer restart, the exit, or
 * new data. Returns false when the stream is over. */
static bool
follow_wait(struct log_stream *ls)
{
    struct pollfd p[2] = {{.fd = ls->inotify_fd, .events = POLLIN},
                          {.fd = ls->conn_fd, .events = POLLRDHUP}};
    char ev[4096];
    int newer = newest_file(ls->dir, INT_MAX);

    if (path_rotated(ls)) {
        FILE *f;

        /* read the old file to its end once more: conmon wrote its last
         * lines there before it opened the new one */
        if (!ls->rotated_drained) {
            ls->rotated_drained = true;
            return true;
        }
        if ((f = open_after_rotation(ls))) {
            fclose(ls->f);
            ls->f = f;
            ls->rotated_drained = false;
            return true;
        }
    }
    if (newer > ls->n) {
        FILE *f = open_log(ls->dir, newer);

        if (f) {
            fclose(ls->f);
            ls->f = f;
            ls->n = newer;
            return true;
        }
    }
    if (!container_running(ls)) {
        /* Drain what it wrote before it went, then end. */
        ls->o.follow = false;
        return true;
    }
    if (poll(p, ls->conn_fd >= 0 ? 2 : 1, LOG_WAIT_MS) < 0 && errno != EINTR)
        return false;
    if (ls->conn_fd >= 0 && client_gone(ls, p[1].revents))
        return false;
    if (p[0].revents & POLLIN)
        while (read(ls->inotify_fd, ev, sizeof(ev)) > 0)
            ;
    return !atomic_load(&ls->srv->stopping);
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct log_stream *ls = cls;
    size_t n;

    (void)pos;
    while (ls->out.len == 0) {
        if (ls->done || atomic_load(&ls->srv->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (read_lines(ls) > 0)
            break;
        if (!ls->o.follow || !follow_wait(ls))
            ls->done = true;
    }
    n = ls->out.len < max ? ls->out.len : max;
    if (ls->o.limit_bytes >= 0 && ls->sent + (long long)n > ls->o.limit_bytes)
        n = (size_t)(ls->o.limit_bytes - ls->sent);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    memcpy(buf, ls->out.data, n);
    k3c_buf_consume(&ls->out, n);
    ls->sent += (long long)n;
    return (ssize_t)n;
}

/* ---- the request -------------------------------------------------------- */

/* Parses the options; 0, or -1 with *msg set for a 400. */
static int
parse_opts(struct MHD_Connection *conn, struct log_opts *o, const char **msg)
{
    const char *v;
    char *end = NULL;

    *o = (struct log_opts){.tail = -1, .limit_bytes = -1};
    o->follow = ks_query_bool(conn, "follow");
    o->timestamps = ks_query_bool(conn, "timestamps");
    o->previous = ks_query_bool(conn, "previous");
    if ((v = ks_query(conn, "tailLines")) && *v) {
        o->tail = strtoll(v, &end, 10);
        if (*end || o->tail < 0)
            return *msg = "tailLines: must be greater than or equal to 0", -1;
    }
    if ((v = ks_query(conn, "limitBytes")) && *v) {
        o->limit_bytes = strtoll(v, &end, 10);
        if (*end || o->limit_bytes < 1)
            return *msg = "limitBytes: must be greater than 0", -1;
    }
    if ((v = ks_query(conn, "sinceSeconds")) && *v) {
        long long s = strtoll(v, &end, 10);

        if (*end || s < 1)
            return *msg = "sinceSeconds: must be greater than 0", -1;
        o->since_ns = (k3c_wall_ms() / 1000 - s) * LOG_NS_PER_S;
    }
    if ((v = ks_query(conn, "sinceTime")) && *v) {
        const char *tend = NULL;

        if (o->since_ns)
            return *msg = "at most one of sinceTime or sinceSeconds may be specified", -1;
        o->since_ns = parse_time_ns(v, &tend);
        if (o->since_ns < 0 || *tend)
            return *msg = "sinceTime: must be an RFC3339 time", -1;
    }
    return 0;
}

int
ks_serve_logs(struct kubelet_server *s, struct MHD_Connection *conn, const struct ks_target *t)
{
    struct log_stream *ls = k3c_xcalloc(1, sizeof(*ls));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct MHD_Response *resp;
    const char *msg = NULL;
    int current, ret;

    ls->srv = s;
    ls->inotify_fd = -1;
    ls->conn_fd = ci ? ci->connect_fd : -1;
    ls->container = k3c_xstrdup(t->container);
    k3c_buf_init(&ls->out);
    k3c_buf_init(&ls->partial);
    if (parse_opts(conn, &ls->o, &msg) < 0) {
        stream_free(ls);
        return ks_reply_status(conn, 400, "%s", msg);
    }
    ls->dir = find_pod_dir(s, t, &ls->uid);
    current = ls->dir ? newest_file(ls->dir, INT_MAX) : -1;
    ls->n = ls->o.previous && current >= 0 ? newest_file(ls->dir, current) : current;
    if (ls->n < 0 || !(ls->f = open_log(ls->dir, ls->n))) {
        bool previous = ls->o.previous;

        stream_free(ls);
        if (previous)
            return ks_reply_status(conn, 400,
                                   "previous terminated container \"%s\" in pod \"%s\" not found",
                                   t->container, t->pod);
        return ks_reply_status(conn, 400,
                               "container \"%s\" in pod \"%s\" is waiting to start: "
                               "ContainerCreating",
                               t->container, t->pod);
    }
    if (ls->o.previous)
        ls->o.follow = false; /* a terminated instance's file is complete */
    if (ls->o.tail >= 0)
        fseeko(ls->f, tail_offset(ls->f, ls->o.tail), SEEK_SET);
    if (ls->o.follow) {
        ls->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (ls->inotify_fd >= 0)
            inotify_add_watch(ls->inotify_fd, ls->dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, LOG_CHUNK, stream_read, ls,
                                             stream_free);
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
