#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_etcd_ops.sh - the etcd operations of issue #10 against a real `k3c
# server` on free loopback ports (lib.sh): Events expire under shared leases
# (--event-ttl), `k3c etcd-snapshot save|ls|delete|prune` while the server
# runs, scheduled snapshots with retention and their ConfigMap, the NOSPACE
# alarm on a small quota (reported on /readyz, cleared after deletes, Events),
# defragmentation at start, --cluster-reset, and a restore into a new data
# dir (objects from before the snapshot back, a wrong token refused).
# Prints one line per check and "N passed, M failed"; exit 0, 1, or 77
# without kubectl or etcdctl.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=etcdops
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if ! command -v etcdctl >/dev/null; then
    echo "SKIP: etcdctl (Debian etcd-client) not found"
    exit 77
fi

SECRET=e2e-etcdops-$$
QUOTA=$((24 * 1024 * 1024))
EVENT_TTL_S=5
BASE_ARGS=(--token "$SECRET" --event-ttl "${EVENT_TTL_S}s"
    --etcd-snapshot-schedule-cron '*/4 * * * * *' --etcd-snapshot-retention 2
    --etcd-quota-backend-bytes "$QUOTA")

# start_on DATA_DIR: a server on DATA_DIR with BASE_ARGS (lib.sh's
# start_server; the last --data-dir wins). The previous server's log and
# kubeconfig are moved away first: start_server would read them as the new
# server's readiness before the new one truncates them.
N_STARTS=0
start_on() {
    DATA=$1
    shift
    [ -e "$TMP/k3c.log" ] && mv "$TMP/k3c.log" "$TMP/k3c-$N_STARTS.log"
    N_STARTS=$((N_STARTS + 1))
    rm -f "$KUBECONFIG"
    SERVER_EXTRA_ARGS=("${BASE_ARGS[@]}" --data-dir "$DATA" "$@")
    start_server
}

# ectl ARGS...: etcdctl against the server's member with its client cert.
ectl() {
    ETCDCTL_API=3 timeout -k 5 "$CMD_TIMEOUT_S" etcdctl \
        --endpoints "https://127.0.0.1:$ETCD_CLIENT_PORT" \
        --cacert "$DATA/server/tls/server-ca.crt" \
        --cert "$DATA/server/tls/etcd/client.crt" --key "$DATA/server/tls/etcd/client.key" "$@"
}

# k3c_cli VERB ARGS...: the k3c binary with the test's settings only.
k3c_cli() {
    local v unset_args=()
    for v in $(compgen -e); do
        case $v in K3C_*) unset_args+=(-u "$v") ;; esac
    done
    timeout -k 5 "$CMD_TIMEOUT_S" env "${unset_args[@]}" "$K3C_BIN" "$@"
}

# snap COMMAND ARGS...: `k3c etcd-snapshot COMMAND ARGS...` on this server.
snap() {
    k3c_cli etcd-snapshot "$@" --data-dir "$DATA" --etcd-client-port "$ETCD_CLIENT_PORT" \
        --node-name e2e --config "$TMP/empty.yaml"
}

snap_dir() { echo "$DATA/server/db/snapshots"; }
count_snaps() { find "$(snap_dir)" -maxdepth 1 -name "$1-e2e-*" ! -name '*.part' 2>/dev/null | wc -l; }

# stop_server: SIGTERM, exit 0 wanted.
stop_server() {
    stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
    RC=$?
    SERVER_PID=
    OUT=$(tail -n 20 "$TMP/k3c.log")
    if [ "$RC" -eq 0 ]; then pass "$1"; else fail "$1" "exit status $RC" "kill -TERM k3c"; fi
}

# reset ARGS...: `k3c server --cluster-reset` on $DATA with the test's ports.
reset() {
    k3c_cli server --cluster-reset --data-dir "$DATA" --bind-address 127.0.0.1 \
        --https-listen-port "$API_PORT" --write-kubeconfig "$TMP/reset-kubeconfig.yaml" \
        --etcd-client-port "$ETCD_CLIENT_PORT" --etcd-peer-port "$ETCD_PEER_PORT" \
        --node-name e2e --node-ip 127.0.0.1 --config "$TMP/empty.yaml" --disable-pods "$@"
}

start_on "$TMP/data"
check ns/create kc create namespace e2e

# ---- 1. Events expire under shared leases ----

echo "# 1. event TTL (${EVENT_TTL_S}s)"
N_EVENTS=20
for i in $(seq 1 $N_EVENTS); do
    cat <<EOF
---
apiVersion: v1
kind: Event
metadata: {name: ttl-$i, namespace: e2e}
involvedObject: {apiVersion: v1, kind: Pod, name: p, namespace: e2e}
reason: E2ETTL
message: event $i
type: Normal
EOF
done >"$TMP/events.yaml"
check events/create kc create -f "$TMP/events.yaml"
run ectl get --prefix /registry/events/e2e/ttl- -w json
python3 - "$N_EVENTS" <<EOF >"$TMP/leases.txt" 2>&1
import json, sys
kvs = json.loads('''$OUT''').get("kvs", [])
leases = {kv.get("lease", 0) for kv in kvs}
print(len(kvs), len(leases), int(0 in leases))
EOF
read -r n_keys n_leases unleased <"$TMP/leases.txt"
echo "# $n_keys events in etcd right after the create, under $n_leases lease(s)"
OUT="keys=$n_keys leases=$n_leases unleased=$unleased"
if [ "${n_keys:-0}" -ge 1 ] && [ "${unleased:-1}" -eq 0 ]; then pass events/leased; else fail events/leased "an event without a lease" ectl get; fi
# 1 s buckets: the 20 creates share a lease per second they took (a loaded
# box may take a few).
if [ "${n_leases:-99}" -ge 1 ] && [ "${n_leases:-99}" -le 8 ]; then pass events/leases-shared; else fail events/leases-shared "$N_EVENTS events should share a few 1 s bucket leases" ectl get; fi
no_ttl_events() { [ "$(kc get events -n e2e --no-headers 2>/dev/null | grep -c E2ETTL)" -eq 0 ]; }
wait_check events/expired $((EVENT_TTL_S + 20)) no_ttl_events
check configmap/create kc create configmap before-snap -n e2e --from-literal=k=v
run ectl get /registry/configmaps/e2e/before-snap -w json
if matches '"lease"'; then fail configmap/no-lease "a ConfigMap got a lease" ectl get; else pass configmap/no-lease; fi

# ---- 2. etcd-snapshot save/ls/delete/prune while the server runs ----

echo "# 2. k3c etcd-snapshot"
expect_out snapshot/save '^Snapshot on-demand-e2e-[0-9]+ saved\.$' snap save
FIRST=$(printf '%s\n' "$OUT" | sed -n 's/^Snapshot \(.*\) saved\.$/\1/p')
check snapshot/file-exists test -s "$(snap_dir)/$FIRST"
cp "$(snap_dir)/$FIRST" "$TMP/keep.db"
expect_out snapshot/etcdctl-status 'TOTAL KEYS' env ETCDCTL_API=3 etcdctl snapshot status "$TMP/keep.db" -w table
expect_out snapshot/save-named '^Snapshot mine-e2e-[0-9]+ saved\.$' snap save --name mine
MINE=$(printf '%s\n' "$OUT" | sed -n 's/^Snapshot \(.*\) saved\.$/\1/p')
expect_all snapshot/ls '^Name +Location +Size +Created' "^$FIRST +file://$(snap_dir)/$FIRST " "^$MINE " -- snap ls
expect_out snapshot/delete "^Snapshot $MINE deleted\.$" snap delete "$MINE"
expect_fail snapshot/delete-missing 'not found' snap delete "$MINE"
expect_fail snapshot/delete-bad-name 'not a snapshot name' snap delete ../etc
expect_fail snapshot/save-bad-name 'snapshot name' snap save --name 'a/b'
expect_fail snapshot/unknown-command 'unknown command' k3c_cli etcd-snapshot frobnicate
# Two more on-demand snapshots, each in its own second (names carry the time).
later_than() { [ "$(date +%s)" -gt "$1" ]; }
for i in 1 2; do
    wait_for 5 later_than "$(date +%s)"
    check "snapshot/save-$i" snap save
done
expect_out snapshot/three-on-demand '^3$' count_snaps on-demand
expect_out snapshot/prune 'Pruned 2 snapshot' snap prune --snapshot-retention 1
expect_out snapshot/one-left '^1$' count_snaps on-demand
expect_not snapshot/oldest-pruned "$FIRST" snap ls
check configmap/after-snap kc create configmap after-snap -n e2e --from-literal=k=v

# ---- 3. scheduled snapshots, retention, the ConfigMap ----

echo "# 3. scheduled snapshots (every 4 s, retention 2)"
two_scheduled() { [ "$(count_snaps etcd-snapshot)" -eq 2 ]; }
wait_check scheduled/two-kept 40 two_scheduled
wait_check scheduled/pruned 30 grep -q 'pruned 1 snapshot' "$TMP/k3c.log"
cm_lists() { kc get configmap -n kube-system k3c-etcd-snapshots -o json 2>/dev/null | grep -q "etcd-snapshot-e2e-.*nodeName.*e2e"; }
wait_check scheduled/configmap 40 cm_lists

# ---- 4. NOSPACE on a small quota ----

echo "# 4. NOSPACE alarm (quota $QUOTA bytes)"
head -c 700000 /dev/urandom | base64 -w0 >"$TMP/blob"
# fill_to_quota: 700 kB puts until etcd refuses one; sets filled.
fill_to_quota() {
    filled=0
    for i in $(seq 1 80); do
        if ! ectl put "/k3c-e2e-fill/$1-$i" <"$TMP/blob" >"$TMP/put.out" 2>&1; then
            filled=$i
            return 0
        fi
    done
    return 1
}
fill_to_quota a
OUT=$(cat "$TMP/put.out")
if [ "$filled" -gt 0 ] && grep -q 'database space exceeded' "$TMP/put.out"; then
    pass nospace/fires
else
    fail nospace/fires "no 'database space exceeded' after 80 puts of 700 kB" ectl put
fi
# The first reclaim compacts and defragments what it can without deletes;
# when that leaves 20% free it disarms, and a second fill raises the alarm
# on a file with nothing left to reclaim.
wait_check nospace/first-reclaim 30 grep -q 'defragmented (NOSPACE)' "$TMP/k3c.log"
fill_to_quota b
echo "# quota reached at put $filled"
wait_check nospace/readyz-503 30 http_expect 503 'etcd-alarm failed: NOSPACE' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$API_URL/readyz"
check nospace/readyz-anonymous-withheld http_expect 503 'reason withheld' -k "$API_URL/readyz"
expect_fail nospace/api-write-refused 'space exceeded' kc create configmap during-nospace -n e2e --from-literal=k=v
# A restart with the alarm raised: etcd 3.4 says /health false while any
# alarm is up; k3c starts anyway, since the API is how space is freed.
# --disable-agent: the server's own agent cannot register its Node while
# etcd refuses writes (docs/etcd.md).
stop_server server/stop-while-nospace
start_on "$TMP/data" --disable-agent
check nospace/restart-logged grep -q 'up with a NOSPACE alarm' "$TMP/k3c.log"
check nospace/readyz-503-after-restart http_expect 503 'etcd-alarm failed: NOSPACE' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$API_URL/readyz"
# An agent joining now cannot register its Node (503, out of space): it
# waits and retries instead of exiting, and registers once space is back.
"$K3C_BIN" agent --server "$API_URL" --token "$(cat "$TMP/data/server/token")" \
    --data-dir "$TMP/waiter" --node-name waiter --node-ip 127.0.0.1 --disable-pods \
    --kubelet-port "$(free_ports 1)" --config "$TMP/empty.yaml" </dev/null >"$TMP/waiter.log" 2>&1 &
WAITER=$!
wait_check nospace/agent-waits-for-space 30 grep -q 'out of space.*retrying in' "$TMP/waiter.log"
check nospace/agent-still-running kill -0 "$WAITER"
check nospace/delete ectl del --prefix /k3c-e2e-fill/
wait_check nospace/readyz-ok 60 http_expect 200 '^ok$' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$API_URL/readyz"
check nospace/log-defragmented grep -q 'defragmented (NOSPACE)' "$TMP/k3c.log"
check nospace/log-disarmed grep -q 'NOSPACE alarm disarmed' "$TMP/k3c.log"
events_noted() { kc get events -n kube-system 2>/dev/null | grep -q EtcdNoSpaceCleared; }
wait_check nospace/event 20 events_noted
check nospace/write-again kc create configmap after-nospace -n e2e --from-literal=k=v
wait_check nospace/agent-registers-after 60 kc get node waiter
kill -TERM "$WAITER" 2>/dev/null
wait "$WAITER" 2>/dev/null

# Leave garbage for the defragmentation at the next start: 8 x 700 kB
# written, deleted and compacted away.
for i in $(seq 1 8); do ectl put "/k3c-e2e-garbage/$i" <"$TMP/blob" >/dev/null; done
check defrag/delete ectl del --prefix /k3c-e2e-garbage/
REV=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
check defrag/compact ectl compact "$REV" --physical
stop_server server/stop-1
# The maintenance thread stops after its save + prune: never more than 2 kept.
run count_snaps etcd-snapshot
if [ "$OUT" -le 2 ]; then pass scheduled/at-most-2-kept; else fail scheduled/at-most-2-kept "$OUT kept" count_snaps; fi

# ---- 5. --cluster-reset ----

echo "# 5. cluster reset"
expect_out reset/exits-0 'restart without --cluster-reset' reset
run etcd_pids
if [ -z "$OUT" ]; then pass reset/no-etcd-left; else fail reset/no-etcd-left "etcd still running" etcd_pids; fi
expect_fail reset/restore-needs-reset 'needs --cluster-reset' k3c_cli server --cluster-reset-restore-path "$TMP/keep.db" --data-dir "$DATA" --node-ip 127.0.0.1 --config "$TMP/empty.yaml"
start_on "$TMP/data"
check defrag/at-start grep -q 'defragmented (at start)' "$TMP/k3c.log"
check reset/data-kept kc get configmap after-nospace -n e2e
stop_server server/stop-2

# ---- 6. restore into a new data dir ----

echo "# 6. restore $FIRST into a new data dir"
DATA=$TMP/data-restored
expect_fail restore/wrong-token 'different token' reset --cluster-reset-restore-path "$TMP/keep.db" --token wrong-secret
check restore/refused-data-aside test ! -e "$DATA/server/db/etcd"
expect_out restore/exits-0 'restart without --cluster-reset' reset --cluster-reset-restore-path "$TMP/keep.db" --token "$SECRET"
# 1 h Events here: 60 s lease buckets, to lose the cached lease below.
start_on "$TMP/data-restored" --event-ttl 1h
check restore/before-snap-present kc get configmap before-snap -n e2e
expect_fail restore/after-snap-absent 'NotFound|not found' kc get configmap after-snap -n e2e
check restore/writes kc create configmap after-restore -n e2e --from-literal=k=v

echo "# 7. a cached Event lease that etcd lost is granted anew"
event_lease() { ectl get "/registry/events/e2e/$1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease", 0))'; }
# Both Events must fall in one 60 s bucket: not in a minute's last 20 s.
early_in_minute() { [ $(($(date +%s) % 60)) -lt 40 ]; }
wait_for 25 early_in_minute
check lease-lost/first-event kc create -f - <<EOF
apiVersion: v1
kind: Event
metadata: {name: lost-1, namespace: e2e}
involvedObject: {apiVersion: v1, kind: Pod, name: p, namespace: e2e}
reason: E2ELost
type: Normal
EOF
LOST=$(event_lease lost-1)
check lease-lost/revoke ectl lease revoke "$(printf '%x' "$LOST")"
check lease-lost/second-event kc create -f - <<EOF
apiVersion: v1
kind: Event
metadata: {name: lost-2, namespace: e2e}
involvedObject: {apiVersion: v1, kind: Pod, name: p, namespace: e2e}
reason: E2ELost
type: Normal
EOF
run event_lease lost-2
if [ "$RC" -eq 0 ] && [ "$OUT" != 0 ] && [ "$OUT" != "$LOST" ]; then pass lease-lost/new-lease; else fail lease-lost/new-lease "lease $OUT (the lost one was $LOST)" event_lease lost-2; fi
check lease-lost/logged grep -q 'is gone from etcd' "$TMP/k3c.log"
server_checks
run grep -l -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP"/k3c-*.log
if [ "$RC" -eq 0 ]; then fail earlier-servers/no-sanitizer-reports "sanitizer report" grep; else pass earlier-servers/no-sanitizer-reports; fi
summary
