#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deviceplugin.sh - the kubelet device-plugin API v1beta1 (issue #18)
# with real pods: a server (no agent of its own) in one network namespace,
# an agent-only node `foo` in another, and tests/deviceplugin/test_plugin.py
# (a plugin on python3-grpcio, the real gRPC library) registering
# example.com/foo with three devices on the agent's
# <data-dir>/agent/device-plugins/kubelet.sock. Checks: capacity and
# allocatable 3; a pod asking for 1 gets the device the plugin preferred,
# and the Allocate answer inside its container (env, the read-only mount,
# the device node, writable through the cgroup rule) and its annotation in
# the OCI config, the edits of the CDI device it named; PreStartContainer was called; a pod asking for more than
# is free stays Pending with "Insufficient example.com/foo"; a device the
# plugin reports Unhealthy leaves allocatable (not capacity) and comes
# back; the plugin killed leaves nothing allocatable, started again it
# registers again; the agent restarted makes kubelet.sock anew, the plugin
# registers again, the running pod keeps its device (checkpoint).
# Needs root (else exit 77). About 60 s.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-dp-$$
NS2=k3c-e2e-dp2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.251.1
NS2_IP=192.168.251.2
E2E_NAME=deviceplugin
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --disable-agent
    --cluster-cidr 10.92.0.0/16)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools mknod protoc /usr/bin/python3
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
    echo "SKIP: needs python3-grpcio and python3-protobuf"
    exit 77
fi

PLUGIN_PID=
plugin_start() {
    /usr/bin/python3 "$REPO/tests/deviceplugin/test_plugin.py" --dir "$DPDIR" --log "$TMP/plugin.log" \
        --unhealthy-file "$TMP/dev-0-unhealthy" --mount-src "$TMP/foo-share" \
        --dev-node "$TMP/dev/foo" --cdi-device example.com/foo-cdi=extra </dev/null >>"$TMP/plugin.out" 2>&1 &
    PLUGIN_PID=$!
}
plugin_stop() {
    [ -n "$PLUGIN_PID" ] || return 0
    kill -"${1:-TERM}" "$PLUGIN_PID" 2>/dev/null
    wait "$PLUGIN_PID" 2>/dev/null
    PLUGIN_PID=
}
trap 'plugin_stop; pods_cleanup; cleanup' EXIT

echo "# 0. what the plugin hands out: a char device (1:3) and a directory"
mkdir -p "$TMP/dev" "$TMP/foo-share"
mknod "$TMP/dev/foo" c 1 3
echo hello-from-the-plugin >"$TMP/foo-share/greeting"
# a CDI device the plugin's Allocate names in cdi_devices
mkdir -p "$TMP/cdi"
cat >"$TMP/cdi/foo-cdi.yaml" <<EOF2
cdiVersion: 0.6.0
kind: example.com/foo-cdi
devices:
- name: extra
  containerEdits:
    env: [FOO_CDI=from-the-plugins-cdi-device]
EOF2
DPDIR=$TMP/node/agent/device-plugins

echo "# 1. server, the agent-only node foo, the plugin"
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS"
SERVER_IP=$NS_IP
pods_airgap_install "$TMP/node"
start_server
start_foo_agent() {
    agent_start foo "$TMP/node" "$NS2" "$NS2_IP" --cni-bridge k3cdp$$ --pod-cidr 10.92.2.0/24 \
        --crash-backoff-base-ms 1000 --cdi-spec-dirs "$TMP/cdi"
}
start_foo_agent
check node/ready wait_for 60 node_ready foo
check kubelet.sock wait_for 20 test -S "$DPDIR/kubelet.sock"
plugin_start
node_f() { kc get node foo -o "jsonpath=$1" 2>/dev/null; }
counts_are() { [ "$(node_f '{.status.capacity.example\.com/foo} {.status.allocatable.example\.com/foo}')" = "$1" ]; }
registered() { [ "$(grep -c '^Registered example.com/foo' "$TMP/plugin.log" 2>/dev/null)" -ge "$1" ]; }
check plugin/registered wait_for 30 registered 1
check node/capacity-3 wait_for 40 counts_are "3 3"

foo_pod() {
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    resources: {limits: {example.com/foo: $2}}
    command:
    - sh
    - -c
    - |
      echo "env FOO_DEVICES=\$FOO_DEVICES"
      echo "env FOO_CDI=\$FOO_CDI"
      cat /var/run/foo/greeting
      ls -l /dev/foo0
      echo x > /dev/foo0 && echo dev-writable
      touch /var/run/foo/new 2>/dev/null || echo mount-read-only
      echo started
      exec sleep 3600
EOF2
}
pod_log() { cat "$TMP/node/agent/logs/default_$1_$(pod_field "$1" '{.metadata.uid}')/c/0.log" 2>/dev/null; }
log_has() { pod_log "$1" | grep -q -- "$2"; }

echo "# 2. a pod asking for 1 gets the plugin's answer"
foo_pod a 1
check a/running wait_for 60 pod_phase_is a Running
check a/started wait_for 20 log_has a started
expect_out a/env-preferred-device 'env FOO_DEVICES=dev-2$' pod_log a
expect_out a/cdi-device-edits 'env FOO_CDI=from-the-plugins-cdi-device$' pod_log a
expect_out a/mount 'hello-from-the-plugin' pod_log a
expect_out a/mount-read-only 'mount-read-only' pod_log a
expect_out a/device-node ' c.* /dev/foo0$' pod_log a
expect_out a/device-writable 'dev-writable' pod_log a
expect_out plugin/preferred 'GetPreferredAllocation available=dev-0,dev-1,dev-2 size=1 -> dev-2' cat "$TMP/plugin.log"
expect_all plugin/allocate-prestart 'Allocate dev-2' 'PreStartContainer dev-2' -- cat "$TMP/plugin.log"
CP=$TMP/node/agent/devices/checkpoint.json
expect_out checkpoint/dev-2 '"dev-2"' cat "$CP"
oci_annotation() { grep -rl '"example.com/foo.devices": *"dev-2"' "$TMP/node/agent/containers" --include=config.json 2>/dev/null | grep -q .; }
check a/oci-annotation oci_annotation

echo "# 3. more than is free: Pending, Insufficient example.com/foo"
foo_pod b 3
pending_insufficient() {
    [[ "$(pod_field b '{.status.phase} {.status.conditions[?(@.type=="PodScheduled")].message}')" == Pending*"Insufficient example.com/foo"* ]]
}
check b/pending-insufficient wait_for 30 pending_insufficient
expect_out b/not-bound '^$' pod_field b '{.spec.nodeName}'

echo "# 4. an unhealthy device leaves allocatable"
touch "$TMP/dev-0-unhealthy"
check unhealthy/allocatable-2 wait_for 40 counts_are "3 2"
rm -f "$TMP/dev-0-unhealthy"
check healthy-again/allocatable-3 wait_for 40 counts_are "3 3"

echo "# 5. the plugin killed and started again registers again"
plugin_stop KILL
check plugin-gone/allocatable-0 wait_for 40 counts_are "3 0"
expect_out plugin-gone/logged 'plugin .* gone' cat "$TMP/agent-foo.log"
plugin_start
check plugin-back/registered wait_for 30 registered 2
check plugin-back/allocatable-3 wait_for 40 counts_are "3 3"

echo "# 6. the agent restarted: kubelet.sock anew, the plugin registers again"
agent_stop foo
start_foo_agent
check agent-restart/node-ready wait_for 60 node_ready foo
check agent-restart/re-registered wait_for 30 registered 3
n_registered() { [ "$(grep -c 'plugin registered at' "$TMP/agent-foo.log")" -ge 3 ]; }
check agent-restart/agent-saw-it wait_for 10 n_registered
expect_eq agent-restart/a-running Running pod_field a '{.status.phase}'
expect_out agent-restart/checkpoint-kept '"dev-2"' cat "$CP"
check agent-restart/b-still-pending pending_insufficient

echo "# 7. cleanup: the device is freed"
check cleanup/delete-all kc delete pods --all --timeout=90s
none_held() { ! grep -q 'dev-' "$CP"; }
check cleanup/devices-freed wait_for 30 none_held
plugin_stop
agent_stop foo
AGENT_RC=$?
expect_eq agent/sigterm-exit-0 0 echo "$AGENT_RC"
agent_log_checks foo

server_checks
summary
