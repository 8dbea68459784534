/* SPDX-License-Identifier: Apache-2.0
 * cmd.h - the k3c command line: a verb table in main.c dispatches to one
 * file per verb. Only this directory prints usage and decides exit codes:
 * 0 success, 1 failure, 2 usage error. */
#ifndef K3C_CMD_CMD_H
#define K3C_CMD_CMD_H

#include "config/config.h"

#include <signal.h>
#include <stdint.h>

#define K3C_EXIT_OK    0
#define K3C_EXIT_FAIL  1
#define K3C_EXIT_USAGE 2

int cmd_server(int argc, char **argv, char **envp);
int cmd_agent(int argc, char **argv, char **envp);
/* cmd_lab.c: k3c lab, k3c topology, k3c doctor (src/lab/). */
int cmd_lab(int argc, char **argv, char **envp);
int cmd_topology(int argc, char **argv, char **envp);
int cmd_doctor(int argc, char **argv, char **envp);
int cmd_etcd_snapshot(int argc, char **argv, char **envp);
/* cmd_install.c: k3c install, killall, uninstall (src/install/). */
int cmd_install(int argc, char **argv, char **envp);
int cmd_killall(int argc, char **argv, char **envp);
int cmd_uninstall(int argc, char **argv, char **envp);
/* cmd_certificate.c: k3c certificate check|rotate (issue #21). */
int cmd_certificate(int argc, char **argv, char **envp);
/* cmd_secrets_encrypt.c: k3c secrets-encrypt status (issue #15). */
int cmd_secrets_encrypt(int argc, char **argv, char **envp);

/* Loads the configuration for a verb and turns config_load's result into an
 * exit code: -1 means "go on", anything else is the code to exit with. */
int cmd_load_config(struct k3c_config *cfg, enum config_role role, const char *verb, int argc,
                    char **argv, char **envp);

/* Waits for one of the (blocked) signals in set for up to ms (ms < 0:
 * forever). Returns the signal, or 0 when the time passed. */
int cmd_wait_signal(const sigset_t *set, int64_t ms);

struct agent;
/* Joins server_url with token and starts the node agent for cfg's node
 * (k3c agent, and k3c server's own node with control_plane set). While the
 * server cannot be reached or is not ready it retries with back-off, as a
 * K3s agent does; a wrong token fails at once. Returns 0 (*out set), -1
 * with err, or the signal from stop that arrived while it waited. */
int cmd_run_agent(const struct k3c_config *cfg, const char *server_url, const char *token,
                  bool control_plane, const sigset_t *stop, struct agent **out,
                  struct k3c_err *err);

#endif
