#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deb.sh - the Debian package of `make deb` (scripts/build-deb), built
# from $K3C_BIN into the temp dir: its control fields (name, the version of
# `k3c --version`, the architecture, Depends on the packages k3c runs),
# its files (binary, both units, k3c(8), copyright, changelog), the units
# shipped disabled (no maintainer script, ExecStart=/usr/bin/k3c), the
# extracted binary running, systemd-analyze verify on the shipped units
# when present, lintian clean when lintian is installed (skipped with the
# reason otherwise). With an arm64 build (build-arm64/k3c, `make arm64`) the
# same for the arm64 package of `make deb ARCH=arm64`: control, files, an
# aarch64 binary running under qemu-user, lintian. About 1-2 minutes
# (strip, xz, lintian).
# Harness: lib.sh ("N passed, M failed" last).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=deb
for tool in dpkg-deb dpkg-shlibdeps strip; do
    if ! command -v $tool >/dev/null; then
        echo "SKIP: $tool not found (dpkg-dev, binutils)"
        exit 77
    fi
done
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd "$HERE/../.." && pwd)

# The release (the package's version); `--version` adds the git commit.
VERSION=$("$K3C_BIN" --version | sed -n 's/^k3c version v\([0-9.]*\).*/\1/p')
FULL_VERSION=$("$K3C_BIN" --version)
ARCH=$(dpkg --print-architecture)
echo "# k3c $VERSION ($ARCH) from $K3C_BIN"
run "$REPO/scripts/build-deb" --binary "$K3C_BIN" --out "$TMP"
DEB=$TMP/k3c_${VERSION}_${ARCH}.deb
if [ "$RC" -eq 0 ] && [ "$OUT" = "$DEB" ]; then pass deb/built; else fail deb/built "wanted $DEB" build-deb; fi

expect_all deb/control '^ Package: k3c$' "^ Version: $VERSION\$" "^ Architecture: $ARCH\$" \
    '^ Depends: .*libc6' '^ Depends: .*etcd-server' '^ Depends: .*runc \| crun' \
    '^ Depends: .*conmon' '^ Depends: .*containernetworking-plugins' '^ Depends: .*nftables' \
    '^ Depends: .*libarchive13' \
    '^ Section: admin$' '^ Description: ' -- dpkg-deb -I "$DEB"
expect_all deb/files ' \./usr/bin/k3c$' '^-rwxr-xr-x root/root .* \./usr/bin/k3c$' \
    ' \./usr/lib/systemd/system/k3c\.service$' ' \./usr/lib/systemd/system/k3c-agent\.service$' \
    ' \./usr/share/man/man8/k3c\.8\.gz$' ' \./usr/share/doc/k3c/copyright$' \
    ' \./usr/share/doc/k3c/changelog\.gz$' ' \./usr/share/doc/k3c/install\.md$' \
    -- dpkg-deb -c "$DEB"
expect_not deb/no-etc-files ' \./etc/' dpkg-deb -c "$DEB"
# shipped disabled: no maintainer script enables or starts a unit
expect_not deb/no-maintainer-scripts 'postinst|preinst|prerm|postrm' dpkg-deb -I "$DEB"

X=$TMP/x
check deb/extract dpkg-deb -x "$DEB" "$X"
expect_eq deb/binary-runs "$FULL_VERSION" "$X/usr/bin/k3c" --version
expect_all deb/server-unit '^Type=notify$' '^ExecStart=/usr/bin/k3c server$' '^KillMode=process$' \
    '^Delegate=yes$' -- cat "$X/usr/lib/systemd/system/k3c.service"
expect_out deb/agent-unit '^ExecStart=/usr/bin/k3c agent$' \
    cat "$X/usr/lib/systemd/system/k3c-agent.service"
expect_out deb/man-page 'k3c \\- lightweight' sh -c "gzip -dc '$X/usr/share/man/man8/k3c.8.gz'"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$TMP/verify"
    for u in k3c k3c-agent; do
        sed "s|^ExecStart=/usr/bin/k3c|ExecStart=$X/usr/bin/k3c|" \
            "$X/usr/lib/systemd/system/$u.service" >"$TMP/verify/$u.service"
    done
    expect_rc deb/systemd-analyze-verify 0 '' systemd-analyze verify --man=no \
        "$TMP/verify/k3c.service" "$TMP/verify/k3c-agent.service"
else
    echo "# SKIP systemd-analyze verify: systemd-analyze not installed"
fi
if command -v lintian >/dev/null; then
    # A binary built with sanitizers (build-test) links libasan; the tags
    # that brings are not the package's.
    expect_not deb/lintian '^[EW]: ' lintian --fail-on error,warning --suppress-tags \
        hardening-no-fortify-functions "$DEB"
else
    echo "# SKIP lintian: not installed (apt-get install lintian to check the package)"
fi

# ---- the arm64 package (make deb ARCH=arm64), when an arm64 build is there ----
ARM64_BIN=${K3C_ARM64_BIN:-$REPO/build-arm64/k3c}
SYSROOT=${K3C_ARM64_SYSROOT:-/var/cache/k3c/sysroot-arm64}
if [ -x "$ARM64_BIN" ] && [ -d "$SYSROOT/usr/lib/aarch64-linux-gnu" ] &&
    command -v qemu-aarch64-static aarch64-linux-gnu-objdump >/dev/null; then
    echo "# arm64: $ARM64_BIN (library dependencies from $K3C_BIN)"
    mkdir -p "$TMP/arm64"
    run "$REPO/scripts/build-deb" --binary "$ARM64_BIN" --arch arm64 --shlibs-from "$K3C_BIN" \
        --out "$TMP/arm64"
    DEB64=$TMP/arm64/k3c_${VERSION}_arm64.deb
    if [ "$RC" -eq 0 ] && [ "$OUT" = "$DEB64" ]; then pass arm64/built; else fail arm64/built "wanted $DEB64" build-deb; fi
    expect_all arm64/control '^ Architecture: arm64$' '^ Depends: .*libc6' \
        '^ Depends: .*etcd-server' -- dpkg-deb -I "$DEB64"
    expect_all arm64/files ' \./usr/bin/k3c$' ' \./usr/lib/systemd/system/k3c\.service$' \
        -- dpkg-deb -c "$DEB64"
    check arm64/extract dpkg-deb -x "$DEB64" "$TMP/x64"
    expect_out arm64/binary-is-aarch64 'ARM aarch64.*stripped' file "$TMP/x64/usr/bin/k3c"
    expect_out arm64/binary-runs-under-qemu "^k3c version v$VERSION(-g[0-9a-f]+(-dirty)?)?\$" \
        qemu-aarch64-static -L "$SYSROOT" "$TMP/x64/usr/bin/k3c" --version
    expect_out arm64/unit '^ExecStart=/usr/bin/k3c server$' \
        cat "$TMP/x64/usr/lib/systemd/system/k3c.service"
    if command -v lintian >/dev/null; then
        expect_not arm64/lintian '^[EW]: ' lintian --fail-on error,warning --suppress-tags \
            hardening-no-fortify-functions "$DEB64"
    fi
else
    echo "# SKIP arm64 package: no $ARM64_BIN (make arm64) or no sysroot/qemu-user"
fi

summary
