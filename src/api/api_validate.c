/* SPDX-License-Identifier: Apache-2.0
 * api_validate.c - placeholder. */
#include "api/api-internal.h"
