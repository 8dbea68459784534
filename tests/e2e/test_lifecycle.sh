#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_lifecycle.sh - the lifecycle controllers end to end with stock
# kubectl 1.32 against a real `k3c server --disable-agent` and nodes
# registered through the API (lib_nodes.sh): pod CIDRs, the default
# ServiceAccount, EndpointSlices/Endpoints from pods whose status the test
# sets, node lifecycle (a lapsed lease -> Ready Unknown + unreachable taints
# -> NoExecute eviction after tolerationSeconds -> back, taints removed),
# garbage collection with foreground/orphan/background propagation, and
# namespace deletion. Short settings: grace period 10 s, tolerations 5 s.
#
# Same harness as test_kubectl.sh (lib.sh): one line per check, the output
# of every failing check, last "N passed, M failed". Exit 0 when nothing
# failed, 1 otherwise, 77 (skipped) without /usr/bin/kubectl. Every wait
# polls with a deadline; the EXIT trap stops the server, the lease loops and
# any etcd on the temp dir.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=lifecycle
GRACE_S=10 # generous: fake leases are renewed by shell loops, slow on a loaded machine
TOL_S=5
SERVER_EXTRA_ARGS=(--disable-agent --node-monitor-grace-period "$GRACE_S"
    --default-not-ready-toleration-seconds "$TOL_S"
    --default-unreachable-toleration-seconds "$TOL_S")
NS=e2e-lc
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_nodes.sh
. "$HERE/lib_nodes.sh"

start_server

# ---- helpers ----

jp() { kc get "$@" 2>/dev/null; }
py() { python3 -c "$1"; }

pod_manifest() { # NAME NODE LABEL TOLERATIONS_JSON
    cat <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","namespace":"$NS","labels":{"app":"$3"}},
 "spec":{"nodeName":"$2","terminationGracePeriodSeconds":0,
  "containers":[{"name":"c","image":"registry.invalid/none:1","ports":[{"name":"web","containerPort":8080}]}],
  "tolerations":$4}}
EOF
}

node_cidr() { jp node "$1" -o 'jsonpath={.spec.podCIDR} {.spec.podCIDRs[0]}'; }
node_has_cidr() { [[ "$(node_cidr "$1")" =~ ^10\.42\.[0-9]+\.0/24\ 10\.42\.[0-9]+\.0/24$ ]]; }
node_ready() { [ "$(jp node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]; }
node_taints() { jp node "$1" -o 'jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}'; }
node_tainted() { [[ "$(node_taints "$1")" == *"node.kubernetes.io/unreachable:NoSchedule"*"node.kubernetes.io/unreachable:NoExecute"* ]]; }
node_untainted() { [[ "$(node_taints "$1")" != *node.kubernetes.io/* ]]; }
pod_evicted() { # gone or being deleted
    local ts
    ts=$(kc get pod "$1" -n "$NS" -o 'jsonpath={.metadata.deletionTimestamp}' 2>&1) || return 0
    [ -n "$ts" ]
}
pod_alive() { [ -z "$(kc get pod "$1" -n "$NS" -o 'jsonpath={.metadata.deletionTimestamp}')" ]; }
gone() { ! kc get "$@" >/dev/null 2>&1 && kc get "$@" 2>&1 | grep -q NotFound; }

slice_state() { # the service's slice endpoints as "ip:ready" sorted
    kc get endpointslices -n "$NS" -l kubernetes.io/service-name=web -o json | py '
import json, sys
items = json.load(sys.stdin)["items"]
eps = sorted("%s:%s" % (e["addresses"][0], str(e["conditions"]["ready"]).lower())
             for s in items for e in s.get("endpoints") or [])
ports = sorted("%s/%s" % (p.get("name", ""), p["port"]) for s in items for p in s.get("ports") or [])
print(" ".join(eps), "|", " ".join(ports))'
}
endpoints_state() { # "ready=IPs notready=IPs"
    kc get endpoints web -n "$NS" -o json | py '
import json, sys
e = json.load(sys.stdin)
r = sorted(a["ip"] for s in e.get("subsets") or [] for a in s.get("addresses") or [])
n = sorted(a["ip"] for s in e.get("subsets") or [] for a in s.get("notReadyAddresses") or [])
print("ready=" + ",".join(r), "notready=" + ",".join(n))'
}
state_is() { [ "$("$1")" = "$2" ]; }

# cm_pair NAME OWNER UID BLOCK NS [-- NAME OWNER UID BLOCK NS]: dependents.
cm_pair() {
    while [ $# -gt 0 ]; do
        cm_with_owner "$1" "$2" "$3" "$4" "$5" || return 1
        shift 5
        [ "${1:-}" = -- ] && shift
    done
    return 0
}

cm_with_owner() { # NAME OWNER_NAME OWNER_UID BLOCK NS
    kc create -f - <<EOF
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"$1","namespace":"$5",
 "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"$2","uid":"$3","blockOwnerDeletion":$4}]},
 "data":{"k":"v"}}
EOF
}

# ---- nodes: pod CIDRs ----

for n in n1 n2 n3; do check "register node $n" node_register "$n"; done
for n in n1 n2 n3; do node_lease_start "$n" 1; done
for n in n1 n2 n3; do wait_check "node $n gets a /24 podCIDR of 10.42.0.0/16" 15 node_has_cidr "$n"; done
distinct_cidrs() { for n in "$@"; do jp node "$n" -o 'jsonpath={.spec.podCIDR}{"\n"}'; done | sort -u | wc -l | tr -d ' '; }
expect_eq "podCIDRs are distinct" 3 distinct_cidrs n1 n2 n3
N3_CIDR=$(jp node n3 -o 'jsonpath={.spec.podCIDR}')
check "delete node n3" kc delete node n3
node_lease_stop n3
check "register node n4" node_register n4
node_lease_start n4 1
wait_check "node n4 gets a podCIDR" 15 node_has_cidr n4
expect_eq "n4 reuses the range n3 released" "$N3_CIDR" jp node n4 -o 'jsonpath={.spec.podCIDR}'
recreate_n4() { kc delete node n4 >/dev/null && node_register n4; }
check "delete and re-create node n4 at once" recreate_n4
wait_check "the new n4 gets a podCIDR too" 15 node_has_cidr n4

# ---- namespaces: default ServiceAccount ----

check "create namespace $NS" kc create namespace "$NS"
wait_check "ServiceAccount default appears in $NS" 15 kc get serviceaccount default -n "$NS"
check "delete ServiceAccount default" kc delete serviceaccount default -n "$NS"
wait_check "ServiceAccount default is re-created" 15 kc get serviceaccount default -n "$NS"

# ---- endpoints ----

check "create pod web-1 on n1" kc create -f - <<<"$(pod_manifest web-1 n1 web '[]')"
check "create pod web-2 on n1" kc create -f - <<<"$(pod_manifest web-2 n1 web '[]')"
# (tolerationSeconds is the server's --default-*-toleration-seconds once
# cmd_server.c passes them in api_config; 300 until then)
expect_all "admission adds the default NoExecute tolerations" \
    "node.kubernetes.io/not-ready:NoExecute:[0-9]+" "node.kubernetes.io/unreachable:NoExecute:[0-9]+" -- \
    kc get pod web-1 -n "$NS" -o 'jsonpath={range .spec.tolerations[*]}{.key}:{.effect}:{.tolerationSeconds}{"\n"}{end}'
check "pod web-1 Running, Ready" pod_set_status "$NS" web-1 Running True 10.42.0.11
check "pod web-2 Running, not Ready" pod_set_status "$NS" web-2 Running False 10.42.0.12
check "create service web" kc create -f - <<EOF
{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"$NS"},
 "spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"web"}]}}
EOF
wait_check "EndpointSlice lists both pods, web-1 ready, targetPort resolved by name" 15 \
    state_is slice_state "10.42.0.11:true 10.42.0.12:false | http/8080"
wait_check "Endpoints: web-1 ready, web-2 in notReadyAddresses" 15 \
    state_is endpoints_state "ready=10.42.0.11 notready=10.42.0.12"
expect_all "EndpointSlice labels and owner" "endpointslice-controller.k8s.io" "Service web" -- \
    kc get endpointslices -n "$NS" -l kubernetes.io/service-name=web \
    -o 'jsonpath={.items[0].metadata.labels.endpointslice\.kubernetes\.io/managed-by} {.items[0].metadata.ownerReferences[0].kind} {.items[0].metadata.ownerReferences[0].name} {.items[0].endpoints[0].nodeName}'
check "pod web-2 becomes Ready" pod_set_status "$NS" web-2 Running True 10.42.0.12
wait_check "Endpoints: both ready" 15 state_is endpoints_state "ready=10.42.0.11,10.42.0.12 notready="

# ---- node lifecycle and taint eviction ----

check "create pod short on n2 (tolerates unreachable for ${TOL_S}s)" kc create -f - <<<"$(pod_manifest short n2 x \
    "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":$TOL_S}]")"
check "create pod forever on n2 (tolerates unreachable forever)" kc create -f - <<<"$(pod_manifest forever n2 x \
    '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]')"
check "node n2 Ready" node_ready n2 True
node_lease_stop n2
start=$SECONDS
wait_check "lapsed n2: Ready Unknown within the grace period (+3 s)" $((GRACE_S + 5)) node_ready n2 Unknown
lapse_s=$((SECONDS - start))
echo "# n2 Ready=Unknown ${lapse_s}s after its lease loop stopped (grace ${GRACE_S}s, counted from the last renewal seen)"
expect_out "Ready Unknown reason and message" "NodeStatusUnknown Kubelet stopped posting node status." \
    kc get node n2 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Ready")].message}'
wait_check "n2 gets unreachable NoSchedule and NoExecute taints" 10 node_tainted n2
taint_s=$SECONDS
check "n1 (lease fresh) stays Ready" node_ready n1 True
wait_check "pod short evicted after its tolerationSeconds" $((TOL_S + 8)) pod_evicted short
echo "# pod short evicted $((SECONDS - taint_s))s after the taint was seen (tolerationSeconds $TOL_S)"
check "pod forever is not evicted" pod_alive forever
expect_out "TaintManagerEviction event" "TaintManagerEviction" \
    kc get events -n "$NS" --field-selector involvedObject.name=short -o 'jsonpath={.items[*].reason}'
expect_out "NodeNotReady event" "NodeNotReady" kc get events -A -o 'jsonpath={.items[*].reason}'
node_lease_start n2 1
check "n2 posts Ready again" node_set_ready n2 True
wait_check "n2 back: taints removed" 10 node_untainted n2
expect_out "NodeReady event" "NodeReady" kc get events -A -o 'jsonpath={.items[*].reason}'
node_not_ready_tainted() { [[ "$(node_taints "$1")" == *"node.kubernetes.io/not-ready:NoSchedule"*"node.kubernetes.io/not-ready:NoExecute"* ]]; }
check "n4 posts Ready=False" node_set_ready n4 False
wait_check "n4 gets not-ready NoSchedule and NoExecute taints" 10 node_not_ready_tainted n4
check "n4 posts Ready=True" node_set_ready n4 True
wait_check "n4: not-ready taints removed" 10 node_untainted n4

# ---- garbage collection ----

GNS=e2e-gc
check "create namespace $GNS" kc create namespace "$GNS"
uid_of() { kc get configmap "$1" -n "$GNS" -o 'jsonpath={.metadata.uid}'; }
check "owner fg" kc create configmap fg -n "$GNS"
FG_UID=$(uid_of fg)
check "dependents of fg" cm_pair fg-a fg "$FG_UID" true "$GNS" -- fg-b fg "$FG_UID" false "$GNS"
check "delete --cascade=foreground fg" kc delete configmap fg -n "$GNS" --cascade=foreground --timeout=30s
check "foreground: dependent fg-a gone" gone configmap fg-a -n "$GNS"
wait_check "foreground: dependent fg-b gone" 10 gone configmap fg-b -n "$GNS"
check "foreground: owner gone" gone configmap fg -n "$GNS"

check "owner or" kc create configmap or -n "$GNS"
OR_UID=$(uid_of or)
check "dependent of or" cm_pair or-a or "$OR_UID" true "$GNS"
check "delete --cascade=orphan or" kc delete configmap or -n "$GNS" --cascade=orphan --timeout=30s
check "orphan: owner gone" gone configmap or -n "$GNS"
expect_eq "orphan: dependent kept, without ownerReferences" "or-a:" \
    kc get configmap or-a -n "$GNS" -o 'jsonpath={.metadata.name}:{.metadata.ownerReferences}'

check "owner bg" kc create configmap bg -n "$GNS"
BG_UID=$(uid_of bg)
check "dependent of bg" cm_pair bg-a bg "$BG_UID" true "$GNS"
check "delete (background) bg" kc delete configmap bg -n "$GNS"
wait_check "background: dependent removed by the collector" 10 gone configmap bg-a -n "$GNS"
check "dependent with an owner that never existed" cm_pair ghost-a ghost 0000-none false "$GNS"
wait_check "dependent of a missing owner is collected" 10 gone configmap ghost-a -n "$GNS"
# With the workload controllers: a ReplicaSet's pods (grace 0, so they go at
# once without a kubelet) follow it in the foreground; a Deployment's
# ReplicaSet and pods follow it in the background.
workload() { # KIND NAME
    cat <<EOF
{"apiVersion":"apps/v1","kind":"$1","metadata":{"name":"$2","namespace":"$GNS"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"$2"}},
  "template":{"metadata":{"labels":{"app":"$2"}},
   "spec":{"terminationGracePeriodSeconds":0,"nodeSelector":{"kubernetes.io/hostname":"n1"},
    "containers":[{"name":"c","image":"registry.invalid/none:1"}]}}}}
EOF
}
pods_of() { kc get pods -n "$GNS" -l "app=$1" -o name | wc -l | tr -d ' '; }
pods_of_are() { [ "$(pods_of "$1")" = "$2" ]; }
rs_of_dep() { kc get rs -n "$GNS" -l app=dep1 -o name | wc -l | tr -d ' '; }
check "create ReplicaSet rs1" kc create -f - <<<"$(workload ReplicaSet rs1)"
wait_check "rs1 has 2 pods" 30 pods_of_are rs1 2
check "delete --cascade=foreground rs1 (waits for its pods)" \
    kc delete rs rs1 -n "$GNS" --cascade=foreground --timeout=40s
check "rs1's pods gone with it" pods_of_are rs1 0
check "create Deployment dep1" kc create -f - <<<"$(workload Deployment dep1)"
wait_check "dep1 has 2 pods" 30 pods_of_are dep1 2
check "delete Deployment dep1 (background)" kc delete deployment dep1 -n "$GNS"
wait_check "dep1's ReplicaSet collected" 20 state_is rs_of_dep 0
wait_check "dep1's pods collected" 20 pods_of_are dep1 0

check "service web deleted" kc delete service web -n "$NS"
slice_count() { kc get endpointslices -n "$NS" -o name | wc -l | tr -d ' '; }
wait_check "its EndpointSlice collected" 10 state_is slice_count 0
wait_check "its Endpoints removed" 10 gone endpoints web -n "$NS"

# ---- namespace deletion ----

DNS=e2e-del
check "create namespace $DNS" kc create namespace "$DNS"
check "configmap in $DNS" kc create configmap c1 -n "$DNS"
check "secret in $DNS" kc create secret generic s1 -n "$DNS" --from-literal=a=b
check "pod (unschedulable, so never bound) in $DNS" kc create -f - <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"$DNS"},
 "spec":{"nodeSelector":{"no-such-label":"x"},"containers":[{"name":"c","image":"registry.invalid/none:1"}]}}
EOF
check "pod bound to n1 (grace 30 s) in $DNS" kc create -f - <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bound","namespace":"$DNS"},
 "spec":{"nodeName":"n1","containers":[{"name":"c","image":"registry.invalid/none:1"}]}}
EOF
check "delete namespace $DNS (foreground, no wait)" kc delete namespace "$DNS" --cascade=foreground --wait=false
bound_terminating() { [ -n "$(kc get pod bound -n "$DNS" -o 'jsonpath={.metadata.deletionTimestamp}')" ]; }
wait_check "the bound pod is marked for deletion (its kubelet would stop it)" 20 bound_terminating
expect_eq "namespace $DNS waits for it, Terminating" Terminating \
    kc get namespace "$DNS" -o 'jsonpath={.status.phase}'
check "the 'kubelet' removes the pod" kc delete pod bound -n "$DNS" --grace-period=0 --force
wait_check "namespace $DNS emptied and removed" 20 gone namespace "$DNS"
start=$SECONDS
check "kubectl delete namespace waits and returns" kc delete namespace "$GNS" --timeout=30s
echo "# kubectl delete namespace $GNS returned after $((SECONDS - start))s"
check "namespace $GNS gone" gone namespace "$GNS"

nodes_cleanup # no renewals against a stopped server
server_checks
summary
