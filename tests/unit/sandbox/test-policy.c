/* The runtime policy compiler (src/sandbox/policy.c): baseline, KubeArmor
 * rules, Block carve-outs against the host's real /usr, postures, network,
 * audit watches, and where rules may point. */
#include "test.h"

#include "common.h"
#include "common/common.h"
#include "sandbox/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct config cfg;
static struct sandbox_paths paths;
static struct config_policy_rule rules[8];

static int setup(void **state)
{
	(void)state;
	test_config_defaults(&cfg, "/var/lib/nbwarden");
	memset(rules, 0, sizeof(rules));
	assert_int_equal(sandbox_paths_get(&cfg, "alice", &paths), 0);
	return 0;
}

static void set_rules(size_t n)
{
	cfg.singleuser.policy.rules = rules;
	cfg.singleuser.policy.n_rules = n;
}

static char *policy(void)
{
	struct sandbox_error err = {0};
	char *text = NULL;
	size_t len = 0;
	int r = sandbox_policy_compile(&cfg, &paths, &text, &len, NULL, &err);

	if (r < 0)
		print_error("policy: %s\n", err.message);
	assert_int_equal(r, 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_baseline(void **state)
{
	_cleanup_free_ char *t = policy();
	char real[PATH_MAX];

	(void)state;
	assert_true(has_line(t, "nbwarden-guard-policy 1"));
	assert_true(has_line(t, "landlock best-effort"));
	assert_true(has_line(t, "memfd deny"));
	assert_true(has_line(t, "write /home/jovyan"));
	assert_true(has_line(t, "read /usr/lib"));
	assert_false(has_line(t, "read /usr/bin"));
	assert_false(has_line(t, "exec /usr"));
	assert_non_null(realpath("/usr/bin/python3", real));
	{
		char want[PATH_MAX + 8];

		(void)snprintf(want, sizeof(want), "exec %s", real);
		assert_true(has_line(t, want));
	}
	assert_null(strstr(t, "net-deny"));
	cfg.singleuser.policy.require = true;
	free(t);
	t = policy();
	assert_true(has_line(t, "landlock require 6"));
}

static void test_allow_dir_block_one(void **state)
{
	_cleanup_free_ char *t = NULL;
	size_t execs = 0, files = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_ALLOW, .dir = true,
					       .recursive = true, .path = "/usr/bin"};
	rules[1] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_BLOCK,
					       .path = "/usr/bin/ls"};
	set_rules(1);
	t = policy();
	assert_true(has_line(t, "exec /usr/bin"));
	free(t);

	set_rules(2);
	t = policy();
	/* the directory grant is split: every other regular file, never ls, never the dir */
	assert_false(has_line(t, "exec /usr/bin"));
	assert_false(has_line(t, "exec /usr/bin/ls"));
	assert_true(has_line(t, "exec /usr/bin/id"));
	assert_true(has_line(t, "exec /usr/bin/cat"));
	d = opendir("/usr/bin");
	assert_non_null(d);
	while ((de = readdir(d))) {
		char line[600];
		struct stat st;

		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		(void)snprintf(line, sizeof(line), "exec /usr/bin/%s", de->d_name);
		if (S_ISLNK(st.st_mode))
			assert_false(has_line(t, line)); /* a link would follow to its target: never granted */
		else if (S_ISREG(st.st_mode) && strcmp(de->d_name, "ls") != 0) {
			files++;
			execs += has_line(t, line);
		}
	}
	closedir(d);
	assert_true(files > 10);
	assert_int_equal(execs, files);
}

static void test_block_in_readable_tree(void **state)
{
	_cleanup_free_ char *t = NULL;

	(void)state;
	/* /usr/lib is readable in the baseline; Block a file deep inside it */
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_FILE, .action = CONFIG_ACTION_BLOCK,
					       .path = "/usr/lib/os-release"};
	set_rules(1);
	t = policy();
	assert_false(has_line(t, "read /usr/lib"));
	assert_false(has_line(t, "read /usr/lib/os-release"));
	assert_true(has_line(t, "read /usr/lib/python3"));
	assert_true(has_line(t, "read /usr/share"));
}

static void test_audit_and_postures(void **state)
{
	struct sandbox_audit_plan plan;
	struct sandbox_error err = {0};
	_cleanup_free_ char *t = NULL;
	bool saw_tree = false, saw_never = false, saw_id = false;

	(void)state;
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_AUDIT,
					       .path = "/usr/bin/id"};
	rules[1] = (struct config_policy_rule){.section = CONFIG_RULE_FILE, .action = CONFIG_ACTION_AUDIT, .dir = true,
					       .recursive = true, .read_only = false, .path = "/home/jovyan/secret"};
	set_rules(2);
	cfg.singleuser.policy.posture_process = CONFIG_POSTURE_AUDIT;
	t = policy();
	assert_true(has_line(t, "exec /usr/bin/id"));
	assert_true(has_line(t, "exec /usr")); /* audit posture: runs, and is recorded */
	assert_true(has_line(t, "write /home/jovyan/secret"));
	assert_int_equal(sandbox_policy_compile(&cfg, &paths, NULL, NULL, &plan, &err), 0);
	for (size_t i = 0; i < plan.n_watches; i++) {
		const struct sandbox_audit_watch *w = &plan.watches[i];

		if (!strcmp(w->path, "/usr") && w->tree && !w->never && w->kind == SANDBOX_WATCH_EXEC)
			saw_tree = true;
		if (w->never && w->kind == SANDBOX_WATCH_EXEC && str_has_prefix(w->path, "/usr/bin/python3"))
			saw_never = true;
		/* never an exception on the loader: it is in every dynamic exec's context */
		assert_false(w->never && strstr(w->path, "/ld-linux"));
		if (!strcmp(w->path, "/usr/bin/id") && !w->never)
			saw_id = true;
		if (!strcmp(w->path, "/home/jovyan/secret")) {
			char want[8192];

			(void)snprintf(want, sizeof(want), "%s/secret", paths.home);
			assert_string_equal(w->host_path, want);
			assert_int_equal(w->kind, SANDBOX_WATCH_ACCESS);
			assert_true(w->tree);
		}
	}
	assert_true(saw_tree);
	assert_true(saw_never);
	assert_true(saw_id);
	assert_int_equal(plan.net, 0);
	sandbox_audit_plan_free(&plan);
	cfg.singleuser.policy.posture_process = CONFIG_POSTURE_BLOCK;

	cfg.singleuser.policy.posture_file = CONFIG_POSTURE_AUDIT;
	free(t);
	t = policy();
	assert_true(has_line(t, "read /usr/bin"));
	cfg.singleuser.policy.posture_file = CONFIG_POSTURE_BLOCK;
}

static void test_network(void **state)
{
	struct sandbox_audit_plan plan;
	struct sandbox_error err = {0};
	_cleanup_free_ char *t = NULL;

	(void)state;
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_NETWORK, .action = CONFIG_ACTION_BLOCK,
					       .protocol = CONFIG_NET_UDP};
	rules[1] = (struct config_policy_rule){.section = CONFIG_RULE_NETWORK, .action = CONFIG_ACTION_AUDIT,
					       .protocol = CONFIG_NET_TCP};
	set_rules(2);
	t = policy();
	assert_true(has_line(t, "net-deny udp"));
	assert_null(strstr(t, "net-deny tcp"));
	assert_null(strstr(t, "net-deny icmp")); /* no Allow: the posture does not apply */
	assert_int_equal(sandbox_policy_compile(&cfg, &paths, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.net, CONFIG_NET_TCP);
	sandbox_audit_plan_free(&plan);

	/* an Allow puts the rest under the posture */
	rules[1].action = CONFIG_ACTION_ALLOW;
	free(t);
	t = policy();
	assert_true(has_line(t, "net-deny udp"));
	assert_true(has_line(t, "net-deny icmp"));
	assert_null(strstr(t, "net-deny tcp"));
	cfg.singleuser.policy.posture_network = CONFIG_POSTURE_AUDIT;
	assert_int_equal(sandbox_policy_compile(&cfg, &paths, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.net, CONFIG_NET_ICMP);
	sandbox_audit_plan_free(&plan);
	cfg.singleuser.policy.posture_network = CONFIG_POSTURE_BLOCK;
}

static void test_placement(void **state)
{
	struct config_policy p = {.rules = rules, .n_rules = 1};
	char err[512];

	(void)state;
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_ALLOW,
					       .path = "/home/jovyan/tool", .line = 7};
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "k (line 7): path /home/jovyan/tool: only files below /usr can be executed in the "
				 "sandbox (every other mount is noexec)");
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_FILE, .action = CONFIG_ACTION_ALLOW, .dir = true,
					       .path = "/usr/share", .line = 3};
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only /home/jovyan and /tmp are writable"));
	rules[0].read_only = true;
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), 0);
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_FILE, .action = CONFIG_ACTION_BLOCK,
					       .path = "/home/jovyan/.ssh", .line = 4};
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Landlock cannot refuse a path inside a writable"));
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_FILE, .action = CONFIG_ACTION_AUDIT,
					       .path = "/tmp/x", .line = 5};
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Audit needs a path below /usr, /etc or /home/jovyan"));
	/* process Block anywhere is fine (outside /usr it is refused by noexec anyway) */
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_BLOCK,
					       .path = "/tmp/x"};
	assert_int_equal(sandbox_policy_check(&p, "k", err, sizeof(err)), 0);

	/* and the compiler refuses a bad policy with the message */
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_ALLOW,
					       .path = "/tmp/x", .line = 9};
	set_rules(1);
	{
		struct sandbox_error e = {0};
		char *t = NULL;
		size_t len;

		assert_int_equal(sandbox_policy_compile(&cfg, &paths, &t, &len, NULL, &e), -EINVAL);
		assert_null(t);
		assert_non_null(strstr(e.message, "securityPolicy (line 9): path /tmp/x"));
	}
}

/* Audit directories in the home are made before the kernel can watch them:
 * as the sandbox user, never through a link the user planted. */
static void test_home_mkdirs(void **state)
{
	char home[] = "/tmp/nbw-test-home-XXXXXX", p[PATH_MAX], q[PATH_MAX];
	struct sandbox_paths hp = paths;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(home));
	(void)snprintf(hp.home, sizeof(hp.home), "%s", home);
	assert_int_equal(sandbox_home_mkdirs(&cfg, 2, &hp, "/home/jovyan/a/b"), 0);
	(void)snprintf(p, sizeof(p), "%s/a/b", home);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	if (geteuid() == 0) { /* made for the sandbox user (chown needs root) */
		assert_int_equal(st.st_uid, sandbox_host_uid(&cfg, 2));
		assert_int_equal(st.st_gid, sandbox_host_gid(&cfg, 2));
	}
	/* existing: left as it is */
	assert_int_equal(chmod(p, 0700), 0);
	assert_int_equal(sandbox_home_mkdirs(&cfg, 2, &hp, "/home/jovyan/a/b"), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* a planted link is never followed, whatever it points at */
	(void)snprintf(q, sizeof(q), "%s/evil", home);
	assert_int_equal(symlink("/etc", q), 0);
	{
		int r = sandbox_home_mkdirs(&cfg, 2, &hp, "/home/jovyan/evil/x");

		assert_true(r == -ELOOP || r == -ENOTDIR); /* O_NOFOLLOW|O_DIRECTORY on a link: ENOTDIR */
	}
	assert_int_equal(lstat("/etc/x", &st), -1);
	/* outside the home, or not a clean path: refused */
	assert_int_equal(sandbox_home_mkdirs(&cfg, 2, &hp, "/tmp/x"), -EINVAL);
	assert_int_equal(sandbox_home_mkdirs(&cfg, 2, &hp, "/home/jovyan/../x"), -EINVAL);
	(void)unlink(q);
	(void)rmdir(p);
	(void)snprintf(p, sizeof(p), "%s/a", home);
	(void)rmdir(p);
	(void)rmdir(home);
}

/* One compile gives both the text and the plan, as sandbox_prepare uses it. */
static void test_compile_both(void **state)
{
	struct sandbox_audit_plan plan;
	struct sandbox_error err = {0};
	char *t = NULL;
	size_t len = 0;

	(void)state;
	rules[0] = (struct config_policy_rule){.section = CONFIG_RULE_PROCESS, .action = CONFIG_ACTION_AUDIT,
					       .path = "/usr/bin/id"};
	set_rules(1);
	assert_int_equal(sandbox_policy_compile(&cfg, &paths, &t, &len, &plan, &err), 0);
	assert_true(has_line(t, "exec /usr/bin/id"));
	assert_int_equal(plan.n_watches, 1);
	assert_string_equal(plan.watches[0].host_path, "/usr/bin/id");
	assert_int_equal(plan.watches[0].kind, SANDBOX_WATCH_EXEC);
	free(t);
	sandbox_audit_plan_free(&plan);
	assert_null(plan.watches);
	/* a refused policy gives neither */
	rules[0].path = "/tmp/x";
	t = NULL;
	assert_int_equal(sandbox_policy_compile(&cfg, &paths, &t, &len, &plan, &err), -EINVAL);
	assert_null(t);
	assert_int_equal(plan.n_watches, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_baseline, setup),
	    cmocka_unit_test_setup(test_allow_dir_block_one, setup),
	    cmocka_unit_test_setup(test_block_in_readable_tree, setup),
	    cmocka_unit_test_setup(test_audit_and_postures, setup),
	    cmocka_unit_test_setup(test_network, setup),
	    cmocka_unit_test_setup(test_placement, setup),
	    cmocka_unit_test_setup(test_home_mkdirs, setup),
	    cmocka_unit_test_setup(test_compile_both, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
