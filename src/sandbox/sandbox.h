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
struct sandbox_audit_plan; /* the runtime policy's kernel audit watches (below) */

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
/* ret_plan (may be NULL): the kernel audit watches of this start's runtime
 * policy (sandbox_policy_compile), for the monitor to install; free it with
 * sandbox_audit_plan_free. */
int sandbox_prepare(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		    const struct sandbox_paths *paths, struct sandbox_audit_plan *ret_plan, struct sandbox_error *err);

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

/* ==== home volumes (volume.c) ======================================================
 * Each user's home is a PVC-like claim "claim-NAME": a sparse ext4 image
 *   state_dir/volumes/                root 0700
 *   state_dir/volumes/claim-NAME.img  root 0600, singleuser.storage.capacity bytes
 * attached to an auto-clearing loop device and mounted (nosuid,nodev,noexec) on
 *   state_dir/homes/NAME              the mount point: root 0700 underneath; the
 *                                     volume's root (host jovyan uid) on top
 * before the container starts, and unmounted (loop device released) after it is
 * deleted. The image is kept across stops and culls; it is never shared.
 *
 * Creating a volume is two steps so the monitor never blocks on mkfs:
 * sandbox_volume_prepare() returns 1 after creating claim-NAME.img.new; the
 * monitor runs sandbox_volume_argv_mkfs() as a child, then sandbox_volume_commit()
 * (or sandbox_volume_abort() on failure). A half-made image is never used.
 *
 * A change of singleuser.storage.capacity applies to new volumes only; existing
 * images keep their size (growing them is a later step). A home directory from
 * before volumes (a plain non-empty directory) is refused with a message, never
 * migrated automatically. */
#define SANDBOX_VOLUME_WARN_PERCENT 80u  /* storage.quota.warning at or above */
#define SANDBOX_VOLUME_REARM_PERCENT 75u /* warn again after dropping below */

struct sandbox_volume_usage {
	uint64_t used_bytes;     /* blocks in use (statfs) */
	uint64_t usable_bytes;   /* what the filesystem can hold (statfs f_blocks) */
	uint64_t capacity_bytes; /* the claim's size (the image file) */
	uint32_t percent;        /* used / usable, rounded down, 0..100 */
};

/* "claim-NAME" */
int sandbox_volume_claim(const char *user, char *buf, size_t size);
/* state_dir/volumes/claim-NAME.img */
int sandbox_volume_image_path(const struct config *cfg, const char *user, char *buf, size_t size);
/* singleuser.storage.capacity rounded down to whole MiB; -ERANGE outside 16 MiB..16 TiB. */
int sandbox_volume_capacity(const struct config *cfg, uint64_t *ret_bytes);
/* used * 100 / usable, rounded down, clamped to 100 (0 when usable is 0); overflow-safe. */
uint32_t sandbox_volume_percent(uint64_t used, uint64_t usable);
/* Warning hysteresis: true when a storage.quota.warning must be written now;
 * updates *warned (set at >= WARN, cleared below REARM). */
bool sandbox_volume_warn_step(bool *warned, uint32_t percent);

/* 0: the image exists and can be attached; 1: a new image was created as
 * claim-NAME.img.new and needs mkfs; -errno with err set otherwise (e.g. a plain
 * home from before volumes, a symlinked or foreign image). */
int sandbox_volume_prepare(const struct config *cfg, const char *user, uint32_t slot, struct sandbox_error *err);
/* argv for: mkfs.ext4 -q -F -m 0 -E root_owner=HOSTUID:HOSTGID state_dir/volumes/claim-NAME.img.new
 * (mkfs.ext4 found in a fixed root-owned PATH; -ENOENT with a message naming e2fsprogs). */
int sandbox_volume_argv_mkfs(const struct config *cfg, const char *user, uint32_t slot, char ***ret_argv,
			     struct sandbox_error *err);
int sandbox_volume_commit(const struct config *cfg, const char *user, struct sandbox_error *err);
/* Remove a claim-NAME.img.new (a failed or interrupted mkfs). Safe to call always. */
int sandbox_volume_abort(const struct config *cfg, const char *user);
/* Loop-attach (LOOP_CONFIGURE, autoclear) and mount the image on homes/NAME.
 * fresh: just made by mkfs (lost+found is removed). A stale mount of ours on
 * homes/NAME is unmounted first. Mounted nosuid,nodev, and noexec whenever the
 * pod's home mount (sandbox_oci_spec) is noexec: runc 1.1 cannot remount a bind
 * mount without a flag that is locked in the pod's user namespace. */
int sandbox_volume_attach(const struct config *cfg, const char *user, uint32_t slot, bool fresh,
			  struct sandbox_error *err);
/* Unmount homes/NAME if mounted and make sure the loop device is released;
 * 0 when nothing is left (or nothing was mounted); -EBUSY when the volume is
 * still in use (it was detached lazily and the loop device goes with its last user). */
int sandbox_volume_detach(const struct config *cfg, const char *user, struct sandbox_error *err);
/* Detach every volume mounted below homes/ and remove every *.img.new (after a
 * crash, before any server starts). Returns the number detached or -errno. */
int sandbox_volume_detach_all(const struct config *cfg);
/* statfs of the mounted volume; -ENOTCONN when homes/NAME is not a mounted volume. */
int sandbox_volume_usage(const struct config *cfg, const char *user, struct sandbox_volume_usage *ret);
/* Persisted warning state (state_dir/volumes/claim-NAME.warned), so that a
 * crossing is audited once even across restarts. */
bool sandbox_volume_warned_get(const struct config *cfg, const char *user);
int sandbox_volume_warned_set(const struct config *cfg, const char *user, bool warned);

/* ==== runtime policy (policy.c) =====================================================
 * The operator's singleuser.securityPolicy (KubeArmor semantics, config.h) on
 * top of the built-in baseline, compiled per start into the guard's Landlock
 * policy (bundle etc/nbwarden/policy, written by sandbox_prepare) and into the
 * kernel audit watches below, which the monitor installs for the sandbox's uid
 * range while it runs (Audit actions and audit postures). */

/* Where the rules of p may point, given the pod's mounts (see policy.c): 0, or
 * -EINVAL with a message naming key, the rule's line and the reason. */
int sandbox_policy_check(const struct config_policy *p, const char *key, char *err, size_t err_size);

#define SANDBOX_WATCHES_MAX 128
enum sandbox_watch_kind { SANDBOX_WATCH_EXEC = 1, SANDBOX_WATCH_READ, SANDBOX_WATCH_WRITE, SANDBOX_WATCH_ACCESS };
struct sandbox_audit_watch {
	enum sandbox_watch_kind kind;
	bool tree;  /* the directory and everything beneath */
	bool never; /* an exception: not recorded (precedes the sandbox's other watches) */
	char path[1024];      /* as the pod sees it */
	char host_path[4096]; /* the same file on the host (what the kernel rule names) */
};
struct sandbox_audit_plan {
	struct sandbox_audit_watch *watches; /* exceptions first is the caller's job: see never */
	size_t n_watches;
	unsigned net; /* CONFIG_NET_TCP|UDP|ICMP: successful socket() of these is recorded */
};
/* Compile cfg's policy for this start, once: the guard's policy text
 * (malloc'd, *ret_len bytes, at most GUARD_POLICY_MAX) and the audit plan;
 * either output may be NULL. sandbox_prepare calls it and writes the text. */
int sandbox_policy_compile(const struct config *cfg, const struct sandbox_paths *paths, char **ret_text,
			   size_t *ret_len, struct sandbox_audit_plan *ret_plan, struct sandbox_error *err);
void sandbox_audit_plan_free(struct sandbox_audit_plan *plan);
/* Make the directory sp (below the pod's home) on the mounted home volume,
 * component by component without following links; what it creates belongs to
 * the sandbox user, what exists is left as it is (-ELOOP/-ENOTDIR when a
 * component is a link or not a directory). For Audit directories, which the
 * kernel can only watch once they exist. */
int sandbox_home_mkdirs(const struct config *cfg, uint32_t slot, const struct sandbox_paths *paths, const char *sp);
