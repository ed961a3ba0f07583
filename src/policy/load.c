/* load.c — policy YAML loader: libyaml events → a small bounded tree → schema-checked
 * identities, environments, targets and rules. Every error names FILE:LINE:COL and the
 * offending key path (e.g. identities[esc-1].clearance); any error rejects the file. */
#include "policy/policy_int.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <regex.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32
#define MAX_NODES 1000000
#define MAX_WORD 64
#define MAX_TEXT 1024
#define MAX_PATH_KEY 200
#define MAX_COUNT 16
#define MAX_SLOTS 8
#define MAX_LIFETIME (366L * 24 * 3600)
#define MAX_REDACT 64              /* patterns per target (the broker's limit) */
#define MAX_SIZE ((uint64_t)1 << 40) /* sizes (output caps, egress) up to 1 TiB */

/* ---- the parse tree ---- */

enum { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	int kind;
	unsigned line, col; /* 1-based */
	char *s;            /* scalar value (NUL-terminated; slen excludes it) */
	size_t slen;
	int plain;           /* plain (unquoted) scalar */
	struct ynode **kids; /* map: key, value, key, value... */
	size_t nkids, cap;
};

/* A string set (see hset_add): keeps every check linear, whatever the policy's size. */
struct hset {
	const char **key;
	unsigned *line;
	size_t cap; /* power of two, 0 until the first add */
	size_t n;
};

struct ctx {
	const char *file;
	buf *err;
	policy *p;
	struct pol_arena *a;
	size_t nnodes;
	unsigned next_req_id;
	struct hset env_words;          /* environment names and labels, for rule references */
	const struct pol_req **req_tab; /* interned approver requirements (hash table) */
	size_t req_cap, nreq;
	char last_key[MAX_WORD + 1];
};

static int perr_at(struct ctx *c, unsigned line, unsigned col, const char *key, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

static int
perr_at(struct ctx *c, unsigned line, unsigned col, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (c->err) {
		buf_printf(c->err, "%s:%u:%u: %s: ", c->file, line, col, key);
		va_start(ap, fmt);
		buf_vprintf(c->err, fmt, ap);
		va_end(ap);
	}
	return ESC_EPARSE;
}

#define perr(c, n, key, ...) perr_at((c), (n)->line, (n)->col, (key), __VA_ARGS__)

static void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]); /* depth is bounded by MAX_DEPTH */
	free(n->kids);
	free(n->s);
	free(n);
}

static int
ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->nkids == parent->cap) {
		size_t ncap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = realloc(parent->kids, ncap * sizeof(*k));
		if (k == NULL)
			return ESC_ENOMEM;
		parent->kids = k;
		parent->cap = ncap;
	}
	parent->kids[parent->nkids++] = kid;
	return 0;
}

static const char *
kind_name(int kind)
{
	return kind == YN_SCALAR ? "a scalar" : kind == YN_SEQ ? "a list" : "a mapping";
}

/* Builds the tree from libyaml's events; aliases are refused (no expansion attacks),
 * depth and node count are bounded. */
static int
build_tree(struct ctx *c, const char *bytes, size_t len, struct ynode **root)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	struct ynode *stack[MAX_DEPTH];
	int depth = 0, done = 0, rc = 0, ndocs = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&ps))
		return ESC_ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)bytes, len);
	while (!done && rc == 0) {
		struct ynode *n = NULL;
		unsigned line, col;

		if (!yaml_parser_parse(&ps, &ev)) {
			unsigned eline = (unsigned)ps.problem_mark.line + 1,
			         ecol = (unsigned)ps.problem_mark.column + 1;
			if (ps.error == YAML_MEMORY_ERROR) {
				rc = ESC_ENOMEM;
				break;
			}
			if (ps.error == YAML_READER_ERROR) {
				/* the reader decodes ahead, so its mark is not where the bad byte
				 * is; count lines up to the byte offset it reports instead */
				size_t k, off = ps.problem_offset < len ? ps.problem_offset : len;
				eline = ecol = 1;
				for (k = 0; k < off; k++) {
					if (bytes[k] == '\n') {
						eline++;
						ecol = 1;
					} else if (((unsigned char)bytes[k] & 0xc0) != 0x80)
						ecol++;
				}
			}
			rc = perr_at(c, eline, ecol, c->last_key[0] ? c->last_key : "(document)",
			             "malformed YAML: %s%s%s",
			             ps.problem ? ps.problem : "syntax error",
			             ps.context ? " " : "", ps.context ? ps.context : "");
			break;
		}
		line = (unsigned)ev.start_mark.line + 1;
		col = (unsigned)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1)
				rc = perr_at(c, line, col, "(document)",
				             "a policy file holds exactly one YAML document");
			break;
		case YAML_STREAM_END_EVENT: done = 1; break;
		case YAML_ALIAS_EVENT:
			rc = perr_at(c, line, col, c->last_key[0] ? c->last_key : "(document)",
			             "YAML aliases (*%s) are not supported; write the value out",
			             (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++c->nnodes > MAX_NODES) {
				rc = perr_at(c, line, col,
				             c->last_key[0] ? c->last_key : "(document)",
				             "too many YAML nodes (limit %d)", MAX_NODES);
				break;
			}
			if ((n = calloc(1, sizeof(*n))) == NULL) {
				rc = ESC_ENOMEM;
				break;
			}
			n->line = line;
			n->col = col;
			if (ev.type == YAML_SCALAR_EVENT) {
				n->kind = YN_SCALAR;
				n->slen = ev.data.scalar.length;
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				if ((n->s = malloc(n->slen + 1)) == NULL) {
					free(n);
					rc = ESC_ENOMEM;
					break;
				}
				memcpy(n->s, ev.data.scalar.value, n->slen);
				n->s[n->slen] = 0;
			} else
				n->kind = ev.type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP;
			if (depth == 0) {
				if (*root) { /* cannot happen with one document; be safe */
					ynode_free(n);
					rc = perr_at(c, line, col, "(document)",
					             "unexpected content");
					break;
				}
				*root = n;
			} else {
				struct ynode *top = stack[depth - 1];
				if (ynode_add(top, n) != 0) {
					ynode_free(n);
					rc = ESC_ENOMEM;
					break;
				}
				/* remember the latest mapping key for syntax-error messages */
				if (top->kind == YN_MAP && n->kind == YN_SCALAR &&
				    top->nkids % 2 == 1) {
					size_t k = n->slen < MAX_WORD ? n->slen : MAX_WORD;
					size_t j;
					for (j = 0; j < k; j++)
						c->last_key[j] = (n->s[j] >= 0x20 && n->s[j] < 0x7f)
						                     ? n->s[j]
						                     : '?';
					c->last_key[k] = 0;
				}
			}
			if (n->kind != YN_SCALAR) {
				if (depth == MAX_DEPTH) {
					rc = perr_at(c, line, col,
					             c->last_key[0] ? c->last_key : "(document)",
					             "nesting deeper than %d levels", MAX_DEPTH);
					break;
				}
				stack[depth++] = n;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	if (rc == ESC_ENOMEM && c->err)
		buf_printf(c->err, "%s: out of memory", c->file);
	yaml_parser_delete(&ps);
	if (rc != 0) {
		ynode_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- the string set ---- */

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
hset_free(struct hset *h)
{
	free(h->key);
	free(h->line);
	memset(h, 0, sizeof(*h));
}

/* Adds s (not copied: it must outlive the set). Returns 0 when new, 1 when already there
 * (*first_line: the line it was added with), ESC_ENOMEM. */
static int
hset_add(struct hset *h, const char *s, unsigned line, unsigned *first_line)
{
	size_t i, mask;

	if (2 * (h->n + 1) > h->cap) {
		struct hset g = {NULL, NULL, h->cap ? h->cap * 2 : 64, 0};
		if ((g.key = calloc(g.cap, sizeof(*g.key))) == NULL ||
		    (g.line = calloc(g.cap, sizeof(*g.line))) == NULL) {
			hset_free(&g);
			return ESC_ENOMEM;
		}
		for (i = 0; i < h->cap; i++)
			if (h->key[i])
				hset_add(&g, h->key[i], h->line[i], NULL); /* cannot fail: room */
		hset_free(h);
		*h = g;
	}
	mask = h->cap - 1;
	for (i = (size_t)fnv1a(s) & mask; h->key[i]; i = (i + 1) & mask)
		if (strcmp(h->key[i], s) == 0) {
			if (first_line)
				*first_line = h->line[i];
			return 1;
		}
	h->key[i] = s;
	h->line[i] = line;
	h->n++;
	return 0;
}

static int
hset_has(const struct hset *h, const char *s)
{
	size_t i, mask;

	if (h->cap == 0)
		return 0;
	mask = h->cap - 1;
	for (i = (size_t)fnv1a(s) & mask; h->key[i]; i = (i + 1) & mask)
		if (strcmp(h->key[i], s) == 0)
			return 1;
	return 0;
}

/* ---- typed accessors ---- */

/* dst = "parent.key" (or "key"), cut to fit: paths are for messages only. */
static void
kpath(char *dst, size_t n, const char *parent, const char *key)
{
	size_t len = 0;
	const char *parts[3] = {parent && *parent ? parent : "", parent && *parent ? "." : "", key};
	size_t i, k;

	for (i = 0; i < 3; i++)
		for (k = 0; parts[i][k] && len + 1 < n; k++)
			dst[len++] = parts[i][k];
	dst[len] = 0;
}

static struct ynode *
map_get(const struct ynode *m, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < m->nkids; i += 2)
		if (m->kids[i]->kind == YN_SCALAR && strcmp(m->kids[i]->s, key) == 0)
			return m->kids[i + 1];
	return NULL;
}

static int
is_null(const struct ynode *n)
{
	return n->kind == YN_SCALAR && n->plain &&
	       (n->slen == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0);
}

/* n must be a mapping whose keys are distinct strings from `allowed`. */
static int
check_map(struct ctx *c, const struct ynode *n, const char *path, const char *const *allowed)
{
	size_t i, j;
	char kp[MAX_PATH_KEY];

	if (n->kind != YN_MAP)
		return perr(c, n, *path ? path : "(document)", "expected a mapping, got %s",
		            kind_name(n->kind));
	for (i = 0; i + 1 < n->nkids; i += 2) {
		const struct ynode *k = n->kids[i];
		int ok = 0;
		if (k->kind != YN_SCALAR)
			return perr(c, k, path, "mapping keys must be plain strings");
		for (j = 0; allowed[j]; j++)
			if (strcmp(k->s, allowed[j]) == 0)
				ok = 1;
		kpath(kp, sizeof(kp), path,
		      k->slen < MAX_WORD && strlen(k->s) == k->slen ? k->s : "?");
		if (!ok) {
			buf list = BUF_INIT;
			int r;
			for (j = 0; allowed[j]; j++)
				buf_printf(&list, "%s%s", j ? ", " : "", allowed[j]);
			r = perr(c, k, kp, "unknown key (expected one of: %s)", buf_cstr(&list));
			buf_free(&list);
			return r;
		}
		for (j = 0; j < i; j += 2)
			if (strcmp(n->kids[j]->s, k->s) == 0)
				return perr(c, k, kp, "duplicate key (first at line %u)",
				            n->kids[j]->line);
	}
	return 0;
}

enum { S_WORD, S_TEXT, S_LABEL, S_PATH };

/* A string scalar of the given shape, copied into the policy's arena. */
static int
get_str(struct ctx *c, const struct ynode *n, const char *path, int shape, const char **out)
{
	size_t i, max = shape == S_WORD ? MAX_WORD : MAX_TEXT;

	if (n->kind != YN_SCALAR)
		return perr(c, n, path, "expected a string, got %s", kind_name(n->kind));
	if (n->slen == 0 || is_null(n))
		return perr(c, n, path, "must not be empty");
	if (n->slen > max)
		return perr(c, n, path, "longer than %zu bytes", max);
	for (i = 0; i < n->slen; i++) {
		unsigned char ch = (unsigned char)n->s[i];
		int ok;
		switch (shape) {
		case S_WORD:
		case S_LABEL:
			ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
			     ch == '@' || (shape == S_LABEL && ch == '/');
			if (!ok)
				return perr(c, n, path,
				            "'%.*s': only letters, digits and -_.@%s "
				            "are allowed",
				            (int)(n->slen < 64 ? n->slen : 64), n->s,
				            shape == S_LABEL ? "/" : "");
			break;
		default:
			/* free text: no control characters (what the escort sees must be
			 * what is written) */
			if (ch < 0x20 || ch == 0x7f)
				return perr(c, n, path, "control characters are not allowed");
		}
	}
	if (shape == S_PATH && n->s[0] != '/')
		return perr(c, n, path, "must be an absolute path");
	if ((*out = pol_strndup(c->a, n->s, n->slen)) == NULL)
		return ESC_ENOMEM;
	return 0;
}

static int
get_bool(struct ctx *c, const struct ynode *n, const char *path, int *out)
{
	if (n->kind == YN_SCALAR && n->plain && strcmp(n->s, "true") == 0)
		*out = 1;
	else if (n->kind == YN_SCALAR && n->plain && strcmp(n->s, "false") == 0)
		*out = 0;
	else
		return perr(c, n, path, "expected true or false");
	return 0;
}

static int
get_uint(struct ctx *c, const struct ynode *n, const char *path, unsigned long min,
         unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n->kind != YN_SCALAR || !n->plain || n->slen == 0 || n->slen > 12)
		goto bad;
	for (i = 0; i < n->slen; i++) {
		if (n->s[i] < '0' || n->s[i] > '9')
			goto bad;
		v = v * 10 + (unsigned long)(n->s[i] - '0');
	}
	if (v < min || v > max)
		return perr(c, n, path, "%lu is out of range (%lu to %lu)", v, min, max);
	*out = v;
	return 0;
bad:
	return perr(c, n, path, "expected a whole number");
}

/* "90", "90s", "15m", "4h", "1d", "1h30m": seconds in [1, max]. */
static int
get_duration(struct ctx *c, const struct ynode *n, const char *path, long max, long *out)
{
	unsigned long total = 0, v = 0;
	size_t i;
	int digits = 0;

	if (n->kind != YN_SCALAR || n->slen == 0 || n->slen > 24)
		goto bad;
	for (i = 0; i < n->slen; i++) {
		char ch = n->s[i];
		if (ch >= '0' && ch <= '9') {
			v = v * 10 + (unsigned long)(ch - '0');
			if (++digits > 9)
				goto bad;
			continue;
		}
		if (!digits)
			goto bad;
		switch (ch) {
		case 'd': v *= 86400; break;
		case 'h': v *= 3600; break;
		case 'm': v *= 60; break;
		case 's': break;
		default: goto bad;
		}
		total += v;
		v = 0;
		digits = 0;
	}
	total += v; /* a bare number is seconds */
	if (total < 1 || total > (unsigned long)max)
		return perr(c, n, path, "duration out of range (1s to %ldd)", max / 86400);
	*out = (long)total;
	return 0;
bad:
	return perr(c, n, path, "expected a duration such as 90s, 15m, 4h, 1d or 1h30m");
}

/* "1048576", "512B", "64kB", "64KiB", "10MB", "10MiB", "1GB", "1GiB": bytes in [1, max]. */
static int
get_size(struct ctx *c, const struct ynode *n, const char *path, uint64_t max, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1},           {"B", 1},
	             {"kB", 1000},      {"KB", 1000},
	             {"KiB", 1024},     {"MB", 1000000},
	             {"MiB", 1 << 20},  {"GB", 1000000000},
	             {"GiB", 1 << 30}};
	uint64_t v = 0;
	size_t i, k;

	if (n->kind != YN_SCALAR || n->slen == 0 || n->slen > 24)
		goto bad;
	for (i = 0; i < n->slen && n->s[i] >= '0' && n->s[i] <= '9'; i++) {
		if (i >= 13)
			goto bad;
		v = v * 10 + (uint64_t)(n->s[i] - '0');
	}
	if (i == 0)
		goto bad;
	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		if (strcmp(n->s + i, units[k].suffix) == 0)
			break;
	if (k == sizeof(units) / sizeof(units[0]))
		goto bad;
	if (v == 0 || v > max / units[k].mult)
		return perr(c, n, path, "size out of range (1 byte to %" PRIu64 " GiB)",
		            max >> 30);
	*out = v * units[k].mult;
	return 0;
bad:
	return perr(c, n, path,
	            "expected a size such as 1048576, 512KiB, 10MiB or 1GiB (kB, MB, GB: "
	            "powers of 1000)");
}

/* egress: {per_operator_daily: SIZE} */
static int
load_egress(struct ctx *c, const struct ynode *n, const char *path, uint64_t *daily)
{
	static const char *const keys[] = {"per_operator_daily", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "per_operator_daily")) == NULL)
		return perr(c, n, path, "give per_operator_daily (bytes an operator may receive "
		                        "per UTC day)");
	kpath(kp, sizeof(kp), path, "per_operator_daily");
	return get_size(c, v, kp, MAX_SIZE, daily);
}

/* A TOTP code is good once and changes every 30 seconds (WF_TOTP_STEP): a shorter TOTP
 * check could not be met. */
#define MIN_TOTP_CHECK 30

/* presence_check: {every: DURATION, method: totp|click} */
static int
load_presence_check(struct ctx *c, const struct ynode *n, const char *path, policy_sessions *out)
{
	static const char *const keys[] = {"every", "method", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v, *ev;
	long d;
	int r, m;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "method")) == NULL)
		return perr(c, n, path, "give method: totp (a fresh one-time code) or click (a "
		                        "click or keypress)");
	kpath(kp, sizeof(kp), path, "method");
	if (v->kind != YN_SCALAR || (m = policy_presence_method_parse(v->s)) < 0)
		return perr(c, v, kp, "expected totp or click");
	if ((ev = map_get(n, "every")) == NULL)
		return perr(c, n, path, "give every (how often each escort proves presence, e.g. "
		                        "5m)");
	kpath(kp, sizeof(kp), path, "every");
	if ((r = get_duration(c, ev, kp, 86400, &d)) != 0)
		return r;
	if (m == POLICY_PRESENCE_TOTP && d < MIN_TOTP_CHECK)
		return perr(c, ev, kp, "a TOTP code changes every 30 seconds and is good once: give "
		                       "30s or more (or method: click)");
	out->check_every = (unsigned)d;
	out->check_method = m;
	return 0;
}

/* sessions: {require_escorts: N, presence_every: DURATION, line_timeout: DURATION,
 * presence_check: {...}} */
static int
load_sessions(struct ctx *c, const struct ynode *n, const char *path, policy_sessions *out)
{
	static const char *const keys[] = {"require_escorts", "presence_every", "line_timeout",
	                                   "presence_check", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	unsigned long u;
	long d;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "require_escorts")) != NULL) {
		kpath(kp, sizeof(kp), path, "require_escorts");
		if ((r = get_uint(c, v, kp, 0, 16, &u)) != 0)
			return r;
		out->require_escorts = (unsigned)u;
	}
	if ((v = map_get(n, "presence_every")) != NULL) {
		kpath(kp, sizeof(kp), path, "presence_every");
		if ((r = get_duration(c, v, kp, 86400, &d)) != 0)
			return r;
		out->presence_every = (unsigned)d;
	}
	if ((v = map_get(n, "line_timeout")) != NULL) {
		kpath(kp, sizeof(kp), path, "line_timeout");
		if ((r = get_duration(c, v, kp, 86400, &d)) != 0)
			return r;
		out->line_timeout = (unsigned)d;
	}
	if ((v = map_get(n, "presence_check")) != NULL) {
		kpath(kp, sizeof(kp), path, "presence_check");
		/* the check only decides who counts toward the quorum: without one it is a no-op
		 * that would look like protection */
		if (out->require_escorts == 0)
			return perr(c, v, kp, "needs require_escorts of 1 or more in the same "
			                      "sessions block (only escorts counted toward it are "
			                      "checked)");
		if ((r = load_presence_check(c, v, kp, out)) != 0)
			return r;
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long
days_from_civil(long y, unsigned m, unsigned d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

/* YYYY-MM-DD, a real calendar date; returns the first second after that day (UTC). */
static int
get_date(struct ctx *c, const struct ynode *n, const char *path, time_t *out)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	long y;
	unsigned m, d, dim;
	size_t i;

	if (n->kind != YN_SCALAR || n->slen != 10 || n->s[4] != '-' || n->s[7] != '-')
		goto bad;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (n->s[i] < '0' || n->s[i] > '9'))
			goto bad;
	y = (n->s[0] - '0') * 1000 + (n->s[1] - '0') * 100 + (n->s[2] - '0') * 10 + (n->s[3] - '0');
	m = (unsigned)((n->s[5] - '0') * 10 + (n->s[6] - '0'));
	d = (unsigned)((n->s[8] - '0') * 10 + (n->s[9] - '0'));
	if (y < 1970 || m < 1 || m > 12)
		goto invalid;
	dim = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d < 1 || d > dim)
		goto invalid;
	*out = (time_t)(days_from_civil(y, m, d) + 1) * 86400;
	return 0;
invalid:
	return perr(c, n, path, "'%s' is not a valid date", n->s);
bad:
	return perr(c, n, path, "expected a date YYYY-MM-DD");
}

/* A string or a list of strings; each element checked by `each` (may be NULL). */
typedef int (*elem_check)(struct ctx *, const struct ynode *, const char *);

static int
get_list(struct ctx *c, const struct ynode *n, const char *path, int shape, elem_check each,
         struct pol_strlist *out)
{
	const struct ynode *const *items;
	const struct ynode *one = n;
	size_t cnt, i, j;
	const char **v;
	struct hset seen = {NULL, NULL, 0, 0};
	unsigned first;
	int r;

	out->v = NULL;
	out->n = 0;
	if (is_null(n))
		return 0;
	if (n->kind == YN_MAP)
		return perr(c, n, path, "expected a string or a list of strings, got a mapping");
	if (n->kind == YN_SEQ) {
		items = (const struct ynode *const *)n->kids;
		cnt = n->nkids;
	} else {
		items = &one;
		cnt = 1;
	}
	if (cnt == 0)
		return 0;
	if ((v = pol_alloc(c->a, cnt * sizeof(*v))) == NULL)
		return ESC_ENOMEM;
	for (i = 0, r = 0; i < cnt && r == 0; i++) {
		if (items[i]->kind != YN_SCALAR) {
			r = perr(c, items[i], path, "list items must be strings, got %s",
			         kind_name(items[i]->kind));
			break;
		}
		if ((r = get_str(c, items[i], path, shape, &v[i])) != 0)
			break;
		if (each && (r = each(c, items[i], path)) != 0)
			break;
		if (cnt <= 8) { /* the usual short list: no table */
			for (j = 0; j < i; j++)
				if (strcmp(v[i], v[j]) == 0)
					r = perr(c, items[i], path, "'%s' is listed twice", v[i]);
		} else if ((r = hset_add(&seen, v[i], items[i]->line, &first)) == 1) {
			r = perr(c, items[i], path, "'%s' is listed twice", v[i]);
		}
	}
	hset_free(&seen);
	if (r != 0)
		return r;
	out->v = v;
	out->n = cnt;
	return 0;
}

static int
chk_country(struct ctx *c, const struct ynode *n, const char *path)
{
	if (!pol_country_valid(n->s))
		return perr(c, n, path,
		            "'%s' is not an ISO 3166-1 alpha-2 country code "
		            "(two upper-case letters, e.g. US, GB)",
		            n->s);
	return 0;
}

static int
chk_category(struct ctx *c, const struct ynode *n, const char *path)
{
	if (!policy_category_valid(n->s))
		return perr(c, n, path,
		            "unknown category '%s' (see the category list in "
		            "escort-policy(5))",
		            n->s);
	return 0;
}

static int
get_roles(struct ctx *c, const struct ynode *n, const char *path, unsigned *out)
{
	struct pol_strlist l;
	size_t i;
	int r;

	*out = 0;
	if ((r = get_list(c, n, path, S_WORD, NULL, &l)) != 0)
		return r;
	for (i = 0; i < l.n; i++) {
		unsigned b = policy_role_parse(l.v[i]);
		if (b == 0) {
			const struct ynode *at = n->kind == YN_SEQ ? n->kids[i] : n;
			return perr(c, at, path,
			            "unknown role '%s' (expected operator, escort, "
			            "reviewer, auditor, admin or host)",
			            l.v[i]);
		}
		*out |= b;
	}
	return 0;
}

static int
get_clearance(struct ctx *c, const struct ynode *n, const char *path, int *out)
{
	if (n->kind != YN_SCALAR)
		return perr(c, n, path, "expected a clearance, got %s", kind_name(n->kind));
	if ((*out = policy_clearance_parse(n->s)) < 0)
		return perr(c, n, path,
		            "unknown clearance '%.64s' (expected none, "
		            "public-trust, secret or top-secret)",
		            n->s);
	return 0;
}

static int
get_country(struct ctx *c, const struct ynode *n, const char *path, const char **out)
{
	int r;

	if ((r = get_str(c, n, path, S_WORD, out)) != 0)
		return r;
	return chk_country(c, n, path);
}

/* The display name of list item i for error paths: its name when it is a sane word. */
static void
item_path(char *dst, size_t n, const char *section, const struct ynode *item, size_t i)
{
	const struct ynode *nm = item->kind == YN_MAP ? map_get(item, "name") : NULL;
	size_t j;

	if (nm && nm->kind == YN_SCALAR && nm->slen > 0 && nm->slen <= MAX_WORD) {
		for (j = 0; j < nm->slen; j++) {
			char ch = nm->s[j];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
			      ch == '@'))
				break;
		}
		if (j == nm->slen) {
			snprintf(dst, n, "%s[%s]", section, nm->s);
			return;
		}
	}
	snprintf(dst, n, "%s[%zu]", section, i);
}

static int
require(struct ctx *c, const struct ynode *m, const char *path, const char *key, struct ynode **out)
{
	char kp[MAX_PATH_KEY];

	if ((*out = map_get(m, key)) == NULL) {
		kpath(kp, sizeof(kp), path, key);
		return perr(c, m, kp, "required key is missing");
	}
	return 0;
}

/* The items of a section that must be a list (null = empty). */
static int
section_items(struct ctx *c, const struct ynode *n, const char *key, size_t *cnt)
{
	*cnt = 0;
	if (n == NULL || is_null(n))
		return 0;
	if (n->kind != YN_SEQ)
		return perr(c, n, key, "expected a list, got %s", kind_name(n->kind));
	*cnt = n->nkids;
	return 0;
}

/* ---- sections ---- */

static int
id_cmp(const void *a, const void *b)
{
	return strcmp((*(const policy_identity *const *)a)->name,
	              (*(const policy_identity *const *)b)->name);
}

static int
target_cmp(const void *a, const void *b)
{
	return strcmp((*(const policy_target *const *)a)->name,
	              (*(const policy_target *const *)b)->name);
}

static int
env_cmp(const void *a, const void *b)
{
	return strcmp((*(const policy_environment *const *)a)->name,
	              (*(const policy_environment *const *)b)->name);
}

static int
load_environments(struct ctx *c, const struct ynode *sec, struct hset *names)
{
	static const char *const keys[] = {"name", "labels", "description", "egress", "sessions",
	                                   NULL};
	policy *p = c->p;
	size_t i, j, cnt;
	char path[MAX_PATH_KEY], kp[MAX_PATH_KEY];
	unsigned first;
	int r;

	if ((r = section_items(c, sec, "environments", &cnt)) != 0 || cnt == 0)
		return r;
	if ((p->envs = pol_alloc(c->a, cnt * sizeof(*p->envs))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++) {
		const struct ynode *it = sec->kids[i], *v;
		policy_environment *e = &p->envs[i];
		struct pol_strlist l;

		item_path(path, sizeof(path), "environments", it, i);
		if ((r = check_map(c, it, path, keys)) != 0 ||
		    (r = require(c, it, path, "name", (struct ynode **)&v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "name");
		if ((r = get_str(c, v, kp, S_WORD, &e->name)) != 0)
			return r;
		e->line = it->line;
		if ((r = hset_add(names, e->name, e->line, &first)) == 1)
			return perr(c, v, kp,
			            "duplicate environment name '%s' (first defined at "
			            "line %u)",
			            e->name, first);
		if (r < 0 || (r = hset_add(&c->env_words, e->name, e->line, NULL)) < 0)
			return r;
		if ((v = map_get(it, "labels")) != NULL) {
			kpath(kp, sizeof(kp), path, "labels");
			if ((r = get_list(c, v, kp, S_LABEL, NULL, &l)) != 0)
				return r;
			e->labels = l.v;
			e->nlabels = l.n;
			for (j = 0; j < l.n; j++)
				if ((r = hset_add(&c->env_words, l.v[j], e->line, NULL)) < 0)
					return r;
		}
		if ((v = map_get(it, "description")) != NULL) {
			const char *d;
			kpath(kp, sizeof(kp), path, "description");
			if ((r = get_str(c, v, kp, S_TEXT, &d)) != 0)
				return r;
		}
		if ((v = map_get(it, "egress")) != NULL) {
			kpath(kp, sizeof(kp), path, "egress");
			if ((r = load_egress(c, v, kp, &e->egress_daily)) != 0)
				return r;
		}
		if ((v = map_get(it, "sessions")) != NULL) {
			kpath(kp, sizeof(kp), path, "sessions");
			if ((r = load_sessions(c, v, kp, &e->sessions)) != 0)
				return r;
			e->has_sessions = 1;
		}
		p->nenvs = i + 1;
	}
	/* targets resolve their environment through this index */
	if ((p->env_sorted = pol_alloc(c->a, cnt * sizeof(*p->env_sorted))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++)
		p->env_sorted[i] = &p->envs[i];
	qsort(p->env_sorted, cnt, sizeof(*p->env_sorted), env_cmp);
	return 0;
}

static int
load_identities(struct ctx *c, const struct ynode *sec, struct hset *names)
{
	static const char *const keys[] = {"name",           "roles",
	                                   "citizenship",    "location",
	                                   "clearance",      "screening_expires",
	                                   "qualifications", "organization",
	                                   "description",    "hosts",
	                                   NULL};
	policy *p = c->p;
	size_t i, cnt;
	char path[MAX_PATH_KEY], kp[MAX_PATH_KEY];
	unsigned first;
	int r;

	if ((r = section_items(c, sec, "identities", &cnt)) != 0 || cnt == 0)
		return r;
	if ((p->ids = pol_alloc(c->a, cnt * sizeof(*p->ids))) == NULL ||
	    (p->id_sorted = pol_alloc(c->a, cnt * sizeof(*p->id_sorted))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++) {
		const struct ynode *it = sec->kids[i];
		struct ynode *v;
		policy_identity *id = &p->ids[i];
		struct pol_strlist l;

		item_path(path, sizeof(path), "identities", it, i);
		if ((r = check_map(c, it, path, keys)) != 0 ||
		    (r = require(c, it, path, "name", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "name");
		if ((r = get_str(c, v, kp, S_WORD, &id->name)) != 0)
			return r;
		id->line = it->line;
		if ((r = hset_add(names, id->name, id->line, &first)) == 1)
			return perr(c, v, kp,
			            "duplicate identity name '%s' (first defined at line "
			            "%u)",
			            id->name, first);
		if (r < 0)
			return r;
		if ((r = require(c, it, path, "roles", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "roles");
		if ((r = get_roles(c, v, kp, &id->roles)) != 0)
			return r;
		if (id->roles == 0)
			return perr(c, v, kp, "an identity needs at least one role");
		/* a host token must never act as a person (propose, approve, run, audit) */
		if ((id->roles & POLICY_ROLE_HOST) && id->roles != POLICY_ROLE_HOST)
			return perr(c, v, kp, "the host role cannot be combined with other roles");
		if ((v = map_get(it, "hosts")) != NULL) {
			kpath(kp, sizeof(kp), path, "hosts");
			if (!(id->roles & POLICY_ROLE_HOST))
				return perr(c, v, kp, "only allowed for identities with the host role");
			if ((r = get_list(c, v, kp, S_WORD, NULL, &l)) != 0)
				return r;
			id->hosts = l.v;
			id->nhosts = l.n;
		}
		if ((id->roles & POLICY_ROLE_HOST) && id->nhosts == 0) {
			kpath(kp, sizeof(kp), path, "hosts");
			return perr(c, v ? v : it, kp, "required for identities with the host role: the "
			                             "sudo targets this host speaks for");
		}
		if ((v = map_get(it, "citizenship")) != NULL) {
			kpath(kp, sizeof(kp), path, "citizenship");
			if ((r = get_list(c, v, kp, S_WORD, chk_country, &l)) != 0)
				return r;
			id->citizenship = l.v;
			id->ncitizenship = l.n;
		}
		if ((v = map_get(it, "location")) != NULL) {
			kpath(kp, sizeof(kp), path, "location");
			if ((r = get_country(c, v, kp, &id->location)) != 0)
				return r;
		}
		if ((v = map_get(it, "clearance")) != NULL) {
			kpath(kp, sizeof(kp), path, "clearance");
			if ((r = get_clearance(c, v, kp, &id->clearance)) != 0)
				return r;
		}
		if ((v = map_get(it, "screening_expires")) != NULL) {
			kpath(kp, sizeof(kp), path, "screening_expires");
			if ((r = get_date(c, v, kp, &id->screening_expires)) != 0)
				return r;
		}
		if ((v = map_get(it, "qualifications")) != NULL) {
			kpath(kp, sizeof(kp), path, "qualifications");
			if ((r = get_list(c, v, kp, S_WORD, NULL, &l)) != 0)
				return r;
			id->qualifications = l.v;
			id->nqualifications = l.n;
		}
		if ((v = map_get(it, "organization")) != NULL) {
			kpath(kp, sizeof(kp), path, "organization");
			if ((r = get_str(c, v, kp, S_TEXT, &id->organization)) != 0)
				return r;
		}
		if ((v = map_get(it, "description")) != NULL) {
			const char *d;
			kpath(kp, sizeof(kp), path, "description");
			if ((r = get_str(c, v, kp, S_TEXT, &d)) != 0)
				return r;
		}
		/* location rules must not be escapable by leaving the attribute out */
		if (id->roles & POLICY_ROLE_OPERATOR) {
			if (id->location == NULL) {
				kpath(kp, sizeof(kp), path, "location");
				return perr(c, it, kp,
				            "required for identities with the operator role");
			}
			if (id->ncitizenship == 0) {
				kpath(kp, sizeof(kp), path, "citizenship");
				return perr(c, it, kp,
				            "required for identities with the operator role");
			}
		}
		p->nids = i + 1;
	}
	for (i = 0; i < cnt; i++)
		p->id_sorted[i] = &p->ids[i];
	qsort(p->id_sorted, cnt, sizeof(*p->id_sorted), id_cmp);
	return 0;
}

/* One regular expression of a target's redact list: it must compile (POSIX extended,
 * as the broker compiles it) and must not match the empty string. */
static int
chk_regex(struct ctx *c, const struct ynode *n, const char *path)
{
	regex_t re;
	char why[200];
	unsigned long bounds = 0, v;
	size_t i;
	int e;

	/* what keeps matching a megabyte of output fast: no back-references (they make
	 * matching exponential) and bounded repetitions that stay small (glibc builds an
	 * automaton with one state per repeated copy) */
	for (i = 0; i < n->slen; i++) {
		if (n->s[i] == '\\' && i + 1 < n->slen && n->s[i + 1] >= '1' && n->s[i + 1] <= '9')
			return perr(c, n, path, "'%.64s': back-references (\\%c) are not supported "
			                        "(they can make matching take exponential time)",
			            n->s, n->s[i + 1]);
		if (n->s[i] == '\\') {
			i++;
			continue;
		}
		if (n->s[i] != '{')
			continue;
		for (v = 0, i++; i < n->slen && n->s[i] != '}'; i++) {
			if (n->s[i] >= '0' && n->s[i] <= '9') {
				v = v * 10 + (unsigned long)(n->s[i] - '0');
				if (v > 100000)
					v = 100000;
			} else {
				bounds += v;
				v = 0;
			}
		}
		bounds += v;
		if (bounds > 1000)
			return perr(c, n, path, "'%.64s': repetition counts add up to more than "
			                        "1000; write a shorter pattern", n->s);
	}

	if ((e = regcomp(&re, n->s, REG_EXTENDED | REG_NEWLINE)) != 0) {
		regerror(e, &re, why, sizeof(why));
		return perr(c, n, path, "'%.64s' is not a valid POSIX extended regular "
		                        "expression: %s", n->s, why);
	}
	e = regexec(&re, "", 0, NULL, 0);
	regfree(&re);
	if (e == 0)
		return perr(c, n, path, "'%.64s' matches the empty string; it would mask "
		                        "nothing", n->s);
	return 0;
}

/* A target's transport; settings say for which of them they make sense. */
enum { TR_LOCAL = 1, TR_SSH = 2, TR_SUDO = 4 };

static int
only_for(struct ctx *c, const struct ynode *v, const char *kp, int tr, int allowed)
{
	if (tr & allowed)
		return 0;
	if (tr == TR_SUDO)
		return perr(c, v, kp, "not allowed with transport sudo (sudo on that host runs the "
		                      "command; escort never connects to it)");
	return perr(c, v, kp, "only allowed with transport %s", allowed == TR_SSH ? "ssh" : "local");
}

/* A target's settings mapping (keys already checked). */
static int
load_target_settings(struct ctx *c, const struct ynode *s, const char *sp, policy_target *t,
                     int tr)
{
	char kp[MAX_PATH_KEY];
	struct ynode *v, *cwd;
	struct pol_strlist l;
	unsigned long ul;
	long dur;
	int r;

	if ((v = map_get(s, "workdir")) != NULL && (cwd = map_get(s, "cwd")) != NULL) {
		kpath(kp, sizeof(kp), sp, "cwd");
		return perr(c, cwd, kp, "give workdir or cwd (the same setting), not both");
	}
	if ((v = map_get(s, "workdir")) != NULL || (v = map_get(s, "cwd")) != NULL) {
		kpath(kp, sizeof(kp), sp, map_get(s, "workdir") ? "workdir" : "cwd");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL | TR_SSH)) != 0 ||
		    (r = get_str(c, v, kp, S_PATH, &t->workdir)) != 0)
			return r;
	}
	if ((v = map_get(s, "timeout")) != NULL) {
		kpath(kp, sizeof(kp), sp, "timeout");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL | TR_SSH)) != 0 ||
		    (r = get_duration(c, v, kp, 86400, &dur)) != 0)
			return r;
		t->timeout_sec = (unsigned)dur;
	}
	if ((v = map_get(s, "platform")) != NULL) {
		kpath(kp, sizeof(kp), sp, "platform");
		if ((r = get_str(c, v, kp, S_WORD, &t->platform)) != 0)
			return r;
	}
	if ((v = map_get(s, "attest")) != NULL) {
		kpath(kp, sizeof(kp), sp, "attest");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL | TR_SSH)) != 0 ||
		    (r = get_bool(c, v, kp, &t->attest)) != 0)
			return r;
	}
	if ((v = map_get(s, "output_max")) != NULL) {
		kpath(kp, sizeof(kp), sp, "output_max");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL | TR_SSH)) != 0 ||
		    (r = get_size(c, v, kp, MAX_SIZE, &t->output_max)) != 0)
			return r;
	}
	if ((v = map_get(s, "redact")) != NULL) {
		kpath(kp, sizeof(kp), sp, "redact");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL | TR_SSH)) != 0 ||
		    (r = get_list(c, v, kp, S_TEXT, chk_regex, &l)) != 0)
			return r;
		if (l.n > MAX_REDACT)
			return perr(c, v, kp, "%zu patterns; at most %d", l.n, MAX_REDACT);
		t->redact = l.v;
		t->nredact = l.n;
	}
	if ((v = map_get(s, "run_as")) != NULL) {
		kpath(kp, sizeof(kp), sp, "run_as");
		if ((r = only_for(c, v, kp, tr, TR_LOCAL)) != 0 ||
		    (r = get_str(c, v, kp, S_WORD, &t->run_as)) != 0)
			return r;
	}
	if ((v = map_get(s, "key")) != NULL) {
		kpath(kp, sizeof(kp), sp, "key");
		if ((r = only_for(c, v, kp, tr, TR_SSH)) != 0 ||
		    (r = get_str(c, v, kp, S_WORD, &t->key_name)) != 0)
			return r;
		if (t->key_name[0] == '.')
			return perr(c, v, kp, "'%s': a key name must not start with a dot (it "
			                      "names the file DATA/keys/NAME)", t->key_name);
	}
	if ((v = map_get(s, "host")) != NULL) {
		kpath(kp, sizeof(kp), sp, "host");
		if ((r = only_for(c, v, kp, tr, TR_SSH)) != 0 ||
		    (r = get_str(c, v, kp, S_WORD, &t->ssh_host)) != 0)
			return r;
	}
	if ((v = map_get(s, "user")) != NULL) {
		kpath(kp, sizeof(kp), sp, "user");
		if ((r = only_for(c, v, kp, tr, TR_SSH)) != 0 ||
		    (r = get_str(c, v, kp, S_WORD, &t->ssh_user)) != 0)
			return r;
	}
	if ((v = map_get(s, "host_key")) != NULL) {
		kpath(kp, sizeof(kp), sp, "host_key");
		if ((r = only_for(c, v, kp, tr, TR_SSH)) != 0 ||
		    (r = get_str(c, v, kp, S_TEXT, &t->ssh_host_key)) != 0)
			return r;
		if (strncmp(t->ssh_host_key, "SHA256:", 7) != 0 || strlen(t->ssh_host_key) < 8)
			return perr(c, v, kp, "expected a SHA256:<base64> fingerprint, as "
			                      "ssh-keygen -l -E sha256 prints it");
	}
	if ((v = map_get(s, "port")) != NULL) {
		kpath(kp, sizeof(kp), sp, "port");
		if ((r = only_for(c, v, kp, tr, TR_SSH)) != 0 ||
		    (r = get_uint(c, v, kp, 1, 65535, &ul)) != 0)
			return r;
		t->ssh_port = (unsigned)ul;
	}
	return 0;
}

static int
load_targets(struct ctx *c, const struct ynode *sec, struct hset *names)
{
	static const char *const keys[] = {"name",     "environment", "transport",
	                                   "settings", "description", NULL};
	static const char *const skeys[] = {
	    "workdir", "cwd",    "timeout", "platform",   "attest", "output_max", "redact",
	    "host",    "port",   "user",    "host_key",   "key",    "run_as",     NULL};
	policy *p = c->p;
	size_t i, cnt;
	char path[MAX_PATH_KEY], kp[MAX_PATH_KEY], sp[MAX_PATH_KEY];
	unsigned first;
	int r;

	if ((r = section_items(c, sec, "targets", &cnt)) != 0 || cnt == 0)
		return r;
	if ((p->targets = pol_alloc(c->a, cnt * sizeof(*p->targets))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++) {
		const struct ynode *it = sec->kids[i];
		struct ynode *v, *s;
		policy_target *t = &p->targets[i];
		int ssh, tr;

		item_path(path, sizeof(path), "targets", it, i);
		if ((r = check_map(c, it, path, keys)) != 0 ||
		    (r = require(c, it, path, "name", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "name");
		if ((r = get_str(c, v, kp, S_WORD, &t->name)) != 0)
			return r;
		t->line = it->line;
		if ((r = hset_add(names, t->name, t->line, &first)) == 1)
			return perr(c, v, kp,
			            "duplicate target name '%s' (first defined at line %u)",
			            t->name, first);
		if (r < 0)
			return r;
		if ((r = require(c, it, path, "environment", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "environment");
		if ((r = get_str(c, v, kp, S_WORD, &t->environment)) != 0)
			return r;
		if (policy_environment_find(p, t->environment) == NULL)
			return perr(c, v, kp, "no environment named '%s' is defined",
			            t->environment);
		if ((r = require(c, it, path, "transport", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "transport");
		if ((r = get_str(c, v, kp, S_WORD, &t->transport)) != 0)
			return r;
		if (strcmp(t->transport, "local") == 0)
			tr = TR_LOCAL;
		else if (strcmp(t->transport, "ssh") == 0)
			tr = TR_SSH;
		else if (strcmp(t->transport, "sudo") == 0)
			tr = TR_SUDO;
		else
			return perr(c, v, kp, "unknown transport '%s' (expected local, ssh or sudo)",
			            t->transport);
		ssh = tr == TR_SSH;
		if ((v = map_get(it, "description")) != NULL) {
			const char *d;
			kpath(kp, sizeof(kp), path, "description");
			if ((r = get_str(c, v, kp, S_TEXT, &d)) != 0)
				return r;
		}
		kpath(sp, sizeof(sp), path, "settings");
		s = map_get(it, "settings");
		t->attest = ssh; /* the default: a local snapshot would look at escort's own host */
		t->key_name = t->name;
		if (s && !is_null(s)) {
			if ((r = check_map(c, s, sp, skeys)) != 0)
				return r;
			if ((r = load_target_settings(c, s, sp, t, tr)) != 0)
				return r;
		}
		if (ssh && t->ssh_host == NULL) {
			kpath(kp, sizeof(kp), sp, "host");
			return perr(c, s ? s : it, kp, "required for transport ssh");
		}
		p->ntargets = i + 1;
	}
	if ((p->target_sorted = pol_alloc(c->a, cnt * sizeof(*p->target_sorted))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++)
		p->target_sorted[i] = &p->targets[i];
	qsort(p->target_sorted, cnt, sizeof(*p->target_sorted), target_cmp);
	return 0;
}

/* After the targets: every name in a host identity's hosts must be a sudo target (a host
 * token must never get a request on a target escort itself would run). */
static int
check_hosts(struct ctx *c, const struct ynode *sec)
{
	char path[MAX_PATH_KEY], kp[MAX_PATH_KEY];
	const policy_target *t;
	const struct ynode *hs, *at;
	size_t i, j;

	if (sec == NULL || sec->kind != YN_SEQ)
		return 0;
	for (i = 0; i < sec->nkids && i < c->p->nids; i++) {
		const policy_identity *id = &c->p->ids[i];

		if (id->nhosts == 0 || (hs = map_get(sec->kids[i], "hosts")) == NULL)
			continue;
		item_path(path, sizeof(path), "identities", sec->kids[i], i);
		kpath(kp, sizeof(kp), path, "hosts");
		for (j = 0; j < id->nhosts; j++) {
			at = hs->kind == YN_SEQ && j < hs->nkids ? hs->kids[j] : hs;
			if ((t = policy_target_find(c->p, id->hosts[j])) == NULL)
				return perr(c, at, kp, "no target named '%s' is defined", id->hosts[j]);
			if (!policy_target_is_sudo(t))
				return perr(c, at, kp, "target '%s' has transport %s; a host speaks only "
				            "for targets with transport sudo", t->name, t->transport);
		}
	}
	return 0;
}

static int
chk_qual(struct ctx *c, const struct ynode *n, const char *path)
{
	(void)c;
	(void)n;
	(void)path;
	return 0;
}

static int
load_req(struct ctx *c, const struct ynode *n, const char *path, struct pol_req *q)
{
	static const char *const keys[] = {"roles", "citizenship", "min_clearance",
	                                   "qualifications", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if (n->nkids == 0)
		return perr(c, n, path,
		            "an approver requirement needs at least one of roles, "
		            "citizenship, min_clearance, qualifications");
	if ((v = map_get(n, "roles")) != NULL) {
		kpath(kp, sizeof(kp), path, "roles");
		if ((r = get_roles(c, v, kp, &q->roles)) != 0)
			return r;
		if (q->roles & POLICY_ROLE_HOST)
			return perr(c, v, kp, "a host cannot approve (the host role only submits "
			                      "sudo commands)");
	}
	if ((v = map_get(n, "citizenship")) != NULL) {
		kpath(kp, sizeof(kp), path, "citizenship");
		if ((r = get_list(c, v, kp, S_WORD, chk_country, &q->citizenship)) != 0)
			return r;
	}
	if ((v = map_get(n, "min_clearance")) != NULL) {
		kpath(kp, sizeof(kp), path, "min_clearance");
		if ((r = get_clearance(c, v, kp, &q->min_clearance)) != 0)
			return r;
	}
	if ((v = map_get(n, "qualifications")) != NULL) {
		kpath(kp, sizeof(kp), path, "qualifications");
		if ((r = get_list(c, v, kp, S_WORD, chk_qual, &q->qualifications)) != 0)
			return r;
	}
	return 0;
}

static int
parse_hhmm(const char *s, int *out)
{
	int h, m;

	if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == ':' &&
	      s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9'))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || (h == 24 && m != 0))
		return -1;
	*out = h * 60 + m;
	return 0;
}

static int
load_time(struct ctx *c, const struct ynode *n, const char *path, struct pol_rule *ru)
{
	static const char *const keys[] = {"days", "hours", NULL};
	static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	struct pol_strlist l;
	size_t i, d;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if (n->nkids == 0)
		return perr(c, n, path, "give days, hours or both");
	if ((v = map_get(n, "days")) != NULL) {
		kpath(kp, sizeof(kp), path, "days");
		if ((r = get_list(c, v, kp, S_WORD, NULL, &l)) != 0)
			return r;
		if (l.n == 0)
			return perr(c, v, kp, "at least one day is required");
		for (i = 0; i < l.n; i++) {
			for (d = 0; d < 7; d++)
				if (strcmp(l.v[i], days[d]) == 0)
					break;
			if (d == 7)
				return perr(
				    c, v->kind == YN_SEQ ? v->kids[i] : v, kp,
				    "unknown day '%s' (expected sun, mon, tue, wed, thu, fri, sat)",
				    l.v[i]);
			ru->days_mask |= 1u << d;
		}
	}
	if ((v = map_get(n, "hours")) != NULL) {
		kpath(kp, sizeof(kp), path, "hours");
		if (v->kind != YN_SCALAR || v->slen != 11 || v->s[5] != '-' ||
		    parse_hhmm(v->s, &ru->minute_from) != 0 ||
		    parse_hhmm(v->s + 6, &ru->minute_to) != 0 || ru->minute_from == ru->minute_to)
			return perr(c, v, kp,
			            "expected a UTC time range HH:MM-HH:MM, e.g. "
			            "08:00-18:00 (may wrap past midnight)");
	}
	return 0;
}

static int
load_risk(struct ctx *c, const struct ynode *n, const char *path, unsigned *mask)
{
	static const char *const keys[] = {"min", "max", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	struct pol_strlist l;
	size_t i;
	int r, lo = 0, hi = 4, x;

	if (n->kind == YN_MAP) {
		if ((r = check_map(c, n, path, keys)) != 0)
			return r;
		if (n->nkids == 0)
			return perr(c, n, path, "give min, max or both");
		if ((v = map_get(n, "min")) != NULL) {
			kpath(kp, sizeof(kp), path, "min");
			if (v->kind != YN_SCALAR || (lo = policy_risk_parse(v->s)) < 0)
				return perr(c, v, kp,
				            "expected none, low, medium, high or critical");
		}
		if ((v = map_get(n, "max")) != NULL) {
			kpath(kp, sizeof(kp), path, "max");
			if (v->kind != YN_SCALAR || (hi = policy_risk_parse(v->s)) < 0)
				return perr(c, v, kp,
				            "expected none, low, medium, high or critical");
		}
		if (lo > hi)
			return perr(c, n, path, "min is above max");
		for (x = lo; x <= hi; x++)
			*mask |= 1u << x;
		return 0;
	}
	if ((r = get_list(c, n, path, S_WORD, NULL, &l)) != 0)
		return r;
	if (l.n == 0)
		return perr(c, n, path, "at least one risk level is required");
	for (i = 0; i < l.n; i++) {
		if ((x = policy_risk_parse(l.v[i])) < 0)
			return perr(
			    c, n->kind == YN_SEQ ? n->kids[i] : n, path,
			    "unknown risk '%s' (expected none, low, medium, high or critical)",
			    l.v[i]);
		*mask |= 1u << x;
	}
	return 0;
}

static int
load_operator_match(struct ctx *c, const struct ynode *n, const char *path, struct pol_rule *ru)
{
	static const char *const keys[] = {"names",
	                                   "roles",
	                                   "citizenship",
	                                   "not_citizenship",
	                                   "location",
	                                   "not_location",
	                                   "organization",
	                                   "qualifications",
	                                   "min_clearance",
	                                   "max_clearance",
	                                   NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	size_t i;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "names")) != NULL) {
		kpath(kp, sizeof(kp), path, "names");
		if ((r = get_list(c, v, kp, S_WORD, NULL, &ru->op_names)) != 0)
			return r;
		for (i = 0; i < ru->op_names.n; i++) {
			const policy_identity *id = policy_identity_find(c->p, ru->op_names.v[i]);
			if (id == NULL)
				return perr(c, v->kind == YN_SEQ ? v->kids[i] : v, kp,
				            "no identity named '%s' is defined", ru->op_names.v[i]);
			/* the identity's own string: decide compares pointers */
			((const char **)ru->op_names.v)[i] = id->name;
		}
	}
	if ((v = map_get(n, "roles")) != NULL) {
		kpath(kp, sizeof(kp), path, "roles");
		if ((r = get_roles(c, v, kp, &ru->op_roles)) != 0)
			return r;
		if (ru->op_roles & POLICY_ROLE_HOST)
			return perr(c, v, kp, "a host never proposes commands (its requests are "
			                      "its sudo users')");
	}
#define OPLIST(key, field, chk)                                                                    \
	if ((v = map_get(n, key)) != NULL) {                                                       \
		kpath(kp, sizeof(kp), path, key);                                                  \
		if ((r = get_list(c, v, kp, S_WORD, chk, &ru->field)) != 0)                        \
			return r;                                                                  \
	}
	OPLIST("citizenship", op_citizenship, chk_country)
	OPLIST("not_citizenship", op_not_citizenship, chk_country)
	OPLIST("location", op_location, chk_country)
	OPLIST("not_location", op_not_location, chk_country)
	OPLIST("qualifications", op_qualifications, NULL)
#undef OPLIST
	if ((v = map_get(n, "organization")) != NULL) {
		kpath(kp, sizeof(kp), path, "organization");
		if ((r = get_list(c, v, kp, S_TEXT, NULL, &ru->op_organization)) != 0)
			return r;
	}
	if ((v = map_get(n, "min_clearance")) != NULL) {
		kpath(kp, sizeof(kp), path, "min_clearance");
		if ((r = get_clearance(c, v, kp, &ru->op_min_clearance)) != 0)
			return r;
	}
	if ((v = map_get(n, "max_clearance")) != NULL) {
		kpath(kp, sizeof(kp), path, "max_clearance");
		if ((r = get_clearance(c, v, kp, &ru->op_max_clearance)) != 0)
			return r;
	}
	return 0;
}

static int
load_match(struct ctx *c, const struct ynode *n, const char *path, struct pol_rule *ru)
{
	static const char *const keys[] = {"operator",   "environment", "target", "risk",
	                                   "categories", "opaque",      "time",   NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	size_t i;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "operator")) != NULL) {
		kpath(kp, sizeof(kp), path, "operator");
		if ((r = load_operator_match(c, v, kp, ru)) != 0)
			return r;
	}
	if ((v = map_get(n, "environment")) != NULL) {
		kpath(kp, sizeof(kp), path, "environment");
		if ((r = get_list(c, v, kp, S_LABEL, NULL, &ru->environments)) != 0)
			return r;
		for (i = 0; i < ru->environments.n; i++)
			if (!hset_has(&c->env_words, ru->environments.v[i]))
				return perr(c, v->kind == YN_SEQ ? v->kids[i] : v, kp,
				            "no environment or environment label '%s' is defined",
				            ru->environments.v[i]);
	}
	if ((v = map_get(n, "target")) != NULL) {
		kpath(kp, sizeof(kp), path, "target");
		if ((r = get_list(c, v, kp, S_WORD, NULL, &ru->targets)) != 0)
			return r;
		for (i = 0; i < ru->targets.n; i++)
			if (policy_target_find(c->p, ru->targets.v[i]) == NULL)
				return perr(c, v->kind == YN_SEQ ? v->kids[i] : v, kp,
				            "no target named '%s' is defined", ru->targets.v[i]);
	}
	if ((v = map_get(n, "risk")) != NULL) {
		kpath(kp, sizeof(kp), path, "risk");
		if ((r = load_risk(c, v, kp, &ru->risk_mask)) != 0)
			return r;
	}
	if ((v = map_get(n, "categories")) != NULL) {
		kpath(kp, sizeof(kp), path, "categories");
		if ((r = get_list(c, v, kp, S_WORD, chk_category, &ru->categories)) != 0)
			return r;
	}
	if ((v = map_get(n, "opaque")) != NULL) {
		kpath(kp, sizeof(kp), path, "opaque");
		if ((r = get_bool(c, v, kp, &ru->opaque)) != 0)
			return r;
	}
	if ((v = map_get(n, "time")) != NULL) {
		kpath(kp, sizeof(kp), path, "time");
		if ((r = load_time(c, v, kp, ru)) != 0)
			return r;
	}
	return 0;
}

static int
load_approvals(struct ctx *c, const struct ynode *n, const char *path, struct pol_rule *ru)
{
	static const char *const keys[] = {"count", "each", "at_least_one", "distinct_organization",
	                                   NULL};
	char kp[MAX_PATH_KEY], ip[MAX_PATH_KEY + 32];
	struct ynode *v;
	unsigned long ul;
	size_t i;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	ru->has_approvals = 1;
	ru->count = 1;
	if ((v = map_get(n, "count")) != NULL) {
		kpath(kp, sizeof(kp), path, "count");
		if ((r = get_uint(c, v, kp, 1, MAX_COUNT, &ul)) != 0)
			return r;
		ru->count = (unsigned)ul;
	}
	if ((v = map_get(n, "each")) != NULL) {
		kpath(kp, sizeof(kp), path, "each");
		if ((r = load_req(c, v, kp, &ru->each)) != 0)
			return r;
		ru->has_each = 1;
	}
	if ((v = map_get(n, "at_least_one")) != NULL) {
		kpath(kp, sizeof(kp), path, "at_least_one");
		if (v->kind != YN_SEQ)
			return perr(c, v, kp, "expected a list of approver requirements, got %s",
			            kind_name(v->kind));
		if (v->nkids > MAX_SLOTS)
			return perr(c, v, kp, "at most %d entries", MAX_SLOTS);
		if (v->nkids) {
			if ((ru->slots = pol_alloc(c->a, v->nkids * sizeof(*ru->slots))) == NULL)
				return ESC_ENOMEM;
			for (i = 0; i < v->nkids; i++) {
				snprintf(ip, sizeof(ip), "%s[%zu]", kp, i);
				if ((r = load_req(c, v->kids[i], ip, &ru->slots[i])) != 0)
					return r;
			}
			ru->nslots = v->nkids;
		}
		if (ru->nslots > MAX_COUNT)
			return perr(c, v, kp, "too many entries");
	}
	if ((v = map_get(n, "distinct_organization")) != NULL) {
		kpath(kp, sizeof(kp), path, "distinct_organization");
		if ((r = get_bool(c, v, kp, &ru->distinct_organization)) != 0)
			return r;
	}
	return 0;
}

static int
load_output(struct ctx *c, const struct ynode *n, const char *path, struct pol_rule *ru)
{
	static const char *const keys[] = {"max_bytes", "redact_operator", "redact_secrets", NULL};
	char kp[MAX_PATH_KEY];
	struct ynode *v;
	unsigned long ul;
	int r;

	if ((r = check_map(c, n, path, keys)) != 0)
		return r;
	if ((v = map_get(n, "max_bytes")) != NULL) {
		kpath(kp, sizeof(kp), path, "max_bytes");
		if ((r = get_uint(c, v, kp, 1, 1UL << 40, &ul)) != 0)
			return r;
		ru->output_max_bytes = (long)ul;
	}
	if ((v = map_get(n, "redact_operator")) != NULL) {
		kpath(kp, sizeof(kp), path, "redact_operator");
		if ((r = get_bool(c, v, kp, &ru->redact_operator)) != 0)
			return r;
	}
	if ((v = map_get(n, "redact_secrets")) != NULL) {
		kpath(kp, sizeof(kp), path, "redact_secrets");
		if ((r = get_bool(c, v, kp, &ru->redact_secrets)) != 0)
			return r;
	}
	return 0;
}

static int
req_equal(const struct pol_req *a, const struct pol_req *b)
{
	size_t i;

	if (a->roles != b->roles || a->min_clearance != b->min_clearance ||
	    a->citizenship.n != b->citizenship.n || a->qualifications.n != b->qualifications.n)
		return 0;
	for (i = 0; i < a->citizenship.n; i++)
		if (!pol_strlist_has(&b->citizenship, a->citizenship.v[i]))
			return 0;
	for (i = 0; i < a->qualifications.n; i++)
		if (!pol_strlist_has(&b->qualifications, a->qualifications.v[i]))
			return 0;
	return 1;
}

static uint64_t
req_hash(const struct pol_req *q)
{
	uint64_t h = (uint64_t)q->roles * 31 + (uint64_t)q->min_clearance, a = 0, b = 0;
	size_t i;

	/* order-independent: the lists are sets */
	for (i = 0; i < q->citizenship.n; i++)
		a += fnv1a(q->citizenship.v[i]);
	for (i = 0; i < q->qualifications.n; i++)
		b += fnv1a(q->qualifications.v[i]);
	return h ^ (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL);
}

/* Gives q the id of an equal requirement of an earlier rule, or a new one. */
static int
intern_req(struct ctx *c, struct pol_req *q)
{
	size_t i, mask;

	if (2 * (c->nreq + 1) > c->req_cap) {
		size_t ncap = c->req_cap ? c->req_cap * 2 : 64, k;
		const struct pol_req **t = calloc(ncap, sizeof(*t));
		if (t == NULL)
			return ESC_ENOMEM;
		for (k = 0; k < c->req_cap; k++) {
			if (c->req_tab[k] == NULL)
				continue;
			for (i = (size_t)req_hash(c->req_tab[k]) & (ncap - 1); t[i];
			     i = (i + 1) & (ncap - 1))
				;
			t[i] = c->req_tab[k];
		}
		free(c->req_tab);
		c->req_tab = t;
		c->req_cap = ncap;
	}
	mask = c->req_cap - 1;
	for (i = (size_t)req_hash(q) & mask; c->req_tab[i]; i = (i + 1) & mask)
		if (req_equal(c->req_tab[i], q)) {
			q->id = c->req_tab[i]->id;
			return 0;
		}
	q->id = ++c->next_req_id;
	c->req_tab[i] = q;
	c->nreq++;
	return 0;
}

/* Precomputes what the decision needs per request: which environments and targets the
 * rule names (so matching is a lookup), and requirement ids. */
static int
resolve_rule(struct ctx *c, struct pol_rule *ru)
{
	const policy *p = c->p;
	size_t i, j, k;

	int r;

	/* bit masks for the common case of at most 64 environments / targets; larger
	 * policies compare names (memory stays linear in the file size) */
	if (ru->environments.n && p->nenvs <= 64) {
		for (i = 0; i < p->nenvs; i++) {
			const policy_environment *e = &p->envs[i];
			int hit = pol_strlist_has(&ru->environments, e->name);
			for (j = 0; !hit && j < e->nlabels; j++)
				hit = pol_strlist_has(&ru->environments, e->labels[j]);
			if (hit)
				ru->env_mask |= (uint64_t)1 << i;
		}
		ru->env_masked = 1;
	}
	if (ru->targets.n && p->ntargets <= 64) {
		for (i = 0; i < p->ntargets; i++)
			if (pol_strlist_has(&ru->targets, p->targets[i].name))
				ru->target_mask |= (uint64_t)1 << i;
		ru->target_masked = 1;
	}
	if (ru->has_each && (r = intern_req(c, &ru->each)) != 0)
		return r;
	for (k = 0; k < ru->nslots; k++) {
		if ((r = intern_req(c, &ru->slots[k])) != 0)
			return r;
		/* a slot equal to an earlier slot of the same rule gets its own id: two equal
		 * entries in one list mean two people */
		for (j = 0; j < k; j++)
			if (ru->slots[j].id == ru->slots[k].id)
				ru->slots[k].id = ++c->next_req_id;
	}
	return 0;
}

/* Runs a section loader with a fresh set of the names it has seen (for duplicate
 * detection), freed on every exit path. */
static int
load_section(struct ctx *c, const struct ynode *sec,
             int (*load)(struct ctx *, const struct ynode *, struct hset *))
{
	struct hset names = {NULL, NULL, 0, 0};
	int r = load(c, sec, &names);

	hset_free(&names);
	return r;
}

static int
load_rules(struct ctx *c, const struct ynode *sec, struct hset *names)
{
	static const char *const keys[] = {
	    "name",         "description",       "match",  "deny", "approvals",
	    "auto_approve", "approval_lifetime", "output", NULL};
	policy *p = c->p;
	size_t i, cnt;
	char path[MAX_PATH_KEY], kp[MAX_PATH_KEY];
	unsigned first;
	int r;

	if ((r = section_items(c, sec, "rules", &cnt)) != 0 || cnt == 0)
		return r;
	if ((p->rules = pol_alloc(c->a, cnt * sizeof(*p->rules))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < cnt; i++) {
		const struct ynode *it = sec->kids[i];
		struct ynode *v;
		struct pol_rule *ru = &p->rules[i];
		int effects = 0;

		ru->op_min_clearance = ru->op_max_clearance = -1;
		ru->opaque = -1;
		ru->minute_from = ru->minute_to = -1;
		ru->output_max_bytes = -1;
		ru->redact_operator = ru->redact_secrets = -1;
		item_path(path, sizeof(path), "rules", it, i);
		if ((r = check_map(c, it, path, keys)) != 0 ||
		    (r = require(c, it, path, "name", &v)) != 0)
			return r;
		kpath(kp, sizeof(kp), path, "name");
		if ((r = get_str(c, v, kp, S_WORD, &ru->name)) != 0)
			return r;
		ru->line = it->line;
		if ((r = hset_add(names, ru->name, ru->line, &first)) == 1)
			return perr(c, v, kp, "duplicate rule name '%s' (first defined at line %u)",
			            ru->name, first);
		if (r < 0)
			return r;
		if ((v = map_get(it, "description")) != NULL) {
			const char *d;
			kpath(kp, sizeof(kp), path, "description");
			if ((r = get_str(c, v, kp, S_TEXT, &d)) != 0)
				return r;
		}
		if ((v = map_get(it, "match")) != NULL && !is_null(v)) {
			kpath(kp, sizeof(kp), path, "match");
			if ((r = load_match(c, v, kp, ru)) != 0)
				return r;
		}
		if ((v = map_get(it, "deny")) != NULL) {
			kpath(kp, sizeof(kp), path, "deny");
			if ((r = get_str(c, v, kp, S_TEXT, &ru->deny)) != 0)
				return r;
			effects++;
		}
		if ((v = map_get(it, "approvals")) != NULL) {
			kpath(kp, sizeof(kp), path, "approvals");
			if ((r = load_approvals(c, v, kp, ru)) != 0)
				return r;
			effects++;
		}
		if ((v = map_get(it, "auto_approve")) != NULL) {
			kpath(kp, sizeof(kp), path, "auto_approve");
			if ((r = get_bool(c, v, kp, &ru->auto_approve)) != 0)
				return r;
			effects += ru->auto_approve;
		}
		if (effects > 1)
			return perr(c, it, path,
			            "a rule has at most one of deny, approvals and "
			            "auto_approve: true");
		if ((v = map_get(it, "approval_lifetime")) != NULL) {
			kpath(kp, sizeof(kp), path, "approval_lifetime");
			if (ru->deny)
				return perr(c, v, kp, "a deny rule has no approvals to expire");
			if ((r = get_duration(c, v, kp, MAX_LIFETIME, &ru->lifetime)) != 0)
				return r;
			effects++;
		}
		if ((v = map_get(it, "output")) != NULL) {
			kpath(kp, sizeof(kp), path, "output");
			if (ru->deny)
				return perr(c, v, kp, "a deny rule runs nothing, so has no output");
			if ((r = load_output(c, v, kp, ru)) != 0)
				return r;
			effects++;
		}
		if (effects == 0)
			return perr(c, it, path,
			            "the rule has no effect (give deny, approvals, "
			            "auto_approve, approval_lifetime or output)");
		p->nrules = i + 1;
		if ((r = resolve_rule(c, ru)) != 0)
			return r;
	}
	return 0;
}

int
policy_load(policy **out, const char *bytes, size_t len, const char *filename, buf *err)
{
	static const char *const keys[] = {"version", "identities", "environments",
	                                   "targets", "rules",      "egress", "sessions", NULL};
	struct pol_arena a = {NULL};
	struct ctx c;
	struct ynode *root = NULL, *v;
	policy *p = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	unsigned long ver;
	int r;

	if (out == NULL || (bytes == NULL && len > 0))
		return ESC_EINVAL;
	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.file = filename ? filename : "(policy)";
	c.err = err;
	if (len > POLICY_MAX_BYTES) {
		if (err)
			buf_printf(err,
			           "%s:1:1: (document): the policy is %zu bytes; the limit is "
			           "%zu bytes (4 MiB)",
			           c.file, len, POLICY_MAX_BYTES);
		return ESC_ETOOBIG;
	}
	if ((p = pol_alloc(&a, sizeof(*p))) == NULL)
		return ESC_ENOMEM;
	p->arena = a;
	c.p = p;
	c.a = &p->arena;
	if ((p->filename = pol_strndup(c.a, c.file, strlen(c.file))) == NULL) {
		r = ESC_ENOMEM;
		goto out;
	}
	if (EVP_Digest(bytes ? bytes : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		r = ESC_EINTERNAL;
		goto out;
	}
	for (i = 0; i < 32; i++)
		snprintf(p->version + 2 * i, 3, "%02x", md[i]);
	if ((r = build_tree(&c, bytes ? bytes : "", len, &root)) != 0)
		goto out;
	if (root == NULL || is_null(root)) {
		r = perr_at(&c, 1, 1, "(document)", "the policy is empty");
		goto out;
	}
	if ((r = check_map(&c, root, "", keys)) != 0)
		goto out;
	if ((v = map_get(root, "version")) != NULL &&
	    ((r = get_uint(&c, v, "version", 1, 1, &ver)) != 0))
		goto out;
	if ((v = map_get(root, "egress")) != NULL &&
	    (r = load_egress(&c, v, "egress", &p->egress_daily)) != 0)
		goto out;
	if ((v = map_get(root, "sessions")) != NULL) {
		if ((r = load_sessions(&c, v, "sessions", &p->sessions)) != 0)
			goto out;
		p->has_sessions = 1;
	}
	/* fixed order so references resolve regardless of the order in the file */
	if ((r = load_section(&c, map_get(root, "environments"), load_environments)) != 0 ||
	    (r = load_section(&c, map_get(root, "identities"), load_identities)) != 0 ||
	    (r = load_section(&c, map_get(root, "targets"), load_targets)) != 0 ||
	    (r = check_hosts(&c, map_get(root, "identities"))) != 0 ||
	    (r = load_section(&c, map_get(root, "rules"), load_rules)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	if (r == ESC_ENOMEM && err && err->len == 0)
		buf_printf(err, "%s: out of memory", c.file);
	hset_free(&c.env_words);
	free(c.req_tab);
	ynode_free(root);
	policy_free(p);
	return r;
}
