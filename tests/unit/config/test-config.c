/* config: loading, defaults, every kind of error message, sizes, bind_url. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "config/config.h"
#include "test.h"

#define F "/tmp/x.yaml"

#include "common.h"

static void check_defaults(const struct config *c, bool minimal_file)
{
	assert_string_equal(c->hub.bind_url, "http://127.0.0.1:8000/");
	assert_string_equal(c->hub.bind_host, "127.0.0.1");
	assert_int_equal(c->hub.bind_port, 8000);
	assert_string_equal(c->hub.state_dir, "/var/lib/nbwarden");
	assert_int_equal(c->hub.uid, 60999);
	assert_int_equal(c->hub.gid, 60999);
	assert_false(c->hub.cookie_secure);
	assert_int_equal(c->hub.cookie_max_age, 43200);
	assert_int_equal(c->hub.max_body, 65536);
	assert_int_equal(c->hub.max_header, 16384);
	assert_int_equal(c->hub.max_connections, 4096);
	assert_int_equal(c->singleuser.n_cmd, 3);
	assert_string_equal(c->singleuser.cmd[0], "/usr/bin/python3");
	assert_string_equal(c->singleuser.cmd[1], "-m");
	assert_string_equal(c->singleuser.cmd[2], "jupyter_server");
	assert_null(c->singleuser.cmd[3]);
	assert_int_equal(c->singleuser.uid, 1000);
	assert_int_equal(c->singleuser.gid, 100);
	assert_string_equal(c->singleuser.runtime, "runc");
	assert_true(c->singleuser.cpu_limit == 1.0);
	assert_int_equal(c->singleuser.memory_limit, UINT64_C(1) << 30);
	assert_int_equal(c->singleuser.pids_limit, 512);
	assert_int_equal(c->singleuser.storage_capacity, UINT64_C(10) << 30);
	assert_int_equal(c->singleuser.start_timeout, 60);
	assert_int_equal(c->singleuser.host_uid_base, 1000000);
	assert_int_equal(c->singleuser.max_servers, 256);
	assert_string_equal(c->audit.file, "/var/log/nbwarden/audit.jsonl");
	assert_int_equal(c->audit.code_max_bytes, 8192);
	assert_int_equal(c->audit.fsync_interval_ms, 100);
	assert_false(c->debug);
	(void)minimal_file;
}

static void test_minimal_file(void **state)
{
	struct config *c = load_ok("hub:\n"
				   "  bind_url: http://127.0.0.1:8000/\n"
				   "  state_dir: /var/lib/nbwarden\n"
				   "audit:\n"
				   "  file: /var/log/nbwarden/audit.jsonl\n");

	assert_string_equal(c->source, F);
	check_defaults(c, true);
	config_free(c);
}

static void test_empty_means_defaults(void **state)
{
	static const char *const docs[] = {"",	   "{}",  "# only a comment\n", "---\n", "---\n...\n",
					   "\n\n", "~\n", "hub:\nsingleuser:\n"};

	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		struct config *c = load_ok(docs[i]);

		check_defaults(c, false);
		config_free(c);
	}
}

static void test_all_keys(void **state)
{
	struct config *c = load_ok("hub:\n"
				   "  bind_url: http://[::1]:8081\n"
				   "  state_dir: /srv/nbw/state\n"
				   "  uid: 4242\n"
				   "  gid: 4343\n"
				   "  cookie_secure: true\n"
				   "  cookie_max_age_seconds: 60\n"
				   "  max_body_bytes: 16777216\n"
				   "  max_header_bytes: 1024\n"
				   "  max_connections: 1000000\n"
				   "singleuser:\n"
				   "  cmd: [/opt/py/bin/python, -m, jupyter_server, \"--debug\"]\n"
				   "  uid: 1001\n"
				   "  fsGid: 1002\n"
				   "  runtime: /usr/sbin/runc\n"
				   "  cpu:\n"
				   "    limit: 0.5\n"
				   "  memory: {limit: 1.5G}\n"
				   "  pids:\n"
				   "    limit: 16\n"
				   "  storage:\n"
				   "    capacity: \"16Ti\"\n"
				   "  startTimeout: 3600\n"
				   "  hostUidBase: 65536\n"
				   "  maxServers: 10000\n"
				   "audit:\n"
				   "  file: /a\n"
				   "  code_max_bytes: 0\n"
				   "  fsync_interval_ms: 10000\n"
				   "debug:\n"
				   "  enabled: TRUE\n");

	assert_string_equal(c->hub.bind_url, "http://[::1]:8081");
	assert_string_equal(c->hub.bind_host, "::1");
	assert_int_equal(c->hub.bind_port, 8081);
	assert_string_equal(c->hub.state_dir, "/srv/nbw/state");
	assert_int_equal(c->hub.uid, 4242);
	assert_int_equal(c->hub.gid, 4343);
	assert_true(c->hub.cookie_secure);
	assert_int_equal(c->hub.cookie_max_age, 60);
	assert_int_equal(c->hub.max_body, 16777216);
	assert_int_equal(c->hub.max_header, 1024);
	assert_int_equal(c->hub.max_connections, 1000000);
	assert_int_equal(c->singleuser.n_cmd, 4);
	assert_string_equal(c->singleuser.cmd[0], "/opt/py/bin/python");
	assert_string_equal(c->singleuser.cmd[3], "--debug");
	assert_null(c->singleuser.cmd[4]);
	assert_int_equal(c->singleuser.uid, 1001);
	assert_int_equal(c->singleuser.gid, 1002);
	assert_string_equal(c->singleuser.runtime, "/usr/sbin/runc");
	assert_true(c->singleuser.cpu_limit == 0.5);
	assert_int_equal(c->singleuser.memory_limit, UINT64_C(3) << 29);
	assert_int_equal(c->singleuser.pids_limit, 16);
	assert_int_equal(c->singleuser.storage_capacity, UINT64_C(16) << 40);
	assert_int_equal(c->singleuser.start_timeout, 3600);
	assert_int_equal(c->singleuser.host_uid_base, 65536);
	assert_int_equal(c->singleuser.max_servers, 10000);
	assert_string_equal(c->audit.file, "/a");
	assert_int_equal(c->audit.code_max_bytes, 0);
	assert_int_equal(c->audit.fsync_interval_ms, 10000);
	assert_true(c->debug);
	config_free(c);
}

static void test_type_errors(void **state)
{
	expect_errors("hub:\n  uid: abc\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"abc\"");
	expect_errors("hub:\n  uid: 0\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"0\"");
	expect_errors("hub:\n  gid: 4294967295\n",
		      F ":2:8: hub.gid: expected an integer in 1..4294967294, got \"4294967295\"");
	expect_errors("hub:\n  uid: -5\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"-5\"");
	expect_errors("hub:\n  uid: 0x10\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"0x10\"");
	expect_errors("hub:\n  uid: 99999999999999999999999\n",
		      F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"99999999999999999999999\"");
	expect_errors("hub:\n  uid: \"1000\"\n",
		      F ":2:8: hub.uid: expected an integer in 1..4294967294, got a quoted string \"1000\"");
	expect_errors("hub:\n  uid:\n", F ":2:3: hub.uid: expected an integer in 1..4294967294, got null");
	expect_errors("hub:\n  uid: {a: 1}\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got a mapping");
	expect_errors("hub:\n  uid:\n    - 1\n",
		      F ":3:5: hub.uid: expected an integer in 1..4294967294, got a sequence");
	expect_errors("hub:\n  cookie_secure: yes\n",
		      F ":2:18: hub.cookie_secure: expected true or false, got \"yes\"");
	expect_errors("hub:\n  cookie_secure: 1\n", F ":2:18: hub.cookie_secure: expected true or false, got \"1\"");
	expect_errors("hub:\n  cookie_secure: 'true'\n",
		      F ":2:18: hub.cookie_secure: expected true or false, got a quoted string \"true\"");
	expect_errors("debug: {enabled: off}\n", F ":1:18: debug.enabled: expected true or false, got \"off\"");
	expect_errors("singleuser:\n  cpu:\n    limit: lots\n",
		      F ":3:12: singleuser.cpu.limit: expected a number in 0.01..1024, got \"lots\"");
	expect_errors("singleuser:\n  cpu:\n    limit: 0.001\n",
		      F ":3:12: singleuser.cpu.limit: expected a number in 0.01..1024, got \"0.001\"");
	expect_errors("singleuser:\n  cpu:\n    limit: .nan\n",
		      F ":3:12: singleuser.cpu.limit: expected a number in 0.01..1024, got \".nan\"");
	expect_errors("singleuser:\n  cpu:\n    limit: 1e3\n",
		      F ":3:12: singleuser.cpu.limit: expected a number in 0.01..1024, got \"1e3\"");
	expect_errors("singleuser:\n  memory:\n    limit: 1X\n",
		      F ":3:12: singleuser.memory.limit: expected a size in 64M..1T, got \"1X\"");
	expect_errors("singleuser:\n  memory:\n    limit: 63M\n",
		      F ":3:12: singleuser.memory.limit: expected a size in 64M..1T, got \"63M\"");
	expect_errors("singleuser:\n  storage:\n    capacity: 17T\n",
		      F ":3:15: singleuser.storage.capacity: expected a size in 16M..16T, got \"17T\"");
	expect_errors("singleuser:\n  pids:\n    limit: 15\n",
		      F ":3:12: singleuser.pids.limit: expected an integer in 16..1000000, got \"15\"");
	expect_errors("singleuser:\n  fsGid: 65535\n",
		      F ":2:10: singleuser.fsGid: expected an integer in 1..65534, got \"65535\"");
	expect_errors("hub:\n  state_dir: [a]\n", F ":2:14: hub.state_dir: expected an absolute path, got a sequence");
	expect_errors("hub: 5\n", F ":1:6: hub: expected a mapping, got \"5\"");
	expect_errors("hub: [1]\n", F ":1:6: hub: expected a mapping, got a sequence");
	expect_errors("singleuser:\n  cpu: 2\n", F ":2:8: singleuser.cpu: expected a mapping, got \"2\"");
}

static void test_top_level(void **state)
{
	expect_errors("- a\n- b\n", F ":1:1: expected a mapping at the top level, got a sequence");
	expect_errors("hello\n", F ":1:1: expected a mapping at the top level, got \"hello\"");
	expect_errors("a: 1\n---\nb: 2\n", F ":1:1: a: unknown key", F ":2:1: only one YAML document is allowed");
	expect_errors("!!set {hub: {}}\n", F ":1:1: unexpected tag \"tag:yaml.org,2002:set\"");
}

static void test_unknown_keys(void **state)
{
	expect_errors("hub:\n  uidd: 1\n", F ":2:3: hub.uidd: unknown key (did you mean \"hub.uid\"?)");
	expect_errors("foo: 1\n", F ":1:1: foo: unknown key");
	expect_errors("singleuser:\n  fsgid: 5\n",
		      F ":2:3: singleuser.fsgid: unknown key (did you mean \"singleuser.fsGid\"?)");
	expect_errors("singleuser:\n  memory:\n    limit: 1G\n    request: 1G\n",
		      F ":4:5: singleuser.memory.request: unknown key");
	expect_errors("singleuser:\n  memroy:\n    limit: 1G\n",
		      F ":2:3: singleuser.memroy: unknown key (did you mean \"singleuser.memory\"?)");
	/* a key that names a setting is not a section, nor the reverse */
	expect_errors("hub:\n  uid:\n    x: 1\n",
		      F ":3:5: hub.uid: expected an integer in 1..4294967294, got a mapping");
	expect_errors("hub.uid: 5\n", F ":1:1: \"hub.uid\": unknown key");
	expect_errors("[a]: 1\n", F ":1:1: keys must be strings, got a sequence");
	expect_errors("hub:\n  ? {a: 1}\n  : 1\n", F ":2:5: hub: keys must be strings, got a mapping");
	expect_errors("\"\\e[31m\": 1\n", F ":1:1: \"\\x1b[31m\": unknown key");
}

static void test_duplicate_keys(void **state)
{
	expect_errors("hub:\n  uid: 5\n  uid: 6\n", F ":3:3: hub.uid: duplicate key (first at line 2, column 3)");
	expect_errors("hub:\n  uid: 5\nhub:\n  gid: 6\n", F ":3:1: hub: duplicate key (first at line 1, column 1)");
	expect_errors("debug: {enabled: true, enabled: false}\n",
		      F ":1:24: debug.enabled: duplicate key (first at line 1, column 9)");
}

static void test_syntax_errors(void **state)
{
	expect_errors("singleuser:\n  cmd: [1, 2\n", F ":3:1: flow sequence without a closing bracket");
	/* the type error is found before the stream breaks */
	expect_errors("hub:\n  uid: [1, 2\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got a sequence",
		      F ":3:1: flow sequence without a closing bracket");
	expect_errors("hub:\n\tuid: 1\n", F ":2:1: tab character may not be used as indentation");
	expect_errors("hub:\n  uid: b: c\n", F ":2:9: invalid nested block mapping on the same line");
	/* errors before the syntax error are kept */
	expect_errors("hub:\n  uid: x\n  gid: [\n", F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"x\"",
		      F ":3:8: hub.gid: expected an integer in 1..4294967294, got a sequence",
		      F ":4:1: flow sequence without a closing bracket");
	/* but what the parser made of the broken line itself is dropped */
	expect_errors("hub:\n  uid: x\n  gid: b: c\n",
		      F ":2:8: hub.uid: expected an integer in 1..4294967294, got \"x\"",
		      F ":3:9: invalid nested block mapping on the same line");
	expect_errors("hub:\n  uid: \"abc\n", F ":2:9: double-quoted scalar without closing quote");
}

static void test_multiple_errors(void **state)
{
	expect_errors(
	    "hub:\n"
	    "  bind_url: ftp://x/\n"
	    "  state_dir: relative/dir\n"
	    "  uid: abc\n"
	    "  bogus: 1\n"
	    "singleuser:\n"
	    "  memory:\n"
	    "    limit: 1Q\n"
	    "  runtime: ./runc\n"
	    "audit:\n"
	    "  file: /var/log/../x\n"
	    "  code_max_bytes: 40000\n"
	    "debug:\n"
	    "  enabled: maybe\n",
	    F ":2:13: hub.bind_url: expected a URL starting with http:// or https://, got \"ftp://x/\"",
	    F ":3:14: hub.state_dir: expected an absolute path, got \"relative/dir\"",
	    F ":4:8: hub.uid: expected an integer in 1..4294967294, got \"abc\"", F ":5:3: hub.bogus: unknown key",
	    F ":8:12: singleuser.memory.limit: expected a size in 64M..1T, got \"1Q\"",
	    F ":9:12: singleuser.runtime: expected a program name without '/' or an absolute path, got \"./runc\"",
	    F ":11:9: audit.file: must be a normalized path (no \"//\", \".\", \"..\" or trailing \"/\"), got "
	      "\"/var/log/../x\"",
	    F ":12:19: audit.code_max_bytes: expected an integer in 0..32768, got \"40000\"",
	    F ":14:12: debug.enabled: expected true or false, got \"maybe\"");
}

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
	    {"0", 0},
	    {"1024", 1024},
	    {"1K", 1024},
	    {"1Ki", 1024},
	    {"512M", UINT64_C(512) << 20},
	    {"512Mi", UINT64_C(512) << 20},
	    {"1G", UINT64_C(1) << 30},
	    {"1.5G", UINT64_C(3) << 29},
	    {"0.5Gi", UINT64_C(1) << 29},
	    {"2T", UINT64_C(2) << 40},
	    {"1.1K", 1126}, /* 1126.4, rounded down */
	    {"16777215T", UINT64_C(16777215) << 40},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const struct {
		const char *s;
		int r;
	} bad[] = {
	    {"", -EINVAL},
	    {"G", -EINVAL},
	    {"1g", -EINVAL},
	    {"1GB", -EINVAL},
	    {"1 G", -EINVAL},
	    {" 1G", -EINVAL},
	    {"-1G", -EINVAL},
	    {"+1G", -EINVAL},
	    {"1.G", -EINVAL},
	    {".5G", -EINVAL},
	    {"1.5", -EINVAL},
	    {"1e9", -EINVAL},
	    {"1P", -EINVAL},
	    {"0x10", -EINVAL},
	    {"1.0000000001G", -EINVAL},
	    {"16777216T", -ERANGE},
	    {"18446744073709551616", -ERANGE},
	    {"999999999999999999999", -ERANGE},
	};
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		v = 7;
		if (config_parse_size(ok[i].s, &v) != 0)
			fail_msg("config_parse_size(\"%s\") failed", ok[i].s);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 7;
		int r = config_parse_size(bad[i].s, &v);

		if (r != bad[i].r)
			fail_msg("config_parse_size(\"%s\") = %d, want %d", bad[i].s, r, bad[i].r);
		assert_int_equal(v, 7);
	}
	assert_int_equal(config_parse_size(NULL, &v), -EINVAL);

	struct config *c = load_ok("singleuser:\n  memory:\n    limit: 67108864\n  storage:\n    capacity: 16M\n");
	assert_int_equal(c->singleuser.memory_limit, UINT64_C(64) << 20);
	assert_int_equal(c->singleuser.storage_capacity, UINT64_C(16) << 20);
	config_free(c);
}

static void check_bind(const char *url, const char *host, uint16_t port)
{
	char yaml[256];
	struct config *c;

	assert_true(nbw_snprintf(yaml, sizeof(yaml), "hub:\n  bind_url: %s\n", url) >= 0);
	c = load_ok(yaml);
	assert_string_equal(c->hub.bind_host, host);
	assert_int_equal(c->hub.bind_port, port);
	config_free(c);
}

static void test_bind_url(void **state)
{
	check_bind("http://127.0.0.1:8000/", "127.0.0.1", 8000);
	check_bind("http://0.0.0.0:80", "0.0.0.0", 80);
	check_bind("http://localhost:65535/", "127.0.0.1", 65535);
	check_bind("http://[::]:1/", "::", 1);
	check_bind("http://[0:0:0:0:0:0:0:1]:8000/", "::1", 8000);
	check_bind("'http://10.1.2.3:8000/'", "10.1.2.3", 8000);

#define BU(v) "hub:\n  bind_url: " v "\n"
#define HOSTMSG(v)                                                                                                     \
	F ":2:13: hub.bind_url: host must be an IPv4 address, a bracketed IPv6 address or localhost, got \"" v "\""
	expect_errors(BU("https://127.0.0.1:8443/"),
		      F ":2:13: hub.bind_url: https is not supported yet; terminate TLS in front of nbwarden and set "
			"hub.cookie_secure: true");
	expect_errors(
	    BU("HTTP://127.0.0.1:8000/"),
	    F ":2:13: hub.bind_url: expected a URL starting with http:// or https://, got \"HTTP://127.0.0.1:8000/\"");
	expect_errors(BU("127.0.0.1:8000"), F
		      ":2:13: hub.bind_url: expected a URL starting with http:// or https://, got \"127.0.0.1:8000\"");
	expect_errors(BU("http://example.com:8000/"), HOSTMSG("http://example.com:8000/"));
	expect_errors(BU("http://::1:8000/"), HOSTMSG("http://::1:8000/"));
	expect_errors(BU("http://[127.0.0.1]:8000/"), HOSTMSG("http://[127.0.0.1]:8000/"));
	expect_errors(BU("http://[::1:8000/"), HOSTMSG("http://[::1:8000/"));
	expect_errors(BU("http://[fe80::1%eth0]:8000/"), HOSTMSG("http://[fe80::1%eth0]:8000/"));
	expect_errors(BU("http://user@127.0.0.1:8000/"), HOSTMSG("http://user@127.0.0.1:8000/"));
	expect_errors(BU("http://:8000/"), HOSTMSG("http://:8000/"));
	expect_errors(BU("http://127.1:8000/"), HOSTMSG("http://127.1:8000/"));
	expect_errors(BU("http://127.0.0.1/"), F
		      ":2:13: hub.bind_url: expected an explicit port (http://HOST:PORT/), got \"http://127.0.0.1/\"");
	expect_errors(BU("http://127.0.0.1:0/"),
		      F ":2:13: hub.bind_url: expected a port in 1..65535, got \"http://127.0.0.1:0/\"");
	expect_errors(BU("http://127.0.0.1:65536/"),
		      F ":2:13: hub.bind_url: expected a port in 1..65535, got \"http://127.0.0.1:65536/\"");
	expect_errors(BU("http://127.0.0.1:/"),
		      F ":2:13: hub.bind_url: expected a port in 1..65535, got \"http://127.0.0.1:/\"");
	expect_errors(BU("http://127.0.0.1:8000/hub"),
		      F ":2:13: hub.bind_url: expected nothing after the port but an optional \"/\", got "
			"\"http://127.0.0.1:8000/hub\"");
	expect_errors(BU("http://127.0.0.1:8000/?x"),
		      F ":2:13: hub.bind_url: expected nothing after the port but an optional \"/\", got "
			"\"http://127.0.0.1:8000/?x\"");
	expect_errors(BU("http://127.0.0.1:8000//"),
		      F ":2:13: hub.bind_url: expected nothing after the port but an optional \"/\", got "
			"\"http://127.0.0.1:8000//\"");
	expect_errors(BU(""), F ":2:3: hub.bind_url: expected a URL like http://127.0.0.1:8000/, got null");
}

static void test_paths(void **state)
{
	struct config *c = load_ok("hub:\n  state_dir: \"/srv/a.b/c..d/.e\"\n");

	assert_string_equal(c->hub.state_dir, "/srv/a.b/c..d/.e");
	config_free(c);

#define SD(v) "hub:\n  state_dir: " v "\n"
#define NORM(v)                                                                                                        \
	F ":2:14: hub.state_dir: must be a normalized path (no \"//\", \".\", \"..\" or trailing \"/\"), got \"" v "\""
	expect_errors(SD("/"), F ":2:14: hub.state_dir: must not be \"/\"");
	expect_errors(SD("/var/lib/"), NORM("/var/lib/"));
	expect_errors(SD("//var"), NORM("//var"));
	expect_errors(SD("/var//lib"), NORM("/var//lib"));
	expect_errors(SD("/var/./lib"), NORM("/var/./lib"));
	expect_errors(SD("/var/.."), NORM("/var/.."));
	expect_errors(SD("var"), F ":2:14: hub.state_dir: expected an absolute path, got \"var\"");
	expect_errors(SD("\"\""), F ":2:14: hub.state_dir: expected an absolute path, got \"\"");
	expect_errors(SD("\"/var/\\tlib\""),
		      F ":2:14: hub.state_dir: must not contain control characters, got \"/var/\\x09lib\"");
	expect_errors(SD("\"/var/\\0lib\""), F ":2:14: hub.state_dir: must not contain a NUL byte");
}

static void test_cmd_and_runtime(void **state)
{
	struct config *c = load_ok("singleuser:\n  cmd: /usr/local/bin/start-notebook\n  runtime: crun\n");

	assert_int_equal(c->singleuser.n_cmd, 1);
	assert_string_equal(c->singleuser.cmd[0], "/usr/local/bin/start-notebook");
	assert_null(c->singleuser.cmd[1]);
	assert_string_equal(c->singleuser.runtime, "crun");
	config_free(c);

	c = load_ok("singleuser:\n  cmd:\n    - /usr/bin/python3\n    - !!str 42\n  runtime: runsc-1.0+x_y\n");
	assert_int_equal(c->singleuser.n_cmd, 2);
	assert_string_equal(c->singleuser.cmd[1], "42");
	config_free(c);

	/* The guard execs cmd[0] without a PATH search. */
	expect_errors("singleuser:\n  cmd: [python3, -m, jupyter_server]\n",
		      F ":2:8: singleuser.cmd: the program (first element) must be an absolute path, got \"python3\"");
	expect_errors("singleuser:\n  cmd: []\n",
		      F ":2:8: singleuser.cmd: expected a non-empty list of strings, got an empty list");
	expect_errors("singleuser:\n  cmd: \"\"\n",
		      F ":2:8: singleuser.cmd: expected a list of non-empty strings, got \"\"");
	expect_errors("singleuser:\n  cmd: {a: b}\n",
		      F ":2:8: singleuser.cmd: expected a list of non-empty strings, got a mapping");
	expect_errors("singleuser:\n  cmd:\n    - a\n    -\n    - [x]\n    - ''\n",
		      F ":3:5: singleuser.cmd[1]: expected a non-empty string, got null",
		      F ":5:7: singleuser.cmd[2]: expected a non-empty string, got a sequence",
		      F ":6:7: singleuser.cmd[3]: expected a non-empty string without NUL bytes of at most 4096 bytes, "
			"got \"\"");
	expect_errors("singleuser:\n  runtime: bin/runc\n",
		      F ":2:12: singleuser.runtime: expected a program name without '/' or an absolute path, got "
			"\"bin/runc\"");
	expect_errors("singleuser:\n  runtime: ..\n", F
		      ":2:12: singleuser.runtime: expected a program name without '/' or an absolute path, got \"..\"");
	expect_errors("singleuser:\n  runtime: /usr/bin/\n",
		      F ":2:12: singleuser.runtime: must be a normalized path (no \"//\", \".\", \"..\" or trailing "
			"\"/\"), got \"/usr/bin/\"");
}

static void test_aliases_and_tags(void **state)
{
	expect_errors("hub:\n  uid: &u 5\n  gid: *u\n", F ":3:8: hub.gid: aliases are not supported");
	expect_errors("hub:\n  uid: !custom 5\n", F ":2:8: hub.uid: unexpected tag \"!custom\"");
	expect_errors("hub:\n  uid: !!str 5\n", F ":2:8: hub.uid: unexpected tag \"tag:yaml.org,2002:str\"");

	struct config *c = load_ok("hub:\n  uid: !!int 5\n  state_dir: !!str /x\n");
	assert_int_equal(c->hub.uid, 5);
	config_free(c);
}

static void test_cross_checks(void **state)
{
	expect_errors("singleuser:\n  hostUidBase: 4294000000\n  maxServers: 100\n",
		      F ":2:16: singleuser.hostUidBase: the sandbox uid ranges 4294000000..4300553599 "
			"(singleuser.maxServers = 100 ranges of 65536) exceed the largest uid 4294967294");
	expect_errors("hub:\n  uid: 1000001\n",
		      F ":2:8: hub.uid: 1000001 lies inside the sandbox uid ranges 1000000..17777215");
	expect_errors("hub: {gid: 70000}\nsingleuser: {hostUidBase: 65536, maxServers: 1}\n",
		      F ":1:12: hub.gid: 70000 lies inside the sandbox gid ranges 65536..131071");
}

static void test_io(void **state)
{
	static const char yaml[] = "hub:\n  uid: 4242\n";
	struct config_diag d = {0};
	struct config *c = NULL;
	char path[] = "/tmp/nbw-config-test-XXXXXX";
	int p[2], fd;

	/* pipe: how the monitor hands the file to the hub */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(nbw_write_all(p[1], yaml, strlen(yaml)), 0);
	close(p[1]);
	assert_int_equal(config_load_fd(p[0], "<pipe>", &c, &d), 0);
	close(p[0]);
	assert_int_equal(c->hub.uid, 4242);
	assert_string_equal(c->source, "<pipe>");
	config_free(c);
	c = NULL;

	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(nbw_write_all(fd, "hub:\n  uid: x\n", 14), 0);
	close(fd);
	assert_int_equal(config_load_file(path, &c, &d), -EINVAL);
	assert_null(c);
	assert_int_equal(d.n, 1);
	char want[256];
	assert_true(nbw_snprintf(want, sizeof(want), "%s:2:8: hub.uid: expected an integer in 1..4294967294, got \"x\"",
				 path) >= 0);
	assert_string_equal(d.msgs[0], want);
	config_diag_done(&d);
	unlink(path);

	assert_int_equal(config_load_file(path, &c, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	assert_true(nbw_snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path) >= 0);
	assert_string_equal(d.msgs[0], want);
	config_diag_done(&d);

	assert_int_equal(config_load_file("/tmp", &c, &d), -EISDIR);
	assert_string_equal(d.msgs[0], "/tmp: cannot read: Is a directory");
	config_diag_done(&d);

	/* a regular file's fd is read from the start, wherever its offset is */
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(nbw_write_all(fd, yaml, strlen(yaml)), 0);
	assert_int_equal(config_load_fd(fd, "<file>", &c, &d), 0);
	assert_int_equal(c->hub.uid, 4242);
	config_free(c);
	c = NULL;
	close(fd);
	unlink(path);

	/* size cap, through a file (a pipe would block the writer) */
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	char *big = malloc(1024 * 1024 + 1);
	assert_non_null(big);
	memset(big, '#', 1024 * 1024 + 1);
	assert_int_equal(nbw_write_all(fd, big, 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(config_load_file(path, &c, &d), -EFBIG);
	assert_true(nbw_snprintf(want, sizeof(want), "%s: file too large (more than 1048576 bytes)", path) >= 0);
	assert_string_equal(d.msgs[0], want);
	config_diag_done(&d);
	/* exactly at the cap is fine (all comment) */
	big[1024 * 1024 - 1] = '\n';
	assert_int_equal(config_load_string(big, 1024 * 1024, "big", &c, &d), 0);
	config_free(c);
	free(big);
	unlink(path);

	/* diag may be NULL; config_free(NULL) is fine */
	c = NULL;
	assert_int_equal(config_load_string("x: 1", 4, "n", &c, NULL), -EINVAL);
	assert_null(c);
	config_free(NULL);
	config_diag_done(NULL);
}

static void test_nul_and_junk(void **state)
{
	static const char with_nul[] = "hub:\n  uid: 5\0\n";

	expect_errors_n(with_nul, sizeof(with_nul) - 1, (const char *const[]){F ":2:9: NUL byte in the file", NULL});
	expect_errors("a: \"\xc3\xa9\"\nb: \xb8\n", F ":2:4: invalid UTF-8 in the file");
	expect_errors("%\xb8", F ":1:2: invalid UTF-8 in the file");		     /* hangs libfyaml 0.7.12 */
	expect_errors("a: \xc0\xaf\n", F ":1:4: invalid UTF-8 in the file");	     /* overlong "/" */
	expect_errors("a: \xed\xa0\x80\n", F ":1:4: invalid UTF-8 in the file");     /* surrogate */
	expect_errors("a: \xf4\x90\x80\x80\n", F ":1:4: invalid UTF-8 in the file"); /* > U+10FFFF */
	expect_errors("a: \x1b[31m\n", F ":1:4: control character U+001B in the file");
	expect_errors("a: \xc2\x9b\n", F ":1:4: control character U+009B in the file");
	/* valid UTF-8 is fine, and reaches the messages escaped */
	expect_errors("h\xc3\xbc"
		      "b: 1\n",
		      F ":1:1: \"h\\xc3\\xbcb\": unknown key");
	expect_errors("hub:\n  uid: \"\xe2\x82\xac\"\n",
		      F ":2:8: hub.uid: expected an integer in 1..4294967294, got a quoted string \"\\xe2\\x82\\xac\"");
}

static void test_too_many_errors(void **state)
{
	char *yaml = malloc(200 * 16);
	size_t o = 0;
	struct config_diag d = {0};
	struct config *c = NULL;

	assert_non_null(yaml);
	for (int i = 0; i < 150; i++)
		o += (size_t)snprintf(yaml + o, 200 * 16 - o, "k%d: 1\n", i);
	assert_int_equal(config_load_string(yaml, o, F, &c, &d), -EINVAL);
	assert_int_equal(d.n, 101);
	assert_string_equal(d.msgs[0], F ":1:1: k0: unknown key");
	assert_string_equal(d.msgs[99], F ":100:1: k99: unknown key");
	assert_string_equal(d.msgs[100], F ": too many errors, stopping after 100");
	config_diag_done(&d);
	free(yaml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_file),    cmocka_unit_test(test_empty_means_defaults),
	    cmocka_unit_test(test_all_keys),	    cmocka_unit_test(test_type_errors),
	    cmocka_unit_test(test_top_level),	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_duplicate_keys),  cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_multiple_errors), cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_bind_url),	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_cmd_and_runtime), cmocka_unit_test(test_aliases_and_tags),
	    cmocka_unit_test(test_cross_checks),    cmocka_unit_test(test_io),
	    cmocka_unit_test(test_nul_and_junk),    cmocka_unit_test(test_too_many_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
