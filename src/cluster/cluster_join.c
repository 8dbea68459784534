/* SPDX-License-Identifier: Apache-2.0
 * cluster_join.c - a server joining an HA cluster (K3s's flow): the CA is
 * fetched untrusted and pinned by the token's hash, the shared bootstrap
 * material (CAs with their keys, settings) comes over 6443 authenticated
 * with the token's secret, leaf certificates are then issued locally, and
 * the etcd member is added as a learner. */
#define LOG_COMPONENT "cluster"
#include "cluster/cluster.h"
#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* The files of tls_dir every server shares: the CAs and their keys. */
static const char *const shared_files[] = {"server-ca.crt", "server-ca.key",
                                           "client-ca.crt", "client-ca.key",
                                           "service.key",   "encryption-config.json"};

/* Files a server of an older k3c may lack (issue #15's secrets key). */
static bool
shared_file_optional(const char *name)
{
    return strcmp(name, "encryption-config.json") == 0;
}

json_t *
cluster_settings_new(const char *cluster_cidr, const char *service_cidr, const char *cluster_dns,
                     const char *cluster_domain)
{
    json_t *s = json_object();

    if (cluster_cidr)
        json_object_set_new(s, "cluster-cidr", json_string(cluster_cidr));
    if (service_cidr)
        json_object_set_new(s, "service-cidr", json_string(service_cidr));
    if (cluster_dns)
        json_object_set_new(s, "cluster-dns", json_string(cluster_dns));
    if (cluster_domain)
        json_object_set_new(s, "cluster-domain", json_string(cluster_domain));
    return s;
}

char *
cluster_bootstrap_json(const char *tls_dir, const json_t *settings, const char *etcd_client_url,
                       struct k3c_err *err)
{
    _cleanup_json_ json_t *doc = json_object(), *files = json_object();

    for (size_t i = 0; i < K3C_ARRAY_SIZE(shared_files); i++) {
        _cleanup_free_ char *path = k3c_xasprintf("%s/%s", tls_dir, shared_files[i]);
        _cleanup_free_ char *text = NULL;

        if (shared_file_optional(shared_files[i]) && !k3c_file_exists(path))
            continue;
        if (k3c_read_file(path, &text, NULL, err) < 0)
            return NULL;
        json_object_set_new(files, shared_files[i], json_string(text));
    }
    json_object_set(doc, "files", files);
    json_object_set(doc, "settings", (json_t *)settings);
    json_object_set_new(doc, "etcdURL", json_string(etcd_client_url));
    return json_dumps(doc, JSON_COMPACT);
}

const char *
cluster_bootstrap_etcd_url(const json_t *bootstrap)
{
    return json_string_value(json_object_get(bootstrap, "etcdURL"));
}

/* K10<hash>::[user:]secret, or a bare secret (warned about: the CA is
 * then trusted on first use, as K3s does). */
static int
token_parts(const char *token, char hash[65], char **secret, struct k3c_err *err)
{
    _cleanup_free_ char *user = NULL;

    if (!token || !*token)
        return k3c_err_set(err, K3C_E_INVALID, "joining a cluster needs --token");
    if (strncmp(token, "K10", 3) != 0) {
        log_warn("--token is a bare secret: the server's CA is not pinned; use the full K10... "
                 "token from <data-dir>/server/token of a server");
        hash[0] = '\0';
        *secret = k3c_xstrdup(token);
        return 0;
    }
    return agent_token_parse(token, hash, &user, secret, err);
}

/* GET /cacerts trusting whatever answers (a bare-secret token). */
static int
fetch_ca_unpinned(const char *server_url, char **pem, struct k3c_err *err)
{
    const char *eps[] = {server_url, NULL};
    const struct http_client_config hc = {.endpoints = eps, .insecure = true};
    struct http_client *c = http_client_new(&hc, err);
    struct http_response resp;
    int rc = -1;

    if (!c)
        return -1;
    http_response_init(&resp);
    if (http_client_request(c, "GET", "/cacerts", NULL, NULL, 0, &resp, err) == 0) {
        if (resp.status == 200 && resp.body.len) {
            *pem = k3c_buf_steal(&resp.body, NULL);
            rc = 0;
        } else {
            k3c_err_set(err, resp.status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_INVALID,
                        "%s/cacerts answered HTTP %ld", server_url, resp.status);
        }
    }
    http_response_fini(&resp);
    http_client_free(c);
    return rc;
}

/* The CA (pinned by the token's hash when it has one) in a temp file for
 * the client to trust; *path_out is the caller's to unlink and free. */
static int
fetch_ca_file(const char *server_url, const char *hash, char **path_out, struct k3c_err *err)
{
    _cleanup_free_ char *pem = NULL;
    char tmpl[] = "/tmp/k3c-join-ca.XXXXXX";
    int fd;

    if ((hash[0] ? agent_fetch_ca(server_url, hash, &pem, err)
                 : fetch_ca_unpinned(server_url, &pem, err)) < 0)
        return -1;
    fd = mkstemp(tmpl);
    if (fd < 0)
        return k3c_err_sys(err, errno, "temp file for the CA");
    close(fd);
    if (k3c_write_file(tmpl, pem, strlen(pem), 0600, err) < 0) {
        unlink(tmpl);
        return -1;
    }
    *path_out = k3c_xstrdup(tmpl);
    return 0;
}

int
cluster_bootstrap_fetch(const char *server_url, const char *token, json_t **out,
                        struct k3c_err *err)
{
    _cleanup_free_ char *secret = NULL, *ca_path = NULL, *auth = NULL;
    const char *eps[] = {server_url, NULL};
    struct http_client *c = NULL;
    struct http_response resp;
    char hash[65];
    int rc = -1;

    if (token_parts(token, hash, &secret, err) < 0 ||
        fetch_ca_file(server_url, hash, &ca_path, err) < 0)
        return -1;
    auth = k3c_xasprintf("server:%s", secret);
    {
        const struct http_client_config hc = {
            .endpoints = eps, .ca_file = ca_path, .basic_auth = auth};

        c = http_client_new(&hc, err);
    }
    http_response_init(&resp);
    if (!c ||
        http_client_request(c, "GET", "/v1-k3c/server-bootstrap", NULL, NULL, 0, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        k3c_err_set(err, resp.status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_BAD_REQUEST,
                    "%s refused the server bootstrap (HTTP %ld): %.200s", server_url, resp.status,
                    resp.body.data ? resp.body.data : "");
        goto out;
    }
    *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    if (!*out || !json_is_object(json_object_get(*out, "files")) ||
        !cluster_bootstrap_etcd_url(*out)) {
        json_decref(*out);
        *out = NULL;
        k3c_err_set(err, K3C_E_INTERNAL, "%s: malformed server bootstrap answer", server_url);
        goto out;
    }
    rc = 0;
out:
    http_response_fini(&resp);
    http_client_free(c);
    if (ca_path)
        unlink(ca_path);
    return rc;
}

static int
settings_check(const json_t *remote, const json_t *local, struct k3c_err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)local, key, v)
    {
        const char *mine = json_string_value(v);
        const char *theirs = json_string_value(json_object_get(remote, key));

        if (theirs && mine && strcmp(mine, theirs) != 0)
            return k3c_err_set(err, K3C_E_INVALID,
                               "--%s is \"%s\" here but \"%s\" on the cluster being joined: every "
                               "server must use the same value",
                               key, mine, theirs);
    }
    return 0;
}

int
cluster_bootstrap_apply(const json_t *bootstrap, const char *tls_dir, const json_t *local_settings,
                        struct k3c_err *err)
{
    const json_t *files = json_object_get(bootstrap, "files");

    if (settings_check(json_object_get(bootstrap, "settings"), local_settings, err) < 0)
        return -1;
    if (k3c_mkdir_p(tls_dir, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(shared_files); i++) {
        const char *text = json_string_value(json_object_get(files, shared_files[i]));
        _cleanup_free_ char *path = k3c_xasprintf("%s/%s", tls_dir, shared_files[i]);
        _cleanup_free_ char *old = NULL;
        bool key = strstr(shared_files[i], ".key") != NULL || shared_file_optional(shared_files[i]);

        if (!text && shared_file_optional(shared_files[i]))
            continue;
        if (!text)
            return k3c_err_set(err, K3C_E_INTERNAL, "server bootstrap lacks %s", shared_files[i]);
        if (k3c_file_exists(path) && k3c_read_file(path, &old, NULL, err) == 0) {
            if (strcmp(old, text) == 0)
                continue;
            if (strcmp(shared_files[i], "server-ca.crt") == 0)
                return k3c_err_set(err, K3C_E_INVALID,
                                   "%s holds the CA of another cluster: this data dir belongs "
                                   "to a different cluster; move it away to join this one",
                                   path);
        }
        k3c_err_clear(err);
        if (k3c_write_file(path, text, strlen(text), key ? 0600 : 0644, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- the etcd member ---- */

static struct http_client *
member_client(const struct cluster_member_spec *spec, struct k3c_err *err)
{
    return etcd_client_new(spec->etcd_endpoints, spec->tls, err);
}

int
cluster_member_state(const struct cluster_member_spec *spec, struct k3c_err *err)
{
    struct http_client *c = member_client(spec, err);
    struct etcd_members m = {0};
    const struct etcd_member *me;
    int rc;

    if (!c)
        return -1;
    if (etcd_member_list(c, &m, err) < 0) {
        http_client_free(c);
        return -1;
    }
    me = etcd_members_find(&m, spec->name, 0);
    rc = me && strcmp(me->peer_url, spec->peer_url) == 0;
    etcd_members_fini(&m);
    http_client_free(c);
    return rc;
}

/* "name=peer,..." of every member; the unnamed one with our peer URL is us. */
static char *
initial_cluster_of(const struct etcd_members *m, const struct cluster_member_spec *spec)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (size_t i = 0; i < m->n; i++) {
        const char *name = m->v[i].name;

        if (strcmp(m->v[i].peer_url, spec->peer_url) == 0)
            name = spec->name;
        if (!*name)
            continue; /* another member that has not started: etcd refuses two learners */
        k3c_buf_appendf(&b, "%s%s=%s", b.len ? "," : "", name, m->v[i].peer_url);
    }
    return k3c_buf_steal(&b, NULL);
}

/* A member entry already holding our peer URL (we were added before and
 * our data dir was wiped, or a join died half way) is removed first. */
static int
remove_stale(struct http_client *c, const struct cluster_member_spec *spec, struct k3c_err *err)
{
    struct etcd_members m = {0};
    int rc = 0;

    if (etcd_member_list(c, &m, err) < 0)
        return -1;
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        if (strcmp(m.v[i].peer_url, spec->peer_url) != 0 && strcmp(m.v[i].name, spec->name) != 0)
            continue;
        log_info("removing the stale etcd member %" PRIx64 " (%s, %s) before joining again",
                 m.v[i].id, m.v[i].name[0] ? m.v[i].name : "never started", m.v[i].peer_url);
        rc = etcd_member_remove(c, m.v[i].id, err);
    }
    etcd_members_fini(&m);
    return rc;
}

int
cluster_member_add(const struct cluster_member_spec *spec, int64_t timeout_ms,
                   char **initial_cluster, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + timeout_ms, backoff = 500;
    struct http_client *c = member_client(spec, err);
    bool logged = false;
    int rc = -1;

    if (!c)
        return -1;
    for (;;) {
        struct etcd_members m = {0};
        uint64_t id;

        if (remove_stale(c, spec, err) == 0 &&
            etcd_member_add(c, spec->peer_url, true, &id, &m, err) == 0) {
            *initial_cluster = initial_cluster_of(&m, spec);
            log_info("added etcd member %s (%" PRIx64 ") as a learner; cluster: %s", spec->name, id,
                     *initial_cluster);
            etcd_members_fini(&m);
            rc = 0;
            break;
        }
        /* Another learner being promoted, or a member just removed:
         * etcd refuses for now; anything else still gets retried until the
         * deadline, as the cluster may be electing a leader. */
        if (k3c_now_ms() + backoff > deadline) {
            k3c_err_wrap(err, "adding etcd member %s", spec->name);
            break;
        }
        if (!logged)
            log_info("waiting to add etcd member %s: %s", spec->name, err->msg);
        logged = true;
        k3c_err_clear(err);
        k3c_sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
    http_client_free(c);
    return rc;
}
