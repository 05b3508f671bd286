/* http: the request-side parsing layer — llhttp (strict, no lenient flags)
 * plus a bounded head: request-target and header fields are accumulated in
 * one buffer, the raw head is bounded by max_header (431), the target by
 * HTTP_MAX_URL (414), at most HTTP_MAX_HEADERS fields (431). No I/O, so the
 * fuzz target drives exactly what a connection runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "http/internal.h"

static struct http__rp *rp_of(llhttp_t *ll)
{
	return ll->data;
}

static int rp_fail(struct http__rp *p, int status)
{
	p->status = status;
	return HPE_USER;
}

int http_head_append(char **head, size_t *len, size_t *cap, size_t max, const char *at, size_t n)
{
	/* at may point into *head itself (path and query are copied from the
	 * target): keep it as an offset across the realloc */
	bool inside = *head && at >= *head && at < *head + *cap;
	size_t at_off = inside ? (size_t)(at - *head) : 0;
	size_t need;

	/* need = *len + n + 1 must not exceed max (and must not wrap) */
	if (n >= max || *len >= max - n)
		return -ENOBUFS;
	need = *len + n + 1;
	if (need > *cap) {
		size_t c = *cap ? *cap : 1024;
		char *p;

		while (c < need)
			c *= 2;
		p = realloc(*head, c);
		if (!p)
			return -ENOMEM;
		*head = p;
		*cap = c;
		if (inside)
			at = *head + at_off;
	}
	memcpy(*head + *len, at, n);
	*len += n;
	return 0;
}

/* Append to the head; the raw-byte bound keeps it below max_header, the
 * check here is the belt to those braces. */
static int head_append(struct http__rp *p, const char *at, size_t len)
{
	return http_head_append(&p->head, &p->head_len, &p->head_cap, (size_t)p->max_header + HTTP_MAX_URL + 64, at,
				len);
}

static int head_terminate(struct http__rp *p)
{
	return head_append(p, "", 1);
}

static int on_message_begin(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);

	p->in_message = true;
	p->where = RP_URL;
	if (p->ops->on_begin)
		p->ops->on_begin(p);
	return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http__rp *p = rp_of(ll);

	if (p->head_len + len > HTTP_MAX_URL)
		return rp_fail(p, 414);
	return head_append(p, at, len) < 0 ? rp_fail(p, 431) : 0;
}

static int on_url_complete(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);

	if (head_terminate(p) < 0)
		return rp_fail(p, 431);
	p->where = RP_FIELD;
	return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http__rp *p = rp_of(ll);

	if (p->where != RP_FIELD)
		return rp_fail(p, 400);
	if (p->n_hdr == 0 || p->hdr[p->n_hdr - 1][1] != UINT32_MAX) {
		/* first span of a new field */
		if (p->n_hdr >= HTTP_MAX_HEADERS)
			return rp_fail(p, 431);
		p->hdr[p->n_hdr][0] = (uint32_t)p->head_len;
		p->hdr[p->n_hdr][1] = UINT32_MAX;
		p->n_hdr++;
	}
	return head_append(p, at, len) < 0 ? rp_fail(p, 431) : 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);

	if (p->where != RP_FIELD || p->n_hdr == 0 || p->hdr[p->n_hdr - 1][1] != UINT32_MAX)
		return rp_fail(p, 400);
	if (head_terminate(p) < 0)
		return rp_fail(p, 431);
	p->hdr[p->n_hdr - 1][1] = (uint32_t)p->head_len;
	p->where = RP_VALUE;
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http__rp *p = rp_of(ll);

	if (p->where != RP_VALUE)
		return rp_fail(p, 400);
	return head_append(p, at, len) < 0 ? rp_fail(p, 431) : 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);

	if (p->where != RP_VALUE)
		return rp_fail(p, 400);
	if (head_terminate(p) < 0)
		return rp_fail(p, 431);
	p->where = RP_FIELD;
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);
	struct http_req *req = p->req;
	const char *host = NULL, *upgrade = NULL, *expect = NULL;
	size_t url_len, path_len, path_off, query_off, qlen = 0;
	bool is_query;
	char *q;

	/* a field without value-complete, or no target at all */
	if (p->where != RP_FIELD || !p->head || p->head_len == 0)
		return rp_fail(p, 400);
	url_len = strlen(p->head);
	if (url_len == 0 || p->head[0] != '/')
		return rp_fail(p, 400); /* origin-form only: no absolute-form, CONNECT or '*' */
	/* offsets, not pointers: the appends below may move the buffer */
	q = strpbrk(p->head, "?#");
	path_len = q ? (size_t)(q - p->head) : url_len;
	is_query = q && *q == '?';
	if (is_query) {
		const char *hash = strchr(q + 1, '#');

		qlen = hash ? (size_t)(hash - q - 1) : strlen(q + 1);
	}
	path_off = p->head_len;
	if (head_append(p, p->head, path_len) < 0 || head_terminate(p) < 0)
		return rp_fail(p, 431);
	query_off = p->head_len;
	if (is_query && head_append(p, p->head + path_len + 1, qlen) < 0)
		return rp_fail(p, 431);
	if (head_terminate(p) < 0)
		return rp_fail(p, 431);

	for (size_t i = 0; i < p->n_hdr; i++) {
		struct http_header *h = &p->headers[i];

		h->name = p->head + p->hdr[i][0];
		h->value = http_ows_trim(p->head + p->hdr[i][1]);
		if (!http_header_name_valid(h->name) || !http_header_value_valid(h->value))
			return rp_fail(p, 400);
		if (strcasecmp(h->name, "Host") == 0) {
			if (host)
				return rp_fail(p, 400); /* two Hosts: which one did the router see? */
			host = h->value;
		} else if (strcasecmp(h->name, "Upgrade") == 0)
			upgrade = h->value;
		else if (strcasecmp(h->name, "Expect") == 0) {
			if (expect)
				return rp_fail(p, 417);
			expect = h->value;
		}
	}
	if (!host && ll->http_major == 1 && ll->http_minor >= 1)
		return rp_fail(p, 400);
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0)
			return rp_fail(p, 417);
		p->expect_continue = http__rp_is_http11(p);
	}

	req->method = llhttp_method_name((llhttp_method_t)ll->method);
	req->target = p->head;
	req->path = p->head + path_off;
	req->query = p->head + query_off;
	req->headers = p->headers;
	req->n_headers = p->n_hdr;
	req->body = NULL;
	req->body_len = 0;
	req->upgrade = ll->upgrade && upgrade && http_token_list_has(upgrade, strlen(upgrade), "websocket");
	req->app = NULL;

	p->chunked = (ll->flags & F_CHUNKED) != 0;
	p->content_length = (ll->flags & F_CONTENT_LENGTH) ? ll->content_length : 0;
	p->has_body = p->chunked || p->content_length > 0;
	p->keep_alive = llhttp_should_keep_alive(ll);
	p->head_done = true;
	p->where = RP_HEAD_DONE;

	if (p->ops->on_head && p->ops->on_head(p) < 0) {
		p->status = 0;
		return -1;
	}
	return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http__rp *p = rp_of(ll);
	int r = p->ops->on_body ? p->ops->on_body(p, at, len) : 0;

	if (r < 0) {
		p->status = 0;
		return HPE_USER;
	}
	return r > 0 ? HPE_PAUSED : 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct http__rp *p = rp_of(ll);

	p->msg_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t rp_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void rp_reset_message(struct http__rp *p)
{
	free(p->head);
	p->head = NULL;
	p->head_len = p->head_cap = 0;
	p->head_raw = 0;
	p->n_hdr = 0;
	p->where = RP_BETWEEN;
	p->in_message = p->head_done = p->msg_done = false;
	p->chunked = p->has_body = p->expect_continue = p->keep_alive = false;
	p->content_length = 0;
	p->status = 0;
	if (p->req) {
		p->req->method = NULL;
		p->req->target = p->req->path = p->req->query = NULL;
		p->req->headers = NULL;
		p->req->n_headers = 0;
		p->req->upgrade = false;
	}
}

void http__rp_init(struct http__rp *p, uint32_t max_header, const struct http__rp_ops *ops, void *owner,
		   struct http_req *req)
{
	memset(p, 0, sizeof(*p));
	llhttp_init(&p->ll, HTTP_REQUEST, &rp_settings);
	p->ll.data = p;
	p->ops = ops;
	p->owner = owner;
	p->req = req;
	p->max_header = max_header;
	rp_reset_message(p);
}

void http__rp_done(struct http__rp *p)
{
	free(p->head);
	p->head = NULL;
	p->head_len = p->head_cap = 0;
}

void http__rp_next(struct http__rp *p)
{
	rp_reset_message(p);
}

enum http__rp_result http__rp_feed(struct http__rp *p, const char *data, size_t len, size_t *ret_consumed)
{
	size_t off = 0;

	*ret_consumed = 0;
	if (p->msg_done)
		return HTTP__RP_DONE;
	while (off < len) {
		size_t chunk = len - off, used;
		bool was_head = !p->head_done;
		llhttp_errno_t e;

		if (was_head) {
			/* The whole raw head (request line, fields, whitespace) is
			 * bounded, not just what we keep of it. */
			size_t room = p->max_header > p->head_raw ? p->max_header - p->head_raw : 0;

			if (room == 0) {
				p->status = 431;
				return HTTP__RP_ERROR;
			}
			if (chunk > room)
				chunk = room;
		}
		e = llhttp_execute(&p->ll, data + off, chunk);
		if (e == HPE_OK)
			used = chunk;
		else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE)
			used = (size_t)(llhttp_get_error_pos(&p->ll) - (data + off));
		else {
			*ret_consumed = off;
			if (e != HPE_USER && e != HPE_CB_HEADERS_COMPLETE && p->status == 0)
				p->status = 400;
			else if (e == HPE_USER && p->status == 0 && !p->head_done)
				p->status = 400;
			return HTTP__RP_ERROR;
		}
		if (was_head && !p->head_done)
			p->head_raw += used;
		off += used;
		if (e == HPE_PAUSED) {
			llhttp_resume(&p->ll);
			*ret_consumed = off;
			return p->msg_done ? HTTP__RP_DONE : HTTP__RP_PAUSED;
		}
		if (e == HPE_PAUSED_UPGRADE) {
			/* Not switching protocols (the owner would not feed us
			 * then): what follows is HTTP again. */
			llhttp_resume_after_upgrade(&p->ll);
			continue;
		}
		if (was_head && !p->head_done && p->head_raw >= p->max_header) {
			*ret_consumed = off;
			p->status = 431;
			return HTTP__RP_ERROR;
		}
	}
	*ret_consumed = off;
	return HTTP__RP_MORE;
}
