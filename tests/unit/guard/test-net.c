/* The guard's socket filter (net-deny): installed in forked children for every
 * combination of denied protocols. Each socket() call is first made without
 * any filter (the control); under a filter a call of a denied protocol must
 * fail with EACCES and every other call must behave exactly as the control
 * did. The control must not already be EACCES for at least one call per
 * protocol, so a denial cannot pass because the call failed anyway (an ICMP
 * datagram socket is EACCES outside net.ipv4.ping_group_range, a raw one is
 * EPERM without CAP_NET_RAW: the raw rows still tell the filter apart). */
#include "test.h"

#include "guard/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#define HI (1ULL << 32) /* garbage in the high half: the kernel truncates socket()'s int arguments */

static const struct call {
	const char *name;
	uint64_t domain, type, protocol;
	unsigned proto; /* GUARD_NET_* the call falls under, 0 for none */
} calls[] = {
    {"inet stream", AF_INET, SOCK_STREAM, 0, GUARD_NET_TCP},
    {"inet6 stream tcp", AF_INET6, SOCK_STREAM, IPPROTO_TCP, GUARD_NET_TCP},
    {"inet stream cloexec|nonblock", AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, GUARD_NET_TCP},
    {"inet stream mptcp", AF_INET, SOCK_STREAM, IPPROTO_MPTCP, GUARD_NET_TCP},
    {"inet stream, high halves set", HI | AF_INET, HI | SOCK_STREAM, HI, GUARD_NET_TCP},
    {"inet dgram", AF_INET, SOCK_DGRAM, 0, GUARD_NET_UDP},
    {"inet6 dgram udp cloexec", AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP, GUARD_NET_UDP},
    {"inet dgram, high halves set", HI | AF_INET, HI | SOCK_DGRAM, HI | IPPROTO_UDP, GUARD_NET_UDP},
    {"inet dgram icmp", AF_INET, SOCK_DGRAM, IPPROTO_ICMP, GUARD_NET_ICMP},
    {"inet6 dgram icmpv6 nonblock", AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMPV6, GUARD_NET_ICMP},
    {"inet raw icmp", AF_INET, SOCK_RAW, IPPROTO_ICMP, GUARD_NET_ICMP},
    {"inet6 raw icmpv6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, GUARD_NET_ICMP},
    {"inet raw icmp, high halves set", HI | AF_INET, HI | SOCK_RAW, HI | IPPROTO_ICMP, GUARD_NET_ICMP},
    {"inet raw udp", AF_INET, SOCK_RAW, IPPROTO_UDP, 0},
    {"unix stream", AF_UNIX, SOCK_STREAM, 0, 0},
    {"unix dgram", AF_UNIX, SOCK_DGRAM, 0, 0},
    {"unix seqpacket", AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, 0},
    {"netlink route", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, 0},
    {"netlink dgram", AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE, 0},
};
#define N_CALLS (sizeof(calls) / sizeof(calls[0]))

/* In a child: install the filter for mask (none when install is false), make
 * every call; res[i] = 0 on success, else errno. Returns guard_deny_net's answer. */
static int run_calls(bool install, unsigned mask, int res[N_CALLS])
{
	int fds[2], st, r = 0;
	struct {
		int install_r;
		int res[N_CALLS];
	} msg;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		memset(&msg, 0, sizeof(msg));
		if (install)
			msg.install_r = guard_deny_net(mask);
		for (size_t i = 0; i < N_CALLS; i++) {
			long fd = syscall(SYS_socket, calls[i].domain, calls[i].type, calls[i].protocol);
			msg.res[i] = fd < 0 ? errno : 0;
			if (fd >= 0)
				close((int)fd);
		}
		_exit(write(fds[1], &msg, sizeof(msg)) == (ssize_t)sizeof(msg) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &msg, sizeof(msg)), sizeof(msg));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	r = msg.install_r;
	memcpy(res, msg.res, sizeof(msg.res));
	return r;
}

static const char *errname(int e)
{
	return e ? strerror(e) : "success";
}

static void test_every_combination(void **state)
{
	int control[N_CALLS], res[N_CALLS];
	unsigned provable = 0;

	assert_int_equal(run_calls(false, 0, control), 0);
	for (size_t i = 0; i < N_CALLS; i++) {
		printf("# control: %-32s %s\n", calls[i].name, errname(control[i]));
		if (calls[i].proto && control[i] != EACCES)
			provable |= calls[i].proto;
	}
	/* TCP, UDP and unix sockets work on any host: the denials below are the
	 * filter's. (These rows are the first of their kind in calls[].) */
	assert_int_equal(control[0], 0);  /* inet stream */
	assert_int_equal(control[4], 0);  /* inet stream, high halves set */
	assert_int_equal(control[5], 0);  /* inet dgram */
	assert_int_equal(control[7], 0);  /* inet dgram, high halves set */
	assert_int_equal(control[14], 0); /* unix stream */
	assert_int_equal(provable, GUARD_NET_ALL);

	/* mask 0 installs nothing. */
	assert_int_equal(run_calls(true, 0, res), 0);
	assert_memory_equal(res, control, sizeof(res));

	for (unsigned mask = 1; mask <= GUARD_NET_ALL; mask++) {
		assert_int_equal(run_calls(true, mask, res), 0);
		for (size_t i = 0; i < N_CALLS; i++) {
			int want = (calls[i].proto & mask) ? EACCES : control[i];

			if (res[i] != want)
				fail_msg("net-deny mask %#x, %s: got %s, want %s", mask, calls[i].name, errname(res[i]),
					 errname(want));
		}
	}
}

static void test_bad_mask(void **state)
{
	/* Refused before anything is installed, so safe in this process. */
	assert_int_equal(guard_deny_net(0x8), -EINVAL);
	assert_int_equal(guard_deny_net(GUARD_NET_ALL | 0x100), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_combination),
	    cmocka_unit_test(test_bad_mask),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
