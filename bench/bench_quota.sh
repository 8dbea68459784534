#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_quota.sh - what ResourceQuota admission costs a create: BENCH_N
# (default 300) ConfigMap creates (POST with generateName over one
# keep-alive connection, curl, the admin's certificate) into a namespace
# without a quota, one with a quota that does not count ConfigMaps (pods=10:
# decided from the watch cache), and one whose quota counts them
# (configmaps=1000000: an etcd read and a compare-and-swap of status.used per
# create, as upstream). Prints creates/s for each and the ratios. Use an
# optimised build:
#   K3C_BIN=build/k3c bash bench/bench_quota.sh
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)
E2E_NAME=bench-quota
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
N=${BENCH_N:-300}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"
start_server

for ns in plain other counted; do kc create namespace "q-$ns" >/dev/null; done
kc -n q-other create quota q --hard=pods=10 >/dev/null
kc -n q-counted create quota q --hard=configmaps=1000000 >/dev/null
counted_ready() { [ -n "$(kc -n q-counted get quota q -o 'jsonpath={.status.used.configmaps}' 2>/dev/null)" ]; }
wait_for 30 counted_ready

# rate NS: creates/s of N ConfigMaps over one connection.
rate() {
    local args=() start end url=$API_URL/api/v1/namespaces/$1/configmaps
    for _ in $(seq "$N"); do args+=("$url"); done
    start=$(date +%s.%N)
    curl -sf --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" \
        -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"b-"},"data":{"k":"v"}}' \
        "${args[@]}" >/dev/null || return 1
    end=$(date +%s.%N)
    python3 -c "print(round($N / ($end - $start)))"
}
rate q-plain >/dev/null # warm-up
PLAIN=$(rate q-plain)
OTHER=$(rate q-other)
COUNTED=$(rate q-counted)
USED=$(kc -n q-counted get quota q -o 'jsonpath={.status.used.configmaps}')
echo "ConfigMap creates, $N per namespace:"
echo "  no quota                    $PLAIN creates/s"
echo "  quota not counting them     $OTHER creates/s"
echo "  quota counting them         $COUNTED creates/s (status.used.configmaps $USED)"
python3 -c "print('  ratio counted/none          %.2f' % ($COUNTED / $PLAIN))"
python3 -c "print('  ratio not-counting/none     %.2f' % ($OTHER / $PLAIN))"
