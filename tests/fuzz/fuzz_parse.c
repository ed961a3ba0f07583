/* fuzz_parse.c — libFuzzer target for lb_parse: any input must parse or fail cleanly,
 * and every span in the tree must lie inside the input. Walks the whole tree calling
 * lb_word_static and lb_word_display on every word. Each input is parsed a second time in
 * an arena capped at its first block, which must succeed or fail with ESC_ETOOBIG. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/ast.h"
#include "util/err.h"

static size_t g_len;
static lb_arena *g_arena, *g_capped;
static volatile unsigned g_sum;
static const char *g_src;

static void check_span(lb_span s)
{
	if (s.start > s.end || s.end > g_len)
		abort();
}

static void walk_node(const lb_node *n);

static void walk_word(const lb_word *w);

static void walk_parts(const lb_part *x)
{
	for (; x; x = x->next) {
		check_span(x->span);
		if (x->text && strlen(x->text) > x->len)
			abort();
		walk_parts(x->parts);
		if (x->word)
			walk_word(x->word);
		/* the alternatives are also chained through next: walk the chain once (walking
		 * from every alternative is quadratic per level, exponential when nested) */
		for (size_t i = 0; i < x->nalts; i++)
			if (!x->alts[i] || (i + 1 < x->nalts && x->alts[i]->next != x->alts[i + 1]))
				abort();
		if (x->nalts)
			walk_word(x->alts[0]);
		if (x->sub)
			walk_node(x->sub);
	}
}

static void walk_word(const lb_word *w)
{
	for (; w; w = w->next) {
		check_span(w->span);
		size_t n = 0;
		const char *s = lb_word_static(g_arena, w, &n);
		if (s && strlen(s) > n)
			abort();
		const char *d = lb_word_display(g_arena, w, g_src);
		if (!d)
			abort();
		walk_parts(w->parts);
	}
}

static void walk_node(const lb_node *n)
{
	if (!n)
		return;
	check_span(n->span);
	if (!lb_node_kind_name(n->kind))
		abort();
	for (const lb_assign *a = n->assigns; a; a = a->next) {
		check_span(a->span);
		if (!a->name)
			abort();
		walk_word(a->value);
		walk_word(a->array);
	}
	walk_word(n->words);
	for (const lb_redir *r = n->redirs; r; r = r->next) {
		check_span(r->span);
		walk_word(r->target);
		if (r->op == LB_R_HEREDOC || r->op == LB_R_HEREDOC_TAB) {
			check_span(r->body_span);
			if (!r->body || r->body_len > r->body_span.end - r->body_span.start)
				abort();
			/* a body that points into the input is exactly its span */
			if (r->body >= g_src && r->body < g_src + g_len &&
			    (r->body != g_src + r->body_span.start || r->body_len !=
			     r->body_span.end - r->body_span.start))
				abort();
			/* every byte must be readable (ASan) */
			for (size_t i = 0; i < r->body_len; i++)
				g_sum += (unsigned char)r->body[i];
			walk_word(r->body_word);
		}
	}
	for (size_t i = 0; i < n->nkids; i++)
		walk_node(n->kids[i]);
	if (n->kind == LB_N_ANDOR || n->kind == LB_N_PIPELINE)
		for (size_t i = 0; i + 1 < n->nkids; i++)
			if (!n->ops || (unsigned)n->ops[i] > LB_OP_PIPE_ERR)
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_arena)
		g_arena = lb_arena_new();
	if (!g_arena)
		return 0;
	lb_arena_reset(g_arena);
	lb_node *root = NULL;
	lb_parse_error err;
	g_len = size;
	g_src = (const char *)data;
	int rc = lb_parse(g_arena, (const char *)data, size, &root, &err);
	if (rc == 0) {
		if (!root || root->kind != LB_N_SCRIPT)
			abort();
		walk_node(root);
	} else {
		if (rc != ESC_EPARSE && rc != ESC_EDEPTH && rc != ESC_ENOMEM && rc != ESC_ETOOBIG)
			abort();
		if (!err.msg || err.span.start > size)
			abort();
		if (err.depth_exceeded != (rc == ESC_EDEPTH))
			abort();
	}
	if (!g_capped) {
		g_capped = lb_arena_new();
		if (!g_capped)
			return 0;
		lb_arena_set_max(g_capped, 64 * 1024 + 1); /* the first block only */
	}
	lb_arena_reset(g_capped);
	lb_node *r2 = NULL;
	lb_parse_error e2;
	int rc2 = lb_parse(g_capped, (const char *)data, size, &r2, &e2);
	/* the same answer, or ESC_ETOOBIG when the cap was hit (an allocation after the first
	 * syntax error may hit it too: the syntax error is still the answer then) */
	if (rc2 != rc && !(rc2 == ESC_ETOOBIG && lb_arena_capped(g_capped)))
		abort();
	return 0;
}
