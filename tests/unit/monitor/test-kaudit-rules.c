/* kaudit: the per-sandbox audit rules through the real kernel (root only).
 *
 * A throwaway host uid range (base 3000000000, slot 5: no real sandbox is
 * there) gets rules through kaudit_sandbox_add; a child process setresuid()s
 * into the slot's range, reads files, opens sockets and execs /bin/true, and
 * the reader (kaudit_open's multicast socket) must turn the kernel's records
 * into sandbox.*.audited events — and without the rules, or after
 * kaudit_sandbox_remove, into none. The kernel's rule list (AUDIT_LIST_RULES,
 * read here independently of kaudit.c) must hold none of the range's rules
 * afterwards, whatever happened: every test's teardown sweeps them.
 *
 * Kernel audit is a host-wide setting that the e2e daemons also switch on
 * and off: the tests take the e2e suite's machine lock first. */
#include "test.h"

#include "common/common.h"
#include "monitor/kaudit.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BASE 3000000000u
#define SLOT 5u
#define UID (BASE + SLOT * 65536u + 1000u)
#define KEY_PREFIX "nbwarden-a-3000000000-"
#define SLOT_KEY "nbwarden-a-3000000000-5"
#define LOCK_WAIT_S 1800

static int lock_fd = -1;
static char dir[64];

/* ---- the kernel's rule list, read without kaudit.c ---- */

static bool string_field(uint32_t f)
{
	return (f >= AUDIT_SUBJ_USER && f <= AUDIT_SUBJ_CLR) || (f >= AUDIT_OBJ_USER && f <= AUDIT_OBJ_LEV_HIGH) ||
	       f == AUDIT_WATCH || f == AUDIT_DIR || f == AUDIT_FILTERKEY || f == AUDIT_EXE;
}

/* Is the rule one of this test's range: a per-slot key of BASE, or the
 * global key with uid >= BASE? */
static bool ours(const struct audit_rule_data *d, size_t len, const char *only_key)
{
	size_t off = 0;
	bool base_uid = false;
	const char *key = NULL;
	size_t kn = 0;

	if (len < sizeof(*d) || d->field_count > AUDIT_MAX_FIELDS || d->buflen > len - sizeof(*d))
		return false;
	for (uint32_t i = 0; i < d->field_count; i++) {
		if (d->fields[i] == AUDIT_UID && d->fieldflags[i] == AUDIT_GREATER_THAN_OR_EQUAL &&
		    d->values[i] >= BASE)
			base_uid = true;
		if (!string_field(d->fields[i]))
			continue;
		if (d->values[i] > d->buflen - off)
			return false;
		if (d->fields[i] == AUDIT_FILTERKEY) {
			key = d->buf + off;
			kn = d->values[i];
		}
		off += d->values[i];
	}
	if (!key)
		return false;
	if (only_key)
		return kn == strlen(only_key) && !memcmp(key, only_key, kn);
	return (kn > strlen(KEY_PREFIX) && !memcmp(key, KEY_PREFIX, strlen(KEY_PREFIX))) ||
	       (kn == strlen(KAUDIT_KEY) && !memcmp(key, KAUDIT_KEY, kn) && base_uid);
}

/* Count (and with del, delete) the rules of this test's range; only_key:
 * just that key. -1 when the kernel cannot be asked. */
static int sweep(const char *only_key, bool del)
{
	static _Alignas(8) char buf[1 << 15], msg[1 << 15];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr req = { .nlmsg_len = NLMSG_LENGTH(0), .nlmsg_type = AUDIT_LIST_RULES,
				.nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 77 };
	struct timeval tv = { .tv_sec = 3 };
	int lfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	int dfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	int found = -1, seq = 1000;

	if (lfd < 0 || dfd < 0)
		goto out;
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(dfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(lfd, &req, req.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		goto out;
	found = 0;
	for (int n = 0; n < 100000; n++) {
		ssize_t len = recv(lfd, buf, sizeof(buf), 0);
		int left = (int)len;
		if (len < 0) {
			found = -1;
			goto out;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != req.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				found = -1;
				goto out;
			}
			if (h->nlmsg_type != AUDIT_LIST_RULES ||
			    !ours(NLMSG_DATA(h), h->nlmsg_len - NLMSG_HDRLEN, only_key))
				continue;
			found++;
			if (!del)
				continue;
			struct nlmsghdr *m = (struct nlmsghdr *)msg;
			memcpy(msg, h, h->nlmsg_len);
			m->nlmsg_type = AUDIT_DEL_RULE;
			m->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			m->nlmsg_seq = (uint32_t)seq++;
			if (sendto(dfd, msg, m->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) > 0)
				(void)recv(dfd, msg, sizeof(msg), 0);
		}
	}
out:
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0)
		close(dfd);
	return found;
}

static void on_term(int sig)
{
	(void)sweep(NULL, true);
	_exit(128 + sig);
}

/* ---- the reader and its events ---- */

struct sink {
	json_t *events;
};

static const char *lookup(void *ud, uint32_t slot)
{
	return slot == SLOT ? "kt" : NULL;
}

static void emit(void *ud, const char *event, const char *user, json_t *fields)
{
	struct sink *s = ud;
	json_array_append_new(s->events, json_pack("{s:s, s:s, s:O}", "event", event, "user", user, "fields", fields));
}

struct fixture {
	struct sink sink;
	struct kaudit *k;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *ev_s(json_t *e, const char *name)
{
	if (!strcmp(name, "event") || !strcmp(name, "user"))
		return json_string_value(json_object_get(e, name));
	return json_string_value(json_object_get(json_object_get(e, "fields"), name));
}

static json_int_t ev_pid(json_t *e)
{
	return json_integer_value(json_object_get(json_object_get(e, "fields"), "pid"));
}

/* ---- the sandbox stand-in ---- */

enum { CHILD_OK = 0, CHILD_UID = 10, CHILD_READ, CHILD_UDP, CHILD_TCP, CHILD_EXEC, CHILD_PING };

/* As uid UID: read data (by a name relative to its directory), secret and
 * skip/x, open a UDP and a TCP socket, exec /bin/true in a child, then
 * (the sentinel: once its record is in, all earlier ones are) a ping socket,
 * which the kernel refuses with EACCES (gid outside ping_group_range). */
static pid_t run_child(void)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	char p[128], b[16];
	int fd, st;
	if (setgroups(0, NULL) < 0 || setresgid(UID, UID, UID) < 0 || setresuid(UID, UID, UID) < 0)
		_exit(CHILD_UID);
	if (chdir(dir) < 0 || (fd = open("data", O_RDONLY | O_CLOEXEC)) < 0 || read(fd, b, sizeof(b)) < 0)
		_exit(CHILD_READ);
	close(fd);
	nbw_snprintf(p, sizeof(p), "%s/secret", dir);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		_exit(CHILD_READ);
	close(fd);
	nbw_snprintf(p, sizeof(p), "%s/skip/x", dir);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		_exit(CHILD_READ);
	close(fd);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		_exit(CHILD_UDP);
	close(fd);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		_exit(CHILD_TCP);
	close(fd);
	pid_t g = fork();
	if (g == 0) {
		char *const argv[] = { "true", NULL }, *const envp[] = { NULL };
		execve("/bin/true", argv, envp);
		_exit(127);
	}
	if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		_exit(CHILD_EXEC);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd >= 0 || errno != EACCES)
		_exit(CHILD_PING);
	_exit(CHILD_OK);
}

/* Run the child and collect the events up to its sentinel. */
static json_t *child_events(struct fixture *f, pid_t *ret_pid)
{
	int st;
	pid_t pid = run_child();
	uint64_t deadline;
	json_t *got = json_array(), *e;
	size_t i;

	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != CHILD_OK)
		fail_msg("the child failed at step %d (see run_child)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	json_array_clear(f->sink.events);
	for (deadline = now_ms() + 5000; now_ms() < deadline;) {
		struct pollfd pfd = { .fd = kaudit_fd(f->k), .events = POLLIN };
		bool sentinel = false;
		(void)poll(&pfd, 1, 100);
		kaudit_dispatch(f->k, now_ms());
		kaudit_tick(f->k, now_ms());
		json_array_foreach(f->sink.events, i, e)
		{
			if (!strcmp(ev_s(e, "event"), "sandbox.network.denied") && ev_pid(e) == pid)
				sentinel = true;
		}
		if (sentinel)
			break;
	}
	kaudit_tick(f->k, now_ms() + 1000); /* anything still waiting for its EOE */
	json_array_foreach(f->sink.events, i, e)
	{
		if (ev_s(e, "user") && !strcmp(ev_s(e, "user"), "kt"))
			json_array_append(got, e);
	}
	*ret_pid = pid;
	return got;
}

static json_t *find(json_t *events, const char *event, const char *path)
{
	size_t i;
	json_t *e;

	json_array_foreach(events, i, e)
	{
		if (!strcmp(ev_s(e, "event"), event) && (!path || (ev_s(e, "path") && !strcmp(ev_s(e, "path"), path))))
			return e;
	}
	return NULL;
}

static size_t count_audited(json_t *events)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(events, i, e)
	{
		const char *ev = ev_s(e, "event");
		n += strlen(ev) > 8 && !strcmp(ev + strlen(ev) - 8, ".audited");
	}
	return n;
}

static void dump(json_t *events)
{
	char *s = json_dumps(events, JSON_INDENT(1));
	print_message("events: %s\n", s ? s : "?");
	free(s);
}

#define FAIL(ev, ...)                                                                                        \
	do {                                                                                                 \
		dump(ev);                                                                                    \
		fail_msg(__VA_ARGS__);                                                                       \
	} while (0)

/* ---- fixtures ---- */

static int setup(void **state)
{
	static struct fixture f;
	char p[128];
	int fd;

	if (geteuid() != 0) {
		*state = NULL;
		return 0;
	}
	if (lock_fd < 0) {
		/* the e2e suite's (tests/e2e/conftest.py) */
		const char *path =
		    access("/run/lock", F_OK) == 0 ? "/run/lock/nbwarden-e2e.lock" : "/tmp/nbwarden-e2e.lock";
		lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		assert_true(lock_fd >= 0);
		for (int waited = 0; flock(lock_fd, LOCK_EX | LOCK_NB) < 0; waited++) {
			if (waited == 0)
				print_message("waiting for %s (an e2e run owns the host's audit settings)\n", path);
			if (waited >= LOCK_WAIT_S * 2)
				fail_msg("%s held for more than %d s", path, LOCK_WAIT_S);
			usleep(500000);
		}
	}
	nbw_strlcpy(dir, "/tmp/nbw-kaudit-rules-XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	nbw_snprintf(p, sizeof(p), "%s/skip", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	static const char *const files[] = { "data", "secret", "skip/x" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		nbw_snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x\n", 2), 2);
		close(fd);
	}
	f.sink.events = json_array();
	assert_int_equal(kaudit_new(BASE, lookup, emit, &f.sink, &f.k), 0);
	assert_int_equal(kaudit_open(f.k), 0);
	assert_true(kaudit_fd(f.k) >= 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	if (!f)
		return 0;
	kaudit_free(f->k);
	f->k = NULL;
	json_decref(f->sink.events);
	/* Whatever the test did or failed to do: none of the range's rules stay. */
	int left = sweep(NULL, true);
	static const char *const files[] = { "data", "secret", "skip/x", "skip" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		nbw_snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		(void)remove(p);
	}
	rmdir(dir);
	if (left != 0) {
		print_error("kaudit_free left %d rules of uid base %u in the kernel (now swept)\n", left, BASE);
		return -1;
	}
	return 0;
}

#define NEED_ROOT()                                                                                          \
	do {                                                                                                 \
		if (!*state)                                                                                 \
			skip(); /* only when not root */                                                     \
	} while (0)

/* ---- tests ---- */

/* Watches and a protocol; without them (control) and after removal, nothing. */
static void test_watches(void **state)
{
	NEED_ROOT();
	struct fixture *f = *state;
	char data[128], truebin[PATH_MAX], err[512];
	json_t *ev, *e;
	pid_t pid;

	assert_non_null(realpath("/bin/true", truebin));
	nbw_snprintf(data, sizeof(data), "%s/data", dir);

	/* Control: no per-slot rules, no audited event (the sentinel still comes). */
	ev = child_events(f, &pid);
	e = find(ev, "sandbox.network.denied", NULL);
	if (!e)
		FAIL(ev, "no sandbox.network.denied for the ping socket");
	assert_string_equal(ev_s(e, "protocol"), "icmp");
	assert_string_equal(ev_s(e, "family"), "inet");
	assert_string_equal(ev_s(e, "error"), "EACCES");
	assert_int_equal(ev_pid(e), pid);
	if (count_audited(ev))
		FAIL(ev, "audited events without any rule");
	json_decref(ev);

	const struct kaudit_watch w[] = {
		{ .kind = KAUDIT_WATCH_EXEC, .path = truebin }, /* /usr/bin/true on a merged /usr */
		{ .kind = KAUDIT_WATCH_READ, .path = data },
	};
	const struct kaudit_sandbox_rules r = { .watches = w, .n_watches = 2, .net = KAUDIT_NET_UDP };
	if (kaudit_sandbox_add(f->k, SLOT, &r, err, sizeof(err)) < 0)
		fail_msg("kaudit_sandbox_add: %s", err);
	assert_int_equal(kaudit_sandbox_rule_count(f->k, SLOT), 2 + 2);
	assert_int_equal(sweep(SLOT_KEY, false), 4);

	ev = child_events(f, &pid);
	e = find(ev, "sandbox.exec.audited", "/bin/true"); /* as the process named it */
	if (!e)
		FAIL(ev, "no sandbox.exec.audited for /bin/true");
	assert_true(ev_pid(e) > pid); /* the grandchild */
	e = find(ev, "sandbox.file.audited", data);
	if (!e)
		FAIL(ev, "no sandbox.file.audited for %s", data);
	assert_string_equal(ev_s(e, "access"), "read");
	assert_int_equal(ev_pid(e), pid);
	e = find(ev, "sandbox.network.audited", NULL);
	if (!e)
		FAIL(ev, "no sandbox.network.audited");
	assert_string_equal(ev_s(e, "protocol"), "udp");
	assert_string_equal(ev_s(e, "family"), "inet");
	assert_int_equal(ev_pid(e), pid);
	/* exactly these: not secret, not skip/x, not the TCP socket, not the loader's reads */
	if (count_audited(ev) != 3)
		FAIL(ev, "%zu audited events, want 3", count_audited(ev));
	json_decref(ev);

	/* Removed: nothing in the kernel, nothing recorded. */
	assert_int_equal(kaudit_sandbox_remove(f->k, SLOT), 0);
	assert_int_equal(kaudit_sandbox_rule_count(f->k, SLOT), 0);
	assert_int_equal(sweep(SLOT_KEY, false), 0);
	assert_int_equal(kaudit_sandbox_remove(f->k, SLOT), 0);
	ev = child_events(f, &pid);
	if (count_audited(ev))
		FAIL(ev, "audited events after kaudit_sandbox_remove");
	json_decref(ev);
}

/* Posture "audit" (every exec, every read) with an exception tree. */
static void test_postures_and_exception(void **state)
{
	NEED_ROOT();
	struct fixture *f = *state;
	char data[128], secret[128], skip[128], skipx[128], err[512];
	json_t *ev, *e;
	pid_t pid;

	nbw_snprintf(data, sizeof(data), "%s/data", dir);
	nbw_snprintf(secret, sizeof(secret), "%s/secret", dir);
	nbw_snprintf(skip, sizeof(skip), "%s/skip", dir);
	nbw_snprintf(skipx, sizeof(skipx), "%s/skip/x", dir);
	const struct kaudit_watch w[] = {
		{ .kind = KAUDIT_WATCH_READ, .tree = true, .never = true, .path = skip },
	};
	const struct kaudit_sandbox_rules r = { .watches = w, .n_watches = 1, .all_exec = true, .all_read = true };
	if (kaudit_sandbox_add(f->k, SLOT, &r, err, sizeof(err)) < 0)
		fail_msg("kaudit_sandbox_add: %s", err);
	assert_int_equal(sweep(SLOT_KEY, false), 3);

	ev = child_events(f, &pid);
	/* "data" was opened relative to the child's cwd */
	e = find(ev, "sandbox.file.audited", data);
	if (!e || !find(ev, "sandbox.file.audited", secret) || !find(ev, "sandbox.exec.audited", "/bin/true"))
		FAIL(ev, "missing audited read of %s or %s, or exec of /bin/true", data, secret);
	assert_string_equal(ev_s(e, "access"), "read");
	if (find(ev, "sandbox.file.audited", skipx))
		FAIL(ev, "%s was recorded despite the exception for %s", skipx, skip);
	if (find(ev, "sandbox.network.audited", NULL))
		FAIL(ev, "a socket was recorded without a net rule");
	json_decref(ev);

	/* Replacing the rules: only the new ones are in. */
	const struct kaudit_sandbox_rules r2 = { .net = KAUDIT_NET_TCP };
	if (kaudit_sandbox_add(f->k, SLOT, &r2, err, sizeof(err)) < 0)
		fail_msg("kaudit_sandbox_add: %s", err);
	assert_int_equal(sweep(SLOT_KEY, false), 2);
	ev = child_events(f, &pid);
	e = find(ev, "sandbox.network.audited", NULL);
	if (!e || count_audited(ev) != 1)
		FAIL(ev, "want exactly one sandbox.network.audited (tcp)");
	assert_string_equal(ev_s(e, "protocol"), "tcp");
	json_decref(ev);
	/* left in place on purpose: kaudit_free must remove it (teardown checks) */
}

/* A monitor that crashed left its slot rules: the next kaudit_open of the
 * same base removes them. */
static void test_stale_rules_removed(void **state)
{
	NEED_ROOT();
	struct fixture *f = *state;
	struct sink s2 = { .events = json_array() };
	struct kaudit *next = NULL;
	char data[128], err[512];

	nbw_snprintf(data, sizeof(data), "%s/data", dir);
	const struct kaudit_watch w[] = { { .kind = KAUDIT_WATCH_ACCESS, .path = data } };
	const struct kaudit_sandbox_rules r = { .watches = w, .n_watches = 1, .all_exec = true,
						.net = KAUDIT_NET_ALL };
	if (kaudit_sandbox_add(f->k, SLOT, &r, err, sizeof(err)) < 0)
		fail_msg("kaudit_sandbox_add: %s", err);
	assert_int_equal(sweep(SLOT_KEY, false), 1 + 1 + 8);
	assert_int_equal(kaudit_new(BASE, lookup, emit, &s2, &next), 0);
	assert_int_equal(kaudit_open(next), 0);
	assert_int_equal(sweep(SLOT_KEY, false), 0);
	kaudit_free(next);
	json_decref(s2.events);
}

/* A set that fails the checks leaves the slot's rules as they were. */
static void test_failed_add_keeps_rules(void **state)
{
	NEED_ROOT();
	struct fixture *f = *state;
	char data[128], gone[128], err[512];

	nbw_snprintf(data, sizeof(data), "%s/data", dir);
	nbw_snprintf(gone, sizeof(gone), "%s/gone", dir);
	const struct kaudit_watch w[] = {
		{ .kind = KAUDIT_WATCH_WRITE, .path = data },
		{ .kind = KAUDIT_WATCH_READ, .tree = true, .path = dir },
	};
	const struct kaudit_sandbox_rules r = { .watches = w, .n_watches = 2, .all_read = true };
	if (kaudit_sandbox_add(f->k, SLOT, &r, err, sizeof(err)) < 0)
		fail_msg("kaudit_sandbox_add: %s", err);
	assert_int_equal(sweep(SLOT_KEY, false), 3);
	const struct kaudit_watch bad[] = { { .kind = KAUDIT_WATCH_READ, .path = data },
					    { .kind = KAUDIT_WATCH_READ, .tree = true, .path = gone } };
	const struct kaudit_sandbox_rules rb = { .watches = bad, .n_watches = 2 };
	assert_int_equal(kaudit_sandbox_add(f->k, SLOT, &rb, err, sizeof(err)), -ENOENT);
	if (!strstr(err, gone))
		fail_msg("error does not name %s: %s", gone, err);
	assert_int_equal(sweep(SLOT_KEY, false), 3);
	assert_int_equal(kaudit_sandbox_rule_count(f->k, SLOT), 3);
	assert_int_equal(kaudit_sandbox_remove(f->k, SLOT), 0);
	assert_int_equal(sweep(SLOT_KEY, false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_watches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_postures_and_exception, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_rules_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_add_keeps_rules, setup, teardown),
	};

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
