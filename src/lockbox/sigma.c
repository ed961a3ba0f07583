/* sigma.c — loads Sigma rules for Linux process creation (a documented subset, see
 * docs/sigma.md) with libyaml, compiles their detections once, and matches them against
 * the commands lockbox found in a record. Anything outside the subset makes the rule
 * refused with file:line:col and the reason; the other rules of the file still load. */
#include "lockbox/sigma.h"

#include <ctype.h>
#include <dirent.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lockbox/analyze_int.h"
#include "util/err.h"

#define SIGMA_FILE_MAX ((size_t)1024 * 1024)
#define SIGMA_MAX_RULES 100000
#define SIGMA_MAX_VALUES 4096  /* values in one rule's detection, aliases included */
#define SIGMA_MAX_SELS 256
#define SIGMA_MAX_NODES 1024   /* condition nodes per rule */
#define SIGMA_MAX_DEPTH 64     /* condition nesting */
#define SIGMA_MAX_TOKENS 4096
#define SIGMA_MAX_PROBLEMS 20  /* reported per rule */

enum { F_IMAGE, F_CMDLINE };
enum { M_EQ, M_CONTAINS, M_START, M_END, M_RE };

/* A value compiled for matching: a case-folded glob (wild[i] marks * and ?) or a regex. */
typedef struct spat {
	unsigned char *s;
	unsigned char *wild;
	size_t n;
	regex_t re;
	int is_re;
	size_t idx;  /* position among all values of the set (the record-match memo) */
} spat;

typedef struct sfield {
	int field;
	int all;     /* every value must match (|all), else one */
	spat *v;
	size_t nv;
} sfield;

typedef struct smap {  /* every field test holds */
	sfield *f;
	size_t nf;
} smap;

typedef struct ssel {  /* one of the maps holds */
	char *name;
	smap *maps;
	size_t nmaps;
} ssel;

enum { C_SEL, C_AND, C_OR, C_NOT, C_ANY, C_ALL, C_FALSE };

typedef struct cnode {
	int op;
	int a, b;          /* children (C_AND, C_OR: both; C_NOT: a); C_SEL: selection */
	int *sels;         /* C_ANY / C_ALL: the selections named */
	size_t nsels;
} cnode;

typedef struct srule {
	sigma_info info;
	char **attack;
	ssel *sels;
	size_t nsels;
	cnode *nodes;
	size_t nnodes;
	int root;
} srule;

struct sigma_set {
	srule *r;
	size_t n, cap;
	size_t nvals;  /* values of all rules */
};

/* ---- small helpers ------------------------------------------------------------------- */

static char *
xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void
spat_free(spat *p)
{
	free(p->s);
	free(p->wild);
	if (p->is_re)
		regfree(&p->re);
}

static void
rule_free(srule *r)
{
	size_t i, j, k;

	free((char *)r->info.file);
	free((char *)r->info.id);
	free((char *)r->info.title);
	free((char *)r->info.description);
	for (i = 0; i < r->info.nattack; i++)
		free(r->attack[i]);
	free(r->attack);
	for (i = 0; i < r->nsels; i++) {
		for (j = 0; j < r->sels[i].nmaps; j++) {
			for (k = 0; k < r->sels[i].maps[j].nf; k++) {
				sfield *f = &r->sels[i].maps[j].f[k];
				for (size_t v = 0; v < f->nv; v++)
					spat_free(&f->v[v]);
				free(f->v);
			}
			free(r->sels[i].maps[j].f);
		}
		free(r->sels[i].maps);
		free(r->sels[i].name);
	}
	free(r->sels);
	for (i = 0; i < r->nnodes; i++)
		free(r->nodes[i].sels);
	free(r->nodes);
	memset(r, 0, sizeof(*r));
}

sigma_set *
sigma_new(void)
{
	return calloc(1, sizeof(sigma_set));
}

void
sigma_free(sigma_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		rule_free(&s->r[i]);
	free(s->r);
	free(s);
}

size_t
sigma_count(const sigma_set *s)
{
	return s ? s->n : 0;
}

const sigma_info *
sigma_rule_info(const sigma_set *s, size_t i)
{
	return s && i < s->n ? &s->r[i].info : NULL;
}

/* ---- loading ------------------------------------------------------------------------- */

/* The state of loading one rule: problems are collected, not fatal, so one report names
 * every unsupported construct of the rule. */
typedef struct lctx {
	yaml_document_t *doc;
	const char *file;
	const char *title;
	buf *report;
	srule *r;
	int problems;
	int oom;
	size_t nvalues;
} lctx;

static void problem(lctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(lctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
	va_list ap;
	int e;

	if (c->problems++ >= SIGMA_MAX_PROBLEMS)
		return;
	if (buf_printf(c->report, "%s:%zu:%zu: rule '%s': unsupported: ", c->file, line, col,
	    c->title ? c->title : "?") != 0)
		c->oom = 1;
	va_start(ap, fmt);
	e = buf_vprintf(c->report, fmt, ap);
	va_end(ap);
	if (e != 0 || buf_putc(c->report, '\n') != 0)
		c->oom = 1;
}

static yaml_node_t *
node(lctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A plain ~ / null / empty scalar: YAML's null. */
static int
is_null(const yaml_node_t *n)
{
	const char *v = scalar(n);

	return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	     !strcmp(v, "NULL"));
}

static yaml_node_t *
map_get(lctx *c, const yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *p;

	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(c, p->key));
		if (k && !strcmp(k, key))
			return node(c, p->value);
	}
	return NULL;
}

/* Compiles a plain (glob) value: * and ? are wildcards, \* \? \\ literal, other
 * backslashes literal; matching is case-insensitive (ASCII), as Sigma's default. */
static int
compile_glob(spat *p, const char *v, size_t n, int mod)
{
	size_t i, k = 0;

	memset(p, 0, sizeof(*p));
	if ((p->s = malloc(n + 2)) == NULL || (p->wild = malloc(n + 2)) == NULL)
		return ESC_ENOMEM;
	if (mod == M_CONTAINS || mod == M_END) {
		p->s[k] = '*';
		p->wild[k++] = 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		int w = 0;
		if (ch == '\\' && i + 1 < n && (v[i + 1] == '*' || v[i + 1] == '?' ||
		    v[i + 1] == '\\')) {
			ch = (unsigned char)v[++i];
		} else if (ch == '*' || ch == '?') {
			w = 1;
		}
		p->s[k] = (unsigned char)tolower(ch);
		p->wild[k++] = (unsigned char)w;
	}
	if (mod == M_CONTAINS || mod == M_START) {
		p->s[k] = '*';
		p->wild[k++] = 1;
	}
	p->n = k;
	return 0;
}

/* glibc's regcomp expands repetitions into copies of the tree: stacked quantifiers
 * (a+++, undefined in POSIX anyway) and large or nested {m,n} bounds can take gigabytes.
 * Refuse them, and bound the expansion: pattern length times the product of all {m,n}
 * maxima (an over-estimate) stays under 100000. */
static const char *
re_too_costly(const char *v)
{
	size_t len = strlen(v), cost = len ? len : 1;
	int prev_quant = 0, in_bracket = 0;

	if (len > 4096)
		return "longer than 4096 bytes";
	for (size_t i = 0; i < len; i++) {
		char ch = v[i];
		if (in_bracket) {
			if (ch == ']' && in_bracket > 1)
				in_bracket = 0;
			else
				in_bracket++;
			continue;
		}
		if (ch == '\\') {
			i++;
			prev_quant = 0;
			continue;
		}
		if (ch == '[') {
			in_bracket = 1;
			if (v[i + 1] == '^') {
				i++;
			}
			if (v[i + 1] == ']') {
				i++;
				in_bracket = 2;
			}
			prev_quant = 0;
			continue;
		}
		if (ch == '*' || ch == '+' || ch == '?' || ch == '{') {
			if (prev_quant)
				return "stacked quantifiers (a+*, a{2}+) are not supported";
			prev_quant = 1;
			if (ch == '{') {
				size_t mx = 0;
				int digits = 0;
				for (i++; i < len && v[i] != '}'; i++) {
					if (v[i] >= '0' && v[i] <= '9') {
						mx = mx * 10 + (size_t)(v[i] - '0');
						if (mx > 100)
							return "a {m,n} bound over 100";
						digits = 1;
					} else if (v[i] == ',') {
						mx = 0;
						digits = 0;
					} else
						break;
				}
				if (!digits)
					mx = 100;  /* {m,}: unbounded copies of the last */
				cost *= mx ? mx : 1;
				if (cost > 100000)
					return "its {m,n} repetitions expand too much";
			}
			continue;
		}
		prev_quant = 0;
	}
	return NULL;
}

/* POSIX ERE (regcomp REG_EXTENDED); Perl-only syntax is refused, not guessed at. */
static const char *
re_unsupported(const char *v)
{
	static const struct { const char *s, *why; } bad[] = {
		{ "(?", "(?...) groups, flags and lookaround are PCRE, not POSIX ERE" },
		{ "\\d", "\\d is PCRE; write [0-9]" },
		{ "\\D", "\\D is PCRE; write [^0-9]" },
		{ "*?", "lazy quantifiers are PCRE" },
		{ "+?", "lazy quantifiers are PCRE" },
		{ "??", "lazy quantifiers are PCRE" },
		{ "\\x", "\\x escapes are PCRE" },
		{ "\\u", "\\u escapes are PCRE" },
		{ "\\A", "\\A is PCRE; write ^" },
		{ "\\z", "\\z is PCRE; write $" },
		{ "\\Z", "\\Z is PCRE; write $" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(v, bad[i].s))
			return bad[i].why;
	for (const char *q = v; (q = strchr(q, '\\')) != NULL; q += 2) {
		if (q[1] >= '1' && q[1] <= '9')
			return "back-references are not supported";
		if (q[1] == 0)
			break;
	}
	return re_too_costly(v);
}

static int
add_value(lctx *c, sfield *f, const yaml_node_t *vn, int mod)
{
	const char *v = scalar(vn);
	spat *p;

	if (v == NULL) {
		problem(c, vn, "a value must be a string or a number");
		return 0;
	}
	if (is_null(vn)) {
		problem(c, vn, "null values (field absence) are not supported");
		return 0;
	}
	if (++c->nvalues > SIGMA_MAX_VALUES) {
		if (c->nvalues == SIGMA_MAX_VALUES + 1)
			problem(c, vn, "more than 4096 values in the detection");
		return 0;
	}
	if ((f->nv & (f->nv - 1)) == 0 || f->nv == 0) {
		spat *nv = realloc(f->v, (f->nv ? f->nv * 2 : 1) * sizeof(*nv));
		if (nv == NULL)
			return ESC_ENOMEM;
		f->v = nv;
	}
	p = &f->v[f->nv];
	memset(p, 0, sizeof(*p));
	if (mod == M_RE) {
		const char *why = re_unsupported(v);
		int e;
		if (why) {
			problem(c, vn, "re: %s", why);
			return 0;
		}
		if ((e = regcomp(&p->re, v, REG_EXTENDED | REG_NOSUB)) != 0) {
			char msg[128];
			regerror(e, NULL, msg, sizeof(msg));
			problem(c, vn, "re: not a valid POSIX extended regex: %s", msg);
			return 0;
		}
		p->is_re = 1;
		f->nv++;
		return 0;
	}
	if (compile_glob(p, v, vn->data.scalar.length, mod) != 0) {
		spat_free(p);
		return ESC_ENOMEM;
	}
	f->nv++;
	return 0;
}

static const char *const other_fields[] = {
	"ParentImage", "ParentCommandLine", "User", "CurrentDirectory", "ProcessId",
	"ParentProcessId", "LogonId", "OriginalFileName", "Hashes", "ParentUser", NULL
};

/* One "Field|mod|mod: value(s)" pair of a selection map. */
static int
add_field(lctx *c, smap *m, const yaml_node_t *kn, const yaml_node_t *vn)
{
	const char *key = scalar(kn);
	char *k = NULL, *tok, *save = NULL;
	sfield *f;
	int mod = M_EQ, nmod = 0, rc = 0, bad = 0, first = 1;

	if (key == NULL) {
		problem(c, kn, "a selection key must be a field name");
		return 0;
	}
	if ((k = strdup(key)) == NULL)
		return ESC_ENOMEM;
	sfield nf = { 0 };
	for (tok = strtok_r(k, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		if (first) {
			first = 0;
			if (!strcmp(tok, "Image"))
				nf.field = F_IMAGE;
			else if (!strcmp(tok, "CommandLine"))
				nf.field = F_CMDLINE;
			else {
				int known = 0;
				for (size_t i = 0; other_fields[i]; i++)
					known |= !strcmp(tok, other_fields[i]);
				problem(c, kn, known ? "field %s: lockbox sees only the command itself "
				    "(Image, CommandLine)" : "field %s: not a field lockbox knows (Image, "
				    "CommandLine)", tok);
				bad = 1;
				break;
			}
			continue;
		}
		if (!strcmp(tok, "all"))
			nf.all = 1;
		else if (!strcmp(tok, "contains") || !strcmp(tok, "startswith") ||
		    !strcmp(tok, "endswith") || !strcmp(tok, "re")) {
			if (nmod++) {
				problem(c, kn, "more than one of contains/startswith/endswith/re");
				bad = 1;
			}
			mod = tok[0] == 'c' ? M_CONTAINS : tok[0] == 's' ? M_START :
			    tok[0] == 'e' ? M_END : M_RE;
		} else {
			problem(c, kn, "modifier %s (supported: contains, startswith, endswith, all, "
			    "re)", tok);
			bad = 1;
		}
	}
	if (first) {
		problem(c, kn, "an empty field name");
		bad = 1;
	}
	if (!bad && mod == M_RE && nf.all) {
		problem(c, kn, "re with all");
		bad = 1;
	}
	if (bad)
		goto out;
	if (vn->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		if (vn->data.sequence.items.start == vn->data.sequence.items.top) {
			problem(c, vn, "an empty list of values");
			goto out;
		}
		for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top && !rc;
		    it++)
			rc = add_value(c, &nf, node(c, *it), mod);
	} else {
		rc = add_value(c, &nf, vn, mod);
	}
	if (rc)
		goto out;
	f = realloc(m->f, (m->nf + 1) * sizeof(*f));
	if (f == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	m->f = f;
	m->f[m->nf++] = nf;
	memset(&nf, 0, sizeof(nf));
out:
	for (size_t i = 0; i < nf.nv; i++)
		spat_free(&nf.v[i]);
	free(nf.v);
	free(k);
	return rc;
}

static int
add_map(lctx *c, ssel *s, const yaml_node_t *mn)
{
	yaml_node_pair_t *p;
	smap m = { 0 }, *nm;
	int rc = 0;

	if (mn->data.mapping.pairs.start == mn->data.mapping.pairs.top) {
		problem(c, mn, "an empty selection");
		return 0;
	}
	for (p = mn->data.mapping.pairs.start; p < mn->data.mapping.pairs.top && !rc; p++)
		rc = add_field(c, &m, node(c, p->key), node(c, p->value));
	if (rc == 0 && (nm = realloc(s->maps, (s->nmaps + 1) * sizeof(*nm))) != NULL) {
		s->maps = nm;
		s->maps[s->nmaps++] = m;
		return 0;
	}
	for (size_t i = 0; i < m.nf; i++) {
		for (size_t v = 0; v < m.f[i].nv; v++)
			spat_free(&m.f[i].v[v]);
		free(m.f[i].v);
	}
	free(m.f);
	return rc ? rc : ESC_ENOMEM;
}

/* A selection: a map (AND of fields), a list of maps (OR), or a list of keywords (each
 * a CommandLine|contains value, OR). */
static int
add_selection(lctx *c, const char *name, const yaml_node_t *vn)
{
	srule *r = c->r;
	ssel *ns, *s;
	int rc = 0;

	if (r->nsels == SIGMA_MAX_SELS) {
		problem(c, vn, "more than 256 selections");
		return 0;
	}
	if ((ns = realloc(r->sels, (r->nsels + 1) * sizeof(*ns))) == NULL)
		return ESC_ENOMEM;
	r->sels = ns;
	s = &r->sels[r->nsels++];
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(name)) == NULL)
		return ESC_ENOMEM;
	if (vn->type == YAML_MAPPING_NODE)
		return add_map(c, s, vn);
	if (vn->type != YAML_SEQUENCE_NODE) {
		problem(c, vn, "selection %s must be a map or a list", name);
		return 0;
	}
	yaml_node_item_t *it, *b = vn->data.sequence.items.start, *e = vn->data.sequence.items.top;
	if (b == e) {
		problem(c, vn, "selection %s is an empty list", name);
		return 0;
	}
	int nmaps = 0, nscal = 0;
	for (it = b; it < e; it++) {
		yaml_node_t *x = node(c, *it);
		nmaps += x && x->type == YAML_MAPPING_NODE;
		nscal += x && x->type == YAML_SCALAR_NODE;
	}
	if (nmaps == e - b) {
		for (it = b; it < e && !rc; it++)
			rc = add_map(c, s, node(c, *it));
		return rc;
	}
	if (nscal == e - b) {
		smap m = { 0 };
		sfield f = { .field = F_CMDLINE };
		for (it = b; it < e && !rc; it++)
			rc = add_value(c, &f, node(c, *it), M_CONTAINS);
		if (rc == 0 && f.nv && (m.f = malloc(sizeof(*m.f))) != NULL &&
		    (s->maps = malloc(sizeof(*s->maps))) != NULL) {
			m.f[0] = f;
			m.nf = 1;
			s->maps[0] = m;
			s->nmaps = 1;
			return 0;
		}
		for (size_t v = 0; v < f.nv; v++)
			spat_free(&f.v[v]);
		free(f.v);
		free(m.f);
		return rc ? rc : (f.nv ? ESC_ENOMEM : 0);
	}
	problem(c, vn, "selection %s mixes maps and keywords", name);
	return 0;
}

/* ---- conditions ---------------------------------------------------------------------- */

enum { T_END, T_ID, T_AND, T_OR, T_NOT, T_LP, T_RP, T_ONE, T_ALL, T_OF, T_THEM, T_PIPE,
       T_BAD };

typedef struct tok {
	int t;
	const char *s;
	size_t n;
} tok;

typedef struct cparse {
	lctx *c;
	const yaml_node_t *at;
	tok *t;
	size_t nt, i;
	int depth;
	int fail;
} cparse;

static int
tokenize(cparse *p, const char *s)
{
	size_t cap = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (p->nt == cap) {
			if (cap >= SIGMA_MAX_TOKENS)
				return ESC_ETOOBIG;
			cap = cap ? cap * 2 : 16;
			tok *nt = realloc(p->t, cap * sizeof(*nt));
			if (nt == NULL)
				return ESC_ENOMEM;
			p->t = nt;
		}
		tok *k = &p->t[p->nt++];
		k->s = s;
		k->n = 1;
		if (*s == 0) {
			k->t = T_END;
			k->n = 0;
			return 0;
		}
		if (*s == '(' || *s == ')' || *s == '|') {
			k->t = *s == '(' ? T_LP : *s == ')' ? T_RP : T_PIPE;
			s++;
			continue;
		}
		if (isalnum((unsigned char)*s) || *s == '_' || *s == '*' || *s == '-' || *s == '.') {
			const char *b = s;
			while (isalnum((unsigned char)*s) || *s == '_' || *s == '*' || *s == '-' ||
			    *s == '.')
				s++;
			k->n = (size_t)(s - b);
#define IS(w) (k->n == sizeof(w) - 1 && !memcmp(b, w, k->n))
			k->t = IS("and") ? T_AND : IS("or") ? T_OR : IS("not") ? T_NOT :
			    IS("1") || IS("any") ? T_ONE : IS("all") ? T_ALL : IS("of") ? T_OF :
			    IS("them") ? T_THEM : T_ID;
#undef IS
			continue;
		}
		k->t = T_BAD;
		s++;
	}
}

static int
new_node(cparse *p, int op, int a, int b)
{
	srule *r = p->c->r;

	if (r->nnodes == SIGMA_MAX_NODES) {
		if (!p->fail)
			problem(p->c, p->at, "condition: more than 1024 terms");
		p->fail = 1;
		return -1;
	}
	if ((r->nnodes & (r->nnodes - 1)) == 0) {
		cnode *nn = realloc(r->nodes, (r->nnodes ? r->nnodes * 2 : 1) * sizeof(*nn));
		if (nn == NULL) {
			p->c->oom = 1;
			p->fail = 1;
			return -1;
		}
		r->nodes = nn;
	}
	cnode *n = &r->nodes[r->nnodes];
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->a = a;
	n->b = b;
	return (int)r->nnodes++;
}

static void
cfail(cparse *p, const char *why, const tok *k)
{
	char what[64];

	if (p->fail)
		return;
	p->fail = 1;
	if (k && k->t != T_END)
		snprintf(what, sizeof(what), " at '%.*s'", (int)(k->n > 40 ? 40 : k->n), k->s);
	else
		snprintf(what, sizeof(what), " at the end");
	if (buf_printf(p->c->report, "%s:%zu:%zu: rule '%s': unsupported: condition: %s%s\n",
	    p->c->file, p->at->start_mark.line + 1, p->at->start_mark.column + 1,
	    p->c->title ? p->c->title : "?", why, what) != 0)
		p->c->oom = 1;
	p->c->problems++;
}

/* Glob match of a selection-name pattern (only * is special), case-sensitive. */
static int
name_match(const char *pat, size_t pn, const char *s)
{
	size_t i = 0, j = 0, si = (size_t)-1, sj = 0, n = strlen(s);

	while (j < n) {
		if (i < pn && pat[i] == '*') {
			si = i++;
			sj = j;
		} else if (i < pn && pat[i] == s[j]) {
			i++;
			j++;
		} else if (si != (size_t)-1) {
			i = si + 1;
			j = ++sj;
		} else
			return 0;
	}
	while (i < pn && pat[i] == '*')
		i++;
	return i == pn;
}

static int parse_or(cparse *p);

static int
parse_primary(cparse *p)
{
	tok *k = &p->t[p->i];

	if (p->fail)
		return -1;
	if (k->t == T_LP) {
		p->i++;
		int n = parse_or(p);
		if (p->fail)
			return -1;
		if (p->t[p->i].t != T_RP) {
			cfail(p, "expected ')'", &p->t[p->i]);
			return -1;
		}
		p->i++;
		return n;
	}
	if (k->t == T_ONE || k->t == T_ALL) {
		int op = k->t == T_ONE ? C_ANY : C_ALL;
		p->i++;
		if (p->t[p->i].t != T_OF) {
			cfail(p, "expected 'of'", &p->t[p->i]);
			return -1;
		}
		p->i++;
		tok *w = &p->t[p->i];
		if (w->t != T_ID && w->t != T_THEM) {
			cfail(p, "expected a selection pattern or 'them' after 'of'", w);
			return -1;
		}
		p->i++;
		int id = new_node(p, op, -1, -1);
		if (id < 0)
			return -1;
		srule *r = p->c->r;
		cnode *n = &r->nodes[id];
		if ((n->sels = malloc((r->nsels ? r->nsels : 1) * sizeof(int))) == NULL) {
			p->c->oom = 1;
			p->fail = 1;
			return -1;
		}
		for (size_t i = 0; i < r->nsels; i++)
			if (w->t == T_THEM ? r->sels[i].name[0] != '_' :
			    name_match(w->s, w->n, r->sels[i].name))
				n->sels[n->nsels++] = (int)i;
		if (n->nsels == 0) {
			cfail(p, "no selection matches", w);
			return -1;
		}
		return id;
	}
	if (k->t == T_ID) {
		srule *r = p->c->r;
		p->i++;
		if (memchr(k->s, '*', k->n)) {
			cfail(p, "a wildcard name needs '1 of' or 'all of'", k);
			return -1;
		}
		for (size_t i = 0; i < r->nsels; i++)
			if (strlen(r->sels[i].name) == k->n && !memcmp(r->sels[i].name, k->s, k->n))
				return new_node(p, C_SEL, (int)i, -1);
		cfail(p, "no selection of that name", k);
		return -1;
	}
	if (k->t == T_PIPE)
		cfail(p, "aggregations (| count() ...) are not supported", k);
	else if (k->t == T_BAD)
		cfail(p, "unexpected character", k);
	else
		cfail(p, "expected a selection, '(', 'not', '1 of' or 'all of'", k);
	return -1;
}

static int
parse_not(cparse *p)
{
	int nots = 0, n;

	while (p->t[p->i].t == T_NOT) {
		p->i++;
		nots ^= 1;
	}
	if (++p->depth > SIGMA_MAX_DEPTH) {
		cfail(p, "nested too deeply", &p->t[p->i]);
		return -1;
	}
	n = parse_primary(p);
	p->depth--;
	if (n >= 0 && nots)
		n = new_node(p, C_NOT, n, -1);
	return n;
}

/* "x or y" (or_level) over "x and y" over "not x": both left-associative. */
static int
parse_binary(cparse *p, int or_level)
{
	int a = or_level ? parse_binary(p, 0) : parse_not(p);
	int op = or_level ? T_OR : T_AND;

	while (a >= 0 && p->t[p->i].t == op) {
		p->i++;
		int b = or_level ? parse_binary(p, 0) : parse_not(p);
		if (b < 0)
			return -1;
		a = new_node(p, or_level ? C_OR : C_AND, a, b);
	}
	return a;
}

static int
parse_or(cparse *p)
{
	return parse_binary(p, 1);
}

/* Parses one condition string; returns its node or -1 (reported). */
static int
parse_condition(lctx *c, const yaml_node_t *cn)
{
	cparse p = { .c = c, .at = cn };
	const char *s = scalar(cn);
	int n, rc;

	if (s == NULL) {
		problem(c, cn, "condition must be a string or a list of strings");
		return -1;
	}
	if ((rc = tokenize(&p, s)) != 0) {
		if (rc == ESC_ENOMEM)
			c->oom = 1;
		else
			problem(c, cn, "condition: too long");
		free(p.t);
		return -1;
	}
	n = parse_or(&p);
	if (n >= 0 && p.t[p.i].t != T_END) {
		cfail(&p, p.t[p.i].t == T_PIPE ? "aggregations (| count() ...) are not supported" :
		    "unexpected word", &p.t[p.i]);
		n = -1;
	}
	free(p.t);
	return p.fail ? -1 : n;
}

/* ---- one rule ------------------------------------------------------------------------ */

static int
dup_to(const char **dst, const char *s)
{
	if ((*dst = strdup(s ? s : "")) == NULL)
		return ESC_ENOMEM;
	return 0;
}

static const struct { const char *tag; int cat; } tactics[] = {
	{ "attack.execution", KB_C_CODE_EXEC },
	{ "attack.persistence", KB_C_PERSISTENCE },
	{ "attack.privilege_escalation", KB_C_PRIVILEGE_ESCALATION },
	{ "attack.privilege-escalation", KB_C_PRIVILEGE_ESCALATION },
	{ "attack.defense_evasion", KB_C_SECURITY_DISABLE },
	{ "attack.defense-evasion", KB_C_SECURITY_DISABLE },
	{ "attack.credential_access", KB_C_CREDENTIAL_ACCESS },
	{ "attack.credential-access", KB_C_CREDENTIAL_ACCESS },
	{ "attack.discovery", KB_C_RECON },
	{ "attack.reconnaissance", KB_C_RECON },
	{ "attack.lateral_movement", KB_C_REMOTE_EXEC },
	{ "attack.lateral-movement", KB_C_REMOTE_EXEC },
	{ "attack.collection", KB_C_FILE_READ },
	{ "attack.exfiltration", KB_C_NETWORK_UPLOAD },
	{ "attack.command_and_control", KB_C_NETWORK_CONNECT },
	{ "attack.command-and-control", KB_C_NETWORK_CONNECT },
	{ "attack.impact", KB_C_DESTRUCTIVE },
};

static int
load_tags(lctx *c, const yaml_node_t *tn)
{
	srule *r = c->r;
	yaml_node_item_t *it;
	int have_cat = 0;

	r->info.cat = KB_C_CODE_EXEC;
	if (tn == NULL)
		return 0;
	if (tn->type != YAML_SEQUENCE_NODE) {
		problem(c, tn, "tags must be a list");
		return 0;
	}
	size_t cap = (size_t)(tn->data.sequence.items.top - tn->data.sequence.items.start);
	if (cap > LBX_MAX_ATTACK)
		cap = LBX_MAX_ATTACK;
	if (cap && (r->attack = calloc(cap, sizeof(char *))) == NULL)
		return ESC_ENOMEM;
	for (it = tn->data.sequence.items.start; it < tn->data.sequence.items.top; it++) {
		const char *t = scalar(node(c, *it));
		if (t == NULL)
			continue;
		/* attack.t1059 / attack.t1059.004: technique ids, upper-cased */
		if (!strncmp(t, "attack.t", 8) && isdigit((unsigned char)t[8])) {
			size_t n = strlen(t + 7), i;
			int ok = n <= 16;
			for (i = 1; ok && i < n; i++)
				ok = isdigit((unsigned char)t[7 + i]) || t[7 + i] == '.';
			if (!ok || r->info.nattack == cap)
				continue;
			char *id = xstrndup(t + 7, n);
			if (id == NULL)
				return ESC_ENOMEM;
			id[0] = 'T';
			r->attack[r->info.nattack++] = id;
			continue;
		}
		for (size_t i = 0; !have_cat && i < sizeof(tactics) / sizeof(tactics[0]); i++)
			if (!strcmp(t, tactics[i].tag)) {
				r->info.cat = tactics[i].cat;
				have_cat = 1;
			}
	}
	r->info.attack = (const char *const *)r->attack;
	return 0;
}

static int
load_rule(sigma_set *set, const char *file, yaml_document_t *doc, buf *report, int verbose)
{
	srule r = { 0 };
	lctx c = { .doc = doc, .file = file, .report = report, .r = &r };
	yaml_node_t *root = yaml_document_get_root_node(doc), *n, *det;
	const char *v;
	int rc = 0;

	if (root == NULL)
		return 0;
	if (root->type != YAML_MAPPING_NODE) {
		problem(&c, root, "a rule must be a YAML mapping");
		goto out;
	}
	c.title = scalar(map_get(&c, root, "title"));
	if (c.title == NULL || !*c.title) {
		problem(&c, root, "no title");
		goto out;
	}
	if ((n = map_get(&c, root, "action")) != NULL) {
		problem(&c, n, "rule collections (action: %s) are not supported",
		    scalar(n) ? scalar(n) : "?");
		goto out;
	}
	/* logsource: only Linux process creation */
	n = map_get(&c, root, "logsource");
	const char *prod = scalar(map_get(&c, n, "product"));
	const char *cat = scalar(map_get(&c, n, "category"));
	if (n == NULL || prod == NULL || cat == NULL || strcmp(prod, "linux") ||
	    strcmp(cat, "process_creation")) {
		char what[160];
		snprintf(what, sizeof(what), "%.60s/%.60s", prod ? prod : "-", cat ? cat : "-");
		problem(&c, n ? n : root, "logsource %s: only product linux, category "
		    "process_creation", what);
	} else if ((v = scalar(map_get(&c, n, "service"))) != NULL) {
		problem(&c, n, "logsource service %s: only product and category", v);
	}
	/* level → risk */
	static const char *const levels[] = { "informational", "low", "medium", "high",
	    "critical" };
	n = map_get(&c, root, "level");
	r.info.risk = -1;
	if ((v = scalar(n)) != NULL)
		for (int i = 0; i < 5; i++)
			if (!strcmp(v, levels[i]))
				r.info.risk = i;
	if (r.info.risk < 0)
		problem(&c, n ? n : root, n ? "level %s (expected informational, low, medium, "
		    "high or critical)" : "no level%s", v ? v : "");
	if ((rc = load_tags(&c, map_get(&c, root, "tags"))) != 0)
		goto out;
	/* detection */
	det = map_get(&c, root, "detection");
	if (det == NULL || det->type != YAML_MAPPING_NODE) {
		problem(&c, det ? det : root, "no detection mapping");
		goto out;
	}
	yaml_node_pair_t *p;
	yaml_node_t *cond = NULL;
	for (p = det->data.mapping.pairs.start; p < det->data.mapping.pairs.top && !rc; p++) {
		yaml_node_t *kn = node(&c, p->key), *vn = node(&c, p->value);
		const char *k = scalar(kn);
		if (k == NULL || vn == NULL) {
			problem(&c, kn, "a detection key must be a name");
			continue;
		}
		if (!strcmp(k, "condition"))
			cond = vn;
		else if (!strcmp(k, "timeframe"))
			problem(&c, kn, "timeframe (correlation) is not supported");
		else
			rc = add_selection(&c, k, vn);
	}
	if (rc)
		goto out;
	if (cond == NULL) {
		problem(&c, det, "detection has no condition");
		goto out;
	}
	if (c.problems)  /* conditions name selections: resolve them only when all loaded */
		goto out;
	if (cond->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		int acc = -1;
		for (it = cond->data.sequence.items.start; it < cond->data.sequence.items.top; it++) {
			int x = parse_condition(&c, node(&c, *it));
			if (x < 0)
				break;
			acc = acc < 0 ? x : new_node(&(cparse){ .c = &c, .at = cond }, C_OR, acc, x);
		}
		if (acc < 0 && !c.problems)
			problem(&c, cond, "an empty condition list");
		r.root = acc;
	} else {
		r.root = parse_condition(&c, cond);
	}
out:
	if (c.oom)
		rc = ESC_ENOMEM;
	if (rc == 0 && c.problems == 0 && r.root >= 0 && r.nnodes > 0) {
		const char *id = scalar(map_get(&c, root, "id"));
		const char *base = strrchr(file, '/');
		base = base ? base + 1 : file;
		if (set->n == SIGMA_MAX_RULES) {
			problem(&c, root, "more than 100000 rules");
			rc = c.oom ? ESC_ENOMEM : 0;
			goto fail;
		}
		if (dup_to(&r.info.file, file) || dup_to(&r.info.id, id ? id : base) ||
		    dup_to(&r.info.title, c.title) ||
		    dup_to(&r.info.description, scalar(map_get(&c, root, "description")))) {
			rc = ESC_ENOMEM;
			goto fail;
		}
		if (set->n == set->cap) {
			size_t cap = set->cap ? set->cap * 2 : 16;
			srule *nr = realloc(set->r, cap * sizeof(*nr));
			if (nr == NULL) {
				rc = ESC_ENOMEM;
				goto fail;
			}
			set->r = nr;
			set->cap = cap;
		}
		if (verbose && buf_printf(report, "%s: loaded: %s (%s)\n", file, c.title,
		    levels[r.info.risk]) != 0) {
			rc = ESC_ENOMEM;
			goto fail;
		}
		for (size_t a = 0; a < r.nsels; a++)
			for (size_t b = 0; b < r.sels[a].nmaps; b++)
				for (size_t f = 0; f < r.sels[a].maps[b].nf; f++)
					for (size_t x = 0; x < r.sels[a].maps[b].f[f].nv; x++)
						r.sels[a].maps[b].f[f].v[x].idx = set->nvals++;
		set->r[set->n++] = r;
		return 0;
	}
fail:
	rule_free(&r);
	return rc;
}

int
sigma_load_text(sigma_set *s, const char *name, const char *text, size_t len, buf *report,
    int verbose)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = 0, ndocs = 0;

	if (s == NULL || (text == NULL && len))
		return ESC_EINVAL;
	if (len > SIGMA_FILE_MAX) {
		return buf_printf(report, "%s: unsupported: larger than %zu bytes\n", name,
		    SIGMA_FILE_MAX) ? ESC_ENOMEM : 0;
	}
	if (!yaml_parser_initialize(&parser))
		return ESC_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			if (parser.error == YAML_MEMORY_ERROR)
				rc = ESC_ENOMEM;
			else if (buf_printf(report, "%s:%zu:%zu: invalid YAML: %s\n", name,
			    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			    parser.problem ? parser.problem : "syntax error") != 0)
				rc = ESC_ENOMEM;
			break;
		}
		if (yaml_document_get_root_node(&doc) == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		/* each document of a multi-document file is a rule of its own */
		ndocs++;
		rc = load_rule(s, name, &doc, report, verbose);
		yaml_document_delete(&doc);
		if (rc)
			break;
	}
	yaml_parser_delete(&parser);
	(void)ndocs;
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

int
sigma_load_dir(sigma_set *s, const char *dir, buf *report, int verbose)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		buf_printf(report, "%s: cannot read the directory\n", dir);
		return ESC_ENOENT;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (!has_suffix(e->d_name, ".yml") &&
		    !has_suffix(e->d_name, ".yaml")))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL) {
				rc = ESC_ENOMEM;
				goto out;
			}
			names = nn;
		}
		if ((names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)) == NULL) {
			rc = ESC_ENOMEM;
			goto out;
		}
		sprintf(names[n++], "%s/%s", dir, e->d_name);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n && rc == 0; i++) {
		buf text = BUF_INIT;
		int r = buf_read_file(&text, names[i]);
		if (r == ESC_ENOMEM)
			rc = r;
		else if (r != 0)
			buf_printf(report, "%s: cannot read: %s\n", names[i], esc_strerror(r));
		else
			rc = sigma_load_text(s, names[i], (const char *)text.data, text.len, report,
			    verbose);
		buf_free(&text);
	}
out:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- matching ------------------------------------------------------------------------ */

/* Glob match, case-insensitive; one backtrack point, so O(len * pattern) at worst. */
static int
glob_match(const spat *p, const char *s, size_t n)
{
	size_t i = 0, j = 0, si = (size_t)-1, sj = 0;

	while (j < n) {
		if (i < p->n && p->wild[i] && p->s[i] == '*') {
			si = i++;
			sj = j;
		} else if (i < p->n && ((p->wild[i] && p->s[i] == '?') ||
		    (!p->wild[i] && p->s[i] == (unsigned char)tolower((unsigned char)s[j])))) {
			i++;
			j++;
		} else if (si != (size_t)-1) {
			i = si + 1;
			j = ++sj;
		} else
			return 0;
	}
	while (i < p->n && p->wild[i] && p->s[i] == '*')
		i++;
	return i == p->n;
}

static int
value_match(const spat *p, const sigma_str *v)
{
	if (!p->is_re)
		return glob_match(p, v->p, v->n);
	/* regexec wants a C string: the text up to its first NUL byte */
	size_t n = v->p ? strnlen(v->p, v->n) : 0;
	char *t = xstrndup(v->p ? v->p : "", n);
	int m;
	if (t == NULL)
		return 0;
	m = regexec(&p->re, t, 0, NULL, 0) == 0;
	free(t);
	return m;
}

/* The matching context: the event, and optionally a memo of each value's result on
 * cmdline[0] when that is the same text (the whole record) for every event of a record,
 * so a long record is scanned once per value, not once per command. */
typedef struct mctx {
	const sigma_event *ev;
	signed char *memo;  /* -1 unknown, 0, 1; NULL: none */
} mctx;

static int
field_match(const sfield *f, const mctx *mc)
{
	const sigma_event *ev = mc->ev;
	const sigma_str *c = f->field == F_IMAGE ? ev->image : ev->cmdline;
	size_t nc = f->field == F_IMAGE ? ev->nimage : ev->ncmdline;

	for (size_t i = 0; i < nc; i++) {
		int ok = f->all;
		for (size_t k = 0; k < f->nv; k++) {
			int m;
			if (mc->memo && f->field == F_CMDLINE && i == 0) {
				signed char *slot = &mc->memo[f->v[k].idx];
				if (*slot < 0)
					*slot = (signed char)value_match(&f->v[k], &c[i]);
				m = *slot;
			} else {
				m = value_match(&f->v[k], &c[i]);
			}
			if (f->all && !m) {
				ok = 0;
				break;
			}
			if (!f->all && m) {
				ok = 1;
				break;
			}
		}
		if (ok)
			return 1;
	}
	return 0;
}

static int
sel_match(const ssel *s, const mctx *mc)
{
	for (size_t m = 0; m < s->nmaps; m++) {
		size_t k;
		for (k = 0; k < s->maps[m].nf; k++)
			if (!field_match(&s->maps[m].f[k], mc))
				break;
		if (k == s->maps[m].nf)
			return 1;
	}
	return 0;
}

/* Depth is bounded by the parser (SIGMA_MAX_DEPTH nesting, SIGMA_MAX_NODES terms). */
static int
eval(const srule *r, int id, const mctx *mc, int depth)
{
	const cnode *n;

	if (id < 0 || (size_t)id >= r->nnodes || depth > SIGMA_MAX_NODES)
		return 0;
	n = &r->nodes[id];
	switch (n->op) {
	case C_SEL:
		return sel_match(&r->sels[n->a], mc);
	case C_AND:
		return eval(r, n->a, mc, depth + 1) && eval(r, n->b, mc, depth + 1);
	case C_OR:
		return eval(r, n->a, mc, depth + 1) || eval(r, n->b, mc, depth + 1);
	case C_NOT:
		return !eval(r, n->a, mc, depth + 1);
	case C_ANY:
		for (size_t i = 0; i < n->nsels; i++)
			if (sel_match(&r->sels[n->sels[i]], mc))
				return 1;
		return 0;
	case C_ALL:
		for (size_t i = 0; i < n->nsels; i++)
			if (!sel_match(&r->sels[n->sels[i]], mc))
				return 0;
		return 1;
	}
	return 0;
}

int
sigma_rule_match(const sigma_set *s, size_t i, const sigma_event *ev)
{
	if (s == NULL || i >= s->n || ev == NULL)
		return 0;
	mctx mc = { ev, NULL };
	return eval(&s->r[i], s->r[i].root, &mc, 0);
}

/* ---- lockbox findings ---------------------------------------------------------------- */

static const char *const path_dirs[] = { "/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/",
    "/usr/local/bin/", "/usr/local/sbin/" };
#define NPATH (sizeof(path_dirs) / sizeof(path_dirs[0]))

/* Fills ev for one command; images[] has room for 1 + NPATH entries, which point into
 * the result's arena. */
static void
cmd_event(lockbox_result *r, const lbx_cmd *cmd, sigma_str *images, sigma_str cl[2],
    sigma_event *ev)
{
	const char *a0 = cmd->argc && cmd->argv && cmd->argv[0] ? cmd->argv[0] : cmd->program;
	size_t ni = 0;

	ev->nimage = 0;
	if (a0 && *a0) {
		images[ni++] = (sigma_str){ a0, strlen(a0) };
		if (strchr(a0, '/') == NULL)
			for (size_t i = 0; i < NPATH; i++) {
				char *p = lbx_printf(r->a, "%s%s", path_dirs[i], a0);
				if (p)
					images[ni++] = (sigma_str){ p, strlen(p) };
			}
	}
	ev->image = images;
	ev->nimage = ni;
	cl[0] = (sigma_str){ r->input, r->len };
	ev->cmdline = cl;
	ev->ncmdline = 1;
	if (cmd->span.end <= r->len && cmd->span.start < cmd->span.end &&
	    (cmd->span.start != 0 || cmd->span.end != r->len)) {
		cl[1] = (sigma_str){ r->input + cmd->span.start, cmd->span.end - cmd->span.start };
		ev->ncmdline = 2;
	}
}

static int
add_match(lockbox_result *r, const srule *rule, const lbx_cmd *hit)
{
	lb_span sp = hit && hit->span.end <= r->len && hit->span.start <= hit->span.end ?
	    hit->span : (lb_span){ 0, (uint32_t)r->len };
	const char *id = lbx_printf(r->a, "sigma:%s", rule->info.id);
	const char *msg = *rule->info.description ?
	    lbx_printf(r->a, "Sigma rule '%s': %s", rule->info.title, rule->info.description) :
	    lbx_printf(r->a, "Sigma rule '%s'", rule->info.title);

	if (id == NULL || msg == NULL)
		return ESC_ENOMEM;
	lbx_add_finding(r, id, rule->info.risk, rule->info.cat, sp, msg);
	for (size_t a = 0; a < rule->info.nattack; a++) {
		const char *t = lbx_printf(r->a, "%s", rule->info.attack[a]);
		if (t == NULL)
			return ESC_ENOMEM;
		lbx_add_attack(r, t);
	}
	lbx_add_sentence(r, lbx_printf(r->a, "Matches the Sigma rule '%s'.", rule->info.title),
	    20 + 10 * rule->info.risk);
	return 0;
}

int
sigma_apply(const sigma_set *s, lockbox_result *r)
{
	sigma_str images[1 + NPATH], cl[2];
	sigma_event ev;
	unsigned char *done = NULL;
	signed char *memo = NULL;
	size_t k = 0;
	int rc = 0;

	if (s == NULL || s->n == 0 || r == NULL)
		return 0;
	if ((done = calloc(s->n, 1)) == NULL ||
	    (memo = malloc(s->nvals ? s->nvals : 1)) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	memset(memo, -1, s->nvals ? s->nvals : 1);
	mctx mc = { &ev, memo };
	/* commands outer: each command's event is built once for all rules */
	for (const lbx_cmd *c = r->cmds; c && k < LBX_MAX_SHOWN_CMDS && rc == 0;
	    c = c->next, k++) {
		cmd_event(r, c, images, cl, &ev);
		for (size_t i = 0; i < s->n && rc == 0; i++) {
			if (done[i] || !eval(&s->r[i], s->r[i].root, &mc, 0))
				continue;
			done[i] = 1;
			rc = add_match(r, &s->r[i], c);
		}
	}
	if (r->cmds == NULL) {
		/* nothing parsed as a command: the record text alone */
		cl[0] = (sigma_str){ r->input, r->len };
		ev = (sigma_event){ .cmdline = cl, .ncmdline = 1 };
		for (size_t i = 0; i < s->n && rc == 0; i++)
			if (eval(&s->r[i], s->r[i].root, &mc, 0))
				rc = add_match(r, &s->r[i], NULL);
	}
out:
	free(done);
	free(memo);
	return rc ? rc : r->oom ? ESC_ENOMEM : 0;
}
