/* app: the hub's event loop, request router, caller authentication, XSRF gate
 * and the proxy's authorization of /user/NAME/ requests. */
#include <signal.h>
#include <stdio.h>
#include <strings.h>

#include "auth/auth.h"
#include "config/config.h"
#include "http/http.h"
#include "hub/hub.h"
#include "hub/internal.h"
#include "proxy/exectap.h"
#include "proxy/proxy.h"

#define HUB_START_FALLBACK_MS 5000 /* serve even if the monitor never ends its list */

/* ---- callers ---- */

void hub__caller_wipe(struct hub_caller *c)
{
	explicit_bzero(c->cookie, sizeof(c->cookie));
}

static void fetch_input(const struct http_req *req, struct hub_fetch_input *in)
{
	*in = (struct hub_fetch_input){
	    .method = req->method,
	    .path = req->path,
	    .host = http_req_header(req, "Host"),
	    .origin = http_req_header(req, "Origin"),
	    .referer = http_req_header(req, "Referer"),
	    .sec_fetch_mode = http_req_header(req, "Sec-Fetch-Mode"),
	    .sec_fetch_site = http_req_header(req, "Sec-Fetch-Site"),
	    .sec_fetch_dest = http_req_header(req, "Sec-Fetch-Dest"),
	};
}

/* Authorization: token T (or bearer), else the hub session cookie, which
 * counts only for requests a hub page could have made (hub__hub_fetch_check). */
int hub__caller_get(struct hub *h, struct http_req *req, struct hub_caller *c)
{
	const char *authz = http_req_header(req, "Authorization");
	int64_t now = nbw_time_now();
	char tok[AUTH_TOKEN_SIZE * 2];

	memset(c, 0, sizeof(*c));
	if (authz) {
		int r = hub__auth_header_token(authz, tok, sizeof(tok));
		if (r >= 0 && auth_token_check(h->store, tok, now, &c->user) == 0)
			c->via = HUB_VIA_TOKEN;
		else
			c->bad_token = true;
		explicit_bzero(tok, sizeof(tok));
		if (c->via)
			return 0;
	}
	if (http_req_cookie(req, HUB_SESSION_COOKIE, c->cookie, sizeof(c->cookie)) >= 0 && c->cookie[0] &&
	    auth_session_check(h->store, c->cookie, STORE_SESSION_HUB, now, &c->sess, &c->user) == 0) {
		const char *reason = NULL;
		struct hub_fetch_input in;

		fetch_input(req, &in);
		if (hub__hub_fetch_check(&in, &reason) == 0) {
			c->via = HUB_VIA_COOKIE;
			return 0;
		}
		/* the session cookie does not count for this request */
		hub__audit(h, IPC_EV_ACCESS_DENIED, c->user.name, req->client_ip, reason, req->path);
		explicit_bzero(&c->sess, sizeof(c->sess));
	}
	explicit_bzero(c->cookie, sizeof(c->cookie));
	memset(&c->user, 0, sizeof(c->user));
	return -EPERM;
}

bool hub__may_access(const struct store_user *actor, const char *server_user)
{
	return actor->admin || strcmp(actor->name, server_user) == 0;
}

bool hub__is_api(const struct http_req *req)
{
	return strcmp(req->path, "/hub/api") == 0 || str_has_prefix(req->path, "/hub/api/");
}

/* JSON for the API and for clients that do not ask for HTML; a page otherwise
 * (also for form POSTs, whose browsers send Accept: text/html). */
void hub__respond_error(struct hub *h, struct http_req *req, int status, const char *message)
{
	const char *accept = http_req_header(req, "Accept");

	if (!hub__is_api(req) && !req->upgrade && accept && strcasestr(accept, "text/html"))
		hub__page_error(h, req, status, message);
	else
		http_respond_error_json(req, status, message);
}

bool hub__xsrf_gate(struct hub *h, struct http_req *req, const struct hub_caller *c, bool form)
{
	char fv[HUB_XSRF_SIZE + 8];
	bool have_form = false;
	const char *reason = NULL;
	struct hub_xsrf_input in = {
	    .method = req->method,
	    .api = hub__is_api(req),
	    .via = c->via,
	    .expected = c->sess.xsrf,
	    .header = http_req_header(req, "X-XSRFToken"),
	    .sec_fetch_mode = http_req_header(req, "Sec-Fetch-Mode"),
	    .sec_fetch_site = http_req_header(req, "Sec-Fetch-Site"),
	};

	if (form && req->body && http_req_form(req, "_xsrf", fv, sizeof(fv)) >= 0)
		have_form = true;
	in.form = have_form ? fv : NULL;
	if (hub__xsrf_check(&in, &reason) == 0)
		return true;
	hub__audit(h, IPC_EV_ACCESS_DENIED, c->user.name, req->client_ip, reason, req->path);
	hub__respond_error(h, req, 403, reason ? reason : "XSRF check failed");
	return false;
}

int hub__set_cookie(struct hub *h, struct http_req *req, const char *name, const char *value, const char *path,
		    int64_t max_age)
{
	char buf[512];
	int r;

	r = hub__cookie_format(buf, sizeof(buf), name, value, path, max_age, h->cfg->hub.cookie_secure);
	if (r >= 0)
		r = http_add_header(req, "Set-Cookie", buf);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int hub__issue_server_cookie(struct hub *h, struct http_req *req, const char *parent_cookie, const char *server,
			     bool other)
{
	char ck[AUTH_COOKIE_SIZE];
	char path[NBW_USERNAME_MAX + 16];
	int64_t max_age = h->cfg->hub.cookie_max_age;
	int r;

	/* Another user's server (an admin): while that cookie lives, pages of
	 * other servers on this origin could open that server in a window they
	 * control. Keep it short and in the browser's memory only. */
	if (other && max_age > HUB_OTHER_SERVER_MAX_AGE)
		max_age = HUB_OTHER_SERVER_MAX_AGE;
	r = nbw_snprintf(path, sizeof(path), "/user/%s/", server);
	if (r < 0)
		return r;
	r = auth_session_create_server(h->store, parent_cookie, server, max_age, ck);
	if (r < 0)
		return log_error_errno(r, "Failed to create a server session for '%s': %m", server);
	r = hub__set_cookie(h, req, HUB_SERVER_COOKIE, ck, path, other ? -1 : max_age);
	explicit_bzero(ck, sizeof(ck));
	return r;
}

/* ---- /user/NAME/...: the proxy's gate ---- */

static bool user_authenticate(struct hub *h, struct http_req *req, const char *server, struct store_user *actor,
			      bool *ret_by_cookie)
{
	const char *authz = http_req_header(req, "Authorization");
	int64_t now = nbw_time_now();
	char buf[AUTH_TOKEN_SIZE * 2];
	bool ok = false;

	*ret_by_cookie = false;
	/* A token first; the Jupyter frontend may send its own header, so fall back to the cookie. */
	if (authz && hub__auth_header_token(authz, buf, sizeof(buf)) == 0 &&
	    auth_token_check(h->store, buf, now, actor) == 0)
		ok = true;
	explicit_bzero(buf, sizeof(buf));
	if (ok)
		return true;
	if (http_req_cookie(req, HUB_SERVER_COOKIE, buf, sizeof(buf)) >= 0 && buf[0]) {
		struct store_session sess;
		/* the cookie is path-scoped, but check its binding to this server anyway */
		if (auth_session_check(h->store, buf, STORE_SESSION_SERVER, now, &sess, actor) == 0 &&
		    strcmp(sess.server, server) == 0) {
			ok = true;
			*ret_by_cookie = true;
		}
		explicit_bzero(&sess, sizeof(sess));
	}
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

/* Cookie-authenticated requests: see hub__user_csrf_check. */
static bool user_csrf_ok(struct hub *h, struct http_req *req, const char *actor)
{
	char ck[256], q[256];
	const char *reason = NULL;
	struct hub_user_csrf_input in = {
	    .method = req->method,
	    .upgrade = req->upgrade,
	    .origin = http_req_header(req, "Origin"),
	    .host = http_req_header(req, "Host"),
	    .sec_fetch_site = http_req_header(req, "Sec-Fetch-Site"),
	    .sec_fetch_mode = http_req_header(req, "Sec-Fetch-Mode"),
	    .xsrf_header = http_req_header(req, "X-XSRFToken"),
	};

	if (http_req_cookie(req, "_xsrf", ck, sizeof(ck)) >= 0)
		in.xsrf_cookie = ck;
	if (http_req_query(req, "_xsrf", q, sizeof(q)) >= 0)
		in.xsrf_query = q;
	if (hub__user_csrf_check(&in, &reason) == 0)
		return true;
	hub__audit(h, IPC_EV_ACCESS_DENIED, actor, req->client_ip, reason, req->path);
	hub__respond_error(h, req, 403, reason ? reason : "Cross-site request refused");
	return false;
}

/* Cookie-authenticated browser requests: only from the server's own pages. */
static bool user_fetch_ok(struct hub *h, struct http_req *req, const char *server, const char *actor)
{
	const char *reason = NULL;
	struct hub_fetch_input in;

	fetch_input(req, &in);
	if (hub__user_fetch_check(&in, server, &reason) == 0)
		return true;
	hub__audit(h, IPC_EV_ACCESS_DENIED, actor, req->client_ip, reason, req->path);
	http_respond_error_json(req, 403, reason ? reason : "Request refused");
	return false;
}

static enum http_route route_user(struct hub *h, struct http_req *req, struct proxy_target *t)
{
	char name[NBW_USERNAME_MAX + 1], loc[HUB_NEXT_MAX + 64];
	struct store_user actor;
	struct hub_server *s;
	bool bare, by_cookie;
	const char *accept = http_req_header(req, "Accept");

	if (hub__user_path_parse(req->path, name, sizeof(name), &bare) < 0) {
		hub__respond_error(h, req, 404, "Not found");
		return HTTP_ROUTE_DONE;
	}
	if (!hub__path_safe(req->path)) {
		hub__respond_error(h, req, 400, "Invalid path");
		return HTTP_ROUTE_DONE;
	}
	if (bare) {
		if (nbw_snprintf(loc, sizeof(loc), "/user/%s/%s%s", name, req->query[0] ? "?" : "", req->query) < 0)
			nbw_snprintf(loc, sizeof(loc), "/user/%s/", name);
		http_redirect(req, loc);
		return HTTP_ROUTE_DONE;
	}
	if (!user_authenticate(h, req, name, &actor, &by_cookie)) {
		bool browser = hub__anon_is_browser(req->method, accept, http_req_header(req, "Authorization") != NULL,
						    req->upgrade);
		if (browser && hub__login_url(req->target, loc, sizeof(loc)) == 0)
			http_redirect(req, loc);
		else
			http_respond_error_json(req, 403, "Authentication required");
		return HTTP_ROUTE_DONE;
	}
	if (!hub__may_access(&actor, name)) {
		hub__audit(h, IPC_EV_ACCESS_DENIED, actor.name, req->client_ip, "not owner or admin", req->path);
		hub__respond_error(h, req, 403, "You are not allowed to access this server");
		return HTTP_ROUTE_DONE;
	}
	if (by_cookie && (!user_fetch_ok(h, req, name, actor.name) || !user_csrf_ok(h, req, actor.name)))
		return HTTP_ROUTE_DONE;
	s = hub__server_find(h, name);
	if (!s || s->state != HUB_SRV_READY || s->stopping || !s->socket_path[0]) {
		if (by_cookie && hub__anon_is_browser(req->method, accept, false, req->upgrade)) {
			nbw_snprintf(loc, sizeof(loc), "/hub/spawn-pending/%s", name);
			http_redirect(req, loc);
		} else {
			char msg[96];
			nbw_snprintf(msg, sizeof(msg), "%s's server is not running", name);
			http_respond_error_json(req, 503, msg);
		}
		return HTTP_ROUTE_DONE;
	}
	memset(t, 0, sizeof(*t));
	nbw_strlcpy(t->user, name, sizeof(t->user));
	nbw_strlcpy(t->socket_path, s->socket_path, sizeof(t->socket_path));
	nbw_strlcpy(t->token, s->token, sizeof(t->token));
	nbw_strlcpy(t->actor, actor.name, sizeof(t->actor));
	return HTTP_ROUTE_PROXY;
}

/* ---- /hub/... ---- */

static void dispatch_hub(struct hub *h, struct http_req *req)
{
	const char *type, *body;
	size_t len;

	if (hub__is_api(req)) {
		hub__api_dispatch(h, req);
		return;
	}
	if (str_has_prefix(req->path, "/hub/static/")) {
		if (strcmp(req->method, "GET") != 0) {
			hub__respond_error(h, req, 405, "Method not allowed");
			return;
		}
		if (!hub__asset_get(req->path, &type, &body, &len)) {
			hub__respond_error(h, req, 404, "Not found");
			return;
		}
		http_add_header(req, "Cache-Control", "public, max-age=3600");
		http_respond(req, 200, type, body, len);
		return;
	}
	hub__pages_dispatch(h, req);
}

static enum http_route on_route(struct http_req *req, struct proxy_target *t, void *ud)
{
	struct hub *h = ud;
	char probe[8];
	int r;

	req->app = NULL;
	/* Hub responses never share a browsing context group with a page served
	 * by a user server (same origin): window.open() from there gets no handle. */
	if (!str_has_prefix(req->path, "/user/"))
		http_add_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	if (h->shutting_down) {
		hub__respond_error(h, req, 503, "The hub is shutting down");
		return HTTP_ROUTE_DONE;
	}
	/* Tokens in URLs end up in logs and Referer headers: refused everywhere. */
	r = http_req_query(req, "token", probe, sizeof(probe));
	if (r != -ENOENT) {
		explicit_bzero(probe, sizeof(probe));
		hub__respond_error(h, req, 403, "Tokens in URLs are not accepted: use an Authorization header");
		return HTTP_ROUTE_DONE;
	}
	if (strcmp(req->path, "/") == 0 || strcmp(req->path, "/hub") == 0 || strcmp(req->path, "/hub/") == 0) {
		http_redirect(req, "/hub/home");
		return HTTP_ROUTE_DONE;
	}
	if (str_has_prefix(req->path, "/user/"))
		return route_user(h, req, t);
	if (strcmp(req->path, "/user") == 0 || !str_has_prefix(req->path, "/hub/")) {
		hub__respond_error(h, req, 404, "Not found");
		return HTTP_ROUTE_DONE;
	}
	if (strcmp(req->method, "GET") == 0) {
		dispatch_hub(h, req);
		return HTTP_ROUTE_DONE;
	}
	if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0 ||
	    strcmp(req->method, "DELETE") == 0)
		return HTTP_ROUTE_BUFFER;
	hub__respond_error(h, req, 405, "Method not allowed");
	return HTTP_ROUTE_DONE;
}

static void on_handle(struct http_req *req, void *ud)
{
	struct hub *h = ud;

	if (h->shutting_down) {
		hub__respond_error(h, req, 503, "The hub is shutting down");
		return;
	}
	dispatch_hub(h, req);
}

static void on_abort(struct http_req *req, void *ud)
{
	const struct hub_ctx *c = req->app;

	if (c && c->kind == HUB_CTX_LOGIN)
		hub__login_abort(ud, req);
	else
		hub__ctx_abort(ud, req);
}

static void on_activity(const char *server_user, void *ud)
{
	hub__server_touch(ud, server_user);
}

static void on_execute(const struct proxy_target *t, const char *client_ip, const struct exectap_exec *exec, void *ud)
{
	struct hub *h = ud;
	struct ipc_audit a;
	size_t max = h->cfg->audit.code_max_bytes, n = 0;

	if (max > IPC_AUDIT_CODE_MAX)
		max = IPC_AUDIT_CODE_MAX;
	memset(&a, 0, sizeof(a));
	a.event = IPC_EV_KERNEL_EXECUTE;
	if (nbw_username_valid(t->actor))
		nbw_strlcpy(a.user, t->actor, sizeof(a.user));
	hub__sanitize_ip(a.ip, sizeof(a.ip), client_ip);
	nbw_strlcpy(a.server, t->user, sizeof(a.server));
	if (exec->kernel_id && strlen(exec->kernel_id) < sizeof(a.kernel_id) &&
	    strspn(exec->kernel_id, "0123456789abcdefABCDEF-") == strlen(exec->kernel_id))
		nbw_strlcpy(a.kernel_id, exec->kernel_id, sizeof(a.kernel_id));
	hub__sanitize_text(a.msg_id, sizeof(a.msg_id), exec->msg_id);
	hub__sanitize_msg_type(a.msg_type, sizeof(a.msg_type), exec->msg_type);
	if (exec->code && strlen(exec->sha256_hex) == 64) {
		nbw_strlcpy(a.code_sha256, exec->sha256_hex, sizeof(a.code_sha256));
		a.code_len = exec->code_len;
		n = hub__utf8_trunc(exec->code, exec->code_len, max);
		a.code_truncated = n < exec->code_len;
	} else {
		/* The monitor requires a hash for kernel.execute; an execution whose
		 * code could not be decoded is still recorded, with an all-zero
		 * sentinel hash and the reason. */
		memset(a.code_sha256, '0', 64);
		a.code_sha256[64] = '\0';
		hub__sanitize_text(a.reason, sizeof(a.reason),
				   exec->oversized ? "message exceeded the decoder limit: code not recorded"
						   : "code not decodable");
	}
	a.code_bytes = (uint32_t)n;
	(void)hub__mon_send(h, IPC_AUDIT, &a, sizeof(a), n ? exec->code : NULL, n);
}

static void on_upstream_error(const struct proxy_target *t, int err, void *ud)
{
	log_debug("Upstream error for the server of '%s': %s", t->user, strerror(err < 0 ? -err : err));
}

static const struct http_ops hub_http_ops = {
    .route = on_route,
    .handle = on_handle,
    .on_abort = on_abort,
    .on_activity = on_activity,
    .on_execute = on_execute,
    .on_upstream_error = on_upstream_error,
};

/* ---- lifecycle ---- */

void hub__start_serving(struct hub *h)
{
	struct http_limits lim = {
	    .max_header = h->cfg->hub.max_header,
	    .max_body = h->cfg->hub.max_body,
	    .max_connections = h->cfg->hub.max_connections,
	    .header_timeout_ms = 30000,
	    .keepalive_timeout_ms = 60000,
	    .secure = h->cfg->hub.cookie_secure,
	};
	int r;

	if (h->http || h->shutting_down)
		return;
	r = http_server_new(h->loop, h->listen_fd, &lim, &hub_http_ops, h, &h->http);
	if (r < 0) {
		log_error_errno(r, "Failed to serve on the listening socket: %m");
		hub__shutdown(h, 1);
		return;
	}
	log_info("Hub serving on %s", h->cfg->hub.bind_url);
}

static void on_handle_closed(uv_handle_t *handle NBW_UNUSED) {}

/* The teardown runs from its own loop iteration, never inside an http or
 * monitor callback that might still use what it frees. */
static void on_teardown(uv_timer_t *t)
{
	struct hub *h = t->data;

	hub__ctx_close_all(h);
	if (h->http) {
		http_server_free(h->http);
		h->http = NULL;
	}
	hub__mon_stop(h);
	uv_close((uv_handle_t *)&h->tick, on_handle_closed);
	uv_signal_stop(&h->sigterm);
	uv_close((uv_handle_t *)&h->sigterm, on_handle_closed);
	uv_signal_stop(&h->sigint);
	uv_close((uv_handle_t *)&h->sigint, on_handle_closed);
}

void hub__shutdown(struct hub *h, int exit_code)
{
	if (h->shutting_down)
		return;
	h->shutting_down = true;
	h->exit_code = exit_code;
	uv_timer_stop(&h->tick);
	uv_timer_start(&h->tick, on_teardown, 0, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct hub *h = s->data;
	log_info("Received %s, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	hub__shutdown(h, 0);
}

static void on_tick(uv_timer_t *t)
{
	struct hub *h = t->data;
	uint64_t now = nbw_time_mono_ms();

	if (!h->list_done && !h->http && now - h->started_ms >= HUB_START_FALLBACK_MS) {
		log_warn("The monitor has not listed its servers yet; serving anyway");
		hub__start_serving(h);
	}
	hub__ctx_tick(h, now);
	if (now - h->last_purge_ms >= HUB_PURGE_INTERVAL_MS) {
		h->last_purge_ms = now;
		if (store_purge_expired(h->store, nbw_time_now()) < 0)
			log_debug("Purging expired sessions and tokens failed");
	}
}

int hub_run(const struct config *cfg, struct store *store, int ipc_fd, int listen_fd)
{
	struct hub h;
	uv_loop_t loop;
	int r;

	memset(&h, 0, sizeof(h));
	r = uv_loop_init(&loop);
	if (r < 0)
		return log_error_errno(r, "Failed to create the event loop: %s", uv_strerror(r)), 1;
	h.loop = &loop;
	h.cfg = cfg;
	h.store = store;
	h.ipc_fd = ipc_fd;
	h.listen_fd = listen_fd;
	h.started_ms = h.last_keepalive_ms = h.last_purge_ms = nbw_time_mono_ms();

	uv_timer_init(&loop, &h.tick);
	h.tick.data = &h;
	uv_timer_start(&h.tick, on_tick, 1000, 1000);
	uv_signal_init(&loop, &h.sigterm);
	h.sigterm.data = &h;
	uv_signal_start(&h.sigterm, on_signal, SIGTERM);
	uv_signal_init(&loop, &h.sigint);
	h.sigint.data = &h;
	uv_signal_start(&h.sigint, on_signal, SIGINT);

	r = hub__login_init(&h);
	if (r < 0) {
		log_error_errno(r, "Failed to set up logins: %m");
		hub__shutdown(&h, 1);
	} else {
		r = hub__mon_start(&h);
		if (r < 0)
			hub__shutdown(&h, 1);
	}

	uv_run(&loop, UV_RUN_DEFAULT);
	hub__login_done_all(&h);
	r = uv_loop_close(&loop);
	if (r < 0)
		log_debug("Event loop closed with handles left: %s", uv_strerror(r));
	return h.exit_code;
}
