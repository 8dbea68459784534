/* SPDX-License-Identifier: Apache-2.0
 * admission.h - dynamic admission (issue #17): the mutating and validating
 * webhooks of admissionregistration.k8s.io/v1, called with AdmissionReview
 * v1 over HTTPS on every write the API server admits (docs/webhooks.md).
 * The configurations come from the API server's watch caches; calls go
 * through the one HTTP client (client/client.h).
 * Thread: the request's; nothing is shared but the caches. */
#ifndef K3C_ADMISSION_ADMISSION_H
#define K3C_ADMISSION_ADMISSION_H

#include <jansson.h>

struct api_request;

enum admission_op {
    ADMISSION_CREATE,
    ADMISSION_UPDATE,
    ADMISSION_DELETE,
    ADMISSION_CONNECT, /* pods/exec, attach, portforward */
};

/* Why a request was refused: the Status to answer with. */
struct admission_denial {
    unsigned code;   /* HTTP status, >= 400 */
    char reason[64]; /* Status reason ("Forbidden", "InternalError", ...) */
    char message[1024];
};

/* Runs the mutating webhooks that match the request on obj (changed in
 * place by their JSON patches; reinvocationPolicy IfNeeded honoured); old
 * is the stored object on UPDATE and DELETE, NULL on CREATE. Warnings go
 * to r->warnings. Returns 0 when admitted unchanged, 1 when admitted and
 * patched, -1 with *d when refused (a denial, or a failed call under
 * failurePolicy Fail). */
int admission_mutate(struct api_request *r, enum admission_op op, json_t *obj, const json_t *old,
                     struct admission_denial *d);
/* Runs the validating webhooks that match, in parallel (one thread per
 * call beyond the first); their answers are judged in the order of their
 * configurations' names, so the first denial in that order answers. Same
 * contract; obj is NULL on DELETE. */
int admission_validate(struct api_request *r, enum admission_op op, const json_t *obj,
                       const json_t *old, struct admission_denial *d);

/* pods/exec, pods/attach and pods/portforward (CONNECT, with the
 * PodExecOptions/PodAttachOptions/PodPortForwardOptions of the query as
 * the object): the mutating webhooks' patches are ignored (there is
 * nothing to patch), then the validating webhooks run. Same contract. */
int admission_connect(struct api_request *r, struct admission_denial *d);

#endif
