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

struct exectap {
	char kernel_id[KERNEL_ID_MAX + 1];
	exectap_cb cb;
	void *ud;
	enum binary_format bin;
	struct proxy__wsframe ws;
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

/* Could these bytes, once parsed by Python, spell msg_type execute_request? */
static bool could_be_execute(struct span s)
{
	return span_contains(s, "execute_request") || span_contains(s, "\\u");
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
	/* JSON_DECODE_INT_AS_REAL: big integers that Python takes must not fail
	 * the parse; jansson's own depth limit (2048) is above Python's
	 * recursion limit. */
	return json_loadb((const char *)s.p, s.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
}

static void report(struct exectap *t, const char *msg_id, json_t *code, bool oversized, bool undecodable)
{
	struct exectap_exec e = {
	    .kernel_id = t->kernel_id,
	    .msg_id = msg_id ? msg_id : "",
	    .oversized = oversized,
	    .undecodable = undecodable,
	};

	if (json_is_string(code)) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;

		e.code = json_string_value(code);
		e.code_len = json_string_length(code);
		if (EVP_Digest(e.code, e.code_len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32)
			nbw_hex_encode(md, 32, e.sha256_hex);
		else
			e.code = NULL, e.code_len = 0; /* never report code without its hash */
	}
	t->cb(&e, t->ud);
}

static bool is_execute_header(json_t *header)
{
	return json_is_object(header) && json_str_eq(json_object_get(header, "msg_type"), "execute_request");
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
	json_t *msg = parse_json(s), *channel, *header, *content;
	bool reported = false;

	if (!msg) {
		if (could_be_execute(s)) {
			report(t, NULL, NULL, false, true);
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
	if (!is_execute_header(header))
		goto out;
	content = json_object_get(msg, "content");
	report(t, header_msg_id(header), json_is_object(content) ? json_object_get(content, "code") : NULL, false,
	       false);
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
			report(t, NULL, NULL, false, true);
			return true;
		}
		return false;
	}
	if (!is_execute_header(header))
		goto out;

	content = parse_json(cpart);
	if (!content) {
		report(t, header_msg_id(header), NULL, false, true);
	} else {
		report(t, header_msg_id(header), json_is_object(content) ? json_object_get(content, "code") : NULL,
		       false, false);
	}
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
		report(t, NULL, NULL, true, false);
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

	if (!kernel_id || !cb || !ret || max_message == 0 || max_message > SIZE_MAX / 2)
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

int exectap_feed(struct exectap *t, const void *data, size_t len)
{
	return proxy__wsframe_feed(&t->ws, data, len, on_message, t);
}

void exectap_set_subprotocol(struct exectap *t, const char *subprotocol)
{
	t->bin = subprotocol && streq(subprotocol, V1_SUBPROTOCOL) ? BIN_V1 : BIN_LEGACY;
}

void exectap_free(struct exectap *t)
{
	if (!t)
		return;
	proxy__wsframe_done(&t->ws);
	free(t);
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
