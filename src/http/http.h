/* http: the hub's HTTP/1.1 server on libuv + llhttp (Debian's node-llhttp).
 *
 * Contract:
 * - Bounded: request head <= limits.max_header bytes (431), buffered bodies <=
 *   limits.max_body (413), <= limits.max_connections and <=
 *   limits.max_conns_per_ip from one client address (IPv6: one /64) (further
 *   accepts closed at once), idle/slowloris timeouts on the head: a new
 *   connection's first head must be complete first_header_timeout_ms after the
 *   accept, later heads header_timeout_ms after their first byte.
 * - For every request, ops->route() runs when the head is complete. It either
 *   responds at once, asks for the body to be buffered (then ops->handle()), or
 *   hands the request to the proxy with a filled struct proxy_target.
 * - A request stays valid until its response is finished or ops->on_abort()
 *   has been called for it (client went away); handlers may respond later
 *   (asynchronously), e.g. server-sent events.
 * - All header values written are checked for CR/LF; responses carry
 *   X-Content-Type-Options: nosniff, Referrer-Policy and, for hub pages, CSP
 *   and X-Frame-Options: DENY (http_respond adds them unless told otherwise). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/common.h"

struct http_server;
struct http_conn;
struct proxy_target; /* proxy/proxy.h */
struct exectap_exec; /* proxy/exectap.h */

struct http_header {
	char *name;  /* NUL-terminated, as received */
	char *value; /* NUL-terminated, surrounding whitespace trimmed */
};

struct http_req {
	struct http_conn *conn;
	const char *method; /* "GET", "POST", ... */
	char *target;	    /* raw request-target as received */
	char *path;	    /* target up to '?', not percent-decoded */
	char *query;	    /* after '?', "" if none */
	struct http_header *headers;
	size_t n_headers;
	uint8_t *body; /* buffered body (HTTP_ROUTE_BUFFER only), NUL-terminated */
	size_t body_len;
	char client_ip[64];
	bool upgrade; /* Connection: upgrade + Upgrade: websocket */
	void *app;    /* free for the application (cleared per request) */
};

enum http_route {
	HTTP_ROUTE_DONE = 0, /* route() responded (or will respond asynchronously without a body) */
	HTTP_ROUTE_BUFFER,   /* buffer the body, then call handle() */
	HTTP_ROUTE_PROXY,    /* stream to the user's server described by *target */
};

struct http_ops {
	enum http_route (*route)(struct http_req *req, struct proxy_target *target, void *ud);
	void (*handle)(struct http_req *req, void *ud);
	/* may be NULL; also called when the server itself ends a routed request
	 * that was not answered (413 on an oversized buffered body, 408, abort) */
	void (*on_abort)(struct http_req *req, void *ud);
	/* proxy hooks (may be NULL) */
	void (*on_activity)(const char *server_user, void *ud); /* a request or frame for that server */
	void (*on_execute)(const struct proxy_target *t, const char *client_ip, const struct exectap_exec *exec,
			   void *ud);						    /* decoded execute_request */
	void (*on_upstream_error)(const struct proxy_target *t, int err, void *ud); /* e.g. server gone: 503 sent */
};
struct http_limits {
	uint32_t max_header;	       /* default 16384 */
	uint32_t max_body;	       /* default 65536 */
	uint32_t max_connections;      /* default 4096 */
	uint32_t header_timeout_ms;    /* default 30000 */
	uint32_t keepalive_timeout_ms; /* default 60000 */
	bool secure;		       /* https in front: cookies Secure, etc. */
	/* (fields below: 0 means the default) */
	uint32_t max_conns_per_ip;	  /* default 64: further accepts from that address closed at once */
	uint32_t first_header_timeout_ms; /* default 10000 (at most header_timeout_ms): a new connection's first head */
	uint32_t ws_max_message;	  /* default 8 MiB: a kernel WebSocket client message (exec tap) */
	uint32_t ws_buffer_total;	  /* default 64 MiB: exec tap reassembly over all kernel WebSockets */
	uint32_t ws_buffer_per_user;	  /* default 16 MiB: ... over those of one user's server */
};

/* listen_fd: an already bound+listening TCP socket (passed by the monitor). */
int http_server_new(uv_loop_t *loop, int listen_fd, const struct http_limits *limits, const struct http_ops *ops,
		    void *ud, struct http_server **ret);
/* Stop accepting, close every connection; cb when all handles are closed. */
void http_server_free(struct http_server *srv);

/* ---- request accessors ---- */
/* Case-insensitive; first occurrence; NULL if absent. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Cookie value by name from the Cookie header(s); -ENOENT, -ENAMETOOLONG. */
int http_req_cookie(const struct http_req *req, const char *name, char *out, size_t size);
/* Query parameter (percent-decoded). -ENOENT if absent. */
int http_req_query(const struct http_req *req, const char *name, char *out, size_t size);
/* application/x-www-form-urlencoded body field (percent-decoded, '+' = space). */
int http_req_form(const struct http_req *req, const char *name, char *out, size_t size);

/* Client side of the current request, for the proxy: HTTP/1.1 (else 1.0),
 * chunked request body, declared Content-Length (0 if none). */
bool http_req_http11(const struct http_req *req);
bool http_req_chunked(const struct http_req *req);
uint64_t http_req_content_length(const struct http_req *req);
/* Will the connection stay open after this request's response? */
bool http_req_keep_alive(const struct http_req *req);

/* ---- responses (exactly one per request) ---- */
/* Extra header for the coming response; -EINVAL on CR/LF/NUL or bad name. Max 32 per response. */
int http_add_header(struct http_req *req, const char *name, const char *value);
void http_respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len);
void http_respond_json(struct http_req *req, int status, json_t *obj /* stolen */);
/* {"status": N, "message": msg} as JupyterHub does. */
void http_respond_error_json(struct http_req *req, int status, const char *message);
void http_redirect(struct http_req *req, const char *location); /* 302 */

/* Streaming (server-sent events): head without Content-Length, then writes,
 * then end. The connection closes after the stream. */
int http_stream_start(struct http_req *req, int status, const char *content_type);
int http_stream_write(struct http_req *req, const void *data, size_t len);
void http_stream_end(struct http_req *req);

/* ---- for proxy/ only: a proxied exchange drives its client connection ----
 * After route() returned HTTP_ROUTE_PROXY, the http module calls proxy_begin()
 * and then feeds it the request body (proxy.h). The proxy answers through
 * these, or with http_respond*() (e.g. 502/503), which also ends the exchange:
 * after either http_conn_proxy_end() or an http_respond*() the proxy must not
 * touch the connection again. */
/* Append n bytes to a growing head buffer of NUL-separated strings (request
 * parser and proxy response head): the buffer grows by doubling from 1 KiB
 * and *len + n + 1 never exceeds max (-ENOBUFS); at may point into *head.
 * Not NUL-terminated by itself: append "" with n = 1 to end a string.
 * -ENOMEM; on any error the buffer is unchanged. */
int http_head_append(char **head, size_t *len, size_t *cap, size_t max, const char *at, size_t n);
/* Raw bytes to the client (copied); -EPIPE once the connection is closing. */
int http_conn_write(struct http_conn *c, const void *data, size_t len);
/* Bytes queued to the client and not yet written (backpressure). */
size_t http_conn_write_queued(const struct http_conn *c);
/* The proxy can take request body again (after proxy_body_blocked()). */
void http_conn_proxy_resume(struct http_conn *c);
/* The exchange is over. complete: the response was queued completely (close:
 * close the connection after it); !complete: the connection is aborted. */
void http_conn_proxy_end(struct http_conn *c, bool complete, bool close);
/* A 101 was forwarded: from now on the client's bytes go raw to
 * proxy_client_data(). Returns the bytes the client already sent after the
 * request (copy them at once). */
int http_conn_proxy_upgrade(struct http_conn *c, const char **ret_early, size_t *ret_len);
/* Spliced connection: stop/restart reading the client (backpressure). */
void http_conn_read_pause(struct http_conn *c, bool pause);

/* ---- pure helpers (unit tested, fuzzed) ---- */
/* Percent-decode (plus_as_space for forms); rejects bad escapes and NUL; -EINVAL/-ENAMETOOLONG. */
int http_urldecode(const char *in, size_t in_len, bool plus_as_space, char *out, size_t out_size);
/* Find key in "a=1&b=2" (raw), decode value into out. */
int http_param_get(const char *params, size_t len, const char *key, bool plus_as_space, char *out, size_t size);
/* HTML-escape into out (& < > " ' → entities); -ENAMETOOLONG if it does not fit. */
int http_html_escape(const char *in, char *out, size_t size);
const char *http_status_text(int status);
/* Append "Name: value\r\n" to a head being built (callers validate name/value). */
void http_head_header(struct nbw_buf *b, const char *name, const char *value);

/* ---- more pure helpers (added by the http module; unit tested, fuzzed) ---- */
/* Cookie value by name from one Cookie header value ("a=1; b=2"); surrounding
 * double quotes removed. Length, -ENOENT, -ENAMETOOLONG. */
int http_cookie_get(const char *cookie_header, const char *name, char *out, size_t size);
/* Copy a Cookie header value without the cookies for which drop(name, len) is
 * true, re-joined with "; " (the input ends at in_len or a NUL). out needs at most
 * 2 * in_len + 1 bytes. Returns the
 * output length (0: nothing left), -ENAMETOOLONG. */
int http_cookie_filter(const char *in, size_t in_len, bool (*drop)(const char *name, size_t len), char *out,
		       size_t size);
/* RFC 9110 token (header field name): non-empty, tchar only. */
bool http_header_name_valid(const char *name);
/* Header field value that can be written as is: no CR, LF, NUL or other
 * control byte except HTAB. */
bool http_header_value_valid(const char *value);
/* Does the comma-separated list (e.g. a Connection header value) contain token
 * (case-insensitive, surrounding whitespace ignored)? */
bool http_token_list_has(const char *list, size_t len, const char *token);
/* Strip leading and trailing spaces and tabs in place (a header value's OWS). */
char *http_ows_trim(char *s);
/* IMF-fixdate of unix seconds ("Sun, 06 Nov 1994 08:49:37 GMT"); buf >= 30. */
int http_date_format(int64_t unix_secs, char *buf, size_t size);
