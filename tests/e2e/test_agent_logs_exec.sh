#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_agent_logs_exec.sh - stock kubectl 1.32 against the kubelet API (port
# 10250 inside a test-made network namespace) through the API server's
# pods/log and pods/exec proxy: `kubectl logs` (--tail, --timestamps,
# --since, --limit-bytes, -c, --previous after a crash, -f that sees lines
# written later), `kubectl exec` (WebSocket v5.channel.k8s.io: output,
# stdin, exit codes propagate), `exec -it` under a pty (script(1)),
# `kubectl attach`, and the
# errors kubectl users see (no such pod, a container that must be named).
# Real runc/conmon/CNI, the air-gap image from scripts/build-test-images.
# Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-logs-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=agent-logs-exec
SERVER_EXTRA_ARGS=(--cni-bridge k3ce2e2 --pod-cidr 10.89.3.0/24 --crash-backoff-base-ms 500
    --kubelet-port 10250)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools script

FOLLOW_PID=
in_ns() { "${NETNS_EXEC[@]}" "$@"; }
stop_follow() {
    if [ -n "$FOLLOW_PID" ]; then
        kill "$FOLLOW_PID" 2>/dev/null
        wait "$FOLLOW_PID" 2>/dev/null
        FOLLOW_PID=
    fi
}
trap 'stop_follow; pods_cleanup; cleanup' EXIT

echo "# 0. namespace, images, server"
pods_netns_make "$NS"
pods_images_start "$NS"
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 30 node_ready e2e
expect_eq node/kubelet-port 10250 kc get node e2e -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}'

kc apply -f - >/dev/null <<'EOF2'
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: k3c/busybox:test
    command: [sh, -c, "echo line-one; echo line-two; while [ ! -e /tmp/go ]; do sleep 0.2; done; echo after-go; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: e2e
  containers:
  - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo dying-now; exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - {name: a, image: k3c/busybox:test, command: [sh, -c, "echo from-a; exec sleep 3600"]}
  - {name: b, image: k3c/busybox:test, command: [sh, -c, "echo from-b; exec sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - {name: t, image: k3c/busybox:test, command: [sh, -c, "i=0; while [ $i -lt 9000 ]; do echo tick-$i; i=$((i+1)); sleep 0.2; done"]}
EOF2
check pods/talk-running wait_for 40 pod_phase_is talk Running
check pods/two-running wait_for 40 pod_phase_is two Running
logs_have() { kc logs "$@" 2>/dev/null | grep -q "line-two"; }
check logs/ready wait_for 20 logs_have talk

echo "# 1. kubectl logs"
expect_eq logs/plain "line-one
line-two" kc logs talk
expect_eq logs/tail 'line-two' kc logs talk --tail=1
expect_out logs/timestamps '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z line-two$' kc logs talk --timestamps --tail=1
expect_eq logs/since "line-one
line-two" kc logs talk --since=1h
expect_eq logs/limit-bytes 'line-' kc logs talk --limit-bytes=5
expect_eq logs/container-b 'from-b' kc logs two -c b
# kubectl picks the first container itself; the API's own message
# ("a container name must be specified ... choose one of: [a b]") is covered
# by tests/integration/test_kubelet_server.c.
expect_all logs/defaulted-container 'Defaulted container "a" out of: a, b' '^from-a$' -- kc logs two
expect_fail logs/no-such-pod 'pods "nope" not found' kc logs nope

echo "# 2. kubectl logs -f sees lines written later"
FOLLOW_OUT=$TMP/follow.out
kc logs -f talk >"$FOLLOW_OUT" 2>&1 &
FOLLOW_PID=$!
follow_has() { grep -q "$1" "$FOLLOW_OUT" 2>/dev/null; }
check follow/first-lines wait_for 20 follow_has line-two
check follow/trigger kc exec talk -- touch /tmp/go
check follow/later-line wait_for 20 follow_has after-go
check follow/still-following kill -0 "$FOLLOW_PID"
stop_follow

echo "# 3. kubectl exec"
expect_eq exec/hostname 'talk' kc exec talk -- cat /etc/hostname
expect_eq exec/container 'b' kc exec two -c b -- sh -c 'echo b'
expect_rc exec/exit-code-3 3 'command terminated with exit code 3' kc exec talk -- sh -c 'exit 3'
expect_rc exec/exit-code-7-stderr 7 to-stderr kc exec talk -- sh -c 'echo to-stderr >&2; exit 7'
expect_eq exec/stdin 'piped-in' sh -c "echo piped-in | timeout 60 ${NETNS_EXEC[*]} $KUBECTL --request-timeout=20s exec -i talk -- cat"
expect_fail exec/no-such-container 'not valid for pod talk' kc exec talk -c nope -- true

T0=$(date +%s%N)
for _ in 1 2 3 4 5; do kc exec talk -- true >/dev/null 2>&1; done
echo "#    kubectl exec -- true: $((($(date +%s%N) - T0) / 5000000)) ms each (5 runs, kubectl start included)"
T0=$(date +%s%N)
for _ in 1 2 3 4 5; do kc logs talk --tail=1 >/dev/null 2>&1; done
echo "#    kubectl logs --tail=1: $((($(date +%s%N) - T0) / 5000000)) ms each (5 runs, kubectl start included)"

echo "# 4. kubectl exec -it under a pty"
# script(1) gives kubectl a terminal; -e passes the exit status on. script
# runs the command with $SHELL -c: with dash that is a child, and a plain
# timeout(1) would move kubectl into a background process group of the pty
# (it reads EIO and never sets up the terminal), so --foreground keeps it in
# the terminal's foreground group whatever the caller's shell is.
TTY_CMD="timeout --foreground 60 ${NETNS_EXEC[*]} $KUBECTL --request-timeout=20s exec -it talk -- sh -c 'tty; echo tty-ok; exit 4'"
run script -qec "$TTY_CMD" /dev/null </dev/null
TTY_RC=$RC TTY_OUT=$OUT
expect_eq tty/exit-code 4 echo "$TTY_RC"
expect_out tty/is-a-terminal '/dev/pts/[0-9]+' printf '%s\n' "$TTY_OUT"
expect_out tty/output 'tty-ok' printf '%s\n' "$TTY_OUT"
run sh -c "printf 'echo typed-\$((40+2))\nexit 6\n' | script -qec \"timeout --foreground 60 ${NETNS_EXEC[*]} $KUBECTL --request-timeout=20s exec -it talk -- sh\" /dev/null"
TTY_RC=$RC TTY_OUT=$OUT
expect_eq tty/stdin-exit-code 6 echo "$TTY_RC"
expect_out tty/stdin-ran 'typed-42' printf '%s\n' "$TTY_OUT"

echo "# 5. kubectl attach (the output from now on; kubectl stops at the time limit)"
check attach/ticker-running wait_for 40 pod_phase_is ticker Running
run timeout 6 "${NETNS_EXEC[@]}" "$KUBECTL" --request-timeout=20s attach ticker
ATTACH_OUT=$OUT
expect_out attach/output 'tick-[0-9]+' printf '%s\n' "$ATTACH_OUT"

echo "# 6. kubectl logs --previous after a crash"
restarted() { [ "$(pod_field crash '{.status.containerStatuses[0].restartCount}')" -ge 1 ] 2>/dev/null; }
check previous/restarted wait_for 40 restarted
expect_eq previous/logs 'dying-now' kc logs crash --previous
expect_fail previous/none-yet 'previous terminated container "main" in pod "talk" not found' kc logs talk --previous

echo "# 7. metrics of the kubelet API"
KPORT=10250
expect_out kubelet/metrics 'kubelet_exec_requests_total [1-9]' in_ns curl -sS --cacert "$TMP/data/server/tls/server-ca.crt" \
    --cert "$TMP/admin.crt" --key "$TMP/admin.key" "https://127.0.0.1:$KPORT/metrics"
expect_out kubelet/anonymous-401 '401' in_ns curl -sS -o /dev/null -w '%{http_code}' -k "https://127.0.0.1:$KPORT/containerLogs/default/talk/main"

echo "# 8. the API server stops while a kubectl exec is open (relay handed back first)"
"${NETNS_EXEC[@]}" timeout 60 "$KUBECTL" --request-timeout=0 exec talk -- sleep 50 >"$TMP/held.out" 2>&1 &
HELD_PID=$!
exec_open() {
    in_ns curl -sS --cacert "$TMP/data/server/tls/server-ca.crt" --cert "$TMP/admin.crt" \
        --key "$TMP/admin.key" "https://127.0.0.1:$KPORT/metrics" | grep -q '^kubelet_exec_sessions [1-9]'
}
check held/exec-open wait_for 30 exec_open
server_checks
held_ended() { ! kill -0 "$HELD_PID" 2>/dev/null; }
check held/kubectl-ended wait_for 20 held_ended
wait "$HELD_PID" 2>/dev/null
summary
