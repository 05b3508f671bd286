/* api: the JupyterHub-compatible REST API under /hub/api, the progress event
 * stream, and the spawn/stop requests shared with the pages.
 *
 * Errors are JSON {"status": N, "message": "..."}. Unauthenticated requests
 * get 403 (as JupyterHub); a user may act on themself, an admin on anyone. */
#include <stdio.h>

#include "config/config.h"
#include "http/http.h"
#include "hub/internal.h"

/* ---- spawn / stop ---- */

int hub__spawn(struct hub *h, const char *user, const char *actor, const char *ip, const char *profile)
{
	struct ipc_spawn m;
	struct hub_server *s;
	int r;

	s = hub__server_find(h, user);
	if (s && s->stopping)
		return -EBUSY;
	memset(&m, 0, sizeof(m));
	nbw_strlcpy(m.user, user, sizeof(m.user));
	nbw_strlcpy(m.actor, actor, sizeof(m.actor));
	hub__sanitize_ip(m.ip, sizeof(m.ip), ip);
	nbw_strlcpy(m.profile, profile ? profile : "", sizeof(m.profile));
	r = hub__mon_send(h, IPC_SPAWN, &m, sizeof(m), NULL, 0);
	if (r < 0)
		return r;
	/* Pending from now on, so that a page or progress stream opened before the
	 * monitor's first answer sees a spawn in progress. */
	if (!s || s->state == HUB_SRV_FAILED) {
		s = hub__server_ensure(h, user);
		if (!s)
			return -ENOMEM;
		s->state = HUB_SRV_PENDING;
		s->percent = 0;
		s->started = nbw_time_now();
		s->last_activity = 0;
		nbw_strlcpy(s->message, "Server requested", sizeof(s->message));
		nbw_strlcpy(s->profile, m.profile, sizeof(s->profile));
	}
	return 0;
}

int hub__stop(struct hub *h, const char *user, const char *actor, const char *ip)
{
	struct ipc_stop m;
	struct hub_server *s = hub__server_find(h, user);
	int r;

	memset(&m, 0, sizeof(m));
	nbw_strlcpy(m.user, user, sizeof(m.user));
	nbw_strlcpy(m.actor, actor, sizeof(m.actor));
	hub__sanitize_ip(m.ip, sizeof(m.ip), ip);
	r = hub__mon_send(h, IPC_STOP, &m, sizeof(m), NULL, 0);
	if (r < 0)
		return r;
	if (s && s->state == HUB_SRV_FAILED)
		hub__server_remove(h, user);
	else if (s)
		s->stopping = true;
	return 0;
}

/* ---- async request contexts: progress watchers and stop waiters ---- */

static struct hub_ctx *ctx_new(struct hub *h, int kind, struct http_req *req, const char *user)
{
	struct hub_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = kind;
	c->req = req;
	nbw_strlcpy(c->user, user, sizeof(c->user));
	c->next = h->ctxs;
	if (h->ctxs)
		h->ctxs->prev = c;
	h->ctxs = c;
	req->app = c;
	return c;
}

static void ctx_free(struct hub *h, struct hub_ctx *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		h->ctxs = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->req)
		c->req->app = NULL;
	free(c);
}

static void watch_send(struct hub *h, struct hub_ctx *c, int kind, uint32_t pct, const char *msg)
{
	_cleanup_free_ char *ev = hub__progress_event(kind, pct, msg, c->user);

	if (!ev || http_stream_write(c->req, ev, strlen(ev)) < 0) {
		log_debug("Progress stream for '%s' failed", c->user);
		if (kind == HUB_PROGRESS_UPDATE) {
			struct http_req *req = c->req;
			ctx_free(h, c);
			http_stream_end(req);
		}
	}
}

static void watch_finish(struct hub *h, struct hub_ctx *c, int kind, const char *msg)
{
	struct http_req *req = c->req;

	watch_send(h, c, kind, 100, msg);
	ctx_free(h, c);
	http_stream_end(req);
}

void hub__notify_progress(struct hub *h, const struct hub_server *srv)
{
	struct hub_ctx *c, *next;

	for (c = h->ctxs; c; c = next) {
		next = c->next;
		if (c->kind == HUB_CTX_WATCH && strcmp(c->user, srv->user) == 0)
			watch_send(h, c, HUB_PROGRESS_UPDATE, srv->percent, srv->message);
	}
}

void hub__notify_final(struct hub *h, const char *user, const struct hub_server *srv, const char *why)
{
	struct hub_ctx *c, *next;
	bool ready = srv && srv->state == HUB_SRV_READY;
	const char *msg = why ? why : srv ? srv->message : "";

	for (c = h->ctxs; c; c = next) {
		next = c->next;
		if (c->kind == HUB_CTX_WATCH && strcmp(c->user, user) == 0)
			watch_finish(h, c, ready ? HUB_PROGRESS_READY : HUB_PROGRESS_FAILED, msg);
	}
}

static void stopwait_finish(struct hub *h, struct hub_ctx *c, int status)
{
	struct http_req *req = c->req;

	ctx_free(h, c);
	http_respond(req, status, NULL, NULL, 0);
}

void hub__notify_stopped(struct hub *h, const char *user)
{
	struct hub_ctx *c, *next;

	for (c = h->ctxs; c; c = next) {
		next = c->next;
		if (c->kind == HUB_CTX_STOPWAIT && strcmp(c->user, user) == 0)
			stopwait_finish(h, c, 204);
	}
}

void hub__ctx_tick(struct hub *h, uint64_t now_ms)
{
	struct hub_ctx *c, *next;
	bool keepalive = now_ms - h->last_keepalive_ms >= HUB_SSE_KEEPALIVE_MS;

	if (keepalive)
		h->last_keepalive_ms = now_ms;
	for (c = h->ctxs; c; c = next) {
		next = c->next;
		if (c->kind == HUB_CTX_STOPWAIT && now_ms >= c->deadline_ms) {
			stopwait_finish(h, c, 202);
		} else if (c->kind == HUB_CTX_WATCH && keepalive) {
			static const char ka[] = ":keepalive\n\n";
			if (http_stream_write(c->req, ka, sizeof(ka) - 1) < 0) {
				struct http_req *req = c->req;
				ctx_free(h, c);
				http_stream_end(req);
			}
		}
	}
}

void hub__ctx_abort(struct hub *h, struct http_req *req)
{
	struct hub_ctx *c = req->app;

	if (!c)
		return;
	c->req = NULL; /* the request is gone: never touch it again */
	ctx_free(h, c);
}

void hub__ctx_close_all(struct hub *h)
{
	while (h->ctxs) {
		struct hub_ctx *c = h->ctxs;
		struct http_req *req = c->req;
		int kind = c->kind;
		ctx_free(h, c);
		if (kind == HUB_CTX_WATCH)
			http_stream_end(req);
		else
			http_respond(req, 202, NULL, NULL, 0);
	}
}

/* ---- handlers ---- */

static void respond_model(struct hub *h, struct http_req *req, const struct store_user *u)
{
	json_t *m = hub__user_model(u, hub__server_find(h, u->name));

	if (!m) {
		http_respond_error_json(req, 500, "Out of memory");
		return;
	}
	http_respond_json(req, 200, m);
}

/* Self or admin; loads the target user. Responds and returns false otherwise. */
static bool authorize_target(struct hub *h, struct http_req *req, const struct hub_caller *c, const char *name,
			     struct store_user *ret)
{
	int r;

	if (!hub__may_access(&c->user, name)) {
		hub__audit(h, IPC_EV_ACCESS_DENIED, c->user.name, req->client_ip, "not owner or admin", req->path);
		http_respond_error_json(req, 403, "Action is not authorized with current scopes");
		return false;
	}
	r = store_user_get(h->store, name, ret, NULL, 0);
	if (r == -ENOENT) {
		http_respond_error_json(req, 404, "No such user");
		return false;
	}
	if (r < 0) {
		log_error_errno(r, "Failed to load user '%s': %m", name);
		http_respond_error_json(req, 500, "Internal error");
		return false;
	}
	return true;
}

static void api_server_post(struct hub *h, struct http_req *req, const struct hub_caller *c, const char *name)
{
	struct hub_server *s = hub__server_find(h, name);
	char profile[CONFIG_SLUG_MAX + 1], err[700];
	json_t *opts = NULL;
	int r;

	if (req->body_len > 0) {
		json_error_t jerr;
		opts = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!opts || !json_is_object(opts)) {
			json_decref(opts);
			http_respond_error_json(req, 400, "Invalid JSON body: expected an object of user options");
			return;
		}
	}
	r = hub__spawn_options(h->cfg, opts, profile, sizeof(profile), err, sizeof(err));
	json_decref(opts);
	if (r < 0) {
		http_respond_error_json(req, 400, err);
		return;
	}
	if (s && s->stopping) {
		char msg[96];
		nbw_snprintf(msg, sizeof(msg), "%s is pending stop", name);
		http_respond_error_json(req, 400, msg);
		return;
	}
	if (s && s->state == HUB_SRV_READY) {
		http_respond(req, 201, NULL, NULL, 0);
		return;
	}
	if (s && s->state == HUB_SRV_PENDING) {
		http_respond(req, 202, NULL, NULL, 0);
		return;
	}
	r = hub__spawn(h, name, c->user.name, req->client_ip, profile);
	if (r < 0) {
		http_respond_error_json(req, 503, "Cannot reach the server manager");
		return;
	}
	http_respond(req, 202, NULL, NULL, 0);
}

static void api_server_delete(struct hub *h, struct http_req *req, const struct hub_caller *c, const char *name)
{
	struct hub_server *s = hub__server_find(h, name);
	struct hub_ctx *w;
	bool running = s && s->state != HUB_SRV_FAILED;
	int r;

	if (!running) {
		if (s)
			hub__server_remove(h, name); /* forget the failure */
		http_respond(req, 204, NULL, NULL, 0);
		return;
	}
	if (!s->stopping) {
		r = hub__stop(h, name, c->user.name, req->client_ip);
		if (r < 0) {
			http_respond_error_json(req, 503, "Cannot reach the server manager");
			return;
		}
	}
	/* as JupyterHub: wait a little for the stop to finish (204), else 202 */
	w = ctx_new(h, HUB_CTX_STOPWAIT, req, name);
	if (!w) {
		http_respond(req, 202, NULL, NULL, 0);
		return;
	}
	w->deadline_ms = nbw_time_mono_ms() + HUB_STOP_WAIT_MS;
}

static void api_progress(struct hub *h, struct http_req *req, const char *name)
{
	struct hub_server *s = hub__server_find(h, name);
	struct hub_ctx *w;
	char msg[96];

	if (!s || (s->stopping && s->state != HUB_SRV_FAILED)) {
		nbw_snprintf(msg, sizeof(msg), "%s is not starting", name);
		http_respond_error_json(req, 400, msg);
		return;
	}
	http_add_header(req, "Cache-Control", "no-cache");
	http_add_header(req, "X-Accel-Buffering", "no");
	if (http_stream_start(req, 200, "text/event-stream") < 0)
		return;
	w = ctx_new(h, HUB_CTX_WATCH, req, name);
	if (!w) {
		http_stream_end(req);
		return;
	}
	if (s->state == HUB_SRV_READY)
		watch_finish(h, w, HUB_PROGRESS_READY, NULL);
	else if (s->state == HUB_SRV_FAILED)
		watch_finish(h, w, HUB_PROGRESS_FAILED, s->message);
	else
		watch_send(h, w, HUB_PROGRESS_UPDATE, s->percent, s->message);
}

void hub__api_dispatch(struct hub *h, struct http_req *req)
{
	char name[NBW_USERNAME_MAX + 1] = "";
	enum hub_api_route route = hub__api_match(req->path, name, sizeof(name));
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe))) = {0};
	struct store_user target;
	const char *m = req->method;

	if (route == HUB_API_NONE) {
		http_respond_error_json(req, 404, "Not found");
		return;
	}
	if (route == HUB_API_ROOT) {
		if (strcmp(m, "GET") != 0) {
			http_respond_error_json(req, 405, "Method not allowed");
			return;
		}
		http_respond_json(req, 200, json_pack("{s:s}", "version", NBW_VERSION));
		return;
	}

	hub__caller_get(h, req, &c);
	if (c.via == HUB_VIA_NONE) {
		http_respond_error_json(req, 403,
					c.bad_token ? "Invalid or expired token" : "Missing or invalid credentials");
		return;
	}
	if (!hub__xsrf_gate(h, req, &c, false))
		return;

	switch (route) {
	case HUB_API_SELF:
		if (strcmp(m, "GET") != 0)
			break;
		respond_model(h, req, &c.user);
		return;
	case HUB_API_USER:
		if (strcmp(m, "GET") != 0)
			break;
		if (authorize_target(h, req, &c, name, &target))
			respond_model(h, req, &target);
		return;
	case HUB_API_SERVER:
		if (strcmp(m, "POST") != 0 && strcmp(m, "DELETE") != 0)
			break;
		if (!authorize_target(h, req, &c, name, &target))
			return;
		if (strcmp(m, "POST") == 0)
			api_server_post(h, req, &c, name);
		else
			api_server_delete(h, req, &c, name);
		return;
	case HUB_API_PROGRESS:
		if (strcmp(m, "GET") != 0)
			break;
		if (authorize_target(h, req, &c, name, &target))
			api_progress(h, req, name);
		return;
	default:
		http_respond_error_json(req, 404, "Not found");
		return;
	}
	http_respond_error_json(req, 405, "Method not allowed");
}
