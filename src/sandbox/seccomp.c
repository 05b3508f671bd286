/* sandbox: the default seccomp profile (OCI linux.seccomp).
 *
 * An allowlist modelled on Docker's default profile for a container without
 * capabilities, made stricter: no io_uring (a large kernel attack surface,
 * blocked by most hardened profiles), no ptrace/process_vm_* (no debugging of
 * one's own processes is needed by a notebook server and it is how sandbox
 * escapes escalate), no name_to_handle_at/open_by_handle_at, no
 * fanotify, no clock/time adjustment, no kcmp/pidfd_getfd. Everything needing
 * CAP_SYS_ADMIN is absent: mount, umount2, pivot_root, setns, unshare, bpf,
 * perf_event_open, the new mount API, keyctl/add_key/request_key, userfaultfd,
 * kexec_*, *_module, reboot, swapon/off, acct, syslog, quotactl,
 * lookup_dcookie. clone is allowed only without namespace flags; clone3 gets
 * ENOSYS so glibc falls back to clone, whose flags a filter can inspect. */
#include "sandbox/internal.h"

#include <jansson.h>
#include <errno.h>
#include <linux/sched.h>

static const char *const allowed[] = {
    "accept",
    "accept4",
    "access",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    /* Landlock: the in-sandbox guard restricts itself further before exec. */
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
#if defined(__x86_64__) || defined(__i386__)
    "arch_prctl",
    "modify_ldt",
#endif
#if defined(__aarch64__) || defined(__arm__)
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
#endif
};

/* Personalities a normal process sets (Docker's list): PER_LINUX, PER_LINUX32,
 * UNAME26, UNAME26|PER_LINUX32, and 0xffffffff to query. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

#define CLONE_NS_FLAGS                                                                                                 \
	((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |          \
		    CLONE_NEWCGROUP))

#define AF_VSOCK_NR 40

static json_t *names_array(const char *const *names, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(names[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *arg_rule(const char *name, unsigned index, uint64_t value, uint64_t value_two, const char *op)
{
	const char *names[] = {name};

	return json_pack("{s:o, s:s, s:[{s:i, s:I, s:I, s:s}]}", "names", names_array(names, 1), "action",
			 "SCMP_ACT_ALLOW", "args", "index", (int)index, "value", (json_int_t)value, "valueTwo",
			 (json_int_t)value_two, "op", op);
}

json_t *sandbox__seccomp_profile(void)
{
	json_t *root = NULL, *syscalls = NULL, *archs = NULL;
	const char *clone3[] = {"clone3"};

	syscalls = json_array();
	if (!syscalls)
		goto fail;
	if (json_array_append_new(syscalls, json_pack("{s:o, s:s}", "names",
						      names_array(allowed, sizeof(allowed) / sizeof(allowed[0])),
						      "action", "SCMP_ACT_ALLOW")) < 0)
		goto fail;
	/* socket(): everything but AF_VSOCK (host/hypervisor channel). */
	if (json_array_append_new(syscalls, arg_rule("socket", 0, AF_VSOCK_NR, 0, "SCMP_CMP_NE")) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(personalities) / sizeof(personalities[0]); i++)
		if (json_array_append_new(syscalls, arg_rule("personality", 0, personalities[i], 0, "SCMP_CMP_EQ")) < 0)
			goto fail;
	/* clone(): only when (flags & namespace bits) == 0. */
	if (json_array_append_new(syscalls, arg_rule("clone", 0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")) < 0)
		goto fail;
	if (json_array_append_new(syscalls, json_pack("{s:o, s:s, s:i}", "names", names_array(clone3, 1), "action",
						      "SCMP_ACT_ERRNO", "errnoRet", ENOSYS)) < 0)
		goto fail;

#if defined(__x86_64__)
	/* Native ABI only: i386 int 0x80 (socketcall multiplexing!) and x32 are refused. */
	archs = json_pack("[s]", "SCMP_ARCH_X86_64");
#elif defined(__aarch64__)
	archs = json_pack("[s]", "SCMP_ARCH_AARCH64");
#else
#error "seccomp profile: unsupported architecture"
#endif
	if (!archs)
		goto fail;
	root = json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet", EPERM,
			 "architectures", archs, "syscalls", syscalls);
	return root;
fail:
	json_decref(syscalls);
	return NULL;
}
