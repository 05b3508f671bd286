/* The default seccomp profile (share/seccomp/default.json, embedded): it
 * parses, it is the repository file, it allows none of the forbidden calls,
 * and — loaded into the real kernel through libseccomp exactly as runc does
 * (value → datum_a, valueTwo → datum_b, args of one rule AND-ed, rules OR-ed)
 * — it refuses what it must and allows what a notebook needs. */
#include "test.h"

#include "common/common.h"
#include "sandbox/internal.h"
#include "sandbox/seccomp-log.h"
#include "sandbox/seccomp-profile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* The list, plus what Docker refuses to a container without capabilities. */
static const char *const forbidden[] = {
    "keyctl",        "add_key",          "request_key",       "bpf",
    "perf_event_open", "userfaultfd",    "io_uring_setup",    "io_uring_enter",
    "io_uring_register", "mount",        "umount",            "umount2",
    "fsopen",        "fsconfig",         "fsmount",           "fspick",
    "move_mount",    "open_tree",        "mount_setattr",     "unshare",
    "setns",         "pivot_root",       "chroot",            "kexec_load",
    "kexec_file_load", "init_module",    "finit_module",      "delete_module",
    "ptrace",        "process_vm_readv", "process_vm_writev", "open_by_handle_at",
    "name_to_handle_at", "reboot",       "swapon",            "swapoff",
    "acct",          "syslog",           "quotactl",          "quotactl_fd",
    "lookup_dcookie", "settimeofday",    "clock_settime",     "clock_adjtime",
    "adjtimex",      "stime",            "iopl",              "ioperm",
    "vhangup",       "fanotify_init",    "kcmp",              "pidfd_getfd",
    "nfsservctl",    "uselib",           "ustat",             "sysfs",
    "_sysctl",       "vm86",             "vm86old",           "get_kernel_syms",
    "query_module",  "create_module",    "clone3",            "mbind",
    "set_mempolicy", "move_pages",       "migrate_pages",     "lsm_set_self_attr",
};

static json_t *profile(void)
{
	json_t *p = sandbox__seccomp_profile();
	assert_non_null(p);
	return p;
}

static bool names_have(json_t *names, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v)
	{
		if (!strcmp(json_string_value(v), name))
			return true;
	}
	return false;
}

static void test_embedded_is_repository_file(void **state)
{
	_cleanup_free_ char *data = NULL;
	size_t len;

	assert_int_equal(nbw_read_file(SECCOMP_JSON_PATH, 1 << 20, &data, &len), 0);
	assert_int_equal(len, sandbox__seccomp_default_json_len);
	assert_memory_equal(data, sandbox__seccomp_default_json, len);
	assert_int_equal(sandbox__seccomp_default_json[len], 0);
}

static void test_shape(void **state)
{
	json_t *p = profile(), *archs = json_object_get(p, "architectures"), *flags = json_object_get(p, "flags");

	assert_string_equal(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(p, "defaultErrnoRet")), EPERM);
	/* Native ABI only: i386 (int 0x80, socketcall) and x32 are refused outright. */
	assert_int_equal(json_array_size(archs), 1);
	assert_string_equal(json_string_value(json_array_get(archs, 0)), "SCMP_ARCH_X86_64");
	/* runc 1.1 refuses "flags": the spec carries none (the guard's stacked
	 * copy logs, test_log_copy) ... */
	assert_null(flags);
	json_decref(p);
	/* ... while the repository file states the intent for runtimes that honour it. */
	assert_int_equal(sandbox__seccomp_parse((const char *)sandbox__seccomp_default_json,
						sandbox__seccomp_default_json_len, &p),
			 0);
	assert_true(names_have(json_object_get(p, "flags"), "SECCOMP_FILTER_FLAG_LOG"));
	json_decref(p);
}

static void test_no_forbidden_allowed(void **state)
{
	json_t *p = profile(), *rule;
	size_t i, n_allowed = 0;

	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
	{
		const char *action = json_string_value(json_object_get(rule, "action"));
		json_t *names = json_object_get(rule, "names");

		/* Only ALLOW and ERRNO appear; ERRNO is a refusal. */
		assert_true(!strcmp(action, "SCMP_ACT_ALLOW") || !strcmp(action, "SCMP_ACT_ERRNO"));
		if (strcmp(action, "SCMP_ACT_ALLOW") != 0)
			continue;
		n_allowed += json_array_size(names);
		for (size_t k = 0; k < ARRAY_SIZE(forbidden); k++)
			if (names_have(names, forbidden[k]))
				fail_msg("the profile allows %s (rule %zu)", forbidden[k], i);
		/* clone, socket and personality only with argument rules */
		if (!json_object_get(rule, "args")) {
			assert_false(names_have(names, "clone"));
			assert_false(names_have(names, "socket"));
			assert_false(names_have(names, "personality"));
		}
	}
	assert_true(n_allowed > 250);
	json_decref(p);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"]}",
	    "{\"defaultAction\":\"SCMP_ACT_NOPE\",\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":[]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
	    "\"syscalls\":[]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86\"],\"syscalls\":[]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],\"flags\":[\"X\"],"
	    "\"syscalls\":[]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	    "\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ALLOW\"}]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	    "\"syscalls\":[{\"names\":[\"re ad\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	    "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":6,\"value\":1,"
	    "\"op\":\"SCMP_CMP_EQ\"}]}]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	    "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,"
	    "\"op\":\"SCMP_CMP_MASKED_NE\"}]}]}",
	    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultAction\":\"SCMP_ACT_ALLOW\","
	    "\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":[]}",
	};
	const char *good = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
			   "\"architectures\":[\"SCMP_ARCH_X86_64\"],\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
			   "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"}]}";
	json_t *p = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = NULL;
		if (sandbox__seccomp_parse(bad[i], strlen(bad[i]), &p) != -EINVAL)
			fail_msg("accepted bad profile %zu: %s", i, bad[i]);
		assert_null(p);
	}
	assert_int_equal(sandbox__seccomp_parse(good, strlen(good), &p), 0);
	json_decref(p);
}

/* ---- the profile in the real kernel ---- */

/* Distinct from every errno a call below could return on its own, so a
 * result proves the filter (not the kernel's permission checks) refused it. */
#define DENY_ERRNO 222

static uint32_t action_of(const char *a, json_t *errno_ret)
{
	if (!strcmp(a, "SCMP_ACT_ALLOW"))
		return SCMP_ACT_ALLOW;
	assert_string_equal(a, "SCMP_ACT_ERRNO");
	return SCMP_ACT_ERRNO(errno_ret ? (uint16_t)json_integer_value(errno_ret) : DENY_ERRNO);
}

static enum scmp_compare op_of(const char *op)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = { { "SCMP_CMP_NE", SCMP_CMP_NE },	{ "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
		    { "SCMP_CMP_EQ", SCMP_CMP_EQ },	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
		    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ } };
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(op, ops[i].name))
			return ops[i].op;
	return _SCMP_CMP_MIN;
}

/* The profile as runc 1.1 builds it, with the default errno replaced by DENY_ERRNO. */
static scmp_filter_ctx build_filter(json_t *p)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(DENY_ERRNO));
	json_t *rule, *name;
	size_t i, k;

	if (!ctx)
		return NULL;
	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
	{
		uint32_t action = action_of(json_string_value(json_object_get(rule, "action")),
					    json_object_get(rule, "errnoRet"));
		json_t *args = json_object_get(rule, "args");
		struct scmp_arg_cmp cmp[6];
		unsigned n = 0;

		for (k = 0; args && k < json_array_size(args) && k < 6; k++) {
			json_t *a = json_array_get(args, k);
			cmp[n++] = (struct scmp_arg_cmp){
			    .arg = (unsigned)json_integer_value(json_object_get(a, "index")),
			    .op = op_of(json_string_value(json_object_get(a, "op"))),
			    .datum_a = (scmp_datum_t)json_integer_value(json_object_get(a, "value")),
			    .datum_b = (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo")),
			};
		}
		json_array_foreach(json_object_get(rule, "names"), k, name)
		{
			int nr = seccomp_syscall_resolve_name(json_string_value(name));
			if (nr == __NR_SCMP_ERROR)
				continue; /* not on this architecture: runc skips it too */
			if (seccomp_rule_add_array(ctx, action, nr, n, cmp) < 0) {
				seccomp_release(ctx);
				return NULL;
			}
		}
	}
	return ctx;
}

struct probe {
	const char *what;
	long nr;
	long a[6];
	int want; /* 0: success (>= 0); DENIED: the filter's errno; else that errno */
};

#define DENIED (-1)

static long nr_of(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	assert_int_not_equal(nr, __NR_SCMP_ERROR);
	return nr;
}

/* Run every probe in a child after load(); returns the child's pid, its
 * complaints (empty when all is well) in out. */
static pid_t run_probes(int (*load)(void *), void *arg, int deny_errno, char *out, size_t size)
{
	/* Refused by the filter: DENY_ERRNO. Arguments are harmless (NULL
	 * pointers, invalid fds) so a filter that let a call through would
	 * produce EFAULT/EBADF/EINVAL instead, never a change. */
	const struct probe probes[] = {
	    { "keyctl", nr_of("keyctl"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "add_key", nr_of("add_key"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "request_key", nr_of("request_key"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "bpf", nr_of("bpf"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "perf_event_open", nr_of("perf_event_open"), { 0, 0, -1, -1, 0, 0 }, DENIED },
	    { "userfaultfd", nr_of("userfaultfd"), { 0x7fffffff, 0, 0, 0, 0, 0 }, DENIED },
	    { "io_uring_setup", nr_of("io_uring_setup"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "io_uring_enter", nr_of("io_uring_enter"), { -1, 0, 0, 0, 0, 0 }, DENIED },
	    { "mount", nr_of("mount"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "umount2", nr_of("umount2"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "fsopen", nr_of("fsopen"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "open_tree", nr_of("open_tree"), { -1, 0, 0, 0, 0, 0 }, DENIED },
	    { "move_mount", nr_of("move_mount"), { -1, 0, -1, 0, 0, 0 }, DENIED },
	    { "unshare(0)", nr_of("unshare"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "setns", nr_of("setns"), { -1, 0, 0, 0, 0, 0 }, DENIED },
	    { "ptrace", nr_of("ptrace"), { 0x4206 /* SEIZE */, 0, 0, 0, 0, 0 }, DENIED },
	    { "process_vm_readv", nr_of("process_vm_readv"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "open_by_handle_at", nr_of("open_by_handle_at"), { -1, 0, 0, 0, 0, 0 }, DENIED },
	    { "name_to_handle_at", nr_of("name_to_handle_at"), { -1, 0, 0, 0, 0, 0 }, DENIED },
	    { "init_module", nr_of("init_module"), { 0, 0, 0, 0, 0, 0 }, DENIED },
	    { "clone(CLONE_NEWUSER)", nr_of("clone"), { CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, 0 }, DENIED },
	    { "clone(CLONE_NEWNET)", nr_of("clone"), { CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0, 0 }, DENIED },
	    { "clone3", nr_of("clone3"), { 0, 0, 0, 0, 0, 0 }, ENOSYS },
	    { "socket(AF_PACKET)", nr_of("socket"), { 17, SOCK_RAW, 0, 0, 0, 0 }, DENIED },
	    { "socket(AF_PACKET,DGRAM)", nr_of("socket"), { 17, SOCK_DGRAM, 0, 0, 0, 0 }, DENIED },
	    { "socket(AF_VSOCK)", nr_of("socket"), { 40, SOCK_STREAM, 0, 0, 0, 0 }, DENIED },
	    { "socket(AF_INET,RAW)", nr_of("socket"), { AF_INET, SOCK_RAW, 1, 0, 0, 0 }, DENIED },
	    { "socket(AF_INET,RAW|CLOEXEC)", nr_of("socket"), { AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1, 0, 0, 0 },
	      DENIED },
	    { "socket(AF_INET6,RAW)", nr_of("socket"), { AF_INET6, SOCK_RAW, 58, 0, 0, 0 }, DENIED },
	    { "socket(AF_INET,PACKET)", nr_of("socket"), { AF_INET, SOCK_PACKET, 0, 0, 0, 0 }, DENIED },
	    { "socket(AF_INET|1<<32)", nr_of("socket"), { AF_INET | (1L << 32), SOCK_STREAM, 0, 0, 0, 0 },
	      DENIED },
	    { "personality(0x400000)", nr_of("personality"), { 0x0400000 /* READ_IMPLIES_EXEC */, 0, 0, 0, 0, 0 },
	      DENIED },
	    /* Allowed. */
	    { "getpid", nr_of("getpid"), { 0, 0, 0, 0, 0, 0 }, 0 },
	    { "socket(AF_INET,STREAM|CLOEXEC)", nr_of("socket"), { AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0, 0 },
	      0 },
	    { "socket(AF_INET6,DGRAM)", nr_of("socket"), { AF_INET6, SOCK_DGRAM, 0, 0, 0, 0 }, 0 },
	    { "socket(AF_UNIX,STREAM)", nr_of("socket"), { AF_UNIX, SOCK_STREAM, 0, 0, 0, 0 }, 0 },
	    { "socket(AF_NETLINK,RAW)", nr_of("socket"), { AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0, 0, 0, 0 }, 0 },
	    { "personality(query)", nr_of("personality"), { 0xffffffff, 0, 0, 0, 0, 0 }, 0 },
	    { "close(-1)", nr_of("close"), { -1, 0, 0, 0, 0, 0 }, EBADF },
	};
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char line[256];
		close(pfd[0]);
		if (load(arg) < 0)
			_exit(3);
		for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
			const struct probe *t = &probes[i];
			long r = syscall(t->nr, t->a[0], t->a[1], t->a[2], t->a[3], t->a[4], t->a[5]);
			int e = r < 0 ? errno : 0, want = t->want == DENIED ? deny_errno : t->want;
			if (r >= 0 && t->nr == nr_of("socket"))
				close((int)r);
			if (e != want) {
				int m = snprintf(line, sizeof(line), "%s: errno %d, want %d\n", t->what, e, want);
				(void)!write(pfd[1], line, (size_t)m);
			}
		}
		/* fork (clone without namespace flags) works; glibc falls back from clone3. */
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		if (c < 0 || waitpid(c, NULL, 0) != c)
			(void)!write(pfd[1], "fork failed\n", 12);
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], out, size - 1);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	out[n > 0 ? n : 0] = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n > 0)
		fail_msg("status %d:\n%s", status, out);
	return pid;
}

static int load_ctx(void *ctx)
{
	return seccomp_load(ctx);
}

/* As deployed: the runtime's filter (the profile, unlogged), then the guard's logging copy. */
static int load_log_copy(void *runtime_ctx)
{
	int r = seccomp_load(runtime_ctx);
	return r < 0 ? r : sandbox_seccomp_log_install();
}

/* As runc 1.1 builds it (the test's own conversion of the JSON). */
static void test_kernel_enforces(void **state)
{
	json_t *p = profile();
	scmp_filter_ctx ctx = build_filter(p);
	char out[8192];

	assert_non_null(ctx);
	run_probes(load_ctx, ctx, DENY_ERRNO, out, sizeof(out));
	seccomp_release(ctx);
	json_decref(p);
}

/* The shipped conversion (sandbox__seccomp_compile) gives the same answers. */
static void test_kernel_enforces_compiled(void **state)
{
	json_t *p = profile();
	scmp_filter_ctx ctx = NULL;
	char out[8192];

	assert_int_equal(sandbox__seccomp_compile(p, DENY_ERRNO, false, &ctx), 0);
	run_probes(load_ctx, ctx, DENY_ERRNO, out, sizeof(out));
	seccomp_release(ctx);
	json_decref(p);
}

/* The guard's logging copy: same answers (EPERM), and, where we may read the
 * kernel audit stream (root), each refusal arrives there as a type 1326 record. */
static void test_log_copy(void **state)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 /* AUDIT_NLGRP_READLOG */ };
	char out[8192], want[64];
	bool seen = false;
	pid_t pid;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	json_t *p = profile();
	scmp_filter_ctx ctx = NULL;
	bool clone3_logged = false;

	assert_int_equal(sandbox__seccomp_compile(p, 0, false, &ctx), 0);
	pid = run_probes(load_log_copy, ctx, EPERM, out, sizeof(out));
	seccomp_release(ctx);
	json_decref(p);
	if (fd < 0) {
		print_message("no audit multicast (not root?): logging not checked\n");
		return;
	}
	snprintf(want, sizeof(want), " pid=%d ", (int)pid);
	/* the probes run keyctl first and clone3 (ENOSYS, a designed answer) later */
	for (int i = 0; i < 400; i++) {
		char buf[8192];
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&pf, 1, 2000) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < (ssize_t)sizeof(struct nlmsghdr))
			continue;
		buf[n] = 0;
		if (((struct nlmsghdr *)buf)->nlmsg_type != 1326 || !strstr(buf + NLMSG_HDRLEN, want))
			continue;
		seen |= strstr(buf + NLMSG_HDRLEN, " syscall=250 ") != NULL;          /* keyctl */
		clone3_logged |= strstr(buf + NLMSG_HDRLEN, " syscall=435 ") != NULL; /* clone3 */
	}
	close(fd);
	assert_true(seen);
	assert_false(clone3_logged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embedded_is_repository_file),
	    cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_no_forbidden_allowed),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_kernel_enforces),
	    cmocka_unit_test(test_kernel_enforces_compiled),
	    cmocka_unit_test(test_log_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
