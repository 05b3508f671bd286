/* login: password verifications off the event loop. argon2id costs ~100 ms of
 * CPU and 64 MiB; run on the loop, a flood of logins would stall every
 * request and WebSocket of the hub. The account is read on the loop thread
 * (the store is not shared with threads), verified on libuv's threadpool
 * (HUB_LOGIN_RUNNING_MAX at once, HUB_LOGIN_PENDING_MAX waiting, beyond that
 * 429), and the login continues on the loop thread. The hub never forks, so
 * threads are fine here. */
#include <stddef.h>

#include "http/http.h"
#include "hub/internal.h"

#define login_of(ptr, member) ((struct hub_login *)(void *)((char *)(ptr)-offsetof(struct hub_login, member)))

/* Failed logins: per user name, and per client address (looser: offices
 * share addresses). Blocks start at 30 s and double up to 15 min. */
#define THROTTLE_NAME_LIMIT 5
#define THROTTLE_IP_LIMIT 20
#define THROTTLE_WINDOW_MS (60 * 1000)
#define THROTTLE_BLOCK_MS (30 * 1000)
#define THROTTLE_BLOCK_MAX_MS (15 * 60 * 1000)

int hub__login_init(struct hub *h)
{
	int r = nbw_random_bytes(h->login_xsrf_key, sizeof(h->login_xsrf_key));

	if (r < 0)
		return r;
	h->throttle_ip = calloc(1, sizeof(*h->throttle_ip));
	h->throttle_name = calloc(1, sizeof(*h->throttle_name));
	if (!h->throttle_ip || !h->throttle_name)
		return -ENOMEM;
	hub__throttle_init(h->throttle_ip, THROTTLE_IP_LIMIT, THROTTLE_WINDOW_MS, THROTTLE_BLOCK_MS,
			   THROTTLE_BLOCK_MAX_MS);
	hub__throttle_init(h->throttle_name, THROTTLE_NAME_LIMIT, THROTTLE_WINDOW_MS, THROTTLE_BLOCK_MS,
			   THROTTLE_BLOCK_MAX_MS);
	return 0;
}

void hub__login_done_all(struct hub *h)
{
	while (h->login_head) {
		struct hub_login *l = h->login_head;
		h->login_head = l->next;
		hub__login_free(l);
	}
	h->login_tail = NULL;
	h->login_pending = 0;
	free(h->throttle_ip);
	free(h->throttle_name);
	h->throttle_ip = h->throttle_name = NULL;
	explicit_bzero(h->login_xsrf_key, sizeof(h->login_xsrf_key));
}

void hub__login_free(struct hub_login *l)
{
	if (!l)
		return;
	auth_login_job_wipe(&l->job);
	free(l);
}

void hub__login_audit_throttled(struct hub *h, const char *user, const char *ip)
{
	uint64_t sec = nbw_time_mono_ms() / 1000;
	char reason[96];

	/* A flood must not flood the monitor channel too (it drops messages
	 * when congested, and other records matter more). */
	if (sec != h->login_audit_sec) {
		h->login_audit_sec = sec;
		h->login_audit_n = 0;
	}
	if (h->login_audit_n >= HUB_THROTTLE_AUDIT_PER_SEC) {
		h->login_audit_dropped++;
		return;
	}
	h->login_audit_n++;
	if (h->login_audit_dropped)
		nbw_snprintf(reason, sizeof(reason), "throttled (and %u more throttled attempts not recorded)",
			     h->login_audit_dropped);
	else
		nbw_strlcpy(reason, "throttled", sizeof(reason));
	h->login_audit_dropped = 0;
	hub__audit(h, IPC_EV_LOGIN_FAILURE, user, ip, reason, NULL);
}

static void work_cb(uv_work_t *w)
{
	struct hub_login *l = login_of(w, work);

	auth_login_verify(&l->job); /* hashing only: no store, no loop */
}

static void after_work_cb(uv_work_t *w, int status);

static int run(struct hub *h, struct hub_login *l)
{
	int r;

	l->work.data = h;
	r = uv_queue_work(h->loop, &l->work, work_cb, after_work_cb);
	if (r < 0)
		return r;
	l->running = true;
	h->login_running++;
	return 0;
}

/* Start waiting logins while there is room. */
static void pump(struct hub *h)
{
	while (h->login_head && h->login_running < HUB_LOGIN_RUNNING_MAX && !h->shutting_down) {
		struct hub_login *l = h->login_head;
		struct http_req *req;

		h->login_head = l->next;
		if (!h->login_head)
			h->login_tail = NULL;
		h->login_pending--;
		l->next = NULL;
		if (run(h, l) == 0)
			continue;
		req = l->ctx.req;
		hub__login_free(l);
		if (req) {
			req->app = NULL;
			hub__page_error(h, req, 503, "Cannot check sign-ins right now.");
		}
	}
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct hub_login *l = login_of(w, work);
	struct hub *h = w->data;
	struct http_req *req = l->ctx.req;
	struct store_user u;
	uint64_t now = nbw_time_mono_ms();
	int r;

	h->login_running--;
	l->running = false;
	if (!req || h->shutting_down || status < 0) {
		if (req) {
			req->app = NULL;
			hub__page_error(h, req, 503, "The hub is shutting down");
		}
		hub__login_free(l);
		pump(h);
		return;
	}
	req->app = NULL;
	l->ctx.req = NULL;
	memset(&u, 0, sizeof(u));
	r = auth_login_end(h->store, &l->job, &u);
	if (r == -EPERM) {
		(void)hub__throttle_fail(h->throttle_ip, l->ip_key, now);
		if (nbw_username_valid(l->ctx.user))
			(void)hub__throttle_fail(h->throttle_name, l->ctx.user, now);
	} else if (r == 0) {
		hub__throttle_clear(h->throttle_name, l->ctx.user);
	}
	hub__login_finish(h, req, l, r, &u);
	explicit_bzero(&u, sizeof(u));
	hub__login_free(l);
	pump(h);
}

int hub__login_start(struct hub *h, struct http_req *req, struct hub_login *l)
{
	int r;

	l->ctx.kind = HUB_CTX_LOGIN;
	l->ctx.req = req;
	if (h->login_running < HUB_LOGIN_RUNNING_MAX && !h->login_head) {
		r = run(h, l);
		if (r < 0)
			return r;
	} else if (h->login_pending < HUB_LOGIN_PENDING_MAX) {
		if (h->login_tail)
			h->login_tail->next = l;
		else
			h->login_head = l;
		h->login_tail = l;
		h->login_pending++;
	} else {
		return -EBUSY;
	}
	req->app = &l->ctx;
	return 0;
}

void hub__login_abort(struct hub *h, struct http_req *req)
{
	struct hub_login *l = login_of(req->app, ctx);
	struct hub_login **pp;

	req->app = NULL;
	l->ctx.req = NULL;
	if (l->running)
		return; /* after_work_cb frees it */
	for (pp = &h->login_head; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			if (h->login_tail == l) {
				h->login_tail = NULL;
				for (struct hub_login *x = h->login_head; x; x = x->next)
					h->login_tail = x;
			}
			h->login_pending--;
			break;
		}
	}
	hub__login_free(l);
}
