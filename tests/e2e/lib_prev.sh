# SPDX-License-Identifier: Apache-2.0
# lib_prev.sh - the k3c of an earlier commit, for the upgrade tests (sourced
# after lib.sh; REPO is the source tree):
#
#   PREV_COMMIT         the previous landed commit (the main branch at the
#                       stop before the commit was added to the version):
#                       bump it to the last release or landed commit when
#                       the next one lands
#   prev_cached         the cached build's path when it is there (else fails)
#   prev_build          builds it once into $PREV_CACHE (a lock keeps two
#                       runs from building it at once): `git archive` of the
#                       commit, `meson setup -Dtests=false`, `ninja k3c`;
#                       exits 77 when the commit is not in REPO's history
#                       (a shallow clone) and 1 when the build fails
#   PREV_BIN            set by prev_bin: $K3C_PREV_BIN, else the cached
#                       build, else (when allowed) a new build
# shellcheck shell=bash
# shellcheck disable=SC2034 # settings used by the scripts that source this

PREV_COMMIT=b37900b5f188237dc4caca59bc0d61348963afab
PREV_CACHE=${K3C_PREV_CACHE:-/var/cache/k3c}/prev-k3c-$PREV_COMMIT
PREV_BIN=

prev_cached() { [ -x "$PREV_CACHE/k3c" ] && echo "$PREV_CACHE/k3c"; }

prev_build() {
    if prev_cached >/dev/null; then
        return 0
    fi
    if ! git -C "$REPO" cat-file -e "$PREV_COMMIT^{commit}" 2>/dev/null; then
        echo "SKIP: commit $PREV_COMMIT is not in $REPO's history (a shallow clone?); set K3C_PREV_BIN"
        exit 77
    fi
    mkdir -p "$(dirname "$PREV_CACHE")"
    (
        flock -w 900 9 || exit 1
        [ -x "$PREV_CACHE/k3c" ] && exit 0
        src=$(mktemp -d "$(dirname "$PREV_CACHE")/prev-src.XXXXXX") || exit 1
        t0=$(date +%s)
        git -C "$REPO" archive "$PREV_COMMIT" | tar -x -C "$src" &&
            meson setup "$src/build" "$src" -Dtests=false >"$src/setup.log" 2>&1 &&
            nice ninja -C "$src/build" k3c >"$src/build.log" 2>&1 || {
            tail -n 20 "$src/setup.log" "$src/build.log" 2>/dev/null
            rm -rf "$src"
            exit 1
        }
        rm -rf "$PREV_CACHE.tmp"
        mkdir -p "$PREV_CACHE.tmp" && cp "$src/build/k3c" "$PREV_CACHE.tmp/k3c" &&
            mv "$PREV_CACHE.tmp" "$PREV_CACHE"
        echo "# k3c $PREV_COMMIT built in $(($(date +%s) - t0)) s into $PREV_CACHE"
        rm -rf "$src"
    ) 9>"$PREV_CACHE.lock" || {
        echo "FAIL: could not build k3c $PREV_COMMIT"
        exit 1
    }
}

# prev_bin BUILD: sets PREV_BIN; BUILD=1 builds the older k3c when it is not
# cached, else the caller is told (status 1) that there is none.
prev_bin() {
    if [ -n "${K3C_PREV_BIN:-}" ]; then
        PREV_BIN=$K3C_PREV_BIN
    elif prev_cached >/dev/null; then
        PREV_BIN=$(prev_cached)
    elif [ "$1" = 1 ]; then
        prev_build
        PREV_BIN=$(prev_cached)
    else
        return 1
    fi
    echo "# older k3c: $PREV_BIN ($("$PREV_BIN" --version))"
}
