/* result.c — lockbox results: accumulating risk, categories, findings, commands and
 * explanation sentences during analysis, the final score, and the two renderings: the
 * contract's one-line JSON (hand-written so invalid UTF-8 can never escape into it, and
 * so no per-record allocation storm happens) and the terminal view of `escort explain`. */
#include "lockbox/analyze_int.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic(lb_arena *) lbx_spare_arena;

static const char *const risk_names[] = { "none", "low", "medium", "high", "critical" };

const char *
lockbox_risk_name(lockbox_risk r)
{
	return (unsigned)r <= LOCKBOX_RISK_CRITICAL ? risk_names[r] : "unknown";
}

/* lbx_printf for formats whose only conversions are %s (nearly all of them): plain
 * copies instead of vsnprintf, which costs more than the rest of a sentence. Returns
 * NULL with *done = 0 when the format needs the general path. */
#define LBX_FAST_ARGS 12
static char *
fast_printf(lb_arena *a, const char *fmt, va_list ap, int *done)
{
	const char *arg[LBX_FAST_ARGS];
	size_t alen[LBX_FAST_ARGS], total = 0, na = 0;
	*done = 0;
	/* literal runs are found with strchr and copied with memcpy */
	for (const char *p = strchr(fmt, '%'); p; p = strchr(p + 2, '%')) {
		if (p[1] != 's' || na == LBX_FAST_ARGS)
			return NULL;
		na++;
	}
	total = strlen(fmt) - 2 * na;
	*done = 1;
	for (size_t i = 0; i < na; i++) {
		arg[i] = va_arg(ap, const char *);
		if (arg[i] == NULL)
			arg[i] = "(null)";
		alen[i] = strlen(arg[i]);
		total += alen[i];
	}
	char *out = lb_arena_alloc(a, total + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	const char *p = fmt;
	for (size_t k = 0; k < na; k++) {
		const char *q = strchr(p, '%');
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		memcpy(out + o, arg[k], alen[k]);
		o += alen[k];
		p = q + 2;
	}
	size_t rest = strlen(p);
	memcpy(out + o, p, rest);
	o += rest;
	out[o] = 0;
	return out;
}

char *
lbx_printf(lb_arena *a, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int done;
	va_start(ap, fmt);
	char *fast = fast_printf(a, fmt, ap, &done);
	va_end(ap);
	if (done)
		return fast;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = lb_arena_alloc(a, (size_t)n + 1);
	if (p == NULL)
		return NULL;
	if ((size_t)n < sizeof small) {
		memcpy(p, small, (size_t)n + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	return p;
}

void
lbx_add_attack(lockbox_result *r, const char *id)
{
	for (size_t i = 0; i < r->nattack; i++)
		if (strcmp(r->attack[i], id) == 0)
			return;
	if (r->nattack < LBX_MAX_ATTACK)
		r->attack[r->nattack++] = id;
}

void
lbx_add_risk(lockbox_result *r, int risk, kb_cats cats, const kb_strs *attack)
{
	if (risk > LOCKBOX_RISK_CRITICAL)
		risk = LOCKBOX_RISK_CRITICAL;
	if (risk >= 0) {
		if (risk > r->risk)
			r->risk = risk;
		r->nrisk_at[risk]++;
	}
	r->cats |= cats;
	if (attack)
		for (uint16_t i = 0; i < attack->n; i++)
			lbx_add_attack(r, attack->v[i]);
}

lbx_finding *
lbx_add_finding(lockbox_result *r, const char *id, int sev, int cat, lb_span span,
    const char *msg)
{
	/* the same finding at the same place once; past a few hundred findings the rest
	 * only raise the risk (a record of thousands of commands stays linear) */
	if (r->nfindings >= 256) {
		lbx_add_risk(r, sev, cat >= 0 ? KB_CAT(cat) : 0, NULL);
		if (cat == KB_C_OPAQUE)
			r->opaque = 1;
		return NULL;
	}
	/* also the same finding with the same message where one span holds the other: a
	 * nested or recovered text (a decoded payload, the record with its disguises undone)
	 * says again what its part already said */
	for (lbx_finding *f = r->findings; f; f = f->next)
		if (!strcmp(f->id, id) && f->cat == cat && ((f->span.start == span.start &&
		    f->span.end == span.end) || (((f->span.start <= span.start && span.end <=
		    f->span.end) || (span.start <= f->span.start && f->span.end <= span.end)) &&
		    !strcmp(f->message, msg ? msg : "")))) {
			if (sev > f->sev)
				f->sev = sev;
			lbx_add_risk(r, sev, cat >= 0 ? KB_CAT(cat) : 0, NULL);
			return f;
		}
	lbx_finding *f = lb_arena_alloc(r->a, sizeof *f);
	if (f == NULL) {
		r->oom = 1;
		return NULL;
	}
	f->id = id;
	f->sev = sev;
	f->cat = cat;
	f->message = msg ? msg : "";
	if (span.end > r->len)
		span.end = (uint32_t)r->len;
	if (span.start > span.end)
		span.start = span.end;
	f->span = span;
	if (r->findings_tail)
		r->findings_tail->next = f;
	else
		r->findings = f;
	r->findings_tail = f;
	r->nfindings++;
	lbx_add_risk(r, sev, cat >= 0 ? KB_CAT(cat) : 0, NULL);
	if (cat == KB_C_OPAQUE)
		r->opaque = 1;
	return f;
}

lbx_deob *
lbx_add_deob(lockbox_result *r, const char *text, size_t len, const char *via, lb_span span)
{
	if (r->ndeob >= 64)
		return NULL;
	lbx_deob *d = lb_arena_alloc(r->a, sizeof *d);
	if (d == NULL) {
		r->oom = 1;
		return NULL;
	}
	d->text = text;
	d->len = len;
	d->via = via ? via : "";
	if (span.end > r->len)
		span.end = (uint32_t)r->len;
	if (span.start > span.end)
		span.start = span.end;
	d->span = span;
	d->f0 = d->f1 = r->nfindings;
	if (r->deob_tail)
		r->deob_tail->next = d;
	else
		r->deob = d;
	r->deob_tail = d;
	r->ndeob++;
	return d;
}

/* Highest severity among a recovered text's findings. */
static int
deob_risk(const lockbox_result *r, const lbx_deob *d)
{
	int risk = LOCKBOX_RISK_NONE;
	size_t i = 0;
	for (const lbx_finding *f = r->findings; f && i < d->f1; f = f->next, i++)
		if (i >= d->f0 && f->sev > risk)
			risk = f->sev;
	return risk;
}

void
lbx_add_sentence(lockbox_result *r, const char *text, int prio)
{
	if (text == NULL || *text == 0)
		return;
	if (r->nsentences >= 256) {
		r->nsentences++; /* counted for "(N more steps)" only */
		return;
	}
	for (lbx_sentence *s = r->sentences; s; s = s->next)
		if (strcmp(s->text, text) == 0) {
			if (prio > s->prio)
				s->prio = prio;
			return;
		}
	lbx_sentence *s = lb_arena_alloc(r->a, sizeof *s);
	if (s == NULL) {
		r->oom = 1;
		return;
	}
	s->text = text;
	s->prio = prio;
	s->order = (uint32_t)r->nsentences++;
	if (r->sentences_tail)
		r->sentences_tail->next = s;
	else
		r->sentences = s;
	r->sentences_tail = s;
}

lbx_cmd *
lbx_add_cmd(lockbox_result *r, const char *program, lb_span span)
{
	lbx_cmd *c = lb_arena_alloc(r->a, sizeof *c);
	if (c == NULL) {
		r->oom = 1;
		return NULL;
	}
	c->program = program;
	if (span.end > r->len)
		span.end = (uint32_t)r->len;
	if (span.start > span.end)
		span.start = span.end;
	c->span = span;
	if (r->cmds_tail)
		r->cmds_tail->next = c;
	else
		r->cmds = c;
	r->cmds_tail = c;
	r->ncmds++;
	return c;
}

void
lbx_add_effect(lockbox_result *r, lbx_cmd *c, const char *type, const char *target)
{
	if (c == NULL)
		return;
	for (lbx_effect *e = c->fx; e; e = e->next)
		if (!strcmp(e->type, type) && !strcmp(e->target, target ? target : ""))
			return;
	if (c->nfx >= 64)
		return;
	lbx_effect *e = lb_arena_alloc(r->a, sizeof *e);
	if (e == NULL) {
		r->oom = 1;
		return;
	}
	e->type = type;
	e->target = target ? target : "";
	if (c->fx_tail)
		c->fx_tail->next = e;
	else
		c->fx = e;
	c->fx_tail = e;
	c->nfx++;
}

/* Score bands: none 0-9, low 10-39, medium 40-69, high 70-89, critical 90-100. Within a
 * band, more contributions at the top level and more categories score higher. */
void
lbx_finalize(lockbox_result *r)
{
	static const int base[] = { 0, 10, 40, 70, 90 };
	static const int width[] = { 10, 30, 30, 20, 11 };
	/* data leaving the machine is what an escort must never miss */
	if (r->cats & KB_CAT(KB_C_NETWORK_UPLOAD)) {
		int said = 0;
		for (const lbx_finding *f = r->findings; f && !said; f = f->next)
			said = f->cat == KB_C_NETWORK_UPLOAD;
		if (!said) {
			lb_span whole = { 0, (uint32_t)r->len };
			lbx_add_finding(r, "network-upload", LOCKBOX_RISK_HIGH, KB_C_NETWORK_UPLOAD, whole,
			    "Sends files or data from this machine to another one");
		}
		if (r->risk < LOCKBOX_RISK_HIGH) {
			r->risk = LOCKBOX_RISK_HIGH;
			r->nrisk_at[LOCKBOX_RISK_HIGH]++;
		}
	}
	if (r->ncmds > LBX_MAX_SHOWN_CMDS) {
		/* nobody can review thousands of commands: the list is cut (the analysis
		 * covered all of them) and the record is never auto-approved */
		lb_span whole = { 0, (uint32_t)r->len };
		lbx_add_finding(r, "many-commands", LOCKBOX_RISK_MEDIUM, KB_C_OPAQUE, whole,
		    lbx_printf(r->a, "The record runs %zu commands; only the first %d are listed",
		        r->ncmds, LBX_MAX_SHOWN_CMDS));
	}
	int risk = r->risk;
	if (risk < 0)
		risk = 0;
	int ncat = __builtin_popcount(r->cats);
	int extra = 0;
	if (risk > 0) {
		uint32_t at = r->nrisk_at[risk];
		extra = (int)(at > 0 ? at - 1 : 0) * 4 + ncat * 2;
		if (risk == LOCKBOX_RISK_CRITICAL)
			extra = (int)(at > 0 ? at - 1 : 0) * 2 + ncat;
	} else {
		extra = ncat;
	}
	if (extra > width[risk] - 1)
		extra = width[risk] - 1;
	r->risk = risk;
	r->score = base[risk] + extra;
	if (r->opaque)
		r->cats |= KB_CAT(KB_C_OPAQUE);
}

lockbox_risk
lockbox_result_risk(const lockbox_result *r)
{
	return r ? (lockbox_risk)r->risk : LOCKBOX_RISK_NONE;
}

int
lockbox_result_score(const lockbox_result *r)
{
	return r ? r->score : 0;
}

int
lockbox_result_opaque(const lockbox_result *r)
{
	return r ? r->opaque : 0;
}

const char *
lockbox_result_category(const lockbox_result *r, size_t i)
{
	/* the set bits, lowest first, as lockbox_result_json writes them */
	for (kb_cats m = r ? r->cats : 0; m; m &= m - 1)
		if (i-- == 0)
			return kb_cat_name((kb_cat)__builtin_ctz(m));
	return NULL;
}

/* ---- explanation ---------------------------------------------------------------------- */

#define LBX_MAX_SENTENCES 6

/* Writes the explanation: sentences by priority, then in order, at most a few. */
static int
put_explanation(const lockbox_result *r, buf *out, int (*put)(buf *, const char *, size_t))
{
	const lbx_sentence *pick[LBX_MAX_SENTENCES];
	size_t npick = 0;
	/* selection: repeatedly take the highest priority, earliest not yet taken */
	uint8_t taken[256] = { 0 };
	while (npick < LBX_MAX_SENTENCES) {
		const lbx_sentence *best = NULL;
		size_t idx = 0, bi = 0;
		for (const lbx_sentence *s = r->sentences; s && idx < 256; s = s->next, idx++) {
			if (taken[idx])
				continue;
			if (best == NULL || s->prio > best->prio) {
				best = s;
				bi = idx;
			}
		}
		if (best == NULL)
			break;
		taken[bi] = 1;
		pick[npick++] = best;
	}
	/* show the chosen ones in input order, high-priority pattern sentences first */
	for (size_t i = 1; i < npick; i++)
		for (size_t j = i; j > 0; j--) {
			const lbx_sentence *a = pick[j - 1], *b = pick[j];
			int a_pat = a->prio >= 50, b_pat = b->prio >= 50;
			if (b_pat > a_pat || (b_pat == a_pat && b->order < a->order)) {
				pick[j - 1] = b;
				pick[j] = a;
			}
		}
	int rc = 0;
	for (size_t i = 0; i < npick && rc == 0; i++) {
		if (i)
			rc = buf_putc(out, ' ');
		if (rc == 0)
			rc = put(out, pick[i]->text, strlen(pick[i]->text));
	}
	if (rc == 0 && r->nsentences > npick)
		rc = buf_printf(out, " (%zu more step%s.)", r->nsentences - npick,
		    r->nsentences - npick == 1 ? "" : "s");
	if (rc == 0 && npick == 0)
		rc = put(out, "Does nothing that lockbox can see.", 34);
	return rc;
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* The body of a JSON string of arbitrary bytes (no quotes): invalid UTF-8 bytes become
 * U+FFFD (one per byte), control characters \u00XX, so the output is always valid UTF-8
 * JSON. Written straight into the buffer in bounded chunks (no per-byte calls): this
 * runs over every byte of every record. */
/* Appends without a call when the buffer has room (the JSON writer makes many small
 * appends per record); otherwise buf_put grows it. Same limits as buf_put. */
static inline __attribute__((always_inline)) int
jput(buf *b, const char *s, size_t n)
{
	if (b->data && b->cap - b->len > n) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = 0;
		return 0;
	}
	return buf_put(b, s, n);
}

static inline int
jputc(buf *b, char c)
{
	return jput(b, &c, 1);
}

static inline int
jputs(buf *b, const char *s)
{
	return jput(b, s, strlen(s));
}

#define JLIT(b, lit) jput((b), (lit), sizeof(lit) - 1)

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define HASZERO(v) (((v) - ONES) & ~(v) & HIGHS)

/* All 8 bytes printable ASCII other than '"' and '\\' (nothing to escape)? */
static inline int
plain8(uint64_t x)
{
	if (x & HIGHS)
		return 0;
	if (((x - 0x20 * ONES) & ~x & HIGHS) != 0) /* a byte below 0x20 */
		return 0;
	return !HASZERO(x ^ (0x7F * ONES)) && !HASZERO(x ^ (0x22 * ONES)) &&
	    !HASZERO(x ^ (0x5C * ONES));
}

static int
json_body(buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t end = n - i > 4096 ? i + 4096 : n;
		/* each input byte gives at most 6 output bytes; a sequence started before
		 * `end` may run 3 bytes past it */
		size_t need = (end - i) * 6 + 8;
		if (b->data == NULL || b->cap - b->len <= need) {
			int rc = buf_reserve(b, need);
			if (rc)
				return rc;
		}
		unsigned char *d = b->data + b->len;
		while (i < end) {
			/* 8 plain printable ASCII bytes at a time (most of the text) */
			while (end - i >= 8) {
				uint64_t x;
				memcpy(&x, u + i, 8);
				if (!plain8(x))
					break;
				memcpy(d, &x, 8);
				d += 8;
				i += 8;
			}
			if (i >= end)
				break;
			unsigned char c = u[i];
			if (c >= 0x20 && c < 0x7F) {
				if (c == '"' || c == '\\')
					*d++ = '\\';
				*d++ = c;
				i++;
			} else if (c == '\n') {
				*d++ = '\\';
				*d++ = 'n';
				i++;
			} else if (c == '\t') {
				*d++ = '\\';
				*d++ = 't';
				i++;
			} else if (c == '\r') {
				*d++ = '\\';
				*d++ = 'r';
				i++;
			} else if (c < 0x20 || c == 0x7F) {
				memcpy(d, "\\u00", 4);
				d[4] = (unsigned char)hex[c >> 4];
				d[5] = (unsigned char)hex[c & 15];
				d += 6;
				i++;
			} else {
				uint32_t cp;
				size_t len = lbx_utf8_len(u + i, n - i, &cp);
				if (len == 0) {
					memcpy(d, "\xEF\xBF\xBD", 3);
					d += 3;
					i++;
				} else if (cp == 0x2028 || cp == 0x2029 || lbx_cp_deceptive(cp)) {
					/* escaped so a JSON viewer cannot be fooled either */
					d[0] = '\\';
					d[1] = 'u';
					d[2] = (unsigned char)hex[(cp >> 12) & 15];
					d[3] = (unsigned char)hex[(cp >> 8) & 15];
					d[4] = (unsigned char)hex[(cp >> 4) & 15];
					d[5] = (unsigned char)hex[cp & 15];
					d += 6;
					i += len;
				} else {
					memcpy(d, u + i, len);
					d += len;
					i += len;
				}
			}
		}
		b->len = (size_t)(d - b->data);
		b->data[b->len] = 0;
	}
	return 0;
}

/* Bytes a JSON string holds as they are: printable ASCII but '"' and '\\'. */
static const uint8_t json_plain[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
	R16(0), R16(0),                                /* 0x00-0x1f: controls */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
	R16(1),                                        /* 0x30-0x3f */
	R16(1),                                        /* 0x40-0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5f: '\\' */
	R16(1),                                        /* 0x60-0x6f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70-0x7f: DEL */
	R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), /* non-ASCII */
#undef R16
#undef R4
};

static int
json_str(buf *b, const char *s, size_t n)
{
	/* short plain strings (program names, most arguments): one scan, one copy */
	if (n <= 64 && b->data && b->cap - b->len > n + 2) {
		const unsigned char *u = (const unsigned char *)s;
		size_t i = 0;
		while (i < n && json_plain[u[i]])
			i++;
		if (i == n) {
			unsigned char *d = b->data + b->len;
			*d++ = '"';
			memcpy(d, s, n);
			d += n;
			*d++ = '"';
			*d = 0;
			b->len += n + 2;
			return 0;
		}
	}
	int rc = jputc(b, '"');
	if (rc == 0)
		rc = json_body(b, s, n);
	if (rc == 0)
		rc = jputc(b, '"');
	return rc;
}

static int
json_cstr(buf *b, const char *s)
{
	return json_str(b, s ? s : "", s ? strlen(s) : 0);
}

static int
json_put_expl(buf *b, const char *s, size_t n)
{
	/* explanation text is assembled from pieces; escape as we go (no quotes) */
	return json_body(b, s, n);
}

/* Decimal without printf: the JSON writer runs for every record. */
static int
put_uint(buf *b, unsigned long v)
{
	char t[24];
	size_t i = sizeof t;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return jput(b, t + i, sizeof t - i);
}

static int
put_span(buf *b, lb_span sp)
{
	int rc = jput(b, ",\"span\":[", 9);
	if (rc == 0)
		rc = put_uint(b, sp.start);
	if (rc == 0)
		rc = jputc(b, ',');
	if (rc == 0)
		rc = put_uint(b, sp.end);
	if (rc == 0)
		rc = jput(b, "]}", 2);
	return rc;
}

int
lockbox_result_json(const lockbox_result *r, buf *b)
{
	int rc = 0;
#define P(x) do { if ((rc = (x)) != 0) goto out; } while (0)
	P(JLIT(b, "{\"input\":"));
	P(json_str(b, r->input, r->len));
	P(JLIT(b, ",\"shell\":"));
	P(json_cstr(b, r->shell));
	P(JLIT(b, ",\"risk\":\""));
	P(jputs(b, lockbox_risk_name((lockbox_risk)r->risk)));
	P(JLIT(b, "\",\"score\":"));
	if (r->score < 0)
		P(jputc(b, '-'));
	P(put_uint(b, (unsigned long)(r->score < 0 ? -(long)r->score : r->score)));
	P(JLIT(b, ",\"categories\":["));
	int first = 1;
	for (kb_cats m = r->cats; m; m &= m - 1) {
		/* the set bits only, lowest first (the vocabulary's order) */
		int c = __builtin_ctz(m);
		if (!first)
			P(jputc(b, ','));
		P(jputc(b, '"'));
		P(jputs(b, kb_cat_name((kb_cat)c)));
		P(jputc(b, '"'));
		first = 0;
	}
	P(JLIT(b, "],\"attack\":["));
	for (size_t i = 0; i < r->nattack; i++) {
		if (i)
			P(jputc(b, ','));
		P(json_cstr(b, r->attack[i]));
	}
	P(jputs(b, r->opaque ? "],\"opaque\":true,\"explanation\":\"" :
	    "],\"opaque\":false,\"explanation\":\""));
	P(put_explanation(r, b, json_put_expl));
	P(JLIT(b, "\",\"commands\":["));
	size_t ncmd = 0;
	for (const lbx_cmd *c = r->cmds; c && ncmd < LBX_MAX_SHOWN_CMDS; c = c->next, ncmd++) {
		if (c != r->cmds)
			P(jputc(b, ','));
		P(JLIT(b, "{\"program\":"));
		P(json_cstr(b, c->program));
		P(JLIT(b, ",\"argv\":["));
		for (size_t i = 0; i < c->argc; i++) {
			if (i)
				P(jputc(b, ','));
			P(json_cstr(b, c->argv[i]));
		}
		P(JLIT(b, "],\"effects\":["));
		for (const lbx_effect *e = c->fx; e; e = e->next) {
			if (e != c->fx)
				P(jputc(b, ','));
			P(JLIT(b, "{\"type\":"));
			P(json_cstr(b, e->type));
			P(JLIT(b, ",\"target\":"));
			P(json_cstr(b, e->target));
			P(jputc(b, '}'));
		}
		P(jputc(b, ']'));
		P(put_span(b, c->span));
	}
	P(JLIT(b, "],\"findings\":["));
	for (const lbx_finding *f = r->findings; f; f = f->next) {
		if (f != r->findings)
			P(jputc(b, ','));
		P(JLIT(b, "{\"id\":"));
		P(json_cstr(b, f->id));
		P(JLIT(b, ",\"severity\":\""));
		P(jputs(b, lockbox_risk_name((lockbox_risk)f->sev)));
		P(JLIT(b, "\",\"category\":\""));
		P(jputs(b, f->cat >= 0 ? kb_cat_name((kb_cat)f->cat) : "opaque"));
		P(JLIT(b, "\",\"message\":"));
		P(json_cstr(b, f->message));
		P(put_span(b, f->span));
	}
	P(jputc(b, ']'));
	/* only when lockbox recovered something: records without disguises keep their shape */
	if (r->deob) {
		P(JLIT(b, ",\"deobfuscated\":["));
		for (const lbx_deob *d = r->deob; d; d = d->next) {
			if (d != r->deob)
				P(jputc(b, ','));
			P(JLIT(b, "{\"text\":"));
			P(json_str(b, d->text, d->len));
			P(JLIT(b, ",\"via\":["));
			const char *v = d->via;
			for (int k = 0; *v; k++) {
				const char *e = strstr(v, " | ");
				size_t l = e ? (size_t)(e - v) : strlen(v);
				if (k)
					P(jputc(b, ','));
				P(json_str(b, v, l));
				v += l + (e ? 3 : 0);
			}
			P(JLIT(b, "],\"risk\":\""));
			P(jputs(b, lockbox_risk_name((lockbox_risk)deob_risk(r, d))));
			P(JLIT(b, "\",\"findings\":["));
			size_t i = 0;
			int fst = 1;
			for (const lbx_finding *f = r->findings; f && i < d->f1; f = f->next, i++) {
				if (i < d->f0)
					continue;
				if (!fst)
					P(jputc(b, ','));
				P(json_cstr(b, f->id));
				fst = 0;
			}
			P(jputc(b, ']'));
			P(put_span(b, d->span));
		}
		P(jputc(b, ']'));
	}
	P(jputc(b, '}'));
#undef P
out:
	return rc;
}

/* ---- terminal rendering --------------------------------------------------------------- */

/* Appends the display form of s[i..] (one character) and returns bytes consumed; *w gets
 * the number of columns it takes. Control, deceptive and invalid bytes are escaped. */
static size_t
disp_char(buf *b, const unsigned char *s, size_t n, size_t i, int *w, int color)
{
	unsigned char c = s[i];
	char tmp[32];
	int len;
	if (c >= 0x20 && c < 0x7F) {
		*w = 1;
		if (b)
			buf_putc(b, c);
		return 1;
	}
	if (c == '\t') {
		len = snprintf(tmp, sizeof tmp, "\\t");
	} else if (c == '\r') {
		len = snprintf(tmp, sizeof tmp, "\\r");
	} else if (c < 0x20 || c == 0x7F) {
		len = snprintf(tmp, sizeof tmp, "\\x%02x", c);
	} else {
		uint32_t cp;
		size_t ul = lbx_utf8_len(s + i, n - i, &cp);
		if (ul == 0) {
			len = snprintf(tmp, sizeof tmp, "\\x%02x", c);
		} else if (lbx_cp_deceptive(cp)) {
			len = snprintf(tmp, sizeof tmp, "\\u{%04X}", (unsigned)cp);
			if (b) {
				if (color)
					buf_puts(b, "\033[7m");
				buf_put(b, tmp, (size_t)len);
				if (color)
					buf_puts(b, "\033[27m");
			}
			*w = len;
			return ul;
		} else {
			*w = 1;
			if (b)
				buf_put(b, s + i, ul);
			return ul;
		}
	}
	if (b) {
		if (color)
			buf_puts(b, "\033[7m");
		buf_put(b, tmp, (size_t)len);
		if (color)
			buf_puts(b, "\033[27m");
	}
	*w = len;
	return 1;
}

static int
put_escaped(buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		int w;
		if (u[i] == '\n') {
			buf_puts(b, "\\n");
			i++;
			continue;
		}
		i += disp_char(b, u, n, i, &w, 0);
	}
	return 0;
}

static const char *
sev_color(int sev)
{
	switch (sev) {
	case LOCKBOX_RISK_CRITICAL:
		return "\033[1;37;41m";
	case LOCKBOX_RISK_HIGH:
		return "\033[1;31m";
	case LOCKBOX_RISK_MEDIUM:
		return "\033[33m";
	case LOCKBOX_RISK_LOW:
		return "\033[36m";
	default:
		return "\033[32m";
	}
}

int
lockbox_result_render(const lockbox_result *r, buf *b, int color)
{
	const unsigned char *u = (const unsigned char *)r->input;
	size_t n = r->len;
	const char *rst = color ? "\033[0m" : "";
	buf_printf(b, "risk: %s%s%s (score %d)", color ? sev_color(r->risk) : "",
	    lockbox_risk_name((lockbox_risk)r->risk), rst, r->score);
	if (r->opaque)
		buf_printf(b, "  %sOPAQUE: what runs cannot be known in advance%s",
		    color ? "\033[1;35m" : "", rst);
	buf_putc(b, '\n');
	if (r->cats) {
		buf_puts(b, "categories:");
		for (int c = 0; c < KB_C_COUNT; c++)
			if (r->cats & KB_CAT(c))
				buf_printf(b, " %s", kb_cat_name((kb_cat)c));
		buf_putc(b, '\n');
	}
	if (r->nattack) {
		buf_puts(b, "ATT&CK:");
		for (size_t i = 0; i < r->nattack; i++)
			buf_printf(b, " %s", r->attack[i]);
		buf_putc(b, '\n');
	}
	buf_puts(b, "\ncommand:\n");
	/* each input line, escaped, with findings' spans underlined beneath */
	size_t ls = 0;
	int lines = 0;
	while (ls <= n && lines < 200) {
		size_t le = ls;
		while (le < n && u[le] != '\n')
			le++;
		buf_puts(b, "  ");
		int col = 0, maxcol = 0;
		/* first pass: text, and remember each byte's column */
		size_t cols_cap = le - ls + 1;
		int *cols = lb_arena_alloc(r->a, cols_cap * sizeof *cols);
		int *wids = lb_arena_alloc(r->a, cols_cap * sizeof *wids);
		for (size_t i = ls; i < le;) {
			int w = 1;
			size_t used = disp_char(b, u, le, i, &w, color);
			for (size_t k = 0; k < used && cols; k++) {
				cols[i - ls + k] = col;
				wids[i - ls + k] = k == 0 ? w : 0;
			}
			col += w;
			i += used;
		}
		maxcol = col;
		if (cols)
			cols[le - ls] = col;
		buf_putc(b, '\n');
		/* underline: one marker line per line holding any finding */
		if (cols) {
			char *mark = lb_arena_alloc(r->a, (size_t)maxcol + 2);
			int any = 0;
			if (mark) {
				memset(mark, ' ', (size_t)maxcol + 1);
				for (const lbx_finding *f = r->findings; f; f = f->next) {
					size_t fs = f->span.start, fe = f->span.end;
					if (fe <= ls && !(fs == fe && fs == ls))
						continue;
					if (fs > le)
						continue;
					if (fs < ls)
						fs = ls;
					if (fe > le)
						fe = le;
					int c0 = cols[fs - ls];
					int c1 = fe > fs ? cols[fe - ls] : c0 + 1;
					if (c1 > maxcol + 1)
						c1 = maxcol + 1;
					for (int c = c0; c < c1; c++)
						if (mark[c] == ' ')
							mark[c] = c == c0 ? '^' : '~';
					mark[c0] = '^';
					any = 1;
				}
				if (any) {
					int last = maxcol;
					while (last > 0 && mark[last] == ' ')
						last--;
					buf_puts(b, "  ");
					if (color)
						buf_puts(b, "\033[1;31m");
					buf_put(b, mark, (size_t)last + 1);
					buf_puts(b, rst);
					buf_putc(b, '\n');
				}
			}
		}
		lines++;
		if (le >= n)
			break;
		ls = le + 1;
	}
	buf_puts(b, "\nexplanation:\n  ");
	put_explanation(r, b, put_escaped);
	buf_putc(b, '\n');
	if (r->findings) {
		buf_puts(b, "\nfindings:\n");
		for (const lbx_finding *f = r->findings; f; f = f->next) {
			buf_printf(b, "  %s%-8s%s %-20s ", color ? sev_color(f->sev) : "",
			    lockbox_risk_name((lockbox_risk)f->sev), rst,
			    f->cat >= 0 ? kb_cat_name((kb_cat)f->cat) : "");
			put_escaped(b, f->message, strlen(f->message));
			buf_printf(b, " [%s @%u-%u]\n", f->id, f->span.start, f->span.end);
		}
	}
	if (r->deob) {
		buf_puts(b, "\nwhat actually runs (disguise undone by lockbox):\n");
		for (const lbx_deob *d = r->deob; d; d = d->next) {
			buf_printf(b, "  %s%s%s via ", color ? sev_color(deob_risk(r, d)) : "",
			    lockbox_risk_name((lockbox_risk)deob_risk(r, d)), rst);
			put_escaped(b, d->via, strlen(d->via));
			buf_puts(b, ":\n    ");
			put_escaped(b, d->text, d->len);
			buf_putc(b, '\n');
		}
	}
	if (r->cmds) {
		buf_puts(b, "\ncommands:\n");
		size_t ncmd = 0;
		for (const lbx_cmd *c = r->cmds; c && ncmd < LBX_MAX_SHOWN_CMDS; c = c->next, ncmd++) {
			buf_puts(b, "  ");
			put_escaped(b, c->program, strlen(c->program));
			buf_puts(b, ":");
			for (size_t i = 1; i < c->argc && i < 16; i++) {
				buf_putc(b, ' ');
				put_escaped(b, c->argv[i], strlen(c->argv[i]));
			}
			if (c->argc > 16)
				buf_puts(b, " ...");
			buf_putc(b, '\n');
			for (const lbx_effect *e = c->fx; e; e = e->next) {
				buf_printf(b, "      %-16s ", e->type);
				put_escaped(b, e->target, strlen(e->target));
				buf_putc(b, '\n');
			}
		}
	}
	if (b->len >= (b->max ? b->max : BUF_DEFAULT_MAX))
		return ESC_ETOOBIG;
	return r->oom ? ESC_ENOMEM : 0;
}

void
lockbox_result_free(lockbox_result *r)
{
	if (r == NULL)
		return;
	/* the result itself lives in its arena; the arena is kept for the next record
	 * (one spare, shared by all threads) so steady-state analysis does not malloc */
	lb_arena *a = r->a;
	lb_arena_reset(a);
	lb_arena *old = atomic_exchange(&lbx_spare_arena, a);
	lb_arena_free(old);
}

lb_arena *
lbx_arena_get(void)
{
	lb_arena *a = atomic_exchange(&lbx_spare_arena, NULL);
	return a ? a : lb_arena_new();
}
