/* sandbox integration: a real runc container running Debian's Jupyter server.
 *
 * Needs root, runc and python3-jupyter-server; exits 77 (skipped) otherwise.
 * Does what the monitor does: init, slot, prepare, `runc run --detach` with
 * stdout/stderr to the log, pid file, readiness probe every 10 ms; then checks
 * the pod from the outside (uids, capabilities, no_new_privs, seccomp, the
 * socket reachable only by the hub uid, token required, terminals off), from
 * the inside (runc exec: mounts, /etc, writes, namespaces, network) and that
 * `runc delete --force` leaves no process, cgroup or mount behind. */
#include "common/common.h"
#include "config/config.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#define USER "sbxtest"
#define HUB_UID 60999
#define HUB_GID 60999
#define OTHER_UID 60998

static int failures;
static char g_runtime[4096];
static char g_tmp[64];
/* A private runc --root: a monitor started meanwhile on this machine (e2e tests)
 * deletes every nbwarden-* container it finds in SANDBOX_RUNC_ROOT, as it should. */
static char g_runc_root[128];

/* The argv builders' --root, swapped for the private one (argv is one allocation,
 * so pointing an element elsewhere is fine). */
static bool private_root(char **argv)
{
	if (!argv || strcmp(argv[1], "--root") || strcmp(argv[2], SANDBOX_RUNC_ROOT))
		return false;
	argv[2] = g_runc_root;
	return true;
}

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			printf("ok   - ");                                                                             \
		} else {                                                                                               \
			printf("FAIL - ");                                                                             \
			failures++;                                                                                    \
		}                                                                                                      \
		printf(__VA_ARGS__);                                                                                   \
		printf("\n");                                                                                          \
		fflush(stdout);                                                                                        \
	} while (0)

static char *default_cmd[] = {"/usr/bin/python3", "-m", "jupyter_server"};

static void config_defaults(struct config *c, const char *state_dir)
{
	memset(c, 0, sizeof(*c));
	c->hub.state_dir = (char *)state_dir;
	c->hub.uid = HUB_UID;
	c->hub.gid = HUB_GID;
	c->singleuser.cmd = default_cmd;
	c->singleuser.n_cmd = 3;
	c->singleuser.uid = 1000;
	c->singleuser.gid = 100;
	c->singleuser.runtime = "runc";
	c->singleuser.cpu_limit = 1.0;
	c->singleuser.memory_limit = 1ull << 30;
	c->singleuser.pids_limit = 512;
	c->singleuser.start_timeout = 60;
	/* Far from the default base so that a real nbwarden on this machine never shares ids. */
	c->singleuser.host_uid_base = 2000000000u;
	c->singleuser.max_servers = 256;
}

static const char *const child_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

/* Run argv with stdin /dev/null, stdout+stderr to out_fd; returns exit status. */
static int run_cmd(char **argv, int out_fd)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
			_exit(127);
		execve(argv[0], argv, (char **)child_env);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* runc exec in the container; output captured into buf. */
static int pod_exec(const struct sandbox_paths *p, const char *script, char *buf, size_t size)
{
	char *argv[] = {g_runtime,	    "--root", g_runc_root,    "exec", (char *)p->container_id,
			"/usr/bin/python3", "-c",     (char *)script, NULL};
	char path[128];
	int fd, r;
	ssize_t n;

	nbw_snprintf(path, sizeof(path), "%s/exec.out", g_tmp);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = run_cmd(argv, fd);
	n = pread(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return r;
}

/* As uid:gid, connect to the server's socket and send one request; returns the
 * HTTP status, -errno of the connect, or -EPROTO. */
static char g_body[262144];

static int http_as(uid_t uid, gid_t gid, const char *sock, const char *method, const char *path, const char *token)
{
	int pfd[2];
	pid_t pid;
	int result = -EPROTO, st;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char req[2048];
		static char resp[262144];
		int fd, code = -EPROTO;
		size_t got = 0;

		close(pfd[0]);
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		nbw_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			code = -errno;
			goto done;
		}
		int n = snprintf(req, sizeof(req),
				 "%s %s HTTP/1.1\r\nHost: hub.example.org\r\n%s%s%sContent-Length: 0\r\n"
				 "Connection: close\r\n\r\n",
				 method, path, token ? "Authorization: token " : "", token ? token : "",
				 token ? "\r\n" : "");
		if (nbw_write_all(fd, req, (size_t)n) < 0)
			goto done;
		for (;;) {
			ssize_t k = read(fd, resp + got, sizeof(resp) - 1 - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			if (got >= sizeof(resp) - 1)
				break;
		}
		resp[got] = 0;
		if (str_has_prefix(resp, "HTTP/1.1 ") && got >= 12)
			code = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
	done:
		(void)!write(pfd[1], &code, sizeof(code));
		{
			char *body = strstr(resp, "\r\n\r\n");
			if (code > 0 && body)
				(void)!write(pfd[1], body + 4, strlen(body + 4));
		}
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &result, sizeof(result)) != sizeof(result))
		result = -EPROTO;
	{
		size_t got = 0;
		ssize_t k;
		while (got < sizeof(g_body) - 1 && (k = read(pfd[0], g_body + got, sizeof(g_body) - 1 - got)) > 0)
			got += (size_t)k;
		g_body[got] = 0;
	}
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return result;
}

static int status_field(pid_t pid, const char *key, char *buf, size_t size)
{
	char path[64], line[512];
	FILE *f;
	size_t kl = strlen(key);

	nbw_snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			nbw_strlcpy(buf, v, size);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -ENOENT;
}

/* The per-container cgroup leaf: "<instance>-<user>" (see sandbox.h). */
static const char *cg_leaf(const struct sandbox_paths *sp)
{
	return sp->container_id + strlen(SANDBOX_ID_PREFIX);
}

static bool cgroup_leftover(const char *user)
{
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while ((de = readdir(d))) {
		char p[512];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		nbw_snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/nbwarden/%s", de->d_name, user);
		if (stat(p, &st) == 0) {
			printf("#   leftover cgroup %s\n", p);
			found = true;
		}
	}
	closedir(d);
	return found;
}

static bool mountinfo_mentions(const char *needle)
{
	char *text = NULL;
	bool found;

	if (nbw_read_file("/proc/self/mountinfo", 1 << 22, &text, NULL) < 0)
		return false;
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

static uint64_t now_ms(void)
{
	return nbw_time_mono_ms();
}

int main(void)
{
	struct sandbox_error err = {0};
	struct sandbox_paths p;
	struct config cfg;
	char state[128], token[64], buf[8192], val[256];
	char **argv = NULL;
	uint32_t slot;
	pid_t pid = 0;
	int r, logfd;
	uint64_t t0, t_run, t_ready;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* What the monitor does: runc --detach leaves the server to its caller's reaper. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (geteuid() != 0) {
		printf("# skip: needs root\n");
		return 77;
	}
	if (access("/usr/bin/python3", X_OK) < 0 ||
	    access("/usr/lib/python3/dist-packages/jupyter_server/__init__.py", R_OK) < 0) {
		printf("# skip: Debian's jupyter_server is not installed\n");
		return 77;
	}
	nbw_strlcpy(g_tmp, "/tmp/nbw-sbx-XXXXXX", sizeof(g_tmp));
	if (!mkdtemp(g_tmp) || chmod(g_tmp, 0755) < 0) {
		perror("mkdtemp");
		return 1;
	}
	nbw_snprintf(state, sizeof(state), "%s/state", g_tmp);
	nbw_snprintf(g_runc_root, sizeof(g_runc_root), "%s/runc", g_tmp);
	config_defaults(&cfg, state);

	r = sandbox_runtime_resolve(&cfg, g_runtime, sizeof(g_runtime), &err);
	if (r < 0) {
		printf("# skip: %s\n", err.message);
		return 77;
	}

	r = sandbox_init(&cfg, &err);
	CHECK(r == 0, "sandbox_init (%s)", r < 0 ? err.message : "ok");
	if (r < 0)
		return 1;
	r = sandbox_slot_get(&cfg, USER, &slot);
	CHECK(r == 0 && slot == 0, "slot %u", slot);
	r = sandbox_paths_get(&cfg, USER, &p);
	CHECK(r == 0, "paths");

	/* A leftover from an earlier crashed run of this test. */
	if (sandbox_argv_delete(g_runtime, p.container_id, &argv) == 0 && private_root(argv)) {
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		run_cmd(argv, nul);
		close(nul);
		free(argv);
	}

	nbw_random_token(token, sizeof(token), 32);
	r = sandbox_prepare(&cfg, USER, slot, token, &p, NULL, &err);
	CHECK(r == 0, "sandbox_prepare (%s)", r < 0 ? err.message : "ok");
	if (r < 0)
		goto out;

	r = sandbox_argv_run(g_runtime, &p, &argv);
	CHECK(r == 0 && private_root(argv), "argv_run");
	logfd = open(p.log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	t0 = now_ms();
	r = run_cmd(argv, logfd);
	t_run = now_ms();
	close(logfd);
	free(argv);
	argv = NULL;
	sandbox_log_tail(&p, buf, 512);
	CHECK(r == 0, "runc run --detach exited %d in %llu ms (log: %s)", r, (unsigned long long)(t_run - t0), buf);
	if (r != 0) {
		char *log = NULL;
		if (nbw_read_file(p.log, 1 << 20, &log, NULL) == 0)
			printf("# --- log ---\n%s\n# -----------\n", log);
		free(log);
		goto out;
	}
	r = sandbox_read_pid(&p, &pid);
	CHECK(r == 0 && pid > 1, "pid file: %d", (int)pid);

	for (;;) {
		int st;
		r = sandbox_probe_ready(&p);
		if (r != 0 || now_ms() - t0 > 60000)
			break;
		/* As the monitor: a subreaper, so the detached server is our child. */
		if (waitpid(pid, &st, WNOHANG) == pid) {
			printf("# server exited with status %d\n", st);
			pid = 0;
			break;
		}
		usleep(10000);
	}
	t_ready = now_ms();
	sandbox_log_tail(&p, buf, 512);
	CHECK(r == 1, "ready after %llu ms from runc run (%llu ms after runc returned); log: %s",
	      (unsigned long long)(t_ready - t0), (unsigned long long)(t_ready - t_run), buf);
	if (r != 1) {
		char *log = NULL;
		if (nbw_read_file(p.log, 1 << 20, &log, NULL) == 0)
			printf("# --- log ---\n%s\n# -----------\n", log);
		free(log);
		goto out;
	}

	/* ---- from the outside ---- */
	uid_t huid = sandbox_host_uid(&cfg, slot);
	char want[128];
	nbw_snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", huid, huid, huid, huid);
	CHECK(status_field(pid, "Uid", val, sizeof(val)) == 0 && !strcmp(val, want), "host Uid %s (want %s)", val,
	      want);
	CHECK(huid - cfg.singleuser.host_uid_base - slot * 65536 == 1000, "uid inside is 1000");
	CHECK(status_field(pid, "CapEff", val, sizeof(val)) == 0 && !strcmp(val, "0000000000000000"), "CapEff %s", val);
	CHECK(status_field(pid, "CapPrm", val, sizeof(val)) == 0 && !strcmp(val, "0000000000000000"), "CapPrm %s", val);
	CHECK(status_field(pid, "CapBnd", val, sizeof(val)) == 0 && !strcmp(val, "0000000000000000"), "CapBnd %s", val);
	CHECK(status_field(pid, "NoNewPrivs", val, sizeof(val)) == 0 && !strcmp(val, "1"), "NoNewPrivs %s", val);
	CHECK(status_field(pid, "Seccomp", val, sizeof(val)) == 0 && !strcmp(val, "2"), "Seccomp %s", val);
	CHECK(status_field(pid, "Groups", val, sizeof(val)) == 0 && !strcmp(val, ""), "no supplementary groups '%s'",
	      val);
	{
		char path[64], *map = NULL, exp[128];
		nbw_snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		nbw_read_file(path, 4096, &map, NULL);
		nbw_snprintf(exp, sizeof(exp), "%u", cfg.singleuser.host_uid_base + slot * 65536);
		CHECK(map && strstr(map, exp) && strstr(map, "65536"), "uid_map: %s", map ? map : "?");
		free(map);
	}
	{
		struct stat st;
		CHECK(stat(p.socket, &st) == 0 && (st.st_mode & 0777) == 0660 && st.st_gid == HUB_GID &&
			  st.st_uid == huid,
		      "socket %s mode %o uid %u gid %u", p.socket, st.st_mode & 0777, st.st_uid, st.st_gid);
	}

	char url[128];
	nbw_snprintf(url, sizeof(url), "/user/%s/api/status", USER);
	r = http_as(HUB_UID, HUB_GID, p.socket, "GET", url, token);
	CHECK(r == 200, "hub uid with token: GET %s → %d", url, r);
	r = http_as(HUB_UID, HUB_GID, p.socket, "GET", url, NULL);
	CHECK(r == 403, "hub uid without token → %d", r);
	r = http_as(HUB_UID, HUB_GID, p.socket, "GET", url, "wrong-token");
	CHECK(r == 403, "hub uid with a wrong token → %d", r);
	r = http_as(OTHER_UID, OTHER_UID, p.socket, "GET", url, token);
	CHECK(r == -EACCES, "another uid cannot connect (%d)", r);
	/* Jupyter renders its own token into every page: ours must never be there. */
	nbw_snprintf(url, sizeof(url), "/user/%s/tree", USER);
	r = http_as(HUB_UID, HUB_GID, p.socket, "GET", url, token);
	CHECK(r == 200 && !strstr(g_body, token), "GET %s → %d, page does not embed the server token", url, r);
	nbw_snprintf(url, sizeof(url), "/user/%s/api/terminals", USER);
	r = http_as(HUB_UID, HUB_GID, p.socket, "POST", url, token);
	CHECK(r == 404, "terminals disabled: POST %s → %d", url, r);
	r = http_as(HUB_UID, HUB_GID, p.socket, "GET", url, token);
	CHECK(r == 404, "terminals disabled: GET %s → %d", url, r);

	/* A kernel starts and reaches "idle": fork/exec, ZeroMQ over loopback, seccomp all fine. */
	nbw_snprintf(url, sizeof(url), "/user/%s/api/kernels", USER);
	t0 = now_ms();
	r = http_as(HUB_UID, HUB_GID, p.socket, "POST", url, token);
	{
		char kid[64] = "", *q = strstr(g_body, "\"id\": \"");
		if (q) {
			q += 7;
			size_t l = strcspn(q, "\"");
			if (l < sizeof(kid))
				memcpy(kid, q, l), kid[l] = 0;
		}
		CHECK(r == 201 && kid[0], "start kernel → %d %s", r, kid);
		char script[1024];
		nbw_snprintf(script, sizeof(script),
			     "from jupyter_client import BlockingKernelClient as C\n"
			     "c = C(connection_file='/tmp/jupyter-runtime/kernel-%s.json')\n"
			     "import time\n"
			     "c.load_connection_file(); c.start_channels()\n"
			     /* The heartbeat reports "dead" while the kernel is still importing: retry. */
			     "for i in range(40):\n"
			     "    try:\n"
			     "        c.wait_for_ready(timeout=30); break\n"
			     "    except RuntimeError:\n"
			     "        time.sleep(0.25)\n"
			     "r = c.execute_interactive(\"print(6*7, 'NBWARDEN_SERVER_TOKEN' in __import__('os').environ)\", timeout=30)\n"
			     "print(r['content']['status'])\n",
			     kid);
		r = pod_exec(&p, script, buf, sizeof(buf));
		CHECK(r == 0 && !strcmp(buf, "42 False\nok\n"), "kernel executes code after %llu ms: %s",
		      (unsigned long long)(now_ms() - t0), buf);
	}

	/* ---- from the inside (runc exec: same namespaces, seccomp, no caps) ---- */
	r = pod_exec(&p, "import os; print(os.getuid(), os.getgid(), os.getgroups())", buf, sizeof(buf));
	CHECK(r == 0 && !strcmp(buf, "1000 100 []\n"), "inside: uid gid groups = %s", buf);
	r = pod_exec(&p,
		     "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name, os.environ.get('HOME'), "
		     "os.environ.get('NBWARDEN_SERVER_TOKEN') is not None, os.getcwd())",
		     buf, sizeof(buf));
	CHECK(r == 0 && !strcmp(buf, "jovyan /home/jovyan True /home/jovyan\n"), "inside: %s", buf);
	r = pod_exec(&p,
		     "import os\n"
		     "for d in ['/root', '/var', '/home/other', '/etc/shadow', '/etc/ssh', '/srv', '/opt', '/boot']:\n"
		     "    print(d, os.path.exists(d))\n",
		     buf, sizeof(buf));
	CHECK(r == 0 && !strstr(buf, "True"), "inside: no host /root /var /etc/shadow ...: %s", buf);
	r = pod_exec(&p, "print(sorted(__import__('os').listdir('/etc')))", buf, sizeof(buf));
	CHECK(r == 0 && !strstr(buf, "shadow") && strstr(buf, "passwd"), "inside /etc: %s", buf);
	r = pod_exec(&p,
		     "import os\n"
		     "for d in ['/usr/x', '/etc/x', '/x', '/proc/sys/kernel/x', '/run/x', '/sys/x']:\n"
		     "    try:\n"
		     "        open(d, 'w'); print(d, 'WRITABLE')\n"
		     "    except OSError as e:\n"
		     "        print(d, e.errno)\n"
		     "for d in ['/home/jovyan/x', '/tmp/x', '/dev/shm/x', '/run/nbwarden/x']:\n"
		     "    open(d, 'w').close(); os.unlink(d); print(d, 'ok')\n",
		     buf, sizeof(buf));
	CHECK(r == 0 && !strstr(buf, "WRITABLE"), "inside: read-only root, writable home/tmp/shm/run: %s", buf);
	r = pod_exec(&p,
		     "import socket, os\n"
		     "print(sorted(os.listdir('/sys/class/net')))\n"
		     "s = socket.socket(); s.settimeout(2)\n"
		     "try:\n"
		     "    s.connect(('1.1.1.1', 80)); print('CONNECTED')\n"
		     "except OSError as e:\n"
		     "    print('net', e.errno)\n",
		     buf, sizeof(buf));
	CHECK(r == 0 && strstr(buf, "['lo']") && !strstr(buf, "CONNECTED"), "inside: loopback only: %s", buf);
	r = pod_exec(&p,
		     "import ctypes, os\n"
		     "libc = ctypes.CDLL(None, use_errno=True)\n"
		     "def t(name, *a):\n"
		     "    rc = getattr(libc, name)(*a); print(name, rc, ctypes.get_errno())\n"
		     "t('unshare', 0x10000000)\n" /* CLONE_NEWUSER */
		     "t('mount', b'none', b'/tmp', b'tmpfs', 0, None)\n"
		     "t('syscall', 425, 1, 0)\n"       /* io_uring_setup */
		     "t('syscall', 101, 0, 0, 0, 0)\n" /* ptrace(TRACEME) */
		     "t('syscall', 435, 0, 0)\n"       /* clone3 → ENOSYS */
		     "t('syscall', 250, 0, 0, 0, 0)\n" /* keyctl */
		     "pid = os.fork()\n"
		     "if pid == 0: os._exit(0)\n"
		     "print('fork', os.waitpid(pid, 0)[1])\n",
		     buf, sizeof(buf));
	CHECK(r == 0 && strstr(buf, "unshare -1 1\n") && strstr(buf, "mount -1 1\n") && strstr(buf, "syscall -1 1\n") &&
		  strstr(buf, "syscall -1 38\n") && strstr(buf, "fork 0"),
	      "inside: seccomp denies unshare/mount/io_uring/ptrace/keyctl, clone3 ENOSYS, fork works:\n%s", buf);
	r = pod_exec(&p, "print(open('/proc/self/mountinfo').read())", buf, sizeof(buf));
	CHECK(r == 0 && !strstr(buf, " / /root ") && !strstr(buf, " /var "), "inside mountinfo:\n%s", buf);
	r = pod_exec(
	    &p,
	    "import os; print(open('/proc/keys','rb').read(4), open('/proc/timer_list','rb').read(4), "
	    "os.listdir('/proc/acpi') if os.path.exists('/proc/acpi') else []); print(sorted(os.listdir('/dev')))",
	    buf, sizeof(buf));
	CHECK(r == 0 && str_has_prefix(buf, "b'' b'' []\n"), "inside: /proc/keys, timer_list, acpi masked; /dev: %s",
	      buf);
	r = pod_exec(&p, "import os; print(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])", buf,
		     sizeof(buf));
	CHECK(r == 0 && !strcmp(buf, "1\n"), "inside (runc exec): no_new_privs %s", buf);

	/* ---- cgroup limits (v1 hierarchy, or v2 unified) ---- */
	{
		static const struct {
			const char *ctl, *v1, *v2, *want;
		} limits[] = {
		    {"memory", "memory.limit_in_bytes", "memory.max", "1073741824"},
		    {"memory", "memory.memsw.limit_in_bytes", "memory.swap.max", NULL},
		    {"pids", "pids.max", "pids.max", "512"},
		    {"cpu", "cpu.cfs_quota_us", "cpu.max", "100000"},
		};
		for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
			char path[256], *v = NULL;
			bool v2 = false;
			nbw_snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/nbwarden/%s/%s", limits[i].ctl, cg_leaf(&p), limits[i].v1);
			if (nbw_read_file(path, 4096, &v, NULL) < 0) {
				nbw_snprintf(path, sizeof(path), "/sys/fs/cgroup/nbwarden/%s/%s", cg_leaf(&p), limits[i].v2);
				v2 = true;
				if (nbw_read_file(path, 4096, &v, NULL) < 0) {
					CHECK(false, "cgroup file for %s missing", limits[i].v1);
					continue;
				}
			}
			if (limits[i].want == NULL && !v2)
				CHECK(str_has_prefix(v, "1073741824"), "%s = %s (no swap beyond memory)", path, v);
			else if (limits[i].want == NULL)
				CHECK(str_has_prefix(v, "0"), "%s = %s (no swap)", path, v);
			else
				CHECK(str_has_prefix(v, limits[i].want), "%s = %s", path, v);
			free(v);
		}
	}

	/* ---- graceful stop: SIGTERM to the server (pid 1 of the pod), then delete ---- */
	int exit_status = -1;
	bool exited = false;
	r = sandbox_argv_kill(g_runtime, p.container_id, "TERM", &argv);
	CHECK(r == 0 && private_root(argv), "argv_kill");
	{
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		t0 = now_ms();
		r = run_cmd(argv, nul);
		close(nul);
		free(argv);
		argv = NULL;
		CHECK(r == 0, "runc kill TERM: %d", r);
		while (now_ms() - t0 < 10000) {
			if (waitpid(pid, &exit_status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			usleep(10000);
		}
		CHECK(exited && WIFEXITED(exit_status), "server stopped on SIGTERM in %llu ms (status %d)",
		      (unsigned long long)(now_ms() - t0), exit_status);
	}
	r = sandbox_argv_delete(g_runtime, p.container_id, &argv);
	CHECK(r == 0 && private_root(argv), "argv_delete");
	{
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		t0 = now_ms();
		r = run_cmd(argv, nul);
		close(nul);
		free(argv);
		argv = NULL;
		CHECK(r == 0, "runc delete --force: %d in %llu ms", r, (unsigned long long)(now_ms() - t0));
	}
	{
		int st;
		/* Reap: as the subreaper, the server's zombie is ours. */
		pid_t w = exited ? pid : waitpid(pid, &st, 0);
		CHECK(w == pid && kill(pid, 0) < 0 && errno == ESRCH, "container process %d gone", (int)pid);
	}
	CHECK(!cgroup_leftover(cg_leaf(&p)), "no cgroup dirs left for %s", USER);
	CHECK(!mountinfo_mentions(g_tmp), "no host mount under %s", g_tmp);
	{
		char **left = NULL;
		bool ours = false;
		CHECK(sandbox__list_prefixed(g_runc_root, SANDBOX_ID_PREFIX, &left) == 0, "list leftovers");
		for (char **l = left; l && *l; l++)
			if (!strcmp(*l, p.container_id))
				ours = true;
		CHECK(!ours, "no runc state left for %s", p.container_id);
		sandbox_strv_free(left);
	}
	CHECK(sandbox_cleanup(&p) == 0, "cleanup");
	{
		struct stat st;
		CHECK(lstat(p.bundle, &st) < 0 && lstat(p.run_dir, &st) < 0 && lstat(p.home, &st) == 0,
		      "bundle and run dir removed, home kept");
	}
	pid = 0;

out:
	if (pid > 0 && sandbox_argv_delete(g_runtime, p.container_id, &argv) == 0 && private_root(argv)) {
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		run_cmd(argv, nul);
		close(nul);
		free(argv);
	}
	explicit_bzero(token, sizeof(token));
	if (!getenv("NBW_KEEP"))
		nbw_rm_rf(g_tmp);
	printf("# %d failure(s)\n", failures);
	return failures ? 1 : 0;
}
