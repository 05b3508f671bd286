/* wsframe: incremental RFC 6455 frame parser for the client→server direction
 * (private to src/proxy/). Bytes may arrive in any split, one at a time works.
 *
 * Checks, each a framing violation (sticky -EBADMSG), chosen to match what
 * tornado (the Jupyter server's WebSocket) aborts on, plus the masking rule of
 * RFC 6455 5.1: unmasked frame, RSV bit set (compression offers are stripped
 * by the proxy), unknown opcode, fragmented or >125-byte control frame,
 * continuation without a message, new data message inside a fragmented one,
 * 64-bit length with the top bit set. Non-minimal length encodings are
 * accepted, as tornado accepts them.
 *
 * Reassembly keeps at most max_message bytes. A message whose declared frame
 * lengths exceed that (or the budget that charge() grants) stops the parser
 * at the header of the frame that crosses the bound, before any of its
 * payload: it is delivered once, as oversized with no data, and every later
 * call returns -EMSGSIZE (sticky). The caller learns how many bytes came
 * before that frame (ret_accepted), so that it can forward exactly those.
 * Control frames are parsed and dropped. After a close frame the peer is done
 * (tornado ignores everything after it): later bytes are ignored.
 *
 * proxy__wsbound: frame boundaries of the other direction (server→client),
 * so that the proxy can put a close frame of its own between two frames. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	WSFRAME_OP_CONT = 0x0,
	WSFRAME_OP_TEXT = 0x1,
	WSFRAME_OP_BINARY = 0x2,
	WSFRAME_OP_CLOSE = 0x8,
	WSFRAME_OP_PING = 0x9,
	WSFRAME_OP_PONG = 0xA,
};

/* One complete data message. data is NULL and len 0 when oversized (at the
 * frame header that crossed the bound);
 * otherwise data is valid only during the call (and NUL-terminated at
 * data[len] for convenience). */
typedef void (*proxy__wsframe_cb)(int opcode, const uint8_t *data, size_t len, bool oversized, void *ud);

/* Budget for reassembly memory: asks to go from `from` to `to` charged bytes;
 * an increase may be refused (false), a decrease always succeeds. */
typedef bool (*proxy__wsframe_charge_fn)(void *ud, size_t from, size_t to);

struct proxy__wsframe {
	size_t max_message;
	int error;   /* 0, or sticky -EBADMSG / -EMSGSIZE */
	bool closed; /* close frame seen */

	/* current frame header */
	uint8_t hdr[14];
	size_t hdr_have;
	size_t hdr_need;
	bool in_payload;
	bool fin;
	int opcode;
	uint8_t mask[4];
	uint64_t payload_left;
	size_t mask_pos;

	/* current data message */
	bool in_message; /* a data message is open (fragmented, or its only frame is streaming) */
	int msg_opcode;
	bool msg_oversized;
	uint8_t *buf;
	size_t len;
	size_t cap;

	/* Bytes charged to the budget: the declared size of the message in
	 * progress (+1 for a NUL) or the kept buffer, always >= cap. */
	size_t charged;
	proxy__wsframe_charge_fn charge; /* NULL: no budget */
	void *charge_ud;
};

void proxy__wsframe_init(struct proxy__wsframe *p, size_t max_message);
/* Releases the buffer and everything charged. */
void proxy__wsframe_done(struct proxy__wsframe *p);
/* 0: all len bytes taken; -EBADMSG on a framing violation; -EMSGSIZE once a
 * message is too big (see above). Both sticky. ret_accepted (may be NULL):
 * the bytes of data that may be forwarded — all of them on 0, those before
 * the crossing frame's header on -EMSGSIZE, none on -EBADMSG. */
int proxy__wsframe_feed(struct proxy__wsframe *p, const void *data, size_t len, proxy__wsframe_cb cb, void *ud,
			size_t *ret_accepted);

/* Zero-initialised: at a boundary. */
struct proxy__wsbound {
	uint8_t hdr[14];
	size_t have;   /* header bytes seen */
	size_t need;   /* header size, once its first two bytes are known */
	uint64_t left; /* payload bytes still to come */
	bool in_payload;
};

/* Consume bytes of the stream. With stop_at_boundary, stop as soon as the
 * stream is between two frames (returns 0 if it already is). Returns the
 * bytes consumed. */
size_t proxy__wsbound_advance(struct proxy__wsbound *b, const void *data, size_t len, bool stop_at_boundary);
bool proxy__wsbound_at_boundary(const struct proxy__wsbound *b);
