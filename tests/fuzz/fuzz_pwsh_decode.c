/* fuzz_pwsh_decode.c — libFuzzer target for lockbox's Windows decoders: base64, UTF-16LE
 * to UTF-8, -EncodedCommand and the -f format operator. Output must stay within the sizes
 * the input allows, UTF-8 output must be valid, and base64 must round-trip its own
 * encoding of the decoded bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/analyze_int.h"
#include "lockbox/pwsh.h"

static lb_arena *g_a;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = lbx_utf8_len((const unsigned char *)s + i, n - i, &cp);
		if (l == 0)
			abort();
		i += l;
	}
}

static size_t
b64_encode(const unsigned char *p, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[k++] = t[v >> 18 & 63];
		out[k++] = t[v >> 12 & 63];
		out[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? t[v & 63] : '=';
	}
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	if (g_a == NULL && (g_a = lb_arena_new()) == NULL)
		abort();
	lb_arena_reset(g_a);
	size_t n = 0;
	unsigned char *d = ps_b64_decode(g_a, (const char *)data, size, &n);
	if (d) {
		if (n > size / 4 * 3 + 3)
			abort();
		/* decoding our own encoding gives the same bytes back */
		char *e = lb_arena_alloc(g_a, n / 3 * 4 + 8);
		if (e == NULL)
			abort();
		size_t el = b64_encode(d, n, e);
		size_t n2 = 0;
		unsigned char *d2 = ps_b64_decode(g_a, e, el, &n2);
		if (n > 0 && (d2 == NULL || n2 != n || memcmp(d, d2, n) != 0))
			abort();
	}
	size_t un = 0;
	char *u = ps_utf16le_to_utf8(g_a, data, size & ~(size_t)1, &un);
	if (u == NULL || un > (size / 2) * 3)
		abort();
	check_utf8(u, un);
	char *ec = ps_decode_encoded_command(g_a, (const char *)data, size, &un);
	if (ec)
		check_utf8(ec, un);
	/* format: the first byte picks how the rest splits into a format and arguments */
	if (size >= 2) {
		size_t nargs = data[0] % 5, flen = (size - 1) / 2;
		const char *args[4];
		size_t alens[4];
		const char *rest = (const char *)data + 1 + flen;
		size_t rl = size - 1 - flen;
		for (size_t i = 0; i < nargs && i < 4; i++) {
			args[i] = rest + i * rl / (nargs ? nargs : 1);
			alens[i] = rl / (nargs ? nargs : 1);
		}
		size_t on = 0;
		char *f = ps_format(g_a, (const char *)data + 1, flen, args, alens, nargs, &on);
		if (f && on > flen + flen * rl)
			abort();
	}
	return 0;
}
