/* monitor: out-of-memory kills and the pids limit inside the sandboxes, from
 * the sandboxes' cgroup counters into our audit log.
 *
 * Polled (OOM_TICK_MS) for every running server, by its cgroup name
 * "<instance>-<user>" (the container id without "nbwarden-"):
 *   cgroup v1:  <root>/memory/nbwarden/NAME/memory.oom_control  "oom_kill N"
 *               <root>/pids/nbwarden/NAME/pids.events           "max N"
 *   cgroup v2:  <root>/nbwarden/NAME/memory.events               "oom_kill N"
 *               <root>/nbwarden/NAME/pids.events                 "max N"
 * (v1 is tried first, then v2.) The first reading of a sandbox is its baseline;
 * an increase is one `sandbox.oom` {count, total} or `sandbox.pids.limit`
 * {count, total} record for the sandbox's user. Rate limit per sandbox and
 * kind: the first increase is reported at once, further ones at most every
 * OOM_MIN_INTERVAL_MS, summed (a fork bomb hits the limit thousands of times
 * a second). A sandbox no longer running is forgotten, with what was pending
 * reported first. Unreadable counters (cgroup not there yet) are skipped. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OOM_TICK_MS 500
#define OOM_MIN_INTERVAL_MS 5000

/* The value of "KEY N" in a flat-keyed cgroup file (lines "key value").
 * 0, -ENOENT (no such key), -EINVAL (malformed value). Never reads past
 * text+len. */
int oom_parse_counter(const char *text, size_t len, const char *key, uint64_t *ret);

/* Write one audit event (fields is the caller's; the callee does not keep it). */
typedef void (*oom_emit_fn)(void *userdata, const char *event, const char *user, json_t *fields);

struct oom_watch;

/* root: the cgroup mount ("/sys/fs/cgroup"; tests use a directory of their own). */
int oom_watch_new(const char *root, oom_emit_fn emit, void *userdata, struct oom_watch **ret);
void oom_watch_free(struct oom_watch *w);

/* One round: oom_watch_begin, oom_watch_check for every running sandbox,
 * oom_watch_end (forgets those not checked). */
void oom_watch_begin(struct oom_watch *w);
void oom_watch_check(struct oom_watch *w, const char *user, const char *cgroup_name, uint64_t now_ms);
void oom_watch_end(struct oom_watch *w, uint64_t now_ms);
/* Milliseconds until the next round is due, given whether sandboxes run; -1 = none. */
int oom_watch_next_tick_ms(const struct oom_watch *w, bool sandboxes_running, uint64_t now_ms);
/* True when a round is due. */
bool oom_watch_due(const struct oom_watch *w, uint64_t now_ms);
