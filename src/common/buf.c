#include "common/common.h"

void nbw_buf_add(struct nbw_buf *b, const void *s, size_t n)
{
	if (b->failed)
		return;
	if (n > b->max || b->len > b->max - n) {
		b->failed = true; /* over the caller's bound: never grows past it */
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void nbw_buf_str(struct nbw_buf *b, const char *s)
{
	nbw_buf_add(b, s, strlen(s));
}

void nbw_buf_done(struct nbw_buf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
