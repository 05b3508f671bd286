/* Runtime resolution, argv builders, pid file, readiness probe, log tail, leftovers. */
#include "test.h"

#include "common.h"
#include "common/common.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static struct config cfg;
static char tmpdir[64];
static struct sandbox_paths paths;

static int setup_tmp(void **state)
{
	nbw_strlcpy(tmpdir, "/tmp/nbw-sbx-rt-XXXXXX", sizeof(tmpdir));
	assert_non_null(mkdtemp(tmpdir));
	test_config_defaults(&cfg, tmpdir);
	memset(&paths, 0, sizeof(paths));
	snprintf(paths.run_dir, sizeof(paths.run_dir), "%s/run", tmpdir);
	snprintf(paths.socket, sizeof(paths.socket), "%s/run/jupyter.sock", tmpdir);
	snprintf(paths.log, sizeof(paths.log), "%s/server.log", tmpdir);
	snprintf(paths.pid_file, sizeof(paths.pid_file), "%s/runc.pid", tmpdir);
	snprintf(paths.bundle, sizeof(paths.bundle), "%s/bundle", tmpdir);
	nbw_strlcpy(paths.container_id, "nbwarden-0d4d1025-alice", sizeof(paths.container_id));
	assert_int_equal(mkdir(paths.run_dir, 0755), 0);
	return 0;
}

static int teardown_tmp(void **state)
{
	nbw_rm_rf(tmpdir);
	return 0;
}

static void test_resolve(void **state)
{
	struct sandbox_error err = {0};
	char buf[4096], fake[256];

	cfg.singleuser.runtime = "/nope/runc";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_true(str_has_prefix(err.message, "OCI runtime '/nope/runc' not found (singleuser.runtime)"));

	cfg.singleuser.runtime = "/bin/true";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "/bin/true");

	/* Root runs it: a binary someone else could have changed is refused. */
	snprintf(fake, sizeof(fake), "%s/writable-runtime", tmpdir);
	assert_int_equal(nbw_write_file_atomic(fake, "#!/bin/sh\n", 10, 0777), 0);
	cfg.singleuser.runtime = fake;
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -EPERM);
	assert_non_null(strstr(err.message, "not owned by root or is writable by others"));
	if (geteuid() == 0) {
		assert_int_equal(chmod(fake, 0755), 0);
		assert_int_equal(chown(fake, 1234, 1234), 0);
		assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -EPERM);
		assert_int_equal(chown(fake, 0, 0), 0);
		assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), 0);
	}

	/* A bare name: searched in a fixed PATH, never the environment's. */
	snprintf(fake, sizeof(fake), "%s/fake-runtime-xyz", tmpdir);
	assert_int_equal(nbw_write_file_atomic(fake, "#!/bin/sh\n", 10, 0755), 0);
	setenv("PATH", tmpdir, 1);
	cfg.singleuser.runtime = "fake-runtime-xyz";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -ENOENT);
	assert_non_null(strstr(err.message, "'fake-runtime-xyz' not found (singleuser.runtime"));
	cfg.singleuser.runtime = "true";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), 0);
	assert_true(buf[0] == '/' && strstr(buf, "/true"));

	/* Relative paths, directories and non-executables are refused. */
	cfg.singleuser.runtime = "bin/runc";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -EINVAL);
	cfg.singleuser.runtime = "/usr/bin";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -ENOENT);
	assert_int_equal(chmod(fake, 0644), 0);
	cfg.singleuser.runtime = fake;
	/* Even root needs one x bit for access(X_OK); 0644 has none. */
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, sizeof(buf), &err), -ENOENT);
	cfg.singleuser.runtime = "/bin/true";
	assert_int_equal(sandbox_runtime_resolve(&cfg, buf, 4, &err), -ENAMETOOLONG);
}

static void test_argv(void **state)
{
	char **argv = NULL;
	const char *want_run[] = {"/usr/sbin/runc", "--root",	     "/run/nbwarden/runc", "run",
				  "--detach",	    "--bundle",	     paths.bundle,	   "--pid-file",
				  paths.pid_file,   "nbwarden-0d4d1025-alice"};
	const char *want_del[] = {"/usr/sbin/runc", "--root",  "/run/nbwarden/runc",
				  "delete",	    "--force", "nbwarden-0d4d1025-alice"};
	size_t n;

	assert_int_equal(sandbox_argv_run("/usr/sbin/runc", &paths, &argv), 0);
	for (n = 0; argv[n]; n++)
		assert_string_equal(argv[n], want_run[n]);
	assert_int_equal(n, ARRAY_SIZE(want_run));
	free(argv);

	assert_int_equal(sandbox_argv_delete("/usr/sbin/runc", "nbwarden-0d4d1025-alice", &argv), 0);
	for (n = 0; argv[n]; n++)
		assert_string_equal(argv[n], want_del[n]);
	assert_int_equal(n, ARRAY_SIZE(want_del));
	free(argv);

	assert_int_equal(sandbox_argv_kill("/usr/sbin/runc", "nbwarden-0d4d1025-alice", "TERM", &argv), 0);
	assert_string_equal(argv[3], "kill");
	assert_string_equal(argv[4], "nbwarden-0d4d1025-alice");
	assert_string_equal(argv[5], "TERM");
	assert_null(argv[6]);
	free(argv);
	assert_int_equal(sandbox_argv_kill("/usr/sbin/runc", "nbwarden-0d4d1025-alice", "HUP", &argv), -EINVAL);
	assert_int_equal(sandbox_argv_kill("/usr/sbin/runc", "nbwarden-0d4d1025-alice", "--all", &argv), -EINVAL);
	assert_int_equal(sandbox_argv_state("/usr/sbin/runc", "nbwarden-0d4d1025-alice", &argv), 0);
	assert_string_equal(argv[3], "state");
	assert_string_equal(argv[4], "nbwarden-0d4d1025-alice");
	assert_null(argv[5]);
	free(argv);
	assert_int_equal(sandbox_argv_state("/usr/sbin/runc", "x", &argv), -EINVAL);

	assert_int_equal(sandbox_argv_delete("/usr/sbin/runc", "alice", &argv), -EINVAL);
	assert_int_equal(sandbox_argv_delete("/usr/sbin/runc", "nbwarden-../x", &argv), -EINVAL);
	assert_int_equal(sandbox_argv_delete("/usr/sbin/runc", "nbwarden-", &argv), -EINVAL);
	assert_int_equal(sandbox_argv_delete("runc", "nbwarden-0d4d1025-alice", &argv), -EINVAL);
	nbw_strlcpy(paths.container_id, "other-alice", sizeof(paths.container_id));
	assert_int_equal(sandbox_argv_run("/usr/sbin/runc", &paths, &argv), -EINVAL);
}

static void test_read_pid(void **state)
{
	pid_t pid = 0;

	assert_int_equal(sandbox_read_pid(&paths, &pid), -ENOENT);
	assert_int_equal(nbw_write_file_atomic(paths.pid_file, "12345", 5, 0644), 0);
	assert_int_equal(sandbox_read_pid(&paths, &pid), 0);
	assert_int_equal(pid, 12345);
	assert_int_equal(nbw_write_file_atomic(paths.pid_file, "777\n", 4, 0644), 0);
	assert_int_equal(sandbox_read_pid(&paths, &pid), 0);
	assert_int_equal(pid, 777);
	static const char *const bad[] = {"", "0", "1", "-5", "abc", "12a", "99999999999", "4194305"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(nbw_write_file_atomic(paths.pid_file, bad[i], strlen(bad[i]), 0644), 0);
		assert_int_equal(sandbox_read_pid(&paths, &pid), -EBADMSG);
	}
	assert_int_equal(pid, 777);
}

static int bind_at(const char *path, bool do_listen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(nbw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void test_probe(void **state)
{
	char other[256];
	int fd, lfd;

	/* Absent: not yet. */
	assert_int_equal(sandbox_probe_ready(&paths), 0);
	/* Bound but not listening: not yet. */
	fd = bind_at(paths.socket, false);
	assert_int_equal(sandbox_probe_ready(&paths), 0);
	/* Listening: ready. */
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(sandbox_probe_ready(&paths), 1);
	close(fd);
	/* Stale socket file, nobody behind it: not yet. */
	assert_int_equal(sandbox_probe_ready(&paths), 0);
	unlink(paths.socket);

	/* A symlink to a listening socket elsewhere: refused, never connected. */
	snprintf(other, sizeof(other), "%s/other.sock", tmpdir);
	lfd = bind_at(other, true);
	assert_int_equal(symlink(other, paths.socket), 0);
	assert_int_equal(sandbox_probe_ready(&paths), -ELOOP);
	int fl = fcntl(lfd, F_GETFL);
	fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
	assert_int_equal(accept(lfd, NULL, NULL), -1); /* nothing connected */
	assert_int_equal(errno, EAGAIN);
	close(lfd);
	unlink(paths.socket);

	/* A regular file. */
	assert_int_equal(nbw_write_file_atomic(paths.socket, "x", 1, 0644), 0);
	assert_int_equal(sandbox_probe_ready(&paths), -ENOTSOCK);
	unlink(paths.socket);

	/* The run dir itself a symlink, or missing: hard errors. */
	char real[256];
	snprintf(real, sizeof(real), "%s/realrun", tmpdir);
	assert_int_equal(rename(paths.run_dir, real), 0);
	assert_int_equal(sandbox_probe_ready(&paths), -ENOENT);
	assert_int_equal(symlink(real, paths.run_dir), 0);
	assert_true(sandbox_probe_ready(&paths) < 0);

	/* Long host paths are fine: the connect goes through /proc/self/fd/N. */
	unlink(paths.run_dir);
	char longdir[400];
	snprintf(longdir, sizeof(longdir), "%s/%0150d", tmpdir, 0);
	assert_int_equal(mkdir(longdir, 0755), 0);
	nbw_strlcpy(paths.run_dir, longdir, sizeof(paths.run_dir));
	assert_int_equal(chdir(longdir), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "jupyter.sock"};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(sandbox_probe_ready(&paths), 1);
	close(fd);
}

static void write_log(const char *text)
{
	assert_int_equal(nbw_write_file_atomic(paths.log, text, strlen(text), 0640), 0);
}

static void test_log_tail(void **state)
{
	char buf[128];

	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), -ENOENT);
	write_log("");
	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	write_log("first\nsecond line\n\n  \n\n");
	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "second line");
	write_log("x\nno newline at end");
	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "no newline at end");
	write_log("bell\a and \x1b[31mcolour\xc3\xa9\r\n");
	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "bell? and ?[31mcolour??");
	write_log("see http://x/?token=abcdef123&a=1 and TOKEN=zzz end\n");
	assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "see http://x/?token=[redacted]&a=1 and token=[redacted] end");
	/* Truncated to the buffer. */
	assert_int_equal(sandbox_log_tail(&paths, buf, 8), 0);
	assert_string_equal(buf, "see htt");
	/* Big log: only the end is read. */
	{
		size_t n = 100000;
		char *big = malloc(n + 32);
		memset(big, 'a', n);
		memcpy(big + n, "\nlast one\n", 11);
		write_log(big);
		free(big);
		assert_int_equal(sandbox_log_tail(&paths, buf, sizeof(buf)), 0);
		assert_string_equal(buf, "last one");
	}
}

static void test_leftovers(void **state)
{
	char d[256], **v = NULL;
	const char *names[] = {"nbwarden-0d4d1025-alice", "nbwarden-0d4d1025-bob", "nbwarden-ffffffff-carol", "other", "nbwarden-",
			       "nbwarden-alice", "nbwarden-0d4d1025-Bad", ".x"};

	snprintf(d, sizeof(d), "%s/runc", tmpdir);
	assert_int_equal(sandbox__list_prefixed(d, "nbwarden-0d4d1025-", &v), 0); /* absent dir: empty list */
	assert_non_null(v);
	assert_null(v[0]);
	sandbox_strv_free(v);
	assert_int_equal(mkdir(d, 0700), 0);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char p[300];
		snprintf(p, sizeof(p), "%s/%s", d, names[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	assert_int_equal(sandbox__list_prefixed(d, "nbwarden-0d4d1025-", &v), 0);
	size_t n = 0;
	bool alice = false, bob = false;
	for (; v[n]; n++) {
		alice |= !strcmp(v[n], "nbwarden-0d4d1025-alice");
		bob |= !strcmp(v[n], "nbwarden-0d4d1025-bob");
	}
	assert_int_equal(n, 2);
	assert_true(alice && bob);
	sandbox_strv_free(v);
	/* The real runc root works too (whatever it holds). */
	if (geteuid() == 0) {
		assert_int_equal(sandbox_list_leftovers(&cfg, &v), 0);
		sandbox_strv_free(v);
	}
	sandbox_strv_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_resolve, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_argv, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_read_pid, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_probe, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_log_tail, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_leftovers, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
