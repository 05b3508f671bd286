/* Fuzz the pure string checks of auth (no database): auth_next_ok and
 * auth_xsrf_ok, and check their results against independent invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_next(const char *next)
{
	size_t len;

	if (!auth_next_ok(next))
		return;
	/* Whatever was accepted must be a path on our own origin. */
	len = strlen(next);
	if (len == 0 || len > 2048 || next[0] != '/' || next[1] == '/' || next[1] == '\\')
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)next[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			abort();
		if (c == '%' && (strncasecmp(next + i, "%2f", 3) == 0 || strncasecmp(next + i, "%5c", 3) == 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *expected, *submitted, *sep;
	bool same;

	if (size > 8192)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;

	/* The whole input (up to its first NUL) as a redirect target. */
	check_next(buf);

	/* Split at the first '\n' into expected / submitted XSRF values. */
	expected = buf;
	sep = memchr(buf, '\n', size);
	submitted = sep ? sep + 1 : buf + size;
	if (sep)
		*sep = 0;
	same = expected[0] && strlen(expected) <= 256 && strcmp(expected, submitted) == 0;
	if (auth_xsrf_ok(expected, submitted) != same)
		abort();
	if (auth_xsrf_ok(expected, expected) != (expected[0] && strlen(expected) <= 256))
		abort();
	check_next(submitted);

	free(buf);
	return 0;
}
