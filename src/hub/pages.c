/* pages: the hub's server-rendered HTML — login, logout, home, spawn/stop
 * forms, spawn-pending and errors. No inline script or style (strict CSP);
 * every reflected value goes through http_html_escape. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "auth/auth.h"
#include "config/config.h"
#include "http/http.h"
#include "hub/internal.h"

#define PAGE_MAX (256 * 1024)

struct page {
	char *data;
	size_t len, cap;
	bool fail;
};

static void pg_put(struct page *p, const char *s, size_t n)
{
	if (p->fail)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		char *d;
		while (cap < p->len + n + 1)
			cap *= 2;
		if (cap > PAGE_MAX) {
			p->fail = true;
			return;
		}
		d = realloc(p->data, cap);
		if (!d) {
			p->fail = true;
			return;
		}
		p->data = d;
		p->cap = cap;
	}
	memcpy(p->data + p->len, s, n);
	p->len += n;
	p->data[p->len] = '\0';
}

static void pg_puts(struct page *p, const char *s)
{
	pg_put(p, s, strlen(s));
}

static void pg_esc(struct page *p, const char *s)
{
	size_t size = strlen(s) * 6 + 1;
	_cleanup_free_ char *out = malloc(size);

	if (!out || http_html_escape(s, out, size) < 0) {
		p->fail = true;
		return;
	}
	pg_puts(p, out);
}

static void pg_printf(struct page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pg_printf(struct page *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		p->fail = true;
		return;
	}
	pg_put(p, buf, (size_t)n);
}

static void pg_xsrf(struct page *p, const char *xsrf)
{
	pg_puts(p, "<input type=\"hidden\" name=\"_xsrf\" value=\"");
	pg_esc(p, xsrf);
	pg_puts(p, "\">");
}

static void page_begin(struct page *p, const char *title, const struct hub_caller *c)
{
	pg_puts(p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	pg_esc(p, title);
	pg_puts(p, " - nbwarden</title>\n<link rel=\"stylesheet\" href=\"/hub/static/style.css\">\n</head>\n<body>\n"
		   "<header class=\"topbar\"><a class=\"brand\" href=\"/hub/home\">nbwarden</a>");
	if (c && c->via == HUB_VIA_COOKIE) {
		pg_puts(p, "<span class=\"who\">Signed in as <strong>");
		pg_esc(p, c->user.name);
		pg_puts(p, "</strong></span><form class=\"inline\" method=\"post\" action=\"/hub/logout\">");
		pg_xsrf(p, c->sess.xsrf);
		pg_puts(p, "<button type=\"submit\" class=\"link\">Sign out</button></form>");
	}
	pg_puts(p, "</header>\n<main>\n");
}

static void page_send(struct http_req *req, struct page *p, int status)
{
	pg_puts(p, "</main>\n</body>\n</html>\n");
	if (p->fail) {
		free(p->data);
		http_respond(req, 500, "text/plain; charset=utf-8", "Internal error\n", 15);
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_respond(req, status, "text/html; charset=utf-8", p->data, p->len);
	free(p->data);
}

void hub__page_error(struct hub *h NBW_UNUSED, struct http_req *req, int status, const char *message)
{
	struct page p = {0};
	char title[64];

	nbw_snprintf(title, sizeof(title), "%d %s", status, http_status_text(status));
	page_begin(&p, title, NULL);
	pg_puts(&p, "<section class=\"card\"><h1>");
	pg_esc(&p, title);
	pg_puts(&p, "</h1><p>");
	pg_esc(&p, message ? message : "");
	pg_puts(&p, "</p><p><a href=\"/hub/home\">Back to the hub</a></p></section>\n");
	page_send(req, &p, status);
}

/* Redirect to /hub/login?next=<this page>. */
static void redirect_login(struct http_req *req)
{
	char loc[HUB_NEXT_MAX + 64];

	if (hub__login_url(req->target, loc, sizeof(loc)) < 0)
		nbw_strlcpy(loc, "/hub/login", sizeof(loc));
	http_redirect(req, loc);
}

/* ---- login ---- */

static void render_login(struct hub *h, struct http_req *req, const char *next, const char *error, int status)
{
	struct page p = {0};
	char xsrf[AUTH_LOGIN_XSRF_SIZE];
	int64_t now = nbw_time_now();

	/* double-submit token for the login form (there is no session yet),
	 * minted by us; a young one is kept so that several tabs work */
	if (http_req_cookie(req, HUB_XSRF_COOKIE, xsrf, sizeof(xsrf)) < 0 ||
	    !auth_login_xsrf_valid(h->login_xsrf_key, xsrf, now, HUB_LOGIN_XSRF_REUSE_AGE)) {
		if (auth_login_xsrf_new(h->login_xsrf_key, now, xsrf) < 0) {
			hub__page_error(h, req, 500, "Internal error");
			return;
		}
	}
	if (hub__set_cookie(h, req, HUB_XSRF_COOKIE, xsrf, "/hub/", -1) < 0) {
		hub__page_error(h, req, 500, "Internal error");
		return;
	}
	page_begin(&p, "Sign in", NULL);
	pg_puts(&p, "<section class=\"card narrow\"><h1>Sign in</h1>\n");
	if (error) {
		pg_puts(&p, "<p class=\"error\" role=\"alert\">");
		pg_esc(&p, error);
		pg_puts(&p, "</p>\n");
	}
	pg_puts(&p, "<form method=\"post\" action=\"/hub/login\">\n");
	pg_xsrf(&p, xsrf);
	if (next && next[0]) {
		pg_puts(&p, "<input type=\"hidden\" name=\"next\" value=\"");
		pg_esc(&p, next);
		pg_puts(&p, "\">");
	}
	pg_puts(&p, "\n<label for=\"username\">Username</label>"
		    "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" "
		    "autocapitalize=\"none\" autofocus required maxlength=\"32\">\n"
		    "<label for=\"password\">Password</label>"
		    "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" "
		    "required>\n<button type=\"submit\" class=\"primary\">Sign in</button>\n</form></section>\n");
	page_send(req, &p, status);
	explicit_bzero(xsrf, sizeof(xsrf));
}

/* An admin about to open another user's server: a GET (a link, a redirect, a
 * page of some other server) never hands out that server's cookie; only this
 * page's form does (POST with the session's XSRF token). */
static void render_open_confirm(struct http_req *req, const struct hub_caller *c, const char *server, const char *next)
{
	struct page p = {0};

	page_begin(&p, "Open server", c);
	pg_puts(&p, "<section class=\"card narrow\"><h1>Open the server of ");
	pg_esc(&p, server);
	pg_puts(&p, "?</h1><p>You are signed in as <strong>");
	pg_esc(&p, c->user.name);
	pg_puts(&p, "</strong>. Opening this server lets its pages act with your administrator session on "
		    "that server.</p><form method=\"post\" action=\"/hub/open-server\">");
	pg_xsrf(&p, c->sess.xsrf);
	pg_puts(&p, "<input type=\"hidden\" name=\"next\" value=\"");
	pg_esc(&p, next);
	pg_puts(&p, "\"><div class=\"actions\"><button type=\"submit\" class=\"primary\" id=\"open-as-admin\">Open ");
	pg_esc(&p, server);
	pg_puts(&p, "'s server as administrator</button><a class=\"button\" href=\"/hub/home\">Cancel</a></div>"
		    "</form></section>\n");
	page_send(req, &p, 200);
}

/* Redirect after a login (or a visit to /hub/login while signed in): to a
 * valid `next`, issuing the path-scoped server cookie when next opens the
 * user's own server; another user's server (admins) needs a confirmation. */
static void finish_login(struct hub *h, struct http_req *req, const struct hub_caller *c, const char *next,
			 bool confirmed)
{
	char srv[NBW_USERNAME_MAX + 1];

	if (!next || !next[0] || !auth_next_ok(next)) {
		http_redirect(req, "/hub/home");
		return;
	}
	if (hub__next_server(next, srv, sizeof(srv))) {
		if (!hub__may_access(&c->user, srv)) {
			char msg[160];
			hub__audit(h, IPC_EV_ACCESS_DENIED, c->user.name, req->client_ip, "not owner or admin", next);
			nbw_snprintf(msg, sizeof(msg), "You are signed in as %s and may not use the server of %s.",
				     c->user.name, srv);
			hub__page_error(h, req, 403, msg);
			return;
		}
		if (!confirmed && strcmp(srv, c->user.name) != 0) {
			render_open_confirm(req, c, srv, next);
			return;
		}
		if (hub__issue_server_cookie(h, req, c->cookie, srv, strcmp(srv, c->user.name) != 0) < 0) {
			hub__page_error(h, req, 500, "Could not open the server session");
			return;
		}
	}
	http_redirect(req, next);
}

/* POST /hub/open-server: the confirmation form above. */
static void open_server_post(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char next[HUB_NEXT_MAX + 1], srv[NBW_USERNAME_MAX + 1];

	if (hub__caller_get(h, req, &c) < 0 || c.via != HUB_VIA_COOKIE) {
		hub__page_error(h, req, 403, "Please sign in first.");
		return;
	}
	if (!hub__xsrf_gate(h, req, &c, true))
		return;
	if (http_req_form(req, "next", next, sizeof(next)) < 0 || !auth_next_ok(next) ||
	    !hub__next_server(next, srv, sizeof(srv))) {
		hub__page_error(h, req, 400, "Nothing to open.");
		return;
	}
	finish_login(h, req, &c, next, true);
}

static void get_next(struct http_req *req, bool form, char *next, size_t size)
{
	if (!(form && http_req_form(req, "next", next, size) >= 0) && http_req_query(req, "next", next, size) < 0)
		next[0] = '\0';
	if (next[0] && !auth_next_ok(next))
		next[0] = '\0';
}

static void login_get(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char next[HUB_NEXT_MAX + 1];

	get_next(req, false, next, sizeof(next));
	if (hub__caller_get(h, req, &c) == 0 && c.via == HUB_VIA_COOKIE) {
		finish_login(h, req, &c, next, false);
		return;
	}
	render_login(h, req, next, NULL, 200);
}

/* 429 with Retry-After (seconds, rounded up). */
static void login_throttled(struct hub *h, struct http_req *req, const char *user, const char *next, uint64_t ms,
			    const char *message)
{
	char ra[24];

	nbw_snprintf(ra, sizeof(ra), "%llu", (unsigned long long)((ms + 999) / 1000));
	http_add_header(req, "Retry-After", ra);
	hub__login_audit_throttled(h, user, req->client_ip);
	render_login(h, req, next, message, 429);
}

static void login_post(struct hub *h, struct http_req *req)
{
	char user[NBW_USERNAME_MAX * 4 + 1] = "", pw[AUTH_PASSWORD_MAX + 1] = "";
	char fx[AUTH_LOGIN_XSRF_SIZE] = "", cx[AUTH_LOGIN_XSRF_SIZE] = "", next[HUB_NEXT_MAX + 1];
	const char *name; /* the typed name when it is a valid one (audit, throttle), else NULL */
	struct hub_login *l;
	uint64_t now_ms = nbw_time_mono_ms(), wait_ip, wait_name = 0;
	int r;

	get_next(req, true, next, sizeof(next));
	if (http_req_form(req, "username", user, sizeof(user)) < 0)
		user[0] = '\0';
	/* as JupyterHub's default normalisation: trim, lower-case */
	{
		size_t b = strspn(user, " \t"), n;
		memmove(user, user + b, strlen(user + b) + 1);
		n = strlen(user);
		while (n > 0 && (user[n - 1] == ' ' || user[n - 1] == '\t'))
			user[--n] = '\0';
		for (char *q = user; *q; q++)
			*q = (char)tolower((unsigned char)*q);
	}
	/* Anything else typed there (a password, by mistake) never reaches a log. */
	name = nbw_username_valid(user) ? user : NULL;
	if (http_req_cookie(req, HUB_XSRF_COOKIE, cx, sizeof(cx)) < 0 ||
	    http_req_form(req, "_xsrf", fx, sizeof(fx)) < 0 ||
	    !auth_login_xsrf_valid(h->login_xsrf_key, cx, nbw_time_now(), HUB_LOGIN_XSRF_MAX_AGE) ||
	    !auth_xsrf_ok(cx, fx)) {
		hub__audit(h, IPC_EV_LOGIN_FAILURE, name, req->client_ip, "XSRF check failed", NULL);
		render_login(h, req, next, "Your sign-in form expired. Please try again.", 403);
		return;
	}
	r = http_req_form(req, "password", pw, sizeof(pw));
	if (r < 0 || !user[0] || !pw[0]) {
		explicit_bzero(pw, sizeof(pw));
		hub__audit(h, IPC_EV_LOGIN_FAILURE, name, req->client_ip,
			   r == -ENAMETOOLONG ? "password too long" : "missing username or password", NULL);
		render_login(h, req, next, "Invalid username or password.", 403);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		explicit_bzero(pw, sizeof(pw));
		hub__page_error(h, req, 500, "Internal error");
		return;
	}
	if (hub__ip_key(req->client_ip, l->ip_key, sizeof(l->ip_key)) < 0)
		nbw_strlcpy(l->ip_key, "?", sizeof(l->ip_key));
	if (name)
		nbw_strlcpy(l->ctx.user, name, sizeof(l->ctx.user));
	nbw_strlcpy(l->next_url, next, sizeof(l->next_url));
	wait_ip = hub__throttle_check(h->throttle_ip, l->ip_key, now_ms);
	if (name)
		wait_name = hub__throttle_check(h->throttle_name, name, now_ms);
	if (wait_ip || wait_name) {
		explicit_bzero(pw, sizeof(pw));
		hub__login_free(l);
		login_throttled(h, req, name, next, wait_ip > wait_name ? wait_ip : wait_name,
				"Too many failed sign-ins. Please wait a while and try again.");
		return;
	}
	r = auth_login_begin(h->store, user, pw, &l->job);
	explicit_bzero(pw, sizeof(pw));
	if (r >= 0)
		r = hub__login_start(h, req, l);
	if (r < 0) {
		hub__login_free(l);
		if (r == -EBUSY) {
			login_throttled(h, req, name, next, 1000, "Too many sign-ins at once. Please try again.");
			return;
		}
		log_error_errno(r, "Login check failed: %m");
		hub__page_error(h, req, 500, "Internal error");
	}
}

void hub__login_finish(struct hub *h, struct http_req *req, struct hub_login *l, int r, const struct store_user *u)
{
	char cookie[AUTH_COOKIE_SIZE], old[AUTH_COOKIE_SIZE];
	const char *name = l->ctx.user[0] ? l->ctx.user : NULL;
	struct store_session sess;

	if (r < 0) {
		hub__audit(h, IPC_EV_LOGIN_FAILURE, name, req->client_ip,
			   r == -EPERM ? "invalid credentials" : "internal error", NULL);
		if (r != -EPERM)
			log_error_errno(r, "Login check failed: %m");
		render_login(h, req, l->next_url, "Invalid username or password.", 403);
		return;
	}
	/* a previous session in this browser ends here (no fixation, no leftovers) */
	if (http_req_cookie(req, HUB_SESSION_COOKIE, old, sizeof(old)) >= 0 && old[0])
		(void)auth_session_revoke(h->store, old);
	explicit_bzero(old, sizeof(old));
	r = auth_session_create(h->store, u->name, h->cfg->hub.cookie_max_age, cookie, &sess);
	if (r < 0) {
		log_error_errno(r, "Failed to create a session for '%s': %m", u->name);
		hub__page_error(h, req, 500, "Could not create a session");
		return;
	}
	if (hub__set_cookie(h, req, HUB_SESSION_COOKIE, cookie, "/hub/", h->cfg->hub.cookie_max_age) < 0) {
		explicit_bzero(cookie, sizeof(cookie));
		hub__page_error(h, req, 500, "Could not create a session");
		return;
	}
	hub__audit(h, IPC_EV_LOGIN_SUCCESS, u->name, req->client_ip, NULL, NULL);
	{
		struct hub_caller c
		    __attribute__((cleanup(hub__caller_wipe))) = {.via = HUB_VIA_COOKIE, .user = *u, .sess = sess};
		nbw_strlcpy(c.cookie, cookie, sizeof(c.cookie));
		finish_login(h, req, &c, l->next_url, false);
	}
	explicit_bzero(cookie, sizeof(cookie));
	explicit_bzero(&sess, sizeof(sess));
}

/* ---- logout: GET asks, POST acts ---- */

static void logout_get(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	struct page p = {0};

	if (hub__caller_get(h, req, &c) < 0 || c.via != HUB_VIA_COOKIE) {
		http_redirect(req, "/hub/login");
		return;
	}
	page_begin(&p, "Sign out", &c);
	pg_puts(&p, "<section class=\"card narrow\"><h1>Sign out</h1><p>Sign out of nbwarden? Your server keeps "
		    "running.</p><form method=\"post\" action=\"/hub/logout\">");
	pg_xsrf(&p, c.sess.xsrf);
	pg_puts(&p, "<button type=\"submit\" class=\"primary\">Sign out</button></form></section>\n");
	page_send(req, &p, 200);
}

static void logout_post(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char path[NBW_USERNAME_MAX + 16];

	if (hub__caller_get(h, req, &c) == 0 && c.via == HUB_VIA_COOKIE) {
		if (!hub__xsrf_gate(h, req, &c, true))
			return;
		if (auth_session_revoke(h->store, c.cookie) < 0)
			log_warn("Failed to revoke the session of '%s'", c.user.name);
		hub__audit(h, IPC_EV_LOGOUT, c.user.name, req->client_ip, NULL, NULL);
		if (nbw_snprintf(path, sizeof(path), "/user/%s/", c.user.name) >= 0)
			hub__set_cookie(h, req, HUB_SERVER_COOKIE, "", path, 0);
	}
	hub__set_cookie(h, req, HUB_SESSION_COOKIE, "", "/hub/", 0);
	http_redirect(req, "/hub/login");
}

/* ---- home ---- */

/* The profiles of singleuser.profileList as radio buttons (the default checked). */
static void profile_choices(struct page *p, const struct config *cfg)
{
	const struct config_profile *def = NULL;

	if (cfg->singleuser.n_profiles == 0)
		return;
	(void)config_profile_resolve(cfg, "", &def);
	pg_puts(p, "<fieldset class=\"profiles\"><legend>Server options</legend>\n");
	for (size_t i = 0; i < cfg->singleuser.n_profiles; i++) {
		const struct config_profile *pr = &cfg->singleuser.profiles[i];

		pg_puts(p, "<label class=\"profile\"><input type=\"radio\" name=\"profile\" value=\"");
		pg_esc(p, pr->slug);
		pg_puts(p, pr == def ? "\" checked> <strong>" : "\"> <strong>");
		pg_esc(p, pr->display_name);
		pg_puts(p, "</strong>");
		if (pr->description[0]) {
			pg_puts(p, " <span class=\"description\">");
			pg_esc(p, pr->description);
			pg_puts(p, "</span>");
		}
		pg_puts(p, "</label><br>\n");
	}
	pg_puts(p, "</fieldset>\n");
}

static void start_form(struct page *p, const struct config *cfg, const struct hub_caller *c, const char *name,
		       const char *label)
{
	pg_puts(p, "<form class=\"inline\" method=\"post\" action=\"/hub/spawn/");
	pg_esc(p, name);
	pg_puts(p, "\">");
	pg_xsrf(p, c->sess.xsrf);
	profile_choices(p, cfg);
	pg_puts(p, "<button type=\"submit\" class=\"primary\">");
	pg_esc(p, label);
	pg_puts(p, "</button></form>");
}

static void stop_form(struct page *p, const struct hub_caller *c, const char *name)
{
	pg_puts(p, "<form class=\"inline\" method=\"post\" action=\"/hub/stop/");
	pg_esc(p, name);
	pg_puts(p, "\">");
	pg_xsrf(p, c->sess.xsrf);
	pg_puts(p, "<button type=\"submit\" class=\"danger\">Stop my server</button></form>");
}

static void home_get(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	struct page p = {0};
	const struct hub_server *s;
	const char *name;

	if (hub__caller_get(h, req, &c) < 0 || c.via != HUB_VIA_COOKIE) {
		redirect_login(req);
		return;
	}
	name = c.user.name;
	s = hub__server_find(h, name);
	page_begin(&p, "Home", &c);
	pg_puts(&p, "<section class=\"card\"><h1>Your server</h1>\n<p class=\"status\" id=\"server-status\">");
	if (!s) {
		pg_puts(&p, "Not running.</p><div class=\"actions\">");
		start_form(&p, h->cfg, &c, name, "Start my server");
	} else if (s->state == HUB_SRV_FAILED) {
		pg_puts(&p, "The last start failed: ");
		pg_esc(&p, s->message);
		pg_puts(&p, "</p><div class=\"actions\">");
		start_form(&p, h->cfg, &c, name, "Start my server");
	} else if (s->stopping) {
		pg_puts(
		    &p,
		    "Stopping&hellip;</p><div class=\"actions\"><a class=\"button\" href=\"/hub/home\">Refresh</a>");
	} else if (s->state == HUB_SRV_PENDING) {
		pg_printf(&p, "Starting (%u%%): ", s->percent);
		pg_esc(&p, s->message);
		pg_puts(&p, "</p><div class=\"actions\"><a class=\"button\" href=\"/hub/spawn-pending/");
		pg_esc(&p, name);
		pg_puts(&p, "\">Show progress</a>");
		stop_form(&p, &c, name);
	} else {
		pg_puts(&p, "Running.</p><div class=\"actions\"><a class=\"button primary\" id=\"open\" href=\"/user/");
		pg_esc(&p, name);
		pg_puts(&p, "/\">Open my server</a>");
		stop_form(&p, &c, name);
	}
	pg_puts(&p, "</div></section>\n");
	page_send(req, &p, 200);
}

/* ---- spawn / stop forms ---- */

/* POST /hub/spawn[/NAME] and /hub/stop[/NAME]: caller, XSRF, target. */
static bool form_target(struct hub *h, struct http_req *req, const char *prefix, struct hub_caller *c, char *name,
			size_t size)
{
	char full[32];

	if (hub__caller_get(h, req, c) < 0) {
		hub__page_error(h, req, 403, "Please sign in first.");
		return false;
	}
	if (!hub__xsrf_gate(h, req, c, true))
		return false;
	nbw_snprintf(full, sizeof(full), "%s/", prefix);
	if (strcmp(req->path, prefix) == 0 || strcmp(req->path, full) == 0) {
		nbw_strlcpy(name, c->user.name, size);
	} else if (hub__path_user_suffix(req->path, full, name, size) < 0) {
		hub__page_error(h, req, 404, "Not found");
		return false;
	}
	if (!hub__may_access(&c->user, name)) {
		hub__audit(h, IPC_EV_ACCESS_DENIED, c->user.name, req->client_ip, "not owner or admin", req->path);
		hub__page_error(h, req, 403, "You may not manage this server.");
		return false;
	}
	return true;
}

static void spawn_post(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char name[NBW_USERNAME_MAX + 1], loc[96], want[128], profile[CONFIG_SLUG_MAX + 1], err[700];
	struct hub_server *s;
	int r;

	if (!form_target(h, req, "/hub/spawn", &c, name, sizeof(name)))
		return;
	r = http_req_form(req, "profile", want, sizeof(want));
	if (r < 0 && r != -ENOENT)
		(void)nbw_strlcpy(want, "?", sizeof(want)); /* too long: an unknown slug */
	if (hub__spawn_profile(h->cfg, r == -ENOENT || !want[0] ? NULL : want, profile, sizeof(profile), err,
			       sizeof(err)) < 0) {
		hub__page_error(h, req, 400, err);
		return;
	}
	s = hub__server_find(h, name);
	if (s && s->state == HUB_SRV_READY && !s->stopping) {
		nbw_snprintf(loc, sizeof(loc), "/user/%s/", name);
		http_redirect(req, loc);
		return;
	}
	if (s && s->stopping) {
		hub__page_error(h, req, 409, "The server is still stopping; try again in a moment.");
		return;
	}
	if (!s || s->state == HUB_SRV_FAILED) {
		if (hub__spawn(h, name, c.user.name, req->client_ip, profile) < 0) {
			hub__page_error(h, req, 503, "Cannot reach the server manager.");
			return;
		}
	}
	nbw_snprintf(loc, sizeof(loc), "/hub/spawn-pending/%s", name);
	http_redirect(req, loc);
}

static void stop_post(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char name[NBW_USERNAME_MAX + 1];

	if (!form_target(h, req, "/hub/stop", &c, name, sizeof(name)))
		return;
	if (hub__server_find(h, name) && hub__stop(h, name, c.user.name, req->client_ip) < 0) {
		hub__page_error(h, req, 503, "Cannot reach the server manager.");
		return;
	}
	http_redirect(req, "/hub/home");
}

/* ---- spawn-pending ---- */

static void spawn_pending_get(struct hub *h, struct http_req *req)
{
	struct hub_caller c __attribute__((cleanup(hub__caller_wipe)));
	char name[NBW_USERNAME_MAX + 1], loc[96];
	struct page p = {0};
	const struct hub_server *s;
	bool self;

	if (hub__path_user_suffix(req->path, "/hub/spawn-pending/", name, sizeof(name)) < 0) {
		hub__page_error(h, req, 404, "Not found");
		return;
	}
	if (hub__caller_get(h, req, &c) < 0 || c.via != HUB_VIA_COOKIE) {
		redirect_login(req);
		return;
	}
	if (!hub__may_access(&c.user, name)) {
		hub__audit(h, IPC_EV_ACCESS_DENIED, c.user.name, req->client_ip, "not owner or admin", req->path);
		hub__page_error(h, req, 403, "You may not use this server.");
		return;
	}
	s = hub__server_find(h, name);
	if (s && s->state == HUB_SRV_READY && !s->stopping) {
		nbw_snprintf(loc, sizeof(loc), "/user/%s/", name);
		http_redirect(req, loc);
		return;
	}
	self = strcmp(name, c.user.name) == 0;
	page_begin(&p, "Starting server", &c);
	pg_puts(&p, "<section class=\"card\">");
	if (s && s->state == HUB_SRV_PENDING && !s->stopping) {
		pg_puts(&p, "<div id=\"progress\" data-progress-url=\"/hub/api/users/");
		pg_esc(&p, name);
		pg_puts(&p, "/server/progress\" data-next-url=\"/user/");
		pg_esc(&p, name);
		pg_puts(&p, "/\"><h1>");
		if (self) {
			pg_puts(&p, "Your server is starting up");
		} else {
			pg_puts(&p, "Server of ");
			pg_esc(&p, name);
			pg_puts(&p, " is starting up");
		}
		pg_printf(&p, "</h1>\n<progress id=\"progress-bar\" max=\"100\" value=\"%u\">%u%%</progress>\n",
			  s->percent, s->percent);
		pg_puts(&p, "<p id=\"progress-message\">");
		pg_esc(&p, s->message);
		pg_puts(&p,
			"</p>\n<ol id=\"progress-log\" class=\"log\"></ol>\n"
			"<div id=\"progress-failed\" class=\"error\" hidden><p>The server could not be started.</p>");
		start_form(&p, h->cfg, &c, name, "Try again");
		pg_puts(&p, "</div>\n<noscript><p>Reload this page to follow the progress.</p></noscript></div>\n"
			    "<script src=\"/hub/static/spawn.js\"></script>\n");
	} else if (s && s->stopping) {
		pg_puts(&p,
			"<h1>Stopping</h1><p>The server is stopping. <a href=\"/hub/home\">Back to the hub</a></p>");
	} else {
		if (s && s->state == HUB_SRV_FAILED) {
			pg_puts(&p, "<h1>Server failed to start</h1><p class=\"error\">");
			pg_esc(&p, s->message);
			pg_puts(&p, "</p>");
		} else {
			pg_puts(&p, "<h1>Server not running</h1><p>");
			if (self) {
				pg_puts(&p, "Your server is not running.");
			} else {
				pg_puts(&p, "The server of ");
				pg_esc(&p, name);
				pg_puts(&p, " is not running.");
			}
			pg_puts(&p, "</p>");
		}
		pg_puts(&p, "<div class=\"actions\">");
		start_form(&p, h->cfg, &c, name, self ? "Start my server" : "Start server");
		pg_puts(&p, "</div>");
	}
	pg_puts(&p, "</section>\n");
	page_send(req, &p, 200);
}

/* A GET never starts, stops or opens anything: back to the home page. */
static void redirect_home(struct hub *h, struct http_req *req)
{
	http_redirect(req, "/hub/home");
}

/* GET or POST to its handler; other methods, or one without a handler, 405. */
static void by_method(struct hub *h, struct http_req *req, void (*get)(struct hub *, struct http_req *),
		      void (*post)(struct hub *, struct http_req *))
{
	if (get && strcmp(req->method, "GET") == 0)
		get(h, req);
	else if (post && strcmp(req->method, "POST") == 0)
		post(h, req);
	else
		hub__page_error(h, req, 405, "Method not allowed");
}

void hub__pages_dispatch(struct hub *h, struct http_req *req)
{
	const char *path = req->path;

	if (strcmp(path, "/hub/login") == 0)
		by_method(h, req, login_get, login_post);
	else if (strcmp(path, "/hub/logout") == 0)
		by_method(h, req, logout_get, logout_post);
	else if (strcmp(path, "/hub/home") == 0)
		by_method(h, req, home_get, NULL);
	else if (strcmp(path, "/hub/spawn") == 0 || str_has_prefix(path, "/hub/spawn/"))
		by_method(h, req, redirect_home, spawn_post);
	else if (strcmp(path, "/hub/stop") == 0 || str_has_prefix(path, "/hub/stop/"))
		by_method(h, req, redirect_home, stop_post);
	else if (strcmp(path, "/hub/open-server") == 0)
		by_method(h, req, redirect_home, open_server_post);
	else if (str_has_prefix(path, "/hub/spawn-pending/"))
		by_method(h, req, spawn_pending_get, NULL);
	else
		hub__page_error(h, req, 404, "Not found");
}
