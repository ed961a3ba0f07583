/* pwsh_decode.c — decoders lockbox uses to see through Windows obfuscation: base64,
 * UTF-16LE (what powershell -EncodedCommand carries) and PowerShell's -f format operator.
 * All output goes into the caller's arena and every length is checked. */
#include "lockbox/pwsh.h"

#include <ctype.h>
#include <string.h>

static int
b64v(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

unsigned char *
ps_b64_decode(lb_arena *a, const char *s, size_t len, size_t *n)
{
	size_t digits = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=' ) {
			for (size_t j = i; j < len; j++)
				if (s[j] != '=' && !isspace((unsigned char)s[j]))
					return NULL;
			break;
		}
		if (isspace(c))
			continue;
		if (b64v(c) < 0)
			return NULL;
		digits++;
	}
	if (digits < 2 || digits % 4 == 1)
		return NULL;
	unsigned char *out = lb_arena_alloc(a, digits / 4 * 3 + 4);
	if (out == NULL)
		return NULL;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=')
			break;
		int v = b64v(c);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[o] = 0;
	*n = o;
	return out;
}

size_t
ps_utf8_put(char *out, uint32_t cp)
{
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

char *
ps_utf16le_to_utf8(lb_arena *a, const unsigned char *p, size_t n, size_t *outn)
{
	if (n % 2)
		return NULL;
	/* each UTF-16 unit becomes at most 3 bytes (a surrogate pair 4 bytes for 2 units) */
	char *out = lb_arena_alloc(a, n / 2 * 3 + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t u = (uint32_t)p[i] | ((uint32_t)p[i + 1] << 8);
		if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
			uint32_t l = (uint32_t)p[i + 2] | ((uint32_t)p[i + 3] << 8);
			if (l >= 0xDC00 && l <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
				i += 2;
			} else {
				u = 0xFFFD;
			}
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			u = 0xFFFD;
		}
		o += ps_utf8_put(out + o, u);
	}
	out[o] = 0;
	*outn = o;
	return out;
}

char *
ps_decode_encoded_command(lb_arena *a, const char *s, size_t len, size_t *outn)
{
	size_t n = 0;
	unsigned char *raw = ps_b64_decode(a, s, len, &n);
	if (raw == NULL || n < 2 || n % 2)
		return NULL;
	/* UTF-16LE text of ASCII commands has a zero every second byte; demand mostly that,
	 * so random base64 is not taken for a command */
	size_t zeros = 0;
	for (size_t i = 1; i < n; i += 2)
		zeros += raw[i] == 0;
	if (zeros * 2 < n / 2)
		return NULL;
	return ps_utf16le_to_utf8(a, raw, n, outn);
}

char *
ps_format(lb_arena *a, const char *fmt, size_t flen, const char *const *args,
    const size_t *alens, size_t nargs, size_t *outn)
{
	size_t total = 0;
	/* two passes: measure, then write */
	for (int pass = 0; pass < 2; pass++) {
		char *out = NULL;
		if (pass == 1) {
			out = lb_arena_alloc(a, total + 1);
			if (out == NULL)
				return NULL;
		}
		size_t o = 0;
		for (size_t i = 0; i < flen; i++) {
			char c = fmt[i];
			if (c == '{' && i + 1 < flen && fmt[i + 1] == '{') {
				if (out)
					out[o] = '{';
				o++;
				i++;
				continue;
			}
			if (c == '}' && i + 1 < flen && fmt[i + 1] == '}') {
				if (out)
					out[o] = '}';
				o++;
				i++;
				continue;
			}
			if (c == '{') {
				size_t j = i + 1, idx = 0;
				while (j < flen && fmt[j] == ' ')
					j++;
				if (j >= flen || !isdigit((unsigned char)fmt[j]))
					return NULL;
				while (j < flen && isdigit((unsigned char)fmt[j]) && idx < 100000)
					idx = idx * 10 + (size_t)(fmt[j++] - '0');
				/* alignment and format parts are accepted and ignored */
				while (j < flen && fmt[j] != '}')
					j++;
				if (j >= flen || idx >= nargs)
					return NULL;
				if (out)
					memcpy(out + o, args[idx], alens[idx]);
				o += alens[idx];
				i = j;
				continue;
			}
			if (out)
				out[o] = c;
			o++;
		}
		if (pass == 0) {
			total = o;
		} else {
			out[o] = 0;
			*outn = o;
			return out;
		}
	}
	return NULL;
}
