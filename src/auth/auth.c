/* auth: passwords, tokens, session cookies, XSRF and redirect checks.
 * See auth.h for the contract. Every secret that passes through here
 * (password, token, cookie) is wiped from our buffers before returning and
 * reaches the store only as a hash. */
#include "auth/auth.h"

#include <openssl/evp.h>
#include <sodium.h>

#define TOKEN_PREFIX "nbw_"
#define SECRET_BYTES 32
#define SECRET_B64_LEN 43 /* b64url(32 bytes), no padding */
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + SECRET_B64_LEN)
#define TOKEN_PREFIX_SHOWN 8
#define XSRF_MAX 256
#define NEXT_MAX 2048

_Static_assert(TOKEN_LEN < AUTH_TOKEN_SIZE, "token buffer");
_Static_assert(SECRET_B64_LEN < AUTH_COOKIE_SIZE, "cookie buffer");
_Static_assert(SECRET_B64_LEN < sizeof(((struct store_session *)0)->xsrf), "xsrf buffer");
_Static_assert(STORE_PWHASH_SIZE >= crypto_pwhash_STRBYTES, "pwhash buffer");

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/* ---- helpers ---- */

static int sha256_hex(const char *data, size_t len, char out[STORE_HASH_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	nbw_hex_encode(md, mdlen, out);
	explicit_bzero(md, sizeof(md));
	return 0;
}

static bool is_b64url(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

/* A cookie value we issued: exactly 43 b64url chars. Anything else is refused
 * without touching the database. */
static bool cookie_shape_ok(const char *cookie)
{
	return cookie && strnlen(cookie, SECRET_B64_LEN + 1) == SECRET_B64_LEN && is_b64url(cookie, SECRET_B64_LEN);
}

static bool token_shape_ok(const char *token)
{
	const size_t pl = sizeof(TOKEN_PREFIX) - 1;

	return token && strnlen(token, TOKEN_LEN + 1) == TOKEN_LEN && memcmp(token, TOKEN_PREFIX, pl) == 0 &&
	       is_b64url(token + pl, SECRET_B64_LEN);
}

static int new_secret(char out[AUTH_COOKIE_SIZE])
{
	return nbw_random_token(out, AUTH_COOKIE_SIZE, SECRET_BYTES);
}

/* ---- passwords ---- */

int auth_password_hash(const char *password, char *out, size_t out_size)
{
	size_t len;

	if (!password || !out)
		return -EINVAL;
	if (out_size < crypto_pwhash_STRBYTES)
		return -ENOBUFS;
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	if (len == 0 || len > AUTH_PASSWORD_MAX)
		return -EINVAL;
	if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -ENOMEM; /* libsodium's only failure mode here */
	return 0;
}

bool auth_password_verify(const char *hash, const char *password)
{
	size_t len;

	if (!hash || !password || !hash[0] || strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
		return false;
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	if (len > AUTH_PASSWORD_MAX)
		return false;
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

/* The hash that unknown users and users without a password are checked
 * against: same algorithm and limits as real ones, for a random password
 * nobody knows, so the one verification costs the same either way. */
static const char *dummy_hash(void)
{
	static char dummy[crypto_pwhash_STRBYTES];
	char pw[AUTH_COOKIE_SIZE];

	if (dummy[0])
		return dummy;
	if (new_secret(pw) < 0 || auth_password_hash(pw, dummy, sizeof(dummy)) < 0)
		dummy[0] = 0;
	explicit_bzero(pw, sizeof(pw));
	return dummy;
}

void auth_login_job_wipe(struct auth_login_job *job)
{
	if (job)
		explicit_bzero(job, sizeof(*job));
}

int auth_login_begin(struct store *s, const char *user, const char *password, struct auth_login_job *job)
{
	const char *hash = dummy_hash();
	const char *pw = password ? password : "";
	size_t pwlen;
	int r = 0;

	memset(job, 0, sizeof(*job));
	if (!hash[0])
		return -ENOMEM;
	pwlen = strnlen(pw, AUTH_PASSWORD_MAX + 1);
	if (pwlen > AUTH_PASSWORD_MAX)
		pwlen = 0;
	memcpy(job->password, pw, pwlen);
	job->password[pwlen] = '\0';
	job->pwlen = pwlen;
	if (s && user && nbw_username_valid(user) && pwlen > 0) {
		nbw_strlcpy(job->user, user, sizeof(job->user));
		r = store_user_get(s, user, &job->u, job->hash, sizeof(job->hash));
		if (r == 0 && job->hash[0])
			job->real = true;
		if (r == -ENOENT)
			r = 0;
	}
	if (!job->real)
		nbw_strlcpy(job->hash, hash, sizeof(job->hash));
	job->err = r < 0 ? r : 0;
	return 0;
}

void auth_login_verify(struct auth_login_job *job)
{
	/* Exactly one argon2id verification on every path. */
	job->ok = crypto_pwhash_str_verify(job->hash, job->password, job->pwlen) == 0;
	if (job->err == 0 && job->real && job->ok &&
	    crypto_pwhash_str_needs_rehash(job->hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
					   crypto_pwhash_MEMLIMIT_INTERACTIVE) == 1) {
		/* Stored with older limits: upgrade while we hold the password. */
		if (auth_password_hash(job->password, job->rehash, sizeof(job->rehash)) < 0)
			job->rehash[0] = '\0';
	}
	explicit_bzero(job->password, sizeof(job->password));
}

int auth_login_end(struct store *s, struct auth_login_job *job, struct store_user *ret)
{
	int r = job->err;

	if (r >= 0 && job->rehash[0])
		(void)store_user_set_password(s, job->user, job->rehash);
	if (r >= 0 && !(job->real && job->ok))
		r = -EPERM;
	if (r >= 0 && ret)
		*ret = job->u;
	auth_login_job_wipe(job);
	return r;
}

int auth_login(struct store *s, const char *user, const char *password, struct store_user *ret)
{
	struct auth_login_job *job = malloc(sizeof(*job));
	int r;

	if (!job)
		return -ENOMEM;
	r = auth_login_begin(s, user, password, job);
	if (r >= 0) {
		auth_login_verify(job);
		r = auth_login_end(s, job, ret);
	}
	auth_login_job_wipe(job);
	free(job);
	return r;
}

/* ---- the login form's XSRF cookie ----
 * "v1.<issued, unix seconds>.<random>.<HMAC-SHA256(key, everything before)>"
 * (b64url): a value only the hub can mint, so a flood of logins needs
 * one fetched from the hub first. */

#define LOGIN_XSRF_RANDOM 18

int auth_login_xsrf_new(const uint8_t key[AUTH_LOGIN_XSRF_KEY], int64_t now, char out[AUTH_LOGIN_XSRF_SIZE])
{
	uint8_t rnd[LOGIN_XSRF_RANDOM], mac[crypto_auth_hmacsha256_BYTES];
	char rb[4 * ((LOGIN_XSRF_RANDOM + 2) / 3) + 1], mb[4 * ((sizeof(mac) + 2) / 3) + 1];
	char body[AUTH_LOGIN_XSRF_SIZE];
	int r;

	if (!key || now < 0 || !out)
		return -EINVAL;
	r = nbw_random_bytes(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	nbw_b64url_encode(rnd, sizeof(rnd), rb);
	r = nbw_snprintf(body, sizeof(body), "v1.%lld.%s", (long long)now, rb);
	if (r < 0)
		return r;
	crypto_auth_hmacsha256(mac, (const uint8_t *)body, strlen(body), key);
	nbw_b64url_encode(mac, sizeof(mac), mb);
	r = nbw_snprintf(out, AUTH_LOGIN_XSRF_SIZE, "%s.%s", body, mb);
	return r < 0 ? r : 0;
}

bool auth_login_xsrf_valid(const uint8_t key[AUTH_LOGIN_XSRF_KEY], const char *value, int64_t now, int64_t max_age)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char mb[4 * ((sizeof(mac) + 2) / 3) + 1], ts[24];
	const char *dot, *p;
	size_t len, body_len, mlen;
	uint64_t issued;

	if (!key || !value)
		return false;
	len = strnlen(value, AUTH_LOGIN_XSRF_SIZE);
	if (len >= AUTH_LOGIN_XSRF_SIZE || strncmp(value, "v1.", 3) != 0)
		return false;
	dot = strrchr(value, '.');
	body_len = (size_t)(dot - value);
	crypto_auth_hmacsha256(mac, (const uint8_t *)value, body_len, key);
	mlen = nbw_b64url_encode(mac, sizeof(mac), mb);
	if (strlen(dot + 1) != mlen || !nbw_memeq_ct(mb, dot + 1, mlen))
		return false;
	/* ours: now the issue time */
	p = value + 3;
	len = strcspn(p, ".");
	if (len == 0 || len >= sizeof(ts))
		return false;
	memcpy(ts, p, len);
	ts[len] = '\0';
	if (nbw_parse_u64(ts, 0, INT64_MAX, &issued) < 0)
		return false;
	return (int64_t)issued <= now + 60 && now - (int64_t)issued <= max_age;
}

/* ---- API tokens ---- */

int auth_token_issue(struct store *s, const char *user, int64_t expires_at, const char *note,
		     char token_out[AUTH_TOKEN_SIZE], char prefix_out[16])
{
	char token[AUTH_TOKEN_SIZE], secret[AUTH_COOKIE_SIZE], hash[STORE_HASH_SIZE], prefix[16];
	int r;

	if (!s || !nbw_username_valid(user) || expires_at < 0 || !token_out)
		return -EINVAL;
	r = new_secret(secret);
	if (r < 0)
		return r;
	r = nbw_snprintf(token, sizeof(token), TOKEN_PREFIX "%s", secret);
	explicit_bzero(secret, sizeof(secret));
	if (r < 0)
		goto out;
	r = sha256_hex(token, strlen(token), hash);
	if (r < 0)
		goto out;
	memcpy(prefix, token, TOKEN_PREFIX_SHOWN);
	prefix[TOKEN_PREFIX_SHOWN] = 0;
	r = store_token_add(s, hash, prefix, user, expires_at, note);
	if (r < 0)
		goto out;
	memcpy(token_out, token, sizeof(token));
	if (prefix_out)
		memcpy(prefix_out, prefix, TOKEN_PREFIX_SHOWN + 1);
out:
	explicit_bzero(token, sizeof(token));
	return r;
}

int auth_token_check(struct store *s, const char *token, int64_t now, struct store_user *ret)
{
	char hash[STORE_HASH_SIZE];
	struct store_token t;
	int r;

	if (!s || !token_shape_ok(token))
		return -EPERM;
	r = sha256_hex(token, TOKEN_LEN, hash);
	if (r < 0)
		return r;
	r = store_token_get(s, hash, now, &t);
	if (r == -ENOENT)
		return -EPERM;
	if (r < 0)
		return r;
	r = store_user_get(s, t.user, ret, NULL, 0);
	return r == -ENOENT ? -EPERM : r;
}

/* ---- sessions ---- */

static int session_insert(struct store *s, struct store_session *sess, char cookie_out[AUTH_COOKIE_SIZE])
{
	char cookie[AUTH_COOKIE_SIZE], hash[STORE_HASH_SIZE];
	int r;

	r = new_secret(sess->xsrf);
	if (r < 0)
		return r;
	r = new_secret(cookie);
	if (r < 0)
		return r;
	r = sha256_hex(cookie, strlen(cookie), hash);
	if (r >= 0)
		r = store_session_add(s, hash, sess);
	if (r >= 0)
		memcpy(cookie_out, cookie, sizeof(cookie));
	explicit_bzero(cookie, sizeof(cookie));
	return r;
}

int auth_session_create(struct store *s, const char *user, int64_t max_age, char cookie_out[AUTH_COOKIE_SIZE],
			struct store_session *ret)
{
	struct store_session sess = {.kind = STORE_SESSION_HUB};
	int64_t now = nbw_time_now();
	int r;

	if (!s || !nbw_username_valid(user) || max_age <= 0 || max_age > INT64_MAX - now || !cookie_out)
		return -EINVAL;
	nbw_strlcpy(sess.user, user, sizeof(sess.user));
	sess.expires = now + max_age;
	r = session_insert(s, &sess, cookie_out);
	if (r >= 0 && ret)
		*ret = sess;
	explicit_bzero(&sess, sizeof(sess));
	return r;
}

int auth_session_create_server(struct store *s, const char *parent_cookie, const char *server, int64_t max_age,
			       char cookie_out[AUTH_COOKIE_SIZE])
{
	struct store_session parent, sess = {.kind = STORE_SESSION_SERVER};
	int64_t now = nbw_time_now();
	int r;

	if (!s || !nbw_username_valid(server) || max_age <= 0 || max_age > INT64_MAX - now || !cookie_out)
		return -EINVAL;
	r = auth_session_check(s, parent_cookie, STORE_SESSION_HUB, now, &parent, NULL);
	if (r < 0)
		return r;
	r = sha256_hex(parent_cookie, strlen(parent_cookie), sess.parent_hash);
	if (r < 0)
		goto out;
	nbw_strlcpy(sess.user, parent.user, sizeof(sess.user));
	nbw_strlcpy(sess.server, server, sizeof(sess.server));
	/* Never outlive the hub session it came from. */
	sess.expires = now + max_age < parent.expires ? now + max_age : parent.expires;
	r = session_insert(s, &sess, cookie_out);
out:
	explicit_bzero(&parent, sizeof(parent));
	explicit_bzero(&sess, sizeof(sess));
	return r;
}

int auth_session_check(struct store *s, const char *cookie, int kind, int64_t now, struct store_session *ret_sess,
		       struct store_user *ret_user)
{
	char hash[STORE_HASH_SIZE];
	struct store_session sess;
	struct store_user u;
	int r;

	if (!s || !cookie_shape_ok(cookie))
		return -EPERM;
	r = sha256_hex(cookie, SECRET_B64_LEN, hash);
	if (r < 0)
		return r;
	r = store_session_get(s, hash, now, &sess);
	if (r == -ENOENT)
		return -EPERM;
	if (r < 0)
		return r;
	if (sess.kind != kind) {
		r = -EPERM;
		goto out;
	}
	r = store_user_get(s, sess.user, &u, NULL, 0);
	if (r == -ENOENT)
		r = -EPERM;
	if (r < 0)
		goto out;
	if (ret_sess)
		*ret_sess = sess;
	if (ret_user)
		*ret_user = u;
out:
	explicit_bzero(&sess, sizeof(sess));
	return r;
}

int auth_session_revoke(struct store *s, const char *cookie)
{
	char hash[STORE_HASH_SIZE];
	int r;

	if (!s)
		return -EINVAL;
	if (!cookie_shape_ok(cookie))
		return -ENOENT;
	r = sha256_hex(cookie, SECRET_B64_LEN, hash);
	if (r < 0)
		return r;
	return store_session_delete(s, hash);
}

/* ---- XSRF and redirects ---- */

bool auth_xsrf_ok(const char *expected, const char *submitted)
{
	size_t le, ls;

	if (!expected || !submitted)
		return false;
	le = strnlen(expected, XSRF_MAX + 1);
	ls = strnlen(submitted, XSRF_MAX + 1);
	/* Lengths are public (every token has the same one); contents are not. */
	if (le == 0 || le > XSRF_MAX || le != ls)
		return false;
	return nbw_memeq_ct(expected, submitted, le);
}


/* A byte that, raw or percent-encoded, could change where a browser goes:
 * path separators ('/' only when encoded, '\\' always, which browsers treat
 * as '/'), controls (browsers strip tab/CR/LF, so "/\t/evil" is "//evil"),
 * space, DEL and anything non-ASCII. */
static bool next_byte_bad(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '\\';
}

bool auth_next_ok(const char *next)
{
	size_t len;

	if (!next)
		return false;
	len = strnlen(next, NEXT_MAX + 1);
	if (len == 0 || len > NEXT_MAX)
		return false;
	/* Exactly one leading slash: "//host" and "/\host" are other origins. */
	if (next[0] != '/' || next[1] == '/' || next[1] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)next[i];
		int hi, lo, v;

		if (next_byte_bad(c))
			return false;
		if (c != '%')
			continue;
		/* Percent-encoding: malformed escapes, encoded separators, encoded
		 * controls and encoded '%' (double encoding) are all refused, so no
		 * later decoding step can turn the path into another origin. */
		if (i + 2 >= len)
			return false;
		hi = nbw_hexval(next[i + 1]);
		lo = nbw_hexval(next[i + 2]);
		if (hi < 0 || lo < 0)
			return false;
		v = hi * 16 + lo;
		/* Encoded space and UTF-8 are ordinary in Jupyter paths. */
		if (v == '/' || v == '%' || v == '\\' || v < 0x20 || v == 0x7f)
			return false;
		i += 2;
	}
	return true;
}

int auth_token_revoke(struct store *s, const char *token)
{
	char hash[STORE_HASH_SIZE];
	int r;

	if (!s)
		return -EINVAL;
	if (!token_shape_ok(token))
		return -ENOENT;
	r = sha256_hex(token, TOKEN_LEN, hash);
	if (r < 0)
		return r;
	return store_token_delete(s, hash);
}
