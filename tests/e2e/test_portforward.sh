#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_portforward.sh - stock kubectl port-forward through the API server to
# the kubelet API (port 10250 inside a test-made network namespace) and into
# a real pod's network namespace: busybox httpd on two ports, curl through
# the forward (several connections at once, two ports at once, pod/, svc/ and
# deploy/ targets), a closed port's error, and every stock kubectl release on
# the machine (1.27-1.33: SPDY/3.1 for those before 1.31, SPDY tunnelled in
# a WebSocket for 1.31+, checked by the kubelet's counters), and `kubectl
# exec` (output, exit code, stdin) with each release: SPDY/3.1 for 1.27-1.29.
# Needs root.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-pf-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=portforward
SERVER_EXTRA_ARGS=(--cni-bridge k3cpf$$ --pod-cidr 10.89.9.0/24 --kubelet-port 10250)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools curl script

PF_PIDS=()
stop_forwards() {
    local pid
    for pid in "${PF_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PF_PIDS=()
}
trap 'stop_forwards; pods_cleanup; cleanup' EXIT
in_ns() { "${NETNS_EXEC[@]}" "$@"; }

# forward LOG KUBECTL ARGS...: kubectl port-forward in the background.
forward() {
    local log=$1 bin=$2
    shift 2
    "${NETNS_EXEC[@]}" timeout 150 "$bin" --request-timeout=0 --cache-dir="$TMP/kube-cache" \
        port-forward "$@" >"$log" 2>&1 &
    PF_PIDS+=($!)
}
forwarding() { grep -q "Forwarding from 127.0.0.1:$2" "$1" 2>/dev/null; }
get() { in_ns curl -sS --max-time 20 "http://127.0.0.1:$1/${2:-}"; }
kubelet_metric() {
    in_ns curl -sS --cacert "$TMP/data/server/tls/server-ca.crt" --cert "$TMP/admin.crt" \
        --key "$TMP/admin.key" "https://127.0.0.1:10250/metrics" | sed -n "s/^$1 //p"
}

echo "# 0. namespace, images, server, pods"
pods_netns_make "$NS"
pods_images_start "$NS"
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 30 node_ready e2e
kc apply -f - >/dev/null <<'EOF2'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: k3c/busybox:test
        command: [sh, -c, "mkdir -p /www /www2; echo hello-from-80 > /www/index.html; echo hello-from-8081 > /www2/index.html; head -c 300000 /dev/zero | tr '\\0' x > /www/big; httpd -p 8081 -h /www2; exec httpd -f -p 80 -h /www"]
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
EOF2
pod_name() { kc get pods -l app=web -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null; }
web_running() { [ "$(kc get pods -l app=web -o 'jsonpath={.items[0].status.phase}' 2>/dev/null)" = Running ]; }
check pods/web-running wait_for 60 web_running
POD=$(pod_name)
# httpd forks; be sure both listen before the first forward.
served() { kc exec "$POD" -- wget -qO- http://127.0.0.1:8081/ 2>/dev/null | grep -q hello-from-8081; }
check pods/httpd-listening wait_for 30 served

echo "# 1. kubectl 1.32: two ports at once, several connections"
P1=$(free_ports 1) P2=$(free_ports 1)
forward "$TMP/pf1.log" "$KUBECTL" "pod/$POD" "$P1:80" "$P2:8081"
check pf132/listening wait_for 30 forwarding "$TMP/pf1.log" "$P1"
expect_eq pf132/port-80 hello-from-80 get "$P1"
expect_eq pf132/port-8081 hello-from-8081 get "$P2"
for i in 1 2 3 4 5 6; do get "$P1" >"$TMP/par.$i" 2>&1 & done
wait_pars() { local i; for i in 1 2 3 4 5 6; do grep -q hello-from-80 "$TMP/par.$i" || return 1; done; }
check pf132/six-parallel wait_for 30 wait_pars
expect_eq pf132/300k-body 300000 sh -c "${NETNS_EXEC[*]} curl -sS --max-time 20 http://127.0.0.1:$P1/big | wc -c"
T0=$(date +%s%N)
for _ in $(seq 20); do get "$P1" >/dev/null; done
echo "#    curl through port-forward: $((($(date +%s%N) - T0) / 20000000)) ms per request (20 sequential)"
expect_out pf132/websocket-used '^[1-9]' kubelet_metric 'kubelet_port_forward_sessions_total{protocol="websocket"}'
stop_forwards

echo "# 2. a closed port: the error as upstream words it"
P3=$(free_ports 1)
forward "$TMP/pf-closed.log" "$KUBECTL" "pod/$POD" "$P3:81"
check closed/listening wait_for 30 forwarding "$TMP/pf-closed.log" "$P3"
run get "$P3"
expect_eq closed/curl-fails 1 sh -c "[ $RC -ne 0 ] && echo 1"
has_error() { grep -q "error forwarding port 81 to pod default/$POD, uid [0-9a-f-]*: dial tcp4 127.0.0.1:81: connect: connection refused" "$TMP/pf-closed.log"; }
check closed/error-message wait_for 10 has_error
stop_forwards

echo "# 3. svc/ and deploy/ (kubectl resolves them to the pod)"
P4=$(free_ports 1) P5=$(free_ports 1)
forward "$TMP/pf-svc.log" "$KUBECTL" svc/web "$P4:8080"
forward "$TMP/pf-deploy.log" "$KUBECTL" deploy/web "$P5:80"
check svc/listening wait_for 30 forwarding "$TMP/pf-svc.log" "$P4"
check deploy/listening wait_for 30 forwarding "$TMP/pf-deploy.log" "$P5"
expect_eq svc/get hello-from-80 get "$P4"
expect_eq deploy/get hello-from-80 get "$P5"
stop_forwards

echo "# 4. every stock kubectl release"
for v in 1.27 1.28 1.29 1.30 1.31 1.33; do
    bin=$KUBECTL_DIR/kubectl.$v
    [ -x "$bin" ] || { echo "# no $bin"; continue; }
    ws_before=$(kubelet_metric 'kubelet_port_forward_sessions_total{protocol="websocket"}')
    P=$(free_ports 1)
    forward "$TMP/pf-$v.log" "$bin" "pod/$POD" "$P:80"
    check "v$v/listening" wait_for 30 forwarding "$TMP/pf-$v.log" "$P"
    expect_eq "v$v/get" hello-from-80 get "$P"
    ws_after=$(kubelet_metric 'kubelet_port_forward_sessions_total{protocol="websocket"}')
    case $v in 1.2* | 1.30) want=spdy ;; *) want=websocket ;; esac
    got=spdy
    [ "$ws_after" -gt "$ws_before" ] && got=websocket
    expect_eq "v$v/protocol" "$want" echo "$got"
    stop_forwards
    # exec too: SPDY/3.1 for 1.27-1.29, WebSocket for 1.30+
    expect_eq "v$v/exec" "exec-$v" "${NETNS_EXEC[@]}" timeout 60 "$bin" --request-timeout=20s \
        exec "$POD" -- echo "exec-$v"
    expect_rc "v$v/exec-exit-code" 3 'command terminated with exit code 3' "${NETNS_EXEC[@]}" \
        timeout 60 "$bin" --request-timeout=20s exec "$POD" -- sh -c 'echo out; echo err >&2; exit 3'
    expect_eq "v$v/exec-stdin" "piped-$v" sh -c "echo piped-$v | ${NETNS_EXEC[*]} timeout 60 $bin --request-timeout=20s exec -i $POD -- cat"
done
# exec -it over SPDY: a pty and the resize stream (script(1) gives kubectl a
# terminal; --foreground keeps it in the terminal's foreground group).
TTY_CMD="timeout --foreground 60 ${NETNS_EXEC[*]} $KUBECTL_DIR/kubectl.1.27 --request-timeout=20s exec -it $POD -- sh -c 'tty; echo tty-ok; exit 4'"
# Five tries: a kubelet that closed before kubectl had read the status got
# exit code 0 about one time in five.
for try in 1 2 3 4 5; do
    run script -qec "$TTY_CMD" /dev/null </dev/null
    TTY_RC=$RC TTY_OUT=$OUT
    expect_eq "v1.27/tty-exit-code-$try" 4 echo "$TTY_RC"
done
expect_out v1.27/tty-is-a-terminal '/dev/pts/[0-9]+' printf '%s\n' "$TTY_OUT"
expect_out v1.27/tty-output 'tty-ok' printf '%s\n' "$TTY_OUT"
# 1.30 tunnels through a WebSocket when asked to.
P=$(free_ports 1)
ws_before=$(kubelet_metric 'kubelet_port_forward_sessions_total{protocol="websocket"}')
KUBECTL_PORT_FORWARD_WEBSOCKETS=true forward "$TMP/pf-1.30ws.log" "$KUBECTL_DIR/kubectl.1.30" "pod/$POD" "$P:80"
check v1.30-ws/listening wait_for 30 forwarding "$TMP/pf-1.30ws.log" "$P"
expect_eq v1.30-ws/get hello-from-80 get "$P"
ws_after=$(kubelet_metric 'kubelet_port_forward_sessions_total{protocol="websocket"}')
expect_eq v1.30-ws/protocol 1 echo $((ws_after - ws_before))
stop_forwards
expect_out kubelet/connections '^[1-9][0-9]' kubelet_metric kubelet_port_forward_connections_total

server_checks
summary
