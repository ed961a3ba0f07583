/* pwsh_analyze.c — lockbox for Windows: walks a PowerShell tree (or cmd.exe commands),
 * folds constant expressions to see through obfuscation ('{1}{0}' -f, char codes, base64,
 * -replace, backticks), resolves cmdlets and tools in the Windows knowledge base, and
 * analyzes decoded and invoked code recursively (bounded). Produces the same result
 * (risk, categories, findings, commands, explanation) as the bash analyzer. */
#include "lockbox/analyze_int.h"
#include "lockbox/pwsh.h"
#include "util/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PA_MAX_NEST 4      /* decoded / invoked code analyzed inside code */
#define PA_MAX_WALK 1000   /* tree depth the walker and the folder follow */
#define PA_MAX_VARS 128
#define PA_MAX_ARGS 256
#define PA_MAX_STR ((size_t)1 << 20) /* longest folded string */
#define PA_MAX_ARR 4096
#define PA_MAX_CMDS 256    /* cmd.exe commands per line */
#define PA_BUDGET 2000000L /* expression folding steps per record */

/* ---- values ------------------------------------------------------------------------- */

enum { V_NONE, V_STR, V_ARR, V_NUM, V_BYTES, V_ENC, V_TYPE };
enum { ENC_UNICODE = 1, ENC_UTF8, ENC_ASCII, ENC_BIGENDIAN };

typedef struct psval {
	int kind;
	const char *s;        /* STR, BYTES, TYPE (lower-cased type name) */
	size_t n;
	struct psval *items;  /* ARR */
	size_t nitems;
	double num;
	int enc;
	int obf;              /* built by an obfuscation step (format, char codes, ...) */
	int dl;               /* comes from the network */
	int code;             /* a script block's text */
} psval;

typedef struct pvar {
	const char *name;     /* lower-cased */
	psval v;
} pvar;

typedef struct pctx {
	const winkb *w;
	lockbox_result *r;
	lb_arena *a;
	int nest;             /* decoded or invoked code depth */
	int walk;             /* recursion depth of the walk */
	int nested;           /* analyzing text that is not the record itself */
	lb_span outer;        /* the record span findings in nested text point at */
	const char *code;     /* text being analyzed now and its offset base */
	size_t codelen;
	pvar vars[PA_MAX_VARS];
	size_t nvars;
	int cmd_mode;
	int walk_cut;
	const void *block_pav; /* inside ForEach-Object { }: what the pipeline names */
	size_t block_pna;
	long budget;          /* folding steps left for this record (bounds hostile input) */
	size_t mem_cap;       /* arena bytes past which folding stops */
} pctx;

#define FMT(...) lbx_printf(c->a, __VA_ARGS__)

static lb_span
SP(const pctx *c, lb_span s)
{
	return c->nested ? c->outer : s;
}

static void
finding(pctx *c, const char *id, int sev, int cat, lb_span sp, const char *msg)
{
	lbx_add_finding(c->r, id, sev, cat, SP(c, sp), msg);
}

static void
attack(pctx *c, const char *id)
{
	lbx_add_attack(c->r, id);
}

static void
risk(pctx *c, int rk, kb_cats cats, const kb_strs *att)
{
	lbx_add_risk(c->r, rk, cats, att);
}

static void
sentence(pctx *c, int prio, const char *s)
{
	lbx_add_sentence(c->r, s, prio);
}

/* Text of a node as written. */
static const char *
src_of(pctx *c, lb_span s)
{
	if (s.end > c->codelen || s.start > s.end)
		return "";
	return lb_arena_strndup(c->a, c->code + s.start, s.end - s.start);
}

/* One line, cut at 60 bytes with an ellipsis, for explanations. */
static const char *
shown(pctx *c, const char *s, size_t n)
{
	char tmp[72];
	size_t o = 0;
	for (size_t i = 0; i < n && o < 60; i++) {
		unsigned char ch = (unsigned char)s[i];
		tmp[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	/* do not cut a UTF-8 sequence in half */
	while (o > 0 && o < n && ((unsigned char)tmp[o - 1] & 0xC0) == 0x80)
		o--;
	if (o > 0 && o < n && ((unsigned char)tmp[o - 1] & 0xC0) == 0xC0)
		o--;
	if (o < n) {
		memcpy(tmp + o, "...", 3);
		o += 3;
	}
	return lb_arena_strndup(c->a, tmp, o);
}

static char *
lower(pctx *c, const char *s, size_t n)
{
	char *d = lb_arena_strndup(c->a, s, n);
	if (d)
		for (size_t i = 0; i < n; i++)
			d[i] = (char)tolower((unsigned char)d[i]);
	return d;
}

static int
ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static psval
vnone(void)
{
	psval v;
	memset(&v, 0, sizeof v);
	return v;
}

static psval
vstr(const char *s, size_t n, int obf)
{
	psval v = vnone();
	v.kind = V_STR;
	v.s = s;
	v.n = n;
	v.obf = obf;
	return v;
}

static pvar *
var_get(pctx *c, const char *name)
{
	for (size_t i = c->nvars; i-- > 0;)
		if (ieq(c->vars[i].name, name))
			return &c->vars[i];
	return NULL;
}

static void
var_set(pctx *c, const char *name, psval v)
{
	pvar *p = var_get(c, name);
	if (p) {
		p->v = v;
		return;
	}
	if (c->nvars < PA_MAX_VARS) {
		c->vars[c->nvars].name = name;
		c->vars[c->nvars].v = v;
		c->nvars++;
	}
}

/* Automatic variables whose values obfuscators index into ($env:ComSpec[4,15,25]). */
static const struct {
	const char *name;
	const char *val;
} known_vars[] = {
	{ "env:comspec", "C:\\WINDOWS\\system32\\cmd.exe" },
	{ "shellid", "Microsoft.PowerShell" },
	{ "pshome", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0" },
	{ "verbosepreference", "SilentlyContinue" },
	{ "env:public", "C:\\Users\\Public" },
	{ "env:temp", "C:\\Users\\user\\AppData\\Local\\Temp" },
	{ "env:tmp", "C:\\Users\\user\\AppData\\Local\\Temp" },
	{ "env:appdata", "C:\\Users\\user\\AppData\\Roaming" },
	{ "env:localappdata", "C:\\Users\\user\\AppData\\Local" },
	{ "env:programdata", "C:\\ProgramData" },
	{ "env:userprofile", "C:\\Users\\user" },
	{ "env:programfiles", "C:\\Program Files" },
	{ "env:windir", "C:\\WINDOWS" },
	{ "env:systemroot", "C:\\WINDOWS" },
	{ "true", "True" },
	{ "false", "False" },
	{ "null", "" },
	{ NULL, NULL }
};

/* A value's text (strings, numbers as written, arrays joined by a space). */
static int
as_str(pctx *c, const psval *v, const char **s, size_t *n)
{
	if (v->kind == V_STR) {
		*s = v->s;
		*n = v->n;
		return 1;
	}
	if (v->kind == V_NUM) {
		char *t = FMT("%.15g", v->num);
		if (t == NULL)
			return 0;
		*s = t;
		*n = strlen(t);
		return 1;
	}
	if (v->kind == V_ARR) {
		buf b;
		buf_init(&b, PA_MAX_STR);
		for (size_t i = 0; i < v->nitems; i++) {
			const char *is;
			size_t in;
			if (!as_str(c, &v->items[i], &is, &in) || (i && buf_putc(&b, ' ')) ||
			    buf_put(&b, is, in)) {
				buf_free(&b);
				return 0;
			}
		}
		*s = lb_arena_strndup(c->a, b.data ? (const char *)b.data : "", b.len);
		*n = b.len;
		buf_free(&b);
		return *s != NULL;
	}
	return 0;
}

static psval
join_vals(pctx *c, const psval *arr, const char *sep, size_t seplen)
{
	buf b;
	int obf = arr->obf;
	buf_init(&b, PA_MAX_STR);
	const psval *items = arr->kind == V_ARR ? arr->items : arr;
	size_t n = arr->kind == V_ARR ? arr->nitems : 1;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t sn;
		if (!as_str(c, &items[i], &s, &sn) || (i && buf_put(&b, sep, seplen)) ||
		    buf_put(&b, s, sn)) {
			buf_free(&b);
			return vnone();
		}
		obf |= items[i].obf;
	}
	psval v = vstr(lb_arena_strndup(c->a, b.data ? (const char *)b.data : "", b.len), b.len,
	    obf || n > 2);
	buf_free(&b);
	if (v.s == NULL)
		return vnone();
	return v;
}

static psval
char_val(pctx *c, double d)
{
	if (d < 0 || d > 0x10FFFF)
		return vnone();
	char u[4];
	size_t n = ps_utf8_put(u, (uint32_t)d);
	psval v = vstr(lb_arena_strndup(c->a, u, n), n, 1);
	return v.s ? v : vnone();
}

static int
to_num(const psval *v, double *d)
{
	if (v->kind == V_NUM) {
		*d = v->num;
		return 1;
	}
	if (v->kind == V_STR && v->n > 0 && v->n < 32) {
		char tmp[32];
		memcpy(tmp, v->s, v->n);
		tmp[v->n] = 0;
		char *e;
		double x = (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) ?
		    (double)strtoll(tmp + 2, &e, 16) : strtod(tmp, &e);
		if (*e == 0) {
			*d = x;
			return 1;
		}
	}
	return 0;
}

static psval eval(pctx *c, const ps_node *n, int depth);

static psval
eval_args_array(pctx *c, const ps_node *n, int depth)
{
	psval v = vnone();
	size_t cnt = 0;
	for (const ps_node *k = n->kid; k; k = k->next)
		cnt++;
	if (cnt > PA_MAX_ARR)
		return v;
	v.kind = V_ARR;
	v.items = lb_arena_alloc(c->a, sizeof *v.items * (cnt ? cnt : 1));
	if (v.items == NULL)
		return vnone();
	for (const ps_node *k = n->kid; k; k = k->next) {
		psval x = eval(c, k, depth + 1);
		v.items[v.nitems++] = x;
		v.dl |= x.dl;
	}
	return v;
}

/* Replaces every occurrence of pat (case-insensitive when ci) in s. */
static psval
replace_str(pctx *c, const psval *s, const char *pat, size_t pn, const char *rep, size_t rn,
    int ci)
{
	if (pn == 0)
		return *s;
	buf b;
	buf_init(&b, PA_MAX_STR);
	for (size_t i = 0; i < s->n;) {
		if (i + pn <= s->n && (ci ? !strncasecmp(s->s + i, pat, pn) : !memcmp(s->s + i, pat, pn))) {
			buf_put(&b, rep, rn);
			i += pn;
		} else {
			buf_putc(&b, (unsigned char)s->s[i++]);
		}
	}
	psval v = vstr(lb_arena_strndup(c->a, b.data ? (const char *)b.data : "", b.len), b.len, 1);
	buf_free(&b);
	return v.s ? v : vnone();
}

/* A regex pattern that is really literal text (\ escapes of punctuation allowed). */
static char *
regex_literal(pctx *c, const char *p, size_t n, size_t *outn)
{
	char *o = lb_arena_alloc(c->a, n + 1);
	size_t k = 0;
	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '\\' && i + 1 < n && !isalnum((unsigned char)p[i + 1])) {
			o[k++] = p[++i];
			continue;
		}
		if (strchr(".^$*+?()[]{}|\\", ch))
			return NULL;
		o[k++] = ch;
	}
	o[k] = 0;
	*outn = k;
	return o;
}

static psval
split_str(pctx *c, const psval *s, const char *sep, size_t sn)
{
	psval v = vnone();
	if (sn == 0)
		return v;
	size_t cnt = 1;
	for (size_t i = 0; i + sn <= s->n; i++)
		if (!memcmp(s->s + i, sep, sn))
			cnt++;
	if (cnt > PA_MAX_ARR)
		return v;
	v.kind = V_ARR;
	v.items = lb_arena_alloc(c->a, sizeof *v.items * cnt);
	if (v.items == NULL)
		return vnone();
	size_t st = 0;
	for (size_t i = 0; i <= s->n; i++) {
		if (i == s->n || (i + sn <= s->n && !memcmp(s->s + i, sep, sn))) {
			v.items[v.nitems++] = vstr(lb_arena_strndup(c->a, s->s + st, i - st), i - st, 1);
			if (i < s->n) {
				i += sn - 1;
				st = i + 1;
			}
		}
	}
	v.obf = 1;
	return v;
}

static psval
index_val(pctx *c, const psval *o, const psval *ix)
{
	if (ix->kind == V_ARR) {
		psval v = vnone();
		v.kind = V_ARR;
		v.items = lb_arena_alloc(c->a, sizeof *v.items * (ix->nitems ? ix->nitems : 1));
		if (v.items == NULL)
			return vnone();
		for (size_t i = 0; i < ix->nitems; i++)
			v.items[v.nitems++] = index_val(c, o, &ix->items[i]);
		v.obf = 1;
		return v;
	}
	double d;
	if (!to_num(ix, &d))
		return vnone();
	long k = (long)d;
	if (o->kind == V_STR) {
		if (k < 0)
			k += (long)o->n;
		if (k < 0 || (size_t)k >= o->n)
			return vnone();
		psval v = vstr(lb_arena_strndup(c->a, o->s + k, 1), 1, 1);
		return v.s ? v : vnone();
	}
	if (o->kind == V_ARR) {
		if (k < 0)
			k += (long)o->nitems;
		if (k < 0 || (size_t)k >= o->nitems)
			return vnone();
		return o->items[k];
	}
	return vnone();
}

static int
type_is(const char *t, const char *name)
{
	/* [System.Convert], [Convert], [SyStEm.cOnVeRt] */
	size_t tl = strlen(t), nl = strlen(name);
	if (ieq(t, name))
		return 1;
	return tl == nl + 7 && !strncasecmp(t, "system.", 7) && ieq(t + 7, name);
}

static psval
eval_call(pctx *c, const ps_node *n, int depth)
{
	const ps_node *mem = n->kid;
	if (mem == NULL || mem->kind != PS_MEMBER || mem->kid == NULL || mem->kid->next == NULL)
		return vnone();
	psval obj = eval(c, mem->kid, depth + 1);
	psval mv = eval(c, mem->kid->next, depth + 1);
	if (mv.kind != V_STR)
		return vnone();
	char *m = lower(c, mv.s, mv.n);
	if (m == NULL)
		return vnone();
	psval args[4];
	size_t na = 0;
	int dl = obj.dl;
	for (const ps_node *k = mem->next; k && na < 4; k = k->next) {
		args[na] = eval(c, k, depth + 1);
		dl |= args[na].dl;
		na++;
	}
	psval r = vnone();
	if (!strcmp(m, "downloadstring") || !strcmp(m, "downloaddata") ||
	    !strcmp(m, "openread") || !strcmp(m, "downloadfile") ||
	    !strcmp(m, "getresponse") || !strcmp(m, "readtoend") || !strcmp(m, "getstring") ?
	    0 : 0) {
		/* handled below */
	}
	if (!strcmp(m, "downloadstring") || !strcmp(m, "downloaddata") || !strcmp(m, "openread") ||
	    !strcmp(m, "getasync") || !strcmp(m, "getstringasync") || !strcmp(m, "getresponse")) {
		r.dl = 1;
		return r;
	}
	if (obj.kind == V_TYPE) {
		if (type_is(obj.s, "convert") && !strcmp(m, "frombase64string") && na == 1 &&
		    args[0].kind == V_STR) {
			size_t bn = 0;
			unsigned char *b = ps_b64_decode(c->a, args[0].s, args[0].n, &bn);
			if (b == NULL)
				return vnone();
			r.kind = V_BYTES;
			r.s = (const char *)b;
			r.n = bn;
			r.obf = 1;
			return r;
		}
		if (type_is(obj.s, "string") && !strcmp(m, "join") && na == 2) {
			const char *sep;
			size_t sl;
			if (!as_str(c, &args[0], &sep, &sl))
				return vnone();
			return join_vals(c, &args[1], sep, sl);
		}
		if (type_is(obj.s, "string") && !strcmp(m, "new") && na == 1 &&
		    args[0].kind == V_ARR) {
			r = join_vals(c, &args[0], "", 0);
			r.obf = 1;
			return r;
		}
		if (type_is(obj.s, "string") && !strcmp(m, "concat")) {
			psval arr = vnone();
			arr.kind = V_ARR;
			arr.items = args;
			arr.nitems = na;
			r = join_vals(c, &arr, "", 0);
			r.obf = 1;
			return r;
		}
		if (type_is(obj.s, "char") && !strcmp(m, "convertfromutf32") && na == 1) {
			double d;
			return to_num(&args[0], &d) ? char_val(c, d) : vnone();
		}
		if ((type_is(obj.s, "scriptblock") || type_is(obj.s, "management.automation.scriptblock"))
		    && !strcmp(m, "create") && na == 1 && args[0].dl) {
			r.dl = 1;
			r.code = 1;
			return r;
		}
		if (0) {
			r.dl = 1;
			r.code = 1;
			return r;
		}
		if ((type_is(obj.s, "scriptblock") || type_is(obj.s, "management.automation.scriptblock"))
		    && !strcmp(m, "create") && na == 1 && args[0].kind == V_STR) {
			r = args[0];
			r.code = 1;
			return r;
		}
		return vnone();
	}
	if (!strcmp(m, "newscriptblock") && na == 1) {
		r = args[0];
		r.code = 1;
		return r;
	}
	if (obj.kind == V_ENC && !strcmp(m, "getstring") && na >= 1 && args[0].kind == V_BYTES) {
		if (obj.enc == ENC_UNICODE) {
			size_t on = 0;
			char *s = ps_utf16le_to_utf8(c->a, (const unsigned char *)args[0].s,
			    args[0].n & ~(size_t)1, &on);
			return s ? vstr(s, on, 1) : vnone();
		}
		return vstr(args[0].s, args[0].n, 1);
	}
	if (obj.kind == V_STR) {
		if (!strcmp(m, "replace") && na == 2 && args[0].kind == V_STR) {
			const char *rs;
			size_t rn;
			if (!as_str(c, &args[1], &rs, &rn))
				return vnone();
			return replace_str(c, &obj, args[0].s, args[0].n, rs, rn, 0);
		}
		if (!strcmp(m, "tolower") || !strcmp(m, "toupper") || !strcmp(m, "tolowerinvariant") ||
		    !strcmp(m, "toupperinvariant")) {
			char *s = lb_arena_strndup(c->a, obj.s, obj.n);
			if (s == NULL)
				return vnone();
			for (size_t i = 0; i < obj.n; i++)
				s[i] = (char)(m[2] == 'l' ? tolower((unsigned char)s[i]) :
				    toupper((unsigned char)s[i]));
			return vstr(s, obj.n, obj.obf);
		}
		if (!strcmp(m, "trim") || !strcmp(m, "tostring")) {
			size_t a0 = 0, b0 = obj.n;
			if (m[0] == 't' && m[1] == 'r') {
				while (a0 < b0 && isspace((unsigned char)obj.s[a0]))
					a0++;
				while (b0 > a0 && isspace((unsigned char)obj.s[b0 - 1]))
					b0--;
			}
			return vstr(obj.s + a0, b0 - a0, obj.obf);
		}
		if (!strcmp(m, "substring") && na >= 1) {
			double st, ln = -1;
			if (!to_num(&args[0], &st) || st < 0 || (size_t)st > obj.n)
				return vnone();
			if (na == 2 && !to_num(&args[1], &ln))
				return vnone();
			size_t s0 = (size_t)st, l0 = ln < 0 ? obj.n - s0 : (size_t)ln;
			if (l0 > obj.n - s0)
				return vnone();
			psval v = vstr(obj.s + s0, l0, 1);
			return v;
		}
		if (!strcmp(m, "split") && na == 1 && args[0].kind == V_STR)
			return split_str(c, &obj, args[0].s, args[0].n ? 1 : 0);
		if (!strcmp(m, "tochararray")) {
			psval a = split_str(c, &obj, "", 0);
			(void)a;
			psval v = vnone();
			if (obj.n > PA_MAX_ARR)
				return v;
			v.kind = V_ARR;
			v.items = lb_arena_alloc(c->a, sizeof *v.items * (obj.n ? obj.n : 1));
			if (v.items == NULL)
				return vnone();
			for (size_t i = 0; i < obj.n; i++)
				v.items[v.nitems++] = vstr(obj.s + i, 1, 1);
			return v;
		}
	}
	r.dl = dl;
	return r;
}

static psval
eval_binop(pctx *c, const ps_node *n, int depth)
{
	const char *op = n->text;
	psval l = eval(c, n->kid, depth + 1);
	psval r = n->kid->next ? eval(c, n->kid->next, depth + 1) : vnone();
	psval none = vnone();
	none.dl = l.dl | r.dl;
	/* what -f, -join, -replace, -split or -bxor make is disguised even when lockbox
	 * cannot compute it */
	none.obf = !strcmp(op, "-f") || !strcmp(op, "-join") || !strcmp(op, "-replace") ||
	    !strcmp(op, "-split") || !strcmp(op, "-bxor") || l.obf || r.obf;
	if (!strcmp(op, "+")) {
		if (l.kind == V_STR) {
			const char *rs;
			size_t rn;
			if (!as_str(c, &r, &rs, &rn) || l.n + rn > PA_MAX_STR)
				return none;
			char *s = lb_arena_alloc(c->a, l.n + rn + 1);
			if (s == NULL)
				return none;
			memcpy(s, l.s, l.n);
			memcpy(s + l.n, rs, rn);
			s[l.n + rn] = 0;
			return vstr(s, l.n + rn, 1);
		}
		if (l.kind == V_NUM && r.kind == V_NUM) {
			psval v = vnone();
			v.kind = V_NUM;
			v.num = l.num + r.num;
			return v;
		}
		if (l.kind == V_ARR && r.kind != V_ARR && r.kind != V_NONE &&
		    l.nitems + 1 <= PA_MAX_ARR) {
			psval v = vnone();
			v.kind = V_ARR;
			v.items = lb_arena_alloc(c->a, sizeof *v.items * (l.nitems + 1));
			if (v.items == NULL)
				return none;
			memcpy(v.items, l.items, sizeof *v.items * l.nitems);
			v.items[l.nitems] = r;
			v.nitems = l.nitems + 1;
			v.obf = 1;
			return v;
		}
		if (l.kind == V_ARR && r.kind == V_ARR && l.nitems + r.nitems <= PA_MAX_ARR) {
			psval v = vnone();
			v.kind = V_ARR;
			v.items = lb_arena_alloc(c->a, sizeof *v.items * (l.nitems + r.nitems + 1));
			if (v.items == NULL)
				return none;
			memcpy(v.items, l.items, sizeof *v.items * l.nitems);
			memcpy(v.items + l.nitems, r.items, sizeof *v.items * r.nitems);
			v.nitems = l.nitems + r.nitems;
			return v;
		}
		return none;
	}
	if (!strcmp(op, "-") && l.kind == V_NUM && r.kind == V_NUM) {
		psval v = vnone();
		v.kind = V_NUM;
		v.num = l.num - r.num;
		return v;
	}
	if (!strcmp(op, "-f") && l.kind == V_STR) {
		const psval *items = r.kind == V_ARR ? r.items : &r;
		size_t ni = r.kind == V_ARR ? r.nitems : 1;
		if (ni > 64)
			return none;
		const char *as[64];
		size_t al[64];
		for (size_t i = 0; i < ni; i++)
			if (!as_str(c, &items[i], &as[i], &al[i]))
				return none;
		size_t on = 0;
		char *s = ps_format(c->a, l.s, l.n, as, al, ni, &on);
		return s ? vstr(s, on, 1) : none;
	}
	if (!strcmp(op, "-join")) {
		const char *sep;
		size_t sl;
		if (!as_str(c, &r, &sep, &sl))
			return none;
		psval v = join_vals(c, &l, sep, sl);
		v.obf = 1;
		return v;
	}
	if (!strcmp(op, "-replace") && l.kind == V_STR) {
		const psval *pr = r.kind == V_ARR ? r.items : &r;
		size_t np = r.kind == V_ARR ? r.nitems : 1;
		const char *ps2, *rs = "";
		size_t pn, rn = 0, litn;
		if (np < 1 || !as_str(c, &pr[0], &ps2, &pn) || (np > 1 && !as_str(c, &pr[1], &rs, &rn)))
			return none;
		char *lit = regex_literal(c, ps2, pn, &litn);
		if (lit == NULL)
			return none;
		return replace_str(c, &l, lit, litn, rs, rn, 1);
	}
	if (!strcmp(op, "-split") && l.kind == V_STR) {
		const char *ps2;
		size_t pn, litn;
		if (!as_str(c, &r, &ps2, &pn))
			return none;
		char *lit = regex_literal(c, ps2, pn, &litn);
		return lit && litn ? split_str(c, &l, lit, litn) : none;
	}
	if (!strcmp(op, "..")) {
		double a0, b0;
		if (!to_num(&l, &a0) || !to_num(&r, &b0))
			return none;
		long x = (long)a0, y = (long)b0;
		long cnt = (x <= y ? y - x : x - y) + 1;
		if (cnt > PA_MAX_ARR || cnt < 1)
			return none;
		psval v = vnone();
		v.kind = V_ARR;
		v.items = lb_arena_alloc(c->a, sizeof *v.items * (size_t)cnt);
		if (v.items == NULL)
			return none;
		for (long i = 0; i < cnt; i++) {
			v.items[i] = vnone();
			v.items[i].kind = V_NUM;
			v.items[i].num = (double)(x <= y ? x + i : x - i);
		}
		v.nitems = (size_t)cnt;
		return v;
	}
	if (!strcmp(op, "-bxor") && l.kind == V_NUM && r.kind == V_NUM) {
		psval v = vnone();
		v.kind = V_NUM;
		v.num = (double)((long)l.num ^ (long)r.num);
		return v;
	}
	return none;
}

static psval
eval_cast(pctx *c, const ps_node *n, int depth)
{
	const ps_node *ty = n->kid;
	psval o = eval(c, ty->next, depth + 1);
	const char *t = ty->text;
	if (!strncasecmp(t, "system.", 7))
		t += 7;
	if (ieq(t, "char")) {
		double d;
		if (o.kind == V_STR && o.n == 1)
			return o;
		return to_num(&o, &d) ? char_val(c, d) : vnone();
	}
	if (ieq(t, "char[]")) {
		if (o.kind == V_ARR) {
			psval v = vnone();
			v.kind = V_ARR;
			v.items = lb_arena_alloc(c->a, sizeof *v.items * (o.nitems ? o.nitems : 1));
			if (v.items == NULL)
				return vnone();
			for (size_t i = 0; i < o.nitems; i++) {
				double d;
				v.items[v.nitems++] = to_num(&o.items[i], &d) ? char_val(c, d) : o.items[i];
			}
			v.obf = 1;
			return v;
		}
		if (o.kind == V_STR && o.n <= PA_MAX_ARR) {
			psval v = vnone();
			v.kind = V_ARR;
			v.items = lb_arena_alloc(c->a, sizeof *v.items * (o.n ? o.n : 1));
			if (v.items == NULL)
				return vnone();
			for (size_t i = 0; i < o.n; i++)
				v.items[v.nitems++] = vstr(o.s + i, 1, 1);
			v.obf = 1;
			return v;
		}
		return vnone();
	}
	if (ieq(t, "string")) {
		const char *s;
		size_t sn;
		if (o.kind == V_BYTES)
			return vnone();
		return as_str(c, &o, &s, &sn) ? vstr(s, sn, o.obf) : vnone();
	}
	if (ieq(t, "int") || ieq(t, "byte") || ieq(t, "int32") || ieq(t, "long")) {
		double d;
		if (o.kind == V_STR && o.n >= 1 && !isdigit((unsigned char)o.s[0]) && o.n <= 4) {
			uint32_t cp;
			size_t l = lbx_utf8_len((const unsigned char *)o.s, o.n, &cp);
			if (l == o.n) {
				psval v = vnone();
				v.kind = V_NUM;
				v.num = cp;
				return v;
			}
		}
		if (to_num(&o, &d)) {
			psval v = vnone();
			v.kind = V_NUM;
			v.num = d;
			return v;
		}
		return vnone();
	}
	if (ieq(t, "scriptblock") && o.kind == V_STR) {
		o.code = 1;
		return o;
	}
	return o.kind == V_STR ? o : vnone();
}

/* Folds an expression to a constant where it can; V_NONE otherwise. Pure: no findings. */
static psval
eval(pctx *c, const ps_node *n, int depth)
{
	if (n == NULL || depth > PA_MAX_WALK || c->budget <= 0)
		return vnone();
	c->budget--;
	/* folding builds strings: past a memory bound (re-folding long concatenations is
	 * quadratic) it stops, and what is left is simply not known */
	if ((c->budget & 63) == 0 && lb_arena_used(c->a) > c->mem_cap) {
		c->budget = 0;
		return vnone();
	}
	switch (n->kind) {
	case PS_STR:
		return vstr(n->text, n->len, (n->flags & PS_F_ESCAPED) != 0);
	case PS_NUM: {
		psval v = vnone();
		char *e;
		const char *t = n->text;
		double d = (t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) ?
		    (double)strtoll(t + 2, &e, 16) : strtod(t, &e);
		v.kind = V_NUM;
		v.num = d;
		return v;
	}
	case PS_XSTR: {
		buf b;
		int obf = 0, dl = 0;
		buf_init(&b, PA_MAX_STR);
		for (const ps_node *k = n->kid; k; k = k->next) {
			psval x = eval(c, k, depth + 1);
			const char *s;
			size_t sn;
			dl |= x.dl;
			if (!as_str(c, &x, &s, &sn) || buf_put(&b, s, sn)) {
				buf_free(&b);
				psval v = vnone();
				v.dl = dl;
				return v;
			}
			obf |= x.obf;
		}
		psval v = vstr(lb_arena_strndup(c->a, b.data ? (const char *)b.data : "", b.len),
		    b.len, obf || (n->flags & PS_F_ESCAPED));
		buf_free(&b);
		return v.s ? v : vnone();
	}
	case PS_VAR: {
		if (n->flags & PS_F_SPLAT)
			return vnone();
		pvar *p = var_get(c, n->text);
		if (p)
			return p->v;
		for (size_t i = 0; known_vars[i].name; i++)
			if (ieq(known_vars[i].name, n->text))
				return vstr(known_vars[i].val, strlen(known_vars[i].val), 0);
		return vnone();
	}
	case PS_ARRAY:
		return eval_args_array(c, n, depth);
	case PS_PAREN:
	case PS_SUBEXPR: {
		const ps_node *k = n->kid;
		while (k && k->kind == PS_STMTS && k->kid && !k->kid->next)
			k = k->kid;
		if (k && k->kind == PS_PIPE && k->kid && !k->kid->next && k->kid->kind != PS_CMD)
			return eval(c, k->kid, depth + 1);
		if (k && k->kind == PS_PIPE) {
			/* a pipeline's output: from the network when its last command downloads */
			psval v = vnone();
			const ps_node *last = k->kid;
			while (last && last->next)
				last = last->next;
			if (last && last->kind == PS_CMD && last->kid) {
				psval nm = eval(c, last->kid, depth + 1);
				if (nm.kind == V_STR) {
					const char *s = nm.s;
					const wk_spec *sp = winkb_lookup(c->w, s, nm.n);
					if (sp && sp->handler && !strcmp(sp->handler, "download"))
						v.dl = 1;
				}
			}
			return v;
		}
		if (k && k->kind == PS_ASSIGN && k->kid && k->kid->next)
			return eval(c, k->kid->next, depth + 1);
		return vnone();
	}
	case PS_BLOCK: {
		psval v = vstr(src_of(c, n->span), n->span.end - n->span.start, 0);
		v.code = 1;
		if (v.n >= 2 && v.s) {
			v.s++;
			v.n -= 2;
		}
		return v;
	}
	case PS_TYPE: {
		psval v = vnone();
		v.kind = V_TYPE;
		v.s = n->text;
		v.n = n->len;
		return v;
	}
	case PS_MEMBER: {
		psval o = eval(c, n->kid, depth + 1);
		psval m = n->kid ? eval(c, n->kid->next, depth + 1) : vnone();
		if (m.kind != V_STR)
			return vnone();
		if (o.kind == V_TYPE && (type_is(o.s, "text.encoding") ||
		    type_is(o.s, "text.unicodeencoding"))) {
			psval v = vnone();
			v.kind = V_ENC;
			if (!strncasecmp(m.s, "unicode", m.n) && m.n == 7)
				v.enc = ENC_UNICODE;
			else if (m.n == 16 && !strncasecmp(m.s, "bigendianunicode", 16))
				v.enc = ENC_BIGENDIAN;
			else
				v.enc = ENC_UTF8;
			return v;
		}
		if (o.kind == V_STR && m.n == 6 && !strncasecmp(m.s, "length", 6)) {
			psval v = vnone();
			v.kind = V_NUM;
			v.num = (double)o.n;
			return v;
		}
		psval v = vnone();
		v.dl = o.dl;
		return v;
	}
	case PS_CALL:
		return eval_call(c, n, depth);
	case PS_INDEX: {
		psval o = eval(c, n->kid, depth + 1);
		psval ix = n->kid ? eval(c, n->kid->next, depth + 1) : vnone();
		return index_val(c, &o, &ix);
	}
	case PS_BINOP:
		return eval_binop(c, n, depth);
	case PS_UNOP: {
		psval o = eval(c, n->kid, depth + 1);
		if (!strcmp(n->text, "-join"))
			return join_vals(c, &o, "", 0);
		if (!strcmp(n->text, "-") && o.kind == V_NUM) {
			o.num = -o.num;
			return o;
		}
		if (!strcmp(n->text, "-split") && o.kind == V_STR)
			return split_str(c, &o, " ", 1);
		return vnone();
	}
	case PS_CAST:
		return eval_cast(c, n, depth);
	case PS_PIPE:
		if (n->kid && !n->kid->next && n->kid->kind != PS_CMD)
			return eval(c, n->kid, depth + 1);
		return vnone();
	default:
		return vnone();
	}
}

/* ---- signatures --------------------------------------------------------------------- */

static void
scan_sigs(pctx *c, const char *s, size_t n, lb_span sp)
{
	const wk_sig *sigs;
	size_t ns = winkb_sigs(c->w, &sigs);
	if (ns == 0 || n == 0)
		return;
	char *lc = lower(c, s, n);
	int64_t *pos = lb_arena_alloc_raw(c->a, sizeof *pos * ns, 8);
	if (lc == NULL || pos == NULL)
		return;
	winkb_sig_scan(c->w, lc, n, pos);
	for (size_t i = 0; i < ns; i++) {
		if (pos[i] < 0)
			continue;
		int seen = 0;
		for (const lbx_finding *f = c->r->findings; f && !seen; f = f->next)
			seen = !strcmp(f->id, sigs[i].id);
		if (seen)
			continue;
		lb_span fs = sp;
		if (!c->nested && sp.end - sp.start == n && (size_t)pos[i] < n) {
			/* point at the match itself (substring patterns) */
			size_t ml = 0;
			for (uint16_t j = 0; j < sigs[i].match.n && !ml; j++) {
				size_t l = strlen(sigs[i].match.v[j]);
				if (!strchr(sigs[i].match.v[j], '*') && (size_t)pos[i] + l <= n &&
				    !memcmp(lc + pos[i], sigs[i].match.v[j], l))
					ml = l;
			}
			fs.start = sp.start + (uint32_t)pos[i];
			fs.end = fs.start + (uint32_t)(ml ? ml : 1);
		}
		finding(c, sigs[i].id, sigs[i].risk, sigs[i].cats ?
		    __builtin_ctz(sigs[i].cats) : -1, fs, sigs[i].message);
		risk(c, sigs[i].risk, sigs[i].cats, &sigs[i].attack);
		if (sigs[i].opaque)
			c->r->opaque = 1;
		if (sigs[i].risk >= LOCKBOX_RISK_MEDIUM)
			sentence(c, 55 + sigs[i].risk * 5, FMT("%s.", sigs[i].message));
	}
}

/* ---- commands ----------------------------------------------------------------------- */

typedef struct warg {
	const char *param;    /* parameter name without the dash (lower-cased), or NULL */
	const char *raw;      /* cmd.exe: the option word as written (/c, -enc) */
	const char *val;      /* the value's text, or NULL when unknown */
	size_t vlen;
	const char *stext;    /* unknown value: its source text, for rules that match words
	                       * (-Identity (Get-ADGroup 'Domain Admins')) */
	psval v;
	const ps_node *n;     /* PowerShell node, or NULL for cmd.exe words */
	lb_span span;
} warg;

typedef struct cin {
	int dl;               /* the input comes from the network */
	psval val;            /* a constant piped in */
	int has_val;
	const warg *pav;      /* the previous command's arguments (Get-Service X | Stop-Service) */
	size_t pna;
	int piped;            /* a command or value comes before it in the pipeline */
	int obf;              /* an unknown value piped in was built in a disguised way */
} cin;

typedef struct cout {
	int dl;
	const warg *av;
	size_t na;
} cout;

static void analyze_ps_text(pctx *c, const char *text, size_t n, lb_span sp, int obf,
    const char *why);
static void analyze_cmd_text(pctx *c, const char *text, size_t n, lb_span sp);
static void walk_stmt(pctx *c, const ps_node *n);
static void walk_expr(pctx *c, const ps_node *n, int folded);

static int
param_is(const char *given, const char *full, size_t minlen)
{
	/* PowerShell accepts any unambiguous prefix: -enc, -EncodedC, -ec (alias) */
	size_t gl = strlen(given);
	if (gl < minlen || gl > strlen(full))
		return 0;
	return !strncasecmp(given, full, gl);
}

static const char *
basename_lc(pctx *c, const char *s, size_t n, int *has_dir)
{
	size_t st = 0;
	*has_dir = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\\' || s[i] == '/') {
			st = i + 1;
			*has_dir = 1;
		}
	char *b = lower(c, s + st, n - st);
	if (b == NULL)
		return NULL;
	size_t bl = strlen(b);
	if (bl > 4 && (!strcmp(b + bl - 4, ".exe") || !strcmp(b + bl - 4, ".com")))
		b[bl - 4] = 0;
	return b;
}

static int
system_dir(const char *lc)
{
	static const char *const dirs[] = { "c:\\windows\\system32\\", "c:\\windows\\syswow64\\",
		"c:\\windows\\", "%windir%\\", "%systemroot%\\", "c:\\windows\\system32\\wbem\\",
		"c:\\windows\\system32\\windowspowershell\\v1.0\\", "$env:windir\\",
		"$env:systemroot\\", "c:\\program files\\powershell\\7\\", NULL };
	for (size_t i = 0; dirs[i]; i++) {
		size_t l = strlen(dirs[i]);
		if (!strncmp(lc, dirs[i], l) && strchr(lc + l, '\\') == NULL)
			return 1;
	}
	/* C:\Windows\Microsoft.NET\Framework64\v4.0.30319\MSBuild.exe is still msbuild, but
	 * C:\Windows\Temp\x.exe is a dropped program */
	if ((!strncmp(lc, "c:\\windows\\", 11) || !strncmp(lc, "%windir%\\", 9) ||
	    !strncmp(lc, "%systemroot%\\", 13)) && !strstr(lc, "\\temp\\") &&
	    !strstr(lc, "\\tasks\\") && !strstr(lc, "\\tracing\\") && !strstr(lc, "\\debug\\"))
		return 1;
	return 0;
}

/* Fills a spec's explain template: {arg} first positional value, {args} all of them,
 * {name} the command. A missing value drops the placeholder and the blank before it. */
static const char *
fill(pctx *c, const char *tpl, const char *name, const warg *av, size_t na, int piped)
{
	const char *first = NULL;
	buf all;
	buf_init(&all, 4096);
	for (size_t i = 0; i < na; i++) {
		if (av[i].param || !av[i].val)
			continue;
		if (!first)
			first = shown(c, av[i].val, av[i].vlen);
		if (all.len < 200) {
			if (all.len)
				buf_puts(&all, ", ");
			buf_puts(&all, shown(c, av[i].val, av[i].vlen));
		}
	}
	if (!first) {
		/* -Name X / -Path X: the first parameter's value */
		for (size_t i = 0; i + 1 < na && !first; i++)
			if (av[i].param && !av[i + 1].param && av[i + 1].val)
				first = shown(c, av[i + 1].val, av[i + 1].vlen);
	}
	buf o;
	buf_init(&o, 8192);
	for (const char *p = tpl; *p;) {
		const char *rep = NULL;
		size_t skip = 0;
		if (!strncmp(p, "{arg}", 5)) {
			rep = first;
			skip = 5;
		} else if (!strncmp(p, "{args}", 6)) {
			rep = all.len ? buf_cstr(&all) : first;
			skip = 6;
		} else if (!strncmp(p, "{name}", 6)) {
			rep = name;
			skip = 6;
		}
		if (skip) {
			if (rep) {
				buf_puts(&o, rep);
			} else if (o.len && o.data[o.len - 1] == '(' && p[skip] == ')') {
				/* "({args})" with nothing to show: drop the parentheses */
				o.len--;
				if (o.len && o.data[o.len - 1] == ' ')
					o.len--;
				skip++;
			} else if (piped) {
				buf_puts(&o, "(what the pipeline passes to it)");
			} else if (o.len && o.data[o.len - 1] == ' ') {
				o.len--;
			}
			p += skip;
		} else {
			buf_putc(&o, (unsigned char)*p++);
		}
	}
	if (o.len && o.data[o.len - 1] != '.')
		buf_putc(&o, '.');
	const char *res = lb_arena_strndup(c->a, o.data ? (const char *)o.data : "", o.len);
	buf_free(&o);
	buf_free(&all);
	return res;
}

static int
when_matches(const wk_when *w, const warg *av, size_t na, const char *line)
{
	if (w->params.n) {
		int ok = 0;
		for (size_t i = 0; i < na && !ok; i++)
			if (av[i].param)
				for (uint16_t j = 0; j < w->params.n && !ok; j++) {
					const char *pn = w->params.v[j];
					if (*pn == '-' || *pn == '/')
						pn++;
					ok = param_is(av[i].param, pn, strlen(av[i].param) >= 2 ? 2 : 1) &&
					    strlen(av[i].param) >= (strlen(pn) < 3 ? strlen(pn) : 3);
				}
		if (!ok)
			return 0;
	}
	if (w->args.n) {
		int ok = 0;
		for (size_t i = 0; i < na && !ok; i++) {
			const char *v = av[i].val ? av[i].val : av[i].stext;
			size_t vn = av[i].val ? av[i].vlen : v ? strlen(v) : 0;
			if (!v)
				continue;
			for (uint16_t j = 0; j < w->args.n && !ok; j++) {
				/* arguments are matched lower-cased */
				char tmp[512];
				size_t l = vn < sizeof tmp - 1 ? vn : sizeof tmp - 1;
				for (size_t k = 0; k < l; k++)
					tmp[k] = (char)tolower((unsigned char)v[k]);
				tmp[l] = 0;
				ok = wk_glob(w->args.v[j], tmp, l);
			}
		}
		if (!ok)
			return 0;
	}
	if (w->line.n) {
		int ok = 0;
		for (uint16_t j = 0; j < w->line.n && !ok; j++)
			ok = wk_glob(w->line.v[j], line, strlen(line));
		if (!ok)
			return 0;
	}
	return 1;
}

static const char *const access_words[] = { "uses", "reads", "changes", "deletes", "runs" };

static void
sensitive_args(pctx *c, const warg *av, size_t na, int access, lb_span sp)
{
	if (access <= WK_X_NONE || access > WK_X_EXEC)
		return;
	for (size_t i = 0; i < na; i++) {
		if (!av[i].val || av[i].vlen == 0 || av[i].vlen > 1024)
			continue;
		char *lc = lower(c, av[i].val, av[i].vlen);
		const wk_sens *hit[4];
		size_t nh = lc ? winkb_sensitive(c->w, lc, hit, 4) : 0;
		for (size_t k = 0; k < nh; k++) {
			if (hit[k]->risk[access] == KB_RISK_UNSET)
				continue;
			kb_cats cats = hit[k]->cats[access];
			finding(c, "sensitive-location", hit[k]->risk[access],
			    cats ? __builtin_ctz(cats) : -1, av[i].n ? av[i].n->span : av[i].span,
			    FMT("%s %s (%s)", access == WK_X_READ ? "Reads" : access == WK_X_WRITE ?
			        "Changes" : access == WK_X_DELETE ? "Deletes" : "Runs",
			        shown(c, av[i].val, av[i].vlen), hit[k]->describe));
			risk(c, hit[k]->risk[access], cats, &hit[k]->attack[access]);
			sentence(c, 50, FMT("%s %s.", access == WK_X_READ ? "Reads" :
			    access == WK_X_WRITE ? "Changes" : access == WK_X_DELETE ? "Deletes" : "Runs",
			    hit[k]->describe));
		}
	}
	(void)sp;
	(void)access_words;
}

/* The code argument of powershell.exe / Invoke-Expression: -Command/-c value or the rest. */
/* Analyzes the arguments from i on, joined as one PowerShell command line ("-Name" for a
 * parameter). Returns 0 when that is just "-" (the command comes from standard input),
 * else 1. A part not known until run time makes it dynamic code (tagged T1059.001 when
 * tag_unknown). */
static int
run_rest(pctx *c, const char *prog, const warg *av, size_t i, size_t na, lb_span sp,
    int tag_unknown)
{
	buf b;
	buf_init(&b, PA_MAX_STR);
	int known = 1;
	for (size_t k = i; k < na; k++) {
		if (k > i)
			buf_putc(&b, ' ');
		if (av[k].param) {
			buf_putc(&b, '-');
			buf_puts(&b, av[k].param);
		} else if (av[k].val)
			buf_put(&b, av[k].val, av[k].vlen);
		else
			known = 0;
	}
	if (!strcmp(buf_cstr(&b), "-")) {
		buf_free(&b);
		return 0;
	}
	if (known)
		analyze_ps_text(c, (const char *)buf_cstr(&b), b.len, sp, 0, NULL);
	else {
		finding(c, "dynamic-code", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, sp,
		    FMT("%s runs a command built at run time", prog));
		if (tag_unknown)
			attack(c, "T1059.001");
	}
	buf_free(&b);
	return 1;
}

static void
h_powershell(pctx *c, const char *prog, const warg *av, size_t na, lb_span sp, const cin *in)
{
	int have_code = 0, hidden = 0, bypass = 0;
	for (size_t i = 0; i < na; i++) {
		const char *p = av[i].param;
		if (p == NULL) {
			/* positional: the rest of the line is a command (powershell "Get-Date") */
			have_code |= run_rest(c, prog, av, i, na, sp, 0);
			break;
		}
		if (param_is(p, "encodedcommand", 1) || !strcasecmp(p, "ec") ||
		    !strcasecmp(p, "enc") || !strcasecmp(p, "en") || !strcasecmp(p, "e")) {
			if (i + 1 >= na || av[i + 1].param || !av[i + 1].val) {
				finding(c, "encoded-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
				    "Runs base64-encoded PowerShell that is not given here");
				c->r->opaque = 1;
				break;
			}
			size_t dn = 0;
			char *dec = ps_decode_encoded_command(c->a, av[i + 1].val, av[i + 1].vlen, &dn);
			attack(c, "T1027");
			attack(c, "T1059.001");
			if (dec == NULL) {
				finding(c, "encoded-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
				    "Runs an -EncodedCommand that does not decode to text");
				c->r->opaque = 1;
				break;
			}
			finding(c, "encoded-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
			    FMT("Runs base64-encoded PowerShell (-EncodedCommand) that decodes to: %s",
			        shown(c, dec, dn)));
			sentence(c, 80, FMT("Runs hidden (base64-encoded) PowerShell; decoded it reads \"%s\".",
			    shown(c, dec, dn)));
			analyze_ps_text(c, dec, dn, sp, 0, NULL);
			have_code = 1;
			i++;
			continue;
		}
		if (param_is(p, "command", 1)) {
			i++;
			if (i >= na)
				break;
			/* everything after -Command is the command */
			have_code |= run_rest(c, prog, av, i, na, sp, 1);
			break;
		}
		if (param_is(p, "file", 1)) {
			if (i + 1 < na && av[i + 1].val) {
				risk(c, LOCKBOX_RISK_MEDIUM, KB_CAT(KB_C_CODE_EXEC), NULL);
				sentence(c, 40, FMT("Runs the PowerShell script %s.",
				    shown(c, av[i + 1].val, av[i + 1].vlen)));
				const char *lcv = lower(c, av[i + 1].val, av[i + 1].vlen);
				if (lcv && (strstr(lcv, "http://") || strstr(lcv, "https://") ||
				    strstr(lcv, "\\\\"))) {
					finding(c, "remote-script", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, sp,
					    "Runs a script from a network location");
				}
			}
			have_code = 1;
			break;
		}
		if (param_is(p, "windowstyle", 1) && i + 1 < na && av[i + 1].val) {
			if (!strncasecmp(av[i + 1].val, "hidden", av[i + 1].vlen) ||
			    !strcmp(av[i + 1].val, "1")) {
				finding(c, "hidden-window", LOCKBOX_RISK_MEDIUM, KB_C_OBFUSCATION, sp,
				    "Runs PowerShell in a hidden window");
				attack(c, "T1564.003");
				hidden = 1;
			}
			i++;
			continue;
		}
		if ((param_is(p, "executionpolicy", 2) || !strcasecmp(p, "ep") || !strcasecmp(p, "ex")) &&
		    i + 1 < na && av[i + 1].val) {
			if (!strncasecmp(av[i + 1].val, "bypass", 6) ||
			    !strncasecmp(av[i + 1].val, "unrestricted", 12)) {
				finding(c, "execution-policy-bypass", LOCKBOX_RISK_MEDIUM,
				    KB_C_SECURITY_DISABLE, sp,
				    "Turns off PowerShell's script execution policy for this run");
				bypass = 1;
			}
			i++;
			continue;
		}
		if (param_is(p, "version", 1) || param_is(p, "inputformat", 2) ||
		    param_is(p, "outputformat", 2) || param_is(p, "configurationname", 3) ||
		    param_is(p, "workingdirectory", 2) || param_is(p, "psconsolefile", 2)) {
			i++;
			continue;
		}
	}
	if (hidden && bypass) {
		finding(c, "stealth-launch", LOCKBOX_RISK_HIGH, KB_C_SECURITY_DISABLE, sp,
		    "Starts PowerShell hidden and with script checks off, as malware launchers do");
		attack(c, "T1059.001");
	}
	if (!have_code && in && in->has_val) {
		const char *s;
		size_t n;
		if (as_str(c, &in->val, &s, &n))
			analyze_ps_text(c, s, n, sp, 0, NULL);
	} else if (!have_code && in && in->dl) {
		finding(c, "download-exec", LOCKBOX_RISK_CRITICAL, KB_C_CODE_EXEC, sp,
		    "Code downloaded from the network is run by PowerShell");
		risk(c, LOCKBOX_RISK_CRITICAL, KB_CAT(KB_C_NETWORK_DOWNLOAD), NULL);
		c->r->opaque = 1;
	}
}

/* Invoke-Expression, [scriptblock]::Create(...).Invoke(), & ([scriptblock]...). */
static void
run_code(pctx *c, const char *prog, const psval *v, const ps_node *n, lb_span sp, int in_dl)
{
	attack(c, "T1059.001");
	if (v->dl || in_dl) {
		finding(c, "download-exec", LOCKBOX_RISK_CRITICAL, KB_C_CODE_EXEC, sp,
		    FMT("%s runs code downloaded from the network (a download cradle)", prog));
		risk(c, LOCKBOX_RISK_CRITICAL, KB_CAT(KB_C_NETWORK_DOWNLOAD), NULL);
		attack(c, "T1105");
		sentence(c, 95, "Downloads code from the network and runs it immediately, so what "
		    "runs cannot be reviewed.");
		c->r->opaque = 1;
		return;
	}
	const char *s;
	size_t len;
	if (v->kind == V_BYTES) {
		finding(c, "dynamic-code", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
		    FMT("%s runs decoded binary data", prog));
		c->r->opaque = 1;
		return;
	}
	if (!as_str(c, v, &s, &len)) {
		if (v->obf) {
			finding(c, "obfuscated-code", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
			    FMT("%s runs code assembled at run time in a disguised way", prog));
			attack(c, "T1027");
		}
		finding(c, "dynamic-code", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, sp,
		    FMT("%s runs code that is built at run time", prog));
		sentence(c, 80, FMT("Runs PowerShell code that is only known when it runs (%s).", prog));
		return;
	}
	(void)n;
	analyze_ps_text(c, s, len, sp, v->obf, prog);
}

static int
ends_with_ci(const char *s, size_t n, const char *suf)
{
	size_t l = strlen(suf);
	return n >= l && !strncasecmp(s + n - l, suf, l);
}

/* A download of a program or script, or into a folder programs are dropped in. */
static void
download_target(pctx *c, const char *prog, const warg *av, size_t na, lb_span sp)
{
	static const char *const exts[] = { ".exe", ".dll", ".ps1", ".bat", ".cmd", ".vbs",
		".hta", ".msi", ".scr", ".sct", ".js", ".jse", ".psm1", ".lnk", ".b64", NULL };
	for (size_t i = 0; i < na; i++) {
		if (!av[i].val || av[i].vlen < 5)
			continue;
		int hit = 0;
		for (size_t k = 0; exts[k] && !hit; k++)
			hit = ends_with_ci(av[i].val, av[i].vlen, exts[k]);
		if (!hit)
			continue;
		finding(c, "download-program", LOCKBOX_RISK_HIGH, KB_C_NETWORK_DOWNLOAD, sp,
		    FMT("%s downloads a program or script (%s)", prog, shown(c, av[i].val, av[i].vlen)));
		attack(c, "T1105");
		sentence(c, 70, FMT("Downloads the program or script %s.", shown(c, av[i].val,
		    av[i].vlen)));
		return;
	}
}

/* Runs one command (PowerShell command or native tool) given its name and arguments. */
static void
do_command(pctx *c, const char *rawname, size_t rawlen, int name_obf, const warg *av,
    size_t na, lb_span sp, const cin *in, cout *out)
{
	int has_dir = 0;
	const char *name = basename_lc(c, rawname, rawlen, &has_dir);
	if (name == NULL)
		return;
	char *rawlc = lower(c, rawname, rawlen);
	lbx_cmd *cmd = lbx_add_cmd(c->r, lb_arena_strndup(c->a, rawname, rawlen), SP(c, sp));
	if (cmd) {
		cmd->argv = lb_arena_alloc(c->a, sizeof *cmd->argv * (na + 1));
		if (cmd->argv) {
			cmd->argv[0] = cmd->program;
			cmd->argc = 1;
			for (size_t i = 0; i < na; i++) {
				const char *s = av[i].raw ? av[i].raw : av[i].param ? FMT("-%s", av[i].param) :
				    av[i].val ? lb_arena_strndup(c->a, av[i].val, av[i].vlen) :
				    av[i].n ? src_of(c, av[i].n->span) : "?";
				cmd->argv[cmd->argc++] = s ? s : "?";
			}
		}
	}
	if (name_obf) {
		finding(c, "obfuscated-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
		    FMT("The command name is disguised; it is really %s", shown(c, rawname, rawlen)));
		attack(c, "T1027");
		sentence(c, 85, FMT("Hides the name of the command it runs (%s).",
		    shown(c, rawname, rawlen)));
	}
	/* the whole command line, lower-cased, for line rules */
	buf lb;
	buf_init(&lb, PA_MAX_STR);
	buf_puts(&lb, name);
	for (size_t i = 0; i < na; i++) {
		buf_putc(&lb, ' ');
		if (av[i].raw) {
			buf_puts(&lb, av[i].raw);
		} else if (av[i].param) {
			buf_putc(&lb, '-');
			buf_puts(&lb, av[i].param);
		} else if (av[i].val) {
			buf_put(&lb, av[i].val, av[i].vlen);
		} else {
			buf_putc(&lb, '?');
		}
	}
	char *line = lower(c, lb.data ? (const char *)lb.data : "", lb.len);
	buf_free(&lb);
	if (line == NULL)
		return;
	for (size_t i = 0; i < na; i++)
		if (av[i].val && cmd)
			for (size_t k = 0; k + 7 < av[i].vlen; k++)
				if (!strncasecmp(av[i].val + k, "http://", 7) ||
				    !strncasecmp(av[i].val + k, "https://", 8)) {
					lbx_add_effect(c->r, cmd, "network-connect",
					    lb_arena_strndup(c->a, av[i].val + k, av[i].vlen - k));
					break;
				}

	const wk_spec *spec = NULL;
	const wk_verb *verb = NULL;
	int local = 0;
	if (has_dir && rawlc && !system_dir(rawlc)) {
		/* a program under Program Files keeps its rules (MpCmdRun.exe), and so does a
		 * known attack tool wherever it was copied (C:\Users\Public\nc.exe) */
		const wk_spec *sp2 = winkb_lookup(c->w, name, strlen(name));
		if (sp2 && (!strncmp(rawlc, "c:\\program files\\", 17) ||
		    !strncmp(rawlc, "c:\\program files (x86)\\", 23) ||
		    !strncmp(rawlc, "c:\\programdata\\microsoft\\windows defender\\", 43) ||
		    (sp2->risk >= LOCKBOX_RISK_HIGH && !sp2->handler)))
			spec = sp2;
		else
			local = 1;
	} else {
		spec = winkb_lookup(c->w, name, strlen(name));
		if (spec == NULL)
			verb = winkb_verb(c->w, name, strlen(name));
	}
	size_t nl = strlen(name);
	if (!spec && (local || (nl > 4 && (!strcmp(name + nl - 4, ".ps1") ||
	    !strcmp(name + nl - 4, ".bat") || !strcmp(name + nl - 4, ".cmd") ||
	    !strcmp(name + nl - 4, ".vbs") || !strcmp(name + nl - 3, ".js") ||
	    !strcmp(name + nl - 4, ".hta"))))) {
		finding(c, "local-program", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, sp,
		    FMT("Runs the program or script %s, whose content is not shown",
		        shown(c, rawname, rawlen)));
		lbx_add_effect(c->r, cmd, "exec", lb_arena_strndup(c->a, rawname, rawlen));
		sentence(c, 30, FMT("Runs the program or script %s.", shown(c, rawname, rawlen)));
		const char *hit[] = { "\\temp\\", "\\appdata\\", "\\public\\", "\\programdata\\",
			"\\downloads\\", "\\\\", "$env:temp", "%temp%", "$env:appdata", "%appdata%",
			"$env:public", NULL };
		for (size_t i = 0; rawlc && hit[i]; i++)
			if (strstr(rawlc, hit[i])) {
				finding(c, "temp-program", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, sp,
				    "Runs a program from a temporary, user-writable or network folder");
				attack(c, "T1204.002");
				break;
			}
		return;
	}
	/* Get-Service WinDefend | Stop-Service: the objects piped in are named by the
	 * previous command's plain arguments; rules about arguments see them too */
	const warg *mav = av;
	size_t mna = na;
	cin bin;
	if ((!in || !in->pna) && c->block_pav) {
		memset(&bin, 0, sizeof bin);
		if (in)
			bin = *in;
		bin.pav = c->block_pav;
		bin.pna = c->block_pna;
		in = &bin;
	}
	if (in && in->pna) {
		warg *m = lb_arena_alloc_raw(c->a, sizeof *m * (na + in->pna), 16);
		if (m) {
			size_t k = 0;
			for (size_t i = 0; i < na; i++)
				m[k++] = av[i];
			for (size_t i = 0; i < in->pna; i++)
				if (!in->pav[i].param && in->pav[i].val)
					m[k++] = in->pav[i];
			mav = m;
			mna = k;
		}
	}
	if (out) {
		out->av = av;
		out->na = na;
	}
	int readonly = 0, access = WK_X_NONE;
	/* -WhatIf: PowerShell only reports what the command would do */
	int whatif = 0;
	for (size_t i = 0; i < na; i++)
		if (av[i].param && !strcmp(av[i].param, "whatif") &&
		    !(av[i].n && av[i].n->kind == PS_PARAM && av[i].n->kid))
			whatif = 1;
	if (whatif && (spec || verb)) {
		risk(c, LOCKBOX_RISK_NONE, 0, NULL);
		sentence(c, 30, FMT("Only shows what %s would do, without doing it (-WhatIf).",
		    shown(c, rawname, rawlen)));
		return;
	}
	if (spec) {
		int base = spec->risk == KB_RISK_UNSET ? LOCKBOX_RISK_LOW : spec->risk;
		kb_cats cats = spec->cats;
		const kb_strs *att = &spec->attack;
		access = spec->access < 0 ? WK_X_NONE : spec->access;
		readonly = spec->readonly == 1;
		/* a read-only when entry (reg query, schtasks /query) caps the program */
		for (uint16_t i = 0; i < spec->nwhen; i++)
			if (spec->when[i].readonly == 1 && when_matches(&spec->when[i], mav, mna, line)) {
				readonly = 1;
				access = WK_X_READ;
				break;
			}
		if (readonly) {
			if (base > LOCKBOX_RISK_NONE)
				base = LOCKBOX_RISK_NONE;
			cats = 0;
			att = NULL;
		}
		risk(c, base, cats, att);
		int said = 0;
		for (uint16_t i = 0; i < spec->nwhen; i++) {
			const wk_when *w = &spec->when[i];
			if (w->readonly == 1 || !when_matches(w, mav, mna, line))
				continue;
			if (w->message) {
				finding(c, w->id ? w->id : "rule", w->risk == KB_RISK_UNSET ? base : w->risk,
				    w->cats ? __builtin_ctz(w->cats) : -1, sp, w->message);
			}
			risk(c, w->risk, w->cats, &w->attack);
			if (w->explain) {
				sentence(c, 60 + (w->risk > 0 ? w->risk * 5 : 0), fill(c, w->explain,
				    shown(c, rawname, rawlen), av, na, in && in->piped));
				said = 1;
			} else if (w->message && w->risk >= LOCKBOX_RISK_HIGH) {
				sentence(c, 60 + w->risk * 5, FMT("%s.", w->message));
				said = 1;
			}
		}
		if (!said) {
			if (spec->explain)
				sentence(c, 30, fill(c, spec->explain, shown(c, rawname, rawlen), av, na,
				    in && in->piped));
			else
				sentence(c, 30, FMT("Runs %s (%s).", spec->name, spec->describe));
		}
		if (spec->handler) {
			const char *h = spec->handler;
			if (!strcmp(h, "powershell")) {
				h_powershell(c, spec->name, av, na, sp, in);
			} else if (!strcmp(h, "iex")) {
				const warg *code = NULL;
				for (size_t i = 0; i < na; i++) {
					if (av[i].param && param_is(av[i].param, "command", 1) && i + 1 < na) {
						code = &av[i + 1];
						break;
					}
					if (!av[i].param) {
						code = &av[i];
						break;
					}
				}
				if (code)
					run_code(c, spec->name, &code->v, code->n, sp, in ? in->dl : 0);
				else if (in && (in->dl || in->has_val))
					run_code(c, spec->name, &in->val, NULL, sp, in->dl);
				else {
					psval none = vnone();
					none.obf = in && in->obf;
					run_code(c, spec->name, &none, NULL, sp, 0);
				}
			} else if (!strcmp(h, "cmd")) {
				for (size_t i = 0; i < na; i++) {
					const char *v = av[i].param ? av[i].param : av[i].val;
					if (!v)
						continue;
					if (av[i].param && (!strcasecmp(v, "c") || !strcasecmp(v, "k") ||
					    !strcasecmp(v, "r"))) {
						buf b;
						buf_init(&b, PA_MAX_STR);
						for (size_t k = i + 1; k < na; k++) {
							if (k > i + 1)
								buf_putc(&b, ' ');
							if (av[k].param) {
								buf_putc(&b, '/');
								buf_puts(&b, av[k].param);
							} else if (av[k].val)
								buf_put(&b, av[k].val, av[k].vlen);
						}
						analyze_cmd_text(c, (const char *)buf_cstr(&b), b.len, sp);
						buf_free(&b);
						break;
					}
				}
			} else if (!strcmp(h, "start-process") && na && av[0].n == NULL) {
				/* cmd.exe start [/b /min /wait ...] ["title"] PROGRAM ARGS... */
				size_t i = 0;
				while (i < na && av[i].param)
					i++;
				if (i < na && av[i].val && av[i].vlen == 0)
					i++; /* start "" prog */
				buf b;
				buf_init(&b, PA_MAX_STR);
				for (size_t k = i; k < na; k++) {
					if (k > i)
						buf_putc(&b, ' ');
					const char *v = av[k].raw ? av[k].raw : av[k].val;
					size_t vl = av[k].raw ? strlen(av[k].raw) : av[k].vlen;
					int q = v && memchr(v, ' ', vl) != NULL;
					if (q)
						buf_putc(&b, '"');
					if (v)
						buf_put(&b, v, vl);
					if (q)
						buf_putc(&b, '"');
				}
				if (b.len)
					analyze_cmd_text(c, (const char *)buf_cstr(&b), b.len, sp);
				buf_free(&b);
			} else if (!strcmp(h, "start-process")) {
				const char *file = NULL, *args = NULL;
				size_t fl = 0, al = 0;
				for (size_t i = 0; i < na; i++) {
					if (av[i].param && i + 1 < na && !av[i + 1].param) {
						if (param_is(av[i].param, "filepath", 1)) {
							file = av[i + 1].val;
							fl = av[i + 1].vlen;
							i++;
						} else if (param_is(av[i].param, "argumentlist", 1) ||
						    !strcasecmp(av[i].param, "args")) {
							args = av[i + 1].val;
							al = av[i + 1].vlen;
							i++;
						} else if (param_is(av[i].param, "verb", 2)) {
							i++;
						} else {
							i++;
						}
						continue;
					}
					if (!av[i].param) {
						if (!file) {
							file = av[i].val;
							fl = av[i].vlen;
						} else if (!args) {
							args = av[i].val;
							al = av[i].vlen;
						}
					}
				}
				if (file) {
					buf b;
					buf_init(&b, PA_MAX_STR);
					int q = memchr(file, ' ', fl) != NULL;
					if (q)
						buf_putc(&b, '"');
					buf_put(&b, file, fl);
					if (q)
						buf_putc(&b, '"');
					if (args) {
						buf_putc(&b, ' ');
						buf_put(&b, args, al);
					}
					analyze_cmd_text(c, (const char *)buf_cstr(&b), b.len, sp);
					buf_free(&b);
				}
			} else if (!strcmp(h, "download")) {
				if (out)
					out->dl = 1;
				download_target(c, spec->name, av, na, sp);
				for (size_t i = 0; i < na; i++)
					if (!av[i].param && av[i].val && cmd)
						lbx_add_effect(c->r, cmd, "network-download",
						    lb_arena_strndup(c->a, av[i].val, av[i].vlen));
			}
		}
	} else if (verb) {
		int base = verb->risk == KB_RISK_UNSET ? LOCKBOX_RISK_LOW : verb->risk;
		risk(c, base, verb->cats, NULL);
		access = verb->access < 0 ? WK_X_NONE : verb->access;
		readonly = verb->readonly == 1;
		sentence(c, 30, verb->explain ? fill(c, verb->explain, shown(c, rawname, rawlen), av, na,
		    in && in->piped) :
		    FMT("Runs %s.", shown(c, rawname, rawlen)));
	} else {
		risk(c, LOCKBOX_RISK_LOW, 0, NULL);
		sentence(c, 25, FMT("Runs %s, a command lockbox does not know.",
		    shown(c, rawname, rawlen)));
	}
	sensitive_args(c, av, na, access, sp);
	(void)readonly;
}

/* Builds the argument list of a PowerShell command node. */
static size_t
ps_args(pctx *c, const ps_node *first, warg *av, size_t max, int *dyn)
{
	size_t na = 0;
	*dyn = 0;
	for (const ps_node *k = first; k && na < max; k = k->next) {
		warg *a = &av[na];
		memset(a, 0, sizeof *a);
		a->n = k;
		a->span = k->span;
		if (k->kind == PS_PARAM) {
			a->param = lower(c, k->text, k->len);
			a->raw = FMT("-%s", k->text);
			na++;
			if (k->kid && na < max) {
				warg *b = &av[na];
				memset(b, 0, sizeof *b);
				b->n = k->kid;
				b->span = k->kid->span;
				b->v = eval(c, k->kid, 0);
				const char *s;
				size_t sn;
				if (b->v.kind != V_BYTES && as_str(c, &b->v, &s, &sn)) {
					b->val = s;
					b->vlen = sn;
				}
				na++;
			}
			continue;
		}
		if (k->kind == PS_REDIR)
			continue;
		if (k->kind == PS_VAR && (k->flags & PS_F_SPLAT))
			*dyn = 1;
		a->v = eval(c, k, 0);
		const char *s;
		size_t sn;
		if (a->v.kind != V_BYTES && as_str(c, &a->v, &s, &sn)) {
			a->val = s;
			a->vlen = sn;
		} else if (k->kind == PS_PAREN || k->kind == PS_SUBEXPR) {
			a->stext = src_of(c, k->span);
		}
		na++;
	}
	return na;
}

static void
walk_cmd(pctx *c, const ps_node *n, const cin *in, cout *out)
{
	const ps_node *nm = n->kid;
	if (nm == NULL)
		return;
	/* arguments are walked for what runs inside them ($(...), script blocks); a
	 * -Filter { Enabled -eq $false } block is a query, not code. In ForEach-Object's
	 * block, $_ is what the previous command named (Get-Process lsass | % { ... $_ }) */
	const void *sv_bpav = c->block_pav;
	size_t sv_bpna = c->block_pna;
	if (in && in->pna && nm->kind == PS_STR) {
		const wk_spec *fs = winkb_lookup(c->w, nm->text, nm->len);
		if (fs && (!strcasecmp(fs->name, "ForEach-Object"))) {
			c->block_pav = in->pav;
			c->block_pna = in->pna;
		}
	}
	int skip_block = 0;
	for (const ps_node *k = nm->next; k; k = k->next) {
		int was_skip = skip_block;
		skip_block = k->kind == PS_PARAM && k->kid == NULL &&
		    (!strcasecmp(k->text, "filter") || !strcasecmp(k->text, "ldapfilter"));
		if (was_skip && k->kind == PS_BLOCK)
			continue;
		if (k->kind == PS_PARAM && k->kid && k->kid->kind == PS_BLOCK &&
		    !strcasecmp(k->text, "filter"))
			continue;
		if (k->kind == PS_REDIR) {
			if (k->kid) {
				psval v = eval(c, k->kid, 0);
				if (v.kind == V_STR && c->r->cmds_tail)
					lbx_add_effect(c->r, c->r->cmds_tail, "file-write", v.s);
				walk_expr(c, k->kid, 0);
			}
			continue;
		}
		walk_expr(c, k->kind == PS_PARAM ? k->kid : k, 0);
	}
	c->block_pav = sv_bpav;
	c->block_pna = sv_bpna;
	if ((n->flags & (PS_F_CALL | PS_F_DOT)) && nm->kind == PS_BLOCK) {
		walk_expr(c, nm, 0);
		return;
	}
	psval v = eval(c, nm, 0);
	if (v.dl) {
		if (nm->kind == PS_PAREN || nm->kind == PS_SUBEXPR)
			walk_expr(c, nm, 0);
		run_code(c, "&", &v, nm, n->span, 0);
		return;
	}
	if (v.kind != V_STR || v.n == 0) {
		if (nm->kind == PS_PAREN || nm->kind == PS_SUBEXPR)
			walk_expr(c, nm, 0);
		const char *st = src_of(c, nm->span);
		char *lst = st ? lower(c, st, strlen(st)) : NULL;
		if (lst && (strstr(lst, "gcm") || strstr(lst, "get-command") ||
		    strstr(lst, "get-alias") || strstr(lst, "getcommandname") ||
		    strstr(lst, "getcmdlet")) && (strchr(lst, '*') || strchr(lst, '?'))) {
			finding(c, "obfuscated-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, n->span,
			    "Finds the command to run by a wildcard pattern, which hides its name");
			attack(c, "T1027");
		}
		finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, n->span,
		    "Runs a command whose name is only known at run time");
		attack(c, "T1059.001");
		sentence(c, 80, "Runs a command whose name is computed when it runs, so what runs "
		    "cannot be known here.");
		return;
	}
	if (v.code) {
		/* & ([scriptblock]::Create('...')) */
		analyze_ps_text(c, v.s, v.n, n->span, v.obf, "&");
		return;
	}
	size_t maxa = 0;
	for (const ps_node *k = nm->next; k && maxa < PA_MAX_ARGS; k = k->next)
		maxa += k->kind == PS_PARAM && k->kid ? 2 : 1;
	warg *av = lb_arena_alloc_raw(c->a, sizeof *av * (maxa ? maxa : 1), 16);
	if (av == NULL) {
		c->r->oom = 1;
		return;
	}
	int dyn = 0;
	size_t na = ps_args(c, nm->next, av, maxa, &dyn);
	int obf = v.obf || (nm->flags & PS_F_ESCAPED);
	if (n->flags & PS_F_DOT) {
		/* dot-sourcing a script file */
		int hd;
		const char *b = basename_lc(c, v.s, v.n, &hd);
		if (b && (hd || strstr(b, ".ps1"))) {
			finding(c, "dot-source", LOCKBOX_RISK_MEDIUM, KB_C_CODE_EXEC, n->span,
			    FMT("Loads and runs the script %s in the current session", shown(c, v.s, v.n)));
		}
	}
	do_command(c, v.s, v.n, obf, av, na, n->span, in, out);
	if (dyn)
		risk(c, LOCKBOX_RISK_LOW, 0, NULL);
}

static void
walk_pipe(pctx *c, const ps_node *n)
{
	cin in;
	memset(&in, 0, sizeof in);
	for (const ps_node *e = n->kid; e; e = e->next) {
		cin next_in;
		memset(&next_in, 0, sizeof next_in);
		if (e->kind == PS_CMD) {
			cout o;
			memset(&o, 0, sizeof o);
			/* 'x' | % { & $_ } : the piped constant is $_ inside the blocks */
			if (in.has_val) {
				var_set(c, "_", in.val);
				var_set(c, "psitem", in.val);
			}
			walk_cmd(c, e, &in, &o);
			if (in.has_val) {
				var_set(c, "_", vnone());
				var_set(c, "psitem", vnone());
			}
			next_in.dl = o.dl;
			next_in.pav = o.av;
			next_in.pna = o.na;
			next_in.piped = 1;
		} else {
			psval v = eval(c, e, 0);
			walk_expr(c, e, 0);
			next_in.dl = v.dl;
			next_in.piped = 1;
			next_in.obf = v.obf;
			if (v.kind == V_STR || v.kind == V_ARR) {
				next_in.val = v;
				next_in.has_val = 1;
			}
		}
		in = next_in;
	}
}

/* Enters one more level of the walk (the caller leaves with c->walk--). 0 when the
 * nesting is too deep: nothing entered, and one finding for the whole command. */
static int
walk_enter(pctx *c, const ps_node *n)
{
	if (++c->walk <= PA_MAX_WALK)
		return 1;
	if (!c->walk_cut) {
		c->walk_cut = 1;
		finding(c, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, n->span,
		    "The command nests too deeply to analyze");
	}
	c->walk--;
	return 0;
}

static void
walk_stmts(pctx *c, const ps_node *n)
{
	for (const ps_node *k = n->kid; k; k = k->next)
		walk_stmt(c, k);
}

static void
walk_stmt(pctx *c, const ps_node *n)
{
	if (n == NULL || !walk_enter(c, n))
		return;
	switch (n->kind) {
	case PS_STMTS:
		walk_stmts(c, n);
		break;
	case PS_PIPE:
		walk_pipe(c, n);
		break;
	case PS_CHAIN:
		walk_stmt(c, n->kid);
		if (n->kid)
			walk_stmt(c, n->kid->next);
		break;
	case PS_ASSIGN: {
		const ps_node *lhs = n->kid, *rhs = lhs ? lhs->next : NULL;
		walk_stmt(c, rhs);
		walk_expr(c, lhs, 0);
		while (lhs && lhs->kind == PS_CAST && lhs->kid)
			lhs = lhs->kid->next;
		if (lhs && lhs->kind == PS_VAR && rhs) {
			psval v = eval(c, rhs, 0);
			if (!strcmp(n->text, "+=")) {
				pvar *p = var_get(c, lhs->text);
				if (p && p->v.kind == V_STR && v.kind == V_STR) {
					char *s = lb_arena_alloc(c->a, p->v.n + v.n + 1);
					if (s) {
						memcpy(s, p->v.s, p->v.n);
						memcpy(s + p->v.n, v.s, v.n);
						v = vstr(s, p->v.n + v.n, 1);
					}
				} else {
					v = vnone();
				}
			}
			var_set(c, lhs->text, v);
			if (!strncasecmp(lhs->text, "env:", 4))
				sentence(c, 30, FMT("Sets the environment variable %s.", lhs->text + 4));
		}
		break;
	}
	case PS_KEYWORD:
		if (!strcmp(n->text, "function") || !strcmp(n->text, "filter")) {
			const ps_node *nm = n->kid;
			if (nm && nm->kind == PS_STR)
				sentence(c, 20, FMT("Defines the function %s.", nm->text));
		}
		for (const ps_node *k = n->kid; k; k = k->next) {
			if (k->kind == PS_STMTS || k->kind == PS_PIPE || k->kind == PS_ASSIGN ||
			    k->kind == PS_KEYWORD || k->kind == PS_CHAIN)
				walk_stmt(c, k);
			else
				walk_expr(c, k, 0);
		}
		break;
	default:
		walk_expr(c, n, 0);
		break;
	}
	c->walk--;
}

static int
is_fold_kind(int k)
{
	return k == PS_BINOP || k == PS_CALL || k == PS_CAST || k == PS_INDEX || k == PS_UNOP ||
	    k == PS_MEMBER;
}

/* Method calls that matter on their own. */
static void
check_call(pctx *c, const ps_node *n)
{
	const ps_node *mem = n->kid;
	if (!mem || mem->kind != PS_MEMBER || !mem->kid || !mem->kid->next)
		return;
	psval mv = eval(c, mem->kid->next, 0);
	if (mv.kind != V_STR)
		return;
	char *m = lower(c, mv.s, mv.n);
	if (m == NULL)
		return;
	if (mv.obf)
		finding(c, "obfuscated-member", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, n->span,
		    FMT("The method name is disguised; it is really %s", shown(c, mv.s, mv.n)));
	psval obj = eval(c, mem->kid, 0);
	const char *url = NULL;
	size_t ul = 0;
	if (mem->next) {
		psval a0 = eval(c, mem->next, 0);
		if (a0.kind == V_STR) {
			url = a0.s;
			ul = a0.n;
		}
	}
	if (!strcmp(m, "downloadstring") || !strcmp(m, "downloaddata") || !strcmp(m, "openread") ||
	    !strcmp(m, "downloadfile") || !strcmp(m, "downloadfileasync") ||
	    !strcmp(m, "downloadstringasync") || !strcmp(m, "getstringasync")) {
		finding(c, "download", LOCKBOX_RISK_HIGH, KB_C_NETWORK_DOWNLOAD, n->span,
		    FMT("Downloads %s from the network%s", url ? shown(c, url, ul) : "data",
		        !strcmp(m, "downloadfile") ? " into a file" : ""));
		attack(c, "T1105");
		sentence(c, 70, FMT("Downloads %s from the network.", url ? shown(c, url, ul) :
		    "content"));
		if (c->r->cmds_tail && url)
			lbx_add_effect(c->r, c->r->cmds_tail, "network-download", url);
	} else if (!strcmp(m, "uploadstring") || !strcmp(m, "uploadfile") ||
	    !strcmp(m, "uploaddata") || !strcmp(m, "uploadvalues")) {
		finding(c, "upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, n->span,
		    "Sends data from this machine to a web server");
		attack(c, "T1041");
	} else if (obj.kind == V_TYPE && (type_is(obj.s, "reflection.assembly")) &&
	    (!strcmp(m, "load") || !strcmp(m, "loadfile") || !strcmp(m, "loadfrom") ||
	    !strcmp(m, "loadwithpartialname"))) {
		if (strcmp(m, "loadwithpartialname") != 0) {
			finding(c, "assembly-load", LOCKBOX_RISK_HIGH, KB_C_CODE_EXEC, n->span,
			    "Loads a .NET program into memory and can run it without a file on disk");
			attack(c, "T1620");
		}
	} else if (obj.kind == V_TYPE && (type_is(obj.s, "diagnostics.process")) &&
	    !strcmp(m, "start")) {
		buf b;
		buf_init(&b, PA_MAX_STR);
		int known = 1;
		size_t i = 0;
		for (const ps_node *k = mem->next; k; k = k->next, i++) {
			psval a = eval(c, k, 0);
			const char *s;
			size_t sn;
			if (!as_str(c, &a, &s, &sn)) {
				known = 0;
				break;
			}
			if (i)
				buf_putc(&b, ' ');
			buf_put(&b, s, sn);
		}
		if (known && b.len)
			analyze_cmd_text(c, (const char *)buf_cstr(&b), b.len, n->span);
		else
			finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, n->span,
			    "Starts a program whose name is only known at run time");
		buf_free(&b);
	} else if (!strcmp(m, "invokescript") || !strcmp(m, "expandstring")) {
		/* $ExecutionContext.InvokeCommand.InvokeScript('...'): Invoke-Expression by
		 * another name */
		finding(c, "hidden-invoke", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, n->span,
		    "Runs code through $ExecutionContext, a way to hide Invoke-Expression");
		attack(c, "T1027");
		psval a0 = mem->next ? eval(c, mem->next, 0) : vnone();
		run_code(c, "InvokeScript", &a0, mem->next, n->span, 0);
	} else if (!strcmp(m, "invoke") || !strcmp(m, "invokereturnasis")) {
		if (obj.dl && obj.code)
			run_code(c, "Invoke", &obj, NULL, n->span, 1);
		else if (obj.kind == V_STR && obj.code)
			analyze_ps_text(c, obj.s, obj.n, n->span, obj.obf, "Invoke");
		else if (obj.kind == V_NONE && mem->kid && mem->kid->kind != PS_BLOCK &&
		    mem->kid->kind != PS_PAREN)
			risk(c, LOCKBOX_RISK_MEDIUM, KB_CAT(KB_C_CODE_EXEC), NULL);
	} else if (!strcmp(m, "setvalue") || !strcmp(m, "getfield")) {
		/* reflection into private fields: only interesting with what the signatures
		 * catch (amsiInitFailed); nothing else to do here */
	} else if (!strcmp(m, "create") && obj.kind == V_TYPE &&
	    type_is(obj.s, "scriptblock")) {
		/* analyzed where it runs */
	}
}

static void
walk_expr(pctx *c, const ps_node *n, int folded)
{
	if (n == NULL || !walk_enter(c, n))
		return;
	if (is_fold_kind(n->kind) && (!folded || c->budget > PA_BUDGET / 2)) {
		/* what a constant expression folds to is checked for known bad text */
		psval v = eval(c, n, 0);
		if (v.kind == V_STR && v.obf && v.n)
			scan_sigs(c, v.s, v.n, n->span);
		else if (v.kind == V_BYTES && v.n) {
			size_t on = 0;
			char *u = ps_utf16le_to_utf8(c->a, (const unsigned char *)v.s, v.n & ~(size_t)1,
			    &on);
			scan_sigs(c, v.s, v.n, n->span);
			if (u)
				scan_sigs(c, u, on, n->span);
		}
	}
	int f2 = folded || is_fold_kind(n->kind);
	switch (n->kind) {
	case PS_PAREN:
	case PS_SUBEXPR:
	case PS_BLOCK:
		for (const ps_node *k = n->kid; k; k = k->next)
			walk_stmt(c, k);
		break;
	case PS_CALL:
		check_call(c, n);
		for (const ps_node *k = n->kid; k; k = k->next)
			walk_expr(c, k, f2);
		break;
	case PS_MEMBER:
		if (n->kid && n->kid->next && n->kid->next->kind != PS_STR) {
			/* .('Down'+'loadFile') : a member name built at run time */
			psval mv = eval(c, n->kid->next, 0);
			if (mv.kind == V_STR && mv.obf) {
				finding(c, "obfuscated-member", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, n->span,
				    FMT("The method name is disguised; it is really %s", shown(c, mv.s, mv.n)));
				attack(c, "T1027");
				if (mv.n >= 8 && !strncasecmp(mv.s, "download", 8)) {
					finding(c, "download", LOCKBOX_RISK_HIGH, KB_C_NETWORK_DOWNLOAD, n->span,
					    "Downloads data from the network");
					attack(c, "T1105");
				}
			} else if (mv.kind != V_STR) {
				finding(c, "dynamic-member", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, n->span,
				    "Uses a method or property whose name is only known at run time");
			}
		}
		for (const ps_node *k = n->kid; k; k = k->next)
			walk_expr(c, k, f2);
		break;
	case PS_PIPE: case PS_STMTS: case PS_ASSIGN: case PS_KEYWORD: case PS_CHAIN:
		walk_stmt(c, n);
		break;
	case PS_CMD:
		walk_cmd(c, n, NULL, NULL);
		break;
	default:
		for (const ps_node *k = n->kid; k; k = k->next)
			walk_expr(c, k, f2);
		break;
	}
	c->walk--;
}

/* ---- entry points -------------------------------------------------------------------- */

static void
parse_and_walk(pctx *c, const char *text, size_t n)
{
	ps_node *root = NULL;
	ps_parse_error perr;
	const char *sv_code = c->code;
	size_t sv_len = c->codelen;
	c->code = text;
	c->codelen = n;
	int rc = ps_parse(c->a, text, n, 0, &root, &perr);
	if (rc == ESC_ENOMEM) {
		c->r->oom = 1;
	} else if (rc != 0) {
		lb_span es = SP(c, perr.span);
		if (perr.depth_exceeded)
			lbx_add_finding(c->r, "depth-exceeded", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, es,
			    "The command nests too deeply to analyze");
		else if (perr.too_large)
			lbx_add_finding(c->r, "too-large", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, es,
			    "The command is too large to analyze");
		else
			lbx_add_finding(c->r, "parse-error", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, es,
			    FMT("The command does not parse as PowerShell: %s", perr.msg));
		sentence(c, 70, "Part of this command is not valid PowerShell, so it cannot be fully "
		    "analyzed.");
	}
	if (root)
		walk_stmt(c, root);
	c->code = sv_code;
	c->codelen = sv_len;
}

static void
analyze_ps_text(pctx *c, const char *text, size_t n, lb_span sp, int obf, const char *why)
{
	if (c->nest >= PA_MAX_NEST) {
		finding(c, "nesting-too-deep", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, sp,
		    "Code runs code that runs code too many levels deep to follow");
		return;
	}
	if (obf) {
		finding(c, "obfuscated-code", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, sp,
		    FMT("%s runs code assembled to hide it; it is really: %s", why ? why : "It",
		        shown(c, text, n)));
		attack(c, "T1027");
		sentence(c, 85, FMT("Runs code disguised to hide what it does; decoded it reads \"%s\".",
		    shown(c, text, n)));
	} else if (why) {
		sentence(c, 45, FMT("Runs the PowerShell code \"%s\".", shown(c, text, n)));
	}
	int sv_nested = c->nested;
	lb_span sv_outer = c->outer;
	int sv_cmd = c->cmd_mode;
	if (!c->nested)
		c->outer = sp;
	c->nested = 1;
	c->nest++;
	c->cmd_mode = 0;
	parse_and_walk(c, text, n);
	scan_sigs(c, text, n, sp);
	c->nest--;
	c->nested = sv_nested;
	c->outer = sv_outer;
	c->cmd_mode = sv_cmd;
}

/* cmd.exe variables the obfuscation tricks lean on (%COMSPEC:~-16,1%) */
static const struct {
	const char *name;
	const char *val;
} cmd_env[] = {
	{ "comspec", "C:\\WINDOWS\\system32\\cmd.exe" },
	{ "windir", "C:\\WINDOWS" },
	{ "systemroot", "C:\\WINDOWS" },
	{ "public", "C:\\Users\\Public" },
	{ "programdata", "C:\\ProgramData" },
	{ "temp", "C:\\Users\\user\\AppData\\Local\\Temp" },
	{ "tmp", "C:\\Users\\user\\AppData\\Local\\Temp" },
	{ "appdata", "C:\\Users\\user\\AppData\\Roaming" },
	{ "localappdata", "C:\\Users\\user\\AppData\\Local" },
	{ "userprofile", "C:\\Users\\user" },
	{ "programfiles", "C:\\Program Files" },
	{ NULL, NULL }
};

/* Expands %NAME%, !NAME!, %NAME:~s,l% and %NAME:a=b% in a cmd.exe word from variables
 * set earlier in the record and the usual environment. *changed: something expanded;
 * *unknown: a variable whose value is not known stayed. */
static const char *
cmd_expand(pctx *c, const char *w, size_t n, size_t *outn, int *changed, int *unknown)
{
	buf b;
	buf_init(&b, PA_MAX_STR);
	*changed = *unknown = 0;
	for (size_t i = 0; i < n;) {
		char q = w[i];
		const char *e = (q == '%' || q == '!') && i + 1 < n ? memchr(w + i + 1, q, n - i - 1) : NULL;
		if (e == NULL || e == w + i + 1) {
			buf_putc(&b, (unsigned char)w[i++]);
			continue;
		}
		size_t bl = (size_t)(e - (w + i + 1));
		const char *body = w + i + 1;
		const char *colon = memchr(body, ':', bl);
		size_t nl = colon ? (size_t)(colon - body) : bl;
		char name[64];
		if (nl == 0 || nl >= sizeof name - 5) {
			buf_putc(&b, (unsigned char)w[i++]);
			continue;
		}
		memcpy(name, "cmd:", 4);
		for (size_t k = 0; k < nl; k++)
			name[4 + k] = (char)tolower((unsigned char)body[k]);
		name[4 + nl] = 0;
		const char *val = NULL;
		size_t vl = 0;
		pvar *pv = var_get(c, name);
		if (pv && pv->v.kind == V_STR) {
			val = pv->v.s;
			vl = pv->v.n;
		}
		for (size_t k = 0; !val && cmd_env[k].name; k++)
			if (!strcmp(cmd_env[k].name, name + 4)) {
				val = cmd_env[k].val;
				vl = strlen(val);
			}
		if (val == NULL) {
			*unknown = 1;
			buf_put(&b, w + i, bl + 2);
			i += bl + 2;
			continue;
		}
		if (colon && colon[1] == '~') {
			/* %X:~start,len% with negative values counting from the end */
			long st = strtol(colon + 2, NULL, 10), ln = (long)vl;
			const char *comma = memchr(colon, ',', (size_t)(e - colon));
			if (comma)
				ln = strtol(comma + 1, NULL, 10);
			if (st < 0)
				st += (long)vl;
			if (st < 0)
				st = 0;
			if (st > (long)vl)
				st = (long)vl;
			if (ln < 0)
				ln += (long)vl - st;
			if (ln < 0)
				ln = 0;
			if (st + ln > (long)vl)
				ln = (long)vl - st;
			buf_put(&b, val + st, (size_t)ln);
		} else if (colon) {
			/* %X:a=b% replaces (case-insensitive) */
			const char *eq = memchr(colon, '=', (size_t)(e - colon));
			if (eq && eq > colon + 1) {
				psval sv = vstr(val, vl, 0);
				psval rv = replace_str(c, &sv, colon + 1, (size_t)(eq - colon - 1), eq + 1,
				    (size_t)(e - eq - 1), 1);
				if (rv.kind == V_STR)
					buf_put(&b, rv.s, rv.n);
			} else {
				buf_put(&b, val, vl);
			}
		} else {
			buf_put(&b, val, vl);
		}
		*changed = 1;
		i += bl + 2;
	}
	const char *r = lb_arena_strndup(c->a, b.data ? (const char *)b.data : "", b.len);
	*outn = b.len;
	buf_free(&b);
	return r ? r : w;
}

static void
walk_cmd_line(pctx *c, const char *text, size_t n)
{
	size_t maxc = 1;
	for (size_t i = 0; i < n && maxc < PA_MAX_CMDS; i++)
		maxc += text[i] == '&' || text[i] == '|' || text[i] == '\n' || text[i] == '\r';
	cmd_cmd *cmds = lb_arena_alloc_raw(c->a, sizeof *cmds * maxc, 16);
	if (cmds == NULL) {
		c->r->oom = 1;
		return;
	}
	size_t cut = 0;
	int nc = cmd_split(c->a, text, n, 0, cmds, maxc, &cut);
	if (nc < 0) {
		c->r->oom = 1;
		return;
	}
	if (cut)
		finding(c, "many-commands", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, (lb_span){ 0,
		    (uint32_t)n }, "The line runs more commands than lockbox follows");
	cin in;
	memset(&in, 0, sizeof in);
	for (int i = 0; i < nc; i++) {
		cmd_cmd *cc = &cmds[i];
		warg *av = lb_arena_alloc(c->a, sizeof *av * (cc->n ? cc->n : 1));
		if (av == NULL) {
			c->r->oom = 1;
			return;
		}
		/* set NAME=VALUE is remembered; %NAME% and !NAME! are expanded (cmd expands them
		 * before running; set and use on one line work with call or /v:on) */
		if (cc->n >= 2 && cc->w[0].len == 3 && !strncasecmp(cc->w[0].text, "set", 3) &&
		    cc->w[1].text[0] != '/') {
			size_t s0 = cc->w[1].span.start;
			const char *eq = memchr(cc->w[1].text, '=', cc->w[1].len);
			if (eq && eq > cc->w[1].text && eq - cc->w[1].text < 58) {
				char name[64];
				memcpy(name, "cmd:", 4);
				size_t nl = (size_t)(eq - cc->w[1].text);
				for (size_t k = 0; k < nl; k++)
					name[4 + k] = (char)tolower((unsigned char)cc->w[1].text[k]);
				name[4 + nl] = 0;
				buf vb;
				buf_init(&vb, PA_MAX_STR);
				buf_puts(&vb, eq + 1);
				for (size_t k = 2; k < cc->n; k++) {
					buf_putc(&vb, ' ');
					buf_put(&vb, cc->w[k].text, cc->w[k].len);
				}
				char *nmc = lb_arena_strndup(c->a, name, 4 + nl);
				char *vv = lb_arena_strndup(c->a, vb.data ? (const char *)vb.data : "", vb.len);
				if (nmc && vv)
					var_set(c, nmc, vstr(vv, vb.len, 1));
				buf_free(&vb);
			}
			(void)s0;
		}
		int name_var = 0;
		for (size_t k = 0; k < cc->n; k++) {
			if (!cc->w[k].has_var)
				continue;
			int ch, unk;
			size_t xn;
			const char *x = cmd_expand(c, cc->w[k].text, cc->w[k].len, &xn, &ch, &unk);
			if (ch) {
				cc->w[k].text = x;
				cc->w[k].len = xn;
				if (k == 0)
					name_var = 1;
			}
			cc->w[k].has_var = unk;
		}
		if (cc->n >= 2 && cc->w[0].len == 4 && !strncasecmp(cc->w[0].text, "call", 4)) {
			/* call CMD: runs the (twice expanded) rest */
			buf rb;
			buf_init(&rb, PA_MAX_STR);
			for (size_t k = 1; k < cc->n; k++) {
				if (k > 1)
					buf_putc(&rb, ' ');
				buf_put(&rb, cc->w[k].text, cc->w[k].len);
			}
			if (cc->w[1].has_var == 0 && memchr(text + cc->w[1].span.start, '%',
			    cc->w[1].span.end - cc->w[1].span.start)) {
				finding(c, "obfuscated-command", LOCKBOX_RISK_HIGH, KB_C_OBFUSCATION, cc->span,
				    FMT("The command name is assembled from variables; it is really %s",
				        shown(c, cc->w[1].text, cc->w[1].len)));
				attack(c, "T1027");
			}
			analyze_cmd_text(c, (const char *)buf_cstr(&rb), rb.len, cc->span);
			buf_free(&rb);
			memset(&in, 0, sizeof in);
			continue;
		}
		size_t na = 0;
		int has_var = cc->w[0].has_var;
		for (size_t k = 1; k < cc->n; k++) {
			cmd_word *w = &cc->w[k];
			warg *a = &av[na++];
			memset(a, 0, sizeof *a);
			a->span = w->span;
			if (!w->quoted && w->len > 1 && (w->text[0] == '/' || w->text[0] == '-') &&
			    !strchr(w->text + 1, '\\') && !strchr(w->text + 1, '/')) {
				/* /c, -enc, /create, /v:x (a value attached with : stays in the name) */
				a->param = lower(c, w->text + 1, w->len - 1);
				a->raw = w->text;
				continue;
			}
			a->val = w->text;
			a->vlen = w->len;
			a->v = vstr(w->text, w->len, 0);
			has_var |= w->has_var;
		}
		if (has_var && cc->w[0].has_var) {
			finding(c, "dynamic-command", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, cc->span,
			    "Runs a command whose name comes from a variable");
		}
		const char *nm = cc->w[0].text;
		size_t nml = cc->w[0].len;
		if ((nml == 3 && !strncasecmp(nm, "for", 3)) || (nml == 2 && !strncasecmp(nm, "if", 2))) {
			/* for ... do CMD / if COND CMD: what runs is the command after do (for
			 * if: the words after the condition are hard to tell apart; the rest of
			 * the line from the first known program on is analyzed) */
			size_t k = 1;
			if (nml == 3) {
				while (k < cc->n && !(cc->w[k].len == 2 && !strncasecmp(cc->w[k].text, "do", 2)))
					k++;
				k++;
			} else {
				while (k < cc->n && !winkb_lookup(c->w, cc->w[k].text, cc->w[k].len))
					k++;
			}
			if (k < cc->n && cc->w[k].span.start < cc->span.end && cc->span.end <= n) {
				analyze_cmd_text(c, text + cc->w[k].span.start,
				    cc->span.end - cc->w[k].span.start, cc->span);
			}
			memset(&in, 0, sizeof in);
			continue;
		}
		/* cmd /c "powershell ..." passes words on; a quoted whole line is re-split */
		cout o = { 0 };
		int obf = 0;
		for (size_t k = 0; k < cc->w[0].len; k++)
			if (cc->w[0].text[k] == '^')
				obf = 1;
		if (memchr(text + (cc->w[0].span.start), '^', cc->w[0].span.end - cc->w[0].span.start))
			obf = 1;
		if (name_var && !(cc->w[0].len && cc->w[0].text[0] != '%' && strchr(cc->w[0].text, '\\')))
			obf = 1; /* a program name spelled with variables (%COMSPEC:~-7,1%...) */
		do_command(c, nm, nml, obf, av, na, cc->span, &in, &o);
		/* echo TEXT | powershell - : the text is the code */
		memset(&in, 0, sizeof in);
		in.dl = o.dl;
		if (cc->op && !strcmp(cc->op, "|")) {
			int hd;
			const char *b = basename_lc(c, nm, nml, &hd);
			if (b && !strcmp(b, "echo") && cc->n > 1) {
				size_t s0 = cc->w[1].span.start, e0 = cc->w[cc->n - 1].span.end;
				if (e0 <= n && s0 <= e0) {
					in.val = vstr(text + s0, e0 - s0, 0);
					in.has_val = 1;
				}
			}
		}
		if (cc->redir_out && c->r->cmds_tail)
			lbx_add_effect(c->r, c->r->cmds_tail, "file-write", cc->redir_out);
	}
}

static void
analyze_cmd_text(pctx *c, const char *text, size_t n, lb_span sp)
{
	if (c->nest >= PA_MAX_NEST) {
		finding(c, "nesting-too-deep", LOCKBOX_RISK_HIGH, KB_C_OPAQUE, sp,
		    "Commands run commands too many levels deep to follow");
		return;
	}
	int sv_nested = c->nested;
	lb_span sv_outer = c->outer;
	const char *sv_code = c->code;
	size_t sv_len = c->codelen;
	if (!c->nested)
		c->outer = sp;
	c->nested = 1;
	c->nest++;
	c->code = text;
	c->codelen = n;
	walk_cmd_line(c, text, n);
	scan_sigs(c, text, n, sp);
	c->nest--;
	c->nested = sv_nested;
	c->outer = sv_outer;
	c->code = sv_code;
	c->codelen = sv_len;
}

/* Deceptive text, as the bash analyzer reports it (analyze.c keeps its table static; the
 * same kinds and severities here). CRLF line ends are normal in Windows scripts and are
 * not reported; a carriage return that overwrites the line is. */
static void
text_findings(lockbox_result *r)
{
	lb_span first[LBX_TXT_KINDS];
	memset(first, 0, sizeof first);
	unsigned t = lbx_scan_text(r->input, r->len, first);
	static const struct {
		unsigned bit;
		int k;
		const char *id;
		int sev;
		int cat;
		const char *msg;
	} kinds[] = {
		{ LBX_TXT_BIDI, 1, "bidi-control", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "A bidirectional-text control character reorders what is displayed" },
		{ LBX_TXT_ZEROWIDTH, 2, "zero-width", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "An invisible character (zero-width, tag or filler) hides in the command" },
		{ LBX_TXT_ANSI, 7, "terminal-escape", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "An ANSI/OSC terminal escape sequence can rewrite what the screen shows" },
		{ LBX_TXT_CONTROL, 0, "control-char", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "A control character can change what a terminal shows" },
		{ LBX_TXT_CR_OVER, 8, "carriage-return", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "A carriage return makes the text after it overwrite the start of the line on a "
		  "terminal" },
		{ LBX_TXT_BADUTF8, 3, "invalid-utf8", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "Bytes that are not valid UTF-8 (shown as U+FFFD in JSON, \\xHH when explained)" },
		{ LBX_TXT_HOMOGLYPH, 6, "homoglyph", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "A letter or sign that looks like an ASCII one but is not (look-alike character)" },
		{ LBX_TXT_BLANKS, 9, "whitespace-run", LOCKBOX_RISK_CRITICAL, KB_C_DISPLAY_DECEPTION,
		  "A long run of blanks pushes the rest of the line off a normal screen" },
		{ LBX_TXT_NUL, 4, "nul-byte", LOCKBOX_RISK_MEDIUM, KB_C_OBFUSCATION,
		  "The command contains a NUL byte" },
	};
	if (t & LBX_TXT_BADUTF8)
		r->bad_utf8 = 1;
	int deceptive = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (t & kinds[i].bit) {
			lbx_add_finding(r, kinds[i].id, kinds[i].sev, kinds[i].cat, first[kinds[i].k],
			    kinds[i].msg);
			deceptive |= kinds[i].bit != LBX_TXT_NUL;
		}
	if (deceptive)
		lbx_add_sentence(r, "The text contains hidden, look-alike or screen-control "
		    "characters, so what is displayed may not be what runs.", 99);
}

int
pwsh_analyze(const winkb *w, const char *src, size_t len, const char *shell,
    lockbox_result **out)
{
	if (out == NULL || (src == NULL && len))
		return ESC_EINVAL;
	if (len > UINT32_MAX / 2)
		return ESC_ETOOBIG;
	int is_cmd = shell && !strcmp(shell, "cmd");
	lb_arena *a = lbx_arena_get();
	if (a == NULL)
		return ESC_ENOMEM;
	lockbox_result *r = lb_arena_alloc(a, sizeof *r);
	char *in = r ? lb_arena_alloc(a, len + 1) : NULL;
	pctx *c = in ? calloc(1, sizeof *c) : NULL;
	if (c == NULL) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	r->a = a;
	r->shell = is_cmd ? "cmd" : "powershell";
	r->len = len;
	if (len)
		memcpy(in, src, len);
	r->input = in;
	text_findings(r);
	c->w = w;
	c->r = r;
	c->a = a;
	c->code = in;
	c->codelen = len;
	c->outer = (lb_span){ 0, (uint32_t)len };
	c->budget = PA_BUDGET;
	c->mem_cap = (size_t)64 * 1024 * 1024 + len * 8;
	/* CR before LF is a Windows line end here, not a display trick */
	if (is_cmd) {
		c->cmd_mode = 1;
		walk_cmd_line(c, in, len);
	} else {
		parse_and_walk(c, in, len);
	}
	/* text signatures last: a finding the walk already made with the same id wins */
	scan_sigs(c, in, len, (lb_span){ 0, (uint32_t)len });
	free(c);
	lbx_finalize(r);
	if (r->oom) {
		lb_arena_free(a);
		return ESC_ENOMEM;
	}
	*out = r;
	return 0;
}
