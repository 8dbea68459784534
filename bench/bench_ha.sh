#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_ha.sh - issue #10's benchmark: over N kills of the etcd leader's
# host (SIGKILL of everything in it), the longest gap between acknowledged
# writes through a survivor and the time until the survivor's /readyz is
# ready again; and the write throughput of the 3-member cluster as a ratio
# of a single-member one on the same host, same writer. Three `k3c server`s
# in network namespaces on a bridged LAN (addresses only inside them), as
# tests/e2e/test_ha.sh. Prints figures; asserts nothing. Root only.
#   bench/bench_ha.sh [K3C_BIN] [N]     (default build/k3c, N=5)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K3C_BIN=${1:-$HERE/../build/k3c}
N=${2:-5}
K3C_BIN=$(cd "$(dirname "$K3C_BIN")" && pwd)/$(basename "$K3C_BIN")
export K3C_BIN
E2E_NAME=bench-ha
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib_lan.sh
. "$HERE/../tests/e2e/lib_lan.sh"
[ "$(id -u)" -eq 0 ] || { echo "bench_ha: needs root"; exit 77; }

WRITER=$HERE/../tests/e2e/ha_writer.py
declare -A PID=() FLAGS=()
declare -A IP=([polynode-1]=192.168.20.221 [polynode-2]=192.168.20.222 [polynode-3]=192.168.20.223
    [solo]=192.168.20.229)
bench_cleanup() {
    local n
    for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null; done
    lan_cleanup
    cleanup
}
trap bench_cleanup EXIT
printf '# bench_ha\n' >"$TMP/empty.yaml"

start() {
    local name=$1
    shift
    FLAGS[$name]="$*"
    echo "=== start ===" >>"$TMP/$name.log"
    ip netns exec "${LAN_NS_OF[$name]}" env -u K3C_CONFIG "$K3C_BIN" server --node-name "$name" \
        --data-dir "$TMP/$name" --write-kubeconfig "$TMP/$name.yaml" --config "$TMP/empty.yaml" \
        --disable-pods "$@" </dev/null >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
}
restart() {
    # shellcheck disable=SC2086
    start "$1" ${FLAGS[$1]}
}
ready() { sed -n '/=== start ===/h; /=== start ===/!H; ${x;p}' "$TMP/$1.log" | grep -q "k3c server ready"; }
ectl() {
    local name=$1 tls=$TMP/$1/server/tls
    shift
    ip netns exec "${LAN_NS_OF[$name]}" timeout 10 etcdctl --endpoints https://127.0.0.1:2379 \
        --cacert "$tls/server-ca.crt" --cert "$tls/etcd/client.crt" --key "$tls/etcd/client.key" "$@"
}
voters3() { [ "$(ectl "$1" member list 2>/dev/null | grep -c started)" -eq 3 ]; }
is_leader() {
    ectl "$1" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)'
}
readyz_ok() { ip netns exec "${LAN_NS_OF[$1]}" curl -skf -o /dev/null --max-time 2 https://127.0.0.1:6443/readyz; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

lan_make 192.168.20
for n in polynode-1 polynode-2 polynode-3 solo; do lan_host "$n" "${IP[$n]}"; done

# ---- throughput: one member, then three ----
start solo --cluster-init --token bench
wait_for 90 ready solo || { echo "solo server did not start"; exit 1; }
SOLO=$(ip netns exec "${LAN_NS_OF[solo]}" python3 "$WRITER" https://127.0.0.1:6443 "$TMP/solo/server/tls" 10 "$TMP/solo.txt" s)
kill -TERM "${PID[solo]}"; wait "${PID[solo]}" 2>/dev/null; unset "PID[solo]"

start polynode-1 --cluster-init --token bench
wait_for 90 ready polynode-1 || { echo "polynode-1 did not start"; exit 1; }
TOKEN=$(cat "$TMP/polynode-1/server/token")
start polynode-2 --server https://192.168.20.221:6443 --token "$TOKEN"
wait_for 120 ready polynode-2 || { echo "polynode-2 did not join"; exit 1; }
start polynode-3 --server https://192.168.20.221:6443 --token "$TOKEN"
wait_for 120 ready polynode-3 || { echo "polynode-3 did not join"; exit 1; }
wait_for 60 voters3 polynode-1 || { echo "no 3 voters"; ectl polynode-1 member list; exit 1; }
TRIO=$(ip netns exec "${LAN_NS_OF[polynode-2]}" python3 "$WRITER" https://127.0.0.1:6443 "$TMP/polynode-2/server/tls" 10 "$TMP/trio.txt" t)
solo_n=$(awk '{print $2}' <<<"$SOLO")
trio_n=$(awk '{print $2}' <<<"$TRIO")
echo "throughput: 1 member $((solo_n / 10)) writes/s, 3 members $((trio_n / 10)) writes/s, ratio $(python3 -c "print(f'{$trio_n/$solo_n:.2f}')")"

# ---- N leader kills ----
GAPS=()
READY=()
for i in $(seq 1 "$N"); do
    leader=
    for n in polynode-1 polynode-2 polynode-3; do is_leader "$n" && leader=$n && break; done
    [ -n "$leader" ] || { echo "no leader found"; exit 1; }
    for n in polynode-1 polynode-2 polynode-3; do [ "$n" != "$leader" ] && surv=$n && break; done
    ip netns exec "${LAN_NS_OF[$surv]}" python3 "$WRITER" https://127.0.0.1:6443 \
        "$TMP/$surv/server/tls" 6 "$TMP/kill$i.txt" "k$i" >"$TMP/kill$i.out" &
    w=$!
    sleep 1
    t0=$(now_ms)
    lan_kill "$leader"
    wait "${PID[$leader]}" 2>/dev/null
    # readyz on the survivor: first success after the kill
    wait_for 60 readyz_ok "$surv" || echo "survivor $surv not ready after 60 s"
    READY+=($(($(now_ms) - t0)))
    wait "$w"
    GAPS+=("$(awk '{print $6}' "$TMP/kill$i.out")")
    echo "kill $i: leader $leader, survivor $surv: $(cat "$TMP/kill$i.out"), readyz after ${READY[-1]} ms"
    restart "$leader"
    wait_for 120 ready "$leader" || { echo "$leader did not come back"; exit 1; }
    wait_for 60 voters3 "$surv" || { echo "no 3 voters after the restart"; exit 1; }
done
stats() { python3 -c "import statistics,sys; v=sorted(int(x) for x in sys.argv[1:]); print(f'p50 {statistics.median(v):.0f} ms, max {v[-1]} ms')" "$@"; }
echo "write gap over $N leader kills: $(stats "${GAPS[@]}")"
echo "survivor /readyz ready again: $(stats "${READY[@]}")"
