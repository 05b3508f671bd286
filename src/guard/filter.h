/* guard: what the guard's own stacked seccomp filters (memfd.c, net.c) share:
 * the native audit arch they check first, and how they are installed. */
#pragma once

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GUARD_AUDIT_ARCH AUDIT_ARCH_X86_64
#define GUARD_X32_BIT 0x40000000u /* x32 syscall numbers: masked off, x32 is refused by the runtime's filter */
#elif defined(__aarch64__)
#define GUARD_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define GUARD_X32_BIT 0u
#else
#error "nbwarden-guard: unsupported architecture"
#endif

/* Stack prog on this thread's filters with SECCOMP_FILTER_FLAG_LOG: every
 * refusal is a kernel record (type 1326), the only trace a seccomp refusal
 * leaves (it happens before audit's syscall entry). 0 or -errno. */
static inline int guard__install_logged_filter(struct sock_filter *insns, unsigned short len)
{
	struct sock_fprog prog = {.len = len, .filter = insns};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &prog) < 0)
		return -errno;
	return 0;
}
