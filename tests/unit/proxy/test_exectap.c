/* Unit tests for the passive execute_request tap (exectap + wsframe). */
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "proxy/exectap.h"
#include "proxy/wsframe.h"

#define KID "0b6b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define SHA_PRINT1 "d287bb7f9d15abdc5b6e98536263815744b6ef21c8f3c839fc434ca70d8efe99"

/* ---- test helpers: a growable byte buffer and a client frame builder ---- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void bytes_put(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + len)
			ncap *= 2;
		b->p = realloc(b->p, ncap);
		assert_non_null(b->p);
		b->cap = ncap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

enum { F_FIN = 1, F_UNMASKED = 2, F_RSV1 = 4, F_LEN64 = 8 };

/* Append one client frame; masked with a random key unless F_UNMASKED. */
static void frame(struct bytes *b, int opcode, int flags, const void *payload, size_t len)
{
	uint8_t h[14];
	size_t hl = 0;
	uint8_t key[4];
	bool masked = !(flags & F_UNMASKED);

	h[hl++] = (uint8_t)(((flags & F_FIN) ? 0x80 : 0) | ((flags & F_RSV1) ? 0x40 : 0) | (opcode & 0xf));
	if (len < 126 && !(flags & F_LEN64)) {
		h[hl++] = (uint8_t)((masked ? 0x80 : 0) | len);
	} else if (len <= 0xffff && !(flags & F_LEN64)) {
		h[hl++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		h[hl++] = (uint8_t)(len >> 8);
		h[hl++] = (uint8_t)len;
	} else {
		h[hl++] = (uint8_t)((masked ? 0x80 : 0) | 127);
		for (int i = 7; i >= 0; i--)
			h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (masked) {
		assert_int_equal(nbw_random_bytes(key, sizeof(key)), 0);
		memcpy(h + hl, key, 4);
		hl += 4;
	}
	bytes_put(b, h, hl);
	size_t start = b->len;
	bytes_put(b, payload, len);
	if (masked)
		for (size_t i = 0; i < len; i++)
			b->p[start + i] ^= key[i & 3];
}

static void text(struct bytes *b, const char *s)
{
	frame(b, 1, F_FIN, s, strlen(s));
}

/* ---- capture of reports ---- */

struct seen {
	int n;
	char msg_id[128];
	char *code; /* copy, NULL if none */
	size_t code_len;
	char sha[65];
	bool oversized;
	bool undecodable;
	char kernel_id[64];
	char msg_type[32];
};

static void on_exec(const struct exectap_exec *e, void *ud)
{
	struct seen *s = ud;

	s->n++;
	nbw_strlcpy(s->msg_id, e->msg_id, sizeof(s->msg_id));
	nbw_strlcpy(s->kernel_id, e->kernel_id, sizeof(s->kernel_id));
	assert_non_null(e->msg_type);
	nbw_strlcpy(s->msg_type, e->msg_type, sizeof(s->msg_type));
	free(s->code);
	s->code = NULL;
	if (e->code) {
		s->code = malloc(e->code_len + 1);
		assert_non_null(s->code);
		memcpy(s->code, e->code, e->code_len + 1);
		assert_int_equal(e->code[e->code_len], 0);
	}
	s->code_len = e->code_len;
	memcpy(s->sha, e->sha256_hex, sizeof(s->sha));
	s->oversized = e->oversized;
	s->undecodable = e->undecodable;
}

static void seen_reset(struct seen *s)
{
	free(s->code);
	memset(s, 0, sizeof(*s));
}

/* Feed a whole stream in one go into a fresh tap; returns exectap_feed's result. */
static int run(const struct bytes *b, size_t max, struct seen *s)
{
	struct exectap *t = NULL;
	int r;

	assert_int_equal(exectap_new(KID, max, on_exec, s, &t), 0);
	r = exectap_feed(t, b->p, b->len);
	exectap_free(t);
	return r;
}

/* Feed in two pieces split at `at`. */
static int run_split(const struct bytes *b, size_t at, size_t max, struct seen *s)
{
	struct exectap *t = NULL;
	int r;

	assert_int_equal(exectap_new(KID, max, on_exec, s, &t), 0);
	r = exectap_feed(t, b->p, at);
	if (r == 0)
		r = exectap_feed(t, b->p + at, b->len - at);
	exectap_free(t);
	return r;
}

static int run_bytewise(const struct bytes *b, size_t max, struct seen *s)
{
	struct exectap *t = NULL;
	int r = 0;

	assert_int_equal(exectap_new(KID, max, on_exec, s, &t), 0);
	for (size_t i = 0; i < b->len && r == 0; i++)
		r = exectap_feed(t, b->p + i, 1);
	exectap_free(t);
	return r;
}

#define EXEC_JSON(id, code_json)                                                                                       \
	"{\"channel\": \"shell\", \"header\": {\"msg_id\": \"" id "\", \"msg_type\": \"execute_request\", "            \
	"\"session\": \"s1\", \"username\": \"\", \"version\": \"5.3\"}, \"parent_header\": {}, "                      \
	"\"metadata\": {}, \"content\": {\"code\": " code_json ", \"silent\": false}}"

/* ---- tests ---- */

static void test_json_execute(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};

	text(&b, EXEC_JSON("m1", "\"print(1)\""));
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kernel_id, KID);
	assert_string_equal(s.msg_type, "execute_request");
	assert_string_equal(s.msg_id, "m1");
	assert_string_equal(s.code, "print(1)");
	assert_int_equal(s.code_len, 8);
	assert_string_equal(s.sha, SHA_PRINT1);
	assert_false(s.oversized);
	assert_false(s.undecodable);
	seen_reset(&s);
	bytes_free(&b);
}

static void test_split_every_boundary(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};

	/* two messages, the second with a 16-bit length, plus a ping between */
	text(&b, EXEC_JSON("m1", "\"print(1)\""));
	frame(&b, 9, F_FIN, "hi", 2);
	char big[400];
	memset(big, 'x', sizeof(big));
	char json[1024];
	assert_true(nbw_snprintf(json, sizeof(json), EXEC_JSON("m2", "\"%.*s\""), (int)sizeof(big), big) > 0);
	text(&b, json);

	for (size_t at = 0; at <= b.len; at++) {
		seen_reset(&s);
		assert_int_equal(run_split(&b, at, 1 << 20, &s), 0);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.msg_id, "m2");
		assert_int_equal(s.code_len, sizeof(big));
	}
	seen_reset(&s);
	assert_int_equal(run_bytewise(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.code_len, sizeof(big));
	seen_reset(&s);
	bytes_free(&b);
}

static void test_fragmented_with_ping(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};
	const char *msg = EXEC_JSON("frag", "\"print(1)\"");
	size_t n = strlen(msg), a = n / 3, c = 2 * n / 3;

	frame(&b, 1, 0, msg, a);
	frame(&b, 9, F_FIN, "ping", 4);
	frame(&b, 0, 0, msg + a, c - a);
	frame(&b, 10, F_FIN, "", 0);
	frame(&b, 0, 0, "", 0); /* empty continuation is legal */
	frame(&b, 0, F_FIN, msg + c, n - c);
	assert_int_equal(run_bytewise(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg_id, "frag");
	assert_string_equal(s.sha, SHA_PRINT1);
	for (size_t at = 0; at <= b.len; at++) {
		seen_reset(&s);
		assert_int_equal(run_split(&b, at, 1 << 20, &s), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.code, "print(1)");
	}
	seen_reset(&s);
	bytes_free(&b);
}

static void test_len64(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};
	size_t big = 70000;
	char *code = malloc(big + 3), *json = malloc(big + 512);

	assert_non_null(code);
	assert_non_null(json);
	code[0] = '"';
	memset(code + 1, 'y', big);
	code[big + 1] = '"';
	code[big + 2] = 0;
	assert_true(nbw_snprintf(json, big + 512, EXEC_JSON("m64", "%s"), code) > 0);
	text(&b, json); /* > 65535: 64-bit length */
	text(&b, EXEC_JSON("after", "\"print(1)\""));
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.msg_id, "after");

	/* a small payload in a (legal, non-minimal) 64-bit length */
	bytes_free(&b);
	seen_reset(&s);
	const char *m = EXEC_JSON("nm", "\"print(1)\"");
	frame(&b, 1, F_FIN | F_LEN64, m, strlen(m));
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg_id, "nm");
	free(code);
	free(json);
	seen_reset(&s);
	bytes_free(&b);
}

static void test_oversized(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};
	const char *m = EXEC_JSON("big", "\"print(1)\"");
	const char *small = "{\"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"s\"}, \"content\": "
			    "{\"code\": \"print(1)\"}}";
	size_t n = strlen(m), first, pass;
	struct exectap *t = NULL;

	/* over 64 bytes: reported once as oversized, at its header; then sticky */
	text(&b, m);
	text(&b, EXEC_JSON("x", "1"));
	assert_int_equal(run(&b, 64, &s), -EMSGSIZE);
	assert_int_equal(s.n, 1);
	assert_true(s.oversized);
	assert_false(s.undecodable);
	assert_string_equal(s.msg_type, "unknown");
	assert_null(s.code);
	assert_string_equal(s.sha, "");
	assert_string_equal(s.msg_id, "");
	/* only the header matters: nothing of the payload needs to be there */
	seen_reset(&s);
	assert_int_equal(exectap_new(KID, 64, on_exec, &s, &t), 0);
	assert_int_equal(exectap_gate(t, b.p, 8, &pass), -EMSGSIZE); /* 2 + 2 + 4: 16-bit length, mask */
	assert_int_equal(pass, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(exectap_gate(t, b.p + 8, 1, &pass), -EMSGSIZE);
	assert_int_equal(pass, 0);
	exectap_free(t);
	assert_int_equal(s.n, 1);
	bytes_free(&b);

	/* a message that fits, then fragments that only overflow max (100) in
	 * the last one: exactly the bytes before that fragment's header pass */
	text(&b, small);
	frame(&b, 1, 0, m, 40);
	first = b.len;
	frame(&b, 0, F_FIN, m + 40, n - 40);
	text(&b, small);
	for (size_t at = 0; at <= b.len; at++) {
		size_t passed = 0;
		int r;

		seen_reset(&s);
		assert_int_equal(exectap_new(KID, 100, on_exec, &s, &t), 0);
		r = exectap_gate(t, b.p, at, &pass);
		passed += pass;
		if (r == 0) {
			assert_int_equal(pass, at);
			r = exectap_gate(t, b.p + at, b.len - at, &pass);
			passed += pass;
		}
		exectap_free(t);
		assert_int_equal(r, -EMSGSIZE);
		/* a header split across calls: its first bytes passed with the
		 * earlier call (harmless: the message cannot complete) */
		if (at > first && at < first + 8)
			assert_int_equal(passed, at);
		else
			assert_int_equal(passed, first);
		assert_int_equal(s.n, 2); /* the small one, then the oversized one */
		assert_true(s.oversized);
	}
	seen_reset(&s);
	bytes_free(&b);
}

static void test_budget(void **state)
{
	struct exectap_budget *bud = NULL;
	struct exectap *a = NULL, *a2 = NULL, *c = NULL, *d = NULL;
	struct seen sa = {0}, sa2 = {0}, sc = {0}, sd = {0};
	struct bytes fa = {0}, fa2 = {0}, fc = {0}, fd = {0}, ping = {0};
	char pay[500];
	size_t pass;

	static const char exec1[] = "{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"1\"}}";

	memset(pay, ' ', sizeof(pay));
	memcpy(pay, exec1, sizeof(exec1) - 1);
	assert_int_equal(exectap_budget_new(0, 1, &bud), -EINVAL);
	assert_int_equal(exectap_budget_new(1000, 600, &bud), 0);

	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &sa, &a), 0);
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &sa2, &a2), 0);
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &sc, &c), 0);
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &sd, &d), 0);
	assert_int_equal(exectap_set_budget(a, bud, "u1"), 0);
	assert_int_equal(exectap_set_budget(a, bud, "u1"), -EINVAL);
	assert_int_equal(exectap_set_budget(a2, bud, "u1"), 0);
	assert_int_equal(exectap_set_budget(c, bud, "u2"), 0);
	assert_int_equal(exectap_set_budget(d, bud, "u3"), 0);

	/* a declares 500 bytes and sends a part: charged at the header */
	frame(&fa, 1, F_FIN, pay, 500);
	assert_int_equal(exectap_gate(a, fa.p, 20, &pass), 0);
	assert_int_equal(pass, 20);
	assert_int_equal(exectap_budget_used(bud, "u1"), 501);
	assert_int_equal(exectap_budget_used(bud, NULL), 501);

	/* a2 (same key) declares 200: the key's 600 would be exceeded */
	frame(&fa2, 2, F_FIN, pay, 200);
	assert_int_equal(exectap_gate(a2, fa2.p, fa2.len, &pass), -EMSGSIZE);
	assert_int_equal(pass, 0);
	assert_int_equal(sa2.n, 1);
	assert_true(sa2.oversized);
	assert_int_equal(exectap_budget_used(bud, "u1"), 501);

	/* another key: 450 fits in the total; control frames cost nothing */
	frame(&ping, 9, F_FIN, "p", 1);
	assert_int_equal(exectap_gate(c, ping.p, ping.len, &pass), 0);
	assert_int_equal(exectap_budget_used(bud, "u2"), 0);
	frame(&fc, 1, F_FIN, pay, 450);
	assert_int_equal(exectap_gate(c, fc.p, 10, &pass), 0);
	assert_int_equal(exectap_budget_used(bud, NULL), 952);
	/* a third key: its per-key room is there, the total is not */
	frame(&fd, 1, F_FIN, pay, 100);
	assert_int_equal(exectap_gate(d, fd.p, fd.len, &pass), -EMSGSIZE);
	assert_int_equal(sd.n, 1);
	assert_true(sd.oversized);
	assert_int_equal(exectap_budget_used(bud, NULL), 952);

	/* a completes: decoded; what stays charged is its kept buffer, at most
	 * what it had */
	assert_int_equal(exectap_gate(a, fa.p + 20, fa.len - 20, &pass), 0);
	assert_int_equal(sa.n, 1);
	assert_false(sa.oversized);
	assert_string_equal(sa.code, "1");
	assert_true(exectap_budget_used(bud, "u1") <= 501);
	exectap_free(a);
	exectap_free(a2);
	assert_int_equal(exectap_budget_used(bud, "u1"), 0);
	assert_int_equal(exectap_budget_used(bud, NULL), 451);
	/* c is freed in the middle of its message: all of it comes back */
	exectap_free(c);
	exectap_free(d);
	assert_int_equal(exectap_budget_used(bud, NULL), 0);
	exectap_budget_free(bud);

	/* a message above the keep size: nothing stays charged after it */
	{
		size_t big = 40000;
		char *json = malloc(big + 512), *code = malloc(big + 3);
		struct bytes fb = {0};
		struct seen sb = {0};
		struct exectap *t = NULL;

		assert_non_null(json);
		assert_non_null(code);
		code[0] = '"';
		memset(code + 1, 'q', big);
		code[big + 1] = '"';
		code[big + 2] = 0;
		assert_true(nbw_snprintf(json, big + 512, EXEC_JSON("b", "%s"), code) > 0);
		text(&fb, json);
		assert_int_equal(exectap_budget_new(1 << 20, 1 << 20, &bud), 0);
		assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &sb, &t), 0);
		assert_int_equal(exectap_set_budget(t, bud, "u"), 0);
		for (size_t i = 0; i < fb.len; i += 1000)
			assert_int_equal(exectap_feed(t, fb.p + i, fb.len - i < 1000 ? fb.len - i : 1000), 0);
		assert_int_equal(sb.n, 1);
		assert_int_equal(sb.code_len, big);
		assert_int_equal(exectap_budget_used(bud, NULL), 0);
		exectap_free(t);
		exectap_budget_free(bud);
		seen_reset(&sb);
		bytes_free(&fb);
		free(json);
		free(code);
	}
	seen_reset(&sa);
	seen_reset(&sa2);
	seen_reset(&sc);
	seen_reset(&sd);
	bytes_free(&fa);
	bytes_free(&fa2);
	bytes_free(&fc);
	bytes_free(&fd);
	bytes_free(&ping);
}

static void expect_badmsg(struct bytes *b)
{
	struct seen s = {0};
	struct exectap *t = NULL;
	struct bytes good = {0};

	assert_int_equal(run(b, 1 << 20, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	assert_int_equal(run_bytewise(b, 1 << 20, &s), -EBADMSG);
	assert_int_equal(s.n, 0);

	/* sticky: a valid message afterwards is not decoded */
	text(&good, EXEC_JSON("late", "\"print(1)\""));
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &s, &t), 0);
	assert_int_equal(exectap_feed(t, b->p, b->len), -EBADMSG);
	assert_int_equal(exectap_feed(t, good.p, good.len), -EBADMSG);
	exectap_free(t);
	assert_int_equal(s.n, 0);
	bytes_free(&good);
	bytes_free(b);
}

static void test_framing_violations(void **state)
{
	struct bytes b = {0};
	const char *m = EXEC_JSON("v", "\"print(1)\"");
	static const uint8_t len64_msb[] = {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};

	frame(&b, 1, F_FIN | F_UNMASKED, m, strlen(m));
	expect_badmsg(&b);
	frame(&b, 1, F_FIN | F_RSV1, m, strlen(m));
	expect_badmsg(&b);
	frame(&b, 3, F_FIN, m, strlen(m));
	expect_badmsg(&b);
	frame(&b, 0xb, F_FIN, "", 0);
	expect_badmsg(&b);
	frame(&b, 9, 0, "x", 1); /* fragmented control frame */
	expect_badmsg(&b);
	char long_ping[126] = {0};
	frame(&b, 9, F_FIN, long_ping, sizeof(long_ping));
	expect_badmsg(&b);
	frame(&b, 0, F_FIN, m, strlen(m)); /* continuation with nothing to continue */
	expect_badmsg(&b);
	frame(&b, 1, 0, m, 5);
	frame(&b, 1, F_FIN, m, strlen(m)); /* new message inside a fragmented one */
	expect_badmsg(&b);
	bytes_put(&b, len64_msb, sizeof(len64_msb));
	expect_badmsg(&b);
	/* violation after a good message: the good one is still reported */
	struct seen s = {0};
	text(&b, m);
	frame(&b, 2, F_FIN | F_UNMASKED, "x", 1);
	assert_int_equal(run(&b, 1 << 20, &s), -EBADMSG);
	assert_int_equal(s.n, 1);
	seen_reset(&s);
	bytes_free(&b);
}

static void test_close_stops(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};

	frame(&b, 8, F_FIN, "\x03\xe8", 2);
	text(&b, EXEC_JSON("after-close", "\"print(1)\""));
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 0);
	bytes_free(&b);
}

static int count_reports(const char *json)
{
	struct bytes b = {0};
	struct seen s = {0};
	int n;

	text(&b, json);
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	n = s.n;
	seen_reset(&s);
	bytes_free(&b);
	return n;
}

static void test_json_selection(void **state)
{
	struct bytes b = {0};
	struct seen s = {0};

	/* not execute_request, not an executing channel, or not JSON at all */
	assert_int_equal(count_reports("{\"channel\": \"shell\", \"header\": {\"msg_type\": \"kernel_info_request\", "
				       "\"msg_id\": \"k\"}, \"content\": {}}"),
			 0);
	assert_int_equal(count_reports("{\"channel\": \"shell\", \"header\": {\"msg_type\": \"comm_msg\"}, "
				       "\"content\": {\"code\": \"print(1)\"}}"),
			 0);
	assert_int_equal(count_reports("{\"channel\": \"iopub\", \"header\": {\"msg_type\": \"execute_request\"}, "
				       "\"content\": {\"code\": \"print(1)\"}}"),
			 0);
	assert_int_equal(count_reports("{\"channel\": \"stdin\", \"header\": {\"msg_type\": \"execute_request\"}, "
				       "\"content\": {\"code\": \"print(1)\"}}"),
			 0);
	assert_int_equal(
	    count_reports(
		"{\"channel\": 5, \"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"x\"}}"),
	    0);
	assert_int_equal(count_reports("{\"channel\": \"shell\", \"header\": \"execute_request\"}"), 0);
	assert_int_equal(count_reports("{not json"), 0);
	assert_int_equal(count_reports("[1, 2, 3]"), 0);
	assert_int_equal(count_reports("null"), 0);
	assert_int_equal(count_reports(""), 0);
	assert_int_equal(count_reports("{\"channel\": \"shell\", \"header\": {\"msg_type\": \"comm_msg\"}} trailing"),
			 0);

	/* what the server does execute: no channel means shell; control executes too */
	assert_int_equal(
	    count_reports(
		"{\"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"a\"}, \"content\": {\"code\": \"1\"}}"),
	    1);
	assert_int_equal(
	    count_reports(
		"{\"channel\": null, \"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"1\"}}"),
	    1);
	assert_int_equal(count_reports("{\"channel\": \"control\", \"header\": {\"msg_type\": \"execute_request\"}, "
				       "\"content\": {\"code\": \"1\"}}"),
			 1);
	/* duplicate keys: the last wins, as in Python */
	assert_int_equal(count_reports("{\"header\": {\"msg_type\": \"comm_msg\", \"msg_type\": \"execute_request\"}, "
				       "\"content\": {\"code\": \"1\"}}"),
			 1);
	assert_int_equal(count_reports("{\"header\": {\"msg_type\": \"execute_request\", \"msg_type\": \"comm_msg\"}, "
				       "\"content\": {\"code\": \"1\"}}"),
			 0);

	/* escapes and NUL in code: the decoded bytes are hashed */
	text(&b, "{\"header\": {\"msg_type\": \"execute\\u005frequest\", \"msg_id\": \"e\"}, \"content\": {\"code\": "
		 "\"a\\u0000b\"}}");
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.code_len, 3);
	assert_memory_equal(s.code, "a\0b", 3);
	assert_string_equal(s.sha, "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
	bytes_free(&b);
	seen_reset(&s);

	/* code missing or not a string: recorded, without code */
	text(&b, "{\"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"nc\"}, \"content\": {\"code\": 42}}");
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg_id, "nc");
	assert_null(s.code);
	assert_string_equal(s.sha, "");
	bytes_free(&b);
	seen_reset(&s);

	/* empty code */
	text(&b, EXEC_JSON("empty", "\"\""));
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.code_len, 0);
	assert_string_equal(s.sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	bytes_free(&b);
	seen_reset(&s);

	/* JSON Python accepts and jansson does not: existence still recorded */
	text(&b, "{\"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"n\"}, \"content\": {\"code\": \"1\", "
		 "\"x\": NaN}}");
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_true(s.undecodable);
	assert_null(s.code);
	bytes_free(&b);
	seen_reset(&s);
	assert_int_equal(count_reports("{\"header\": {\"msg_type\": \"comm_msg\"}, \"x\": NaN}"), 0);
	/* big integers are fine */
	assert_int_equal(count_reports("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": "
				       "\"1\", \"n\": 123456789012345678901234567890}}"),
			 1);
}

/* ---- binary formats ---- */

static void read_vector(const char *name, struct bytes *out)
{
	char path[4096];
	char *data = NULL;
	size_t len = 0;

	assert_true(nbw_snprintf(path, sizeof(path), "%s/%s", VECTOR_DIR, name) > 0);
	assert_int_equal(nbw_read_file(path, 1 << 20, &data, &len), 0);
	bytes_put(out, data, len);
	free(data);
}

static void test_v1_real_vector(void **state)
{
	struct bytes msg = {0}, sha = {0}, b = {0};
	struct seen s = {0};
	struct exectap *t = NULL;

	read_vector("v1_execute.bin", &msg);
	read_vector("v1_execute.sha256", &sha);
	assert_true(sha.len >= 64);
	sha.p[64] = 0;

	frame(&b, 2, F_FIN, msg.p, msg.len);
	for (size_t at = 0; at <= b.len; at++) {
		seen_reset(&s);
		assert_int_equal(run_split(&b, at, 1 << 20, &s), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.msg_id, "8c1b9a2e-1f6d-4c55-9d2a-6a3f0e7b1c42");
		assert_string_equal(s.code, "import os\nprint('h\xc3\xa9llo', os.getpid())\n");
		assert_string_equal(s.sha, (char *)sha.p);
		assert_string_equal(s.sha, "f65e6ca6044ee3ae8764661b0f8315c61b453ddde77faea4936a8de3a434191f");
	}

	/* negotiated v1: decoded; negotiated legacy: the same bytes are not JSON */
	seen_reset(&s);
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &s, &t), 0);
	exectap_set_subprotocol(t, "v1.kernel.websocket.jupyter.org");
	assert_int_equal(exectap_feed(t, b.p, b.len), 0);
	exectap_free(t);
	assert_int_equal(s.n, 1);
	seen_reset(&s);
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &s, &t), 0);
	exectap_set_subprotocol(t, NULL);
	assert_int_equal(exectap_feed(t, b.p, b.len), 0);
	exectap_free(t);
	assert_int_equal(s.n, 0);

	/* every truncation of the message: no crash; the full one reports */
	for (size_t cut = 0; cut < msg.len; cut++) {
		struct bytes c = {0};
		seen_reset(&s);
		frame(&c, 2, F_FIN, msg.p, cut);
		assert_int_equal(run(&c, 1 << 20, &s), 0);
		assert_true(s.n <= 1);
		bytes_free(&c);
	}
	seen_reset(&s);
	bytes_free(&msg);
	bytes_free(&sha);
	bytes_free(&b);
}

static void put_u64le(struct bytes *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	bytes_put(b, x, 8);
}

/* Build a v1 message the way serialize_msg_to_ws_v1 does. */
static void v1_build(struct bytes *out, const char *channel, const char *const parts[4])
{
	uint64_t off = 8 * (1 + 1 + 4 + 1);

	put_u64le(out, 6);
	put_u64le(out, off);
	off += strlen(channel);
	put_u64le(out, off);
	for (int i = 0; i < 4; i++) {
		off += strlen(parts[i]);
		put_u64le(out, off);
	}
	bytes_put(out, channel, strlen(channel));
	for (int i = 0; i < 4; i++)
		bytes_put(out, parts[i], strlen(parts[i]));
}

static int v1_reports(const char *channel, const char *const parts[4])
{
	struct bytes m = {0}, b = {0};
	struct seen s = {0};
	int n;

	v1_build(&m, channel, parts);
	frame(&b, 2, F_FIN, m.p, m.len);
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	n = s.n;
	seen_reset(&s);
	bytes_free(&m);
	bytes_free(&b);
	return n;
}

static void test_v1_crafted(void **state)
{
	const char *const exec[4] = {"{\"msg_type\": \"execute_request\", \"msg_id\": \"c\"}", "{}", "{}",
				     "{\"code\": \"print(1)\"}"};
	const char *const other[4] = {"{\"msg_type\": \"kernel_info_request\"}", "{}", "{}", "{}"};
	const char *const badjson[4] = {"{\"msg_type\": \"execute_request\"", "{}", "{}", "{}"};
	const char *const garbage[4] = {"\x01\x02\x03", "", "", ""};

	assert_int_equal(v1_reports("shell", exec), 1);
	assert_int_equal(v1_reports("control", exec), 1);
	assert_int_equal(v1_reports("iopub", exec), 0);
	assert_int_equal(v1_reports("stdin", exec), 0);
	assert_int_equal(v1_reports("shel", exec), 0);
	assert_int_equal(v1_reports("shell", other), 0);
	assert_int_equal(v1_reports("shell", garbage), 0);
	assert_int_equal(v1_reports("shell", badjson), 1); /* undecodable, but recorded */

	/* offsets past the end or reversed: Python slicing, no crash, no report */
	struct bytes m = {0}, b = {0};
	struct seen s = {0};
	put_u64le(&m, 6);
	put_u64le(&m, 56);
	put_u64le(&m, 61);
	put_u64le(&m, UINT64_MAX);
	put_u64le(&m, 3);
	put_u64le(&m, UINT64_MAX - 1);
	put_u64le(&m, 0);
	bytes_put(&m, "shell{\"msg_type\": 1}", 20);
	frame(&b, 2, F_FIN, m.p, m.len);
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 0);
	bytes_free(&b);
	/* huge offset count */
	m.p[7] = 0xff;
	frame(&b, 2, F_FIN, m.p, m.len);
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 0);
	bytes_free(&b);
	bytes_free(&m);
}

static void test_legacy_binary(void **state)
{
	const char *json =
	    "{\"channel\": \"shell\", \"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"lb\"}, "
	    "\"parent_header\": {}, \"content\": {\"code\": \"print(1)\"}}";
	struct bytes m = {0}, b = {0};
	struct seen s = {0};
	uint8_t hdr[12] = {0, 0, 0, 2, 0, 0, 0, 12};
	uint32_t end = (uint32_t)(12 + strlen(json));

	hdr[8] = (uint8_t)(end >> 24);
	hdr[9] = (uint8_t)(end >> 16);
	hdr[10] = (uint8_t)(end >> 8);
	hdr[11] = (uint8_t)end;
	bytes_put(&m, hdr, sizeof(hdr));
	bytes_put(&m, json, strlen(json));
	bytes_put(&m, "\xff\xfe buffer", 9);
	frame(&b, 2, F_FIN, m.p, m.len);
	assert_int_equal(run(&b, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg_id, "lb");
	assert_string_equal(s.sha, SHA_PRINT1);
	seen_reset(&s);

	struct exectap *t = NULL;
	assert_int_equal(exectap_new(KID, 1 << 20, on_exec, &s, &t), 0);
	exectap_set_subprotocol(t, NULL);
	assert_int_equal(exectap_feed(t, b.p, b.len), 0);
	exectap_set_subprotocol(t, "v1.kernel.websocket.jupyter.org");
	assert_int_equal(exectap_feed(t, b.p, b.len), 0);
	exectap_free(t);
	assert_int_equal(s.n, 1); /* only under the legacy subprotocol */
	seen_reset(&s);
	bytes_free(&b);
	bytes_free(&m);
}

static void sha_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	nbw_hex_encode(md, 32, out);
}

/* One text message into a fresh tap: exactly one report expected. */
static void expect_one(const char *json, struct seen *s)
{
	struct bytes b = {0};
	char sha[65];

	seen_reset(s);
	text(&b, json);
	assert_int_equal(run(&b, 1 << 20, s), 0);
	assert_int_equal(s->n, 1);
	if (s->code) {
		sha_hex(s->code, s->code_len, sha);
		assert_string_equal(s->sha, sha);
	}
	bytes_free(&b);
}

static void test_user_expressions(void **state)
{
	struct seen s = {0};

	/* the evasion: empty code, the payload in user_expressions */
	expect_one("{\"channel\": \"shell\", \"header\": {\"msg_type\": \"execute_request\", \"msg_id\": \"ue\"}, "
		   "\"content\": {\"code\": \"\", \"user_expressions\": {\"x\": "
		   "\"__import__('os').system('id')\"}}}",
		   &s);
	assert_string_equal(s.msg_type, "execute_request");
	assert_string_equal(s.msg_id, "ue");
	assert_string_equal(s.code, "\n# nbwarden: user_expressions={\"x\":\"__import__('os').system('id')\"}");
	assert_int_equal(s.code_len, strlen(s.code));

	/* with code: both, in order; several expressions keep their order */
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"a = 1\", "
		   "\"user_expressions\": {\"b\": \"a + 1\", \"a\": \"open('/etc/passwd').read()\"}}}",
		   &s);
	assert_string_equal(
	    s.code, "a = 1\n# nbwarden: user_expressions={\"b\":\"a + 1\",\"a\":\"open('/etc/passwd').read()\"}");

	/* empty object, missing, null, or not an object: the code alone */
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"print(1)\", "
		   "\"user_expressions\": {}}}",
		   &s);
	assert_string_equal(s.sha, SHA_PRINT1);
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"print(1)\", "
		   "\"user_expressions\": null}}",
		   &s);
	assert_string_equal(s.sha, SHA_PRINT1);
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"print(1)\", "
		   "\"user_expressions\": [\"x\"]}}",
		   &s);
	assert_string_equal(s.sha, SHA_PRINT1);

	/* NUL inside code and expression: kept (escaped in the JSON part), hashed in full */
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"a\\u0000b\", "
		   "\"user_expressions\": {\"k\": \"x\\u0000y\"}}}",
		   &s);
	assert_int_equal(s.code_len, 3 + strlen("\n# nbwarden: user_expressions={\"k\":\"x\\u0000y\"}"));
	assert_memory_equal(s.code, "a\0b\n# nbwarden: user_expressions={\"k\":\"x\\u0000y\"}", s.code_len);

	/* the last duplicate wins, as in Python */
	expect_one("{\"header\": {\"msg_type\": \"execute_request\"}, \"content\": {\"code\": \"\", "
		   "\"user_expressions\": {}, \"user_expressions\": {\"z\": \"1\"}}}",
		   &s);
	assert_string_equal(s.code, "\n# nbwarden: user_expressions={\"z\":\"1\"}");

	/* v1 binary format too */
	{
		const char *const parts[4] = {"{\"msg_type\": \"execute_request\", \"msg_id\": \"v\"}", "{}", "{}",
					      "{\"code\": \"\", \"user_expressions\": {\"x\": \"1+1\"}}"};
		struct bytes m = {0}, b = {0};

		seen_reset(&s);
		v1_build(&m, "shell", parts);
		frame(&b, 2, F_FIN, m.p, m.len);
		assert_int_equal(run(&b, 1 << 20, &s), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.code, "\n# nbwarden: user_expressions={\"x\":\"1+1\"}");
		bytes_free(&m);
		bytes_free(&b);
	}
	seen_reset(&s);
}

static void test_debug_request(void **state)
{
	struct seen s = {0};
	const char *bp =
	    "{\"channel\": \"control\", \"header\": {\"msg_type\": \"debug_request\", \"msg_id\": \"d1\"}, "
	    "\"content\": {\"seq\": 3, \"type\": \"request\", \"command\": \"setBreakpoints\", "
	    "\"arguments\": {\"source\": {\"path\": \"/tmp/x.py\"}, \"breakpoints\": [{\"line\": 1, "
	    "\"condition\": \"__import__('os').system('id')\"}]}}}";

	expect_one(bp, &s);
	assert_string_equal(s.msg_type, "debug_request");
	assert_string_equal(s.msg_id, "d1");
	assert_string_equal(s.code, "{\"seq\":3,\"type\":\"request\",\"command\":\"setBreakpoints\",\"arguments\":{"
				    "\"source\":{\"path\":\"/tmp/x.py\"},\"breakpoints\":[{\"line\":1,"
				    "\"condition\":\"__import__('os').system('id')\"}]}}");
	assert_false(s.oversized);
	assert_false(s.undecodable);

	/* shell channel, no channel, dumpCell: all reported; content missing is "null" */
	expect_one("{\"channel\": \"shell\", \"header\": {\"msg_type\": \"debug_request\"}, \"content\": "
		   "{\"command\": \"dumpCell\", \"arguments\": {\"code\": \"import os\"}}}",
		   &s);
	assert_string_equal(s.code, "{\"command\":\"dumpCell\",\"arguments\":{\"code\":\"import os\"}}");
	expect_one("{\"header\": {\"msg_type\": \"debug_request\", \"msg_id\": \"d3\"}}", &s);
	assert_string_equal(s.code, "null");
	assert_int_equal(count_reports("{\"channel\": \"iopub\", \"header\": {\"msg_type\": \"debug_request\"}, "
				       "\"content\": {}}"),
			 0);
	assert_int_equal(count_reports("{\"channel\": \"control\", \"header\": {\"msg_type\": \"debug_reply\"}, "
				       "\"content\": {}}"),
			 0);

	/* JSON that only Python reads: existence, without code */
	expect_one("{\"channel\": \"control\", \"header\": {\"msg_type\": \"debug_request\"}, \"content\": "
		   "{\"x\": NaN}}",
		   &s);
	assert_true(s.undecodable);
	assert_null(s.code);

	/* v1 on the control channel */
	{
		const char *const parts[4] = {"{\"msg_type\": \"debug_request\", \"msg_id\": \"dv\"}", "{}", "{}",
					      "{\"command\": \"evaluate\", \"arguments\": {\"expression\": \"1\"}}"};
		struct bytes m = {0}, b = {0};

		seen_reset(&s);
		v1_build(&m, "control", parts);
		frame(&b, 2, F_FIN, m.p, m.len);
		assert_int_equal(run(&b, 1 << 20, &s), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.msg_type, "debug_request");
		assert_string_equal(s.msg_id, "dv");
		assert_string_equal(s.code, "{\"command\":\"evaluate\",\"arguments\":{\"expression\":\"1\"}}");
		bytes_free(&m);
		bytes_free(&b);
	}
	seen_reset(&s);
}

static void test_wsbound(void **state)
{
	struct bytes b = {0};
	size_t ends[8], n_ends = 0, n_seen = 0;
	static char payload[70000];
	struct proxy__wsbound wb;

	/* server frames: small, empty, 16-bit, 64-bit length, and a masked one */
	frame(&b, 1, F_FIN | F_UNMASKED, "hello", 5);
	ends[n_ends++] = b.len;
	frame(&b, 9, F_FIN | F_UNMASKED, "", 0);
	ends[n_ends++] = b.len;
	frame(&b, 2, F_FIN | F_UNMASKED, payload, 300);
	ends[n_ends++] = b.len;
	frame(&b, 2, F_FIN | F_UNMASKED, payload, sizeof(payload));
	ends[n_ends++] = b.len;
	frame(&b, 1, F_FIN, "masked", 6);
	ends[n_ends++] = b.len;

	memset(&wb, 0, sizeof(wb));
	assert_true(proxy__wsbound_at_boundary(&wb));
	for (size_t i = 0; i < b.len; i++) {
		assert_int_equal(proxy__wsbound_advance(&wb, b.p + i, 1, false), 1);
		if (proxy__wsbound_at_boundary(&wb)) {
			assert_true(n_seen < n_ends);
			assert_int_equal(i + 1, ends[n_seen]);
			n_seen++;
		}
	}
	assert_int_equal(n_seen, n_ends);

	/* from anywhere, stopping at the next boundary */
	for (size_t at = 0; at < b.len; at++) {
		size_t next = 0, used;

		memset(&wb, 0, sizeof(wb));
		assert_int_equal(proxy__wsbound_advance(&wb, b.p, at, false), at);
		for (size_t k = 0; k < n_ends; k++)
			if (ends[k] >= at && (at == 0 || ends[k] > at || proxy__wsbound_at_boundary(&wb))) {
				next = ends[k];
				break;
			}
		used = proxy__wsbound_advance(&wb, b.p + at, b.len - at, true);
		assert_true(proxy__wsbound_at_boundary(&wb));
		if (at == 0)
			assert_int_equal(used, 0);
		else
			assert_int_equal(at + used, next);
	}
	bytes_free(&b);
}

static void test_match_path(void **state)
{
	char id[64];

	assert_true(exectap_match_path("/user/alice/api/kernels/0b6b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/channels", id,
				       sizeof(id)));
	assert_string_equal(id, "0b6b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_true(exectap_match_path("/user/bob_2/api/kernels/ABCdef/channels", id, sizeof(id)));
	assert_string_equal(id, "ABCdef");

	assert_false(exectap_match_path("/user/alice/api/kernels/0b6b/channels/", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels/0b6b/channelsx", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels//channels", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels/0b6g/channels", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels/0b6b/../x/channels", id, sizeof(id)));
	assert_false(exectap_match_path("/user//api/kernels/0b6b/channels", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/x/api/kernels/0b6b/channels", id, sizeof(id)));
	assert_false(exectap_match_path("/hub/api/kernels/0b6b/channels", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels/0b6b", id, sizeof(id)));
	assert_false(exectap_match_path("/user/alice/api/kernels/0b6b/channels?x=1", id, sizeof(id)));
	assert_false(exectap_match_path("user/alice/api/kernels/0b6b/channels", id, sizeof(id)));
	assert_false(exectap_match_path("", id, sizeof(id)));
	assert_false(exectap_match_path(NULL, id, sizeof(id)));

	char long_path[256], long_id[80];
	memset(long_id, 'a', 63);
	long_id[63] = 0;
	assert_true(nbw_snprintf(long_path, sizeof(long_path), "/user/a/api/kernels/%s/channels", long_id) > 0);
	assert_true(exectap_match_path(long_path, id, sizeof(id)));
	assert_string_equal(id, long_id);
	assert_false(exectap_match_path(long_path, id, 63)); /* no room */
	memset(long_id, 'a', 64);
	long_id[64] = 0;
	assert_true(nbw_snprintf(long_path, sizeof(long_path), "/user/a/api/kernels/%s/channels", long_id) > 0);
	assert_false(exectap_match_path(long_path, id, sizeof(id)));
}

static void test_new_args(void **state)
{
	struct exectap *t = NULL;
	struct seen s = {0};
	char long_id[100];

	assert_int_equal(exectap_new(KID, 0, on_exec, &s, &t), -EINVAL);
	assert_int_equal(exectap_new(NULL, 10, on_exec, &s, &t), -EINVAL);
	assert_int_equal(exectap_new(KID, 10, NULL, &s, &t), -EINVAL);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	assert_int_equal(exectap_new(long_id, 10, on_exec, &s, &t), -EINVAL);
	assert_null(t);
	exectap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_execute),
	    cmocka_unit_test(test_split_every_boundary),
	    cmocka_unit_test(test_fragmented_with_ping),
	    cmocka_unit_test(test_len64),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_framing_violations),
	    cmocka_unit_test(test_close_stops),
	    cmocka_unit_test(test_json_selection),
	    cmocka_unit_test(test_v1_real_vector),
	    cmocka_unit_test(test_v1_crafted),
	    cmocka_unit_test(test_legacy_binary),
	    cmocka_unit_test(test_user_expressions),
	    cmocka_unit_test(test_debug_request),
	    cmocka_unit_test(test_wsbound),
	    cmocka_unit_test(test_match_path),
	    cmocka_unit_test(test_new_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
