/* SPDX-License-Identifier: Apache-2.0
 * cron.h - cron schedules as CronJobs read them (robfig/cron v3's
 * ParseStandard, which kube-controller-manager uses): five fields
 * "minute hour day-of-month month day-of-week", each "*", "?", "N", "A-B",
 * any of them "/STEP", or a comma list, month and weekday names (jan, mon),
 * the descriptors @yearly @annually @monthly @weekly @daily @midnight
 * @hourly and "@every <duration>"; and the next time a schedule fires in
 * an IANA time zone read from the system's tzdata (TZif files). Pure but
 * for reading zone files. */
#ifndef K3C_BASE_CRON_H
#define K3C_BASE_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct cron_schedule {
    uint64_t min;   /* bit n: minute n */
    uint32_t hour;  /* bit n: hour n */
    uint32_t dom;   /* bit n: day of month n (1-31) */
    uint16_t month; /* bit n: month n (1-12) */
    uint8_t dow;    /* bit n: weekday n (0 = Sunday) */
    /* "*" or "?" (no step > 1) in the day fields: both must match then,
     * otherwise either (robfig's starBit rule) */
    bool dom_star, dow_star;
    int64_t every_s; /* "@every": fires every every_s seconds (> 0); the fields are unused */
};

/* Parses spec. INVALID with robfig/cron's message ("expected exactly 5
 * fields, found 1: [x]", "end of range (60) above maximum (59): 0-60", ...),
 * which upstream's CronJob validation shows. A leading "TZ=<zone> " or
 * "CRON_TZ=<zone> " is skipped (CronJob validation rejects it). */
int cron_parse(const char *spec, struct cron_schedule *out, struct k3c_err *err);

struct cron_tz;

/* The zone name ("Europe/Berlin", "UTC") from $ZONEINFO or
 * /usr/share/zoneinfo; NULL name: the local zone (/etc/localtime, else UTC).
 * INVALID "unknown time zone <name>" as Go's time.LoadLocation says. */
struct cron_tz *cron_tz_load(const char *name, struct k3c_err *err);
void cron_tz_free(struct cron_tz *tz);
/* Seconds east of UTC at Unix time t. tz NULL: UTC. */
int cron_tz_offset(const struct cron_tz *tz, int64_t t);

/* The first time strictly after `after` (Unix seconds) at which s fires,
 * in zone tz (NULL: UTC); -1 when none within five years (e.g. "0 0 30 2 *"). */
int64_t cron_next(const struct cron_schedule *s, const struct cron_tz *tz, int64_t after);

/* Upstream's mostRecentScheduleTime for a CronJob: the latest time in
 * (earliest, now] at which s fires, or -1 when there is none. *missed is
 * its estimate of the starts missed since earliest (0 when at most the one
 * returned; upstream warns TooManyMissedTimes above 100). */
int64_t cron_most_recent(const struct cron_schedule *s, const struct cron_tz *tz, int64_t earliest,
                         int64_t now, int64_t *missed);

#endif
