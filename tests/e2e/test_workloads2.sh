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
# deleting the oldest finished job, suspend. StatefulSet: ordered start,
# identity, partitioned rolling update, rollout status/history/undo,
# scale-down order (volumeClaimTemplates when PVCs are served).
# PodDisruptionBudget: status, the eviction API's 429, `kubectl drain`
# retrying until the budget is relaxed. Job completionMode Indexed
# (JOB_COMPLETION_INDEX, hostname, completedIndexes). Needs root (else exit 77).
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

echo "# 6. StatefulSet: ordered start, stable names, partitioned rolling update, history, undo"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: k3c/busybox:test
        command: [sh, -c, "trap 'exit 0' TERM; echo \$HOSTNAME up; sleep 3600 & wait"]
EOF
T0=$(date +%s)
expect_eq sts/defaults 'OrderedReady RollingUpdate 0 Retain Retain 10' jp sts web \
    '{.spec.podManagementPolicy} {.spec.updateStrategy.type} {.spec.updateStrategy.rollingUpdate.partition} {.spec.persistentVolumeClaimRetentionPolicy.whenDeleted} {.spec.persistentVolumeClaimRetentionPolicy.whenScaled} {.spec.revisionHistoryLimit}'
wait_check sts/ready-3 120 field_is sts web '{.status.readyReplicas}' 3
echo "#    3 pods ready after $(($(date +%s) - T0))s"
# OrderedReady: web-N was created only once web-(N-1) was Ready
ready_at() { jp pod "$1" '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}'; }
created_at() { jp pod "$1" '{.metadata.creationTimestamp}'; }
ordered() { [ -n "$(ready_at web-0)" ] && [[ ! "$(created_at web-1)" < "$(ready_at web-0)" ]] && [[ ! "$(created_at web-2)" < "$(ready_at web-1)" ]]; }
check sts/ordered-start ordered
expect_eq sts/identity 'web-1 web 1 web-1' jp pod web-1 \
    '{.spec.hostname} {.spec.subdomain} {.metadata.labels.apps\.kubernetes\.io/pod-index} {.metadata.labels.statefulset\.kubernetes\.io/pod-name}'
expect_out sts/log 'web-2 up' kc logs web-2
expect_out sts/table '^web +3/3 +' kc get sts web
expect_out sts/rollout-status 'partitioned roll out complete: 3 new pods have been updated' \
    kc rollout status sts web --timeout=60s
REV1=$(jp sts web '{.status.updateRevision}')
expect_out sts/revision-table "^$REV1 +statefulset.apps/web +1 +" kc get controllerrevisions
expect_eq sts/pod-revision "$REV1 $REV1 $REV1" kc get pods -l app=web -o \
    'jsonpath={.items[*].metadata.labels.controller-revision-hash}'
# partition 2: only web-2 moves to the new template
check sts/partition kc patch sts web --type=merge -p \
    '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}},"template":{"metadata":{"annotations":{"v":"2"}}}}}'
new_revision() { [ "$(jp sts web '{.status.updateRevision}')" != "$REV1" ]; }
wait_check sts/new-revision 30 new_revision
REV2=$(jp sts web '{.status.updateRevision}')
pod_rev_is() { [ "$(jp pod "$1" '{.metadata.labels.controller-revision-hash}')" = "$2" ]; }
wait_check sts/partition-updates-web-2 90 pod_rev_is web-2 "$REV2"
wait_check sts/partition-ready 60 field_is sts web '{.status.readyReplicas}' 3
check sts/partition-keeps-web-1 pod_rev_is web-1 "$REV1"
check sts/partition-keeps-web-0 pod_rev_is web-0 "$REV1"
expect_eq sts/partition-status "1 $REV1 $REV2" jp sts web '{.status.updatedReplicas} {.status.currentRevision} {.status.updateRevision}'
check sts/partition-0 kc patch sts web --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}'
wait_check sts/rolled-web-0 120 pod_rev_is web-0 "$REV2"
wait_check sts/current-is-update 60 field_is sts web '{.status.currentRevision}' "$REV2"
expect_out sts/history '^2 ' kc rollout history sts web
check sts/undo kc rollout undo sts web
wait_check sts/undo-template 30 field_is sts web '{.spec.template.metadata.annotations.v}' ''
wait_check sts/undo-revision 30 field_is sts web '{.status.updateRevision}' "$REV1"
wait_check sts/undo-rolled 120 field_is sts web '{.status.currentRevision}' "$REV1"
expect_eq sts/undo-renumbered 3 jp controllerrevision "$REV1" '{.revision}'
# scale down: the highest ordinals go, one at a time
check sts/scale kc scale sts web --replicas=1
wait_check sts/scaled-down 90 gone pod web-1
check sts/web-0-stays kc get pod web-0
if kc api-resources 2>/dev/null | grep -q '^persistentvolumeclaims '; then
    echo "#    (persistentvolumeclaims served: volumeClaimTemplates check)"
    kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: k3c/busybox:test, command: [sh, -c, "date >> /data/log; trap 'exit 0' TERM; sleep 3600 & wait"], volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
EOF
    wait_check sts/pvc-created 60 kc get pvc data-db-0
    expect_eq sts/pod-uses-pvc data-db-0 jp pod db-0 '{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}'
    wait_check sts/pvc-pod-ready 120 field_is sts db '{.status.readyReplicas}' 1
    check sts/pvc-pod-delete kc delete pod db-0 --wait=true
    wait_check sts/pvc-pod-back 120 field_is sts db '{.status.readyReplicas}' 1
    two_lines() { [ "$(kc exec db-0 -- cat /data/log | wc -l)" -ge 2 ]; }
    wait_check sts/pvc-data-kept 30 two_lines
    check sts/pvc-delete-set kc delete sts db --wait=false
    wait_check sts/pvc-set-pods-gone 90 gone pod db-0
    check sts/pvc-retained kc get pvc data-db-0
else
    echo "#    SKIP volumeClaimTemplates: this API serves no persistentvolumeclaims (the storage part is not merged)"
fi
check sts/delete kc delete sts web --wait=false
wait_check sts/gc-pods 90 gone pod web-0
no_revisions() { [ -z "$(kc get controllerrevisions -l app=web -o name 2>/dev/null)" ]; }
wait_check sts/gc-revisions 60 no_revisions

echo "# 7. PodDisruptionBudget: status, the eviction API's 429, kubectl drain waiting for it"
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 2
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: k3c/busybox:test, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guard}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
EOF
wait_check pdb/status 90 field_is pdb guard \
    '{.status.currentHealthy} {.status.desiredHealthy} {.status.disruptionsAllowed} {.status.expectedPods}' '2 2 0 2'
expect_out pdb/table '^guard +2 +N/A +0 +' kc get pdb guard
expect_eq pdb/condition 'False InsufficientPods' jp pdb guard \
    '{.status.conditions[?(@.type=="DisruptionAllowed")].status} {.status.conditions[?(@.type=="DisruptionAllowed")].reason}'
expect_fail_msg pdb/both-set 'minAvailable and maxUnavailable cannot be both set' \
    kc create -f - <<EOF
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: bad}
spec: {minAvailable: 1, maxUnavailable: 1, selector: {matchLabels: {app: guarded}}}
EOF
GPOD=$(kc get pods -l app=guarded -o 'jsonpath={.items[0].metadata.name}')
evict() {
    printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s","namespace":"default"}}' "$1" |
        kc create --raw "/api/v1/namespaces/default/pods/$1/eviction" -f -
}
expect_fail_msg pdb/evict-429 "Cannot evict pod as it would violate the pod's disruption budget" evict "$GPOD"
check pdb/pod-kept kc get pod "$GPOD"
T0=$(date +%s)
expect_fail_msg pdb/drain-blocked "violate the pod's disruption budget" \
    kc drain e2e --ignore-daemonsets --delete-emptydir-data --force --timeout=12s
echo "#    a blocked drain gave up after $(($(date +%s) - T0))s"
kc drain e2e --ignore-daemonsets --delete-emptydir-data --force --timeout=150s >"$TMP/drain.log" 2>&1 &
DRAIN_PID=$!
drain_retrying() { grep -q "will retry after 5s" "$TMP/drain.log"; }
wait_check pdb/drain-retries 60 drain_retrying
check pdb/relax kc patch pdb guard --type=merge -p '{"spec":{"minAvailable":0}}'
drain_done() { ! kill -0 "$DRAIN_PID" 2>/dev/null; }
wait_check pdb/drain-finishes 120 drain_done
wait "$DRAIN_PID"
RC=$?
OUT=$(cat "$TMP/drain.log")
if [ "$RC" -eq 0 ] && matches "node/e2e drained"; then pass pdb/drain-ok; else fail pdb/drain-ok "drain failed" kubectl drain; fi
check pdb/uncordon kc uncordon e2e
check pdb/cleanup kc delete deploy guarded
no_guarded_pods() { [ -z "$(kc get pods -l app=guarded -o name 2>/dev/null)" ]; }
wait_check pdb/pods-gone 60 no_guarded_pods

echo "# 8. Job completionMode Indexed"
kc apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completionMode: Indexed
  completions: 3
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo index \$JOB_COMPLETION_INDEX on \$(hostname)"]}
EOF
wait_check idx/complete 120 job_complete indexed
expect_eq idx/completed-indexes '0-2 3' jp job indexed '{.status.completedIndexes} {.status.succeeded}'
IDX1=$(kc get pods -l batch.kubernetes.io/job-completion-index=1,job-name=indexed -o 'jsonpath={.items[0].metadata.name}')
expect_out idx/env '^index 1 on ' kc logs "$IDX1"
# the agent names the pod's UTS after the pod, not spec.hostname (see docs/workloads.md)
expect_eq idx/hostname indexed-1 jp pod "$IDX1" '{.spec.hostname}'
expect_eq idx/annotation 1 jp pod "$IDX1" '{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}'
check idx/cleanup kc delete job indexed

server_checks
summary
