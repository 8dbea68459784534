/* SPDX-License-Identifier: Apache-2.0
 * kind_networkpolicy.c - networking.k8s.io/v1 NetworkPolicy: its table
 * columns and row, defaults and validation, in the shape of upstream's
 * pkg/registry/networking/networkpolicy strategy and
 * pkg/apis/networking/validation (Kubernetes 1.32). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"

/* ---- table ------------------------------------------------------------- */

const struct api_column api_columns_networkpolicy[] = {
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although some "
     "resources may allow a client to request the generation of an appropriate name "
     "automatically. Name is primarily intended for creation idempotence and configuration "
     "definition. Cannot be updated. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
     0},
    {"Pod-Selector", "string", "",
     "Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is "
     "applied to any pods selected by this field. Multiple network policies can select the same "
     "set of pods. In this case, the ingress rules for each are combined additively. This field "
     "is NOT optional and follows standard label selector semantics. An empty podSelector "
     "matches all pods in this namespace.",
     0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when this object was created. "
     "It is not guaranteed to be set in happens-before order across separate operations. Clients "
     "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by "
     "the system. Read-only. Null for lists. More info: "
     "https://git.k8s.io/community/contributors/devel/sig-architecture/"
     "api-conventions.md#metadata",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

json_t *
api_row_networkpolicy(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o o]", api_name_cell(obj),
                     api_selector_cell(api_json_path(obj, "spec.podSelector"), "<none>"),
                     api_age_cell(obj, now_s));
}

/* ---- defaults (SetDefaults_NetworkPolicy, SetDefaults_NetworkPolicyPort) - */

static void
default_ports(json_t *rules, const char *ports_key)
{
    size_t i = 0, j = 0;
    json_t *rule = NULL, *port = NULL;

    json_array_foreach(rules, i, rule)
    {
        json_array_foreach(json_object_get(rule, ports_key), j, port)
        {
            if (json_is_object(port) && !json_object_get(port, "protocol"))
                json_object_set_new(port, "protocol", json_string("TCP"));
        }
    }
}

void
api_defaults_networkpolicy(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *types;

    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "podSelector"))
        json_object_set_new(spec, "podSelector", json_object());
    default_ports(json_object_get(spec, "ingress"), "ports");
    default_ports(json_object_get(spec, "egress"), "ports");
    /* absent policyTypes: Ingress always, Egress when there are egress rules */
    if (json_array_size(json_object_get(spec, "policyTypes")) > 0)
        return;
    types = json_array();
    json_array_append_new(types, json_string("Ingress"));
    if (json_array_size(json_object_get(spec, "egress")) > 0)
        json_array_append_new(types, json_string("Egress"));
    json_object_set_new(spec, "policyTypes", types);
}

/* ---- validation (ValidateNetworkPolicySpec) -------------------------------- */

static void
invalid_str(json_t *causes, const char *field, const char *value, const char *detail)
{
    api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", value, detail);
}

static void
invalid_int(json_t *causes, const char *field, json_int_t value, const char *detail)
{
    api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: %lld: %s", (long long)value,
                  detail);
}

static bool
valid_port_number(json_int_t p)
{
    return p >= 1 && p <= 65535;
}

/* validation.IsValidPortName: an IANA_SVC_NAME. First failure reported. */
static const char *
port_name_problem(const char *s)
{
    bool letter = false;
    size_t n = strlen(s);

    if (n == 0 || n > 15)
        return "must be no more than 15 characters";
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
        letter |= *p >= 'a' && *p <= 'z';
        if (*p == '-' && p[1] == '-')
            return "must not contain consecutive hyphens (-)";
    }
    if (!letter)
        return "must contain at least one letter (a-z)";
    if (s[0] == '-' || s[n - 1] == '-')
        return "must not begin or end with a hyphen (-)";
    return NULL;
}

static void
validate_port(const json_t *port, const char *path, json_t *causes)
{
    static const char *const protocols[] = {"TCP", "UDP", "SCTP", NULL};
    const char *proto = json_string_value(json_object_get(port, "protocol"));
    const json_t *p = json_object_get(port, "port"), *end = json_object_get(port, "endPort");
    char f[256];

    if (proto && strcmp(proto, "TCP") != 0 && strcmp(proto, "UDP") != 0 &&
        strcmp(proto, "SCTP") != 0) {
        snprintf(f, sizeof(f), "%.200s.protocol", path);
        api_cause_add(causes, "FieldValueNotSupported", f,
                      "Unsupported value: \"%s\": supported values: \"%s\", \"%s\", \"%s\"", proto,
                      protocols[0], protocols[1], protocols[2]);
    }
    snprintf(f, sizeof(f), "%.200s.endPort", path);
    if (!p || json_is_null(p)) {
        if (end && !json_is_null(end))
            invalid_int(causes, f, json_integer_value(end),
                        "may not be specified when `port` is not specified");
        return;
    }
    if (json_is_integer(p)) {
        json_int_t start = json_integer_value(p);

        if (!valid_port_number(start)) {
            char pf[256];

            snprintf(pf, sizeof(pf), "%.200s.port", path);
            invalid_int(causes, pf, start, "must be between 1 and 65535, inclusive");
        }
        if (end && !json_is_null(end)) {
            if (json_integer_value(end) < start)
                invalid_int(causes, f, start, "must be greater than or equal to `port`");
            if (!valid_port_number(json_integer_value(end)))
                invalid_int(causes, f, json_integer_value(end),
                            "must be between 1 and 65535, inclusive");
        }
        return;
    }
    if (end && !json_is_null(end))
        invalid_int(causes, f, json_integer_value(end),
                    "may not be specified when `port` is non-numeric");
    if (json_is_string(p)) {
        const char *why = port_name_problem(json_string_value(p));

        snprintf(f, sizeof(f), "%.200s.port", path);
        if (why)
            invalid_str(causes, f, json_string_value(p), why);
    }
}

/* "a.b.c.d/n" or an IPv6 CIDR; family, address bytes and prefix out. */
static bool
parse_cidr(const char *s, int *family, unsigned char addr[16], int *prefix)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    char *end = NULL;
    long n;

    if (!slash || (size_t)(slash - s) >= sizeof(ip) || !slash[1])
        return false;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    n = strtol(slash + 1, &end, 10);
    if (*end || slash[1] < '0' || slash[1] > '9')
        return false;
    *family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(*family, ip, addr) != 1)
        return false;
    if (n < 0 || n > (*family == AF_INET ? 32 : 128))
        return false;
    *prefix = (int)n;
    return true;
}

/* True when the first bits of a and b agree. */
static bool
same_prefix(const unsigned char *a, const unsigned char *b, int bits)
{
    for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);

        if ((a[i / 8] & mask) != (b[i / 8] & mask))
            return false;
    }
    return true;
}

static void
validate_ip_block(const json_t *block, const char *path, json_t *causes)
{
    const char *cidr = json_string_value(json_object_get(block, "cidr"));
    unsigned char net[16] = {0}, ex[16] = {0};
    int fam = 0, prefix = 0;
    size_t i = 0;
    const json_t *e = NULL;
    char f[256];

    snprintf(f, sizeof(f), "%.200s.cidr", path);
    if (!cidr || !*cidr) {
        api_cause_add(causes, "FieldValueRequired", f, "Required value");
        return;
    }
    if (!parse_cidr(cidr, &fam, net, &prefix)) {
        invalid_str(causes, f, cidr, "not a valid CIDR");
        return;
    }
    json_array_foreach(json_object_get(block, "except"), i, e)
    {
        const char *s = json_string_value(e);
        int efam = 0, eprefix = 0;

        snprintf(f, sizeof(f), "%.200s.except[%zu]", path, i);
        if (!s || !parse_cidr(s, &efam, ex, &eprefix)) {
            invalid_str(causes, f, s ? s : "", "not a valid CIDR");
            continue;
        }
        if (efam != fam || eprefix <= prefix || !same_prefix(net, ex, prefix))
            invalid_str(causes, f, s, "must be a strict subset of `cidr`");
    }
}

static void
validate_peer(const json_t *peer, const char *path, json_t *causes)
{
    const json_t *pods = json_object_get(peer, "podSelector");
    const json_t *nss = json_object_get(peer, "namespaceSelector");
    const json_t *block = json_object_get(peer, "ipBlock");
    int n = 0;
    char f[256];

    if (pods && !json_is_null(pods)) {
        snprintf(f, sizeof(f), "%.200s.podSelector", path);
        api_validate_label_selector(pods, f, causes);
        n++;
    }
    if (nss && !json_is_null(nss)) {
        snprintf(f, sizeof(f), "%.200s.namespaceSelector", path);
        api_validate_label_selector(nss, f, causes);
        n++;
    }
    if (block && !json_is_null(block)) {
        snprintf(f, sizeof(f), "%.200s.ipBlock", path);
        validate_ip_block(block, f, causes);
        n++;
    }
    if (n == 0)
        api_cause_add(causes, "FieldValueRequired", path, "Required value: must specify a peer");
    else if (n > 1 && block && !json_is_null(block))
        api_cause_add(causes, "FieldValueForbidden", path,
                      "Forbidden: may not specify both ipBlock and another peer");
}

/* spec.ingress (peers under "from") or spec.egress ("to"). */
static void
validate_rules(const json_t *rules, const char *dir, const char *peers_key, json_t *causes)
{
    size_t i = 0, j = 0;
    const json_t *rule = NULL, *x = NULL;
    char f[256];

    json_array_foreach(rules, i, rule)
    {
        json_array_foreach(json_object_get(rule, "ports"), j, x)
        {
            snprintf(f, sizeof(f), "spec.%s[%zu].ports[%zu]", dir, i, j);
            validate_port(x, f, causes);
        }
        json_array_foreach(json_object_get(rule, peers_key), j, x)
        {
            snprintf(f, sizeof(f), "spec.%s[%zu].%s[%zu]", dir, i, peers_key, j);
            validate_peer(x, f, causes);
        }
    }
}

void
api_validate_networkpolicy(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *types = json_object_get(spec, "policyTypes"), *t = NULL;
    size_t i = 0;
    char f[64];

    (void)old;
    api_validate_label_selector(json_object_get(spec, "podSelector"), "spec.podSelector", causes);
    validate_rules(json_object_get(spec, "ingress"), "ingress", "from", causes);
    validate_rules(json_object_get(spec, "egress"), "egress", "to", causes);
    if (json_array_size(types) > 2)
        api_cause_add(causes, "FieldValueInvalid", "spec.policyTypes",
                      "Invalid value: %zu: may not specify more than two policyTypes",
                      json_array_size(types));
    json_array_foreach(types, i, t)
    {
        const char *v = json_string_value(t);

        snprintf(f, sizeof(f), "spec.policyTypes[%zu]", i);
        if (!v || (strcmp(v, "Ingress") != 0 && strcmp(v, "Egress") != 0))
            api_cause_add(causes, "FieldValueNotSupported", f,
                          "Unsupported value: \"%s\": supported values: \"Ingress\", \"Egress\"",
                          v ? v : "");
    }
}
