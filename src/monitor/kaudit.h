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
 * kaudit_free removes exactly these rules; kaudit_open first removes the same
 * rules left by a crashed run.
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
 * `sandbox.denials.suppressed` {count} record when the flood has paused for a
 * second (or every 10 s while it lasts).
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

#define KAUDIT_SECCOMP 1326
#define KAUDIT_SYSCALL 1300
#define KAUDIT_LANDLOCK_ACCESS 1423
#define KAUDIT_LANDLOCK_DOMAIN 1424
#define KAUDIT_PATH 1302
#define KAUDIT_CWD 1307
#define KAUDIT_EOE 1320

/* The filter key of the kernel audit rules kaudit_open installs. */
#define KAUDIT_KEY "nbwarden"

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
	uint64_t a1, a2;  /* syscall arguments (open/openat flags) */
	/* 1302 */
	int32_t item;     /* -1 when absent */
	char nametype[16];
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
 * when it is off; -errno when the socket cannot be had (the caller warns). */
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
void kaudit_free(struct kaudit *k);
