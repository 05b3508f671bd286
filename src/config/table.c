/* config: the key table, value conversion and per-key validation.
 *
 * Every setting is one row of config__keys. Defaults are text run through the
 * same conversion and validation as the file's values, so a default can never
 * be something the file could not say. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "config/internal.h"

#define NBW_UID_MAX 4294967294u /* (uid_t)-1 is "no uid" */
#define SANDBOX_UIDS_PER_USER 65536u

static const char *const default_cmd[] = {"/usr/bin/python3", "-m", "jupyter_server", NULL};
static const char *const no_strings[] = {NULL};

/* ---- validators ---- */

static int validate_bind_url(struct config *c, const void *value, char *err, size_t err_size);
static int validate_runtime(struct config *c, const void *value, char *err, size_t err_size);
static int validate_cmd(struct config *c, const void *value, char *err, size_t err_size);
static int validate_devices(struct config *c, const void *value, char *err, size_t err_size);

#define KU32(n, f, lo, hi, d)                                                                                          \
	{                                                                                                              \
		.name = (n), .type = CONFIG__U32, .min = (lo), .max = (hi), .def = (d),                                \
		.offset = offsetof(struct config, f)                                                                   \
	}
#define KU64(n, f, lo, hi, d)                                                                                          \
	{                                                                                                              \
		.name = (n), .type = CONFIG__U64, .min = (lo), .max = (hi), .def = (d),                                \
		.offset = offsetof(struct config, f)                                                                   \
	}
#define KSIZE(n, f, lo, hi, d)                                                                                         \
	{                                                                                                              \
		.name = (n), .type = CONFIG__SIZE, .min = (lo), .max = (hi), .def = (d),                               \
		.offset = offsetof(struct config, f)                                                                   \
	}
#define KBOOL(n, f, d)                                                                                                 \
	{                                                                                                              \
		.name = (n), .type = CONFIG__BOOL, .def = (d), .offset = offsetof(struct config, f)                    \
	}
#define KPATH(n, f, d)                                                                                                 \
	{                                                                                                              \
		.name = (n), .type = CONFIG__PATH, .def = (d), .offset = offsetof(struct config, f)                    \
	}

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

const struct config__key config__keys[] = {
    {.name = "hub.bind_url",
     .type = CONFIG__URL,
     .what = "a URL like http://127.0.0.1:8000/",
     .def = "http://127.0.0.1:8000/",
     .validate = validate_bind_url,
     .offset = offsetof(struct config, hub.bind_url)},
    KPATH("hub.state_dir", hub.state_dir, "/var/lib/nbwarden"),
    KU32("hub.uid", hub.uid, 1, NBW_UID_MAX, "60999"),
    KU32("hub.gid", hub.gid, 1, NBW_UID_MAX, "60999"),
    KBOOL("hub.cookie_secure", hub.cookie_secure, "false"),
    KU32("hub.cookie_max_age_seconds", hub.cookie_max_age, 60, 2592000, "43200"),
    KU32("hub.max_body_bytes", hub.max_body, 1024, 16777216, "65536"),
    KU32("hub.max_header_bytes", hub.max_header, 1024, 1048576, "16384"),
    KU32("hub.max_connections", hub.max_connections, 16, 1000000, "4096"),

    {.name = "singleuser.cmd",
     .type = CONFIG__STRLIST,
     .def_list = default_cmd,
     .validate = validate_cmd,
     .offset = offsetof(struct config, singleuser.cmd),
     .offset_n = offsetof(struct config, singleuser.n_cmd)},
    KU32("singleuser.uid", singleuser.uid, 1, 65534, "1000"),
    KU32("singleuser.fsGid", singleuser.gid, 1, 65534, "100"),
    {.name = "singleuser.runtime",
     .type = CONFIG__STRING,
     .what = "a program name without '/' or an absolute path",
     .def = "runc",
     .validate = validate_runtime,
     .offset = offsetof(struct config, singleuser.runtime)},
    {.name = "singleuser.cpu.limit",
     .type = CONFIG__DOUBLE,
     .dmin = 0.01,
     .dmax = 1024,
     .def = "1.0",
     .offset = offsetof(struct config, singleuser.cpu_limit)},
    {.name = "singleuser.cpu.guarantee",
     .type = CONFIG__DOUBLE,
     .dmin = 0,
     .dmax = 1024,
     .def = "0",
     .offset = offsetof(struct config, singleuser.cpu_guarantee)},
    KSIZE("singleuser.memory.limit", singleuser.memory_limit, 64 * MiB, TiB, "1G"),
    KSIZE("singleuser.memory.guarantee", singleuser.memory_guarantee, 0, TiB, "0"),
    {.name = "singleuser.devices",
     .type = CONFIG__STRLIST,
     .what = "a list of device paths below /dev/",
     .def_list = no_strings,
     .allow_empty = true,
     .validate = validate_devices,
     .offset = offsetof(struct config, singleuser.devices),
     .offset_n = offsetof(struct config, singleuser.n_devices)},
    KU64("singleuser.pids.limit", singleuser.pids_limit, 16, 1000000, "512"),
    KSIZE("singleuser.storage.capacity", singleuser.storage_capacity, 16 * MiB, 16 * TiB, "10G"),
    KU32("singleuser.startTimeout", singleuser.start_timeout, 1, 3600, "60"),
    KU32("singleuser.hostUidBase", singleuser.host_uid_base, SANDBOX_UIDS_PER_USER,
	 NBW_UID_MAX + 1u - SANDBOX_UIDS_PER_USER, "1000000"),
    KU32("singleuser.maxServers", singleuser.max_servers, 1, 10000, "256"),

    KPATH("audit.file", audit.file, "/var/log/nbwarden/audit.jsonl"),
    KU32("audit.code_max_bytes", audit.code_max_bytes, 0, 32768, "8192"),
    KU32("audit.fsync_interval_ms", audit.fsync_interval_ms, 0, 10000, "100"),

    KBOOL("debug.enabled", debug, "false"),
};
const size_t config__n_keys = ARRAY_SIZE(config__keys);

/* ---- small helpers ---- */

void config__strv_free(char **list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void config__quote(const char *text, size_t len, char *buf, size_t size)
{
	static const size_t max_shown = 64;
	size_t o = 0;

	if (size < 8) {
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		char tmp[5];
		size_t tl;

		if (i >= max_shown) {
			if (o + 4 < size) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (ch == '"' || ch == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)ch;
			tl = 2;
		} else if (ch < 0x20 || ch > 0x7e) {
			/* never let control bytes or escape sequences reach a terminal */
			static const char hex[] = "0123456789abcdef";
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[ch >> 4];
			tmp[3] = hex[ch & 15];
			tl = 4;
		} else {
			tmp[0] = (char)ch;
			tl = 1;
		}
		if (o + tl + 5 >= size) { /* room for tl, "...", '"' and NUL */
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, tmp, tl);
		o += tl;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

void config__format_size(uint64_t v, char *buf, size_t size)
{
	static const struct {
		uint64_t mult;
		char suffix;
	} units[] = {{TiB, 'T'}, {GiB, 'G'}, {MiB, 'M'}, {KiB, 'K'}};

	for (size_t i = 0; v > 0 && i < ARRAY_SIZE(units); i++)
		if (v % units[i].mult == 0) {
			(void)nbw_snprintf(buf, size, "%llu%c", (unsigned long long)(v / units[i].mult),
					   units[i].suffix);
			return;
		}
	(void)nbw_snprintf(buf, size, "%llu", (unsigned long long)v);
}

void config__describe(const struct config__key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (k->what) {
		(void)nbw_strlcpy(buf, k->what, size);
		return;
	}
	switch (k->type) {
	case CONFIG__STRING:
	case CONFIG__URL:
		(void)nbw_strlcpy(buf, "a string", size);
		break;
	case CONFIG__PATH:
		(void)nbw_strlcpy(buf, "an absolute path", size);
		break;
	case CONFIG__BOOL:
		(void)nbw_strlcpy(buf, "true or false", size);
		break;
	case CONFIG__U32:
	case CONFIG__U64:
		(void)nbw_snprintf(buf, size, "an integer in %llu..%llu", (unsigned long long)k->min,
				   (unsigned long long)k->max);
		break;
	case CONFIG__DOUBLE:
		(void)nbw_snprintf(buf, size, "a number in %g..%g", k->dmin, k->dmax);
		break;
	case CONFIG__SIZE:
		config__format_size(k->min, lo, sizeof(lo));
		config__format_size(k->max, hi, sizeof(hi));
		(void)nbw_snprintf(buf, size, "a size in %s..%s", lo, hi);
		break;
	case CONFIG__STRLIST:
		(void)nbw_strlcpy(buf, "a list of non-empty strings", size);
		break;
	}
}

/* "expected <what>, got <value>" for a scalar that did not convert. */
static int bad_value(const struct config__key *k, const struct config__scalar *s, char *err, size_t err_size)
{
	char what[96], got[96];

	config__describe(k, what, sizeof(what));
	if (s->null)
		(void)nbw_strlcpy(got, "null", sizeof(got));
	else
		config__quote(s->text, s->len, got, sizeof(got));
	/* A quoted "1000" is a string in YAML; say so, or the message looks absurd. */
	(void)nbw_snprintf(err, err_size, "expected %s, got %s%s", what,
			   s->quoted && k->type != CONFIG__STRING && k->type != CONFIG__PATH &&
				   k->type != CONFIG__URL && k->type != CONFIG__SIZE && k->type != CONFIG__STRLIST
			       ? "a quoted string "
			       : "",
			   got);
	return -EINVAL;
}

static bool all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* ---- sizes ---- */

int config_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"", 1}, {"K", KiB}, {"M", MiB}, {"G", GiB}, {"T", TiB}, {"Ki", KiB}, {"Mi", MiB}, {"Gi", GiB}, {"Ti", TiB},
	};
	const char *p = s;
	unsigned __int128 ipart = 0, frac = 0, scale = 1, v;
	size_t n_int = 0, n_frac = 0;
	uint64_t mult = 0;

	if (!s)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++, n_int++) {
		if (n_int >= 20)
			return -ERANGE;
		ipart = ipart * 10 + (unsigned)(*p - '0');
	}
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++, n_frac++) {
			if (n_frac >= 9)
				return -EINVAL;
			frac = frac * 10 + (unsigned)(*p - '0');
			scale *= 10;
		}
		if (n_frac == 0)
			return -EINVAL;
	}
	if (n_int == 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(p, units[i].suffix) == 0) {
			mult = units[i].mult;
			break;
		}
	if (mult == 0)
		return -EINVAL;
	/* Exact arithmetic: (ipart + frac/scale) * mult, rounded down. */
	v = ipart * mult + frac * mult / scale;
	if (mult == 1 && frac != 0)
		return -EINVAL; /* a fraction of a byte */
	if (v > UINT64_MAX)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

/* ---- strings and paths ---- */

static int check_string(const struct config__key *k, const struct config__scalar *s, char *err, size_t err_size)
{
	if (s->null)
		return bad_value(k, s, err, err_size);
	if (memchr(s->text, '\0', s->len)) {
		(void)nbw_strlcpy(err, "must not contain a NUL byte", err_size);
		return -EINVAL;
	}
	if (s->len > CONFIG__MAX_STRING) {
		(void)nbw_snprintf(err, err_size, "longer than %d bytes", CONFIG__MAX_STRING);
		return -EINVAL;
	}
	return 0;
}

/* Absolute, normalized, not "/": no "//", no "." or ".." component, no
 * trailing "/", no control characters. */
static int check_path(const char *p, char *err, size_t err_size)
{
	char q[96];
	size_t len = strlen(p);

	config__quote(p, len, q, sizeof(q));
	if (p[0] != '/') {
		(void)nbw_snprintf(err, err_size, "expected an absolute path, got %s", q);
		return -EINVAL;
	}
	if (strcmp(p, "/") == 0) {
		(void)nbw_strlcpy(err, "must not be \"/\"", err_size);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			(void)nbw_snprintf(err, err_size, "must not contain control characters, got %s", q);
			return -EINVAL;
		}
	for (const char *c = p; *c;) {
		const char *e;
		size_t cl;

		c++; /* skip the '/' */
		e = strchrnul(c, '/');
		cl = (size_t)(e - c);
		if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.')) {
			(void)nbw_snprintf(
			    err, err_size,
			    "must be a normalized path (no \"//\", \".\", \"..\" or trailing \"/\"), got %s", q);
			return -EINVAL;
		}
		c = e;
	}
	return 0;
}

/* The guard execs cmd[0] inside the sandbox, with no PATH search: it must be
 * an absolute path (and the exec policy allows it by path). */
static int validate_cmd(struct config *c, const void *value, char *err, size_t err_size)
{
	char *const *list = value;
	char q[96];

	(void)c;
	if (list[0] && list[0][0] == '/')
		return 0;
	config__quote(list[0], strlen(list[0]), q, sizeof(q));
	(void)nbw_snprintf(err, err_size, "the program (first element) must be an absolute path, got %s", q);
	return -EINVAL;
}

/* Device nodes for a profile (a GPU: /dev/nvidia0, /dev/nvidiactl, ...):
 * normalised paths below /dev/ of a conservative charset, no duplicates, not
 * one of the nodes every sandbox has anyway. Whether each is a character
 * device is checked at spawn (the node may appear after start-up). */
static int validate_devices(struct config *c, const void *value, char *err, size_t err_size)
{
	static const char *const always[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					     "/dev/urandom", "/dev/tty", "/dev/ptmx"};
	char *const *list = value;
	char q[96];
	size_t n = 0;

	(void)c;
	for (; list[n]; n++) {
		const char *v = list[n];
		int r;

		config__quote(v, strlen(v), q, sizeof(q));
		if (n >= CONFIG_DEVICES_MAX) {
			(void)nbw_snprintf(err, err_size, "more than %d devices", CONFIG_DEVICES_MAX);
			return -EINVAL;
		}
		if (!str_has_prefix(v, "/dev/") || strlen(v) > 255 ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.:-") != strlen(v)) {
			(void)nbw_snprintf(err, err_size,
					   "devices[%zu]: expected a path below /dev/ of at most 255 characters "
					   "A-Z a-z 0-9 / _ . : -, got %s",
					   n, q);
			return -EINVAL;
		}
		r = check_path(v, err, err_size);
		if (r < 0)
			return r;
		for (size_t i = 0; i < ARRAY_SIZE(always); i++)
			if (!strcmp(v, always[i])) {
				(void)nbw_snprintf(err, err_size, "devices[%zu]: %s is in every sandbox already", n, q);
				return -EINVAL;
			}
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v, list[i])) {
				(void)nbw_snprintf(err, err_size, "devices[%zu]: %s is listed twice", n, q);
				return -EINVAL;
			}
	}
	return 0;
}

static int validate_runtime(struct config *c, const void *value, char *err, size_t err_size)
{
	const char *v = value;
	char q[96];

	if (v[0] == '/')
		return check_path(v, err, err_size);
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-' || *p == '+'))
			goto bad;
	if (v[0] == '\0' || v[0] == '.' || v[0] == '-')
		goto bad;
	return 0;
bad:
	config__quote(v, strlen(v), q, sizeof(q));
	(void)nbw_snprintf(err, err_size, "expected a program name without '/' or an absolute path, got %s", q);
	return -EINVAL;
}

/* http://HOST:PORT/ or https://HOST:PORT/ ("/" optional); HOST is an IPv4
 * literal, a bracketed IPv6 literal or localhost. Fills bind_host/bind_port. */
static int validate_bind_url(struct config *c, const void *value, char *err, size_t err_size)
{
	const char *v = value, *p, *host, *host_end, *port;
	char q[96], hostbuf[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	uint64_t portv;
	bool https;
	int family;
	size_t hl, pl;
	char portbuf[8];
	char *h;

	config__quote(v, strlen(v), q, sizeof(q));
	if (str_has_prefix(v, "http://")) {
		https = false;
		p = v + strlen("http://");
	} else if (str_has_prefix(v, "https://")) {
		https = true;
		p = v + strlen("https://");
	} else {
		(void)nbw_snprintf(err, err_size, "expected a URL starting with http:// or https://, got %s", q);
		return -EINVAL;
	}

	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			goto bad_host;
		p = host_end + 1;
		family = AF_INET6;
	} else {
		host = p;
		host_end = host + strcspn(host, ":/?#@");
		p = host_end;
		family = AF_INET;
	}
	hl = (size_t)(host_end - host);
	if (hl == 0 || hl >= sizeof(hostbuf))
		goto bad_host;
	memcpy(hostbuf, host, hl);
	hostbuf[hl] = '\0';
	if (family == AF_INET && strcmp(hostbuf, "localhost") == 0)
		(void)nbw_strlcpy(hostbuf, "127.0.0.1", sizeof(hostbuf));
	if (inet_pton(family, hostbuf, addr) != 1 || !inet_ntop(family, addr, canon, sizeof(canon)))
		goto bad_host;

	if (*p != ':') {
		(void)nbw_snprintf(err, err_size, "expected an explicit port (http://HOST:PORT/), got %s", q);
		return -EINVAL;
	}
	port = ++p;
	pl = strspn(port, "0123456789");
	p = port + pl;
	if (pl == 0 || pl >= sizeof(portbuf))
		goto bad_port;
	memcpy(portbuf, port, pl);
	portbuf[pl] = '\0';
	if (nbw_parse_u64(portbuf, 1, 65535, &portv) < 0)
		goto bad_port;
	if (!(p[0] == '\0' || (p[0] == '/' && p[1] == '\0'))) {
		(void)nbw_snprintf(err, err_size, "expected nothing after the port but an optional \"/\", got %s", q);
		return -EINVAL;
	}
	if (https) {
		/* cookie_secure is forced in config__check_cross once this is lifted */
		(void)nbw_strlcpy(err,
				  "https is not supported yet; terminate TLS in front of nbwarden and set "
				  "hub.cookie_secure: true",
				  err_size);
		return -EINVAL;
	}

	h = strdup(canon);
	if (!h)
		return -ENOMEM;
	free(c->hub.bind_host);
	c->hub.bind_host = h;
	c->hub.bind_port = (uint16_t)portv;
	return 0;

bad_host:
	(void)nbw_snprintf(err, err_size, "host must be an IPv4 address, a bracketed IPv6 address or localhost, got %s",
			   q);
	return -EINVAL;
bad_port:
	(void)nbw_snprintf(err, err_size, "expected a port in 1..65535, got %s", q);
	return -EINVAL;
}

/* ---- conversion ---- */

static int set_string(struct config *c, const struct config__key *k, const struct config__scalar *s, char *err,
		      size_t err_size)
{
	_cleanup_free_ char *v = NULL;
	char **field = (char **)((char *)c + k->offset);
	int r;

	r = check_string(k, s, err, err_size);
	if (r < 0)
		return r;
	v = strndup(s->text, s->len);
	if (!v)
		return -ENOMEM;
	if (k->type == CONFIG__PATH) {
		r = check_path(v, err, err_size);
		if (r < 0)
			return r;
	}
	if (k->validate) {
		r = k->validate(c, v, err, err_size);
		if (r < 0)
			return r;
	}
	free(*field);
	*field = TAKE_PTR(v);
	return 0;
}

static int set_number(struct config *c, const struct config__key *k, const struct config__scalar *s, char *err,
		      size_t err_size)
{
	void *field = (char *)c + k->offset;
	char buf[32];
	uint64_t u = 0;
	double d = 0;
	bool b = false;
	int r;

	if (s->null || s->len >= sizeof(buf) || memchr(s->text, '\0', s->len))
		return bad_value(k, s, err, err_size);
	memcpy(buf, s->text, s->len);
	buf[s->len] = '\0';

	switch (k->type) {
	case CONFIG__BOOL:
		/* YAML 1.2 core schema only: no yes/no/on/off */
		if (s->quoted)
			return bad_value(k, s, err, err_size);
		if (!strcmp(buf, "true") || !strcmp(buf, "True") || !strcmp(buf, "TRUE"))
			b = true;
		else if (!strcmp(buf, "false") || !strcmp(buf, "False") || !strcmp(buf, "FALSE"))
			b = false;
		else
			return bad_value(k, s, err, err_size);
		if (k->validate && (r = k->validate(c, &b, err, err_size)) < 0)
			return r;
		*(bool *)field = b;
		return 0;
	case CONFIG__U32:
	case CONFIG__U64:
		if (s->quoted || !all_digits(buf, s->len) || nbw_parse_u64(buf, k->min, k->max, &u) < 0)
			return bad_value(k, s, err, err_size);
		break;
	case CONFIG__SIZE:
		if (config_parse_size(buf, &u) < 0 || u < k->min || u > k->max)
			return bad_value(k, s, err, err_size);
		break;
	case CONFIG__DOUBLE: {
		size_t i = 0, nd = 0;
		char *end = NULL;

		if (s->quoted)
			return bad_value(k, s, err, err_size);
		/* [0-9]+ ( "." [0-9]* )? | "." [0-9]+ -- no signs, exponents, inf or nan */
		for (; i < s->len && buf[i] >= '0' && buf[i] <= '9'; i++)
			nd++;
		if (i < s->len && buf[i] == '.')
			for (i++; i < s->len && buf[i] >= '0' && buf[i] <= '9'; i++)
				nd++;
		if (nd == 0 || i != s->len)
			return bad_value(k, s, err, err_size);
		errno = 0;
		d = strtod(buf, &end);
		if (errno != 0 || !end || *end || !isfinite(d) || d < k->dmin || d > k->dmax)
			return bad_value(k, s, err, err_size);
		if (k->validate && (r = k->validate(c, &d, err, err_size)) < 0)
			return r;
		*(double *)field = d;
		return 0;
	}
	default:
		return -EINVAL;
	}

	if (k->validate && (r = k->validate(c, &u, err, err_size)) < 0)
		return r;
	if (k->type == CONFIG__U32)
		*(uint32_t *)field = (uint32_t)u;
	else
		*(uint64_t *)field = u;
	return 0;
}

int config__set_list(struct config *c, const struct config__key *k, char **list, size_t n, char *err, size_t err_size)
{
	char ***field = (char ***)((char *)c + k->offset);
	size_t *field_n = (size_t *)((char *)c + k->offset_n);
	int r;

	if (n == 0 && !k->allow_empty) {
		config__strv_free(list, n);
		(void)nbw_strlcpy(err, "expected a non-empty list of strings, got an empty list", err_size);
		return -EINVAL;
	}
	if (!list && !(list = calloc(1, sizeof(char *)))) /* [] is a NULL-terminated empty list */
		return -ENOMEM;
	if (k->validate && (r = k->validate(c, list, err, err_size)) < 0) {
		config__strv_free(list, n);
		return r;
	}
	config__strv_free(*field, *field_n);
	*field = list;
	*field_n = n;
	return 0;
}

int config__set_scalar(struct config *c, const struct config__key *k, const struct config__scalar *s, char *err,
		       size_t err_size)
{
	char **list;
	int r;

	switch (k->type) {
	case CONFIG__STRING:
	case CONFIG__PATH:
	case CONFIG__URL:
		return set_string(c, k, s, err, err_size);
	case CONFIG__STRLIST:
		/* one string = a one-element list */
		if (s->len == 0)
			return bad_value(k, s, err, err_size);
		r = check_string(k, s, err, err_size);
		if (r < 0)
			return r;
		list = calloc(2, sizeof(char *));
		if (!list)
			return -ENOMEM;
		list[0] = strndup(s->text, s->len);
		if (!list[0]) {
			free(list);
			return -ENOMEM;
		}
		return config__set_list(c, k, list, 1, err, err_size);
	default:
		return set_number(c, k, s, err, err_size);
	}
}

int config__set_defaults(struct config *c)
{
	char err[256];
	int r;

	for (size_t i = 0; i < config__n_keys; i++) {
		const struct config__key *k = &config__keys[i];

		if (k->type == CONFIG__STRLIST) {
			size_t n = 0;
			char **list;

			while (k->def_list[n])
				n++;
			list = calloc(n + 1, sizeof(char *));
			if (!list)
				return -ENOMEM;
			for (size_t j = 0; j < n; j++) {
				list[j] = strdup(k->def_list[j]);
				if (!list[j]) {
					config__strv_free(list, j);
					return -ENOMEM;
				}
			}
			r = config__set_list(c, k, list, n, err, sizeof(err));
		} else {
			struct config__scalar s = {
			    .text = k->def,
			    .len = strlen(k->def),
			    .quoted = k->type == CONFIG__STRING || k->type == CONFIG__PATH || k->type == CONFIG__URL,
			};
			r = config__set_scalar(c, k, &s, err, sizeof(err));
		}
		if (r == -ENOMEM)
			return r;
		if (r < 0) /* a bad row in the table: a bug, not the operator's fault */
			return log_error_errno(-EINVAL, "config: default of %s is invalid: %s", k->name, err);
	}
	return 0;
}

int config__check_cross(struct config *c, void (*report)(void *ctx, const char *key, const char *msg), void *ctx)
{
	uint64_t lo = c->singleuser.host_uid_base;
	uint64_t hi = lo + (uint64_t)c->singleuser.max_servers * SANDBOX_UIDS_PER_USER; /* exclusive */
	char msg[256];
	int n = 0;

	if (c->hub.bind_url && str_has_prefix(c->hub.bind_url, "https://"))
		c->hub.cookie_secure = true;

	if (hi - 1 > NBW_UID_MAX) {
		(void)nbw_snprintf(msg, sizeof(msg),
				   "the sandbox uid ranges %llu..%llu (singleuser.maxServers = %u ranges of %u) "
				   "exceed the largest uid %u",
				   (unsigned long long)lo, (unsigned long long)(hi - 1), c->singleuser.max_servers,
				   SANDBOX_UIDS_PER_USER, NBW_UID_MAX);
		report(ctx, "singleuser.hostUidBase", msg);
		n++;
	}
	/* The hub's own uid/gid inside a sandbox range would let one user's
	 * sandbox own the hub's files. */
	if (c->hub.uid >= lo && c->hub.uid < hi) {
		(void)nbw_snprintf(msg, sizeof(msg), "%u lies inside the sandbox uid ranges %llu..%llu", c->hub.uid,
				   (unsigned long long)lo, (unsigned long long)(hi - 1));
		report(ctx, "hub.uid", msg);
		n++;
	}
	/* A guarantee above the limit could never be given. */
	for (size_t i = 0; i <= c->singleuser.n_profiles; i++) {
		const struct config_profile *pr = i < c->singleuser.n_profiles ? &c->singleuser.profiles[i] : NULL;
		double cl = pr && pr->has_cpu_limit ? pr->cpu_limit : c->singleuser.cpu_limit;
		double cg = pr && pr->has_cpu_guarantee ? pr->cpu_guarantee : c->singleuser.cpu_guarantee;
		uint64_t ml = pr && pr->has_mem_limit ? pr->mem_limit : c->singleuser.memory_limit;
		uint64_t mg = pr && pr->has_mem_guarantee ? pr->mem_guarantee : c->singleuser.memory_guarantee;
		char key[96], gs[32], ls[32];

		if (pr && !pr->has_cpu_limit && !pr->has_cpu_guarantee && !pr->has_mem_limit && !pr->has_mem_guarantee)
			continue; /* the global settings, checked once */
		if (cg > cl && (!pr || pr->has_cpu_limit || pr->has_cpu_guarantee)) {
			if (pr)
				(void)nbw_snprintf(key, sizeof(key), "singleuser.profileList[%zu].kubespawner_override.cpu_guarantee", i);
			(void)nbw_snprintf(msg, sizeof(msg), "the CPU guarantee %g is above the limit %g", cg, cl);
			report(ctx, pr ? key : "singleuser.cpu.guarantee", msg);
			n++;
		}
		if (mg > ml && (!pr || pr->has_mem_limit || pr->has_mem_guarantee)) {
			if (pr)
				(void)nbw_snprintf(key, sizeof(key), "singleuser.profileList[%zu].kubespawner_override.mem_guarantee", i);
			config__format_size(mg, gs, sizeof(gs));
			config__format_size(ml, ls, sizeof(ls));
			(void)nbw_snprintf(msg, sizeof(msg), "the memory guarantee %s is above the limit %s", gs, ls);
			report(ctx, pr ? key : "singleuser.memory.guarantee", msg);
			n++;
		}
	}
	if (c->hub.gid >= lo && c->hub.gid < hi) {
		(void)nbw_snprintf(msg, sizeof(msg), "%u lies inside the sandbox gid ranges %llu..%llu", c->hub.gid,
				   (unsigned long long)lo, (unsigned long long)(hi - 1));
		report(ctx, "hub.gid", msg);
		n++;
	}
	return n;
}
