/* ast.h — the bash syntax tree lockbox parses into, and the arena that owns it.
 * Every node carries the byte span [start, end) of the source it came from, so findings
 * can point at the exact text. All nodes, words and strings live in one lb_arena and are
 * freed together; nothing in the tree is freed on its own. */
#ifndef ESCORT_LOCKBOX_AST_H
#define ESCORT_LOCKBOX_AST_H

#include <stddef.h>
#include <stdint.h>

/* ---- arena ------------------------------------------------------------------------- */

typedef struct lb_arena lb_arena;

/* Creates an arena; NULL on allocation failure. */
lb_arena *lb_arena_new(void);
/* Frees every allocation made from the arena, then the arena. NULL-safe. */
void lb_arena_free(lb_arena *a);
/* Forgets all allocations but keeps the first block for reuse (fast per-record reset). */
void lb_arena_reset(lb_arena *a);
/* Zeroed, 16-byte aligned memory owned by the arena; NULL when out of memory or when the
 * arena's total would exceed its cap (LB_ARENA_MAX, or lower with lb_arena_set_max). */
void *lb_arena_alloc(lb_arena *a, size_t n);
/* Copies n bytes into the arena and NUL-terminates them. */
char *lb_arena_strndup(lb_arena *a, const char *s, size_t n);
/* Like lb_arena_alloc but NOT zeroed and aligned to `align` (a power of two up to 16;
 * anything else means 16): for buffers the caller fills completely, such as string
 * copies, and for structs the caller clears itself. */
void *lb_arena_alloc_raw(lb_arena *a, size_t n, size_t align);
/* Returns the last n bytes of an allocation ending at p+n to the arena when nothing was
 * allocated after them (else does nothing): for a caller that reserved more than it used. */
void lb_arena_give_back(lb_arena *a, void *p, size_t n);
/* Caps the arena's block storage at `max` bytes (0 or more than LB_ARENA_MAX means
 * LB_ARENA_MAX, the default). The cap survives lb_arena_reset. An allocation that would
 * pass it returns NULL and sets the flag lb_arena_capped reports; lb_parse then fails
 * with ESC_ETOOBIG, so a caller can bound what one parse may cost. */
void lb_arena_set_max(lb_arena *a, size_t max);
/* Bytes handed out (alignment padding included) since creation or the last reset. */
size_t lb_arena_used(const lb_arena *a);
/* Nonzero when an allocation failed because of the cap since creation or the last reset. */
int lb_arena_capped(const lb_arena *a);

#define LB_ARENA_MAX ((size_t)512 * 1024 * 1024)

/* ---- spans ------------------------------------------------------------------------- */

typedef struct lb_span {
	uint32_t start; /* byte offset of the first byte */
	uint32_t end;   /* byte offset one past the last byte */
} lb_span;

/* ---- words ------------------------------------------------------------------------- */

/* A word is a sequence of parts. Quote removal and escape decoding are already done in
 * `text` of literal parts, so `c""at` is LIT "c", DQUOTE{}, LIT "at". */
typedef enum lb_part_kind {
	LB_P_LIT,       /* unquoted literal text, backslash escapes decoded; text = value */
	LB_P_SQUOTE,    /* '...'; text = content */
	LB_P_ANSIC,     /* $'...'; text = decoded bytes (may contain NUL: use len) */
	LB_P_LOCALE,    /* $"..."; parts = inner parts as for DQUOTE */
	LB_P_DQUOTE,    /* "..."; parts = inner parts (LIT, PARAM, CMDSUB, BACKTICK, ARITH) */
	LB_P_PARAM,     /* $name, $1, $@, ${...}; text = parameter name ("IFS", "1", "@");
	                 * op = the operator text after the name in ${...} (":-", "#", "/", ...)
	                 * or NULL; word = the operand word of the operator, or NULL;
	                 * flags: LB_PF_BRACED, LB_PF_LENGTH (${#x}), LB_PF_INDIRECT (${!x}),
	                 * LB_PF_SUBSCRIPT (x[...], subscript text in `sub`) */
	LB_P_CMDSUB,    /* $( ... ); sub = parsed body (may be NULL if empty, or when a
	                 * `$((` that is not arithmetic holds text that does not parse) */
	LB_P_BACKTICK,  /* ` ... `; sub = parsed body (NULL when the text does not parse:
	                 * bash parses backquotes only when it runs them) */
	LB_P_PROCSUB_IN,  /* <( ... ); sub = parsed body */
	LB_P_PROCSUB_OUT, /* >( ... ); sub = parsed body */
	LB_P_ARITH,     /* $(( ... )) or $[ ... ]; text = expression source; sub may hold a
	                 * LB_N_SCRIPT of command substitutions found inside, or NULL */
	LB_P_GLOB,      /* an unquoted glob metacharacter run: *, ?, [...], or extglob
	                 * ?(..) *(..) +(..) @(..) !(..); text = source */
	LB_P_BRACE,     /* unquoted brace expansion {a,b} or {1..9}; text = source;
	                 * parts = one LB_P_DQUOTE-like container per alternative is NOT built:
	                 * alternatives are in `alts` (array of words, nalts) */
	LB_P_TILDE      /* leading ~ or ~user; text = user name or "" */
} lb_part_kind;

#define LB_PF_BRACED    0x01u
#define LB_PF_LENGTH    0x02u
#define LB_PF_INDIRECT  0x04u
#define LB_PF_SUBSCRIPT 0x08u

struct lb_node;
struct lb_word;

typedef struct lb_part {
	lb_part_kind kind;
	lb_span span;
	const char *text;   /* NUL-terminated, arena-owned; see kind */
	size_t len;         /* bytes in text (text may contain NUL for ANSIC) */
	const char *op;     /* PARAM: operator, or NULL */
	const char *sub_text; /* PARAM: subscript text when LB_PF_SUBSCRIPT */
	unsigned flags;
	struct lb_part *parts;  /* DQUOTE, LOCALE: inner parts */
	struct lb_word *word;   /* PARAM: operand of the operator */
	struct lb_word **alts;  /* BRACE: alternatives ({a,b} → 2 words; sequences → NULL) */
	size_t nalts;
	struct lb_node *sub;    /* CMDSUB, BACKTICK, PROCSUB_*, ARITH: parsed body */
	struct lb_part *next;
} lb_part;

#define LB_WF_QUOTED   0x01u /* some part is quoted (', ", $', $") */
#define LB_WF_EXPAND   0x02u /* some part is a parameter expansion */
#define LB_WF_CMDSUB   0x04u /* some part runs a command (CMDSUB, BACKTICK, PROCSUB) */
#define LB_WF_GLOB     0x08u /* some unquoted part is a glob */
#define LB_WF_BRACE    0x10u /* some unquoted part is a brace expansion */
#define LB_WF_TILDE    0x20u /* starts with a tilde expansion */
#define LB_WF_ARITH    0x40u /* some part is an arithmetic expansion */

typedef struct lb_word {
	lb_span span;
	unsigned flags;  /* LB_WF_* */
	lb_part *parts;
	struct lb_word *next;
} lb_word;

/* ---- redirections ------------------------------------------------------------------ */

typedef enum lb_redir_op {
	LB_R_IN,          /* <    */
	LB_R_OUT,         /* >    */
	LB_R_APPEND,      /* >>   */
	LB_R_CLOBBER,     /* >|   */
	LB_R_INOUT,       /* <>   */
	LB_R_DUP_IN,      /* <&   (target "-" closes) */
	LB_R_DUP_OUT,     /* >&   (target "-" closes; `>& file` with a non-number writes) */
	LB_R_OUT_ERR,     /* &>   */
	LB_R_APPEND_ERR,  /* &>>  */
	LB_R_HEREDOC,     /* <<   */
	LB_R_HEREDOC_TAB, /* <<-  */
	LB_R_HERESTRING   /* <<<  */
} lb_redir_op;

typedef struct lb_redir {
	lb_span span;        /* the operator and its target (not the here-doc body) */
	lb_redir_op op;
	int fd;              /* explicit fd number before the operator, or -1 */
	const char *fd_var;  /* {name}> form: the variable name, else NULL */
	lb_word *target;     /* file, fd number, here-doc delimiter or here-string word */
	/* here-documents only: */
	const char *body;    /* raw body text (after <<- tab stripping); body_len bytes, NOT
	                      * NUL-terminated: usually points into the parsed input (see
	                      * lb_parse), else arena-owned */
	size_t body_len;
	lb_span body_span;
	int body_quoted;     /* delimiter was quoted: body is literal */
	lb_word *body_word;  /* unquoted delimiter: the body parsed as a double-quoted word
	                      * (expansions and substitutions in it), else NULL */
	struct lb_redir *next;
} lb_redir;

/* ---- commands ---------------------------------------------------------------------- */

typedef enum lb_node_kind {
	LB_N_SCRIPT,    /* a whole input or a substitution body: kids = statements */
	LB_N_ANDOR,     /* kids joined by ops[i] between kid i and i+1: LB_OP_AND / LB_OP_OR */
	LB_N_PIPELINE,  /* kids joined by ops[i]: LB_OP_PIPE / LB_OP_PIPE_ERR;
	                 * flags LB_NF_BANG, LB_NF_TIME. A lone pipeline or command is not
	                 * wrapped in ANDOR/PIPELINE nodes; a bare `!` or `time` is a
	                 * PIPELINE with nkids == 0 */
	LB_N_SIMPLE,    /* assigns, words (argv as written), redirs */
	LB_N_SUBSHELL,  /* ( kids ) */
	LB_N_GROUP,     /* { kids; } */
	LB_N_FUNCTION,  /* name; kids[0] = body (a compound command) */
	LB_N_IF,        /* kids = cond1, then1, cond2, then2, ..., [else]; each a SCRIPT;
	                 * nkids odd means an else branch is present */
	LB_N_FOR,       /* name; words = the `in` list (NULL + LB_NF_NO_IN when omitted);
	                 * kids[0] = body */
	LB_N_SELECT,    /* like FOR */
	LB_N_ARITH_FOR, /* text = the "init; cond; step" source; kids[0] = body */
	LB_N_WHILE,     /* kids[0] = condition SCRIPT, kids[1] = body SCRIPT */
	LB_N_UNTIL,     /* like WHILE */
	LB_N_CASE,      /* words = the subject word; kids = LB_N_CASE_ITEM */
	LB_N_CASE_ITEM, /* words = patterns; kids[0] = body SCRIPT (maybe empty);
	                 * text = terminator ";;", ";&" or ";;&" */
	LB_N_COND,      /* [[ ... ]]: words = every operand and operator in order */
	LB_N_ARITH,     /* (( ... )): text = expression source; kids may hold command
	                 * substitutions found inside as SCRIPT nodes */
	LB_N_COPROC     /* coproc [NAME] command: name (may be NULL); kids[0] = command */
} lb_node_kind;

/* statement terminators stored in lb_node.term for children of SCRIPT and bodies */
typedef enum lb_term {
	LB_T_NONE = 0, /* end of input or closing keyword */
	LB_T_SEMI,     /* ; */
	LB_T_NEWLINE,  /* \n */
	LB_T_AMP       /* & (runs in the background) */
} lb_term;

typedef enum lb_op {
	LB_OP_AND,      /* && */
	LB_OP_OR,       /* || */
	LB_OP_PIPE,     /* |  */
	LB_OP_PIPE_ERR  /* |& */
} lb_op;

#define LB_NF_BANG   0x01u /* pipeline starts with ! */
#define LB_NF_TIME   0x02u /* pipeline starts with `time` (or time -p) */
#define LB_NF_NO_IN  0x04u /* for/select without `in` */

typedef struct lb_assign {
	lb_span span;
	const char *name;       /* variable name */
	const char *subscript;  /* a[i]=...: the subscript text, else NULL */
	int append;             /* += */
	lb_word *value;         /* scalar value (may be NULL for `x=`) */
	lb_word *array;         /* x=(a b c): the elements, else NULL; is_array set */
	int is_array;
	struct lb_assign *next;
} lb_assign;

typedef struct lb_node {
	lb_node_kind kind;
	lb_span span;
	unsigned flags;         /* LB_NF_* */
	lb_term term;           /* how this statement ended (for statements in a list) */
	const char *name;       /* FUNCTION, FOR, SELECT, COPROC */
	const char *text;       /* ARITH, ARITH_FOR, CASE_ITEM terminator */
	lb_assign *assigns;     /* SIMPLE */
	lb_word *words;         /* SIMPLE argv; FOR/SELECT list; CASE subject; CASE_ITEM
	                         * patterns; COND operands */
	lb_redir *redirs;       /* SIMPLE, and redirections after any compound command */
	struct lb_node **kids;
	size_t nkids;
	lb_op *ops;             /* ANDOR, PIPELINE: nkids - 1 operators */
} lb_node;

/* ---- parsing ----------------------------------------------------------------------- */

#define LB_MAX_DEPTH 64 /* nesting of compound commands, substitutions and quotes */

typedef struct lb_parse_error {
	lb_span span;     /* where the problem is (start == end: at that offset) */
	const char *msg;  /* static English message: "unexpected `)'", "unterminated '...'" */
	int depth_exceeded; /* the input nests deeper than LB_MAX_DEPTH */
} lb_parse_error;

/* Parses src[0..len) as a bash script. On success returns 0 and sets *out to an
 * LB_N_SCRIPT allocated in `a`. On a syntax error returns ESC_EPARSE (or ESC_EDEPTH)
 * and fills *err; *out then holds whatever partial tree could be built (may be NULL).
 * ESC_ENOMEM when memory runs out, ESC_ETOOBIG when the arena's cap (lb_arena_set_max)
 * is reached. The tree may point into src (here-document bodies), so src must stay
 * alive and unchanged as long as the tree is used. Never reads past len; src need
 * not be NUL-terminated and may contain NUL bytes (which are a syntax error, as bash
 * drops them with a warning we report instead). Reentrant: no global state. */
int lb_parse(lb_arena *a, const char *src, size_t len, lb_node **out, lb_parse_error *err);

/* ---- word helpers ------------------------------------------------------------------ */

/* If the word's value is fully static (only LIT, SQUOTE, ANSIC, and DQUOTE/LOCALE made
 * only of LIT), returns its value after quote removal as an arena string and sets *lenp;
 * otherwise returns NULL. Globs, braces and tildes make a word non-static. */
const char *lb_word_static(lb_arena *a, const lb_word *w, size_t *lenp);

/* Best-effort display value: static parts as their value, dynamic parts as their source
 * text (e.g. "$HOME/x", "$(id)"). Never NULL unless out of memory. `src` is the input. */
const char *lb_word_display(lb_arena *a, const lb_word *w, const char *src);

/* Name of a node kind, for debugging and the `--ast` dump ("simple", "pipeline", ...). */
const char *lb_node_kind_name(lb_node_kind k);

#endif
