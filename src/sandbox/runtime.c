/* sandbox: the OCI runtime's command lines, its pid file, leftovers, the
 * readiness probe and the server log's last line. */
#include "sandbox/internal.h"

#include "common/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <strings.h>

/* A fixed PATH: the monitor's environment must not decide which binary runs as root. */
#define RUNTIME_SEARCH_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int sandbox__check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (access(path, X_OK) < 0)
		return -errno;
	/* The monitor runs it as root: only root may be able to change it. */
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

int sandbox_runtime_resolve(const struct config *cfg, char *buf, size_t size, struct sandbox_error *err)
{
	const char *rt;
	int r;

	if (!cfg || !buf || size == 0)
		return sandbox__fail(err, -EINVAL, "invalid arguments");
	rt = cfg->singleuser.runtime ? cfg->singleuser.runtime : "runc";
	if (!*rt)
		return sandbox__fail(err, -ENOENT, "OCI runtime '' not found (singleuser.runtime)");

	if (strchr(rt, '/')) {
		if (rt[0] != '/')
			return sandbox__fail(
			    err, -EINVAL,
			    "OCI runtime '%s' must be an absolute path or a bare name (singleuser.runtime)", rt);
		r = sandbox__check_executable(rt);
		if (r == -EPERM)
			return sandbox__fail(err, -EPERM,
					     "OCI runtime '%s' is not owned by root or is writable by others (singleuser.runtime)",
					     rt);
		if (r < 0)
			return sandbox__fail(err, -ENOENT, "OCI runtime '%s' not found (singleuser.runtime): %s", rt,
					     strerror(-r));
		r = nbw_strlcpy(buf, rt, size);
		if (r < 0)
			return sandbox__fail(err, r, "OCI runtime path '%s' is too long (singleuser.runtime)", rt);
		return 0;
	}

	for (const char *p = RUNTIME_SEARCH_PATH; *p;) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		char cand[4096];

		if (nbw_snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, p, rt) >= 0 && sandbox__check_executable(cand) == 0) {
			r = nbw_strlcpy(buf, cand, size);
			if (r < 0)
				return sandbox__fail(err, r, "OCI runtime path '%s' is too long", cand);
			return 0;
		}
		p += dl;
		if (*p == ':')
			p++;
	}
	return sandbox__fail(err, -ENOENT, "OCI runtime '%s' not found (singleuser.runtime; searched %s)", rt,
			     RUNTIME_SEARCH_PATH);
}

/* One allocation: the pointer array followed by the strings, freed with free(). */
int sandbox__build_argv(const char *const *in, size_t n, char ***ret_argv)
{
	size_t bytes = (n + 1) * sizeof(char *);
	char **argv, *s;

	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			return -EINVAL;
		bytes += strlen(in[i]) + 1;
	}
	argv = malloc(bytes);
	if (!argv)
		return -ENOMEM;
	s = (char *)(argv + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(in[i]) + 1;
		memcpy(s, in[i], l);
		argv[i] = s;
		s += l;
	}
	argv[n] = NULL;
	*ret_argv = argv;
	return 0;
}

int sandbox_instance_id(const struct config *cfg, char out[SANDBOX_INSTANCE_LEN + 1])
{
	uint32_t h = 2166136261u; /* FNV-1a: a name, not a secret */

	if (!cfg || !cfg->hub.state_dir)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)cfg->hub.state_dir; *p; p++)
		h = (h ^ *p) * 16777619u;
	return nbw_snprintf(out, SANDBOX_INSTANCE_LEN + 1, "%08x", h) < 0 ? -EINVAL : 0;
}

/* "nbwarden-" + 8 lower-case hex + "-" + a valid user name. */
static bool container_id_valid(const char *id)
{
	const char *p;

	if (!id || !str_has_prefix(id, SANDBOX_ID_PREFIX))
		return false;
	p = id + strlen(SANDBOX_ID_PREFIX);
	for (int i = 0; i < SANDBOX_INSTANCE_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return p[SANDBOX_INSTANCE_LEN] == '-' && nbw_username_valid(p + SANDBOX_INSTANCE_LEN + 1);
}

int sandbox_argv_run(const char *runtime, const struct sandbox_paths *paths, char ***ret_argv)
{
	if (!runtime || runtime[0] != '/' || !paths || !ret_argv || !container_id_valid(paths->container_id))
		return -EINVAL;
	const char *argv[] = {runtime,	  "--root",	 SANDBOX_RUNC_ROOT, "run",	     "--detach",
			      "--bundle", paths->bundle, "--pid-file",	    paths->pid_file, paths->container_id};
	return sandbox__build_argv(argv, ARRAY_SIZE(argv), ret_argv);
}

int sandbox_argv_delete(const char *runtime, const char *container_id, char ***ret_argv)
{
	if (!runtime || runtime[0] != '/' || !ret_argv || !container_id_valid(container_id))
		return -EINVAL;
	const char *argv[] = {runtime, "--root", SANDBOX_RUNC_ROOT, "delete", "--force", container_id};
	return sandbox__build_argv(argv, ARRAY_SIZE(argv), ret_argv);
}

int sandbox_argv_kill(const char *runtime, const char *container_id, const char *signal, char ***ret_argv)
{
	if (!runtime || runtime[0] != '/' || !ret_argv || !container_id_valid(container_id) || !signal ||
	    (strcmp(signal, "TERM") != 0 && strcmp(signal, "KILL") != 0))
		return -EINVAL;
	const char *argv[] = {runtime, "--root", SANDBOX_RUNC_ROOT, "kill", container_id, signal};
	return sandbox__build_argv(argv, ARRAY_SIZE(argv), ret_argv);
}

int sandbox_argv_state(const char *runtime, const char *container_id, char ***ret_argv)
{
	if (!runtime || runtime[0] != '/' || !ret_argv || !container_id_valid(container_id))
		return -EINVAL;
	const char *argv[] = {runtime, "--root", SANDBOX_RUNC_ROOT, "state", container_id};
	return sandbox__build_argv(argv, ARRAY_SIZE(argv), ret_argv);
}

int sandbox_read_pid(const struct sandbox_paths *paths, pid_t *ret_pid)
{
	_cleanup_close_ int fd = -1;
	char buf[32];
	uint64_t v;
	ssize_t n;
	int r;

	if (!paths || !ret_pid)
		return -EINVAL;
	fd = open(paths->pid_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	r = nbw_parse_u64(buf, 2, 4194304, &v); /* never 0/1, at most PID_MAX_LIMIT */
	if (r < 0)
		return -EBADMSG;
	*ret_pid = (pid_t)v;
	return 0;
}

int sandbox_probe_ready(const struct sandbox_paths *paths)
{
	_cleanup_close_ int dfd = -1, pfd = -1, sfd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int r;

	if (!paths)
		return -EINVAL;
	dfd = open(paths->run_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/* The run dir belongs to the sandbox user: a symlink planted as jupyter.sock
	 * must not make root connect anywhere else. */
	pfd = openat(dfd, SANDBOX_SOCK_NAME, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	r = nbw_snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	if (r < 0)
		return r;
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		return -errno;
	/* A unix stream connect completes or fails at once: bound but not yet
	 * listening (ECONNREFUSED) and a full backlog (EAGAIN) mean "not yet". */
	if (connect(sfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ECONNREFUSED || errno == EAGAIN || errno == EINPROGRESS || errno == ENOENT)
			return 0;
		return -errno;
	}
	return 1;
}

/* Copy a log line for display: printable ASCII only, and whatever follows
 * "token=" redacted in case a server prints its URL with the token. */
static void sanitize_line(const char *s, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i + 6 <= len && !strncasecmp(s + i, "token=", 6)) {
			const char *red = "token=[redacted]";
			for (size_t k = 0; red[k] && o + 1 < size; k++)
				buf[o++] = red[k];
			i += 6;
			while (i < len && s[i] != ' ' && s[i] != '&' && s[i] != '"' && s[i] != '\'')
				i++;
			i--;
			continue;
		}
		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[o] = 0;
}

int sandbox_log_tail(const struct sandbox_paths *paths, char *buf, size_t size)
{
	_cleanup_close_ int fd = -1;
	char tail[8192];
	struct stat st;
	off_t off;
	ssize_t n;

	if (!paths || !buf || size == 0)
		return -EINVAL;
	buf[0] = 0;
	fd = open(paths->log, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	off = st.st_size > (off_t)sizeof(tail) ? st.st_size - (off_t)sizeof(tail) : 0;
	do
		n = pread(fd, tail, sizeof(tail), off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Last line with something other than blanks in it. */
	size_t end = (size_t)n;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && tail[start - 1] != '\n')
			start--;
		size_t e = end;
		while (e > start &&
		       (tail[e - 1] == '\n' || tail[e - 1] == '\r' || tail[e - 1] == ' ' || tail[e - 1] == '\t'))
			e--;
		if (e > start) {
			sanitize_line(tail + start, e - start, buf, size);
			explicit_bzero(tail, sizeof(tail));
			return 0;
		}
		end = start > 0 ? start - 1 : 0;
	}
	explicit_bzero(tail, sizeof(tail));
	return 0;
}

void sandbox_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int sandbox__list_prefixed(const char *dir, const char *prefix, char ***ret)
{
	_cleanup_free_ char **v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *de;
	int r = 0;

	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			return -errno;
	} else {
		while ((de = readdir(d))) {
			char **nv;
			if (!container_id_valid(de->d_name) || !str_has_prefix(de->d_name, prefix))
				continue;
			if (n + 2 > cap) {
				cap = cap ? cap * 2 : 8;
				if (cap > 100000) {
					r = -E2BIG;
					break;
				}
				nv = realloc(v, cap * sizeof(char *));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
			}
			v[n] = strdup(de->d_name);
			if (!v[n]) {
				r = -ENOMEM;
				break;
			}
			v[++n] = NULL;
		}
		closedir(d);
	}
	if (r < 0) {
		if (v) {
			v[n] = NULL;
			sandbox_strv_free(TAKE_PTR(v));
		}
		return r;
	}
	if (!v) {
		v = calloc(1, sizeof(char *));
		if (!v)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

int sandbox_list_leftovers(const struct config *cfg, char ***ret)
{
	char inst[SANDBOX_INSTANCE_LEN + 1], prefix[32];

	if (!cfg || !ret || sandbox_instance_id(cfg, inst) < 0)
		return -EINVAL;
	if (nbw_snprintf(prefix, sizeof(prefix), SANDBOX_ID_PREFIX "%s-", inst) < 0)
		return -EINVAL;
	return sandbox__list_prefixed(SANDBOX_RUNC_ROOT, prefix, ret);
}
