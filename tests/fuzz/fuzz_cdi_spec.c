/* SPDX-License-Identifier: Apache-2.0
 * fuzz_cdi_spec.c - the CDI spec parser (issue #18): any file a package or
 * an operator drops in /etc/cdi or /var/run/cdi is read by the agent. The
 * first byte picks JSON ('j') or YAML (any other); a spec that parses has its first device's
 * edits (and the spec's) applied to a fixed OCI config, host device nodes
 * excluded (stat of fuzzer-chosen paths is not what is under test). */
#include "cdi/cdi.h"
#include "fuzz.h"

#include <string.h>

static const char oci_text[] =
    "{\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"env\":[\"PATH=/bin\"]},\"mounts\":"
    "[{\"destination\":\"/proc\"},{\"destination\":\"/dev\"}],\"linux\":{}}";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void
apply_without_nodes(json_t *oci, json_t *edits)
{
    struct k3c_err err = {0};

    if (!json_is_object(edits))
        return;
    json_object_del(edits, "deviceNodes");
    FUZZ_CHECK(cdi_edits_apply(oci, edits, &err) == 0, "edits of a valid spec apply");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k3c_err err = {0};
    json_t *spec, *oci;

    if (size < 1)
        return 0;
    spec = cdi_spec_parse((const char *)data + 1, size - 1, data[0] == 'j' ? "f.json" : "f.yaml",
                          &err);
    if (!spec) {
        FUZZ_CHECK(err.msg[0] != '\0', "an error says why");
        return 0;
    }
    FUZZ_CHECK(cdi_spec_validate(spec, &err) == 0, "a parsed spec validates again");
    oci = json_loads(oci_text, 0, NULL);
    apply_without_nodes(oci, json_object_get(spec, "containerEdits"));
    apply_without_nodes(oci, json_object_get(json_array_get(json_object_get(spec, "devices"), 0),
                                             "containerEdits"));
    json_decref(oci);
    json_decref(spec);
    return 0;
}
