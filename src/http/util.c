/* http: pure helpers — percent-decoding, parameters, cookies, escaping, status
 * texts, header validation. No allocation; every output is bounded by the
 * caller's buffer. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/common.h"
#include "http/http.h"


int http_urldecode(const char *in, size_t in_len, bool plus_as_space, char *out, size_t out_size)
{
	size_t o = 0;

	if (!out || out_size == 0)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (in_len - i < 3)
				goto einval;
			hi = nbw_hexval(in[i + 1]);
			lo = nbw_hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				goto einval;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_as_space)
			c = ' ';
		if (c == '\0')
			goto einval;
		if (o + 1 >= out_size) {
			out[0] = '\0';
			return -ENAMETOOLONG;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
einval:
	out[0] = '\0';
	return -EINVAL;
}

int http_param_get(const char *params, size_t len, const char *key, bool plus_as_space, char *out, size_t size)
{
	size_t klen = strlen(key);
	size_t i = 0;

	if (!params)
		return -ENOENT;
	while (i < len) {
		const char *pair = params + i;
		const char *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		const char *eq = memchr(pair, '=', plen);
		size_t nlen = eq ? (size_t)(eq - pair) : plen;
		char name[256];
		int r;

		i += plen + 1;
		if (nlen == 0 || nlen >= sizeof(name))
			continue;
		r = http_urldecode(pair, nlen, plus_as_space, name, sizeof(name));
		if (r < 0 || (size_t)r != klen || memcmp(name, key, klen) != 0)
			continue;
		if (!eq) {
			if (size == 0)
				return -ENAMETOOLONG;
			out[0] = '\0';
			return 0;
		}
		return http_urldecode(eq + 1, plen - nlen - 1, plus_as_space, out, size);
	}
	return -ENOENT;
}

int http_html_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	if (!out || size == 0)
		return -ENAMETOOLONG;
	for (; *in; in++) {
		const char *rep;
		char one[2] = {*in, '\0'};
		size_t n;

		switch (*in) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rep = one;
			break;
		}
		n = strlen(rep);
		if (o + n >= size) {
			out[0] = '\0';
			return -ENAMETOOLONG;
		}
		memcpy(out + o, rep, n);
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

char *http_ows_trim(char *s)
{
	size_t n;

	while (is_ows(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_ows(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Iterate "name=value" pairs of a Cookie header (separator ';'), trimmed. */
struct cookie_iter {
	const char *p, *end;
};

static bool cookie_next(struct cookie_iter *it, const char **name, size_t *nlen, const char **val, size_t *vlen,
			const char **raw, size_t *rawlen)
{
	while (it->p < it->end) {
		const char *start = it->p, *semi = memchr(start, ';', (size_t)(it->end - start));
		const char *stop = semi ? semi : it->end, *eq, *s = start, *e = stop;

		it->p = semi ? semi + 1 : it->end;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		if (s == e)
			continue;
		*raw = s;
		*rawlen = (size_t)(e - s);
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq) {
			/* A bare word: a cookie without value in some browsers. */
			*name = s;
			*nlen = (size_t)(e - s);
			*val = e;
			*vlen = 0;
			return true;
		}
		*name = s;
		*nlen = (size_t)(eq - s);
		while (*nlen > 0 && is_ows(s[*nlen - 1]))
			(*nlen)--;
		*val = eq + 1;
		while (*val < e && is_ows(**val))
			(*val)++;
		*vlen = (size_t)(e - *val);
		return true;
	}
	return false;
}

int http_cookie_get(const char *cookie_header, const char *name, char *out, size_t size)
{
	struct cookie_iter it = {cookie_header, cookie_header + strlen(cookie_header)};
	size_t want = strlen(name);
	const char *n, *v, *raw;
	size_t nlen, vlen, rawlen;

	while (cookie_next(&it, &n, &nlen, &v, &vlen, &raw, &rawlen)) {
		if (nlen != want || memcmp(n, name, nlen) != 0)
			continue;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (memchr(v, '\0', vlen))
			return -EINVAL;
		if (vlen >= size) {
			if (size > 0)
				out[0] = '\0';
			return -ENAMETOOLONG;
		}
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		return (int)vlen;
	}
	return -ENOENT;
}

int http_cookie_filter(const char *in, size_t in_len, bool (*drop)(const char *name, size_t len), char *out,
		       size_t size)
{
	struct cookie_iter it = {in, in + strnlen(in, in_len)};
	const char *n, *v, *raw;
	size_t nlen, vlen, rawlen, o = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	while (cookie_next(&it, &n, &nlen, &v, &vlen, &raw, &rawlen)) {
		size_t need = rawlen + (o > 0 ? 2 : 0);

		if (drop(n, nlen))
			continue;
		if (o + need >= size) {
			out[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (o > 0) {
			out[o++] = ';';
			out[o++] = ' ';
		}
		memcpy(out + o, raw, rawlen);
		o += rawlen;
	}
	out[o] = '\0';
	return (int)o;
}

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool http_header_name_valid(const char *name)
{
	if (!name || !*name)
		return false;
	for (; *name; name++)
		if (!is_tchar((unsigned char)*name))
			return false;
	return true;
}

bool http_header_value_valid(const char *value)
{
	if (!value)
		return false;
	for (; *value; value++) {
		unsigned char c = (unsigned char)*value;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

bool http_token_list_has(const char *list, size_t len, const char *token)
{
	size_t tlen = strlen(token), i = 0;

	while (i < len) {
		const char *s = list + i, *comma = memchr(s, ',', len - i);
		const char *e = comma ? comma : list + len;

		i = (size_t)(e - list) + 1;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return true;
	}
	return false;
}

int http_date_format(int64_t unix_secs, char *buf, size_t size)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)unix_secs;
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	return nbw_snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
			    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
