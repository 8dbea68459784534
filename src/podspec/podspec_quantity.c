/* SPDX-License-Identifier: Apache-2.0
 * podspec_quantity.c - Kubernetes resource quantities ("100m", "1.5Gi",
 * "1e3") as exact integers, and container resources → runtime_resources.
 * The arithmetic is base/quantity.c's (k3c_quantity_scaled); this file adds
 * the error messages, JSON numbers and the runtime's resource figures. */
#include "base/quantity.h"
#include "podspec/podspec.h"

static int
quantity_scaled(const char *s, int scale, int64_t *out, struct k3c_err *err)
{
    int rc = k3c_quantity_scaled(s, scale, out);

    if (!s || !*s)
        return k3c_err_set(err, K3C_E_INVALID, "quantity: empty");
    if (rc == K3C_QUANTITY_SYNTAX)
        return k3c_err_set(err, K3C_E_INVALID,
                           "quantity \"%s\": quantities must match the regular expression "
                           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                           s);
    if (rc == K3C_QUANTITY_RANGE)
        return k3c_err_set(err, K3C_E_INVALID, "quantity \"%s\": out of range", s);
    return 0;
}

int
podspec_quantity_milli(const char *s, int64_t *milli_out, struct k3c_err *err)
{
    return quantity_scaled(s, 3, milli_out, err);
}

int
podspec_quantity_value(const char *s, int64_t *out, struct k3c_err *err)
{
    return quantity_scaled(s, 0, out, err);
}

static int
quantity_json(const json_t *v, int scale, int64_t *out, struct k3c_err *err)
{
    char num[64];

    if (json_is_string(v))
        return quantity_scaled(json_string_value(v), scale, out, err);
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return quantity_scaled(num, scale, out, err);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.9f", json_real_value(v));
        return quantity_scaled(num, scale, out, err);
    }
    return k3c_err_set(err, K3C_E_INVALID, "quantity: not a string or number");
}

int
podspec_quantity_json_milli(const json_t *v, int64_t *milli_out, struct k3c_err *err)
{
    return quantity_json(v, 3, milli_out, err);
}

int
podspec_quantity_json_value(const json_t *v, int64_t *out, struct k3c_err *err)
{
    return quantity_json(v, 0, out, err);
}

/* resources.<section>.<name> into *out (unchanged when absent). */
static int
resource_get(const json_t *res, const char *section, const char *name, bool milli, int64_t *out,
             struct k3c_err *err)
{
    const json_t *v = json_object_get(json_object_get(res, section), name);

    if (!v)
        return 0;
    if (quantity_json(v, milli ? 3 : 0, out, err) < 0)
        return k3c_err_wrap(err, "resources.%s.%s", section, name);
    return 0;
}

int
podspec_container_resources(const json_t *container, struct runtime_resources *out,
                            struct k3c_err *err)
{
    const json_t *res = json_object_get(container, "resources");
    struct runtime_resources r = {0};
    int64_t mem_req = 0;

    if (resource_get(res, "requests", "cpu", true, &r.cpu_request_millicores, err) < 0 ||
        resource_get(res, "limits", "cpu", true, &r.cpu_limit_millicores, err) < 0 ||
        resource_get(res, "limits", "memory", false, &r.memory_limit_bytes, err) < 0 ||
        resource_get(res, "requests", "memory", false, &mem_req, err) < 0)
        return -1;
    if (r.cpu_request_millicores < 0 || r.cpu_limit_millicores < 0 || r.memory_limit_bytes < 0 ||
        mem_req < 0)
        return k3c_err_set(err, K3C_E_INVALID, "resources: negative quantity");
    /* API defaulting: a limit without a request makes the request equal */
    if (!json_object_get(json_object_get(res, "requests"), "cpu"))
        r.cpu_request_millicores = r.cpu_limit_millicores;
    *out = r;
    return 0;
}
