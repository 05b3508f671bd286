/* auth CLI helpers: `user-add` and `token-issue`, run by the (unprivileged)
 * hub binary. Errors go to stderr once, here, at the boundary; stdout carries
 * only the confirmation line (user-add) or the token (token-issue). */
#include "auth/auth.h"

#include <stdio.h>
#include <termios.h>

#define PASSWORD_MIN 8

/* For messages where strerror() would add nothing ("...: File exists"). */
#define cli_fail(r, ...)             \
	({                           \
		log_error(__VA_ARGS__); \
		(r);                 \
	})

static void store_closep(struct store **s)
{
	store_close(*s);
}
#define _cleanup_store_ _cleanup_(store_closep)

/* Read the first line of `in` into buf (without its "\n" or "\r\n").
 * Byte by byte into a fixed buffer, so the only copy we make is one we wipe.
 * On a terminal, echo is switched off while the password is typed. */
static int read_password(FILE *in, char *buf, size_t size, size_t *ret_len)
{
	struct termios old, quiet;
	bool tty = false;
	size_t n = 0;
	int c, r = 0, fd = fileno(in);

	if (fd >= 0 && isatty(fd) && tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
			tty = true;
		fputs("Password: ", stderr);
		fflush(stderr);
	}
	for (;;) {
		c = fgetc(in);
		if (c == EOF) {
			if (ferror(in))
				r = -EIO;
			else if (n == 0)
				r = -ENODATA;
			break;
		}
		if (c == '\n')
			break;
		if (c == 0) {
			r = -EINVAL;
			/* keep reading the line so nothing is left for a later reader */
			continue;
		}
		if (n + 1 >= size) {
			r = -E2BIG;
			continue;
		}
		buf[n++] = (char)c;
	}
	if (tty)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	if (r >= 0 && n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = 0;
	if (r < 0) {
		explicit_bzero(buf, size);
		return r;
	}
	*ret_len = n;
	return 0;
}

/* libsodium first (hashing needs it), then the database. */
static int open_store(const char *db_path, struct store **ret)
{
	int r = auth_init();

	if (r < 0)
		return log_error_errno(r, "Failed to initialise libsodium");
	r = store_open(db_path, ret);
	if (r == -EPROTO)
		return log_error_errno(r, "Database '%s' was written by a newer nbwarden", db_path);
	if (r < 0)
		return log_error_errno(r, "Failed to open database '%s'", db_path);
	return 0;
}

static int check_name(const char *name)
{
	if (!name || !nbw_username_valid(name))
		return cli_fail(-EINVAL,
				       "Invalid user name '%.64s': use 1-32 characters from a-z, 0-9, '_' and '-', "
				       "starting with a letter or '_'",
				       name ? name : "");
	return 0;
}

int auth_cli_user_add(const char *db_path, const char *name, bool admin, FILE *password_in)
{
	_cleanup_store_ struct store *s = NULL;
	/* +2: room for a "\r" and to notice a line longer than the maximum */
	char pw[AUTH_PASSWORD_MAX + 2], hash[STORE_PWHASH_SIZE];
	size_t len = 0;
	int r;

	r = check_name(name);
	if (r < 0)
		return r;
	if (!db_path || !password_in)
		return log_error_errno(-EINVAL, "user-add: missing database path or password input");
	r = open_store(db_path, &s);
	if (r < 0)
		return r;
	/* Say so before asking for a password nobody will use. */
	r = store_user_get(s, name, NULL, NULL, 0);
	if (r == 0)
		return cli_fail(-EEXIST, "user '%s' already exists", name);
	if (r != -ENOENT)
		return log_error_errno(r, "Failed to look up user '%s'", name);

	r = read_password(password_in, pw, sizeof(pw), &len);
	if (r == -ENODATA)
		return cli_fail(-EINVAL, "No password given: write it as the first line of standard input");
	if (r == -E2BIG || (r >= 0 && len > AUTH_PASSWORD_MAX)) {
		explicit_bzero(pw, sizeof(pw));
		return cli_fail(-EINVAL, "Password too long: at most %d bytes", AUTH_PASSWORD_MAX);
	}
	if (r == -EINVAL)
		return cli_fail(r, "Password must not contain NUL bytes");
	if (r < 0)
		return log_error_errno(r, "Failed to read the password");
	if (len < PASSWORD_MIN) {
		explicit_bzero(pw, sizeof(pw));
		return cli_fail(-EINVAL, "Password too short: at least %d bytes", PASSWORD_MIN);
	}
	r = auth_password_hash(pw, hash, sizeof(hash));
	explicit_bzero(pw, sizeof(pw));
	if (r < 0)
		return log_error_errno(r, "Failed to hash the password");

	r = store_user_add(s, name, hash, admin);
	explicit_bzero(hash, sizeof(hash));
	if (r == -EEXIST)
		return cli_fail(r, "user '%s' already exists", name);
	if (r < 0)
		return log_error_errno(r, "Failed to add user '%s'", name);
	printf("user '%s' added%s\n", name, admin ? " (admin)" : "");
	fflush(stdout);
	return 0;
}

int auth_cli_token_issue(const char *db_path, const char *name, int64_t expires_in, FILE *out)
{
	_cleanup_store_ struct store *s = NULL;
	char token[AUTH_TOKEN_SIZE], prefix[16];
	int64_t now = nbw_time_now(), expires_at = 0;
	int r;

	r = check_name(name);
	if (r < 0)
		return r;
	if (!db_path || !out)
		return log_error_errno(-EINVAL, "token-issue: missing database path or output");
	if (expires_in < 0 || expires_in > INT64_MAX - now)
		return cli_fail(-EINVAL, "Invalid expiry: %lld seconds", (long long)expires_in);
	if (expires_in > 0)
		expires_at = now + expires_in;
	r = open_store(db_path, &s);
	if (r < 0)
		return r;
	r = store_user_get(s, name, NULL, NULL, 0);
	if (r == -ENOENT)
		return cli_fail(r, "no such user '%s'", name);
	if (r < 0)
		return log_error_errno(r, "Failed to look up user '%s'", name);

	r = auth_token_issue(s, name, expires_at, "issued on the command line", token, prefix);
	if (r == -ENOENT)
		return cli_fail(r, "no such user '%s'", name);
	if (r < 0)
		return log_error_errno(r, "Failed to issue a token for '%s'", name);
	if (fprintf(out, "%s\n", token) < 0 || fflush(out) != 0)
		r = log_error_errno(-EIO, "Failed to write the token");
	explicit_bzero(token, sizeof(token));
	if (r >= 0)
		log_debug("issued token %s... for '%s'", prefix, name);
	return r;
}
