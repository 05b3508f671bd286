/* monitor: kernel audit records of refusals in the sandboxes → our audit log
 * (see kaudit.h). */
#include "monitor/kaudit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* One token bucket and what it refused since the last summary. */
struct tokens {
	uint64_t tokens_m; /* thousandths of a token */
	uint64_t last_ms;
	uint64_t suppressed;
	uint64_t first_sup_ms, last_sup_ms;
};

/* A sandbox's budgets: refusals and audited accesses apart, so that a flood
 * of audited reads never eats the refusals' tokens. */
struct bucket {
	bool used;
	uint32_t slot;
	char user[NBW_USERNAME_MAX + 1];
	uint64_t last_ms; /* last use of either budget */
	struct tokens denied, audited;
};

/* A slot with per-sandbox rules in the kernel. */
struct slot_rules {
	uint32_t slot;
	uint32_t n_rules;
	unsigned net; /* KAUDIT_NET_* the reader keeps */
};

struct pending {
	bool used;
	uint64_t at_ms;
	struct kaudit_record rec;
};

/* A refusal our own rules reported (1300 with key="nbwarden") or an access a
 * sandbox's audit rule recorded (key="nbwarden-a-..."), waiting for its
 * PATH/CWD/OPENAT2 records until the EOE record of the same serial. */
struct fsevent {
	bool used;
	bool audited;
	bool has_path, has_named, has_oflag;
	uint64_t at_ms;
	uint64_t oflag; /* openat2's flags (1337) */
	struct kaudit_record sys;
	char path[1024];  /* the first named item */
	char named[1024]; /* the first named item that is not a PARENT */
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
	/* per-sandbox rules, sorted by slot */
	struct slot_rules *slots;
	size_t n_slots, slots_cap;
	size_t n_rules; /* sum of slots[].n_rules */
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
		if (c >= '0' && c <= (base == 8 ? '7' : '9'))
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

/* "nbwarden-a-BASE-SLOT" (quoted, as the kernel prints a plain key) */
static bool parse_audit_key(const char *v, size_t vn, uint32_t *base, uint32_t *slot)
{
	const size_t pn = sizeof(KAUDIT_KEY_AUDIT_PREFIX) - 1;
	uint64_t b, s;
	size_t i, dash;

	if (vn < pn + 5 || v[0] != '"' || v[vn - 1] != '"' || memcmp(v + 1, KAUDIT_KEY_AUDIT_PREFIX, pn) != 0)
		return false;
	for (dash = i = 1 + pn; dash < vn - 1 && v[dash] != '-'; dash++)
		;
	if (dash >= vn - 1 || !parse_u64(v + i, dash - i, 10, &b) || b > UINT32_MAX ||
	    !parse_u64(v + dash + 1, vn - 1 - (dash + 1), 10, &s) || s > UINT32_MAX)
		return false;
	*base = (uint32_t)b;
	*slot = (uint32_t)s;
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
	} else if (KEY("a0") && r->type == KAUDIT_SYSCALL) {
		if (parse_u64(v, vn, 16, &x))
			r->a0 = x;
	} else if (KEY("a1") && r->type == KAUDIT_SYSCALL) {
		if (parse_u64(v, vn, 16, &x))
			r->a1 = x;
	} else if (KEY("a2") && r->type == KAUDIT_SYSCALL) {
		if (parse_u64(v, vn, 16, &x))
			r->a2 = x;
	} else if (KEY("key") && r->type == KAUDIT_SYSCALL) {
		r->ours = vn == sizeof(KAUDIT_KEY) + 1 && v[0] == '"' &&
			  !memcmp(v + 1, KAUDIT_KEY, sizeof(KAUDIT_KEY) - 1) && v[vn - 1] == '"';
		r->audited = parse_audit_key(v, vn, &r->key_base, &r->key_slot);
	} else if (KEY("oflag") && r->type == KAUDIT_OPENAT2) {
		/* the kernel prints it as 0%llo */
		if (parse_u64(v, vn, 8, &x)) {
			r->oflag = x;
			r->has_oflag = true;
		}
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
	    type != KAUDIT_LANDLOCK_DOMAIN && type != KAUDIT_PATH && type != KAUDIT_CWD && type != KAUDIT_EOE &&
	    type != KAUDIT_OPENAT2)
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
		else if (b->used && !b->denied.suppressed && !b->audited.suppressed &&
			 (!idle || b->last_ms < idle->last_ms))
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
	free_b->denied.tokens_m = KAUDIT_BURST * 1000ull;
	free_b->audited.tokens_m = KAUDIT_AUDITED_BURST * 1000ull;
	free_b->last_ms = free_b->denied.last_ms = free_b->audited.last_ms = now;
	return free_b;
}

static bool take_token(struct tokens *t, uint64_t burst, uint64_t rate, uint64_t now)
{
	if (now > t->last_ms) {
		t->tokens_m += (now - t->last_ms) * rate;
		if (t->tokens_m > burst * 1000)
			t->tokens_m = burst * 1000;
		t->last_ms = now;
	}
	if (t->tokens_m >= 1000) {
		t->tokens_m -= 1000;
		return true;
	}
	if (!t->suppressed++)
		t->first_sup_ms = now;
	t->last_sup_ms = now;
	return false;
}

/* A sandbox's event: whose, and may it be written now (the refusals' or the
 * audited accesses' budget)? */
static const char *admit_as(struct kaudit *k, uint32_t uid, bool audited, uint64_t now)
{
	struct bucket *b;
	const char *user;
	uint32_t slot;
	bool ok;

	if (uid < k->base)
		return NULL;
	slot = (uid - k->base) / RANGE_SIZE;
	user = k->lookup(k->userdata, slot);
	if (!user)
		return NULL; /* not one of our running sandboxes */
	b = bucket_for(k, slot, user, now);
	if (!b)
		return NULL;
	if (now > b->last_ms)
		b->last_ms = now;
	if (audited)
		ok = take_token(&b->audited, KAUDIT_AUDITED_BURST, KAUDIT_AUDITED_RATE, now);
	else
		ok = take_token(&b->denied, KAUDIT_BURST, KAUDIT_RATE, now);
	return ok ? b->user : NULL;
}

static const char *admit(struct kaudit *k, uint32_t uid, uint64_t now)
{
	return admit_as(k, uid, false, now);
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
	f = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "syscall", name ? name : "unknown", "syscall_nr",
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

/* The directory fd argument the syscall's first name is relative to. */
static bool name_dirfd(const struct kaudit_record *r, uint32_t *fd)
{
	switch (r->syscall) {
	case SYS_openat:
	case SYS_openat2:
	case SYS_execveat:
	case SYS_mkdirat:
	case SYS_mknodat:
	case SYS_fchownat:
	case SYS_unlinkat:
	case SYS_renameat:
	case SYS_renameat2:
	case SYS_linkat:
	case SYS_fchmodat:
	case SYS_readlinkat:
		*fd = (uint32_t)r->a0;
		return true;
	case SYS_symlinkat:
		*fd = (uint32_t)r->a1;
		return true;
	default:
		return false;
	}
}

/* The name as the process gave it, absolute when the kernel's CWD says
 * where it was; a name relative to a directory fd stays as it was given. */
static void event_path(const struct fsevent *e, const char *name, char *out, size_t size)
{
	uint32_t fd;

	if (!name[0])
		out[0] = 0;
	else if (name[0] == '/' || !e->cwd[0] || (name_dirfd(&e->sys, &fd) && fd != (uint32_t)AT_FDCWD))
		nbw_strlcpy(out, name, size);
	else
		nbw_snprintf(out, size, "%s%s%s", e->cwd, e->cwd[strlen(e->cwd) - 1] == '/' ? "" : "/", name);
}

/* ---- audited accesses (per-sandbox rules) ---- */

/* The kernel's read class (include/asm-generic/audit_read.h); 464/465 are
 * getxattrat/listxattrat (Linux 6.13). */
static bool is_read_class(int32_t nr)
{
	switch (nr) {
	case SYS_readlink:
	case SYS_readlinkat:
	case SYS_quotactl:
	case SYS_listxattr:
	case SYS_llistxattr:
	case SYS_flistxattr:
	case SYS_getxattr:
	case SYS_lgetxattr:
	case SYS_fgetxattr:
	case 464:
	case 465:
		return true;
	default:
		return false;
	}
}

static const char *open_access(uint64_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) ? "write" : "read";
}

static const char *file_access(const struct fsevent *e)
{
	switch (e->sys.syscall) {
	case SYS_open:
		return open_access(e->sys.a1);
	case SYS_openat:
		return open_access(e->sys.a2);
	case SYS_openat2:
		/* its flags are in a struct; the 1337 record shows them */
		return e->has_oflag ? open_access(e->oflag) : "read";
	default:
		/* the write and attribute classes change the file system */
		return is_read_class(e->sys.syscall) ? "read" : "write";
	}
}

/* socket(2) arguments → KAUDIT_NET_* (0: another protocol or family) */
static unsigned net_class(const struct kaudit_record *r)
{
	uint32_t type = (uint32_t)r->a1 & 0xf, proto = (uint32_t)r->a2;
	bool icmp = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;

	if ((uint32_t)r->a0 != AF_INET && (uint32_t)r->a0 != AF_INET6)
		return 0;
	if (type == SOCK_STREAM)
		return KAUDIT_NET_TCP;
	if (type == SOCK_DGRAM && !icmp)
		return KAUDIT_NET_UDP;
	if ((type == SOCK_DGRAM || type == SOCK_RAW) && icmp)
		return KAUDIT_NET_ICMP;
	return 0;
}

static const char *net_class_name(unsigned c)
{
	return c == KAUDIT_NET_TCP ? "tcp" : c == KAUDIT_NET_UDP ? "udp" : c == KAUDIT_NET_ICMP ? "icmp" : "other";
}

static const char *net_family(const struct kaudit_record *r)
{
	switch ((uint32_t)r->a0) {
	case AF_INET:
		return "inet";
	case AF_INET6:
		return "inet6";
	default:
		return "other";
	}
}

static int slot_cmp(const void *key, const void *elem)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct slot_rules *)elem)->slot;
	return a < b ? -1 : a > b;
}

static struct slot_rules *slot_find(const struct kaudit *k, uint32_t slot)
{
	if (!k->n_slots)
		return NULL;
	return bsearch(&slot, k->slots, k->n_slots, sizeof(*k->slots), slot_cmp);
}

static void audited_flush(struct kaudit *k, const struct fsevent *e, uint64_t now)
{
	const struct kaudit_record *r = &e->sys;
	bool exec = is_exec_syscall(r->syscall);
	const char *user = admit_as(k, r->uid, true, now);
	char path[sizeof(e->named) + sizeof(e->cwd) + 1];

	if (!user)
		return;
	event_path(e, e->has_named ? e->named : e->has_path ? e->path : "", path, sizeof(path));
	if (exec)
		emit(k, "sandbox.exec.audited", user, json_pack("{s:s, s:I}", "path", path, "pid", (json_int_t)r->pid));
	else
		emit(k, "sandbox.file.audited", user,
		     json_pack("{s:s, s:s, s:I}", "path", path, "access", file_access(e), "pid", (json_int_t)r->pid));
}

/* ---- refusals before Landlock (our audit rules) ---- */

static void fsevent_flush(struct kaudit *k, struct fsevent *e, uint64_t now)
{
	const struct kaudit_record *r = &e->sys;
	bool exec = is_exec_syscall(r->syscall);
	const char *user;
	char path[sizeof(e->path) + sizeof(e->cwd) + 1];
	char *name;
	json_t *f;

	e->used = false;
	if (e->audited) {
		audited_flush(k, e, now);
		return;
	}
	user = admit(k, r->uid, now);
	if (!user)
		return;
	event_path(e, e->has_path ? e->path : "", path, sizeof(path));
	name = seccomp_syscall_resolve_num_arch(AUDIT_ARCH_X86_64, r->syscall);
	f = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "path", path, "syscall", name ? name : "unknown", "pid",
		      (json_int_t)r->pid, "errno", (json_int_t)-r->exit, "error", errno_name(-r->exit), "exe", r->exe);
	free(name);
	emit(k, exec ? "sandbox.exec.denied" : "sandbox.write.denied", user, f);
}

static void fsevent_start(struct kaudit *k, const struct kaudit_record *r, bool audited, uint64_t now)
{
	struct fsevent *slot = NULL, *oldest = NULL;

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
	slot->audited = audited;
	slot->at_ms = now;
	slot->sys = *r;
}

static void network_emit(struct kaudit *k, const struct kaudit_record *r, bool audited, uint64_t now)
{
	const char *user = admit_as(k, r->uid, audited, now);

	if (!user)
		return;
	if (audited)
		emit(k, "sandbox.network.audited", user,
		     json_pack("{s:s, s:s, s:I}", "protocol", net_class_name(net_class(r)), "family", net_family(r),
			       "pid", (json_int_t)r->pid));
	else
		emit(k, "sandbox.network.denied", user,
		     json_pack("{s:s, s:s, s:I, s:s}", "protocol", net_class_name(net_class(r)), "family",
			       net_family(r), "pid", (json_int_t)r->pid, "error", errno_name(-r->exit)));
}

static void on_our_syscall(struct kaudit *k, const struct kaudit_record *r, uint64_t now)
{
	if (!r->failed || r->arch != AUDIT_ARCH_X86_64)
		return;
	if (r->syscall == SYS_socket) {
		/* no PATH records to wait for */
		if (r->exit == -EACCES || r->exit == -EPERM)
			network_emit(k, r, false, now);
		return;
	}
	if (r->exit != -EACCES && r->exit != -EPERM && r->exit != -EROFS)
		return;
	if (!is_exec_syscall(r->syscall) && !is_write_syscall(r))
		return; /* e.g. a read-only open: not a write */
	fsevent_start(k, r, false, now);
}

/* A record of a sandbox's own audit rule: the key must be this reader's
 * (base) and name the slot the uid is in, and the slot must still have its
 * rules here (records in flight after kaudit_sandbox_remove are dropped). */
static void on_audited_syscall(struct kaudit *k, const struct kaudit_record *r, uint64_t now)
{
	const struct slot_rules *sr;

	if (r->failed || r->arch != AUDIT_ARCH_X86_64 || r->key_base != k->base || r->uid < k->base ||
	    (r->uid - k->base) / RANGE_SIZE != r->key_slot)
		return;
	sr = slot_find(k, r->key_slot);
	if (!sr)
		return;
	if (r->syscall == SYS_socket) {
		/* the kernel rules are coarser than the protocols asked for */
		if (sr->net & net_class(r))
			network_emit(k, r, true, now);
		return;
	}
	fsevent_start(k, r, true, now);
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
		if (e && !e->audited)
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
		else if (!landlock && r->audited)
			on_audited_syscall(k, r, now);
		break;
	}
	case KAUDIT_PATH: {
		struct fsevent *e = fsevent_find(k, r->serial);
		/* The first named item is the syscall's first path argument;
		 * for a created or removed name it is its PARENT directory,
		 * the name itself comes next. */
		if (e && !e->has_path && r->path[0]) {
			nbw_strlcpy(e->path, r->path, sizeof(e->path));
			e->has_path = true;
		}
		if (e && !e->has_named && r->path[0] && strcmp(r->nametype, "PARENT") != 0) {
			nbw_strlcpy(e->named, r->path, sizeof(e->named));
			e->has_named = true;
		}
		break;
	}
	case KAUDIT_OPENAT2: {
		struct fsevent *e = fsevent_find(k, r->serial);
		if (e && r->has_oflag) {
			e->oflag = r->oflag;
			e->has_oflag = true;
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

static void summary_tick(struct kaudit *k, const char *user, struct tokens *t, const char *event, uint64_t now)
{
	if (!t->suppressed)
		return;
	if (now >= t->last_sup_ms + SUMMARY_QUIET_MS || now >= t->first_sup_ms + SUMMARY_EVERY_MS) {
		emit(k, event, user,
		     json_pack("{s:I, s:I}", "count", (json_int_t)t->suppressed, "seconds",
			       (json_int_t)((t->last_sup_ms - t->first_sup_ms) / 1000)));
		t->suppressed = 0;
	}
}

static uint64_t summary_due(const struct tokens *t, uint64_t due)
{
	if (!t->suppressed)
		return due;
	if (t->last_sup_ms + SUMMARY_QUIET_MS < due)
		due = t->last_sup_ms + SUMMARY_QUIET_MS;
	if (t->first_sup_ms + SUMMARY_EVERY_MS < due)
		due = t->first_sup_ms + SUMMARY_EVERY_MS;
	return due;
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
		if (!b->used)
			continue;
		summary_tick(k, b->user, &b->denied, "sandbox.denials.suppressed", now);
		summary_tick(k, b->user, &b->audited, "sandbox.audited.suppressed", now);
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
		if (!b->used)
			continue;
		due = summary_due(&b->denied, due);
		due = summary_due(&b->audited, due);
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
 * read-only mount, DAC refusals, sockets refused inside the kernel) leave no
 * record by themselves: exit-filter rules make the kernel write SYSCALL+PATH
 * records for them, only for the sandboxes' uids, marked with our key. */

enum { RULE_EXEC, RULE_WRITE, RULE_OPEN, RULE_OPENAT, RULE_SOCKET };

/* A request: nlmsghdr, audit_rule_data and its strings (a watched path, the
 * key) in one buffer (audit_rule_data ends in a flexible array). */
#define RULE_STRINGS_MAX (PATH_MAX + AUDIT_MAX_KEY_LEN)
struct rule_msg {
	_Alignas(8) char raw[NLMSG_HDRLEN + sizeof(struct audit_rule_data) + RULE_STRINGS_MAX];
};
#define RM_H(m) ((struct nlmsghdr *)(void *)(m)->raw)
#define RM_D(m) ((struct audit_rule_data *)(void *)((m)->raw + NLMSG_HDRLEN))

/* NLMSG_OK with a signed length (audit records' nlmsg_len is not padded:
 * the length left may go negative after the last one). */
static bool nlmsg_ok(const struct nlmsghdr *h, int left)
{
	return left >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) && (int64_t)h->nlmsg_len <= left;
}

static void rule_start(struct rule_msg *m, uint32_t action)
{
	memset(m, 0, sizeof(*m));
	RM_D(m)->flags = AUDIT_FILTER_EXIT;
	RM_D(m)->action = action;
}

static void rule_field(struct audit_rule_data *d, uint32_t field, uint32_t op, uint32_t value)
{
	d->fields[d->field_count] = field;
	d->fieldflags[d->field_count] = op;
	d->values[d->field_count] = value;
	d->field_count++;
}

/* A string field: its length in values[], its bytes appended to buf (the
 * callers' strings are bounded: a path < PATH_MAX, a key < 64). */
static void rule_string(struct rule_msg *m, uint32_t field, const char *str)
{
	size_t n = strlen(str);

	struct audit_rule_data *d = RM_D(m);

	rule_field(d, field, AUDIT_EQUAL, (uint32_t)n);
	memcpy(d->buf + d->buflen, str, n);
	d->buflen += (uint32_t)n;
}

static size_t rule_finish(struct rule_msg *m, uint16_t type)
{
	size_t len = NLMSG_LENGTH(sizeof(struct audit_rule_data) + RM_D(m)->buflen);

	RM_H(m)->nlmsg_len = (uint32_t)len;
	RM_H(m)->nlmsg_type = type;
	RM_H(m)->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	return len;
}

static void rule_syscall(struct audit_rule_data *d, int nr)
{
	d->mask[nr / 32] |= 1u << (nr % 32);
}

static size_t rule_build(struct rule_msg *m, uint16_t type, uint32_t base, int kind, int err, uint32_t arg)
{
	struct audit_rule_data *d = RM_D(m);

	rule_start(m, AUDIT_ALWAYS);
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
	case RULE_OPENAT:
		rule_syscall(d, SYS_openat);
		break;
	default:
		rule_syscall(d, SYS_socket);
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
	else if (kind == RULE_SOCKET)
		rule_field(d, AUDIT_ARG0, AUDIT_EQUAL, arg); /* the domain */
	rule_string(m, AUDIT_FILTERKEY, KAUDIT_KEY);
	return rule_finish(m, type);
}

static int audit_socket(void)
{
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
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
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
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
	uint32_t arg;
} rule_set[] = {
	{ RULE_EXEC, EACCES, 0 },    { RULE_EXEC, EPERM, 0 },      { RULE_WRITE, EROFS, 0 },
	{ RULE_WRITE, EACCES, 0 },   { RULE_WRITE, EPERM, 0 },     { RULE_OPEN, EROFS, 0 },
	{ RULE_OPEN, EACCES, 0 },    { RULE_OPEN, EPERM, 0 },      { RULE_OPENAT, EROFS, 0 },
	{ RULE_OPENAT, EACCES, 0 },  { RULE_OPENAT, EPERM, 0 },    { RULE_SOCKET, EACCES, AF_INET },
	{ RULE_SOCKET, EACCES, AF_INET6 }, { RULE_SOCKET, EPERM, AF_INET }, { RULE_SOCKET, EPERM, AF_INET6 },
};

/* Add (or delete) our rules; deleting ignores rules that are not there. */
static int rules_apply(uint32_t base, bool add)
{
	_cleanup_close_ int fd = audit_socket();
	struct rule_msg m;
	int ret = 0;

	if (fd < 0)
		return fd;
	for (size_t i = 0; i < sizeof(rule_set) / sizeof(rule_set[0]); i++) {
		size_t len = rule_build(&m, add ? AUDIT_ADD_RULE : AUDIT_DEL_RULE, base, rule_set[i].kind,
					rule_set[i].err, rule_set[i].arg);
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

/* ---- per-sandbox rules ---- */

#define LIST_BUF (sizeof(struct rule_msg) + 4096)
#define LIST_MESSAGES_MAX 65536

static bool is_string_field(uint32_t f)
{
	switch (f) {
	case AUDIT_SUBJ_USER:
	case AUDIT_SUBJ_ROLE:
	case AUDIT_SUBJ_TYPE:
	case AUDIT_SUBJ_SEN:
	case AUDIT_SUBJ_CLR:
	case AUDIT_OBJ_USER:
	case AUDIT_OBJ_ROLE:
	case AUDIT_OBJ_TYPE:
	case AUDIT_OBJ_LEV_LOW:
	case AUDIT_OBJ_LEV_HIGH:
	case AUDIT_WATCH:
	case AUDIT_DIR:
	case AUDIT_FILTERKEY:
	case AUDIT_EXE:
		return true;
	default:
		return false;
	}
}

/* Does a listed rule (the kernel's audit_rule_data, len bytes) carry the key
 * (prefix: a key that starts with it)? */
static bool rule_has_key(const void *data, size_t len, const char *key, bool prefix)
{
	const struct audit_rule_data *d = data;
	size_t kn = strlen(key), off = 0;

	if (len < sizeof(*d) || d->field_count > AUDIT_MAX_FIELDS || d->buflen > len - sizeof(*d))
		return false;
	for (uint32_t i = 0; i < d->field_count; i++) {
		uint32_t n = d->values[i];
		if (!is_string_field(d->fields[i]))
			continue;
		if (n > d->buflen - off)
			return false;
		if (d->fields[i] == AUDIT_FILTERKEY && (prefix ? n >= kn : n == kn) &&
		    !memcmp((const char *)d->buf + off, key, kn))
			return true;
		off += n;
	}
	return false;
}

/* Delete every rule whose key is key (prefix: starts with key), as listed by
 * AUDIT_LIST_RULES (a snapshot the kernel sends from a thread of its own;
 * the deletions go through a second socket meanwhile). Number deleted or
 * -errno. */
static int rules_delete_keyed(const char *key, bool prefix)
{
	_cleanup_close_ int lfd = audit_socket(), dfd = audit_socket();
	_cleanup_free_ char *buf = malloc(LIST_BUF);
	_cleanup_free_ struct rule_msg *del = malloc(sizeof(*del));
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr req = { .nlmsg_len = NLMSG_LENGTH(0), .nlmsg_type = AUDIT_LIST_RULES,
				.nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 };
	uint32_t seq = 100;
	int deleted = 0, ret = 0;

	if (lfd < 0)
		return lfd;
	if (dfd < 0)
		return dfd;
	if (!buf || !del)
		return -ENOMEM;
	if (sendto(lfd, &req, req.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (int i = 0; i < LIST_MESSAGES_MAX; i++) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(lfd, buf, LIST_BUF, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		int left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if ((size_t)n > LIST_BUF || from.nl_pid != 0)
			continue; /* longer than any rule of ours, or not the kernel */
		left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nlmsg_ok(h, left); h = NLMSG_NEXT(h, left)) {
			size_t plen = h->nlmsg_len - NLMSG_HDRLEN;
			if (h->nlmsg_seq != req.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return ret < 0 ? ret : deleted;
			if (h->nlmsg_type == NLMSG_ERROR && plen >= sizeof(struct nlmsgerr)) {
				int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				if (e < 0)
					return e;
				continue;
			}
			if (h->nlmsg_type != AUDIT_LIST_RULES ||
			    plen > sizeof(struct audit_rule_data) + RULE_STRINGS_MAX ||
			    !rule_has_key(NLMSG_DATA(h), plen, key, prefix))
				continue;
			/* The listed rule, sent back, is the rule itself (what auditctl -D does). */
			memset(RM_H(del), 0, NLMSG_HDRLEN);
			memcpy(RM_D(del), NLMSG_DATA(h), plen);
			RM_H(del)->nlmsg_len = (uint32_t)NLMSG_LENGTH(plen);
			RM_H(del)->nlmsg_type = AUDIT_DEL_RULE;
			RM_H(del)->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			int r = audit_request(dfd, del, RM_H(del)->nlmsg_len, seq++);
			if (r == 0)
				deleted++;
			else if (r != -ENOENT && ret == 0)
				ret = r;
		}
	}
	return -E2BIG;
}

static void slot_key(uint32_t base, uint32_t slot, char *key, size_t size)
{
	nbw_snprintf(key, size, KAUDIT_KEY_AUDIT_PREFIX "%" PRIu32 "-%" PRIu32, base, slot);
}

static void base_key_prefix(uint32_t base, char *key, size_t size)
{
	nbw_snprintf(key, size, KAUDIT_KEY_AUDIT_PREFIX "%" PRIu32 "-", base);
}

/* The slot's host uids: [lo, hi). (uid_t)-1 and -2 stay out: the kernel
 * refuses the first in a rule, and -2 bounds the global rules the same way. */
static int slot_range(uint32_t base, uint32_t slot, uint32_t *lo, uint32_t *hi)
{
	uint64_t l = (uint64_t)base + (uint64_t)slot * RANGE_SIZE, h = l + RANGE_SIZE;

	if (l >= UINT32_MAX - 1)
		return -ERANGE;
	*lo = (uint32_t)l;
	*hi = h > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)h;
	return 0;
}

static size_t net_rule_count(unsigned net)
{
	return (net & KAUDIT_NET_TCP ? 2 : 0) + (net & KAUDIT_NET_UDP ? 2 : 0) + (net & KAUDIT_NET_ICMP ? 4 : 0);
}

static uint32_t watch_perm(enum kaudit_watch_kind kind)
{
	switch (kind) {
	case KAUDIT_WATCH_EXEC:
		return AUDIT_PERM_EXEC;
	case KAUDIT_WATCH_READ:
		return AUDIT_PERM_READ;
	case KAUDIT_WATCH_WRITE:
		return AUDIT_PERM_WRITE | AUDIT_PERM_ATTR;
	case KAUDIT_WATCH_ACCESS:
		return AUDIT_PERM_READ | AUDIT_PERM_WRITE | AUDIT_PERM_ATTR;
	default:
		return 0;
	}
}

/* The checks the kernel makes (audit_to_watch, audit_make_tree, the path
 * lookups of audit_add_watch/audit_add_tree_rule), done first so that the
 * error names the path, plus ours: normalised, no control characters, no
 * symbolic link as the last component (the kernel would watch the link). */
static int watch_check(const struct kaudit_watch *w, size_t i, char *err, size_t size)
{
	struct stat st;
	size_t n;

	if (w->kind < KAUDIT_WATCH_EXEC || w->kind > KAUDIT_WATCH_ACCESS) {
		nbw_snprintf(err, size, "watch %zu: unknown kind %d", i, (int)w->kind);
		return -EINVAL;
	}
	if (!w->path || w->path[0] != '/') {
		nbw_snprintf(err, size, "watch %zu: the path must be absolute", i);
		return -EINVAL;
	}
	n = strlen(w->path);
	if (n >= PATH_MAX) {
		nbw_snprintf(err, size, "watch %zu: the path is longer than %d bytes", i, PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	for (size_t j = 0; j < n; j++)
		if ((unsigned char)w->path[j] < 0x20 || w->path[j] == 0x7f) {
			nbw_snprintf(err, size, "watch %zu: the path contains a control character", i);
			return -EINVAL;
		}
	if (strstr(w->path, "//") || strstr(w->path, "/./") || strstr(w->path, "/../") ||
	    (n >= 2 && !strcmp(w->path + n - 2, "/.")) || (n >= 3 && !strcmp(w->path + n - 3, "/..")) ||
	    (n > 1 && w->path[n - 1] == '/')) {
		nbw_snprintf(err, size,
			     "watch %zu (%s): the path must be normalised (no //, . or .. components, no trailing /)",
			     i, w->path);
		return -EINVAL;
	}
	if (!w->tree && n == 1) {
		nbw_snprintf(err, size, "watch %zu (/): a single-path watch cannot be /; use a tree", i);
		return -EINVAL;
	}
	if (lstat(w->path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			nbw_snprintf(err, size,
				     "watch %zu (%s): is a symbolic link (the kernel would watch the link, not its "
				     "target); name the target",
				     i, w->path);
			return -ELOOP;
		}
		if (w->tree && !S_ISDIR(st.st_mode)) {
			nbw_snprintf(err, size,
				     "watch %zu (%s): a tree watch needs a directory; watch one file with tree off", i,
				     w->path);
			return -ENOTDIR;
		}
		return 0;
	}
	if (errno != ENOENT || w->tree) {
		int e = errno;
		nbw_snprintf(err, size, "watch %zu (%s): %s", i, w->path,
			     e == ENOENT ? "does not exist (a tree watch needs an existing directory)" : strerror(e));
		return -e;
	}
	/* A single path may appear later; the kernel watches its name in the
	 * parent directory, which must exist. */
	char parent[PATH_MAX];
	nbw_strlcpy(parent, w->path, sizeof(parent));
	*strrchr(parent, '/') = 0;
	if (stat(parent[0] ? parent : "/", &st) < 0 || !S_ISDIR(st.st_mode)) {
		nbw_snprintf(err, size, "watch %zu (%s): its parent directory %s does not exist", i, w->path,
			     parent[0] ? parent : "/");
		return -ENOENT;
	}
	return 0;
}

/* The fields every rule of the slot starts with. */
static void slot_rule_start(struct rule_msg *m, uint32_t action, uint32_t lo, uint32_t hi)
{
	rule_start(m, action);
	rule_field(RM_D(m), AUDIT_ARCH, AUDIT_EQUAL, AUDIT_ARCH_X86_64);
	rule_field(RM_D(m), AUDIT_UID, AUDIT_GREATER_THAN_OR_EQUAL, lo);
	rule_field(RM_D(m), AUDIT_UID, AUDIT_LESS_THAN, hi);
	/* Never a failed call: refusals are the global rules' records. */
	rule_field(RM_D(m), AUDIT_SUCCESS, AUDIT_EQUAL, 1);
}

static size_t watch_rule(struct rule_msg *m, const struct kaudit_watch *w, uint32_t lo, uint32_t hi, const char *key)
{
	slot_rule_start(m, w->never ? AUDIT_NEVER : AUDIT_ALWAYS, lo, hi);
	/* Every syscall, as auditctl -w: the permission field picks them. */
	for (size_t i = 0; i < AUDIT_BITMASK_SIZE; i++)
		RM_D(m)->mask[i] = ~0u;
	rule_field(RM_D(m), AUDIT_PERM, AUDIT_EQUAL, watch_perm(w->kind));
	rule_string(m, w->tree ? AUDIT_DIR : AUDIT_WATCH, w->path);
	rule_string(m, AUDIT_FILTERKEY, key);
	return rule_finish(m, AUDIT_ADD_RULE);
}

/* One add: 0, or -errno with err naming the rule. */
static int slot_rule_add(int fd, struct rule_msg *m, size_t len, uint32_t *seq, const char *what, char *err,
			 size_t size)
{
	int r = audit_request(fd, m, len, (*seq)++);

	if (r == -EEXIST)
		return 0; /* the same rule twice (same key): it is in */
	if (r < 0)
		nbw_snprintf(err, size, "%s: the kernel refused the audit rule: %s", what,
			     r == -ENOENT ? "the path or its parent directory does not exist" : strerror(-r));
	return r;
}

static int slot_rules_add(uint32_t lo, uint32_t hi, const char *key, const struct kaudit_sandbox_rules *r, char *err,
			  size_t size)
{
	_cleanup_close_ int fd = audit_socket();
	_cleanup_free_ struct rule_msg *m = malloc(sizeof(*m));
	uint32_t seq = 1000;
	char what[PATH_MAX + 32];
	int ret;

	if (fd < 0) {
		nbw_snprintf(err, size, "cannot open NETLINK_AUDIT: %s", strerror(-fd));
		return fd;
	}
	if (!m)
		return -ENOMEM;
	/* Exceptions first: the kernel takes the first rule that matches. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n_watches; i++) {
			const struct kaudit_watch *w = &r->watches[i];
			if (w->never != (pass == 0))
				continue;
			nbw_snprintf(what, sizeof(what), "watch %zu (%s)", i, w->path);
			ret = slot_rule_add(fd, m, watch_rule(m, w, lo, hi, key), &seq, what, err, size);
			if (ret < 0)
				return ret;
		}
	if (r->all_exec) {
		slot_rule_start(m, AUDIT_ALWAYS, lo, hi);
		rule_syscall(RM_D(m), SYS_execve);
		rule_syscall(RM_D(m), SYS_execveat);
		rule_string(m, AUDIT_FILTERKEY, key);
		ret = slot_rule_add(fd, m, rule_finish(m, AUDIT_ADD_RULE), &seq, "all_exec", err, size);
		if (ret < 0)
			return ret;
	}
	if (r->all_read) {
		slot_rule_start(m, AUDIT_ALWAYS, lo, hi);
		rule_syscall(RM_D(m), SYS_open);
		rule_syscall(RM_D(m), SYS_openat);
		rule_syscall(RM_D(m), SYS_openat2);
		/* the open's access mode includes reading (the kernel's ACC_MODE) */
		rule_field(RM_D(m), AUDIT_PERM, AUDIT_EQUAL, AUDIT_PERM_READ);
		rule_string(m, AUDIT_FILTERKEY, key);
		ret = slot_rule_add(fd, m, rule_finish(m, AUDIT_ADD_RULE), &seq, "all_read", err, size);
		if (ret < 0)
			return ret;
	}
	/* socket(domain, type, protocol): tcp = the SOCK_STREAM bit; udp = the
	 * SOCK_DGRAM bit, not ICMP; icmp = the SOCK_DGRAM bit (DGRAM or RAW),
	 * protocol 1 or 58. The type bits also match rarer types (RAW,
	 * SEQPACKET): the reader keeps only the protocols asked for. */
	static const struct {
		unsigned net;
		uint32_t type_bit, proto;
		bool proto_is;
	} net_rules[] = {
		{ KAUDIT_NET_TCP, SOCK_STREAM, 0, false },
		{ KAUDIT_NET_UDP, SOCK_DGRAM, 0, false },
		{ KAUDIT_NET_ICMP, SOCK_DGRAM, IPPROTO_ICMP, true },
		{ KAUDIT_NET_ICMP, SOCK_DGRAM, IPPROTO_ICMPV6, true },
	};
	static const uint32_t families[] = { AF_INET, AF_INET6 };
	for (size_t i = 0; i < ARRAY_SIZE(net_rules); i++)
		for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
			if (!(r->net & net_rules[i].net))
				continue;
			slot_rule_start(m, AUDIT_ALWAYS, lo, hi);
			rule_syscall(RM_D(m), SYS_socket);
			rule_field(RM_D(m), AUDIT_ARG0, AUDIT_EQUAL, families[f]);
			rule_field(RM_D(m), AUDIT_ARG0 + 1, AUDIT_BIT_TEST, net_rules[i].type_bit);
			if (net_rules[i].proto_is) {
				rule_field(RM_D(m), AUDIT_ARG0 + 2, AUDIT_EQUAL, net_rules[i].proto);
			} else if (net_rules[i].net == KAUDIT_NET_UDP) {
				rule_field(RM_D(m), AUDIT_ARG0 + 2, AUDIT_NOT_EQUAL, IPPROTO_ICMP);
				rule_field(RM_D(m), AUDIT_ARG0 + 2, AUDIT_NOT_EQUAL, IPPROTO_ICMPV6);
			}
			rule_string(m, AUDIT_FILTERKEY, key);
			nbw_snprintf(what, sizeof(what), "net %s (%s)", net_class_name(net_rules[i].net),
				     families[f] == AF_INET ? "inet" : "inet6");
			ret = slot_rule_add(fd, m, rule_finish(m, AUDIT_ADD_RULE), &seq, what, err, size);
			if (ret < 0)
				return ret;
		}
	return 0;
}

static int slot_insert(struct kaudit *k, uint32_t slot, uint32_t n_rules, unsigned net)
{
	size_t i;

	if (k->n_slots == k->slots_cap) {
		size_t cap = k->slots_cap ? k->slots_cap * 2 : 16;
		struct slot_rules *p = reallocarray(k->slots, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		k->slots = p;
		k->slots_cap = cap;
	}
	for (i = 0; i < k->n_slots && k->slots[i].slot < slot; i++)
		;
	memmove(&k->slots[i + 1], &k->slots[i], (k->n_slots - i) * sizeof(*k->slots));
	k->slots[i] = (struct slot_rules){ .slot = slot, .n_rules = n_rules, .net = net };
	k->n_slots++;
	k->n_rules += n_rules;
	return 0;
}

static void slot_erase(struct kaudit *k, struct slot_rules *sr)
{
	size_t i = (size_t)(sr - k->slots);

	k->n_rules -= sr->n_rules;
	memmove(&k->slots[i], &k->slots[i + 1], (k->n_slots - i - 1) * sizeof(*k->slots));
	k->n_slots--;
}

int kaudit_sandbox_remove(struct kaudit *k, uint32_t slot)
{
	struct slot_rules *sr = k ? slot_find(k, slot) : NULL;
	char key[64];
	int r;

	if (!sr)
		return 0;
	if (sr->n_rules) {
		slot_key(k->base, slot, key, sizeof(key));
		r = rules_delete_keyed(key, false);
		if (r < 0)
			return r;
	}
	slot_erase(k, sr);
	return 0;
}

int kaudit_sandbox_expect(struct kaudit *k, uint32_t slot, unsigned net)
{
	struct slot_rules *sr = slot_find(k, slot);

	if (net & ~KAUDIT_NET_ALL)
		return -EINVAL;
	if (sr) {
		sr->net = net;
		return 0;
	}
	return slot_insert(k, slot, 0, net);
}

size_t kaudit_sandbox_rule_count(const struct kaudit *k, uint32_t slot)
{
	const struct slot_rules *sr = k ? slot_find(k, slot) : NULL;

	return sr ? sr->n_rules : 0;
}

int kaudit_sandbox_add(struct kaudit *k, uint32_t slot, const struct kaudit_sandbox_rules *r, char *err,
		       size_t err_size)
{
	char key[64], ignored[8];
	uint32_t lo, hi;
	size_t n;
	int ret, undo;

	if (!err || !err_size) {
		err = ignored;
		err_size = sizeof(ignored);
	}
	err[0] = 0;
	if (!k || !r) {
		nbw_snprintf(err, err_size, "no rules");
		return -EINVAL;
	}
	if (slot_range(k->base, slot, &lo, &hi) < 0) {
		nbw_snprintf(err, err_size, "slot %" PRIu32 " is beyond the host uid range (base %" PRIu32 ")", slot,
			     k->base);
		return -ERANGE;
	}
	if (r->net & ~KAUDIT_NET_ALL) {
		nbw_snprintf(err, err_size, "net: unknown protocol bits 0x%x", r->net & ~KAUDIT_NET_ALL);
		return -EINVAL;
	}
	if (r->n_watches && !r->watches) {
		nbw_snprintf(err, err_size, "%zu watches but no array", r->n_watches);
		return -EINVAL;
	}
	if (r->n_watches > KAUDIT_SANDBOX_RULES_MAX ||
	    (n = r->n_watches + r->all_exec + r->all_read + net_rule_count(r->net)) > KAUDIT_SANDBOX_RULES_MAX) {
		nbw_snprintf(err, err_size, "too many audit rules for one sandbox (%zu watches; at most %d rules)",
			     r->n_watches, KAUDIT_SANDBOX_RULES_MAX);
		return -E2BIG;
	}
	for (size_t i = 0; i < r->n_watches; i++) {
		ret = watch_check(&r->watches[i], i, err, err_size);
		if (ret < 0)
			return ret;
	}
	/* Replace what the slot had. */
	ret = kaudit_sandbox_remove(k, slot);
	if (ret < 0) {
		nbw_snprintf(err, err_size, "cannot remove the slot's earlier audit rules: %s", strerror(-ret));
		return ret;
	}
	if (n == 0)
		return 0;
	if (k->n_rules + n > KAUDIT_RULES_MAX) {
		nbw_snprintf(err, err_size, "the sandboxes' audit rules would exceed %d in all (%zu in use, %zu more)",
			     KAUDIT_RULES_MAX, k->n_rules, n);
		return -ENOSPC;
	}
	/* Known before the first add, so that a failed rollback is retried by
	 * kaudit_sandbox_remove / kaudit_free. */
	ret = slot_insert(k, slot, (uint32_t)n, r->net);
	if (ret < 0) {
		nbw_snprintf(err, err_size, "out of memory");
		return ret;
	}
	slot_key(k->base, slot, key, sizeof(key));
	ret = slot_rules_add(lo, hi, key, r, err, err_size);
	if (ret < 0) {
		undo = rules_delete_keyed(key, false);
		if (undo >= 0)
			slot_erase(k, slot_find(k, slot));
		else
			log_warn_errno(undo, "Cannot remove the audit rules (key %s) of a failed add", key);
	}
	return ret;
}

int kaudit_open(struct kaudit *k)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = AUDIT_NLGRP_READLOG };
	char prefix[64];
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
	/* Stale rules of an earlier run with the same range (a crash) go first:
	 * its sandboxes are gone (servers_cleanup_leftovers), so are their rules. */
	(void)rules_apply(k->base, false);
	base_key_prefix(k->base, prefix, sizeof(prefix));
	r = rules_delete_keyed(prefix, true);
	if (r > 0)
		log_info("Removed %d per-sandbox kernel audit rules (key %s*) left by an earlier run", r, prefix);
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
		 * the last one, and nlmsg_ok sees it signed. */
		int left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nlmsg_ok(h, left); h = NLMSG_NEXT(h, left)) {
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
	if (k->n_rules) {
		char prefix[64];
		base_key_prefix(k->base, prefix, sizeof(prefix));
		int r = rules_delete_keyed(prefix, true);
		if (r < 0)
			log_warn_errno(r, "Cannot remove the sandboxes' kernel audit rules (key %s*)", prefix);
	}
	free(k->slots);
	if (k->enabled_audit && audit_set_enabled(0) == 0)
		log_info("Kernel audit turned off again (it was off when nbwarden started)");
	free(k);
}
