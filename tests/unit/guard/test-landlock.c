/* The real nbwarden-guard on the host, in forked children: Landlock needs no
 * privilege, so this runs anywhere the kernel has it (skipped otherwise).
 * Each denial is paired with the same operation allowed without the guard or
 * by a rule, so a test cannot pass because the operation was impossible anyway. */
#include "test.h"

#include "guard/guard.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *guard_bin;
static char tmpdir[] = "/tmp/nbw-guard-test-XXXXXX";
static char python[PATH_MAX], ldso[PATH_MAX];
static char out[8192];

/* Run argv (NULL-terminated), capture stdout+stderr into out; exit status or -1. */
static int run(char *const argv[])
{
	char path[PATH_MAX];
	int fd, st;
	pid_t pid;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/out", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	n = pread(fd, out, sizeof(out) - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_policy(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The policy the sandbox uses, scaled to the host: tmpdir/rw writable,
 * tmpdir/ro readable only. */
static void write_default_policy(const char *name, bool with_ldso, const char *extra)
{
	size_t size = strlen(extra) + 8 * PATH_MAX;
	char *text = malloc(size);

	assert_non_null(text);
	snprintf(text, size,
		 "nbwarden-guard-policy 1\n"
		 "landlock best-effort\n"
		 "scope abstract-unix-socket\n"
		 "scope signal\n"
		 "memfd deny\n"
		 "list /\n"
		 "read /usr/lib\nread /usr/share\nread /etc\nread /proc\nread /dev\nread %s/ro\n"
		 "exec %s\n%s%s%s"
		 "write %s/rw\n"
		 "device /dev/null\n%s",
		 tmpdir, python, with_ldso ? "exec " : "", with_ldso ? ldso : "", with_ldso ? "\n" : "", tmpdir, extra);
	write_policy(name, text);
	free(text);
}

static int guard_run(const char *policy, const char *py_code)
{
	char ppath[PATH_MAX];
	char *argv[] = {(char *)guard_bin, "--policy", ppath, "--", python, "-I", "-S", "-c", (char *)py_code, NULL};

	snprintf(ppath, sizeof(ppath), "%s/%s", tmpdir, policy);
	return run(argv);
}

static int setup(void **state)
{
	char path[PATH_MAX];
	ssize_t n;

	if (!realpath("/usr/bin/python3", python))
		return -1;
	/* The ELF interpreter the kernel opens for python (Debian: PT_INTERP
	 * /lib64/ld-linux-x86-64.so.2 → /usr/lib/x86_64-linux-gnu/...). */
	if (!realpath("/lib64/ld-linux-x86-64.so.2", ldso) && !realpath("/lib/ld-linux-aarch64.so.1", ldso))
		return -1;
	if (!mkdtemp(tmpdir))
		return -1;
	chmod(tmpdir, 0755);
	snprintf(path, sizeof(path), "%s/rw", tmpdir);
	mkdir(path, 0777);
	chmod(path, 0777);
	snprintf(path, sizeof(path), "%s/ro", tmpdir);
	mkdir(path, 0777);
	chmod(path, 0777);
	write_default_policy("policy", true, "");
	write_default_policy("policy-no-ldso", false, "");
	write_default_policy("policy-net-tcp", true, "net-deny tcp\n");
	write_default_policy("policy-net-udp-icmp", true, "net-deny udp\nnet-deny icmp\n");
	(void)n;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	char *argv[] = {"/bin/rm", "-rf", tmpdir, NULL};
	(void)cmd;
	run(argv);
	return 0;
}

static void test_python_runs(void **state)
{
	assert_int_equal(guard_run("policy", "print(6*7)"), 0);
	assert_string_equal(out, "42\n");
}

static void test_exec_denied(void **state)
{
	char ppath[PATH_MAX];
	char *argv[] = {(char *)guard_bin, "--policy", ppath, "--", "/bin/ls", "/", NULL};
	char *plain[] = {"/bin/ls", "/", NULL};

	/* Control: ls runs without the guard. */
	assert_int_equal(run(plain), 0);
	snprintf(ppath, sizeof(ppath), "%s/policy", tmpdir);
	assert_int_equal(run(argv), GUARD_EXIT_EXEC);
	assert_non_null(strstr(out, "cannot execute /bin/ls: Permission denied"));

	/* From inside python: os.system, subprocess, a copy of the interpreter
	 * in a writable directory. */
	assert_int_equal(guard_run("policy",
				   "import os, subprocess, shutil\n"
				   "print('system', os.system('true'))\n"
				   "try:\n"
				   "    subprocess.run(['/bin/ls'])\n"
				   "except PermissionError as e:\n"
				   "    print('ls', e.errno)\n"),
			 0);
	assert_non_null(strstr(out, "system 32512\n")); /* 127 << 8: /bin/sh refused */
	assert_non_null(strstr(out, "ls 13\n"));
}

static void test_copied_interpreter_denied(void **state)
{
	char code[8 * PATH_MAX];

	snprintf(code, sizeof(code),
		 "import shutil, subprocess\n"
		 "shutil.copy('%s', '%s/rw/py')\n"
		 "try:\n"
		 "    subprocess.run(['%s/rw/py', '-c', 'print(1)'])\n"
		 "    print('ran')\n"
		 "except PermissionError as e:\n"
		 "    print('copy', e.errno)\n",
		 python, tmpdir, tmpdir);
	assert_int_equal(guard_run("policy", code), 0);
	assert_string_equal(out, "copy 13\n");
}

static void test_writes(void **state)
{
	char code[8 * PATH_MAX];

	snprintf(code, sizeof(code),
		 "import os\n"
		 "open('%s/rw/f', 'w').write('x')\n"
		 "os.truncate('%s/rw/f', 0)\n"
		 "print('rw ok')\n"
		 "for op in ('open', 'mkdir', 'rename'):\n"
		 "    try:\n"
		 "        if op == 'open': open('%s/ro/f', 'w')\n"
		 "        if op == 'mkdir': os.mkdir('%s/ro/d')\n"
		 "        if op == 'rename': os.rename('%s/rw/f', '%s/ro/f')\n"
		 "        print(op, 'allowed')\n"
		 "    except OSError as e:\n"
		 "        print(op, e.errno)\n",
		 tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
	assert_int_equal(guard_run("policy", code), 0);
	assert_string_equal(out, "rw ok\nopen 13\nmkdir 13\nrename 13\n");
}

/* memfd: works without the guard (a copy of echo runs from anonymous memory),
 * refused under it; ld.so cannot open programs outside the read rules. */
static void test_memfd_and_ldso(void **state)
{
	char code[8 * PATH_MAX];
	char *argv[] = {python, "-I", "-S", "-c", code, NULL};

	snprintf(code, sizeof(code),
		 "import os, subprocess\n"
		 "try:\n"
		 "    fd = os.memfd_create('x')\n"
		 "    os.write(fd, open('/usr/bin/echo', 'rb').read())\n"
		 "    os.execve(fd, ['x', 'memfd-exec-ran'], {})\n"
		 "except OSError as e:\n"
		 "    print('memfd', e.errno)\n"
		 "print('unreachable')\n");
	assert_int_equal(run(argv), 0); /* control, no guard */
	assert_string_equal(out, "memfd-exec-ran\n");

	snprintf(code, sizeof(code),
		 "import os, subprocess\n"
		 "try:\n"
		 "    os.memfd_create('x')\n"
		 "except OSError as e:\n"
		 "    print('memfd', e.errno)\n"
		 "r = subprocess.run(['%s', '/usr/bin/echo', 'ldso-ran'], capture_output=True)\n"
		 "print('ldso', r.returncode, b'ldso-ran' in r.stdout, b'Permission denied' in r.stderr)\n",
		 ldso);
	assert_int_equal(run(argv), 0); /* control */
	assert_string_equal(out, "ldso 0 True False\n");
	assert_int_equal(guard_run("policy", code), 0);
	assert_string_equal(out, "memfd 1\nldso 127 False True\n");
}

/* "list /" lets code list directories, not read files outside the read rules. */
static void test_list_is_not_read(void **state)
{
	assert_int_equal(guard_run("policy", "import os\n"
					     "print('usr' in os.listdir('/'), 'true' in os.listdir('/usr/bin'))\n"
					     "try:\n"
					     "    open('/usr/bin/true', 'rb')\n"
					     "except OSError as e:\n"
					     "    print('read', e.errno)\n"),
			 0);
	assert_string_equal(out, "True True\nread 13\n");
}

/* The kernel checks EXECUTE on the ELF interpreter it opens for a dynamic
 * executable: without a rule for ld.so, python itself cannot start. */
static void test_elf_interpreter_needs_execute(void **state)
{
	assert_int_equal(guard_run("policy-no-ldso", "print(1)"), GUARD_EXIT_EXEC);
	assert_non_null(strstr(out, "Permission denied"));
}

/* net-deny reaches the server: main.c installs the socket filter before the
 * execve (the filter itself is tested in test-net.c). */
static void test_net_deny(void **state)
{
	const char *code = "import socket\n"
			   "for name, fam, typ in (('tcp', socket.AF_INET, socket.SOCK_STREAM),\n"

			   "                       ('udp', socket.AF_INET, socket.SOCK_DGRAM),\n"
			   "                       ('unix', socket.AF_UNIX, socket.SOCK_STREAM)):\n"
			   "    try:\n"
			   "        socket.socket(fam, typ).close()\n"
			   "        print(name, 'ok')\n"
			   "    except OSError as e:\n"
			   "        print(name, e.errno)\n";

	assert_int_equal(guard_run("policy", code), 0); /* control: same policy, no net-deny */
	assert_string_equal(out, "tcp ok\nudp ok\nunix ok\n");
	assert_int_equal(guard_run("policy-net-tcp", code), 0);
	assert_string_equal(out, "tcp 13\nudp ok\nunix ok\n");
	assert_int_equal(guard_run("policy-net-udp-icmp", code), 0);
	assert_string_equal(out, "tcp ok\nudp 13\nunix ok\n");
}

/* An exec rule on a directory grants EXECUTE | READ_FILE on the whole tree
 * beneath it (the generator's recursive process Allow rules), not writes. */
static void test_exec_dir(void **state)
{
	char dir[PATH_MAX], prog[PATH_MAX], data[PATH_MAX], text[8 * PATH_MAX], code[8 * PATH_MAX];
	char *cp[] = {"/bin/cp", "/usr/bin/true", prog, NULL};
	char *plain[] = {prog, NULL};
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/xbin", tmpdir);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/xbin/sub", tmpdir);
	mkdir(dir, 0755);
	snprintf(prog, sizeof(prog), "%s/xbin/sub/true", tmpdir);
	snprintf(data, sizeof(data), "%s/xbin/sub/data", tmpdir);
	assert_int_equal(run(cp), 0);
	f = fopen(data, "w");
	assert_non_null(f);
	fputs("data", f);
	fclose(f);
	assert_int_equal(run(plain), 0); /* control: the copy runs without the guard */

	snprintf(text, sizeof(text), "exec %s/xbin\n", tmpdir);
	write_default_policy("policy-exec-dir", true, text);
	snprintf(code, sizeof(code),
		 "import subprocess\n"
		 "try:\n"
		 "    print('run', subprocess.run(['%s']).returncode)\n"
		 "except OSError as e:\n"
		 "    print('run', e.errno)\n"
		 "try:\n"
		 "    print('read', open('%s').read())\n"
		 "except OSError as e:\n"
		 "    print('read', e.errno)\n"
		 "try:\n"
		 "    open('%s/new', 'w')\n"
		 "    print('write ok')\n"
		 "except OSError as e:\n"
		 "    print('write', e.errno)\n",
		 prog, data, dir);
	assert_int_equal(guard_run("policy", code), 0); /* control: no rule for the directory */
	assert_string_equal(out, "run 13\nread 13\nwrite 13\n");
	assert_int_equal(guard_run("policy-exec-dir", code), 0);
	assert_string_equal(out, "run 0\nread data\nwrite 13\n");
}

/* GUARD_RULES_MAX rules, half of them for files that do not exist: applied
 * quickly, the missing ones summarised (GUARD_MISSING_NOTICES named, the rest
 * counted), the present ones granted. */
static void test_many_rules(void **state)
{
	const size_t base_rules = 11; /* write_default_policy's, with ld.so */
	const size_t present = 4096, missing = GUARD_RULES_MAX - base_rules - present;
	size_t cap = GUARD_POLICY_MAX, n = 0;
	char *rules = malloc(cap), path[PATH_MAX], code[8 * PATH_MAX], want[256];
	struct timespec t0, t1;
	double secs;
	const char *p;
	size_t named = 0;

	assert_non_null(rules);
	snprintf(path, sizeof(path), "%s/many", tmpdir);
	mkdir(path, 0755);
	for (size_t i = 0; i <= present; i++) {
		int fd;

		/* f0000..f4095 get rules; "other" does not. */
		if (i < present)
			snprintf(path, sizeof(path), "%s/many/f%04zu", tmpdir, i);
		else
			snprintf(path, sizeof(path), "%s/many/other", tmpdir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
		if (i < present)
			n += (size_t)snprintf(rules + n, cap - n, "read %s\n", path);
	}
	for (size_t i = 0; i < missing; i++)
		n += (size_t)snprintf(rules + n, cap - n, "read %s/many/missing%04zu\n", tmpdir, i);
	assert_true(n > 64 * 1024 && n < cap); /* past the old 64 KiB limit */
	write_default_policy("policy-many", true, rules);
	free(rules);

	snprintf(code, sizeof(code),
		 "for name in ('f0000', 'f4095', 'other'):\n"
		 "    try:\n"
		 "        print(name, open('%s/many/' + name).read())\n"
		 "    except OSError as e:\n"
		 "        print(name, e.errno)\n",
		 tmpdir);
	assert_int_equal(guard_run("policy", code), 0); /* control: no rules for them */
	assert_string_equal(out, "f0000 13\nf4095 13\nother 13\n");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(guard_run("policy-many", code), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# %u rules (%zu missing): guard + python in %.3f s\n", GUARD_RULES_MAX, missing, secs);
	assert_true(secs < 10.0);

	assert_non_null(strstr(out, "f0000 x\nf4095 x\nother 13\n"));
	for (p = out; (p = strstr(p, "skipped: it does not exist")); p++)
		named++;
	assert_int_equal(named, GUARD_MISSING_NOTICES);
	snprintf(want, sizeof(want), "rule for %s/many/missing0000 skipped: it does not exist\n", tmpdir);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "rule for %s/many/missing%04u skipped", tmpdir, GUARD_MISSING_NOTICES - 1);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "nbwarden-guard: %zu more rules skipped: their paths do not exist (%zu in all)\n",
		 missing - GUARD_MISSING_NOTICES, missing);
	assert_non_null(strstr(out, want));
}

static void test_require_and_invalid(void **state)
{
	write_policy("p-require", "nbwarden-guard-policy 1\nlandlock require 99\n");
	assert_int_equal(guard_run("p-require", "print(1)"), GUARD_EXIT_POLICY);
	assert_non_null(strstr(out, "requires Landlock ABI >= 99"));
	assert_non_null(strstr(out, "refusing to start"));

	write_policy("p-bad", "nbwarden-guard-policy 1\nlandlock best-effort\nread /usr/\n");
	assert_int_equal(guard_run("p-bad", "print(1)"), GUARD_EXIT_POLICY);
	assert_non_null(strstr(out, "line 3: invalid path"));

	assert_int_equal(guard_run("missing", "print(1)"), GUARD_EXIT_POLICY);
	assert_non_null(strstr(out, "cannot read policy"));

	{
		char *argv[] = {(char *)guard_bin, "--policy", "relative", "--", python, NULL};
		assert_int_equal(run(argv), GUARD_EXIT_USAGE);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_python_runs),
	    cmocka_unit_test(test_exec_denied),
	    cmocka_unit_test(test_copied_interpreter_denied),
	    cmocka_unit_test(test_writes),
	    cmocka_unit_test(test_memfd_and_ldso),
	    cmocka_unit_test(test_list_is_not_read),
	    cmocka_unit_test(test_elf_interpreter_needs_execute),
	    cmocka_unit_test(test_net_deny),
	    cmocka_unit_test(test_exec_dir),
	    cmocka_unit_test(test_many_rules),
	    cmocka_unit_test(test_require_and_invalid),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-nbwarden-guard\n", argv[0]);
		return 2;
	}
	guard_bin = argv[1];
	if (guard_landlock_abi() < 1) {
		printf("Landlock not available: skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
