/* redact.c — masks secrets in output before an operator sees it: private key blocks,
 * crypt(3) password hashes, AWS keys, JWTs, GitHub/GitLab tokens, values assigned to
 * password/secret/token names, base64 Kerberos keytabs. One left-to-right pass with
 * hand-written matchers (bounded look-ahead/behind, no backtracking); each hit becomes
 * "[REDACTED:<kind>]", and markers are never matched again (redaction is idempotent).
 * Patterns from the policy (regcomp) then run over the text between markers. */
#include "broker/broker.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define MARK "[REDACTED:"
#define IDENT_BACK 64   /* how far back a name before = or : may start */
#define VALUE_MAX 4096  /* longest assigned value considered */
#define PEM_LABEL_MAX 64

static const char *const kind_names[BROKER_RK_COUNT] = {
	"private-key", "password-hash", "aws-access-key", "aws-secret-key", "jwt",
	"github-token", "gitlab-token", "assigned-secret", "kerberos-keytab", "policy-pattern",
};
static const char *const kind_plural[BROKER_RK_COUNT] = {
	"private key", "password hash", "AWS access key", "AWS secret key", "JWT",
	"GitHub token", "GitLab token", "password/secret/token value", "Kerberos keytab",
	"policy pattern match",
};

const char *
broker_redact_kind_name(int kind)
{
	return kind >= 0 && kind < BROKER_RK_COUNT ? kind_names[kind] : "?";
}

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_b64url(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

static int
is_b64(unsigned char c)
{
	return is_alnum(c) || c == '+' || c == '/';
}

static int
is_crypt(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '/';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int
has_prefix(const unsigned char *p, size_t n, const char *s)
{
	size_t k = strlen(s);

	return n >= k && memcmp(p, s, k) == 0;
}

/* case-insensitive search of s (lower case) in p[0..n) */
static int
contains_ci(const unsigned char *p, size_t n, const char *s)
{
	size_t k = strlen(s), i, j;

	for (i = 0; i + k <= n; i++) {
		for (j = 0; j < k && lower(p[i + j]) == (unsigned char)s[j]; j++)
			;
		if (j == k)
			return 1;
	}
	return 0;
}

static size_t
find(const unsigned char *p, size_t n, const char *s)
{
	size_t k = strlen(s), i;

	for (i = 0; i + k <= n; i++)
		if (p[i] == (unsigned char)s[0] && memcmp(p + i, s, k) == 0)
			return i;
	return n;
}

/* A token starts at i when no letter or digit precedes it. Right after a redaction (or a
 * marker, on a second pass) there is never a boundary: the two passes must agree. */
static int
boundary_before(const unsigned char *in, size_t i, size_t glued)
{
	return (i == 0 || !is_alnum(in[i - 1])) && (glued == 0 || i != glued);
}

/* -----BEGIN ... PRIVATE KEY----- through its END line (or the end of the output) */
static size_t
m_pem(const unsigned char *p, size_t n)
{
	size_t i = 11, lab, end;

	if (!has_prefix(p, n, "-----BEGIN "))
		return 0;
	/* labels are upper-case words ("OPENSSH PRIVATE KEY", "PGP PRIVATE KEY BLOCK") */
	for (lab = i; i < n && i - lab < PEM_LABEL_MAX &&
	              ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == ' ');
	     i++)
		;
	if (!has_prefix(p + i, n - i, "-----") || !contains_ci(p + lab, i - lab, "private key"))
		return 0;
	end = find(p + i + 5, n - i - 5, "-----END ");
	if (end == n - i - 5)
		return n; /* cut off: hide everything after the header */
	i += 5 + end + 9;
	while (i < n && p[i] != '\n' && !has_prefix(p + i, n - i, "-----"))
		i++;
	if (has_prefix(p + i, n - i, "-----"))
		i += 5;
	return i;
}

/* $id$[params$]salt$hash with a long final segment */
static size_t
m_crypt(const unsigned char *p, size_t n)
{
	static const char *const ids[] = { "$1$", "$2a$", "$2b$", "$2x$", "$2y$", "$5$", "$6$",
		                           "$y$", "$gy$", "$7$", "$sha1$", "$apr1$", "$md5$" };
	size_t i = 0, k, seg = 0, dollars = 0;

	for (k = 0; k < sizeof(ids) / sizeof(ids[0]); k++)
		if (has_prefix(p, n, ids[k]))
			break;
	if (k == sizeof(ids) / sizeof(ids[0]))
		return 0;
	for (i = strlen(ids[k]); i < n && i < 512; i++) {
		if (p[i] == '$') {
			dollars++;
			seg = 0;
		} else if (is_crypt(p[i])) {
			seg++;
		} else if (p[i] == '=' && i >= 6 && seg == 6 && memcmp(p + i - 6, "rounds", 6) == 0) {
			seg++; /* $5$rounds=N$ / $6$rounds=N$ */
		} else {
			break;
		}
	}
	/* a hash ends a field: anything else (a marker, more text) means we misread it */
	if (i < n && !strchr(":\t\n\r \"',;", p[i]))
		return 0;
	return dollars >= 1 && seg >= 16 ? i : 0;
}

static size_t
m_aws_key(const unsigned char *p, size_t n)
{
	static const char *const pre[] = { "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA",
		                           "ANPA", "ANVA", "ABIA", "ACCA" };
	size_t k, i;

	for (k = 0; k < sizeof(pre) / sizeof(pre[0]); k++)
		if (has_prefix(p, n, pre[k]))
			break;
	if (k == sizeof(pre) / sizeof(pre[0]) || n < 20)
		return 0;
	for (i = 4; i < 20; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return (n == 20 || !is_alnum(p[20])) ? 20 : 0;
}

static size_t
run_of(const unsigned char *p, size_t n, size_t i, int (*ok)(unsigned char))
{
	while (i < n && ok(p[i]))
		i++;
	return i;
}

static size_t
m_jwt(const unsigned char *p, size_t n)
{
	size_t a, b, c;

	if (!has_prefix(p, n, "eyJ"))
		return 0;
	a = run_of(p, n, 3, is_b64url);
	if (a < 10 || a >= n || p[a] != '.')
		return 0;
	b = run_of(p, n, a + 1, is_b64url);
	if (b - a - 1 < 4 || b >= n || p[b] != '.')
		return 0;
	c = run_of(p, n, b + 1, is_b64url);
	return c;
}

static int
is_tok(unsigned char c)
{
	return is_alnum(c) || c == '_';
}

static size_t
m_github(const unsigned char *p, size_t n)
{
	size_t e;

	if (n > 4 && p[0] == 'g' && p[1] == 'h' && strchr("pousr", p[2]) && p[2] && p[3] == '_') {
		e = run_of(p, n, 4, is_alnum);
		return e - 4 >= 36 ? e : 0;
	}
	if (has_prefix(p, n, "github_pat_")) {
		e = run_of(p, n, 11, is_tok);
		return e - 11 >= 22 ? e : 0;
	}
	return 0;
}

static size_t
m_gitlab(const unsigned char *p, size_t n)
{
	static const char *const pre[] = { "glpat-", "gldt-", "glrt-", "glptt-", "glft-",
		                           "glsoat-", "glcbt-", "glimt-", "glagent-", "gloas-" };
	size_t k, s, e;

	for (k = 0; k < sizeof(pre) / sizeof(pre[0]); k++)
		if (has_prefix(p, n, pre[k]))
			break;
	if (k == sizeof(pre) / sizeof(pre[0]))
		return 0;
	s = strlen(pre[k]);
	e = run_of(p, n, s, is_b64url);
	return e - s >= 20 ? e : 0;
}

/* base64 of a keytab (0x05 0x02 ...) starts "BQ" then I..L; lines may wrap */
static size_t
m_keytab(const unsigned char *p, size_t n)
{
	size_t i = 0, chars = 0;

	if (n < 3 || p[0] != 'B' || p[1] != 'Q' || p[2] < 'I' || p[2] > 'L')
		return 0;
	while (i < n) {
		size_t s = i;

		i = run_of(p, n, i, is_b64);
		chars += i - s;
		while (i < n && p[i] == '=')
			i++;
		/* continue over a line break only into another base64 line */
		if (i + 1 < n && p[i] == '\n' && is_b64(p[i + 1]) && i > s && i - s >= 60)
			i++;
		else
			break;
	}
	return chars >= 40 ? i : 0;
}

/* The name before a '=' or ':' at position eq; kind or -1 when it names no secret. */
static int
secret_name(const unsigned char *in, size_t eq)
{
	static const char *const words[] = { "password", "passwd", "passphrase", "secret",
		                             "token", "apikey", "api_key", "api-key" };
	size_t e = eq, s, k;

	while (e > 0 && eq - e < 4 && (in[e - 1] == ' ' || in[e - 1] == '\t'))
		e--;
	if (e > 0 && (in[e - 1] == '"' || in[e - 1] == '\''))
		e--;
	for (s = e; s > 0 && e - s < IDENT_BACK &&
	            (is_alnum(in[s - 1]) || in[s - 1] == '_' || in[s - 1] == '-' || in[s - 1] == '.');
	     s--)
		;
	if (s == e)
		return -1;
	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		if (contains_ci(in + s, e - s, words[k])) {
			if (contains_ci(in + s, e - s, "aws") || contains_ci(in + s, e - s, "secretaccesskey") ||
			    contains_ci(in + s, e - s, "secret_access_key"))
				return BROKER_RK_AWS_SECRET_KEY;
			return BROKER_RK_ASSIGNED_SECRET;
		}
	}
	return -1;
}

/* The value after '=' / ':' at p (p[0] is the separator): [start, end) within p. */
static int
assigned_value(const unsigned char *p, size_t n, int spaced, size_t *start, size_t *end)
{
	size_t i = 1, j;
	unsigned char q;

	if (n > 1 && (p[1] == '=' || (p[0] == ':' && p[1] == ':')))
		return 0; /* ==, :: are not assignments */
	/* "key: value" and "key = value", but "key= x" is an empty key= */
	if (p[0] == ':' || spaced)
		while (i < n && i < 8 && (p[i] == ' ' || p[i] == '\t'))
			i++;
	if (i >= n)
		return 0;
	if (p[i] == '"' || p[i] == '\'') {
		q = p[i];
		for (j = i + 1; j < n && j - i < VALUE_MAX && p[j] != q && p[j] != '\n'; j++)
			if (p[j] == '\\' && j + 1 < n && p[j + 1] != '\n')
				j++;
		/* an unterminated quote still holds a secret: mask to the end of the line
		 * (a later redaction must not complete the quote and expose more) */
		if (j == i + 1)
			return 0;
		*start = i + 1;
		*end = j;
	} else {
		for (j = i; j < n && j - i < VALUE_MAX; j++)
			if (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r' || p[j] == ',' ||
			    p[j] == ';' || p[j] == '&' || p[j] == '"' || p[j] == '\'' || p[j] == '}' ||
			    p[j] == ')' || p[j] == '<' || p[j] == '>')
				break;
		if (j == i)
			return 0;
		*start = i;
		*end = j;
	}
	/* already redacted, or a variable reference rather than a value */
	if (has_prefix(p + *start, *end - *start, MARK))
		return 0;
	return 1;
}

static int
emit(buf *out, int kind, broker_redaction *c)
{
	if (c) {
		c->count[kind]++;
		c->total++;
	}
	return buf_printf(out, MARK "%s]", kind_names[kind]);
}

int
broker_redact(const unsigned char *in, size_t n, buf *out, broker_redaction *c)
{
	size_t i = 0, copied = 0, m, vs, ve, glued = 0;
	int kind, rc;

	if (n == 0)
		return 0;
	if (in == NULL)
		return ESC_EINVAL;
	/* a raw keytab file dumped to the output */
	if (n >= 4 && in[0] == 0x05 && in[1] == 0x02)
		return emit(out, BROKER_RK_KEYTAB, c);
	while (i < n) {
		unsigned char ch = in[i];

		m = 0;
		kind = -1;
		/* skip over our own markers so they are never matched again */
		if (ch == '[' && has_prefix(in + i, n - i, MARK)) {
			size_t e = i + strlen(MARK);

			while (e < n && e - i < 40 && in[e] != ']')
				e++;
			i = e < n ? e + 1 : n;
			glued = i;
			continue;
		}
		switch (ch) {
		case '-':
			if ((m = m_pem(in + i, n - i)) != 0)
				kind = BROKER_RK_PRIVATE_KEY;
			break;
		case '$':
			if (boundary_before(in, i, glued) && (m = m_crypt(in + i, n - i)) != 0)
				kind = BROKER_RK_PASSWORD_HASH;
			break;
		case 'A':
			if (boundary_before(in, i, glued) && (m = m_aws_key(in + i, n - i)) != 0)
				kind = BROKER_RK_AWS_ACCESS_KEY;
			break;
		case 'e':
			if (boundary_before(in, i, glued) && (m = m_jwt(in + i, n - i)) != 0)
				kind = BROKER_RK_JWT;
			break;
		case 'g':
			if (boundary_before(in, i, glued)) {
				if ((m = m_github(in + i, n - i)) != 0)
					kind = BROKER_RK_GITHUB_TOKEN;
				else if ((m = m_gitlab(in + i, n - i)) != 0)
					kind = BROKER_RK_GITLAB_TOKEN;
			}
			break;
		case 'B':
			if (boundary_before(in, i, glued) && (m = m_keytab(in + i, n - i)) != 0)
				kind = BROKER_RK_KEYTAB;
			break;
		case '=':
		case ':':
			if ((kind = secret_name(in, i)) >= 0 &&
			    assigned_value(in + i, n - i, i > 0 && in[i - 1] == ' ', &vs, &ve)) {
				/* keep the name and separator, hide the value */
				if ((rc = buf_put(out, in + copied, i + vs - copied)) != 0 ||
				    (rc = emit(out, kind, c)) != 0)
					return rc;
				i += ve;
				copied = glued = i;
				continue;
			}
			kind = -1;
			break;
		default:
			break;
		}
		if (kind < 0) {
			i++;
			continue;
		}
		if ((rc = buf_put(out, in + copied, i - copied)) != 0 || (rc = emit(out, kind, c)) != 0)
			return rc;
		i += m;
		copied = glued = i;
	}
	return buf_put(out, in + copied, n - copied);
}

int
broker_redaction_summary(const broker_redaction *c, buf *out)
{
	int k, first = 1, rc = 0;

	for (k = 0; k < BROKER_RK_COUNT && rc == 0; k++) {
		if (c->count[k] == 0)
			continue;
		rc = buf_printf(out, "%s%zu %s%s", first ? "" : ", ", c->count[k], kind_plural[k],
		                c->count[k] == 1 ? "" : (k == BROKER_RK_PASSWORD_HASH ? "es" : "s"));
		first = 0;
	}
	return rc;
}

/* ---- patterns from the policy ---- */

struct broker_redact_rules {
	regex_t *re;
	size_t n;
};

void
broker_redact_rules_free(broker_redact_rules *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		regfree(&r->re[i]);
	free(r->re);
	free(r);
}

int
broker_redact_rules_new(broker_redact_rules **out, const char *const *patterns, size_t n,
                        buf *msg)
{
	broker_redact_rules *r;
	char why[256];
	int e;

	*out = NULL;
	if (n > BROKER_REDACT_PATTERNS_MAX) {
		if (msg)
			buf_printf(msg, "%zu redaction patterns; at most %d", n,
			           BROKER_REDACT_PATTERNS_MAX);
		return ESC_EINVAL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (n && (r->re = calloc(n, sizeof(*r->re))) == NULL)) {
		free(r);
		return ESC_ENOMEM;
	}
	for (; r->n < n; r->n++) {
		if ((e = regcomp(&r->re[r->n], patterns[r->n], REG_EXTENDED | REG_NEWLINE)) != 0) {
			regerror(e, &r->re[r->n], why, sizeof(why));
			if (msg)
				buf_printf(msg, "redaction pattern %zu: %s", r->n + 1, why);
			goto bad;
		}
		if (regexec(&r->re[r->n], "", 0, NULL, 0) == 0) {
			r->n++; /* compiled: freed with the others */
			if (msg)
				buf_printf(msg, "redaction pattern %zu matches the empty string",
				           r->n);
			goto bad;
		}
	}
	*out = r;
	return 0;
bad:
	broker_redact_rules_free(r);
	return ESC_EINVAL;
}

/* The next match of re in in[pos..end) (NUL-free), or so = end when there is none.
 * REG_STARTEND keeps offsets absolute and needs no copy; ^ matches at a line start only. */
static void
next_match(const regex_t *re, const unsigned char *in, size_t pos, size_t end, int noteol,
           size_t *so, size_t *eo)
{
	regmatch_t m[1];
	int eol = noteol ? REG_NOTEOL : 0, fl = REG_STARTEND | eol;

	*so = *eo = end;
	if (pos >= end)
		return;
	if (pos > 0 && in[pos - 1] != '\n')
		fl |= REG_NOTBOL;
	m[0].rm_so = (regoff_t)pos;
	m[0].rm_eo = (regoff_t)end;
	while (regexec(re, (const char *)in, 1, m, fl) == 0) {
		if (m[0].rm_eo > m[0].rm_so) {
			*so = (size_t)m[0].rm_so;
			*eo = (size_t)m[0].rm_eo;
			return;
		}
		/* an empty match (e.g. "x*" where there is no x): look further on */
		if ((size_t)m[0].rm_so + 1 >= end)
			return;
		m[0].rm_so = m[0].rm_so + 1;
		m[0].rm_eo = (regoff_t)end;
		fl = REG_STARTEND | eol | (in[m[0].rm_so - 1] != '\n' ? REG_NOTBOL : 0);
	}
}

/* Applies every pattern to one NUL- and marker-free segment in[s..e) of in[0..n):
 * leftmost match first (the longest on a tie); each pattern's next match is cached until
 * passed. $ matches at the segment's end only when a line ends there. */
static int
redact_segment(const broker_redact_rules *x, const unsigned char *in, size_t n, size_t s,
               size_t e, size_t *so, size_t *eo, buf *out, broker_redaction *c)
{
	size_t pos = s, k, best;
	int rc, noteol = e < n && in[e] != '\n';

	for (k = 0; k < x->n; k++)
		next_match(&x->re[k], in, pos, e, noteol, &so[k], &eo[k]);
	for (;;) {
		best = x->n;
		for (k = 0; k < x->n; k++) {
			if (so[k] < pos) /* overlapped by an earlier redaction: look again */
				next_match(&x->re[k], in, pos, e, noteol, &so[k], &eo[k]);
			if (so[k] < e &&
			    (best == x->n || so[k] < so[best] || (so[k] == so[best] && eo[k] > eo[best])))
				best = k;
		}
		if (best == x->n)
			break;
		if ((rc = buf_put(out, in + pos, so[best] - pos)) != 0 ||
		    (rc = emit(out, BROKER_RK_POLICY, c)) != 0)
			return rc;
		pos = eo[best];
	}
	return buf_put(out, in + pos, e - pos);
}

/* The policy patterns over the text between the markers of first (appended to out). */
static int
policy_pass(const broker_redact_rules *x, const buf *first, buf *out, size_t *so, size_t *eo,
            broker_redaction *c)
{
	size_t i = 0, seg;
	int rc = 0;

	while (rc == 0 && i < first->len) {
		const unsigned char *p = first->data;

		if (p[i] == 0) { /* regexec cannot look past a NUL: segments end there */
			rc = buf_putc(out, 0);
			i++;
			continue;
		}
		if (p[i] == '[' && has_prefix(p + i, first->len - i, MARK)) {
			size_t e = i + strlen(MARK);

			while (e < first->len && e - i < 40 && p[e] != ']')
				e++;
			e = e < first->len ? e + 1 : first->len;
			rc = buf_put(out, p + i, e - i);
			i = e;
			continue;
		}
		for (seg = i; seg < first->len && p[seg] != 0 &&
		              !(p[seg] == '[' && has_prefix(p + seg, first->len - seg, MARK));
		     seg++)
			;
		rc = redact_segment(x, p, first->len, i, seg, so, eo, out, c);
		i = seg;
	}
	return rc;
}

#define REDACT_ROUNDS 8

int
broker_redact_ex(const unsigned char *in, size_t n, buf *out, broker_redaction *c,
                 const broker_redact_rules *x)
{
	buf cur = BUF_INIT, mid = BUF_INIT, next = BUF_INIT;
	broker_redaction r;
	size_t *so = NULL, *eo = NULL, k;
	int rc, round;

	if (x == NULL || x->n == 0)
		return broker_redact(in, n, out, c);
	if ((so = calloc(x->n, sizeof(*so))) == NULL || (eo = calloc(x->n, sizeof(*eo))) == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	if ((rc = buf_put(&cur, in, n)) != 0)
		goto out;
	/* A policy marker can give a built-in pattern the boundary it lacked ("AKIA...F" +
	 * "EMP123456" -> "AKIA...F[REDACTED:...]"), so both passes repeat until nothing more
	 * is found: what an operator sees must not change when redacted again. Every round
	 * that finds something turns text into markers, which are never matched again. */
	for (round = 0; round < REDACT_ROUNDS; round++) {
		memset(&r, 0, sizeof(r));
		buf_reset(&mid);
		buf_reset(&next);
		if ((rc = broker_redact(cur.data, cur.len, &mid, &r)) != 0 ||
		    (rc = policy_pass(x, &mid, &next, so, eo, &r)) != 0)
			goto out;
		if (c) {
			for (k = 0; k < BROKER_RK_COUNT; k++)
				c->count[k] += r.count[k];
			c->total += r.total;
		}
		buf_reset(&cur);
		if ((rc = buf_put(&cur, next.data, next.len)) != 0)
			goto out;
		if (r.total == 0)
			break;
	}
	rc = buf_put(out, cur.data, cur.len);
out:
	free(so);
	free(eo);
	buf_free(&cur);
	buf_free(&mid);
	buf_free(&next);
	return rc;
}
