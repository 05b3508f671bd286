/* sandbox internals shared by paths.c, spec.c, prepare.c and runtime.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

/* Every sandbox gets this many host uids/gids (containerID 0 .. 65535). */
#define SANDBOX_RANGE_SIZE 65536u

/* Container-side fixed paths. */
#define SANDBOX_HOME "/home/jovyan"
#define SANDBOX_RUN "/run/nbwarden"
#define SANDBOX_SOCK SANDBOX_RUN "/jupyter.sock"
#define SANDBOX_SOCK_NAME "jupyter.sock"
#define SANDBOX_PID_NAME "runc.pid"

/* Fill err (may be NULL) with code r and a formatted message; returns r. */
int sandbox__fail(struct sandbox_error *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Open an absolute directory path component by component with O_NOFOLLOW:
 * -ELOOP/-ENOTDIR if any component is a symlink or not a directory. */
int sandbox__open_dir(const char *path, int *ret_fd);

/* mkdirat(dfd, name) unless it exists, then open it (O_NOFOLLOW, must be a
 * directory) and force owner and mode on the opened fd (never by path). */
int sandbox__ensure_dir_at(int dfd, const char *name, uid_t uid, gid_t gid, mode_t mode, int *ret_fd);

/* Write data to dfd/name atomically (tmp file + renameat + fsync), owned by root. */
int sandbox__write_at(int dfd, const char *name, const void *data, size_t len, mode_t mode);

/* Open (creating the tree if needed) state_dir and the standard subdirectories;
 * *ret_state is state_dir's fd. Shared by sandbox_init and sandbox_prepare. */
int sandbox__open_state(const struct config *cfg, int *ret_state, struct sandbox_error *err);

/* Host uid of container uid 0 for slot; 0 when it would overflow. */
uint64_t sandbox__range_base(const struct config *cfg, uint32_t slot);
bool sandbox__slot_fits(const struct config *cfg, uint32_t slot);

/* Is token acceptable for the environment (non-empty, <= 256 URL-safe chars)? */
bool sandbox__token_valid(const char *token);

/* The linux.seccomp object of the OCI spec (seccomp.c). */
json_t *sandbox__seccomp_profile(void);

/* Entries of dir that are valid container ids starting with prefix. */
/* A root-owned regular executable nobody else can change (-EPERM otherwise):
 * the monitor runs it as root. */
int sandbox__check_executable(const char *path);
/* argv of n strings in one allocation (pointers, then the strings); free(). */
int sandbox__build_argv(const char *const *in, size_t n, char ***ret_argv);
int sandbox__list_prefixed(const char *dir, const char *prefix, char ***ret);

/* A configured device (singleuser.devices): lstat, must be a character
 * device. -ENODEV when it is something else, -errno when missing. */
int sandbox__device_stat(const char *path, struct stat *ret);
