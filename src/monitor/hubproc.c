/* Starting the unprivileged hub process. */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

#include "common/common.h"
#include "monitor/monitor.h"

int monitor_hub_binary(char *buf, size_t size)
{
	struct stat st;
	int r;

	r = nbw_sibling_path("nbwarden-hub", buf, size);
	if (r < 0)
		return r;
	if (stat(buf, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	/* The root monitor execs this file: it must not be writable by anyone but root. */
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

static void child_fail(int err_fd, const char *what)
{
	char msg[256];
	int e = errno;
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
	if (n > 0)
		(void)!write(err_fd, msg, (size_t)n);
	_exit(127);
}

int monitor_exec_hub(const struct config *cfg, char **argv, const int (*fd_map)[2], size_t n, pid_t *ret_pid)
{
	char hub[4096];
	int sync[2];
	pid_t pid, parent = getpid();
	int r;

	r = monitor_hub_binary(hub, sizeof(hub));
	if (r < 0)
		return log_error_errno(r, "Cannot use the hub binary next to nbwarden (%s)", hub);
	if (n > 8)
		return -EINVAL;
	/* The child reports a failure before exec as a message on this pipe;
	 * CLOEXEC makes a successful exec close it with nothing written. */
	if (pipe2(sync, O_CLOEXEC) < 0)
		return -errno;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sync[0]);
		close(sync[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t all;
		int moved[8];
		int errfd;
		char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };

		int maxt = 2;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* Nothing the monitor ignores or handles is inherited. */
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		/* Own session, no controlling terminal: a compromised hub cannot
		 * TIOCSTI keystrokes into the operator's terminal. */
		if (setsid() < 0)
			_exit(127);
		close(sync[0]);
		errfd = fcntl(sync[1], F_DUPFD_CLOEXEC, 64);
		if (errfd < 0)
			child_fail(sync[1], "dup");
		/* Move every fd out of the way first so a target number never clobbers a source. */
		for (size_t i = 0; i < n; i++) {
			moved[i] = fcntl(fd_map[i][0], F_DUPFD_CLOEXEC, 32);
			if (moved[i] < 0)
				child_fail(errfd, "dup");
		}
		for (size_t i = 0; i < n; i++) {
			if (dup2(moved[i], fd_map[i][1]) < 0)
				child_fail(errfd, "dup2");
			if (fd_map[i][1] > maxt)
				maxt = fd_map[i][1];
		}
		/* Close what is not ours below the highest target; everything above
		 * it is closed at exec (the error pipe stays open until then). */
		for (int fd = 3; fd <= maxt; fd++) {
			bool keep = false;
			for (size_t i = 0; i < n; i++)
				if (fd == fd_map[i][1])
					keep = true;
			if (!keep)
				close(fd);
		}
		if (syscall(SYS_close_range, (unsigned)maxt + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			child_fail(errfd, "close_range");
		/* Drop privileges for good: no supplementary groups, gid then uid, and
		 * check that root cannot be regained. */
		if (setgroups(0, NULL) < 0)
			child_fail(errfd, "setgroups");
		if (setresgid(cfg->hub.gid, cfg->hub.gid, cfg->hub.gid) < 0)
			child_fail(errfd, "setresgid");
		if (setresuid(cfg->hub.uid, cfg->hub.uid, cfg->hub.uid) < 0)
			child_fail(errfd, "setresuid");
		if (setuid(0) == 0 || geteuid() == 0) {
			errno = EPERM;
			child_fail(errfd, "privileges not dropped");
		}
		/* After the uid change (which clears it), and check the monitor did
		 * not die before it took effect. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			child_fail(errfd, "PR_SET_PDEATHSIG");
		if (getppid() != parent)
			_exit(127);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			child_fail(errfd, "PR_SET_NO_NEW_PRIVS");
		if (chdir("/") < 0)
			child_fail(errfd, "chdir");
		argv[0] = hub;
		execve(hub, argv, envp);
		child_fail(errfd, "exec nbwarden-hub");
	}

	close(sync[1]);
	{
		char msg[256];
		ssize_t got;
		do
			got = read(sync[0], msg, sizeof(msg) - 1);
		while (got < 0 && errno == EINTR);
		close(sync[0]);
		if (got > 0) {
			msg[got] = 0;
			log_error("Starting the hub process failed: %s", msg);
			/* The child has exited with 127; the caller's reaper collects it. */
			*ret_pid = pid;
			return -ECHILD;
		}
	}
	*ret_pid = pid;
	return 0;
}
