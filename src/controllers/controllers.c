/* SPDX-License-Identifier: Apache-2.0
 * controllers.c - the table of every control loop `k3c server` runs.
 * Each controller adds one row: &ctl_def_<name> (declared in controllers.h). */
#include "controllers/controllers.h"

#include <stddef.h>

const struct ctl_def *const ctl_def_table[] = {
    &ctl_def_scheduler,
    &ctl_def_replicaset,     /* replicaset.c */
    &ctl_def_deployment,     /* deployment.c */
    &ctl_def_daemonset,      /* daemonset.c */
    &ctl_def_job,            /* job.c */
    &ctl_def_gc,             /* gc.c */
    &ctl_def_namespace,      /* namespace.c */
    &ctl_def_serviceaccount, /* serviceaccount.c */
    &ctl_def_endpoints,      /* endpoints.c */
    &ctl_def_nodeipam,       /* nodeipam.c */
    &ctl_def_nodelifecycle,  /* nodelifecycle.c */
    &ctl_def_servicelb,      /* servicelb.c */
    &ctl_def_pvbinder,       /* pvbinder.c */
    &ctl_def_runtimeclass,   /* runtimeclass.c (issue #18) */
    &ctl_def_hpa,            /* hpa.c */
    /* rbac_aggregation.c, rootca.c (issue #15) */
    &ctl_def_clusterrole_aggregation,
    &ctl_def_root_ca_publisher,
    &ctl_def_cronjob,     /* cronjob.c (issue #16) */
    &ctl_def_statefulset, /* statefulset.c (issue #16) */
    &ctl_def_disruption,  /* disruption.c (issue #16) */
    /* issue #16, workloads3 */
    &ctl_def_resourcequota, /* resourcequota.c */
    &ctl_def_priorityclass, /* priorityclass.c */
    &ctl_def_csrcleaner,    /* csrcleaner.c (issue #15) */
    &ctl_def_legacy_token,  /* legacytoken.c (issue #15) */
    NULL,
};
