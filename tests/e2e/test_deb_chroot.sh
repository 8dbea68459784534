#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deb_chroot.sh - the .deb of scripts/build-deb installed into a real
# Debian 12 (bookworm) chroot made by mmdebstrap (issue #21): the chroot
# gets apt and the packages the .deb depends on, resolved by apt from the
# mirror of the host's apt sources (K3C_DEBIAN_MIRROR overrides it, e.g. a
# local mirror for offline use); then `dpkg -i` of the package succeeds,
# `k3c --version` runs inside the chroot, both units are in
# /usr/lib/systemd/system and not enabled, and `dpkg -r k3c` removes the
# binary and the units. It downloads about 60 MB and takes 0.5-3 minutes;
# K3C_TEST_DEB_CHROOT=0 skips it, and it exits 77 with the reason when the
# mirror cannot be reached. Root only (mmdebstrap, chroot).
# Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=deb-chroot
if [ "${K3C_TEST_DEB_CHROOT:-1}" = 0 ]; then
    echo "SKIP: K3C_TEST_DEB_CHROOT=0 (it builds a Debian chroot from the mirror)"
    exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: root only (mmdebstrap, chroot)"
    exit 77
fi
for tool in mmdebstrap dpkg-deb dpkg-shlibdeps curl; do
    if ! command -v $tool >/dev/null; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done
# The host's mirror (deb822 or one-line sources), as scripts/arm64-sysroot.
MIRROR=${K3C_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if ! curl -sfI --max-time 15 "$MIRROR/dists/bookworm/Release" >/dev/null; then
    echo "SKIP: the Debian mirror $MIRROR cannot be reached (set K3C_DEBIAN_MIRROR to a reachable one)"
    exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd "$HERE/../.." && pwd)
ROOT=$TMP/root
cleanup_chroot() {
    local m
    awk -v t="$ROOT/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
}
trap 'cleanup_chroot; cleanup' EXIT

# The release (the package's version); `--version` adds the git commit.
VERSION=$("$K3C_BIN" --version | sed -n 's/^k3c version v\([0-9.]*\).*/\1/p')
FULL_VERSION=$("$K3C_BIN" --version)
run "$REPO/scripts/build-deb" --binary "$K3C_BIN" --out "$TMP"
DEB=$OUT
if [ "$RC" -eq 0 ] && [ -f "$DEB" ]; then pass deb/built; else fail deb/built "no .deb" build-deb; fi
# What the package depends on, for the chroot: the first of each
# alternative, version constraints dropped (apt resolves the rest).
DEPENDS=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep . | paste -sd, -)
echo "# mirror $MIRROR; packages the chroot gets: $DEPENDS"

start=$SECONDS
run mmdebstrap --quiet --variant=apt --include="$DEPENDS" bookworm "$ROOT" \
    "deb $MIRROR bookworm main"
if [ "$RC" -eq 0 ]; then pass chroot/made; else fail chroot/made "mmdebstrap failed" mmdebstrap; fi
echo "# chroot made in $((SECONDS - start))s: $(du -sm "$ROOT" | cut -f1) MB"
cp "$DEB" "$ROOT/tmp/k3c.deb"
# In the chroot with its own /proc (k3c reads it; ASan builds need it), in a
# mount and PID namespace of its own: nothing to unmount afterwards.
in_root() {
    unshare --mount --pid --fork --mount-proc="$ROOT/proc" \
        chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
check deb/dpkg-install in_root dpkg -i /tmp/k3c.deb
expect_out deb/installed '^ii +k3c +'"$VERSION"' ' in_root dpkg -l k3c
expect_eq deb/version-in-chroot "$FULL_VERSION" in_root k3c --version
check deb/runs-help in_root k3c certificate --help
check deb/unit-server test -f "$ROOT/usr/lib/systemd/system/k3c.service"
check deb/unit-agent test -f "$ROOT/usr/lib/systemd/system/k3c-agent.service"
expect_out deb/unit-execstart '^ExecStart=/usr/bin/k3c server' cat "$ROOT/usr/lib/systemd/system/k3c.service"
run find "$ROOT/etc/systemd/system" -name 'k3c*'
if [ -z "$OUT" ]; then pass deb/units-not-enabled; else fail deb/units-not-enabled "enabled by the package" find; fi
expect_out deb/deps-installed '^ii +etcd-server ' in_root dpkg -l etcd-server
check deb/dpkg-remove in_root dpkg -r k3c
check deb/binary-gone test ! -e "$ROOT/usr/bin/k3c"
check deb/units-gone test ! -e "$ROOT/usr/lib/systemd/system/k3c.service" -a \
    ! -e "$ROOT/usr/lib/systemd/system/k3c-agent.service"
expect_fail deb/not-installed 'not installed' in_root dpkg -s k3c

summary
