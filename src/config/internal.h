/* config: private declarations shared by config.c (loader) and table.c (keys). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CONFIG__MAX_FILE_BYTES (1024 * 1024) /* config files larger than this are refused */
#define CONFIG__MAX_ERRORS 100		     /* diagnostics collected before giving up */
#define CONFIG__MAX_STRING 4096		     /* longest string value (PATH_MAX) */
#define CONFIG__MAX_LIST 256		     /* longest string list */
#define CONFIG__MAX_KEY 128		     /* longest dotted key path */

enum config__type {
	CONFIG__STRING,	 /* free text, usually narrowed by a validate callback */
	CONFIG__PATH,	 /* absolute, normalized path, not "/" */
	CONFIG__URL,	 /* URL; the validate callback decides the shape */
	CONFIG__BOOL,	 /* true / false (YAML 1.2 core schema) */
	CONFIG__U32,	 /* decimal integer in [min, max] */
	CONFIG__U64,	 /* decimal integer in [min, max] */
	CONFIG__DOUBLE,	 /* decimal number in [dmin, dmax] */
	CONFIG__SIZE,	 /* "1G"-style byte count in [min, max] */
	CONFIG__STRLIST, /* list of non-empty strings (or one string) */
};

/* One scalar as the loader saw it. text is not NUL-terminated and may
 * contain NUL bytes (from "\0" escapes). */
struct config__scalar {
	const char *text;
	size_t len;
	bool quoted; /* quoted or block scalar, or tagged !!str: never a number/bool/null */
	bool null;   /* plain empty, "~" or "null" */
};

/* Extra checks on a converted candidate value before it is stored. value
 * points at the candidate (char ** for string types, uint32_t *, ...).
 * May fill derived fields of c. Returns < 0 with a reason in err. */
typedef int (*config__validate_fn)(struct config *c, const void *value, char *err, size_t err_size);

struct config__key {
	const char *name; /* dotted path, e.g. "singleuser.memory.limit" */
	enum config__type type;
	const char *what;	     /* overrides the type's "expected ..." phrase */
	uint64_t min, max;	     /* integer and size types */
	double dmin, dmax;	     /* CONFIG__DOUBLE */
	const char *def;	     /* default, as text, run through the same conversion */
	const char *const *def_list; /* default of a CONFIG__STRLIST, NULL-terminated */
	config__validate_fn validate;
	size_t offset;	 /* of the field in struct config */
	size_t offset_n; /* CONFIG__STRLIST: of the size_t element count */
	bool allow_empty; /* CONFIG__STRLIST: [] is a valid value (default: refused) */
};

extern const struct config__key config__keys[];
extern const size_t config__n_keys;

/* Convert s for key k, validate, and store it into c (freeing the previous
 * value). On a bad value returns -EINVAL with the reason in err (e.g.
 * `expected an integer in 1..65534, got "abc"`); -ENOMEM on allocation
 * failure. */
int config__set_scalar(struct config *c, const struct config__key *k, const struct config__scalar *s, char *err,
		       size_t err_size);
/* Store a string list (takes ownership of list on success and on failure). */
int config__set_list(struct config *c, const struct config__key *k, char **list, size_t n, char *err, size_t err_size);
/* Fill every key with its default. -EINVAL only on a bad table (a bug). */
int config__set_defaults(struct config *c);
/* Checks that involve more than one key. Each problem is reported through
 * report(ctx, key_name, message). Returns the number of problems. */
int config__check_cross(struct config *c, void (*report)(void *ctx, const char *key, const char *msg), void *ctx);

/* "expected ..." phrase of a key, e.g. "an integer in 1..65534". */
void config__describe(const struct config__key *k, char *buf, size_t size);
/* Printable, quoted, truncated rendering of a scalar for messages: "abc". */
void config__quote(const char *text, size_t len, char *buf, size_t size);
/* Render bytes as the shortest exact size text: 67108864 -> "64M". */
void config__format_size(uint64_t v, char *buf, size_t size);
/* Frees a NULL-terminated or counted string list. */
void config__strv_free(char **list, size_t n);

/* ---- nested values (securityPolicy) ----
 * A subtree of the file as a small tree, built by the loader from parser
 * events (bounded: CONFIG__NODES_MAX nodes, CONFIG__DEPTH_MAX deep), so that
 * structured settings can be checked with ordinary code. Scalars own a copy
 * of their text (NUL-terminated; embedded NULs are refused by the builder). */
#define CONFIG__NODES_MAX 20000
#define CONFIG__DEPTH_MAX 12

enum config__node_kind { CONFIG__N_SCALAR, CONFIG__N_MAP, CONFIG__N_SEQ };
struct config__node {
	enum config__node_kind kind;
	int line, column;
	char *text; /* scalar */
	size_t len;
	bool quoted, null;
	struct config__node **kids; /* map: key, value, key, value, ...; seq: the items */
	size_t n;
};
void config__node_free(struct config__node *n);

/* Messages go through report(ctx, line, column, key, message). */
typedef void (*config__node_report_fn)(void *ctx, int line, int column, const char *key, const char *msg);

/* singleuser.securityPolicy (or a profile's security_policy) at key: fills
 * *ret (zeroed by the caller) and reports every problem. Returns 0 (problems
 * go through report; *ret is then incomplete but freeable) or -ENOMEM. */
int config__policy_from_node(const struct config__node *n, const char *key, struct config_policy *ret,
			     config__node_report_fn report, void *ctx);
void config__policy_free(struct config_policy *p);
