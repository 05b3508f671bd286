/* hub: the unprivileged, network-facing process (nbwarden-hub serve).
 *
 * Serves /hub/ (login, pages, REST API) and authorizes /user/NAME/ requests
 * for the proxy; learns about user servers from the root monitor over the
 * IPC channel and asks it to spawn/stop them. */
#pragma once

struct config;
struct store;

/* Run until SIGTERM/SIGINT (returns 0) or until the monitor channel is lost or
 * misbehaves (returns 1: the monitor restarts the hub). listen_fd is a bound,
 * listening TCP socket; ipc_fd the SOCK_SEQPACKET channel to the monitor. The
 * caller keeps ownership of cfg, store and both fds. */
int hub_run(const struct config *cfg, struct store *store, int ipc_fd, int listen_fd);
