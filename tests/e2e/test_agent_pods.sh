#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_agent_pods.sh - end-to-end test of the pod worker: a server with its
# own agent and a second `k3c agent`, each in a network namespace the test
# makes (so bridges and addresses never touch the root namespace), real
# runc/conmon/CNI, images from a local docker-registry and an air-gap
# tarball built by scripts/build-test-images. Pods are bound by
# spec.nodeName (no scheduler yet). Checks: Running with a pod IP and a CRI
# log; init containers; an image pulled through --registry-config with an
# httpGet readiness probe; CrashLoopBackOff with rising restarts; a failing
# readiness probe keeps READY 0/1; ErrImagePull then ImagePullBackOff;
# deletion honours the grace period and removes everything; a second node
# in its own netns runs a pod; that agent SIGKILLed and restarted adopts its
# container (same pid, 0 restarts). Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-pods-$$
NS2=k3c-e2e-pods2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
# Addresses only inside the test's namespaces: the veth NS <-> NS2.
NS_IP=192.168.251.1
NS2_IP=192.168.251.2
E2E_NAME=agent-pods
# Pod networks: nodeipam gives each node a /24 of --cluster-cidr, which wins
# over the agent's --pod-cidr.
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --cni-bridge k3ce2e0
    --cluster-cidr 10.89.0.0/16 --pod-cidr 10.89.1.0/24 --crash-backoff-base-ms 1000)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools
in_ns() { "${NETNS_EXEC[@]}" "$@"; }

echo "# 0. namespaces, images, registry, server"
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS"
SERVER_IP=$NS_IP
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
pods_airgap_install "$TMP/data" "$TMP/n2"
start_server
check server/node-ready wait_for 30 node_ready e2e

pod_gone() { ! kc get pod "$1" >/dev/null 2>&1; }

echo "# 1. a pod that prints and sleeps (air-gap image), with an init container"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: init, image: k3c/busybox:test, command: [sh, -c, "echo init ran"]}
  containers:
  - name: main
    image: k3c/busybox:test
    command: [sh, -c, "echo hello from k3c; echo second line; echo \$GREETING; exec sleep 3600"]
    env: [{name: GREETING, value: hi-env}]
EOF2
check hello/running wait_for 30 pod_phase_is hello Running
# The node's podCIDR prefix (a /24: 10.89.N.), escaped for a regex.
cidr_re() { kc get node "$1" -o 'jsonpath={.spec.podCIDR}' | sed 's/0\/24$//; s/\./\\./g'; }
CIDR_RE1=$(cidr_re e2e)
expect_out hello/node-pod-cidr '^10\\\.89\\\.[0-9]+\\\.$' echo "$CIDR_RE1"
expect_out hello/pod-ip "^$CIDR_RE1[0-9]+\$" pod_field hello '{.status.podIP}'
expect_eq hello/ready 'true' pod_field hello '{.status.containerStatuses[0].ready}'
expect_eq hello/init-completed 'Completed 0' pod_field hello \
    '{.status.initContainerStatuses[0].state.terminated.reason} {.status.initContainerStatuses[0].state.terminated.exitCode}'
expect_out hello/container-id '^k3c://k3c-[0-9a-f]{24}$' pod_field hello '{.status.containerStatuses[0].containerID}'
expect_out hello/image-id 'sha256:[0-9a-f]{64}' pod_field hello '{.status.containerStatuses[0].imageID}'
expect_eq hello/conditions 'True True True True' pod_field hello \
    '{.status.conditions[?(@.type=="PodScheduled")].status} {.status.conditions[?(@.type=="Initialized")].status} {.status.conditions[?(@.type=="ContainersReady")].status} {.status.conditions[?(@.type=="Ready")].status}'
UID1=$(pod_field hello '{.metadata.uid}')
LOG1=$TMP/data/agent/logs/default_hello_$UID1/main/0.log
log_has() { grep -q "$2" "$1" 2>/dev/null; }
check hello/log-lines wait_for 10 log_has "$LOG1" 'stdout F hi-env'
expect_out hello/log-cri-format '^[0-9T:.-]+Z? stdout F hello from k3c$|^[0-9T:.+-]+ stdout F hello from k3c$' cat "$LOG1"
expect_out hello/kubectl-shows 'hello +1/1 +Running +0' kc get pod hello
events_of() {
    kc get events -o "jsonpath={range .items[?(@.involvedObject.name==\"$1\")]}{.reason}{\" \"}{end}"
}
expect_all hello/events Pulled Created Started -- events_of hello

echo "# 2. an image pulled from the registry (--registry-config), httpGet readiness"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $REG/k3c/busybox:test
    command: [httpd, -f, -p, "8080", -h, /www]
    ports: [{containerPort: 8080, hostPort: 18080}]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
EOF2
web_ready() { [ "$(pod_field web '{.status.containerStatuses[0].ready}')" = true ]; }
check web/ready wait_for 30 web_ready
expect_out web/kubectl-shows 'web +1/1 +Running' kc get pod web
expect_out web/pulled "$REG/k3c/busybox@sha256:" pod_field web '{.status.containerStatuses[0].imageID}'
WEB_IP=$(pod_field web '{.status.podIP}')
expect_out web/pod-ip-serves 'k3c test page' in_ns curl -sS --max-time 5 "http://$WEB_IP:8080/"
expect_out web/host-port 'k3c test page' nsenter "--net=/run/netns/$NS2" curl -sS --max-time 5 "http://$NS_IP:18080/"

echo "# 2b. a new image for a running container restarts it with that image"
check update/set-image kc set image pod/hello "main=$REG/k3c/busybox:test"
hello_updated() {
    [ "$(pod_field hello '{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].image} {.status.containerStatuses[0].ready}')" = "1 $REG/k3c/busybox:test true" ]
}
check update/restarted-with-new-image wait_for 40 hello_updated
expect_out update/image-id "$REG/k3c/busybox@sha256:" pod_field hello '{.status.containerStatuses[0].imageID}'
check update/new-log wait_for 10 log_has "${LOG1%0.log}1.log" 'stdout F hi-env'

echo "# 2c. a pod that runs to completion: Succeeded, its IP given back"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: job}
spec:
  nodeName: e2e
  restartPolicy: Never
  containers:
  - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo done"]}
EOF2
check job/succeeded wait_for 30 pod_phase_is job Succeeded
UIDJ=$(pod_field job '{.metadata.uid}')
expect_eq job/terminated 'Completed 0' pod_field job \
    '{.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}'
netns_gone() { [ ! -e "/run/netns/k3c-$1" ]; }
check job/netns-released wait_for 10 netns_gone "$UIDJ"
expect_out job/kubectl-shows 'job +0/1 +Completed +0' kc get pod job

echo "# 3. a crashing pod reaches CrashLoopBackOff with rising restarts"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: e2e
  containers:
  - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo dying; exit 3"]}
EOF2
crash_backoff() { [ "$(pod_field crash '{.status.containerStatuses[0].state.waiting.reason}')" = CrashLoopBackOff ]; }
restarts_at_least() { [ "$(pod_field crash '{.status.containerStatuses[0].restartCount}')" -ge "$1" ] 2>/dev/null; }
check crash/backoff wait_for 30 crash_backoff
check crash/restarts-2 wait_for 30 restarts_at_least 2
check crash/restarts-4 wait_for 40 restarts_at_least 4
expect_eq crash/last-state 'Error 3' pod_field crash \
    '{.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}'
expect_out crash/kubectl-shows 'crash +[01]/1 +[A-Za-z]+ +([4-9]|[1-9][0-9])' kc get pod crash
UIDC=$(pod_field crash '{.metadata.uid}')
prev_log() { [ -s "$TMP/data/agent/logs/default_crash_$UIDC/c/1.log" ]; }
check crash/log-per-restart prev_log
expect_out crash/events 'BackOff' events_of crash

echo "# 4. a failing readiness probe keeps READY 0/1"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: unready}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sleep, "3600"]
    readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
EOF2
check unready/running wait_for 30 pod_phase_is unready Running
unready_ready() { [ "$(pod_field unready '{.status.containerStatuses[0].ready}')" = true ]; }
# The probe runs every second; 4 s with READY still false is the point.
if wait_for 4 unready_ready; then fail unready/stays-0-1 "became ready" kc get pod unready; else pass unready/stays-0-1; fi
expect_out unready/kubectl-shows 'unready +0/1 +Running' kc get pod unready
expect_eq unready/condition 'False ContainersNotReady' pod_field unready \
    '{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}'

kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 3600"]
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}
EOF2
live_restarted() { [ "$(pod_field liveness '{.status.containerStatuses[0].restartCount}')" -ge 1 ] 2>/dev/null; }
check liveness/restarted wait_for 30 live_restarted
expect_out liveness/killed 'Error 137' pod_field liveness \
    '{.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}'
expect_all liveness/events Unhealthy Killing -- events_of liveness

echo "# 5. an image that does not exist: ErrImagePull, then ImagePullBackOff"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  nodeName: e2e
  containers:
  - {name: c, image: "$REG/k3c/does-not-exist:1"}
EOF2
SEEN=
reason_seen() {
    local r
    r=$(pod_field noimage '{.status.containerStatuses[0].state.waiting.reason}')
    case " $SEEN " in *" $r "*) ;; *) SEEN="$SEEN $r" ;; esac
    case $SEEN in *ErrImagePull*ImagePullBackOff*) return 0 ;; esac
    return 1
}
check noimage/errimagepull-then-backoff wait_for 40 reason_seen
expect_all noimage/events Pulling Failed BackOff -- events_of noimage
expect_out noimage/message 'does-not-exist' pod_field noimage '{.status.containerStatuses[0].state.waiting.message}'
expect_out noimage/pending 'Pending' pod_field noimage '{.status.phase}'

echo "# 6. deletion honours the grace period"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "trap 'echo got TERM; sleep 2; exit 0' TERM; echo up; while :; do sleep 0.2; done"]
EOF2
check graceful/running wait_for 30 pod_phase_is graceful Running
UIDG=$(pod_field graceful '{.metadata.uid}')
check graceful/trap-set wait_for 10 log_has "$TMP/data/agent/logs/default_graceful_$UIDG/c/0.log" 'stdout F up'
T0=$SECONDS
check graceful/delete kc delete pod graceful --timeout=60s
T1=$((SECONDS - T0))
echo "#    delete took ${T1}s (the TERM trap takes 2 s, the grace period is 30 s)"
check graceful/waited-for-trap test "$T1" -ge 2
check graceful/not-the-whole-grace test "$T1" -lt 20
check graceful/pod-dir-removed test ! -e "$TMP/data/agent/pods/$UIDG"
check graceful/netns-removed test ! -e "/run/netns/k3c-$UIDG"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 3
  containers:
  - {name: c, image: k3c/busybox:test, command: [sh, -c, "trap '' TERM; while :; do sleep 0.2; done"]}
EOF2
check stubborn/running wait_for 30 pod_phase_is stubborn Running
T0=$SECONDS
check stubborn/delete kc delete pod stubborn --timeout=60s
T1=$((SECONDS - T0))
echo "#    delete took ${T1}s (TERM ignored, grace 3 s, then SIGKILL)"
check stubborn/killed-after-grace test "$T1" -ge 3 -a "$T1" -lt 15

echo "# 7. a second node in its own network namespace"
start_agent2() {
    agent_start pods-2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3ce2e1 --pod-cidr 10.89.2.0/24 \
        --crash-backoff-base-ms 1000
}
start_agent2
check node2/ready wait_for 40 node_ready pods-2
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: remote}
spec:
  nodeName: pods-2
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: k3c/busybox:test, command: [sh, -c, "echo remote; exec sleep 3600"]}
EOF2
check node2/pod-running wait_for 40 pod_phase_is remote Running
CIDR_RE2=$(cidr_re pods-2)
expect_out node2/node-pod-cidr '^10\\\.89\\\.[0-9]+\\\.$' echo "$CIDR_RE2"
check node2/distinct-pod-cidr test "$CIDR_RE1" != "$CIDR_RE2"
expect_out node2/pod-ip "^$CIDR_RE2[0-9]+\$" pod_field remote '{.status.podIP}'
expect_eq node2/host-ip "$NS2_IP" pod_field remote '{.status.hostIP}'

echo "# 8. the agent SIGKILLed and restarted adopts its container"
CID=$(pod_field remote '{.status.containerStatuses[0].containerID}')
CID=${CID#k3c://}
PIDFILE=$TMP/n2/agent/containers/containers/$CID/pidfile
PID_BEFORE=$(cat "$PIDFILE" 2>/dev/null)
check adopt/container-pid test -n "$PID_BEFORE"
agent_kill pods-2
check adopt/container-survives-agent kill -0 "$PID_BEFORE"
start_agent2
agent2_adopted() { grep -q "adopted container c ($CID" "$TMP/agent-pods-2.log"; }
check adopt/adopted wait_for 40 agent2_adopted
check adopt/node-ready wait_for 40 node_ready pods-2
expect_eq adopt/restarts-0 '0' pod_field remote '{.status.containerStatuses[0].restartCount}'
expect_eq adopt/same-container "k3c://$CID" pod_field remote '{.status.containerStatuses[0].containerID}'
expect_eq adopt/same-pid "$PID_BEFORE" cat "$PIDFILE"
check adopt/still-running kill -0 "$PID_BEFORE"
expect_eq adopt/still-ready 'true' pod_field remote '{.status.containerStatuses[0].ready}'

echo "# 9. a pod deleted while its agent is down is cleaned up at start"
UIDR=$(pod_field remote '{.metadata.uid}')
agent_stop pods-2
AGENT2_RC=$?
expect_eq orphan/agent-sigterm-exit-0 0 echo "$AGENT2_RC"
check orphan/force-delete kc delete pod remote --grace-period=0 --force
start_agent2
orphan_gone() { [ ! -e "$TMP/n2/agent/pods/$UIDR" ] && ! kill -0 "$PID_BEFORE" 2>/dev/null; }
check orphan/removed wait_for 40 orphan_gone
check orphan/netns-removed test ! -e "/run/netns/k3c-$UIDR"

echo "# 10. cleanup through the API"
check cleanup/delete-all kc delete pods --all --timeout=90s
no_containers() {
    [ -z "$(ls "$TMP/data/agent/containers/containers" 2>/dev/null)" ] &&
        [ -z "$(ls "$TMP/n2/agent/containers/containers" 2>/dev/null)" ]
}
check cleanup/no-containers-left wait_for 30 no_containers
agent_stop pods-2
AGENT2_RC=$?
expect_eq agent2/sigterm-exit-0 0 echo "$AGENT2_RC"
agent_log_checks pods-2

server_checks
summary
