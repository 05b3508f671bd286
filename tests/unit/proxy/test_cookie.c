/* Unit tests for the Set-Cookie filter of the proxy (proxy_set_cookie_allowed). */
#include "test.h"

#include <stdbool.h>
#include <string.h>

#include "proxy/proxy.h"

static bool ok(const char *v)
{
	return proxy_set_cookie_allowed(v, "alice", "/user/alice/tree/x");
}

static void test_allowed(void **state)
{
	assert_true(ok("theirs=1"));
	assert_true(ok("theirs=1; Path=/user/alice/"));
	assert_true(ok("theirs=1; Path=/user/alice"));
	assert_true(ok("_xsrf=2|abc; Path=/user/alice/; HttpOnly; SameSite=Lax"));
	assert_true(ok("  theirs = 1 ;  path = /user/alice/api ; Secure"));
	assert_true(ok("x=; Max-Age=0; Path=/user/alice/"));
	assert_true(ok("nb=1; Path=/user/alice/nbwarden"));
	/* default path of the request: /user/alice/tree */
	assert_true(proxy_set_cookie_allowed("a=1", "alice", "/user/alice/tree/"));
	assert_true(proxy_set_cookie_allowed("a=1", "alice", "/user/alice/"));
}

static void test_names(void **state)
{
	assert_false(ok("nbwarden-session=X; Path=/user/alice/"));
	assert_false(ok("NBWarden-Server=X; Path=/user/alice/"));
	assert_false(ok("  nbwarden-xsrf =X; Path=/user/alice/"));
	assert_false(ok("nbwardenx=1"));
	assert_false(ok("__Host-nbwarden-session=X; Path=/"));
	assert_false(ok("__Secure-nbwarden-session=X; Path=/user/alice/"));
	/* nameless: browsers store "=nbwarden-session=X" or "X" under the empty name */
	assert_false(ok("=nbwarden-session=X; Path=/hub/api"));
	assert_false(ok("=x; Path=/user/alice/"));
	assert_false(ok(" =x"));
	assert_false(ok("novalue"));
	assert_false(ok(""));
}

static void test_paths(void **state)
{
	assert_false(ok("_xsrf=known; Path=/hub/"));
	assert_false(ok("_xsrf=known; Path=/"));
	assert_false(ok("a=1; Path=/user/"));
	assert_false(ok("a=1; Path=/user/bob/"));
	assert_false(ok("a=1; Path=/user/alicebob/"));
	assert_false(ok("a=1; Path=/user/alic"));
	assert_false(ok("a=1; Path=/USER/alice/"));
	/* the last Path would win in a browser: every one must be ours */
	assert_false(ok("a=1; Path=/user/alice/; Path=/hub/"));
	assert_false(ok("a=1; Path=/hub/; Path=/user/alice/"));
	/* not starting with '/': the default path, here fine, elsewhere not */
	assert_true(ok("a=1; Path=hub"));
	assert_true(ok("a=1; Path="));
	assert_false(proxy_set_cookie_allowed("a=1; Path=hub", "alice", "/user/alice"));
	/* no Path: the default path of /user/alice is /user, shared by every server */
	assert_false(proxy_set_cookie_allowed("a=1", "alice", "/user/alice"));
	assert_false(proxy_set_cookie_allowed("a=1", "alice", NULL));
	assert_false(proxy_set_cookie_allowed("a=1", "alice", "/user/bob/x"));
	assert_false(proxy_set_cookie_allowed("a=1; Path=/user/alice/", "", "/user/alice/x"));
	assert_false(proxy_set_cookie_allowed(NULL, "alice", "/user/alice/x"));
}

static void test_domain(void **state)
{
	assert_false(ok("a=1; Domain=example.org; Path=/user/alice/"));
	assert_false(ok("a=1; Path=/user/alice/; domain="));
	assert_false(ok("a=1; DOMAIN = .hub.example"));
	assert_true(ok("a=1; Path=/user/alice/; Domainx=1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowed),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
