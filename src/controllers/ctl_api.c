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

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Remembered events per manager; the table is emptied when it is full. */
#define CTL_EVENTS_MAX 4096

static enum k3c_errkind
kind_for_status(long code, const char *reason)
{
    switch (code) {
    case 400:
        return K3C_E_BAD_REQUEST;
    case 404:
        return K3C_E_NOT_FOUND;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? K3C_E_EXISTS : K3C_E_CONFLICT;
    case 410:
        return K3C_E_COMPACTED;
    case 422:
        return K3C_E_INVALID;
    case 503:
        return K3C_E_UNAVAILABLE;
    case 504:
        return K3C_E_TIMEOUT;
    default:
        return K3C_E_INTERNAL;
    }
}

long
ctl_api_request(struct http_client *http, const char *method, const char *path,
                const char *content_type, const json_t *body, json_t **out, struct k3c_err *err)
{
    struct http_response resp;
    _cleanup_free_ char *data = NULL;
    json_t *reply = NULL;
    long status;

    if (out)
        *out = NULL;
    if (body)
        data = json_dumps(body, JSON_COMPACT);
    http_response_init(&resp);
    if (http_client_request(http, method, path, content_type ? content_type : "application/json",
                            data, data ? strlen(data) : 0, &resp, err) < 0) {
        http_response_fini(&resp);
        return -1;
    }
    status = resp.status;
    if (resp.body.len > 0)
        reply = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    if (status < 200 || status >= 300) {
        const char *msg = json_string_value(json_object_get(reply, "message"));
        const char *reason = json_string_value(json_object_get(reply, "reason"));

        k3c_err_set(err, kind_for_status(status, reason), "%s %s: %ld %s", method, path, status,
                    msg ? msg : "");
    }
    http_response_fini(&resp);
    if (out)
        *out = reply;
    else
        json_decref(reply);
    return status;
}

long
ctl_api(struct ctl *c, const char *method, const char *path, const char *content_type,
        const json_t *body, json_t **out, struct k3c_err *err)
{
    return ctl_api_request(ctl_manager_http(ctl_manager(c)), method, path, content_type, body, out,
                           err);
}

/* ---- events ---------------------------------------------------------------- */

struct ev_slot {
    char *id; /* uid/kind/name + type + reason + message */
    char *ns, *name;
    int count;
};

struct ctl_events {
    pthread_mutex_t mu;
    struct ev_slot *v;
    size_t n;
};

struct ctl_events *
ctl_events_new(void)
{
    struct ctl_events *ev = k3c_xcalloc(1, sizeof(*ev));

    pthread_mutex_init(&ev->mu, NULL);
    return ev;
}

static void
events_clear(struct ctl_events *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->v[i].id);
        free(ev->v[i].ns);
        free(ev->v[i].name);
    }
    free(ev->v);
    ev->v = NULL;
    ev->n = 0;
}

void
ctl_events_free(struct ctl_events *ev)
{
    if (!ev)
        return;
    events_clear(ev);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

/* Looks id up; returns the count it had (0: new) and bumps it, with the
 * event's name in name_out. */
static int
events_bump(struct ctl_events *ev, const char *id, const char *ns, const char *fresh_name,
            char *name_out, size_t len)
{
    int count = 0;

    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < ev->n; i++)
        if (strcmp(ev->v[i].id, id) == 0) {
            count = ev->v[i].count++;
            snprintf(name_out, len, "%s", ev->v[i].name);
            break;
        }
    if (count == 0) {
        if (ev->n >= CTL_EVENTS_MAX)
            events_clear(ev);
        ev->v = k3c_xrealloc(ev->v, (ev->n + 1) * sizeof(*ev->v));
        ev->v[ev->n++] =
            (struct ev_slot){k3c_xstrdup(id), k3c_xstrdup(ns), k3c_xstrdup(fresh_name), 1};
        snprintf(name_out, len, "%s", fresh_name);
    }
    pthread_mutex_unlock(&ev->mu);
    return count;
}

static void
events_forget(struct ctl_events *ev, const char *id)
{
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < ev->n; i++)
        if (strcmp(ev->v[i].id, id) == 0) {
            free(ev->v[i].id);
            free(ev->v[i].ns);
            free(ev->v[i].name);
            ev->v[i] = ev->v[--ev->n];
            break;
        }
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
          const char *reason, const char *msg, const char *now)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, s:s, "
                     "s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", ns,
                     "involvedObject", involved_object(obj), "reason", reason, "message", msg,
                     "type", type, "source", "component", ctl_name(c), "firstTimestamp", now,
                     "lastTimestamp", now, "count", 1, "reportingComponent", ctl_name(c),
                     "reportingInstance", ctl_manager_config(ctl_manager(c))->identity);
}

static void
event_post(struct ctl *c, const json_t *obj, const char *ns, const char *name, const char *type,
           const char *reason, const char *msg)
{
    char now[32];
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/events", ns);
    _cleanup_json_ json_t *ev = NULL;
    struct k3c_err err = {0};

    ctl_now_rfc3339(now, sizeof(now));
    ev = event_new(c, obj, ns, name, type, reason, msg, now);
    if (ev && ctl_api(c, "POST", path, NULL, ev, NULL, &err) < 0)
        log_debug("(%s) event %s: %s", ctl_name(c), reason, err.msg);
}

/* PATCHes count and lastTimestamp; false when the event is gone. */
static bool
event_bump(struct ctl *c, const char *ns, const char *name, int count)
{
    char now[32];
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/%s/events/%s", ns, name);
    _cleanup_json_ json_t *patch = NULL;
    struct k3c_err err = {0};

    ctl_now_rfc3339(now, sizeof(now));
    patch = json_pack("{s:i, s:s}", "count", count, "lastTimestamp", now);
    return ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, &err) != 404;
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
    char msg[1024], fresh[300], name[300];
    unsigned char rnd[8];
    _cleanup_free_ char *id = NULL;
    va_list ap;
    int count;

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
    id = k3c_xasprintf("%s/%s/%s/%s\n%s\n%s\n%s", uid ? uid : "", kind ? kind : "", ns, oname, type,
                       reason, msg);
    count = events_bump(ctl_manager_events(ctl_manager(c)), id, ns, fresh, name, sizeof(name));
    if (count > 0 && event_bump(c, ns, name, count + 1))
        return;
    if (count > 0) {
        events_forget(ctl_manager_events(ctl_manager(c)), id);
        events_bump(ctl_manager_events(ctl_manager(c)), id, ns, fresh, name, sizeof(name));
    }
    event_post(c, obj, ns, name, type, reason, msg);
}
