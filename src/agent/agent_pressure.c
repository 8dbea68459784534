/* SPDX-License-Identifier: Apache-2.0
 * agent_pressure.c - the Node's MemoryPressure, DiskPressure and PIDPressure
 * conditions: the kubelet's eviction thresholds (--eviction-hard and
 * --eviction-soft, kubelet/kubelet_eviction.c) against measurements of
 * memory.available, nodefs/imagefs (the data dir and its image dir) and
 * pid.available. A node that runs no pods has no kubelet: the defaults. */
#include "agent/agent-internal.h"

void
agent_pressure_measure(struct agent *a, struct kevict_pressure *p)
{
    struct kevict_config defaults;
    bool prev[KEVICT_N] = {0};
    struct kevict_obs o;
    struct k3c_err err = {0};

    if (a->kubelet) {
        kubelet_node_pressure(a->kubelet, p);
        return;
    }
    if (kevict_config_parse(&defaults, NULL, NULL, NULL, NULL, 0, &err) < 0) {
        *p = (struct kevict_pressure){0};
        return;
    }
    kevict_observe(a->paths.dir, &o);
    kevict_pressure_eval(&defaults, &o, prev, p);
}
