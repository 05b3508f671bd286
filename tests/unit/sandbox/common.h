/* Shared helpers for the sandbox unit tests. */
#pragma once

#include "config/config.h"

#include <string.h>

static char *test_default_cmd[] = {"/usr/bin/python3", "-m", "jupyter_server"};

/* A struct config with the documented defaults (config.h). */
static inline void test_config_defaults(struct config *c, const char *state_dir)
{
	memset(c, 0, sizeof(*c));
	c->hub.bind_url = "http://127.0.0.1:8000/";
	c->hub.state_dir = (char *)state_dir;
	c->hub.uid = 60999;
	c->hub.gid = 60999;
	c->singleuser.cmd = test_default_cmd;
	c->singleuser.n_cmd = 3;
	c->singleuser.uid = 1000;
	c->singleuser.gid = 100;
	c->singleuser.runtime = "runc";
	c->singleuser.cpu_limit = 1.0;
	c->singleuser.memory_limit = 1ull << 30;
	c->singleuser.pids_limit = 512;
	c->singleuser.storage_capacity = 10ull << 30;
	c->singleuser.start_timeout = 60;
	c->singleuser.host_uid_base = 1000000;
	c->singleuser.max_servers = 256;
	c->audit.file = "/var/log/nbwarden/audit.jsonl";
}
