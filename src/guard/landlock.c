/* guard: Landlock, best effort by ABI (Documentation/userspace-api/landlock.rst,
 * "Backward and forward compatibility"): query the ABI, handle every
 * filesystem right it knows, drop rights, scopes and restrict flags it lacks.
 *
 * Debian 12's <linux/landlock.h> stops at ABI 2, so the newer constants and the
 * full ruleset attribute are spelled out here with their kernel values. */
#include "guard/guard.h"

#include "common/common.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#ifndef LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON
#define LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF (1U << 0) /* ABI 7 */
#define LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)
#endif

_Static_assert(GUARD_SCOPE_ABSTRACT_UNIX == LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, "scope bit");
_Static_assert(GUARD_SCOPE_SIGNAL == LANDLOCK_SCOPE_SIGNAL, "scope bit");

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a shorter size. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_ABI1                                                                                                  \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |              \
	 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |           \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |               \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |            \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)
/* Rights Landlock accepts on a rule for a non-directory. */
#define FS_FILE_RIGHTS                                                                                           \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |              \
	 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

static long ll_create_ruleset(const struct ruleset_attr *attr, size_t size, uint32_t flags)
{
	return syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

static long ll_add_rule(int fd, const struct landlock_path_beneath_attr *attr)
{
	return syscall(__NR_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, attr, 0);
}

static long ll_restrict_self(int fd, uint32_t flags)
{
	return syscall(__NR_landlock_restrict_self, fd, flags);
}

int guard_landlock_abi(void)
{
	long abi = ll_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	/* ENOSYS: not built; EOPNOTSUPP: disabled at boot; EPERM: seccomp. */
	return abi < 0 ? 0 : (int)(abi > 1000 ? 1000 : abi);
}

uint64_t guard_handled_fs(int abi)
{
	uint64_t r = 0;

	if (abi >= 1)
		r |= FS_ABI1;
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

uint64_t guard_rule_rights(enum guard_rule_kind kind, int abi)
{
	uint64_t r;

	switch (kind) {
	case GUARD_RULE_LIST:
		r = LANDLOCK_ACCESS_FS_READ_DIR;
		break;
	case GUARD_RULE_READ:
		r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
		break;
	case GUARD_RULE_EXEC:
		r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
		break;
	case GUARD_RULE_WRITE:
		r = guard_handled_fs(abi) &
		    ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
		break;
	case GUARD_RULE_SOCKET:
		r = LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE;
		break;
	case GUARD_RULE_DEVICE:
		r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
		    LANDLOCK_ACCESS_FS_IOCTL_DEV | LANDLOCK_ACCESS_FS_READ_DIR;
		break;
	default:
		return 0;
	}
	return r & guard_handled_fs(abi);
}

static void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notice(const char *fmt, ...)
{
	char buf[GUARD_PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	(void)!write(STDERR_FILENO, "nbwarden-guard: ", 16);
	(void)!write(STDERR_FILENO, buf, (size_t)n);
	(void)!write(STDERR_FILENO, "\n", 1);
}

/* 1: skipped, the path does not exist; 0: added (or nothing to add); -errno. */
static int add_path_rule(int ruleset, const struct guard_rule *rule, int abi, char *err, size_t err_size)
{
	_cleanup_close_ int fd = -1;
	struct landlock_path_beneath_attr pb = {0};
	struct stat st;

	fd = open(rule->path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		return -errno;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	pb.parent_fd = fd;
	pb.allowed_access = guard_rule_rights(rule->kind, abi);
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= FS_FILE_RIGHTS;
	/* On a directory, Landlock grants EXECUTE | READ_FILE on the whole tree
	 * beneath it (a recursive process Allow rule). */
	if (rule->kind == GUARD_RULE_EXEC && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		(void)snprintf(err, err_size, "exec rule %s is neither a regular file nor a directory", rule->path);
		return -EINVAL;
	}
	if (pb.allowed_access == 0)
		return 0;
	if (ll_add_rule(ruleset, &pb) < 0) {
		int r = -errno;
		(void)snprintf(err, err_size, "landlock_add_rule(%s): %s", rule->path, strerror(errno));
		return r;
	}
	return 0;
}

int guard_apply(const struct guard_policy *p, int abi, char *err, size_t err_size)
{
	_cleanup_close_ int ruleset = -1;
	struct ruleset_attr attr = {0};
	size_t attr_size, missing = 0;
	uint32_t flags = 0;
	int r;

	if (!p || !err || err_size == 0)
		return -EINVAL;
	err[0] = 0;
	if (abi <= 0)
		return 0;
	if (abi > GUARD_ABI_KNOWN)
		abi = GUARD_ABI_KNOWN;

	attr.handled_access_fs = guard_handled_fs(abi);
	attr_size = offsetof(struct ruleset_attr, handled_access_net);
	if (abi >= 4)
		attr_size = offsetof(struct ruleset_attr, scoped);
	if (abi >= 6) {
		attr.scoped = p->scopes;
		attr_size = sizeof(attr);
	} else if (p->scopes) {
		notice("Landlock ABI %d < 6: abstract unix socket and signal scoping unavailable", abi);
	}
	if (abi < 3)
		notice("Landlock ABI %d < 3: truncate is not restricted", abi);
	if (abi < 5)
		notice("Landlock ABI %d < 5: device ioctls are not restricted", abi);
	if (p->log) {
		if (abi >= 7)
			flags |= LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON;
		else
			notice("Landlock ABI %d < 7: denials are not recorded by the kernel", abi);
	} else if (abi >= 7) {
		flags |= LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF;
	}

	r = (int)ll_create_ruleset(&attr, attr_size, 0);
	if (r < 0) {
		r = -errno;
		(void)snprintf(err, err_size, "landlock_create_ruleset: %s", strerror(errno));
		return r;
	}
	ruleset = r;
	for (size_t i = 0; i < p->n_rules; i++) {
		r = add_path_rule(ruleset, &p->rules[i], abi, err, err_size);
		if (r < 0) {
			if (!err[0])
				(void)snprintf(err, err_size, "rule for %s: %s", p->rules[i].path, strerror(-r));
			return r;
		}
		/* Thousands of per-file rules may miss many files: name a few. */
		if (r > 0 && missing++ < GUARD_MISSING_NOTICES)
			notice("rule for %s skipped: it does not exist", p->rules[i].path);
	}
	if (missing > GUARD_MISSING_NOTICES)
		notice("%zu more rules skipped: their paths do not exist (%zu in all)", missing - GUARD_MISSING_NOTICES,
		       missing);
	/* Required for an unprivileged landlock_restrict_self(); runc set it already. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		(void)snprintf(err, err_size, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return r;
	}
	if (ll_restrict_self(ruleset, flags) < 0) {
		r = -errno;
		(void)snprintf(err, err_size, "landlock_restrict_self: %s", strerror(errno));
		return r;
	}
	return 0;
}
