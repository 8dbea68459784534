#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_metrics.sh - metrics.k8s.io served by k3c itself from the kubelet's
# /stats/summary (cgroup v1 or v2 figures), with a real pod burning CPU
# under a 100m limit in a test-made network namespace: discovery lists the
# group, `kubectl top nodes|pods [--containers] [-l]` print non-zero
# figures, the raw API answers NodeMetrics/PodMetrics and NotFound; then a
# HorizontalPodAutoscaler (`kubectl autoscale`) on that Deployment, and a
# v2 one with `behavior` scaling an idle Deployment down. Needs
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
pods_need_root_and_tools curl

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
        resources: {requests: {cpu: 50m, memory: 16Mi}, limits: {cpu: 100m}}
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
printf '#    %s\n' "${OUT//$'\n'/$'\n'#    }"
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
# The spinner is held at 100m by its limit: its usage stays near it.
spin_m() { kc top pods --containers 2>/dev/null | awk -v p="$POD" '$1 == p && $2 == "spin" {sub("m", "", $3); print $3}'; }
SPIN=$(spin_m)
echo "#    spin container: ${SPIN}m (limit 100m)"
expect_eq top/spin-under-limit 1 sh -c "[ \"${SPIN:-0}\" -ge 10 ] && [ \"${SPIN:-999}\" -le 140 ] && echo 1"

echo "# 2. HorizontalPodAutoscaler: kubectl autoscale, scale up under load to max"
T0=$SECONDS
expect_out hpa/autoscale 'horizontalpodautoscaler.autoscaling/burn autoscaled' \
    kc autoscale deploy/burn --cpu-percent=50 --min=1 --max=3
replicas() { kc get deploy "$1" -o 'jsonpath={.spec.replicas}' 2>/dev/null; }
at_max() { [ "$(replicas burn)" = 3 ]; }
check hpa/scaled-to-max wait_for 120 at_max
echo "#    burn scaled 1 -> 3 in $((SECONDS - T0)) s"
hpa_cols() { kc get hpa burn 2>/dev/null | grep -Eq '^burn +Deployment/burn +cpu: [0-9]+%/50% +1 +3 +[0-9]+ +[0-9]+'; }
check hpa/table wait_for 30 hpa_cols
run kc get hpa burn
printf '#    %s\n' "${OUT//$'\n'/$'\n'#    }"
expect_out hpa/header '^NAME +REFERENCE +TARGETS +MINPODS +MAXPODS +REPLICAS +AGE' kc get hpa
limited() { kc get hpa burn -o 'jsonpath={.status.conditions[?(@.type=="ScalingLimited")].reason}' 2>/dev/null | grep -q TooManyReplicas; }
check hpa/limited-too-many wait_for 40 limited
expect_out hpa/active 'ValidMetricFound' kc get hpa burn -o 'jsonpath={.status.conditions[?(@.type=="ScalingActive")].reason}'
expect_out hpa/current-metrics '^[1-9][0-9]*$' kc get hpa burn -o 'jsonpath={.status.currentMetrics[0].resource.current.averageUtilization}'
expect_all hpa/describe 'resource cpu on pods +\(as a percentage of request\): +[0-9]+% \([0-9]+m\) / 50%' \
    'ScalingActive +True +ValidMetricFound' 'Deployment pods: +[0-9]+ current / 3 desired' -- kc describe hpa burn
expect_out hpa/event 'SuccessfulRescale' kc get events --field-selector involvedObject.name=burn,involvedObject.kind=HorizontalPodAutoscaler
cat >"$TMP/bad-hpa.yaml" <<'EOF2'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: bad}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 3
  maxReplicas: 2
EOF2
# shellcheck disable=SC2016 # the backquotes are upstream's message
expect_fail hpa/invalid-max 'spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`' kc create -f "$TMP/bad-hpa.yaml"
check hpa/delete kc delete hpa burn
check hpa/burn-delete kc delete deploy burn --wait=false

echo "# 3. autoscaling/v2 with behavior: an idle Deployment scales down (no 300 s window)"
kc apply -f - >/dev/null <<'EOF2'
apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: 3
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: sleep, image: k3c/busybox:test, command: [sleep, "3600"], resources: {requests: {cpu: 50m}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: idle}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: idle}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 5}
EOF2
expect_all hpa-v2/defaults '"selectPolicy": "Max"' '"periodSeconds": 15' -- kc get hpa idle -o json
T0=$SECONDS
at_min() { [ "$(replicas idle)" = 1 ]; }
check hpa-v2/scaled-down wait_for 120 at_min
echo "#    idle scaled 3 -> 1 in $((SECONDS - T0)) s"
# kubectl 1.33's autoscale (whatever version and encoding it sends) too.
check hpa-v2/delete-hpa kc delete hpa idle
expect_out hpa-1.33/autoscale 'horizontalpodautoscaler.autoscaling/idle autoscaled' \
    "${NETNS_EXEC[@]}" timeout 60 "$KUBECTL_DIR/kubectl.1.33" --request-timeout=20s \
    autoscale deploy/idle --cpu-percent=60 --min=1 --max=2
expect_out hpa-1.33/table '^idle +Deployment/idle +cpu: .*/60% +1 +2 ' kc get hpa idle
check hpa-v2/delete kc delete deploy idle --wait=false

server_checks
summary
