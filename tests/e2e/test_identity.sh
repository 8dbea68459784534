#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_identity.sh - identity from inside pods and for new users (issue #15,
# docs/auth.md): a busybox pod calls the API at https://10.43.0.1 (the
# `kubernetes` Service) with its projected token and is confined by RBAC
# (200 for what a RoleBinding allows, 403 for the rest); the kubelet writes
# a fresh token into the running pod before the old one ages out (upstream's
# token manager; K3C_KUBELET_TOKEN_MAX_AGE_S shortens its 24 h to seconds);
# the official Python client (Debian's python3-kubernetes, packed into an
# image by scripts/build-python-image) runs load_incluster_config() in a
# real pod, lists pods and gets 403 for secrets. One server with its own agent in a network
# namespace the test makes (lib_pods.sh). Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-ident-$$
NS2=k3c-e2e-ident2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.253.1
NS2_IP=192.168.253.2
E2E_NAME=identity
# --node-ip: the `kubernetes` endpoint pods are sent to (a loopback node IP
# is unreachable from a pod)
SERVER_EXTRA_ARGS=(--secrets-encryption --bind-address 0.0.0.0 --node-ip "$NS_IP" --tls-san "$NS_IP"
    --cni-bridge k3cid$$ --cluster-cidr 10.87.0.0/16 --pod-cidr 10.87.1.0/24)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools
T0=$SECONDS

echo "# 0. namespaces, images, server"
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS"
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
pods_airgap_install "$TMP/data"
# start_server drops K3C_* from the environment: the kubelet's token max age
# (upstream's 24 h) goes through the command prefix
NETNS_EXEC=(env K3C_KUBELET_TOKEN_MAX_AGE_S=15 K3C_CERT_CHECK_INTERVAL_S=3 "${NETNS_EXEC[@]}")
start_server
NETNS_EXEC=("${NETNS_EXEC[@]:3}")
check server/node-ready wait_for 60 node_ready e2e
expect_out server/kubernetes-endpoint "^$NS_IP:" kc get endpoints kubernetes -o 'jsonpath={.subsets[0].addresses[0].ip}:'

SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount
echo "# 1. a pod calls the API with its token"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: caller}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: k3c/busybox:test, command: [sleep, "3600"]}
EOF2
check caller/running wait_for 60 pod_phase_is caller Running
# busybox wget has no CA option: --no-check-certificate (the Python client
# below verifies the server with the pod's ca.crt); no -T either: Debian's
# busybox 1.35 wget crashes with it
in_pod_get() {
    kc exec caller -- sh -c "wget -q -O- --no-check-certificate \
        --header \"Authorization: Bearer \$(cat $SA_DIR/token)\" https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT$1 2>&1"
}
expect_out pod/version '"gitVersion"' in_pod_get /version
expect_rc pod/pods-forbidden 1 'HTTP/1.1 403' in_pod_get /api/v1/namespaces/default/pods
check pod/bind kc create rolebinding caller-reads --clusterrole=view --serviceaccount=default:default
pod_lists_pods() { in_pod_get /api/v1/namespaces/default/pods | grep -q '"kind":"PodList"'; }
wait_check pod/pods-allowed 20 pod_lists_pods
expect_rc pod/secrets-forbidden 1 'HTTP/1.1 403' in_pod_get /api/v1/namespaces/default/secrets
expect_rc pod/other-namespace-forbidden 1 'HTTP/1.1 403' in_pod_get /api/v1/namespaces/kube-system/pods

echo "# 2. the kubelet refreshes the token in the running pod"
pod_token() { kc exec caller -- cat $SA_DIR/token 2>/dev/null; }
TOKEN1=$(pod_token)
token_changed() { local t; t=$(pod_token) && [ -n "$t" ] && [ "$t" != "$TOKEN1" ]; }
wait_check refresh/new-token 60 token_changed
wait_check refresh/new-token-works 20 pod_lists_pods
expect_out refresh/atomic-writer ' token -> \.\.data/token$' kc exec caller -- ls -l $SA_DIR/

echo "# 3. the official Python client in a real pod (image built from the host's Debian packages)"
t=$SECONDS
if nsenter "--net=/run/netns/$NS" "$REPO/scripts/build-python-image" "$TMP/pyimg" "$REG" >"$TMP/pyimg.log" 2>&1; then
    echo "# python image: $(du -sh "$TMP/pyimg/oci" | cut -f1) compressed, built and pushed in $((SECONDS - t)) s"
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: ServiceAccount
metadata: {name: pyclient}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-lister}
rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pyclient-pod-lister}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-lister}
subjects: [{kind: ServiceAccount, name: pyclient, namespace: default}]
---
apiVersion: v1
kind: Pod
metadata: {name: pyclient}
spec:
  nodeName: e2e
  serviceAccountName: pyclient
  restartPolicy: Never
  containers:
  - name: main
    image: $REG/k3c/python-k8s:test
    command:
    - python3
    - -c
    - |
      from kubernetes import client, config
      from kubernetes.client.rest import ApiException
      config.load_incluster_config()
      ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
      v1 = client.CoreV1Api()
      print("pods:", " ".join(p.metadata.name for p in v1.list_namespaced_pod(ns).items))
      try:
          v1.list_namespaced_secret(ns)
          print("secrets: allowed")
      except ApiException as e:
          print("secrets:", e.status)
EOF2
    wait_check python/pod-succeeded 90 pod_phase_is pyclient Succeeded
    expect_all python/in-pod '^pods: .*caller' '^pods: .*pyclient' '^secrets: 403$' -- kc logs pyclient
else
    RC=$?
    if [ "$RC" -eq 77 ]; then echo "# skipped the Python pod: $(tail -n1 "$TMP/pyimg.log")"; else
        fail python/image "build-python-image exit $RC" "$(tail -n5 "$TMP/pyimg.log")"
    fi
fi

echo "# 4. CertificateSigningRequest: a new user with a client certificate"
new_csr() { # NAME CN ORG [SIGNER [EXPIRATION]]
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/$1.key" \
        -subj "/CN=$2/O=$3" -out "$TMP/$1.csr" 2>/dev/null || return 1
    kc apply -f - <<EOF2
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $1}
spec:
  request: $(base64 -w0 <"$TMP/$1.csr")
  signerName: ${4:-kubernetes.io/kube-apiserver-client}
  expirationSeconds: ${5:-86400}
  usages: [client auth, digital signature]
  username: spoofed
EOF2
}
check csr/create new_csr carol carol devs
expect_eq csr/requestor-from-auth 'system:admin' kc get csr carol -o 'jsonpath={.spec.username}'
expect_all csr/table '^NAME +AGE +SIGNERNAME +REQUESTOR +REQUESTEDDURATION +CONDITION$' \
    '^carol +[0-9a-z]+ +kubernetes.io/kube-apiserver-client +system:admin +24h +Pending$' -- kc get csr carol
as_viewer() { kc --kubeconfig=/dev/null --server="$API_URL" --certificate-authority="$TMP/ca.crt" \
    --token=e2e-viewer-token "$@"; }
kc apply -f - >/dev/null <<EOF2
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-approval}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests, certificatesigningrequests/approval, certificatesigningrequests/status]
  verbs: [get, list, update, patch]
EOF2
kc create clusterrolebinding viewer-csr-approval --clusterrole=csr-approval --user=e2e-viewer >/dev/null
expect_fail csr/approve-needs-signer 'user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"' \
    as_viewer certificate approve carol
kc apply -f - >/dev/null <<EOF2
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-signer-approve}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [signers]
  resourceNames: [kubernetes.io/kube-apiserver-client]
  verbs: [approve]
EOF2
kc create clusterrolebinding viewer-csr-signer --clusterrole=csr-signer-approve --user=e2e-viewer >/dev/null
csr_issued() { [ -n "$(kc get csr "$1" -o 'jsonpath={.status.certificate}' 2>/dev/null)" ]; }
approve_carol() { as_viewer certificate approve carol >/dev/null 2>&1 && csr_issued carol; }
wait_check csr/approved-and-issued 20 approve_carol
expect_out csr/table-issued ' Approved,Issued$' kc get csr carol --no-headers
kc get csr carol -o 'jsonpath={.status.certificate}' | base64 -d >"$TMP/carol.crt"
expect_all csr/certificate 'subject=CN ?= ?carol, O ?= ?devs|subject=O ?= ?devs, CN ?= ?carol' 'TLS Web Client Authentication' \
    -- openssl x509 -in "$TMP/carol.crt" -noout -subject -ext extendedKeyUsage
cert_lifetime_ok() { # issued for expirationSeconds (24 h), not the default year
    local end
    end=$(date -d "$(openssl x509 -in "$TMP/carol.crt" -noout -enddate | cut -d= -f2)" +%s) &&
        [ "$end" -gt "$(($(date +%s) + 23 * 3600))" ] && [ "$end" -lt "$(($(date +%s) + 25 * 3600))" ]
}
check csr/expiration-seconds cert_lifetime_ok
as_carol() { kc --kubeconfig=/dev/null --server="$API_URL" --certificate-authority="$TMP/ca.crt" \
    --client-certificate="$TMP/carol.crt" --client-key="$TMP/carol.key" "$@"; }
expect_all csr/cert-authenticates '^Username +carol$' '^Groups +\[devs system:authenticated\]$' -- as_carol auth whoami
expect_fail csr/cert-user-rbac 'User "carol" cannot list resource "secrets"' as_carol get secrets
check csr/deny-create new_csr dave dave devs
check csr/deny kc certificate deny dave
expect_eq csr/denied-not-issued 'Denied:' kc get csr dave -o 'jsonpath={.status.conditions[0].type}:{.status.certificate}'
approve_raw() { # kubectl refuses to approve a denied request itself: PUT /approval directly
    kc get csr "$1" -o json | python3 -c 'import json,sys; o=json.load(sys.stdin)
o["status"]["conditions"].append({"type":"Approved","status":"True","reason":"Test","message":"x"})
print(json.dumps(o))' | kc replace --raw "/apis/certificates.k8s.io/v1/certificatesigningrequests/$1/approval" -f -
}
expect_fail csr/approve-after-deny 'Approved and Denied conditions are mutually exclusive' approve_raw dave
check csr/kubelet-bad-cn new_csr badnode mallory system:nodes kubernetes.io/kube-apiserver-client-kubelet
check csr/kubelet-approve kc certificate approve badnode
expect_out csr/kubelet-bad-cn-failed '^Failed SignerValidationFailure subject CN must begin with "system:node:"$' \
    kc get csr badnode -o 'jsonpath={.status.conditions[1].type} {.status.conditions[1].reason} {.status.conditions[1].message}'
expect_fail csr/short-expiration 'may not specify a duration less than 600 seconds' \
    new_csr short short devs kubernetes.io/kube-apiserver-client 300
approve_old() { # approved "in 2020": the csrcleaner deletes it (1 h after approval)
    kc get csr old -o json | python3 -c 'import json,sys; o=json.load(sys.stdin)
o.setdefault("status",{}).setdefault("conditions",[]).append({"type":"Approved","status":"True",
    "reason":"Test","message":"x","lastUpdateTime":"2020-01-01T00:00:00Z"})
print(json.dumps(o))' | kc replace --raw "/apis/certificates.k8s.io/v1/certificatesigningrequests/old/approval" -f -
}
csr_gone() { ! kc get csr old >/dev/null 2>&1; }
check csr/cleaner-create new_csr old old devs
check csr/cleaner-approve-long-ago approve_old
wait_check csr/cleaner-deleted 30 csr_gone
expect_out csr/cleaner-keeps-recent '^carol ' kc get csr --no-headers
bad_request() {
    kc apply -f - <<EOF2
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: junk}
spec: {request: $(printf 'not a csr' | base64 -w0), signerName: example.com/x, usages: [client auth]}
EOF2
}
expect_fail csr/bad-request 'PEM block type must be CERTIFICATE REQUEST' bad_request
expect_fail csr/spec-immutable 'updates to spec are forbidden' \
    kc patch csr carol --type=merge -p '{"spec":{"signerName":"example.com/other"}}'
expect_fail csr/sign-needs-permission 'user not permitted to sign requests' \
    as_viewer patch csr dave --subresource=status --type=merge -p '{"status":{"certificate":"eA=="}}'

echo "# 5. --secrets-encryption: Secrets encrypted at rest in etcd"
ectl() {
    "${NETNS_EXEC[@]}" env ETCDCTL_API=3 timeout -k 5 "$CMD_TIMEOUT_S" etcdctl \
        --endpoints "https://127.0.0.1:$ETCD_CLIENT_PORT" --cacert "$TMP/data/server/tls/server-ca.crt" \
        --cert "$TMP/data/server/tls/etcd/client.crt" --key "$TMP/data/server/tls/etcd/client.key" "$@"
}
stored_head() { ectl get --print-value-only "$1" | head -c "$2"; }
stored_text() { ectl get --print-value-only "$1" | tr -d '\0'; } # ciphertext may hold NULs
secret_value() { kc get secret sealed -o 'jsonpath={.data.password}' | base64 -d; }
check enc/create kc create secret generic sealed --from-literal=password=plaintext-s3cret-$$
if command -v etcdctl >/dev/null; then
    expect_eq enc/stored-encrypted 'k8s:enc:aescbc:v1:aescbckey:' stored_head /registry/secrets/default/sealed 28
    expect_not enc/no-plaintext "plaintext-s3cret-$$|$(printf 'plaintext-s3cret-%s' $$ | base64)" \
        stored_text /registry/secrets/default/sealed
    expect_eq enc/configmap-not-encrypted '{' stored_head /registry/configmaps/default/kube-root-ca.crt 1
else
    echo "# skipped the etcd checks: etcdctl (Debian etcd-client) not found"
fi
expect_eq enc/read-back "plaintext-s3cret-$$" secret_value
expect_out enc/listed '^sealed ' kc get secrets --no-headers
expect_all enc/status '^Encryption Status: Enabled$' '^ \* +AES-CBC +aescbckey$' -- \
    "$K3C_BIN" secrets-encrypt status --config "$TMP/empty.yaml" --data-dir "$TMP/data" --secrets-encryption
expect_out enc/key-file '"aescbc"' cat "$TMP/data/server/tls/encryption-config.json"
expect_eq enc/key-file-mode 600 stat -c %a "$TMP/data/server/tls/encryption-config.json"

echo "# 5b. secrets-encrypt rotate-keys: a new key, every Secret re-encrypted online"
ROT_N=30
for i in $(seq 1 "$ROT_N"); do
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: rot-%s}\nstringData: {v: rot-value-%s-%s}\n' "$i" "$i" $$
done >"$TMP/rot.yaml"
check rotate/create-secrets kc apply -f "$TMP/rot.yaml"
ENC_FILE=$TMP/data/server/tls/encryption-config.json
write_key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][0]["providers"][0]["aescbc"]["keys"][0]["name"])' "$ENC_FILE"; }
key_names() { python3 -c 'import json,sys; print(" ".join(k["name"] for k in json.load(open(sys.argv[1]))["resources"][0]["providers"][0]["aescbc"]["keys"]))' "$ENC_FILE"; }
rotate_keys() {
    "${NETNS_EXEC[@]}" timeout -k 5 120 "$K3C_BIN" secrets-encrypt rotate-keys --config "$TMP/empty.yaml" \
        --data-dir "$TMP/data" --secrets-encryption --etcd-client-port "$ETCD_CLIENT_PORT"
}
# every Secret in etcd under key $1's prefix, none with a value in the clear
all_under_key() {
    ectl get --prefix /registry/secrets/ -w json | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
want = ("k8s:enc:aescbc:v1:" + sys.argv[1] + ":").encode()
vals = {base64.b64decode(k["key"]).decode(): base64.b64decode(k["value"]) for k in kvs}
bad = [k for k, v in vals.items() if not v.startswith(want)]
plain = [k for k, v in vals.items() if b"rot-value-" in v]
print(len(vals), "secrets; not under the key:", bad[:3], "in the clear:", plain[:3])
sys.exit(0 if len(vals) >= int(sys.argv[2]) and not bad and not plain else 1)' "$1" "$ROT_N"
}
all_readable() {
    kc get secrets -o json | python3 -c '
import base64, json, sys
items = {i["metadata"]["name"]: i.get("data", {}) for i in json.load(sys.stdin)["items"]}
n, pid = int(sys.argv[1]), sys.argv[2]
ok = all(base64.b64decode(items.get("rot-%d" % i, {}).get("v", "")).decode() == "rot-value-%d-%s" % (i, pid)
         for i in range(1, n + 1))
sys.exit(0 if ok else 1)' "$ROT_N" $$
}
KEY0=$(write_key)
for round in 1 2; do
    t=$SECONDS
    expect_out "rotate/round$round" '^rotated to key aescbckey-[0-9TZ-]+: 1 server\(s\) loaded it' rotate_keys
    echo "# rotation $round of $ROT_N+ Secrets: $((SECONDS - t)) s ($(grep -o 'loaded it in [0-9]* ms, [0-9]* Secret(s) re-encrypted in [0-9]* ms' <<<"$OUT"))"
    KEY=$(write_key)
    expect_out "rotate/round$round-new-key" "^aescbckey-.* $KEY0\$" key_names
    if command -v etcdctl >/dev/null; then
        expect_out "rotate/round$round-etcd" ' not under the key: \[\] in the clear: \[\]' all_under_key "$KEY"
    fi
    check "rotate/round$round-readable" all_readable
    expect_eq "rotate/round$round-sealed-readable" "plaintext-s3cret-$$" secret_value
    expect_all "rotate/round$round-status" '^Encryption Status: Enabled$' '^Current Rotation Stage: reencrypt_finished$' \
        "^ \\* +AES-CBC +$KEY\$" "^   +AES-CBC +$KEY0\$" -- \
        "$K3C_BIN" secrets-encrypt status --config "$TMP/empty.yaml" --data-dir "$TMP/data" --secrets-encryption
    KEY0=$KEY
done
expect_out rotate/server-reloaded 'keys reloaded from etcd, writing with aescbckey-' cat "$TMP/k3c.log"
check rotate/new-secret kc create secret generic after-rotation --from-literal=v=x
if command -v etcdctl >/dev/null; then
    expect_eq rotate/server-writes-new-key "k8s:enc:aescbc:v1:$KEY:" stored_head /registry/secrets/default/after-rotation $((19 + ${#KEY}))
fi
expect_fail rotate/needs-encryption 'secrets encryption is disabled' \
    "${NETNS_EXEC[@]}" "$K3C_BIN" secrets-encrypt rotate-keys --config "$TMP/empty.yaml" --data-dir "$TMP/data"

echo "# 6. canonical quantities, as kube-apiserver returns them"
kc apply -f - >/dev/null <<EOF2
apiVersion: apps/v1
kind: Deployment
metadata: {name: quant}
spec:
  replicas: 0
  selector: {matchLabels: {app: quant}}
  template:
    metadata: {labels: {app: quant}}
    spec:
      containers:
      - name: main
        image: k3c/busybox:test
        resources:
          requests: {cpu: 0.5, memory: 1024Mi}
          limits: {cpu: "2000m", memory: 1.5Gi, ephemeral-storage: 1000}
EOF2
expect_eq quantity/requests '500m 1Gi' kc get deploy quant -o \
    'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].resources.requests.memory}'
expect_eq quantity/limits '2 1536Mi 1k' kc get deploy quant -o \
    'jsonpath={.spec.template.spec.containers[0].resources.limits.cpu} {.spec.template.spec.containers[0].resources.limits.memory} {.spec.template.spec.containers[0].resources.limits.ephemeral-storage}'
check quantity/patch kc patch deploy quant \
    -p '{"spec":{"template":{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":0.25}}}]}}}}'
expect_eq quantity/patched '250m' kc get deploy quant -o 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}'
node_pods_is_string() {
    kc get node e2e -o json | python3 -c 'import json,sys; c=json.load(sys.stdin)["status"]["capacity"]
sys.exit(0 if isinstance(c["pods"], str) and isinstance(c["cpu"], str) else 1)'
}
wait_check quantity/node-capacity-strings 30 node_pods_is_string

echo "# 7. the review kinds in discovery: kubectl create -f works"
expect_all discovery/authorization '^selfsubjectaccessreviews +authorization.k8s.io/v1 +false +SelfSubjectAccessReview$' \
    '^localsubjectaccessreviews +authorization.k8s.io/v1 +true +LocalSubjectAccessReview$' \
    '^subjectaccessreviews ' '^selfsubjectrulesreviews ' \
    -- kc api-resources --no-headers --api-group=authorization.k8s.io
expect_all discovery/authentication '^tokenreviews +authentication.k8s.io/v1 +false +TokenReview +create *$' \
    '^selfsubjectreviews +authentication.k8s.io/v1 +false +SelfSubjectReview +create *$' \
    -- kc api-resources --no-headers -o wide --api-group=authentication.k8s.io
raw_discovery() { kc get --raw /api/v1 && kc get --raw /apis/certificates.k8s.io/v1; }
expect_all discovery/subresources '"serviceaccounts/token"' '"certificatesigningrequests/approval"' -- raw_discovery
ssar() {
    # --validate=false: kubectl's validator wants a PATCH operation for the
    # kind in /openapi/v3 (a review has none) and then falls back to
    # /openapi/v2, which k3c does not serve (docs/auth.md)
    kc create --validate=false -o 'jsonpath={.status.allowed}' -f - <<EOF2
apiVersion: authorization.k8s.io/v1
kind: SelfSubjectAccessReview
spec: {resourceAttributes: {verb: delete, resource: nodes}}
EOF2
}
expect_eq discovery/create-ssar true ssar
expect_all discovery/explain '^KIND: +SelfSubjectAccessReview$' '^FIELD: resourceAttributes <ResourceAttributes>$' \
    -- kc explain selfsubjectaccessreview.spec.resourceAttributes
expect_out discovery/explain-tokenreview '^FIELD: user <UserInfo>$' kc explain tokenreview.status.user

echo "# 8. Impersonate-Extra-* and Impersonate-Uid"
as_viewer_raw() { # PATH, then curl -H arguments
    local path=$1
    shift
    "${NETNS_EXEC[@]}" curl -sS --max-time 20 --cacert "$TMP/ca.crt" -H "Authorization: Bearer e2e-viewer-token" \
        -H 'Content-Type: application/json' "$@" -X POST \
        -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' "$API_URL$path"
}
whoami_extra() { as_viewer_raw /apis/authentication.k8s.io/v1/selfsubjectreviews -H 'Impersonate-User: erin' \
    -H 'Impersonate-Uid: u-123' -H 'Impersonate-Extra-Scopes: view' -H 'Impersonate-Extra-Scopes: edit' \
    -H 'Impersonate-Extra-acme.com%2Fproject: p1'; }
expect_out impersonate/extra-forbidden 'cannot impersonate resource ..users' whoami_extra
kc apply -f - >/dev/null <<EOF2
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-erin}
rules:
- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [erin]}
- {apiGroups: [authentication.k8s.io], resources: [uids], verbs: [impersonate]}
- {apiGroups: [authentication.k8s.io], resources: [userextras/scopes], verbs: [impersonate], resourceNames: [view, edit]}
EOF2
kc create clusterrolebinding viewer-impersonate-erin --clusterrole=impersonate-erin --user=e2e-viewer >/dev/null
extra_needs_key() { whoami_extra | grep -q 'cannot impersonate resource ..userextras/acme.com/project'; }
wait_check impersonate/extra-key-checked 20 extra_needs_key
kc patch clusterrole impersonate-erin --type=json -p '[{"op":"add","path":"/rules/-","value":{"apiGroups":["authentication.k8s.io"],"resources":["userextras/acme.com/project"],"verbs":["impersonate"]}}]' >/dev/null
extra_allowed() { whoami_extra | python3 -c 'import json,sys; u=json.load(sys.stdin)["status"]["userInfo"]
sys.exit(0 if u["username"]=="erin" and u["uid"]=="u-123" and u["extra"]=={"scopes":["view","edit"],"acme.com/project":["p1"]} else 1)'; }
wait_check impersonate/extra-and-uid 20 extra_allowed
expect_out impersonate/extra-needs-user 'without impersonating a user' \
    as_viewer_raw /apis/authentication.k8s.io/v1/selfsubjectreviews -H 'Impersonate-Extra-Scopes: view'

echo "# 9. legacy service-account token Secrets (upstream's token controller)"
kc create serviceaccount legacy-sa >/dev/null
legacy_secret() { # NAME SA
    kc apply -f - <<EOF2
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: $1
  annotations: {kubernetes.io/service-account.name: $2}
EOF2
}
check legacy/create legacy_secret legacy-tok legacy-sa
legacy_field() { kc get secret legacy-tok -o "jsonpath={.data.$1}" | base64 -d; }
legacy_filled() { [ -n "$(legacy_field token)" ]; }
wait_check legacy/token-filled 30 legacy_filled
LEGACY_TOKEN=$(legacy_field token)
legacy_claims() {
    python3 -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]; c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(c["iss"], c["sub"], c["kubernetes.io/serviceaccount/secret.name"],
      c["kubernetes.io/serviceaccount/service-account.name"], "exp" in c)' "$LEGACY_TOKEN"
}
expect_eq legacy/claims 'kubernetes/serviceaccount system:serviceaccount:default:legacy-sa legacy-tok legacy-sa False' legacy_claims
expect_eq legacy/namespace default legacy_field namespace
expect_eq legacy/ca-crt "$(cat "$TMP/ca.crt")" legacy_field 'ca\.crt'
expect_eq legacy/uid-annotation "$(kc get sa legacy-sa -o 'jsonpath={.metadata.uid}')" \
    kc get secret legacy-tok -o 'jsonpath={.metadata.annotations.kubernetes\.io/service-account\.uid}'
as_legacy() { kc --kubeconfig=/dev/null --server="$API_URL" --certificate-authority="$TMP/ca.crt" \
    --token="$LEGACY_TOKEN" "$@"; }
expect_out legacy/whoami 'system:serviceaccount:default:legacy-sa' as_legacy auth whoami
expect_fail legacy/rbac-confines 'User "system:serviceaccount:default:legacy-sa" cannot list resource "secrets"' \
    as_legacy get secrets
legacy_review() {
    kc create --validate=false -o 'jsonpath={.status.authenticated} {.status.user.username}' -f - <<EOF2
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "$LEGACY_TOKEN"}
EOF2
}
expect_eq legacy/tokenreview 'true system:serviceaccount:default:legacy-sa' legacy_review
check legacy/missing-sa-create legacy_secret legacy-orphan no-such-sa
orphan_gone() { ! kc get secret legacy-orphan >/dev/null 2>&1; }
wait_check legacy/missing-sa-deleted 30 orphan_gone
check legacy/delete-sa kc delete serviceaccount legacy-sa
legacy_gone() { ! kc get secret legacy-tok >/dev/null 2>&1; }
wait_check legacy/secret-deleted-with-sa 30 legacy_gone
expect_fail legacy/revoked 'Unauthorized|must be logged in' as_legacy auth whoami

echo "# 10. certificates: a leaf within 120 days of expiry gets a Warning Event on the Node"
TLS_DIR=$TMP/data/server/tls
short_admin_cert() { # the admin leaf again, same key and CA, valid 30 days
    openssl x509 -x509toreq -in "$TLS_DIR/client-admin.crt" -signkey "$TLS_DIR/client-admin.key" \
        -out "$TMP/admin-renew.csr" 2>/dev/null &&
        printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$TMP/admin-ext.cnf" &&
        openssl x509 -req -in "$TMP/admin-renew.csr" -CA "$TLS_DIR/client-ca.crt" -CAkey "$TLS_DIR/client-ca.key" \
            -days 30 -set_serial "$$" -extfile "$TMP/admin-ext.cnf" -out "$TMP/admin-short.crt" 2>/dev/null &&
        cp "$TMP/admin-short.crt" "$TLS_DIR/client-admin.crt"
}
check cert/short-leaf short_admin_cert
expect_out cert/check-renewed-next-start 'client-admin.crt.*renewed at the next start' \
    "$K3C_BIN" certificate check --data-dir "$TMP/data"
cert_event() {
    kc get events -o json | python3 -c 'import json, sys
ok = [e for e in json.load(sys.stdin)["items"] if e.get("reason") == "CertificateExpirationWarning"
      and e.get("type") == "Warning" and e["involvedObject"].get("kind") == "Node"
      and e["involvedObject"].get("name") == "e2e"
      and "server/tls/client-admin.crt: certificate system:admin will expire at" in e.get("message", "")]
sys.exit(0 if ok else 1)'
}
wait_check cert/expiration-warning-event 40 cert_event

echo "# ran $((SECONDS - T0)) s"
server_checks
summary
