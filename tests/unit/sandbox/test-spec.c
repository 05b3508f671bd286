/* The OCI config.json: parse it back and assert every security-relevant field. */
#include "test.h"

#include "common.h"
#include "common/common.h"
#include "sandbox/sandbox.h"

#include <jansson.h>

#define TOKEN "tOk3n_Abc-123.xyz"

static struct config cfg;
static struct sandbox_paths paths;

static json_t *spec_for(const char *user, uint32_t slot, const char *token, char **ret_text)
{
	char *text = NULL;
	json_error_t e;
	json_t *j;

	assert_int_equal(sandbox_paths_get(&cfg, user, &paths), 0);
	assert_int_equal(sandbox_oci_spec(&cfg, user, slot, token, &paths, &text), 0);
	j = json_loads(text, 0, &e);
	assert_non_null(j);
	if (ret_text)
		*ret_text = text;
	else
		free(text);
	return j;
}

static int setup(void **state)
{
	test_config_defaults(&cfg, "/var/lib/nbwarden");
	return 0;
}

static json_t *path(json_t *j, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(j, a);
	if (v && b)
		v = json_object_get(v, b);
	if (v && c)
		v = json_object_get(v, c);
	assert_non_null(v);
	return v;
}

static bool array_has_string(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return true;
	return false;
}

static void test_process(void **state)
{
	json_t *j = spec_for("alice", 3, TOKEN, NULL), *p = path(j, "process", NULL, NULL);
	const char *caps[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};

	assert_string_equal(json_string_value(path(j, "ociVersion", NULL, NULL)), "1.0.2");
	assert_int_equal(json_integer_value(path(p, "user", "uid", NULL)), 1000);
	assert_int_equal(json_integer_value(path(p, "user", "gid", NULL)), 100);
	assert_null(json_object_get(json_object_get(p, "user"), "additionalGids"));
	assert_true(json_is_true(path(p, "noNewPrivileges", NULL, NULL)));
	assert_true(json_is_false(path(p, "terminal", NULL, NULL)));
	assert_string_equal(json_string_value(path(p, "cwd", NULL, NULL)), "/home/jovyan");
	/* All five capability sets present and empty (absent would mean runc's default). */
	for (size_t i = 0; i < 5; i++) {
		json_t *set = path(p, "capabilities", caps[i], NULL);
		assert_true(json_is_array(set));
		assert_int_equal(json_array_size(set), 0);
	}
	json_t *rl = json_array_get(path(p, "rlimits", NULL, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 4096);
	assert_int_equal(json_integer_value(json_object_get(rl, "soft")), 4096);

	json_t *args = path(p, "args", NULL, NULL);
	/* nbwarden-guard first: Landlock policy, then exec of the configured command. */
	assert_string_equal(json_string_value(json_array_get(args, 0)), "/nbwarden/guard");
	assert_string_equal(json_string_value(json_array_get(args, 1)), "--policy");
	assert_string_equal(json_string_value(json_array_get(args, 2)), "/etc/nbwarden/policy");
	assert_string_equal(json_string_value(json_array_get(args, 3)), "--");
	assert_string_equal(json_string_value(json_array_get(args, 4)), "/usr/bin/python3");
	assert_string_equal(json_string_value(json_array_get(args, 5)), "-m");
	assert_string_equal(json_string_value(json_array_get(args, 6)), "jupyter_server");
	assert_true(array_has_string(args, "--ServerApp.sock=/run/nbwarden/jupyter.sock"));
	assert_true(array_has_string(args, "--ServerApp.sock_mode=0660"));
	assert_true(array_has_string(args, "--ServerApp.base_url=/user/alice/"));
	assert_true(array_has_string(args, "--ServerApp.terminals_enabled=False"));
	assert_true(array_has_string(args, "--ServerApp.root_dir=/home/jovyan"));
	json_t *env = path(p, "env", NULL, NULL);
	assert_true(array_has_string(env, "NBWARDEN_SERVER_TOKEN=" TOKEN));
	assert_true(array_has_string(env, "HOME=/home/jovyan"));
	assert_true(array_has_string(env, "PATH=/usr/local/bin:/usr/bin:/bin"));
	json_decref(j);
}

/* The token appears exactly once in the whole document, in the environment. */
static void test_token_only_in_env(void **state)
{
	char *text = NULL;
	json_t *j = spec_for("alice", 0, TOKEN, &text);
	const char *first = strstr(text, TOKEN);
	size_t i;
	json_t *v;

	assert_non_null(first);
	assert_null(strstr(first + 1, TOKEN));
	assert_true(first >= text + strlen("NBWARDEN_SERVER_TOKEN=") &&
		    !strncmp(first - strlen("NBWARDEN_SERVER_TOKEN="), "NBWARDEN_SERVER_TOKEN=", strlen("NBWARDEN_SERVER_TOKEN=")));
	json_array_foreach(path(j, "process", "args", NULL), i, v)
	{
		assert_null(strstr(json_string_value(v), TOKEN));
		/* Jupyter's own token is empty (pages embed it); ours is only in the env. */
		if (strcmp(json_string_value(v), "--ServerApp.token="))
			assert_null(strstr(json_string_value(v), "token"));
	}
	assert_true(array_has_string(path(j, "process", "args", NULL), "--ServerApp.token="));
	free(text);
	json_decref(j);
}

static void test_root_and_mappings(void **state)
{
	json_t *j = spec_for("alice", 3, TOKEN, NULL), *l = path(j, "linux", NULL, NULL);
	const char *maps[] = {"uidMappings", "gidMappings"};
	const char *want_ns[] = {"pid", "ipc", "uts", "mount", "network", "user", "cgroup"};
	size_t i;
	json_t *v;

	assert_true(json_is_true(path(j, "root", "readonly", NULL)));
	assert_string_equal(json_string_value(path(j, "root", "path", NULL)), "rootfs");
	assert_string_equal(json_string_value(path(j, "hostname", NULL, NULL)), "nbwarden");
	for (size_t k = 0; k < 2; k++) {
		json_t *m = path(l, maps[k], NULL, NULL);
		assert_int_equal(json_array_size(m), 1);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "containerID")), 0);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "hostID")),
				 1000000 + 3 * 65536);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "size")), 65536);
	}
	assert_int_equal(sandbox_host_uid(&cfg, 3), 1000000 + 3 * 65536 + 1000);
	assert_int_equal(sandbox_host_gid(&cfg, 3), 1000000 + 3 * 65536 + 100);
	json_t *ns = path(l, "namespaces", NULL, NULL);
	assert_int_equal(json_array_size(ns), ARRAY_SIZE(want_ns));
	json_array_foreach(ns, i, v)
	{
		assert_string_equal(json_string_value(json_object_get(v, "type")), want_ns[i]);
		assert_null(json_object_get(v, "path")); /* all private, none joined */
	}
	{
		char inst[SANDBOX_INSTANCE_LEN + 1], want[64];
		assert_int_equal(sandbox_instance_id(&cfg, inst), 0);
		snprintf(want, sizeof(want), "/nbwarden/%s-alice", inst);
		assert_string_equal(json_string_value(path(l, "cgroupsPath", NULL, NULL)), want);
	}
	assert_true(array_has_string(path(l, "maskedPaths", NULL, NULL), "/proc/kcore"));
	assert_true(array_has_string(path(l, "maskedPaths", NULL, NULL), "/proc/keys"));
	assert_true(array_has_string(path(l, "maskedPaths", NULL, NULL), "/sys/firmware"));
	assert_true(array_has_string(path(l, "readonlyPaths", NULL, NULL), "/proc/sys"));
	assert_true(array_has_string(path(l, "readonlyPaths", NULL, NULL), "/proc/sysrq-trigger"));
	json_decref(j);
}

static bool has_opt(json_t *m, const char *o)
{
	return array_has_string(json_object_get(m, "options"), o);
}

static void test_mounts(void **state)
{
	json_t *j = spec_for("alice", 1, TOKEN, NULL), *mounts = path(j, "mounts", NULL, NULL), *m;
	char etc[4200], guard[4200];
	size_t i;
	bool seen_home = false, seen_run = false, seen_usr = false, seen_etc = false, seen_guard = false;
	bool seen_tmp = false, seen_shm = false;

	snprintf(etc, sizeof(etc), "%s/etc", paths.bundle);
	snprintf(guard, sizeof(guard), "%s/guard", paths.bundle);
	json_array_foreach(mounts, i, m)
	{
		const char *dest = json_string_value(json_object_get(m, "destination"));
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *src = json_string_value(json_object_get(m, "source"));

		assert_non_null(dest);
		/* Never the host's /root, /home, /var or the whole /etc. */
		assert_string_not_equal(dest, "/root");
		assert_string_not_equal(dest, "/var");
		assert_string_not_equal(dest, "/home");
		if (strcmp(type, "bind") != 0) {
			assert_true(src[0] != '/');
			/* Writable tmpfs: nothing written there can be executed. */
			if (!strcmp(dest, "/tmp") || !strcmp(dest, "/dev/shm")) {
				assert_true(has_opt(m, "noexec"));
				assert_true(has_opt(m, "nosuid"));
				assert_true(has_opt(m, "nodev"));
				seen_tmp |= !strcmp(dest, "/tmp");
				seen_shm |= !strcmp(dest, "/dev/shm");
			}
			continue;
		}
		/* Every bind: nosuid, nodev; a known source; rw only for home and run dir. */
		assert_true(has_opt(m, "nosuid"));
		assert_true(has_opt(m, "nodev"));
		assert_false(has_opt(m, "rbind"));
		if (!strcmp(dest, "/home/jovyan")) {
			assert_string_equal(src, paths.home);
			seen_home = true;
			assert_false(has_opt(m, "ro"));
			assert_true(has_opt(m, "noexec"));
		} else if (!strcmp(dest, "/run/nbwarden")) {
			assert_string_equal(src, paths.run_dir);
			assert_true(has_opt(m, "noexec"));
			seen_run = true;
		} else if (!strcmp(dest, "/usr")) {
			assert_string_equal(src, "/usr");
			assert_true(has_opt(m, "ro"));
			seen_usr = true;
		} else if (!strcmp(dest, "/etc")) {
			assert_string_equal(src, etc);
			assert_true(has_opt(m, "ro"));
			seen_etc = true;
		} else if (!strcmp(dest, "/nbwarden/guard")) {
			/* The bundle's root-owned copy, read-only (and exec: it is the entry point). */
			assert_string_equal(src, guard);
			assert_true(has_opt(m, "ro"));
			assert_false(has_opt(m, "noexec"));
			seen_guard = true;
		} else if (!strcmp(dest, "/etc/ssl/certs")) {
			assert_string_equal(src, "/etc/ssl/certs");
			assert_true(has_opt(m, "ro"));
		} else {
			fail_msg("unexpected bind mount %s -> %s", src, dest);
		}
	}
	assert_true(seen_home && seen_run && seen_usr && seen_etc && seen_guard && seen_tmp && seen_shm);
	json_decref(j);
}

static const char *tmp_size(json_t *j)
{
	size_t i;
	json_t *m, *o;

	json_array_foreach(json_object_get(j, "mounts"), i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "destination")), "/tmp"))
			continue;
		size_t k;
		json_array_foreach(json_object_get(m, "options"), k,
				   o) if (str_has_prefix(json_string_value(o), "size=")) return json_string_value(o);
	}
	return "";
}

static void test_resources(void **state)
{
	json_t *j = spec_for("alice", 0, TOKEN, NULL), *r = path(j, "linux", "resources", NULL);

	assert_int_equal(json_integer_value(path(r, "memory", "limit", NULL)), 1ll << 30);
	assert_int_equal(json_integer_value(path(r, "memory", "swap", NULL)), 1ll << 30);
	assert_int_equal(json_integer_value(path(r, "pids", "limit", NULL)), 512);
	assert_int_equal(json_integer_value(path(r, "cpu", "quota", NULL)), 100000);
	assert_int_equal(json_integer_value(path(r, "cpu", "period", NULL)), 100000);
	json_t *dev = json_array_get(path(r, "devices", NULL, NULL), 0);
	assert_true(json_is_false(json_object_get(dev, "allow")));
	assert_string_equal(tmp_size(j), "size=1073741824");
	json_decref(j);

	cfg.singleuser.cpu_limit = 0.5;
	cfg.singleuser.memory_limit = 512ull << 20;
	cfg.singleuser.pids_limit = 64;
	j = spec_for("alice", 0, TOKEN, NULL);
	r = path(j, "linux", "resources", NULL);
	assert_int_equal(json_integer_value(path(r, "cpu", "quota", NULL)), 50000);
	assert_int_equal(json_integer_value(path(r, "pids", "limit", NULL)), 64);
	assert_int_equal(json_integer_value(path(r, "memory", "limit", NULL)), 512ll << 20);
	assert_string_equal(tmp_size(j), "size=536870912"); /* min(memory, 1G) */
	json_decref(j);

	cfg.singleuser.memory_limit = 8ull << 30;
	cfg.singleuser.cpu_limit = 0.01;
	j = spec_for("alice", 0, TOKEN, NULL);
	assert_string_equal(tmp_size(j), "size=1073741824");
	assert_int_equal(json_integer_value(json_object_get(path(j, "linux", "resources", "cpu"), "quota")), 1000);
	json_decref(j);
	test_config_defaults(&cfg, "/var/lib/nbwarden");
}

static void test_guarantees_and_devices(void **state)
{
	static char *devs[] = {"/dev/zero", NULL};
	static char *bad[] = {"/dev/shm", NULL};
	json_t *j = spec_for("alice", 0, TOKEN, NULL), *r = path(j, "linux", "resources", NULL), *d;
	char *text = NULL;

	/* none by default: no shares, no reservation, no extra device */
	assert_null(json_object_get(path(r, "cpu", NULL, NULL), "shares"));
	assert_null(json_object_get(path(r, "memory", NULL, NULL), "reservation"));
	assert_int_equal(json_array_size(path(j, "linux", "devices", NULL)), 0);
	assert_int_equal(json_array_size(path(r, "devices", NULL, NULL)), 1);
	json_decref(j);

	cfg.singleuser.cpu_guarantee = 0.5;
	cfg.singleuser.memory_guarantee = 256ull << 20;
	cfg.singleuser.devices = devs; /* a character device every host has */
	cfg.singleuser.n_devices = 1;
	j = spec_for("alice", 0, TOKEN, NULL);
	r = path(j, "linux", "resources", NULL);
	assert_int_equal(json_integer_value(path(r, "cpu", "shares", NULL)), 512);
	assert_int_equal(json_integer_value(path(r, "memory", "reservation", NULL)), 256ll << 20);
	d = json_array_get(path(j, "linux", "devices", NULL), 0);
	assert_string_equal(json_string_value(json_object_get(d, "path")), "/dev/zero");
	assert_string_equal(json_string_value(json_object_get(d, "type")), "c");
	assert_int_equal(json_integer_value(json_object_get(d, "major")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "minor")), 5);
	/* the device cgroup: deny all first, then exactly this node */
	assert_int_equal(json_array_size(path(r, "devices", NULL, NULL)), 2);
	d = json_array_get(path(r, "devices", NULL, NULL), 1);
	assert_true(json_is_true(json_object_get(d, "allow")));
	assert_int_equal(json_integer_value(json_object_get(d, "major")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "minor")), 5);
	assert_string_equal(json_string_value(json_object_get(d, "access")), "rwm");
	json_decref(j);

	/* a tiny guarantee still gets the kernel's minimum weight */
	cfg.singleuser.cpu_guarantee = 0.001;
	j = spec_for("alice", 0, TOKEN, NULL);
	assert_int_equal(json_integer_value(json_object_get(path(j, "linux", "resources", "cpu"), "shares")), 2);
	json_decref(j);

	/* not a character device, or missing: refused */
	cfg.singleuser.devices = bad;
	assert_int_equal(sandbox_paths_get(&cfg, "alice", &paths), 0);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, TOKEN, &paths, &text), -ENODEV);
	bad[0] = "/dev/nbwarden-no-such-device";
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, TOKEN, &paths, &text), -ENOENT);
	assert_null(text);
	test_config_defaults(&cfg, "/var/lib/nbwarden");
}

static const char *const forbidden_syscalls[] = {
    "mount",
    "umount2",
    "umount",
    "pivot_root",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "ptrace",
    "keyctl",
    "add_key",
    "request_key",
    "setns",
    "unshare",
    "userfaultfd",
    "open_by_handle_at",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "syslog",
    "lookup_dcookie",
    "quotactl",
    "name_to_handle_at",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "process_vm_readv",
    "process_vm_writev",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "chroot",
    "kcmp",
    "pidfd_getfd",
    "iopl",
    "ioperm",
    "sethostname",
    "setdomainname",
    "vhangup",
    "fanotify_init",
    "clone3",
};

static void test_seccomp(void **state)
{
	json_t *j = spec_for("alice", 0, TOKEN, NULL), *s = path(j, "linux", "seccomp", NULL), *rule;
	bool clone_rule = false, clone3_enosys = false, socket_rule = false;
	size_t i;

	assert_string_equal(json_string_value(path(s, "defaultAction", NULL, NULL)), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(path(s, "defaultErrnoRet", NULL, NULL)), 1);
	assert_true(array_has_string(path(s, "architectures", NULL, NULL), "SCMP_ARCH_X86_64") ||
		    array_has_string(path(s, "architectures", NULL, NULL), "SCMP_ARCH_AARCH64"));
	/* Native ABI only: i386 (int 0x80, socketcall) and x32 are refused outright. */
	assert_int_equal(json_array_size(path(s, "architectures", NULL, NULL)), 1);
	assert_false(array_has_string(path(s, "architectures", NULL, NULL), "SCMP_ARCH_X86"));
	assert_false(array_has_string(path(s, "architectures", NULL, NULL), "SCMP_ARCH_X32"));

	json_array_foreach(path(s, "syscalls", NULL, NULL), i, rule)
	{
		const char *action = json_string_value(json_object_get(rule, "action"));
		json_t *names = json_object_get(rule, "names"), *args = json_object_get(rule, "args");

		if (!strcmp(action, "SCMP_ACT_ALLOW") && !args) {
			/* Unconditional allows never include a forbidden call, nor clone. */
			for (size_t k = 0; k < ARRAY_SIZE(forbidden_syscalls); k++)
				if (array_has_string(names, forbidden_syscalls[k]))
					fail_msg("%s is allowed", forbidden_syscalls[k]);
			assert_false(array_has_string(names, "clone"));
			assert_false(array_has_string(names, "socket"));
			assert_false(array_has_string(names, "personality"));
			assert_true(array_has_string(names, "execve"));
			assert_true(array_has_string(names, "read"));
		} else if (!strcmp(action, "SCMP_ACT_ALLOW")) {
			json_t *a = json_array_get(args, 0);
			for (size_t k = 0; k < ARRAY_SIZE(forbidden_syscalls); k++)
				assert_false(array_has_string(names, forbidden_syscalls[k]));
			if (array_has_string(names, "clone")) {
				assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_MASKED_EQ");
				assert_int_equal(json_integer_value(json_object_get(a, "value")), 0x7E020000);
				assert_int_equal(json_integer_value(json_object_get(a, "valueTwo")), 0);
				clone_rule = true;
			} else if (array_has_string(names, "socket")) {
				/* Allowed families only; INET types never SOCK_RAW or SOCK_PACKET
				 * (the full check is test-seccomp.c). */
				json_int_t fam = json_integer_value(json_object_get(a, "value"));
				assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_EQ");
				assert_true(fam == 1 || fam == 2 || fam == 10 || fam == 16);
				if (fam == 2 || fam == 10) {
					json_t *t = json_array_get(args, 1);
					assert_string_equal(json_string_value(json_object_get(t, "op")),
							    "SCMP_CMP_MASKED_EQ");
					assert_int_equal(json_integer_value(json_object_get(t, "value")), 0xf);
					assert_int_not_equal(json_integer_value(json_object_get(t, "valueTwo")), 3);
				}
				socket_rule = true;
			} else {
				assert_true(array_has_string(names, "personality"));
				assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_EQ");
			}
		} else {
			assert_string_equal(action, "SCMP_ACT_ERRNO");
			assert_true(array_has_string(names, "clone3"));
			assert_int_equal(json_integer_value(json_object_get(rule, "errnoRet")), 38);
			clone3_enosys = true;
		}
	}
	assert_true(clone_rule && clone3_enosys && socket_rule);
	json_decref(j);
}

static void test_rejects(void **state)
{
	char *text = NULL;

	assert_int_equal(sandbox_paths_get(&cfg, "alice", &paths), 0);
	assert_int_equal(sandbox_oci_spec(&cfg, "Alice", 0, TOKEN, &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "../x", 0, TOKEN, &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, "", &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, "a b", &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, "a\"b", &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, "a\nPATH=/tmp", &paths, &text), -EINVAL);
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, NULL, &paths, &text), -EINVAL);
	/* 1000000 + 65520*65536 + 65535 > 2^32 - 2 */
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 65520, TOKEN, &paths, &text), -ERANGE);
	assert_int_equal(sandbox_host_uid(&cfg, 65520), (uid_t)-1);
	assert_int_equal(sandbox_host_uid(&cfg, 65519), 1000000u + 65519u * 65536u + 1000u);
	{
		/* The guard execs cmd[0] without a PATH search: it must be absolute. */
		char *saved = cfg.singleuser.cmd[0];
		cfg.singleuser.cmd[0] = (char *)"python3";
		assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, TOKEN, &paths, &text), -EINVAL);
		cfg.singleuser.cmd[0] = saved;
	}
	cfg.singleuser.n_cmd = 0;
	assert_int_equal(sandbox_oci_spec(&cfg, "alice", 0, TOKEN, &paths, &text), -EINVAL);
	cfg.singleuser.n_cmd = 3;
	assert_null(text);
}

/* Strings from the operator's config are JSON-escaped, not spliced. */
static void test_cmd_escaping(void **state)
{
	char *cmd[] = {"/usr/bin/env", "A=\"quoted\"\n", "x\\y"};
	json_t *j, *args;

	cfg.singleuser.cmd = cmd;
	j = spec_for("bob", 0, TOKEN, NULL);
	args = path(j, "process", "args", NULL);
	/* args[0..3] are the guard's: /nbwarden/guard --policy FILE -- */
	assert_string_equal(json_string_value(json_array_get(args, 4)), "/usr/bin/env");
	assert_string_equal(json_string_value(json_array_get(args, 5)), "A=\"quoted\"\n");
	assert_string_equal(json_string_value(json_array_get(args, 6)), "x\\y");
	assert_string_equal(json_string_value(json_array_get(args, 7)), "--ServerApp.sock=/run/nbwarden/jupyter.sock");
	json_decref(j);
	test_config_defaults(&cfg, "/var/lib/nbwarden");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_process, setup),
	    cmocka_unit_test_setup(test_token_only_in_env, setup),
	    cmocka_unit_test_setup(test_root_and_mappings, setup),
	    cmocka_unit_test_setup(test_mounts, setup),
	    cmocka_unit_test_setup(test_resources, setup),
	    cmocka_unit_test_setup(test_guarantees_and_devices, setup),
	    cmocka_unit_test_setup(test_seccomp, setup),
	    cmocka_unit_test_setup(test_rejects, setup),
	    cmocka_unit_test_setup(test_cmd_escaping, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
