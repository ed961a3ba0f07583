/* fuzz_redact.c — broker_redact on arbitrary bytes: never crashes, leaves input without
 * secrets byte for byte, and is idempotent (redacting its output finds nothing more). */
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
	buf out = BUF_INIT, again = BUF_INIT, sum = BUF_INIT;
	broker_redaction c, c2;

	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	if (broker_redact(data, size, &out, &c) != 0)
		abort();
	if (c.total == 0 && (out.len != size || (size && memcmp(out.data, data, size) != 0)))
		abort();
	if (broker_redact(out.data, out.len, &again, &c2) != 0)
		abort();
	if (c2.total != 0 || again.len != out.len ||
	    (out.len && memcmp(again.data, out.data, out.len) != 0))
		abort();
	if (broker_redaction_summary(&c, &sum) != 0 || (c.total != 0) != (sum.len != 0))
		abort();
	buf_free(&out);
	buf_free(&again);
	buf_free(&sum);
	return 0;
}
