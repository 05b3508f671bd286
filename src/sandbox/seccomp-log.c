/* sandbox: install the logging copy of the default seccomp filter (see seccomp-log.h). */
#include "sandbox/seccomp-log.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int sandbox_seccomp_log_install(void)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(sandbox_seccomp_log_bpf_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(void *)sandbox_seccomp_log_bpf,
	};

	if (sandbox_seccomp_log_bpf_len == 0 || sandbox_seccomp_log_bpf_len % sizeof(struct sock_filter) ||
	    sandbox_seccomp_log_bpf_len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -EINVAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &prog) < 0)
		return -errno;
	return 0;
}
