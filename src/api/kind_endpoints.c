/* SPDX-License-Identifier: Apache-2.0
 * kind_endpoints.c - Endpoints and discovery.k8s.io EndpointSlice: table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/endpoint and discovery/endpointslice/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
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

const struct api_column api_columns_endpoints[] = {
    COL_NAME,
    {"Endpoints", "string", "",
     "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
     "according to the IPs they share. A single address with multiple ports, some of which are "
     "ready and some of which are not (because they come from different containers) will result "
     "in the address being displayed in different subsets for the different ports. No address "
     "will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses "
     "and ports that comprise a service.",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_endpointslice[] = {
    COL_NAME,
    {"AddressType", "string", "",
     "addressType specifies the type of address carried by this EndpointSlice. All addresses in "
     "this slice must be the same type. This field is immutable after creation. The following "
     "address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: "
     "Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
     0},
    {"Ports", "string", "",
     "ports specifies the list of network ports exposed by each endpoint in this slice. Each port "
     "must have a unique name. When ports is empty, it indicates that there are no defined ports. "
     "When a port is defined with a nil port value, it indicates \"all ports\". Each slice may "
     "include a maximum of 100 ports.",
     0},
    {"Endpoints", "string", "",
     "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of "
     "1000 endpoints.",
     0},
    COL_AGE,
    COL_END,
};

#define LIST_MAX 3

/* Adds one "ip" or "ip:port" (net.JoinHostPort) unless LIST_MAX are shown. */
static void
add_endpoint(struct k3c_buf *b, size_t *shown, const char *ip, json_int_t port)
{
    bool v6 = ip && strchr(ip, ':');

    if (*shown == LIST_MAX)
        return;
    (*shown)++;
    k3c_buf_appendf(b, "%s", b->len ? "," : "");
    if (port < 0)
        k3c_buf_appendf(b, "%s", api_or_else(ip, ""));
    else
        k3c_buf_appendf(b, v6 ? "[%s]:%lld" : "%s:%lld", api_or_else(ip, ""), (long long)port);
}

/* formatEndpoints: at most three "ip:port", then "+ N more...". */
static json_t *
endpoints_cell(const json_t *obj)
{
    const json_t *subsets = json_object_get(obj, "subsets");
    size_t shown = 0, count = 0, i = 0, j = 0, k = 0;
    const json_t *ss = NULL, *port = NULL, *addr = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(subsets, i, ss)
    {
        const json_t *ports = json_object_get(ss, "ports");
        const json_t *addrs = json_object_get(ss, "addresses");

        if (json_array_size(ports) == 0) {
            count += json_array_size(addrs);
            json_array_foreach(addrs, k, addr)
            {
                add_endpoint(&b, &shown, api_str_at(addr, "ip"), -1);
            }
            continue;
        }
        json_array_foreach(ports, j, port)
        {
            count += json_array_size(addrs);
            json_array_foreach(addrs, k, addr)
            {
                add_endpoint(&b, &shown, api_str_at(addr, "ip"), api_int_at(port, "port", 0));
            }
        }
    }
    return api_more_cell(&b, shown, count, LIST_MAX, "<none>");
}

json_t *
api_row_endpoints(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o o]", api_name_cell(obj), endpoints_cell(obj), api_age_cell(obj, now_s));
}

/* formatDiscoveryPorts: port numbers, names, or "*". */
static json_t *
slice_ports_cell(const json_t *obj)
{
    const json_t *ports = json_object_get(obj, "ports");
    size_t shown = 0, i = 0;
    const json_t *p = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(ports, i, p)
    {
        const json_t *num = json_object_get(p, "port");

        if (shown == LIST_MAX)
            break;
        shown++;
        if (json_is_integer(num))
            k3c_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(num));
        else
            k3c_buf_appendf(&b, "%s%s", i ? "," : "", api_or_else(api_str_at(p, "name"), "*"));
    }
    return api_more_cell(&b, shown, json_array_size(ports), LIST_MAX, "<unset>");
}

/* formatDiscoveryEndpoints: addresses of every endpoint. */
static json_t *
slice_endpoints_cell(const json_t *obj)
{
    size_t shown = 0, count = 0, i = 0, j = 0;
    const json_t *ep = NULL, *addr = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        json_array_foreach(json_object_get(ep, "addresses"), j, addr)
        {
            count++;
            add_endpoint(&b, &shown, json_string_value(addr), -1);
        }
    }
    return api_more_cell(&b, shown, count, LIST_MAX, "<unset>");
}

json_t *
api_row_endpointslice(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o o o]", api_name_cell(obj),
                     api_or_else(api_str_at(obj, "addressType"), ""), slice_ports_cell(obj),
                     slice_endpoints_cell(obj), api_age_cell(obj, now_s));
}

static const char *const address_types[] = {"FQDN", "IPv4", "IPv6", NULL};

void
api_validate_endpointslice(const json_t *obj, const json_t *old, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *ep = NULL;

    api_check_enum(causes, "addressType", api_str_at(obj, "addressType"), address_types, true);
    if (old &&
        !json_equal(json_object_get(obj, "addressType"), json_object_get(old, "addressType")))
        api_cause_invalid_str(causes, "addressType", api_str_at(obj, "addressType"),
                              api_msg_immutable);
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        api_fpath(&f, "endpoints[%zu].addresses", i);
        if (json_array_size(json_object_get(ep, "addresses")) == 0)
            api_cause_required(causes, f.s, "must contain at least 1 address");
    }
}
