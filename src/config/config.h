/* config: the operator's YAML file → struct config.
 *
 * Shaped like Zero to JupyterHub values. Every key is a row in one table
 * {name, type, min, max, default, validate}; unknown keys, wrong types and
 * out-of-range values are errors naming file:line:column and the key. All
 * errors are collected before returning. Every setting not in the file takes
 * its secure default. The minimal valid file sets hub.bind_url, hub.state_dir
 * and audit.file (each of which also has a default, so {} is valid too). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PROFILES_MAX 64
#define CONFIG_SLUG_MAX 63 /* [a-z0-9-]{1,63} */

#define CONFIG_DEVICES_MAX 16
#define CONFIG_POLICY_RULES_MAX 256 /* matchPaths/matchDirectories/matchProtocols entries in one policy */
#define CONFIG_POLICY_PATH_MAX 1023 /* what the guard's policy format can carry */

/* ---- runtime security policy (KubeArmor semantics) ----
 * singleuser.securityPolicy (and kubespawner_override.security_policy, which
 * replaces it wholesale for a profile):
 *   landlock: best-effort | require
 *   defaultPosture: {process: block|audit, file: block|audit, network: block|audit}
 *   rules:                      # a list of KubeArmor policy specs
 *     - process: {matchPaths: [{path, action?}], matchDirectories: [{dir, recursive?, action?}], action?}
 *       file:    {matchPaths: [{path, readOnly?, action?}], matchDirectories: [{dir, recursive?, readOnly?, action?}], action?}
 *       network: {matchProtocols: [{protocol: tcp|udp|icmp|raw, action?}], action?}
 *       action: Allow | Audit | Block
 * Each entry's action is its own, else its section's, else its spec's; one of
 * them is required. The rules come on top of a built-in baseline that lets
 * the notebook server run (src/sandbox/policy.c); what neither allows gets the
 * default posture: block = refused (and logged), audit = allowed and logged.
 * Network posture applies, as in KubeArmor, only when the network section
 * has at least one Allow rule. */
enum config_action { CONFIG_ACTION_ALLOW = 1, CONFIG_ACTION_AUDIT, CONFIG_ACTION_BLOCK };
enum config_posture { CONFIG_POSTURE_BLOCK = 0, CONFIG_POSTURE_AUDIT = 1 };
enum config_rule_section { CONFIG_RULE_PROCESS = 1, CONFIG_RULE_FILE, CONFIG_RULE_NETWORK };
#define CONFIG_NET_TCP 1u
#define CONFIG_NET_UDP 2u
#define CONFIG_NET_ICMP 4u
#define CONFIG_NET_RAW 8u

struct config_policy_rule {
	enum config_rule_section section;
	enum config_action action;
	bool dir;       /* matchDirectories (else matchPaths / matchProtocols) */
	bool recursive; /* dir: everything beneath, else the files directly in it */
	bool read_only; /* file rules */
	unsigned protocol; /* network rules: one CONFIG_NET_* */
	char *path;     /* process/file: absolute, normalised, no trailing '/'; NULL for network */
	int line, column; /* where the entry is in the file, for messages at spawn time */
};

struct config_policy {
	bool require; /* landlock: require — refuse to start where the kernel lacks the ABI */
	enum config_posture posture_process, posture_file, posture_network;
	struct config_policy_rule *rules;
	size_t n_rules;
};

/* One entry of singleuser.profileList, as in Zero to JupyterHub / KubeSpawner:
 * display_name, slug, description, default, and kubespawner_override with
 * cpu_limit, cpu_guarantee, mem_limit, mem_guarantee, storage_capacity,
 * pids_limit (each in the range of the global singleuser.* key; unset = the
 * global value), devices (replaces singleuser.devices) and security_policy
 * (replaces singleuser.securityPolicy). */
struct config_profile {
	char *slug;
	char *display_name;
	char *description; /* "" when absent */
	bool is_default;
	bool has_cpu_limit, has_mem_limit, has_storage_capacity, has_pids_limit;
	bool has_cpu_guarantee, has_mem_guarantee, has_devices, has_policy;
	double cpu_limit, cpu_guarantee;
	uint64_t mem_limit, mem_guarantee;
	uint64_t storage_capacity;
	uint64_t pids_limit;
	char **devices;
	size_t n_devices;
	struct config_policy policy;
};

struct config {
	char *source;                 /* file name as given, for messages */

	struct {
		char *bind_url;       /* hub.bind_url, default "http://127.0.0.1:8000/" */
		char *bind_host;      /* derived: "127.0.0.1" / "::1" / "0.0.0.0" (IP literal only) */
		uint16_t bind_port;   /* derived */
		char *state_dir;      /* hub.state_dir, default "/var/lib/nbwarden"; absolute, no "..", no trailing junk */
		uint32_t uid;         /* hub.uid: unprivileged uid of the hub process, default 60999, 1..4294967294, not 0 */
		uint32_t gid;         /* hub.gid: default 60999, not 0 */
		bool cookie_secure;   /* hub.cookie_secure: default false; forced true by an https:// bind_url */
		uint32_t cookie_max_age; /* hub.cookie_max_age_seconds: session lifetime, default 43200, 60..2592000 */
		uint32_t max_body;       /* hub.max_body_bytes: bound on /hub request bodies, default 65536, 1024..16777216 */
		uint32_t max_header;     /* hub.max_header_bytes: bound on request head, default 16384, 1024..1048576 */
		uint32_t max_connections; /* hub.max_connections: default 4096, 16..1000000 */
	} hub;

	struct {
		char **cmd;           /* singleuser.cmd: list of strings, default [/usr/bin/python3, -m, jupyter_server] */
		size_t n_cmd;
		uint32_t uid;         /* singleuser.uid: uid inside the sandbox, default 1000, 1..65534 */
		uint32_t gid;         /* singleuser.fsGid: gid inside, default 100, 1..65534 */
		char *runtime;        /* singleuser.runtime: OCI runtime binary, default "runc" (PATH lookup) or absolute path */
		double cpu_limit;     /* singleuser.cpu.limit: cores, default 1.0, 0.01..1024 */
		double cpu_guarantee; /* singleuser.cpu.guarantee: cores, default 0 (none), 0..1024, <= limit;
		                       * CPU weight under contention (cgroup cpu.shares / cpu.weight) */
		uint64_t memory_limit; /* singleuser.memory.limit: "1G" style, default 1G, 64M..1T */
		uint64_t memory_guarantee; /* singleuser.memory.guarantee: default 0 (none), <= limit;
		                            * memory protected from reclaim (memory.low / v1 soft limit) */
		char **devices;       /* singleuser.devices: device nodes (e.g. /dev/nvidia0) given to every
		                       * sandbox of this profile; default none; "/dev/..." paths */
		size_t n_devices;
		struct config_policy policy; /* singleuser.securityPolicy */
		uint64_t pids_limit;  /* singleuser.pids.limit: default 512, 16..1000000 */
		uint64_t storage_capacity; /* singleuser.storage.capacity: default 10G, 16M..16T (quota: later issue) */
		uint32_t start_timeout; /* singleuser.startTimeout seconds, default 60, 1..3600 */
		uint32_t host_uid_base; /* singleuser.hostUidBase: first host uid of the per-user ranges, default 1000000, >= 65536;
		                         * each user gets 65536 host uids, range i = [base + i*65536, base + (i+1)*65536) */
		uint32_t max_servers;   /* singleuser.maxServers: bound on concurrent servers, default 256, 1..10000 */
		struct config_profile *profiles; /* singleuser.profileList, in file order; may be empty */
		size_t n_profiles;
	} singleuser;

	struct {
		char *file;             /* audit.file, default "/var/log/nbwarden/audit.jsonl"; absolute */
		uint32_t code_max_bytes; /* audit.code_max_bytes: code recorded per execute, default 8192, 0..32768 */
		uint32_t fsync_interval_ms; /* audit.fsync_interval_ms: batch window, default 100, 0..10000 (0 = every record) */
	} audit;

	bool debug;                   /* debug.enabled, default false */
};

/* Collected diagnostics: each entry is one line, e.g.
 * "/etc/nbwarden.yaml:3:14: hub.uid: expected an integer in 1..4294967294, got \"abc\"". */
struct config_diag {
	char **msgs;
	size_t n;
};
void config_diag_done(struct config_diag *d);

/* Parse and validate. On success (0) *ret is a fully populated config.
 * On failure returns -EINVAL (or -errno for I/O) with every problem in diag;
 * *ret untouched. display_name is used in messages (the path as given). */
/* diag: zero-initialized by the caller (or NULL to discard); messages are
 * appended, free them with config_diag_done(). Files over 1 MiB, bytes that
 * are not printable UTF-8, several YAML documents, aliases and tags other
 * than the expected core type are refused. config_load_fd reads a regular
 * file from offset 0 (pread) and a pipe to EOF (the writer must close). */
int config_load_file(const char *path, struct config **ret, struct config_diag *diag);
int config_load_fd(int fd, const char *display_name, struct config **ret, struct config_diag *diag);
int config_load_string(const char *text, size_t len, const char *display_name, struct config **ret,
		       struct config_diag *diag);
void config_free(struct config *c);

/* The profile a spawn request names. slug "" (or NULL) = the default one: the
 * entry with default: true, else the first (as KubeSpawner). With an empty
 * profileList only "" is valid and *ret is NULL (the global settings).
 * Returns 0, or -ENOENT for a slug that is not in the list. */
int config_profile_resolve(const struct config *c, const char *slug, const struct config_profile **ret);
/* "small, large" — the slugs, for messages. */
void config_profile_choices(const struct config *c, char *buf, size_t size);
/* *ret = a shallow copy of *c whose singleuser cpu/memory/pids/storage are
 * the profile's (p NULL: unchanged). Strings stay owned by c: never pass ret
 * to config_free, and do not use it after c is freed. */
void config_effective(const struct config *c, const struct config_profile *p, struct config *ret);

/* "1G", "512M", "1.5G", "1024" (bytes) → bytes. K/M/G/T (and Ki/Mi/Gi/Ti) are
 * powers of 1024 as in Z2JH/KubeSpawner. Returns -EINVAL / -ERANGE. */
int config_parse_size(const char *s, uint64_t *ret);
