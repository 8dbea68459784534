/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.h - the build's version: the release (meson.build's, K3C_VERSION)
 * and the git commit it was built from (`git describe --always --dirty`,
 * written into the build by meson's vcs_tag; empty when built outside git).
 * Two builds of one release from different commits differ in
 * k3c_version_full(), which `k3c --version`, the Node's kubeletVersion and
 * /version show, so a rolling upgrade can tell its servers apart.
 */
#ifndef K3C_BASE_VERSION_H
#define K3C_BASE_VERSION_H

/* The commit, e.g. "8cdec94d1a2b" or "8cdec94d1a2b-dirty"; "" when unknown. */
extern const char k3c_commit[];

/* "0.1.0-g8cdec94d1a2b" (the release and the commit as semver build
 * metadata-safe characters), or "0.1.0" when the commit is unknown. */
const char *k3c_version_full(void);

#endif
