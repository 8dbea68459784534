/* SPDX-License-Identifier: Apache-2.0
 * admission_connect.c - CONNECT requests (pods/exec, attach, portforward)
 * through the webhooks: the object is the options the query carries
 * (PodExecOptions, PodAttachOptions, PodPortForwardOptions), as upstream's
 * connect admission sends them. */
#include "admission/admission.h"
#include "api/api-internal.h"
#include "base/cleanup.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result
add_option(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    static const char *const flags[] = {"stdin", "stdout", "stderr", "tty"};
    json_t *opts = cls;

    (void)kind;
    if (!key)
        return MHD_YES;
    value = value ? value : "";
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(key, flags[i]) == 0)
            json_object_set_new(
                opts, key, json_boolean(strcmp(value, "true") == 0 || strcmp(value, "1") == 0));
    if (strcmp(key, "container") == 0)
        json_object_set_new(opts, key, json_string(value));
    if (strcmp(key, "command") == 0 || strcmp(key, "ports") == 0) {
        json_t *list = json_object_get(opts, key);

        if (!list) {
            list = json_array();
            json_object_set_new(opts, key, list);
        }
        json_array_append_new(list, strcmp(key, "ports") == 0 ? json_integer(atoi(value))
                                                              : json_string(value));
    }
    return MHD_YES;
}

int
admission_connect(struct api_request *r, struct admission_denial *d)
{
    _cleanup_json_ json_t *opts = json_pack("{s:s}", "apiVersion", "v1");
    _cleanup_json_ json_t *scratch = NULL;

    if (r->conn)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_option, opts);
    /* mutating webhooks are called too; what they change is not used */
    scratch = json_deep_copy(opts);
    if (admission_mutate(r, ADMISSION_CONNECT, scratch, NULL, d) < 0)
        return -1;
    return admission_validate(r, ADMISSION_CONNECT, opts, NULL, d);
}
