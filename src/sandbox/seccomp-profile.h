/* sandbox: the seccomp profile as data (seccomp.c). The default profile is the
 * repository file share/seccomp/default.json, embedded at build time by
 * scripts/embed.py; shared with the unit tests. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stddef.h>

extern const unsigned char sandbox__seccomp_default_json[]; /* NUL-terminated */
extern const size_t sandbox__seccomp_default_json_len;

/* Parse an OCI linux.seccomp object and check its shape: defaultAction and
 * every action/op from the known sets, native architecture only, flags only
 * SECCOMP_FILTER_FLAG_* names, every rule with a non-empty names array of
 * syscall-like names, args with index 0..5. -EINVAL (-ENOMEM) otherwise. */
int sandbox__seccomp_parse(const char *data, size_t len, json_t **ret);

/* The profile as a libseccomp filter, built the way runc 1.1 builds it
 * (unknown names skipped, value → datum_a, valueTwo → datum_b). default_errno
 * > 0 replaces the profile's defaultErrnoRet (tests use a distinctive one).
 * log_copy: the copy nbwarden-guard stacks with SECCOMP_FILTER_FLAG_LOG above
 * the runtime's filter; rules answering with their own errno (clone3 ENOSYS)
 * become ALLOW there, so only refusals are logged. */
int sandbox__seccomp_compile(json_t *profile, int default_errno, bool log_copy, scmp_filter_ctx *ret);
