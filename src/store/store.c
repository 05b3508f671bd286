/* store: the hub's SQLite state. See store.h for the contract.
 *
 * One connection per process, used from one thread (the hub's libuv loop or a
 * CLI command). Statements are prepared once, cached, and reset after each use
 * by a cleanup attribute, so no code path can leave one half-stepped. */
#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

/* ---- schema ----
 * Migrations are applied in order, each in the same IMMEDIATE transaction as
 * the schema_version bookkeeping, so two processes opening a fresh database at
 * once cannot both apply one. Never edit an existing entry; append a new one. */
static const char *const migrations[] = {
	/* 1: users, sessions, tokens */
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  pwhash TEXT NOT NULL DEFAULT '',"
	"  admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),"
	"  created INTEGER NOT NULL,"
	"  last_activity INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE sessions ("
	"  id_hash TEXT PRIMARY KEY NOT NULL,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,"
	"  kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"
	"  server TEXT NOT NULL DEFAULT '',"
	"  parent_hash TEXT REFERENCES sessions(id_hash) ON DELETE CASCADE,"
	"  xsrf TEXT NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  CHECK ((kind = 1 AND parent_hash IS NULL) OR (kind = 2 AND parent_hash IS NOT NULL))"
	");"
	"CREATE INDEX sessions_parent ON sessions(parent_hash);"
	"CREATE INDEX sessions_user ON sessions(user);"
	"CREATE INDEX sessions_expires ON sessions(expires);"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  prefix TEXT NOT NULL,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL DEFAULT 0,"
	"  note TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX tokens_user ON tokens(user);",
};

/* ---- cached statements ---- */
enum stmt_id {
	ST_USER_ADD,
	ST_USER_SET_PW,
	ST_USER_GET,
	ST_USER_TOUCH,
	ST_SESSION_ADD,
	ST_SESSION_GET,
	ST_SESSION_DEL_CHILDREN,
	ST_SESSION_DEL,
	ST_SESSION_DEL_USER,
	ST_SESSION_PURGE,
	ST_TOKEN_ADD,
	ST_TOKEN_GET,
	ST_TOKEN_DEL,
	ST_TOKEN_PURGE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	_ST_MAX,
};

static const char *const stmt_sql[_ST_MAX] = {
	[ST_USER_ADD] = "INSERT INTO users (name, pwhash, admin, created) VALUES (?1, ?2, ?3, ?4)",
	[ST_USER_SET_PW] = "UPDATE users SET pwhash = ?2 WHERE name = ?1",
	[ST_USER_GET] = "SELECT id, name, pwhash, admin, created, last_activity FROM users WHERE name = ?1",
	[ST_USER_TOUCH] = "UPDATE users SET last_activity = max(last_activity, ?2) WHERE name = ?1",
	[ST_SESSION_ADD] = "INSERT INTO sessions (id_hash, user, kind, server, parent_hash, xsrf, expires)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* A SERVER session lives only as long as its parent: the join makes an
	 * expired or missing parent visible even before it is purged. */
	[ST_SESSION_GET] = "SELECT s.user, s.kind, s.server, coalesce(s.parent_hash, ''), s.xsrf, s.expires,"
			   "       p.expires"
			   " FROM sessions s LEFT JOIN sessions p ON p.id_hash = s.parent_hash"
			   " WHERE s.id_hash = ?1",
	[ST_SESSION_DEL_CHILDREN] = "DELETE FROM sessions WHERE parent_hash = ?1",
	[ST_SESSION_DEL] = "DELETE FROM sessions WHERE id_hash = ?1",
	[ST_SESSION_DEL_USER] = "DELETE FROM sessions WHERE user = ?1",
	[ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires <= ?1",
	[ST_TOKEN_ADD] = "INSERT INTO tokens (hash, prefix, user, created, expires, note)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_TOKEN_GET] = "SELECT id, user, prefix, created, expires, note FROM tokens WHERE hash = ?1",
	[ST_TOKEN_DEL] = "DELETE FROM tokens WHERE hash = ?1",
	[ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires != 0 AND expires <= ?1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[_ST_MAX];
};

/* Map an SQLite result to -errno, logging the detail at debug only. */
static int store_err(struct store *s, int rc, const char *what)
{
	log_debug("store: %s: %s (%d)", what, s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), rc);
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void stmt_resetp(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define _cleanup_stmt_ _cleanup_(stmt_resetp)

static int stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **ret)
{
	int rc;

	if (!s->stmt[id]) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return store_err(s, rc, "prepare");
	}
	*ret = s->stmt[id];
	return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *v)
{
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

/* Step a statement that returns no rows. */
static int exec_stmt(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return store_err(s, sqlite3_extended_errcode(s->db), what);
	return 0;
}

/* Step a statement that returns at most one row: 0 on a row, -ENOENT on none. */
static int step_row(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(s, sqlite3_extended_errcode(s->db), what);
	return 0;
}

/* Step an UPDATE or DELETE: -ENOENT when it changed no row. */
static int exec_changed(struct store *s, sqlite3_stmt *st, const char *what)
{
	int r = exec_stmt(s, st, what);

	if (r < 0)
		return r;
	return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int exec_simple(struct store *s, enum stmt_id id)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = stmt_get(s, id, &st);

	return r < 0 ? r : exec_stmt(s, st, stmt_sql[id]);
}

static int tx_begin(struct store *s) { return exec_simple(s, ST_BEGIN); }
static int tx_commit(struct store *s) { return exec_simple(s, ST_COMMIT); }
static void tx_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)exec_simple(s, ST_ROLLBACK);
}

static int copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return nbw_strlcpy(dst, t ? (const char *)t : "", size) < 0 ? -ENOBUFS : 0;
}

/* A stored hash is lower-case SHA-256 hex; anything else cannot match a row
 * and is refused before it reaches SQL. */
static bool hash_valid(const char *h)
{
	size_t i;

	if (!h)
		return false;
	for (i = 0; h[i]; i++)
		if (i >= STORE_HASH_SIZE - 1 || !((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return i == STORE_HASH_SIZE - 1;
}

/* ---- open / migrate ---- */

static int pragma(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_err(s, rc, sql);
}

static int schema_version(struct store *s, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*ret = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_err(s, rc, "read schema version");
}

static int migrate(struct store *s)
{
	int64_t have = 0;
	int r, rc;

	r = tx_begin(s);
	if (r < 0)
		return r;
	r = pragma(s, "CREATE TABLE IF NOT EXISTS schema_version ("
		      " version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)");
	if (r < 0)
		goto fail;
	r = schema_version(s, &have);
	if (r < 0)
		goto fail;
	if (have > (int64_t)ARRAY_SIZE(migrations)) {
		log_debug("store: database schema version %lld is newer than this build (%zu)", (long long)have,
			  ARRAY_SIZE(migrations));
		r = -EPROTO;
		goto fail;
	}
	for (int64_t v = have + 1; v <= (int64_t)ARRAY_SIZE(migrations); v++) {
		sqlite3_stmt *st = NULL;

		rc = sqlite3_exec(s->db, migrations[v - 1], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = store_err(s, rc, "apply migration");
			goto fail;
		}
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", -1,
					&st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, v);
			sqlite3_bind_int64(st, 2, nbw_time_now());
			rc = sqlite3_step(st);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			r = store_err(s, rc, "record migration");
			goto fail;
		}
	}
	return tx_commit(s);
fail:
	tx_rollback(s);
	return r;
}

/* Create the file ourselves so it is born 0600 (SQLite would honour the umask)
 * and refuse anything that is not a plain file we can own. The -wal and -shm
 * files inherit the main file's mode from SQLite. */
static int prepare_file(const char *path)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return -errno;
	return 0;
}

int store_open(const char *path, struct store **ret)
{
	struct store *s;
	int r, rc;

	if (!path || !*path || !ret)
		return -EINVAL;
	r = prepare_file(path);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		r = store_err(s, rc, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	/* Defensive: no writable_schema tricks, no double-quoted string literals,
	 * no functions from the schema we did not define ourselves. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);

	r = pragma(s, "PRAGMA journal_mode = WAL");
	if (r >= 0)
		r = pragma(s, "PRAGMA synchronous = NORMAL");
	if (r >= 0)
		r = pragma(s, "PRAGMA foreign_keys = ON");
	/* Deleted session and token hashes are overwritten, not left in free pages. */
	if (r >= 0)
		r = pragma(s, "PRAGMA secure_delete = ON");
	if (r >= 0)
		r = migrate(s);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < _ST_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s);
}

/* ---- users ---- */

int store_user_add(struct store *s, const char *name, const char *pwhash, bool admin)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (!s || !nbw_username_valid(name) || (pwhash && strnlen(pwhash, STORE_PWHASH_SIZE) >= STORE_PWHASH_SIZE))
		return -EINVAL;
	r = stmt_get(s, ST_USER_ADD, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, name);
	bind_text(st, 2, pwhash ? pwhash : "");
	sqlite3_bind_int(st, 3, admin ? 1 : 0);
	sqlite3_bind_int64(st, 4, nbw_time_now());
	return exec_stmt(s, st, "add user");
}

int store_user_set_password(struct store *s, const char *name, const char *pwhash)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (!s || !name || (pwhash && strnlen(pwhash, STORE_PWHASH_SIZE) >= STORE_PWHASH_SIZE))
		return -EINVAL;
	r = stmt_get(s, ST_USER_SET_PW, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, name);
	bind_text(st, 2, pwhash ? pwhash : "");
	return exec_changed(s, st, "set password");
}

int store_user_get(struct store *s, const char *name, struct store_user *ret, char *pwhash_out, size_t pwhash_size)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_user u = {};
	int r;

	if (!s || !name)
		return -EINVAL;
	r = stmt_get(s, ST_USER_GET, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, name);
	r = step_row(s, st, "get user");
	if (r < 0)
		return r;
	u.id = sqlite3_column_int64(st, 0);
	if (copy_col(st, 1, u.name, sizeof(u.name)) < 0)
		return -EIO;
	u.admin = sqlite3_column_int(st, 3) != 0;
	u.created = sqlite3_column_int64(st, 4);
	u.last_activity = sqlite3_column_int64(st, 5);
	if (pwhash_out) {
		r = copy_col(st, 2, pwhash_out, pwhash_size);
		if (r < 0) {
			explicit_bzero(pwhash_out, pwhash_size);
			return r;
		}
	}
	if (ret)
		*ret = u;
	return 0;
}

int store_user_touch(struct store *s, const char *name, int64_t ts)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (!s || !name)
		return -EINVAL;
	r = stmt_get(s, ST_USER_TOUCH, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, ts);
	return exec_changed(s, st, "touch user");
}

/* ---- sessions ---- */

int store_session_add(struct store *s, const char *id_hash, const struct store_session *sess)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	bool server;
	int r;

	if (!s || !sess || !hash_valid(id_hash) || !nbw_username_valid(sess->user))
		return -EINVAL;
	if (sess->kind != STORE_SESSION_HUB && sess->kind != STORE_SESSION_SERVER)
		return -EINVAL;
	server = sess->kind == STORE_SESSION_SERVER;
	if (server && (!nbw_username_valid(sess->server) || !hash_valid(sess->parent_hash)))
		return -EINVAL;
	if (strnlen(sess->xsrf, sizeof(sess->xsrf)) >= sizeof(sess->xsrf) || !sess->xsrf[0])
		return -EINVAL;

	r = stmt_get(s, ST_SESSION_ADD, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, id_hash);
	bind_text(st, 2, sess->user);
	sqlite3_bind_int(st, 3, sess->kind);
	bind_text(st, 4, server ? sess->server : "");
	if (server)
		bind_text(st, 5, sess->parent_hash);
	else
		sqlite3_bind_null(st, 5);
	bind_text(st, 6, sess->xsrf);
	sqlite3_bind_int64(st, 7, sess->expires);
	return exec_stmt(s, st, "add session");
}

int store_session_get(struct store *s, const char *id_hash, int64_t now, struct store_session *ret)
{
	struct store_session sess = {};
	bool dead;
	int r;

	if (!s || !id_hash)
		return -EINVAL;
	if (!hash_valid(id_hash))
		return -ENOENT;
	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;

		r = stmt_get(s, ST_SESSION_GET, &st);
		if (r < 0)
			return r;
		bind_text(st, 1, id_hash);
		r = step_row(s, st, "get session");
		if (r < 0)
			return r;
		if (copy_col(st, 0, sess.user, sizeof(sess.user)) < 0 ||
		    copy_col(st, 2, sess.server, sizeof(sess.server)) < 0 ||
		    copy_col(st, 3, sess.parent_hash, sizeof(sess.parent_hash)) < 0 ||
		    copy_col(st, 4, sess.xsrf, sizeof(sess.xsrf)) < 0) {
			explicit_bzero(&sess, sizeof(sess)); /* what was copied may hold the XSRF value */
			return -EIO;
		}
		sess.kind = sqlite3_column_int(st, 1);
		sess.expires = sqlite3_column_int64(st, 5);
		dead = sess.expires <= now;
		if (sess.kind == STORE_SESSION_SERVER)
			dead = dead || sqlite3_column_type(st, 6) == SQLITE_NULL || sqlite3_column_int64(st, 6) <= now;
	}
	if (dead) {
		r = store_session_delete(s, id_hash);
		explicit_bzero(&sess, sizeof(sess));
		return r < 0 && r != -ENOENT ? r : -ENOENT;
	}
	if (ret)
		*ret = sess;
	explicit_bzero(&sess, sizeof(sess));
	return 0;
}

static int delete_by_text(struct store *s, enum stmt_id id, const char *value, int *ret_changes)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = stmt_get(s, id, &st);

	if (r < 0)
		return r;
	bind_text(st, 1, value);
	r = exec_stmt(s, st, stmt_sql[id]);
	if (r < 0)
		return r;
	if (ret_changes)
		*ret_changes = sqlite3_changes(s->db);
	return 0;
}

int store_session_delete(struct store *s, const char *id_hash)
{
	int changes = 0, r;

	if (!s || !id_hash)
		return -EINVAL;
	if (!hash_valid(id_hash))
		return -ENOENT;
	/* The foreign key cascades too; deleting the children explicitly keeps
	 * the guarantee even if someone opens the file with foreign_keys off. */
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = delete_by_text(s, ST_SESSION_DEL_CHILDREN, id_hash, NULL);
	if (r >= 0)
		r = delete_by_text(s, ST_SESSION_DEL, id_hash, &changes);
	if (r >= 0)
		r = tx_commit(s);
	if (r < 0) {
		tx_rollback(s);
		return r;
	}
	return changes > 0 ? 0 : -ENOENT;
}

int store_session_delete_user(struct store *s, const char *user)
{
	if (!s || !user)
		return -EINVAL;
	return delete_by_text(s, ST_SESSION_DEL_USER, user, NULL);
}

/* ---- tokens ---- */

int store_token_add(struct store *s, const char *hash, const char *prefix, const char *user, int64_t expires,
		    const char *note)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_token t;
	int r;

	if (!s || !hash_valid(hash) || !prefix || !nbw_username_valid(user) || expires < 0)
		return -EINVAL;
	if (strnlen(prefix, sizeof(t.prefix)) >= sizeof(t.prefix) ||
	    (note && strnlen(note, sizeof(t.note)) >= sizeof(t.note)))
		return -EINVAL;
	r = stmt_get(s, ST_TOKEN_ADD, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, hash);
	bind_text(st, 2, prefix);
	bind_text(st, 3, user);
	sqlite3_bind_int64(st, 4, nbw_time_now());
	sqlite3_bind_int64(st, 5, expires);
	bind_text(st, 6, note ? note : "");
	return exec_stmt(s, st, "add token");
}

int store_token_get(struct store *s, const char *hash, int64_t now, struct store_token *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_token t = {};
	int r;

	if (!s || !hash)
		return -EINVAL;
	if (!hash_valid(hash))
		return -ENOENT;
	r = stmt_get(s, ST_TOKEN_GET, &st);
	if (r < 0)
		return r;
	bind_text(st, 1, hash);
	r = step_row(s, st, "get token");
	if (r < 0)
		return r;
	t.id = sqlite3_column_int64(st, 0);
	if (copy_col(st, 1, t.user, sizeof(t.user)) < 0 || copy_col(st, 2, t.prefix, sizeof(t.prefix)) < 0 ||
	    copy_col(st, 5, t.note, sizeof(t.note)) < 0)
		return -EIO;
	t.created = sqlite3_column_int64(st, 3);
	t.expires = sqlite3_column_int64(st, 4);
	if (t.expires != 0 && t.expires <= now)
		return -ENOENT;
	if (ret)
		*ret = t;
	return 0;
}

int store_token_delete(struct store *s, const char *hash)
{
	int changes = 0, r;

	if (!s || !hash)
		return -EINVAL;
	if (!hash_valid(hash))
		return -ENOENT;
	r = delete_by_text(s, ST_TOKEN_DEL, hash, &changes);
	if (r < 0)
		return r;
	return changes > 0 ? 0 : -ENOENT;
}

/* ---- housekeeping ---- */

int store_purge_expired(struct store *s, int64_t now)
{
	_cleanup_stmt_ sqlite3_stmt *a = NULL;
	_cleanup_stmt_ sqlite3_stmt *b = NULL;
	int r;

	if (!s)
		return -EINVAL;
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = stmt_get(s, ST_SESSION_PURGE, &a);
	if (r >= 0) {
		sqlite3_bind_int64(a, 1, now);
		r = exec_stmt(s, a, "purge sessions");
	}
	if (r >= 0)
		r = stmt_get(s, ST_TOKEN_PURGE, &b);
	if (r >= 0) {
		sqlite3_bind_int64(b, 1, now);
		r = exec_stmt(s, b, "purge tokens");
	}
	if (r >= 0)
		r = tx_commit(s);
	if (r < 0)
		tx_rollback(s);
	return r;
}
