#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test_arm64_unit.sh - issue #19: k3c cross-built for arm64 (scripts/build-arm64
# into $K3C_ARM64_BUILD) and its unit tests run under qemu-aarch64 (Meson's
# exe_wrapper from cross/arm64-debian.ini). Skips (77), saying why, where
# the cross compiler, the emulator or (to make the sysroot) root and
# mmdebstrap are missing.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${K3C_ARM64_BUILD:?K3C_ARM64_BUILD unset}
sysroot=${K3C_ARM64_SYSROOT:-/var/cache/k3c/sysroot-arm64}
for t in aarch64-linux-gnu-gcc qemu-aarch64-static; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not found (scripts/install-deps installs it)"; exit 77; }
done
if [ ! -f "$sysroot/.k3c-sysroot" ] && { [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; }; then
    echo "SKIP: no arm64 sysroot at $sysroot and cannot make one (root and mmdebstrap needed)"
    exit 77
fi
"$here/scripts/build-arm64" "$build" || { echo "FAIL: the arm64 cross-build"; exit 1; }
file -b "$build/k3c" | grep -q "ARM aarch64" || { echo "FAIL: $build/k3c is not an arm64 binary"; exit 1; }
echo "# amd64 k3c: $(stat -c %s "${K3C_BIN:-/dev/null}" 2>/dev/null) bytes (this build); arm64 k3c: $(stat -c %s "$build/k3c") bytes"
meson test -C "$build" --suite unit --print-errorlogs --num-processes 1 >"$build.test.log" 2>&1
rc=$?
grep -E "^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout): " "$build.test.log"
[ "$rc" -eq 0 ] || { echo "FAIL: arm64 unit tests (log: $build.test.log)"; exit 1; }
echo "ok: every unit test passes on arm64 under qemu-aarch64"
