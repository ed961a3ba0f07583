/* winkb.c — the Windows knowledge base (rules/windows/ *.yaml, docs/rules.md "Windows
 * rules"): cmdlets and tools, PowerShell verb defaults, aliases, sensitive locations and
 * text signatures. Loaded with libyaml's document API; every error names file:line:col.
 * Everything lives in one arena owned by the base; lookups go through a hash table. */
#include "lockbox/pwsh.h"
#include "util/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define WK_MAX_ITEMS 65536

struct winkb {
	lb_arena *a;
	wk_spec *specs;
	size_t nspecs, capspecs;
	wk_verb *verbs;
	size_t nverbs, capverbs;
	wk_sens *sens;
	size_t nsens, capsens;
	wk_sig *sigs;
	size_t nsigs, capsigs;
	/* alias name -> target name (resolved in winkb_finish) */
	const char **alias_from, **alias_to;
	size_t naliases, capaliases;
	/* hash: lower-cased name -> spec index + 1 */
	const char **hkeys;
	uint32_t *hval;
	size_t hcap;
	/* signature patterns indexed by the first two bytes of a literal part of each, so a
	 * text is scanned once instead of once per pattern */
	uint32_t *sig_head;   /* 65536 chains: entry index + 1 */
	struct sig_ent *sig_ents;
	size_t nsig_ents;
	uint32_t *sig_always; /* entries without a 2-byte literal: always tried */
	size_t nsig_always;
};

struct sig_ent {
	uint32_t sig;
	const char *pat;
	const char *key;
	size_t keylen;
	int glob;
	uint32_t next;
};

typedef struct ld {
	winkb *w;
	yaml_document_t *doc;
	const char *file;
	buf *err;
} ld;

static int
ld_err(ld *l, const yaml_node_t *n, const char *msg, const char *arg)
{
	if (l->err) {
		buf_reset(l->err);
		buf_printf(l->err, "%s:%zu:%zu: %s%s%s", l->file,
		    n ? n->start_mark.line + 1 : (size_t)1, n ? n->start_mark.column + 1 : (size_t)1,
		    msg, arg ? ": " : "", arg ? arg : "");
	}
	return ESC_EPARSE;
}

static const char *
scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static char *
lower_dup(lb_arena *a, const char *s)
{
	size_t n = strlen(s);
	char *d = lb_arena_strndup(a, s, n);
	if (d)
		for (size_t i = 0; i < n; i++)
			d[i] = (char)tolower((unsigned char)d[i]);
	return d;
}

static int
get_str(ld *l, yaml_node_t *v, const char **out, int lower)
{
	const char *s = scalar(v);
	if (s == NULL)
		return ld_err(l, v, "expected a string", NULL);
	*out = lower ? lower_dup(l->w->a, s) : lb_arena_strndup(l->w->a, s, strlen(s));
	return *out ? 0 : ESC_ENOMEM;
}

static int
get_strs(ld *l, yaml_node_t *v, kb_strs *out, int lower)
{
	if (v->type == YAML_SCALAR_NODE) {
		out->v = lb_arena_alloc(l->w->a, sizeof *out->v);
		if (out->v == NULL)
			return ESC_ENOMEM;
		out->n = 1;
		return get_str(l, v, &out->v[0], lower);
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return ld_err(l, v, "expected a list of strings", NULL);
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > 4096)
		return ld_err(l, v, "list too long", NULL);
	out->v = lb_arena_alloc(l->w->a, sizeof *out->v * (n ? n : 1));
	if (out->v == NULL)
		return ESC_ENOMEM;
	out->n = (uint16_t)n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(l->doc, v->data.sequence.items.start[i]);
		int rc = get_str(l, it, &out->v[i], lower);
		if (rc)
			return rc;
	}
	return 0;
}

static int
get_risk(ld *l, yaml_node_t *v, int8_t *out)
{
	const char *s = scalar(v);
	int r = s ? kb_risk_lookup(s) : -1;
	if (r < 0)
		return ld_err(l, v, "unknown risk (none, low, medium, high, critical)", s);
	*out = (int8_t)r;
	return 0;
}

static int
get_bool(ld *l, yaml_node_t *v, int8_t *out)
{
	const char *s = scalar(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		*out = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		*out = 0;
	else
		return ld_err(l, v, "expected true or false", s);
	return 0;
}

static int
get_cats(ld *l, yaml_node_t *v, kb_cats *out)
{
	kb_strs s = { 0 };
	int rc = get_strs(l, v, &s, 0);
	if (rc)
		return rc;
	for (uint16_t i = 0; i < s.n; i++) {
		int c = kb_cat_lookup(s.v[i]);
		if (c < 0) {
			yaml_node_t *it = v->type == YAML_SEQUENCE_NODE ?
			    yaml_document_get_node(l->doc, v->data.sequence.items.start[i]) : v;
			return ld_err(l, it, "unknown category", s.v[i]);
		}
		*out |= KB_CAT(c);
	}
	return 0;
}

static int
get_attack(ld *l, yaml_node_t *v, kb_strs *out)
{
	int rc = get_strs(l, v, out, 0);
	if (rc)
		return rc;
	for (uint16_t i = 0; i < out->n; i++) {
		const char *s = out->v[i];
		if (s[0] != 'T' || !isdigit((unsigned char)s[1]))
			return ld_err(l, v, "ATT&CK ids look like T1059.001", s);
	}
	return 0;
}

static int
get_access(ld *l, yaml_node_t *v, int8_t *out)
{
	static const char *const names[] = { "none", "read", "write", "delete", "exec" };
	const char *s = scalar(v);
	for (int i = 0; s && i < 5; i++)
		if (!strcmp(s, names[i])) {
			*out = (int8_t)i;
			return 0;
		}
	return ld_err(l, v, "unknown access (none, read, write, delete, exec)", s);
}

#define FOR_PAIRS(l, map, k, v) \
	for (yaml_node_pair_t *pair_ = (map)->data.mapping.pairs.start; \
	    pair_ < (map)->data.mapping.pairs.top; pair_++) \
		for (yaml_node_t *k = yaml_document_get_node((l)->doc, pair_->key), \
		    *v = yaml_document_get_node((l)->doc, pair_->value), *once_ = k; once_; \
		    once_ = NULL)

static int
need_map(ld *l, yaml_node_t *n, const char *what)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return ld_err(l, n, "expected a mapping", what);
	return 0;
}

static int
grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	if (n >= WK_MAX_ITEMS)
		return ESC_ETOOBIG;
	size_t nc = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, nc * sz);
	if (p == NULL)
		return ESC_ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static int
load_when(ld *l, yaml_node_t *n, wk_when *w)
{
	int rc = need_map(l, n, "when entry");
	if (rc)
		return rc;
	w->risk = KB_RISK_UNSET;
	w->readonly = -1;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "args"))
			rc = get_strs(l, v, &w->args, 1);
		else if (!strcmp(key, "line"))
			rc = get_strs(l, v, &w->line, 1);
		else if (!strcmp(key, "params"))
			rc = get_strs(l, v, &w->params, 1);
		else if (!strcmp(key, "risk"))
			rc = get_risk(l, v, &w->risk);
		else if (!strcmp(key, "categories"))
			rc = get_cats(l, v, &w->cats);
		else if (!strcmp(key, "attack"))
			rc = get_attack(l, v, &w->attack);
		else if (!strcmp(key, "id"))
			rc = get_str(l, v, &w->id, 0);
		else if (!strcmp(key, "message"))
			rc = get_str(l, v, &w->message, 0);
		else if (!strcmp(key, "explain"))
			rc = get_str(l, v, &w->explain, 0);
		else if (!strcmp(key, "readonly"))
			rc = get_bool(l, v, &w->readonly);
		else
			return ld_err(l, k, "unknown key in a when entry", key);
		if (rc)
			return rc;
	}
	if (!w->args.n && !w->line.n && !w->params.n)
		return ld_err(l, n, "a when entry needs args, line or params", NULL);
	return 0;
}

static int
load_command(ld *l, yaml_node_t *n)
{
	winkb *w = l->w;
	int rc = need_map(l, n, "command");
	if (rc)
		return rc;
	if ((rc = grow((void **)&w->specs, &w->capspecs, w->nspecs, sizeof *w->specs)) != 0)
		return rc == ESC_ETOOBIG ? ld_err(l, n, "too many commands", NULL) : rc;
	wk_spec *s = &w->specs[w->nspecs];
	memset(s, 0, sizeof *s);
	s->risk = KB_RISK_UNSET;
	s->access = -1;
	s->readonly = -1;
	s->file = l->file;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "name"))
			rc = get_str(l, v, &s->name, 0);
		else if (!strcmp(key, "aliases"))
			rc = get_strs(l, v, &s->aliases, 1);
		else if (!strcmp(key, "describe"))
			rc = get_str(l, v, &s->describe, 0);
		else if (!strcmp(key, "explain"))
			rc = get_str(l, v, &s->explain, 0);
		else if (!strcmp(key, "risk"))
			rc = get_risk(l, v, &s->risk);
		else if (!strcmp(key, "access"))
			rc = get_access(l, v, &s->access);
		else if (!strcmp(key, "readonly"))
			rc = get_bool(l, v, &s->readonly);
		else if (!strcmp(key, "categories"))
			rc = get_cats(l, v, &s->cats);
		else if (!strcmp(key, "attack"))
			rc = get_attack(l, v, &s->attack);
		else if (!strcmp(key, "handler"))
			rc = get_str(l, v, &s->handler, 1);
		else if (!strcmp(key, "when")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return ld_err(l, v, "when: expected a list", NULL);
			size_t m = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			if (m > 1024)
				return ld_err(l, v, "when: too many entries", NULL);
			s->when = lb_arena_alloc(w->a, sizeof *s->when * (m ? m : 1));
			if (s->when == NULL)
				return ESC_ENOMEM;
			s->nwhen = (uint16_t)m;
			for (size_t i = 0; i < m && rc == 0; i++)
				rc = load_when(l, yaml_document_get_node(l->doc,
				    v->data.sequence.items.start[i]), &s->when[i]);
		} else
			return ld_err(l, k, "unknown key in a command", key);
		if (rc)
			return rc;
	}
	if (s->name == NULL || !*s->name)
		return ld_err(l, n, "a command needs a name", NULL);
	if (s->describe == NULL)
		return ld_err(l, n, "a command needs describe", s->name);
	w->nspecs++;
	return 0;
}

static int
load_verb(ld *l, yaml_node_t *n)
{
	winkb *w = l->w;
	int rc = need_map(l, n, "verb rule");
	if (rc)
		return rc;
	if ((rc = grow((void **)&w->verbs, &w->capverbs, w->nverbs, sizeof *w->verbs)) != 0)
		return rc;
	wk_verb *v0 = &w->verbs[w->nverbs];
	memset(v0, 0, sizeof *v0);
	v0->risk = KB_RISK_UNSET;
	v0->access = -1;
	v0->readonly = -1;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "verbs"))
			rc = get_strs(l, v, &v0->verbs, 1);
		else if (!strcmp(key, "risk"))
			rc = get_risk(l, v, &v0->risk);
		else if (!strcmp(key, "access"))
			rc = get_access(l, v, &v0->access);
		else if (!strcmp(key, "readonly"))
			rc = get_bool(l, v, &v0->readonly);
		else if (!strcmp(key, "categories"))
			rc = get_cats(l, v, &v0->cats);
		else if (!strcmp(key, "explain"))
			rc = get_str(l, v, &v0->explain, 0);
		else
			return ld_err(l, k, "unknown key in a verb rule", key);
		if (rc)
			return rc;
	}
	if (!v0->verbs.n)
		return ld_err(l, n, "a verb rule needs verbs", NULL);
	w->nverbs++;
	return 0;
}

static int
load_fx(ld *l, yaml_node_t *n, wk_sens *s, int x)
{
	int rc = need_map(l, n, "access effect");
	if (rc)
		return rc;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "risk"))
			rc = get_risk(l, v, &s->risk[x]);
		else if (!strcmp(key, "categories"))
			rc = get_cats(l, v, &s->cats[x]);
		else if (!strcmp(key, "attack"))
			rc = get_attack(l, v, &s->attack[x]);
		else
			return ld_err(l, k, "unknown key (risk, categories, attack)", key);
		if (rc)
			return rc;
	}
	if (s->risk[x] == KB_RISK_UNSET)
		s->risk[x] = 0;
	return 0;
}

static int
load_sens(ld *l, yaml_node_t *n)
{
	winkb *w = l->w;
	int rc = need_map(l, n, "sensitive entry");
	if (rc)
		return rc;
	if ((rc = grow((void **)&w->sens, &w->capsens, w->nsens, sizeof *w->sens)) != 0)
		return rc;
	wk_sens *s = &w->sens[w->nsens];
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 5; i++)
		s->risk[i] = KB_RISK_UNSET;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "match"))
			rc = get_strs(l, v, &s->match, 1);
		else if (!strcmp(key, "describe"))
			rc = get_str(l, v, &s->describe, 0);
		else if (!strcmp(key, "read"))
			rc = load_fx(l, v, s, WK_X_READ);
		else if (!strcmp(key, "write"))
			rc = load_fx(l, v, s, WK_X_WRITE);
		else if (!strcmp(key, "delete"))
			rc = load_fx(l, v, s, WK_X_DELETE);
		else if (!strcmp(key, "exec"))
			rc = load_fx(l, v, s, WK_X_EXEC);
		else
			return ld_err(l, k, "unknown key in a sensitive entry", key);
		if (rc)
			return rc;
	}
	if (!s->match.n || !s->describe)
		return ld_err(l, n, "a sensitive entry needs match and describe", NULL);
	w->nsens++;
	return 0;
}

static int
load_sig(ld *l, yaml_node_t *n)
{
	winkb *w = l->w;
	int rc = need_map(l, n, "signature");
	if (rc)
		return rc;
	if ((rc = grow((void **)&w->sigs, &w->capsigs, w->nsigs, sizeof *w->sigs)) != 0)
		return rc;
	wk_sig *s = &w->sigs[w->nsigs];
	memset(s, 0, sizeof *s);
	s->risk = KB_RISK_UNSET;
	FOR_PAIRS(l, n, k, v) {
		const char *key = scalar(k);
		if (key == NULL)
			return ld_err(l, k, "expected a key", NULL);
		if (!strcmp(key, "match"))
			rc = get_strs(l, v, &s->match, 1);
		else if (!strcmp(key, "id"))
			rc = get_str(l, v, &s->id, 0);
		else if (!strcmp(key, "risk"))
			rc = get_risk(l, v, &s->risk);
		else if (!strcmp(key, "categories"))
			rc = get_cats(l, v, &s->cats);
		else if (!strcmp(key, "attack"))
			rc = get_attack(l, v, &s->attack);
		else if (!strcmp(key, "message"))
			rc = get_str(l, v, &s->message, 0);
		else if (!strcmp(key, "opaque"))
			rc = get_bool(l, v, &s->opaque);
		else
			return ld_err(l, k, "unknown key in a signature", key);
		if (rc)
			return rc;
	}
	if (!s->match.n || !s->id || !s->message || s->risk == KB_RISK_UNSET)
		return ld_err(l, n, "a signature needs match, id, risk and message", NULL);
	w->nsigs++;
	return 0;
}

static int
load_list(ld *l, yaml_node_t *v, int (*fn)(ld *, yaml_node_t *))
{
	if (v->type != YAML_SEQUENCE_NODE)
		return ld_err(l, v, "expected a list", NULL);
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	    it++) {
		int rc = fn(l, yaml_document_get_node(l->doc, *it));
		if (rc)
			return rc;
	}
	return 0;
}

static int
load_aliases(ld *l, yaml_node_t *v)
{
	winkb *w = l->w;
	int rc = need_map(l, v, "aliases");
	if (rc)
		return rc;
	FOR_PAIRS(l, v, ak, av) {
		const char *from = scalar(ak), *to = scalar(av);
		if (from == NULL || to == NULL)
			return ld_err(l, ak, "aliases: expected alias: Name", NULL);
		size_t cap = w->capaliases;
		if ((rc = grow((void **)&w->alias_from, &w->capaliases, w->naliases,
		    sizeof *w->alias_from)) != 0)
			return rc;
		if (cap != w->capaliases || w->alias_to == NULL) {
			const char **nt = realloc(w->alias_to, sizeof *nt * w->capaliases);
			if (nt == NULL)
				return ESC_ENOMEM;
			w->alias_to = nt;
		}
		w->alias_from[w->naliases] = lower_dup(w->a, from);
		w->alias_to[w->naliases] = lower_dup(w->a, to);
		if (!w->alias_from[w->naliases] || !w->alias_to[w->naliases])
			return ESC_ENOMEM;
		w->naliases++;
	}
	return 0;
}

int
winkb_new(winkb **out)
{
	winkb *w = calloc(1, sizeof *w);
	if (w == NULL)
		return ESC_ENOMEM;
	w->a = lb_arena_new();
	if (w->a == NULL) {
		free(w);
		return ESC_ENOMEM;
	}
	*out = w;
	return 0;
}

void
winkb_free(winkb *w)
{
	if (w == NULL)
		return;
	free(w->specs);
	free(w->verbs);
	free(w->sens);
	free(w->sigs);
	free(w->alias_from);
	free(w->alias_to);
	free(w->hkeys);
	free(w->hval);
	free(w->sig_head);
	free(w->sig_ents);
	free(w->sig_always);
	lb_arena_free(w->a);
	free(w);
}

int
winkb_load_string(winkb *w, const char *name, const char *text, size_t len, buf *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = 0;
	ld l = { w, &doc, NULL, err };
	l.file = lb_arena_strndup(w->a, name, strlen(name));
	if (l.file == NULL)
		return ESC_ENOMEM;
	if (!yaml_parser_initialize(&parser))
		return ESC_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (err) {
			buf_reset(err);
			buf_printf(err, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
			    parser.problem_mark.column + 1,
			    parser.problem ? parser.problem : "YAML syntax error");
		}
		yaml_parser_delete(&parser);
		return ESC_EPARSE;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		rc = ld_err(&l, NULL, "empty document", NULL);
		goto out;
	}
	if ((rc = need_map(&l, root, "document")) != 0)
		goto out;
	int version = 0;
	FOR_PAIRS(&l, root, k, v) {
		const char *key = scalar(k);
		if (rc)
			break;
		if (key == NULL) {
			rc = ld_err(&l, k, "expected a key", NULL);
		} else if (!strcmp(key, "version")) {
			const char *s = scalar(v);
			if (s == NULL || strcmp(s, "1") != 0)
				rc = ld_err(&l, v, "unsupported version (expected 1)", s);
			version = 1;
		} else if (!strcmp(key, "commands")) {
			rc = load_list(&l, v, load_command);
		} else if (!strcmp(key, "verbs")) {
			rc = load_list(&l, v, load_verb);
		} else if (!strcmp(key, "sensitive")) {
			rc = load_list(&l, v, load_sens);
		} else if (!strcmp(key, "signatures")) {
			rc = load_list(&l, v, load_sig);
		} else if (!strcmp(key, "aliases")) {
			rc = load_aliases(&l, v);
		} else {
			rc = ld_err(&l, k, "unknown top-level key", key);
		}
	}
	if (rc == 0 && !version)
		rc = ld_err(&l, root, "missing version: 1", NULL);
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

static uint32_t
hash_lc(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)tolower((unsigned char)s[i]);
		h *= 16777619u;
	}
	return h;
}

static int
eq_lc(const char *key, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (key[i] != (char)tolower((unsigned char)s[i]))
			return 0;
	return key[n] == 0;
}

static int
hput(winkb *w, const char *key, uint32_t val)
{
	size_t n = strlen(key);
	size_t i = hash_lc(key, n) & (w->hcap - 1);
	while (w->hkeys[i]) {
		if (!strcmp(w->hkeys[i], key)) {
			w->hval[i] = val; /* a later definition wins */
			return 0;
		}
		i = (i + 1) & (w->hcap - 1);
	}
	w->hkeys[i] = key;
	w->hval[i] = val;
	return 0;
}

static uint32_t
hget(const winkb *w, const char *s, size_t n)
{
	if (w->hcap == 0)
		return 0;
	size_t i = hash_lc(s, n) & (w->hcap - 1);
	while (w->hkeys[i]) {
		if (eq_lc(w->hkeys[i], s, n))
			return w->hval[i];
		i = (i + 1) & (w->hcap - 1);
	}
	return 0;
}

static int
sig_index(winkb *w)
{
	size_t total = 0;
	for (size_t i = 0; i < w->nsigs; i++)
		total += w->sigs[i].match.n;
	free(w->sig_head);
	free(w->sig_ents);
	free(w->sig_always);
	w->sig_head = calloc(65536, sizeof *w->sig_head);
	w->sig_ents = calloc(total ? total : 1, sizeof *w->sig_ents);
	w->sig_always = calloc(total ? total : 1, sizeof *w->sig_always);
	w->nsig_ents = w->nsig_always = 0;
	if (!w->sig_head || !w->sig_ents || !w->sig_always)
		return ESC_ENOMEM;
	for (size_t i = 0; i < w->nsigs; i++)
		for (uint16_t j = 0; j < w->sigs[i].match.n; j++) {
			const char *p = w->sigs[i].match.v[j];
			struct sig_ent *e = &w->sig_ents[w->nsig_ents];
			e->sig = (uint32_t)i;
			e->pat = p;
			e->glob = strchr(p, '*') != NULL;
			/* the key: the longest run without wildcards */
			const char *best = NULL;
			size_t bl = 0;
			for (const char *q = p; *q;) {
				size_t l = strcspn(q, "*?");
				if (l > bl) {
					bl = l;
					best = q;
				}
				q += l;
				if (*q)
					q++;
			}
			e->key = best;
			e->keylen = bl;
			uint32_t idx = (uint32_t)w->nsig_ents++;
			if (bl < 2) {
				w->sig_always[w->nsig_always++] = idx;
				continue;
			}
			unsigned h = (unsigned char)best[0] << 8 | (unsigned char)best[1];
			e->next = w->sig_head[h];
			w->sig_head[h] = idx + 1;
		}
	return 0;
}

int
winkb_finish(winkb *w, buf *err)
{
	size_t total = w->nspecs + w->naliases;
	for (size_t i = 0; i < w->nspecs; i++)
		total += w->specs[i].aliases.n;
	size_t cap = 64;
	while (cap < total * 2 + 2)
		cap *= 2;
	free(w->hkeys);
	free(w->hval);
	w->hkeys = calloc(cap, sizeof *w->hkeys);
	w->hval = calloc(cap, sizeof *w->hval);
	if (w->hkeys == NULL || w->hval == NULL)
		return ESC_ENOMEM;
	w->hcap = cap;
	for (size_t i = 0; i < w->nspecs; i++) {
		const char *k = lower_dup(w->a, w->specs[i].name);
		if (k == NULL)
			return ESC_ENOMEM;
		hput(w, k, (uint32_t)i + 1);
	}
	/* a command's own name wins over an alias map entry, which wins over a spec's
	 * aliases (del is cmd.exe's del even though PowerShell maps it to Remove-Item) */
	for (size_t i = 0; i < w->naliases; i++) {
		uint32_t v = hget(w, w->alias_to[i], strlen(w->alias_to[i]));
		for (size_t k = 0; v == 0 && k < w->nspecs; k++)
			for (uint16_t j = 0; j < w->specs[k].aliases.n; j++)
				if (!strcmp(w->specs[k].aliases.v[j], w->alias_to[i])) {
					v = (uint32_t)k + 1;
					break;
				}
		if (v == 0) {
			if (err) {
				buf_reset(err);
				buf_printf(err, "rules/windows:1:1: alias %s names unknown command %s",
				    w->alias_from[i], w->alias_to[i]);
			}
			return ESC_EPARSE;
		}
		if (hget(w, w->alias_from[i], strlen(w->alias_from[i])) == 0)
			hput(w, w->alias_from[i], v);
	}
	for (size_t i = 0; i < w->nspecs; i++)
		for (uint16_t j = 0; j < w->specs[i].aliases.n; j++)
			if (hget(w, w->specs[i].aliases.v[j], strlen(w->specs[i].aliases.v[j])) == 0)
				hput(w, w->specs[i].aliases.v[j], (uint32_t)i + 1);
	return sig_index(w);
}

/* Loads DIR/windows/ *.yaml in name order into w; a missing directory is fine. */
static int
load_windows_dir(winkb *w, const char *dir, buf *err)
{
	char **names = NULL;
	size_t n = 0;
	buf path = BUF_INIT, text = BUF_INIT;
	int rc;
	if ((rc = buf_printf(&path, "%s/windows", dir)) != 0 ||
	    (rc = kb_yaml_names(buf_cstr(&path), 0, 1, &names, &n, err)) != 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		buf_reset(&path);
		buf_reset(&text);
		if ((rc = buf_printf(&path, "%s/windows/%s", dir, names[i])) != 0)
			break;
		if ((rc = buf_read_file(&text, buf_cstr(&path))) != 0) {
			if (err) {
				buf_reset(err);
				buf_printf(err, "%s:1:1: cannot read: %s", buf_cstr(&path), strerror(errno));
			}
			break;
		}
		rc = winkb_load_string(w, buf_cstr(&path), (const char *)buf_cstr(&text), text.len,
		    err);
	}
out:
	kb_names_free(names, n);
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int
winkb_load(winkb **out, const char *rules_dir, const char *const *extra, buf *err)
{
	winkb *w = NULL;
	int rc = winkb_new(&w);
	if (rc)
		return rc;
	rc = load_windows_dir(w, rules_dir, err);
	/* a site's directories come later: their entries replace shipped ones by name */
	for (size_t i = 0; rc == 0 && extra && extra[i]; i++)
		rc = load_windows_dir(w, extra[i], err);
	if (rc == 0)
		rc = winkb_finish(w, err);
	if (rc) {
		winkb_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

size_t
winkb_count(const winkb *w)
{
	return w ? w->nspecs : 0;
}

const wk_spec *
winkb_lookup(const winkb *w, const char *name, size_t n)
{
	if (w == NULL)
		return NULL;
	uint32_t v = hget(w, name, n);
	return v ? &w->specs[v - 1] : NULL;
}

const wk_verb *
winkb_verb(const winkb *w, const char *name, size_t n)
{
	if (w == NULL)
		return NULL;
	const char *dash = memchr(name, '-', n);
	if (dash == NULL || dash == name || dash == name + n - 1)
		return NULL;
	size_t vl = (size_t)(dash - name);
	for (size_t i = 0; i < w->nverbs; i++)
		for (uint16_t j = 0; j < w->verbs[i].verbs.n; j++)
			if (strlen(w->verbs[i].verbs.v[j]) == vl && eq_lc(w->verbs[i].verbs.v[j], name, vl))
				return &w->verbs[i];
	return NULL;
}

/* Does the fixed-length segment seg (with ? wildcards) match s at i? */
static int
seg_at(const char *seg, size_t sl, const char *s, size_t i)
{
	for (size_t k = 0; k < sl; k++)
		if (seg[k] != '?' && seg[k] != s[i + k])
			return 0;
	return 1;
}

/* Leftmost position >= from where seg matches, or (size_t)-1. */
static size_t
seg_find(const char *seg, size_t sl, const char *s, size_t n, size_t from)
{
	if (sl == 0)
		return from;
	if (sl > n)
		return (size_t)-1;
	for (size_t i = from; i + sl <= n; i++) {
		if (seg[0] != '?') {
			const char *q = memchr(s + i, seg[0], n - sl + 1 - i);
			if (q == NULL)
				return (size_t)-1;
			i = (size_t)(q - s);
		}
		if (seg_at(seg, sl, s, i))
			return i;
	}
	return (size_t)-1;
}

int
wk_glob(const char *pat, const char *s, size_t n)
{
	/* '*' separates fixed-length segments (? matches one byte); matching each segment at
	 * its leftmost place in order is exact for such patterns and linear in practice */
	size_t pl = strlen(pat);
	const char *star = memchr(pat, '*', pl);
	if (star == NULL)
		return pl == n && seg_at(pat, pl, s, 0);
	size_t first = (size_t)(star - pat);
	if (first > n || !seg_at(pat, first, s, 0))
		return 0;
	const char *lastc = strrchr(pat, '*');
	size_t lastl = pl - (size_t)(lastc - pat) - 1;
	if (lastl > n - first || !seg_at(lastc + 1, lastl, s, n - lastl))
		return 0;
	size_t pos = first, end = n - lastl;
	const char *p = star + 1;
	while (p < lastc) {
		const char *q = memchr(p, '*', (size_t)(lastc - p) + 1);
		size_t sl = (size_t)(q - p);
		size_t at2 = seg_find(p, sl, s, end, pos);
		if (at2 == (size_t)-1)
			return 0;
		pos = at2 + sl;
		p = q + 1;
	}
	return 1;
}

size_t
winkb_sensitive(const winkb *w, const char *lc, const wk_sens **out, size_t max)
{
	size_t k = 0, n = strlen(lc);
	if (w == NULL)
		return 0;
	for (size_t i = 0; i < w->nsens && k < max; i++)
		for (uint16_t j = 0; j < w->sens[i].match.n; j++)
			if (wk_glob(w->sens[i].match.v[j], lc, n)) {
				out[k++] = &w->sens[i];
				break;
			}
	return k;
}

void
winkb_sig_scan(const winkb *w, const char *lc, size_t n, int64_t *pos)
{
	for (size_t i = 0; i < w->nsigs; i++)
		pos[i] = -1;
	if (w->sig_head == NULL || n == 0)
		return;
	/* a glob is tried once, when its key first shows up */
	uint8_t tried_small[512];
	uint8_t *tried = w->nsig_ents <= sizeof tried_small ? tried_small :
	    calloc(w->nsig_ents, 1);
	if (tried == NULL)
		return;
	memset(tried, 0, w->nsig_ents <= sizeof tried_small ? w->nsig_ents : 0);
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned h = (unsigned char)lc[i] << 8 | (unsigned char)lc[i + 1];
		for (uint32_t k = w->sig_head[h]; k; k = w->sig_ents[k - 1].next) {
			const struct sig_ent *e = &w->sig_ents[k - 1];
			if (pos[e->sig] >= 0 || e->keylen > n - i || memcmp(lc + i, e->key, e->keylen))
				continue;
			if (!e->glob) {
				pos[e->sig] = (int64_t)i;
			} else if (!tried[k - 1]) {
				tried[k - 1] = 1;
				if (wk_glob(e->pat, lc, n))
					pos[e->sig] = (int64_t)n; /* matched; no single place */
			}
		}
	}
	for (size_t k = 0; k < w->nsig_always; k++) {
		const struct sig_ent *e = &w->sig_ents[w->sig_always[k]];
		if (pos[e->sig] < 0 && (e->glob ? wk_glob(e->pat, lc, n) : strstr(lc, e->pat) != NULL))
			pos[e->sig] = (int64_t)n;
	}
	if (tried != tried_small)
		free(tried);
}

size_t
winkb_sigs(const winkb *w, const wk_sig **out)
{
	if (w == NULL) {
		*out = NULL;
		return 0;
	}
	*out = w->sigs;
	return w->nsigs;
}
