/* kaudit: parsing of kernel audit records (captured on this kernel, 6.18) and
 * their mapping to sandbox events, with the per-sandbox rate limit. */
#include "test.h"

#include "common/common.h"
#include "monitor/kaudit.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE 1000000u
#define SLOT_UID(slot, uid) (BASE + (slot) * 65536u + (uid))

static const char seccomp_rec[] =
    "audit(1795451039.949:2): auid=4294967295 uid=1197608 gid=1197608 ses=4294967295 pid=9067 comm=\"python3\" "
    "exe=\"/usr/bin/python3.11\" sig=0 arch=c000003e syscall=250 compat=0 ip=0x7fc3550f2829 code=0x50000";

/* ---- parser ---- */

static void test_parse_seccomp(void **state)
{
	struct kaudit_record r;

	assert_int_equal(kaudit_parse(1326, seccomp_rec, strlen(seccomp_rec), &r), 0);
	assert_int_equal(r.serial, 2);
	assert_int_equal(r.time_ms, 1795451039949ull);
	assert_true(r.has_uid && r.has_pid);
	assert_int_equal(r.uid, 1197608);
	assert_int_equal(r.pid, 9067);
	assert_int_equal(r.arch, 0xc000003e);
	assert_int_equal(r.syscall, 250);
	assert_int_equal(r.code, 0x50000);
	assert_string_equal(r.comm, "python3");
	assert_string_equal(r.exe, "/usr/bin/python3.11");
	/* auid/ppid are other keys, not uid/pid */
	const char t[] = "audit(1.000:9): auid=5 ppid=6 uid=7 pid=8 arch=c000003e syscall=1";
	assert_int_equal(kaudit_parse(1326, t, strlen(t), &r), 0);
	assert_int_equal(r.uid, 7);
	assert_int_equal(r.pid, 8);
	/* with the kernel's trailing NUL counted in the payload */
	assert_int_equal(kaudit_parse(1326, t, sizeof(t), &r), 0);
}

static void test_parse_hostile_comm(void **state)
{
	struct kaudit_record r;
	char rec[8192];
	/* prctl(PR_SET_NAME, "\e[31mevil\n") and an exe with a space: the kernel hex-encodes both. */
	nbw_snprintf(rec, sizeof(rec),
		     "audit(1795451039.949:3): auid=1 uid=5 gid=5 ses=1 pid=10 comm=1B5B33316D6576696C0A "
		     "exe=2F746D702F6120622F787878 sig=0 arch=c000003e syscall=250 compat=0 ip=0x1 code=0x50000");
	assert_int_equal(kaudit_parse(1326, rec, strlen(rec), &r), 0);
	assert_string_equal(r.comm, "\\x1b[31mevil\\x0a");
	assert_string_equal(r.exe, "/tmp/a b/xxx");
	/* A quoted value keeps backslashes harmless (escaped). */
	nbw_snprintf(rec, sizeof(rec), "audit(1.001:4): uid=5 pid=10 comm=\"a\\b\" syscall=1 arch=c000003e");
	assert_int_equal(kaudit_parse(1326, rec, strlen(rec), &r), 0);
	assert_string_equal(r.comm, "a\\x5cb");
	/* Too long: truncated, never overflowing. */
	char longv[1500];
	memset(longv, 'A', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = 0;
	nbw_snprintf(rec, sizeof(rec), "audit(1.001:4): uid=5 pid=10 comm=\"%s\" exe=%s syscall=1", longv, longv);
	assert_int_equal(kaudit_parse(1326, rec, strlen(rec), &r), 0);
	assert_int_equal(strlen(r.comm), sizeof(r.comm) - 1);
	assert_true(strlen(r.exe) < sizeof(r.exe));
	/* All-0xff hex: four output bytes per input byte, still bounded. */
	char hexv[1201];
	for (size_t i = 0; i < 1200; i++)
		hexv[i] = 'F';
	hexv[1200] = 0;
	nbw_snprintf(rec, sizeof(rec), "audit(1.001:4): uid=5 pid=10 comm=%s syscall=1", hexv);
	assert_int_equal(kaudit_parse(1326, rec, strlen(rec), &r), 0);
	assert_true(strlen(r.comm) < sizeof(r.comm) && !strncmp(r.comm, "\\xff\\xff", 8));
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "audit(",
	    "audit(1.2:3)",
	    "audit(1795451039.949:2) uid=1 pid=2 syscall=3",
	    "audit(x.949:2): uid=1 pid=2 syscall=3",
	    "audit(1.9999:2): uid=1 pid=2 syscall=3",
	    "audit(99999999999999999999.1:2): uid=1 pid=2 syscall=3",
	    "audit(1.1:2): pid=2 syscall=3",          /* no uid */
	    "audit(1.1:2): uid=1 syscall=3",          /* no pid */
	    "audit(1.1:2): uid=1 pid=2",              /* no syscall */
	    "audit(1.1:2): uid=-1 pid=2 syscall=3",   /* not a number */
	    "audit(1.1:2): uid=4294967296 pid=2 syscall=3",
	    "audit(1.1:2): uid=1 pid=2147483648 syscall=3",
	};
	struct kaudit_record r;
	const char ok[] = "audit(1.1:2): uid=1 pid=2 syscall=3";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kaudit_parse(1326, bad[i], strlen(bad[i]), &r) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(kaudit_parse(1400, ok, strlen(ok), &r), -EOPNOTSUPP);
	/* Length is honoured: the same text cut before "syscall=3" is incomplete. */
	assert_int_equal(kaudit_parse(1326, ok, strlen(ok) - 10, &r), -EINVAL);
	assert_int_equal(kaudit_parse(1326, ok, strlen(ok), &r), 0);
}

/* ---- events ---- */

struct sink {
	json_t *events; /* [{event, user, fields}] */
	uint32_t slot;  /* the one running sandbox */
	const char *user;
};

static const char *lookup(void *ud, uint32_t slot)
{
	struct sink *s = ud;
	return slot == s->slot ? s->user : NULL;
}

static void emit(void *ud, const char *event, const char *user, json_t *fields)
{
	struct sink *s = ud;
	json_array_append_new(s->events, json_pack("{s:s, s:s, s:O}", "event", event, "user", user, "fields", fields));
}

static struct kaudit *reader(struct sink *s)
{
	struct kaudit *k = NULL;

	s->events = json_array();
	s->slot = 3;
	s->user = "carol";
	assert_int_equal(kaudit_new(BASE, lookup, emit, s, &k), 0);
	assert_int_equal(kaudit_fd(k), -1);
	return k;
}

static void feed(struct kaudit *k, uint16_t type, const char *text, uint64_t now)
{
	kaudit_feed(k, type, text, strlen(text), now);
}

static void feed_seccomp(struct kaudit *k, uint32_t uid, int pid, int nr, uint64_t now)
{
	char rec[512];
	nbw_snprintf(rec, sizeof(rec),
		     "audit(1795451039.949:%d): auid=4294967295 uid=%u gid=%u ses=4294967295 pid=%d comm=\"python3\" "
		     "exe=\"/usr/bin/python3.11\" sig=0 arch=c000003e syscall=%d compat=0 ip=0x7f code=0x50000",
		     pid, uid, uid, pid, nr);
	feed(k, 1326, rec, now);
}

static void test_seccomp_event(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	json_t *e, *f;

	feed_seccomp(k, SLOT_UID(3, 1000), 42, 250, 1000);      /* carol: keyctl */
	feed_seccomp(k, SLOT_UID(4, 1000), 43, 250, 1000);      /* slot 4: no server */
	feed_seccomp(k, BASE - 1, 44, 250, 1000);               /* below the ranges */
	feed_seccomp(k, SLOT_UID(3, 0), 45, 321, 1000);         /* carol's range, container root: bpf */
	assert_int_equal(json_array_size(s.events), 2);
	e = json_array_get(s.events, 0);
	f = json_object_get(e, "fields");
	assert_string_equal(json_string_value(json_object_get(e, "event")), "sandbox.syscall.denied");
	assert_string_equal(json_string_value(json_object_get(e, "user")), "carol");
	assert_string_equal(json_string_value(json_object_get(f, "syscall")), "keyctl");
	assert_int_equal(json_integer_value(json_object_get(f, "syscall_nr")), 250);
	assert_int_equal(json_integer_value(json_object_get(f, "pid")), 42);
	assert_string_equal(json_string_value(json_object_get(f, "exe")), "/usr/bin/python3.11");
	assert_string_equal(json_string_value(json_object_get(f, "arch")), "x86_64");
	assert_string_equal(json_string_value(json_object_get(f, "action")), "errno");
	f = json_object_get(json_array_get(s.events, 1), "fields");
	assert_string_equal(json_string_value(json_object_get(f, "syscall")), "bpf");
	/* i386 via int 0x80: named for its own ABI (i386 11 = execve) */
	feed(k, 1326, "audit(1.1:2): uid=1197608 pid=9 arch=40000003 syscall=11 compat=1 code=0x50000", 1000);
	f = json_object_get(json_array_get(s.events, 2), "fields");
	assert_string_equal(json_string_value(json_object_get(f, "syscall")), "execve");
	assert_string_equal(json_string_value(json_object_get(f, "arch")), "i386");
	json_decref(s.events);
	kaudit_free(k);
}

static void test_rate_limit(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	json_t *e;

	for (int i = 0; i < 1000; i++)
		feed_seccomp(k, SLOT_UID(3, 1000), 100 + i, 250, 5000);
	assert_int_equal(json_array_size(s.events), KAUDIT_BURST);
	/* the flood goes on for a moment; no summary while it lasts */
	feed_seccomp(k, SLOT_UID(3, 1000), 7, 250, 5100);
	kaudit_tick(k, 5900);
	assert_int_equal(json_array_size(s.events), KAUDIT_BURST);
	assert_int_equal(kaudit_next_tick_ms(k, 5900), 200);
	/* a second of quiet ends it: one summary with the count */
	kaudit_tick(k, 6100);
	assert_int_equal(json_array_size(s.events), KAUDIT_BURST + 1);
	e = json_array_get(s.events, KAUDIT_BURST);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "sandbox.denials.suppressed");
	assert_string_equal(json_string_value(json_object_get(e, "user")), "carol");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "fields"), "count")), 981);
	assert_int_equal(kaudit_next_tick_ms(k, 6100), -1);
	/* tokens come back at KAUDIT_RATE per second */
	for (int i = 0; i < 100; i++)
		feed_seccomp(k, SLOT_UID(3, 1000), 100 + i, 250, 7100);
	assert_int_equal(json_array_size(s.events), KAUDIT_BURST + 1 + KAUDIT_RATE * 2);
	/* a continuous flood still reports every 10 s */
	for (uint64_t t = 7100; t <= 18000; t += 100)
		feed_seccomp(k, SLOT_UID(3, 1000), 1, 250, t), kaudit_tick(k, t);
	size_t i, summaries = 0;
	json_array_foreach(s.events, i, e)
	{
		summaries += !strcmp(json_string_value(json_object_get(e, "event")), "sandbox.denials.suppressed");
	}
	assert_int_equal(summaries, 2);
	json_decref(s.events);
	kaudit_free(k);
}

/* Captured: a Landlock-restricted process (uid 1234567 here; carol's range
 * below) opening a file for writing, then executing /usr/bin/true. */
static void test_landlock(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	json_t *f;

	feed(k, 1423,
	     "audit(1795451491.861:134): domain=1da2d554c blockers=fs.write_file path=\"/tmp/ll_x\" dev=\"vda\" "
	     "ino=10952765",
	     100);
	feed(k, 1424,
	     "audit(1795451491.861:134): domain=1da2d554c status=allocated mode=enforcing pid=22242 uid=1197608 "
	     "exe=\"/usr/bin/python3.11\" comm=\"python3\"",
	     100);
	assert_int_equal(json_array_size(s.events), 0); /* waits for the event's syscall record */
	feed(k, 1300,
	     "audit(1795451491.861:134): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7fbd911d2300 "
	     "a2=80241 a3=1b6 items=0 ppid=22235 pid=22243 auid=4294967295 uid=1197608 gid=1197608 euid=1197608 "
	     "suid=1197608 fsuid=1197608 egid=1197608 sgid=1197608 fsgid=1197608 tty=(none) ses=4294967295 "
	     "comm=\"python3\" exe=\"/usr/bin/python3.11\" key=(null)",
	     101);
	assert_int_equal(json_array_size(s.events), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(s.events, 0), "event")),
			    "sandbox.write.denied");
	f = json_object_get(json_array_get(s.events, 0), "fields");
	assert_string_equal(json_string_value(json_object_get(f, "path")), "/tmp/ll_x");
	assert_int_equal(json_integer_value(json_object_get(f, "pid")), 22243);

	feed(k, 1423,
	     "audit(1795451491.865:135): domain=1da2d554c blockers=fs.execute path=\"/usr/bin/true\" dev=\"vda\" "
	     "ino=248139",
	     200);
	feed(k, 1300,
	     "audit(1795451491.865:135): arch=c000003e syscall=59 success=no exit=-13 ppid=1 pid=22242 auid=1 "
	     "uid=1197608 comm=\"python3\"",
	     201);
	assert_int_equal(json_array_size(s.events), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(s.events, 1), "event")),
			    "sandbox.exec.denied");
	f = json_object_get(json_array_get(s.events, 1), "fields");
	assert_string_equal(json_string_value(json_object_get(f, "path")), "/usr/bin/true");
	assert_int_equal(json_integer_value(json_object_get(f, "pid")), 22242);

	/* No syscall record (e.g. a denial outside a syscall context): after a
	 * moment the domain's owner says whose sandbox it is. */
	feed(k, 1423, "audit(1795451492.000:140): domain=1da2d554c blockers=fs.make_reg,fs.refer path=\"/usr/x\"", 300);
	assert_int_equal(kaudit_next_tick_ms(k, 300), 300);
	kaudit_tick(k, 400);
	assert_int_equal(json_array_size(s.events), 2);
	kaudit_tick(k, 600);
	assert_int_equal(json_array_size(s.events), 3);
	f = json_object_get(json_array_get(s.events, 2), "fields");
	assert_string_equal(json_string_value(json_object_get(json_array_get(s.events, 2), "event")),
			    "sandbox.write.denied");
	assert_true(json_is_null(json_object_get(f, "pid")));

	/* Reads are not recorded; unknown domains are dropped. */
	feed(k, 1423, "audit(1795451492.000:141): domain=1da2d554c blockers=fs.read_file path=\"/etc/x\"", 700);
	feed(k, 1300, "audit(1795451492.000:141): arch=c000003e syscall=257 pid=5 uid=1197608", 700);
	feed(k, 1423, "audit(1795451492.000:142): domain=99 blockers=fs.execute path=\"/x\"", 700);
	kaudit_tick(k, 2000);
	assert_int_equal(json_array_size(s.events), 3);
	json_decref(s.events);
	kaudit_free(k);
}

/* Refusals before Landlock, from our own audit rules (key="nbwarden"):
 * captured on this kernel with kaudit_open's rules, a process as uid 1197608. */
#define SYSREC(serial, nr, ex, a2, extra)                                                                    \
	"audit(1795454518.373:" serial "): arch=c000003e syscall=" nr " success=no exit=" ex                 \
	" a0=ffffff9c a1=7f9baba2bfe0 a2=" a2 " a3=1b6 items=1 ppid=23979 pid=24103 auid=4294967295 "         \
	"uid=1197608 gid=1197608 euid=1197608 suid=1197608 fsuid=1197608 egid=1197608 sgid=1197608 "          \
	"fsgid=1197608 tty=(none) ses=4294967295 comm=\"python3\" exe=\"/usr/bin/python3.11\" " extra

static void feed_event(struct kaudit *k, const char *sys, const char *cwd, const char *path, const char *serial,
		       uint64_t now)
{
	char rec[512];

	feed(k, 1300, sys, now);
	nbw_snprintf(rec, sizeof(rec), "audit(1795454518.373:%s): cwd=\"%s\"", serial, cwd);
	feed(k, 1307, rec, now);
	if (path) {
		nbw_snprintf(rec, sizeof(rec),
			     "audit(1795454518.373:%s): item=0 name=%s inode=19 dev=fe:00 mode=040755 ouid=0 ogid=0 "
			     "rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
			     serial, path);
		feed(k, 1302, rec, now);
	}
	nbw_snprintf(rec, sizeof(rec), "audit(1795454518.373:%s): proctitle=707974686F6E33", serial);
	feed(k, 1327, rec, now);
	nbw_snprintf(rec, sizeof(rec), "audit(1795454518.373:%s): ", serial);
	feed(k, 1320, rec, now);
}

static const char *field_s(json_t *events, size_t i, const char *name)
{
	json_t *e = json_array_get(events, i);
	if (!strcmp(name, "event") || !strcmp(name, "user"))
		return json_string_value(json_object_get(e, name));
	return json_string_value(json_object_get(json_object_get(e, "fields"), name));
}

static json_int_t field_i(json_t *events, size_t i, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(json_array_get(events, i), "fields"), name));
}

static void test_rules_events(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	struct kaudit_record r;

	/* The parser keeps what the rules' records carry. */
	assert_int_equal(kaudit_parse(1300, SYSREC("7", "257", "-30", "800c1", "key=\"nbwarden\""),
				      strlen(SYSREC("7", "257", "-30", "800c1", "key=\"nbwarden\"")), &r),
			 0);
	assert_true(r.ours);
	assert_true(r.failed);
	assert_int_equal(r.exit, -30);
	assert_int_equal(r.a2, 0x800c1);
	assert_int_equal(kaudit_parse(1300, SYSREC("7", "257", "-30", "800c1", "key=\"nbwardenx\""),
				      strlen(SYSREC("7", "257", "-30", "800c1", "key=\"nbwardenx\"")), &r),
			 0);
	assert_false(r.ours);

	/* open('/etc/nbw-x', 'w'): EACCES, the kernel names the parent directory */
	feed_event(k, SYSREC("1505352", "257", "-13", "80241", "key=\"nbwarden\""), "/tmp", "\"/etc/\"", "1505352",
		   100);
	assert_int_equal(json_array_size(s.events), 1);
	assert_string_equal(field_s(s.events, 0, "event"), "sandbox.write.denied");
	assert_string_equal(field_s(s.events, 0, "user"), "carol");
	assert_string_equal(field_s(s.events, 0, "path"), "/etc/");
	assert_string_equal(field_s(s.events, 0, "syscall"), "openat");
	assert_string_equal(field_s(s.events, 0, "error"), "EACCES");
	assert_int_equal(field_i(s.events, 0, "errno"), 13);
	assert_int_equal(field_i(s.events, 0, "pid"), 24103);

	/* execve("./sc") refused (noexec / no x bit): relative name joined to cwd */
	feed_event(k, SYSREC("1505356", "59", "-13", "7ffe230a9700", "key=\"nbwarden\""), "/tmp/ar-t", "\"./sc\"",
		   "1505356", 200);
	assert_int_equal(json_array_size(s.events), 2);
	assert_string_equal(field_s(s.events, 1, "event"), "sandbox.exec.denied");
	assert_string_equal(field_s(s.events, 1, "path"), "/tmp/ar-t/./sc");
	assert_string_equal(field_s(s.events, 1, "syscall"), "execve");

	/* chmod of a root-owned file: EPERM; a hex-encoded hostile name is escaped */
	feed_event(k, SYSREC("1505354", "90", "-1", "0", "key=\"nbwarden\""), "/", "2F7573722F0A78", "1505354", 300);
	assert_int_equal(json_array_size(s.events), 3);
	assert_string_equal(field_s(s.events, 2, "path"), "/usr/\\x0ax");
	assert_string_equal(field_s(s.events, 2, "syscall"), "chmod");
	assert_string_equal(field_s(s.events, 2, "error"), "EPERM");

	/* Not ours, a read-only open, another errno, success, another sandbox: nothing. */
	feed_event(k, SYSREC("20", "257", "-13", "80241", "key=(null)"), "/", "\"/etc/\"", "20", 400);
	feed_event(k, SYSREC("21", "257", "-13", "80000", "key=\"nbwarden\""), "/", "\"/etc/shadow\"", "21", 400);
	feed_event(k, SYSREC("22", "257", "-2", "80241", "key=\"nbwarden\""), "/", "\"/etc/\"", "22", 400);
	feed_event(k, SYSREC("23", "0", "-13", "0", "key=\"nbwarden\""), "/", NULL, "23", 400);
	assert_int_equal(json_array_size(s.events), 3);

	/* Landlock refused it too (its 1423 has the same serial): one event, Landlock's. */
	feed(k, 1424,
	     "audit(1795451491.861:30): domain=1da2d554c status=allocated mode=enforcing pid=22242 uid=1197608 "
	     "exe=\"/usr/bin/python3.11\" comm=\"python3\"",
	     500);
	feed(k, 1423, "audit(1795454518.373:31): domain=1da2d554c blockers=fs.execute path=\"/usr/bin/ls\"", 500);
	feed_event(k, SYSREC("31", "59", "-13", "0", "key=\"nbwarden\""), "/", "\"/usr/bin/ls\"", "31", 500);
	assert_int_equal(json_array_size(s.events), 4);
	assert_string_equal(field_s(s.events, 3, "event"), "sandbox.exec.denied");
	assert_string_equal(field_s(s.events, 3, "blockers"), "fs.execute");
	kaudit_tick(k, 5000);
	assert_int_equal(json_array_size(s.events), 4);

	/* The EOE record is lost: emitted after a moment with what came. */
	feed(k, 1300, SYSREC("40", "83", "-30", "0", "key=\"nbwarden\""), 600);
	feed(k, 1302, "audit(1795454518.373:40): item=0 name=\"/usr/lib/x/\" nametype=PARENT", 600);
	assert_int_equal(json_array_size(s.events), 4);
	assert_int_equal(kaudit_next_tick_ms(k, 600), 300);
	kaudit_tick(k, 950);
	assert_int_equal(json_array_size(s.events), 5);
	assert_string_equal(field_s(s.events, 4, "syscall"), "mkdir");
	assert_string_equal(field_s(s.events, 4, "path"), "/usr/lib/x/");
	assert_string_equal(field_s(s.events, 4, "error"), "EROFS");
	json_decref(s.events);
	kaudit_free(k);
}

/* ---- per-sandbox audit rules: their records ---- */

/* A successful syscall record of carol's (slot 3) with a per-slot key. */
#define AUDREC(serial, nr, a0, a1, a2, key)                                                                  \
	"audit(1795457466.417:" serial "): arch=c000003e syscall=" nr " success=yes exit=3 a0=" a0 " a1=" a1  \
	" a2=" a2 " a3=0 items=1 ppid=20614 pid=20617 auid=4294967295 uid=1197608 gid=1197608 euid=1197608 "  \
	"suid=1197608 fsuid=1197608 egid=1197608 sgid=1197608 fsgid=1197608 tty=(none) ses=4294967295 "       \
	"comm=\"python3\" exe=\"/usr/bin/python3.11\" key=" key
#define KEY3 "\"nbwarden-a-1000000-3\""

static void feed_paths(struct kaudit *k, const char *serial, const char *cwd, const char *const *items,
		       uint64_t now)
{
	char rec[1024];

	if (cwd) {
		nbw_snprintf(rec, sizeof(rec), "audit(1795457466.417:%s): cwd=\"%s\"", serial, cwd);
		feed(k, 1307, rec, now);
	}
	/* items: name, nametype pairs */
	for (int i = 0; items && items[2 * i]; i++) {
		nbw_snprintf(rec, sizeof(rec),
			     "audit(1795457466.417:%s): item=%d name=%s inode=19 dev=fe:00 mode=0100644 ouid=0 ogid=0 "
			     "rdev=00:00 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
			     serial, i, items[2 * i], items[2 * i + 1]);
		feed(k, 1302, rec, now);
	}
}

static void feed_eoe(struct kaudit *k, const char *serial, uint64_t now)
{
	char rec[128];

	nbw_snprintf(rec, sizeof(rec), "audit(1795457466.417:%s): proctitle=707974686F6E33", serial);
	feed(k, 1327, rec, now);
	nbw_snprintf(rec, sizeof(rec), "audit(1795457466.417:%s): ", serial);
	feed(k, 1320, rec, now);
}

static void test_parse_audit_key(void **state)
{
	static const char *const bad[] = {
	    "\"nbwarden-a-\"", "\"nbwarden-a-1-\"", "\"nbwarden-a--3\"", "\"nbwarden-a-99999999999-3\"",
	    "\"nbwarden-a-1-2-3\"", "nbwarden-a-1-2", "\"nbwarden-a-1-2", "6E62776172", "(null)",
	    "\"nbwarden-b-1-2\"", "\"nbwarden-a-1-4294967296\"", "\"nbwarden-a-x-2\"", "\"nbwarden\"",
	};
	struct kaudit_record r;
	char rec[1024];

	nbw_snprintf(rec, sizeof(rec), AUDREC("7", "41", "a", "80002", "11", KEY3));
	assert_int_equal(kaudit_parse(1300, rec, strlen(rec), &r), 0);
	assert_true(r.audited);
	assert_false(r.ours);
	assert_false(r.failed);
	assert_int_equal(r.key_base, 1000000);
	assert_int_equal(r.key_slot, 3);
	assert_int_equal(r.a0, 10);
	assert_int_equal(r.a1, 0x80002);
	assert_int_equal(r.a2, 17);
	nbw_snprintf(rec, sizeof(rec), AUDREC("7", "41", "a", "1", "0", "\"nbwarden-a-4294967295-4294967295\""));
	assert_int_equal(kaudit_parse(1300, rec, strlen(rec), &r), 0);
	assert_true(r.audited && r.key_base == UINT32_MAX && r.key_slot == UINT32_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nbw_snprintf(rec, sizeof(rec), AUDREC("7", "41", "a", "1", "0", "%s"), bad[i]);
		assert_int_equal(kaudit_parse(1300, rec, strlen(rec), &r), 0);
		if (r.audited)
			fail_msg("taken as a per-slot key: %s", bad[i]);
		assert_int_equal(r.ours, !strcmp(bad[i], "\"nbwarden\""));
	}
	/* openat2's flags (octal) */
	const char o2[] = "audit(1795457466.417:9): oflag=0100101 mode=0644 resolve=0x0";
	assert_int_equal(kaudit_parse(1337, o2, strlen(o2), &r), 0);
	assert_true(r.has_oflag);
	assert_int_equal(r.oflag, 0100101);
	const char o2bad[] = "audit(1795457466.417:9): oflag=089 mode=0644";
	assert_int_equal(kaudit_parse(1337, o2bad, strlen(o2bad), &r), 0);
	assert_false(r.has_oflag);
}

static void test_network_denied(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);

	/* socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) outside ping_group_range: EACCES in the kernel */
	feed(k, 1300, SYSREC("50", "41", "-13", "1", "key=\"nbwarden\" a0=2 a1=2"), 100);
	/* socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, 0) refused by a cgroup program: EPERM */
	feed(k, 1300, SYSREC("51", "41", "-1", "0", "key=\"nbwarden\" a0=a a1=80001"), 100);
	/* socket(AF_INET, SOCK_DGRAM|SOCK_NONBLOCK, IPPROTO_UDP) */
	feed(k, 1300, SYSREC("52", "41", "-13", "11", "key=\"nbwarden\" a0=2 a1=802"), 100);
	/* RAW with another protocol; ICMPv6 over RAW */
	feed(k, 1300, SYSREC("53", "41", "-13", "ff", "key=\"nbwarden\" a0=2 a1=3"), 100);
	feed(k, 1300, SYSREC("54", "41", "-13", "3a", "key=\"nbwarden\" a0=a a1=3"), 100);
	/* the high half of an int argument is not the kernel's */
	feed(k, 1300, SYSREC("55", "41", "-13", "100000011", "key=\"nbwarden\" a0=100000002 a1=100000002"), 100);
	assert_int_equal(json_array_size(s.events), 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(field_s(s.events, i, "event"), "sandbox.network.denied");
		assert_string_equal(field_s(s.events, i, "user"), "carol");
		assert_int_equal(field_i(s.events, i, "pid"), 24103);
	}
	assert_string_equal(field_s(s.events, 0, "protocol"), "icmp");
	assert_string_equal(field_s(s.events, 0, "family"), "inet");
	assert_string_equal(field_s(s.events, 0, "error"), "EACCES");
	assert_string_equal(field_s(s.events, 1, "protocol"), "tcp");
	assert_string_equal(field_s(s.events, 1, "family"), "inet6");
	assert_string_equal(field_s(s.events, 1, "error"), "EPERM");
	assert_string_equal(field_s(s.events, 2, "protocol"), "udp");
	assert_string_equal(field_s(s.events, 3, "protocol"), "other");
	assert_string_equal(field_s(s.events, 4, "protocol"), "icmp");
	assert_string_equal(field_s(s.events, 4, "family"), "inet6");
	assert_string_equal(field_s(s.events, 5, "protocol"), "udp");
	assert_string_equal(field_s(s.events, 5, "family"), "inet");

	/* another errno, success, not our key, another arch, another sandbox: nothing */
	feed(k, 1300, SYSREC("60", "41", "-97", "0", "key=\"nbwarden\" a0=2 a1=1"), 100);
	feed(k, 1300, AUDREC("61", "41", "2", "1", "0", "\"nbwarden\""), 100);
	feed(k, 1300, SYSREC("62", "41", "-13", "0", "key=(null) a0=2 a1=1"), 100);
	feed(k, 1300,
	     "audit(1.1:63): arch=40000003 syscall=41 success=no exit=-13 a0=2 a1=1 a2=0 pid=5 uid=1197608 "
	     "key=\"nbwarden\"",
	     100);
	feed(k, 1300,
	     "audit(1.1:64): arch=c000003e syscall=41 success=no exit=-13 a0=2 a1=1 a2=0 pid=5 uid=5 "
	     "key=\"nbwarden\"",
	     100);
	/* no a0..a2 at all: classified from zeros, still bounded */
	feed(k, 1300, "audit(1.1:65): arch=c000003e syscall=41 success=no exit=-13 pid=5 uid=1197608 key=\"nbwarden\"",
	     100);
	assert_int_equal(json_array_size(s.events), 7);
	assert_string_equal(field_s(s.events, 6, "family"), "other");
	assert_string_equal(field_s(s.events, 6, "protocol"), "other");
	json_decref(s.events);
	kaudit_free(k);
}

static void test_exec_audited(void **state)
{
	static const char *const exec_items[] = { "\"/bin/true\"", "NORMAL", "\"/lib64/ld-linux-x86-64.so.2\"",
						  "NORMAL", NULL };
	static const char *const rel_items[] = { "\"./run.sh\"", "NORMAL", "\"/usr/bin/sh\"", "NORMAL", NULL };
	struct sink s;
	struct kaudit *k = reader(&s);

	/* The slot has no rules in this reader yet: nothing. */
	feed(k, 1300, AUDREC("70", "59", "ffffff9c", "0", "0", KEY3), 100);
	feed_paths(k, "70", "/home/carol", exec_items, 100);
	feed_eoe(k, "70", 100);
	assert_int_equal(json_array_size(s.events), 0);

	assert_int_equal(kaudit_sandbox_expect(k, 3, 0), 0);
	assert_int_equal(kaudit_sandbox_rule_count(k, 3), 0);
	feed(k, 1300, AUDREC("71", "59", "ffffff9c", "0", "0", KEY3), 100);
	feed_paths(k, "71", "/home/carol", exec_items, 100);
	feed_eoe(k, "71", 100);
	assert_int_equal(json_array_size(s.events), 1);
	assert_string_equal(field_s(s.events, 0, "event"), "sandbox.exec.audited");
	assert_string_equal(field_s(s.events, 0, "user"), "carol");
	assert_string_equal(field_s(s.events, 0, "path"), "/bin/true");
	assert_int_equal(field_i(s.events, 0, "pid"), 20617);
	assert_int_equal(json_object_size(json_object_get(json_array_get(s.events, 0), "fields")), 2);

	/* a relative name: joined with the CWD record; execveat from a dir fd: as given */
	feed(k, 1300, AUDREC("72", "59", "0", "0", "0", KEY3), 200);
	feed_paths(k, "72", "/home/carol/bin", rel_items, 200);
	feed_eoe(k, "72", 200);
	feed(k, 1300, AUDREC("73", "322", "5", "0", "0", KEY3), 200);
	feed_paths(k, "73", "/home/carol", rel_items, 200);
	feed_eoe(k, "73", 200);
	assert_int_equal(json_array_size(s.events), 3);
	assert_string_equal(field_s(s.events, 1, "path"), "/home/carol/bin/./run.sh");
	assert_string_equal(field_s(s.events, 2, "event"), "sandbox.exec.audited");
	assert_string_equal(field_s(s.events, 2, "path"), "./run.sh");

	/* Not this reader's base, a slot the uid is not in, a failed exec, another sandbox: nothing. */
	feed(k, 1300, AUDREC("74", "59", "0", "0", "0", "\"nbwarden-a-2000000-3\""), 300);
	feed(k, 1300, AUDREC("75", "59", "0", "0", "0", "\"nbwarden-a-1000000-4\""), 300);
	feed(k, 1300, SYSREC("76", "59", "-13", "0", "key=\"nbwarden-a-1000000-3\""), 300);
	feed(k, 1300,
	     "audit(1.1:77): arch=c000003e syscall=59 success=yes exit=0 pid=5 uid=1262144 "
	     "key=\"nbwarden-a-1000000-4\"",
	     300);
	for (int i = 74; i <= 77; i++) {
		char serial[8];
		nbw_snprintf(serial, sizeof(serial), "%d", i);
		feed_paths(k, serial, "/", exec_items, 300);
		feed_eoe(k, serial, 300);
	}
	kaudit_tick(k, 5000);
	assert_int_equal(json_array_size(s.events), 3);

	/* Removed: records still in flight are dropped. */
	assert_int_equal(kaudit_sandbox_remove(k, 3), 0);
	assert_int_equal(kaudit_sandbox_remove(k, 3), 0); /* idempotent */
	feed(k, 1300, AUDREC("78", "59", "0", "0", "0", KEY3), 6000);
	feed_paths(k, "78", "/", exec_items, 6000);
	feed_eoe(k, "78", 6000);
	assert_int_equal(json_array_size(s.events), 3);
	json_decref(s.events);
	kaudit_free(k);
}

static void test_file_audited(void **state)
{
	static const char *const read_items[] = { "\"etc/hostname\"", "NORMAL", NULL };
	static const char *const create_items[] = { "\"/home/carol/\"", "PARENT", "\"/home/carol/new.txt\"", "CREATE",
						    NULL };
	static const char *const unlink_items[] = { "\"notes/\"", "PARENT", "\"notes/old.txt\"", "DELETE", NULL };
	static const char *const link_items[] = { "\"/home/carol/l\"", "NORMAL", NULL };
	static const char *const hostile_items[] = { "2F746D702F0A1B5B33316D78", "NORMAL", NULL };
	struct sink s;
	struct kaudit *k = reader(&s);

	assert_int_equal(kaudit_sandbox_expect(k, 3, 0), 0);
	/* openat(AT_FDCWD, "etc/hostname", O_RDONLY|O_CLOEXEC) from / */
	feed(k, 1300, AUDREC("80", "257", "ffffff9c", "7ffd0000", "80000", KEY3), 100);
	feed_paths(k, "80", "/", read_items, 100);
	feed_eoe(k, "80", 100);
	/* openat(dirfd 3, "etc/hostname", O_RDONLY): relative to a directory fd, kept as given */
	feed(k, 1300, AUDREC("81", "257", "3", "7ffd0000", "0", KEY3), 100);
	feed_paths(k, "81", "/", read_items, 100);
	feed_eoe(k, "81", 100);
	/* openat(..., O_WRONLY|O_CREAT|O_TRUNC): the created name, not its parent */
	feed(k, 1300, AUDREC("82", "257", "ffffff9c", "7ffd0000", "241", KEY3), 100);
	feed_paths(k, "82", "/tmp", create_items, 100);
	feed_eoe(k, "82", 100);
	/* unlink("notes/old.txt") in /home/carol */
	feed(k, 1300, AUDREC("83", "87", "7ffd0000", "0", "0", KEY3), 100);
	feed_paths(k, "83", "/home/carol", unlink_items, 100);
	feed_eoe(k, "83", 100);
	/* readlink: the read class */
	feed(k, 1300, AUDREC("84", "89", "7ffd0000", "7ffd1000", "1000", KEY3), 100);
	feed_paths(k, "84", "/", link_items, 100);
	feed_eoe(k, "84", 100);
	/* openat2: flags from its 1337 record (O_CREAT|O_RDONLY: a write); open(2) O_RDWR */
	feed(k, 1300, AUDREC("85", "437", "ffffff9c", "7ffd0000", "7ffd1000", KEY3), 100);
	feed(k, 1337, "audit(1795457466.417:85): oflag=0100 mode=0600 resolve=0x0", 100);
	feed_paths(k, "85", "/", link_items, 100);
	feed_eoe(k, "85", 100);
	feed(k, 1300, AUDREC("86", "437", "ffffff9c", "7ffd0000", "7ffd1000", KEY3), 100);
	feed(k, 1337, "audit(1795457466.417:86): oflag=0 mode=0 resolve=0x0", 100);
	feed_paths(k, "86", "/", link_items, 100);
	feed_eoe(k, "86", 100);
	feed(k, 1300, AUDREC("87", "2", "7ffd0000", "2", "0", KEY3), 100);
	feed_paths(k, "87", "/", link_items, 100);
	feed_eoe(k, "87", 100);
	/* a hostile name (newline, escape sequence) stays escaped */
	feed(k, 1300, AUDREC("88", "257", "ffffff9c", "7ffd0000", "0", KEY3), 100);
	feed_paths(k, "88", "/", hostile_items, 100);
	feed_eoe(k, "88", 100);
	assert_int_equal(json_array_size(s.events), 9);
	for (size_t i = 0; i < 9; i++) {
		assert_string_equal(field_s(s.events, i, "event"), "sandbox.file.audited");
		assert_int_equal(field_i(s.events, i, "pid"), 20617);
		assert_int_equal(json_object_size(json_object_get(json_array_get(s.events, i), "fields")), 3);
	}
	assert_string_equal(field_s(s.events, 0, "path"), "/etc/hostname"); /* cwd "/": no "//" */
	assert_string_equal(field_s(s.events, 0, "access"), "read");
	assert_string_equal(field_s(s.events, 1, "path"), "etc/hostname");
	assert_string_equal(field_s(s.events, 2, "path"), "/home/carol/new.txt");
	assert_string_equal(field_s(s.events, 2, "access"), "write");
	assert_string_equal(field_s(s.events, 3, "path"), "/home/carol/notes/old.txt");
	assert_string_equal(field_s(s.events, 3, "access"), "write");
	assert_string_equal(field_s(s.events, 4, "access"), "read");
	assert_string_equal(field_s(s.events, 5, "access"), "write");
	assert_string_equal(field_s(s.events, 6, "access"), "read");
	assert_string_equal(field_s(s.events, 7, "access"), "write");
	assert_string_equal(field_s(s.events, 8, "path"), "/tmp/\\x0a\\x1b[31mx");

	/* Malformed: no PATH record and a lost EOE: emitted after a moment with
	 * what came (no path); a stray OPENAT2/PATH/CWD/EOE of no event: nothing. */
	feed(k, 1300, AUDREC("90", "257", "ffffff9c", "7ffd0000", "0", KEY3), 200);
	feed(k, 1337, "audit(1795457466.417:91): oflag=0100 mode=0600 resolve=0x0", 200);
	feed(k, 1302, "audit(1795457466.417:91): item=0 name=\"/x\" nametype=NORMAL", 200);
	feed(k, 1307, "audit(1795457466.417:91): cwd=\"/\"", 200);
	feed(k, 1320, "audit(1795457466.417:91): ", 200);
	feed(k, 1302, "audit(1795457466.417:90): item=0 name=(null) nametype=UNKNOWN", 200);
	assert_int_equal(json_array_size(s.events), 9);
	assert_int_equal(kaudit_next_tick_ms(k, 200), 300);
	kaudit_tick(k, 500);
	assert_int_equal(json_array_size(s.events), 10);
	assert_string_equal(field_s(s.events, 9, "path"), "");
	assert_string_equal(field_s(s.events, 9, "access"), "read");
	/* Landlock's record of the same serial does not cancel an audited event */
	feed(k, 1300, AUDREC("92", "257", "ffffff9c", "7ffd0000", "0", KEY3), 600);
	feed(k, 1423, "audit(1795457466.417:92): domain=1da2d554c blockers=fs.read_file path=\"/x\"", 600);
	feed_paths(k, "92", "/", link_items, 600);
	feed_eoe(k, "92", 600);
	assert_int_equal(json_array_size(s.events), 11);
	json_decref(s.events);
	kaudit_free(k);
}

static void test_network_audited(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);

	assert_int_equal(kaudit_sandbox_expect(k, 3, KAUDIT_NET_UDP), 0);
	assert_int_equal(kaudit_sandbox_expect(k, 3, 8), -EINVAL);
	feed(k, 1300, AUDREC("100", "41", "2", "80002", "0", KEY3), 100);  /* udp, CLOEXEC */
	feed(k, 1300, AUDREC("101", "41", "2", "1", "6", KEY3), 100);      /* tcp: not asked */
	feed(k, 1300, AUDREC("102", "41", "2", "2", "1", KEY3), 100);      /* ping: icmp, not asked */
	feed(k, 1300, AUDREC("103", "41", "a", "3", "3a", KEY3), 100);     /* raw icmpv6: not asked */
	feed(k, 1300, AUDREC("104", "41", "a", "802", "11", KEY3), 100);   /* udp over inet6 */
	assert_int_equal(json_array_size(s.events), 2);
	assert_string_equal(field_s(s.events, 0, "event"), "sandbox.network.audited");
	assert_string_equal(field_s(s.events, 0, "user"), "carol");
	assert_string_equal(field_s(s.events, 0, "protocol"), "udp");
	assert_string_equal(field_s(s.events, 0, "family"), "inet");
	assert_int_equal(field_i(s.events, 0, "pid"), 20617);
	assert_int_equal(json_object_size(json_object_get(json_array_get(s.events, 0), "fields")), 3);
	assert_string_equal(field_s(s.events, 1, "family"), "inet6");

	assert_int_equal(kaudit_sandbox_expect(k, 3, KAUDIT_NET_ALL), 0);
	feed(k, 1300, AUDREC("105", "41", "2", "1", "6", KEY3), 100);
	feed(k, 1300, AUDREC("106", "41", "a", "3", "3a", KEY3), 100);
	feed(k, 1300, AUDREC("107", "41", "2", "5", "84", KEY3), 100); /* SCTP seqpacket: other, never kept */
	feed(k, 1300, AUDREC("108", "41", "1", "1", "0", KEY3), 100);  /* AF_UNIX: other */
	assert_int_equal(json_array_size(s.events), 4);
	assert_string_equal(field_s(s.events, 2, "protocol"), "tcp");
	assert_string_equal(field_s(s.events, 3, "protocol"), "icmp");
	assert_string_equal(field_s(s.events, 3, "family"), "inet6");
	json_decref(s.events);
	kaudit_free(k);
}

/* Audited accesses have a budget of their own: a flood of them is
 * summarised apart and never eats the refusals' tokens. */
static void test_audited_rate_limit(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	size_t i, audited = 0, denied = 0, a_sum = 0, d_sum = 0;
	json_t *e;

	assert_int_equal(kaudit_sandbox_expect(k, 3, KAUDIT_NET_TCP), 0);
	for (int n = 0; n < 500; n++) {
		char serial[16], rec[1024];
		nbw_snprintf(serial, sizeof(serial), "%d", 1000 + n);
		nbw_snprintf(rec, sizeof(rec), AUDREC("%s", "41", "2", "1", "6", KEY3), serial);
		feed(k, 1300, rec, 5000);
	}
	for (int n = 0; n < 500; n++)
		feed_seccomp(k, SLOT_UID(3, 1000), 100 + n, 250, 5000);
	kaudit_tick(k, 6100);
	json_array_foreach(s.events, i, e)
	{
		const char *ev = json_string_value(json_object_get(e, "event"));
		audited += !strcmp(ev, "sandbox.network.audited");
		denied += !strcmp(ev, "sandbox.syscall.denied");
		if (!strcmp(ev, "sandbox.audited.suppressed")) {
			a_sum++;
			assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "fields"), "count")),
					 500 - KAUDIT_AUDITED_BURST);
		}
		if (!strcmp(ev, "sandbox.denials.suppressed")) {
			d_sum++;
			assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "fields"), "count")),
					 500 - KAUDIT_BURST);
		}
	}
	assert_int_equal(audited, KAUDIT_AUDITED_BURST);
	assert_int_equal(denied, KAUDIT_BURST);
	assert_int_equal(a_sum, 1);
	assert_int_equal(d_sum, 1);
	assert_int_equal(kaudit_next_tick_ms(k, 6100), -1);
	/* only audited noise: its summary is due alone */
	for (int n = 0; n < 100; n++)
		feed(k, 1300, AUDREC("2000", "41", "2", "1", "6", KEY3), 7000);
	assert_int_equal(kaudit_next_tick_ms(k, 7000), 1000);
	json_decref(s.events);
	kaudit_free(k);
}

/* kaudit_sandbox_add checks its arguments before it asks the kernel (these
 * need no privilege: nothing reaches the kernel). */
static void test_sandbox_add_checks(void **state)
{
	struct sink s;
	struct kaudit *k = reader(&s);
	char err[512], dir[] = "/tmp/nbw-kaudit-XXXXXX", p[256], lnk[256], file[256], longp[PATH_MAX + 8];
	struct kaudit_watch w = { .kind = KAUDIT_WATCH_READ };
	struct kaudit_sandbox_rules r = { .watches = &w, .n_watches = 1 };
	struct kaudit_watch many[KAUDIT_SANDBOX_RULES_MAX + 1];

	assert_non_null(mkdtemp(dir));
	nbw_snprintf(file, sizeof(file), "%s/file", dir);
	nbw_snprintf(lnk, sizeof(lnk), "%s/link", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink(file, lnk), 0);

#define EXPECT(ret, needle)                                                                                  \
	do {                                                                                                 \
		assert_int_equal(kaudit_sandbox_add(k, 3, &r, err, sizeof(err)), ret);                       \
		if (!strstr(err, needle))                                                                    \
			fail_msg("error \"%s\" does not say \"%s\"", err, needle);                          \
	} while (0)
	w.path = "etc/passwd";
	EXPECT(-EINVAL, "watch 0: the path must be absolute");
	w.path = NULL;
	EXPECT(-EINVAL, "must be absolute");
	w.path = "/etc//passwd";
	EXPECT(-EINVAL, "watch 0 (/etc//passwd): the path must be normalised");
	w.path = "/etc/../etc/passwd";
	EXPECT(-EINVAL, "normalised");
	w.path = "/etc/.";
	EXPECT(-EINVAL, "normalised");
	w.path = "/etc/";
	EXPECT(-EINVAL, "normalised");
	w.path = "/etc/pa\nsswd";
	EXPECT(-EINVAL, "control character");
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	w.path = longp;
	EXPECT(-ENAMETOOLONG, "longer than");
	w.path = "/";
	EXPECT(-EINVAL, "cannot be /");
	w.path = lnk;
	EXPECT(-ELOOP, "is a symbolic link");
	assert_non_null(strstr(err, lnk));
	w.tree = true;
	w.path = file;
	EXPECT(-ENOTDIR, "a tree watch needs a directory");
	nbw_snprintf(p, sizeof(p), "%s/none", dir);
	w.path = p;
	EXPECT(-ENOENT, "does not exist");
	assert_non_null(strstr(err, p));
	w.tree = false;
	nbw_snprintf(p, sizeof(p), "%s/none/x", dir);
	EXPECT(-ENOENT, "its parent directory");
	nbw_snprintf(p, sizeof(p), "%s/file/x", dir); /* the parent is a file */
	EXPECT(-ENOTDIR, "Not a directory");
	w.path = file;
	w.kind = 9;
	EXPECT(-EINVAL, "watch 0: unknown kind 9");
	w.kind = KAUDIT_WATCH_EXEC;
	r.net = 8;
	EXPECT(-EINVAL, "net: unknown protocol bits 0x8");
	r.net = 0;
	r.watches = NULL;
	EXPECT(-EINVAL, "no array");
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct kaudit_watch){ .kind = KAUDIT_WATCH_READ, .path = file };
	r.watches = many;
	r.n_watches = ARRAY_SIZE(many);
	EXPECT(-E2BIG, "too many audit rules");
	r.n_watches = KAUDIT_SANDBOX_RULES_MAX - 1;
	r.all_exec = true;
	r.all_read = true;
	EXPECT(-E2BIG, "at most 256");
	/* the slot's range must fit below (uid_t)-2 */
	struct kaudit *high = NULL;
	assert_int_equal(kaudit_new(4294000000u, lookup, emit, &s, &high), 0);
	r.n_watches = 0;
	assert_int_equal(kaudit_sandbox_add(high, 15, &r, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "slot 15"));
	kaudit_free(high);
	/* nothing was added; removal of a slot without rules asks nothing */
	assert_int_equal(kaudit_sandbox_rule_count(k, 3), 0);
	assert_int_equal(kaudit_sandbox_remove(k, 3), 0);
	assert_int_equal(kaudit_sandbox_add(NULL, 3, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(kaudit_sandbox_add(k, 3, NULL, NULL, 0), -EINVAL);
#undef EXPECT
	unlink(lnk);
	unlink(file);
	rmdir(dir);
	json_decref(s.events);
	kaudit_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_seccomp), cmocka_unit_test(test_parse_hostile_comm),
	    cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_seccomp_event),
	    cmocka_unit_test(test_rate_limit),    cmocka_unit_test(test_landlock),
	    cmocka_unit_test(test_rules_events), cmocka_unit_test(test_parse_audit_key),
	    cmocka_unit_test(test_network_denied), cmocka_unit_test(test_exec_audited),
	    cmocka_unit_test(test_file_audited), cmocka_unit_test(test_network_audited),
	    cmocka_unit_test(test_audited_rate_limit), cmocka_unit_test(test_sandbox_add_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
