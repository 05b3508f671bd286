/* throttle: failed-login counters per key (a client address or a user name)
 * in a fixed-size table with least-recently-used eviction, so memory stays
 * bounded whatever an attacker sends. Pure: the caller passes the time. */
#include <arpa/inet.h>

#include "hub/internal.h"

void hub__throttle_init(struct hub_throttle *t, uint32_t limit, uint64_t window_ms, uint64_t block_ms,
			uint64_t block_max_ms)
{
	memset(t, 0, sizeof(*t));
	t->limit = limit ? limit : 1;
	t->window_ms = window_ms;
	t->block_ms = block_ms;
	t->block_max_ms = block_max_ms < block_ms ? block_ms : block_max_ms;
	t->forget_ms = 4 * t->block_max_ms;
}

static struct hub_throttle_slot *find(struct hub_throttle *t, const char *key)
{
	for (size_t i = 0; i < HUB_THROTTLE_SLOTS; i++)
		if (t->slots[i].key[0] && strcmp(t->slots[i].key, key) == 0)
			return &t->slots[i];
	return NULL;
}

/* A free slot, else the least recently used one that is not blocking
 * anything, else the least recently used one. */
static struct hub_throttle_slot *take(struct hub_throttle *t, const char *key, uint64_t now_ms)
{
	struct hub_throttle_slot *lru = NULL, *lru_idle = NULL, *s;

	for (size_t i = 0; i < HUB_THROTTLE_SLOTS; i++) {
		s = &t->slots[i];
		if (!s->key[0]) {
			lru_idle = s;
			break;
		}
		if (!lru || s->last_seen < lru->last_seen)
			lru = s;
		if (s->blocked_until <= now_ms && (!lru_idle || s->last_seen < lru_idle->last_seen))
			lru_idle = s;
	}
	s = lru_idle ? lru_idle : lru;
	memset(s, 0, sizeof(*s));
	nbw_strlcpy(s->key, key, sizeof(s->key));
	s->window_start = now_ms;
	return s;
}

uint64_t hub__throttle_check(struct hub_throttle *t, const char *key, uint64_t now_ms)
{
	struct hub_throttle_slot *s;

	if (!key || !key[0] || !(s = find(t, key)))
		return 0;
	s->last_seen = now_ms;
	return s->blocked_until > now_ms ? s->blocked_until - now_ms : 0;
}

uint64_t hub__throttle_fail(struct hub_throttle *t, const char *key, uint64_t now_ms)
{
	struct hub_throttle_slot *s;
	uint64_t block;

	if (!key || !key[0])
		return 0;
	s = find(t, key);
	if (!s)
		s = take(t, key, now_ms);
	s->last_seen = now_ms;
	if (s->blocked_until > now_ms)
		return 0; /* already blocked (an attempt that was in flight) */
	if (s->strikes && now_ms - s->last_fail >= t->forget_ms)
		s->strikes = 0;
	if (now_ms - s->window_start >= t->window_ms) {
		s->window_start = now_ms;
		s->fails = 0;
	}
	s->last_fail = now_ms;
	if (++s->fails < t->limit)
		return 0;
	block = t->block_ms;
	for (uint32_t i = 0; i < s->strikes && block < t->block_max_ms; i++)
		block *= 2;
	if (block > t->block_max_ms)
		block = t->block_max_ms;
	s->strikes++;
	s->fails = 0;
	s->window_start = now_ms;
	s->blocked_until = now_ms + block;
	return block;
}

void hub__throttle_clear(struct hub_throttle *t, const char *key)
{
	struct hub_throttle_slot *s = key && key[0] ? find(t, key) : NULL;

	if (s)
		memset(s, 0, sizeof(*s));
}

int hub__ip_key(const char *ip, char *out, size_t size)
{
	unsigned char a[16];

	if (!ip || size < INET6_ADDRSTRLEN)
		return -EINVAL;
	if (inet_pton(AF_INET, ip, a) == 1)
		return nbw_strlcpy(out, ip, size);
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -EINVAL;
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a))
		return inet_ntop(AF_INET, a + 12, out, (socklen_t)size) ? 0 : -EINVAL;
	/* one IPv6 host usually owns its whole /64 */
	memset(a + 8, 0, 8);
	if (!inet_ntop(AF_INET6, a, out, (socklen_t)size))
		return -EINVAL;
	return nbw_strlcpy(out + strlen(out), "/64", size - strlen(out));
}
