/* SPDX-License-Identifier: Apache-2.0
 * api_watchcache.c - placeholder. */
#include "api/api-internal.h"
