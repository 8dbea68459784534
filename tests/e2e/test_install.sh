#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_install.sh - k3c on a real machine (issue #21), never touching this
# one: `k3c install server|agent --root DIR` writing the binary, the merged
# config.yaml and the unit (idempotent; checked by systemd-analyze verify
# when present); `k3c killall` and `k3c uninstall` inside a private mount +
# network namespace (unshare) holding a bridge, links, nftables tables,
# mounts and a pod network namespace file like a node's; a real `k3c
# server` sending READY=1 (after "k3c server ready") and STOPPING=1 to a
# NOTIFY_SOCKET the test listens on, stopped by `k3c killall --root`.
# Root only (unshare, mounts). Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=install
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (unshare, mounts)"
    exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

LISTEN_PIDS=()
AGENT_PID=
cleanup_install() {
    local p
    for p in "${LISTEN_PIDS[@]}" $AGENT_PID; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    cleanup
}
trap cleanup_install EXIT

R=$TMP/root
CONF=$R/etc/k3c/config.yaml
UNIT=$R/etc/systemd/system/k3c.service
k3c() { timeout "$CMD_TIMEOUT_S" "$K3C_BIN" "$@"; }

# ---- install into a scratch root ----
echo "# install (root $R)"
expect_all install/server 'binary /usr/local/bin/k3c: installed' 'config .*: written' \
    'unit /etc/systemd/system/k3c.service: written' 'systemctl not run' \
    'next server: +k3c install server --server https://192.168.20.225:6443 --token' \
    'an agent: +k3c install agent --server https://192.168.20.225:6443' \
    -- k3c install server --root "$R" --cluster-init --tls-san 192.168.20.225 \
    --vip 192.168.20.225/24 --node-label a=b --node-label c=d --token 'sec ret'
check install/binary-copied cmp "$K3C_BIN" "$R/usr/local/bin/k3c"
expect_eq install/config-mode 600 stat -c %a "$CONF"
expect_all install/config-keys '^cluster-init: true$' '^  - a=b$' '^  - c=d$' \
    '^token: "sec ret"$' '^vip: 192.168.20.225/24$' -- cat "$CONF"
expect_all install/unit-text '^Type=notify$' '^KillMode=process$' '^Delegate=yes$' \
    '^Restart=always$' '^LimitNOFILE=1048576$' '^TasksMax=infinity$' \
    '^StandardOutput=journal$' '^ExecStart=/usr/local/bin/k3c server$' -- cat "$UNIT"
expect_all install/idempotent 'binary .*: up to date' 'config .*: unchanged' \
    'unit .*: unchanged' -- k3c install server --root "$R" --cluster-init --token 'sec ret'
# a second install merges: new keys in, the old ones kept
expect_out install/merge 'config .*: written' \
    k3c install server --root "$R" --https-listen-port 7443 --tls-san vip.lan
expect_all install/merged-keys '^cluster-init: true$' '^https-listen-port: 7443$' \
    '^  - vip.lan$' '^  - a=b$' -- cat "$CONF"
expect_not install/list-replaced '192.168.20.225$' grep -A2 '^tls-san' "$CONF"
cp "$CONF" "$TMP/before.yaml"
expect_fail install/bad-flag 'unknown flag "--no-such-flag"' \
    k3c install server --root "$R" --no-such-flag 1
check install/bad-flag-config-unchanged cmp "$CONF" "$TMP/before.yaml"
expect_fail install/agent-needs-token 'agent needs --server and --token' \
    k3c install agent --root "$TMP/root-agent" --server https://192.168.20.225:6443
expect_all install/agent 'unit /etc/systemd/system/k3c-agent.service: written' \
    'joins https://192.168.20.225:6443' -- k3c install agent --root "$TMP/root-agent" \
    --server https://192.168.20.225:6443 --token K10abc::server:def
expect_out install/agent-unit '^ExecStart=/usr/local/bin/k3c agent$' \
    cat "$TMP/root-agent/etc/systemd/system/k3c-agent.service"
expect_fail install/usage 'Usage: k3c install server\|agent' k3c install
expect_fail install/root-relative 'absolute path' k3c install server --root rel

if command -v systemd-analyze >/dev/null; then
    # The unit as installed, with ExecStart on a binary that exists here.
    mkdir -p "$TMP/verify"
    sed "s|^ExecStart=.*|ExecStart=$K3C_BIN server|" "$UNIT" >"$TMP/verify/k3c.service"
    sed "s|^ExecStart=.*|ExecStart=$K3C_BIN agent|" \
        "$TMP/root-agent/etc/systemd/system/k3c-agent.service" >"$TMP/verify/k3c-agent.service"
    expect_rc install/systemd-analyze-verify 0 '' \
        systemd-analyze verify --man=no "$TMP/verify/k3c.service" "$TMP/verify/k3c-agent.service"
else
    echo "# SKIP systemd-analyze verify: systemd-analyze not installed"
fi

# ---- killall and uninstall in a private mount + network namespace ----
echo "# killall and uninstall inside unshare --mount --net"
D=$R/var/lib/k3c
UID1=0b1c9e2a-0000-4000-8000-$$
mkdir -p "$D/server" "$D/agent/pods/$UID1/volumes/cache" "$D/agent/logs" "$R/run/netns"
echo secret >"$D/server/token"
cat >"$TMP/ns.sh" <<EOF
set -e
ip link add cni0 type bridge
ip link add flannel.1 type bridge
ip link add k3c-dns0 type bridge
ip link add keep$$ type bridge
nft add table ip k3c-proxy
nft add table ip k3c-flannel
nft add table ip keep$$
ip link set lo up
ip addr add 10.43.0.10/32 dev lo
if command -v iptables >/dev/null; then
    iptables -t nat -N CNI-DN-$$
    iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-DN-$$
    iptables -t nat -A CNI-DN-$$ -p tcp --dport 8080 -j DNAT --to-destination 10.42.0.5:80
    iptables -t nat -N KEEP-$$
fi
mount -t tmpfs tmpfs "$D/agent/pods/$UID1/volumes/cache"
touch "$R/run/netns/k3c-$UID1"
mount --bind /proc/self/ns/net "$R/run/netns/k3c-$UID1"
echo "== killall"
"$K3C_BIN" killall --root "$R" --with-net
echo "== after"
ip -o link show | awk -F': ' '{print "link " \$2}'
nft list tables
ip -o addr show dev lo
iptables -t nat -S 2>/dev/null || true
grep -c " $R/" /proc/self/mountinfo || true
ls "$R/run/netns"
echo "== killall again"
"$K3C_BIN" killall --root "$R" --with-net
echo "== uninstall --keep-data"
"$K3C_BIN" uninstall --root "$R" --with-net --keep-data
ls "$D/server/token"
echo "== uninstall"
"$K3C_BIN" uninstall --root "$R" --with-net
echo "== uninstall again"
"$K3C_BIN" uninstall --root "$R" --with-net
echo "== end"
EOF
run timeout 120 unshare --mount --net --propagation private bash "$TMP/ns.sh"
NS_OUT=$OUT
NS_RC=$RC
section() { printf '%s\n' "$NS_OUT" | sed -n "/^== $1\$/,/^== /p"; }
OUT=$NS_OUT RC=$NS_RC
if [ "$RC" -eq 0 ] && matches '^== end$'; then pass killall/ran; else fail killall/ran "exit $RC" unshare; fi
expect_all killall/reports 'link cni0 deleted' 'link flannel.1 deleted' 'link k3c-dns0 deleted' \
    'nftables table ip k3c-proxy deleted' 'nftables table ip k3c-flannel deleted' \
    'mounts unmounted: 2; pod network namespaces removed: 1' "removed $D/agent/pods" \
    'no k3c process running' 'cluster DNS address 10.43.0.10 removed from lo' -- section killall
expect_all killall/after 'link keep' 'table ip keep' '^0$' -- section after
expect_not killall/links-gone 'link (cni0|flannel.1|k3c-dns0)|k3c-proxy|k3c-flannel|k3c-|10\.43\.0\.10' \
    section after
if command -v iptables >/dev/null; then
    expect_out killall/iptables-reported 'iptables: 1 CNI chains removed' section killall
    expect_all killall/iptables-after '^-N KEEP-' -- section after
    expect_not killall/iptables-cni-gone 'CNI-' section after
fi
expect_not killall/twice-removes-nothing 'deleted|^removed' section 'killall again'
expect_all uninstall/keep-data "removed $R/etc/k3c" "removed $R/usr/local/bin/k3c" \
    "removed $R/etc/systemd/system/k3c.service" 'data kept in .*--keep-data' \
    "^$D/server/token$" -- section 'uninstall --keep-data'
expect_out uninstall/data "removed $D\$" section 'uninstall'
expect_not uninstall/twice-removes-nothing 'deleted|^removed' section 'uninstall again'
check uninstall/data-gone test ! -e "$D"
check uninstall/host-untouched test ! -e "/run/netns/k3c-$UID1"

# ---- READY=1 and STOPPING=1 from a real server ----
echo "# sd_notify: a real server with NOTIFY_SOCKET"
# notify_listen SOCKET LOG READY_TEXT: records each datagram's lines and
# whether LOG already held READY_TEXT when it came (in $SOCKET.log).
notify_listen() {
    python3 - "$1" "$2" "$3" >"$1.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg = s.recv(4096).decode()
    try:
        logged = sys.argv[3] in open(sys.argv[2]).read()
    except OSError:
        logged = False
    for line in msg.split("\n"):
        print(line, "logged-ready" if logged else "not-logged-ready", flush=True)
EOF
    LISTEN_PIDS+=($!)
    wait_for 10 grep -q listening "$1.log"
}
notify_listen "$TMP/notify.sock" "$TMP/k3c.log" "k3c server ready"
export NOTIFY_SOCKET=$TMP/notify.sock
start_server
unset NOTIFY_SOCKET
wait_check notify/ready 10 grep -q '^READY=1 logged-ready$' "$TMP/notify.sock.log"
expect_out notify/status '^STATUS=k3c server ready' cat "$TMP/notify.sock.log"
expect_out format/written 'data format 1 written \(/k3c/data-format\)' cat "$TMP/k3c.log"
expect_not notify/no-stopping-yet 'STOPPING' cat "$TMP/notify.sock.log"

# ---- operational metrics and certificates (issue #21) ----
echo "# /metrics: certificate expiry, data dir free space, etcd DB size"
expect_all metrics/node-lines \
    '^k3c_certificate_expiration_seconds\{file="server/tls/serving-kube-apiserver.crt",ca="false"\} [0-9]{7,}$' \
    '^k3c_certificate_expiration_seconds\{file="server/tls/server-ca.crt",ca="true"\} [0-9]{8,}$' \
    '^k3c_certificate_expiration_seconds\{file="server/tls/etcd/server-client.crt",ca="false"\} [0-9]+$' \
    '^k3c_data_dir_available_bytes [1-9][0-9]*$' '^k3c_data_dir_capacity_bytes [1-9][0-9]*$' \
    '^etcd_mvcc_db_total_size_in_bytes [1-9][0-9]*$' \
    '^etcd_mvcc_db_total_size_in_use_in_bytes [1-9][0-9]*$' -- acurl "$API_URL/metrics"
expect_all cert/check '^FILE +CA +COMMON NAME' \
    '^server/tls/serving-kube-apiserver.crt +no .* (36[45]d)$' '^server/tls/server-ca.crt +yes ' \
    -- k3c certificate check --data-dir "$TMP/data"
expect_fail cert/rotate-refused-while-running 'k3c is running on' \
    k3c certificate rotate --data-dir "$TMP/data"

# an agent: READY=1 once it logged "k3c agent ready", STOPPING=1 on SIGTERM
notify_listen "$TMP/notify-agent.sock" "$TMP/agent.log" "k3c agent ready"
read -r KPORT <<<"$(free_ports 1)"
NOTIFY_SOCKET=$TMP/notify-agent.sock "$K3C_BIN" agent --server "$API_URL" \
    --token "$(cat "$TMP/data/server/token")" --data-dir "$TMP/agent" --node-name notify-agent \
    --node-ip 127.0.0.1 --disable-pods --kubelet-port "$KPORT" --config "$TMP/empty.yaml" \
    </dev/null >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
wait_check notify/agent-ready 60 grep -q '^READY=1 logged-ready$' "$TMP/notify-agent.sock.log"
expect_out notify/agent-status '^STATUS=k3c agent ready' cat "$TMP/notify-agent.sock.log"
expect_all metrics/kubelet-lines \
    '^k3c_certificate_expiration_seconds\{file="agent/client-kubelet.crt",ca="false"\} [0-9]{7,}$' \
    '^k3c_data_dir_available_bytes [1-9][0-9]*$' -- acurl "https://127.0.0.1:$KPORT/metrics"
stop_pid "$AGENT_PID" "$STOP_TIMEOUT_S"
expect_eq notify/agent-exit-0 0 echo $?
AGENT_PID=
wait_check notify/agent-stopping 10 grep -q '^STOPPING=1' "$TMP/notify-agent.sock.log"

echo "# a node certificate that expires within 120 days is renewed at the agent's start"
ACRT=$TMP/agent/agent/client-kubelet.crt
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 -subj /CN=expiring \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$TMP/expiring.key" -out "$ACRT" >/dev/null 2>&1
expect_out cert/agent-expiring '^agent/client-kubelet.crt +no +expiring .* (9|10)d \(renewed at the next start\)$' \
    k3c certificate check --data-dir "$TMP/agent"
"$K3C_BIN" agent --server "$API_URL" --token "$(cat "$TMP/data/server/token")" \
    --data-dir "$TMP/agent" --node-name notify-agent --node-ip 127.0.0.1 --disable-pods \
    --kubelet-port "$KPORT" --config "$TMP/empty.yaml" </dev/null >"$TMP/agent2.log" 2>&1 &
AGENT_PID=$!
wait_check cert/agent-rejoined 60 grep -q 'k3c agent ready' "$TMP/agent2.log"
expect_out cert/agent-renewal-logged 'expires in [0-9]+ days: joining again' cat "$TMP/agent2.log"
expect_out cert/agent-renewed '^agent/client-kubelet.crt +no +system:node:notify-agent .* 36[45]d' \
    k3c certificate check --data-dir "$TMP/agent"
stop_pid "$AGENT_PID" "$STOP_TIMEOUT_S"
AGENT_PID=
expect_all killall/stops-server "k3c process $SERVER_PID stopped" \
    "without --with-net: links and nftables kept" -- k3c killall --root "$TMP"
wait_check notify/stopping 10 grep -q '^STOPPING=1' "$TMP/notify.sock.log"
wait "$SERVER_PID"
expect_eq killall/server-exit-0 0 echo $?
SERVER_PID=
run grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/k3c.log"
if [ "$RC" -ne 0 ]; then pass server/no-sanitizer-reports; else fail server/no-sanitizer-reports "sanitizer report" grep; fi
expect_out killall/again 'no k3c process running' k3c killall --root "$TMP"

echo "# certificate rotate: new leaves from the same CAs at the next start"
sha() { sha256sum "$TMP/data/server/tls/$1" | cut -c1-64; }
ca_before=$(sha server-ca.crt)
leaf_before=$(sha serving-kube-apiserver.crt)
expect_all cert/rotate 'moved server/tls/serving-kube-apiserver.crt' \
    'moved server/tls/etcd/server-client.crt' 'leaf certificates moved to .*/server/tls-backup-' \
    -- k3c certificate rotate --data-dir "$TMP/data"
check cert/cas-kept test -e "$TMP/data/server/tls/server-ca.crt" -a -e "$TMP/data/server/tls/client-ca.crt" \
    -a -e "$TMP/data/server/tls/server-ca.key"
expect_fail cert/rotate-twice 'no leaf certificates' k3c certificate rotate --data-dir "$TMP/data"
check cert/leaf-gone test ! -e "$TMP/data/server/tls/serving-kube-apiserver.crt"
start_server
check cert/restarted-server-serves kc get --raw /readyz
expect_eq cert/ca-kept "$ca_before" sha server-ca.crt
run sha serving-kube-apiserver.crt
if [ "$OUT" != "$leaf_before" ]; then pass cert/leaf-new; else fail cert/leaf-new "same serving certificate" true; fi
expect_all killall/stops-rotated-server "k3c process $SERVER_PID stopped" -- k3c killall --root "$TMP"
wait "$SERVER_PID"
expect_eq killall/rotated-server-exit-0 0 echo $?
SERVER_PID=

summary
