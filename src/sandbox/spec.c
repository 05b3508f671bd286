/* sandbox: the OCI runtime spec (config.json) of one user's server.
 *
 * Security-relevant choices, each checked by tests/unit/sandbox/test-spec.c:
 * - own user namespace: container ids 0..65535 → this user's host range only;
 * - the server runs as singleuser.uid:gid with no supplementary groups, no
 *   capabilities in any set, no_new_privs, the seccomp allowlist (seccomp.c);
 * - read-only root made of empty mount points, the host's /usr (read-only,
 *   nosuid, nodev), a generated /etc; never the host's /etc, /root, /home, /var;
 * - writable: the user's home, a private /tmp, /dev/shm and the run dir where
 *   the server's socket lives; nothing else; every writable mount noexec, so
 *   nothing the user writes can be executed or mmap'ed executable (loader,
 *   dlopen) whatever the Landlock ABI;
 * - the process is nbwarden-guard (a read-only copy from the bundle), which
 *   applies etc/nbwarden/policy with Landlock and then execs singleuser.cmd;
 * - private pid, ipc, uts, mount, network (loopback only), cgroup namespaces;
 * - memory (no swap beyond it), pids and CPU limits; CPU shares and a memory
 *   reservation for the guarantees;
 * - no devices but the runtime's defaults and singleuser.devices (the
 *   profile's GPU nodes: bind-mounted, allowed in the device cgroup);
 * - the server's token only in the environment, never on the command line
 *   (argv is world-readable in /proc). */
#include "sandbox/internal.h"

#include "common/common.h"
#include "guard/guard.h"

#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define TMP_MAX_BYTES (1ull << 30)
#define CPU_PERIOD_US 100000
#define NOFILE_LIMIT 4096

static int push_str(json_t *a, const char *s)
{
	return json_array_append_new(a, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int push_strf(json_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int push_strf(json_t *a, const char *fmt, ...)
{
	char buf[4200];
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	r = push_str(a, buf);
	explicit_bzero(buf, sizeof(buf)); /* may hold the token */
	return r;
}

/* options: NULL-terminated list. */
static int add_mount(json_t *mounts, const char *dest, const char *type, const char *source, const char *const *options)
{
	json_t *m, *opts;

	opts = json_array();
	if (!opts)
		return -ENOMEM;
	for (size_t i = 0; options[i]; i++)
		if (push_str(opts, options[i]) < 0) {
			json_decref(opts);
			return -ENOMEM;
		}
	m = json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source, "options", opts);
	if (!m)
		return -ENOMEM;
	return json_array_append_new(mounts, m) < 0 ? -ENOMEM : 0;
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int build_mounts(const struct config *cfg, const struct sandbox_paths *paths, json_t *mounts)
{
	char etc[4200], guard[4200], tmp_size[64];
	uint64_t tmp_bytes;
	int r;

	r = nbw_snprintf(etc, sizeof(etc), "%s/etc", paths->bundle);
	if (r < 0)
		return r;
	r = nbw_snprintf(guard, sizeof(guard), "%s/guard", paths->bundle);
	if (r < 0)
		return r;
	tmp_bytes = cfg->singleuser.memory_limit < TMP_MAX_BYTES ? cfg->singleuser.memory_limit : TMP_MAX_BYTES;
	r = nbw_snprintf(tmp_size, sizeof(tmp_size), "size=%llu", (unsigned long long)tmp_bytes);
	if (r < 0)
		return r;

	if ((r = add_mount(mounts, "/proc", "proc", "proc", OPTS("nosuid", "noexec", "nodev"))) < 0 ||
	    (r = add_mount(mounts, "/dev", "tmpfs", "tmpfs",
			   OPTS("nosuid", "noexec", "strictatime", "mode=755", "size=65536k"))) < 0 ||
	    (r = add_mount(mounts, "/dev/pts", "devpts", "devpts",
			   OPTS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"))) < 0 ||
	    (r = add_mount(mounts, "/dev/shm", "tmpfs", "shm",
			   OPTS("nosuid", "noexec", "nodev", "mode=1777", "size=65536k"))) < 0 ||
	    (r = add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", OPTS("nosuid", "noexec", "nodev"))) < 0 ||
	    (r = add_mount(mounts, "/sys", "sysfs", "sysfs", OPTS("nosuid", "noexec", "nodev", "ro"))) < 0 ||
	    (r = add_mount(mounts, "/usr", "bind", "/usr", OPTS("bind", "ro", "nosuid", "nodev"))) < 0 ||
	    (r = add_mount(mounts, "/etc", "bind", etc, OPTS("bind", "ro", "nosuid", "nodev", "noexec"))) < 0 ||
	    (r = add_mount(mounts, "/etc/ssl/certs", "bind", "/etc/ssl/certs",
			   OPTS("bind", "ro", "nosuid", "nodev", "noexec"))) < 0 ||
	    (r = add_mount(mounts, GUARD_MOUNT_POINT, "bind", guard, OPTS("bind", "ro", "nosuid", "nodev"))) < 0 ||
	    (r = add_mount(mounts, SANDBOX_HOME, "bind", paths->home,
			   OPTS("bind", "rw", "nosuid", "nodev", "noexec"))) < 0 ||
	    (r = add_mount(mounts, "/tmp", "tmpfs", "tmpfs",
			   OPTS("nosuid", "nodev", "noexec", "mode=1777", tmp_size))) < 0 ||
	    (r = add_mount(mounts, SANDBOX_RUN, "bind", paths->run_dir,
			   OPTS("bind", "rw", "nosuid", "nodev", "noexec"))) < 0)
		return r;
	return 0;
}

static json_t *id_mapping(uint64_t host)
{
	return json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)host, "size",
			 (int)SANDBOX_RANGE_SIZE);
}

static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int build_process(const struct config *cfg, const char *user, const char *token, json_t **ret)
{
	json_t *args = NULL, *env = NULL, *proc = NULL, *caps;
	int r = -ENOMEM;

	args = json_array();
	env = json_array();
	if (!args || !env)
		goto out;
	/* The guard first: it applies the Landlock policy, then execs the command. */
	if ((r = push_str(args, GUARD_MOUNT_POINT)) < 0 || (r = push_str(args, "--policy")) < 0 ||
	    (r = push_str(args, GUARD_POLICY_PATH)) < 0 || (r = push_str(args, "--")) < 0)
		goto out;
	for (size_t i = 0; i < cfg->singleuser.n_cmd; i++)
		if ((r = push_str(args, cfg->singleuser.cmd[i])) < 0)
			goto out;
	if ((r = push_str(args, "--ServerApp.sock=" SANDBOX_SOCK)) < 0 ||
	    (r = push_str(args, "--ServerApp.sock_mode=0660")) < 0 ||
	    (r = push_strf(args, "--ServerApp.base_url=/user/%s/", user)) < 0 ||
	    (r = push_str(args, "--ServerApp.root_dir=" SANDBOX_HOME)) < 0 ||
	    (r = push_str(args, "--ServerApp.terminals_enabled=False")) < 0 ||
	    (r = push_str(args, "--ServerApp.token=")) < 0 ||
	    (r = push_str(args, "--ServerApp.password=")) < 0 ||
	    (r = push_str(args, "--ServerApp.login_handler_class=nbwarden_auth.NbwardenLoginHandler")) < 0 ||
	    /* Requests arrive through the proxy with the hub's Host header. */
	    (r = push_str(args, "--ServerApp.allow_remote_access=True")) < 0 ||
	    (r = push_str(args, "--ServerApp.open_browser=False")) < 0)
		goto out;

	if ((r = push_str(env, "HOME=" SANDBOX_HOME)) < 0 || (r = push_str(env, "USER=jovyan")) < 0 ||
	    (r = push_str(env, "LOGNAME=jovyan")) < 0 || (r = push_str(env, "PATH=/usr/local/bin:/usr/bin:/bin")) < 0 ||
	    (r = push_str(env, "LANG=C.UTF-8")) < 0 || (r = push_str(env, "SHELL=/bin/sh")) < 0 ||
	    (r = push_str(env, "JUPYTER_CONFIG_DIR=" SANDBOX_HOME "/.jupyter")) < 0 ||
	    (r = push_str(env, "JUPYTER_RUNTIME_DIR=/tmp/jupyter-runtime")) < 0 ||
	    /* ipykernel's debugger otherwise warns on every kernel start. */
	    (r = push_str(env, "PYDEVD_DISABLE_FILE_VALIDATION=1")) < 0 ||
	    /* /usr is read-only: no bytecode cache writes (each would be a refused,
	     * audited write that spends the sandbox's denial budget). */
	    (r = push_str(env, "PYTHONDONTWRITEBYTECODE=1")) < 0 ||
	    (r = push_str(env, "PYTHONPATH=/etc/nbwarden")) < 0 ||
	    (r = push_strf(env, "NBWARDEN_SERVER_TOKEN=%s", token)) < 0)
		goto out;

	caps =
	    json_pack("{s:[], s:[], s:[], s:[], s:[]}", "bounding", "effective", "inheritable", "permitted", "ambient");
	/* Explicit limits: nothing inherited from however `serve` was started. */
	proc = json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:o, s:[{s:s, s:i, s:i}, {s:s, s:i, s:i}, {s:s, s:i, s:i}],"
			 " s:b, s:i}",
			 "terminal", 0, "user", "uid", (json_int_t)cfg->singleuser.uid, "gid",
			 (json_int_t)cfg->singleuser.gid, "args", args, "env", env, "cwd", SANDBOX_HOME, "capabilities",
			 caps, "rlimits", "type", "RLIMIT_NOFILE", "hard", NOFILE_LIMIT, "soft", NOFILE_LIMIT, "type",
			 "RLIMIT_CORE", "hard", 0, "soft", 0, "type", "RLIMIT_MEMLOCK", "hard", 65536, "soft", 65536,
			 "noNewPrivileges", 1, "oomScoreAdj", 500);
	args = env = NULL; /* "o" steals, even on failure */
	if (!proc) {
		r = -ENOMEM;
		goto out;
	}
	*ret = proc;
	r = 0;
out:
	json_decref(args);
	json_decref(env);
	return r;
}

int sandbox__device_stat(const char *path, struct stat *ret)
{
	if (lstat(path, ret) < 0)
		return -errno;
	return S_ISCHR(ret->st_mode) ? 0 : -ENODEV;
}

int sandbox_oci_spec(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		     const struct sandbox_paths *paths, char **ret_json)
{
	json_t *root = NULL, *mounts = NULL, *linux_ = NULL, *proc = NULL, *seccomp = NULL;
	json_t *masked = NULL, *ro = NULL, *resources = NULL, *devices = NULL;
	char cgpath[128];
	char *out;
	int64_t quota;
	int r;

	if (!cfg || !paths || !ret_json || !nbw_username_valid(user) || !sandbox__token_valid(token))
		return -EINVAL;
	/* cmd[0] absolute: the guard execs it without a PATH search. */
	if (!cfg->singleuser.cmd || cfg->singleuser.n_cmd == 0 || !cfg->singleuser.cmd[0] ||
	    cfg->singleuser.cmd[0][0] != '/')
		return -EINVAL;
	for (size_t i = 0; i < cfg->singleuser.n_cmd; i++)
		if (!cfg->singleuser.cmd[i])
			return -EINVAL;
	if (!sandbox__slot_fits(cfg, slot) || cfg->singleuser.uid >= SANDBOX_RANGE_SIZE ||
	    cfg->singleuser.gid >= SANDBOX_RANGE_SIZE)
		return -ERANGE;
	{
		char inst[SANDBOX_INSTANCE_LEN + 1];
		r = sandbox_instance_id(cfg, inst);
		if (r >= 0)
			r = nbw_snprintf(cgpath, sizeof(cgpath), "/nbwarden/%s-%s", inst, user);
	}
	if (r < 0)
		return r;

	r = build_process(cfg, user, token, &proc);
	if (r < 0)
		return r;
	mounts = json_array();
	if (!mounts) {
		r = -ENOMEM;
		goto out;
	}
	r = build_mounts(cfg, paths, mounts);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	masked = json_array();
	ro = json_array();
	if (!masked || !ro)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++)
		if (push_str(masked, masked_paths[i]) < 0)
			goto out;
	for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++)
		if (push_str(ro, readonly_paths[i]) < 0)
			goto out;
	seccomp = sandbox__seccomp_profile();
	if (!seccomp)
		goto out;

	quota = (int64_t)(cfg->singleuser.cpu_limit * CPU_PERIOD_US + 0.5);
	if (quota < 1000)
		quota = 1000; /* the kernel's minimum CFS quota (1 ms) */
	resources = json_pack("{s:[{s:b, s:s}], s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I}}", "devices", "allow", 0, "access",
			      "rwm", "memory", "limit", (json_int_t)cfg->singleuser.memory_limit, "swap",
			      (json_int_t)cfg->singleuser.memory_limit, "cpu", "quota", (json_int_t)quota, "period",
			      (json_int_t)CPU_PERIOD_US, "pids", "limit", (json_int_t)cfg->singleuser.pids_limit);
	if (!resources)
		goto out;
	if (cfg->singleuser.cpu_guarantee > 0) {
		/* cgroup v1 cpu.shares (runc maps it to cpu.weight on v2): 1024 per guaranteed core */
		uint64_t shares = (uint64_t)(cfg->singleuser.cpu_guarantee * 1024 + 0.5);

		if (shares < 2)
			shares = 2;
		if (json_object_set_new(json_object_get(resources, "cpu"), "shares", json_integer((json_int_t)shares)) < 0)
			goto out;
	}
	if (cfg->singleuser.memory_guarantee > 0 &&
	    json_object_set_new(json_object_get(resources, "memory"), "reservation",
				json_integer((json_int_t)cfg->singleuser.memory_guarantee)) < 0)
		goto out;
	devices = json_array();
	if (!devices)
		goto out;
	for (size_t i = 0; i < cfg->singleuser.n_devices; i++) {
		struct stat st;

		r = sandbox__device_stat(cfg->singleuser.devices[i], &st);
		if (r < 0)
			goto out;
		r = -ENOMEM;
		if (json_array_append_new(devices, json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "path",
							     cfg->singleuser.devices[i], "type", "c", "major",
							     (json_int_t)major(st.st_rdev), "minor",
							     (json_int_t)minor(st.st_rdev), "fileMode", 0666, "uid", 0,
							     "gid", 0)) < 0 ||
		    json_array_append_new(json_object_get(resources, "devices"),
					  json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", "c", "major",
						    (json_int_t)major(st.st_rdev), "minor",
						    (json_int_t)minor(st.st_rdev), "access", "rwm")) < 0)
			goto out;
	}
	r = -ENOMEM;

	linux_ =
	    json_pack("{s:o, s:o, s:[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s}], s:o, s:o, s:s, s:o, s:o, s:o}",
		      "uidMappings", id_mapping(sandbox__range_base(cfg, slot)), "gidMappings",
		      id_mapping(sandbox__range_base(cfg, slot)), "namespaces", "type", "pid", "type", "ipc", "type",
		      "uts", "type", "mount", "type", "network", "type", "user", "type", "cgroup", "devices", devices,
		      "resources", resources, "cgroupsPath", cgpath, "maskedPaths", masked, "readonlyPaths", ro,
		      "seccomp", seccomp);
	resources = masked = ro = seccomp = devices = NULL;
	if (!linux_)
		goto out;

	root = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process", proc, "root",
			 "path", "rootfs", "readonly", 1, "hostname", "nbwarden", "mounts", mounts, "linux", linux_);
	proc = mounts = linux_ = NULL;
	if (!root)
		goto out;
	out = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!out)
		goto out;
	*ret_json = out;
	r = 0;
out:
	json_decref(root);
	json_decref(proc);
	json_decref(mounts);
	json_decref(linux_);
	json_decref(resources);
	json_decref(devices);
	json_decref(masked);
	json_decref(ro);
	json_decref(seccomp);
	return r;
}
