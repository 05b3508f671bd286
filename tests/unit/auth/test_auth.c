/* auth: passwords, login (incl. one argon2id verification on every path),
 * tokens, sessions (hub + server), XSRF and redirect checks. */
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>

#include "auth/auth.h"
#include "test.h"

/* Linked with -Wl,--wrap=crypto_pwhash_str_verify: count verifications. */
int __real_crypto_pwhash_str_verify(const char *str, const char *passwd, unsigned long long passwdlen);
int __wrap_crypto_pwhash_str_verify(const char *str, const char *passwd, unsigned long long passwdlen);
static int verify_calls;
int __wrap_crypto_pwhash_str_verify(const char *str, const char *passwd, unsigned long long passwdlen)
{
	verify_calls++;
	return __real_crypto_pwhash_str_verify(str, passwd, passwdlen);
}

static char tmpdir[64];
static char dbpath[128];
static struct store *db;
static const char PW[] = "correct horse battery";

static int group_setup(void **state)
{
	char hash[STORE_PWHASH_SIZE];

	if (auth_init() < 0)
		return -1;
	nbw_strlcpy(tmpdir, "/tmp/nbw-auth-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	nbw_snprintf(dbpath, sizeof(dbpath), "%s/hub.db", tmpdir);
	if (store_open(dbpath, &db) < 0)
		return -1;
	if (auth_password_hash(PW, hash, sizeof(hash)) < 0)
		return -1;
	if (store_user_add(db, "alice", hash, false) < 0 || store_user_add(db, "root_", hash, true) < 0 ||
	    store_user_add(db, "nopw", "", false) < 0 || store_user_add(db, "bob", hash, false) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	store_close(db);
	nbw_rm_rf(tmpdir);
	return 0;
}

static int64_t sql_count(const char *sql, const char *arg)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void sha256hex(const char *s, char out[STORE_HASH_SIZE])
{
	unsigned char md[32];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
	nbw_hex_encode(md, n, out);
}

/* ---- passwords / login ---- */

static void test_password_hash_verify(void **state)
{
	char h1[STORE_PWHASH_SIZE], h2[STORE_PWHASH_SIZE], small[32];

	assert_int_equal(auth_password_hash("s3cret-password", h1, sizeof(h1)), 0);
	assert_true(str_has_prefix(h1, "$argon2id$"));
	assert_int_equal(auth_password_hash("s3cret-password", h2, sizeof(h2)), 0);
	assert_string_not_equal(h1, h2); /* salted */
	assert_true(auth_password_verify(h1, "s3cret-password"));
	assert_false(auth_password_verify(h1, "s3cret-passwore"));
	assert_false(auth_password_verify(h1, ""));
	assert_false(auth_password_verify("", "s3cret-password"));
	assert_false(auth_password_verify(NULL, "x"));
	assert_false(auth_password_verify(h1, NULL));
	assert_false(auth_password_verify("$argon2id$garbage", "s3cret-password"));
	assert_int_equal(auth_password_hash("x", small, sizeof(small)), -ENOBUFS);
	assert_int_equal(auth_password_hash("", h1, sizeof(h1)), -EINVAL);
}

static void test_login(void **state)
{
	struct store_user u;
	char big[AUTH_PASSWORD_MAX + 10];

	verify_calls = 0;
	memset(&u, 0, sizeof(u));
	assert_int_equal(auth_login(db, "alice", PW, &u), 0);
	assert_int_equal(verify_calls, 1);
	assert_string_equal(u.name, "alice");
	assert_false(u.admin);
	assert_int_equal(auth_login(db, "root_", PW, &u), 0);
	assert_true(u.admin);

	struct {
		const char *user, *pw;
	} bad[] = {
		{ "alice", "correct horse battery " }, /* wrong password */
		{ "alice", "" },
		{ "alice", NULL },
		{ "mallory", PW },         /* unknown user */
		{ "nopw", PW },            /* user without a password */
		{ "nopw", "" },
		{ "Alice", PW },           /* invalid name */
		{ "alice' OR '1'='1", PW },
		{ NULL, PW },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		verify_calls = 0;
		memset(&u, 0x5a, sizeof(u));
		assert_int_equal(auth_login(db, bad[i].user, bad[i].pw, &u), -EPERM);
		/* timing does not tell unknown users from wrong passwords */
		assert_int_equal(verify_calls, 1);
		assert_int_equal((unsigned char)u.name[0], 0x5a); /* untouched */
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	verify_calls = 0;
	assert_int_equal(auth_login(db, "alice", big, &u), -EPERM);
	assert_int_equal(verify_calls, 1);
}

/* ---- login in steps: the verification on another thread ---- */

static void *verify_thread(void *arg)
{
	auth_login_verify(arg);
	return NULL;
}

static int login_threaded(const char *user, const char *pw, struct store_user *u)
{
	struct auth_login_job job;
	pthread_t t;

	assert_int_equal(auth_login_begin(db, user, pw, &job), 0);
	assert_int_equal(verify_calls, 0); /* begin only reads */
	assert_int_equal(pthread_create(&t, NULL, verify_thread, &job), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(verify_calls, 1);
	for (size_t i = 0; i < sizeof(job.password); i++) /* the worker wiped the password */
		assert_int_equal(job.password[i], 0);
	return auth_login_end(db, &job, u);
}

static void test_login_steps(void **state)
{
	struct store_user u;
	char weak[STORE_PWHASH_SIZE], stored[STORE_PWHASH_SIZE];

	verify_calls = 0;
	memset(&u, 0, sizeof(u));
	assert_int_equal(login_threaded("alice", PW, &u), 0);
	assert_string_equal(u.name, "alice");
	verify_calls = 0;
	memset(&u, 0x5a, sizeof(u));
	assert_int_equal(login_threaded("alice", "nope nope nope", &u), -EPERM);
	assert_int_equal((unsigned char)u.name[0], 0x5a);
	verify_calls = 0;
	assert_int_equal(login_threaded("mallory", PW, &u), -EPERM);
	verify_calls = 0;
	assert_int_equal(login_threaded("Not A Name", PW, &u), -EPERM);

	/* a hash with older limits is upgraded by end (on the store's thread) */
	assert_int_equal(crypto_pwhash_str(weak, PW, strlen(PW), crypto_pwhash_OPSLIMIT_MIN, 8192 * 2), 0);
	assert_int_equal(store_user_set_password(db, "bob", weak), 0);
	verify_calls = 0;
	assert_int_equal(login_threaded("bob", PW, &u), 0);
	assert_int_equal(store_user_get(db, "bob", &u, stored, sizeof(stored)), 0);
	assert_string_not_equal(stored, weak);
	assert_int_equal(crypto_pwhash_str_needs_rehash(stored, crypto_pwhash_OPSLIMIT_INTERACTIVE,
							crypto_pwhash_MEMLIMIT_INTERACTIVE),
			 0);
	assert_true(auth_password_verify(stored, PW));
}

static void test_login_xsrf(void **state)
{
	uint8_t key[AUTH_LOGIN_XSRF_KEY], other[AUTH_LOGIN_XSRF_KEY];
	char a[AUTH_LOGIN_XSRF_SIZE], b[AUTH_LOGIN_XSRF_SIZE], t[AUTH_LOGIN_XSRF_SIZE + 8];
	int64_t now = 1700000000;

	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	assert_int_equal(auth_login_xsrf_new(key, now, a), 0);
	assert_int_equal(auth_login_xsrf_new(key, now, b), 0);
	assert_string_not_equal(a, b);
	assert_true(str_has_prefix(a, "v1.1700000000."));
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), strlen(a));
	assert_true(auth_login_xsrf_valid(key, a, now, 3600));
	assert_true(auth_login_xsrf_valid(key, a, now + 3600, 3600));
	assert_false(auth_login_xsrf_valid(key, a, now + 3601, 3600)); /* expired */
	assert_false(auth_login_xsrf_valid(key, a, now - 3600, 3600)); /* from the future */
	assert_false(auth_login_xsrf_valid(other, a, now, 3600));      /* another key (hub restart) */
	/* any changed byte */
	for (size_t i = 0; i < strlen(a); i++) {
		nbw_strlcpy(t, a, sizeof(t));
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_false(auth_login_xsrf_valid(key, t, now, 3600));
	}
	/* a later issue time with the old MAC */
	nbw_strlcpy(t, a, sizeof(t));
	t[3] = '2';
	assert_false(auth_login_xsrf_valid(key, t, now, 2000000000));
	nbw_strlcpy(t, a, sizeof(t));
	t[strlen(t) - 1] = '\0';
	assert_false(auth_login_xsrf_valid(key, t, now, 3600));
	/* what the hub used to accept: any 43 b64url characters */
	assert_false(auth_login_xsrf_valid(key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", now, 3600));
	assert_false(auth_login_xsrf_valid(key, "", now, 3600));
	assert_false(auth_login_xsrf_valid(key, "v1.", now, 3600));
	assert_false(auth_login_xsrf_valid(key, "v1..", now, 3600));
	assert_false(auth_login_xsrf_valid(key, NULL, now, 3600));
}

/* ---- tokens ---- */

static void test_token_issue_check(void **state)
{
	char tok[AUTH_TOKEN_SIZE], prefix[16], hash[STORE_HASH_SIZE], tok2[AUTH_TOKEN_SIZE];
	struct store_user u;

	assert_int_equal(auth_token_issue(db, "alice", 0, "test", tok, prefix), 0);
	assert_true(str_has_prefix(tok, "nbw_"));
	assert_int_equal(strlen(tok), 4 + 43);
	assert_int_equal(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	assert_int_equal(strlen(prefix), 8);
	assert_memory_equal(prefix, tok, 8);

	/* stored only as its SHA-256 */
	sha256hex(tok, hash);
	assert_int_equal(sql_count("SELECT count(*) FROM tokens WHERE hash = ?1", hash), 1);
	assert_int_equal(sql_count("SELECT count(*) FROM tokens WHERE hash = ?1 OR note = ?1 OR prefix = ?1", tok),
			 0);

	memset(&u, 0, sizeof(u));
	assert_int_equal(auth_token_check(db, tok, nbw_time_now(), &u), 0);
	assert_string_equal(u.name, "alice");

	assert_int_equal(auth_token_issue(db, "alice", 0, NULL, tok2, NULL), 0);
	assert_string_not_equal(tok, tok2);

	/* garbage */
	char mangled[AUTH_TOKEN_SIZE];
	nbw_strlcpy(mangled, tok, sizeof(mangled));
	mangled[10] = mangled[10] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_token_check(db, mangled, 0, &u), -EPERM);
	assert_int_equal(auth_token_check(db, hash, 0, &u), -EPERM); /* the hash is not a token */
	assert_int_equal(auth_token_check(db, "", 0, &u), -EPERM);
	assert_int_equal(auth_token_check(db, NULL, 0, &u), -EPERM);
	assert_int_equal(auth_token_check(db, "nbw_", 0, &u), -EPERM);
	mangled[0] = 'x';
	assert_int_equal(auth_token_check(db, mangled, 0, &u), -EPERM);
	char longer[AUTH_TOKEN_SIZE + 2];
	nbw_snprintf(longer, sizeof(longer), "%sA", tok);
	assert_int_equal(auth_token_check(db, longer, 0, &u), -EPERM);

	/* unknown user */
	assert_int_equal(auth_token_issue(db, "mallory", 0, NULL, tok2, prefix), -ENOENT);
	assert_int_equal(auth_token_issue(db, "Bad Name", 0, NULL, tok2, prefix), -EINVAL);

	/* revoke */
	assert_int_equal(auth_token_revoke(db, tok), 0);
	assert_int_equal(auth_token_check(db, tok, 0, &u), -EPERM);
	assert_int_equal(auth_token_revoke(db, tok), -ENOENT);
	assert_int_equal(auth_token_revoke(db, "junk"), -ENOENT);
}

static void test_token_expiry(void **state)
{
	char tok[AUTH_TOKEN_SIZE], prefix[16];
	struct store_user u;

	assert_int_equal(auth_token_issue(db, "bob", 5000, NULL, tok, prefix), 0);
	assert_int_equal(auth_token_check(db, tok, 4999, &u), 0);
	assert_string_equal(u.name, "bob");
	assert_int_equal(auth_token_check(db, tok, 5000, &u), -EPERM);
	assert_int_equal(auth_token_check(db, tok, 9999, &u), -EPERM);
	assert_int_equal(auth_token_issue(db, "bob", -1, NULL, tok, prefix), -EINVAL);
}

/* ---- sessions ---- */

static void test_session_hub(void **state)
{
	char cookie[AUTH_COOKIE_SIZE], hash[STORE_HASH_SIZE];
	struct store_session sess, got;
	struct store_user u;
	int64_t now = nbw_time_now();

	assert_int_equal(auth_session_create(db, "alice", 3600, cookie, &sess), 0);
	assert_int_equal(strlen(cookie), 43);
	assert_int_equal(sess.kind, STORE_SESSION_HUB);
	assert_string_equal(sess.user, "alice");
	assert_int_equal(strlen(sess.xsrf), 43);
	assert_string_not_equal(sess.xsrf, cookie);
	assert_true(sess.expires >= now + 3600 && sess.expires <= now + 3602);

	sha256hex(cookie, hash);
	assert_int_equal(sql_count("SELECT count(*) FROM sessions WHERE id_hash = ?1", hash), 1);
	assert_int_equal(sql_count("SELECT count(*) FROM sessions WHERE id_hash = ?1", cookie), 0);

	memset(&got, 0, sizeof(got));
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now, &got, &u), 0);
	assert_string_equal(got.xsrf, sess.xsrf);
	assert_string_equal(u.name, "alice");
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now, NULL, NULL), 0);
	/* kind mismatch */
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_SERVER, now, &got, &u), -EPERM);

	/* each session its own xsrf */
	char cookie2[AUTH_COOKIE_SIZE];
	struct store_session sess2;
	assert_int_equal(auth_session_create(db, "alice", 3600, cookie2, &sess2), 0);
	assert_string_not_equal(sess2.xsrf, sess.xsrf);
	assert_string_not_equal(cookie2, cookie);

	/* garbage cookies */
	assert_int_equal(auth_session_check(db, "", STORE_SESSION_HUB, now, &got, &u), -EPERM);
	assert_int_equal(auth_session_check(db, NULL, STORE_SESSION_HUB, now, &got, &u), -EPERM);
	assert_int_equal(auth_session_check(db, hash, STORE_SESSION_HUB, now, &got, &u), -EPERM);
	char bad[AUTH_COOKIE_SIZE];
	nbw_strlcpy(bad, cookie, sizeof(bad));
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_session_check(db, bad, STORE_SESSION_HUB, now, &got, &u), -EPERM);
	bad[0] = '.';
	assert_int_equal(auth_session_check(db, bad, STORE_SESSION_HUB, now, &got, &u), -EPERM);

	/* revoke */
	assert_int_equal(auth_session_revoke(db, cookie), 0);
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now, &got, &u), -EPERM);
	assert_int_equal(auth_session_revoke(db, cookie), -ENOENT);
	assert_int_equal(auth_session_check(db, cookie2, STORE_SESSION_HUB, now, &got, &u), 0);

	/* bad arguments */
	assert_int_equal(auth_session_create(db, "mallory", 3600, cookie, NULL), -ENOENT);
	assert_int_equal(auth_session_create(db, "alice", 0, cookie, NULL), -EINVAL);
	assert_int_equal(auth_session_create(db, "alice", -5, cookie, NULL), -EINVAL);
}

static void test_session_expiry(void **state)
{
	char cookie[AUTH_COOKIE_SIZE];
	int64_t now = nbw_time_now();

	assert_int_equal(auth_session_create(db, "bob", 60, cookie, NULL), 0);
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now + 30, NULL, NULL), 0);
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now + 7200, NULL, NULL), -EPERM);
	/* expired sessions are deleted, not just hidden */
	assert_int_equal(auth_session_check(db, cookie, STORE_SESSION_HUB, now, NULL, NULL), -EPERM);
}

static void test_session_server(void **state)
{
	char hub[AUTH_COOKIE_SIZE], srv[AUTH_COOKIE_SIZE], srv2[AUTH_COOKIE_SIZE], other[AUTH_COOKIE_SIZE];
	struct store_session hs, got;
	struct store_user u;
	int64_t now = nbw_time_now();

	assert_int_equal(auth_session_create(db, "alice", 600, hub, &hs), 0);
	assert_int_equal(auth_session_create(db, "alice", 600, other, NULL), 0);
	assert_int_equal(auth_session_create_server(db, hub, "alice", 3600, srv), 0);
	assert_int_equal(auth_session_create_server(db, hub, "bob", 60, srv2), 0);
	assert_string_not_equal(srv, hub);

	assert_int_equal(auth_session_check(db, srv, STORE_SESSION_SERVER, now, &got, &u), 0);
	assert_int_equal(got.kind, STORE_SESSION_SERVER);
	assert_string_equal(got.server, "alice");
	assert_string_equal(got.user, "alice");
	assert_string_equal(u.name, "alice");
	assert_string_not_equal(got.xsrf, hs.xsrf);
	/* never outlives its parent */
	assert_true(got.expires <= hs.expires);
	/* a server cookie is not a hub cookie and vice versa */
	assert_int_equal(auth_session_check(db, srv, STORE_SESSION_HUB, now, &got, &u), -EPERM);
	assert_int_equal(auth_session_check(db, hub, STORE_SESSION_SERVER, now, &got, &u), -EPERM);
	/* a server cookie cannot mint further server cookies */
	assert_int_equal(auth_session_create_server(db, srv, "alice", 60, srv2), -EPERM);
	assert_int_equal(auth_session_create_server(db, "nonsense", "alice", 60, srv2), -EPERM);
	assert_int_equal(auth_session_create_server(db, hub, "../etc", 60, srv2), -EINVAL);

	/* the short-lived one expires on its own, the parent stays */
	assert_int_equal(auth_session_check(db, srv2, STORE_SESSION_SERVER, now + 120, NULL, NULL), -EPERM);
	assert_int_equal(auth_session_check(db, hub, STORE_SESSION_HUB, now + 120, NULL, NULL), 0);

	/* logout (revoking the hub session) revokes the server sessions, not others */
	assert_int_equal(auth_session_revoke(db, hub), 0);
	assert_int_equal(auth_session_check(db, srv, STORE_SESSION_SERVER, now, NULL, NULL), -EPERM);
	assert_int_equal(auth_session_check(db, hub, STORE_SESSION_HUB, now, NULL, NULL), -EPERM);
	assert_int_equal(auth_session_check(db, other, STORE_SESSION_HUB, now, NULL, NULL), 0);
	assert_int_equal(auth_session_create_server(db, hub, "alice", 60, srv2), -EPERM);

	/* a server session dies with its parent's expiry too */
	assert_int_equal(auth_session_create(db, "alice", 100, hub, NULL), 0);
	assert_int_equal(auth_session_create_server(db, hub, "alice", 3600, srv), 0);
	assert_int_equal(auth_session_check(db, srv, STORE_SESSION_SERVER, now + 50, NULL, NULL), 0);
	assert_int_equal(auth_session_check(db, srv, STORE_SESSION_SERVER, now + 200, NULL, NULL), -EPERM);
}

/* ---- XSRF ---- */

static void test_xsrf(void **state)
{
	assert_true(auth_xsrf_ok("abcDEF123_-", "abcDEF123_-"));
	assert_false(auth_xsrf_ok("abcDEF123_-", "abcDEF123_+"));
	assert_false(auth_xsrf_ok("abcDEF123_-", "abcDEF123_"));
	assert_false(auth_xsrf_ok("abcDEF123_-", "abcDEF123_--"));
	assert_false(auth_xsrf_ok("abcDEF123_-", ""));
	assert_false(auth_xsrf_ok("", ""));
	assert_false(auth_xsrf_ok(NULL, NULL));
	assert_false(auth_xsrf_ok("abc", NULL));
	assert_false(auth_xsrf_ok(NULL, "abc"));
	assert_false(auth_xsrf_ok("Abc", "abc"));
}

/* ---- next= ---- */

static void test_next_ok(void **state)
{
	static const char *const good[] = {
		"/",
		"/hub/home",
		"/user/alice/lab",
		"/user/alice/tree?path=a%20b",
		"/user/alice/notebooks/caf%C3%A9.ipynb",
		"/user/alice/lab#cell-3",
		"/./hub",
		"/@evil.com",
		"/hub/login?x=1&y=2",
	};
	static const char *const evil[] = {
		"",
		"//evil.com",
		"///evil.com",
		"/\\evil.com",
		"\\\\evil.com",
		"\\/evil.com",
		"http://evil.com/",
		"https:evil.com",
		"javascript:alert(1)",
		"evil.com",
		"hub/home",
		" /hub/home",
		"/hub home",
		"/\t/evil.com",
		"/\n/evil.com",
		"/hub\r\nSet-Cookie: x=1",
		"/hub\x7f",
		"/hub/\xc3\xa9",
		"/%2F%2Fevil.com",
		"/%2f%2fevil.com",
		"/%5Cevil.com",
		"/%5cevil.com",
		"/%252F%252Fevil.com",
		"/%09/evil.com",
		"/%0d%0aSet-Cookie:x",
		"/%00",
		"/%",
		"/%2",
		"/%zz",
		"/a\\b",
		"/hub/spawn?next=%2Fuser", /* encoded '/' anywhere: simplest safe rule */
	};
	char longer[2100];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!auth_next_ok(good[i]))
			fail_msg("auth_next_ok(\"%s\") refused a same-origin path", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(evil); i++)
		if (auth_next_ok(evil[i]))
			fail_msg("auth_next_ok(\"%s\") accepted an evil target", evil[i]);
	assert_false(auth_next_ok(NULL));

	longer[0] = '/';
	memset(longer + 1, 'a', 2047);
	longer[2048] = 0;
	assert_true(auth_next_ok(longer));
	longer[2048] = 'a';
	longer[2049] = 0;
	assert_false(auth_next_ok(longer));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash_verify),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_steps),
		cmocka_unit_test(test_login_xsrf),
		cmocka_unit_test(test_token_issue_check),
		cmocka_unit_test(test_token_expiry),
		cmocka_unit_test(test_session_hub),
		cmocka_unit_test(test_session_expiry),
		cmocka_unit_test(test_session_server),
		cmocka_unit_test(test_xsrf),
		cmocka_unit_test(test_next_ok),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
