/* SPDX-License-Identifier: Apache-2.0
 * etcd_ops.h - keeping the embedded etcd healthy for months on a small disk,
 * and getting it back: a cron parser (etcd_cron.c), snapshots over etcd's
 * JSON gateway (etcd_snapshot.c), the per-server maintenance thread: defrag,
 * NOSPACE alarm, scheduled snapshots, the token hash (etcd_maint.c), and
 * cluster reset / snapshot restore (etcd_reset.c). See docs/etcd.md. */
#ifndef K3C_ETCD_ETCD_OPS_H
#define K3C_ETCD_ETCD_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "etcd/etcd.h"

/* ---- cron (etcd_cron.c) ------------------------------------------------ */

/* A parsed cron schedule: "min hour dom month dow", or six fields with
 * seconds first; each field "*", "N", "A-B", any of them "/STEP", or a
 * comma list. Names (jan, mon) and the @hourly/@daily/@weekly/@monthly/
 * @yearly shorthands are accepted. dom and dow combine as in Vixie cron
 * (either matches when both are restricted). */
struct etcd_cron {
    uint64_t sec, min;  /* bit n: second/minute n */
    uint32_t hour, dom; /* bit n: hour n, day of month n (1-31) */
    uint16_t month;     /* bit n: month n (1-12) */
    uint8_t dow;        /* bit n: weekday n (0 = Sunday) */
    bool dom_star, dow_star;
};

/* INVALID with a message naming the bad field. */
int etcd_cron_parse(const char *spec, struct etcd_cron *out, struct k3c_err *err);
/* The first time strictly after `after` (Unix seconds) that matches, in the
 * local time zone; -1 when none within five years. */
time_t etcd_cron_next(const struct etcd_cron *c, time_t after);

/* ---- snapshots (etcd_snapshot.c) --------------------------------------- */

/* Where and how to reach the local member. */
struct etcd_snapshot_config {
    const char *client_url; /* https://127.0.0.1:2379 */
    const char *ca_file, *cert_file, *key_file;
    const char *dir;       /* snapshot directory, created 0700 */
    const char *node_name; /* part of file names */
};

struct etcd_snapshot_file {
    char *name; /* file name, "<name>-<node>-<unix ts>" */
    char *path;
    long long size;
    int64_t created; /* Unix seconds from the name (mtime if it has none) */
};

struct etcd_snapshot_list {
    struct etcd_snapshot_file *items; /* oldest first */
    size_t n;
};

void etcd_snapshot_list_fini(struct etcd_snapshot_list *l);

/* True when name is a usable snapshot name: [A-Za-z0-9._-], no leading dot. */
bool etcd_snapshot_name_ok(const char *name);
/* Streams the member's database (maintenance/snapshot) to
 * <dir>/<name>-<node>-<now>, written to a .part file, fsynced and renamed.
 * *path_out (may be NULL; caller frees) gets the file. */
int etcd_snapshot_save(const struct etcd_snapshot_config *cfg, const char *name, char **path_out,
                       struct k3c_err *err);
/* Snapshot files in cfg->dir (a missing dir is an empty list). */
int etcd_snapshot_ls(const struct etcd_snapshot_config *cfg, struct etcd_snapshot_list *out,
                     struct k3c_err *err);
/* Removes <dir>/<file>; NOT_FOUND, INVALID for names with a slash. */
int etcd_snapshot_delete(const struct etcd_snapshot_config *cfg, const char *file,
                         struct k3c_err *err);
/* Deletes the oldest "<name>-<node>-*" snapshots beyond retention. Returns
 * how many it deleted. */
int etcd_snapshot_prune(const struct etcd_snapshot_config *cfg, const char *name, int retention,
                        struct k3c_err *err);

/* ---- the maintenance thread of `k3c server` (etcd_maint.c) ------------- */

struct etcd_maint_config {
    struct etcd_snapshot_config snap;
    const char *member_name;
    const char *api_url; /* the local API, for Events and the snapshot ConfigMap */
    const char *api_ca_file, *api_cert_file, *api_key_file;
    const char *token_secret; /* its sha256 is kept at /k3c/bootstrap/token-hash */
    const char *cron;         /* NULL or "": no scheduled snapshots */
    int retention;
    long long quota_bytes; /* etcd's quota, to decide when NOSPACE may be disarmed */
    int alarm_period_ms;   /* how often alarms are checked; 0: 5000 */
};

struct etcd_maint;

/* Defragments the member at client_url when its file is far past its live
 * data (at least half of it, and 4 MiB, free after compaction), as K3s does
 * at start. Best effort: logs what it did, errors only when etcd failed. */
int etcd_defrag_if_bloated(const char *client_url, const char *ca, const char *cert,
                           const char *key, struct k3c_err *err);

/* Validates cfg (the cron spec), records the token hash, starts the thread. */
struct etcd_maint *etcd_maint_start(const struct etcd_maint_config *cfg, struct k3c_err *err);
/* Stops the thread and frees. NULL is a no-op. */
void etcd_maint_stop(struct etcd_maint *m);

/* ---- cluster reset and restore (etcd_reset.c) -------------------------- */

/* The key holding the sha256 (hex) of the cluster's token secret. */
#define ETCD_TOKEN_HASH_KEY "/k3c/bootstrap/token-hash"

/* The secret of a token: what follows "::server:" (or "::") in a K10 token,
 * else the whole string. Caller frees. */
char *etcd_token_secret(const char *token);

/* Moves data_dir aside to <data_dir>-old-<unix ts> (returned; caller frees)
 * and restores file into data_dir as a one-member cluster of member_name
 * with peer URL peer_url, with Debian's etcdctl (etcd 3.4's `snapshot
 * restore`). On failure the old data is moved back. */
int etcd_restore_snapshot(const char *file, const char *data_dir, const char *member_name,
                          const char *peer_url, char **old_dir_out, struct k3c_err *err);

/* After a restore: compares the token hash stored in the restored data with
 * secret's; a mismatch is INVALID with a message that says so. A snapshot
 * without a hash (older than this check) passes, and gets one. */
int etcd_token_hash_check(const char *client_url, const char *ca, const char *cert, const char *key,
                          const char *secret, struct k3c_err *err);

/* ---- /metrics (issue #21, etcd_gateway.c) ------------------------------ */

/* The member's database file size and the part of it in use (etcd's
 * etcd_mvcc_db_total_size_in_bytes / _in_use_in_bytes), asked within 2 s. */
int etcd_db_sizes(const char *client_url, const char *ca, const char *cert, const char *key,
                  int64_t *size, int64_t *in_use, struct k3c_err *err);

#endif
