/* cast.c — asciicast v2 recordings: a JSON header line, then one [time, type, data] line
 * per event ('o' output, 'i' input, 'm' marker; output with "\r\n" line ends, as a
 * terminal shows it), written as they happen, fsynced and hashed as written; and a strict
 * reader of event lines for replay. */
#include "session/session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

#define CAST_FLUSH (64 * 1024) /* buffered bytes written at once */

struct sess_cast {
	int fd;
	int64_t start_us;
	buf pending;
	unsigned char carry[4];
	/* the file's SHA-256 as it is written (the file is ours alone: O_EXCL, 0600), so that
	 * closing a large recording does not read it all back */
	EVP_MD_CTX *md;
	uint64_t written;
	size_t ncarry;
	unsigned char last_o; /* the last output byte recorded: a "\r" there pairs a leading "\n" */
	char path[4096];
};

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid, -1 when cut short. */
static int
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char b = p[0];
	size_t len, k;
	uint32_t c;

	if (b < 0x80)
		return 1;
	if ((b & 0xe0) == 0xc0)
		len = 2, c = b & 0x1f;
	else if ((b & 0xf0) == 0xe0)
		len = 3, c = b & 0x0f;
	else if ((b & 0xf8) == 0xf0)
		len = 4, c = b & 0x07;
	else
		return 0;
	for (k = 1; k < len; k++) {
		if (k >= n)
			return -1;
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[k] & 0x3fu);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return (int)len;
}

/* JSON string body of valid UTF-8 p[0..n). */
static int
json_body(buf *out, const unsigned char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc = 0;

	/* reserve the common case (nothing to escape) at once: the run is copied in one put */
	if ((rc = buf_reserve(out, n)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		if (i > run)
			rc = buf_put(out, p + run, i - run);
		run = i + 1;
		if (rc)
			break;
		switch (c) {
		case '"': rc = buf_puts(out, "\\\""); break;
		case '\\': rc = buf_puts(out, "\\\\"); break;
		case '\n': rc = buf_puts(out, "\\n"); break;
		case '\r': rc = buf_puts(out, "\\r"); break;
		case '\t': rc = buf_puts(out, "\\t"); break;
		default: {
			char e[6] = { '\\', 'u', '0', '0', hx[c >> 4], hx[c & 15] };

			rc = buf_put(out, e, 6);
		}
		}
	}
	if (rc == 0 && n > run)
		rc = buf_put(out, p + run, n - run);
	return rc;
}

int
sess_cast_line(buf *out, int64_t t_us, char type, const unsigned char *p, size_t n,
               unsigned char carry[4], size_t *ncarry, int final)
{
	static const unsigned char repl[] = { 0xef, 0xbf, 0xbd };
	const unsigned char *q = p;
	size_t qn = n, i = 0, start = 0;
	buf tmp = BUF_INIT;
	int rc, k;

	if (t_us < 0)
		t_us = 0;
	/* a sequence cut by the previous chunk continues in this one */
	if (carry && ncarry && *ncarry) {
		if ((rc = buf_put(&tmp, carry, *ncarry)) != 0 || (n && (rc = buf_put(&tmp, p, n)) != 0))
			goto out;
		q = tmp.data;
		qn = tmp.len;
		*ncarry = 0;
	}
	rc = buf_printf(out, "[%" PRId64 ".%06" PRId64 ", \"%c\", \"", t_us / 1000000,
	                t_us % 1000000, type);
	while (rc == 0 && i < qn) {
		/* ASCII is most output: skip it here, json_body escapes it in one pass */
		if (q[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(q + i, qn - i);
		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		if ((rc = json_body(out, q + start, i - start)) != 0)
			break;
		if (k < 0 && !final && carry && ncarry) {
			*ncarry = qn - i; /* at most 3 bytes */
			memcpy(carry, q + i, *ncarry);
			start = i = qn;
			break;
		}
		rc = buf_put(out, repl, 3);
		start = ++i;
	}
	if (rc == 0 && i > start)
		rc = json_body(out, q + start, i - start);
	if (rc == 0)
		rc = buf_puts(out, "\"]\n");
out:
	buf_free(&tmp);
	return rc;
}

/* Appends p[0..n) with each "\n" not preceded by "\r" as "\r\n"; *last is the byte
 * before p (the previous chunk's last), updated to p's last. */
static int
crlf_put(buf *out, const unsigned char *p, size_t n, unsigned char *last)
{
	const unsigned char *nl;
	size_t i = 0, k;
	int rc = 0;

	if (n == 0)
		return 0;
	while (rc == 0 && i < n && (nl = memchr(p + i, '\n', n - i)) != NULL) {
		k = (size_t)(nl - p);
		if ((rc = buf_put(out, p + i, k - i)) != 0)
			break;
		/* the byte before this "\n": in p, or the end of the previous chunk */
		if ((k > 0 ? p[k - 1] : *last) != '\r')
			rc = buf_putc(out, '\r');
		if (rc == 0)
			rc = buf_putc(out, '\n');
		i = k + 1;
	}
	if (rc == 0 && i < n)
		rc = buf_put(out, p + i, n - i);
	if (rc == 0)
		*last = p[n - 1];
	return rc;
}

int
sess_cast_header(buf *out, unsigned width, unsigned height, int64_t start_us, const char *title)
{
	json_t *h = json_pack("{s:i, s:i, s:i, s:I, s:s, s:{s:s, s:s}}", "version", 2, "width",
	                      (int)(width ? width : 80), "height", (int)(height ? height : 24),
	                      "timestamp", (json_int_t)(start_us / 1000000), "title",
	                      title ? title : "", "env", "SHELL", "/bin/bash", "TERM", "xterm");
	char *s;
	int rc;

	if (h == NULL)
		return ESC_ENOMEM;
	s = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (s == NULL)
		return ESC_ENOMEM;
	rc = buf_printf(out, "%s\n", s);
	free(s);
	return rc;
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t k;

	while (n) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return ESC_EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
cast_flush(sess_cast *c)
{
	int rc = 0;

	if (c->pending.len) {
		rc = write_all(c->fd, c->pending.data, c->pending.len);
		if (rc == 0 && EVP_DigestUpdate(c->md, c->pending.data, c->pending.len) != 1)
			rc = ESC_EINTERNAL;
		c->written += c->pending.len;
	}
	buf_reset(&c->pending);
	return rc;
}

int
sess_cast_open(sess_cast **out, const char *path, unsigned width, unsigned height,
               int64_t start_us, const char *title, buf *msg)
{
	sess_cast *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ESC_ENOMEM;
	buf_init(&c->pending, 0);
	c->start_us = start_us;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if ((c->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c->md);
		buf_free(&c->pending);
		free(c);
		return ESC_ENOMEM;
	}
	c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->fd < 0) {
		buf_printf(msg, "%s: %s", path, strerror(errno));
		EVP_MD_CTX_free(c->md);
		free(c);
		return ESC_EIO;
	}
	if ((rc = sess_cast_header(&c->pending, width, height, start_us, title)) != 0 ||
	    (rc = cast_flush(c)) != 0) {
		buf_printf(msg, "%s: cannot write the header", path);
		sess_cast_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int
sess_cast_event(sess_cast *c, int64_t now_us, char type, const unsigned char *p, size_t n)
{
	buf crlf = BUF_INIT;
	int rc;

	if (c == NULL)
		return ESC_EINVAL;
	/* only output streams carry cut sequences over; input and markers are whole. Output
	 * is recorded as a terminal shows it: the shell writes to a pipe (no tty, so no
	 * ONLCR) and its bare "\n" would draw a staircase in players */
	if (type == 'o' && n && memchr(p, '\n', n) != NULL) {
		if ((rc = crlf_put(&crlf, p, n, &c->last_o)) == 0)
			rc = sess_cast_line(&c->pending, now_us - c->start_us, type, crlf.data,
			                    crlf.len, c->carry, &c->ncarry, 0);
		buf_free(&crlf);
	} else if (type == 'o') {
		if (n)
			c->last_o = p[n - 1];
		rc = sess_cast_line(&c->pending, now_us - c->start_us, type, p, n, c->carry,
		                    &c->ncarry, 0);
	} else
		rc = sess_cast_line(&c->pending, now_us - c->start_us, type, p, n, NULL, NULL, 1);
	/* written at once: escorts follow the file live */
	if (rc == 0)
		rc = cast_flush(c);
	return rc;
}

int
sess_file_sha256(const char *path, unsigned char sha[32], uint64_t *bytes)
{
	unsigned char b[65536];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int fd, rc = 0;
	ssize_t k;

	*bytes = 0;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return ESC_ENOMEM;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		EVP_MD_CTX_free(md);
		return errno == ENOENT ? ESC_ENOENT : ESC_EIO;
	}
	while ((k = read(fd, b, sizeof(b))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = ESC_EIO;
			break;
		}
		EVP_DigestUpdate(md, b, (size_t)k);
		*bytes += (uint64_t)k;
	}
	close(fd);
	if (rc == 0 && EVP_DigestFinal_ex(md, sha, &olen) != 1)
		rc = ESC_EINTERNAL;
	EVP_MD_CTX_free(md);
	return rc;
}

int
sess_cast_close(sess_cast *c, unsigned char sha[32], uint64_t *bytes, buf *msg)
{
	int rc = 0;

	if (c == NULL)
		return ESC_EINVAL;
	if (c->ncarry) { /* a cut sequence at the very end */
		rc = sess_cast_line(&c->pending, 0, 'o', NULL, 0, c->carry, &c->ncarry, 1);
		c->ncarry = 0;
		buf_reset(&c->pending); /* a zero-time event would break the order: drop it */
	}
	if (rc == 0)
		rc = cast_flush(c);
	if (rc == 0 && fsync(c->fd) != 0)
		rc = ESC_EIO;
	if (close(c->fd) != 0 && rc == 0)
		rc = ESC_EIO;
	c->fd = -1;
	if (rc == 0) {
		unsigned int olen = 0;

		if (EVP_DigestFinal_ex(c->md, sha, &olen) != 1)
			rc = ESC_EINTERNAL;
		*bytes = c->written;
	}
	if (rc)
		buf_printf(msg, "%s: %s", c->path, esc_strerror(rc));
	EVP_MD_CTX_free(c->md);
	buf_free(&c->pending);
	free(c);
	return rc;
}

void
sess_cast_free(sess_cast *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0) {
		(void)cast_flush(c);
		close(c->fd);
	}
	EVP_MD_CTX_free(c->md);
	buf_free(&c->pending);
	free(c);
}

void
sess_cast_trim(sess_cast *c)
{
	if (c && c->pending.len == 0)
		buf_free(&c->pending);
}

int
sess_cast_parse(const char *line, size_t len, sess_cast_ev *ev, buf *data)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je), *t, *ty, *d;
	int rc = ESC_EPARSE;

	memset(ev, 0, sizeof(*ev));
	if (j == NULL || !json_is_array(j) || json_array_size(j) != 3)
		goto out;
	t = json_array_get(j, 0);
	ty = json_array_get(j, 1);
	d = json_array_get(j, 2);
	if (!json_is_number(t) || !json_is_string(ty) || json_string_length(ty) != 1 ||
	    !json_is_string(d) || json_number_value(t) < 0)
		goto out;
	ev->t = json_number_value(t);
	ev->type = json_string_value(ty)[0];
	buf_reset(data);
	rc = buf_put(data, json_string_value(d), json_string_length(d));
out:
	json_decref(j);
	return rc;
}
