/* SPDX-License-Identifier: Apache-2.0
 * api_http_loop.c - what lets a small fixed pool of libmicrohttpd threads
 * serve every API connection (issue #20, watch fan-out):
 *
 * - workers: a request's handler may block (etcd, a cache sync, a kubelet),
 *   so it runs on a worker with its connection suspended; the worker queues
 *   the reply and resumes the connection. Workers start as requests come
 *   and end after WORKER_IDLE_MS without work, so an idle server keeps none.
 * - parked streams: a watch (or a followed log) with nothing to send
 *   suspends its connection here. One hub thread resumes it when its watch
 *   cache has something for it (the caches' watch hook kicks the hub), when
 *   its fd is readable, when its client hangs up, or on a one-second tick
 *   (bookmarks, timeoutSeconds, shutdown). An event for 100 watchers is then
 *   one pass of the hub and of the pool threads over the streams, not 100
 *   threads woken. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WORKER_IDLE_MS 10000
#define WORKER_STACK   (512 * 1024)
#define HUB_TICK_MS    1000
#define HUB_STACK      (256 * 1024)

/* A worker: idle ones wait on their own condition in a LIFO stack, so the
 * one that idled last takes the next request and the others time out. */
struct worker {
    pthread_cond_t cv;
    struct api_request *r; /* the job handed over; NULL: none */
    int (*dispatch)(struct api_request *r);
    struct worker *next_idle;
    struct api_http_loop *l;
};

struct parked {
    struct api_request *r;
    int wake_fd, client_fd;
    bool (*ready)(void *ud); /* NULL: only the fds and the shutdown wake it */
    void *ud;
    bool due; /* resume on this pass */
    struct parked *prev, *next;
};

struct api_http_loop {
    struct api_server *srv;
    pthread_mutex_t mu;
    pthread_cond_t ended; /* a worker ended */
    struct worker *idle;  /* the idle workers, last idled first */
    int workers;
    bool stopping;

    struct parked *parked;          /* a list; only the hub removes */
    atomic_int n_parked;            /* read without mu by the watch hook */
    int kick_fd;                    /* eventfd: the hub's poll wakes on it */
    uint64_t drain_req, drain_done; /* api_http_loop_drain's requests, and those done */
    pthread_cond_t drained;         /* drain_done moved */
    pthread_t hub;
    bool hub_running;
    struct api_http_loop *next_loop; /* in loops (the watch hook's list) */
};

/* ---- the watch caches' hook: every loop of the process ------------------- */

static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;
static struct api_http_loop *loops;

static void
loop_kick(struct api_http_loop *l)
{
    uint64_t one = 1;

    if (write(l->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("hub kick: %s", strerror(errno));
}

/* Thread: whichever changed a cache (the store watch loop, a relister). */
static void
on_cache_changed(void)
{
    pthread_mutex_lock(&loops_mu);
    for (struct api_http_loop *l = loops; l; l = l->next_loop)
        if (atomic_load(&l->n_parked) > 0) /* a park kicks for itself too */
            loop_kick(l);
    pthread_mutex_unlock(&loops_mu);
}

/* ---- workers ------------------------------------------------------------- */

static void
run_job(struct api_request *r, int (*dispatch)(struct api_request *r))
{
    r->dispatch_ret = dispatch(r);
    r->dispatched = true;
    /* r may be gone once resumed: nothing of it after this line. */
    MHD_resume_connection(r->conn);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct api_http_loop *l = w->l;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct api_request *r = w->r;

        if (r) {
            w->r = NULL;
            pthread_mutex_unlock(&l->mu);
            run_job(r, w->dispatch);
            pthread_mutex_lock(&l->mu);
        }
        if (l->stopping)
            break;
        w->next_idle = l->idle;
        l->idle = w;
        while (!w->r && !l->stopping)
            if (!k3c_cond_wait_until(&w->cv, &l->mu, k3c_now_ms() + WORKER_IDLE_MS))
                break;
        if (!w->r) {
            /* Timed out or stopping: leave the stack. */
            for (struct worker **pp = &l->idle; *pp; pp = &(*pp)->next_idle)
                if (*pp == w) {
                    *pp = w->next_idle;
                    break;
                }
            break;
        }
    }
    l->workers--;
    pthread_cond_broadcast(&l->ended);
    pthread_mutex_unlock(&l->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return NULL;
}

/* A new worker starting with r. mu held. */
static bool
worker_spawn_locked(struct api_http_loop *l, struct api_request *r,
                    int (*dispatch)(struct api_request *r))
{
    struct worker *w = k3c_xcalloc(1, sizeof(*w));
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    k3c_cond_init(&w->cv);
    w->l = l;
    w->r = r;
    w->dispatch = dispatch;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    rc = pthread_create(&t, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_error("cannot start an API worker: %s", strerror(rc));
        pthread_cond_destroy(&w->cv);
        free(w);
        return false;
    }
    l->workers++;
    return true;
}

int
api_http_loop_submit(struct api_http_loop *l, struct api_request *r,
                     int (*dispatch)(struct api_request *r))
{
    struct worker *w;

    /* Thread: an MHD pool thread, inside the access handler. */
    pthread_mutex_lock(&l->mu);
    if (l->stopping) { /* shutting down: no more workers */
        pthread_mutex_unlock(&l->mu);
        r->dispatched = true;
        return dispatch(r);
    }
    MHD_suspend_connection(r->conn);
    /* Every handler may block: a request never waits behind another. */
    if ((w = l->idle)) {
        l->idle = w->next_idle;
        w->r = r;
        w->dispatch = dispatch;
        pthread_cond_signal(&w->cv);
    } else if (!worker_spawn_locked(l, r, dispatch)) {
        pthread_mutex_unlock(&l->mu);
        run_job(r, dispatch); /* no thread to be had: here rather than never */
        return MHD_YES;
    }
    pthread_mutex_unlock(&l->mu);
    return MHD_YES;
}

/* ---- parked streams ------------------------------------------------------- */

ssize_t
api_http_park(struct api_request *r, int wake_fd, bool (*ready)(void *ud), void *ud)
{
    struct api_http_loop *l = r->srv->http_loop;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct parked *p;

    if (r->client_gone || (ci && api_conn_draining(r->srv, ci->connect_fd))) {
        r->client_gone = true;
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    p = k3c_xcalloc(1, sizeof(*p));
    p->r = r;
    p->wake_fd = wake_fd;
    p->client_fd = ci ? ci->connect_fd : -1;
    p->ready = ready;
    p->ud = ud;
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        free(p);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    p->next = l->parked;
    if (p->next)
        p->next->prev = p;
    l->parked = p;
    l->n_parked++;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&l->mu);
    /* The hub polls this fd from its next pass, and looks at ready() once
     * more: an event may have come since the reader looked. */
    loop_kick(l);
    return 0;
}

/* mu held. Takes p off the list and resumes its connection. */
static void
unpark_locked(struct api_http_loop *l, struct parked *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->parked = p->next;
    if (p->next)
        p->next->prev = p->prev;
    l->n_parked--;
    MHD_resume_connection(p->r->conn);
    free(p);
}

/* One pollfd per parked stream (its client socket, and its wake fd when it
 * has one), plus the kick fd first. mu held. */
static size_t
hub_pollset_locked(struct api_http_loop *l, struct pollfd **fds, struct parked ***who, size_t *cap)
{
    size_t n = 0;
    size_t need = 1 + 2 * (size_t)l->n_parked;

    if (need > *cap) {
        *cap = need * 2;
        *fds = k3c_xrealloc(*fds, *cap * sizeof(**fds));
        *who = k3c_xrealloc(*who, *cap * sizeof(**who));
    }
    (*fds)[n] = (struct pollfd){.fd = l->kick_fd, .events = POLLIN};
    (*who)[n++] = NULL;
    for (struct parked *p = l->parked; p; p = p->next) {
        if (p->client_fd >= 0) {
            (*fds)[n] = (struct pollfd){.fd = p->client_fd, .events = POLLRDHUP};
            (*who)[n++] = p;
        }
        if (p->wake_fd >= 0) {
            (*fds)[n] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
            (*who)[n++] = p;
        }
    }
    return n;
}

/* Marks the streams on the draining address gone, for this pass to resume
 * (api_http_loop_drain). mu held. */
static void
hub_drain_locked(struct api_http_loop *l)
{
    for (struct parked *p = l->parked; p; p = p->next)
        if (api_conn_draining(l->srv, p->client_fd)) {
            p->r->client_gone = true;
            p->due = true;
        }
    l->drain_done = l->drain_req;
    pthread_cond_broadcast(&l->drained);
}

static void *
hub_main(void *arg)
{
    struct api_http_loop *l = arg;
    struct pollfd *fds = NULL;
    struct parked **who = NULL;
    size_t cap = 0;

    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        size_t n = hub_pollset_locked(l, &fds, &who, &cap);
        uint64_t kicks;

        pthread_mutex_unlock(&l->mu);
        if (poll(fds, n, HUB_TICK_MS) < 0 && errno != EINTR)
            k3c_sleep_ms(10);
        if (fds[0].revents & POLLIN && read(l->kick_fd, &kicks, sizeof(kicks)) < 0)
            kicks = 0;
        pthread_mutex_lock(&l->mu);
        /* Streams parked since the pollset was built are not in it: they
         * are at the head of the list, before every entry of `who`. */
        for (size_t i = 1; i < n; i++) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == who[i]->client_fd &&
                (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
                who[i]->r->client_gone = true;
            who[i]->due = true;
        }
        if (l->drain_done != l->drain_req)
            hub_drain_locked(l);
        for (struct parked *p = l->parked, *next; p; p = next) {
            next = p->next;
            if (p->due || (p->ready && p->ready(p->ud)))
                unpark_locked(l, p);
        }
    }
    while (l->parked)
        unpark_locked(l, l->parked);
    pthread_mutex_unlock(&l->mu);
    free(fds);
    free(who);
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------- */

struct api_http_loop *
api_http_loop_new(struct api_server *srv)
{
    struct api_http_loop *l = k3c_xcalloc(1, sizeof(*l));
    pthread_attr_t attr;

    l->srv = srv;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->ended, NULL);
    k3c_cond_init(&l->drained);
    l->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->kick_fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        api_http_loop_free(l);
        return NULL;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, HUB_STACK);
    l->hub_running = pthread_create(&l->hub, &attr, hub_main, l) == 0;
    pthread_attr_destroy(&attr);
    if (!l->hub_running) {
        api_http_loop_free(l);
        return NULL;
    }
    pthread_mutex_lock(&loops_mu);
    l->next_loop = loops;
    loops = l;
    pthread_mutex_unlock(&loops_mu);
    watch_cache_set_watch_hook(on_cache_changed);
    return l;
}

void
api_http_loop_stop(struct api_http_loop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    for (struct worker *w = l->idle; w; w = w->next_idle)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&l->mu);
    loop_kick(l);
    if (l->hub_running) {
        pthread_join(l->hub, NULL);
        l->hub_running = false;
    }
    /* Busy workers finish their request (and resume its connection). */
    pthread_mutex_lock(&l->mu);
    while (l->workers > 0)
        pthread_cond_wait(&l->ended, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void
api_http_loop_free(struct api_http_loop *l)
{
    if (!l)
        return;
    api_http_loop_stop(l);
    pthread_mutex_lock(&loops_mu);
    for (struct api_http_loop **pp = &loops; *pp; pp = &(*pp)->next_loop)
        if (*pp == l) {
            *pp = l->next_loop;
            break;
        }
    pthread_mutex_unlock(&loops_mu);
    if (l->kick_fd >= 0)
        close(l->kick_fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->ended);
    pthread_cond_destroy(&l->drained);
    free(l);
}

void
api_http_loop_drain(struct api_http_loop *l, int64_t max_ms)
{
    int64_t deadline = k3c_now_ms() + max_ms;
    uint64_t want;

    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    want = ++l->drain_req;
    pthread_mutex_unlock(&l->mu);
    loop_kick(l);
    pthread_mutex_lock(&l->mu);
    while (l->drain_done < want && !l->stopping && k3c_now_ms() < deadline)
        k3c_cond_wait_until(&l->drained, &l->mu, deadline);
    pthread_mutex_unlock(&l->mu);
}

void
api_http_loop_counts(struct api_http_loop *l, int *workers, int *parked)
{
    pthread_mutex_lock(&l->mu);
    *workers = l->workers;
    *parked = atomic_load(&l->n_parked);
    pthread_mutex_unlock(&l->mu);
}
