/* SPDX-License-Identifier: Apache-2.0
 * topology.c - `k3c topology`: the cluster's shape from its live Node
 * objects, for any k3c cluster: servers (control-plane nodes) with their IP,
 * roles and etcd membership (annotation etcd.k3c.io/member: leader, voter or
 * learner), the VIP and its holder (annotation vip.k3c.io/holder on the
 * holder's node, value the VIP), agent-only nodes with their own labels, and
 * an etcd quorum summary. Drawn as boxes, or given as JSON. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <string.h>

#define BOX_W    24 /* inner width of a node's box */
#define BOX_ROWS 6

static const char *
meta_str(const json_t *node, const char *map, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(node, "metadata"), map), key));
}

static const char *
node_ip(const json_t *node)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "type")) ?: "", "InternalIP") == 0)
            return json_string_value(json_object_get(a, "address"));
    }
    return "?";
}

static const char *
node_ready(const json_t *node)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", "Ready") != 0)
            continue;
        const char *s = json_string_value(json_object_get(c, "status")) ?: "";

        return strcmp(s, "True") == 0 ? "Ready" : strcmp(s, "False") == 0 ? "NotReady" : "Unknown";
    }
    return "Unknown";
}

/* Labels worth showing: not the well-known kubernetes.io ones. */
static json_t *
user_labels(const json_t *node)
{
    json_t *out = json_object(), *v;
    const char *k;

    json_object_foreach(json_object_get(json_object_get(node, "metadata"), "labels"), k, v)
    {
        if (strstr(k, "kubernetes.io/") || strstr(k, "k3s.io/") || strstr(k, "k3c.io/"))
            continue;
        json_object_set(out, k, v);
    }
    return out;
}

static json_t *
node_roles(const json_t *node)
{
    static const char prefix[] = "node-role.kubernetes.io/";
    json_t *out = json_array(), *v;
    const char *k;
    const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");
    bool cp = json_object_get(labels, "node-role.kubernetes.io/control-plane") != NULL;

    json_object_foreach((json_t *)labels, k, v)
    {
        /* "master" is the old name of control-plane: say it once. */
        if (strncmp(k, prefix, strlen(prefix)) != 0 ||
            (cp && strcmp(k + strlen(prefix), "master") == 0))
            continue;
        json_array_append_new(out, json_string(k + strlen(prefix)));
    }
    return out;
}

static bool
is_server(const json_t *node)
{
    const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");

    return json_object_get(labels, "node-role.kubernetes.io/control-plane") ||
           json_object_get(labels, "node-role.kubernetes.io/master");
}

json_t *
topology_collect(struct lab_kube *k, struct k3c_err *err)
{
    _cleanup_json_ json_t *list = lab_kube_get(k, "/api/v1/nodes", err);

    if (!list)
        return NULL;
    return topology_from_nodes(list, lab_kube_server(k));
}

json_t *
topology_from_nodes(const json_t *list, const char *server)
{
    json_t *servers, *agents, *topo, *n, *vip = json_null();
    int voters = 0, voters_up = 0, learners = 0, n_servers = 0, servers_up = 0;
    const char *leader = NULL;
    bool annotated = false;
    size_t i;

    servers = json_array();
    agents = json_array();
    json_array_foreach(json_object_get(list, "items"), i, n)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(n, "metadata"), "name"));
        const char *member = meta_str(n, "annotations", "etcd.k3c.io/member");
        const char *holder = meta_str(n, "annotations", "vip.k3c.io/holder");
        const char *ready = node_ready(n);
        json_t *jn;

        jn = json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", name ?: "?", "ip", node_ip(n), "ready",
                       ready, "roles", node_roles(n), "labels", user_labels(n));
        json_object_set(jn, "podCIDR", json_object_get(json_object_get(n, "spec"), "podCIDR"));
        if (holder) {
            json_decref(vip);
            vip = json_pack("{s:s, s:s}", "address", holder, "holder", name ?: "?");
        }
        if (!is_server(n)) {
            json_array_append_new(agents, jn);
            continue;
        }
        n_servers++;
        servers_up += strcmp(ready, "Ready") == 0;
        json_object_set_new(jn, "etcd", member ? json_string(member) : json_null());
        if (member) {
            annotated = true;
            if (strcmp(member, "learner") == 0) {
                learners++;
            } else {
                voters++;
                voters_up += strcmp(ready, "Ready") == 0;
                if (strcmp(member, "leader") == 0)
                    leader = name;
            }
        }
        json_array_append_new(servers, jn);
    }
    if (!annotated) {
        /* Before servers say what they are in etcd: one member each. */
        voters = n_servers;
        voters_up = servers_up;
    }
    topo = json_pack("{s:s, s:o, s:o, s:o}", "server", server, "vip", vip, "servers", servers,
                     "agents", agents);
    json_object_set_new(topo, "etcd",
                        json_pack("{s:i, s:i, s:i, s:i, s:b, s:b, s:o}", "voters", voters,
                                  "voters_up", voters_up, "learners", learners, "quorum",
                                  voters / 2 + 1, "has_quorum",
                                  voters > 0 && voters_up >= voters / 2 + 1, "from_annotations",
                                  annotated, "leader", leader ? json_string(leader) : json_null()));
    return topo;
}

/* ---- drawing ---- */

struct box {
    char rows[BOX_ROWS][BOX_W + 1];
    int n;
};

static void box_add(struct box *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
box_add(struct box *b, const char *fmt, ...)
{
    va_list ap;

    if (b->n >= BOX_ROWS)
        return;
    va_start(ap, fmt);
    vsnprintf(b->rows[b->n++], BOX_W + 1, fmt, ap);
    va_end(ap);
}

static void
draw_edge(FILE *out, int n)
{
    for (int i = 0; i < n; i++) {
        fputc('+', out);
        for (int k = 0; k < BOX_W + 2; k++)
            fputc('-', out);
        fputs(i + 1 < n ? "+ " : "+\n", out);
    }
}

static void
draw_boxes(FILE *out, const struct box *boxes, int n)
{
    int rows = 0;

    for (int i = 0; i < n; i++)
        rows = boxes[i].n > rows ? boxes[i].n : rows;
    draw_edge(out, n);
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++)
            fprintf(out, "| %-*s |%s", BOX_W, r < boxes[i].n ? boxes[i].rows[r] : "",
                    i + 1 < n ? " " : "\n");
    draw_edge(out, n);
}

static void
roles_text(const json_t *node, char *buf, size_t size)
{
    size_t i, off = 0;
    json_t *r;

    buf[0] = 0;
    json_array_foreach(json_object_get(node, "roles"), i, r)
    {
        off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%s", i ? "," : "",
                                json_string_value(r));
    }
}

/* Draws a row of at most per_row nodes' boxes at a time. */
static void
draw_nodes(FILE *out, const json_t *nodes, bool servers, const char *vip_holder)
{
    enum { PER_ROW = 4 };
    struct box boxes[PER_ROW];
    size_t i, total = json_array_size(nodes);

    for (i = 0; i < total; i += PER_ROW) {
        int n = 0;

        memset(boxes, 0, sizeof(boxes));
        for (size_t k = i; k < total && n < PER_ROW; k++, n++) {
            const json_t *node = json_array_get(nodes, k);
            const char *name = json_string_value(json_object_get(node, "name"));
            const char *etcd = json_string_value(json_object_get(node, "etcd"));
            struct box *b = &boxes[n];
            char roles[128];

            box_add(b, "%s%s", name, vip_holder && strcmp(vip_holder, name) == 0 ? "  *VIP" : "");
            box_add(b, "%s", json_string_value(json_object_get(node, "ip")));
            if (servers) {
                roles_text(node, roles, sizeof(roles));
                box_add(b, "%s", roles[0] ? roles : "server");
                box_add(b, "etcd %s", etcd ? etcd : "member");
            } else {
                const char *key;
                json_t *v;

                box_add(b, "agent");
                json_object_foreach(json_object_get(node, "labels"), key, v)
                {
                    box_add(b, "%s=%s", key, json_string_value(v) ?: "");
                }
            }
            box_add(b, "%s", json_string_value(json_object_get(node, "ready")));
        }
        draw_boxes(out, boxes, n);
    }
}

void
topology_print(FILE *out, const json_t *topo)
{
    const json_t *vip = json_object_get(topo, "vip");
    const json_t *etcd = json_object_get(topo, "etcd");
    const json_t *servers = json_object_get(topo, "servers");
    const json_t *agents = json_object_get(topo, "agents");
    const char *holder = json_string_value(json_object_get(vip, "holder"));
    const char *leader = json_string_value(json_object_get(etcd, "leader"));
    int voters = (int)json_integer_value(json_object_get(etcd, "voters"));
    int up = (int)json_integer_value(json_object_get(etcd, "voters_up"));
    int learners = (int)json_integer_value(json_object_get(etcd, "learners"));

    fprintf(out, "cluster %s: %zu server%s, %zu agent-only node%s\n\n",
            json_string_value(json_object_get(topo, "server")), json_array_size(servers),
            json_array_size(servers) == 1 ? "" : "s", json_array_size(agents),
            json_array_size(agents) == 1 ? "" : "s");
    if (holder)
        fprintf(out, "      ( VIP %s -> %s )\n             |\n",
                json_string_value(json_object_get(vip, "address")), holder);
    else
        fprintf(out, "      ( no VIP holder )\n             |\n");
    fprintf(out, "servers:\n");
    draw_nodes(out, servers, true, holder);
    fprintf(out, "etcd quorum: %d of %d voter%s up (needs %d)%s%s%s%s", up, voters,
            voters == 1 ? "" : "s", voters / 2 + 1,
            json_is_true(json_object_get(etcd, "has_quorum")) ? ", OK" : ", QUORUM LOST",
            leader ? ", leader " : "", leader ? leader : "",
            json_is_true(json_object_get(etcd, "from_annotations"))
                ? ""
                : " (counted from servers: no etcd.k3c.io/member annotations)");
    if (learners)
        fprintf(out, ", %d learner%s", learners, learners == 1 ? "" : "s");
    fprintf(out, "\n");
    if (json_array_size(agents)) {
        fprintf(out, "\nagent-only nodes:\n");
        draw_nodes(out, agents, false, NULL);
    }
}
