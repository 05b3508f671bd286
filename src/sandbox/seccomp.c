/* sandbox: the default seccomp profile (OCI linux.seccomp).
 *
 * The profile is data, not code: share/seccomp/default.json (see its
 * README.md for the reasoning: Docker's default allowlist for a container
 * without capabilities, made stricter). It is embedded into the binary at
 * build time, so a running daemon never reads it from a path someone could
 * swap, and it is parsed and checked here every time a spec is built. A
 * malformed profile is a build defect: the unit tests parse the embedded copy;
 * here it fails the spawn rather than starting a pod without a filter. */
#include "sandbox/internal.h"
#include "sandbox/seccomp-profile.h"

#include <errno.h>
#include <string.h>
#include <seccomp.h>

#if defined(__x86_64__)
#define NATIVE_ARCH "SCMP_ARCH_X86_64"
#elif defined(__aarch64__)
#define NATIVE_ARCH "SCMP_ARCH_AARCH64"
#else
#define NATIVE_ARCH "SCMP_ARCH_NATIVE_UNSUPPORTED"
#endif

#define PROFILE_MAX (256 * 1024)

static bool in_set(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

static bool action_valid(const char *a)
{
	static const char *const actions[] = { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
					       "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
					       "SCMP_ACT_TRAP" };
	return in_set(a, actions, sizeof(actions) / sizeof(actions[0]));
}

static bool op_valid(const char *op)
{
	static const char *const ops[] = { "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",        "SCMP_CMP_EQ",
					   "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ" };
	return in_set(op, ops, sizeof(ops) / sizeof(ops[0]));
}

static bool syscall_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool errno_valid(json_t *v)
{
	return !v || (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 4096);
}

static bool rule_valid(json_t *rule)
{
	json_t *names = json_object_get(rule, "names"), *args = json_object_get(rule, "args"), *v;
	const char *action = json_string_value(json_object_get(rule, "action"));
	size_t i;

	if (!json_is_object(rule) || !json_is_array(names) || json_array_size(names) == 0 || !action_valid(action) ||
	    !errno_valid(json_object_get(rule, "errnoRet")))
		return false;
	json_array_foreach(names, i, v)
	{
		if (!syscall_name_valid(json_string_value(v)))
			return false;
	}
	if (!args)
		return true;
	if (!json_is_array(args) || json_array_size(args) > 6)
		return false;
	json_array_foreach(args, i, v)
	{
		json_t *index = json_object_get(v, "index"), *value = json_object_get(v, "value"),
		       *two = json_object_get(v, "valueTwo");
		if (!json_is_integer(index) || json_integer_value(index) < 0 || json_integer_value(index) > 5 ||
		    !json_is_integer(value) || (two && !json_is_integer(two)) ||
		    !op_valid(json_string_value(json_object_get(v, "op"))))
			return false;
	}
	return true;
}

int sandbox__seccomp_parse(const char *data, size_t len, json_t **ret)
{
	static const char *const flags_known[] = { "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
						   "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" };
	json_t *p, *archs, *flags, *syscalls, *v;
	json_error_t jerr;
	size_t i;

	if (!data || len == 0 || len > PROFILE_MAX)
		return -EINVAL;
	p = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!p)
		return -EINVAL;
	archs = json_object_get(p, "architectures");
	flags = json_object_get(p, "flags");
	syscalls = json_object_get(p, "syscalls");
	/* Native ABI only: the i386 (int 0x80, socketcall multiplexing) and x32
	 * entry points are refused by the runtime when they are not listed. */
	if (!json_is_object(p) || !action_valid(json_string_value(json_object_get(p, "defaultAction"))) ||
	    !errno_valid(json_object_get(p, "defaultErrnoRet")) || !json_is_array(archs) ||
	    json_array_size(archs) != 1 || !json_string_value(json_array_get(archs, 0)) ||
	    strcmp(json_string_value(json_array_get(archs, 0)), NATIVE_ARCH) != 0 || (flags && !json_is_array(flags)) ||
	    !json_is_array(syscalls))
		goto invalid;
	json_array_foreach(flags, i, v)
	{
		if (!in_set(json_string_value(v), flags_known, sizeof(flags_known) / sizeof(flags_known[0])))
			goto invalid;
	}
	json_array_foreach(syscalls, i, v)
	{
		if (!rule_valid(v))
			goto invalid;
	}
	*ret = p;
	return 0;
invalid:
	json_decref(p);
	return -EINVAL;
}

json_t *sandbox__seccomp_profile(void)
{
	json_t *p = NULL;

	if (sandbox__seccomp_parse((const char *)sandbox__seccomp_default_json, sandbox__seccomp_default_json_len,
				   &p) < 0)
		return NULL;
	/* runc 1.1 refuses any "flags" ("seccomp flags are not yet supported by
	 * runc"; supported from runc 1.2). The logging copy of this filter that
	 * nbwarden-guard stacks (sandbox_seccomp_log_install) carries
	 * SECCOMP_FILTER_FLAG_LOG instead, for every runtime. */
	json_object_del(p, "flags");
	return p;
}

static uint32_t action_of(json_t *action, json_t *errno_ret, uint32_t default_errno)
{
	const char *a = json_string_value(action);
	uint32_t e = errno_ret ? (uint32_t)json_integer_value(errno_ret) : default_errno;

	if (!strcmp(a, "SCMP_ACT_ALLOW"))
		return SCMP_ACT_ALLOW;
	if (!strcmp(a, "SCMP_ACT_ERRNO"))
		return SCMP_ACT_ERRNO(e);
	if (!strcmp(a, "SCMP_ACT_LOG"))
		return SCMP_ACT_LOG;
	if (!strcmp(a, "SCMP_ACT_TRAP"))
		return SCMP_ACT_TRAP;
	if (!strcmp(a, "SCMP_ACT_KILL_PROCESS"))
		return SCMP_ACT_KILL_PROCESS;
	return SCMP_ACT_KILL_THREAD; /* SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD */
}

static enum scmp_compare op_of(const char *op)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = { { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
		    { "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
		    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ } };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name))
			return ops[i].op;
	return _SCMP_CMP_MIN;
}

int sandbox__seccomp_compile(json_t *p, int default_errno, bool log_copy, scmp_filter_ctx *ret)
{
	uint32_t derrno = default_errno > 0 ? (uint32_t)default_errno
					    : (uint32_t)json_integer_value(json_object_get(p, "defaultErrnoRet"));
	scmp_filter_ctx ctx;
	json_t *rule, *name;
	size_t i, k;
	int r;

	if (!derrno)
		derrno = EPERM;
	ctx = seccomp_init(action_of(json_object_get(p, "defaultAction"), NULL, derrno));
	if (!ctx)
		return -ENOMEM;
	/* A call from another ABI (i386 int 0x80, x32) gets the default action. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action_of(json_object_get(p, "defaultAction"), NULL, derrno));
	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
	{
		uint32_t action = action_of(json_object_get(rule, "action"), json_object_get(rule, "errnoRet"), derrno);

		/* A designed answer (clone3 → ENOSYS, so glibc falls back to clone) is
		 * not a refusal worth a record: the logging copy lets it through and
		 * the runtime's filter, stacked below, still gives the answer unlogged. */
		if (log_copy && json_object_get(rule, "errnoRet") &&
		    json_integer_value(json_object_get(rule, "errnoRet")) != (json_int_t)derrno)
			action = SCMP_ACT_ALLOW;
		json_t *args = json_object_get(rule, "args");
		struct scmp_arg_cmp cmp[6];
		unsigned n = 0;

		/* As runc builds it: value is datum_a (the mask for MASKED_EQ),
		 * valueTwo datum_b; the args of one rule are AND-ed. */
		for (k = 0; args && k < json_array_size(args) && k < 6; k++) {
			json_t *a = json_array_get(args, k);
			cmp[n++] = (struct scmp_arg_cmp){
				.arg = (unsigned)json_integer_value(json_object_get(a, "index")),
				.op = op_of(json_string_value(json_object_get(a, "op"))),
				.datum_a = (scmp_datum_t)json_integer_value(json_object_get(a, "value")),
				.datum_b = (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo")),
			};
		}
		json_array_foreach(json_object_get(rule, "names"), k, name)
		{
			int nr = seccomp_syscall_resolve_name(json_string_value(name));
			if (nr == __NR_SCMP_ERROR)
				continue; /* not on this architecture: runc skips it too */
			if (r >= 0)
				r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
		}
	}
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}
