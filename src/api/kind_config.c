/* SPDX-License-Identifier: Apache-2.0
 * kind_config.c - ConfigMap, Secret and ServiceAccount: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/configmap, core/secret and core/serviceaccount/strategy.go
 * (Kubernetes 1.32). Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_configmap[] = {
    COL_NAME,
    {"Data", "string", "",
     "Data contains the configuration data. Each key must consist of alphanumeric characters, "
     "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
     "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
     "enforced during validation process.",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_secret[] = {
    COL_NAME,
    {"Type", "string", "",
     "Used to facilitate programmatic handling of secret data. More info: "
     "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
     0},
    {"Data", "string", "",
     "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
     "or '.'. The serialized form of the secret data is a base64 encoded string, representing "
     "the arbitrary (possibly non-string) data value here. Described in "
     "https://tools.ietf.org/html/rfc4648#section-4",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_serviceaccount[] = {
    COL_NAME,
    {"Secrets", "string", "",
     "Secrets is a list of the secrets in the same namespace that pods running using this "
     "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
     "account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
     "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer "
     "separate namespaces to isolate access to mounted secrets. This field should not be used to "
     "find auto-generated service account token secrets for use outside of pods. Instead, tokens "
     "can be requested directly using the TokenRequest API, or service account token secrets can "
     "be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
     0},
    COL_AGE,
    COL_END,
};

json_t *
api_row_configmap(const json_t *obj, int64_t now_s)
{
    size_t n = json_object_size(json_object_get(obj, "data")) +
               json_object_size(json_object_get(obj, "binaryData"));

    return json_pack("[o I o]", api_name_cell(obj), (json_int_t)n, api_age_cell(obj, now_s));
}

json_t *
api_row_secret(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s I o]", api_name_cell(obj), api_or_else(api_str_at(obj, "type"), ""),
                     (json_int_t)json_object_size(json_object_get(obj, "data")),
                     api_age_cell(obj, now_s));
}

json_t *
api_row_serviceaccount(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I o]", api_name_cell(obj),
                     (json_int_t)json_array_size(json_object_get(obj, "secrets")),
                     api_age_cell(obj, now_s));
}

/* Keys as IsConfigMapKey at "<bag>[<key>]"; returns the values' total size
 * (base64-decoded when decode, with undecodable values reported). */
static size_t
validate_data_bag(const json_t *bag, const char *name, bool decode, json_t *causes)
{
    size_t total = 0;
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)bag, k, v)
    {
        _cleanup_free_ char *f = k3c_xasprintf("%s[%s]", name, k);
        _cleanup_free_ char *raw = NULL;
        size_t len = strlen(api_or_empty(json_string_value(v)));

        api_check_field(causes, f, k, api_check_config_key);
        if (decode) {
            raw = k3c_base64_decode(api_or_empty(json_string_value(v)), &len);
            if (!raw || !json_is_string(v))
                api_cause_add(causes, "FieldValueInvalid", f, "Invalid value: illegal base64 data");
        }
        total += len;
    }
    return total;
}

/* immutable: true freezes data and the flag itself. */
static void
check_immutable_data(const json_t *obj, const json_t *old, json_t *causes)
{
    static const char *const bags[] = {"data", "binaryData", NULL};
    static const char detail[] = "field is immutable when `immutable` is set";

    if (!old || !json_is_true(json_object_get(old, "immutable")))
        return;
    if (!json_is_true(json_object_get(obj, "immutable")))
        api_cause_forbidden(causes, "immutable", detail);
    for (size_t i = 0; bags[i]; i++) {
        if (!json_equal(json_object_get(obj, bags[i]), json_object_get(old, bags[i])))
            api_cause_forbidden(causes, bags[i], detail);
    }
}

void
api_validate_configmap(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *data = json_object_get(obj, "data");
    const json_t *binary = json_object_get(obj, "binaryData");
    size_t total = 0;
    const char *k = NULL;
    json_t *v = NULL;

    total += validate_data_bag(data, "data", false, causes);
    total += validate_data_bag(binary, "binaryData", true, causes);
    json_object_foreach((json_t *)data, k, v)
    {
        _cleanup_free_ char *f = k3c_xasprintf("data[%s]", k);

        if (json_object_get(binary, k))
            api_cause_invalid_str(causes, f, k, "duplicate of key present in binaryData");
    }
    if (total > MAX_DATA_SIZE)
        api_cause_too_long(causes, "", MAX_DATA_SIZE);
    check_immutable_data(obj, old, causes);
}

/* Keys a typed secret must carry (ValidateSecret). */
static const struct {
    const char *type, *key;
} secret_required_keys[] = {
    {"kubernetes.io/dockercfg", ".dockercfg"},
    {"kubernetes.io/dockerconfigjson", ".dockerconfigjson"},
    {"kubernetes.io/ssh-auth", "ssh-privatekey"},
    {"kubernetes.io/tls", "tls.crt"},
    {"kubernetes.io/tls", "tls.key"},
};

void
api_validate_secret(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *data = json_object_get(obj, "data");
    const char *type = api_or_empty(api_str_at(obj, "type"));

    if (validate_data_bag(data, "data", true, causes) > MAX_DATA_SIZE)
        api_cause_too_long(causes, "data", MAX_DATA_SIZE);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(secret_required_keys); i++) {
        _cleanup_free_ char *f = NULL;

        if (strcmp(type, secret_required_keys[i].type) != 0 ||
            json_object_get(data, secret_required_keys[i].key))
            continue;
        f = k3c_xasprintf("data[%s]", secret_required_keys[i].key);
        api_cause_required(causes, f, NULL);
    }
    if (strcmp(type, "kubernetes.io/service-account-token") == 0 &&
        /* a plain lookup: api_str_at would split the key at its dots */
        api_is_empty(json_string_value(
            json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                            "kubernetes.io/service-account.name"))))
        api_cause_required(causes, "metadata.annotations[kubernetes.io/service-account.name]",
                           NULL);
    if (old && strcmp(type, api_or_empty(api_str_at(old, "type"))) != 0)
        api_cause_invalid_str(causes, "type", type, api_msg_immutable);
    check_immutable_data(obj, old, causes);
}

/* type Opaque; stringData is folded into data (base64), as upstream's
 * conversion does, so it is never stored. */
void
api_defaults_secret(json_t *obj)
{
    json_t *strings = json_object_get(obj, "stringData");
    json_t *data = NULL;
    const char *k = NULL;
    json_t *v = NULL;

    api_default_take(obj, "type", json_string("Opaque"));
    if (!json_is_object(strings) || json_object_size(strings) == 0) {
        json_object_del(obj, "stringData");
        return;
    }
    data = api_ensure_object(obj, "data");
    json_object_foreach(strings, k, v)
    {
        const char *s = api_or_empty(json_string_value(v));
        _cleanup_free_ char *enc = k3c_base64_encode(s, strlen(s));

        json_object_set_new(data, k, json_string(enc));
    }
    json_object_del(obj, "stringData");
}
