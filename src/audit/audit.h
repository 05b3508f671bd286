/* audit: the append-only JSON-lines audit log. Written only by the monitor (and
 * by the root CLI for token issue); a compromised hub can add records through
 * the ipc protocol but never rewrite or remove them.
 *
 * Each record: {"ts": RFC 3339 UTC, "event": ..., "user": ..., "ip": ..., ...}
 * written with one write(2) on an O_APPEND fd under flock; fsync is batched
 * (audit_tick) within fsync_interval_ms. Callers never pass secrets. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct audit_log;

int audit_open(const char *path, uint32_t fsync_interval_ms, struct audit_log **ret);
/* Write one record. event required; user/ip may be NULL (→ JSON null). fields
 * (may be NULL) is an object whose members are appended; the reference is stolen. */
int audit_write(struct audit_log *log, const char *event, const char *user, const char *ip, json_t *fields);
/* fsync if records are pending and the interval has passed (or force). */
int audit_sync(struct audit_log *log, int force);
/* Milliseconds until the next sync is due, or -1 when nothing is pending. */
int audit_next_sync_ms(const struct audit_log *log);
void audit_close(struct audit_log *log); /* syncs; NULL ok */
