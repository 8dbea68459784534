/* SPDX-License-Identifier: Apache-2.0
 * image_ref.c - image references: parsing and normalisation with Docker's
 * rules (distribution/reference: normalize.go, regexp.go), and the escaped
 * form that names a record file. Pure functions; thread: any. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <ctype.h>
#include <string.h>

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]* */
static bool
path_component_valid(const char *s, size_t len)
{
    size_t i = 0;

    if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return false;
    while (i < len) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* A separator: one '.' or '_', two '_', or any number of '-'. */
        size_t j = i;

        if (s[i] == '.') {
            j++;
        } else if (s[i] == '_') {
            j++;
            if (j < len && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < len && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= len || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* domain := component ('.' component)* (':' port)?, component :=
 * [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool
domain_valid(const char *s)
{
    const char *colon = strchr(s, ':');
    size_t hostlen = colon ? (size_t)(colon - s) : strlen(s);
    size_t start = 0;

    if (hostlen == 0)
        return false;
    for (size_t i = 0; i <= hostlen; i++) {
        if (i < hostlen && s[i] != '.') {
            if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false;
        start = i + 1;
    }
    if (colon) {
        if (colon[1] == '\0')
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    return true;
}

/* tag := [\w][\w.-]{0,127} */
static bool
tag_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

bool
image_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

void
image_ref_fini(struct image_ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    *r = (struct image_ref){0};
}

int
image_ref_parse(const char *s, struct image_ref *out, struct k3c_err *err)
{
    _cleanup_free_ char *name = NULL, *tag = NULL, *digest = NULL;
    _cleanup_free_ char *domain = NULL, *path = NULL;
    const char *at, *slash, *colon, *rest;

    if (!s || !*s || strlen(s) > 512)
        return k3c_err_set(err, K3C_E_INVALID, "image reference \"%.64s\": empty or too long",
                           s ? s : "");
    at = strchr(s, '@');
    if (at) {
        digest = k3c_xstrdup(at + 1);
        if (!image_digest_valid(digest))
            return k3c_err_set(err, K3C_E_INVALID,
                               "image reference \"%s\": digest must be sha256:<64 hex digits>", s);
        name = k3c_xstrndup(s, (size_t)(at - s));
    } else {
        name = k3c_xstrdup(s);
    }
    /* A tag is the part after the last ':' that follows the last '/' (a
     * ':' before it belongs to the domain's port). */
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        tag = k3c_xstrdup(colon + 1);
        name[colon - name] = '\0';
        if (!tag_valid(tag))
            return k3c_err_set(err, K3C_E_INVALID, "image reference \"%s\": invalid tag \"%s\"", s,
                               tag);
    }
    /* Docker's splitDockerDomain: the first component is a domain when it
     * has a '.' or ':', is "localhost", or has upper-case letters. */
    slash = strchr(name, '/');
    if (slash) {
        _cleanup_free_ char *first = k3c_xstrndup(name, (size_t)(slash - name));
        bool upper = false;

        for (const char *p = first; *p; p++)
            upper |= isupper((unsigned char)*p) != 0;
        if (strpbrk(first, ".:") || strcmp(first, "localhost") == 0 || upper) {
            domain = TAKE_PTR(first);
            rest = slash + 1;
        } else {
            rest = name;
        }
    } else {
        rest = name;
    }
    if (!domain || strcmp(domain, "index.docker.io") == 0) {
        free(domain);
        domain = k3c_xstrdup("docker.io");
    }
    if (strcmp(domain, "docker.io") == 0 && !strchr(rest, '/'))
        path = k3c_xasprintf("library/%s", rest);
    else
        path = k3c_xstrdup(rest);
    if (!domain_valid(domain))
        return k3c_err_set(err, K3C_E_INVALID, "image reference \"%s\": invalid registry \"%s\"", s,
                           domain);
    for (const char *p = path;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);

        if (!path_component_valid(p, len))
            return k3c_err_set(err, K3C_E_INVALID,
                               "image reference \"%s\": invalid repository name \"%s\"", s, path);
        if (!e)
            break;
        p = e + 1;
    }
    if (strlen(domain) + 1 + strlen(path) > 255)
        return k3c_err_set(err, K3C_E_INVALID, "image reference \"%.64s...\": name too long", s);
    if (!tag && !digest)
        tag = k3c_xstrdup("latest");
    out->domain = TAKE_PTR(domain);
    out->path = TAKE_PTR(path);
    out->tag = TAKE_PTR(tag);
    out->digest = TAKE_PTR(digest);
    return 0;
}

char *
image_ref_string(const struct image_ref *r)
{
    return k3c_xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
                         r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *
image_ref_escape(const char *ref)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++) {
        if (isalnum(*p) || *p == '.' || *p == '_' || *p == '-')
            k3c_buf_append(&b, p, 1);
        else
            k3c_buf_appendf(&b, "%%%02X", *p);
    }
    return k3c_buf_steal(&b, NULL);
}
