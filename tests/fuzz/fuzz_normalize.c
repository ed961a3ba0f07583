/* fuzz_normalize.c — libFuzzer target for lockbox's static deobfuscator: any input is
 * normalized without crashing, within a bounded amount of memory (no exponential
 * expansion: brace products, nested decoding and aliases stay inside the budget), and
 * every note and layer points inside the input. Rules load once from $ESCORT_RULES or
 * ./rules (the program list is what command-name globs resolve against). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/analyze_int.h"
#include "lockbox/normalize.h"
#include "util/buf.h"

#include "fuzz_lockbox.h"

static kb *g_kb;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	buf err = BUF_INIT;
	fuzz_rules_loaded("fuzz_normalize", kb_load(&g_kb, fuzz_rules_dir(), NULL, &err), &err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	lb_arena *a = lb_arena_new();
	if (a == NULL)
		return 0;
	lbx_norm nm;
	size_t budget = LBX_NORM_BUDGET;
	if (lbx_normalize(a, g_kb, (const char *)data, size, NULL, &budget, &nm) == 0) {
		if (budget > LBX_NORM_BUDGET)
			abort();
		/* the rewritten text grows by at most the budget */
		if (nm.text && nm.len > size + LBX_NORM_BUDGET)
			abort();
		for (const lbx_note *x = nm.notes; x; x = x->next)
			if (x->span.start > x->span.end || x->span.end > size || x->id == NULL ||
			    x->msg == NULL)
				abort();
		for (const lbx_layer *l = nm.layers; l; l = l->next)
			if (l->span.start > l->span.end || l->span.end > size || l->text == NULL ||
			    l->len > LBX_NORM_BUDGET)
				abort();
	}
	/* parse tree + evaluation of a 64 KiB input: far below this unless something explodes */
	if (lb_arena_used(a) > (size_t)256 * 1024 * 1024)
		abort();
	budget = LBX_NORM_BUDGET;
	lbx_layer *l = lbx_code_commands(a, "python3", (const char *)data, size, &budget);
	for (; l; l = l->next)
		if (l->len > LBX_NORM_BUDGET || l->text == NULL)
			abort();
	lb_arena_free(a);
	return 0;
}
