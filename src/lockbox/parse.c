/* parse.c — lockbox's bash lexer and recursive-descent parser (lb_parse in ast.h).
 * One pass over the input with one token of lookahead; everything lives in the caller's
 * arena. Every recursion goes through enter()/leave() so hostile nesting fails with
 * ESC_EDEPTH instead of overflowing the stack. Accept/reject follows `bash -n` (5.2). */
#include "lockbox/ast.h"
#include "util/err.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ------------------------------------------------------------------------ */

enum tk {
	TK_EOF, TK_WORD, TK_NL, TK_SEMI, TK_DSEMI, TK_SEMIAND, TK_DSEMIAND, TK_AMP, TK_ANDAND,
	TK_PIPE, TK_PIPEAND, TK_OROR, TK_LPAREN, TK_RPAREN, TK_REDIR, TK_BAD
};

/* reserved words (recognized by the parser only where bash does) */
enum rw {
	RW_NONE, RW_IF, RW_THEN, RW_ELSE, RW_ELIF, RW_FI, RW_CASE, RW_ESAC, RW_FOR, RW_SELECT,
	RW_WHILE, RW_UNTIL, RW_DO, RW_DONE, RW_FUNCTION, RW_COPROC, RW_LBRACE, RW_RBRACE,
	RW_BANG, RW_DLBRACK, RW_DRBRACK, RW_TIME, RW_IN
};


/* lexing modes: the same bytes lex differently in these contexts */
enum { M_NORMAL, M_ASSIGN, M_COND, M_REGEX };

typedef struct tok {
	int kind;
	int rw;            /* TK_WORD: reserved word it spells (unquoted), else RW_NONE */
	lb_span span;
	lb_word *word;     /* TK_WORD */
	lb_assign *asg;    /* TK_WORD that has assignment syntax */
	int asg_sensitive; /* lexing depends on M_ASSIGN (name[ ... ) */
	int dparen;        /* TK_LPAREN directly followed by '(' */
	lb_redir_op rop;   /* TK_REDIR */
	int fd;
	const char *fd_var;
} tok;

typedef struct heredoc {
	lb_redir *r;
	const char *delim;
	size_t dlen;
	int strip;
	struct heredoc *next;
} heredoc;

/* word-lexing contexts */
#define C_DQ      0x01u /* inside "..." */
#define C_HEREDOC 0x02u /* unquoted here-document body */
#define C_BRACE   0x04u /* ${...} operand: '}' ends it, blanks are literal */
#define C_ASSIGN  0x08u /* assignment value: tilde after ':' too */
#define C_REGEX   0x10u /* [[ =~ regex: ( ) | literal, blanks inside ( ) literal */
#define C_COND    0x20u /* inside [[ ]]: extglob patterns allowed */
#define C_STRIP   0x40u /* <<- body: leading tabs removed */
#define C_BQDQ    0x80u /* backtick inside double quotes: \" unescapes too */

#define PF_MARK 0x100u /* internal: unquoted { , } kept apart for brace expansion */

typedef struct parser {
	lb_arena *a;
	const char *s;
	size_t n;     /* scanning limit: end of input or of a nested region */
	size_t pos;
	size_t total; /* length of the original input */
	int depth;
	int rc;
	lb_parse_error *err;
	heredoc *hd_head, *hd_tail;
	size_t hd_bstart; /* start of the here-doc body being lexed (tab stripping) */
	size_t work, work_max;
	int have, have_mode;
	tok t;
	size_t nobr_from, nobr_to; /* cache: no closing ']' for '[' in this range */
	lb_node *top;              /* the input's own SCRIPT node */
	int list_depth;            /* parse_list nesting */
	int sub_list_depth;        /* list_depth of the innermost $( <( >( body */
	/* bump region carved from the arena in chunks: a call into the arena per tree
	 * struct costs more than the parse work around it */
	uintptr_t bump, bump_end;
	size_t chunk;              /* size of the next chunk */
	struct hbuf *heap;         /* live growth buffers of nvec/opvec */
} parser;

#define CHUNK_MIN ((size_t)256)
#define CHUNK_MAX ((size_t)32 * 1024)
#define CHUNK_FIRST_MAX ((size_t)4 * 1024) /* a parse that fails early wastes little */

#define RC_STOP 1 /* internal: bash stops reading here and accepts what came before */

typedef struct plist {
	lb_part *head, *tail;
	int has_open, has_close;
} plist;

/* Growing arrays (kids, operators) start in the struct, grow on the heap and are copied
 * into the arena at their exact size when complete: growing them in the arena would
 * leave every outgrown copy behind (three times the final size for a long pipeline). */
typedef struct nvec {
	lb_node **v;
	size_t n, cap;
	int heap; /* v is a heap buffer (registered in parser.heap) */
	lb_node *inl[8];
} nvec;

typedef struct opvec {
	lb_op *v;
	size_t n, cap;
	int heap;
	lb_op inl[8];
} opvec;

/* Header of a heap buffer; every live one is on parser.heap so that lb_parse frees what
 * an error path abandoned. */
typedef struct hbuf {
	struct hbuf *prev, *next;
	_Alignas(16) unsigned char data[];
} hbuf;

/* ---- errors, memory, depth --------------------------------------------------------- */

static void fail(parser *p, int rc, size_t at, const char *msg)
{
	if (p->rc)
		return;
	p->rc = rc;
	if (at > p->total)
		at = p->total;
	p->err->span.start = p->err->span.end = (uint32_t)at;
	p->err->msg = msg;
	p->err->depth_exceeded = rc == ESC_EDEPTH;
}

static void alloc_failed(parser *p, size_t at)
{
	if (lb_arena_capped(p->a))
		fail(p, ESC_ETOOBIG, at, "syntax tree too large");
	else
		fail(p, ESC_ENOMEM, at, "out of memory");
}

/* Slow path of bump(): big requests go to the arena directly; small ones start a new
 * chunk (the old chunk's tail is given up; chunks double so that waste stays small for
 * short records and the number of chunks small for long ones). */
static void *bump_refill(parser *p, size_t n, size_t align)
{
	if (n > p->chunk / 4) {
		void *r = lb_arena_alloc_raw(p->a, n, align);
		if (!r)
			alloc_failed(p, p->pos);
		return r;
	}
	void *c = lb_arena_alloc_raw(p->a, p->chunk, sizeof(void *));
	if (!c) {
		alloc_failed(p, p->pos);
		return NULL;
	}
	p->bump = (uintptr_t)c + n;
	p->bump_end = (uintptr_t)c + p->chunk;
	if (p->chunk < CHUNK_MAX)
		p->chunk *= 2;
	return c;
}

static inline void *bump(parser *p, size_t n, size_t align)
{
	if (n == 0)
		n = 1; /* never hand out the same address twice */
	uintptr_t b = (p->bump + (align - 1)) & ~(uintptr_t)(align - 1);
	if (b >= p->bump && b <= p->bump_end && n <= p->bump_end - b) {
		p->bump = b + n;
		return (void *)b;
	}
	return bump_refill(p, n, align);
}

/* Zeroed memory for tree structs. Nothing in the tree needs more than pointer alignment,
 * and 8 instead of the arena's default 16 saves 8 bytes on most node kinds. */
static inline void *alloc(parser *p, size_t n)
{
	void *r = bump(p, n, sizeof(void *));
	if (r)
		memset(r, 0, n);
	return r;
}

/* Unzeroed bytes for text the caller writes completely (decoded literals, copies). */
static inline char *alloc_text(parser *p, size_t n)
{
	return bump(p, n, 1);
}

static char *sdup(parser *p, size_t start, size_t end)
{
	char *r = alloc_text(p, end - start + 1);
	if (r) {
		memcpy(r, p->s + start, end - start);
		r[end - start] = '\0';
	}
	return r;
}

static int enter(parser *p)
{
	if (++p->depth > LB_MAX_DEPTH) {
		fail(p, ESC_EDEPTH, p->pos, "nesting too deep");
		return -1;
	}
	return 0;
}

static void leave(parser *p)
{
	p->depth--;
}

static inline int at(const parser *p, size_t i)
{
	return i < p->n ? (unsigned char)p->s[i] : -1;
}

static lb_span sp(size_t a, size_t b)
{
	lb_span r = { (uint32_t)a, (uint32_t)b };
	return r;
}

static void *heap_new(parser *p, size_t n)
{
	hbuf *h = malloc(sizeof(*h) + n);
	if (!h) {
		fail(p, ESC_ENOMEM, p->pos, "out of memory");
		return NULL;
	}
	h->prev = NULL;
	h->next = p->heap;
	if (p->heap)
		p->heap->prev = h;
	p->heap = h;
	return h->data;
}

static void heap_del(parser *p, void *data)
{
	hbuf *h = (hbuf *)(void *)((unsigned char *)data - offsetof(hbuf, data));
	if (h->prev)
		h->prev->next = h->next;
	else
		p->heap = h->next;
	if (h->next)
		h->next->prev = h->prev;
	free(h);
}

/* Doubles a vector's storage (*vp holds n elements of size sz in *capp slots) on the heap. */
static int vec_grow(parser *p, void **vp, size_t *capp, size_t n, size_t sz, int *heap)
{
	if (*capp > SIZE_MAX / 2 / sz) {
		fail(p, ESC_ENOMEM, p->pos, "out of memory");
		return -1;
	}
	void *nn = heap_new(p, 2 * *capp * sz);
	if (!nn)
		return -1;
	memcpy(nn, *vp, n * sz);
	if (*heap)
		heap_del(p, *vp);
	*vp = nn;
	*capp *= 2;
	*heap = 1;
	return 0;
}

static int nv_push(parser *p, nvec *v, lb_node *x)
{
	if (!v->v) {
		v->v = v->inl;
		v->cap = 8;
	}
	if (v->n == v->cap) {
		void *vv = v->v;
		if (vec_grow(p, &vv, &v->cap, v->n, sizeof(*v->v), &v->heap))
			return -1;
		v->v = vv;
	}
	v->v[v->n++] = x;
	return 0;
}

/* Stores the vector as node->kids (exact size, in the arena). The vector stays usable:
 * it then reads from node->kids. */
static int nv_store(parser *p, nvec *v, lb_node *node)
{
	node->nkids = v->n;
	if (!v->n)
		return 0;
	node->kids = alloc(p, v->n * sizeof(*node->kids));
	if (!node->kids)
		return -1;
	memcpy(node->kids, v->v, v->n * sizeof(*node->kids));
	if (v->heap)
		heap_del(p, v->v);
	v->heap = 0;
	v->v = node->kids;
	v->cap = v->n;
	return 0;
}

static int op_push(parser *p, opvec *v, lb_op x)
{
	if (!v->v) {
		v->v = v->inl;
		v->cap = 8;
	}
	if (v->n == v->cap) {
		void *vv = v->v;
		if (vec_grow(p, &vv, &v->cap, v->n, sizeof(*v->v), &v->heap))
			return -1;
		v->v = vv;
	}
	v->v[v->n++] = x;
	return 0;
}

/* The operators as an exact-size arena array for a node's ops. */
static lb_op *op_store(parser *p, opvec *v)
{
	lb_op *o = bump(p, (v->n ? v->n : 1) * sizeof(*o), sizeof(void *));
	if (!o) {
		alloc_failed(p, p->pos);
		return NULL;
	}
	if (v->n)
		memcpy(o, v->v, v->n * sizeof(*o));
	if (v->heap)
		heap_del(p, v->v);
	v->heap = 0;
	v->v = o;
	v->cap = v->n;
	return o;
}

static lb_node *new_node(parser *p, lb_node_kind k, size_t start)
{
	lb_node *n = alloc(p, sizeof(*n));
	if (n) {
		n->kind = k;
		n->span = sp(start, start);
	}
	return n;
}

/* ---- character classes ------------------------------------------------------------- */

static int is_meta(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' ||
	       c == '(' || c == ')' || c == '<' || c == '>';
}

static int is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* ---- parts ------------------------------------------------------------------------- */

static lb_part *add_part(parser *p, plist *l, lb_part_kind k, size_t start, size_t end)
{
	lb_part *x = alloc(p, sizeof(*x));
	if (!x)
		return NULL;
	x->kind = k;
	x->span = sp(start, end);
	if (l->tail)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
	return x;
}

static unsigned parts_flags(const lb_part *x, int top);

static unsigned word_flags_of(const lb_word *w)
{
	return w ? parts_flags(w->parts, 1) : 0;
}

static unsigned parts_flags(const lb_part *x, int top)
{
	unsigned f = 0;
	for (const lb_part *q = x; q; q = q->next) {
		switch (q->kind) {
		case LB_P_LIT:
			break;
		case LB_P_SQUOTE:
		case LB_P_ANSIC:
			f |= LB_WF_QUOTED;
			break;
		case LB_P_LOCALE:
		case LB_P_DQUOTE:
			f |= LB_WF_QUOTED | (parts_flags(q->parts, 0) &
			                     (LB_WF_EXPAND | LB_WF_CMDSUB | LB_WF_ARITH));
			break;
		case LB_P_PARAM:
			f |= LB_WF_EXPAND;
			if (q->word)
				f |= word_flags_of(q->word) & (LB_WF_CMDSUB | LB_WF_ARITH);
			break;
		case LB_P_CMDSUB:
		case LB_P_BACKTICK:
		case LB_P_PROCSUB_IN:
		case LB_P_PROCSUB_OUT:
			f |= LB_WF_CMDSUB;
			break;
		case LB_P_ARITH:
			f |= LB_WF_ARITH;
			if (q->sub && q->sub->nkids)
				f |= LB_WF_CMDSUB;
			break;
		case LB_P_GLOB:
			f |= LB_WF_GLOB;
			break;
		case LB_P_BRACE:
			f |= LB_WF_BRACE;
			for (size_t i = 0; i < q->nalts; i++)
				f |= word_flags_of(q->alts[i]) & ~(unsigned)LB_WF_TILDE;
			break;
		case LB_P_TILDE:
			if (top && q == x)
				f |= LB_WF_TILDE;
			break;
		}
	}
	return f;
}

/* ---- forward declarations ---------------------------------------------------------- */

static lb_node *parse_list(parser *p);
static lb_node *parse_command(parser *p);
static int lex_parts(parser *p, plist *l, unsigned ctx);
static inline tok *peek(parser *p, int mode);
static void consume(parser *p);
static lb_word *lex_word(parser *p, unsigned ctx);
static void remap_node(lb_node *n, const uint32_t *map, size_t mlen);
static int charge(parser *p, size_t n);
static lb_node *parse_region(parser *p, size_t from, size_t to);

/* ---- literal runs ------------------------------------------------------------------ */

/* Is c the start of something other than plain literal text in this context? */
static size_t bracket_end(parser *p, size_t i);

static int lit_stop(parser *p, const plist *l, unsigned ctx, size_t i)
{
	int c = (unsigned char)p->s[i];
	if (ctx & (C_DQ | C_HEREDOC)) {
		if (c == '$' || c == '`')
			return 1;
		if ((ctx & C_DQ) && c == '"')
			return 1;
		if ((ctx & C_BRACE) && (c == '}' || (c == '\'' && (ctx & C_DQ))))
			return 1;
		return 0;
	}
	if (ctx & C_BRACE) {
		return c == '}' || c == '\'' || c == '"' || c == '$' || c == '`' ||
		       ((c == '<' || c == '>') && at(p, i + 1) == '(');
	}
	switch (c) {
	case ' ': case '\t': case '\n': case ';': case '&': case '|': case '(': case ')':
	case '<': case '>': case '\'': case '"': case '$': case '`': case '*':
	case '?': case '{':
		return 1;
	case '[':
		return !(ctx & C_REGEX) && bracket_end(p, i) != 0;
	case ',': case '}':
		return l->has_open;
	case ':':
		return (ctx & C_ASSIGN) != 0;
	case '@': case '+': case '!':
		return (ctx & (C_COND | C_REGEX)) && at(p, i + 1) == '(';
	default:
		return 0;
	}
}

/* End of the literal run starting at i (at least one byte; a backslash pair stays
 * together). */
/* Bytes for which lit_stop may answer 1 (or that start a backslash pair), per context;
 * every other byte continues the run, so runs of them are skipped without asking. */
#define STOP_COMMON ['\\'] = 1, ['$'] = 1, ['`'] = 1, ['"'] = 1, ['\''] = 1, ['}'] = 1
static const unsigned char stop_dq[256] = { STOP_COMMON };
static const unsigned char stop_ibrace[256] = { STOP_COMMON, ['<'] = 1, ['>'] = 1 };
static const unsigned char stop_plain[256] = {
	STOP_COMMON, [' '] = 1, ['\t'] = 1, ['\n'] = 1, [';'] = 1, ['&'] = 1, ['|'] = 1,
	['('] = 1, [')'] = 1, ['<'] = 1, ['>'] = 1, ['*'] = 1, ['?'] = 1, ['{'] = 1,
	['['] = 1, [','] = 1, [':'] = 1, ['@'] = 1, ['+'] = 1, ['!'] = 1
};

static size_t lit_run_end(parser *p, const plist *l, unsigned ctx, size_t i)
{
	const unsigned char *tab = (ctx & (C_DQ | C_HEREDOC)) ? stop_dq
	                         : (ctx & C_BRACE) ? stop_ibrace : stop_plain;
	const unsigned char *s = (const unsigned char *)p->s;
	size_t e = i;
	do {
		if (s[e] == '\\')
			e += e + 1 < p->n ? 2 : 1;
		else
			e++;
		while (e < p->n && !tab[s[e]])
			e++;
	} while (e < p->n && (s[e] == '\\' || !lit_stop(p, l, ctx, e)));
	return e;
}

/* Decodes a literal run [start, end) into the arena. */
static lb_part *lit_part(parser *p, plist *l, unsigned ctx, size_t start, size_t end)
{
	char *d = alloc_text(p, end - start + 1);
	if (!d)
		return NULL;
	size_t o = 0;
	if (!(ctx & C_STRIP) && !memchr(p->s + start, '\\', end - start)) {
		/* nothing to decode (the common case) */
		o = end - start;
		memcpy(d, p->s + start, o);
		goto done;
	}
	int bol = (ctx & C_STRIP) && (start == p->hd_bstart || (start > 0 && p->s[start - 1] == '\n'));
	for (size_t i = start; i < end; i++) {
		char c = p->s[i];
		if (bol && c == '\t')
			continue;
		bol = 0;
		if (c == '\\' && i + 1 < end) {
			char nx = p->s[i + 1];
			if (ctx & (C_DQ | C_HEREDOC)) {
				if (nx == '\n') {
					i++;
					continue;
				}
				if (nx == '$' || nx == '`' || nx == '\\' || ((ctx & C_DQ) && nx == '"') ||
				    ((ctx & C_BRACE) && nx == '}')) {
					d[o++] = nx;
					i++;
					continue;
				}
				d[o++] = c;
				continue;
			}
			i++;
			if (nx == '\n')
				continue;
			d[o++] = nx;
			continue;
		}
		if (c == '\n' && (ctx & C_STRIP))
			bol = 1;
		d[o++] = c;
	}
done:
	d[o] = '\0';
	lb_part *x = add_part(p, l, LB_P_LIT, start, end);
	if (x) {
		x->text = d;
		x->len = o;
	}
	return x;
}

/* ---- quotes ------------------------------------------------------------------------ */

static int lex_squote(parser *p, plist *l)
{
	size_t start = p->pos;
	const char *q = memchr(p->s + start + 1, '\'', p->n - start - 1);
	if (!q) {
		fail(p, ESC_EPARSE, start, "unterminated '...'");
		return -1;
	}
	size_t end = (size_t)(q - p->s);
	lb_part *x = add_part(p, l, LB_P_SQUOTE, start, end + 1);
	if (!x)
		return -1;
	x->text = sdup(p, start + 1, end);
	x->len = end - start - 1;
	p->pos = end + 1;
	return x->text ? 0 : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(char *d, uint32_t v)
{
	if (v < 0x80) {
		d[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		d[0] = (char)(0xC0 | (v >> 6));
		d[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		d[0] = (char)(0xE0 | (v >> 12));
		d[1] = (char)(0x80 | ((v >> 6) & 0x3F));
		d[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (v >> 18));
	d[1] = (char)(0x80 | ((v >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((v >> 6) & 0x3F));
	d[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* $'...': every decoded escape is no longer than its source, so the output buffer is
 * bounded by the source length. */
static int lex_ansic(parser *p, plist *l)
{
	size_t start = p->pos; /* at '$' */
	size_t i = start + 2, end = 0;
	for (; i < p->n; i++) {
		if (p->s[i] == '\\') {
			i++;
			continue;
		}
		if (p->s[i] == '\'') {
			end = i;
			break;
		}
	}
	if (!end) {
		fail(p, ESC_EPARSE, start, "unterminated $'...'");
		return -1;
	}
	char *d = alloc_text(p, end - start);
	if (!d)
		return -1;
	size_t o = 0;
	for (i = start + 2; i < end; i++) {
		char c = p->s[i];
		if (c != '\\' || i + 1 >= end) {
			d[o++] = c;
			continue;
		}
		char e = p->s[++i];
		switch (e) {
		case 'a': d[o++] = '\a'; break;
		case 'b': d[o++] = '\b'; break;
		case 'e': case 'E': d[o++] = 0x1b; break;
		case 'f': d[o++] = '\f'; break;
		case 'n': d[o++] = '\n'; break;
		case 'r': d[o++] = '\r'; break;
		case 't': d[o++] = '\t'; break;
		case 'v': d[o++] = '\v'; break;
		case '\\': d[o++] = '\\'; break;
		case '\'': d[o++] = '\''; break;
		case '"': d[o++] = '"'; break;
		case '?': d[o++] = '?'; break;
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
			unsigned v = (unsigned)(e - '0');
			for (int k = 0; k < 2 && i + 1 < end && p->s[i + 1] >= '0' && p->s[i + 1] <= '7'; k++)
				v = v * 8 + (unsigned)(p->s[++i] - '0');
			d[o++] = (char)(v & 0xFF);
			break;
		}
		case 'x': {
			unsigned v = 0;
			int k = 0;
			while (k < 2 && i + 1 < end && hexval((unsigned char)p->s[i + 1]) >= 0) {
				v = v * 16 + (unsigned)hexval((unsigned char)p->s[++i]);
				k++;
			}
			if (!k) {
				d[o++] = '\\';
				d[o++] = 'x';
			} else {
				d[o++] = (char)v;
			}
			break;
		}
		case 'u': case 'U': {
			int maxd = e == 'u' ? 4 : 8, k = 0;
			size_t esc = i - 1;
			uint32_t v = 0;
			while (k < maxd && i + 1 < end && hexval((unsigned char)p->s[i + 1]) >= 0) {
				v = v * 16 + (uint32_t)hexval((unsigned char)p->s[++i]);
				k++;
			}
			if (!k || v > 0x10FFFF) {
				/* not decodable: keep the escape as written */
				memcpy(d + o, p->s + esc, i + 1 - esc);
				o += i + 1 - esc;
			} else {
				o += put_utf8(d + o, v);
			}
			break;
		}
		case 'c':
			if (i + 1 < end) {
				char x = p->s[++i];
				if (x == '\\' && i + 1 < end && p->s[i + 1] == '\\')
					i++;
				if (x == '?')
					d[o++] = 0x7f;
				else
					d[o++] = (char)((x >= 'a' && x <= 'z' ? x - 32 : x) & 0x1F);
			} else {
				d[o++] = '\\';
				d[o++] = 'c';
			}
			break;
		default:
			d[o++] = '\\';
			d[o++] = e;
			break;
		}
	}
	d[o] = '\0';
	lb_part *x = add_part(p, l, LB_P_ANSIC, start, end + 1);
	if (!x)
		return -1;
	x->text = d;
	x->len = o;
	p->pos = end + 1;
	return 0;
}

/* "..." (or $"..." when locale): inner parts as a container part */
static int lex_dquote(parser *p, plist *l, int locale, unsigned outer)
{
	size_t start = p->pos;
	if (enter(p))
		return -1;
	p->pos += locale ? 2 : 1;
	plist in = { 0 };
	unsigned ctx = C_DQ | (outer & C_BQDQ);
	if (lex_parts(p, &in, ctx)) {
		leave(p);
		return -1;
	}
	leave(p);
	if (at(p, p->pos) != '"') {
		fail(p, ESC_EPARSE, start, "unterminated \"...\"");
		return -1;
	}
	p->pos++;
	lb_part *x = add_part(p, l, locale ? LB_P_LOCALE : LB_P_DQUOTE, start, p->pos);
	if (!x)
		return -1;
	x->parts = in.head;
	return 0;
}

/* ---- substitutions ----------------------------------------------------------------- */

/* Parses a command list up to the ')' that closes a $( / <( / >( opened just before
 * p->pos; leaves p->pos after the ')'. */
static lb_node *parse_paren_body(parser *p, size_t open)
{
	if (enter(p))
		return NULL;
	int saved_sub = p->sub_list_depth;
	/* here-documents of the enclosing line are read after that line, not at the
	 * newlines inside this body */
	heredoc *oh = p->hd_head, *ot = p->hd_tail;
	p->hd_head = p->hd_tail = NULL;
	p->sub_list_depth = p->list_depth + 1;
	lb_node *body = parse_list(p);
	p->sub_list_depth = saved_sub;
	if (p->rc == RC_STOP) {
		/* where bash would stop reading, the substitution is left unclosed */
		p->rc = 0;
		fail(p, ESC_EPARSE, open, "unexpected end of input looking for `)'");
		body = NULL;
	}
	if (oh) {
		if (p->hd_head) {
			ot->next = p->hd_head;
			ot = p->hd_tail;
		}
		p->hd_head = oh;
		p->hd_tail = ot;
	}
	if (!body) {
		leave(p);
		return NULL;
	}
	tok *t = peek(p, M_ASSIGN);
	if (t->kind != TK_RPAREN) {
		if (t->kind == TK_EOF)
			fail(p, ESC_EPARSE, open, "unexpected end of input looking for `)'");
		else
			fail(p, ESC_EPARSE, t->span.start, "unexpected token looking for `)'");
		leave(p);
		return NULL;
	}
	body->span = sp(open, t->span.start);
	consume(p);
	leave(p);
	return body;
}

static int add_sub_kid(parser *p, nvec *subs, lb_node *body)
{
	if (!subs || !body)
		return 0;
	return nv_push(p, subs, body);
}

static int lex_backtick(parser *p, plist *l, unsigned ctx);
static int lex_dollar(parser *p, plist *l, unsigned ctx, nvec *subs);

/* Scans an arithmetic expression whose opening was just consumed. Returns 1 when it is
 * closed by "))" (close ')') or "]" (close ']'), with *tend at the first closing byte and
 * p->pos after the closer; 0 when the first unbalanced ')' is not followed by ')' (the
 * caller reparses it as a subshell, like bash); -1 on error. Command substitutions inside
 * are parsed and their bodies collected in subs. */
static int scan_arith(parser *p, int close, size_t *tend, nvec *subs)
{
	size_t start = p->pos;
	long pd = 0, bd = 0;
	if (enter(p))
		return -1;
	while (p->pos < p->n) {
		int c = (unsigned char)p->s[p->pos];
		switch (c) {
		case '(':
			pd++;
			p->pos++;
			break;
		case ')':
			if (pd == 0 && close == ')') {
				leave(p);
				if (at(p, p->pos + 1) == ')') {
					*tend = p->pos;
					p->pos += 2;
					return 1;
				}
				return 0;
			}
			if (pd > 0)
				pd--;
			p->pos++;
			break;
		case '[':
			bd++;
			p->pos++;
			break;
		case ']':
			if (bd == 0 && close == ']') {
				*tend = p->pos;
				p->pos++;
				leave(p);
				return 1;
			}
			if (bd > 0)
				bd--;
			p->pos++;
			break;
		case '\\':
			p->pos += p->pos + 1 < p->n ? 2 : 1;
			break;
		case '\'': {
			plist tmp = { 0 };
			if (lex_squote(p, &tmp)) {
				leave(p);
				return -1;
			}
			break;
		}
		case '"': {
			plist tmp = { 0 };
			if (lex_dquote(p, &tmp, 0, 0)) {
				leave(p);
				return -1;
			}
			for (lb_part *q = tmp.head ? tmp.head->parts : NULL; q; q = q->next)
				if ((q->kind == LB_P_CMDSUB || q->kind == LB_P_BACKTICK) &&
				    add_sub_kid(p, subs, q->sub)) {
					leave(p);
					return -1;
				}
			break;
		}
		case '`': {
			plist tmp = { 0 };
			if (lex_backtick(p, &tmp, 0) || add_sub_kid(p, subs, tmp.head->sub)) {
				leave(p);
				return -1;
			}
			break;
		}
		case '$': {
			plist tmp = { 0 };
			if (at(p, p->pos + 1) == '[' || at(p, p->pos + 1) == '{') {
				/* bash's matched-pair scan does not know $[ or ${ here */
				p->pos++;
				break;
			}
			if (lex_dollar(p, &tmp, 0, subs)) {
				leave(p);
				return -1;
			}
			break;
		}
		default:
			p->pos++;
			break;
		}
	}
	leave(p);
	fail(p, ESC_EPARSE, start, close == ')' ? "unterminated ((...))" : "unterminated $[...]");
	return -1;
}

/* Backtracking after a failed arithmetic guess costs a rescan; bound the total. */
static int charge(parser *p, size_t n)
{
	p->work += n;
	if (p->work > p->work_max) {
		fail(p, ESC_ETOOBIG, p->pos, "input too complex");
		return -1;
	}
	return 0;
}

static lb_node *subs_script(parser *p, nvec *subs, size_t start, size_t end)
{
	if (!subs->n)
		return NULL;
	lb_node *s = new_node(p, LB_N_SCRIPT, start);
	if (!s || nv_store(p, subs, s))
		return NULL;
	s->span = sp(start, end);
	return s;
}

/* Finds the ')' that balances text starting at i, skipping quotes: bash's plain
 * matched-pair scan. 1 with *closep set, 0 at end of input. */
static int scan_parens(parser *p, size_t i, size_t *closep)
{
	long d = 0;
	size_t from = i, save = p->pos;
	for (; i < p->n; i++) {
		char c = p->s[i];
		if (c == '\\') {
			i++;
		} else if (c == '\'' || c == '"' || c == '`' || (c == '$' && at(p, i + 1) == '(')) {
			/* quotes and nested substitutions are read by the real lexers */
			plist tmp = { 0 };
			p->pos = i;
			int r = c == '\'' ? lex_squote(p, &tmp) : c == '"' ? lex_dquote(p, &tmp, 0, 0)
			      : c == '`' ? lex_backtick(p, &tmp, 0) : lex_dollar(p, &tmp, 0, NULL);
			if (r)
				return -1;
			i = p->pos - 1;
			p->pos = save;
		} else if (c == '(') {
			d++;
		} else if (c == ')') {
			if (d == 0) {
				*closep = i;
				/* the body is parsed again afterwards */
				return charge(p, i - from) ? -1 : 1;
			}
			d--;
		}
	}
	return 0;
}

/* Parses [from, to) as a script when it can; NULL (and no error) when it cannot. */
static lb_node *soft_region(parser *p, size_t from, size_t to)
{
	lb_parse_error saved_err = *p->err;
	int saved_depth = p->depth;
	heredoc *hh = p->hd_head, *ht = p->hd_tail;
	p->hd_head = p->hd_tail = NULL;
	lb_node *body = parse_region(p, from, to);
	p->hd_head = hh;
	p->hd_tail = ht;
	p->depth = saved_depth;
	if (p->rc == ESC_EPARSE || p->rc == ESC_EDEPTH || p->rc == RC_STOP) {
		p->rc = 0;
		*p->err = saved_err;
		body = NULL;
	}
	p->have = 0;
	return body;
}

/* $( ... ), $(( ... )), $[ ... ] starting at '$' */
static int lex_dollar_paren(parser *p, plist *l)
{
	size_t start = p->pos;
	if (at(p, start + 1) == '[' || at(p, start + 2) == '(') {
		int br = at(p, start + 1) == '[';
		nvec subs = { 0 };
		size_t tend = 0;
		p->pos = start + (br ? 2 : 3);
		int r = scan_arith(p, br ? ']' : ')', &tend, &subs);
		if (r < 0)
			return -1;
		if (r == 1) {
			lb_part *x = add_part(p, l, LB_P_ARITH, start, p->pos);
			if (!x)
				return -1;
			x->text = sdup(p, start + (br ? 2 : 3), tend);
			x->len = tend - start - (br ? 2 : 3);
			x->sub = subs_script(p, &subs, start, p->pos);
			return p->rc ? -1 : 0;
		}
		if (charge(p, p->pos - start))
			return -1;
		if (!br) {
			/* `$((` that is not arithmetic: bash only balances the parentheses of
			 * the rest (no parse), so the body is parsed softly */
			size_t close = 0;
			int sr = scan_parens(p, start + 2, &close);
			if (sr <= 0) {
				fail(p, ESC_EPARSE, start, "unexpected end of input looking for `)'");
				return -1;
			}
			if (enter(p))
				return -1;
			lb_node *body = soft_region(p, start + 2, close);
			leave(p);
			if (p->rc)
				return -1;
			p->pos = close + 1;
			lb_part *x = add_part(p, l, LB_P_CMDSUB, start, p->pos);
			if (!x)
				return -1;
			x->sub = body;
			return 0;
		}
	}
	/* command substitution */
	p->pos = start + 2;
	lb_node *body = parse_paren_body(p, start + 2);
	if (!body)
		return -1;
	lb_part *x = add_part(p, l, LB_P_CMDSUB, start, p->pos);
	if (!x)
		return -1;
	x->sub = body;
	return 0;
}

/* <( ... ) / >( ... ) at p->pos */
static int lex_procsub(parser *p, plist *l)
{
	size_t start = p->pos;
	int out = p->s[start] == '>';
	lb_node *body = NULL;
	if (at(p, start + 2) == '(') {
		/* like $((: bash reads <((...)) as an arithmetic text when it closes with )) */
		nvec subs = { 0 };
		size_t tend = 0;
		p->pos = start + 3;
		int r = scan_arith(p, ')', &tend, &subs);
		if (r < 0)
			return -1;
		if (r == 1) {
			body = subs_script(p, &subs, start, p->pos);
			if (!body)
				body = new_node(p, LB_N_SCRIPT, start + 2);
			if (!body)
				return -1;
			goto done;
		}
		if (charge(p, p->pos - start))
			return -1;
	}
	p->pos = start + 2;
	body = parse_paren_body(p, start + 2);
done:;
	if (!body)
		return -1;
	lb_part *x = add_part(p, l, out ? LB_P_PROCSUB_OUT : LB_P_PROCSUB_IN, start, p->pos);
	if (!x)
		return -1;
	x->sub = body;
	return 0;
}

/* Parses src region [from, to) of the current buffer as a script (for backticks). */
static lb_node *parse_region(parser *p, size_t from, size_t to)
{
	size_t saved_n = p->n;
	lb_node *saved_top = p->top;
	p->n = to;
	p->pos = from;
	p->have = 0;
	p->top = NULL;
	lb_node *body = parse_list(p);
	p->top = saved_top;
	if (body) {
		tok *t = peek(p, M_ASSIGN);
		if (t->kind != TK_EOF) {
			fail(p, ESC_EPARSE, t->span.start, "unexpected token in `...`");
			body = NULL;
		} else {
			body->span = sp(from, to);
		}
	}
	p->have = 0;
	p->n = saved_n;
	return body;
}

static int lex_backtick(parser *p, plist *l, unsigned ctx)
{
	size_t start = p->pos, end = 0;
	int esc = 0;
	for (size_t i = start + 1; i < p->n; i++) {
		if (p->s[i] == '\\' && i + 1 < p->n) {
			esc = 1;
			i++;
			continue;
		}
		if (p->s[i] == '`') {
			end = i;
			break;
		}
	}
	if (!end) {
		fail(p, ESC_EPARSE, start, "unterminated `...`");
		return -1;
	}
	if (enter(p))
		return -1;
	/* bash parses backquoted text only when it runs it: errors inside are not syntax
	 * errors for bash -n, so the body is parsed softly (sub = NULL when it fails) */
	lb_parse_error saved_err = *p->err;
	int saved_rc = p->rc, saved_depth = p->depth;
	heredoc *saved_hh = p->hd_head, *saved_ht = p->hd_tail;
	p->hd_head = p->hd_tail = NULL;
	lb_node *body;
	if (!esc) {
		body = parse_region(p, start + 1, end);
	} else {
		/* unescape \` \\ \$ (and \" inside double quotes) into a copy, parse the copy,
		 * then map every span back onto the original input */
		size_t cap = end - start;
		char *copy = alloc(p, cap);
		uint32_t *map = alloc(p, (cap + 1) * sizeof(*map));
		if (!copy || !map) {
			leave(p);
			return -1;
		}
		size_t o = 0;
		for (size_t i = start + 1; i < end; i++) {
			char c = p->s[i];
			if (c == '\\' && i + 1 < end) {
				char nx = p->s[i + 1];
				if (nx == '`' || nx == '\\' || nx == '$' || ((ctx & (C_DQ | C_BQDQ)) && nx == '"')) {
					map[o] = (uint32_t)(i + 1);
					copy[o++] = nx;
					i++;
					continue;
				}
			}
			map[o] = (uint32_t)i;
			copy[o++] = c;
		}
		map[o] = (uint32_t)end;
		const char *saved_s = p->s;
		size_t saved_pos = p->pos, saved_bs = p->hd_bstart;
		size_t saved_nf = p->nobr_from, saved_nt = p->nobr_to;
		int had_err = p->rc;
		p->s = copy;
		p->nobr_from = p->nobr_to = 0;
		size_t saved_n = p->n;
		p->n = o;
		p->pos = 0;
		p->have = 0;
		body = parse_list(p);
		if (body) {
			tok *t = peek(p, M_ASSIGN);
			if (t->kind != TK_EOF) {
				fail(p, ESC_EPARSE, t->span.start, "unexpected token in `...`");
				body = NULL;
			}
		}
		p->have = 0;
		if (!had_err && p->rc) {
			uint32_t e = p->err->span.start;
			p->err->span.start = p->err->span.end = e <= o ? map[e] : (uint32_t)end;
		}
		p->s = saved_s;
		p->n = saved_n;
		p->pos = saved_pos;
		p->hd_bstart = saved_bs;
		p->nobr_from = saved_nf;
		p->nobr_to = saved_nt;
		if (body) {
			remap_node(body, map, o);
			body->span = sp(start + 1, end);
		}
	}
	p->hd_head = saved_hh;
	p->hd_tail = saved_ht;
	p->depth = saved_depth;
	if (!saved_rc && (p->rc == ESC_EPARSE || p->rc == ESC_EDEPTH || p->rc == RC_STOP)) {
		p->rc = 0;
		*p->err = saved_err;
		body = NULL;
	}
	leave(p);
	if (p->rc)
		return -1;
	p->have = 0;
	p->pos = end + 1;
	lb_part *x = add_part(p, l, LB_P_BACKTICK, start, end + 1);
	if (!x)
		return -1;
	x->sub = body;
	return 0;
}

/* Finds the ']' closing the '[' at i the way bash's matched-pair scan does: nested
 * brackets, quotes and substitutions skipped. Returns 1 with *endp at the ']', 0 when a
 * stop byte ('}' if stop_brace, a newline or blank if stop_blank) or EOF came first,
 * -1 on error. */
static int scan_subscript(parser *p, size_t i, int stop_brace, int stop_blank, size_t *endp)
{
	size_t save = p->pos;
	long d = 0;
	p->pos = i + 1;
	while (p->pos < p->n) {
		int c = (unsigned char)p->s[p->pos];
		plist tmp = { 0 };
		switch (c) {
		case '[':
			d++;
			p->pos++;
			continue;
		case ']':
			if (d == 0) {
				*endp = p->pos;
				p->pos = save;
				return 1;
			}
			d--;
			p->pos++;
			continue;
		case '\\':
			p->pos += p->pos + 1 < p->n ? 2 : 1;
			continue;
		case '\'':
			if (lex_squote(p, &tmp))
				return -1;
			continue;
		case '"':
			if (lex_dquote(p, &tmp, 0, 0))
				return -1;
			continue;
		case '`':
			if (lex_backtick(p, &tmp, 0))
				return -1;
			continue;
		case '$':
			if (lex_dollar(p, &tmp, 0, NULL))
				return -1;
			continue;
		case '<':
		case '>':
			if (at(p, p->pos + 1) == '(') {
				if (lex_procsub(p, &tmp))
					return -1;
				continue;
			}
			if (stop_blank)
				goto none;
			break;
		case '}':
			if (stop_brace)
				goto none;
			break;
		default:
			if (stop_blank && is_meta(c))
				goto none;
			break;
		}
		p->pos++;
	}
none:
	/* the caller rescans this text another way: bound the total */
	if (charge(p, p->pos - i))
		return -1;
	p->pos = save;
	return 0;
}

/* ${ ... } starting at '$' */
static int lex_param_braced(parser *p, plist *l, unsigned ctx)
{
	size_t start = p->pos, i = start + 2;
	unsigned flags = LB_PF_BRACED;
	if (enter(p))
		return -1;
	int c = at(p, i), c2 = at(p, i + 1);
	if ((c == '#' || c == '!') && c2 != '}' && c2 >= 0 &&
	    (is_name_char(c2) || c2 == '@' || c2 == '*' || c2 == '#' || c2 == '?' || c2 == '$' ||
	     c2 == '!' || c2 == '-')) {
		flags |= c == '#' ? LB_PF_LENGTH : LB_PF_INDIRECT;
		i++;
	}
	size_t ns = i;
	c = at(p, i);
	if (is_name_start(c)) {
		while (is_name_char(at(p, i)))
			i++;
	} else if (is_digit(c)) {
		while (is_digit(at(p, i)))
			i++;
	} else if (c == '@' || c == '*' || c == '#' || c == '?' || c == '!' || c == '-') {
		i++;
	} else if (c == '$' && !strchr("([{'\"", at(p, i + 1) < 0 ? 'x' : at(p, i + 1))) {
		i++;
	}
	size_t ne = i;
	const char *sub_text = NULL;
	if (at(p, i) == '[' && ne > ns) {
		size_t j = 0;
		int r = scan_subscript(p, i, 1, 0, &j);
		if (r < 0) {
			leave(p);
			return -1;
		}
		if (r > 0) {
			sub_text = sdup(p, i + 1, j);
			if (!sub_text) {
				leave(p);
				return -1;
			}
			flags |= LB_PF_SUBSCRIPT;
			i = j + 1;
		}
	}
	/* operator */
	size_t os = i;
	c = at(p, i);
	c2 = at(p, i + 1);
	if (c == ':' && (c2 == '-' || c2 == '=' || c2 == '?' || c2 == '+'))
		i += 2;
	else if ((c == '#' || c == '%' || c == '^' || c == ',') && c2 == c)
		i += 2;
	else if (c == '/' && (c2 == '/' || c2 == '#' || c2 == '%'))
		i += 2;
	else if (c >= 0 && c != '}' && c != '\'' && c != '"' && c != '$' && c != '`' && c != '\\')
		i += 1;
	size_t oe = i;
	int operand = oe > os || (c >= 0 && c != '}');
	lb_part *x = add_part(p, l, LB_P_PARAM, start, start);
	if (!x) {
		leave(p);
		return -1;
	}
	x->flags = flags;
	x->text = sdup(p, ns, ne);
	x->len = ne - ns;
	x->sub_text = sub_text;
	if (operand) {
		x->op = sdup(p, os, oe);
		p->pos = oe;
		lb_word *w = lex_word(p, C_BRACE | (ctx & (C_DQ | C_HEREDOC | C_BQDQ)));
		if (!w) {
			leave(p);
			return -1;
		}
		x->word = w;
	} else {
		p->pos = oe;
	}
	leave(p);
	if (at(p, p->pos) != '}') {
		fail(p, ESC_EPARSE, start, "unterminated ${...}");
		return -1;
	}
	p->pos++;
	x->span.end = (uint32_t)p->pos;
	return p->rc ? -1 : 0;
}

static int lex_dollar(parser *p, plist *l, unsigned ctx, nvec *subs)
{
	size_t start = p->pos;
	int c = at(p, start + 1);
	if (c == '(' || c == '[') {
		if (lex_dollar_paren(p, l))
			return -1;
		if (subs && l->tail) {
			if (l->tail->kind == LB_P_CMDSUB)
				return add_sub_kid(p, subs, l->tail->sub);
			if (l->tail->kind == LB_P_ARITH && l->tail->sub)
				for (size_t k = 0; k < l->tail->sub->nkids; k++)
					if (add_sub_kid(p, subs, l->tail->sub->kids[k]))
						return -1;
		}
		return 0;
	}
	if (c == '{')
		return lex_param_braced(p, l, ctx);
	if (c == '\'' && !(ctx & (C_DQ | C_HEREDOC)))
		return lex_ansic(p, l);
	if (c == '"' && !(ctx & (C_DQ | C_HEREDOC))) {
		p->pos = start;
		return lex_dquote(p, l, 1, ctx);
	}
	size_t e = start + 1;
	if (c >= 0 && is_name_start(c)) {
		while (is_name_char(at(p, e)))
			e++;
	} else if (c >= 0 && (is_digit(c) || c == '@' || c == '*' || c == '#' || c == '?' ||
	                      c == '$' || c == '!' || c == '-')) {
		e++;
	} else {
		/* a lone '$' is literal */
		lb_part *x = add_part(p, l, LB_P_LIT, start, start + 1);
		if (!x)
			return -1;
		x->text = "$";
		x->len = 1;
		p->pos = start + 1;
		return 0;
	}
	lb_part *x = add_part(p, l, LB_P_PARAM, start, e);
	if (!x)
		return -1;
	x->text = sdup(p, start + 1, e);
	x->len = e - start - 1;
	p->pos = e;
	return x->text ? 0 : -1;
}

/* ---- globs, tilde ------------------------------------------------------------------ */

/* end of a [...] bracket expression starting at i, or 0 */
static size_t bracket_end(parser *p, size_t i)
{
	if (i >= p->nobr_from && i < p->nobr_to)
		return 0;
	size_t j = i + 1;
	if (at(p, j) == '!' || at(p, j) == '^')
		j++;
	if (at(p, j) == ']')
		j++;
	for (; j < p->n; j++) {
		int c = (unsigned char)p->s[j];
		if (c == ']')
			return j + 1;
		if (is_meta(c) || c == '\'' || c == '"' || c == '$' || c == '`' || c == '\\')
			break;
	}
	p->nobr_from = i;
	p->nobr_to = j;
	return 0;
}

/* end of an extglob group "X(...)" starting at i (X at i), or 0 */
static size_t extglob_end(parser *p, size_t i)
{
	long d = 0;
	for (size_t j = i + 1; j < p->n; j++) {
		int c = (unsigned char)p->s[j];
		if (c == '\\') {
			j++;
			continue;
		}
		if (c == '(')
			d++;
		else if (c == ')') {
			if (--d == 0)
				return j + 1;
		} else if (c == '\n')
			return 0;
	}
	return 0;
}

static int try_tilde(parser *p, plist *l, unsigned ctx)
{
	size_t i = p->pos + 1;
	while (i < p->n) {
		int c = (unsigned char)p->s[i];
		if (is_name_char(c) || c == '.' || c == '-' || c == '+')
			i++;
		else
			break;
	}
	int c = at(p, i);
	int ok = c < 0 || c == '/' || ((ctx & C_ASSIGN) && c == ':') || ((ctx & C_BRACE) && c == '}');
	if (!ok && !(ctx & C_BRACE) && is_meta(c))
		ok = !(ctx & C_REGEX);
	if (!ok)
		return 0;
	lb_part *x = add_part(p, l, LB_P_TILDE, p->pos, i);
	if (!x)
		return -1;
	x->text = sdup(p, p->pos + 1, i);
	x->len = i - p->pos - 1;
	p->pos = i;
	return x->text ? 1 : -1;
}

/* ---- the word lexer ---------------------------------------------------------------- */

static int mark(parser *p, plist *l, char c)
{
	static const char *const txt[] = { "{", ",", "}" };
	lb_part *x = add_part(p, l, LB_P_LIT, p->pos, p->pos + 1);
	if (!x)
		return -1;
	x->text = c == '{' ? txt[0] : c == ',' ? txt[1] : txt[2];
	x->len = 1;
	x->flags = PF_MARK;
	p->pos++;
	if (c == '{')
		l->has_open = 1;
	else if (c == '}')
		l->has_close = 1;
	return 0;
}

/* Reads parts until the context's terminator; does not consume the terminator. */
static int lex_parts(parser *p, plist *l, unsigned ctx)
{
	int tilde_ok = !(ctx & (C_DQ | C_HEREDOC));
	long rdepth = 0; /* ( ) depth inside a =~ regex */
	int unq = !(ctx & (C_DQ | C_HEREDOC | C_BRACE));
	while (p->pos < p->n) {
		size_t i = p->pos;
		int c = (unsigned char)p->s[i];
		if (tilde_ok && c == '~') {
			tilde_ok = 0;
			int r = try_tilde(p, l, ctx);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			size_t e = lit_run_end(p, l, ctx, i);
			if (!lit_part(p, l, ctx, i, e))
				return -1;
			p->pos = e;
			continue;
		}
		tilde_ok = 0;
		if (ctx & (C_DQ | C_HEREDOC)) {
			if (c == '"' && (ctx & C_DQ)) {
				if (!(ctx & C_BRACE))
					return 0;
				/* "${x:-"nested"}" */
				if (lex_dquote(p, l, 0, ctx))
					return -1;
				continue;
			}
			if (c == '}' && (ctx & C_BRACE))
				return 0;
			if (c == '\'' && (ctx & C_BRACE) && (ctx & C_DQ)) {
				/* "${x:-'a'}": the quotes stay literal but must balance */
				const char *q = memchr(p->s + i + 1, '\'', p->n - i - 1);
				if (!q) {
					fail(p, ESC_EPARSE, i, "unterminated '...'");
					return -1;
				}
				size_t e = (size_t)(q - p->s) + 1;
				lb_part *x = add_part(p, l, LB_P_LIT, i, e);
				if (!x || !(x->text = sdup(p, i, e)))
					return -1;
				x->len = e - i;
				p->pos = e;
				continue;
			}
		} else if (ctx & C_BRACE) {
			if (c == '}')
				return 0;
			if ((c == '<' || c == '>') && at(p, i + 1) == '(') {
				if (lex_procsub(p, l))
					return -1;
				continue;
			}
		} else if (is_meta(c)) {
			if ((c == '<' || c == '>') && at(p, i + 1) == '(' &&
			    (!l->tail || l->tail->kind == LB_P_PROCSUB_IN || l->tail->kind == LB_P_PROCSUB_OUT)) {
				if (lex_procsub(p, l))
					return -1;
				continue;
			}
			if (ctx & C_REGEX) {
				if (c == '(') {
					rdepth++;
					goto literal1;
				}
				if (c == ')' && rdepth > 0) {
					rdepth--;
					goto literal1;
				}
				if (c == '|' || ((c == ' ' || c == '\t' || c == '\n') && rdepth > 0))
					goto literal1;
			}
			return 0;
		}
		switch (c) {
		case '\'':
			if (!unq && (ctx & (C_DQ | C_HEREDOC)))
				break;
			if (lex_squote(p, l))
				return -1;
			continue;
		case '"':
			if (ctx & C_HEREDOC)
				break;
			if (lex_dquote(p, l, 0, ctx))
				return -1;
			continue;
		case '$':
			if (lex_dollar(p, l, ctx, NULL))
				return -1;
			continue;
		case '`':
			if (lex_backtick(p, l, ctx))
				return -1;
			continue;
		case '\\':
			if (i + 1 < p->n && p->s[i + 1] == '\n' && unq) {
				p->pos += 2;
				continue;
			}
			break;
		case '*':
		case '?':
		case '@':
		case '+':
		case '!':
			if (!unq)
				break;
			if ((ctx & (C_COND | C_REGEX)) && at(p, i + 1) == '(') {
				size_t e = extglob_end(p, i);
				if (e) {
					lb_part *x = add_part(p, l, LB_P_GLOB, i, e);
					if (!x || !(x->text = sdup(p, i, e)))
						return -1;
					x->len = e - i;
					p->pos = e;
					continue;
				}
			}
			if (c == '*' || c == '?') {
				size_t e = i + 1;
				while (at(p, e) == '*' || at(p, e) == '?')
					e++;
				lb_part *x = add_part(p, l, LB_P_GLOB, i, e);
				if (!x || !(x->text = sdup(p, i, e)))
					return -1;
				x->len = e - i;
				p->pos = e;
				continue;
			}
			break;
		case '[':
			if (unq) {
				size_t e = bracket_end(p, i);
				if (e) {
					lb_part *x = add_part(p, l, LB_P_GLOB, i, e);
					if (!x || !(x->text = sdup(p, i, e)))
						return -1;
					x->len = e - i;
					p->pos = e;
					continue;
				}
			}
			break;
		case '{':
		case ',':
		case '}':
			if (unq && !(ctx & C_REGEX) && (c == '{' || l->has_open)) {
				if (mark(p, l, (char)c))
					return -1;
				continue;
			}
			goto literal1;
		case ':':
			if (ctx & C_ASSIGN) {
				if (!lit_part(p, l, ctx, i, i + 1))
					return -1;
				p->pos = i + 1;
				tilde_ok = 1;
				continue;
			}
			break;
		default:
			break;
		}
		/* a literal run: starts at i, at least one byte (a backslash takes two) */
		{
			size_t e = lit_run_end(p, l, ctx, i);
			if (!lit_part(p, l, ctx, i, e))
				return -1;
			p->pos = e;
			continue;
		}
	literal1:
		if (!lit_part(p, l, ctx, i, i + 1))
			return -1;
		p->pos = i + 1;
	}
	return 0;
}

/* ---- brace expansion --------------------------------------------------------------- */

static int is_seq(const char *t, size_t n)
{
	size_t i = 0;
	int alpha = 0;
	/* first endpoint */
	if (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')) &&
	    i + 1 < n && t[i + 1] == '.') {
		alpha = 1;
		i++;
	} else {
		if (i < n && t[i] == '-')
			i++;
		size_t d = i;
		while (i < n && t[i] >= '0' && t[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i + 2 > n || t[i] != '.' || t[i + 1] != '.')
		return 0;
	i += 2;
	if (alpha) {
		if (!(i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z'))))
			return 0;
		i++;
	} else {
		if (i < n && t[i] == '-')
			i++;
		size_t d = i;
		while (i < n && t[i] >= '0' && t[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i == n)
		return 1;
	if (i + 2 > n || t[i] != '.' || t[i + 1] != '.')
		return 0;
	i += 2;
	if (i < n && t[i] == '-')
		i++;
	size_t d = i;
	while (i < n && t[i] >= '0' && t[i] <= '9')
		i++;
	return i > d && i == n;
}

/* Links items[0..k) into a list, merging adjacent literal parts (and unmarking). */
static lb_part *relink(parser *p, lb_part **items, size_t k)
{
	lb_part *head = NULL, *tail = NULL;
	for (size_t i = 0; i < k; i++) {
		lb_part *x = items[i];
		if (x->kind == LB_P_LIT) {
			size_t j = i + 1, tot = x->len;
			while (j < k && items[j]->kind == LB_P_LIT)
				tot += items[j++]->len;
			if (j > i + 1) {
				char *d = alloc_text(p, tot + 1);
				lb_part *m = alloc(p, sizeof(*m));
				if (!d || !m)
					return NULL;
				size_t o = 0;
				for (size_t q = i; q < j; q++) {
					memcpy(d + o, items[q]->text, items[q]->len);
					o += items[q]->len;
				}
				d[o] = '\0';
				m->kind = LB_P_LIT;
				m->span = sp(x->span.start, items[j - 1]->span.end);
				m->text = d;
				m->len = tot;
				x = m;
				i = j - 1;
			} else {
				x->flags &= ~PF_MARK;
			}
		}
		x->next = NULL;
		if (tail)
			tail->next = x;
		else
			head = x;
		tail = x;
	}
	return head;
}

static int is_mark(const lb_part *x, char c)
{
	return x->kind == LB_P_LIT && (x->flags & PF_MARK) && x->text[0] == c;
}

/* Turns matched { , } markers into LB_P_BRACE parts (linear: one stack pass). */
static int brace_fix(parser *p, lb_word *w)
{
	size_t n = 0;
	for (lb_part *x = w->parts; x; x = x->next)
		n++;
	lb_part **out = alloc(p, n * sizeof(*out));
	size_t *stk = alloc(p, n * sizeof(*stk));
	size_t *commas = alloc(p, n * sizeof(*commas));
	if (!out || !stk || !commas)
		return -1;
	size_t on = 0, sn = 0;
	for (lb_part *x = w->parts; x; x = x->next) {
		if (is_mark(x, '{')) {
			stk[sn] = on;
			commas[sn++] = 0;
			out[on++] = x;
		} else if (is_mark(x, ',')) {
			if (sn)
				commas[sn - 1]++;
			out[on++] = x;
		} else if (is_mark(x, '}') && sn) {
			size_t o = stk[--sn], nc = commas[sn];
			lb_part **in = out + o + 1;
			size_t k = on - o - 1;
			int seq = !nc && k == 1 && in[0]->kind == LB_P_LIT && !(in[0]->flags & PF_MARK) &&
			          is_seq(in[0]->text, in[0]->len);
			if (!nc && !seq) {
				out[on++] = x;
				continue;
			}
			lb_part *b = alloc(p, sizeof(*b));
			if (!b)
				return -1;
			b->kind = LB_P_BRACE;
			b->span = sp(out[o]->span.start, x->span.end);
			/* nested braces copy their text once per level: bound the total */
			if (charge(p, b->span.end - b->span.start))
				return -1;
			b->text = sdup(p, b->span.start, b->span.end);
			if (!b->text)
				return -1;
			b->len = b->span.end - b->span.start;
			if (nc) {
				b->alts = alloc(p, (nc + 1) * sizeof(*b->alts));
				if (!b->alts)
					return -1;
				size_t s0 = 0;
				for (size_t q = 0; q <= k; q++) {
					if (q < k && !is_mark(in[q], ','))
						continue;
					lb_word *aw = alloc(p, sizeof(*aw));
					if (!aw)
						return -1;
					uint32_t as = q > s0 ? in[s0]->span.start : (q < k ? in[q]->span.start : x->span.start);
					uint32_t ae = q > s0 ? in[q - 1]->span.end : as;
					aw->span.start = as;
					aw->span.end = ae;
					aw->parts = relink(p, in + s0, q - s0);
					if (q > s0 && !aw->parts)
						return -1;
					aw->flags = word_flags_of(aw);
					if (b->nalts)
						b->alts[b->nalts - 1]->next = aw;
					b->alts[b->nalts++] = aw;
					s0 = q + 1;
				}
			}
			on = o;
			out[on++] = b;
		} else {
			out[on++] = x;
		}
	}
	w->parts = relink(p, out, on);
	return p->rc ? -1 : 0;
}

static lb_word *finish_word(parser *p, plist *l, size_t start, size_t end)
{
	lb_word *w = alloc(p, sizeof(*w));
	if (!w)
		return NULL;
	w->span = sp(start, end);
	w->parts = l->head;
	if (l->has_open && l->has_close) {
		if (brace_fix(p, w))
			return NULL;
	} else if (l->has_open) {
		for (lb_part *x = w->parts; x; x = x->next)
			x->flags &= ~PF_MARK;
		w->parts = NULL;
		/* merge the literal '{' pieces back (rare: a word with an unmatched '{') */
		size_t n = 0;
		for (lb_part *x = l->head; x; x = x->next)
			n++;
		lb_part **items = alloc(p, n * sizeof(*items));
		if (!items)
			return NULL;
		n = 0;
		for (lb_part *x = l->head; x; x = x->next)
			items[n++] = x;
		w->parts = relink(p, items, n);
	}
	w->flags = word_flags_of(w);
	return w;
}

static lb_word *lex_word(parser *p, unsigned ctx)
{
	size_t start = p->pos;
	plist l = { 0 };
	if (lex_parts(p, &l, ctx))
		return NULL;
	return finish_word(p, &l, start, p->pos);
}

/* ---- tokens ------------------------------------------------------------------------ */

/* Is the source of span exactly t (line continuations aside)? Keywords and operators
 * count only when written without quotes or escapes. */
static int raw_equals(const parser *p, lb_span s, const char *t, size_t n)
{
	size_t i = s.start, k = 0;
	if (s.end - s.start == n)
		return !memcmp(p->s + s.start, t, n);
	while (i < s.end) {
		if (p->s[i] == '\\' && i + 1 < s.end && p->s[i + 1] == '\n') {
			i += 2;
			continue;
		}
		if (k >= n || p->s[i] != t[k])
			return 0;
		i++;
		k++;
	}
	return k == n;
}

static int word_rw(parser *p, const lb_word *w)
{
	const lb_part *x = w->parts;
	if (!x || x->next || x->kind != LB_P_LIT || x->len > 8 || x->len == 0)
		return RW_NONE;
	if (!raw_equals(p, w->span, x->text, x->len))
		return RW_NONE;
	/* dispatch on length and first byte: this runs for every word of every record */
	const char *t = x->text;
	int r = RW_NONE;
	switch (x->len) {
	case 1:
		r = t[0] == '{' ? RW_LBRACE : t[0] == '}' ? RW_RBRACE : t[0] == '!' ? RW_BANG
		  : RW_NONE;
		return r;
	case 2:
		switch (t[0]) {
		case 'i': r = t[1] == 'f' ? RW_IF : t[1] == 'n' ? RW_IN : RW_NONE; break;
		case 'f': r = t[1] == 'i' ? RW_FI : RW_NONE; break;
		case 'd': r = t[1] == 'o' ? RW_DO : RW_NONE; break;
		case '[': r = t[1] == '[' ? RW_DLBRACK : RW_NONE; break;
		case ']': r = t[1] == ']' ? RW_DRBRACK : RW_NONE; break;
		default: break;
		}
		return r;
	case 3:
		return t[0] == 'f' && t[1] == 'o' && t[2] == 'r' ? RW_FOR : RW_NONE;
	case 4:
		switch (t[0]) {
		case 't': r = !memcmp(t, "then", 4) ? RW_THEN : !memcmp(t, "time", 4) ? RW_TIME
		            : RW_NONE; break;
		case 'e': r = !memcmp(t, "else", 4) ? RW_ELSE : !memcmp(t, "elif", 4) ? RW_ELIF
		            : !memcmp(t, "esac", 4) ? RW_ESAC : RW_NONE; break;
		case 'c': r = !memcmp(t, "case", 4) ? RW_CASE : RW_NONE; break;
		case 'd': r = !memcmp(t, "done", 4) ? RW_DONE : RW_NONE; break;
		default: break;
		}
		return r;
	case 5:
		switch (t[0]) {
		case 'w': r = !memcmp(t, "while", 5) ? RW_WHILE : RW_NONE; break;
		case 'u': r = !memcmp(t, "until", 5) ? RW_UNTIL : RW_NONE; break;
		default: break;
		}
		return r;
	case 6:
		switch (t[0]) {
		case 's': r = !memcmp(t, "select", 6) ? RW_SELECT : RW_NONE; break;
		case 'c': r = !memcmp(t, "coproc", 6) ? RW_COPROC : RW_NONE; break;
		default: break;
		}
		return r;
	case 8:
		return !memcmp(t, "function", 8) ? RW_FUNCTION : RW_NONE;
	default:
		return RW_NONE;
	}
}

static void skip_blanks(parser *p)
{
	for (;;) {
		int c = at(p, p->pos);
		if (c == ' ' || c == '\t') {
			p->pos++;
		} else if (c == '\\' && at(p, p->pos + 1) == '\n') {
			p->pos += 2;
		} else if (c == '#') {
			const char *nl = memchr(p->s + p->pos, '\n', p->n - p->pos);
			p->pos = nl ? (size_t)(nl - p->s) : p->n;
		} else {
			return;
		}
	}
}

/* x=(a b c): elements up to ')'; *out = the element words (NULL when empty) */
static int lex_array(parser *p, size_t *endp, lb_word **out)
{
	size_t open = p->pos;
	lb_word *head = NULL, *tail = NULL;
	p->pos++;
	if (enter(p))
		return -1;
	for (;;) {
		skip_blanks(p);
		int c = at(p, p->pos);
		if (c == '\n') {
			p->pos++;
			continue;
		}
		if (c == ')')
			break;
		if (c < 0) {
			fail(p, ESC_EPARSE, open, "unterminated array (...)");
			leave(p);
			return -1;
		}
		if (is_meta(c) && !((c == '<' || c == '>') && at(p, p->pos + 1) == '(')) {
			fail(p, ESC_EPARSE, p->pos, "unexpected token in array");
			leave(p);
			return -1;
		}
		lb_word *w = lex_word(p, 0);
		if (!w) {
			leave(p);
			return -1;
		}
		if (tail)
			tail->next = w;
		else
			head = w;
		tail = w;
	}
	leave(p);
	p->pos++;
	*endp = p->pos;
	*out = head;
	return 0;
}

/* A word at p->pos, with assignment detection. */
static void lex_word_token(parser *p, tok *t, int mode)
{
	size_t start = p->pos, i = start;
	t->kind = TK_WORD;
	if (is_name_start(at(p, i))) {
		while (is_name_char(at(p, i)))
			i++;
		size_t name_end = i, sub_s = 0, sub_e = 0;
		int ok = 1;
		if (at(p, i) == '[' && mode == M_ASSIGN) {
			/* where an assignment may start, bash reads name[...] as one matched pair,
			 * blanks and newlines included */
			t->asg_sensitive = 1;
			size_t j = 0;
			int r = scan_subscript(p, i, 0, 0, &j);
			if (r < 0)
				return;
			if (r == 0) {
				fail(p, ESC_EPARSE, i, "unterminated [...]");
				return;
			}
			sub_s = i + 1;
			sub_e = j;
			i = j + 1;
			if (!(at(p, i) == '=' || (at(p, i) == '+' && at(p, i + 1) == '='))) {
				/* not an assignment: the bracketed text is part of an ordinary word */
				plist l = { 0 };
				if (!lit_part(p, &l, 0, start, i))
					return;
				p->pos = i;
				if (lex_parts(p, &l, 0))
					return;
				t->word = finish_word(p, &l, start, p->pos);
				if (t->word)
					t->span = t->word->span;
				return;
			}
		} else if (at(p, i) == '[') {
			t->asg_sensitive = 1;
			size_t j = i + 1;
			long d = 0;
			ok = 0;
			for (; j < p->n; j++) {
				int c = (unsigned char)p->s[j];
				if (c == '\\') {
					j++;
					continue;
				}
				if (c == '[')
					d++;
				else if (c == ']') {
					if (d == 0) {
						ok = 1;
						break;
					}
					d--;
				} else if (c == '\n' || (mode != M_ASSIGN && is_meta(c))) {
					break;
				}
			}
			if (ok) {
				sub_s = i + 1;
				sub_e = j;
				i = j + 1;
			}
		}
		int app = 0;
		if (ok && at(p, i) == '+' && at(p, i + 1) == '=') {
			app = 1;
			i++;
		}
		if (ok && at(p, i) == '=') {
			i++;
			lb_assign *as = alloc(p, sizeof(*as));
			if (!as)
				return;
			as->name = sdup(p, start, name_end);
			if (sub_e)
				as->subscript = sdup(p, sub_s, sub_e);
			as->append = app;
			plist l = { 0 };
			lb_part *pre = lit_part(p, &l, 0, start, i);
			if (!pre)
				return;
			p->pos = i;
			if (at(p, i) == '(') {
				size_t end = 0;
				if (lex_array(p, &end, &as->array))
					return;
				as->is_array = 1;
				lb_part *raw = add_part(p, &l, LB_P_LIT, i, end);
				if (!raw || !(raw->text = sdup(p, i, end)))
					return;
				raw->len = end - i;
				as->span = sp(start, end);
				/* bash keeps reading the word after the ')' */
				if (lex_parts(p, &l, 0))
					return;
				end = p->pos;
				t->word = finish_word(p, &l, start, end);
				t->asg = as;
				t->span = sp(start, end);
				return;
			}
			plist v = { 0 };
			if (lex_parts(p, &v, C_ASSIGN))
				return;
			if (v.head) {
				lb_word *vw = finish_word(p, &v, i, p->pos);
				if (!vw)
					return;
				as->value = vw;
				l.tail->next = vw->parts;
				l.tail = NULL;
				l.has_open = l.has_close = 0;
			}
			lb_word *w = alloc(p, sizeof(*w));
			if (!w)
				return;
			w->span = sp(start, p->pos);
			w->parts = l.head;
			w->flags = word_flags_of(w) & ~(unsigned)LB_WF_TILDE;
			as->span = w->span;
			t->word = w;
			t->asg = as;
			t->span = w->span;
			return;
		}
	}
	p->pos = start;
	t->word = lex_word(p, mode == M_COND ? C_COND : mode == M_REGEX ? C_REGEX : 0);
	if (t->word) {
		t->span = t->word->span;
		t->rw = word_rw(p, t->word);
	}
}

static void lex_token(parser *p, int mode, tok *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	skip_blanks(p);
	size_t s = p->pos;
	int c = at(p, s), c1 = at(p, s + 1), c2 = at(p, s + 2);
	t->span = sp(s, s + 1);
	switch (c) {
	case -1:
		t->kind = TK_EOF;
		t->span = sp(s, s);
		return;
	case '\n':
		t->kind = TK_NL;
		p->pos++;
		return;
	case ';':
		if (c1 == ';' && c2 == '&') {
			t->kind = TK_DSEMIAND;
			p->pos += 3;
		} else if (c1 == ';') {
			t->kind = TK_DSEMI;
			p->pos += 2;
		} else if (c1 == '&') {
			t->kind = TK_SEMIAND;
			p->pos += 2;
		} else {
			t->kind = TK_SEMI;
			p->pos++;
		}
		t->span.end = (uint32_t)p->pos;
		return;
	case '&':
		if (c1 == '&') {
			t->kind = TK_ANDAND;
			p->pos += 2;
		} else if (c1 == '>' && mode != M_COND && mode != M_REGEX) {
			t->kind = TK_REDIR;
			t->rop = c2 == '>' ? LB_R_APPEND_ERR : LB_R_OUT_ERR;
			p->pos += c2 == '>' ? 3 : 2;
		} else {
			t->kind = TK_AMP;
			p->pos++;
		}
		t->span.end = (uint32_t)p->pos;
		return;
	case '|':
		if (c1 == '|') {
			t->kind = TK_OROR;
			p->pos += 2;
		} else if (c1 == '&') {
			t->kind = TK_PIPEAND;
			p->pos += 2;
		} else {
			t->kind = TK_PIPE;
			p->pos++;
		}
		t->span.end = (uint32_t)p->pos;
		return;
	case '(':
		t->kind = TK_LPAREN;
		t->dparen = c1 == '(';
		p->pos++;
		return;
	case ')':
		t->kind = TK_RPAREN;
		p->pos++;
		return;
	default:
		break;
	}
	if ((c == '<' || c == '>') && c1 != '(') {
		if (mode == M_COND || mode == M_REGEX) {
			if (c1 == '<' || c1 == '>' || c1 == '&' || c1 == '|') {
				t->kind = TK_BAD;
				p->pos += 2;
				t->span.end = (uint32_t)p->pos;
				return;
			}
			plist l = { 0 };
			if (!lit_part(p, &l, 0, s, s + 1))
				return;
			p->pos = s + 1;
			t->kind = TK_WORD;
			t->word = finish_word(p, &l, s, s + 1);
			t->span = sp(s, s + 1);
			return;
		}
		goto redir;
	}
	if (mode != M_COND && mode != M_REGEX) {
		/* fd number or {var} before a redirection operator */
		size_t i = s;
		if (is_digit(c)) {
			while (is_digit(at(p, i)))
				i++;
			if ((at(p, i) == '<' || at(p, i) == '>') && at(p, i + 1) != '(') {
				long v = 0;
				for (size_t k = s; k < i; k++) {
					v = v * 10 + (p->s[k] - '0');
					if (v > INT_MAX) {
						v = INT_MAX;
						break;
					}
				}
				t->fd = (int)v;
				p->pos = i;
				goto redir;
			}
		} else if (c == '{' && is_name_start(c1)) {
			i = s + 1;
			while (is_name_char(at(p, i)))
				i++;
			if (at(p, i) == '}' && (at(p, i + 1) == '<' || at(p, i + 1) == '>') && at(p, i + 2) != '(') {
				t->fd_var = sdup(p, s + 1, i);
				p->pos = i + 1;
				goto redir;
			}
		}
	}
	lex_word_token(p, t, mode);
	return;
redir:
	t->kind = TK_REDIR;
	{
		size_t o = p->pos;
		int a0 = at(p, o), a1 = at(p, o + 1), a2 = at(p, o + 2);
		if (a0 == '<') {
			if (a1 == '<' && a2 == '<') {
				t->rop = LB_R_HERESTRING;
				o += 3;
			} else if (a1 == '<' && a2 == '-') {
				t->rop = LB_R_HEREDOC_TAB;
				o += 3;
			} else if (a1 == '<') {
				t->rop = LB_R_HEREDOC;
				o += 2;
			} else if (a1 == '&') {
				t->rop = LB_R_DUP_IN;
				o += 2;
			} else if (a1 == '>') {
				t->rop = LB_R_INOUT;
				o += 2;
			} else {
				t->rop = LB_R_IN;
				o += 1;
			}
		} else {
			if (a1 == '>') {
				t->rop = LB_R_APPEND;
				o += 2;
			} else if (a1 == '&') {
				t->rop = LB_R_DUP_OUT;
				o += 2;
			} else if (a1 == '|') {
				t->rop = LB_R_CLOBBER;
				o += 2;
			} else {
				t->rop = LB_R_OUT;
				o += 1;
			}
		}
		p->pos = o;
		t->span = sp(s, o);
	}
}

static int mode_compatible(const tok *t, int had, int want)
{
	if (had == want)
		return 1;
	int hc = had >= M_COND, wc = want >= M_COND;
	if (hc || wc) {
		/* non-word tokens other than < > lex the same */
		if (t->kind == TK_WORD || t->kind == TK_REDIR || t->kind == TK_BAD)
			return 0;
		return 1;
	}
	return !(t->kind == TK_WORD && t->asg_sensitive);
}

/* Lexes the next token (peek's slow path, kept out of line so the common call, which
 * returns the token already there, stays a few instructions). */
static __attribute__((noinline)) tok *peek_lex(parser *p, int mode)
{
	if (p->have) {
		/* relexing in another mode redoes the token's work: bound the total */
		if (charge(p, p->t.span.end - p->t.span.start + 1))
			return &p->t;
		p->pos = p->t.span.start;
		p->have = 0;
	}
	tok t;
	if (p->rc) {
		memset(&p->t, 0, sizeof(p->t));
		p->t.kind = TK_EOF;
		p->t.span = sp(p->pos > p->n ? p->n : p->pos, p->pos > p->n ? p->n : p->pos);
		return &p->t;
	}
	lex_token(p, mode, &t);
	if (p->rc) {
		memset(&t, 0, sizeof(t));
		t.kind = TK_EOF;
		t.span = sp(p->pos > p->n ? p->n : p->pos, p->pos > p->n ? p->n : p->pos);
	}
	p->t = t;
	p->have = 1;
	p->have_mode = mode;
	return &p->t;
}

static inline tok *peek(parser *p, int mode)
{
	if (p->have && (p->have_mode == mode || mode_compatible(&p->t, p->have_mode, mode)))
		return &p->t;
	return peek_lex(p, mode);
}

static void read_heredocs(parser *p);

static void consume(parser *p)
{
	if (!p->have)
		return;
	p->have = 0;
	p->pos = p->t.span.end;
	if (p->t.kind == TK_NL && p->hd_head)
		read_heredocs(p);
}

/* ---- here-documents ---------------------------------------------------------------- */

/* The delimiter is the word's source with quotes removed (no expansions happen). */
static int heredoc_delim(parser *p, const lb_word *w, const char **dp, size_t *np, int *quoted)
{
	size_t s = w->span.start, e = w->span.end;
	char *d = alloc(p, e - s + 1);
	if (!d)
		return -1;
	size_t o = 0;
	*quoted = 0;
	for (size_t i = s; i < e; i++) {
		char c = p->s[i];
		if (c == '\'') {
			*quoted = 1;
			for (i++; i < e && p->s[i] != '\''; i++)
				d[o++] = p->s[i];
		} else if (c == '"') {
			*quoted = 1;
			for (i++; i < e && p->s[i] != '"'; i++) {
				if (p->s[i] == '\\' && i + 1 < e &&
				    (p->s[i + 1] == '"' || p->s[i + 1] == '\\' || p->s[i + 1] == '$' || p->s[i + 1] == '`'))
					i++;
				d[o++] = p->s[i];
			}
		} else if (c == '\\') {
			*quoted = 1;
			if (i + 1 < e)
				d[o++] = p->s[++i];
		} else if (c == '$' && i + 1 < e && (p->s[i + 1] == '\'' || p->s[i + 1] == '"')) {
			continue;
		} else {
			d[o++] = c;
		}
	}
	d[o] = '\0';
	*dp = d;
	*np = o;
	return 0;
}

static void read_heredocs(parser *p)
{
	heredoc *h = p->hd_head;
	p->hd_head = p->hd_tail = NULL;
	for (; h; h = h->next) {
		lb_redir *r = h->r;
		size_t bs = p->pos, be = p->n, next = p->n;
		size_t ls = p->pos;
		int cont = 0; /* this line continues the previous one (unquoted: \<newline>) */
		while (ls < p->n) {
			const char *nl = memchr(p->s + ls, '\n', p->n - ls);
			size_t le = nl ? (size_t)(nl - p->s) : p->n;
			size_t cs = ls;
			int was_cont = cont;
			size_t nb = 0;
			while (nb < le - ls && p->s[le - 1 - nb] == '\\')
				nb++;
			cont = !r->body_quoted && (nb & 1);
			if (was_cont) {
				ls = nl ? le + 1 : p->n;
				continue;
			}
			if (h->strip)
				while (cs < le && p->s[cs] == '\t')
					cs++;
			if (le - cs == h->dlen && !memcmp(p->s + cs, h->delim, h->dlen)) {
				be = ls;
				next = nl ? le + 1 : le;
				break;
			}
			if (p->sub_list_depth && le - cs > h->dlen && p->s[cs + h->dlen] == ')' &&
			    !memcmp(p->s + cs, h->delim, h->dlen)) {
				/* `$(cat <<E ... E)`: inside a command substitution bash ends the
				 * body at the delimiter directly followed by the closing ')' */
				be = ls;
				next = cs + h->dlen;
				break;
			}
			ls = nl ? le + 1 : p->n;
		}
		if (ls >= p->n)
			be = next = p->n;
		r->body_span = sp(bs, be);
		int tabs = 0;
		if (h->strip)
			for (size_t i = bs; i < be && !tabs; i++)
				tabs = p->s[i] == '\t' && (i == bs || p->s[i - 1] == '\n');
		if (tabs) {
			char *d = alloc_text(p, be - bs + 1);
			if (!d)
				return;
			size_t o = 0;
			int bol = 1;
			for (size_t i = bs; i < be; i++) {
				if (bol && p->s[i] == '\t')
					continue;
				bol = p->s[i] == '\n';
				d[o++] = p->s[i];
			}
			d[o] = '\0';
			r->body = d;
			r->body_len = o;
		} else {
			/* the body as written: point into the input instead of copying it (ast.h:
			 * the tree borrows the input's bytes; not NUL-terminated) */
			r->body = p->s + bs;
			r->body_len = be - bs;
		}
		if (!r->body)
			return;
		if (!r->body_quoted && be > bs) {
			/* expansions in the body are runtime matters for bash -n: a broken one does
			 * not make the script invalid, so errors here are dropped */
			lb_parse_error saved = *p->err;
			size_t saved_n = p->n, saved_bs = p->hd_bstart;
			int saved_depth = p->depth;
			p->n = be;
			p->pos = bs;
			p->hd_bstart = bs;
			lb_word *w = lex_word(p, C_HEREDOC | (h->strip ? C_STRIP : 0));
			p->hd_head = p->hd_tail = NULL; /* nested here-docs inside the body: dropped */
			p->n = saved_n;
			p->hd_bstart = saved_bs;
			p->depth = saved_depth;
			p->have = 0;
			if (p->rc == ESC_EPARSE || p->rc == ESC_EDEPTH) {
				p->rc = 0;
				*p->err = saved;
				w = NULL;
			}
			r->body_word = w;
		}
		p->pos = next;
	}
}

/* ---- grammar ----------------------------------------------------------------------- */

static const char *tok_msg(const tok *t)
{
	switch (t->kind) {
	case TK_EOF: return "unexpected end of input";
	case TK_NL: return "unexpected newline";
	case TK_SEMI: return "unexpected `;'";
	case TK_DSEMI: return "unexpected `;;'";
	case TK_SEMIAND: return "unexpected `;&'";
	case TK_DSEMIAND: return "unexpected `;;&'";
	case TK_AMP: return "unexpected `&'";
	case TK_ANDAND: return "unexpected `&&'";
	case TK_PIPE: return "unexpected `|'";
	case TK_PIPEAND: return "unexpected `|&'";
	case TK_OROR: return "unexpected `||'";
	case TK_LPAREN: return "unexpected `('";
	case TK_RPAREN: return "unexpected `)'";
	case TK_REDIR: return "unexpected redirection";
	case TK_BAD: return "unexpected token in [[ ]]";
	default: break;
	}
	switch (t->rw) {
	case RW_THEN: return "unexpected `then'";
	case RW_ELSE: return "unexpected `else'";
	case RW_ELIF: return "unexpected `elif'";
	case RW_FI: return "unexpected `fi'";
	case RW_DO: return "unexpected `do'";
	case RW_DONE: return "unexpected `done'";
	case RW_ESAC: return "unexpected `esac'";
	case RW_RBRACE: return "unexpected `}'";
	case RW_DRBRACK: return "unexpected `]]'";
	case RW_BANG: return "unexpected `!'";
	default: return "unexpected word";
	}
}

static void unexpected(parser *p, const tok *t)
{
	fail(p, ESC_EPARSE, t->span.start, tok_msg(t));
}

static int expect_rw(parser *p, int rw)
{
	tok *t = peek(p, M_ASSIGN);
	if (t->kind != TK_WORD || t->rw != rw) {
		unexpected(p, t);
		return -1;
	}
	consume(p);
	return 0;
}

static int is_closer(const tok *t)
{
	switch (t->kind) {
	case TK_RPAREN: case TK_DSEMI: case TK_SEMIAND: case TK_DSEMIAND: case TK_EOF:
		return 1;
	case TK_WORD:
		switch (t->rw) {
		case RW_THEN: case RW_ELSE: case RW_ELIF: case RW_FI: case RW_DO: case RW_DONE:
		case RW_ESAC: case RW_RBRACE:
			return 1;
		default:
			return 0;
		}
	default:
		return 0;
	}
}

static void skip_nl_mode(parser *p, int mode)
{
	while (peek(p, mode)->kind == TK_NL)
		consume(p);
}

static void skip_nl(parser *p)
{
	skip_nl_mode(p, M_ASSIGN);
}

static lb_node *parse_andor(parser *p);

static lb_node *parse_list_in(parser *p, lb_node *s);

/* statements up to a closing token (not consumed) */
static lb_node *parse_list(parser *p)
{
	lb_node *s = new_node(p, LB_N_SCRIPT, p->pos);
	if (!s)
		return NULL;
	if (!p->top)
		p->top = s;
	p->list_depth++;
	lb_node *r = parse_list_in(p, s);
	p->list_depth--;
	return r;
}

static lb_node *parse_list_in(parser *p, lb_node *s)
{
	nvec kids = { 0 };
	int first = 1;
	for (;;) {
		tok *t = peek(p, M_ASSIGN);
		if (t->kind == TK_NL) {
			consume(p);
			continue;
		}
		if (is_closer(t))
			break;
		if (first) {
			s->span.start = t->span.start;
			first = 0;
		}
		lb_node *st = parse_andor(p);
		if (!st) {
			if (p->rc == RC_STOP && p->top == s && !nv_store(p, &kids, s))
				return s;
			return NULL;
		}
		if (nv_push(p, &kids, st))
			return NULL;
		s->span.end = st->span.end;
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_SEMI) {
			st->term = LB_T_SEMI;
		} else if (t->kind == TK_AMP) {
			st->term = LB_T_AMP;
		} else if (t->kind == TK_NL) {
			st->term = LB_T_NEWLINE;
		} else {
			break;
		}
		consume(p);
	}
	if (first)
		s->span = sp(p->have ? p->t.span.start : p->pos, p->have ? p->t.span.start : p->pos);
	if (nv_store(p, &kids, s))
		return NULL;
	return p->rc && !(p->rc == RC_STOP && p->top == s) ? NULL : s;
}

/* a list that must not be empty, closed by one of the given reserved words */
static lb_node *parse_body(parser *p)
{
	lb_node *b = parse_list(p);
	if (b && b->nkids == 0) {
		unexpected(p, peek(p, M_ASSIGN));
		return NULL;
	}
	return b;
}

static int parse_redir(parser *p, lb_redir ***tailp)
{
	tok *t = peek(p, M_NORMAL);
	lb_redir *r = alloc(p, sizeof(*r));
	if (!r)
		return -1;
	r->op = t->rop;
	r->fd = t->fd;
	r->fd_var = t->fd_var;
	r->span = t->span;
	consume(p);
	if (r->op == LB_R_DUP_IN || r->op == LB_R_DUP_OUT)
		skip_blanks(p);
	if ((r->op == LB_R_DUP_IN || r->op == LB_R_DUP_OUT) && at(p, p->pos) == '-') {
		/* bash reads the '-' of `>&-` on its own: `>&-f` and `>& -x` are a close
		 * followed by another word */
		size_t ds = p->pos;
		p->pos++;
		r->span.end = (uint32_t)p->pos;
		plist l = { 0 };
		if (!lit_part(p, &l, 0, ds, ds + 1) || !(r->target = finish_word(p, &l, ds, ds + 1)))
			return -1;
		**tailp = r;
		*tailp = &r->next;
		return 0;
	}
	t = peek(p, M_NORMAL);
	if (t->kind == TK_REDIR && t->fd >= 0 && (r->op == LB_R_DUP_IN || r->op == LB_R_DUP_OUT)) {
		/* `<&3>&3`: the digits are this redirection's target, the operator starts the
		 * next redirection (bash's LESS_AND NUMBER) */
		size_t ds = t->span.start, de = ds;
		while (de < p->n && is_digit(p->s[de]))
			de++;
		plist l = { 0 };
		if (!lit_part(p, &l, 0, ds, de))
			return -1;
		lb_word *dw = finish_word(p, &l, ds, de);
		if (!dw)
			return -1;
		r->target = dw;
		r->span.end = (uint32_t)de;
		p->have = 0;
		p->pos = de;
		**tailp = r;
		*tailp = &r->next;
		return 0;
	}
	if (t->kind != TK_WORD) {
		unexpected(p, t);
		return -1;
	}
	if (t->asg && t->asg->is_array) {
		fail(p, ESC_EPARSE, t->span.start, "unexpected `('");
		return -1;
	}
	r->target = t->word;
	r->span.end = t->span.end;
	lb_word *w = t->word;
	consume(p);
	if (r->op == LB_R_HEREDOC || r->op == LB_R_HEREDOC_TAB) {
		heredoc *h = alloc(p, sizeof(*h));
		if (!h)
			return -1;
		h->r = r;
		h->strip = r->op == LB_R_HEREDOC_TAB;
		if (heredoc_delim(p, w, &h->delim, &h->dlen, &r->body_quoted))
			return -1;
		r->body = "";
		r->body_span = sp(p->n, p->n);
		if (p->hd_tail)
			p->hd_tail->next = h;
		else
			p->hd_head = h;
		p->hd_tail = h;
	}
	**tailp = r;
	*tailp = &r->next;
	return 0;
}

static int parse_trailing_redirs(parser *p, lb_node *n)
{
	lb_redir **tail = &n->redirs;
	while (*tail)
		tail = &(*tail)->next;
	while (peek(p, M_NORMAL)->kind == TK_REDIR) {
		if (parse_redir(p, &tail))
			return -1;
	}
	for (lb_redir *r = n->redirs; r; r = r->next)
		if (r->span.end > n->span.end)
			n->span.end = r->span.end;
	return 0;
}

static int is_decl_word(const char *t, size_t n)
{
	switch (n) {
	case 5: return !memcmp(t, "local", 5);
	case 6: return !memcmp(t, "export", 6);
	case 7: return !memcmp(t, "declare", 7) || !memcmp(t, "typeset", 7);
	case 8: return !memcmp(t, "readonly", 8);
	default: return 0;
	}
}

static int is_compound_start(const tok *t)
{
	if (t->kind == TK_LPAREN)
		return 1;
	if (t->kind != TK_WORD)
		return 0;
	switch (t->rw) {
	case RW_IF: case RW_WHILE: case RW_UNTIL: case RW_FOR: case RW_SELECT: case RW_CASE:
	case RW_LBRACE: case RW_DLBRACK:
		return 1;
	default:
		return 0;
	}
}

static const char *word_name(parser *p, const lb_word *w)
{
	size_t n;
	const char *s = lb_word_static(p->a, w, &n);
	if (!s)
		s = sdup(p, w->span.start, w->span.end);
	if (!s)
		fail(p, ESC_ENOMEM, w->span.start, "out of memory");
	return s;
}

/* function body: a compound command (and its redirections) */
static lb_node *parse_function_body(parser *p, lb_node *fn)
{
	skip_nl(p);
	tok *t = peek(p, M_ASSIGN);
	if (!is_compound_start(t)) {
		unexpected(p, t);
		return NULL;
	}
	lb_node *body = parse_command(p);
	if (!body)
		return NULL;
	fn->kids = alloc(p, sizeof(*fn->kids));
	if (!fn->kids)
		return NULL;
	fn->kids[0] = body;
	fn->nkids = 1;
	fn->span.end = body->span.end;
	return fn;
}

static lb_node *parse_simple(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_SIMPLE, t->span.start);
	if (!n)
		return NULL;
	lb_assign **atail = &n->assigns;
	lb_word **wtail = &n->words;
	lb_redir **rtail = &n->redirs;
	size_t nwords = 0;
	int decl = 0, after_redir = 0;
	for (;;) {
		/* after `x=1 >f`, bash no longer reads assignment syntax (name[...], x=(...)) */
		t = peek(p, nwords || (n->assigns && after_redir) ? M_NORMAL : M_ASSIGN);
		if (t->kind == TK_WORD) {
			if (!nwords && t->asg && t->asg->is_array && n->assigns && after_redir) {
				/* bash: `y=1 >f x=(a)` is an error, `>f x=(a)` is not */
				size_t at_paren = t->span.start;
				while (at_paren < t->span.end && p->s[at_paren] != '(')
					at_paren++;
				fail(p, ESC_EPARSE, at_paren, "unexpected `('");
				return NULL;
			}
			after_redir = 0;
			if (!nwords && t->asg) {
				*atail = t->asg;
				atail = &t->asg->next;
			} else {
				if (t->asg && t->asg->is_array && !decl) {
					size_t at_paren = t->span.start;
					while (at_paren < t->span.end && p->s[at_paren] != '(')
						at_paren++;
					fail(p, ESC_EPARSE, at_paren, "unexpected `('");
					return NULL;
				}
				if (!nwords) {
					const lb_part *x = t->word->parts;
					decl = x && !x->next && x->kind == LB_P_LIT && is_decl_word(x->text, x->len);
				}
				*wtail = t->word;
				wtail = &t->word->next;
				nwords++;
			}
			n->span.end = t->span.end;
			consume(p);
		} else if (t->kind == TK_REDIR) {
			after_redir = 1;
			if (parse_redir(p, &rtail))
				return NULL;
			n->span.end = (uint32_t)p->pos; /* the end of this redirection */
		} else {
			break;
		}
	}
	if (!n->words && !n->assigns && !n->redirs) {
		unexpected(p, t);
		return NULL;
	}
	if (nwords == 1 && !n->assigns && !n->redirs && t->kind == TK_LPAREN) {
		/* name () compound-command */
		lb_node *fn = new_node(p, LB_N_FUNCTION, n->span.start);
		if (!fn)
			return NULL;
		fn->name = word_name(p, n->words);
		if (t->dparen) {
			/* "f(())" is not a definition bash accepts */
			unexpected(p, t);
			return NULL;
		}
		consume(p);
		t = peek(p, M_NORMAL);
		if (t->kind != TK_RPAREN) {
			unexpected(p, t);
			return NULL;
		}
		consume(p);
		if (enter(p))
			return NULL;
		lb_node *r = parse_function_body(p, fn);
		leave(p);
		return r;
	}
	return n;
}

static void cmd_span_end(lb_node *n, size_t end)
{
	n->span.end = (uint32_t)end;
}

static lb_node *parse_subshell(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_SUBSHELL, t->span.start);
	if (!n)
		return NULL;
	consume(p);
	lb_node *b = parse_body(p);
	if (!b)
		return NULL;
	t = peek(p, M_ASSIGN);
	if (t->kind != TK_RPAREN) {
		unexpected(p, t);
		return NULL;
	}
	cmd_span_end(n, t->span.end);
	consume(p);
	n->kids = b->kids;
	n->nkids = b->nkids;
	return n;
}

static lb_node *parse_arith_cmd(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	size_t start = t->span.start, tend = 0;
	p->have = 0;
	p->pos = start + 2;
	nvec subs = { 0 };
	int r = scan_arith(p, ')', &tend, &subs);
	if (r < 0)
		return NULL;
	if (r == 0) {
		if (charge(p, p->pos - start))
			return NULL;
		/* "((a) )": a subshell holding a subshell */
		p->pos = start;
		p->have = 0;
		tok *t2 = peek(p, M_ASSIGN);
		t2->dparen = 0;
		return parse_subshell(p);
	}
	lb_node *n = new_node(p, LB_N_ARITH, start);
	if (!n)
		return NULL;
	n->span.end = (uint32_t)p->pos;
	n->text = sdup(p, start + 2, tend);
	if (nv_store(p, &subs, n))
		return NULL;
	return n;
}

static lb_node *parse_group(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_GROUP, t->span.start);
	if (!n)
		return NULL;
	consume(p);
	lb_node *b = parse_body(p);
	if (!b)
		return NULL;
	t = peek(p, M_ASSIGN);
	cmd_span_end(n, t->span.end);
	if (expect_rw(p, RW_RBRACE))
		return NULL;
	n->kids = b->kids;
	n->nkids = b->nkids;
	return n;
}

static int push_kid(parser *p, nvec *v, lb_node *x)
{
	return x ? nv_push(p, v, x) : -1;
}

static lb_node *parse_if(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_IF, t->span.start);
	nvec kids = { 0 };
	if (!n)
		return NULL;
	consume(p);
	for (;;) {
		if (push_kid(p, &kids, parse_body(p)) || expect_rw(p, RW_THEN) ||
		    push_kid(p, &kids, parse_body(p)))
			return NULL;
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_WORD && t->rw == RW_ELIF) {
			consume(p);
			continue;
		}
		if (t->kind == TK_WORD && t->rw == RW_ELSE) {
			consume(p);
			if (push_kid(p, &kids, parse_body(p)))
				return NULL;
			t = peek(p, M_ASSIGN);
		}
		cmd_span_end(n, t->span.end);
		if (expect_rw(p, RW_FI))
			return NULL;
		break;
	}
	return nv_store(p, &kids, n) ? NULL : n;
}

static lb_node *parse_while(parser *p, lb_node_kind k)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, k, t->span.start);
	nvec kids = { 0 };
	if (!n)
		return NULL;
	consume(p);
	if (push_kid(p, &kids, parse_body(p)) || expect_rw(p, RW_DO) ||
	    push_kid(p, &kids, parse_body(p)))
		return NULL;
	t = peek(p, M_ASSIGN);
	cmd_span_end(n, t->span.end);
	if (expect_rw(p, RW_DONE))
		return NULL;
	return nv_store(p, &kids, n) ? NULL : n;
}

/* do ... done or { ... } after for/select */
static int parse_loop_body(parser *p, lb_node *n)
{
	tok *t = peek(p, M_ASSIGN);
	int close;
	if (t->kind == TK_WORD && t->rw == RW_DO)
		close = RW_DONE;
	else if (t->kind == TK_WORD && t->rw == RW_LBRACE)
		close = RW_RBRACE;
	else {
		unexpected(p, t);
		return -1;
	}
	consume(p);
	lb_node *b = parse_body(p);
	if (!b)
		return -1;
	t = peek(p, M_ASSIGN);
	cmd_span_end(n, t->span.end);
	if (expect_rw(p, close))
		return -1;
	n->kids = alloc(p, sizeof(*n->kids));
	if (!n->kids)
		return -1;
	n->kids[0] = b;
	n->nkids = 1;
	return 0;
}

static lb_node *parse_for(parser *p, lb_node_kind k)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, k, t->span.start);
	if (!n)
		return NULL;
	consume(p);
	t = peek(p, M_NORMAL);
	if (k == LB_N_FOR && t->kind == TK_LPAREN && t->dparen) {
		size_t start = t->span.start, tend = 0;
		p->have = 0;
		p->pos = start + 2;
		nvec subs = { 0 };
		int r = scan_arith(p, ')', &tend, &subs);
		if (r <= 0) {
			/* bash's lexer returns -1 here, which ends its input silently: nothing from
			 * here on is parsed or run */
			if (r == 0 && !p->rc) {
				if (p->pos + 1 >= p->n)
					fail(p, ESC_EPARSE, start, "unterminated for ((...))");
				else
					p->rc = RC_STOP;
			}
			return NULL;
		}
		int semis = 0;
		long d = 0;
		for (size_t i = start + 2; i < tend; i++) {
			char c = p->s[i];
			if (c == '(')
				d++;
			else if (c == ')')
				d--;
			else if (c == ';' && d == 0)
				semis++;
			else if (c == '\\')
				i++;
			else if (c == '\'' || c == '"') {
				/* bash splits the three expressions quote- and ${-aware */
				for (i++; i < tend && p->s[i] != c; i++)
					if (c == '"' && p->s[i] == '\\')
						i++;
			} else if (c == '$' && i + 1 < tend && p->s[i + 1] == '{') {
				long bd = 0;
				for (i++; i < tend; i++) {
					if (p->s[i] == '{')
						bd++;
					else if (p->s[i] == '}' && --bd == 0)
						break;
				}
			}
		}
		if (semis != 2) {
			fail(p, ESC_EPARSE, start, "arithmetic expression required");
			return NULL;
		}
		n->kind = LB_N_ARITH_FOR;
		n->text = sdup(p, start + 2, tend);
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_SEMI)
			consume(p);
		skip_nl(p);
		if (parse_loop_body(p, n))
			return NULL;
		return n;
	}
	if (t->kind != TK_WORD) {
		unexpected(p, t);
		return NULL;
	}
	n->name = word_name(p, t->word);
	consume(p);
	skip_nl_mode(p, M_NORMAL);
	t = peek(p, M_NORMAL);
	if (t->kind == TK_WORD && t->rw == RW_IN) {
		consume(p);
		lb_word **wt = &n->words;
		for (;;) {
			t = peek(p, M_NORMAL);
			if (t->kind == TK_WORD) {
				*wt = t->word;
				wt = &t->word->next;
				consume(p);
				continue;
			}
			if (t->kind == TK_SEMI || t->kind == TK_NL) {
				consume(p);
				break;
			}
			unexpected(p, t);
			return NULL;
		}
	} else {
		n->flags |= LB_NF_NO_IN;
		if (t->kind == TK_SEMI)
			consume(p);
	}
	skip_nl(p);
	if (parse_loop_body(p, n))
		return NULL;
	return n;
}

static lb_node *parse_case(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_CASE, t->span.start);
	nvec kids = { 0 };
	if (!n)
		return NULL;
	consume(p);
	t = peek(p, M_NORMAL);
	if (t->kind != TK_WORD) {
		unexpected(p, t);
		return NULL;
	}
	n->words = t->word;
	consume(p);
	skip_nl_mode(p, M_NORMAL);
	t = peek(p, M_NORMAL);
	if (t->kind != TK_WORD || t->rw != RW_IN) {
		unexpected(p, t);
		return NULL;
	}
	consume(p);
	for (;;) {
		skip_nl_mode(p, M_NORMAL);
		t = peek(p, M_NORMAL);
		if (t->kind == TK_WORD && t->rw == RW_ESAC) {
			cmd_span_end(n, t->span.end);
			consume(p);
			break;
		}
		lb_node *it = new_node(p, LB_N_CASE_ITEM, t->span.start);
		if (!it)
			return NULL;
		if (t->kind == TK_LPAREN) {
			consume(p);
			t = peek(p, M_NORMAL);
		}
		lb_word **wt = &it->words;
		for (;;) {
			if (t->kind != TK_WORD) {
				unexpected(p, t);
				return NULL;
			}
			*wt = t->word;
			wt = &t->word->next;
			consume(p);
			t = peek(p, M_NORMAL);
			if (t->kind == TK_PIPE) {
				consume(p);
				t = peek(p, M_NORMAL);
				continue;
			}
			break;
		}
		if (t->kind != TK_RPAREN) {
			unexpected(p, t);
			return NULL;
		}
		it->span.end = t->span.end;
		consume(p);
		lb_node *b = parse_list(p);
		if (!b)
			return NULL;
		it->kids = alloc(p, sizeof(*it->kids));
		if (!it->kids)
			return NULL;
		it->kids[0] = b;
		it->nkids = 1;
		if (b->nkids)
			it->span.end = b->span.end;
		if (nv_push(p, &kids, it))
			return NULL;
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_DSEMI || t->kind == TK_SEMIAND || t->kind == TK_DSEMIAND) {
			it->text = t->kind == TK_DSEMI ? ";;" : t->kind == TK_SEMIAND ? ";&" : ";;&";
			it->span.end = t->span.end;
			consume(p);
			continue;
		}
		it->text = ";;";
		if (t->kind == TK_WORD && t->rw == RW_ESAC) {
			cmd_span_end(n, t->span.end);
			consume(p);
			break;
		}
		unexpected(p, t);
		return NULL;
	}
	return nv_store(p, &kids, n) ? NULL : n;
}

/* ---- [[ ... ]] --------------------------------------------------------------------- */

/* operators count only when written without quotes or escapes */
static int raw_lit(const parser *p, const lb_word *w)
{
	const lb_part *x = w->parts;
	return x && !x->next && x->kind == LB_P_LIT && raw_equals(p, w->span, x->text, x->len);
}

static int is_unop(const parser *p, const lb_word *w)
{
	const lb_part *x = w->parts;
	if (!raw_lit(p, w) || x->len != 2 || x->text[0] != '-')
		return 0;
	return strchr("abcdefghknoprstuvwxzGLNORS", x->text[1]) != NULL && x->text[1];
}

static int is_binop(const parser *p, const lb_word *w, int *regex)
{
	static const char *const ops[] = { "=", "==", "!=", "<", ">", "=~", "-eq", "-ne", "-lt",
	                                   "-le", "-gt", "-ge", "-nt", "-ot", "-ef" };
	const lb_part *x = w->parts;
	*regex = 0;
	if (!raw_lit(p, w))
		return 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i]) == x->len && !memcmp(ops[i], x->text, x->len)) {
			*regex = i == 5;
			return 1;
		}
	return 0;
}

static int is_word_text(const parser *p, const tok *t, const char *s)
{
	size_t n = strlen(s);
	if (t->kind != TK_WORD)
		return 0;
	const lb_part *x = t->word->parts;
	return x && !x->next && x->kind == LB_P_LIT && x->len == n && !memcmp(x->text, s, n) &&
	       raw_equals(p, t->span, s, n);
}

typedef struct condctx {
	lb_word **tail;
} condctx;

static int cond_push_tok(parser *p, condctx *c, const tok *t)
{
	lb_word *w = t->word;
	if (!w) {
		static const char *const txt[] = { "(", ")", "&&", "||" };
		const char *s = t->kind == TK_LPAREN ? txt[0] : t->kind == TK_RPAREN ? txt[1]
		              : t->kind == TK_ANDAND ? txt[2] : txt[3];
		w = alloc(p, sizeof(*w));
		lb_part *x = alloc(p, sizeof(*x));
		if (!w || !x)
			return -1;
		x->kind = LB_P_LIT;
		x->span = t->span;
		x->text = s;
		x->len = strlen(s);
		w->span = t->span;
		w->parts = x;
	}
	*c->tail = w;
	c->tail = &w->next;
	return 0;
}

static int cond_or(parser *p, condctx *c);

static int cond_term(parser *p, condctx *c)
{
	if (enter(p))
		return -1;
	int rc = -1;
	tok *t = peek(p, M_COND);
	while (t->kind == TK_NL) {
		/* bash skips newlines where a term starts: `[[\n -f x ]]` */
		consume(p);
		t = peek(p, M_COND);
	}
	if (is_word_text(p, t, "]]")) {
		/* an empty term: bash's cond parser gives up without a message and the shell
		 * stops reading its input here (nothing after it runs) */
		for (;;) {
			/* bash's error recovery still reads the rest of the line */
			t = peek(p, M_NORMAL);
			if (p->rc || t->kind == TK_NL || t->kind == TK_EOF)
				break;
			consume(p);
		}
		if (!p->rc)
			p->rc = RC_STOP;
		goto out;
	}
	if (t->kind == TK_LPAREN) {
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		if (cond_or(p, c))
			goto out;
		t = peek(p, M_COND);
		if (t->kind != TK_RPAREN) {
			fail(p, ESC_EPARSE, t->span.start, "expected `)' in [[ ]]");
			goto out;
		}
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		rc = 0;
		goto complete;
	}
	if (t->kind != TK_WORD) {
		fail(p, ESC_EPARSE, t->span.start, "unexpected token in [[ ]]");
		goto out;
	}
	if (is_word_text(p, t, "!")) {
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		rc = cond_term(p, c);
		goto out;
	}
	if (is_unop(p, t->word)) {
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		t = peek(p, M_COND);
		if (t->kind != TK_WORD || is_word_text(p, t, "]]")) {
			fail(p, ESC_EPARSE, t->span.start, "unexpected argument to conditional unary operator");
			goto out;
		}
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		rc = 0;
		goto complete;
	}
	if (cond_push_tok(p, c, t))
		goto out;
	consume(p);
	t = peek(p, M_COND);
	int regex = 0;
	if (t->kind == TK_WORD && !is_word_text(p, t, "]]") && is_binop(p, t->word, &regex)) {
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		t = peek(p, regex ? M_REGEX : M_COND);
		if (t->kind != TK_WORD || is_word_text(p, t, "]]")) {
			fail(p, ESC_EPARSE, t->span.start, "unexpected argument to conditional binary operator");
			goto out;
		}
		if (cond_push_tok(p, c, t))
			goto out;
		consume(p);
		rc = 0;
		goto complete;
	}
	if (t->kind == TK_RPAREN || t->kind == TK_ANDAND || t->kind == TK_OROR ||
	    is_word_text(p, t, "]]")) {
		rc = 0;
		goto out;
	}
	fail(p, ESC_EPARSE, t->span.start, "conditional binary operator expected");
	goto out;
complete:
	/* after a complete term bash skips newlines (not after a lone word, where an
	 * operator may follow) */
	while (peek(p, M_COND)->kind == TK_NL)
		consume(p);
out:
	leave(p);
	return p->rc ? -1 : rc;
}

static int cond_and(parser *p, condctx *c)
{
	if (cond_term(p, c))
		return -1;
	for (;;) {
		tok *t = peek(p, M_COND);
		if (t->kind != TK_ANDAND)
			return 0;
		if (cond_push_tok(p, c, t))
			return -1;
		consume(p);
		while (peek(p, M_COND)->kind == TK_NL)
			consume(p);
		if (cond_term(p, c))
			return -1;
	}
}

static int cond_or(parser *p, condctx *c)
{
	if (cond_and(p, c))
		return -1;
	for (;;) {
		tok *t = peek(p, M_COND);
		if (t->kind != TK_OROR)
			return 0;
		if (cond_push_tok(p, c, t))
			return -1;
		consume(p);
		while (peek(p, M_COND)->kind == TK_NL)
			consume(p);
		if (cond_and(p, c))
			return -1;
	}
}

static lb_node *parse_cond(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_COND, t->span.start);
	if (!n)
		return NULL;
	consume(p);
	condctx c = { &n->words };
	if (cond_or(p, &c))
		return NULL;
	t = peek(p, M_COND);
	if (!is_word_text(p, t, "]]")) {
		fail(p, ESC_EPARSE, t->span.start, "syntax error in conditional expression");
		return NULL;
	}
	n->span.end = t->span.end;
	consume(p);
	return n;
}

/* ---- commands ---------------------------------------------------------------------- */

static lb_node *parse_function_kw(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *fn = new_node(p, LB_N_FUNCTION, t->span.start);
	if (!fn)
		return NULL;
	consume(p);
	t = peek(p, M_NORMAL);
	if (t->kind != TK_WORD) {
		unexpected(p, t);
		return NULL;
	}
	fn->name = word_name(p, t->word);
	consume(p);
	t = peek(p, M_NORMAL);
	size_t q = t->span.start + 1;
	while (q < p->n && (p->s[q] == ' ' || p->s[q] == '\t'))
		q++;
	/* `function f ( )` has the optional parens; `function f (x)` has a subshell body */
	if (t->kind == TK_LPAREN && !t->dparen && at(p, q) == ')') {
		consume(p);
		t = peek(p, M_NORMAL);
		if (t->kind != TK_RPAREN) {
			unexpected(p, t);
			return NULL;
		}
		consume(p);
	}
	return parse_function_body(p, fn);
}

static lb_node *parse_coproc(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	lb_node *n = new_node(p, LB_N_COPROC, t->span.start);
	if (!n)
		return NULL;
	consume(p);
	t = peek(p, M_ASSIGN);
	if (t->kind == TK_WORD && t->rw == RW_BANG) {
		/* coproc takes a command, not a pipeline */
		unexpected(p, t);
		return NULL;
	}
	if (t->kind == TK_WORD && t->rw == RW_NONE && !t->asg) {
		size_t wstart = t->span.start;
		lb_word *w = t->word;
		consume(p);
		tok *t2 = peek(p, M_ASSIGN);
		if (is_compound_start(t2)) {
			n->name = word_name(p, w);
		} else if (t2->kind == TK_WORD && t2->rw != RW_NONE) {
			unexpected(p, t2);
			return NULL;
		} else {
			if (charge(p, p->pos - wstart))
				return NULL;
			p->have = 0;
			p->pos = wstart;
		}
	}
	lb_node *cmd = parse_command(p);
	if (!cmd)
		return NULL;
	n->kids = alloc(p, sizeof(*n->kids));
	if (!n->kids)
		return NULL;
	n->kids[0] = cmd;
	n->nkids = 1;
	n->span.end = cmd->span.end;
	return n;
}

static lb_node *parse_command(parser *p)
{
	if (enter(p))
		return NULL;
	lb_node *n = NULL;
	tok *t = peek(p, M_ASSIGN);
	int compound = 1;
	if (t->kind == TK_LPAREN) {
		n = t->dparen ? parse_arith_cmd(p) : parse_subshell(p);
	} else if (t->kind == TK_WORD && t->rw != RW_NONE) {
		switch (t->rw) {
		case RW_IF: n = parse_if(p); break;
		case RW_WHILE: n = parse_while(p, LB_N_WHILE); break;
		case RW_UNTIL: n = parse_while(p, LB_N_UNTIL); break;
		case RW_FOR: n = parse_for(p, LB_N_FOR); break;
		case RW_SELECT: n = parse_for(p, LB_N_SELECT); break;
		case RW_CASE: n = parse_case(p); break;
		case RW_LBRACE: n = parse_group(p); break;
		case RW_DLBRACK: n = parse_cond(p); break;
		case RW_FUNCTION: n = parse_function_kw(p); compound = 0; break;
		case RW_COPROC: n = parse_coproc(p); compound = 0; break;
		case RW_TIME:
			n = parse_simple(p);
			compound = 0;
			break;
		default:
			unexpected(p, t);
			break;
		}
	} else if (t->kind == TK_WORD || t->kind == TK_REDIR) {
		n = parse_simple(p);
		compound = 0;
	} else {
		unexpected(p, t);
	}
	if (n && compound && parse_trailing_redirs(p, n))
		n = NULL;
	leave(p);
	return p->rc ? NULL : n;
}

static lb_node *parse_pipeline(parser *p)
{
	tok *t = peek(p, M_ASSIGN);
	size_t start = t->span.start, pend = start;
	unsigned flags = 0;
	for (;;) {
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_WORD && t->rw == RW_BANG) {
			flags ^= LB_NF_BANG; /* `! ! cmd` negates twice */
			pend = t->span.end;
			consume(p);
			continue;
		}
		if (t->kind == TK_WORD && t->rw == RW_TIME) {
			flags |= LB_NF_TIME;
			pend = t->span.end;
			consume(p);
			t = peek(p, M_ASSIGN);
			if (is_word_text(p, t, "-p")) {
				pend = t->span.end;
				consume(p);
				t = peek(p, M_ASSIGN);
			}
			if (is_word_text(p, t, "--")) {
				pend = t->span.end;
				consume(p);
			}
			continue;
		}
		break;
	}
	lb_node *pl = NULL;
	if (start != t->span.start || flags) {
		pl = new_node(p, LB_N_PIPELINE, start);
		if (!pl)
			return NULL;
		pl->flags = flags;
		pl->span.end = (uint32_t)pend;
		if (t->kind == TK_NL || t->kind == TK_SEMI || t->kind == TK_EOF)
			return pl; /* bare `!` or `time` */
		/* bash ends a $( ) body like input: `$( time )` is fine, `( time )` is not */
		if (t->kind == TK_RPAREN && flags == LB_NF_TIME && p->list_depth == p->sub_list_depth)
			return pl;
	}
	nvec kids = { 0 };
	opvec ops = { 0 };
	lb_node *c = parse_command(p);
	if (!c || nv_push(p, &kids, c))
		return NULL;
	for (;;) {
		t = peek(p, M_ASSIGN);
		if (t->kind != TK_PIPE && t->kind != TK_PIPEAND)
			break;
		if (op_push(p, &ops, t->kind == TK_PIPE ? LB_OP_PIPE : LB_OP_PIPE_ERR))
			return NULL;
		consume(p);
		skip_nl(p);
		t = peek(p, M_ASSIGN);
		if (t->kind == TK_WORD && t->rw == RW_BANG) {
			unexpected(p, t);
			return NULL;
		}
		c = parse_command(p);
		if (!c || nv_push(p, &kids, c))
			return NULL;
	}
	if (kids.n == 1 && !pl)
		return kids.v[0];
	if (!pl) {
		pl = new_node(p, LB_N_PIPELINE, start);
		if (!pl)
			return NULL;
	}
	if (nv_store(p, &kids, pl))
		return NULL;
	if (ops.n) {
		pl->ops = op_store(p, &ops);
		if (!pl->ops)
			return NULL;
	}
	pl->span.end = kids.v[kids.n - 1]->span.end;
	return pl;
}

static lb_node *parse_andor(parser *p)
{
	size_t start = peek(p, M_ASSIGN)->span.start;
	nvec kids = { 0 };
	opvec ops = { 0 };
	lb_node *c = parse_pipeline(p);
	if (!c || nv_push(p, &kids, c))
		return NULL;
	for (;;) {
		tok *t = peek(p, M_ASSIGN);
		if (t->kind != TK_ANDAND && t->kind != TK_OROR)
			break;
		if (op_push(p, &ops, t->kind == TK_ANDAND ? LB_OP_AND : LB_OP_OR))
			return NULL;
		consume(p);
		skip_nl(p);
		c = parse_pipeline(p);
		if (!c || nv_push(p, &kids, c))
			return NULL;
	}
	if (kids.n == 1)
		return kids.v[0];
	lb_node *n = new_node(p, LB_N_ANDOR, start);
	if (!n || nv_store(p, &kids, n))
		return NULL;
	n->ops = op_store(p, &ops);
	if (!n->ops)
		return NULL;
	n->span.end = kids.v[kids.n - 1]->span.end;
	return n;
}

/* ---- span remapping (backtick copies) ---------------------------------------------- */

static void remap_span(lb_span *s, const uint32_t *map, size_t mlen)
{
	s->start = s->start <= mlen ? map[s->start] : map[mlen];
	if (s->end > 0 && s->end <= mlen)
		s->end = map[s->end - 1] + 1;
	else if (s->end > mlen)
		s->end = map[mlen];
	else
		s->end = s->start;
	if (s->end < s->start)
		s->end = s->start;
}

static void remap_word(lb_word *w, const uint32_t *map, size_t mlen);

static void remap_parts(lb_part *x, const uint32_t *map, size_t mlen)
{
	for (; x; x = x->next) {
		remap_span(&x->span, map, mlen);
		remap_parts(x->parts, map, mlen);
		if (x->word)
			remap_word(x->word, map, mlen);
		for (size_t i = 0; i < x->nalts; i++)
			remap_word(x->alts[i], map, mlen);
		if (x->sub)
			remap_node(x->sub, map, mlen);
	}
}

static void remap_word(lb_word *w, const uint32_t *map, size_t mlen)
{
	for (; w; w = w->next) {
		remap_span(&w->span, map, mlen);
		remap_parts(w->parts, map, mlen);
	}
}

static void remap_node(lb_node *n, const uint32_t *map, size_t mlen)
{
	remap_span(&n->span, map, mlen);
	for (lb_assign *a = n->assigns; a; a = a->next) {
		remap_span(&a->span, map, mlen);
		/* value words are shared with the assignment's word: remap them once here */
		if (a->value)
			remap_word(a->value, map, mlen);
		if (a->array)
			remap_word(a->array, map, mlen);
	}
	remap_word(n->words, map, mlen);
	for (lb_redir *r = n->redirs; r; r = r->next) {
		remap_span(&r->span, map, mlen);
		remap_span(&r->body_span, map, mlen);
		if (r->target)
			remap_word(r->target, map, mlen);
		if (r->body_word)
			remap_word(r->body_word, map, mlen);
	}
	for (size_t i = 0; i < n->nkids; i++)
		if (n->kids[i])
			remap_node(n->kids[i], map, mlen);
}

/* ---- entry point ------------------------------------------------------------------- */

int lb_parse(lb_arena *a, const char *src, size_t len, lb_node **out, lb_parse_error *err)
{
	lb_parse_error dummy;
	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	if (out)
		*out = NULL;
	if (!a || !out || (!src && len))
		return ESC_EINVAL;
	if (len > UINT32_MAX - 1) {
		err->msg = "input too large";
		return ESC_ETOOBIG;
	}
	parser p;
	memset(&p, 0, sizeof(p));
	p.a = a;
	p.s = src ? src : "";
	p.n = len;
	p.total = len;
	p.err = err;
	p.work_max = 8 * len + 8192;
	/* the first chunk fits the tree of a typical record of this length (about 25 bytes
	 * of tree per input byte) so one-liners waste little */
	p.chunk = CHUNK_MIN;
	while (p.chunk < CHUNK_FIRST_MAX && p.chunk < 16 * len)
		p.chunk *= 2;
	const char *nul = len ? memchr(p.s, '\0', len) : NULL;
	if (nul) {
		fail(&p, ESC_EPARSE, (size_t)(nul - p.s), "NUL byte in input");
		return p.rc;
	}
	lb_node *s = parse_list(&p);
	if (s && !p.rc) {
		tok *t = peek(&p, M_ASSIGN);
		if (t->kind != TK_EOF)
			unexpected(&p, t);
	}
	while (p.heap) /* growth buffers an error path left behind */
		heap_del(&p, p.heap->data);
	/* the unused end of the last chunk goes back: callers parse many strings into one
	 * arena (the analyzer, line by line, for a record that does not parse whole) */
	if (p.bump_end > p.bump)
		lb_arena_give_back(a, (void *)p.bump, p.bump_end - p.bump);
	if (s)
		s->span = sp(0, len);
	*out = s;
	if (p.rc == RC_STOP)
		return 0;
	return p.rc;
}
