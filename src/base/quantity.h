/* SPDX-License-Identifier: Apache-2.0
 * quantity.h - Kubernetes resource quantities ("500m", "1Gi", "1e3") in the
 * canonical form kube-apiserver's typed round trip gives them
 * (k8s.io/apimachinery resource.Quantity): the value is rounded up to
 * nano, then written with no fractional digits, the largest exponent or
 * suffix that keeps it exact, and the format it was given in (decimal SI,
 * binary SI, or decimal exponent; binary values below 1024 or with a
 * fraction fall back to decimal SI). Examples: "0.5" -> "500m",
 * "1000" -> "1k", "1500" -> "1500", "1024Mi" -> "1Gi", "1.5Gi" -> "1536Mi",
 * "0.5Ki" -> "512", "2000m" -> "2", "1e3" -> "1e3". Pure; any thread. */
#ifndef K3C_BASE_QUANTITY_H
#define K3C_BASE_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K3C_QUANTITY_MAX 64 /* bytes, NUL included, of any canonical form */

/* Writes the canonical form of s into out (K3C_QUANTITY_MAX bytes). False
 * when s is not a quantity, or is one whose canonical form needs more than
 * 64-bit precision (the caller keeps what it has). */
bool k3c_quantity_canonical(const char *s, char out[K3C_QUANTITY_MAX]);

/* s * 10^scale as an integer, rounded up as resource.Quantity's MilliValue
 * (scale 3) and Value (scale 0) round: 0, or K3C_QUANTITY_SYNTAX when s is
 * not a quantity, K3C_QUANTITY_RANGE when the result is past int64. The one
 * quantity parser: the kubelet, scheduler, quota, HPA and eviction use it. */
#define K3C_QUANTITY_SYNTAX (-1)
#define K3C_QUANTITY_RANGE  (-2)
int k3c_quantity_scaled(const char *s, int scale, int64_t *out);

#endif
