#include "test.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

static void test_b64url_and_hex(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(nbw_b64url_encode("\xfb\xff", 2, out), 3);
	assert_string_equal(out, "-_8");
	assert_int_equal(nbw_b64url_encode("abc", 3, out), 4);
	assert_string_equal(out, "YWJj");
	assert_int_equal(nbw_b64url_encode("a", 1, out), 2);
	assert_string_equal(out, "YQ");
	nbw_hex_encode("\x00\xff\x10", 3, out);
	assert_string_equal(out, "00ff10");
}

static void test_random_token(void **state)
{
	char a[64], b[64];

	(void)state;
	assert_int_equal(nbw_random_token(a, sizeof(a), 32), 0);
	assert_int_equal(nbw_random_token(b, sizeof(b), 32), 0);
	assert_int_equal(strlen(a), 43);
	assert_string_not_equal(a, b);
	assert_int_equal(nbw_random_token(a, 10, 32), -EINVAL);
}

static void test_strings(void **state)
{
	char buf[8];
	uint64_t v;

	(void)state;
	assert_int_equal(nbw_strlcpy(buf, "1234567", sizeof(buf)), 0);
	assert_int_equal(nbw_strlcpy(buf, "12345678", sizeof(buf)), -ENAMETOOLONG);
	assert_string_equal(buf, "1234567");
	assert_int_equal(nbw_snprintf(buf, sizeof(buf), "%s", "toolongvalue"), -ENAMETOOLONG);
	assert_int_equal(nbw_parse_u64("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(nbw_parse_u64("101", 1, 100, &v), -ERANGE);
	assert_int_equal(nbw_parse_u64("4x", 1, 100, &v), -EINVAL);
	assert_int_equal(nbw_parse_u64("", 0, 100, &v), -EINVAL);
	assert_int_equal(nbw_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	assert_true(nbw_memeq_ct("abc", "abc", 3));
	assert_false(nbw_memeq_ct("abc", "abd", 3));
}

static void test_time(void **state)
{
	char buf[40];

	(void)state;
	assert_int_equal(nbw_time_format(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_true(nbw_time_rfc3339(buf, sizeof(buf)) > 0);
	assert_int_equal(strlen(buf), 24);
}

static void test_rm_rf_no_follow(void **state)
{
	char d[] = "/tmp/nbw-common-XXXXXX", victim[] = "/tmp/nbw-victim-XXXXXX";
	char p[256];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(d));
	assert_non_null(mkdtemp(victim));
	snprintf(p, sizeof(p), "%s/keep", victim);
	assert_int_equal(nbw_write_file_atomic(p, "x", 1, 0600), 0);
	snprintf(p, sizeof(p), "%s/a/b", d);
	assert_int_equal(nbw_mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/link", d);
	assert_int_equal(symlink(victim, p), 0);
	assert_int_equal(nbw_rm_rf(d), 0);
	assert_int_equal(stat(d, &st), -1);
	snprintf(p, sizeof(p), "%s/keep", victim);
	assert_int_equal(stat(p, &st), 0); /* the symlink's target survived */
	assert_int_equal(nbw_rm_rf(victim), 0);
}

static void test_buf_bounded(void **state)
{
	struct nbw_buf b = { .max = 8 };

	(void)state;
	nbw_buf_str(&b, "abc");
	nbw_buf_add(&b, "defgh", 5);
	assert_false(b.failed);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.p, "abcdefgh"); /* NUL-terminated */
	nbw_buf_add(&b, "i", 1); /* one byte past the bound */
	assert_true(b.failed);
	nbw_buf_add(&b, "", 0);
	assert_int_equal(b.len, 8); /* nothing appended after failure */
	nbw_buf_done(&b);
	assert_null(b.p);

	struct nbw_buf big = { .max = 1 << 20 };
	for (int i = 0; i < 1000; i++)
		nbw_buf_str(&big, "0123456789");
	assert_false(big.failed);
	assert_int_equal(big.len, 10000);
	nbw_buf_add(&big, "x", SIZE_MAX); /* absurd lengths never overflow */
	assert_true(big.failed);
	nbw_buf_done(&big);
}

/* nbw_read_fd / nbw_read_file: whole content, bounded, from offset 0 for a
 * regular file, to EOF for a pipe. */
static void test_read_fd(void **state)
{
	char path[] = "/tmp/nbw-test-read-XXXXXX";
	char *text = NULL;
	size_t len = 0;
	int fd, p[2];

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(nbw_read_fd(fd, 10, &text, &len), 0); /* empty */
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(nbw_write_all(fd, "0123456789", 10), 0);
	/* the fd's offset is at the end: still the whole file */
	assert_int_equal(nbw_read_fd(fd, 10, &text, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(text, "0123456789");
	free(text);
	text = NULL;
	assert_int_equal(nbw_read_fd(fd, 9, &text, &len), -EFBIG);
	assert_null(text);
	assert_int_equal(nbw_read_file(path, 10, &text, &len), 0);
	assert_string_equal(text, "0123456789");
	free(text);
	assert_int_equal(nbw_read_file("/nonexistent/nbw", 10, &text, &len), -ENOENT);
	close(fd);
	unlink(path);

	/* a pipe, larger than the first allocation */
	assert_int_equal(pipe(p), 0);
	{
		static char big[40000];

		memset(big, 'x', sizeof(big));
		if (fork() == 0) {
			close(p[0]);
			_exit(nbw_write_all(p[1], big, sizeof(big)) < 0);
		}
	}
	close(p[1]);
	assert_int_equal(nbw_read_fd(p[0], 40000, &text, &len), 0);
	assert_int_equal(len, 40000);
	assert_int_equal(strspn(text, "x"), 40000);
	free(text);
	close(p[0]);
	(void)wait(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_and_hex), cmocka_unit_test(test_random_token),
		cmocka_unit_test(test_strings),        cmocka_unit_test(test_time),
		cmocka_unit_test(test_rm_rf_no_follow), cmocka_unit_test(test_buf_bounded),
		cmocka_unit_test(test_read_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
