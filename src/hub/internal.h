/* hub internals: shared between app.c, pages.c, api.c, monclient.c, assets.c
 * and the pure helpers in logic.c (unit tested). Not a public contract. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth/auth.h"
#include "common/common.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "store/store.h"

struct config;
struct http_req;
struct http_server;

#define HUB_SESSION_COOKIE "nbwarden-session"
#define HUB_SERVER_COOKIE "nbwarden-server"
#define HUB_XSRF_COOKIE "_xsrf"
#define HUB_XSRF_SIZE 64
#define HUB_NEXT_MAX 2048
#define HUB_OTHER_SERVER_MAX_AGE 3600 /* an admin's cookie for another user's server */
#define HUB_TOUCH_INTERVAL 30  /* seconds between store_user_touch per user */
#define HUB_STOP_WAIT_MS 10000 /* DELETE .../server waits this long for IPC_STOPPED (JupyterHub's slow_stop_timeout)   \
				*/
#define HUB_SSE_KEEPALIVE_MS 15000
#define HUB_PURGE_INTERVAL_MS (3600 * 1000) /* store_purge_expired */
#define HUB_OUTQ_MAX 4096		    /* queued monitor messages before we give up */

/* ---- server table (fed by the monitor) ---- */
enum hub_srv_state {
	HUB_SRV_PENDING = 1,
	HUB_SRV_READY,
	HUB_SRV_FAILED, /* kept so pages/progress can show why; cleared by the next spawn */
};

struct hub_server {
	char user[NBW_USERNAME_MAX + 1];
	int state;     /* enum hub_srv_state */
	bool stopping; /* IPC_STOP sent, IPC_STOPPED not yet received */
	uint32_t percent;
	char message[512];	    /* last progress message, or the failure */
	int64_t started;	    /* unix seconds, 0 unknown */
	char token[IPC_TOKEN_SIZE]; /* never logged; wiped on free */
	char socket_path[IPC_PATH_SIZE];
	int64_t last_activity; /* unix seconds, 0 never */
	int64_t last_touch_stored;
	char profile[CONFIG_SLUG_MAX + 1]; /* slug asked for at spawn ("" none / unknown after a hub restart) */
};

/* ---- per-request async contexts (req->app) ---- */
enum hub_ctx_kind { HUB_CTX_WATCH = 1, HUB_CTX_STOPWAIT, HUB_CTX_LOGIN };

struct hub_ctx {
	int kind;
	struct hub_ctx *prev, *next;
	struct http_req *req;
	char user[NBW_USERNAME_MAX + 1];
	uint64_t deadline_ms; /* STOPWAIT */
};

/* ---- logins: argon2id runs on libuv's threadpool, a few at a time ---- */
#define HUB_LOGIN_RUNNING_MAX 2	  /* verifications at once */
#define HUB_LOGIN_PENDING_MAX 16  /* waiting for a slot; beyond: 429 */
#define HUB_LOGIN_XSRF_MAX_AGE 43200 /* seconds a login form stays valid */
#define HUB_LOGIN_XSRF_REUSE_AGE 3600 /* a login page reuses a younger cookie (several tabs) */
#define HUB_THROTTLE_SLOTS 512
#define HUB_THROTTLE_AUDIT_PER_SEC 10 /* throttled attempts recorded per second; the rest counted */

struct hub_login {
	struct hub_ctx ctx; /* kind HUB_CTX_LOGIN, not in hub.ctxs; ctx.req NULL once the client left */
	struct hub_login *next; /* pending queue */
	uv_work_t work;
	bool running;
	char next_url[HUB_NEXT_MAX + 1];
	char ip_key[64];
	struct auth_login_job job; /* secrets: wiped before free */
};

struct hub_throttle_slot {
	char key[72];
	uint32_t fails;	  /* in the window that started at window_start */
	uint32_t strikes; /* blocks so far: each one twice as long */
	uint64_t window_start, blocked_until, last_fail, last_seen; /* ms */
};

struct hub_throttle {
	uint32_t limit; /* failures per window that start a block */
	uint64_t window_ms, block_ms, block_max_ms, forget_ms;
	struct hub_throttle_slot slots[HUB_THROTTLE_SLOTS];
};

struct hub_outmsg {
	struct hub_outmsg *next;
	size_t len;
	uint8_t data[];
};

struct hub {
	uv_loop_t *loop;
	const struct config *cfg;
	struct store *store;
	struct http_server *http;
	int listen_fd;
	int ipc_fd;

	uv_poll_t ipc_poll;
	bool ipc_poll_active;
	int ipc_events;
	struct hub_outmsg *out_head, *out_tail;
	size_t out_n;
	uint8_t *ipc_buf; /* IPC_MAX_MSG */
	bool list_done;

	uv_timer_t tick; /* 1 s: stop-wait deadlines, SSE keepalives, start fallback */
	uv_signal_t sigterm, sigint;
	uint64_t started_ms;
	uint64_t last_keepalive_ms;
	uint64_t last_purge_ms;

	struct hub_server **servers;
	size_t n_servers, cap_servers;

	struct hub_ctx *ctxs; /* watchers and stop waiters */

	uint8_t login_xsrf_key[AUTH_LOGIN_XSRF_KEY]; /* per process: login forms from before a restart expire */
	struct hub_throttle *throttle_ip, *throttle_name;
	struct hub_login *login_head, *login_tail; /* pending */
	size_t login_pending;
	unsigned login_running;
	uint64_t login_audit_sec;
	unsigned login_audit_n, login_audit_dropped;

	bool shutting_down;
	int exit_code;
};

/* ---- the caller of a /hub request ---- */
enum hub_via { HUB_VIA_NONE = 0, HUB_VIA_TOKEN, HUB_VIA_COOKIE };

struct hub_caller {
	int via;	/* enum hub_via */
	bool bad_token; /* an Authorization header was present but invalid */
	struct store_user user;
	struct store_session sess; /* HUB_VIA_COOKIE */
	char cookie[80];	   /* hub session cookie value (a secret; wiped) */
};

/* ---- app.c ---- */
int hub__caller_get(struct hub *h, struct http_req *req, struct hub_caller *c);
void hub__caller_wipe(struct hub_caller *c);
bool hub__may_access(const struct store_user *actor, const char *server_user);
void hub__respond_error(struct hub *h, struct http_req *req, int status, const char *message);
bool hub__is_api(const struct http_req *req);
/* XSRF + fetch-metadata gate for a /hub request already authenticated; responds 403 and returns false on refusal. */
bool hub__xsrf_gate(struct hub *h, struct http_req *req, const struct hub_caller *c, bool form);
/* Set-Cookie helper honouring hub.cookie_secure. max_age < 0: session cookie; 0: delete. */
int hub__set_cookie(struct hub *h, struct http_req *req, const char *name, const char *value, const char *path,
		    int64_t max_age);
/* Issue the path-scoped server cookie for `server` from a hub session cookie;
 * other: not the session user's own server (at most HUB_OTHER_SERVER_MAX_AGE, a browser-session cookie). */
int hub__issue_server_cookie(struct hub *h, struct http_req *req, const char *parent_cookie, const char *server,
			     bool other);
void hub__start_serving(struct hub *h);
void hub__shutdown(struct hub *h, int exit_code);

/* ---- pages.c ---- */
void hub__pages_dispatch(struct hub *h, struct http_req *req);
void hub__page_error(struct hub *h, struct http_req *req, int status, const char *message);
/* ---- assets.c ---- */
bool hub__asset_get(const char *path, const char **ret_type, const char **ret_body, size_t *ret_len);

/* ---- login.c ---- */
int hub__login_init(struct hub *h);
void hub__login_done_all(struct hub *h); /* after the loop ended */
/* Queue l (job begun) for verification: 0; -EBUSY when too many wait (the
 * caller answers 429 and frees l), other errors likewise. On completion
 * hub__login_finish() runs on the loop thread unless the client left. */
int hub__login_start(struct hub *h, struct http_req *req, struct hub_login *l);
void hub__login_abort(struct hub *h, struct http_req *req);
void hub__login_free(struct hub_login *l);
/* auth.login.failure with reason "throttled", at most HUB_THROTTLE_AUDIT_PER_SEC a second. */
void hub__login_audit_throttled(struct hub *h, const char *user, const char *ip);
/* pages.c: the verification of l ended with r (auth_login_end) and u. */
void hub__login_finish(struct hub *h, struct http_req *req, struct hub_login *l, int r, const struct store_user *u);

/* ---- throttle.c (pure) ---- */
void hub__throttle_init(struct hub_throttle *t, uint32_t limit, uint64_t window_ms, uint64_t block_ms,
			uint64_t block_max_ms);
/* ms until key may try again, 0 when it is not blocked. */
uint64_t hub__throttle_check(struct hub_throttle *t, const char *key, uint64_t now_ms);
/* Count a failure; the block (ms) it started, else 0. */
uint64_t hub__throttle_fail(struct hub_throttle *t, const char *key, uint64_t now_ms);
void hub__throttle_clear(struct hub_throttle *t, const char *key);
/* Throttle key of a client address: IPv4 as is (also v4-mapped), IPv6 its /64. */
int hub__ip_key(const char *ip, char *out, size_t size);

/* ---- api.c ---- */
void hub__api_dispatch(struct hub *h, struct http_req *req);
/* Request a spawn of `user`'s server on behalf of actor (marks it pending). */
/* profile: a slug already checked by hub__spawn_profile ("" = none). */
int hub__spawn(struct hub *h, const char *user, const char *actor, const char *ip, const char *profile);
int hub__stop(struct hub *h, const char *user, const char *actor, const char *ip);
/* Monitor events → watchers and stop waiters. */
void hub__notify_progress(struct hub *h, const struct hub_server *srv);
void hub__notify_final(struct hub *h, const char *user, const struct hub_server *srv_or_null, const char *why);
void hub__notify_stopped(struct hub *h, const char *user);
void hub__ctx_tick(struct hub *h, uint64_t now_ms);
void hub__ctx_abort(struct hub *h, struct http_req *req);
void hub__ctx_close_all(struct hub *h);

/* ---- monclient.c ---- */
int hub__mon_start(struct hub *h);
void hub__mon_stop(struct hub *h);
int hub__mon_send(struct hub *h, uint32_t type, const void *payload, size_t len, const void *extra, size_t extra_len);
/* Audit record via the monitor; strings may be NULL; they are sanitized. */
void hub__audit(struct hub *h, uint32_t event, const char *user, const char *ip, const char *reason,
		const char *target);
struct hub_server *hub__server_find(struct hub *h, const char *user);
struct hub_server *hub__server_ensure(struct hub *h, const char *user);
void hub__server_remove(struct hub *h, const char *user);
void hub__server_touch(struct hub *h, const char *user);

/* ---- logic.c: pure helpers (unit tested) ---- */
enum hub_api_route {
	HUB_API_NONE = 0,
	HUB_API_ROOT,	  /* /hub/api[/] */
	HUB_API_SELF,	  /* /hub/api/user */
	HUB_API_USER,	  /* /hub/api/users/NAME */
	HUB_API_SERVER,	  /* /hub/api/users/NAME/server */
	HUB_API_PROGRESS, /* /hub/api/users/NAME/server/progress */
};
enum hub_api_route hub__api_match(const char *path, char *user, size_t size);
/* path == prefix + NAME (+ optional "/"), NAME valid → 0; else -EINVAL. */
int hub__path_user_suffix(const char *path, const char *prefix, char *user, size_t size);
/* "/user/NAME" or "/user/NAME/..." → 0, *ret_bare when nothing follows NAME. */
int hub__user_path_parse(const char *path, char *user, size_t size, bool *ret_bare);
/* A next target (path + optional query) that opens /user/NAME/: true and NAME. */
bool hub__next_server(const char *next, char *user, size_t size);
int hub__urlencode(const char *in, char *out, size_t size);
int hub__login_url(const char *target, char *out, size_t size);
int hub__cookie_format(char *out, size_t size, const char *name, const char *value, const char *path, int64_t max_age,
		       bool secure);
/* "token T" / "bearer T" (scheme case-insensitive) → T. */
int hub__auth_header_token(const char *value, char *out, size_t size);
bool hub__wants_html(const char *method, const char *accept);
/* Anonymous request for /user/...: a browser to send to the login page (GET/HEAD
 * without credentials, accepting HTML or anything) rather than an API client (403)? */
bool hub__anon_is_browser(const char *method, const char *accept, bool has_authorization, bool upgrade);
/* No dot segments (also %2e-encoded), no encoded '/' '\\' or NUL, no backslash. */
bool hub__path_safe(const char *path);
/* Origin "scheme://host[:port]" names the same host and port as the Host header. */
bool hub__origin_matches(const char *origin, const char *host);
/* Tornado's (Jupyter's) XSRF token formats: "2|mask|masked|ts", hex, or raw → raw token bytes. */
int hub__tornado_xsrf_decode(const char *v, uint8_t *out, size_t size, size_t *ret_len);
bool hub__tornado_xsrf_match(const char *cookie, const char *submitted);

/* Cookie-authenticated requests to /user/NAME/: the proxy injects the server's
 * token, so Jupyter skips its own XSRF check — the hub does it instead
 * (double submit of Jupyter's _xsrf cookie, origin checks). */
struct hub_user_csrf_input {
	const char *method;
	bool upgrade;
	const char *origin;
	const char *host;
	const char *sec_fetch_site;
	const char *sec_fetch_mode;
	const char *xsrf_cookie; /* Jupyter's _xsrf cookie */
	const char *xsrf_header; /* X-XSRFToken */
	const char *xsrf_query;	 /* ?_xsrf= */
};
int hub__user_csrf_check(const struct hub_user_csrf_input *in, const char **ret_reason);
bool hub__method_safe(const char *method);

struct hub_xsrf_input {
	const char *method;
	bool api;	      /* request under /hub/api/ */
	int via;	      /* enum hub_via */
	const char *expected; /* the session's xsrf */
	const char *form;     /* _xsrf form field, NULL if absent */
	const char *header;   /* X-XSRFToken, NULL if absent */
	const char *sec_fetch_mode;
	const char *sec_fetch_site;
};
/* 0 when the request may proceed; -EPERM with a reason otherwise. */
int hub__xsrf_check(const struct hub_xsrf_input *in, const char **ret_reason);

/* Fetch metadata of a cookie-authenticated browser request (user servers
 * share the hub's origin, so a script served by one user's server could
 * otherwise use an admin's cookies on /hub/ or on another user's server). */
struct hub_fetch_input {
	const char *method;
	const char *path; /* request path */
	const char *host;
	const char *origin;
	const char *referer;
	const char *sec_fetch_mode;
	const char *sec_fetch_site;
	const char *sec_fetch_dest;
};
/* Path of a Referer URL on our own origin (Host): 0; -EPERM another origin, -EINVAL malformed or unsafe path. */
int hub__referer_path(const char *referer, const char *host, char *out, size_t size);
/* /hub/: browsers' non-navigation requests need Sec-Fetch-Site same-origin, a
 * Referer under /hub/ and must be the progress stream. 0, or -EPERM (treat the
 * request as unauthenticated). No fetch metadata (non-browser clients): 0. */
int hub__hub_fetch_check(const struct hub_fetch_input *in, const char **ret_reason);
/* /user/NAME/: non-navigation requests need Sec-Fetch-Site same-origin, a
 * Referer under /user/NAME/ and a matching Origin if any; WebSockets our own
 * Origin; framed navigations a Referer under /user/NAME/. */
int hub__user_fetch_check(const struct hub_fetch_input *in, const char *server, const char **ret_reason);

/* Printable ASCII copy (others → '?'), truncated to size-1. */
void hub__sanitize_text(char *dst, size_t size, const char *src);
/* A kernel message type for the audit record: copied when made of [a-z_]
 * only and it fits, else "" (the monitor then records "execute_request"). */
void hub__sanitize_msg_type(char *dst, size_t size, const char *src);
/* Copy when made of [0-9a-fA-F:.] only, else "". */
void hub__sanitize_ip(char *dst, size_t size, const char *src);
/* Largest n <= max such that s[0..n) does not end inside a UTF-8 sequence. */
size_t hub__utf8_trunc(const char *s, size_t len, size_t max);

enum hub_progress_kind { HUB_PROGRESS_UPDATE = 0, HUB_PROGRESS_READY, HUB_PROGRESS_FAILED };
/* "data: {...}\n\n" in JupyterHub's progress format; malloc'd, NULL on OOM. */
char *hub__progress_event(int kind, uint32_t percent, const char *message, const char *user);
/* The profile of a spawn request. requested: the slug the client named, or
 * NULL (no body, {} or "profile": null) for the default one. On success ret
 * holds the slug to send to the monitor (the default's slug, or "" when no
 * profiles are configured). An unknown slug: -ENOENT with a message naming
 * the choices in err. */
int hub__spawn_profile(const struct config *cfg, const char *requested, char *ret, size_t size, char *err,
		       size_t err_size);
/* JupyterHub user options {"profile": "slug"} of a POST .../server body (opts
 * may be NULL) → hub__spawn_profile. -EINVAL for a profile that is not a string. */
int hub__spawn_options(const struct config *cfg, const json_t *opts, char *ret, size_t size, char *err,
		       size_t err_size);
/* JupyterHub user model; srv may be NULL. */
json_t *hub__user_model(const struct store_user *u, const struct hub_server *srv);
/* json_string, or a sanitized ASCII copy when s is not valid UTF-8. */
json_t *hub__json_str(const char *s);
