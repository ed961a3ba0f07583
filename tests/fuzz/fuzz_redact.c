/* fuzz_redact.c — broker_redact and broker_redact_ex (built-ins plus policy patterns like
 * those in examples/policy.yaml) on arbitrary bytes: never crash, leave input without
 * secrets byte for byte, and are idempotent (redacting the output finds nothing more). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Patterns of the kind an administrator writes: fixed-width ids, alternations, classes. */
static const char *const patterns[] = {
	"[0-9]{3}-[0-9]{2}-[0-9]{4}",
	"EMP[0-9]{6}",
	"(api|session)_?key[:=][A-Za-z0-9]+",
};

static broker_redact_rules *rules;

static void
check(const uint8_t *data, size_t size, const broker_redact_rules *extra)
{
	buf out = BUF_INIT, again = BUF_INIT, sum = BUF_INIT;
	broker_redaction c, c2;

	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	if (broker_redact_ex(data, size, &out, &c, extra) != 0)
		abort();
	if (c.total == 0 && (out.len != size || (size && memcmp(out.data, data, size) != 0)))
		abort();
	if (broker_redact_ex(out.data, out.len, &again, &c2, extra) != 0)
		abort();
	if (c2.total != 0 || again.len != out.len ||
	    (out.len && memcmp(again.data, out.data, out.len) != 0))
		abort();
	if (broker_redaction_summary(&c, &sum) != 0 || (c.total != 0) != (sum.len != 0))
		abort();
	buf_free(&out);
	buf_free(&again);
	buf_free(&sum);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	buf err = BUF_INIT;

	(void)argc;
	(void)argv;
	/* kept for the whole run (still reachable, so no leak report) */
	if (broker_redact_rules_new(&rules, patterns, sizeof(patterns) / sizeof(patterns[0]),
	                            &err) != 0)
		abort();
	buf_free(&err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, NULL);
	check(data, size, rules);
	return 0;
}
