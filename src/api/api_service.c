/* SPDX-License-Identifier: Apache-2.0
 * api_service.c - cluster IPs (10.43.0.0/16) and node ports (30000-32767)
 * for Services. Each allocation is a key in etcd created with
 * compare-and-swap, /registry/ranges/serviceips/<ip> and
 * /registry/ranges/servicenodeports/<port>, so two servers can never hand
 * out the same one. 10.43.0.1 is the kubernetes service, 10.43.0.10 DNS. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define SERVICE_NET        0x0a2b0000u /* 10.43.0.0 */
#define SERVICE_MASK       0xffff0000u
#define SERVICE_DYNAMIC_LO 0x0a2b0010u /* .0.16 and up are handed out; below is static */
#define NODEPORT_LO        30000
#define NODEPORT_HI        32767
#define ALLOC_TRIES        64

static char *
ip_key(const char *ip)
{
    return k3c_xasprintf("/registry/ranges/serviceips/%s", ip);
}

static char *
port_key(long long port)
{
    return k3c_xasprintf("/registry/ranges/servicenodeports/%lld", port);
}

/* Claims key; 0 when claimed, 1 when taken, -1 on store failure. */
static int
claim(struct api_server *srv, const char *key, const char *owner, struct k3c_err *err)
{
    if (store_create(srv->store, key, owner, strlen(owner), 0, NULL, err) == 0)
        return 0;
    if (err->kind == K3C_E_EXISTS) {
        k3c_err_clear(err);
        return 1;
    }
    return -1;
}

static void
unclaim(struct api_server *srv, char *key)
{
    struct k3c_err err = {0};

    if (store_delete(srv->store, key, 0, NULL, NULL, &err) < 0 && err.kind != K3C_E_NOT_FOUND)
        log_warn("(allocation %s) not released: %s", key, err.msg);
    free(key);
}

static bool
wants_cluster_ip(const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));

    return !(type && strcmp(type, "ExternalName") == 0) && !(ip && strcmp(ip, "None") == 0);
}

static void
set_ip(json_t *spec, const char *ip_in)
{
    /* ip_in may be spec.clusterIP itself, which the first set frees. */
    char ip[INET_ADDRSTRLEN];

    snprintf(ip, sizeof(ip), "%s", ip_in);
    json_object_set_new(spec, "clusterIP", json_string(ip));
    json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
    json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
    if (!json_object_get(spec, "ipFamilyPolicy"))
        json_object_set_new(spec, "ipFamilyPolicy", json_string("SingleStack"));
}

static int
allocate_ip(struct api_server *srv, json_t *spec, const char *owner, json_t *causes,
            struct k3c_err *err)
{
    const char *asked = json_string_value(json_object_get(spec, "clusterIP"));
    struct in_addr a;
    char ip[INET_ADDRSTRLEN];

    if (asked && *asked) {
        _cleanup_free_ char *key = NULL;
        int rc;

        if (inet_pton(AF_INET, asked, &a) != 1 || (ntohl(a.s_addr) & SERVICE_MASK) != SERVICE_NET) {
            api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
                          "Invalid value: \"%s\": failed to allocate IP %s: the provided IP "
                          "(%s) is not in the valid range. The range of valid IPs is "
                          "10.43.0.0/16",
                          asked, asked, asked);
            return 0;
        }
        key = ip_key(asked);
        rc = claim(srv, key, owner, err);
        if (rc == 1)
            api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
                          "Invalid value: \"%s\": failed to allocate IP %s: provided IP is "
                          "already allocated",
                          asked, asked);
        if (rc == 0)
            set_ip(spec, asked);
        return rc < 0 ? -1 : 0;
    }
    for (int i = 0; i < ALLOC_TRIES; i++) {
        uint32_t r;
        _cleanup_free_ char *key = NULL;
        int rc;

        k3c_random_bytes(&r, sizeof(r));
        r = SERVICE_DYNAMIC_LO + r % (SERVICE_NET + 0xfffe - SERVICE_DYNAMIC_LO);
        a.s_addr = htonl(r);
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        key = ip_key(ip);
        rc = claim(srv, key, owner, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            set_ip(spec, ip);
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_INTERNAL, "no free cluster IP after %d tries", ALLOC_TRIES);
}

static bool
wants_node_ports(const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type"));

    return type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
}

static int
allocate_port(struct api_server *srv, json_t *port, const char *owner, json_t *causes, size_t idx,
              struct k3c_err *err)
{
    json_t *np = json_object_get(port, "nodePort");
    char field[64];

    snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", idx);
    if (json_is_integer(np) && json_integer_value(np) != 0) {
        long long want = json_integer_value(np);
        _cleanup_free_ char *key = port_key(want);
        int rc;

        if (want < NODEPORT_LO || want > NODEPORT_HI) {
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: %lld: provided port is not in the valid range. The "
                          "range of valid ports is 30000-32767",
                          want);
            return 0;
        }
        rc = claim(srv, key, owner, err);
        if (rc == 1)
            api_cause_add(causes, "FieldValueInvalid", field,
                          "Invalid value: %lld: provided port is already allocated", want);
        return rc < 0 ? -1 : 0;
    }
    for (int i = 0; i < ALLOC_TRIES; i++) {
        uint32_t r;
        long long p;
        _cleanup_free_ char *key = NULL;
        int rc;

        k3c_random_bytes(&r, sizeof(r));
        p = NODEPORT_LO + r % (NODEPORT_HI - NODEPORT_LO + 1);
        key = port_key(p);
        rc = claim(srv, key, owner, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            json_object_set_new(port, "nodePort", json_integer(p));
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_INTERNAL, "no free node port after %d tries", ALLOC_TRIES);
}

static void
service_release(struct api_server *srv, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    size_t i;
    json_t *port;

    if (ip && *ip && strcmp(ip, "None") != 0)
        unclaim(srv, ip_key(ip));
    json_array_foreach(json_object_get(spec, "ports"), i, port)
    {
        json_t *np = json_object_get(port, "nodePort");

        if (json_is_integer(np) && json_integer_value(np) > 0)
            unclaim(srv, port_key(json_integer_value(np)));
    }
}

static int
service_allocate(struct api_server *srv, json_t *obj, json_t *causes, struct k3c_err *err)
{
    json_t *spec = json_object_get(obj, "spec");
    const char *owner = api_meta_str(obj, "uid");
    size_t before = json_array_size(causes), i;
    json_t *port;

    if (!json_is_object(spec))
        return 0;
    if (!owner)
        owner = "";
    if (wants_cluster_ip(spec) && allocate_ip(srv, spec, owner, causes, err) < 0)
        return -1;
    if (wants_node_ports(spec)) {
        json_array_foreach(json_object_get(spec, "ports"), i, port)
        {
            if (allocate_port(srv, port, owner, causes, i, err) < 0)
                break;
        }
    }
    if (err->kind != K3C_E_NONE || json_array_size(causes) > before) {
        /* Give back whatever this request did get. */
        service_release(srv, obj);
        return err->kind != K3C_E_NONE ? -1 : 0;
    }
    return 0;
}

static void
service_carry(json_t *obj, const json_t *old)
{
    static const char *const fields[] = {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"};
    json_t *spec = json_object_get(obj, "spec");
    const json_t *old_spec = json_object_get(old, "spec");
    const json_t *old_ports = json_object_get(old_spec, "ports");
    size_t i;
    json_t *port;

    if (!json_is_object(spec))
        return;
    for (size_t k = 0; k < K3C_ARRAY_SIZE(fields); k++)
        if (!json_object_get(spec, fields[k]) && json_object_get(old_spec, fields[k]))
            json_object_set(spec, fields[k], json_object_get(old_spec, fields[k]));
    /* A port keeps its node port when the update does not name one. */
    json_array_foreach(json_object_get(spec, "ports"), i, port)
    {
        const json_t *op = json_array_get(old_ports, i);

        if (!json_object_get(port, "nodePort") && json_object_get(op, "nodePort") &&
            json_equal(json_object_get(port, "port"), json_object_get(op, "port")))
            json_object_set(port, "nodePort", json_object_get(op, "nodePort"));
    }
}

const struct api_hooks api_service_hooks = {
    .allocate = service_allocate,
    .release = service_release,
    .carry = service_carry,
};
