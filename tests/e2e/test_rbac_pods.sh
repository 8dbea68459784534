#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_rbac_pods.sh - service-account tokens inside real pods (issue #15,
# docs/auth.md): the API's ServiceAccount admission adds the projected
# kube-api-access-* volume, the kubelet fills it (token from a TokenRequest
# as its node, ca.crt from kube-root-ca.crt, namespace) and sets
# KUBERNETES_SERVICE_HOST/PORT; the token read inside the pod authenticates
# as system:serviceaccount:<ns>:<name> and is confined by RBAC; it stops
# working once its pod is gone; automountServiceAccountToken: false leaves
# the volume out. One server with its own agent in a network namespace the
# test makes (lib_pods.sh). Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-rbacp-$$
NS2=k3c-e2e-rbacp2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.252.1
NS2_IP=192.168.252.2
E2E_NAME=rbac-pods
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --cni-bridge k3crb$$
    --cluster-cidr 10.88.0.0/16 --pod-cidr 10.88.1.0/24)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools

echo "# 0. namespaces, images, server"
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS"
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 60 node_ready e2e

SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount
echo "# 1. a pod reads its mounted token"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: k3c/busybox:test
    command: [sh, -c, "echo NS=\$(cat $SA_DIR/namespace); echo HOST=\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT; grep -c 'BEGIN CERTIFICATE' $SA_DIR/ca.crt; echo TOKEN=\$(cat $SA_DIR/token); exec sleep 3600"]
EOF2
expect_out admission/volume '^kube-api-access-[a-z0-9]{5}$' pod_field reader '{.spec.volumes[0].name}'
expect_eq admission/mount "$SA_DIR true" pod_field reader '{.spec.containers[0].volumeMounts[0].mountPath} {.spec.containers[0].volumeMounts[0].readOnly}'
expect_eq admission/service-account default pod_field reader '{.spec.serviceAccountName}'
check reader/running wait_for 60 pod_phase_is reader Running
logs_have_token() { kc logs reader 2>/dev/null | grep -q '^TOKEN=.'; }
check reader/token-printed wait_for 20 logs_have_token
expect_all reader/files '^NS=default$' '^HOST=10\.43\.0\.1:443$' '^1$' -- kc logs reader
TOKEN=$(kc logs reader | sed -n 's/^TOKEN=//p')
as_pod() { kc --kubeconfig=/dev/null --server="$API_URL" --certificate-authority="$TMP/ca.crt" --token="$TOKEN" "$@"; }
expect_all token/whoami '^Username +system:serviceaccount:default:default$' 'system:serviceaccounts:default' \
    -- as_pod auth whoami
expect_fail token/forbidden 'pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods"' \
    as_pod get pods
check token/bind kc create rolebinding default-reads --clusterrole=view --serviceaccount=default:default
wait_check token/allowed 20 as_pod get pods
expect_fail token/secrets-still-forbidden 'secrets is forbidden' as_pod get secrets

echo "# 2. automountServiceAccountToken: false"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: no-token}
spec:
  nodeName: e2e
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: k3c/busybox:test, command: [sh, -c, "ls $SA_DIR 2>&1; exec sleep 3600"]}
EOF2
expect_eq no-token/no-volume '' pod_field no-token '{.spec.volumes}'
check no-token/running wait_for 60 pod_phase_is no-token Running

echo "# 3. the token dies with its pod"
check reader/delete kc delete pod reader --wait=true
token_refused() { ! as_pod get pods >/dev/null 2>&1; }
wait_check token/refused-after-delete 30 token_refused
kc delete pod no-token --wait=false >/dev/null 2>&1

server_checks
summary
