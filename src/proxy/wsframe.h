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
 * Reassembly keeps at most max_message bytes; a longer message is still
 * parsed to stay in sync and delivered once, at its end, as oversized with
 * no data. Control frames are parsed and dropped. After a close frame the
 * peer is done (tornado ignores everything after it): later bytes are
 * ignored. */
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

/* One complete data message. data is NULL and len 0 when oversized;
 * otherwise data is valid only during the call (and NUL-terminated at
 * data[len] for convenience). */
typedef void (*proxy__wsframe_cb)(int opcode, const uint8_t *data, size_t len, bool oversized, void *ud);

struct proxy__wsframe {
	size_t max_message;
	int error;   /* 0, or sticky -EBADMSG */
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
};

void proxy__wsframe_init(struct proxy__wsframe *p, size_t max_message);
void proxy__wsframe_done(struct proxy__wsframe *p);
/* 0, or -EBADMSG on a framing violation (then and for every later call). */
int proxy__wsframe_feed(struct proxy__wsframe *p, const void *data, size_t len, proxy__wsframe_cb cb, void *ud);
