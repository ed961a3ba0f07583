/* fuzz_session.c — what reads untrusted bytes in a session: the shell output scanner
 * that finds the per-line end marker (output from the target), the asciicast writer that
 * must turn any output into valid JSON lines, and the recording reader (a file anyone
 * with disk access could have edited). Invariants: the scanner's result does not depend
 * on how the bytes are chunked, input without a marker passes through byte for byte;
 * every event line written parses back, and valid UTF-8 comes back unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "session/session.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEX "0123456789abcdef0123456789abcdef"

static void
collect(void *ctx, const unsigned char *p, size_t n)
{
	if (buf_put(ctx, p, n) != 0)
		abort();
}

static void
scan(const uint8_t *p, size_t n, size_t step, buf *out, broker_frame *f)
{
	size_t i = 0, k;

	if (broker_frame_init(f, HEX) != 0)
		abort();
	while (i < n) {
		k = step == 0 || n - i < step ? n - i : step;
		broker_frame_feed(f, p + i, k, collect, out);
		i += k;
	}
	broker_frame_flush(f, collect, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	broker_frame f1, f2;
	buf a = BUF_INIT, b = BUF_INIT, ev = BUF_INIT, joined = BUF_INIT, d = BUF_INIT;
	unsigned char carry[4];
	size_t ncarry = 0, step, i, k;
	sess_cast_ev e;
	const char *q, *nl;

	if (size == 0)
		return 0;
	step = data[0] % 17;
	data++;
	size--;
	/* the scanner: chunking does not matter; without a marker nothing changes */
	scan(data, size, 0, &a, &f1);
	scan(data, size, step, &b, &f2);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0) ||
	    f1.seen_end != f2.seen_end || f1.seen_probe != f2.seen_probe ||
	    (f1.seen_end && f1.status_end != f2.status_end) || a.len > size)
		abort();
	if (!f1.seen_end && !f1.seen_probe &&
	    (a.len != size || (size && memcmp(a.data, data, size) != 0)))
		abort();
	/* the writer: every line parses back */
	for (i = 0; i < size; i += k) {
		k = step == 0 || size - i < step ? size - i : step;
		if (sess_cast_line(&ev, (int64_t)i, 'o', data + i, k, carry, &ncarry,
		                   i + k == size) != 0)
			abort();
	}
	for (q = buf_cstr(&ev); (nl = strchr(q, '\n')) != NULL; q = nl + 1) {
		if (sess_cast_parse(q, (size_t)(nl - q), &e, &d) != 0 || e.type != 'o')
			abort();
		buf_put(&joined, d.data, d.len);
	}
	/* the reader on arbitrary bytes: no crash */
	(void)sess_cast_parse((const char *)data, size, &e, &d);
	buf_free(&a);
	buf_free(&b);
	buf_free(&ev);
	buf_free(&joined);
	buf_free(&d);
	return 0;
}
