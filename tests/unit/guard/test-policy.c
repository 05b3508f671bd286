/* The guard's policy parser: the documented grammar is accepted, every
 * deviation is refused with the line that caused it. */
#include "test.h"

#include "guard/guard.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct guard_policy *pol;
static char err[256];

#define HEAD "nbwarden-guard-policy 1\nlandlock best-effort\n"

/* Parse into pol (the previous policy freed); pol is NULL after a refusal. */
static int parse_len(const char *text, size_t len)
{
	guard_policy_free(pol);
	pol = NULL;
	return guard_policy_parse(text, len, &pol, err, sizeof(err));
}

static int parse(const char *text)
{
	return parse_len(text, strlen(text));
}

static int teardown(void **state)
{
	guard_policy_free(pol);
	pol = NULL;
	return 0;
}

static void test_full(void **state)
{
	const char *text = "# generated\n"
			   "\n"
			   "nbwarden-guard-policy 1\n"
			   "landlock require 6\n"
			   "log off\n"
			   "scope abstract-unix-socket\n"
			   "scope signal\n"
			   "memfd deny\n"
			   "net-deny udp\n"
			   "read /usr/lib\n"
			   "exec /usr/bin/python3.11\n"
			   "write /home/jovyan\n"
			   "# a comment between rules\n"
			   "device /dev/null\n"
			   "read /\n"
			   "list /\n";

	assert_int_equal(parse(text), 0);
	assert_int_equal(pol->mode, GUARD_REQUIRE);
	assert_int_equal(pol->min_abi, 6);
	assert_false(pol->log);
	assert_int_equal(pol->scopes, GUARD_SCOPE_ABSTRACT_UNIX | GUARD_SCOPE_SIGNAL);
	assert_true(pol->deny_memfd);
	assert_int_equal(pol->net_deny, GUARD_NET_UDP);
	assert_int_equal(pol->n_rules, 6);
	assert_int_equal(pol->rules[0].kind, GUARD_RULE_READ);
	assert_string_equal(pol->rules[0].path, "/usr/lib");
	assert_int_equal(pol->rules[1].kind, GUARD_RULE_EXEC);
	assert_string_equal(pol->rules[1].path, "/usr/bin/python3.11");
	assert_int_equal(pol->rules[2].kind, GUARD_RULE_WRITE);
	assert_int_equal(pol->rules[3].kind, GUARD_RULE_DEVICE);
	assert_string_equal(pol->rules[4].path, "/");
	assert_int_equal(pol->rules[5].kind, GUARD_RULE_LIST);
}

static void test_defaults(void **state)
{
	assert_int_equal(parse(HEAD), 0);
	assert_int_equal(pol->mode, GUARD_BEST_EFFORT);
	assert_int_equal(pol->min_abi, 0);
	assert_true(pol->log); /* denials are recorded unless switched off */
	assert_int_equal(pol->scopes, 0);
	assert_false(pol->deny_memfd);
	assert_int_equal(pol->net_deny, 0);
	assert_int_equal(pol->n_rules, 0);
}

static void expect_bad(const char *text, const char *want_err)
{
	int r = parse(text);
	if (r != -EINVAL && r != -E2BIG)
		fail_msg("accepted (%d): %s", r, text);
	assert_null(pol); /* nothing returned on a refusal */
	if (!strstr(err, want_err))
		fail_msg("error \"%s\" lacks \"%s\" for: %s", err, want_err, text);
}

static void test_rejects(void **state)
{
	expect_bad("", "empty");
	expect_bad("nbwarden-guard-policy 1\nlandlock best-effort", "newline");
	expect_bad("nbwarden-guard-policy 2\nlandlock best-effort\n", "line 1: first line");
	expect_bad("landlock best-effort\nnbwarden-guard-policy 1\n", "line 1: first line");
	expect_bad("nbwarden-guard-policy 1\n", "missing \"landlock");
	expect_bad("# only a comment\n", "missing \"nbwarden-guard-policy");
	expect_bad(HEAD "landlock best-effort\n", "line 3: duplicate \"landlock\"");
	expect_bad("nbwarden-guard-policy 1\nlandlock require 0\n", "line 2: landlock require");
	expect_bad("nbwarden-guard-policy 1\nlandlock require 07\n", "line 2: landlock require");
	expect_bad("nbwarden-guard-policy 1\nlandlock require 100\n", "line 2: landlock require");
	expect_bad("nbwarden-guard-policy 1\nlandlock require -1\n", "line 2: landlock require");
	expect_bad("nbwarden-guard-policy 1\nlandlock require\n", "line 2:");
	expect_bad("nbwarden-guard-policy 1\nlandlock maybe\n", "line 2:");
	expect_bad(HEAD "log on\nlog off\n", "line 4: duplicate \"log\"");
	expect_bad(HEAD "log yes\n", "line 3:");
	expect_bad(HEAD "scope signal\nscope signal\n", "line 4: duplicate \"scope\"");
	expect_bad(HEAD "scope pathname-unix-socket\n", "line 3:");
	expect_bad(HEAD "memfd deny\nmemfd deny\n", "line 4: duplicate \"memfd\"");
	expect_bad(HEAD "memfd allow\n", "line 3: expected \"memfd deny\"");
	expect_bad(HEAD "read  /usr\n", "line 3: tokens");
	expect_bad(HEAD "read /usr \n", "line 3: tokens");
	expect_bad(HEAD " read /usr\n", "line 3: tokens");
	expect_bad(HEAD "read\t/usr\n", "line 3: control");
	expect_bad(HEAD "read /usr\r\n", "line 3: control");
	expect_bad(HEAD "read /usr /etc\n", "line 3:");
	expect_bad(HEAD "read\n", "line 3:");
	expect_bad(HEAD "Read /usr\n", "line 3: unknown keyword");
	expect_bad(HEAD "execute /usr/bin/python3\n", "line 3: unknown keyword");
	expect_bad(HEAD "read usr\n", "line 3: invalid path");
	expect_bad(HEAD "read /usr/\n", "line 3: invalid path");
	expect_bad(HEAD "read //usr\n", "line 3: invalid path");
	expect_bad(HEAD "read /usr//lib\n", "line 3: invalid path");
	expect_bad(HEAD "read /usr/./lib\n", "line 3: invalid path");
	expect_bad(HEAD "read /usr/../etc\n", "line 3: invalid path");
	expect_bad(HEAD "read /..\n", "line 3: invalid path");
	expect_bad(HEAD "read /usr/\xc3\xa9\n", "line 3: control or non-ASCII");
	/* "..." and ".x" are ordinary names. */
	assert_int_equal(parse(HEAD "read /a/.../.x/..b\n"), 0);
	{
		const char nul[] = HEAD "read /usr\0/etc\n";
		assert_int_equal(parse_len(nul, sizeof(nul) - 1), -EINVAL);
		assert_non_null(strstr(err, "NUL"));
	}
}

static void test_net_deny(void **state)
{
	assert_int_equal(parse(HEAD "net-deny tcp\n"), 0);
	assert_int_equal(pol->net_deny, GUARD_NET_TCP);
	assert_int_equal(parse(HEAD "net-deny udp\n"), 0);
	assert_int_equal(pol->net_deny, GUARD_NET_UDP);
	assert_int_equal(parse(HEAD "net-deny icmp\n"), 0);
	assert_int_equal(pol->net_deny, GUARD_NET_ICMP);
	assert_int_equal(parse(HEAD "net-deny icmp\nread /usr\nnet-deny tcp\n# c\nnet-deny udp\n"), 0);
	assert_int_equal(pol->net_deny, GUARD_NET_TCP | GUARD_NET_UDP | GUARD_NET_ICMP);
	assert_int_equal(pol->net_deny, GUARD_NET_ALL);
	assert_int_equal(pol->n_rules, 1);

	expect_bad(HEAD "net-deny tcp\nnet-deny tcp\n", "line 4: duplicate \"net-deny\"");
	expect_bad(HEAD "net-deny udp\nnet-deny icmp\nnet-deny udp\n", "line 5: duplicate \"net-deny\"");
	expect_bad(HEAD "net-deny sctp\n", "line 3: expected \"net-deny tcp\"");
	expect_bad(HEAD "net-deny TCP\n", "line 3: expected \"net-deny tcp\"");
	expect_bad(HEAD "net-deny icmpv6\n", "line 3: expected \"net-deny tcp\"");
	expect_bad(HEAD "net-deny all\n", "line 3: expected \"net-deny tcp\"");
	expect_bad(HEAD "net-deny tcp udp\n", "line 3: expected \"KEYWORD VALUE\"");
	expect_bad(HEAD "net-deny\n", "line 3: expected \"KEYWORD VALUE\"");
	expect_bad(HEAD "net-deny  tcp\n", "line 3: tokens");
	expect_bad(HEAD "net-deny tcp \n", "line 3: tokens");
	expect_bad(HEAD "net-allow tcp\n", "line 3: unknown keyword");
	/* Before the magic line it is no keyword at all. */
	expect_bad("net-deny tcp\n" HEAD, "line 1: first line");
}

static void test_limits(void **state)
{
	size_t cap = GUARD_POLICY_MAX + 4096, n;
	char *buf = malloc(cap), *path = malloc(GUARD_PATH_MAX + 2);
	int i;

	assert_non_null(buf);
	assert_non_null(path);
	/* Longest valid path, then one byte longer. */
	path[0] = '/';
	memset(path + 1, 'a', GUARD_PATH_MAX - 2);
	path[GUARD_PATH_MAX - 1] = 0;
	n = (size_t)snprintf(buf, cap, HEAD "read %s\n", path);
	assert_int_equal(parse_len(buf, n), 0);
	assert_int_equal(strlen(pol->rules[0].path), GUARD_PATH_MAX - 1);
	path[GUARD_PATH_MAX - 1] = 'a';
	path[GUARD_PATH_MAX] = 0;
	n = (size_t)snprintf(buf, cap, HEAD "read %s\n", path);
	assert_int_equal(parse_len(buf, n), -EINVAL);

	/* GUARD_RULES_MAX rules fit; one more is refused. */
	n = (size_t)snprintf(buf, cap, HEAD);
	for (i = 0; i < (int)GUARD_RULES_MAX; i++)
		n += (size_t)snprintf(buf + n, cap - n, "read /r%d\n", i);
	assert_int_equal(parse_len(buf, n), 0);
	assert_int_equal(pol->n_rules, GUARD_RULES_MAX);
	for (i = 0; i < (int)GUARD_RULES_MAX; i++) {
		char want[32];

		snprintf(want, sizeof(want), "/r%d", i);
		assert_int_equal(pol->rules[i].kind, GUARD_RULE_READ);
		assert_string_equal(pol->rules[i].path, want);
	}
	n += (size_t)snprintf(buf + n, cap - n, "read /one-more\n");
	assert_int_equal(parse_len(buf, n), -E2BIG);
	assert_non_null(strstr(err, "line 8195: too many rules"));

	/* Exactly GUARD_POLICY_MAX bytes of the longest paths, each different,
	 * then comment lines to the last byte: every path comes back intact (the
	 * paths share one block sized by the text). */
	n = (size_t)snprintf(buf, cap, HEAD);
	for (i = 0; n + 5 + GUARD_PATH_MAX <= GUARD_POLICY_MAX; i++) {
		snprintf(path, GUARD_PATH_MAX, "/%06d", i);
		memset(path + 7, 'a' + i % 26, GUARD_PATH_MAX - 8);
		path[GUARD_PATH_MAX - 1] = 0;
		n += (size_t)snprintf(buf + n, cap - n, "%s %s\n", i % 2 ? "exec" : "write", path);
	}
	while (n < GUARD_POLICY_MAX) {
		size_t line = GUARD_POLICY_MAX - n < 1000 ? GUARD_POLICY_MAX - n : 1000;

		memset(buf + n, '#', line - 1);
		buf[n + line - 1] = '\n';
		n += line;
	}
	assert_int_equal(n, GUARD_POLICY_MAX);
	assert_int_equal(parse_len(buf, n), 0);
	assert_int_equal(pol->n_rules, (size_t)i);
	assert_true(i > 1000);
	for (int k = 0; k < i; k++) {
		const char *got = pol->rules[k].path;

		snprintf(path, GUARD_PATH_MAX, "/%06d", k);
		memset(path + 7, 'a' + k % 26, GUARD_PATH_MAX - 8);
		path[GUARD_PATH_MAX - 1] = 0;
		assert_int_equal(pol->rules[k].kind, k % 2 ? GUARD_RULE_EXEC : GUARD_RULE_WRITE);
		assert_string_equal(got, path);
		/* The paths are the policy's own copies. */
		assert_true(got < buf || got >= buf + n);
	}

	/* One byte more (the comment grows) is refused. */
	buf[n - 1] = '#';
	buf[n] = '\n';
	assert_int_equal(parse_len(buf, n + 1), -E2BIG);
	assert_non_null(strstr(err, "larger than 1024 KiB"));

	/* The text can go away: the policy keeps its own paths. */
	n = (size_t)snprintf(buf, cap, HEAD "exec /usr/bin/python3\n");
	assert_int_equal(parse_len(buf, n), 0);
	memset(buf, 'x', n);
	assert_string_equal(pol->rules[0].path, "/usr/bin/python3");
	free(buf);
	free(path);
}

static void test_abi(void **state)
{
	assert_int_equal(parse("nbwarden-guard-policy 1\nlandlock require 7\n"), 0);
	assert_false(guard_abi_sufficient(pol, 0));
	assert_false(guard_abi_sufficient(pol, 6));
	assert_true(guard_abi_sufficient(pol, 7));
	assert_true(guard_abi_sufficient(pol, 8));
	assert_int_equal(parse(HEAD), 0);
	assert_true(guard_abi_sufficient(pol, 0));

	/* Rights follow the ABI: nothing the kernel lacks is ever requested. */
	assert_int_equal(guard_handled_fs(0), 0);
	assert_int_equal(guard_handled_fs(1), 0x1fff);
	assert_int_equal(guard_handled_fs(2), 0x3fff);
	assert_int_equal(guard_handled_fs(3), 0x7fff);
	assert_int_equal(guard_handled_fs(4), 0x7fff);
	assert_int_equal(guard_handled_fs(5), 0xffff);
	assert_int_equal(guard_handled_fs(7), 0xffff);
	for (int abi = 1; abi <= 7; abi++)
		for (int k = GUARD_RULE_READ; k <= GUARD_RULE_SOCKET; k++)
			assert_int_equal(guard_rule_rights(k, abi) & ~guard_handled_fs(abi), 0);
	/* Only exec rules execute; write rules never execute or make devices. */
	assert_int_equal(guard_rule_rights(GUARD_RULE_EXEC, 7), 0x1 | 0x4);
	assert_int_equal(guard_rule_rights(GUARD_RULE_READ, 7), 0x4 | 0x8);
	assert_int_equal(guard_rule_rights(GUARD_RULE_LIST, 7), 0x8);
	assert_int_equal(guard_rule_rights(GUARD_RULE_WRITE, 7) & (0x1 | 0x40 | 0x800), 0);
	/* socket: list, make a socket, remove it; no files, dirs, links or writes. */
	assert_int_equal(guard_rule_rights(GUARD_RULE_SOCKET, 7), 0x8 | 0x200 | 0x20);
	assert_int_equal(guard_rule_rights(GUARD_RULE_WRITE, 7), 0xffff & ~(0x1 | 0x40 | 0x800));
	assert_int_equal(guard_rule_rights(GUARD_RULE_DEVICE, 7) & 0x1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),    cmocka_unit_test(test_defaults), cmocka_unit_test(test_net_deny),
	    cmocka_unit_test(test_rejects), cmocka_unit_test(test_limits),   cmocka_unit_test(test_abi),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
