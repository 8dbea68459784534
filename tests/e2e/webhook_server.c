/* SPDX-License-Identifier: Apache-2.0
 * webhook_server.c - the admission webhook test_webhooks.sh runs as a pod
 * (issue #17): HTTPS (GnuTLS) on PORT, one thread per connection (kept
 * alive). Answers AdmissionReview v1:
 *   /validate  denies an object labelled webhook-test/deny (status 403,
 *              message "object carries label webhook-test/deny=<value>"),
 *              an exec whose command has the word webhook-test-deny, a
 *              Scale to 13 replicas, any Eviction,
 *              warns "webhook-test: <OPERATION> <resource> <name>" when the
 *              object is labelled webhook-test/warn, allows the rest
 *   /mutate    adds label webhook-test/mutated=yes and annotation
 *              webhook-test/dry-run=<request.dryRun> with a JSON patch
 *   /mutate-extra  adds label webhook-test/extra=yes (a second mutating
 *              webhook, for reinvocation)
 *   both       sleep N seconds first when the object is labelled
 *              webhook-test/sleep=N (timeout tests)
 * Usage: webhook_server PORT (certificate and key PEM in $TLS_CERT and
 * $TLS_KEY). Logs one line per request on stdout. */
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (4 * 1024 * 1024)

static gnutls_certificate_credentials_t creds;

static const char *
label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

/* request.kind.kind */
static const char *
kind_of(const json_t *req)
{
    const char *k = json_string_value(json_object_get(json_object_get(req, "kind"), "kind"));

    return k ? k : "";
}

/* Whether a PodExecOptions' command has word. */
static bool
command_has(const json_t *obj, const char *word)
{
    size_t i;
    const json_t *v;

    json_array_foreach(json_object_get(obj, "command"), i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), word) == 0)
            return true;
    }
    return false;
}

static char *
base64(const char *data)
{
    gnutls_datum_t in = {(unsigned char *)data, (unsigned)strlen(data)}, out = {0};
    char *s;

    if (gnutls_base64_encode2(&in, &out) < 0)
        return NULL;
    s = strndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    return s;
}

/* The AdmissionReview answer for one request body. */
static json_t *
review_reply(const char *path, const char *body, size_t len)
{
    json_t *review = json_loadb(body, len, 0, NULL);
    json_t *req = json_object_get(review, "request");
    json_t *obj = json_object_get(req, "object");
    json_t *resp, *out;
    const char *uid = json_string_value(json_object_get(req, "uid"));
    const char *deny = NULL, *sleep_s;

    if (!obj || json_is_null(obj))
        obj = json_object_get(req, "oldObject");
    printf("%s %s %s/%s dryRun=%s\n", path, json_string_value(json_object_get(req, "operation")),
           json_string_value(json_object_get(json_object_get(req, "resource"), "resource")),
           json_string_value(json_object_get(req, "name")),
           json_is_true(json_object_get(req, "dryRun")) ? "true" : "false");
    fflush(stdout);
    if ((sleep_s = label(obj, "webhook-test/sleep")))
        sleep((unsigned)atoi(sleep_s));
    resp = json_pack("{s:s, s:b}", "uid", uid ? uid : "", "allowed", 1);
    if (strcmp(path, "/validate") == 0) {
        char msg[256] = "";

        deny = label(obj, "webhook-test/deny");
        if (deny)
            snprintf(msg, sizeof(msg), "object carries label webhook-test/deny=%s", deny);
        else if (command_has(obj, "webhook-test-deny"))
            snprintf(msg, sizeof(msg), "command webhook-test-deny is not allowed");
        else if (strcmp(kind_of(req), "Scale") == 0 &&
                 json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas")) ==
                     13)
            snprintf(msg, sizeof(msg), "13 replicas are unlucky");
        else if (strcmp(kind_of(req), "Eviction") == 0)
            snprintf(msg, sizeof(msg), "evictions are not allowed by webhook-test");
        if (msg[0]) {
            json_object_set_new(resp, "allowed", json_false());
            json_object_set_new(
                resp, "status",
                json_pack("{s:i, s:s, s:s}", "code", 403, "reason", "Forbidden", "message", msg));
        }
        if (label(obj, "webhook-test/warn")) {
            char w[256];

            snprintf(
                w, sizeof(w), "webhook-test: %s %s %s (mutated=%s)",
                json_string_value(json_object_get(req, "operation")),
                json_string_value(json_object_get(json_object_get(req, "resource"), "resource")),
                json_string_value(json_object_get(req, "name")),
                label(obj, "webhook-test/mutated") ? label(obj, "webhook-test/mutated") : "no");
            json_object_set_new(resp, "warnings", json_pack("[s]", w));
        }
    } else if (strncmp(path, "/mutate", 7) == 0 && json_is_object(obj)) {
        bool extra = strcmp(path, "/mutate-extra") == 0;
        json_t *meta = json_object_get(obj, "metadata");
        json_t *ops = json_array();
        char *text, *b64;

        if (!json_is_object(json_object_get(meta, "labels")))
            json_array_append_new(ops, json_pack("{s:s, s:s, s:{}}", "op", "add", "path",
                                                 "/metadata/labels", "value"));
        if (!json_is_object(json_object_get(meta, "annotations")))
            json_array_append_new(ops, json_pack("{s:s, s:s, s:{}}", "op", "add", "path",
                                                 "/metadata/annotations", "value"));
        json_array_append_new(ops, json_pack("{s:s, s:s, s:s}", "op", "add", "path",
                                             extra ? "/metadata/labels/webhook-test~1extra"
                                                   : "/metadata/labels/webhook-test~1mutated",
                                             "value", "yes"));
        if (!extra)
            json_array_append_new(
                ops, json_pack("{s:s, s:s, s:s}", "op", "add", "path",
                               "/metadata/annotations/webhook-test~1dry-run", "value",
                               json_is_true(json_object_get(req, "dryRun")) ? "true" : "false"));
        text = json_dumps(ops, JSON_COMPACT);
        b64 = base64(text);
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_string(b64 ? b64 : ""));
        free(b64);
        free(text);
        json_decref(ops);
    }
    out = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                    "AdmissionReview", "response", resp);
    json_decref(review);
    return out;
}

static int
send_all(gnutls_session_t s, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = gnutls_record_send(s, data, len);

        if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads headers and a Content-Length body into buf; returns the body. */
static char *
read_request(gnutls_session_t s, char *buf, size_t cap, char *path, size_t path_len,
             size_t *body_len)
{
    size_t used = 0, want = 0;
    char *end = NULL, *cl;

    for (;;) {
        ssize_t n = gnutls_record_recv(s, buf + used, cap - used - 1);

        if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
            continue;
        if (n <= 0)
            return NULL;
        used += (size_t)n;
        buf[used] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            cl = strcasestr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
            if (want >= cap)
                return NULL;
        }
        if (end && used >= want)
            break;
        if (used + 1 >= cap)
            return NULL;
    }
    if (sscanf(buf, "POST %255s", path) != 1 || path_len < 256)
        return NULL;
    *body_len = want - (size_t)(end + 4 - buf);
    return end + 4;
}

static void *
serve(void *arg)
{
    int fd = (int)(long)arg, rc;
    gnutls_session_t s;
    char *buf = malloc(MAX_REQUEST), path[256], *body, *text, *msg;
    size_t body_len = 0;
    json_t *reply;

    gnutls_init(&s, GNUTLS_SERVER);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 10000);
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0 || !buf)
        goto out;
    /* keep-alive: requests one after the other until the client closes */
    while ((body = read_request(s, buf, MAX_REQUEST, path, sizeof(path), &body_len))) {
        reply = review_reply(path, body, body_len);
        text = json_dumps(reply, JSON_COMPACT);
        json_decref(reply);
        /* head and body in one record: two small writes would meet the
         * client's delayed ACK (Nagle) and cost 40 ms per call */
        msg = NULL;
        if (asprintf(&msg,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\n\r\n%s",
                     strlen(text), text) < 0)
            msg = NULL;
        rc = msg ? send_all(s, msg, strlen(msg)) : -1;
        free(msg);
        free(text);
        if (rc < 0)
            goto out;
    }
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    gnutls_deinit(s);
    close(fd);
    free(buf);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *cert = getenv("TLS_CERT"), *key = getenv("TLS_KEY");
    struct sockaddr_in addr = {.sin_family = AF_INET};
    int one = 1, lfd;

    if (argc != 2 || !cert || !key) {
        fprintf(stderr, "usage: TLS_CERT=PEM TLS_KEY=PEM webhook_server PORT\n");
        return 2;
    }
    gnutls_global_init();
    gnutls_certificate_allocate_credentials(&creds);
    {
        gnutls_datum_t c = {(unsigned char *)cert, (unsigned)strlen(cert)};
        gnutls_datum_t k = {(unsigned char *)key, (unsigned)strlen(key)};

        if (gnutls_certificate_set_x509_key_mem(creds, &c, &k, GNUTLS_X509_FMT_PEM) < 0) {
            fprintf(stderr, "webhook_server: bad certificate or key\n");
            return 1;
        }
    }
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 64) < 0) {
        perror("webhook_server: listen");
        return 1;
    }
    printf("listening on %s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pthread_t t;

        if (fd < 0)
            continue;
        if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}
