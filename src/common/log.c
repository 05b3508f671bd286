#include "common/common.h"

#include <stdio.h>

static const char *log_ident = "nbwarden";
static enum log_level log_level = LOG_LVL_INFO;

void log_set_ident(const char *ident) { log_ident = ident; }
void log_set_level(enum log_level lvl) { log_level = lvl; }
enum log_level log_get_level(void) { return log_level; }

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static void log_vmsg(enum log_level lvl, int err, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void log_vmsg(enum log_level lvl, int err, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (lvl > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s[%d]: %s: ", log_ident, (int)getpid(), level_names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	n = (int)strlen(line);
	if (err != 0 && (size_t)n < sizeof(line) - 2)
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(err < 0 ? -err : err));
	n = (int)strlen(line);
	/* Never let a logged value forge a second line. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if ((size_t)n < sizeof(line) - 1) {
		line[n++] = '\n';
		line[n] = 0;
	} else {
		line[sizeof(line) - 2] = '\n';
	}
	(void)!write(STDERR_FILENO, line, strlen(line));
}

void log_msg(enum log_level lvl, int err, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vmsg(lvl, err, fmt, ap);
	va_end(ap);
	errno = saved;
}

int log_errno(enum log_level lvl, int r, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vmsg(lvl, r, fmt, ap);
	va_end(ap);
	errno = saved;
	return r < 0 ? r : -r;
}
