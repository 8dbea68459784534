/* SPDX-License-Identifier: Apache-2.0
 * api_resources.c - placeholder. */
#include "api/api-internal.h"
