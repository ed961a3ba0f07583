/* fuzz_decode.c — libFuzzer target for lockbox's static decoders (base64, base32, hex,
 * rev, tr, escapes, printf, gunzip): any input is decoded or refused without crashing,
 * and no output exceeds the budget it was given. The first byte picks the budget; for tr
 * and printf the input is split at NUL bytes into sets, format and arguments. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int rc, size_t outn, size_t max, const char *o)
{
	if (rc != 0 && rc != -1 && rc != -2)
		abort();
	if (rc == 0 && (o == NULL || outn > max + 8 || o[outn] != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	size_t max = (size_t)data[0] * 64;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	lb_arena *a = lb_arena_new();
	if (a == NULL)
		return 0;
	char *o = NULL;
	size_t ol = 0;
	int rc;
	rc = lbx_dec_base64(a, s, n, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_base32(a, s, n, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_hex(a, s, n, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_rev(a, s, n, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_escapes(a, s, n, 0, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_escapes(a, s, n, 1, max, &o, &ol), check(rc, ol, max, o);
	rc = lbx_dec_gunzip(a, s, n, max, &o, &ol), check(rc, ol, max, o);
	/* NUL-separated pieces: tr SET1 SET2 TEXT, printf FORMAT ARGS... */
	const char *piece[8];
	size_t plen[8], np = 0, st = 0;
	for (size_t i = 0; i <= n && np < 8; i++)
		if (i == n || s[i] == 0) {
			piece[np] = lb_arena_strndup(a, s + st, i - st);
			plen[np++] = i - st;
			st = i + 1;
		}
	if (np >= 3 && piece[0] && piece[1] && piece[2]) {
		rc = lbx_dec_tr(a, piece[0], piece[1], piece[2], plen[2], max, &o, &ol);
		check(rc, ol, max, o);
	}
	if (np >= 1 && piece[0]) {
		rc = lbx_dec_printf(a, piece[0], plen[0], piece + 1, plen + 1, np - 1, max, &o, &ol);
		check(rc, ol, max, o);
	}
	lb_arena_free(a);
	return 0;
}
