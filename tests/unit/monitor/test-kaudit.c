/* kaudit: parsing of kernel audit records (captured on this kernel, 6.18) and
 * their mapping to sandbox events, with the per-sandbox rate limit. */
#include "test.h"

#include "common/common.h"
#include "monitor/kaudit.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_seccomp), cmocka_unit_test(test_parse_hostile_comm),
	    cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_seccomp_event),
	    cmocka_unit_test(test_rate_limit),    cmocka_unit_test(test_landlock),
	    cmocka_unit_test(test_rules_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
