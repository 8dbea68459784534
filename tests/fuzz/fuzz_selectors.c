/* SPDX-License-Identifier: Apache-2.0
 * fuzz_selectors.c - label and field selectors (label_selector_parse,
 * field_selector_parse and their matchers), as ?labelSelector= and
 * ?fieldSelector= reach them. The input is "<label>\0<field>"; without a NUL
 * the whole input is tried as both. Label selectors are matched against a
 * few fixed label sets (and none), field selectors with the Pod's supported
 * fields against a fixed Pod. */
#include "api/api-internal.h"
#include "fuzz.h"

static const char labels_text[] =
    "[{\"app\":\"web\",\"tier\":\"frontend\",\"version\":\"3\",\"example.com/owner\":\"team-a\","
    "\"empty\":\"\"},{},{\"app\":\"db\",\"replicas\":\"10\",\"neg\":\"-2\",\"big\":"
    "\"99999999999999999999\"}]";

static const char pod_text[] =
    "{\"metadata\":{\"name\":\"web-0\",\"namespace\":\"default\"},\"spec\":{\"nodeName\":\"n1\","
    "\"restartPolicy\":\"Always\",\"schedulerName\":\"default-scheduler\",\"serviceAccountName\":"
    "\"default\",\"hostNetwork\":false},\"status\":{\"phase\":\"Running\",\"podIP\":"
    "\"10.42.0.5\",\"nominatedNodeName\":\"\"}}";

static json_t *label_sets; /* an array of label objects */
static json_t *pod;
static const char *const *pod_fields;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct api_resource *r = api_resource_find("", "v1", "pods");

    (void)argc;
    (void)argv;
    fuzz_quiet();
    label_sets = json_loads(labels_text, 0, NULL);
    pod = json_loads(pod_text, 0, NULL);
    FUZZ_CHECK(label_sets && pod && r, "fixtures");
    pod_fields = r->field_selectors;
    return 0;
}

static const char *
pod_get(void *ud, const char *field)
{
    return api_json_path_string(pod, field, ud, 64);
}

static void
try_label(const char *s)
{
    struct k3c_err err = {0};
    struct label_selector *sel = label_selector_parse(s, &err);
    size_t i;
    json_t *labels;

    if (!sel) {
        FUZZ_CHECK(err.kind == K3C_E_BAD_REQUEST, "a label parse failure other than BAD_REQUEST");
        return;
    }
    json_array_foreach(label_sets, i, labels)
    {
        (void)label_selector_matches(sel, labels);
    }
    (void)label_selector_matches(sel, NULL);
    label_selector_free(sel);
}

static void
try_field(const char *s)
{
    struct k3c_err err = {0};
    struct field_selector *sel = field_selector_parse(s, pod_fields, &err);
    char buf[64];

    if (!sel) {
        FUZZ_CHECK(err.kind == K3C_E_BAD_REQUEST, "a field parse failure other than BAD_REQUEST");
        return;
    }
    (void)field_selector_matches(sel, pod_get, buf);
    field_selector_free(sel);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    bool split = fuzz_split(data, size, &a, &a_len, &b, &b_len);
    char *ls = fuzz_strndup(a, a_len);
    char *fs = split ? fuzz_strndup(b, b_len) : NULL;

    if (ls) {
        try_label(ls);
        try_field(fs ? fs : ls);
    }
    free(ls);
    free(fs);
    return 0;
}
