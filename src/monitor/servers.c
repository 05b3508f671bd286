/* The per-user server lifecycle, driven by hub requests, child exits and a
 * 10 ms readiness tick. */
#include <fcntl.h>
#include <poll.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/common.h"
#include "monitor/internal.h"
#include "monitor/kaudit.h"

#define PROBE_INTERVAL_MS 10
/* How often the home volumes of running servers are checked for the 80 % warning. */
#define QUOTA_CHECK_MS 2000

/* What the lifecycle needs beyond struct server (internal.h is shared with
 * monitor.c): every server is allocated here as a server_ext. */
struct server_ext {
	struct server s; /* first: (struct server *) <-> (struct server_ext *) */
	pid_t mkfs_pid;  /* mkfs.ext4 of a new home volume, while SRV_STARTING */
	int mkfs_out;    /* read end of its stdout/stderr, or -1 */
	bool fresh;      /* the volume was just made */
	bool warned;     /* storage.quota.warning written for the current crossing */
	/* m->cfg with the chosen profile's cpu/memory/pids/storage (resolved here
	 * from the monitor's own config, never taken from the hub). */
	struct config eff;
	char profile[CONFIG_SLUG_MAX + 1]; /* slug, "" without profiles */
	/* The pod's stdout/stderr: a pipe we drain into the log, up to LOG_CAP
	 * bytes per start (a pod must not fill the host's disk through it). */
	int log_pipe;    /* read end, or -1 */
	int log_fd;      /* the log file, or -1 */
	uint64_t log_bytes;
	bool log_capped;
};

#define LOG_CAP (16u << 20)

static struct server_ext *ext(struct server *s) { return (struct server_ext *)s; }

static uint64_t next_quota_check_ms;
static bool volumes_swept;

static struct server *server_find(struct monitor *m, const char *user)
{
	for (size_t i = 0; i < m->n_servers; i++)
		if (!strcmp(m->servers[i]->user, user))
			return m->servers[i];
	return NULL;
}

static void server_remove(struct monitor *m, struct server *s)
{
	for (size_t i = 0; i < m->n_servers; i++)
		if (m->servers[i] == s) {
			m->servers[i] = m->servers[--m->n_servers];
			break;
		}
	explicit_bzero(s->token, sizeof(s->token));
	if (ext(s)->mkfs_out >= 0)
		close(ext(s)->mkfs_out);
	if (ext(s)->log_pipe >= 0)
		close(ext(s)->log_pipe);
	if (ext(s)->log_fd >= 0)
		close(ext(s)->log_fd);
	free(ext(s));
}

size_t servers_count(const struct monitor *m) { return m->n_servers; }

static void fill_server_msg(const struct server *s, struct ipc_server *out)
{
	memset(out, 0, sizeof(*out));
	nbw_strlcpy(out->user, s->user, sizeof(out->user));
	out->state = s->state == SRV_READY ? IPC_STATE_READY : IPC_STATE_PENDING;
	out->percent = s->percent;
	out->started = s->started;
	nbw_strlcpy(out->token, s->token, sizeof(out->token));
	if (nbw_strlcpy(out->socket_path, s->paths.socket, sizeof(out->socket_path)) < 0)
		out->socket_path[0] = 0;
	nbw_strlcpy(out->profile, ((const struct server_ext *)(const void *)s)->profile, sizeof(out->profile));
}

static void progress(struct monitor *m, struct server *s, uint32_t percent, const char *message)
{
	struct ipc_progress p = { 0 };

	s->percent = percent;
	nbw_strlcpy(s->message, message, sizeof(s->message));
	nbw_strlcpy(p.user, s->user, sizeof(p.user));
	p.percent = percent;
	nbw_strlcpy(p.message, message, sizeof(p.message));
	monitor_send(m, IPC_PROGRESS, &p, sizeof(p));
}

/* Run a child (the OCI runtime, mkfs) with stdout/stderr to out_fd, or to the
 * server's log when out_fd < 0. Never blocks on it. */
static int run_child(struct server *s, char **argv, int out_fd, pid_t *ret_pid)
{
	_cleanup_close_ int logfd = -1, nullfd = -1;
	pid_t pid;

	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	logfd = out_fd >= 0 ? fcntl(out_fd, F_DUPFD_CLOEXEC, 3)
			    : open(s->paths.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (nullfd < 0 || logfd < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		/* Own process group: a Ctrl-C on the terminal must reach the monitor
		 * only, which then stops servers in order. */
		setpgid(0, 0);
		if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3u, ~0U, 0u);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	*ret_pid = pid;
	return 0;
}

static int run_runtime(struct server *s, char **argv, pid_t *ret_pid)
{
	return run_child(s, argv, -1, ret_pid);
}

static void start_delete(struct monitor *m, struct server *s);
static void finish_delete(struct monitor *m, struct server *s);

static void fail(struct monitor *m, struct server *s, const char *message)
{
	s->failed = true;
	nbw_strlcpy(s->fail_message, message, sizeof(s->fail_message));
	log_warn("Spawn of the server for '%s' failed: %s", s->user, message);
	monitor_audit(m, "server.spawn.failure", s->user, NULL, json_pack("{s:s}", "reason", message));
	start_delete(m, s);
}

#define DELETE_TIMEOUT_MS 20000
#define DELETE_ATTEMPTS 3

/* Deleting: kill + remove the container; the rest when the child exits. A
 * `delete` that hangs is killed at its deadline, and a failed one is retried,
 * so a server is only forgotten once its container is gone (or after the last
 * attempt, loudly). */
static void start_delete(struct monitor *m, struct server *s)
{
	_cleanup_free_ char **argv = NULL;
	int r;

	s->state = SRV_DELETING;
	s->runtime_pid = 0;
	s->delete_attempts++;
	s->delete_deadline_ms = nbw_time_mono_ms() + DELETE_TIMEOUT_MS;
	if (!s->runtime[0]) {
		finish_delete(m, s); /* nothing was started */
		return;
	}
	r = sandbox_argv_delete(s->runtime, s->paths.container_id, &argv);
	if (r >= 0)
		r = run_runtime(s, argv, &s->runtime_pid);
	if (r < 0) {
		log_error_errno(r, "Cannot run '%s delete' for '%s'", s->runtime, s->user);
		s->runtime_pid = 0;
		finish_delete(m, s);
	}
}

/* After delete: remove files, release the home volume, tell the hub, audit,
 * forget the server. */
static void finish_delete(struct monitor *m, struct server *s)
{
	struct sandbox_error err = { 0 };
	int r = sandbox_cleanup(&s->paths);
	if (r < 0)
		log_warn_errno(r, "Cleaning up the sandbox of '%s'", s->user);
	if (m->ka) { /* also clears what a failed add may have left */
		r = kaudit_sandbox_remove(m->ka, s->slot);
		if (r < 0)
			log_warn_errno(r, "Removing the kernel audit rules of the sandbox of '%s' (kept for a later try)",
				       s->user);
	}
	/* Always: a volume may be mounted even when the spawn failed later on. */
	r = sandbox_volume_detach(m->cfg, s->user, &err);
	if (r < 0)
		log_error("Releasing the home volume of '%s': %s", s->user, err.message[0] ? err.message : strerror(-r));
	r = sandbox_volume_abort(m->cfg, s->user);
	if (r < 0)
		log_warn_errno(r, "Removing the unfinished home volume of '%s'", s->user);
	if (s->failed) {
		struct ipc_failed f = { 0 };
		nbw_strlcpy(f.user, s->user, sizeof(f.user));
		nbw_strlcpy(f.message, s->fail_message, sizeof(f.message));
		monitor_send(m, IPC_FAILED, &f, sizeof(f));
	} else {
		struct ipc_stopped st = { 0 };
		monitor_audit(m, "server.stop", s->user, s->stop_ip[0] ? s->stop_ip : NULL,
			      json_pack("{s:s,s:s?}", "reason", s->stop_reason[0] ? s->stop_reason : "requested",
					"actor", s->stop_actor[0] ? s->stop_actor : NULL));
		nbw_strlcpy(st.user, s->user, sizeof(st.user));
		nbw_strlcpy(st.reason, s->stop_reason, sizeof(st.reason));
		monitor_send(m, IPC_STOPPED, &st, sizeof(st));
	}
	server_remove(m, s);
}

/* Unmount what a crashed monitor left mounted, once, before the first spawn. */
static void volumes_sweep(struct monitor *m)
{
	int r;

	if (volumes_swept)
		return;
	volumes_swept = true;
	r = sandbox_volume_detach_all(m->cfg);
	if (r > 0)
		log_warn("Released %d home volume(s) left mounted by an earlier run", r);
	else if (r < 0)
		log_warn_errno(r, "Looking for home volumes left mounted by an earlier run");
}

/* The kernel audit rules of the runtime policy's Audit actions and audit
 * postures, for this sandbox's uid range, in before its first process runs
 * (exceptions first) and out when it is deleted. A policy that asks for them
 * on a host whose audit stream we cannot use refuses to start: an Audit rule
 * that records nothing would be a silent lie. */
static int audit_rules_add(struct monitor *m, struct server *s, const struct sandbox_audit_plan *plan, char *msg,
			   size_t size)
{
	_cleanup_free_ struct kaudit_watch *w = NULL;
	struct kaudit_sandbox_rules rules = { 0 };
	char kerr[512] = "";
	size_t n = 0;
	int r;

	if (plan->n_watches == 0 && plan->net == 0)
		return 0;
	if (!m->ka) {
		nbw_snprintf(msg, size, "the runtime policy has Audit rules, but the kernel audit stream cannot be read "
					"on this host (see the warning at start-up)");
		return -EOPNOTSUPP;
	}
	w = calloc(plan->n_watches ? plan->n_watches : 1, sizeof(*w));
	if (!w) {
		nbw_snprintf(msg, size, "out of memory");
		return -ENOMEM;
	}
	/* exceptions (never) before the watches they make holes in */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < plan->n_watches; i++) {
			const struct sandbox_audit_watch *pw = &plan->watches[i];

			if (pw->never != (pass == 0))
				continue;
			if (pw->tree && str_has_prefix(pw->path, "/home/") &&
			    (r = sandbox_home_mkdirs(&ext(s)->eff, s->slot, &s->paths, pw->path)) < 0) {
				nbw_snprintf(msg, size, "the audited directory %s cannot be made in the home: %s", pw->path,
					     strerror(-r));
				return r;
			}
			w[n++] = (struct kaudit_watch){
			    .kind = pw->kind == SANDBOX_WATCH_EXEC    ? KAUDIT_WATCH_EXEC
				    : pw->kind == SANDBOX_WATCH_READ  ? KAUDIT_WATCH_READ
				    : pw->kind == SANDBOX_WATCH_WRITE ? KAUDIT_WATCH_WRITE
								      : KAUDIT_WATCH_ACCESS,
			    .tree = pw->tree,
			    .never = pw->never,
			    .path = pw->host_path,
			};
		}
	rules.watches = w;
	rules.n_watches = n;
	rules.net = (plan->net & CONFIG_NET_TCP ? KAUDIT_NET_TCP : 0) | (plan->net & CONFIG_NET_UDP ? KAUDIT_NET_UDP : 0) |
		    (plan->net & CONFIG_NET_ICMP ? KAUDIT_NET_ICMP : 0);
	r = kaudit_sandbox_add(m->ka, s->slot, &rules, kerr, sizeof(kerr));
	if (r < 0) {
		nbw_snprintf(msg, size, "installing the kernel audit rules of the runtime policy failed: %s",
			     kerr[0] ? kerr : strerror(-r));
		return r;
	}
	return 0;
}

/* The steps after the home volume exists: mount it, write the bundle, run. */
static void spawn_continue(struct monitor *m, struct server *s)
{
	struct sandbox_audit_plan plan = { 0 };
	struct sandbox_error err = { 0 };
	_cleanup_free_ char **argv = NULL;
	char msg[512], claim[64] = "";
	int r;

	sandbox_volume_claim(s->user, claim, sizeof(claim));
	nbw_snprintf(msg, sizeof(msg), "Mounting the home volume %s", claim);
	progress(m, s, 25, msg);
	r = sandbox_volume_attach(&ext(s)->eff, s->user, s->slot, ext(s)->fresh, &err);
	if (r < 0) {
		nbw_snprintf(msg, sizeof(msg), "mounting the home volume failed: %s",
			     err.message[0] ? err.message : strerror(-r));
		s->runtime[0] = 0; /* nothing was started: no delete needed */
		fail(m, s, msg);
		return;
	}
	ext(s)->warned = sandbox_volume_warned_get(m->cfg, s->user);
	{
		/* A changed singleuser.storage.capacity applies to new volumes only. */
		struct sandbox_volume_usage u;
		uint64_t want = 0;
		if (sandbox_volume_usage(m->cfg, s->user, &u) >= 0 && sandbox_volume_capacity(&ext(s)->eff, &want) >= 0 &&
		    u.capacity_bytes != want)
			log_info("Home volume %s keeps its size of %llu MiB (the profile's capacity is %llu MiB; "
				 "existing volumes are not resized)",
				 claim, (unsigned long long)(u.capacity_bytes >> 20), (unsigned long long)(want >> 20));
	}

	progress(m, s, 30, "Preparing the sandbox");
	r = sandbox_prepare(&ext(s)->eff, s->user, s->slot, s->token, &s->paths, &plan, &err);
	if (r < 0) {
		nbw_snprintf(msg, sizeof(msg), "preparing the sandbox failed: %s",
			     err.message[0] ? err.message : strerror(-r));
		s->runtime[0] = 0; /* nothing was started: no delete needed */
		fail(m, s, msg);
		return;
	}
	r = audit_rules_add(m, s, &plan, msg, sizeof(msg));
	sandbox_audit_plan_free(&plan);
	if (r < 0) {
		s->runtime[0] = 0;
		fail(m, s, msg);
		return;
	}
	progress(m, s, 40, "Starting the sandbox");
	r = sandbox_argv_run(s->runtime, &s->paths, &argv);
	if (r >= 0) {
		/* runc --detach hands its stdio to the pod: give it a pipe we drain
		 * with a bound, not the log file itself. */
		struct server_ext *x = ext(s);
		int lp[2];
		if (pipe2(lp, O_CLOEXEC) < 0) {
			r = -errno;
		} else {
			x->log_fd = open(s->paths.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
			if (x->log_fd < 0) {
				r = -errno;
				close(lp[0]);
			} else {
				fcntl(lp[0], F_SETFL, fcntl(lp[0], F_GETFL) | O_NONBLOCK);
				x->log_pipe = lp[0];
				x->log_bytes = 0;
				x->log_capped = false;
				r = run_child(s, argv, lp[1], &s->runtime_pid);
			}
			close(lp[1]);
		}
	}
	if (r < 0) {
		nbw_snprintf(msg, sizeof(msg), "cannot run the OCI runtime %s: %s", s->runtime, strerror(-r));
		fail(m, s, msg);
	}
}

/* The home volume: 0 = go on now, 1 = mkfs child started (spawn_continue
 * runs when it exits), -1 = failed (already reported). */
static int spawn_volume(struct monitor *m, struct server *s)
{
	struct sandbox_error err = { 0 };
	_cleanup_free_ char **argv = NULL;
	char msg[512];
	int r;

	r = sandbox_volume_prepare(&ext(s)->eff, s->user, s->slot, &err);
	if (r == 0)
		return 0;
	if (r > 0) {
		int p[2] = { -1, -1 };
		r = sandbox_volume_argv_mkfs(&ext(s)->eff, s->user, s->slot, &argv, &err);
		/* mkfs's messages through a pipe, not the log: on a full disk the log
		 * cannot take them. Non-blocking: a chatty mkfs loses output, never hangs;
		 * it is read when mkfs has exited. */
		if (r >= 0 && pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			r = -errno;
		if (r >= 0) {
			r = run_child(s, argv, p[1], &ext(s)->mkfs_pid);
			close(p[1]);
			if (r < 0)
				close(p[0]);
			else
				ext(s)->mkfs_out = p[0];
		}
		if (r >= 0) {
			ext(s)->fresh = true;
			return 1;
		}
		ext(s)->mkfs_pid = 0;
	}
	nbw_snprintf(msg, sizeof(msg), "creating the home volume failed: %s",
		     err.message[0] ? err.message : strerror(-r));
	s->runtime[0] = 0;
	fail(m, s, msg);
	return -1;
}

int servers_spawn(struct monitor *m, const struct ipc_spawn *req)
{
	struct sandbox_error err = { 0 };
	struct server_ext *x;
	struct server *s;
	char msg[128], claim[64] = "";
	int r;

	s = server_find(m, req->user);
	if (s) {
		struct ipc_server info;
		if (s->state == SRV_READY) {
			fill_server_msg(s, &info);
			monitor_send(m, IPC_READY, &info, sizeof(info));
		} else if (s->state != SRV_DELETING) {
			progress(m, s, s->percent, s->message);
		}
		/* A spawn while deleting: the hub retries after IPC_STOPPED. */
		return 0;
	}
	volumes_sweep(m);

	monitor_audit(m, "server.spawn.request", req->user, req->ip[0] ? req->ip : NULL,
		      json_pack("{s:s,s:s}", "actor", req->actor, "profile", req->profile));

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	s = &x->s;
	x->mkfs_out = -1;
	x->log_pipe = -1;
	x->log_fd = -1;
	nbw_strlcpy(s->user, req->user, sizeof(s->user));
	s->state = SRV_STARTING;
	s->started = nbw_time_now();
	s->started_ms = nbw_time_mono_ms();
	s->deadline_ms = s->started_ms + (uint64_t)m->cfg->singleuser.start_timeout * 1000u;
	if (m->n_servers >= m->cfg->singleuser.max_servers || m->n_servers >= ARRAY_SIZE(m->servers)) {
		struct ipc_failed f = { 0 };
		const char *fmsg = "too many servers running (singleuser.maxServers)";
		monitor_audit(m, "server.spawn.failure", s->user, NULL, json_pack("{s:s}", "reason", fmsg));
		nbw_strlcpy(f.user, s->user, sizeof(f.user));
		nbw_strlcpy(f.message, fmsg, sizeof(f.message));
		monitor_send(m, IPC_FAILED, &f, sizeof(f));
		free(x);
		return 0;
	}
	m->servers[m->n_servers++] = s;
	progress(m, s, 5, "Spawn requested");

	r = sandbox_paths_get(m->cfg, s->user, &s->paths);
	if (r < 0) {
		fail(m, s, "invalid server paths");
		return 0;
	}
	{
		const struct config_profile *prof = NULL;
		char choices[512], fmsg[700];

		if (config_profile_resolve(m->cfg, req->profile, &prof) < 0) {
			config_profile_choices(m->cfg, choices, sizeof(choices));
			nbw_snprintf(fmsg, sizeof(fmsg), "unknown profile \"%s\" (choices: %s)", req->profile,
				     choices[0] ? choices : "none configured");
			s->runtime[0] = 0;
			fail(m, s, fmsg);
			return 0;
		}
		config_effective(m->cfg, prof, &x->eff);
		nbw_strlcpy(x->profile, prof ? prof->slug : "", sizeof(x->profile));
		if (prof)
			log_info("Server of '%s': profile %s (cpu %g, memory %llu MiB, pids %llu)", s->user, prof->slug,
				 x->eff.singleuser.cpu_limit,
				 (unsigned long long)(x->eff.singleuser.memory_limit >> 20),
				 (unsigned long long)x->eff.singleuser.pids_limit);
	}
	r = sandbox_runtime_resolve(m->cfg, s->runtime, sizeof(s->runtime), &err);
	if (r < 0) {
		s->runtime[0] = 0;
		fail(m, s, err.message[0] ? err.message : "OCI runtime not found (singleuser.runtime)");
		return 0;
	}
	r = sandbox_slot_get(m->cfg, s->user, &s->slot);
	if (r < 0) {
		s->runtime[0] = 0;
		fail(m, s, r == -ENOSPC ? "no free host uid range (singleuser.hostUidBase)"
					: "cannot allocate a host uid range");
		return 0;
	}
	r = nbw_random_token(s->token, sizeof(s->token), 32);
	if (r < 0) {
		s->runtime[0] = 0;
		fail(m, s, "cannot generate the server token");
		return 0;
	}
	sandbox_volume_claim(s->user, claim, sizeof(claim));
	nbw_snprintf(msg, sizeof(msg), "Preparing the home volume %s", claim);
	progress(m, s, 15, msg);
	if (spawn_volume(m, s) == 0)
		spawn_continue(m, s);
	return 0;
}

int servers_stop(struct monitor *m, const char *user, const char *actor, const char *ip, const char *reason)
{
	struct server *s = server_find(m, user);

	if (!s) {
		struct ipc_stopped st = { 0 };
		nbw_strlcpy(st.user, user, sizeof(st.user));
		nbw_strlcpy(st.reason, "not running", sizeof(st.reason));
		monitor_send(m, IPC_STOPPED, &st, sizeof(st));
		return 0;
	}
	if (!s->stop_actor[0] && actor)
		nbw_strlcpy(s->stop_actor, actor, sizeof(s->stop_actor));
	if (!s->stop_ip[0] && ip)
		nbw_strlcpy(s->stop_ip, ip, sizeof(s->stop_ip));
	if (!s->stop_reason[0] && reason)
		nbw_strlcpy(s->stop_reason, reason, sizeof(s->stop_reason));
	switch (s->state) {
	case SRV_STARTING:
		s->stop_requested = true; /* acted on when `run` returns */
		break;
	case SRV_WAITING:
	case SRV_READY:
		start_delete(m, s);
		break;
	case SRV_DELETING:
		break;
	}
	return 0;
}

void servers_stop_all(struct monitor *m, const char *reason)
{
	/* Copy: stopping may remove entries. */
	char users[ARRAY_SIZE(m->servers)][NBW_USERNAME_MAX + 1];
	size_t n = m->n_servers;

	for (size_t i = 0; i < n; i++)
		nbw_strlcpy(users[i], m->servers[i]->user, sizeof(users[i]));
	for (size_t i = 0; i < n; i++)
		servers_stop(m, users[i], NULL, NULL, reason);
}

static void describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		nbw_snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		nbw_snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		nbw_snprintf(buf, size, "status %d", status);
}

/* The last non-empty line mkfs printed, as printable ASCII; closes the pipe. */
static void mkfs_output_tail(struct server_ext *x, char *buf, size_t size)
{
	char out[4096];
	size_t len = 0, start, end, o = 0;
	ssize_t n;

	buf[0] = 0;
	if (x->mkfs_out < 0)
		return;
	/* Keep the newest 4 KiB. */
	while ((n = read(x->mkfs_out, out + len, sizeof(out) - len)) > 0 || (n < 0 && errno == EINTR)) {
		if (n <= 0)
			continue;
		len += (size_t)n;
		if (len == sizeof(out)) {
			memmove(out, out + sizeof(out) / 2, sizeof(out) / 2);
			len = sizeof(out) / 2;
		}
	}
	close(x->mkfs_out);
	x->mkfs_out = -1;
	end = len;
	while (end > 0 && (out[end - 1] == '\n' || out[end - 1] == '\r' || out[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && out[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && o + 1 < size; i++) {
		unsigned char c = (unsigned char)out[i];
		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[o] = 0;
}

bool servers_child_exited(struct monitor *m, pid_t pid, int status)
{
	if (pid <= 0)
		return false;
	for (size_t i = 0; i < m->n_servers; i++) {
		struct server *s = m->servers[i];
		char how[64], tail[300], msg[512];

		if (ext(s)->mkfs_pid == pid) {
			struct sandbox_error err = { 0 };
			ext(s)->mkfs_pid = 0;
			mkfs_output_tail(ext(s), tail, sizeof(tail));
			if (s->state != SRV_STARTING)
				return true; /* already failed (deadline) and being deleted */
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
				describe_exit(status, how, sizeof(how));
				nbw_snprintf(msg, sizeof(msg), "creating the home volume failed: mkfs.ext4 %s%s%s", how,
					     tail[0] ? ": " : "", tail);
				s->runtime[0] = 0;
				fail(m, s, msg);
				return true;
			}
			if (sandbox_volume_commit(&ext(s)->eff, s->user, &err) < 0) {
				nbw_snprintf(msg, sizeof(msg), "creating the home volume failed: %s", err.message);
				s->runtime[0] = 0;
				fail(m, s, msg);
				return true;
			}
			log_info("Created the home volume of '%s' (%llu MiB)", s->user,
				 (unsigned long long)(ext(s)->eff.singleuser.storage_capacity >> 20));
			if (s->stop_requested) {
				s->runtime[0] = 0;
				start_delete(m, s);
				return true;
			}
			spawn_continue(m, s);
			return true;
		}
		if (s->state == SRV_DELETING && s->runtime_pid == pid) {
			s->runtime_pid = 0;
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
				describe_exit(status, how, sizeof(how));
				if (s->delete_attempts < DELETE_ATTEMPTS) {
					log_warn("'%s delete' for '%s' failed (%s); retrying", s->runtime, s->user, how);
					start_delete(m, s);
					return true;
				}
				log_error("'%s delete' for '%s' failed %u times (%s): container %s may still exist",
					  s->runtime, s->user, s->delete_attempts, how, s->paths.container_id);
			}
			finish_delete(m, s);
			return true;
		}
		if (s->init_pid == pid) {
			s->init_pid = 0;
			describe_exit(status, how, sizeof(how));
			if (s->state == SRV_WAITING) {
				if (ext(s)->log_pipe >= 0) /* what the pod wrote last is still in the pipe */
					servers_log_ready(m, ext(s)->log_pipe);
				sandbox_log_tail(&s->paths, tail, sizeof(tail));
				nbw_snprintf(msg, sizeof(msg), "the Jupyter server exited (%s) before it was ready%s%s", how,
					     tail[0] ? ": " : "", tail);
				fail(m, s, msg);
			} else if (s->state == SRV_READY) {
				nbw_snprintf(s->stop_reason, sizeof(s->stop_reason), "server exited (%s)", how);
				start_delete(m, s);
			}
			return true;
		}
		if (s->state == SRV_STARTING && s->runtime_pid == pid) {
			s->runtime_pid = 0;
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
				describe_exit(status, how, sizeof(how));
				if (ext(s)->log_pipe >= 0)
					servers_log_ready(m, ext(s)->log_pipe);
				sandbox_log_tail(&s->paths, tail, sizeof(tail));
				nbw_snprintf(msg, sizeof(msg), "the OCI runtime failed (%s)%s%s", how, tail[0] ? ": " : "",
					     tail);
				fail(m, s, msg);
				return true;
			}
			if (sandbox_read_pid(&s->paths, &s->init_pid) < 0) {
				fail(m, s, "the OCI runtime did not report the container's pid");
				return true;
			}
			if (s->stop_requested) {
				start_delete(m, s);
				return true;
			}
			s->state = SRV_WAITING;
			progress(m, s, 60, "Waiting for the Jupyter server to accept connections");
			servers_tick(m);
			return true;
		}
	}
	return false;
}

/* storage.quota.warning once per crossing of SANDBOX_VOLUME_WARN_PERCENT (re-armed
 * below SANDBOX_VOLUME_REARM_PERCENT; the state survives restarts). */
static void quota_check(struct monitor *m, struct server *s)
{
	struct sandbox_volume_usage u;
	bool was = ext(s)->warned;
	int r;

	r = sandbox_volume_usage(m->cfg, s->user, &u);
	if (r < 0) {
		log_debug("Usage of the home volume of '%s': %s", s->user, strerror(-r));
		return;
	}
	if (sandbox_volume_warn_step(&ext(s)->warned, u.percent)) {
		char claim[64] = "";
		sandbox_volume_claim(s->user, claim, sizeof(claim));
		log_warn("Home volume %s is %u%% full", claim, u.percent);
		monitor_audit(m, "storage.quota.warning", s->user, NULL,
			      json_pack("{s:s,s:I,s:I,s:I,s:i}", "claim", claim, "used_bytes", (json_int_t)u.used_bytes,
					"capacity_bytes", (json_int_t)u.capacity_bytes, "usable_bytes",
					(json_int_t)u.usable_bytes, "percent", (int)u.percent));
	}
	if (was != ext(s)->warned) {
		r = sandbox_volume_warned_set(m->cfg, s->user, ext(s)->warned);
		if (r < 0)
			log_warn_errno(r, "Recording the quota warning state of '%s'", s->user);
	}
}

void servers_tick(struct monitor *m)
{
	uint64_t now = nbw_time_mono_ms();

	/* At the first loop iteration, before any server of this run exists. */
	if (!volumes_swept && m->n_servers == 0)
		volumes_sweep(m);

	if (now >= next_quota_check_ms) {
		next_quota_check_ms = now + QUOTA_CHECK_MS;
		for (size_t i = 0; i < m->n_servers; i++)
			if (m->servers[i]->state == SRV_READY || m->servers[i]->state == SRV_WAITING)
				quota_check(m, m->servers[i]);
	}

	for (size_t i = 0; i < m->n_servers; i++) {
		struct server *s = m->servers[i];
		int r;

		if (s->state == SRV_DELETING && s->runtime_pid > 0 && now > s->delete_deadline_ms) {
			log_warn("'%s delete' for '%s' hangs; killing it", s->runtime, s->user);
			kill(s->runtime_pid, SIGKILL); /* its exit retries or finishes */
			s->delete_deadline_ms = UINT64_MAX;
			continue;
		}
		if (s->state != SRV_WAITING && s->state != SRV_STARTING)
			continue;
		if (now > s->deadline_ms) {
			char msg[128];
			nbw_snprintf(msg, sizeof(msg), "the server did not become ready within %u s (singleuser.startTimeout)",
				     m->cfg->singleuser.start_timeout);
			if (s->state == SRV_STARTING && s->runtime_pid > 0)
				kill(s->runtime_pid, SIGKILL);
			if (s->state == SRV_STARTING && ext(s)->mkfs_pid > 0) {
				kill(ext(s)->mkfs_pid, SIGKILL); /* its exit is ignored from now on */
				s->runtime[0] = 0;
			}
			fail(m, s, msg);
			return; /* the table may have changed */
		}
		if (s->state != SRV_WAITING)
			continue;
		r = sandbox_probe_ready(&s->paths);
		if (r > 0) {
			struct ipc_server info;
			uint64_t ms = nbw_time_mono_ms() - s->started_ms;
			s->state = SRV_READY;
			s->percent = 100;
			nbw_strlcpy(s->message, "Server ready", sizeof(s->message));
			log_info("Server for '%s' ready after %llu ms", s->user, (unsigned long long)ms);
			char url[64];
			nbw_snprintf(url, sizeof(url), "/user/%s/", s->user);
			monitor_audit(m, "server.ready", s->user, NULL,
				      json_pack("{s:I,s:s}", "startup_ms", (json_int_t)ms, "url", url));
			fill_server_msg(s, &info);
			monitor_send(m, IPC_READY, &info, sizeof(info));
		}
	}
}

int servers_next_tick_ms(const struct monitor *m)
{
	bool running = false;
	uint64_t now;

	if (!volumes_swept)
		return 0;
	for (size_t i = 0; i < m->n_servers; i++) {
		if (m->servers[i]->state == SRV_WAITING || m->servers[i]->state == SRV_STARTING)
			return PROBE_INTERVAL_MS;
		if (m->servers[i]->state == SRV_DELETING && m->servers[i]->runtime_pid > 0)
			return 250; /* the delete deadline */
		running |= m->servers[i]->state == SRV_READY;
	}
	if (!running)
		return -1;
	/* The periodic home volume check. */
	now = nbw_time_mono_ms();
	return next_quota_check_ms > now ? (int)(next_quota_check_ms - now) : 0;
}

void servers_report_all(struct monitor *m)
{
	for (size_t i = 0; i < m->n_servers; i++) {
		struct server *s = m->servers[i];
		struct ipc_server info;
		if (s->state == SRV_DELETING)
			continue;
		fill_server_msg(s, &info);
		monitor_send(m, IPC_SERVER_INFO, &info, sizeof(info));
	}
	monitor_send(m, IPC_LIST_END, NULL, 0);
}

/* ---- the pods' output ---- */

size_t servers_log_pollfds(struct monitor *m, struct pollfd *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_servers && n < max; i++) {
		struct server_ext *x = ext(m->servers[i]);
		if (x->log_pipe < 0)
			continue;
		out[n].fd = x->log_pipe;
		out[n].events = POLLIN;
		out[n].revents = 0;
		n++;
	}
	return n;
}

void servers_log_ready(struct monitor *m, int fd)
{
	static char buf[65536];

	for (size_t i = 0; i < m->n_servers; i++) {
		struct server_ext *x = ext(m->servers[i]);
		if (x->log_pipe != fd)
			continue;
		/* Bounded rounds: a chatty pod cannot starve the loop. */
		for (int round = 0; round < 8; round++) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				return;
			if (k <= 0) { /* every writer gone: the pod and runc ended */
				close(x->log_pipe);
				x->log_pipe = -1;
				return;
			}
			if (x->log_capped || x->log_fd < 0)
				continue; /* drained and dropped */
			size_t room = LOG_CAP - x->log_bytes;
			size_t w = (size_t)k < room ? (size_t)k : room;
			if (nbw_write_all(x->log_fd, buf, w) < 0) {
				x->log_capped = true; /* disk full: stop writing, keep draining */
				continue;
			}
			x->log_bytes += w;
			if (x->log_bytes >= LOG_CAP) {
				static const char mark[] = "\n[nbwarden: log limit reached; further output of this start is dropped]\n";
				(void)nbw_write_all(x->log_fd, mark, sizeof(mark) - 1);
				log_warn("Server log of '%s' reached %u MiB; dropping further output", x->s.user,
					 LOG_CAP >> 20);
				x->log_capped = true;
			}
		}
		return;
	}
}
