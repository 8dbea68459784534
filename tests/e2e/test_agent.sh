#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_agent.sh - end-to-end test of joining nodes: the server's own node,
# `k3c agent --server --token` with labels and taints, the node token and
# CA pinning, node restriction with the node's own credentials, Lease
# heartbeat, restart reusing the join. Real server, real agent processes,
# stock kubectl. Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=agent
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

AGENT_PID=
LATE_PID=
FWD_PID=
stop_agent() {
    if [ -n "$AGENT_PID" ]; then
        stop_pid "$AGENT_PID" "$STOP_TIMEOUT_S"
        AGENT_RC=$?
        AGENT_PID=
    fi
}
stop_late() {
    if [ -n "$LATE_PID" ]; then
        stop_pid "$LATE_PID" "$STOP_TIMEOUT_S"
        LATE_RC=$?
        LATE_PID=
    fi
    if [ -n "$FWD_PID" ]; then
        kill "$FWD_PID" 2>/dev/null
        wait "$FWD_PID" 2>/dev/null
        FWD_PID=
    fi
}
trap 'stop_agent; stop_late; cleanup' EXIT

start_server

echo "# 1. the server's own node and its token"
expect_eq own/ready True kc get node e2e -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
expect_out own/control-plane 'control-plane' kc get node e2e
expect_eq own/lease e2e kc get lease e2e -n kube-node-lease -o 'jsonpath={.spec.holderIdentity}'
TOKEN_FILE=$TMP/data/server/token
expect_eq token/mode 600 stat -c %a "$TOKEN_FILE"
expect_out token/format '^K10[0-9a-f]{64}::server:[0-9a-f]+$' cat "$TOKEN_FILE"
TOKEN=$(cat "$TOKEN_FILE")
CA_HASH=$(sha256sum "$TMP/data/server/tls/server-ca.crt" | cut -d' ' -f1)
expect_out token/ca-hash "^K10$CA_HASH::" cat "$TOKEN_FILE"

echo "# 2. a wrong token changes nothing"
BAD_HASH="K10$(printf '%064d' 0)::server:${TOKEN##*:}"
expect_fail join/wrong-ca-hash 'is not the one the token names' \
    timeout "$CMD_TIMEOUT_S" "$K3C_BIN" agent --server "$API_URL" --token "$BAD_HASH" \
    --data-dir "$TMP/bad1" --node-name bad-one
check join/wrong-ca-hash-wrote-nothing test ! -e "$TMP/bad1/agent"
expect_fail join/wrong-secret 'token is wrong' \
    timeout "$CMD_TIMEOUT_S" "$K3C_BIN" agent --server "$API_URL" --token "${TOKEN%:*}:not-the-secret" \
    --data-dir "$TMP/bad2" --node-name bad-two
check join/wrong-secret-wrote-nothing test ! -e "$TMP/bad2/agent"
expect_fail join/malformed-token 'must look like K10' \
    timeout "$CMD_TIMEOUT_S" "$K3C_BIN" agent --server "$API_URL" --token nonsense \
    --data-dir "$TMP/bad3" --node-name bad-three
expect_fail join/no-node-objects 'not found' kc get node bad-one

echo "# 3. an agent node with labels and taints"
start_agent() {
    "$K3C_BIN" agent --server "$API_URL" --token "$TOKEN" --data-dir "$TMP/gpu" \
        --node-name gpu-1 --node-ip 127.0.0.1 --node-label gpu=true --node-label edge=false \
        --node-taint nvidia.com/gpu=true:NoSchedule --disable-pods </dev/null >>"$TMP/agent.log" 2>&1 &
    AGENT_PID=$!
}
start_agent
node_ready() {
    [ "$(kc get node gpu-1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
check agent/ready wait_for 30 node_ready
expect_eq agent/labels 'true false' kc get node gpu-1 -o 'jsonpath={.metadata.labels.gpu} {.metadata.labels.edge}'
expect_eq agent/taint 'nvidia.com/gpu true NoSchedule' \
    kc get node gpu-1 -o 'jsonpath={.spec.taints[0].key} {.spec.taints[0].value} {.spec.taints[0].effect}'
expect_out agent/capacity '^[0-9]+ [0-9]+(Ki|Mi|Gi) 110$' \
    kc get node gpu-1 -o 'jsonpath={.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods}'
expect_out agent/node-info 'linux (amd64|arm64)' \
    kc get node gpu-1 -o 'jsonpath={.status.nodeInfo.operatingSystem} {.status.nodeInfo.architecture}'
expect_eq agent/internal-ip 127.0.0.1 kc get node gpu-1 -o 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'
expect_eq agent/lease gpu-1 kc get lease gpu-1 -n kube-node-lease -o 'jsonpath={.spec.holderIdentity}'
expect_eq agent/key-mode 600 stat -c %a "$TMP/gpu/agent/client-kubelet.key"
expect_out agent/nodes-listed 'gpu-1 +Ready +<none>' kc get nodes

echo "# 4. node restriction, with the node's own credentials"
nk() { KUBECONFIG=$TMP/gpu/agent/kubelet.kubeconfig kc "$@"; }
expect_out restrict/read-nodes 'e2e' nk get nodes
expect_out restrict/label-own 'node/gpu-1 labeled' nk label node gpu-1 zone=lab
expect_fail restrict/label-other 'forbidden: User "system:node:gpu-1" cannot patch resource "nodes"' \
    nk label node e2e evil=yes
expect_fail restrict/create-configmap 'forbidden' nk create configmap x --from-literal=a=b
expect_fail restrict/delete-own-node 'forbidden' nk delete node gpu-1
expect_fail restrict/other-lease 'forbidden' nk delete lease e2e -n kube-node-lease

echo "# 5. heartbeat, stop, restart"
RENEW1=$(kc get lease gpu-1 -n kube-node-lease -o 'jsonpath={.spec.renewTime}')
lease_renewed() {
    local now
    now=$(kc get lease gpu-1 -n kube-node-lease -o 'jsonpath={.spec.renewTime}')
    [ -n "$now" ] && [ "$now" != "$RENEW1" ]
}
check heartbeat/lease-renewed wait_for 25 lease_renewed
stop_agent
expect_eq agent/sigterm-exit-0 0 echo "$AGENT_RC"
start_agent
check agent/restart-ready wait_for 30 node_ready
agent_rejoined() { grep -q 'credentials of an earlier join' "$TMP/agent.log"; }
check agent/restart-reuses-join wait_for 10 agent_rejoined
expect_eq agent/restart-keeps-labels 'true lab' kc get node gpu-1 -o 'jsonpath={.metadata.labels.gpu} {.metadata.labels.zone}'
stop_agent
run grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/agent.log"
if [ "$RC" -eq 0 ]; then fail agent/no-sanitizer-reports "sanitizer report" "grep $TMP/agent.log"; else pass agent/no-sanitizer-reports; fi

echo "# 6. an agent that starts before its server answers waits, then joins"
# Nothing listens on LATE_PORT at first; later tcp_forward.py forwards it
# to the API server, as if the server had just come up.
read -r LATE_PORT <<<"$(free_ports 1)"
start_late() {
    "$K3C_BIN" agent --server "https://127.0.0.1:$LATE_PORT" --token "$TOKEN" \
        --data-dir "$TMP/$1" --node-name "$1" --node-ip 127.0.0.1 --disable-pods \
        </dev/null >"$TMP/$1.log" 2>&1 &
    LATE_PID=$!
}
late_waiting() { grep -q "not ready yet" "$TMP/$1.log" 2>/dev/null; }
start_late late-stop
check late/stop-waiting wait_for 20 late_waiting late-stop
stop_late
expect_eq late/sigterm-while-waiting-exit-0 0 echo "$LATE_RC"
start_late late-1
check late/waiting wait_for 20 late_waiting late-1
expect_out late/says-why "server https://127.0.0.1:$LATE_PORT not ready yet .*retrying" cat "$TMP/late-1.log"
check late/still-running kill -0 "$LATE_PID"
check late/nothing-written test ! -e "$TMP/late-1/agent"
python3 "$HERE/tcp_forward.py" "$LATE_PORT" "$API_PORT" </dev/null >/dev/null 2>&1 &
FWD_PID=$!
late_ready() {
    [ "$(kc get node late-1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
check late/joined-when-server-came wait_for 40 late_ready
stop_late
expect_eq late/sigterm-exit-0 0 echo "$LATE_RC"
run grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/late-1.log" "$TMP/late-stop.log"
if [ "$RC" -eq 0 ]; then fail late/no-sanitizer-reports "sanitizer report" "grep late logs"; else pass late/no-sanitizer-reports; fi

echo "# 7. node authorizer: configmaps and secrets only of pods bound to the node"
# (the agent is stopped: the pod below is bound to gpu-1 but never started)
expect_out refs/create-cm 'created' kc create configmap ps-used --from-literal=k=v
expect_out refs/create-cm-other 'created' kc create configmap ps-other --from-literal=k=v
expect_out refs/create-secret 'created' kc create secret generic ps-secret --from-literal=p=w
expect_fail refs/unbound-forbidden 'forbidden' nk get configmap ps-used
cat >"$TMP/ps-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ps-refs}
spec:
  nodeName: gpu-1
  containers:
  - name: c
    image: 127.0.0.1:1/none:latest
    envFrom: [{configMapRef: {name: ps-used}}]
  volumes:
  - {name: s, secret: {secretName: ps-secret}}
YAML
expect_out refs/create-pod 'created' kc create -f "$TMP/ps-pod.yaml"
expect_eq refs/bound-configmap 'v' nk get configmap ps-used -o 'jsonpath={.data.k}'
expect_out refs/bound-secret 'ps-secret' nk get secret ps-secret -o name
expect_fail refs/other-configmap 'forbidden' nk get configmap ps-other
expect_fail refs/list-configmaps 'forbidden' nk get configmaps
expect_fail refs/list-secrets-all 'forbidden' nk get secrets -A
expect_fail refs/write-configmap 'forbidden' nk label configmap ps-used x=y
kc delete pod ps-refs --grace-period=0 --force >/dev/null 2>&1

server_checks
summary
