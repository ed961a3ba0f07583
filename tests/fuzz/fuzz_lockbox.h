/* fuzz_lockbox.h — what the lockbox fuzz targets share: the libFuzzer entry points,
 * loading the rules once (from $ESCORT_RULES or ./rules; a rule set that does not load
 * stops the run), and the checks every analysis result must pass. */
#ifndef ESCORT_TESTS_FUZZ_LOCKBOX_H
#define ESCORT_TESTS_FUZZ_LOCKBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "lockbox/lockbox.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline const char *
fuzz_rules_dir(void)
{
	const char *dir = getenv("ESCORT_RULES");
	return dir ? dir : "rules";
}

/* After a loader returned rc into err: aborts the target (named in the message) on failure. */
static inline void
fuzz_rules_loaded(const char *target, int rc, buf *err)
{
	if (rc != 0) {
		fprintf(stderr, "%s: cannot load rules: %s\n", target, buf_cstr(err));
		abort();
	}
	buf_free(err);
}

/* Analyzes data as `shell` and aborts unless the score agrees with the risk and the
 * JSON (left in out) parses; returns the result and in *j its JSON document (the caller
 * frees both), or NULL when lockbox ran out of memory. */
static inline lockbox_result *
fuzz_analyze_checked(const lockbox *lb, const uint8_t *data, size_t size, const char *shell,
    buf *out, json_t **j)
{
	static const int lo[] = { 0, 10, 40, 70, 90 }, hi[] = { 9, 39, 69, 89, 100 };
	lockbox_result *r = NULL;
	if (lockbox_analyze(lb, (const char *)data, size, shell, &r) != 0)
		return NULL; /* out of memory only */
	int risk = (int)lockbox_result_risk(r), score = lockbox_result_score(r);
	if (risk < 0 || risk > 4 || score < lo[risk] || score > hi[risk])
		abort();
	if (lockbox_result_json(r, out) != 0)
		abort();
	json_error_t e;
	*j = json_loadb((const char *)out->data, out->len, JSON_ALLOW_NUL, &e);
	if (*j == NULL) {
		fprintf(stderr, "invalid JSON: %s\n%s\n", e.text, buf_cstr(out));
		abort();
	}
	return r;
}

#endif
