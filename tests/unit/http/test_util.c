/* http pure helpers with evil inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "http/http.h"

static void test_urldecode(void **state)
{
	char out[32];

	assert_int_equal(http_urldecode("a%20b+c", 7, false, out, sizeof(out)), 5);
	assert_string_equal(out, "a b+c");
	assert_int_equal(http_urldecode("a%20b+c", 7, true, out, sizeof(out)), 5);
	assert_string_equal(out, "a b c");
	assert_int_equal(http_urldecode("%2F%2f%C3%A9", 12, false, out, sizeof(out)), 4);
	assert_string_equal(out, "//\xc3\xa9");
	assert_int_equal(http_urldecode("", 0, false, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* bad escapes */
	assert_int_equal(http_urldecode("%", 1, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_urldecode("%4", 2, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_urldecode("%zz", 3, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_urldecode("%4g", 3, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_urldecode("ab%", 3, false, out, sizeof(out)), -EINVAL);
	/* a '%' right at the length bound must not read past it */
	assert_int_equal(http_urldecode("a%41", 2, false, out, sizeof(out)), -EINVAL);
	/* NUL, encoded or raw */
	assert_int_equal(http_urldecode("a%00b", 5, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_urldecode("a\0b", 3, false, out, sizeof(out)), -EINVAL);
	/* bounds: exactly fits, one too many */
	assert_int_equal(http_urldecode("abc", 3, false, out, 4), 3);
	assert_int_equal(http_urldecode("abcd", 4, false, out, 4), -ENAMETOOLONG);
	assert_int_equal(http_urldecode("abc", 3, false, out, 0), -ENAMETOOLONG);
	assert_int_equal(http_urldecode("%41%41%41%41", 12, false, out, 4), -ENAMETOOLONG);
	assert_string_equal(out, "");
}

static void test_param_get(void **state)
{
	const char *q = "a=1&b=x%20y&c&&=zz&d=p+q&a=2&e%5F=esc&bad=%zz";
	char out[16];

	assert_int_equal(http_param_get(q, strlen(q), "a", false, out, sizeof(out)), 1);
	assert_string_equal(out, "1"); /* first occurrence */
	assert_int_equal(http_param_get(q, strlen(q), "b", false, out, sizeof(out)), 3);
	assert_string_equal(out, "x y");
	assert_int_equal(http_param_get(q, strlen(q), "c", false, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(http_param_get(q, strlen(q), "d", true, out, sizeof(out)), 3);
	assert_string_equal(out, "p q");
	assert_int_equal(http_param_get(q, strlen(q), "d", false, out, sizeof(out)), 3);
	assert_string_equal(out, "p+q");
	assert_int_equal(http_param_get(q, strlen(q), "e_", false, out, sizeof(out)), 3);
	assert_int_equal(http_param_get(q, strlen(q), "bad", false, out, sizeof(out)), -EINVAL);
	assert_int_equal(http_param_get(q, strlen(q), "", false, out, sizeof(out)), -ENOENT);
	assert_int_equal(http_param_get(q, strlen(q), "zz", false, out, sizeof(out)), -ENOENT);
	assert_int_equal(http_param_get(q, strlen(q), "x", false, out, sizeof(out)), -ENOENT);
	/* the length bound is honoured: "a=1" is outside the first 0 bytes */
	assert_int_equal(http_param_get(q, 0, "a", false, out, sizeof(out)), -ENOENT);
	assert_int_equal(http_param_get("ab=1", 1, "a", false, out, sizeof(out)), 0);
	/* value too long for out */
	assert_int_equal(http_param_get("k=0123456789abcdefXYZ", 21, "k", false, out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(http_param_get(NULL, 0, "k", false, out, sizeof(out)), -ENOENT);
}

static void test_html_escape(void **state)
{
	char out[64];

	const char *want = "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;";

	assert_int_equal(http_html_escape("<script>alert('x\"&')</script>", out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(http_html_escape("", out, sizeof(out)), 0);
	assert_int_equal(http_html_escape("plain", out, 6), 5);
	assert_int_equal(http_html_escape("plain", out, 5), -ENAMETOOLONG);
	/* an entity that would be cut in half does not fit */
	assert_int_equal(http_html_escape("ab&", out, 6), -ENAMETOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(http_html_escape("ab&", out, 8), 7);
}

static void test_status_text(void **state)
{
	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(503), "Service Unavailable");
	assert_string_equal(http_status_text(-1), "Unknown");
	assert_string_equal(http_status_text(999), "Unknown");
}

static void test_cookie_get(void **state)
{
	char out[16];

	assert_int_equal(http_cookie_get("a=1; b=two;c=\"q\" ; d", "b", out, sizeof(out)), 3);
	assert_string_equal(out, "two");
	assert_int_equal(http_cookie_get("a=1; b=two;c=\"q\" ; d", "c", out, sizeof(out)), 1);
	assert_string_equal(out, "q");
	assert_int_equal(http_cookie_get("a=1; b=two;c=\"q\" ; d", "d", out, sizeof(out)), 0);
	assert_int_equal(http_cookie_get("a=1; b=two", "B", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_cookie_get("ab=1", "a", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_cookie_get("xa=1; a=2", "a", out, sizeof(out)), 1);
	assert_string_equal(out, "2");
	assert_int_equal(http_cookie_get("", "a", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_cookie_get(";;; ;", "a", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_cookie_get("a=\"", "a", out, sizeof(out)), 1);
	assert_int_equal(http_cookie_get("a=0123456789abcdefg", "a", out, sizeof(out)), -ENAMETOOLONG);
}

static bool drop_ours(const char *name, size_t len)
{
	return len >= 8 && memcmp(name, "nbwarden", 8) == 0;
}

static void test_cookie_filter(void **state)
{
	const char *in = "nbwarden-session=SECRET; _xsrf=abc;  nbwarden=x ; jupyter=1;nbwardenX";
	char out[128];

	assert_int_equal(http_cookie_filter(in, strlen(in), drop_ours, out, sizeof(out)), 20);
	assert_string_equal(out, "_xsrf=abc; jupyter=1");
	assert_null(strstr(out, "SECRET"));
	assert_int_equal(http_cookie_filter("nbwarden-a=1", 12, drop_ours, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(http_cookie_filter("a=1;b=2", 7, drop_ours, out, 5), -ENAMETOOLONG);
	/* never longer than the input */
	assert_int_equal(http_cookie_filter("a=1;b=2", 7, drop_ours, out, 9), 8);
	assert_string_equal(out, "a=1; b=2");
}

static void test_header_checks(void **state)
{
	assert_true(http_header_name_valid("X-Foo_bar"));
	assert_false(http_header_name_valid(""));
	assert_false(http_header_name_valid("X Foo"));
	assert_false(http_header_name_valid("X:Foo"));
	assert_false(http_header_name_valid("X\r\nSet-Cookie"));
	assert_false(http_header_name_valid("X\xc3\xa9"));
	assert_true(http_header_value_valid("text/html; charset=utf-8\twith tab"));
	assert_true(http_header_value_valid(""));
	assert_false(http_header_value_valid("a\r\nSet-Cookie: x=y"));
	assert_false(http_header_value_valid("a\nb"));
	assert_false(http_header_value_valid("a\rb"));
	assert_false(http_header_value_valid("a\x7f"));
	assert_false(http_header_value_valid(NULL));
}

static void test_token_list(void **state)
{
	const char *v = "keep-alive, Upgrade ,  X-Foo,,";

	assert_true(http_token_list_has(v, strlen(v), "upgrade"));
	assert_true(http_token_list_has(v, strlen(v), "x-foo"));
	assert_true(http_token_list_has(v, strlen(v), "KEEP-ALIVE"));
	assert_false(http_token_list_has(v, strlen(v), "close"));
	assert_false(http_token_list_has(v, strlen(v), "x-fo"));
	assert_false(http_token_list_has(v, 5, "keep-alive"));
	assert_false(http_token_list_has("", 0, "close"));
}

static void test_date(void **state)
{
	char buf[30];

	assert_int_equal(http_date_format(784111777, buf, sizeof(buf)), 29);
	assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	assert_true(http_date_format(784111777, buf, 10) < 0);
}

static void test_ows_trim(void **state)
{
	char a[] = " \t value \t", b[] = "", c[] = " \t ", d[] = "a b";

	assert_string_equal(http_ows_trim(a), "value");
	assert_string_equal(http_ows_trim(b), "");
	assert_string_equal(http_ows_trim(c), "");
	assert_string_equal(http_ows_trim(d), "a b");
}

static void test_head_append(void **state)
{
	char *head = NULL;
	size_t len = 0, cap = 0;
	char big[2048];

	memset(big, 'x', sizeof(big));
	/* strings separated by NULs, the first allocation is 1 KiB */
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, "abc", 3), 0);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, "", 1), 0);
	assert_int_equal(len, 4);
	assert_int_equal(cap, 1024);
	assert_string_equal(head, "abc");
	/* from inside the buffer, across a realloc (1024 -> 2048) */
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, big, 1100), 0);
	assert_int_equal(cap, 2048);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, head, 4), 0);
	assert_int_equal(cap, 2048);
	assert_int_equal(len, 1108);
	assert_memory_equal(head + 1104, "abc", 4);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, head + 4, 1100), 0);
	assert_int_equal(cap, 4096);
	assert_memory_equal(head + 1108, big, 1100);
	/* the bound: len + n + 1 <= max, the buffer unchanged on refusal */
	assert_int_equal(len, 2208);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, big, 1888), -ENOBUFS);
	assert_int_equal(len, 2208);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, big, 1887), 0);
	assert_int_equal(len, 4095);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, "", 1), -ENOBUFS);
	assert_int_equal(http_head_append(&head, &len, &cap, 4096, big, SIZE_MAX), -ENOBUFS);
	assert_int_equal(http_head_append(&head, &len, &cap, 0, "", 0), -ENOBUFS);
	assert_int_equal(len, 4095);
	free(head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_urldecode),	  cmocka_unit_test(test_param_get),
	    cmocka_unit_test(test_html_escape),	  cmocka_unit_test(test_status_text),
	    cmocka_unit_test(test_cookie_get),	  cmocka_unit_test(test_cookie_filter),
	    cmocka_unit_test(test_header_checks), cmocka_unit_test(test_token_list),
	    cmocka_unit_test(test_date),	  cmocka_unit_test(test_ows_trim),
	    cmocka_unit_test(test_head_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
