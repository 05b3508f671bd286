/* monitor: the kernel's refusals inside the sandboxes, from the kernel audit
 * stream into our audit log.
 *
 * A root-side reader of the audit multicast group (NETLINK_AUDIT,
 * AUDIT_NLGRP_READLOG: read-only, works beside or without auditd). It uses:
 *   1326 AUDIT_SECCOMP           a refused syscall (the sandbox's seccomp filter
 *                                carries SECCOMP_FILTER_FLAG_LOG): uid, pid, arch,
 *                                syscall, comm, exe  → sandbox.syscall.denied
 *   1423 AUDIT_LANDLOCK_ACCESS   domain, blockers, path of a Landlock refusal;
 *   1300 AUDIT_SYSCALL           the same event's pid and uid;
 *   1424 AUDIT_LANDLOCK_DOMAIN   domain → uid/pid of the process that created it
 *                                (used when the 1300 record does not come);
 *     fs.execute → sandbox.exec.denied; fs.write_file, fs.make_*, fs.remove_*,
 *     fs.truncate, fs.refer → sandbox.write.denied; others are not recorded.
 * Refusals that never reach Landlock (exec from a noexec mount, writes to the
 * read-only root, DAC refusals of chmod/truncate/...) leave no record by
 * themselves: kaudit_open installs kernel audit rules (exit filter, x86_64,
 * uid >= hostUidBase, key "nbwarden") for failed execve/execveat (EACCES,
 * EPERM) and failed path-based write-class syscalls (creat, truncate, chmod,
 * chown, unlink, rename, mkdir, rmdir, link, symlink, mknod and their *at
 * forms; open/openat only with O_WRONLY|O_RDWR|O_CREAT|O_TRUNC in the flags;
 * EROFS, EACCES, EPERM); openat2 and fd-only calls are not covered. Their
 *   1300 (key="nbwarden") + 1307 CWD + 1302 PATH (first named item) + 1320 EOE
 *     → sandbox.exec.denied / sandbox.write.denied {path, syscall, pid, errno,
 *       error, exe}; for a file that does not exist the kernel names only
 *       the directory ("/etc/"). When Landlock reported the same event (1423
 *       with the same serial), only Landlock's record is written.
 * The same set has two more rules: socket(2) of AF_INET/AF_INET6 failing with
 * EACCES or EPERM inside the kernel (a ping socket outside ping_group_range,
 * a cgroup sock_create program, an LSM)
 *   1300 (key="nbwarden", syscall=41, a0 domain, a1 type, a2 protocol)
 *     → sandbox.network.denied {protocol, family, pid, error}
 *       protocol: "tcp" (SOCK_STREAM), "udp" (SOCK_DGRAM, protocol not 1/58),
 *       "icmp" (SOCK_DGRAM/SOCK_RAW, protocol 1 or 58) or "other";
 *       family: "inet" | "inet6".
 *   NOTE: a seccomp SECCOMP_RET_ERRNO refusal never reaches these rules: the
 *   kernel runs seccomp before the audit syscall entry, so such a call leaves
 *   no SYSCALL record at all (only a 1326 record, without the arguments,
 *   when the filter carries SECCOMP_FILTER_FLAG_LOG).
 * kaudit_free removes exactly these rules; kaudit_open first removes the same
 * rules left by a crashed run.
 *
 * Per-sandbox audit rules ("Audit" actions: log and allow), see
 * kaudit_sandbox_add below. Their key is "nbwarden-a-<hostUidBase>-<slot>"
 * (KAUDIT_KEY_AUDIT_PREFIX), so that a record says which slot's rule matched
 * and a monitor with another base leaves them alone. Records carrying the key
 * of a slot that has rules in this reader (successful x86_64 syscalls only):
 *   execve/execveat                      → sandbox.exec.audited {path, pid}
 *   open/openat/openat2/creat and the other syscalls of the kernel's read,
 *   write and attribute classes          → sandbox.file.audited
 *                                           {path, access: "read"|"write", pid}
 *     access is "write" when the open asked for writing (O_WRONLY, O_RDWR,
 *     O_CREAT, O_TRUNC) or the call changes the file system, else "read".
 *   socket                               → sandbox.network.audited
 *                                           {protocol, family, pid} (only the
 *                                           protocols the slot asked for)
 * path is the name the process gave (1302 PATH: the first named item that is
 * not the PARENT of a created/removed name), made absolute with the 1307 CWD
 * record; a name relative to a directory fd (openat & co. with dirfd not
 * AT_FDCWD) is given as the process wrote it.
 *
 * The uid (the kernel's, i.e. the host uid) says whose sandbox it is: a uid in
 * [hostUidBase + slot*65536, +65536) is slot's; the monitor's lookup callback
 * names the user running in that slot (no running server: ignored).
 *
 * Trust: the kernel is the peer (sender nl_pid 0 is checked), but comm, exe
 * and path are chosen by code in the sandbox: they are decoded (the kernel
 * hex-encodes unusual ones), escaped to printable ASCII and truncated.
 *
 * Rate limit per sandbox (token bucket: burst KAUDIT_BURST, KAUDIT_RATE per
 * second); what the bucket refuses is counted and reported as one
 * `sandbox.denials.suppressed` {count, seconds} record when the flood has
 * paused for a second (or every 10 s while it lasts). Audited events (which
 * can be far more frequent: a posture "audit" records every file read) have a
 * bucket of their own per sandbox (KAUDIT_AUDITED_BURST, KAUDIT_AUDITED_RATE,
 * summary `sandbox.audited.suppressed` {count, seconds}), so that audited
 * noise never starves the denial records.
 *
 * Landlock writes audit records only while the kernel's audit is enabled
 * (audit_enabled); kaudit_open enables it when it is off (seccomp's records
 * flow either way). Older kernels: no Landlock records before 6.15 (ABI 7). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KAUDIT_BURST 20
#define KAUDIT_RATE 5
#define KAUDIT_AUDITED_BURST 20
#define KAUDIT_AUDITED_RATE 5

#define KAUDIT_SECCOMP 1326
#define KAUDIT_SYSCALL 1300
#define KAUDIT_LANDLOCK_ACCESS 1423
#define KAUDIT_LANDLOCK_DOMAIN 1424
#define KAUDIT_PATH 1302
#define KAUDIT_CWD 1307
#define KAUDIT_EOE 1320
#define KAUDIT_OPENAT2 1337

/* The filter key of the kernel audit rules kaudit_open installs. */
#define KAUDIT_KEY "nbwarden"
/* Per-sandbox rules: KAUDIT_KEY_AUDIT_PREFIX "<hostUidBase>-<slot>". */
#define KAUDIT_KEY_AUDIT_PREFIX "nbwarden-a-"

/* One parsed record; strings are NUL-terminated printable ASCII. */
struct kaudit_record {
	uint16_t type;
	uint64_t serial; /* event id: records of one event share it */
	uint64_t time_ms;
	bool has_uid, has_pid;
	uint32_t uid;
	int32_t pid;
	uint32_t arch;    /* AUDIT_ARCH_* (1326, 1300) */
	int32_t syscall;  /* (1326, 1300) */
	uint32_t code;    /* seccomp action (1326) */
	char comm[64];
	char exe[512];
	uint64_t domain;  /* Landlock domain id (1423, 1424) */
	bool allocated;   /* 1424 status=allocated */
	char blockers[256];
	char path[1024];  /* 1423 path, 1302 name, 1307 cwd */
	/* 1300 */
	bool failed;      /* success=no */
	bool ours;        /* key="nbwarden": one of our rules matched */
	int32_t exit;     /* -errno when failed */
	uint64_t a0, a1, a2; /* syscall arguments (dirfd, open/openat flags, socket domain/type/protocol) */
	bool audited;     /* key="nbwarden-a-BASE-SLOT": a per-sandbox rule matched */
	uint32_t key_base, key_slot;
	/* 1302 */
	int32_t item;     /* -1 when absent */
	char nametype[16];
	/* 1337 (openat2's struct open_how) */
	bool has_oflag;
	uint64_t oflag;
};

/* Parse one record (the netlink payload: "audit(SEC.MS:SERIAL): k=v ...").
 * 0, -EINVAL (malformed), -EOPNOTSUPP (a type we do not use). Never reads past
 * text+len; text need not be NUL-terminated. */
int kaudit_parse(uint16_t type, const char *text, size_t len, struct kaudit_record *ret);

/* The user running in a slot, or NULL. */
typedef const char *(*kaudit_lookup_fn)(void *userdata, uint32_t slot);
/* Write one audit event (fields is the caller's; the callee does not keep it). */
typedef void (*kaudit_emit_fn)(void *userdata, const char *event, const char *user, json_t *fields);

struct kaudit;

/* The reader's state, without a socket (tests feed it with kaudit_feed). */
int kaudit_new(uint32_t host_uid_base, kaudit_lookup_fn lookup, kaudit_emit_fn emit, void *userdata,
	       struct kaudit **ret);
/* Open the multicast socket (SOCK_CLOEXEC|SOCK_NONBLOCK), enable kernel audit
 * when it is off, remove the per-sandbox rules a crashed run with the same
 * base left (key prefix KAUDIT_KEY_AUDIT_PREFIX "<base>-") and install the
 * global rules; -errno when the socket cannot be had (the caller warns). */
int kaudit_open(struct kaudit *k);
int kaudit_fd(const struct kaudit *k); /* -1 when not open */
/* Read what is queued (bounded rounds) and handle it. */
void kaudit_dispatch(struct kaudit *k, uint64_t now_ms);
/* Handle one record as if read from the socket. */
void kaudit_feed(struct kaudit *k, uint16_t type, const char *text, size_t len, uint64_t now_ms);
/* Emit pending Landlock events and suppression summaries that are due. */
void kaudit_tick(struct kaudit *k, uint64_t now_ms);
/* Milliseconds until kaudit_tick has work, -1 = none. */
int kaudit_next_tick_ms(const struct kaudit *k, uint64_t now_ms);
/* Removes the global rules and every per-sandbox rule of this base, and turns
 * kernel audit off again when kaudit_open turned it on. */
void kaudit_free(struct kaudit *k);

/* ---- per-sandbox audit rules ----
 *
 * Exit-filter rules (x86_64, success=1, uid in the slot's host range
 * [base + slot*65536, +65536), key KAUDIT_KEY_AUDIT_PREFIX "<base>-<slot>")
 * that make the kernel record a sandbox's successful accesses (KubeArmor's
 * "Audit" action: logged, not refused; refusals are the guard's business).
 * Every rule carries success=1, so none of them can hide or duplicate a
 * refusal record of the global rules.
 *
 * Watches (KAUDIT_WATCH_*), as auditctl -w / -F dir= with -p:
 *   EXEC → perm x, READ → r, WRITE → w|a, ACCESS → r|w|a.
 *   tree=false (AUDIT_WATCH): the inode named by path (a file or a directory
 *     itself). The kernel follows the name in its parent directory: path
 *     need not exist yet, but its parent directory must; a watch on a
 *     symbolic link would watch the link, not its target, and is refused.
 *     "/" cannot be a single-path watch.
 *   tree=true (AUDIT_DIR): the directory and everything beneath it, across
 *     mounts below it; it must exist and be a directory (not a link).
 *   path: absolute host path, normalised (no "//", ".", ".." components, no
 *     trailing "/" except "/" itself), no control characters, < PATH_MAX.
 *   never=true: an exception (AUDIT_NEVER): a matching access is not recorded.
 *     A slot's exceptions are added before its other rules, and the kernel
 *     takes the first matching rule of the exit list (trees, all_exec,
 *     all_read, net) and then lets a matching single-path watch decide. So an
 *     exception works against every rule of its slot, except that a
 *     single-path "always" watch inside a "never" tree is still recorded (the
 *     more specific rule wins).
 * all_exec: every successful execve/execveat.
 * all_read: every successful open/openat/openat2 whose access mode includes
 *   reading (O_RDONLY or O_RDWR) — including the loader's and the
 *   interpreter's own reads: rate-limited like everything else.
 * net: KAUDIT_NET_* bits; a successful socket() of those protocols
 *   (AF_INET/AF_INET6) is recorded. The kernel rules are coarser (socket type
 *   bits and protocol), the reader keeps exactly the protocols asked for.
 *
 * Limits: at most KAUDIT_SANDBOX_RULES_MAX kernel rules per sandbox (one per
 * watch, one each for all_exec/all_read, 2 for tcp, 2 for udp, 4 for icmp)
 * and KAUDIT_RULES_MAX in all. */
enum kaudit_watch_kind {
	KAUDIT_WATCH_EXEC = 1,
	KAUDIT_WATCH_READ,
	KAUDIT_WATCH_WRITE,
	KAUDIT_WATCH_ACCESS, /* read or write */
};

struct kaudit_watch {
	enum kaudit_watch_kind kind;
	bool tree;        /* the directory and everything beneath (AUDIT_DIR) vs one path (AUDIT_WATCH) */
	bool never;       /* an exception: matching accesses are not recorded */
	const char *path; /* absolute host path */
};

#define KAUDIT_NET_TCP 1u
#define KAUDIT_NET_UDP 2u
#define KAUDIT_NET_ICMP 4u
#define KAUDIT_NET_ALL (KAUDIT_NET_TCP | KAUDIT_NET_UDP | KAUDIT_NET_ICMP)

struct kaudit_sandbox_rules {
	const struct kaudit_watch *watches;
	size_t n_watches;
	bool all_exec; /* every successful execve/execveat of the sandbox (posture "audit") */
	bool all_read; /* every successful open of a file for reading (posture "audit") */
	unsigned net;  /* KAUDIT_NET_*: a successful socket() of these protocols is recorded */
};

#define KAUDIT_SANDBOX_RULES_MAX 256
#define KAUDIT_RULES_MAX 4096

/* Install the slot's rules, replacing any it had. The arguments are checked
 * first (err names the watch by index and path: "watch 2 (/srv/x): ..."), then
 * the rules are added through NETLINK_AUDIT; when the kernel refuses one,
 * every rule of the slot is removed again and err names the rule. r is not
 * kept (paths are copied into the kernel). Rules with nothing to record
 * (no watches, no all_*, net 0) just remove the slot's rules.
 * Returns 0; -EINVAL (a bad argument), -E2BIG (more than
 * KAUDIT_SANDBOX_RULES_MAX rules), -ENOSPC (KAUDIT_RULES_MAX reached),
 * -ERANGE (slot outside the uid range), -ENOENT/-ENOTDIR/-ELOOP/-ENAMETOOLONG
 * (a path),
 * or the kernel's -errno (-EPERM: not root, or audit rules locked).
 * Records of the slot are turned into events only while its rules are in. */
int kaudit_sandbox_add(struct kaudit *k, uint32_t slot, const struct kaudit_sandbox_rules *r, char *err,
		       size_t err_size);
/* Remove every rule of the slot (found by key through AUDIT_LIST_RULES, so a
 * rule left by a failed add goes too). Idempotent: 0 when the slot has none;
 * -errno when the kernel cannot be asked (the slot stays known, a later
 * remove or kaudit_free tries again). */
int kaudit_sandbox_remove(struct kaudit *k, uint32_t slot);
/* The reader's half of kaudit_sandbox_add alone, for tests and replays: the
 * slot's audited records become events (net: the KAUDIT_NET_* kept) and no
 * kernel rule is touched. kaudit_sandbox_remove forgets it. */
int kaudit_sandbox_expect(struct kaudit *k, uint32_t slot, unsigned net);
/* Rules the slot has in the kernel as far as this reader knows (0: none). */
size_t kaudit_sandbox_rule_count(const struct kaudit *k, uint32_t slot);
