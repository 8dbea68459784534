#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_scheduler.sh - the scheduler end to end with stock kubectl and fake
# nodes registered through the API (lib_nodes.sh; no agent): nodeSelector
# gpu=true lands on the gpu node only, a taint without toleration is
# avoided, a cordoned node gets nothing and the pod waiting for it is bound
# once it is uncordoned, a too-large request stays Pending with upstream's
# message and a FailedScheduling event, an extended resource (nvidia.com/gpu)
# is counted, pods/binding binds once (409 after), other schedulerNames are
# left alone, pods/eviction and `kubectl drain` remove pods.
# Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=scheduler
SERVER_EXTRA_ARGS=(--disable-agent)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_nodes.sh
. "$HERE/lib_nodes.sh"

start_server

node_of() { kc get pod "$1" -o 'jsonpath={.spec.nodeName}'; }
bound_to() { [ "$(node_of "$1")" = "$2" ]; }
is_bound() { [ -n "$(node_of "$1")" ]; }
sched_msg() { kc get pod "$1" -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}'; }
has_msg() { sched_msg "$1" | grep -q -- "$2"; }
# Events are written asynchronously, after the action they record.
has_event() { kc get events --field-selector "involvedObject.name=$1" 2>/dev/null | grep -q -- "$2"; }

pod_yaml() { # NAME EXTRA_SPEC_YAML (indented 2)
    cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  containers:
  - name: c
    image: busybox
$2
EOF
}

echo "# nodes"
check nodes/gpu node_register n-gpu --label gpu=true --extended nvidia.com/gpu=1
check nodes/plain node_register n-plain --label disk=ssd
check nodes/tainted node_register n-tainted --taint dedicated=db:NoSchedule
for n in n-gpu n-plain n-tainted; do node_lease_start "$n"; done
expect_out nodes/listed 'n-tainted' kc get nodes

echo "# 1. nodeSelector gpu=true lands on the gpu node"
run kc apply -f - <<<"$(pod_yaml gpu-pod '  nodeSelector:
    gpu: "true"')"
check sel/created [ "$RC" -eq 0 ]
if wait_for 20 bound_to gpu-pod n-gpu; then pass sel/bound-gpu; else fail sel/bound-gpu "nodeName '$(node_of gpu-pod)'" node_of gpu-pod; fi
expect_eq sel/condition True kc get pod gpu-pod -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].status}'
if wait_for 10 has_event gpu-pod 'Successfully assigned default/gpu-pod to n-gpu'; then pass sel/event; else fail sel/event "no Scheduled event" kc get events; fi

echo "# 2. an untolerated taint is avoided; a toleration lets pods in"
for i in 1 2 3 4 5 6; do
    pod_yaml "spread-$i" '' | kc apply -f - >/dev/null
done
all_bound() { for i in 1 2 3 4 5 6; do is_bound "spread-$i" || return 1; done; }
if wait_for 30 all_bound; then pass taint/all-bound; else fail taint/all-bound "not all bound" kc get pods -o wide; fi
run kc get pods -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}'
if matches n-tainted; then fail taint/avoided "a pod landed on n-tainted" kc get pods -o wide; else pass taint/avoided; fi
if matches n-gpu && matches n-plain; then pass taint/spread; else fail taint/spread "pods not spread over both nodes" kc get pods -o wide; fi
run kc apply -f - <<<"$(pod_yaml tol-pod '  nodeSelector:
    kubernetes.io/hostname: n-tainted
  tolerations:
  - key: dedicated
    operator: Equal
    value: db
    effect: NoSchedule')"
if wait_for 20 bound_to tol-pod n-tainted; then pass taint/tolerated; else fail taint/tolerated "nodeName '$(node_of tol-pod)'" node_of tol-pod; fi

echo "# 3. cordon: nothing lands there until uncordon"
check cordon/cordon kc cordon n-plain
run kc apply -f - <<<"$(pod_yaml want-plain '  nodeSelector:
    disk: ssd')"
want='0/3 nodes are available: 1 node(s) didn'"'"'t match Pod'"'"'s node affinity/selector, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.'
if wait_for 20 has_msg want-plain "^$want\$"; then pass cordon/message; else fail cordon/message "message '$(sched_msg want-plain)'" sched_msg want-plain; fi
expect_eq cordon/pending '' node_of want-plain
if wait_for 10 has_event want-plain FailedScheduling; then pass cordon/event; else fail cordon/event "no FailedScheduling event" kc get events; fi
check cordon/uncordon kc uncordon n-plain
if wait_for 20 bound_to want-plain n-plain; then pass cordon/bound-after-uncordon; else fail cordon/bound-after-uncordon "nodeName '$(node_of want-plain)'" node_of want-plain; fi

echo "# 4. a too-large request stays Pending with the message"
run kc apply -f - <<<"$(pod_yaml huge '    resources:
      requests:
        cpu: "100"')"
if wait_for 20 has_msg huge 'Insufficient cpu'; then pass big/message; else fail big/message "message '$(sched_msg huge)'" sched_msg huge; fi
expect_out big/full-message '^0/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: db\}, 2 Insufficient cpu\.' sched_msg huge
expect_eq big/pending Pending kc get pod huge -o 'jsonpath={.status.phase}'
describe_has() { kc describe pod "$1" 2>/dev/null | grep -q -- "$2"; }
if wait_for 10 describe_has huge FailedScheduling; then pass big/describe; else fail big/describe "no FailedScheduling in describe" kc describe pod huge; fi

echo "# 5. extended resources are counted"
run kc apply -f - <<<"$(pod_yaml gpu-1 '    resources:
      limits:
        nvidia.com/gpu: "1"')"
if wait_for 20 bound_to gpu-1 n-gpu; then pass gpu/first; else fail gpu/first "nodeName '$(node_of gpu-1)'" node_of gpu-1; fi
run kc apply -f - <<<"$(pod_yaml gpu-2 '    resources:
      limits:
        nvidia.com/gpu: "1"')"
if wait_for 20 has_msg gpu-2 'Insufficient nvidia.com/gpu'; then pass gpu/second-pending; else fail gpu/second-pending "message '$(sched_msg gpu-2)'" sched_msg gpu-2; fi
check gpu/delete-first kc delete pod gpu-1 --grace-period=0 --force
if wait_for 20 bound_to gpu-2 n-gpu; then pass gpu/second-after-free; else fail gpu/second-after-free "nodeName '$(node_of gpu-2)'" node_of gpu-2; fi

echo "# 6. other schedulers' pods; pods/binding"
run kc apply -f - <<<"$(pod_yaml other '  schedulerName: my-scheduler')"
check other/created [ "$RC" -eq 0 ]
# Stays unbound while the scheduler handles the pods created after it.
run kc apply -f - <<<"$(pod_yaml after-other '')"
wait_for 20 is_bound after-other
expect_eq other/unbound '' node_of other
binding='{"apiVersion":"v1","kind":"Binding","metadata":{"name":"other"},"target":{"apiVersion":"v1","kind":"Node","name":"n-plain"}}'
check other/bind http_expect 201 '"Success"' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X POST -H 'Content-Type: application/json' --data "$binding" "$API_URL/api/v1/namespaces/default/pods/other/binding"
expect_eq other/bound n-plain node_of other
check other/rebind-409 http_expect 409 'already assigned to node' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X POST -H 'Content-Type: application/json' --data "$binding" "$API_URL/api/v1/namespaces/default/pods/other/binding"
expect_out discovery/eviction '"pods/eviction"' kc get --raw /api/v1

echo "# 7. pods/eviction and kubectl drain"
eviction='{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"tol-pod"},"deleteOptions":{"gracePeriodSeconds":0}}'
check evict/201 http_expect 201 '"Success"' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X POST -H 'Content-Type: application/json' --data "$eviction" "$API_URL/api/v1/namespaces/default/pods/tol-pod/eviction"
pod_gone() { ! kc get pod "$1" >/dev/null 2>&1; }
if wait_for 10 pod_gone tol-pod; then pass evict/gone; else fail evict/gone "tol-pod still there" kc get pod tol-pod; fi
check evict/404 http_expect 404 'not found' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X POST -H 'Content-Type: application/json' --data "$eviction" "$API_URL/api/v1/namespaces/default/pods/tol-pod/eviction"
expect_out drain/drain 'drained' kc drain n-gpu --force --grace-period=0 --timeout=60s
run kc get pods -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}'
if matches n-gpu; then fail drain/empty "pods left on n-gpu" kc get pods -o wide; else pass drain/empty; fi
expect_eq drain/cordoned true kc get node n-gpu -o 'jsonpath={.spec.unschedulable}'

nodes_cleanup
server_checks
summary
