#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_upgrade.sh - a data dir written by the previous k3c keeps working
# with this one (issue #21, docs/install.md "Upgrades"): $K3C_PREV_BIN (a
# k3c built from an earlier commit or release) starts a server, which
# writes the data format marker, a ConfigMap, a Secret and a Deployment;
# it stops; $K3C_BIN starts on the same data dir: it reads the marker
# (format kept, no migration message when equal), serves the objects, the
# node registers again with this binary's version, and new writes work.
# The older k3c: $K3C_PREV_BIN, else the build of lib_prev.sh's
# PREV_COMMIT cached in /var/cache/k3c by an earlier run (of this test with
# K3C_TEST_UPGRADE=1 or of e2e_upgrade_ha), else with K3C_TEST_UPGRADE=1 it
# is built (~2.5 min on 2 cores); without any of them it exits 77 (CI's
# fresh machine: the build would not fit its time). The servers run with
# --disable-pods (no network namespace needed). Root not needed. ~30 s.
# Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=upgrade
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib_prev.sh
. "$HERE/lib_prev.sh"
if ! prev_bin "${K3C_TEST_UPGRADE:-0}"; then
    echo "SKIP: opt-in: K3C_TEST_UPGRADE=1 builds k3c $PREV_COMMIT (~2.5 min, then cached in $PREV_CACHE), or set K3C_PREV_BIN to a k3c built from an earlier commit or release"
    exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
NEW_BIN=$K3C_BIN
echo "# previous: $("$PREV_BIN" --version); new: $("$NEW_BIN" --version)"

K3C_BIN=$PREV_BIN
start_server
check prev/node-ready wait_for 60 kc get node e2e
expect_out prev/format-written 'data format [0-9]+ written|data format [0-9]+ \(written by' cat "$TMP/k3c.log"
check prev/configmap kc create configmap upgrade-cm --from-literal=k=before
check prev/secret kc create secret generic upgrade-secret --from-literal=password=s3cret
check prev/deployment kc create deployment upgrade-web --image=k3c/busybox:test
stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
expect_eq prev/exit-0 0 echo $?
SERVER_PID=
mv "$TMP/k3c.log" "$TMP/k3c-prev.log"

echo "# the same data dir with the new binary"
K3C_BIN=$NEW_BIN
start_server
expect_out new/format-read 'data format [0-9]+ \(written by k3c v|data format [0-9]+ raised to' cat "$TMP/k3c.log"
expect_eq new/configmap before kc get configmap upgrade-cm -o 'jsonpath={.data.k}'
expect_eq new/secret s3cret sh -c "kubectl --kubeconfig '$KUBECONFIG' get secret upgrade-secret -o 'jsonpath={.data.password}' | base64 -d"
expect_eq new/deployment 1 kc get deployment upgrade-web -o 'jsonpath={.spec.replicas}'
node_version() { kc get node e2e -o 'jsonpath={.status.nodeInfo.kubeletVersion}' 2>/dev/null; }
want_version="+k3c$("$NEW_BIN" --version | sed -n 's/^k3c version v//p')"
# exact: the older build's version is a prefix of a newer one's of the same release
node_new() { [ "$(node_version)" = "v1.32.0$want_version" ]; }
wait_check new/node-version 60 node_new
check new/write kc patch configmap upgrade-cm -p '{"data":{"k":"after"}}'
expect_eq new/read-back after kc get configmap upgrade-cm -o 'jsonpath={.data.k}'

summary
