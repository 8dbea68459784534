/* SPDX-License-Identifier: Apache-2.0
 * fuzz_netpol_rules.c - NetworkPolicy compilation (netpol_script): any user
 * who may write a NetworkPolicy, a Pod (labels, container port names and
 * numbers) or a Namespace's labels shapes the nftables script every node
 * runs as root. The input is {"policies":[...],"pods":[...],
 * "namespaces":[...]}. Whatever comes in, the script must be commands only
 * ("add ..." or the one "delete table"), one per line, built from
 * characters nft reads as addresses, numbers, names and the fixed syntax:
 * no quotes, comments, variables or includes. */
#include "net/netpol.h"
#include "fuzz.h"

static bool
safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr(" .,:/{}@;_-!=\n", c) != NULL;
}

static void
check_script(const char *s)
{
    const char *line = s;

    for (const char *p = s; *p; p++)
        FUZZ_CHECK(safe_char(*p), "script characters are nft's plain syntax");
    while (*line) {
        const char *nl = strchr(line, '\n');

        FUZZ_CHECK(strncmp(line, "add ", 4) == 0 || strncmp(line, "delete table ip t\n", 18) == 0,
                   "every line is one command");
        FUZZ_CHECK(nl != NULL, "every command ends its line");
        line = nl + 1;
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    char *script;

    if (!in)
        return 0;
    script = netpol_script("t", "n1", json_object_get(in, "policies"), json_object_get(in, "pods"),
                           json_object_get(in, "namespaces"));
    check_script(script);
    free(script);
    json_decref(in);
    return 0;
}
