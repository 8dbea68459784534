/* SPDX-License-Identifier: Apache-2.0
 * podspec_security.c - pod and container securityContext → the identity and
 * privilege fields of runtime_spec. The container's context wins over the
 * pod's; the image's USER is the fallback for the uid/gid. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "podspec/podspec-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

/* sc[key] from the container, else the pod. */
static const json_t *
sc_get(const json_t *pod_sc, const json_t *c_sc, const char *key)
{
    const json_t *v = json_object_get(c_sc, key);
    return v ? v : json_object_get(pod_sc, key);
}

static bool
parse_u32(const char *s, uint32_t *out)
{
    char *end = NULL;
    unsigned long v;

    if (!s || !*s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Looks up an entry of an /etc/passwd or /etc/group style file of rootfs by
 * name (field 1), or by id (field 3) when name is NULL: *id gets field 3 and,
 * for passwd, *gid field 4 (the primary group). */
static bool
db_lookup(const char *rootfs, const char *file, const char *name, uint32_t *id, uint32_t *gid)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%s", rootfs, file);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[1024];

    if (!f)
        return false;
    for (int n = 0; n < 100000 && fgets(line, sizeof(line), f); n++) {
        char *fields[4] = {0};
        char *p = line;
        int i = 0;
        uint32_t this_id = 0;

        line[strcspn(line, "\n")] = '\0';
        for (; i < 4; i++) {
            fields[i] = p;
            p = strchr(p, ':');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (i < 2 || !parse_u32(fields[2], &this_id))
            continue;
        if (name ? strcmp(fields[0], name) != 0 : this_id != *id)
            continue;
        *id = this_id;
        if (gid && (i < 3 || !parse_u32(fields[3], gid)))
            *gid = 0;
        return true;
    }
    return false;
}

/* Image USER: "", "uid", "uid:gid", "name", "name:group" (as containerd:
 * without a group, the user's primary group from the image's /etc/passwd). */
static int
image_user(const char *user, const char *rootfs, uint32_t *uid, uint32_t *gid, struct k3c_err *err)
{
    _cleanup_free_ char *u = NULL;
    char *g;

    *uid = 0;
    *gid = 0;
    if (!user || !*user)
        return 0;
    u = k3c_xstrdup(user);
    g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    if (parse_u32(u, uid)) {
        uint32_t id = *uid;
        if (rootfs && !db_lookup(rootfs, "etc/passwd", NULL, &id, gid))
            *gid = 0;
    } else if (!rootfs || !db_lookup(rootfs, "etc/passwd", u, uid, gid)) {
        return k3c_err_set(err, K3C_E_INVALID, "image user \"%s\": no such user in /etc/passwd",
                           user);
    }
    if (g && *g && !parse_u32(g, gid) && !(rootfs && db_lookup(rootfs, "etc/group", g, gid, NULL)))
        return k3c_err_set(err, K3C_E_INVALID, "image user \"%s\": no such group in /etc/group",
                           user);
    return 0;
}

static char **
cap_list(const json_t *arr)
{
    char **v = NULL;
    size_t n = 0, i;
    json_t *s;

    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s))
            podspec_strv_push(&v, &n, k3c_xstrdup(json_string_value(s)));
    }
    return v;
}

static bool
strv_has(char **v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcasecmp(v[i], s) == 0)
            return true;
    return false;
}

static void
add_group(struct podspec_security *sec, uint32_t g)
{
    for (size_t i = 0; i < sec->n_groups; i++)
        if (sec->groups[i] == g)
            return;
    sec->groups = k3c_xrealloc(sec->groups, (sec->n_groups + 1) * sizeof(uint32_t));
    sec->groups[sec->n_groups++] = g;
}

static int
id_field(const json_t *v, const char *name, uint32_t *out, struct k3c_err *err)
{
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
        return k3c_err_set(err, K3C_E_INVALID, "securityContext.%s: not a valid id", name);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

int
podspec_security_build(const json_t *pod, const json_t *container, const char *image_user_str,
                       const char *rootfs, struct podspec_security *out, struct k3c_err *err)
{
    const json_t *psc = json_object_get(json_object_get(pod, "spec"), "securityContext");
    const json_t *csc = json_object_get(container, "securityContext");
    struct podspec_security sec = {0};
    const json_t *caps = json_object_get(csc, "capabilities");
    const json_t *ape = json_object_get(csc, "allowPrivilegeEscalation");
    size_t i;
    json_t *g;

    if (image_user(image_user_str, rootfs, &sec.uid, &sec.gid, err) < 0)
        return -1;
    if (id_field(sc_get(psc, csc, "runAsUser"), "runAsUser", &sec.uid, err) < 0 ||
        id_field(sc_get(psc, csc, "runAsGroup"), "runAsGroup", &sec.gid, err) < 0)
        return -1;
    if (json_is_true(sc_get(psc, csc, "runAsNonRoot")) && sec.uid == 0)
        return k3c_err_set(err, K3C_E_INVALID,
                           "container has runAsNonRoot and image will run as root");
    json_array_foreach(json_object_get(psc, "supplementalGroups"), i, g)
    {
        uint32_t id = 0;
        if (id_field(g, "supplementalGroups", &id, err) < 0) {
            podspec_security_fini(&sec);
            return -1;
        }
        add_group(&sec, id);
    }
    const json_t *fsg = json_object_get(psc, "fsGroup");
    if (fsg) {
        uint32_t id = 0;
        if (id_field(fsg, "fsGroup", &id, err) < 0) {
            podspec_security_fini(&sec);
            return -1;
        }
        add_group(&sec, id);
    }
    sec.privileged = json_is_true(json_object_get(csc, "privileged"));
    sec.readonly_rootfs = json_is_true(json_object_get(csc, "readOnlyRootFilesystem"));
    sec.cap_add = cap_list(json_object_get(caps, "add"));
    sec.cap_drop = cap_list(json_object_get(caps, "drop"));
    /* upstream: no_new_privs only when explicitly disallowed, and never for
     * privileged containers or ones that add CAP_SYS_ADMIN */
    sec.no_new_privileges = json_is_false(ape) && !sec.privileged &&
                            !strv_has(sec.cap_add, "SYS_ADMIN") &&
                            !strv_has(sec.cap_add, "CAP_SYS_ADMIN");
    *out = sec;
    return 0;
}

void
podspec_security_fini(struct podspec_security *sec)
{
    free(sec->groups);
    podspec_strv_free(sec->cap_add);
    podspec_strv_free(sec->cap_drop);
    *sec = (struct podspec_security){0};
}

void
podspec_security_apply(const struct podspec_security *sec, struct runtime_spec *spec)
{
    spec->uid = sec->uid;
    spec->gid = sec->gid;
    spec->supplemental_gids = sec->groups;
    spec->n_supplemental_gids = sec->n_groups;
    spec->privileged = sec->privileged;
    spec->readonly_rootfs = sec->readonly_rootfs;
    spec->no_new_privileges = sec->no_new_privileges;
    spec->cap_add = (const char *const *)sec->cap_add;
    spec->cap_drop = (const char *const *)sec->cap_drop;
}
