/* http: declarations shared by server.c, response.c and parse.c (and the
 * request fuzz target). Not a door for other modules: the proxy uses the
 * proxy-facing functions of http.h. */
#pragma once

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_EXTRA_HEADERS 32
#define HTTP_MAX_URL 8192
#define HTTP_INBUF_SIZE (16 * 1024)
/* Bytes queued to a client above which producers (proxy, streams) back off. */
#define HTTP_WRITE_HIGH (256 * 1024)
#define HTTP_WRITE_LOW (64 * 1024)
#define HTTP_STREAM_MAX_QUEUED (4 * 1024 * 1024)
#define HTTP_LINGER_MS 2000

/* ---- request parser (parse.c): llhttp plus the bounded head, no I/O ---- */
struct http__rp;

struct http__rp_ops {
	/* A new message starts (first byte seen). */
	void (*on_begin)(struct http__rp *p);
	/* Head complete and valid, p->req filled: 0 to go on, -1 to stop
	 * parsing (the owner has taken care of the answer). */
	int (*on_head)(struct http__rp *p);
	/* Body bytes (de-chunked): 0, 1 to pause after them, -1 to stop. */
	int (*on_body)(struct http__rp *p, const char *at, size_t len);
};

enum http__rp_result {
	HTTP__RP_MORE = 0, /* everything consumed, need more bytes */
	HTTP__RP_PAUSED,   /* on_body asked for a pause; feed the rest later */
	HTTP__RP_DONE,	   /* a message is complete; http__rp_next() before feeding on */
	HTTP__RP_ERROR,	   /* stop: p->status is the error status to send (0: owner answered) */
};

struct http__rp {
	llhttp_t ll;
	const struct http__rp_ops *ops;
	void *owner;
	struct http_req *req;
	uint32_t max_header;
	size_t head_raw; /* raw bytes fed while the head was incomplete */
	char *head;	 /* url\0name\0value\0... then path\0query\0 */
	size_t head_len, head_cap;
	uint32_t hdr[HTTP_MAX_HEADERS][2]; /* name/value offsets into head */
	size_t n_hdr;
	enum { RP_BETWEEN, RP_URL, RP_FIELD, RP_VALUE, RP_HEAD_DONE } where;
	bool in_message; /* bytes of a message seen */
	bool head_done;
	bool msg_done;
	bool chunked;	      /* the body is chunked (Transfer-Encoding) */
	bool has_body;	      /* Content-Length > 0 or chunked */
	bool expect_continue; /* Expect: 100-continue */
	bool keep_alive;      /* llhttp_should_keep_alive at head complete */
	uint64_t content_length;
	int status;
	struct http_header headers[HTTP_MAX_HEADERS];
};

/* req: filled at head complete (method, target, path, query, headers,
 * upgrade); its conn and client_ip are the owner's. */
void http__rp_init(struct http__rp *p, uint32_t max_header, const struct http__rp_ops *ops, void *owner,
		   struct http_req *req);
/* Free the current head (request strings become invalid). */
void http__rp_done(struct http__rp *p);
enum http__rp_result http__rp_feed(struct http__rp *p, const char *data, size_t len, size_t *ret_consumed);
/* After HTTP__RP_DONE: drop the finished message and parse the next one. */
void http__rp_next(struct http__rp *p);
/* Major/minor HTTP version of the current request. */
static inline bool http__rp_is_http11(const struct http__rp *p)
{
	return p->ll.http_major == 1 && p->ll.http_minor >= 1;
}

/* ---- server internals (server.c, response.c) ---- */
struct proxy_pool;
struct proxy;

#define HTTP_IP_BUCKETS 256

/* Open connections of one client address (IPv6: its /64), for max_conns_per_ip. */
struct http__ip_count {
	struct http__ip_count *next;
	uint8_t key[17]; /* family, then the address (IPv6: first 8 bytes) */
	uint32_t n;
};

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct http_limits limits;
	struct http_ops ops;
	void *ud;
	struct http_conn *conns;
	uint32_t n_conns;
	struct proxy_pool *pool;
	struct http__ip_count *ip_buckets[HTTP_IP_BUCKETS];
	bool closing;
	bool listener_open;
	bool pool_open;
	int64_t date_secs;
	char date[32];
};

enum http_resp_state {
	HTTP_RESP_NONE = 0, /* nothing sent for this request yet */
	HTTP_RESP_STREAM,   /* head sent, body streaming (http_stream_* or proxy) */
	HTTP_RESP_ENDED,    /* everything queued */
};

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown_req;
	int handles; /* open libuv handles; freed when the last one closed */

	struct http__rp rp;
	struct http_req req;
	enum http_route route;
	bool routed;	    /* route() ran for the current request */
	bool msg_complete;  /* the request has been received completely */
	bool parse_stopped; /* input is no longer parsed (error, overflow, upgrade) */
	bool body_blocked;  /* proxy asked to stop feeding the body */
	bool keep_alive;
	bool head_request;
	bool reading;
	bool eof;
	bool closing;
	bool lingering;
	bool splice;	  /* WebSocket spliced by the proxy */
	bool read_paused; /* splice backpressure */
	bool in_process;
	bool reprocess;
	bool served; /* a request was answered: later heads get header_timeout_ms */
	enum http_resp_state resp;
	int resp_status;
	size_t write_bytes; /* queued to the client, not yet written */
	unsigned writes;
	size_t body_cap;
	size_t discarded;
	char *extra[HTTP_MAX_EXTRA_HEADERS]; /* "Name: value\r\n" */
	size_t n_extra;
	struct proxy *proxy;
	struct http__ip_count *ip; /* counted against this address */
	size_t in_off, in_len;
	char inbuf[HTTP_INBUF_SIZE];
};

/* Queue bytes to the client; takes ownership of buf (malloc'd). */
int http__conn_write_owned(struct http_conn *c, char *buf, size_t len);
/* The current response is fully queued. */
void http__conn_response_ended(struct http_conn *c);
/* Close: graceful flushes queued writes, sends FIN and lingers briefly. */
void http__conn_close(struct http_conn *c, bool graceful);
/* Cached IMF-fixdate for the Date header. */
const char *http__server_date(struct http_server *srv);
void http__conn_free_extra(struct http_conn *c);
/* Hub error answer on a connection without an application in the loop
 * (400/408/413/414/431...): JSON body, Connection: close. */
void http__respond_error_close(struct http_conn *c, int status);
