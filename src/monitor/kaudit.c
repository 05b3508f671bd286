/* monitor: kernel audit records of refusals in the sandboxes → our audit log
 * (see kaudit.h). */
#include "monitor/kaudit.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/common.h"

#define RANGE_SIZE 65536u
#define BUCKETS_MAX 1024
#define PENDING_MAX 64
#define PENDING_WAIT_MS 300
#define DOMAINS_MAX 256
#define SUMMARY_QUIET_MS 1000
#define SUMMARY_EVERY_MS 10000
#define RECV_ROUNDS 256
#define RCVBUF (4 << 20)
#define AUDIT_MSG_MAX 8970 /* the kernel's MAX_AUDIT_MESSAGE_LENGTH */
#define FSEVENTS_MAX 32
#define OPEN_WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)

struct bucket {
	bool used;
	uint32_t slot;
	char user[NBW_USERNAME_MAX + 1];
	uint64_t tokens_m; /* thousandths of a token */
	uint64_t last_ms;
	uint64_t suppressed;
	uint64_t first_sup_ms, last_sup_ms;
};

struct pending {
	bool used;
	uint64_t at_ms;
	struct kaudit_record rec;
};

/* A refusal our own rules reported (1300 with key="nbwarden"), waiting for
 * its PATH/CWD records until the EOE record of the same serial. */
struct fsevent {
	bool used;
	bool has_path;
	uint64_t at_ms;
	struct kaudit_record sys;
	char path[1024];
	char cwd[1024];
};

struct domain {
	uint64_t id;
	uint32_t uid;
	int32_t pid;
};

struct kaudit {
	int fd;
	bool enabled_audit; /* we turned kernel audit on: turn it off again at the end */
	uint32_t base;
	kaudit_lookup_fn lookup;
	kaudit_emit_fn emit;
	void *userdata;
	uint64_t lost;
	uint64_t lost_warned_ms;
	struct bucket buckets[BUCKETS_MAX];
	struct pending pending[PENDING_MAX];
	struct domain domains[DOMAINS_MAX];
	size_t next_domain;
	struct fsevent fsevents[FSEVENTS_MAX];
	bool rules_installed;
};

/* ---- parsing ---- */

static bool parse_u64(const char *p, size_t n, unsigned base, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		char c = p[i];
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*ret = v;
	return true;
}

/* "audit(SEC.MS:SERIAL): " → *body_off */
static bool parse_header(const char *t, size_t len, struct kaudit_record *r, size_t *body_off)
{
	size_t i = 6, s;
	uint64_t sec, ms, serial;

	if (len < 6 || memcmp(t, "audit(", 6) != 0)
		return false;
	for (s = i; i < len && t[i] >= '0' && t[i] <= '9'; i++)
		;
	if (i >= len || t[i] != '.' || !parse_u64(t + s, i - s, 10, &sec))
		return false;
	for (s = ++i; i < len && t[i] >= '0' && t[i] <= '9'; i++)
		;
	if (i >= len || t[i] != ':' || !parse_u64(t + s, i - s, 10, &ms) || ms > 999)
		return false;
	for (s = ++i; i < len && t[i] >= '0' && t[i] <= '9'; i++)
		;
	if (i + 1 >= len || t[i] != ')' || t[i + 1] != ':' || !parse_u64(t + s, i - s, 10, &serial))
		return false;
	if (sec > UINT64_MAX / 1000 - 1)
		return false;
	r->time_ms = sec * 1000 + ms;
	r->serial = serial;
	*body_off = i + 2;
	return true;
}

static bool is_hex(const char *p, size_t n)
{
	if (n == 0 || n % 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

/* Append byte c to out escaped to printable ASCII; false when it no longer fits. */
static bool put_escaped(char *out, size_t size, size_t *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\\') {
		if (*o + 1 >= size)
			return false;
		out[(*o)++] = (char)c;
		return true;
	}
	if (*o + 4 >= size)
		return false;
	out[(*o)++] = '\\';
	out[(*o)++] = 'x';
	out[(*o)++] = hex[c >> 4];
	out[(*o)++] = hex[c & 15];
	return true;
}

/* A value the sandbox chose: "quoted", HEX-encoded (the kernel's form for
 * anything with spaces, quotes, control or non-ASCII bytes) or a bare token. */
static void untrusted_value(const char *v, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		for (size_t i = 1; i + 1 < n; i++)
			if (!put_escaped(out, size, &o, (unsigned char)v[i]))
				break;
	} else if (is_hex(v, n)) {
		for (size_t i = 0; i + 1 < n; i += 2)
			if (!put_escaped(out, size, &o, (unsigned char)(nbw_hexval(v[i]) << 4 | nbw_hexval(v[i + 1]))))
				break;
	} else {
		for (size_t i = 0; i < n; i++)
			if (!put_escaped(out, size, &o, (unsigned char)v[i]))
				break;
	}
	out[o] = 0;
}

static bool parse_i64(const char *p, size_t n, int64_t *ret)
{
	uint64_t v;

	if (n > 1 && p[0] == '-') {
		if (!parse_u64(p + 1, n - 1, 10, &v) || v > (uint64_t)INT64_MAX)
			return false;
		*ret = -(int64_t)v;
		return true;
	}
	if (!parse_u64(p, n, 10, &v) || v > (uint64_t)INT64_MAX)
		return false;
	*ret = (int64_t)v;
	return true;
}

static void field(struct kaudit_record *r, const char *k, size_t kn, const char *v, size_t vn)
{
	uint64_t x;

#define KEY(s) (kn == sizeof(s) - 1 && !memcmp(k, s, kn))
	if (KEY("uid")) {
		if (parse_u64(v, vn, 10, &x) && x <= UINT32_MAX) {
			r->uid = (uint32_t)x;
			r->has_uid = true;
		}
	} else if (KEY("pid")) {
		if (parse_u64(v, vn, 10, &x) && x <= INT32_MAX) {
			r->pid = (int32_t)x;
			r->has_pid = true;
		}
	} else if (KEY("arch")) {
		if (parse_u64(v, vn, 16, &x) && x <= UINT32_MAX)
			r->arch = (uint32_t)x;
	} else if (KEY("syscall")) {
		if (parse_u64(v, vn, 10, &x) && x <= INT32_MAX)
			r->syscall = (int32_t)x;
	} else if (KEY("code")) {
		if (vn > 2 && v[0] == '0' && v[1] == 'x' && parse_u64(v + 2, vn - 2, 16, &x) && x <= UINT32_MAX)
			r->code = (uint32_t)x;
	} else if (KEY("domain")) {
		if (parse_u64(v, vn, 16, &x))
			r->domain = x;
	} else if (KEY("status")) {
		r->allocated = vn == 9 && !memcmp(v, "allocated", 9);
	} else if (KEY("comm")) {
		untrusted_value(v, vn, r->comm, sizeof(r->comm));
	} else if (KEY("exe")) {
		untrusted_value(v, vn, r->exe, sizeof(r->exe));
	} else if (KEY("path")) {
		untrusted_value(v, vn, r->path, sizeof(r->path));
	} else if (KEY("name") && r->type == KAUDIT_PATH) {
		/* name=(null): the kernel could not copy the name */
		if (!(vn == 6 && !memcmp(v, "(null)", 6)))
			untrusted_value(v, vn, r->path, sizeof(r->path));
	} else if (KEY("cwd") && r->type == KAUDIT_CWD) {
		untrusted_value(v, vn, r->path, sizeof(r->path));
	} else if (KEY("item") && r->type == KAUDIT_PATH) {
		if (parse_u64(v, vn, 10, &x) && x <= INT32_MAX)
			r->item = (int32_t)x;
	} else if (KEY("nametype") && r->type == KAUDIT_PATH) {
		untrusted_value(v, vn, r->nametype, sizeof(r->nametype));
	} else if (KEY("success") && r->type == KAUDIT_SYSCALL) {
		r->failed = vn == 2 && !memcmp(v, "no", 2);
	} else if (KEY("exit") && r->type == KAUDIT_SYSCALL) {
		int64_t e;
		if (parse_i64(v, vn, &e) && e >= INT32_MIN && e <= INT32_MAX)
			r->exit = (int32_t)e;
	} else if (KEY("a1") && r->type == KAUDIT_SYSCALL) {
		if (parse_u64(v, vn, 16, &x))
			r->a1 = x;
	} else if (KEY("a2") && r->type == KAUDIT_SYSCALL) {
		if (parse_u64(v, vn, 16, &x))
			r->a2 = x;
	} else if (KEY("key") && r->type == KAUDIT_SYSCALL) {
		r->ours = vn == sizeof(KAUDIT_KEY) + 1 && v[0] == '"' &&
			  !memcmp(v + 1, KAUDIT_KEY, sizeof(KAUDIT_KEY) - 1) && v[vn - 1] == '"';
	} else if (KEY("blockers")) {
		/* kernel-chosen names (fs.execute,fs.write_file,...) */
		untrusted_value(v, vn, r->blockers, sizeof(r->blockers));
	}
#undef KEY
}

int kaudit_parse(uint16_t type, const char *text, size_t len, struct kaudit_record *ret)
{
	struct kaudit_record r;
	size_t i;

	if (type != KAUDIT_SECCOMP && type != KAUDIT_SYSCALL && type != KAUDIT_LANDLOCK_ACCESS &&
	    type != KAUDIT_LANDLOCK_DOMAIN && type != KAUDIT_PATH && type != KAUDIT_CWD && type != KAUDIT_EOE)
		return -EOPNOTSUPP;
	memset(&r, 0, sizeof(r));
	r.type = type;
	r.syscall = -1;
	r.item = -1;
	/* The kernel may or may not count a trailing NUL in the payload. */
	while (len > 0 && (text[len - 1] == 0 || text[len - 1] == '\n'))
		len--;
	if (!parse_header(text, len, &r, &i))
		return -EINVAL;
	while (i < len) {
		size_t s, eq;
		while (i < len && text[i] == ' ')
			i++;
		for (s = i; i < len && text[i] != ' '; i++)
			;
		for (eq = s; eq < i && text[eq] != '='; eq++)
			;
		if (eq < i && eq > s)
			field(&r, text + s, eq - s, text + eq + 1, i - eq - 1);
	}
	if ((type == KAUDIT_SECCOMP || type == KAUDIT_SYSCALL) && (!r.has_uid || !r.has_pid || r.syscall < 0))
		return -EINVAL;
	if (type == KAUDIT_LANDLOCK_ACCESS && (!r.domain || !r.blockers[0]))
		return -EINVAL;
	if (type == KAUDIT_LANDLOCK_DOMAIN && !r.domain)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* ---- events ---- */

static struct bucket *bucket_for(struct kaudit *k, uint32_t slot, const char *user, uint64_t now)
{
	struct bucket *free_b = NULL, *idle = NULL;

	for (size_t i = 0; i < BUCKETS_MAX; i++) {
		struct bucket *b = &k->buckets[i];
		if (b->used && b->slot == slot && !strcmp(b->user, user))
			return b;
		if (!b->used && !free_b)
			free_b = b;
		else if (b->used && !b->suppressed && (!idle || b->last_ms < idle->last_ms))
			idle = b;
	}
	if (!free_b)
		free_b = idle;
	if (!free_b)
		return NULL; /* every bucket is in a flood: drop */
	memset(free_b, 0, sizeof(*free_b));
	free_b->used = true;
	free_b->slot = slot;
	nbw_strlcpy(free_b->user, user, sizeof(free_b->user));
	free_b->tokens_m = KAUDIT_BURST * 1000ull;
	free_b->last_ms = now;
	return free_b;
}

/* A sandbox's denial: whose, and may it be written now? */
static const char *admit(struct kaudit *k, uint32_t uid, uint64_t now)
{
	struct bucket *b;
	const char *user;
	uint32_t slot;

	if (uid < k->base)
		return NULL;
	slot = (uid - k->base) / RANGE_SIZE;
	user = k->lookup(k->userdata, slot);
	if (!user)
		return NULL; /* not one of our running sandboxes */
	b = bucket_for(k, slot, user, now);
	if (!b)
		return NULL;
	if (now > b->last_ms) {
		b->tokens_m += (now - b->last_ms) * KAUDIT_RATE;
		if (b->tokens_m > KAUDIT_BURST * 1000ull)
			b->tokens_m = KAUDIT_BURST * 1000ull;
		b->last_ms = now;
	}
	if (b->tokens_m >= 1000) {
		b->tokens_m -= 1000;
		return b->user;
	}
	if (!b->suppressed++)
		b->first_sup_ms = now;
	b->last_sup_ms = now;
	return NULL;
}

static void emit(struct kaudit *k, const char *event, const char *user, json_t *f)
{
	if (f)
		k->emit(k->userdata, event, user, f);
	json_decref(f);
}

static const char *action_name(uint32_t code)
{
	switch (code & 0xffff0000u) {
	case 0x80000000u:
		return "kill_process";
	case 0x00000000u:
		return "kill_thread";
	case 0x00030000u:
		return "trap";
	case 0x00050000u:
		return "errno";
	case 0x7ffc0000u:
		return "log";
	default:
		return "other";
	}
}

static void on_seccomp(struct kaudit *k, const struct kaudit_record *r, uint64_t now)
{
	const char *user = admit(k, r->uid, now);
	char *name;
	json_t *f;

	if (!user)
		return;
	/* libseccomp's arch tokens are the AUDIT_ARCH_* values. */
	name = seccomp_syscall_resolve_num_arch(r->arch, r->syscall);
	f = json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s}", "syscall", name ? name : "unknown", "syscall_nr",
		      (json_int_t)r->syscall, "arch", r->arch == AUDIT_ARCH_X86_64 ? "x86_64"
						       : r->arch == AUDIT_ARCH_I386 ? "i386"
						       : r->arch == AUDIT_ARCH_AARCH64 ? "aarch64"
										 : "other",
		      "pid", (json_int_t)r->pid, "exe", r->exe, "comm", r->comm, "action", action_name(r->code));
	free(name);
	emit(k, "sandbox.syscall.denied", user, f);
}

static bool has_blocker(const char *list, const char *prefix, bool exact)
{
	size_t n = strlen(prefix);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len >= n && !memcmp(p, prefix, n) && (!exact || len == n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static void landlock_emit(struct kaudit *k, const struct kaudit_record *a, uint32_t uid, int32_t pid, uint64_t now)
{
	const char *event, *user;

	if (has_blocker(a->blockers, "fs.execute", true))
		event = "sandbox.exec.denied";
	else if (has_blocker(a->blockers, "fs.write_file", true) || has_blocker(a->blockers, "fs.make_", false) ||
		 has_blocker(a->blockers, "fs.remove_", false) || has_blocker(a->blockers, "fs.truncate", true) ||
		 has_blocker(a->blockers, "fs.refer", true))
		event = "sandbox.write.denied";
	else
		return; /* reads, network, scopes: not recorded here */
	user = admit(k, uid, now);
	if (!user)
		return;
	emit(k, event, user,
	     json_pack("{s:s, s:o, s:s}", "path", a->path, "pid", pid > 0 ? json_integer(pid) : json_null(), "blockers",
		       a->blockers));
}

static void remember_domain(struct kaudit *k, const struct kaudit_record *r)
{
	for (size_t i = 0; i < DOMAINS_MAX; i++)
		if (k->domains[i].id == r->domain)
			return;
	k->domains[k->next_domain] = (struct domain){ .id = r->domain, .uid = r->uid, .pid = r->pid };
	k->next_domain = (k->next_domain + 1) % DOMAINS_MAX;
}

static const struct domain *find_domain(const struct kaudit *k, uint64_t id)
{
	for (size_t i = 0; i < DOMAINS_MAX; i++)
		if (k->domains[i].id == id)
			return &k->domains[i];
	return NULL;
}

static void pending_flush(struct kaudit *k, struct pending *p, uint64_t now)
{
	const struct domain *d = find_domain(k, p->rec.domain);

	/* The event's own pid is unknown without its 1300 record; the domain's
	 * creator gives the sandbox (uid) at least. */
	if (d)
		landlock_emit(k, &p->rec, d->uid, 0, now);
	p->used = false;
}

/* ---- refusals before Landlock (our audit rules) ---- */

static bool is_exec_syscall(int32_t nr)
{
	return nr == SYS_execve || nr == SYS_execveat;
}

/* The write-class syscalls our rules watch (x86_64 numbers). openat2 is not
 * among them: its flags are in a struct the rules cannot see. fd-only calls
 * (ftruncate, fchmod, fchown) are left out: they name no path. */
static const int write_syscalls[] = {
	SYS_creat,    SYS_truncate, SYS_chmod,   SYS_fchmodat, SYS_chown,   SYS_lchown,  SYS_fchownat,
	SYS_unlink,   SYS_unlinkat, SYS_rename,  SYS_renameat, SYS_renameat2, SYS_mkdir, SYS_mkdirat,
	SYS_rmdir,    SYS_link,     SYS_linkat,  SYS_symlink,  SYS_symlinkat, SYS_mknod, SYS_mknodat,
};

static bool is_write_syscall(const struct kaudit_record *r)
{
	if (r->syscall == SYS_open)
		return (r->a1 & OPEN_WRITE_FLAGS) != 0;
	if (r->syscall == SYS_openat)
		return (r->a2 & OPEN_WRITE_FLAGS) != 0;
	for (size_t i = 0; i < sizeof(write_syscalls) / sizeof(write_syscalls[0]); i++)
		if (r->syscall == write_syscalls[i])
			return true;
	return false;
}

static const char *errno_name(int32_t e)
{
	switch (e) {
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case EROFS:
		return "EROFS";
	default:
		return "other";
	}
}

static struct fsevent *fsevent_find(struct kaudit *k, uint64_t serial)
{
	for (size_t i = 0; i < FSEVENTS_MAX; i++)
		if (k->fsevents[i].used && k->fsevents[i].sys.serial == serial)
			return &k->fsevents[i];
	return NULL;
}

static void fsevent_flush(struct kaudit *k, struct fsevent *e, uint64_t now)
{
	const struct kaudit_record *r = &e->sys;
	bool exec = is_exec_syscall(r->syscall);
	const char *user;
	char path[sizeof(e->path) + sizeof(e->cwd) + 1];
	char *name;
	json_t *f;

	e->used = false;
	user = admit(k, r->uid, now);
	if (!user)
		return;
	if (!e->has_path)
		path[0] = 0;
	else if (e->path[0] == '/' || !e->cwd[0])
		nbw_strlcpy(path, e->path, sizeof(path));
	else
		nbw_snprintf(path, sizeof(path), "%s/%s", e->cwd, e->path);
	name = seccomp_syscall_resolve_num_arch(AUDIT_ARCH_X86_64, r->syscall);
	f = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "path", path, "syscall", name ? name : "unknown", "pid",
		      (json_int_t)r->pid, "errno", (json_int_t)-r->exit, "error", errno_name(-r->exit), "exe", r->exe);
	free(name);
	emit(k, exec ? "sandbox.exec.denied" : "sandbox.write.denied", user, f);
}

static void on_our_syscall(struct kaudit *k, const struct kaudit_record *r, uint64_t now)
{
	struct fsevent *slot = NULL, *oldest = NULL;

	if (!r->failed || r->arch != AUDIT_ARCH_X86_64)
		return;
	if (r->exit != -EACCES && r->exit != -EPERM && r->exit != -EROFS)
		return;
	if (!is_exec_syscall(r->syscall) && !is_write_syscall(r))
		return; /* e.g. a read-only open: not a write */
	for (size_t i = 0; i < FSEVENTS_MAX; i++) {
		struct fsevent *e = &k->fsevents[i];
		if (!e->used) {
			slot = e;
			break;
		}
		if (!oldest || e->at_ms < oldest->at_ms)
			oldest = e;
	}
	if (!slot) {
		fsevent_flush(k, oldest, now);
		slot = oldest;
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	slot->at_ms = now;
	slot->sys = *r;
}

static void on_record(struct kaudit *k, const struct kaudit_record *r, uint64_t now)
{
	switch (r->type) {
	case KAUDIT_SECCOMP:
		on_seccomp(k, r, now);
		break;
	case KAUDIT_LANDLOCK_ACCESS: {
		struct pending *slot = NULL, *oldest = NULL;
		struct fsevent *e = fsevent_find(k, r->serial);
		if (e)
			e->used = false; /* Landlock's own record says it better */
		for (size_t i = 0; i < PENDING_MAX; i++) {
			struct pending *p = &k->pending[i];
			if (!p->used) {
				slot = p;
				break;
			}
			if (!oldest || p->at_ms < oldest->at_ms)
				oldest = p;
		}
		if (!slot) {
			pending_flush(k, oldest, now);
			slot = oldest;
		}
		slot->used = true;
		slot->at_ms = now;
		slot->rec = *r;
		break;
	}
	case KAUDIT_LANDLOCK_DOMAIN:
		if (r->allocated && r->has_uid)
			remember_domain(k, r);
		break;
	case KAUDIT_SYSCALL: {
		bool landlock = false;
		for (size_t i = 0; i < PENDING_MAX; i++) {
			struct pending *p = &k->pending[i];
			if (p->used && p->rec.serial == r->serial) {
				landlock_emit(k, &p->rec, r->uid, r->pid, now);
				p->used = false;
				landlock = true;
			}
		}
		/* Landlock refused it and said so: one record for one refusal. */
		if (!landlock && r->ours)
			on_our_syscall(k, r, now);
		break;
	}
	case KAUDIT_PATH: {
		struct fsevent *e = fsevent_find(k, r->serial);
		/* The first named item is the syscall's first path argument. */
		if (e && !e->has_path && r->path[0]) {
			nbw_strlcpy(e->path, r->path, sizeof(e->path));
			e->has_path = true;
		}
		break;
	}
	case KAUDIT_CWD: {
		struct fsevent *e = fsevent_find(k, r->serial);
		if (e)
			nbw_strlcpy(e->cwd, r->path, sizeof(e->cwd));
		break;
	}
	case KAUDIT_EOE: {
		struct fsevent *e = fsevent_find(k, r->serial);
		if (e)
			fsevent_flush(k, e, now);
		break;
	}
	default:
		break;
	}
}

void kaudit_feed(struct kaudit *k, uint16_t type, const char *text, size_t len, uint64_t now_ms)
{
	struct kaudit_record r;

	if (kaudit_parse(type, text, len, &r) < 0)
		return;
	on_record(k, &r, now_ms);
}

void kaudit_tick(struct kaudit *k, uint64_t now)
{
	for (size_t i = 0; i < FSEVENTS_MAX; i++) {
		struct fsevent *e = &k->fsevents[i];
		if (e->used && now >= e->at_ms + PENDING_WAIT_MS)
			fsevent_flush(k, e, now); /* its EOE record was lost */
	}
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &k->pending[i];
		if (p->used && now >= p->at_ms + PENDING_WAIT_MS)
			pending_flush(k, p, now);
	}
	for (size_t i = 0; i < BUCKETS_MAX; i++) {
		struct bucket *b = &k->buckets[i];
		if (!b->used || !b->suppressed)
			continue;
		if (now >= b->last_sup_ms + SUMMARY_QUIET_MS || now >= b->first_sup_ms + SUMMARY_EVERY_MS) {
			emit(k, "sandbox.denials.suppressed", b->user,
			     json_pack("{s:I, s:I}", "count", (json_int_t)b->suppressed, "seconds",
				       (json_int_t)((b->last_sup_ms - b->first_sup_ms) / 1000)));
			b->suppressed = 0;
		}
	}
}

int kaudit_next_tick_ms(const struct kaudit *k, uint64_t now)
{
	uint64_t due = UINT64_MAX;

	for (size_t i = 0; i < PENDING_MAX; i++)
		if (k->pending[i].used && k->pending[i].at_ms + PENDING_WAIT_MS < due)
			due = k->pending[i].at_ms + PENDING_WAIT_MS;
	for (size_t i = 0; i < FSEVENTS_MAX; i++)
		if (k->fsevents[i].used && k->fsevents[i].at_ms + PENDING_WAIT_MS < due)
			due = k->fsevents[i].at_ms + PENDING_WAIT_MS;
	for (size_t i = 0; i < BUCKETS_MAX; i++) {
		const struct bucket *b = &k->buckets[i];
		if (!b->used || !b->suppressed)
			continue;
		if (b->last_sup_ms + SUMMARY_QUIET_MS < due)
			due = b->last_sup_ms + SUMMARY_QUIET_MS;
		if (b->first_sup_ms + SUMMARY_EVERY_MS < due)
			due = b->first_sup_ms + SUMMARY_EVERY_MS;
	}
	if (due == UINT64_MAX)
		return -1;
	return due <= now ? 0 : due - now > 60000 ? 60000 : (int)(due - now);
}

/* ---- socket ---- */

int kaudit_new(uint32_t host_uid_base, kaudit_lookup_fn lookup, kaudit_emit_fn emit_fn, void *userdata,
	       struct kaudit **ret)
{
	struct kaudit *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->fd = -1;
	k->base = host_uid_base;
	k->lookup = lookup;
	k->emit = emit_fn;
	k->userdata = userdata;
	*ret = k;
	return 0;
}

/* Turn the kernel's audit on when it is off: Landlock writes no records
 * otherwise (seccomp's are written either way). Without auditd the kernel
 * also prints records to the kernel log, rate-limited. */
static int audit_set_enabled(uint32_t value);

/* Returns true when it turned auditing on. */
static bool audit_enable(void)
{
	struct {
		struct nlmsghdr h;
		struct audit_status s;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	char buf[512];
	ssize_t n;

	if (fd < 0)
		return false;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(0); /* what is sent: the kernel drops a longer claim */
	req.h.nlmsg_type = AUDIT_GET;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 1;
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, NLMSG_LENGTH(0), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return false;
	for (int i = 0; i < 4; i++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < (ssize_t)NLMSG_LENGTH(sizeof(uint32_t) * 2))
			return false;
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		if (h->nlmsg_type != AUDIT_GET)
			continue;
		uint32_t enabled;
		memcpy(&enabled, buf + NLMSG_HDRLEN + sizeof(uint32_t), sizeof(enabled));
		if (enabled != 0)
			return false; /* on (1) or locked (2): nothing to do */
		break;
	}
	if (audit_set_enabled(1) < 0) {
		log_warn_errno(-errno, "Cannot enable kernel audit: Landlock refusals will not be recorded");
		return false;
	}
	log_info("Enabled kernel audit (audit_enabled=1) so that Landlock refusals are recorded");
	return true;
}

static int audit_set_enabled(uint32_t value)
{
	struct {
		struct nlmsghdr h;
		struct audit_status s;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);

	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = AUDIT_SET;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 2;
	req.s.mask = AUDIT_STATUS_ENABLED;
	req.s.enabled = value;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	return 0;
}

/* ---- our kernel audit rules ----
 *
 * Refusals that never reach Landlock (exec from a noexec mount, writes to a
 * read-only mount, DAC refusals) leave no record by themselves: exit-filter
 * rules make the kernel write SYSCALL+PATH records for them, only for the
 * sandboxes' uids, marked with our key. */

enum { RULE_EXEC, RULE_WRITE, RULE_OPEN, RULE_OPENAT };

struct rule_msg {
	struct nlmsghdr h;
	struct audit_rule_data d;
	char key[16];
};

static void rule_field(struct audit_rule_data *d, uint32_t field, uint32_t op, uint32_t value)
{
	d->fields[d->field_count] = field;
	d->fieldflags[d->field_count] = op;
	d->values[d->field_count] = value;
	d->field_count++;
}

static void rule_syscall(struct audit_rule_data *d, int nr)
{
	d->mask[nr / 32] |= 1u << (nr % 32);
}

static size_t rule_build(struct rule_msg *m, uint16_t type, uint32_t base, int kind, int err)
{
	struct audit_rule_data *d = &m->d;
	size_t keylen = sizeof(KAUDIT_KEY) - 1, len = NLMSG_LENGTH(sizeof(*d) + keylen);

	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = (uint32_t)len;
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	d->flags = AUDIT_FILTER_EXIT;
	d->action = AUDIT_ALWAYS;
	switch (kind) {
	case RULE_EXEC:
		rule_syscall(d, SYS_execve);
		rule_syscall(d, SYS_execveat);
		break;
	case RULE_WRITE:
		for (size_t i = 0; i < sizeof(write_syscalls) / sizeof(write_syscalls[0]); i++)
			rule_syscall(d, write_syscalls[i]);
		break;
	case RULE_OPEN:
		rule_syscall(d, SYS_open);
		break;
	default:
		rule_syscall(d, SYS_openat);
		break;
	}
	rule_field(d, AUDIT_ARCH, AUDIT_EQUAL, AUDIT_ARCH_X86_64);
	rule_field(d, AUDIT_UID, AUDIT_GREATER_THAN_OR_EQUAL, base);
	rule_field(d, AUDIT_UID, AUDIT_LESS_THAN, UINT32_MAX - 1); /* (uid_t)-1 is no uid: the kernel refuses it */
	rule_field(d, AUDIT_EXIT, AUDIT_EQUAL, (uint32_t)-err);
	/* Only opens that ask for write access (a read-only probe is no write). */
	if (kind == RULE_OPEN)
		rule_field(d, AUDIT_ARG0 + 1, AUDIT_BIT_MASK, OPEN_WRITE_FLAGS);
	else if (kind == RULE_OPENAT)
		rule_field(d, AUDIT_ARG0 + 2, AUDIT_BIT_MASK, OPEN_WRITE_FLAGS);
	rule_field(d, AUDIT_FILTERKEY, AUDIT_EQUAL, (uint32_t)keylen);
	d->buflen = (uint32_t)keylen;
	memcpy(d->buf, KAUDIT_KEY, keylen);
	return len;
}

/* One request and its ack: 0 or the kernel's -errno. */
static int audit_request(int fd, void *msg, size_t len, uint32_t seq)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	_Alignas(8) char buf[1024];

	((struct nlmsghdr *)msg)->nlmsg_seq = seq;
	if (sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (int i = 0; i < 8; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_seq != seq ||
		    h->nlmsg_type != NLMSG_ERROR)
			continue;
		return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	return -EIO;
}

static const struct {
	int kind, err;
} rule_set[] = {
	{ RULE_EXEC, EACCES },   { RULE_EXEC, EPERM },   { RULE_WRITE, EROFS },  { RULE_WRITE, EACCES },
	{ RULE_WRITE, EPERM },   { RULE_OPEN, EROFS },   { RULE_OPEN, EACCES },  { RULE_OPEN, EPERM },
	{ RULE_OPENAT, EROFS },  { RULE_OPENAT, EACCES }, { RULE_OPENAT, EPERM },
};

/* Add (or delete) our rules; deleting ignores rules that are not there. */
static int rules_apply(uint32_t base, bool add)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	struct timeval tv = { .tv_sec = 1 };
	struct rule_msg m;
	int ret = 0;

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (size_t i = 0; i < sizeof(rule_set) / sizeof(rule_set[0]); i++) {
		size_t len = rule_build(&m, add ? AUDIT_ADD_RULE : AUDIT_DEL_RULE, base, rule_set[i].kind,
					rule_set[i].err);
		int r = audit_request(fd, &m, len, (uint32_t)(i + 10));
		if (add && r == -EEXIST)
			r = 0;
		if (!add && r == -ENOENT)
			r = 0;
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

int kaudit_open(struct kaudit *k)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = AUDIT_NLGRP_READLOG };
	int fd, r, sz = RCVBUF;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* Room for a burst of records while the loop is busy; excess is dropped by the kernel (ENOBUFS). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	k->fd = fd;
	k->enabled_audit = audit_enable();
	/* Stale rules of an earlier run with the same range (a crash) go first. */
	(void)rules_apply(k->base, false);
	r = rules_apply(k->base, true);
	if (r < 0) {
		(void)rules_apply(k->base, false);
		log_warn_errno(r, "Cannot add kernel audit rules (key %s): executions refused by a noexec mount and "
			       "writes refused by a read-only mount or file permissions are refused but NOT recorded",
			       KAUDIT_KEY);
	} else
		k->rules_installed = true;
	return 0;
}

int kaudit_fd(const struct kaudit *k)
{
	return k ? k->fd : -1;
}

void kaudit_dispatch(struct kaudit *k, uint64_t now)
{
	static _Alignas(8) char buf[AUDIT_MSG_MAX + NLMSG_HDRLEN + 64];

	for (int round = 0; k->fd >= 0 && round < RECV_ROUNDS; round++) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(k->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* The kernel dropped records for us: a flood; the
				 * rate limit would have suppressed most anyway. */
				k->lost++;
				if (now >= k->lost_warned_ms + 60000) {
					log_warn("Kernel audit records were dropped (receive queue full)");
					k->lost_warned_ms = now;
				}
				continue;
			}
			return; /* EAGAIN */
		}
		if ((size_t)n > sizeof(buf) || fl != sizeof(from) || from.nl_pid != 0)
			continue; /* truncated, or not from the kernel */
		/* Audit records' nlmsg_len is not padded: left may go negative after
		 * the last one, and NLMSG_OK must see it signed. */
		int left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			kaudit_feed(k, h->nlmsg_type, (const char *)NLMSG_DATA(h),
				    h->nlmsg_len - NLMSG_HDRLEN, now);
		}
	}
}

void kaudit_free(struct kaudit *k)
{
	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd);
	/* Leave the host as we found it. */
	if (k->rules_installed) {
		int r = rules_apply(k->base, false);
		if (r < 0)
			log_warn_errno(r, "Cannot remove our kernel audit rules (key %s)", KAUDIT_KEY);
	}
	if (k->enabled_audit && audit_set_enabled(0) == 0)
		log_info("Kernel audit turned off again (it was off when nbwarden started)");
	free(k);
}
