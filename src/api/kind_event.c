/* SPDX-License-Identifier: Apache-2.0
 * kind_event.c - Event: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/event/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_event[] = {
    {"Last Seen", "string", "",
     "The time at which the most recent occurrence of this event was recorded.", 0},
    {"Type", "string", "",
     "Type of this event (Normal, Warning), new types could be added in the future", 0},
    {"Reason", "string", "",
     "This should be a short, machine understandable string that gives the reason for the "
     "transition into the object's current status.",
     0},
    {"Object", "string", "", "The object that this event is about.", 0},
    {"Subobject", "string", "",
     "If referring to a piece of an object instead of an entire object, this string should "
     "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. "
     "For example, if the object reference is to a container within a pod, this would take on a "
     "value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container "
     "that triggered the event) or if no container name is specified \"spec.containers[2]\" "
     "(container with index 2 in this pod). This syntax is chosen only to have some well-defined "
     "way of referencing a part of an object.",
     1},
    {"Source", "string", "",
     "The component reporting this event. Should be a short machine understandable string.", 1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "",
     "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1},
    {"Count", "string", "", "The number of times this event has occurred.", 1},
    {"Name", "string", "name", DESC_NAME, 1},
    COL_END,
};

/* "kind/name" with the kind lower-cased, or just the kind. */
static json_t *
event_object_cell(const json_t *ev)
{
    const char *kind = api_or_else(api_str_at(ev, "involvedObject.kind"), "");
    const char *name = api_or_else(api_str_at(ev, "involvedObject.name"), "");
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (const char *p = kind; *p; p++) {
        char c = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;

        k3c_buf_append(&b, &c, 1);
    }
    if (*name)
        k3c_buf_appendf(&b, "/%s", name);
    return api_buf_cell(&b);
}

/* formatEventSource: component (or reportingController), then ", host". */
static json_t *
event_source_cell(const json_t *ev)
{
    const char *comp = api_or_else(api_str_at(ev, "source.component"),
                                   api_or_else(api_str_at(ev, "reportingComponent"), ""));
    const char *host = api_or_else(api_str_at(ev, "source.host"),
                                   api_or_else(api_str_at(ev, "reportingInstance"), ""));

    if (!*host)
        return json_string(comp);
    return json_sprintf("%s, %s", comp, host);
}

static json_t *
event_message_cell(const json_t *ev)
{
    const char *m = api_or_else(api_str_at(ev, "message"), "");
    size_t len = strlen(m);

    while (*m == ' ' || *m == '\t' || *m == '\n' || *m == '\r') {
        m++;
        len--;
    }
    while (len > 0 && strchr(" \t\n\r", m[len - 1]))
        len--;
    return json_stringn(m, len);
}

json_t *
api_row_event(const json_t *obj, int64_t now_s)
{
    const char *first_ts = api_str_at(obj, "firstTimestamp");
    json_t *first = api_since_cell(first_ts ? first_ts : api_str_at(obj, "eventTime"), now_s);
    json_t *last = NULL;
    json_int_t count = api_int_at(obj, "count", 0);

    if (api_json_path(obj, "series")) {
        last = api_since_cell(api_str_at(obj, "series.lastObservedTime"), now_s);
        count = api_int_at(obj, "series.count", 0);
    } else {
        last = api_str_at(obj, "lastTimestamp")
                   ? api_since_cell(api_str_at(obj, "lastTimestamp"), now_s)
                   : json_incref(first);
        if (count == 0)
            count = 1;
    }
    return json_pack("[o s s o s o o o I o]", last, api_or_else(api_str_at(obj, "type"), ""),
                     api_or_else(api_str_at(obj, "reason"), ""), event_object_cell(obj),
                     api_or_else(api_str_at(obj, "involvedObject.fieldPath"), ""),
                     event_source_cell(obj), event_message_cell(obj), first, count,
                     api_name_cell(obj));
}
