/* nbwarden: command-line entry. `serve` runs the root monitor; the CLI modes
 * that touch the hub's database run the unprivileged hub binary for it. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "audit/audit.h"
#include "common/common.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "sandbox/sandbox.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage:\n"
		   "  nbwarden serve --config FILE\n"
		   "  nbwarden check-config FILE\n"
		   "  nbwarden user add NAME [--admin] --config FILE   (password read from stdin)\n"
		   "  nbwarden token issue NAME [--expires-in SECONDS] --config FILE\n"
		   "  nbwarden version\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nbwarden: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

static struct config *load_config(const char *path)
{
	struct config_diag diag = { 0 };
	struct config *cfg = NULL;
	int r;

	r = config_load_file(path, &cfg, &diag);
	if (r < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		if (diag.n == 0)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		config_diag_done(&diag);
		return NULL;
	}
	config_diag_done(&diag);
	/* where the runtime policy's rules may point depends on the pod's mounts */
	for (size_t i = 0; i <= cfg->singleuser.n_profiles; i++) {
		const struct config_profile *p = i < cfg->singleuser.n_profiles ? &cfg->singleuser.profiles[i] : NULL;
		char key[128], err[768];

		if (p && !p->has_policy)
			continue;
		if (p)
			(void)nbw_snprintf(key, sizeof(key), "singleuser.profileList[%zu].kubespawner_override.security_policy", i);
		r = sandbox_policy_check(p ? &p->policy : &cfg->singleuser.policy, p ? key : "singleuser.securityPolicy", err,
					 sizeof(err));
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", path, err);
			config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

static int cmd_check_config(const char *path)
{
	struct config *cfg = load_config(path);
	if (!cfg)
		return 1;
	printf("configuration OK\n");
	config_free(cfg);
	return 0;
}

/* Wait for a child, returning its exit code (or 1 on a signal). */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 1;
}

static int hub_db_path(const struct config *cfg, char *buf, size_t size)
{
	return nbw_snprintf(buf, size, "%s/hub/nbwarden.db", cfg->hub.state_dir);
}

static int prepare_state(const struct config *cfg)
{
	struct sandbox_error err = { 0 };
	int r;

	if (geteuid() != 0) {
		log_error("This command must run as root (it drops to hub.uid %u to open the database)", cfg->hub.uid);
		return -EPERM;
	}
	r = sandbox_init(cfg, &err);
	if (r < 0)
		log_error("Cannot prepare the state directory %s (hub.state_dir): %s", cfg->hub.state_dir,
			  err.message[0] ? err.message : strerror(-r));
	return r;
}

static int cmd_user_add(const char *name, bool admin, const char *config_path)
{
	struct config *cfg;
	char db[4096];
	char *argv[] = { "nbwarden-hub", "user-add", (char *)name, "--db", db, admin ? "--admin" : NULL, NULL };
	const int map[3][2] = { { 0, 0 }, { 1, 1 }, { 2, 2 } };
	pid_t pid;
	int r;

	if (!nbw_username_valid(name)) {
		fprintf(stderr, "nbwarden: invalid user name '%s': must match ^[a-z_][a-z0-9_-]{0,31}$\n", name);
		return 1;
	}
	cfg = load_config(config_path);
	if (!cfg)
		return 1;
	if (prepare_state(cfg) < 0 || hub_db_path(cfg, db, sizeof(db)) < 0) {
		config_free(cfg);
		return 1;
	}
	r = monitor_exec_hub(cfg, argv, map, 3, &pid);
	config_free(cfg);
	if (r < 0 && r != -ECHILD)
		return 1;
	return wait_child(pid);
}

static int cmd_token_issue(const char *name, const char *expires_in, const char *config_path)
{
	struct config *cfg;
	struct audit_log *audit = NULL;
	char db[4096];
	char *argv[] = { "nbwarden-hub", "token-issue", (char *)name, "--db", db, NULL, NULL, NULL };
	char out[512];
	size_t got = 0;
	uint64_t secs = 0;
	int pipefd[2];
	pid_t pid;
	int r, code;

	if (!nbw_username_valid(name)) {
		fprintf(stderr, "nbwarden: invalid user name '%s'\n", name);
		return 1;
	}
	if (expires_in) {
		if (nbw_parse_u64(expires_in, 1, 10ull * 365 * 86400, &secs) < 0)
			return usage_error("--expires-in: expected seconds (1..315360000), got '%s'", expires_in);
		argv[5] = "--expires-in";
		argv[6] = (char *)expires_in;
	}
	cfg = load_config(config_path);
	if (!cfg)
		return 1;
	if (prepare_state(cfg) < 0 || hub_db_path(cfg, db, sizeof(db)) < 0) {
		config_free(cfg);
		return 1;
	}
	r = audit_open(cfg->audit.file, 0, &audit);
	if (r < 0) {
		log_error_errno(r, "Cannot open the audit log %s (audit.file)", cfg->audit.file);
		config_free(cfg);
		return 1;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		audit_close(audit);
		config_free(cfg);
		return 1;
	}
	{
		const int map[3][2] = { { 0, 0 }, { pipefd[1], 1 }, { 2, 2 } };
		r = monitor_exec_hub(cfg, argv, map, 3, &pid);
	}
	close(pipefd[1]);
	if (r < 0 && r != -ECHILD) {
		close(pipefd[0]);
		audit_close(audit);
		config_free(cfg);
		return 1;
	}
	for (;;) {
		ssize_t n = read(pipefd[0], out + got, sizeof(out) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(out) - 1)
			break;
	}
	close(pipefd[0]);
	code = wait_child(pid);
	out[got] = 0;
	if (code == 0 && got > 0 && out[got - 1] == '\n' && strchr(out, '\n') == out + got - 1) {
		int64_t exp = secs ? nbw_time_now() + (int64_t)secs : 0;
		fwrite(out, 1, got, stdout);
		fflush(stdout);
		r = audit_write(audit, "token.issue", name, NULL,
				json_pack("{s:o,s:s}", "expires_at", exp ? json_integer(exp) : json_null(), "via",
					  "cli"));
		if (r < 0)
			log_error_errno(r, "Writing the audit record to %s", cfg->audit.file);
	} else if (code == 0) {
		log_error("The hub binary returned an unexpected token format");
		code = 1;
	}
	explicit_bzero(out, sizeof(out));
	audit_close(audit);
	config_free(cfg);
	return code;
}

int main(int argc, char **argv)
{
	const char *config = NULL;

	log_set_ident("nbwarden");
	if (argc < 2)
		return usage_error("missing command%s", "");
	if (!strcmp(argv[1], "version") && argc == 2) {
		printf("nbwarden %s\n", NBW_VERSION);
		return 0;
	}
	if ((!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) && argc == 2) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "check-config")) {
		if (argc != 3)
			return usage_error("check-config takes exactly one FILE%s", "");
		return cmd_check_config(argv[2]);
	}
	if (!strcmp(argv[1], "serve")) {
		struct config *cfg;
		int code;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--config") && i + 1 < argc)
				config = argv[++i];
			else
				return usage_error("serve: unexpected argument '%s'", argv[i]);
		}
		if (!config)
			return usage_error("serve: --config FILE is required%s", "");
		cfg = load_config(config);
		if (!cfg)
			return 1;
		if (cfg->debug)
			log_set_level(LOG_LVL_DEBUG);
		code = monitor_serve(cfg, config);
		config_free(cfg);
		return code;
	}
	if (!strcmp(argv[1], "user") || !strcmp(argv[1], "token")) {
		bool is_user = !strcmp(argv[1], "user");
		const char *name = NULL, *expires = NULL;
		bool admin = false;
		if (argc < 3 || strcmp(argv[2], is_user ? "add" : "issue"))
			return usage_error("%s", is_user ? "user: expected 'add'" : "token: expected 'issue'");
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--config") && i + 1 < argc)
				config = argv[++i];
			else if (is_user && !strcmp(argv[i], "--admin"))
				admin = true;
			else if (!is_user && !strcmp(argv[i], "--expires-in") && i + 1 < argc)
				expires = argv[++i];
			else if (argv[i][0] != '-' && !name)
				name = argv[i];
			else
				return usage_error("unexpected argument '%s'", argv[i]);
		}
		if (!name)
			return usage_error("missing user NAME%s", "");
		if (!config)
			return usage_error("--config FILE is required%s", "");
		return is_user ? cmd_user_add(name, admin, config) : cmd_token_issue(name, expires, config);
	}
	return usage_error("unknown command '%s'", argv[1]);
}
