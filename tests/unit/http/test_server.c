/* http server + proxy over real sockets: the hub's server runs in a libuv loop
 * on a thread, a tornado upstream (what Jupyter runs on) listens on a unix
 * socket, and the tests talk raw HTTP/WebSocket to the server from blocking
 * client sockets. Usage: test_http_server UPSTREAM_PY */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "common/common.h"
#include "http/http.h"
#include "proxy/exectap.h"
#include "proxy/proxy.h"

#define MAX_BODY (64 * 1024)
#define MAX_HEADER 16384
#define MAX_PER_IP 40
#define HEADER_MS 1000
#define FIRST_HEADER_MS 400
#define WS_MAX (1024 * 1024)
#define WS_TOTAL (3 * 1024 * 1024)
#define WS_PER_USER (2 * 1024 * 1024)

extern char **environ;

static const char *upstream_py;
static char tmpdir[64], sock_path[128], link_path[128], down_path[128];
static pid_t upstream_pid = -1;
static int port;
static uv_loop_t loop;
static uv_async_t stop_async;
static uv_timer_t slow_timer;
static pthread_t loop_thread;
static struct http_server *server;
static atomic_int n_activity, n_upstream_error, n_exec, n_abort, n_oversized;
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
static char exec_code[256], exec_kernel[64], exec_user[64], exec_ip[64], exec_type[32];
static struct http_req *slow_req;

/* ---------------------------------------------------------------- server side (loop thread) */

static void fill_target(struct proxy_target *t, const char *user, const char *path)
{
	nbw_strlcpy(t->user, user, sizeof(t->user));
	nbw_strlcpy(t->actor, user, sizeof(t->actor));
	nbw_strlcpy(t->socket_path, path, sizeof(t->socket_path));
	nbw_strlcpy(t->token, "SERVERTOKEN", sizeof(t->token));
}

static void on_slow(uv_timer_t *t)
{
	if (slow_req)
		http_respond(TAKE_PTR(slow_req), 200, "text/plain", "slow", 4);
}

static enum http_route route(struct http_req *req, struct proxy_target *t, void *ud)
{
	if (str_has_prefix(req->path, "/user/test/")) {
		fill_target(t, "test", sock_path);
		return HTTP_ROUTE_PROXY;
	}
	if (str_has_prefix(req->path, "/user/other/")) {
		fill_target(t, "other", sock_path);
		return HTTP_ROUTE_PROXY;
	}
	if (str_has_prefix(req->path, "/user/down/")) {
		fill_target(t, "down", down_path);
		return HTTP_ROUTE_PROXY;
	}
	if (str_has_prefix(req->path, "/user/link/")) {
		fill_target(t, "link", link_path);
		return HTTP_ROUTE_PROXY;
	}
	if (strcmp(req->path, "/hub/echo") == 0) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "method", req->method, "path", req->path, "query",
				      req->query, "ip", req->client_ip);
		http_respond_json(req, 200, o);
		return HTTP_ROUTE_DONE;
	}
	if (strcmp(req->path, "/hub/form") == 0)
		return HTTP_ROUTE_BUFFER;
	if (strcmp(req->path, "/hub/slow") == 0) {
		slow_req = req;
		uv_timer_start(&slow_timer, on_slow, 200, 0);
		return HTTP_ROUTE_DONE;
	}
	if (strcmp(req->path, "/hub/inject") == 0) {
		char body[64];
		int a = http_add_header(req, "X-A", "v\r\nSet-Cookie: evil=1");
		int b = http_add_header(req, "X-B\r\nSet-Cookie: evil=1", "v");
		int c = http_add_header(req, "Content-Length", "5");
		int d = http_add_header(req, "X-Ok", "fine");
		int n = nbw_snprintf(body, sizeof(body), "%d %d %d %d", a, b, c, d);

		http_respond(req, 200, "text/plain", body, (size_t)n);
		return HTTP_ROUTE_DONE;
	}
	http_respond_error_json(req, 404, "not found");
	return HTTP_ROUTE_DONE;
}

static void handle(struct http_req *req, void *ud)
{
	char field[128], body[256];
	int r = http_req_form(req, "field", field, sizeof(field));
	int n = nbw_snprintf(body, sizeof(body), "len=%zu field=%s", req->body_len, r >= 0 ? field : "?");

	http_respond(req, 200, "text/plain", body, (size_t)n);
}

static void on_abort(struct http_req *req, void *ud)
{
	if (req == slow_req)
		slow_req = NULL;
	atomic_fetch_add(&n_abort, 1);
}

static void on_activity(const char *user, void *ud)
{
	atomic_fetch_add(&n_activity, 1);
}

static void on_execute(const struct proxy_target *t, const char *ip, const struct exectap_exec *exec, void *ud)
{
	pthread_mutex_lock(&exec_lock);
	nbw_strlcpy(exec_code, exec->code ? exec->code : "(null)", sizeof(exec_code));
	nbw_strlcpy(exec_kernel, exec->kernel_id, sizeof(exec_kernel));
	nbw_strlcpy(exec_user, t->user, sizeof(exec_user));
	nbw_strlcpy(exec_ip, ip, sizeof(exec_ip));
	nbw_strlcpy(exec_type, exec->msg_type, sizeof(exec_type));
	if (exec->oversized)
		atomic_fetch_add(&n_oversized, 1);
	pthread_mutex_unlock(&exec_lock);
	atomic_fetch_add(&n_exec, 1);
}

static void on_upstream_error(const struct proxy_target *t, int err, void *ud)
{
	atomic_fetch_add(&n_upstream_error, 1);
}

static const struct http_ops ops = {
    .route = route,
    .handle = handle,
    .on_abort = on_abort,
    .on_activity = on_activity,
    .on_execute = on_execute,
    .on_upstream_error = on_upstream_error,
};

static void on_stop(uv_async_t *a)
{
	http_server_free(server);
	uv_close((uv_handle_t *)&stop_async, NULL);
	uv_close((uv_handle_t *)&slow_timer, NULL);
}

static void *loop_main(void *arg)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---------------------------------------------------------------- client side */

struct client {
	int fd;
	char *buf;
	size_t off, len, cap;
};

struct resp {
	int status;
	char *head; /* "name: value\n" lines */
	size_t head_len, head_cap;
	char *body;
	size_t body_len, body_cap;
	bool complete;
	bool head_method;
};

static void grow_append(char **p, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (c < *len + n + 1)
			c *= 2;
		*p = realloc(*p, c);
		assert_non_null(*p);
		*cap = c;
	}
	memcpy(*p + *len, s, n);
	*len += n;
	(*p)[*len] = '\0';
}

static int c_field(llhttp_t *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	grow_append(&r->head, &r->head_len, &r->head_cap, at, n);
	return 0;
}

static int c_field_done(llhttp_t *p)
{
	struct resp *r = p->data;

	grow_append(&r->head, &r->head_len, &r->head_cap, ": ", 2);
	return 0;
}

static int c_value_done(llhttp_t *p)
{
	struct resp *r = p->data;

	grow_append(&r->head, &r->head_len, &r->head_cap, "\n", 1);
	return 0;
}

static int c_headers_done(llhttp_t *p)
{
	struct resp *r = p->data;

	r->status = p->status_code;
	return r->head_method ? 1 : 0;
}

static int c_body(llhttp_t *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	grow_append(&r->body, &r->body_len, &r->body_cap, at, n);
	return 0;
}

static int c_done(llhttp_t *p)
{
	struct resp *r = p->data;

	r->complete = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t client_settings = {
    .on_header_field = c_field,
    .on_header_field_complete = c_field_done,
    .on_header_value = c_field,
    .on_header_value_complete = c_value_done,
    .on_headers_complete = c_headers_done,
    .on_body = c_body,
    .on_message_complete = c_done,
};

/* Connect from a given loopback source address (127.0.0.0/8 is all ours). */
static void client_open_from(struct client *c, const char *src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 15};

	memset(c, 0, sizeof(*c));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	if (src) {
		struct sockaddr_in from = {.sin_family = AF_INET};

		assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
		assert_int_equal(bind(c->fd, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->cap = 1 << 20;
	c->buf = malloc(c->cap);
	assert_non_null(c->buf);
}

static void client_open(struct client *c)
{
	client_open_from(c, NULL);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static void client_send(struct client *c, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void client_sends(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

static void resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Read one response; 0, or -1 if the connection ended before it was complete. */
static int read_response(struct client *c, struct resp *r, bool head_method)
{
	llhttp_t p;

	memset(r, 0, sizeof(*r));
	r->head_method = head_method;
	grow_append(&r->head, &r->head_len, &r->head_cap, "", 0);
	grow_append(&r->body, &r->body_len, &r->body_cap, "", 0);
	llhttp_init(&p, HTTP_RESPONSE, &client_settings);
	p.data = r;
	for (;;) {
		ssize_t n;

		if (c->off < c->len) {
			llhttp_errno_t e = llhttp_execute(&p, c->buf + c->off, c->len - c->off);

			if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
				c->off = (size_t)(llhttp_get_error_pos(&p) - c->buf);
				return r->complete ? 0 : -1;
			}
			if (e != HPE_OK) {
				print_error("client parse error %s\n", llhttp_errno_name(e));
				return -1;
			}
			c->off = c->len = 0;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n == 0) {
			(void)llhttp_finish(&p);
			return r->complete ? 0 : -1;
		}
		if (n < 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* Value of the first header called name (case-insensitive), or NULL. */
static const char *resp_header(const struct resp *r, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	for (const char *l = r->head; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);

		if (len > n + 1 && strncasecmp(l, name, n) == 0 && l[n] == ':') {
			size_t v = len - n - 2;

			if (v >= size)
				v = size - 1;
			memcpy(out, l + n + 2, v);
			out[v] = '\0';
			return out;
		}
		l = end ? end + 1 : l + len;
	}
	return NULL;
}

static bool head_contains(const struct resp *r, const char *needle)
{
	return strcasestr(r->head, needle) != NULL;
}

/* The server closed the connection (EOF), after any bytes still buffered. */
static bool client_sees_eof(struct client *c)
{
	char b[4096];
	ssize_t n;

	while ((n = recv(c->fd, b, sizeof(b), 0)) > 0)
		;
	return n == 0;
}

static json_t *resp_json(const struct resp *r)
{
	json_error_t err;
	json_t *o = json_loadb(r->body, r->body_len, 0, &err);

	if (!o)
		print_error("not JSON: %.*s\n", (int)(r->body_len > 300 ? 300 : r->body_len), r->body);
	assert_non_null(o);
	return o;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	nbw_hex_encode(md, 32, out);
}

/* One request on a fresh connection, the whole response read. */
static void simple(const char *request, struct resp *r)
{
	struct client c;

	client_open(&c);
	client_sends(&c, request);
	assert_int_equal(read_response(&c, r, false), 0);
	client_close(&c);
}

/* ---------------------------------------------------------------- tests: hub responses */

static void test_hub_response(void **state)
{
	struct client c;
	struct resp r;
	char v[512];
	json_t *o;

	client_open(&c);
	client_sends(&c, "GET /hub/echo?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "Content-Length", v, sizeof(v)));
	assert_int_equal(atol(v), (long)r.body_len);
	assert_non_null(resp_header(&r, "Date", v, sizeof(v)));
	assert_string_equal(resp_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
	assert_string_equal(resp_header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	assert_string_equal(resp_header(&r, "Referrer-Policy", v, sizeof(v)), "same-origin");
	assert_string_equal(resp_header(&r, "X-Frame-Options", v, sizeof(v)), "DENY");
	assert_non_null(resp_header(&r, "Content-Security-Policy", v, sizeof(v)));
	assert_non_null(strstr(v, "default-src 'self'"));
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	assert_null(resp_header(&r, "Connection", v, sizeof(v)));
	o = resp_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "path")), "/hub/echo");
	assert_string_equal(json_string_value(json_object_get(o, "query")), "x=1");
	assert_string_equal(json_string_value(json_object_get(o, "ip")), "127.0.0.1");
	json_decref(o);
	resp_free(&r);

	/* HEAD: the same head, no body; the connection stays usable */
	client_sends(&c, "HEAD /hub/echo HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(read_response(&c, &r, true), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "Content-Length", v, sizeof(v)));
	assert_int_equal(r.body_len, 0);
	resp_free(&r);
	client_sends(&c, "GET /hub/nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(resp_header(&r, "Connection", v, sizeof(v)), "close");
	assert_true(client_sees_eof(&c));
	resp_free(&r);
	client_close(&c);
}

static void test_header_injection(void **state)
{
	struct resp r;
	char v[64];

	simple("GET /hub/inject HTTP/1.1\r\nHost: h\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "-22 -22 -22 0", 13);
	assert_string_equal(resp_header(&r, "X-Ok", v, sizeof(v)), "fine");
	assert_false(head_contains(&r, "evil"));
	assert_null(resp_header(&r, "X-A", v, sizeof(v)));
	resp_free(&r);
}

static void expect_status_and_close(const char *request, int status)
{
	struct client c;
	struct resp r;

	client_open(&c);
	client_sends(&c, request);
	assert_int_equal(read_response(&c, &r, false), 0);
	if (r.status != status)
		print_error("request %.60s... got %d\n", request, r.status);
	assert_int_equal(r.status, status);
	assert_true(client_sees_eof(&c));
	resp_free(&r);
	client_close(&c);
}

static void test_bad_requests(void **state)
{
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	expect_status_and_close("GET http://evil/hub/echo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
				"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
				400);
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400);
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\n\r\n", 400);
	expect_status_and_close("GET /hub/echo HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417);
	expect_status_and_close("BREW /hub/echo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_431_414(void **state)
{
	size_t n = 20000;
	char *req = malloc(n + 200);
	int off;

	assert_non_null(req);
	off = nbw_snprintf(req, 200, "GET /hub/echo HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(req + off, 'A', n);
	memcpy(req + off + n, "\r\n\r\n", 5);
	expect_status_and_close(req, 431);

	/* many small fields: the count is bounded too */
	off = nbw_snprintf(req, 200, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 120; i++)
		off += nbw_snprintf(req + off, n + 200 - (size_t)off, "X-%d: v\r\n", i);
	nbw_snprintf(req + off, n + 200 - (size_t)off, "\r\n");
	expect_status_and_close(req, 431);

	off = nbw_snprintf(req, 200, "GET /hub/echo?q=");
	memset(req + off, 'u', 9000);
	nbw_snprintf(req + off + 9000, 200, " HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_status_and_close(req, 414);
	free(req);
}

static void test_buffered_body(void **state)
{
	struct client c;
	struct resp r;
	char *big;
	size_t n = 70 * 1024;
	char line[64];

	simple("POST /hub/form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	       "Content-Length: 26\r\n\r\nx=1&field=hello+w%C3%B6rld",
	       &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "len=26 field=hello w\xc3\xb6rld");
	resp_free(&r);

	/* declared too big: 413 before any body byte */
	expect_status_and_close("POST /hub/form HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 413);

	/* chunked, growing past max_body: 413 in the middle */
	client_open(&c);
	client_sends(&c, "POST /hub/form HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'z', n);
	nbw_snprintf(line, sizeof(line), "%zx\r\n", n);
	client_sends(&c, line);
	send(c.fd, big, n, MSG_NOSIGNAL); /* the server may stop reading: no assert */
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 413);
	assert_true(client_sees_eof(&c));
	resp_free(&r);
	client_close(&c);
	free(big);

	/* Expect: 100-continue */
	client_open(&c);
	client_sends(&c, "POST /hub/form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 100);
	resp_free(&r);
	client_sends(&c, "field=abcde");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "len=11 field=abcde");
	resp_free(&r);
	client_close(&c);
}

static void test_slowloris(void **state)
{
	struct client c;
	struct resp r;
	time_t t0 = time(NULL);

	client_open(&c);
	client_sends(&c, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 408);
	assert_true(client_sees_eof(&c));
	assert_true(time(NULL) - t0 < 5);
	resp_free(&r);
	client_close(&c);
}

static void test_pipelining(void **state)
{
	struct client c;
	struct resp r;
	json_t *o;

	client_open(&c);
	client_sends(&c, "GET /hub/slow HTTP/1.1\r\nHost: a\r\n\r\n"
			 "GET /hub/echo?n=2 HTTP/1.1\r\nHost: a\r\n\r\n"
			 "GET /user/test/echo?n=3 HTTP/1.1\r\nHost: a\r\n\r\n"
			 "POST /hub/form HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\nfield=4"
			 "GET /hub/echo?n=5 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "slow");
	resp_free(&r);
	assert_int_equal(read_response(&c, &r, false), 0);
	o = resp_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "query")), "n=2");
	json_decref(o);
	resp_free(&r);
	assert_int_equal(read_response(&c, &r, false), 0);
	o = resp_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "uri")), "/user/test/echo?n=3");
	json_decref(o);
	resp_free(&r);
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_string_equal(r.body, "len=7 field=4");
	resp_free(&r);
	assert_int_equal(read_response(&c, &r, false), 0);
	o = resp_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "query")), "n=5");
	json_decref(o);
	resp_free(&r);
	client_close(&c);
}

/* ---------------------------------------------------------------- tests: proxy */

static const char *upstream_header(json_t *o, const char *name)
{
	json_t *hs = json_object_get(o, "headers"), *h;
	size_t i;

	json_array_foreach(hs, i, h)
	{
		if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
			return json_string_value(json_array_get(h, 1));
	}
	return NULL;
}

static json_int_t proxied_echo(struct client *c, const char *extra)
{
	char req[256];
	struct resp r;
	json_t *o;
	json_int_t id;

	nbw_snprintf(req, sizeof(req), "GET /user/test/echo HTTP/1.1\r\nHost: a\r\n%s\r\n", extra);
	client_sends(c, req);
	assert_int_equal(read_response(c, &r, false), 0);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	id = json_integer_value(json_object_get(o, "conn"));
	json_decref(o);
	resp_free(&r);
	return id;
}

static void test_proxy_headers(void **state)
{
	struct client c;
	struct resp r;
	char v[256];
	json_t *o;
	int act = atomic_load(&n_activity);
	json_int_t id1, id2, id3;

	client_open(&c);
	client_sends(&c, "GET /user/test/echo?q=1 HTTP/1.1\r\n"
			 "Host: hub.example:8000\r\n"
			 "Connection: keep-alive, X-Hop-Client, Upgrade\r\n"
			 "Upgrade: h2c\r\n"
			 "X-Hop-Client: secret\r\n"
			 "Keep-Alive: timeout=100\r\n"
			 "Proxy-Connection: keep-alive\r\n"
			 "TE: trailers\r\n"
			 "Cookie: nbwarden-session=SECRET; _xsrf=abc; other=1\r\n"
			 "Cookie: nbwarden-xsrf=SECRET2\r\n"
			 "Authorization: token CLIENTTOKEN\r\n"
			 "X-Forwarded-For: 6.6.6.6\r\n"
			 "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			 "X-Kept: yes\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "uri")), "/user/test/echo?q=1");
	assert_null(upstream_header(o, "Connection"));
	assert_null(upstream_header(o, "X-Hop-Client"));
	assert_null(upstream_header(o, "Upgrade"));
	assert_null(upstream_header(o, "Keep-Alive"));
	assert_null(upstream_header(o, "Proxy-Connection"));
	assert_null(upstream_header(o, "TE"));
	assert_null(upstream_header(o, "Sec-WebSocket-Extensions"));
	assert_string_equal(upstream_header(o, "Cookie"), "_xsrf=abc; other=1");
	assert_string_equal(upstream_header(o, "Authorization"), "token SERVERTOKEN");
	assert_string_equal(upstream_header(o, "X-Forwarded-For"), "127.0.0.1");
	assert_string_equal(upstream_header(o, "X-Forwarded-Proto"), "http");
	assert_string_equal(upstream_header(o, "X-Forwarded-Host"), "hub.example:8000");
	assert_string_equal(upstream_header(o, "Host"), "hub.example:8000");
	assert_string_equal(upstream_header(o, "X-Kept"), "yes");
	assert_null(strstr(r.body, "SECRET"));
	assert_null(strstr(r.body, "CLIENTTOKEN"));
	id1 = json_integer_value(json_object_get(o, "conn"));
	json_decref(o);
	/* and the other way */
	assert_null(resp_header(&r, "X-Hop-Server", v, sizeof(v)));
	assert_null(resp_header(&r, "Keep-Alive", v, sizeof(v)));
	assert_null(resp_header(&r, "Proxy-Connection", v, sizeof(v)));
	assert_false(head_contains(&r, "nbwarden-session=planted"));
	assert_true(head_contains(&r, "Set-Cookie: theirs=1"));
	assert_null(resp_header(&r, "Content-Security-Policy", v, sizeof(v))); /* not a hub page */
	resp_free(&r);

	/* keep-alive: the same upstream connection, from this client and another */
	id2 = proxied_echo(&c, "");
	client_close(&c);
	client_open(&c);
	id3 = proxied_echo(&c, "");
	client_close(&c);
	assert_true(id1 == id2);
	assert_true(id2 == id3);
	assert_true(atomic_load(&n_activity) >= act + 3);
}

static void test_proxy_upload(void **state)
{
	size_t n = 5 * 1024 * 1024;
	char *body = malloc(n), hex[65], head[256];
	struct client c;
	struct resp r;
	json_t *o;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)(i * 7 + (i >> 13));
	sha256_hex(body, n, hex);

	/* Content-Length: 5 MB through a hub whose max_body is 64 KiB */
	client_open(&c);
	nbw_snprintf(head, sizeof(head), "POST /user/test/upload HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
		     n);
	client_sends(&c, head);
	client_send(&c, body, n);
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "len")), n);
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), hex);
	assert_true(json_is_null(json_object_get(o, "te")));
	json_decref(o);
	resp_free(&r);

	/* chunked from the client: re-chunked upstream, 3 MB */
	n = 3 * 1024 * 1024;
	sha256_hex(body, n, hex);
	client_sends(&c, "POST /user/test/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0, k = 1; off < n; off += k, k = k * 3 % 100003 + 1) {
		char line[32];

		if (k > n - off)
			k = n - off;
		nbw_snprintf(line, sizeof(line), "%zx\r\n", k);
		client_sends(&c, line);
		client_send(&c, body + off, k);
		client_sends(&c, "\r\n");
	}
	client_sends(&c, "0\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "len")), n);
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), hex);
	assert_string_equal(json_string_value(json_object_get(o, "te")), "chunked");
	json_decref(o);
	resp_free(&r);

	/* Expect: 100-continue answered by the hub, then streamed */
	client_sends(&c,
		     "POST /user/test/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 100);
	resp_free(&r);
	client_sends(&c, "hello");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "len")), 5);
	json_decref(o);
	resp_free(&r);
	client_close(&c);
	free(body);
}

static void test_proxy_download(void **state)
{
	struct client c;
	struct resp r;
	char v[64];
	size_t n = 3000000;

	client_open(&c);
	client_sends(&c, "GET /user/test/big?n=3000000 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_header(&r, "Transfer-Encoding", v, sizeof(v)), "chunked");
	assert_int_equal(r.body_len, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r.body[i] != i % 251)
			fail_msg("byte %zu differs", i);
	resp_free(&r);

	/* an HTTP/1.0 client: close-delimited, then closed */
	client_sends(&c, "GET /user/test/big?n=100000 HTTP/1.0\r\nHost: a\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_null(resp_header(&r, "Transfer-Encoding", v, sizeof(v)));
	assert_int_equal(r.body_len, 100000);
	assert_true(client_sees_eof(&c));
	resp_free(&r);
	client_close(&c);
}

static void ws_send(struct client *c, int opcode, const void *data, size_t len)
{
	unsigned char hdr[14], key[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t h = 0;
	char *masked = malloc(len + 1);

	assert_non_null(masked);
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126)
		hdr[h++] = (unsigned char)(0x80 | len);
	else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memcpy(hdr + h, key, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		masked[i] = (char)(((const unsigned char *)data)[i] ^ key[i % 4]);
	client_send(c, hdr, h);
	client_send(c, masked, len);
	free(masked);
}

static void client_read_exact(struct client *c, void *out, size_t len)
{
	char *o = out;

	while (len > 0) {
		size_t k;

		if (c->off == c->len) {
			ssize_t n;

			c->off = c->len = 0;
			n = recv(c->fd, c->buf, c->cap, 0);
			assert_true(n > 0);
			c->len = (size_t)n;
		}
		k = c->len - c->off < len ? c->len - c->off : len;
		memcpy(o, c->buf + c->off, k);
		c->off += k;
		o += k;
		len -= k;
	}
}

/* One unfragmented server frame (unmasked); returns its payload (malloc'd). */
static char *ws_recv(struct client *c, int *opcode, size_t *len)
{
	unsigned char h[2], ext[8];
	uint64_t n;
	char *data;

	client_read_exact(c, h, 2);
	assert_true(h[0] & 0x80);
	assert_false(h[1] & 0x80);
	*opcode = h[0] & 0x0f;
	n = h[1] & 0x7f;
	if (n == 126) {
		client_read_exact(c, ext, 2);
		n = (uint64_t)ext[0] << 8 | ext[1];
	} else if (n == 127) {
		client_read_exact(c, ext, 8);
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | ext[i];
	}
	data = malloc(n + 1);
	assert_non_null(data);
	client_read_exact(c, data, n);
	data[n] = '\0';
	*len = n;
	return data;
}

static void test_websocket(void **state)
{
	static const char exec_msg[] =
	    "{\"header\":{\"msg_id\":\"m-1\",\"msg_type\":\"execute_request\",\"session\":\"s\",\"username\":\"u\","
	    "\"version\":\"5.3\",\"date\":\"2026-01-01T00:00:00Z\"},\"parent_header\":{},\"metadata\":{},"
	    "\"content\":{\"code\":\"print('hello')\",\"silent\":false},\"channel\":\"shell\"}";
	struct client c;
	struct resp r;
	char v[128], *msg, *bin;
	size_t len, blen = 300000;
	int op, execs = atomic_load(&n_exec);
	json_t *o;

	client_open(&c);
	client_sends(&c, "GET /user/test/api/kernels/0123abcd-0000/channels?session_id=x HTTP/1.1\r\n"
			 "Host: a\r\n"
			 "Connection: keep-alive, Upgrade\r\n"
			 "Upgrade: websocket\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
			 "Cookie: nbwarden-session=SECRET\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 101);
	assert_string_equal(resp_header(&r, "Sec-WebSocket-Accept", v, sizeof(v)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_null(resp_header(&r, "Sec-WebSocket-Extensions", v, sizeof(v)));
	assert_string_equal(resp_header(&r, "Upgrade", v, sizeof(v)), "websocket");
	resp_free(&r);

	/* what the upstream saw */
	msg = ws_recv(&c, &op, &len);
	assert_int_equal(op, 1);
	o = json_loads(msg, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "kernel")), "0123abcd-0000");
	assert_true(json_is_null(json_object_get(o, "extensions")));
	assert_true(json_is_null(json_object_get(o, "cookie")));
	assert_string_equal(json_string_value(json_object_get(o, "authorization")), "token SERVERTOKEN");
	json_decref(o);
	free(msg);

	/* an execute_request: echoed, and seen by the tap */
	ws_send(&c, 1, exec_msg, strlen(exec_msg));
	msg = ws_recv(&c, &op, &len);
	assert_int_equal(op, 1);
	assert_int_equal(len, strlen(exec_msg));
	assert_memory_equal(msg, exec_msg, len);
	free(msg);
	for (int i = 0; i < 200 && atomic_load(&n_exec) == execs; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&n_exec), execs + 1);
	pthread_mutex_lock(&exec_lock);
	assert_string_equal(exec_code, "print('hello')");
	assert_string_equal(exec_kernel, "0123abcd-0000");
	assert_string_equal(exec_user, "test");
	assert_string_equal(exec_ip, "127.0.0.1");
	pthread_mutex_unlock(&exec_lock);

	/* a big binary message both ways */
	bin = malloc(blen);
	assert_non_null(bin);
	for (size_t i = 0; i < blen; i++)
		bin[i] = (char)(i % 253);
	ws_send(&c, 2, bin, blen);
	msg = ws_recv(&c, &op, &len);
	assert_int_equal(op, 2);
	assert_int_equal(len, blen);
	assert_memory_equal(msg, bin, blen);
	free(msg);
	free(bin);

	/* close: the server answers and both sides end */
	ws_send(&c, 8, "\x03\xe8", 2);
	msg = ws_recv(&c, &op, &len);
	assert_int_equal(op, 8);
	free(msg);
	assert_true(client_sees_eof(&c));
	client_close(&c);
}

static void test_proxy_set_cookie(void **state)
{
	struct resp r;
	const char *bad[] = {"planted", "known", "wide=", "dom=", "sibling="};

	simple("GET /user/test/cookies HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (head_contains(&r, bad[i]))
			fail_msg("Set-Cookie with %s got through:\n%s", bad[i], r.head);
	assert_true(head_contains(&r, "Set-Cookie: good=1; Path=/user/test/\n"));
	assert_true(head_contains(&r, "Set-Cookie: default=1\n"));
	/* A user's pages cannot join the hub's browsing context group or clear its cookies. */
	assert_false(head_contains(&r, "Cross-Origin-Opener-Policy"));
	assert_false(head_contains(&r, "Cross-Origin-Embedder-Policy"));
	assert_false(head_contains(&r, "Clear-Site-Data"));
	assert_true(head_contains(&r, "X-Kept: 1"));
	resp_free(&r);
}

/* Upgrade to a kernel channel WebSocket as user; the upstream's hello read. */
static void ws_open(struct client *c, const char *user, const char *kid)
{
	char req[512], *msg;
	struct resp r;
	size_t len;
	int op;

	client_open(c);
	nbw_snprintf(req, sizeof(req),
		     "GET /user/%s/api/kernels/%s/channels HTTP/1.1\r\nHost: a\r\n"
		     "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		     user, kid);
	client_sends(c, req);
	assert_int_equal(read_response(c, &r, false), 0);
	assert_int_equal(r.status, 101);
	resp_free(&r);
	msg = ws_recv(c, &op, &len);
	assert_int_equal(op, 1);
	free(msg);
}

/* A masked binary frame header declaring len, and the first `part` bytes. */
static void ws_send_partial(struct client *c, size_t len, size_t part)
{
	unsigned char hdr[14] = {0x82, 0x80 | 127};
	char *zero = calloc(1, part + 1);

	assert_non_null(zero);
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (unsigned char)((uint64_t)len >> (8 * (7 - i)));
	memset(hdr + 10, 0, 4); /* mask key 0: the payload is sent as is */
	client_send(c, hdr, sizeof(hdr));
	client_send(c, zero, part);
	free(zero);
}

/* The rest of that frame; then its echo comes back. */
static void ws_finish_partial(struct client *c, size_t len, size_t part)
{
	char *zero = calloc(1, len - part + 1), *msg;
	size_t n;
	int op;

	assert_non_null(zero);
	client_send(c, zero, len - part);
	free(zero);
	msg = ws_recv(c, &op, &n);
	assert_int_equal(op, 2);
	assert_int_equal(n, len);
	free(msg);
}

/* What a client sees when the proxy refuses a message: close 1009, then EOF. */
static void expect_close_1009(struct client *c)
{
	size_t len;
	int op;
	char *msg = ws_recv(c, &op, &len);

	assert_int_equal(op, 8);
	assert_true(len >= 2);
	assert_int_equal(((unsigned char)msg[0] << 8) | (unsigned char)msg[1], 1009);
	free(msg);
	assert_true(client_sees_eof(c));
}

/* Sizes of the WebSocket messages the upstream has received. */
static json_t *upstream_ws_sizes(void)
{
	struct resp r;
	json_t *o, *sizes;

	simple("GET /user/test/wsstats HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	o = resp_json(&r);
	resp_free(&r);
	sizes = json_incref(json_object_get(o, "sizes"));
	json_decref(o);
	return sizes;
}

static void test_websocket_too_big(void **state)
{
	struct client c;
	char *big = calloc(1, WS_MAX + 1), *msg;
	int op, over = atomic_load(&n_oversized), execs = atomic_load(&n_exec);
	size_t len, i;
	json_t *sizes, *v;

	assert_non_null(big);
	ws_open(&c, "test", "0123abcd-0002");
	/* exactly the bound: passes, echoed */
	ws_send(&c, 2, big, WS_MAX);
	msg = ws_recv(&c, &op, &len);
	assert_int_equal(op, 2);
	assert_int_equal(len, WS_MAX);
	free(msg);
	/* one byte more: refused before it reaches the server, and recorded */
	ws_send(&c, 2, big, WS_MAX + 1);
	expect_close_1009(&c);
	client_close(&c);
	assert_int_equal(atomic_load(&n_oversized), over + 1);
	assert_int_equal(atomic_load(&n_exec), execs + 1);
	pthread_mutex_lock(&exec_lock);
	assert_string_equal(exec_type, "unknown");
	assert_string_equal(exec_code, "(null)");
	pthread_mutex_unlock(&exec_lock);
	sizes = upstream_ws_sizes();
	json_array_foreach(sizes, i, v)
	{
		assert_true(json_integer_value(v) <= WS_MAX);
	}
	json_decref(sizes);

	/* the header alone decides: a fragment that crosses the bound is refused
	 * with nothing of its payload sent */
	ws_open(&c, "test", "0123abcd-0003");
	ws_send_partial(&c, (size_t)WS_MAX * 5, 0);
	expect_close_1009(&c);
	client_close(&c);
	assert_int_equal(atomic_load(&n_oversized), over + 2);
	free(big);
}

static void test_websocket_budget(void **state)
{
	enum { PART = 900000, SENT = 1000 };
	struct client w1, w2, w3, w4, w5, w6;
	int over = atomic_load(&n_oversized);

	/* per user 2 MiB, 3 MiB in all; each unfinished message charges 900001 */
	ws_open(&w1, "test", "0123abcd-0011");
	ws_send_partial(&w1, PART, SENT);
	ws_open(&w2, "test", "0123abcd-0012");
	ws_send_partial(&w2, PART, SENT);
	usleep(100000);
	ws_open(&w3, "test", "0123abcd-0013"); /* test: 2.7 MB > 2 MiB */
	ws_send_partial(&w3, PART, SENT);
	expect_close_1009(&w3);
	client_close(&w3);
	assert_int_equal(atomic_load(&n_oversized), over + 1);

	ws_open(&w4, "other", "0123abcd-0014"); /* all: 2.7 MB */
	ws_send_partial(&w4, PART, SENT);
	usleep(100000);
	ws_open(&w5, "other", "0123abcd-0015"); /* other 1.8 MB, but all 3.6 MB > 3 MiB */
	ws_send_partial(&w5, PART, SENT);
	expect_close_1009(&w5);
	client_close(&w5);
	assert_int_equal(atomic_load(&n_oversized), over + 2);

	/* a connection that goes away gives back what it held */
	client_close(&w1);
	usleep(200000);
	ws_open(&w6, "other", "0123abcd-0016");
	ws_send_partial(&w6, PART, SENT);

	/* the messages that were admitted are forwarded whole */
	ws_finish_partial(&w2, PART, SENT);
	ws_finish_partial(&w4, PART, SENT);
	ws_finish_partial(&w6, PART, SENT);
	assert_int_equal(atomic_load(&n_oversized), over + 2);
	/* and once complete, nothing stays charged: a full message per user again */
	ws_send_partial(&w2, PART, SENT);
	ws_send_partial(&w4, PART, SENT);
	ws_finish_partial(&w2, PART, SENT);
	ws_finish_partial(&w4, PART, SENT);
	client_close(&w2);
	client_close(&w4);
	client_close(&w6);
	assert_int_equal(atomic_load(&n_oversized), over + 2);
}

static void test_websocket_bad_frames_close(void **state)
{
	struct client c;
	struct resp r;
	char *msg;
	size_t len;
	int op;
	/* an unmasked client frame: the tap cannot vouch for it, the proxy closes */
	static const unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};

	client_open(&c);
	client_sends(&c, "GET /user/test/api/kernels/0123abcd-0001/channels HTTP/1.1\r\nHost: a\r\n"
			 "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 101);
	resp_free(&r);
	msg = ws_recv(&c, &op, &len);
	free(msg);
	client_send(&c, unmasked, sizeof(unmasked));
	assert_true(client_sees_eof(&c));
	client_close(&c);
}

static void test_upstream_bad_head(void **state)
{
	struct resp r;
	json_t *o;

	/* a response head beyond the proxy's bound */
	simple("GET /user/test/hugehead HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 502);
	o = resp_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 502);
	json_decref(o);
	assert_false(head_contains(&r, "X-Huge"));
	resp_free(&r);
}

/* A connection from src that gets an answer. */
static void open_served(struct client *c, const char *src)
{
	struct resp r;

	client_open_from(c, src);
	client_sends(c, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(read_response(c, &r, false), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* A connection from src that the server closes at once. */
static void expect_refused(const char *src)
{
	struct client c;
	char b[16];

	client_open_from(&c, src);
	(void)send(c.fd, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n\r\n", 36, MSG_NOSIGNAL);
	assert_true(recv(c.fd, b, sizeof(b), 0) <= 0);
	client_close(&c);
}

static void test_max_connections(void **state)
{
	enum { N = 64 };
	struct client cs[N];
	struct resp r;

	usleep(300000); /* connections of earlier tests finish closing */
	/* from two addresses, each under its own cap (40) */
	for (int i = 0; i < N; i++)
		open_served(&cs[i], i % 2 ? "127.0.0.2" : "127.0.0.1");
	/* one more is accepted by the kernel and closed by the server at once */
	expect_refused("127.0.0.3");
	for (int i = 0; i < N; i++)
		client_close(&cs[i]);
	usleep(300000);
	simple("GET /hub/echo HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_max_conns_per_ip(void **state)
{
	struct client cs[MAX_PER_IP], other;

	usleep(300000);
	for (int i = 0; i < MAX_PER_IP; i++)
		open_served(&cs[i], "127.0.0.5");
	/* the address is at its cap; another address is not */
	expect_refused("127.0.0.5");
	expect_refused("127.0.0.5");
	open_served(&other, "127.0.0.6");
	client_close(&other);
	/* a slot comes back when one of them closes */
	client_close(&cs[0]);
	usleep(300000);
	open_served(&cs[0], "127.0.0.5");
	expect_refused("127.0.0.5");
	for (int i = 0; i < MAX_PER_IP; i++)
		client_close(&cs[i]);
	usleep(300000);
	open_served(&cs[0], "127.0.0.5");
	client_close(&cs[0]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send a partial head; how long until the 408? */
static int64_t ms_to_408(struct client *c)
{
	struct resp r;
	int64_t t0 = now_ms();

	client_sends(c, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n");
	assert_int_equal(read_response(c, &r, false), 0);
	assert_int_equal(r.status, 408);
	assert_true(client_sees_eof(c));
	resp_free(&r);
	return now_ms() - t0;
}

static void test_first_head_timeout(void **state)
{
	struct client c;
	struct resp r;
	int64_t ms;

	/* a new connection: FIRST_HEADER_MS from the accept, however the bytes trickle */
	client_open(&c);
	ms = ms_to_408(&c);
	client_close(&c);
	assert_true(ms < HEADER_MS - 100);

	client_open(&c);
	ms = now_ms();
	usleep(FIRST_HEADER_MS * 1000 / 2);
	client_sends(&c, "GET /hub/e");
	usleep(FIRST_HEADER_MS * 1000 / 4);
	client_sends(&c, "cho HTTP/1.1\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 408);
	resp_free(&r);
	client_close(&c);
	assert_true(now_ms() - ms < HEADER_MS - 100);

	/* a kept-alive connection's next head has the longer timeout */
	client_open(&c);
	client_sends(&c, "GET /hub/echo HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	ms = ms_to_408(&c);
	client_close(&c);
	assert_true(ms >= HEADER_MS - 50);

	/* a buffered body after a first head in time gets its own time */
	client_open(&c);
	client_sends(&c, "POST /hub/form HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n");
	usleep(FIRST_HEADER_MS * 1000 * 3 / 2);
	client_sends(&c, "field=x");
	assert_int_equal(read_response(&c, &r, false), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	client_close(&c);
}

static void test_upstream_down(void **state)
{
	struct resp r;
	char v[128];
	int errs = atomic_load(&n_upstream_error);
	json_t *o;

	simple("GET /user/down/api/status HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 503);
	o = resp_json(&r);
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 503);
	assert_string_equal(json_string_value(json_object_get(o, "message")), "server for down is not running");
	json_decref(o);
	resp_free(&r);

	simple("GET /user/down/tree HTTP/1.1\r\nHost: a\r\nAccept: text/html,*/*\r\n\r\n", &r);
	assert_int_equal(r.status, 503);
	assert_true(str_has_prefix(resp_header(&r, "Content-Type", v, sizeof(v)), "text/html"));
	assert_non_null(strstr(r.body, "not running"));
	resp_free(&r);

	/* a symlink to a live socket is not followed */
	simple("GET /user/link/echo HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_int_equal(r.status, 503);
	resp_free(&r);
	assert_int_equal(atomic_load(&n_upstream_error), errs + 3);
}

/* ---------------------------------------------------------------- setup */

static int wait_for_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	nbw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		usleep(50000);
	}
	return -1;
}

static int setup(void **state)
{
	char *argv[] = {"python3", (char *)upstream_py, sock_path, NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sa);
	struct http_limits limits = {
	    .max_header = MAX_HEADER,
	    .max_body = MAX_BODY,
	    .max_connections = 64,
	    .header_timeout_ms = HEADER_MS,
	    .keepalive_timeout_ms = 5000,
	    .max_conns_per_ip = MAX_PER_IP,
	    .first_header_timeout_ms = FIRST_HEADER_MS,
	    .ws_max_message = WS_MAX,
	    .ws_buffer_total = WS_TOTAL,
	    .ws_buffer_per_user = WS_PER_USER,
	};
	int fd;

	signal(SIGPIPE, SIG_IGN);
	nbw_strlcpy(tmpdir, "/tmp/nbw-http-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	nbw_snprintf(sock_path, sizeof(sock_path), "%s/test.sock", tmpdir);
	nbw_snprintf(link_path, sizeof(link_path), "%s/link.sock", tmpdir);
	nbw_snprintf(down_path, sizeof(down_path), "%s/down.sock", tmpdir);
	if (posix_spawn(&upstream_pid, "/usr/bin/python3", NULL, NULL, argv, environ) != 0)
		return -1;
	if (wait_for_socket(sock_path) < 0)
		return -1;
	if (symlink(sock_path, link_path) < 0)
		return -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &slen) < 0)
		return -1;
	port = ntohs(sa.sin_port);
	uv_loop_init(&loop);
	if (http_server_new(&loop, fd, &limits, &ops, NULL, &server) < 0)
		return -1;
	uv_async_init(&loop, &stop_async, on_stop);
	uv_timer_init(&loop, &slow_timer);
	return pthread_create(&loop_thread, NULL, loop_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	int rc;

	uv_async_send(&stop_async);
	pthread_join(loop_thread, NULL);
	rc = uv_loop_close(&loop); /* every handle closed: nothing leaked in the loop */
	if (upstream_pid > 0) {
		kill(upstream_pid, SIGTERM);
		waitpid(upstream_pid, NULL, 0);
	}
	unlink(link_path);
	unlink(sock_path);
	rmdir(tmpdir);
	if (rc != 0)
		print_error("uv_loop_close: %s\n", uv_strerror(rc));
	return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_max_conns_per_ip),
	    cmocka_unit_test(test_first_head_timeout),
	    cmocka_unit_test(test_hub_response),
	    cmocka_unit_test(test_header_injection),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_431_414),
	    cmocka_unit_test(test_buffered_body),
	    cmocka_unit_test(test_slowloris),
	    cmocka_unit_test(test_pipelining),
	    cmocka_unit_test(test_proxy_headers),
	    cmocka_unit_test(test_proxy_upload),
	    cmocka_unit_test(test_proxy_download),
	    cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_websocket_bad_frames_close),
	    cmocka_unit_test(test_websocket_too_big),
	    cmocka_unit_test(test_websocket_budget),
	    cmocka_unit_test(test_proxy_set_cookie),
	    cmocka_unit_test(test_upstream_down),
	    cmocka_unit_test(test_upstream_bad_head),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s UPSTREAM_PY\n", argv[0]);
		return 2;
	}
	upstream_py = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
