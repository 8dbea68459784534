#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_identity_ha.sh - `k3c secrets-encrypt rotate-keys` in an HA cluster
# (issue #15, docs/auth.md "Key rotation"): two `k3c server`s with embedded
# etcd and --secrets-encryption, each in its own network namespace on one
# bridged LAN (lib_lan.sh), no pods. polynode-1 starts the cluster,
# polynode-2 joins it. Secrets written through both servers; rotate-keys on
# polynode-1; polynode-2 reloads the new key without a restart (its
# encryption-config.json, its log, the key it reports), etcdctl shows every
# Secret under the new key's prefix, both servers read every Secret, a
# Secret written through polynode-2 is sealed with the new key; a second
# rotation on polynode-2. Then certificates: polynode-2's admin leaf
# re-signed to expire in 30 days gets a CertificateExpirationWarning Event
# on its Node, and is renewed (a year) when polynode-2 restarts. Needs root.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=identity-ha
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_lan.sh
. "$HERE/lib_lan.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (network namespaces)"
    exit 77
fi
for t in ip etcd etcdctl; do
    if ! command -v "$t" >/dev/null; then
        echo "SKIP: $t not found"
        exit 77
    fi
done

declare -A PID=() FLAGS=()
# the certificate monitor's hour, shortened (the servers inherit it)
export K3C_CERT_CHECK_INTERVAL_S=3
declare -A IP=([polynode-1]=192.168.20.221 [polynode-2]=192.168.20.222)
ha_cleanup() {
    local n
    for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
    for n in "${!PID[@]}"; do stop_pid "${PID[$n]}" 10 >/dev/null 2>&1; done
    lan_cleanup
    cleanup
}
trap ha_cleanup EXIT
T0=$SECONDS

server_start() {
    local name=$1
    shift
    FLAGS[$name]="$*"
    ip netns exec "${LAN_NS_OF[$name]}" env -u K3C_CONFIG "$K3C_BIN" server --node-name "$name" \
        --data-dir "$TMP/$name" --write-kubeconfig "$TMP/$name.yaml" --config "$TMP/empty.yaml" \
        --disable-pods --secrets-encryption "$@" </dev/null >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
}
host_ready() { grep -q "k3c server ready" "$TMP/$1.log" 2>/dev/null && [ -s "$TMP/$1.yaml" ]; }
kh() {
    local name=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" ip netns exec "${LAN_NS_OF[$name]}" "$KUBECTL" \
        --kubeconfig "$TMP/$name.yaml" --request-timeout=10s "$@"
}
ectl() {
    local tls=$TMP/polynode-1/server/tls
    timeout -k 5 30 ip netns exec "${LAN_NS_OF[polynode-1]}" etcdctl --endpoints "https://127.0.0.1:2379" \
        --cacert "$tls/server-ca.crt" --cert "$tls/etcd/client.crt" --key "$tls/etcd/client.key" \
        --dial-timeout 3s --command-timeout 5s "$@"
}
reported_keys() {
    echo "$(ectl get --print-value-only /k3c/secrets-encryption/servers/polynode-1 | head -n1)" \
        "$(ectl get --print-value-only /k3c/secrets-encryption/servers/polynode-2 | head -n1)"
}
stored_head() { ectl get --print-value-only "$1" | head -c "$2"; }
rotate_on() {
    timeout -k 5 120 ip netns exec "${LAN_NS_OF[$1]}" "$K3C_BIN" secrets-encrypt rotate-keys \
        --config "$TMP/empty.yaml" --data-dir "$TMP/$1" --secrets-encryption
}
write_key() { # NAME: the key the server's file writes with
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][0]["providers"][0]["aescbc"]["keys"][0]["name"])' \
        "$TMP/$1/server/tls/encryption-config.json"
}
has_write_key() { [ "$(write_key "$1")" = "$2" ]; }
all_under_key() {
    ectl get --prefix /registry/secrets/default/ -w json | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
want = ("k8s:enc:aescbc:v1:" + sys.argv[1] + ":").encode()
vals = {base64.b64decode(k["key"]).decode(): base64.b64decode(k["value"]) for k in kvs}
bad = [k for k, v in vals.items() if not v.startswith(want)]
plain = [k for k, v in vals.items() if b"ha-value-" in v]
print(len(vals), "secrets; not under the key:", bad[:3], "in the clear:", plain[:3])
sys.exit(0 if len(vals) >= 20 and not bad and not plain else 1)' "$1"
}
all_readable_on() {
    kh "$1" get secrets -o json | python3 -c '
import base64, json, sys
items = {i["metadata"]["name"]: i.get("data", {}) for i in json.load(sys.stdin)["items"]}
ok = all(base64.b64decode(items.get("ha-%d" % i, {}).get("v", "")).decode() == "ha-value-%d" % i
         for i in range(1, 21))
sys.exit(0 if ok else 1)'
}
secrets_yaml() { # FROM TO
    for i in $(seq "$1" "$2"); do
        printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: ha-%s}\nstringData: {v: ha-value-%s}\n' "$i" "$i"
    done
}

lan_make 192.168.20
for n in polynode-1 polynode-2; do lan_host "$n" "${IP[$n]}"; done
printf '# empty k3c config for the identity HA e2e test\n' >"$TMP/empty.yaml"
server_start polynode-1 --cluster-init --token identity-ha-secret
check start/polynode-1 wait_for 90 host_ready polynode-1
server_start polynode-2 --server "https://${IP[polynode-1]}:6443" --token "$(cat "$TMP/polynode-1/server/token")"
check start/polynode-2 wait_for 120 host_ready polynode-2
expect_eq start/same-key-file "$(cat "$TMP/polynode-1/server/tls/encryption-config.json")" \
    cat "$TMP/polynode-2/server/tls/encryption-config.json"
secrets_yaml 1 10 >"$TMP/a.yaml"
secrets_yaml 11 20 >"$TMP/b.yaml"
check secrets/through-polynode-1 kh polynode-1 apply -f - <"$TMP/a.yaml"
check secrets/through-polynode-2 kh polynode-2 apply -f - <"$TMP/b.yaml"

for round in 1 2; do
    on=polynode-$round
    other=polynode-$((3 - round))
    expect_out "rotate$round/on-$on" '^rotated to key aescbckey-[0-9TZ-]+: 2 server\(s\) loaded it' rotate_on "$on"
    echo "# $(grep -o 'loaded it in [0-9]* ms, [0-9]* Secret(s) re-encrypted in [0-9]* ms' <<<"$OUT")"
    KEY=$(write_key "$on")
    wait_check "rotate$round/$other-file" 20 has_write_key "$other" "$KEY"
    expect_out "rotate$round/$other-reloaded" "keys reloaded from etcd, writing with $KEY" cat "$TMP/$other.log"
    expect_eq "rotate$round/reported" "$KEY $KEY" reported_keys
    expect_out "rotate$round/etcd" ' not under the key: \[\] in the clear: \[\]' all_under_key "$KEY"
    check "rotate$round/readable-on-polynode-1" all_readable_on polynode-1
    check "rotate$round/readable-on-polynode-2" all_readable_on polynode-2
done
check after/write-on-polynode-1 kh polynode-1 create secret generic late --from-literal=v=ha-value-late
expect_eq after/sealed-with-new-key "k8s:enc:aescbc:v1:$KEY:" stored_head /registry/secrets/default/late $((19 + ${#KEY}))
expect_out after/etcd-copy-wrapped '^k8s:enc:aescbc:v1:k3c-token:' stored_head /k3c/secrets-encryption/config 28

echo "# certificates: an expiring leaf, the Event, renewal at restart"
TLS2=$TMP/polynode-2/server/tls
short_admin_cert() { # polynode-2's admin leaf again, same key and CA, valid 30 days
    openssl x509 -x509toreq -in "$TLS2/client-admin.crt" -signkey "$TLS2/client-admin.key" \
        -out "$TMP/admin.csr" 2>/dev/null &&
        printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$TMP/ext.cnf" &&
        openssl x509 -req -in "$TMP/admin.csr" -CA "$TLS2/client-ca.crt" -CAkey "$TLS2/client-ca.key" \
            -days 30 -set_serial "$$" -extfile "$TMP/ext.cnf" -out "$TMP/short.crt" 2>/dev/null &&
        cp "$TMP/short.crt" "$TLS2/client-admin.crt"
}
cert_event() {
    kh polynode-1 get events -o json | python3 -c 'import json, sys
ok = [e for e in json.load(sys.stdin)["items"] if e.get("reason") == "CertificateExpirationWarning"
      and e.get("type") == "Warning" and e["involvedObject"].get("name") == "polynode-2"
      and "client-admin.crt: certificate system:admin will expire at" in e.get("message", "")]
sys.exit(0 if ok else 1)'
}
valid_days_over() { openssl x509 -noout -checkend $(($2 * 86400)) -in "$1" >/dev/null; }
check cert/short-leaf short_admin_cert
check cert/expires-within-120-days bash -c "! openssl x509 -noout -checkend $((120 * 86400)) -in '$TLS2/client-admin.crt'"
wait_check cert/expiration-warning-event 40 cert_event
stop_pid "${PID[polynode-2]}" 20
expect_eq cert/stopped 0 echo $?
echo "=== restart ===" >>"$TMP/polynode-2.log"
# shellcheck disable=SC2086 # the flags were words
server_start polynode-2 ${FLAGS[polynode-2]}
# shellcheck disable=SC2016 # sed's $ address, not a shell variable
host_ready_again() { sed -n '/=== restart ===/h; /=== restart ===/!H; ${x;p}' "$TMP/polynode-2.log" | grep -q "k3c server ready"; }
check cert/restarted wait_for 90 host_ready_again
check cert/renewed-at-start valid_days_over "$TLS2/client-admin.crt" 300
check cert/secrets-readable-after-restart all_readable_on polynode-2

echo "# ran $((SECONDS - T0)) s"
run grep -E -A 30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/polynode-1.log" "$TMP/polynode-2.log"
if [ "$RC" -eq 0 ]; then fail server/no-sanitizer-reports "sanitizer report" "grep $TMP/*.log"; else pass server/no-sanitizer-reports; fi
summary
