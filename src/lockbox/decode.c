/* decode.c — the static decoders behind lockbox's deobfuscation: base64, base32, hex,
 * rev, tr, backslash escapes, printf and gzip of data written literally in a record.
 * Every output is bounded by the caller's budget; nothing here executes anything. */
#include "lockbox/decode.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ESCORT_HAVE_ZLIB
#include <zlib.h>
#endif

static char *
out_buf(lb_arena *a, size_t n)
{
	return lb_arena_alloc_raw(a, n + 1, 1);
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* A base64 symbol's value, both alphabets (standard and URL-safe), as base64 -d and basenc
 * accept one each; -1 for anything else. */
static int
b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* A base32 symbol's value (either case); -1 for anything else. */
static int
b32val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a';
	if (ch >= '2' && ch <= '7')
		return ch - '2' + 26;
	return -1;
}

/* Decodes symbols of `width` bits each into o (*k bytes), skipping white space; '=' only
 * as trailing padding. Returns how many symbols there were, or -1 for a character outside
 * the alphabet or data after padding. */
static long
dec_radix(const char *s, size_t n, int width, int (*val)(unsigned char), char *o, size_t *k)
{
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	long sym = 0;
	*k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		int v = val(ch);
		if (v < 0) {
			if (ch == '=')
				pad++;
			else if (!is_ws((char)ch))
				return -1;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		sym++;
		acc = (acc << width) | (uint32_t)v;
		bits += width;
		if (bits >= 8) {
			bits -= 8;
			o[(*k)++] = (char)((acc >> bits) & 0xFF);
		}
	}
	return sym;
}

int
lbx_dec_base64(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn)
{
	/* at most 6 bits a symbol: floor(6n/8) bytes, the bound the budget is held to */
	size_t cap = n / 4 * 3 + n % 4 * 3 / 4;
	if (cap > max + 3)
		return -2;
	char *o = out_buf(a, cap);
	if (o == NULL)
		return -2;
	size_t k;
	long sym = dec_radix(s, n, 6, b64val, o, &k);
	if (sym <= 0 || sym % 4 == 1)
		return -1;
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
}

int
lbx_dec_base32(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn)
{
	/* at most 5 bits a symbol: floor(5n/8) bytes (the old n/8*5 + 5 let 15 symbols
	 * write 9 bytes past a budget of 0 + 5) */
	size_t cap = n / 8 * 5 + n % 8 * 5 / 8;
	if (cap > max + 5)
		return -2;
	char *o = out_buf(a, cap);
	if (o == NULL)
		return -2;
	size_t k;
	if (dec_radix(s, n, 5, b32val, o, &k) <= 0)
		return -1;
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
lbx_dec_hex(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn)
{
	if (n / 2 > max)
		return -2;
	char *o = out_buf(a, n / 2 + 1);
	if (o == NULL)
		return -2;
	size_t k = 0, digits = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		int v = hexval((unsigned char)s[i]);
		if (v < 0) {
			if (!is_ws(s[i]) && s[i] != ':' && s[i] != ',')
				return -1;
			continue;
		}
		digits++;
		if (hi < 0) {
			hi = v;
		} else {
			o[k++] = (char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (digits < 2)
		return -1;
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
}

int
lbx_dec_rev(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn)
{
	if (n > max)
		return -2;
	char *o = out_buf(a, n);
	if (o == NULL)
		return -2;
	size_t ls = 0;
	while (ls < n) {
		const char *nl = memchr(s + ls, '\n', n - ls);
		size_t le = nl ? (size_t)(nl - s) : n;
		for (size_t i = ls; i < le; i++)
			o[i] = s[le - 1 - (i - ls)];
		if (nl)
			o[le] = '\n';
		ls = le + 1;
	}
	o[n] = 0;
	*out = o;
	*outn = n;
	return 0;
}

/* Expands a tr set (ranges and escapes) into at most 256 bytes; -1 when unsupported. */
static int
tr_set(const char *s, unsigned char *o, size_t *on)
{
	size_t k = 0;
	for (size_t i = 0; s[i];) {
		unsigned char c = (unsigned char)s[i];
		if (c == '[' && (s[i + 1] == ':' || s[i + 1] == '=' || strchr(s + i + 1, '*')))
			return -1; /* classes, equivalence classes, repeats: not modelled */
		if (c == '\\' && s[i + 1]) {
			char e = s[i + 1];
			c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '\\' ? '\\' :
			    (unsigned char)e;
			i += 2;
		} else {
			i++;
		}
		if (s[i] == '-' && s[i + 1]) {
			unsigned char hi = (unsigned char)s[i + 1];
			i += 2;
			if (hi < c)
				return -1;
			for (unsigned v = c; v <= hi; v++) {
				if (k >= 256)
					return -1;
				o[k++] = (unsigned char)v;
			}
			continue;
		}
		if (k >= 256)
			return -1;
		o[k++] = c;
	}
	*on = k;
	return 0;
}

int
lbx_dec_tr(lb_arena *a, const char *set1, const char *set2, const char *s, size_t n,
    size_t max, char **out, size_t *outn)
{
	unsigned char s1[256], s2[256], map[256];
	size_t n1 = 0, n2 = 0;
	if (n > max)
		return -2;
	if (tr_set(set1, s1, &n1) || tr_set(set2, s2, &n2) || n1 == 0 || n2 == 0)
		return -1;
	for (unsigned i = 0; i < 256; i++)
		map[i] = (unsigned char)i;
	/* like GNU tr: a shorter SET2 is padded with its last byte */
	for (size_t i = 0; i < n1; i++)
		map[s1[i]] = s2[i < n2 ? i : n2 - 1];
	char *o = out_buf(a, n);
	if (o == NULL)
		return -2;
	for (size_t i = 0; i < n; i++)
		o[i] = (char)map[(unsigned char)s[i]];
	o[n] = 0;
	*out = o;
	*outn = n;
	return 0;
}

/* Appends the UTF-8 form of cp. */
static size_t
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		cp = 0xFFFD;
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes escapes into o (room for n + 4 bytes: no escape grows). Returns the length;
 * *stop set when \c ended the output. */
static size_t
escapes(const char *s, size_t n, int fmt, char *o, int *stop)
{
	size_t k = 0;
	*stop = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\' || i + 1 >= n) {
			o[k++] = s[i++];
			continue;
		}
		char e = s[i + 1];
		i += 2;
		switch (e) {
		case 'a': o[k++] = '\a'; break;
		case 'b': o[k++] = '\b'; break;
		case 'e': case 'E': o[k++] = 27; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'v': o[k++] = '\v'; break;
		case '\\': o[k++] = '\\'; break;
		case 'c':
			*stop = 1;
			return k;
		case 'x': {
			unsigned v = 0;
			int d = 0;
			while (d < 2 && i < n && hexval((unsigned char)s[i]) >= 0)
				v = v * 16 + (unsigned)hexval((unsigned char)s[i++]), d++;
			if (d == 0) {
				o[k++] = '\\';
				o[k++] = 'x';
			} else {
				o[k++] = (char)v;
			}
			break;
		}
		case 'u':
		case 'U': {
			unsigned v = 0;
			int d = 0, dmax = e == 'u' ? 4 : 8;
			while (d < dmax && i < n && hexval((unsigned char)s[i]) >= 0)
				v = v * 16 + (unsigned)hexval((unsigned char)s[i++]), d++;
			if (d == 0) {
				o[k++] = '\\';
				o[k++] = e;
			} else {
				k += put_utf8(o + k, v); /* \uHHHH: 6 source bytes, at most 4 out */
			}
			break;
		}
		default:
			if (e >= '0' && e <= '7' && (fmt || e == '0')) {
				/* echo: \0NNN (up to 3 digits after the 0); printf format: \NNN;
				 * printf %b (fmt 2): both */
				int zero = e == '0' && fmt != 1;
				unsigned v = zero ? 0 : (unsigned)(e - '0');
				int d = zero ? 0 : 1;
				while (d < 3 && i < n && s[i] >= '0' && s[i] <= '7')
					v = v * 8 + (unsigned)(s[i++] - '0'), d++;
				o[k++] = (char)(v & 0xFF);
			} else {
				o[k++] = '\\';
				o[k++] = e;
			}
			break;
		}
	}
	return k;
}

int
lbx_dec_escapes(lb_arena *a, const char *s, size_t n, int fmt, size_t max, char **out,
    size_t *outn)
{
	if (n > max)
		return -2;
	char *o = out_buf(a, n + 4);
	if (o == NULL)
		return -2;
	int stop = 0;
	size_t k = escapes(s, n, fmt, o, &stop);
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
}

/* Appends src to the output; -2 past max. */
static int
put(char *o, size_t *k, size_t cap, const char *src, size_t n)
{
	if (*k + n > cap)
		return -2;
	memcpy(o + *k, src, n);
	*k += n;
	return 0;
}

int
lbx_dec_printf(lb_arena *a, const char *fmt, size_t fn, const char *const *args,
    const size_t *alen, size_t nargs, size_t max, char **out, size_t *outn)
{
	char *o = out_buf(a, max + 8);
	if (o == NULL)
		return -2;
	size_t k = 0, ai = 0;
	int stop = 0;
	char num[32];
	for (int round = 0; round < 1024; round++) {
		int used = 0;
		for (size_t i = 0; i < fn;) {
			if (fmt[i] == '\\') {
				/* one escape at a time: decode the backslash sequence */
				size_t j = i + 1;
				if (j < fn && fmt[j] == 'x')
					for (j++; j < fn && j < i + 4 && hexval((unsigned char)fmt[j]) >= 0; j++)
						;
				else if (j < fn && fmt[j] >= '0' && fmt[j] <= '7')
					for (j++; j < fn && j < i + 4 && fmt[j] >= '0' && fmt[j] <= '7'; j++)
						;
				else if (j < fn && (fmt[j] == 'u' || fmt[j] == 'U'))
					for (j++; j < fn && j < i + (fmt[i + 1] == 'u' ? 6 : 10) &&
					    hexval((unsigned char)fmt[j]) >= 0; j++)
						;
				else if (j < fn)
					j++;
				char tmp[16];
				size_t tn = escapes(fmt + i, j - i, 1, tmp, &stop);
				if (put(o, &k, max, tmp, tn))
					return -2;
				if (stop)
					goto done;
				i = j;
				continue;
			}
			if (fmt[i] != '%') {
				if (put(o, &k, max, fmt + i, 1))
					return -2;
				i++;
				continue;
			}
			i++;
			if (i < fn && fmt[i] == '%') {
				if (put(o, &k, max, "%", 1))
					return -2;
				i++;
				continue;
			}
			/* flags, width, precision: accepted and ignored (no padding) */
			while (i < fn && strchr("-+ #0123456789.", fmt[i]))
				i++;
			if (i >= fn)
				return -1;
			char conv = fmt[i++];
			const char *av = ai < nargs ? args[ai] : "";
			size_t al = ai < nargs ? alen[ai] : 0;
			if (ai < nargs)
				ai++;
			used = 1;
			switch (conv) {
			case 's':
				if (put(o, &k, max, av, al))
					return -2;
				break;
			case 'b': {
				if (al > max)
					return -2;
				char *t = out_buf(a, al + 4);
				if (t == NULL)
					return -2;
				size_t tn = escapes(av, al, 2, t, &stop);
				if (put(o, &k, max, t, tn))
					return -2;
				if (stop)
					goto done;
				break;
			}
			case 'c':
				if (al && put(o, &k, max, av, 1))
					return -2;
				break;
			case 'd':
			case 'i':
			case 'u':
			case 'x':
			case 'X':
			case 'o': {
				char *end = NULL;
				long long v = 0;
				if (al) {
					/* strtoll on a bounded copy */
					char nb[24];
					size_t cl = al < sizeof nb - 1 ? al : sizeof nb - 1;
					memcpy(nb, av, cl);
					nb[cl] = 0;
					v = strtoll(nb, &end, 0);
					if (end == nb || *end)
						return -1;
				}
				int m = conv == 'x' ? snprintf(num, sizeof num, "%llx", (unsigned long long)v) :
				    conv == 'X' ? snprintf(num, sizeof num, "%llX", (unsigned long long)v) :
				    conv == 'o' ? snprintf(num, sizeof num, "%llo", (unsigned long long)v) :
				    snprintf(num, sizeof num, "%lld", v);
				if (m < 0 || put(o, &k, max, num, (size_t)m))
					return -2;
				break;
			}
			default:
				return -1;
			}
		}
		if (!used || ai >= nargs)
			break;
	}
done:
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
}

int
lbx_dec_gunzip(lb_arena *a, const char *s, size_t n, size_t max, char **out, size_t *outn)
{
	if (n < 18 || (unsigned char)s[0] != 0x1f || (unsigned char)s[1] != 0x8b)
		return -1;
#ifdef ESCORT_HAVE_ZLIB
	char *o = out_buf(a, max);
	if (o == NULL)
		return -2;
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)s;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)o;
	z.avail_out = (uInt)max;
	int rc = inflate(&z, Z_FINISH);
	size_t k = max - z.avail_out;
	inflateEnd(&z);
	if (rc == Z_BUF_ERROR && z.avail_out == 0)
		return -2;
	if (rc != Z_STREAM_END)
		return -1;
	o[k] = 0;
	*out = o;
	*outn = k;
	return 0;
#else
	(void)a;
	(void)max;
	(void)out;
	(void)outn;
	return -1;
#endif
}
