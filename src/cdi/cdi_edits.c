/* SPDX-License-Identifier: Apache-2.0
 * cdi_edits.c - one CDI containerEdits object applied to an OCI config.json,
 * in the order and with the rules of CDI's ContainerEdits.Apply: env
 * replace-or-append; device nodes completed from the host (type, major,
 * minor), given the process's uid/gid when unset, replacing one at the same
 * path, each b/c node with a cgroup allow rule; mounts replacing one at the
 * same destination, then the mount list sorted parents first (stable, so
 * the runtime's defaults keep their order); hooks appended per kind;
 * additionalGids added once; netDevices and intelRdt set. */
#define LOG_COMPONENT "cdi"
#include "cdi/cdi.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static json_t *
obj_child(json_t *parent, const char *key, bool array)
{
    json_t *v = json_object_get(parent, key);

    if (!v || (array ? !json_is_array(v) : !json_is_object(v))) {
        v = array ? json_array() : json_object();
        json_object_set_new(parent, key, v);
    }
    return v;
}

static void
apply_env(json_t *oci, const json_t *env)
{
    json_t *cur;
    size_t i, j;
    const json_t *e;
    json_t *c;

    if (json_array_size(env) == 0)
        return;
    cur = obj_child(obj_child(oci, "process", false), "env", true);

    json_array_foreach(env, i, e)
    {
        const char *kv = json_string_value(e);
        size_t klen = strcspn(kv, "=");
        bool replaced = false;

        json_array_foreach(cur, j, c)
        {
            const char *ckv = json_string_value(c);

            if (ckv && strncmp(ckv, kv, klen) == 0 && ckv[klen] == '=') {
                json_array_set_new(cur, j, json_string(kv));
                replaced = true;
                break;
            }
        }
        if (!replaced)
            json_array_append_new(cur, json_string(kv));
    }
}

/* CDI's fillMissingInfo: hostPath defaults to path; type, major and minor
 * from stat(hostPath) unless given (a FIFO has no numbers). */
static int
device_info(const json_t *dn, char type[2], json_int_t *major, json_int_t *minor,
            struct k3c_err *err)
{
    const char *path = json_string_value(json_object_get(dn, "path"));
    const char *host = json_string_value(json_object_get(dn, "hostPath"));
    const char *t = json_string_value(json_object_get(dn, "type"));
    struct stat st;
    char ht;

    if (!host || !*host)
        host = path;
    snprintf(type, 2, "%s", t ? t : "");
    *major = json_integer_value(json_object_get(dn, "major"));
    *minor = json_integer_value(json_object_get(dn, "minor"));
    if (type[0] && (*major != 0 || type[0] == 'p'))
        return 0;
    if (stat(host, &st) < 0)
        return k3c_err_sys(err, errno, "device node %s: stat %s", path, host);
    if (S_ISCHR(st.st_mode))
        ht = 'c';
    else if (S_ISBLK(st.st_mode))
        ht = 'b';
    else if (S_ISFIFO(st.st_mode))
        ht = 'p';
    else
        return k3c_err_set(err, K3C_E_INVALID, "device node %s: %s is not a device", path, host);
    if (!type[0])
        type[0] = ht, type[1] = '\0';
    else if (!(type[0] == ht || (type[0] == 'u' && ht == 'c')))
        return k3c_err_set(err, K3C_E_INVALID, "device node %s: type %s, but %s is a %c device",
                           path, type, host, ht);
    if (*major == 0 && type[0] != 'p') {
        *major = major(st.st_rdev);
        *minor = minor(st.st_rdev);
    }
    return 0;
}

static void
array_remove_by(json_t *arr, const char *key, const char *value)
{
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *v = json_string_value(json_object_get(json_array_get(arr, i), key));

        if (v && strcmp(v, value) == 0)
            json_array_remove(arr, i);
    }
}

static int
apply_device_nodes(json_t *oci, const json_t *nodes, struct k3c_err *err)
{
    json_t *linux_ = obj_child(oci, "linux", false);
    json_t *devs = obj_child(linux_, "devices", true);
    json_t *rules = obj_child(obj_child(linux_, "resources", false), "devices", true);
    const json_t *user = json_object_get(json_object_get(oci, "process"), "user");
    size_t i;
    const json_t *dn;

    json_array_foreach(nodes, i, dn)
    {
        const char *path = json_string_value(json_object_get(dn, "path"));
        const char *perm = json_string_value(json_object_get(dn, "permissions"));
        const json_t *mode = json_object_get(dn, "fileMode");
        const json_t *uid = json_object_get(dn, "uid"), *gid = json_object_get(dn, "gid");
        json_int_t major, minor;
        char type[2];
        json_t *dev;

        if (device_info(dn, type, &major, &minor, err) < 0)
            return -1;
        dev = json_pack("{s:s, s:s}", "path", path, "type", type);
        if (type[0] != 'p') {
            json_object_set_new(dev, "major", json_integer(major));
            json_object_set_new(dev, "minor", json_integer(minor));
        }
        if (json_is_integer(mode))
            json_object_set(dev, "fileMode", (json_t *)mode);
        /* A device the process can open: CDI gives it the process's ids. */
        if (json_is_integer(uid))
            json_object_set(dev, "uid", (json_t *)uid);
        else if (json_integer_value(json_object_get(user, "uid")) > 0)
            json_object_set(dev, "uid", json_object_get(user, "uid"));
        if (json_is_integer(gid))
            json_object_set(dev, "gid", (json_t *)gid);
        else if (json_integer_value(json_object_get(user, "gid")) > 0)
            json_object_set(dev, "gid", json_object_get(user, "gid"));
        array_remove_by(devs, "path", path);
        json_array_append_new(devs, dev);
        if (type[0] == 'b' || type[0] == 'c')
            json_array_append_new(rules, json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type",
                                                   type, "major", major, "minor", minor, "access",
                                                   perm && *perm ? perm : "rwm"));
    }
    return 0;
}

static size_t
path_depth(const char *p)
{
    size_t n = 0;

    for (const char *s = p; s && *s; s++)
        if (*s == '/' && s[1] && s[1] != '/')
            n++;
    return n;
}

/* Parents first: a stable insertion sort on the number of path parts. */
static void
sort_mounts(json_t *mounts)
{
    size_t n = json_array_size(mounts);

    for (size_t i = 1; i < n; i++) {
        json_t *m = json_incref(json_array_get(mounts, i));
        size_t d = path_depth(json_string_value(json_object_get(m, "destination")));
        size_t j = i;

        while (j > 0 && path_depth(json_string_value(
                            json_object_get(json_array_get(mounts, j - 1), "destination"))) > d)
            j--;
        if (j != i) {
            json_array_remove(mounts, i);
            json_array_insert(mounts, j, m);
        }
        json_decref(m);
    }
}

static void
apply_mounts(json_t *oci, const json_t *mounts)
{
    json_t *cur = obj_child(oci, "mounts", true);
    size_t i;
    const json_t *m;

    if (json_array_size(mounts) == 0)
        return;
    json_array_foreach(mounts, i, m)
    {
        const char *dst = json_string_value(json_object_get(m, "containerPath"));
        const char *type = json_string_value(json_object_get(m, "type"));
        const json_t *opts = json_object_get(m, "options");
        json_t *om = json_pack("{s:s, s:s}", "destination", dst, "source",
                               json_string_value(json_object_get(m, "hostPath")));

        if (type && *type)
            json_object_set_new(om, "type", json_string(type));
        if (json_is_array(opts))
            json_object_set_new(om, "options", json_deep_copy(opts));
        array_remove_by(cur, "destination", dst);
        json_array_append_new(cur, om);
    }
    sort_mounts(cur);
}

static void
apply_hooks(json_t *oci, const json_t *hooks)
{
    size_t i;
    const json_t *h;

    json_array_foreach(hooks, i, h)
    {
        json_t *list = obj_child(obj_child(oci, "hooks", false),
                                 json_string_value(json_object_get(h, "hookName")), true);
        json_t *oh = json_pack("{s:O}", "path", json_object_get(h, "path"));

        if (json_array_size(json_object_get(h, "args")))
            json_object_set(oh, "args", json_object_get(h, "args"));
        if (json_array_size(json_object_get(h, "env")))
            json_object_set(oh, "env", json_object_get(h, "env"));
        if (json_is_integer(json_object_get(h, "timeout")))
            json_object_set(oh, "timeout", json_object_get(h, "timeout"));
        json_array_append_new(list, oh);
    }
}

static void
apply_gids(json_t *oci, const json_t *gids)
{
    json_t *user, *cur;
    size_t i, j;
    const json_t *g, *c;

    if (json_array_size(gids) == 0)
        return;
    user = obj_child(obj_child(oci, "process", false), "user", false);
    cur = obj_child(user, "additionalGids", true);

    json_array_foreach(gids, i, g)
    {
        bool have = json_integer_value(g) == 0; /* CDI skips gid 0 */

        json_array_foreach(cur, j, c) have |= json_integer_value(c) == json_integer_value(g);
        if (!have)
            json_array_append(cur, (json_t *)g);
    }
}

static void
apply_net_devices(json_t *oci, const json_t *nets)
{
    size_t i;
    const json_t *nd;
    json_t *map;

    if (json_array_size(nets) == 0)
        return;
    map = obj_child(obj_child(oci, "linux", false), "netDevices", false);
    json_array_foreach(nets, i, nd)
        json_object_set_new(map, json_string_value(json_object_get(nd, "hostInterfaceName")),
                            json_pack("{s:O}", "name", json_object_get(nd, "name")));
}

int
cdi_edits_apply(json_t *oci, const json_t *edits, struct k3c_err *err)
{
    const json_t *rdt = json_object_get(edits, "intelRdt");

    if (!json_is_object(oci) || !json_is_object(edits))
        return k3c_err_set(err, K3C_E_INVALID, "CDI edits: want objects");
    apply_env(oci, json_object_get(edits, "env"));
    if (apply_device_nodes(oci, json_object_get(edits, "deviceNodes"), err) < 0)
        return -1;
    apply_mounts(oci, json_object_get(edits, "mounts"));
    apply_hooks(oci, json_object_get(edits, "hooks"));
    if (json_is_object(rdt))
        json_object_set_new(obj_child(oci, "linux", false), "intelRdt", json_deep_copy(rdt));
    apply_gids(oci, json_object_get(edits, "additionalGids"));
    apply_net_devices(oci, json_object_get(edits, "netDevices"));
    return 0;
}
