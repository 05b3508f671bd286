/* store: schema, file mode, users, sessions (incl. parent cascade), tokens. */
#include <sqlite3.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "store/store.h"
#include "test.h"

static char tmpdir[64];
static char dbpath[128];

static const char H1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char H2[] = "2222222222222222222222222222222222222222222222222222222222222222";
static const char H3[] = "3333333333333333333333333333333333333333333333333333333333333333";
static const char H4[] = "4444444444444444444444444444444444444444444444444444444444444444";

static int setup(void **state)
{
	static int n;

	nbw_strlcpy(tmpdir, "/tmp/nbw-store-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	nbw_snprintf(dbpath, sizeof(dbpath), "%s/db%d.sqlite", tmpdir, n++);
	return 0;
}

static int teardown(void **state)
{
	nbw_rm_rf(tmpdir);
	return 0;
}

/* Run one SQL query returning one integer, through a second connection. */
static int64_t sql_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql_exec(const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct store *open_db(void)
{
	struct store *s = NULL;

	assert_int_equal(store_open(dbpath, &s), 0);
	assert_non_null(s);
	return s;
}

static void test_open_creates_0600_wal(void **state)
{
	struct stat st;
	struct store *s;
	char wal[160];
	mode_t old = umask(0);

	s = open_db();
	umask(old);
	assert_int_equal(stat(dbpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(store_user_add(s, "alice", "", false), 0);
	nbw_snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	store_close(s);

	assert_int_equal(sql_int("SELECT max(version) FROM schema_version"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM schema_version"), 1);
	/* WAL is persistent in the file header */
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);

	/* reopening applies nothing twice and keeps the data */
	s = open_db();
	assert_int_equal(store_user_get(s, "alice", NULL, NULL, 0), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM schema_version"), 1);
}

static void test_open_tightens_mode_and_refuses_symlink(void **state)
{
	struct stat st;
	struct store *s = NULL;
	char link[160];
	int fd;

	fd = open(dbpath, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	fchmod(fd, 0644);
	close(fd);
	s = open_db();
	store_close(s);
	assert_int_equal(stat(dbpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	nbw_snprintf(link, sizeof(link), "%s/link.db", tmpdir);
	assert_int_equal(symlink(dbpath, link), 0);
	s = NULL;
	assert_true(store_open(link, &s) < 0);
	assert_null(s);

	nbw_snprintf(link, sizeof(link), "%s/nodir/x.db", tmpdir);
	assert_int_equal(store_open(link, &s), -ENOENT);
}

static void test_newer_schema_refused(void **state)
{
	struct store *s = open_db();

	store_close(s);
	sql_exec("INSERT INTO schema_version (version, applied) VALUES (99, 0)");
	s = NULL;
	assert_int_equal(store_open(dbpath, &s), -EPROTO);
	assert_null(s);
}

static void test_users(void **state)
{
	struct store *s = open_db();
	struct store_user u;
	char pw[STORE_PWHASH_SIZE], small[4];

	assert_int_equal(store_user_add(s, "alice", "$argon2id$fake", true), 0);
	assert_int_equal(store_user_add(s, "alice", "", false), -EEXIST);
	assert_int_equal(store_user_add(s, "Bob", "", false), -EINVAL);
	assert_int_equal(store_user_add(s, "bob; DROP TABLE users", "", false), -EINVAL);
	assert_int_equal(store_user_add(s, "bob", NULL, false), 0);

	memset(&u, 0xaa, sizeof(u));
	assert_int_equal(store_user_get(s, "alice", &u, pw, sizeof(pw)), 0);
	assert_string_equal(u.name, "alice");
	assert_true(u.admin);
	assert_true(u.id > 0);
	assert_true(u.created > 0);
	assert_int_equal(u.last_activity, 0);
	assert_string_equal(pw, "$argon2id$fake");
	assert_int_equal(store_user_get(s, "alice", &u, small, sizeof(small)), -ENOBUFS);

	assert_int_equal(store_user_get(s, "bob", &u, pw, sizeof(pw)), 0);
	assert_false(u.admin);
	assert_string_equal(pw, "");
	assert_int_equal(store_user_get(s, "carol", &u, NULL, 0), -ENOENT);

	assert_int_equal(store_user_set_password(s, "bob", "$argon2id$new"), 0);
	assert_int_equal(store_user_get(s, "bob", NULL, pw, sizeof(pw)), 0);
	assert_string_equal(pw, "$argon2id$new");
	assert_int_equal(store_user_set_password(s, "carol", "x"), -ENOENT);

	assert_int_equal(store_user_touch(s, "bob", 1000), 0);
	assert_int_equal(store_user_touch(s, "bob", 500), 0); /* never goes back */
	assert_int_equal(store_user_get(s, "bob", &u, NULL, 0), 0);
	assert_int_equal(u.last_activity, 1000);
	assert_int_equal(store_user_touch(s, "carol", 1), -ENOENT);
	store_close(s);
}

static struct store_session mk(const char *user, int kind, const char *server, const char *parent, int64_t exp)
{
	struct store_session x = { .kind = kind, .expires = exp };

	nbw_strlcpy(x.user, user, sizeof(x.user));
	nbw_strlcpy(x.server, server, sizeof(x.server));
	nbw_strlcpy(x.parent_hash, parent, sizeof(x.parent_hash));
	nbw_strlcpy(x.xsrf, "xsrf-value", sizeof(x.xsrf));
	return x;
}

static void test_sessions(void **state)
{
	struct store *s = open_db();
	struct store_session hub = mk("alice", STORE_SESSION_HUB, "", "", 1000);
	struct store_session srv = mk("alice", STORE_SESSION_SERVER, "alice", H1, 900);
	struct store_session got;

	assert_int_equal(store_user_add(s, "alice", "", false), 0);
	assert_int_equal(store_session_add(s, H1, &hub), 0);
	assert_int_equal(store_session_add(s, H1, &hub), -EEXIST);
	assert_int_equal(store_session_add(s, H2, &srv), 0);

	/* validation and references */
	struct store_session bad = mk("nobody", STORE_SESSION_HUB, "", "", 1000);
	assert_int_equal(store_session_add(s, H3, &bad), -ENOENT);
	bad = mk("alice", STORE_SESSION_SERVER, "alice", H4, 1000);
	assert_int_equal(store_session_add(s, H3, &bad), -ENOENT);
	bad = mk("alice", 7, "", "", 1000);
	assert_int_equal(store_session_add(s, H3, &bad), -EINVAL);
	assert_int_equal(store_session_add(s, "ABC", &hub), -EINVAL);

	assert_int_equal(store_session_get(s, H1, 10, &got), 0);
	assert_int_equal(got.kind, STORE_SESSION_HUB);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.parent_hash, "");
	assert_string_equal(got.xsrf, "xsrf-value");
	assert_int_equal(got.expires, 1000);
	assert_int_equal(store_session_get(s, H2, 10, &got), 0);
	assert_int_equal(got.kind, STORE_SESSION_SERVER);
	assert_string_equal(got.server, "alice");
	assert_string_equal(got.parent_hash, H1);
	assert_int_equal(store_session_get(s, H3, 10, &got), -ENOENT);
	assert_int_equal(store_session_get(s, "garbage", 10, &got), -ENOENT);

	/* deleting the parent takes the server session with it */
	assert_int_equal(store_session_delete(s, H1), 0);
	assert_int_equal(store_session_get(s, H1, 10, &got), -ENOENT);
	assert_int_equal(store_session_get(s, H2, 10, &got), -ENOENT);
	assert_int_equal(store_session_delete(s, H1), -ENOENT);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM sessions"), 0);
}

static void test_session_expiry(void **state)
{
	struct store *s = open_db();
	struct store_session hub = mk("alice", STORE_SESSION_HUB, "", "", 1000);
	struct store_session srv = mk("alice", STORE_SESSION_SERVER, "alice", H1, 5000);
	struct store_session got;

	assert_int_equal(store_user_add(s, "alice", "", false), 0);
	assert_int_equal(store_session_add(s, H1, &hub), 0);
	assert_int_equal(store_session_add(s, H2, &srv), 0);
	assert_int_equal(store_session_get(s, H1, 999, &got), 0);
	/* the server session is dead once its parent is, whatever its own expiry */
	assert_int_equal(store_session_get(s, H2, 1000, &got), -ENOENT);
	assert_int_equal(store_session_get(s, H1, 1000, &got), -ENOENT);
	assert_int_equal(store_session_get(s, H1, 10, &got), -ENOENT); /* deleted, not just hidden */
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM sessions"), 0);
}

static void test_session_delete_user_and_purge(void **state)
{
	struct store *s = open_db();
	struct store_session a = mk("alice", STORE_SESSION_HUB, "", "", 100);
	struct store_session b = mk("bob", STORE_SESSION_HUB, "", "", 100);
	struct store_session c = mk("bob", STORE_SESSION_HUB, "", "", 5000);
	struct store_session got;

	assert_int_equal(store_user_add(s, "alice", "", false), 0);
	assert_int_equal(store_user_add(s, "bob", "", false), 0);
	assert_int_equal(store_session_add(s, H1, &a), 0);
	assert_int_equal(store_session_add(s, H2, &b), 0);
	assert_int_equal(store_session_add(s, H3, &c), 0);
	assert_int_equal(store_session_delete_user(s, "alice"), 0);
	assert_int_equal(store_session_get(s, H1, 10, &got), -ENOENT);
	assert_int_equal(store_session_get(s, H2, 10, &got), 0);

	assert_int_equal(store_token_add(s, H1, "nbw_aaaa", "bob", 100, NULL), 0);
	assert_int_equal(store_token_add(s, H2, "nbw_bbbb", "bob", 0, NULL), 0);
	assert_int_equal(store_purge_expired(s, 200), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM sessions"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM tokens"), 1);
}

static void test_tokens(void **state)
{
	struct store *s = open_db();
	struct store_token t;
	char longnote[200];

	assert_int_equal(store_user_add(s, "alice", "", false), 0);
	assert_int_equal(store_token_add(s, H1, "nbw_abcd", "alice", 0, "laptop"), 0);
	assert_int_equal(store_token_add(s, H1, "nbw_abcd", "alice", 0, NULL), -EEXIST);
	assert_int_equal(store_token_add(s, H2, "nbw_abcd", "nobody", 0, NULL), -ENOENT);
	assert_int_equal(store_token_add(s, H2, "nbw_abcd", "alice", 2000, NULL), 0);
	memset(longnote, 'n', sizeof(longnote) - 1);
	longnote[sizeof(longnote) - 1] = 0;
	assert_int_equal(store_token_add(s, H3, "nbw_abcd", "alice", 0, longnote), -EINVAL);
	assert_int_equal(store_token_add(s, "nothex", "nbw_abcd", "alice", 0, NULL), -EINVAL);

	assert_int_equal(store_token_get(s, H1, 1 << 30, &t), 0);
	assert_string_equal(t.user, "alice");
	assert_string_equal(t.prefix, "nbw_abcd");
	assert_string_equal(t.note, "laptop");
	assert_int_equal(t.expires, 0);
	assert_true(t.id > 0);
	assert_true(t.created > 0);

	assert_int_equal(store_token_get(s, H2, 1999, &t), 0);
	assert_int_equal(t.expires, 2000);
	assert_int_equal(store_token_get(s, H2, 2000, &t), -ENOENT);
	assert_int_equal(store_token_get(s, H3, 0, &t), -ENOENT);
	assert_int_equal(store_token_get(s, "' OR 1=1 --", 0, &t), -ENOENT);

	assert_int_equal(store_token_delete(s, H1), 0);
	assert_int_equal(store_token_get(s, H1, 0, &t), -ENOENT);
	assert_int_equal(store_token_delete(s, H1), -ENOENT);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_0600_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_tightens_mode_and_refuses_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_delete_user_and_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
