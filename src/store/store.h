/* store: the hub's SQLite state (WAL) at state_dir/hub/nbwarden.db.
 * Runs only in the unprivileged hub process (and the hub binary's CLI modes).
 * Every query is a prepared statement; secrets are stored only as hashes.
 * Returns 0 / -ENOENT / -EEXIST / -EINVAL / -EIO (SQLite failure, logged once at debug).
 * The file is created 0600 if absent (its directory must exist); store_open
 * applies pending schema migrations and fails with -EPROTO if the database was
 * written by a newer nbwarden. One struct store per thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

#define STORE_HASH_SIZE 65 /* SHA-256 hex + NUL */
#define STORE_PWHASH_SIZE 128

struct store;

struct store_user {
	int64_t id;
	char name[NBW_USERNAME_MAX + 1];
	bool admin;
	int64_t created;       /* unix seconds */
	int64_t last_activity; /* unix seconds, 0 = never */
};

enum store_session_kind { STORE_SESSION_HUB = 1, STORE_SESSION_SERVER = 2 };

struct store_session {
	char user[NBW_USERNAME_MAX + 1];
	int kind;                              /* enum store_session_kind */
	char server[NBW_USERNAME_MAX + 1];     /* SERVER kind: the server this cookie opens */
	char parent_hash[STORE_HASH_SIZE];     /* SERVER kind: the hub session it came from */
	char xsrf[64];                         /* per-session XSRF token (not a credential on its own) */
	int64_t expires;
};

struct store_token {
	int64_t id;
	char user[NBW_USERNAME_MAX + 1];
	char prefix[16];  /* first chars of the token, safe to show/log */
	int64_t created;
	int64_t expires;  /* 0 = never */
	char note[128];
};

int store_open(const char *path, struct store **ret);
void store_close(struct store *s);

int store_user_add(struct store *s, const char *name, const char *pwhash, bool admin);
int store_user_set_password(struct store *s, const char *name, const char *pwhash);
/* pwhash_out may be NULL; otherwise receives the stored hash ("" if none). */
int store_user_get(struct store *s, const char *name, struct store_user *ret, char *pwhash_out, size_t pwhash_size);
int store_user_touch(struct store *s, const char *name, int64_t ts);

int store_session_add(struct store *s, const char *id_hash, const struct store_session *sess);
/* -ENOENT when absent or expired (expired rows are deleted). */
int store_session_get(struct store *s, const char *id_hash, int64_t now, struct store_session *ret);
/* Deletes the session and every SERVER session whose parent it is. */
int store_session_delete(struct store *s, const char *id_hash);
/* Deletes every session (hub and server) of a user, e.g. after a password change. */
int store_session_delete_user(struct store *s, const char *user);

int store_token_add(struct store *s, const char *hash, const char *prefix, const char *user, int64_t expires,
		    const char *note);
/* -ENOENT when absent or expired. */
int store_token_get(struct store *s, const char *hash, int64_t now, struct store_token *ret);
/* Revoke a token by its hash; -ENOENT if there is none. */
int store_token_delete(struct store *s, const char *hash);

/* Delete expired sessions (and the server sessions bound to them) and expired
 * tokens. Lookups already ignore expired rows; this only keeps the file small. */
int store_purge_expired(struct store *s, int64_t now);
