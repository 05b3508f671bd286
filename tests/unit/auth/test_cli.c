/* auth CLI: user-add and token-issue against a temporary database. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "test.h"

static char tmpdir[64];
static char dbpath[128];

static int setup(void **state)
{
	static int n;

	nbw_strlcpy(tmpdir, "/tmp/nbw-cli-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	nbw_snprintf(dbpath, sizeof(dbpath), "%s/hub%d.db", tmpdir, n++);
	return 0;
}

static int teardown(void **state)
{
	nbw_rm_rf(tmpdir);
	return 0;
}

/* Capture what a function writes to stdout (fd 1) into buf. */
struct capture {
	int saved;
	char path[160];
};

static void capture_start(struct capture *c)
{
	int fd;

	fflush(stdout);
	nbw_snprintf(c->path, sizeof(c->path), "%s/stdout", tmpdir);
	fd = open(c->path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	c->saved = dup(STDOUT_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	char *out = NULL;
	size_t len;

	fflush(stdout);
	assert_int_equal(dup2(c->saved, STDOUT_FILENO), STDOUT_FILENO);
	close(c->saved);
	assert_int_equal(nbw_read_file(c->path, 4096, &out, &len), 0);
	return out;
}

static int user_add(const char *name, bool admin, const char *input, char **ret_stdout)
{
	struct capture c;
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	char *out;
	int r;

	assert_non_null(in);
	capture_start(&c);
	r = auth_cli_user_add(dbpath, name, admin, in);
	out = capture_end(&c);
	fclose(in);
	if (ret_stdout)
		*ret_stdout = out;
	else
		free(out);
	return r;
}

static int login(const char *name, const char *pw)
{
	struct store *s = NULL;
	struct store_user u;
	int r;

	assert_int_equal(store_open(dbpath, &s), 0);
	r = auth_login(s, name, pw, &u);
	if (r == 0)
		assert_string_equal(u.name, name);
	store_close(s);
	return r;
}

static void test_user_add(void **state)
{
	char *out = NULL;
	struct stat st;
	struct store *s = NULL;
	struct store_user u;

	assert_int_equal(user_add("alice", false, "hunter2hunter2\nignored second line\n", &out), 0);
	assert_string_equal(out, "user 'alice' added\n");
	free(out);
	assert_int_equal(stat(dbpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(login("alice", "hunter2hunter2"), 0);
	assert_int_equal(login("alice", "hunter2hunter2\n"), -EPERM);
	assert_int_equal(login("alice", "ignored second line"), -EPERM);

	/* admin, CRLF line ending stripped, no trailing newline at all */
	assert_int_equal(user_add("root_", true, "adminpass1\r\n", &out), 0);
	assert_string_equal(out, "user 'root_' added (admin)\n");
	free(out);
	assert_int_equal(login("root_", "adminpass1"), 0);
	assert_int_equal(user_add("bob", false, "no-newline-pw", NULL), 0);
	assert_int_equal(login("bob", "no-newline-pw"), 0);

	assert_int_equal(store_open(dbpath, &s), 0);
	assert_int_equal(store_user_get(s, "root_", &u, NULL, 0), 0);
	assert_true(u.admin);
	assert_int_equal(store_user_get(s, "alice", &u, NULL, 0), 0);
	assert_false(u.admin);
	store_close(s);
}

static void test_user_add_errors(void **state)
{
	char *out = NULL;
	char big[AUTH_PASSWORD_MAX + 10];

	assert_int_equal(user_add("alice", false, "longenough\n", NULL), 0);
	/* duplicate: error, nothing on stdout, old password still valid */
	assert_int_equal(user_add("alice", true, "otherpassword\n", &out), -EEXIST);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(login("alice", "longenough"), 0);
	assert_int_equal(login("alice", "otherpassword"), -EPERM);

	/* passwords */
	assert_int_equal(user_add("short", false, "1234567\n", NULL), -EINVAL);
	assert_int_equal(user_add("short", false, "1234567\r\n", NULL), -EINVAL);
	assert_int_equal(user_add("empty", false, "", NULL), -EINVAL);
	assert_int_equal(user_add("empty", false, "\n", NULL), -EINVAL);
	memset(big, 'p', sizeof(big));
	big[AUTH_PASSWORD_MAX + 1] = '\n';
	big[AUTH_PASSWORD_MAX + 2] = 0;
	assert_int_equal(user_add("toolong", false, big, NULL), -EINVAL); /* 1025 bytes */
	big[AUTH_PASSWORD_MAX] = '\n';
	big[AUTH_PASSWORD_MAX + 1] = 0;
	assert_int_equal(user_add("maxlen", false, big, NULL), 0); /* exactly 1024 */
	big[AUTH_PASSWORD_MAX] = 0;
	assert_int_equal(login("maxlen", big), 0);

	/* names */
	assert_int_equal(user_add("Alice", false, "longenough\n", NULL), -EINVAL);
	assert_int_equal(user_add("../etc", false, "longenough\n", NULL), -EINVAL);
	assert_int_equal(user_add("", false, "longenough\n", NULL), -EINVAL);
	assert_int_equal(user_add("a23456789012345678901234567890123", false, "longenough\n", NULL), -EINVAL);
	assert_int_equal(login("short", "1234567"), -EPERM);
	assert_int_equal(login("toolong", big), -EPERM);
}

static int token_issue(const char *name, int64_t expires_in, char *buf, size_t size)
{
	FILE *out = fmemopen(buf, size, "w");
	int r;

	assert_non_null(out);
	memset(buf, 0, size);
	r = auth_cli_token_issue(dbpath, name, expires_in, out);
	fclose(out);
	return r;
}

static void test_token_issue(void **state)
{
	char buf[256], tok[AUTH_TOKEN_SIZE];
	struct store *s = NULL;
	struct store_user u;
	int64_t now = nbw_time_now();

	assert_int_equal(user_add("alice", false, "longenough\n", NULL), 0);
	assert_int_equal(token_issue("alice", 0, buf, sizeof(buf)), 0);
	/* exactly the token and a newline */
	assert_int_equal(strlen(buf), 4 + 43 + 1);
	assert_true(str_has_prefix(buf, "nbw_"));
	assert_int_equal(buf[47], '\n');
	memcpy(tok, buf, 47);
	tok[47] = 0;

	assert_int_equal(store_open(dbpath, &s), 0);
	assert_int_equal(auth_token_check(s, tok, now + 100 * 365 * 86400LL, &u), 0);
	assert_string_equal(u.name, "alice");

	assert_int_equal(token_issue("alice", 60, buf, sizeof(buf)), 0);
	memcpy(tok, buf, 47);
	assert_int_equal(auth_token_check(s, tok, now + 30, &u), 0);
	assert_int_equal(auth_token_check(s, tok, now + 120, &u), -EPERM);
	store_close(s);

	assert_int_equal(token_issue("mallory", 0, buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");
	assert_int_equal(token_issue("Bad", 0, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(token_issue("alice", -1, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_issue, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
