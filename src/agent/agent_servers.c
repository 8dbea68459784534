/* SPDX-License-Identifier: Apache-2.0
 * agent_servers.c - the agent's list of API servers (K3s's client-side load
 * balancer, in its simplest form): the server it was given (a VIP or any
 * one server) first, then every live API server that `default/kubernetes`
 * lists, learned at each heartbeat and kept in <agent dir>/servers so a
 * restarted agent knows them even when the given server is down. The one
 * HTTP client fails over between them on transport errors; the kubelet's
 * and the informers' watches resume on the next server from their
 * resourceVersion. */
#define LOG_COMPONENT "agent"
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <string.h>

#define AGENT_MAX_SERVERS 16

/* "https://ip:port" of every address of default/kubernetes, NULL-terminated
 * (caller frees with k3c_strv_free); NULL when it cannot be read. */
static char **
servers_from_endpoints(const json_t *ep)
{
    const json_t *subset = json_array_get(json_object_get(ep, "subsets"), 0);
    json_int_t port = json_integer_value(
        json_object_get(json_array_get(json_object_get(subset, "ports"), 0), "port"));
    const json_t *addrs = json_object_get(subset, "addresses"), *a;
    char **out;
    size_t i, n = 0;

    if (port <= 0 || json_array_size(addrs) == 0)
        return NULL;
    out = k3c_xcalloc(AGENT_MAX_SERVERS + 1, sizeof(*out));
    json_array_foreach(addrs, i, a)
    {
        const char *ip = json_string_value(json_object_get(a, "ip"));

        if (ip && n < AGENT_MAX_SERVERS)
            out[n++] = k3c_xasprintf("https://%s:%lld", ip, (long long)port);
    }
    return out;
}

/* One server per line, as saved. NULL when there is no file. */
static char **
servers_load(const char *path)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    char **out, *save = NULL, *line;
    size_t n = 0;

    if (!k3c_file_exists(path) || k3c_read_file(path, &text, NULL, &err) < 0)
        return NULL;
    out = k3c_xcalloc(AGENT_MAX_SERVERS + 1, sizeof(*out));
    for (line = strtok_r(text, "\n", &save); line && n < AGENT_MAX_SERVERS;
         line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "https://", 8) == 0)
            out[n++] = k3c_xstrdup(line);
    return out;
}

static char *
servers_text(char **v)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (size_t i = 0; v && v[i]; i++)
        k3c_buf_appendf(&b, "%s\n", v[i]);
    return k3c_buf_steal(&b, NULL);
}

/* The client's list: the given server, then the learned ones not equal
 * to it. */
static int
apply(struct agent *a, char **learned, struct k3c_err *err)
{
    const char *list[AGENT_MAX_SERVERS + 2];
    size_t n = 0;

    list[n++] = a->server_url;
    for (size_t i = 0; learned && learned[i]; i++)
        if (strcmp(learned[i], a->server_url) != 0)
            list[n++] = learned[i];
    list[n] = NULL;
    return http_client_set_endpoints(a->api, list, err);
}

int
agent_servers_init(struct agent *a, struct k3c_err *err)
{
    a->servers_file = k3c_xasprintf("%s/servers", a->paths.dir);
    size_t n = 0;

    a->servers = servers_load(a->servers_file);
    if (!a->servers)
        return 0;
    while (a->servers[n])
        n++;
    log_info("(node %s) %zu API server(s) known from an earlier run", a->node_name, n);
    return apply(a, a->servers, err);
}

void
agent_servers_refresh(struct agent *a)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *ep = NULL;
    _cleanup_free_ char *old = NULL, *now = NULL;
    char **learned;

    if (http_client_json(a->api, "GET", "/api/v1/namespaces/default/endpoints/kubernetes", NULL,
                         NULL, &ep, &err) != 200)
        return;
    learned = servers_from_endpoints(ep);
    if (!learned)
        return;
    old = servers_text(a->servers);
    now = servers_text(learned);
    if (strcmp(old, now) == 0 || apply(a, learned, &err) < 0) {
        k3c_strv_free(learned);
        return;
    }
    if (k3c_write_file(a->servers_file, now, strlen(now), 0600, &err) < 0)
        log_warn("(node %s) saving the API server list: %s", a->node_name, err.msg);
    k3c_strv_free(a->servers);
    a->servers = learned;
    for (char *p = now; (p = strchr(p, '\n')); p++)
        *p = p[1] ? ' ' : '\0';
    log_info("(node %s) API servers: %s (fails over between them)", a->node_name, now);
}
