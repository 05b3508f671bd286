/* guard: refuse memfd_create/memfd_secret with a stacked, logged seccomp filter.
 *
 * Why here and not only in Landlock: memfds live on the kernel's internal
 * shmem mount, which Landlock does not mediate, and which is not noexec, so
 * fexecve() of a memfd, or "ld.so /proc/self/fd/N", or dlopen() of it, would run
 * code the user wrote. Sealing (MFD_NOEXEC_SEAL) stops execve but not the
 * PROT_EXEC mmap of dlopen, so the call itself is refused. The kernel's
 * vm.memfd_noexec would do the former transparently, but it is per pid
 * namespace, needs CAP_SYS_ADMIN there, and runc does not allow it as a sysctl. */
#include "guard/guard.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define X32_BIT 0u
#else
#error "nbwarden-guard: unsupported architecture"
#endif
#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif

int guard_deny_memfd(void)
{
	struct sock_filter insns[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    /* Other ABIs: the runtime's filter already refuses them. */
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_BIT),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_create, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_secret, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &prog) < 0)
		return -errno;
	return 0;
}
