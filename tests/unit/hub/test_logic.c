/* Unit tests for the hub's pure helpers (src/hub/logic.c). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/internal.h"

static void test_api_match(void **state)
{
	char u[NBW_USERNAME_MAX + 1];
	(void)state;

	assert_int_equal(hub__api_match("/hub/api", u, sizeof(u)), HUB_API_ROOT);
	assert_int_equal(hub__api_match("/hub/api/", u, sizeof(u)), HUB_API_ROOT);
	assert_int_equal(hub__api_match("/hub/api/user", u, sizeof(u)), HUB_API_SELF);
	assert_int_equal(hub__api_match("/hub/api/user/", u, sizeof(u)), HUB_API_SELF);

	memset(u, 0, sizeof(u));
	assert_int_equal(hub__api_match("/hub/api/users/alice", u, sizeof(u)), HUB_API_USER);
	assert_string_equal(u, "alice");
	assert_int_equal(hub__api_match("/hub/api/users/bob_2/server", u, sizeof(u)), HUB_API_SERVER);
	assert_string_equal(u, "bob_2");
	assert_int_equal(hub__api_match("/hub/api/users/carol/server/", u, sizeof(u)), HUB_API_SERVER);
	assert_int_equal(hub__api_match("/hub/api/users/dave/server/progress", u, sizeof(u)), HUB_API_PROGRESS);
	assert_string_equal(u, "dave");

	/* refused shapes */
	assert_int_equal(hub__api_match("/hub/apix", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/Alice", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/al%69ce", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/../server", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users//server", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/alice/servers", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/alice/server/progress/x", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/alice//", u, sizeof(u)), HUB_API_NONE);
	assert_int_equal(hub__api_match("/hub/api/users/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", u, sizeof(u)),
			 HUB_API_NONE); /* 33 chars */
	assert_int_equal(hub__api_match("/hub/home", u, sizeof(u)), HUB_API_NONE);
}

static void test_user_paths(void **state)
{
	char u[NBW_USERNAME_MAX + 1];
	bool bare = true;
	(void)state;

	assert_int_equal(hub__user_path_parse("/user/alice/", u, sizeof(u), &bare), 0);
	assert_string_equal(u, "alice");
	assert_false(bare);
	assert_int_equal(hub__user_path_parse("/user/alice/api/kernels", u, sizeof(u), &bare), 0);
	assert_false(bare);
	assert_int_equal(hub__user_path_parse("/user/alice", u, sizeof(u), &bare), 0);
	assert_true(bare);
	assert_int_equal(hub__user_path_parse("/user/", u, sizeof(u), &bare), -EINVAL);
	assert_int_equal(hub__user_path_parse("/user/Alice/", u, sizeof(u), &bare), -EINVAL);
	assert_int_equal(hub__user_path_parse("/user/../hub/", u, sizeof(u), &bare), -EINVAL);
	assert_int_equal(hub__user_path_parse("/users/alice/", u, sizeof(u), &bare), -EINVAL);

	assert_int_equal(hub__path_user_suffix("/hub/spawn-pending/bob", "/hub/spawn-pending/", u, sizeof(u)), 0);
	assert_string_equal(u, "bob");
	assert_int_equal(hub__path_user_suffix("/hub/spawn-pending/bob/", "/hub/spawn-pending/", u, sizeof(u)), 0);
	assert_int_equal(hub__path_user_suffix("/hub/spawn-pending/bob/x", "/hub/spawn-pending/", u, sizeof(u)),
			 -EINVAL);
	assert_int_equal(hub__path_user_suffix("/hub/spawn-pending/", "/hub/spawn-pending/", u, sizeof(u)), -EINVAL);
	assert_int_equal(hub__path_user_suffix("/hub/spawn/b<b", "/hub/spawn/", u, sizeof(u)), -EINVAL);

	assert_true(hub__next_server("/user/carol/lab?x=1", u, sizeof(u)));
	assert_string_equal(u, "carol");
	assert_true(hub__next_server("/user/carol", u, sizeof(u)));
	assert_false(hub__next_server("/hub/home", u, sizeof(u)));
	assert_false(hub__next_server("/user/", u, sizeof(u)));
	assert_false(hub__next_server("https://evil/user/carol/", u, sizeof(u)));
}

static void test_urlencode_login(void **state)
{
	char out[128];
	(void)state;

	assert_int_equal(hub__urlencode("/user/a b/?x=1&y=<", out, sizeof(out)), 0);
	assert_string_equal(out, "/user/a%20b/%3Fx%3D1%26y%3D%3C");
	assert_int_equal(hub__login_url("/user/alice/tree?a=b", out, sizeof(out)), 0);
	assert_string_equal(out, "/hub/login?next=/user/alice/tree%3Fa%3Db");
	assert_int_equal(hub__urlencode("\"'\r\n", out, sizeof(out)), 0);
	assert_string_equal(out, "%22%27%0D%0A");
	assert_int_equal(hub__urlencode("abcdef", out, 4), -ENAMETOOLONG);
	assert_int_equal(hub__login_url("/x", out, 10), -ENAMETOOLONG);
}

static void test_cookie_format(void **state)
{
	char out[256];
	(void)state;

	assert_true(hub__cookie_format(out, sizeof(out), "nbwarden-session", "abc", "/hub/", 3600, false) >= 0);
	assert_string_equal(out, "nbwarden-session=abc; Path=/hub/; HttpOnly; SameSite=Lax; Max-Age=3600");
	assert_true(hub__cookie_format(out, sizeof(out), "nbwarden-server", "v", "/user/bob/", -1, true) >= 0);
	assert_string_equal(out, "nbwarden-server=v; Path=/user/bob/; HttpOnly; SameSite=Lax; Secure");
	assert_true(hub__cookie_format(out, sizeof(out), "nbwarden-session", "", "/hub/", 0, true) >= 0);
	assert_non_null(strstr(out, "Max-Age=0"));
	assert_non_null(strstr(out, "; Secure"));
	assert_int_equal(hub__cookie_format(out, 20, "nbwarden-session", "abc", "/hub/", 1, false), -ENAMETOOLONG);
}

static void test_auth_header(void **state)
{
	char out[64];
	(void)state;

	assert_int_equal(hub__auth_header_token("token nbw_abc", out, sizeof(out)), 0);
	assert_string_equal(out, "nbw_abc");
	assert_int_equal(hub__auth_header_token("Token   nbw_x  ", out, sizeof(out)), 0);
	assert_string_equal(out, "nbw_x");
	assert_int_equal(hub__auth_header_token("Bearer t1", out, sizeof(out)), 0);
	assert_string_equal(out, "t1");
	assert_int_equal(hub__auth_header_token("Basic dXNlcjpwYXNz", out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__auth_header_token("token ", out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__auth_header_token("tokenabc", out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__auth_header_token(NULL, out, sizeof(out)), -ENOENT);
	assert_int_equal(hub__auth_header_token("token 0123456789", out, 8), -ENAMETOOLONG);
}

static void test_wants_html(void **state)
{
	(void)state;
	assert_true(hub__wants_html("GET", "text/html,application/xhtml+xml,*/*;q=0.8"));
	assert_true(hub__wants_html("GET", "TEXT/HTML"));
	assert_false(hub__wants_html("GET", "application/json"));
	assert_false(hub__wants_html("GET", "*/*"));
	assert_false(hub__wants_html("GET", NULL));
	assert_false(hub__wants_html("POST", "text/html"));
	assert_false(hub__wants_html("DELETE", "text/html"));
}

static int xsrf(const char *method, bool api, int via, const char *form, const char *header, const char *mode,
		const char *site)
{
	struct hub_xsrf_input in = {
	    .method = method,
	    .api = api,
	    .via = via,
	    .expected = "s3cr3t-xsrf-value",
	    .form = form,
	    .header = header,
	    .sec_fetch_mode = mode,
	    .sec_fetch_site = site,
	};
	const char *reason = NULL;
	int r = hub__xsrf_check(&in, &reason);
	if (r < 0)
		assert_non_null(reason);
	return r;
}

static void test_xsrf(void **state)
{
	(void)state;
	/* token-authenticated or anonymous: no XSRF */
	assert_int_equal(xsrf("POST", true, HUB_VIA_TOKEN, NULL, NULL, "no-cors", "cross-site"), 0);
	assert_int_equal(xsrf("POST", false, HUB_VIA_NONE, NULL, NULL, NULL, NULL), 0);
	/* cookie + safe method */
	assert_int_equal(xsrf("GET", false, HUB_VIA_COOKIE, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(xsrf("GET", false, HUB_VIA_COOKIE, NULL, NULL, "navigate", "cross-site"), 0);
	assert_int_equal(xsrf("GET", true, HUB_VIA_COOKIE, NULL, NULL, "cors", "same-origin"), 0);
	/* cookie API: no-cors or cross-site refused whatever the method */
	assert_int_equal(xsrf("GET", true, HUB_VIA_COOKIE, NULL, NULL, "no-cors", "same-origin"), -EPERM);
	assert_int_equal(xsrf("GET", true, HUB_VIA_COOKIE, NULL, NULL, "cors", "cross-site"), -EPERM);
	assert_int_equal(xsrf("POST", true, HUB_VIA_COOKIE, NULL, "s3cr3t-xsrf-value", "no-cors", NULL), -EPERM);
	/* cookie + unsafe: token required */
	assert_int_equal(xsrf("POST", false, HUB_VIA_COOKIE, NULL, NULL, NULL, NULL), -EPERM);
	assert_int_equal(xsrf("POST", false, HUB_VIA_COOKIE, "", "", NULL, NULL), -EPERM);
	assert_int_equal(xsrf("POST", false, HUB_VIA_COOKIE, "s3cr3t-xsrf-value", NULL, NULL, NULL), 0);
	assert_int_equal(xsrf("DELETE", true, HUB_VIA_COOKIE, NULL, "s3cr3t-xsrf-value", NULL, NULL), 0);
	assert_int_equal(xsrf("DELETE", true, HUB_VIA_COOKIE, NULL, "s3cr3t-xsrf-valuf", NULL, NULL), -EPERM);
	assert_int_equal(xsrf("PUT", true, HUB_VIA_COOKIE, "s3cr3t-xsrf-val", NULL, NULL, NULL), -EPERM);
	assert_int_equal(xsrf("PATCH", true, HUB_VIA_COOKIE, "s3cr3t-xsrf-value-and-more", NULL, NULL, NULL), -EPERM);
	/* wrong header but right form field still passes */
	assert_int_equal(xsrf("POST", false, HUB_VIA_COOKIE, "s3cr3t-xsrf-value", "nope", NULL, NULL), 0);

	/* a session without an xsrf value can never pass */
	{
		struct hub_xsrf_input in = {
		    .method = "POST", .via = HUB_VIA_COOKIE, .expected = "", .form = "", .header = ""};
		assert_int_equal(hub__xsrf_check(&in, NULL), -EPERM);
	}
}

static void test_sanitize(void **state)
{
	char out[16];
	(void)state;

	hub__sanitize_text(out, sizeof(out), "a\nb\x7f\xc3\xa9z");
	assert_string_equal(out, "a?b???z");
	hub__sanitize_text(out, 4, "abcdef");
	assert_string_equal(out, "abc");
	hub__sanitize_text(out, sizeof(out), NULL);
	assert_string_equal(out, "");

	hub__sanitize_ip(out, sizeof(out), "127.0.0.1");
	assert_string_equal(out, "127.0.0.1");
	hub__sanitize_ip(out, sizeof(out), "::1");
	assert_string_equal(out, "::1");
	hub__sanitize_ip(out, sizeof(out), "fe80::1%eth0");
	assert_string_equal(out, "");
	hub__sanitize_ip(out, 4, "127.0.0.1");
	assert_string_equal(out, "");
}

static void test_utf8_trunc(void **state)
{
	const char *s = "ab\xc3\xa9"
			"c\xe2\x82\xac"; /* a b é c € */
	size_t len = strlen(s);		 /* 2 + 2 + 1 + 3 = 8 */
	(void)state;

	assert_int_equal(len, 8);
	assert_int_equal(hub__utf8_trunc(s, len, 100), 8);
	assert_int_equal(hub__utf8_trunc(s, len, 8), 8);
	assert_int_equal(hub__utf8_trunc(s, len, 7), 5); /* inside € → before it */
	assert_int_equal(hub__utf8_trunc(s, len, 6), 5);
	assert_int_equal(hub__utf8_trunc(s, len, 5), 5);
	assert_int_equal(hub__utf8_trunc(s, len, 3), 2); /* inside é */
	assert_int_equal(hub__utf8_trunc(s, len, 2), 2);
	assert_int_equal(hub__utf8_trunc(s, len, 0), 0);
}

static json_t *event_json(char *ev)
{
	size_t n;
	json_t *j;

	assert_non_null(ev);
	assert_true(strncmp(ev, "data: ", 6) == 0);
	n = strlen(ev);
	assert_true(n > 8 && ev[n - 1] == '\n' && ev[n - 2] == '\n');
	assert_null(strchr(ev + 6, '\n') != ev + n - 2 ? (void *)1 : NULL); /* one line of data */
	j = json_loadb(ev + 6, n - 8, 0, NULL);
	assert_non_null(j);
	free(ev);
	return j;
}

static void test_progress_event(void **state)
{
	json_t *j;
	(void)state;

	j = event_json(hub__progress_event(HUB_PROGRESS_UPDATE, 40, "Starting \"the\"\nsandbox", "alice"));
	assert_int_equal(json_integer_value(json_object_get(j, "progress")), 40);
	assert_string_equal(json_string_value(json_object_get(j, "message")), "Starting \"the\"\nsandbox");
	assert_true(json_is_false(json_object_get(j, "ready")));
	assert_null(json_object_get(j, "failed"));
	json_decref(j);

	j = event_json(hub__progress_event(HUB_PROGRESS_UPDATE, 250, "x", "alice"));
	assert_int_equal(json_integer_value(json_object_get(j, "progress")), 100);
	json_decref(j);

	j = event_json(hub__progress_event(HUB_PROGRESS_READY, 0, NULL, "alice"));
	assert_int_equal(json_integer_value(json_object_get(j, "progress")), 100);
	assert_true(json_is_true(json_object_get(j, "ready")));
	assert_string_equal(json_string_value(json_object_get(j, "url")), "/user/alice/");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "Server ready at /user/alice/");
	assert_non_null(strstr(json_string_value(json_object_get(j, "html_message")), "href=\"/user/alice/\""));
	json_decref(j);

	j = event_json(hub__progress_event(HUB_PROGRESS_FAILED, 0, "runtime missing", "alice"));
	assert_true(json_is_true(json_object_get(j, "failed")));
	assert_int_equal(json_integer_value(json_object_get(j, "progress")), 100);
	assert_string_equal(json_string_value(json_object_get(j, "message")), "Spawn failed: runtime missing");
	assert_null(json_object_get(j, "ready"));
	json_decref(j);

	/* invalid UTF-8 in a message still yields valid JSON */
	j = event_json(hub__progress_event(HUB_PROGRESS_UPDATE, 1, "bad \xff byte", "alice"));
	assert_string_equal(json_string_value(json_object_get(j, "message")), "bad ? byte");
	json_decref(j);
}

static void test_user_model(void **state)
{
	struct store_user u = {.id = 1, .name = "alice", .admin = false, .created = 1700000000, .last_activity = 0};
	struct hub_server s = {.user = "alice", .state = HUB_SRV_PENDING, .percent = 20, .started = 1700000100};
	json_t *m, *srv;
	(void)state;

	m = hub__user_model(&u, NULL);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "kind")), "user");
	assert_string_equal(json_string_value(json_object_get(m, "name")), "alice");
	assert_true(json_is_false(json_object_get(m, "admin")));
	assert_true(json_is_array(json_object_get(m, "groups")));
	assert_true(json_is_null(json_object_get(m, "server")));
	assert_true(json_is_null(json_object_get(m, "pending")));
	assert_string_equal(json_string_value(json_object_get(m, "created")), "2023-11-14T22:13:20Z");
	assert_true(json_is_null(json_object_get(m, "last_activity")));
	assert_int_equal(json_object_size(json_object_get(m, "servers")), 0);
	json_decref(m);

	m = hub__user_model(&u, &s);
	assert_string_equal(json_string_value(json_object_get(m, "pending")), "spawn");
	assert_true(json_is_null(json_object_get(m, "server")));
	srv = json_object_get(json_object_get(m, "servers"), "");
	assert_non_null(srv);
	assert_string_equal(json_string_value(json_object_get(srv, "name")), "");
	assert_true(json_is_false(json_object_get(srv, "ready")));
	assert_string_equal(json_string_value(json_object_get(srv, "pending")), "spawn");
	assert_string_equal(json_string_value(json_object_get(srv, "url")), "/user/alice/");
	assert_string_equal(json_string_value(json_object_get(srv, "progress_url")),
			    "/hub/api/users/alice/server/progress");
	assert_string_equal(json_string_value(json_object_get(srv, "started")), "2023-11-14T22:15:00Z");
	assert_true(json_is_object(json_object_get(srv, "state")));
	json_decref(m);

	s.state = HUB_SRV_READY;
	s.last_activity = 1700000200;
	m = hub__user_model(&u, &s);
	assert_string_equal(json_string_value(json_object_get(m, "server")), "/user/alice/");
	assert_true(json_is_null(json_object_get(m, "pending")));
	assert_string_equal(json_string_value(json_object_get(m, "last_activity")), "2023-11-14T22:16:40Z");
	srv = json_object_get(json_object_get(m, "servers"), "");
	assert_true(json_is_true(json_object_get(srv, "ready")));
	assert_true(json_is_null(json_object_get(srv, "pending")));
	json_decref(m);

	s.stopping = true;
	m = hub__user_model(&u, &s);
	assert_true(json_is_null(json_object_get(m, "server")));
	assert_string_equal(json_string_value(json_object_get(m, "pending")), "stop");
	srv = json_object_get(json_object_get(m, "servers"), "");
	assert_true(json_is_false(json_object_get(srv, "ready")));
	json_decref(m);

	s.stopping = false;
	s.state = HUB_SRV_FAILED;
	u.admin = true;
	m = hub__user_model(&u, &s);
	assert_true(json_is_true(json_object_get(m, "admin")));
	assert_int_equal(json_object_size(json_object_get(m, "servers")), 0);
	assert_true(json_is_null(json_object_get(m, "pending")));
	json_decref(m);
}

static void test_anon_is_browser(void **state)
{
	(void)state;
	assert_true(hub__anon_is_browser("GET", "text/html,*/*;q=0.8", false, false));
	assert_true(hub__anon_is_browser("GET", "*/*", false, false));
	assert_true(hub__anon_is_browser("GET", NULL, false, false));
	assert_true(hub__anon_is_browser("HEAD", "", false, false));
	assert_false(hub__anon_is_browser("GET", "application/json", false, false));
	assert_false(hub__anon_is_browser("GET", "text/html", true, false)); /* carries (bad) credentials */
	assert_false(hub__anon_is_browser("GET", "text/html", false, true)); /* WebSocket */
	assert_false(hub__anon_is_browser("POST", "text/html", false, false));
}

static void test_path_safe(void **state)
{
	(void)state;
	assert_true(hub__path_safe("/user/alice/api/status"));
	assert_true(hub__path_safe("/user/alice/"));
	assert_true(hub__path_safe("/user/alice/files/a.b/..c/x..y/.hidden"));
	assert_true(hub__path_safe("/user/alice/api/contents/a%20b"));
	assert_false(hub__path_safe("/user/alice/../bob/api/status"));
	assert_false(hub__path_safe("/user/alice/%2e%2e/bob/api/status"));
	assert_false(hub__path_safe("/user/alice/.%2E/bob"));
	assert_false(hub__path_safe("/user/alice/./x"));
	assert_false(hub__path_safe("/user/alice/.."));
	assert_false(hub__path_safe("/user/alice/..%2fbob/api/status"));
	assert_false(hub__path_safe("/user/alice%2F..%2Fbob/api"));
	assert_false(hub__path_safe("/user/alice/a%5cb"));
	assert_false(hub__path_safe("/user/alice/a\\b"));
	assert_false(hub__path_safe("/user/alice/a%00"));
	assert_false(hub__path_safe("user/alice/"));
}

static void test_origin(void **state)
{
	(void)state;
	assert_true(hub__origin_matches("http://127.0.0.1:8000", "127.0.0.1:8000"));
	assert_true(hub__origin_matches("http://Hub.Example:8000/", "hub.example:8000"));
	assert_true(hub__origin_matches("https://hub.example", "hub.example"));
	assert_true(hub__origin_matches("https://hub.example", "hub.example:443"));
	assert_true(hub__origin_matches("http://[::1]:8000", "[::1]:8000"));
	assert_false(hub__origin_matches("https://evil.example", "127.0.0.1:8000"));
	assert_false(hub__origin_matches("http://127.0.0.1:8001", "127.0.0.1:8000"));
	assert_false(hub__origin_matches("http://hub.example", "hub.example:443"));
	assert_false(hub__origin_matches("null", "127.0.0.1:8000"));
	assert_false(hub__origin_matches("http://127.0.0.1:8000@evil", "127.0.0.1:8000"));
	assert_false(hub__origin_matches("http://127.0.0.1:8000/x", "127.0.0.1:8000"));
	assert_false(hub__origin_matches("http://127.0.0.1:8000", NULL));
	assert_false(hub__origin_matches("ws://127.0.0.1:8000", "127.0.0.1:8000"));
}

static void test_tornado_xsrf(void **state)
{
	uint8_t out[64];
	size_t n = 0;
	(void)state;

	/* v2: mask 01020304 over token 00112233445566778899aabbccddeeff */
	assert_int_equal(
	    hub__tornado_xsrf_decode("2|01020304|0113213745576573899ba9bfcddfedfb|1700000000", out, sizeof(out), &n),
	    0);
	assert_int_equal(n, 16);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0x11);
	assert_int_equal(out[15], 0xff);
	assert_int_equal(out[5], 0x55);
	assert_int_equal(out[10], 0xaa);
	/* the same token, differently masked, and as v1 hex */
	assert_true(hub__tornado_xsrf_match("2|01020304|0113213745576573899ba9bfcddfedfb|1700000000",
					    "2|00000000|00112233445566778899aabbccddeeff|1700000001"));
	assert_true(hub__tornado_xsrf_match("2|01020304|0113213745576573899ba9bfcddfedfb|1700000000",
					    "00112233445566778899aabbccddeeff"));
	assert_false(hub__tornado_xsrf_match("2|01020304|0113213745576573899ba9bfcddfedfb|1700000000",
					     "2|00000000|00112233445566778899aabbccddeefe|1700000001"));
	assert_true(hub__tornado_xsrf_match("plain-value", "plain-value"));
	assert_false(hub__tornado_xsrf_match("plain-value", "plain-valuf"));
	assert_false(hub__tornado_xsrf_match("", ""));
	assert_false(hub__tornado_xsrf_match("3|x|y|1", "3|x|y|1")); /* unknown version */
	assert_int_equal(hub__tornado_xsrf_decode("2|0102|00|1", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(hub__tornado_xsrf_decode("2|01020304|zz|1", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(hub__tornado_xsrf_decode("2|01020304|00|", out, sizeof(out), &n), -EINVAL);
}

static int ucsrf(const char *method, bool upgrade, const char *origin, const char *site, const char *mode,
		 const char *cookie, const char *header, const char *query)
{
	struct hub_user_csrf_input in = {
	    .method = method,
	    .upgrade = upgrade,
	    .origin = origin,
	    .host = "127.0.0.1:8000",
	    .sec_fetch_site = site,
	    .sec_fetch_mode = mode,
	    .xsrf_cookie = cookie,
	    .xsrf_header = header,
	    .xsrf_query = query,
	};
	const char *reason = NULL;
	int r = hub__user_csrf_check(&in, &reason);
	if (r < 0)
		assert_non_null(reason);
	return r;
}

static void test_user_csrf(void **state)
{
	const char *ev = "https://evil.example", *me = "http://127.0.0.1:8000";
	(void)state;
	/* safe requests pass whatever their origin (top-level navigation, links) */
	assert_int_equal(ucsrf("GET", false, ev, "cross-site", "navigate", NULL, NULL, NULL), 0);
	/* WebSocket: origin must match */
	assert_int_equal(ucsrf("GET", true, me, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ucsrf("GET", true, NULL, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ucsrf("GET", true, ev, NULL, NULL, NULL, NULL, NULL), -EPERM);
	assert_int_equal(ucsrf("GET", true, me, "cross-site", NULL, NULL, NULL, NULL), -EPERM);
	/* unsafe: double submit of Jupyter's _xsrf */
	assert_int_equal(ucsrf("POST", false, NULL, NULL, NULL, "tok", "tok", NULL), 0);
	assert_int_equal(ucsrf("POST", false, me, "same-origin", "cors", "tok", NULL, "tok"), 0);
	assert_int_equal(ucsrf("POST", false, NULL, NULL, NULL, "tok", NULL, NULL), -EPERM);
	assert_int_equal(ucsrf("POST", false, NULL, NULL, NULL, NULL, "tok", NULL), -EPERM);
	assert_int_equal(ucsrf("DELETE", false, NULL, NULL, NULL, "tok", "tak", NULL), -EPERM);
	assert_int_equal(ucsrf("PUT", false, ev, NULL, NULL, "tok", "tok", NULL), -EPERM);
	assert_int_equal(ucsrf("POST", false, NULL, NULL, "no-cors", "tok", "tok", NULL), -EPERM);
	assert_int_equal(ucsrf("PATCH", false, NULL, "cross-site", NULL, "tok", "tok", NULL), -EPERM);
}

static void test_referer_path(void **state)
{
	char out[256];
	const char *host = "127.0.0.1:8000";
	(void)state;
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000/hub/home?x=1#f", host, out, sizeof(out)), 0);
	assert_string_equal(out, "/hub/home");
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000", host, out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000?q", host, out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(hub__referer_path("http://evil.example/hub/home", host, out, sizeof(out)), -EPERM);
	assert_int_equal(hub__referer_path("http://127.0.0.1:8001/hub/home", host, out, sizeof(out)), -EPERM);
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000@evil/hub/", host, out, sizeof(out)), -EPERM);
	assert_int_equal(hub__referer_path("/hub/home", host, out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__referer_path("javascript:1", host, out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__referer_path(NULL, host, out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000/hub/../user/bob/", host, out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000/hub/%2e%2e/user/b/", host, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(hub__referer_path("http://127.0.0.1:8000/hub/home", host, out, 4), -ENAMETOOLONG);
}

static int hfetch(const char *method, const char *path, const char *mode, const char *site, const char *referer)
{
	struct hub_fetch_input in = {
	    .method = method,
	    .path = path,
	    .host = "127.0.0.1:8000",
	    .referer = referer,
	    .sec_fetch_mode = mode,
	    .sec_fetch_site = site,
	};
	const char *reason = NULL;
	int r = hub__hub_fetch_check(&in, &reason);
	if (r < 0)
		assert_non_null(reason);
	return r;
}

static void test_hub_fetch(void **state)
{
	const char *prog = "/hub/api/users/alice/server/progress",
		   *hubref = "http://127.0.0.1:8000/hub/spawn-pending/a",
		   *userref = "http://127.0.0.1:8000/user/bob/tree";
	(void)state;
	/* non-browser clients and navigations */
	assert_int_equal(hfetch("GET", "/hub/api/user", NULL, NULL, NULL), 0);
	assert_int_equal(hfetch("POST", "/hub/spawn", "navigate", "same-origin", userref), 0);
	assert_int_equal(hfetch("GET", "/hub/home", "navigate", "cross-site", NULL), 0);
	/* the hub's own progress EventSource */
	assert_int_equal(hfetch("GET", prog, "cors", "same-origin", hubref), 0);
	/* from a user server's page, another site, or without a Referer */
	assert_int_equal(hfetch("GET", prog, "cors", "same-origin", userref), -EPERM);
	assert_int_equal(hfetch("GET", prog, "cors", "same-site", hubref), -EPERM);
	assert_int_equal(hfetch("GET", prog, "cors", "cross-site", hubref), -EPERM);
	assert_int_equal(hfetch("GET", prog, "cors", NULL, hubref), -EPERM);
	assert_int_equal(hfetch("GET", prog, "cors", "same-origin", NULL), -EPERM);
	assert_int_equal(hfetch("GET", prog, "no-cors", "same-origin", "http://evil.example/hub/x"), -EPERM);
	/* a spoofed /hub/ referrer reaches nothing but the progress stream */
	assert_int_equal(hfetch("GET", "/hub/home", "cors", "same-origin", hubref), -EPERM);
	assert_int_equal(hfetch("GET", "/hub/api/user", "same-origin", "same-origin", hubref), -EPERM);
	assert_int_equal(hfetch("POST", prog, "cors", "same-origin", hubref), -EPERM);
	assert_int_equal(hfetch("GET", "/hub/login", "no-cors", "same-origin", hubref), -EPERM);
}

static int ufetch(const char *mode, const char *site, const char *dest, const char *origin, const char *referer)
{
	struct hub_fetch_input in = {
	    .method = "GET",
	    .path = "/user/alice/api/kernels",
	    .host = "127.0.0.1:8000",
	    .origin = origin,
	    .referer = referer,
	    .sec_fetch_mode = mode,
	    .sec_fetch_site = site,
	    .sec_fetch_dest = dest,
	};
	const char *reason = NULL;
	int r = hub__user_fetch_check(&in, "alice", &reason);
	if (r < 0)
		assert_non_null(reason);
	return r;
}

static void test_user_fetch(void **state)
{
	const char *me = "http://127.0.0.1:8000", *own = "http://127.0.0.1:8000/user/alice/lab/tree/x.ipynb",
		   *root = "http://127.0.0.1:8000/user/alice", *bob = "http://127.0.0.1:8000/user/bob/tree",
		   *pref = "http://127.0.0.1:8000/user/alicex/tree", *hub = "http://127.0.0.1:8000/hub/home";
	(void)state;
	assert_int_equal(ufetch(NULL, NULL, NULL, NULL, NULL), 0);
	/* navigations: top level from anywhere, frames only from the server's own pages */
	assert_int_equal(ufetch("navigate", "cross-site", "document", NULL, NULL), 0);
	assert_int_equal(ufetch("navigate", "same-origin", "document", NULL, bob), 0);
	assert_int_equal(ufetch("navigate", "same-origin", NULL, NULL, hub), 0);
	assert_int_equal(ufetch("navigate", "same-origin", "iframe", NULL, own), 0);
	assert_int_equal(ufetch("navigate", "same-origin", "iframe", NULL, bob), -EPERM);
	assert_int_equal(ufetch("navigate", "same-origin", "object", NULL, NULL), -EPERM);
	/* Jupyter's own XHRs, scripts, styles */
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, own), 0);
	assert_int_equal(ufetch("cors", "same-origin", "empty", me, root), 0);
	assert_int_equal(ufetch("no-cors", "same-origin", "script", NULL, own), 0);
	/* from another server's page, the hub, another site, without Referer */
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, bob), -EPERM);
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, pref), -EPERM);
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, hub), -EPERM);
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, NULL), -EPERM);
	assert_int_equal(ufetch("cors", "cross-site", "empty", NULL, own), -EPERM);
	assert_int_equal(ufetch("cors", "same-origin", "empty", "https://evil.example", own), -EPERM);
	assert_int_equal(ufetch("cors", "same-origin", "empty", NULL, "http://evil.example/user/alice/"), -EPERM);
	/* WebSockets: our own Origin */
	assert_int_equal(ufetch("websocket", "same-origin", "websocket", me, NULL), 0);
	assert_int_equal(ufetch("websocket", "same-origin", "websocket", NULL, own), -EPERM);
	assert_int_equal(ufetch("websocket", "cross-site", "websocket", "https://evil.example", own), -EPERM);
}

static void test_throttle(void **state)
{
	struct hub_throttle *t = calloc(1, sizeof(*t));
	char key[32];
	uint64_t now = 1000000;
	(void)state;

	assert_non_null(t);
	hub__throttle_init(t, 3, 60000, 30000, 120000);
	assert_int_equal(hub__throttle_check(t, "a", now), 0);
	assert_int_equal(hub__throttle_fail(t, "a", now), 0);
	assert_int_equal(hub__throttle_fail(t, "a", now + 1000), 0);
	assert_int_equal(hub__throttle_check(t, "a", now + 1000), 0);
	/* the third failure in the window starts a block; other keys are not affected */
	assert_int_equal(hub__throttle_fail(t, "a", now + 2000), 30000);
	assert_int_equal(hub__throttle_check(t, "a", now + 2000), 30000);
	assert_int_equal(hub__throttle_check(t, "a", now + 31999), 1);
	assert_int_equal(hub__throttle_check(t, "a", now + 32000), 0);
	assert_int_equal(hub__throttle_check(t, "b", now + 2000), 0);
	/* failures of attempts that were in flight do not extend a block */
	assert_int_equal(hub__throttle_fail(t, "a", now + 3000), 0);
	assert_int_equal(hub__throttle_check(t, "a", now + 32000), 0);
	/* the next block is twice as long, up to the maximum */
	now += 40000;
	hub__throttle_fail(t, "a", now);
	hub__throttle_fail(t, "a", now);
	assert_int_equal(hub__throttle_fail(t, "a", now), 60000);
	now += 70000;
	hub__throttle_fail(t, "a", now);
	hub__throttle_fail(t, "a", now);
	assert_int_equal(hub__throttle_fail(t, "a", now), 120000);
	now += 130000;
	hub__throttle_fail(t, "a", now);
	hub__throttle_fail(t, "a", now);
	assert_int_equal(hub__throttle_fail(t, "a", now), 120000);
	/* failures spread over more than a window never block */
	for (int i = 0; i < 10; i++)
		assert_int_equal(hub__throttle_fail(t, "slow", now + (uint64_t)i * 30000), 0);
	/* a success clears the key; strikes are forgotten after a quiet while */
	hub__throttle_clear(t, "a");
	assert_int_equal(hub__throttle_check(t, "a", now), 0);
	hub__throttle_fail(t, "c", now);
	hub__throttle_fail(t, "c", now);
	assert_int_equal(hub__throttle_fail(t, "c", now), 30000);
	now += 10 * 120000;
	hub__throttle_fail(t, "c", now);
	hub__throttle_fail(t, "c", now);
	assert_int_equal(hub__throttle_fail(t, "c", now), 30000);

	/* bounded: many keys evict the least recently used idle ones, never a blocked one */
	hub__throttle_init(t, 1, 60000, 30000, 120000);
	now = 5000000;
	assert_int_equal(hub__throttle_fail(t, "victim", now), 30000);
	for (int i = 0; i < 3 * HUB_THROTTLE_SLOTS; i++) {
		nbw_snprintf(key, sizeof(key), "k%d", i);
		hub__throttle_check(t, key, now + 1);
		assert_int_equal(hub__throttle_fail(t, key, now + 1), 30000);
		/* their blocks end, the victim's does not: only idle slots may go */
		for (size_t j = 0; j < HUB_THROTTLE_SLOTS; j++)
			if (strcmp(t->slots[j].key, "victim") != 0)
				t->slots[j].blocked_until = 0;
	}
	assert_true(hub__throttle_check(t, "victim", now + 2) > 0);
	free(t);
}

static void test_ip_key(void **state)
{
	char out[64];
	(void)state;
	assert_true(hub__ip_key("127.0.0.1", out, sizeof(out)) >= 0);
	assert_string_equal(out, "127.0.0.1");
	assert_true(hub__ip_key("::ffff:10.1.2.3", out, sizeof(out)) >= 0);
	assert_string_equal(out, "10.1.2.3");
	assert_true(hub__ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out, sizeof(out)) >= 0);
	assert_string_equal(out, "2001:db8:1:2::/64");
	assert_true(hub__ip_key("::1", out, sizeof(out)) >= 0);
	assert_string_equal(out, "::/64");
	assert_int_equal(hub__ip_key("", out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__ip_key("evil", out, sizeof(out)), -EINVAL);
	assert_int_equal(hub__ip_key(NULL, out, sizeof(out)), -EINVAL);
}

static void test_msg_type(void **state)
{
	char t[32];
	(void)state;
	hub__sanitize_msg_type(t, sizeof(t), "debug_request");
	assert_string_equal(t, "debug_request");
	hub__sanitize_msg_type(t, sizeof(t), "execute_request");
	assert_string_equal(t, "execute_request");
	hub__sanitize_msg_type(t, sizeof(t), "unknown");
	assert_string_equal(t, "unknown");
	hub__sanitize_msg_type(t, sizeof(t), "Execute_Request");
	assert_string_equal(t, "");
	hub__sanitize_msg_type(t, sizeof(t), "execute request\n");
	assert_string_equal(t, "");
	hub__sanitize_msg_type(t, sizeof(t), "a_very_long_message_type_name_xyz"); /* 33 chars */
	assert_string_equal(t, "");
	hub__sanitize_msg_type(t, sizeof(t), NULL);
	assert_string_equal(t, "");
	hub__sanitize_msg_type(t, sizeof(t), "");
	assert_string_equal(t, "");
}

static struct config *profiles_cfg(const char *yaml)
{
	struct config *c = NULL;

	assert_int_equal(config_load_string(yaml, strlen(yaml), "t.yaml", &c, NULL), 0);
	return c;
}

static void test_spawn_options(void **state)
{
	struct config *c = profiles_cfg("singleuser:\n  profileList:\n"
					"    - {display_name: Small, slug: small}\n"
					"    - {display_name: Big, slug: big, default: true}\n");
	char slug[CONFIG_SLUG_MAX + 1], err[700];
	json_t *o;

	(void)state;
	/* no body, {}, null: the default profile */
	assert_int_equal(hub__spawn_options(c, NULL, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "big");
	o = json_object();
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "big");
	json_object_set_new(o, "profile", json_null());
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "big");
	json_object_set_new(o, "profile", json_string("small"));
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "small");
	json_object_set_new(o, "profile", json_string("huge"));
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "Unknown profile \"huge\"; choose one of: small, big");
	json_object_set_new(o, "profile", json_string(""));
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "big");
	json_object_set_new(o, "profile", json_integer(1));
	assert_int_equal(hub__spawn_options(c, o, slug, sizeof(slug), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Invalid user options: \"profile\" must be a string");
	/* the form path */
	assert_int_equal(hub__spawn_profile(c, "Small", slug, sizeof(slug), err, sizeof(err)), -ENOENT);
	assert_int_equal(hub__spawn_profile(c, "small", slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "small");
	json_decref(o);
	config_free(c);

	/* no profiles: only the global settings */
	c = profiles_cfg("{}\n");
	assert_int_equal(hub__spawn_options(c, NULL, slug, sizeof(slug), err, sizeof(err)), 0);
	assert_string_equal(slug, "");
	assert_int_equal(hub__spawn_profile(c, "small", slug, sizeof(slug), err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "Unknown profile \"small\"; no profiles are configured");
	config_free(c);
}

static void test_user_options_model(void **state)
{
	struct store_user u = {0};
	struct hub_server srv = {0};
	json_t *m, *s;

	(void)state;
	nbw_strlcpy(u.name, "alice", sizeof(u.name));
	nbw_strlcpy(srv.user, "alice", sizeof(srv.user));
	srv.state = HUB_SRV_PENDING;
	m = hub__user_model(&u, &srv);
	s = json_object_get(json_object_get(m, "servers"), "");
	assert_non_null(s);
	assert_int_equal(json_object_size(json_object_get(s, "user_options")), 0);
	json_decref(m);
	nbw_strlcpy(srv.profile, "small", sizeof(srv.profile));
	m = hub__user_model(&u, &srv);
	s = json_object_get(json_object_get(m, "servers"), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "user_options"), "profile")), "small");
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_api_match),
	    cmocka_unit_test(test_spawn_options),
	    cmocka_unit_test(test_user_options_model),
	    cmocka_unit_test(test_user_paths),
	    cmocka_unit_test(test_urlencode_login),
	    cmocka_unit_test(test_cookie_format),
	    cmocka_unit_test(test_auth_header),
	    cmocka_unit_test(test_wants_html),
	    cmocka_unit_test(test_xsrf),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_utf8_trunc),
	    cmocka_unit_test(test_progress_event),
	    cmocka_unit_test(test_user_model),
	    cmocka_unit_test(test_anon_is_browser),
	    cmocka_unit_test(test_path_safe),
	    cmocka_unit_test(test_origin),
	    cmocka_unit_test(test_tornado_xsrf),
	    cmocka_unit_test(test_user_csrf),
	    cmocka_unit_test(test_referer_path),
	    cmocka_unit_test(test_hub_fetch),
	    cmocka_unit_test(test_user_fetch),
	    cmocka_unit_test(test_throttle),
	    cmocka_unit_test(test_ip_key),
	    cmocka_unit_test(test_msg_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
