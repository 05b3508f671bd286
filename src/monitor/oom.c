/* monitor: OOM kills and pids-limit hits in the sandboxes (see oom.h). */
#include "monitor/oom.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

enum { K_OOM, K_PIDS, K_N };

static const char *const k_event[K_N] = { "sandbox.oom", "sandbox.pids.limit" };

struct counter {
	bool have;           /* baseline read */
	bool emitted;        /* a record was written (rate limit applies) */
	uint64_t last;       /* last value read */
	uint64_t pending;    /* increase not yet reported */
	uint64_t last_emit_ms;
};

struct entry {
	char name[96];
	char user[NBW_USERNAME_MAX + 1];
	bool seen;
	struct counter c[K_N];
};

struct oom_watch {
	char root[256];
	oom_emit_fn emit;
	void *userdata;
	struct entry *e;
	size_t n, cap;
	uint64_t next_ms; /* next round due (monotonic), 0 = now */
};

int oom_parse_counter(const char *text, size_t len, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key), i = 0;

	while (i < len) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		if (eol - i > kl && memcmp(text + i, key, kl) == 0 && text[i + kl] == ' ') {
			uint64_t v = 0;
			size_t j = i + kl + 1;
			if (j >= eol)
				return -EINVAL;
			for (; j < eol; j++) {
				if (text[j] < '0' || text[j] > '9')
					return -EINVAL;
				if (v > (UINT64_MAX - 9) / 10)
					return -EINVAL;
				v = v * 10 + (uint64_t)(text[j] - '0');
			}
			*ret = v;
			return 0;
		}
		i = eol + 1;
	}
	return -ENOENT;
}

int oom_watch_new(const char *root, oom_emit_fn emit, void *userdata, struct oom_watch **ret)
{
	struct oom_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = nbw_strlcpy(w->root, root, sizeof(w->root));
	if (r < 0) {
		free(w);
		return r;
	}
	w->emit = emit;
	w->userdata = userdata;
	*ret = w;
	return 0;
}

void oom_watch_free(struct oom_watch *w)
{
	if (!w)
		return;
	free(w->e);
	free(w);
}

/* Read KEY from the first of the candidate files that can be read. */
static int read_counter(const struct oom_watch *w, int kind, const char *name, uint64_t *ret)
{
	static const char *const v1[K_N] = { "memory/nbwarden/%s/memory.oom_control", "pids/nbwarden/%s/pids.events" };
	static const char *const v2[K_N] = { "nbwarden/%s/memory.events", "nbwarden/%s/pids.events" };
	static const char *const key[K_N] = { "oom_kill", "max" };
	const char *const *fmts[2] = { v1, v2 };
	int r = -ENOENT;

	for (size_t i = 0; i < 2; i++) {
		char rel[256], path[512];
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		/* The format strings are ours; name is checked by the caller. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (nbw_snprintf(rel, sizeof(rel), fmts[i][kind], name) < 0)
			return -ENAMETOOLONG;
#pragma GCC diagnostic pop
		if (nbw_snprintf(path, sizeof(path), "%s/%s", w->root, rel) < 0)
			return -ENAMETOOLONG;
		r = nbw_read_file(path, 4096, &text, &len);
		if (r < 0)
			continue;
		return oom_parse_counter(text, len, key[kind], ret);
	}
	return r;
}

static void emit_pending(struct oom_watch *w, struct entry *e, int kind, uint64_t now)
{
	struct counter *c = &e->c[kind];
	json_t *f;

	if (!c->pending)
		return;
	f = json_object();
	if (f) {
		json_object_set_new(f, "count", json_integer((json_int_t)c->pending));
		json_object_set_new(f, "total", json_integer((json_int_t)c->last));
		w->emit(w->userdata, k_event[kind], e->user, f);
		json_decref(f);
	}
	c->pending = 0;
	c->emitted = true;
	c->last_emit_ms = now;
}

static struct entry *find_or_add(struct oom_watch *w, const char *user, const char *name)
{
	struct entry *e;

	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->e[i].name, name) == 0)
			return &w->e[i];
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct entry *ne = reallocarray(w->e, cap, sizeof(*ne));
		if (!ne)
			return NULL;
		w->e = ne;
		w->cap = cap;
	}
	e = &w->e[w->n];
	memset(e, 0, sizeof(*e));
	if (nbw_strlcpy(e->name, name, sizeof(e->name)) < 0 || nbw_strlcpy(e->user, user, sizeof(e->user)) < 0)
		return NULL;
	w->n++;
	return e;
}

void oom_watch_begin(struct oom_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		w->e[i].seen = false;
}

void oom_watch_check(struct oom_watch *w, const char *user, const char *cgroup_name, uint64_t now)
{
	struct entry *e;

	/* A name is one path component; ours are "<hex>-<user>", but never trust it. */
	if (!cgroup_name[0] || strchr(cgroup_name, '/') || strcmp(cgroup_name, ".") == 0 ||
	    strcmp(cgroup_name, "..") == 0)
		return;
	e = find_or_add(w, user, cgroup_name);
	if (!e)
		return;
	e->seen = true;
	for (int k = 0; k < K_N; k++) {
		struct counter *c = &e->c[k];
		uint64_t v;

		if (read_counter(w, k, cgroup_name, &v) < 0)
			continue;
		if (!c->have) {
			c->have = true;
			c->last = v;
			continue;
		}
		if (v > c->last)
			c->pending += v - c->last;
		c->last = v; /* smaller: the cgroup was recreated */
		if (c->pending && (!c->emitted || now - c->last_emit_ms >= OOM_MIN_INTERVAL_MS))
			emit_pending(w, e, k, now);
	}
}

void oom_watch_end(struct oom_watch *w, uint64_t now)
{
	size_t o = 0;

	for (size_t i = 0; i < w->n; i++) {
		if (!w->e[i].seen) {
			for (int k = 0; k < K_N; k++)
				emit_pending(w, &w->e[i], k, now);
			continue;
		}
		if (o != i)
			w->e[o] = w->e[i];
		o++;
	}
	w->n = o;
	w->next_ms = now + OOM_TICK_MS;
}

bool oom_watch_due(const struct oom_watch *w, uint64_t now)
{
	return now >= w->next_ms;
}

int oom_watch_next_tick_ms(const struct oom_watch *w, bool sandboxes_running, uint64_t now)
{
	if (!sandboxes_running && w->n == 0)
		return -1;
	return w->next_ms > now ? (int)(w->next_ms - now) : 0;
}
