/* SPDX-License-Identifier: Apache-2.0
 * api_table.c - placeholder. */
#include "api/api-internal.h"
