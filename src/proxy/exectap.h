/* exectap: passive decoder of the client→server byte stream of a Jupyter
 * kernel WebSocket (/user/NAME/api/kernels/KERNEL_ID/channels). It parses
 * RFC 6455 frames (client frames are masked), reassembles messages up to a
 * bound, and reports every message that runs code in the kernel, with its
 * msg_type, msg_id, the code, its length and SHA-256:
 * - execute_request: content.code; when content.user_expressions is a
 *   non-empty object (ipykernel evaluates each expression after the cell),
 *   the reported code is content.code + "\n# nbwarden: user_expressions=" +
 *   the compact JSON of user_expressions, so the text and its hash cover
 *   everything that runs;
 * - debug_request (debugpy: evaluate, setBreakpoints conditions, dumpCell,
 *   ... run code): the compact JSON of the whole content.
 * Both wire formats: the legacy JSON text messages
 * ({"channel": "shell", "header": {"msg_type": "execute_request", "msg_id": ...},
 * "content": {"code": ...}}) and the binary v1.kernel.websocket.jupyter.org
 * format (offsets table, then channel, header, parent_header, metadata, content),
 * and jupyter_server's legacy binary framing (JSON + buffers). Channels "shell"
 * and "control" both count (ipykernel executes execute_request from either),
 * and a legacy JSON message without a channel goes to shell, as in the server.
 * It never modifies the stream; it tells the proxy which bytes may pass
 * (exectap_gate): a message too big to be decoded must not reach the server. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exectap;

struct exectap_exec {
	const char *kernel_id;
	/* "execute_request" or "debug_request"; "unknown" when the message could
	 * not be read far enough to tell (oversized, undecodable header). */
	const char *msg_type;
	const char *msg_id; /* "" if absent */
	const char *code;   /* the full code (NUL-terminated), NULL if not decodable */
	size_t code_len;
	char sha256_hex[65]; /* of the code bytes; "" if not decodable */
	bool oversized;	     /* message exceeded max_message: code unknown, only its existence recorded */
	/* Looked like an execute_request (the bytes "execute_request" or a JSON
	 * \u escape) but its JSON did not parse here (NaN, huge numbers, invalid
	 * UTF-8 that Python tolerates): code unknown, existence recorded. */
	bool undecodable;
};

typedef void (*exectap_cb)(const struct exectap_exec *exec, void *ud);

/* max_message bounds reassembly (e.g. 8 MiB). */
int exectap_new(const char *kernel_id, size_t max_message, exectap_cb cb, void *ud, struct exectap **ret);
/* Feed raw client→server bytes (any split) and learn how many of them may be
 * forwarded (*ret_pass, may be NULL):
 * - 0: all of them;
 * - -EMSGSIZE: a message is too big — its frame lengths, as declared in the
 *   headers, exceed max_message, or the budget (exectap_set_budget) refused
 *   them. It has been reported (oversized) before this returns, and only the
 *   *ret_pass bytes before the header of the frame that crossed the bound may
 *   be forwarded (if that header began in an earlier call, its first bytes
 *   passed then): the message never completes upstream. The proxy must
 *   close the WebSocket (1009).
 * - -EBADMSG: decoding stopped on a framing violation (unmasked frame, RSV
 *   bit, bad opcode, ...); *ret_pass is 0. The Jupyter server (tornado)
 *   accepts some of these (unmasked frames), so the proxy must close the
 *   WebSocket: forwarding on would let later execute_requests pass
 *   unrecorded.
 * Both errors are sticky. The callback runs inside this call and must not
 * free the tap. -ENOMEM is never returned: memory that cannot be had makes
 * the message too big. */
int exectap_gate(struct exectap *t, const void *data, size_t len, size_t *ret_pass);
/* exectap_gate without the count. */
int exectap_feed(struct exectap *t, const void *data, size_t len);
void exectap_free(struct exectap *t);
/* The subprotocol the server accepted (Sec-WebSocket-Protocol of its 101
 * response; NULL if none). It decides how binary messages are read: the v1
 * offsets table for "v1.kernel.websocket.jupyter.org", else the legacy binary
 * framing (JSON + buffers). Until this is called both are tried. Text messages
 * are always read as JSON. */
void exectap_set_subprotocol(struct exectap *t, const char *subprotocol);

/* Reassembly memory shared by many taps: at most `total` bytes charged in
 * all, and at most `per_key` for the taps of one key (e.g. the server's
 * user). A tap charges a message's declared size (+1) at its frame headers,
 * before any payload, and gives it back when the message is complete (it may
 * keep a small buffer charged) and when it is freed; a charge the budget
 * cannot take makes the message too big (-EMSGSIZE). */
struct exectap_budget;
int exectap_budget_new(size_t total, size_t per_key, struct exectap_budget **ret);
/* Only after every tap charged to it has been freed. */
void exectap_budget_free(struct exectap_budget *b);
/* Bytes charged now: in all (key NULL) or for key. */
size_t exectap_budget_used(const struct exectap_budget *b, const char *key);
/* Charge t to b under key (copied). Before the first byte is fed; b must
 * outlive t. */
int exectap_set_budget(struct exectap *t, struct exectap_budget *b, const char *key);

/* True for ".../api/kernels/<id>/channels" (id: [0-9a-f-]{1,63}) under base
 * "/user/NAME/"; copies the id. */
bool exectap_match_path(const char *path, char *kernel_id, size_t size);
