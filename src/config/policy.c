/* config: singleuser.securityPolicy — KubeArmor-shaped runtime policy.
 *
 * Only the shape and the values are checked here (what can be known from the
 * file alone); where a rule may point (below /usr, in the home, ...) is the
 * sandbox's business (sandbox_policy_check), since it depends on the pod's
 * mounts. Every message names the key path, e.g.
 *   singleuser.securityPolicy.rules[2].process.matchPaths[0].path */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "config/internal.h"

#define SPECS_MAX 64

struct pctx {
	config__node_report_fn report;
	void *ctx;
	struct config_policy *pol;
	bool oom;
};

static void __attribute__((format(printf, 4, 5)))
fail(struct pctx *p, const struct config__node *n, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->report(p->ctx, n ? n->line : 0, n ? n->column : 0, key, msg);
}

void config__node_free(struct config__node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		config__node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

void config__policy_free(struct config_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++)
		free(p->rules[i].path);
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
}

static const char *kind_name(const struct config__node *n, char *buf, size_t size)
{
	if (n->kind == CONFIG__N_MAP)
		return "a mapping";
	if (n->kind == CONFIG__N_SEQ)
		return "a sequence";
	if (n->null)
		return "null";
	config__quote(n->text, n->len, buf, size);
	return buf;
}

static bool want(struct pctx *p, const struct config__node *n, const char *key, enum config__node_kind kind)
{
	static const char *const names[] = {"a string", "a mapping", "a sequence"};
	char got[96];

	if (n->kind == kind && !(kind == CONFIG__N_SCALAR && n->null))
		return true;
	fail(p, n, key, "expected %s, got %s", names[kind], kind_name(n, got, sizeof(got)));
	return false;
}

/* Walk a mapping's keys against names[]: calls back with the index, or
 * reports unknown and duplicate keys. hint: text after "unknown key". */
typedef int (*field_fn)(struct pctx *p, size_t idx, const struct config__node *val, const char *key, void *ud);

static int each_field(struct pctx *p, const struct config__node *map, const char *prefix, const char *const *names,
		      size_t n_names, const char *hint, field_fn fn, void *ud, bool *seen)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct config__node *k = map->kids[i], *v = map->kids[i + 1];
		char key[CONFIG__MAX_KEY + 160], q[96];
		size_t j;
		int r;

		if (k->kind != CONFIG__N_SCALAR || k->null) {
			fail(p, k, prefix, "keys must be strings, got %s", kind_name(k, q, sizeof(q)));
			continue;
		}
		for (j = 0; j < n_names; j++)
			if (strlen(names[j]) == k->len && !memcmp(names[j], k->text, k->len))
				break;
		if (j == n_names) {
			if (k->len > 0 && k->len < 64 &&
			    strspn(k->text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == k->len)
				(void)nbw_snprintf(q, sizeof(q), "%s", k->text);
			else
				config__quote(k->text, k->len, q, sizeof(q));
			(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, q);
			fail(p, k, key, "unknown key (%s)", hint);
			continue;
		}
		(void)nbw_snprintf(key, sizeof(key), "%s.%s", prefix, names[j]);
		if (seen[j]) {
			fail(p, k, key, "duplicate key");
			continue;
		}
		seen[j] = true;
		r = fn(p, j, v, key, ud);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool scalar_is(const struct config__node *n, const char *s)
{
	return n->kind == CONFIG__N_SCALAR && !n->null && n->len == strlen(s) && !memcmp(n->text, s, n->len);
}

static bool take_bool(struct pctx *p, const struct config__node *n, const char *key, bool *ret)
{
	char got[96];

	if (!n->quoted && (scalar_is(n, "true") || scalar_is(n, "True") || scalar_is(n, "TRUE"))) {
		*ret = true;
		return true;
	}
	if (!n->quoted && (scalar_is(n, "false") || scalar_is(n, "False") || scalar_is(n, "FALSE"))) {
		*ret = false;
		return true;
	}
	fail(p, n, key, "expected true or false, got %s", kind_name(n, got, sizeof(got)));
	return false;
}

/* 0 = not given; else a CONFIG_ACTION_*; -1 after a reported error. */
static int take_action(struct pctx *p, const struct config__node *n, const char *key)
{
	char got[96];

	if (scalar_is(n, "Allow"))
		return CONFIG_ACTION_ALLOW;
	if (scalar_is(n, "Audit"))
		return CONFIG_ACTION_AUDIT;
	if (scalar_is(n, "Block"))
		return CONFIG_ACTION_BLOCK;
	fail(p, n, key, "expected Allow, Audit or Block, got %s", kind_name(n, got, sizeof(got)));
	return -1;
}

/* An absolute path of printable ASCII without spaces (the guard's policy
 * format), normalised: no "//", ".", ".." components. A directory may end in
 * '/' (KubeArmor writes "/usr/bin/"); the stored form never does, except "/". */
static char *take_path(struct pctx *p, const struct config__node *n, const char *key, bool dir)
{
	char got[96];
	size_t len;
	char *v;

	if (!want(p, n, key, CONFIG__N_SCALAR))
		return NULL;
	config__quote(n->text, n->len, got, sizeof(got));
	len = n->len;
	if (len == 0 || n->text[0] != '/' || len > CONFIG_POLICY_PATH_MAX) {
		fail(p, n, key, "expected an absolute path of at most %d bytes, got %s", CONFIG_POLICY_PATH_MAX, got);
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)n->text[i] <= 0x20 || (unsigned char)n->text[i] >= 0x7f) {
			fail(p, n, key, "only printable ASCII without spaces is supported in paths, got %s", got);
			return NULL;
		}
	if (len > 1 && n->text[len - 1] == '/') {
		if (!dir) {
			fail(p, n, key, "%s names a directory: use matchDirectories (dir:) for it", got);
			return NULL;
		}
		len--;
	}
	for (size_t i = 1; i <= len; i++) {
		size_t s = i, e = i;

		while (e < len && n->text[e] != '/')
			e++;
		if (len > 1 && (e == s || (e - s == 1 && n->text[s] == '.') ||
				(e - s == 2 && n->text[s] == '.' && n->text[s + 1] == '.'))) {
			fail(p, n, key, "must be a normalized path (no \"//\", \".\" or \"..\"), got %s", got);
			return NULL;
		}
		i = e;
	}
	v = strndup(n->text, len);
	if (!v)
		p->oom = true;
	return v;
}

/* ---- one entry of matchPaths / matchDirectories / matchProtocols ---- */

struct entry_ud {
	enum config_rule_section section;
	bool dir, network;
	struct config_policy_rule rule;
	bool has_action, bad;
	const struct config__node *where;
};

static int entry_field(struct pctx *p, size_t idx, const struct config__node *v, const char *key, void *udp)
{
	struct entry_ud *u = udp;
	char got[96];

	/* names: path|dir|protocol, action, recursive, readOnly, ownerOnly, fromSource */
	switch (idx) {
	case 0:
		if (u->network) {
			static const struct {
				const char *name;
				unsigned bit;
			} protos[] = {{"tcp", CONFIG_NET_TCP}, {"udp", CONFIG_NET_UDP}, {"icmp", CONFIG_NET_ICMP},
				      {"raw", CONFIG_NET_RAW}};
			size_t i;

			for (i = 0; i < ARRAY_SIZE(protos); i++)
				if (v->kind == CONFIG__N_SCALAR && !v->null && v->len == strlen(protos[i].name) &&
				    !strncasecmp(v->text, protos[i].name, v->len))
					break;
			if (i == ARRAY_SIZE(protos)) {
				fail(p, v, key, "expected tcp, udp, icmp or raw, got %s", kind_name(v, got, sizeof(got)));
				u->bad = true;
			} else
				u->rule.protocol = protos[i].bit;
		} else {
			u->rule.path = take_path(p, v, key, u->dir);
			if (!u->rule.path)
				u->bad = true;
		}
		break;
	case 1: {
		int a = take_action(p, v, key);

		if (a < 0)
			u->bad = true;
		else {
			u->rule.action = (enum config_action)a;
			u->has_action = true;
		}
		break;
	}
	case 2:
		if (!u->dir) {
			fail(p, v, key, "recursive applies to matchDirectories entries only");
			u->bad = true;
		} else if (!take_bool(p, v, key, &u->rule.recursive))
			u->bad = true;
		break;
	case 3:
		if (u->section != CONFIG_RULE_FILE) {
			fail(p, v, key, "readOnly applies to file rules only");
			u->bad = true;
		} else if (!take_bool(p, v, key, &u->rule.read_only))
			u->bad = true;
		break;
	default:
		fail(p, v, key,
		     "is not supported by nbwarden: a rule applies to every process of the sandbox (one user's "
		     "server and kernels, all the same uid)");
		u->bad = true;
		break;
	}
	return p->oom ? -ENOMEM : 0;
}

/* section: the section mapping's default action (0 = none); spec likewise. */
static int take_entries(struct pctx *p, const struct config__node *seq, const char *key, enum config_rule_section sec,
			bool dir, int sec_action, int spec_action)
{
	static const char *const names_path[] = {"path", "action", "recursive", "readOnly", "ownerOnly", "fromSource"};
	static const char *const names_dir[] = {"dir", "action", "recursive", "readOnly", "ownerOnly", "fromSource"};
	static const char *const names_net[] = {"protocol", "action", "recursive", "readOnly", "ownerOnly",
						"fromSource"};
	const bool network = sec == CONFIG_RULE_NETWORK;
	const char *const *names = network ? names_net : dir ? names_dir : names_path;

	if (!want(p, seq, key, CONFIG__N_SEQ))
		return 0;
	for (size_t i = 0; i < seq->n; i++) {
		const struct config__node *e = seq->kids[i];
		struct entry_ud u = {.section = sec, .dir = dir, .network = network, .where = e};
		bool seen[6] = {false};
		char ekey[CONFIG__MAX_KEY + 200];
		struct config_policy_rule *nr;
		int r;

		(void)nbw_snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
		if (!want(p, e, ekey, CONFIG__N_MAP))
			continue;
		u.rule.section = sec;
		u.rule.dir = dir;
		u.rule.line = e->line;
		u.rule.column = e->column;
		r = each_field(p, e, ekey, names, 6,
			       network ? "supported: protocol, action"
			       : sec == CONFIG_RULE_FILE
				   ? (dir ? "supported: dir, recursive, readOnly, action" : "supported: path, readOnly, action")
				   : (dir ? "supported: dir, recursive, action" : "supported: path, action"),
			       entry_field, &u, seen);
		if (r < 0) {
			free(u.rule.path);
			return r;
		}
		if (!seen[0]) {
			fail(p, e, ekey, "missing key %s", names[0]);
			u.bad = true;
		}
		if (!u.has_action) {
			if (sec_action > 0)
				u.rule.action = (enum config_action)sec_action;
			else if (spec_action > 0)
				u.rule.action = (enum config_action)spec_action;
			else if (sec_action == 0 && spec_action == 0) {
				fail(p, e, ekey, "no action: give one (Allow, Audit or Block) here, in the section or in the rule");
				u.bad = true;
			} else
				u.bad = true; /* the section's or spec's action was wrong: reported there */
		}
		if (!u.bad && network && u.rule.protocol == CONFIG_NET_RAW && u.rule.action != CONFIG_ACTION_BLOCK) {
			fail(p, e, ekey, "raw sockets are always refused by the sandbox's seccomp profile; only Block "
					 "can be said of them");
			u.bad = true;
		}
		if (u.bad) {
			free(u.rule.path);
			continue;
		}
		if (p->pol->n_rules >= CONFIG_POLICY_RULES_MAX) {
			fail(p, e, ekey, "more than %d rules in one policy", CONFIG_POLICY_RULES_MAX);
			free(u.rule.path);
			return 0;
		}
		nr = reallocarray(p->pol->rules, p->pol->n_rules + 1, sizeof(*nr));
		if (!nr) {
			free(u.rule.path);
			return -ENOMEM;
		}
		p->pol->rules = nr;
		p->pol->rules[p->pol->n_rules++] = u.rule;
	}
	return 0;
}

/* ---- one section: process / file / network ---- */

struct section_ud {
	enum config_rule_section sec;
	int spec_action;
	const struct config__node *paths, *dirs, *protos;
	const char *pkey, *dkey;
	char paths_key[CONFIG__MAX_KEY + 200], dirs_key[CONFIG__MAX_KEY + 200];
	int action; /* 0 none, -1 bad */
};

static int section_field(struct pctx *p, size_t idx, const struct config__node *v, const char *key, void *udp)
{
	struct section_ud *u = udp;

	if (u->sec == CONFIG_RULE_NETWORK) {
		/* matchProtocols, action */
		if (idx == 0) {
			u->protos = v;
			(void)nbw_strlcpy(u->paths_key, key, sizeof(u->paths_key));
		} else {
			u->action = take_action(p, v, key);
		}
		return 0;
	}
	/* matchPaths, matchDirectories, action, matchPatterns */
	switch (idx) {
	case 0:
		u->paths = v;
		(void)nbw_strlcpy(u->paths_key, key, sizeof(u->paths_key));
		break;
	case 1:
		u->dirs = v;
		(void)nbw_strlcpy(u->dirs_key, key, sizeof(u->dirs_key));
		break;
	case 2:
		u->action = take_action(p, v, key);
		break;
	default:
		fail(p, v, key, "is not supported by nbwarden (Landlock rules name paths, not patterns): use "
				"matchPaths or matchDirectories");
		break;
	}
	return 0;
}

static int take_section(struct pctx *p, const struct config__node *v, const char *key, enum config_rule_section sec,
			int spec_action)
{
	static const char *const names_fs[] = {"matchPaths", "matchDirectories", "action", "matchPatterns"};
	static const char *const names_net[] = {"matchProtocols", "action"};
	struct section_ud u = {.sec = sec, .spec_action = spec_action};
	bool seen[4] = {false};
	int r;

	if (!want(p, v, key, CONFIG__N_MAP))
		return 0;
	if (sec == CONFIG_RULE_NETWORK)
		r = each_field(p, v, key, names_net, 2, "supported: matchProtocols, action", section_field, &u, seen);
	else
		r = each_field(p, v, key, names_fs, 4, "supported: matchPaths, matchDirectories, action", section_field,
			       &u, seen);
	if (r < 0)
		return r;
	if (!u.paths && !u.dirs && !u.protos) {
		fail(p, v, key, "%s", sec == CONFIG_RULE_NETWORK ? "missing key matchProtocols"
								 : "missing key matchPaths or matchDirectories");
		return 0;
	}
	if (u.paths && (r = take_entries(p, u.paths, u.paths_key, sec, false, u.action, spec_action)) < 0)
		return r;
	if (u.dirs && (r = take_entries(p, u.dirs, u.dirs_key, sec, true, u.action, spec_action)) < 0)
		return r;
	if (u.protos && (r = take_entries(p, u.protos, u.paths_key, sec, false, u.action, spec_action)) < 0)
		return r;
	return 0;
}

/* ---- one spec of rules[] ---- */

struct spec_ud {
	const struct config__node *sections[3];
	char keys[3][CONFIG__MAX_KEY + 120];
	int action;
};

static int spec_field(struct pctx *p, size_t idx, const struct config__node *v, const char *key, void *udp)
{
	struct spec_ud *u = udp;

	if (idx < 3) {
		u->sections[idx] = v;
		(void)nbw_strlcpy(u->keys[idx], key, sizeof(u->keys[idx]));
	} else if (idx == 3)
		u->action = take_action(p, v, key);
	else
		fail(p, v, key, "is not supported by nbwarden: capabilities are always all dropped, and syscalls are "
				"governed by the seccomp profile");
	return 0;
}

static int take_spec(struct pctx *p, const struct config__node *v, const char *key)
{
	static const char *const names[] = {"process", "file", "network", "action", "capabilities", "syscalls"};
	static const enum config_rule_section secs[] = {CONFIG_RULE_PROCESS, CONFIG_RULE_FILE, CONFIG_RULE_NETWORK};
	struct spec_ud u = {.action = 0};
	bool seen[6] = {false};
	int r;

	if (!want(p, v, key, CONFIG__N_MAP))
		return 0;
	r = each_field(p, v, key, names, 6, "supported: process, file, network, action", spec_field, &u, seen);
	if (r < 0)
		return r;
	if (!u.sections[0] && !u.sections[1] && !u.sections[2]) {
		fail(p, v, key, "missing key process, file or network");
		return 0;
	}
	for (size_t i = 0; i < 3; i++)
		if (u.sections[i] && (r = take_section(p, u.sections[i], u.keys[i], secs[i], u.action)) < 0)
			return r;
	return 0;
}

/* ---- the policy ---- */

static bool take_posture(struct pctx *p, const struct config__node *v, const char *key, enum config_posture *ret)
{
	char got[96];

	if (v->kind == CONFIG__N_SCALAR && !v->null && v->len == 5 && !strncasecmp(v->text, "block", 5)) {
		*ret = CONFIG_POSTURE_BLOCK;
		return true;
	}
	if (v->kind == CONFIG__N_SCALAR && !v->null && v->len == 5 && !strncasecmp(v->text, "audit", 5)) {
		*ret = CONFIG_POSTURE_AUDIT;
		return true;
	}
	fail(p, v, key, "expected block or audit, got %s", kind_name(v, got, sizeof(got)));
	return false;
}

static int posture_field(struct pctx *p, size_t idx, const struct config__node *v, const char *key, void *udp)
{
	(void)udp;
	(void)take_posture(p, v, key,
			   idx == 0 ? &p->pol->posture_process : idx == 1 ? &p->pol->posture_file : &p->pol->posture_network);
	return 0;
}

static int top_field(struct pctx *p, size_t idx, const struct config__node *v, const char *key, void *udp)
{
	static const char *const posture_names[] = {"process", "file", "network"};
	char got[96];

	(void)udp;
	switch (idx) {
	case 0:
		if (scalar_is(v, "require"))
			p->pol->require = true;
		else if (scalar_is(v, "best-effort"))
			p->pol->require = false;
		else
			fail(p, v, key, "expected best-effort or require, got %s", kind_name(v, got, sizeof(got)));
		return 0;
	case 1: {
		bool seen[3] = {false};

		if (!want(p, v, key, CONFIG__N_MAP))
			return 0;
		return each_field(p, v, key, posture_names, 3, "supported: process, file, network", posture_field, NULL,
				  seen);
	}
	default:
		if (v->kind == CONFIG__N_SCALAR && v->null)
			return 0;
		if (!want(p, v, key, CONFIG__N_SEQ))
			return 0;
		if (v->n > SPECS_MAX) {
			fail(p, v, key, "more than %d policies", SPECS_MAX);
			return 0;
		}
		for (size_t i = 0; i < v->n; i++) {
			char skey[CONFIG__MAX_KEY + 120];
			int r;

			(void)nbw_snprintf(skey, sizeof(skey), "%s[%zu]", key, i);
			r = take_spec(p, v->kids[i], skey);
			if (r < 0)
				return r;
		}
		return 0;
	}
}

int config__policy_from_node(const struct config__node *n, const char *key, struct config_policy *ret,
			     config__node_report_fn report, void *ctx)
{
	static const char *const names[] = {"landlock", "defaultPosture", "rules"};
	struct pctx p = {.report = report, .ctx = ctx, .pol = ret};
	bool seen[3] = {false};
	int r;

	if (n->kind == CONFIG__N_SCALAR && n->null)
		return 0;
	if (!want(&p, n, key, CONFIG__N_MAP))
		return 0;
	r = each_field(&p, n, key, names, 3, "supported: landlock, defaultPosture, rules", top_field, NULL, seen);
	if (r < 0 || p.oom)
		return -ENOMEM;
	return 0;
}
