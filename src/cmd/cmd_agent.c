/* SPDX-License-Identifier: Apache-2.0
 * cmd_agent.c - `k3c agent`: accepts its flags already; the node agent
 * itself (kubelet, containers, pod network) is not built yet (issue #5). */
#include "cmd/cmd.h"

#include <stdio.h>

int
cmd_agent(int argc, char **argv, char **envp)
{
    struct k3c_config cfg = {0};
    int rc = cmd_load_config(&cfg, CONFIG_ROLE_AGENT, "agent", argc, argv, envp);

    if (rc < 0) {
        fprintf(stderr, "k3c agent: the node agent is not built yet (see issue #5); "
                        "nothing was started\n");
        rc = K3C_EXIT_FAIL;
    }
    config_fini(&cfg);
    return rc;
}
