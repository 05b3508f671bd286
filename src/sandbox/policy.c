/* sandbox: the runtime policy of one pod, compiled from configuration.
 *
 * Input: the built-in baseline (what the notebook server needs) and the
 * operator's KubeArmor-shaped rules (config.h, struct config_policy).
 * Output: the guard's Landlock policy (src/guard/guard.h format) and the
 * kernel audit watches for Audit actions and audit postures (for kaudit).
 *
 * Mapping (process = execution, file = reading and writing):
 *   Allow  → a Landlock grant (exec / read / write rule);
 *   Audit  → the same grant, plus a kernel audit watch: allowed and recorded;
 *   Block  → no grant; where another grant covers the path (e.g. Allow /usr/bin/
 *            recursive and Block /usr/bin/curl), the covering grant is split
 *            into grants on every sibling along the way down (read from the
 *            host's directories, which the pod sees read-only), leaving the
 *            blocked path out. Landlock records each refusal.
 *   posture block (default): what no rule grants is refused (Landlock);
 *   posture audit: process — exec anywhere below /usr, every exec not allowed
 *            by a rule recorded; file — the program directories (below) become
 *            readable, every read there recorded.
 *   network: Block → "net-deny PROTO" (the guard's seccomp filter, EACCES,
 *            recorded by a kernel audit rule); Audit → recorded by a kernel audit
 *            rule; posture applies to protocols without an Allow only when the
 *            section has one (as KubeArmor).
 * Block wins over Audit wins over Allow for the same path.
 *
 * Where rules may point (sandbox_policy_check) follows from the pod's mounts:
 * only /usr can hold executables (every other mount is noexec), only the home
 * and /tmp are writable, Audit watches need a path the host can name (/usr,
 * /etc, the home), and a Block inside a writable or kernel-made directory
 * cannot be carved out of a grant (files made later would not be covered). */
#include "sandbox/internal.h"

#include "common/common.h"
#include "guard/guard.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#define POLICY_EXEC_MAX 4
#define CARVE_DEPTH_MAX 16

/* Directories of programs: not readable in the baseline, so that the ELF
 * loader ("ld.so /usr/bin/x") cannot open the system's other programs. */
static const char *const prog_dirs[] = {"/usr/bin",	  "/usr/sbin",	     "/usr/libexec",	   "/usr/games",
					"/usr/local/bin", "/usr/local/sbin", "/usr/local/libexec", "/usr/local/games"};

/* ---- paths ---- */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static bool name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* The host path the pod sees at sandbox path sp: /usr and /etc/ssl/certs are
 * the host's own (read-only binds), /etc is the bundle's generated etc, the
 * home is the user's volume. -EXDEV for everything else (tmpfs, proc, sys,
 * dev: made per pod by the kernel, no host name). paths may be NULL (then
 * only the identity mappings work). */
static int host_path(const struct sandbox_paths *paths, const char *sp, char *buf, size_t size)
{
	if (under(sp, "/usr") || under(sp, "/etc/ssl/certs"))
		return nbw_strlcpy(buf, sp, size);
	if (paths && under(sp, "/etc"))
		return nbw_snprintf(buf, size, "%s/etc%s", paths->bundle, sp + 4);
	if (paths && under(sp, SANDBOX_HOME))
		return nbw_snprintf(buf, size, "%s%s", paths->home, sp + strlen(SANDBOX_HOME));
	return -EXDEV;
}

static bool host_nameable(const char *sp)
{
	return under(sp, "/usr") || under(sp, "/etc") || under(sp, SANDBOX_HOME);
}

static bool writable_area(const char *sp)
{
	return under(sp, SANDBOX_HOME) || under(sp, "/tmp") || under(sp, "/dev/shm") || under(sp, SANDBOX_RUN);
}

static bool kernel_made(const char *sp)
{
	return under(sp, "/proc") || under(sp, "/sys") || under(sp, "/dev") || under(sp, "/tmp");
}

int sandbox_policy_check(const struct config_policy *p, const char *key, char *err, size_t err_size)
{
	for (size_t i = 0; p && i < p->n_rules; i++) {
		const struct config_policy_rule *r = &p->rules[i];
		const char *what = r->dir ? "dir" : "path";

		if (r->section == CONFIG_RULE_NETWORK)
			continue;
		if (r->section == CONFIG_RULE_PROCESS && r->action != CONFIG_ACTION_BLOCK && !under(r->path, "/usr")) {
			(void)nbw_snprintf(err, err_size,
					   "%s (line %d): %s %s: only files below /usr can be executed in the sandbox "
					   "(every other mount is noexec)",
					   key, r->line, what, r->path);
			return -EINVAL;
		}
		if (r->section == CONFIG_RULE_FILE && r->action != CONFIG_ACTION_BLOCK && !r->read_only &&
		    !under(r->path, SANDBOX_HOME) && !under(r->path, "/tmp")) {
			(void)nbw_snprintf(err, err_size,
					   "%s (line %d): %s %s: only " SANDBOX_HOME " and /tmp are writable in the "
					   "sandbox (add readOnly: true)",
					   key, r->line, what, r->path);
			return -EINVAL;
		}
		if (r->section == CONFIG_RULE_FILE && r->action == CONFIG_ACTION_BLOCK &&
		    (writable_area(r->path) || kernel_made(r->path))) {
			(void)nbw_snprintf(err, err_size,
					   "%s (line %d): %s %s: Landlock cannot refuse a path inside a writable or "
					   "kernel-made directory (files created later would not be covered)",
					   key, r->line, what, r->path);
			return -EINVAL;
		}
		if (r->action == CONFIG_ACTION_AUDIT && !host_nameable(r->path)) {
			(void)nbw_snprintf(err, err_size,
					   "%s (line %d): %s %s: Audit needs a path below /usr, /etc or " SANDBOX_HOME
					   " (the kernel audit rules watch host files)",
					   key, r->line, what, r->path);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the executables of the server's command ---- */

/* The interpreter named by a "#!" line, or PT_INTERP of an ELF file, into
 * buf; 0 when there is none (a static binary), 1 when found. script_ok:
 * follow "#!" lines (the server's own command), else report -ENOEXEC for a
 * script (an operator's Allow must name a script's interpreter itself: we
 * never add a shell on our own). */
static int interpreter_of(const char *path, bool script_ok, char *buf, size_t size)
{
	_cleanup_close_ int fd = -1;
	Elf64_Ehdr eh;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = pread(fd, &eh, sizeof(eh), 0);
	if (n < 0)
		return -errno;
	if (n >= 2 && ((char *)&eh)[0] == '#' && ((char *)&eh)[1] == '!') {
		char line[256];
		size_t i = 2, j = 0;

		if (!script_ok)
			return 0; /* a script: its interpreter is the operator's call */
		n = pread(fd, line, sizeof(line) - 1, 0);
		if (n < 0)
			return -errno;
		line[n] = 0;
		while (line[i] == ' ' || line[i] == '\t')
			i++;
		while (line[i] && line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && j + 1 < size)
			buf[j++] = line[i++];
		buf[j] = 0;
		return buf[0] == '/' ? 1 : -ENOEXEC;
	}
	if ((size_t)n < sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		return script_ok ? -ENOEXEC : 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return -ENOEXEC;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz > size)
			return -ENOEXEC;
		if (pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			return -ENOEXEC;
		if (buf[ph.p_filesz - 1] != 0 || buf[0] != '/')
			return -ENOEXEC;
		return 1;
	}
	return 0;
}

/* The files the kernel must be allowed to execute to start cmd0: the command
 * itself, a script's interpreter (scripts only for the server's command), and
 * the ELF interpreter, all resolved to real paths (Landlock rules attach to
 * inodes). Only paths below /usr exist in the pod. */
static int exec_chain(const char *cmd0, bool script_ok, char out[POLICY_EXEC_MAX][PATH_MAX], size_t *ret_n)
{
	char cur[PATH_MAX], interp[PATH_MAX];
	size_t n = 0;
	int r;

	if (nbw_strlcpy(cur, cmd0, sizeof(cur)) < 0)
		return -ENAMETOOLONG;
	while (n < POLICY_EXEC_MAX) {
		if (!realpath(cur, out[n]))
			return -errno;
		if (!str_has_prefix(out[n], "/usr/"))
			return -EXDEV;
		r = interpreter_of(out[n], script_ok && n == 0, interp, sizeof(interp));
		n++;
		if (r < 0)
			return r;
		if (r == 0)
			break;
		nbw_strlcpy(cur, interp, sizeof(cur));
	}
	*ret_n = n;
	return 0;
}

/* ---- grants ---- */

struct grant {
	enum guard_rule_kind kind;
	bool loader; /* an ELF interpreter (ld.so): in every dynamic exec's audit context */
	char *path;  /* sandbox path */
};

struct plan {
	const struct config *cfg;
	const struct sandbox_paths *paths;
	struct grant *g;
	size_t n, cap;
	struct sandbox_audit_watch *w;
	size_t n_w;
	unsigned net_deny, net_audit;
	struct sandbox_error *err;
};

static void plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->g[i].path);
	free(p->g);
	free(p->w);
	p->g = NULL;
	p->w = NULL;
	p->n = p->cap = p->n_w = 0;
}

static int grant(struct plan *p, enum guard_rule_kind kind, const char *path)
{
	if (!name_ok(path) || strlen(path) >= GUARD_PATH_MAX)
		return sandbox__fail(p->err, -EINVAL, "path '%s' cannot be expressed in the guard policy", path);
	for (size_t i = 0; i < p->n; i++)
		if (p->g[i].kind == kind && !strcmp(p->g[i].path, path))
			return 0;
	if (p->n >= GUARD_RULES_MAX)
		return sandbox__fail(p->err, -E2BIG,
				     "the runtime policy needs more than %u Landlock rules (a Block inside a large "
				     "allowed directory?)",
				     GUARD_RULES_MAX);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct grant *g = reallocarray(p->g, cap, sizeof(*g));

		if (!g)
			return sandbox__fail(p->err, -ENOMEM, "out of memory");
		p->g = g;
		p->cap = cap;
	}
	p->g[p->n].kind = kind;
	p->g[p->n].loader = false;
	p->g[p->n].path = strdup(path);
	if (!p->g[p->n].path)
		return sandbox__fail(p->err, -ENOMEM, "out of memory");
	p->n++;
	return 0;
}

static int watch(struct plan *p, enum sandbox_watch_kind kind, bool tree, bool never, const char *sp)
{
	struct sandbox_audit_watch *w;
	int r;

	if (p->n_w >= SANDBOX_WATCHES_MAX)
		return sandbox__fail(p->err, -E2BIG, "the runtime policy needs more than %d audit watches",
				     SANDBOX_WATCHES_MAX);
	w = reallocarray(p->w, p->n_w + 1, sizeof(*w));
	if (!w)
		return sandbox__fail(p->err, -ENOMEM, "out of memory");
	p->w = w;
	w = &p->w[p->n_w];
	*w = (struct sandbox_audit_watch){.kind = kind, .tree = tree, .never = never};
	r = host_path(p->paths, sp, w->host_path, sizeof(w->host_path));
	if (r < 0)
		return sandbox__fail(p->err, r, "%s cannot be audited (no host path)", sp);
	(void)nbw_strlcpy(w->path, sp, sizeof(w->path));
	p->n_w++;
	return 0;
}

/* Regular files directly in the sandbox directory sp (a non-recursive
 * matchDirectories): fn(p, child) for each. */
static int each_file(struct plan *p, const char *sp, int (*fn)(struct plan *, const char *, void *), void *ud)
{
	char hp[PATH_MAX], child[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (host_path(p->paths, sp, hp, sizeof(hp)) < 0)
		return 0;
	d = opendir(hp);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : sandbox__fail(p->err, -errno, "cannot list %s", hp);
	while (r >= 0 && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    !name_ok(de->d_name))
			continue;
		if (nbw_snprintf(child, sizeof(child), "%s/%s", strcmp(sp, "/") ? sp : "", de->d_name) < 0)
			continue;
		r = fn(p, child, ud);
	}
	closedir(d);
	return r;
}

struct kind_ud {
	enum guard_rule_kind kind;
	enum sandbox_watch_kind wkind;
	bool audit;
};

static int grant_file_cb(struct plan *p, const char *child, void *udp)
{
	struct kind_ud *u = udp;
	int r = grant(p, u->kind, child);

	if (r >= 0 && u->audit)
		r = watch(p, u->wkind, false, false, child);
	return r;
}

static void mark_loader(struct plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->g[i].kind == GUARD_RULE_EXEC && !strcmp(p->g[i].path, path))
			p->g[i].loader = true;
}

/* ---- Block: carve a path out of the grants that cover it ---- */

/* Remove `kinds` (bitmask of 1 << guard_rule_kind) at sandbox path P. */
static int carve(struct plan *p, const char *P, unsigned kinds, enum guard_rule_kind keep_as, bool keep)
{
	char hp[PATH_MAX];
	struct stat pst;
	bool have_pst;

	have_pst = host_path(p->paths, P, hp, sizeof(hp)) >= 0 && lstat(hp, &pst) == 0;
	for (size_t i = 0; i < p->n; i++) {
		struct grant g = p->g[i];
		char x[PATH_MAX];
		size_t depth = 0;
		int r;

		if (!(kinds & (1u << g.kind)) || !under(P, g.path))
			continue;
		/* drop g (swap with the last; re-examine this index) */
		p->g[i] = p->g[--p->n];
		i--;
		if (keep && g.kind != keep_as && (r = grant(p, keep_as, P)) < 0) {
			free(g.path);
			return r;
		}
		if (!strcmp(g.path, P)) {
			free(g.path);
			continue;
		}
		/* every directory from g.path down to P's parent: grant its other children */
		(void)nbw_strlcpy(x, g.path, sizeof(x));
		for (;;) {
			char hx[PATH_MAX], next[PATH_MAX];
			const char *rest = P + (strcmp(x, "/") ? strlen(x) : 0) + 1;
			size_t clen = strcspn(rest, "/");
			struct dirent *de;
			DIR *d;

			if (++depth > CARVE_DEPTH_MAX) {
				r = sandbox__fail(p->err, -ELOOP, "Block %s: too deep below %s", P, g.path);
				free(g.path);
				return r;
			}
			if (host_path(p->paths, x, hx, sizeof(hx)) < 0) {
				r = sandbox__fail(p->err, -EXDEV,
						  "Block %s lies inside %s, which the runtime policy cannot split "
						  "(not a read-only host directory)",
						  P, g.path);
				free(g.path);
				return r;
			}
			d = opendir(hx);
			if (!d) {
				free(g.path);
				return sandbox__fail(p->err, -errno, "Block %s: cannot list %s", P, hx);
			}
			r = 0;
			while (r >= 0 && (de = readdir(d))) {
				char c[PATH_MAX];
				struct stat st;

				if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
					continue;
				if (strlen(de->d_name) == clen && !strncmp(de->d_name, rest, clen))
					continue; /* the way down to P */
				/* symlinks are not granted (a rule on one would follow it to its
				 * target, perhaps P); the target's own rule decides */
				if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode))
					continue;
				/* a hard link to P is P */
				if (have_pst && st.st_dev == pst.st_dev && st.st_ino == pst.st_ino)
					continue;
				if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
					continue;
				if (!name_ok(de->d_name))
					continue; /* not expressible: stays refused */
				if (nbw_snprintf(c, sizeof(c), "%s/%s", strcmp(x, "/") ? x : "", de->d_name) < 0)
					continue;
				r = grant(p, g.kind, c);
			}
			closedir(d);
			if (r < 0) {
				free(g.path);
				return r;
			}
			if (rest[clen] == '\0')
				break; /* x is P's parent */
			if (nbw_snprintf(next, sizeof(next), "%s/%.*s", strcmp(x, "/") ? x : "", (int)clen, rest) < 0) {
				free(g.path);
				return sandbox__fail(p->err, -ENAMETOOLONG, "Block %s: path too long", P);
			}
			(void)nbw_strlcpy(x, next, sizeof(x));
		}
		free(g.path);
	}
	return 0;
}

/* ---- the whole policy ---- */

static int baseline(struct plan *p)
{
	static const char *const usr_skip[] = {"bin", "sbin", "libexec", "games", "local"};
	static const char *const local_skip[] = {"bin", "sbin", "libexec", "games"};
	static const struct {
		enum guard_rule_kind kind;
		const char *path;
	} fixed[] = {
	    {GUARD_RULE_LIST, "/"},	       {GUARD_RULE_READ, "/etc"},	  {GUARD_RULE_READ, "/proc"},
	    {GUARD_RULE_READ, "/sys"},	       {GUARD_RULE_READ, "/dev"},	  {GUARD_RULE_WRITE, SANDBOX_HOME},
	    {GUARD_RULE_WRITE, "/tmp"},	       {GUARD_RULE_WRITE, "/dev/shm"},	  {GUARD_RULE_SOCKET, SANDBOX_RUN},
	    {GUARD_RULE_DEVICE, "/dev/null"},  {GUARD_RULE_DEVICE, "/dev/zero"},  {GUARD_RULE_DEVICE, "/dev/full"},
	    {GUARD_RULE_DEVICE, "/dev/random"}, {GUARD_RULE_DEVICE, "/dev/urandom"}, {GUARD_RULE_DEVICE, "/dev/tty"},
	    {GUARD_RULE_DEVICE, "/dev/pts"},
	};
	char exe[POLICY_EXEC_MAX][PATH_MAX];
	size_t n_exe = 0;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		if ((r = grant(p, fixed[i].kind, fixed[i].path)) < 0)
			return r;
	for (size_t i = 0; i < p->cfg->singleuser.n_devices; i++) {
		struct stat st;

		r = sandbox__device_stat(p->cfg->singleuser.devices[i], &st);
		if (r < 0)
			return sandbox__fail(p->err, r, "singleuser.devices: %s %s on this host",
					     p->cfg->singleuser.devices[i],
					     r == -ENODEV ? "is not a character device" : "does not exist");
		if ((r = grant(p, GUARD_RULE_DEVICE, p->cfg->singleuser.devices[i])) < 0)
			return r;
	}
	r = exec_chain(p->cfg->singleuser.cmd[0], true, exe, &n_exe);
	if (r < 0)
		return sandbox__fail(p->err, r,
				     "singleuser.cmd[0] '%s': cannot resolve the executables to allow below /usr: %s",
				     p->cfg->singleuser.cmd[0], strerror(-r));
	for (size_t i = 0; i < n_exe; i++) {
		if ((r = grant(p, GUARD_RULE_EXEC, exe[i])) < 0)
			return r;
		if (i > 0 && i == n_exe - 1)
			mark_loader(p, exe[i]);
	}
	/* /usr and /usr/local readable but for the directories of programs */
	for (int pass = 0; pass < 2; pass++) {
		const char *dir = pass ? "/usr/local" : "/usr";
		const char *const *skip = pass ? local_skip : usr_skip;
		size_t n_skip = pass ? ARRAY_SIZE(local_skip) : ARRAY_SIZE(usr_skip);
		struct dirent *de;
		DIR *d = opendir(dir);

		if (!d)
			continue;
		r = 0;
		while (r >= 0 && (de = readdir(d))) {
			char c[PATH_MAX];
			struct stat st;
			bool skipped = false;

			if (de->d_name[0] == '.' || !name_ok(de->d_name))
				continue;
			for (size_t i = 0; i < n_skip; i++)
				skipped = skipped || !strcmp(de->d_name, skip[i]);
			if (skipped || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				continue;
			if (nbw_snprintf(c, sizeof(c), "%s/%s", dir, de->d_name) >= 0)
				r = grant(p, GUARD_RULE_READ, c);
		}
		closedir(d);
		if (r < 0)
			return r;
	}
	return 0;
}

static int allow_exec_file(struct plan *p, const char *path, bool audit)
{
	char chain[POLICY_EXEC_MAX][PATH_MAX];
	size_t n = 0;
	int r;

	if ((r = grant(p, GUARD_RULE_EXEC, path)) < 0)
		return r;
	if (audit && (r = watch(p, SANDBOX_WATCH_EXEC, false, false, path)) < 0)
		return r;
	/* An ELF program also needs its ELF interpreter (never a script's shell). */
	if (exec_chain(path, false, chain, &n) < 0)
		return 0; /* missing or unreadable: the rule will be skipped by the guard */
	for (size_t i = 1; i < n; i++) {
		if ((r = grant(p, GUARD_RULE_EXEC, chain[i])) < 0)
			return r;
		mark_loader(p, chain[i]);
	}
	return 0;
}

static int exec_file_cb(struct plan *p, const char *child, void *udp)
{
	return allow_exec_file(p, child, *(bool *)udp);
}

static int apply_rule(struct plan *p, const struct config_policy_rule *r)
{
	bool audit = r->action == CONFIG_ACTION_AUDIT;
	int e;

	if (r->action == CONFIG_ACTION_BLOCK || r->section == CONFIG_RULE_NETWORK)
		return 0; /* Block after every grant, network after the files: see compile() */
	if (r->section == CONFIG_RULE_PROCESS) {
		if (!r->dir)
			return allow_exec_file(p, r->path, audit);
		if (!r->recursive)
			return each_file(p, r->path, exec_file_cb, &audit);
		if ((e = grant(p, GUARD_RULE_EXEC, r->path)) < 0)
			return e;
		return audit ? watch(p, SANDBOX_WATCH_EXEC, true, false, r->path) : 0;
	}
	{
		struct kind_ud u = {
		    .kind = r->read_only ? GUARD_RULE_READ : GUARD_RULE_WRITE,
		    .wkind = r->read_only ? SANDBOX_WATCH_WRITE : SANDBOX_WATCH_ACCESS,
		    .audit = audit,
		};

		if (r->dir && !r->recursive)
			return each_file(p, r->path, grant_file_cb, &u);
		if ((e = grant(p, u.kind, r->path)) < 0)
			return e;
		return audit ? watch(p, u.wkind, r->dir, false, r->path) : 0;
	}
}

static int resolve_block_path(struct plan *p, const char *sp, char *buf, size_t size)
{
	char hp[PATH_MAX], real[PATH_MAX];

	/* Landlock rules follow inodes: block what the path really is. Below /usr
	 * the host path is the pod's path; elsewhere keep the name. */
	if (!under(sp, "/usr") || host_path(p->paths, sp, hp, sizeof(hp)) < 0 || !realpath(hp, real))
		return nbw_strlcpy(buf, sp, size);
	if (!under(real, "/usr"))
		return sandbox__fail(p->err, -EXDEV, "Block %s: it resolves to %s, outside /usr", sp, real);
	return nbw_strlcpy(buf, real, size);
}

static int compile(struct plan *p)
{
	const struct config_policy *pol = &p->cfg->singleuser.policy;
	unsigned net_allow = 0, net_block = 0, net_audit = 0;
	bool any_net_allow = false;
	int r;

	{
		char msg[512];

		r = sandbox_policy_check(pol, "securityPolicy", msg, sizeof(msg));
		if (r < 0)
			return sandbox__fail(p->err, r, "%s", msg);
	}
	if ((r = baseline(p)) < 0)
		return r;
	for (size_t i = 0; i < pol->n_rules; i++)
		if ((r = apply_rule(p, &pol->rules[i])) < 0)
			return r;

	/* postures */
	if (pol->posture_process == CONFIG_POSTURE_AUDIT) {
		/* every exec the rules did not allow: let it run, and record it */
		for (size_t i = 0; i < p->n; i++) {
			char hp[PATH_MAX];
			struct stat st;

			/* not the loader: the kernel opens it for every dynamic program, so an
			 * exception on it would hide every exec */
			if (p->g[i].kind != GUARD_RULE_EXEC || p->g[i].loader ||
			    host_path(p->paths, p->g[i].path, hp, sizeof(hp)) < 0 || stat(hp, &st) < 0)
				continue;
			if ((r = watch(p, SANDBOX_WATCH_EXEC, S_ISDIR(st.st_mode), true, p->g[i].path)) < 0)
				return r;
		}
		if ((r = grant(p, GUARD_RULE_EXEC, "/usr")) < 0 || (r = watch(p, SANDBOX_WATCH_EXEC, true, false, "/usr")) < 0)
			return r;
	}
	if (pol->posture_file == CONFIG_POSTURE_AUDIT)
		for (size_t i = 0; i < ARRAY_SIZE(prog_dirs); i++) {
			struct stat st;

			if (lstat(prog_dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			if ((r = grant(p, GUARD_RULE_READ, prog_dirs[i])) < 0 ||
			    (r = watch(p, SANDBOX_WATCH_READ, true, false, prog_dirs[i])) < 0)
				return r;
		}

	/* Block last: carve the paths out of whatever grants cover them */
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct config_policy_rule *b = &pol->rules[i];
		char P[PATH_MAX];

		if (b->action != CONFIG_ACTION_BLOCK || b->section == CONFIG_RULE_NETWORK)
			continue;
		if ((r = resolve_block_path(p, b->path, P, sizeof(P))) < 0)
			return r;
		if (b->section == CONFIG_RULE_PROCESS)
			r = carve(p, P, 1u << GUARD_RULE_EXEC, GUARD_RULE_EXEC, false);
		else if (b->read_only)
			r = carve(p, P, 1u << GUARD_RULE_WRITE, GUARD_RULE_READ, true);
		else
			r = carve(p, P, (1u << GUARD_RULE_READ) | (1u << GUARD_RULE_EXEC) | (1u << GUARD_RULE_WRITE),
				  GUARD_RULE_READ, false);
		if (r < 0)
			return r;
		/* an audit posture's tree watch must not record what is refused anyway:
		 * harmless (a refused exec never reaches the exit with success) */
	}

	/* network */
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct config_policy_rule *n = &pol->rules[i];

		if (n->section != CONFIG_RULE_NETWORK)
			continue;
		if (n->action == CONFIG_ACTION_ALLOW) {
			net_allow |= n->protocol;
			any_net_allow = true;
		} else if (n->action == CONFIG_ACTION_AUDIT)
			net_audit |= n->protocol;
		else
			net_block |= n->protocol;
	}
	if (any_net_allow) {
		unsigned rest = (CONFIG_NET_TCP | CONFIG_NET_UDP | CONFIG_NET_ICMP) & ~(net_allow | net_audit | net_block);

		if (pol->posture_network == CONFIG_POSTURE_BLOCK)
			net_block |= rest;
		else
			net_audit |= rest;
	}
	p->net_deny = net_block & (CONFIG_NET_TCP | CONFIG_NET_UDP | CONFIG_NET_ICMP);
	p->net_audit = net_audit & ~net_block;
	return 0;
}

static const char *kind_word(enum guard_rule_kind k)
{
	switch (k) {
	case GUARD_RULE_READ:
		return "read";
	case GUARD_RULE_EXEC:
		return "exec";
	case GUARD_RULE_WRITE:
		return "write";
	case GUARD_RULE_DEVICE:
		return "device";
	case GUARD_RULE_LIST:
		return "list";
	default:
		return "socket";
	}
}

int sandbox_policy_compile(const struct config *cfg, const struct sandbox_paths *paths, char **ret_text,
			   size_t *ret_len, struct sandbox_audit_plan *ret_plan, struct sandbox_error *err)
{
	static const char *const net_words[] = {"tcp", "udp", "icmp"};
	struct plan p = {.cfg = cfg, .paths = paths, .err = err};
	struct nbw_buf b = {.max = GUARD_POLICY_MAX};
	int r;

	if (ret_plan)
		*ret_plan = (struct sandbox_audit_plan){0};
	r = compile(&p);
	if (r < 0)
		goto out;
	if (ret_text) {
		/* require: the scopes (ABI 6) are part of what the policy promises */
		nbw_buf_str(&b, "# Generated by nbwarden for nbwarden-guard (format: src/guard/guard.h).\n" GUARD_POLICY_MAGIC
				"\n");
		nbw_buf_str(&b, cfg->singleuser.policy.require ? "landlock require 6\n" : "landlock best-effort\n");
		nbw_buf_str(&b, "log on\nscope abstract-unix-socket\nscope signal\nmemfd deny\n");
		for (unsigned i = 0; i < ARRAY_SIZE(net_words); i++)
			if (p.net_deny & (CONFIG_NET_TCP << i)) {
				nbw_buf_str(&b, "net-deny ");
				nbw_buf_str(&b, net_words[i]);
				nbw_buf_str(&b, "\n");
			}
		for (size_t i = 0; i < p.n; i++) {
			nbw_buf_str(&b, kind_word(p.g[i].kind));
			nbw_buf_str(&b, " ");
			nbw_buf_str(&b, p.g[i].path);
			nbw_buf_str(&b, "\n");
		}
		if (b.failed || !b.p) {
			r = sandbox__fail(err, -E2BIG, "the runtime policy is larger than %u bytes", GUARD_POLICY_MAX);
			goto out;
		}
		*ret_len = b.len;
		*ret_text = TAKE_PTR(b.p);
	}
	if (ret_plan) {
		ret_plan->watches = TAKE_PTR(p.w);
		ret_plan->n_watches = p.n_w;
		p.n_w = 0;
		ret_plan->net = p.net_audit;
	}
	r = 0;
out:
	nbw_buf_done(&b);
	plan_done(&p);
	return r;
}

void sandbox_audit_plan_free(struct sandbox_audit_plan *plan)
{
	if (!plan)
		return;
	free(plan->watches);
	*plan = (struct sandbox_audit_plan){0};
}

int sandbox_home_mkdirs(const struct config *cfg, uint32_t slot, const struct sandbox_paths *paths, const char *sp)
{
	_cleanup_close_ int fd = -1;
	const char *rest;
	int r;

	if (!under(sp, SANDBOX_HOME) || !name_ok(sp))
		return -EINVAL;
	r = sandbox__open_dir(paths->home, &fd);
	if (r < 0)
		return r;
	rest = sp + strlen(SANDBOX_HOME);
	while (*rest == '/') {
		char comp[256];
		size_t n;
		int nfd;

		rest++;
		n = strcspn(rest, "/");
		if (n == 0 || n >= sizeof(comp))
			return -EINVAL;
		memcpy(comp, rest, n);
		comp[n] = 0;
		rest += n;
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			return -EINVAL;
		if (mkdirat(fd, comp, 0755) == 0) {
			/* ours, just made: the user's */
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0)
				return -errno;
			if (fchown(nfd, sandbox_host_uid(cfg, slot), sandbox_host_gid(cfg, slot)) < 0) {
				r = -errno;
				close(nfd);
				return r;
			}
		} else if (errno == EEXIST) {
			/* the user's: never follow a link they planted, never change it */
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0)
				return -errno;
		} else
			return -errno;
		close(fd);
		fd = nfd;
	}
	return 0;
}
