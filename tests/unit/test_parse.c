/* test_parse.c — lockbox's bash parser: tree shapes, spans, word parts and decoded values,
 * here-documents, errors with offsets, the depth limit, NUL bytes and pathological input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lockbox/ast.h"
#include "util/err.h"

static lb_arena *A;
static const char *SRC;

static int setup(void **state)
{
	(void)state;
	A = lb_arena_new();
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lb_arena_free(A);
	A = NULL;
	return 0;
}

/* parses s, which must succeed */
static lb_node *P(const char *s)
{
	lb_node *root = NULL;
	lb_parse_error e;
	lb_arena_reset(A);
	SRC = s;
	int rc = lb_parse(A, s, strlen(s), &root, &e);
	if (rc != 0)
		fail_msg("parse of '%s' failed: rc %d at %u: %s", s, rc, e.span.start, e.msg);
	assert_non_null(root);
	assert_int_equal(root->kind, LB_N_SCRIPT);
	return root;
}

/* parses s, which must fail; returns the code */
static int PE(const char *s, lb_parse_error *e)
{
	lb_node *root = NULL;
	lb_arena_reset(A);
	SRC = s;
	int rc = lb_parse(A, s, strlen(s), &root, e);
	if (rc == 0)
		fail_msg("parse of '%s' unexpectedly succeeded", s);
	return rc;
}

static lb_node *kid(lb_node *n, size_t i)
{
	assert_non_null(n);
	if (i >= n->nkids)
		fail_msg("node %s has %zu kids, wanted #%zu", lb_node_kind_name(n->kind), n->nkids, i);
	return n->kids[i];
}

static lb_word *word(lb_node *n, size_t i)
{
	lb_word *w = n->words;
	for (size_t k = 0; k < i && w; k++)
		w = w->next;
	assert_non_null(w);
	return w;
}

static size_t nwords(const lb_word *w)
{
	size_t n = 0;
	for (; w; w = w->next)
		n++;
	return n;
}

static const char *stat(const lb_word *w)
{
	size_t n;
	const char *s = lb_word_static(A, w, &n);
	return s;
}

static void assert_span(lb_span s, unsigned a, unsigned b)
{
	if (s.start != a || s.end != b)
		fail_msg("span [%u,%u], wanted [%u,%u]", s.start, s.end, a, b);
}

static void assert_src(lb_span s, const char *want)
{
	size_t n = strlen(want);
	if (s.end - s.start != n || memcmp(SRC + s.start, want, n))
		fail_msg("span [%u,%u] is '%.*s', wanted '%s'", s.start, s.end,
		         (int)(s.end - s.start), SRC + s.start, want);
}

/* A here-doc body is body_len bytes, not NUL-terminated (it may point into the input). */
static void assert_body(const lb_redir *r, const char *want)
{
	size_t n = strlen(want);
	assert_non_null(r->body);
	if (r->body_len != n || memcmp(r->body, want, n))
		fail_msg("body is '%.*s', wanted '%s'", (int)r->body_len, r->body, want);
}

static lb_node *cmd0(const char *s)
{
	return kid(P(s), 0);
}

/* ---- basics ------------------------------------------------------------------------ */

static void test_empty_and_comments(void **state)
{
	(void)state;
	assert_int_equal(P("")->nkids, 0);
	assert_int_equal(P("   \n\n\t")->nkids, 0);
	assert_int_equal(P("# only a comment\n  # another")->nkids, 0);
}

static void test_simple_words_spans(void **state)
{
	(void)state;
	lb_node *c = cmd0("echo  hello world");
	assert_int_equal(c->kind, LB_N_SIMPLE);
	assert_int_equal(nwords(c->words), 3);
	assert_string_equal(stat(word(c, 0)), "echo");
	assert_span(word(c, 1)->span, 6, 11);
	assert_span(word(c, 2)->span, 12, 17);
	assert_span(c->span, 0, 17);
}

static void test_empty_dquote_static(void **state)
{
	(void)state;
	lb_node *c = cmd0("c\"\"at /etc/passwd");
	lb_word *w = word(c, 0);
	lb_part *x = w->parts;
	assert_int_equal(x->kind, LB_P_LIT);
	assert_string_equal(x->text, "c");
	assert_int_equal(x->next->kind, LB_P_DQUOTE);
	assert_null(x->next->parts);
	assert_int_equal(x->next->next->kind, LB_P_LIT);
	assert_string_equal(x->next->next->text, "at");
	assert_string_equal(stat(w), "cat");
	assert_true(w->flags & LB_WF_QUOTED);
}

static void test_ansic_decoding(void **state)
{
	(void)state;
	lb_node *c = cmd0("$'\\x63\\141t'");
	assert_int_equal(word(c, 0)->parts->kind, LB_P_ANSIC);
	assert_string_equal(stat(word(c, 0)), "cat");
	c = cmd0("echo $'a\\nb\\tc\\e\\E\\cA\\u00e9\\U0001F600\\\\\\'\\q'");
	size_t n;
	const char *s = lb_word_static(A, word(c, 1), &n);
	const char want[] = "a\nb\tc\x1b\x1b\x01\xc3\xa9\xf0\x9f\x98\x80\\'\\q";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(s, want, n);
	c = cmd0("printf $'x\\0y'");
	s = lb_word_static(A, word(c, 1), &n);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "x\0y", 3);
}

static void test_param_concat_not_static(void **state)
{
	(void)state;
	lb_node *r = P("a=ca;b=t;$a$b");
	assert_int_equal(r->nkids, 3);
	assert_int_equal(kid(r, 0)->term, LB_T_SEMI);
	assert_string_equal(kid(r, 0)->assigns->name, "a");
	assert_string_equal(stat(kid(r, 0)->assigns->value), "ca");
	lb_word *w = word(kid(r, 2), 0);
	assert_int_equal(w->parts->kind, LB_P_PARAM);
	assert_string_equal(w->parts->text, "a");
	assert_int_equal(w->parts->next->kind, LB_P_PARAM);
	assert_string_equal(w->parts->next->text, "b");
	assert_null(stat(w));
	assert_true(w->flags & LB_WF_EXPAND);
	assert_string_equal(lb_word_display(A, w, SRC), "$a$b");
}

static void test_assignments(void **state)
{
	(void)state;
	lb_node *c = cmd0("x=1 y+=2 a[i+1]=v arr=(a 'b c' [3]=d) e= cmd arg");
	lb_assign *a = c->assigns;
	assert_string_equal(a->name, "x");
	assert_string_equal(stat(a->value), "1");
	a = a->next;
	assert_string_equal(a->name, "y");
	assert_true(a->append);
	a = a->next;
	assert_string_equal(a->name, "a");
	assert_string_equal(a->subscript, "i+1");
	assert_string_equal(stat(a->value), "v");
	a = a->next;
	assert_string_equal(a->name, "arr");
	assert_true(a->is_array);
	assert_int_equal(nwords(a->array), 3);
	assert_string_equal(stat(a->array->next), "b c");
	assert_src(a->span, "arr=(a 'b c' [3]=d)");
	a = a->next;
	assert_string_equal(a->name, "e");
	assert_null(a->value);
	assert_int_equal(nwords(c->words), 2);
	assert_string_equal(stat(word(c, 0)), "cmd");
}

static void test_array_assign_position(void **state)
{
	lb_parse_error e;
	(void)state;
	lb_node *c = cmd0("declare -a a=(b c)");
	assert_int_equal(nwords(c->words), 3);
	assert_int_equal(PE("echo a=(b)", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 7);
	/* an assignment-looking argument is still just a word */
	c = cmd0("dd if=/dev/zero of=/tmp/x");
	assert_null(c->assigns);
	assert_string_equal(stat(word(c, 1)), "if=/dev/zero");
}

static void test_pipeline_and_prefixes(void **state)
{
	(void)state;
	lb_node *p = cmd0("a | b |& c");
	assert_int_equal(p->kind, LB_N_PIPELINE);
	assert_int_equal(p->nkids, 3);
	assert_int_equal(p->ops[0], LB_OP_PIPE);
	assert_int_equal(p->ops[1], LB_OP_PIPE_ERR);
	p = cmd0("! a | b");
	assert_int_equal(p->kind, LB_N_PIPELINE);
	assert_true(p->flags & LB_NF_BANG);
	assert_int_equal(p->nkids, 2);
	p = cmd0("time -p sleep 1");
	assert_true(p->flags & LB_NF_TIME);
	assert_string_equal(stat(word(kid(p, 0), 0)), "sleep");
	/* a single command is not wrapped */
	assert_int_equal(cmd0("ls")->kind, LB_N_SIMPLE);
}

static void test_andor_and_terms(void **state)
{
	(void)state;
	lb_node *r = P("a && b || c & d; e\nf");
	assert_int_equal(r->nkids, 4);
	lb_node *ao = kid(r, 0);
	assert_int_equal(ao->kind, LB_N_ANDOR);
	assert_int_equal(ao->nkids, 3);
	assert_int_equal(ao->ops[0], LB_OP_AND);
	assert_int_equal(ao->ops[1], LB_OP_OR);
	assert_int_equal(ao->term, LB_T_AMP);
	assert_int_equal(kid(r, 1)->term, LB_T_SEMI);
	assert_int_equal(kid(r, 2)->term, LB_T_NEWLINE);
	assert_int_equal(kid(r, 3)->term, LB_T_NONE);
	r = P("a &&\n\n b");
	assert_int_equal(kid(r, 0)->kind, LB_N_ANDOR);
}

static void test_subshell_group(void **state)
{
	(void)state;
	lb_node *s = cmd0("(cd /tmp; ls) > out");
	assert_int_equal(s->kind, LB_N_SUBSHELL);
	assert_int_equal(s->nkids, 2);
	assert_non_null(s->redirs);
	assert_src(s->span, "(cd /tmp; ls) > out");
	lb_node *g = cmd0("{ a; b\n}");
	assert_int_equal(g->kind, LB_N_GROUP);
	assert_int_equal(g->nkids, 2);
}

static void test_functions(void **state)
{
	(void)state;
	lb_node *f = cmd0("f() { echo hi; }");
	assert_int_equal(f->kind, LB_N_FUNCTION);
	assert_string_equal(f->name, "f");
	assert_int_equal(kid(f, 0)->kind, LB_N_GROUP);
	f = cmd0("function g { :; }");
	assert_string_equal(f->name, "g");
	f = cmd0("function h() ( exit 1 ) 2>/dev/null");
	assert_int_equal(kid(f, 0)->kind, LB_N_SUBSHELL);
	assert_non_null(kid(f, 0)->redirs);
	lb_parse_error e;
	assert_int_equal(PE("f() echo", &e), ESC_EPARSE);
}

static void test_if(void **state)
{
	(void)state;
	lb_node *n = cmd0("if a; then b; elif c; then d; else e; fi");
	assert_int_equal(n->kind, LB_N_IF);
	assert_int_equal(n->nkids, 5);
	assert_string_equal(stat(word(kid(kid(n, 4), 0), 0)), "e");
	n = cmd0("if a\nthen b\nfi");
	assert_int_equal(n->nkids, 2);
	assert_src(n->span, "if a\nthen b\nfi");
	lb_parse_error e;
	assert_int_equal(PE("if true; then fi", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 14);
}

static void test_for_forms(void **state)
{
	(void)state;
	lb_node *n = cmd0("for i in 1 2 3; do echo $i; done");
	assert_int_equal(n->kind, LB_N_FOR);
	assert_string_equal(n->name, "i");
	assert_int_equal(nwords(n->words), 3);
	assert_int_equal(kid(n, 0)->kind, LB_N_SCRIPT);
	n = cmd0("for x do :; done");
	assert_true(n->flags & LB_NF_NO_IN);
	assert_null(n->words);
	n = cmd0("for ((i=0; i<3; i++)); do :; done");
	assert_int_equal(n->kind, LB_N_ARITH_FOR);
	assert_string_equal(n->text, "i=0; i<3; i++");
	n = cmd0("for ((;;)) { :; }");
	assert_int_equal(n->kind, LB_N_ARITH_FOR);
	n = cmd0("select x in a b; do break; done");
	assert_int_equal(n->kind, LB_N_SELECT);
	lb_parse_error e;
	assert_int_equal(PE("for ((i=0; i<3)); do :; done", &e), ESC_EPARSE);
}

static void test_while_until(void **state)
{
	(void)state;
	lb_node *n = cmd0("while read l; do echo $l; done < f");
	assert_int_equal(n->kind, LB_N_WHILE);
	assert_int_equal(n->nkids, 2);
	assert_non_null(n->redirs);
	assert_int_equal(n->redirs->op, LB_R_IN);
	n = cmd0("until false; do break; done");
	assert_int_equal(n->kind, LB_N_UNTIL);
}

static void test_case(void **state)
{
	(void)state;
	lb_node *n = cmd0("case $x in a|b) echo ab;; (c) echo c;& *) ;;& d) esac");
	assert_int_equal(n->kind, LB_N_CASE);
	assert_int_equal(nwords(n->words), 1);
	assert_int_equal(n->nkids, 4);
	lb_node *it = kid(n, 0);
	assert_int_equal(it->kind, LB_N_CASE_ITEM);
	assert_int_equal(nwords(it->words), 2);
	assert_string_equal(it->text, ";;");
	assert_string_equal(kid(n, 1)->text, ";&");
	assert_string_equal(kid(n, 2)->text, ";;&");
	assert_int_equal(kid(kid(n, 2), 0)->nkids, 0);
	assert_int_equal(word(kid(n, 2), 0)->parts->kind, LB_P_GLOB);
	n = cmd0("case x in esac");
	assert_int_equal(n->nkids, 0);
}

static void test_cond(void **state)
{
	(void)state;
	lb_node *n = cmd0("[[ -f $f && ( $x == y* || ! -d /tmp ) ]]");
	assert_int_equal(n->kind, LB_N_COND);
	assert_int_equal(nwords(n->words), 12);
	assert_string_equal(stat(word(n, 2)), "&&");
	assert_string_equal(stat(word(n, 3)), "(");
	n = cmd0("[[ $a =~ ^(x|y)[0-9]+$ && $b < c ]]");
	assert_src(word(n, 2)->span, "^(x|y)[0-9]+$");
	assert_string_equal(stat(word(n, 5)), "<");
	n = cmd0("[[ a == @(x|y) ]]");
	assert_int_equal(word(n, 2)->parts->kind, LB_P_GLOB);
	lb_parse_error e;
	assert_int_equal(PE("[[ a b ]]", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 5);
	assert_int_equal(PE("[[ -n ]]", &e), ESC_EPARSE);
	/* bash -n accepts these, and stops reading there: nothing after them runs */
	assert_int_equal(P("[[ ]]; echo hi")->nkids, 0);
	assert_int_equal(P("echo a\n[[ a && ]]\necho hi")->nkids, 1);
}

static void test_arith(void **state)
{
	(void)state;
	lb_node *n = cmd0("(( x = $(id -u) + 1 ))");
	assert_int_equal(n->kind, LB_N_ARITH);
	assert_string_equal(n->text, " x = $(id -u) + 1 ");
	assert_int_equal(n->nkids, 1);
	assert_string_equal(stat(word(kid(kid(n, 0), 0), 0)), "id");
	/* "((" that does not close with "))" is a nested subshell, like bash */
	n = cmd0("((a) )");
	assert_int_equal(n->kind, LB_N_SUBSHELL);
	assert_int_equal(kid(n, 0)->kind, LB_N_SUBSHELL);
	lb_word *w = word(cmd0("echo $((1+2)) $[3*4] $( (id) )"), 1);
	assert_int_equal(w->parts->kind, LB_P_ARITH);
	assert_string_equal(w->parts->text, "1+2");
	assert_true(w->flags & LB_WF_ARITH);
	lb_node *c = cmd0("echo $((1+2)) $[3*4] $( (id) )");
	assert_int_equal(word(c, 2)->parts->kind, LB_P_ARITH);
	assert_string_equal(word(c, 2)->parts->text, "3*4");
	assert_int_equal(word(c, 3)->parts->kind, LB_P_CMDSUB);
	assert_int_equal(kid(word(c, 3)->parts->sub, 0)->kind, LB_N_SUBSHELL);
}

static void test_coproc(void **state)
{
	(void)state;
	lb_node *n = cmd0("coproc NAME { cat; }");
	assert_int_equal(n->kind, LB_N_COPROC);
	assert_string_equal(n->name, "NAME");
	assert_int_equal(kid(n, 0)->kind, LB_N_GROUP);
	n = cmd0("coproc nc -l 4444");
	assert_null(n->name);
	assert_int_equal(nwords(kid(n, 0)->words), 3);
}

static void test_redirections(void **state)
{
	(void)state;
	lb_node *c = cmd0("cmd <in >out >>app >|clob <>rw 2>&1 <&- &>all &>>alla 3<<<str {fd}>f");
	static const lb_redir_op ops[] = { LB_R_IN, LB_R_OUT, LB_R_APPEND, LB_R_CLOBBER,
	                                   LB_R_INOUT, LB_R_DUP_OUT, LB_R_DUP_IN, LB_R_OUT_ERR,
	                                   LB_R_APPEND_ERR, LB_R_HERESTRING, LB_R_OUT };
	lb_redir *r = c->redirs;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++, r = r->next) {
		assert_non_null(r);
		assert_int_equal(r->op, ops[i]);
	}
	assert_null(r);
	r = c->redirs->next->next->next->next->next;
	assert_int_equal(r->fd, 2);
	assert_string_equal(stat(r->target), "1");
	assert_src(r->span, "2>&1");
	r = r->next;
	assert_string_equal(stat(r->target), "-");
	r = r->next->next->next;
	assert_int_equal(r->fd, 3);
	r = r->next;
	assert_string_equal(r->fd_var, "fd");
	assert_int_equal(r->fd, -1);
	c = cmd0("exec 3<>/dev/tcp/10.0.0.1/4444; cat <&3>&3");
	assert_string_equal(stat(c->redirs->target), "/dev/tcp/10.0.0.1/4444");
	c = kid(P("exec 3<>/dev/tcp/10.0.0.1/4444; cat <&3>&3"), 1);
	assert_int_equal(c->redirs->op, LB_R_DUP_IN);
	assert_string_equal(stat(c->redirs->target), "3");
	assert_int_equal(c->redirs->next->op, LB_R_DUP_OUT);
	lb_parse_error e;
	assert_int_equal(PE("echo a >", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 8);
}

static void test_heredocs(void **state)
{
	(void)state;
	lb_node *r = P("cat <<EOF; cat <<'Q' >x\nhello $USER\nEOF\nraw $x\nQ\necho done");
	assert_int_equal(r->nkids, 3);
	lb_redir *h = kid(r, 0)->redirs;
	assert_int_equal(h->op, LB_R_HEREDOC);
	assert_body(h, "hello $USER\n");
	/* a body as written points into the input instead of being copied */
	assert_ptr_equal(h->body, SRC + h->body_span.start);
	assert_src(h->body_span, "hello $USER\n");
	assert_false(h->body_quoted);
	assert_non_null(h->body_word);
	assert_int_equal(h->body_word->parts->next->kind, LB_P_PARAM);
	lb_redir *q = kid(r, 1)->redirs;
	assert_body(q, "raw $x\n");
	assert_true(q->body_quoted);
	assert_null(q->body_word);
	assert_string_equal(stat(word(kid(r, 2), 0)), "echo");
	/* <<- strips leading tabs, also before the delimiter */
	r = P("cat <<-E\n\t\tone\n\ttwo\n\tE\n");
	h = kid(r, 0)->redirs;
	assert_int_equal(h->op, LB_R_HEREDOC_TAB);
	assert_body(h, "one\ntwo\n");
	assert_string_equal(h->body_word->parts->text, "one\ntwo\n");
	/* inside a command substitution, and unterminated at end of input (bash: warning) */
	r = P("x=$(cat <<E\na)b\nE\n)");
	lb_node *sub = kid(r, 0)->assigns->value->parts->sub;
	assert_body(kid(sub, 0)->redirs, "a)b\n");
	r = P("cat <<EOF\nno end");
	assert_body(kid(r, 0)->redirs, "no end");
	/* <<- without leading tabs needs no copy either; with them the copy drops them */
	r = P("cat <<-E\nx\ny\nE\n");
	assert_body(kid(r, 0)->redirs, "x\ny\n");
	assert_ptr_equal(kid(r, 0)->redirs->body, SRC + kid(r, 0)->redirs->body_span.start);
	r = P("cat <<-E\nx\n\ty\nE\n");
	assert_body(kid(r, 0)->redirs, "x\ny\n");
	assert_int_equal(kid(r, 0)->redirs->body_span.end - kid(r, 0)->redirs->body_span.start, 5);
	/* broken expansions in a body are runtime errors, not syntax errors */
	P("cat <<EOF\n$(foo\nEOF\n");
}

static void test_dquote_parts(void **state)
{
	(void)state;
	lb_word *w = word(cmd0("echo \"a $x $(id) `w` $((1)) \\$ \\q\""), 1);
	lb_part *d = w->parts;
	assert_int_equal(d->kind, LB_P_DQUOTE);
	const lb_part_kind want[] = { LB_P_LIT, LB_P_PARAM, LB_P_LIT, LB_P_CMDSUB, LB_P_LIT,
	                              LB_P_BACKTICK, LB_P_LIT, LB_P_ARITH, LB_P_LIT };
	lb_part *x = d->parts;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++, x = x->next) {
		assert_non_null(x);
		assert_int_equal(x->kind, want[i]);
	}
	assert_null(x);
	assert_string_equal(d->parts->next->next->next->next->next->next->next->next->text, " $ \\q");
	assert_true(w->flags & LB_WF_CMDSUB);
	assert_true(w->flags & LB_WF_EXPAND);
	assert_string_equal(stat(word(cmd0("echo \"plain \\\"q\\\"\""), 1)), "plain \"q\"");
	w = word(cmd0("echo $\"loc $x\""), 1);
	assert_int_equal(w->parts->kind, LB_P_LOCALE);
}

static void test_param_ops(void **state)
{
	(void)state;
	lb_node *c = cmd0("echo ${x:-def} ${#x} ${!x} ${x[1]} ${x:1:2} ${x//a/b} ${x@Q} ${x##*/} ${10}");
	lb_part *p = word(c, 1)->parts;
	assert_true(p->flags & LB_PF_BRACED);
	assert_string_equal(p->text, "x");
	assert_string_equal(p->op, ":-");
	assert_string_equal(stat(p->word), "def");
	p = word(c, 2)->parts;
	assert_true(p->flags & LB_PF_LENGTH);
	assert_string_equal(p->text, "x");
	assert_true(word(c, 3)->parts->flags & LB_PF_INDIRECT);
	p = word(c, 4)->parts;
	assert_true(p->flags & LB_PF_SUBSCRIPT);
	assert_string_equal(p->sub_text, "1");
	assert_null(p->op);
	assert_string_equal(word(c, 5)->parts->op, ":");
	assert_string_equal(word(c, 6)->parts->op, "//");
	assert_string_equal(word(c, 7)->parts->op, "@");
	assert_string_equal(word(c, 8)->parts->op, "##");
	assert_string_equal(word(c, 9)->parts->text, "10");
	assert_src(word(c, 1)->parts->span, "${x:-def}");
	c = cmd0("echo $@ $# $? $$ $! $- $1 $0 $* $");
	const char *want[] = { "@", "#", "?", "$", "!", "-", "1", "0", "*" };
	for (size_t i = 0; i < 9; i++) {
		assert_int_equal(word(c, i + 1)->parts->kind, LB_P_PARAM);
		assert_string_equal(word(c, i + 1)->parts->text, want[i]);
	}
	assert_string_equal(stat(word(c, 10)), "$");
	/* nested operand with quotes and a command substitution */
	p = word(cmd0("echo \"${x:-\"a}b\" $(id)}\""), 1)->parts->parts;
	assert_int_equal(p->kind, LB_P_PARAM);
	assert_non_null(p->word);
	assert_true(p->word->flags & LB_WF_CMDSUB);
}

static void test_cmdsub_bodies(void **state)
{
	(void)state;
	lb_node *c = cmd0("x=$(case $y in a) echo a;; esac) # not ) here\n");
	lb_part *p = c->assigns->value->parts;
	assert_int_equal(p->kind, LB_P_CMDSUB);
	assert_int_equal(kid(p->sub, 0)->kind, LB_N_CASE);
	c = cmd0("echo $(echo ')' # comment )\n) after");
	assert_int_equal(nwords(c->words), 3);
	assert_string_equal(stat(word(c, 2)), "after");
	c = cmd0("echo $(echo \"$(echo deep)\")");
	p = word(c, 1)->parts;
	lb_part *inner = word(kid(p->sub, 0), 1)->parts->parts;
	assert_int_equal(inner->kind, LB_P_CMDSUB);
	assert_src(inner->span, "$(echo deep)");
	c = cmd0("echo $()");
	assert_int_equal(word(c, 1)->parts->sub->nkids, 0);
}

static void test_backticks(void **state)
{
	(void)state;
	lb_node *c = cmd0("echo `id -u` `echo \\`whoami\\``");
	lb_part *p = word(c, 1)->parts;
	assert_int_equal(p->kind, LB_P_BACKTICK);
	assert_string_equal(stat(word(kid(p->sub, 0), 0)), "id");
	assert_src(word(kid(p->sub, 0), 1)->span, "-u");
	p = word(c, 2)->parts;
	lb_node *inner = kid(p->sub, 0);
	lb_part *nested = word(inner, 1)->parts;
	assert_int_equal(nested->kind, LB_P_BACKTICK);
	/* spans of the unescaped copy map back onto the original text */
	assert_src(word(kid(nested->sub, 0), 0)->span, "whoami");
	assert_src(word(inner, 0)->span, "echo");
}

static void test_procsub(void **state)
{
	(void)state;
	lb_node *c = cmd0("diff <(ls a) >(wc -l) <(b)x");
	assert_int_equal(word(c, 1)->parts->kind, LB_P_PROCSUB_IN);
	assert_int_equal(word(c, 2)->parts->kind, LB_P_PROCSUB_OUT);
	assert_string_equal(stat(word(kid(word(c, 2)->parts->sub, 0), 0)), "wc");
	assert_true(word(c, 1)->flags & LB_WF_CMDSUB);
	assert_int_equal(word(c, 3)->parts->next->kind, LB_P_LIT);
	c = cmd0("cat < <(ls)");
	assert_int_equal(c->redirs->target->parts->kind, LB_P_PROCSUB_IN);
}

static void test_brace_expansion(void **state)
{
	(void)state;
	lb_node *c = cmd0("echo {a,b}c {1..5} {a..z..2} {} {x} \"{a,b}\" x{,y} {a,{b,c}}");
	lb_part *p = word(c, 1)->parts;
	assert_int_equal(p->kind, LB_P_BRACE);
	assert_int_equal(p->nalts, 2);
	assert_string_equal(stat(p->alts[0]), "a");
	assert_string_equal(p->text, "{a,b}");
	assert_true(word(c, 1)->flags & LB_WF_BRACE);
	assert_int_equal(word(c, 2)->parts->kind, LB_P_BRACE);
	assert_int_equal(word(c, 2)->parts->nalts, 0);
	assert_int_equal(word(c, 3)->parts->kind, LB_P_BRACE);
	assert_string_equal(stat(word(c, 4)), "{}");
	assert_string_equal(stat(word(c, 5)), "{x}");
	assert_string_equal(stat(word(c, 6)), "{a,b}");
	p = word(c, 7)->parts->next;
	assert_int_equal(p->kind, LB_P_BRACE);
	assert_null(p->alts[0]->parts);
	p = word(c, 8)->parts;
	assert_int_equal(p->nalts, 2);
	assert_int_equal(p->alts[1]->parts->kind, LB_P_BRACE);
	assert_null(stat(word(c, 1)));
	assert_string_equal(stat(word(cmd0("echo a,b}"), 1)), "a,b}");
}

static void test_globs(void **state)
{
	(void)state;
	lb_node *c = cmd0("ls *.c a?b [ch]x [ '*'");
	assert_int_equal(word(c, 1)->parts->kind, LB_P_GLOB);
	assert_true(word(c, 1)->flags & LB_WF_GLOB);
	assert_int_equal(word(c, 2)->parts->next->kind, LB_P_GLOB);
	assert_int_equal(word(c, 3)->parts->kind, LB_P_GLOB);
	assert_string_equal(word(c, 3)->parts->text, "[ch]");
	assert_string_equal(stat(word(c, 4)), "[");
	assert_string_equal(stat(word(c, 5)), "*");
	assert_false(word(c, 5)->flags & LB_WF_GLOB);
	/* extglob is off in bash -n */
	lb_parse_error e;
	assert_int_equal(PE("ls !(x)", &e), ESC_EPARSE);
	assert_int_equal(PE("echo @(a|b)", &e), ESC_EPARSE);
}

static void test_tilde(void **state)
{
	(void)state;
	lb_node *c = cmd0("PATH=~/bin:~root/x ls ~ ~user/y a~ '~' --x=~");
	lb_assign *a = c->assigns;
	assert_int_equal(a->value->parts->kind, LB_P_TILDE);
	lb_part *p = a->value->parts;
	while (p && p->kind != LB_P_TILDE)
		p = p->next;
	assert_non_null(p);
	p = p->next;
	while (p && p->kind != LB_P_TILDE)
		p = p->next;
	assert_non_null(p);
	assert_string_equal(p->text, "root");
	assert_int_equal(word(c, 1)->parts->kind, LB_P_TILDE);
	assert_true(word(c, 1)->flags & LB_WF_TILDE);
	assert_string_equal(word(c, 2)->parts->text, "user");
	assert_string_equal(stat(word(c, 3)), "a~");
	assert_string_equal(stat(word(c, 4)), "~");
	assert_string_equal(stat(word(c, 5)), "--x=~");
}

static void test_comments_and_keywords(void **state)
{
	(void)state;
	lb_node *r = P("echo a#b # c ) ;\n# full\necho if then fi done { }");
	assert_int_equal(r->nkids, 2);
	assert_int_equal(nwords(kid(r, 0)->words), 2);
	assert_string_equal(stat(word(kid(r, 0), 1)), "a#b");
	assert_int_equal(nwords(kid(r, 1)->words), 7);
	assert_int_equal(kid(r, 1)->kind, LB_N_SIMPLE);
	/* quoted keywords are commands */
	assert_int_equal(cmd0("\\if x")->kind, LB_N_SIMPLE);
	/* keywords after } and ) close */
	assert_int_equal(cmd0("if a; then { b; } fi")->kind, LB_N_IF);
	lb_parse_error e;
	assert_int_equal(PE("in x", &e), ESC_EPARSE);
	assert_int_equal(PE("echo; then", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 6);
}

static void test_line_continuation(void **state)
{
	(void)state;
	lb_node *c = cmd0("ec\\\nho hi \\\n there");
	assert_string_equal(stat(word(c, 0)), "echo");
	assert_int_equal(nwords(c->words), 3);
	assert_string_equal(stat(word(c, 2)), "there");
	assert_string_equal(stat(word(cmd0("echo 'a\\\nb'"), 1)), "a\\\nb");
	assert_string_equal(stat(word(cmd0("echo \"a\\\nb\""), 1)), "ab");
}

static void test_bang(void **state)
{
	(void)state;
	lb_node *n = cmd0("! true");
	assert_int_equal(n->kind, LB_N_PIPELINE);
	assert_int_equal(n->flags, LB_NF_BANG);
	n = cmd0("! ! true");
	assert_int_equal(n->flags & LB_NF_BANG, 0);
	assert_int_equal(cmd0("echo !x")->kind, LB_N_SIMPLE);
	P("!");
	lb_parse_error e;
	assert_int_equal(PE("a | ! b", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 4);
}

static void test_error_offsets(void **state)
{
	lb_parse_error e;
	(void)state;
	assert_int_equal(PE("echo 'abc", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 5);
	assert_non_null(e.msg);
	assert_int_equal(PE("echo \"abc", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 5);
	assert_int_equal(PE("echo (", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 6); /* bash: unexpected newline */
	assert_int_equal(PE("a;;", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 1);
	assert_int_equal(PE(")", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 0);
	assert_int_equal(PE("echo $(ls", &e), ESC_EPARSE);
	assert_int_equal(PE("echo `ls", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 5);
	assert_int_equal(PE("{ }", &e), ESC_EPARSE);
	assert_int_equal(PE("while true; do", &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 14);
	assert_int_equal(PE("echo ${x", &e), ESC_EPARSE);
	assert_int_equal(PE("&& a", &e), ESC_EPARSE);
	assert_false(e.depth_exceeded);
}

static void test_depth_limit(void **state)
{
	(void)state;
	char buf[2048];
	size_t n = 0;
	for (int i = 0; i < 200; i++) {
		buf[n++] = '$';
		buf[n++] = '(';
	}
	lb_parse_error e;
	lb_node *root;
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, buf, n, &root, &e), ESC_EDEPTH);
	assert_true(e.depth_exceeded);
	/* just under the limit works */
	n = 0;
	for (int i = 0; i < 20; i++)
		buf[n++] = '(';
	buf[n++] = 'a';
	for (int i = 0; i < 20; i++)
		buf[n++] = ')';
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, buf, n, &root, &e), 0);
	/* nested groups: too deep */
	n = 0;
	for (int i = 0; i < 100; i++) {
		buf[n++] = '{';
		buf[n++] = ' ';
	}
	memcpy(buf + n, "a; ", 3);
	n += 3;
	for (int i = 0; i < 100; i++) {
		buf[n++] = '}';
		buf[n++] = ';';
	}
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, buf, n, &root, &e), ESC_EDEPTH);
	assert_true(e.depth_exceeded);
}

static void test_nul_byte(void **state)
{
	(void)state;
	lb_node *root;
	lb_parse_error e;
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, "echo a\0b", 8, &root, &e), ESC_EPARSE);
	assert_int_equal(e.span.start, 6);
	/* the length is honoured: bytes past len are never read */
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, "echo 'abc", 6, &root, &e), ESC_EPARSE);
	lb_arena_reset(A);
	assert_int_equal(lb_parse(A, "echo abc'", 8, &root, &e), 0);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Every reserved word alone, and near misses, against what `bash -n -c WORD` says. */
static void test_reserved_words(void **state)
{
	(void)state;
	static const char *const bad[] = { "if", "then", "else", "elif", "fi", "case", "esac",
	                                   "for", "select", "while", "until", "do", "done",
	                                   "function", "coproc", "{", "}", "[[", "]]", "in" };
	static const char *const good[] = { "!", "time", "iff", "thenx", "el", "fo", "whilee",
	                                    "donee", "functio", "coproc_", "{{", "!!", "[[[",
	                                    "tim", "Fi", "DONE", "esa", "selec", "untill" };
	lb_parse_error e;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(PE(bad[i], &e), ESC_EPARSE);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		P(good[i]);
	/* as arguments they are plain words */
	lb_node *c = cmd0("echo if then function coproc [[ ]] } in time");
	assert_int_equal(c->kind, LB_N_SIMPLE);
	assert_string_equal(stat(word(c, 9)), "time");
	/* quoted or escaped, a reserved word is a plain command name */
	assert_int_equal(cmd0("\\if")->kind, LB_N_SIMPLE);
	assert_int_equal(cmd0("'done'")->kind, LB_N_SIMPLE);
	assert_int_equal(kid(P("while x; do y; done"), 0)->kind, LB_N_WHILE);
	assert_int_equal(kid(P("until x; do y; done"), 0)->kind, LB_N_UNTIL);
	assert_int_equal(kid(P("select x in a; do y; done"), 0)->kind, LB_N_SELECT);
	assert_int_equal(kid(P("coproc x"), 0)->kind, LB_N_COPROC);
	assert_int_equal(kid(P("function f { x; }"), 0)->kind, LB_N_FUNCTION);
	/* declaration builtins take array assignments as arguments; other commands do not */
	static const char *const decl[] = { "declare", "typeset", "local", "export", "readonly" };
	for (size_t i = 0; i < sizeof(decl) / sizeof(decl[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s a=(1 2)", decl[i]);
		assert_int_equal(cmd0(buf)->kind, LB_N_SIMPLE);
		snprintf(buf, sizeof(buf), "%.*s a=(1 2)", (int)strlen(decl[i]) - 1, decl[i]);
		assert_int_equal(PE(buf, &e), ESC_EPARSE);
	}
	assert_int_equal(PE("echo a=(1 2)", &e), ESC_EPARSE);
}

/* The arena: raw allocations, accounting and the cap that turns into ESC_ETOOBIG. */
static void test_arena_budget(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	assert_non_null(a);
	assert_int_equal(lb_arena_used(a), 0);
	char *c = lb_arena_alloc_raw(a, 3, 1);
	assert_non_null(c);
	void *q = lb_arena_alloc_raw(a, 8, 8);
	assert_int_equal((uintptr_t)q % 8, 0);
	void *z = lb_arena_alloc(a, 40);
	assert_int_equal((uintptr_t)z % 16, 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(((unsigned char *)z)[i], 0);
	assert_true(lb_arena_used(a) >= 3 + 8 + 48);
	assert_true(lb_arena_used(a) <= 16 + 16 + 48);
	char *d = lb_arena_strndup(a, "abc", 2);
	assert_string_equal(d, "ab");
	/* give_back only takes back the most recent allocation's end */
	size_t u0 = lb_arena_used(a);
	char *big = lb_arena_alloc_raw(a, 100, 1);
	assert_int_equal(lb_arena_used(a), u0 + 100);
	lb_arena_give_back(a, big + 40, 60);
	assert_int_equal(lb_arena_used(a), u0 + 40);
	lb_arena_give_back(a, big, 10);
	assert_int_equal(lb_arena_used(a), u0 + 40);
	assert_ptr_equal(lb_arena_alloc_raw(a, 1, 1), big + 40);
	/* a parse gives back the unused end of its last chunk */
	lb_arena_reset(a);
	lb_node *x = NULL;
	lb_parse_error xe;
	assert_int_equal(lb_parse(a, "x", 1, &x, &xe), 0);
	assert_true(lb_arena_used(a) < 512);
	assert_int_equal(lb_parse(a, "echo hi", 7, &x, &xe), 0);
	assert_true(lb_arena_used(a) < 1024);
	/* a 1 MiB pipeline needs far more than 1 MiB of tree: capped, it fails cleanly */
	const size_t M = (size_t)1 << 20;
	char *s = malloc(M);
	assert_non_null(s);
	for (size_t i = 0; i < M; i += 2) {
		s[i] = 'a';
		s[i + 1] = '|';
	}
	s[M - 1] = 'a';
	lb_arena_set_max(a, M);
	lb_node *root = NULL;
	lb_parse_error e;
	lb_arena_reset(a);
	assert_false(lb_arena_capped(a));
	assert_int_equal(lb_parse(a, s, M, &root, &e), ESC_ETOOBIG);
	assert_true(lb_arena_capped(a));
	assert_true(lb_arena_used(a) <= M);
	/* the cap survives resets; a small input still fits */
	lb_arena_reset(a);
	assert_false(lb_arena_capped(a));
	assert_int_equal(lb_parse(a, s, 99, &root, &e), 0);
	assert_int_equal(root->kids[0]->nkids, 50);
	/* without the cap the whole pipeline parses: 2^19 commands, exact-size arrays */
	lb_arena_set_max(a, 0);
	lb_arena_reset(a);
	assert_int_equal(lb_parse(a, s, M - 1, &root, &e), 0);
	lb_node *pl = root->kids[0];
	assert_int_equal(pl->kind, LB_N_PIPELINE);
	assert_int_equal(pl->nkids, M / 2);
	assert_int_equal(pl->ops[M / 2 - 2], LB_OP_PIPE);
	assert_int_equal(pl->kids[M / 2 - 1]->span.start, M - 2);
	/* about 240 bytes of tree per command (node, word, part, text, kid, op) */
	assert_true(lb_arena_used(a) < (M / 2) * 260);
	/* an error deep in a long list leaves its growing arrays behind: freed (LeakSanitizer) */
	lb_arena_reset(a);
	memcpy(s + 4000, "a && (b; c | d | e | f | g | h | i | j | k | l | m | n | )", 59);
	assert_int_equal(lb_parse(a, s, 4059, &root, &e), ESC_EPARSE);
	free(s);
	lb_arena_free(a);
}

static void test_pathological_1mib(void **state)
{
	(void)state;
	const size_t M = (size_t)1 << 20;
	char *s = malloc(M + 16);
	assert_non_null(s);
	static const char *const pats[] = { "(", "$(", "((", "$((", "{a,", "a|", "a;", "\"$(\"",
	                                    "${x:-", "[", "{", "`", "x", "\\", "'", "!  ",
	                                    "cat <<E;", "$", "~", "if a; then ", "a=(" };
	for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
		size_t pl = strlen(pats[k]), n = 0;
		while (n + pl <= M) {
			memcpy(s + n, pats[k], pl);
			n += pl;
		}
		lb_node *root;
		lb_parse_error e;
		lb_arena_reset(A);
		double t0 = now();
		int rc = lb_parse(A, s, n, &root, &e);
		double dt = now() - t0;
		if (dt > 5.0)
			fail_msg("pattern '%s' x %zu took %.2f s (rc %d)", pats[k], n / pl, dt, rc);
		assert_true(rc == 0 || rc == ESC_EPARSE || rc == ESC_EDEPTH || rc == ESC_ENOMEM ||
		            rc == ESC_ETOOBIG);
	}
	free(s);
}

static void test_arena(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	assert_non_null(a);
	unsigned char *p = lb_arena_alloc(a, 10);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xAA, 10);
	unsigned char *big = lb_arena_alloc(a, 3 * 1024 * 1024);
	assert_non_null(big);
	assert_int_equal(big[3 * 1024 * 1024 - 1], 0);
	assert_null(lb_arena_alloc(a, LB_ARENA_MAX + 1));
	lb_arena_reset(a);
	unsigned char *q = lb_arena_alloc(a, 10);
	assert_ptr_equal(q, p);
	assert_int_equal(q[0], 0);
	char *d = lb_arena_strndup(a, "hello", 3);
	assert_string_equal(d, "hel");
	lb_arena_free(a);
	lb_arena_free(NULL);
}

static void test_display(void **state)
{
	(void)state;
	lb_node *c = cmd0("echo \"$HOME\"/x $(id) 'lit' a\\ b *.c");
	assert_string_equal(lb_word_display(A, word(c, 1), SRC), "$HOME/x");
	assert_string_equal(lb_word_display(A, word(c, 2), SRC), "$(id)");
	assert_string_equal(lb_word_display(A, word(c, 3), SRC), "lit");
	assert_string_equal(lb_word_display(A, word(c, 4), SRC), "a b");
	assert_string_equal(lb_word_display(A, word(c, 5), SRC), "*.c");
	assert_null(stat(word(c, 5)));
}

static void test_bash_quirks(void **state)
{
	lb_parse_error e;
	(void)state;
	/* bash stops reading at a bad `for ((`; what came before is kept */
	lb_node *r = P("echo hi; for ((a) echo x");
	assert_int_equal(r->nkids, 1);
	assert_int_equal(PE("for ((i=0;i<3;i++)", &e), ESC_EPARSE);
	/* where an assignment can start, name[ ... ] is one matched pair */
	assert_int_equal(PE("cop[[ roc cat", &e), ESC_EPARSE);
	P("echo cop[[ roc cat");
	lb_node *c = cmd0("a[1 + 2]=3");
	assert_string_equal(c->assigns->subscript, "1 + 2");
	assert_int_equal(nwords(cmd0("echo a[1 + 2]=3")->words), 4);
	P("case x in (esac) ;; esac");
	P("time");
	P("x=1 in");
	/* `>&-` takes only the '-': what follows is another word */
	c = cmd0("echo >&-f");
	assert_string_equal(stat(c->redirs->target), "-");
	assert_int_equal(nwords(c->words), 2);
	assert_int_equal(PE("(x) >& -x", &e), ESC_EPARSE);
	/* `$( time )` ends like input; `( time )` does not */
	P("echo $( time )");
	assert_int_equal(PE("( time )", &e), ESC_EPARSE);
	/* `function f (x)`: a subshell body, not the optional () */
	c = cmd0("function f (x)");
	assert_int_equal(c->kind, LB_N_FUNCTION);
	assert_int_equal(kid(c, 0)->kind, LB_N_SUBSHELL);
	/* after `x=1 >f`, assignment syntax is no longer read */
	assert_int_equal(PE("y=1 >a y=(1) c", &e), ESC_EPARSE);
	P(">a y=(1) c");
	/* semicolons inside ${...} do not split for ((...)) */
	assert_int_equal(PE("for ((i${x;;)); do :; done", &e), ESC_EPARSE);
	/* backquoted text is parsed only at run time by bash */
	c = cmd0("echo `if` `)`");
	assert_null(word(c, 1)->parts->sub);
	assert_int_equal(word(c, 1)->parts->kind, LB_P_BACKTICK);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(lb_node_kind_name(LB_N_SIMPLE), "simple");
	assert_string_equal(lb_node_kind_name(LB_N_PIPELINE), "pipeline");
	assert_string_equal(lb_node_kind_name(LB_N_COPROC), "coproc");
	assert_string_equal(lb_node_kind_name((lb_node_kind)999), "unknown");
}

static void test_spans_within_input(void **state)
{
	(void)state;
	const char *s = "f() { x=$(a \"$b\" `c`) | d <<E ${e:-$(g)} >(h); }\nbody $i\nE\n";
	lb_node *r = P(s);
	lb_node *f = kid(r, 0);
	assert_int_equal(f->kind, LB_N_FUNCTION);
	lb_node *pl = kid(kid(f, 0), 0);
	assert_int_equal(pl->kind, LB_N_PIPELINE);
	lb_node *d = kid(pl, 1);
	assert_src(d->redirs->span, "<<E");
	assert_src(d->redirs->body_span, "body $i\n");
	assert_src(word(d, 1)->span, "${e:-$(g)}");
	assert_src(word(d, 1)->parts->word->span, "$(g)");
	assert_src(word(d, 2)->span, ">(h)");
	assert_src(kid(pl, 0)->assigns->span, "x=$(a \"$b\" `c`)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_comments),
		cmocka_unit_test(test_simple_words_spans),
		cmocka_unit_test(test_empty_dquote_static),
		cmocka_unit_test(test_ansic_decoding),
		cmocka_unit_test(test_param_concat_not_static),
		cmocka_unit_test(test_assignments),
		cmocka_unit_test(test_array_assign_position),
		cmocka_unit_test(test_pipeline_and_prefixes),
		cmocka_unit_test(test_andor_and_terms),
		cmocka_unit_test(test_subshell_group),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_if),
		cmocka_unit_test(test_for_forms),
		cmocka_unit_test(test_while_until),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_cond),
		cmocka_unit_test(test_arith),
		cmocka_unit_test(test_coproc),
		cmocka_unit_test(test_redirections),
		cmocka_unit_test(test_heredocs),
		cmocka_unit_test(test_dquote_parts),
		cmocka_unit_test(test_param_ops),
		cmocka_unit_test(test_cmdsub_bodies),
		cmocka_unit_test(test_backticks),
		cmocka_unit_test(test_procsub),
		cmocka_unit_test(test_brace_expansion),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_tilde),
		cmocka_unit_test(test_comments_and_keywords),
		cmocka_unit_test(test_line_continuation),
		cmocka_unit_test(test_bang),
		cmocka_unit_test(test_error_offsets),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_pathological_1mib),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_display),
		cmocka_unit_test(test_bash_quirks),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_spans_within_input),
		cmocka_unit_test(test_reserved_words),
		cmocka_unit_test(test_arena_budget),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
