#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_netpol_api.sh - the NetworkPolicy resource (issue #13) through stock
# kubectl: create/get/list/watch/delete, the short name, the table columns,
# the defaults (policyTypes, protocol TCP), upstream's validation messages,
# `kubectl explain` and strict field validation from schemas/networking-v1.json.
# A server with --disable-pods on loopback; no root needed.
# shellcheck disable=SC2317 # functions are called through run/check
# shellcheck disable=SC2016 # backquotes are upstream's message text
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=netpol-api
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

start_server

np_apply() { kc apply -f - <<<"$1"; }

echo "# 1. CRUD, short name, columns, defaults"
check create np_apply '
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080}, {port: 9000, endPort: 9010}]'
expect_out get/columns '^NAME +POD-SELECTOR +AGE' kc get networkpolicies
expect_out get/row '^web-allow +app=web +[0-9]+s' kc get netpol
expect_out api-resources 'networkpolicies +netpol +networking\.k8s\.io/v1 +true +NetworkPolicy' \
    kc api-resources --api-group=networking.k8s.io
expect_eq default/policy-types 'Ingress' kc get netpol web-allow -o 'jsonpath={.spec.policyTypes[*]}'
expect_eq default/protocol-tcp 'TCP TCP' kc get netpol web-allow -o 'jsonpath={.spec.ingress[0].ports[*].protocol}'
check create-egress np_apply '
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec:
  podSelector: {}
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]'
expect_eq default/policy-types-egress 'Ingress Egress' kc get netpol deny-all -o 'jsonpath={.spec.policyTypes[*]}'
expect_out get/none-selector '^deny-all +<none> ' kc get netpol deny-all --no-headers
expect_out describe 'PodSelector' kc describe netpol web-allow

echo "# 2. watch sees a change"
kc get netpol -w --output-watch-events >"$TMP/watch.txt" 2>&1 &
WATCH_PID=$!
wait_for 10 grep -q 'web-allow' "$TMP/watch.txt"
check label kc label netpol web-allow x=y
check watch/modified wait_for 10 grep -q 'MODIFIED.*web-allow' "$TMP/watch.txt"
check delete kc delete netpol deny-all
check watch/deleted wait_for 10 grep -q 'DELETED.*deny-all' "$TMP/watch.txt"

echo "# 3. validation as upstream"
bad() { np_apply "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec:
  podSelector: {}
  $1"; }
expect_fail valid/protocol 'spec.ingress\[0\].ports\[0\].protocol: Unsupported value: "ICMP"' \
    bad 'ingress: [{ports: [{protocol: ICMP, port: 80}]}]'
expect_fail valid/endport-without-port 'endPort: Invalid value: 90: may not be specified when `port` is not specified' \
    bad 'ingress: [{ports: [{endPort: 90}]}]'
expect_fail valid/endport-below-port 'endPort: Invalid value: 90: must be greater than or equal to `port`' \
    bad 'ingress: [{ports: [{port: 90, endPort: 80}]}]'
expect_fail valid/endport-named 'may not be specified when `port` is non-numeric' \
    bad 'ingress: [{ports: [{port: http, endPort: 80}]}]'
expect_fail valid/port-range 'port: Invalid value: 70000: must be between 1 and 65535' \
    bad 'ingress: [{ports: [{port: 70000}]}]'
expect_fail valid/port-name 'must contain at least one letter' \
    bad 'ingress: [{ports: [{port: "80-80"}]}]'
expect_fail valid/cidr 'ipBlock.cidr: Invalid value: "10.0.0.0/33": not a valid CIDR' \
    bad 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]'
expect_fail valid/except-outside 'except\[0\]: Invalid value: "192.168.0.0/24": must be a strict subset of `cidr`' \
    bad 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/24]}}]}]'
expect_fail valid/except-not-smaller 'must be a strict subset' \
    bad 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]'
expect_fail valid/ipblock-and-selector 'may not specify both ipBlock and another peer' \
    bad 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]'
expect_fail valid/empty-peer 'must specify a peer' bad 'ingress: [{from: [{}]}]'
expect_fail valid/policy-type 'policyTypes\[0\]: Unsupported value: "Sideways"' \
    bad 'policyTypes: [Sideways]'
expect_fail valid/selector 'spec.podSelector.matchLabels' np_apply '
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec: {podSelector: {matchLabels: {"a b": c}}}'

echo "# 4. OpenAPI: explain and strict field validation"
expect_out explain/spec 'podSelector' kc explain networkpolicy.spec
expect_out explain/ipblock 'except' kc explain networkpolicy.spec.ingress.from.ipBlock
expect_fail strict/unknown-field 'unknown field "spec.ingress\[0\].frm"' \
    bad 'ingress: [{frm: []}]'

server_checks
summary
