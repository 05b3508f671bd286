/* Fuzz the kernel audit record parser and the reader's event logic (kaudit.c).
 * Input: a sequence of records, each "TYPE-INDEX byte, LEN byte (x16), text". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/kaudit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ud, uint32_t slot)
{
	return slot % 2 ? "alice" : NULL;
}

static void emit(void *ud, const char *event, const char *user, json_t *fields)
{
	char *s = json_dumps(fields, 0);
	if (!s)
		__builtin_trap();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { KAUDIT_SECCOMP, KAUDIT_SYSCALL, KAUDIT_LANDLOCK_ACCESS,
					  KAUDIT_LANDLOCK_DOMAIN, KAUDIT_PATH, KAUDIT_CWD, KAUDIT_EOE, KAUDIT_OPENAT2 };
	struct kaudit *k = NULL;
	struct kaudit_record r;
	uint64_t now = 1000;

	/* The whole input as one record of each type. */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (kaudit_parse(types[i], (const char *)data, size, &r) == 0 &&
		    (memchr(r.comm, 0, sizeof(r.comm)) == NULL || memchr(r.exe, 0, sizeof(r.exe)) == NULL ||
		     memchr(r.path, 0, sizeof(r.path)) == NULL || memchr(r.blockers, 0, sizeof(r.blockers)) == NULL))
			__builtin_trap();
	/* And as a stream of records through the reader. */
	if (kaudit_new(1000000, lookup, emit, NULL, &k) < 0)
		return 0;
	/* slot 1 (alice) has Audit rules: its audited records become events too */
	if (kaudit_sandbox_expect(k, 1, KAUDIT_NET_ALL) < 0) {
		kaudit_free(k);
		return 0;
	}
	while (size >= 2) {
		size_t len = (size_t)data[1] * 16;
		uint16_t type = types[data[0] % 8];
		data += 2, size -= 2;
		if (len > size)
			len = size;
		kaudit_feed(k, type, (const char *)data, len, now);
		data += len, size -= len;
		now += 50;
		kaudit_tick(k, now);
	}
	kaudit_tick(k, now + 60000);
	kaudit_free(k);
	return 0;
}
