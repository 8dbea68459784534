/* SPDX-License-Identifier: Apache-2.0
 * api_object.c - small pure helpers on Kubernetes objects as jansson trees:
 * metadata access, storage encoding (resourceVersion lives in etcd's
 * mod_revision, not in the stored bytes), names, JSON merge patch. */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/util.h"

#include <inttypes.h>
#include <string.h>

json_t *
api_meta(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");

    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    return m;
}

const char *
api_meta_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

void
api_set_resource_version(json_t *obj, int64_t rev)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, rev);
    json_object_set_new(api_meta(obj), "resourceVersion", json_string(buf));
}

json_t *
api_object_from_kv(const struct store_kv *kv, struct k3c_err *err)
{
    json_error_t jerr;
    json_t *obj = k3c_json_loadb(kv->value, kv->value_len, 0, &jerr);

    if (!json_is_object(obj)) {
        json_decref(obj);
        k3c_err_set(err, K3C_E_INTERNAL, "stored object %s is not JSON: %s", kv->key, jerr.text);
        return NULL;
    }
    api_set_resource_version(obj, kv->mod_revision);
    return obj;
}

char *
api_object_encode(const json_t *obj, size_t *len)
{
    _cleanup_json_ json_t *copy = NULL;
    const json_t *meta = json_object_get(obj, "metadata");
    char *text;

    /* The revision is etcd's to keep; storing it would only go stale. A
     * copy of the top level and of metadata (the rest shared, keys in their
     * order) drops it without a deep copy of the whole object; a new object
     * has none and needs no copy. */
    if (!json_is_object(meta)) { /* as before: an empty metadata is written */
        copy = json_deep_copy(obj);
        api_meta(copy);
        obj = copy;
    } else if (json_object_get(meta, "resourceVersion")) {
        json_t *meta_copy = json_copy((json_t *)meta);

        copy = json_copy((json_t *)obj);
        json_object_del(meta_copy, "resourceVersion");
        json_object_set_new(copy, "metadata", meta_copy);
        obj = copy;
    }
    text = api_json_dumps_compact(obj, len);
    if (!text)
        *len = 0;
    return text;
}

/* The object member by member (json_dumps keeps the keys in their order),
 * noting where metadata ends: a create's reply is then the stored text
 * with the new resourceVersion put in there, not a second serialisation of
 * the whole object. */
char *
api_object_encode_marked_at(const json_t *obj, size_t *len, size_t *meta_start, size_t *meta_end)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *key;
    size_t key_len;
    json_t *v;
    struct k3c_buf b;
    bool first = true;

    if (!json_is_object(meta) || json_object_get(meta, "resourceVersion"))
        return NULL;
    k3c_buf_init(&b);
    k3c_buf_append(&b, "{", 1);
    *meta_start = *meta_end = 0;
    json_object_keylen_foreach((json_t *)obj, key, key_len, v)
    {
        size_t at;

        if (!first)
            k3c_buf_append(&b, ",", 1);
        first = false;
        at = b.len;
        if (!api_json_dump_member(&b, key, key_len, v)) {
            k3c_buf_fini(&b);
            return NULL;
        }
        if (v == meta) {
            *meta_start = at + strlen("\"metadata\":");
            *meta_end = b.len - 1;
        }
    }
    k3c_buf_append(&b, "}", 1);
    return k3c_buf_steal(&b, len);
}

char *
api_object_encode_marked(const json_t *obj, size_t *len, size_t *meta_end)
{
    size_t meta_start;

    return api_object_encode_marked_at(obj, len, &meta_start, meta_end);
}

char *
api_object_text_with_version(const char *text, size_t len, size_t meta_end, int64_t rev,
                             size_t *len_out)
{
    char rv[64];
    int rv_len = snprintf(rv, sizeof(rv), "%s\"resourceVersion\":\"%" PRId64 "\"",
                          text[meta_end - 1] == '{' ? "" : ",", rev);
    size_t out_len = len + (size_t)rv_len;
    char *out = k3c_xmalloc(out_len + 1);

    /* One allocation of the final size: this runs for every create's reply
     * and every entry the watch cache builds from an offer. */
    memcpy(out, text, meta_end);
    memcpy(out + meta_end, rv, (size_t)rv_len);
    memcpy(out + meta_end + rv_len, text + meta_end, len - meta_end);
    out[out_len] = '\0';
    *len_out = out_len;
    return out;
}

char *
api_object_key(const struct api_resource *res, const char *ns, const char *name)
{
    const char *dir = res->store_dir ? res->store_dir : res->plural;

    if (res->namespaced)
        return k3c_xasprintf("/registry/%s/%s/%s", dir, ns, name);
    return k3c_xasprintf("/registry/%s/%s", dir, name);
}

char *
api_list_prefix(const struct api_resource *res, const char *ns)
{
    const char *dir = res->store_dir ? res->store_dir : res->plural;

    if (res->namespaced && ns)
        return k3c_xasprintf("/registry/%s/%s/", dir, ns);
    return k3c_xasprintf("/registry/%s/", dir);
}

void
api_generate_name(const char *base, char *out, size_t len)
{
    /* Upstream's alphabet: no vowels (no words), no look-alikes. */
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char rnd[5];
    char suffix[6];

    k3c_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    suffix[5] = '\0';
    snprintf(out, len, "%.*s%s", 58, base, suffix);
}

void
api_merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)patch, key, value)
    {
        json_t *cur = json_object_get(target, key);

        if (json_is_null(value))
            json_object_del(target, key);
        else if (json_is_object(value) && json_is_object(cur))
            api_merge_patch(cur, value);
        else if (json_is_object(value)) {
            json_t *fresh = json_object();

            api_merge_patch(fresh, value);
            json_object_set_new(target, key, fresh);
        } else
            json_object_set(target, key, value);
    }
}

/* Everything but metadata and status: a change here bumps generation. */
bool
api_spec_changed(const json_t *old, const json_t *new)
{
    _cleanup_json_ json_t *a = json_deep_copy(old);
    _cleanup_json_ json_t *b = json_deep_copy(new);

    json_object_del(a, "metadata");
    json_object_del(a, "status");
    json_object_del(b, "metadata");
    json_object_del(b, "status");
    return !json_equal(a, b);
}
