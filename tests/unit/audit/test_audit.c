#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "common/common.h"

static char dir[] = "/tmp/nbw-audit-XXXXXX";

static void test_records_are_json_lines(void **state)
{
	struct audit_log *log;
	char path[256];
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/audit.jsonl", dir);
	assert_int_equal(audit_open(path, 100, &log), 0);
	assert_int_equal(audit_write(log, "auth.login.success", "alice", "127.0.0.1", NULL), 0);
	/* a caller's field never overrides ts/event/user/ip; newlines are escaped */
	assert_int_equal(audit_write(log, "auth.login.failure", NULL, NULL,
				     json_pack("{s:s,s:s}", "event", "forged", "reason", "bad\npassword")),
			 0);
	assert_true(audit_next_sync_ms(log) >= 0);
	assert_int_equal(audit_sync(log, 1), 0);
	assert_int_equal(audit_next_sync_ms(log), -1);
	audit_close(log);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(nbw_read_file(path, 65536, &data, &len), 0);
	char *nl = strchr(data, '\n');
	assert_non_null(nl);
	*nl = 0;
	json_t *a = json_loads(data, 0, NULL);
	json_t *b = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(a, "event")), "auth.login.success");
	assert_string_equal(json_string_value(json_object_get(a, "user")), "alice");
	assert_string_equal(json_string_value(json_object_get(a, "ip")), "127.0.0.1");
	const char *ts = json_string_value(json_object_get(a, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24); /* 2026-11-23T10:00:00.123Z */
	assert_int_equal(ts[strlen(ts) - 1], 'Z');
	assert_string_equal(json_string_value(json_object_get(b, "event")), "auth.login.failure");
	assert_true(json_is_null(json_object_get(b, "user")));
	assert_string_equal(json_string_value(json_object_get(b, "reason")), "bad\npassword");
	/* exactly two lines */
	assert_null(strchr(strchr(nl + 1, '\n') + 1, '\n'));
	json_decref(a);
	json_decref(b);
	nbw_rm_rf(dir);
}

static void test_refuses_symlink(void **state)
{
	char d[] = "/tmp/nbw-audit-XXXXXX";
	char link[256];
	struct audit_log *log = NULL;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(link, sizeof(link), "%s/audit.jsonl", d);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(audit_open(link, 0, &log), -ELOOP);
	nbw_rm_rf(d);
}

static void test_existing_file_made_private(void **state)
{
	char d[] = "/tmp/nbw-audit-XXXXXX";
	char path[256];
	struct audit_log *log = NULL;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(path, sizeof(path), "%s/audit.jsonl", d);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(audit_open(path, 0, &log), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	audit_close(log);
	nbw_rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_are_json_lines),
		cmocka_unit_test(test_refuses_symlink),
		cmocka_unit_test(test_existing_file_made_private),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
