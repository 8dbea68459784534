/* SPDX-License-Identifier: Apache-2.0
 * fuzz_rbac_rule.c - the RBAC matcher (rbac_rule_allows,
 * rbac_subject_matches in api_rbac.c): what any user with create on roles
 * writes as rules meets what any client asks. The input is
 * "<rule or subject JSON>\0<attributes>", the attributes being newline-
 * separated verb, group, resource, subresource, name, namespace, path.
 * Properties: a rule that allows a request still allows it without its
 * resourceNames; a rule never allows a resource request through its
 * nonResourceURLs or a non-resource request through its resources. */
#include "api/api-internal.h"
#include "api/api-rbac.h"
#include "base/util.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Splits text at newlines into up to n fields (pointers into text). */
static void
split_fields(char *text, const char **out, size_t n)
{
    char *p = text;

    for (size_t i = 0; i < n; i++) {
        out[i] = p ? p : "";
        if (p) {
            p = strchr(p, '\n');
            if (p)
                *p++ = '\0';
        }
    }
}

static void
check_rule(json_t *rule, const struct rbac_attrs *a)
{
    bool allowed = rbac_rule_allows(rule, a);

    if (!json_is_object(rule))
        return;
    if (allowed && json_object_get(rule, "resourceNames")) {
        json_t *wider = json_deep_copy(rule);

        json_object_del(wider, "resourceNames");
        FUZZ_CHECK(rbac_rule_allows(wider, a), "resourceNames widened the rule");
        json_decref(wider);
    }
    if (allowed && a->resource_request) {
        json_t *urls_only = json_deep_copy(rule);

        json_object_del(urls_only, "resources");
        FUZZ_CHECK(!rbac_rule_allows(urls_only, a), "a resource request matched without resources");
        json_decref(urls_only);
    }
    if (allowed && !a->resource_request) {
        json_t *res_only = json_deep_copy(rule);

        json_object_del(res_only, "nonResourceURLs");
        FUZZ_CHECK(!rbac_rule_allows(res_only, a), "a path matched without nonResourceURLs");
        json_decref(res_only);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    size_t json_len = nul ? (size_t)(nul - (const char *)data) : size;
    char *attrs_text = NULL;
    const char *f[7];
    json_t *rule = json_loadb((const char *)data, json_len, 0, NULL);
    struct api_user u = {.authenticated = true};
    struct rbac_attrs a;

    attrs_text = k3c_xstrndup(nul ? nul + 1 : "", nul ? size - json_len - 1 : 0);
    split_fields(attrs_text, f, K3C_ARRAY_SIZE(f));
    a = (struct rbac_attrs){.verb = f[0],
                            .resource_request = true,
                            .group = f[1],
                            .resource = f[2],
                            .subresource = f[3],
                            .name = f[4],
                            .namespace = f[5]};
    check_rule(rule, &a);
    a.resource_request = false;
    a.path = f[6];
    check_rule(rule, &a);
    snprintf(u.name, sizeof(u.name), "%s", f[4]);
    snprintf(u.groups[0], sizeof(u.groups[0]), "%.127s", f[1]);
    u.n_groups = 1;
    (void)rbac_subject_matches(rule, &u, f[5][0] ? f[5] : NULL);
    json_decref(rule);
    free(attrs_text);
    return 0;
}
