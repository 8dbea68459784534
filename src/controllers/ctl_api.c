/* SPDX-License-Identifier: Apache-2.0
 * ctl_api.c - writes of the control loops: HTTPS requests to this server's
 * own API as system:admin (libcurl through client.h, connections kept
 * alive), Status replies turned into k3c_err, and the Event recorder with
 * upstream's aggregation of repeats (count + lastTimestamp). */
#define LOG_COMPONENT "controllers"
#include "controllers/ctl-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Remembered events per manager; the table is emptied when it is full. */
#define CTL_EVENTS_MAX 4096

long
ctl_api(struct ctl *c, const char *method, const char *path, const char *content_type,
        const json_t *body, json_t **out, struct k3c_err *err)
{
    return http_client_json(ctl_manager_http(ctl_manager(c)), method, path, content_type, body, out,
                            err);
}

/* ---- events ----------------------------------------------------------------
 * As upstream's recorder: ctl_event only queues (a sync never waits on an
 * Event write); one sender thread per manager writes them in order, so
 * aggregation of repeats (count + lastTimestamp) needs no lock on the API
 * side. A full queue drops new events, as client-go's broadcaster does. */

#define CTL_EVENTS_QUEUE_MAX 4096
#define CTL_EVENTS_FLUSH_MS  2000

struct ev_slot {
    char *id; /* uid/kind/name + type + reason + message */
    char *name;
    int count;
};

struct ev_item {
    struct ev_item *next;
    char *id, *ns, *fresh_name;
    json_t *event; /* the Event to POST the first time */
};

struct ctl_events {
    struct http_client *http; /* borrowed */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct ev_item *head, *tail;
    size_t queued;
    bool stop, started;
    pthread_t thread;
    /* sender thread only */
    struct ev_slot *v;
    size_t n;
};

static void
ev_item_free(struct ev_item *it)
{
    free(it->id);
    free(it->ns);
    free(it->fresh_name);
    json_decref(it->event);
    free(it);
}

static void
slots_clear(struct ctl_events *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->v[i].id);
        free(ev->v[i].name);
    }
    free(ev->v);
    ev->v = NULL;
    ev->n = 0;
}

static struct ev_slot *
slot_find(struct ctl_events *ev, const char *id)
{
    for (size_t i = 0; i < ev->n; i++)
        if (strcmp(ev->v[i].id, id) == 0)
            return &ev->v[i];
    return NULL;
}

static void
slot_add(struct ctl_events *ev, const char *id, const char *name)
{
    if (ev->n >= CTL_EVENTS_MAX)
        slots_clear(ev);
    ev->v = k3c_xrealloc(ev->v, (ev->n + 1) * sizeof(*ev->v));
    ev->v[ev->n++] = (struct ev_slot){k3c_xstrdup(id), k3c_xstrdup(name), 1};
}

/* PATCHes count and lastTimestamp; false when the event is gone. */
static bool
event_bump(struct ctl_events *ev, const char *ns, const char *name, int count)
{
    char now[32];
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/events/%s", ns, name);
    _cleanup_json_ json_t *patch = NULL;
    struct k3c_err err = {0};

    ctl_now_rfc3339(now, sizeof(now));
    patch = json_pack("{s:i, s:s}", "count", count, "lastTimestamp", now);
    return http_client_json(ev->http, "PATCH", path, "application/merge-patch+json", patch, NULL,
                            &err) != 404;
}

static void
event_write(struct ctl_events *ev, struct ev_item *it)
{
    struct ev_slot *slot = slot_find(ev, it->id);
    _cleanup_free_ char *path = NULL;
    struct k3c_err err = {0};

    if (slot) {
        slot->count++;
        if (event_bump(ev, it->ns, slot->name, slot->count))
            return;
        /* Deleted meanwhile: record it anew. */
        slot->count = 1;
        free(slot->name);
        slot->name = k3c_xstrdup(it->fresh_name);
    } else {
        slot_add(ev, it->id, it->fresh_name);
    }
    path = k3c_xasprintf("/api/v1/namespaces/%s/events", it->ns);
    if (http_client_json(ev->http, "POST", path, NULL, it->event, NULL, &err) < 0 ||
        err.kind != K3C_E_NONE)
        log_debug("event %s: %s", json_string_value(json_object_get(it->event, "reason")), err.msg);
}

static void *
events_thread(void *arg)
{
    struct ctl_events *ev = arg;
    int64_t flush_deadline = 0;

    pthread_mutex_lock(&ev->mu);
    for (;;) {
        struct ev_item *it;

        while (!ev->stop && !ev->head)
            pthread_cond_wait(&ev->cond, &ev->mu);
        if (ev->stop && !flush_deadline)
            flush_deadline = k3c_now_ms() + CTL_EVENTS_FLUSH_MS;
        if (!ev->head || (ev->stop && k3c_now_ms() > flush_deadline))
            break;
        it = ev->head;
        ev->head = it->next;
        if (!ev->head)
            ev->tail = NULL;
        ev->queued--;
        pthread_mutex_unlock(&ev->mu);
        event_write(ev, it);
        ev_item_free(it);
        pthread_mutex_lock(&ev->mu);
    }
    pthread_mutex_unlock(&ev->mu);
    return NULL;
}

struct ctl_events *
ctl_events_new(struct http_client *http)
{
    struct ctl_events *ev = k3c_xcalloc(1, sizeof(*ev));

    ev->http = http;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cond, NULL);
    ev->started = pthread_create(&ev->thread, NULL, events_thread, ev) == 0;
    return ev;
}

void
ctl_events_free(struct ctl_events *ev)
{
    struct ev_item *it, *next;

    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stop = true;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->mu);
    if (ev->started)
        pthread_join(ev->thread, NULL);
    for (it = ev->head; it; it = next) {
        next = it->next;
        ev_item_free(it);
    }
    slots_clear(ev);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

static void
events_push(struct ctl_events *ev, struct ev_item *it)
{
    pthread_mutex_lock(&ev->mu);
    if (ev->stop || !ev->started || ev->queued >= CTL_EVENTS_QUEUE_MAX) {
        pthread_mutex_unlock(&ev->mu);
        ev_item_free(it);
        return;
    }
    if (ev->tail)
        ev->tail->next = it;
    else
        ev->head = it;
    ev->tail = it;
    ev->queued++;
    pthread_cond_signal(&ev->cond);
    pthread_mutex_unlock(&ev->mu);
}

static json_t *
involved_object(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    json_t *io = json_object();
    static const char *const fields[] = {"namespace", "name", "uid", "resourceVersion"};

    json_object_set(io, "kind", json_object_get(obj, "kind"));
    json_object_set(io, "apiVersion", json_object_get(obj, "apiVersion"));
    for (size_t i = 0; i < K3C_ARRAY_SIZE(fields); i++) {
        json_t *v = json_object_get(meta, fields[i]);

        if (v)
            json_object_set(io, fields[i], v);
    }
    return io;
}

static json_t *
event_new(struct ctl *c, const json_t *obj, const char *ns, const char *name, const char *type,
          const char *reason, const char *msg)
{
    char now[32];

    ctl_now_rfc3339(now, sizeof(now));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, s:s, "
                     "s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", ns,
                     "involvedObject", involved_object(obj), "reason", reason, "message", msg,
                     "type", type, "source", "component", ctl_name(c), "firstTimestamp", now,
                     "lastTimestamp", now, "count", 1, "reportingComponent", ctl_name(c),
                     "reportingInstance", ctl_manager_config(ctl_manager(c))->identity);
}

void
ctl_event(struct ctl *c, const json_t *obj, const char *type, const char *reason, const char *fmt,
          ...)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *oname = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    char msg[1024], fresh[300];
    unsigned char rnd[8];
    struct ev_item *it;
    va_list ap;

    if (!oname || !type || !reason)
        return;
    if (!ns || !*ns)
        ns = "default"; /* upstream records cluster-scoped objects' events there */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    k3c_random_bytes(rnd, sizeof(rnd));
    snprintf(fresh, sizeof(fresh), "%.200s.%02x%02x%02x%02x%02x%02x%02x%02x", oname, rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    it = k3c_xcalloc(1, sizeof(*it));
    it->id = k3c_xasprintf("%s/%s/%s/%s\n%s\n%s\n%s", uid ? uid : "", kind ? kind : "", ns, oname,
                           type, reason, msg);
    it->ns = k3c_xstrdup(ns);
    it->fresh_name = k3c_xstrdup(fresh);
    it->event = event_new(c, obj, ns, fresh, type, reason, msg);
    if (!it->event) {
        ev_item_free(it);
        return;
    }
    events_push(ctl_manager_events(ctl_manager(c)), it);
}
