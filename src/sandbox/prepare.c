/* sandbox: everything on disk for one start: home, run dir, bundle, log.
 *
 * The bundle is rebuilt from scratch at every start. Its rootfs holds only
 * empty directories (mount points; the root is mounted read-only) and the
 * /bin, /lib, /sbin links into /usr. Its etc/ is generated: account files with
 * the sandbox user, loopback-only name resolution, and a small list of host
 * files Python and Jupyter need that carry no secrets (ld.so.cache, mime
 * types, Debian's python config, /etc/jupyter extension switches, the
 * /etc/alternatives links that point into /usr). Never the host's whole /etc.
 *
 * Inline enforcement (see src/guard/guard.h): the bundle holds a root-owned
 * copy of nbwarden-guard (bind-mounted read-only at /nbwarden/guard) and
 * etc/nbwarden/policy, the Landlock policy it applies before it execs the
 * server: only the server's interpreter (and the ELF interpreter the kernel
 * loads for it) may be executed, writes only below home, /tmp, /dev/shm and
 * the run dir. etc/ipython/ipython_kernel_config.py loads the nbwarden_shell
 * extension, which only turns `!cmd`, %system and %%bash into a friendly
 * message: the kernel enforcement does not depend on it. */
#include "sandbox/internal.h"

#include "common/common.h"
#include "guard/guard.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#define COPY_FILE_MAX (64u << 20) /* ld.so.cache can be a few MB */
#define COPY_TREE_FILE_MAX (1u << 20)
#define COPY_TREE_DEPTH 4
#define COPY_TREE_ENTRIES 512

/* ---- small file helpers on dirfds ---- */

static int write_file_at(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = nbw_write_all(fd, data, len);
	if (r < 0)
		return r;
	if (fchmod(fd, mode) < 0)
		return -errno;
	return 0;
}

/* Copy an open regular file into dfd/name with mode. */
static int copy_fd_at(int in, int dfd, const char *name, size_t max, mode_t mode)
{
	_cleanup_close_ int out = -1;
	char buf[65536];
	struct stat st;
	size_t total = 0;

	if (fstat(in, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max)
			return -EFBIG;
		r = nbw_write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (fchmod(out, mode) < 0)
		return -errno;
	return 0;
}

/* Copy a host regular file (not following a final symlink) into dfd/name. */
static int copy_file_at(const char *src, int dfd, const char *name, size_t max)
{
	_cleanup_close_ int in = -1;

	in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	return copy_fd_at(in, dfd, name, max, 0644);
}

/* Is a symlink target one that stays inside the read-only /usr? */
static bool link_target_in_usr(const char *t)
{
	if (strstr(t, "/../") || str_has_prefix(t, "../../"))
		return false;
	return str_has_prefix(t, "/usr/") || str_has_prefix(t, "../usr/");
}

/* Recreate a host symlink at dfd/name when it points into /usr. */
static int copy_usr_link_at(const char *src, int dfd, const char *name)
{
	char target[1024];
	ssize_t n;

	n = readlink(src, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	if (!link_target_in_usr(target))
		return -EPERM;
	if (symlinkat(target, dfd, name) < 0)
		return -errno;
	return 0;
}

/* Copy a host directory of plain config files (dirs and regular files; no
 * symlinks, devices or oversized files), bounded in depth and entries. */
static int copy_tree_at(const char *src, int dfd, const char *name, int depth, unsigned *budget)
{
	_cleanup_close_ int sfd = -1, ofd = -1;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > COPY_TREE_DEPTH)
		return 0;
	sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = sandbox__ensure_dir_at(dfd, name, 0, 0, 0755, &ofd);
	if (r < 0)
		return r;
	d = fdopendir(sfd);
	if (!d)
		return -errno;
	sfd = -1; /* owned by d */
	while ((de = readdir(d))) {
		char child[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (*budget == 0)
			break;
		(*budget)--;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (nbw_snprintf(child, sizeof(child), "%s/%s", src, de->d_name) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			r = copy_tree_at(child, ofd, de->d_name, depth + 1, budget);
		else if (S_ISREG(st.st_mode) && st.st_size <= (off_t)COPY_TREE_FILE_MAX)
			r = copy_file_at(child, ofd, de->d_name, COPY_TREE_FILE_MAX);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

/* ---- inline enforcement: guard binary, policy, friendly shell message ---- */

#define GUARD_BINARY_MAX (64u << 20)

/* Where nbwarden-guard lives on the host: $NBWARDEN_GUARD (tests that are not
 * the nbwarden binary), else next to the running nbwarden. Either way it must
 * be a root-owned regular file nobody else can write (checked on the open fd
 * in install_guard): every sandbox runs it before its Landlock domain exists. */
static int locate_guard(char *buf, size_t size)
{
	const char *env = getenv("NBWARDEN_GUARD");

	if (env && env[0])
		return env[0] == '/' ? nbw_strlcpy(buf, env, size) : -EINVAL;
	return nbw_sibling_path(GUARD_BINARY_NAME, buf, size);
}

/* Copy the guard into the bundle (root 0755): the pod gets an immutable copy. */
static int install_guard(int bfd, struct sandbox_error *err)
{
	_cleanup_close_ int fd = -1;
	char path[PATH_MAX];
	struct stat st;
	int r;

	r = locate_guard(path, sizeof(path));
	if (r < 0)
		return sandbox__fail(err, r, "cannot locate " GUARD_BINARY_NAME ": %s", strerror(-r));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sandbox__fail(err, -errno, GUARD_BINARY_NAME " not found at %s (it is installed next to nbwarden): %s",
				     path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return sandbox__fail(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return sandbox__fail(err, -EPERM, "%s must be a regular file owned by root and writable only by root",
				     path);
	r = copy_fd_at(fd, bfd, "guard", GUARD_BINARY_MAX, 0755);
	if (r < 0)
		return sandbox__fail(err, r, "cannot copy %s into the bundle: %s", path, strerror(-r));
	return 0;
}

static int gen_policy(const struct config *cfg, const struct sandbox_paths *paths, int nfd,
		      struct sandbox_audit_plan *ret_plan, struct sandbox_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = sandbox_policy_compile(cfg, paths, &buf, &len, ret_plan, err);
	if (r < 0)
		return r;
	r = write_file_at(nfd, "policy", buf, len, 0644);
	if (r < 0)
		return sandbox__fail(err, r, "cannot write etc/nbwarden/policy: %s", strerror(-r));
	return 0;
}

/* The friendly message for IPython's shell escapes (a courtesy: the kernel's
 * Landlock domain is what refuses the exec, whatever a user configures). */
static const char shell_ext_py[] =
	"# Generated by nbwarden: IPython shell escapes print a message instead of\n"
	"# failing obscurely. Enforcement is the kernel's (Landlock); this is only\n"
	"# the explanation, and a user's own configuration may switch it off.\n"
	"import sys\n"
	"\n"
	"MESSAGE = 'Shell commands are disabled in this environment. Use Python libraries instead.'\n"
	"_CELL_MAGICS = ('bash', 'sh', 'script', 'perl', 'ruby', 'python2', 'pypy', 'sx', 'system')\n"
	"\n"
	"\n"
	"def _say():\n"
	"    print(MESSAGE, file=sys.stderr)\n"
	"\n"
	"\n"
	"def _system(*args, **kwargs):\n"
	"    _say()\n"
	"\n"
	"\n"
	"def _getoutput(*args, **kwargs):\n"
	"    from IPython.utils.text import SList\n"
	"    _say()\n"
	"    return SList()\n"
	"\n"
	"\n"
	"def _magic(line='', cell=None):\n"
	"    _say()\n"
	"\n"
	"\n"
	"def load_ipython_extension(ip):\n"
	"    ip.system = ip.system_raw = ip.system_piped = _system\n"
	"    ip.getoutput = _getoutput\n"
	"    for name in _CELL_MAGICS:\n"
	"        ip.register_magic_function(_magic, 'cell', name)\n"
	"    for name in ('sx', 'system', 'sc'):\n"
	"        ip.register_magic_function(_magic, 'line', name)\n";

static const char ipykernel_config_py[] = "# Generated by nbwarden.\n"
					  "c.InteractiveShellApp.extensions = ['nbwarden_shell']\n";

static int gen_ipython(int efd, int nfd, struct sandbox_error *err)
{
	_cleanup_close_ int ifd = -1;
	int r;

	r = write_file_at(nfd, "nbwarden_shell.py", shell_ext_py, sizeof(shell_ext_py) - 1, 0644);
	if (r >= 0)
		r = sandbox__ensure_dir_at(efd, "ipython", 0, 0, 0755, &ifd);
	if (r >= 0 && unlinkat(ifd, "ipython_kernel_config.py", 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r >= 0)
		r = write_file_at(ifd, "ipython_kernel_config.py", ipykernel_config_py, sizeof(ipykernel_config_py) - 1,
				  0644);
	if (r < 0)
		return sandbox__fail(err, r, "cannot write the IPython configuration: %s", strerror(-r));
	return 0;
}

/* ---- generated etc/ ---- */

static int gen_account_files(const struct config *cfg, int efd)
{
	char passwd[1024], group[1024], gname[16];
	uint32_t uid = cfg->singleuser.uid, gid = cfg->singleuser.gid;
	size_t n = 0;
	int r;

	/* The jovyan group takes the conventional name when its gid has one. */
	if (gid == 100)
		nbw_strlcpy(gname, "users", sizeof(gname));
	else if (gid == 5)
		nbw_strlcpy(gname, "tty", sizeof(gname));
	else if (gid == 65534)
		nbw_strlcpy(gname, "nogroup", sizeof(gname));
	else
		nbw_strlcpy(gname, "jovyan", sizeof(gname));

	/* Shell /bin/sh: what subprocess(shell=True) and IPython's "!" use anyway;
	 * terminals are disabled, so it is never a login shell. */
	r = nbw_snprintf(passwd, sizeof(passwd),
			 "root:x:0:0:root:/root:/usr/sbin/nologin\n"
			 "jovyan:x:%u:%u:Jupyter user:" SANDBOX_HOME ":/bin/sh\n"
			 "%s",
			 uid, gid, uid == 65534 ? "" : "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	if (r < 0)
		return r;
	r = write_file_at(efd, "passwd", passwd, (size_t)r, 0644);
	if (r < 0)
		return r;

	r = nbw_snprintf(group, sizeof(group), "root:x:0:\n");
	if (r < 0)
		return r;
	n = (size_t)r;
	if (gid != 5) {
		r = nbw_snprintf(group + n, sizeof(group) - n, "tty:x:5:\n");
		if (r < 0)
			return r;
		n += (size_t)r;
	}
	r = nbw_snprintf(group + n, sizeof(group) - n, "%s:x:%u:jovyan\n", gname, gid);
	if (r < 0)
		return r;
	n += (size_t)r;
	if (gid != 65534) {
		r = nbw_snprintf(group + n, sizeof(group) - n, "nogroup:x:65534:\n");
		if (r < 0)
			return r;
		n += (size_t)r;
	}
	return write_file_at(efd, "group", group, n, 0644);
}

static const char hosts_txt[] = "127.0.0.1\tlocalhost\n"
				"::1\tlocalhost ip6-localhost ip6-loopback\n"
				"127.0.1.1\tnbwarden\n";
/* Loopback only for now; network policy (and a resolver) is a later issue. */
static const char resolv_txt[] = "# nbwarden: no resolver is reachable from this sandbox\n"
				 "nameserver 127.0.0.1\n";
static const char nsswitch_txt[] = "passwd: files\ngroup: files\nshadow: files\ngshadow: files\n"
				   "hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"
				   "ethers: files\nrpc: files\nnetgroup: files\n";

/* The Jupyter server's authentication adapter (like JupyterHub's HubAuth in
 * jupyterhub-singleuser): requests must carry "Authorization: token T" with
 * the token nbwarden generated, which only the hub's proxy sends. Jupyter's own
 * token stays empty, so its pages never embed a credential (jupyter_server
 * renders ServerApp.token into every page as data-jupyter-api-token), and the
 * token is taken out of os.environ so kernels do not inherit it (it stays
 * readable in the server's own /proc/PID/environ by the same uid: it is the
 * user's own server, reachable only through the hub). */
static const char auth_py[] =
	"# Generated by nbwarden: authenticates the hub's proxy to this server.\n"
	"import hmac\n"
	"import os\n"
	"\n"
	"from jupyter_server.auth.login import LoginHandler\n"
	"\n"
	"_TOKEN = os.environ.pop('NBWARDEN_SERVER_TOKEN', '')\n"
	"\n"
	"\n"
	"class NbwardenLoginHandler(LoginHandler):\n"
	"    @classmethod\n"
	"    def get_user(cls, handler):\n"
	"        if getattr(handler, '_user_id', None):\n"
	"            return handler._user_id\n"
	"        m = cls.auth_header_pat.match(handler.request.headers.get('Authorization', ''))\n"
	"        if _TOKEN and m and hmac.compare_digest(m.group(1).strip().encode(), _TOKEN.encode()):\n"
	"            handler._token_authenticated = True\n"
	"            handler._user_id = 'jovyan'\n"
	"            return 'jovyan'\n"
	"        handler._user_id = None\n"
	"        return None\n"
	"\n"
	"    @classmethod\n"
	"    def get_login_available(cls, settings):\n"
	"        return True\n"
	"\n"
	"    @classmethod\n"
	"    def validate_security(cls, app, ssl_options=None):\n"
	"        if not _TOKEN:\n"
	"            raise SystemExit('nbwarden: NBWARDEN_SERVER_TOKEN missing; refusing to serve')\n"
	"\n"
	"    def get(self):\n"
	"        self.send_error(403)\n"
	"\n"
	"    def post(self):\n"
	"        self.send_error(403)\n";

static int gen_etc(const struct config *cfg, int bfd, struct sandbox_error *err)
{
	_cleanup_close_ int efd = -1, sslfd = -1, altfd = -1;
	unsigned budget = COPY_TREE_ENTRIES;
	DIR *d;
	int r;

	r = sandbox__ensure_dir_at(bfd, "etc", 0, 0, 0755, &efd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create bundle etc/: %s", strerror(-r));

	if ((r = gen_account_files(cfg, efd)) < 0 ||
	    (r = write_file_at(efd, "hosts", hosts_txt, sizeof(hosts_txt) - 1, 0644)) < 0 ||
	    (r = write_file_at(efd, "hostname", "nbwarden\n", 9, 0644)) < 0 ||
	    (r = write_file_at(efd, "resolv.conf", resolv_txt, sizeof(resolv_txt) - 1, 0644)) < 0 ||
	    (r = write_file_at(efd, "nsswitch.conf", nsswitch_txt, sizeof(nsswitch_txt) - 1, 0644)) < 0)
		return sandbox__fail(err, r, "cannot write bundle etc/: %s", strerror(-r));
	{
		_cleanup_close_ int nfd = -1;
		r = sandbox__ensure_dir_at(efd, "nbwarden", 0, 0, 0755, &nfd);
		if (r >= 0)
			r = write_file_at(nfd, "nbwarden_auth.py", auth_py, sizeof(auth_py) - 1, 0644);
		if (r < 0)
			return sandbox__fail(err, r, "cannot write bundle etc/nbwarden/: %s", strerror(-r));
	}

	r = copy_file_at("/etc/ld.so.cache", efd, "ld.so.cache", COPY_FILE_MAX);
	if (r < 0)
		return sandbox__fail(err, r, "cannot copy /etc/ld.so.cache: %s", strerror(-r));

	/* ssl/certs is the mount point of the host's certificate store. */
	r = sandbox__ensure_dir_at(efd, "ssl", 0, 0, 0755, &sslfd);
	if (r >= 0)
		r = sandbox__ensure_dir_at(sslfd, "certs", 0, 0, 0755, NULL);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create bundle etc/ssl/certs: %s", strerror(-r));

	/* Optional host files without secrets; absent is fine. */
	static const struct {
		const char *src, *name;
	} optional_files[] = {
	    {"/etc/mime.types", "mime.types"}, {"/etc/protocols", "protocols"},		  {"/etc/services", "services"},
	    {"/etc/timezone", "timezone"},     {"/etc/debian_version", "debian_version"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(optional_files); i++) {
		r = copy_file_at(optional_files[i].src, efd, optional_files[i].name, COPY_TREE_FILE_MAX);
		if (r < 0 && r != -ENOENT)
			return sandbox__fail(err, r, "cannot copy %s: %s", optional_files[i].src, strerror(-r));
	}
	r = copy_file_at("/etc/ssl/openssl.cnf", sslfd, "openssl.cnf", COPY_TREE_FILE_MAX);
	if (r < 0 && r != -ENOENT)
		return sandbox__fail(err, r, "cannot copy /etc/ssl/openssl.cnf: %s", strerror(-r));
	static const struct {
		const char *src, *name;
	} optional_links[] = {
	    {"/etc/localtime", "localtime"},
	    {"/etc/os-release", "os-release"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(optional_links); i++) {
		r = copy_usr_link_at(optional_links[i].src, efd, optional_links[i].name);
		if (r < 0 && r != -ENOENT && r != -EPERM && r != -EINVAL)
			return sandbox__fail(err, r, "cannot link %s: %s", optional_links[i].src, strerror(-r));
	}
	static const char *const trees[] = {"jupyter", "python3", "python3.11", "python3.12", "python3.13", "ipython"};
	for (size_t i = 0; i < ARRAY_SIZE(trees); i++) {
		char src[64];
		if (nbw_snprintf(src, sizeof(src), "/etc/%s", trees[i]) < 0)
			continue;
		r = copy_tree_at(src, efd, trees[i], 0, &budget);
		if (r < 0)
			return sandbox__fail(err, r, "cannot copy %s: %s", src, strerror(-r));
	}

	{
		_cleanup_close_ int nfd = -1;
		r = sandbox__ensure_dir_at(efd, "nbwarden", 0, 0, 0755, &nfd);
		if (r < 0)
			return sandbox__fail(err, r, "cannot open bundle etc/nbwarden/: %s", strerror(-r));
		r = gen_ipython(efd, nfd, err);
		if (r < 0)
			return r;
	}

	/* /etc/alternatives: the links /usr/bin/awk, pager, ... resolve through it. */
	d = opendir("/etc/alternatives");
	if (d) {
		struct dirent *de;
		r = sandbox__ensure_dir_at(efd, "alternatives", 0, 0, 0755, &altfd);
		while (r >= 0 && (de = readdir(d))) {
			char src[4096];
			if (de->d_name[0] == '.' || de->d_type != DT_LNK)
				continue;
			if (nbw_snprintf(src, sizeof(src), "/etc/alternatives/%s", de->d_name) < 0)
				continue;
			(void)copy_usr_link_at(src, altfd, de->d_name);
		}
		closedir(d);
		if (r < 0)
			return sandbox__fail(err, r, "cannot create bundle etc/alternatives: %s", strerror(-r));
	}
	return 0;
}

/* ---- rootfs skeleton ---- */

static int gen_rootfs(int bfd, struct sandbox_error *err)
{
	static const char *const dirs[] = {"proc", "dev", "sys", "usr", "etc", "home", "run"};
	_cleanup_close_ int rfd = -1, hfd = -1, runfd = -1, gfd = -1;
	struct stat st;
	int r;

	r = sandbox__ensure_dir_at(bfd, "rootfs", 0, 0, 0755, &rfd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create rootfs: %s", strerror(-r));
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		r = sandbox__ensure_dir_at(rfd, dirs[i], 0, 0, 0755, NULL);
		if (r < 0)
			return sandbox__fail(err, r, "cannot create rootfs/%s: %s", dirs[i], strerror(-r));
	}
	/* runc gives a tmpfs the mode of the directory it is mounted on. */
	if ((r = sandbox__ensure_dir_at(rfd, "tmp", 0, 0, 01777, NULL)) < 0 ||
	    (r = sandbox__ensure_dir_at(rfd, "home", 0, 0, 0755, &hfd)) < 0 ||
	    (r = sandbox__ensure_dir_at(hfd, "jovyan", 0, 0, 0755, NULL)) < 0 ||
	    (r = sandbox__ensure_dir_at(rfd, "run", 0, 0, 0755, &runfd)) < 0 ||
	    (r = sandbox__ensure_dir_at(runfd, "nbwarden", 0, 0, 0755, NULL)) < 0 ||
	    (r = sandbox__ensure_dir_at(rfd, "nbwarden", 0, 0, 0755, &gfd)) < 0 ||
	    (r = write_file_at(gfd, "guard", "", 0, 0755)) < 0)
		return sandbox__fail(err, r, "cannot create rootfs mount points: %s", strerror(-r));

	static const struct {
		const char *name, *target, *host_check;
	} links[] = {
	    {"bin", "usr/bin", NULL},
	    {"sbin", "usr/sbin", NULL},
	    {"lib", "usr/lib", NULL},
	    {"lib64", "usr/lib64", "/usr/lib64"},
	    {"lib32", "usr/lib32", "/usr/lib32"},
	    {"libx32", "usr/libx32", "/usr/libx32"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		if (links[i].host_check && (lstat(links[i].host_check, &st) < 0 || !S_ISDIR(st.st_mode)))
			continue;
		if (symlinkat(links[i].target, rfd, links[i].name) < 0 && errno != EEXIST)
			return sandbox__fail(err, -errno, "cannot create rootfs/%s: %s", links[i].name,
					     strerror(errno));
	}
	return 0;
}

/* ---- prepare / cleanup ---- */

static const char *last_component(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int prepare(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		   const struct sandbox_paths *paths, struct sandbox_audit_plan *ret_plan, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1, dfd = -1, bfd = -1, lfd = -1;
	_cleanup_free_ char *json = NULL;
	struct sandbox_paths expect;
	uid_t huid;
	gid_t hgid;
	int r;

	if (!cfg || !paths || !nbw_username_valid(user))
		return sandbox__fail(err, -EINVAL, "invalid user name");
	if (!sandbox__token_valid(token))
		return sandbox__fail(err, -EINVAL, "invalid server token");
	/* Never trust paths handed in: they must be exactly the ones we build. */
	r = sandbox_paths_get(cfg, user, &expect);
	if (r < 0)
		return sandbox__fail(err, r, "cannot build paths for '%s': %s", user, strerror(-r));
	if (memcmp(&expect, paths, sizeof(expect)) != 0)
		return sandbox__fail(err, -EINVAL, "paths for '%s' do not match the configuration", user);
	huid = sandbox_host_uid(cfg, slot);
	hgid = sandbox_host_gid(cfg, slot);
	if (huid == (uid_t)-1 || hgid == (gid_t)-1)
		return sandbox__fail(err, -ERANGE, "host uid range %u does not fit (singleuser.hostUidBase)", slot);

	r = sandbox__open_state(cfg, &sfd, err);
	if (r < 0)
		return r;

	/* Home: created once and kept; only the top directory is (re)owned, by fd. */
	r = openat(sfd, "homes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0)
		return sandbox__fail(err, -errno, "cannot open %s/homes: %s", cfg->hub.state_dir, strerror(errno));
	dfd = r;
	r = sandbox__ensure_dir_at(dfd, user, huid, hgid, 0700, NULL);
	if (r < 0)
		return sandbox__fail(err, r, "cannot prepare home %s: %s", paths->home, strerror(-r));
	closep(&dfd);

	/* Run dir: emptied, owned by the sandbox user, group = hub gid, setgid so the
	 * socket inherits the hub's group and 0660 lets the hub (only) connect. */
	r = openat(sfd, "run", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0)
		return sandbox__fail(err, -errno, "cannot open %s/run: %s", cfg->hub.state_dir, strerror(errno));
	dfd = r;
	r = nbw_rm_rf(paths->run_dir);
	if (r < 0)
		return sandbox__fail(err, r, "cannot empty %s: %s", paths->run_dir, strerror(-r));
	r = sandbox__ensure_dir_at(dfd, user, huid, (gid_t)cfg->hub.gid, 02750, NULL);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create %s: %s", paths->run_dir, strerror(-r));
	closep(&dfd);

	/* Bundle: rebuilt from scratch, root-owned. */
	r = nbw_rm_rf(paths->bundle);
	if (r < 0)
		return sandbox__fail(err, r, "cannot remove old bundle %s: %s", paths->bundle, strerror(-r));
	r = openat(sfd, "bundles", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0)
		return sandbox__fail(err, -errno, "cannot open %s/bundles: %s", cfg->hub.state_dir, strerror(errno));
	dfd = r;
	/* root:<the pod's root gid> 0710: only the pod's runc init (mapped root)
	 * may traverse to rootfs/ and etc/; host users may not (rootfs/tmp is 1777). */
	r = sandbox__ensure_dir_at(dfd, last_component(paths->bundle), 0, (gid_t)sandbox__range_base(cfg, slot), 0710,
				   &bfd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create bundle %s: %s", paths->bundle, strerror(-r));
	r = gen_rootfs(bfd, err);
	if (r < 0)
		return r;
	r = gen_etc(cfg, bfd, err);
	if (r < 0)
		return r;
	{
		/* last: a Block below /etc is carved out of the finished etc/ */
		_cleanup_close_ int nfd = openat(bfd, "etc/nbwarden", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (nfd < 0)
			return sandbox__fail(err, -errno, "cannot open bundle etc/nbwarden/: %s", strerror(errno));
		r = gen_policy(cfg, paths, nfd, ret_plan, err);
		if (r < 0)
			return r;
	}
	r = install_guard(bfd, err);
	if (r < 0)
		return r;
	r = sandbox_oci_spec(cfg, user, slot, token, paths, &json);
	if (r < 0)
		return sandbox__fail(err, r, "cannot generate the OCI spec: %s", strerror(-r));
	/* 0600: config.json holds the server's token. */
	r = sandbox__write_at(bfd, "config.json", json, strlen(json), 0600);
	explicit_bzero(json, strlen(json));
	if (r < 0)
		return sandbox__fail(err, r, "cannot write %s/config.json: %s", paths->bundle, strerror(-r));

	/* Log: truncated for this start; root-only (the server may print secrets of its own). */
	r = openat(sfd, "logs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0)
		return sandbox__fail(err, -errno, "cannot open %s/logs: %s", cfg->hub.state_dir, strerror(errno));
	closep(&dfd);
	dfd = r;
	lfd = openat(dfd, last_component(paths->log), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (lfd < 0)
		return sandbox__fail(err, -errno, "cannot create log %s: %s", paths->log, strerror(errno));
	if (fchown(lfd, 0, 0) < 0 || fchmod(lfd, 0640) < 0)
		return sandbox__fail(err, -errno, "cannot set up log %s: %s", paths->log, strerror(errno));
	return 0;
}

int sandbox_prepare(const struct config *cfg, const char *user, uint32_t slot, const char *token,
		    const struct sandbox_paths *paths, struct sandbox_audit_plan *ret_plan, struct sandbox_error *err)
{
	struct sandbox_audit_plan plan = {0};
	int r = prepare(cfg, user, slot, token, paths, ret_plan ? &plan : NULL, err);

	if (r < 0) {
		sandbox_audit_plan_free(&plan);
		return r;
	}
	if (ret_plan)
		*ret_plan = plan;
	return 0;
}

int sandbox_cleanup(const struct sandbox_paths *paths)
{
	int r, q;

	if (!paths || paths->bundle[0] != '/' || paths->run_dir[0] != '/')
		return -EINVAL;
	r = nbw_rm_rf(paths->bundle);
	q = nbw_rm_rf(paths->run_dir);
	return r < 0 ? r : q;
}
