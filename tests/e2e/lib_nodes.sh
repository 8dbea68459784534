# SPDX-License-Identifier: Apache-2.0
# lib_nodes.sh - fake nodes for control-loop tests (sourced after lib.sh and
# start_server): nodes are API objects, so the scheduler and the controllers
# can be tested without an agent.
#
#   node_register NAME [OPTIONS]   creates Node NAME, Ready, with
#       --label K=V (repeatable)      metadata.labels
#       --taint K=V:EFFECT / K:EFFECT (repeatable) spec.taints
#       --cpu N (default 4)  --memory Q (default 8Gi)  --pods N (default 110)
#       --extended NAME=N (repeatable, e.g. nvidia.com/gpu=1)
#       --unschedulable               spec.unschedulable
#       --not-ready                   Ready=False
#   node_lease_start NAME [PERIOD_S]  renews kube-node-lease/NAME every
#                                     PERIOD_S (default 2) in the background
#   node_lease_stop NAME              stops renewing (the lease lapses)
#   node_set_ready NAME True|False|Unknown   sets the Ready condition
#   pod_set_phase NS NAME PHASE [READY]      sets status.phase (and Ready)
#                                     as a kubelet would (status subresource)
# The EXIT trap of lib.sh is extended to stop every renewal loop.
# shellcheck shell=bash

declare -A NODE_LEASE_PIDS=()

nodes_cleanup() {
    local n
    for n in "${!NODE_LEASE_PIDS[@]}"; do
        kill "${NODE_LEASE_PIDS[$n]}" 2>/dev/null
        wait "${NODE_LEASE_PIDS[$n]}" 2>/dev/null
    done
    NODE_LEASE_PIDS=()
}
trap 'nodes_cleanup; cleanup' EXIT

# api_json METHOD PATH [BODY [CONTENT_TYPE]]: admin curl against the API; prints
# the body, fails on a non-2xx status.
api_json() {
    local method=$1 path=$2 body=${3:-} ctype=${4:-application/json}
    if [ -n "$body" ]; then
        acurl -f -X "$method" -H "Content-Type: $ctype" --data-binary "$body" "$API_URL$path"
    else
        acurl -f -X "$method" "$API_URL$path"
    fi
}

node_register() {
    local name=$1
    shift
    python3 - "$name" "$@" >"$TMP/node-$name.json" <<'EOF' || return 1
import json, sys
name, args = sys.argv[1], sys.argv[2:]
labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
taints, ext = [], {}
cpu, mem, pods, unsched, ready = "4", "8Gi", "110", False, "True"
i = 0
while i < len(args):
    a = args[i]
    v = args[i + 1] if i + 1 < len(args) else ""
    if a == "--label":
        k, _, val = v.partition("="); labels[k] = val; i += 2
    elif a == "--taint":
        kv, _, eff = v.rpartition(":")
        k, _, val = kv.partition("=")
        t = {"key": k, "effect": eff}
        if val: t["value"] = val
        taints.append(t); i += 2
    elif a == "--cpu": cpu = v; i += 2
    elif a == "--memory": mem = v; i += 2
    elif a == "--pods": pods = v; i += 2
    elif a == "--extended":
        k, _, val = v.partition("="); ext[k] = val; i += 2
    elif a == "--unschedulable": unsched = True; i += 1
    elif a == "--not-ready": ready = "False"; i += 1
    else:
        sys.exit("node_register: unknown option " + a)
res = {"cpu": cpu, "memory": mem, "pods": pods}
res.update(ext)
spec = {}
if taints: spec["taints"] = taints
if unsched: spec["unschedulable"] = True
import datetime
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
node = {"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"capacity": res, "allocatable": res,
                   "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                   "message": "fake node", "lastHeartbeatTime": now,
                                   "lastTransitionTime": now}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.32.0-k3c", "operatingSystem": "linux",
                                "architecture": "amd64", "containerRuntimeVersion": "fake",
                                "kernelVersion": "", "osImage": "fake", "machineID": "",
                                "systemUUID": "", "bootID": "", "kubeProxyVersion": ""}}}
print(json.dumps(node))
EOF
    api_json POST /api/v1/nodes "$(cat "$TMP/node-$name.json")" >/dev/null
}

# The lease body for NAME, renewed now.
node_lease_body() {
    python3 - "$1" <<'EOF'
import datetime, json, sys
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
print(json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                  "metadata": {"name": sys.argv[1], "namespace": "kube-node-lease"},
                  "spec": {"holderIdentity": sys.argv[1], "leaseDurationSeconds": 40,
                           "renewTime": now}}))
EOF
}

node_lease_renew() {
    local name=$1 body
    body=$(node_lease_body "$name" 2>/dev/null) || return 1
    api_json PATCH "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$name" \
        "$body" application/merge-patch+json >/dev/null 2>&1 ||
        api_json POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases \
            "$body" >/dev/null
}

node_lease_start() {
    local name=$1 period=${2:-2}
    node_lease_stop "$name"
    node_lease_renew "$name" || return 1
    (
        # Bounded: at most an hour of renewals, and only while the test runs.
        for _ in $(seq 1 $((3600 / period))); do
            sleep "$period"
            node_lease_renew "$name" || true
        done
    ) &
    NODE_LEASE_PIDS[$name]=$!
}

node_lease_stop() {
    local pid=${NODE_LEASE_PIDS[$1]:-}
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "NODE_LEASE_PIDS[$1]"
    fi
    return 0
}

node_set_ready() {
    local name=$1 status=$2 now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    api_json PATCH "/api/v1/nodes/$name/status" \
        "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"$status\",\"reason\":\"Test\",\"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" \
        application/strategic-merge-patch+json >/dev/null
}

pod_set_phase() {
    local ns=$1 name=$2 phase=$3 ready=${4:-True} now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    api_json PATCH "/api/v1/namespaces/$ns/pods/$name/status" \
        "{\"status\":{\"phase\":\"$phase\",\"podIP\":\"10.42.0.10\",\"startTime\":\"$now\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$ready\",\"lastTransitionTime\":\"$now\"},{\"type\":\"ContainersReady\",\"status\":\"$ready\",\"lastTransitionTime\":\"$now\"}]}}" \
        application/strategic-merge-patch+json >/dev/null
}

# pod_set_status NS NAME PHASE READY IP: like pod_set_phase, with the pod's
# own IP (endpoint tests need distinct addresses).
pod_set_status() {
    local ns=$1 name=$2 phase=$3 ready=$4 ip=$5 now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    api_json PATCH "/api/v1/namespaces/$ns/pods/$name/status" \
        "{\"status\":{\"phase\":\"$phase\",\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}],\"startTime\":\"$now\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$ready\",\"lastTransitionTime\":\"$now\"},{\"type\":\"ContainersReady\",\"status\":\"$ready\",\"lastTransitionTime\":\"$now\"}]}}" \
        application/strategic-merge-patch+json >/dev/null
}
