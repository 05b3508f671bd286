/* http: request accessors and the hub's responses. Every response gets its
 * framing (Content-Length, or close-delimited for streams), Date, and the hub
 * security headers unless the application set its own value for one of them.
 * Header names and values are validated, so nothing the application passes
 * can split a header. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "http/internal.h"

#define HEAD_MAX (64 * 1024)

static const struct {
	const char *name, *value;
} hub_headers[] = {
    {"Cache-Control", "no-store"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "same-origin"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
				"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
				"form-action 'self'; frame-ancestors 'none'"},
};

/* Names the server owns: framing and connection management. */
static const char *const reserved_headers[] = {
    "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Date", "Trailer", "TE",
};

void http_head_header(struct nbw_buf *b, const char *name, const char *value)
{
	nbw_buf_str(b, name);
	nbw_buf_add(b, ": ", 2);
	nbw_buf_str(b, value);
	nbw_buf_add(b, "\r\n", 2);
}

/* ---- request accessors ---- */

const char *http_req_header(const struct http_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int http_req_cookie(const struct http_req *req, const char *name, char *out, size_t size)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		int r;

		if (strcasecmp(req->headers[i].name, "Cookie") != 0)
			continue;
		r = http_cookie_get(req->headers[i].value, name, out, size);
		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

int http_req_query(const struct http_req *req, const char *name, char *out, size_t size)
{
	if (!req->query)
		return -ENOENT;
	return http_param_get(req->query, strlen(req->query), name, false, out, size);
}

int http_req_form(const struct http_req *req, const char *name, char *out, size_t size)
{
	if (!req->body)
		return -ENOENT;
	return http_param_get((const char *)req->body, req->body_len, name, true, out, size);
}

/* ---- extra headers ---- */

void http__conn_free_extra(struct http_conn *c)
{
	for (size_t i = 0; i < c->n_extra; i++)
		free(c->extra[i]);
	c->n_extra = 0;
}

int http_add_header(struct http_req *req, const char *name, const char *value)
{
	struct http_conn *c = req->conn;
	size_t n;
	char *line;

	if (!http_header_name_valid(name) || !http_header_value_valid(value))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(reserved_headers); i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return -EINVAL;
	if (c->resp != HTTP_RESP_NONE || c->closing)
		return -EALREADY;
	if (c->n_extra >= HTTP_MAX_EXTRA_HEADERS)
		return -E2BIG;
	n = strlen(name) + strlen(value) + 5;
	line = malloc(n);
	if (!line)
		return -ENOMEM;
	if (nbw_snprintf(line, n, "%s: %s\r\n", name, value) < 0) {
		free(line);
		return -EINVAL;
	}
	c->extra[c->n_extra++] = line;
	return 0;
}

static bool extra_has(const struct http_conn *c, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < c->n_extra; i++)
		if (strncasecmp(c->extra[i], name, n) == 0 && c->extra[i][n] == ':')
			return true;
	return false;
}

/* ---- responses ---- */

static bool status_bodyless(int status)
{
	return (status >= 100 && status < 200) || status == 204 || status == 304;
}

static void respond(struct http_conn *c, int status, const char *content_type, const void *body, size_t len,
		    bool stream)
{
	struct http_server *srv = c->srv;
	struct nbw_buf b = { .max = HEAD_MAX + len };
	char line[128];
	bool bodyless = status_bodyless(status);

	if (c->closing || c->resp != HTTP_RESP_NONE) {
		log_debug("http: response %d for a request that is already answered or gone", status);
		http__conn_free_extra(c);
		return;
	}
	if (status < 200 || status > 599)
		status = 500;
	c->proxy = NULL; /* a response of our own ends any proxied exchange */
	if (stream)
		c->keep_alive = false;

	(void)nbw_snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	nbw_buf_str(&b, line);
	http_head_header(&b, "Date", http__server_date(srv));
	if (content_type && !bodyless && http_header_value_valid(content_type))
		http_head_header(&b, "Content-Type", content_type);
	if (!stream && !bodyless) {
		(void)nbw_snprintf(line, sizeof(line), "%zu", len);
		http_head_header(&b, "Content-Length", line);
	}
	if (!c->keep_alive)
		http_head_header(&b, "Connection", "close");
	else if (!http__rp_is_http11(&c->rp))
		http_head_header(&b, "Connection", "keep-alive");
	for (size_t i = 0; i < ARRAY_SIZE(hub_headers); i++)
		if (!extra_has(c, hub_headers[i].name))
			http_head_header(&b, hub_headers[i].name, hub_headers[i].value);
	if (srv->limits.secure && !extra_has(c, "Strict-Transport-Security"))
		http_head_header(&b, "Strict-Transport-Security", "max-age=63072000");
	for (size_t i = 0; i < c->n_extra; i++)
		nbw_buf_str(&b, c->extra[i]);
	nbw_buf_add(&b, "\r\n", 2);
	if (!stream && !bodyless && !c->head_request && len > 0)
		nbw_buf_add(&b, body, len);
	http__conn_free_extra(c);
	c->resp_status = status;
	if (b.failed) {
		nbw_buf_done(&b);
		log_error("http: could not build a %d response", status);
		http__conn_close(c, false);
		return;
	}
	c->resp = stream ? HTTP_RESP_STREAM : HTTP_RESP_ENDED;
	if (http__conn_write_owned(c, b.p, b.len) < 0) {
		http__conn_close(c, false);
		return;
	}
	if (!stream)
		http__conn_response_ended(c);
}

void http_respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len)
{
	respond(req->conn, status, content_type, body, len, false);
}

void http_respond_json(struct http_req *req, int status, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!s) {
		http_respond_error_json(req, 500, "Internal Server Error");
		return;
	}
	respond(req->conn, status, "application/json", s, strlen(s), false);
	free(s);
}

void http_respond_error_json(struct http_req *req, int status, const char *message)
{
	json_t *o = json_pack("{s:i,s:s}", "status", status, "message", message ? message : "");
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s) {
		static const char fallback[] = "{\"status\":500,\"message\":\"Internal Server Error\"}";

		respond(req->conn, 500, "application/json", fallback, sizeof(fallback) - 1, false);
		return;
	}
	respond(req->conn, status, "application/json", s, strlen(s), false);
	free(s);
}

void http_redirect(struct http_req *req, const char *location)
{
	static const char body[] = "Redirecting\n";

	if (!location || !*location || http_add_header(req, "Location", location) < 0) {
		http_respond_error_json(req, 500, "Bad redirect");
		return;
	}
	respond(req->conn, 302, "text/plain; charset=utf-8", body, sizeof(body) - 1, false);
}

void http__respond_error_close(struct http_conn *c, int status)
{
	char body[128];
	int n;

	c->keep_alive = false;
	if (c->resp != HTTP_RESP_NONE) {
		http__conn_close(c, c->resp == HTTP_RESP_ENDED);
		return;
	}
	http__conn_free_extra(c);
	n = nbw_snprintf(body, sizeof(body), "{\"status\":%d,\"message\":\"%s\"}", status, http_status_text(status));
	if (n < 0)
		n = 0;
	respond(c, status, "application/json", body, (size_t)n, false);
}

int http_stream_start(struct http_req *req, int status, const char *content_type)
{
	struct http_conn *c = req->conn;

	if (c->closing)
		return -EPIPE;
	if (c->resp != HTTP_RESP_NONE)
		return -EALREADY;
	respond(c, status, content_type, NULL, 0, true);
	return c->resp == HTTP_RESP_STREAM ? 0 : -EPIPE;
}

int http_stream_write(struct http_req *req, const void *data, size_t len)
{
	struct http_conn *c = req->conn;

	if (c->closing)
		return -EPIPE;
	if (c->resp != HTTP_RESP_STREAM)
		return -EINVAL;
	if (c->write_bytes + len > HTTP_STREAM_MAX_QUEUED)
		return -ENOBUFS;
	if (c->head_request)
		return 0;
	return http_conn_write(c, data, len);
}

void http_stream_end(struct http_req *req)
{
	struct http_conn *c = req->conn;

	if (c->closing || c->resp != HTTP_RESP_STREAM)
		return;
	c->keep_alive = false;
	http__conn_response_ended(c);
}
