/* sandbox: everything about one user's pod that the root monitor needs, as
 * synchronous, event-loop-free functions. The monitor owns processes and
 * timing; this module owns paths, the OCI bundle, the host uid ranges and the
 * runtime's command lines.
 *
 * Trust: callers pass user names already checked with nbw_username_valid();
 * every function re-checks and returns -EINVAL otherwise. Every path is built
 * here from config + user name, never taken from the hub.
 *
 * Host layout under state_dir (created by sandbox_prepare / sandbox_init):
 *   state_dir/                 root 0755
 *   state_dir/hub/             hub uid:gid 0700 (SQLite lives here; monitor never opens it)
 *   state_dir/slots            root 0600: "slot name\n" lines, the host uid range registry
 *   state_dir/homes/NAME/      host jovyan uid/gid 0700 → /home/jovyan
 *   state_dir/run/NAME/        host jovyan uid, group hub gid, 02750 → /run/nbwarden in the pod;
 *                              the server's socket is state_dir/run/NAME/jupyter.sock (0660)
 *   state_dir/bundles/NAME/    root 0755: config.json, rootfs/ (empty, read-only mount points), etc/
 *   state_dir/logs/NAME.log    root 0640: the server's stdout/stderr
 * The runtime's own state: /run/nbwarden/runc (runc --root). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

#define SANDBOX_RUNC_ROOT "/run/nbwarden/runc"
#define SANDBOX_ID_PREFIX "nbwarden-"
/* Several nbwarden instances (different state_dirs) may share one host and its
 * runc root: container ids are "nbwarden-<instance>-<user>" and cgroups
 * "/nbwarden/<instance>-<user>", where <instance> is 8 hex digits derived from
 * hub.state_dir; an instance only ever touches its own containers. */
#define SANDBOX_INSTANCE_LEN 8
int sandbox_instance_id(const struct config *cfg, char out[SANDBOX_INSTANCE_LEN + 1]);

struct sandbox_paths {
	char home[4096];
	char run_dir[4096];
	char socket[4096];
	char bundle[4096];
	char log[4096];
	char pid_file[4096];
	char container_id[64]; /* "nbwarden-NAME" */
};

/* Human-readable failure reason that can cross into the audit log and the UI. */
struct sandbox_error {
	int code;          /* -errno */
	char message[512]; /* e.g. "OCI runtime '/nope/runc' not found (singleuser.runtime)" */
};

/* Create state_dir, state_dir/hub (owned by hub uid/gid), homes/, run/, bundles/, logs/
 * and SANDBOX_RUNC_ROOT with safe modes; refuse (with err) if state_dir is not a
 * directory we can write or if any component is a symlink. */
int sandbox_init(const struct config *cfg, struct sandbox_error *err);

int sandbox_paths_get(const struct config *cfg, const char *user, struct sandbox_paths *ret);

/* Host uid range slot for user: stable across restarts (state_dir/slots), unique
 * per user, allocated on first use; -ENOSPC past singleuser.maxServers... or when
 * base + (slot+1)*65536 would overflow uid_t. */
int sandbox_slot_get(const struct config *cfg, const char *user, uint32_t *ret_slot);
/* The host uid that the sandbox's singleuser.uid maps to. */
uid_t sandbox_host_uid(const struct config *cfg, uint32_t slot);
gid_t sandbox_host_gid(const struct config *cfg, uint32_t slot);

/* The OCI config.json for this user (malloc'd, NUL-terminated JSON). Pure apart
 * from reading nothing: unit-tested. token is the Jupyter server's token
 * (passed as NBWARDEN_SERVER_TOKEN in the environment, never on the command line, and
 * checked by the generated etc/nbwarden/nbwarden_auth.py login handler; Jupyter's own
 * token is empty so no page embeds it). */
int sandbox_oci_spec(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		     const struct sandbox_paths *paths, char **ret_json);

/* Prepare everything on disk for a start: home (kept across starts), run dir
 * (emptied), bundle (rewritten: rootfs skeleton with bin/lib/sbin/lib64 links,
 * generated etc/: passwd, group, hosts, resolv.conf, nsswitch.conf, ld.so.cache,
 * ssl/certs mount point), log file truncated. */
int sandbox_prepare(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		    const struct sandbox_paths *paths, struct sandbox_error *err);

/* Resolve singleuser.runtime (absolute path, or PATH lookup) into buf; -ENOENT
 * with err->message naming the setting when it is missing or not executable. */
int sandbox_runtime_resolve(const struct config *cfg, char *buf, size_t size, struct sandbox_error *err);

/* argv (NULL-terminated, pointing into *storage which the caller frees with
 * free()) for: runtime --root SANDBOX_RUNC_ROOT run --detach --bundle B --pid-file P ID */
int sandbox_argv_run(const char *runtime, const struct sandbox_paths *paths, char ***ret_argv);
/* runtime --root SANDBOX_RUNC_ROOT delete --force ID */
int sandbox_argv_delete(const char *runtime, const char *container_id, char ***ret_argv);

/* runtime --root SANDBOX_RUNC_ROOT kill ID SIGNAL; signal is "TERM" or "KILL"
 * (a graceful stop: Jupyter, pid 1 in the pod, handles SIGTERM; then delete --force). */
int sandbox_argv_kill(const char *runtime, const char *container_id, const char *signal, char ***ret_argv);
/* runtime --root SANDBOX_RUNC_ROOT state ID (prints JSON with "status" and "pid"; for
 * reconciling leftovers after a monitor restart). */
int sandbox_argv_state(const char *runtime, const char *container_id, char ***ret_argv);

/* Read the container's init pid from paths->pid_file. */
int sandbox_read_pid(const struct sandbox_paths *paths, pid_t *ret_pid);

/* Non-blocking readiness probe: 1 when a connection to the server's socket is
 * accepted, 0 when not yet (absent, ECONNREFUSED, EAGAIN), -errno on a hard
 * error. Never follows a symlink planted in the run dir (opens it O_PATH|O_NOFOLLOW,
 * checks S_ISSOCK, connects via /proc/self/fd/N). */
int sandbox_probe_ready(const struct sandbox_paths *paths);

/* Last non-empty line of the server log (for failure messages), escaped to printable ASCII. */
int sandbox_log_tail(const struct sandbox_paths *paths, char *buf, size_t size);

/* Remove the bundle and run dir (never the home). Safe to call twice. */
int sandbox_cleanup(const struct sandbox_paths *paths);

/* Names of containers with our prefix left in SANDBOX_RUNC_ROOT (from a crash),
 * for the monitor to delete at start. *ret is a NULL-terminated malloc'd array. */
int sandbox_list_leftovers(const struct config *cfg, char ***ret);
void sandbox_strv_free(char **v);
