#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_rbac.sh - what RBAC costs a request: BENCH_N (default 500) GETs of
# one Pod over one keep-alive connection (curl, client certificates), as the
# admin (system:masters: no RBAC evaluation) and as a user allowed by a
# RoleBinding among BENCH_BINDINGS (default 200) other RoleBindings and
# ClusterRoleBindings (the index walked each time), then the same after a
# binding changed (the index rebuilt once). Prints requests/s for each and
# the ratio user/admin. Use an optimised build:
#   K3C_BIN=build/k3c bash bench/bench_rbac.sh
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)
E2E_NAME=bench-rbac
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
N=${BENCH_N:-500}
BINDINGS=${BENCH_BINDINGS:-200}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"
start_server
TLS=$TMP/data/server/tls

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/u.key" \
    -subj /CN=bench-user -out "$TMP/u.csr" 2>/dev/null
openssl x509 -req -in "$TMP/u.csr" -CA "$TLS/client-ca.crt" -CAkey "$TLS/client-ca.key" \
    -CAcreateserial -days 1 -out "$TMP/u.crt" 2>/dev/null
kc create namespace bench >/dev/null
kc create role reader --verb=get,list --resource=pods -n bench >/dev/null
for i in $(seq "$BINDINGS"); do
    if [ $((i % 2)) -eq 0 ]; then
        echo "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"other-$i\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"view\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"User\",\"name\":\"someone-$i\"}]}"
    else
        echo "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"other-$i\",\"namespace\":\"bench\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"reader\"},\"subjects\":[{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"User\",\"name\":\"someone-$i\"}]}"
    fi
done | kc create -f - >/dev/null
kc create rolebinding bench-user --role=reader --user=bench-user -n bench >/dev/null
kc run p --image=x -n bench --restart=Never >/dev/null 2>&1
URL=$API_URL/api/v1/namespaces/bench/pods/p
wait_for 20 sh -c "curl -sf --cacert $TMP/ca.crt --cert $TMP/u.crt --key $TMP/u.key $URL >/dev/null"

# rate CERT KEY: requests/s of N GETs over one connection.
rate() {
    local args=() start end
    for _ in $(seq "$N"); do args+=("$URL"); done
    start=$(date +%s.%N)
    curl -sf --cacert "$TMP/ca.crt" --cert "$1" --key "$2" "${args[@]}" >/dev/null || return 1
    end=$(date +%s.%N)
    python3 -c "print(round($N / ($end - $start)))"
}
rate "$TMP/admin.crt" "$TMP/admin.key" >/dev/null # warm-up
ADMIN=$(rate "$TMP/admin.crt" "$TMP/admin.key")
USER=$(rate "$TMP/u.crt" "$TMP/u.key")
kc create rolebinding churn --role=reader --user=nobody -n bench >/dev/null
USER2=$(rate "$TMP/u.crt" "$TMP/u.key")
echo "GET pod, $N requests, $((BINDINGS + 5)) bindings:"
echo "  admin (system:masters)     $ADMIN req/s"
echo "  user via RBAC              $USER req/s"
echo "  user, first after a change $USER2 req/s"
python3 -c "print('  ratio user/admin           %.2f' % ($USER / $ADMIN))"
