/* Shared helpers of the config unit tests: load a YAML text and expect it to
 * be accepted, or refused with exactly the given messages. Define F (the file
 * name the messages carry) before including. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config/config.h"
#include "test.h"

static inline struct config *load_ok(const char *yaml)
{
	struct config_diag d = {0};
	struct config *c = NULL;
	int r = config_load_string(yaml, strlen(yaml), F, &c, &d);

	for (size_t i = 0; i < d.n; i++)
		print_error("unexpected: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	config_diag_done(&d);
	return c;
}

/* Loads yaml (length len) and checks that exactly the NULL-terminated
 * messages come out, in order, and that *ret is left untouched. */
static inline void expect_errors_n(const char *yaml, size_t len, const char *const *want)
{
	struct config_diag d = {0};
	struct config *c = (struct config *)0x1;
	size_t n = 0;
	int r = config_load_string(yaml, len, F, &c, &d);
	bool same;

	while (want[n])
		n++;
	same = d.n == n;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(d.msgs[i], want[i]) == 0;
	for (size_t i = 0; !same && i < d.n; i++)
		print_message("got: %s\n", d.msgs[i]);
	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(c, (struct config *)0x1); /* untouched on failure */
	assert_int_equal(d.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d.msgs[i], want[i]);
	config_diag_done(&d);
	assert_null(d.msgs);
	assert_int_equal(d.n, 0);
}

#define expect_errors(yaml, ...) expect_errors_n((yaml), strlen(yaml), (const char *const[]){__VA_ARGS__, NULL})
