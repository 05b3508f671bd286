#include "test.h"

#include <sys/socket.h>

#include "ipc/ipc.h"

static _Alignas(8) uint8_t rbuf[IPC_MAX_MSG];

static int pair[2];

static int setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair);
}

static int teardown(void **state)
{
	(void)state;
	close(pair[0]);
	close(pair[1]);
	return 0;
}

static void test_spawn_roundtrip(void **state)
{
	struct ipc_spawn m = { 0 };
	uint32_t type;
	void *payload;
	size_t len;

	(void)state;
	memcpy(m.user, "alice", 5);
	memcpy(m.actor, "alice", 5);
	memcpy(m.ip, "127.0.0.1", 9);
	assert_int_equal(ipc_send(pair[0], IPC_SPAWN, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), 0);
	assert_int_equal(type, IPC_SPAWN);
	assert_int_equal(len, sizeof(m));
	assert_string_equal(((struct ipc_spawn *)payload)->user, "alice");
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EAGAIN);
}

static void test_bad_usernames_dropped(void **state)
{
	static const char *const evil[] = { "../etc", "Alice", "a/b", "", "0abc", "a b", "abcdefghijklmnopqrstuvwxyz0123456" };
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(evil); i++) {
		struct ipc_spawn m = { 0 };
		uint32_t type;
		void *payload;
		size_t len;
		memcpy(m.user, evil[i], strlen(evil[i]) < sizeof(m.user) ? strlen(evil[i]) : sizeof(m.user));
		memcpy(m.actor, "bob", 3);
		assert_int_equal(ipc_send(pair[0], IPC_SPAWN, &m, sizeof(m), NULL, 0), 0);
		assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);
	}
}

static void test_unterminated_and_wrong_length(void **state)
{
	struct ipc_stop m;
	uint32_t type;
	void *payload;
	size_t len;

	(void)state;
	memset(&m, 'a', sizeof(m)); /* no NUL anywhere */
	assert_int_equal(ipc_send(pair[0], IPC_STOP, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);

	memset(&m, 0, sizeof(m));
	memcpy(m.user, "alice", 5);
	assert_int_equal(ipc_send(pair[0], IPC_STOP, &m, sizeof(m) - 1, NULL, 0), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);

	assert_int_equal(ipc_send(pair[0], 9999, NULL, 0, NULL, 0), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);

	close(pair[0]);
	pair[0] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EPIPE);
}

static void test_audit_execute(void **state)
{
	struct ipc_audit a = { 0 };
	const char code[] = "print(1)";
	uint32_t type;
	void *payload;
	size_t len;

	(void)state;
	a.event = IPC_EV_KERNEL_EXECUTE;
	memcpy(a.user, "alice", 5);
	memcpy(a.server, "alice", 5);
	memcpy(a.ip, "::1", 3);
	memcpy(a.kernel_id, "0b6b-11", 7);
	memcpy(a.msg_id, "m1", 2);
	memset(a.code_sha256, 'a', 64);
	a.code_len = 8;
	a.code_bytes = 8;
	assert_int_equal(ipc_send(pair[0], IPC_AUDIT, &a, sizeof(a), code, 8), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), 0);
	assert_int_equal(len, sizeof(a) + 8);

	/* code_bytes that lies about the trailing length */
	a.code_bytes = 9;
	a.code_len = 9;
	assert_int_equal(ipc_send(pair[0], IPC_AUDIT, &a, sizeof(a), code, 8), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);

	/* control characters in free text */
	a.code_bytes = 8;
	a.code_len = 8;
	a.reason[0] = '\n';
	assert_int_equal(ipc_send(pair[0], IPC_AUDIT, &a, sizeof(a), code, 8), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);

	/* unknown event */
	a.reason[0] = 0;
	a.event = IPC_EV__MAX;
	assert_int_equal(ipc_send(pair[0], IPC_AUDIT, &a, sizeof(a), code, 8), 0);
	assert_int_equal(ipc_recv(pair[1], rbuf, sizeof(rbuf), &type, &payload, &len), -EBADMSG);
	assert_null(ipc_audit_event_name(IPC_EV__MAX));
	assert_string_equal(ipc_audit_event_name(IPC_EV_LOGIN_FAILURE), "auth.login.failure");
}

static void test_username_pattern(void **state)
{
	(void)state;
	assert_true(nbw_username_valid("alice"));
	assert_true(nbw_username_valid("_svc-1"));
	assert_true(nbw_username_valid("abcdefghijklmnopqrstuvwxyz012345"));
	assert_false(nbw_username_valid("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_false(nbw_username_valid(".."));
	assert_false(nbw_username_valid("-a"));
	assert_false(nbw_username_valid("a.b"));
	assert_false(nbw_username_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spawn_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_usernames_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_and_wrong_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_execute, setup, teardown),
		cmocka_unit_test(test_username_pattern),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
