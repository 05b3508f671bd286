/* proxy: HTTP and WebSocket forwarding to a user's Jupyter server over its
 * unix socket.
 *
 * One struct proxy is one upstream connection (a uv_pipe_t and a timer,
 * freed from the last close callback) and, while it is in use, the exchange
 * on it: the request head is rewritten (hop-by-hop fields removed, our
 * cookies stripped, the server's token injected, X-Forwarded-* set), the
 * request body is streamed as the client's parser delivers it (chunked
 * re-encoded if the client sent chunked), the response is parsed with a
 * second llhttp so its framing is known and its hop-by-hop fields can be
 * dropped, and its body is streamed back. Both directions have backpressure:
 * above a high mark of queued bytes the producer stops reading. After a 101
 * to a WebSocket upgrade the bytes are spliced raw both ways, and client bytes
 * of kernel channels also go through the execute tap.
 *
 * Idle connections are kept per socket path (bounded, with an idle timeout)
 * and watched while idle, so one the server closed is dropped at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llhttp.h>

#include "common/common.h"
#include "http/http.h"
#include "proxy/exectap.h"
#include "proxy/proxy.h"
#include "proxy/wsframe.h"

#define PROXY_INBUF (16 * 1024)
#define PROXY_WRITE_HIGH (256 * 1024)
#define PROXY_WRITE_LOW (64 * 1024)
#define PROXY_IDLE_PER_SERVER 8
#define PROXY_IDLE_TOTAL 256
#define PROXY_IDLE_MS 30000
#define PROXY_CONNECT_MS 10000
#define PROXY_RESPONSE_MS 300000
#define PROXY_CLOSE_MS 2000
#define PROXY_MAX_RESP_HEAD (64 * 1024)
#define PROXY_MAX_RESP_HEADERS 200
#define PROXY_TAP_MAX_MESSAGE (8u * 1024 * 1024)
#define PROXY_TAP_BUDGET_TOTAL (64u * 1024 * 1024)
#define PROXY_TAP_BUDGET_PER_USER (16u * 1024 * 1024)
#define WS_CLOSE_TOO_BIG 1009
#define PROXY_ACTIVITY_MS 1000

enum up_state {
	UP_NEW = 0,
	UP_CONNECTING,
	UP_ACTIVE, /* an HTTP exchange */
	UP_SPLICE, /* a WebSocket */
	UP_IDLE,   /* in the pool */
	UP_CLOSING,
};

struct wbuf {
	struct wbuf *next;
	size_t len;
	char data[];
};

struct up_write {
	uv_write_t req;
	struct proxy *p;
	size_t len;
	char *buf;
};

struct proxy_pool {
	uv_loop_t *loop;
	const struct http_ops *ops;
	void *ud;
	bool secure;
	size_t tap_max_message;
	struct exectap_budget *tap_budget; /* reassembly memory of every tap */
	struct proxy *all;
	struct proxy *idle; /* most recently used first */
	size_t n_idle;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

struct proxy {
	struct proxy_pool *pool;
	struct proxy *all_prev, *all_next;
	struct proxy *idle_prev, *idle_next;
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	int handles;
	int path_fd;
	enum up_state state;
	bool connected;
	bool reused;
	char socket_path[sizeof(((struct proxy_target *)0)->socket_path)];

	/* the exchange */
	struct proxy_target target; /* token wiped once the head is built */
	struct http_conn *client;
	struct http_req *req;
	char client_ip[64];
	struct wbuf *pending, **pending_tail; /* queued before the connection is up */
	size_t up_queued;		      /* bytes queued to the upstream */
	bool client_blocked;		      /* told the client side to stop */
	bool req_chunked, req_done, req_upgrade, req_head, client_http11, client_keep_alive;

	/* the response */
	llhttp_t rp;
	char *rhead;
	size_t rhead_len, rhead_cap;
	uint32_t rhdr[PROXY_MAX_RESP_HEADERS][2];
	size_t n_rhdr;
	size_t status_off;
	enum { RW_STATUS, RW_FIELD, RW_VALUE } rwhere;
	bool interim;	   /* a 1xx other than 101: dropped */
	bool resp_error;   /* response head violates our bounds */
	bool head_sent;	   /* something was sent to the client */
	bool chunked_out;  /* we chunk the body to the client */
	bool close_delim;  /* body to the client ends with the connection */
	bool close_client; /* the client connection closes after this response */
	bool switching;	   /* 101 forwarded */
	bool resp_done;
	bool up_keep_alive;
	bool reading, read_paused;

	struct exectap *tap;
	struct proxy__wsbound down; /* frame boundaries server→client */
	bool too_big;		    /* a client message over the bound: closing with 1009 */
	uint64_t last_activity;
	char inbuf[PROXY_INBUF];
};

static void proxy_close(struct proxy *p, bool graceful);
static void up_read_update(struct proxy *p);
static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

bool proxy_cookie_is_ours(const char *name, size_t len)
{
	return len >= 8 && strncasecmp(name, "nbwarden", 8) == 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* [s, s+n) without surrounding SP/HTAB. */
static void trim_span(const char **s, size_t *n)
{
	while (*n > 0 && is_ws(**s))
		(*s)++, (*n)--;
	while (*n > 0 && is_ws((*s)[*n - 1]))
		(*n)--;
}

/* Is a cookie path (as the browser will store it) limited to the server's
 * own prefix? "/user/NAME" matches only /user/NAME and /user/NAME/... (RFC
 * 6265 5.1.4 path-match), so it counts as well as "/user/NAME/...". */
static bool cookie_path_ok(const char *path, size_t len, const char *user)
{
	char prefix[sizeof("/user/") + NBW_USERNAME_MAX];
	int n = nbw_snprintf(prefix, sizeof(prefix), "/user/%s", user);

	if (n <= (int)strlen("/user/") || len < (size_t)n || memcmp(path, prefix, (size_t)n) != 0)
		return false;
	return len == (size_t)n || path[n] == '/';
}

/* RFC 6265 5.1.4 default-path of the request path, checked like a Path. */
static bool default_path_ok(const char *req_path, const char *user)
{
	const char *last;

	if (!req_path || req_path[0] != '/')
		return false;
	last = strrchr(req_path, '/');
	return last != req_path && cookie_path_ok(req_path, (size_t)(last - req_path), user);
}

bool proxy_set_cookie_allowed(const char *value, const char *user, const char *req_path)
{
	const char *p = value, *semi, *eq, *name;
	size_t len, name_len;
	bool path_seen = false;

	if (!value || !user || !user[0])
		return false;
	semi = strchr(p, ';');
	len = semi ? (size_t)(semi - p) : strlen(p);
	eq = memchr(p, '=', len);
	if (!eq)
		return false; /* browsers take "x" as a nameless cookie */
	name = p;
	name_len = (size_t)(eq - p);
	trim_span(&name, &name_len);
	if (name_len == 0 || proxy_cookie_is_ours(name, name_len))
		return false;
	/* the prefixed forms name our cookies too */
	if (name_len > 7 && strncasecmp(name, "__Host-", 7) == 0 && proxy_cookie_is_ours(name + 7, name_len - 7))
		return false;
	if (name_len > 9 && strncasecmp(name, "__Secure-", 9) == 0 && proxy_cookie_is_ours(name + 9, name_len - 9))
		return false;

	while (semi) {
		const char *attr = semi + 1, *av = NULL;
		size_t alen, avlen = 0;

		semi = strchr(attr, ';');
		alen = semi ? (size_t)(semi - attr) : strlen(attr);
		eq = memchr(attr, '=', alen);
		if (eq) {
			av = eq + 1;
			avlen = alen - (size_t)(av - attr);
			alen = (size_t)(eq - attr);
			trim_span(&av, &avlen);
		}
		trim_span(&attr, &alen);
		if (alen == 6 && strncasecmp(attr, "Domain", 6) == 0)
			return false; /* would reach other hosts, or the hub's own */
		if (alen == 4 && strncasecmp(attr, "Path", 4) == 0) {
			bool ok;

			path_seen = true;
			if (av && avlen > 0 && av[0] == '/')
				ok = cookie_path_ok(av, avlen, user);
			else /* a value not starting with '/' means the default path */
				ok = default_path_ok(req_path, user);
			if (!ok)
				return false;
		}
	}
	return path_seen || default_path_ok(req_path, user);
}

/* ---- pool and lifetime ---- */

int proxy_pool_new(uv_loop_t *loop, const struct http_ops *ops, void *ud, const struct http_limits *limits,
		   struct proxy_pool **ret)
{
	struct proxy_pool *pool = calloc(1, sizeof(*pool));
	int r;

	if (!pool)
		return -ENOMEM;
	pool->loop = loop;
	pool->ops = ops;
	pool->ud = ud;
	pool->secure = limits && limits->secure;
	pool->tap_max_message = limits && limits->ws_max_message ? limits->ws_max_message : PROXY_TAP_MAX_MESSAGE;
	r = exectap_budget_new(limits && limits->ws_buffer_total ? limits->ws_buffer_total : PROXY_TAP_BUDGET_TOTAL,
			       limits && limits->ws_buffer_per_user ? limits->ws_buffer_per_user
								    : PROXY_TAP_BUDGET_PER_USER,
			       &pool->tap_budget);
	if (r < 0) {
		free(pool);
		return r;
	}
	*ret = pool;
	return 0;
}

static void pool_maybe_done(struct proxy_pool *pool)
{
	if (!pool->closing || pool->all)
		return;
	if (pool->done)
		pool->done(pool->done_arg);
	exectap_budget_free(pool->tap_budget); /* every tap went with its connection */
	free(pool);
}

void proxy_pool_free(struct proxy_pool *pool, void (*done)(void *arg), void *arg)
{
	struct proxy *p, *next;

	if (!pool)
		return;
	pool->closing = true;
	pool->done = done;
	pool->done_arg = arg;
	for (p = pool->all; p; p = next) {
		next = p->all_next;
		if (p->state == UP_IDLE || !p->client)
			proxy_close(p, false);
	}
	pool_maybe_done(pool);
}

static void idle_unlink(struct proxy *p)
{
	struct proxy_pool *pool = p->pool;

	if (p->state != UP_IDLE)
		return;
	if (p->idle_prev)
		p->idle_prev->idle_next = p->idle_next;
	else
		pool->idle = p->idle_next;
	if (p->idle_next)
		p->idle_next->idle_prev = p->idle_prev;
	p->idle_prev = p->idle_next = NULL;
	pool->n_idle--;
}

static void free_pending(struct proxy *p)
{
	while (p->pending) {
		struct wbuf *w = p->pending;

		p->pending = w->next;
		free(w);
	}
	p->pending_tail = &p->pending;
}

static void proxy_reset_exchange(struct proxy *p)
{
	free(p->rhead);
	p->rhead = NULL;
	p->rhead_len = p->rhead_cap = 0;
	p->n_rhdr = 0;
	p->status_off = 0;
	p->rwhere = RW_STATUS;
	p->interim = p->resp_error = p->head_sent = p->chunked_out = p->close_delim = p->close_client = false;
	p->switching = p->resp_done = p->up_keep_alive = false;
	p->req_chunked = p->req_done = p->req_upgrade = p->req_head = false;
	p->client_blocked = false;
	p->client = NULL;
	p->req = NULL;
	explicit_bzero(&p->target, sizeof(p->target));
}

static void on_up_closed(uv_handle_t *h)
{
	struct proxy *p = h->data;
	struct proxy_pool *pool = p->pool;

	if (--p->handles > 0)
		return;
	if (p->all_prev)
		p->all_prev->all_next = p->all_next;
	else
		pool->all = p->all_next;
	if (p->all_next)
		p->all_next->all_prev = p->all_prev;
	if (p->path_fd >= 0)
		close(p->path_fd);
	free_pending(p);
	exectap_free(p->tap);
	proxy_reset_exchange(p);
	free(p);
	pool_maybe_done(pool);
}

static void close_handles(struct proxy *p)
{
	if (!uv_is_closing((uv_handle_t *)&p->pipe))
		uv_close((uv_handle_t *)&p->pipe, on_up_closed);
	if (!uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, on_up_closed);
}

static void on_up_shutdown(uv_shutdown_t *req, int status)
{
	close_handles(req->data);
}

static void on_up_timer(uv_timer_t *t);

/* Close the upstream side. The client must have been detached already. */
static void proxy_close(struct proxy *p, bool graceful)
{
	if (p->state == UP_CLOSING)
		return;
	idle_unlink(p);
	p->state = UP_CLOSING;
	p->client = NULL;
	p->req = NULL;
	if (p->reading) {
		uv_read_stop((uv_stream_t *)&p->pipe);
		p->reading = false;
	}
	if (graceful && p->connected) {
		p->shutdown_req.data = p;
		if (uv_shutdown(&p->shutdown_req, (uv_stream_t *)&p->pipe, on_up_shutdown) == 0) {
			uv_timer_start(&p->timer, on_up_timer, PROXY_CLOSE_MS, 0);
			return;
		}
	}
	close_handles(p);
}

static struct proxy *proxy_new(struct proxy_pool *pool, const char *socket_path)
{
	struct proxy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pool = pool;
	p->path_fd = -1;
	p->pending_tail = &p->pending;
	nbw_strlcpy(p->socket_path, socket_path, sizeof(p->socket_path));
	if (uv_pipe_init(pool->loop, &p->pipe, 0) < 0) {
		free(p);
		return NULL;
	}
	p->pipe.data = p;
	uv_timer_init(pool->loop, &p->timer);
	p->timer.data = p;
	p->handles = 2;
	p->all_next = pool->all;
	if (pool->all)
		pool->all->all_prev = p;
	pool->all = p;
	return p;
}

static struct proxy *pool_take(struct proxy_pool *pool, const char *socket_path)
{
	for (struct proxy *p = pool->idle; p; p = p->idle_next) {
		if (strcmp(p->socket_path, socket_path) != 0)
			continue;
		idle_unlink(p);
		uv_timer_stop(&p->timer);
		if (p->reading) {
			uv_read_stop((uv_stream_t *)&p->pipe);
			p->reading = false;
		}
		p->reused = true;
		return p;
	}
	return NULL;
}

static void pool_put(struct proxy *p)
{
	struct proxy_pool *pool = p->pool;
	size_t same = 0;

	proxy_reset_exchange(p);
	if (pool->closing || p->tap || !p->connected) {
		proxy_close(p, true);
		return;
	}
	for (struct proxy *q = pool->idle; q; q = q->idle_next)
		if (strcmp(q->socket_path, p->socket_path) == 0)
			same++;
	if (same >= PROXY_IDLE_PER_SERVER || pool->n_idle >= PROXY_IDLE_TOTAL) {
		proxy_close(p, true);
		return;
	}
	p->state = UP_IDLE;
	p->idle_prev = NULL;
	p->idle_next = pool->idle;
	if (pool->idle)
		pool->idle->idle_prev = p;
	pool->idle = p;
	pool->n_idle++;
	p->read_paused = false;
	uv_timer_start(&p->timer, on_up_timer, PROXY_IDLE_MS, 0);
	up_read_update(p); /* watch: anything the server sends now means it closed */
}

/* ---- writing upstream ---- */

static void on_up_write(uv_write_t *w, int status);

static int up_submit(struct proxy *p, char *buf, size_t len)
{
	struct up_write *wr = calloc(1, sizeof(*wr));
	uv_buf_t b;
	int r;

	if (!wr) {
		free(buf);
		return -ENOMEM;
	}
	wr->p = p;
	wr->len = len;
	wr->buf = buf;
	b = uv_buf_init(buf, (unsigned)len);
	r = uv_write(&wr->req, (uv_stream_t *)&p->pipe, &b, 1, on_up_write);
	if (r < 0) {
		free(buf);
		free(wr);
		return r;
	}
	p->up_queued += len;
	return 0;
}

/* Queue prefix + data + suffix as one write. */
static int up_write3(struct proxy *p, const char *prefix, size_t plen, const void *data, size_t len, const char *suffix,
		     size_t slen)
{
	size_t total = plen + len + slen;
	char *buf;

	if (p->state == UP_CLOSING)
		return -EPIPE;
	if (total == 0)
		return 0;
	if (!p->connected) {
		struct wbuf *w = malloc(sizeof(*w) + total);

		if (!w)
			return -ENOMEM;
		w->next = NULL;
		w->len = total;
		memcpy(w->data, prefix, plen);
		memcpy(w->data + plen, data, len);
		memcpy(w->data + plen + len, suffix, slen);
		*p->pending_tail = w;
		p->pending_tail = &w->next;
		p->up_queued += total;
		return 0;
	}
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, data, len);
	memcpy(buf + plen + len, suffix, slen);
	return up_submit(p, buf, total);
}

static int up_write(struct proxy *p, const void *data, size_t len)
{
	return up_write3(p, "", 0, data, len, "", 0);
}

static int flush_pending(struct proxy *p)
{
	while (p->pending) {
		struct wbuf *w = p->pending;
		char *buf;
		int r;

		p->pending = w->next;
		p->up_queued -= w->len;
		buf = malloc(w->len);
		if (!buf) {
			free(w);
			return -ENOMEM;
		}
		memcpy(buf, w->data, w->len);
		r = up_submit(p, buf, w->len);
		free(w);
		if (r < 0)
			return r;
	}
	p->pending_tail = &p->pending;
	return 0;
}

/* ---- answering the client when the upstream fails ---- */

static void respond_unavailable(struct proxy_pool *pool, struct http_req *req, const struct proxy_target *t, int err)
{
	const char *accept = http_req_header(req, "Accept");
	char msg[128];

	/* first, so the application has seen the failure when the client does */
	if (pool->ops->on_upstream_error)
		pool->ops->on_upstream_error(t, err, pool->ud);
	(void)nbw_snprintf(msg, sizeof(msg), "server for %s is not running", t->user);
	if (accept && strstr(accept, "text/html")) {
		char esc[sizeof(msg) * 6], page[2048];
		int n;

		if (http_html_escape(msg, esc, sizeof(esc)) < 0)
			esc[0] = '\0';
		n = nbw_snprintf(page, sizeof(page),
				 "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>503 Service "
				 "Unavailable</title></head>\n<body><h1>Service Unavailable</h1><p>The %s.</p>"
				 "<p><a href=\"/hub/home\">Home</a></p></body></html>\n",
				 esc);
		http_respond(req, 503, "text/html; charset=utf-8", page, n > 0 ? (size_t)n : 0);
	} else
		http_respond_error_json(req, 503, msg);
}

/* The upstream failed: answer or abort the client, drop the connection. */
static void up_fail(struct proxy *p, int status, int err)
{
	struct proxy_pool *pool = p->pool;
	struct http_conn *c = p->client;
	struct http_req *req = p->req;
	struct proxy_target t = p->target;
	bool head_sent = p->head_sent;

	p->client = NULL;
	p->req = NULL;
	proxy_close(p, false);
	if (c) {
		if (head_sent)
			http_conn_proxy_end(c, false, true);
		else if (status == 503)
			respond_unavailable(pool, req, &t, err);
		else
			http_respond_error_json(req, status, status == 504 ? "upstream timed out" : "bad gateway");
	}
	explicit_bzero(&t, sizeof(t));
}

/* ---- the request head ---- */

static bool is_hop_by_hop(const char *name)
{
	static const char *const hop[] = {
	    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
	};

	for (size_t i = 0; i < ARRAY_SIZE(hop); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return false;
}

/* Fields the Connection header cannot make us drop: framing and identity. */
static bool is_protected(const char *name)
{
	return strcasecmp(name, "Host") == 0 || strcasecmp(name, "Content-Length") == 0;
}

/* Heads we build: client head (<= max_header) or upstream head (<= 64 KiB)
 * plus the headers we add. */
#define PROXY_HEAD_MAX (2u << 20)

static bool connection_lists(const struct http_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, "Connection") == 0 &&
		    http_token_list_has(h[i].value, strlen(h[i].value), name))
			return true;
	return false;
}

static int build_request_head(struct proxy *p, struct http_req *req, struct nbw_buf *b)
{
	const char *host = http_req_header(req, "Host");

	nbw_buf_str(b, req->method);
	nbw_buf_add(b, " ", 1);
	nbw_buf_str(b, req->target);
	nbw_buf_add(b, " HTTP/1.1\r\n", 11);
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (is_hop_by_hop(h->name) || strcasecmp(h->name, "Expect") == 0 ||
		    strcasecmp(h->name, "Authorization") == 0 || strcasecmp(h->name, "Sec-WebSocket-Extensions") == 0 ||
		    strcasecmp(h->name, "X-Forwarded-For") == 0 || strcasecmp(h->name, "X-Forwarded-Proto") == 0 ||
		    strcasecmp(h->name, "X-Forwarded-Host") == 0 || strcasecmp(h->name, "X-Real-IP") == 0 ||
		    strcasecmp(h->name, "Forwarded") == 0)
			continue;
		if (!is_protected(h->name) && connection_lists(req->headers, req->n_headers, h->name))
			continue;
		if (p->req_chunked && strcasecmp(h->name, "Content-Length") == 0)
			continue;
		if (strcasecmp(h->name, "Cookie") == 0) {
			size_t vlen = strlen(h->value);
			_cleanup_free_ char *kept = malloc(2 * vlen + 1);
			int n;

			if (!kept)
				return -ENOMEM;
			n = http_cookie_filter(h->value, vlen, proxy_cookie_is_ours, kept, 2 * vlen + 1);
			if (n > 0)
				http_head_header(b, "Cookie", kept);
			continue;
		}
		http_head_header(b, h->name, h->value);
	}
	if (p->target.token[0]) {
		nbw_buf_str(b, "Authorization: token ");
		nbw_buf_str(b, p->target.token);
		nbw_buf_add(b, "\r\n", 2);
	}
	http_head_header(b, "X-Forwarded-For", req->client_ip);
	http_head_header(b, "X-Forwarded-Proto", p->pool->secure ? "https" : "http");
	if (host)
		http_head_header(b, "X-Forwarded-Host", host);
	if (p->req_upgrade)
		nbw_buf_str(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	if (p->req_chunked)
		nbw_buf_str(b, "Transfer-Encoding: chunked\r\n");
	nbw_buf_add(b, "\r\n", 2);
	return b->failed ? -ENOMEM : 0;
}

/* ---- the response ---- */

static int rh_append(struct proxy *p, const char *at, size_t len)
{
	if (http_head_append(&p->rhead, &p->rhead_len, &p->rhead_cap, PROXY_MAX_RESP_HEAD, at, len) < 0) {
		p->resp_error = true;
		return -1;
	}
	return 0;
}

static struct proxy *proxy_of(llhttp_t *ll)
{
	return ll->data;
}

static int r_on_begin(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);

	p->rhead_len = 0;
	p->n_rhdr = 0;
	p->status_off = 0;
	p->rwhere = RW_STATUS;
	p->interim = false;
	return 0;
}

static int r_on_status(llhttp_t *ll, const char *at, size_t len)
{
	return rh_append(proxy_of(ll), at, len) < 0 ? HPE_USER : 0;
}

static int r_on_status_complete(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);

	if (rh_append(p, "", 1) < 0)
		return HPE_USER;
	p->rwhere = RW_FIELD;
	return 0;
}

static int r_on_field(llhttp_t *ll, const char *at, size_t len)
{
	struct proxy *p = proxy_of(ll);

	if (p->rwhere == RW_STATUS) {
		/* no reason phrase at all */
		if (rh_append(p, "", 1) < 0)
			return HPE_USER;
		p->rwhere = RW_FIELD;
	}
	if (p->rwhere != RW_FIELD)
		return HPE_USER;
	if (p->n_rhdr == 0 || p->rhdr[p->n_rhdr - 1][1] != UINT32_MAX) {
		if (p->n_rhdr >= PROXY_MAX_RESP_HEADERS) {
			p->resp_error = true;
			return HPE_USER;
		}
		p->rhdr[p->n_rhdr][0] = (uint32_t)p->rhead_len;
		p->rhdr[p->n_rhdr][1] = UINT32_MAX;
		p->n_rhdr++;
	}
	return rh_append(p, at, len) < 0 ? HPE_USER : 0;
}

static int r_on_field_complete(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);

	if (p->rwhere != RW_FIELD || p->n_rhdr == 0 || rh_append(p, "", 1) < 0)
		return HPE_USER;
	p->rhdr[p->n_rhdr - 1][1] = (uint32_t)p->rhead_len;
	p->rwhere = RW_VALUE;
	return 0;
}

static int r_on_value(llhttp_t *ll, const char *at, size_t len)
{
	struct proxy *p = proxy_of(ll);

	if (p->rwhere != RW_VALUE)
		return HPE_USER;
	return rh_append(p, at, len) < 0 ? HPE_USER : 0;
}

static int r_on_value_complete(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);

	if (p->rwhere != RW_VALUE || rh_append(p, "", 1) < 0)
		return HPE_USER;
	p->rwhere = RW_FIELD;
	return 0;
}

static const char *rhdr_get(struct proxy *p, const char *name)
{
	for (size_t i = 0; i < p->n_rhdr; i++)
		if (strcasecmp(p->rhead + p->rhdr[i][0], name) == 0)
			return http_ows_trim(p->rhead + p->rhdr[i][1]);
	return NULL;
}

static bool rconnection_lists(struct proxy *p, const char *name)
{
	for (size_t i = 0; i < p->n_rhdr; i++) {
		const char *v;

		if (strcasecmp(p->rhead + p->rhdr[i][0], "Connection") != 0)
			continue;
		v = p->rhead + p->rhdr[i][1];
		if (http_token_list_has(v, strlen(v), name))
			return true;
	}
	return false;
}

static bool reason_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

static int send_response_head(struct proxy *p, int status)
{
	struct nbw_buf b = { .max = PROXY_HEAD_MAX };
	const char *reason = p->rhead_len ? p->rhead + p->status_off : "";
	char line[128];
	bool bodyless;
	int r;

	if (!*reason || !reason_valid(reason) || strlen(reason) > 64)
		reason = http_status_text(status);
	(void)nbw_snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason);
	nbw_buf_str(&b, line);

	bodyless = p->req_head || status == 204 || status == 304 || status == 101;
	if (!bodyless && ((p->rp.flags & F_CHUNKED) || !(p->rp.flags & F_CONTENT_LENGTH))) {
		/* chunked or until-EOF upstream: chunked for 1.1 clients, else
		 * until we close (a Content-Length frames it for the client too) */
		if (p->client_http11)
			p->chunked_out = true;
		else
			p->close_delim = true;
	}
	/* HTTP/1.0 clients get no keep-alive through the proxy. */
	p->close_client = p->close_delim || !p->client_keep_alive || !p->client_http11;

	for (size_t i = 0; i < p->n_rhdr; i++) {
		const char *name = p->rhead + p->rhdr[i][0];
		const char *value = http_ows_trim(p->rhead + p->rhdr[i][1]);

		if (is_hop_by_hop(name))
			continue;
		if (!is_protected(name) && rconnection_lists(p, name))
			continue;
		if (strcasecmp(name, "Content-Length") == 0 && (p->chunked_out || (p->close_delim && !bodyless)))
			continue;
		if (strcasecmp(name, "Set-Cookie") == 0 &&
		    !proxy_set_cookie_allowed(value, p->target.user, p->req ? p->req->path : NULL))
			continue;
		/* A user's pages must not join the hub's browsing context group
		 * (the hub sends COOP same-origin to keep them apart), nor set
		 * origin-wide state. */
		if (strcasecmp(name, "Cross-Origin-Opener-Policy") == 0 ||
		    strcasecmp(name, "Cross-Origin-Opener-Policy-Report-Only") == 0 ||
		    strcasecmp(name, "Cross-Origin-Embedder-Policy") == 0 || strcasecmp(name, "Clear-Site-Data") == 0 ||
		    strcasecmp(name, "Origin-Agent-Cluster") == 0 || strcasecmp(name, "Strict-Transport-Security") == 0)
			continue;
		if (!http_header_name_valid(name) || !http_header_value_valid(value))
			continue;
		http_head_header(&b, name, value);
	}
	if (status == 101)
		nbw_buf_str(&b, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	else if (p->chunked_out)
		nbw_buf_str(&b, "Transfer-Encoding: chunked\r\n");
	if (status != 101 && p->close_client)
		nbw_buf_str(&b, "Connection: close\r\n");
	nbw_buf_add(&b, "\r\n", 2);
	if (b.failed) {
		nbw_buf_done(&b);
		return -ENOMEM;
	}
	r = http_conn_write(p->client, b.p, b.len);
	nbw_buf_done(&b);
	if (r >= 0)
		p->head_sent = true;
	return r;
}

static int r_on_headers_complete(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);
	int status = ll->status_code;

	if (p->rwhere == RW_STATUS && rh_append(p, "", 1) < 0)
		return -1;
	if (!p->client)
		return -1;
	if (status >= 100 && status < 200 && status != 101) {
		p->interim = true; /* e.g. 103: we answered Expect ourselves */
		return 0;
	}
	if (status == 101) {
		if (!p->req_upgrade) {
			p->resp_error = true;
			return -1;
		}
		if (send_response_head(p, 101) < 0)
			return -1;
		p->switching = true;
		return 0;
	}
	if (send_response_head(p, status) < 0)
		return -1;
	uv_timer_stop(&p->timer);
	return p->req_head ? 1 : 0;
}

static int r_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct proxy *p = proxy_of(ll);
	int r;

	if (!p->client)
		return HPE_USER;
	if (p->chunked_out) {
		char pre[24];
		int n = nbw_snprintf(pre, sizeof(pre), "%zx\r\n", len);
		_cleanup_free_ char *buf = malloc((size_t)n + len + 2);

		if (n < 0 || !buf)
			return HPE_USER;
		memcpy(buf, pre, (size_t)n);
		memcpy(buf + n, at, len);
		memcpy(buf + n + len, "\r\n", 2);
		r = http_conn_write(p->client, buf, (size_t)n + len + 2);
	} else
		r = http_conn_write(p->client, at, len);
	return r < 0 ? HPE_USER : 0;
}

static int r_on_message_complete(llhttp_t *ll)
{
	struct proxy *p = proxy_of(ll);

	if (p->interim) {
		p->interim = false;
		return 0;
	}
	if (p->chunked_out && p->client)
		(void)http_conn_write(p->client, "0\r\n\r\n", 5);
	p->up_keep_alive = llhttp_should_keep_alive(ll) && !p->switching;
	p->resp_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t resp_settings = {
    .on_message_begin = r_on_begin,
    .on_status = r_on_status,
    .on_status_complete = r_on_status_complete,
    .on_header_field = r_on_field,
    .on_header_field_complete = r_on_field_complete,
    .on_header_value = r_on_value,
    .on_header_value_complete = r_on_value_complete,
    .on_headers_complete = r_on_headers_complete,
    .on_body = r_on_body,
    .on_message_complete = r_on_message_complete,
};

/* ---- activity and the execute tap ---- */

static void note_activity(struct proxy *p)
{
	struct proxy_pool *pool = p->pool;
	uint64_t now = uv_now(pool->loop);

	if (p->last_activity && now - p->last_activity < PROXY_ACTIVITY_MS)
		return;
	p->last_activity = now;
	if (pool->ops->on_activity)
		pool->ops->on_activity(p->target.user, pool->ud);
}

static void on_exec(const struct exectap_exec *exec, void *ud)
{
	struct proxy *p = ud;
	struct proxy_pool *pool = p->pool;

	if (pool->ops->on_execute)
		pool->ops->on_execute(&p->target, p->client_ip, exec, pool->ud);
}

/* ---- finishing ---- */

/* The response is complete: hand the client back, keep or drop the upstream. */
static void exchange_done(struct proxy *p, bool extra_bytes)
{
	struct http_conn *c = p->client;
	bool close_client = p->close_client;
	bool reuse = p->up_keep_alive && p->req_done && !extra_bytes && p->state == UP_ACTIVE;

	p->client = NULL;
	p->req = NULL;
	if (reuse)
		pool_put(p);
	else
		proxy_close(p, false);
	if (c)
		http_conn_proxy_end(c, true, close_client);
}

static void splice_end(struct proxy *p)
{
	struct http_conn *c = p->client;

	p->client = NULL;
	p->req = NULL;
	proxy_close(p, true);
	if (c)
		http_conn_proxy_end(c, true, true);
}

static int splice_start(struct proxy *p, const char *rest, size_t rest_len)
{
	struct http_conn *c = p->client;
	const char *proto = rhdr_get(p, "Sec-WebSocket-Protocol");
	char kernel_id[64];
	const char *early;
	size_t early_len;
	int r;

	if (p->req && exectap_match_path(p->req->path, kernel_id, sizeof(kernel_id))) {
		r = exectap_new(kernel_id, p->pool->tap_max_message, on_exec, p, &p->tap);
		if (r >= 0)
			r = exectap_set_budget(p->tap, p->pool->tap_budget, p->target.user);
		if (r < 0)
			return r; /* no tap, no kernel channel */
		exectap_set_subprotocol(p->tap, proto);
	}
	memset(&p->down, 0, sizeof(p->down));
	p->too_big = false;
	p->state = UP_SPLICE;
	p->req = NULL;
	uv_timer_stop(&p->timer);
	if (rest_len > 0 && http_conn_write(c, rest, rest_len) < 0)
		return -EPIPE;
	r = http_conn_proxy_upgrade(c, &early, &early_len);
	if (r < 0)
		return r;
	if (early_len > 0)
		proxy_client_data(p, early, early_len);
	return 0;
}

/* ---- reading upstream ---- */

static void on_up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct proxy *p = h->data;

	*buf = uv_buf_init(p->inbuf, sizeof(p->inbuf));
}

static void up_read_update(struct proxy *p)
{
	bool want = p->connected && p->state != UP_CLOSING && !p->read_paused;

	if (want && !p->reading) {
		if (uv_read_start((uv_stream_t *)&p->pipe, on_up_alloc, on_up_read) == 0)
			p->reading = true;
	} else if (!want && p->reading) {
		uv_read_stop((uv_stream_t *)&p->pipe);
		p->reading = false;
	}
}

static void maybe_throttle(struct proxy *p)
{
	if (p->client && http_conn_write_queued(p->client) > PROXY_WRITE_HIGH) {
		p->read_paused = true;
		up_read_update(p);
	}
}

static void up_read_http(struct proxy *p, ssize_t nread, const char *data)
{
	llhttp_errno_t e;

	if (nread < 0) {
		if (nread == UV_EOF && p->head_sent && !p->resp_done) {
			/* a body delimited by the end of the connection */
			(void)llhttp_finish(&p->rp);
			if (p->resp_done) {
				p->up_keep_alive = false;
				exchange_done(p, true);
				return;
			}
		}
		up_fail(p, 502, (int)nread);
		return;
	}
	e = llhttp_execute(&p->rp, data, (size_t)nread);
	if (e == HPE_OK) {
		if (p->state == UP_ACTIVE)
			maybe_throttle(p);
		return;
	}
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		const char *pos = llhttp_get_error_pos(&p->rp);
		size_t rest = (size_t)(data + nread - pos);

		if (p->switching) {
			if (splice_start(p, pos, rest) < 0)
				splice_end(p);
			return;
		}
		if (p->resp_done) {
			exchange_done(p, rest > 0);
			return;
		}
	}
	up_fail(p, 502, -EBADMSG);
}

/* The close frame we send to the client in the server's name. */
static int send_close_too_big(struct proxy *p)
{
	static const char reason[] = "message too big";
	uint8_t f[4 + sizeof(reason) - 1];

	f[0] = 0x80 | WSFRAME_OP_CLOSE;
	f[1] = (uint8_t)(2 + sizeof(reason) - 1);
	f[2] = (uint8_t)(WS_CLOSE_TOO_BIG >> 8);
	f[3] = (uint8_t)(WS_CLOSE_TOO_BIG & 0xff);
	memcpy(f + 4, reason, sizeof(reason) - 1);
	return http_conn_write(p->client, f, sizeof(f));
}

/* Between two server frames: close the client's side with 1009, drop the
 * upstream (it holds an unfinished message that will never complete). */
static void too_big_finish(struct proxy *p)
{
	if (p->client)
		(void)send_close_too_big(p);
	splice_end(p);
}

static void up_read_splice(struct proxy *p, ssize_t nread, const char *data)
{
	size_t n;

	if (nread < 0 || !p->client) {
		if (p->too_big && p->client && proxy__wsbound_at_boundary(&p->down))
			too_big_finish(p);
		else
			splice_end(p);
		return;
	}
	note_activity(p);
	/* too big: only the rest of the frame in progress, then our close */
	n = proxy__wsbound_advance(&p->down, data, (size_t)nread, p->too_big);
	if (n > 0 && http_conn_write(p->client, data, n) < 0) {
		splice_end(p);
		return;
	}
	if (p->too_big && proxy__wsbound_at_boundary(&p->down)) {
		too_big_finish(p);
		return;
	}
	maybe_throttle(p);
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct proxy *p = s->data;

	if (nread == 0)
		return;
	switch (p->state) {
	case UP_ACTIVE:
		up_read_http(p, nread, buf->base);
		break;
	case UP_SPLICE:
		up_read_splice(p, nread, buf->base);
		break;
	default:
		/* idle: the server closed it or said something unasked */
		proxy_close(p, false);
		break;
	}
}

/* ---- connecting ---- */

static void on_up_write(uv_write_t *w, int status)
{
	struct up_write *wr = (struct up_write *)w;
	struct proxy *p = wr->p;

	p->up_queued -= wr->len;
	free(wr->buf);
	free(wr);
	if (p->state == UP_CLOSING)
		return;
	if (status < 0) {
		if (p->state == UP_SPLICE)
			splice_end(p);
		else
			up_fail(p, 502, status);
		return;
	}
	if (p->client_blocked && p->up_queued <= PROXY_WRITE_LOW && p->client) {
		p->client_blocked = false;
		if (p->state != UP_SPLICE)
			http_conn_proxy_resume(p->client);
		else if (!p->too_big) /* too big: the client stays paused until we close */
			http_conn_read_pause(p->client, false);
	}
}

static void on_up_connect(uv_connect_t *req, int status)
{
	struct proxy *p = req->data;

	if (p->path_fd >= 0) {
		close(p->path_fd);
		p->path_fd = -1;
	}
	if (p->state == UP_CLOSING)
		return;
	if (status < 0) {
		up_fail(p, 503, status);
		return;
	}
	p->connected = true;
	p->state = UP_ACTIVE;
	if (flush_pending(p) < 0) {
		up_fail(p, 502, -ENOMEM);
		return;
	}
	uv_timer_stop(&p->timer);
	if (p->req_done)
		uv_timer_start(&p->timer, on_up_timer, PROXY_RESPONSE_MS, 0);
	up_read_update(p);
}

static void on_up_timer(uv_timer_t *t)
{
	struct proxy *p = t->data;

	switch (p->state) {
	case UP_CONNECTING:
		up_fail(p, 503, -ETIMEDOUT);
		break;
	case UP_ACTIVE:
		up_fail(p, 504, -ETIMEDOUT);
		break;
	case UP_CLOSING:
		close_handles(p);
		break;
	case UP_SPLICE:
		/* too big, and the server's frame did not end in time: no close
		 * frame can be put in; cut both */
		splice_end(p);
		break;
	default:
		proxy_close(p, false);
		break;
	}
}

/* Connect without following a symlink at the last component: the socket
 * lives in a directory the user's sandbox can write to. */
static int up_connect(struct proxy *p)
{
	char fdpath[64];
	struct stat st;
	int fd;

	fd = open(p->socket_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		close(fd);
		return -ENOTSOCK;
	}
	(void)nbw_snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	p->path_fd = fd;
	p->state = UP_CONNECTING;
	p->connect_req.data = p;
	uv_pipe_connect(&p->connect_req, &p->pipe, fdpath, on_up_connect);
	uv_timer_start(&p->timer, on_up_timer, PROXY_CONNECT_MS, 0);
	return 0;
}

/* ---- the http module's side ---- */

static bool transfer_encoding_ok(const struct http_req *req)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "Transfer-Encoding") == 0 &&
		    strcasecmp(req->headers[i].value, "chunked") != 0)
			return false;
	return true;
}

void proxy_begin(struct proxy_pool *pool, struct http_req *req, const struct proxy_target *t, struct proxy **ret)
{
	struct nbw_buf head = { .max = PROXY_HEAD_MAX };
	struct proxy *p;
	int r;

	*ret = NULL;
	if (pool->closing) {
		http_respond_error_json(req, 503, "shutting down");
		return;
	}
	if (!transfer_encoding_ok(req)) {
		http_respond_error_json(req, 501, "unsupported transfer coding");
		return;
	}
	if (pool->ops->on_activity)
		pool->ops->on_activity(t->user, pool->ud);

	p = pool_take(pool, t->socket_path);
	if (!p) {
		p = proxy_new(pool, t->socket_path);
		if (!p) {
			http_respond_error_json(req, 500, "out of memory");
			return;
		}
		r = up_connect(p);
		if (r < 0) {
			proxy_close(p, false);
			respond_unavailable(pool, req, t, r);
			return;
		}
	} else
		p->state = UP_ACTIVE;

	p->target = *t;
	p->client = req->conn;
	p->req = req;
	nbw_strlcpy(p->client_ip, req->client_ip, sizeof(p->client_ip));
	p->req_chunked = http_req_chunked(req);
	p->req_done = false;
	p->req_upgrade = req->upgrade;
	p->req_head = strcmp(req->method, "HEAD") == 0;
	p->client_http11 = http_req_http11(req);
	p->client_keep_alive = http_req_keep_alive(req);
	p->read_paused = false;
	p->last_activity = 0;
	llhttp_init(&p->rp, HTTP_RESPONSE, &resp_settings);
	p->rp.data = p;

	r = build_request_head(p, req, &head);
	explicit_bzero(p->target.token, sizeof(p->target.token));
	if (r >= 0)
		r = up_write(p, head.p, head.len);
	nbw_buf_done(&head); /* wiped: it carries the server's token */
	if (r < 0) {
		p->client = NULL;
		p->req = NULL;
		proxy_close(p, false);
		http_respond_error_json(req, 502, "bad gateway");
		return;
	}
	if (p->connected)
		up_read_update(p);
	*ret = p;
}

void proxy_body(struct proxy *p, const void *data, size_t len)
{
	int r;

	if (!p->client || len == 0)
		return;
	if (p->req_chunked) {
		char pre[24];
		int n = nbw_snprintf(pre, sizeof(pre), "%zx\r\n", len);

		r = n < 0 ? n : up_write3(p, pre, (size_t)n, data, len, "\r\n", 2);
	} else
		r = up_write(p, data, len);
	if (r < 0) {
		up_fail(p, 502, r);
		return;
	}
	if (p->up_queued > PROXY_WRITE_HIGH)
		p->client_blocked = true;
}

bool proxy_body_blocked(const struct proxy *p)
{
	return p->client_blocked;
}

void proxy_body_end(struct proxy *p)
{
	if (!p->client)
		return;
	p->req_done = true;
	if (p->req_chunked && up_write(p, "0\r\n\r\n", 5) < 0) {
		up_fail(p, 502, -EPIPE);
		return;
	}
	/* the answer is due now (a long upload is not the server's delay) */
	if (p->connected && p->state == UP_ACTIVE && !p->head_sent)
		uv_timer_start(&p->timer, on_up_timer, PROXY_RESPONSE_MS, 0);
}

void proxy_client_drained(struct proxy *p)
{
	if (p->read_paused && p->state != UP_CLOSING) {
		p->read_paused = false;
		up_read_update(p);
	}
}

/* A client message over the tap's bound (or its memory budget): it must not
 * reach the kernel. Stop taking client bytes; close towards the client with
 * 1009 at the next server frame boundary (bounded in time). */
static void too_big_start(struct proxy *p)
{
	log_warn("proxy: closing a kernel WebSocket of %s: client message too big (1009)", p->target.user);
	p->too_big = true;
	http_conn_read_pause(p->client, true);
	if (proxy__wsbound_at_boundary(&p->down)) {
		too_big_finish(p);
		return;
	}
	uv_timer_start(&p->timer, on_up_timer, PROXY_CLOSE_MS, 0);
}

void proxy_client_data(struct proxy *p, const void *data, size_t len)
{
	size_t pass = len;
	int r = 0;

	if (p->state != UP_SPLICE || !p->client || p->too_big)
		return;
	note_activity(p);
	if (p->tap)
		r = exectap_gate(p->tap, data, len, &pass);
	if (r == -EBADMSG) {
		/* The server may accept what the tap cannot read (e.g. unmasked
		 * frames): forwarding on would let executions pass unrecorded. */
		log_warn("proxy: closing a kernel WebSocket of %s with undecodable client frames", p->target.user);
		splice_end(p);
		return;
	}
	/* on -EMSGSIZE only the bytes before the oversized frame go on */
	if (pass > 0 && up_write(p, data, pass) < 0) {
		splice_end(p);
		return;
	}
	if (r == -EMSGSIZE) {
		too_big_start(p);
		return;
	}
	if (p->up_queued > PROXY_WRITE_HIGH) {
		p->client_blocked = true;
		http_conn_read_pause(p->client, true);
	}
}

void proxy_client_eof(struct proxy *p)
{
	splice_end(p);
}

void proxy_client_gone(struct proxy *p)
{
	p->client = NULL;
	p->req = NULL;
	proxy_close(p, p->state == UP_SPLICE);
}
