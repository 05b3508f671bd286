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
#include "guard/filter.h"
#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif

int guard_deny_memfd(void)
{
	struct sock_filter insns[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    /* Other ABIs: the runtime's filter already refuses them. */
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, GUARD_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~GUARD_X32_BIT),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_create, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_secret, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};

	return guard__install_logged_filter(insns, sizeof(insns) / sizeof(insns[0]));
}
