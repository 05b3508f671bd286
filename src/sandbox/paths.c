/* sandbox: host paths, the state_dir tree and the host uid range registry.
 *
 * Everything here runs as root on paths an operator configured and that the
 * sandboxed users can partly write to (homes/NAME, run/NAME). So directories
 * are walked component by component with O_NOFOLLOW, and ownership and modes
 * are set on opened fds, never on paths that could be swapped underneath. */
#include "sandbox/internal.h"

#include "common/common.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#define SLOTS_FILE "slots"
#define SLOTS_MAX_BYTES (4u << 20)
#define SLOTS_MAX 65536u

int sandbox__fail(struct sandbox_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return r;
	err->code = r;
	va_start(ap, fmt);
	/* Truncation of a human message is acceptable. */
	if (vsnprintf(err->message, sizeof(err->message), fmt, ap) < 0)
		err->message[0] = 0;
	va_end(ap);
	return r;
}

uint64_t sandbox__range_base(const struct config *cfg, uint32_t slot)
{
	return (uint64_t)cfg->singleuser.host_uid_base + (uint64_t)slot * SANDBOX_RANGE_SIZE;
}

bool sandbox__slot_fits(const struct config *cfg, uint32_t slot)
{
	uint64_t lo = sandbox__range_base(cfg, slot), hi = lo + SANDBOX_RANGE_SIZE - 1;

	/* The last host id of the range must stay below (uid_t)-1, which means "unset". */
	if (hi > (uint64_t)UINT32_MAX - 1)
		return false;
	/* A pod must never be able to act as the hub's uid or gid (config checks
	 * the first maxServers ranges; slots are permanent, so check every one). */
	if ((cfg->hub.uid >= lo && cfg->hub.uid <= hi) || (cfg->hub.gid >= lo && cfg->hub.gid <= hi))
		return false;
	return true;
}

uid_t sandbox_host_uid(const struct config *cfg, uint32_t slot)
{
	if (!sandbox__slot_fits(cfg, slot))
		return (uid_t)-1;
	return (uid_t)(sandbox__range_base(cfg, slot) + cfg->singleuser.uid);
}

gid_t sandbox_host_gid(const struct config *cfg, uint32_t slot)
{
	if (!sandbox__slot_fits(cfg, slot))
		return (gid_t)-1;
	return (gid_t)(sandbox__range_base(cfg, slot) + cfg->singleuser.gid);
}

bool sandbox__token_valid(const char *token)
{
	size_t n;

	if (!token)
		return false;
	n = strnlen(token, 257);
	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = token[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool state_dir_valid(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 3000)
		return false;
	for (const char *s = p; *s; s++)
		if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == 0))
			return false;
	return true;
}

int sandbox_paths_get(const struct config *cfg, const char *user, struct sandbox_paths *ret)
{
	struct sandbox_paths p;
	const char *sd;
	char inst[SANDBOX_INSTANCE_LEN + 1];
	int r;

	if (!cfg || !ret || !nbw_username_valid(user) || !state_dir_valid(cfg->hub.state_dir))
		return -EINVAL;
	sd = cfg->hub.state_dir;
	/* "/" as state_dir would give "//homes": strip one trailing slash. */
	size_t sdl = strlen(sd);
	if (sdl > 1 && sd[sdl - 1] == '/')
		sdl--;
	memset(&p, 0, sizeof(p));
	if ((r = nbw_snprintf(p.home, sizeof(p.home), "%.*s/homes/%s", (int)sdl, sd, user)) < 0 ||
	    (r = nbw_snprintf(p.run_dir, sizeof(p.run_dir), "%.*s/run/%s", (int)sdl, sd, user)) < 0 ||
	    (r = nbw_snprintf(p.socket, sizeof(p.socket), "%s/" SANDBOX_SOCK_NAME, p.run_dir)) < 0 ||
	    (r = nbw_snprintf(p.bundle, sizeof(p.bundle), "%.*s/bundles/%s", (int)sdl, sd, user)) < 0 ||
	    (r = nbw_snprintf(p.log, sizeof(p.log), "%.*s/logs/%s.log", (int)sdl, sd, user)) < 0 ||
	    (r = nbw_snprintf(p.pid_file, sizeof(p.pid_file), "%s/" SANDBOX_PID_NAME, p.bundle)) < 0 ||
	    (r = sandbox_instance_id(cfg, inst)) < 0 ||
	    (r = nbw_snprintf(p.container_id, sizeof(p.container_id), SANDBOX_ID_PREFIX "%s-%s", inst, user)) < 0)
		return r;
	*ret = p;
	return 0;
}

/* ---- directory helpers ---- */

static int open_component(int dfd, const char *name, bool create, int *ret_fd)
{
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Walk path; with check, demand that every directory is root-owned, not
 * writable by others unless sticky (like /tmp) and searchable by everyone: the
 * sandbox's mapped root and the hub must be able to traverse to their dirs. */
static int walk_dir(const char *path, bool create, bool check, struct sandbox_error *err, int *ret_fd)
{
	char buf[4096], prefix[4096];
	_cleanup_close_ int fd = -1;
	size_t plen = 0;
	struct stat st;
	int r;

	if (!path || path[0] != '/')
		return sandbox__fail(err, -EINVAL, "path '%s' is not absolute", path ? path : "");
	r = nbw_strlcpy(buf, path, sizeof(buf));
	if (r < 0)
		return sandbox__fail(err, r, "path %s is too long", path);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	prefix[0] = 0;
	for (char *c = buf, *next; c; c = next) {
		int nfd = -1;

		next = strchr(c, '/');
		if (next)
			*next++ = 0;
		if (!*c || !strcmp(c, "."))
			continue;
		if (!strcmp(c, ".."))
			return sandbox__fail(err, -EINVAL, "path %s must not contain '..'", path);
		if (check) {
			if (fstat(fd, &st) < 0)
				return -errno;
			if (st.st_uid != 0)
				return sandbox__fail(err, -EPERM, "%s/ is owned by uid %u, not root", prefix,
						     (unsigned)st.st_uid);
			if ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))
				return sandbox__fail(err, -EPERM, "%s/ is writable by group or others (mode %04o)",
						     prefix, (unsigned)(st.st_mode & 07777));
			if (!(st.st_mode & S_IXOTH))
				return sandbox__fail(err, -EACCES,
						     "%s/ is not searchable by the sandbox and hub users (mode %04o)",
						     prefix, (unsigned)(st.st_mode & 07777));
		}
		if (plen + 1 + strlen(c) < sizeof(prefix)) {
			prefix[plen++] = '/';
			memcpy(prefix + plen, c, strlen(c) + 1);
			plen += strlen(c);
		}
		r = open_component(fd, c, create, &nfd);
		if (r == -ELOOP || r == -ENOTDIR) {
			if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				return sandbox__fail(err, -ELOOP, "%s is a symlink (refused in %s)", prefix, path);
			return sandbox__fail(err, -ENOTDIR, "%s is not a directory", prefix);
		}
		if (r < 0)
			return sandbox__fail(err, r, "cannot open %s: %s", prefix, strerror(-r));
		closep(&fd);
		fd = nfd;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int sandbox__open_dir(const char *path, int *ret_fd)
{
	return walk_dir(path, false, false, NULL, ret_fd);
}

int sandbox__ensure_dir_at(int dfd, const char *name, uid_t uid, gid_t gid, mode_t mode, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdirat(dfd, name, mode & 0777) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != uid || st.st_gid != gid)
		if (fchown(fd, uid, gid) < 0)
			return -errno;
	/* After chown, which clears the setgid bit. */
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
		if (fchmod(fd, mode) < 0)
			return -errno;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

int sandbox__write_at(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	char tmp[300];
	_cleanup_close_ int fd = -1;
	int r;

	r = nbw_snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	if (r < 0)
		return r;
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = nbw_write_all(fd, data, len);
	if (r >= 0 && fchown(fd, 0, 0) < 0)
		r = -errno;
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	(void)fsync(dfd);
	return 0;
}

/* ---- state_dir ---- */

static const struct {
	const char *name;
	mode_t mode;
	bool hub_owned;
} state_subdirs[] = {
    /* The hub's SQLite lives here; only the hub uid may enter. */
    {"hub", 0700, true},
    /* 0711: the sandbox's mapped root must traverse to its own home/run/rootfs for
     * the bind mounts, and the hub to run/NAME/jupyter.sock, without listing names. */
    {"homes", 0711, false},
    {"run", 0711, false},
    {"bundles", 0711, false},
    {"logs", 0700, false},
};

int sandbox__open_state(const struct config *cfg, int *ret_state, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1;
	const char *sd;
	struct stat st;
	int r;

	if (!cfg || !state_dir_valid(cfg->hub.state_dir))
		return sandbox__fail(err, -EINVAL, "state_dir '%s' must be an absolute path without '..'",
				     cfg && cfg->hub.state_dir ? cfg->hub.state_dir : "");
	sd = cfg->hub.state_dir;
	r = walk_dir(sd, true, true, err, &sfd);
	if (r == -EROFS)
		return sandbox__fail(err, r, "state_dir %s is not writable: %s", sd, strerror(-r));
	if (r < 0) {
		if (err) {
			char m[sizeof(err->message)];
			memcpy(m, err->message, sizeof(m));
			sandbox__fail(err, r, "state_dir %s: %s", sd, m);
		}
		return r;
	}
	if (fstat(sfd, &st) < 0)
		return sandbox__fail(err, -errno, "state_dir %s: %s", sd, strerror(errno));
	if (st.st_uid != 0)
		return sandbox__fail(err, -EPERM, "state_dir %s is owned by uid %u, expected root", sd,
				     (unsigned)st.st_uid);
	if ((st.st_mode & 07777) != 0755 && fchmod(sfd, 0755) < 0)
		return sandbox__fail(err, -errno, "state_dir %s is not writable: %s", sd, strerror(errno));

	/* Probe writability once, so a read-only state_dir fails here with a clear reason. */
	{
		_cleanup_close_ int tfd = -1;
		(void)unlinkat(sfd, ".nbwarden-write-test", 0);
		tfd = openat(sfd, ".nbwarden-write-test", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (tfd < 0)
			return sandbox__fail(err, -errno, "state_dir %s is not writable: %s", sd, strerror(errno));
		(void)unlinkat(sfd, ".nbwarden-write-test", 0);
	}

	for (size_t i = 0; i < ARRAY_SIZE(state_subdirs); i++) {
		uid_t u = state_subdirs[i].hub_owned ? (uid_t)cfg->hub.uid : 0;
		gid_t g = state_subdirs[i].hub_owned ? (gid_t)cfg->hub.gid : 0;

		r = sandbox__ensure_dir_at(sfd, state_subdirs[i].name, u, g, state_subdirs[i].mode, NULL);
		if (r == -ELOOP || r == -ENOTDIR)
			return sandbox__fail(err, r, "%s/%s is not a directory (or is a symlink)", sd,
					     state_subdirs[i].name);
		if (r < 0)
			return sandbox__fail(err, r, "state_dir %s is not writable: cannot create %s/: %s", sd,
					     state_subdirs[i].name, strerror(-r));
	}
	*ret_state = TAKE_FD(sfd);
	return 0;
}

int sandbox_init(const struct config *cfg, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1, rfd = -1, nfd = -1;
	int r;

	r = sandbox__open_state(cfg, &sfd, err);
	if (r < 0)
		return r;

	/* SANDBOX_RUNC_ROOT = /run/nbwarden/runc: runc's state, root only. */
	r = walk_dir("/run", false, true, err, &rfd);
	if (r < 0)
		return r;
	r = sandbox__ensure_dir_at(rfd, "nbwarden", 0, 0, 0711, &nfd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create /run/nbwarden: %s", strerror(-r));
	r = sandbox__ensure_dir_at(nfd, "runc", 0, 0, 0700, NULL);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create " SANDBOX_RUNC_ROOT ": %s", strerror(-r));
	return 0;
}

/* ---- slot registry ---- */

/* Parse "SLOT NAME\n" lines; used[] marks taken slots. Returns the slot of user
 * (>= 0), -ENOENT when absent, -EBADMSG on anything malformed or duplicated: a
 * damaged registry must stop allocation, not hand out a range twice. */
static int name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strcspn(x, "\n"), ly = strcspn(y, "\n");
	int c = memcmp(x, y, lx < ly ? lx : ly);

	return c ? c : (lx > ly) - (lx < ly);
}

static int slots_parse(const char *text, const char *user, bool *used, uint32_t cap, uint32_t *ret_slot)
{
	_cleanup_free_ const char **names = NULL;
	size_t n_names = 0, n_lines = 0;
	const char *p = text;
	int found = -ENOENT;

	for (const char *q = text; *q; q++)
		n_lines += *q == '\n';
	names = calloc(n_lines + 1, sizeof(char *));
	if (!names)
		return -ENOMEM;

	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *sp;
		uint64_t v = 0;

		if (!nl)
			return -EBADMSG;
		sp = p;
		if (sp == nl || *sp < '0' || *sp > '9')
			return -EBADMSG;
		while (sp < nl && *sp >= '0' && *sp <= '9') {
			v = v * 10 + (uint64_t)(*sp - '0');
			if (v >= SLOTS_MAX)
				return -EBADMSG;
			sp++;
		}
		if (sp >= nl || *sp != ' ')
			return -EBADMSG;
		sp++;
		if (!nbw_username_valid_n(sp, (size_t)(nl - sp)))
			return -EBADMSG;
		if (v < cap) {
			if (used[v])
				return -EBADMSG;
			used[v] = true;
		}
		if (strlen(user) == (size_t)(nl - sp) && !memcmp(sp, user, (size_t)(nl - sp))) {
			*ret_slot = (uint32_t)v;
			found = 0;
		}
		names[n_names++] = sp;
		p = nl + 1;
	}
	/* Each name at most once. */
	qsort(names, n_names, sizeof(char *), name_cmp);
	for (size_t i = 1; i < n_names; i++)
		if (name_cmp(&names[i - 1], &names[i]) == 0)
			return -EBADMSG;
	return found;
}

int sandbox_slot_get(const struct config *cfg, const char *user, uint32_t *ret_slot)
{
	_cleanup_close_ int sfd = -1, fd = -1;
	_cleanup_free_ char *text = NULL, *out = NULL;
	_cleanup_free_ bool *used = NULL;
	size_t len = 0;
	uint32_t cap, slot = 0;
	struct stat st;
	int r;

	if (!cfg || !ret_slot || !nbw_username_valid(user))
		return -EINVAL;
	r = sandbox__open_dir(cfg->hub.state_dir, &sfd);
	if (r < 0)
		return r;

	/* Capacity is the host uid space, not singleuser.maxServers: a slot belongs to
	 * a user for good (their home is owned by it), while maxServers bounds how
	 * many run at once, which the monitor enforces. */
	cap = 0;
	while (cap < SLOTS_MAX && sandbox__range_base(cfg, cap) + SANDBOX_RANGE_SIZE - 1 <= (uint64_t)UINT32_MAX - 1)
		cap++;
	if (cap == 0)
		return -ENOSPC;

	fd = openat(sfd, SLOTS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	if (fd >= 0) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022))
			return -EPERM;
		r = nbw_read_fd(fd, SLOTS_MAX_BYTES, &text, &len);
		if (r < 0)
			return r;
		if (strlen(text) != len)
			return -EBADMSG;
	}

	used = calloc(cap, sizeof(bool));
	if (!used)
		return -ENOMEM;
	r = slots_parse(text ? text : "", user, used, cap, &slot);
	if (r == 0) {
		if (!sandbox__slot_fits(cfg, slot))
			return -ENOSPC; /* hostUidBase was raised since: the old range no longer fits */
		*ret_slot = slot;
		return 0;
	}
	if (r != -ENOENT)
		return r;

	/* Lowest free slot whose range is usable (never one holding the hub's ids). */
	for (slot = 0; slot < cap && (used[slot] || !sandbox__slot_fits(cfg, slot)); slot++)
		;
	if (slot >= cap)
		return -ENOSPC;

	out = malloc(len + NBW_USERNAME_MAX + 16);
	if (!out)
		return -ENOMEM;
	if (len)
		memcpy(out, text, len);
	r = nbw_snprintf(out + len, NBW_USERNAME_MAX + 16, "%u %s\n", slot, user);
	if (r < 0)
		return r;
	r = sandbox__write_at(sfd, SLOTS_FILE, out, len + (size_t)r, 0600);
	if (r < 0)
		return r;
	*ret_slot = slot;
	return 0;
}
