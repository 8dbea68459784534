/* SPDX-License-Identifier: Apache-2.0
 * store_watch.c - etcd's /v3/watch streams, every watch of the process on
 * one thread (the loop) driving one curl multi; each watch still has its own
 * connection. A watch resumes from next_rev after any break, so delivery is
 * exactly once and in order. Messages are newline-delimited JSON objects.
 * It was a thread per watch (42 in an idle server, each waiting in poll).
 * Callbacks run on the loop: they must not block for long (a slow one
 * delays every watch) and must never stop a watch.
 *
 * The loop drives curl through its socket interface (curl_multi_socket_action
 * on what epoll reports): only the connection that has data is serviced. With
 * curl_multi_perform and curl_multi_poll every wake-up visited every watch's
 * connection (43 in a server), which cost ~12% of the server's CPU during a
 * burst of writes (issue #20, session 9).
 *
 * Once a second the loop also lets curl read each connection it reads that
 * has no bytes waiting at its socket (the sweep; curl_multi_perform read every
 * connection on every wake-up): data that
 * epoll cannot see (decrypted and left in the TLS layer, a socket whose
 * registration went astray) then waits at most a second, not until the next
 * bytes arrive on that socket. Sweeps that find such data are counted
 * and logged; none has been seen so far. */
#define LOG_COMPONENT "store"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WATCH_BUF_KEEP    (256 * 1024) /* a larger idle message buffer is freed */
#define WATCH_SWEEP_MS    1000         /* every connection is read at least this often */
#define WATCH_MAX_SOCKETS 256          /* of the sweep's list; more are swept by epoll only */

struct store_watch {
    struct store *store;
    char *prefix;
    struct store_watch_ops ops;
    void *userdata;

    /* Owned by the loop thread. */
    struct k3c_buf pending; /* bytes of a message not complete yet */
    bool ended;             /* a terminal error was reported */
    bool broken;            /* the connection broke and has not come back yet */
    CURL *curl;             /* the transfer in the multi, or NULL */
    struct curl_slist *headers;
    char *req;                 /* the body of the running request */
    long status;               /* of the running request; 0: no answer yet */
    struct k3c_buf error_body; /* the body of a non-2xx answer */
    bool stopped_by_cb;
    size_t attempt; /* endpoint, counted from the client's current one */
    int64_t due_ms; /* when not running: the next start */
    int64_t started_ms, backoff_ms;

    /* Under loop.mu. */
    bool stop_req, reset_req, stopped;
    struct store_watch *next;

    atomic_llong next_rev; /* written by the loop thread, read by any */
};

/* The loop: every watch of the process, on one thread that exists while
 * there is a watch. Lock: loop.mu, never held while a callback runs. */
static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t stopped; /* a stop request was carried out */
    CURLM *multi;           /* the loop thread's */
    int epfd;               /* the connections curl asked for, and wakefd */
    int wakefd;             /* an eventfd: loop_wake, any thread */
    struct store_watch *list;
    bool running;
    pthread_t thread;
    int64_t next_due; /* loop thread: earliest restart seen this round */
    /* Loop thread: the sockets curl reads, for the sweep. */
    curl_socket_t reading[WATCH_MAX_SOCKETS];
    size_t n_reading;
    int64_t sweep_due;
    bool sweeping;             /* a sweep's socket_action is running */
    atomic_ullong sweep_found; /* sweeps that delivered data epoll had not reported */
} loop = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

/* An event the scanner decoded (store_watch_msg_split). */
static void
deliver_decoded(struct store_watch *w, struct store_watch_event *ev)
{
    struct store_event out = {.type = ev->deleted ? STORE_EVENT_DELETE : STORE_EVENT_PUT,
                              .kv = &ev->kv};

    w->ops.on_event(w->userdata, &out);
}

static void
deliver_event(struct store_watch *w, const json_t *ev, struct k3c_err *err)
{
    struct store_kv kv;
    const char *type = json_string_value(json_object_get(ev, "type"));
    struct store_event out = {.type = STORE_EVENT_PUT, .kv = &kv};

    if (store_kv_from_json(json_object_get(ev, "kv"), &kv, err) < 0)
        return;
    /* proto3 JSON leaves the default enum value (PUT) out. */
    if (type && strcmp(type, "DELETE") == 0)
        out.type = STORE_EVENT_DELETE;
    w->ops.on_event(w->userdata, &out);
    store_kv_fini(&kv);
}

static void
watch_fail(struct store_watch *w, struct k3c_err *err)
{
    w->ended = true;
    if (w->ops.on_error)
        w->ops.on_error(w->userdata, err);
}

/* Handles one message of the stream: its events are in the message (decoded
 * is NULL) or were decoded by the scanner (n_decoded of them; the message's
 * own events are then []). Returns non-zero to end the stream. */
static int
handle_message(struct store_watch *w, const json_t *msg, struct store_watch_event *decoded,
               size_t n_decoded)
{
    const json_t *res = json_object_get(msg, "result");
    const json_t *events = json_object_get(res, "events");
    size_t n_events = decoded ? n_decoded : json_array_size(events);
    int64_t hdr_rev = store_json_int64(json_object_get(res, "header"), "revision");
    int64_t compact = store_json_int64(res, "compact_revision");
    struct k3c_err err = {0};
    size_t i;
    const json_t *ev;

    if (!res) {
        const char *m =
            json_string_value(json_object_get(json_object_get(msg, "error"), "message"));

        log_warn("(watch %s) stream error: %s", w->prefix, m ? m : "unknown");
        return 1;
    }
    if (compact > 0) {
        k3c_err_set(&err, K3C_E_COMPACTED,
                    "watch %s: revision %" PRId64 " was compacted (oldest kept %" PRId64 ")",
                    w->prefix, (int64_t)atomic_load(&w->next_rev), compact);
        watch_fail(w, &err);
        return 1;
    }
    if (w->broken && json_is_true(json_object_get(res, "created"))) {
        w->broken = false;
        log_info("(watch %s) resumed from revision %" PRId64, w->prefix,
                 (int64_t)atomic_load(&w->next_rev));
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        log_warn("(watch %s) cancelled by etcd; resuming", w->prefix);
        return 1;
    }
    for (i = 0; decoded && i < n_decoded; i++) {
        int64_t rev = decoded[i].kv.mod_revision;

        deliver_decoded(w, &decoded[i]);
        if (rev >= atomic_load(&w->next_rev))
            atomic_store(&w->next_rev, rev + 1);
    }
    json_array_foreach(events, i, ev)
    {
        int64_t rev = store_json_int64(json_object_get(ev, "kv"), "mod_revision");

        deliver_event(w, ev, &err);
        if (rev >= atomic_load(&w->next_rev))
            atomic_store(&w->next_rev, rev + 1);
    }
    /* A progress notification (no events, not the "created" answer) says
     * everything up to hdr_rev has been sent, so a resume may start after it.
     * The "created" answer's revision is etcd's current one, sent before the
     * backlog of a watch that starts in the past: it proves nothing. */
    if (n_events == 0 && !json_is_true(json_object_get(res, "created")) &&
        hdr_rev >= atomic_load(&w->next_rev))
        atomic_store(&w->next_rev, hdr_rev + 1);
    return 0;
}

static int
on_stream_data(void *userdata, const char *data, size_t len)
{
    struct store_watch *w = userdata;
    char *nl;

    k3c_buf_append(&w->pending, data, len);
    while ((nl = memchr(w->pending.data, '\n', w->pending.len))) {
        size_t line = (size_t)(nl - w->pending.data);
        struct store_watch_event *events = NULL;
        size_t n_events = 0;
        json_t *msg = NULL;
        int stop;

        /* The events without jansson when they are in etcd's shape. */
        if (store_watch_msg_split(w->pending.data, line, &msg, &events, &n_events) < 0)
            msg = k3c_json_loadb(w->pending.data, line, 0, NULL);
        k3c_buf_consume(&w->pending, line + 1);
        if (!msg) {
            log_warn("(watch %s) unparsable message; reconnecting", w->prefix);
            return 1;
        }
        stop = handle_message(w, msg, events, n_events);
        store_watch_events_free(events, n_events);
        json_decref(msg);
        if (stop)
            return 1;
    }
    /* One message can carry thousands of events (a burst of writes): do not
     * keep megabytes of buffer for the quiet that follows. */
    if (w->pending.len == 0 && w->pending.cap > WATCH_BUF_KEEP) {
        k3c_buf_fini(&w->pending);
        k3c_buf_init(&w->pending);
    }
    return 0;
}

static char *
watch_request(const struct store_watch *w)
{
    _cleanup_free_ char *end = store_prefix_end(w->prefix);
    _cleanup_json_ json_t *req = NULL;
    int64_t from = atomic_load(&w->next_rev);
    json_t *create =
        json_pack("{s:o, s:o, s:b}", "key", store_json_b64(w->prefix), "range_end",
                  end[0] ? store_json_b64(end) : json_string("AA=="), "progress_notify", 1);

    json_object_set_new(create, "start_revision", json_integer(from));
    req = json_pack("{s:o}", "create_request", create);
    return json_dumps(req, JSON_COMPACT);
}

/* Keeps s in the sweep's list while curl reads it. Loop thread. */
static void
reading_set(curl_socket_t s, bool reads)
{
    size_t i;

    for (i = 0; i < loop.n_reading && loop.reading[i] != s; i++)
        ;
    if (reads && i == loop.n_reading && loop.n_reading < WATCH_MAX_SOCKETS)
        loop.reading[loop.n_reading++] = s;
    else if (!reads && i < loop.n_reading)
        loop.reading[i] = loop.reading[--loop.n_reading];
}

/* CURLMOPT_SOCKETFUNCTION: curl says which events it wants on a socket. */
static int
loop_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct epoll_event ev = {.data.fd = s};

    (void)easy;
    (void)userp;
    (void)socketp;
    reading_set(s, what != CURL_POLL_REMOVE && (what & CURL_POLL_IN));
    if (what == CURL_POLL_REMOVE) {
        /* EBADF/ENOENT: curl closed it already; nothing is left to undo. */
        epoll_ctl(loop.epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT &&
        epoll_ctl(loop.epfd, EPOLL_CTL_ADD, s, &ev) < 0)
        log_warn("(watch) epoll_ctl: %s", strerror(errno));
    return 0;
}

static void
loop_init(void)
{
    struct epoll_event ev = {.events = EPOLLIN};

    loop.multi = curl_multi_init();
    loop.epfd = epoll_create1(EPOLL_CLOEXEC);
    loop.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ev.data.fd = loop.wakefd;
    if (!loop.multi || loop.epfd < 0 || loop.wakefd < 0 ||
        epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &ev) < 0)
        abort();
    curl_multi_setopt(loop.multi, CURLMOPT_SOCKETFUNCTION, loop_socket_cb);
    pthread_cond_init(&loop.stopped, NULL);
}

/* Wakes the loop thread (any thread). */
static void
loop_wake(void)
{
    uint64_t one = 1;

    if (write(loop.wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("(watch) wake: %s", strerror(errno));
}

/* A sweep read data that epoll had not reported: logged at 1, 2, 4, 8, ... */
static void
sweep_found_note(const struct store_watch *w)
{
    unsigned long long n = atomic_fetch_add(&loop.sweep_found, 1) + 1;

    if ((n & (n - 1)) == 0)
        log_info("(watch %s) the sweep read data epoll had not reported (%llu times)", w->prefix,
                 n);
}

static size_t
stream_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct store_watch *w = userdata;
    size_t n = size * nmemb;

    if (w->status == 0)
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->status);
    if (w->status >= 300) {
        if (w->error_body.len < 4096)
            k3c_buf_append(&w->error_body, data, n);
        return n;
    }
    if (loop.sweeping && n > 0)
        sweep_found_note(w);
    if (on_stream_data(w, data, n) != 0) {
        w->stopped_by_cb = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

/* Starts a request from next_rev. Loop thread. */
static void
attempt_start(struct store_watch *w)
{
    free(w->req);
    w->req = watch_request(w);
    k3c_buf_reset(&w->pending);
    k3c_buf_reset(&w->error_body);
    w->status = 0;
    w->stopped_by_cb = false;
    if (!w->headers) {
        w->headers = curl_slist_append(NULL, "Content-Type: application/json");
        w->headers = curl_slist_append(w->headers, "Expect:");
    }
    w->curl = http_client_stream_handle(w->store->http, "POST", "/v3/watch", w->req, strlen(w->req),
                                        w->attempt, w->headers);
    if (!w->curl) {
        w->attempt = 0; /* past the last endpoint: from the current one again */
        w->curl = http_client_stream_handle(w->store->http, "POST", "/v3/watch", w->req,
                                            strlen(w->req), 0, w->headers);
    }
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->curl, CURLOPT_PRIVATE, w);
    w->started_ms = k3c_now_ms();
    curl_multi_add_handle(loop.multi, w->curl);
}

static void
attempt_detach(struct store_watch *w)
{
    curl_multi_remove_handle(loop.multi, w->curl);
    curl_easy_cleanup(w->curl);
    w->curl = NULL;
}

/* The request ended (result), or was cut (reset): schedules the resume
 * after the backoff. Loop thread. */
static void
attempt_end(struct store_watch *w, CURLcode result, bool reset)
{
    char why[512];
    int64_t now = k3c_now_ms();

    attempt_detach(w);
    if (w->ended)
        return;
    if (reset) {
        /* Removed half-way: its connection is closed, the next dials anew. */
        snprintf(why, sizeof(why), "connection reset");
    } else if (w->stopped_by_cb) {
        snprintf(why, sizeof(why), "stream ended");
    } else if (result != CURLE_OK) {
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(result));
        w->attempt++; /* the next endpoint */
    } else if (w->status >= 300) {
        snprintf(why, sizeof(why), "HTTP %ld: %.200s", w->status,
                 w->error_body.data ? w->error_body.data : "");
        if (w->status >= 500)
            w->attempt++;
    } else {
        snprintf(why, sizeof(why), "stream ended");
    }
    /* Logged once per outage; handle_message logs the recovery. */
    if (!w->broken)
        log_warn("(watch %s) interrupted (%s); resuming from revision %" PRId64, w->prefix, why,
                 (int64_t)atomic_load(&w->next_rev));
    w->broken = true;
    /* A stream that ran a while was healthy: start the backoff over. */
    if (now - w->started_ms > 5000)
        w->backoff_ms = 50;
    w->due_ms = now + w->backoff_ms;
    w->backoff_ms = w->backoff_ms * 2 > 2000 ? 2000 : w->backoff_ms * 2;
    if (w->due_ms < loop.next_due)
        loop.next_due = w->due_ms;
}

/* Carries out the requests of other threads and starts what is due.
 * loop.mu held. */
static void
loop_service_locked(int64_t now)
{
    for (struct store_watch **pp = &loop.list; *pp;) {
        struct store_watch *w = *pp;

        if (w->stop_req) {
            *pp = w->next;
            if (w->curl)
                attempt_detach(w);
            w->stopped = true;
            pthread_cond_broadcast(&loop.stopped);
            continue;
        }
        if (w->reset_req) {
            w->reset_req = false;
            if (w->curl)
                attempt_end(w, CURLE_OK, true);
        }
        if (!w->curl && !w->ended) {
            if (w->due_ms <= now)
                attempt_start(w);
            else if (w->due_ms < loop.next_due)
                loop.next_due = w->due_ms;
        }
        pp = &w->next;
    }
}

/* Ends the transfers curl has finished. Loop thread. */
static void
loop_reap(void)
{
    int queued = 0;
    CURLMsg *msg;

    while ((msg = curl_multi_info_read(loop.multi, &queued))) {
        if (msg->msg == CURLMSG_DONE) {
            CURLcode result = msg->data.result;
            struct store_watch *w = NULL;

            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
            attempt_end(w, result, false);
        }
    }
}

/* Lets curl read every connection it reads, whatever epoll said (see the
 * top of the file). Loop thread. */
static void
loop_sweep(void)
{
    curl_socket_t fds[WATCH_MAX_SOCKETS];
    size_t n = loop.n_reading;
    int running = 0;

    /* curl's socket callback changes the list while it runs. */
    memcpy(fds, loop.reading, n * sizeof(fds[0]));
    for (size_t i = 0; i < n; i++) {
        struct pollfd readable = {.fd = fds[i], .events = POLLIN};

        /* A socket with bytes to read is epoll's to report; curl reading
         * data from one without is what the sweep is for. */
        if (poll(&readable, 1, 0) != 0)
            continue;
        loop.sweeping = true;
        curl_multi_socket_action(loop.multi, fds[i], CURL_CSELECT_IN, &running);
        loop.sweeping = false;
    }
    curl_multi_socket_action(loop.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    loop.sweep_due = k3c_now_ms() + WATCH_SWEEP_MS;
}

/* Waits up to the next restart or curl timeout (at most 1 s) for the
 * sockets curl watches or a wake-up, lets curl handle what happened, and
 * sweeps when a sweep is due.
 * Loop thread, loop.mu not held. */
static void
loop_run_once(void)
{
    struct epoll_event evs[32];
    int64_t now = k3c_now_ms(), due = loop.next_due;
    int running = 0, n, timeout;
    long curl_ms = -1;

    /* Asked each round rather than kept from CURLMOPT_TIMERFUNCTION: curl
     * calls that only when its earliest timeout changes, so a timeout that
     * outlives the socket_action run for it would be forgotten. */
    curl_multi_timeout(loop.multi, &curl_ms);
    if (curl_ms >= 0 && now + curl_ms < due)
        due = now + curl_ms;
    if (loop.sweep_due < due)
        due = loop.sweep_due;
    timeout = due <= now ? 0 : (int)(due - now > 1000 ? 1000 : due - now);
    n = epoll_wait(loop.epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd, mask = 0;
        uint64_t count;

        if (fd == loop.wakefd) {
            if (read(loop.wakefd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                log_warn("(watch) wake: %s", strerror(errno));
            continue;
        }
        mask |= evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0;
        mask |= evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0;
        mask |= evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0;
        curl_multi_socket_action(loop.multi, fd, mask, &running);
    }
    if (curl_multi_timeout(loop.multi, &curl_ms) == CURLM_OK && curl_ms == 0)
        curl_multi_socket_action(loop.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (loop.sweep_due <= k3c_now_ms())
        loop_sweep();
    loop_reap();
}

static void *
loop_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&loop.mu);
    while (loop.list) {
        loop.next_due = k3c_now_ms() + 1000;
        loop_service_locked(k3c_now_ms());
        pthread_mutex_unlock(&loop.mu);
        /* attempt_end (a removed handle) may leave finished transfers. */
        loop_reap();
        loop_run_once();
        pthread_mutex_lock(&loop.mu);
    }
    loop.running = false;
    pthread_mutex_unlock(&loop.mu);
    return NULL;
}

struct store_watch *
store_watch_start(struct store *s, const char *prefix, int64_t from_rev,
                  const struct store_watch_ops *ops, void *userdata, struct k3c_err *err)
{
    struct store_watch *w;
    int rc = 0;

    /* "From now" is pinned to a revision before the watch starts, so even a
     * connection that breaks before etcd confirms the watch loses nothing. */
    if (from_rev <= 0) {
        if (store_revision(s, &from_rev, err) < 0)
            return NULL;
        from_rev++;
    }
    pthread_once(&loop.once, loop_init);
    w = k3c_xcalloc(1, sizeof(*w));
    w->store = s;
    w->prefix = k3c_xstrdup(prefix);
    w->ops = *ops;
    w->userdata = userdata;
    w->backoff_ms = 50;
    k3c_buf_init(&w->pending);
    k3c_buf_init(&w->error_body);
    atomic_init(&w->next_rev, from_rev);
    pthread_mutex_lock(&loop.mu);
    if (!loop.running) {
        pthread_attr_t attr;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&loop.thread, &attr, loop_thread, NULL);
        pthread_attr_destroy(&attr);
        loop.running = rc == 0;
    }
    if (rc == 0) {
        w->next = loop.list;
        loop.list = w;
    }
    pthread_mutex_unlock(&loop.mu);
    if (rc != 0) {
        k3c_err_sys(err, rc, "watch %s: start thread", prefix);
        k3c_buf_fini(&w->pending);
        k3c_buf_fini(&w->error_body);
        free(w->prefix);
        free(w);
        return NULL;
    }
    loop_wake();
    return w;
}

/* Never from a watch callback (the loop would wait for itself). */
void
store_watch_stop(struct store_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&loop.mu);
    w->stop_req = true;
    loop_wake();
    while (!w->stopped)
        pthread_cond_wait(&loop.stopped, &loop.mu);
    pthread_mutex_unlock(&loop.mu);
    curl_slist_free_all(w->headers);
    free(w->req);
    k3c_buf_fini(&w->pending);
    k3c_buf_fini(&w->error_body);
    free(w->prefix);
    free(w);
}

void
store_watch_reset_connection(struct store_watch *w)
{
    pthread_mutex_lock(&loop.mu);
    w->reset_req = true;
    pthread_mutex_unlock(&loop.mu);
    loop_wake();
}

int64_t
store_watch_next_revision(struct store_watch *w)
{
    return atomic_load(&w->next_rev);
}
