/* auth: local accounts, API tokens, session cookies, XSRF and redirect checks.
 * Pure policy + crypto on top of store; no HTTP here (the hub passes strings).
 * Secrets (passwords, tokens, cookie values) are wiped after use and never logged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

#define AUTH_TOKEN_SIZE 64       /* "nbw_" + 43 b64url chars + NUL fits */
#define AUTH_COOKIE_SIZE 64      /* session cookie value */
#define AUTH_PASSWORD_MAX 1024

int auth_init(void); /* sodium_init */

/* argon2id (libsodium crypto_pwhash_str, interactive limits). */
int auth_password_hash(const char *password, char *out, size_t out_size);
bool auth_password_verify(const char *hash, const char *password);

/* Check a login. Always does one argon2id verification (a dummy hash for
 * unknown users) so timing does not reveal which names exist.
 * 0 and *ret on success; -EPERM bad credentials (unknown user or wrong password). */
int auth_login(struct store *s, const char *user, const char *password, struct store_user *ret);

/* The same check in three steps, so that the argon2id verification can run
 * on a worker thread: begin (store access: call on the thread that owns the
 * store), verify (only hashing, no store: any thread), end (store access
 * again: rehash upgrade; returns what auth_login returns and wipes the job).
 * auth_login_begin() copies the password; the job holds secrets until end or
 * auth_login_job_wipe(). auth_init() must have run; the first begin computes
 * the dummy hash, so call it before any verify runs concurrently. */
struct auth_login_job {
	char user[NBW_USERNAME_MAX + 1];
	char hash[STORE_PWHASH_SIZE];
	char password[AUTH_PASSWORD_MAX + 1];
	size_t pwlen;
	bool real; /* hash is the user's own (not the dummy) */
	bool ok;   /* verify: the password matched hash */
	int err;   /* store error from begin */
	char rehash[STORE_PWHASH_SIZE];
	struct store_user u;
};
int auth_login_begin(struct store *s, const char *user, const char *password, struct auth_login_job *job);
void auth_login_verify(struct auth_login_job *job);
int auth_login_end(struct store *s, struct auth_login_job *job, struct store_user *ret);
void auth_login_job_wipe(struct auth_login_job *job);

/* The login form's XSRF cookie (there is no session yet): a value the hub
 * minted, HMAC-SHA256-bound to key, carrying its issue time. Valid when the
 * HMAC verifies and it is at most max_age seconds old. */
#define AUTH_LOGIN_XSRF_KEY 32
#define AUTH_LOGIN_XSRF_SIZE 112
int auth_login_xsrf_new(const uint8_t key[AUTH_LOGIN_XSRF_KEY], int64_t now, char out[AUTH_LOGIN_XSRF_SIZE]);
bool auth_login_xsrf_valid(const uint8_t key[AUTH_LOGIN_XSRF_KEY], const char *value, int64_t now, int64_t max_age);

/* Token: "nbw_" + 32 random bytes b64url. Stored as SHA-256 hex. */
int auth_token_issue(struct store *s, const char *user, int64_t expires_at, const char *note,
		     char token_out[AUTH_TOKEN_SIZE], char prefix_out[16]);
/* 0 and *ret (user loaded) if valid and unexpired; -EPERM otherwise
 * (-EIO/-ENOMEM pass through: treat every r < 0 as "not authenticated"). */
int auth_token_check(struct store *s, const char *token, int64_t now, struct store_user *ret);
/* Revoke a token given its value; -ENOENT if it is not (or no longer) stored. */
int auth_token_revoke(struct store *s, const char *token);

/* Sessions. A hub session cookie (Path=/hub/) and, per server opened from it, a
 * server cookie (Path=/user/NAME/) bound to it; logout deletes both. */
int auth_session_create(struct store *s, const char *user, int64_t max_age, char cookie_out[AUTH_COOKIE_SIZE],
			struct store_session *ret);
int auth_session_create_server(struct store *s, const char *parent_cookie, const char *server, int64_t max_age,
			       char cookie_out[AUTH_COOKIE_SIZE]);
/* 0 and *ret_sess and *ret_user (either may be NULL) when the cookie names a live
 * session of that kind; -EPERM for unknown, expired, wrong-kind or malformed
 * cookies. A SERVER session never outlives its parent hub session. */
int auth_session_check(struct store *s, const char *cookie, int kind, int64_t now, struct store_session *ret_sess,
		       struct store_user *ret_user);
int auth_session_revoke(struct store *s, const char *cookie);

/* XSRF: constant-time compare of the submitted value with the expected one. */
bool auth_xsrf_ok(const char *expected, const char *submitted);

/* Redirect targets: true only for a same-origin absolute path ("/..." but not
 * "//", "/\\", no scheme, no control chars or backslashes, <= 2048 bytes).
 * Also refused: raw space and non-ASCII bytes (percent-encode them), malformed
 * %-escapes, and %-encoded '/', '\\', '%' or control bytes. Callers pass the
 * value after URL-decoding the query string once. */
bool auth_next_ok(const char *next);

/* CLI helpers run by the hub binary (already unprivileged). */
int auth_cli_user_add(const char *db_path, const char *name, bool admin, FILE *password_in);
int auth_cli_token_issue(const char *db_path, const char *name, int64_t expires_in, FILE *out);
