/* normalize.c — lockbox's static deobfuscator: evaluates every word of a record the way
 * bash would (quotes, escapes, braces, $IFS, constants assigned earlier, printf/echo and
 * decoding pipelines over literal data), without running anything, and rewrites the
 * record into what actually runs. What it cannot decide it reports as opaque. */
#include "lockbox/normalize.h"
#include "lockbox/analyze_int.h"
#include "lockbox/decode.h"
#include "util/buf.h"
#include "util/err.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMAXF 32        /* fields one word may expand to (brace expansion) */
#define NMAXW 4096      /* bytes of one field */
#define NMAXEVAL 16     /* nesting of words inside words (brace alternatives, operands) */

/* techniques, for notes and the "how" list */
enum {
	T_QUOTE = 1u << 0,   /* quotes or backslashes inside a word */
	T_ANSIC = 1u << 1,   /* $'\x63' spelling ordinary characters */
	T_BRACE = 1u << 2,
	T_IFS = 1u << 3,
	T_VAR = 1u << 4,     /* a constant assigned earlier */
	T_PARAMOP = 1u << 5, /* ${v:1:2} ${v//a/b} ${v^^} ${#v} */
	T_CMDSUB = 1u << 6,  /* $(printf ...) with a known output */
	T_GLOB = 1u << 7,
	T_ALIAS = 1u << 8,
	T_WELLKNOWN = 1u << 9, /* ${PATH:0:1} */
	T_ESCAPES = 1u << 10,  /* a substitution's output decoded escapes (printf '\143') */
};
static const char *const tech_name[] = {
	"quote removal", "ANSI-C escapes", "brace expansion", "$IFS", "variables",
	"parameter expansion", "command substitution", "glob", "alias", "well-known variable",
	"escape decoding",
};

typedef struct nvar {
	const char *name;
	const char *val;
	size_t len;
	int known;
	int decoded;    /* the value came out of a decoder (x=$(echo .. | base64 -d)) */
	struct nvar *next;
} nvar;

typedef struct nname {
	const char *name;
	const char *val;    /* alias value, or function body source */
	struct nname *next;
} nname;

typedef struct nedit {
	uint32_t s, e;
	const char *rep;
	size_t rlen;
	struct nedit *next;
} nedit;

typedef struct nctx {
	lb_arena *a;
	const kb *k;
	const char *src;
	size_t len;
	nvar *vars;
	nname *aliases, *funcs;
	size_t *budget;
	int over;
	int cond;       /* inside a loop, branch, function or subshell: assignments unsure */
	int depth;      /* recursion: eval strings and decoded layers */
	int evald;      /* word nesting */
	int level;      /* syntax tree nesting walked */
	int nosplit;    /* evaluating an assignment value or here-string: no word splitting */
	unsigned how;
	nedit *edits;
	size_t nedits;  /* edits asked for (a bound on the work) */
	lbx_norm *out;
	int oom;
} nctx;

/* One evaluated word: fields after brace expansion and splitting. */
typedef struct wv {
	const char *f[NMAXF];
	size_t fl[NMAXF];
	size_t n;
	unsigned tech;  /* techniques seen */
	int glob;       /* an unquoted glob part */
	int tilde;      /* starts with ~ (kept unquoted when emitted) */
	int decoded;    /* a substitution decoded data */
	int empty_q;    /* an empty '' or "" */
	int escaped;    /* a backslash before a letter or digit, unquoted */
} wv;

static int eval_word(nctx *n, const lb_word *w, int quiet, wv *out);
static const char *static_output(nctx *n, const lb_node *nd, const char *in, size_t inl,
    buf *via, int *decoded, size_t *outn, int lvl);
static void norm_walk(nctx *n, const lb_node *nd);
static const char *normalize_text(nctx *n, const char *s, size_t len, size_t *outn,
    unsigned *how, lb_span sp);

/* ---- small helpers --------------------------------------------------------------------- */

static char *
ndup(nctx *n, const char *s, size_t l)
{
	char *p = lb_arena_strndup(n->a, s, l);
	if (p == NULL)
		n->oom = 1;
	return p;
}

static int
spend(nctx *n, size_t l)
{
	if (*n->budget < l) {
		*n->budget = 0;
		n->over = 1;
		return -1;
	}
	*n->budget -= l;
	return 0;
}

#define NMAXNOTES 256  /* notes per record (the rest repeat what these say) */
#define NMAXEDITS 2048 /* rewrites per text; past it the text is too much to rewrite */

static void
note(nctx *n, const char *id, int opaque, lb_span sp, const char *msg)
{
	size_t cnt = 0;
	for (lbx_note *o = n->out->notes; o; o = o->next, cnt++)
		if (cnt >= NMAXNOTES)
			return;
	for (lbx_note *o = n->out->notes; o; o = o->next)
		if (!strcmp(o->id, id) && o->span.start == sp.start && o->span.end == sp.end)
			return;
	lbx_note *x = lb_arena_alloc(n->a, sizeof *x);
	if (x == NULL) {
		n->oom = 1;
		return;
	}
	x->id = id;
	x->opaque = opaque;
	x->span = sp;
	x->msg = msg ? msg : "";
	if (n->out->notes_tail)
		n->out->notes_tail->next = x;
	else
		n->out->notes = x;
	n->out->notes_tail = x;
}

static void
add_edit(nctx *n, uint32_t s, uint32_t e, const char *rep, size_t rl)
{
	if (s > e || e > n->len || rep == NULL)
		return;
	if (rl == e - s && !memcmp(n->src + s, rep, rl))
		return;
	/* an edit inside an earlier, larger one is already covered; a larger one replaces
	 * those inside it */
	nedit **pp = &n->edits;
	if (++n->nedits > NMAXEDITS) {
		n->over = 1;
		return;
	}
	while (*pp) {
		nedit *x = *pp;
		if (x->s <= s && e <= x->e)
			return;
		if (s <= x->s && x->e <= e) {
			*pp = x->next;
			continue;
		}
		if (s < x->e && x->s < e)
			return; /* partial overlap: keep the first */
		pp = &x->next;
	}
	nedit *x = lb_arena_alloc(n->a, sizeof *x);
	if (x == NULL) {
		n->oom = 1;
		return;
	}
	x->s = s;
	x->e = e;
	x->rep = rep;
	x->rlen = rl;
	x->next = n->edits;
	n->edits = x;
}

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
is_name(const char *s, size_t l)
{
	if (l == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < l; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* Appends the word as bash would read it back: plain, or single-quoted. */
static void
put_quoted(buf *b, const char *s, size_t l, int glob, int tilde)
{
	size_t i = 0;
	if (tilde && l && s[0] == '~') {
		/* ~ and ~user stay unquoted so they still expand */
		buf_putc(b, '~');
		for (i = 1; i < l && s[i] != '/' && (is_alnum((unsigned char)s[i]) || s[i] == '_' ||
		    s[i] == '-' || s[i] == '.'); i++)
			buf_putc(b, (unsigned char)s[i]);
	}
	int plain = l > i;
	for (size_t j = i; j < l; j++)
		if (!(is_alnum((unsigned char)s[j]) || strchr("_./:=+,-@%^", s[j]) ||
		    (glob && strchr("*?[]", s[j]))))
			plain = 0;
	if (plain || (l == i && i > 0)) {
		buf_put(b, s + i, l - i);
		return;
	}
	if (glob) {
		/* keep the glob characters active, escape everything else */
		for (size_t j = i; j < l; j++) {
			if (!(is_alnum((unsigned char)s[j]) || strchr("_./:=+,-@%^*?[]", s[j])))
				buf_putc(b, '\\');
			buf_putc(b, (unsigned char)s[j]);
		}
		return;
	}
	buf_putc(b, '\'');
	for (size_t j = i; j < l; j++) {
		if (s[j] == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, (unsigned char)s[j]);
	}
	buf_putc(b, '\'');
}

/* ---- variables ------------------------------------------------------------------------- */

static nvar *
var_find(nctx *n, const char *name)
{
	for (nvar *v = n->vars; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

static void
var_set(nctx *n, const char *name, const char *val, size_t len, int known, int decoded)
{
	nvar *v = var_find(n, name);
	if (v == NULL) {
		v = lb_arena_alloc(n->a, sizeof *v);
		if (v == NULL) {
			n->oom = 1;
			return;
		}
		v->name = ndup(n, name, strlen(name));
		v->next = n->vars;
		n->vars = v;
	}
	/* inside a branch or loop the assignment may or may not happen */
	v->known = known && !n->cond;
	v->decoded = decoded;
	v->val = known ? val : NULL;
	v->len = known ? len : 0;
}

static long
parse_int(const char *s, size_t l, int *ok)
{
	char b[32];
	size_t i = 0;
	while (i < l && (s[i] == ' ' || s[i] == '\t'))
		i++;
	size_t m = l - i < sizeof b - 1 ? l - i : sizeof b - 1;
	memcpy(b, s + i, m);
	b[m] = 0;
	while (m && (b[m - 1] == ' ' || b[m - 1] == '\t'))
		b[--m] = 0;
	char *e = NULL;
	long v = strtol(b, &e, 10);
	*ok = m > 0 && e && *e == 0;
	return v;
}

/* Value of an operand word (pattern, replacement, offset) as one string, or NULL. */
static const char *
operand(nctx *n, const lb_word *w, size_t *l)
{
	if (w == NULL) {
		*l = 0;
		return "";
	}
	wv v;
	if (eval_word(n, w, 1, &v) || v.n > 1)
		return NULL;
	*l = v.n ? v.fl[0] : 0;
	return v.n ? v.f[0] : "";
}

/* ${name...}: the expansion's value when static. *tech gets the technique. */
static const char *
param_value(nctx *n, const lb_part *p, size_t *l, unsigned *tech, int *decoded)
{
	const char *name = p->text ? p->text : "";
	const char *val = NULL;
	size_t vl = 0;
	if (p->flags & (LB_PF_INDIRECT | LB_PF_SUBSCRIPT))
		return NULL;
	nvar *v = var_find(n, name);
	if (v) {
		if (!v->known)
			return NULL;
		val = v->val;
		vl = v->len;
		*tech |= T_VAR;
		*decoded |= v->decoded;
	} else if (!strcmp(name, "IFS")) {
		val = " \t\n";
		vl = 3;
		*tech |= T_IFS;
	} else if (p->op && !strcmp(p->op, ":") && (!strcmp(name, "PATH") ||
	    !strcmp(name, "HOME") || !strcmp(name, "PWD") || !strcmp(name, "SHELL") ||
	    !strcmp(name, "OLDPWD"))) {
		/* well-known variables: only their first character is certain ("/") */
		size_t ol = 0;
		const char *o = operand(n, p->word, &ol);
		int ok1 = 0, ok2 = 0;
		const char *colon = o ? memchr(o, ':', ol) : NULL;
		if (o && colon && parse_int(o, (size_t)(colon - o), &ok1) == 0 && ok1 &&
		    parse_int(colon + 1, ol - (size_t)(colon - o) - 1, &ok2) == 1 && ok2) {
			*tech |= T_WELLKNOWN;
			*l = 1;
			return "/";
		}
		return NULL;
	} else {
		return NULL;
	}
	if (p->flags & LB_PF_LENGTH) {
		char *b = lb_arena_alloc(n->a, 24);
		if (b == NULL)
			return NULL;
		*l = (size_t)snprintf(b, 24, "%zu", vl);
		*tech |= T_PARAMOP;
		return b;
	}
	if (p->op == NULL) {
		*l = vl;
		return val;
	}
	const char *op = p->op;
	size_t ol = 0;
	const char *o = operand(n, p->word, &ol);
	if (o == NULL)
		return NULL;
	if (!strcmp(op, ":-") || !strcmp(op, "-") || !strcmp(op, ":=") || !strcmp(op, "=") ||
	    !strcmp(op, ":?") || !strcmp(op, "?")) {
		if (op[0] == ':' && vl == 0) {
			*l = ol;
			return o;
		}
		*l = vl;
		return val;
	}
	if (!strcmp(op, ":+") || !strcmp(op, "+")) {
		*l = (op[0] == ':' && vl == 0) ? 0 : ol;
		return (op[0] == ':' && vl == 0) ? "" : o;
	}
	*tech |= T_PARAMOP;
	if (!strcmp(op, ":")) {
		/* ${v:off} ${v:off:len} */
		const char *colon = memchr(o, ':', ol);
		int ok = 0, ok2 = 1;
		long off = parse_int(o, colon ? (size_t)(colon - o) : ol, &ok);
		long cnt = colon ? parse_int(colon + 1, ol - (size_t)(colon - o) - 1, &ok2) : (long)vl;
		if (!ok || !ok2)
			return NULL;
		if (off < 0)
			off += (long)vl;
		if (off < 0 || (size_t)off > vl)
			return NULL;
		if (cnt < 0)
			cnt = (long)vl - off + cnt;
		if (cnt < 0)
			return NULL;
		if ((size_t)(off + cnt) > vl)
			cnt = (long)vl - off;
		*l = (size_t)cnt;
		return val + off;
	}
	if (!strcmp(op, "^^") || !strcmp(op, ",,") || !strcmp(op, "^") || !strcmp(op, ",")) {
		if (ol)
			return NULL; /* a pattern restricts which letters: not modelled */
		char *b = ndup(n, val, vl);
		if (b == NULL)
			return NULL;
		size_t m = op[1] ? vl : (vl ? 1 : 0);
		for (size_t i = 0; i < m; i++) {
			if (op[0] == '^' && b[i] >= 'a' && b[i] <= 'z')
				b[i] = (char)(b[i] - 'a' + 'A');
			else if (op[0] == ',' && b[i] >= 'A' && b[i] <= 'Z')
				b[i] = (char)(b[i] - 'A' + 'a');
		}
		*l = vl;
		return b;
	}
	if (op[0] == '/') {
		/* ${v/pat/rep} ${v//pat/rep} ${v/#pat/rep} ${v/%pat/rep}: literal patterns only */
		const char *sl = memchr(o, '/', ol);
		size_t pl = sl ? (size_t)(sl - o) : ol;
		const char *rep = sl ? sl + 1 : "";
		size_t rl = sl ? ol - pl - 1 : 0;
		if (pl == 0 || memchr(o, '*', pl) || memchr(o, '?', pl) || memchr(o, '[', pl) ||
		    memchr(o, '\\', pl))
			return NULL;
		buf b;
		buf_init(&b, NMAXW);
		int all = op[1] == '/', pre = op[1] == '#', suf = op[1] == '%', done = 0;
		for (size_t i = 0; i < vl;) {
			int at = !done && i + pl <= vl && !memcmp(val + i, o, pl) &&
			    (!pre || i == 0) && (!suf || i + pl == vl);
			if (at) {
				buf_put(&b, rep, rl);
				i += pl;
				if (!all)
					done = 1;
				continue;
			}
			buf_putc(&b, (unsigned char)val[i]);
			i++;
		}
		char *r = ndup(n, b.len ? buf_cstr(&b) : "", b.len);
		*l = b.len;
		buf_free(&b);
		return r;
	}
	if (!strcmp(op, "#") || !strcmp(op, "##") || !strcmp(op, "%") || !strcmp(op, "%%")) {
		*tech &= ~T_PARAMOP; /* ordinary in scripts: ${f%.txt} */
		char *pat = ndup(n, o, ol);
		char *tmp = lb_arena_alloc(n->a, vl + 1);
		if (pat == NULL || tmp == NULL || vl > NMAXW)
			return NULL;
		int longest = op[1] != 0;
		if (op[0] == '#') {
			for (size_t k = 0; k <= vl; k++) {
				size_t m = longest ? vl - k : k;
				memcpy(tmp, val, m);
				tmp[m] = 0;
				if (fnmatch(pat, tmp, 0) == 0) {
					*l = vl - m;
					return val + m;
				}
			}
		} else {
			for (size_t k = 0; k <= vl; k++) {
				size_t m = longest ? vl - k : k; /* suffix length */
				memcpy(tmp, val + vl - m, m);
				tmp[m] = 0;
				if (fnmatch(pat, tmp, 0) == 0) {
					*l = vl - m;
					return val;
				}
			}
		}
		*l = vl;
		return val;
	}
	return NULL;
}

/* ---- word evaluation ------------------------------------------------------------------ */

/* Partial fields while a word is evaluated: each is bytes where '\0' ends a field. */
typedef struct parts {
	char *s[NMAXF];
	size_t l[NMAXF];
	size_t n;
} parts;

static int
pappend(nctx *n, parts *ps, const char *t, size_t tl, int split)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->l[i] + tl > LBX_NORM_BUDGET) {
			n->over = 1; /* a word this long is past what lockbox expands */
			return -1;
		}
		char *ns = lb_arena_alloc_raw(n->a, ps->l[i] + tl + 1, 1);
		if (ns == NULL) {
			n->oom = 1;
			return -1;
		}
		memcpy(ns, ps->s[i], ps->l[i]);
		for (size_t j = 0; j < tl; j++) {
			char ch = t[j];
			if (ch == 0)
				ch = 1; /* bash drops NUL bytes from words; keep the field boundary */
			if (split && (ch == ' ' || ch == '\t' || ch == '\n'))
				ch = 0;
			ns[ps->l[i] + j] = ch;
		}
		ps->s[i] = ns;
		ps->l[i] += tl;
		ns[ps->l[i]] = 0;
	}
	return 0;
}

static int eval_parts(nctx *n, const lb_part *p, int quoted, parts *ps, wv *out, int *unknown);

/* Does the source of an unquoted literal hold a backslash before a letter or digit
 * (c\at)? A leading one (\ls, the usual way to skip an alias) does not count. */
static int
lit_escapes(nctx *n, const lb_part *p)
{
	if (p->span.end > n->len || p->span.start >= p->span.end)
		return 0;
	const char *s = n->src + p->span.start;
	size_t l = p->span.end - p->span.start;
	for (size_t i = 0; i + 1 < l; i++) {
		if (s[i] != '\\')
			continue;
		if (is_alnum((unsigned char)s[i + 1]) && (i > 0 || p->span.start > 0))
			return 1;
		i++;
	}
	return 0;
}

/* Does a $'...' spell ordinary characters with numeric escapes ($'\x63\141t')? */
static int
ansic_spells(nctx *n, const lb_part *p)
{
	if (p->span.end > n->len || p->span.start > p->span.end)
		return 0;
	const char *s = n->src + p->span.start;
	size_t l = p->span.end - p->span.start;
	int esc = 0;
	for (size_t i = 0; i + 1 < l; i++)
		if (s[i] == '\\') {
			char e = s[i + 1];
			if (e == 'x' || e == 'u' || e == 'U' || (e >= '0' && e <= '7'))
				esc++;
			i++;
		}
	if (esc == 0)
		return 0;
	for (size_t i = 0; i < p->len; i++)
		if (is_alnum((unsigned char)p->text[i]) || p->text[i] == '/')
			return 1;
	return 0;
}

/* First or last byte of a part's literal value, or -1 when it has none. */
static int
part_edge(const lb_part *p, int last)
{
	if (p->kind == LB_P_DQUOTE || p->kind == LB_P_LOCALE) {
		const lb_part *q = p->parts;
		if (q == NULL)
			return -1;
		if (last)
			while (q->next)
				q = q->next;
		return part_edge(q, last);
	}
	if ((p->kind == LB_P_LIT || p->kind == LB_P_SQUOTE || p->kind == LB_P_ANSIC) && p->len)
		return (unsigned char)p->text[last ? p->len - 1 : 0];
	return -1;
}

/* c"a"t, "ca"'t': quotes that cut a word between two letters (in an argument only when
 * both sides are quoted: 'ba''sh', which no one writes except to hide a word). */
static int
quote_cuts(const lb_word *w, int both)
{
	for (const lb_part *p = w->parts; p && p->next; p = p->next) {
		const lb_part *q = p->next;
		int quoted = both ? p->kind != LB_P_LIT && q->kind != LB_P_LIT :
		    p->kind != LB_P_LIT || q->kind != LB_P_LIT;
		int a = part_edge(p, 1), b = part_edge(q, 0);
		if (quoted && a >= 0 && b >= 0 && is_alnum((unsigned char)a) && is_alnum((unsigned char)b))
			return 1;
	}
	return 0;
}

static int
eval_parts(nctx *n, const lb_part *p, int quoted, parts *ps, wv *out, int *unknown)
{
	for (; p && !*unknown; p = p->next) {
		const char *t = NULL;
		size_t tl = 0;
		int split = 0;
		switch (p->kind) {
		case LB_P_LIT:
			t = p->text;
			tl = p->len;
			if (!quoted && lit_escapes(n, p))
				out->escaped = 1;
			break;
		case LB_P_SQUOTE:
			t = p->text;
			tl = p->len;
			if (tl == 0)
				out->empty_q = 1;
			break;
		case LB_P_ANSIC:
			t = p->text;
			tl = p->len;
			if (ansic_spells(n, p))
				out->tech |= T_ANSIC;
			break;
		case LB_P_DQUOTE:
		case LB_P_LOCALE:
			if (p->parts == NULL)
				out->empty_q = 1;
			if (eval_parts(n, p->parts, 1, ps, out, unknown))
				return -1;
			continue;
		case LB_P_PARAM: {
			unsigned tech = 0;
			t = param_value(n, p, &tl, &tech, &out->decoded);
			if (t == NULL) {
				*unknown = 1;
				return 0;
			}
			/* "$IFS" is just its value; unquoted it separates words */
			out->tech |= quoted ? tech & ~(unsigned)T_IFS : tech;
			split = !quoted && !n->nosplit;
			break;
		}
		case LB_P_CMDSUB:
		case LB_P_BACKTICK: {
			buf via;
			buf_init(&via, 1024);
			int dec = 0;
			t = p->sub ? static_output(n, p->sub, NULL, 0, &via, &dec, &tl, 0) : NULL;
			buf_free(&via);
			if (t == NULL) {
				*unknown = 1;
				return 0;
			}
			while (tl && t[tl - 1] == '\n')
				tl--;
			out->tech |= T_CMDSUB | (dec ? T_ESCAPES : 0);
			out->decoded |= dec;
			split = !quoted && !n->nosplit;
			break;
		}
		case LB_P_GLOB:
			t = p->text;
			tl = p->len;
			out->glob = 1;
			break;
		case LB_P_TILDE:
			if (p->span.end > n->len || p->span.start > p->span.end)
				return *unknown = 1, 0;
			t = n->src + p->span.start;
			tl = p->span.end - p->span.start;
			out->tilde = 1;
			break;
		case LB_P_BRACE: {
			if (p->alts == NULL || p->nalts == 0 || n->evald >= NMAXEVAL) {
				*unknown = 1;
				return 0;
			}
			out->tech |= T_BRACE;
			parts np = { .n = 0 };
			for (size_t i = 0; i < ps->n; i++) {
				for (size_t j = 0; j < p->nalts; j++) {
					wv av;
					if (eval_word(n, p->alts[j], 1, &av)) {
						*unknown = 1;
						return 0;
					}
					out->tech |= av.tech;
					out->glob |= av.glob;
					for (size_t k = 0; k < (av.n ? av.n : 1); k++) {
						if (np.n >= NMAXF) {
							*unknown = 1;
							return 0;
						}
						const char *fv = av.n ? av.f[k] : "";
						size_t fvl = av.n ? av.fl[k] : 0;
						char *ns = lb_arena_alloc_raw(n->a, ps->l[i] + fvl + 1, 1);
						if (ns == NULL) {
							n->oom = 1;
							return -1;
						}
						memcpy(ns, ps->s[i], ps->l[i]);
						memcpy(ns + ps->l[i], fv, fvl);
						ns[ps->l[i] + fvl] = 0;
						np.s[np.n] = ns;
						np.l[np.n++] = ps->l[i] + fvl;
					}
				}
			}
			*ps = np;
			continue;
		}
		default:
			*unknown = 1;
			return 0;
		}
		if (pappend(n, ps, t, tl, split)) {
			*unknown = 1;
			return n->oom ? -1 : 0;
		}
	}
	return 0;
}

/* Evaluates a word into fields. Returns 0 when static, 1 when not (or too big), -1 when
 * out of memory. `quiet`: only the value is wanted. */
static int
eval_word(nctx *n, const lb_word *w, int quiet, wv *out)
{
	(void)quiet;
	memset(out, 0, sizeof *out);
	if (w == NULL || n->evald >= NMAXEVAL)
		return 1;
	n->evald++;
	parts ps = { .n = 1 };
	ps.s[0] = "";
	ps.l[0] = 0;
	int unknown = 0;
	int rc = eval_parts(n, w->parts, 0, &ps, out, &unknown);
	n->evald--;
	if (rc < 0)
		return -1;
	if (unknown)
		return 1;
	/* an empty quote inside a word (c''at) hides it; alone ("") it is an empty argument */
	if (out->empty_q && w->parts && w->parts->next)
		out->tech |= T_QUOTE;
	/* split the partial fields at the '\0' marks; empty pieces from unquoted splitting go */
	int quotedw = (w->flags & LB_WF_QUOTED) != 0;
	for (size_t i = 0; i < ps.n; i++) {
		const char *s = ps.s[i];
		size_t l = ps.l[i], st = 0;
		for (size_t j = 0; j <= l; j++) {
			if (j < l && s[j] != 0)
				continue;
			size_t fl = j - st;
			if (fl > 0 || (quotedw && st == 0 && j == l)) {
				if (out->n >= NMAXF)
					return 1;
				out->f[out->n] = s + st;
				out->fl[out->n++] = fl;
			}
			st = j + 1;
		}
	}
	/* a brace word never expands to nothing; an unquoted word that did is removed */
	return 0;
}

/* The word's fields as bash would read them back (space-separated). */
static const char *
emit_fields(nctx *n, const wv *v, size_t *l)
{
	buf b;
	buf_init(&b, NMAXF * (NMAXW + 8));
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			buf_putc(&b, ' ');
		if (v->fl[i] == 0)
			buf_puts(&b, "''");
		else
			put_quoted(&b, v->f[i], v->fl[i], v->glob, v->tilde && i == 0);
	}
	char *r = ndup(n, b.len ? buf_cstr(&b) : "", b.len);
	*l = b.len;
	buf_free(&b);
	return r;
}

/* ---- static output of commands ----------------------------------------------------- */

static int
has_word(const wv *v, size_t from, const char *w)
{
	for (size_t i = from; i < v->n; i++)
		if (v->fl[i] == strlen(w) && !memcmp(v->f[i], w, v->fl[i]))
			return 1;
	return 0;
}

/* What a decoding command (base64 -d, xxd -r -p, rev, tr, gunzip) makes of `in`. */
static const char *
decode_cmd(nctx *n, const char *prog, wv *av, const char *in, size_t inl, buf *via,
    size_t *outn)
{
	char *o = NULL;
	size_t ol = 0;
	int rc = -1;
	size_t max = *n->budget;
	const char *step = NULL;
	if (!strcmp(prog, "base64") || (!strcmp(prog, "basenc") && has_word(av, 1, "--base64")) ||
	    (!strcmp(prog, "openssl") && (has_word(av, 1, "base64") || has_word(av, 1, "-base64")) &&
	    has_word(av, 1, "-d"))) {
		if (!has_word(av, 1, "-d") && !has_word(av, 1, "--decode") && !has_word(av, 1, "-D"))
			return NULL;
		rc = lbx_dec_base64(n->a, in, inl, max, &o, &ol);
		step = "base64 -d";
	} else if (!strcmp(prog, "base32") || (!strcmp(prog, "basenc") && has_word(av, 1, "--base32"))) {
		if (!has_word(av, 1, "-d") && !has_word(av, 1, "--decode"))
			return NULL;
		rc = lbx_dec_base32(n->a, in, inl, max, &o, &ol);
		step = "base32 -d";
	} else if (!strcmp(prog, "xxd")) {
		int r = has_word(av, 1, "-r") || has_word(av, 1, "-revert");
		int p = has_word(av, 1, "-p") || has_word(av, 1, "-ps") || has_word(av, 1, "-plain") ||
		    has_word(av, 1, "-rp") || has_word(av, 1, "-r -p");
		if (has_word(av, 1, "-rp") || has_word(av, 1, "-pr"))
			r = p = 1;
		if (!r || !p)
			return NULL;
		rc = lbx_dec_hex(n->a, in, inl, max, &o, &ol);
		step = "xxd -r -p";
	} else if (!strcmp(prog, "rev")) {
		if (av->n > 1)
			return NULL;
		rc = lbx_dec_rev(n->a, in, inl, max, &o, &ol);
		step = "rev";
	} else if (!strcmp(prog, "tr")) {
		if (av->n != 3 || av->f[1][0] == '-')
			return NULL;
		rc = lbx_dec_tr(n->a, av->f[1], av->f[2], in, inl, max, &o, &ol);
		step = "tr";
	} else if (!strcmp(prog, "gunzip") || !strcmp(prog, "zcat") || (!strcmp(prog, "gzip") &&
	    (has_word(av, 1, "-d") || has_word(av, 1, "-dc") || has_word(av, 1, "-cd") ||
	    has_word(av, 1, "--decompress")))) {
		rc = lbx_dec_gunzip(n->a, in, inl, max, &o, &ol);
		step = "gunzip";
	} else {
		return NULL;
	}
	if (rc == -2)
		n->over = 1;
	if (rc != 0 || spend(n, ol))
		return NULL;
	if (via->len)
		buf_puts(via, " | ");
	buf_puts(via, step);
	*outn = ol;
	return o;
}

/* Standard input a simple command gets from its own here-string or here-document. */
static const char *
redir_stdin(nctx *n, const lb_redir *r, size_t *l, int *have, int *dyn)
{
	const char *t = NULL;
	for (; r; r = r->next) {
		if (r->op == LB_R_HERESTRING) {
			wv v;
			n->nosplit++;
			int rc = eval_word(n, r->target, 1, &v);
			n->nosplit--;
			if (rc || v.n > 1) {
				*dyn = 1;
				return NULL;
			}
			size_t vl = v.n ? v.fl[0] : 0;
			char *s = lb_arena_alloc_raw(n->a, vl + 2, 1);
			if (s == NULL)
				return NULL;
			memcpy(s, v.n ? v.f[0] : "", vl);
			s[vl] = '\n';
			s[vl + 1] = 0;
			t = s;
			*l = vl + 1;
			*have = 1;
		} else if (r->op == LB_R_HEREDOC || r->op == LB_R_HEREDOC_TAB) {
			if (!r->body_quoted && r->body && (memchr(r->body, '$', r->body_len) ||
			    memchr(r->body, '`', r->body_len) || memchr(r->body, '\\', r->body_len))) {
				*dyn = 1;
				return NULL;
			}
			t = r->body ? r->body : "";
			*l = r->body ? r->body_len : 0;
			*have = 1;
		} else if (r->op == LB_R_IN || r->op == LB_R_INOUT) {
			*dyn = 1;
			return NULL;
		} else if (r->op == LB_R_OUT || r->op == LB_R_APPEND || r->op == LB_R_CLOBBER ||
		    r->op == LB_R_OUT_ERR || r->op == LB_R_APPEND_ERR) {
			*dyn = 1; /* the output goes elsewhere */
			return NULL;
		}
	}
	return t;
}

static const char *
simple_output(nctx *n, const lb_node *nd, const char *in, size_t inl, buf *via, int *decoded,
    size_t *outn)
{
	if (nd->words == NULL)
		return NULL;
	wv av;
	/* the words together: an array of fields */
	const char *f[NMAXF];
	size_t fl[NMAXF], nf = 0;
	for (const lb_word *w = nd->words; w; w = w->next) {
		wv v;
		if (eval_word(n, w, 1, &v))
			return NULL;
		*decoded |= v.decoded; /* echo $x, x decoded earlier */
		for (size_t i = 0; i < v.n; i++) {
			if (nf >= NMAXF)
				return NULL;
			f[nf] = v.f[i];
			fl[nf++] = v.fl[i];
		}
	}
	if (nf == 0)
		return NULL;
	memset(&av, 0, sizeof av);
	for (size_t i = 0; i < nf; i++)
		av.f[i] = f[i], av.fl[i] = fl[i];
	av.n = nf;
	int have = 0, dyn = 0;
	size_t hl = 0;
	const char *h = redir_stdin(n, nd->redirs, &hl, &have, &dyn);
	if (dyn)
		return NULL;
	if (have) {
		in = h;
		inl = hl;
	}
	const char *prog = base_name(f[0]);
	char *o = NULL;
	size_t ol = 0;
	if (!strcmp(prog, "echo")) {
		size_t i = 1;
		int e = 0, nl = 1;
		while (i < nf && fl[i] > 1 && f[i][0] == '-' && strspn(f[i] + 1, "neE") == fl[i] - 1) {
			for (size_t j = 1; j < fl[i]; j++)
				e = f[i][j] == 'e' ? 1 : f[i][j] == 'E' ? 0 : e, nl = f[i][j] == 'n' ? 0 : nl;
			i++;
		}
		size_t total = 0;
		for (size_t j = i; j < nf; j++)
			total += fl[j] + 1;
		if (total > *n->budget) {
			n->over = 1;
			return NULL;
		}
		buf b;
		buf_init(&b, *n->budget + 1);
		for (size_t j = i; j < nf; j++) {
			if (j > i)
				buf_putc(&b, ' ');
			buf_put(&b, f[j], fl[j]);
		}
		if (e) {
			int rc = lbx_dec_escapes(n->a, b.len ? buf_cstr(&b) : "", b.len, 0, *n->budget, &o, &ol);
			if (rc == 0 && (ol != b.len || memcmp(o, buf_cstr(&b), ol)))
				*decoded = 1;
			if (rc)
				o = NULL;
		} else {
			o = ndup(n, b.len ? buf_cstr(&b) : "", b.len);
			ol = b.len;
		}
		buf_free(&b);
		if (o == NULL)
			return NULL;
		if (nl) {
			char *o2 = lb_arena_alloc_raw(n->a, ol + 2, 1);
			if (o2 == NULL)
				return NULL;
			memcpy(o2, o, ol);
			o2[ol++] = '\n';
			o2[ol] = 0;
			o = o2;
		}
		if (via->len)
			buf_puts(via, " | ");
		buf_puts(via, e ? "echo -e" : "echo");
	} else if (!strcmp(prog, "printf")) {
		size_t i = 1;
		if (i < nf && !strcmp(f[i], "--"))
			i++;
		if (i >= nf || f[i][0] == '-')
			return NULL; /* printf -v VAR sets a variable: no output */
		int rc = lbx_dec_printf(n->a, f[i], fl[i], f + i + 1, fl + i + 1, nf - i - 1,
		    *n->budget, &o, &ol);
		if (rc == -2)
			n->over = 1;
		if (rc)
			return NULL;
		if (memchr(f[i], '\\', fl[i]) || (memchr(f[i], '%', fl[i]) && strstr(f[i], "%b")))
			*decoded = 1;
		if (via->len)
			buf_puts(via, " | ");
		buf_puts(via, "printf");
	} else if (!strcmp(prog, "cat") && (nf == 1 || (nf == 2 && !strcmp(f[1], "-")))) {
		if (in == NULL)
			return NULL;
		o = (char *)in;
		ol = inl;
	} else {
		if (in == NULL)
			return NULL;
		const char *r = decode_cmd(n, prog, &av, in, inl, via, &ol);
		if (r == NULL)
			return NULL;
		*decoded = 1;
		*outn = ol;
		return r;
	}
	if (spend(n, ol))
		return NULL;
	*outn = ol;
	return o;
}

static const char *
static_output(nctx *n, const lb_node *nd, const char *in, size_t inl, buf *via, int *decoded,
    size_t *outn, int lvl)
{
	if (nd == NULL || lvl > 16 || n->over)
		return NULL;
	switch (nd->kind) {
	case LB_N_SCRIPT:
	case LB_N_GROUP:
	case LB_N_SUBSHELL:
		if (nd->nkids == 1)
			return static_output(n, nd->kids[0], in, inl, via, decoded, outn, lvl + 1);
		return NULL;
	case LB_N_PIPELINE: {
		const char *t = in;
		size_t tl = inl;
		for (size_t i = 0; i < nd->nkids; i++) {
			t = static_output(n, nd->kids[i], t, tl, via, decoded, &tl, lvl + 1);
			if (t == NULL)
				return NULL;
		}
		*outn = tl;
		return t;
	}
	case LB_N_SIMPLE:
		return simple_output(n, nd, in, inl, via, decoded, outn);
	default:
		return NULL;
	}
}

/* ---- rewriting -------------------------------------------------------------------------- */

/* A command name written as a glob (/???/c?t): the known programs it can name in the
 * standard binary directories, as full paths (the first directory that fits), at most
 * `max`. Returns how many distinct programs fit (may exceed max). */
#define NMAXGLOB 8
static size_t
resolve_glob(nctx *n, const char *pat, const char **out, size_t max)
{
	static const char *const dirs[] = { "/bin", "/usr/bin", "/sbin", "/usr/sbin",
		"/usr/local/bin", "/usr/local/sbin", NULL };
	const char *slash = strrchr(pat, '/');
	if (pat[0] != '/' || slash == NULL)
		return 0; /* relative: it depends on the files in the working directory */
	size_t found = 0;
	char path[512];
	size_t it = 0;
	for (const char *name; (name = kb_program_name(n->k, &it)) != NULL;) {
		if (fnmatch(slash + 1, name, FNM_PERIOD) != 0)
			continue;
		for (const char *const *d = dirs; *d; d++) {
			int m = snprintf(path, sizeof path, "%s/%s", *d, name);
			if (m < 0 || (size_t)m >= sizeof path)
				continue;
			if (fnmatch(pat, path, FNM_PATHNAME | FNM_PERIOD) != 0)
				continue;
			if (found < max)
				out[found] = ndup(n, path, (size_t)m);
			found++;
			break;
		}
	}
	/* the order bash would list them in */
	size_t k = found < max ? found : max;
	for (size_t a = 1; a < k; a++)
		for (size_t b = a; b > 0 && out[b] && out[b - 1] && strcmp(out[b - 1], out[b]) > 0; b--) {
			const char *t = out[b];
			out[b] = out[b - 1];
			out[b - 1] = t;
		}
	return found;
}

static const char *
how_text(nctx *n, unsigned t)
{
	buf b;
	buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof tech_name / sizeof tech_name[0]; i++)
		if (t & (1u << i)) {
			if (b.len)
				buf_puts(&b, " | ");
			buf_puts(&b, tech_name[i]);
		}
	char *r = ndup(n, b.len ? buf_cstr(&b) : "", b.len);
	buf_free(&b);
	return r;
}

static lbx_layer *
add_layer(nctx *n, const char *text, size_t len, const char *via, lb_span sp, int decoded)
{
	lbx_layer *l = lb_arena_alloc(n->a, sizeof *l);
	if (l == NULL) {
		n->oom = 1;
		return NULL;
	}
	l->text = text;
	l->len = len;
	l->via = via;
	l->span = sp;
	l->decoded = decoded;
	if (n->out->layers_tail)
		n->out->layers_tail->next = l;
	else
		n->out->layers = l;
	n->out->layers_tail = l;
	return l;
}

/* Decoded text found running: normalized itself (recursively), recorded as a layer and
 * spliced into the rewritten record in place of what produced it. */
static void
found_layer(nctx *n, const char *text, size_t len, buf *via, const char *runner, lb_span sp,
    int decoded)
{
	if (via->len)
		buf_puts(via, " | ");
	buf_puts(via, runner);
	const char *vs = ndup(n, buf_cstr(via), via->len);
	size_t nl = len;
	unsigned how = 0;
	const char *norm = text;
	if (n->depth + 1 < LBX_NORM_DEPTH) {
		const char *t2 = normalize_text(n, text, len, &nl, &how, sp);
		if (t2)
			norm = t2;
		else
			nl = len;
	}
	/* drop one trailing newline for display and splicing */
	size_t dl = nl;
	while (dl && (norm[dl - 1] == '\n'))
		dl--;
	const char *shown = ndup(n, norm, dl);
	if (shown == NULL || vs == NULL)
		return;
	add_layer(n, shown, dl, vs, sp, decoded);
	if (decoded)
		note(n, "decoded-payload", 0, sp, lbx_printf(n->a, "Commands hidden with %s are run "
		    "(%s); lockbox decoded them", vs, dl > 60 ? "shown below" : shown));
	/* newlines would change how the rest of the line reads: keep them inside a group */
	if (memchr(shown, '\n', dl) || memchr(shown, ';', dl)) {
		char *g = lbx_printf(n->a, "{ %s\n}", shown);
		if (g)
			add_edit(n, sp.start, sp.end, g, strlen(g));
	} else {
		add_edit(n, sp.start, sp.end, shown, dl);
	}
}

/* Is the command (fields) a shell reading commands from standard input? */
static int
stdin_shell(const wv *v0)
{
	/* sudo bash, env bash, nice -n 5 sh: the wrapper's options, then the shell */
	static const char *const wrappers[] = { "sudo", "doas", "env", "nice", "nohup", "exec",
		"command", "builtin", "stdbuf", "ionice", "setsid", NULL };
	wv tmp;
	const wv *v = v0;
	size_t skip = 0;
	for (int round = 0; round < 4 && skip < v0->n; round++) {
		const char *w = base_name(v0->f[skip]);
		int wrap = 0;
		for (const char *const *x = wrappers; *x; x++)
			wrap |= !strcmp(w, *x);
		if (!wrap)
			break;
		skip++;
		while (skip < v0->n && (v0->f[skip][0] == '-' || strchr(v0->f[skip], '=')))
			skip++;
	}
	if (skip) {
		memset(&tmp, 0, sizeof tmp);
		for (size_t i = skip; i < v0->n; i++)
			tmp.f[tmp.n] = v0->f[i], tmp.fl[tmp.n++] = v0->fl[i];
		v = &tmp;
	}
	if (v->n == 0)
		return 0;
	const char *p = base_name(v->f[0]);
	if (!strcmp(p, "source") || !strcmp(p, ".") )
		return v->n == 2 && (!strcmp(v->f[1], "/dev/stdin") || !strcmp(v->f[1], "/dev/fd/0") ||
		    !strcmp(v->f[1], "/proc/self/fd/0") || !strcmp(v->f[1], "-"));
	if (!lbx_is_shell_name(p))
		return 0;
	for (size_t i = 1; i < v->n; i++) {
		if (v->f[i][0] != '-' && v->f[i][0] != '+')
			return 0; /* a script file */
		if (strchr(v->f[i], 'c') && v->f[i][1] != '-')
			return 0;
	}
	return 1;
}

/* Words of a simple command evaluated; wvs[i] NULL when not static. */
#define NMAXWORDS 256 /* words of one command looked at */
typedef struct cmdw {
	const lb_word **w;
	wv **v;
	size_t n;
} cmdw;

static void
eval_cmd(nctx *n, const lb_node *nd, cmdw *cw)
{
	size_t cnt = 0;
	for (const lb_word *w = nd->words; w && cnt < NMAXWORDS; w = w->next)
		cnt++;
	cw->n = 0;
	cw->w = lb_arena_alloc_raw(n->a, (cnt ? cnt : 1) * sizeof *cw->w, 8);
	cw->v = lb_arena_alloc_raw(n->a, (cnt ? cnt : 1) * sizeof *cw->v, 8);
	if (cw->w == NULL || cw->v == NULL) {
		n->oom = 1;
		return;
	}
	for (const lb_word *w = nd->words; w && cw->n < cnt; w = w->next) {
		wv *v = lb_arena_alloc_raw(n->a, sizeof *v, 8); /* eval_word clears it */
		if (v == NULL) {
			n->oom = 1;
			return;
		}
		int rc = eval_word(n, w, 0, v);
		cw->w[cw->n] = w;
		cw->v[cw->n++] = rc == 0 ? v : NULL;
	}
}

static int
cmd_is(const cmdw *cw, const char *name)
{
	return cw->n && cw->v[0] && cw->v[0]->n && !strcmp(cw->v[0]->f[0], name);
}

static void
assignments(nctx *n, const lb_node *nd)
{
	for (const lb_assign *as = nd->assigns; as; as = as->next) {
		if (as->name == NULL)
			continue;
		if (as->subscript || as->is_array || as->append || !strcmp(as->name, "IFS")) {
			var_set(n, as->name, NULL, 0, 0, 0);
			if (!strcmp(as->name, "IFS"))
				var_set(n, "IFS", NULL, 0, 0, 0);
			continue;
		}
		wv v;
		int rc = 1;
		if (as->value) {
			/* x=$(...) and x=$y are not split into words */
			n->nosplit++;
			rc = eval_word(n, as->value, 1, &v);
			n->nosplit--;
		}
		if (as->value == NULL) {
			var_set(n, as->name, "", 0, 1, 0);
		} else if (rc == 0 && v.n <= 1) {
			var_set(n, as->name, v.n ? v.f[0] : "", v.n ? v.fl[0] : 0, 1, v.decoded);
		} else {
			var_set(n, as->name, NULL, 0, 0, 0);
		}
	}
}

/* Builtins that set variables from their operands (export a=b, read a, ...). */
static void
var_builtins(nctx *n, const cmdw *cw)
{
	static const char *const decl[] = { "export", "declare", "typeset", "local", "readonly", NULL };
	static const char *const setters[] = { "read", "mapfile", "readarray", "getopts", "unset",
		"printf", "let", NULL };
	if (cw->n == 0 || cw->v[0] == NULL || cw->v[0]->n == 0)
		return;
	const char *p = cw->v[0]->f[0];
	int isdecl = 0, isset = 0;
	for (const char *const *d = decl; *d; d++)
		isdecl |= !strcmp(p, *d);
	for (const char *const *d = setters; *d; d++)
		isset |= !strcmp(p, *d);
	if (!isdecl && !isset)
		return;
	for (size_t i = 1; i < cw->n; i++) {
		if (cw->v[i] == NULL || cw->v[i]->n != 1) {
			/* a name we cannot read may be any variable: forget them all */
			for (nvar *v = n->vars; v; v = v->next)
				v->known = 0;
			return;
		}
		const char *f = cw->v[i]->f[0];
		size_t fl = cw->v[i]->fl[0];
		const char *eq = memchr(f, '=', fl);
		size_t nl = eq ? (size_t)(eq - f) : fl;
		if (!is_name(f, nl))
			continue;
		char *name = ndup(n, f, nl);
		if (name == NULL)
			return;
		if (isdecl && eq)
			var_set(n, name, eq + 1, fl - nl - 1, 1, cw->v[i]->decoded);
		else
			var_set(n, name, NULL, 0, 0, 0);
	}
}

static nname *
name_find(nname *l, const char *name)
{
	for (; l; l = l->next)
		if (!strcmp(l->name, name))
			return l;
	return NULL;
}

static void
name_add(nctx *n, nname **l, const char *name, const char *val)
{
	nname *x = lb_arena_alloc(n->a, sizeof *x);
	if (x == NULL) {
		n->oom = 1;
		return;
	}
	x->name = name;
	x->val = val;
	x->next = *l;
	*l = x;
}

static int
known_program(nctx *n, const char *name)
{
	return kb_lookup(n->k, name, strlen(name)) != NULL || lbx_is_shell_name(name);
}

static void
do_simple(nctx *n, const lb_node *nd)
{
	cmdw *cw = lb_arena_alloc(n->a, sizeof *cw);
	if (cw == NULL) {
		n->oom = 1;
		return;
	}
	eval_cmd(n, nd, cw);
	if (cw->n == 0) {
		assignments(n, nd);
		return;
	}
	var_builtins(n, cw);
	lb_span nsp = nd->span;
	/* alias NAME=VALUE */
	if (cmd_is(cw, "alias")) {
		for (size_t i = 1; i < cw->n; i++) {
			if (cw->v[i] == NULL || cw->v[i]->n != 1)
				continue;
			const char *f = cw->v[i]->f[0];
			const char *eq = strchr(f, '=');
			if (eq == NULL || eq == f)
				continue;
			char *name = ndup(n, f, (size_t)(eq - f));
			if (name == NULL)
				return;
			name_add(n, &n->aliases, name, eq + 1);
			/* alias rm='rm -i' adds options; alias ls='cat /etc/shadow' hides a command */
			size_t w0 = strcspn(eq + 1, " \t;|&");
			if (known_program(n, name) && !(w0 == strlen(name) && !strncmp(eq + 1, name, w0)))
				note(n, "alias-shadow", 0, cw->w[i]->span, lbx_printf(n->a, "An alias "
				    "redefines the program %s: running %s runs %s", name, name, eq + 1));
		}
		return;
	}
	for (size_t i = 1; i < cw->n; i++)
		if (cw->v[i] && quote_cuts(cw->w[i], 1))
			cw->v[i]->tech |= T_QUOTE;
	/* eval with static words: the joined string is what runs */
	if (cmd_is(cw, "eval") && cw->n > 1) {
		int hidden = 0;
		for (size_t i = 1; i < cw->n; i++) {
			unsigned obf = cw->v[i] ? cw->v[i]->tech & (T_QUOTE | T_ANSIC | T_IFS |
			    T_PARAMOP | T_WELLKNOWN | T_ESCAPES) : 0;
			if (obf) {
				n->how |= obf;
				hidden = 1;
				note(n, "hidden-argument", 0, cw->w[i]->span, lbx_printf(n->a, "The "
				    "text given to eval is disguised (%s)", how_text(n, obf)));
			}
		}
		buf b;
		buf_init(&b, *n->budget + 1);
		int dec = 0, stat = 1;
		for (size_t i = 1; i < cw->n; i++) {
			if (cw->v[i] == NULL) {
				stat = 0;
				break;
			}
			dec |= cw->v[i]->decoded || (cw->v[i]->tech & T_CMDSUB);
			for (size_t j = 0; j < cw->v[i]->n; j++) {
				if (b.len)
					buf_putc(&b, ' ');
				buf_put(&b, cw->v[i]->f[j], cw->v[i]->fl[j]);
			}
		}
		if (stat && b.len && spend(n, b.len) == 0) {
			buf via;
			buf_init(&via, 1024);
			const char *t = ndup(n, buf_cstr(&b), b.len);
			if (t && dec) {
				buf_puts(&via, "command substitution");
				found_layer(n, t, b.len, &via, "eval", nsp, 1);
			} else if (t) {
				size_t nl = 0;
				unsigned how = 0;
				const char *t2 = n->depth + 1 < LBX_NORM_DEPTH ?
				    normalize_text(n, t, b.len, &nl, &how, nsp) : NULL;
				if (t2 && (how || hidden)) {
					/* what eval runs, with the disguises of its text undone */
					n->how |= how;
					add_edit(n, nsp.start, nsp.end, t2, nl);
				}
			}
			buf_free(&via);
		}
		buf_free(&b);
		return;
	}
	/* a shell fed a here-string, a here-document or <(...) whose text is known */
	if (cw->v[0] && cw->v[0]->n && (lbx_is_shell_name(base_name(cw->v[0]->f[0])) ||
	    cmd_is(cw, "source") || cmd_is(cw, "."))) {
		const char *prog = base_name(cw->v[0]->f[0]);
		buf via;
		buf_init(&via, 1024);
		int dec = 0;
		/* bash <(...) / source <(...) */
		if (cw->n == 2 && cw->w[1]->parts && !cw->w[1]->parts->next &&
		    cw->w[1]->parts->kind == LB_P_PROCSUB_IN && cw->w[1]->parts->sub) {
			size_t tl = 0;
			const char *t = static_output(n, cw->w[1]->parts->sub, NULL, 0, &via, &dec, &tl, 0);
			if (t) {
				found_layer(n, t, tl, &via, lbx_printf(n->a, "%s <(...)", prog), nsp, dec);
				buf_free(&via);
				return;
			}
		}
		/* sh -c "$(...)" */
		if (cw->n >= 3 && cw->v[1] && cw->v[1]->n == 1 && !strcmp(cw->v[1]->f[0], "-c") &&
		    cw->v[2] && cw->v[2]->n == 1 && (cw->v[2]->tech & T_CMDSUB)) {
			buf_puts(&via, "command substitution");
			found_layer(n, cw->v[2]->f[0], cw->v[2]->fl[0], &via, lbx_printf(n->a, "%s -c",
			    prog), nsp, cw->v[2]->decoded);
			buf_free(&via);
			return;
		}
		int have = 0, dyn = 0;
		size_t hl = 0;
		const char *h = redir_stdin(n, nd->redirs, &hl, &have, &dyn);
		if (h && have && !dyn && stdin_shell(cw->v[0]) ) {
			int hdec = 0;
			for (const lb_redir *r = nd->redirs; r; r = r->next)
				if (r->op == LB_R_HERESTRING && r->target) {
					wv hv;
					n->nosplit++;
					if (eval_word(n, r->target, 1, &hv) == 0)
						hdec = hv.decoded;
					n->nosplit--;
				}
			buf_puts(&via, "here-string");
			found_layer(n, h, hl, &via, prog, nsp, hdec);
			buf_free(&via);
			return;
		}
		buf_free(&via);
	}
	/* the command name */
	wv *v0 = cw->v[0];
	if (v0 && (quote_cuts(cw->w[0], 0) || v0->escaped))
		v0->tech |= T_QUOTE;
	if (v0 && v0->n) {
		const char *name = v0->f[0];
		unsigned t = v0->tech;
		nname *al = NULL;
		if (!(cw->w[0]->flags & (LB_WF_QUOTED | LB_WF_EXPAND | LB_WF_CMDSUB | LB_WF_GLOB |
		    LB_WF_BRACE)) && (al = name_find(n->aliases, name)) != NULL) {
			/* aliases expand as text */
			n->how |= T_ALIAS;
			note(n, "alias-used", 0, cw->w[0]->span, lbx_printf(n->a, "%s is an alias "
			    "defined in this command: it runs %s", name, al->val));
			add_edit(n, cw->w[0]->span.start, cw->w[0]->span.end, al->val, strlen(al->val));
		} else if ((al = name_find(n->funcs, name)) != NULL && known_program(n, name)) {
			note(n, "function-shadow", 0, cw->w[0]->span, lbx_printf(n->a, "%s is redefined "
			    "as a function in this command: calling it runs that function, not the "
			    "program", name));
			/* without arguments the call is its body (with them, $1... would differ) */
			if (cw->n == 1 && al->val && nd->redirs == NULL)
				add_edit(n, cw->w[0]->span.start, cw->w[0]->span.end, al->val,
				    strlen(al->val));
		}
		if (v0->glob && name[0] == '/' && (memchr(name, '*', v0->fl[0]) || memchr(name, '?', v0->fl[0]) ||
		    memchr(name, '[', v0->fl[0]))) {
			const char *cand[NMAXGLOB];
			size_t nc = resolve_glob(n, name, cand, NMAXGLOB);
			if (nc == 1 && cand[0]) {
				n->how |= T_GLOB;
				note(n, "glob-command", 0, cw->w[0]->span, lbx_printf(n->a, "The program "
				    "name is a wildcard pattern (%s) that matches %s", name, cand[0]));
				add_edit(n, cw->w[0]->span.start, cw->w[0]->span.end, cand[0],
				    strlen(cand[0]));
			} else if (nc > 1) {
				note(n, "glob-command", 1, cw->w[0]->span, lbx_printf(n->a, "The program "
				    "name is a wildcard pattern (%s) that fits %zu known programs (%s, "
				    "%s%s): which one runs depends on the files present", name, nc,
				    base_name(cand[0]), base_name(cand[1]), nc > 2 ? ", ..." : ""));
				/* each could be what runs: analyze every one with the same arguments */
				uint32_t re = nd->span.end <= n->len ? nd->span.end : cw->w[0]->span.end;
				const char *rest = n->src + cw->w[0]->span.end;
				size_t rl = re > cw->w[0]->span.end ? re - cw->w[0]->span.end : 0;
				for (size_t c = 0; c < nc && c < NMAXGLOB; c++) {
					if (cand[c] == NULL || spend(n, strlen(cand[c]) + rl))
						break;
					char *ct = lbx_printf(n->a, "%s%.*s", cand[c], (int)rl, rest);
					if (ct)
						add_layer(n, ct, strlen(ct), lbx_printf(n->a, "glob %s (one of %zu "
						    "programs)", name, nc), nsp, 0);
				}
			} else {
				note(n, "glob-command", 1, cw->w[0]->span, lbx_printf(n->a, "The program "
				    "name is a wildcard pattern (%s): which program runs depends on files "
				    "lockbox cannot see", name));
			}
			t &= ~(unsigned)T_GLOB;
		}
		unsigned obf = t & (T_QUOTE | T_ANSIC | T_BRACE | T_IFS | T_VAR | T_PARAMOP |
		    T_CMDSUB | T_WELLKNOWN | T_ESCAPES);
		if (obf && known_program(n, base_name(name))) {
			n->how |= obf;
			note(n, "hidden-command-name", 0, cw->w[0]->span, lbx_printf(n->a, "The program "
			    "name is disguised (%s): it runs %s", how_text(n, obf), name));
		}
	}
	/* every word: rewrite what was resolved; note disguises inside arguments */
	for (size_t i = 0; i < cw->n; i++) {
		wv *v = cw->v[i];
		if (v == NULL)
			continue;
		unsigned obf = v->tech & (T_QUOTE | T_ANSIC | T_IFS | T_PARAMOP | T_WELLKNOWN |
		    T_ESCAPES);
		if (i > 0 && obf) {
			n->how |= obf;
			note(n, "hidden-argument", 0, cw->w[i]->span, lbx_printf(n->a, "An argument is "
			    "disguised (%s)", how_text(n, obf)));
		}
		if (v->tech & (T_VAR | T_CMDSUB | T_BRACE | T_IFS | T_ANSIC | T_QUOTE | T_PARAMOP |
		    T_WELLKNOWN)) {
			if (i == 0 && v->glob)
				continue; /* resolved above */
			size_t el = 0;
			const char *e = emit_fields(n, v, &el);
			if (e)
				add_edit(n, cw->w[i]->span.start, cw->w[i]->span.end, e, el);
		}
	}
	assignments(n, nd);
}

static void
do_pipeline(nctx *n, const lb_node *nd)
{
	/* a stage that runs its standard input as commands, after stages whose output is
	 * known: echo DATA | base64 -d | sh */
	for (size_t i = 1; i < nd->nkids; i++) {
		const lb_node *k = nd->kids[i];
		if (k->kind != LB_N_SIMPLE || k->words == NULL)
			continue;
		cmdw *cw = lb_arena_alloc(n->a, sizeof *cw);
		if (cw == NULL) {
			n->oom = 1;
			return;
		}
		eval_cmd(n, k, cw);
		if (cw->n == 0 || cw->v[0] == NULL)
			continue;
		wv all;
		memset(&all, 0, sizeof all);
		int ok = 1;
		for (size_t j = 0; j < cw->n && ok; j++) {
			if (cw->v[j] == NULL) {
				ok = 0;
				break;
			}
			for (size_t m = 0; m < cw->v[j]->n && all.n < NMAXF; m++)
				all.f[all.n] = cw->v[j]->f[m], all.fl[all.n++] = cw->v[j]->fl[m];
		}
		if (!ok || !stdin_shell(&all))
			continue;
		buf via;
		buf_init(&via, 1024);
		const char *t = NULL;
		size_t tl = 0;
		int dec = 0;
		for (size_t j = 0; j < i; j++) {
			t = static_output(n, nd->kids[j], t, tl, &via, &dec, &tl, 0);
			if (t == NULL)
				break;
		}
		if (t) {
			lb_span sp = { nd->kids[0]->span.start, k->span.end };
			found_layer(n, t, tl, &via, base_name(all.f[0]), sp, dec);
		}
		buf_free(&via);
		break;
	}
	n->cond++;
	for (size_t i = 0; i < nd->nkids; i++)
		norm_walk(n, nd->kids[i]);
	n->cond--;
}

static void
walk_word_subs(nctx *n, const lb_part *p)
{
	for (; p; p = p->next) {
		if (p->kind == LB_P_DQUOTE || p->kind == LB_P_LOCALE)
			walk_word_subs(n, p->parts);
		else if ((p->kind == LB_P_CMDSUB || p->kind == LB_P_PROCSUB_IN ||
		    p->kind == LB_P_PROCSUB_OUT) && p->sub) {
			n->cond++;
			norm_walk(n, p->sub);
			n->cond--;
		}
	}
}

static void
norm_walk(nctx *n, const lb_node *nd)
{
	if (nd == NULL || n->oom || n->over || n->level > LB_MAX_DEPTH * 2)
		return;
	n->level++;
	switch (nd->kind) {
	case LB_N_SCRIPT:
	case LB_N_GROUP:
	case LB_N_ANDOR:
		for (size_t i = 0; i < nd->nkids; i++)
			norm_walk(n, nd->kids[i]);
		break;
	case LB_N_PIPELINE:
		if (nd->nkids == 1)
			norm_walk(n, nd->kids[0]);
		else
			do_pipeline(n, nd);
		break;
	case LB_N_SIMPLE:
		for (const lb_word *w = nd->words; w; w = w->next)
			if (w->flags & LB_WF_CMDSUB)
				walk_word_subs(n, w->parts);
		do_simple(n, nd);
		break;
	case LB_N_FUNCTION:
		if (nd->name && nd->nkids && nd->kids[0] && nd->kids[0]->span.end <= n->len) {
			const lb_node *b = nd->kids[0];
			name_add(n, &n->funcs, nd->name, ndup(n, n->src + b->span.start,
			    b->span.end - b->span.start));
		}
		n->cond++;
		for (size_t i = 0; i < nd->nkids; i++)
			norm_walk(n, nd->kids[i]);
		n->cond--;
		break;
	case LB_N_FOR:
	case LB_N_SELECT:
		if (nd->name)
			var_set(n, nd->name, NULL, 0, 0, 0);
		n->cond++;
		for (size_t i = 0; i < nd->nkids; i++)
			norm_walk(n, nd->kids[i]);
		n->cond--;
		break;
	default:
		n->cond++;
		for (size_t i = 0; i < nd->nkids; i++)
			norm_walk(n, nd->kids[i]);
		n->cond--;
		break;
	}
	n->level--;
}

/* Applies the edits to the source: the rewritten record. */
static const char *
apply_edits(nctx *n, size_t *outn)
{
	if (n->edits == NULL)
		return NULL;
	/* sort by start (insertion sort: few edits) */
	nedit *sorted = NULL;
	for (nedit *x = n->edits, *nx; x; x = nx) {
		nx = x->next;
		nedit **pp = &sorted;
		while (*pp && (*pp)->s < x->s)
			pp = &(*pp)->next;
		x->next = *pp;
		*pp = x;
	}
	buf b;
	buf_init(&b, n->len + *n->budget + 1);
	size_t pos = 0;
	for (nedit *x = sorted; x; x = x->next) {
		if (x->s < pos)
			continue;
		buf_put(&b, n->src + pos, x->s - pos);
		buf_put(&b, x->rep, x->rlen);
		pos = x->e;
	}
	buf_put(&b, n->src + pos, n->len - pos);
	char *r = NULL;
	if (b.len <= n->len || spend(n, b.len - n->len) == 0) {
		r = ndup(n, b.len ? buf_cstr(&b) : "", b.len);
		*outn = b.len;
	}
	buf_free(&b);
	return r;
}

/* Normalizes a nested text (eval string, decoded layer) with the variables, aliases and
 * functions known so far. Returns the rewritten text (or the text itself) and sets *how. */
static const char *
normalize_text(nctx *n, const char *s, size_t len, size_t *outn, unsigned *how, lb_span sp)
{
	lb_node *root = NULL;
	lb_parse_error perr = { 0 };
	*how = 0;
	*outn = len;
	if (lb_parse(n->a, s, len, &root, &perr) != 0 || root == NULL)
		return s;
	nctx c = *n;
	c.src = s;
	c.len = len;
	c.edits = NULL;
	c.nedits = 0;
	c.how = 0;
	c.depth = n->depth + 1;
	c.evald = 0;
	lbx_norm sub = { 0 };
	c.out = &sub;
	norm_walk(&c, root);
	n->oom |= c.oom;
	n->over |= c.over;
	n->vars = c.vars;
	n->aliases = c.aliases;
	n->funcs = c.funcs;
	/* the nested text's notes and layers are the record's (spans: the whole nested text) */
	for (lbx_note *x = sub.notes; x; x = x->next)
		note(n, x->id, x->opaque, sp, x->msg);
	for (lbx_layer *l = sub.layers; l; l = l->next)
		add_layer(n, l->text, l->len, l->via, sp, l->decoded);
	*how = c.how;
	size_t nl = 0;
	const char *r = apply_edits(&c, &nl);
	if (r == NULL)
		return s;
	*outn = nl;
	return r;
}

/* Is s[i] in command position: at the start or right after ; | & ( { ` or a newline
 * (blanks between allowed)? */
static int
at_cmd_pos(const char *s, size_t i)
{
	while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
		i--;
	if (i == 0)
		return 1;
	switch (s[i - 1]) {
	case ';': case '|': case '&': case '(': case '{': case '`': case '\n':
		return 1;
	default:
		return 0;
	}
}

static int
has_str(const char *s, size_t n, const char *w)
{
	return memmem(s, n, w, strlen(w)) != NULL;
}

/* Does the record run something on standard input or a string: a shell, source, eval? */
static int
has_runner(const char *s, size_t n)
{
	return has_str(s, n, "sh") || has_str(s, n, "source") || has_str(s, n, "eval") ||
	    has_str(s, n, ". ");
}

/* Does the record hold something that prints or decodes text (for $(...) and pipes)? */
static int
has_producer(const char *s, size_t n)
{
	static const char *const w[] = { "printf", "echo", "base64", "base32", "basenc", "xxd",
		"rev", "tr ", "zcat", "gunzip", "gzip", "openssl", "<<<", NULL };
	for (const char *const *p = w; *p; p++)
		if (has_str(s, n, *p))
			return 1;
	return 0;
}

int
lbx_norm_maybe(const char *s, size_t n)
{
	/* Only what the normalizer could act on: quotes or backslashes touching letters,
	 * $'..' and $"..", ${IFS} and the operators that cut or change values, $name or a
	 * brace or a glob path as the program, printing or decoding feeding a shell, eval,
	 * alias, functions. Most records match none of these (interpreter code is looked at
	 * by the analyzer itself). */
	/* the bytes that can start a match; every other byte is skipped by a table lookup */
	static const unsigned char interesting[256] = {
		['\''] = 1, ['"'] = 1, ['\\'] = 1, ['$'] = 1, ['`'] = 1, ['{'] = 1, ['/'] = 1,
		['<'] = 1, ['|'] = 1, ['('] = 1,
	};
	if (n >= 4 && memmem(s, n, "eval", 4))
		return 1;
	for (const char *al = n >= 5 ? memmem(s, n, "alias", 5) : NULL; al;
	    al = memmem(al + 1, n - (size_t)(al + 1 - s), "alias", 5))
		if (at_cmd_pos(s, (size_t)(al - s)))
			return 1;
	int producer = -1, runner = -1;
	for (size_t i = 0; i + 1 < n; i++) {
		if (!interesting[(unsigned char)s[i]])
			continue;
		char c = s[i], d = s[i + 1];
		switch (c) {
		case '\'':
		case '"':
			if (d == '\'' || d == '"' || (i > 0 && is_alnum((unsigned char)s[i - 1]) &&
			    is_alnum((unsigned char)d)))
				return 1;
			break;
		case '\\':
			if (is_alnum((unsigned char)d))
				return 1;
			i++;
			break;
		case '$':
			if (d == '\'' || d == '"' || d == 'I')
				return 1;
			if (d == '{') {
				size_t k = i + 2;
				if (k < n && (s[k] == '#' || s[k] == 'I'))
					return 1; /* ${#v}, ${IFS} */
				while (k < n && (is_alnum((unsigned char)s[k]) || s[k] == '_'))
					k++;
				if (k < n && strchr(":/^,", s[k]))
					return 1;
				if (at_cmd_pos(s, i))
					return 1;
			} else if (d == '(' || ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') ||
			    d == '_')) {
				/* a computed program name, or text computed for eval / a shell */
				if (at_cmd_pos(s, i))
					return 1;
				if (d == '(' && (producer < 0 ? (producer = has_producer(s, n)) : producer))
					return 1;
			}
			break;
		case '`':
			if (producer < 0 ? (producer = has_producer(s, n)) : producer)
				return 1;
			break;
		case '{':
			if (at_cmd_pos(s, i) && memchr(s + i, ',', n - i))
				return 1;
			break;
		case '/':
			if (at_cmd_pos(s, i)) {
				size_t k = i;
				while (k < n && !strchr(" \t\n;|&<>()", s[k]))
					if (strchr("?*[", s[k++]))
						return 1;
			}
			break;
		case '<':
			if ((d == '<' || d == '(') && (runner < 0 ? (runner = has_runner(s, n)) : runner))
				return 1;
			break;
		case '|': {
			/* | sh, | sudo bash, | source /dev/stdin: text run as commands */
			size_t k = i + 1;
			while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '&'))
				k++;
			size_t e = k;
			while (e < n && !strchr(" \t\n;|&)", s[e]))
				e++;
			const char *w = s + k;
			size_t wl = e - k;
			const char *slash = memrchr(w, '/', wl);
			if (slash) {
				wl -= (size_t)(slash + 1 - w);
				w = slash + 1;
			}
			static const char *const run[] = { "sh", "bash", "dash", "zsh", "ksh", "ash",
				"mksh", "source", ".", "sudo", "doas", "env", "eval", "busybox", "nohup",
				"nice", "exec", "command", NULL };
			for (const char *const *r = run; *r; r++)
				if (wl == strlen(*r) && !memcmp(w, *r, wl))
					return 1;
			break;
		}
		case '(':
			if (d == ')')
				return 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

int
lbx_normalize(lb_arena *a, const kb *k, const char *src, size_t len, const lb_node *root,
    size_t *budget, lbx_norm *out)
{
	memset(out, 0, sizeof *out);
	lb_node *r = (lb_node *)(uintptr_t)root;
	if (r == NULL) {
		lb_parse_error perr = { 0 };
		int rc = lb_parse(a, src, len, &r, &perr);
		if (rc == ESC_ENOMEM)
			return ESC_ENOMEM;
		if (rc != 0 || r == NULL)
			return 0;
	}
	nctx n = { .a = a, .k = k, .src = src, .len = len, .budget = budget, .out = out };
	norm_walk(&n, r);
	if (n.oom)
		return ESC_ENOMEM;
	if (n.over)
		note(&n, "deobfuscation-budget", 1, (lb_span){ 0, (uint32_t)len },
		    "The command expands or decodes into more text than lockbox analyzes, so what "
		    "finally runs cannot be shown");
	size_t nl = 0;
	const char *t = apply_edits(&n, &nl);
	if (t && (nl != len || memcmp(t, src, len))) {
		out->text = t;
		out->len = nl;
	}
	out->how = how_text(&n, n.how);
	return n.oom ? ESC_ENOMEM : 0;
}

/* ---- interpreter code ------------------------------------------------------------------ */

/* Reads a string literal at s[i] (quote char q = s[i]); returns its value (escapes \\ \"
 * \' \n \t \xHH decoded) and sets *end past the closing quote, or NULL. */
static char *
read_literal(lb_arena *a, const char *s, size_t n, size_t i, size_t *end, size_t *outl)
{
	char q = s[i];
	char *o = lb_arena_alloc_raw(a, n - i + 1, 1);
	if (o == NULL)
		return NULL;
	size_t k = 0;
	for (size_t j = i + 1; j < n; j++) {
		if (s[j] == q) {
			o[k] = 0;
			*end = j + 1;
			*outl = k;
			return o;
		}
		if (s[j] == '\\' && j + 1 < n) {
			char e = s[++j];
			if (e == 'n')
				o[k++] = '\n';
			else if (e == 't')
				o[k++] = '\t';
			else if (e == 'x' && j + 2 < n && (s[j + 1] != q) && (s[j + 2] != q)) {
				char hx[3] = { s[j + 1], s[j + 2], 0 };
				o[k++] = (char)strtol(hx, NULL, 16);
				j += 2;
			} else
				o[k++] = e;
			continue;
		}
		o[k++] = s[j];
	}
	return NULL;
}

static void
code_layer(lb_arena *a, lbx_layer **head, lbx_layer **tail, const char *text, size_t len,
    const char *via, int decoded)
{
	lbx_layer *l = lb_arena_alloc(a, sizeof *l);
	if (l == NULL)
		return;
	l->text = text;
	l->len = len;
	l->via = via;
	l->decoded = decoded;
	if (*tail)
		(*tail)->next = l;
	else
		*head = l;
	*tail = l;
}

lbx_layer *
lbx_code_commands(lb_arena *a, const char *prog, const char *code, size_t n, size_t *budget)
{
	static const char *const calls[] = {
		"os.system(", "os.popen(", "subprocess.call(", "subprocess.run(", "subprocess.Popen(",
		"subprocess.check_output(", "subprocess.check_call(", "subprocess.getoutput(",
		"commands.getoutput(", "system(", "exec(", "execSync(", "spawnSync(", "os.execute(",
		"io.popen(", "popen(", "shell_exec(", "passthru(", "proc_open(", "IO.popen(",
		"Open3.capture2(", "Open3.popen3(", "%x(", "qx(", "`", NULL,
	};
	static const char *const b64[] = { "b64decode(", "base64.b64decode(", "decode_base64(",
		"base64_decode(", "Base64.decode64(", "atob(", "Buffer.from(", NULL };
	lbx_layer *head = NULL, *tail = NULL;
	int python = prog && !strncmp(prog, "python", 6);
	int count = 0;
	for (size_t i = 0; i < n && count < 16; i++) {
		const char *const *c;
		size_t cl = 0;
		for (c = calls; *c; c++) {
			cl = strlen(*c);
			if (i + cl <= n && !memcmp(code + i, *c, cl))
				break;
		}
		if (*c == NULL)
			continue;
		/* python's exec() runs python, not a shell; a bare system( inside os.system( is
		 * the same call */
		if (python && !strcmp(*c, "exec("))
			continue;
		if (i > 0 && (is_alnum((unsigned char)code[i - 1]) || code[i - 1] == '_') &&
		    (**c != '`'))
			continue;
		size_t j = i + cl;
		if (**c == '`') {
			j = i;
		}
		while (j < n && (code[j] == ' ' || code[j] == '\t'))
			j++;
		if (j >= n)
			break;
		int decoded = 0;
		const char *b = NULL;
		for (const char *const *d = b64; *d; d++) {
			size_t dl = strlen(*d);
			if (j + dl <= n && !memcmp(code + j, *d, dl)) {
				b = *d;
				j += dl;
				break;
			}
		}
		if (b) {
			while (j < n && code[j] == ' ')
				j++;
			decoded = 1;
		}
		size_t end = 0, ll = 0;
		char *lit = NULL;
		if (j < n && (code[j] == '"' || code[j] == '\'' || code[j] == '`')) {
			lit = read_literal(a, code, n, j, &end, &ll);
		} else if (j < n && code[j] == '[' && !decoded) {
			/* ["/bin/sh", "-i"]: the list joined */
			buf lb;
			buf_init(&lb, 4096);
			size_t k = j + 1;
			while (k < n && code[k] != ']') {
				if (code[k] == '"' || code[k] == '\'') {
					size_t e2 = 0, l2 = 0;
					char *el = read_literal(a, code, n, k, &e2, &l2);
					if (el == NULL)
						break;
					if (lb.len)
						buf_putc(&lb, ' ');
					buf_put(&lb, el, l2);
					k = e2;
				} else if (code[k] == ',' || code[k] == ' ') {
					k++;
				} else {
					lb.len = 0;
					break;
				}
			}
			if (lb.len && k < n && code[k] == ']') {
				lit = lb_arena_strndup(a, buf_cstr(&lb), lb.len);
				ll = lb.len;
				end = k + 1;
			}
			buf_free(&lb);
		}
		if (lit == NULL || ll == 0) {
			continue;
		}
		if (decoded) {
			char *o = NULL;
			size_t ol = 0;
			if (lbx_dec_base64(a, lit, ll, *budget, &o, &ol) != 0)
				continue;
			lit = o;
			ll = ol;
		}
		if (*budget < ll)
			break;
		*budget -= ll;
		char nm[48];
		size_t nml = cl < 40 ? cl : 40;
		memcpy(nm, *c, nml);
		while (nml && code[i + nml - 1] == '(')
			nml--;
		nm[nml] = 0;
		const char *via = lbx_printf(a, "%s %s%s%s", prog ? prog : "code", nm,
		    decoded ? " of " : "", decoded ? "base64-decoded data" : "");
		code_layer(a, &head, &tail, lit, ll, via, decoded);
		count++;
		i = end > i ? end - 1 : i;
	}
	return head;
}
