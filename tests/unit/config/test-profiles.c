/* config: singleuser.profileList (Z2JH profiles) — parsing, validation
 * messages, resolution and the effective limits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "config/config.h"
#include "test.h"

#define F "/tmp/p.yaml"

#include "common.h"

static const char valid[] = "singleuser:\n"
			    "  memory:\n"
			    "    limit: 2G\n"
			    "  profileList:\n"
			    "    - display_name: Small\n"
			    "      slug: small\n"
			    "      description: \"<b>half a core</b>\"\n"
			    "      kubespawner_override:\n"
			    "        cpu_limit: 0.5\n"
			    "        mem_limit: 512M\n"
			    "    - display_name: Large\n"
			    "      slug: large-2\n"
			    "      default: true\n"
			    "      kubespawner_override:\n"
			    "        pids_limit: 2000\n"
			    "        storage_capacity: 20G\n"
			    "    - display_name: Plain\n"
			    "      slug: plain\n";

static void test_valid_list(void **state)
{
	struct config *c = load_ok(valid);
	const struct config_profile *p = NULL;
	struct config eff;
	char buf[64];

	(void)state;
	assert_int_equal(c->singleuser.n_profiles, 3);
	p = &c->singleuser.profiles[0];
	assert_string_equal(p->slug, "small");
	assert_string_equal(p->display_name, "Small");
	assert_string_equal(p->description, "<b>half a core</b>");
	assert_false(p->is_default);
	assert_true(p->has_cpu_limit && p->has_mem_limit);
	assert_false(p->has_pids_limit || p->has_storage_capacity);
	assert_string_equal(c->singleuser.profiles[2].description, "");
	assert_true(c->singleuser.profiles[1].is_default);

	/* "" = the default one, not the first */
	assert_int_equal(config_profile_resolve(c, "", &p), 0);
	assert_ptr_equal(p, &c->singleuser.profiles[1]);
	assert_int_equal(config_profile_resolve(c, NULL, &p), 0);
	assert_ptr_equal(p, &c->singleuser.profiles[1]);
	assert_int_equal(config_profile_resolve(c, "small", &p), 0);
	assert_ptr_equal(p, &c->singleuser.profiles[0]);
	assert_int_equal(config_profile_resolve(c, "medium", &p), -ENOENT);
	assert_int_equal(config_profile_resolve(c, "Small", &p), -ENOENT);

	config_profile_choices(c, buf, sizeof(buf));
	assert_string_equal(buf, "small, large-2, plain");
	config_profile_choices(c, buf, 10); /* truncated at a whole slug */
	assert_string_equal(buf, "small");

	/* overrides replace, the rest inherits the global values */
	config_effective(c, &c->singleuser.profiles[0], &eff);
	assert_true(eff.singleuser.cpu_limit == 0.5);
	assert_int_equal(eff.singleuser.memory_limit, 512ull << 20);
	assert_int_equal(eff.singleuser.pids_limit, 512);
	assert_int_equal(eff.singleuser.storage_capacity, 10ull << 30);
	config_effective(c, &c->singleuser.profiles[1], &eff);
	assert_true(eff.singleuser.cpu_limit == 1.0);
	assert_int_equal(eff.singleuser.memory_limit, 2ull << 30);
	assert_int_equal(eff.singleuser.pids_limit, 2000);
	assert_int_equal(eff.singleuser.storage_capacity, 20ull << 30);
	config_effective(c, NULL, &eff);
	assert_int_equal(eff.singleuser.memory_limit, 2ull << 30);
	config_free(c);
}

static void test_first_is_default_and_empty(void **state)
{
	struct config *c = load_ok("singleuser:\n  profileList:\n    - {display_name: A, slug: a}\n"
				   "    - {display_name: B, slug: b}\n");
	const struct config_profile *p = NULL;

	(void)state;
	assert_int_equal(config_profile_resolve(c, "", &p), 0);
	assert_ptr_equal(p, &c->singleuser.profiles[0]);
	config_free(c);

	c = load_ok("singleuser:\n  profileList: []\n");
	p = (const struct config_profile *)0x1;
	assert_int_equal(config_profile_resolve(c, "", &p), 0);
	assert_null(p);
	assert_int_equal(config_profile_resolve(c, "a", &p), -ENOENT);
	config_free(c);

	c = load_ok("{}\n");
	assert_int_equal(c->singleuser.n_profiles, 0);
	config_free(c);
}

static void test_duplicate_slug(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  profileList:\n"
		      "    - display_name: A\n      slug: same\n"
		      "    - display_name: B\n      slug: same\n",
		      F ":6:13: singleuser.profileList[1].slug: duplicate slug \"same\" (first at line 4, column 13)");
}

static void test_two_defaults(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  profileList:\n"
		      "    - {display_name: A, slug: a, default: true}\n"
		      "    - {display_name: B, slug: b, default: false}\n"
		      "    - {display_name: C, slug: c, default: true}\n",
		      F ":5:43: singleuser.profileList[2].default: only one profile may be the default (already "
			"singleuser.profileList[0] at line 3, column 43)");
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: a, default: yes}\n",
		      F ":3:43: singleuser.profileList[0].default: expected true or false, got \"yes\"");
}

static void test_bad_overrides(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  profileList:\n"
		      "    - display_name: A\n"
		      "      slug: a\n"
		      "      kubespawner_override:\n"
		      "        cpu_limit: 0.001\n"
		      "        mem_limit: 1M\n"
		      "        pids_limit: 5\n"
		      "        storage_capacity: 17T\n"
		      "        image: x\n"
		      "        cpu_limit: 1\n",
		      F ":6:20: singleuser.profileList[0].kubespawner_override.cpu_limit: expected a number in "
			"0.01..1024, got \"0.001\"",
		      F ":7:20: singleuser.profileList[0].kubespawner_override.mem_limit: expected a size in 64M..1T, "
			"got \"1M\"",
		      F ":8:21: singleuser.profileList[0].kubespawner_override.pids_limit: expected an integer in "
			"16..1000000, got \"5\"",
		      F ":9:27: singleuser.profileList[0].kubespawner_override.storage_capacity: expected a size in "
			"16M..16T, got \"17T\"",
		      F ":10:9: singleuser.profileList[0].kubespawner_override.image: unknown key (supported: "
			"cpu_limit, cpu_guarantee, mem_limit, mem_guarantee, storage_capacity, pids_limit, devices, "
			"security_policy)",
		      F ":11:9: singleuser.profileList[0].kubespawner_override.cpu_limit: duplicate key (first at "
			"line 6, column 9)");
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: a, kubespawner_override: 3}\n",
		      F ":3:56: singleuser.profileList[0].kubespawner_override: expected a mapping, got \"3\"");
}

static void test_bad_entries(void **state)
{
	(void)state;
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: Big_One}\n",
		      F ":3:31: singleuser.profileList[0].slug: expected 1..63 characters a-z, 0-9 and \"-\", got "
			"\"Big_One\"");
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: "
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
		      F ":3:31: singleuser.profileList[0].slug: expected 1..63 characters a-z, 0-9 and \"-\", got "
			"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
	expect_errors("singleuser:\n  profileList:\n    - {description: x}\n",
		      F ":3:7: singleuser.profileList[0]: missing key slug",
		      F ":3:7: singleuser.profileList[0]: missing key display_name");
	expect_errors("singleuser:\n  profileList:\n    - just-a-string\n",
		      F ":3:7: singleuser.profileList[0]: expected a mapping, got \"just-a-string\"");
	expect_errors("singleuser:\n  profileList: small\n",
		      F ":2:16: singleuser.profileList: expected a list of profiles, got \"small\"");
	expect_errors("singleuser:\n  profileList:\n    - {display_name: A, slug: a, gpu: 1}\n",
		      F ":3:34: singleuser.profileList[0].gpu: unknown key (supported: display_name, slug, "
			"description, default, kubespawner_override)");
	expect_errors("singleuser:\n  profileList: []\n  profileList: []\n",
		      F ":3:3: singleuser.profileList: duplicate key (first at line 2, column 3)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_list),	   cmocka_unit_test(test_first_is_default_and_empty),
	    cmocka_unit_test(test_duplicate_slug), cmocka_unit_test(test_two_defaults),
	    cmocka_unit_test(test_bad_overrides),  cmocka_unit_test(test_bad_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
