#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_ha.sh - issue #10's end-to-end test: three `k3c server`s with
# embedded etcd, each in its own network namespace on one bridged LAN
# (192.168.20.221-223, the seed's addresses, which exist only inside the
# test's namespaces). polynode-1 starts the cluster (--cluster-init),
# polynode-2 joins through it and polynode-3 through polynode-2, with the
# token, as learners promoted to voters. Checked with stock kubectl and
# etcdctl: --node-ip defaults to the default route's address, 3 voters, the
# etcd role label and member annotation, default/kubernetes lists all three
# API servers, a wrong token and a mismatched --cluster-cidr are refused
# with clear errors; writes through a survivor while the etcd leader's host
# is SIGKILLed whole (longest gap between acknowledged writes; acknowledged
# writes missing afterwards must be 0); quorum loss (requests fail fast
# with 5xx, /readyz unready) and recovery when a server returns; a server
# with a wiped data dir rejoins; `kubectl delete node` removes its etcd
# member and the deleted server rejoins after a restart. Pods are off
# (--disable-pods): this is about the control plane. Needs root.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=ha
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_lan.sh
. "$HERE/lib_lan.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (network namespaces)"
    exit 77
fi
for t in ip etcd etcdctl; do
    if ! command -v "$t" >/dev/null; then
        echo "SKIP: $t not found"
        exit 77
    fi
done

SECRET=ha-e2e-secret
declare -A PID=()
declare -A IP=([polynode-1]=192.168.20.221 [polynode-2]=192.168.20.222
    [polynode-3]=192.168.20.223 [worker]=192.168.20.224 [intruder]=192.168.20.230)

ha_cleanup() {
    local n
    for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
    for n in "${!PID[@]}"; do stop_pid "${PID[$n]}" 10 >/dev/null 2>&1; done
    lan_cleanup
    cleanup
}
trap ha_cleanup EXIT

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_ms() { echo $((($(date +%s%N) - T_MARK) / 1000000)); }

# server_start NAME [FLAG...]: `k3c server` inside host NAME, data in
# $TMP/NAME, log $TMP/NAME.log (appended). No --node-ip: the default route's
# interface gives it. The flags are kept for server_restart.
declare -A FLAGS=()
server_start() {
    local name=$1
    shift
    FLAGS[$name]="$*"
    # Not through lan_exec: a backgrounded function runs in a subshell, and
    # $! would be that shell, not the server.
    ip netns exec "${LAN_NS_OF[$name]}" env -u K3C_CONFIG "$K3C_BIN" server --node-name "$name" \
        --data-dir "$TMP/$name" --write-kubeconfig "$TMP/$name.yaml" --config "$TMP/empty.yaml" \
        --disable-pods --node-monitor-grace-period 20 --etcd-learner-timeout 8 "$@" \
        </dev/null >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
}

server_ready() { grep -q "k3c server ready" "$TMP/$1.log" 2>/dev/null && [ -s "$TMP/$1.yaml" ]; }

# server_restart NAME: the same command line again; its log gets a marker
# so server_ready_again sees only the new run.
server_restart() {
    local name=$1
    echo "=== restart ===" >>"$TMP/$name.log"
    # shellcheck disable=SC2086 # the flags were words
    server_start "$name" ${FLAGS[$name]}
}
server_ready_again() { sed -n '/=== restart ===/h; /=== restart ===/!H; ${x;p}' "$TMP/$1.log" | grep -q "k3c server ready"; }

# server_stop NAME: SIGTERM, wait (bounded); returns the exit status.
# Not inside run/check: `wait` needs the shell that started the server.
server_stop() {
    stop_pid "${PID[$1]}" 20
    local rc=$?
    unset "PID[$1]"
    return $rc
}

# check_stop TEST NAME: stops NAME, passes when it exited 0.
check_stop() {
    server_stop "$2"
    RC=$?
    OUT=$(tail -n 5 "$TMP/$2.log")
    if [ "$RC" -eq 0 ]; then pass "$1"; else fail "$1" "exit status $RC" server_stop "$2"; fi
}

# host_kill NAME: power cut of the host: everything in it SIGKILLed.
host_kill() {
    lan_kill "$1"
    wait "${PID[$1]}" 2>/dev/null
    unset "PID[$1]"
}

# The server's token as the first server wrote it.
token() { cat "$TMP/polynode-1/server/token"; }

join() {
    local name=$1 via=$2
    shift 2
    server_start "$name" --server "https://${IP[$via]}:6443" --token "$(token)" "$@"
}

# kh NAME ARGS...: kubectl inside host NAME against its own API server.
kh() {
    local name=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" ip netns exec "${LAN_NS_OF[$name]}" "$KUBECTL" \
        --kubeconfig "$TMP/$name.yaml" --request-timeout=10s "$@"
}

# ectl NAME ARGS...: etcdctl inside host NAME against its own member.
ectl() {
    local name=$1 tls=$TMP/$1/server/tls
    shift
    timeout -k 5 30 ip netns exec "${LAN_NS_OF[$name]}" etcdctl --endpoints "https://127.0.0.1:2379" \
        --cacert "$tls/server-ca.crt" --cert "$tls/etcd/client.crt" --key "$tls/etcd/client.key" \
        --dial-timeout 3s --command-timeout 5s "$@"
}

# voters NAME: the started voting members' names, sorted, one line.
voters() {
    ectl "$1" member list -w json 2>/dev/null | python3 -c '
import json, sys
ms = json.load(sys.stdin).get("members", [])
print(" ".join(sorted(m["name"] for m in ms if m.get("name") and not m.get("isLearner"))))'
}

voters_are() { [ "$(voters "$1")" = "$2" ]; }

annotation_of() {
    kh "$1" get node "$2" -o jsonpath='{.metadata.annotations.etcd\.k3c\.io/member}' 2>/dev/null
}

# leader: the name of the node whose member annotation says leader,
# checked against etcd's own view.
etcd_leader() {
    local n
    for n in polynode-1 polynode-2 polynode-3; do
        if ectl "$n" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)'; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

count_etcd_labelled() {
    kh "$1" get nodes -l node-role.kubernetes.io/etcd=true --no-headers | wc -l
}

# annotations_are VIA "ROLES": the member annotations of the three nodes,
# sorted, as one line.
annotations_are() {
    local n got
    got=$(for n in polynode-1 polynode-2 polynode-3; do annotation_of "$1" "$n"; echo; done |
        sort | tr '\n' ' ')
    [ "$got" = "$2 " ]
}

kubernetes_endpoints_are() {
    [ "$(kh "$1" get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[*].ip}')" = "$2" ]
}

node_is_ready() {
    [ "$(kh "$1" get node "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

nodes_ready() {
    local want=$1 via=$2
    [ "$(kh "$via" get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)" -eq "$want" ]
}

# ---- the LAN and the first server ----

lan_make 192.168.20
for n in polynode-1 polynode-2 polynode-3 worker intruder; do lan_host "$n" "${IP[$n]}"; done
printf '# empty k3c config for the HA e2e test\n' >"$TMP/empty.yaml"

t_mark
server_start polynode-1 --cluster-init --token "$SECRET"
check start/polynode-1-ready wait_for 90 server_ready polynode-1
echo "# time: polynode-1 ready: $(t_ms) ms"
expect_out node-ip/defaults-to-default-route-address 'ip 192\.168\.20\.221' \
    grep -m1 "server starting" "$TMP/polynode-1.log"
expect_out token/k10-with-secret "^K10[0-9a-f]{64}::server:$SECRET$" token

# ---- refused joins: wrong token, mismatched setting (nothing started) ----

run timeout 60 ip netns exec "${LAN_NS_OF[intruder]}" "$K3C_BIN" server --node-name intruder \
    --data-dir "$TMP/intruder" --config "$TMP/empty.yaml" --disable-pods \
    --server "https://${IP[polynode-1]}:6443" --token "$(token | sed 's/::server:.*/::server:wrong/')"
if [ "$RC" -ne 0 ] && matches "refused the server bootstrap.*401"; then
    pass join/wrong-secret-refused
else
    fail join/wrong-secret-refused "wanted a failure naming the refused token" k3c server --token wrong
fi
run timeout 60 ip netns exec "${LAN_NS_OF[intruder]}" "$K3C_BIN" server --node-name intruder \
    --data-dir "$TMP/intruder2" --config "$TMP/empty.yaml" --disable-pods \
    --server "https://${IP[polynode-1]}:6443" \
    --token "K10$(printf '0%.0s' {1..64})::server:$SECRET"
if [ "$RC" -ne 0 ] && matches "is not the one the token names"; then
    pass join/wrong-ca-hash-refused
else
    fail join/wrong-ca-hash-refused "wanted a CA hash mismatch" k3c server --token K10000...
fi
run timeout 60 ip netns exec "${LAN_NS_OF[intruder]}" "$K3C_BIN" server --node-name intruder \
    --data-dir "$TMP/intruder3" --config "$TMP/empty.yaml" --disable-pods \
    --server "https://${IP[polynode-1]}:6443" --token "$(token)" --cluster-cidr 10.99.0.0/16
if [ "$RC" -ne 0 ] && matches 'cluster-cidr is "10\.99\.0\.0/16" here but "10\.42\.0\.0/16"'; then
    pass join/mismatched-cluster-cidr-refused
else
    fail join/mismatched-cluster-cidr-refused "wanted an error naming --cluster-cidr" k3c server --cluster-cidr
fi
check join/refused-joins-left-no-member voters_are polynode-1 polynode-1
check join/refused-joins-wrote-nothing test ! -e "$TMP/intruder" -a ! -e "$TMP/intruder2" \
    -a ! -e "$TMP/intruder3"

# ---- the two joins ----

t_mark
join polynode-2 polynode-1
check join/polynode-2-ready wait_for 120 server_ready polynode-2
echo "# time: polynode-2 joined and ready: $(t_ms) ms"
t_mark
join polynode-3 polynode-2 # through the second server: any server will do
check join/polynode-3-ready wait_for 120 server_ready polynode-3
echo "# time: polynode-3 joined and ready: $(t_ms) ms"
wait_check etcd/three-voters 60 voters_are polynode-1 "polynode-1 polynode-2 polynode-3"
expect_out join/joined-as-learner-then-promoted "promoted from learner to voter" \
    cat "$TMP/polynode-2.log"
wait_check nodes/three-ready 60 nodes_ready 3 polynode-3
expect_out nodes/etcd-role-label 'polynode-3' \
    kh polynode-1 get nodes -l node-role.kubernetes.io/etcd=true -o name
expect_eq nodes/three-with-etcd-label 3 count_etcd_labelled polynode-1
wait_check nodes/member-annotations 30 annotations_are polynode-1 "leader voter voter"
wait_check endpoints/kubernetes-lists-all-servers 30 kubernetes_endpoints_are polynode-2 \
    "192.168.20.221 192.168.20.222 192.168.20.223"
expect_out endpoints/slice-port-6443 '6443' \
    kh polynode-3 get endpointslice kubernetes -o jsonpath='{.ports[0].port}'
# A learner that never catches up (added by hand, never started) is removed
# by the leader after --etcd-learner-timeout (8 s here).
add_ghost() { ectl polynode-1 member add ghost --learner --peer-urls https://192.168.20.240:2380 >/dev/null 2>&1; }
wait_check learner/ghost-added 30 add_ghost
ghost_gone() { ! ectl polynode-1 member list 2>/dev/null | grep -q '192\.168\.20\.240'; }
wait_check learner/stale-learner-removed 40 ghost_gone
expect_out learner/removal-logged 'did not catch up in 8 s: removing it' \
    cat "$TMP/polynode-1.log" "$TMP/polynode-2.log" "$TMP/polynode-3.log"
check learner/voters-unchanged voters_are polynode-1 "polynode-1 polynode-2 polynode-3"
check api/write-on-one-read-on-another kh polynode-3 create configmap via-3 --from-literal=k=v
expect_out api/read-on-another 'v' kh polynode-1 get configmap via-3 -o jsonpath='{.data.k}'
expect_eq bootstrap/refused-without-the-token 401 lan_exec polynode-2 curl -sk -o /dev/null \
    -w '%{http_code}' https://127.0.0.1:6443/v1-k3c/server-bootstrap
expect_eq bootstrap/refused-to-a-node-secret 401 lan_exec polynode-2 curl -sk -o /dev/null \
    -w '%{http_code}' -u "node:$SECRET" https://127.0.0.1:6443/v1-k3c/server-bootstrap

# ---- the etcd leader's host dies whole while a survivor takes writes ----

LEADER=$(etcd_leader)
check failover/leader-known test -n "$LEADER"
for n in polynode-1 polynode-2 polynode-3; do
    [ "$n" != "$LEADER" ] && SURVIVOR=$n && break
done
for n in polynode-1 polynode-2 polynode-3; do
    [ "$n" != "$LEADER" ] && [ "$n" != "$SURVIVOR" ] && OTHER=$n
done
echo "# etcd leader $LEADER; writes through $SURVIVOR; $OTHER stays up"

# An agent-only node that knows only the leader's address: it learns every
# API server from default/kubernetes and must stay Ready when that one dies.
ip netns exec "${LAN_NS_OF[worker]}" env -u K3C_CONFIG "$K3C_BIN" agent --node-name worker \
    --data-dir "$TMP/worker" --config "$TMP/empty.yaml" --disable-pods \
    --server "https://${IP[$LEADER]}:6443" --token "$(token)" </dev/null >"$TMP/worker.log" 2>&1 &
PID[worker]=$!
servers_learned() { [ "$(cat "$TMP/worker/agent/servers" 2>/dev/null | wc -l)" -eq 3 ]; }
wait_check agent/learns-every-server 60 servers_learned
wait_check agent/node-ready 30 node_is_ready "$SURVIVOR" worker
lease_renew_time() { kh "$SURVIVOR" -n kube-node-lease get lease worker -o jsonpath='{.spec.renewTime}'; }
writes_acked_at_least() { [ "$(awk '$3 == 201' "$TMP/writes.txt" 2>/dev/null | wc -l)" -ge "$1" ]; }
lan_exec "$SURVIVOR" python3 "$HERE/ha_writer.py" https://127.0.0.1:6443 \
    "$TMP/$SURVIVOR/server/tls" 10 "$TMP/writes.txt" w >"$TMP/writer.out" 2>&1 &
WRITER=$!
wait_check failover/writes-flow-before 20 writes_acked_at_least 20
KILL_AT=$(awk 'END {print $2}' "$TMP/writes.txt")
host_kill "$LEADER"
wait "$WRITER"
echo "# writer: $(cat "$TMP/writer.out"); leader killed at ~${KILL_AT} ms"
expect_out failover/writes-resumed-after-the-kill '^acked [0-9]+' cat "$TMP/writer.out"
check failover/acked-after-the-kill awk -v k="$KILL_AT" '$3 == 201 && $2 > k + 1000 {n++} END {exit n > 0 ? 0 : 1}' \
    "$TMP/writes.txt"
GAP=$(awk -v k="$KILL_AT" '$3 == 201 { if (last != "" && $2 > k && $2 - last > g) g = $2 - last; last = $2 } END {print g + 0}' \
    "$TMP/writes.txt")
echo "# figure: longest gap between acknowledged writes across the leader's death: $GAP ms (goal < 3000)"
missing_writes() {
    kh "$SURVIVOR" get configmaps -o name | sed 's|configmap/||' | python3 -c '
import sys
have = set(l.strip() for l in sys.stdin)
acked = [f"w-{l.split()[0]}" for l in open(sys.argv[1]) if l.split()[2] == "201"]
missing = [a for a in acked if a not in have]
print(len(missing), " ".join(missing[:5]))' "$TMP/writes.txt"
}
expect_out failover/no-acknowledged-write-lost '^0 ' missing_writes
RENEWED_BEFORE=$(lease_renew_time)
lease_renewed_since() { [ "$(lease_renew_time)" != "$RENEWED_BEFORE" ]; }
wait_check agent/lease-renewed-through-another-server 30 lease_renewed_since
check agent/node-stays-ready node_is_ready "$SURVIVOR" worker
kill -TERM "${PID[worker]}" 2>/dev/null
wait "${PID[worker]}" 2>/dev/null
unset "PID[worker]"
wait_check failover/survivor-readyz 20 lan_exec "$SURVIVOR" curl -skf -o /dev/null --max-time 5 \
    https://127.0.0.1:6443/readyz

# ---- quorum lost: two of three down; then one comes back ----

host_kill "$OTHER"
t_mark
run kh "$SURVIVOR" create configmap no-quorum --from-literal=k=v
QL_MS=$(t_ms)
if [ "$RC" -ne 0 ] && matches 'etcd\) is unreachable or has lost quorum'; then
    pass quorum/write-refused-without-quorum
else
    fail quorum/write-refused-without-quorum "wanted a server error" kh create configmap no-quorum
fi
echo "# figure: a write without quorum failed after $QL_MS ms"
readyz_code() { lan_exec "$SURVIVOR" curl -sk -o /dev/null -w '%{http_code}' --max-time 15 https://127.0.0.1:6443/readyz; }
readyz_is() { [ "$(readyz_code)" = "$1" ]; }
wait_check quorum/readyz-unready 30 readyz_is 503
t_mark
server_restart "$LEADER"
wait_check quorum/restored-when-a-server-returns 120 kh "$SURVIVOR" create configmap quorum-back --from-literal=k=v
echo "# time: writes work again $(t_ms) ms after the restart of $LEADER"
check quorum/returned-server-ready wait_for 60 server_ready_again "$LEADER"
server_restart "$OTHER"
check quorum/third-server-ready wait_for 90 server_ready_again "$OTHER"
wait_check quorum/three-voters-again 60 voters_are "$SURVIVOR" "polynode-1 polynode-2 polynode-3"
expect_out quorum/acked-writes-still-there '^0 ' missing_writes

# ---- a server whose data dir was wiped rejoins ----

check_stop wipe/polynode-3-stops polynode-3
rm -rf "$TMP/polynode-3"
server_restart polynode-3
check wipe/polynode-3-rejoins wait_for 120 server_ready_again polynode-3
wait_check wipe/three-voters 60 voters_are polynode-1 "polynode-1 polynode-2 polynode-3"
expect_out wipe/stale-member-replaced "removing the stale etcd member" cat "$TMP/polynode-3.log"

# ---- kubectl delete node: the member goes, unless quorum forbids ----

check_stop delete/polynode-3-stops polynode-3
check delete/refused-when-quorum-would-break kh polynode-1 delete node polynode-2 --wait=false
wait_check delete/refusal-event 30 bash -c "ip netns exec ${LAN_NS_OF[polynode-1]} $KUBECTL --kubeconfig $TMP/polynode-1.yaml get events --field-selector reason=EtcdMemberRemovalRefused -o name | grep -q ."
check delete/member-kept voters_are polynode-1 "polynode-1 polynode-2 polynode-3"
check delete/node-of-stopped-server kh polynode-1 delete node polynode-3
wait_check delete/member-removed 30 voters_are polynode-1 "polynode-1 polynode-2"
server_restart polynode-3
check delete/deleted-server-rejoins-after-restart wait_for 120 server_ready_again polynode-3
expect_out delete/old-data-moved-aside "no longer an etcd member" cat "$TMP/polynode-3.log"
wait_check delete/three-voters-again 60 voters_are polynode-1 "polynode-1 polynode-2 polynode-3"

# ---- whole-cluster restart, in reverse order ----

for n in polynode-1 polynode-2 polynode-3; do server_stop "$n" >/dev/null; done
t_mark
for n in polynode-3 polynode-2 polynode-1; do server_restart "$n"; done
for n in polynode-1 polynode-2 polynode-3; do
    check restart/"$n"-ready wait_for 120 server_ready_again "$n"
done
echo "# time: whole cluster back: $(t_ms) ms"
expect_out restart/data-kept 'v' kh polynode-2 get configmap via-3 -o jsonpath='{.data.k}'
for n in polynode-1 polynode-2 polynode-3; do
    check_stop "stop/$n-exits-0" "$n"
    expect_rc "stop/$n-no-sanitizer-report" 1 '' grep -l "ERROR: AddressSanitizer\|runtime error:" "$TMP/$n.log"
done

summary
