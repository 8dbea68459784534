#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_workloads2.sh - the workload kinds of issue #16 end to end with stock
# kubectl and real pods: a server with its own agent in a network
# namespace the test makes (real runc/conmon/CNI, the test image from an
# air-gap tarball, as test_agent_pods.sh). CronJob: validation messages
# (robfig's, time zones), the table, `kubectl create cronjob`, `kubectl
# create job --from=cronjob/...` (a job the CronJob owns), a scheduled run
# every minute (status.active, lastScheduleTime, lastSuccessfulTime, the
# job's scheduled-timestamp annotation), successfulJobsHistoryLimit
# deleting the oldest finished job, suspend. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-wl2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=workloads2
SERVER_EXTRA_ARGS=(--cni-bridge "k3cw2$$" --cluster-cidr 10.91.0.0/16 --pod-cidr 10.91.1.0/24)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools

echo "# 0. namespace, images, server with its agent"
pods_netns_make "$NS"
pods_images_start "$NS"
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 60 node_ready e2e

jp() { kc get "$1" "$2" -o "jsonpath=$3" 2>/dev/null; }
field_is() { [ "$(jp "$1" "$2" "$3")" = "$4" ]; }
field_set() { [ -n "$(jp "$1" "$2" "$3")" ]; }
job_complete() { field_is job "$1" '{.status.conditions[?(@.type=="Complete")].status}' True; }
gone() { ! kc get "$1" "$2" >/dev/null 2>&1; }
# jobs the cronjob made on schedule (name <cronjob>-<minutes>)
scheduled_jobs() { kc get jobs -o name | grep -E "^job.batch/$1-[0-9]+\$" | sed "s|job.batch/||"; }

echo "# 1. CronJob validation and defaults"
expect_fail_msg() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$RC" -ne 0 ] && matches "$re"; then pass "$name"; else fail "$name" "want an error matching /$re/" "$@"; fi
}
expect_fail_msg cj/bad-schedule 'spec.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\): 61' \
    kc create cronjob bad --image=k3c/busybox:test --schedule='61 * * * *'
expect_fail_msg cj/fields 'expected exactly 5 fields, found 4' \
    kc create cronjob bad --image=k3c/busybox:test --schedule='* * * *'
expect_fail_msg cj/tz-in-schedule 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead' \
    kc create cronjob bad --image=k3c/busybox:test --schedule='CRON_TZ=UTC * * * * *'
bad_tz() {
    kc apply -f - <<EOF
apiVersion: batch/v1
kind: CronJob
metadata: {name: badtz}
spec:
  schedule: "@hourly"
  timeZone: Mars/Olympus
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: k3c/busybox:test}]}}}}
EOF
}
expect_fail_msg cj/bad-timezone 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' bad_tz

echo "# 2. kubectl create cronjob; the table"
check cj/create kc create cronjob hello --image=k3c/busybox:test --schedule='*/1 * * * *' \
    -- sh -c 'echo hello from the cronjob'
check cj/history-limit kc patch cronjob hello --type=merge \
    -p '{"spec":{"successfulJobsHistoryLimit":1,"jobTemplate":{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":1}}}}}}'
expect_eq cj/defaults 'Allow false 1 1' jp cronjob hello \
    '{.spec.concurrencyPolicy} {.spec.suspend} {.spec.successfulJobsHistoryLimit} {.spec.failedJobsHistoryLimit}'
expect_out cj/table-header 'NAME +SCHEDULE +TIMEZONE +SUSPEND +ACTIVE +LAST SCHEDULE +AGE' kc get cronjobs
expect_out cj/table-row '^hello +\*/1 \* \* \* \* +<none> +False +0 +<none> +' kc get cj
expect_out cj/table-wide 'CONTAINERS +IMAGES +SELECTOR' kc get cronjob hello -o wide

echo "# 3. kubectl create job --from=cronjob/hello"
check job-from/create kc create job manual --from=cronjob/hello
expect_eq job-from/owner 'CronJob hello true' jp job manual \
    '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}'
wait_check job-from/complete 90 job_complete manual
MANUAL_POD=$(kc get pods -l job-name=manual -o 'jsonpath={.items[0].metadata.name}')
expect_out job-from/log 'hello from the cronjob' kc logs "$MANUAL_POD"

echo "# 4. the scheduled run (every minute)"
T0=$(date +%s)
has_scheduled_job() { [ -n "$(scheduled_jobs "$1")" ]; }
wait_check cj/scheduled-job 90 has_scheduled_job hello
SCHED=$(scheduled_jobs hello | head -n 1 | sed 's|job.batch/||')
echo "#    first scheduled job $SCHED after $(($(date +%s) - T0))s"
expect_out cj/job-name-minutes '^hello-[0-9]{8}$' echo "$SCHED"
expect_out cj/scheduled-timestamp '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:00Z$' \
    jp job "$SCHED" '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}'
wait_check cj/last-schedule 30 field_set cronjob hello '{.status.lastScheduleTime}'
wait_check cj/scheduled-complete 90 job_complete "$SCHED"
wait_check cj/last-successful 30 field_set cronjob hello '{.status.lastSuccessfulTime}'
not_active() { ! jp cronjob hello '{.status.active[*].name}' | grep -qw "$1"; }
wait_check cj/finished-leaves-active 30 not_active "$SCHED"
# two complete jobs (manual, scheduled), limit 1: the older one goes
wait_check cj/history-limit-deletes-oldest 60 gone job manual
check cj/history-keeps-newest kc get job "$SCHED"
expect_out cj/event-created "Created job $SCHED" kc get events --field-selector involvedObject.name=hello
expect_out cj/event-saw-completed "Saw completed job: $SCHED" kc get events --field-selector involvedObject.name=hello

echo "# 5. suspend"
check cj/suspend kc patch cronjob hello --type=merge -p '{"spec":{"suspend":true}}'
expect_out cj/suspend-table '^hello +\*/1 \* \* \* \* +<none> +True ' kc get cj hello
check cj/delete kc delete cronjob hello --wait=false
wait_check cj/gc-jobs 60 gone job "$SCHED"

server_checks
summary
