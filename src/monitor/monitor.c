/* The root monitor's event loop: signals, the hub channel, child exits and
 * timers, with poll(2) and no threads (it forks). */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "monitor/internal.h"
#include "monitor/kaudit.h"
#include "monitor/oom.h"
#include "monitor/monitor.h"

#define HUB_RESTART_MIN_MS 200
#define HUB_RESTART_MAX_MS 5000
#define SHUTDOWN_TIMEOUT_MS 30000

static _Alignas(8) uint8_t rx_buf[IPC_MAX_MSG];

void monitor_send(struct monitor *m, uint32_t type, const void *payload, size_t len)
{
	int r;

	if (m->hub_fd < 0)
		return; /* the hub learns the state with IPC_HELLO when it is back */
	r = ipc_send(m->hub_fd, type, payload, len, NULL, 0);
	if (r == -EAGAIN) {
		/* The hub does not read its messages: never block the monitor on it.
		 * Restart it; it resynchronises with IPC_HELLO. */
		log_error("The hub is not reading the monitor's messages; restarting it");
		if (m->hub_pid > 0)
			kill(m->hub_pid, SIGKILL);
		close(m->hub_fd);
		m->hub_fd = -1;
	} else if (r < 0 && r != -EPIPE) {
		log_warn_errno(r, "Sending to the hub");
	}
}

void monitor_audit(struct monitor *m, const char *event, const char *user, const char *ip, json_t *fields)
{
	int r = audit_write(m->audit, event, user, ip, fields);
	if (r < 0)
		log_error_errno(r, "Writing audit record '%s' to %s", event, m->cfg->audit.file);
}

/* ---- audit records sent by the hub ---- */

/* Copy bytes as valid UTF-8, replacing invalid sequences with U+FFFD, so that a
 * truncated or binary code fragment still lands in the log. */
static json_t *json_string_lossy(const uint8_t *p, size_t len)
{
	_cleanup_free_ char *out = malloc(len * 3 + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = n > 0 && i + n <= len && c != 0;
		for (size_t k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xC0) == 0x80;
		if (ok && n > 1) {
			/* reject overlong forms and surrogates; jansson checks the rest */
			json_t *t = json_stringn((const char *)p + i, n);
			ok = t != NULL;
			json_decref(t);
		}
		if (ok) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += 1;
		}
	}
	return json_stringn(out, o);
}

static void handle_audit(struct monitor *m, const struct ipc_audit *a, size_t len)
{
	const char *event = ipc_audit_event_name(a->event);
	json_t *f = json_object();

	if (!f)
		return;
	if (a->reason[0])
		json_object_set_new(f, "reason", json_string(a->reason));
	if (a->target[0])
		json_object_set_new(f, "target", json_string(a->target));
	if (a->event == IPC_EV_TOKEN_ISSUE)
		json_object_set_new(f, "expires_at", a->expires_at ? json_integer(a->expires_at) : json_null());
	if (a->event == IPC_EV_KERNEL_EXECUTE) {
		json_object_set_new(f, "server", json_string(a->server));
		json_object_set_new(f, "kernel_id", json_string(a->kernel_id));
		json_object_set_new(f, "msg_id", json_string(a->msg_id));
		json_object_set_new(f, "msg_type", json_string(a->msg_type[0] ? a->msg_type : "execute_request"));
		json_object_set_new(f, "code_len", json_integer((json_int_t)a->code_len));
		json_object_set_new(f, "code_sha256", json_string(a->code_sha256));
		json_object_set_new(f, "code", json_string_lossy((const uint8_t *)(a + 1), a->code_bytes));
		json_object_set_new(f, "code_truncated", json_boolean(a->code_truncated || a->code_bytes < a->code_len));
	}
	(void)len;
	monitor_audit(m, event, a->user, a->ip, f);
}

/* ---- kernel audit records (kaudit.c) ---- */

/* The user whose server runs in a host uid range slot. */
static const char *kaudit_lookup(void *userdata, uint32_t slot)
{
	struct monitor *m = userdata;

	for (size_t i = 0; i < m->n_servers; i++)
		if (m->servers[i]->slot == slot)
			return m->servers[i]->user;
	return NULL;
}

static void kaudit_emit(void *userdata, const char *event, const char *user, json_t *fields)
{
	monitor_audit(userdata, event, user, NULL, json_incref(fields));
}

/* ---- OOM kills and pids-limit hits (oom.c) ---- */

static void oom_emit(void *userdata, const char *event, const char *user, json_t *fields)
{
	monitor_audit(userdata, event, user, NULL, json_incref(fields));
}

/* One polling round over the running servers' cgroups ("nbwarden-" + name). */
static void oom_round(struct monitor *m, struct oom_watch *w)
{
	uint64_t now = nbw_time_mono_ms();

	if (!w || !oom_watch_due(w, now))
		return;
	oom_watch_begin(w);
	for (size_t i = 0; i < m->n_servers; i++) {
		const struct server *s = m->servers[i];
		if ((s->state == SRV_WAITING || s->state == SRV_READY) &&
		    str_has_prefix(s->paths.container_id, "nbwarden-"))
			oom_watch_check(w, s->user, s->paths.container_id + strlen("nbwarden-"), now);
	}
	oom_watch_end(w, now);
}

/* ---- the hub process ---- */

/* Relay the hub's output line by line with control characters replaced, so a
 * compromised hub cannot forge our log lines' structure or send terminal
 * escape sequences to the operator's terminal. */
static void hub_log_emit(const char *p, size_t n)
{
	char line[4096 + 1];
	size_t o = 0;

	for (size_t k = 0; k < n && o < sizeof(line) - 1; k++) {
		unsigned char c = (unsigned char)p[k];
		line[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	line[o++] = '\n';
	(void)!write(STDERR_FILENO, line, o);
}

static void hub_log_flush(struct monitor *m, bool all)
{
	size_t start = 0;

	for (size_t i = 0; i < m->hub_log_len; i++)
		if (m->hub_log[i] == '\n') {
			hub_log_emit(m->hub_log + start, i - start);
			start = i + 1;
		}
	if (all && start < m->hub_log_len) {
		hub_log_emit(m->hub_log + start, m->hub_log_len - start);
		start = m->hub_log_len;
	}
	memmove(m->hub_log, m->hub_log + start, m->hub_log_len - start);
	m->hub_log_len -= start;
}

static void hub_log_read(struct monitor *m)
{
	for (int round = 0; round < 16; round++) {
		ssize_t n = read(m->hub_log_fd, m->hub_log + m->hub_log_len, sizeof(m->hub_log) - m->hub_log_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				hub_log_flush(m, true);
				m->hub_log_len = 0;
				close(m->hub_log_fd);
				m->hub_log_fd = -1;
			}
			return;
		}
		m->hub_log_len += (size_t)n;
		/* A line longer than the buffer is cut into buffer-sized lines. */
		hub_log_flush(m, m->hub_log_len == sizeof(m->hub_log));
	}
}

static int hub_start(struct monitor *m, int listen_fd, int config_fd, const char *config_path)
{
	int sp[2], logp[2];
	_cleanup_close_ int devnull = -1;
	char fd_ipc[16], fd_listen[16], fd_config[16];
	char *argv[] = { "nbwarden-hub", "serve", "--ipc-fd", fd_ipc, "--listen-fd", fd_listen, "--config-fd",
			 fd_config, "--config-name", (char *)config_path, NULL };
	int fds[6][2];
	pid_t pid;
	int r;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if (pipe2(logp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		r = -errno;
		close(logp[0]);
		close(logp[1]);
		return r;
	}
	/* Our end never blocks: a hub that stops reading must not stall us. */
	fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
	fds[0][0] = devnull, fds[0][1] = 0;
	fds[1][0] = logp[1], fds[1][1] = 1;
	fds[2][0] = logp[1], fds[2][1] = 2;
	fds[3][0] = sp[1], fds[3][1] = 3;
	fds[4][0] = listen_fd, fds[4][1] = 4;
	fds[5][0] = config_fd, fds[5][1] = 5;
	nbw_snprintf(fd_ipc, sizeof(fd_ipc), "3");
	nbw_snprintf(fd_listen, sizeof(fd_listen), "4");
	nbw_snprintf(fd_config, sizeof(fd_config), "5");
	/* The hub re-reads the configuration from the start of the sealed copy. */
	lseek(config_fd, 0, SEEK_SET);
	r = monitor_exec_hub(m->cfg, argv, (const int(*)[2])fds, 6, &pid);
	close(sp[1]);
	close(logp[1]);
	if (r < 0 && r != -ECHILD) {
		close(sp[0]);
		close(logp[0]);
		return r;
	}
	if (m->hub_log_fd >= 0)
		close(m->hub_log_fd);
	m->hub_log_fd = logp[0];
	m->hub_log_len = 0;
	m->hub_fd = sp[0];
	m->hub_pid = pid;
	log_info("Hub process started (pid %d, uid %u)", (int)pid, m->cfg->hub.uid);
	return 0;
}

static void hub_lost(struct monitor *m)
{
	if (m->hub_fd >= 0)
		close(m->hub_fd);
	m->hub_fd = -1;
}

static void hub_dispatch(struct monitor *m)
{
	/* Bounded per round so a flooding hub cannot starve signals and timers. */
	for (int round = 0; round < 64 && m->hub_fd >= 0; round++) {
		uint32_t type;
		void *payload;
		size_t len;
		int r = ipc_recv(m->hub_fd, rx_buf, sizeof(rx_buf), &type, &payload, &len);

		if (r == -EAGAIN)
			return;
		if (r < 0) {
			if (r == -EBADMSG)
				log_error("The hub sent an invalid message; restarting it");
			else if (r != -EPIPE)
				log_error_errno(r, "Reading from the hub");
			if (m->hub_pid > 0)
				kill(m->hub_pid, SIGKILL);
			hub_lost(m);
			return;
		}
		switch (type) {
		case IPC_HELLO:
			servers_report_all(m);
			break;
		case IPC_SPAWN:
			if (!m->shutting_down)
				servers_spawn(m, payload);
			break;
		case IPC_STOP: {
			const struct ipc_stop *st = payload;
			servers_stop(m, st->user, st->actor, st->ip, "requested");
			break;
		}
		case IPC_AUDIT:
			handle_audit(m, payload, len);
			break;
		default:
			/* monitor→hub types coming from the hub: protocol violation */
			log_error("The hub sent an unexpected message type %u; restarting it", type);
			if (m->hub_pid > 0)
				kill(m->hub_pid, SIGKILL);
			hub_lost(m);
			return;
		}
	}
}

/* ---- setup helpers ---- */

static int listen_on(const struct config *cfg)
{
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} addr;
	socklen_t alen;
	int fd, one = 1;

	memset(&addr, 0, sizeof(addr));
	if (inet_pton(AF_INET, cfg->hub.bind_host, &addr.v4.sin_addr) == 1) {
		addr.v4.sin_family = AF_INET;
		addr.v4.sin_port = htons(cfg->hub.bind_port);
		alen = sizeof(addr.v4);
	} else if (inet_pton(AF_INET6, cfg->hub.bind_host, &addr.v6.sin6_addr) == 1) {
		addr.v6.sin6_family = AF_INET6;
		addr.v6.sin6_port = htons(cfg->hub.bind_port);
		alen = sizeof(addr.v6);
	} else {
		return -EINVAL;
	}
	fd = socket(((struct sockaddr *)&addr)->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, alen) < 0 || listen(fd, 511) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A sealed in-memory copy of the configuration for the hub: the file may be
 * root-only, and the hub must see exactly what the monitor validated. */
static int config_copy_fd(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int fd, r;

	r = nbw_read_file(path, 1 << 20, &data, &len);
	if (r < 0)
		return r;
	fd = memfd_create("nbwarden-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	r = nbw_write_all(fd, data, len);
	if (r >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* runc removes each container's cgroup; the shared parents are ours to remove. */
static void cgroup_parents_cleanup(void)
{
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	char p[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (nbw_snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/nbwarden", de->d_name) >= 0)
			(void)rmdir(p);
	}
	closedir(d);
	(void)rmdir("/sys/fs/cgroup/nbwarden");
}

static void reap(struct monitor *m, uint64_t *hub_restart_at, uint64_t *hub_backoff, uint64_t hub_started)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (pid == m->hub_pid) {
			uint64_t now = nbw_time_mono_ms();
			m->hub_pid = 0;
			hub_lost(m);
			if (m->shutting_down)
				continue;
			if (WIFSIGNALED(status))
				log_error("Hub process died (signal %d); restarting it", WTERMSIG(status));
			else
				log_error("Hub process exited (status %d); restarting it", WEXITSTATUS(status));
			/* Restart at once after a long run, slower when it keeps dying. */
			if (now - hub_started > 10000)
				*hub_backoff = HUB_RESTART_MIN_MS;
			else if (*hub_backoff < HUB_RESTART_MAX_MS)
				*hub_backoff *= 2;
			*hub_restart_at = now + (now - hub_started > 10000 ? 0 : *hub_backoff);
			continue;
		}
		servers_child_exited(m, pid, status);
	}
}

int monitor_serve(const struct config *cfg, const char *config_path)
{
	struct monitor *m;
	struct sandbox_error serr = { 0 };
	_cleanup_close_ int listen_fd = -1, config_fd = -1, sfd = -1;
	uint64_t hub_restart_at = 0, hub_backoff = HUB_RESTART_MIN_MS, hub_started = 0, shutdown_deadline = 0;
	struct kaudit *ka = NULL;
	struct oom_watch *ow = NULL;
	sigset_t mask;
	int r, exit_code = 0;

	if (geteuid() != 0) {
		log_error("nbwarden serve must start as root (it drops privileges for the hub)");
		return 1;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return 1;
	m->cfg = cfg;
	m->hub_fd = -1;
	m->hub_log_fd = -1;

	r = audit_open(cfg->audit.file, cfg->audit.fsync_interval_ms, &m->audit);
	if (r < 0) {
		log_error_errno(r, "Cannot open the audit log %s (audit.file)", cfg->audit.file);
		free(m);
		return 1;
	}
	r = sandbox_init(cfg, &serr);
	if (r < 0) {
		log_error("Cannot prepare the state directory %s (hub.state_dir): %s", cfg->hub.state_dir,
			  serr.message[0] ? serr.message : strerror(-r));
		audit_close(m->audit);
		free(m);
		return 1;
	}
	servers_cleanup_leftovers(cfg);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		log_error_errno(-errno, "PR_SET_CHILD_SUBREAPER");
		audit_close(m->audit);
		free(m);
		return 1;
	}
	config_fd = config_copy_fd(config_path);
	if (config_fd < 0) {
		log_error_errno(config_fd, "Cannot read %s", config_path);
		audit_close(m->audit);
		free(m);
		return 1;
	}
	listen_fd = listen_on(cfg);
	if (listen_fd < 0) {
		log_error_errno(listen_fd, "Cannot listen on %s (hub.bind_url)", cfg->hub.bind_url);
		audit_close(m->audit);
		free(m);
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error_errno(-errno, "signalfd");
		audit_close(m->audit);
		free(m);
		return 1;
	}

	/* Refusals in the sandboxes (seccomp, Landlock) from the kernel's audit stream. */
	if (kaudit_new(cfg->singleuser.host_uid_base, kaudit_lookup, kaudit_emit, m, &ka) < 0 ||
	    (r = kaudit_open(ka)) < 0)
		log_warn_errno(ka ? r : -ENOMEM, "Cannot read the kernel audit stream (NETLINK_AUDIT, AUDIT_NLGRP_READLOG); "
				"refused syscalls, executions and writes in the sandboxes are still refused but NOT recorded "
				"in the audit log");
	else
		m->ka = ka;

	/* OOM kills and pids-limit hits from the sandboxes' cgroup counters. */
	if (oom_watch_new("/sys/fs/cgroup", oom_emit, m, &ow) < 0)
		log_warn("Cannot watch the sandboxes' OOM and pids counters (out of memory)");

	r = hub_start(m, listen_fd, config_fd, config_path);
	if (r < 0) {
		log_error_errno(r, "Cannot start the hub process");
		kaudit_free(ka);
		oom_watch_free(ow);
		audit_close(m->audit);
		free(m);
		return 1;
	}
	hub_started = nbw_time_mono_ms();
	printf("nbwarden %s is serving at %s\n"
	       "Sign in at %shub/login (add a user with: nbwarden user add NAME --config %s)\n",
	       NBW_VERSION, cfg->hub.bind_url, cfg->hub.bind_url, config_path);
	fflush(stdout);

	for (;;) {
		static struct pollfd pfd[4 + ARRAY_SIZE(m->servers)];
		size_t n_pfd;

		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = m->hub_log_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = m->hub_fd, .events = POLLIN };
		pfd[3] = (struct pollfd){ .fd = kaudit_fd(ka), .events = POLLIN };
		n_pfd = 4 + servers_log_pollfds(m, pfd + 4, ARRAY_SIZE(pfd) - 4);
		uint64_t now = nbw_time_mono_ms();
		int timeout = -1, t;

		if (m->shutting_down) {
			if (m->n_servers == 0 && m->hub_pid == 0)
				break;
			if (now > shutdown_deadline) {
				log_error("Shutdown timed out with %zu servers left", m->n_servers);
				exit_code = 1;
				break;
			}
			timeout = 100;
		}
		t = servers_next_tick_ms(m);
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
		t = audit_next_sync_ms(m->audit);
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
		t = ow ? oom_watch_next_tick_ms(ow, m->n_servers > 0, now) : -1;
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
		t = ka ? kaudit_next_tick_ms(ka, now) : -1;
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
		if (!m->shutting_down && m->hub_pid == 0 && hub_restart_at) {
			t = hub_restart_at > now ? (int)(hub_restart_at - now) : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		/* A dispatch round may have left messages queued: come back at once. */
		r = poll(pfd, n_pfd, timeout);
		if (r < 0 && errno != EINTR) {
			log_error_errno(-errno, "poll");
			exit_code = 1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				if (si.ssi_signo == SIGHUP)
					continue; /* reload is a later issue */
				if (!m->shutting_down) {
					log_info("Signal %u: stopping all servers and the hub", si.ssi_signo);
					m->shutting_down = true;
					shutdown_deadline = nbw_time_mono_ms() + SHUTDOWN_TIMEOUT_MS;
					if (m->hub_pid > 0)
						kill(m->hub_pid, SIGTERM);
					servers_stop_all(m, "shutdown");
				}
			}
			reap(m, &hub_restart_at, &hub_backoff, hub_started);
		}
		if (m->hub_log_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			hub_log_read(m);
		if (m->hub_fd >= 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
			hub_dispatch(m);
		for (size_t i = 4; i < n_pfd; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				servers_log_ready(m, pfd[i].fd);
		if (ka && (pfd[3].revents & POLLIN))
			kaudit_dispatch(ka, nbw_time_mono_ms());
		if (ka)
			kaudit_tick(ka, nbw_time_mono_ms());
		servers_tick(m);
		oom_round(m, ow);
		audit_sync(m->audit, 0);
		if (!m->shutting_down && m->hub_pid == 0 && hub_restart_at && nbw_time_mono_ms() >= hub_restart_at) {
			hub_restart_at = 0;
			if (hub_start(m, listen_fd, config_fd, config_path) < 0)
				hub_restart_at = nbw_time_mono_ms() + HUB_RESTART_MAX_MS;
			hub_started = nbw_time_mono_ms();
		}
	}
	if (m->hub_pid > 0) {
		kill(m->hub_pid, SIGKILL);
		waitpid(m->hub_pid, NULL, 0);
	}
	/* Reap any remaining orphans that were reparented to us. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	cgroup_parents_cleanup();
	kaudit_free(ka);
	oom_watch_free(ow);
	hub_lost(m);
	if (m->hub_log_fd >= 0) {
		hub_log_read(m);
		if (m->hub_log_fd >= 0)
			close(m->hub_log_fd);
	}
	audit_close(m->audit);
	free(m);
	log_info("Stopped");
	return exit_code;
}

void servers_cleanup_leftovers(const struct config *cfg)
{
	struct sandbox_error err = { 0 };
	char runtime[4096];
	char **names = NULL;

	if (sandbox_list_leftovers(cfg, &names) < 0 || !names)
		return;
	if (sandbox_runtime_resolve(cfg, runtime, sizeof(runtime), &err) < 0) {
		sandbox_strv_free(names);
		return;
	}
	for (char **n = names; *n; n++) {
		_cleanup_free_ char **argv = NULL;
		pid_t pid;
		log_warn("Removing leftover container %s", *n);
		if (sandbox_argv_delete(runtime, *n, &argv) < 0)
			continue;
		pid = fork();
		if (pid == 0) {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			for (int sig = 1; sig < NSIG; sig++)
				signal(sig, SIG_DFL);
			int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (devnull >= 0) {
				dup2(devnull, 0);
				dup2(devnull, 1);
			}
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	sandbox_strv_free(names);
}
