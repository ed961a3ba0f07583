/* lb_parsecheck — runs lb_parse over records from stdin (one per line, or NUL-separated
 * with -0) and prints one line per record: `ok` or `err <offset> <message>`.
 * --dump also prints the tree under each `ok` (debugging); --bench N times N passes;
 * --argv prints, for a record that is one simple command of static words, the words'
 * values in hex (`argv HEX HEX ...`), else `-` (to compare with what bash passes).
 * --mem prints `mem IN_BYTES ARENA_BYTES RATIO` per record (arena bytes the parse used);
 * --max BYTES caps the arena (lb_arena_set_max) to try the ESC_ETOOBIG path. */
#include "lockbox/ast.h"
#include "util/buf.h"
#include "util/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *part_kind(lb_part_kind k)
{
	static const char *const n[] = { "lit", "squote", "ansic", "locale", "dquote", "param",
	                                 "cmdsub", "backtick", "procsub_in", "procsub_out",
	                                 "arith", "glob", "brace", "tilde" };
	return (size_t)k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static void put_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void dump_node(const lb_node *n, int ind);

static void dump_word(const lb_word *w, int ind, const char *label);

static void dump_parts(const lb_part *x, int ind)
{
	for (; x; x = x->next) {
		printf("%*s%s [%u,%u]", ind, "", part_kind(x->kind), x->span.start, x->span.end);
		if (x->text) {
			putchar(' ');
			put_str(x->text, x->len);
		}
		if (x->op)
			printf(" op=%s", x->op);
		if (x->sub_text)
			printf(" sub=%s", x->sub_text);
		if (x->flags)
			printf(" pf=%#x", x->flags);
		putchar('\n');
		dump_parts(x->parts, ind + 2);
		if (x->word)
			dump_word(x->word, ind + 2, "operand");
		for (size_t i = 0; i < x->nalts; i++)
			dump_word(x->alts[i], ind + 2, "alt");
		if (x->sub)
			dump_node(x->sub, ind + 2);
	}
}

static void dump_word(const lb_word *w, int ind, const char *label)
{
	printf("%*s%s [%u,%u] wf=%#x\n", ind, "", label, w->span.start, w->span.end, w->flags);
	dump_parts(w->parts, ind + 2);
}

static void dump_node(const lb_node *n, int ind)
{
	printf("%*s%s [%u,%u]", ind, "", lb_node_kind_name(n->kind), n->span.start, n->span.end);
	if (n->flags)
		printf(" nf=%#x", n->flags);
	if (n->term)
		printf(" term=%d", (int)n->term);
	if (n->name)
		printf(" name=%s", n->name);
	if (n->text) {
		printf(" text=");
		put_str(n->text, strlen(n->text));
	}
	if (n->ops) {
		printf(" ops=");
		for (size_t i = 0; i + 1 < n->nkids; i++)
			printf("%s%d", i ? "," : "", (int)n->ops[i]);
	}
	putchar('\n');
	for (const lb_assign *a = n->assigns; a; a = a->next) {
		printf("%*sassign [%u,%u] %s%s%s%s%s\n", ind + 2, "", a->span.start, a->span.end,
		       a->name, a->subscript ? "[" : "", a->subscript ? a->subscript : "",
		       a->subscript ? "]" : "", a->append ? " +=" : "");
		if (a->value)
			dump_word(a->value, ind + 4, "value");
		for (const lb_word *w = a->array; w; w = w->next)
			dump_word(w, ind + 4, "elem");
	}
	for (const lb_word *w = n->words; w; w = w->next)
		dump_word(w, ind + 2, "word");
	for (const lb_redir *r = n->redirs; r; r = r->next) {
		printf("%*sredir [%u,%u] op=%d fd=%d%s%s", ind + 2, "", r->span.start, r->span.end,
		       (int)r->op, r->fd, r->fd_var ? " var=" : "", r->fd_var ? r->fd_var : "");
		if (r->op == LB_R_HEREDOC || r->op == LB_R_HEREDOC_TAB) {
			printf(" quoted=%d body[%u,%u]=", r->body_quoted, r->body_span.start, r->body_span.end);
			put_str(r->body, r->body_len);
		}
		putchar('\n');
		if (r->target)
			dump_word(r->target, ind + 4, "target");
		if (r->body_word)
			dump_word(r->body_word, ind + 4, "body");
	}
	for (size_t i = 0; i < n->nkids; i++)
		dump_node(n->kids[i], ind + 2);
}

static void print_argv(lb_arena *a, const lb_node *root)
{
	const lb_node *c = root && root->nkids == 1 ? root->kids[0] : NULL;
	if (!c || c->kind != LB_N_SIMPLE || c->redirs || c->assigns || !c->words) {
		printf("-\n");
		return;
	}
	for (const lb_word *w = c->words; w; w = w->next)
		if (!lb_word_static(a, w, NULL)) {
			printf("-\n");
			return;
		}
	printf("argv");
	for (const lb_word *w = c->words; w; w = w->next) {
		size_t n;
		const char *s = lb_word_static(a, w, &n);
		putchar(' ');
		for (size_t i = 0; i < n; i++)
			printf("%02x", (unsigned char)s[i]);
		if (!n)
			putchar('-');
	}
	putchar('\n');
}

int main(int argc, char **argv)
{
	int nul = 0, dump = 0, av = 0, mem = 0;
	size_t max = 0;
	long bench = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-0"))
			nul = 1;
		else if (!strcmp(argv[i], "--dump"))
			dump = 1;
		else if (!strcmp(argv[i], "--argv"))
			av = 1;
		else if (!strcmp(argv[i], "--mem"))
			mem = 1;
		else if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max = (size_t)strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
			bench = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: lb_parsecheck [-0] [--dump|--argv|--mem] [--max BYTES] [--bench N] < records\n");
			return 2;
		}
	}
	buf in = BUF_INIT;
	if (buf_read_fd(&in, 0) != 0) {
		fprintf(stderr, "lb_parsecheck: cannot read stdin\n");
		return 1;
	}
	lb_arena *a = lb_arena_new();
	if (!a) {
		buf_free(&in);
		return 1;
	}
	lb_arena_set_max(a, max);
	const char *s = (const char *)in.data;
	size_t len = in.len;
	char sep = nul ? '\0' : '\n';
	if (bench > 0) {
		struct timespec t0, t1;
		size_t recs = 0, errs = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long it = 0; it < bench; it++) {
			size_t off = 0;
			while (off < len) {
				const char *e = memchr(s + off, sep, len - off);
				size_t rl = e ? (size_t)(e - (s + off)) : len - off;
				lb_node *root;
				lb_parse_error err;
				lb_arena_reset(a);
				if (lb_parse(a, s + off, rl, &root, &err))
					errs++;
				recs++;
				off += rl + 1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(stderr, "%zu records (%zu errors) in %.3f s: %.0f records/s\n", recs, errs, sec,
		        sec > 0 ? (double)recs / sec : 0.0);
		lb_arena_free(a);
		buf_free(&in);
		return 0;
	}
	size_t off = 0;
	while (off < len) {
		const char *e = memchr(s + off, sep, len - off);
		size_t rl = e ? (size_t)(e - (s + off)) : len - off;
		lb_node *root = NULL;
		lb_parse_error err;
		lb_arena_reset(a);
		int rc = lb_parse(a, s + off, rl, &root, &err);
		if (mem) {
			size_t used = lb_arena_used(a);
			printf("mem %zu %zu %.1f rc=%d\n", rl, used, rl ? (double)used / (double)rl : 0.0,
			       rc);
		} else if (av) {
			if (rc == 0)
				print_argv(a, root);
			else
				printf("-\n");
		} else if (rc == 0) {
			printf("ok\n");
			if (dump && root)
				dump_node(root, 2);
		} else {
			printf("err %u %s\n", err.span.start, err.msg ? err.msg : esc_strerror(rc));
		}
		off += rl + 1;
	}
	lb_arena_free(a);
	buf_free(&in);
	return 0;
}
