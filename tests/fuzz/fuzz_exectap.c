/* libFuzzer target for the passive execute_request tap (exectap + wsframe).
 *
 * Input: byte 0 selects the set-up, byte 1 a split point, the rest is data.
 *   bits 0-1  subprotocol: 1 v1, 2 legacy, otherwise never set (both tried)
 *   bit 2     0: data is the raw client byte stream (frames and all)
 *             1: data is one message payload; the harness frames it as two
 *                masked fragments with a ping between (reaches the decoders)
 *   bit 3     framed message opcode: 0 text, 1 binary
 *   bit 4     max_message 64 instead of 1 MiB (oversized paths)
 *   bit 5     a reassembly budget of 300 bytes (refused charges)
 * The stream is fed in two pieces split at a data-dependent point. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/exectap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_exec(const struct exectap_exec *e, void *ud)
{
	size_t *count = ud;

	(*count)++;
	if (!e->kernel_id || !e->msg_id || !e->msg_type)
		abort();
	if (strcmp(e->msg_type, "execute_request") != 0 && strcmp(e->msg_type, "debug_request") != 0 &&
	    strcmp(e->msg_type, "unknown") != 0)
		abort();
	if (e->code) {
		/* the code is NUL-terminated at code_len and always has its hash */
		if (e->code[e->code_len] != 0 || strlen(e->sha256_hex) != 64)
			abort();
		if (e->oversized || e->undecodable)
			abort();
	} else if (e->sha256_hex[0] != 0 || e->code_len != 0) {
		abort();
	}
}

static size_t put_frame(uint8_t *out, int b0, const uint8_t *p, size_t len, const uint8_t key[4])
{
	size_t n = 0;

	out[n++] = (uint8_t)b0;
	if (len < 126) {
		out[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[n++] = 0x80 | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	memcpy(out + n, key, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		out[n + i] = p[i] ^ key[i & 3];
	return n + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	struct exectap *t = NULL;
	struct exectap_budget *budget = NULL;
	uint8_t *framed = NULL;
	const uint8_t *stream;
	size_t len, split, count = 0;
	uint8_t cfg;

	if (size < 2)
		return 0;
	cfg = data[0];
	split = data[1];
	stream = data + 2;
	len = size - 2;

	if (cfg & 4) {
		/* payload → [fragment][ping][final continuation] */
		size_t a = len ? (split * len) / 255 : 0;
		framed = malloc(len + 3 * 14 + 4);
		if (!framed)
			return 0;
		size_t n = put_frame(framed, (cfg & 8) ? 0x02 : 0x01, stream, a, key);
		n += put_frame(framed + n, 0x89, (const uint8_t *)"ping", 4, key);
		n += put_frame(framed + n, 0x80, stream + a, len - a, key);
		stream = framed;
		len = n;
	}

	if (exectap_new("0b6b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", (cfg & 16) ? 64 : 1 << 20, on_exec, &count, &t) < 0)
		abort();
	if ((cfg & 32) && (exectap_budget_new(300, 300, &budget) < 0 || exectap_set_budget(t, budget, "u") < 0))
		abort();
	if ((cfg & 3) == 1)
		exectap_set_subprotocol(t, "v1.kernel.websocket.jupyter.org");
	else if ((cfg & 3) == 2)
		exectap_set_subprotocol(t, NULL);

	split = len ? (split * 7919u) % (len + 1) : 0;
	size_t pass1 = 0, pass2 = 0;
	int r = exectap_gate(t, stream, split, &pass1);
	int r2 = exectap_gate(t, stream + split, len - split, &pass2);
	/* a violation is sticky; all bytes pass on success, none on -EBADMSG */
	if (r < 0 && r2 != r)
		abort();
	if ((r == 0 && pass1 != split) || (r2 == 0 && pass2 != len - split) || pass1 > split || pass2 > len - split)
		abort();
	if ((r == -EBADMSG && pass1 != 0) || (r2 == -EBADMSG && pass2 != 0) || (r < 0 && pass2 != 0))
		abort();
	if ((r != 0 && r != -EBADMSG && r != -EMSGSIZE) || (r2 != 0 && r2 != -EBADMSG && r2 != -EMSGSIZE))
		abort();
	exectap_free(t);
	if (budget && exectap_budget_used(budget, NULL) != 0)
		abort(); /* every charge given back */
	exectap_budget_free(budget);
	free(framed);
	return 0;
}
