/* Fuzz the pure HTTP helpers: percent-decoding, parameters, cookies, escaping,
 * token lists. The first byte picks options; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool drop_ours(const char *name, size_t len)
{
	return len >= 8 && memcmp(name, "nbwarden", 8) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char small[8], out[512], *in, *big;
	size_t len;
	bool plus;
	int r;

	if (size < 1 || size > 4096)
		return 0;
	plus = data[0] & 1;
	len = size - 1;
	in = malloc(len + 1);
	big = malloc(2 * len + 1);
	if (!in || !big)
		abort();
	memcpy(in, data + 1, len);
	in[len] = '\0';

	r = http_urldecode(in, len, plus, out, sizeof(out));
	if (r >= 0 && (strlen(out) != (size_t)r || (size_t)r > len))
		abort();
	r = http_urldecode(in, len, plus, small, sizeof(small));
	if (r >= (int)sizeof(small))
		abort();

	r = http_param_get(in, len, "next", plus, out, sizeof(out));
	if (r >= 0 && strlen(out) != (size_t)r)
		abort();
	(void)http_param_get(in, len, "", plus, small, sizeof(small));

	r = http_html_escape(in, out, sizeof(out));
	if (r >= 0 && (strpbrk(out, "<>\"'") || strlen(out) != (size_t)r))
		abort();

	r = http_cookie_get(in, "nbwarden-session", out, sizeof(out));
	if (r >= 0 && strlen(out) != (size_t)r)
		abort();
	r = http_cookie_filter(in, len, drop_ours, big, 2 * len + 1);
	if (r < 0 || strlen(big) != (size_t)r)
		abort(); /* 2 * len + 1 must always be enough */
	if (r > 0 && http_cookie_get(big, "nbwarden-session", out, sizeof(out)) != -ENOENT)
		abort();
	(void)http_cookie_filter(in, len, drop_ours, small, sizeof(small));

	(void)http_token_list_has(in, len, "upgrade");
	if (http_header_name_valid(in) && strpbrk(in, "\r\n: "))
		abort();
	if (http_header_value_valid(in) && strpbrk(in, "\r\n"))
		abort();

	free(in);
	free(big);
	return 0;
}
