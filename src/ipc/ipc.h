/* ipc: the typed request protocol between the hub (unprivileged) and the
 * monitor (root) over a SOCK_SEQPACKET|SOCK_CLOEXEC socketpair.
 *
 * One datagram = struct ipc_hdr + a fixed payload struct (+ trailing bytes for
 * IPC_AUDIT only). The receiver (ipc_validate) demands the exact length for the
 * type, that every string field is NUL-terminated inside its array, that user
 * names match nbw_username_valid(), that enums are in range and that free-text
 * fields hold no control characters. Anything else: the peer is dropped. */
#pragma once

#include <stdint.h>
#include <stddef.h>

#include "common/common.h"

#define IPC_MAX_MSG 65536
#define IPC_USER_SIZE (NBW_USERNAME_MAX + 1)
#define IPC_TOKEN_SIZE 64     /* Jupyter server token: 43 chars b64url + NUL fits */
#define IPC_PATH_SIZE 256
#define IPC_TEXT_SIZE 256
#define IPC_IP_SIZE 64
#define IPC_AUDIT_CODE_MAX 32768

enum ipc_type {
	/* hub → monitor */
	IPC_HELLO = 1,     /* no payload; monitor answers with SERVER_INFO* then LIST_END */
	IPC_SPAWN,         /* struct ipc_spawn */
	IPC_STOP,          /* struct ipc_stop */
	IPC_AUDIT,         /* struct ipc_audit + code bytes */
	/* monitor → hub */
	IPC_PROGRESS = 100, /* struct ipc_progress */
	IPC_READY,          /* struct ipc_server */
	IPC_FAILED,         /* struct ipc_failed */
	IPC_STOPPED,        /* struct ipc_stopped */
	IPC_SERVER_INFO,    /* struct ipc_server (state in .state) */
	IPC_LIST_END,       /* no payload */
};

struct ipc_hdr {
	uint32_t type;
	uint32_t len; /* payload bytes following the header */
};

/* Spawn: idempotent. For a running server the monitor answers IPC_READY again;
 * for a pending one the progress simply continues. */
struct ipc_spawn {
	char user[IPC_USER_SIZE];    /* owner of the server */
	char actor[IPC_USER_SIZE];   /* who asked (the owner or an admin), for the audit record */
	char ip[IPC_IP_SIZE];        /* client address that asked ("" if unknown) */
	char profile[64];            /* slug of singleuser.profileList; "" = the default one */
};

/* Stop: answered by IPC_STOPPED (at once if the server was not running). */
struct ipc_stop {
	char user[IPC_USER_SIZE];
	char actor[IPC_USER_SIZE];
	char ip[IPC_IP_SIZE];
};

struct ipc_progress {
	char user[IPC_USER_SIZE];
	uint32_t percent;            /* 0..100 */
	char message[IPC_TEXT_SIZE];
};

enum ipc_server_state { IPC_STATE_PENDING = 1, IPC_STATE_READY = 2 };

struct ipc_server {
	char user[IPC_USER_SIZE];
	uint32_t state;              /* enum ipc_server_state */
	uint32_t percent;
	int64_t started;             /* unix seconds the spawn began */
	char token[IPC_TOKEN_SIZE];  /* the server's own token: the proxy injects it; never logged */
	char socket_path[IPC_PATH_SIZE]; /* absolute path of the server's unix socket on the host */
	char profile[64];            /* the profile it was started with ("" = none), so a restarted hub knows it */
};

struct ipc_failed {
	char user[IPC_USER_SIZE];
	char message[512];
};

struct ipc_stopped {
	char user[IPC_USER_SIZE];
	char reason[IPC_TEXT_SIZE];
};

enum ipc_audit_event {
	IPC_EV_LOGIN_SUCCESS = 1,
	IPC_EV_LOGIN_FAILURE,
	IPC_EV_LOGOUT,
	IPC_EV_TOKEN_ISSUE,
	IPC_EV_KERNEL_EXECUTE,
	IPC_EV_ACCESS_DENIED,        /* proxy/API refused a request (user may be "") */
	IPC_EV__MAX,
};

/* Free-text fields: printable, no control characters. user may be "" when the
 * actor is unknown (e.g. a failed login with a malformed name). */
struct ipc_audit {
	uint32_t event;              /* enum ipc_audit_event */
	char user[IPC_USER_SIZE];
	char ip[IPC_IP_SIZE];        /* [0-9a-fA-F:.] only */
	char reason[IPC_TEXT_SIZE];  /* e.g. "bad password", "not owner" */
	char target[IPC_TEXT_SIZE];  /* e.g. request path for access.denied */
	/* kernel.execute */
	char server[IPC_USER_SIZE];  /* owner of the server the code ran on */
	char kernel_id[64];          /* [0-9a-fA-F-] */
	char msg_id[128];            /* printable */
	char msg_type[32];           /* kernel.execute: "execute_request", "debug_request", ... [a-z_] */
	char code_sha256[65];        /* 64 lower-case hex */
	uint8_t code_truncated;      /* 1 if the code was longer than sent */
	uint8_t pad[2];
	uint64_t code_len;           /* full length of the code */
	int64_t expires_at;          /* token.issue: unix seconds, 0 = never */
	uint32_t code_bytes;         /* number of code bytes following this struct, <= IPC_AUDIT_CODE_MAX */
};

/* Send one message (header + payload + optional extra bytes) as one datagram. */
int ipc_send(int fd, uint32_t type, const void *payload, size_t len, const void *extra, size_t extra_len);

/* Receive one datagram into buf (size >= IPC_MAX_MSG). On success sets type,
 * payload pointer (inside buf) and payload length; the message has already
 * passed ipc_validate(). Returns 0, -EAGAIN when nothing is queued, -EPIPE on
 * EOF, -EBADMSG on an invalid message (the caller drops the peer). */
int ipc_recv(int fd, void *buf, size_t size, uint32_t *ret_type, void **ret_payload, size_t *ret_len);

/* Strict validation of a received payload (see the contract above). Pure; fuzzed. */
int ipc_validate(uint32_t type, const void *payload, size_t len);

const char *ipc_audit_event_name(uint32_t event); /* "auth.login.success", ... or NULL */
