# SPDX-License-Identifier: Apache-2.0
# lib.sh - shared harness of the kubectl e2e scripts (sourced, not run).
#
# A script sets HERE (its directory) and E2E_NAME (names the temp dir), then
# sources this file, which checks the tools (exit 77 without
# /usr/bin/kubectl), makes the temp dir $TMP and installs the EXIT trap, and
# defines:
#   start_server          starts `k3c server` ($K3C_BIN) on free loopback
#                         ports; exits 1 with the log if it never gets ready;
#                         sets API_URL and writes $TMP/ca.crt, admin.crt and
#                         admin.key (the kubeconfig's admin credentials)
#   check, expect_out, expect_all, expect_not, expect_eq, expect_fail,
#   expect_rc, run, pass, fail
#                         one line per check; a failing check shows its
#                         command, exit status and output
#   wait_for SECS CMD...  polls with a deadline (never a bare sleep)
#   wait_check NAME SECS CMD...  a check that passes once CMD succeeds in time
#   kc, kv, http_expect, acurl   kubectl, other kubectl releases, curl
#   server_checks         stops the server with SIGTERM (exit 0 wanted), no
#                         sanitizer reports, no etcd left
#   summary               prints "N passed, M failed" and exits 0 or 1
# The EXIT trap stops the server, any etcd on the temp dir and $WATCH_PID,
# and removes the temp dir unless K3C_KEEP_TEST_DIRS is set.
# shellcheck shell=bash
# shellcheck disable=SC2317 # functions are called through run/check
# shellcheck disable=SC2034 # settings used by the scripts that source this

K3C_BIN=${K3C_BIN:-$HERE/../../build-test/k3c}
KUBECTL=/usr/bin/kubectl
KUBECTL_DIR=/usr/lib/google-cloud-sdk/bin

READY_TIMEOUT_S=90 # server start to "k3c server ready" and the kubeconfig
STOP_TIMEOUT_S=20  # SIGTERM to exit, before SIGKILL
CMD_TIMEOUT_S=60   # hard limit on any one command (kubectl has --request-timeout=20s)
WAIT_TIMEOUT_S=10  # a watch event, an object to appear

if [ ! -x "$KUBECTL" ]; then
    echo "SKIP: $KUBECTL not found; this test needs stock kubectl 1.32"
    exit 77
fi
if [ ! -x "$K3C_BIN" ]; then
    echo "FAIL: k3c binary $K3C_BIN not found (set K3C_BIN)"
    exit 1
fi
for tool in python3 curl timeout base64; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/k3c-e2e-${E2E_NAME:-kubectl}.XXXXXX") || exit 1
SERVER_PID=
WATCH_PID=
if [ -z "${SERVER_EXTRA_ARGS+x}" ]; then SERVER_EXTRA_ARGS=(); fi
# NETNS_EXEC (array): a prefix that runs the server, kubectl and curl in a
# test-made network namespace, e.g. (nsenter --net=/run/netns/NAME).
if [ -z "${NETNS_EXEC+x}" ]; then NETNS_EXEC=(); fi
export KUBECONFIG=$TMP/kubeconfig.yaml

# ---- cleanup ----

# Pids of etcd processes whose command line names the temp dir.
etcd_pids() {
    local d pid cmd
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$(cat "$d/comm" 2>/dev/null)" = etcd ] || continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
        case $cmd in
        *"$TMP/"*) echo "$pid" ;;
        esac
    done
}

# Sends SIGTERM to pid $1, waits up to $2 seconds, then SIGKILL. Returns the
# exit status when it was our child and exited by itself, 137 after SIGKILL.
stop_pid() {
    local pid=$1 limit=$2 deadline rc
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
    deadline=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        # A zombie child still answers kill -0; reap it if it is gone.
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
            break
        fi
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
        echo "# pid $pid still running ${limit}s after SIGTERM: SIGKILL"
        # Where it is stuck: every thread's stack, for the log.
        if command -v gdb >/dev/null; then
            timeout 30 gdb -p "$pid" -batch -ex 'thread apply all bt 12' 2>/dev/null |
                grep -E '^(Thread|#)' | sed 's/^/#   /' | head -200
        fi
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    return $rc
}

cleanup() {
    local pid
    trap - EXIT INT TERM
    if [ -n "$WATCH_PID" ]; then
        kill "$WATCH_PID" 2>/dev/null
        wait "$WATCH_PID" 2>/dev/null
    fi
    if [ -n "$SERVER_PID" ]; then
        stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
        SERVER_PID=
    fi
    for pid in $(etcd_pids); do
        echo "# killing leftover etcd $pid"
        kill -KILL "$pid" 2>/dev/null
    done
    if [ -n "${K3C_KEEP_TEST_DIRS:-}" ]; then
        echo "# kept $TMP (server log: $TMP/k3c.log)"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- assertions ----

PASSED=0
FAILED=0
FAILED_NAMES=()
OUT=
RC=0

# Runs "$@"; output (stdout+stderr) in OUT, status in RC. Every command the
# checks run is bounded: kc, kv and curl carry their own time limits.
run() {
    OUT=$("$@" 2>&1)
    RC=$?
}

pass() {
    PASSED=$((PASSED + 1))
    echo "ok   $1"
}

# fail NAME WHY CMD...: records a failure and shows the command and its output.
fail() {
    local name=$1 why=$2
    shift 2
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL $name: $why"
    echo "     command: $*"
    echo "     exit:    $RC"
    if [ -n "$OUT" ]; then
        printf '%s\n' "$OUT" | head -n 40 | sed 's/^/     | /'
        if [ "$(printf '%s\n' "$OUT" | wc -l)" -gt 40 ]; then
            echo "     | ... ($(printf '%s\n' "$OUT" | wc -l) lines)"
        fi
    else
        echo "     (no output)"
    fi
}

matches() { printf '%s\n' "$OUT" | grep -Eq -- "$1"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
    local name=$1
    shift
    run "$@"
    if [ "$RC" -eq 0 ]; then pass "$name"; else fail "$name" "exit status $RC" "$@"; fi
}

# wait_check NAME SECS CMD...: passes when CMD succeeds within SECS.
wait_check() {
    local name=$1 secs=$2
    shift 2
    if wait_for "$secs" "$@"; then
        pass "$name"
    else
        run "$@"
        fail "$name" "not true within ${secs}s" "$@"
    fi
}

# expect_out NAME REGEX CMD...: CMD exits 0 and a line of its output matches REGEX.
expect_out() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$RC" -ne 0 ]; then
        fail "$name" "exit status $RC (wanted 0 and output matching /$re/)" "$@"
    elif ! matches "$re"; then
        fail "$name" "output does not match /$re/" "$@"
    else
        pass "$name"
    fi
}

# expect_all NAME RE... -- CMD...: CMD exits 0 and its output matches every RE.
expect_all() {
    local name=$1 re missing=()
    local res=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        res+=("$1")
        shift
    done
    shift
    run "$@"
    if [ "$RC" -ne 0 ]; then
        fail "$name" "exit status $RC (wanted 0)" "$@"
        return
    fi
    for re in "${res[@]}"; do
        matches "$re" || missing+=("/$re/")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        fail "$name" "output does not match ${missing[*]}" "$@"
    else
        pass "$name"
    fi
}

# expect_not NAME REGEX CMD...: CMD exits 0 and no line of its output matches REGEX.
expect_not() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$RC" -ne 0 ]; then
        fail "$name" "exit status $RC (wanted 0)" "$@"
    elif matches "$re"; then
        fail "$name" "output matches /$re/ but should not" "$@"
    else
        pass "$name"
    fi
}

# expect_eq NAME TEXT CMD...: CMD exits 0 and prints exactly TEXT (trailing newlines aside).
expect_eq() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ "$RC" -ne 0 ]; then
        fail "$name" "exit status $RC (wanted 0 and output '$want')" "$@"
    elif [ "$OUT" != "$want" ]; then
        fail "$name" "output is not '$want'" "$@"
    else
        pass "$name"
    fi
}

# expect_fail NAME REGEX CMD...: CMD exits non-zero and its output matches REGEX.
expect_fail() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$RC" -eq 0 ]; then
        fail "$name" "succeeded but should have failed with /$re/" "$@"
    elif [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        fail "$name" "timed out after ${CMD_TIMEOUT_S}s" "$@"
    elif ! matches "$re"; then
        fail "$name" "failed as expected but output does not match /$re/" "$@"
    else
        pass "$name"
    fi
}

# expect_rc NAME CODE REGEX CMD...: CMD exits with status CODE and a line of
# its output matches REGEX (an empty REGEX: the output is empty).
expect_rc() {
    local name=$1 want=$2 re=$3
    shift 3
    run "$@"
    if [ "$RC" -ne "$want" ]; then
        fail "$name" "exit status $RC (wanted $want)" "$@"
    elif [ -z "$re" ] && [ -n "$OUT" ]; then
        fail "$name" "output is not empty" "$@"
    elif [ -n "$re" ] && ! matches "$re"; then
        fail "$name" "output does not match /$re/" "$@"
    else
        pass "$name"
    fi
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while :; do
        "$@" && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

# ---- kubectl and curl ----

# kc ARGS...: /usr/bin/kubectl with the test's kubeconfig, a private discovery
# cache and a request timeout.
kc() {
    timeout -k 5 "$CMD_TIMEOUT_S" "${NETNS_EXEC[@]}" "$KUBECTL" --request-timeout=20s --cache-dir="$TMP/kube-cache" "$@"
}

# kv VERSION ARGS...: another kubectl release, the same way.
kv() {
    local v=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" "$KUBECTL_DIR/kubectl.$v" --request-timeout=20s --cache-dir="$TMP/kube-cache-$v" "$@"
}

API_URL=

# http_expect CODE BODY_REGEX CURL_ARGS...: curl prints the status, checks
# code and body; prints both for the failure report.
http_expect() {
    local want=$1 re=$2 code body
    shift 2
    code=$(curl -sS --max-time 20 -o "$TMP/http.body" -w '%{http_code}' "$@" 2>"$TMP/http.err")
    body=$(head -c 2000 "$TMP/http.body" 2>/dev/null)
    echo "HTTP $code"
    [ -s "$TMP/http.err" ] && cat "$TMP/http.err"
    printf '%s\n' "$body"
    [ "$code" = "$want" ] && printf '%s\n' "$body" | grep -Eq -- "$re"
}

# acurl CURL_ARGS...: curl as the admin (the kubeconfig's client certificate),
# bounded, silent but for errors.
acurl() {
    "${NETNS_EXEC[@]}" curl -sS --max-time 20 --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$@"
}

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

kubeconfig_field() { sed -n "s/^ *$1: *//p" "$KUBECONFIG" | head -n 1; }

server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }

server_ready() {
    grep -q "k3c server ready" "$TMP/k3c.log" 2>/dev/null && [ -s "$KUBECONFIG" ]
}

server_ready_or_dead() { server_ready || ! server_alive; }

# ---- start the server ----

# SERVER_EXTRA_ARGS (array): more flags for `k3c server` (pod network, ...).
start_server() {
    local start v unset_args=()
    read -r ETCD_CLIENT_PORT ETCD_PEER_PORT API_PORT <<<"$(free_ports 3)"
    if [ -z "${API_PORT:-}" ]; then
        echo "FAIL: could not pick free ports"
        exit 1
    fi
    API_URL=https://127.0.0.1:$API_PORT
    printf '# empty k3c config for the kubectl e2e test\n' >"$TMP/empty.yaml"
    # Static bearer tokens: one admin, one user in no privileged group.
    printf 'e2e-admin-token,e2e-admin,1,"system:masters"\ne2e-viewer-token,e2e-viewer,2\n' >"$TMP/tokens.csv"

    echo "# temp dir $TMP; API $API_URL; etcd ports $ETCD_CLIENT_PORT/$ETCD_PEER_PORT"
    # Only our flags count: drop K3C_* settings from the environment.
    for v in $(compgen -e); do
        case $v in K3C_*) unset_args+=(-u "$v") ;; esac
    done
    # Pods run for real only inside a test-made network namespace: the pod
    # network's bridge and addresses must never appear in the root one.
    # --node-ip: in the root namespace only loopback, never the host's own
    # address (the default would be the default route's interface).
    if [ ${#NETNS_EXEC[@]} -eq 0 ]; then
        SERVER_EXTRA_ARGS+=(--disable-pods --node-ip 127.0.0.1)
    fi
    env "${unset_args[@]}" "${NETNS_EXEC[@]}" "$K3C_BIN" server \
        --data-dir "$TMP/data" \
        --bind-address 127.0.0.1 \
        --https-listen-port "$API_PORT" \
        --write-kubeconfig "$KUBECONFIG" \
        --etcd-client-port "$ETCD_CLIENT_PORT" \
        --etcd-peer-port "$ETCD_PEER_PORT" \
        --node-name e2e \
        --token-file "$TMP/tokens.csv" \
        --config "$TMP/empty.yaml" \
        "${SERVER_EXTRA_ARGS[@]}" \
        </dev/null >"$TMP/k3c.log" 2>&1 &
    SERVER_PID=$!

    start=$SECONDS
    wait_for "$READY_TIMEOUT_S" server_ready_or_dead
    if ! server_ready; then
        if server_alive; then
            echo "FAIL startup: no 'k3c server ready' and kubeconfig after ${READY_TIMEOUT_S}s"
        else
            wait "$SERVER_PID"
            echo "FAIL startup: k3c server exited with status $? before it was ready"
            SERVER_PID=
        fi
        echo "     server log (last 40 lines):"
        tail -n 40 "$TMP/k3c.log" | sed 's/^/     | /'
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "# server ready after $((SECONDS - start))s"

    base64 -d <<<"$(kubeconfig_field certificate-authority-data)" >"$TMP/ca.crt"
    base64 -d <<<"$(kubeconfig_field client-certificate-data)" >"$TMP/admin.crt"
    base64 -d <<<"$(kubeconfig_field client-key-data)" >"$TMP/admin.key"
    chmod 600 "$TMP/admin.key"
}

# ---- the server itself, and the summary ----

server_checks() {
    echo "# server"
    check server/alive server_alive
    if server_alive; then
        stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
        RC=$?
        SERVER_PID=
        OUT=$(tail -n 20 "$TMP/k3c.log")
        if [ "$RC" -eq 0 ]; then pass server/sigterm-exit-0; else fail server/sigterm-exit-0 "exit status $RC" "kill -TERM k3c"; fi
    fi
    run grep -E -A 30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/k3c.log"
    if [ "$RC" -eq 0 ]; then
        fail server/no-sanitizer-reports "sanitizer report in the server log" "grep sanitizer $TMP/k3c.log"
    else
        pass server/no-sanitizer-reports
    fi
    run etcd_pids
    if [ -n "$OUT" ]; then
        fail server/no-etcd-left "etcd still running after the server stopped" etcd_pids
    else
        pass server/no-etcd-left
    fi
}

summary() {
    if [ "$FAILED" -gt 0 ]; then
        echo "# failed: ${FAILED_NAMES[*]}"
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
