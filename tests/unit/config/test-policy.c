/* config: singleuser.securityPolicy (KubeArmor-shaped runtime policy),
 * resource guarantees and devices — parsing, messages, profile overrides. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "config/config.h"
#include "test.h"

#define F "/tmp/p.yaml"

#include "common.h"

static void test_defaults(void **state)
{
	struct config *c = load_ok("{}\n");

	(void)state;
	assert_false(c->singleuser.policy.require);
	assert_int_equal(c->singleuser.policy.posture_process, CONFIG_POSTURE_BLOCK);
	assert_int_equal(c->singleuser.policy.posture_file, CONFIG_POSTURE_BLOCK);
	assert_int_equal(c->singleuser.policy.posture_network, CONFIG_POSTURE_BLOCK);
	assert_int_equal(c->singleuser.policy.n_rules, 0);
	assert_int_equal(c->singleuser.n_devices, 0);
	assert_non_null(c->singleuser.devices);
	assert_true(c->singleuser.cpu_guarantee == 0);
	assert_int_equal(c->singleuser.memory_guarantee, 0);
	config_free(c);
}

static const char full[] = "singleuser:\n"
			   "  cpu: {limit: 2, guarantee: 0.5}\n"
			   "  memory: {limit: 4G, guarantee: 1G}\n"
			   "  securityPolicy:\n"
			   "    landlock: require\n"
			   "    defaultPosture: {process: audit, file: Block, network: audit}\n"
			   "    rules:\n"
			   "      - process:\n"
			   "          matchPaths:\n"
			   "            - path: /usr/bin/git\n"
			   "            - path: /usr/bin/curl\n"
			   "              action: Block\n"
			   "          matchDirectories:\n"
			   "            - dir: /usr/lib/git-core/\n"
			   "              recursive: true\n"
			   "        file:\n"
			   "          matchDirectories:\n"
			   "            - {dir: /home/jovyan/data/, recursive: true, readOnly: true}\n"
			   "          action: Audit\n"
			   "        action: Allow\n"
			   "      - network:\n"
			   "          matchProtocols: [{protocol: tcp}, {protocol: ICMP, action: Block}]\n"
			   "          action: Allow\n";

static void test_full_policy(void **state)
{
	struct config *c = load_ok(full);
	const struct config_policy *p = &c->singleuser.policy;
	const struct config_policy_rule *r = p->rules;

	(void)state;
	assert_true(p->require);
	assert_int_equal(p->posture_process, CONFIG_POSTURE_AUDIT);
	assert_int_equal(p->posture_file, CONFIG_POSTURE_BLOCK);
	assert_int_equal(p->posture_network, CONFIG_POSTURE_AUDIT);
	assert_int_equal(p->n_rules, 6);
	/* entry action > section action > spec action */
	assert_int_equal(r[0].section, CONFIG_RULE_PROCESS);
	assert_string_equal(r[0].path, "/usr/bin/git");
	assert_int_equal(r[0].action, CONFIG_ACTION_ALLOW);
	assert_false(r[0].dir);
	assert_int_equal(r[0].line, 10);
	assert_string_equal(r[1].path, "/usr/bin/curl");
	assert_int_equal(r[1].action, CONFIG_ACTION_BLOCK);
	assert_string_equal(r[2].path, "/usr/lib/git-core"); /* trailing '/' dropped */
	assert_true(r[2].dir);
	assert_true(r[2].recursive);
	assert_int_equal(r[3].section, CONFIG_RULE_FILE);
	assert_int_equal(r[3].action, CONFIG_ACTION_AUDIT);
	assert_true(r[3].read_only);
	assert_string_equal(r[3].path, "/home/jovyan/data");
	assert_int_equal(r[4].section, CONFIG_RULE_NETWORK);
	assert_int_equal(r[4].protocol, CONFIG_NET_TCP);
	assert_int_equal(r[4].action, CONFIG_ACTION_ALLOW);
	assert_null(r[4].path);
	assert_int_equal(r[5].protocol, CONFIG_NET_ICMP);
	assert_int_equal(r[5].action, CONFIG_ACTION_BLOCK);
	assert_true(c->singleuser.cpu_guarantee == 0.5);
	assert_int_equal(c->singleuser.memory_guarantee, 1ull << 30);
	config_free(c);
}

static void test_profile_overrides(void **state)
{
	static const char y[] = "singleuser:\n"
				"  devices: [/dev/fuse]\n"
				"  securityPolicy:\n"
				"    rules: [{process: {matchPaths: [{path: /usr/bin/git}]}, action: Allow}]\n"
				"  profileList:\n"
				"    - display_name: GPU\n"
				"      slug: gpu\n"
				"      kubespawner_override:\n"
				"        devices: [/dev/nvidia0, /dev/nvidiactl]\n"
				"        cpu_guarantee: 0.25\n"
				"        mem_guarantee: 256M\n"
				"        security_policy:\n"
				"          defaultPosture: {file: audit}\n"
				"    - display_name: CPU\n"
				"      slug: cpu\n"
				"      kubespawner_override: {devices: []}\n"
				"    - display_name: Plain\n"
				"      slug: plain\n";
	struct config *c = load_ok(y);
	const struct config_profile *p;
	struct config e;

	(void)state;
	assert_int_equal(config_profile_resolve(c, "gpu", &p), 0);
	config_effective(c, p, &e);
	assert_int_equal(e.singleuser.n_devices, 2);
	assert_string_equal(e.singleuser.devices[0], "/dev/nvidia0");
	assert_string_equal(e.singleuser.devices[1], "/dev/nvidiactl");
	assert_true(e.singleuser.cpu_guarantee == 0.25);
	assert_int_equal(e.singleuser.memory_guarantee, 256ull << 20);
	/* the profile's policy replaces the global one wholesale */
	assert_int_equal(e.singleuser.policy.n_rules, 0);
	assert_int_equal(e.singleuser.policy.posture_file, CONFIG_POSTURE_AUDIT);

	assert_int_equal(config_profile_resolve(c, "cpu", &p), 0);
	config_effective(c, p, &e);
	assert_int_equal(e.singleuser.n_devices, 0);
	assert_int_equal(e.singleuser.policy.n_rules, 1);

	assert_int_equal(config_profile_resolve(c, "plain", &p), 0);
	config_effective(c, p, &e);
	assert_int_equal(e.singleuser.n_devices, 1);
	assert_string_equal(e.singleuser.devices[0], "/dev/fuse");
	assert_int_equal(e.singleuser.policy.n_rules, 1);
	assert_string_equal(e.singleuser.policy.rules[0].path, "/usr/bin/git");
	config_free(c);
}

static void test_bad_policies(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  securityPolicy: {landlock: always}\n",
		      F ":2:30: singleuser.securityPolicy.landlock: expected best-effort or require, got \"always\"");
	expect_errors("singleuser:\n  securityPolicy: {defaultPosture: {process: deny}}\n",
		      F ":2:46: singleuser.securityPolicy.defaultPosture.process: expected block or audit, got \"deny\"");
	expect_errors("singleuser:\n  securityPolicy: {rulez: []}\n",
		      F ":2:20: singleuser.securityPolicy.rulez: unknown key (supported: landlock, defaultPosture, "
			"rules)");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{process: {matchPaths: [{path: /usr/bin/git}]}}]}\n",
		      F ":2:52: singleuser.securityPolicy.rules[0].process.matchPaths[0]: no action: give one (Allow, "
			"Audit or Block) here, in the section or in the rule");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{process: {matchPaths: [{path: /usr/bin/}]}, "
		      "action: Allow}]}\n",
		      F ":2:59: singleuser.securityPolicy.rules[0].process.matchPaths[0].path: \"/usr/bin/\" names a "
			"directory: use matchDirectories (dir:) for it");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{file: {matchPaths: [{path: usr/x}]}, action: Allow}]}\n",
		      F ":2:56: singleuser.securityPolicy.rules[0].file.matchPaths[0].path: expected an absolute path "
			"of at most 1023 bytes, got \"usr/x\"");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{file: {matchPaths: [{path: '/a b'}]}, action: Allow}]}\n",
		      F ":2:56: singleuser.securityPolicy.rules[0].file.matchPaths[0].path: only printable ASCII "
			"without spaces is supported in paths, got \"/a b\"");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{file: {matchDirectories: [{dir: /usr/../etc/}]}, "
		      "action: Block}]}\n",
		      F ":2:61: singleuser.securityPolicy.rules[0].file.matchDirectories[0].dir: must be a normalized "
			"path (no \"//\", \".\" or \"..\"), got \"/usr/../etc/\"");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{process: {matchPaths: [{path: /usr/bin/x, readOnly: "
		      "true}]}, action: Block}]}\n",
		      F ":2:81: singleuser.securityPolicy.rules[0].process.matchPaths[0].readOnly: readOnly applies "
			"to file rules only");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{network: {matchProtocols: [{protocol: raw}]}, "
		      "action: Audit}]}\n",
		      F ":2:56: singleuser.securityPolicy.rules[0].network.matchProtocols[0]: raw sockets are always "
			"refused by the sandbox's seccomp profile; only Block can be said of them");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{network: {matchProtocols: [{protocol: sctp}]}, "
		      "action: Block}]}\n",
		      F ":2:67: singleuser.securityPolicy.rules[0].network.matchProtocols[0].protocol: expected tcp, "
			"udp, icmp or raw, got \"sctp\"");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{process: {matchPaths: [{path: /x, fromSource: "
		      "[]}]}, action: Block}]}\n",
		      F ":2:75: singleuser.securityPolicy.rules[0].process.matchPaths[0].fromSource: is not supported "
			"by nbwarden: a rule applies to every process of the sandbox (one user's server and kernels, "
			"all the same uid)");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{action: Allow}]}\n",
		      F ":2:28: singleuser.securityPolicy.rules[0]: missing key process, file or network");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{file: {action: Allow}}]}\n",
		      F ":2:35: singleuser.securityPolicy.rules[0].file: missing key matchPaths or matchDirectories");
	expect_errors("singleuser:\n  securityPolicy: {rules: [{file: {matchPaths: []}, action: Deny}]}\n",
		      F ":2:61: singleuser.securityPolicy.rules[0].action: expected Allow, Audit or Block, got \"Deny\"");
	expect_errors("singleuser:\n  securityPolicy: &a {rules: []}\n  x: *a\n",
		      F ":3:3: singleuser.x: unknown key");
	expect_errors("singleuser:\n  securityPolicy: {}\n  securityPolicy: {}\n",
		      F ":3:3: singleuser.securityPolicy: duplicate key (first at line 2, column 3)");
}

static void test_bad_resources(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  cpu: {limit: 1, guarantee: 2}\n",
		      F ":2:30: singleuser.cpu.guarantee: the CPU guarantee 2 is above the limit 1");
	expect_errors("singleuser:\n  memory: {guarantee: 2G}\n",
		      F ":2:23: singleuser.memory.guarantee: the memory guarantee 2G is above the limit 1G");
	expect_errors("singleuser:\n  devices: [/dev/null]\n",
		      F ":2:12: singleuser.devices: devices[0]: \"/dev/null\" is in every sandbox already");
	expect_errors("singleuser:\n  devices: [/etc/passwd]\n",
		      F ":2:12: singleuser.devices: devices[0]: expected a path below /dev/ of at most 255 characters "
			"A-Z a-z 0-9 / _ . : -, got \"/etc/passwd\"");
	expect_errors("singleuser:\n  devices: [/dev/x, /dev/x]\n",
		      F ":2:12: singleuser.devices: devices[1]: \"/dev/x\" is listed twice");
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: a, kubespawner_override: "
		      "{cpu_guarantee: 3}}\n",
		      F ": singleuser.profileList[0].kubespawner_override.cpu_guarantee: the CPU guarantee 3 is above "
			"the limit 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	      cmocka_unit_test(test_full_policy),
	    cmocka_unit_test(test_profile_overrides), cmocka_unit_test(test_bad_policies),
	    cmocka_unit_test(test_bad_resources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
