/* monitor: the root process of `nbwarden serve`. It owns the audit log, the
 * sandboxes and every host change; it runs the unprivileged hub as a child and
 * serves the hub's typed requests (src/ipc). It links no HTTP, TLS, JOSE or
 * SQLite code and never parses network input.
 *
 * Also home of the small privilege-dropping exec used for the hub and for the
 * CLI modes that touch the hub's database. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"

/* Run `serve` until SIGTERM/SIGINT; returns the process exit code. */
int monitor_serve(const struct config *cfg, const char *config_path);

/* fork + drop to hub.uid/hub.gid (no supplementary groups, no_new_privs, parent
 * death signal) + exec the nbwarden-hub binary that sits next to our own
 * executable with argv (argv[0] is replaced). fd_map: n pairs {from, to}; every
 * other fd above 2 is closed in the child. */
int monitor_exec_hub(const struct config *cfg, char **argv, const int (*fd_map)[2], size_t n, pid_t *ret_pid);

/* Path of the nbwarden-hub binary (next to /proc/self/exe). */
int monitor_hub_binary(char *buf, size_t size);
