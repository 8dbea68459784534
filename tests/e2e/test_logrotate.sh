#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_logrotate.sh - container log rotation (issue #21) under a real pod
# that writes ~60 MB (60000 lines of 1 KB, 5 MB a second): with the
# kubelet's default --container-log-max-size 10Mi (--help shows it and
# --container-log-max-files 5), 3 files here so that old ones are pruned, and
# a 1 s check, the log is rotated (rotated files <n>.log.<stamp>, at most 2
# kept beside the current one, each far below the 60 MB written),
# `kubectl logs --tail` reads the current file, and a `kubectl logs -f`
# started before the writing sees every one of the 60000 lines in order
# across all the rotations. Real runc/conmon/CNI in a test-made network
# namespace. Needs root (else exit 77). About 1-2 minutes.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-logrot-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=logrotate
SERVER_EXTRA_ARGS=(--cni-bridge k3clr$$ --pod-cidr 10.89.7.0/24 --kubelet-port 10250
    --container-log-monitor-interval 1 --container-log-max-files 3)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools

FOLLOW_PID=
stop_follow() {
    if [ -n "$FOLLOW_PID" ]; then
        kill "$FOLLOW_PID" 2>/dev/null
        wait "$FOLLOW_PID" 2>/dev/null
        FOLLOW_PID=
    fi
}
trap 'stop_follow; pods_cleanup; cleanup' EXIT

LINES=60000
echo "# namespace, images, server"
pods_netns_make "$NS"
pods_images_start "$NS"
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 60 node_ready e2e
wait_check server/rotation-settings 60 grep -q 'container logs rotate at 10485760 bytes, 3 files' \
    "$TMP/k3c.log"
expect_all config/kubelet-defaults 'container-log-max-size.*10Mi' 'container-log-max-files.*5' \
    -- "$K3C_BIN" agent --help

# 1000-byte lines, 5000 a second, after /tmp/go appears.
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: w
    image: k3c/busybox:test
    command:
    - sh
    - -c
    - |
      pad=\$(head -c 980 /dev/zero | tr '\\0' x)
      echo ready
      while [ ! -e /tmp/go ]; do sleep 0.2; done
      i=0
      while [ \$i -lt $LINES ]; do
        echo "line-\$i \$pad"
        i=\$((i + 1))
        if [ \$((i % 5000)) -eq 0 ]; then sleep 1; fi
      done
      echo all-done
      exec sleep 3600
EOF
wait_check pod/running 120 pod_phase_is writer Running

FOLLOW_OUT=$TMP/follow.out
# Not kc: its --request-timeout would end the stream after 20 s.
timeout 300 "${NETNS_EXEC[@]}" "$KUBECTL" --cache-dir="$TMP/kube-cache" logs -f writer \
    >"$FOLLOW_OUT" 2>"$TMP/follow.err" &
FOLLOW_PID=$!
follow_has() { grep -q "$1" "$FOLLOW_OUT" 2>/dev/null; }
wait_check follow/started 30 follow_has '^ready$'
start=$SECONDS
check pod/go kc exec writer -- touch /tmp/go
wait_check follow/all-lines 240 follow_has '^all-done$'
echo "# the pod wrote $LINES lines (~60 MB) and the follower saw the end after $((SECONDS - start)) s"

UID_=$(pod_field writer '{.metadata.uid}')
LOGDIR=$TMP/data/agent/logs/default_writer_$UID_/w
find "$LOGDIR" -maxdepth 1 -type f -printf '#   %f %s\n' | sort
rotated_count() { find "$LOGDIR" -maxdepth 1 -name '0.log.*' ! -name '*.tmp' | wc -l; }
wait_check rotate/rotated 30 test "$(rotated_count)" -ge 1
expect_eq rotate/at-most-2-rotated true \
    sh -c "[ $(rotated_count) -le 2 ] && echo true || echo false"
expect_eq rotate/at-most-3-files true \
    sh -c "[ \$(find '$LOGDIR' -maxdepth 1 -name '0.log*' | wc -l) -le 3 ] && echo true || echo false"
# 10 MiB plus at most a few seconds of writing (5 MB/s): never the whole 60 MB
run sh -c "stat -c %s '$LOGDIR'/0.log* | sort -n | tail -n 1"
if [ "$RC" -eq 0 ] && [ "$OUT" -lt 40000000 ]; then pass rotate/files-bounded; else fail rotate/files-bounded "largest file $OUT bytes" stat; fi
run sh -c "cat '$LOGDIR'/0.log* | wc -c"
echo "# bytes on disk for the container's log: $OUT (written: ~$((LINES * 1000 / 1000000)) MB)"
if [ "$RC" -eq 0 ] && [ "$OUT" -lt 58000000 ]; then pass rotate/old-files-pruned; else fail rotate/old-files-pruned "$OUT bytes kept" wc; fi

expect_eq logs/tail-current all-done kc logs writer --tail=1
# --tail reads the current file only (as upstream): two lines, or one when
# a rotation fell between the last line and "all-done".
CUR_LINES=$(wc -l <"$LOGDIR/0.log")
WANT_LINES=$((CUR_LINES < 2 ? CUR_LINES : 2))
run kc logs writer --tail=2
if [ "$RC" -eq 0 ] && [ "$(printf '%s\n' "$OUT" | tail -n 1)" = all-done ] &&
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq "$WANT_LINES" ]; then
    pass logs/current-file-lines
else
    fail logs/current-file-lines "wanted the last $WANT_LINES line(s) of the current file" kc logs writer --tail=2
fi
run grep -c '^line-' "$FOLLOW_OUT"
expect_eq follow/every-line "$LINES" echo "$OUT"
# in order: line numbers strictly increasing by one
run awk '/^line-/ { n = substr($1, 6) + 0; if (n != want) { print "gap at " want " got " n; exit 1 } want++ } END { print "ok" }' "$FOLLOW_OUT"
expect_eq follow/in-order ok echo "$OUT"
stop_follow

# after a rotation the container keeps writing to the new file
check logs/exec-echo kc exec writer -- sh -c 'echo after-rotation >/proc/1/fd/1'
new_line() { kc logs writer --tail=1 2>/dev/null | grep -q after-rotation; }
wait_check logs/new-file-written 20 new_line

summary
