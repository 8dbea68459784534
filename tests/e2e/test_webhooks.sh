#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_webhooks.sh - issue #17's admission webhooks end to end. `k3c server`
# with its own agent (node "e2e") in a test-made network namespace; the test
# webhook (tests/e2e/webhook_server.c, GnuTLS) packed with its shared
# libraries into an OCI image, pushed to the test registry and run as a pod
# behind a Service; its serving certificate comes from a CA the test makes
# (openssl), which goes into caBundle. Checks: the kinds and their table,
# validation of a bad configuration, a denial with the webhook's message
# (CREATE and UPDATE), a mutation visible on the stored object, warnings
# printed by kubectl, namespaceSelector and objectSelector excluding, a
# server-side dry run (the webhook sees dryRun, nothing is stored), a
# timeout, a webhook reached by URL, failurePolicy Fail and Ignore with the
# webhook scaled to 0, and a deleted configuration no longer enforced.
# Prints the time of each step. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-wh-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
CLUSTER_CIDR=10.96.0.0/16
E2E_NAME=webhooks
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
SERVER_EXTRA_ARGS=(--cni-bridge "k3cwh$$" --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000
    --registry-config "$TMP/registries.yaml")
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools openssl ldd
WEBHOOK_SERVER_BIN=${WEBHOOK_SERVER_BIN:-$REPO/build-test/tests/webhook_server}
if [ ! -x "$WEBHOOK_SERVER_BIN" ]; then
    echo "FAIL: $WEBHOOK_SERVER_BIN not found (build tests/webhook_server or set WEBHOOK_SERVER_BIN)"
    exit 1
fi
URL_PID=
url_stop() {
    if [ -n "$URL_PID" ]; then
        kill "$URL_PID" 2>/dev/null
        wait "$URL_PID" 2>/dev/null
        URL_PID=
    fi
}
trap 'url_stop; pods_cleanup; cleanup' EXIT

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

# The webhook's image: the binary and what ldd lists, one layer.
build_webhook_image() {
    local w=$TMP/whimg lib
    mkdir -p "$w/root/bin" "$w/root/tmp"
    cp "$WEBHOOK_SERVER_BIN" "$w/root/bin/webhook_server"
    for lib in $(ldd "$WEBHOOK_SERVER_BIN" | grep -o '/[^ ]*'); do
        mkdir -p "$w/root$(dirname "$lib")"
        cp -L "$lib" "$w/root$lib"
    done
    tar --sort=name --numeric-owner --owner=0 --group=0 -C "$w/root" -cf "$w/root.tar" . &&
        umoci init --layout "$w/oci" &&
        umoci new --image "$w/oci:test" &&
        umoci raw add-layer --image "$w/oci:test" "$w/root.tar" &&
        umoci config --no-history --image "$w/oci:test" --config.entrypoint /bin/webhook_server &&
        nsenter "--net=/run/netns/$NS" skopeo copy -q --dest-tls-verify=false "oci:$w/oci:test" \
            "docker://$REG/k3c/webhook:test"
}

# A CA and the webhook's serving certificate for the Service's DNS name and
# 127.0.0.1 (the same program outside the cluster, reached by URL).
make_certs() {
    local d=$TMP/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=webhook-test-ca" -keyout "$d/ca.key" -out "$d/ca.crt" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=webhook.wh.svc" -keyout "$d/tls.key" -out "$d/tls.csr" &&
        printf 'subjectAltName=DNS:webhook.wh.svc,IP:127.0.0.1\n' >"$d/ext.cnf" &&
        openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 1 -extfile "$d/ext.cnf" -out "$d/tls.crt"
}

# The webhook Deployment (certificate and key inline in its env).
webhook_deployment() {
    python3 - "$TMP/pki/tls.crt" "$TMP/pki/tls.key" "$REG/k3c/webhook:test" <<'EOF'
import json, sys
cert, key, image = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
print(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "webhook", "namespace": "wh"},
  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "webhook"}},
    "template": {"metadata": {"labels": {"app": "webhook"}},
      "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "webhook", "image": image,
        "args": ["8443"],
        "env": [{"name": "TLS_CERT", "value": cert}, {"name": "TLS_KEY", "value": key},
                {"name": "ASAN_OPTIONS", "value": "detect_leaks=0"}],
        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1}}]}}}}))
EOF
}

CA_B64=
# webhook_config KIND NAME HOOK PATH FAILURE RESOURCES [CLIENT_CONFIG_JSON]
webhook_config() {
    local kind=$1 name=$2 hook=$3 path=$4 failure=$5 resources=$6 cc=${7:-}
    [ -n "$cc" ] || cc="{\"service\": {\"namespace\": \"wh\", \"name\": \"webhook\", \"path\": \"$path\"}, \"caBundle\": \"$CA_B64\"}"
    cat <<EOF
{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "$kind",
 "metadata": {"name": "$name"},
 "webhooks": [{"name": "$hook", "clientConfig": $cc,
   "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
              "resources": [$resources]}],
   "namespaceSelector": {"matchLabels": {"webhook-test": "on"}},
   "objectSelector": {"matchExpressions": [{"key": "webhook-test/skip", "operator": "DoesNotExist"}]},
   "failurePolicy": "$failure", "sideEffects": "None", "timeoutSeconds": 2,
   "admissionReviewVersions": ["v1"]$([ "$kind" = MutatingWebhookConfiguration ] && echo ', "reinvocationPolicy": "IfNeeded"')}]}
EOF
}

# cm NS NAME [LABEL=VALUE...] [-- KUBECTL_FLAGS...]: creates a ConfigMap.
cm() {
    local ns=$1 name=$2 labels="" flags=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        labels="$labels\"${1%%=*}\": \"${1#*=}\", "
        shift
    done
    [ $# -gt 0 ] && shift && flags=("$@")
    kc create "${flags[@]}" -f - <<EOF
{"apiVersion": "v1", "kind": "ConfigMap",
 "metadata": {"name": "$name", "namespace": "$ns", "labels": {${labels%, }}},
 "data": {"k": "v"}}
EOF
}
label_of() { kc get "$1" -n "$2" "$3" -o "jsonpath={.metadata.labels.webhook-test/$4}" 2>/dev/null; }
annotation_of() { kc get "$1" -n "$2" "$3" -o "jsonpath={.metadata.annotations.webhook-test/$4}" 2>/dev/null; }
webhook_ready() {
    [ "$(kc get endpoints -n wh webhook -o 'jsonpath={.subsets[0].addresses[0].ip}' 2>/dev/null)" != "" ]
}
# enforced: a denied object is refused (the caches have the configuration).
enforced() {
    local out
    out=$(cm wt "probe-$RANDOM" webhook-test/deny=probe -- --dry-run=server 2>&1)
    [[ $out == *"denied the request"* ]]
}
mutating_on() {
    local out
    out=$(cm wt "probe-$RANDOM" -- --dry-run=server -o 'jsonpath={.metadata.labels}' 2>&1)
    [[ $out == *mutated* ]]
}
no_webhook_pods() { [ -z "$(kc get pods -n wh -o name 2>/dev/null)" ]; }

echo "# 0. namespace, image, server with its agent, the webhook pod"
t_mark
pods_netns_make "$NS"
pods_images_start "$NS"
if ! build_webhook_image >"$TMP/whimg.log" 2>&1; then
    echo "FAIL: webhook image"
    cat "$TMP/whimg.log"
    exit 1
fi
pods_airgap_install "$TMP/data"
start_server
check node/ready wait_for 60 node_ready e2e
kc create namespace wh >/dev/null
kc create namespace wt >/dev/null
kc label namespace wt webhook-test=on >/dev/null
kc create namespace wt-off >/dev/null
kc create service clusterip webhook -n wh --tcp=443:8443 >/dev/null
if ! make_certs >"$TMP/pki.log" 2>&1; then
    echo "FAIL: certificates"
    cat "$TMP/pki.log"
    exit 1
fi
CA_B64=$(base64 -w0 <"$TMP/pki/ca.crt")
webhook_deployment | kc apply -f - >/dev/null
wait_check webhook/ready 90 webhook_ready
t_say setup

echo "# 1. the kinds"
t_mark
run kc apply -f - <<<"$(webhook_config ValidatingWebhookConfiguration deny deny.webhook-test.k3c.io /validate Fail '"configmaps"')"
check kinds/create-validating [ "$RC" -eq 0 ]
run kc apply -f - <<<"$(webhook_config MutatingWebhookConfiguration mutate mutate.webhook-test.k3c.io /mutate Ignore '"configmaps"')"
check kinds/create-mutating [ "$RC" -eq 0 ]
expect_all kinds/table '^NAME +WEBHOOKS +AGE' '^deny +1 ' -- kc get validatingwebhookconfigurations
expect_out kinds/defaults '^Equivalent \* 443$' kc get mutatingwebhookconfiguration mutate \
    -o 'jsonpath={.webhooks[0].matchPolicy} {.webhooks[0].rules[0].scope} {.webhooks[0].clientConfig.service.port}'
expect_out kinds/explain 'Ignore or Fail' kc explain validatingwebhookconfigurations.webhooks.failurePolicy
expect_fail kinds/invalid-timeout 'webhooks\[0\]\.timeoutSeconds: Invalid value: 31' \
    kc apply -f - <<<"$(webhook_config ValidatingWebhookConfiguration bad bad.webhook-test.k3c.io /validate Fail '"pods"' | sed 's/"timeoutSeconds": 2/"timeoutSeconds": 31/')"
expect_fail kinds/invalid-name 'should be a domain with at least three segments' \
    kc apply -f - <<<"$(webhook_config ValidatingWebhookConfiguration bad short /validate Fail '"pods"')"
wait_check kinds/enforced 30 enforced
wait_check kinds/mutating-on 30 mutating_on
t_say kinds

echo "# 2. deny, mutate, warnings"
t_mark
expect_fail deny/create 'Error from server \(Forbidden\).*admission webhook "deny.webhook-test.k3c.io" denied the request: object carries label webhook-test/deny=yes' \
    cm wt denied webhook-test/deny=yes
expect_fail deny/not-stored 'NotFound|not found' kc get cm -n wt denied
check mutate/create cm wt plain
expect_eq mutate/label-stored yes label_of cm wt plain mutated
expect_eq mutate/annotation-stored false annotation_of cm wt plain dry-run
expect_fail deny/update 'admission webhook "deny.webhook-test.k3c.io" denied the request: object carries label webhook-test/deny=later' \
    kc label cm -n wt plain webhook-test/deny=later
# The validating webhook sees the mutated object (mutating runs first).
expect_out warnings/kubectl 'Warning: webhook-test: CREATE configmaps warned \(mutated=yes\)' \
    cm wt warned webhook-test/warn=1
t_say deny-mutate
# Figures (printed, not asserted): 30 ConfigMap creates from one client
# (one keep-alive connection), through both webhooks and in a namespace
# they skip.
time_creates() {
    "${NETNS_EXEC[@]}" python3 - "$API_URL" "$TMP" "$1" <<'EOF'
import http.client, json, ssl, sys, time
url, tmp, ns = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=tmp + "/ca.crt")
ctx.load_cert_chain(tmp + "/admin.crt", tmp + "/admin.key")
host, port = url[len("https://"):].split(":")
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
t0 = time.monotonic()
for i in range(30):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "timed-%d" % i}, "data": {"k": "v"}})
    c.request("POST", "/api/v1/namespaces/%s/configmaps" % ns, body,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("create %d: HTTP %d" % (i, r.status))
print("%.1f" % ((time.monotonic() - t0) * 1000 / 30))
EOF
}
echo "# figure: ms per create through a mutating and a validating webhook: $(time_creates wt)"
echo "# figure: ms per create without webhooks: $(time_creates wt-off)"

echo "# 2a. two validating webhooks: called in parallel, the first in order answers"
t_mark
webhook_config ValidatingWebhookConfiguration deny-zz-second second.webhook-test.k3c.io /validate Fail '"configmaps"' |
    kc apply -f - >/dev/null
second_on() {
    local pod
    pod=$(kc get pods -n wh -l app=webhook -o 'jsonpath={.items[0].metadata.name}')
    cm wt "probe-second-$RANDOM" -- --dry-run=server >/dev/null 2>&1
    [ "$(kc logs -n wh "$pod" | grep -c '^/validate CREATE configmaps/probe-second-')" -ge 2 ]
}
wait_check parallel/second-on 30 second_on
for i in 1 2 3; do
    expect_fail "parallel/first-denies-$i" 'admission webhook "deny.webhook-test.k3c.io" denied the request' \
        cm wt "both-$i" webhook-test/deny=yes
done
t_mark
cm wt slow-both webhook-test/sleep=1 >/dev/null 2>&1
t_say "a create through a mutating and two validating webhooks that each take 1 s"
kc delete validatingwebhookconfiguration deny-zz-second >/dev/null
t_say parallel

echo "# 2b. reinvocationPolicy IfNeeded: a later webhook changes the object"
t_mark
webhook_config MutatingWebhookConfiguration mutate-zz-extra extra.webhook-test.k3c.io /mutate-extra Ignore '"configmaps"' |
    sed 's/, "reinvocationPolicy": "IfNeeded"//' | kc apply -f - >/dev/null
extra_on() {
    local out
    out=$(cm wt "probe-$RANDOM" -- --dry-run=server -o 'jsonpath={.metadata.labels}' 2>&1)
    [[ $out == *extra* ]]
}
wait_check reinvoke/extra-on 30 extra_on
check reinvoke/create cm wt reinvoked
expect_eq reinvoke/both-labels 'yes yes' kc get cm -n wt reinvoked \
    -o 'jsonpath={.metadata.labels.webhook-test/mutated} {.metadata.labels.webhook-test/extra}'
# calls_of PATH NAME: how many times the webhook pod logged PATH for NAME.
calls_of() {
    local pod
    pod=$(kc get pods -n wh -l app=webhook -o 'jsonpath={.items[0].metadata.name}')
    kc logs -n wh "$pod" | grep -c "^$1 CREATE configmaps/$2 "
}
expect_eq reinvoke/first-called-twice 2 calls_of /mutate reinvoked
expect_eq reinvoke/second-called-once 1 calls_of /mutate-extra reinvoked
kc delete mutatingwebhookconfiguration mutate-zz-extra >/dev/null
t_say reinvocation

echo "# 3. selectors, dry run"
t_mark
check nsselector/other-namespace cm wt-off free webhook-test/deny=yes
expect_eq nsselector/not-mutated "" label_of cm wt-off free mutated
check objselector/skip-label cm wt skipped webhook-test/deny=yes webhook-test/skip=1
expect_out dryrun/mutated-seen '^true$' cm wt dry -- --dry-run=server -o 'jsonpath={.metadata.annotations.webhook-test/dry-run}'
expect_fail dryrun/not-stored 'NotFound|not found' kc get cm -n wt dry
expect_fail dryrun/denied 'denied the request' cm wt drydeny webhook-test/deny=yes -- --dry-run=server
t_say selectors-dryrun

echo "# 4. timeout (timeoutSeconds 2, the webhook sleeps 5 s)"
t_mark
expect_fail timeout/fail-closed 'failed calling webhook "deny.webhook-test.k3c.io"' cm wt slow webhook-test/sleep=5
t_say timeout

echo "# 5. a webhook reached by URL (the same program on the node, verified by caBundle)"
t_mark
URL_PORT=$(free_ports 1)
TLS_CERT=$(cat "$TMP/pki/tls.crt") TLS_KEY=$(cat "$TMP/pki/tls.key") ASAN_OPTIONS=detect_leaks=0 \
    nsenter "--net=/run/netns/$NS" "$WEBHOOK_SERVER_BIN" "$URL_PORT" >"$TMP/url-webhook.log" 2>&1 &
URL_PID=$!
check url/listening wait_for 10 grep -q listening "$TMP/url-webhook.log"
check url/create kc apply -f - <<<"$(webhook_config ValidatingWebhookConfiguration by-url url.webhook-test.k3c.io "" Fail '"secrets"' "{\"url\": \"https://127.0.0.1:$URL_PORT/validate\", \"caBundle\": \"$CA_B64\"}")"
url_enforced() {
    local out
    out=$(kc create -f - 2>&1 <<EOF
{"apiVersion": "v1", "kind": "Secret",
 "metadata": {"name": "probe-$RANDOM", "namespace": "wt", "labels": {"webhook-test/deny": "url"}}}
EOF
    )
    [[ $out == *'admission webhook "url.webhook-test.k3c.io" denied the request: object carries label webhook-test/deny=url'* ]]
}
wait_check url/deny 30 url_enforced
kc delete validatingwebhookconfiguration by-url >/dev/null
url_stop
t_say url

echo "# 6. the webhook down: failurePolicy Fail, then Ignore"
t_mark
kc scale deployment -n wh webhook --replicas=0 >/dev/null
wait_check down/no-pods 60 no_webhook_pods
expect_fail down/fail-closed 'Internal error occurred: failed calling webhook "deny.webhook-test.k3c.io"' cm wt while-down
kc patch validatingwebhookconfiguration deny --type=json \
    -p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]' >/dev/null
ignored() { cm wt "open-$RANDOM" >/dev/null 2>&1; }
wait_check down/ignore-fails-open 30 ignored
t_say down

echo "# 7. a deleted configuration is no longer enforced"
t_mark
kc scale deployment -n wh webhook --replicas=1 >/dev/null
kc patch validatingwebhookconfiguration deny --type=json \
    -p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]' >/dev/null
wait_check restore/ready 90 webhook_ready
wait_check restore/enforced 30 enforced
check delete/config kc delete validatingwebhookconfiguration deny
not_enforced() { cm wt "after-$RANDOM" webhook-test/deny=yes >/dev/null 2>&1; }
wait_check delete/not-enforced 30 not_enforced
t_say delete

echo "# 8. subresources: CONNECT pods/exec, deployments/scale"
t_mark
kc apply -f - >/dev/null <<EOF
{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
 "metadata": {"name": "subresources"},
 "webhooks": [{"name": "sub.webhook-test.k3c.io",
   "clientConfig": {"service": {"namespace": "wh", "name": "webhook", "path": "/validate"},
                    "caBundle": "$CA_B64"},
   "rules": [{"operations": ["CONNECT"], "apiGroups": [""], "apiVersions": ["v1"],
              "resources": ["pods/exec"]},
             {"operations": ["UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
              "resources": ["deployments/scale"]},
             {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
              "resources": ["pods/eviction"]}],
   "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"]}]}
EOF
webhook_pod() { kc get pods -n wh -l app=webhook -o 'jsonpath={.items[0].metadata.name}'; }
exec_denied() {
    local out
    out=$(kc exec -n wh "$(webhook_pod)" -- webhook-test-deny 2>&1)
    [[ $out == *'admission webhook "sub.webhook-test.k3c.io" denied the request: command webhook-test-deny is not allowed'* ]]
}
wait_check connect/exec-denied 30 exec_denied
# An allowed exec runs: the webhook binary without arguments prints its usage.
expect_fail connect/exec-allowed 'usage: TLS_CERT' kc exec -n wh "$(webhook_pod)" -- /bin/webhook_server
expect_fail scale/denied 'admission webhook "sub.webhook-test.k3c.io" denied the request: 13 replicas are unlucky' \
    kc scale deployment -n wh webhook --replicas=13
expect_eq scale/unchanged 1 kc get deployment -n wh webhook -o 'jsonpath={.spec.replicas}'
evict() {
    local code
    code=$(acurl -o "$TMP/evict.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"apiVersion\": \"policy/v1\", \"kind\": \"Eviction\", \"metadata\": {\"name\": \"$1\", \"namespace\": \"wh\"}}" \
        "$API_URL/api/v1/namespaces/wh/pods/$1/eviction")
    cat "$TMP/evict.body"
    echo
    echo "HTTP $code"
}
expect_all eviction/denied '^HTTP 403$' 'sub.webhook-test.k3c.io.* denied the request: evictions are not allowed by webhook-test' \
    -- evict "$(webhook_pod)"
check eviction/pod-stays webhook_ready
kc delete validatingwebhookconfiguration subresources >/dev/null
t_say subresources

server_checks
summary
