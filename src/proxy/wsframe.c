/* wsframe: incremental RFC 6455 client→server frame parser (see wsframe.h). */
#include "proxy/wsframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A reassembly buffer larger than this is released after each message, so an
 * idle connection pins (and is charged) at most this much. */
#define WSFRAME_KEEP_BUFFER (16u * 1024u)

void proxy__wsframe_init(struct proxy__wsframe *p, size_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->max_message = max_message;
	p->hdr_need = 2;
}

/* Charge exactly `to` bytes (a decrease always succeeds). */
static bool charge_to(struct proxy__wsframe *p, size_t to)
{
	if (to == p->charged)
		return true;
	if (p->charge && !p->charge(p->charge_ud, p->charged, to))
		return false;
	p->charged = to;
	return true;
}

static void drop_message_buffer(struct proxy__wsframe *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
	(void)charge_to(p, 0);
}

void proxy__wsframe_done(struct proxy__wsframe *p)
{
	if (!p)
		return;
	drop_message_buffer(p);
}

static int fail(struct proxy__wsframe *p, int error)
{
	drop_message_buffer(p);
	p->error = error;
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
		return fail(p, -EBADMSG); /* RSV1-3: no extension was negotiated */
	if (!(b1 & 0x80))
		return fail(p, -EBADMSG); /* client frames must be masked (RFC 6455 5.1) */

	switch (p->opcode) {
	case WSFRAME_OP_CONT:
		if (!p->in_message)
			return fail(p, -EBADMSG);
		break;
	case WSFRAME_OP_TEXT:
	case WSFRAME_OP_BINARY:
		if (p->in_message)
			return fail(p, -EBADMSG);
		break;
	case WSFRAME_OP_CLOSE:
	case WSFRAME_OP_PING:
	case WSFRAME_OP_PONG:
		if (!p->fin || len7 >= 126)
			return fail(p, -EBADMSG);
		break;
	default:
		return fail(p, -EBADMSG);
	}

	p->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return 0;
}

/* Make room for n more payload bytes (that have arrived) plus a terminating
 * NUL. Memory follows the bytes actually received, not the declared length,
 * so a bare header cannot pin max_message bytes (only budget); it never
 * exceeds what is charged. -ENOMEM: out of memory. */
static int reserve(struct proxy__wsframe *p, size_t n)
{
	size_t need, ncap;
	uint8_t *nbuf;

	need = p->len + n + 1; /* <= charged, checked at frame start */
	if (need <= p->cap)
		return 0;
	ncap = p->cap ? p->cap : 256;
	while (ncap < need)
		ncap = ncap > (SIZE_MAX / 2) ? need : ncap * 2;
	if (ncap > p->charged)
		ncap = p->charged;
	if (ncap < need)
		ncap = need;
	nbuf = realloc(p->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	p->buf = nbuf;
	p->cap = ncap;
	return 0;
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
	if (p->buf) {
		p->buf[p->len] = 0;
		cb(p->msg_opcode, p->buf, p->len, false, ud);
	} else {
		static const uint8_t empty[1] = {0};
		cb(p->msg_opcode, empty, 0, false, ud);
	}
	p->len = 0;
	if (p->cap > WSFRAME_KEEP_BUFFER)
		drop_message_buffer(p);
	else
		(void)charge_to(p, p->cap); /* only the kept buffer stays charged */
}

/* The message in progress cannot be taken: report it once, stop for good. */
static int too_big(struct proxy__wsframe *p, proxy__wsframe_cb cb, void *ud)
{
	int opcode = p->in_message ? p->msg_opcode : p->opcode;

	fail(p, -EMSGSIZE);
	cb(opcode, NULL, 0, true, ud);
	return -EMSGSIZE;
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
			return fail(p, -EBADMSG); /* RFC 6455 5.2: the most significant bit MUST be 0 */
	} else {
		plen = len7;
	}

	if (!is_control(p->opcode)) {
		size_t len = p->opcode == WSFRAME_OP_CONT ? p->len : 0;

		/* the declared lengths decide, before any payload byte */
		if (plen > p->max_message - len)
			return too_big(p, cb, ud);
		if (len + (size_t)plen + 1 > p->charged && !charge_to(p, len + (size_t)plen + 1))
			return too_big(p, cb, ud);
		if (p->opcode != WSFRAME_OP_CONT) {
			p->in_message = true;
			p->msg_opcode = p->opcode;
			p->len = 0;
		}
	}
	memcpy(p->mask, m, 4);
	p->mask_pos = 0;
	p->payload_left = plen;
	p->in_payload = true;

	if (plen == 0)
		end_frame(p, cb, ud);
	return 0;
}

int proxy__wsframe_feed(struct proxy__wsframe *p, const void *data, size_t len, proxy__wsframe_cb cb, void *ud,
			size_t *ret_accepted)
{
	const uint8_t *start = data, *in = data;
	size_t hdr_off = 0; /* where the current frame's header began in data */
	int r;

	if (ret_accepted)
		*ret_accepted = 0;
	if (p->error)
		return p->error;

	while (len > 0) {
		if (p->closed)
			break;

		if (!p->in_payload) {
			if (p->hdr_have == 0)
				hdr_off = (size_t)(in - start);
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
				break;
			r = start_payload(p, cb, ud);
			if (r == -EMSGSIZE && ret_accepted)
				*ret_accepted = hdr_off;
			if (r < 0)
				return r;
			continue;
		}

		size_t n = len;
		if ((uint64_t)n > p->payload_left)
			n = (size_t)p->payload_left;

		if (!is_control(p->opcode)) {
			if (reserve(p, n) < 0) {
				/* out of memory: only the bytes before these pass */
				if (ret_accepted)
					*ret_accepted = (size_t)(in - start);
				return too_big(p, cb, ud);
			}
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
	if (ret_accepted)
		*ret_accepted = (size_t)(in - start) + len;
	return 0;
}

/* ---- frame boundaries of the server's stream ---- */

bool proxy__wsbound_at_boundary(const struct proxy__wsbound *b)
{
	return !b->in_payload && b->have == 0;
}

size_t proxy__wsbound_advance(struct proxy__wsbound *b, const void *data, size_t len, bool stop_at_boundary)
{
	const uint8_t *in = data;
	size_t used = 0;

	while (used < len) {
		if (stop_at_boundary && proxy__wsbound_at_boundary(b))
			break;
		if (b->in_payload) {
			uint64_t n = len - used;

			if (n > b->left)
				n = b->left;
			b->left -= n;
			used += (size_t)n;
			if (b->left == 0)
				b->in_payload = false;
			continue;
		}
		b->hdr[b->have++] = in[used++];
		if (b->have == 2) {
			unsigned len7 = b->hdr[1] & 0x7f;

			b->need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b->hdr[1] & 0x80) ? 4 : 0);
		}
		if (b->have < 2 || b->have < b->need)
			continue;
		/* header complete */
		unsigned len7 = b->hdr[1] & 0x7f;
		uint64_t plen = len7;

		if (len7 == 126)
			plen = ((uint64_t)b->hdr[2] << 8) | b->hdr[3];
		else if (len7 == 127) {
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | b->hdr[2 + i];
		}
		b->have = 0;
		b->need = 0;
		b->left = plen;
		b->in_payload = plen > 0;
	}
	return used;
}
