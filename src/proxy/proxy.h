/* proxy: forwards an authenticated, authorized request for /user/NAME/... to
 * that user's Jupyter server over its unix socket: HTTP streamed both ways
 * (never a whole body buffered), WebSocket spliced after a 101, upstream
 * keep-alive pool per server, hop-by-hop headers removed per RFC 9110 §7.6.1,
 * nbwarden's own cookies stripped (and the server's Set-Cookie limited to its
 * own path, see proxy_set_cookie_allowed), the server's token injected as
 * "Authorization: token T", Sec-WebSocket-Extensions dropped so client frames
 * stay uncompressed for the execute tap. Used only by the http module. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/common.h"

struct proxy_target {
	char user[NBW_USERNAME_MAX + 1];  /* the server's owner */
	char socket_path[4096];		  /* host path of the server's unix socket */
	char token[64];			  /* the server's token: injected, never logged */
	char actor[NBW_USERNAME_MAX + 1]; /* who is making the request (audit) */
};

/* Cookie names the proxy never forwards upstream. */
bool proxy_cookie_is_ours(const char *name, size_t len);
/* May a Set-Cookie value from user's server, answering a request for
 * req_path (raw; NULL if unknown), reach the browser? Not if the cookie has
 * no name or one of ours (also behind __Host-/__Secure-), a Domain attribute,
 * or a path — its Path attributes, or without one the request's default path
 * (RFC 6265 5.1.4) — outside /user/USER/: the server shares the hub's origin
 * and must not plant or shadow cookies of the hub or of other servers. */
bool proxy_set_cookie_allowed(const char *value, const char *user, const char *req_path);

/* ---- used by the http module ---- */
struct http_req;
struct http_ops;
struct http_limits;
struct proxy_pool; /* one per http server: idle upstream connections per socket */
struct proxy;	   /* one upstream connection and the exchange on it */

int proxy_pool_new(uv_loop_t *loop, const struct http_ops *ops, void *ud, const struct http_limits *limits,
		   struct proxy_pool **ret);
/* Close every upstream connection; done(arg) once all are closed. */
void proxy_pool_free(struct proxy_pool *pool, void (*done)(void *arg), void *arg);

/* Forward req (route() said HTTP_ROUTE_PROXY) to t. Takes charge of answering
 * it: *ret is the exchange, or NULL if it was answered at once (503). */
void proxy_begin(struct proxy_pool *pool, struct http_req *req, const struct proxy_target *t, struct proxy **ret);
/* Request body bytes as parsed (de-chunked); re-framed for the upstream. */
void proxy_body(struct proxy *p, const void *data, size_t len);
/* Too much is queued to the upstream: stop feeding until http_conn_proxy_resume(). */
bool proxy_body_blocked(const struct proxy *p);
void proxy_body_end(struct proxy *p);
/* The client's write queue went below its low mark. */
void proxy_client_drained(struct proxy *p);
/* Spliced (WebSocket) client bytes / end of them. */
void proxy_client_data(struct proxy *p, const void *data, size_t len);
void proxy_client_eof(struct proxy *p);
/* The client connection is going away: forget it (no http_conn_* calls after). */
void proxy_client_gone(struct proxy *p);
