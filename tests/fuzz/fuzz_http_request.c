/* Fuzz the request-side parsing layer exactly as a connection drives it
 * (src/http/parse.c: llhttp plus the bounded head), with the bytes split
 * into segments, pipelined messages, body pauses and buffered bodies.
 * Byte 0: options; byte 1: segment size seed; the rest: the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_BODY 4096

struct fuzz_conn {
	struct http__rp rp;
	struct http_req req;
	uint32_t max_header;
	uint8_t opts;
	size_t body_len;
	unsigned n_body;
	bool buffering;
	char body[FUZZ_MAX_BODY];
};

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void on_begin(struct http__rp *p) {}

static int on_head(struct http__rp *p)
{
	struct fuzz_conn *c = p->owner;
	struct http_req *req = &c->req;
	size_t tlen = strlen(req->target), plen = strlen(req->path);
	char out[64];

	check(req->method && req->target[0] == '/' && tlen <= HTTP_MAX_URL);
	check(plen <= tlen && memcmp(req->path, req->target, plen) == 0);
	check(!strchr(req->path, '?') && strlen(req->query) < tlen);
	check(req->n_headers <= HTTP_MAX_HEADERS);
	check(p->head_raw <= c->max_header);
	for (size_t i = 0; i < req->n_headers; i++) {
		check(http_header_name_valid(req->headers[i].name));
		check(http_header_value_valid(req->headers[i].value));
		if (strcasecmp(req->headers[i].name, "Cookie") == 0)
			(void)http_cookie_get(req->headers[i].value, "nbwarden-session", out, sizeof(out));
	}
	(void)http_param_get(req->query, strlen(req->query), "next", false, out, sizeof(out));
	(void)http_urldecode(req->path, plen, false, out, sizeof(out));
	c->buffering = c->opts & 1;
	c->body_len = 0;
	/* like the server: a declared body too big for buffering is refused */
	if (c->buffering && p->content_length > FUZZ_MAX_BODY)
		return -1;
	return (c->opts & 2) && req->n_headers > 50 ? -1 : 0;
}

static int on_body(struct http__rp *p, const char *at, size_t len)
{
	struct fuzz_conn *c = p->owner;

	check(len > 0 && p->head_done);
	if (c->buffering) {
		if (c->body_len + len > FUZZ_MAX_BODY)
			return -1;
		memcpy(c->body + c->body_len, at, len);
		c->body_len += len;
	}
	/* pause now and then, as the proxy's backpressure does */
	return (c->opts & 4) && (++c->n_body % 3 == 0) ? 1 : 0;
}

static const struct http__rp_ops fuzz_ops = {
    .on_begin = on_begin,
    .on_head = on_head,
    .on_body = on_body,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_conn *c;
	size_t off = 2, seg;

	if (size < 2)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->opts = data[0];
	c->max_header = (data[0] & 0x80) ? 256 : 16384;
	seg = (size_t)data[1] + 1;
	http__rp_init(&c->rp, c->max_header, &fuzz_ops, c, &c->req);
	while (off < size) {
		size_t n = size - off < seg ? size - off : seg, used = 0;
		enum http__rp_result r;

		r = http__rp_feed(&c->rp, (const char *)data + off, n, &used);
		check(used <= n);
		off += used;
		if (r == HTTP__RP_DONE) {
			check(c->rp.msg_done && c->rp.head_done);
			http__rp_next(&c->rp);
		} else if (r == HTTP__RP_ERROR) {
			check(c->rp.status == 0 || (c->rp.status >= 400 && c->rp.status < 600));
			break;
		} else if (r == HTTP__RP_MORE)
			check(used == n);
	}
	http__rp_done(&c->rp);
	free(c);
	return 0;
}
