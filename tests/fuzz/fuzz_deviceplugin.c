/* SPDX-License-Identifier: Apache-2.0
 * fuzz_deviceplugin.c - what a device plugin (a local process, but a peer)
 * sends the kubelet (issue #18). The first byte picks the door:
 *   0: the byte stream a client sends kubelet.sock (HTTP/2 with gRPC
 *      messages), into a server connection whose Register handler parses
 *      and checks but registers nothing;
 *   1: the byte stream a plugin answers a call with (HTTP/2 from the
 *      server side), into a client connection with a ListAndWatch call
 *      open: every message delivered is at most GRPC_MAX_MSG and the call
 *      ends at most once;
 *   2: an AllocateResponse, turned into CDI edits: on success every path in
 *      them is absolute and every env entry is NAME=VALUE;
 *   3: a ListAndWatchResponse and a PreferredAllocationResponse unpacked. */
#include "deviceplugin/deviceplugin-internal.h"
#include "base/util.h"
#include "fuzz.h"

static int n_end;

static void
on_msg(void *ud, const uint8_t *msg, size_t len)
{
    (void)ud;
    (void)msg;
    FUZZ_CHECK(len <= GRPC_MAX_MSG, "a message within the limit");
    if (len) {
        V1beta1__ListAndWatchResponse *r = v1beta1__list_and_watch_response__unpack(NULL, len, msg);

        if (r)
            v1beta1__list_and_watch_response__free_unpacked(r, NULL);
    }
}

static void
on_end(void *ud, int status, const char *message)
{
    (void)ud;
    (void)message;
    FUZZ_CHECK(status >= 0 && status <= 16, "a gRPC status");
    n_end++;
}

static void
fuzz_server(const uint8_t *data, size_t size)
{
    struct grpc_conn *c = grpc_conn_server_new(-1, dp_registration_handler, NULL);
    struct k3c_err err = {0};

    /* in pieces, as reads would come */
    for (size_t off = 0; off < size;) {
        size_t n = size - off > 777 ? 777 : size - off;

        if (grpc_conn_feed(c, data + off, n, &err) < 0)
            break;
        off += n;
    }
    grpc_conn_free(c);
}

static void
fuzz_client(const uint8_t *data, size_t size)
{
    struct grpc_conn *c = grpc_conn_client_new(-1);
    struct k3c_err err = {0};
    uint8_t empty = 0;

    n_end = 0;
    if (grpc_call_start(c, "/v1beta1.DevicePlugin/ListAndWatch", &empty, 0, on_msg, on_end, NULL,
                        &err) == 0)
        grpc_conn_feed(c, data, size, &err);
    grpc_conn_free(c);
    FUZZ_CHECK(n_end <= 1, "a call ends once");
}

static void
fuzz_allocate(const uint8_t *data, size_t size)
{
    json_t *edits = json_object();
    char **cdi = NULL;
    struct k3c_err err = {0};
    size_t i;
    json_t *v;

    if (deviceplugin_response_edits(data, size, edits, &cdi, &err) == 0) {
        json_array_foreach(json_object_get(edits, "env"), i, v)
        {
            const char *s = json_string_value(v);

            FUZZ_CHECK(s && strchr(s, '=') && s[0] != '=', "NAME=VALUE");
        }
        json_array_foreach(json_object_get(edits, "mounts"), i, v)
        {
            FUZZ_CHECK(json_string_value(json_object_get(v, "hostPath"))[0] == '/', "abs host");
            FUZZ_CHECK(json_string_value(json_object_get(v, "containerPath"))[0] == '/',
                       "abs container");
        }
        json_array_foreach(json_object_get(edits, "deviceNodes"), i, v)
            FUZZ_CHECK(json_string_value(json_object_get(v, "path"))[0] == '/', "abs device");
        for (size_t k = 0; cdi && cdi[k]; k++)
            FUZZ_CHECK(strchr(cdi[k], '=') != NULL, "a qualified CDI name");
    }
    k3c_strv_free(cdi);
    json_decref(edits);
}

static void
fuzz_messages(const uint8_t *data, size_t size)
{
    V1beta1__ListAndWatchResponse *l = v1beta1__list_and_watch_response__unpack(NULL, size, data);
    V1beta1__PreferredAllocationResponse *p =
        v1beta1__preferred_allocation_response__unpack(NULL, size, data);

    if (l)
        v1beta1__list_and_watch_response__free_unpacked(l, NULL);
    if (p)
        v1beta1__preferred_allocation_response__free_unpacked(p, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        fuzz_server(data + 1, size - 1);
        break;
    case 1:
        fuzz_client(data + 1, size - 1);
        break;
    case 2:
        fuzz_allocate(data + 1, size - 1);
        break;
    default:
        fuzz_messages(data + 1, size - 1);
    }
    return 0;
}
