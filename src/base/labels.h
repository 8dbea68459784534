/* SPDX-License-Identifier: Apache-2.0
 * labels.h - metav1.LabelSelector matching ({matchLabels, matchExpressions}
 * with In, NotIn, Exists, DoesNotExist) for the parts that hold objects as
 * JSON: the control loops and the agents' NetworkPolicy enforcement.
 * (The API server's string selectors are api_selector.c.) */
#ifndef K3C_BASE_LABELS_H
#define K3C_BASE_LABELS_H

#include <jansson.h>
#include <stdbool.h>

/* True when labels (an object, may be NULL) satisfy selector. A selector
 * that is not an object (NULL included) matches nothing; an empty one
 * matches everything; an expression without key or operator never matches. */
bool k3c_label_selector_matches(const json_t *selector, const json_t *labels);

#endif
