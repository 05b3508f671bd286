/* http: connections — accept, read, parse (parse.c), route, keep-alive,
 * pipelining, timeouts, close. One struct http_conn per client with its TCP
 * handle and one timer embedded; it is freed only from the last uv_close
 * callback.
 *
 * Input goes into a bounded per-connection buffer and is parsed from there.
 * Parsing stops (bytes stay in the buffer) while a request's response is in
 * progress — that is what serializes pipelined requests — and while the proxy
 * cannot take more body; reading stops when the buffer is full. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "http/internal.h"
#include "proxy/proxy.h"

struct write_req {
	uv_write_t req;
	size_t len;
	char *buf;
};

static void conn_process(struct http_conn *c);
static void conn_update_reading(struct http_conn *c);
static void conn_check_done(struct http_conn *c);

/* ---- lifetime ---- */

static void server_maybe_free(struct http_server *srv)
{
	if (!srv->closing || srv->listener_open || srv->pool_open || srv->n_conns > 0)
		return;
	free(srv);
}

static void conn_reset_request(struct http_conn *c)
{
	free(c->req.body);
	c->req.body = NULL;
	c->req.body_len = 0;
	c->req.app = NULL;
	c->body_cap = 0;
	c->discarded = 0;
	c->routed = false;
	c->msg_complete = false;
	c->body_blocked = false;
	c->head_request = false;
	c->route = HTTP_ROUTE_DONE;
	c->resp = HTTP_RESP_NONE;
	c->resp_status = 0;
	http__conn_free_extra(c);
}

static size_t ip_bucket(const uint8_t key[17])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % HTTP_IP_BUCKETS;
}

/* Count c against its client address; false if that address is at its cap. */
static bool ip_take(struct http_conn *c, const uint8_t key[17])
{
	struct http_server *srv = c->srv;
	struct http__ip_count **head = &srv->ip_buckets[ip_bucket(key)], *e;

	for (e = *head; e; e = e->next)
		if (memcmp(e->key, key, sizeof(e->key)) == 0)
			break;
	if (e && e->n >= srv->limits.max_conns_per_ip)
		return false;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		memcpy(e->key, key, sizeof(e->key));
		e->next = *head;
		*head = e;
	}
	e->n++;
	c->ip = e;
	return true;
}

static void ip_release(struct http_conn *c)
{
	struct http__ip_count *e = TAKE_PTR(c->ip), **pp;

	if (!e || --e->n > 0)
		return;
	for (pp = &c->srv->ip_buckets[ip_bucket(e->key)]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free(e);
}

static void conn_free(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	ip_release(c);
	conn_reset_request(c);
	http__rp_done(&c->rp);
	free(c);
	server_maybe_free(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

static void conn_close_handles(struct http_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	if (status < 0 || c->eof || uv_is_closing((uv_handle_t *)&c->tcp)) {
		conn_close_handles(c);
		return;
	}
	/* Lingering close: read and drop what the client still sends for a
	 * moment, so that our last response is not destroyed by a RST. */
	c->lingering = true;
	c->in_off = c->in_len = 0;
	uv_timer_start(&c->timer, on_timer, HTTP_LINGER_MS, 0);
	conn_update_reading(c);
}

void http__conn_close(struct http_conn *c, bool graceful)
{
	struct http_server *srv = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->proxy) {
		struct proxy *p = TAKE_PTR(c->proxy);

		proxy_client_gone(p);
	}
	if (c->routed && c->resp != HTTP_RESP_ENDED && srv->ops.on_abort)
		srv->ops.on_abort(&c->req, srv->ud);
	c->routed = false;
	uv_timer_stop(&c->timer);
	if (graceful) {
		c->shutdown_req.data = c;
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
			conn_update_reading(c);
			return;
		}
	}
	conn_close_handles(c);
}

/* ---- writing ---- */

static void on_write(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct http_conn *c = w->data;

	c->writes--;
	c->write_bytes -= wr->len;
	free(wr->buf);
	free(wr);
	if (status < 0) {
		http__conn_close(c, false);
		return;
	}
	if (c->closing)
		return;
	if (c->proxy && c->write_bytes <= HTTP_WRITE_LOW)
		proxy_client_drained(c->proxy);
	conn_check_done(c);
}

int http__conn_write_owned(struct http_conn *c, char *buf, size_t len)
{
	struct write_req *wr;
	uv_buf_t b;
	int r;

	if (c->closing) {
		free(buf);
		return -EPIPE;
	}
	if (len == 0) {
		free(buf);
		return 0;
	}
	wr = calloc(1, sizeof(*wr));
	if (!wr) {
		free(buf);
		return -ENOMEM;
	}
	wr->buf = buf;
	wr->len = len;
	wr->req.data = c;
	b = uv_buf_init(buf, (unsigned)len);
	r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (r < 0) {
		free(buf);
		free(wr);
		return r;
	}
	c->writes++;
	c->write_bytes += len;
	return 0;
}

int http_conn_write(struct http_conn *c, const void *data, size_t len)
{
	char *copy;

	if (c->closing)
		return -EPIPE;
	if (len == 0)
		return 0;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return http__conn_write_owned(c, copy, len);
}

size_t http_conn_write_queued(const struct http_conn *c)
{
	return c->write_bytes;
}

/* ---- request lifecycle ---- */

static void timer_start(struct http_conn *c, uint32_t ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static bool request_finished(const struct http_conn *c)
{
	return c->resp == HTTP_RESP_ENDED && c->writes == 0 && !c->splice && !c->proxy &&
	       (c->msg_complete || c->parse_stopped);
}

static void conn_check_done(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->closing || !request_finished(c))
		return;
	c->routed = false; /* answered: no abort for it any more */
	if (!c->keep_alive || c->parse_stopped || c->eof || srv->closing) {
		http__conn_close(c, true);
		return;
	}
	conn_reset_request(c);
	http__rp_next(&c->rp);
	c->served = true;
	timer_start(c, srv->limits.keepalive_timeout_ms);
	conn_process(c);
	conn_update_reading(c);
}

void http__conn_response_ended(struct http_conn *c)
{
	c->resp = HTTP_RESP_ENDED;
	conn_check_done(c);
}

static void send_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	(void)http_conn_write(c, cont, sizeof(cont) - 1);
}

/* The application's request ends without handle(): tell it once. */
static void conn_abort_app(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->routed && c->resp == HTTP_RESP_NONE && srv->ops.on_abort)
		srv->ops.on_abort(&c->req, srv->ud);
	c->routed = false;
}

static void conn_on_begin(struct http__rp *p)
{
	struct http_conn *c = p->owner;

	/* The first head keeps the shorter timer started at accept: bytes
	 * trickled in do not buy a new connection more time. */
	if (c->served)
		timer_start(c, c->srv->limits.header_timeout_ms);
}

static int conn_on_head(struct http__rp *p)
{
	struct http_conn *c = p->owner;
	struct http_server *srv = c->srv;
	struct proxy_target target;
	enum http_route r;

	c->head_request = strcmp(c->req.method, "HEAD") == 0;
	c->keep_alive = p->keep_alive && !srv->closing;
	memset(&target, 0, sizeof(target));
	c->routed = true;
	r = srv->ops.route(&c->req, &target, srv->ud);
	if (c->closing)
		goto stop;
	c->route = r;
	switch (r) {
	case HTTP_ROUTE_DONE:
		if (!p->has_body)
			uv_timer_stop(&c->timer);
		break;
	case HTTP_ROUTE_BUFFER:
		if (p->content_length > srv->limits.max_body) {
			conn_abort_app(c);
			c->keep_alive = false;
			http__respond_error_close(c, 413);
			goto stop;
		}
		if (p->expect_continue && p->has_body)
			send_continue(c);
		if (p->has_body) /* a (bounded) body gets its own time */
			timer_start(c, srv->limits.header_timeout_ms);
		break;
	case HTTP_ROUTE_PROXY:
		uv_timer_stop(&c->timer);
		if (p->expect_continue && p->has_body)
			send_continue(c);
		proxy_begin(srv->pool, &c->req, &target, &c->proxy);
		break;
	default:
		conn_abort_app(c);
		http__respond_error_close(c, 500);
		goto stop;
	}
	explicit_bzero(target.token, sizeof(target.token));
	return 0;
stop:
	explicit_bzero(target.token, sizeof(target.token));
	return -1;
}

/* Body bytes nobody wants (answered already, or the proxy is gone): bounded. */
static int conn_discard(struct http_conn *c, size_t len)
{
	c->discarded += len;
	if (c->discarded > c->srv->limits.max_body) {
		c->keep_alive = false;
		return -1;
	}
	return 0;
}

static int conn_on_body(struct http__rp *p, const char *at, size_t len)
{
	struct http_conn *c = p->owner;
	struct http_server *srv = c->srv;

	switch (c->route) {
	case HTTP_ROUTE_BUFFER:
		if (c->resp != HTTP_RESP_NONE)
			return conn_discard(c, len);
		if (c->req.body_len + len > srv->limits.max_body) {
			conn_abort_app(c);
			c->keep_alive = false;
			http__respond_error_close(c, 413);
			return -1;
		}
		if (c->req.body_len + len + 1 > c->body_cap) {
			size_t cap = c->body_cap ? c->body_cap : 1024;
			uint8_t *n;

			while (cap < c->req.body_len + len + 1)
				cap *= 2;
			n = realloc(c->req.body, cap);
			if (!n) {
				conn_abort_app(c);
				http__respond_error_close(c, 500);
				return -1;
			}
			c->req.body = n;
			c->body_cap = cap;
		}
		memcpy(c->req.body + c->req.body_len, at, len);
		c->req.body_len += len;
		c->req.body[c->req.body_len] = '\0';
		return 0;
	case HTTP_ROUTE_PROXY:
		if (!c->proxy)
			return conn_discard(c, len);
		proxy_body(c->proxy, at, len);
		if (c->proxy && proxy_body_blocked(c->proxy)) {
			c->body_blocked = true;
			return 1;
		}
		return 0;
	default:
		return conn_discard(c, len);
	}
}

static const struct http__rp_ops conn_rp_ops = {
    .on_begin = conn_on_begin,
    .on_head = conn_on_head,
    .on_body = conn_on_body,
};

static void conn_message_complete(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	c->msg_complete = true;
	uv_timer_stop(&c->timer);
	switch (c->route) {
	case HTTP_ROUTE_BUFFER:
		if (c->resp == HTTP_RESP_NONE && c->routed) {
			if (!c->req.body) {
				c->req.body = calloc(1, 1);
				if (!c->req.body) {
					conn_abort_app(c);
					http__respond_error_close(c, 500);
					return;
				}
			}
			srv->ops.handle(&c->req, srv->ud);
		}
		break;
	case HTTP_ROUTE_PROXY:
		if (c->proxy)
			proxy_body_end(c->proxy);
		break;
	default:
		break;
	}
	conn_check_done(c);
}

static void conn_parse_error(struct http_conn *c, int status)
{
	c->parse_stopped = true;
	c->keep_alive = false;
	if (status == 0) {
		/* the owner answered (413, ...) or gave up: finish what is queued */
		if (c->resp == HTTP_RESP_ENDED)
			conn_check_done(c);
		return;
	}
	if (c->routed || c->resp != HTTP_RESP_NONE) {
		/* The application or the proxy owns this request: a broken body
		 * can only end it. */
		http__conn_close(c, c->resp == HTTP_RESP_ENDED);
		return;
	}
	http__respond_error_close(c, status);
}

static void conn_process(struct http_conn *c)
{
	if (c->in_process) {
		c->reprocess = true;
		return;
	}
	c->in_process = true;
	do {
		c->reprocess = false;
		while (!c->closing && !c->splice && !c->parse_stopped && !c->body_blocked && !c->msg_complete &&
		       c->in_off < c->in_len) {
			size_t used = 0;
			enum http__rp_result r;

			r = http__rp_feed(&c->rp, c->inbuf + c->in_off, c->in_len - c->in_off, &used);
			c->in_off += used;
			if (r == HTTP__RP_DONE)
				conn_message_complete(c);
			else if (r == HTTP__RP_ERROR)
				conn_parse_error(c, c->rp.status);
		}
	} while (c->reprocess && !c->closing);
	c->in_process = false;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (!c->closing)
		conn_update_reading(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	if (c->lingering || c->closing || c->splice)
		c->in_off = c->in_len = 0;
	if (c->in_off > 0 && c->in_len == sizeof(c->inbuf)) {
		memmove(c->inbuf, c->inbuf + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	*buf = uv_buf_init(c->inbuf + c->in_len, (unsigned)(sizeof(c->inbuf) - c->in_len));
}

static void conn_on_eof(struct http_conn *c)
{
	c->eof = true;
	if (c->splice) {
		if (c->proxy)
			proxy_client_eof(c->proxy);
		return;
	}
	if (c->routed && c->msg_complete && c->resp != HTTP_RESP_STREAM) {
		/* A half-close after a complete request: answer it, then close. */
		c->keep_alive = false;
		conn_update_reading(c);
		return;
	}
	http__conn_close(c, !c->routed && !c->rp.in_message);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;

	if (nread == 0)
		return;
	if (c->closing) {
		/* lingering or waiting for the shutdown: drop input */
		c->in_off = c->in_len = 0;
		if (nread < 0) {
			c->eof = true;
			/* a pending shutdown still flushes our answer; it closes then */
			if (c->lingering || nread != UV_EOF)
				conn_close_handles(c);
			else
				conn_update_reading(c);
		}
		return;
	}
	if (nread == UV_ENOBUFS) {
		conn_update_reading(c);
		return;
	}
	if (nread < 0) {
		if (nread == UV_EOF)
			conn_on_eof(c);
		else
			http__conn_close(c, false);
		return;
	}
	if (c->splice) {
		c->in_off = c->in_len = 0;
		if (c->proxy)
			proxy_client_data(c->proxy, buf->base, (size_t)nread);
		return;
	}
	c->in_len += (size_t)nread;
	conn_process(c);
}

static void conn_update_reading(struct http_conn *c)
{
	bool want;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->closing)
		want = !c->eof;
	else if (c->splice)
		want = !c->eof && !c->read_paused;
	else {
		if (c->in_off > 0 && c->in_len == sizeof(c->inbuf)) {
			memmove(c->inbuf, c->inbuf + c->in_off, c->in_len - c->in_off);
			c->in_len -= c->in_off;
			c->in_off = 0;
		}
		want = !c->eof && c->in_len < sizeof(c->inbuf);
	}
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	if (c->closing) {
		conn_close_handles(c);
		return;
	}
	if (!c->routed && c->resp == HTTP_RESP_NONE && !c->rp.in_message) {
		http__conn_close(c, true); /* idle */
		return;
	}
	if (c->resp == HTTP_RESP_NONE && (!c->routed || c->route == HTTP_ROUTE_BUFFER)) {
		/* head (or buffered body) too slow: slowloris */
		conn_abort_app(c);
		c->parse_stopped = true;
		c->keep_alive = false;
		http__respond_error_close(c, 408);
		return;
	}
	http__conn_close(c, c->resp == HTTP_RESP_ENDED);
}

/* ---- proxy-facing ---- */

void http_conn_proxy_resume(struct http_conn *c)
{
	if (c->closing || !c->body_blocked)
		return;
	c->body_blocked = false;
	conn_process(c);
}

void http_conn_proxy_end(struct http_conn *c, bool complete, bool close)
{
	c->proxy = NULL;
	if (c->closing)
		return;
	if (!complete) {
		http__conn_close(c, false);
		return;
	}
	if (close)
		c->keep_alive = false;
	c->resp = HTTP_RESP_ENDED;
	if (c->splice) {
		http__conn_close(c, true);
		return;
	}
	if (!c->msg_complete) {
		/* The answer came before the whole body: drop the rest, bounded
		 * in size and time. */
		timer_start(c, c->srv->limits.header_timeout_ms);
		c->body_blocked = false;
		conn_process(c);
	}
	conn_check_done(c);
}

int http_conn_proxy_upgrade(struct http_conn *c, const char **ret_early, size_t *ret_len)
{
	if (c->closing || c->eof)
		return -EPIPE; /* the client is gone already: no WebSocket */
	c->splice = true;
	c->resp = HTTP_RESP_ENDED;
	c->routed = false;
	uv_timer_stop(&c->timer);
	*ret_early = c->inbuf + c->in_off;
	*ret_len = c->in_len - c->in_off;
	/* the caller copies them now; the buffer is reused by the next read */
	c->in_off = c->in_len = 0;
	conn_update_reading(c);
	return 0;
}

void http_conn_read_pause(struct http_conn *c, bool pause)
{
	if (c->closing)
		return;
	c->read_paused = pause;
	conn_update_reading(c);
}

bool http_req_http11(const struct http_req *req)
{
	return http__rp_is_http11(&req->conn->rp);
}

bool http_req_chunked(const struct http_req *req)
{
	return req->conn->rp.chunked;
}

uint64_t http_req_content_length(const struct http_req *req)
{
	return req->conn->rp.content_length;
}

bool http_req_keep_alive(const struct http_req *req)
{
	return req->conn->keep_alive;
}

/* ---- accept ---- */

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

static void reject_connection(struct http_server *srv)
{
	uv_tcp_t *t = malloc(sizeof(*t));

	if (!t || uv_tcp_init(srv->loop, t) < 0) {
		free(t);
		return;
	}
	(void)uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, on_reject_closed);
}

/* The client's address as text (req.client_ip) and as a counting key. */
static void peer_ip(struct http_conn *c, uint8_t key[17])
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(key, 0, 17);
	nbw_strlcpy(c->req.client_ip, "unknown", sizeof(c->req.client_ip));
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		uv_ip4_name(s4, c->req.client_ip, sizeof(c->req.client_ip));
		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->req.client_ip, sizeof(c->req.client_ip));
			key[0] = 4;
			memcpy(key + 1, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			uv_ip6_name(s6, c->req.client_ip, sizeof(c->req.client_ip));
			/* one client usually holds a whole /64 */
			key[0] = 6;
			memcpy(key + 1, s6->sin6_addr.s6_addr, 8);
		}
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct http_server *srv = server->data;
	struct http_conn *c;
	uint8_t key[17];

	if (status < 0 || srv->closing)
		return;
	if (srv->n_conns >= srv->limits.max_connections) {
		reject_connection(srv);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		reject_connection(srv);
		return;
	}
	c->srv = srv;
	if (uv_tcp_init(srv->loop, &c->tcp) < 0) {
		free(c);
		reject_connection(srv);
		return;
	}
	c->tcp.data = c;
	c->handles = 1;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->handles++;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	c->req.conn = c;
	http__rp_init(&c->rp, srv->limits.max_header, &conn_rp_ops, c, &c->req);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		c->closing = true;
		conn_close_handles(c);
		return;
	}
	peer_ip(c, key);
	if (!ip_take(c, key)) {
		/* one address must not hold every slot */
		c->closing = true;
		conn_close_handles(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	timer_start(c, srv->limits.first_header_timeout_ms);
	conn_update_reading(c);
}

/* ---- server ---- */

static void on_listener_closed(uv_handle_t *h)
{
	struct http_server *srv = h->data;

	srv->listener_open = false;
	server_maybe_free(srv);
}

static void on_pool_freed(void *arg)
{
	struct http_server *srv = arg;

	srv->pool_open = false;
	server_maybe_free(srv);
}

int http_server_new(uv_loop_t *loop, int listen_fd, const struct http_limits *limits, const struct http_ops *ops,
		    void *ud, struct http_server **ret)
{
	struct http_server *srv;
	int r;

	if (!loop || listen_fd < 0 || !ops || !ops->route || !ops->handle || !ret)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->ops = *ops;
	srv->ud = ud;
	if (limits)
		srv->limits = *limits;
	if (!srv->limits.max_header)
		srv->limits.max_header = 16384;
	if (!srv->limits.max_body)
		srv->limits.max_body = 65536;
	if (!srv->limits.max_connections)
		srv->limits.max_connections = 4096;
	if (!srv->limits.header_timeout_ms)
		srv->limits.header_timeout_ms = 30000;
	if (!srv->limits.keepalive_timeout_ms)
		srv->limits.keepalive_timeout_ms = 60000;
	if (!srv->limits.max_conns_per_ip)
		srv->limits.max_conns_per_ip = 64;
	if (!srv->limits.first_header_timeout_ms)
		srv->limits.first_header_timeout_ms =
		    srv->limits.header_timeout_ms < 10000 ? srv->limits.header_timeout_ms : 10000;
	r = proxy_pool_new(loop, &srv->ops, ud, &srv->limits, &srv->pool);
	if (r < 0) {
		free(srv);
		return r;
	}
	srv->pool_open = true;
	r = uv_tcp_init(loop, &srv->listener);
	if (r < 0)
		goto fail_pool;
	srv->listener.data = srv;
	srv->listener_open = true;
	r = uv_tcp_open(&srv->listener, listen_fd);
	if (r >= 0)
		r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
	if (r < 0)
		goto fail_listener;
	*ret = srv;
	return 0;

fail_listener:
	/* the listener handle is closed asynchronously; it frees srv */
	srv->closing = true;
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
	proxy_pool_free(srv->pool, on_pool_freed, srv);
	return r;
fail_pool:
	srv->closing = true;
	proxy_pool_free(srv->pool, on_pool_freed, srv);
	return r;
}

void http_server_free(struct http_server *srv)
{
	if (!srv || srv->closing)
		return;
	srv->closing = true;
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
	for (struct http_conn *c = srv->conns; c; c = c->next)
		http__conn_close(c, false);
	proxy_pool_free(srv->pool, on_pool_freed, srv);
}

const char *http__server_date(struct http_server *srv)
{
	int64_t now = nbw_time_now();

	if (now != srv->date_secs) {
		srv->date_secs = now;
		if (http_date_format(now, srv->date, sizeof(srv->date)) < 0)
			srv->date[0] = '\0';
	}
	return srv->date;
}
