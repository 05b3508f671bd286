/* guard: refuse IPv4/IPv6 sockets of the protocols the policy denies
 * ("net-deny tcp|udp|icmp") with a stacked seccomp filter on socket(2).
 *
 * The filter carries SECCOMP_FILTER_FLAG_LOG: a seccomp refusal happens before
 * the audit subsystem's syscall entry, so no exit rule ever sees it; the
 * kernel's seccomp record (type 1326: syscall socket, pid; neither the errno
 * nor the arguments) is the only trace, and the monitor records it as
 * sandbox.syscall.denied. Naming the protocol needs an in-kernel refusal (a
 * cgroup BPF_CGROUP_INET_SOCK_CREATE program), which the audit exit rule on
 * socket() would see with its arguments (sandbox.network.denied).
 *
 * socket()'s arguments are ints: the kernel's syscall wrapper truncates each
 * 64-bit register to its low 32 bits before socket() sees it. The filter
 * therefore compares only the low halves and deliberately ignores the high
 * ones: requiring them to be 0 would let (1 << 32) | AF_INET past this filter
 * while the kernel still creates an AF_INET socket. */
#include "guard/guard.h"

#include "guard/filter.h"

#include <netinet/in.h>
#include <sys/socket.h>
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nbwarden-guard: the socket filter reads the low half of each argument at its little-endian offset"
#endif

#define SOCK_TYPE_MASK 0xfu /* the kernel's: type's low bits; SOCK_NONBLOCK/CLOEXEC sit above */

/* Low 32 bits of seccomp_data.args[i] (little-endian). */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))

/* Instruction indices, so the jumps below read as "go to label". */
enum {
	L_LD_ARCH,
	L_IS_NATIVE,
	L_LD_NR,
	L_DROP_X32,
	L_IS_SOCKET,
	L_LD_DOMAIN,
	L_IS_INET,
	L_IS_INET6,
	L_LD_TYPE,
	L_TYPE_ONLY,
	L_IS_STREAM,
	L_IS_DGRAM,
	L_IS_RAW,
	L_RAW_LD_PROTO,
	L_RAW_IS_ICMP,
	L_RAW_IS_ICMPV6,
	L_DGRAM_LD_PROTO,
	L_DGRAM_IS_ICMP,
	L_DGRAM_IS_ICMPV6,
	L_ALLOW,
	L_TCP,	/* SOCK_STREAM */
	L_UDP,	/* SOCK_DGRAM, not ICMP */
	L_ICMP, /* SOCK_DGRAM or SOCK_RAW, IPPROTO_ICMP or IPPROTO_ICMPV6 */
	L_COUNT,
};

/* Jump at pc on A == k to label t, else to label f (forward only). */
#define JEQ(pc, k, t, f) [pc] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t) - (pc)-1, (f) - (pc)-1)

int guard_deny_net(unsigned net_deny)
{
	const uint32_t deny = SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA);
	struct sock_filter insns[L_COUNT] = {
	    [L_LD_ARCH] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    /* Other ABIs: the runtime's filter already refuses them. */
	    JEQ(L_IS_NATIVE, GUARD_AUDIT_ARCH, L_LD_NR, L_ALLOW),
	    [L_LD_NR] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    [L_DROP_X32] = BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~GUARD_X32_BIT),
	    JEQ(L_IS_SOCKET, __NR_socket, L_LD_DOMAIN, L_ALLOW),
	    [L_LD_DOMAIN] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
	    JEQ(L_IS_INET, AF_INET, L_LD_TYPE, L_IS_INET6),
	    JEQ(L_IS_INET6, AF_INET6, L_LD_TYPE, L_ALLOW),
	    [L_LD_TYPE] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
	    [L_TYPE_ONLY] = BPF_STMT(BPF_ALU | BPF_AND | BPF_K, SOCK_TYPE_MASK),
	    JEQ(L_IS_STREAM, SOCK_STREAM, L_TCP, L_IS_DGRAM),
	    JEQ(L_IS_DGRAM, SOCK_DGRAM, L_DGRAM_LD_PROTO, L_IS_RAW),
	    JEQ(L_IS_RAW, SOCK_RAW, L_RAW_LD_PROTO, L_ALLOW),
	    [L_RAW_LD_PROTO] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
	    JEQ(L_RAW_IS_ICMP, IPPROTO_ICMP, L_ICMP, L_RAW_IS_ICMPV6),
	    JEQ(L_RAW_IS_ICMPV6, IPPROTO_ICMPV6, L_ICMP, L_ALLOW),
	    [L_DGRAM_LD_PROTO] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
	    JEQ(L_DGRAM_IS_ICMP, IPPROTO_ICMP, L_ICMP, L_DGRAM_IS_ICMPV6),
	    JEQ(L_DGRAM_IS_ICMPV6, IPPROTO_ICMPV6, L_ICMP, L_UDP),
	    [L_ALLOW] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    [L_TCP] = BPF_STMT(BPF_RET | BPF_K, net_deny & GUARD_NET_TCP ? deny : SECCOMP_RET_ALLOW),
	    [L_UDP] = BPF_STMT(BPF_RET | BPF_K, net_deny & GUARD_NET_UDP ? deny : SECCOMP_RET_ALLOW),
	    [L_ICMP] = BPF_STMT(BPF_RET | BPF_K, net_deny & GUARD_NET_ICMP ? deny : SECCOMP_RET_ALLOW),
	};

	if (net_deny & ~GUARD_NET_ALL)
		return -EINVAL;
	if (net_deny == 0)
		return 0;
	/* Logged: the refusal's only record (see the top of this file). */
	return guard__install_logged_filter(insns, L_COUNT);
}
