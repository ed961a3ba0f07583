/* kb.c — loads the lockbox knowledge base (docs/rules.md) from YAML with libyaml's
 * document API, validates every field strictly (a typo in a rule must not silently weaken
 * analysis), and builds the program hash table and the precompiled path matchers. */
#include "lockbox/kb.h"
#include "util/err.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- vocabularies --------------------------------------------------------------------- */

static const char *const cat_names[KB_C_COUNT] = {
	"file-read", "file-write", "file-delete", "config-change", "credential-access",
	"network-download", "network-upload", "network-connect", "network-listen",
	"reverse-shell", "bind-shell", "remote-exec", "code-exec", "shell-escape",
	"privilege-escalation", "persistence", "account-change", "permission-change",
	"service-change", "security-disable", "log-tamper", "destructive", "package-install",
	"kernel-module", "process-kill", "obfuscation", "display-deception", "opaque", "recon",
};

static const char *const role_names[KB_R_COUNT] = {
	"none", "read", "write", "append", "delete", "modify", "exec", "command", "code",
	"host", "url", "listen", "user", "group", "service", "package", "module", "device",
	"mode", "pattern", "text", "dir",
};

static const char *const handler_names[KB_H_COUNT] = {
	"", "find", "xargs", "tar", "dd", "chmod", "sh", "ssh", "su", "env", "busybox",
	"curl", "wget", "nc", "socat", "openssl", "interpreter", "sed", "awk",
};

static const char *const risk_names[] = { "none", "low", "medium", "high", "critical" };

static const struct {
	const char *name;
	uint32_t bit;
} flag_names[] = {
	{ "recursive", KB_F_RECURSIVE }, { "force", KB_F_FORCE },
	{ "in-place", KB_F_IN_PLACE }, { "listen", KB_F_LISTEN }, { "upload", KB_F_UPLOAD },
	{ "download-to", KB_F_DOWNLOAD_TO }, { "exec", KB_F_EXEC }, { "shell", KB_F_SHELL },
	{ "interactive", KB_F_INTERACTIVE }, { "background", KB_F_BACKGROUND },
	{ "no-verify", KB_F_NO_VERIFY }, { "setuid", KB_F_SETUID }, { "all", KB_F_ALL },
	{ "stdout", KB_F_STDOUT },
};

const char *
kb_cat_name(kb_cat c)
{
	return (unsigned)c < KB_C_COUNT ? cat_names[c] : "?";
}

int
kb_cat_lookup(const char *s)
{
	for (int i = 0; i < KB_C_COUNT; i++)
		if (strcmp(s, cat_names[i]) == 0)
			return i;
	return -1;
}

int
kb_risk_lookup(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, risk_names[i]) == 0)
			return i;
	return -1;
}

const char *
kb_role_name(kb_role r)
{
	return (unsigned)r < KB_R_COUNT ? role_names[r] : "?";
}

int
kb_role_lookup(const char *s)
{
	for (int i = 0; i < KB_R_COUNT; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

int
kb_flag_lookup(const char *s)
{
	for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
		if (strcmp(s, flag_names[i].name) == 0)
			return (int)flag_names[i].bit;
	return 0;
}

int
kb_handler_lookup(const char *s)
{
	for (int i = 1; i < KB_H_COUNT; i++)
		if (strcmp(s, handler_names[i]) == 0)
			return i;
	return -1;
}

const char *
kb_handler_name(kb_handler h)
{
	return (unsigned)h < KB_H_COUNT ? handler_names[h] : "?";
}

/* ---- the knowledge base ------------------------------------------------------------- */

/* A compiled path pattern: one `match` entry, after ~/$HOME expansion. */
typedef struct kb_cpat {
	const char *pat;   /* full pattern (dir patterns: without the trailing '/') */
	const char *globd; /* dir glob patterns: the pattern plus "/" and "*", for fnmatch */
	const char *lit;   /* literal prefix before the first glob character */
	uint16_t litlen;
	uint8_t dir;       /* pattern ended in '/' */
	uint8_t glob;      /* pattern has glob characters */
	uint8_t need_len;  /* length of `need` (0: none) */
	uint8_t tail_len;  /* length of `tail` (0: none) */
	uint8_t keyed;     /* its first component is literal (it sits in a bucket) */
	uint32_t entry;    /* index into paths (priority order) */
	const char *need;  /* glob patterns: a literal run every match must contain */
	const char *tail;  /* glob file patterns: the literal end every match has */
} kb_cpat;

/* Path index: patterns whose first component is literal (/etc/..., /home/ *) can only
 * match paths with that first component, so each such component gets the list of
 * pattern indices to try (its own patterns merged, in priority order, with the patterns
 * that may match anything); every other path tries only the latter. Paths are checked
 * for every operand of every command, and most match no entry, so this turns a scan of
 * every pattern into a few comparisons. */
typedef struct kb_pbucket {
	const char *comp;  /* first component ("etc"; "" for the root itself) */
	uint16_t clen;
	uint32_t off, n;   /* into pidx */
} kb_pbucket;

typedef struct pool_blk {
	struct pool_blk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} pool_blk;

struct kb {
	pool_blk *pool;
	/* specs in load order; later ones override earlier names */
	kb_spec **specs;
	size_t nspecs, capspecs;
	/* hash table: name -> spec */
	const char **hkeys;
	const kb_spec **hvals;
	size_t hcap, hcount;
	/* paths: entries[] from each file in load order; `prio` flips so later dirs win */
	kb_path **paths;
	size_t npaths, cappaths;
	int *path_level; /* 0 built-in, 1.. extra dir number: higher wins */
	kb_cpat *cpats;
	size_t ncpats;
	kb_pbucket *pbuckets;
	size_t npbuckets;
	uint32_t *pidx;       /* bucket lists, then the catch-all list */
	uint32_t any_off, any_n;
	int level;       /* level of the file being loaded */
	size_t nprograms;
};

static void *
kb_alloc(kb *k, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (k->pool == NULL || k->pool->cap - k->pool->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		pool_blk *b = malloc(sizeof *b + cap);
		if (b == NULL)
			return NULL;
		b->next = k->pool;
		b->used = 0;
		b->cap = cap;
		k->pool = b;
	}
	void *p = k->pool->data + k->pool->used;
	k->pool->used += n;
	memset(p, 0, n);
	return p;
}

static char *
kb_strndup(kb *k, const char *s, size_t n)
{
	char *p = kb_alloc(k, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

int
kb_new(kb **out)
{
	kb *k = calloc(1, sizeof *k);
	if (k == NULL)
		return ESC_ENOMEM;
	*out = k;
	return 0;
}

void
kb_free(kb *k)
{
	if (k == NULL)
		return;
	pool_blk *b = k->pool;
	while (b) {
		pool_blk *n = b->next;
		free(b);
		b = n;
	}
	free(k->specs);
	free(k->hkeys);
	free(k->hvals);
	free(k->paths);
	free(k->path_level);
	free(k->cpats);
	free(k->pbuckets);
	free(k->pidx);
	free(k);
}

size_t
kb_program_count(const kb *k)
{
	return k ? k->nprograms : 0;
}

/* ---- YAML walking --------------------------------------------------------------------- */

typedef struct ld {
	kb *k;
	const char *file;
	yaml_document_t *doc;
	buf *err;
	int rc;
} ld;

static int ld_err(ld *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
ld_err(ld *l, const yaml_node_t *n, const char *fmt, ...)
{
	if (l->rc == 0) {
		if (l->err) {
			va_list ap;
			buf_reset(l->err);
			buf_printf(l->err, "%s:%zu:%zu: ", l->file,
			    n ? n->start_mark.line + 1 : (size_t)1,
			    n ? n->start_mark.column + 1 : (size_t)1);
			va_start(ap, fmt);
			buf_vprintf(l->err, fmt, ap);
			va_end(ap);
		}
		l->rc = ESC_EPARSE;
	}
	return ESC_EPARSE;
}

static yaml_node_t *
ld_node(ld *l, int idx)
{
	return yaml_document_get_node(l->doc, idx);
}

/* A scalar's value as a kb string; NULL (with error set) when n is not a scalar. */
static const char *
ld_str(ld *l, yaml_node_t *n, const char *what)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		ld_err(l, n, "%s must be a string", what);
		return NULL;
	}
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
		ld_err(l, n, "%s contains a NUL byte", what);
		return NULL;
	}
	char *s = kb_strndup(l->k, (const char *)n->data.scalar.value, n->data.scalar.length);
	if (s == NULL) {
		l->rc = ESC_ENOMEM;
		if (l->err) {
			buf_reset(l->err);
			buf_printf(l->err, "%s: out of memory", l->file);
		}
	}
	return s;
}

static const char *
ld_scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A list of strings: a sequence of scalars, or one scalar. */
static int
ld_strs(ld *l, yaml_node_t *n, const char *what, kb_strs *out)
{
	if (n && n->type == YAML_SCALAR_NODE) {
		out->v = kb_alloc(l->k, sizeof *out->v);
		if (out->v == NULL)
			return l->rc = ESC_ENOMEM;
		out->v[0] = ld_str(l, n, what);
		out->n = 1;
		return out->v[0] ? 0 : l->rc;
	}
	if (n == NULL || n->type != YAML_SEQUENCE_NODE)
		return ld_err(l, n, "%s must be a list of strings", what);
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt > 4096)
		return ld_err(l, n, "%s has too many entries", what);
	out->v = kb_alloc(l->k, (cnt ? cnt : 1) * sizeof *out->v);
	if (out->v == NULL)
		return l->rc = ESC_ENOMEM;
	out->n = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	    it++) {
		const char *s = ld_str(l, ld_node(l, *it), what);
		if (s == NULL)
			return l->rc;
		out->v[out->n++] = s;
	}
	return 0;
}

static int
ld_risk(ld *l, yaml_node_t *n, int8_t *out)
{
	const char *s = ld_scalar(n);
	int r = s ? kb_risk_lookup(s) : -1;
	if (r < 0)
		return ld_err(l, n, "risk must be one of none, low, medium, high, critical (got '%s')",
		    s ? s : "?");
	*out = (int8_t)r;
	return 0;
}

static int
ld_role(ld *l, yaml_node_t *n, int8_t *out)
{
	const char *s = ld_scalar(n);
	int r = s ? kb_role_lookup(s) : -1;
	if (r < 0)
		return ld_err(l, n, "unknown role '%s'", s ? s : "?");
	*out = (int8_t)r;
	return 0;
}

static int
ld_cats(ld *l, yaml_node_t *n, kb_cats *out)
{
	kb_strs v = { 0 };
	if (ld_strs(l, n, "categories", &v))
		return l->rc;
	for (uint16_t i = 0; i < v.n; i++) {
		int c = kb_cat_lookup(v.v[i]);
		if (c < 0)
			return ld_err(l, n, "unknown category '%s'", v.v[i]);
		*out |= KB_CAT(c);
	}
	return 0;
}

static int
ld_attack(ld *l, yaml_node_t *n, kb_strs *out)
{
	if (ld_strs(l, n, "attack", out))
		return l->rc;
	for (uint16_t i = 0; i < out->n; i++) {
		const char *s = out->v[i];
		/* T1234 or T1234.001 */
		size_t len = strlen(s);
		int ok = (len == 5 || len == 9) && s[0] == 'T';
		for (size_t j = 1; ok && j < len; j++)
			ok = (j == 5) ? s[j] == '.' : (s[j] >= '0' && s[j] <= '9');
		if (!ok)
			return ld_err(l, n, "attack id '%s' is not an ATT&CK technique (T1234 or T1234.001)",
			    s);
	}
	return 0;
}

static int
ld_bool(ld *l, yaml_node_t *n, int8_t *out)
{
	const char *s = ld_scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
		*out = 1;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
		*out = 0;
		return 0;
	}
	return ld_err(l, n, "expected true or false");
}

static int
ld_int(ld *l, yaml_node_t *n, long lo, long hi, long *out)
{
	const char *s = ld_scalar(n);
	char *end = NULL;
	long v = 0;
	if (s) {
		errno = 0;
		v = strtol(s, &end, 10);
	}
	if (s == NULL || *s == 0 || *end || errno || v < lo || v > hi)
		return ld_err(l, n, "expected a small integer");
	*out = v;
	return 0;
}

static int
ld_names(ld *l, yaml_node_t *n, kb_opt *o)
{
	kb_strs v = { 0 };
	if (ld_strs(l, n, "option names", &v))
		return l->rc;
	if (v.n == 0)
		return ld_err(l, n, "option names must not be empty");
	o->names = kb_alloc(l->k, v.n * sizeof *o->names);
	if (o->names == NULL)
		return l->rc = ESC_ENOMEM;
	for (uint16_t i = 0; i < v.n; i++) {
		const char *s = v.v[i];
		size_t len = strlen(s);
		kb_name *nm = &o->names[i];
		if (len == 0 || len > 200)
			return ld_err(l, n, "bad option name '%s'", s);
		nm->s = s;
		nm->len = (uint16_t)len;
		if (s[len - 1] == '=' && len > 1)
			nm->kind = KB_N_PREFIX;
		else if (s[0] == '-' && s[1] == '-' && len > 2)
			nm->kind = KB_N_LONG;
		else if (s[0] == '-' && len == 2)
			nm->kind = KB_N_SHORT;
		else if (s[0] == '-' && len > 2)
			nm->kind = KB_N_SDLONG;
		else if (s[len - 1] == '=' && len > 1)
			nm->kind = KB_N_PREFIX;
		else
			nm->kind = KB_N_WORD;
	}
	o->nnames = v.n;
	return 0;
}

static int
ld_flags(ld *l, yaml_node_t *n, uint32_t *out)
{
	kb_strs v = { 0 };
	if (ld_strs(l, n, "flag", &v))
		return l->rc;
	for (uint16_t i = 0; i < v.n; i++) {
		int b = kb_flag_lookup(v.v[i]);
		if (b == 0)
			return ld_err(l, n, "unknown flag '%s'", v.v[i]);
		*out |= (uint32_t)b;
	}
	return 0;
}

static int
ld_option(ld *l, yaml_node_t *n, kb_opt *o)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return ld_err(l, n, "an option must be a mapping");
	o->risk = KB_RISK_UNSET;
	o->operands = KB_ROLE_UNSET;
	o->readonly = -1;
	int have_names = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		yaml_node_t *kn = ld_node(l, p->key), *vn = ld_node(l, p->value);
		const char *key = ld_scalar(kn);
		int8_t r8;
		if (key == NULL)
			return ld_err(l, kn, "keys must be strings");
		if (!strcmp(key, "names")) {
			if (ld_names(l, vn, o))
				return l->rc;
			have_names = 1;
		} else if (!strcmp(key, "arg")) {
			const char *s = ld_scalar(vn);
			if (s && !strcmp(s, "none"))
				o->arg = KB_A_NONE;
			else if (s && !strcmp(s, "required"))
				o->arg = KB_A_REQUIRED;
			else if (s && !strcmp(s, "optional"))
				o->arg = KB_A_OPTIONAL;
			else
				return ld_err(l, vn, "arg must be none, required or optional");
		} else if (!strcmp(key, "role")) {
			if (ld_role(l, vn, &r8))
				return l->rc;
			o->role = (uint8_t)r8;
		} else if (!strcmp(key, "flag") || !strcmp(key, "flags")) {
			if (ld_flags(l, vn, &o->flags))
				return l->rc;
		} else if (!strcmp(key, "risk")) {
			if (ld_risk(l, vn, &o->risk))
				return l->rc;
		} else if (!strcmp(key, "categories")) {
			if (ld_cats(l, vn, &o->cats))
				return l->rc;
		} else if (!strcmp(key, "attack")) {
			if (ld_attack(l, vn, &o->attack))
				return l->rc;
		} else if (!strcmp(key, "operands")) {
			if (ld_role(l, vn, &o->operands))
				return l->rc;
		} else if (!strcmp(key, "explain") || !strcmp(key, "describe")) {
			if ((o->explain = ld_str(l, vn, key)) == NULL)
				return l->rc;
		} else if (!strcmp(key, "readonly")) {
			if (ld_bool(l, vn, &o->readonly))
				return l->rc;
		} else {
			return ld_err(l, kn, "unknown option key '%s'", key);
		}
	}
	if (!have_names)
		return ld_err(l, n, "an option needs names");
	/* an option with a role but no arg declared takes an argument */
	if (o->role != KB_R_NONE && o->arg == KB_A_NONE) {
		int prefix = 0;
		for (uint16_t i = 0; i < o->nnames; i++)
			prefix |= o->names[i].kind == KB_N_PREFIX;
		if (!prefix)
			o->arg = KB_A_REQUIRED;
	}
	return 0;
}

static int ld_spec(ld *l, yaml_node_t *n, kb_spec *s, int is_sub);

static int
ld_seq_of(ld *l, yaml_node_t *n, const char *what, size_t *cnt)
{
	if (n == NULL || n->type != YAML_SEQUENCE_NODE)
		return ld_err(l, n, "%s must be a list", what);
	*cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (*cnt > 4096)
		return ld_err(l, n, "%s has too many entries", what);
	return 0;
}

static int
ld_spec(ld *l, yaml_node_t *n, kb_spec *s, int is_sub)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return ld_err(l, n, "%s", is_sub ? "a subcommand must be a mapping" :
		    "a command must be a mapping");
	s->risk = KB_RISK_UNSET;
	s->operands = KB_ROLE_UNSET;
	s->last = KB_ROLE_UNSET;
	s->readonly = -1;
	s->stdin_role = KB_ROLE_UNSET;
	s->wrapper_skip = -1;
	s->file = l->file;
	kb_strs aliases = { 0 };
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		yaml_node_t *kn = ld_node(l, p->key), *vn = ld_node(l, p->value);
		const char *key = ld_scalar(kn);
		size_t cnt;
		if (key == NULL)
			return ld_err(l, kn, "keys must be strings");
		if (!is_sub && !strcmp(key, "name")) {
			if ((s->name = ld_str(l, vn, "name")) == NULL)
				return l->rc;
			if (s->name[0] == 0 || strchr(s->name, '/'))
				return ld_err(l, vn, "name '%s' must be a program basename", s->name);
		} else if (is_sub && (!strcmp(key, "names") || !strcmp(key, "name"))) {
			if (ld_strs(l, vn, "subcommand names", &s->names))
				return l->rc;
			if (s->names.n == 0)
				return ld_err(l, vn, "subcommand names must not be empty");
			s->name = s->names.v[0];
		} else if (!is_sub && !strcmp(key, "aliases")) {
			if (ld_strs(l, vn, "aliases", &aliases))
				return l->rc;
		} else if (!strcmp(key, "describe")) {
			if ((s->describe = ld_str(l, vn, key)) == NULL)
				return l->rc;
		} else if (!strcmp(key, "explain")) {
			if ((s->explain = ld_str(l, vn, key)) == NULL)
				return l->rc;
		} else if (!strcmp(key, "risk")) {
			if (ld_risk(l, vn, &s->risk))
				return l->rc;
		} else if (!strcmp(key, "categories")) {
			if (ld_cats(l, vn, &s->cats))
				return l->rc;
		} else if (!strcmp(key, "attack")) {
			if (ld_attack(l, vn, &s->attack))
				return l->rc;
		} else if (!strcmp(key, "operands")) {
			if (ld_role(l, vn, &s->operands))
				return l->rc;
		} else if (!strcmp(key, "last")) {
			if (ld_role(l, vn, &s->last))
				return l->rc;
		} else if (!is_sub && !strcmp(key, "extend")) {
			if (ld_bool(l, vn, &s->extend))
				return l->rc;
		} else if (!strcmp(key, "stdin")) {
			if (ld_role(l, vn, &s->stdin_role))
				return l->rc;
		} else if (!strcmp(key, "first")) {
			kb_strs v = { 0 };
			if (ld_strs(l, vn, "first", &v))
				return l->rc;
			s->first = kb_alloc(l->k, v.n ? v.n : 1);
			if (s->first == NULL)
				return l->rc = ESC_ENOMEM;
			for (uint16_t i = 0; i < v.n; i++) {
				int r = kb_role_lookup(v.v[i]);
				if (r < 0)
					return ld_err(l, vn, "unknown role '%s'", v.v[i]);
				s->first[i] = (uint8_t)r;
			}
			s->nfirst = v.n;
		} else if (!strcmp(key, "readonly")) {
			if (ld_bool(l, vn, &s->readonly))
				return l->rc;
		} else if (!strcmp(key, "handler")) {
			const char *h = ld_scalar(vn);
			int hv = h ? kb_handler_lookup(h) : -1;
			if (hv < 0)
				return ld_err(l, vn, "unknown handler '%s'", h ? h : "?");
			s->handler = (uint8_t)hv;
		} else if (!strcmp(key, "wrapper")) {
			long skip = 0;
			if (vn && vn->type == YAML_MAPPING_NODE) {
				for (yaml_node_pair_t *q = vn->data.mapping.pairs.start;
				    q < vn->data.mapping.pairs.top; q++) {
					const char *wk = ld_scalar(ld_node(l, q->key));
					if (wk && !strcmp(wk, "skip")) {
						if (ld_int(l, ld_node(l, q->value), 0, 16, &skip))
							return l->rc;
					} else {
						return ld_err(l, ld_node(l, q->key),
						    "unknown wrapper key '%s'", wk ? wk : "?");
					}
				}
				s->wrapper_skip = (int16_t)skip;
			} else {
				int8_t b;
				if (ld_bool(l, vn, &b))
					return l->rc;
				s->wrapper_skip = b ? 0 : -1;
			}
		} else if (!strcmp(key, "options")) {
			if (ld_seq_of(l, vn, "options", &cnt))
				return l->rc;
			s->opts = kb_alloc(l->k, (cnt ? cnt : 1) * sizeof *s->opts);
			if (s->opts == NULL)
				return l->rc = ESC_ENOMEM;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			    it < vn->data.sequence.items.top; it++)
				if (ld_option(l, ld_node(l, *it), &s->opts[s->nopts++]))
					return l->rc;
			/* which kinds of names occur: the analyzer skips lookups of absent kinds */
			for (uint16_t i = 0; i < s->nopts; i++)
				for (uint16_t j = 0; j < s->opts[i].nnames; j++)
					s->name_kinds |= (uint8_t)(1u << s->opts[i].names[j].kind);
		} else if (!is_sub && !strcmp(key, "subcommands")) {
			if (ld_seq_of(l, vn, "subcommands", &cnt))
				return l->rc;
			s->subs = kb_alloc(l->k, (cnt ? cnt : 1) * sizeof *s->subs);
			if (s->subs == NULL)
				return l->rc = ESC_ENOMEM;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			    it < vn->data.sequence.items.top; it++)
				if (ld_spec(l, ld_node(l, *it), &s->subs[s->nsubs++], 1))
					return l->rc;
		} else {
			return ld_err(l, kn, is_sub ? "unknown subcommand key '%s'" :
			    "unknown command key '%s'", key);
		}
	}
	if (s->name == NULL)
		return ld_err(l, n, "%s", is_sub ? "a subcommand needs names" : "a command needs a name");
	if (!is_sub) {
		s->names.v = kb_alloc(l->k, (size_t)(aliases.n + 1) * sizeof *s->names.v);
		if (s->names.v == NULL)
			return l->rc = ESC_ENOMEM;
		s->names.v[0] = s->name;
		for (uint16_t i = 0; i < aliases.n; i++) {
			if (aliases.v[i][0] == 0 || strchr(aliases.v[i], '/'))
				return ld_err(l, n, "alias '%s' must be a program basename", aliases.v[i]);
			s->names.v[i + 1] = aliases.v[i];
		}
		s->names.n = (uint16_t)(aliases.n + 1);
	}
	return 0;
}

static int
push_spec(kb *k, kb_spec *s)
{
	if (k->nspecs == k->capspecs) {
		size_t nc = k->capspecs ? k->capspecs * 2 : 256;
		kb_spec **ns = realloc(k->specs, nc * sizeof *ns);
		if (ns == NULL)
			return ESC_ENOMEM;
		k->specs = ns;
		k->capspecs = nc;
	}
	k->specs[k->nspecs++] = s;
	return 0;
}

static int
ld_fx(ld *l, yaml_node_t *n, kb_pathfx *fx)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return ld_err(l, n, "an access rule must be a mapping {risk, categories, attack}");
	fx->present = 1;
	fx->risk = KB_RISK_UNSET;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		yaml_node_t *kn = ld_node(l, p->key), *vn = ld_node(l, p->value);
		const char *key = ld_scalar(kn);
		if (key == NULL)
			return ld_err(l, kn, "keys must be strings");
		if (!strcmp(key, "risk")) {
			if (ld_risk(l, vn, &fx->risk))
				return l->rc;
		} else if (!strcmp(key, "categories")) {
			if (ld_cats(l, vn, &fx->cats))
				return l->rc;
		} else if (!strcmp(key, "attack")) {
			if (ld_attack(l, vn, &fx->attack))
				return l->rc;
		} else {
			return ld_err(l, kn, "unknown access rule key '%s'", key);
		}
	}
	return 0;
}

static int
push_path(kb *k, kb_path *p, int level)
{
	if (k->npaths == k->cappaths) {
		size_t nc = k->cappaths ? k->cappaths * 2 : 128;
		kb_path **np = realloc(k->paths, nc * sizeof *np);
		if (np == NULL)
			return ESC_ENOMEM;
		k->paths = np;
		int *nl = realloc(k->path_level, nc * sizeof *nl);
		if (nl == NULL)
			return ESC_ENOMEM;
		k->path_level = nl;
		k->cappaths = nc;
	}
	k->path_level[k->npaths] = level;
	k->paths[k->npaths++] = p;
	return 0;
}

static int
ld_path(ld *l, yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return ld_err(l, n, "a path entry must be a mapping");
	kb_path *p = kb_alloc(l->k, sizeof *p);
	if (p == NULL)
		return l->rc = ESC_ENOMEM;
	for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top;
	    q++) {
		yaml_node_t *kn = ld_node(l, q->key), *vn = ld_node(l, q->value);
		const char *key = ld_scalar(kn);
		if (key == NULL)
			return ld_err(l, kn, "keys must be strings");
		if (!strcmp(key, "match")) {
			if (ld_strs(l, vn, "match", &p->match))
				return l->rc;
			for (uint16_t i = 0; i < p->match.n; i++)
				if (p->match.v[i][0] == 0)
					return ld_err(l, vn, "empty match pattern");
		} else if (!strcmp(key, "describe")) {
			if ((p->describe = ld_str(l, vn, key)) == NULL)
				return l->rc;
		} else if (!strcmp(key, "read")) {
			if (ld_fx(l, vn, &p->fx[KB_X_READ]))
				return l->rc;
		} else if (!strcmp(key, "write")) {
			if (ld_fx(l, vn, &p->fx[KB_X_WRITE]))
				return l->rc;
		} else if (!strcmp(key, "delete")) {
			if (ld_fx(l, vn, &p->fx[KB_X_DELETE]))
				return l->rc;
		} else if (!strcmp(key, "exec")) {
			if (ld_fx(l, vn, &p->fx[KB_X_EXEC]))
				return l->rc;
		} else {
			return ld_err(l, kn, "unknown path key '%s'", key);
		}
	}
	if (p->match.n == 0)
		return ld_err(l, n, "a path entry needs match");
	if (push_path(l->k, p, l->k->level))
		return l->rc = ESC_ENOMEM;
	return 0;
}

static int
ld_root(ld *l, yaml_node_t *root)
{
	if (root == NULL)
		return 0; /* an empty file adds nothing */
	if (root->type != YAML_MAPPING_NODE)
		return ld_err(l, root, "the document must be a mapping with version and commands or paths");
	int have_version = 0;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = ld_node(l, p->key), *vn = ld_node(l, p->value);
		const char *key = ld_scalar(kn);
		size_t cnt;
		if (key == NULL)
			return ld_err(l, kn, "keys must be strings");
		if (!strcmp(key, "version")) {
			const char *vs = ld_scalar(vn);
			if (vs == NULL || strcmp(vs, "1") != 0)
				return ld_err(l, vn, "unsupported version (expected 1)");
			have_version = 1;
		} else if (!strcmp(key, "commands")) {
			if (vn && vn->type == YAML_SCALAR_NODE && vn->data.scalar.length == 0)
				continue; /* `commands:` with nothing */
			if (ld_seq_of(l, vn, "commands", &cnt))
				return l->rc;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			    it < vn->data.sequence.items.top; it++) {
				kb_spec *s = kb_alloc(l->k, sizeof *s);
				if (s == NULL)
					return l->rc = ESC_ENOMEM;
				if (ld_spec(l, ld_node(l, *it), s, 0))
					return l->rc;
				if (push_spec(l->k, s))
					return l->rc = ESC_ENOMEM;
			}
		} else if (!strcmp(key, "paths")) {
			if (vn && vn->type == YAML_SCALAR_NODE && vn->data.scalar.length == 0)
				continue;
			if (ld_seq_of(l, vn, "paths", &cnt))
				return l->rc;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			    it < vn->data.sequence.items.top; it++)
				if (ld_path(l, ld_node(l, *it)))
					return l->rc;
		} else {
			return ld_err(l, kn, "unknown top-level key '%s'", key);
		}
	}
	if (!have_version)
		return ld_err(l, root, "missing 'version: 1'");
	return 0;
}

int
kb_load_string(kb *k, const char *name, const char *text, size_t len, buf *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = 0, have_doc = 0;
	const char *fname = kb_strndup(k, name, strlen(name));
	if (fname == NULL)
		return ESC_ENOMEM;
	if (!yaml_parser_initialize(&parser))
		return ESC_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (err) {
			buf_reset(err);
			buf_printf(err, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
			    parser.problem_mark.column + 1,
			    parser.problem ? parser.problem : "invalid YAML");
			if (parser.context) {
				buf_printf(err, " (%s)", parser.context);
			}
		}
		rc = parser.error == YAML_MEMORY_ERROR ? ESC_ENOMEM : ESC_EPARSE;
		goto out;
	}
	have_doc = 1;
	ld l = { .k = k, .file = fname, .doc = &doc, .err = err, .rc = 0 };
	ld_root(&l, yaml_document_get_root_node(&doc));
	rc = l.rc;
	if (rc == 0) {
		/* a second document in one file is a mistake worth reporting */
		yaml_document_t doc2;
		if (yaml_parser_load(&parser, &doc2)) {
			yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
			if (r2 != NULL) {
				ld l2 = { .k = k, .file = fname, .doc = &doc2, .err = err, .rc = 0 };
				ld_err(&l2, r2, "only one YAML document per file is allowed");
				rc = l2.rc;
			}
			yaml_document_delete(&doc2);
		} else {
			if (err) {
				buf_reset(err);
				buf_printf(err, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
				    parser.problem_mark.column + 1,
				    parser.problem ? parser.problem : "invalid YAML");
			}
			rc = ESC_EPARSE;
		}
	}
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

static int
load_file(kb *k, const char *path, buf *err)
{
	buf b = BUF_INIT;
	int rc = buf_read_file(&b, path);
	if (rc) {
		if (err) {
			buf_reset(err);
			buf_printf(err, "%s:1:1: cannot read: %s", path, strerror(errno));
		}
		goto out;
	}
	rc = kb_load_string(k, path, (const char *)buf_cstr(&b), b.len, err);
out:
	buf_free(&b);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
kb_yaml_names(const char *dir, int yml, int optional, char ***out, size_t *nout, buf *err)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	*out = NULL;
	*nout = 0;
	if (d == NULL) {
		if (optional && errno == ENOENT)
			return 0;
		if (err) {
			buf_reset(err);
			buf_printf(err, "%s:1:1: cannot open directory: %s", dir, strerror(errno));
		}
		return ESC_EIO;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if (!((len > 5 && !strcmp(e->d_name + len - 5, ".yaml")) ||
		        (yml && len > 4 && !strcmp(e->d_name + len - 4, ".yml"))))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof *nn);
			if (nn == NULL) {
				rc = ESC_ENOMEM;
				goto out;
			}
			names = nn;
			cap = nc;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL) {
			rc = ESC_ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
out:
	closedir(d);
	if (rc) {
		kb_names_free(names, n);
		return rc;
	}
	*out = names;
	*nout = n;
	return 0;
}

void
kb_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Loads every *.yaml (and *.yml) in dir, in name order. Missing dir: ok when optional. */
static int
load_dir(kb *k, const char *dir, int optional, buf *err)
{
	char **names;
	size_t n;
	int rc = kb_yaml_names(dir, 1, optional, &names, &n, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		buf p = BUF_INIT;
		if (buf_printf(&p, "%s/%s", dir, names[i])) {
			rc = ESC_ENOMEM;
			break;
		}
		rc = load_file(k, buf_cstr(&p), err);
		buf_free(&p);
	}
	kb_names_free(names, n);
	return rc;
}

/* ---- tables ------------------------------------------------------------------------- */

static uint64_t
hash_name(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int
hash_put(kb *k, const char *key, const kb_spec *v)
{
	size_t mask = k->hcap - 1, n = strlen(key);
	size_t i = (size_t)hash_name(key, n) & mask;
	while (k->hkeys[i]) {
		if (!strcmp(k->hkeys[i], key)) {
			k->hvals[i] = v;
			return 0;
		}
		i = (i + 1) & mask;
	}
	k->hkeys[i] = key;
	k->hvals[i] = v;
	k->hcount++;
	return 1;
}

const kb_spec *
kb_lookup(const kb *k, const char *name, size_t n)
{
	if (k == NULL || k->hcap == 0)
		return NULL;
	size_t mask = k->hcap - 1;
	size_t i = (size_t)hash_name(name, n) & mask;
	while (k->hkeys[i]) {
		if (strncmp(k->hkeys[i], name, n) == 0 && k->hkeys[i][n] == 0)
			return k->hvals[i];
		i = (i + 1) & mask;
	}
	return NULL;
}

const char *
kb_program_name(const kb *k, size_t *iter)
{
	if (k == NULL || iter == NULL)
		return NULL;
	while (*iter < k->hcap) {
		const char *n = k->hkeys[(*iter)++];
		if (n)
			return n;
	}
	return NULL;
}

const kb_spec *
kb_subcommand(const kb_spec *s, const char *word)
{
	for (uint16_t i = 0; i < s->nsubs; i++)
		for (uint16_t j = 0; j < s->subs[i].names.n; j++)
			if (s->subs[i].names.v[j][0] == word[0] && !strcmp(s->subs[i].names.v[j], word))
				return &s->subs[i];
	return NULL;
}

static int
is_globc(char c)
{
	return c == '*' || c == '?' || c == '[';
}

static int
add_cpat(kb *k, size_t *cap, const char *pat, size_t len, uint32_t entry)
{
	if (k->ncpats == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		kb_cpat *np = realloc(k->cpats, nc * sizeof *np);
		if (np == NULL)
			return ESC_ENOMEM;
		k->cpats = np;
		*cap = nc;
	}
	kb_cpat *c = &k->cpats[k->ncpats];
	memset(c, 0, sizeof *c);
	c->entry = entry;
	if (len > 1 && pat[len - 1] == '/') {
		c->dir = 1;
		len--;
	}
	char *p = kb_strndup(k, pat, len);
	if (p == NULL)
		return ESC_ENOMEM;
	c->pat = p;
	size_t lit = 0;
	while (lit < len && !is_globc(p[lit]) && p[lit] != '\\')
		lit++;
	c->glob = lit < len;
	c->lit = p;
	c->litlen = (uint16_t)(lit > 65535 ? 65535 : lit);
	if (c->glob && memchr(p, '\\', len) == NULL) {
		/* the longest glob-free run: fnmatch without FNM_PATHNAME or FNM_PERIOD
		 * matches those bytes literally, so a path without them cannot match */
		size_t best = 0, bstart = 0, i = 0, gend = 0;
		while (i < len) {
			if (p[i] == '[') {
				/* skip the bracket expression: [!x], []x] */
				size_t j = i + 1;
				if (j < len && (p[j] == '!' || p[j] == '^'))
					j++;
				if (j < len && p[j] == ']')
					j++;
				const char *e = j < len ? memchr(p + j, ']', len - j) : NULL;
				i = e ? (size_t)(e - p) + 1 : len;
				gend = e ? i : len;
				continue;
			}
			if (is_globc(p[i])) {
				i++;
				gend = i;
				continue;
			}
			size_t st = i;
			while (i < len && !is_globc(p[i]))
				i++;
			if (i - st > best) {
				best = i - st;
				bstart = st;
			}
		}
		/* a leading '/' is the most common byte in paths: start the search at the
		 * next one (a part of a required run is required too) */
		while (best > 2 && p[bstart] == '/') {
			bstart++;
			best--;
		}
		if (best > 255)
			best = 255;
		c->need = p + bstart;
		c->need_len = (uint8_t)best;
		/* the literal text after the last wildcard ends every match (for a file
		 * pattern; a directory pattern also matches what is below it) */
		if (!c->dir && gend < len && len - gend <= 255) {
			c->tail = p + gend;
			c->tail_len = (uint8_t)(len - gend);
		}
	}
	if (c->dir && c->glob) {
		char *g = kb_alloc(k, len + 3);
		if (g == NULL)
			return ESC_ENOMEM;
		memcpy(g, p, len);
		memcpy(g + len, "/*", 3);
		c->globd = g;
	}
	k->ncpats++;
	return 0;
}

/* Expands one match entry (~, $HOME, ${HOME} stand for any home directory). */
static int
compile_match(kb *k, size_t *cap, const char *m, uint32_t entry)
{
	const char *rest = NULL;
	if (m[0] == '~' && (m[1] == '/' || m[1] == 0))
		rest = m + 1;
	else if (!strncmp(m, "$HOME", 5) && (m[5] == '/' || m[5] == 0))
		rest = m + 5;
	else if (!strncmp(m, "${HOME}", 7) && (m[7] == '/' || m[7] == 0))
		rest = m + 7;
	if (rest == NULL)
		return add_cpat(k, cap, m, strlen(m), entry);
	static const char *const homes[] = { "/root", "/home/*" };
	for (size_t i = 0; i < 2; i++) {
		buf b = BUF_INIT;
		int rc = buf_printf(&b, "%s%s", homes[i], *rest ? rest : "/");
		if (rc == 0)
			rc = add_cpat(k, cap, buf_cstr(&b), b.len, entry);
		buf_free(&b);
		if (rc)
			return rc;
	}
	return 0;
}

/* First component of a pattern when it is literal ("/etc/x*" -> "etc"); -1 when the
 * pattern may match paths starting anywhere (relative, or a glob in the component). */
static int
cpat_key(const kb_cpat *c, size_t *klen)
{
	const char *p = c->pat;
	size_t len = strlen(p);
	if (p[0] != '/')
		return -1;
	const char *e = memchr(p + 1, '/', len - 1);
	size_t end = e ? (size_t)(e - p) : len;
	if (end > c->litlen)
		return -1;
	*klen = end - 1;
	return 0;
}

static int
build_path_index(kb *k)
{
	free(k->pbuckets);
	free(k->pidx);
	k->pbuckets = NULL;
	k->pidx = NULL;
	k->npbuckets = 0;
	k->any_off = k->any_n = 0;
	size_t nkeyed = 0, nany = 0;
	kb_pbucket *bk = calloc(k->ncpats + 1, sizeof *bk);
	if (bk == NULL)
		return ESC_ENOMEM;
	size_t nb = 0;
	for (size_t i = 0; i < k->ncpats; i++) {
		size_t kl = 0;
		k->cpats[i].keyed = 0;
		if (cpat_key(&k->cpats[i], &kl) < 0) {
			nany++;
			continue;
		}
		k->cpats[i].keyed = 1;
		nkeyed++;
		const char *comp = k->cpats[i].pat + 1;
		size_t b = 0;
		while (b < nb && !(bk[b].clen == kl && memcmp(bk[b].comp, comp, kl) == 0))
			b++;
		if (b == nb) {
			bk[nb].comp = comp;
			bk[nb].clen = (uint16_t)(kl > 65535 ? 65535 : kl);
			nb++;
		}
	}
	/* each bucket: its own patterns plus the catch-all ones; then the catch-all list */
	size_t total = nkeyed + nb * nany + nany;
	uint32_t *idx = malloc((total ? total : 1) * sizeof *idx);
	if (idx == NULL) {
		free(bk);
		return ESC_ENOMEM;
	}
	size_t o = 0;
	for (size_t b = 0; b < nb; b++) {
		bk[b].off = (uint32_t)o;
		for (size_t i = 0; i < k->ncpats; i++) {
			size_t kl = 0;
			if (cpat_key(&k->cpats[i], &kl) < 0 || (kl == bk[b].clen &&
			    memcmp(k->cpats[i].pat + 1, bk[b].comp, kl) == 0))
				idx[o++] = (uint32_t)i;
		}
		bk[b].n = (uint32_t)o - bk[b].off;
	}
	k->any_off = (uint32_t)o;
	for (size_t i = 0; i < k->ncpats; i++) {
		size_t kl = 0;
		if (cpat_key(&k->cpats[i], &kl) < 0)
			idx[o++] = (uint32_t)i;
	}
	k->any_n = (uint32_t)o - k->any_off;
	k->pbuckets = bk;
	k->npbuckets = nb;
	k->pidx = idx;
	return 0;
}


/* `extend: true`: the new spec's options and subcommands come first (they win), its
 * categories and attack ids are added, and any scalar it sets replaces the base's. */
static kb_spec *
merge_spec(kb *k, const kb_spec *base, const kb_spec *x)
{
	kb_spec *m = kb_alloc(k, sizeof *m);
	if (m == NULL)
		return NULL;
	*m = *base;
	m->name = x->name;
	m->file = x->file;
	m->extend = 0;
	m->names = x->names;
	if (x->describe)
		m->describe = x->describe;
	if (x->explain)
		m->explain = x->explain;
	if (x->risk >= 0)
		m->risk = x->risk;
	if (x->operands >= 0)
		m->operands = x->operands;
	if (x->last >= 0)
		m->last = x->last;
	if (x->readonly >= 0)
		m->readonly = x->readonly;
	if (x->stdin_role >= 0)
		m->stdin_role = x->stdin_role;
	if (x->handler)
		m->handler = x->handler;
	if (x->wrapper_skip >= 0)
		m->wrapper_skip = x->wrapper_skip;
	if (x->nfirst) {
		m->first = x->first;
		m->nfirst = x->nfirst;
	}
	m->cats |= x->cats;
	m->name_kinds = (uint8_t)(base->name_kinds | x->name_kinds);
	if (x->attack.n) {
		m->attack.v = kb_alloc(k, (size_t)(base->attack.n + x->attack.n) * sizeof(char *));
		if (m->attack.v == NULL)
			return NULL;
		memcpy(m->attack.v, base->attack.v, base->attack.n * sizeof(char *));
		memcpy(m->attack.v + base->attack.n, x->attack.v, x->attack.n * sizeof(char *));
		m->attack.n = (uint16_t)(base->attack.n + x->attack.n);
	}
	if (x->nopts) {
		m->opts = kb_alloc(k, (size_t)(base->nopts + x->nopts) * sizeof *m->opts);
		if (m->opts == NULL)
			return NULL;
		memcpy(m->opts, x->opts, x->nopts * sizeof *m->opts);
		if (base->nopts)
			memcpy(m->opts + x->nopts, base->opts, base->nopts * sizeof *m->opts);
		m->nopts = (uint16_t)(base->nopts + x->nopts);
	}
	if (x->nsubs) {
		m->subs = kb_alloc(k, (size_t)(base->nsubs + x->nsubs) * sizeof *m->subs);
		if (m->subs == NULL)
			return NULL;
		memcpy(m->subs, x->subs, x->nsubs * sizeof *m->subs);
		if (base->nsubs)
			memcpy(m->subs + x->nsubs, base->subs, base->nsubs * sizeof *m->subs);
		m->nsubs = (uint16_t)(base->nsubs + x->nsubs);
	}
	return m;
}

int
kb_finish(kb *k, buf *err)
{
	(void)err;
	/* programs: later specs override earlier ones of the same name */
	size_t need = 16;
	for (size_t i = 0; i < k->nspecs; i++)
		need += k->specs[i]->names.n;
	size_t cap = 64;
	while (cap < need * 2)
		cap *= 2;
	free(k->hkeys);
	free(k->hvals);
	k->hkeys = calloc(cap, sizeof *k->hkeys);
	k->hvals = calloc(cap, sizeof *k->hvals);
	if (k->hkeys == NULL || k->hvals == NULL)
		return ESC_ENOMEM;
	k->hcap = cap;
	k->hcount = 0;
	k->nprograms = 0;
	for (size_t i = 0; i < k->nspecs; i++) {
		const kb_spec *s = k->specs[i];
		if (s->extend) {
			const kb_spec *base = kb_lookup(k, s->name, strlen(s->name));
			if (base) {
				s = merge_spec(k, base, s);
				if (s == NULL)
					return ESC_ENOMEM;
			}
		}
		if (hash_put(k, s->name, s))
			k->nprograms++;
		for (uint16_t j = 1; j < s->names.n; j++)
			hash_put(k, s->names.v[j], s);
	}
	/* paths: stable order by level descending (later directories win), file order
	 * within a level */
	kb_path **ord = malloc((k->npaths ? k->npaths : 1) * sizeof *ord);
	if (ord == NULL)
		return ESC_ENOMEM;
	size_t no = 0;
	int maxlvl = 0;
	for (size_t i = 0; i < k->npaths; i++)
		if (k->path_level[i] > maxlvl)
			maxlvl = k->path_level[i];
	for (int lv = maxlvl; lv >= 0; lv--)
		for (size_t i = 0; i < k->npaths; i++)
			if (k->path_level[i] == lv)
				ord[no++] = k->paths[i];
	if (no)
		memcpy(k->paths, ord, no * sizeof *ord);
	for (size_t i = 0; i < no; i++)
		k->path_level[i] = 0;
	free(ord);
	free(k->cpats);
	k->cpats = NULL;
	k->ncpats = 0;
	size_t ccap = 0;
	for (size_t i = 0; i < k->npaths; i++)
		for (uint16_t j = 0; j < k->paths[i]->match.n; j++) {
			int rc = compile_match(k, &ccap, k->paths[i]->match.v[j], (uint32_t)i);
			if (rc)
				return rc;
		}
	return build_path_index(k);
}

/* Does s[0..n) contain the nl bytes at lit? (memchr + memcmp: the needles are short) */
static int
has_lit(const char *s, size_t n, const char *lit, size_t nl)
{
	while (n >= nl) {
		const char *p = memchr(s, lit[0], n - nl + 1);
		if (p == NULL)
			return 0;
		if (memcmp(p, lit, nl) == 0)
			return 1;
		n -= (size_t)(p - s) + 1;
		s = p + 1;
	}
	return 0;
}

/* Do the n bytes at a and b agree? Inline for the short runs compared here. */
static inline int
same(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* `known`: how many leading bytes of path are known to equal the pattern's (the bucket
 * key the path was found by). */
static int
cpat_matches(const kb_cpat *c, const char *path, size_t plen, int path_glob, size_t known)
{
	if (!c->keyed)
		known = 0; /* a catch-all pattern: nothing is known about it */
	else if (known > c->litlen)
		known = c->litlen;
	if (!c->glob && c->litlen) {
		/* a literal path: check the length (the cheap part) before the bytes */
		size_t n = c->litlen;
		int shape = plen == n || (c->dir && plen > n && (path[n] == '/' || n == 1));
		if (shape && same(path + known, c->lit + known, n - known))
			return 1;
		if (!path_glob || (plen >= n && same(path + known, c->lit + known, n - known)))
			return 0;
	}
	if (c->litlen && (plen < c->litlen ||
	    !same(path + known, c->lit + known, c->litlen - known))) {
		/* a globbed path (rm /etc/sha*) may still name the pattern's file, when it
		 * names a directory literally first (a bare star says nothing) */
		if (!path_glob || c->glob || path[0] != '/')
			return 0;
		size_t lit = strcspn(path, "*?[");
		const char *sl = memchr(path + 1, '/', lit > 1 ? lit - 1 : 0);
		if (lit < 4 || sl == NULL)
			return 0;
		return fnmatch(path, c->pat, 0) == 0;
	}
	if (!c->glob) {
		size_t n = c->litlen;
		if (plen == n)
			return 1;
		return c->dir && plen > n && (path[n] == '/' || n == 1);
	}
	if (c->tail_len && (plen < c->tail_len ||
	    !same(path + plen - c->tail_len, c->tail, c->tail_len)))
		return 0;
	if (c->need_len && !has_lit(path, plen, c->need, c->need_len))
		return 0;
	if (fnmatch(c->pat, path, 0) == 0)
		return 1;
	return c->dir && fnmatch(c->globd, path, 0) == 0;
}

/* The list of pattern indices a path has to be tried against (see kb_pbucket). */
static const uint32_t *
path_candidates(const kb *k, const char *path, size_t plen, size_t *n, size_t *known)
{
	*known = 0;
	if (path[0] == '/') {
		const char *e = memchr(path + 1, '/', plen - 1);
		size_t cl = (e ? (size_t)(e - path) : plen) - 1;
		for (size_t b = 0; b < k->npbuckets; b++) {
			const kb_pbucket *bk = &k->pbuckets[b];
			if (bk->clen == cl && memcmp(bk->comp, path + 1, cl) == 0) {
				*n = bk->n;
				*known = cl + 1; /* "/" and the component */
				return k->pidx + bk->off;
			}
		}
	}
	*n = k->any_n;
	return k->pidx ? k->pidx + k->any_off : NULL;
}

static int
has_globc(const char *path, size_t plen)
{
	for (size_t i = 0; i < plen; i++)
		if (is_globc(path[i]))
			return 1;
	return 0;
}

size_t
kb_path_match_all(const kb *k, const char *path, kb_access x, const kb_path **out, size_t max)
{
	if (k == NULL || path == NULL || (unsigned)x >= KB_X_COUNT || max == 0)
		return 0;
	size_t plen = strlen(path), n = 0, nc = 0, known = 0;
	int path_glob = has_globc(path, plen);
	const uint32_t *cand = path_candidates(k, path, plen, &nc, &known);
	for (size_t ci = 0; ci < nc && n < max; ci++) {
		const kb_cpat *c = &k->cpats[cand[ci]];
		const kb_path *p = k->paths[c->entry];
		if (!p->fx[x].present || (n > 0 && out[n - 1] == p))
			continue;
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= out[j] == p;
		if (!dup && cpat_matches(c, path, plen, path_glob, known))
			out[n++] = p;
	}
	return n;
}

const kb_path *
kb_path_match(const kb *k, const char *path, kb_access x)
{
	const kb_path *p = NULL;
	return kb_path_match_all(k, path, x, &p, 1) ? p : NULL;
}

/* ---- loading directories ------------------------------------------------------------ */

int
kb_load(kb **out, const char *rules_dir, const char *const *extra, buf *err)
{
	kb *k = NULL;
	buf p = BUF_INIT;
	int rc = kb_new(&k);
	if (rc)
		return rc;
	k->level = 0;
	if ((rc = buf_printf(&p, "%s/commands", rules_dir)))
		goto out;
	if ((rc = load_dir(k, buf_cstr(&p), 0, err)))
		goto out;
	buf_reset(&p);
	if ((rc = buf_printf(&p, "%s/paths.yaml", rules_dir)))
		goto out;
	if ((rc = load_file(k, buf_cstr(&p), err)))
		goto out;
	for (size_t i = 0; extra && extra[i]; i++) {
		k->level = (int)i + 1;
		struct stat st;
		if (stat(extra[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
			if (err) {
				buf_reset(err);
				buf_printf(err, "%s:1:1: not a directory", extra[i]);
			}
			rc = ESC_ENOENT;
			goto out;
		}
		if ((rc = load_dir(k, extra[i], 0, err)))
			goto out;
		buf_reset(&p);
		if ((rc = buf_printf(&p, "%s/commands", extra[i])))
			goto out;
		if ((rc = load_dir(k, buf_cstr(&p), 1, err)))
			goto out;
	}
	rc = kb_finish(k, err);
out:
	buf_free(&p);
	if (rc) {
		kb_free(k);
		return rc;
	}
	*out = k;
	return 0;
}
