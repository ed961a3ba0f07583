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

#include "fuzz_lockbox.h"

static lockbox *g_lb;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	buf err = BUF_INIT;
	fuzz_rules_loaded("fuzz_analyze", lockbox_load(&g_lb, fuzz_rules_dir(), NULL, &err), &err);
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
	buf out = BUF_INIT;
	json_t *j;
	lockbox_result *r = fuzz_analyze_checked(g_lb, data, size, "bash", &out, &j);
	if (r == NULL) {
		buf_free(&out);
		return 0;
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
