/* buf.c — growable, capped byte buffer (see buf.h). Growth is overflow-checked and
 * doubles, so appends are amortized O(1); a failed grow leaves the content intact. */
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t
buf_max(const buf *b)
{
	return b->max ? b->max : BUF_DEFAULT_MAX;
}

void
buf_init(buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
buf_free(buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

int
buf_reserve(buf *b, size_t n)
{
	size_t need, ncap;
	unsigned char *p;

	if (n > buf_max(b) || b->len > buf_max(b) - n)
		return ESC_ETOOBIG;
	need = b->len + n + 1; /* room for the trailing NUL */
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return ESC_ETOOBIG;
		ncap *= 2;
	}
	if (ncap > buf_max(b) + 1)
		ncap = buf_max(b) + 1;
	if ((p = realloc(b->data, ncap)) == NULL)
		return ESC_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_put(buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0) {
		if ((r = buf_reserve(b, 0)) != 0)
			return r;
		b->data[b->len] = 0;
		return 0;
	}
	if ((r = buf_reserve(b, n)) != 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int
buf_putc(buf *b, unsigned char c)
{
	int r;

	if ((r = buf_reserve(b, 1)) != 0)
		return r;
	b->data[b->len++] = c;
	b->data[b->len] = 0;
	return 0;
}

int
buf_puts(buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

int
buf_vprintf(buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, r;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return ESC_EINVAL;
	if ((r = buf_reserve(b, (size_t)n)) != 0)
		return r;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = 0;
}

void
buf_truncate(buf *b, size_t n)
{
	if (n < b->len) {
		b->len = n;
		b->data[n] = 0;
	}
}

const char *
buf_cstr(const buf *b)
{
	return b->data ? (const char *)b->data : "";
}

char *
buf_steal(buf *b, size_t *lenp)
{
	char *p;

	if (b->data == NULL && buf_put(b, "", 0) != 0)
		return NULL;
	p = (char *)b->data;
	if (lenp)
		*lenp = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int
buf_read_fd(buf *b, int fd)
{
	ssize_t n;
	int r;

	for (;;) {
		if ((r = buf_reserve(b, 65536)) != 0) {
			/* near the cap: try a smaller read before giving up */
			if (r != ESC_ETOOBIG || (r = buf_reserve(b, 1)) != 0)
				return r;
		}
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ESC_EIO;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = 0;
	}
	return 0;
}

int
buf_read_file(buf *b, const char *path)
{
	int fd, r, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return ESC_EIO;
	r = buf_read_fd(b, fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}
