/* pwsh.h — lockbox for Windows: the PowerShell tokenizer and parser, the cmd.exe line
 * splitter, the decoders used to see through obfuscation (-EncodedCommand, base64, char
 * codes), the Windows knowledge base (rules/windows/ *.yaml) and the analysis entry point.
 * Internal to src/lockbox; the public face stays lockbox.h (lockbox_analyze with shell
 * "powershell", "pwsh" or "cmd"). */
#ifndef ESCORT_LOCKBOX_PWSH_H
#define ESCORT_LOCKBOX_PWSH_H

#include <stddef.h>
#include <stdint.h>

#include "lockbox/ast.h"
#include "lockbox/kb.h"
#include "lockbox/lockbox.h"
#include "util/buf.h"

/* ---- tokens ------------------------------------------------------------------------ */

typedef enum ps_tok_kind {
	PT_EOF,
	PT_NL,        /* newline */
	PT_SEMI,      /* ; */
	PT_PIPE,      /* | */
	PT_AMP,       /* & (call operator or background) */
	PT_ANDAND,    /* && */
	PT_OROR,      /* || */
	PT_LPAREN,
	PT_RPAREN,
	PT_LBRACE,
	PT_RBRACE,
	PT_SUBEXPR,   /* $( */
	PT_ARRAYEXPR, /* @( */
	PT_HASH,      /* @{ */
	PT_LBRACK,    /* [ (expression mode: a type literal or an index) */
	PT_RBRACK,
	PT_COMMA,
	PT_DOT,       /* . (member access, or dot-sourcing in command position) */
	PT_COLONCOLON,
	PT_SQ,        /* '...' or @'...'@: text = value */
	PT_DQ,        /* "..." or @"..."@: text = raw body (expanded by the parser) */
	PT_VAR,       /* $name ${name} $env:x: text = name */
	PT_SPLAT,     /* @name */
	PT_NUM,
	PT_PARAM,     /* command mode -Name or -Name: (text = Name, colon flag) */
	PT_OP,        /* operator: text = lower-cased spelling ("-f", "+", "=", "-join") */
	PT_WORD,      /* bare word; text = value with backtick escapes removed */
	PT_REDIR      /* > >> 2> 2>&1 *> < : text = spelling */
} ps_tok_kind;

#define PS_TF_SPACE_BEFORE 0x01u /* whitespace (or a comment) preceded the token */
#define PS_TF_COLON        0x02u /* PARAM written -Name: (the value follows) */
#define PS_TF_HERE         0x04u /* SQ/DQ: here-string */
#define PS_TF_ESCAPED      0x08u /* WORD/VAR: the spelling held backtick escapes */

typedef struct ps_tok {
	ps_tok_kind kind;
	unsigned flags;
	lb_span span;
	const char *text; /* arena, NUL-terminated */
	size_t len;
	uint32_t body;    /* DQ: offset of the raw body in the lexer's source */
} ps_tok;

typedef enum ps_mode { PS_MODE_CMD, PS_MODE_EXPR } ps_mode;

typedef struct ps_lexer {
	lb_arena *a;
	const char *src;
	size_t len;
	size_t pos;
	uint32_t base;  /* added to spans (a nested source inside a larger record) */
	int oom;
	int err;        /* nonzero after a lexical error (unterminated string, ...) */
	const char *errmsg;
	lb_span errspan;
} ps_lexer;

void ps_lex_init(ps_lexer *lx, lb_arena *a, const char *src, size_t len, uint32_t base);
/* Reads the next token in the given mode. Never fails hard: at a lexical error it sets
 * lx->err and returns PT_EOF. */
ps_tok ps_lex_next(ps_lexer *lx, ps_mode mode);

/* ---- syntax tree --------------------------------------------------------------------- */

typedef enum ps_kind {
	PS_STMTS,    /* statement list: kids */
	PS_PIPE,     /* pipeline: kids = elements (PS_CMD or expressions) */
	PS_CMD,      /* command: kids = name element, then arguments; flags PS_F_CALL/DOT */
	PS_ASSIGN,   /* text = operator; kids = target, value */
	PS_KEYWORD,  /* if/foreach/function/...: text = keyword; kids = parts */
	PS_CHAIN,    /* a && b / a || b: text = operator; kids = left, right */
	PS_STR,      /* literal string: text = value; PS_F_BARE for a bare word */
	PS_XSTR,     /* expandable string: kids = parts (PS_STR, PS_VAR, PS_SUBEXPR) */
	PS_NUM,      /* text = spelling */
	PS_VAR,      /* text = name; PS_F_SPLAT for @name */
	PS_PARAM,    /* -Name: text = Name; kid = value written -Name:value */
	PS_REDIR,    /* text = operator; kid = target */
	PS_TYPE,     /* [Type]: text = the type name */
	PS_ARRAY,    /* a, b, c: kids */
	PS_HASH,     /* @{ k = v }: kids = key, value, key, value ... */
	PS_PAREN,    /* ( pipeline ): kid */
	PS_SUBEXPR,  /* $( ... ) or @( ... ): kid = PS_STMTS */
	PS_BLOCK,    /* { ... }: kid = PS_STMTS */
	PS_BINOP,    /* text = operator; kids = left, right */
	PS_UNOP,     /* text = operator; kid */
	PS_CAST,     /* kids = PS_TYPE, operand */
	PS_MEMBER,   /* kids = object, name (PS_STR or an expression); PS_F_STATIC for :: */
	PS_CALL,     /* kids = PS_MEMBER, arguments */
	PS_INDEX     /* kids = object, index */
} ps_kind;

#define PS_F_CALL    0x01u /* & cmd */
#define PS_F_DOT     0x02u /* . cmd (dot-sourcing) */
#define PS_F_SPLAT   0x04u
#define PS_F_BARE    0x08u
#define PS_F_STATIC  0x10u
#define PS_F_ESCAPED 0x20u /* backtick escapes in the spelling (i`e`x) */
#define PS_F_BG      0x40u /* pipeline ends with & (background job) */

typedef struct ps_node {
	uint8_t kind;
	uint8_t flags;
	lb_span span;
	const char *text;
	size_t len;
	struct ps_node *kid;  /* first child */
	struct ps_node *next; /* next sibling */
} ps_node;

#define PS_MAX_DEPTH 100
#define PS_MAX_NODES 200000

typedef struct ps_parse_error {
	const char *msg;
	lb_span span;
	int depth_exceeded;
	int too_large;
} ps_parse_error;

/* Parses src into a PS_STMTS tree in arena a. Returns 0, ESC_ENOMEM, or ESC_EPARSE with
 * *err set (the tree built so far is still returned in *out, possibly partial). */
int ps_parse(lb_arena *a, const char *src, size_t len, uint32_t base, ps_node **out,
    ps_parse_error *err);

/* ---- cmd.exe -------------------------------------------------------------------------- */

typedef struct cmd_word {
	const char *text;  /* quotes and ^ escapes removed (arena) */
	size_t len;
	lb_span span;
	int quoted;
	int has_var;       /* holds %VAR% or !VAR! */
} cmd_word;

typedef struct cmd_cmd {
	cmd_word *w;
	size_t n;
	lb_span span;
	const char *op;    /* operator that follows: "&", "&&", "||", "|" or NULL */
	const char *redir_out; /* last > or >> target, or NULL */
} cmd_cmd;

/* Splits one cmd.exe line into commands and words. Returns the count, or <0 (ESC_ENOMEM).
 * At most max commands are returned; *ncut gets how many were dropped. */
int cmd_split(lb_arena *a, const char *src, size_t len, uint32_t base, cmd_cmd *out,
    size_t max, size_t *ncut);

/* ---- decoding ------------------------------------------------------------------------- */

/* Decodes base64 (standard or URL alphabet, blanks skipped, padding optional). Returns an
 * arena buffer (NUL-terminated) and its length in *n, or NULL when the text is not
 * base64. */
unsigned char *ps_b64_decode(lb_arena *a, const char *s, size_t len, size_t *n);
/* UTF-16LE bytes to UTF-8 (unpaired surrogates become U+FFFD). NULL when n is odd or on
 * allocation failure. */
char *ps_utf16le_to_utf8(lb_arena *a, const unsigned char *p, size_t n, size_t *outn);
/* powershell -EncodedCommand text: base64 of UTF-16LE. NULL when it is not that. */
char *ps_decode_encoded_command(lb_arena *a, const char *s, size_t len, size_t *outn);
/* Appends UTF-8 for code point cp to a fixed buffer; returns bytes written (1..4). */
size_t ps_utf8_put(char *out, uint32_t cp);
/* PowerShell's -f format: fmt with {N} / {N,w} / {N:x} items filled from args. NULL when
 * an index is out of range or the format is malformed. */
char *ps_format(lb_arena *a, const char *fmt, size_t flen, const char *const *args,
    const size_t *alens, size_t nargs, size_t *outn);

/* ---- the Windows knowledge base -------------------------------------------------------- */

typedef struct winkb winkb;

/* Loads rules_dir/windows/ *.yaml in name order, then DIR/windows/ *.yaml of every extra
 * directory (NULL-terminated, may be NULL); a later entry of the same name wins. A missing
 * directory is an empty base. Errors name file:line:col. */
int winkb_load(winkb **out, const char *rules_dir, const char *const *extra, buf *err);
int winkb_new(winkb **out);
int winkb_load_string(winkb *w, const char *name, const char *text, size_t len, buf *err);
int winkb_finish(winkb *w, buf *err);
void winkb_free(winkb *w);
size_t winkb_count(const winkb *w);

typedef enum wk_access { WK_X_NONE, WK_X_READ, WK_X_WRITE, WK_X_DELETE, WK_X_EXEC } wk_access;

/* A conditional rule: when an argument (arg globs) or the whole command line (line globs)
 * matches, or a parameter is present (params). */
typedef struct wk_when {
	kb_strs args;
	kb_strs line;
	kb_strs params;
	int8_t risk;
	kb_cats cats;
	kb_strs attack;
	const char *id;
	const char *message;
	const char *explain;
	int8_t readonly;   /* with it the command only reads (1) */
} wk_when;

typedef struct wk_spec {
	const char *name;
	const char *file;
	kb_strs aliases;
	const char *describe;
	const char *explain;
	int8_t risk;
	int8_t access;     /* wk_access of its operands */
	int8_t readonly;
	kb_cats cats;
	kb_strs attack;
	const char *handler; /* built-in logic: iex, powershell, cmd, start-process, ... */
	wk_when *when;
	uint16_t nwhen;
} wk_spec;

typedef struct wk_verb {
	kb_strs verbs;
	int8_t risk;
	int8_t access;
	int8_t readonly;
	kb_cats cats;
	const char *explain;
} wk_verb;

typedef struct wk_sens {
	kb_strs match;
	const char *describe;
	int8_t risk[5];    /* per wk_access, KB_RISK_UNSET when absent */
	kb_cats cats[5];
	kb_strs attack[5];
} wk_sens;

typedef struct wk_sig {
	kb_strs match;     /* case-insensitive substrings */
	const char *id;
	int8_t risk;
	kb_cats cats;
	kb_strs attack;
	const char *message;
	int8_t opaque;
} wk_sig;

/* Spec for a command name (case-insensitive; ".exe" and a directory are stripped by the
 * caller), following aliases. NULL when unknown. */
const wk_spec *winkb_lookup(const winkb *w, const char *name, size_t n);
/* The verb rule for a Verb-Noun name, or NULL. */
const wk_verb *winkb_verb(const winkb *w, const char *name, size_t n);
/* Sensitive-location entries matching the (lower-cased) argument; returns the count. */
size_t winkb_sensitive(const winkb *w, const char *lc, const wk_sens **out, size_t max);
size_t winkb_sigs(const winkb *w, const wk_sig **out);
/* Scans lower-cased text once for every signature: pos[i] (one per signature) gets the
 * offset of signature i's first match, n for a glob match, or -1. */
void winkb_sig_scan(const winkb *w, const char *lc, size_t n, int64_t *pos);

/* Case-insensitive glob (* and ?) match of a lower-cased string against a pattern. */
int wk_glob(const char *pat, const char *s, size_t n);

/* ---- analysis ---------------------------------------------------------------------------- */

/* Analyzes a record as PowerShell (shell "powershell"/"pwsh") or cmd.exe ("cmd"). */
int pwsh_analyze(const winkb *w, const char *src, size_t len, const char *shell,
    lockbox_result **out);

#endif
