#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_etcd_restore_ha.sh - the documented 3-server restore (docs/etcd.md,
# issue #10): three `k3c server`s with embedded etcd on a bridged LAN of
# network namespaces (lib_lan.sh, 192.168.20.221-223 inside the test's
# namespaces only); a snapshot is taken on polynode-1 with `k3c
# etcd-snapshot save` while the cluster runs, a ConfigMap is written after
# it; all three stop; polynode-1 restores the snapshot with --cluster-reset
# --cluster-reset-restore-path and starts again; the other two move their
# db/ aside and rejoin with --server. Checked: three voters again, the
# object from before the snapshot is there and the one from after is not,
# writes work on every server. Pods off. Needs root.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=etcd-restore-ha
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

SECRET=restore-ha-$$
NODES=(polynode-1 polynode-2 polynode-3)
declare -A PID=()
declare -A IP=([polynode-1]=192.168.20.221 [polynode-2]=192.168.20.222 [polynode-3]=192.168.20.223)

ha_cleanup() {
    local n
    for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
    for n in "${!PID[@]}"; do stop_pid "${PID[$n]}" 10 >/dev/null 2>&1; done
    lan_cleanup
    cleanup
}
trap ha_cleanup EXIT

# k3c_in NAME ARGS...: the k3c binary inside host NAME with its data dir.
k3c_in() {
    local name=$1
    shift
    timeout -k 5 120 ip netns exec "${LAN_NS_OF[$name]}" env -u K3C_CONFIG "$K3C_BIN" "$@" \
        --node-name "$name" --data-dir "$TMP/$name" --config "$TMP/empty.yaml"
}

# server_start NAME [FLAG...]: `k3c server` in host NAME (log appended).
# Not through lan_exec: a backgrounded function is a subshell, and the
# graceful stops below must reach k3c itself (ip netns exec and env exec).
server_start() {
    local name=$1
    shift
    ip netns exec "${LAN_NS_OF[$name]}" env -u K3C_CONFIG "$K3C_BIN" server --node-name "$name" \
        --data-dir "$TMP/$name" --write-kubeconfig "$TMP/$name.yaml" --config "$TMP/empty.yaml" \
        --disable-pods --disable-etcd-snapshots --token "$SECRET" "$@" \
        </dev/null >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
}

# ready NAME: the server logged "ready" since its log was last rotated.
ready() { grep -q "k3c server ready" "$TMP/$1.log" 2>/dev/null && [ -s "$TMP/$1.yaml" ]; }

rotate_log() { [ -e "$TMP/$1.log" ] && mv "$TMP/$1.log" "$TMP/$1.log.$(date +%s%N)"; rm -f "$TMP/$1.yaml"; }

# stop_all: SIGTERM to the three at once (the last of three stopped one by
# one has no quorum left to finish its shutdown writes with), exit 0 wanted.
stop_all() {
    local n
    for n in "${NODES[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
    for n in "${NODES[@]}"; do
        stop_pid "${PID[$n]}" "$STOP_TIMEOUT_S"
        RC=$?
        unset "PID[$n]"
        OUT=$(tail -n 20 "$TMP/$n.log")
        if [ "$RC" -eq 0 ]; then pass "stop/$1/$n"; else fail "stop/$1/$n" "exit status $RC" "kill -TERM $n"; fi
    done
}

kh() {
    local name=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" ip netns exec "${LAN_NS_OF[$name]}" "$KUBECTL" \
        --kubeconfig "$TMP/$name.yaml" --request-timeout=10s "$@"
}

ectl() {
    local name=$1 tls=$TMP/$1/server/tls
    shift
    timeout -k 5 30 ip netns exec "${LAN_NS_OF[$name]}" etcdctl --endpoints "https://127.0.0.1:2379" \
        --cacert "$tls/server-ca.crt" --cert "$tls/etcd/client.crt" --key "$tls/etcd/client.key" \
        --dial-timeout 3s --command-timeout 5s "$@"
}

voters() {
    ectl "$1" member list -w json 2>/dev/null | python3 -c '
import json, sys
ms = json.load(sys.stdin).get("members", [])
print(" ".join(sorted(m["name"] for m in ms if m.get("name") and not m.get("isLearner"))))'
}
voters_are() { [ "$(voters "$1")" = "$2" ]; }

lan_make 192.168.20
for n in "${NODES[@]}"; do lan_host "$n" "${IP[$n]}"; done
printf '# empty k3c config\n' >"$TMP/empty.yaml"

# ---- a 3-server cluster ----

server_start polynode-1 --cluster-init
check start/polynode-1 wait_for 90 ready polynode-1
server_start polynode-2 --server "https://${IP[polynode-1]}:6443"
check start/polynode-2 wait_for 120 ready polynode-2
server_start polynode-3 --server "https://${IP[polynode-1]}:6443"
check start/polynode-3 wait_for 120 ready polynode-3
wait_check etcd/three-voters 60 voters_are polynode-1 "polynode-1 polynode-2 polynode-3"

# ---- snapshot, then a write the restore must undo ----

check before/write kh polynode-2 create configmap before-snap --from-literal=k=v
expect_out snapshot/save '^Snapshot on-demand-polynode-1-[0-9]+ saved\.$' k3c_in polynode-1 etcd-snapshot save
SNAP=$(printf '%s\n' "$OUT" | sed -n 's/^Snapshot \(.*\) saved\.$/\1/p')
cp "$TMP/polynode-1/server/db/snapshots/$SNAP" "$TMP/snapshot.db"
check after/write kh polynode-3 create configmap after-snap --from-literal=k=v

# ---- all three down; restore on polynode-1 ----

stop_all before-restore
expect_out restore/polynode-1 'restart without --cluster-reset' \
    k3c_in polynode-1 server --cluster-reset --cluster-reset-restore-path "$TMP/snapshot.db" \
    --token "$SECRET" --disable-pods
check restore/old-data-kept-aside compgen -G "$TMP/polynode-1/server/db/etcd-old-*"
rotate_log polynode-1
server_start polynode-1 --cluster-init
check restart/polynode-1 wait_for 90 ready polynode-1
expect_eq restore/one-member polynode-1 voters polynode-1

# ---- the others wipe db/ and rejoin ----

for n in polynode-2 polynode-3; do
    mv "$TMP/$n/server/db" "$TMP/$n/server/db.before-restore"
    rotate_log "$n"
    server_start "$n" --server "https://${IP[polynode-1]}:6443"
    check "rejoin/$n" wait_for 120 ready "$n"
done
wait_check etcd/three-voters-again 90 voters_are polynode-1 "polynode-1 polynode-2 polynode-3"
for n in "${NODES[@]}"; do
    expect_out "data/before-snap-on-$n" '^v$' kh "$n" get configmap before-snap -o jsonpath='{.data.k}'
    expect_fail "data/after-snap-absent-on-$n" 'NotFound|not found' kh "$n" get configmap after-snap
done
check writes/after-restore kh polynode-3 create configmap after-restore --from-literal=k=v
expect_out writes/read-elsewhere '^v$' kh polynode-1 get configmap after-restore -o jsonpath='{.data.k}'

stop_all end
run grep -l -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP"/polynode-*.log*
if [ "$RC" -eq 0 ]; then fail no-sanitizer-reports "sanitizer report in $OUT" grep; else pass no-sanitizer-reports; fi
summary
