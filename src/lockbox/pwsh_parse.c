/* pwsh_parse.c — PowerShell tokenizer and parser for lockbox. PowerShell lexes words
 * differently in command mode (Get-Item -Path x) and expression mode ($a -f 'x'), so the
 * parser asks for each token in the mode it expects. Recursion is depth-limited, node
 * count is capped and everything lives in the caller's arena. */
#include "lockbox/pwsh.h"
#include "util/err.h"

#include <ctype.h>
#include <string.h>

/* ---- characters ------------------------------------------------------------------------ */

/* PowerShell accepts typographic dashes and quotes as their ASCII forms; obfuscators use
 * them. Returns the normalized character at pos and its byte length in *n. */
static int
uch(const ps_lexer *lx, size_t pos, size_t *n)
{
	*n = 1;
	if (pos >= lx->len)
		return -1;
	unsigned char c = (unsigned char)lx->src[pos];
	if (c == 0xE2 && pos + 2 < lx->len && (unsigned char)lx->src[pos + 1] == 0x80) {
		unsigned char d = (unsigned char)lx->src[pos + 2];
		*n = 3;
		if (d >= 0x93 && d <= 0x95)
			return '-';
		if (d >= 0x98 && d <= 0x9B)
			return '\'';
		if (d >= 0x9C && d <= 0x9E)
			return '"';
		*n = 1;
	}
	return c;
}

static int
at(const ps_lexer *lx, size_t pos)
{
	return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

static int
is_name_char(int c)
{
	return c >= 0 && (isalnum(c) || c == '_' || c >= 0x80);
}

void
ps_lex_init(ps_lexer *lx, lb_arena *a, const char *src, size_t len, uint32_t base)
{
	memset(lx, 0, sizeof *lx);
	lx->a = a;
	lx->src = src;
	lx->len = len;
	lx->base = base;
}

static void
lex_error(ps_lexer *lx, size_t start, const char *msg)
{
	if (!lx->err) {
		lx->err = 1;
		lx->errmsg = msg;
		lx->errspan.start = lx->base + (uint32_t)start;
		lx->errspan.end = lx->base + (uint32_t)lx->len;
	}
	lx->pos = lx->len;
}

/* Skips blanks, line continuations and comments (not newlines). Returns nonzero when
 * anything was skipped. */
static int
skip_space(ps_lexer *lx)
{
	size_t p0 = lx->pos;
	for (;;) {
		int c = at(lx, lx->pos);
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->pos++;
		} else if (c == 0xC2 && at(lx, lx->pos + 1) == 0xA0) {
			lx->pos += 2; /* no-break space counts as a blank */
		} else if (c == '`' && (at(lx, lx->pos + 1) == '\n' ||
		    (at(lx, lx->pos + 1) == '\r' && at(lx, lx->pos + 2) == '\n'))) {
			lx->pos += at(lx, lx->pos + 1) == '\r' ? 3 : 2;
		} else if (c == '#') {
			while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
				lx->pos++;
		} else if (c == '<' && at(lx, lx->pos + 1) == '#') {
			size_t s = lx->pos;
			lx->pos += 2;
			for (;;) {
				if (lx->pos + 1 >= lx->len) {
					lex_error(lx, s, "unterminated block comment <# ... #>");
					return 1;
				}
				if (lx->src[lx->pos] == '#' && lx->src[lx->pos + 1] == '>') {
					lx->pos += 2;
					break;
				}
				lx->pos++;
			}
		} else {
			break;
		}
	}
	return lx->pos != p0;
}

static ps_tok
mk(ps_lexer *lx, ps_tok_kind k, size_t s, size_t e, int sp)
{
	ps_tok t;
	memset(&t, 0, sizeof t);
	t.kind = k;
	t.flags = sp ? PS_TF_SPACE_BEFORE : 0;
	t.span.start = lx->base + (uint32_t)s;
	t.span.end = lx->base + (uint32_t)e;
	t.text = "";
	return t;
}

static ps_tok
mk_text(ps_lexer *lx, ps_tok_kind k, size_t s, size_t e, int sp, const char *txt, size_t n)
{
	ps_tok t = mk(lx, k, s, e, sp);
	char *c = lb_arena_strndup(lx->a, txt, n);
	if (c == NULL) {
		lx->oom = 1;
		lex_error(lx, s, "out of memory");
		t.kind = PT_EOF;
		return t;
	}
	t.text = c;
	t.len = n;
	return t;
}

/* Finds the ')' closing a $( that starts at pos (pointing after the '('), skipping
 * strings, nested parentheses and comments. Returns its offset or len. */
static size_t scan_dq_end(const ps_lexer *lx, size_t pos, int here, int depth);

static size_t
scan_paren_end(const ps_lexer *lx, size_t pos, int depth)
{
	int lvl = 1;
	if (depth > PS_MAX_DEPTH)
		return lx->len;
	while (pos < lx->len) {
		size_t n;
		int c = uch(lx, pos, &n);
		if (c == '`') {
			pos += 2;
			continue;
		}
		if (c == '(') {
			lvl++;
		} else if (c == ')') {
			if (--lvl == 0)
				return pos;
		} else if (c == '\'') {
			pos += n;
			for (;;) {
				if (pos >= lx->len)
					return lx->len;
				int d = uch(lx, pos, &n);
				pos += n;
				if (d == '\'') {
					if (uch(lx, pos, &n) == '\'') {
						pos += n;
						continue;
					}
					break;
				}
			}
			continue;
		} else if (c == '"') {
			pos = scan_dq_end(lx, pos + n, 0, depth + 1);
			if (pos >= lx->len)
				return lx->len;
			pos += uch(lx, pos, &n) == '"' ? n : 1;
			continue;
		} else if (c == '#' && (pos == 0 || strchr(" \t\n;(", lx->src[pos - 1]))) {
			while (pos < lx->len && lx->src[pos] != '\n')
				pos++;
			continue;
		}
		pos += n;
	}
	return lx->len;
}

/* Finds the end of a double-quoted body starting at pos: the offset of the closing quote
 * (or of the newline before "@ for a here-string), or len when unterminated. */
static size_t
scan_dq_end(const ps_lexer *lx, size_t pos, int here, int depth)
{
	while (pos < lx->len) {
		size_t n;
		int c = uch(lx, pos, &n);
		if (c == '`') {
			pos += 2;
			continue;
		}
		if (c == '$' && at(lx, pos + 1) == '(') {
			pos = scan_paren_end(lx, pos + 2, depth + 1);
			if (pos >= lx->len)
				return lx->len;
			pos++;
			continue;
		}
		if (here) {
			if (c == '\n' && at(lx, pos + 1) == '"' && at(lx, pos + 2) == '@')
				return pos;
			if (c == '\r' && at(lx, pos + 1) == '\n' && at(lx, pos + 2) == '"' &&
			    at(lx, pos + 3) == '@')
				return pos;
		} else if (c == '"') {
			size_t n2;
			if (uch(lx, pos + n, &n2) == '"') {
				pos += n + n2;
				continue;
			}
			return pos;
		}
		pos += n;
	}
	return lx->len;
}

static ps_tok
lex_sq(ps_lexer *lx, size_t s, int sp)
{
	size_t n;
	buf b;
	uch(lx, lx->pos, &n);
	lx->pos += n;
	buf_init(&b, lx->len + 16);
	for (;;) {
		if (lx->pos >= lx->len) {
			buf_free(&b);
			lex_error(lx, s, "unterminated '");
			return mk(lx, PT_EOF, s, lx->len, sp);
		}
		int c = uch(lx, lx->pos, &n);
		if (c == '\'') {
			size_t n2;
			if (uch(lx, lx->pos + n, &n2) == '\'') {
				buf_putc(&b, '\'');
				lx->pos += n + n2;
				continue;
			}
			lx->pos += n;
			break;
		}
		buf_put(&b, lx->src + lx->pos, n);
		lx->pos += n;
	}
	ps_tok t = mk_text(lx, PT_SQ, s, lx->pos, sp, b.data ? (const char *)b.data : "", b.len);
	buf_free(&b);
	return t;
}

/* @' ... '@ and @" ... "@: the opening must end its line, the closing starts a line. */
static ps_tok
lex_here(ps_lexer *lx, size_t s, int sp, int dq)
{
	size_t p = lx->pos + 2;
	while (at(lx, p) == ' ' || at(lx, p) == '\t' || at(lx, p) == '\r')
		p++;
	if (at(lx, p) != '\n') {
		lex_error(lx, s, "a here-string's opening @' or @\" must end its line");
		return mk(lx, PT_EOF, s, lx->len, sp);
	}
	size_t body = p + 1;
	size_t e;
	if (dq) {
		e = scan_dq_end(lx, body, 1, 0);
	} else {
		e = body;
		for (;;) {
			const char *nl = memchr(lx->src + e, '\n', lx->len - e);
			if (nl == NULL) {
				e = lx->len;
				break;
			}
			size_t q = (size_t)(nl - lx->src);
			if (at(lx, q + 1) == '\'' && at(lx, q + 2) == '@') {
				e = q;
				break;
			}
			e = q + 1;
		}
	}
	if (e >= lx->len) {
		lex_error(lx, s, dq ? "unterminated here-string @\"" : "unterminated here-string @'");
		return mk(lx, PT_EOF, s, lx->len, sp);
	}
	size_t be = e;
	if (be > body && lx->src[be - 1] == '\r')
		be--;
	size_t close = e + (lx->src[e] == '\r' ? 2 : 1);
	lx->pos = close + 2;
	ps_tok t = mk_text(lx, dq ? PT_DQ : PT_SQ, s, lx->pos, sp, lx->src + body,
	    be > body ? be - body : 0);
	t.flags |= PS_TF_HERE;
	t.body = (uint32_t)body;
	return t;
}

static ps_tok
lex_var(ps_lexer *lx, size_t s, int sp, int splat)
{
	size_t p = lx->pos + 1;
	buf b;
	buf_init(&b, lx->len + 16);
	int esc = 0;
	if (!splat && at(lx, p) == '{') {
		p++;
		while (p < lx->len && lx->src[p] != '}') {
			if (lx->src[p] == '`' && p + 1 < lx->len) {
				p++;
				esc = 1;
			}
			buf_putc(&b, (unsigned char)lx->src[p]);
			p++;
		}
		if (p >= lx->len) {
			buf_free(&b);
			lex_error(lx, s, "unterminated ${");
			return mk(lx, PT_EOF, s, lx->len, sp);
		}
		p++;
	} else if (!splat && (at(lx, p) == '$' || at(lx, p) == '?' || at(lx, p) == '^')) {
		buf_putc(&b, (unsigned char)lx->src[p]);
		p++;
	} else {
		while (p < lx->len) {
			int c = at(lx, p);
			if (is_name_char(c)) {
				buf_putc(&b, (unsigned char)c);
				p++;
			} else if (c == ':' && !splat && is_name_char(at(lx, p + 1)) && b.len > 0) {
				buf_putc(&b, ':');
				p++;
			} else {
				break;
			}
		}
	}
	lx->pos = p;
	ps_tok t = mk_text(lx, splat ? PT_SPLAT : PT_VAR, s, p, sp,
	    b.data ? (const char *)b.data : "", b.len);
	if (esc)
		t.flags |= PS_TF_ESCAPED;
	buf_free(&b);
	return t;
}

/* Expression-mode operators spelled -name. */
static const char *const dash_ops[] = {
	"f", "join", "split", "replace", "eq", "ne", "gt", "ge", "lt", "le", "like", "notlike",
	"match", "notmatch", "contains", "notcontains", "in", "notin", "is", "isnot", "as",
	"and", "or", "xor", "not", "band", "bor", "bxor", "bnot", "shl", "shr", NULL
};

static int
known_dash_op(const char *s, size_t n)
{
	for (size_t i = 0; dash_ops[i]; i++)
		if (strlen(dash_ops[i]) == n && !memcmp(dash_ops[i], s, n))
			return 1;
	return 0;
}

/* Generic word: in command mode up to a blank or a metacharacter; in expression mode a
 * name (letters, digits, _). Backticks escape the next character. */
static ps_tok
lex_word(ps_lexer *lx, size_t s, int sp, ps_mode mode)
{
	buf b;
	int esc = 0;
	buf_init(&b, lx->len + 16);
	size_t p = lx->pos;
	while (p < lx->len) {
		size_t n;
		int c = uch(lx, p, &n);
		if (c == '`') {
			if (p + 1 >= lx->len || lx->src[p + 1] == '\n' || lx->src[p + 1] == '\r')
				break;
			esc = 1;
			p++;
			uch(lx, p, &n);
			buf_put(&b, lx->src + p, n);
			p += n;
			continue;
		}
		if (mode == PS_MODE_EXPR) {
			if (!is_name_char(c) && c != '-' && !(c == '\\' && b.len))
				break;
			if (c == '-' && b.len == 0)
				break;
		} else {
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '|' ||
			    c == '&' || c == '(' || c == ')' || c == '{' || c == '}' || c == ',' ||
			    c == '\'' || c == '"' || c == '$' || c == '\f' || c == '\v')
				break;
			if ((c == '>' || c == '<') && p > lx->pos)
				break;
			if (c == 0xC2 && at(lx, p + 1) == 0xA0)
				break;
			if (c == '@' && p > lx->pos && (at(lx, p + 1) == '(' || at(lx, p + 1) == '{'))
				break;
		}
		buf_put(&b, lx->src + p, n);
		p += n;
	}
	if (p == lx->pos) {
		/* a lone character no rule takes: one-byte word so the parser can report it */
		size_t n;
		uch(lx, p, &n);
		buf_put(&b, lx->src + p, n);
		p += n;
	}
	lx->pos = p;
	ps_tok t = mk_text(lx, PT_WORD, s, p, sp, b.data ? (const char *)b.data : "", b.len);
	if (esc)
		t.flags |= PS_TF_ESCAPED;
	buf_free(&b);
	return t;
}

static ps_tok
lex_number(ps_lexer *lx, size_t s, int sp)
{
	size_t p = lx->pos;
	if (at(lx, p) == '0' && (at(lx, p + 1) == 'x' || at(lx, p + 1) == 'X')) {
		p += 2;
		while (isxdigit(at(lx, p)))
			p++;
	} else {
		while (isdigit(at(lx, p)))
			p++;
		if (at(lx, p) == '.' && isdigit(at(lx, p + 1))) {
			p++;
			while (isdigit(at(lx, p)))
				p++;
		}
		if ((at(lx, p) == 'e' || at(lx, p) == 'E') &&
		    (isdigit(at(lx, p + 1)) || ((at(lx, p + 1) == '-' || at(lx, p + 1) == '+') &&
		    isdigit(at(lx, p + 2))))) {
			p += 2;
			while (isdigit(at(lx, p)))
				p++;
		}
	}
	while (isalpha(at(lx, p)))
		p++; /* type and multiplier suffixes: 10l, 1kb, 2d */
	lx->pos = p;
	return mk_text(lx, PT_NUM, s, p, sp, lx->src + s, p - s);
}

ps_tok
ps_lex_next(ps_lexer *lx, ps_mode mode)
{
	int sp = skip_space(lx);
	size_t s = lx->pos;
	if (lx->err || s >= lx->len)
		return mk(lx, PT_EOF, lx->len, lx->len, sp);
	size_t n;
	int c = uch(lx, s, &n);
	int c1 = at(lx, s + n);
	switch (c) {
	case '\n':
		lx->pos++;
		return mk(lx, PT_NL, s, s + 1, sp);
	case ';':
		lx->pos++;
		return mk(lx, PT_SEMI, s, s + 1, sp);
	case '|':
		if (c1 == '|') {
			lx->pos += 2;
			return mk(lx, PT_OROR, s, s + 2, sp);
		}
		lx->pos++;
		return mk(lx, PT_PIPE, s, s + 1, sp);
	case '&':
		if (c1 == '&') {
			lx->pos += 2;
			return mk(lx, PT_ANDAND, s, s + 2, sp);
		}
		lx->pos++;
		return mk(lx, PT_AMP, s, s + 1, sp);
	case '(':
		lx->pos++;
		return mk(lx, PT_LPAREN, s, s + 1, sp);
	case ')':
		lx->pos++;
		return mk(lx, PT_RPAREN, s, s + 1, sp);
	case '{':
		lx->pos++;
		return mk(lx, PT_LBRACE, s, s + 1, sp);
	case '}':
		lx->pos++;
		return mk(lx, PT_RBRACE, s, s + 1, sp);
	case ',':
		lx->pos++;
		return mk(lx, PT_COMMA, s, s + 1, sp);
	case '[':
		lx->pos++;
		return mk(lx, PT_LBRACK, s, s + 1, sp);
	case ']':
		if (mode == PS_MODE_EXPR) {
			lx->pos++;
			return mk(lx, PT_RBRACK, s, s + 1, sp);
		}
		break;
	case '\'':
		return lex_sq(lx, s, sp);
	case '"': {
		size_t body = s + n;
		size_t e = scan_dq_end(lx, body, 0, 0);
		if (e >= lx->len) {
			lex_error(lx, s, "unterminated \"");
			return mk(lx, PT_EOF, s, lx->len, sp);
		}
		size_t n2;
		uch(lx, e, &n2);
		lx->pos = e + n2;
		ps_tok t = mk_text(lx, PT_DQ, s, lx->pos, sp, lx->src + body, e - body);
		t.body = (uint32_t)body;
		return t;
	}
	case '$':
		if (c1 == '(') {
			lx->pos += 2;
			return mk(lx, PT_SUBEXPR, s, s + 2, sp);
		}
		if (c1 == '{' || c1 == '$' || c1 == '?' || c1 == '^' || is_name_char(c1))
			return lex_var(lx, s, sp, 0);
		break;
	case '@':
		if (c1 == '(') {
			lx->pos += 2;
			return mk(lx, PT_ARRAYEXPR, s, s + 2, sp);
		}
		if (c1 == '{') {
			lx->pos += 2;
			return mk(lx, PT_HASH, s, s + 2, sp);
		}
		if (c1 == '\'' || c1 == '"')
			return lex_here(lx, s, sp, c1 == '"');
		if (is_name_char(c1))
			return lex_var(lx, s, sp, 1);
		break;
	case '.':
		if (mode == PS_MODE_EXPR) {
			if (isdigit(c1))
				return lex_number(lx, s, sp);
			if (c1 == '.') {
				lx->pos += 2;
				return mk_text(lx, PT_OP, s, s + 2, sp, "..", 2);
			}
			lx->pos++;
			return mk(lx, PT_DOT, s, s + 1, sp);
		}
		/* . script, .(expr), .$x, ."path", .{ block }: dot-sourcing; .\x.ps1 is a word */
		if (c1 < 0 || c1 == ' ' || c1 == '\t' || c1 == '\n' || c1 == '\r' || c1 == '(' ||
		    c1 == '$' || c1 == '\'' || c1 == '"' || c1 == '{' || c1 == '&') {
			lx->pos++;
			return mk(lx, PT_DOT, s, s + 1, sp);
		}
		break;
	case ':':
		if (mode == PS_MODE_EXPR && c1 == ':') {
			lx->pos += 2;
			return mk(lx, PT_COLONCOLON, s, s + 2, sp);
		}
		break;
	case '>':
	case '<': {
		size_t p = s + 1;
		if (c == '>' && at(lx, p) == '>')
			p++;
		if (c == '>' && at(lx, p) == '&' && isdigit(at(lx, p + 1)))
			p += 2;
		lx->pos = p;
		return mk_text(lx, PT_REDIR, s, p, sp, lx->src + s, p - s);
	}
	case '*':
		if (c1 == '>') {
			size_t p = s + 2;
			if (at(lx, p) == '>')
				p++;
			lx->pos = p;
			return mk_text(lx, PT_REDIR, s, p, sp, lx->src + s, p - s);
		}
		break;
	default:
		break;
	}
	if (c >= '1' && c <= '6' && c1 == '>') {
		size_t p = s + 2;
		if (at(lx, p) == '>')
			p++;
		else if (at(lx, p) == '&' && isdigit(at(lx, p + 1)))
			p += 2;
		lx->pos = p;
		return mk_text(lx, PT_REDIR, s, p, sp, lx->src + s, p - s);
	}
	if (mode == PS_MODE_EXPR) {
		if (isdigit(c))
			return lex_number(lx, s, sp);
		if (c == '-' && (isalpha(c1))) {
			size_t p = s + n;
			while (isalpha(at(lx, p)))
				p++;
			char name[32];
			size_t nl = p - s - n;
			if (nl < sizeof name) {
				for (size_t i = 0; i < nl; i++)
					name[i] = (char)tolower((unsigned char)lx->src[s + n + i]);
				name[nl] = 0;
				const char *nm = name;
				/* -ceq, -ireplace: case-sensitive and -insensitive forms */
				if (!known_dash_op(nm, nl) && nl > 1 && (nm[0] == 'c' || nm[0] == 'i') &&
				    known_dash_op(nm + 1, nl - 1))
					nm++;
				char op[34];
				op[0] = '-';
				size_t ol = strlen(nm);
				memcpy(op + 1, nm, ol + 1);
				lx->pos = p;
				return mk_text(lx, PT_OP, s, p, sp, op, ol + 1);
			}
		}
		static const char *const ops[] = { "++", "--", "+=", "-=", "*=", "/=", "%=", "?\?=",
			"??", "!", "+", "-", "*", "/", "%", "=", NULL };
		for (size_t i = 0; ops[i]; i++) {
			size_t ol = strlen(ops[i]);
			if (c == '-' && n == 3) {
				if (ops[i][0] == '-' && ol == 1) {
					lx->pos = s + 3;
					return mk_text(lx, PT_OP, s, s + 3, sp, "-", 1);
				}
				continue;
			}
			if (s + ol <= lx->len && !memcmp(lx->src + s, ops[i], ol)) {
				lx->pos = s + ol;
				return mk_text(lx, PT_OP, s, s + ol, sp, ops[i], ol);
			}
		}
		return lex_word(lx, s, sp, mode);
	}
	/* command mode */
	if (c == '-' && c1 != '-' && (c1 == '_' || c1 == '?' || (c1 >= 0 && isalpha(c1)) ||
	    c1 >= 0x80)) {
		size_t p = s + n;
		buf b;
		buf_init(&b, lx->len + 16);
		while (p < lx->len) {
			int d = at(lx, p);
			if (d == '`' && p + 1 < lx->len && lx->src[p + 1] != '\n') {
				buf_putc(&b, (unsigned char)lx->src[p + 1]);
				p += 2;
				continue;
			}
			if (d == ':' || d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' ||
			    d == '|' || d == '&' || d == '(' || d == ')' || d == '{' || d == '}' ||
			    d == ',' || d == '\'' || d == '"' || d == '$' || d == '>' || d == '<' ||
			    d == '.' || d == '[')
				break;
			buf_putc(&b, (unsigned char)d);
			p++;
		}
		int colon = at(lx, p) == ':';
		if (colon)
			p++;
		lx->pos = p;
		ps_tok t = mk_text(lx, PT_PARAM, s, p, sp, b.data ? (const char *)b.data : "", b.len);
		buf_free(&b);
		if (colon)
			t.flags |= PS_TF_COLON;
		return t;
	}
	return lex_word(lx, s, sp, mode);
}

/* ---- parser ----------------------------------------------------------------------------- */

typedef struct pp {
	ps_lexer lx;
	lb_arena *a;
	int depth;
	size_t *nodes;
	ps_parse_error *err;
	int failed;
	int oom;
	ps_tok la;
	int has_la;
	ps_mode la_mode;
	size_t la_pos;
} pp;

static void
fail(pp *p, lb_span sp, const char *msg)
{
	if (!p->failed) {
		p->failed = 1;
		if (p->err->msg == NULL) {
			p->err->msg = msg;
			p->err->span = sp;
		}
	}
}

static ps_tok
peek(pp *p, ps_mode m)
{
	if (p->has_la && p->la_mode == m)
		return p->la;
	if (p->has_la)
		p->lx.pos = p->la_pos;
	p->la_pos = p->lx.pos;
	p->la = ps_lex_next(&p->lx, m);
	p->la_mode = m;
	p->has_la = 1;
	if (p->lx.err && p->la.kind == PT_EOF) {
		if (p->lx.oom)
			p->oom = 1;
		fail(p, p->lx.errspan, p->lx.errmsg);
	}
	return p->la;
}

static ps_tok
next(pp *p, ps_mode m)
{
	ps_tok t = peek(p, m);
	p->has_la = 0;
	return t;
}

static ps_node *
node(pp *p, int kind, lb_span sp)
{
	if (++*p->nodes > PS_MAX_NODES) {
		p->err->too_large = 1;
		fail(p, sp, "the script is too large to analyze");
		return NULL;
	}
	ps_node *n = lb_arena_alloc(p->a, sizeof *n);
	if (n == NULL) {
		p->oom = 1;
		fail(p, sp, "out of memory");
		return NULL;
	}
	n->kind = (uint8_t)kind;
	n->span = sp;
	n->text = "";
	return n;
}

static void
add_kid(ps_node *parent, ps_node **tail, ps_node *k)
{
	if (k == NULL)
		return;
	if (*tail)
		(*tail)->next = k;
	else
		parent->kid = k;
	*tail = k;
	if (k->span.end > parent->span.end)
		parent->span.end = k->span.end;
}

static int
enter(pp *p, lb_span sp)
{
	if (++p->depth > PS_MAX_DEPTH) {
		p->err->depth_exceeded = 1;
		fail(p, sp, "nesting too deep");
		return 0;
	}
	return 1;
}

static ps_node *parse_stmts(pp *p, ps_tok_kind end);
static ps_node *parse_statement(pp *p);
static ps_node *parse_expr(pp *p);
static ps_node *parse_unary(pp *p);
static ps_node *parse_cmd_arg(pp *p);

static int
is_term(ps_tok_kind k)
{
	return k == PT_EOF || k == PT_NL || k == PT_SEMI || k == PT_PIPE || k == PT_RPAREN ||
	    k == PT_RBRACE || k == PT_ANDAND || k == PT_OROR;
}

/* Parses src[s..e) of the same source as a statement list (the inside of "$( )" in a
 * double-quoted string). */
static ps_node *
sub_parse(pp *p, size_t s, size_t e)
{
	pp q;
	memset(&q, 0, sizeof q);
	ps_lex_init(&q.lx, p->a, p->lx.src, e, p->lx.base);
	q.lx.pos = s;
	q.a = p->a;
	q.depth = p->depth + 1;
	q.nodes = p->nodes;
	q.err = p->err;
	if (q.depth > PS_MAX_DEPTH) {
		p->err->depth_exceeded = 1;
		fail(p, (lb_span){ p->lx.base + (uint32_t)s, p->lx.base + (uint32_t)e }, "nesting too deep");
		return NULL;
	}
	ps_node *r = parse_stmts(&q, PT_EOF);
	if (q.failed)
		p->failed = 1;
	if (q.oom)
		p->oom = 1;
	return r;
}

/* Expands a double-quoted body: backtick escapes, "" , $var, ${var}, $( ... ). */
static ps_node *
expand_dq(pp *p, ps_tok t)
{
	ps_node *x = node(p, PS_XSTR, t.span);
	if (x == NULL)
		return NULL;
	ps_node *tail = NULL;
	const char *src = p->lx.src;
	size_t s = t.body, e = t.body + t.len;
	buf lit;
	buf_init(&lit, t.len + 16);
	size_t lit_start = s;
	int only_lit = 1, plain_esc = 0;
	size_t i = s;
#define FLUSH_LIT() do { \
		if (lit.len) { \
			ps_node *ln = node(p, PS_STR, (lb_span){ p->lx.base + (uint32_t)lit_start, \
			    p->lx.base + (uint32_t)i }); \
			if (ln) { \
				ln->text = lb_arena_strndup(p->a, (const char *)lit.data, lit.len); \
				ln->len = lit.len; \
				if (ln->text == NULL) p->oom = 1; \
			} \
			add_kid(x, &tail, ln); \
			buf_reset(&lit); \
		} \
	} while (0)
	while (i < e && !p->failed) {
		unsigned char c = (unsigned char)src[i];
		if (c == '`' && i + 1 < e) {
			char o = src[i + 1];
			char ch = 0;
			switch (o) {
			case '0': ch = 0; break;
			case 'a': ch = 7; break;
			case 'b': ch = 8; break;
			case 'e': ch = 27; break;
			case 'f': ch = 12; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'v': ch = 11; break;
			default:
				ch = o;
				/* `E in "I`E`X" is just E: escapes of plain letters only disguise */
				if (isalpha((unsigned char)o) && o != 'u')
					plain_esc = 1;
				break;
			}
			if (o == 'u' && i + 2 < e && src[i + 2] == '{') {
				size_t j = i + 3;
				uint32_t cp = 0;
				while (j < e && isxdigit((unsigned char)src[j]) && cp < 0x110000) {
					cp = cp * 16 + (uint32_t)(isdigit((unsigned char)src[j]) ? src[j] - '0' :
					    (tolower((unsigned char)src[j]) - 'a' + 10));
					j++;
				}
				if (j < e && src[j] == '}' && cp < 0x110000) {
					char u[4];
					buf_put(&lit, u, ps_utf8_put(u, cp));
					i = j + 1;
					continue;
				}
			}
			buf_putc(&lit, (unsigned char)ch);
			i += 2;
			continue;
		}
		if (c == '"' && i + 1 < e && src[i + 1] == '"' && !(t.flags & PS_TF_HERE)) {
			buf_putc(&lit, '"');
			i += 2;
			continue;
		}
		if (c == '$' && i + 1 < e && src[i + 1] == '(') {
			size_t j = i + 2;
			/* the lexer already matched it: find the end with the same scanner */
			ps_lexer tmp = p->lx;
			tmp.len = e;
			size_t end = scan_paren_end(&tmp, j, 0);
			if (end >= e)
				end = e;
			FLUSH_LIT();
			only_lit = 0;
			ps_node *se = node(p, PS_SUBEXPR, (lb_span){ p->lx.base + (uint32_t)i,
			    p->lx.base + (uint32_t)(end < e ? end + 1 : e) });
			if (se) {
				se->kid = sub_parse(p, j, end);
				add_kid(x, &tail, se);
			}
			i = end < e ? end + 1 : e;
			lit_start = i;
			continue;
		}
		if (c == '$' && i + 1 < e && (src[i + 1] == '{' || is_name_char((unsigned char)src[i + 1]) ||
		    src[i + 1] == '$' || src[i + 1] == '?' || src[i + 1] == '^')) {
			ps_lexer tmp = p->lx;
			tmp.len = e;
			tmp.pos = i;
			tmp.err = 0;
			ps_tok v = lex_var(&tmp, i, 0, 0);
			if (tmp.oom)
				p->oom = 1;
			if (v.kind != PT_VAR)
				break;
			FLUSH_LIT();
			only_lit = 0;
			ps_node *vn = node(p, PS_VAR, v.span);
			if (vn) {
				vn->text = v.text;
				vn->len = v.len;
			}
			add_kid(x, &tail, vn);
			i = tmp.pos;
			lit_start = i;
			continue;
		}
		buf_putc(&lit, c);
		i++;
	}
	if (plain_esc)
		x->flags |= PS_F_ESCAPED;
	if (only_lit) {
		x->kind = PS_STR;
		x->text = lb_arena_strndup(p->a, lit.data ? (const char *)lit.data : "", lit.len);
		x->len = lit.len;
		if (x->text == NULL)
			p->oom = 1;
	} else {
		FLUSH_LIT();
	}
#undef FLUSH_LIT
	buf_free(&lit);
	return x;
}

static ps_node *
str_node(pp *p, ps_tok t, int bare)
{
	ps_node *n = node(p, PS_STR, t.span);
	if (n) {
		n->text = t.text;
		n->len = t.len;
		if (bare)
			n->flags |= PS_F_BARE;
		if (t.flags & PS_TF_ESCAPED)
			n->flags |= PS_F_ESCAPED;
	}
	return n;
}

/* Reads a type name after '[' up to the matching ']' (generic and array types nest). */
static ps_node *
parse_type(pp *p, ps_tok open)
{
	ps_lexer *lx = &p->lx;
	size_t s = lx->pos, i = s;
	int lvl = 1;
	while (i < lx->len) {
		char c = lx->src[i];
		if (c == '[')
			lvl++;
		else if (c == ']' && --lvl == 0)
			break;
		else if (c == '\n' && lvl == 1)
			break;
		i++;
	}
	if (i >= lx->len || lx->src[i] != ']') {
		fail(p, open.span, "unterminated type literal [");
		return NULL;
	}
	ps_node *n = node(p, PS_TYPE, (lb_span){ open.span.start, lx->base + (uint32_t)i + 1 });
	if (n) {
		buf b;
		buf_init(&b, i - s + 1);
		for (size_t k = s; k < i; k++)
			if (lx->src[k] != '`' && lx->src[k] != ' ' && lx->src[k] != '\t')
				buf_putc(&b, (unsigned char)lx->src[k]);
		n->text = lb_arena_strndup(p->a, b.data ? (const char *)b.data : "", b.len);
		n->len = b.len;
		buf_free(&b);
		if (n->text == NULL)
			p->oom = 1;
	}
	lx->pos = i + 1;
	return n;
}

/* The next entry of a { } list (a hash table's key, a switch body's pattern): skips
 * newlines and semicolons, reads a bare word as a string and anything else as an
 * expression. NULL when the list ends: at its } (list's span then ends there), at EOF
 * (failing with `unterminated`) or after a failure. */
static ps_node *
brace_entry(pp *p, ps_node *list, ps_tok open, ps_mode mode, const char *unterminated)
{
	for (;;) {
		ps_tok t = peek(p, mode);
		if (p->failed)
			return NULL;
		if (t.kind == PT_NL || t.kind == PT_SEMI) {
			next(p, mode);
			continue;
		}
		if (t.kind == PT_RBRACE) {
			next(p, mode);
			list->span.end = t.span.end;
			return NULL;
		}
		if (t.kind == PT_EOF) {
			fail(p, open.span, unterminated);
			return NULL;
		}
		if (t.kind != PT_WORD)
			return parse_unary(p);
		next(p, mode);
		return str_node(p, t, 1);
	}
}

static ps_node *
parse_hash(pp *p, ps_tok open)
{
	ps_node *h = node(p, PS_HASH, open.span);
	ps_node *tail = NULL;
	if (h == NULL)
		return NULL;
	for (;;) {
		ps_node *k = brace_entry(p, h, open, PS_MODE_EXPR, "unterminated @{");
		if (k == NULL || p->failed)
			return h;
		ps_tok eq = next(p, PS_MODE_EXPR);
		if (eq.kind != PT_OP || strcmp(eq.text, "=") != 0) {
			fail(p, eq.span, "expected = in @{ }");
			return h;
		}
		ps_node *v = parse_statement(p);
		if (v == NULL || p->failed)
			return h;
		add_kid(h, &tail, k);
		add_kid(h, &tail, v);
	}
}

static ps_node *
parse_block(pp *p, ps_tok open)
{
	ps_node *b = node(p, PS_BLOCK, open.span);
	if (b == NULL)
		return NULL;
	b->kid = parse_stmts(p, PT_RBRACE);
	if (p->failed)
		return b;
	ps_tok c = next(p, PS_MODE_CMD);
	if (c.kind != PT_RBRACE) {
		fail(p, open.span, "unterminated {");
		return b;
	}
	b->span.end = c.span.end;
	return b;
}

static ps_node *
parse_primary(pp *p)
{
	ps_tok t = peek(p, PS_MODE_EXPR);
	if (p->failed)
		return NULL;
	switch (t.kind) {
	case PT_NUM: {
		next(p, PS_MODE_EXPR);
		ps_node *n = node(p, PS_NUM, t.span);
		if (n) {
			n->text = t.text;
			n->len = t.len;
		}
		return n;
	}
	case PT_SQ:
		next(p, PS_MODE_EXPR);
		return str_node(p, t, 0);
	case PT_DQ:
		next(p, PS_MODE_EXPR);
		return expand_dq(p, t);
	case PT_VAR:
	case PT_SPLAT: {
		next(p, PS_MODE_EXPR);
		ps_node *n = node(p, PS_VAR, t.span);
		if (n) {
			n->text = t.text;
			n->len = t.len;
			if (t.kind == PT_SPLAT)
				n->flags |= PS_F_SPLAT;
			if (t.flags & PS_TF_ESCAPED)
				n->flags |= PS_F_ESCAPED;
		}
		return n;
	}
	case PT_LPAREN: {
		next(p, PS_MODE_EXPR);
		ps_node *n = node(p, PS_PAREN, t.span);
		if (n == NULL)
			return NULL;
		while (peek(p, PS_MODE_CMD).kind == PT_NL)
			next(p, PS_MODE_CMD);
		if (peek(p, PS_MODE_CMD).kind != PT_RPAREN)
			n->kid = parse_statement(p);
		if (p->failed)
			return n;
		while (peek(p, PS_MODE_CMD).kind == PT_NL || peek(p, PS_MODE_CMD).kind == PT_SEMI)
			next(p, PS_MODE_CMD);
		ps_tok c = next(p, PS_MODE_CMD);
		if (c.kind != PT_RPAREN) {
			fail(p, c.span, "expected )");
			return n;
		}
		n->span.end = c.span.end;
		return n;
	}
	case PT_SUBEXPR:
	case PT_ARRAYEXPR: {
		next(p, PS_MODE_EXPR);
		ps_node *n = node(p, PS_SUBEXPR, t.span);
		if (n == NULL)
			return NULL;
		n->kid = parse_stmts(p, PT_RPAREN);
		if (p->failed)
			return n;
		ps_tok c = next(p, PS_MODE_CMD);
		if (c.kind != PT_RPAREN) {
			fail(p, t.span, "unterminated $(");
			return n;
		}
		n->span.end = c.span.end;
		return n;
	}
	case PT_HASH:
		next(p, PS_MODE_EXPR);
		return parse_hash(p, t);
	case PT_LBRACE:
		next(p, PS_MODE_EXPR);
		return parse_block(p, t);
	case PT_WORD:
		next(p, PS_MODE_EXPR);
		return str_node(p, t, 1);
	default:
		fail(p, t.span, t.kind == PT_EOF ? "unexpected end of input" : "unexpected token");
		return NULL;
	}
}

static ps_node *
binop(pp *p, int kind, const char *op, ps_node *l, ps_node *r)
{
	ps_node *n = node(p, kind, l ? l->span : (lb_span){ 0, 0 });
	if (n == NULL)
		return NULL;
	n->text = op;
	n->len = strlen(op);
	ps_node *tail = NULL;
	add_kid(n, &tail, l);
	add_kid(n, &tail, r);
	return n;
}

/* Member access, static members, method calls and indexing after a primary. */
static ps_node *
parse_postfix(pp *p, ps_node *e)
{
	while (e && !p->failed) {
		ps_tok t = peek(p, PS_MODE_EXPR);
		if (t.flags & PS_TF_SPACE_BEFORE)
			return e;
		if (t.kind == PT_DOT || t.kind == PT_COLONCOLON) {
			next(p, PS_MODE_EXPR);
			ps_tok m = peek(p, PS_MODE_EXPR);
			ps_node *name;
			if (m.kind == PT_WORD) {
				next(p, PS_MODE_EXPR);
				name = str_node(p, m, 1);
			} else {
				name = parse_primary(p);
			}
			if (name == NULL)
				return e;
			ps_node *mem = binop(p, PS_MEMBER, t.kind == PT_DOT ? "." : "::", e, name);
			if (mem && t.kind == PT_COLONCOLON)
				mem->flags |= PS_F_STATIC;
			e = mem;
			ps_tok lp = peek(p, PS_MODE_EXPR);
			if (lp.kind == PT_LPAREN && !(lp.flags & PS_TF_SPACE_BEFORE)) {
				next(p, PS_MODE_EXPR);
				ps_node *call = binop(p, PS_CALL, "()", e, NULL);
				if (call == NULL)
					return NULL;
				ps_node *tail = e;
				while (peek(p, PS_MODE_EXPR).kind == PT_NL)
					next(p, PS_MODE_EXPR);
				if (peek(p, PS_MODE_EXPR).kind != PT_RPAREN) {
					ps_node *args = parse_expr(p);
					if (p->failed || args == NULL)
						return call;
					if (args->kind == PS_ARRAY) {
						for (ps_node *k = args->kid, *nx; k; k = nx) {
							nx = k->next;
							k->next = NULL;
							add_kid(call, &tail, k);
						}
					} else {
						add_kid(call, &tail, args);
					}
				}
				while (peek(p, PS_MODE_EXPR).kind == PT_NL)
					next(p, PS_MODE_EXPR);
				ps_tok rp = next(p, PS_MODE_EXPR);
				if (rp.kind != PT_RPAREN) {
					fail(p, rp.span, "expected ) after method arguments");
					return call;
				}
				call->span.end = rp.span.end;
				e = call;
			}
		} else if (t.kind == PT_OP && (!strcmp(t.text, "++") || !strcmp(t.text, "--"))) {
			/* $i++ */
			next(p, PS_MODE_EXPR);
			ps_node *u = node(p, PS_UNOP, e->span);
			if (u == NULL)
				return e;
			u->text = t.text[0] == '+' ? "++post" : "--post";
			u->len = 6;
			u->kid = e;
			u->span.end = t.span.end;
			e = u;
		} else if (t.kind == PT_LBRACK) {
			next(p, PS_MODE_EXPR);
			ps_node *idx = parse_expr(p);
			if (p->failed)
				return e;
			ps_tok rb = next(p, PS_MODE_EXPR);
			if (rb.kind != PT_RBRACK) {
				fail(p, rb.span, "expected ]");
				return e;
			}
			e = binop(p, PS_INDEX, "[]", e, idx);
			if (e)
				e->span.end = rb.span.end;
		} else {
			return e;
		}
	}
	return e;
}

static int
starts_operand(ps_tok t)
{
	switch (t.kind) {
	case PT_VAR: case PT_SPLAT: case PT_SQ: case PT_DQ: case PT_NUM: case PT_LPAREN:
	case PT_SUBEXPR: case PT_ARRAYEXPR: case PT_HASH: case PT_LBRACK: case PT_LBRACE:
		return 1;
	case PT_OP:
		return !strcmp(t.text, "-") || !strcmp(t.text, "!") || !strcmp(t.text, "-not") ||
		    !strcmp(t.text, "-join") || !strcmp(t.text, "-split") || !strcmp(t.text, "+") ||
		    !strcmp(t.text, "-bnot");
	default:
		return 0;
	}
}

static ps_node *
parse_unary(pp *p)
{
	ps_tok t = peek(p, PS_MODE_EXPR);
	if (p->failed)
		return NULL;
	if (!enter(p, t.span))
		return NULL;
	ps_node *r = NULL;
	if (t.kind == PT_OP && (!strcmp(t.text, "-") || !strcmp(t.text, "!") ||
	    !strcmp(t.text, "-not") || !strcmp(t.text, "-join") || !strcmp(t.text, "-split") ||
	    !strcmp(t.text, "+") || !strcmp(t.text, "-bnot") || !strcmp(t.text, "++") ||
	    !strcmp(t.text, "--") || !strcmp(t.text, ","))) {
		next(p, PS_MODE_EXPR);
		ps_node *o = parse_unary(p);
		r = node(p, PS_UNOP, t.span);
		if (r) {
			r->text = t.text;
			r->len = t.len;
			r->kid = o;
			if (o && o->span.end > r->span.end)
				r->span.end = o->span.end;
		}
	} else if (t.kind == PT_COMMA) {
		/* unary comma: ,$x makes a one-element array */
		next(p, PS_MODE_EXPR);
		ps_node *o = parse_unary(p);
		r = node(p, PS_ARRAY, t.span);
		if (r && o) {
			r->kid = o;
			r->span.end = o->span.end;
		}
	} else if (t.kind == PT_LBRACK) {
		next(p, PS_MODE_EXPR);
		ps_node *ty = parse_type(p, t);
		if (ty == NULL || p->failed)
			goto out;
		ps_tok n2 = peek(p, PS_MODE_EXPR);
		/* [Type]::Member and [Type].Member; [Attr(...)][string]$x is a chain of casts */
		if ((n2.kind == PT_COLONCOLON || n2.kind == PT_DOT) &&
		    !(n2.flags & PS_TF_SPACE_BEFORE)) {
			r = parse_postfix(p, ty);
		} else if (starts_operand(n2)) {
			ps_node *o = parse_unary(p);
			r = binop(p, PS_CAST, "cast", ty, o);
		} else {
			r = ty;
		}
	} else {
		r = parse_postfix(p, parse_primary(p));
	}
out:
	p->depth--;
	return r;
}

static ps_node *
parse_comma(pp *p)
{
	ps_node *e = parse_unary(p);
	if (e == NULL || p->failed)
		return e;
	ps_tok t = peek(p, PS_MODE_EXPR);
	if (t.kind != PT_COMMA)
		return e;
	ps_node *arr = node(p, PS_ARRAY, e->span);
	ps_node *tail = NULL;
	if (arr == NULL)
		return NULL;
	add_kid(arr, &tail, e);
	while (peek(p, PS_MODE_EXPR).kind == PT_COMMA && !p->failed) {
		next(p, PS_MODE_EXPR);
		while (peek(p, PS_MODE_EXPR).kind == PT_NL)
			next(p, PS_MODE_EXPR);
		ps_node *x = parse_unary(p);
		if (x == NULL)
			break;
		add_kid(arr, &tail, x);
	}
	return arr;
}

static int
binprec(const ps_tok *t)
{
	if (t->kind != PT_OP)
		return 0;
	const char *s = t->text;
	if (!strcmp(s, "-and") || !strcmp(s, "-or") || !strcmp(s, "-xor"))
		return 1;
	if (!strcmp(s, "-band") || !strcmp(s, "-bor") || !strcmp(s, "-bxor") ||
	    !strcmp(s, "-shl") || !strcmp(s, "-shr"))
		return 3;
	if (!strcmp(s, "+") || !strcmp(s, "-"))
		return 4;
	if (!strcmp(s, "*") || !strcmp(s, "/") || !strcmp(s, "%"))
		return 5;
	if (!strcmp(s, "-f"))
		return 6;
	if (!strcmp(s, ".."))
		return 7;
	if (!strcmp(s, "??"))
		return 1;
	if (s[0] == '-' && s[1] && strcmp(s, "-not") && strcmp(s, "-bnot"))
		return 2; /* comparison, -join, -split, -replace, -match, -is, -as ... */
	return 0;
}

static ps_node *
parse_bin(pp *p, int minp)
{
	ps_node *l = parse_comma(p);
	while (l && !p->failed) {
		ps_tok t = peek(p, PS_MODE_EXPR);
		int pr = binprec(&t);
		if (pr == 0 || pr < minp)
			break;
		next(p, PS_MODE_EXPR);
		while (peek(p, PS_MODE_EXPR).kind == PT_NL)
			next(p, PS_MODE_EXPR);
		if (!enter(p, t.span))
			return l;
		ps_node *r = parse_bin(p, pr + 1);
		p->depth--;
		if (r == NULL)
			return l;
		l = binop(p, PS_BINOP, t.text, l, r);
	}
	return l;
}

static ps_node *
parse_expr(pp *p)
{
	return parse_bin(p, 1);
}

/* One argument in command mode, with adjacent pieces (C:\"Program Files"\x, a$b) joined. */
static ps_node *
parse_cmd_piece(pp *p)
{
	ps_tok t = peek(p, PS_MODE_CMD);
	if (p->failed)
		return NULL;
	switch (t.kind) {
	case PT_WORD:
		next(p, PS_MODE_CMD);
		return str_node(p, t, 1);
	case PT_SQ:
		next(p, PS_MODE_CMD);
		return str_node(p, t, 0);
	case PT_DQ:
		next(p, PS_MODE_CMD);
		return expand_dq(p, t);
	case PT_VAR: case PT_SPLAT: case PT_LPAREN: case PT_SUBEXPR: case PT_ARRAYEXPR:
	case PT_HASH: case PT_LBRACE:
		return parse_postfix(p, parse_primary(p));
	case PT_LBRACK: {
		next(p, PS_MODE_CMD);
		/* in argument mode [x] is text, but [Type]::Member is still an expression */
		ps_node *ty = parse_type(p, t);
		if (ty == NULL)
			return NULL;
		ps_tok n2 = peek(p, PS_MODE_EXPR);
		if ((n2.kind == PT_COLONCOLON) && !(n2.flags & PS_TF_SPACE_BEFORE))
			return parse_postfix(p, ty);
		return ty;
	}
	case PT_PARAM: {
		next(p, PS_MODE_CMD);
		ps_node *n = node(p, PS_PARAM, t.span);
		if (n == NULL)
			return NULL;
		n->text = t.text;
		n->len = t.len;
		if (t.flags & PS_TF_COLON) {
			ps_tok v = peek(p, PS_MODE_CMD);
			if (!is_term(v.kind) && !(v.flags & PS_TF_SPACE_BEFORE)) {
				n->kid = parse_cmd_arg(p);
				if (n->kid)
					n->span.end = n->kid->span.end;
			}
		}
		return n;
	}
	case PT_DOT: case PT_AMP:
		next(p, PS_MODE_CMD);
		return str_node(p, (ps_tok){ PT_WORD, 0, t.span, t.kind == PT_DOT ? "." : "&", 1, 0 },
		    1);
	default:
		fail(p, t.span, "unexpected token in command arguments");
		return NULL;
	}
}

static ps_node *
parse_cmd_arg(pp *p)
{
	ps_tok t0 = peek(p, PS_MODE_CMD);
	if (!enter(p, t0.span))
		return NULL;
	ps_node *first = parse_cmd_piece(p);
	ps_node *res = first;
	if (first && first->kind != PS_PARAM && !p->failed) {
		ps_tok t = peek(p, PS_MODE_CMD);
		if (!(t.flags & PS_TF_SPACE_BEFORE) && (t.kind == PT_WORD || t.kind == PT_SQ ||
		    t.kind == PT_DQ || t.kind == PT_VAR || t.kind == PT_SUBEXPR)) {
			ps_node *x = node(p, PS_XSTR, first->span);
			ps_node *tail = NULL;
			if (x == NULL)
				goto out;
			add_kid(x, &tail, first);
			while (!p->failed) {
				t = peek(p, PS_MODE_CMD);
				if ((t.flags & PS_TF_SPACE_BEFORE) || !(t.kind == PT_WORD ||
				    t.kind == PT_SQ || t.kind == PT_DQ || t.kind == PT_VAR ||
				    t.kind == PT_SUBEXPR))
					break;
				ps_node *k = parse_cmd_piece(p);
				if (k == NULL)
					break;
				add_kid(x, &tail, k);
			}
			res = x;
		}
		/* a, b, c in argument mode is one array argument */
		if (!p->failed && peek(p, PS_MODE_CMD).kind == PT_COMMA) {
			ps_node *arr = node(p, PS_ARRAY, res->span);
			ps_node *tail = NULL;
			if (arr == NULL)
				goto out;
			add_kid(arr, &tail, res);
			while (!p->failed && peek(p, PS_MODE_CMD).kind == PT_COMMA) {
				next(p, PS_MODE_CMD);
				while (peek(p, PS_MODE_CMD).kind == PT_NL)
					next(p, PS_MODE_CMD);
				ps_node *k = parse_cmd_piece(p);
				if (k == NULL)
					break;
				add_kid(arr, &tail, k);
			}
			res = arr;
		}
	}
out:
	p->depth--;
	return res;
}

static ps_node *
parse_command(pp *p, unsigned flags, lb_span start)
{
	ps_node *c = node(p, PS_CMD, start);
	ps_node *tail = NULL;
	if (c == NULL)
		return NULL;
	c->flags = (uint8_t)flags;
	ps_node *name;
	if (flags & (PS_F_CALL | PS_F_DOT)) {
		ps_tok t = peek(p, PS_MODE_CMD);
		if (t.kind == PT_WORD || t.kind == PT_SQ || t.kind == PT_DQ)
			name = parse_cmd_arg(p);
		else
			name = parse_unary(p);
	} else {
		ps_tok t = next(p, PS_MODE_CMD);
		name = str_node(p, t, 1);
		/* C:\"Program Files"\x.exe as a command name */
		ps_tok t2 = peek(p, PS_MODE_CMD);
		if (name && !(t2.flags & PS_TF_SPACE_BEFORE) && (t2.kind == PT_SQ || t2.kind == PT_DQ)) {
			ps_node *x = node(p, PS_XSTR, name->span);
			ps_node *xt = NULL;
			if (x) {
				add_kid(x, &xt, name);
				while (!p->failed) {
					t2 = peek(p, PS_MODE_CMD);
					if ((t2.flags & PS_TF_SPACE_BEFORE) || !(t2.kind == PT_WORD ||
					    t2.kind == PT_SQ || t2.kind == PT_DQ))
						break;
					add_kid(x, &xt, parse_cmd_piece(p));
				}
				name = x;
			}
		}
	}
	if (name == NULL)
		return c;
	add_kid(c, &tail, name);
	while (!p->failed) {
		ps_tok t = peek(p, PS_MODE_CMD);
		if (is_term(t.kind))
			break;
		if (t.kind == PT_AMP) {
			next(p, PS_MODE_CMD);
			c->flags |= PS_F_BG;
			break;
		}
		if (t.kind == PT_WORD && t.len == 3 && !memcmp(t.text, "--%", 3)) {
			/* --% : the rest of the line goes to the program as written */
			next(p, PS_MODE_CMD);
			size_t st = p->lx.pos, e = st;
			while (e < p->lx.len && p->lx.src[e] != '\n' && p->lx.src[e] != '|')
				e++;
			while (st < e && (p->lx.src[st] == ' ' || p->lx.src[st] == '\t'))
				st++;
			ps_node *raw = node(p, PS_STR, (lb_span){ p->lx.base + (uint32_t)st,
			    p->lx.base + (uint32_t)e });
			if (raw) {
				raw->text = lb_arena_strndup(p->a, p->lx.src + st, e - st);
				raw->len = e - st;
				raw->flags |= PS_F_BARE;
				if (raw->text == NULL)
					p->oom = 1;
			}
			add_kid(c, &tail, raw);
			p->lx.pos = e;
			break;
		}
		if (t.kind == PT_REDIR) {
			next(p, PS_MODE_CMD);
			ps_node *r = node(p, PS_REDIR, t.span);
			if (r == NULL)
				break;
			r->text = t.text;
			r->len = t.len;
			if (strchr(t.text, '&') == NULL) {
				ps_tok v = peek(p, PS_MODE_CMD);
				if (!is_term(v.kind) && v.kind != PT_AMP) {
					r->kid = parse_cmd_arg(p);
					if (r->kid)
						r->span.end = r->kid->span.end;
				}
			}
			add_kid(c, &tail, r);
			continue;
		}
		ps_node *a = parse_cmd_arg(p);
		if (a == NULL)
			break;
		add_kid(c, &tail, a);
	}
	return c;
}

static int
word_is(ps_tok t, const char *w)
{
	return t.kind == PT_WORD && strlen(w) == t.len && !strncasecmp(t.text, w, t.len);
}

/* A pipeline element: a command, or an expression. */
static ps_node *
parse_element(pp *p)
{
	ps_tok t = peek(p, PS_MODE_CMD);
	if (p->failed)
		return NULL;
	if (t.kind == PT_AMP || t.kind == PT_DOT) {
		next(p, PS_MODE_CMD);
		return parse_command(p, t.kind == PT_AMP ? PS_F_CALL : PS_F_DOT, t.span);
	}
	if (t.kind == PT_WORD && !(isdigit((unsigned char)t.text[0]) || t.text[0] == '!' ||
	    (t.text[0] == '-' && t.len > 1) || t.text[0] == '+' || t.text[0] == '.' ||
	    (t.text[0] == '-' && t.len == 1 && 0)))
		return parse_command(p, 0, t.span);
	if (t.kind == PT_WORD && t.text[0] == '.' && t.len > 1)
		return parse_command(p, 0, t.span);
	return parse_expr(p);
}

static int
is_assign_op(ps_tok t)
{
	return t.kind == PT_OP && (!strcmp(t.text, "=") || !strcmp(t.text, "+=") ||
	    !strcmp(t.text, "-=") || !strcmp(t.text, "*=") || !strcmp(t.text, "/=") ||
	    !strcmp(t.text, "%=") || !strcmp(t.text, "?\?="));
}

static ps_node *
parse_pipeline(pp *p)
{
	ps_tok t0 = peek(p, PS_MODE_CMD);
	ps_node *pipe = node(p, PS_PIPE, t0.span);
	ps_node *tail = NULL;
	if (pipe == NULL)
		return NULL;
	ps_node *e = parse_element(p);
	if (e == NULL || p->failed) {
		add_kid(pipe, &tail, e);
		return pipe;
	}
	if (e->kind != PS_CMD) {
		ps_tok t = peek(p, PS_MODE_EXPR);
		if (is_assign_op(t)) {
			next(p, PS_MODE_EXPR);
			while (peek(p, PS_MODE_CMD).kind == PT_NL)
				next(p, PS_MODE_CMD);
			ps_node *as = node(p, PS_ASSIGN, e->span);
			ps_node *at2 = NULL;
			if (as == NULL)
				return pipe;
			as->text = t.text;
			as->len = t.len;
			add_kid(as, &at2, e);
			add_kid(as, &at2, parse_statement(p));
			return as;
		}
	}
	add_kid(pipe, &tail, e);
	while (!p->failed && peek(p, PS_MODE_CMD).kind == PT_PIPE) {
		next(p, PS_MODE_CMD);
		while (peek(p, PS_MODE_CMD).kind == PT_NL)
			next(p, PS_MODE_CMD);
		ps_node *x = parse_element(p);
		if (x == NULL)
			break;
		add_kid(pipe, &tail, x);
	}
	return pipe;
}

static const char *const keywords[] = { "if", "elseif", "else", "while", "for", "foreach",
	"do", "switch", "try", "catch", "finally", "function", "filter", "workflow", "trap",
	"return", "throw", "exit", "break", "continue", "param", "begin", "process", "end",
	"dynamicparam", "class", "enum", "data", "until", NULL };

static const char *
keyword_of(ps_tok t)
{
	if (t.kind != PT_WORD || (t.flags & PS_TF_ESCAPED))
		return NULL;
	for (size_t i = 0; keywords[i]; i++)
		if (word_is(t, keywords[i]))
			return keywords[i];
	return NULL;
}

static void
skip_nl(pp *p)
{
	while (!p->failed && peek(p, PS_MODE_CMD).kind == PT_NL)
		next(p, PS_MODE_CMD);
}

static ps_node *
parse_switch_body(pp *p, ps_tok open)
{
	ps_node *b = node(p, PS_BLOCK, open.span);
	ps_node *tail = NULL;
	if (b == NULL)
		return NULL;
	for (;;) {
		ps_node *pat = brace_entry(p, b, open, PS_MODE_CMD, "unterminated switch body");
		if (pat == NULL || p->failed)
			return b;
		add_kid(b, &tail, pat);
		ps_tok ob = next(p, PS_MODE_CMD);
		if (ob.kind != PT_LBRACE) {
			fail(p, ob.span, "expected { in switch body");
			return b;
		}
		add_kid(b, &tail, parse_block(p, ob));
	}
}

static ps_node *
parse_keyword(pp *p, const char *kw)
{
	ps_tok t = next(p, PS_MODE_CMD);
	ps_node *k = node(p, PS_KEYWORD, t.span);
	ps_node *tail = NULL;
	if (k == NULL)
		return NULL;
	k->text = kw;
	k->len = strlen(kw);
	if (!strcmp(kw, "return") || !strcmp(kw, "throw") || !strcmp(kw, "exit") ||
	    !strcmp(kw, "break") || !strcmp(kw, "continue")) {
		ps_tok v = peek(p, PS_MODE_CMD);
		if (!is_term(v.kind))
			add_kid(k, &tail, parse_statement(p));
		return k;
	}
	const char *cur = kw;
	for (int guard = 0; guard < 10000 && !p->failed; guard++) {
		ps_tok x = peek(p, PS_MODE_CMD);
		if (x.kind == PT_LPAREN) {
			next(p, PS_MODE_CMD);
			skip_nl(p);
			if (!strcmp(cur, "foreach")) {
				ps_node *v = parse_unary(p);
				add_kid(k, &tail, v);
				skip_nl(p);
				ps_tok in = next(p, PS_MODE_CMD);
				if (!word_is(in, "in")) {
					fail(p, in.span, "expected 'in' in foreach");
					return k;
				}
				add_kid(k, &tail, parse_statement(p));
			} else if (!strcmp(cur, "for") || !strcmp(cur, "param") ||
			    !strcmp(cur, "function") || !strcmp(cur, "filter")) {
				ps_node *s = parse_stmts(p, PT_RPAREN);
				add_kid(k, &tail, s);
			} else if (peek(p, PS_MODE_CMD).kind != PT_RPAREN) {
				add_kid(k, &tail, parse_statement(p));
			}
			if (p->failed)
				return k;
			skip_nl(p);
			ps_tok c = next(p, PS_MODE_CMD);
			if (c.kind != PT_RPAREN) {
				fail(p, c.span, "expected )");
				return k;
			}
			k->span.end = c.span.end;
			continue;
		}
		if (x.kind == PT_LBRACE) {
			next(p, PS_MODE_CMD);
			ps_node *b = !strcmp(cur, "switch") ? parse_switch_body(p, x) : parse_block(p, x);
			add_kid(k, &tail, b);
			if (p->failed)
				return k;
			/* else / elseif / catch / finally / while (do) may follow on later lines */
			size_t save_pos = p->has_la ? p->la_pos : p->lx.pos;
			p->has_la = 0;
			p->lx.pos = save_pos;
			ps_tok y;
			for (;;) {
				y = peek(p, PS_MODE_CMD);
				if (y.kind != PT_NL)
					break;
				next(p, PS_MODE_CMD);
			}
			const char *ky = keyword_of(y);
			if (ky && (!strcmp(ky, "else") || !strcmp(ky, "elseif") || !strcmp(ky, "catch") ||
			    !strcmp(ky, "finally") || (!strcmp(cur, "do") && (!strcmp(ky, "while") ||
			    !strcmp(ky, "until"))))) {
				next(p, PS_MODE_CMD);
				cur = ky;
				continue;
			}
			/* not a continuation: back to just after the block */
			p->has_la = 0;
			p->lx.pos = save_pos;
			return k;
		}
		if (x.kind == PT_PARAM) {
			next(p, PS_MODE_CMD);
			continue; /* switch -Regex, -File */
		}
		if (x.kind == PT_LBRACK) {
			next(p, PS_MODE_CMD);
			add_kid(k, &tail, parse_type(p, x));
			continue;
		}
		if (x.kind == PT_WORD || x.kind == PT_COMMA || (x.kind == PT_NL &&
		    (!strcmp(cur, "catch")))) {
			next(p, PS_MODE_CMD);
			if (x.kind == PT_WORD)
				add_kid(k, &tail, str_node(p, x, 1));
			continue;
		}
		if (x.kind == PT_NL && (!strcmp(cur, "function") || !strcmp(cur, "filter") ||
		    !strcmp(cur, "class") || !strcmp(cur, "enum") || !strcmp(cur, "try") ||
		    !strcmp(cur, "finally") || !strcmp(cur, "else") || !strcmp(cur, "do") ||
		    !strcmp(cur, "begin") || !strcmp(cur, "process") || !strcmp(cur, "end"))) {
			next(p, PS_MODE_CMD);
			continue;
		}
		if (x.kind == PT_VAR || x.kind == PT_SQ || x.kind == PT_DQ) {
			/* switch -File path, data -SupportedCommand ... */
			add_kid(k, &tail, parse_unary(p));
			continue;
		}
		break;
	}
	return k;
}

static ps_node *
parse_statement(pp *p)
{
	ps_tok t = peek(p, PS_MODE_CMD);
	if (p->failed)
		return NULL;
	if (!enter(p, t.span))
		return NULL;
	ps_node *r;
	const char *kw = keyword_of(t);
	if (kw) {
		r = parse_keyword(p, kw);
	} else {
		r = parse_pipeline(p);
		while (r && !p->failed) {
			ps_tok o = peek(p, PS_MODE_CMD);
			if (o.kind != PT_ANDAND && o.kind != PT_OROR)
				break;
			next(p, PS_MODE_CMD);
			skip_nl(p);
			ps_node *rhs = parse_pipeline(p);
			r = binop(p, PS_CHAIN, o.kind == PT_ANDAND ? "&&" : "||", r, rhs);
		}
	}
	p->depth--;
	return r;
}

static ps_node *
parse_stmts(pp *p, ps_tok_kind end)
{
	ps_tok t0 = peek(p, PS_MODE_CMD);
	ps_node *list = node(p, PS_STMTS, t0.span);
	ps_node *tail = NULL;
	if (list == NULL)
		return NULL;
	for (;;) {
		ps_tok t = peek(p, PS_MODE_CMD);
		if (p->failed)
			return list;
		if (t.kind == PT_NL || t.kind == PT_SEMI) {
			next(p, PS_MODE_CMD);
			continue;
		}
		if (t.kind == PT_EOF || t.kind == end)
			return list;
		ps_node *s = parse_statement(p);
		add_kid(list, &tail, s);
		if (p->failed)
			return list;
		t = peek(p, PS_MODE_CMD);
		if (!(t.kind == PT_NL || t.kind == PT_SEMI || t.kind == PT_EOF || t.kind == end)) {
			fail(p, t.span, "unexpected token after a statement");
			return list;
		}
	}
}

int
ps_parse(lb_arena *a, const char *src, size_t len, uint32_t base, ps_node **out,
    ps_parse_error *err)
{
	pp p;
	size_t nodes = 0;
	memset(&p, 0, sizeof p);
	memset(err, 0, sizeof *err);
	ps_lex_init(&p.lx, a, src, len, base);
	p.a = a;
	p.nodes = &nodes;
	p.err = err;
	ps_node *root = node(&p, PS_STMTS, (lb_span){ base, base + (uint32_t)len });
	ps_node *tail = NULL;
	if (root == NULL)
		return ESC_ENOMEM;
	/* at the top level a statement that does not parse is skipped up to the next line,
	 * so one bad line does not hide the rest of a script */
	while (p.lx.pos < len || p.has_la) {
		ps_node *s = parse_stmts(&p, PT_EOF);
		if (s && s->kid) {
			add_kid(root, &tail, s);
		}
		if (p.oom)
			break;
		if (!p.failed)
			break;
		if (err->depth_exceeded || err->too_large || p.lx.err)
			break;
		size_t resume = p.has_la ? p.la_pos : p.lx.pos;
		const char *nl = memchr(src + resume, '\n', len - resume);
		if (nl == NULL)
			break;
		p.has_la = 0;
		p.failed = 0;
		p.depth = 0;
		p.lx.pos = (size_t)(nl - src) + 1;
	}
	root->span = (lb_span){ base, base + (uint32_t)len };
	*out = root;
	if (p.oom)
		return ESC_ENOMEM;
	return err->msg ? ESC_EPARSE : 0;
}
