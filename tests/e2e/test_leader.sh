#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_leader.sh - leader election of the control loops across servers
# that share one etcd (--datastore-endpoint, K3s's external datastore):
# a first server only hosts etcd (both loop groups disabled); two more
# servers on their own ports and data dirs use that etcd, with short lease
# settings. One of them holds kube-system/k3c-controllers and
# k3c-scheduler; after a SIGKILL of the holder the other holds both within
# the lease duration (plus a retry), its scheduler binds a new pod to a
# fake node, and leaseTransitions went up. A SIGTERM'd holder releases its
# leases (holderIdentity cleared) so the standby takes over at once.
# Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=leader
SERVER_EXTRA_ARGS=(--disable-agent --disable-scheduler --disable-controller-manager)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_nodes.sh
. "$HERE/lib_nodes.sh"

LEASE_S=4
RENEW_S=3
RETRY_S=1
declare -A PIDS=()

stop_members() {
    local s
    for s in "${!PIDS[@]}"; do
        kill -KILL "${PIDS[$s]}" 2>/dev/null
        wait "${PIDS[$s]}" 2>/dev/null
    done
    PIDS=()
}
trap 'nodes_cleanup; stop_members; cleanup' EXIT

start_server
ETCD_URL=https://127.0.0.1:$ETCD_CLIENT_PORT
ETLS=$TMP/data/server/tls

# start_member NAME: a server on the shared etcd, its own ports and dir.
start_member() {
    local name=$1 port
    read -r port _ <<<"$(free_ports 2)"
    env -u K3C_CONFIG "$K3C_BIN" server \
        --data-dir "$TMP/$name" --bind-address 127.0.0.1 --https-listen-port "$port" \
        --write-kubeconfig "$TMP/$name.yaml" --node-name "$name" --node-ip 127.0.0.1 --disable-agent \
        --config "$TMP/empty.yaml" \
        --datastore-endpoint "$ETCD_URL" --datastore-cafile "$ETLS/server-ca.crt" \
        --datastore-certfile "$ETLS/etcd/client.crt" --datastore-keyfile "$ETLS/etcd/client.key" \
        --leader-elect-lease-duration "$LEASE_S" --leader-elect-renew-deadline "$RENEW_S" \
        --leader-elect-retry-period "$RETRY_S" \
        </dev/null >"$TMP/$name.log" 2>&1 &
    PIDS[$name]=$!
}
member_ready() { grep -q "k3c server ready" "$TMP/$1.log" 2>/dev/null; }

holder() { # LEASE: the holder's node name (identity is <node>_<random>)
    local h
    h=$(kc get lease -n kube-system "$1" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null) || return 1
    printf '%s\n' "${h%_*}"
}
holds_both() { [ "$(holder k3c-controllers)" = "$1" ] && [ "$(holder k3c-scheduler)" = "$1" ]; }
held_by_one() { local h; h=$(holder k3c-controllers); [ "$h" = s1 ] || [ "$h" = s2 ]; }

echo "# 1. two servers on one etcd"
# s1 first, so that it holds both leases before s2 campaigns: the two
# leases are separate elections, and two servers started together may each
# win one (as kube-scheduler and kube-controller-manager may upstream).
start_member s1
wait_for 60 member_ready s1 && wait_for 30 holds_both s1
start_member s2
if wait_for 60 member_ready s1 && wait_for 60 member_ready s2; then pass members/ready; else fail members/ready "not ready" tail -n 20 "$TMP/s1.log" "$TMP/s2.log"; fi
expect_out members/external-datastore 'external datastore https://127.0.0.1' cat "$TMP/s1.log"
run grep -c 'etcd: (member' "$TMP/s1.log"
if [ "$OUT" = 0 ]; then pass members/no-own-etcd; else fail members/no-own-etcd "s1 started an etcd" grep etcd "$TMP/s1.log"; fi
if wait_for 20 held_by_one; then pass lease/held; else fail lease/held "holder '$(holder k3c-controllers)'" kc get lease -A; fi
H=$(holder k3c-controllers)
case $H in s1) S=s2 ;; *) S=s1 ;; esac
echo "# holder $H, standby $S"
if wait_for 10 holds_both "$H"; then pass lease/both-same-holder; else fail lease/both-same-holder "scheduler lease held by '$(holder k3c-scheduler)'" kc get lease -A; fi
expect_eq lease/duration "$LEASE_S" kc get lease -n kube-system k3c-controllers -o 'jsonpath={.spec.leaseDurationSeconds}'
# The standby keeps standing by over several retry periods.
sleep $((RETRY_S * 3))
expect_eq lease/still-held "$H" holder k3c-controllers
T0=$(kc get lease -n kube-system k3c-controllers -o 'jsonpath={.spec.leaseTransitions}')

echo "# 2. SIGKILL the holder: the standby takes both leases within the lease duration"
kill -KILL "${PIDS[$H]}"
wait "${PIDS[$H]}" 2>/dev/null
unset "PIDS[$H]"
start=$SECONDS
if wait_for $((LEASE_S + RENEW_S + 2 * RETRY_S)) holds_both "$S"; then pass takeover/both; else fail takeover/both "holders '$(holder k3c-controllers)' '$(holder k3c-scheduler)'" kc get lease -A; fi
echo "# took over after $((SECONDS - start))s"
T1=$(kc get lease -n kube-system k3c-controllers -o 'jsonpath={.spec.leaseTransitions}')
if [ "${T1:-0}" -gt "${T0:-0}" ]; then pass takeover/transitions; else fail takeover/transitions "leaseTransitions $T0 -> $T1" true; fi
expect_out takeover/log 'acquired by' grep 'k3c-scheduler) acquired' "$TMP/$S.log"

echo "# 3. the new holder's loops work: its scheduler binds a pod to a fake node"
check loops/node node_register n-fake
node_lease_start n-fake
run kc run after-failover --image=busybox --restart=Never
check loops/pod-created [ "$RC" -eq 0 ]
bound() { [ "$(kc get pod after-failover -o 'jsonpath={.spec.nodeName}')" = n-fake ]; }
if wait_for 20 bound; then pass loops/bound; else fail loops/bound "not bound" kc get pod after-failover -o yaml; fi

echo "# 4. a holder stopped with SIGTERM releases: a new standby takes over at once"
start_member s3
if wait_for 60 member_ready s3; then pass release/s3-ready; else fail release/s3-ready "not ready" tail -n 20 "$TMP/s3.log"; fi
sleep $((RETRY_S * 2))
expect_eq release/s3-stands-by "$S" holder k3c-controllers
stop_pid "${PIDS[$S]}" "$STOP_TIMEOUT_S"
rc=$?
unset "PIDS[$S]"
if [ "$rc" -eq 0 ]; then pass release/sigterm-exit-0; else fail release/sigterm-exit-0 "exit status $rc" tail -n 20 "$TMP/$S.log"; fi
expect_out release/logged 'released' grep 'k3c-controllers) released' "$TMP/$S.log"
start=$SECONDS
if wait_for $((RETRY_S * 3)) holds_both s3; then pass release/fast-takeover; else fail release/fast-takeover "holder '$(holder k3c-controllers)'" kc get lease -A; fi
echo "# s3 took over after $((SECONDS - start))s (lease duration ${LEASE_S}s)"

nodes_cleanup
stop_pid "${PIDS[s3]}" "$STOP_TIMEOUT_S"
rc=$?
unset "PIDS[s3]"
if [ "$rc" -eq 0 ]; then pass members/s3-sigterm-exit-0; else fail members/s3-sigterm-exit-0 "exit status $rc" tail -n 20 "$TMP/s3.log"; fi
run grep -E -A 30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/s1.log" "$TMP/s2.log" "$TMP/s3.log"
if [ "$RC" -eq 0 ]; then fail members/no-sanitizer-reports "sanitizer report" true; else pass members/no-sanitizer-reports; fi
server_checks
summary
