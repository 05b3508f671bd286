/* config: load the operator's YAML file into struct config.
 *
 * The file is read whole (bounded), then walked as libfyaml parser events so
 * that every node's start mark is at hand for messages. The walk follows the
 * key table (table.c): a dotted path that names a row is a setting, a path
 * that is a prefix of rows is a section (a mapping), anything else is an
 * unknown key. Problems are collected, never fatal on the first one. */
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "config/internal.h"

#define MAX_KEYS 64
#define MAX_SECTIONS 16
#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

struct pos {
	int line, column; /* 1-based; 0 = unknown */
};

struct loader {
	struct fy_parser *fyp;
	const char *file;
	struct config *c;
	struct config_diag *diag;
	struct config_diag pending; /* this load's messages, moved to diag at the end */
	int *lines;		    /* line of each pending message, 0 if none */
	size_t n_errors;
	bool full; /* CONFIG__MAX_ERRORS reached */
	bool oom;
	bool seen[MAX_KEYS];
	struct pos where[MAX_KEYS];	/* of each setting's value, for cross-key messages */
	struct pos key_where[MAX_KEYS]; /* of each setting's key, for duplicates */
	struct {
		char path[CONFIG__MAX_KEY];
		struct pos where;
	} sections[MAX_SECTIONS];
	size_t n_sections;
};

/* ---- diagnostics ---- */

void config_diag_done(struct config_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}

static int diag_push(struct config_diag *d, char *msg)
{
	char **m;

	if (!d) {
		free(msg);
		return 0;
	}
	m = reallocarray(d->msgs, d->n + 1, sizeof(char *));
	if (!m) {
		free(msg);
		return -ENOMEM;
	}
	d->msgs = m;
	d->msgs[d->n++] = msg;
	return 0;
}

static void pending_push(struct loader *ld, char *msg, int line)
{
	int *l = reallocarray(ld->lines, ld->pending.n + 1, sizeof(int));

	if (!l) {
		free(msg);
		ld->oom = true;
		return;
	}
	ld->lines = l;
	ld->lines[ld->pending.n] = line;
	if (diag_push(&ld->pending, msg) < 0)
		ld->oom = true;
}

/* Hand the collected messages to the caller. Those at or after cut_line are
 * dropped: after a syntax error, what the parser produced on that line is
 * debris of the error, not the operator's intent. */
static void loader_finish(struct loader *ld, int cut_line)
{
	for (size_t i = 0; i < ld->pending.n; i++) {
		char *m = TAKE_PTR(ld->pending.msgs[i]);

		if (ld->lines[i] > 0 && ld->lines[i] >= cut_line)
			free(m);
		else if (diag_push(ld->diag, m) < 0)
			ld->oom = true;
	}
	config_diag_done(&ld->pending);
	free(ld->lines);
	ld->lines = NULL;
}

/* "FILE:LINE:COL: KEY: MESSAGE"; position and key are left out when unknown. */
static void __attribute__((format(printf, 4, 5)))
report(struct loader *ld, const struct pos *p, const char *key, const char *fmt, ...)
{
	char msg[512], loc[64] = "", keypart[CONFIG__MAX_KEY + 8] = "";
	char *line = NULL;
	va_list ap;

	ld->n_errors++;
	if (ld->full)
		return;
	if (ld->n_errors > CONFIG__MAX_ERRORS) {
		ld->full = true;
		if (asprintf(&line, "%s: too many errors, stopping after %d", ld->file, CONFIG__MAX_ERRORS) < 0) {
			ld->oom = true;
			return;
		}
		pending_push(ld, line, 0);
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p && p->line > 0)
		(void)nbw_snprintf(loc, sizeof(loc), ":%d:%d", p->line, p->column);
	if (key)
		(void)nbw_snprintf(keypart, sizeof(keypart), " %s:", key);
	if (asprintf(&line, "%s%s:%s %s", ld->file, loc, keypart, msg) < 0) {
		ld->oom = true;
		return;
	}
	pending_push(ld, line, p ? p->line : 0);
}

static void report_cross(void *ctx, const char *key, const char *msg)
{
	struct loader *ld = ctx;
	const struct pos *p = NULL;

	for (size_t i = 0; i < config__n_keys; i++)
		if (ld->seen[i] && strcmp(config__keys[i].name, key) == 0)
			p = &ld->where[i];
	report(ld, p, key, "%s", msg);
}

/* ---- events ---- */

static void pos_min(struct pos *best, const struct fy_mark *m, int adjust)
{
	struct pos p;

	if (!m || m->line < 0)
		return;
	p = (struct pos){m->line + 1, m->column + 1 - adjust};
	if (p.column < 1)
		p.column = 1;
	if (best->line == 0 || p.line < best->line || (p.line == best->line && p.column < best->column))
		*best = p;
}

/* Where the node that e starts begins, properties (tag, anchor) and quotes
 * included. libfyaml's marks point after a quote, '*' or '&', and at the
 * line start of a block scalar's content; block scalars fall back to the
 * key's position. */
static struct pos pos_of(struct fy_event *e, const struct pos *fallback)
{
	struct pos best = {0, 0};
	struct fy_token *t;

	if (!e)
		return fallback ? *fallback : best;
	if (e->type == FYET_SCALAR) {
		enum fy_scalar_style st = fy_token_scalar_style(e->scalar.value);

		if (st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED)
			pos_min(&best, fy_event_start_mark(e), 1);
		else if (st == FYSS_PLAIN)
			pos_min(&best, fy_event_start_mark(e), 0);
	} else if (e->type == FYET_ALIAS)
		pos_min(&best, fy_event_start_mark(e), 1);
	else
		pos_min(&best, fy_event_start_mark(e), 0);
	t = fy_event_get_tag_token(e);
	if (t)
		pos_min(&best, fy_token_start_mark(t), 0);
	t = fy_event_get_anchor_token(e);
	if (t)
		pos_min(&best, fy_token_start_mark(t), 1);
	if (best.line == 0 && fallback)
		return *fallback;
	return best;
}

static void event_free(struct loader *ld, struct fy_event *e)
{
	if (e)
		fy_parser_event_free(ld->fyp, e);
}

/* Consume the rest of the node that ev starts (ev is freed). 0, or
 * -EBADMSG when the stream ended (a syntax error). */
static int skip_node(struct loader *ld, struct fy_event *ev)
{
	int depth = 0;

	for (;;) {
		enum fy_event_type t = ev->type;

		event_free(ld, ev);
		if (t == FYET_MAPPING_START || t == FYET_SEQUENCE_START)
			depth++;
		else if (t == FYET_MAPPING_END || t == FYET_SEQUENCE_END)
			depth--;
		if (depth <= 0)
			return 0;
		ev = fy_parser_parse(ld->fyp);
		if (!ev)
			return -EBADMSG;
	}
}

static const char *node_kind(struct fy_event *ev, char *buf, size_t size)
{
	switch (ev->type) {
	case FYET_MAPPING_START:
		return "a mapping";
	case FYET_SEQUENCE_START:
		return "a sequence";
	case FYET_ALIAS:
		return "an alias";
	default: {
		size_t len = 0;
		const char *t = fy_token_get_text(ev->scalar.value, &len);

		config__quote(t ? t : "", t ? len : 0, buf, size);
		return buf;
	}
	}
}

static bool scalar_is_null(struct fy_event *ev)
{
	size_t len = 0;
	const char *t;

	if (ev->type != FYET_SCALAR || fy_token_scalar_style(ev->scalar.value) != FYSS_PLAIN ||
	    fy_event_get_tag_token(ev))
		return false;
	t = fy_token_get_text(ev->scalar.value, &len);
	if (!t || len == 0)
		return true;
	return (len == 1 && t[0] == '~') ||
	       (len == 4 && (!memcmp(t, "null", 4) || !memcmp(t, "Null", 4) || !memcmp(t, "NULL", 4)));
}

/* An explicit tag must name the core type the key expects (tag_a or tag_b). */
static bool tag_ok(struct loader *ld, struct fy_event *ev, const struct pos *p, const char *key, const char *tag_a,
		   const char *tag_b)
{
	struct fy_token *tt = fy_event_get_tag_token(ev);
	const char *tag;
	char q[96];

	if (!tt)
		return true;
	tag = fy_token_get_text0(tt);
	if (tag && ((tag_a && !strcmp(tag, tag_a)) || (tag_b && !strcmp(tag, tag_b))))
		return true;
	config__quote(tag ? tag : "?", tag ? strlen(tag) : 1, q, sizeof(q));
	report(ld, p, key, "unexpected tag %s", q);
	return false;
}

static void scalar_of(struct fy_event *ev, struct config__scalar *s)
{
	size_t len = 0;
	const char *t = fy_token_get_text(ev->scalar.value, &len);

	*s = (struct config__scalar){
	    .text = t ? t : "",
	    .len = t ? len : 0,
	    .quoted = fy_token_scalar_style(ev->scalar.value) != FYSS_PLAIN || fy_event_get_tag_token(ev),
	    .null = scalar_is_null(ev),
	};
}

/* ---- the walk ---- */

static int find_key(const char *path)
{
	for (size_t i = 0; i < config__n_keys; i++)
		if (strcmp(config__keys[i].name, path) == 0)
			return (int)i;
	return -1;
}

static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < config__n_keys; i++)
		if (strncmp(config__keys[i].name, path, len) == 0 && config__keys[i].name[len] == '.')
			return true;
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[CONFIG__MAX_KEY + 1], cur[CONFIG__MAX_KEY + 1];

	if (la > CONFIG__MAX_KEY || lb > CONFIG__MAX_KEY)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + ((a[i - 1] | 0x20) != (b[j - 1] | 0x20));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

/* A known key or section next to path whose last component is close to
 * path's (a typo or a case slip), or "" if none. */
static void suggest(const char *path, char *buf, size_t size)
{
	const char *dot = strrchr(path, '.');
	size_t plen = dot ? (size_t)(dot - path) + 1 : 0, best = 3;
	const char *last = path + plen;

	buf[0] = '\0';
	for (size_t i = 0; i < config__n_keys; i++) {
		const char *name = config__keys[i].name, *comp_end;
		char comp[CONFIG__MAX_KEY];
		size_t cl, d;

		if (strncmp(name, path, plen) != 0)
			continue;
		comp_end = strchrnul(name + plen, '.');
		cl = (size_t)(comp_end - (name + plen));
		if (cl >= sizeof(comp))
			continue;
		memcpy(comp, name + plen, cl);
		comp[cl] = '\0';
		d = edit_distance(last, comp);
		/* short names: only case slips and one typo */
		if (d < best && (d <= 1 || cl > 5)) {
			best = d;
			(void)nbw_snprintf(buf, size, "%.*s", (int)(plen + cl), name);
		}
	}
}

static int walk_mapping(struct loader *ld, const char *prefix);

static int take_list(struct loader *ld, const struct config__key *k, const char *name, struct config *target,
		     const struct pos *vpos)
{
	char **list = NULL;
	size_t n = 0, elem = 0;
	bool bad = false;
	char err[512], key[CONFIG__MAX_KEY + 16], got[96];
	int r;

	for (;;) {
		struct fy_event *ev = fy_parser_parse(ld->fyp);
		struct config__scalar s;
		struct pos p;

		if (!ev) {
			config__strv_free(list, n);
			return -EBADMSG;
		}
		if (ev->type == FYET_SEQUENCE_END) {
			event_free(ld, ev);
			break;
		}
		p = pos_of(ev, vpos);
		(void)nbw_snprintf(key, sizeof(key), "%s[%zu]", name, elem++);
		if (ev->type != FYET_SCALAR || scalar_is_null(ev)) {
			report(ld, &p, key, "expected a non-empty string, got %s",
			       ev->type == FYET_SCALAR ? "null" : node_kind(ev, got, sizeof(got)));
			bad = true;
			r = skip_node(ld, ev);
			if (r < 0) {
				config__strv_free(list, n);
				return r;
			}
			continue;
		}
		scalar_of(ev, &s);
		if (!tag_ok(ld, ev, &p, key, TAG_STR, NULL))
			bad = true;
		else if (s.len == 0 || memchr(s.text, '\0', s.len) || s.len > CONFIG__MAX_STRING) {
			config__quote(s.text, s.len, got, sizeof(got));
			report(ld, &p, key, "expected a non-empty string without NUL bytes of at most %d bytes, got %s",
			       CONFIG__MAX_STRING, got);
			bad = true;
		} else if (elem > CONFIG__MAX_LIST) {
			if (elem == CONFIG__MAX_LIST + 1)
				report(ld, vpos, name, "more than %d elements", CONFIG__MAX_LIST);
			bad = true;
		} else if (!bad) {
			char **nl = reallocarray(list, n + 2, sizeof(char *));

			if (nl)
				list = nl;
			if (!nl || !(list[n] = strndup(s.text, s.len))) {
				event_free(ld, ev);
				config__strv_free(list, n);
				return -ENOMEM;
			}
			list[++n] = NULL;
		}
		event_free(ld, ev);
	}
	if (bad) {
		config__strv_free(list, n);
		return 0;
	}
	r = config__set_list(target, k, list, n, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		report(ld, vpos, name, "%s", err);
	return 0;
}

static int take_value_into(struct loader *ld, const struct config__key *k, const char *name, struct config *target,
			   const struct pos *vposp, struct fy_event *val);

/* A setting's value; consumes val and its subtree. */
static int take_value(struct loader *ld, int idx, const struct pos *kpos, struct fy_event *val)
{
	const struct config__key *k = &config__keys[idx];
	struct pos vpos = pos_of(val, kpos);

	ld->where[idx] = vpos;
	return take_value_into(ld, k, k->name, ld->c, &vpos, val);
}

/* Convert val as key k (messages name `name`) into target. */
static int take_value_into(struct loader *ld, const struct config__key *k, const char *name, struct config *target,
			   const struct pos *vposp, struct fy_event *val)
{
	struct pos vpos = *vposp;
	char what[96], got[96], err[512];
	struct config__scalar s;
	int r;

	if (val->type == FYET_ALIAS) {
		report(ld, &vpos, name, "aliases are not supported");
		return skip_node(ld, val);
	}
	if (k->type == CONFIG__STRLIST && val->type == FYET_SEQUENCE_START) {
		if (!tag_ok(ld, val, &vpos, name, TAG_SEQ, NULL))
			return skip_node(ld, val);
		event_free(ld, val);
		return take_list(ld, k, name, target, &vpos);
	}
	if (val->type != FYET_SCALAR) {
		config__describe(k, what, sizeof(what));
		report(ld, &vpos, name, "expected %s, got %s", what, node_kind(val, got, sizeof(got)));
		return skip_node(ld, val);
	}

	switch (k->type) {
	case CONFIG__BOOL:
		r = tag_ok(ld, val, &vpos, name, TAG_BOOL, NULL);
		break;
	case CONFIG__U32:
	case CONFIG__U64:
		r = tag_ok(ld, val, &vpos, name, TAG_INT, NULL);
		break;
	case CONFIG__DOUBLE:
		r = tag_ok(ld, val, &vpos, name, TAG_FLOAT, TAG_INT);
		break;
	case CONFIG__SIZE:
		r = tag_ok(ld, val, &vpos, name, TAG_STR, TAG_INT);
		break;
	default:
		r = tag_ok(ld, val, &vpos, name, TAG_STR, NULL);
		break;
	}
	if (!r) {
		event_free(ld, val);
		return 0;
	}
	scalar_of(val, &s);
	/* a tag names the type already checked above; convert the text as such */
	if (fy_event_get_tag_token(val) && k->type != CONFIG__STRING && k->type != CONFIG__PATH &&
	    k->type != CONFIG__URL && k->type != CONFIG__STRLIST && k->type != CONFIG__SIZE)
		s.quoted = false;
	r = config__set_scalar(target, k, &s, err, sizeof(err));
	event_free(ld, val);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		report(ld, &vpos, name, "%s", err);
	return 0;
}

static struct pos *section_seen(struct loader *ld, const char *path)
{
	for (size_t i = 0; i < ld->n_sections; i++)
		if (strcmp(ld->sections[i].path, path) == 0)
			return &ld->sections[i].where;
	return NULL;
}

/* ---- nested values as a small tree (config__node) ---- */

/* Consumes ev and its subtree into *ret (NULL after a reported problem). */
static int build_node(struct loader *ld, const char *key, struct fy_event *ev, int depth, size_t *count,
		      struct config__node **ret)
{
	_cleanup_free_ struct config__node *n = NULL;
	struct pos p = pos_of(ev, NULL);
	struct fy_token *tt = fy_event_get_tag_token(ev);
	enum fy_event_type end;
	int r;

	*ret = NULL;
	if (ev->type == FYET_ALIAS) {
		report(ld, &p, key, "aliases are not supported");
		return skip_node(ld, ev);
	}
	if (++*count > CONFIG__NODES_MAX || depth > CONFIG__DEPTH_MAX) {
		report(ld, &p, key, "too large or too deeply nested (at most %d values, %d levels)", CONFIG__NODES_MAX,
		       CONFIG__DEPTH_MAX);
		return skip_node(ld, ev);
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		event_free(ld, ev);
		return -ENOMEM;
	}
	n->line = p.line;
	n->column = p.column;
	if (ev->type == FYET_SCALAR) {
		struct config__scalar s;

		if (tt && !tag_ok(ld, ev, &p, key, TAG_STR, TAG_BOOL)) {
			event_free(ld, ev);
			return 0;
		}
		scalar_of(ev, &s);
		if (memchr(s.text, '\0', s.len)) {
			report(ld, &p, key, "must not contain NUL bytes");
			event_free(ld, ev);
			return 0;
		}
		n->kind = CONFIG__N_SCALAR;
		n->text = strndup(s.text, s.len);
		n->len = s.len;
		n->quoted = s.quoted && !(tt && fy_token_get_text0(tt) && !strcmp(fy_token_get_text0(tt), TAG_BOOL));
		n->null = s.null;
		event_free(ld, ev);
		if (!n->text)
			return -ENOMEM;
		*ret = TAKE_PTR(n);
		return 0;
	}
	if (ev->type != FYET_MAPPING_START && ev->type != FYET_SEQUENCE_START) {
		report(ld, &p, key, "unexpected YAML event");
		return skip_node(ld, ev);
	}
	if (tt && !tag_ok(ld, ev, &p, key, ev->type == FYET_MAPPING_START ? TAG_MAP : TAG_SEQ, NULL))
		return skip_node(ld, ev);
	n->kind = ev->type == FYET_MAPPING_START ? CONFIG__N_MAP : CONFIG__N_SEQ;
	end = ev->type == FYET_MAPPING_START ? FYET_MAPPING_END : FYET_SEQUENCE_END;
	event_free(ld, ev);
	for (;;) {
		struct fy_event *c = fy_parser_parse(ld->fyp);
		struct config__node *kid, **nk;

		if (!c) {
			config__node_free(TAKE_PTR(n));
			return -EBADMSG;
		}
		if (c->type == end) {
			event_free(ld, c);
			break;
		}
		r = build_node(ld, key, c, depth + 1, count, &kid);
		if (r < 0) {
			config__node_free(TAKE_PTR(n));
			return r;
		}
		if (!kid) { /* reported; keep map pairs aligned with an empty placeholder */
			kid = calloc(1, sizeof(*kid));
			if (!kid) {
				config__node_free(TAKE_PTR(n));
				return -ENOMEM;
			}
			kid->kind = CONFIG__N_SCALAR;
			kid->null = true;
			kid->line = p.line;
			kid->column = p.column;
		}
		nk = reallocarray(n->kids, n->n + 1, sizeof(*nk));
		if (!nk) {
			config__node_free(kid);
			config__node_free(TAKE_PTR(n));
			return -ENOMEM;
		}
		n->kids = nk;
		n->kids[n->n++] = kid;
	}
	*ret = TAKE_PTR(n);
	return 0;
}

static void node_report(void *ctx, int line, int column, const char *key, const char *msg)
{
	struct loader *ld = ctx;
	struct pos p = {line, column};

	report(ld, line > 0 ? &p : NULL, key, "%s", msg);
}

/* A securityPolicy value (global or a profile's): consumes val. */
static int take_policy(struct loader *ld, const char *key, struct fy_event *val, struct config_policy *pol)
{
	struct config__node *root = NULL;
	size_t count = 0;
	int r;

	r = build_node(ld, key, val, 0, &count, &root);
	if (r < 0 || !root)
		return r;
	config__policy_free(pol);
	*pol = (struct config_policy){0};
	r = config__policy_from_node(root, key, pol, node_report, ld);
	config__node_free(root);
	return r;
}

/* ---- singleuser.profileList ---- */

#define PROFILE_LIST_KEY "singleuser.profileList"
#define POLICY_KEY "singleuser.securityPolicy"

struct profile_pos {
	struct pos slug, def; /* where slug / default: true were given */
};

static void profile_free_fields(struct config_profile *p)
{
	free(p->slug);
	free(p->display_name);
	free(p->description);
	config__strv_free(p->devices, p->n_devices);
	config__policy_free(&p->policy);
}

/* A string field of a profile: non-empty (unless allow_empty), no NUL or
 * control bytes, bounded. Consumes val. */
static int take_profile_string(struct loader *ld, const char *key, struct fy_event *val, const struct pos *vpos,
			       size_t max, char **field)
{
	struct config__scalar s;
	char got[96];

	if (val->type != FYET_SCALAR || scalar_is_null(val)) {
		report(ld, vpos, key, "expected a string, got %s",
		       val->type == FYET_SCALAR ? "null" : node_kind(val, got, sizeof(got)));
		return skip_node(ld, val);
	}
	if (!tag_ok(ld, val, vpos, key, TAG_STR, NULL)) {
		event_free(ld, val);
		return 0;
	}
	scalar_of(val, &s);
	if (s.len == 0 || s.len > max || memchr(s.text, '\0', s.len)) {
		config__quote(s.text, s.len, got, sizeof(got));
		report(ld, vpos, key, "expected a non-empty string of at most %zu bytes, got %s", max, got);
		event_free(ld, val);
		return 0;
	}
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.text[i] < 0x20 && s.text[i] != '\n' && s.text[i] != '\t') {
			config__quote(s.text, s.len, got, sizeof(got));
			report(ld, vpos, key, "must not contain control characters, got %s", got);
			event_free(ld, val);
			return 0;
		}
	free(*field);
	*field = strndup(s.text, s.len);
	event_free(ld, val);
	return *field ? 0 : -ENOMEM;
}

static bool slug_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_SLUG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* kubespawner_override: {cpu_limit, mem_limit, storage_capacity, pids_limit}
 * with the ranges of the global keys. After its MAPPING_START. */
static int take_override(struct loader *ld, const char *prefix, struct config_profile *p)
{
	/* each override is its global key's row (same conversion, range and
	 * messages) read into a scratch config, then copied into the profile */
#define OVERRIDE(n, g, field, pfield)                                                                                  \
	{                                                                                                              \
		n, g, offsetof(struct config, singleuser.field), offsetof(struct config_profile, pfield),              \
		    offsetof(struct config_profile, has_##pfield),                                                     \
		    sizeof(((struct config_profile *)0)->pfield) +                                                     \
			0 * sizeof(char[sizeof(((struct config *)0)->singleuser.field) ==                              \
						 sizeof(((struct config_profile *)0)->pfield)                          \
					     ? 1                                                                       \
					     : -1]) /* same type size, or no build */                                  \
	}
	static const struct {
		const char *name, *global;
		size_t from, to, has, size;
	} keys[] = {
	    OVERRIDE("cpu_limit", "singleuser.cpu.limit", cpu_limit, cpu_limit),
	    OVERRIDE("mem_limit", "singleuser.memory.limit", memory_limit, mem_limit),
	    OVERRIDE("storage_capacity", "singleuser.storage.capacity", storage_capacity, storage_capacity),
	    OVERRIDE("pids_limit", "singleuser.pids.limit", pids_limit, pids_limit),
	    OVERRIDE("cpu_guarantee", "singleuser.cpu.guarantee", cpu_guarantee, cpu_guarantee),
	    OVERRIDE("mem_guarantee", "singleuser.memory.guarantee", memory_guarantee, mem_guarantee),
	    OVERRIDE("devices", "singleuser.devices", devices, devices), /* and n_devices, below */
	    {"security_policy", NULL, 0, 0, 0, 0},
	};
#undef OVERRIDE
	bool seen[ARRAY_SIZE(keys)] = {false};
	struct pos seen_at[ARRAY_SIZE(keys)];

	for (;;) {
		struct fy_event *kev = fy_parser_parse(ld->fyp), *val;
		char key[CONFIG__MAX_KEY + 96], q[96];
		struct config scratch;
		const char *kt;
		size_t klen = 0, i;
		struct pos kpos, vpos;
		int r;

		if (!kev)
			return -EBADMSG;
		if (kev->type == FYET_MAPPING_END) {
			event_free(ld, kev);
			return 0;
		}
		kpos = pos_of(kev, NULL);
		kt = kev->type == FYET_SCALAR ? fy_token_get_text(kev->scalar.value, &klen) : NULL;
		if (kt && klen > 0 && klen < 64 && strspn(kt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") >= klen)
			(void)nbw_snprintf(q, sizeof(q), "%.*s", (int)klen, kt);
		else
			config__quote(kt ? kt : "?", kt ? klen : 1, q, sizeof(q));
		for (i = 0; kt && i < ARRAY_SIZE(keys); i++)
			if (strlen(keys[i].name) == klen && memcmp(keys[i].name, kt, klen) == 0)
				break;
		if (kt && i < ARRAY_SIZE(keys))
			(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, keys[i].name);
		else
			(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, q);
		r = skip_node(ld, kev);
		if (r < 0)
			return r;
		val = fy_parser_parse(ld->fyp);
		if (!val)
			return -EBADMSG;
		if (!kt || i == ARRAY_SIZE(keys)) {
			report(ld, &kpos, key,
			       "unknown key (supported: cpu_limit, cpu_guarantee, mem_limit, mem_guarantee, "
			       "storage_capacity, pids_limit, devices, security_policy)");
			r = skip_node(ld, val);
			if (r < 0)
				return r;
			continue;
		}
		if (seen[i]) {
			report(ld, &kpos, key, "duplicate key (first at line %d, column %d)", seen_at[i].line,
			       seen_at[i].column);
			r = skip_node(ld, val);
			if (r < 0)
				return r;
			continue;
		}
		seen[i] = true;
		seen_at[i] = kpos;
		vpos = pos_of(val, &kpos);
		if (!keys[i].global) {
			r = take_policy(ld, key, val, &p->policy);
			if (r < 0)
				return r;
			p->has_policy = true;
			continue;
		}
		memset(&scratch, 0, sizeof(scratch));
		{
			size_t before = ld->n_errors;
			int idx = find_key(keys[i].global);

			if (idx < 0)
				return -EINVAL; /* a bug: the table lost a row */
			r = take_value_into(ld, &config__keys[idx], key, &scratch, &vpos, val);
			if (r < 0)
				return r;
			if (ld->n_errors != before)
				continue;
		}
		memcpy((char *)p + keys[i].to, (const char *)&scratch + keys[i].from, keys[i].size);
		*(bool *)((char *)p + keys[i].has) = true;
		if (keys[i].to == offsetof(struct config_profile, devices))
			p->n_devices = scratch.singleuser.n_devices;
	}
}

/* One profile mapping, after its MAPPING_START at mpos. */
static int take_profile(struct loader *ld, const char *prefix, const struct pos *mpos, struct config_profile *p,
			struct profile_pos *pp)
{
	static const char *const names[] = {"display_name", "slug", "description", "default", "kubespawner_override"};
	bool seen[ARRAY_SIZE(names)] = {false};
	struct pos seen_at[ARRAY_SIZE(names)];

	for (;;) {
		struct fy_event *kev = fy_parser_parse(ld->fyp), *val;
		char key[CONFIG__MAX_KEY + 96], q[96], got[96];
		const char *kt;
		size_t klen = 0, i;
		struct pos kpos, vpos;
		int r = 0;

		if (!kev)
			return -EBADMSG;
		if (kev->type == FYET_MAPPING_END) {
			event_free(ld, kev);
			break;
		}
		kpos = pos_of(kev, NULL);
		kt = kev->type == FYET_SCALAR ? fy_token_get_text(kev->scalar.value, &klen) : NULL;
		if (kt && klen > 0 && klen < 64 && strspn(kt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") >= klen)
			(void)nbw_snprintf(q, sizeof(q), "%.*s", (int)klen, kt);
		else
			config__quote(kt ? kt : "?", kt ? klen : 1, q, sizeof(q));
		for (i = 0; kt && i < ARRAY_SIZE(names); i++)
			if (strlen(names[i]) == klen && memcmp(names[i], kt, klen) == 0)
				break;
		if (kt && i < ARRAY_SIZE(names))
			(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, names[i]);
		else
			(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, q);
		r = skip_node(ld, kev);
		if (r < 0)
			return r;
		val = fy_parser_parse(ld->fyp);
		if (!val)
			return -EBADMSG;
		vpos = pos_of(val, &kpos);
		if (!kt || i == ARRAY_SIZE(names)) {
			report(ld, &kpos, key,
			       "unknown key (supported: display_name, slug, description, default, "
			       "kubespawner_override)");
			r = skip_node(ld, val);
		} else if (seen[i]) {
			report(ld, &kpos, key, "duplicate key (first at line %d, column %d)", seen_at[i].line,
			       seen_at[i].column);
			r = skip_node(ld, val);
		} else {
			seen[i] = true;
			seen_at[i] = kpos;
			switch (i) {
			case 0:
				r = take_profile_string(ld, key, val, &vpos, 256, &p->display_name);
				break;
			case 1: {
				size_t before = ld->n_errors;

				r = take_profile_string(ld, key, val, &vpos, CONFIG__MAX_STRING, &p->slug);
				if (r == 0 && ld->n_errors == before && !slug_ok(p->slug)) {
					config__quote(p->slug, strlen(p->slug), got, sizeof(got));
					report(ld, &vpos, key,
					       "expected 1..%d characters a-z, 0-9 and \"-\", got %s", CONFIG_SLUG_MAX,
					       got);
				}
				pp->slug = vpos;
				break;
			}
			case 2:
				r = take_profile_string(ld, key, val, &vpos, 4096, &p->description);
				break;
			case 3: {
				const struct config__key k = {.name = key, .type = CONFIG__BOOL};
				struct config scratch;

				/* a bool row of our own: same conversion and messages */
				memset(&scratch, 0, sizeof(scratch));
				{
					struct config__key kk = k;
					size_t before = ld->n_errors;

					kk.offset = offsetof(struct config, debug);
					r = take_value_into(ld, &kk, key, &scratch, &vpos, val);
					if (r == 0 && ld->n_errors == before)
						p->is_default = scratch.debug;
				}
				pp->def = vpos;
				break;
			}
			default:
				if (val->type != FYET_MAPPING_START) {
					if (scalar_is_null(val)) {
						event_free(ld, val);
						break;
					}
					report(ld, &vpos, key, "expected a mapping, got %s",
					       node_kind(val, got, sizeof(got)));
					r = skip_node(ld, val);
					break;
				}
				if (!tag_ok(ld, val, &vpos, key, TAG_MAP, NULL)) {
					r = skip_node(ld, val);
					break;
				}
				event_free(ld, val);
				r = take_override(ld, key, p);
				break;
			}
		}
		if (r < 0)
			return r;
		if (ld->oom)
			return -ENOMEM;
	}
	if (!seen[1])
		report(ld, mpos, prefix, "missing key slug");
	if (!seen[0])
		report(ld, mpos, prefix, "missing key display_name");
	if (!p->description && !(p->description = strdup("")))
		return -ENOMEM;
	return 0;
}

/* singleuser.profileList: a sequence of profile mappings. Consumes val. */
static int take_profile_list(struct loader *ld, const struct pos *kpos, struct fy_event *val)
{
	struct config *c = ld->c;
	struct profile_pos pp[CONFIG_PROFILES_MAX];
	struct pos vpos = pos_of(val, kpos);
	char got[96];
	size_t n = 0, elem = 0, first_default = SIZE_MAX;
	int r;

	if (scalar_is_null(val)) {
		event_free(ld, val);
		return 0;
	}
	if (val->type != FYET_SEQUENCE_START) {
		report(ld, &vpos, PROFILE_LIST_KEY, "expected a list of profiles, got %s",
		       node_kind(val, got, sizeof(got)));
		return skip_node(ld, val);
	}
	if (!tag_ok(ld, val, &vpos, PROFILE_LIST_KEY, TAG_SEQ, NULL))
		return skip_node(ld, val);
	event_free(ld, val);
	c->singleuser.profiles = calloc(CONFIG_PROFILES_MAX, sizeof(struct config_profile));
	if (!c->singleuser.profiles)
		return -ENOMEM;

	for (;;) {
		struct fy_event *ev = fy_parser_parse(ld->fyp);
		char prefix[CONFIG__MAX_KEY];
		struct pos p;

		if (!ev)
			return -EBADMSG;
		if (ev->type == FYET_SEQUENCE_END) {
			event_free(ld, ev);
			break;
		}
		p = pos_of(ev, &vpos);
		(void)nbw_snprintf(prefix, sizeof(prefix), "%s[%zu]", PROFILE_LIST_KEY, elem++);
		if (ev->type != FYET_MAPPING_START) {
			report(ld, &p, prefix, "expected a mapping, got %s", node_kind(ev, got, sizeof(got)));
			r = skip_node(ld, ev);
			if (r < 0)
				return r;
			continue;
		}
		if (n == CONFIG_PROFILES_MAX) {
			report(ld, &p, prefix, "more than %d profiles", CONFIG_PROFILES_MAX);
			r = skip_node(ld, ev);
			if (r < 0)
				return r;
			continue;
		}
		if (!tag_ok(ld, ev, &p, prefix, TAG_MAP, NULL)) {
			r = skip_node(ld, ev);
			if (r < 0)
				return r;
			continue;
		}
		event_free(ld, ev);
		pp[n] = (struct profile_pos){{0, 0}, {0, 0}};
		r = take_profile(ld, prefix, &p, &c->singleuser.profiles[n], &pp[n]);
		/* counted even when incomplete, so config_free frees its strings */
		c->singleuser.n_profiles = ++n;
		if (r < 0)
			return r;
		{
			struct config_profile *cur = &c->singleuser.profiles[n - 1];
			char key[CONFIG__MAX_KEY + 16], q[96];

			for (size_t j = 0; cur->slug && j + 1 < n; j++) {
				const struct config_profile *o = &c->singleuser.profiles[j];

				if (o->slug && strcmp(o->slug, cur->slug) == 0) {
					(void)nbw_snprintf(key, sizeof(key), "%s.slug", prefix);
					config__quote(cur->slug, strlen(cur->slug), q, sizeof(q));
					report(ld, &pp[n - 1].slug, key,
					       "duplicate slug %s (first at line %d, column %d)", q, pp[j].slug.line,
					       pp[j].slug.column);
					break;
				}
			}
			if (cur->is_default) {
				if (first_default == SIZE_MAX)
					first_default = n - 1;
				else {
					(void)nbw_snprintf(key, sizeof(key), "%s.default", prefix);
					report(ld, &pp[n - 1].def, key,
					       "only one profile may be the default (already %s[%zu] at line %d, "
					       "column %d)",
					       PROFILE_LIST_KEY, first_default, pp[first_default].def.line,
					       pp[first_default].def.column);
				}
			}
		}
	}
	return 0;
}

int config_profile_resolve(const struct config *c, const char *slug, const struct config_profile **ret)
{
	if (!slug || !slug[0]) {
		*ret = NULL;
		for (size_t i = 0; i < c->singleuser.n_profiles; i++)
			if (c->singleuser.profiles[i].is_default) {
				*ret = &c->singleuser.profiles[i];
				return 0;
			}
		if (c->singleuser.n_profiles > 0)
			*ret = &c->singleuser.profiles[0];
		return 0;
	}
	for (size_t i = 0; i < c->singleuser.n_profiles; i++)
		if (strcmp(c->singleuser.profiles[i].slug, slug) == 0) {
			*ret = &c->singleuser.profiles[i];
			return 0;
		}
	return -ENOENT;
}

void config_profile_choices(const struct config *c, char *buf, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < c->singleuser.n_profiles; i++) {
		int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", c->singleuser.profiles[i].slug);

		if (w < 0 || (size_t)w >= size - o) {
			buf[o] = '\0';
			return;
		}
		o += (size_t)w;
	}
}

void config_effective(const struct config *c, const struct config_profile *p, struct config *ret)
{
	*ret = *c;
	if (!p)
		return;
	if (p->has_cpu_limit)
		ret->singleuser.cpu_limit = p->cpu_limit;
	if (p->has_mem_limit)
		ret->singleuser.memory_limit = p->mem_limit;
	if (p->has_pids_limit)
		ret->singleuser.pids_limit = p->pids_limit;
	if (p->has_storage_capacity)
		ret->singleuser.storage_capacity = p->storage_capacity;
	if (p->has_cpu_guarantee)
		ret->singleuser.cpu_guarantee = p->cpu_guarantee;
	if (p->has_mem_guarantee)
		ret->singleuser.memory_guarantee = p->mem_guarantee;
	if (p->has_devices) {
		ret->singleuser.devices = p->devices;
		ret->singleuser.n_devices = p->n_devices;
	}
	if (p->has_policy)
		ret->singleuser.policy = p->policy;
}

/* The value of key path (key at kpos); consumes val and its subtree. */
static int take_node(struct loader *ld, const char *path, const struct pos *kpos, struct fy_event *val)
{
	int idx = find_key(path);
	struct pos *first;
	char got[96], hint[CONFIG__MAX_KEY];

	if (strcmp(path, POLICY_KEY) == 0) {
		first = section_seen(ld, path);
		if (first) {
			report(ld, kpos, path, "duplicate key (first at line %d, column %d)", first->line,
			       first->column);
			return skip_node(ld, val);
		}
		if (ld->n_sections < MAX_SECTIONS) {
			(void)nbw_strlcpy(ld->sections[ld->n_sections].path, path, CONFIG__MAX_KEY);
			ld->sections[ld->n_sections++].where = *kpos;
		}
		return take_policy(ld, path, val, &ld->c->singleuser.policy);
	}
	if (strcmp(path, PROFILE_LIST_KEY) == 0) {
		first = section_seen(ld, path);
		if (first) {
			report(ld, kpos, path, "duplicate key (first at line %d, column %d)", first->line,
			       first->column);
			return skip_node(ld, val);
		}
		if (ld->n_sections < MAX_SECTIONS) {
			(void)nbw_strlcpy(ld->sections[ld->n_sections].path, path, CONFIG__MAX_KEY);
			ld->sections[ld->n_sections++].where = *kpos;
		}
		return take_profile_list(ld, kpos, val);
	}
	if (idx >= 0) {
		if (ld->seen[idx]) {
			report(ld, kpos, path, "duplicate key (first at line %d, column %d)", ld->key_where[idx].line,
			       ld->key_where[idx].column);
			return skip_node(ld, val);
		}
		ld->seen[idx] = true;
		ld->key_where[idx] = *kpos;
		return take_value(ld, idx, kpos, val);
	}

	if (is_section(path)) {
		struct pos vpos = pos_of(val, kpos);

		first = section_seen(ld, path);
		if (first) {
			report(ld, kpos, path, "duplicate key (first at line %d, column %d)", first->line,
			       first->column);
			return skip_node(ld, val);
		}
		if (ld->n_sections < MAX_SECTIONS) { /* bounded by the table's sections */
			(void)nbw_strlcpy(ld->sections[ld->n_sections].path, path, CONFIG__MAX_KEY);
			ld->sections[ld->n_sections++].where = *kpos;
		}
		if (scalar_is_null(val)) { /* "hub:" with nothing under it: all defaults */
			event_free(ld, val);
			return 0;
		}
		if (val->type != FYET_MAPPING_START) {
			if (val->type == FYET_ALIAS)
				report(ld, &vpos, path, "aliases are not supported");
			else
				report(ld, &vpos, path, "expected a mapping, got %s", node_kind(val, got, sizeof(got)));
			return skip_node(ld, val);
		}
		if (!tag_ok(ld, val, &vpos, path, TAG_MAP, NULL))
			return skip_node(ld, val);
		event_free(ld, val);
		return walk_mapping(ld, path);
	}

	suggest(path, hint, sizeof(hint));
	if (hint[0])
		report(ld, kpos, path, "unknown key (did you mean \"%s\"?)", hint);
	else
		report(ld, kpos, path, "unknown key");
	return skip_node(ld, val);
}

/* After a MAPPING_START: every key/value pair up to the MAPPING_END. */
static int walk_mapping(struct loader *ld, const char *prefix)
{
	for (;;) {
		struct fy_event *kev = fy_parser_parse(ld->fyp), *val;
		char path[CONFIG__MAX_KEY + 100], q[96];
		struct pos kpos;
		const char *key;
		size_t klen = 0;
		int r;

		if (!kev)
			return -EBADMSG;
		if (kev->type == FYET_MAPPING_END) {
			event_free(ld, kev);
			return 0;
		}
		kpos = pos_of(kev, NULL);
		if (kev->type != FYET_SCALAR || scalar_is_null(kev)) {
			report(ld, &kpos, prefix, "keys must be strings, got %s",
			       kev->type == FYET_SCALAR ? "null" : node_kind(kev, q, sizeof(q)));
			r = skip_node(ld, kev);
			if (r < 0)
				return r;
			val = fy_parser_parse(ld->fyp);
			if (!val)
				return -EBADMSG;
			r = skip_node(ld, val);
			if (r < 0)
				return r;
			continue;
		}
		key = fy_token_get_text(kev->scalar.value, &klen);
		if (!key)
			key = "";
		if (klen == 0 || klen >= CONFIG__MAX_KEY || memchr(key, '\0', klen) || memchr(key, '.', klen)) {
			/* cannot be a key of ours; show it quoted so the message stays one clean line */
			config__quote(key, klen, q, sizeof(q));
			(void)nbw_snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", q);
		} else {
			for (size_t i = 0; i < klen; i++)
				if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] >= 0x7f) {
					config__quote(key, klen, q, sizeof(q));
					key = q;
					klen = strlen(q);
					break;
				}
			(void)nbw_snprintf(path, sizeof(path), "%s%s%.*s", prefix ? prefix : "", prefix ? "." : "",
					   (int)klen, key);
		}
		event_free(ld, kev);

		val = fy_parser_parse(ld->fyp);
		if (!val)
			return -EBADMSG;
		r = take_node(ld, path, &kpos, val);
		if (r < 0)
			return r;
		if (ld->oom)
			return -ENOMEM;
	}
}

/* The stream: nothing, or one document whose root is a mapping or empty. */
static int walk_stream(struct loader *ld)
{
	struct fy_event *ev;
	char got[96];
	int r;

	ev = fy_parser_parse(ld->fyp); /* STREAM_START */
	if (!ev)
		return -EBADMSG;
	event_free(ld, ev);

	ev = fy_parser_parse(ld->fyp);
	if (!ev)
		return -EBADMSG;
	if (ev->type == FYET_STREAM_END) { /* empty file or only comments */
		event_free(ld, ev);
		return 0;
	}
	event_free(ld, ev); /* DOCUMENT_START */

	ev = fy_parser_parse(ld->fyp);
	if (!ev)
		return -EBADMSG;
	if (ev->type == FYET_MAPPING_START) {
		struct pos p = pos_of(ev, NULL);

		if (!tag_ok(ld, ev, &p, NULL, TAG_MAP, NULL))
			r = skip_node(ld, ev);
		else {
			event_free(ld, ev);
			r = walk_mapping(ld, NULL);
		}
	} else if (scalar_is_null(ev)) {
		event_free(ld, ev);
		r = 0;
	} else {
		struct pos p = pos_of(ev, NULL);

		report(ld, &p, NULL, "expected a mapping at the top level, got %s", node_kind(ev, got, sizeof(got)));
		r = skip_node(ld, ev);
	}
	if (r < 0)
		return r;

	ev = fy_parser_parse(ld->fyp); /* DOCUMENT_END */
	if (!ev)
		return -EBADMSG;
	event_free(ld, ev);
	ev = fy_parser_parse(ld->fyp);
	if (!ev)
		return -EBADMSG;
	if (ev->type != FYET_STREAM_END) {
		struct pos p = pos_of(ev, NULL);

		report(ld, &p, NULL, "only one YAML document is allowed");
	}
	event_free(ld, ev);
	return 0;
}

static void noop_output(struct fy_diag *diag, void *user, const char *buf, size_t len) {}

/* Returns the first line with a syntax error (INT_MAX if none has a line). */
static int collect_syntax_errors(struct loader *ld, struct fy_diag *fyd)
{
	struct fy_diag_error *e;
	void *it = NULL;
	size_t n = 0;
	int first = INT_MAX;

	while ((e = fy_diag_errors_iterate(fyd, &it))) {
		if (e->type < FYET_ERROR)
			continue;
		if (e->line > 0 && e->line < first)
			first = e->line;
		n++;
	}
	/* drop the debris first, so the cap counts what is shown */
	loader_finish(ld, first);
	it = NULL;
	while ((e = fy_diag_errors_iterate(fyd, &it))) {
		struct pos p = {e->line, e->column};
		char msg[256];

		if (e->type < FYET_ERROR)
			continue;
		(void)nbw_strlcpy(msg, e->msg ? e->msg : "invalid YAML", sizeof(msg));
		for (char *q = msg; *q; q++) /* one clean line, whatever libfyaml quoted */
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		report(ld, &p, NULL, "%s", msg);
	}
	if (n == 0)
		report(ld, NULL, NULL, "invalid YAML");
	return first;
}

/* Length of the UTF-8 sequence at p (at most n bytes), 0 if invalid:
 * overlong forms, surrogates and values above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80) {
		*ret_cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

static int check_text(struct loader *ld, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	struct pos pos = {1, 1};

	while (p < end) {
		uint32_t cp = 0;
		size_t l = utf8_len(p, (size_t)(end - p), &cp);

		if (l == 0) {
			report(ld, &pos, NULL, "invalid UTF-8 in the file");
			return -EINVAL;
		}
		if (cp == 0) {
			report(ld, &pos, NULL, "NUL byte in the file");
			return -EINVAL;
		}
		/* YAML's c-printable: tab, LF, CR and the printable rest */
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
		    (cp >= 0x80 && cp <= 0x9f && cp != 0x85) || cp == 0xfffe || cp == 0xffff) {
			report(ld, &pos, NULL, "control character U+%04X in the file", (unsigned)cp);
			return -EINVAL;
		}
		if (cp == '\n')
			pos = (struct pos){pos.line + 1, 1};
		else
			pos.column++;
		p += l;
	}
	return 0;
}

int config_load_string(const char *text, size_t len, const char *display_name, struct config **ret,
		       struct config_diag *diag)
{
	struct loader ld = {.file = display_name ? display_name : "<config>", .diag = diag};
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_diag *fyd = NULL;
	struct config *c = NULL;
	int r;

	if (!text || !ret)
		return -EINVAL;
	_Static_assert(MAX_KEYS <= 64, "seen[] size");
	if (config__n_keys > MAX_KEYS)
		return -EINVAL;
	if (len > CONFIG__MAX_FILE_BYTES) {
		report(&ld, NULL, NULL, "file too large (more than %d bytes)", CONFIG__MAX_FILE_BYTES);
		loader_finish(&ld, INT_MAX);
		return ld.oom ? -ENOMEM : -EFBIG;
	}

	/* Only printable UTF-8 reaches libfyaml: YAML allows nothing else, libfyaml
	 * takes a NUL for the end of input, and libfyaml 0.7.12 loops forever on
	 * some invalid UTF-8 ("%\xb8"). */
	r = check_text(&ld, text, len);
	if (r < 0) {
		loader_finish(&ld, INT_MAX);
		return ld.oom ? -ENOMEM : r;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ld.c = c;
	c->source = strdup(ld.file);
	if (!c->source) {
		r = -ENOMEM;
		goto out;
	}
	r = config__set_defaults(c);
	if (r < 0)
		goto out;

	/* libfyaml's messages are collected and reported as ours, never printed */
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = noop_output;
	dcfg.colorize = false;
	dcfg.level = FYET_ERROR;
	fyd = fy_diag_create(&dcfg);
	if (!fyd) {
		r = -ENOMEM;
		goto out;
	}
	fy_diag_set_collect_errors(fyd, true);
	pcfg = (struct fy_parse_cfg){
	    .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE | FYPCF_DISABLE_MMAP_OPT,
	    .diag = fyd,
	};
	ld.fyp = fy_parser_create(&pcfg);
	if (!ld.fyp || fy_parser_set_string(ld.fyp, text, len) != 0) {
		r = -ENOMEM;
		goto out;
	}

	r = walk_stream(&ld);
	if (r == -EBADMSG) {
		(void)collect_syntax_errors(&ld, fyd);
		r = 0;
	} else if (r == 0 && ld.n_errors == 0)
		(void)config__check_cross(c, report_cross, &ld);
	if (r == 0 && ld.oom)
		r = -ENOMEM;
	if (r == 0 && ld.n_errors > 0)
		r = -EINVAL;
	if (r == 0)
		*ret = TAKE_PTR(c);
out:
	if (ld.fyp)
		fy_parser_destroy(ld.fyp);
	if (fyd)
		fy_diag_destroy(fyd);
	config_free(c);
	loader_finish(&ld, INT_MAX);
	return r;
}

/* The whole content (nbw_read_fd): a regular file from offset 0 whatever its
 * position (an fd that was read before still yields the file), anything else
 * (a pipe) up to EOF. */
int config_load_fd(int fd, const char *display_name, struct config **ret, struct config_diag *diag)
{
	struct loader ld = {.file = display_name ? display_name : "<config>", .diag = diag};
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	if (fd < 0 || !ret)
		return -EINVAL;
	r = nbw_read_fd(fd, CONFIG__MAX_FILE_BYTES, &text, &len);
	if (r == -EFBIG)
		report(&ld, NULL, NULL, "file too large (more than %d bytes)", CONFIG__MAX_FILE_BYTES);
	else if (r < 0)
		report(&ld, NULL, NULL, "cannot read: %s", strerror(-r));
	loader_finish(&ld, INT_MAX);
	if (r < 0)
		return r;
	return config_load_string(text, len, display_name, ret, diag);
}

int config_load_file(const char *path, struct config **ret, struct config_diag *diag)
{
	struct loader ld = {.file = path, .diag = diag};
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!path || !ret)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int r = -errno;

		report(&ld, NULL, NULL, "cannot open: %s", strerror(-r));
		loader_finish(&ld, INT_MAX);
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		report(&ld, NULL, NULL, "cannot stat: %s", strerror(-r));
		loader_finish(&ld, INT_MAX);
		return r;
	}
	if (S_ISDIR(st.st_mode)) {
		report(&ld, NULL, NULL, "cannot read: %s", strerror(EISDIR));
		loader_finish(&ld, INT_MAX);
		return -EISDIR;
	}
	return config_load_fd(fd, path, ret, diag);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < config__n_keys; i++) {
		const struct config__key *k = &config__keys[i];

		switch (k->type) {
		case CONFIG__STRING:
		case CONFIG__PATH:
		case CONFIG__URL:
			free(*(char **)((char *)c + k->offset));
			break;
		case CONFIG__STRLIST:
			config__strv_free(*(char ***)((char *)c + k->offset), *(size_t *)((char *)c + k->offset_n));
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < c->singleuser.n_profiles; i++)
		profile_free_fields(&c->singleuser.profiles[i]);
	free(c->singleuser.profiles);
	config__policy_free(&c->singleuser.policy);
	free(c->hub.bind_host);
	free(c->source);
	free(c);
}
