/* Home volumes: claim names and paths, capacity, the usage percentage and the
 * warning hysteresis; image creation in a temporary state_dir; with root and
 * loop devices, a real attach/usage/detach that leaves no loop device. */
#include "test.h"

#include "common.h"
#include "common/common.h"
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

static void test_claim_and_paths(void **state)
{
	struct config c;
	char buf[4096];

	(void)state;
	test_config_defaults(&c, "/var/lib/nbwarden");
	assert_int_equal(sandbox_volume_claim("alice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "claim-alice");
	assert_int_equal(sandbox_volume_image_path(&c, "alice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/nbwarden/volumes/claim-alice.img");

	/* A trailing slash on state_dir does not double. */
	test_config_defaults(&c, "/srv/nbw/");
	assert_int_equal(sandbox_volume_image_path(&c, "bob_2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/srv/nbw/volumes/claim-bob_2.img");

	/* Names that could escape the directory or are not user names. */
	assert_int_equal(sandbox_volume_claim("../x", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sandbox_volume_claim("", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sandbox_volume_claim("Alice", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sandbox_volume_image_path(&c, "a/b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sandbox_volume_image_path(&c, "..", buf, sizeof(buf)), -EINVAL);
	test_config_defaults(&c, "/srv/../etc");
	assert_int_equal(sandbox_volume_image_path(&c, "alice", buf, sizeof(buf)), -EINVAL);
	test_config_defaults(&c, "relative/state");
	assert_int_equal(sandbox_volume_image_path(&c, "alice", buf, sizeof(buf)), -EINVAL);

	/* Too small a buffer is an error, never a truncated path. */
	test_config_defaults(&c, "/var/lib/nbwarden");
	assert_true(sandbox_volume_image_path(&c, "alice", buf, 20) < 0);
	assert_true(sandbox_volume_claim("alice", buf, 8) < 0);
}

static void test_capacity(void **state)
{
	struct config c;
	uint64_t v = 1;

	(void)state;
	test_config_defaults(&c, "/s");
	assert_int_equal(sandbox_volume_capacity(&c, &v), 0);
	assert_int_equal(v, 10ull << 30);
	c.singleuser.storage_capacity = (64ull << 20) + 12345; /* rounded down to whole MiB */
	assert_int_equal(sandbox_volume_capacity(&c, &v), 0);
	assert_int_equal(v, 64ull << 20);
	c.singleuser.storage_capacity = 16ull << 20;
	assert_int_equal(sandbox_volume_capacity(&c, &v), 0);
	assert_int_equal(v, 16ull << 20);
	v = 7;
	c.singleuser.storage_capacity = (16ull << 20) - 1;
	assert_int_equal(sandbox_volume_capacity(&c, &v), -ERANGE);
	assert_int_equal(v, 7); /* untouched on failure */
	c.singleuser.storage_capacity = (16ull << 40) + (1ull << 20);
	assert_int_equal(sandbox_volume_capacity(&c, &v), -ERANGE);
	c.singleuser.storage_capacity = 16ull << 40;
	assert_int_equal(sandbox_volume_capacity(&c, &v), 0);
	assert_int_equal(v, 16ull << 40);
}

static void test_percent(void **state)
{
	(void)state;
	assert_int_equal(sandbox_volume_percent(0, 0), 0);
	assert_int_equal(sandbox_volume_percent(5, 0), 0);
	assert_int_equal(sandbox_volume_percent(0, 100), 0);
	assert_int_equal(sandbox_volume_percent(79, 100), 79);
	assert_int_equal(sandbox_volume_percent(799, 1000), 79); /* rounded down: 79.9 is not 80 */
	assert_int_equal(sandbox_volume_percent(80, 100), 80);
	assert_int_equal(sandbox_volume_percent(100, 100), 100);
	assert_int_equal(sandbox_volume_percent(200, 100), 100);
	/* 16 TiB and beyond without overflow */
	assert_int_equal(sandbox_volume_percent(13ull << 40, 16ull << 40), 81);
	assert_int_equal(sandbox_volume_percent(UINT64_MAX / 2, UINT64_MAX), 49);
	assert_int_equal(sandbox_volume_percent(UINT64_MAX - 1, UINT64_MAX), 99);
}

static void test_warn_hysteresis(void **state)
{
	bool warned = false;

	(void)state;
	assert_false(sandbox_volume_warn_step(&warned, 10));
	assert_false(sandbox_volume_warn_step(&warned, 79));
	assert_false(warned);
	assert_true(sandbox_volume_warn_step(&warned, 80)); /* the crossing: once */
	assert_true(warned);
	assert_false(sandbox_volume_warn_step(&warned, 95));
	assert_false(sandbox_volume_warn_step(&warned, 100));
	assert_false(sandbox_volume_warn_step(&warned, 78)); /* between 75 and 80: still armed off */
	assert_false(sandbox_volume_warn_step(&warned, 81));
	assert_false(sandbox_volume_warn_step(&warned, 75));
	assert_true(warned);
	assert_false(sandbox_volume_warn_step(&warned, 74)); /* re-armed */
	assert_false(warned);
	assert_true(sandbox_volume_warn_step(&warned, 90)); /* a new crossing */
	assert_false(sandbox_volume_warn_step(NULL, 90));
}

/* ---- on disk (root only) ---- */

struct tmp_state {
	char base[256];
	char state_dir[300];
	struct config cfg;
};

static int setup_state(void **state)
{
	struct tmp_state *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	nbw_strlcpy(t->base, "/tmp/nbw-test-volume-XXXXXX", sizeof(t->base));
	if (!mkdtemp(t->base) || chmod(t->base, 0755) < 0)
		return -1;
	nbw_snprintf(t->state_dir, sizeof(t->state_dir), "%s/state", t->base);
	test_config_defaults(&t->cfg, t->state_dir);
	t->cfg.hub.uid = 0; /* the hub's dir is not what this test is about */
	t->cfg.hub.gid = 0;
	t->cfg.singleuser.host_uid_base = 3000000;
	t->cfg.singleuser.storage_capacity = 32ull << 20;
	*state = t;
	return 0;
}

static int teardown_state(void **state)
{
	struct tmp_state *t = *state;

	if (t) {
		(void)sandbox_volume_detach_all(&t->cfg);
		(void)nbw_rm_rf(t->base);
		free(t);
	}
	return 0;
}

static bool have_root(void)
{
	return geteuid() == 0;
}

static void test_prepare_creates_sparse_image(void **state)
{
	struct tmp_state *t = *state;
	struct sandbox_error err = {0};
	char path[512], img[600];
	struct stat st;
	int fd;

	if (!have_root())
		skip();
	assert_int_equal(sandbox_init(&t->cfg, &err), 0);
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "alice", 0, &err), 1);
	nbw_snprintf(path, sizeof(path), "%s/volumes/claim-alice.img.new", t->state_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal((uint64_t)st.st_size, 32ull << 20);
	assert_true((uint64_t)st.st_blocks * 512 < (1ull << 20)); /* sparse */
	nbw_snprintf(path, sizeof(path), "%s/volumes", t->state_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* The mount point is root's, not the user's. */
	nbw_snprintf(path, sizeof(path), "%s/homes/alice", t->state_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	/* Not formatted yet: abort removes it; a second prepare starts over. */
	assert_int_equal(sandbox_volume_abort(&t->cfg, "alice"), 0);
	nbw_snprintf(path, sizeof(path), "%s/volumes/claim-alice.img.new", t->state_dir);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "alice", 0, &err), 1);

	/* Commit renames; then the image is "ready" (0) and never recreated. */
	assert_int_equal(sandbox_volume_commit(&t->cfg, "alice", &err), 0);
	nbw_snprintf(img, sizeof(img), "%s/volumes/claim-alice.img", t->state_dir);
	assert_int_equal(stat(img, &st), 0);
	fd = open(img, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "alice", 0, &err), 0);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal((uint64_t)st.st_size, 32ull << 20); /* kept, not truncated */

	/* A commit never replaces an existing image. */
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "bob", 0, &err), 1);
	nbw_snprintf(path, sizeof(path), "%s/volumes/claim-bob.img", t->state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(sandbox_volume_commit(&t->cfg, "bob", &err), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);

	/* An image with a second name (a hard link) is refused. */
	nbw_snprintf(path, sizeof(path), "%s/volumes/claim-carl.img", t->state_dir);
	assert_int_equal(link(img, path), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "carl", 0, &err), -EPERM);
	assert_non_null(strstr(err.message, "hard links"));
}

static void test_prepare_refuses_symlink_and_legacy_home(void **state)
{
	struct tmp_state *t = *state;
	struct sandbox_error err = {0};
	char path[512];
	int fd;

	if (!have_root())
		skip();
	assert_int_equal(sandbox_init(&t->cfg, &err), 0);
	/* A symlinked image (e.g. to /etc/shadow) is never used. */
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "carol", 0, &err), 1);
	nbw_snprintf(path, sizeof(path), "%s/volumes/claim-dave.img", t->state_dir);
	assert_int_equal(symlink("/etc/shadow", path), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "dave", 0, &err), -ELOOP);
	assert_non_null(strstr(err.message, "symlink"));

	/* A home directory with files from before volumes is refused with a message. */
	nbw_snprintf(path, sizeof(path), "%s/homes/erin", t->state_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	nbw_snprintf(path, sizeof(path), "%s/homes/erin/notebook.ipynb", t->state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	memset(&err, 0, sizeof(err));
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "erin", 0, &err), -EEXIST);
	assert_non_null(strstr(err.message, "before home volumes"));
	assert_int_equal(access(path, F_OK), 0); /* untouched */

	/* An empty one (owned by the sandbox user) is taken over as the mount point. */
	nbw_snprintf(path, sizeof(path), "%s/homes/fred", t->state_dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(chown(path, 3001000, 3000100), 0);
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "fred", 0, &err), 1);
	{
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	/* A symlink as the mount point is refused. */
	nbw_snprintf(path, sizeof(path), "%s/homes/gina", t->state_dir);
	assert_int_equal(symlink("/etc", path), 0);
	memset(&err, 0, sizeof(err));
	assert_true(sandbox_volume_prepare(&t->cfg, "gina", 0, &err) < 0);
	assert_non_null(strstr(err.message, "symlink"));
}

static void test_mkfs_argv(void **state)
{
	struct tmp_state *t = *state;
	struct sandbox_error err = {0};
	char **argv = NULL, want[600];
	bool owner = false, reserved = false;

	if (access("/usr/sbin/mkfs.ext4", X_OK) < 0 && access("/sbin/mkfs.ext4", X_OK) < 0)
		skip();
	assert_int_equal(sandbox_volume_argv_mkfs(&t->cfg, "alice", 2, &argv, &err), 0);
	assert_non_null(strstr(argv[0], "/mkfs.ext4"));
	assert_true(argv[0][0] == '/');
	nbw_snprintf(want, sizeof(want), "%s/volumes/claim-alice.img.new", t->state_dir);
	for (char **a = argv; *a; a++) {
		/* slot 2: 3000000 + 2*65536 + 1000 / + 100 */
		if (!strcmp(*a, "root_owner=3132072:3131172"))
			owner = true;
		if (!strcmp(*a, "-m") && a[1] && !strcmp(a[1], "0"))
			reserved = true;
		if (!a[1])
			assert_string_equal(*a, want);
	}
	assert_true(owner);
	assert_true(reserved);
	free(argv);
	assert_int_equal(sandbox_volume_argv_mkfs(&t->cfg, "../x", 2, &argv, &err), -EINVAL);
}

static int run_argv(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Loop devices whose backing file is below base (from sysfs). */
static int loops_backed_by(const char *base)
{
	char p[128], buf[4096];
	int n = 0;

	for (int i = 0; i < 512; i++) {
		_cleanup_free_ char *data = NULL;
		size_t len;
		nbw_snprintf(p, sizeof(p), "/sys/block/loop%d/loop/backing_file", i);
		if (nbw_read_file(p, sizeof(buf), &data, &len) < 0)
			continue;
		if (str_has_prefix(data, base))
			n++;
	}
	return n;
}

static void test_attach_usage_detach(void **state)
{
	struct tmp_state *t = *state;
	struct sandbox_error err = {0};
	struct sandbox_volume_usage u;
	char **argv = NULL, home[512], file[600];
	struct statfs sf;
	struct stat st;
	int fd;

	if (!have_root() || access("/dev/loop-control", R_OK | W_OK) < 0 ||
	    (access("/usr/sbin/mkfs.ext4", X_OK) < 0 && access("/sbin/mkfs.ext4", X_OK) < 0))
		skip();
	assert_int_equal(sandbox_init(&t->cfg, &err), 0);
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "alice", 0, &err), 1);
	assert_int_equal(sandbox_volume_argv_mkfs(&t->cfg, "alice", 0, &argv, &err), 0);
	assert_int_equal(run_argv(argv), 0);
	free(argv);
	assert_int_equal(sandbox_volume_commit(&t->cfg, "alice", &err), 0);

	/* Not mounted yet: no usage. */
	assert_int_equal(sandbox_volume_usage(&t->cfg, "alice", &u), -ENOTCONN);
	assert_int_equal(sandbox_volume_attach(&t->cfg, "alice", 0, true, &err), 0);
	assert_int_equal(loops_backed_by(t->base), 1);
	nbw_snprintf(home, sizeof(home), "%s/homes/alice", t->state_dir);
	assert_int_equal(statfs(home, &sf), 0);
	assert_int_equal(sf.f_type, 0xEF53); /* ext4 */
	assert_true(sf.f_flags & ST_NOSUID);
	assert_true(sf.f_flags & ST_NODEV);
	assert_int_equal(stat(home, &st), 0);
	assert_int_equal(st.st_uid, 3001000); /* root_owner: the sandbox user */
	nbw_snprintf(file, sizeof(file), "%s/lost+found", home);
	assert_int_equal(access(file, F_OK), -1); /* removed on a fresh volume */

	assert_int_equal(sandbox_volume_usage(&t->cfg, "alice", &u), 0);
	assert_int_equal(u.capacity_bytes, 32ull << 20);
	assert_true(u.usable_bytes > (20ull << 20) && u.usable_bytes <= (32ull << 20));
	assert_true(u.percent < 20);
	/* Fill ~85 %: the percentage follows. */
	nbw_snprintf(file, sizeof(file), "%s/big", home);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	{
		static char chunk[1 << 20];
		uint64_t target = u.usable_bytes * 85 / 100;
		memset(chunk, 'x', sizeof(chunk));
		for (uint64_t w = 0; w < target; w += sizeof(chunk))
			assert_int_equal(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
		assert_int_equal(fsync(fd), 0);
		/* Past the capacity: ENOSPC, nothing else. */
		ssize_t n = 0;
		for (int i = 0; i < 64 && n >= 0; i++)
			n = write(fd, chunk, sizeof(chunk));
		if (n >= 0)
			n = fsync(fd);
		assert_true(n < 0);
		assert_int_equal(errno, ENOSPC);
	}
	close(fd);
	assert_int_equal(sandbox_volume_usage(&t->cfg, "alice", &u), 0);
	assert_true(u.percent >= 95);

	/* The warning state persists. */
	assert_false(sandbox_volume_warned_get(&t->cfg, "alice"));
	assert_int_equal(sandbox_volume_warned_set(&t->cfg, "alice", true), 0);
	assert_true(sandbox_volume_warned_get(&t->cfg, "alice"));
	assert_int_equal(sandbox_volume_warned_set(&t->cfg, "alice", false), 0);
	assert_false(sandbox_volume_warned_get(&t->cfg, "alice"));

	/* Detach: unmounted, loop device released; again is a no-op. */
	assert_int_equal(sandbox_volume_detach(&t->cfg, "alice", &err), 0);
	assert_int_equal(loops_backed_by(t->base), 0);
	assert_int_equal(statfs(home, &sf), 0);
	assert_true(sf.f_type != 0xEF53 || access(file, F_OK) < 0);
	assert_int_equal(access(file, F_OK), -1);
	assert_int_equal(sandbox_volume_detach(&t->cfg, "alice", &err), 0);

	/* Data survives a re-attach; a stale mount is replaced, not stacked. */
	assert_int_equal(sandbox_volume_prepare(&t->cfg, "alice", 0, &err), 0);
	assert_int_equal(sandbox_volume_attach(&t->cfg, "alice", 0, false, &err), 0);
	assert_int_equal(access(file, F_OK), 0);
	assert_int_equal(sandbox_volume_attach(&t->cfg, "alice", 0, false, &err), 0);
	assert_int_equal(loops_backed_by(t->base), 1);
	assert_int_equal(access(file, F_OK), 0);

	/* Busy (an open file): detached lazily, reported, and released on close. */
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sandbox_volume_detach(&t->cfg, "alice", &err), -EBUSY);
	assert_int_equal(access(file, F_OK), -1); /* out of the tree */
	close(fd);
	for (int i = 0; i < 100 && loops_backed_by(t->base); i++)
		usleep(10000);
	assert_int_equal(loops_backed_by(t->base), 0);

	/* detach_all (after a crash) finds mounted volumes by itself. */
	assert_int_equal(sandbox_volume_attach(&t->cfg, "alice", 0, false, &err), 0);
	assert_int_equal(sandbox_volume_detach_all(&t->cfg), 1);
	assert_int_equal(loops_backed_by(t->base), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claim_and_paths),
	    cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_warn_hysteresis),
	    cmocka_unit_test_setup_teardown(test_prepare_creates_sparse_image, setup_state, teardown_state),
	    cmocka_unit_test_setup_teardown(test_prepare_refuses_symlink_and_legacy_home, setup_state, teardown_state),
	    cmocka_unit_test_setup_teardown(test_mkfs_argv, setup_state, teardown_state),
	    cmocka_unit_test_setup_teardown(test_attach_usage_detach, setup_state, teardown_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
