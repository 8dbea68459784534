#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_metrics.sh - metrics.k8s.io served by k3c itself from the kubelet's
# /stats/summary (cgroup v1 or v2 figures), with a real pod burning CPU
# under a 200m limit in a test-made network namespace: discovery lists the
# group, `kubectl top nodes|pods [--containers] [-l]` print non-zero
# figures, the raw API answers NodeMetrics/PodMetrics and NotFound; then a
# HorizontalPodAutoscaler (`kubectl autoscale`) on that Deployment. Needs
# root.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-metrics-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=metrics
SERVER_EXTRA_ARGS=(--cni-bridge k3cmt$$ --pod-cidr 10.89.10.0/24 --kubelet-port 10250)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools

trap 'pods_cleanup; cleanup' EXIT

echo "# 0. namespace, images, server, a CPU burner"
pods_netns_make "$NS"
pods_images_start "$NS"
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 30 node_ready e2e
kc apply -f - >/dev/null <<'EOF2'
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: spin
        image: k3c/busybox:test
        command: [sh, -c, "while :; do :; done"]
        resources: {requests: {cpu: 100m, memory: 16Mi}, limits: {cpu: 200m}}
      - name: idle
        image: k3c/busybox:test
        command: [sleep, "3600"]
        resources: {requests: {cpu: 10m}}
EOF2
burn_running() { [ "$(kc get pods -l app=burn -o 'jsonpath={.items[0].status.phase}' 2>/dev/null)" = Running ]; }
check pods/burn-running wait_for 60 burn_running
POD=$(kc get pods -l app=burn -o 'jsonpath={.items[0].metadata.name}')

echo "# 1. discovery and the raw API"
expect_out discovery/group 'metrics.k8s.io/v1beta1' kc api-versions
expect_out discovery/resources 'nodes +metrics.k8s.io/v1beta1 +false +NodeMetrics' kc api-resources --api-group=metrics.k8s.io
# The first request starts the scraper; figures need two samples.
top_nodes_ok() { kc top nodes 2>/dev/null | grep -Eq '^e2e +[0-9]+m +[0-9]+% +[1-9][0-9]*Mi +[0-9]+%'; }
check top/nodes wait_for 40 top_nodes_ok
top_pod_ok() { kc top pods 2>/dev/null | grep -Eq "^$POD +[1-9][0-9]*m +[0-9]+Mi"; }
check top/pods-nonzero wait_for 40 top_pod_ok
run kc top pods
echo "$OUT" | sed 's/^/#    /'
expect_out top/containers "^$POD +spin +[1-9][0-9]*m" kc top pods --containers
expect_out top/containers-idle "^$POD +idle +[0-9]+m" kc top pods --containers
expect_out top/label-selector "^$POD " kc top pods -l app=burn
expect_out top/label-selector-none 'No resources found|metrics not available' kc top pods -l app=nope
expect_all raw/node-metrics '"kind":"NodeMetrics"' '"window":"[0-9.]+s"' '"cpu":"[0-9]+n"' -- \
    kc get --raw /apis/metrics.k8s.io/v1beta1/nodes/e2e
expect_all raw/pod-list '"kind":"PodMetricsList"' "\"name\":\"$POD\"" '"name":"spin"' -- \
    kc get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods
expect_out raw/pod-memory '"memory":"[1-9][0-9]*Ki"' kc get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/$POD"
expect_fail raw/not-found 'pods.metrics.k8s.io "nope" not found' kc get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope
# The spinner is held at 200m by its limit: its usage stays near it.
spin_m() { kc top pods --containers 2>/dev/null | awk -v p="$POD" '$1 == p && $2 == "spin" {sub("m", "", $3); print $3}'; }
SPIN=$(spin_m)
echo "#    spin container: ${SPIN}m (limit 200m)"
expect_eq top/spin-under-limit 1 sh -c "[ \"${SPIN:-0}\" -ge 20 ] && [ \"${SPIN:-999}\" -le 260 ] && echo 1"

server_checks
summary
