#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_cluster.sh - issue #6's end-to-end test on REAL agents, with the
# scheduler and the controllers on: `k3c server` (with its own agent, node
# "e2e") in one test-made network namespace, a second `k3c agent` labelled
# gpu=true (node "gpu-1") in another, joined over a veth pair with private
# addresses that exist only inside the namespaces. Real runc/conmon/CNI,
# images from scripts/build-test-images (air-gap tarballs :test and
# :test2). Stock kubectl: pod CIDRs per node, create deployment / scale /
# set image + rollout status / rollout undo, logs and exec, nodeSelector,
# DaemonSet, cordon + drain (eviction) + uncordon, a Job to completion, a
# Service's EndpointSlice, cascade delete, and an agent stopped for good:
# its node goes Unknown within the grace period and its pods are replaced
# on the server's node after the toleration. Prints the time of each main
# step. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-cl-$$
NS2=k3c-e2e-cl2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
# Addresses only inside the test's namespaces: the veth NS <-> NS2, and
# the pod network (a range used nowhere else).
NS_IP=192.168.252.1
NS2_IP=192.168.252.2
CLUSTER_CIDR=10.93.0.0/16
GRACE_S=20 # node monitor grace period; the agent renews its Lease every 10 s
TOLERATION_S=5
E2E_NAME=cluster
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --cni-bridge k3ccl0
    --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000
    --node-monitor-grace-period "$GRACE_S"
    --default-unreachable-toleration-seconds "$TOLERATION_S"
    --default-not-ready-toleration-seconds "$TOLERATION_S")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools

# ---- helpers ----

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
# t_say WHAT: prints the time since the last t_mark.
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

# pods_of SELECTOR: one line per pod that is not terminating:
# "name node phase ip image".
pods_of() {
    kc get pods -l "$1" -o json 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    m, s, st = p["metadata"], p["spec"], p.get("status", {})
    if m.get("deletionTimestamp"):
        continue
    print(m["name"], s.get("nodeName", "-"), st.get("phase", "-"), st.get("podIP", "-"),
          s["containers"][0]["image"])
'
}
# running_count SELECTOR N [NODE_REGEX]: exactly N pods Running (on matching nodes).
running_count() {
    local n
    n=$(pods_of "$1" | awk -v re="^(${3:-.*})\$" '$3 == "Running" && $2 ~ re' | wc -l)
    [ "$n" -eq "$2" ] && [ "$(pods_of "$1" | wc -l)" -eq "$2" ]
}
# nodes_of SELECTOR: the sorted distinct nodes of the Running pods.
nodes_of() { pods_of "$1" | awk '$3 == "Running" {print $2}' | sort -u | tr '\n' ' '; }
node_cidr() { kc get node "$1" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null; }
both_cidrs() { [ -n "$(node_cidr e2e)" ] && [ -n "$(node_cidr gpu-1)" ]; }
# ips_in_node_cidrs SELECTOR: every Running pod's IP lies in its node's podCIDR.
ips_in_node_cidrs() {
    local name node phase ip cidr bad=0
    while read -r name node phase ip _; do
        [ "$phase" = Running ] || continue
        cidr=$(node_cidr "$node")
        if ! python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' \
            "$ip" "$cidr" 2>/dev/null; then
            echo "$name on $node: $ip not in $cidr"
            bad=1
        fi
        echo "$name $node $ip $cidr"
    done <<<"$(pods_of "$1")"
    return "$bad"
}
# images_are SELECTOR IMAGE: every pod runs IMAGE.
images_are() { [ -z "$(pods_of "$1" | awk -v i="$2" '$5 != i')" ] && [ -n "$(pods_of "$1")" ]; }
node_ready_status() { kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
node_not_ready() { local s; s=$(node_ready_status "$1"); [ -n "$s" ] && [ "$s" != True ]; }
rs_count() { kc get rs -l "$1" -o name 2>/dev/null | wc -l; }
no_rs_no_pods() { [ "$(rs_count "$1")" -eq 0 ] && [ -z "$(kc get pods -l "$1" -o name 2>/dev/null)" ]; }
rollout() { kc rollout status "deployment/$1" --timeout=150s; }
# slice_ips SERVICE: the sorted addresses of its EndpointSlices.
slice_ips() {
    kc get endpointslices -l "kubernetes.io/service-name=$1" \
        -o 'jsonpath={range .items[*].endpoints[*]}{.addresses[0]}{"\n"}{end}' 2>/dev/null | sort | tr '\n' ' '
}
running_ips() { pods_of "$1" | awk '$3 == "Running" {print $4}' | sort | tr '\n' ' '; }
slice_matches() { local want; want=$(running_ips "$1"); [ -n "$want" ] && [ "$(slice_ips "$2")" = "$want" ]; }

# deployment NAME REPLICAS [NODE_SELECTOR_YAML]: a sleeping Deployment.
deployment() {
    kc apply -f - >/dev/null <<EOF2
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 1
      ${3:-}
      containers:
      - {name: c, image: k3c/busybox:test, command: [sleep, "3600"]}
EOF2
}

# kubectl's own generator; a 1 s grace period keeps the rollouts short
# (httpd as pid 1 ignores SIGTERM).
create_web() {
    kc create deployment web --image=k3c/busybox:test --replicas=3 --port=8080 \
        --dry-run=client -o json -- sh -c 'echo web-up; exec httpd -f -p 8080 -h /www' |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
print(json.dumps(d))' | kc create -f -
}

# ---- 0. the cluster ----

echo "# 0. namespaces, images, server, second agent"
t_mark
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS" test2
pods_airgap_install "$TMP/data" "$TMP/gpu"
SERVER_IP=$NS_IP
t_say "namespaces + images + registry"
t_mark
start_server
agent_start gpu-1 "$TMP/gpu" "$NS2" "$NS2_IP" --node-label gpu=true --cni-bridge k3ccl1 \
    --crash-backoff-base-ms 1000
check nodes/e2e-ready wait_for 40 node_ready e2e
check nodes/gpu-1-ready wait_for 40 node_ready gpu-1
t_say "server start to both nodes Ready"

echo "# 1. pod CIDRs"
check cidr/both-assigned wait_for 20 both_cidrs
CIDR1=$(node_cidr e2e)
CIDR2=$(node_cidr gpu-1)
expect_out cidr/e2e-in-cluster-cidr '^10\.93\.[0-9]+\.0/24$' echo "$CIDR1"
expect_out cidr/gpu-1-in-cluster-cidr '^10\.93\.[0-9]+\.0/24$' echo "$CIDR2"
if [ "$CIDR1" != "$CIDR2" ]; then pass cidr/distinct; else fail cidr/distinct "both $CIDR1" echo; fi
# Each kubelet runs its pods on its Node's range (it waits for nodeipam).
log_has() { grep -q "$2" "$1" 2>/dev/null; }
check cidr/e2e-kubelet-uses-it wait_for 15 log_has "$TMP/k3c.log" "pod network $CIDR1 on bridge"
check cidr/gpu-1-kubelet-uses-it wait_for 15 log_has "$TMP/agent-gpu-1.log" "pod network $CIDR2 on bridge"
expect_eq cidr/gpu-label true kc get node gpu-1 -o 'jsonpath={.metadata.labels.gpu}'

echo "# 2. kubectl create deployment, scale, set image, rollout undo"
t_mark
check web/create create_web
check web/rollout-3 rollout web
check web/3-running wait_for 30 running_count app=web 3
t_say "create deployment to 3 Running"
expect_eq web/spread-on-both-nodes 'e2e gpu-1 ' nodes_of app=web
expect_out web/ips-in-node-cidrs 'web' ips_in_node_cidrs app=web
t_mark
check web/scale kc scale deployment web --replicas=4
check web/rollout-4 rollout web
check web/4-running wait_for 30 running_count app=web 4
t_say "scale 3 -> 4"
t_mark
check web/set-image kc set image deployment/web busybox=k3c/busybox:test2
check web/rollout-test2 rollout web
check web/4-running-test2 wait_for 30 running_count app=web 4
check web/images-test2 images_are app=web k3c/busybox:test2
expect_eq web/two-replicasets 2 rs_count app=web
t_say "set image + rollout status"
t_mark
check web/undo kc rollout undo deployment/web
check web/rollout-undo rollout web
check web/4-running-undone wait_for 30 running_count app=web 4
check web/images-test wait_for 10 images_are app=web k3c/busybox:test
t_say "rollout undo"
WEB_GPU_POD=$(pods_of app=web | awk '$2 == "gpu-1" && $3 == "Running" {print $1; exit}')
WEB_E2E_POD=$(pods_of app=web | awk '$2 == "e2e" && $3 == "Running" {print $1; exit}')
check web/pod-on-each-node test -n "$WEB_GPU_POD" -a -n "$WEB_E2E_POD"
expect_out web/exec-on-gpu-1 'k3c test page' kc exec "$WEB_GPU_POD" -- wget -qO- http://127.0.0.1:8080/
expect_out web/exec-on-e2e 'k3c test page' kc exec "$WEB_E2E_POD" -- wget -qO- http://127.0.0.1:8080/
expect_out web/logs-gpu-1 '^web-up$' kc logs "$WEB_GPU_POD"
expect_eq web/hostname "$WEB_GPU_POD" kc exec "$WEB_GPU_POD" -- hostname

echo "# 3. nodeSelector gpu=true lands on the gpu node only"
t_mark
deployment gpu-app 3 'nodeSelector: {gpu: "true"}'
check gpu/rollout rollout gpu-app
check gpu/3-running-on-gpu-1 wait_for 30 running_count app=gpu-app 3 gpu-1
expect_eq gpu/only-gpu-1 'gpu-1 ' nodes_of app=gpu-app
t_say "nodeSelector deployment to 3 Running"

echo "# 4. a DaemonSet: one Running pod on every schedulable node"
t_mark
kc apply -f - >/dev/null <<'EOF2'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: k3c/busybox:test, command: [sleep, "3600"]}
EOF2
check ds/2-running wait_for 60 running_count app=ds 2
expect_eq ds/one-per-node 'e2e gpu-1 ' nodes_of app=ds
expect_eq ds/status '2 2 2' kc get ds ds -o 'jsonpath={.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady}'
t_say "DaemonSet to 2 Running"

echo "# 5. a Service's EndpointSlice holds the Running pods' IPs"
t_mark
check svc/expose kc expose deployment web --port 80 --target-port 8080
check svc/slice-matches-pods wait_for 30 slice_matches app=web web
expect_out svc/slice-port '8080' kc get endpointslices -l kubernetes.io/service-name=web -o 'jsonpath={.items[0].ports[0].port}'
t_say "Service to EndpointSlice"

echo "# 6. cordon + drain gpu-1 moves the web pods; uncordon"
t_mark
check drain/cordon kc cordon gpu-1
expect_eq drain/unschedulable true kc get node gpu-1 -o 'jsonpath={.spec.unschedulable}'
# kubectl drain evicts through pods/eviction ("evicting pod", "evicted"); it
# would say "deleted" had it fallen back to DELETE.
expect_all drain/drain-evicts 'evicting pod default/web-' "pod/$WEB_GPU_POD evicted" 'node/gpu-1 drained' -- \
    kc drain gpu-1 --ignore-daemonsets --delete-emptydir-data --timeout=120s
expect_not drain/no-fallback-delete 'deleted' echo "$OUT"
check drain/web-4-on-e2e wait_for 60 running_count app=web 4 e2e
expect_eq drain/web-only-e2e 'e2e ' nodes_of app=web
expect_eq drain/ds-stays 'e2e gpu-1 ' nodes_of app=ds
expect_out drain/gpu-app-pending 'Pending' pods_of app=gpu-app
expect_out drain/killing-event 'Killing' kc get events --field-selector "involvedObject.name=$WEB_GPU_POD" -o 'jsonpath={.items[*].reason}'
check svc/slice-follows-drain wait_for 30 slice_matches app=web web
t_say "cordon + drain"
t_mark
check drain/uncordon kc uncordon gpu-1
check drain/gpu-app-back wait_for 60 running_count app=gpu-app 3 gpu-1
t_say "uncordon to gpu-app Running again"

echo "# 7. a Job with 2 completions runs to completion"
t_mark
kc apply -f - >/dev/null <<'EOF2'
apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo job-done on $(hostname)"]}
EOF2
check job/complete kc wait --for=condition=complete job/work --timeout=90s
expect_eq job/succeeded 2 kc get job work -o 'jsonpath={.status.succeeded}'
JOB_POD=$(kc get pods -l job-name=work -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null)
expect_out job/logs '^job-done on work-' kc logs "$JOB_POD"
t_say "Job with 2 completions"

echo "# 8. kubectl delete deployment web removes its ReplicaSets and pods"
t_mark
check delete/web kc delete deployment web
check delete/rs-and-pods-gone wait_for 60 no_rs_no_pods app=web
t_say "cascade delete"

echo "# 9. an agent stopped for good: NotReady, its pods replaced elsewhere"
deployment mover 2
check mover/rollout rollout mover
MOVER_GPU=$(pods_of app=mover | awk '$2 == "gpu-1" {print $1}')
# Spreading puts one of the two on each node.
check mover/one-on-gpu-1 test -n "$MOVER_GPU"
t_mark
agent_stop gpu-1
GPU_RC=$?
expect_eq agent-gpu-1/sigterm-exit-0 0 echo "$GPU_RC"
T_STOP=$SECONDS
check down/node-not-ready wait_for $((GRACE_S + 15)) node_not_ready gpu-1
# The grace counts from the last renewal seen (every 10 s), not from the stop.
check down/not-before-grace test $((SECONDS - T_STOP)) -ge $((GRACE_S - 11))
t_say "agent stopped to node Ready=$(node_ready_status gpu-1) (grace ${GRACE_S} s)"
expect_eq down/reason NodeStatusUnknown kc get node gpu-1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}'
expect_out down/unreachable-taint 'node.kubernetes.io/unreachable' kc get node gpu-1 -o 'jsonpath={.spec.taints[*].key}'
t_mark
check down/mover-replaced-on-e2e wait_for $((TOLERATION_S + 40)) running_count app=mover 2 e2e
t_say "node Unknown to the pods replaced on e2e (toleration ${TOLERATION_S} s)"
# Without its kubelet the evicted pod stays Terminating (as upstream).
expect_out down/old-pod-terminating "^$MOVER_GPU [0-9]{4}-" kc get pod "$MOVER_GPU" -o 'jsonpath={.metadata.name} {.metadata.deletionTimestamp}'

echo "# 10. the agent comes back: Ready again, its evicted pods finish"
t_mark
agent_start gpu-1 "$TMP/gpu" "$NS2" "$NS2_IP" --node-label gpu=true --cni-bridge k3ccl1 \
    --crash-backoff-base-ms 1000
check back/node-ready wait_for 40 node_ready gpu-1
t_say "agent restart to node Ready"
no_unreachable_taint() { ! kc get node gpu-1 -o 'jsonpath={.spec.taints[*].key}' | grep -q unreachable; }
check back/taint-removed wait_for 20 no_unreachable_taint
pod_gone() { ! kc get pod "$1" >/dev/null 2>&1; }
check back/evicted-pod-deleted wait_for 40 pod_gone "$MOVER_GPU"
check back/ds-running-on-both wait_for 40 running_count app=ds 2
expect_eq back/mover-stays-on-e2e 'e2e ' nodes_of app=mover
t_say "node Ready to its evicted pods gone"

echo "# 11. cleanup through the API"
check cleanup/delete-workloads kc delete deployments,daemonsets,jobs --all --wait=false
check cleanup/delete-pods kc delete pods --all --grace-period=1 --wait=false
check cleanup/no-containers-left wait_for 60 pods_containers_gone
agent_stop gpu-1
GPU_RC=$?
expect_eq agent-gpu-1/sigterm-exit-0-again 0 echo "$GPU_RC"
agent_log_checks gpu-1
server_checks
summary
