/* fuzz_attest.c — broker_attest_diff on arbitrary snapshot text (a compromised target
 * writes it): never crashes, comparing a snapshot with itself finds no change, and every
 * reported change is one line of text. Input: BEFORE, a NUL byte, AFTER. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t blen = nul ? (size_t)(nul - data) : size;
	const char *a = (const char *)data + (nul ? blen + 1 : size);
	size_t alen = nul ? size - blen - 1 : 0, n = 0, lines = 0, i;
	buf d = BUF_INIT;

	if (broker_attest_diff((const char *)data, blen, a, alen, &d, &n) != 0)
		abort();
	for (i = 0; i < d.len; i++)
		lines += d.data[i] == '\n';
	/* a line's text may itself hold newlines only inside names: count at least n */
	if (lines < n)
		abort();
	buf_reset(&d);
	if (broker_attest_diff((const char *)data, blen, (const char *)data, blen, &d, &n) != 0 ||
	    n != 0 || d.len != 0)
		abort();
	buf_free(&d);
	return 0;
}
