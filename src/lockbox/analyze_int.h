/* analyze_int.h — lockbox internals shared by analyze.c (the walk over the AST and the
 * per-program logic), scan.c (text scanners: inline code, UTF-8, paths) and result.c
 * (scoring, explanation, JSON and terminal rendering). Not a public interface. */
#ifndef ESCORT_LOCKBOX_ANALYZE_INT_H
#define ESCORT_LOCKBOX_ANALYZE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lockbox/ast.h"
#include "lockbox/kb.h"
#include "lockbox/lockbox.h"

struct lockbox {
	kb *k;
	struct winkb *wk; /* rules/windows (pwsh.h); NULL when absent */
	struct sigma_set *sigma; /* Sigma rules (sigma.h); NULL when none loaded */
};

typedef struct lbx_effect {
	const char *type;   /* "file-read", "file-write", "exec", "network-connect", ... */
	const char *target;
	struct lbx_effect *next;
} lbx_effect;

typedef struct lbx_cmd {
	const char *program;
	const char **argv;
	size_t argc;
	lbx_effect *fx, *fx_tail;
	size_t nfx;
	lb_span span;
	struct lbx_cmd *next;
} lbx_cmd;

typedef struct lbx_finding {
	const char *id;
	int sev;            /* lockbox_risk */
	int cat;            /* kb_cat */
	const char *message;
	lb_span span;
	struct lbx_finding *next;
} lbx_finding;

typedef struct lbx_sentence {
	const char *text;
	int prio;           /* higher first */
	uint32_t order;
	struct lbx_sentence *next;
} lbx_sentence;

/* What lockbox recovered from a disguised record: decoded text or the record with its
 * disguises undone, how, and which findings came from analyzing it. */
typedef struct lbx_deob {
	const char *text;
	size_t len;
	const char *via;    /* steps, " | "-separated ("echo | base64 -d | sh") */
	lb_span span;
	size_t f0, f1;      /* its findings: positions [f0, f1) in the findings list */
	struct lbx_deob *next;
} lbx_deob;

#define LBX_MAX_ATTACK 48
#define LBX_MAX_SHOWN_CMDS 1000 /* commands listed in the JSON and the terminal view */

struct lockbox_result {
	lb_arena *a;
	const char *input;  /* copy of the record (may hold NUL bytes) */
	size_t len;
	const char *shell;
	int risk;
	int score;
	int opaque;
	kb_cats cats;
	const char *attack[LBX_MAX_ATTACK];
	size_t nattack;
	lbx_cmd *cmds, *cmds_tail;
	size_t ncmds;
	lbx_finding *findings, *findings_tail;
	size_t nfindings;
	lbx_sentence *sentences, *sentences_tail;
	size_t nsentences;
	lbx_deob *deob, *deob_tail; /* recovered text, in the order found */
	size_t ndeob;
	uint32_t nrisk_at[5];   /* how many contributions at each level (for the score) */
	int bad_utf8;           /* the input holds invalid UTF-8 */
	int oom;
};

/* ---- result building (result.c) --------------------------------------------------- */

void lbx_add_risk(lockbox_result *r, int risk, kb_cats cats, const kb_strs *attack);
void lbx_add_attack(lockbox_result *r, const char *id);
lbx_finding *lbx_add_finding(lockbox_result *r, const char *id, int sev, int cat,
    lb_span span, const char *msg);
void lbx_add_sentence(lockbox_result *r, const char *text, int prio);
lbx_cmd *lbx_add_cmd(lockbox_result *r, const char *program, lb_span span);
void lbx_add_effect(lockbox_result *r, lbx_cmd *c, const char *type, const char *target);
void lbx_finalize(lockbox_result *r);
lbx_deob *lbx_add_deob(lockbox_result *r, const char *text, size_t len, const char *via,
    lb_span span);
char *lbx_printf(lb_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An empty arena for a new result: the one the last freed result left, or a new one. */
lb_arena *lbx_arena_get(void);

/* ---- text scanning (scan.c) --------------------------------------------------------- */

/* Flags found by lbx_scan_code in inline interpreter code or other program text. */
enum {
	LBX_CODE_SHELL = 1u << 0,   /* runs a shell or a command (system, exec, subprocess) */
	LBX_CODE_SOCKET = 1u << 1,  /* opens network connections */
	LBX_CODE_LIBLOAD = 1u << 2, /* loads a native library */
	LBX_CODE_SETUID = 1u << 3,  /* changes uid/gid */
	LBX_CODE_HTTP = 1u << 4,    /* fetches URLs */
	LBX_CODE_FILEWRITE = 1u << 5, /* writes files */
	LBX_CODE_LISTEN = 1u << 6,  /* listens for connections */
	LBX_CODE_SHPATH = 1u << 7,  /* mentions a shell binary (/bin/sh) */
	LBX_CODE_PTY = 1u << 8,     /* pty.spawn and the like */
	LBX_CODE_DECODE = 1u << 9,  /* base64/hex decoding then running */
	LBX_CODE_EVAL = 1u << 10    /* eval / exec of built strings */
};
unsigned lbx_scan_code(const char *s, size_t n);
/* True when the text mentions a shell binary path or shell invocation. */
int lbx_mentions_shell(const char *s, size_t n);
/* True when name (a basename) is a shell: sh, bash, dash, zsh, ksh, ash, ... */
int lbx_is_shell_name(const char *name);
/* Normalizes a path for matching: collapses //, /./, /../, trailing /; home forms
 * (~, ~user, $HOME, ${HOME}) become /root or /home/USER ("~" for any user). Returns an
 * arena string; relative paths stay relative. */
char *lbx_norm_path(lb_arena *a, const char *p);
/* Valid UTF-8 check and deceptive-character scan. Returns bits below. */
enum {
	LBX_TXT_CONTROL = 1u << 0,  /* C0 control (not \t \n) or DEL or C1 */
	LBX_TXT_BIDI = 1u << 1,     /* U+202A..U+202E, U+2066..U+2069, U+200E/F, U+061C */
	LBX_TXT_ZEROWIDTH = 1u << 2,/* U+200B..U+200D, U+2060, U+FEFF, U+00AD */
	LBX_TXT_BADUTF8 = 1u << 3,
	LBX_TXT_NUL = 1u << 4,
	LBX_TXT_CR = 1u << 5,       /* carriage return (can hide text on a terminal) */
	LBX_TXT_HOMOGLYPH = 1u << 6, /* look-alike letters inside Latin words, look-alike
	                              * punctuation (dashes, slashes) */
	LBX_TXT_ANSI = 1u << 7,     /* ESC: ANSI / OSC terminal escape sequences */
	LBX_TXT_CR_OVER = 1u << 8,  /* a carriage return not ending a line: overwrites */
	LBX_TXT_BLANKS = 1u << 9    /* a run of blanks that pushes text off the screen */
};
#define LBX_TXT_KINDS 10
/* Blank columns after which following text counts as pushed off a normal screen. */
#define LBX_BLANK_RUN 64
/* Scans s[0..n) and reports the first offending span of each kind in first[bit index]
 * (first has LBX_TXT_KINDS entries, or is NULL). */
unsigned lbx_scan_text(const char *s, size_t n, lb_span *first_span);
/* Length of the valid UTF-8 sequence at s (1..4) or 0 when invalid; *cp gets it. */
size_t lbx_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);
/* Is cp a deceptive code point (bidi control, zero-width, ...)? */
int lbx_cp_deceptive(uint32_t cp);

#endif
