/* wsframe: incremental RFC 6455 client→server frame parser (see wsframe.h). */
#include "proxy/wsframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A reassembly buffer larger than this is released after each message, so an
 * idle connection does not pin max_message bytes. */
#define WSFRAME_KEEP_BUFFER (64u * 1024u)

void proxy__wsframe_init(struct proxy__wsframe *p, size_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->max_message = max_message;
	p->hdr_need = 2;
}

void proxy__wsframe_done(struct proxy__wsframe *p)
{
	if (!p)
		return;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

static int fail(struct proxy__wsframe *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
	p->error = -EBADMSG;
	return p->error;
}

static bool is_control(int opcode)
{
	return (opcode & 0x8) != 0;
}

/* Validate the first two header bytes and work out the header's full size. */
static int check_first_bytes(struct proxy__wsframe *p)
{
	uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
	unsigned len7 = b1 & 0x7f;

	p->fin = (b0 & 0x80) != 0;
	p->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return fail(p); /* RSV1-3: no extension was negotiated */
	if (!(b1 & 0x80))
		return fail(p); /* client frames must be masked (RFC 6455 5.1) */

	switch (p->opcode) {
	case WSFRAME_OP_CONT:
		if (!p->in_message)
			return fail(p);
		break;
	case WSFRAME_OP_TEXT:
	case WSFRAME_OP_BINARY:
		if (p->in_message)
			return fail(p);
		break;
	case WSFRAME_OP_CLOSE:
	case WSFRAME_OP_PING:
	case WSFRAME_OP_PONG:
		if (!p->fin || len7 >= 126)
			return fail(p);
		break;
	default:
		return fail(p);
	}

	p->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return 0;
}

static void drop_message_buffer(struct proxy__wsframe *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

static void mark_oversized(struct proxy__wsframe *p)
{
	p->msg_oversized = true;
	drop_message_buffer(p);
}

/* Make room for n more payload bytes (that have arrived) plus a terminating
 * NUL. Memory follows the bytes actually received, not the declared length,
 * so a bare header cannot pin max_message bytes. */
static void reserve(struct proxy__wsframe *p, size_t n)
{
	size_t need, ncap;
	uint8_t *nbuf;

	if (p->msg_oversized)
		return;
	need = p->len + n + 1; /* len + n <= max_message, checked at frame start */
	if (need <= p->cap)
		return;
	ncap = p->cap ? p->cap : 256;
	while (ncap < need)
		ncap = ncap > (SIZE_MAX / 2) ? need : ncap * 2;
	if (ncap > p->max_message + 1)
		ncap = p->max_message + 1;
	if (ncap < need)
		ncap = need;
	nbuf = realloc(p->buf, ncap);
	if (!nbuf) {
		/* Out of memory: the message can only be recorded as seen. */
		mark_oversized(p);
		return;
	}
	p->buf = nbuf;
	p->cap = ncap;
}

static void end_frame(struct proxy__wsframe *p, proxy__wsframe_cb cb, void *ud)
{
	p->in_payload = false;
	p->hdr_have = 0;
	p->hdr_need = 2;

	if (is_control(p->opcode)) {
		if (p->opcode == WSFRAME_OP_CLOSE)
			p->closed = true;
		return;
	}
	if (!p->fin)
		return;

	p->in_message = false;
	if (p->msg_oversized) {
		cb(p->msg_opcode, NULL, 0, true, ud);
	} else if (p->buf) {
		p->buf[p->len] = 0;
		cb(p->msg_opcode, p->buf, p->len, false, ud);
	} else {
		static const uint8_t empty[1] = {0};
		cb(p->msg_opcode, empty, 0, false, ud);
	}
	p->msg_oversized = false;
	p->len = 0;
	if (p->cap > WSFRAME_KEEP_BUFFER)
		drop_message_buffer(p);
}

/* The header is complete: decode length and mask, start the payload. */
static int start_payload(struct proxy__wsframe *p, proxy__wsframe_cb cb, void *ud)
{
	unsigned len7 = p->hdr[1] & 0x7f;
	const uint8_t *m = p->hdr + p->hdr_need - 4;
	uint64_t plen;

	if (len7 == 126) {
		plen = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
	} else if (len7 == 127) {
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = (plen << 8) | p->hdr[2 + i];
		if (plen >> 63)
			return fail(p); /* RFC 6455 5.2: the most significant bit MUST be 0 */
	} else {
		plen = len7;
	}
	memcpy(p->mask, m, 4);
	p->mask_pos = 0;
	p->payload_left = plen;
	p->in_payload = true;

	if (p->opcode == WSFRAME_OP_TEXT || p->opcode == WSFRAME_OP_BINARY) {
		p->in_message = true;
		p->msg_opcode = p->opcode;
		p->msg_oversized = false;
		p->len = 0;
	}
	if (!is_control(p->opcode) && !p->msg_oversized && plen > p->max_message - p->len)
		mark_oversized(p);

	if (plen == 0)
		end_frame(p, cb, ud);
	return 0;
}

int proxy__wsframe_feed(struct proxy__wsframe *p, const void *data, size_t len, proxy__wsframe_cb cb, void *ud)
{
	const uint8_t *in = data;
	int r;

	if (p->error)
		return p->error;

	while (len > 0) {
		if (p->closed)
			return 0;

		if (!p->in_payload) {
			while (len > 0 && p->hdr_have < p->hdr_need) {
				p->hdr[p->hdr_have++] = *in++;
				len--;
				if (p->hdr_have == 2) {
					r = check_first_bytes(p);
					if (r < 0)
						return r;
				}
			}
			if (p->hdr_have < p->hdr_need)
				return 0;
			r = start_payload(p, cb, ud);
			if (r < 0)
				return r;
			continue;
		}

		size_t n = len;
		if ((uint64_t)n > p->payload_left)
			n = (size_t)p->payload_left;

		if (!is_control(p->opcode))
			reserve(p, n);
		if (!is_control(p->opcode) && !p->msg_oversized) {
			uint8_t *out = p->buf + p->len;
			size_t mp = p->mask_pos;
			for (size_t i = 0; i < n; i++)
				out[i] = in[i] ^ p->mask[(mp + i) & 3];
			p->len += n;
		}
		p->mask_pos = (p->mask_pos + n) & 3;
		p->payload_left -= n;
		in += n;
		len -= n;
		if (p->payload_left == 0)
			end_frame(p, cb, ud);
	}
	return 0;
}
