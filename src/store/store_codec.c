/* SPDX-License-Identifier: Apache-2.0
 * store_codec.c - pure encoding helpers for the etcd JSON gateway (base64
 * keys and values, int64 as strings) and Kubernetes continue tokens. */
#include "base/cleanup.h"
#include "base/util.h"
#include "store/store-internal.h"
#include "store/store_encrypt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

char *
store_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = k3c_xstrdup(prefix);

    /* Increment the last byte that is not 0xff, dropping what follows it. */
    while (n > 0) {
        unsigned char c = (unsigned char)end[n - 1];

        if (c < 0xff) {
            end[n - 1] = (char)(c + 1);
            end[n] = '\0';
            return end;
        }
        n--;
    }
    /* Empty prefix or all 0xff: etcd's "\0" means "to the end". */
    end = k3c_xrealloc(end, 2);
    end[0] = '\0';
    return end;
}

json_t *
store_json_b64(const char *s)
{
    _cleanup_free_ char *b = k3c_base64_encode(s, strlen(s));

    /* Base64 is ASCII: skip jansson's UTF-8 scan. */
    return json_string_nocheck(b);
}

int64_t
store_json_int64(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static char *
b64_field(const json_t *j, const char *field, size_t *len, struct k3c_err *err)
{
    const char *s = json_string_value(json_object_get(j, field));
    char *out;

    if (!s) {
        /* proto3 JSON leaves empty fields out: an empty value is "". */
        if (len)
            *len = 0;
        return k3c_xstrdup("");
    }
    out = k3c_base64_decode(s, len);
    if (!out)
        k3c_err_set(err, K3C_E_INTERNAL, "etcd: bad base64 in field %s", field);
    return out;
}

int
store_kv_from_json(const json_t *j, struct store_kv *kv, struct k3c_err *err)
{
    memset(kv, 0, sizeof(*kv));
    kv->key = b64_field(j, "key", NULL, err);
    if (!kv->key)
        return -1;
    kv->value = b64_field(j, "value", &kv->value_len, err);
    if (!kv->value || store_value_open(kv->key, &kv->value, &kv->value_len, err) < 0) {
        store_kv_fini(kv);
        return -1;
    }
    kv->create_revision = store_json_int64(j, "create_revision");
    kv->mod_revision = store_json_int64(j, "mod_revision");
    kv->version = store_json_int64(j, "version");
    kv->lease = store_json_int64(j, "lease");
    return 0;
}

void
store_kv_fini(struct store_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

char *
store_continue_encode(int64_t revision, const char *start_relative)
{
    _cleanup_json_ json_t *tok = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv",
                                           (json_int_t)revision, "start", start_relative);
    _cleanup_free_ char *text = json_dumps(tok, JSON_COMPACT);

    return k3c_base64_encode(text, strlen(text));
}

int
store_continue_decode(const char *token, int64_t *revision, char **start_relative,
                      struct k3c_err *err)
{
    _cleanup_free_ char *text = k3c_base64_decode(token, NULL);
    _cleanup_json_ json_t *tok = NULL;
    const char *v, *start;
    json_int_t rv;

    if (!text)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key is not valid base64");
    tok = json_loads(text, 0, NULL);
    if (!tok || json_unpack(tok, "{s:s, s:I, s:s}", "v", &v, "rv", &rv, "start", &start) < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key is not valid");
    if (strcmp(v, "meta.k8s.io/v1") != 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key version %s is not supported", v);
    if (rv <= 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key has an invalid revision");
    /* A relative key must not escape the prefix it continues. */
    if (start[0] == '/' || strstr(start, "..") != NULL)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key points outside the list");
    *revision = rv;
    *start_relative = k3c_xstrdup(start);
    return 0;
}
