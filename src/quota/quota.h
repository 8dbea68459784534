/* SPDX-License-Identifier: Apache-2.0
 * quota.h - the arithmetic of v1 ResourceQuota and LimitRange (issue #16),
 * shared by the API server's admission (src/api/kind_quota.c) and the
 * quota status controller (src/controllers/resourcequota.c). Pure: JSON in,
 * JSON or numbers out; no I/O.
 *
 * Amounts are int64 thousandths of a unit ("milli"), as Quantity.MilliValue:
 * 1 cpu = 1000, 1Mi of memory = 1048576000, one pod = 1000. */
#ifndef K3C_QUOTA_QUOTA_H
#define K3C_QUOTA_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A quantity (string or number) in thousandths. False if malformed. */
bool quota_parse(const json_t *v, int64_t *milli);

/* Quantity.String()'s canonical form of milli: "500m", "2", "1k", "3Mi"
 * (binary suffixes when like, the value it is shown next to, has one).
 * Caller free()s. */
char *quota_format(int64_t milli, const char *like);

/* A pod's aggregate request (want_limits false) or limit of resource
 * ("cpu", "memory", "nvidia.com/gpu"): the sum over its containers, at
 * least the largest init container's, plus spec.overhead (PodRequests). */
int64_t quota_pod_amount(const json_t *pod, const char *resource, bool want_limits);

/* Whether the quota counts obj, an object of resource plural: terminal
 * pods never count; a quota with scopes or a scopeSelector counts only
 * pods that match every scope (Terminating, NotTerminating, BestEffort,
 * NotBestEffort, PriorityClass). */
bool quota_counts(const json_t *quota, const char *plural, const json_t *obj);

/* Adds to usage (a JSON object: resource name -> integer milli) what obj
 * (resource plural in group, "" for core) uses of each name in hard:
 * object counts ("pods", "count/deployments.apps"), compute of pods
 * ("requests.cpu", "cpu", "limits.memory"), services.nodeports and
 * services.loadbalancers, requests.storage of claims. Names obj does not
 * use are left out. */
void quota_usage_add(json_t *usage, const json_t *hard, const char *plural, const char *group,
                     const json_t *obj);

/* The quota's compute names that every container of pod must state
 * (requests.cpu needs a cpu request, limits.memory a memory limit; the
 * rule upstream keeps for compatibility). NULL when nothing is missing,
 * else "must specify limits.cpu for: c1,c2; requests.memory for: c1"
 * (caller free()s). */
char *quota_missing_requirements(const json_t *hard, const json_t *pod);

#endif
