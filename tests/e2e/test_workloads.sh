#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_workloads.sh - the workload controllers (Deployment, ReplicaSet,
# DaemonSet, Job) end to end with stock kubectl 1.32 against a real
# `k3c server --disable-agent` and nodes registered through the API
# (lib_nodes.sh). A fake kubelet (fake_kubelet.py) marks pods of the
# e2e-wl namespace Running+Ready and removes pods being deleted; Job pods
# (namespace e2e-jobs) get their phase from the test itself.
#
# Same harness as test_kubectl.sh (lib.sh): one line per check, the output
# of every failing check, last "N passed, M failed". Exit 0 when nothing
# failed, 1 otherwise, 77 (skipped) without /usr/bin/kubectl. Every wait
# polls with a deadline; the EXIT trap stops the server, the fake kubelet,
# the lease loops and any etcd on the temp dir.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=workloads
SERVER_EXTRA_ARGS=(--disable-agent)
NS=e2e-wl
JNS=e2e-jobs
SNS=e2e-slow # pods become ready only when the test says so
ROLL_S=90 # a rollout to finish
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_nodes.sh
. "$HERE/lib_nodes.sh"

KUBELET_PIDS=()
stop_kubelet() {
    local pid
    for pid in "${KUBELET_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    KUBELET_PIDS=()
}
# start_kubelet NS...: a fake kubelet making pods of NS... Running+Ready.
start_kubelet() {
    local args=() n
    for n in "$@"; do args+=(--ready "$n"); done
    python3 "$HERE/fake_kubelet.py" --api "$API_URL" --ca "$TMP/ca.crt" --cert "$TMP/admin.crt" \
        --key "$TMP/admin.key" "${args[@]}" --seconds 900 >>"$TMP/kubelet.log" 2>&1 &
    KUBELET_PIDS+=($!)
}
trap 'stop_kubelet; nodes_cleanup; cleanup' EXIT

start_server

# ---- helpers ----

# jp KIND NAME JSONPATH [NS]: one field.
jp() { kc get "$1" "$2" -n "${4:-$NS}" -o "jsonpath=$3"; }

# count_pods SELECTOR [NS]: pods not being deleted.
count_pods() {
    kc get pods -n "${2:-$NS}" -l "$1" -o json |
        python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp")))'
}

pods_are() { [ "$(count_pods "$1" "${3:-$NS}")" = "$2" ]; }
field_is() { [ "$(jp "$1" "$2" "$3" "${5:-$NS}")" = "$4" ]; }
web_images_are() {
    [ "$(kc get pods -n "$NS" -l app=web -o 'jsonpath={.items[*].spec.containers[0].image}')" = "$1" ]
}
rs_of() { kc get rs -n "$NS" -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.replicas}{" "}{.metadata.annotations.deployment\.kubernetes\.io/revision}{"\n"}{end}'; }

# job pod names in phase Pending/Running (not being deleted)
job_active_pods() {
    kc get pods -n "$JNS" -l "job-name=$1" -o json |
        python3 -c 'import json,sys
for p in json.load(sys.stdin)["items"]:
    if not p["metadata"].get("deletionTimestamp") and p.get("status",{}).get("phase","Pending") in ("Pending","Running"):
        print(p["metadata"]["name"])'
}

# ---- nodes and the fake kubelet ----

echo "# nodes"
check nodes/n1 node_register n1
check nodes/n2 node_register n2 --label disk=ssd
check nodes/n3-tainted node_register n3 --taint dedicated=infra:NoSchedule
for n in n1 n2 n3; do node_lease_start "$n" 2; done
check ns/create kc create namespace "$NS"
check ns/create-jobs kc create namespace "$JNS"
check ns/create-slow kc create namespace "$SNS"
start_kubelet "$NS"

# ---- Deployment: create, scale ----

echo "# deployment"
check deploy/create kc create deployment web -n "$NS" --image=busybox --replicas=3
wait_check deploy/3-pods 30 pods_are app=web 3
wait_check deploy/3-available 30 field_is deploy web '{.status.availableReplicas}' 3
expect_out deploy/rollout-status 'successfully rolled out' \
    kc rollout status deploy/web -n "$NS" --timeout=${ROLL_S}s
expect_out deploy/rs-hash-label '^web-[a-z0-9]{10} 3 1$' rs_of app=web
expect_out deploy/pod-hash-label 'pod-template-hash=' kc get pods -n "$NS" -l app=web --show-labels
expect_out deploy/owner 'ReplicaSet' \
    kc get pods -n "$NS" -l app=web -o 'jsonpath={.items[0].metadata.ownerReferences[0].kind}'
expect_out deploy/available-cond 'True MinimumReplicasAvailable' \
    jp deploy web '{range .status.conditions[?(@.type=="Available")]}{.status} {.reason}{end}'
expect_out deploy/progressing-cond 'True NewReplicaSetAvailable' \
    jp deploy web '{range .status.conditions[?(@.type=="Progressing")]}{.status} {.reason}{end}'

check deploy/scale-5 kc scale deploy/web -n "$NS" --replicas=5
wait_check deploy/5-available 30 field_is deploy web '{.status.availableReplicas}' 5
wait_check deploy/5-pods 30 pods_are app=web 5
check deploy/scale-2 kc scale deploy/web -n "$NS" --replicas=2
wait_check deploy/2-pods 30 pods_are app=web 2
wait_check deploy/2-replicas 30 field_is deploy web '{.status.replicas}' 2
expect_out deploy/scaled-event 'Scaled (up|down) replica set web-' \
    kc get events -n "$NS" --field-selector reason=ScalingReplicaSet -o 'jsonpath={.items[*].message}'

# ---- rolling update, history, undo ----

echo "# rollout"
check deploy/set-image kc set image deploy/web -n "$NS" busybox=busybox:1.36
expect_out deploy/rollout-v2 'successfully rolled out' \
    kc rollout status deploy/web -n "$NS" --timeout=${ROLL_S}s
expect_out deploy/two-rs '^web-[a-z0-9]{10} 2 2$' rs_of app=web
expect_out deploy/old-rs-zero '^web-[a-z0-9]{10} 0 1$' rs_of app=web
# The rollout is complete once the old pods are terminating (upstream does
# not count them either); they are gone a grace period later.
wait_check deploy/pods-v2 30 web_images_are "busybox:1.36 busybox:1.36"
expect_out deploy/revision-annotation '^2$' \
    jp deploy web '{.metadata.annotations.deployment\.kubernetes\.io/revision}'
check deploy/change-cause kc annotate deploy/web -n "$NS" kubernetes.io/change-cause=to-1.36
history_has_cause() { kc rollout history deploy/web -n "$NS" | grep -Eq '^2 +to-1\.36'; }
wait_check deploy/history-cause 20 history_has_cause
expect_out deploy/history-1 '^1 ' kc rollout history deploy/web -n "$NS"
expect_out deploy/history-rev1-image 'Image:[[:space:]]+busybox$' \
    kc rollout history deploy/web -n "$NS" --revision=1

check deploy/undo kc rollout undo deploy/web -n "$NS" --to-revision=1
expect_out deploy/rollout-undo 'successfully rolled out' \
    kc rollout status deploy/web -n "$NS" --timeout=${ROLL_S}s
expect_out deploy/undo-image '^busybox$' \
    jp deploy web '{.spec.template.spec.containers[0].image}'
expect_out deploy/undo-rev3 '^web-[a-z0-9]{10} 2 3$' rs_of app=web
wait_check deploy/undo-pods 30 web_images_are "busybox busybox"
run kc rollout history deploy/web -n "$NS"
if matches '^2 ' && matches '^3 ' && ! matches '^1 '; then
    pass deploy/history-after-undo
else
    fail deploy/history-after-undo "want revisions 2 and 3 only" kc rollout history deploy/web
fi

# ---- pause / resume ----

echo "# pause"
check deploy/pause kc rollout pause deploy/web -n "$NS"
check deploy/paused-set-image kc set image deploy/web -n "$NS" busybox=busybox:1.37
observed() {
    [ "$(jp deploy web '{.status.observedGeneration}')" = "$(jp deploy web '{.metadata.generation}')" ]
}
wait_check deploy/paused-observed 20 observed
expect_out deploy/paused-cond 'Unknown DeploymentPaused' \
    jp deploy web '{range .status.conditions[?(@.type=="Progressing")]}{.status} {.reason}{end}'
run rs_of app=web
if [ "$(printf '%s\n' "$OUT" | grep -c .)" = 2 ]; then
    pass deploy/paused-no-new-rs
else
    fail deploy/paused-no-new-rs "a paused deployment made a new RS" rs_of app=web
fi
check deploy/resume kc rollout resume deploy/web -n "$NS"
expect_out deploy/rollout-resumed 'successfully rolled out' \
    kc rollout status deploy/web -n "$NS" --timeout=${ROLL_S}s
expect_out deploy/resumed-rev4 '^web-[a-z0-9]{10} 2 4$' rs_of app=web

# ---- progress deadline; a resize in the middle of a rollout ----

echo "# progress"
kc apply -n "$JNS" -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
    spec:
      containers:
      - name: c
        image: busybox
EOF
expect_fail progress/deadline-exceeded 'exceeded its progress deadline' \
    kc rollout status deploy/stuck -n "$JNS" --timeout=30s
expect_out progress/deadline-cond 'False ProgressDeadlineExceeded' \
    jp deploy stuck '{range .status.conditions[?(@.type=="Progressing")]}{.status} {.reason}{end}' "$JNS"

# mark_ready NS SELECTOR: every pod of SELECTOR in NS becomes Running+Ready.
mark_ready() {
    local p
    for p in $(kc get pods -n "$1" -l "$2" -o 'jsonpath={.items[*].metadata.name}'); do
        pod_set_phase "$1" "$p" Running True || return 1
    done
}
kc create deployment mid -n "$SNS" --image=busybox --replicas=4 >/dev/null
wait_check mid/4-pods 30 pods_are app=mid 4 "$SNS"
check mid/ready mark_ready "$SNS" app=mid
wait_check mid/4-available 30 field_is deploy mid '{.status.availableReplicas}' 4 "$SNS"
check mid/set-image kc set image deploy/mid -n "$SNS" busybox=busybox:1.36
# 25%/25% of 4: surge 1, unavailable 1. Nothing new gets ready, so the
# rollout stops at old 3 + new 2.
mid_stalled() { field_is deploy mid '{.status.updatedReplicas}' 2 "$SNS"; }
wait_check mid/stalled-at-2-new 30 mid_stalled
check mid/scale-8 kc scale deploy/mid -n "$SNS" --replicas=8
# 8 + 2 surge = 10 spread over both RSes in proportion
mid_total() {
    kc get rs -n "$SNS" -l app=mid -o 'jsonpath={range .items[*]}{.spec.replicas}{"\n"}{end}' |
        awk '{s += $1} END {print s}'
}
mid_total_10() { [ "$(mid_total)" = 10 ]; }
wait_check mid/proportional-10 30 mid_total_10
start_kubelet "$SNS"
expect_out mid/rollout 'successfully rolled out' \
    kc rollout status deploy/mid -n "$SNS" --timeout=${ROLL_S}s
expect_out mid/new-rs-8 '^8$' jp deploy mid '{.status.updatedReplicas}' "$SNS"

# ---- a name collision: the RS name is taken by a set the deployment cannot adopt ----

echo "# collision"
check col/create kc create deployment col -n "$NS" --image=busybox --replicas=1
expect_out col/rollout 'successfully rolled out' \
    kc rollout status deploy/col -n "$NS" --timeout=${ROLL_S}s
col_rs=$(kc get rs -n "$NS" -l app=col -o 'jsonpath={.items[0].metadata.name}')
check col/orphan kc delete deploy col -n "$NS" --cascade=orphan --wait=false
col_gone() { ! kc get deploy col -n "$NS" >/dev/null 2>&1; }
wait_check col/deleted 30 col_gone
# relabelled, the old RS no longer matches the selector of a new "col"
check col/relabel kc label rs "$col_rs" -n "$NS" app=taken --overwrite
check col/recreate kc create deployment col -n "$NS" --image=busybox --replicas=1
expect_out col/rollout-again 'successfully rolled out' \
    kc rollout status deploy/col -n "$NS" --timeout=${ROLL_S}s
expect_out col/collision-count '^1$' jp deploy col '{.status.collisionCount}'
run kc get rs -n "$NS" -l app=col -o 'jsonpath={.items[*].metadata.name}'
if [ "$RC" -eq 0 ] && matches '^col-[a-z0-9]{10}$' && ! matches "$col_rs"; then
    pass col/new-name
else
    fail col/new-name "want one RS with another name than $col_rs" kc get rs -l app=col
fi

# ---- Recreate ----

echo "# recreate"
kc apply -n "$NS" -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rec
spec:
  replicas: 2
  strategy:
    type: Recreate
  selector:
    matchLabels: {app: rec}
  template:
    metadata:
      labels: {app: rec}
    spec:
      containers:
      - name: c
        image: busybox
EOF
check recreate/created kc get deploy rec -n "$NS"
expect_out recreate/rollout-1 'successfully rolled out' \
    kc rollout status deploy/rec -n "$NS" --timeout=${ROLL_S}s
check recreate/set-image kc set image deploy/rec -n "$NS" c=busybox:1.36
expect_out recreate/rollout-2 'successfully rolled out' \
    kc rollout status deploy/rec -n "$NS" --timeout=${ROLL_S}s
expect_out recreate/new-rs '^rec-[a-z0-9]{10} 2 2$' rs_of app=rec
expect_out recreate/old-rs '^rec-[a-z0-9]{10} 0 1$' rs_of app=rec
# Recreate scales the old RS to 0 before the new one exists: the new RS
# was created at its full size (2), never grown step by step.
run kc get events -n "$NS" --field-selector reason=ScalingReplicaSet -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}'
if matches 'Scaled down replica set rec-[a-z0-9]+ to 0 from 2' &&
    matches 'Scaled up replica set rec-[a-z0-9]+ to 2 from 0' &&
    ! matches 'Scaled up replica set rec-[a-z0-9]+ to 1 '; then
    pass recreate/events
else
    fail recreate/events "want down to 0 then up to 2 from 0" kc get events
fi

# ---- ReplicaSet on its own: adoption ----

echo "# replicaset"
kc apply -n "$NS" -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: orphan
  labels: {app: solo}
spec:
  containers:
  - name: c
    image: busybox
EOF
kc apply -n "$NS" -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: solo
spec:
  replicas: 2
  selector:
    matchLabels: {app: solo}
  template:
    metadata:
      labels: {app: solo}
    spec:
      containers:
      - name: c
        image: busybox
EOF
wait_check rs/2-ready 30 field_is rs solo '{.status.readyReplicas}' 2
wait_check rs/orphan-adopted 20 field_is pod orphan '{.metadata.ownerReferences[0].name}' solo
expect_out rs/two-pods '^2$' count_pods app=solo
check rs/release kc label pod orphan -n "$NS" app=gone --overwrite
wait_check rs/released 20 field_is pod orphan '{.metadata.ownerReferences}' ''
wait_check rs/replaced 30 pods_are app=solo 2
expect_out rs/fully-labeled '^2$' jp rs solo '{.status.fullyLabeledReplicas}'

# ---- DaemonSet ----

echo "# daemonset"
kc apply -n "$NS" -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: c
        image: busybox
EOF
wait_check ds/desired-2 30 field_is ds agent '{.status.desiredNumberScheduled}' 2
wait_check ds/2-pods 30 pods_are app=agent 2
ds_nodes() {
    kc get pods -n "$NS" -l app=agent -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}' |
        sort | tr '\n' ' '
}
expect_out ds/nodes '^n1 n2 $' ds_nodes
expect_out ds/tolerations 'node.kubernetes.io/unschedulable' \
    kc get pods -n "$NS" -l app=agent -o 'jsonpath={.items[0].spec.tolerations[*].key}'
expect_out ds/hash-label 'controller-revision-hash=' kc get pods -n "$NS" -l app=agent --show-labels
expect_out ds/rollout-status 'successfully rolled out' \
    kc rollout status ds/agent -n "$NS" --timeout=${ROLL_S}s
check ds/set-image kc set image ds/agent -n "$NS" c=busybox:1.36
expect_out ds/rollout-v2 'successfully rolled out' \
    kc rollout status ds/agent -n "$NS" --timeout=${ROLL_S}s
ds_pods_v2() {
    [ "$(kc get pods -n "$NS" -l app=agent -o 'jsonpath={.items[*].spec.containers[0].image}')" = "busybox:1.36 busybox:1.36" ]
}
wait_check ds/pods-v2 30 ds_pods_v2
check ds/new-node node_register n4
node_lease_start n4 2
wait_check ds/desired-3 30 field_is ds agent '{.status.desiredNumberScheduled}' 3
wait_check ds/3-pods 30 pods_are app=agent 3
check ds/label-n3-toleration kc patch ds agent -n "$NS" --type=merge -p \
    '{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]}}}}'
wait_check ds/desired-4 30 field_is ds agent '{.status.desiredNumberScheduled}' 4
expect_out ds/rollout-tolerated 'successfully rolled out' \
    kc rollout status ds/agent -n "$NS" --timeout=${ROLL_S}s
# A NoSchedule taint keeps new pods off a node, the running one stays; a
# NoExecute taint removes it.
check ds/taint-noschedule kc taint node n1 maint=x:NoSchedule
wait_check ds/desired-3-tainted 30 field_is ds agent '{.status.desiredNumberScheduled}' 3
expect_out ds/stays-on-n1 '^n1 n2 n3 n4 $' ds_nodes
check ds/taint-noexecute kc taint node n1 evict=x:NoExecute
ds_off_n1() { [ "$(ds_nodes)" = "n2 n3 n4 " ]; }
wait_check ds/off-n1 30 ds_off_n1

# ---- Job ----

echo "# job"
kc apply -n "$JNS" -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: three
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
EOF
two_active() { [ "$(job_active_pods three | grep -c .)" = 2 ]; }
wait_check job/2-active 30 two_active
expect_out job/labels 'batch.kubernetes.io/job-name=three' \
    kc get pods -n "$JNS" -l job-name=three --show-labels
expect_out job/start-time '^20' jp job three '{.status.startTime}' "$JNS"
succeeded_is() { field_is job three '{.status.succeeded}' "$1" "$JNS"; }
active_is() { [ "$(job_active_pods "$1" | grep -c .)" = "$2" ]; }
for i in 1 2 3; do
    pod=$(job_active_pods three | sed -n 1p)
    if [ -z "$pod" ]; then
        fail "job/pod-$i" "no active pod" job_active_pods three
        break
    fi
    pod_set_phase "$JNS" "$pod" Succeeded False
    wait_check "job/succeeded-$i" 30 succeeded_is "$i"
    if [ "$i" -lt 3 ]; then
        want=$((3 - i < 2 ? 3 - i : 2))
        wait_check "job/active-after-$i" 30 active_is three "$want"
    fi
done
check job/complete kc wait --for=condition=complete job/three -n "$JNS" --timeout=30s
expect_out job/completion-time '^20' jp job three '{.status.completionTime}' "$JNS"
expect_out job/active-0 '^0$' jp job three '{.status.active}' "$JNS"

kc apply -n "$JNS" -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: flaky
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
EOF
one_active() { [ "$(job_active_pods flaky | grep -c .)" = 1 ]; }
failed_is() { field_is job flaky '{.status.failed}' "$1" "$JNS"; }
failed_at=
for i in 1 2; do
    wait_check "job/flaky-active-$i" 30 one_active
    pod=$(job_active_pods flaky | sed -n 1p)
    if [ "$i" = 2 ] && [ -n "$pod" ]; then
        # the replacement waited out the 10 s pod failure back-off
        created=$(date -d "$(jp pod "$pod" '{.metadata.creationTimestamp}' "$JNS")" +%s)
        if [ $((created - failed_at)) -ge 9 ]; then
            pass job/flaky-backoff
        else
            OUT="created $created, failed at $failed_at"
            fail job/flaky-backoff "replaced after $((created - failed_at)) s" jp pod "$pod"
        fi
    fi
    failed_at=$(date +%s)
    [ -n "$pod" ] && pod_set_phase "$JNS" "$pod" Failed False
    wait_check "job/flaky-failed-$i" 30 failed_is "$i"
done
check job/failed kc wait --for=condition=failed job/flaky -n "$JNS" --timeout=30s
expect_out job/backoff-reason 'BackoffLimitExceeded' \
    jp job flaky '{.status.conditions[?(@.type=="Failed")].reason}' "$JNS"

kc apply -n "$JNS" -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: deadline
spec:
  activeDeadlineSeconds: 2
  ttlSecondsAfterFinished: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
EOF
check job/deadline-failed kc wait --for=condition=failed job/deadline -n "$JNS" --timeout=30s
expect_out job/deadline-reason 'DeadlineExceeded' \
    jp job deadline '{.status.conditions[?(@.type=="Failed")].reason}' "$JNS"
job_gone() { ! kc get job deadline -n "$JNS" >/dev/null 2>&1; }
wait_check job/ttl-deleted 30 job_gone

# ---- end ----

stop_kubelet
nodes_cleanup
server_checks
summary
