/* Shared between the monitor's files; not a public door. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "sandbox/sandbox.h"

enum server_state {
	SRV_STARTING = 1, /* runtime `run --detach` child running */
	SRV_WAITING,      /* container up, probing the socket */
	SRV_READY,
	SRV_DELETING,     /* runtime `delete --force` child running */
};

struct server {
	char user[NBW_USERNAME_MAX + 1];
	enum server_state state;
	uint32_t slot;
	uint32_t percent;
	char message[IPC_TEXT_SIZE];
	char token[IPC_TOKEN_SIZE];
	char runtime[4096];
	struct sandbox_paths paths;
	int64_t started;          /* unix seconds */
	uint64_t started_ms;      /* monotonic */
	uint64_t deadline_ms;     /* readiness deadline (monotonic) */
	pid_t runtime_pid;        /* run or delete child */
	pid_t init_pid;           /* the container's init (reparented to us: subreaper) */
	bool stop_requested;
	uint32_t delete_attempts;  /* runtime `delete` runs so far */
	uint64_t delete_deadline_ms; /* the running `delete` is killed after this */
	bool failed;              /* deleting because the spawn failed */
	char fail_message[512];
	char stop_actor[NBW_USERNAME_MAX + 1];
	char stop_ip[IPC_IP_SIZE];
	char stop_reason[IPC_TEXT_SIZE];
};

struct monitor;

/* servers.c */
int servers_spawn(struct monitor *m, const struct ipc_spawn *req);
int servers_stop(struct monitor *m, const char *user, const char *actor, const char *ip, const char *reason);
void servers_stop_all(struct monitor *m, const char *reason);
/* A child exited: true if it was one of ours. */
bool servers_child_exited(struct monitor *m, pid_t pid, int status);
/* Probe waiting servers and enforce deadlines. */
void servers_tick(struct monitor *m);
/* Milliseconds until servers_tick must run again, -1 = not needed. */
int servers_next_tick_ms(const struct monitor *m);
size_t servers_count(const struct monitor *m);
void servers_report_all(struct monitor *m); /* SERVER_INFO* + LIST_END to the hub */
void servers_cleanup_leftovers(const struct config *cfg);
/* The pods' output pipes for poll(2), and draining one that is readable. */
struct pollfd;
size_t servers_log_pollfds(struct monitor *m, struct pollfd *out, size_t max);
void servers_log_ready(struct monitor *m, int fd);

/* monitor.c */
struct kaudit;

struct monitor {
	const struct config *cfg;
	struct audit_log *audit;
	int hub_fd;          /* our end of the socketpair (non-blocking), -1 when no hub */
	int hub_log_fd;      /* read end of the hub's stdout/stderr, -1 when none */
	char hub_log[4096];  /* partial line from the hub */
	size_t hub_log_len;
	pid_t hub_pid;
	struct server *servers[10000];
	size_t n_servers;
	bool shutting_down;
	struct kaudit *ka;   /* the kernel audit reader when it is open (rules for Audit actions), else NULL */
};
void monitor_send(struct monitor *m, uint32_t type, const void *payload, size_t len);
void monitor_audit(struct monitor *m, const char *event, const char *user, const char *ip, json_t *fields);
