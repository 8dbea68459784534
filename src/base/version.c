/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.c - k3c_version_full: the release plus the commit (version.h).
 */
#include "base/version.h"

#include <pthread.h>
#include <stdio.h>

static char version_full[96];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void
version_format(void)
{
    if (k3c_commit[0] != '\0')
        snprintf(version_full, sizeof(version_full), "%s-g%s", K3C_VERSION, k3c_commit);
    else
        snprintf(version_full, sizeof(version_full), "%s", K3C_VERSION);
}

const char *
k3c_version_full(void)
{
    pthread_once(&version_once, version_format);
    return version_full;
}
