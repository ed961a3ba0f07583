/* fuzz_pwsh.c — libFuzzer target for the PowerShell tokenizer and parser and the cmd.exe
 * splitter: any input lexes in both modes and parses or fails cleanly, every span lies
 * inside the input, and the whole PowerShell/cmd analysis (rules from $ESCORT_RULES or
 * ./rules) yields valid JSON with a score that agrees with the risk. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lockbox/lockbox.h"
#include "lockbox/pwsh.h"
#include "util/buf.h"
#include "util/err.h"

#include "fuzz_lockbox.h"

static lockbox *g_lb;
static lb_arena *g_a;
static size_t g_len;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	buf err = BUF_INIT;
	fuzz_rules_loaded("fuzz_pwsh", lockbox_load(&g_lb, fuzz_rules_dir(), NULL, &err), &err);
	g_a = lb_arena_new();
	if (g_a == NULL)
		abort();
	return 0;
}

static void
check_span(lb_span s)
{
	if (s.start > s.end || s.end > g_len)
		abort();
}

static void
walk(const ps_node *n, int depth)
{
	/* the tree is as deep as the parser allows, and no deeper than its node cap */
	if (depth > 4 * PS_MAX_DEPTH + 64)
		abort();
	for (; n; n = n->next) {
		check_span(n->span);
		if (n->text == NULL || (n->kind == PS_STR && strlen(n->text) > n->len))
			abort();
		walk(n->kid, depth + 1);
	}
}

static void
analyze(const uint8_t *data, size_t size, const char *shell)
{
	buf out = BUF_INIT;
	json_t *j;
	lockbox_result *r = fuzz_analyze_checked(g_lb, data, size, shell, &out, &j);
	if (r == NULL) {
		buf_free(&out);
		return;
	}
	json_t *fs = json_object_get(j, "findings"), *f;
	size_t i;
	json_array_foreach(fs, i, f) {
		json_t *sp = json_object_get(f, "span");
		if (json_integer_value(json_array_get(sp, 1)) > (json_int_t)size)
			abort();
	}
	json_decref(j);
	buf_reset(&out);
	if (lockbox_result_render(r, &out, 0) != 0)
		abort();
	buf_free(&out);
	lockbox_result_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	g_len = size;
	lb_arena_reset(g_a);
	/* the tokenizer alone, in both modes */
	for (int m = 0; m < 2; m++) {
		ps_lexer lx;
		ps_lex_init(&lx, g_a, (const char *)data, size, 0);
		for (size_t k = 0; k <= size + 1; k++) {
			ps_tok t = ps_lex_next(&lx, m ? PS_MODE_EXPR : PS_MODE_CMD);
			check_span(t.span);
			if (t.kind == PT_EOF)
				break;
			if (k == size + 1)
				abort(); /* every token consumes input */
		}
	}
	ps_node *root = NULL;
	ps_parse_error pe;
	int rc = ps_parse(g_a, (const char *)data, size, 0, &root, &pe);
	if (rc != 0 && rc != ESC_EPARSE && rc != ESC_ENOMEM)
		abort();
	if (rc == ESC_EPARSE && pe.msg == NULL)
		abort();
	if (root)
		walk(root, 0);
	cmd_cmd cc[64];
	size_t cut;
	int n = cmd_split(g_a, (const char *)data, size, 0, cc, 64, &cut);
	for (int i = 0; i < n; i++) {
		check_span(cc[i].span);
		for (size_t k = 0; k < cc[i].n; k++)
			check_span(cc[i].w[k].span);
	}
	analyze(data, size, "powershell");
	analyze(data, size, "cmd");
	return 0;
}
