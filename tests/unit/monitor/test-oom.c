/* oom: cgroup counter parsing and the sandbox.oom / sandbox.pids.limit records
 * from counters in a fake cgroup tree (v1 and v2 layouts), with the rate limit. */
#include "test.h"

#include "common/common.h"
#include "monitor/oom.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rec {
	char event[64];
	char user[64];
	long long count, total;
};
static struct rec recs[64];
static size_t n_recs;
static char root[256];

static void emit(void *userdata, const char *event, const char *user, json_t *f)
{
	(void)userdata;
	assert_true(n_recs < 64);
	nbw_strlcpy(recs[n_recs].event, event, sizeof(recs[n_recs].event));
	nbw_strlcpy(recs[n_recs].user, user, sizeof(recs[n_recs].user));
	recs[n_recs].count = json_integer_value(json_object_get(f, "count"));
	recs[n_recs].total = json_integer_value(json_object_get(f, "total"));
	n_recs++;
}

static void put(const char *rel, const char *text)
{
	char path[512], dir[512];
	assert_true(nbw_snprintf(path, sizeof(path), "%s/%s", root, rel) >= 0);
	nbw_strlcpy(dir, path, sizeof(dir));
	*strrchr(dir, '/') = 0;
	assert_int_equal(nbw_mkdir_p(dir, 0700), 0);
	assert_int_equal(nbw_write_file_atomic(path, text, strlen(text), 0600), 0);
}

static int setup(void **state)
{
	(void)state;
	nbw_strlcpy(root, "/tmp/nbw-test-oom-XXXXXX", sizeof(root));
	assert_non_null(mkdtemp(root));
	n_recs = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nbw_rm_rf(root);
	return 0;
}

static void round_(struct oom_watch *w, uint64_t now, const char *user, const char *name)
{
	oom_watch_begin(w);
	if (user)
		oom_watch_check(w, user, name, now);
	oom_watch_end(w, now);
}

static void test_parse(void **state)
{
	(void)state;
	const char v1[] = "oom_kill_disable 0\nunder_oom 0\noom_kill 17\n";
	const char v2[] = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
	uint64_t v = 99;

	assert_int_equal(oom_parse_counter(v1, strlen(v1), "oom_kill", &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(oom_parse_counter(v2, strlen(v2), "oom_kill", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(oom_parse_counter(v2, strlen(v2), "max", &v), 0);
	assert_int_equal(v, 3);
	/* "oom_kill_disable" is not "oom_kill"; "oom" is not "oom_kill" */
	assert_int_equal(oom_parse_counter("oom_kill_disable 0\n", 19, "oom_kill", &v), -ENOENT);
	assert_int_equal(oom_parse_counter("oom 5\n", 6, "oom_kill", &v), -ENOENT);
	assert_int_equal(oom_parse_counter("max x\n", 6, "max", &v), -EINVAL);
	assert_int_equal(oom_parse_counter("max \n", 5, "max", &v), -EINVAL);
	assert_int_equal(oom_parse_counter("max 99999999999999999999999\n", 28, "max", &v), -EINVAL);
	/* bounded: the length cuts the value */
	assert_int_equal(oom_parse_counter("max 12", 5, "max", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(oom_parse_counter("", 0, "max", &v), -ENOENT);
}

static void test_v1_oom_and_pids(void **state)
{
	(void)state;
	struct oom_watch *w = NULL;

	put("memory/nbwarden/ab-alice/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	put("pids/nbwarden/ab-alice/pids.events", "max 0\n");
	assert_int_equal(oom_watch_new(root, emit, NULL, &w), 0);
	assert_int_equal(oom_watch_next_tick_ms(w, false, 0), -1);
	assert_int_equal(oom_watch_next_tick_ms(w, true, 0), 0);

	round_(w, 1000, "alice", "ab-alice"); /* baseline: earlier kills are not reported */
	assert_int_equal(n_recs, 0);
	assert_false(oom_watch_due(w, 1200));
	assert_true(oom_watch_due(w, 1500));
	assert_int_equal(oom_watch_next_tick_ms(w, true, 1200), 300);

	put("memory/nbwarden/ab-alice/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	round_(w, 1500, "alice", "ab-alice");
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "sandbox.oom");
	assert_string_equal(recs[0].user, "alice");
	assert_int_equal(recs[0].count, 1);
	assert_int_equal(recs[0].total, 3);

	/* a fork bomb: many hits, one record, then summed at most every interval */
	put("pids/nbwarden/ab-alice/pids.events", "max 40\n");
	round_(w, 2000, "alice", "ab-alice");
	assert_int_equal(n_recs, 2);
	assert_string_equal(recs[1].event, "sandbox.pids.limit");
	assert_int_equal(recs[1].count, 40);
	put("pids/nbwarden/ab-alice/pids.events", "max 100\n");
	round_(w, 2500, "alice", "ab-alice");
	put("pids/nbwarden/ab-alice/pids.events", "max 150\n");
	round_(w, 3000, "alice", "ab-alice");
	assert_int_equal(n_recs, 2);
	round_(w, 2000 + OOM_MIN_INTERVAL_MS, "alice", "ab-alice");
	assert_int_equal(n_recs, 3);
	assert_int_equal(recs[2].count, 110);
	assert_int_equal(recs[2].total, 150);

	/* pending at stop is reported when the sandbox is forgotten */
	put("pids/nbwarden/ab-alice/pids.events", "max 151\n");
	round_(w, 2000 + OOM_MIN_INTERVAL_MS + 500, "alice", "ab-alice");
	assert_int_equal(n_recs, 3);
	round_(w, 2000 + OOM_MIN_INTERVAL_MS + 1000, NULL, NULL);
	assert_int_equal(n_recs, 4);
	assert_int_equal(recs[3].count, 1);
	assert_int_equal(oom_watch_next_tick_ms(w, false, 0), -1);
	oom_watch_free(w);
}

static void test_v2_and_names(void **state)
{
	(void)state;
	struct oom_watch *w = NULL;

	put("nbwarden/cd-bob/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 0\n");
	assert_int_equal(oom_watch_new(root, emit, NULL, &w), 0);
	round_(w, 0, "bob", "cd-bob");
	put("nbwarden/cd-bob/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
	oom_watch_begin(w);
	oom_watch_check(w, "carol", "cd-carol", 1000); /* no cgroup: skipped, nothing recorded */
	oom_watch_check(w, "bob", "cd-bob", 1000);
	oom_watch_end(w, 1000);
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "sandbox.oom");
	assert_string_equal(recs[0].user, "bob");
	/* names that are not one path component are never read */
	put("memory/x/memory.oom_control", "oom_kill 0\n");
	round_(w, 1500, "eve", "../../memory/x");
	put("memory/x/memory.oom_control", "oom_kill 5\n");
	round_(w, 2000, "eve", "../../memory/x");
	round_(w, 2500, "eve", "..");
	assert_int_equal(n_recs, 1);
	oom_watch_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_v1_oom_and_pids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_and_names, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
