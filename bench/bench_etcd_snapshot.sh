#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_etcd_snapshot.sh - `k3c etcd-snapshot save` (etcd's snapshot stream
# through the JSON gateway, base64-decoded) against its peer `etcdctl
# snapshot save` (gRPC), on the same member of a real `k3c server` on
# loopback, with BENCH_MB (default 64) MiB of values in etcd. Prints the
# best of BENCH_RUNS (3) for each, MiB/s, and the ratio k3c/etcdctl; then a
# restore of that snapshot with `k3c server --cluster-reset-restore-path`.
# Use an optimised build: K3C_BIN=build/k3c bash bench/bench_etcd_snapshot.sh
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)
E2E_NAME=bench-snapshot
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
MB=${BENCH_MB:-64}
RUNS=${BENCH_RUNS:-3}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"

SERVER_EXTRA_ARGS=(--token bench-$$ --disable-etcd-snapshots --etcd-quota-backend-bytes $(((MB * 2 + 64) << 20)))
start_server
DATA=$TMP/data
ectl() {
    ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$ETCD_CLIENT_PORT" \
        --cacert "$DATA/server/tls/server-ca.crt" \
        --cert "$DATA/server/tls/etcd/client.crt" --key "$DATA/server/tls/etcd/client.key" "$@"
}

head -c 786432 /dev/urandom | base64 -w0 >"$TMP/blob" # 1 MiB of text
for i in $(seq 1 "$MB"); do ectl put "/bench/$i" <"$TMP/blob" >/dev/null || exit 1; done
size=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])')
echo "# etcd database: $((size >> 20)) MiB ($MB MiB of values)"

now_ms() { date +%s%3N; }
best_k3c=999999
best_ctl=999999
for r in $(seq 1 "$RUNS"); do
    t0=$(now_ms)
    "$K3C_BIN" etcd-snapshot save --name "bench$r" --data-dir "$DATA" \
        --etcd-client-port "$ETCD_CLIENT_PORT" --node-name e2e --config "$TMP/empty.yaml" >/dev/null || exit 1
    t=$(($(now_ms) - t0))
    [ "$t" -lt "$best_k3c" ] && best_k3c=$t
    t0=$(now_ms)
    ectl snapshot save "$TMP/etcdctl-$r.db" >/dev/null 2>&1 || exit 1
    t=$(($(now_ms) - t0))
    [ "$t" -lt "$best_ctl" ] && best_ctl=$t
done
file=$(ls "$DATA"/server/db/snapshots/bench1-e2e-*)
fsize=$(stat -c %s "$file")
echo "k3c etcd-snapshot save:  $best_k3c ms, $((fsize * 1000 / (best_k3c + 1) >> 20)) MiB/s (best of $RUNS, $((fsize >> 20)) MiB)"
echo "etcdctl snapshot save:   $best_ctl ms, $((fsize * 1000 / (best_ctl + 1) >> 20)) MiB/s"
python3 -c "print('ratio k3c/etcdctl (time): %.2f' % ($best_k3c / max($best_ctl, 1)))"
ETCDCTL_API=3 etcdctl snapshot status "$file" -w table | tail -2 | head -1

stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
SERVER_PID=
t0=$(now_ms)
"$K3C_BIN" server --cluster-reset --cluster-reset-restore-path "$file" --token bench-$$ \
    --data-dir "$TMP/restored" --etcd-client-port "$ETCD_CLIENT_PORT" --etcd-peer-port "$ETCD_PEER_PORT" \
    --https-listen-port "$API_PORT" --node-name e2e --node-ip 127.0.0.1 --config "$TMP/empty.yaml" >"$TMP/restore.log" 2>&1 || {
    tail "$TMP/restore.log"
    exit 1
}
echo "restore (--cluster-reset-restore-path, etcd started once, token checked): $(($(now_ms) - t0)) ms"
