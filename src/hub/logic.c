/* Pure helpers of the hub: path matching, cookie and URL formatting, the XSRF
 * decision, progress events and the JupyterHub user model. No I/O, no globals;
 * depends only on common and jansson so the unit tests link it alone. */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "hub/internal.h"

#define HUB_API_PREFIX "/hub/api"

enum hub_api_route hub__api_match(const char *path, char *user, size_t size)
{
	char buf[256];
	char *seg[6];
	size_t n = 0, len;
	const char *rest;

	if (!path || !str_has_prefix(path, HUB_API_PREFIX))
		return HUB_API_NONE;
	rest = path + strlen(HUB_API_PREFIX);
	if (rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0'))
		return HUB_API_ROOT;
	if (rest[0] != '/')
		return HUB_API_NONE;
	rest++;
	if (nbw_strlcpy(buf, rest, sizeof(buf)) < 0)
		return HUB_API_NONE;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	/* split on '/', empty segments ("//") never match */
	for (char *p = buf;;) {
		char *slash = strchr(p, '/');
		if (n == ARRAY_SIZE(seg))
			return HUB_API_NONE;
		seg[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (seg[i][0] == '\0')
			return HUB_API_NONE;

	if (n == 1 && strcmp(seg[0], "user") == 0)
		return HUB_API_SELF;
	if (n < 2 || strcmp(seg[0], "users") != 0)
		return HUB_API_NONE;
	if (!nbw_username_valid(seg[1]) || nbw_strlcpy(user, seg[1], size) < 0)
		return HUB_API_NONE;
	if (n == 2)
		return HUB_API_USER;
	if (strcmp(seg[2], "server") != 0)
		return HUB_API_NONE;
	if (n == 3)
		return HUB_API_SERVER;
	if (n == 4 && strcmp(seg[3], "progress") == 0)
		return HUB_API_PROGRESS;
	return HUB_API_NONE;
}

int hub__path_user_suffix(const char *path, const char *prefix, char *user, size_t size)
{
	const char *n;
	size_t len;

	if (!path || !str_has_prefix(path, prefix))
		return -EINVAL;
	n = path + strlen(prefix);
	len = strcspn(n, "/");
	if (!nbw_username_valid_n(n, len) || len + 1 > size)
		return -EINVAL;
	if (n[len] == '/' && n[len + 1] != '\0')
		return -EINVAL;
	memcpy(user, n, len);
	user[len] = '\0';
	return 0;
}

int hub__user_path_parse(const char *path, char *user, size_t size, bool *ret_bare)
{
	const char *n;
	size_t len;

	if (!path || !str_has_prefix(path, "/user/"))
		return -EINVAL;
	n = path + strlen("/user/");
	len = strcspn(n, "/");
	if (!nbw_username_valid_n(n, len) || len + 1 > size)
		return -EINVAL;
	memcpy(user, n, len);
	user[len] = '\0';
	if (ret_bare)
		*ret_bare = n[len] == '\0';
	return 0;
}

bool hub__next_server(const char *next, char *user, size_t size)
{
	char path[HUB_NEXT_MAX + 1];
	size_t len;

	if (!next)
		return false;
	len = strcspn(next, "?#");
	if (len >= sizeof(path))
		return false;
	memcpy(path, next, len);
	path[len] = '\0';
	return hub__user_path_parse(path, user, size, NULL) == 0;
}

int hub__urlencode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/';
		size_t need = plain ? 1 : 3;
		if (o + need >= size) {
			out[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

int hub__login_url(const char *target, char *out, size_t size)
{
	static const char prefix[] = "/hub/login?next=";
	int r;

	if (size <= strlen(prefix))
		return -ENAMETOOLONG;
	memcpy(out, prefix, sizeof(prefix));
	r = hub__urlencode(target, out + strlen(prefix), size - strlen(prefix));
	if (r < 0)
		out[0] = '\0';
	return r;
}

int hub__cookie_format(char *out, size_t size, const char *name, const char *value, const char *path, int64_t max_age,
		       bool secure)
{
	char age[96] = "";

	if (max_age == 0)
		nbw_snprintf(age, sizeof(age), "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
	else if (max_age > 0)
		nbw_snprintf(age, sizeof(age), "; Max-Age=%lld", (long long)max_age);
	return nbw_snprintf(out, size, "%s=%s; Path=%s; HttpOnly; SameSite=Lax%s%s", name, value, path, age,
			    secure ? "; Secure" : "");
}

int hub__auth_header_token(const char *value, char *out, size_t size)
{
	const char *p;
	size_t len;

	if (!value)
		return -ENOENT;
	if (strncasecmp(value, "token ", 6) == 0)
		p = value + 6;
	else if (strncasecmp(value, "bearer ", 7) == 0)
		p = value + 7;
	else
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0)
		return -EINVAL;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

bool hub__wants_html(const char *method, const char *accept)
{
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		return false;
	return accept && strcasestr(accept, "text/html") != NULL;
}

bool hub__method_safe(const char *method)
{
	return method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0);
}

int hub__xsrf_check(const struct hub_xsrf_input *in, const char **ret_reason)
{
	const char *reason = NULL;
	size_t elen;

	/* Only an ambient credential (the cookie) can be abused cross-site. */
	if (in->via != HUB_VIA_COOKIE)
		return 0;
	if (in->api && in->sec_fetch_mode && strcasecmp(in->sec_fetch_mode, "no-cors") == 0) {
		reason = "cross-site request refused (Sec-Fetch-Mode: no-cors)";
		goto refuse;
	}
	if (in->api && in->sec_fetch_site && strcasecmp(in->sec_fetch_site, "cross-site") == 0) {
		reason = "cross-site request refused (Sec-Fetch-Site: cross-site)";
		goto refuse;
	}
	if (hub__method_safe(in->method))
		return 0;
	elen = in->expected ? strlen(in->expected) : 0;
	if (elen == 0) {
		reason = "XSRF token missing from the session";
		goto refuse;
	}
	if (in->header && strlen(in->header) == elen && nbw_memeq_ct(in->header, in->expected, elen))
		return 0;
	if (in->form && strlen(in->form) == elen && nbw_memeq_ct(in->form, in->expected, elen))
		return 0;
	reason =
	    (in->header && in->header[0]) || (in->form && in->form[0]) ? "XSRF token mismatch" : "XSRF token missing";
refuse:
	if (ret_reason)
		*ret_reason = reason;
	return -EPERM;
}

void hub__sanitize_text(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	if (size == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p && o + 1 < size; p++)
		dst[o++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
	dst[o] = '\0';
}

void hub__sanitize_msg_type(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return;
	dst[0] = '\0';
	if (!src || !src[0] || strlen(src) >= size || strspn(src, "abcdefghijklmnopqrstuvwxyz_") != strlen(src))
		return;
	memcpy(dst, src, strlen(src) + 1);
}

void hub__sanitize_ip(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return;
	dst[0] = '\0';
	if (!src || strlen(src) >= size || strspn(src, "0123456789abcdefABCDEF:.") != strlen(src))
		return;
	memcpy(dst, src, strlen(src) + 1);
}

size_t hub__utf8_trunc(const char *s, size_t len, size_t max)
{
	size_t n = max;

	if (len <= max)
		return len;
	/* s[n] exists; if it continues a sequence, cut before that sequence's lead byte */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80 && max - n < 3)
		n--;
	return n;
}

json_t *hub__json_str(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (!j) {
		char tmp[1024];
		hub__sanitize_text(tmp, sizeof(tmp), s);
		j = json_string(tmp);
	}
	return j;
}

char *hub__progress_event(int kind, uint32_t percent, const char *message, const char *user)
{
	json_t *o = json_object();
	char url[64], text[640], html[256];
	char *js = NULL, *out = NULL;
	size_t len;

	if (!o)
		return NULL;
	nbw_snprintf(url, sizeof(url), "/user/%s/", user);
	switch (kind) {
	case HUB_PROGRESS_READY:
		nbw_snprintf(text, sizeof(text), "Server ready at %s", url);
		/* url holds only [a-z0-9_/-]: nothing to escape */
		nbw_snprintf(html, sizeof(html), "Server ready at <a href=\"%s\">%s</a>", url, url);
		json_object_set_new(o, "progress", json_integer(100));
		json_object_set_new(o, "ready", json_true());
		json_object_set_new(o, "message", json_string(text));
		json_object_set_new(o, "html_message", json_string(html));
		json_object_set_new(o, "url", json_string(url));
		break;
	case HUB_PROGRESS_FAILED:
		nbw_snprintf(text, sizeof(text), "Spawn failed: %s", message && message[0] ? message : "unknown error");
		json_object_set_new(o, "progress", json_integer(100));
		json_object_set_new(o, "failed", json_true());
		json_object_set_new(o, "message", hub__json_str(text));
		break;
	default:
		json_object_set_new(o, "progress", json_integer(percent > 100 ? 100 : percent));
		json_object_set_new(o, "message", hub__json_str(message ? message : ""));
		json_object_set_new(o, "ready", json_false());
		break;
	}
	js = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!js)
		return NULL;
	len = strlen(js) + sizeof("data: \n\n");
	out = malloc(len);
	if (out && nbw_snprintf(out, len, "data: %s\n\n", js) < 0) {
		free(out);
		out = NULL;
	}
	free(js);
	return out;
}

static json_t *time_or_null(int64_t t)
{
	char buf[40];
	if (t <= 0 || nbw_time_format(t, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

json_t *hub__user_model(const struct store_user *u, const struct hub_server *srv)
{
	json_t *o = json_object(), *servers = json_object();
	char url[64], purl[96];
	bool active = srv && (srv->state == HUB_SRV_PENDING || srv->state == HUB_SRV_READY);
	bool ready = active && srv->state == HUB_SRV_READY && !srv->stopping;
	const char *pending = NULL;
	int64_t last = u->last_activity;

	if (!o || !servers) {
		json_decref(o);
		json_decref(servers);
		return NULL;
	}
	nbw_snprintf(url, sizeof(url), "/user/%s/", u->name);
	nbw_snprintf(purl, sizeof(purl), "/hub/api/users/%s/server/progress", u->name);
	if (active && srv->stopping)
		pending = "stop";
	else if (active && srv->state == HUB_SRV_PENDING)
		pending = "spawn";
	if (active && srv->last_activity > last)
		last = srv->last_activity;

	json_object_set_new(o, "kind", json_string("user"));
	json_object_set_new(o, "name", json_string(u->name));
	json_object_set_new(o, "admin", json_boolean(u->admin));
	json_object_set_new(o, "groups", json_array());
	json_object_set_new(o, "server", ready ? json_string(url) : json_null());
	json_object_set_new(o, "pending", pending ? json_string(pending) : json_null());
	json_object_set_new(o, "created", time_or_null(u->created));
	json_object_set_new(o, "last_activity", time_or_null(last));
	if (active) {
		json_t *s = json_object();
		int64_t slast = srv->last_activity > 0 ? srv->last_activity : srv->started;
		json_object_set_new(s, "name", json_string(""));
		json_object_set_new(s, "ready", json_boolean(ready));
		json_object_set_new(s, "pending", pending ? json_string(pending) : json_null());
		json_object_set_new(s, "url", json_string(url));
		json_object_set_new(s, "started", time_or_null(srv->started));
		json_object_set_new(s, "last_activity", time_or_null(slast));
		json_object_set_new(s, "progress_url", json_string(purl));
		json_object_set_new(s, "state", json_object());
		json_object_set_new(s, "user_options", srv->profile[0] ? json_pack("{s:s}", "profile", srv->profile)
								     : json_object());
		json_object_set_new(servers, "", s);
	}
	json_object_set_new(o, "servers", servers);
	return o;
}

bool hub__anon_is_browser(const char *method, const char *accept, bool has_authorization, bool upgrade)
{
	if (upgrade || has_authorization)
		return false;
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		return false;
	if (!accept || !accept[0])
		return true;
	return strcasestr(accept, "text/html") != NULL || strstr(accept, "*/*") != NULL;
}


static int hex_decode(const char *s, size_t len, uint8_t *out, size_t size)
{
	if (len == 0 || len % 2 || len / 2 > size)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = nbw_hexval(s[i]), lo = nbw_hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

int hub__tornado_xsrf_decode(const char *v, uint8_t *out, size_t size, size_t *ret_len)
{
	size_t vlen;
	int n;

	if (!v || !v[0])
		return -EINVAL;
	vlen = strlen(v);
	if (v[0] >= '1' && v[0] <= '9' && strchr(v, '|') && strspn(v, "0123456789") == (size_t)(strchr(v, '|') - v)) {
		/* versioned: "2|mask|masked-token|timestamp" (tornado), others unknown */
		const char *mask = v + 2, *tok, *ts, *p;
		uint8_t m[4];

		if (strncmp(v, "2|", 2) != 0)
			return -EINVAL;
		p = strchr(mask, '|');
		if (!p)
			return -EINVAL;
		tok = p + 1;
		p = strchr(tok, '|');
		if (!p)
			return -EINVAL;
		ts = p + 1;
		if (!ts[0] || strspn(ts, "0123456789") != strlen(ts))
			return -EINVAL;
		if (hex_decode(mask, (size_t)(tok - 1 - mask), m, sizeof(m)) != 4)
			return -EINVAL;
		n = hex_decode(tok, (size_t)(ts - 1 - tok), out, size);
		if (n <= 0)
			return -EINVAL;
		for (int i = 0; i < n; i++)
			out[i] ^= m[i % 4];
		*ret_len = (size_t)n;
		return 0;
	}
	/* version 1: hex of the token, or the raw value */
	n = hex_decode(v, vlen, out, size);
	if (n > 0) {
		*ret_len = (size_t)n;
		return 0;
	}
	if (vlen > size)
		return -EINVAL;
	memcpy(out, v, vlen);
	*ret_len = vlen;
	return 0;
}

bool hub__tornado_xsrf_match(const char *cookie, const char *submitted)
{
	uint8_t a[128], b[128];
	size_t alen = 0, blen = 0;
	bool ok;

	if (hub__tornado_xsrf_decode(cookie, a, sizeof(a), &alen) < 0 ||
	    hub__tornado_xsrf_decode(submitted, b, sizeof(b), &blen) < 0)
		return false;
	ok = alen == blen && alen > 0 && nbw_memeq_ct(a, b, alen);
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
	return ok;
}

/* "host[:port]" → host (brackets kept for IPv6) and port (0 if absent). */
static int split_hostport(const char *s, size_t len, char *host, size_t hsize, unsigned *port)
{
	const char *colon = NULL;
	size_t hlen;

	if (len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (!rb)
			return -EINVAL;
		if ((size_t)(rb - s) + 1 < len) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(s, ':', len);
	}
	hlen = colon ? (size_t)(colon - s) : len;
	if (hlen == 0 || hlen >= hsize)
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	*port = 0;
	if (colon) {
		char num[8];
		uint64_t v;
		size_t plen = len - hlen - 1;
		if (plen == 0 || plen >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, plen);
		num[plen] = '\0';
		if (nbw_parse_u64(num, 1, 65535, &v) < 0)
			return -EINVAL;
		*port = (unsigned)v;
	}
	return 0;
}

bool hub__origin_matches(const char *origin, const char *host)
{
	char oh[256], hh[256];
	unsigned op, hp, def;
	const char *rest;
	size_t rlen;

	if (!origin || !host)
		return false;
	if (strncasecmp(origin, "http://", 7) == 0) {
		rest = origin + 7;
		def = 80;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		rest = origin + 8;
		def = 443;
	} else {
		return false; /* "null", other schemes */
	}
	rlen = strlen(rest);
	if (rlen > 0 && rest[rlen - 1] == '/')
		rlen--;
	if (memchr(rest, '/', rlen) || memchr(rest, '@', rlen))
		return false;
	if (split_hostport(rest, rlen, oh, sizeof(oh), &op) < 0 ||
	    split_hostport(host, strlen(host), hh, sizeof(hh), &hp) < 0)
		return false;
	if (op == 0)
		op = def;
	if (hp == 0)
		hp = def;
	return strcasecmp(oh, hh) == 0 && op == hp;
}

int hub__user_csrf_check(const struct hub_user_csrf_input *in, const char **ret_reason)
{
	bool safe = hub__method_safe(in->method);
	const char *reason = NULL;
	const char *submitted;

	if (safe && !in->upgrade)
		return 0;
	if (in->sec_fetch_site && strcasecmp(in->sec_fetch_site, "cross-site") == 0) {
		reason = "cross-site request refused (Sec-Fetch-Site)";
		goto refuse;
	}
	if (in->origin && !hub__origin_matches(in->origin, in->host)) {
		reason = "cross-origin request refused (Origin)";
		goto refuse;
	}
	if (in->upgrade && safe)
		return 0; /* WebSockets: the origin checks above (as Jupyter's own check_origin) */
	if (in->sec_fetch_mode && strcasecmp(in->sec_fetch_mode, "no-cors") == 0) {
		reason = "cross-site request refused (Sec-Fetch-Mode: no-cors)";
		goto refuse;
	}
	submitted = in->xsrf_header && in->xsrf_header[0] ? in->xsrf_header : in->xsrf_query;
	if (!in->xsrf_cookie || !in->xsrf_cookie[0] || !submitted || !submitted[0]) {
		reason = "XSRF token missing";
		goto refuse;
	}
	if (!hub__tornado_xsrf_match(in->xsrf_cookie, submitted)) {
		reason = "XSRF token mismatch";
		goto refuse;
	}
	return 0;
refuse:
	if (ret_reason)
		*ret_reason = reason;
	return -EPERM;
}

static bool segment_is_dots(const char *seg, size_t len)
{
	size_t dots = 0;

	for (size_t i = 0; i < len;) {
		if (seg[i] == '.') {
			dots++;
			i++;
		} else if (i + 2 < len && seg[i] == '%' && seg[i + 1] == '2' &&
			   (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
			dots++;
			i += 3;
		} else {
			return false;
		}
	}
	return dots == 1 || dots == 2;
}

bool hub__path_safe(const char *path)
{
	const char *p = path;

	if (!path || path[0] != '/' || strchr(path, '\\'))
		return false;
	if (strcasestr(path, "%2f") || strcasestr(path, "%5c") || strstr(path, "%00"))
		return false;
	while (*p) {
		const char *seg = ++p; /* after a '/' */
		size_t len = strcspn(seg, "/");
		if (segment_is_dots(seg, len))
			return false;
		p = seg + len;
	}
	return true;
}

/* ---- fetch metadata: which page a cookie-authenticated browser request came from ---- */

int hub__referer_path(const char *referer, const char *host, char *out, size_t size)
{
	char origin[512];
	const char *auth, *p;
	size_t alen, plen;

	if (!referer || !host || size < 2)
		return -EINVAL;
	if (strncasecmp(referer, "http://", 7) == 0)
		auth = referer + 7;
	else if (strncasecmp(referer, "https://", 8) == 0)
		auth = referer + 8;
	else
		return -EINVAL;
	alen = strcspn(auth, "/?#");
	if (nbw_snprintf(origin, sizeof(origin), "%.*s%.*s", (int)(auth - referer), referer, (int)alen, auth) < 0 ||
	    !hub__origin_matches(origin, host))
		return -EPERM;
	p = auth + alen;
	plen = strcspn(p, "?#");
	if (plen == 0) {
		nbw_strlcpy(out, "/", size);
		return 0;
	}
	if (plen >= size)
		return -ENAMETOOLONG;
	memcpy(out, p, plen);
	out[plen] = '\0';
	/* browsers send normalized URLs; anything with dot segments or encoded
	 * separators is not one of ours */
	return hub__path_safe(out) ? 0 : -EINVAL;
}

static bool ieq(const char *a, const char *b)
{
	return a && strcasecmp(a, b) == 0;
}

int hub__hub_fetch_check(const struct hub_fetch_input *in, const char **ret_reason)
{
	char ref[HUB_NEXT_MAX + 1], user[NBW_USERNAME_MAX + 1];
	const char *reason;

	/* no fetch metadata: not a browser (curl, scripts) or a very old one */
	if (!in->sec_fetch_mode || ieq(in->sec_fetch_mode, "navigate"))
		return 0;
	if (!ieq(in->sec_fetch_site, "same-origin")) {
		reason = "request to the hub from another site refused";
		goto refuse;
	}
	if (hub__referer_path(in->referer, in->host, ref, sizeof(ref)) < 0 || !str_has_prefix(ref, "/hub/")) {
		reason = "request to the hub from a page outside the hub refused";
		goto refuse;
	}
	/* Scripts may choose any same-origin referrer (fetch's `referrer`,
	 * history.pushState), so the Referer alone does not prove much: the only
	 * scripted request the hub's own pages make is the progress stream. */
	if (!hub__method_safe(in->method) || hub__api_match(in->path, user, sizeof(user)) != HUB_API_PROGRESS) {
		reason = "scripted request to the hub refused";
		goto refuse;
	}
	return 0;
refuse:
	if (ret_reason)
		*ret_reason = reason;
	return -EPERM;
}

static bool under_server(const char *path, const char *server)
{
	size_t n = strlen("/user/"), sl = strlen(server);

	return str_has_prefix(path, "/user/") && strncmp(path + n, server, sl) == 0 &&
	       (path[n + sl] == '/' || path[n + sl] == '\0');
}

int hub__user_fetch_check(const struct hub_fetch_input *in, const char *server, const char **ret_reason)
{
	char ref[HUB_NEXT_MAX + 1];
	const char *reason;
	bool ref_ok;

	if (!in->sec_fetch_mode)
		return 0;
	ref_ok = hub__referer_path(in->referer, in->host, ref, sizeof(ref)) == 0 && under_server(ref, server);
	if (ieq(in->sec_fetch_mode, "navigate")) {
		/* a frame of X's pages inside another page would hand that page X's DOM */
		if (in->sec_fetch_dest && !ieq(in->sec_fetch_dest, "document") && !ref_ok) {
			reason = "framing a server's pages from elsewhere refused";
			goto refuse;
		}
		return 0;
	}
	if (ieq(in->sec_fetch_mode, "websocket")) {
		if (!in->origin || !hub__origin_matches(in->origin, in->host)) {
			reason = "WebSocket from another origin refused";
			goto refuse;
		}
		return 0;
	}
	if (!ieq(in->sec_fetch_site, "same-origin") || (in->origin && !hub__origin_matches(in->origin, in->host))) {
		reason = "request from another site refused";
		goto refuse;
	}
	if (!ref_ok) {
		reason = "request from a page outside this server refused";
		goto refuse;
	}
	return 0;
refuse:
	if (ret_reason)
		*ret_reason = reason;
	return -EPERM;
}

int hub__spawn_profile(const struct config *cfg, const char *requested, char *ret, size_t size, char *err,
		       size_t err_size)
{
	const struct config_profile *p = NULL;
	char choices[512];

	if (config_profile_resolve(cfg, requested, &p) < 0) {
		config_profile_choices(cfg, choices, sizeof(choices));
		if (choices[0])
			nbw_snprintf(err, err_size, "Unknown profile \"%.64s\"; choose one of: %s", requested, choices);
		else
			nbw_snprintf(err, err_size, "Unknown profile \"%.64s\"; no profiles are configured", requested);
		return -ENOENT;
	}
	if (nbw_strlcpy(ret, p ? p->slug : "", size) < 0)
		return -ENOBUFS;
	return 0;
}

int hub__spawn_options(const struct config *cfg, const json_t *opts, char *ret, size_t size, char *err,
		       size_t err_size)
{
	const json_t *v = opts ? json_object_get(opts, "profile") : NULL;

	if (v && !json_is_null(v) && !json_is_string(v)) {
		nbw_snprintf(err, err_size, "Invalid user options: \"profile\" must be a string");
		return -EINVAL;
	}
	return hub__spawn_profile(cfg, v && json_is_string(v) ? json_string_value(v) : NULL, ret, size, err,
				  err_size);
}
