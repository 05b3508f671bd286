/* sandbox: per-user home volumes ("claim-NAME"), like a Kubernetes PVC.
 *
 * A sparse ext4 image per user, loop-attached with LOOP_CONFIGURE and
 * LO_FLAGS_AUTOCLEAR (so the loop device goes away with the last unmount) and
 * mounted nosuid,nodev,noexec on state_dir/homes/NAME. The filesystem enforces
 * the capacity: a full volume gives the writer ENOSPC and nothing else.
 *
 * Everything runs as root next to directories a sandbox user may own, so: the
 * image lives in a root-only directory and is opened with O_NOFOLLOW and
 * checked (regular, root-owned, one link); the mount target is an O_PATH fd
 * opened with O_NOFOLLOW below the root-owned homes/ (mounted through
 * /proc/self/fd/N); unmounting uses the path we built, whose every component
 * sandbox__open_state() has checked to be root-owned, with UMOUNT_NOFOLLOW. */
#include "sandbox/internal.h"

#include "common/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif
#define LOOP_MAJOR_NR 7

#define VOLUMES_DIR "volumes"
#define MKFS_SEARCH_PATH "/usr/sbin:/sbin"
#define LOOP_ATTACH_TRIES 16
#define MIB (1ull << 20)
#define TIB (1ull << 40)

/* ---- pure helpers ---- */

int sandbox_volume_claim(const char *user, char *buf, size_t size)
{
	if (!buf || !nbw_username_valid(user))
		return -EINVAL;
	return nbw_snprintf(buf, size, "claim-%s", user) < 0 ? -ENAMETOOLONG : 0;
}

static int image_name(const char *user, const char *suffix, char *buf, size_t size)
{
	if (!nbw_username_valid(user))
		return -EINVAL;
	return nbw_snprintf(buf, size, "claim-%s.%s", user, suffix) < 0 ? -ENAMETOOLONG : 0;
}

int sandbox_volume_image_path(const struct config *cfg, const char *user, char *buf, size_t size)
{
	struct sandbox_paths p;
	size_t l;
	int r;

	if (!cfg || !buf)
		return -EINVAL;
	/* Reuse the validated state_dir handling of sandbox_paths_get: homes/NAME → volumes/. */
	r = sandbox_paths_get(cfg, user, &p);
	if (r < 0)
		return r;
	l = strlen(p.home) - strlen(user) - strlen("/homes/");
	return nbw_snprintf(buf, size, "%.*s/" VOLUMES_DIR "/claim-%s.img", (int)l, p.home, user) < 0 ? -ENAMETOOLONG
												      : 0;
}

int sandbox_volume_capacity(const struct config *cfg, uint64_t *ret_bytes)
{
	uint64_t c;

	if (!cfg || !ret_bytes)
		return -EINVAL;
	c = cfg->singleuser.storage_capacity & ~(MIB - 1);
	if (c < 16 * MIB || c > 16 * TIB)
		return -ERANGE;
	*ret_bytes = c;
	return 0;
}

uint32_t sandbox_volume_percent(uint64_t used, uint64_t usable)
{
	if (usable == 0)
		return 0;
	if (used >= usable)
		return 100;
	/* Exact (rounded down) for any 64-bit sizes. */
	return (uint32_t)((unsigned __int128)used * 100 / usable);
}

bool sandbox_volume_warn_step(bool *warned, uint32_t percent)
{
	if (!warned)
		return false;
	if (!*warned && percent >= SANDBOX_VOLUME_WARN_PERCENT) {
		*warned = true;
		return true;
	}
	if (*warned && percent < SANDBOX_VOLUME_REARM_PERCENT)
		*warned = false;
	return false;
}

/* ---- fd helpers ---- */

/* Is fd (a directory below parent) the root of a mount? */
static int is_mount_root(int parent, int fd)
{
	struct statx stx;
	struct stat a, b;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return !!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	if (fstat(parent, &a) < 0 || fstat(fd, &b) < 0)
		return -errno;
	return a.st_dev != b.st_dev;
}

static int open_subdir(int dfd, const char *name, int *ret_fd)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* The image must be ours alone: a regular file, root's, no other names. */
static int check_image(int fd, const char *name, struct sandbox_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sandbox__fail(err, -errno, "cannot inspect volume image %s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sandbox__fail(err, -EPERM, "volume image %s is not a regular file", name);
	if (st.st_uid != 0)
		return sandbox__fail(err, -EPERM, "volume image %s is owned by uid %u, not root", name,
				     (unsigned)st.st_uid);
	if (st.st_nlink != 1)
		return sandbox__fail(err, -EPERM, "volume image %s has %lu hard links (expected 1)", name,
				     (unsigned long)st.st_nlink);
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return sandbox__fail(err, -errno, "cannot set the mode of volume image %s: %s", name, strerror(errno));
	return 0;
}

static int dir_is_empty(int fd)
{
	struct dirent *de;
	DIR *d;
	int dfd, r = 1;

	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

/* Make homes/NAME a mount point that only root controls: created root 0700; an
 * empty directory from before volumes is taken over; a non-empty one is refused
 * (its files would be hidden under the volume). 1 when something is already
 * mounted there, 0 when it is ready for a mount. */
static int ensure_mount_point(int hfd, const char *user, const char *home, struct sandbox_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (mkdirat(hfd, user, 0700) < 0 && errno != EEXIST)
		return sandbox__fail(err, -errno, "cannot create the mount point %s: %s", home, strerror(errno));
	r = open_subdir(hfd, user, &fd);
	if (r == -ELOOP || r == -ENOTDIR)
		return sandbox__fail(err, r, "%s is a symlink or not a directory", home);
	if (r < 0)
		return sandbox__fail(err, r, "cannot open %s: %s", home, strerror(-r));
	r = is_mount_root(hfd, fd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot inspect %s: %s", home, strerror(-r));
	if (r > 0)
		return 1;
	r = dir_is_empty(fd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot read %s: %s", home, strerror(-r));
	if (r == 0)
		return sandbox__fail(err, -EEXIST,
				     "home %s holds files from before home volumes (not migrated automatically): "
				     "move them away, start again, then copy them into the new volume",
				     home);
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0700) < 0)
		return sandbox__fail(err, -errno, "cannot take over the mount point %s: %s", home, strerror(errno));
	return 0;
}

static int open_homes(const struct config *cfg, int *ret_state, int *ret_homes, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1;
	int r;

	r = sandbox__open_state(cfg, &sfd, err);
	if (r < 0)
		return r;
	r = open_subdir(sfd, "homes", ret_homes);
	if (r < 0)
		return sandbox__fail(err, r, "cannot open %s/homes: %s", cfg->hub.state_dir, strerror(-r));
	*ret_state = TAKE_FD(sfd);
	return 0;
}

/* ---- creation ---- */

int sandbox_volume_prepare(const struct config *cfg, const char *user, uint32_t slot, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1, hfd = -1, vfd = -1, fd = -1;
	struct sandbox_paths p;
	char img[128], tmp[128];
	uint64_t cap;
	int r;

	if (!cfg || !nbw_username_valid(user))
		return sandbox__fail(err, -EINVAL, "invalid user name");
	if (sandbox_volume_capacity(cfg, &cap) < 0)
		return sandbox__fail(err, -ERANGE, "singleuser.storage.capacity must be between 16M and 16T");
	if (sandbox_host_uid(cfg, slot) == (uid_t)-1)
		return sandbox__fail(err, -ERANGE, "host uid range %u does not fit (singleuser.hostUidBase)", slot);
	if ((r = sandbox_paths_get(cfg, user, &p)) < 0 || (r = image_name(user, "img", img, sizeof(img))) < 0 ||
	    (r = image_name(user, "img.new", tmp, sizeof(tmp))) < 0)
		return sandbox__fail(err, r, "cannot build volume paths for '%s'", user);

	r = open_homes(cfg, &sfd, &hfd, err);
	if (r < 0)
		return r;
	/* Refuse a plain home from before volumes now, before any mkfs. */
	r = ensure_mount_point(hfd, user, p.home, err);
	if (r < 0)
		return r;
	r = sandbox__ensure_dir_at(sfd, VOLUMES_DIR, 0, 0, 0700, &vfd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot create %s/" VOLUMES_DIR "/: %s", cfg->hub.state_dir, strerror(-r));

	fd = openat(vfd, img, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0)
		return check_image(fd, img, err);
	if (errno == ELOOP)
		return sandbox__fail(err, -ELOOP, "volume image %s is a symlink (refused)", img);
	if (errno != ENOENT)
		return sandbox__fail(err, -errno, "cannot open volume image %s: %s", img, strerror(errno));

	/* New claim: a sparse file of the capacity, formatted under a temporary
	 * name so that an interrupted mkfs never leaves an image that looks made. */
	if (unlinkat(vfd, tmp, 0) < 0 && errno != ENOENT)
		return sandbox__fail(err, -errno, "cannot remove %s: %s", tmp, strerror(errno));
	fd = openat(vfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sandbox__fail(err, -errno, "cannot create volume image %s: %s", tmp, strerror(errno));
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)cap) < 0) {
		r = -errno;
		(void)unlinkat(vfd, tmp, 0);
		return sandbox__fail(err, r, "cannot size volume image %s to %llu MiB: %s", tmp,
				     (unsigned long long)(cap / MIB), strerror(-r));
	}
	return 1;
}

int sandbox_volume_argv_mkfs(const struct config *cfg, const char *user, uint32_t slot, char ***ret_argv,
			     struct sandbox_error *err)
{
	char mkfs[256] = "", owner[64], image[4096];
	const char *in[10];
	size_t n = 0;
	uid_t u;
	gid_t g;
	int r;

	if (!cfg || !ret_argv || !nbw_username_valid(user))
		return sandbox__fail(err, -EINVAL, "invalid user name");
	u = sandbox_host_uid(cfg, slot);
	g = sandbox_host_gid(cfg, slot);
	if (u == (uid_t)-1 || g == (gid_t)-1)
		return sandbox__fail(err, -ERANGE, "host uid range %u does not fit (singleuser.hostUidBase)", slot);
	for (const char *p = MKFS_SEARCH_PATH; *p && !mkfs[0];) {
		size_t dl = strcspn(p, ":");
		char cand[256];
		if (nbw_snprintf(cand, sizeof(cand), "%.*s/mkfs.ext4", (int)dl, p) >= 0 && sandbox__check_executable(cand) == 0)
			nbw_strlcpy(mkfs, cand, sizeof(mkfs));
		p += dl;
		if (*p == ':')
			p++;
	}
	if (!mkfs[0])
		return sandbox__fail(err, -ENOENT,
				     "mkfs.ext4 not found in " MKFS_SEARCH_PATH
				     " (install e2fsprogs; home volumes need it)");
	r = sandbox_volume_image_path(cfg, user, image, sizeof(image) - 4);
	if (r < 0)
		return sandbox__fail(err, r, "cannot build the volume path for '%s'", user);
	memcpy(image + strlen(image), ".new", 5);
	if (nbw_snprintf(owner, sizeof(owner), "root_owner=%u:%u", (unsigned)u, (unsigned)g) < 0)
		return sandbox__fail(err, -EINVAL, "invalid owner");

	/* -F: it is a file; -m 0: no blocks reserved for root, the user gets the
	 * whole capacity; root_owner: the volume's root belongs to the sandbox user. */
	in[n++] = mkfs, in[n++] = "-q", in[n++] = "-F", in[n++] = "-m", in[n++] = "0", in[n++] = "-E";
	in[n++] = owner, in[n++] = image;
	r = sandbox__build_argv(in, n, ret_argv);
	if (r < 0)
		return sandbox__fail(err, r, "out of memory");
	return 0;
}

static int open_volumes(const struct config *cfg, int *ret_fd, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1;
	int r;

	r = sandbox__open_state(cfg, &sfd, err);
	if (r < 0)
		return r;
	r = open_subdir(sfd, VOLUMES_DIR, ret_fd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot open %s/" VOLUMES_DIR ": %s", cfg->hub.state_dir, strerror(-r));
	return 0;
}

int sandbox_volume_commit(const struct config *cfg, const char *user, struct sandbox_error *err)
{
	_cleanup_close_ int vfd = -1, fd = -1;
	char img[128], tmp[128];
	int r;

	if (!cfg || image_name(user, "img", img, sizeof(img)) < 0 || image_name(user, "img.new", tmp, sizeof(tmp)) < 0)
		return sandbox__fail(err, -EINVAL, "invalid user name");
	r = open_volumes(cfg, &vfd, err);
	if (r < 0)
		return r;
	fd = openat(vfd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return sandbox__fail(err, -errno, "formatted volume image %s is gone: %s", tmp, strerror(errno));
	r = check_image(fd, tmp, err);
	if (r < 0)
		return r;
	if (fsync(fd) < 0)
		return sandbox__fail(err, -errno, "cannot sync volume image %s: %s", tmp, strerror(errno));
	/* RENAME_NOREPLACE: never replace an existing (user data) image. */
	if (renameat2(vfd, tmp, vfd, img, RENAME_NOREPLACE) < 0)
		return sandbox__fail(err, -errno, "cannot rename %s to %s: %s", tmp, img, strerror(errno));
	(void)fsync(vfd);
	return 0;
}

int sandbox_volume_abort(const struct config *cfg, const char *user)
{
	_cleanup_close_ int sfd = -1, vfd = -1;
	char tmp[128];
	int r;

	if (!cfg || image_name(user, "img.new", tmp, sizeof(tmp)) < 0)
		return -EINVAL;
	r = sandbox__open_dir(cfg->hub.state_dir, &sfd);
	if (r < 0)
		return r;
	r = open_subdir(sfd, VOLUMES_DIR, &vfd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (unlinkat(vfd, tmp, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- loop devices ---- */

/* After an unmount: make sure loop device `minor` no longer holds the image
 * (dev/ino of the image, or any file when img is NULL). Autoclear normally did
 * it already; otherwise LOOP_CLR_FD clears it as our open is the last. */
static int loop_release(unsigned minor, const struct stat *img)
{
	struct loop_info64 li;
	char dev[64];

	for (int round = 0; round < 2; round++) {
		_cleanup_close_ int fd = -1;

		nbw_snprintf(dev, sizeof(dev), "/dev/loop%u", minor);
		fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return errno == ENOENT || errno == ENXIO ? 0 : -errno;
		memset(&li, 0, sizeof(li));
		if (ioctl(fd, LOOP_GET_STATUS64, &li) < 0)
			return errno == ENXIO ? 0 : -errno;
		if (img && (li.lo_inode != (uint64_t)img->st_ino || li.lo_device != (uint64_t)img->st_dev))
			return 0; /* free and reused by someone else since */
		if (round == 1)
			return -EBUSY;
		(void)ioctl(fd, LOOP_CLR_FD, 0);
	}
	return -EBUSY;
}

/* Attach image fd to a free loop device; returns the open loop device fd and its number. */
static int loop_attach(int ifd, const char *claim, int *ret_fd, unsigned *ret_minor, struct sandbox_error *err)
{
	_cleanup_close_ int ctl = -1;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return sandbox__fail(err, -errno, "no loop device support (/dev/loop-control: %s)", strerror(errno));
	for (int tries = 0; tries < LOOP_ATTACH_TRIES; tries++) {
		struct loop_config lc;
		_cleanup_close_ int lfd = -1;
		char dev[64];
		int n;

		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return sandbox__fail(err, -errno, "no free loop device for %s: %s", claim, strerror(errno));
		nbw_snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0 && errno == ENOENT) {
			/* devtmpfs creates the node right after LOOP_CTL_GET_FREE added it */
			usleep(2000);
			continue;
		}
		if (lfd < 0)
			return sandbox__fail(err, -errno, "cannot open %s: %s", dev, strerror(errno));
		memset(&lc, 0, sizeof(lc));
		lc.fd = (uint32_t)ifd;
		lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		nbw_strlcpy((char *)lc.info.lo_file_name, claim, sizeof(lc.info.lo_file_name));
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0) {
			*ret_fd = TAKE_FD(lfd);
			*ret_minor = (unsigned)n;
			return 0;
		}
		if (errno != EBUSY) /* EBUSY: taken by someone else in between */
			return sandbox__fail(err, -errno, "cannot attach %s to %s: %s", claim, dev, strerror(errno));
	}
	return sandbox__fail(err, -EBUSY, "no free loop device for %s after %d tries", claim, LOOP_ATTACH_TRIES);
}

/* ---- mount / unmount ---- */

/* runc 1.1 bind-mounts the home and remounts it with exactly the spec's options;
 * in the pod's user namespace the host mount's nosuid/nodev/noexec are locked,
 * so a host flag the spec's home mount lacks makes that remount fail (EPERM).
 * The host mount is noexec exactly when the pod's home is. */
static bool pod_home_noexec(const struct config *cfg, const char *user, uint32_t slot, const struct sandbox_paths *p)
{
	_cleanup_free_ char *text = NULL;
	json_t *root, *mounts, *m;
	bool noexec = false;
	size_t i;

	if (sandbox_oci_spec(cfg, user, slot, "volume-probe", p, &text) < 0)
		return true; /* no spawn would succeed anyway: the safe choice */
	root = json_loads(text, 0, NULL);
	explicit_bzero(text, strlen(text));
	mounts = json_object_get(root, "mounts");
	json_array_foreach(mounts, i, m)
	{
		json_t *opts = json_object_get(m, "options"), *o;
		size_t k;
		if (!json_is_string(json_object_get(m, "destination")) ||
		    strcmp(json_string_value(json_object_get(m, "destination")), SANDBOX_HOME))
			continue;
		json_array_foreach(opts, k, o)
		{
			if (json_is_string(o) && !strcmp(json_string_value(o), "noexec"))
				noexec = true;
		}
	}
	json_decref(root);
	return noexec;
}

static int detach_at(int hfd, const char *user, const char *home, const struct stat *img, struct sandbox_error *err)
{
	bool busy = false;

	/* Loop: a volume may have been mounted twice over (a crash mid-attach). */
	for (int round = 0; round < 4; round++) {
		_cleanup_close_ int fd = -1;
		struct stat st;
		int r;

		fd = openat(hfd, user, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT
				   ? (busy ? -EBUSY : 0)
				   : sandbox__fail(err, -errno, "cannot open %s: %s", home, strerror(errno));
		r = is_mount_root(hfd, fd);
		if (r < 0)
			return sandbox__fail(err, r, "cannot inspect %s: %s", home, strerror(-r));
		if (r == 0)
			break;
		if (fstat(fd, &st) < 0)
			return sandbox__fail(err, -errno, "cannot inspect %s: %s", home, strerror(errno));
		closep(&fd); /* an open fd on the mount would make it busy */
		/* By path: every component is root-owned (checked by sandbox__open_state)
		 * and the last one is not followed. */
		if (umount2(home, UMOUNT_NOFOLLOW) < 0) {
			if (errno != EBUSY)
				return sandbox__fail(err, -errno, "cannot unmount %s: %s", home, strerror(errno));
			/* Still in use (a process of the pod survived the runtime's delete):
			 * take it out of the tree; it goes with its last user. */
			busy = true;
			if (umount2(home, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
				return sandbox__fail(err, -errno, "cannot unmount %s: %s", home, strerror(errno));
		}
		if (major(st.st_dev) == LOOP_MAJOR_NR && loop_release(minor(st.st_dev), img) == -EBUSY)
			busy = true;
	}
	if (busy)
		return sandbox__fail(err, -EBUSY, "volume on %s was still in use; detached lazily", home);
	return 0;
}

int sandbox_volume_attach(const struct config *cfg, const char *user, uint32_t slot, bool fresh,
			  struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1, hfd = -1, vfd = -1, ifd = -1, mfd = -1, lfd = -1, rfd = -1;
	struct sandbox_paths p;
	char img[128], claim[64], target[64];
	struct stat ist, lst, rst;
	unsigned minor = 0;
	int r;

	if (!cfg || !nbw_username_valid(user))
		return sandbox__fail(err, -EINVAL, "invalid user name");
	if ((r = sandbox_paths_get(cfg, user, &p)) < 0 || (r = image_name(user, "img", img, sizeof(img))) < 0 ||
	    (r = sandbox_volume_claim(user, claim, sizeof(claim))) < 0)
		return sandbox__fail(err, r, "cannot build volume paths for '%s'", user);
	r = open_homes(cfg, &sfd, &hfd, err);
	if (r < 0)
		return r;
	r = open_subdir(sfd, VOLUMES_DIR, &vfd);
	if (r < 0)
		return sandbox__fail(err, r, "cannot open %s/" VOLUMES_DIR ": %s", cfg->hub.state_dir, strerror(-r));
	ifd = openat(vfd, img, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (ifd < 0)
		return sandbox__fail(err, -errno, "cannot open volume image %s: %s", img, strerror(errno));
	r = check_image(ifd, img, err);
	if (r < 0)
		return r;
	if (fstat(ifd, &ist) < 0)
		return sandbox__fail(err, -errno, "cannot inspect %s: %s", img, strerror(errno));

	r = ensure_mount_point(hfd, user, p.home, err);
	if (r > 0) {
		/* Left mounted by a crashed monitor: start from a clean state. */
		r = detach_at(hfd, user, p.home, &ist, err);
		if (r >= 0)
			r = ensure_mount_point(hfd, user, p.home, err);
		if (r > 0)
			r = sandbox__fail(err, -EBUSY, "%s is still mounted", p.home);
	}
	if (r < 0)
		return r;
	mfd = openat(hfd, user, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return sandbox__fail(err, -errno, "cannot open %s: %s", p.home, strerror(errno));

	r = loop_attach(ifd, claim, &lfd, &minor, err);
	if (r < 0)
		return r;
	if (fstat(lfd, &lst) < 0)
		return sandbox__fail(err, -errno, "cannot inspect /dev/loop%u: %s", minor, strerror(errno));
	nbw_snprintf(target, sizeof(target), "/proc/self/fd/%d", mfd);
	{
		char dev[64];
		nbw_snprintf(dev, sizeof(dev), "/dev/loop%u", minor);
		unsigned long flags = MS_NOSUID | MS_NODEV;
		/* noexec: nothing a user writes can be executed, even by the host. */
		if (pod_home_noexec(cfg, user, slot, &p))
			flags |= MS_NOEXEC;
		if (mount(dev, target, "ext4", flags, "errors=remount-ro") < 0)
			/* lfd closes on return: autoclear releases the loop device. */
			return sandbox__fail(err, -errno, "cannot mount %s (%s) on %s: %s", claim, dev, p.home,
					     strerror(errno));
	}
	/* The mount holds the loop device now; closing lfd arms autoclear. */
	closep(&lfd);

	/* Check that homes/NAME now is exactly our volume. */
	r = open_subdir(hfd, user, &rfd);
	if (r >= 0 && fstat(rfd, &rst) < 0)
		r = -errno;
	if (r >= 0 && rst.st_dev != lst.st_rdev)
		r = -EXDEV;
	if (r < 0) {
		closep(&rfd);
		(void)detach_at(hfd, user, p.home, &ist, NULL);
		return sandbox__fail(err, r, "the volume mounted on %s is not %s", p.home, claim);
	}
	/* mkfs leaves a root-owned lost+found that the sandbox user could neither
	 * use nor remove; e2fsck recreates it when needed. */
	if (fresh)
		(void)unlinkat(rfd, "lost+found", AT_REMOVEDIR);
	return 0;
}

int sandbox_volume_detach(const struct config *cfg, const char *user, struct sandbox_error *err)
{
	_cleanup_close_ int sfd = -1, hfd = -1, vfd = -1;
	struct sandbox_paths p;
	struct stat ist;
	bool have_img = false;
	char img[128];
	int r;

	if (!cfg || !nbw_username_valid(user))
		return sandbox__fail(err, -EINVAL, "invalid user name");
	if ((r = sandbox_paths_get(cfg, user, &p)) < 0 || (r = image_name(user, "img", img, sizeof(img))) < 0)
		return sandbox__fail(err, r, "cannot build volume paths for '%s'", user);
	r = open_homes(cfg, &sfd, &hfd, err);
	if (r < 0)
		return r;
	if (open_subdir(sfd, VOLUMES_DIR, &vfd) >= 0 && fstatat(vfd, img, &ist, AT_SYMLINK_NOFOLLOW) == 0)
		have_img = true;
	return detach_at(hfd, user, p.home, have_img ? &ist : NULL, err);
}

int sandbox_volume_detach_all(const struct config *cfg)
{
	_cleanup_close_ int sfd = -1, hfd = -1, vfd = -1;
	struct dirent *de;
	DIR *d;
	int r, n = 0, fd;

	r = open_homes(cfg, &sfd, &hfd, NULL);
	if (r < 0)
		return r;
	fd = openat(hfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int mfd = -1;
		if (!nbw_username_valid(de->d_name))
			continue;
		mfd = openat(hfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (mfd < 0 || is_mount_root(hfd, mfd) <= 0)
			continue;
		closep(&mfd);
		if (sandbox_volume_detach(cfg, de->d_name, NULL) >= 0)
			n++;
	}
	closedir(d);

	if (open_subdir(sfd, VOLUMES_DIR, &vfd) < 0)
		return n;
	fd = openat(vfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return n;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return n;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 8 && str_has_prefix(de->d_name, "claim-") && !strcmp(de->d_name + l - 8, ".img.new"))
			(void)unlinkat(vfd, de->d_name, 0);
	}
	closedir(d);
	return n;
}

/* ---- usage and the warning state ---- */

int sandbox_volume_usage(const struct config *cfg, const char *user, struct sandbox_volume_usage *ret)
{
	_cleanup_close_ int sfd = -1, hfd = -1, vfd = -1, mfd = -1;
	struct sandbox_volume_usage u = {0};
	struct statfs sf;
	struct stat st;
	char img[128];
	int r;

	if (!cfg || !ret || image_name(user, "img", img, sizeof(img)) < 0)
		return -EINVAL;
	if ((r = sandbox__open_dir(cfg->hub.state_dir, &sfd)) < 0 || (r = open_subdir(sfd, "homes", &hfd)) < 0 ||
	    (r = open_subdir(sfd, VOLUMES_DIR, &vfd)) < 0)
		return r;
	mfd = openat(hfd, user, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return errno == ENOENT ? -ENOTCONN : -errno;
	r = is_mount_root(hfd, mfd);
	if (r < 0)
		return r;
	if (r == 0 || fstat(mfd, &st) < 0 || major(st.st_dev) != LOOP_MAJOR_NR)
		return -ENOTCONN;
	if (fstatfs(mfd, &sf) < 0)
		return -errno;
	u.usable_bytes = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize;
	u.used_bytes = ((uint64_t)sf.f_blocks - (uint64_t)sf.f_bfree) * (uint64_t)sf.f_bsize;
	u.percent = sandbox_volume_percent(u.used_bytes, u.usable_bytes);
	if (fstatat(vfd, img, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		u.capacity_bytes = (uint64_t)st.st_size;
	*ret = u;
	return 0;
}

bool sandbox_volume_warned_get(const struct config *cfg, const char *user)
{
	_cleanup_close_ int sfd = -1, vfd = -1;
	char name[128];
	struct stat st;

	if (!cfg || image_name(user, "warned", name, sizeof(name)) < 0)
		return false;
	if (sandbox__open_dir(cfg->hub.state_dir, &sfd) < 0 || open_subdir(sfd, VOLUMES_DIR, &vfd) < 0)
		return false;
	return fstatat(vfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int sandbox_volume_warned_set(const struct config *cfg, const char *user, bool warned)
{
	_cleanup_close_ int sfd = -1, vfd = -1, fd = -1;
	char name[128];
	int r;

	if (!cfg || image_name(user, "warned", name, sizeof(name)) < 0)
		return -EINVAL;
	if ((r = sandbox__open_dir(cfg->hub.state_dir, &sfd)) < 0 || (r = open_subdir(sfd, VOLUMES_DIR, &vfd)) < 0)
		return r;
	if (!warned)
		return unlinkat(vfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(vfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	return fd < 0 ? -errno : 0;
}
