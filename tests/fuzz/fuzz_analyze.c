/* fuzz_analyze.c — libFuzzer target for the whole analyzer: any input is analyzed
 * without crashing, the JSON is always valid (checked with jansson), every span lies
 * inside the input (also those of recovered, deobfuscated text), score agrees with risk,
 * and the terminal rendering works. Rules load once from $ESCORT_RULES or ./rules. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lockbox/lockbox.h"
#include "util/buf.h"
#include "util/err.h"

static lockbox *g_lb;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *dir = getenv("ESCORT_RULES");
	buf err = BUF_INIT;
	if (lockbox_load(&g_lb, dir ? dir : "rules", NULL, &err) != 0) {
		fprintf(stderr, "fuzz_analyze: cannot load rules: %s\n", buf_cstr(&err));
		abort();
	}
	buf_free(&err);
	return 0;
}

static void
check_span(json_t *o, size_t len)
{
	json_t *sp = json_object_get(o, "span");
	if (!json_is_array(sp) || json_array_size(sp) != 2)
		abort();
	json_int_t s = json_integer_value(json_array_get(sp, 0));
	json_int_t e = json_integer_value(json_array_get(sp, 1));
	if (s < 0 || e < s || (size_t)e > len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int lo[] = { 0, 10, 40, 70, 90 }, hi[] = { 9, 39, 69, 89, 100 };
	lockbox_result *r = NULL;
	if (lockbox_analyze(g_lb, (const char *)data, size, "bash", &r) != 0)
		return 0; /* out of memory only */
	int risk = (int)lockbox_result_risk(r), score = lockbox_result_score(r);
	if (risk < 0 || risk > 4 || score < lo[risk] || score > hi[risk])
		abort();
	buf out = BUF_INIT;
	if (lockbox_result_json(r, &out) != 0)
		abort();
	json_error_t e;
	json_t *j = json_loadb((const char *)out.data, out.len, JSON_ALLOW_NUL, &e);
	if (j == NULL) {
		fprintf(stderr, "invalid JSON: %s\n%s\n", e.text, buf_cstr(&out));
		abort();
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(j, "commands"), i, v)
		check_span(v, size);
	json_array_foreach(json_object_get(j, "findings"), i, v)
		check_span(v, size);
	/* recovered text: spans inside the input, a text and its steps, the ids of findings
	 * that exist */
	size_t nf = json_array_size(json_object_get(j, "findings"));
	json_array_foreach(json_object_get(j, "deobfuscated"), i, v) {
		check_span(v, size);
		if (!json_is_string(json_object_get(v, "text")) ||
		    !json_is_array(json_object_get(v, "via")) ||
		    json_array_size(json_object_get(v, "findings")) > nf)
			abort();
	}
	if (!json_is_string(json_object_get(j, "explanation")))
		abort();
	json_decref(j);
	buf_reset(&out);
	if (lockbox_result_render(r, &out, (int)(size & 1)) != 0)
		abort();
	buf_free(&out);
	lockbox_result_free(r);
	return 0;
}
