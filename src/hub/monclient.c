/* monclient: the hub's side of the monitor channel (SOCK_SEQPACKET) and the
 * in-memory table of user servers it feeds.
 *
 * The monitor is the authority on servers: on start we send IPC_HELLO and it
 * lists every running or pending server (IPC_SERVER_INFO* then IPC_LIST_END);
 * afterwards it pushes progress/ready/failed/stopped. EOF or an invalid
 * message from it ends the hub with exit code 1 (the monitor restarts us).
 * Outgoing messages are self-validated with ipc_validate() first (a message
 * the monitor would reject would get us dropped) and queued on EAGAIN. */
#include <fcntl.h>
#include <stdio.h>

#include "config/config.h"
#include "hub/internal.h"
#include "store/store.h"

/* ---- server table ---- */

struct hub_server *hub__server_find(struct hub *h, const char *user)
{
	for (size_t i = 0; i < h->n_servers; i++)
		if (strcmp(h->servers[i]->user, user) == 0)
			return h->servers[i];
	return NULL;
}

static void server_free(struct hub_server *s)
{
	if (!s)
		return;
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
}

static void drop_failed_entry(struct hub *h)
{
	for (size_t i = 0; i < h->n_servers; i++)
		if (h->servers[i]->state == HUB_SRV_FAILED) {
			hub__server_remove(h, h->servers[i]->user);
			return;
		}
}

struct hub_server *hub__server_ensure(struct hub *h, const char *user)
{
	struct hub_server *s = hub__server_find(h, user);
	size_t limit = (size_t)h->cfg->singleuser.max_servers + 1024;

	if (s)
		return s;
	if (!nbw_username_valid(user))
		return NULL;
	if (h->n_servers >= limit)
		drop_failed_entry(h); /* failed entries are only kept for display */
	if (h->n_servers >= limit)
		return NULL;
	if (h->n_servers == h->cap_servers) {
		size_t cap = h->cap_servers ? h->cap_servers * 2 : 16;
		struct hub_server **n = realloc(h->servers, cap * sizeof(*n));
		if (!n)
			return NULL;
		h->servers = n;
		h->cap_servers = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	nbw_strlcpy(s->user, user, sizeof(s->user));
	s->state = HUB_SRV_PENDING;
	h->servers[h->n_servers++] = s;
	return s;
}

void hub__server_remove(struct hub *h, const char *user)
{
	for (size_t i = 0; i < h->n_servers; i++)
		if (strcmp(h->servers[i]->user, user) == 0) {
			server_free(h->servers[i]);
			h->servers[i] = h->servers[--h->n_servers];
			return;
		}
}

void hub__server_touch(struct hub *h, const char *user)
{
	struct hub_server *s = hub__server_find(h, user);
	int64_t now = nbw_time_now();

	if (!s)
		return;
	s->last_activity = now;
	if (now - s->last_touch_stored >= HUB_TOUCH_INTERVAL) {
		s->last_touch_stored = now;
		if (store_user_touch(h->store, user, now) < 0)
			log_debug("Failed to record activity of '%s'", user);
	}
}

static void servers_free(struct hub *h)
{
	for (size_t i = 0; i < h->n_servers; i++)
		server_free(h->servers[i]);
	free(h->servers);
	h->servers = NULL;
	h->n_servers = h->cap_servers = 0;
}

/* ---- sending ---- */

static void poll_update(struct hub *h);

static int assemble(uint32_t type, const void *payload, size_t len, const void *extra, size_t extra_len,
		    struct hub_outmsg **ret)
{
	struct ipc_hdr hdr;
	struct hub_outmsg *m;

	if (len + extra_len > IPC_MAX_MSG - sizeof(hdr))
		return -EMSGSIZE;
	m = malloc(sizeof(*m) + sizeof(hdr) + len + extra_len);
	if (!m)
		return -ENOMEM;
	hdr.type = type;
	hdr.len = (uint32_t)(len + extra_len);
	memcpy(m->data, &hdr, sizeof(hdr));
	if (len)
		memcpy(m->data + sizeof(hdr), payload, len);
	if (extra_len)
		memcpy(m->data + sizeof(hdr) + len, extra, extra_len);
	m->len = sizeof(hdr) + len + extra_len;
	m->next = NULL;
	*ret = m;
	return 0;
}

static int try_send(struct hub *h, const struct hub_outmsg *m)
{
	const struct ipc_hdr *hdr = (const void *)m->data;
	return ipc_send(h->ipc_fd, hdr->type, m->data + sizeof(*hdr), hdr->len, NULL, 0);
}

int hub__mon_send(struct hub *h, uint32_t type, const void *payload, size_t len, const void *extra, size_t extra_len)
{
	struct hub_outmsg *m = NULL;
	int r;

	if (h->ipc_fd < 0)
		return -EPIPE;
	r = assemble(type, payload, len, extra, extra_len, &m);
	if (r < 0)
		return log_error_errno(r, "Failed to build monitor message %u: %m", type);
	if (len + extra_len > 0) {
		r = ipc_validate(type, m->data + sizeof(struct ipc_hdr), len + extra_len);
		if (r < 0) {
			free(m);
			return log_error_errno(r, "Refusing to send invalid monitor message %u: %m", type);
		}
	}
	if (!h->out_head) {
		r = try_send(h, m);
		if (r >= 0) {
			free(m);
			return 0;
		}
		if (r != -EAGAIN && r != -EWOULDBLOCK && r != -ENOBUFS) {
			free(m);
			log_error_errno(r, "Failed to send to the monitor: %m");
			hub__shutdown(h, 1);
			return r;
		}
	}
	if (h->out_n >= HUB_OUTQ_MAX) {
		free(m);
		log_error("Monitor channel congested, dropping message %u", type);
		return -ENOBUFS;
	}
	if (h->out_tail)
		h->out_tail->next = m;
	else
		h->out_head = m;
	h->out_tail = m;
	h->out_n++;
	poll_update(h);
	return 0;
}

static void flush_queue(struct hub *h)
{
	while (h->out_head) {
		struct hub_outmsg *m = h->out_head;
		int r = try_send(h, m);
		if (r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS)
			break;
		if (r < 0) {
			log_error_errno(r, "Failed to send to the monitor: %m");
			hub__shutdown(h, 1);
			return;
		}
		h->out_head = m->next;
		if (!h->out_head)
			h->out_tail = NULL;
		h->out_n--;
		free(m);
	}
	poll_update(h);
}

void hub__audit(struct hub *h, uint32_t event, const char *user, const char *ip, const char *reason, const char *target)
{
	struct ipc_audit a;

	memset(&a, 0, sizeof(a));
	a.event = event;
	if (user && nbw_username_valid(user))
		nbw_strlcpy(a.user, user, sizeof(a.user));
	hub__sanitize_ip(a.ip, sizeof(a.ip), ip);
	hub__sanitize_text(a.reason, sizeof(a.reason), reason);
	hub__sanitize_text(a.target, sizeof(a.target), target);
	(void)hub__mon_send(h, IPC_AUDIT, &a, sizeof(a), NULL, 0);
}

/* ---- receiving ---- */

static void on_progress(struct hub *h, const struct ipc_progress *p)
{
	struct hub_server *s = hub__server_ensure(h, p->user);

	if (!s)
		return;
	if (s->state == HUB_SRV_FAILED)
		s->state = HUB_SRV_PENDING;
	if (s->state != HUB_SRV_PENDING)
		return; /* late progress after ready: ignore */
	s->percent = p->percent > 100 ? 100 : p->percent;
	nbw_strlcpy(s->message, p->message, sizeof(s->message));
	hub__notify_progress(h, s);
}

static void set_from_info(struct hub_server *s, const struct ipc_server *i)
{
	s->state = i->state == IPC_STATE_READY ? HUB_SRV_READY : HUB_SRV_PENDING;
	s->percent = i->state == IPC_STATE_READY ? 100 : (i->percent > 100 ? 100 : i->percent);
	if (i->started > 0)
		s->started = i->started;
	nbw_strlcpy(s->token, i->token, sizeof(s->token));
	nbw_strlcpy(s->socket_path, i->socket_path, sizeof(s->socket_path));
	if (i->profile[0]) /* the monitor's word: what the pod really runs with */
		nbw_strlcpy(s->profile, i->profile, sizeof(s->profile));
}

static void on_ready(struct hub *h, const struct ipc_server *i)
{
	struct hub_server *s = hub__server_ensure(h, i->user);

	if (!s)
		return;
	set_from_info(s, i);
	s->state = HUB_SRV_READY;
	s->percent = 100;
	nbw_strlcpy(s->message, "Server ready", sizeof(s->message));
	if (s->last_activity == 0)
		s->last_activity = nbw_time_now();
	log_info("Server of '%s' is ready", s->user);
	hub__notify_final(h, s->user, s, NULL);
}

static void on_info(struct hub *h, const struct ipc_server *i)
{
	struct hub_server *s = hub__server_ensure(h, i->user);

	if (!s)
		return;
	set_from_info(s, i);
	if (s->state == HUB_SRV_READY) {
		if (s->last_activity == 0)
			s->last_activity = nbw_time_now();
		hub__notify_final(h, s->user, s, NULL);
	}
}

static void on_failed(struct hub *h, const struct ipc_failed *f)
{
	struct hub_server *s = hub__server_ensure(h, f->user);

	if (!s) {
		hub__notify_final(h, f->user, NULL, f->message);
		return;
	}
	s->state = HUB_SRV_FAILED;
	s->stopping = false;
	s->percent = 100;
	explicit_bzero(s->token, sizeof(s->token));
	s->socket_path[0] = '\0';
	nbw_strlcpy(s->message, f->message, sizeof(s->message));
	log_info("Spawn of '%s' failed", s->user);
	hub__notify_final(h, s->user, s, NULL);
	hub__notify_stopped(h, s->user); /* a failed server is not running: a pending DELETE is done */
}

static void on_stopped(struct hub *h, const struct ipc_stopped *st)
{
	struct hub_server *s = hub__server_find(h, st->user);

	if (s && s->state == HUB_SRV_PENDING) {
		char why[300];
		nbw_snprintf(why, sizeof(why), "stopped (%s)", st->reason[0] ? st->reason : "no reason given");
		hub__notify_final(h, st->user, NULL, why);
	}
	if (s && s->state != HUB_SRV_FAILED)
		hub__server_remove(h, st->user);
	log_info("Server of '%s' stopped", st->user);
	hub__notify_stopped(h, st->user);
}

static int handle_msg(struct hub *h, uint32_t type, const void *payload, size_t len)
{
	switch (type) {
	case IPC_PROGRESS:
		if (len != sizeof(struct ipc_progress))
			return -EBADMSG;
		on_progress(h, payload);
		return 0;
	case IPC_READY:
		if (len != sizeof(struct ipc_server))
			return -EBADMSG;
		on_ready(h, payload);
		return 0;
	case IPC_SERVER_INFO:
		if (len != sizeof(struct ipc_server))
			return -EBADMSG;
		on_info(h, payload);
		return 0;
	case IPC_FAILED:
		if (len != sizeof(struct ipc_failed))
			return -EBADMSG;
		on_failed(h, payload);
		return 0;
	case IPC_STOPPED:
		if (len != sizeof(struct ipc_stopped))
			return -EBADMSG;
		on_stopped(h, payload);
		return 0;
	case IPC_LIST_END:
		if (!h->list_done) {
			h->list_done = true;
			log_info("Monitor listed %zu server(s)", h->n_servers);
			hub__start_serving(h);
		}
		return 0;
	default:
		return -EBADMSG; /* hub→monitor types or unknown: the monitor never sends them */
	}
}

static void on_readable(struct hub *h)
{
	/* bounded per wakeup so a chatty monitor cannot starve HTTP */
	for (int i = 0; i < 64 && !h->shutting_down; i++) {
		uint32_t type = 0;
		void *payload = NULL;
		size_t len = 0;
		int r = ipc_recv(h->ipc_fd, h->ipc_buf, IPC_MAX_MSG, &type, &payload, &len);

		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return;
		if (r == -EPIPE) {
			log_error("Monitor closed the channel, exiting");
			hub__shutdown(h, 1);
			return;
		}
		if (r < 0) {
			log_error_errno(r, "Invalid message from the monitor, exiting: %m");
			hub__shutdown(h, 1);
			return;
		}
		r = handle_msg(h, type, payload, len);
		if (r < 0) {
			log_error("Unexpected message %u from the monitor, exiting", type);
			hub__shutdown(h, 1);
			return;
		}
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct hub *h = p->data;

	if (h->shutting_down)
		return;
	if (status < 0) {
		log_error("Monitor channel error: %s", uv_strerror(status));
		hub__shutdown(h, 1);
		return;
	}
	if (events & UV_WRITABLE)
		flush_queue(h);
	if ((events & (UV_READABLE | UV_DISCONNECT)) && !h->shutting_down)
		on_readable(h);
}

static void poll_update(struct hub *h)
{
	int want = UV_READABLE | UV_DISCONNECT | (h->out_head ? UV_WRITABLE : 0);

	if (!h->ipc_poll_active || want == h->ipc_events)
		return;
	if (uv_poll_start(&h->ipc_poll, want, on_poll) == 0)
		h->ipc_events = want;
}

int hub__mon_start(struct hub *h)
{
	int flags, r;

	flags = fcntl(h->ipc_fd, F_GETFL);
	if (flags < 0 || fcntl(h->ipc_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return log_error_errno(-errno, "Failed to make the monitor channel non-blocking: %m");
	h->ipc_buf = malloc(IPC_MAX_MSG);
	if (!h->ipc_buf)
		return log_error_errno(-ENOMEM, "Out of memory");
	r = uv_poll_init(h->loop, &h->ipc_poll, h->ipc_fd);
	if (r < 0)
		return log_error_errno(r, "Failed to watch the monitor channel: %s", uv_strerror(r));
	h->ipc_poll.data = h;
	h->ipc_poll_active = true;
	h->ipc_events = 0;
	poll_update(h);
	r = hub__mon_send(h, IPC_HELLO, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	return 0;
}

static void on_poll_closed(uv_handle_t *handle)
{
	struct hub *h = handle->data;
	free(h->ipc_buf);
	h->ipc_buf = NULL;
}

void hub__mon_stop(struct hub *h)
{
	/* best effort: flush what is queued (audit records) before closing */
	while (h->out_head) {
		struct hub_outmsg *m = h->out_head;
		(void)try_send(h, m);
		h->out_head = m->next;
		free(m);
	}
	h->out_tail = NULL;
	h->out_n = 0;
	if (h->ipc_poll_active) {
		h->ipc_poll_active = false;
		uv_poll_stop(&h->ipc_poll);
		uv_close((uv_handle_t *)&h->ipc_poll, on_poll_closed);
	}
	servers_free(h);
}
