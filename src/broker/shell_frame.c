/* shell_frame.c — the framing of a session shell's output: finds the per-line marker
 * "ESCORT-<hex>-<tag>:<status>\n" in untrusted bytes that arrive in arbitrary chunks,
 * removes it and passes everything else through unchanged and in order. */
#include "broker/broker.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

enum { M_NO = 0, M_PARTIAL, M_MATCH };

int
broker_frame_init(broker_frame *f, const char *hex)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	if (hex == NULL || strlen(hex) != BROKER_MARK_HEX)
		return ESC_EINVAL;
	for (i = 0; i < BROKER_MARK_HEX; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return ESC_EINVAL;
	f->marklen = (size_t)snprintf(f->mark, sizeof(f->mark), "%s%s-", BROKER_MARK_PREFIX, hex);
	return 0;
}

void
broker_mark_new(char *hex)
{
	unsigned char r[BROKER_MARK_HEX / 2];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(hex, BROKER_MARK_HEX + 1, r, sizeof(r));
}

/* Byte i of the virtual buffer hold + p. */
static unsigned char
at(const broker_frame *f, const unsigned char *p, size_t i)
{
	return i < f->nhold ? f->hold[i] : p[i - f->nhold];
}

static void
emit(const broker_frame *f, const unsigned char *p, size_t a, size_t b, broker_frame_out out,
     void *ctx)
{
	size_t s;

	if (a >= b)
		return;
	if (a < f->nhold)
		out(ctx, f->hold + a, (b < f->nhold ? b : f->nhold) - a);
	if (b > f->nhold) {
		s = a > f->nhold ? a : f->nhold;
		out(ctx, p + (s - f->nhold), b - s);
	}
}

/* Does a marker start at j of the virtual buffer (total bytes)? */
static int
match(const broker_frame *f, const unsigned char *p, size_t total, size_t j, size_t *len,
      int *tag, int *status)
{
	size_t k;
	unsigned char c;
	int v = 0, digits = 0;

	for (k = 0; k < f->marklen; k++) {
		if (j + k >= total)
			return M_PARTIAL;
		if (at(f, p, j + k) != (unsigned char)f->mark[k])
			return M_NO;
	}
	if (j + k >= total)
		return M_PARTIAL;
	c = at(f, p, j + k++);
	if (c != 'e' && c != 'i')
		return M_NO;
	*tag = c;
	if (j + k >= total)
		return M_PARTIAL;
	if (at(f, p, j + k++) != ':')
		return M_NO;
	for (;;) {
		if (j + k >= total)
			return M_PARTIAL;
		c = at(f, p, j + k++);
		if (c == '\n')
			break;
		if (c < '0' || c > '9' || ++digits > 3)
			return M_NO;
		v = v * 10 + (c - '0');
	}
	if (digits == 0 || v > 255)
		return M_NO;
	*status = v;
	*len = k;
	return M_MATCH;
}

/* The next position >= i holding the marker's first byte, or total. */
static size_t
next_start(const broker_frame *f, const unsigned char *p, size_t total, size_t i)
{
	const unsigned char *q;
	unsigned char c0 = (unsigned char)f->mark[0];

	for (; i < f->nhold && i < total; i++)
		if (f->hold[i] == c0)
			return i;
	if (i >= total)
		return total;
	q = memchr(p + (i - f->nhold), c0, total - i);
	return q ? f->nhold + (size_t)(q - p) : total;
}

void
broker_frame_feed(broker_frame *f, const unsigned char *p, size_t n, broker_frame_out out,
                  void *ctx)
{
	size_t total = f->nhold + n, i = 0, from = 0, j, len = 0, k;
	unsigned char keep[BROKER_MARK_MAX];
	int tag = 0, status = 0, m;

	if (f->marklen == 0) { /* not initialized: nothing can be a marker */
		emit(f, p, 0, total, out, ctx);
		f->nhold = 0;
		return;
	}
	while (i < total) {
		j = next_start(f, p, total, i);
		if (j >= total)
			break;
		m = match(f, p, total, j, &len, &tag, &status);
		if (m == M_NO) {
			i = j + 1;
			continue;
		}
		if (m == M_PARTIAL) {
			/* total - j < BROKER_MARK_MAX: a partial match is shorter than a marker */
			emit(f, p, from, j, out, ctx);
			for (k = 0; k < total - j; k++)
				keep[k] = at(f, p, j + k);
			memcpy(f->hold, keep, total - j);
			f->nhold = total - j;
			return;
		}
		emit(f, p, from, j, out, ctx);
		if (tag == 'e') {
			f->seen_end = 1;
			f->status_end = status;
		} else {
			f->seen_probe = 1;
			f->status_probe = status;
		}
		i = j + len;
		from = i;
	}
	emit(f, p, from, total, out, ctx);
	f->nhold = 0;
}

void
broker_frame_flush(broker_frame *f, broker_frame_out out, void *ctx)
{
	if (f->nhold)
		out(ctx, f->hold, f->nhold);
	f->nhold = 0;
}
