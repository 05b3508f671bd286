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
 * It never modifies the stream; on a protocol violation it stops decoding
 * (returns -EBADMSG; see exectap_feed for what the proxy must then do). */
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
/* Feed raw client→server bytes (any split). 0, or -EBADMSG once decoding stopped
 * (a framing violation: unmasked frame, RSV bit, bad opcode, ...). The Jupyter
 * server (tornado) accepts some of these (unmasked frames), so on -EBADMSG the
 * proxy must close the WebSocket: forwarding on would let later
 * execute_requests pass unrecorded. The callback runs inside exectap_feed and
 * must not free the tap. -ENOMEM is never returned: a message that cannot be
 * buffered is reported as oversized. */
int exectap_feed(struct exectap *t, const void *data, size_t len);
void exectap_free(struct exectap *t);
/* The subprotocol the server accepted (Sec-WebSocket-Protocol of its 101
 * response; NULL if none). It decides how binary messages are read: the v1
 * offsets table for "v1.kernel.websocket.jupyter.org", else the legacy binary
 * framing (JSON + buffers). Until this is called both are tried. Text messages
 * are always read as JSON. */
void exectap_set_subprotocol(struct exectap *t, const char *subprotocol);

/* True for ".../api/kernels/<id>/channels" (id: [0-9a-f-]{1,63}) under base
 * "/user/NAME/"; copies the id. */
bool exectap_match_path(const char *path, char *kernel_id, size_t size);
