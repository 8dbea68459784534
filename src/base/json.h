/* SPDX-License-Identifier: Apache-2.0
 * json.h - a faster json_loadb for plain JSON (issue #20; json_load.c). */
#ifndef K3C_BASE_JSON_H
#define K3C_BASE_JSON_H

#include <jansson.h>
#include <stddef.h>

/* json_loadb(buf, len, flags, err): the same tree and the same errors,
 * several times faster for the plain JSON clients and etcd send. flags other
 * than 0 and JSON_REJECT_DUPLICATES go to jansson as they are. */
json_t *k3c_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);
/* The length of the valid UTF-8 sequence at s (s[0] >= 0x80, avail bytes
 * readable) as jansson's parser and writer accept one; 0 if it is not one.
 * Shared by the fast parser and the API's JSON writer. */
size_t k3c_json_utf8_len(const unsigned char *s, size_t avail);
/* What a byte of a JSON string is to the fast parser and writer: 0 a plain
 * byte; 1 a byte that ends a plain run ('"', '\\', a control character:
 * escaped when written); 2 the first byte of a multi-byte UTF-8 sequence
 * (or not UTF-8: k3c_json_utf8_len says). */
extern const unsigned char k3c_json_string_class[256];

#endif
