/* nbwarden-guard: apply the sandbox's Landlock policy, then exec the server.
 *   nbwarden-guard --policy FILE -- CMD [ARG...]
 * See guard.h for the policy format and the exit statuses. Order: Landlock
 * domain, memfd filter, socket filter (net-deny), the logging copy of the
 * runtime's seccomp filter (src/sandbox/seccomp-log.h), execve. */
#include "guard/guard.h"

#include "common/common.h"
#include "sandbox/seccomp-log.h"

#include <stdio.h>

static void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("nbwarden-guard: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

int main(int argc, char **argv)
{
	_cleanup_(guard_policy_freep) struct guard_policy *p = NULL;
	_cleanup_free_ char *text = NULL;
	char err[GUARD_PATH_MAX + 256];
	size_t len = 0;
	int abi, r;

	if (argc < 5 || strcmp(argv[1], "--policy") != 0 || argv[2][0] != '/' || strcmp(argv[3], "--") != 0 ||
	    argv[4][0] != '/') {
		die_msg("usage: %s --policy /ABSOLUTE/POLICY -- /ABSOLUTE/COMMAND [ARG...]", GUARD_BINARY_NAME);
		return GUARD_EXIT_USAGE;
	}
	r = nbw_read_file(argv[2], GUARD_POLICY_MAX, &text, &len);
	if (r < 0) {
		die_msg("cannot read policy %s: %s; refusing to start", argv[2], strerror(-r));
		return GUARD_EXIT_POLICY;
	}
	r = guard_policy_parse(text, len, &p, err, sizeof(err));
	if (r < 0) {
		die_msg("invalid policy %s: %s; refusing to start", argv[2], err);
		return GUARD_EXIT_POLICY;
	}

	abi = guard_landlock_abi();
	if (!guard_abi_sufficient(p, abi)) {
		if (abi == 0)
			die_msg("the policy requires Landlock ABI >= %u but Landlock is not available in this kernel "
				"(not built, not in the lsm= list, or blocked by seccomp); refusing to start",
				p->min_abi);
		else
			die_msg("the policy requires Landlock ABI >= %u but this kernel has ABI %d; refusing to start",
				p->min_abi, abi);
		return GUARD_EXIT_POLICY;
	}
	if (abi == 0)
		die_msg("warning: Landlock is not available in this kernel: executables and writes are NOT restricted "
			"beyond mounts (policy is best-effort)");
	r = guard_apply(p, abi, err, sizeof(err));
	if (r < 0) {
		die_msg("cannot apply the Landlock policy: %s; refusing to start", err);
		return GUARD_EXIT_LANDLOCK;
	}
	if (p->deny_memfd) {
		r = guard_deny_memfd();
		if (r < 0) {
			die_msg("cannot install the memfd filter: %s; refusing to start", strerror(-r));
			return GUARD_EXIT_LANDLOCK;
		}
	}
	/* Before the logging copy: when both refuse a call (a raw ICMP socket,
	 * which the runtime's profile refuses too), the kernel reports the newest
	 * filter, so the profile's refusal keeps its errno and its log record; a
	 * call only this filter refuses is an unlogged EACCES. */
	if (p->net_deny) {
		r = guard_deny_net(p->net_deny);
		if (r < 0) {
			die_msg("cannot install the socket filter: %s; refusing to start", strerror(-r));
			return GUARD_EXIT_LANDLOCK;
		}
	}
	/* The runtime's seccomp filter again, with SECCOMP_FILTER_FLAG_LOG (runc 1.1
	 * cannot set it): every refused syscall becomes an audit record. */
	r = sandbox_seccomp_log_install();
	if (r < 0) {
		die_msg("cannot install the logging seccomp filter: %s; refusing to start", strerror(-r));
		return GUARD_EXIT_LANDLOCK;
	}
	guard_policy_free(TAKE_PTR(p));
	free(TAKE_PTR(text));

	execv(argv[4], argv + 4);
	die_msg("cannot execute %s: %s", argv[4], strerror(errno));
	/* _exit: no exit-time work under the filters (a sanitizer build's leak
	 * check needs ptrace, which the sandbox's seccomp filter refuses). */
	_exit(GUARD_EXIT_EXEC);
}
