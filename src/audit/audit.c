#include "audit/audit.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "common/common.h"

struct audit_log {
	int fd;
	uint32_t fsync_interval_ms;
	bool pending;
	uint64_t first_pending_ms;
};

int audit_open(const char *path, uint32_t fsync_interval_ms, struct audit_log **ret)
{
	_cleanup_free_ char *dir = NULL;
	struct audit_log *log;
	struct stat st;
	char *slash;
	int fd, r;

	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		r = nbw_mkdir_p(dir, 0750);
		if (r < 0)
			return r;
	}
	/* Root-owned, not readable by the hub's uid or anyone else. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		close(fd);
		return r;
	}
	/* The log holds notebook code: root only, whatever an existing file had. */
	if ((st.st_uid != 0 || st.st_gid != 0) && geteuid() == 0 && fchown(fd, 0, 0) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	log = calloc(1, sizeof(*log));
	if (!log) {
		close(fd);
		return -ENOMEM;
	}
	log->fd = fd;
	log->fsync_interval_ms = fsync_interval_ms;
	*ret = log;
	return 0;
}

int audit_write(struct audit_log *log, const char *event, const char *user, const char *ip, json_t *fields)
{
	char ts[40];
	json_t *rec;
	char *line = NULL;
	size_t len;
	int r;

	r = nbw_time_rfc3339(ts, sizeof(ts));
	if (r < 0) {
		json_decref(fields);
		return r;
	}
	rec = json_object();
	if (!rec) {
		json_decref(fields);
		return -ENOMEM;
	}
	json_object_set_new(rec, "ts", json_string(ts));
	json_object_set_new(rec, "event", json_string(event));
	json_object_set_new(rec, "user", user && *user ? json_string(user) : json_null());
	json_object_set_new(rec, "ip", ip && *ip ? json_string(ip) : json_null());
	if (fields) {
		/* ts/event/user/ip are ours: a caller's field never overrides them. */
		const char *k;
		json_t *v;
		json_object_foreach(fields, k, v)
			if (!json_object_get(rec, k))
				json_object_set(rec, k, v);
		json_decref(fields);
	}
	line = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(rec);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	line[len] = '\n'; /* json_dumps output has its NUL here; we write len+1 bytes */
	/* One write(2) of a whole line on an O_APPEND fd, under flock so the root CLI
	 * and the monitor never interleave. */
	if (flock(log->fd, LOCK_EX) < 0) {
		r = -errno;
		free(line);
		return r;
	}
	{
		off_t start = lseek(log->fd, 0, SEEK_END);
		r = nbw_write_all(log->fd, line, len + 1);
		/* Disk full or I/O error: cut back to the last whole record so the
		 * next record never merges with a fragment. */
		if (r < 0 && start >= 0)
			(void)!ftruncate(log->fd, start);
	}
	flock(log->fd, LOCK_UN);
	free(line);
	if (r < 0)
		return r;
	if (!log->pending) {
		log->pending = true;
		log->first_pending_ms = nbw_time_mono_ms();
	}
	if (log->fsync_interval_ms == 0)
		return audit_sync(log, 1);
	return 0;
}

int audit_sync(struct audit_log *log, int force)
{
	if (!log || !log->pending)
		return 0;
	if (!force && nbw_time_mono_ms() - log->first_pending_ms < log->fsync_interval_ms)
		return 0;
	log->pending = false;
	if (fdatasync(log->fd) < 0)
		return -errno;
	return 0;
}

int audit_next_sync_ms(const struct audit_log *log)
{
	uint64_t now, due;

	if (!log || !log->pending)
		return -1;
	now = nbw_time_mono_ms();
	due = log->first_pending_ms + log->fsync_interval_ms;
	return due <= now ? 0 : (int)(due - now);
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	audit_sync(log, 1);
	close(log->fd);
	free(log);
}
