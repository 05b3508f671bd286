#include "ipc/ipc.h"

#include <sys/socket.h>
#include <sys/uio.h>

static const char *const audit_event_names[IPC_EV__MAX] = {
	[IPC_EV_LOGIN_SUCCESS] = "auth.login.success",
	[IPC_EV_LOGIN_FAILURE] = "auth.login.failure",
	[IPC_EV_LOGOUT] = "auth.logout",
	[IPC_EV_TOKEN_ISSUE] = "token.issue",
	[IPC_EV_KERNEL_EXECUTE] = "kernel.execute",
	[IPC_EV_ACCESS_DENIED] = "access.denied",
};

const char *ipc_audit_event_name(uint32_t event)
{
	if (event == 0 || event >= IPC_EV__MAX)
		return NULL;
	return audit_event_names[event];
}

int ipc_send(int fd, uint32_t type, const void *payload, size_t len, const void *extra, size_t extra_len)
{
	struct ipc_hdr hdr = { .type = type, .len = (uint32_t)(len + extra_len) };
	struct iovec iov[3] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
		{ .iov_base = (void *)extra, .iov_len = extra_len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };
	ssize_t n;

	if (sizeof(hdr) + len + extra_len > IPC_MAX_MSG)
		return -EMSGSIZE;
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + len + extra_len)
		return -EIO;
	return 0;
}

/* A string field: NUL-terminated inside its array. */
static bool str_ok(const char *s, size_t size) { return memchr(s, 0, size) != NULL; }

/* Free text: terminated, printable ASCII or UTF-8 bytes, no control characters. */
static bool text_ok(const char *s, size_t size)
{
	if (!str_ok(s, size))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool charset_ok(const char *s, size_t size, const char *allowed)
{
	if (!str_ok(s, size))
		return false;
	for (const char *p = s; *p; p++)
		if (!strchr(allowed, *p))
			return false;
	return true;
}

static bool user_ok(const char *s, size_t size, bool may_be_empty)
{
	if (!str_ok(s, size))
		return false;
	if (s[0] == 0)
		return may_be_empty;
	return nbw_username_valid(s);
}

#define IP_CHARS "0123456789abcdefABCDEF:.[]"
#define PROFILE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_"
#define HEX_CHARS "0123456789abcdef"
#define KERNEL_CHARS "0123456789abcdefABCDEF-"

static int validate_audit(const struct ipc_audit *a, size_t len)
{
	if (a->event == 0 || a->event >= IPC_EV__MAX)
		return -EBADMSG;
	if (!user_ok(a->user, sizeof(a->user), true) || !charset_ok(a->ip, sizeof(a->ip), IP_CHARS) ||
	    !text_ok(a->reason, sizeof(a->reason)) || !text_ok(a->target, sizeof(a->target)) ||
	    !user_ok(a->server, sizeof(a->server), true) ||
	    !charset_ok(a->kernel_id, sizeof(a->kernel_id), KERNEL_CHARS) ||
	    !text_ok(a->msg_id, sizeof(a->msg_id)) ||
	    !charset_ok(a->msg_type, sizeof(a->msg_type), "abcdefghijklmnopqrstuvwxyz_") ||
	    !charset_ok(a->code_sha256, sizeof(a->code_sha256), HEX_CHARS))
		return -EBADMSG;
	if (a->code_sha256[0] && strlen(a->code_sha256) != 64)
		return -EBADMSG;
	if (a->code_truncated > 1 || a->code_bytes > IPC_AUDIT_CODE_MAX)
		return -EBADMSG;
	if (len != sizeof(*a) + a->code_bytes)
		return -EBADMSG;
	if (a->code_bytes > a->code_len)
		return -EBADMSG;
	if (a->event == IPC_EV_KERNEL_EXECUTE && (!a->server[0] || strlen(a->code_sha256) != 64))
		return -EBADMSG;
	if (a->event != IPC_EV_KERNEL_EXECUTE && a->code_bytes != 0)
		return -EBADMSG;
	return 0;
}

int ipc_validate(uint32_t type, const void *payload, size_t len)
{
	switch (type) {
	case IPC_HELLO:
	case IPC_LIST_END:
		return len == 0 ? 0 : -EBADMSG;
	case IPC_SPAWN: {
		const struct ipc_spawn *m = payload;
		if (len != sizeof(*m))
			return -EBADMSG;
		if (!user_ok(m->user, sizeof(m->user), false) || !user_ok(m->actor, sizeof(m->actor), false) ||
		    !charset_ok(m->ip, sizeof(m->ip), IP_CHARS) ||
		    !charset_ok(m->profile, sizeof(m->profile), PROFILE_CHARS))
			return -EBADMSG;
		return 0;
	}
	case IPC_STOP: {
		const struct ipc_stop *m = payload;
		if (len != sizeof(*m))
			return -EBADMSG;
		if (!user_ok(m->user, sizeof(m->user), false) || !user_ok(m->actor, sizeof(m->actor), true) ||
		    !charset_ok(m->ip, sizeof(m->ip), IP_CHARS))
			return -EBADMSG;
		return 0;
	}
	case IPC_AUDIT:
		if (len < sizeof(struct ipc_audit))
			return -EBADMSG;
		return validate_audit(payload, len);
	case IPC_PROGRESS: {
		const struct ipc_progress *m = payload;
		if (len != sizeof(*m) || !user_ok(m->user, sizeof(m->user), false) || m->percent > 100 ||
		    !text_ok(m->message, sizeof(m->message)))
			return -EBADMSG;
		return 0;
	}
	case IPC_READY:
	case IPC_SERVER_INFO: {
		const struct ipc_server *m = payload;
		if (len != sizeof(*m) || !user_ok(m->user, sizeof(m->user), false) || m->percent > 100 ||
		    (m->state != IPC_STATE_PENDING && m->state != IPC_STATE_READY) ||
		    !text_ok(m->token, sizeof(m->token)) || !text_ok(m->socket_path, sizeof(m->socket_path)) ||
		    !charset_ok(m->profile, sizeof(m->profile), PROFILE_CHARS))
			return -EBADMSG;
		if (type == IPC_READY && m->state != IPC_STATE_READY)
			return -EBADMSG;
		return 0;
	}
	case IPC_FAILED: {
		const struct ipc_failed *m = payload;
		if (len != sizeof(*m) || !user_ok(m->user, sizeof(m->user), false) ||
		    !text_ok(m->message, sizeof(m->message)))
			return -EBADMSG;
		return 0;
	}
	case IPC_STOPPED: {
		const struct ipc_stopped *m = payload;
		if (len != sizeof(*m) || !user_ok(m->user, sizeof(m->user), false) ||
		    !text_ok(m->reason, sizeof(m->reason)))
			return -EBADMSG;
		return 0;
	}
	default:
		return -EBADMSG;
	}
}

int ipc_recv(int fd, void *buf, size_t size, uint32_t *ret_type, void **ret_payload, size_t *ret_len)
{
	struct ipc_hdr hdr;
	ssize_t n;
	int r;

	if (size < IPC_MAX_MSG)
		return -EINVAL;
	do
		n = recv(fd, buf, size, MSG_DONTWAIT | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
	if (n == 0)
		return -EPIPE;
	if ((size_t)n > size || (size_t)n < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.len != (size_t)n - sizeof(hdr))
		return -EBADMSG;
	r = ipc_validate(hdr.type, (uint8_t *)buf + sizeof(hdr), hdr.len);
	if (r < 0)
		return r;
	*ret_type = hdr.type;
	*ret_payload = (uint8_t *)buf + sizeof(hdr);
	*ret_len = hdr.len;
	return 0;
}
