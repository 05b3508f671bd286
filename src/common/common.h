/* common: small, boring helpers shared by every process.
 *
 * Contract: no module state beyond the log level/ident; no allocation unless a
 * function says so; functions return >= 0 on success and -errno on failure. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NBW_UNUSED __attribute__((unused))

/* ---- cleanup attributes (systemd style) ---- */
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

#define TAKE_PTR(p)                       \
	({                                \
		__typeof__(p) _tp_ = (p); \
		(p) = NULL;               \
		_tp_;                     \
	})
#define TAKE_FD(fd)                \
	({                         \
		int _tf_ = (fd);   \
		(fd) = -1;         \
		_tf_;              \
	})

/* ---- logging (stderr, one line per message; never pass secrets) ---- */
enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
void log_set_ident(const char *ident);
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Returns r (a -errno) so callers can `return log_error_errno(r, ...)`. */
int log_errno(enum log_level lvl, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_error(...) log_msg(LOG_LVL_ERROR, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(r, ...) log_errno(LOG_LVL_ERROR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) log_errno(LOG_LVL_WARN, (r), __VA_ARGS__)

/* ---- user names ----
 * The one definition of a valid user name, used by the hub before it stores a
 * name and by the monitor before it builds any path from one:
 * ^[a-z_][a-z0-9_-]{0,31}$ (at most NBW_USERNAME_MAX bytes). */
#define NBW_USERNAME_MAX 32
bool nbw_username_valid(const char *name);
/* Same check on a non-terminated buffer. */
bool nbw_username_valid_n(const char *name, size_t len);

/* ---- time ---- */
/* Wall clock as RFC 3339 UTC with milliseconds: "2026-11-23T10:00:00.123Z". buf >= 32. */
int nbw_time_rfc3339(char *buf, size_t size);
/* Format given unix seconds (no fraction): "2026-11-23T10:00:00Z". buf >= 32. */
int nbw_time_format(int64_t unix_secs, char *buf, size_t size);
int64_t nbw_time_now(void);      /* unix seconds */
uint64_t nbw_time_mono_ms(void); /* CLOCK_MONOTONIC milliseconds */

/* ---- randomness & encoding ---- */
int nbw_random_bytes(void *buf, size_t len); /* getrandom(2), never short */
/* Lower-case hex; out must hold 2*len+1. */
void nbw_hex_encode(const void *in, size_t len, char *out);
/* URL-safe base64 without padding; out must hold 4*((len+2)/3)+1. Returns chars written. */
size_t nbw_b64url_encode(const void *in, size_t len, char *out);
/* Random URL-safe token of nbytes random bytes; out >= 4*((nbytes+2)/3)+1. */
int nbw_random_token(char *out, size_t out_size, size_t nbytes);

/* ---- strings ---- */
/* Value of one hex digit (either case), -1 for anything else. */
static inline int nbw_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
static inline bool str_has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
/* snprintf that reports truncation as -ENAMETOOLONG. */
int nbw_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copy a NUL-terminated string; -ENAMETOOLONG if it does not fit (dst still terminated). */
int nbw_strlcpy(char *dst, const char *src, size_t size);
/* Constant-time comparison of two equal-length buffers. */
bool nbw_memeq_ct(const void *a, const void *b, size_t len);
/* Parse a decimal unsigned integer in [min,max]; whole string must be consumed. */
int nbw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* ---- bounded growable buffer (curl dynbuf style) ----
 * Appends until `max` bytes; past it (or on ENOMEM) the buffer is marked failed
 * and ignores further appends, so callers check `failed` once at the end. The
 * content is always NUL-terminated. nbw_buf_done wipes and frees it. */
struct nbw_buf {
	char *p;
	size_t len, cap, max;
	bool failed;
};
void nbw_buf_add(struct nbw_buf *b, const void *s, size_t n);
void nbw_buf_str(struct nbw_buf *b, const char *s);
void nbw_buf_done(struct nbw_buf *b);

/* ---- fds / files ---- */
int nbw_write_all(int fd, const void *buf, size_t len);
/* Read a whole small file (<= max bytes) into a NUL-terminated malloc'd buffer;
 * -EFBIG when it is larger. nbw_read_fd does the same on an open fd: a regular
 * file from offset 0 (pread: the fd's offset, which may be shared, is left
 * alone), anything else (a pipe) to EOF. */
int nbw_read_fd(int fd, size_t max, char **ret, size_t *ret_len);
int nbw_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write a file atomically (tmp + rename) with mode. */
int nbw_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Path of a program installed next to our own executable (/proc/self/exe). */
int nbw_sibling_path(const char *name, char *buf, size_t size);
/* mkdir -p with a mode for newly created components. */
int nbw_mkdir_p(const char *path, mode_t mode);
/* rm -rf that never crosses mount points or follows symlinks. */
int nbw_rm_rf(const char *path);
