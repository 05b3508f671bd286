/* Paths, the host uid range registry, sandbox_init, sandbox_prepare and
 * sandbox_cleanup. The on-disk tests chown and need root; they are skipped
 * otherwise. */
#include "test.h"

#include "common.h"
#include "common/common.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static struct config cfg;
static char tmpdir[64];
static char statedir[128];

static int setup_tmp(void **state)
{
	nbw_strlcpy(tmpdir, "/tmp/nbw-sbx-unit-XXXXXX", sizeof(tmpdir));
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(chmod(tmpdir, 0755), 0);
	snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
	test_config_defaults(&cfg, statedir);
	return 0;
}

static int teardown_tmp(void **state)
{
	nbw_rm_rf(tmpdir);
	return 0;
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void test_paths_get(void **state)
{
	struct sandbox_paths p;

	test_config_defaults(&cfg, "/var/lib/nbwarden");
	assert_int_equal(sandbox_paths_get(&cfg, "alice", &p), 0);
	assert_string_equal(p.home, "/var/lib/nbwarden/homes/alice");
	assert_string_equal(p.run_dir, "/var/lib/nbwarden/run/alice");
	assert_string_equal(p.socket, "/var/lib/nbwarden/run/alice/jupyter.sock");
	assert_string_equal(p.bundle, "/var/lib/nbwarden/bundles/alice");
	assert_string_equal(p.log, "/var/lib/nbwarden/logs/alice.log");
	assert_string_equal(p.pid_file, "/var/lib/nbwarden/bundles/alice/runc.pid");
	assert_string_equal(p.container_id, "nbwarden-0d4d1025-alice");

	test_config_defaults(&cfg, "/srv/nbw/");
	assert_int_equal(sandbox_paths_get(&cfg, "bob_2-x", &p), 0);
	assert_string_equal(p.home, "/srv/nbw/homes/bob_2-x");

	assert_int_equal(sandbox_paths_get(&cfg, "../etc", &p), -EINVAL);
	assert_int_equal(sandbox_paths_get(&cfg, "Alice", &p), -EINVAL);
	assert_int_equal(sandbox_paths_get(&cfg, "", &p), -EINVAL);
	assert_int_equal(sandbox_paths_get(&cfg, NULL, &p), -EINVAL);
	assert_int_equal(sandbox_paths_get(&cfg, "a/b", &p), -EINVAL);
	assert_int_equal(sandbox_paths_get(&cfg, "abcdefghijabcdefghijabcdefghijabc", &p), -EINVAL); /* 33 */
	test_config_defaults(&cfg, "relative/dir");
	assert_int_equal(sandbox_paths_get(&cfg, "alice", &p), -EINVAL);
	test_config_defaults(&cfg, "/var/lib/../../etc");
	assert_int_equal(sandbox_paths_get(&cfg, "alice", &p), -EINVAL);
}

static void test_host_ids(void **state)
{
	test_config_defaults(&cfg, "/var/lib/nbwarden");
	assert_int_equal(sandbox_host_uid(&cfg, 0), 1001000);
	assert_int_equal(sandbox_host_gid(&cfg, 0), 1000100);
	assert_int_equal(sandbox_host_uid(&cfg, 2), 1000000 + 2 * 65536 + 1000);
	cfg.singleuser.host_uid_base = 4294967295u - 65535u; /* last uid would be 2^32-1 */
	assert_int_equal(sandbox_host_uid(&cfg, 0), (uid_t)-1);
	cfg.singleuser.host_uid_base = 4294967294u - 65535u;
	assert_int_equal(sandbox_host_uid(&cfg, 0), 4294967294u - 65535u + 1000u);
	assert_int_equal(sandbox_host_uid(&cfg, 1), (uid_t)-1);

	/* A range that would contain the hub's uid or gid is never handed out. */
	test_config_defaults(&cfg, "/var/lib/nbwarden");
	cfg.hub.uid = 1000000 + 3 * 65536 + 5;
	assert_int_equal(sandbox_host_uid(&cfg, 3), (uid_t)-1);
	assert_int_equal(sandbox_host_uid(&cfg, 2), 1000000 + 2 * 65536 + 1000);
	assert_int_equal(sandbox_host_uid(&cfg, 4), 1000000 + 4 * 65536 + 1000);
	test_config_defaults(&cfg, "/var/lib/nbwarden");
	cfg.hub.gid = 1000000 + 7 * 65536;
	assert_int_equal(sandbox_host_gid(&cfg, 7), (gid_t)-1);
}

static void test_slots(void **state)
{
	uint32_t s = 99;
	char *text = NULL, path[256];
	struct stat st;

	need_root();
	struct sandbox_error err = {0};
	assert_int_equal(sandbox_init(&cfg, &err), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "alice", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(sandbox_slot_get(&cfg, "bob", &s), 0);
	assert_int_equal(s, 1);
	assert_int_equal(sandbox_slot_get(&cfg, "alice", &s), 0);
	assert_int_equal(s, 0);
	snprintf(path, sizeof(path), "%s/slots", statedir);
	assert_int_equal(nbw_read_file(path, 4096, &text, NULL), 0);
	assert_string_equal(text, "0 alice\n1 bob\n");
	free(text);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);

	/* Stable across "restarts" and order: the lowest free slot is reused only if free. */
	assert_int_equal(nbw_write_file_atomic(path, "1 bob\n5 carol\n", 14, 0600), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "dave", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(sandbox_slot_get(&cfg, "carol", &s), 0);
	assert_int_equal(s, 5);
	assert_int_equal(sandbox_slot_get(&cfg, "erin", &s), 0);
	assert_int_equal(s, 2);

	/* A damaged registry stops allocation instead of handing out a range twice. */
	static const char *const bad[] = {"0 alice\n0 bob\n",	 "0 alice\n1 alice\n", "x alice\n",
					  "0 Alice\n",		 "0  alice\n",	       "0 alice",
					  "99999999999 alice\n", "0 alice\nfoo\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(nbw_write_file_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
		if (sandbox_slot_get(&cfg, "zed", &s) != -EBADMSG)
			fail_msg("accepted '%s'", bad[i]);
	}
	/* Not root's or writable by others: refused. */
	assert_int_equal(nbw_write_file_atomic(path, "", 0, 0666), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "zed", &s), -EPERM);
	/* A symlink is never followed. */
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_true(sandbox_slot_get(&cfg, "zed", &s) < 0);
	unlink(path);

	/* Full: only two ranges fit below 2^32-1. */
	cfg.singleuser.host_uid_base = 4294967294u - 2 * 65536u + 1;
	assert_int_equal(sandbox_slot_get(&cfg, "u1", &s), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "u2", &s), 0);
	assert_int_equal(s, 1);
	assert_int_equal(sandbox_slot_get(&cfg, "u3", &s), -ENOSPC);
	assert_int_equal(sandbox_slot_get(&cfg, "u1", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(sandbox_slot_get(&cfg, "Bad", &s), -EINVAL);
}

static void assert_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s: mode %04o uid %u gid %u, want %04o %u %u", path, st.st_mode & 07777, st.st_uid, st.st_gid,
			 mode, uid, gid);
}

static void test_init(void **state)
{
	struct sandbox_error err = {0};
	char p[256];

	need_root();
	assert_int_equal(sandbox_init(&cfg, &err), 0);
	assert_dir(statedir, 0755, 0, 0);
	snprintf(p, sizeof(p), "%s/hub", statedir);
	assert_dir(p, 0700, 60999, 60999);
	snprintf(p, sizeof(p), "%s/homes", statedir);
	assert_dir(p, 0711, 0, 0);
	snprintf(p, sizeof(p), "%s/run", statedir);
	assert_dir(p, 0711, 0, 0);
	snprintf(p, sizeof(p), "%s/bundles", statedir);
	assert_dir(p, 0711, 0, 0);
	snprintf(p, sizeof(p), "%s/logs", statedir);
	assert_dir(p, 0700, 0, 0);
	assert_dir(SANDBOX_RUNC_ROOT, 0700, 0, 0);
	/* Idempotent, and repairs modes. */
	snprintf(p, sizeof(p), "%s/hub", statedir);
	assert_int_equal(chmod(p, 0777), 0);
	assert_int_equal(sandbox_init(&cfg, &err), 0);
	assert_dir(p, 0700, 60999, 60999);
}

static void test_init_refuses(void **state)
{
	struct sandbox_error err = {0};
	char p[256], target[256];

	need_root();
	/* state_dir itself a symlink */
	snprintf(target, sizeof(target), "%s/real", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, statedir), 0);
	assert_int_equal(sandbox_init(&cfg, &err), -ELOOP);
	assert_non_null(strstr(err.message, "symlink"));
	assert_non_null(strstr(err.message, statedir));
	unlink(statedir);

	/* a subdirectory we would create is a symlink */
	assert_int_equal(mkdir(statedir, 0755), 0);
	snprintf(p, sizeof(p), "%s/homes", statedir);
	assert_int_equal(symlink(target, p), 0);
	assert_true(sandbox_init(&cfg, &err) < 0);
	assert_non_null(strstr(err.message, "homes"));
	unlink(p);

	/* a symlink in the middle of the path */
	snprintf(p, sizeof(p), "%s/link", tmpdir);
	assert_int_equal(symlink(tmpdir, p), 0);
	snprintf(target, sizeof(target), "%s/link/state2", tmpdir);
	cfg.hub.state_dir = target;
	assert_int_equal(sandbox_init(&cfg, &err), -ELOOP);
	cfg.hub.state_dir = statedir;

	/* an ancestor the sandbox users cannot traverse */
	snprintf(p, sizeof(p), "%s/closed", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(target, sizeof(target), "%s/closed/state", tmpdir);
	cfg.hub.state_dir = target;
	assert_int_equal(sandbox_init(&cfg, &err), -EACCES);
	assert_non_null(strstr(err.message, "not searchable"));
	cfg.hub.state_dir = statedir;

	/* relative */
	cfg.hub.state_dir = "var/lib/x";
	assert_int_equal(sandbox_init(&cfg, &err), -EINVAL);
	cfg.hub.state_dir = statedir;
}

/* A read-only state_dir, in a private mount namespace of a child process. */
static void test_init_readonly(void **state)
{
	need_root();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_error err = {0};
		char want[256];
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		if (mkdir(statedir, 0755) < 0 || mount("tmpfs", statedir, "tmpfs", MS_RDONLY, "mode=0755") < 0)
			_exit(3);
		int r = sandbox_init(&cfg, &err);
		snprintf(want, sizeof(want), "state_dir %s is not writable: Read-only file system", statedir);
		if (r != -EROFS || strcmp(err.message, want) != 0) {
			fprintf(stderr, "got %d '%s'\n", r, err.message);
			_exit(1);
		}
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		skip();
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void read_into(const char *path, char *buf, size_t size)
{
	char *t = NULL;
	assert_int_equal(nbw_read_file(path, size - 1, &t, NULL), 0);
	nbw_strlcpy(buf, t, size);
	free(t);
}

static void test_prepare(void **state)
{
	struct sandbox_error err = {0};
	struct sandbox_paths p;
	static char buf[1 << 16];
	char path[4300];
	struct stat st;
	uint32_t slot;
	uid_t huid;
	gid_t hgid, base;

	need_root();
	assert_int_equal(sandbox_init(&cfg, &err), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "alice", &slot), 0);
	assert_int_equal(sandbox_slot_get(&cfg, "bob", &slot), 0);
	assert_int_equal(slot, 1);
	assert_int_equal(sandbox_paths_get(&cfg, "bob", &p), 0);
	huid = sandbox_host_uid(&cfg, slot);
	hgid = sandbox_host_gid(&cfg, slot);
	base = (gid_t)(cfg.singleuser.host_uid_base + slot * 65536);

	assert_int_equal(sandbox_prepare(&cfg, "bob", slot, "secret-token", &p, NULL, &err), 0);
	assert_dir(p.home, 0700, huid, hgid);
	assert_dir(p.run_dir, 02750, huid, 60999);
	assert_dir(p.bundle, 0710, 0, base);
	snprintf(path, sizeof(path), "%s/rootfs", p.bundle);
	assert_dir(path, 0755, 0, 0);
	static const char *const mps[] = {"proc", "dev", "sys", "usr", "etc", "home/jovyan", "run/nbwarden"};
	for (size_t i = 0; i < ARRAY_SIZE(mps); i++) {
		snprintf(path, sizeof(path), "%s/rootfs/%s", p.bundle, mps[i]);
		assert_dir(path, 0755, 0, 0);
	}
	snprintf(path, sizeof(path), "%s/rootfs/tmp", p.bundle);
	assert_dir(path, 01777, 0, 0);
	snprintf(path, sizeof(path), "%s/rootfs/bin", p.bundle);
	assert_int_equal(readlink(path, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "usr/bin", 7);
	snprintf(path, sizeof(path), "%s/rootfs/sbin", p.bundle);
	assert_int_equal(readlink(path, buf, sizeof(buf)), 8);
	snprintf(path, sizeof(path), "%s/rootfs/lib", p.bundle);
	assert_int_equal(readlink(path, buf, sizeof(buf)), 7);

	snprintf(path, sizeof(path), "%s/etc/passwd", p.bundle);
	read_into(path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\njovyan:x:1000:100:Jupyter user:/home/jovyan:/bin/sh\n"));
	assert_true(str_has_prefix(buf, "root:x:0:0:"));
	assert_null(strstr(buf, "60999"));
	snprintf(path, sizeof(path), "%s/etc/group", p.bundle);
	read_into(path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "users:x:100:jovyan\n"));
	snprintf(path, sizeof(path), "%s/etc/hosts", p.bundle);
	read_into(path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "127.0.0.1\tlocalhost\n"));
	assert_non_null(strstr(buf, "nbwarden"));
	snprintf(path, sizeof(path), "%s/etc/nsswitch.conf", p.bundle);
	read_into(path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "passwd: files\n"));
	snprintf(path, sizeof(path), "%s/etc/resolv.conf", p.bundle);
	assert_int_equal(lstat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/etc/ld.so.cache", p.bundle);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size > 0);
	snprintf(path, sizeof(path), "%s/etc/ssl/certs", p.bundle);
	assert_dir(path, 0755, 0, 0);
	/* Never host secrets. */
	static const char *const absent[] = {"shadow", "gshadow", "sudoers", "ssh", "ssl/private", "machine-id"};
	for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
		snprintf(path, sizeof(path), "%s/etc/%s", p.bundle, absent[i]);
		assert_int_equal(lstat(path, &st), -1);
	}

	/* config.json holds the token: root only. */
	snprintf(path, sizeof(path), "%s/config.json", p.bundle);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	read_into(path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "NBWARDEN_SERVER_TOKEN=secret-token"));
	assert_int_equal(lstat(p.log, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* A second start keeps the home, empties the run dir, rewrites the bundle. */
	snprintf(path, sizeof(path), "%s/notebook.ipynb", p.home);
	assert_int_equal(nbw_write_file_atomic(path, "{}", 2, 0644), 0);
	snprintf(buf, sizeof(buf), "%s/stale.sock", p.run_dir);
	assert_int_equal(nbw_write_file_atomic(buf, "x", 1, 0644), 0);
	snprintf(buf, sizeof(buf), "%s/extra", p.bundle);
	assert_int_equal(mkdir(buf, 0700), 0);
	int fd = open(p.log, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old\n", 4), 4);
	close(fd);
	assert_int_equal(sandbox_prepare(&cfg, "bob", slot, "other-token", &p, NULL, &err), 0);
	assert_int_equal(lstat(path, &st), 0);
	snprintf(buf, sizeof(buf), "%s/stale.sock", p.run_dir);
	assert_int_equal(lstat(buf, &st), -1);
	snprintf(buf, sizeof(buf), "%s/extra", p.bundle);
	assert_int_equal(lstat(buf, &st), -1);
	assert_int_equal(lstat(p.log, &st), 0);
	assert_int_equal(st.st_size, 0);

	/* A run dir replaced by a symlink is removed, not followed. */
	assert_int_equal(nbw_rm_rf(p.run_dir), 0);
	assert_int_equal(symlink("/etc", p.run_dir), 0);
	if (sandbox_prepare(&cfg, "bob", slot, "other-token", &p, NULL, &err) != 0)
		fail_msg("%s", err.message);
	assert_dir(p.run_dir, 02750, huid, 60999);
	assert_int_equal(lstat("/etc/passwd", &st), 0);

	/* Paths that are not ours, bad token, bad user. */
	struct sandbox_paths q = p;
	nbw_strlcpy(q.bundle, "/tmp/elsewhere", sizeof(q.bundle));
	assert_int_equal(sandbox_prepare(&cfg, "bob", slot, "t", &q, NULL, &err), -EINVAL);
	assert_int_equal(sandbox_prepare(&cfg, "alice", slot, "t", &p, NULL, &err), -EINVAL);
	assert_int_equal(sandbox_prepare(&cfg, "bob", slot, "bad token", &p, NULL, &err), -EINVAL);
	assert_int_equal(sandbox_prepare(&cfg, "BOB", slot, "t", &p, NULL, &err), -EINVAL);

	/* Cleanup: bundle and run dir go, home stays; twice is fine. */
	assert_int_equal(sandbox_cleanup(&p), 0);
	assert_int_equal(lstat(p.bundle, &st), -1);
	assert_int_equal(lstat(p.run_dir, &st), -1);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(sandbox_cleanup(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_get),
	    cmocka_unit_test(test_host_ids),
	    cmocka_unit_test_setup_teardown(test_slots, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_init, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_init_refuses, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_init_readonly, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_prepare, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
