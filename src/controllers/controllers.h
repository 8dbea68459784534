/* SPDX-License-Identifier: Apache-2.0
 * controllers.h - every controller's table row (one per file, listed in
 * ctl_def_table[] of controllers.c). Append a line for a new controller. */
#ifndef K3C_CONTROLLERS_CONTROLLERS_H
#define K3C_CONTROLLERS_CONTROLLERS_H

#include "controllers/controller.h"

extern const struct ctl_def ctl_def_scheduler;      /* src/scheduler/scheduler.c */
extern const struct ctl_def ctl_def_replicaset;     /* replicaset.c */
extern const struct ctl_def ctl_def_deployment;     /* deployment.c */
extern const struct ctl_def ctl_def_daemonset;      /* daemonset.c */
extern const struct ctl_def ctl_def_job;            /* job.c */
extern const struct ctl_def ctl_def_gc;             /* gc.c */
extern const struct ctl_def ctl_def_namespace;      /* namespace.c */
extern const struct ctl_def ctl_def_serviceaccount; /* serviceaccount.c */
extern const struct ctl_def ctl_def_endpoints;      /* endpoints.c */
extern const struct ctl_def ctl_def_nodeipam;       /* nodeipam.c */
extern const struct ctl_def ctl_def_servicelb;      /* servicelb.c (issue #13) */
extern const struct ctl_def ctl_def_nodelifecycle;  /* nodelifecycle.c */
extern const struct ctl_def ctl_def_pvbinder;       /* pvbinder.c (issue #16, storage) */
extern const struct ctl_def ctl_def_runtimeclass;   /* runtimeclass.c (issue #18) */
extern const struct ctl_def ctl_def_hpa;            /* hpa.c (issue #16) */
/* rbac_aggregation.c, rootca.c (issue #15) */
extern const struct ctl_def ctl_def_clusterrole_aggregation;
extern const struct ctl_def ctl_def_root_ca_publisher;
extern const struct ctl_def ctl_def_cronjob;     /* cronjob.c (issue #16) */
extern const struct ctl_def ctl_def_statefulset; /* statefulset.c (issue #16) */
extern const struct ctl_def ctl_def_disruption;  /* disruption.c (issue #16) */
/* issue #16, workloads3 */
extern const struct ctl_def ctl_def_resourcequota; /* resourcequota.c */
extern const struct ctl_def ctl_def_priorityclass; /* priorityclass.c */
extern const struct ctl_def ctl_def_csrcleaner;    /* csrcleaner.c (issue #15) */
extern const struct ctl_def ctl_def_legacy_token;  /* legacytoken.c (issue #15) */
/* When csrcleaner deletes a CertificateSigningRequest (Unix seconds), -1 never. */
int64_t csr_cleanup_at(const json_t *csr);

#endif
