/* nbwarden-hub: the unprivileged hub process, exec'd by the root `nbwarden`
 * binary after it dropped privileges.
 *
 *   nbwarden-hub serve --config-fd N --config-name PATH --ipc-fd N --listen-fd N
 *   nbwarden-hub user-add NAME [--admin] --db PATH        (password on stdin)
 *   nbwarden-hub token-issue NAME [--expires-in SECONDS] --db PATH
 *
 * It refuses to run as root and sets no_new_privs itself (defence in depth:
 * the monitor already does both). */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "config/config.h"
#include "hub/hub.h"
#include "store/store.h"

static void usage(FILE *f)
{
	fputs("Usage:\n"
	      "  nbwarden-hub serve --config-fd N --config-name PATH --ipc-fd N --listen-fd N\n"
	      "  nbwarden-hub user-add NAME [--admin] --db PATH   (password read from stdin)\n"
	      "  nbwarden-hub token-issue NAME [--expires-in SECONDS] --db PATH\n"
	      "This binary is started by `nbwarden`; run `nbwarden --help` instead.\n",
	      f);
}

static int usage_error(const char *what)
{
	fprintf(stderr, "nbwarden-hub: %s\n", what);
	usage(stderr);
	return 2;
}

static int parse_fd(const char *s, int *ret)
{
	uint64_t v;

	if (!s || nbw_parse_u64(s, 0, INT_MAX, &v) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* The fd must be open; it must not leak into anything we might exec. */
static int adopt_fd(int fd, const char *what)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return log_error_errno(-errno, "--%s %d is not an open file descriptor: %m", what, fd);
	if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return log_error_errno(-errno, "Failed to set FD_CLOEXEC on %s: %m", what);
	return 0;
}

static int harden(void)
{
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0) {
		log_error(
		    "nbwarden-hub must not run as root (uid/gid 0); it is started by nbwarden with hub.uid/hub.gid");
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return log_error_errno(-errno, "Failed to set no_new_privs: %m");
	umask(0077);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config-fd", required_argument, NULL, 'c'},
	    {"config-name", required_argument, NULL, 'n'},
	    {"ipc-fd", required_argument, NULL, 'i'},
	    {"listen-fd", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	int config_fd = -1, ipc_fd = -1, listen_fd = -1, o, r, code;
	const char *config_name = NULL;
	struct config *cfg = NULL;
	struct config_diag diag = {0};
	struct store *store = NULL;
	char db[4096];

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_fd(optarg, &config_fd) < 0)
				return usage_error("--config-fd: expected a file descriptor number");
			break;
		case 'n':
			config_name = optarg;
			break;
		case 'i':
			if (parse_fd(optarg, &ipc_fd) < 0)
				return usage_error("--ipc-fd: expected a file descriptor number");
			break;
		case 'l':
			if (parse_fd(optarg, &listen_fd) < 0)
				return usage_error("--listen-fd: expected a file descriptor number");
			break;
		default:
			return usage_error("serve: unknown option");
		}
	}
	if (optind != argc)
		return usage_error("serve: unexpected argument");
	if (config_fd < 0 || ipc_fd < 0 || listen_fd < 0 || !config_name)
		return usage_error("serve needs --config-fd, --config-name, --ipc-fd and --listen-fd");
	if (config_fd == ipc_fd || config_fd == listen_fd || ipc_fd == listen_fd || config_fd <= 2 || ipc_fd <= 2 ||
	    listen_fd <= 2)
		return usage_error("serve: the three file descriptors must be distinct and above 2");
	if (harden() < 0)
		return 1;
	if (adopt_fd(config_fd, "config-fd") < 0 || adopt_fd(ipc_fd, "ipc-fd") < 0 ||
	    adopt_fd(listen_fd, "listen-fd") < 0)
		return 1;
	/* a peer that disappeared must show up as EPIPE, not kill us */
	signal(SIGPIPE, SIG_IGN);

	r = config_load_fd(config_fd, config_name, &cfg, &diag);
	close(config_fd);
	if (r < 0) {
		for (size_t i = 0; i < diag.n; i++)
			log_error("%s", diag.msgs[i]);
		if (diag.n == 0)
			log_error_errno(r, "Failed to read the configuration %s: %m", config_name);
		config_diag_done(&diag);
		return 1;
	}
	config_diag_done(&diag);
	if (cfg->debug)
		log_set_level(LOG_LVL_DEBUG);

	r = auth_init();
	if (r < 0) {
		log_error_errno(r, "Failed to initialise libsodium: %m");
		config_free(cfg);
		return 1;
	}
	if (nbw_snprintf(db, sizeof(db), "%s/hub", cfg->hub.state_dir) < 0) {
		config_free(cfg);
		return 1;
	}
	if (mkdir(db, 0700) < 0 && errno != EEXIST)
		log_debug("Cannot create %s: %m", db); /* normally prepared by the monitor */
	if (nbw_snprintf(db, sizeof(db), "%s/hub/nbwarden.db", cfg->hub.state_dir) < 0) {
		config_free(cfg);
		return 1;
	}
	r = store_open(db, &store);
	if (r < 0) {
		log_error_errno(r, "Failed to open the database %s: %m", db);
		config_free(cfg);
		return 1;
	}

	code = hub_run(cfg, store, ipc_fd, listen_fd);

	store_close(store);
	config_free(cfg);
	close(ipc_fd);
	close(listen_fd);
	log_info("Hub exiting (%d)", code);
	return code;
}

/* user-add NAME [--admin] --db PATH | token-issue NAME [--expires-in S] --db PATH */
static int cmd_cli(int argc, char **argv, bool token)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"admin", no_argument, NULL, 'a'},
	    {"expires-in", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	const char *db = NULL, *name = NULL;
	bool admin = false;
	uint64_t expires_in = 0;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			db = optarg;
			break;
		case 'a':
			if (token)
				return usage_error("token-issue does not take --admin");
			admin = true;
			break;
		case 'e':
			if (!token)
				return usage_error("user-add does not take --expires-in");
			if (nbw_parse_u64(optarg, 1, 10ull * 365 * 86400, &expires_in) < 0)
				return usage_error("--expires-in: expected seconds (1..315360000)");
			break;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(token ? "token-issue takes exactly one NAME" : "user-add takes exactly one NAME");
	name = argv[optind];
	if (!db || !db[0])
		return usage_error("--db PATH is required");
	if (!nbw_username_valid(name))
		return usage_error("invalid user name: must match ^[a-z_][a-z0-9_-]{0,31}$");
	if (harden() < 0)
		return 1;
	r = auth_init();
	if (r < 0) {
		log_error_errno(r, "Failed to initialise libsodium: %m");
		return 1;
	}
	if (token)
		r = auth_cli_token_issue(db, name, (int64_t)expires_in, stdout);
	else
		r = auth_cli_user_add(db, name, admin, stdin);
	if (fflush(stdout) != 0 && r >= 0)
		r = -EIO;
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	log_set_ident("nbwarden-hub");
	if (argc < 2)
		return usage_error("missing command");
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "user-add") == 0)
		return cmd_cli(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "token-issue") == 0)
		return cmd_cli(argc - 1, argv + 1, true);
	if ((strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) && argc == 2) {
		usage(stdout);
		return 0;
	}
	return usage_error("unknown command");
}
