/* exectap: passive execute_request decoder for kernel WebSocket client streams.
 *
 * What counts as an execute_request mirrors what Debian's jupyter_server 1.23
 * and ipykernel actually execute, so a client cannot slip code past the tap:
 * - channel "shell" or "control" (ipykernel's control handlers include
 *   execute_request); a legacy JSON message without a channel (or null) goes
 *   to shell (ZMQChannelsHandler.on_message);
 * - duplicate JSON keys: the last one wins, as in Python's json (jansson does
 *   the same without JSON_REJECT_DUPLICATES);
 * - v1 offsets are read with Python's lenient slicing (a short or reversed
 *   range is an empty part, not an error);
 * - JSON that Python accepts and jansson does not (NaN, 1e400, invalid UTF-8
 *   decoded with "replace") is reported as undecodable when the bytes could
 *   hold an execute_request. */
#include "proxy/exectap.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "proxy/wsframe.h"

#define V1_SUBPROTOCOL "v1.kernel.websocket.jupyter.org"
#define KERNEL_ID_MAX 63

enum binary_format { BIN_UNKNOWN, BIN_V1, BIN_LEGACY };

/* Shared accounting of reassembly memory: one entry per key (server user)
 * with taps charged to it, freed with its last tap. */
struct budget_key {
	struct budget_key *next;
	size_t used;
	unsigned refs;
	char name[];
};

struct exectap_budget {
	size_t total, per_key;
	size_t used;
	struct budget_key *keys;
};

struct exectap {
	char kernel_id[KERNEL_ID_MAX + 1];
	exectap_cb cb;
	void *ud;
	enum binary_format bin;
	struct proxy__wsframe ws;
	struct exectap_budget *budget;
	struct budget_key *key;
};

/* A non-owning view of message bytes. */
struct span {
	const uint8_t *p;
	size_t len;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static bool span_contains(struct span s, const char *lit)
{
	return memmem(s.p, s.len, lit, strlen(lit)) != NULL;
}

/* Could these bytes, once parsed by Python, spell msg_type execute_request
 * or debug_request? */
static bool could_be_execute(struct span s)
{
	return span_contains(s, "execute_request") || span_contains(s, "debug_request") || span_contains(s, "\\u");
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* A JSON string equal to lit (no embedded NUL). */
static bool json_str_eq(json_t *j, const char *lit)
{
	return json_is_string(j) && json_string_length(j) == strlen(lit) && streq(json_string_value(j), lit);
}

static json_t *parse_json(struct span s)
{
	json_t *j = json_loadb((const char *)s.p, s.len, JSON_ALLOW_NUL, NULL);

	/* Integers beyond 64 bits that Python takes must not fail the parse:
	 * then as reals (only then, so that recorded JSON keeps "1", not "1.0").
	 * jansson's own depth limit (2048) is above Python's recursion limit. */
	if (!j)
		j = json_loadb((const char *)s.p, s.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
	return j;
}

/* The message types the tap reports: each runs code in the kernel. */
enum kind { K_OTHER = 0, K_EXECUTE, K_DEBUG };

static const char *kind_name(enum kind k)
{
	return k == K_EXECUTE ? "execute_request" : k == K_DEBUG ? "debug_request" : "unknown";
}

static void report_bytes(struct exectap *t, enum kind k, const char *msg_id, const char *code, size_t code_len,
			 bool oversized, bool undecodable)
{
	struct exectap_exec e = {
	    .kernel_id = t->kernel_id,
	    .msg_type = kind_name(k),
	    .msg_id = msg_id ? msg_id : "",
	    .oversized = oversized,
	    .undecodable = undecodable,
	};

	if (code) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;

		if (EVP_Digest(code, code_len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
			nbw_hex_encode(md, 32, e.sha256_hex);
			e.code = code;
			e.code_len = code_len;
		}
		/* else: never report code without its hash */
	}
	t->cb(&e, t->ud);
}

/* Existence only: the code is not known. */
static void report_unknown(struct exectap *t, enum kind k, const char *msg_id, bool oversized)
{
	report_bytes(t, k, msg_id, NULL, 0, oversized, !oversized);
}

/* Compact JSON of any value, NUL-terminated; NULL on failure. */
static char *dump_compact(json_t *j, size_t *ret_len)
{
	char *s = json_dumps(j ? j : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);

	if (s)
		*ret_len = strlen(s); /* jansson escapes a NUL inside a string */
	return s;
}

#define USER_EXPRESSIONS_TAG "\n# nbwarden: user_expressions="

/* execute_request: content.code, plus the user_expressions that ipykernel
 * evaluates after it (any non-empty object), so that the recorded text and its
 * hash cover everything that runs. A code that is not a string is recorded
 * without code (ipykernel fails such a request before user_expressions). */
static void report_execute(struct exectap *t, const char *msg_id, json_t *content)
{
	json_t *code = json_is_object(content) ? json_object_get(content, "code") : NULL;
	json_t *ue = json_is_object(content) ? json_object_get(content, "user_expressions") : NULL;
	_cleanup_free_ char *ue_text = NULL, *all = NULL;
	size_t ue_len = 0, code_len, tag_len = strlen(USER_EXPRESSIONS_TAG), total;

	if (!json_is_string(code)) {
		report_bytes(t, K_EXECUTE, msg_id, NULL, 0, false, false);
		return;
	}
	code_len = json_string_length(code);
	if (!json_is_object(ue) || json_object_size(ue) == 0) {
		report_bytes(t, K_EXECUTE, msg_id, json_string_value(code), code_len, false, false);
		return;
	}
	ue_text = dump_compact(ue, &ue_len);
	total = code_len + tag_len + ue_len;
	all = ue_text && total >= code_len ? malloc(total + 1) : NULL;
	if (!all) {
		/* cannot build the text: existence only, never the code alone */
		report_unknown(t, K_EXECUTE, msg_id, false);
		return;
	}
	memcpy(all, json_string_value(code), code_len);
	memcpy(all + code_len, USER_EXPRESSIONS_TAG, tag_len);
	memcpy(all + code_len + tag_len, ue_text, ue_len);
	all[total] = 0;
	report_bytes(t, K_EXECUTE, msg_id, all, total, false, false);
}

/* debug_request (debugpy: setBreakpoints with conditions, evaluate, dumpCell,
 * ... run code): the whole content, as compact JSON. */
static void report_debug(struct exectap *t, const char *msg_id, json_t *content)
{
	size_t len = 0;
	_cleanup_free_ char *text = dump_compact(content, &len);

	if (!text) {
		report_unknown(t, K_DEBUG, msg_id, false);
		return;
	}
	report_bytes(t, K_DEBUG, msg_id, text, len, false, false);
}

static void report_content(struct exectap *t, enum kind k, const char *msg_id, json_t *content)
{
	if (k == K_EXECUTE)
		report_execute(t, msg_id, content);
	else
		report_debug(t, msg_id, content);
}

static enum kind header_kind(json_t *header)
{
	json_t *type;

	if (!json_is_object(header))
		return K_OTHER;
	type = json_object_get(header, "msg_type");
	if (json_str_eq(type, "execute_request"))
		return K_EXECUTE;
	if (json_str_eq(type, "debug_request"))
		return K_DEBUG;
	return K_OTHER;
}

static const char *header_msg_id(json_t *header)
{
	json_t *id = json_object_get(header, "msg_id");
	return json_is_string(id) ? json_string_value(id) : "";
}

/* A whole message as one JSON object (legacy text, or part 0 of the legacy
 * binary framing). Returns true if it reported. */
static bool inspect_legacy_json(struct exectap *t, struct span s)
{
	json_t *msg = parse_json(s), *channel, *header;
	enum kind k;
	bool reported = false;

	if (!msg) {
		if (could_be_execute(s)) {
			report_unknown(t, K_OTHER, NULL, false);
			return true;
		}
		return false;
	}
	if (!json_is_object(msg))
		goto out;

	channel = json_object_get(msg, "channel");
	if (channel && !json_is_null(channel) && !json_str_eq(channel, "shell") && !json_str_eq(channel, "control"))
		goto out;

	header = json_object_get(msg, "header");
	k = header_kind(header);
	if (k == K_OTHER)
		goto out;
	report_content(t, k, header_msg_id(header), json_object_get(msg, "content"));
	reported = true;
out:
	json_decref(msg);
	return reported;
}

/* Python's int.from_bytes(b[off:off+8], "little"): past the end there are
 * fewer bytes (a smaller value) or none (0). */
static uint64_t py_u64le(struct span s, uint64_t off)
{
	uint64_t v = 0;
	size_t avail;

	if (off >= s.len)
		return 0;
	avail = s.len - (size_t)off < 8 ? s.len - (size_t)off : 8;
	for (size_t i = 0; i < avail; i++)
		v |= (uint64_t)s.p[off + i] << (8 * i);
	return v;
}

/* Python's s[a:b] for non-negative a, b. */
static struct span py_slice(struct span s, uint64_t a, uint64_t b)
{
	if (a > s.len)
		a = s.len;
	if (b > s.len)
		b = s.len;
	if (b < a)
		b = a;
	return (struct span){s.p + a, (size_t)(b - a)};
}

/* v1.kernel.websocket.jupyter.org: u64le n, n u64le offsets, then channel,
 * header, parent_header, metadata, content, buffers...
 * (jupyter_server.base.zmqhandlers.deserialize_msg_from_ws_v1). The kernel
 * needs the four message parts, so n >= 6. */
static bool inspect_v1(struct exectap *t, struct span s)
{
	uint64_t n, off[6];
	struct span channel, hpart, cpart;
	json_t *header = NULL, *content = NULL;
	enum kind k;
	bool reported = false;

	n = py_u64le(s, 0);
	if (n < 6)
		return false;
	for (unsigned i = 0; i < ARRAY_SIZE(off); i++)
		off[i] = py_u64le(s, 8 * (uint64_t)(i + 1));

	channel = py_slice(s, off[0], off[1]);
	if (!span_eq(channel, "shell") && !span_eq(channel, "control"))
		return false;

	hpart = py_slice(s, off[1], off[2]);
	cpart = py_slice(s, off[4], off[5]);
	header = parse_json(hpart);
	if (!header) {
		if (could_be_execute(hpart)) {
			report_unknown(t, K_OTHER, NULL, false);
			return true;
		}
		return false;
	}
	k = header_kind(header);
	if (k == K_OTHER)
		goto out;

	content = parse_json(cpart);
	if (!content)
		report_unknown(t, k, header_msg_id(header), false);
	else
		report_content(t, k, header_msg_id(header), content);
	reported = true;
out:
	json_decref(content);
	json_decref(header);
	return reported;
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Legacy binary framing (deserialize_binary_message): be32 nbufs, nbufs be32
 * offsets, part 0 is the JSON message, the rest are buffers. */
static bool inspect_legacy_binary(struct exectap *t, struct span s)
{
	int32_t nbufs;
	uint64_t start, stop;

	if (s.len < 4)
		return false;
	nbufs = (int32_t)be32(s.p);
	if (nbufs < 1 || (uint64_t)4 * ((uint64_t)nbufs + 1) > s.len)
		return false;
	start = be32(s.p + 4);
	stop = nbufs >= 2 ? be32(s.p + 8) : s.len;
	return inspect_legacy_json(t, py_slice(s, start, stop));
}

static void on_message(int opcode, const uint8_t *data, size_t len, bool oversized, void *ud)
{
	struct exectap *t = ud;
	struct span s = {data, len};

	if (oversized) {
		report_unknown(t, K_OTHER, NULL, true);
		return;
	}
	if (opcode == WSFRAME_OP_TEXT) {
		inspect_legacy_json(t, s);
		return;
	}
	switch (t->bin) {
	case BIN_V1:
		inspect_v1(t, s);
		break;
	case BIN_LEGACY:
		inspect_legacy_binary(t, s);
		break;
	case BIN_UNKNOWN:
		if (!inspect_v1(t, s))
			inspect_legacy_binary(t, s);
		break;
	}
}

int exectap_new(const char *kernel_id, size_t max_message, exectap_cb cb, void *ud, struct exectap **ret)
{
	struct exectap *t;

	if (!kernel_id || !cb || !ret || max_message == 0 || max_message > SIZE_MAX / 4)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (nbw_strlcpy(t->kernel_id, kernel_id, sizeof(t->kernel_id)) < 0) {
		free(t);
		return -EINVAL;
	}
	t->cb = cb;
	t->ud = ud;
	t->bin = BIN_UNKNOWN;
	proxy__wsframe_init(&t->ws, max_message);
	*ret = t;
	return 0;
}

int exectap_gate(struct exectap *t, const void *data, size_t len, size_t *ret_pass)
{
	return proxy__wsframe_feed(&t->ws, data, len, on_message, t, ret_pass);
}

int exectap_feed(struct exectap *t, const void *data, size_t len)
{
	return exectap_gate(t, data, len, NULL);
}

void exectap_set_subprotocol(struct exectap *t, const char *subprotocol)
{
	t->bin = subprotocol && streq(subprotocol, V1_SUBPROTOCOL) ? BIN_V1 : BIN_LEGACY;
}

void exectap_free(struct exectap *t)
{
	if (!t)
		return;
	proxy__wsframe_done(&t->ws); /* gives back what it charged */
	if (t->key && --t->key->refs == 0) {
		struct budget_key **pp = &t->budget->keys;

		while (*pp != t->key)
			pp = &(*pp)->next;
		*pp = t->key->next;
		free(t->key);
	}
	free(t);
}

/* ---- the reassembly budget ---- */

int exectap_budget_new(size_t total, size_t per_key, struct exectap_budget **ret)
{
	struct exectap_budget *b;

	if (!ret || total == 0 || per_key == 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->total = total;
	b->per_key = per_key;
	*ret = b;
	return 0;
}

void exectap_budget_free(struct exectap_budget *b)
{
	if (!b)
		return;
	assert(!b->keys && b->used == 0); /* every tap charged to it is gone */
	free(b);
}

size_t exectap_budget_used(const struct exectap_budget *b, const char *key)
{
	if (!key)
		return b->used;
	for (const struct budget_key *k = b->keys; k; k = k->next)
		if (streq(k->name, key))
			return k->used;
	return 0;
}

static bool budget_charge(void *ud, size_t from, size_t to)
{
	struct exectap *t = ud;
	struct exectap_budget *b = t->budget;
	struct budget_key *k = t->key;

	if (to <= from) {
		b->used -= from - to;
		k->used -= from - to;
		return true;
	}
	size_t more = to - from;
	if (more > b->total - b->used || more > b->per_key - k->used)
		return false;
	b->used += more;
	k->used += more;
	return true;
}

int exectap_set_budget(struct exectap *t, struct exectap_budget *b, const char *key)
{
	struct budget_key *k;
	size_t n;

	if (!t || !b || !key || t->budget || t->ws.charged > 0)
		return -EINVAL;
	for (k = b->keys; k; k = k->next)
		if (streq(k->name, key))
			break;
	if (!k) {
		n = strlen(key);
		k = calloc(1, sizeof(*k) + n + 1);
		if (!k)
			return -ENOMEM;
		memcpy(k->name, key, n + 1);
		k->next = b->keys;
		b->keys = k;
	}
	k->refs++;
	t->budget = b;
	t->key = k;
	t->ws.charge = budget_charge;
	t->ws.charge_ud = t;
	return 0;
}

static bool is_kernel_id_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

bool exectap_match_path(const char *path, char *kernel_id, size_t size)
{
	static const char user_prefix[] = "/user/";
	static const char api[] = "api/kernels/";
	static const char tail[] = "/channels";
	const char *p, *name_end, *id;
	size_t id_len;

	if (!path || !str_has_prefix(path, user_prefix))
		return false;
	p = path + strlen(user_prefix);
	name_end = strchr(p, '/');
	if (!name_end || name_end == p)
		return false;
	p = name_end + 1;
	if (!str_has_prefix(p, api))
		return false;
	id = p + strlen(api);
	for (id_len = 0; is_kernel_id_char(id[id_len]); id_len++)
		if (id_len >= KERNEL_ID_MAX)
			return false;
	if (id_len == 0 || !streq(id + id_len, tail))
		return false;
	if (!kernel_id || size <= id_len)
		return false;
	memcpy(kernel_id, id, id_len);
	kernel_id[id_len] = 0;
	return true;
}
