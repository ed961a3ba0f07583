/* buf.h — the growable byte buffer used for all byte handling in escort.
 * A buf owns its storage, never grows past its max (ESC_ETOOBIG instead), keeps a
 * NUL after the last byte so data can be read as a C string, and is safe to free twice. */
#ifndef ESCORT_UTIL_BUF_H
#define ESCORT_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_DEFAULT_MAX ((size_t)256 * 1024 * 1024)

typedef struct buf {
	unsigned char *data; /* NULL until the first write; data[len] == 0 afterwards */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len; 0 means BUF_DEFAULT_MAX */
} buf;

#define BUF_INIT { NULL, 0, 0, 0 }

/* Sets an empty buffer with the given maximum (0: BUF_DEFAULT_MAX). */
void buf_init(buf *b, size_t max);
/* Frees the storage and leaves b empty and reusable. NULL-safe. */
void buf_free(buf *b);
/* Drops the content, keeps the storage. */
void buf_reset(buf *b);
/* Makes room for n more bytes. 0, ESC_ENOMEM or ESC_ETOOBIG. */
int buf_reserve(buf *b, size_t n);
int buf_put(buf *b, const void *p, size_t n);
int buf_putc(buf *b, unsigned char c);
int buf_puts(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (or all if n >= len). */
void buf_consume(buf *b, size_t n);
/* Truncates to len n (n <= len). */
void buf_truncate(buf *b, size_t n);
/* Returns the content as a NUL-terminated string ("" when empty); valid until next write. */
const char *buf_cstr(const buf *b);
/* Hands the storage to the caller (free() it) and leaves b empty; never NULL on success.
 * Returns NULL only when the buffer was empty and allocation failed. */
char *buf_steal(buf *b, size_t *lenp);
/* Appends the whole content of an open stdio stream or a file descriptor. */
int buf_read_fd(buf *b, int fd);
/* Reads a whole file by path; ESC_EIO with errno set on failure. */
int buf_read_file(buf *b, const char *path);

#endif
